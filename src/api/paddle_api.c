/*
 * paddle_api.c — the Paddle Inference C API subset (kiln_paddle.h) as a thin
 * layer over kiln.h: config strings and flags in, a kiln_model + lazily built
 * kiln_engine inside, float copies in and out.
 *
 * Non-goals: logic of its own beyond argument checks and staging buffers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/log.h"
#include "core/status.h"
#include "kiln_paddle.h"

struct PD_Config {
    char *prog_file, *params_file, *model_dir, *optim_cache_dir;
    PD_Bool use_gpu, trt_enabled, use_static, use_calib_mode;
    PD_PrecisionType precision;
    int32_t max_batch;
    int32_t threads;
};

typedef struct staged_input {
    int64_t dims[KILN_MAX_RANK];
    int rank;    /* 0 = not reshaped yet */
    float *data; /* staging copy */
    size_t cap;  /* floats */
    int filled;
} staged_input;

/* INT8 with use_calib_mode (Paddle-TRT's rule): a table beside the model ->
 * INT8 from it; none -> every run is an FP32 calibration batch and the table
 * is written when the predictor is destroyed. */
typedef enum { MODE_PLAIN = 0, MODE_INT8_TABLE, MODE_CALIBRATE } predictor_mode;

struct PD_Predictor {
    kiln_model *model;
    kiln_engine *engine;  /* MODE_PLAIN / MODE_INT8_TABLE */
    kiln_calibrator *cal; /* MODE_CALIBRATE (created on the first run) */
    predictor_mode mode;
    int cal_failed; /* a calibration run failed: no table is written */
    char table_path[4096];
    char *cache_dir;
    kiln_build_options build;
    kiln_logger logger;
    staged_input *inputs;
    int n_inputs;
};

struct PD_Tensor {
    PD_Predictor *p;
    int index;
    int is_input;
};

const char *PD_GetLastError(void) {
    return kiln_last_error();
}

/* Records a failure of a void/bool API call: message + warning log line. */
static void api_fail(const kiln_logger *lg, const char *fn) {
    kiln_log(lg, KILN_LOG_WARNING, "%s failed: %s", fn, kiln_last_error());
}

static char *dup_or_null(const char *s) {
    return (s && *s) ? strdup(s) : NULL;
}

static void set_str(char **dst, const char *s) {
    free(*dst);
    *dst = dup_or_null(s);
}

PD_Config *PD_ConfigCreate(void) {
    PD_Config *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->max_batch = 1;
    c->precision = PD_PRECISION_FLOAT32;
    return c;
}

void PD_ConfigDestroy(PD_Config *c) {
    if (!c) return;
    free(c->prog_file);
    free(c->params_file);
    free(c->model_dir);
    free(c->optim_cache_dir);
    free(c);
}

void PD_ConfigSetModel(PD_Config *c, const char *prog, const char *params) {
    if (!c) return;
    set_str(&c->prog_file, prog);
    set_str(&c->params_file, params);
}
void PD_ConfigSetModelDir(PD_Config *c, const char *dir) {
    if (c) set_str(&c->model_dir, dir);
}
void PD_ConfigSetProgFile(PD_Config *c, const char *f) {
    if (c) set_str(&c->prog_file, f);
}
void PD_ConfigSetParamsFile(PD_Config *c, const char *f) {
    if (c) set_str(&c->params_file, f);
}
const char *PD_ConfigGetModelDir(PD_Config *c) {
    return c && c->model_dir ? c->model_dir : "";
}
const char *PD_ConfigGetProgFile(PD_Config *c) {
    return c && c->prog_file ? c->prog_file : "";
}
const char *PD_ConfigGetParamsFile(PD_Config *c) {
    return c && c->params_file ? c->params_file : "";
}
void PD_ConfigSetOptimCacheDir(PD_Config *c, const char *dir) {
    if (c) set_str(&c->optim_cache_dir, dir);
}
void PD_ConfigEnableUseGpu(PD_Config *c, uint64_t mb, int32_t device, PD_PrecisionType prec) {
    (void)mb;
    (void)device;
    (void)prec;
    if (c) c->use_gpu = TRUE;
}
void PD_ConfigDisableGpu(PD_Config *c) {
    if (c) c->use_gpu = FALSE;
}
PD_Bool PD_ConfigUseGpu(PD_Config *c) {
    return c ? c->use_gpu : FALSE;
}

void PD_ConfigEnableTensorRtEngine(PD_Config *c, int64_t workspace, int32_t max_batch,
                                   int32_t min_subgraph, PD_PrecisionType precision,
                                   PD_Bool use_static, PD_Bool use_calib_mode) {
    (void)workspace;
    (void)min_subgraph;
    if (!c) return;
    c->trt_enabled = TRUE;
    c->max_batch = max_batch > 0 ? max_batch : 1;
    c->precision = precision;
    c->use_static = use_static;
    c->use_calib_mode = use_calib_mode;
}
PD_Bool PD_ConfigTensorRtEngineEnabled(PD_Config *c) {
    return c ? c->trt_enabled : FALSE;
}
void PD_ConfigSetCpuMathLibraryNumThreads(PD_Config *c, int32_t threads) {
    if (c) c->threads = threads;
}
void PD_ConfigSwitchIrOptim(PD_Config *c, PD_Bool x) {
    (void)c;
    (void)x;
}
void PD_ConfigEnableMemoryOptim(PD_Config *c, PD_Bool x) {
    (void)c;
    (void)x;
}
void PD_ConfigDisableGlogInfo(PD_Config *c) {
    (void)c;
}

static kiln_status choose_mode(PD_Predictor *p, const PD_Config *c) {
    if (!c->trt_enabled || c->precision != PD_PRECISION_INT8) return KILN_OK;
    if (!c->use_calib_mode) {
        /* Scales must come from the model itself (quantization-aware training). */
        kiln_log(&p->logger, KILN_LOG_WARNING,
                 "INT8 without calibration (use_calib_mode=false) needs a quantized model; this "
                 "Kiln reads model scales in a later version: running FP32");
        p->build.precision = KILN_PRECISION_FP32;
        return KILN_OK;
    }
    KILN_TRY(kiln_model_calibration_table_path(p->model, p->cache_dir, p->table_path,
                                               sizeof p->table_path));
    char *abs = realpath(p->table_path, NULL);
    if (abs) {
        snprintf(p->table_path, sizeof p->table_path, "%s", abs);
        free(abs);
        p->mode = MODE_INT8_TABLE;
        p->build.calibration_table = p->table_path;
        kiln_log(&p->logger, KILN_LOG_WARNING, "INT8: loading calibration table %s; running INT8",
                 p->table_path);
    } else {
        p->mode = MODE_CALIBRATE;
        p->build.precision = KILN_PRECISION_FP32;
        kiln_log(&p->logger, KILN_LOG_WARNING,
                 "INT8: no calibration table at %s: this process calibrates (every run is an FP32 "
                 "calibration batch); the table is written when the predictor is destroyed",
                 p->table_path);
    }
    return KILN_OK;
}

static kiln_status predictor_init(PD_Predictor *p, const PD_Config *c) {
    p->logger = kiln_logger_default();
    if (c->precision < PD_PRECISION_FLOAT32 || c->precision > PD_PRECISION_HALF)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "unknown PD_PrecisionType %d",
                          (int)c->precision);
    if (c->threads < 0)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "PD_ConfigSetCpuMathLibraryNumThreads: %d threads; use >= 1 (or 0 for "
                          "all cores)",
                          (int)c->threads);
    kiln_load_options lo = kiln_load_options_default();
    lo.logger = p->logger;
    if (c->model_dir && !c->prog_file) {
        lo.model_dir = c->model_dir;
    } else if (c->prog_file) {
        lo.model_file = c->prog_file;
        lo.params_file = c->params_file;
    } else {
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "no model: call PD_ConfigSetModel(config, prog_file, params_file) or "
                          "PD_ConfigSetModelDir first");
    }
    KILN_TRY(kiln_model_load(&lo, &p->model));
    p->build = kiln_build_options_default();
    p->build.logger = p->logger;
    p->build.precision = (kiln_precision)c->precision;
    p->build.max_batch = c->max_batch;
    p->build.threads = c->threads;
    if (c->use_gpu) {
        if (kiln_backend_get(KILN_BACKEND_CUDA)) {
            p->build.backend = KILN_BACKEND_CUDA;
        } else {
            kiln_log(&p->logger, KILN_LOG_INFO,
                     "GPU requested but this Kiln has no CUDA backend: using the best CPU one");
        }
    }
    p->n_inputs = kiln_model_num_inputs(p->model);
    p->inputs = calloc((size_t)p->n_inputs + 1, sizeof *p->inputs);
    if (!p->inputs) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    if (c->optim_cache_dir && !(p->cache_dir = strdup(c->optim_cache_dir)))
        return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    p->build.cache_dir = p->cache_dir;
    return choose_mode(p, c);
}

PD_Predictor *PD_PredictorCreate(PD_Config *c) {
    if (!c) {
        kiln_error(KILN_ERR_INVALID_ARGUMENT, "PD_PredictorCreate: config is NULL");
        api_fail(NULL, "PD_PredictorCreate");
        return NULL;
    }
    PD_Predictor *p = calloc(1, sizeof *p);
    kiln_status s = p ? predictor_init(p, c) : kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    PD_ConfigDestroy(c);
    if (s != KILN_OK) {
        api_fail(p ? &p->logger : NULL, "PD_PredictorCreate");
        PD_PredictorDestroy(p);
        return NULL;
    }
    return p;
}

void PD_PredictorDestroy(PD_Predictor *p) {
    if (!p) return;
    if (p->mode == MODE_CALIBRATE && p->cal_failed) {
        kiln_log(&p->logger, KILN_LOG_ERROR,
                 "INT8 calibration table NOT written: a calibration run failed (see the error "
                 "it returned); fix the input and calibrate again");
    } else if (p->mode == MODE_CALIBRATE && p->cal) {
        char written[4096];
        if (kiln_calibrator_write(p->cal, p->table_path, written, sizeof written) == KILN_OK)
            kiln_log(&p->logger, KILN_LOG_WARNING,
                     "INT8 calibration table written: %s (%lld samples); the next run with "
                     "use_calib_mode=true loads it and runs INT8",
                     written, (long long)kiln_calibrator_samples(p->cal));
        else
            kiln_log(&p->logger, KILN_LOG_ERROR, "INT8 calibration table NOT written: %s",
                     kiln_last_error());
    } else if (p->mode == MODE_CALIBRATE) {
        kiln_log(&p->logger, KILN_LOG_ERROR,
                 "INT8 calibration table NOT written: PD_PredictorRun was never called");
    }
    kiln_calibrator_destroy(p->cal);
    free(p->cache_dir);
    kiln_engine_destroy(p->engine);
    kiln_model_destroy(p->model);
    for (int i = 0; i < p->n_inputs && p->inputs; i++)
        free(p->inputs[i].data);
    free(p->inputs);
    free(p);
}

static PD_OneDimArrayCstr *names(PD_Predictor *p, int inputs) {
    if (!p) return NULL;
    int n = inputs ? kiln_model_num_inputs(p->model) : kiln_model_num_outputs(p->model);
    PD_OneDimArrayCstr *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->data = calloc((size_t)n + 1, sizeof(char *));
    if (!a->data) {
        free(a);
        return NULL;
    }
    a->size = (size_t)n;
    for (int i = 0; i < n; i++) {
        const char *s =
            inputs ? kiln_model_input_name(p->model, i) : kiln_model_output_name(p->model, i);
        a->data[i] = strdup(s);
        if (!a->data[i]) {
            PD_OneDimArrayCstrDestroy(a);
            return NULL;
        }
    }
    return a;
}

PD_OneDimArrayCstr *PD_PredictorGetInputNames(PD_Predictor *p) {
    return names(p, 1);
}
PD_OneDimArrayCstr *PD_PredictorGetOutputNames(PD_Predictor *p) {
    return names(p, 0);
}
size_t PD_PredictorGetInputNum(PD_Predictor *p) {
    return p ? (size_t)kiln_model_num_inputs(p->model) : 0;
}
size_t PD_PredictorGetOutputNum(PD_Predictor *p) {
    return p ? (size_t)kiln_model_num_outputs(p->model) : 0;
}

static PD_Tensor *handle(PD_Predictor *p, const char *name, int is_input) {
    if (!p || !name) return NULL;
    int n = is_input ? kiln_model_num_inputs(p->model) : kiln_model_num_outputs(p->model);
    for (int i = 0; i < n; i++) {
        const char *s =
            is_input ? kiln_model_input_name(p->model, i) : kiln_model_output_name(p->model, i);
        if (strcmp(s, name) == 0) {
            PD_Tensor *t = calloc(1, sizeof *t);
            if (!t) return NULL;
            t->p = p;
            t->index = i;
            t->is_input = is_input;
            return t;
        }
    }
    kiln_error(KILN_ERR_NOT_FOUND, "the model has no %s named '%s'", is_input ? "input" : "output",
               name);
    api_fail(&p->logger, is_input ? "PD_PredictorGetInputHandle" : "PD_PredictorGetOutputHandle");
    return NULL;
}

PD_Tensor *PD_PredictorGetInputHandle(PD_Predictor *p, const char *name) {
    return handle(p, name, 1);
}
PD_Tensor *PD_PredictorGetOutputHandle(PD_Predictor *p, const char *name) {
    return handle(p, name, 0);
}

/* The engine whose outputs the handles read. */
static kiln_engine *current_engine(PD_Predictor *p) {
    return p->mode == MODE_CALIBRATE ? kiln_calibrator_engine(p->cal) : p->engine;
}

static kiln_status ensure_calibrator(PD_Predictor *p, int64_t batch) {
    if (p->cal) {
        if (batch > p->build.max_batch)
            return kiln_error(KILN_ERR_SHAPE,
                              "the runtime batch size (%lld) is greater than the max batch size "
                              "(%lld) of this calibration; set max_batch_size in "
                              "PD_ConfigEnableTensorRtEngine",
                              (long long)batch, (long long)p->build.max_batch);
        return KILN_OK;
    }
    kiln_calibrate_options co = kiln_calibrate_options_default();
    if (batch > p->build.max_batch) p->build.max_batch = batch;
    co.max_batch = p->build.max_batch;
    co.backend = p->build.backend;
    co.threads = p->build.threads;
    co.logger = p->logger;
    co.cache_dir = p->cache_dir;
    co.preprocess = "application-defined"; /* the caller prepared the inputs */
    return kiln_calibrator_create(p->model, &co, &p->cal);
}

/* (Re)builds the engine when none exists or the batch outgrew it. */
static kiln_status ensure_engine(PD_Predictor *p, int64_t batch) {
    if (p->engine && batch <= p->build.max_batch) return KILN_OK;
    if (batch > p->build.max_batch) {
        if (p->engine)
            kiln_log(&p->logger, KILN_LOG_INFO, "batch %lld exceeds the engine's %lld: rebuilding",
                     (long long)batch, (long long)p->build.max_batch);
        p->build.max_batch = batch;
    }
    kiln_engine_destroy(p->engine);
    p->engine = NULL;
    return kiln_engine_build(p->model, &p->build, &p->engine);
}

static kiln_status run(PD_Predictor *p) {
    if (p->n_inputs == 0) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "the model has no inputs");
    for (int i = 0; i < p->n_inputs; i++)
        if (!p->inputs[i].filled)
            return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                              "input '%s' has no data: call PD_TensorReshape and "
                              "PD_TensorCopyFromCpuFloat before PD_PredictorRun",
                              kiln_model_input_name(p->model, i));
    if (p->mode == MODE_CALIBRATE) {
        KILN_TRY(ensure_calibrator(p, p->inputs[0].dims[0]));
        return kiln_calibrator_add(p->cal, p->inputs[0].data, p->inputs[0].dims, p->inputs[0].rank);
    }
    KILN_TRY(ensure_engine(p, p->inputs[0].dims[0]));
    for (int i = 0; i < p->n_inputs; i++)
        KILN_TRY(kiln_engine_set_input(p->engine, i, p->inputs[i].data, p->inputs[i].dims,
                                       p->inputs[i].rank));
    return kiln_engine_run(p->engine);
}

PD_Bool PD_PredictorRun(PD_Predictor *p) {
    if (!p) {
        kiln_error(KILN_ERR_INVALID_ARGUMENT, "PD_PredictorRun: predictor is NULL");
        api_fail(NULL, "PD_PredictorRun");
        return FALSE;
    }
    if (run(p) != KILN_OK) {
        if (p->mode == MODE_CALIBRATE) p->cal_failed = 1;
        api_fail(&p->logger, "PD_PredictorRun");
        return FALSE;
    }
    return TRUE;
}

void PD_TensorDestroy(PD_Tensor *t) {
    free(t);
}

void PD_TensorReshape(PD_Tensor *t, size_t n, int32_t *shape) {
    if (!t) return;
    kiln_status s = KILN_OK;
    if (!t->is_input)
        s = kiln_error(KILN_ERR_INVALID_ARGUMENT, "PD_TensorReshape: '%s' is an output",
                       kiln_model_output_name(t->p->model, t->index));
    else if (!shape || n == 0 || n > KILN_MAX_RANK)
        s = kiln_error(KILN_ERR_INVALID_ARGUMENT, "PD_TensorReshape: rank %zu (want 1..%d)", n,
                       KILN_MAX_RANK);
    for (size_t i = 0; s == KILN_OK && i < n; i++)
        if (shape[i] <= 0)
            s = kiln_error(KILN_ERR_SHAPE, "PD_TensorReshape: dimension %zu is %d; must be > 0", i,
                           (int)shape[i]);
    if (s != KILN_OK) {
        api_fail(&t->p->logger, "PD_TensorReshape");
        return;
    }
    staged_input *in = &t->p->inputs[t->index];
    in->rank = (int)n;
    for (size_t i = 0; i < n; i++)
        in->dims[i] = shape[i];
    in->filled = 0;
}

void PD_TensorCopyFromCpuFloat(PD_Tensor *t, const float *data) {
    if (!t) return;
    kiln_status s = KILN_OK;
    staged_input *in = t->is_input ? &t->p->inputs[t->index] : NULL;
    if (!in)
        s = kiln_error(KILN_ERR_INVALID_ARGUMENT, "PD_TensorCopyFromCpuFloat: tensor is an output");
    else if (!data)
        s = kiln_error(KILN_ERR_INVALID_ARGUMENT, "PD_TensorCopyFromCpuFloat: data is NULL");
    else if (!in->rank)
        s = kiln_error(KILN_ERR_INVALID_ARGUMENT,
                       "PD_TensorCopyFromCpuFloat: call PD_TensorReshape first");
    if (s == KILN_OK) {
        size_t n = 1;
        for (int i = 0; i < in->rank; i++)
            n *= (size_t)in->dims[i];
        if (n > in->cap) {
            float *q = realloc(in->data, n * sizeof(float));
            if (!q)
                s = kiln_error(KILN_ERR_NO_MEMORY, "out of memory staging an input");
            else {
                in->data = q;
                in->cap = n;
            }
        }
        if (s == KILN_OK) {
            memcpy(in->data, data, n * sizeof(float));
            in->filled = 1;
        }
    }
    if (s != KILN_OK) api_fail(&t->p->logger, "PD_TensorCopyFromCpuFloat");
}

static kiln_status output_of(PD_Tensor *t, const float **y, int64_t *dims, int *rank) {
    if (t->is_input) {
        staged_input *in = &t->p->inputs[t->index];
        *rank = in->rank;
        memcpy(dims, in->dims, sizeof(int64_t) * (size_t)in->rank);
        *y = in->data;
        return KILN_OK;
    }
    kiln_engine *e = current_engine(t->p);
    if (!e)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "no output yet: call PD_PredictorRun first");
    return kiln_engine_get_output(e, t->index, y, dims, rank);
}

void PD_TensorCopyToCpuFloat(PD_Tensor *t, float *data) {
    if (!t) return;
    const float *y;
    int64_t dims[KILN_MAX_RANK];
    int rank;
    kiln_status s = data ? output_of(t, &y, dims, &rank)
                         : kiln_error(KILN_ERR_INVALID_ARGUMENT, "PD_TensorCopyToCpuFloat: NULL");
    if (s != KILN_OK) {
        api_fail(&t->p->logger, "PD_TensorCopyToCpuFloat");
        return;
    }
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)dims[i];
    if (y) memcpy(data, y, n * sizeof(float));
}

PD_OneDimArrayInt32 *PD_TensorGetShape(PD_Tensor *t) {
    if (!t) return NULL;
    const float *y;
    int64_t dims[KILN_MAX_RANK];
    int rank = 0;
    if (output_of(t, &y, dims, &rank) != KILN_OK) {
        api_fail(&t->p->logger, "PD_TensorGetShape");
        return NULL;
    }
    PD_OneDimArrayInt32 *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->data = calloc((size_t)rank + 1, sizeof(int32_t));
    if (!a->data) {
        free(a);
        return NULL;
    }
    a->size = (size_t)rank;
    for (int i = 0; i < rank; i++)
        a->data[i] = (int32_t)dims[i];
    return a;
}

const char *PD_TensorGetName(PD_Tensor *t) {
    if (!t) return NULL;
    return t->is_input ? kiln_model_input_name(t->p->model, t->index)
                       : kiln_model_output_name(t->p->model, t->index);
}

PD_DataType PD_TensorGetDataType(PD_Tensor *t) {
    return t ? PD_DATA_FLOAT32 : PD_DATA_UNK;
}

void PD_OneDimArrayInt32Destroy(PD_OneDimArrayInt32 *a) {
    if (!a) return;
    free(a->data);
    free(a);
}

void PD_OneDimArrayCstrDestroy(PD_OneDimArrayCstr *a) {
    if (!a) return;
    for (size_t i = 0; i < a->size; i++)
        free(a->data[i]);
    free(a->data);
    free(a);
}
