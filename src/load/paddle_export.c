/*
 * paddle_export.c — writes a kiln_graph as a Paddle model: a ProgramDesc
 * (feed ops, one Paddle op per IR node, fetch ops; VarDescs from the values)
 * and a combined params file holding every constant value in Paddle's sorted
 * order. The op types and attributes are the ones paddle_ops.c reads, so
 * export -> kiln_load_paddle gives back the same nodes, attributes, shapes and
 * constant bytes. Auxiliary outputs Paddle expects (batch_norm's SavedMean,
 * reshape2's XShape, ...) get their own variables.
 * Non-goals: value quantization parameters (only node out_threshold is kept),
 * ops Paddle cannot express (SAME_LOWER padding, pooling dilation...).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "load/paddle.h"

typedef struct ectx {
    const kiln_graph *g;
    char **names; /* export name per value id */
    kiln_pbw vars, ops;
    const kiln_node *node;
    int32_t node_index;
} ectx;

/* ---- program writers ------------------------------------------------------- */

static void w_slot(kiln_pbw *op, uint32_t field, const char *param, const char *const *args,
                   int32_t n) {
    kiln_pbw s = {0};
    kiln_pbw_string(&s, 1, param);
    for (int32_t i = 0; i < n; i++)
        kiln_pbw_string(&s, 2, args[i]);
    kiln_pbw_message(op, field, &s);
    kiln_pbw_free(&s);
}

static void w_slot1(kiln_pbw *op, uint32_t field, const char *param, const char *arg) {
    w_slot(op, field, param, &arg, arg ? 1 : 0);
}

static void w_attr_begin(kiln_pbw *a, const char *name, kiln_pd_attr_type t) {
    a->size = 0;
    kiln_pbw_string(a, 1, name);
    kiln_pbw_varint(a, 2, (uint64_t)t);
}

static void attr_int(kiln_pbw *op, const char *name, int64_t v) {
    kiln_pbw a = {0};
    w_attr_begin(&a, name, KILN_PD_ATTR_INT);
    kiln_pbw_int64(&a, 3, (int32_t)v);
    kiln_pbw_message(op, 4, &a);
    kiln_pbw_free(&a);
}

static void attr_float(kiln_pbw *op, const char *name, float v) {
    kiln_pbw a = {0};
    w_attr_begin(&a, name, KILN_PD_ATTR_FLOAT);
    kiln_pbw_float(&a, 4, v);
    kiln_pbw_message(op, 4, &a);
    kiln_pbw_free(&a);
}

static void attr_string(kiln_pbw *op, const char *name, const char *v) {
    kiln_pbw a = {0};
    w_attr_begin(&a, name, KILN_PD_ATTR_STRING);
    kiln_pbw_string(&a, 5, v);
    kiln_pbw_message(op, 4, &a);
    kiln_pbw_free(&a);
}

static void attr_bool(kiln_pbw *op, const char *name, bool v) {
    kiln_pbw a = {0};
    w_attr_begin(&a, name, KILN_PD_ATTR_BOOLEAN);
    kiln_pbw_varint(&a, 10, v);
    kiln_pbw_message(op, 4, &a);
    kiln_pbw_free(&a);
}

static void attr_ints(kiln_pbw *op, const char *name, const int64_t *v, int32_t n) {
    kiln_pbw a = {0};
    w_attr_begin(&a, name, KILN_PD_ATTR_INTS);
    for (int32_t i = 0; i < n; i++)
        kiln_pbw_int64(&a, 6, (int32_t)v[i]);
    kiln_pbw_message(op, 4, &a);
    kiln_pbw_free(&a);
}

static void w_var(ectx *c, const char *name, int32_t kind, bool persistable, int32_t dtype,
                  int32_t rank, const int64_t *dims) {
    kiln_pbw v = {0}, t = {0}, l = {0}, d = {0};
    kiln_pbw_string(&v, 1, name);
    kiln_pbw_varint(&t, 1, (uint64_t)kind);
    if (kind == KILN_PD_LOD_TENSOR) {
        kiln_pbw_varint(&d, 1, (uint64_t)dtype);
        for (int32_t i = 0; i < rank; i++)
            kiln_pbw_int64(&d, 2, dims[i]);
        kiln_pbw_message(&l, 1, &d);
        if (!persistable) kiln_pbw_varint(&l, 2, 0);
        kiln_pbw_message(&t, 3, &l);
    }
    kiln_pbw_message(&v, 2, &t);
    kiln_pbw_varint(&v, 3, persistable);
    kiln_pbw_message(&c->vars, 3, &v);
    kiln_pbw_free(&v);
    kiln_pbw_free(&t);
    kiln_pbw_free(&l);
    kiln_pbw_free(&d);
}

/* ---- node -> op ------------------------------------------------------------ */

static kiln_status unsupported(ectx *c, const char *what) {
    return kiln_error(KILN_ERR_UNSUPPORTED,
                      "node #%d '%s' (%s): %s cannot be written as a Paddle op; export to ONNX "
                      "instead or rewrite the node",
                      (int)c->node_index, c->node->name,
                      (unsigned)c->node->op < KILN_OP_COUNT ? kiln_op_names[c->node->op] : "?",
                      what);
}

static const char *in_name(ectx *c, int k) {
    int32_t v = k < c->node->n_inputs ? c->node->inputs[k] : KILN_NO_VALUE;
    return v == KILN_NO_VALUE ? NULL : c->names[v];
}

static const char *out_name(ectx *c) {
    return c->names[c->node->outputs[0]];
}

/* An auxiliary variable "<out>@<suffix>" for an output Paddle requires. */
static const char *aux_var(ectx *c, char *buf, size_t n, const char *suffix, int32_t rank,
                           const int64_t *dims) {
    snprintf(buf, n, "%s@%s", out_name(c), suffix);
    w_var(c, buf, KILN_PD_LOD_TENSOR, false, KILN_PD_FP32, rank, dims);
    return buf;
}

static void xshape(ectx *c, kiln_pbw *op) {
    const kiln_value *x = &c->g->values[c->node->inputs[0]];
    int64_t d[KILN_MAX_RANK + 1] = {0};
    for (int32_t i = 0; i < x->rank; i++)
        d[i + 1] = x->dims[i];
    char buf[1024];
    w_slot1(op, 2, "XShape", aux_var(c, buf, sizeof buf, "xshape", x->rank + 1, d));
}

static kiln_status pads_out(ectx *c, kiln_pbw *op, const kiln_attrs *a) {
    /* kiln: top, left, bottom, right -> Paddle: top, bottom, left, right */
    int64_t p[4] = {a->pads[0], a->pads[2], a->pads[1], a->pads[3]};
    const char *alg = "EXPLICIT";
    if (a->auto_pad == KILN_PAD_SAME_UPPER) alg = "SAME";
    if (a->auto_pad == KILN_PAD_VALID) alg = "VALID";
    if (a->auto_pad == KILN_PAD_SAME_LOWER) return unsupported(c, "SAME_LOWER padding");
    attr_ints(op, "paddings", p, 4);
    attr_string(op, "padding_algorithm", alg);
    return KILN_OK;
}

static kiln_status quant_out(ectx *c, kiln_pbw *op, const kiln_attrs *a) {
    (void)c;
    attr_int(op, "bit_length", a->bit_length);
    attr_int(op, "round_type", a->round_type);
    attr_bool(op, "is_test", true);
    return KILN_OK;
}

static kiln_status emit_node(ectx *c, kiln_pbw *op) {
    const kiln_node *n = c->node;
    const kiln_attrs *a = &n->attrs;
    const char *type = NULL;
    char buf[1024], buf2[1024];
    if (n->n_outputs != 1) return unsupported(c, "a node with several outputs");
    switch (n->op) {
    case KILN_OP_CONV:
        type = "conv2d";
        w_slot1(op, 1, "Input", in_name(c, 0));
        w_slot1(op, 1, "Filter", in_name(c, 1));
        if (in_name(c, 2)) w_slot1(op, 1, "Bias", in_name(c, 2));
        w_slot1(op, 2, "Output", out_name(c));
        attr_ints(op, "strides", a->strides, 2);
        attr_ints(op, "dilations", a->dilations, 2);
        KILN_TRY(pads_out(c, op, a));
        attr_int(op, "groups", a->group);
        attr_string(op, "data_format", "NCHW");
        break;
    case KILN_OP_BATCH_NORM: {
        static const char *const slots[5] = {"X", "Scale", "Bias", "Mean", "Variance"};
        type = "batch_norm";
        for (int i = 0; i < 5; i++)
            w_slot1(op, 1, slots[i], in_name(c, i));
        w_slot1(op, 2, "Y", out_name(c));
        w_slot1(op, 2, "MeanOut", in_name(c, 3));
        w_slot1(op, 2, "VarianceOut", in_name(c, 4));
        const kiln_value *s = &c->g->values[n->inputs[1]];
        w_slot1(op, 2, "SavedMean", aux_var(c, buf, sizeof buf, "saved_mean", s->rank, s->dims));
        w_slot1(op, 2, "SavedVariance",
                aux_var(c, buf2, sizeof buf2, "saved_variance", s->rank, s->dims));
        attr_float(op, "epsilon", a->epsilon);
        attr_bool(op, "is_test", true);
        attr_string(op, "data_layout", "NCHW");
        break;
    }
    case KILN_OP_RELU: type = "relu"; break;
    case KILN_OP_CLIP:
        if (a->clip_min == 0.0f) {
            type = "relu6";
            attr_float(op, "threshold", a->clip_max);
        } else {
            type = "clip";
            attr_float(op, "min", a->clip_min);
            attr_float(op, "max", a->clip_max);
        }
        break;
    case KILN_OP_ADD:
        type = "elementwise_add";
        w_slot1(op, 1, "X", in_name(c, 0));
        w_slot1(op, 1, "Y", in_name(c, 1));
        attr_int(op, "axis", a->axis);
        break;
    case KILN_OP_SUM: {
        const char *args[KILN_MAX_IO];
        for (int32_t i = 0; i < n->n_inputs; i++)
            args[i] = in_name(c, i);
        type = "sum";
        w_slot(op, 1, "X", args, n->n_inputs);
        break;
    }
    case KILN_OP_MAX_POOL:
    case KILN_OP_AVG_POOL:
        if (a->dilations[0] != 1 || a->dilations[1] != 1)
            return unsupported(c, "pooling with dilation");
        type = "pool2d";
        attr_string(op, "pooling_type", n->op == KILN_OP_MAX_POOL ? "max" : "avg");
        attr_ints(op, "ksize", a->kernel, 2);
        attr_ints(op, "strides", a->strides, 2);
        KILN_TRY(pads_out(c, op, a));
        attr_bool(op, "ceil_mode", a->ceil_mode);
        attr_bool(op, "exclusive", !a->count_include_pad);
        attr_bool(op, "global_pooling", false);
        attr_bool(op, "adaptive", false);
        attr_string(op, "data_format", "NCHW");
        break;
    case KILN_OP_GLOBAL_AVG_POOL:
    case KILN_OP_GLOBAL_MAX_POOL: {
        static const int64_t one[2] = {1, 1}, zero[2] = {0, 0};
        type = "pool2d";
        attr_string(op, "pooling_type", n->op == KILN_OP_GLOBAL_MAX_POOL ? "max" : "avg");
        attr_ints(op, "ksize", one, 2);
        attr_ints(op, "strides", one, 2);
        attr_ints(op, "paddings", zero, 2);
        attr_bool(op, "global_pooling", true);
        attr_bool(op, "adaptive", false);
        attr_bool(op, "exclusive", true);
        attr_string(op, "data_format", "NCHW");
        break;
    }
    case KILN_OP_MATMUL:
        w_slot1(op, 1, "X", in_name(c, 0));
        w_slot1(op, 1, "Y", in_name(c, 1));
        if (a->alpha == 1.0f) {
            type = "matmul_v2";
            attr_bool(op, "trans_x", a->trans_a);
            attr_bool(op, "trans_y", a->trans_b);
        } else {
            type = "matmul";
            attr_bool(op, "transpose_X", a->trans_a);
            attr_bool(op, "transpose_Y", a->trans_b);
            attr_float(op, "alpha", a->alpha);
        }
        break;
    case KILN_OP_GEMM: {
        const kiln_value *x = &c->g->values[n->inputs[0]];
        if (a->trans_a || a->trans_b || a->alpha != 1.0f || (in_name(c, 2) && a->beta != 1.0f) ||
            x->rank != 2)
            return unsupported(c, "gemm with transposes, alpha/beta != 1 or a non 2-D input");
        type = "fc";
        w_slot1(op, 1, "Input", in_name(c, 0));
        w_slot1(op, 1, "W", in_name(c, 1));
        if (in_name(c, 2)) w_slot1(op, 1, "Bias", in_name(c, 2));
        attr_int(op, "in_num_col_dims", 1);
        attr_string(op, "activation_type", "");
        break;
    }
    case KILN_OP_SOFTMAX: {
        int32_t r = c->g->values[n->inputs[0]].rank;
        if (a->coerce_2d && !(a->axis == -1 || a->axis == r - 1))
            return unsupported(c, "softmax with coerce_2d on an inner axis");
        type = "softmax";
        attr_int(op, "axis", a->coerce_2d ? -1 : a->axis);
        break;
    }
    case KILN_OP_SCALE:
        type = "scale";
        attr_float(op, "scale", a->alpha);
        attr_float(op, "bias", a->beta);
        attr_bool(op, "bias_after_scale", a->bias_after_scale);
        break;
    case KILN_OP_FLATTEN:
        if (a->coerce_2d) {
            type = "flatten2";
            attr_int(op, "axis", a->axis);
        } else {
            type = "flatten_contiguous_range";
            attr_int(op, "start_axis", a->axis);
            attr_int(op, "stop_axis", a->axis_end);
        }
        xshape(c, op);
        break;
    case KILN_OP_RESHAPE:
        type = "reshape2";
        attr_ints(op, "shape", a->shape, a->shape_rank);
        xshape(c, op);
        break;
    case KILN_OP_IDENTITY:
        type = "dropout";
        attr_string(op, "dropout_implementation", "upscale_in_train");
        attr_float(op, "dropout_prob", 0.0f);
        attr_bool(op, "is_test", true);
        break;
    case KILN_OP_FAKE_QUANT:
    case KILN_OP_FAKE_QUANT_DEQUANT: {
        bool qdq = n->op == KILN_OP_FAKE_QUANT_DEQUANT;
        const char *scale = in_name(c, 1);
        if (scale)
            type = qdq ? "fake_quantize_dequantize_moving_average_abs_max"
                       : "fake_quantize_moving_average_abs_max";
        else
            type = qdq ? "fake_quantize_dequantize_abs_max" : "fake_quantize_abs_max";
        w_slot1(op, 1, "X", in_name(c, 0));
        if (scale) w_slot1(op, 1, "InScale", scale);
        w_slot1(op, 2, "Out", out_name(c));
        static const int64_t one[1] = {1};
        w_slot1(op, 2, "OutScale", scale ? scale : aux_var(c, buf, sizeof buf, "scale", 1, one));
        KILN_TRY(quant_out(c, op, a));
        if (scale) attr_float(op, "moving_rate", 0.9f);
        break;
    }
    case KILN_OP_FAKE_DEQUANT:
        type = "fake_dequantize_max_abs";
        w_slot1(op, 1, "X", in_name(c, 0));
        w_slot1(op, 1, "Scale", in_name(c, 1));
        attr_float(op, "max_range", a->max_range);
        break;
    case KILN_OP_FAKE_CHANNEL_DEQUANT: {
        const char *sc[2] = {in_name(c, 1), in_name(c, 2)};
        int32_t ns = sc[1] ? 2 : 1;
        int64_t bits[2] = {a->quant_bits[0], a->quant_bits[1]};
        type = "fake_channel_wise_dequantize_max_abs";
        w_slot1(op, 1, "X", in_name(c, 0));
        w_slot(op, 1, "Scales", sc, ns);
        attr_ints(op, "quant_bits", bits, a->n_quant_bits);
        attr_int(op, "quant_axis", a->axis);
        break;
    }
    case KILN_OP_FAKE_CHANNEL_QUANT_DEQUANT: {
        const kiln_value *x = &c->g->values[n->inputs[0]];
        int64_t ch = -1;
        if (a->axis >= 0 && a->axis < x->rank) ch = x->dims[a->axis];
        type = "fake_channel_wise_quantize_dequantize_abs_max";
        w_slot1(op, 1, "X", in_name(c, 0));
        w_slot1(op, 2, "Out", out_name(c));
        w_slot1(op, 2, "OutScale", aux_var(c, buf, sizeof buf, "scale", 1, &ch));
        KILN_TRY(quant_out(c, op, a));
        attr_int(op, "quant_axis", a->axis);
        break;
    }
    default: return unsupported(c, "this op");
    }
    /* the common single-input X -> Out ops */
    switch (n->op) {
    case KILN_OP_RELU:
    case KILN_OP_CLIP:
    case KILN_OP_SOFTMAX:
    case KILN_OP_SCALE:
    case KILN_OP_FLATTEN:
    case KILN_OP_RESHAPE:
    case KILN_OP_IDENTITY:
    case KILN_OP_MAX_POOL:
    case KILN_OP_AVG_POOL:
    case KILN_OP_GLOBAL_AVG_POOL:
    case KILN_OP_GLOBAL_MAX_POOL: w_slot1(op, 1, "X", in_name(c, 0)); /* fallthrough */
    case KILN_OP_ADD:
    case KILN_OP_SUM:
    case KILN_OP_MATMUL:
    case KILN_OP_GEMM:
    case KILN_OP_FAKE_DEQUANT:
    case KILN_OP_FAKE_CHANNEL_DEQUANT: w_slot1(op, 2, "Out", out_name(c)); break;
    default: break;
    }
    if (n->op == KILN_OP_IDENTITY) {
        const kiln_value *x = &c->g->values[n->inputs[0]];
        w_slot1(op, 2, "Mask", aux_var(c, buf, sizeof buf, "mask", x->rank, x->dims));
    }
    kiln_pbw_string(op, 3, type);
    if (a->out_threshold != 0.0f) attr_float(op, "out_threshold", a->out_threshold);
    return KILN_OK;
}

/* ---- names ------------------------------------------------------------------ */

static int cmp_name(const void *x, const void *y) {
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Unique, non-empty export names; collisions and reserved names get
 * "kiln_value_<id>". */
static kiln_status make_names(ectx *c) {
    const kiln_graph *g = c->g;
    c->names = calloc((size_t)g->n_values + 1, sizeof *c->names);
    const char **sorted = malloc(((size_t)g->n_values + 1) * sizeof *sorted);
    if (!c->names || !sorted) {
        free(sorted);
        return kiln_error(KILN_ERR_NO_MEMORY, "out of memory exporting");
    }
    for (int32_t i = 0; i < g->n_values; i++)
        sorted[i] = g->values[i].name;
    qsort(sorted, (size_t)g->n_values, sizeof *sorted, cmp_name);
    for (int32_t i = 0; i < g->n_values; i++) {
        const char *nm = g->values[i].name;
        const char *key = nm;
        const char **hit = bsearch(&key, sorted, (size_t)g->n_values, sizeof *sorted, cmp_name);
        bool dup = (hit > sorted && strcmp(hit[-1], nm) == 0) ||
                   (hit + 1 < sorted + g->n_values && strcmp(hit[1], nm) == 0);
        bool bad = !nm[0] || dup || strcmp(nm, "feed") == 0 || strcmp(nm, "fetch") == 0;
        char buf[64];
        snprintf(buf, sizeof buf, "kiln_value_%d", (int)i);
        c->names[i] = strdup(bad ? buf : nm);
        if (!c->names[i]) {
            free(sorted);
            return kiln_error(KILN_ERR_NO_MEMORY, "out of memory exporting");
        }
    }
    free(sorted);
    return KILN_OK;
}

/* ---- export ------------------------------------------------------------------ */

typedef struct named_id {
    const char *name;
    int32_t id;
} named_id;

static int cmp_named(const void *x, const void *y) {
    return strcmp(((const named_id *)x)->name, ((const named_id *)y)->name);
}

/* Every constant value, one record each, in strcmp order of export names. */
static kiln_status write_params(ectx *c, kiln_pbw *params) {
    const kiln_graph *g = c->g;
    named_id *ids = malloc(((size_t)g->n_values + 1) * sizeof *ids);
    if (!ids) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory exporting");
    int32_t n = 0;
    for (int32_t i = 0; i < g->n_values; i++)
        if (g->values[i].data) {
            ids[n].name = c->names[i];
            ids[n++].id = i;
        }
    qsort(ids, (size_t)n, sizeof *ids, cmp_named);
    kiln_status s = KILN_OK;
    for (int32_t k = 0; k < n && s == KILN_OK; k++) {
        const kiln_value *v = &g->values[ids[k].id];
        int32_t pd = kiln_paddle_dtype_from_kiln(v->dtype);
        int64_t numel = kiln_numel(v->rank, v->dims);
        if (pd < 0 || numel < 0 || (uint64_t)numel * kiln_dtype_size(v->dtype) != v->nbytes)
            s = kiln_error(KILN_ERR_SHAPE,
                           "constant '%s': %zu bytes do not match its %s shape of rank %d; cannot "
                           "export it",
                           v->name, v->nbytes, kiln_dtype_names[v->dtype], (int)v->rank);
        else
            kiln_paddle_record_write(params, pd, v->rank, v->dims, v->data, v->nbytes);
    }
    free(ids);
    return s;
}

static kiln_status export_all(ectx *c, kiln_pbw *program, kiln_pbw *params) {
    const kiln_graph *g = c->g;
    KILN_TRY(make_names(c));
    w_var(c, "feed", KILN_PD_FEED_MINIBATCH, true, 0, 0, NULL);
    w_var(c, "fetch", KILN_PD_FETCH_LIST, true, 0, 0, NULL);
    for (int32_t i = 0; i < g->n_values; i++) {
        const kiln_value *v = &g->values[i];
        int32_t pd = kiln_paddle_dtype_from_kiln(v->dtype);
        if (pd < 0)
            return kiln_error(KILN_ERR_UNSUPPORTED, "value '%s': dtype has no Paddle equivalent",
                              v->name);
        w_var(c, c->names[i], KILN_PD_LOD_TENSOR, v->data != NULL, pd, v->rank, v->dims);
    }
    kiln_pbw op = {0};
    for (int32_t i = 0; i < g->n_inputs; i++) {
        op.size = 0;
        w_slot1(&op, 1, "X", "feed");
        w_slot1(&op, 2, "Out", c->names[g->inputs[i]]);
        kiln_pbw_string(&op, 3, "feed");
        attr_int(&op, "col", i);
        kiln_pbw_message(&c->ops, 4, &op);
    }
    kiln_status s = KILN_OK;
    for (int32_t i = 0; i < g->n_nodes && s == KILN_OK; i++) {
        c->node = &g->nodes[i];
        c->node_index = i;
        op.size = 0;
        s = emit_node(c, &op);
        if (s == KILN_OK) kiln_pbw_message(&c->ops, 4, &op);
    }
    for (int32_t i = 0; i < g->n_outputs && s == KILN_OK; i++) {
        op.size = 0;
        w_slot1(&op, 1, "X", c->names[g->outputs[i]]);
        w_slot1(&op, 2, "Out", "fetch");
        kiln_pbw_string(&op, 3, "fetch");
        attr_int(&op, "col", i);
        kiln_pbw_message(&c->ops, 4, &op);
    }
    if (op.failed) c->ops.failed = 1;
    kiln_pbw_free(&op);
    KILN_TRY(s);
    kiln_pbw blk = {0};
    kiln_pbw_varint(&blk, 1, 0);
    kiln_pbw_int64(&blk, 2, -1);
    kiln_pbw_raw(&blk, c->vars.data, c->vars.size);
    kiln_pbw_raw(&blk, c->ops.data, c->ops.size);
    if (c->vars.failed || c->ops.failed) blk.failed = 1;
    kiln_pbw_message(program, 1, &blk);
    kiln_pbw_free(&blk);
    KILN_TRY(write_params(c, params));
    if (program->failed || params->failed)
        return kiln_error(KILN_ERR_NO_MEMORY, "out of memory exporting the Paddle model");
    return KILN_OK;
}

kiln_status kiln_paddle_export_mem(const kiln_graph *g, kiln_pbw *program, kiln_pbw *params) {
    ectx c;
    memset(&c, 0, sizeof c);
    c.g = g;
    memset(program, 0, sizeof *program);
    memset(params, 0, sizeof *params);
    kiln_status s = export_all(&c, program, params);
    if (c.names)
        for (int32_t i = 0; i < g->n_values; i++)
            free(c.names[i]);
    free(c.names);
    kiln_pbw_free(&c.vars);
    kiln_pbw_free(&c.ops);
    if (s != KILN_OK) {
        kiln_pbw_free(program);
        kiln_pbw_free(params);
    }
    return s;
}

kiln_status kiln_paddle_export(const kiln_graph *g, const char *model_out, const char *params_out) {
    kiln_pbw prog, params;
    KILN_TRY(kiln_paddle_export_mem(g, &prog, &params));
    kiln_status s = kiln_write_file_atomic(params_out, params.data, params.size);
    if (s == KILN_OK) s = kiln_write_file_atomic(model_out, prog.data, prog.size);
    kiln_pbw_free(&prog);
    kiln_pbw_free(&params);
    return s;
}
