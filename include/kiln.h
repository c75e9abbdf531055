/*
 * kiln.h — the Kiln C API: load a CNN classifier (Paddle or ONNX), build an
 * engine for a backend, run it.
 *
 * Conventions
 *   - Every function that can fail returns a kiln_status; on failure a
 *     message naming the file, byte offset, node or tensor is available from
 *     kiln_last_error() (thread-local, valid until the next failing call on
 *     the same thread). Nothing here aborts or exits the caller.
 *   - *_create / *_load / *_build give the caller ownership of the returned
 *     handle; release it with the matching *_destroy. *_get_* borrow.
 *   - Thread safety: a kiln_model is immutable after loading and may be
 *     shared by threads. A kiln_engine may only be run by one thread at a
 *     time (build one engine per thread; they share the model's weights).
 *
 * Quick start
 *   kiln_model *m; kiln_engine *e;
 *   kiln_model_load_path("models/ResNet50", NULL, &m);
 *   kiln_build_options bo = kiln_build_options_default();
 *   kiln_engine_build(m, &bo, &e);
 *   kiln_engine_set_input(e, 0, image, dims, 4);
 *   kiln_engine_run(e);
 *   kiln_engine_get_output(e, 0, &out, out_dims, &rank);
 *   kiln_engine_destroy(e); kiln_model_destroy(m);
 */
#ifndef KILN_H
#define KILN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(KILN_BUILDING_LIBRARY)
#define KILN_API __attribute__((visibility("default")))
#else
#define KILN_API
#endif

#define KILN_VERSION_MAJOR 0
#define KILN_VERSION_MINOR 1
#define KILN_VERSION_PATCH 0
#define KILN_VERSION_STRING "0.1.0"

/* Largest tensor rank Kiln handles. */
#define KILN_MAX_RANK 8

typedef enum kiln_status {
    KILN_OK = 0,
    KILN_ERR_INVALID_ARGUMENT, /* a NULL, out-of-range or malformed argument/flag */
    KILN_ERR_IO,               /* a file could not be opened/read/written */
    KILN_ERR_FORMAT,           /* a model/params/table file is malformed */
    KILN_ERR_UNSUPPORTED,      /* valid input Kiln does not handle (unknown op...) */
    KILN_ERR_SHAPE,            /* shapes disagree */
    KILN_ERR_NO_MEMORY,
    KILN_ERR_NOT_FOUND, /* a named tensor/input/output does not exist */
    KILN_ERR_BACKEND,   /* the backend (oneDNN, CUDA...) failed */
    KILN_ERR_INTERNAL,  /* a bug in Kiln */
    KILN_STATUS_COUNT
} kiln_status;

/* Static name of a status ("KILN_ERR_FORMAT"...). Never NULL. */
KILN_API const char *kiln_status_string(kiln_status s);

/* Detailed message of the last failure on this thread ("" if none). The
 * pointer is owned by Kiln and valid until the next failing call on this
 * thread. */
KILN_API const char *kiln_last_error(void);

/* Runtime version ("0.1.0"); compare with KILN_VERSION_STRING. */
KILN_API const char *kiln_version(void);

typedef enum kiln_log_level {
    KILN_LOG_ERROR = 0,
    KILN_LOG_WARNING,
    KILN_LOG_INFO,
    KILN_LOG_DEBUG,
    KILN_LOG_LEVEL_COUNT
} kiln_log_level;

/* A log sink. `msg` is valid only during the call. May be called from any
 * thread that calls into Kiln with these options. */
typedef void (*kiln_log_fn)(void *user, kiln_log_level level, const char *msg);

/* Where a load/build sends its log lines. fn == NULL means stderr. Only lines
 * with level <= max_level are emitted. The default (kiln_logger_default())
 * is stderr at WARNING, or the level named by the environment variable
 * KILN_LOG_LEVEL (error|warning|info|debug). */
typedef struct kiln_logger {
    kiln_log_fn fn;
    void *user;
    kiln_log_level max_level;
} kiln_logger;

KILN_API kiln_logger kiln_logger_default(void);

/* ---- models ---------------------------------------------------------- */

typedef struct kiln_model kiln_model;

typedef enum kiln_model_format {
    KILN_FORMAT_UNKNOWN = 0,
    KILN_FORMAT_PADDLE,
    KILN_FORMAT_ONNX,
    KILN_FORMAT_COUNT
} kiln_model_format;

typedef struct kiln_load_options {
    /* Exactly one way to name the model:
     *  - model_file (+ params_file): a Paddle program (`model`, `__model__`,
     *    `*.pdmodel`) with a combined params file, or an ONNX file;
     *  - model_file alone, Paddle: params are one file per variable beside it;
     *  - model_dir: a directory holding `__model__` (per-file params),
     *    `model` + `params`, `*.pdmodel` + `*.pdiparams` or one `*.onnx`.
     * The format is detected from the bytes, not the name. */
    const char *model_file;
    const char *params_file;
    const char *model_dir;
    kiln_logger logger;
} kiln_load_options;

KILN_API kiln_load_options kiln_load_options_default(void);

/* Loads a model. On success *out is owned by the caller
 * (kiln_model_destroy). Weights are mmap'ed, not copied, where possible. */
KILN_API kiln_status kiln_model_load(const kiln_load_options *opts, kiln_model **out);

/* Convenience: `path` is a model directory or a model file (per-file params
 * beside it, or an ONNX file). logger may be NULL (default). */
KILN_API kiln_status kiln_model_load_path(const char *path, const kiln_logger *logger,
                                          kiln_model **out);

KILN_API void kiln_model_destroy(kiln_model *m);

KILN_API kiln_model_format kiln_model_get_format(const kiln_model *m);
KILN_API int kiln_model_num_inputs(const kiln_model *m);
KILN_API int kiln_model_num_outputs(const kiln_model *m);
/* Borrowed names, valid for the model's lifetime; NULL if out of range. */
KILN_API const char *kiln_model_input_name(const kiln_model *m, int i);
KILN_API const char *kiln_model_output_name(const kiln_model *m, int i);
/* Declared shape; -1 marks a dynamic dimension (usually the batch). */
KILN_API kiln_status kiln_model_input_shape(const kiln_model *m, int i, int64_t dims[KILN_MAX_RANK],
                                            int *rank);

/* Makes any named variable (intermediate tensors too) an additional output,
 * appended after the existing ones. Call before kiln_engine_build. */
KILN_API kiln_status kiln_model_add_output(kiln_model *m, const char *name);

/* ---- engines --------------------------------------------------------- */

typedef enum kiln_backend_kind {
    KILN_BACKEND_AUTO = 0, /* the best backend available for the model */
    KILN_BACKEND_REF,      /* scalar reference: exact, slow */
    KILN_BACKEND_CPU,
    KILN_BACKEND_CUDA,
    KILN_BACKEND_COUNT
} kiln_backend_kind;

/* "auto", "ref", "cpu", "cuda". */
KILN_API const char *kiln_backend_name(kiln_backend_kind k);
KILN_API kiln_status kiln_backend_from_name(const char *name, kiln_backend_kind *out);

typedef enum kiln_precision {
    KILN_PRECISION_FP32 = 0, /* values match PD_PRECISION_FLOAT32 */
    KILN_PRECISION_INT8 = 1,
    KILN_PRECISION_FP16 = 2,
    KILN_PRECISION_COUNT
} kiln_precision;

typedef struct kiln_build_options {
    kiln_backend_kind backend;
    kiln_precision precision;
    int64_t max_batch; /* largest batch run() will see; >= 1 */
    int threads;       /* 0 = all cores */
    int optimize;      /* 1 (default): run the graph passes (fusions); 0: as loaded */
    /* INT8: the calibration table to read (kiln calibrate writes it). NULL:
     * <cache_dir or the model's directory>/_opt_cache/trt_calib_<model key>.
     * A missing table is an error that says how to make one. */
    const char *calibration_table;
    const char *cache_dir; /* NULL: the directory of the model file */
    kiln_logger logger;
} kiln_build_options;

KILN_API kiln_build_options kiln_build_options_default(void);

typedef struct kiln_engine kiln_engine;

/* Builds an engine. `m` must outlive the engine. */
KILN_API kiln_status kiln_engine_build(const kiln_model *m, const kiln_build_options *opts,
                                       kiln_engine **out);
KILN_API void kiln_engine_destroy(kiln_engine *e);

/* INT8 coverage of an engine: nodes running INT8 and nodes whose op has an
 * INT8 form ("INT8 layers: n/m"). Both 0 for an FP32 engine. */
KILN_API void kiln_engine_int8_layers(const kiln_engine *e, int *n_int8, int *n_candidates);

/* Name of the backend actually chosen ("ref"...). */
KILN_API const char *kiln_engine_backend(const kiln_engine *e);

/* Copies float32 NCHW data for input i. dims[0] is the batch (<= max_batch);
 * the other dims must equal the model's. */
KILN_API kiln_status kiln_engine_set_input(kiln_engine *e, int i, const float *data,
                                           const int64_t *dims, int rank);
KILN_API kiln_status kiln_engine_run(kiln_engine *e);
/* Borrows output i of the last run: *data stays valid until the next run or
 * destroy. dims receives the shape. */
KILN_API kiln_status kiln_engine_get_output(kiln_engine *e, int i, const float **data,
                                            int64_t dims[KILN_MAX_RANK], int *rank);

/* ---- images ----------------------------------------------------------- */

/* Decodes a JPEG/PNG file (or reads a raw .bin float32 tensor) and applies
 * the ResNet50 preprocessing of docs/IMAGES.md (shorter side to 256 scaled
 * by crop/224, bilinear, center crop, RGB, ImageNet mean/std) into
 * dst[3*crop*crop], NCHW. The same code feeds calibration and inference. */
KILN_API kiln_status kiln_image_to_tensor(const char *path, int64_t crop, float *dst);

/* The preprocessing descriptor recorded in calibration tables (<= 127 chars). */
KILN_API kiln_status kiln_image_preprocess_describe(int64_t crop, char *buf, size_t n);

/* Image files (.jpg .jpeg .png .bin) of a directory, or the paths listed in
 * a text file (one per line), sorted for directories. Caller frees with
 * kiln_image_paths_free. An empty result is an error naming the directory. */
KILN_API kiln_status kiln_image_paths(const char *dir_or_list, char ***paths, size_t *n);
KILN_API void kiln_image_paths_free(char **paths, size_t n);

/* ---- INT8 calibration ------------------------------------------------- */

/* A calibrator runs the model in FP32 over calibration batches, keeps a
 * histogram of |x| for every tensor an INT8 layer would read or write, and
 * writes the calibration table (docs/CALIBRATION.md). Not thread-safe. */
typedef struct kiln_calibrator kiln_calibrator;

typedef struct kiln_calibrate_options {
    const char *algo;  /* "entropy" (default), "percentile", "minmax", "mse" */
    double percentile; /* for "percentile": default 99.99 */
    int64_t max_batch; /* largest batch passed to kiln_calibrator_add (default 1) */
    kiln_backend_kind backend;
    int threads;
    const char *preprocess; /* recorded in the table header; NULL = "none" */
    const char *cache_dir;  /* NULL: the model file's directory */
    kiln_logger logger;
} kiln_calibrate_options;

KILN_API kiln_calibrate_options kiln_calibrate_options_default(void);

/* `m` must outlive the calibrator. */
KILN_API kiln_status kiln_calibrator_create(const kiln_model *m, const kiln_calibrate_options *o,
                                            kiln_calibrator **out);
/* Runs one FP32 batch (dims[0] <= max_batch) and updates the histograms. */
KILN_API kiln_status kiln_calibrator_add(kiln_calibrator *c, const float *x, const int64_t *dims,
                                         int rank);
/* The FP32 engine the calibrator runs (borrowed): its outputs after the last
 * add are ordinary FP32 results. */
KILN_API kiln_engine *kiln_calibrator_engine(kiln_calibrator *c);
/* Samples (images) seen so far. */
KILN_API int64_t kiln_calibrator_samples(const kiln_calibrator *c);
/* Computes the thresholds and writes the table atomically to `path`, or to
 * the default path (NULL). The absolute path written goes to written[n].
 * Fails, writing nothing, if no samples were added. */
KILN_API kiln_status kiln_calibrator_write(kiln_calibrator *c, const char *path, char *written,
                                           size_t n);
KILN_API void kiln_calibrator_destroy(kiln_calibrator *c);

/* The default table path of a model (<dir>/_opt_cache/trt_calib_<key>). */
KILN_API kiln_status kiln_model_calibration_table_path(const kiln_model *m, const char *cache_dir,
                                                       char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* KILN_H */
