/*
 * fill.h — deterministic, data-driven filling of the parameters missing from
 * the real Paddle fixtures (../shared/fixtures/paddle/MISSING.txt), so that
 * end-to-end runs are possible and activations stay in a sane range.
 *
 * Recipe (docs/MODELS.md has the whole story): one forward pass of the graph
 * on the seed demo's input (x[i] = (i % 255) * 0.1, batch 1), node by node on
 * the reference backend. When a node whose weight is missing comes up:
 *   - conv W: W ~ N(0,1) from the stream seed ^ kiln_hash_str(name); run the
 *     conv; then scale output channel c of W (and of the output) so the
 *     output's std over N*H*W equals sqrt(var_c + eps) of the batch_norm that
 *     consumes it: that BN then sees the statistics its real running variance
 *     expects. Nothing is shifted.
 *   - FC W (gemm/matmul, e.g. fc_0.w_0): N(0,1), one scale so that x*W (the
 *     logits before the bias) has std 1.
 * INT8 fake-quant programs (kiln_model_fill_from_fp32): the missing integer
 * weights are the per-layer quantization of the *filled FP32* model's weights
 * with BN folded, using the program's own max_range (= 127^2 / weight max).
 *
 * Non-goals: filling anything but conv/FC weights, calibrating, training.
 */
#ifndef KILN_MODEL_FILL_H
#define KILN_MODEL_FILL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ir/graph.h"

/* The seed demo's synthetic input: x[i] = (float)(i % 255) * 0.1f. */
void kiln_model_seed_input(float *x, int64_t n);

typedef struct kiln_fill_options {
    uint64_t seed; /* per-tensor stream: seed ^ kiln_hash_str(name); default 0 */
    FILE *report;  /* where the per-layer lines and the summary go; NULL = silent */
    bool verbose;  /* every layer's output RMS, not only the filled layers' */
} kiln_fill_options;

typedef struct kiln_fill_summary {
    int32_t n_filled;
    int32_t n_layers;        /* node outputs measured */
    double min_rms, max_rms; /* over every node output but softmax */
    int64_t n_nonfinite;     /* non-finite activations seen (should be 0) */
    int32_t top1;            /* argmax of the last graph output */
    float top1_value;
    int64_t n_clipped; /* INT8 fill: weights clipped to [-127, 127] */
} kiln_fill_summary;

/* Fills the values of g named missing[0..n) (each must exist with a concrete
 * shape and no data; the new data is owned by g). Fails naming the tensor if
 * one is not the weight (input 1) of a conv / gemm / matmul, or a conv's
 * output does not feed a batch_norm with a known variance. */
kiln_status kiln_model_fill(kiln_graph *g, const char *const *missing, int32_t n_missing,
                            const kiln_fill_options *o, kiln_fill_summary *sum);

/* INT8 fake-quant graph g (conv / mul -> fake_dequant(max_range)): fills each
 * missing weight W_int = clip(round(W * gamma/sqrt(var+eps) * max_range/127))
 * from `fp32`, a filled FP32 graph of the same network (the same weight
 * names; gamma/var from the batch_norm after the conv there; no BN for FC),
 * then traces g on the seed input to report the RMS table like kiln_model_fill. */
kiln_status kiln_model_fill_from_fp32(kiln_graph *g, const char *const *missing, int32_t n_missing,
                                      const kiln_graph *fp32, const kiln_fill_options *o,
                                      kiln_fill_summary *sum);

#endif
