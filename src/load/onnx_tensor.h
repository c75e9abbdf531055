/*
 * onnx_tensor.h — decode an ONNX TensorProto (dims, data_type, raw_data or
 * the typed float_data/int32_data/int64_data/double_data/uint64_data fields)
 * into a Kiln dtype, shape and little-endian data, and read the standalone
 * TensorProto files of ONNX's backend test data (input_0.pb, output_0.pb).
 *
 * raw_data is borrowed (zero-copy) when the caller allows it and it is
 * aligned for its element type; everything else is decoded into a malloc'ed
 * buffer the caller takes over. Assumes a little-endian host.
 *
 * Non-goals: external data (UNSUPPORTED for now), string/complex tensors,
 * sparse tensors, segments.
 */
#ifndef KILN_LOAD_ONNX_TENSOR_H
#define KILN_LOAD_ONNX_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir/graph.h"
#include "load/pb_wire.h"

/* ONNX TensorProto.DataType values Kiln maps. */
enum {
    KILN_ONNX_FLOAT = 1,
    KILN_ONNX_UINT8 = 2,
    KILN_ONNX_INT8 = 3,
    KILN_ONNX_UINT16 = 4,
    KILN_ONNX_INT16 = 5,
    KILN_ONNX_INT32 = 6,
    KILN_ONNX_INT64 = 7,
    KILN_ONNX_STRING = 8,
    KILN_ONNX_BOOL = 9,
    KILN_ONNX_FLOAT16 = 10,
    KILN_ONNX_DOUBLE = 11,
    KILN_ONNX_UINT32 = 12,
    KILN_ONNX_UINT64 = 13,
};

/* Kiln dtype of an ONNX data type; false if Kiln has none. */
bool kiln_onnx_dtype_from_onnx(int32_t onnx_type, kiln_dtype *out);
/* ONNX data type of a Kiln dtype (0 if none). */
int32_t kiln_onnx_dtype_to_onnx(kiln_dtype t);
/* "FLOAT", "INT64"... or "type N" in a static buffer-free way ("?"). */
const char *kiln_onnx_type_name(int32_t onnx_type);

typedef struct kiln_onnx_tensor {
    const uint8_t *name; /* TensorProto.name, not NUL-terminated (may be NULL) */
    size_t name_len;
    int32_t onnx_type;
    kiln_dtype dtype;
    int32_t rank;
    int64_t dims[KILN_MAX_RANK];
    int64_t numel;
    const void *data; /* numel elements of dtype, little-endian; NULL if numel == 0 */
    size_t nbytes;
    void *owned; /* malloc'ed buffer behind `data` when it was copied, else NULL */
} kiln_onnx_tensor;

/* Decodes the TensorProto in field `f` of cursor `parent` (absolute offsets
 * for messages). `what` names the tensor's role for messages ("initializer",
 * "attribute 'value' of node 'x'"); `path` the file. Refuses tensors whose
 * decoded size exceeds `max_bytes`. If `allow_borrow`, aligned raw_data is
 * returned in place (the buffer must outlive the use of `data`); otherwise
 * or when unaligned it is copied into out->owned. */
kiln_status kiln_onnx_tensor_parse(const kiln_pb *parent, const kiln_pb_field *f, const char *path,
                                   const char *what, size_t max_bytes, bool allow_borrow,
                                   kiln_onnx_tensor *out);

/* Converts n elements of `dtype` at `src` (little-endian, maybe unaligned)
 * to float32. false if the dtype has no float conversion. */
bool kiln_onnx_to_float(kiln_dtype dtype, const void *src, int64_t n, float *dst);

/* Reads a standalone serialized TensorProto file (ONNX backend test data)
 * into a malloc'ed float32 array (*data, free() it), converting int/double/
 * bool/f16 data. *dtype receives the file's own element type. */
kiln_status kiln_onnx_read_tensor_file(const char *path, float **data, int32_t *rank,
                                       int64_t dims[KILN_MAX_RANK], kiln_dtype *dtype);

#endif
