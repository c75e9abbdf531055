/*
 * ref_backend.c — the reference backend's vtable: support checks, buffer
 * allocation (one float buffer per activation at the built batch), the node
 * loop, and value copies in and out.
 *
 * Non-goals: buffer reuse, threads, speed. The kernels live in ref_<op>.c.
 */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "backend/ref/ref.h"
#include "core/status.h"

typedef struct ref_exec {
    const kiln_graph *g;
    float **ptr;            /* per value: activation buffer or f32 constant data, or NULL */
    unsigned char *owned;   /* per value: ptr[i] was malloc'ed here */
    int64_t *cap;           /* per value: elements behind ptr[i] */
    unsigned char *batched; /* per value: dims[0] is the batch (follows the run batch) */
    int64_t built_batch;
    kiln_ref_int8 *int8;      /* per node: INT8 weights (conv/gemm marked INT8) */
    kiln_ref_scratch scratch; /* for INT8 nodes */
} ref_exec;

static kiln_status setup_int8(ref_exec *e);

static bool is_const(const kiln_value *v) {
    return v->data != NULL;
}

static const char *ref_unsupported_reason(const kiln_graph *g, int32_t node) {
    if (node < 0 || node >= g->n_nodes) return "node id out of range";
    const kiln_node *n = &g->nodes[node];
    if ((unsigned)n->op >= KILN_OP_COUNT) return "unknown op";
    for (int32_t k = 0; k < n->n_inputs; k++) {
        if (n->inputs[k] == KILN_NO_VALUE) continue;
        const kiln_value *v = &g->values[n->inputs[k]];
        if (v->dtype != KILN_DT_F32)
            return is_const(v) ? "the reference backend needs f32 constants"
                               : "the reference backend needs f32 activations";
    }
    for (int32_t k = 0; k < n->n_outputs; k++)
        if (g->values[n->outputs[k]].dtype != KILN_DT_F32)
            return "the reference backend needs f32 activations";
    return NULL;
}

static void ref_destroy(void *exec) {
    ref_exec *e = exec;
    if (!e) return;
    if (e->ptr && e->owned)
        for (int32_t i = 0; i < e->g->n_values; i++)
            if (e->owned[i]) free(e->ptr[i]);
    if (e->int8)
        for (int32_t i = 0; i < e->g->n_nodes; i++)
            kiln_ref_int8_free(&e->int8[i]);
    free(e->int8);
    free(e->scratch.q);
    free(e->scratch.f0);
    free(e->scratch.f1);
    free(e->ptr);
    free(e->owned);
    free(e->cap);
    free(e->batched);
    free(e);
}

/* The built batch: dims[0] of the first graph input, else of the first
 * activation no node produces. */
static int64_t find_built_batch(const kiln_graph *g) {
    for (int32_t i = 0; i < g->n_inputs; i++) {
        const kiln_value *v = &g->values[g->inputs[i]];
        if (v->rank >= 1) return v->dims[0];
    }
    for (int32_t i = 0; i < g->n_values; i++) {
        const kiln_value *v = &g->values[i];
        if (!is_const(v) && v->producer < 0 && v->rank >= 1) return v->dims[0];
    }
    return 1;
}

/* Re-infers shapes on a copy and checks they match g's (the kernels trust them). */
static kiln_status check_shapes(const kiln_graph *g) {
    kiln_graph *c;
    KILN_TRY(kiln_graph_clone(g, &c));
    kiln_status s = kiln_infer_shapes(c);
    for (int32_t i = 0; i < g->n_values && s == KILN_OK; i++) {
        const kiln_value *a = &g->values[i], *b = &c->values[i];
        bool same = a->rank == b->rank;
        for (int32_t k = 0; same && k < a->rank; k++)
            same = a->dims[k] == b->dims[k];
        if (!same) {
            char b1[160], b2[160];
            s = kiln_error(KILN_ERR_SHAPE,
                           "ref backend: tensor '%s' has shape %s but shape inference gives "
                           "%s; run kiln_infer_shapes after resolving the batch",
                           a->name, kiln_shape_str(a->rank, a->dims, b1, sizeof b1),
                           kiln_shape_str(b->rank, b->dims, b2, sizeof b2));
        }
    }
    kiln_graph_destroy(c);
    return s;
}

static kiln_status setup_value(ref_exec *e, int32_t id) {
    const kiln_value *v = &e->g->values[id];
    if (e->ptr[id]) return KILN_OK;
    int64_t ne = kiln_numel(v->rank, v->dims);
    char b1[160];
    if (ne < 0 || (uint64_t)ne > SIZE_MAX / sizeof(float))
        return kiln_error(KILN_ERR_SHAPE,
                          "ref backend: tensor '%s' has shape %s: every dim must be known at "
                          "build time",
                          v->name, kiln_shape_str(v->rank, v->dims, b1, sizeof b1));
    if (v->dtype != KILN_DT_F32)
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "ref backend: tensor '%s' is %s; the reference backend handles f32 "
                          "only (convert it in the loader or a pass)",
                          v->name,
                          (unsigned)v->dtype < KILN_DT_COUNT ? kiln_dtype_names[v->dtype] : "?");
    size_t bytes = (size_t)(ne ? ne : 1) * sizeof(float);
    if (is_const(v)) {
        if (v->nbytes != (size_t)ne * sizeof(float))
            return kiln_error(KILN_ERR_SHAPE,
                              "ref backend: constant '%s' %s holds %zu bytes, expected %zu",
                              v->name, kiln_shape_str(v->rank, v->dims, b1, sizeof b1), v->nbytes,
                              (size_t)ne * sizeof(float));
        if ((uintptr_t)v->data % alignof(float) == 0) {
            e->ptr[id] = (float *)(uintptr_t)v->data; /* never written: kernels write outputs */
        } else {
            e->ptr[id] = malloc(bytes);
            if (!e->ptr[id]) return kiln_error(KILN_ERR_NO_MEMORY, "ref backend: out of memory");
            e->owned[id] = 1;
            memcpy(e->ptr[id], v->data, v->nbytes);
        }
    } else {
        e->ptr[id] = calloc(1, bytes);
        if (!e->ptr[id])
            return kiln_error(KILN_ERR_NO_MEMORY,
                              "ref backend: out of memory for tensor '%s' (%zu bytes)", v->name,
                              bytes);
        e->owned[id] = 1;
    }
    e->cap[id] = ne;
    return KILN_OK;
}

static kiln_status setup(ref_exec *e) {
    const kiln_graph *g = e->g;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const kiln_node *n = &g->nodes[i];
        for (int32_t k = 0; k < n->n_inputs + n->n_outputs; k++) {
            int32_t id = k < n->n_inputs ? n->inputs[k] : n->outputs[k - n->n_inputs];
            if (id == KILN_NO_VALUE || g->values[id].dtype == KILN_DT_F32) continue;
            const kiln_value *v = &g->values[id];
            return kiln_error(KILN_ERR_UNSUPPORTED,
                              "ref backend: node '%s' (%s): tensor '%s' is %s; the reference "
                              "backend handles f32 only (convert it in the loader or a pass)",
                              n->name, kiln_op_names[n->op], v->name,
                              (unsigned)v->dtype < KILN_DT_COUNT ? kiln_dtype_names[v->dtype]
                                                                 : "?");
        }
        const char *why = ref_unsupported_reason(g, i);
        if (why)
            return kiln_error(KILN_ERR_UNSUPPORTED, "ref backend: node '%s' (%s): %s", n->name,
                              (unsigned)n->op < KILN_OP_COUNT ? kiln_op_names[n->op] : "?", why);
        for (int32_t k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] != KILN_NO_VALUE) KILN_TRY(setup_value(e, n->inputs[k]));
        for (int32_t k = 0; k < n->n_outputs; k++) {
            if (is_const(&g->values[n->outputs[k]]))
                return kiln_error(KILN_ERR_FORMAT, "ref backend: node '%s' writes constant '%s'",
                                  n->name, g->values[n->outputs[k]].name);
            KILN_TRY(setup_value(e, n->outputs[k]));
        }
    }
    for (int32_t i = 0; i < g->n_inputs; i++)
        KILN_TRY(setup_value(e, g->inputs[i]));
    for (int32_t i = 0; i < g->n_outputs; i++)
        KILN_TRY(setup_value(e, g->outputs[i]));
    return KILN_OK;
}

/* An activation carries the batch in dims[0] when dims[0] is the built batch and it is a
 * graph input / unproduced activation, or the output of a node with a batched input. So
 * activations computed from constants only keep their shape at any run batch. */
static void mark_batched(ref_exec *e) {
    const kiln_graph *g = e->g;
    for (int32_t i = 0; i < g->n_values; i++) {
        const kiln_value *v = &g->values[i];
        e->batched[i] =
            !is_const(v) && v->producer < 0 && v->rank >= 1 && v->dims[0] == e->built_batch;
    }
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const kiln_node *n = &g->nodes[i];
        bool any = false;
        for (int32_t k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] != KILN_NO_VALUE && e->batched[n->inputs[k]]) any = true;
        for (int32_t k = 0; k < n->n_outputs; k++) {
            const kiln_value *v = &g->values[n->outputs[k]];
            e->batched[n->outputs[k]] = any && v->rank >= 1 && v->dims[0] == e->built_batch;
        }
    }
}

static kiln_status ref_create(const kiln_graph *g, const kiln_backend_options *o, void **exec) {
    (void)o;
    if (!g || !exec) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "ref backend: NULL argument");
    *exec = NULL;
    KILN_TRY(check_shapes(g));
    ref_exec *e = calloc(1, sizeof *e);
    if (!e) return kiln_error(KILN_ERR_NO_MEMORY, "ref backend: out of memory");
    e->g = g;
    size_t nv = (size_t)g->n_values + 1;
    e->ptr = calloc(nv, sizeof *e->ptr);
    e->owned = calloc(nv, 1);
    e->cap = calloc(nv, sizeof *e->cap);
    e->batched = calloc(nv, 1);
    if (!e->ptr || !e->owned || !e->cap || !e->batched) {
        ref_destroy(e);
        return kiln_error(KILN_ERR_NO_MEMORY, "ref backend: out of memory");
    }
    e->built_batch = find_built_batch(g);
    if (e->built_batch < 1) {
        ref_destroy(e);
        return kiln_error(KILN_ERR_SHAPE, "ref backend: the batch must be resolved (got %lld)",
                          (long long)e->built_batch);
    }
    mark_batched(e);
    kiln_status s = setup(e);
    if (s == KILN_OK) s = setup_int8(e);
    if (s != KILN_OK) {
        ref_destroy(e);
        return s;
    }
    *exec = e;
    return KILN_OK;
}

/* View of value `id` for a run at `batch`: batched activations (see
 * mark_batched) get dims[0] = batch; constants are unaffected. */
static void view(const ref_exec *e, int32_t id, int64_t batch, kiln_ref_tensor *t) {
    memset(t, 0, sizeof *t);
    if (id == KILN_NO_VALUE) return;
    const kiln_value *v = &e->g->values[id];
    t->p = e->ptr[id];
    t->rank = v->rank;
    for (int32_t i = 0; i < v->rank; i++)
        t->d[i] = v->dims[i];
    if (e->batched[id]) t->d[0] = batch;
    t->n = kiln_numel(t->rank, t->d);
}

/* INT8 weights and scratch for the nodes the precision pass marked INT8. */
static kiln_status setup_int8(ref_exec *e) {
    const kiln_graph *g = e->g;
    int64_t max_elems = 0;
    bool any = false;
    for (int32_t i = 0; i < g->n_nodes; i++)
        any |= g->nodes[i].precision == KILN_PRECISION_INT8;
    if (!any) return KILN_OK;
    for (int32_t v = 0; v < g->n_values; v++)
        if (!is_const(&g->values[v]) && e->cap[v] > max_elems) max_elems = e->cap[v];
    e->int8 = calloc((size_t)g->n_nodes + 1, sizeof *e->int8);
    e->scratch.r_offset = max_elems;
    e->scratch.q = malloc(2 * (size_t)max_elems + 1);
    e->scratch.f0 = malloc(sizeof(float) * ((size_t)max_elems + 1));
    e->scratch.f1 = malloc(sizeof(float) * ((size_t)max_elems + 1));
    if (!e->int8 || !e->scratch.q || !e->scratch.f0 || !e->scratch.f1)
        return kiln_error(KILN_ERR_NO_MEMORY, "ref backend: out of memory for INT8");
    for (int32_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].precision == KILN_PRECISION_INT8)
            KILN_TRY(kiln_ref_int8_prepare(g, &g->nodes[i], &e->int8[i]));
    return KILN_OK;
}

void kiln_ref_run_float(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out) {
    switch (n->op) {
    case KILN_OP_CONV: kiln_ref_conv(n, in, out); break;
    case KILN_OP_BATCH_NORM: kiln_ref_batch_norm(n, in, out); break;
    case KILN_OP_RELU:
    case KILN_OP_CLIP:
    case KILN_OP_SCALE:
    case KILN_OP_IDENTITY: kiln_ref_unary(n, in, out); break;
    case KILN_OP_ADD: kiln_ref_add(n, in, out); break;
    case KILN_OP_SUM: kiln_ref_sum(n, in, out); break;
    case KILN_OP_MAX_POOL:
    case KILN_OP_AVG_POOL: kiln_ref_pool(n, in, out); break;
    case KILN_OP_GLOBAL_AVG_POOL:
    case KILN_OP_GLOBAL_MAX_POOL: kiln_ref_global_pool(n, in, out); break;
    case KILN_OP_MATMUL: kiln_ref_matmul(n, in, out); break;
    case KILN_OP_GEMM: kiln_ref_gemm(n, in, out); break;
    case KILN_OP_SOFTMAX: kiln_ref_softmax(n, in, out); break;
    case KILN_OP_FLATTEN:
    case KILN_OP_RESHAPE: kiln_ref_copy(n, in, out); break;
    case KILN_OP_FAKE_QUANT:
    case KILN_OP_FAKE_QUANT_DEQUANT:
    case KILN_OP_FAKE_DEQUANT:
    case KILN_OP_FAKE_CHANNEL_DEQUANT:
    case KILN_OP_FAKE_CHANNEL_QUANT_DEQUANT: kiln_ref_quant(n, in, out); break;
    case KILN_OP_COUNT: break;
    }
}

static kiln_status ref_run(void *exec, int64_t batch) {
    ref_exec *e = exec;
    if (!e) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "ref backend: NULL executable");
    if (batch < 1 || batch > e->built_batch)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "ref backend: batch %lld is outside [1, %lld] (the built batch)",
                          (long long)batch, (long long)e->built_batch);
    for (int32_t i = 0; i < e->g->n_nodes; i++) {
        const kiln_node *n = &e->g->nodes[i];
        kiln_ref_tensor in[KILN_MAX_IO], out;
        for (int32_t k = 0; k < KILN_MAX_IO; k++)
            view(e, k < n->n_inputs ? n->inputs[k] : KILN_NO_VALUE, batch, &in[k]);
        view(e, n->outputs[0], batch, &out);
        if (n->precision == KILN_PRECISION_INT8)
            kiln_ref_int8_node(e->g, n, in, &out, &e->int8[i], &e->scratch);
        else
            kiln_ref_run_float(n, in, &out);
    }
    return KILN_OK;
}

static kiln_status check_io_arg(const ref_exec *e, int32_t id, const void *p, size_t n,
                                const char *what) {
    if (!e || !p)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "ref backend: %s: NULL argument", what);
    if (id < 0 || id >= e->g->n_values)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "ref backend: %s: value id %d out of range",
                          what, (int)id);
    if (!e->ptr[id])
        return kiln_error(KILN_ERR_NOT_FOUND,
                          "ref backend: %s: tensor '%s' is not used by the graph", what,
                          e->g->values[id].name);
    if (n > (size_t)e->cap[id])
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "ref backend: %s: %zu floats for tensor '%s', which holds %lld", what, n,
                          e->g->values[id].name, (long long)e->cap[id]);
    return KILN_OK;
}

static kiln_status ref_write_value(void *exec, int32_t id, const float *src, size_t n) {
    ref_exec *e = exec;
    KILN_TRY(check_io_arg(e, id, src, n, "write_value"));
    if (is_const(&e->g->values[id]))
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "ref backend: write_value: tensor '%s' is a constant",
                          e->g->values[id].name);
    memcpy(e->ptr[id], src, n * sizeof(float));
    return KILN_OK;
}

static kiln_status ref_read_value(void *exec, int32_t id, float *dst, size_t n) {
    ref_exec *e = exec;
    KILN_TRY(check_io_arg(e, id, dst, n, "read_value"));
    memcpy(dst, e->ptr[id], n * sizeof(float));
    return KILN_OK;
}

const kiln_backend kiln_backend_ref = {
    .name = "ref",
    .supports_int8 = 1,
    .unsupported_reason = ref_unsupported_reason,
    .create = ref_create,
    .run = ref_run,
    .write_value = ref_write_value,
    .read_value = ref_read_value,
    .destroy = ref_destroy,
};
