/*
 * fold_batch_norm.c — folds an inference batch_norm into the conv (or gemm)
 * that feeds it, as Paddle's conv_bn_fuse_pass does:
 *   alpha_c = scale_c / sqrt(var_c + eps)
 *   W'[c]   = W[c] * alpha_c            (gemm: column c of B)
 *   b'_c    = (b_c - mean_c) * alpha_c + bias_c
 * computed in double. The batch_norm disappears; the conv writes its output.
 *
 * Non-goals: batch_norm not preceded by a single-use conv/gemm stays as is
 * (backends run it directly).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/status.h"
#include "passes/passes.h"

static bool params_ok(const kiln_graph *g, const kiln_node *bn, int64_t c) {
    for (int k = 1; k <= 4; k++) {
        int32_t v = bn->inputs[k];
        if (!kiln_const_f32(g, v) || kiln_numel(g->values[v].rank, g->values[v].dims) != c)
            return false;
    }
    return true;
}

static kiln_status fold(kiln_graph *g, kiln_node *p, const kiln_node *bn, int64_t c) {
    const float *scale = kiln_const_f32(g, bn->inputs[1]), *bias = kiln_const_f32(g, bn->inputs[2]);
    const float *mean = kiln_const_f32(g, bn->inputs[3]), *var = kiln_const_f32(g, bn->inputs[4]);
    bool conv = p->op == KILN_OP_CONV;
    int32_t w = p->inputs[1];
    /* copy what we need: adding constants below may move g->values */
    const kiln_value wv_copy = g->values[w];
    const kiln_value *wv = &wv_copy;
    const float *wd = kiln_const_f32(g, w);
    int32_t bidx = 2;
    const float *bd = p->n_inputs > bidx && p->inputs[bidx] != KILN_NO_VALUE
                          ? kiln_const_f32(g, p->inputs[bidx])
                          : NULL;
    double *alpha = malloc((size_t)c * sizeof(double));
    if (!alpha) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory folding batch_norm");
    for (int64_t i = 0; i < c; i++)
        alpha[i] = scale[i] / sqrt((double)var[i] + bn->attrs.epsilon);

    char name[512];
    int32_t nw, nb;
    snprintf(name, sizeof name, "%s.bn_folded", wv->name);
    kiln_status s = kiln_add_const_f32(g, name, wv->rank, wv->dims, NULL, &nw);
    if (s == KILN_OK) {
        float *w2 = (float *)g->values[nw].data;
        int64_t total = kiln_numel(wv->rank, wv->dims);
        if (conv) {
            int64_t per = total / c;
            for (int64_t i = 0; i < total; i++)
                w2[i] = (float)(wd[i] * alpha[i / per]);
        } else { /* gemm B is [K,N] (or [N,K] with trans_b): scale output column c */
            int64_t rows = wv->dims[0], cols = wv->dims[1];
            for (int64_t r = 0; r < rows; r++)
                for (int64_t k = 0; k < cols; k++) {
                    int64_t ch = p->attrs.trans_b ? r : k;
                    w2[r * cols + k] = (float)(wd[r * cols + k] * alpha[ch]);
                }
        }
        snprintf(name, sizeof name, "%s.bn_bias", wv->name);
        s = kiln_add_const_f32(g, name, 1, &c, NULL, &nb);
    }
    if (s == KILN_OK) {
        float *b2 = (float *)g->values[nb].data;
        for (int64_t i = 0; i < c; i++) {
            double b = bd ? (conv ? bd[i] : (double)p->attrs.beta * bd[i]) : 0.0;
            b2[i] = (float)((b - mean[i]) * alpha[i] + bias[i]);
        }
        p->inputs[1] = nw;
        p->inputs[2] = nb;
        if (p->n_inputs < 3) p->n_inputs = 3;
        if (!conv) p->attrs.beta = 1.0f;
    }
    free(alpha);
    return s;
}

/* The producer qualifies: single-use output, constant weights, nothing fused
 * yet, and a gemm bias that is absent or per-column. */
static bool foldable(const kiln_graph *g, const kiln_node *p, int32_t x, int64_t c) {
    if (!kiln_single_use(g, x) || p->attrs.act != KILN_ACT_NONE) return false;
    if (!kiln_const_f32(g, p->inputs[1])) return false;
    bool has_bias = p->n_inputs > 2 && p->inputs[2] != KILN_NO_VALUE;
    if (has_bias) {
        const kiln_value *b = &g->values[p->inputs[2]];
        if (!kiln_const_f32(g, p->inputs[2]) || kiln_numel(b->rank, b->dims) != c) return false;
    }
    if (p->op == KILN_OP_CONV) return p->n_inputs <= 3 && g->values[p->inputs[1]].dims[0] == c;
    if (p->op == KILN_OP_GEMM)
        return !p->attrs.trans_a && p->attrs.alpha == 1.0f && g->values[p->inputs[1]].rank == 2;
    return false;
}

kiln_status kiln_pass_fold_batch_norm(kiln_graph *g, kiln_pass_stats *st) {
    bool *dead = calloc((size_t)g->n_nodes + 1, sizeof(bool));
    if (!dead) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory folding batch_norm");
    kiln_status s = KILN_OK;
    for (int32_t i = 0; i < g->n_nodes && s == KILN_OK; i++) {
        const kiln_node *bn = &g->nodes[i];
        if (bn->op != KILN_OP_BATCH_NORM || bn->n_inputs != 5 || bn->n_outputs != 1) continue;
        int32_t x = bn->inputs[0];
        int32_t pi = g->values[x].producer;
        if (pi < 0 || g->values[x].rank < 2) continue;
        int64_t c = g->values[x].dims[1];
        kiln_node *p = &g->nodes[pi];
        if (!params_ok(g, bn, c) || !foldable(g, p, x, c)) continue;
        s = fold(g, p, bn, c);
        if (s != KILN_OK) break;
        p->outputs[0] = bn->outputs[0];
        g->values[bn->outputs[0]].producer = pi;
        dead[i] = true;
        if (st) st->batch_norms_folded++;
    }
    if (s == KILN_OK) kiln_graph_remove_nodes(g, dead);
    free(dead);
    return s;
}
