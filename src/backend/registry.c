/*
 * registry.c — maps kiln_backend_kind to the compiled-in backends.
 */
#include <string.h>

#include "backend/backend.h"
#include "core/status.h"

static const char *const backend_names[KILN_BACKEND_COUNT] = {"auto", "ref", "cpu", "cuda"};

const char *kiln_backend_name(kiln_backend_kind k) {
    return (unsigned)k < KILN_BACKEND_COUNT ? backend_names[k] : "?";
}

kiln_status kiln_backend_from_name(const char *name, kiln_backend_kind *out) {
    for (int i = 0; i < KILN_BACKEND_COUNT; i++)
        if (name && strcmp(name, backend_names[i]) == 0) {
            *out = (kiln_backend_kind)i;
            return KILN_OK;
        }
    return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                      "unknown backend '%s': use one of auto, ref, cpu, cuda", name ? name : "");
}

#ifdef KILN_HAVE_DNNL
extern const kiln_backend kiln_backend_cpu;
#endif

const kiln_backend *kiln_backend_get(kiln_backend_kind k) {
    switch (k) {
    case KILN_BACKEND_REF: return &kiln_backend_ref;
#ifdef KILN_HAVE_DNNL
    case KILN_BACKEND_CPU: return &kiln_backend_cpu;
#endif
    default: return NULL;
    }
}
