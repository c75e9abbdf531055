/*
 * rewrite.c — small helpers the passes share: use counts, rewiring, node
 * removal, new constants.
 */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "passes/passes.h"

int32_t kiln_uses(const kiln_graph *g, int32_t value) {
    int32_t n = 0;
    for (int32_t i = 0; i < g->n_nodes; i++)
        for (int32_t k = 0; k < g->nodes[i].n_inputs; k++)
            if (g->nodes[i].inputs[k] == value) n++;
    for (int32_t i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == value) n++;
    return n;
}

bool kiln_single_use(const kiln_graph *g, int32_t value) {
    for (int32_t i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == value) return false;
    return kiln_uses(g, value) == 1;
}

int32_t kiln_consumers(const kiln_graph *g, int32_t value, int32_t *out, int32_t max) {
    int32_t n = 0;
    for (int32_t i = 0; i < g->n_nodes; i++)
        for (int32_t k = 0; k < g->nodes[i].n_inputs; k++)
            if (g->nodes[i].inputs[k] == value) {
                if (n < max) out[n] = i;
                n++;
                break;
            }
    return n;
}

void kiln_replace_uses(kiln_graph *g, int32_t from, int32_t to) {
    for (int32_t i = 0; i < g->n_nodes; i++)
        for (int32_t k = 0; k < g->nodes[i].n_inputs; k++)
            if (g->nodes[i].inputs[k] == from) g->nodes[i].inputs[k] = to;
    for (int32_t i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == from) {
            g->outputs[i] = to;
            g->values[to].flags |= KILN_VALUE_OUTPUT;
            g->values[from].flags &= ~(uint32_t)KILN_VALUE_OUTPUT;
        }
}

void kiln_graph_remove_nodes(kiln_graph *g, const bool *dead) {
    int32_t w = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        if (dead[i]) {
            free(g->nodes[i].name);
            continue;
        }
        g->nodes[w++] = g->nodes[i];
    }
    g->n_nodes = w;
    for (int32_t i = 0; i < g->n_values; i++)
        g->values[i].producer = -1;
    for (int32_t i = 0; i < g->n_nodes; i++)
        for (int32_t k = 0; k < g->nodes[i].n_outputs; k++)
            g->values[g->nodes[i].outputs[k]].producer = i;
}

kiln_status kiln_add_const_f32(kiln_graph *g, const char *name, int32_t rank, const int64_t *dims,
                               const float *data, int32_t *id) {
    int64_t n = kiln_numel(rank, dims);
    if (n < 0) return kiln_error(KILN_ERR_INTERNAL, "constant '%s' has an unknown shape", name);
    float *buf = kiln_graph_alloc(g, (size_t)n * sizeof(float));
    if (!buf) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory for constant '%s'", name);
    if (data) memcpy(buf, data, (size_t)n * sizeof(float));
    KILN_TRY(kiln_graph_add_value(g, name, KILN_DT_F32, rank, dims, id));
    kiln_graph_set_const(g, *id, buf, (size_t)n * sizeof(float));
    return KILN_OK;
}

const float *kiln_const_f32(const kiln_graph *g, int32_t v) {
    if (v < 0 || v >= g->n_values) return NULL;
    const kiln_value *x = &g->values[v];
    if (!x->data || x->dtype != KILN_DT_F32) return NULL;
    return (const float *)x->data;
}
