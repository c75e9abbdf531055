/*
 * canonicalize.c — removes nodes that compute nothing (identity, dropout in
 * inference, scale by 1 + 0) and folds a `scale` into the conv or gemm that
 * produces its input (W' = a*W, b' = a*b + c), as Paddle's dropout
 * (downgrade_in_infer) and output `scale` ops leave them. A 2-D matmul with
 * constant 2-D weights (Paddle `mul`/`matmul`, ONNX MatMul) becomes a gemm,
 * so the bias and activation fusions and INT8 apply to it.
 *
 * Non-goals: constant folding of whole subgraphs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "passes/passes.h"

static bool is_noop(const kiln_node *n) {
    if (n->op == KILN_OP_IDENTITY) return true;
    return n->op == KILN_OP_SCALE && n->attrs.alpha == 1.0f && n->attrs.beta == 0.0f;
}

/* y = a*x + c (bias_after_scale) or a*(x + c). */
static void scale_coeffs(const kiln_attrs *a, double *mul, double *add) {
    *mul = a->alpha;
    *add = a->bias_after_scale ? a->beta : (double)a->alpha * a->beta;
}

static kiln_status fold_into_conv(kiln_graph *g, kiln_node *conv, double mul, double add) {
    int32_t w = conv->inputs[1];
    const float *wd = kiln_const_f32(g, w);
    /* copy what we need: adding constants below may move g->values */
    const kiln_value wv_copy = g->values[w];
    const kiln_value *wv = &wv_copy;
    int64_t m = wv->dims[0], per = kiln_numel(wv->rank, wv->dims) / (m ? m : 1);
    const float *bd = conv->n_inputs > 2 ? kiln_const_f32(g, conv->inputs[2]) : NULL;
    int32_t nw, nb;
    char name[512];
    snprintf(name, sizeof name, "%s.scaled", wv->name);
    KILN_TRY(kiln_add_const_f32(g, name, wv->rank, wv->dims, NULL, &nw));
    float *w2 = (float *)g->values[nw].data;
    for (int64_t i = 0; i < m * per; i++)
        w2[i] = (float)(mul * wd[i]);
    snprintf(name, sizeof name, "%s.bias.scaled", wv->name);
    KILN_TRY(kiln_add_const_f32(g, name, 1, &m, NULL, &nb));
    float *b2 = (float *)g->values[nb].data;
    for (int64_t c = 0; c < m; c++)
        b2[c] = (float)(mul * (bd ? bd[c] : 0.0) + add);
    conv->inputs[1] = nw;
    conv->inputs[2] = nb;
    if (conv->n_inputs < 3) conv->n_inputs = 3;
    return KILN_OK;
}

static kiln_status fold_into_gemm(kiln_graph *g, kiln_node *gemm, double mul, double add) {
    int32_t out = gemm->outputs[0];
    int64_t ncols = g->values[out].dims[g->values[out].rank - 1];
    const float *cd = gemm->n_inputs > 2 ? kiln_const_f32(g, gemm->inputs[2]) : NULL;
    int64_t cn = gemm->n_inputs > 2
                     ? kiln_numel(g->values[gemm->inputs[2]].rank, g->values[gemm->inputs[2]].dims)
                     : 0;
    int32_t nc;
    char name[512];
    snprintf(name, sizeof name, "%s.bias.scaled", gemm->name);
    KILN_TRY(kiln_add_const_f32(g, name, 1, &ncols, NULL, &nc));
    float *c2 = (float *)g->values[nc].data;
    for (int64_t j = 0; j < ncols; j++) {
        double c = cd ? cd[cn == 1 ? 0 : j] * (double)gemm->attrs.beta : 0.0;
        c2[j] = (float)(mul * c + add);
    }
    gemm->attrs.alpha = (float)(mul * gemm->attrs.alpha);
    gemm->attrs.beta = 1.0f;
    gemm->inputs[2] = nc;
    gemm->n_inputs = 3;
    return KILN_OK;
}

/* A gemm's C can be replaced by a per-column vector only if it is absent or
 * a constant of N or 1 elements (not a full [M,N] matrix). */
static bool gemm_bias_foldable(const kiln_graph *g, const kiln_node *n) {
    if (n->n_inputs < 3 || n->inputs[2] == KILN_NO_VALUE) return true;
    const kiln_value *c = &g->values[n->inputs[2]];
    const kiln_value *y = &g->values[n->outputs[0]];
    int64_t cn = kiln_numel(c->rank, c->dims);
    return c->data && c->dtype == KILN_DT_F32 && (cn == 1 || cn == y->dims[y->rank - 1]) &&
           (c->rank <= 1 || c->dims[0] == 1);
}

static bool foldable_producer(const kiln_graph *g, int32_t x) {
    int32_t p = g->values[x].producer;
    if (p < 0 || !kiln_single_use(g, x)) return false;
    const kiln_node *n = &g->nodes[p];
    if (n->attrs.act != KILN_ACT_NONE) return false;
    if (n->op == KILN_OP_CONV)
        return n->n_inputs <= 3 && kiln_const_f32(g, n->inputs[1]) &&
               (n->n_inputs < 3 || n->inputs[2] == KILN_NO_VALUE ||
                kiln_const_f32(g, n->inputs[2]));
    if (n->op == KILN_OP_GEMM) return gemm_bias_foldable(g, n);
    return false;
}

kiln_status kiln_pass_canonicalize(kiln_graph *g, kiln_pass_stats *st) {
    bool *dead = calloc((size_t)g->n_nodes + 1, sizeof(bool));
    if (!dead) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory in canonicalize");
    kiln_status s = KILN_OK;
    for (int32_t i = 0; i < g->n_nodes && s == KILN_OK; i++) {
        kiln_node *n = &g->nodes[i];
        if (n->n_inputs < 1 || n->n_outputs != 1) continue;
        if (n->op == KILN_OP_MATMUL && n->n_inputs == 2 && g->values[n->inputs[0]].rank == 2 &&
            g->values[n->inputs[1]].rank == 2 && kiln_const_f32(g, n->inputs[1])) {
            n->op = KILN_OP_GEMM; /* same trans_a/trans_b/alpha meaning, no C */
            n->attrs.beta = 1.0f;
        }
        int32_t x = n->inputs[0], y = n->outputs[0];
        if (is_noop(n)) {
            const kiln_value *xv = &g->values[x];
            bool y_is_output = (g->values[y].flags & KILN_VALUE_OUTPUT) != 0;
            /* an output may not become a graph input or parameter */
            if (y_is_output && (xv->data || (xv->flags & (KILN_VALUE_INPUT | KILN_VALUE_OUTPUT))))
                continue;
            kiln_replace_uses(g, y, x);
            dead[i] = true;
            if (st) st->identities_removed++;
            continue;
        }
        if (n->op == KILN_OP_SCALE && foldable_producer(g, x)) {
            kiln_node *p = &g->nodes[g->values[x].producer];
            double mul, add;
            scale_coeffs(&n->attrs, &mul, &add);
            s = p->op == KILN_OP_CONV ? fold_into_conv(g, p, mul, add)
                                      : fold_into_gemm(g, p, mul, add);
            if (s != KILN_OK) break;
            p->outputs[0] = y;
            g->values[y].producer = (int32_t)(p - g->nodes);
            dead[i] = true;
            if (st) st->scales_folded++;
        }
    }
    if (s == KILN_OK) kiln_graph_remove_nodes(g, dead);
    free(dead);
    return s;
}
