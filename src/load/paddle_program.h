/*
 * paddle_program.h — Paddle's ProgramDesc (framework.proto, spec §1) as plain
 * C structs: parse from bytes (zero-copy wire reader, every string copied into
 * a program-owned arena), serialize back to bytes, and look things up.
 *
 * Unknown fields and attributes are tolerated and skipped; repeated scalars
 * are accepted packed or unpacked. Errors name the file and the absolute byte
 * offset. Non-goals: OpProto, preserving unknown fields when serializing,
 * interpreting sub-blocks (control flow).
 */
#ifndef KILN_LOAD_PADDLE_PROGRAM_H
#define KILN_LOAD_PADDLE_PROGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln.h"
#include "load/pb_write.h"

/* VarType.Type: data types and variable kinds share one enum (spec §1.1). */
enum {
    KILN_PD_BOOL = 0,
    KILN_PD_INT16 = 1,
    KILN_PD_INT32 = 2,
    KILN_PD_INT64 = 3,
    KILN_PD_FP16 = 4,
    KILN_PD_FP32 = 5,
    KILN_PD_FP64 = 6,
    KILN_PD_LOD_TENSOR = 7,
    KILN_PD_SELECTED_ROWS = 8,
    KILN_PD_FEED_MINIBATCH = 9,
    KILN_PD_FETCH_LIST = 10,
    KILN_PD_RAW = 17,
    KILN_PD_SIZE_T = 19,
    KILN_PD_UINT8 = 20,
    KILN_PD_INT8 = 21,
    KILN_PD_BF16 = 22,
    KILN_PD_COMPLEX64 = 23,
    KILN_PD_COMPLEX128 = 24,
};

/* OpDesc.AttrType. */
typedef enum kiln_pd_attr_type {
    KILN_PD_ATTR_INT = 0,
    KILN_PD_ATTR_FLOAT,
    KILN_PD_ATTR_STRING,
    KILN_PD_ATTR_INTS,
    KILN_PD_ATTR_FLOATS,
    KILN_PD_ATTR_STRINGS,
    KILN_PD_ATTR_BOOLEAN,
    KILN_PD_ATTR_BOOLEANS,
    KILN_PD_ATTR_BLOCK,
    KILN_PD_ATTR_LONG,
    KILN_PD_ATTR_BLOCKS,
    KILN_PD_ATTR_LONGS,
    KILN_PD_ATTR_FLOAT64S,
    KILN_PD_ATTR_VAR,
    KILN_PD_ATTR_VARS,
    KILN_PD_ATTR_FLOAT64,
    KILN_PD_ATTR_COUNT
} kiln_pd_attr_type;

extern const char *const kiln_pd_attr_type_names[KILN_PD_ATTR_COUNT]; /* "INT", ... */

/* Bits of kiln_paddle_attr.has: which optional scalar fields were present. */
enum {
    KILN_PD_HAS_I = 1u << 0,
    KILN_PD_HAS_F = 1u << 1,
    KILN_PD_HAS_S = 1u << 2,
    KILN_PD_HAS_B = 1u << 3,
    KILN_PD_HAS_BLOCK = 1u << 4,
    KILN_PD_HAS_L = 1u << 5,
    KILN_PD_HAS_F64 = 1u << 6,
    KILN_PD_HAS_VAR = 1u << 7,
};

typedef struct kiln_paddle_attr {
    const char *name;
    int32_t type; /* kiln_pd_attr_type (may be a value newer than this code) */
    uint32_t has; /* KILN_PD_HAS_* */
    int32_t i;
    float f;
    const char *s; /* NUL-terminated copy; s_len bytes (may hold NULs) */
    size_t s_len;
    bool b;
    int32_t block_idx;
    int64_t l;
    double f64;
    const char *var_name;
    int32_t n_ints, n_floats, n_strings, n_bools, n_blocks_idx, n_longs, n_float64s, n_vars_name;
    int32_t *ints;
    float *floats;
    const char **strings;
    bool *bools;
    int32_t *blocks_idx;
    int64_t *longs;
    double *float64s;
    const char **vars_name;
    size_t offset; /* absolute offset of the Attr field in the file */
} kiln_paddle_attr;

/* OpDesc.Var: a slot ("Input") and the variable names bound to it. */
typedef struct kiln_paddle_slot {
    const char *parameter;
    const char **args;
    int32_t n_args;
} kiln_paddle_slot;

typedef struct kiln_paddle_op {
    const char *type;
    kiln_paddle_slot *inputs, *outputs;
    int32_t n_inputs, n_outputs;
    kiln_paddle_attr *attrs;
    int32_t n_attrs;
    bool is_target;
    size_t offset; /* absolute offset of the OpDesc field */
} kiln_paddle_op;

typedef struct kiln_paddle_var {
    const char *name;
    int32_t kind; /* VarType.type: KILN_PD_LOD_TENSOR, KILN_PD_FEED_MINIBATCH, ... */
    bool persistable;
    bool need_check_feed;
    bool has_tensor; /* a lod_tensor (or selected_rows) TensorDesc was present */
    bool has_lod_level;
    int32_t dtype; /* TensorDesc.data_type (KILN_PD_FP32...) when has_tensor */
    int32_t rank;
    int64_t *dims; /* [rank]; -1 = unknown (the batch) */
    int32_t lod_level;
    size_t offset;
} kiln_paddle_var;

typedef struct kiln_paddle_block {
    int32_t idx, parent_idx;
    bool has_forward_block_idx;
    int32_t forward_block_idx; /* -1 when absent */
    kiln_paddle_var *vars;
    int32_t n_vars;
    kiln_paddle_op *ops;
    int32_t n_ops;
} kiln_paddle_block;

typedef struct kiln_paddle_op_version {
    const char *op_name;
    int32_t version;
} kiln_paddle_op_version;

struct kiln_paddle_arena;

typedef struct kiln_paddle_program {
    kiln_paddle_block *blocks;
    int32_t n_blocks;
    bool has_version;
    int64_t version; /* Version.version (e.g. 2002002); 0 when absent */
    bool has_op_version_map;
    kiln_paddle_op_version *op_versions;
    int32_t n_op_versions;
    struct kiln_paddle_arena *arena; /* owns every pointer above */
} kiln_paddle_program;

/* Parses a serialized ProgramDesc. `path` is used in messages only. On
 * success *out is owned by the caller (kiln_paddle_program_destroy). The
 * program does not reference `data` afterwards. */
kiln_status kiln_paddle_program_parse(const uint8_t *data, size_t size, const char *path,
                                      kiln_paddle_program **out);
void kiln_paddle_program_destroy(kiln_paddle_program *p);

/* An empty program (no blocks) whose arena can hold what a builder adds. */
kiln_status kiln_paddle_program_create(kiln_paddle_program **out);
/* Zeroed program-owned memory / a program-owned copy of s; NULL when out of memory. */
void *kiln_paddle_program_alloc(kiln_paddle_program *p, size_t n);
char *kiln_paddle_program_strdup(kiln_paddle_program *p, const char *s);

/* Serializes `p` (fields in field-number order, repeated scalars unpacked
 * like Paddle's own writer) into w. Check w->failed for out of memory. */
void kiln_paddle_program_serialize(const kiln_paddle_program *p, kiln_pbw *w);

/* Lookups. NULL when absent. */
const kiln_paddle_attr *kiln_paddle_op_attr(const kiln_paddle_op *op, const char *name);
const kiln_paddle_slot *kiln_paddle_op_input(const kiln_paddle_op *op, const char *slot);
const kiln_paddle_slot *kiln_paddle_op_output(const kiln_paddle_op *op, const char *slot);
/* First argument of a slot, or NULL if the slot is absent or empty. */
const char *kiln_paddle_op_input1(const kiln_paddle_op *op, const char *slot);
const char *kiln_paddle_op_output1(const kiln_paddle_op *op, const char *slot);
/* First output argument of any slot (for messages), or "" if none. */
const char *kiln_paddle_op_first_output(const kiln_paddle_op *op);
const kiln_paddle_var *kiln_paddle_block_var(const kiln_paddle_block *b, const char *name);

/* Typed attribute reads that tolerate the type variations seen in real
 * programs (is_test as INT or BOOLEAN, ints as INTS or LONGS...). Return the
 * default when the attribute is absent or of an incompatible type. */
int64_t kiln_paddle_attr_int(const kiln_paddle_op *op, const char *name, int64_t dflt);
float kiln_paddle_attr_float(const kiln_paddle_op *op, const char *name, float dflt);
bool kiln_paddle_attr_bool(const kiln_paddle_op *op, const char *name, bool dflt);
const char *kiln_paddle_attr_string(const kiln_paddle_op *op, const char *name, const char *dflt);
/* Copies up to `max` integers of an INTS/LONGS attribute into out; returns
 * the attribute's element count (may exceed max), or -1 if absent. */
int32_t kiln_paddle_attr_ints(const kiln_paddle_op *op, const char *name, int64_t *out,
                              int32_t max);

/* True for a persistable variable that Paddle stores in a params file:
 * persistable and kind not FEED_MINIBATCH, FETCH_LIST or RAW (spec §2.2). */
bool kiln_paddle_var_is_param(const kiln_paddle_var *v);

/* Names of block 0's params in Paddle's combined-file order (strcmp-sorted,
 * duplicates removed). *names is malloc'ed (free it); the strings belong to
 * the program. */
kiln_status kiln_paddle_param_names(const kiln_paddle_program *p, const char ***names, int32_t *n);

/* Element size of a Paddle data type (BOOL..COMPLEX128); 0 if not a data type. */
size_t kiln_paddle_dtype_size(int32_t dtype);
/* Printable name ("FP32", "INT8"...); "?" for unknown codes. */
const char *kiln_paddle_dtype_name(int32_t dtype);

#endif
