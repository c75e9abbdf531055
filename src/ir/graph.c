/*
 * graph.c — construction, lookup, ownership and verification of the IR.
 * Shape inference lives in shape.c; the text dump in dump.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/status.h"
#include "ir/graph.h"

const char *const kiln_dtype_names[KILN_DT_COUNT] = {"f32", "f16", "f64", "i8",  "u8",
                                                     "i16", "i32", "i64", "bool"};

size_t kiln_dtype_size(kiln_dtype t) {
    static const size_t sizes[KILN_DT_COUNT] = {4, 2, 8, 1, 1, 2, 4, 8, 1};
    return (unsigned)t < KILN_DT_COUNT ? sizes[t] : 0;
}

const char *const kiln_op_names[KILN_OP_COUNT] = {
    "conv",
    "batch_norm",
    "relu",
    "clip",
    "add",
    "sum",
    "max_pool",
    "avg_pool",
    "global_avg_pool",
    "global_max_pool",
    "matmul",
    "gemm",
    "softmax",
    "scale",
    "flatten",
    "reshape",
    "identity",
    "fake_quant",
    "fake_quant_dequant",
    "fake_dequant",
    "fake_channel_dequant",
    "fake_channel_quant_dequant",
};

kiln_attrs kiln_attrs_default(void) {
    kiln_attrs a;
    memset(&a, 0, sizeof a);
    a.strides[0] = a.strides[1] = 1;
    a.dilations[0] = a.dilations[1] = 1;
    a.group = 1;
    a.axis = -1;
    a.axis_end = -1;
    a.alpha = 1.0f;
    a.beta = 1.0f;
    a.bias_after_scale = true;
    a.clip_min = -3.402823466e38f;
    a.clip_max = 3.402823466e38f;
    a.epsilon = 1e-5f;
    a.bit_length = 8;
    a.round_type = 1;
    return a;
}

static int grow(void **p, int32_t *cap, int32_t need, size_t elem) {
    if (need <= *cap) return 1;
    int32_t nc = *cap ? *cap * 2 : 16;
    while (nc < need)
        nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return 0;
    memset((char *)q + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
    *p = q;
    *cap = nc;
    return 1;
}

kiln_status kiln_graph_create(kiln_graph **out) {
    *out = calloc(1, sizeof **out);
    if (!*out) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory creating a graph");
    return KILN_OK;
}

void kiln_graph_destroy(kiln_graph *g) {
    if (!g) return;
    for (int32_t i = 0; i < g->n_values; i++) {
        free(g->values[i].name);
        free(g->values[i].quant.channel_thresholds);
    }
    for (int32_t i = 0; i < g->n_nodes; i++)
        free(g->nodes[i].name);
    for (int32_t i = 0; i < g->n_owned; i++)
        free(g->owned[i]);
    for (int32_t i = 0; i < g->n_mappings; i++)
        kiln_unmap(&g->mappings[i]);
    free(g->values);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    free(g->owned);
    free(g->mappings);
    free(g->format_version);
    free(g->source);
    free(g);
}

kiln_status kiln_graph_add_value(kiln_graph *g, const char *name, kiln_dtype dtype, int32_t rank,
                                 const int64_t *dims, int32_t *id) {
    if (rank < 0 || rank > KILN_MAX_RANK)
        return kiln_error(KILN_ERR_UNSUPPORTED, "tensor '%s': rank %d exceeds %d",
                          name ? name : "?", (int)rank, KILN_MAX_RANK);
    if (!grow((void **)&g->values, &g->cap_values, g->n_values + 1, sizeof(kiln_value)))
        return kiln_error(KILN_ERR_NO_MEMORY, "out of memory adding tensor");
    kiln_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = strdup(name ? name : "");
    if (!v->name) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory adding tensor");
    v->dtype = dtype;
    v->rank = rank;
    for (int32_t i = 0; i < rank; i++)
        v->dims[i] = dims ? dims[i] : -1;
    v->producer = -1;
    *id = g->n_values++;
    return KILN_OK;
}

int32_t kiln_graph_find_value(const kiln_graph *g, const char *name) {
    for (int32_t i = g->n_values - 1; i >= 0; i--)
        if (strcmp(g->values[i].name, name) == 0) return i;
    return -1;
}

kiln_status kiln_graph_add_node(kiln_graph *g, kiln_op op, const char *name, int32_t n_inputs,
                                const int32_t *inputs, int32_t n_outputs, const int32_t *outputs,
                                const kiln_attrs *attrs, int32_t *id) {
    if (n_inputs < 0 || n_inputs > KILN_MAX_IO || n_outputs < 0 || n_outputs > KILN_MAX_IO)
        return kiln_error(KILN_ERR_UNSUPPORTED, "node '%s': %d inputs / %d outputs (max %d)",
                          name ? name : "?", (int)n_inputs, (int)n_outputs, KILN_MAX_IO);
    for (int32_t i = 0; i < n_inputs; i++)
        if (inputs[i] < KILN_NO_VALUE || inputs[i] >= g->n_values)
            return kiln_error(KILN_ERR_INTERNAL, "node '%s': input id %d out of range",
                              name ? name : "?", (int)inputs[i]);
    for (int32_t i = 0; i < n_outputs; i++)
        if (outputs[i] < 0 || outputs[i] >= g->n_values)
            return kiln_error(KILN_ERR_INTERNAL, "node '%s': output id %d out of range",
                              name ? name : "?", (int)outputs[i]);
    if (!grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(kiln_node)))
        return kiln_error(KILN_ERR_NO_MEMORY, "out of memory adding node");
    kiln_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->name = strdup(name ? name : kiln_op_names[op]);
    if (!n->name) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory adding node");
    n->n_inputs = n_inputs;
    n->n_outputs = n_outputs;
    for (int32_t i = 0; i < n_inputs; i++)
        n->inputs[i] = inputs[i];
    for (int32_t i = 0; i < n_outputs; i++) {
        n->outputs[i] = outputs[i];
        g->values[outputs[i]].producer = g->n_nodes;
    }
    n->attrs = attrs ? *attrs : kiln_attrs_default();
    if (id) *id = g->n_nodes;
    g->n_nodes++;
    return KILN_OK;
}

static kiln_status push_id(int32_t **arr, int32_t *n, int32_t v) {
    int32_t *q = realloc(*arr, (size_t)(*n + 1) * sizeof **arr);
    if (!q) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    q[(*n)++] = v;
    *arr = q;
    return KILN_OK;
}

kiln_status kiln_graph_add_input(kiln_graph *g, int32_t value) {
    g->values[value].flags |= KILN_VALUE_INPUT;
    return push_id(&g->inputs, &g->n_inputs, value);
}

kiln_status kiln_graph_add_output(kiln_graph *g, int32_t value) {
    for (int32_t i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == value) return KILN_OK;
    g->values[value].flags |= KILN_VALUE_OUTPUT;
    return push_id(&g->outputs, &g->n_outputs, value);
}

kiln_status kiln_graph_own(kiln_graph *g, void *p) {
    if (!grow((void **)&g->owned, &g->cap_owned, g->n_owned + 1, sizeof(void *))) {
        free(p);
        return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    }
    g->owned[g->n_owned++] = p;
    return KILN_OK;
}

void *kiln_graph_alloc(kiln_graph *g, size_t n) {
    void *p = calloc(1, n ? n : 1);
    if (!p) return NULL;
    if (kiln_graph_own(g, p) != KILN_OK) return NULL;
    return p;
}

char *kiln_graph_strdup(kiln_graph *g, const char *s) {
    size_t n = strlen(s) + 1;
    char *p = kiln_graph_alloc(g, n);
    if (p) memcpy(p, s, n);
    return p;
}

kiln_status kiln_graph_own_mapping(kiln_graph *g, const kiln_mapping *m) {
    if (!grow((void **)&g->mappings, &g->cap_mappings, g->n_mappings + 1, sizeof(kiln_mapping)))
        return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    g->mappings[g->n_mappings++] = *m;
    return KILN_OK;
}

void kiln_graph_set_const(kiln_graph *g, int32_t id, const void *data, size_t nbytes) {
    g->values[id].data = data;
    g->values[id].nbytes = nbytes;
}

int64_t kiln_numel(int32_t rank, const int64_t *dims) {
    int64_t n = 1;
    for (int32_t i = 0; i < rank; i++) {
        if (dims[i] < 0) return -1;
        if (dims[i] && n > INT64_MAX / dims[i]) return -1;
        n *= dims[i];
    }
    return n;
}

const char *kiln_shape_str(int32_t rank, const int64_t *dims, char *buf, size_t n) {
    size_t k = 0;
    if (n == 0) return buf;
    buf[0] = '\0';
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int32_t i = 0; i < rank && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ",%lld" : "%lld", (long long)dims[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

kiln_status kiln_infer_shapes(kiln_graph *g) {
    for (int32_t i = 0; i < g->n_nodes; i++)
        KILN_TRY(kiln_infer_node(g, i));
    return KILN_OK;
}

kiln_status kiln_graph_clone(const kiln_graph *src, kiln_graph **out) {
    kiln_graph *g;
    KILN_TRY(kiln_graph_create(&g));
    kiln_status s = KILN_OK;
    for (int32_t i = 0; i < src->n_values && s == KILN_OK; i++) {
        const kiln_value *v = &src->values[i];
        int32_t id;
        s = kiln_graph_add_value(g, v->name, v->dtype, v->rank, v->dims, &id);
        if (s != KILN_OK) break;
        kiln_value *w = &g->values[id];
        w->data = v->data;
        w->nbytes = v->nbytes;
        w->flags = v->flags;
        w->quant.threshold = v->quant.threshold;
        if (v->quant.n_channels > 0) {
            w->quant.channel_thresholds = malloc((size_t)v->quant.n_channels * sizeof(float));
            if (!w->quant.channel_thresholds) {
                s = kiln_error(KILN_ERR_NO_MEMORY, "out of memory cloning graph");
                break;
            }
            memcpy(w->quant.channel_thresholds, v->quant.channel_thresholds,
                   (size_t)v->quant.n_channels * sizeof(float));
            w->quant.n_channels = v->quant.n_channels;
        }
    }
    for (int32_t i = 0; i < src->n_nodes && s == KILN_OK; i++) {
        const kiln_node *n = &src->nodes[i];
        int32_t id;
        s = kiln_graph_add_node(g, n->op, n->name, n->n_inputs, n->inputs, n->n_outputs, n->outputs,
                                &n->attrs, &id);
        if (s == KILN_OK) {
            g->nodes[id].precision = n->precision;
            g->nodes[id].precision_reason = n->precision_reason;
        }
    }
    for (int32_t i = 0; i < src->n_inputs && s == KILN_OK; i++)
        s = push_id(&g->inputs, &g->n_inputs, src->inputs[i]);
    for (int32_t i = 0; i < src->n_outputs && s == KILN_OK; i++)
        s = push_id(&g->outputs, &g->n_outputs, src->outputs[i]);
    g->format = src->format;
    if (s == KILN_OK && src->format_version && !(g->format_version = strdup(src->format_version)))
        s = kiln_error(KILN_ERR_NO_MEMORY, "out of memory cloning graph");
    if (s == KILN_OK && src->source && !(g->source = strdup(src->source)))
        s = kiln_error(KILN_ERR_NO_MEMORY, "out of memory cloning graph");
    if (s != KILN_OK) {
        kiln_graph_destroy(g);
        return s;
    }
    *out = g;
    return KILN_OK;
}

kiln_status kiln_graph_verify(const kiln_graph *g) {
    char *ready = calloc((size_t)g->n_values + 1, 1);
    if (!ready) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory verifying graph");
    for (int32_t i = 0; i < g->n_values; i++)
        if (g->values[i].data || (g->values[i].flags & KILN_VALUE_INPUT)) ready[i] = 1;
    kiln_status s = KILN_OK;
    for (int32_t i = 0; i < g->n_nodes && s == KILN_OK; i++) {
        const kiln_node *n = &g->nodes[i];
        for (int32_t k = 0; k < n->n_inputs; k++) {
            int32_t v = n->inputs[k];
            if (v == KILN_NO_VALUE) continue;
            if (!ready[v]) {
                s = kiln_error(KILN_ERR_FORMAT,
                               "node '%s' (%s): input '%s' is neither a graph input, a "
                               "parameter, nor produced by an earlier node",
                               n->name, kiln_op_names[n->op], g->values[v].name);
                break;
            }
        }
        for (int32_t k = 0; k < n->n_outputs; k++)
            ready[n->outputs[k]] = 1;
    }
    for (int32_t i = 0; i < g->n_outputs && s == KILN_OK; i++)
        if (!ready[g->outputs[i]])
            s = kiln_error(KILN_ERR_FORMAT, "graph output '%s' is never produced",
                           g->values[g->outputs[i]].name);
    free(ready);
    return s;
}
