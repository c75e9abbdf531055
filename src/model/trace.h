/*
 * trace.h — run a graph one node at a time on the reference backend, with a
 * callback before and after every node. The whole network is one forward
 * pass: each node runs once, on the host activations its producers left.
 *
 * Used by the missing-tensor fill (set a weight before its node runs, rescale
 * it after seeing the output) and by tests/tools that print per-layer RMS.
 * Callbacks may change constant data of the graph (weights not yet consumed)
 * and the node's output activations.
 *
 * Non-goals: speed (it is the scalar reference backend), batch > what fits.
 */
#ifndef KILN_MODEL_TRACE_H
#define KILN_MODEL_TRACE_H

#include "ir/graph.h"

typedef struct kiln_trace {
    kiln_graph *g;            /* the graph being run */
    const kiln_graph *shapes; /* a copy of g's structure with concrete shapes (batch applied) */
    float **acts;             /* [g->n_values]: live host activations (f32), NULL when not live */
    int64_t batch;
} kiln_trace;

/* Called before (acts of the node's inputs are live) and after (its outputs
 * are live too) node `node` runs. Returning non-OK stops the trace. */
typedef kiln_status (*kiln_trace_fn)(void *user, kiln_trace *t, int32_t node);

/* Runs g on `input` (g's first graph input, `batch` x the rest of its shape;
 * a -1 batch dim takes `batch`). Either callback may be NULL. Every
 * activation is freed once its last consumer ran and the after-callback
 * returned. Nodes whose constant inputs are still missing (data == NULL) when
 * they run fail with a message naming the tensor. */
kiln_status kiln_model_trace(kiln_graph *g, const float *input, int64_t batch, kiln_trace_fn before,
                             kiln_trace_fn after, void *user);

/* Root-mean-square and finiteness of n floats. */
double kiln_model_rms(const float *x, int64_t n, int64_t *n_nonfinite);

#endif
