/*
 * graph.h — Kiln's intermediate representation: values and nodes by id.
 *
 * A graph is a list of values (tensors: name, dtype, shape, optional constant
 * data, optional quantization parameters) and a list of nodes in execution
 * order (op, input/output value ids, typed attributes). Loaders (Paddle,
 * ONNX) produce it, passes rewrite it, backends execute it.
 *
 * Ownership: the graph owns every name, node and value, and every buffer
 * registered with kiln_graph_own() / kiln_graph_alloc() (constant data that
 * loaders decode, mmap'ed files). Constant data may point into an mmap'ed
 * file owned by the graph.
 *
 * Non-goals: pointer webs, per-op structs, dynamic shapes beyond a -1 batch.
 */
#ifndef KILN_IR_GRAPH_H
#define KILN_IR_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

typedef enum kiln_dtype {
    KILN_DT_F32 = 0,
    KILN_DT_F16,
    KILN_DT_F64,
    KILN_DT_I8,
    KILN_DT_U8,
    KILN_DT_I16,
    KILN_DT_I32,
    KILN_DT_I64,
    KILN_DT_BOOL,
    KILN_DT_COUNT
} kiln_dtype;

extern const char *const kiln_dtype_names[KILN_DT_COUNT]; /* "f32", ... */
size_t kiln_dtype_size(kiln_dtype t);

/* Op set. Loaders normalise format-specific ops onto these. */
/* Activation fused into conv / gemm / add by the passes: applied last. */
typedef enum kiln_act {
    KILN_ACT_NONE = 0,
    KILN_ACT_RELU,
    KILN_ACT_CLIP, /* clip(x, attrs.clip_min, attrs.clip_max), e.g. relu6 */
    KILN_ACT_COUNT
} kiln_act;

typedef enum kiln_op {
    KILN_OP_CONV = 0,   /* in: X[N,C,H,W], W[M,C/group,kh,kw], [B[M]], [R[N,M,OH,OW]]
                           out: Y = act(conv(X,W) + B + R); R is the residual the
                           fusion pass folds in (absent from loaders) */
    KILN_OP_BATCH_NORM, /* in: X, scale[C], bias[C], mean[C], var[C]   attr: epsilon */
    KILN_OP_RELU,       /* in: X */
    KILN_OP_CLIP,       /* in: X   attr: clip_min, clip_max (relu6 = clip 0..6) */
    KILN_OP_ADD,        /* in: A, B   Y = act(A + B)   attr: axis (-1: numpy broadcast; >= 0: Paddle
                           elementwise axis: B's dims align with A's from `axis`) */
    KILN_OP_SUM,        /* in: 1..KILN_MAX_IO tensors, numpy broadcast */
    KILN_OP_MAX_POOL,   /* in: X   attr: kernel, strides, pads, dilations, ceil_mode, auto_pad */
    KILN_OP_AVG_POOL, /* as MAX_POOL + count_include_pad (Paddle exclusive = !count_include_pad) */
    KILN_OP_GLOBAL_AVG_POOL, /* in: X[N,C,H,W] out: [N,C,1,1] */
    KILN_OP_GLOBAL_MAX_POOL,
    KILN_OP_MATMUL,   /* in: A, B   numpy matmul (batched, broadcast) + trans_a/trans_b, alpha */
    KILN_OP_GEMM,     /* in: A[M,K] (or [K,M] trans_a), B, [C]  Y = act(alpha*A'B' + beta*C) */
    KILN_OP_SOFTMAX,  /* in: X   attr: axis; coerce_2d (ONNX opset < 13 semantics) */
    KILN_OP_SCALE,    /* in: X   Y = alpha*X + beta (bias_after_scale) or alpha*(X+beta) */
    KILN_OP_FLATTEN,  /* in: X   coerce_2d ? ONNX Flatten(axis) : flatten dims axis..axis_end */
    KILN_OP_RESHAPE,  /* in: X   attr: shape[shape_rank] (0 = copy dim, -1 = infer) */
    KILN_OP_IDENTITY, /* in: X (dropout in inference, ONNX Identity) */
    /* PaddleSlim fake-quant family, with the literal arithmetic of spec §5.1. */
    KILN_OP_FAKE_QUANT, /* in: X, [InScale[1]]  Y = round(clip(X,-T,T)*r/T), T = InScale or max|X|
                         */
    KILN_OP_FAKE_QUANT_DEQUANT,         /* in: X, [InScale[1]]  Y = round(clip(X,-T,T)*r/T)*T/r */
    KILN_OP_FAKE_DEQUANT,               /* in: X, Scale[1]  Y = X*Scale/max_range */
    KILN_OP_FAKE_CHANNEL_DEQUANT,       /* in: X, Scales0[C], [Scales1[1]]  (spec §5.1) */
    KILN_OP_FAKE_CHANNEL_QUANT_DEQUANT, /* in: X  per-channel abs-max along quant_axis */
    KILN_OP_COUNT
} kiln_op;

extern const char *const kiln_op_names[KILN_OP_COUNT]; /* "conv", "batch_norm", ... */

typedef enum kiln_auto_pad {
    KILN_PAD_EXPLICIT = 0, /* use pads[] */
    KILN_PAD_SAME_UPPER,   /* TF "SAME": extra padding at the end (bottom/right) */
    KILN_PAD_SAME_LOWER,
    KILN_PAD_VALID,
    KILN_PAD_COUNT
} kiln_auto_pad;

/* Attributes of every op in one flat struct; each op reads the fields its
 * comment above names. Defaults come from kiln_attrs_default(). */
typedef struct kiln_attrs {
    int64_t kernel[2];    /* kh, kw (pooling; conv takes them from W) */
    int64_t strides[2];   /* sh, sw */
    int64_t dilations[2]; /* dh, dw */
    int64_t pads[4];      /* top, left, bottom, right (ONNX order: begins then ends) */
    int64_t group;
    kiln_auto_pad auto_pad;
    bool ceil_mode;
    bool count_include_pad;
    int64_t axis;     /* add, softmax, flatten start, quant_axis */
    int64_t axis_end; /* flatten: last axis flattened (inclusive), -1 = last */
    bool coerce_2d;   /* softmax/flatten: ONNX opset<13 / ONNX Flatten semantics */
    float alpha, beta;
    bool trans_a, trans_b;
    bool bias_after_scale;
    float clip_min, clip_max;
    float epsilon;
    int32_t shape_rank;
    int64_t shape[KILN_MAX_RANK];
    /* fake-quant */
    int32_t bit_length;   /* 8: r = 2^(bits-1)-1 = 127 */
    float max_range;      /* fake_dequantize_max_abs */
    int32_t round_type;   /* 0: half to even, 1: half away from zero */
    int32_t n_quant_bits; /* fake_channel_wise_dequantize: quant_bits list */
    int32_t quant_bits[2];
    /* Output threshold from the model (Paddle `out_threshold`), 0 = none. */
    float out_threshold;
    /* Fused activation (conv, gemm, add); loaders leave it NONE. */
    kiln_act act;
} kiln_attrs;

kiln_attrs kiln_attrs_default(void);

enum { KILN_MAX_IO = 8 };

#define KILN_NO_VALUE (-1)

typedef struct kiln_node {
    kiln_op op;
    char *name; /* a readable id for messages: source op type + output name */
    int32_t n_inputs, n_outputs;
    int32_t inputs[KILN_MAX_IO]; /* value ids; KILN_NO_VALUE for an absent optional input */
    int32_t outputs[KILN_MAX_IO];
    kiln_attrs attrs;
    /* Set by the precision pass: INT8 when every activation it reads and
     * writes has a threshold (quant.threshold) and the op has an INT8 form;
     * otherwise FP32, with a static reason when INT8 was asked for. */
    kiln_precision precision;
    const char *precision_reason;
} kiln_node;

/* Quantization parameters of a value (see ARCHITECTURE.md: symmetric INT8,
 * activation scale T/127, weights per output channel). */
typedef struct kiln_quant {
    float threshold;           /* per-tensor |x| threshold T; 0 = none */
    int32_t n_channels;        /* per-channel weight thresholds (0 = none) */
    float *channel_thresholds; /* owned by the graph */
} kiln_quant;

enum {
    KILN_VALUE_INPUT = 1u << 0,  /* a graph input (fed by the user) */
    KILN_VALUE_OUTPUT = 1u << 1, /* a graph output */
};

typedef struct kiln_value {
    char *name;
    kiln_dtype dtype;
    int32_t rank;
    int64_t dims[KILN_MAX_RANK]; /* -1 = unknown until build (the batch) */
    const void *data;            /* constant data (weights) or NULL */
    size_t nbytes;               /* bytes of data when constant */
    uint32_t flags;
    int32_t producer; /* node id writing it, or -1 */
    kiln_quant quant;
} kiln_value;

typedef struct kiln_graph {
    kiln_value *values;
    int32_t n_values, cap_values;
    kiln_node *nodes;
    int32_t n_nodes, cap_nodes;
    int32_t *inputs; /* value ids, in the model's input order */
    int32_t n_inputs;
    int32_t *outputs; /* value ids, in the model's output order */
    int32_t n_outputs;
    kiln_model_format format;
    char *format_version; /* e.g. "paddle program version 2002000", "onnx ir 7 opset 13" */
    char *source;         /* path the graph was loaded from, for messages */
    /* owned resources */
    void **owned;
    int32_t n_owned, cap_owned;
    struct kiln_mapping *mappings; /* mmap'ed files (core/file.h) */
    int32_t n_mappings, cap_mappings;
} kiln_graph;

kiln_status kiln_graph_create(kiln_graph **out);
void kiln_graph_destroy(kiln_graph *g);

/* Adds a value named `name` (copied); returns its id in *id. Names need not
 * be unique for anonymous values but kiln_graph_find_value returns the last
 * one added with a name. */
kiln_status kiln_graph_add_value(kiln_graph *g, const char *name, kiln_dtype dtype, int32_t rank,
                                 const int64_t *dims, int32_t *id);
/* Id of the value named `name`, or -1. */
int32_t kiln_graph_find_value(const kiln_graph *g, const char *name);

/* Adds a node; copies name; sets producer of outputs. *id may be NULL. */
kiln_status kiln_graph_add_node(kiln_graph *g, kiln_op op, const char *name, int32_t n_inputs,
                                const int32_t *inputs, int32_t n_outputs, const int32_t *outputs,
                                const kiln_attrs *attrs, int32_t *id);

/* Graph inputs/outputs. */
kiln_status kiln_graph_add_input(kiln_graph *g, int32_t value);
kiln_status kiln_graph_add_output(kiln_graph *g, int32_t value);

/* Allocates `n` zeroed bytes owned by the graph (freed with it). */
void *kiln_graph_alloc(kiln_graph *g, size_t n);
/* Takes ownership of a malloc'ed pointer. On failure frees it. */
kiln_status kiln_graph_own(kiln_graph *g, void *p);
/* Copies `s` into graph-owned memory. */
char *kiln_graph_strdup(kiln_graph *g, const char *s);
/* Takes ownership of a mapping (core/file.h). */
kiln_status kiln_graph_own_mapping(kiln_graph *g, const struct kiln_mapping *m);

/* Sets constant data for value `id` (borrowed from graph-owned memory). */
void kiln_graph_set_const(kiln_graph *g, int32_t id, const void *data, size_t nbytes);

/* Number of elements of a fully known shape; -1 if any dim is unknown. */
int64_t kiln_numel(int32_t rank, const int64_t *dims);

/* "[1,3,224,224]" into buf. */
const char *kiln_shape_str(int32_t rank, const int64_t *dims, char *buf, size_t n);

/* Shape inference for node `id` from its inputs' shapes (ir/shape.c): fills
 * dtype/rank/dims of its outputs. Fails with a message naming the node. */
kiln_status kiln_infer_node(kiln_graph *g, int32_t id);
/* Infers every node in order. */
kiln_status kiln_infer_shapes(kiln_graph *g);

/* Deep copy (constant data stays shared: the copy borrows the source's
 * buffers, so the source must outlive it). */
kiln_status kiln_graph_clone(const kiln_graph *src, kiln_graph **out);

/* Verifier: ids in range, every non-constant input produced before use or a
 * graph input, outputs produced. */
kiln_status kiln_graph_verify(const kiln_graph *g);

#endif
