/*
 * paddle.h — the Paddle model as loaded (program + params, possibly with
 * some params missing), its conversion to the IR, the layout converters
 * (per-file <-> combined) and the exporter (IR -> Paddle program + params).
 *
 * kiln_load_paddle() (load.h) is load_partial + "no param missing" + to_graph.
 * The lower-level calls let a tool inspect what is missing, supply it
 * (kiln_paddle_model_set_param) and carry on.
 *
 * Non-goals: training programs, control-flow sub-blocks, NHWC layouts.
 */
#ifndef KILN_LOAD_PADDLE_H
#define KILN_LOAD_PADDLE_H

#include <stdbool.h>

#include "core/file.h"
#include "ir/graph.h"
#include "load/paddle_params.h"
#include "load/paddle_program.h"

typedef struct kiln_paddle_param {
    const char *name;           /* program-owned */
    const kiln_paddle_var *var; /* its VarDesc in block 0 */
    bool present;
    kiln_paddle_record rec; /* when present: dtype, dims, data */
    char *file;             /* the file it was (or would be) read from */
} kiln_paddle_param;

typedef struct kiln_paddle_model {
    char *program_path;
    char *params_path;        /* combined params file, or NULL for the per-file layout */
    char *params_dir;         /* per-file layout: the program's directory */
    kiln_mapping program_map; /* the program bytes, unchanged */
    kiln_paddle_program *program;
    kiln_paddle_param *params; /* block 0's params in Paddle's sorted order */
    int32_t n_params;
    int32_t n_missing; /* params whose file is absent (per-file layout only) */
    /* owned */
    kiln_mapping *maps;
    int32_t n_maps;
    void **owned;
    int32_t n_owned;
} kiln_paddle_model;

/* Loads the program and whatever params exist. With params_path NULL, each
 * param is read from <program's directory>/<name>; an absent file marks the
 * param missing (present = false, counted in n_missing) instead of failing.
 * A present but malformed or mismatching record still fails. A combined
 * params file must be complete. On success *out is owned by the caller
 * (kiln_paddle_model_destroy or kiln_paddle_model_to_graph). */
kiln_status kiln_paddle_load_partial(const char *program_path, const char *params_path,
                                     const kiln_logger *logger, kiln_paddle_model **out);
void kiln_paddle_model_destroy(kiln_paddle_model *m);

/* A model from program bytes in memory (copied; `name` is used as the path
 * in messages) with every param missing: supply them with
 * kiln_paddle_model_set_param. For generated models and fuzzing. */
kiln_status kiln_paddle_model_from_program(const uint8_t *program, size_t size, const char *name,
                                           kiln_paddle_model **out);

/* The param named `name`, or NULL. */
kiln_paddle_param *kiln_paddle_model_find_param(kiln_paddle_model *m, const char *name);

/* Supplies a param's data (copied): dtype and dims are the VarDesc's, which
 * must be fully known; nbytes must match. Replaces present data too. */
kiln_status kiln_paddle_model_set_param(kiln_paddle_model *m, const char *name, const void *data,
                                        size_t nbytes);

/* Builds the IR graph. Takes ownership of m: it is destroyed whether this
 * succeeds or not (its mappings move into the graph, whose constants point
 * into them). Fails if an op reads a missing param. */
kiln_status kiln_paddle_model_to_graph(kiln_paddle_model *m, const kiln_logger *logger,
                                       kiln_graph **out);

/* ---- layout converters (paddle_convert.c) --------------------------------
 * Program bytes are copied unchanged; records read from files are copied
 * byte for byte (set_param'ed ones are serialized). Files are written
 * atomically. Fail, naming the variable and file, if a param is missing. */

/* Writes `model_out` (the program) and `params_out` (combined params). */
kiln_status kiln_paddle_model_write_combined(const kiln_paddle_model *m, const char *model_out,
                                             const char *params_out);
/* Writes <dir_out>/__model__ and one file per param (subfolders for '/'). */
kiln_status kiln_paddle_model_write_dir(const kiln_paddle_model *m, const char *dir_out);

/* Per-file model (program_path = .../__model__, params beside it) ->
 * combined pair. */
kiln_status kiln_paddle_convert_to_combined(const char *program_path, const char *model_out,
                                            const char *params_out);
/* Combined pair -> per-file directory (dir_out/__model__ + one file each). */
kiln_status kiln_paddle_convert_to_dir(const char *program_path, const char *params_path,
                                       const char *dir_out);

/* ---- exporter (paddle_export.c) --------------------------------------------
 * Writes g as a Paddle program (feed/fetch ops, one Paddle op per IR node,
 * the op types and attrs kiln_load_paddle reads) and a combined params file
 * holding every constant value, in Paddle's sorted order. Values must have
 * unique names. Fails with KILN_ERR_UNSUPPORTED for an op or attribute
 * combination Paddle cannot express (the message names the node). */
kiln_status kiln_paddle_export(const kiln_graph *g, const char *model_out, const char *params_out);
/* The same into memory: *program and *params receive malloc'ed bytes. */
kiln_status kiln_paddle_export_mem(const kiln_graph *g, kiln_pbw *program, kiln_pbw *params);

/* Paddle data type <-> Kiln dtype; -1 / KILN_DT_COUNT when there is none. */
int32_t kiln_paddle_dtype_from_kiln(kiln_dtype t);
kiln_dtype kiln_paddle_dtype_to_kiln(int32_t pd);

#endif
