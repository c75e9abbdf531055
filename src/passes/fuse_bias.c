/*
 * fuse_bias.c — folds an add of a per-channel constant into the conv or gemm
 * that produces the other operand: Paddle's `elementwise_add(axis=1, Y=[C])`
 * after conv (its INT8 fixture keeps BN as such a bias, and `fc` expands to
 * mul + elementwise_add), ONNX's Add of a [C,1,1] / [1,C,1,1] initializer.
 *
 * Non-goals: adds whose constant varies over more than the channel axis.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/status.h"
#include "passes/passes.h"

/* True if constant b, added to y (rank r, channel axis ch), varies only along ch. */
static bool per_channel(const kiln_graph *g, const kiln_node *add, int32_t b, int32_t y, int ch) {
    const kiln_value *bv = &g->values[b], *yv = &g->values[y];
    int64_t c = yv->dims[ch];
    if (kiln_numel(bv->rank, bv->dims) != c) return false;
    if (add->attrs.axis >= 0) /* Paddle: b's dims align with y's from axis */
        return add->attrs.axis == ch;
    /* numpy: right-aligned; the only non-1 dim must sit on the channel axis */
    int off = yv->rank - bv->rank;
    if (off < 0) return false;
    for (int d = 0; d < bv->rank; d++)
        if (bv->dims[d] != 1 && d + off != ch) return false;
    return c == 1 || bv->rank > yv->rank - 1 - ch;
}

kiln_status kiln_pass_fuse_bias(kiln_graph *g, kiln_pass_stats *st) {
    bool *dead = calloc((size_t)g->n_nodes + 1, sizeof(bool));
    if (!dead) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory fusing biases");
    kiln_status s = KILN_OK;
    for (int32_t i = 0; i < g->n_nodes && s == KILN_OK; i++) {
        kiln_node *add = &g->nodes[i];
        if (add->op != KILN_OP_ADD || add->n_inputs != 2 || add->attrs.act != KILN_ACT_NONE)
            continue;
        for (int side = 0; side < 2; side++) {
            int32_t x = add->inputs[side], b = add->inputs[1 - side];
            if (side == 1 && add->attrs.axis >= 0) break; /* Paddle axis applies to Y only */
            int32_t pi = g->values[x].producer;
            if (pi < 0 || !kiln_const_f32(g, b) || !kiln_single_use(g, x)) continue;
            kiln_node *p = &g->nodes[pi];
            if (p->attrs.act != KILN_ACT_NONE) continue;
            bool conv = p->op == KILN_OP_CONV && p->n_inputs <= 3;
            bool gemm = p->op == KILN_OP_GEMM;
            int ch = conv ? 1 : g->values[x].rank - 1;
            if ((!conv && !gemm) || g->values[x].rank < 2 || !per_channel(g, add, b, x, ch))
                continue;
            int64_t c = g->values[x].dims[ch];
            int32_t old = p->n_inputs > 2 ? p->inputs[2] : KILN_NO_VALUE;
            const float *ob = old != KILN_NO_VALUE ? kiln_const_f32(g, old) : NULL;
            if (old != KILN_NO_VALUE &&
                (!ob || kiln_numel(g->values[old].rank, g->values[old].dims) != c))
                continue;
            const float *bd = kiln_const_f32(g, b);
            char name[512];
            int32_t nb;
            snprintf(name, sizeof name, "%s.fused_bias", g->values[b].name);
            s = kiln_add_const_f32(g, name, 1, &c, NULL, &nb);
            if (s != KILN_OK) break;
            float *d = (float *)g->values[nb].data;
            float beta = gemm ? p->attrs.beta : 1.0f;
            for (int64_t k = 0; k < c; k++)
                d[k] = (float)((ob ? (double)beta * ob[k] : 0.0) + bd[c == 1 ? 0 : k]);
            p->inputs[2] = nb;
            if (p->n_inputs < 3) p->n_inputs = 3;
            if (gemm) p->attrs.beta = 1.0f;
            p->outputs[0] = add->outputs[0];
            g->values[add->outputs[0]].producer = pi;
            dead[i] = true;
            if (st) st->biases_fused++;
            break;
        }
    }
    if (s == KILN_OK) kiln_graph_remove_nodes(g, dead);
    free(dead);
    return s;
}
