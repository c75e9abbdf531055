/*
 * test_api.c — the kiln.h C API on the real Paddle simple_model (conv + bn +
 * relu): load, build, run, outputs vs an independent scalar computation from
 * the same parameters, intermediate outputs, and every documented error path.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "kiln.h"
#include "test_util.h"

typedef struct {
    int count;
    char last[512];
} log_capture;

static void capture(void *user, kiln_log_level level, const char *msg) {
    log_capture *c = user;
    (void)level;
    c->count++;
    snprintf(c->last, sizeof c->last, "%s", msg);
}

static const kiln_value *param(const kiln_model *m, const char *suffix) {
    for (int32_t i = 0; i < m->graph->n_values; i++) {
        const kiln_value *v = &m->graph->values[i];
        size_t l = strlen(v->name), s = strlen(suffix);
        if (v->data && l >= s && strcmp(v->name + l - s, suffix) == 0) return v;
    }
    return NULL;
}

int main(void) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/paddle/simple_model", kt_fixtures());
    kiln_model *m = NULL;
    kiln_status s = kiln_model_load_path(dir, NULL, &m);
    if (s == KILN_ERR_IO || s == KILN_ERR_NOT_FOUND) kt_skip("fixtures/paddle/simple_model absent");
    KT_OK(s);
    if (!m) return kt_finish("test_api");

    KT_CHECK(kiln_model_get_format(m) == KILN_FORMAT_PADDLE, "format");
    KT_CHECK(kiln_model_num_inputs(m) == 1, "one input");
    KT_CHECK(kiln_model_num_outputs(m) == 1, "one output");
    int64_t dims[KILN_MAX_RANK];
    int rank;
    KT_OK(kiln_model_input_shape(m, 0, dims, &rank));
    KT_CHECK(rank == 4 && dims[1] == 3, "input is [N,3,H,W], rank %d", rank);
    if (dims[2] < 0) dims[2] = 16;
    if (dims[3] < 0) dims[3] = 16;

    /* build for batch 2, run batch 2 then batch 1 */
    kiln_build_options bo = kiln_build_options_default();
    bo.backend = KILN_BACKEND_REF;
    bo.max_batch = 2;
    kiln_engine *e = NULL;
    KT_OK(kiln_engine_build(m, &bo, &e));
    if (!e) return kt_finish("test_api");
    KT_CHECK(strcmp(kiln_engine_backend(e), "ref") == 0, "backend name");

    const float *y;
    int64_t od[KILN_MAX_RANK];
    int orank;
    KT_CHECK(kiln_engine_get_output(e, 0, &y, od, &orank) == KILN_ERR_INVALID_ARGUMENT,
             "get_output before run must fail");

    int64_t in_dims[4] = {2, dims[1], dims[2], dims[3]};
    size_t n = (size_t)(2 * dims[1] * dims[2] * dims[3]);
    float *x = malloc(n * sizeof(float));
    kt_fill_uniform(x, n, 42, -1.0f, 1.0f);
    KT_OK(kiln_engine_set_input(e, 0, x, in_dims, 4));
    KT_OK(kiln_engine_run(e));
    KT_OK(kiln_engine_get_output(e, 0, &y, od, &orank));
    KT_CHECK(orank == 4 && od[0] == 2, "output batch 2");
    size_t per = (size_t)(od[1] * od[2] * od[3]);
    float *y2 = malloc(2 * per * sizeof(float));
    memcpy(y2, y, 2 * per * sizeof(float));

    /* the model ends in relu: outputs are non-negative and not all zero (the exact
       numbers are checked against ONNX Runtime in test_ort_compare) */
    int positive = 0, negative = 0;
    for (size_t i = 0; i < 2 * per; i++) {
        if (y2[i] > 0) positive++;
        if (y2[i] < 0) negative++;
    }
    KT_CHECK(negative == 0 && positive > 0, "relu output: %d negative, %d positive", negative,
             positive);
    const kiln_value *w = param(m, "weights");
    KT_CHECK(w != NULL && w->rank == 4, "conv weights found");

    /* batch 1 gives the first half of the batch-2 result */
    in_dims[0] = 1;
    KT_OK(kiln_engine_set_input(e, 0, x, in_dims, 4));
    KT_OK(kiln_engine_run(e));
    KT_OK(kiln_engine_get_output(e, 0, &y, od, &orank));
    KT_CHECK(od[0] == 1, "output batch 1");
    KT_CHECK(kt_rel_err(y, y2, per) == 0.0, "batch 1 equals first image of batch 2");

    /* errors */
    in_dims[0] = 3;
    s = kiln_engine_set_input(e, 0, x, in_dims, 4);
    KT_CHECK(s == KILN_ERR_SHAPE && strstr(kiln_last_error(), "max_batch"), "batch too large: %s",
             kiln_last_error());
    in_dims[0] = 1;
    in_dims[2] += 1;
    s = kiln_engine_set_input(e, 0, x, in_dims, 4);
    KT_CHECK(s == KILN_ERR_SHAPE && strstr(kiln_last_error(), "expects"), "wrong H: %s",
             kiln_last_error());
    KT_CHECK(kiln_engine_set_input(e, 1, x, in_dims, 4) == KILN_ERR_INVALID_ARGUMENT,
             "input index out of range");
    KT_CHECK(kiln_engine_set_input(e, 0, NULL, in_dims, 4) == KILN_ERR_INVALID_ARGUMENT,
             "NULL data");
    in_dims[2] -= 1;
    kiln_engine_destroy(e);

    bo.max_batch = 0;
    KT_CHECK(kiln_engine_build(m, &bo, &e) == KILN_ERR_INVALID_ARGUMENT, "max_batch 0");
    bo.max_batch = 1;
    bo.threads = -1;
    KT_CHECK(kiln_engine_build(m, &bo, &e) == KILN_ERR_INVALID_ARGUMENT, "threads -1");
    bo.threads = 0;
    bo.precision = KILN_PRECISION_INT8;
    bo.calibration_table = "/nonexistent/trt_calib_x";
    s = kiln_engine_build(m, &bo, &e);
    KT_CHECK(s == KILN_ERR_NOT_FOUND && strstr(kiln_last_error(), "kiln calibrate"),
             "INT8 without a table says how to make one: %s", kiln_last_error());
    bo.calibration_table = NULL;
    bo.precision = KILN_PRECISION_FP32;

    /* intermediate outputs by name */
    KT_CHECK(kiln_model_add_output(m, "no_such_tensor") == KILN_ERR_NOT_FOUND,
             "unknown output name");
    KT_CHECK(strstr(kiln_last_error(), "no_such_tensor") != NULL, "message names it");
    const kiln_graph *g = m->graph;
    const char *mid = NULL;
    for (int32_t i = 0; i < g->n_nodes && !mid; i++) {
        int32_t o = g->nodes[i].outputs[0];
        if (!(g->values[o].flags & KILN_VALUE_OUTPUT)) mid = g->values[o].name;
    }
    KT_CHECK(mid != NULL, "an intermediate tensor exists");
    if (mid) {
        KT_OK(kiln_model_add_output(m, mid));
        KT_CHECK(kiln_model_num_outputs(m) == 2, "two outputs");
        KT_OK(kiln_engine_build(m, &bo, &e));
        in_dims[0] = 1;
        KT_OK(kiln_engine_set_input(e, 0, x, in_dims, 4));
        KT_OK(kiln_engine_run(e));
        KT_OK(kiln_engine_get_output(e, 1, &y, od, &orank));
        kiln_engine_destroy(e);
    }

    /* load errors name the path; the log callback receives lines */
    log_capture cap = {0, ""};
    kiln_logger lg = {capture, &cap, KILN_LOG_DEBUG};
    kiln_model *bad = NULL;
    s = kiln_model_load_path("/nonexistent/model_dir", &lg, &bad);
    KT_CHECK(s != KILN_OK && bad == NULL, "missing path fails");
    KT_CHECK(strstr(kiln_last_error(), "/nonexistent/model_dir") != NULL, "names the path: %s",
             kiln_last_error());
    kiln_model *m2 = NULL;
    KT_OK(kiln_model_load_path(dir, &lg, &m2));
    KT_CHECK(cap.count > 0, "info log line delivered to the callback");
    kiln_model_destroy(m2);

    KT_CHECK(strcmp(kiln_status_string(KILN_ERR_FORMAT), "KILN_ERR_FORMAT") == 0, "status name");
    KT_CHECK(strcmp(kiln_status_string((kiln_status)999), "KILN_ERR_UNKNOWN") == 0,
             "bad status name");
    KT_CHECK(strcmp(kiln_version(), KILN_VERSION_STRING) == 0, "version");
    kiln_backend_kind k;
    KT_CHECK(kiln_backend_from_name("gpu0", &k) == KILN_ERR_INVALID_ARGUMENT, "bad backend");

    free(x);
    free(y2);
    kiln_model_destroy(m);
    return kt_finish("test_api");
}
