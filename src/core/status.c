/*
 * status.c — thread-local last error, status names, version.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/status.h"

enum { KILN_ERROR_MAX = 2048 };

static _Thread_local char tls_error[KILN_ERROR_MAX];

static const char *const status_names[KILN_STATUS_COUNT] = {
    "KILN_OK",
    "KILN_ERR_INVALID_ARGUMENT",
    "KILN_ERR_IO",
    "KILN_ERR_FORMAT",
    "KILN_ERR_UNSUPPORTED",
    "KILN_ERR_SHAPE",
    "KILN_ERR_NO_MEMORY",
    "KILN_ERR_NOT_FOUND",
    "KILN_ERR_BACKEND",
    "KILN_ERR_INTERNAL",
};

const char *kiln_status_string(kiln_status s) {
    if ((int)s < 0 || s >= KILN_STATUS_COUNT) return "KILN_ERR_UNKNOWN";
    return status_names[s];
}

const char *kiln_last_error(void) {
    return tls_error;
}

const char *kiln_version(void) {
    return KILN_VERSION_STRING;
}

kiln_status kiln_error(kiln_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tls_error, sizeof tls_error, fmt, ap);
    va_end(ap);
    return s;
}

kiln_status kiln_error_prefix(kiln_status s, const char *fmt, ...) {
    char prefix[KILN_ERROR_MAX];
    char old[KILN_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, tls_error, sizeof old);
    /* truncation is acceptable: the message is capped at KILN_ERROR_MAX */
    size_t k = strnlen(prefix, sizeof tls_error - 3);
    memcpy(tls_error, prefix, k);
    memcpy(tls_error + k, ": ", 2);
    size_t rest = sizeof tls_error - k - 3;
    size_t ol = strnlen(old, rest);
    memcpy(tls_error + k + 2, old, ol);
    tls_error[k + 2 + ol] = '\0';
    return s;
}

void kiln_error_clear(void) {
    tls_error[0] = '\0';
}
