/*
 * onnx_internal.h — shared state of the ONNX loader: the parse context
 * (graph under construction, name table, opset), a parsed NodeProto with its
 * attributes, and the helpers the op mappers (onnx_ops.c) use on it.
 *
 * Non-goals: anything visible outside src/load/onnx*.c.
 */
#ifndef KILN_LOAD_ONNX_INTERNAL_H
#define KILN_LOAD_ONNX_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "ir/graph.h"
#include "load/onnx_tensor.h"
#include "load/pb_wire.h"

typedef struct kiln_onnx_span {
    const uint8_t *p;
    size_t n;
} kiln_onnx_span;

/* AttributeProto.type values. */
enum {
    KILN_ONNX_ATTR_FLOAT = 1,
    KILN_ONNX_ATTR_INT = 2,
    KILN_ONNX_ATTR_STRING = 3,
    KILN_ONNX_ATTR_TENSOR = 4,
    KILN_ONNX_ATTR_FLOATS = 6,
    KILN_ONNX_ATTR_INTS = 7,
};

typedef struct kiln_onnx_attr {
    kiln_onnx_span name;
    int32_t type;       /* 0 if absent (old writers) */
    kiln_pb_field self; /* the AttributeProto field inside the node message */
    bool has_f, has_i, has_s, has_t, has_ref;
    float f;
    int64_t i;
    kiln_onnx_span s;
    kiln_pb_field t;
    int32_t n_floats, n_ints; /* occurrences of fields 7 / 8 (not element counts) */
} kiln_onnx_attr;

enum { KILN_ONNX_NODE_MAX_IO = 64, KILN_ONNX_NODE_MAX_ATTRS = 48 };

typedef struct kiln_onnx_node {
    int32_t index;
    size_t offset;
    kiln_pb msg; /* cursor at the start of the NodeProto */
    kiln_onnx_span op_type, domain, name;
    int32_t n_in, n_out;
    kiln_onnx_span in[KILN_ONNX_NODE_MAX_IO], out[KILN_ONNX_NODE_MAX_IO];
    int32_t n_attrs;
    kiln_onnx_attr attrs[KILN_ONNX_NODE_MAX_ATTRS];
    char label[320]; /* "node #3 'name' (Conv)" */
} kiln_onnx_node;

typedef struct kiln_onnx_ignored {
    kiln_onnx_span name;
    const char *why; /* static */
    int32_t node;
} kiln_onnx_ignored;

typedef struct kiln_onnx_ctx {
    kiln_graph *g;
    const char *path;
    const kiln_logger *logger;
    bool borrow;      /* constants may point into the parsed buffer */
    size_t max_const; /* bytes */
    const struct kiln_onnx_binding *bind;
    int32_t n_bind;
    bool *bound; /* n_bind flags: binding used */
    int64_t opset;
    int64_t ir_version;
    int32_t *slots; /* name table: value ids, -1 empty; size n_slots (power of 2) */
    size_t n_slots, n_used;
    char *scratch;
    size_t scratch_cap;
    /* Node outputs Kiln does not produce (Dropout mask, MaxPool Indices,
     * BatchNormalization training outputs): an error if anything reads them. */
    struct kiln_onnx_ignored *ignored;
    int32_t n_ignored, cap_ignored;
    kiln_onnx_node node;
} kiln_onnx_ctx;

/* Error prefixed with "<path>: offset N: <node label>: ". */
kiln_status kiln_onnx_node_error(const kiln_onnx_ctx *c, kiln_status s, const char *fmt, ...)
    KILN_PRINTF(3, 4);

/* Value id of the name, or -1. */
int32_t kiln_onnx_find(const kiln_onnx_ctx *c, kiln_onnx_span name);
/* Adds a value named `name` (which must be new: ONNX is SSA) and indexes it. */
kiln_status kiln_onnx_new_value(kiln_onnx_ctx *c, kiln_onnx_span name, kiln_dtype dtype,
                                int32_t rank, const int64_t *dims, int32_t *id);

/* Input k of the current node: KILN_NO_VALUE if absent/empty, else its id
 * (an unknown name is a FORMAT error). */
kiln_status kiln_onnx_input(kiln_onnx_ctx *c, int32_t k, int32_t *id);
/* Same, but the input must be present. */
kiln_status kiln_onnx_input_req(kiln_onnx_ctx *c, int32_t k, const char *what, int32_t *id);

/* Attribute lookup on the current node (NULL if absent). */
const kiln_onnx_attr *kiln_onnx_attr_get(const kiln_onnx_ctx *c, const char *name);
kiln_status kiln_onnx_attr_int(kiln_onnx_ctx *c, const char *name, int64_t def, int64_t *out);
kiln_status kiln_onnx_attr_float(kiln_onnx_ctx *c, const char *name, float def, float *out);
/* *n = -1 when absent; at most `max` values (more is UNSUPPORTED, naming `name`). */
kiln_status kiln_onnx_attr_ints(kiln_onnx_ctx *c, const char *name, int64_t *out, int32_t max,
                                int32_t *n);
kiln_status kiln_onnx_attr_string(kiln_onnx_ctx *c, const char *name, kiln_onnx_span *out,
                                  bool *found);

/* Records outputs k.. of the current node as not produced (see ctx). */
kiln_status kiln_onnx_ignore_outputs(kiln_onnx_ctx *c, int32_t k, const char *why);
/* The ignored-output record for a name, or NULL. */
const kiln_onnx_ignored *kiln_onnx_find_ignored(const kiln_onnx_ctx *c, kiln_onnx_span name);

/* NUL-terminated copy of a span in the context's scratch buffer. */
const char *kiln_onnx_cstr(kiln_onnx_ctx *c, kiln_onnx_span s);

/* Maps the current node (c->node) onto the IR (onnx_ops.c). */
kiln_status kiln_onnx_map_node(kiln_onnx_ctx *c);

#endif
