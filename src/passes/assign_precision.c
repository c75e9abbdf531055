/*
 * assign_precision.c — decides, per node, INT8 or FP32, from activation
 * thresholds (a calibration table or the model's own quantization scales).
 *
 * Conventions (docs/INT8.md): symmetric INT8 in [-127, 127], zero point 0.
 * An activation with threshold T has scale T/127. Weights are quantized per
 * output channel with T_w[c] = max |W[c]| (conv: W[c,:,:,:]; gemm: column c of
 * B, or row c when trans_b), stored on the weight value's quant.
 *
 * A node runs INT8 when its op has an INT8 form (conv, gemm with a constant
 * 2-D B, max/avg/global-avg pool, add) and every activation it reads and
 * writes has a threshold; otherwise FP32, and the reason is kept on the node
 * and logged. Thresholds come from `lookup` by tensor name.
 *
 * Non-goals: choosing INT8 for speed (every qualifying node is INT8).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "passes/passes.h"

bool kiln_int8_capable(const kiln_graph *g, const kiln_node *n, const char **why) {
    const char *ignored;
    if (!why) why = &ignored;
    switch (n->op) {
    case KILN_OP_CONV: return true;
    case KILN_OP_MAX_POOL:
    case KILN_OP_AVG_POOL:
    case KILN_OP_GLOBAL_AVG_POOL: return true;
    case KILN_OP_ADD:
        if (n->n_inputs == 2 && !g->values[n->inputs[0]].data && !g->values[n->inputs[1]].data)
            return true;
        *why = "add with a constant operand has no INT8 form";
        return false;
    case KILN_OP_GEMM:
        if (g->values[n->inputs[1]].data && g->values[n->inputs[1]].rank == 2 &&
            !n->attrs.trans_a &&
            (n->n_inputs < 3 || n->inputs[2] == KILN_NO_VALUE || g->values[n->inputs[2]].data))
            return true;
        *why = "gemm needs constant 2-D weights for INT8";
        return false;
    default: *why = "op has no INT8 form"; return false;
    }
}

/* Per-output-channel max |W| on the weight value (once per weight). */
static kiln_status weight_thresholds(kiln_graph *g, const kiln_node *n) {
    kiln_value *w = &g->values[n->inputs[1]];
    if (w->quant.n_channels > 0) return KILN_OK;
    const float *d = kiln_const_f32(g, n->inputs[1]);
    if (!d)
        return kiln_error(KILN_ERR_UNSUPPORTED, "node '%s': weights '%s' are not f32 constants",
                          n->name, w->name);
    int64_t total = kiln_numel(w->rank, w->dims);
    int64_t ch, stride_c, stride_k, per;
    if (n->op == KILN_OP_CONV) {
        ch = w->dims[0];
        per = total / ch;
        stride_c = per;
        stride_k = 1;
    } else if (!n->attrs.trans_b) { /* B [K, N]: channel = column */
        ch = w->dims[1];
        per = w->dims[0];
        stride_c = 1;
        stride_k = w->dims[1];
    } else { /* B [N, K]: channel = row */
        ch = w->dims[0];
        per = w->dims[1];
        stride_c = w->dims[1];
        stride_k = 1;
    }
    float *t = malloc(sizeof(float) * (size_t)ch);
    if (!t) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory for weight thresholds");
    for (int64_t c = 0; c < ch; c++) {
        float m = 0;
        for (int64_t k = 0; k < per; k++) {
            float a = fabsf(d[c * stride_c + k * stride_k]);
            if (a > m) m = a;
        }
        t[c] = m;
    }
    free(w->quant.channel_thresholds);
    w->quant.channel_thresholds = t;
    w->quant.n_channels = (int32_t)ch;
    return KILN_OK;
}

static bool has_threshold(const kiln_graph *g, int32_t v) {
    return v == KILN_NO_VALUE || g->values[v].data || g->values[v].quant.threshold > 0;
}

kiln_status kiln_pass_assign_precision(kiln_graph *g, kiln_threshold_fn lookup, void *user,
                                       const kiln_logger *logger, int *n_int8, int *n_candidates) {
    for (int32_t v = 0; v < g->n_values; v++) {
        kiln_value *x = &g->values[v];
        if (x->data) continue;
        float t = lookup ? lookup(user, x->name) : 0.0f;
        if (t > 0 && isfinite(t)) x->quant.threshold = t;
    }
    int int8 = 0, cand = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        kiln_node *n = &g->nodes[i];
        const char *why = NULL;
        n->precision = KILN_PRECISION_FP32;
        n->precision_reason = NULL;
        if (!kiln_int8_capable(g, n, &why)) {
            n->precision_reason = why;
            continue;
        }
        cand++;
        bool ok = has_threshold(g, n->outputs[0]);
        const char *missing = ok ? NULL : g->values[n->outputs[0]].name;
        for (int32_t k = 0; ok && k < n->n_inputs; k++)
            if (!has_threshold(g, n->inputs[k])) {
                ok = false;
                missing = g->values[n->inputs[k]].name;
            }
        if (!ok) {
            n->precision_reason = "a tensor it reads or writes has no INT8 scale";
            kiln_log(logger, KILN_LOG_INFO, "node '%s' (%s) stays FP32: tensor '%s' has no scale",
                     n->name, kiln_op_names[n->op], missing);
            continue;
        }
        if (n->op == KILN_OP_CONV || n->op == KILN_OP_GEMM) KILN_TRY(weight_thresholds(g, n));
        n->precision = KILN_PRECISION_INT8;
        int8++;
    }
    if (n_int8) *n_int8 = int8;
    if (n_candidates) *n_candidates = cand;
    kiln_log(logger, KILN_LOG_INFO, "INT8 layers: %d/%d (of %d nodes)", int8, cand,
             (int)g->n_nodes);
    return KILN_OK;
}
