/*
 * test_paddle_capi.c — the Paddle C API layer (kiln_paddle.h) on the real
 * simple_model: same outputs as kiln.h directly, lazy rebuild for a larger
 * batch, and failures that return NULL/FALSE with a message instead of
 * aborting.
 */
#include <stdlib.h>
#include <string.h>

#include "kiln.h"
#include "kiln_paddle.h"
#include "test_util.h"

static PD_Predictor *create(const char *prog, const char *params) {
    PD_Config *c = PD_ConfigCreate();
    PD_ConfigSetModel(c, prog, params);
    PD_ConfigEnableUseGpu(c, 100, 0, PD_PRECISION_FLOAT32);
    PD_ConfigEnableTensorRtEngine(c, 1 << 20, 1, 3, PD_PRECISION_FLOAT32, FALSE, FALSE);
    return PD_PredictorCreate(c);
}

int main(void) {
    char prog[1024], params[1024];
    snprintf(prog, sizeof prog, "%s/paddle/simple_model/model.pdmodel", kt_fixtures());
    snprintf(params, sizeof params, "%s/paddle/simple_model/model.pdiparams", kt_fixtures());
    FILE *f = fopen(prog, "rb");
    if (!f) kt_skip("fixtures/paddle/simple_model absent");
    fclose(f);

    PD_Predictor *p = create(prog, params);
    KT_CHECK(p != NULL, "create: %s", PD_GetLastError());
    if (!p) return kt_finish("test_paddle_capi");
    KT_CHECK(PD_PredictorGetInputNum(p) == 1 && PD_PredictorGetOutputNum(p) == 1, "io counts");

    PD_OneDimArrayCstr *in_names = PD_PredictorGetInputNames(p);
    PD_OneDimArrayCstr *out_names = PD_PredictorGetOutputNames(p);
    KT_CHECK(in_names && in_names->size == 1, "input names");
    PD_Tensor *in = PD_PredictorGetInputHandle(p, in_names->data[0]);
    KT_CHECK(in != NULL, "input handle");
    KT_CHECK(strcmp(PD_TensorGetName(in), in_names->data[0]) == 0, "tensor name");

    /* run before any input: FALSE with a message */
    KT_CHECK(PD_PredictorRun(p) == FALSE, "run without input fails");
    KT_CHECK(strstr(PD_GetLastError(), "PD_TensorCopyFromCpuFloat") != NULL, "says what to do: %s",
             PD_GetLastError());

    int32_t shape[4] = {3, 3, 224, 224}; /* batch 3 > TRT max_batch 1: engine rebuilt */
    size_t n = 3 * 3 * 224 * 224;
    float *x = malloc(n * sizeof(float));
    kt_fill_uniform(x, n, 7, -2.0f, 2.0f);
    PD_TensorReshape(in, 4, shape);
    PD_TensorCopyFromCpuFloat(in, x);
    KT_CHECK(PD_PredictorRun(p) == TRUE, "run: %s", PD_GetLastError());
    PD_Tensor *out = PD_PredictorGetOutputHandle(p, out_names->data[0]);
    PD_OneDimArrayInt32 *os = PD_TensorGetShape(out);
    KT_CHECK(os && os->size == 4 && os->data[0] == 3, "output shape batch 3");
    size_t m = 1;
    for (size_t i = 0; os && i < os->size; i++)
        m *= (size_t)os->data[i];
    float *y = malloc(m * sizeof(float));
    PD_TensorCopyToCpuFloat(out, y);

    /* the same through kiln.h */
    kiln_model *km = NULL;
    kiln_load_options lo = kiln_load_options_default();
    lo.model_file = prog;
    lo.params_file = params;
    KT_OK(kiln_model_load(&lo, &km));
    kiln_build_options bo = kiln_build_options_default();
    bo.max_batch = 3;
    kiln_engine *e = NULL;
    KT_OK(kiln_engine_build(km, &bo, &e));
    int64_t d[4] = {3, 3, 224, 224};
    KT_OK(kiln_engine_set_input(e, 0, x, d, 4));
    KT_OK(kiln_engine_run(e));
    const float *ky;
    int64_t kd[KILN_MAX_RANK];
    int kr;
    KT_OK(kiln_engine_get_output(e, 0, &ky, kd, &kr));
    KT_CHECK(kt_rel_err(y, ky, m) == 0.0, "Paddle API equals kiln.h bit for bit");
    kiln_engine_destroy(e);
    kiln_model_destroy(km);

    /* bad calls return, never abort */
    PD_TensorReshape(in, 4, (int32_t[]){1, 3, -5, 16});
    KT_CHECK(strstr(PD_GetLastError(), "dimension 2") != NULL, "negative dim: %s",
             PD_GetLastError());
    KT_CHECK(PD_PredictorGetInputHandle(p, "nope") == NULL, "unknown input name");
    KT_CHECK(strstr(PD_GetLastError(), "nope") != NULL, "names it");
    PD_TensorCopyToCpuFloat(in, NULL);
    KT_CHECK(PD_PredictorRun(NULL) == FALSE, "NULL predictor");
    KT_CHECK(PD_PredictorCreate(NULL) == NULL, "NULL config");

    PD_OneDimArrayInt32Destroy(os);
    PD_TensorDestroy(out);
    PD_TensorDestroy(in);
    PD_OneDimArrayCstrDestroy(in_names);
    PD_OneDimArrayCstrDestroy(out_names);
    PD_PredictorDestroy(p);

    /* missing files: NULL + message with the path */
    p = create("/nonexistent/model", "/nonexistent/params");
    KT_CHECK(p == NULL, "missing model fails");
    KT_CHECK(strstr(PD_GetLastError(), "/nonexistent/model") != NULL, "names the path: %s",
             PD_GetLastError());
    PD_Config *c = PD_ConfigCreate();
    KT_CHECK(PD_PredictorCreate(c) == NULL, "no model set");
    KT_CHECK(strstr(PD_GetLastError(), "PD_ConfigSetModel") != NULL, "says what to do");

    free(x);
    free(y);
    return kt_finish("test_paddle_capi");
}
