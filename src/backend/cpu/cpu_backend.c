/*
 * cpu_backend.c — the cpu backend's vtable (kiln_backend_cpu): support checks,
 * create (engine, stream, threads, one plan per prepared batch size, arena,
 * scratchpad, memory binding), run (the chosen plan's steps on one stream; no
 * allocation by Kiln), value copies in and out of the dense buffers of graph
 * inputs and outputs, and per-node profiling.
 *
 * Threads: options.threads > 0 sets OpenMP's thread count around create and
 * run (restored after); 0 leaves OpenMP's setting (all cores by default).
 * The OpenMP entry points are looked up at run time in the runtime oneDNN
 * loaded, so the library does not link OpenMP itself.
 *
 * Precision: each node runs as the precision pass marked it (INT8 nodes:
 * cpu_int8.c); the options' precision only has to be FP32 or INT8.
 *
 * Non-goals: reading intermediate values (mark them as graph outputs).
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/cpu.h"
#include "backend/cpu/cpu_profile.h"
#include "core/log.h"
#include "core/status.h"

enum { CPU_MAX_THREADS = 4096 };

static bool is_f32(const kiln_graph *g, int32_t v) {
    return v == KILN_NO_VALUE || g->values[v].dtype == KILN_DT_F32;
}

static bool is_const(const kiln_graph *g, int32_t v) {
    return v != KILN_NO_VALUE && g->values[v].data != NULL;
}

static int32_t rank_of(const kiln_graph *g, int32_t v) {
    return g->values[v].rank;
}

static const char *cpu_unsupported_reason(const kiln_graph *g, int32_t node) {
    if (!g || node < 0 || node >= g->n_nodes) return "node id out of range";
    const kiln_node *n = &g->nodes[node];
    if ((unsigned)n->op >= KILN_OP_COUNT) return "unknown op";
    if (n->n_inputs < 1 || n->n_outputs < 1 || n->inputs[0] == KILN_NO_VALUE)
        return "node without input or output";
    for (int32_t k = 0; k < n->n_inputs; k++)
        if (!is_f32(g, n->inputs[k])) return "the cpu backend runs f32 tensors only (FP32 path)";
    for (int32_t k = 0; k < n->n_outputs; k++)
        if (!is_f32(g, n->outputs[k])) return "the cpu backend runs f32 tensors only (FP32 path)";
    if (n->n_outputs != 1) return "the cpu backend runs single-output ops only";
    for (int32_t k = 0; k < n->n_inputs + 1; k++) {
        int32_t v = k < n->n_inputs ? n->inputs[k] : n->outputs[0];
        if (v != KILN_NO_VALUE && rank_of(g, v) > DNNL_MAX_NDIMS) return "rank above 12";
    }
    int32_t x = n->inputs[0], y = n->outputs[0];
    const kiln_attrs *a = &n->attrs;
    if (n->precision == KILN_PRECISION_INT8) {
        const char *why = cpu_int8_unsupported_reason(g, node);
        if (why) return why;
    }
    switch (n->op) {
    case KILN_OP_CONV: {
        if (n->n_inputs < 2 || rank_of(g, x) != 4) return "conv needs a 4-D NCHW input";
        int32_t w = n->inputs[1];
        if (!is_const(g, w) || rank_of(g, w) != 4) return "conv weights must be a 4-D constant";
        if (n->n_inputs > 2 && n->inputs[2] != KILN_NO_VALUE && !is_const(g, n->inputs[2]))
            return "conv bias must be a constant";
        if (n->n_inputs > 3 && n->inputs[3] != KILN_NO_VALUE && is_const(g, n->inputs[3]))
            return "conv residual input must be an activation";
        if (n->n_inputs > 4) return "conv takes at most X, W, B, R";
        if (a->group < 1 || g->values[w].dims[0] % a->group != 0)
            return "conv group must divide the output channels";
        if (a->strides[0] < 1 || a->strides[1] < 1 || a->dilations[0] < 1 || a->dilations[1] < 1)
            return "conv strides and dilations must be >= 1";
        return NULL;
    }
    case KILN_OP_MAX_POOL:
    case KILN_OP_AVG_POOL:
        if (rank_of(g, x) != 4) return "pooling needs a 4-D NCHW input";
        if (a->kernel[0] < 1 || a->kernel[1] < 1 || a->strides[0] < 1 || a->strides[1] < 1 ||
            a->dilations[0] < 1 || a->dilations[1] < 1)
            return "pooling kernel, strides and dilations must be >= 1";
        return NULL;
    case KILN_OP_GLOBAL_AVG_POOL:
    case KILN_OP_GLOBAL_MAX_POOL:
        return rank_of(g, x) == 4 ? NULL : "global pooling needs a 4-D NCHW input";
    case KILN_OP_GEMM:
        if (n->n_inputs < 2 || rank_of(g, x) != 2 || rank_of(g, n->inputs[1]) != 2)
            return "gemm needs 2-D A and B";
        if (n->n_inputs > 2 && n->inputs[2] != KILN_NO_VALUE) {
            if (!is_const(g, n->inputs[2])) return "gemm C must be a constant";
            if (a->alpha == 0.0f) return "gemm with alpha 0 and a C input";
        }
        return NULL;
    case KILN_OP_MATMUL: return n->n_inputs == 2 ? NULL : "matmul takes two inputs";
    case KILN_OP_BATCH_NORM:
        if (n->n_inputs != 5 || rank_of(g, x) < 2 || rank_of(g, x) > 5)
            return "batch_norm needs X of rank 2..5 and 4 parameters";
        for (int32_t k = 1; k < 5; k++)
            if (!is_const(g, n->inputs[k])) return "batch_norm parameters must be constants";
        return NULL;
    case KILN_OP_ADD: return n->n_inputs == 2 ? NULL : "add takes two inputs";
    case KILN_OP_SUM:
        for (int32_t k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] == KILN_NO_VALUE) return "sum with an absent input";
        return NULL;
    case KILN_OP_SOFTMAX: return rank_of(g, x) >= 1 ? NULL : "softmax of a scalar";
    case KILN_OP_RELU:
    case KILN_OP_CLIP:
    case KILN_OP_SCALE:
    case KILN_OP_IDENTITY:
    case KILN_OP_FLATTEN:
    case KILN_OP_RESHAPE: return rank_of(g, y) <= DNNL_MAX_NDIMS ? NULL : "rank above 12";
    case KILN_OP_FAKE_QUANT:
    case KILN_OP_FAKE_QUANT_DEQUANT:
    case KILN_OP_FAKE_DEQUANT:
    case KILN_OP_FAKE_CHANNEL_DEQUANT:
    case KILN_OP_FAKE_CHANNEL_QUANT_DEQUANT:
        return "fake-quant op: INT8 path not implemented on cpu yet";
    case KILN_OP_COUNT: break;
    }
    return "unknown op";
}

static void threads_enter(const cpu_exec *e, int *saved) {
    *saved = 0;
    if (e->threads <= 0 || !e->omp_set || !e->omp_get) return;
    int cur = e->omp_get();
    if (cur == e->threads) return;
    *saved = cur;
    e->omp_set(e->threads);
}

static void threads_leave(const cpu_exec *e, int saved) {
    if (saved > 0) e->omp_set(saved);
}

static void cpu_destroy(void *exec) {
    cpu_exec *e = exec;
    if (!e) return;
    for (int32_t i = 0; i < e->n_plans; i++)
        cpu_plan_free(&e->plans[i]);
    free(e->plans);
    for (int32_t i = 0; i < e->n_mems; i++)
        dnnl_memory_destroy(e->mems[i]);
    free(e->mems);
    for (int32_t i = 0; i < e->n_bufs; i++)
        free(e->bufs[i].p);
    free(e->bufs);
    if (e->dedicated)
        for (int32_t v = 0; v < e->g->n_values; v++)
            free(e->dedicated[v]);
    free(e->dedicated);
    free(e->ded_bytes);
    free(e->last_use);
    free(e->arena);
    free(e->scratch);
    if (e->stream) dnnl_stream_destroy(e->stream);
    if (e->eng) dnnl_engine_destroy(e->eng);
    free(e);
}

static int64_t find_built_batch(const kiln_graph *g) {
    for (int32_t i = 0; i < g->n_inputs; i++) {
        const kiln_value *v = &g->values[g->inputs[i]];
        if (v->rank >= 1) return v->dims[0];
    }
    for (int32_t i = 0; i < g->n_values; i++) {
        const kiln_value *v = &g->values[i];
        if (!v->data && v->producer < 0 && v->rank >= 1) return v->dims[0];
    }
    return 1;
}

static void *alloc_aligned(size_t bytes) {
    size_t n = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, n ? n : 64);
    if (p) memset(p, 0, n ? n : 64);
    return p;
}

/* Shapes, support, dedicated buffers of graph inputs/outputs, last uses. */
static kiln_status setup(cpu_exec *e) {
    const kiln_graph *g = e->g;
    size_t nv = (size_t)g->n_values + 1;
    e->dedicated = calloc(nv, sizeof *e->dedicated);
    e->ded_bytes = calloc(nv, sizeof *e->ded_bytes);
    e->last_use = calloc(nv, sizeof *e->last_use);
    if (!e->dedicated || !e->ded_bytes || !e->last_use)
        return kiln_error(KILN_ERR_NO_MEMORY, "cpu backend: out of memory");
    for (int32_t v = 0; v < g->n_values; v++)
        e->last_use[v] = -1;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const kiln_node *n = &g->nodes[i];
        const char *why = cpu_unsupported_reason(g, i);
        if (why)
            return kiln_error(KILN_ERR_UNSUPPORTED, "cpu backend: node '%s' (%s): %s", n->name,
                              (unsigned)n->op < KILN_OP_COUNT ? kiln_op_names[n->op] : "?", why);
        for (int32_t k = 0; k < n->n_inputs + n->n_outputs; k++) {
            int32_t v = k < n->n_inputs ? n->inputs[k] : n->outputs[k - n->n_inputs];
            if (v == KILN_NO_VALUE) continue;
            if (v < 0 || v >= g->n_values)
                return kiln_error(KILN_ERR_FORMAT,
                                  "cpu backend: node '%s': value id %d out of range", n->name,
                                  (int)v);
            const kiln_value *val = &g->values[v];
            int64_t ne = kiln_numel(val->rank, val->dims);
            char b[160];
            if (ne < 1 || (uint64_t)ne > (uint64_t)1 << 40)
                return kiln_error(KILN_ERR_SHAPE,
                                  "cpu backend: tensor '%s' has shape %s: every dim must be "
                                  "known (> 0) at build time",
                                  val->name, kiln_shape_str(val->rank, val->dims, b, sizeof b));
            if (val->data && val->nbytes != (size_t)ne * sizeof(float))
                return kiln_error(KILN_ERR_SHAPE,
                                  "cpu backend: constant '%s' %s holds %zu bytes, expected %zu",
                                  val->name, kiln_shape_str(val->rank, val->dims, b, sizeof b),
                                  val->nbytes, (size_t)ne * sizeof(float));
            if (k < n->n_inputs && e->last_use[v] < i) e->last_use[v] = i;
            if (k >= n->n_inputs && val->data)
                return kiln_error(KILN_ERR_FORMAT, "cpu backend: node '%s' writes constant '%s'",
                                  n->name, val->name);
        }
    }
    for (int32_t pass = 0; pass < 2; pass++) {
        int32_t cnt = pass ? g->n_outputs : g->n_inputs;
        for (int32_t i = 0; i < cnt; i++) {
            int32_t v = pass ? g->outputs[i] : g->inputs[i];
            const kiln_value *val = &g->values[v];
            if (pass) e->last_use[v] = g->n_nodes;
            if (e->dedicated[v] || val->data) continue;
            int64_t ne = kiln_numel(val->rank, val->dims);
            if (ne < 1)
                return kiln_error(KILN_ERR_SHAPE, "cpu backend: graph %s '%s' has unknown dims",
                                  pass ? "output" : "input", val->name);
            e->ded_bytes[v] = (size_t)ne * sizeof(float);
            e->dedicated[v] = alloc_aligned(e->ded_bytes[v]);
            if (!e->dedicated[v])
                return kiln_error(KILN_ERR_NO_MEMORY, "cpu backend: out of memory");
        }
    }
    return KILN_OK;
}

/* Plans for batches 1, 2, 4, ... below the built batch, and the built batch. */
static kiln_status build_plans(cpu_exec *e) {
    int32_t np = 1;
    for (int64_t b = 1; b < e->built_batch; b *= 2)
        np++;
    e->plans = calloc((size_t)np, sizeof *e->plans);
    if (!e->plans) return kiln_error(KILN_ERR_NO_MEMORY, "cpu backend: out of memory");
    /* the built batch first: it must work; a smaller plan that oneDNN refuses
     * (a graph whose dim 0 is not a batch) is dropped: its batches run on a
     * larger plan */
    for (int32_t i = np - 1; i >= 0; i--) {
        cpu_plan *p = &e->plans[e->n_plans];
        p->batch = i == np - 1 ? e->built_batch : (int64_t)1 << i;
        kiln_status s = cpu_plan_build(e, p);
        if (s != KILN_OK) {
            cpu_plan_free(p);
            if (i == np - 1) return s;
            kiln_log(e->logger, KILN_LOG_DEBUG, "cpu backend: no plan for batch %lld: %s",
                     (long long)((int64_t)1 << i), kiln_last_error());
            continue;
        }
        if (p->arena_bytes > e->arena_bytes) e->arena_bytes = p->arena_bytes;
        e->n_plans++;
    }
    /* ascending batch order for pick_plan */
    for (int32_t i = 0, j = e->n_plans - 1; i < j; i++, j--) {
        cpu_plan t = e->plans[i];
        e->plans[i] = e->plans[j];
        e->plans[j] = t;
    }
    e->arena = alloc_aligned(e->arena_bytes);
    e->scratch = alloc_aligned(e->scratch_bytes);
    if (!e->arena || !e->scratch)
        return kiln_error(KILN_ERR_NO_MEMORY,
                          "cpu backend: out of memory for the activation arena (%zu bytes) and "
                          "scratchpad (%zu bytes)",
                          e->arena_bytes, e->scratch_bytes);
    for (int32_t i = 0; i < e->n_plans; i++)
        KILN_TRY(cpu_plan_bind(e, &e->plans[i]));
    return KILN_OK;
}

static kiln_status cpu_create(const kiln_graph *g, const kiln_backend_options *o, void **exec) {
    if (!g || !exec) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "cpu backend: NULL argument");
    *exec = NULL;
    int threads = o ? o->threads : 0;
    if (threads < 0 || threads > CPU_MAX_THREADS)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "cpu backend: threads %d out of range [0, %d] (0 = all cores)", threads,
                          CPU_MAX_THREADS);
    if (o && o->precision != KILN_PRECISION_FP32 && o->precision != KILN_PRECISION_INT8)
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "cpu backend: precision %d is not implemented (FP32 and INT8 are)",
                          (int)o->precision);
    cpu_exec *e = calloc(1, sizeof *e);
    if (!e) return kiln_error(KILN_ERR_NO_MEMORY, "cpu backend: out of memory");
    e->g = g;
    e->logger = o ? o->logger : NULL;
    e->threads = threads;
    *(void **)(&e->omp_set) = dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    *(void **)(&e->omp_get) = dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    if (threads > 0 && (!e->omp_set || !e->omp_get))
        kiln_log(e->logger, KILN_LOG_WARNING,
                 "cpu backend: no OpenMP runtime found; ignoring threads=%d", threads);
    e->built_batch = find_built_batch(g);
    kiln_status s = KILN_OK;
    if (e->built_batch < 1)
        s = kiln_error(KILN_ERR_SHAPE, "cpu backend: the batch must be resolved (got %lld)",
                       (long long)e->built_batch);
    if (s == KILN_OK) s = setup(e);
    dnnl_status_t ds = dnnl_success;
    if (s == KILN_OK) ds = dnnl_engine_create(&e->eng, dnnl_cpu, 0);
    if (s == KILN_OK && ds == dnnl_success)
        ds = dnnl_stream_create(&e->stream, e->eng, dnnl_stream_default_flags);
    if (s == KILN_OK && ds != dnnl_success)
        s = cpu_dnnl_error(e, -1, "creating the oneDNN engine and stream", ds);
    if (s == KILN_OK) {
        int saved;
        threads_enter(e, &saved);
        s = build_plans(e);
        threads_leave(e, saved);
    }
    if (s != KILN_OK) {
        cpu_destroy(e);
        return s;
    }
    kiln_log(e->logger, KILN_LOG_DEBUG,
             "cpu backend: %d plans (batch up to %lld), arena %zu bytes, scratchpad %zu bytes, "
             "%d steps at the built batch",
             (int)e->n_plans, (long long)e->built_batch, e->arena_bytes, e->scratch_bytes,
             (int)e->plans[e->n_plans - 1].n_steps);
    kiln_error_clear();
    *exec = e;
    return KILN_OK;
}

static const cpu_plan *pick_plan(const cpu_exec *e, int64_t batch) {
    for (int32_t i = 0; i < e->n_plans; i++)
        if (e->plans[i].batch >= batch) return &e->plans[i];
    return NULL;
}

static kiln_status run_step(const cpu_exec *e, const cpu_step *st) {
    if (st->own) {
        cpu_own_run(st);
        return KILN_OK;
    }
    dnnl_status_t s = dnnl_primitive_execute(st->prim, e->stream, st->n_args, st->exec);
    if (s != dnnl_success) return cpu_dnnl_error(e, st->node, "dnnl_primitive_execute", s);
    return KILN_OK;
}

static kiln_status check_batch(const cpu_exec *e, int64_t batch) {
    if (!e) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "cpu backend: NULL executable");
    if (batch < 1 || batch > e->built_batch)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "cpu backend: batch %lld is outside [1, %lld] (the built batch)",
                          (long long)batch, (long long)e->built_batch);
    return KILN_OK;
}

static kiln_status cpu_run(void *exec, int64_t batch) {
    cpu_exec *e = exec;
    KILN_TRY(check_batch(e, batch));
    const cpu_plan *p = pick_plan(e, batch);
    int saved;
    threads_enter(e, &saved);
    kiln_status s = KILN_OK;
    for (int32_t k = 0; k < p->n_steps && s == KILN_OK; k++)
        s = run_step(e, &p->steps[k]);
    dnnl_status_t ws = dnnl_stream_wait(e->stream);
    threads_leave(e, saved);
    if (s == KILN_OK && ws != dnnl_success) s = cpu_dnnl_error(e, -1, "dnnl_stream_wait", ws);
    return s;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

kiln_status kiln_cpu_profile(void *exec, int64_t batch, double *ms_per_node) {
    cpu_exec *e = exec;
    KILN_TRY(check_batch(e, batch));
    if (!ms_per_node) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "cpu backend: NULL profile");
    for (int32_t i = 0; i < e->g->n_nodes; i++)
        ms_per_node[i] = 0.0;
    const cpu_plan *p = pick_plan(e, batch);
    int saved;
    threads_enter(e, &saved);
    kiln_status s = KILN_OK;
    for (int32_t k = 0; k < p->n_steps && s == KILN_OK; k++) {
        double t0 = now_ms();
        s = run_step(e, &p->steps[k]);
        dnnl_status_t ws = dnnl_stream_wait(e->stream);
        if (s == KILN_OK && ws != dnnl_success) s = cpu_dnnl_error(e, -1, "dnnl_stream_wait", ws);
        int32_t node = p->steps[k].node;
        if (node >= 0 && node < e->g->n_nodes) ms_per_node[node] += now_ms() - t0;
    }
    threads_leave(e, saved);
    return s;
}

static kiln_status check_io(const cpu_exec *e, int32_t id, const void *ptr, size_t n,
                            const char *what) {
    if (!e || !ptr)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "cpu backend: %s: NULL argument", what);
    if (id < 0 || id >= e->g->n_values)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "cpu backend: %s: value id %d out of range",
                          what, (int)id);
    const kiln_value *v = &e->g->values[id];
    size_t cap = v->data ? v->nbytes / sizeof(float) : e->ded_bytes[id] / sizeof(float);
    if (!v->data && !e->dedicated[id])
        return kiln_error(KILN_ERR_NOT_FOUND,
                          "cpu backend: %s: tensor '%s' is not a graph input or output (the cpu "
                          "backend reuses intermediate buffers; mark it as an output to read it)",
                          what, v->name);
    if (n > cap)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "cpu backend: %s: %zu floats for tensor '%s', which holds %zu", what, n,
                          v->name, cap);
    return KILN_OK;
}

static kiln_status cpu_write_value(void *exec, int32_t id, const float *src, size_t n) {
    cpu_exec *e = exec;
    KILN_TRY(check_io(e, id, src, n, "write_value"));
    if (e->g->values[id].data)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "cpu backend: write_value: tensor '%s' is a constant",
                          e->g->values[id].name);
    memcpy(e->dedicated[id], src, n * sizeof(float));
    return KILN_OK;
}

static kiln_status cpu_read_value(void *exec, int32_t id, float *dst, size_t n) {
    cpu_exec *e = exec;
    KILN_TRY(check_io(e, id, dst, n, "read_value"));
    const void *src = e->g->values[id].data ? e->g->values[id].data : e->dedicated[id];
    memcpy(dst, src, n * sizeof(float));
    return KILN_OK;
}

const kiln_backend kiln_backend_cpu = {
    .name = "cpu",
    .supports_int8 = 1,
    .unsupported_reason = cpu_unsupported_reason,
    .create = cpu_create,
    .run = cpu_run,
    .write_value = cpu_write_value,
    .read_value = cpu_read_value,
    .destroy = cpu_destroy,
    .profile = kiln_cpu_profile,
};
