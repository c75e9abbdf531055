/*
 * passes.h — graph rewrites run by the engine before a backend sees the
 * graph, in a fixed pipeline (kiln_passes_run). Each pass keeps the graph's
 * outputs numerically equal on the ref backend (tests/unit/test_passes.c:
 * ||after - before|| / ||before|| <= 1e-6) and never removes a value the
 * user asked for as an output.
 *
 * Non-goals: pattern-matching DSLs; precision decisions (a later pass).
 */
#ifndef KILN_PASSES_H
#define KILN_PASSES_H

#include "ir/graph.h"

/* What the pipeline did, for logs and `kiln inspect`. */
typedef struct kiln_pass_stats {
    int identities_removed; /* identity, dropout, scale(1,0) */
    int scales_folded;      /* scale folded into the producing conv/gemm */
    int batch_norms_folded; /* into conv / gemm weights and bias */
    int biases_fused;       /* per-channel add into conv / gemm bias */
    int residuals_fused;    /* add of two tensors into the conv producing one */
    int activations_fused;  /* relu / relu6 into conv / gemm / add */
} kiln_pass_stats;

kiln_status kiln_pass_canonicalize(kiln_graph *g, kiln_pass_stats *st);
kiln_status kiln_pass_fold_batch_norm(kiln_graph *g, kiln_pass_stats *st);
kiln_status kiln_pass_fuse_bias(kiln_graph *g, kiln_pass_stats *st);
kiln_status kiln_pass_fuse_residual(kiln_graph *g, kiln_pass_stats *st);
kiln_status kiln_pass_fuse_activation(kiln_graph *g, kiln_pass_stats *st);

/* The whole pipeline, in order; st may be NULL. */
kiln_status kiln_passes_run(kiln_graph *g, const kiln_logger *logger, kiln_pass_stats *st);

/* Threshold T of the activation named `name`, or 0 if it has none. */
typedef float (*kiln_threshold_fn)(void *user, const char *name);

/* True if node n's op has an INT8 form in this graph (conv, gemm with
 * constant 2-D weights, max/avg/global-avg pool, add of two activations);
 * otherwise *why (if why) gets a static reason. */
bool kiln_int8_capable(const kiln_graph *g, const kiln_node *n, const char **why);

/* Precision (assign_precision.c): sets value thresholds from `lookup`, then
 * marks each node INT8 or FP32 (with a reason) and computes per-channel
 * weight thresholds of INT8 convs/gemms. Counts INT8 nodes among the nodes
 * whose op has an INT8 form. */
kiln_status kiln_pass_assign_precision(kiln_graph *g, kiln_threshold_fn lookup, void *user,
                                       const kiln_logger *logger, int *n_int8, int *n_candidates);

/* Memory plan (plan_memory.c): places every value with bytes[v] > 0 that is
 * not a constant in one arena by lifetimes. offsets[v] gets its byte offset
 * (SIZE_MAX for values without a buffer), *total the arena size. Two values
 * share bytes only if their lifetimes do not overlap. */
kiln_status kiln_plan_memory(const kiln_graph *g, const size_t *bytes, size_t align,
                             size_t *offsets, size_t *total);

/* ---- rewrite helpers (rewrite.c) ---------------------------------------- */

/* Number of node inputs reading `value`, plus one if it is a graph output. */
int32_t kiln_uses(const kiln_graph *g, int32_t value);
/* True if `value` is used exactly once, by a node, and is not a graph output. */
bool kiln_single_use(const kiln_graph *g, int32_t value);
/* Node ids reading `value` (up to max); returns the count found. */
int32_t kiln_consumers(const kiln_graph *g, int32_t value, int32_t *out, int32_t max);
/* Rewires every node input and graph output reading `from` to `to`. */
void kiln_replace_uses(kiln_graph *g, int32_t from, int32_t to);
/* Removes the nodes flagged in dead[] (size n_nodes) and recomputes producers. */
void kiln_graph_remove_nodes(kiln_graph *g, const bool *dead);
/* Adds a graph-owned f32 constant named `name` with a copy of data. */
kiln_status kiln_add_const_f32(kiln_graph *g, const char *name, int32_t rank, const int64_t *dims,
                               const float *data, int32_t *id);
/* Constant data of value v as f32 (NULL if not a constant f32). */
const float *kiln_const_f32(const kiln_graph *g, int32_t v);

#endif
