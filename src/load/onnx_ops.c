/*
 * onnx_ops.c — maps one ONNX node (default domain, opsets 9..17) onto the
 * Kiln op set of ir/graph.h: Conv, BatchNormalization, Relu, Clip, Add, Sum,
 * MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, Gemm, MatMul,
 * Softmax, Flatten, Reshape, Dropout, Identity; Constant and ConstantOfShape
 * become constant values (no node).
 *
 * Inputs that Kiln takes as attributes (Reshape's shape, Clip's min/max,
 * ConstantOfShape's shape) must be constants: initializers or outputs of
 * Constant/ConstantOfShape nodes.
 *
 * Non-goals: 1-D/3-D spatial ops, training-mode outputs, shape-computing
 * subgraphs (Shape/Gather/Concat/Unsqueeze), custom domains.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load/onnx.h"
#include "load/onnx_internal.h"

#define SPN(s) (int)((s).n > 200 ? 200 : (s).n), ((s).p ? (const char *)(s).p : "")

typedef struct lowered {
    kiln_op op;
    kiln_attrs a;
    int32_t n_in;
    int32_t in[KILN_MAX_IO];
    bool done; /* the mapper produced its output as a constant value itself */
} lowered;

/* ---- small helpers ---------------------------------------------------------- */

static kiln_status need_inputs(kiln_onnx_ctx *c, int32_t lo, int32_t hi) {
    if (c->node.n_in < lo || c->node.n_in > hi)
        return kiln_onnx_node_error(c, KILN_ERR_FORMAT, "has %d inputs, expected %d..%d",
                                    (int)c->node.n_in, (int)lo, (int)hi);
    return KILN_OK;
}

/* Outputs from index `keep` on must be absent (empty names). */
static kiln_status only_outputs(kiln_onnx_ctx *c, int32_t keep, const char *why) {
    for (int32_t i = keep; i < c->node.n_out; i++)
        if (c->node.out[i].n)
            return kiln_onnx_node_error(c, KILN_ERR_UNSUPPORTED,
                                        "output %d '%.*s' is not "
                                        "supported: %s",
                                        (int)i, SPN(c->node.out[i]), why);
    return KILN_OK;
}

static const kiln_value *val(const kiln_onnx_ctx *c, int32_t id) {
    return &c->g->values[id];
}

/* A value whose shape the loader already knows (constant or graph input). */
static bool rank_known(const kiln_onnx_ctx *c, int32_t id) {
    const kiln_value *v = val(c, id);
    return v->data || (v->flags & KILN_VALUE_INPUT);
}

static kiln_status need_const(kiln_onnx_ctx *c, int32_t id, const char *what) {
    if (id == KILN_NO_VALUE || !val(c, id)->data)
        return kiln_onnx_node_error(c, KILN_ERR_UNSUPPORTED,
                                    "%s '%s' must be a constant (an initializer or a Constant "
                                    "node's output); computed %s inputs are not supported",
                                    what, id == KILN_NO_VALUE ? "" : val(c, id)->name, what);
    return KILN_OK;
}

/* Integer constant (int64/int32) as int64 values; at most `max`. */
static kiln_status const_ints(kiln_onnx_ctx *c, int32_t id, const char *what, int64_t *out,
                              int32_t max, int32_t *n) {
    KILN_TRY(need_const(c, id, what));
    const kiln_value *v = val(c, id);
    int64_t cnt = kiln_numel(v->rank, v->dims);
    if (v->dtype != KILN_DT_I64 && v->dtype != KILN_DT_I32)
        return kiln_onnx_node_error(c, KILN_ERR_FORMAT, "%s '%s' has type %s, expected int64", what,
                                    v->name, kiln_dtype_names[v->dtype]);
    if (v->rank > 1)
        return kiln_onnx_node_error(c, KILN_ERR_FORMAT, "%s '%s' must be 1-D (rank %d)", what,
                                    v->name, (int)v->rank);
    if (cnt < 0 || cnt > max)
        return kiln_onnx_node_error(c, KILN_ERR_UNSUPPORTED, "%s '%s' has %lld values (max %d)",
                                    what, v->name, (long long)cnt, (int)max);
    size_t es = kiln_dtype_size(v->dtype);
    if (v->nbytes < (size_t)cnt * es)
        return kiln_onnx_node_error(c, KILN_ERR_INTERNAL, "%s '%s': short constant", what, v->name);
    for (int64_t i = 0; i < cnt; i++) {
        if (es == 8) {
            memcpy(&out[i], (const uint8_t *)v->data + 8 * i, 8);
        } else {
            int32_t x;
            memcpy(&x, (const uint8_t *)v->data + 4 * i, 4);
            out[i] = x;
        }
    }
    *n = (int32_t)cnt;
    return KILN_OK;
}

/* A one-element numeric constant as float. */
static kiln_status const_scalar(kiln_onnx_ctx *c, int32_t id, const char *what, float *out) {
    KILN_TRY(need_const(c, id, what));
    const kiln_value *v = val(c, id);
    if (kiln_numel(v->rank, v->dims) != 1 || v->nbytes < kiln_dtype_size(v->dtype))
        return kiln_onnx_node_error(c, KILN_ERR_FORMAT, "%s '%s' must hold exactly one value", what,
                                    v->name);
    if (!kiln_onnx_to_float(v->dtype, v->data, 1, out))
        return kiln_onnx_node_error(c, KILN_ERR_UNSUPPORTED, "%s '%s' has type %s", what, v->name,
                                    kiln_dtype_names[v->dtype]);
    return KILN_OK;
}

/* Reads 2 values of an optional INTS attribute (absent: `def`), each >= lo. */
static kiln_status attr_pair(kiln_onnx_ctx *c, const char *name, int64_t def, int64_t lo,
                             int64_t *out, bool *present) {
    int64_t v[KILN_MAX_RANK];
    int32_t n;
    KILN_TRY(kiln_onnx_attr_ints(c, name, v, KILN_MAX_RANK, &n));
    if (present) *present = n >= 0;
    if (n < 0) {
        out[0] = out[1] = def;
        return KILN_OK;
    }
    if (n != 2)
        return kiln_onnx_node_error(c, KILN_ERR_UNSUPPORTED,
                                    "attribute '%s' has %d values: only 2-D (NCHW) spatial ops "
                                    "are supported",
                                    name, (int)n);
    for (int i = 0; i < 2; i++) {
        if (v[i] < lo)
            return kiln_onnx_node_error(c, KILN_ERR_FORMAT, "attribute '%s'[%d] = %lld < %lld",
                                        name, i, (long long)v[i], (long long)lo);
        out[i] = v[i];
    }
    return KILN_OK;
}

/* kernel_shape, strides, dilations, pads, auto_pad of Conv and the pools. */
static kiln_status spatial_attrs(kiln_onnx_ctx *c, kiln_attrs *a, bool need_kernel) {
    bool has_kernel;
    KILN_TRY(attr_pair(c, "kernel_shape", 0, 1, a->kernel, &has_kernel));
    if (need_kernel && !has_kernel)
        return kiln_onnx_node_error(c, KILN_ERR_FORMAT, "missing attribute 'kernel_shape'");
    KILN_TRY(attr_pair(c, "strides", 1, 1, a->strides, NULL));
    KILN_TRY(attr_pair(c, "dilations", 1, 1, a->dilations, NULL));
    int64_t p[KILN_MAX_RANK];
    int32_t n;
    KILN_TRY(kiln_onnx_attr_ints(c, "pads", p, KILN_MAX_RANK, &n));
    if (n >= 0) {
        if (n != 4)
            return kiln_onnx_node_error(c, KILN_ERR_UNSUPPORTED,
                                        "attribute 'pads' has %d values: only 2-D (NCHW) "
                                        "spatial ops are supported",
                                        (int)n);
        /* ONNX [x1_begin, x2_begin, x1_end, x2_end] = Kiln top, left, bottom, right. */
        for (int i = 0; i < 4; i++) {
            if (p[i] < 0)
                return kiln_onnx_node_error(c, KILN_ERR_UNSUPPORTED,
                                            "negative pads (%lld) are not supported",
                                            (long long)p[i]);
            a->pads[i] = p[i];
        }
    }
    kiln_onnx_span s;
    bool found;
    KILN_TRY(kiln_onnx_attr_string(c, "auto_pad", &s, &found));
    a->auto_pad = KILN_PAD_EXPLICIT;
    if (found && s.n && !(s.n == 6 && memcmp(s.p, "NOTSET", 6) == 0)) {
        if (s.n == 10 && memcmp(s.p, "SAME_UPPER", 10) == 0)
            a->auto_pad = KILN_PAD_SAME_UPPER;
        else if (s.n == 10 && memcmp(s.p, "SAME_LOWER", 10) == 0)
            a->auto_pad = KILN_PAD_SAME_LOWER;
        else if (s.n == 5 && memcmp(s.p, "VALID", 5) == 0)
            a->auto_pad = KILN_PAD_VALID;
        else
            return kiln_onnx_node_error(c, KILN_ERR_FORMAT, "unknown auto_pad '%.*s'", SPN(s));
        for (int i = 0; i < 4; i++)
            a->pads[i] = 0;
    }
    return KILN_OK;
}

static kiln_status need_rank4(kiln_onnx_ctx *c, int32_t id, const char *what) {
    if (id != KILN_NO_VALUE && rank_known(c, id) && val(c, id)->rank != 4)
        return kiln_onnx_node_error(c, KILN_ERR_UNSUPPORTED,
                                    "%s '%s' has rank %d: only 2-D (NCHW, rank 4) spatial ops "
                                    "are supported",
                                    what, val(c, id)->name, (int)val(c, id)->rank);
    return KILN_OK;
}

/* ---- the mappers ------------------------------------------------------------- */

static kiln_status map_conv(kiln_onnx_ctx *c, lowered *L) {
    KILN_TRY(need_inputs(c, 2, 3));
    L->op = KILN_OP_CONV;
    int32_t x, w, b;
    KILN_TRY(kiln_onnx_input_req(c, 0, "X", &x));
    KILN_TRY(kiln_onnx_input_req(c, 1, "W", &w));
    KILN_TRY(kiln_onnx_input(c, 2, &b));
    KILN_TRY(need_rank4(c, x, "input X"));
    KILN_TRY(need_rank4(c, w, "weight W"));
    KILN_TRY(spatial_attrs(c, &L->a, false));
    int64_t g;
    KILN_TRY(kiln_onnx_attr_int(c, "group", 1, &g));
    if (g < 1) return kiln_onnx_node_error(c, KILN_ERR_FORMAT, "group %lld < 1", (long long)g);
    L->a.group = g;
    if (kiln_onnx_attr_get(c, "kernel_shape") && rank_known(c, w)) {
        const kiln_value *W = val(c, w);
        if ((W->dims[2] >= 0 && W->dims[2] != L->a.kernel[0]) ||
            (W->dims[3] >= 0 && W->dims[3] != L->a.kernel[1]))
            return kiln_onnx_node_error(c, KILN_ERR_SHAPE,
                                        "kernel_shape [%lld,%lld] disagrees with W '%s' "
                                        "[..,%lld,%lld]",
                                        (long long)L->a.kernel[0], (long long)L->a.kernel[1],
                                        W->name, (long long)W->dims[2], (long long)W->dims[3]);
    }
    L->in[0] = x;
    L->in[1] = w;
    L->n_in = 2;
    if (b != KILN_NO_VALUE) L->in[L->n_in++] = b;
    return only_outputs(c, 1, "Conv has one output");
}

static kiln_status map_pool(kiln_onnx_ctx *c, lowered *L, bool is_max) {
    KILN_TRY(need_inputs(c, 1, 1));
    L->op = is_max ? KILN_OP_MAX_POOL : KILN_OP_AVG_POOL;
    KILN_TRY(kiln_onnx_input_req(c, 0, "X", &L->in[0]));
    L->n_in = 1;
    KILN_TRY(need_rank4(c, L->in[0], "input X"));
    KILN_TRY(spatial_attrs(c, &L->a, true));
    int64_t v;
    KILN_TRY(kiln_onnx_attr_int(c, "ceil_mode", 0, &v));
    L->a.ceil_mode = v != 0;
    if (is_max) {
        /* storage_order only changes the Indices output, which Kiln does not make. */
        return kiln_onnx_ignore_outputs(c, 1, "MaxPool's Indices output is not supported");
    }
    KILN_TRY(kiln_onnx_attr_int(c, "count_include_pad", 0, &v));
    L->a.count_include_pad = v != 0;
    return only_outputs(c, 1, "AveragePool has one output");
}

static kiln_status map_maxpool(kiln_onnx_ctx *c, lowered *L) {
    return map_pool(c, L, true);
}
static kiln_status map_avgpool(kiln_onnx_ctx *c, lowered *L) {
    return map_pool(c, L, false);
}

static kiln_status map_unary(kiln_onnx_ctx *c, lowered *L, kiln_op op) {
    KILN_TRY(need_inputs(c, 1, 1));
    L->op = op;
    KILN_TRY(kiln_onnx_input_req(c, 0, "X", &L->in[0]));
    L->n_in = 1;
    return only_outputs(c, 1, "the op has one output");
}

static kiln_status map_global_avg(kiln_onnx_ctx *c, lowered *L) {
    KILN_TRY(map_unary(c, L, KILN_OP_GLOBAL_AVG_POOL));
    return need_rank4(c, L->in[0], "input X");
}

static kiln_status map_global_max(kiln_onnx_ctx *c, lowered *L) {
    KILN_TRY(map_unary(c, L, KILN_OP_GLOBAL_MAX_POOL));
    return need_rank4(c, L->in[0], "input X");
}

static kiln_status map_relu(kiln_onnx_ctx *c, lowered *L) {
    return map_unary(c, L, KILN_OP_RELU);
}

static kiln_status map_identity(kiln_onnx_ctx *c, lowered *L) {
    return map_unary(c, L, KILN_OP_IDENTITY);
}

static kiln_status map_batchnorm(kiln_onnx_ctx *c, lowered *L) {
    KILN_TRY(need_inputs(c, 5, 5));
    L->op = KILN_OP_BATCH_NORM;
    static const char *const what[5] = {"X", "scale", "B", "input_mean", "input_var"};
    for (int i = 0; i < 5; i++)
        KILN_TRY(kiln_onnx_input_req(c, i, what[i], &L->in[i]));
    L->n_in = 5;
    KILN_TRY(kiln_onnx_attr_float(c, "epsilon", 1e-5f, &L->a.epsilon));
    int64_t v;
    KILN_TRY(kiln_onnx_attr_int(c, "training_mode", 0, &v));
    if (v)
        return kiln_onnx_node_error(c, KILN_ERR_UNSUPPORTED,
                                    "training_mode=1 (batch statistics) is not supported; "
                                    "export the model in eval mode");
    KILN_TRY(kiln_onnx_attr_int(c, "spatial", 1, &v));
    if (!v)
        return kiln_onnx_node_error(c, KILN_ERR_UNSUPPORTED,
                                    "spatial=0 (per-activation statistics) is not supported");
    /* Outputs 1..4 (running/saved mean and var) exist only in training. */
    return kiln_onnx_ignore_outputs(c, 1,
                                    "BatchNormalization's training outputs (running and "
                                    "saved mean/variance) are not supported");
}

static kiln_status map_clip(kiln_onnx_ctx *c, lowered *L) {
    L->op = KILN_OP_CLIP;
    if (c->opset < 11) {
        KILN_TRY(need_inputs(c, 1, 1));
        KILN_TRY(kiln_onnx_attr_float(c, "min", L->a.clip_min, &L->a.clip_min));
        KILN_TRY(kiln_onnx_attr_float(c, "max", L->a.clip_max, &L->a.clip_max));
    } else {
        KILN_TRY(need_inputs(c, 1, 3));
        int32_t lo, hi;
        KILN_TRY(kiln_onnx_input(c, 1, &lo));
        KILN_TRY(kiln_onnx_input(c, 2, &hi));
        if (lo != KILN_NO_VALUE) KILN_TRY(const_scalar(c, lo, "Clip min", &L->a.clip_min));
        if (hi != KILN_NO_VALUE) KILN_TRY(const_scalar(c, hi, "Clip max", &L->a.clip_max));
    }
    KILN_TRY(kiln_onnx_input_req(c, 0, "input", &L->in[0]));
    L->n_in = 1;
    return only_outputs(c, 1, "Clip has one output");
}

static kiln_status map_add(kiln_onnx_ctx *c, lowered *L) {
    KILN_TRY(need_inputs(c, 2, 2));
    L->op = KILN_OP_ADD;
    L->a.axis = -1; /* numpy broadcasting */
    KILN_TRY(kiln_onnx_input_req(c, 0, "A", &L->in[0]));
    KILN_TRY(kiln_onnx_input_req(c, 1, "B", &L->in[1]));
    L->n_in = 2;
    if (c->opset < 7) {
        /* Add-6: broadcast=1 with `axis` aligns B's dims with A's from axis (Kiln's
         * Paddle-style add); without axis B is a suffix of A (numpy-compatible). */
        int64_t bc, axis;
        KILN_TRY(kiln_onnx_attr_int(c, "broadcast", 0, &bc));
        KILN_TRY(kiln_onnx_attr_int(c, "axis", -1, &axis));
        if (bc && kiln_onnx_attr_get(c, "axis")) {
            if (axis < 0 && rank_known(c, L->in[0])) axis += val(c, L->in[0])->rank;
            if (axis < 0)
                return kiln_onnx_node_error(c, KILN_ERR_UNSUPPORTED,
                                            "legacy broadcast axis %lld with an unknown input "
                                            "rank",
                                            (long long)axis);
            L->a.axis = axis;
        }
    }
    return only_outputs(c, 1, "Add has one output");
}

static kiln_status map_sum(kiln_onnx_ctx *c, lowered *L) {
    if (c->node.n_in > KILN_MAX_IO)
        return kiln_onnx_node_error(c, KILN_ERR_UNSUPPORTED, "Sum of %d inputs (max %d)",
                                    (int)c->node.n_in, KILN_MAX_IO);
    KILN_TRY(need_inputs(c, 1, KILN_MAX_IO));
    L->op = KILN_OP_SUM;
    for (int32_t i = 0; i < c->node.n_in; i++)
        KILN_TRY(kiln_onnx_input_req(c, i, "data", &L->in[i]));
    L->n_in = c->node.n_in;
    return only_outputs(c, 1, "Sum has one output");
}

static kiln_status map_gemm(kiln_onnx_ctx *c, lowered *L) {
    KILN_TRY(need_inputs(c, 2, 3));
    L->op = KILN_OP_GEMM;
    KILN_TRY(kiln_onnx_input_req(c, 0, "A", &L->in[0]));
    KILN_TRY(kiln_onnx_input_req(c, 1, "B", &L->in[1]));
    int32_t cc;
    KILN_TRY(kiln_onnx_input(c, 2, &cc));
    L->n_in = 2;
    if (cc != KILN_NO_VALUE) L->in[L->n_in++] = cc;
    int64_t ta, tb;
    KILN_TRY(kiln_onnx_attr_float(c, "alpha", 1.0f, &L->a.alpha));
    KILN_TRY(kiln_onnx_attr_float(c, "beta", 1.0f, &L->a.beta));
    KILN_TRY(kiln_onnx_attr_int(c, "transA", 0, &ta));
    KILN_TRY(kiln_onnx_attr_int(c, "transB", 0, &tb));
    L->a.trans_a = ta != 0;
    L->a.trans_b = tb != 0;
    return only_outputs(c, 1, "Gemm has one output");
}

static kiln_status map_matmul(kiln_onnx_ctx *c, lowered *L) {
    KILN_TRY(need_inputs(c, 2, 2));
    L->op = KILN_OP_MATMUL;
    KILN_TRY(kiln_onnx_input_req(c, 0, "A", &L->in[0]));
    KILN_TRY(kiln_onnx_input_req(c, 1, "B", &L->in[1]));
    L->n_in = 2;
    return only_outputs(c, 1, "MatMul has one output");
}

static kiln_status map_softmax(kiln_onnx_ctx *c, lowered *L) {
    KILN_TRY(map_unary(c, L, KILN_OP_SOFTMAX));
    /* Opset < 13: the input is coerced to 2-D at `axis` (default 1); from 13
     * softmax runs along one axis (default -1). */
    L->a.coerce_2d = c->opset < 13;
    return kiln_onnx_attr_int(c, "axis", c->opset < 13 ? 1 : -1, &L->a.axis);
}

static kiln_status map_flatten(kiln_onnx_ctx *c, lowered *L) {
    KILN_TRY(map_unary(c, L, KILN_OP_FLATTEN));
    L->a.coerce_2d = true;
    return kiln_onnx_attr_int(c, "axis", 1, &L->a.axis);
}

static kiln_status map_reshape(kiln_onnx_ctx *c, lowered *L) {
    L->op = KILN_OP_RESHAPE;
    int32_t sid, n;
    if (c->opset < 5) { /* Reshape-1: the shape is an attribute */
        KILN_TRY(need_inputs(c, 1, 1));
        KILN_TRY(kiln_onnx_attr_ints(c, "shape", L->a.shape, KILN_MAX_RANK, &n));
        if (n < 0) return kiln_onnx_node_error(c, KILN_ERR_FORMAT, "missing attribute 'shape'");
    } else {
        KILN_TRY(need_inputs(c, 2, 2));
        KILN_TRY(kiln_onnx_input_req(c, 1, "shape", &sid));
        KILN_TRY(const_ints(c, sid, "Reshape shape", L->a.shape, KILN_MAX_RANK, &n));
    }
    KILN_TRY(kiln_onnx_input_req(c, 0, "data", &L->in[0]));
    L->n_in = 1;
    L->a.shape_rank = n;
    int64_t allowzero;
    KILN_TRY(kiln_onnx_attr_int(c, "allowzero", 0, &allowzero));
    int infer = 0;
    for (int32_t i = 0; i < n; i++) {
        if (L->a.shape[i] == 0 && allowzero)
            return kiln_onnx_node_error(c, KILN_ERR_UNSUPPORTED,
                                        "allowzero=1 with a 0 in the shape (an empty tensor) is "
                                        "not supported");
        if (L->a.shape[i] < -1)
            return kiln_onnx_node_error(c, KILN_ERR_FORMAT, "shape[%d] = %lld is invalid", (int)i,
                                        (long long)L->a.shape[i]);
        if (L->a.shape[i] == -1 && infer++)
            return kiln_onnx_node_error(c, KILN_ERR_FORMAT, "shape has more than one -1");
    }
    return only_outputs(c, 1, "Reshape has one output");
}

static kiln_status map_dropout(kiln_onnx_ctx *c, lowered *L) {
    KILN_TRY(need_inputs(c, 1, 3));
    L->op = KILN_OP_IDENTITY;
    KILN_TRY(kiln_onnx_input_req(c, 0, "data", &L->in[0]));
    L->n_in = 1;
    int32_t ratio_id, train_id;
    KILN_TRY(kiln_onnx_input(c, 1, &ratio_id));
    KILN_TRY(kiln_onnx_input(c, 2, &train_id));
    if (train_id != KILN_NO_VALUE) {
        /* Opset 12+: training_mode=true drops at random unless ratio is 0. */
        float train, ratio = 0.5f;
        KILN_TRY(const_scalar(c, train_id, "Dropout training_mode", &train));
        if (ratio_id != KILN_NO_VALUE) KILN_TRY(const_scalar(c, ratio_id, "Dropout ratio", &ratio));
        if (train != 0 && ratio != 0)
            return kiln_onnx_node_error(c, KILN_ERR_UNSUPPORTED,
                                        "training_mode=true with ratio %g drops values at random; "
                                        "only inference (identity) is supported",
                                        (double)ratio);
    }
    /* The mask (all true in inference) is only an error if something reads it. */
    return kiln_onnx_ignore_outputs(c, 1, "Dropout's mask output is not supported");
}

/* ---- constants ------------------------------------------------------------- */

typedef struct fill_acc {
    uint8_t *dst; /* NULL: count only */
    int64_t n;
    int is_float;
} fill_acc;

static int fill_cb(void *user, uint64_t bits) {
    fill_acc *a = user;
    if (a->dst) {
        if (a->is_float) {
            uint32_t u = (uint32_t)bits;
            memcpy(a->dst + 4 * a->n, &u, 4);
        } else {
            memcpy(a->dst + 8 * a->n, &bits, 8);
        }
    }
    a->n++;
    return 0;
}

/* value_floats / value_ints of a Constant node into a new 1-D constant. */
static kiln_status const_list(kiln_onnx_ctx *c, const kiln_onnx_attr *at, bool is_float) {
    uint32_t field = is_float ? 7 : 8;
    int wire = is_float ? KILN_PB_FIXED32 : KILN_PB_VARINT;
    fill_acc acc = {NULL, 0, is_float};
    for (int pass = 0; pass < 2; pass++) {
        kiln_pb m = kiln_pb_sub(&c->node.msg, &at->self);
        kiln_pb_field f;
        while (kiln_pb_next(&m, &f) == 1)
            if (f.number == field && kiln_pb_repeated(&m, &f, wire, fill_cb, &acc) != 0) break;
        if (m.error)
            return kiln_error(KILN_ERR_FORMAT, "%s: offset %zu: %s: %s", c->path, m.error_offset,
                              c->node.label, m.error);
        if (pass == 0) {
            size_t es = is_float ? 4 : 8;
            acc.dst = kiln_graph_alloc(c->g, (size_t)acc.n * es);
            if (!acc.dst) return kiln_error(KILN_ERR_NO_MEMORY, "%s: out of memory", c->path);
            int64_t dims[1] = {acc.n};
            int32_t id;
            KILN_TRY(kiln_onnx_new_value(c, c->node.out[0], is_float ? KILN_DT_F32 : KILN_DT_I64, 1,
                                         dims, &id));
            kiln_graph_set_const(c->g, id, acc.dst, (size_t)acc.n * es);
            acc.n = 0;
        }
    }
    return KILN_OK;
}

static kiln_status const_scalar_value(kiln_onnx_ctx *c, kiln_dtype dt, const void *bits) {
    size_t es = kiln_dtype_size(dt);
    void *p = kiln_graph_alloc(c->g, es);
    if (!p) return kiln_error(KILN_ERR_NO_MEMORY, "%s: out of memory", c->path);
    memcpy(p, bits, es);
    int32_t id;
    KILN_TRY(kiln_onnx_new_value(c, c->node.out[0], dt, 0, NULL, &id));
    kiln_graph_set_const(c->g, id, p, es);
    return KILN_OK;
}

static kiln_status map_constant(kiln_onnx_ctx *c, lowered *L) {
    KILN_TRY(need_inputs(c, 0, 0));
    if (c->node.n_out < 1 || c->node.out[0].n == 0)
        return kiln_onnx_node_error(c, KILN_ERR_FORMAT, "Constant has no output");
    KILN_TRY(only_outputs(c, 1, "Constant has one output"));
    L->done = true;
    if (c->node.n_attrs != 1)
        return kiln_onnx_node_error(c, KILN_ERR_FORMAT,
                                    "Constant needs exactly one attribute, has %d",
                                    (int)c->node.n_attrs);
    const kiln_onnx_attr *a = &c->node.attrs[0];
    if (a->name.n == 5 && memcmp(a->name.p, "value", 5) == 0) {
        if (!a->has_t) return kiln_onnx_node_error(c, KILN_ERR_FORMAT, "'value' is not a tensor");
        kiln_onnx_tensor t;
        KILN_TRY(kiln_onnx_tensor_parse(&c->node.msg, &a->t, c->path, c->node.label, c->max_const,
                                        c->borrow, &t));
        if (t.owned) KILN_TRY(kiln_graph_own(c->g, t.owned));
        const void *data = t.data;
        if (!data) data = kiln_graph_alloc(c->g, 1); /* empty tensor: still constant */
        if (!data) return kiln_error(KILN_ERR_NO_MEMORY, "%s: out of memory", c->path);
        int32_t id;
        KILN_TRY(kiln_onnx_new_value(c, c->node.out[0], t.dtype, t.rank, t.dims, &id));
        kiln_graph_set_const(c->g, id, data, t.nbytes);
        return KILN_OK;
    }
    if (a->name.n == 11 && memcmp(a->name.p, "value_float", 11) == 0 && a->has_f)
        return const_scalar_value(c, KILN_DT_F32, &a->f);
    if (a->name.n == 9 && memcmp(a->name.p, "value_int", 9) == 0 && a->has_i)
        return const_scalar_value(c, KILN_DT_I64, &a->i);
    if (a->name.n == 12 && memcmp(a->name.p, "value_floats", 12) == 0)
        return const_list(c, a, true);
    if (a->name.n == 10 && memcmp(a->name.p, "value_ints", 10) == 0) return const_list(c, a, false);
    return kiln_onnx_node_error(c, KILN_ERR_UNSUPPORTED,
                                "Constant attribute '%.*s' is not supported (value, value_float, "
                                "value_floats, value_int, value_ints are)",
                                SPN(a->name));
}

static kiln_status map_constant_of_shape(kiln_onnx_ctx *c, lowered *L) {
    KILN_TRY(need_inputs(c, 1, 1));
    if (c->node.n_out < 1 || c->node.out[0].n == 0)
        return kiln_onnx_node_error(c, KILN_ERR_FORMAT, "ConstantOfShape has no output");
    KILN_TRY(only_outputs(c, 1, "ConstantOfShape has one output"));
    L->done = true;
    int32_t sid, rank;
    int64_t dims[KILN_MAX_RANK];
    KILN_TRY(kiln_onnx_input_req(c, 0, "input", &sid));
    KILN_TRY(const_ints(c, sid, "ConstantOfShape shape", dims, KILN_MAX_RANK, &rank));
    int64_t numel = 1;
    for (int32_t i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return kiln_onnx_node_error(c, KILN_ERR_FORMAT, "shape[%d] = %lld is negative", (int)i,
                                        (long long)dims[i]);
        if (dims[i] && numel > INT64_MAX / dims[i])
            return kiln_onnx_node_error(c, KILN_ERR_FORMAT, "shape overflows");
        numel *= dims[i];
    }
    kiln_dtype dt = KILN_DT_F32;
    uint8_t elem[8] = {0};
    const kiln_onnx_attr *a = kiln_onnx_attr_get(c, "value");
    if (a) {
        if (!a->has_t) return kiln_onnx_node_error(c, KILN_ERR_FORMAT, "'value' is not a tensor");
        kiln_onnx_tensor t;
        KILN_TRY(
            kiln_onnx_tensor_parse(&c->node.msg, &a->t, c->path, c->node.label, 64, false, &t));
        if (t.numel != 1) {
            free(t.owned);
            return kiln_onnx_node_error(
                c, KILN_ERR_FORMAT, "'value' must hold one element, has %lld", (long long)t.numel);
        }
        dt = t.dtype;
        memcpy(elem, t.data, kiln_dtype_size(dt));
        free(t.owned);
    }
    size_t es = kiln_dtype_size(dt);
    if ((uint64_t)numel > c->max_const / es)
        return kiln_onnx_node_error(c, KILN_ERR_UNSUPPORTED,
                                    "the constant has %lld elements, over the limit of %zu bytes",
                                    (long long)numel, c->max_const);
    size_t nbytes = (size_t)numel * es;
    uint8_t *p = kiln_graph_alloc(c->g, nbytes);
    if (!p)
        return kiln_onnx_node_error(c, KILN_ERR_NO_MEMORY, "out of memory for %zu bytes", nbytes);
    if (nbytes) {
        memcpy(p, elem, es);
        for (size_t done = es; done < nbytes;) { /* doubling fill */
            size_t k = done < nbytes - done ? done : nbytes - done;
            memcpy(p + done, p, k);
            done += k;
        }
    }
    int32_t id;
    KILN_TRY(kiln_onnx_new_value(c, c->node.out[0], dt, rank, dims, &id));
    kiln_graph_set_const(c->g, id, p, nbytes);
    return KILN_OK;
}

/* ---- dispatch ---------------------------------------------------------------- */

typedef kiln_status (*mapper_fn)(kiln_onnx_ctx *c, lowered *L);

static const struct {
    const char *op;
    mapper_fn fn;
} mappers[] = {
    {"Conv", map_conv},
    {"BatchNormalization", map_batchnorm},
    {"Relu", map_relu},
    {"Clip", map_clip},
    {"Add", map_add},
    {"Sum", map_sum},
    {"MaxPool", map_maxpool},
    {"AveragePool", map_avgpool},
    {"GlobalAveragePool", map_global_avg},
    {"GlobalMaxPool", map_global_max},
    {"Gemm", map_gemm},
    {"MatMul", map_matmul},
    {"Softmax", map_softmax},
    {"Flatten", map_flatten},
    {"Reshape", map_reshape},
    {"Dropout", map_dropout},
    {"Identity", map_identity},
    {"Constant", map_constant},
    {"ConstantOfShape", map_constant_of_shape},
};

enum { N_MAPPERS = sizeof mappers / sizeof mappers[0] };

const char *const kiln_onnx_supported_ops[] = {"Conv",
                                               "BatchNormalization",
                                               "Relu",
                                               "Clip",
                                               "Add",
                                               "Sum",
                                               "MaxPool",
                                               "AveragePool",
                                               "GlobalAveragePool",
                                               "GlobalMaxPool",
                                               "Gemm",
                                               "MatMul",
                                               "Softmax",
                                               "Flatten",
                                               "Reshape",
                                               "Dropout",
                                               "Identity",
                                               "Constant",
                                               "ConstantOfShape",
                                               NULL};

bool kiln_onnx_op_supported(const char *op_type) {
    for (size_t i = 0; i < N_MAPPERS; i++)
        if (strcmp(mappers[i].op, op_type) == 0) return true;
    return false;
}

kiln_status kiln_onnx_map_node(kiln_onnx_ctx *c) {
    const kiln_onnx_node *n = &c->node;
    if (n->domain.n && !(n->domain.n == 7 && memcmp(n->domain.p, "ai.onnx", 7) == 0))
        return kiln_onnx_node_error(c, KILN_ERR_UNSUPPORTED,
                                    "op '%.*s' of domain '%.*s' is not supported (only the "
                                    "default ONNX domain is)",
                                    SPN(n->op_type), SPN(n->domain));
    mapper_fn fn = NULL;
    for (size_t i = 0; i < N_MAPPERS; i++) {
        size_t l = strlen(mappers[i].op);
        if (n->op_type.n == l && memcmp(n->op_type.p, mappers[i].op, l) == 0) fn = mappers[i].fn;
    }
    if (!fn)
        return kiln_onnx_node_error(c, KILN_ERR_UNSUPPORTED,
                                    "op type '%.*s' is not supported by Kiln's ONNX loader "
                                    "(supported: Conv, BatchNormalization, Relu, Clip, Add, Sum, "
                                    "MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, "
                                    "Gemm, MatMul, Softmax, Flatten, Reshape, Dropout, Identity, "
                                    "Constant, ConstantOfShape)",
                                    SPN(n->op_type));
    if (n->n_out < 1 || n->out[0].n == 0)
        return kiln_onnx_node_error(c, KILN_ERR_FORMAT, "the node has no output");
    lowered L;
    memset(&L, 0, sizeof L);
    L.a = kiln_attrs_default();
    KILN_TRY(fn(c, &L));
    if (L.done) return KILN_OK;
    int32_t out;
    KILN_TRY(kiln_onnx_new_value(c, n->out[0], KILN_DT_F32, 0, NULL, &out));
    char name[512];
    kiln_onnx_span who = n->name.n ? n->name : n->out[0];
    snprintf(name, sizeof name, "%.*s:%.*s", SPN(n->op_type), SPN(who));
    return kiln_graph_add_node(c->g, L.op, name, L.n_in, L.in, 1, &out, &L.a, NULL);
}
