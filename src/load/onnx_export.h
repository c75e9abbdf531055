/*
 * onnx_export.h — write a kiln_graph as an ONNX ModelProto (ir_version 8,
 * opset 13, producer "kiln") that ONNX Runtime accepts: float32 weights as
 * raw_data initializers, graph inputs/outputs with their shapes and the batch
 * dimension as dim_param "N".
 *
 * Kiln ops without a direct ONNX twin are expanded: Paddle-axis add (B
 * reshaped to broadcast), scale (Mul/Add), range flatten (Reshape), coerced
 * softmax (Flatten + Softmax + Reshape to Shape(X)), matmul trans/alpha
 * (Transpose/Mul), clip bounds as initializers.
 *
 * Non-goals: fake-quant ops (UNSUPPORTED for now; Q/DQ export later),
 * external data, opsets other than 13.
 */
#ifndef KILN_LOAD_ONNX_EXPORT_H
#define KILN_LOAD_ONNX_EXPORT_H

#include "ir/graph.h"
#include "load/pb_write.h"

/* Serialises g into *out (a fresh writer; free it with kiln_pbw_free). */
kiln_status kiln_onnx_export_buffer(const kiln_graph *g, kiln_pbw *out);

/* Writes g to `path` atomically (temp file + rename). */
kiln_status kiln_onnx_export(const kiln_graph *g, const char *path);

#endif
