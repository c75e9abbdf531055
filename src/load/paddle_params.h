/*
 * paddle_params.h — Paddle's serialized LoDTensor record (spec §2.1) and the
 * two params layouts built from it: combined (records concatenated in sorted
 * name order, §2.2) and one file per variable (§2.3).
 *
 * Reading is zero-copy: a record's data points into the caller's buffer
 * (normally an mmap). Every length read from the file is bounded by the bytes
 * that remain and checked for overflow. Errors read
 * "<file>: offset N: variable 'x': ...".
 * Non-goals: LoD semantics (levels are validated and skipped), big-endian hosts.
 */
#ifndef KILN_LOAD_PADDLE_PARAMS_H
#define KILN_LOAD_PADDLE_PARAMS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/file.h"
#include "kiln.h"
#include "load/paddle_program.h"
#include "load/pb_write.h"

enum {
    KILN_PADDLE_MAX_DIMS = 16,        /* dims a record may declare */
    KILN_PADDLE_MAX_LOD_LEVEL = 32,   /* LoD levels a record may declare */
    KILN_PADDLE_MAX_DESC_BYTES = 4096 /* TensorDesc size a record may declare */
};

typedef struct kiln_paddle_record {
    int32_t dtype; /* Paddle data type (KILN_PD_FP32...) */
    int32_t rank;
    int64_t dims[KILN_PADDLE_MAX_DIMS];
    uint64_t lod_level;
    const uint8_t *raw;  /* the record's first byte (NULL if not read from a buffer) */
    const uint8_t *data; /* raw row-major tensor bytes, inside the caller's buffer */
    size_t nbytes;
    size_t offset; /* absolute offset of the record's first byte */
    size_t size;   /* bytes the whole record takes */
} kiln_paddle_record;

/* Reads one record at buf[0..size), which sits at `base_offset` in file
 * `path`; `var` names the variable in messages (may be NULL). out->size says
 * how many bytes it took. */
kiln_status kiln_paddle_record_read(const uint8_t *buf, size_t size, size_t base_offset,
                                    const char *path, const char *var, kiln_paddle_record *out);

/* Reads a combined params file: n records for names[0..n) (already in
 * Paddle's sorted order, see kiln_paddle_param_names), then requires the file
 * to end. recs[n] receives the records. */
kiln_status kiln_paddle_params_read_combined(const uint8_t *data, size_t size, const char *path,
                                             const char *const *names, int32_t n,
                                             kiln_paddle_record *recs);

/* True if `name` is safe as a relative path under a params directory (no
 * leading '/', no "." or ".." component, no empty component). */
int kiln_paddle_name_is_safe_path(const char *name);

/* Per-file layout: maps <dir>/<name> (a name with '/' is a subfolder) into
 * *map and reads its single record (trailing bytes are an error). On failure
 * *map is left unmapped. A missing file gives KILN_ERR_IO. */
kiln_status kiln_paddle_params_read_file(const char *dir, const char *name, kiln_mapping *map,
                                         kiln_paddle_record *rec);

/* Checks a record against its VarDesc: same data type and dims (a VarDesc
 * dim of -1 matches anything). The message names the variable, both shapes
 * and what to do. `path` is the params file for the message. */
kiln_status kiln_paddle_record_check(const kiln_paddle_record *r, const kiln_paddle_var *v,
                                     const char *path);

/* Appends one record (version 0, no LoD) to w. nbytes must equal
 * numel(dims) * kiln_paddle_dtype_size(dtype). */
void kiln_paddle_record_write(kiln_pbw *w, int32_t dtype, int32_t rank, const int64_t *dims,
                              const void *data, size_t nbytes);
/* The same into a stdio stream; KILN_ERR_IO (naming `path`) on a short write. */
kiln_status kiln_paddle_record_fwrite(FILE *f, const char *path, int32_t dtype, int32_t rank,
                                      const int64_t *dims, const void *data, size_t nbytes);

/* "FP32 [64,3,7,7]" into buf. */
const char *kiln_paddle_record_str(int32_t dtype, int32_t rank, const int64_t *dims, char *buf,
                                   size_t n);

#endif
