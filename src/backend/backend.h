/*
 * backend.h — the one interface every backend (ref, cpu, cuda) implements.
 *
 * A backend turns a graph whose shapes are fully known (the engine resolved
 * the batch) into an executable: it checks support, packs weights and plans
 * buffers in `create`; `run` executes for a batch <= the built batch and
 * allocates nothing. Values cross the boundary as host float32 copies
 * (write_value / read_value), so a device backend does its own H2D/D2H.
 *
 * Non-goals: per-node mixing of backends (later), device pointers in the API.
 */
#ifndef KILN_BACKEND_H
#define KILN_BACKEND_H

#include "ir/graph.h"

typedef struct kiln_backend_options {
    int threads; /* 0 = all cores */
    kiln_precision precision;
    const kiln_logger *logger; /* may be NULL */
} kiln_backend_options;

typedef struct kiln_backend {
    const char *name;
    /* 1 if nodes marked INT8 by the precision pass run with INT8 arithmetic
     * (docs/INT8.md); a backend without it never gets INT8 nodes. */
    int supports_int8;
    /* NULL if the node is supported, else a static reason. */
    const char *(*unsupported_reason)(const kiln_graph *g, int32_t node);
    /* g's shapes are concrete (dims[0] = built batch); g outlives exec. */
    kiln_status (*create)(const kiln_graph *g, const kiln_backend_options *o, void **exec);
    /* Executes every node for `batch` (<= the built batch). */
    kiln_status (*run)(void *exec, int64_t batch);
    /* Copies `n` floats into / out of value `id` (an input / any value). */
    kiln_status (*write_value)(void *exec, int32_t id, const float *src, size_t n);
    kiln_status (*read_value)(void *exec, int32_t id, float *dst, size_t n);
    void (*destroy)(void *exec);
    /* Optional (may be NULL): runs once for `batch`, timing each node;
     * ms_per_node has g->n_nodes entries. */
    kiln_status (*profile)(void *exec, int64_t batch, double *ms_per_node);
} kiln_backend;

/* The registry (backend/registry.c): NULL if not compiled in. */
const kiln_backend *kiln_backend_get(kiln_backend_kind k);

extern const kiln_backend kiln_backend_ref;

#endif
