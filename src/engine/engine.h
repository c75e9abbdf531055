/*
 * engine.h — the internals behind the opaque kiln_model and kiln_engine.
 *
 * A model is a loaded graph plus the logger it was loaded with. An engine is
 * a copy of that graph with every shape resolved for max_batch, handed to one
 * backend; it owns one host buffer per graph output for get_output.
 */
#ifndef KILN_ENGINE_H
#define KILN_ENGINE_H

#include "backend/backend.h"
#include "ir/graph.h"
#include "passes/passes.h"

struct kiln_model {
    kiln_graph *graph;
    kiln_logger logger;
};

struct kiln_engine {
    const kiln_model *model;
    kiln_graph *graph; /* concrete shapes for max_batch */
    const kiln_backend *backend;
    void *exec;
    kiln_build_options opts;
    int64_t max_batch;
    int64_t batch;       /* batch of the inputs set for the next run */
    int64_t last_batch;  /* batch of the last completed run, 0 = none */
    bool *input_dynamic; /* per input: dims[0] was -1 in the model */
    float **outputs;     /* per output: max_batch-sized host buffer */
    kiln_pass_stats pass_stats;
    int n_int8, n_int8_candidates;
};

/* kiln_engine_build, plus `extra_outputs` (tensor names) appended to the
 * engine's outputs before the passes (the calibrator observes them). */
kiln_status kiln_engine_build_ex(const kiln_model *m, const kiln_build_options *opts,
                                 const char *const *extra_outputs, int n_extra, kiln_engine **out);

/* The graph an engine would run (shapes resolved, passes and precision
 * applied) without creating a backend; caller destroys it. */
kiln_status kiln_engine_plan(const kiln_model *m, const kiln_build_options *opts, kiln_graph **out);

/* Value id of the model's i-th input/output, or -1. */
int32_t kiln_engine_input_value(const kiln_engine *e, int i);

#endif
