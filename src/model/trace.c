/*
 * trace.c — node-by-node execution on the reference backend (see trace.h).
 *
 * Each node becomes a one-node graph: its non-constant inputs are graph
 * inputs fed from the host, constants are borrowed from the source graph, and
 * shapes come from one shape inference of a clone with the batch applied.
 * Non-goals: reusing executables across nodes, any backend but ref.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/status.h"
#include "model/trace.h"

double kiln_model_rms(const float *x, int64_t n, int64_t *n_nonfinite) {
    double s = 0.0;
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            bad++;
            continue;
        }
        s += (double)x[i] * (double)x[i];
    }
    if (n_nonfinite) *n_nonfinite = bad;
    return n > 0 ? sqrt(s / (double)n) : 0.0;
}

static int64_t value_numel(const kiln_graph *s, int32_t id) {
    return kiln_numel(s->values[id].rank, s->values[id].dims);
}

/* Runs node `ni` of t->g as a one-node graph; allocates its outputs in t->acts. */
static kiln_status run_node(kiln_trace *t, int32_t ni) {
    const kiln_graph *g = t->g, *sh = t->shapes;
    const kiln_node *n = &g->nodes[ni];
    kiln_graph *m;
    KILN_TRY(kiln_graph_create(&m));
    kiln_status s = KILN_OK;
    int32_t in[KILN_MAX_IO], out[KILN_MAX_IO];
    for (int32_t k = 0; k < n->n_inputs && s == KILN_OK; k++) {
        int32_t v = n->inputs[k];
        in[k] = KILN_NO_VALUE;
        if (v == KILN_NO_VALUE) continue;
        for (int32_t j = 0; j < k; j++) /* the same value twice (x + x) */
            if (n->inputs[j] == v) in[k] = in[j];
        if (in[k] != KILN_NO_VALUE) continue;
        const kiln_value *gv = &g->values[v], *sv = &sh->values[v];
        s = kiln_graph_add_value(m, gv->name, gv->dtype, sv->rank, sv->dims, &in[k]);
        if (s != KILN_OK) break;
        if (gv->data) {
            kiln_graph_set_const(m, in[k], gv->data, gv->nbytes);
            m->values[in[k]].quant.threshold = gv->quant.threshold;
        } else if (t->acts[v]) {
            s = kiln_graph_add_input(m, in[k]);
        } else {
            s = kiln_error(KILN_ERR_NOT_FOUND,
                           "node '%s' (%s): input '%s' has no data (a missing parameter or an "
                           "activation that was never produced)",
                           n->name, kiln_op_names[n->op], gv->name);
        }
    }
    for (int32_t k = 0; k < n->n_outputs && s == KILN_OK; k++) {
        const kiln_value *sv = &sh->values[n->outputs[k]];
        s = kiln_graph_add_value(m, sv->name, KILN_DT_F32, sv->rank, sv->dims, &out[k]);
        if (s == KILN_OK) s = kiln_graph_add_output(m, out[k]);
    }
    if (s == KILN_OK)
        s = kiln_graph_add_node(m, n->op, n->name, n->n_inputs, in, n->n_outputs, out, &n->attrs,
                                NULL);
    void *exec = NULL;
    kiln_backend_options bo = {1, KILN_PRECISION_FP32, NULL};
    if (s == KILN_OK) s = kiln_backend_ref.create(m, &bo, &exec);
    for (int32_t k = 0; k < n->n_inputs && s == KILN_OK; k++) {
        int32_t v = n->inputs[k];
        if (v == KILN_NO_VALUE || !(m->values[in[k]].flags & KILN_VALUE_INPUT)) continue;
        bool seen = false;
        for (int32_t j = 0; j < k; j++)
            seen |= n->inputs[j] == v;
        if (seen) continue;
        s = kiln_backend_ref.write_value(exec, in[k], t->acts[v], (size_t)value_numel(sh, v));
    }
    if (s == KILN_OK) s = kiln_backend_ref.run(exec, t->batch);
    for (int32_t k = 0; k < n->n_outputs && s == KILN_OK; k++) {
        int32_t v = n->outputs[k];
        int64_t ne = value_numel(sh, v);
        if (ne < 0) {
            s = kiln_error(KILN_ERR_SHAPE, "node '%s': output '%s' has an unknown shape", n->name,
                           sh->values[v].name);
            break;
        }
        free(t->acts[v]);
        t->acts[v] = malloc((size_t)(ne ? ne : 1) * sizeof(float));
        if (!t->acts[v]) {
            s = kiln_error(KILN_ERR_NO_MEMORY, "out of memory for '%s'", sh->values[v].name);
            break;
        }
        s = kiln_backend_ref.read_value(exec, out[k], t->acts[v], (size_t)ne);
    }
    if (exec) kiln_backend_ref.destroy(exec);
    kiln_graph_destroy(m);
    if (s != KILN_OK) return kiln_error_prefix(s, "tracing node %d '%s'", (int)ni, n->name);
    return KILN_OK;
}

kiln_status kiln_model_trace(kiln_graph *g, const float *input, int64_t batch, kiln_trace_fn before,
                             kiln_trace_fn after, void *user) {
    if (g->n_inputs < 1 || batch < 1)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "trace: the graph has no input (or batch < 1)");
    kiln_graph *sh;
    KILN_TRY(kiln_graph_clone(g, &sh));
    kiln_status s = KILN_OK;
    int32_t *last = NULL;
    float **acts = NULL;
    for (int32_t i = 0; i < sh->n_inputs; i++) {
        kiln_value *v = &sh->values[sh->inputs[i]];
        if (v->rank > 0 && v->dims[0] < 0) v->dims[0] = batch;
    }
    /* Shapes of missing parameters are in the graph already; inference only
     * reads dims, so missing data is fine here. */
    s = kiln_infer_shapes(sh);
    int32_t in0 = g->inputs[0];
    int64_t n_in = s == KILN_OK ? value_numel(sh, in0) : -1;
    if (s == KILN_OK && n_in < 0)
        s = kiln_error(KILN_ERR_SHAPE, "trace: input '%s' has an unknown shape",
                       g->values[in0].name);
    if (s == KILN_OK) {
        last = malloc((size_t)g->n_values * sizeof *last);
        acts = calloc((size_t)g->n_values, sizeof *acts);
        if (!last || !acts) s = kiln_error(KILN_ERR_NO_MEMORY, "out of memory tracing");
    }
    if (s == KILN_OK) {
        for (int32_t v = 0; v < g->n_values; v++)
            last[v] = -1;
        for (int32_t i = 0; i < g->n_nodes; i++)
            for (int32_t k = 0; k < g->nodes[i].n_inputs; k++)
                if (g->nodes[i].inputs[k] >= 0) last[g->nodes[i].inputs[k]] = i;
        for (int32_t i = 0; i < g->n_outputs; i++)
            last[g->outputs[i]] = g->n_nodes;
        acts[in0] = malloc((size_t)(n_in ? n_in : 1) * sizeof(float));
        if (!acts[in0])
            s = kiln_error(KILN_ERR_NO_MEMORY, "out of memory tracing");
        else
            memcpy(acts[in0], input, (size_t)n_in * sizeof(float));
    }
    kiln_trace t = {g, sh, acts, batch};
    for (int32_t i = 0; i < g->n_nodes && s == KILN_OK; i++) {
        if (before) s = before(user, &t, i);
        if (s == KILN_OK) s = run_node(&t, i);
        if (s == KILN_OK && after) s = after(user, &t, i);
        const kiln_node *n = &g->nodes[i];
        for (int32_t k = 0; k < n->n_inputs && s == KILN_OK; k++) {
            int32_t v = n->inputs[k];
            if (v >= 0 && last[v] == i) {
                free(acts[v]);
                acts[v] = NULL;
            }
        }
        for (int32_t k = 0; k < n->n_outputs && s == KILN_OK; k++) {
            int32_t v = n->outputs[k];
            if (last[v] < i) {
                free(acts[v]);
                acts[v] = NULL;
            }
        }
    }
    if (acts)
        for (int32_t v = 0; v < g->n_values; v++)
            free(acts[v]);
    free(acts);
    free(last);
    kiln_graph_destroy(sh);
    return s;
}
