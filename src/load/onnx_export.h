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
 * Fused nodes of a planned graph (conv with bias, residual R and act; gemm and
 * add with act) become Conv/Gemm/Add -> [Add R] -> [Relu|Clip].
 *
 * Q/DQ (options.qdq, for a graph planned with precision INT8, e.g. by
 * kiln_engine_plan): Kiln's INT8 arithmetic (docs/INT8.md) in the form ONNX
 * Runtime turns into QLinearConv / QGemm / QLinearAdd. Every activation an
 * INT8 node reads, and every tensor an INT8 node writes, passes through
 * QuantizeLinear -> DequantizeLinear: zero point u8 0 and scale T/255 (see
 * u8_levels) when the tensor is non-negative by construction (ReLU, clip >= 0,
 * pools of such), else s8 0 and scale T/127. Weights: int8 initializer q = clamp(rint(w * 127 /
 * T_w[c]), -127, 127) + per-channel DequantizeLinear (scale T_w[c]/127). Bias: int32 with scale s_x
 * * s_w[c] (ORT runs a Conv as QLinearConv only with an int32 DQ bias). FP32 nodes stay float. Not
 * bit exact with Kiln: ORT rounds the bias to int32, clamps s8 at -128 (Kiln: -127), u8 tensors
 * have finer steps, and it requantizes in its own order.
 *
 * Non-goals: fake-quant ops (UNSUPPORTED), external data, opsets other than 13.
 */
#ifndef KILN_LOAD_ONNX_EXPORT_H
#define KILN_LOAD_ONNX_EXPORT_H

#include "ir/graph.h"
#include "load/pb_write.h"

typedef struct kiln_onnx_export_options {
    bool qdq; /* INT8 nodes as Q/DQ (see above); fails if no node is INT8 */
    /* Q/DQ: also quantize an INT8 conv's output before its fused residual
     * add (threshold T_y + T_R), so that ORT runs every conv as QLinearConv
     * (it has no int8 conv + sum) and the add as QLinearAdd. Faster in ORT,
     * one more rounding than Kiln's arithmetic. */
    bool split_residual;
    /* Q/DQ: scale of a u8 (non-negative) tensor. 0 or 255: T/255, range
     * [0, T] as Kiln's clamp (and ORT's own quantizer's choice), steps half
     * Kiln's. 127: T/127, Kiln's steps, but ORT then clamps at 2T where Kiln
     * clamps at T. On ResNet50, 255 matches Kiln's logits better (cosine
     * 0.99988 vs 0.99968). */
    int u8_levels;
} kiln_onnx_export_options;

/* Serialises g into *out (a fresh writer; free it with kiln_pbw_free). */
kiln_status kiln_onnx_export_buffer(const kiln_graph *g, kiln_pbw *out);

/* Writes g to `path` atomically (temp file + rename). */
kiln_status kiln_onnx_export(const kiln_graph *g, const char *path);

/* The same with options (NULL: defaults, plain FP32 export). */
kiln_status kiln_onnx_export_buffer_ex(const kiln_graph *g, const kiln_onnx_export_options *o,
                                       kiln_pbw *out);
kiln_status kiln_onnx_export_ex(const kiln_graph *g, const kiln_onnx_export_options *o,
                                const char *path);

#endif
