/*
 * calibrator.c — kiln_calibrator_*: finds the tensors INT8 layers would read
 * or write in the optimized FP32 graph, builds an FP32 engine that exposes
 * them as outputs, histograms |x| of each over every batch, and writes the
 * table with thresholds from the chosen algorithm.
 *
 * Non-goals: choosing the data (the caller feeds batches) or preprocessing.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib/calib.h"
#include "core/log.h"
#include "engine/engine.h"
#include "passes/passes.h"

struct kiln_calibrator {
    const kiln_model *model;
    kiln_calibrate_options opts;
    kiln_calib_algo algo;
    kiln_engine *engine;
    int32_t n_obs;
    char **names;       /* observed tensor names (graph order) */
    int32_t *out_index; /* engine output index of each */
    kiln_calib_hist *hist;
    int64_t samples;
    int64_t batches;
};

kiln_calibrate_options kiln_calibrate_options_default(void) {
    kiln_calibrate_options o;
    memset(&o, 0, sizeof o);
    o.algo = "entropy";
    o.percentile = 99.99;
    o.max_batch = 1;
    o.logger = kiln_logger_default();
    return o;
}

/* Activation names read or written by INT8-capable nodes, deduplicated. */
static kiln_status observed_names(kiln_calibrator *c, const kiln_graph *g) {
    char *seen = calloc((size_t)g->n_values + 1, 1);
    c->names = calloc((size_t)g->n_values + 1, sizeof(char *));
    if (!seen || !c->names) {
        free(seen);
        return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    }
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const kiln_node *n = &g->nodes[i];
        if (!kiln_int8_capable(g, n, NULL)) continue;
        int32_t ids[KILN_MAX_IO + 1], k = 0;
        for (int32_t j = 0; j < n->n_inputs; j++)
            ids[k++] = n->inputs[j];
        ids[k++] = n->outputs[0];
        for (int32_t j = 0; j < k; j++) {
            int32_t v = ids[j];
            if (v == KILN_NO_VALUE || g->values[v].data || seen[v]) continue;
            seen[v] = 1;
            if (!(c->names[c->n_obs] = strdup(g->values[v].name))) {
                free(seen);
                return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
            }
            c->n_obs++;
        }
    }
    free(seen);
    return KILN_OK;
}

static kiln_status create(kiln_calibrator *c) {
    const kiln_calibrate_options *o = &c->opts;
    KILN_TRY(kiln_calib_algo_parse(o->algo ? o->algo : "entropy", &c->algo));
    if (c->algo == KILN_CALIB_PERCENTILE && !(o->percentile > 0 && o->percentile <= 100))
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "percentile %g outside (0, 100]",
                          o->percentile);
    kiln_build_options bo = kiln_build_options_default();
    bo.backend = o->backend;
    bo.threads = o->threads;
    bo.max_batch = o->max_batch;
    bo.logger = o->logger;
    kiln_graph *plan = NULL;
    KILN_TRY(kiln_engine_plan(c->model, &bo, &plan));
    kiln_status s = observed_names(c, plan);
    kiln_graph_destroy(plan);
    KILN_TRY(s);
    if (c->n_obs == 0)
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "the model has no layer with an INT8 form: nothing to calibrate");
    KILN_TRY(
        kiln_engine_build_ex(c->model, &bo, (const char *const *)c->names, c->n_obs, &c->engine));
    c->out_index = calloc((size_t)c->n_obs, sizeof(int32_t));
    c->hist = calloc((size_t)c->n_obs, sizeof(kiln_calib_hist));
    if (!c->out_index || !c->hist) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    const kiln_graph *g = c->engine->graph;
    for (int32_t i = 0; i < c->n_obs; i++) {
        kiln_calib_hist_init(&c->hist[i]);
        c->out_index[i] = -1;
        for (int32_t k = 0; k < g->n_outputs; k++)
            if (!strcmp(g->values[g->outputs[k]].name, c->names[i])) c->out_index[i] = k;
        if (c->out_index[i] < 0)
            return kiln_error(KILN_ERR_INTERNAL, "calibrator: tensor '%s' is not observable",
                              c->names[i]);
    }
    kiln_log(&o->logger, KILN_LOG_INFO, "calibrator: observing %d tensors with backend %s",
             (int)c->n_obs, c->engine->backend->name);
    return KILN_OK;
}

kiln_status kiln_calibrator_create(const kiln_model *m, const kiln_calibrate_options *o,
                                   kiln_calibrator **out) {
    if (!m || !out) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "kiln_calibrator_create: NULL");
    *out = NULL;
    kiln_calibrator *c = calloc(1, sizeof *c);
    if (!c) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    c->model = m;
    c->opts = o ? *o : kiln_calibrate_options_default();
    kiln_status s = create(c);
    if (s != KILN_OK) {
        kiln_calibrator_destroy(c);
        return s;
    }
    *out = c;
    return KILN_OK;
}

kiln_status kiln_calibrator_add(kiln_calibrator *c, const float *x, const int64_t *dims, int rank) {
    if (!c) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "kiln_calibrator_add: NULL calibrator");
    KILN_TRY(kiln_engine_set_input(c->engine, 0, x, dims, rank));
    KILN_TRY(kiln_engine_run(c->engine));
    /* check every observed tensor first: a rejected batch leaves no trace */
    for (int32_t i = 0; i < c->n_obs; i++) {
        const float *y;
        int64_t d[KILN_MAX_RANK];
        int r;
        KILN_TRY(kiln_engine_get_output(c->engine, c->out_index[i], &y, d, &r));
        int64_t n = kiln_numel(r, d), bad = 0;
        for (int64_t k = 0; k < n; k++)
            bad += !isfinite(y[k]);
        if (bad)
            return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                              "calibration batch %lld: tensor '%s' has %lld NaN/Inf values; the "
                              "batch was not used; check the input data",
                              (long long)c->batches + 1, c->names[i], (long long)bad);
    }
    for (int32_t i = 0; i < c->n_obs; i++) {
        const float *y;
        int64_t d[KILN_MAX_RANK];
        int r;
        KILN_TRY(kiln_engine_get_output(c->engine, c->out_index[i], &y, d, &r));
        KILN_TRY(kiln_calib_hist_add(&c->hist[i], y, (size_t)kiln_numel(r, d)));
    }
    c->batches++;
    c->samples += dims[0];
    return KILN_OK;
}

kiln_engine *kiln_calibrator_engine(kiln_calibrator *c) {
    return c ? c->engine : NULL;
}

int64_t kiln_calibrator_samples(const kiln_calibrator *c) {
    return c ? c->samples : 0;
}

kiln_status kiln_calibrator_write(kiln_calibrator *c, const char *path, char *written, size_t n) {
    if (!c) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "kiln_calibrator_write: NULL");
    if (c->samples == 0)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "no calibration samples were run: no table written");
    const kiln_graph *mg = c->model->graph;
    char key[17], def[4096];
    KILN_TRY(kiln_calib_model_key(mg, key));
    if (!path) {
        KILN_TRY(kiln_calib_default_path(mg, c->opts.cache_dir, def, sizeof def));
        path = def;
    }
    const char **names = calloc((size_t)c->n_obs + 1, sizeof(char *));
    float *thr = calloc((size_t)c->n_obs + 1, sizeof(float));
    if (!names || !thr) {
        free(names);
        free(thr);
        return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    }
    int32_t k = 0;
    kiln_status s = KILN_OK;
    for (int32_t i = 0; i < c->n_obs && s == KILN_OK; i++) {
        float t = 0;
        s = kiln_calib_threshold(&c->hist[i], c->algo, c->opts.percentile, &t);
        if (s != KILN_OK) {
            kiln_error_prefix(s, "tensor '%s'", c->names[i]);
            break;
        }
        if (!(t > 0)) {
            kiln_log(&c->opts.logger, KILN_LOG_INFO,
                     "tensor '%s' was zero on every calibration sample: left out of the table "
                     "(its layers stay FP32)",
                     c->names[i]);
            continue;
        }
        names[k] = c->names[i];
        thr[k++] = t;
    }
    if (s == KILN_OK) {
        kiln_calib_table_info info;
        memset(&info, 0, sizeof info);
        info.key = key;
        info.algo = c->algo;
        info.percentile = c->opts.percentile;
        info.samples = c->samples;
        const kiln_value *in = &mg->values[mg->inputs[0]];
        info.shape_rank = in->rank;
        for (int32_t d = 0; d < in->rank; d++)
            info.shape[d] = d == 0 ? 1 : in->dims[d];
        info.preprocess = c->opts.preprocess;
        s = kiln_calib_table_write(path, &info, names, thr, k);
    }
    free(names);
    free(thr);
    KILN_TRY(s);
    if (written) {
        char *abs = realpath(path, NULL);
        snprintf(written, n, "%s", abs ? abs : path);
        free(abs);
    }
    return KILN_OK;
}

void kiln_calibrator_destroy(kiln_calibrator *c) {
    if (!c) return;
    kiln_engine_destroy(c->engine);
    for (int32_t i = 0; i < c->n_obs; i++) {
        free(c->names[i]);
        if (c->hist) kiln_calib_hist_free(&c->hist[i]);
    }
    free(c->names);
    free(c->out_index);
    free(c->hist);
    free(c);
}

kiln_status kiln_model_calibration_table_path(const kiln_model *m, const char *cache_dir, char *buf,
                                              size_t n) {
    if (!m || !buf) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "NULL argument");
    return kiln_calib_default_path(m->graph, cache_dir, buf, n);
}
