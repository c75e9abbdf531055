/*
 * kiln_paddle.h — the Paddle Inference C API (capi_exp, Paddle 2.1+) subset
 * that the Paddle-TRT demos use, on top of kiln.h, so Paddle C API users
 * relink and run.
 *
 * Differences from Paddle, on purpose:
 *   - No call aborts the caller. Functions that can fail return NULL or
 *     FALSE; the reason is logged (warning level) and is available from
 *     PD_GetLastError() (thread-local, = kiln_last_error()).
 *   - Ownership is written on every function: PD_PredictorCreate TAKES the
 *     config (it is destroyed by the call, success or not, as in Paddle's
 *     own documentation); handles from *Create / GetInputHandle /
 *     GetOutputHandle / Get*Names are the caller's to destroy.
 *   - "GPU" and "TensorRT" settings select Kiln's best backend and the
 *     precision; Kiln has no TensorRT inside.
 *
 * Thread safety: a PD_Predictor is used by one thread at a time; PD_Tensor
 * handles borrow their predictor and must be destroyed before it.
 */
#ifndef KILN_PADDLE_H
#define KILN_PADDLE_H

#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef int8_t PD_Bool;
#define TRUE 1
#define FALSE 0

typedef int32_t PD_PrecisionType;
enum { PD_PRECISION_FLOAT32 = 0, PD_PRECISION_INT8 = 1, PD_PRECISION_HALF = 2 };

typedef int32_t PD_PlaceType;
enum { PD_PLACE_UNK = -1, PD_PLACE_CPU = 0, PD_PLACE_GPU = 1, PD_PLACE_XPU = 2 };

typedef int32_t PD_DataType;
enum {
    PD_DATA_UNK = -1,
    PD_DATA_FLOAT32 = 0,
    PD_DATA_INT32 = 1,
    PD_DATA_INT64 = 2,
    PD_DATA_UINT8 = 3
};

typedef struct PD_OneDimArrayInt32 {
    size_t size;
    int32_t *data;
} PD_OneDimArrayInt32;

typedef struct PD_OneDimArrayCstr {
    size_t size;
    char **data;
} PD_OneDimArrayCstr;

typedef struct PD_Config PD_Config;
typedef struct PD_Predictor PD_Predictor;
typedef struct PD_Tensor PD_Tensor;

/* ---- config: caller owns the result of PD_ConfigCreate ---------------- */
KILN_API PD_Config *PD_ConfigCreate(void);
KILN_API void PD_ConfigDestroy(PD_Config *c);
/* Paths are copied. params_file may be NULL/"" (one file per variable). */
KILN_API void PD_ConfigSetModel(PD_Config *c, const char *prog_file, const char *params_file);
KILN_API void PD_ConfigSetModelDir(PD_Config *c, const char *dir);
KILN_API void PD_ConfigSetProgFile(PD_Config *c, const char *prog_file);
KILN_API void PD_ConfigSetParamsFile(PD_Config *c, const char *params_file);
/* Borrowed strings, valid while the config lives ("" when unset). */
KILN_API const char *PD_ConfigGetModelDir(PD_Config *c);
KILN_API const char *PD_ConfigGetProgFile(PD_Config *c);
KILN_API const char *PD_ConfigGetParamsFile(PD_Config *c);
/* INT8 calibration tables go to <dir>/_opt_cache/trt_calib_<key> instead of
 * next to the model file. */
KILN_API void PD_ConfigSetOptimCacheDir(PD_Config *c, const char *dir);
KILN_API void PD_ConfigEnableUseGpu(PD_Config *c, uint64_t memory_pool_init_size_mb,
                                    int32_t device_id, PD_PrecisionType precision_mode);
KILN_API void PD_ConfigDisableGpu(PD_Config *c);
KILN_API PD_Bool PD_ConfigUseGpu(PD_Config *c);
KILN_API void PD_ConfigEnableTensorRtEngine(PD_Config *c, int64_t workspace_size,
                                            int32_t max_batch_size, int32_t min_subgraph_size,
                                            PD_PrecisionType precision, PD_Bool use_static,
                                            PD_Bool use_calib_mode);
KILN_API PD_Bool PD_ConfigTensorRtEngineEnabled(PD_Config *c);
KILN_API void PD_ConfigSetCpuMathLibraryNumThreads(PD_Config *c, int32_t threads);
KILN_API void PD_ConfigSwitchIrOptim(PD_Config *c, PD_Bool x);
KILN_API void PD_ConfigEnableMemoryOptim(PD_Config *c, PD_Bool x);
KILN_API void PD_ConfigDisableGlogInfo(PD_Config *c);

/* ---- predictor ----------------------------------------------------------- */
/* Takes (and destroys) the config. Returns NULL on failure (see
 * PD_GetLastError()). The model is loaded here; the engine is built on the
 * first run for the batch it sees (rebuilt if a later batch is larger). */
KILN_API PD_Predictor *PD_PredictorCreate(PD_Config *c);
KILN_API void PD_PredictorDestroy(PD_Predictor *p);
/* Caller frees with PD_OneDimArrayCstrDestroy. */
KILN_API PD_OneDimArrayCstr *PD_PredictorGetInputNames(PD_Predictor *p);
KILN_API PD_OneDimArrayCstr *PD_PredictorGetOutputNames(PD_Predictor *p);
KILN_API size_t PD_PredictorGetInputNum(PD_Predictor *p);
KILN_API size_t PD_PredictorGetOutputNum(PD_Predictor *p);
/* Caller frees with PD_TensorDestroy (before the predictor). NULL if no such name. */
KILN_API PD_Tensor *PD_PredictorGetInputHandle(PD_Predictor *p, const char *name);
KILN_API PD_Tensor *PD_PredictorGetOutputHandle(PD_Predictor *p, const char *name);
KILN_API PD_Bool PD_PredictorRun(PD_Predictor *p);

/* ---- tensors ------------------------------------------------------------- */
KILN_API void PD_TensorDestroy(PD_Tensor *t);
/* Sets an input's shape; call before PD_TensorCopyFromCpuFloat. */
KILN_API void PD_TensorReshape(PD_Tensor *t, size_t shape_size, int32_t *shape);
/* Copies prod(shape) floats from data into the input. */
KILN_API void PD_TensorCopyFromCpuFloat(PD_Tensor *t, const float *data);
/* Copies the output of the last run into data (prod(shape) floats). */
KILN_API void PD_TensorCopyToCpuFloat(PD_Tensor *t, float *data);
/* Caller frees with PD_OneDimArrayInt32Destroy. */
KILN_API PD_OneDimArrayInt32 *PD_TensorGetShape(PD_Tensor *t);
KILN_API const char *PD_TensorGetName(PD_Tensor *t);
KILN_API PD_DataType PD_TensorGetDataType(PD_Tensor *t);

/* ---- utils --------------------------------------------------------------- */
KILN_API void PD_OneDimArrayInt32Destroy(PD_OneDimArrayInt32 *a);
KILN_API void PD_OneDimArrayCstrDestroy(PD_OneDimArrayCstr *a);
/* Kiln addition: why the last call on this thread failed ("" if none). */
KILN_API const char *PD_GetLastError(void);

#ifdef __cplusplus
}
#endif
#endif /* KILN_PADDLE_H */
