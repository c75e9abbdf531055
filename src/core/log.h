/*
 * log.h — internal logging through a kiln_logger (see kiln.h).
 * Non-goals: global log state; every call names the logger it writes to.
 */
#ifndef KILN_CORE_LOG_H
#define KILN_CORE_LOG_H

#include "core/status.h"

/* logger may be NULL (stderr at the default level). */
void kiln_log(const kiln_logger *logger, kiln_log_level level, const char *fmt, ...)
    KILN_PRINTF(3, 4);

/* True if a line at `level` would be emitted. */
int kiln_log_enabled(const kiln_logger *logger, kiln_log_level level);

#endif
