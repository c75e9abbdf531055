/*
 * fuse_residual.c — folds `add(conv_out, r)` of two same-shape tensors into
 * the conv (its residual input R, oneDNN's "sum" post-op): ResNet's shortcut
 * add. The conv chosen is the later-computed operand, so R is ready when the
 * fused conv runs.
 *
 * Non-goals: broadcasting adds (those are biases, see fuse_bias.c).
 */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "passes/passes.h"

static bool same_shape(const kiln_value *a, const kiln_value *b) {
    return a->rank == b->rank && memcmp(a->dims, b->dims, sizeof(int64_t) * (size_t)a->rank) == 0;
}

static bool fusable_conv(const kiln_graph *g, int32_t x) {
    int32_t p = g->values[x].producer;
    if (p < 0 || !kiln_single_use(g, x)) return false;
    const kiln_node *n = &g->nodes[p];
    return n->op == KILN_OP_CONV && n->attrs.act == KILN_ACT_NONE && n->n_inputs <= 3;
}

kiln_status kiln_pass_fuse_residual(kiln_graph *g, kiln_pass_stats *st) {
    bool *dead = calloc((size_t)g->n_nodes + 1, sizeof(bool));
    if (!dead) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory fusing residuals");
    for (int32_t i = 0; i < g->n_nodes; i++) {
        kiln_node *add = &g->nodes[i];
        if (add->op != KILN_OP_ADD || add->n_inputs != 2) continue;
        int32_t a = add->inputs[0], b = add->inputs[1], y = add->outputs[0];
        if (a == b || g->values[a].data || g->values[b].data) continue;
        if (!same_shape(&g->values[a], &g->values[y]) || !same_shape(&g->values[b], &g->values[y]))
            continue;
        int32_t pa = fusable_conv(g, a) ? g->values[a].producer : -1;
        int32_t pb = fusable_conv(g, b) ? g->values[b].producer : -1;
        /* the residual must be computed before the conv it joins */
        int32_t conv = -1, r = -1;
        if (pa >= 0 && g->values[b].producer < pa) conv = pa, r = b;
        if (pb >= 0 && g->values[a].producer < pb && pb > conv) conv = pb, r = a;
        if (conv < 0) continue;
        kiln_node *c = &g->nodes[conv];
        if (c->n_inputs < 3) {
            c->inputs[2] = KILN_NO_VALUE;
            c->n_inputs = 3;
        }
        c->inputs[3] = r;
        c->n_inputs = 4;
        c->attrs.act = add->attrs.act;
        if (add->attrs.act == KILN_ACT_CLIP) {
            c->attrs.clip_min = add->attrs.clip_min;
            c->attrs.clip_max = add->attrs.clip_max;
        }
        c->outputs[0] = y;
        g->values[y].producer = conv;
        dead[i] = true;
        if (st) st->residuals_fused++;
    }
    kiln_graph_remove_nodes(g, dead);
    free(dead);
    return KILN_OK;
}
