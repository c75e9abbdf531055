/*
 * engine.c — kiln_engine_*: resolve shapes for max_batch, pick a backend,
 * create its executable, copy inputs in and outputs out.
 *
 * Non-goals (yet): engine caches, INT8 — later issues add them here,
 * on this same path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "calib/calib.h"
#include "core/file.h"
#include "engine/engine.h"
#include "passes/passes.h"

kiln_build_options kiln_build_options_default(void) {
    kiln_build_options o;
    memset(&o, 0, sizeof o);
    o.backend = KILN_BACKEND_AUTO;
    o.precision = KILN_PRECISION_FP32;
    o.max_batch = 1;
    o.threads = 0;
    o.optimize = 1;
    o.logger = kiln_logger_default();
    return o;
}

int32_t kiln_engine_input_value(const kiln_engine *e, int i) {
    return (i >= 0 && i < e->graph->n_inputs) ? e->graph->inputs[i] : -1;
}

/* Replaces the dynamic batch of every input by max_batch and infers shapes. */
static kiln_status resolve_shapes(kiln_engine *e) {
    kiln_graph *g = e->graph;
    for (int32_t i = 0; i < g->n_inputs; i++) {
        kiln_value *v = &g->values[g->inputs[i]];
        if (v->rank == 0)
            return kiln_error(KILN_ERR_SHAPE, "input '%s' is a scalar; Kiln needs a tensor",
                              v->name);
        e->input_dynamic[i] = v->dims[0] < 0;
        if (v->dims[0] < 0) {
            v->dims[0] = e->max_batch;
        } else if (v->dims[0] < e->max_batch) {
            return kiln_error(KILN_ERR_SHAPE,
                              "input '%s' has a fixed batch of %lld but max_batch is %lld; "
                              "build with max_batch <= %lld or export the model with a dynamic "
                              "batch",
                              v->name, (long long)v->dims[0], (long long)e->max_batch,
                              (long long)v->dims[0]);
        }
        for (int32_t d = 1; d < v->rank; d++)
            if (v->dims[d] < 0)
                return kiln_error(KILN_ERR_SHAPE,
                                  "input '%s': dimension %d is dynamic; only the batch "
                                  "(dimension 0) may be",
                                  v->name, (int)d);
    }
    KILN_TRY(kiln_infer_shapes(g));
    for (int32_t i = 0; i < g->n_values; i++) {
        const kiln_value *v = &g->values[i];
        if (v->producer < 0 && !v->data && !(v->flags & KILN_VALUE_INPUT)) continue;
        if (kiln_numel(v->rank, v->dims) < 0) {
            char buf[128];
            return kiln_error(KILN_ERR_SHAPE,
                              "tensor '%s' has unresolved shape %s after "
                              "shape inference",
                              v->name, kiln_shape_str(v->rank, v->dims, buf, sizeof buf));
        }
    }
    return KILN_OK;
}

static const kiln_backend *choose_backend(const kiln_build_options *o) {
    if (o->backend != KILN_BACKEND_AUTO) return kiln_backend_get(o->backend);
    static const kiln_backend_kind preference[] = {KILN_BACKEND_CPU, KILN_BACKEND_REF};
    for (size_t i = 0; i < sizeof preference / sizeof preference[0]; i++) {
        const kiln_backend *b = kiln_backend_get(preference[i]);
        if (b && (o->precision != KILN_PRECISION_INT8 || b->supports_int8)) return b;
    }
    return NULL;
}

static kiln_status check_support(const kiln_engine *e) {
    for (int32_t i = 0; i < e->graph->n_nodes; i++) {
        const char *why = e->backend->unsupported_reason(e->graph, i);
        if (why)
            return kiln_error(KILN_ERR_UNSUPPORTED, "backend %s cannot run node '%s' (%s): %s",
                              e->backend->name, e->graph->nodes[i].name,
                              kiln_op_names[e->graph->nodes[i].op], why);
    }
    return KILN_OK;
}

static kiln_status check_options(const kiln_build_options *o) {
    if (o->max_batch < 1 || o->max_batch > (1 << 20))
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "max_batch %lld out of range [1, 1048576]",
                          (long long)o->max_batch);
    if (o->threads < 0 || o->threads > 4096)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "threads %d out of range [0, 4096]",
                          o->threads);
    if ((unsigned)o->backend >= KILN_BACKEND_COUNT)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "unknown backend %d", (int)o->backend);
    if (o->precision == KILN_PRECISION_FP16)
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "precision FP16 is not implemented; use FP32 or INT8");
    if ((unsigned)o->precision >= KILN_PRECISION_COUNT)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "unknown precision %d", (int)o->precision);
    return KILN_OK;
}

static float table_lookup(void *user, const char *name) {
    float t = 0;
    return kiln_calib_table_threshold(user, name, &t) == KILN_OK ? t : 0.0f;
}

/* INT8: thresholds from the calibration table, then per-node precision. */
static kiln_status assign_int8(kiln_engine *e) {
    const kiln_build_options *o = &e->opts;
    char path[4096];
    if (o->calibration_table)
        snprintf(path, sizeof path, "%s", o->calibration_table);
    else
        KILN_TRY(kiln_calib_default_path(e->model->graph, o->cache_dir, path, sizeof path));
    if (!kiln_is_file(path))
        return kiln_error(KILN_ERR_NOT_FOUND,
                          "INT8 needs a calibration table and %s does not exist: make it with "
                          "`kiln calibrate <model> --data=<images>` (or run the Paddle API with "
                          "use_calib_mode=true once)",
                          path);
    kiln_calib_table *t = NULL;
    KILN_TRY(kiln_calib_table_load(path, &t));
    kiln_status s = KILN_OK;
    if (t->is_trt) {
        kiln_log(&o->logger, KILN_LOG_WARNING,
                 "%s is a TensorRT table (TRT-%lld-%s): it records no model key, so Kiln "
                 "cannot check it belongs to this model",
                 path, (long long)t->trt_version, t->trt_algo);
    } else {
        char key[17];
        const kiln_graph *mg = e->model->graph;
        int64_t shape[KILN_MAX_RANK];
        const kiln_value *in = &mg->values[mg->inputs[0]];
        for (int32_t d = 0; d < in->rank; d++)
            shape[d] = d == 0 ? 1 : in->dims[d];
        s = kiln_calib_model_key(mg, key);
        int no_key = 0;
        if (s == KILN_OK) s = kiln_calib_table_check(t, key, in->rank, shape, &no_key);
    }
    if (s == KILN_OK)
        s = kiln_pass_assign_precision(e->graph, table_lookup, t, &o->logger, &e->n_int8,
                                       &e->n_int8_candidates);
    kiln_calib_table_destroy(t);
    if (s == KILN_OK)
        kiln_log(&o->logger, KILN_LOG_INFO, "INT8 with calibration table %s: INT8 layers %d/%d",
                 path, e->n_int8, e->n_int8_candidates);
    return s;
}

/* Clone, extra outputs, concrete shapes, passes, precision. */
static kiln_status prepare_graph(kiln_engine *e, const char *const *extra, int n_extra) {
    const kiln_build_options *o = &e->opts;
    KILN_TRY(kiln_graph_clone(e->model->graph, &e->graph));
    for (int i = 0; i < n_extra; i++) {
        int32_t v = kiln_graph_find_value(e->graph, extra[i]);
        if (v < 0) return kiln_error(KILN_ERR_NOT_FOUND, "no tensor named '%s'", extra[i]);
        KILN_TRY(kiln_graph_add_output(e->graph, v));
    }
    e->input_dynamic = calloc((size_t)e->graph->n_inputs + 1, sizeof(bool));
    if (!e->input_dynamic) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    KILN_TRY(resolve_shapes(e));
    if (o->optimize) {
        KILN_TRY(kiln_passes_run(e->graph, &o->logger, &e->pass_stats));
        KILN_TRY(kiln_infer_shapes(e->graph));
    }
    if (o->precision == KILN_PRECISION_INT8) KILN_TRY(assign_int8(e));
    return KILN_OK;
}

static kiln_status build(kiln_engine *e, const char *const *extra, int n_extra) {
    const kiln_build_options *o = &e->opts;
    KILN_TRY(check_options(o));
    e->backend = choose_backend(o);
    if (!e->backend)
        return kiln_error(KILN_ERR_UNSUPPORTED, "backend '%s' is not compiled into this Kiln%s",
                          kiln_backend_name(o->backend),
                          o->precision == KILN_PRECISION_INT8 ? " (or has no INT8 support)" : "");
    if (o->precision == KILN_PRECISION_INT8 && !e->backend->supports_int8)
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "backend %s has no INT8 support yet: use --backend=ref (or auto)",
                          e->backend->name);
    e->max_batch = o->max_batch;
    KILN_TRY(prepare_graph(e, extra, n_extra));
    if (o->backend == KILN_BACKEND_AUTO && check_support(e) != KILN_OK &&
        e->backend != &kiln_backend_ref) {
        /* auto: a model the fast backend cannot run (e.g. fake-quant ops) runs on ref */
        kiln_log(&o->logger, KILN_LOG_WARNING, "%s; running it on the ref backend (slow)",
                 kiln_last_error());
        e->backend = &kiln_backend_ref;
    }
    KILN_TRY(check_support(e));
    e->outputs = calloc((size_t)e->graph->n_outputs + 1, sizeof(float *));
    if (!e->outputs) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    for (int32_t i = 0; i < e->graph->n_outputs; i++) {
        const kiln_value *v = &e->graph->values[e->graph->outputs[i]];
        e->outputs[i] = calloc((size_t)kiln_numel(v->rank, v->dims) + 1, sizeof(float));
        if (!e->outputs[i]) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    }
    kiln_backend_options bo = {o->threads, o->precision, &o->logger};
    KILN_TRY(e->backend->create(e->graph, &bo, &e->exec));
    e->batch = e->graph->n_inputs ? e->graph->values[e->graph->inputs[0]].dims[0] : 1;
    kiln_log(&o->logger, KILN_LOG_INFO, "engine built: backend %s, max batch %lld, %d nodes",
             e->backend->name, (long long)e->max_batch, (int)e->graph->n_nodes);
    return KILN_OK;
}

kiln_status kiln_engine_build_ex(const kiln_model *m, const kiln_build_options *opts,
                                 const char *const *extra_outputs, int n_extra, kiln_engine **out) {
    if (!m || !out)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "kiln_engine_build: NULL argument");
    *out = NULL;
    kiln_engine *e = calloc(1, sizeof *e);
    if (!e) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    e->model = m;
    e->opts = opts ? *opts : kiln_build_options_default();
    kiln_status s = build(e, extra_outputs, n_extra);
    if (s != KILN_OK) {
        kiln_engine_destroy(e);
        return s;
    }
    *out = e;
    return KILN_OK;
}

kiln_status kiln_engine_plan(const kiln_model *m, const kiln_build_options *opts,
                             kiln_graph **out) {
    kiln_engine e;
    memset(&e, 0, sizeof e);
    e.model = m;
    e.opts = opts ? *opts : kiln_build_options_default();
    e.max_batch = e.opts.max_batch;
    kiln_status s = check_options(&e.opts);
    if (s == KILN_OK) s = prepare_graph(&e, NULL, 0);
    free(e.input_dynamic);
    if (s != KILN_OK) {
        kiln_graph_destroy(e.graph);
        return s;
    }
    *out = e.graph;
    return KILN_OK;
}

void kiln_engine_int8_layers(const kiln_engine *e, int *n_int8, int *n_candidates) {
    if (n_int8) *n_int8 = e ? e->n_int8 : 0;
    if (n_candidates) *n_candidates = e ? e->n_int8_candidates : 0;
}

kiln_status kiln_engine_build(const kiln_model *m, const kiln_build_options *opts,
                              kiln_engine **out) {
    return kiln_engine_build_ex(m, opts, NULL, 0, out);
}

void kiln_engine_destroy(kiln_engine *e) {
    if (!e) return;
    if (e->exec) e->backend->destroy(e->exec);
    if (e->outputs)
        for (int32_t i = 0; i < e->graph->n_outputs; i++)
            free(e->outputs[i]);
    free(e->outputs);
    free(e->input_dynamic);
    kiln_graph_destroy(e->graph);
    free(e);
}

const char *kiln_engine_backend(const kiln_engine *e) {
    return e ? e->backend->name : NULL;
}

kiln_status kiln_engine_set_input(kiln_engine *e, int i, const float *data, const int64_t *dims,
                                  int rank) {
    if (!e || !data || !dims)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "kiln_engine_set_input: NULL argument");
    if (i < 0 || i >= e->graph->n_inputs)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "input index %d out of range (model has %d)",
                          i, (int)e->graph->n_inputs);
    const kiln_value *v = &e->graph->values[e->graph->inputs[i]];
    char want[128], got[128];
    kiln_shape_str(v->rank, v->dims, want, sizeof want);
    kiln_shape_str(rank, dims, got, sizeof got);
    if (rank != v->rank)
        return kiln_error(KILN_ERR_SHAPE, "input '%s': got shape %s, the engine expects %s",
                          v->name, got, want);
    for (int d = 1; d < rank; d++)
        if (dims[d] != v->dims[d])
            return kiln_error(KILN_ERR_SHAPE, "input '%s': got shape %s, the engine expects %s",
                              v->name, got, want);
    if (dims[0] < 1 || dims[0] > v->dims[0] || (!e->input_dynamic[i] && dims[0] != v->dims[0]))
        return kiln_error(KILN_ERR_SHAPE,
                          "input '%s': batch %lld is larger than the engine was built for "
                          "(%lld); rebuild with max_batch >= %lld",
                          v->name, (long long)dims[0], (long long)v->dims[0], (long long)dims[0]);
    if (i > 0 && dims[0] != e->batch)
        return kiln_error(KILN_ERR_SHAPE, "input '%s': batch %lld differs from input 0's %lld",
                          v->name, (long long)dims[0], (long long)e->batch);
    e->batch = dims[0];
    size_t n = (size_t)kiln_numel(rank, dims);
    return e->backend->write_value(e->exec, e->graph->inputs[i], data, n);
}

kiln_status kiln_engine_run(kiln_engine *e) {
    if (!e) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "kiln_engine_run: NULL engine");
    KILN_TRY(e->backend->run(e->exec, e->batch));
    for (int32_t i = 0; i < e->graph->n_outputs; i++) {
        const kiln_value *v = &e->graph->values[e->graph->outputs[i]];
        int64_t n = kiln_numel(v->rank, v->dims);
        if (v->rank > 0 && v->dims[0] > 0) n = n / v->dims[0] * e->batch;
        KILN_TRY(e->backend->read_value(e->exec, e->graph->outputs[i], e->outputs[i], (size_t)n));
    }
    e->last_batch = e->batch;
    return KILN_OK;
}

kiln_status kiln_engine_get_output(kiln_engine *e, int i, const float **data,
                                   int64_t dims[KILN_MAX_RANK], int *rank) {
    if (!e || !data || !dims || !rank)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "kiln_engine_get_output: NULL argument");
    if (i < 0 || i >= e->graph->n_outputs)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "output index %d out of range (model has %d)",
                          i, (int)e->graph->n_outputs);
    if (!e->last_batch)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "no output yet: call kiln_engine_run first");
    const kiln_value *v = &e->graph->values[e->graph->outputs[i]];
    *rank = v->rank;
    memcpy(dims, v->dims, sizeof(int64_t) * (size_t)v->rank);
    if (v->rank > 0) dims[0] = e->last_batch;
    *data = e->outputs[i];
    return KILN_OK;
}
