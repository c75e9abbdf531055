/*
 * status.h — internal error reporting: set the thread-local last-error
 * message and return a kiln_status in one expression.
 *
 *   return kiln_error(KILN_ERR_FORMAT, "%s: offset %zu: truncated varint", path, off);
 *
 * Non-goals: exceptions, error chains. The message is the whole story: what,
 * where (file, offset, node, tensor) and what to do.
 */
#ifndef KILN_CORE_STATUS_H
#define KILN_CORE_STATUS_H

#include "kiln.h"

#if defined(__GNUC__)
#define KILN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define KILN_PRINTF(a, b)
#endif

/* Formats the message into the thread-local buffer and returns s. */
kiln_status kiln_error(kiln_status s, const char *fmt, ...) KILN_PRINTF(2, 3);

/* Prefixes the current thread-local message with "<fmt>: " (adds context
 * while an error travels up) and returns s. */
kiln_status kiln_error_prefix(kiln_status s, const char *fmt, ...) KILN_PRINTF(2, 3);

/* Clears the thread-local message. */
void kiln_error_clear(void);

#define KILN_TRY(expr)                                                                             \
    do {                                                                                           \
        kiln_status kiln_try_s_ = (expr);                                                          \
        if (kiln_try_s_ != KILN_OK) return kiln_try_s_;                                            \
    } while (0)

#endif
