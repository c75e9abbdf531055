/*
 * test_paddle_capi_int8.c — Paddle-TRT's INT8 generate-or-load workflow
 * through the Paddle C API (kiln_paddle.h) on a temp copy of the real
 * simple_model: with INT8 + use_calib_mode and no table, every
 * PD_PredictorRun is a plain FP32 calibration batch (outputs equal a kiln.h
 * FP32 engine's) and destroying the predictor writes the table at
 * kiln_model_calibration_table_path; the same config then loads it and runs
 * INT8 (close to FP32, not identical). A predictor never run writes nothing;
 * PD_ConfigSetOptimCacheDir moves the table.
 *
 * Non-goals: threshold values (test_calib), the demos (test_paddle_int8.sh).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kiln.h"
#include "kiln_paddle.h"
#include "test_util.h"

#define PER ((size_t)3 * 224 * 224)
#define OUT_PER ((size_t)32 * 112 * 112)
#define N_RUN 3

static char tmp[256];

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static int copy_file(const char *src, const char *dst) {
    FILE *in = fopen(src, "rb"), *out = in ? fopen(dst, "wb") : NULL;
    int rc = in && out ? 0 : -1;
    char buf[1 << 14];
    size_t n;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) rc = -1;
    if (in) fclose(in);
    if (out && fclose(out)) rc = -1;
    return rc;
}

/* tmp/<name>/model.pdmodel + model.pdiparams; prog/params receive the paths. */
static void copy_model(const char *name, char *prog, char *params, size_t n) {
    char dir[512], src[1024];
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    mkdir(dir, 0755);
    snprintf(prog, n, "%s/model.pdmodel", dir);
    snprintf(params, n, "%s/model.pdiparams", dir);
    snprintf(src, sizeof src, "%s/paddle/simple_model/model.pdmodel", kt_fixtures());
    KT_CHECK(copy_file(src, prog) == 0, "copy %s", src);
    snprintf(src, sizeof src, "%s/paddle/simple_model/model.pdiparams", kt_fixtures());
    KT_CHECK(copy_file(src, params) == 0, "copy %s", src);
}

static PD_Predictor *create_int8(const char *prog, const char *params, const char *cache) {
    PD_Config *c = PD_ConfigCreate();
    PD_ConfigSetModel(c, prog, params);
    PD_ConfigEnableUseGpu(c, 100, 0, PD_PRECISION_FLOAT32);
    PD_ConfigEnableTensorRtEngine(c, 1 << 20, 1, 3, PD_PRECISION_INT8, FALSE, TRUE);
    if (cache) PD_ConfigSetOptimCacheDir(c, cache);
    return PD_PredictorCreate(c);
}

/* One batch of 1 through the predictor; output 0 copied into y[OUT_PER]. */
static int run(PD_Predictor *p, const float *x, float *y) {
    PD_OneDimArrayCstr *in_names = PD_PredictorGetInputNames(p);
    PD_OneDimArrayCstr *out_names = PD_PredictorGetOutputNames(p);
    PD_Tensor *in = PD_PredictorGetInputHandle(p, in_names->data[0]);
    PD_Tensor *out = PD_PredictorGetOutputHandle(p, out_names->data[0]);
    int32_t shape[4] = {1, 3, 224, 224};
    PD_TensorReshape(in, 4, shape);
    PD_TensorCopyFromCpuFloat(in, x);
    int ok = PD_PredictorRun(p) == TRUE;
    KT_CHECK(ok, "PD_PredictorRun: %s", PD_GetLastError());
    if (ok) {
        PD_OneDimArrayInt32 *os = PD_TensorGetShape(out);
        size_t m = 1;
        for (size_t i = 0; os && i < os->size; i++)
            m *= (size_t)os->data[i];
        KT_CHECK(os && os->size == 4 && m == OUT_PER, "output shape: %zu elements", m);
        if (m == OUT_PER)
            PD_TensorCopyToCpuFloat(out, y);
        else
            ok = 0;
        PD_OneDimArrayInt32Destroy(os);
    }
    PD_TensorDestroy(in);
    PD_TensorDestroy(out);
    PD_OneDimArrayCstrDestroy(in_names);
    PD_OneDimArrayCstrDestroy(out_names);
    return ok;
}

/* The table path kiln.h computes for this model (cache may be NULL). */
static void table_path(const char *prog, const char *params, const char *cache, char *buf,
                       size_t n) {
    kiln_load_options lo = kiln_load_options_default();
    lo.model_file = prog;
    lo.params_file = params;
    kiln_model *m = NULL;
    buf[0] = 0;
    KT_OK(kiln_model_load(&lo, &m));
    if (m) KT_OK(kiln_model_calibration_table_path(m, cache, buf, n));
    kiln_model_destroy(m);
}

static double cosine(const float *a, const float *b, size_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
}

int main(void) {
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/paddle/simple_model/model.pdmodel", kt_fixtures());
    if (!exists(probe)) kt_skip("fixtures/paddle/simple_model absent");
    snprintf(tmp, sizeof tmp, "/tmp/kiln_test_paddle_int8_XXXXXX");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    float *x[N_RUN], *y = malloc(OUT_PER * sizeof(float));
    float *ref[N_RUN];
    for (int i = 0; i < N_RUN; i++) {
        x[i] = malloc(PER * sizeof(float));
        ref[i] = malloc(OUT_PER * sizeof(float));
        kt_fill_uniform(x[i], PER, 77 + (uint64_t)i, -2.0f, 2.0f);
    }
    char prog[1024], params[1024], table[4096];
    copy_model("m", prog, params, sizeof prog);
    table_path(prog, params, NULL, table, sizeof table);

    /* FP32 reference through kiln.h (default backend, as the predictor) */
    kiln_load_options lo = kiln_load_options_default();
    lo.model_file = prog;
    lo.params_file = params;
    kiln_model *km = NULL;
    kiln_engine *ke = NULL;
    KT_OK(kiln_model_load(&lo, &km));
    kiln_build_options bo = kiln_build_options_default();
    if (km) KT_OK(kiln_engine_build(km, &bo, &ke));
    for (int i = 0; ke && i < N_RUN; i++) {
        int64_t d[4] = {1, 3, 224, 224};
        const float *ky;
        int64_t kd[KILN_MAX_RANK];
        int kr;
        KT_OK(kiln_engine_set_input(ke, 0, x[i], d, 4));
        KT_OK(kiln_engine_run(ke));
        KT_OK(kiln_engine_get_output(ke, 0, &ky, kd, &kr));
        memcpy(ref[i], ky, OUT_PER * sizeof(float));
    }
    kiln_engine_destroy(ke);
    kiln_model_destroy(km);

    /* 1. calibration mode: plain FP32 runs, the table appears on destroy */
    KT_CHECK(table[0] && !exists(table), "no table yet at %s", table);
    PD_Predictor *p = create_int8(prog, params, NULL);
    KT_CHECK(p != NULL, "create (calibration): %s", PD_GetLastError());
    for (int i = 0; p && i < N_RUN; i++) {
        if (!run(p, x[i], y)) break;
        KT_CHECK(kt_rel_err(y, ref[i], OUT_PER) == 0.0,
                 "calibration run %d equals the FP32 engine (rel err %g)", i,
                 kt_rel_err(y, ref[i], OUT_PER));
    }
    KT_CHECK(!exists(table), "the table is written on destroy, not before");
    PD_PredictorDestroy(p);
    KT_CHECK(exists(table), "table written at %s", table);
    FILE *tf = fopen(table, "r");
    char head[512] = "";
    if (tf) {
        if (!fgets(head, sizeof head, tf)) head[0] = 0;
        fclose(tf);
    }
    KT_CHECK(strstr(head, " samples=3 ") != NULL, "header records 3 samples: %s", head);
    KT_CHECK(strstr(head, " algo=entropy ") != NULL, "entropy by default: %s", head);

    /* 2. same config again: loads the table, runs INT8 */
    p = create_int8(prog, params, NULL);
    KT_CHECK(p != NULL, "create (INT8): %s", PD_GetLastError());
    for (int i = 0; p && i < N_RUN; i++) {
        if (!run(p, x[i], y)) break;
        int finite = 1;
        for (size_t k = 0; k < OUT_PER; k++)
            finite &= isfinite(y[k]) != 0;
        double c = cosine(y, ref[i], OUT_PER);
        KT_CHECK(finite, "INT8 run %d: finite outputs", i);
        KT_CHECK(kt_rel_err(y, ref[i], OUT_PER) > 0.0, "INT8 run %d differs from FP32", i);
        KT_CHECK(c > 0.99, "INT8 run %d: cosine to FP32 %.6f > 0.99", i, c);
    }
    PD_PredictorDestroy(p);

    /* 3. never run: nothing written, no crash */
    char prog2[1024], params2[1024], table2[4096];
    copy_model("idle", prog2, params2, sizeof prog2);
    table_path(prog2, params2, NULL, table2, sizeof table2);
    p = create_int8(prog2, params2, NULL);
    KT_CHECK(p != NULL, "create (idle): %s", PD_GetLastError());
    PD_PredictorDestroy(p);
    KT_CHECK(table2[0] && !exists(table2), "idle predictor wrote no table (%s)", table2);
    char idle_cache[1200];
    snprintf(idle_cache, sizeof idle_cache, "%s/idle/_opt_cache", tmp);
    KT_CHECK(!exists(idle_cache), "nor its directory %s", idle_cache);

    /* 4. PD_ConfigSetOptimCacheDir: the table goes under that directory */
    char cache[1024], table3[4096];
    snprintf(cache, sizeof cache, "%s/optim_cache", tmp);
    table_path(prog2, params2, cache, table3, sizeof table3);
    KT_CHECK(strncmp(table3, cache, strlen(cache)) == 0, "%s under %s", table3, cache);
    p = create_int8(prog2, params2, cache);
    KT_CHECK(p != NULL, "create (cache dir): %s", PD_GetLastError());
    if (p) run(p, x[0], y);
    PD_PredictorDestroy(p);
    KT_CHECK(exists(table3), "table in the optim cache dir: %s", table3);
    KT_CHECK(!exists(table2), "not beside the model: %s", table2);
    /* and a predictor with that cache dir loads it (INT8: differs from FP32) */
    p = create_int8(prog2, params2, cache);
    if (p && run(p, x[0], y))
        KT_CHECK(kt_rel_err(y, ref[0], OUT_PER) > 0.0 && cosine(y, ref[0], OUT_PER) > 0.99,
                 "INT8 from the cache-dir table");
    PD_PredictorDestroy(p);
    KT_CHECK(!exists(table2), "loading wrote nothing beside the model");

    for (int i = 0; i < N_RUN; i++) {
        free(x[i]);
        free(ref[i]);
    }
    free(y);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (kt_failures == 0 && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return kt_finish("test_paddle_capi_int8");
}
