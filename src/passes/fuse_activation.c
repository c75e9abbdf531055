/*
 * fuse_activation.c — folds relu / clip (relu6) into the conv, gemm or add
 * that produces its input, as the node's `act` (applied after bias and
 * residual).
 *
 * Non-goals: other activations (none occur in the supported models).
 */
#include <stdlib.h>

#include "core/status.h"
#include "passes/passes.h"

kiln_status kiln_pass_fuse_activation(kiln_graph *g, kiln_pass_stats *st) {
    bool *dead = calloc((size_t)g->n_nodes + 1, sizeof(bool));
    if (!dead) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory fusing activations");
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const kiln_node *act = &g->nodes[i];
        if ((act->op != KILN_OP_RELU && act->op != KILN_OP_CLIP) || act->n_outputs != 1) continue;
        int32_t x = act->inputs[0];
        int32_t pi = g->values[x].producer;
        if (pi < 0 || !kiln_single_use(g, x)) continue;
        kiln_node *p = &g->nodes[pi];
        if (p->op != KILN_OP_CONV && p->op != KILN_OP_GEMM && p->op != KILN_OP_ADD) continue;
        if (p->attrs.act != KILN_ACT_NONE || p->n_outputs != 1) continue;
        if (act->op == KILN_OP_RELU) {
            p->attrs.act = KILN_ACT_RELU;
        } else {
            p->attrs.act = KILN_ACT_CLIP;
            p->attrs.clip_min = act->attrs.clip_min;
            p->attrs.clip_max = act->attrs.clip_max;
        }
        p->outputs[0] = act->outputs[0];
        g->values[act->outputs[0]].producer = pi;
        dead[i] = true;
        if (st) st->activations_fused++;
    }
    kiln_graph_remove_nodes(g, dead);
    free(dead);
    return KILN_OK;
}
