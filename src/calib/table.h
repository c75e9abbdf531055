/*
 * table.h — the calibration table file `<model dir>/_opt_cache/trt_calib_<key>`:
 * write (atomically), read (ours or a TensorRT-written one), check against the
 * model, look up thresholds. Format in docs/CALIBRATION.md:
 *
 *   #kiln-calib-table v1 kiln=0.1.0 key=<16 hex> algo=entropy samples=500 shape=1x3x224x224
 * preprocess=none <tensor name>: <8 hex digits>      (IEEE-754 bits of the scale T/127)
 *
 * A TensorRT table has `TRT-<version>-<algorithm>` as its first line and the
 * same tensor lines; it carries no key (the caller warns).
 *
 * Non-goals: writing TensorRT headers, per-channel entries, editing in place.
 */
#ifndef KILN_CALIB_TABLE_H
#define KILN_CALIB_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "calib/threshold.h"
#include "kiln.h"

#define KILN_CALIB_TABLE_VERSION 1
/* Appended to every table error. */
#define KILN_CALIB_REGEN_HINT "regenerate it with `kiln calibrate` or delete the file"

/* What a Kiln table's header records (the writer's input). */
typedef struct kiln_calib_table_info {
    const char *key; /* 16 lowercase hex digits (calib/key.h) */
    kiln_calib_algo algo;
    double percentile;  /* written when algo == KILN_CALIB_PERCENTILE */
    int64_t samples;    /* calibration samples (images) used, >= 0 */
    int32_t shape_rank; /* input shape the key was computed for, 1..KILN_MAX_RANK */
    int64_t shape[KILN_MAX_RANK];
    const char *preprocess; /* descriptor, printable, no whitespace; NULL = "none" */
} kiln_calib_table_info;

typedef struct kiln_calib_entry {
    const char *name; /* points into the table's storage */
    float scale;      /* T / 127, finite and > 0 */
    uint32_t bits;    /* its IEEE-754 bits as in the file */
    int64_t line;     /* 1-based line number in the file */
} kiln_calib_entry;

typedef struct kiln_calib_table {
    const char *path;         /* file name used in messages */
    int is_trt;               /* 1: TensorRT header; key, shape, samples unknown */
    int32_t version;          /* Kiln format version; 0 for a TensorRT table */
    int64_t trt_version;      /* the <version> of a TensorRT header, else 0 */
    const char *trt_algo;     /* "EntropyCalibration2", ... for TensorRT, else "" */
    const char *kiln_version; /* kiln=..., "" if absent */
    const char *key;          /* 16 hex digits; "" for TensorRT */
    int has_algo;             /* algo is known (Kiln header; TRT Entropy or MinMax) */
    kiln_calib_algo algo;
    double percentile;  /* percentile=..., or -1 if absent */
    int64_t samples;    /* -1 if unknown */
    int32_t shape_rank; /* 0 if unknown */
    int64_t shape[KILN_MAX_RANK];
    const char *preprocess; /* "" if unknown */
    int64_t n_entries;
    kiln_calib_entry *entries; /* file order */
    int64_t *sorted;           /* entry indices by name (strcmp), for lookup */
    char *storage;             /* owned copy of the text, NUL-split */
} kiln_calib_table;

/* "<model_dir>/_opt_cache/trt_calib_<key>" into buf (size n). */
kiln_status kiln_calib_table_path(char *buf, size_t n, const char *model_dir, const char *key);

/* Formats a table: the header from info, then one line per tensor in the
 * given order, `name: %08x` of the bits of thresholds[i] / 127.0f. Rejects a
 * name that is empty, contains ':', whitespace or control bytes, is not UTF-8,
 * or repeats; a threshold whose scale is not finite and > 0; a malformed info.
 * *text is malloc'ed (caller frees), NUL-terminated, *len bytes. */
kiln_status kiln_calib_table_format(const kiln_calib_table_info *info, const char *const *names,
                                    const float *thresholds, int64_t n, char **text, size_t *len);

/* Formats and writes to `path` atomically (temp file + rename), creating the
 * parent directory. A failure leaves any previous file untouched. */
kiln_status kiln_calib_table_write(const char *path, const kiln_calib_table_info *info,
                                   const char *const *names, const float *thresholds, int64_t n);

/* Parses table text (any bytes; `name` is used in messages). On success *out
 * is owned by the caller (kiln_calib_table_destroy). Errors are
 * KILN_ERR_FORMAT "<name>:<line>: <what>; " KILN_CALIB_REGEN_HINT. */
kiln_status kiln_calib_table_parse(const char *data, size_t n, const char *name,
                                   kiln_calib_table **out);

/* Reads and parses the file at path (KILN_ERR_IO if unreadable). */
kiln_status kiln_calib_table_load(const char *path, kiln_calib_table **out);

void kiln_calib_table_destroy(kiln_calib_table *t);

/* Checks the table belongs to the model with this key and input shape. A
 * Kiln table with another key or shape: KILN_ERR_INVALID_ARGUMENT naming both
 * and how to regenerate. A TensorRT table (no key): KILN_OK with *no_key = 1
 * (the caller warns that it cannot be verified). */
kiln_status kiln_calib_table_check(const kiln_calib_table *t, const char *key, int32_t rank,
                                   const int64_t *shape, int *no_key);

/* The entry named `name`, or NULL. */
const kiln_calib_entry *kiln_calib_table_find(const kiln_calib_table *t, const char *name);

/* T = scale * 127 of `name`; KILN_ERR_NOT_FOUND naming the table if absent. */
kiln_status kiln_calib_table_threshold(const kiln_calib_table *t, const char *name, float *T);

#endif
