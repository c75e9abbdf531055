/*
 * onnx.h — internal entry points of the ONNX loader (the public one is
 * kiln_load_onnx in load.h): load from a memory buffer (fuzzing, tests) and
 * the list of ONNX op types the loader maps.
 *
 * Non-goals: a public ONNX API; anything beyond the op set in graph.h.
 */
#ifndef KILN_LOAD_ONNX_H
#define KILN_LOAD_ONNX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir/graph.h"

/* Largest constant (initializer, Constant, ConstantOfShape) kiln_load_onnx
 * accepts, in bytes. */
#define KILN_ONNX_MAX_CONST_BYTES ((size_t)4 << 30)

/* A graph input fed at load time: it becomes a constant instead of a graph
 * input (like freezing an input). Lets models whose Reshape shape or Clip
 * bounds arrive as inputs load, when their values are known. */
typedef struct kiln_onnx_binding {
    const char *name;
    kiln_dtype dtype;
    int32_t rank;
    int64_t dims[KILN_MAX_RANK];
    const void *data; /* numel(dims) elements of dtype, copied by the loader */
} kiln_onnx_binding;

typedef struct kiln_onnx_options {
    size_t max_const_bytes; /* constants larger than this are refused (0 = default above) */
    const kiln_onnx_binding *bind;
    int32_t n_bind;
} kiln_onnx_options;

/* kiln_load_onnx with options (o may be NULL). */
kiln_status kiln_load_onnx_ex(const char *path, const kiln_onnx_options *o,
                              const kiln_logger *logger, kiln_graph **out);

/* Parses the ModelProto in data[0..size) into a new graph. Every constant is
 * copied, so the buffer may be freed afterwards. `name` is used in messages
 * (and as g->source). o may be NULL. */
kiln_status kiln_load_onnx_buffer(const uint8_t *data, size_t size, const char *name,
                                  const kiln_onnx_options *o, const kiln_logger *logger,
                                  kiln_graph **out);

/* True if the loader maps ONNX op type `op_type` (default domain). */
bool kiln_onnx_op_supported(const char *op_type);

/* NULL-terminated list of the supported op types. */
extern const char *const kiln_onnx_supported_ops[];

#endif
