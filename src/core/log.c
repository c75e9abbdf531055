/*
 * log.c — formats log lines and hands them to the logger's callback or stderr.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

static const char *const level_names[KILN_LOG_LEVEL_COUNT] = {"error", "warning", "info", "debug"};

kiln_logger kiln_logger_default(void) {
    kiln_logger l = {NULL, NULL, KILN_LOG_WARNING};
    const char *env = getenv("KILN_LOG_LEVEL");
    if (env) {
        for (int i = 0; i < KILN_LOG_LEVEL_COUNT; i++)
            if (strcmp(env, level_names[i]) == 0) l.max_level = (kiln_log_level)i;
    }
    return l;
}

int kiln_log_enabled(const kiln_logger *logger, kiln_log_level level) {
    kiln_logger def;
    if (!logger) {
        def = kiln_logger_default();
        logger = &def;
    }
    return level <= logger->max_level;
}

void kiln_log(const kiln_logger *logger, kiln_log_level level, const char *fmt, ...) {
    kiln_logger def;
    if (!logger) {
        def = kiln_logger_default();
        logger = &def;
    }
    if (level > logger->max_level) return;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (logger->fn) {
        logger->fn(logger->user, level, msg);
    } else {
        fprintf(stderr, "[kiln %s] %s\n", level_names[level], msg);
    }
}
