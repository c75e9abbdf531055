/*
 * onnx_export.c — kiln_graph -> ONNX ModelProto (see onnx_export.h).
 *
 * Shapes come from shape inference on a private clone (the batch stays -1),
 * needed where a Kiln op expands into several ONNX ops. Names are made
 * unique (ONNX requires it; Kiln allows repeats). Helper tensors and nodes
 * get names "<value>__kiln_<what>".
 *
 * Field numbers: ModelProto 1 ir_version, 2 producer_name, 3 producer_version,
 * 7 graph, 8 opset_import {1 domain, 2 version}; GraphProto 1 node, 2 name,
 * 5 initializer, 11 input, 12 output; NodeProto 1 input, 2 output, 3 name,
 * 4 op_type, 5 attribute; AttributeProto 1 name, 2 f, 3 i, 4 s, 7 floats,
 * 8 ints, 20 type; TensorProto 1 dims, 2 data_type, 8 name, 9 raw_data.
 *
 * Q/DQ mode (options.qdq): see onnx_export.h. Every reader of a quantized
 * tensor gets its own QuantizeLinear -> DequantizeLinear pair (ORT fuses a Q
 * only when it has a single consumer); an INT8 node writes "<v>__kiln_f" and
 * a graph output written by one is that pair's DQ output.
 *
 * Non-goals: fake-quant export, non-float graph inputs, external data.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/status.h"
#include "load/onnx_export.h"
#include "load/onnx_tensor.h"

#define EXPORT_OPSET 13

typedef struct exporter {
    const kiln_graph *src; /* the caller's graph (names, data) */
    kiln_graph *g;         /* inferred clone (shapes) */
    bool shapes_ok;
    char **names;         /* unique ONNX name per value id */
    bool *exported_const; /* initializer already written */
    char **extra;         /* helper names, freed at the end */
    int32_t n_extra, cap_extra;
    kiln_pbw nodes, inits;
    int32_t helper_counter;
    /* Q/DQ export (onnx_export_qdq.c conventions, see onnx_export.h) */
    bool qdq, split_residual;
    int u8_levels;
    const char **fsrc;    /* per value: the float tensor its Q/DQ pairs read */
    const char **q_scale; /* per value: its activation scale initializer */
    const char **q_zp;    /* per value: its zero point initializer */
    float *q_sval;        /* per value: that scale's value */
    float *wscale;        /* per-channel weight scales of the INT8 node being written */
    int64_t n_wscale;
} exporter;

/* ---- names ---------------------------------------------------------------- */

static bool name_taken(const exporter *e, const char *s, int32_t upto) {
    for (int32_t i = 0; i < upto; i++)
        if (e->names[i] && strcmp(e->names[i], s) == 0) return true;
    for (int32_t i = 0; i < e->n_extra; i++)
        if (strcmp(e->extra[i], s) == 0) return true;
    return false;
}

static kiln_status assign_names(exporter *e) {
    int32_t n = e->src->n_values;
    e->names = calloc((size_t)n + 1, sizeof *e->names);
    e->exported_const = calloc((size_t)n + 1, sizeof *e->exported_const);
    if (!e->names || !e->exported_const) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    for (int32_t i = 0; i < n; i++) {
        const char *base = e->src->values[i].name;
        char buf[1024];
        if (!base[0]) {
            snprintf(buf, sizeof buf, "v%d", (int)i);
            base = buf;
        }
        /* Kiln names may repeat; later duplicates get a suffix. Quadratic, but
         * only over values, a few thousand at most. */
        char tmp[1100];
        const char *nm = base;
        for (int k = 1; name_taken(e, nm, i); k++) {
            snprintf(tmp, sizeof tmp, "%s__%d", base, k);
            nm = tmp;
        }
        e->names[i] = strdup(nm);
        if (!e->names[i]) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    }
    return KILN_OK;
}

/* A fresh helper name "<base>__kiln_<what>[_k]" (owned by e). */
static const char *helper_name(exporter *e, const char *base, const char *what) {
    char buf[1200];
    snprintf(buf, sizeof buf, "%s__kiln_%s", base, what);
    for (int k = 1; name_taken(e, buf, e->src->n_values); k++)
        snprintf(buf, sizeof buf, "%s__kiln_%s_%d", base, what, k);
    if (e->n_extra == e->cap_extra) {
        int32_t nc = e->cap_extra ? e->cap_extra * 2 : 32;
        char **q = realloc(e->extra, (size_t)nc * sizeof *q);
        if (!q) return NULL;
        e->extra = q;
        e->cap_extra = nc;
    }
    char *s = strdup(buf);
    if (!s) return NULL;
    e->extra[e->n_extra++] = s;
    return s;
}

/* ---- protobuf pieces -------------------------------------------------------- */

static void attr_int(kiln_pbw *n, const char *name, int64_t v) {
    kiln_pbw a = {0};
    kiln_pbw_string(&a, 1, name);
    kiln_pbw_int64(&a, 3, v);
    kiln_pbw_varint(&a, 20, 2);
    kiln_pbw_message(n, 5, &a);
    kiln_pbw_free(&a);
}

static void attr_float(kiln_pbw *n, const char *name, float v) {
    kiln_pbw a = {0};
    kiln_pbw_string(&a, 1, name);
    kiln_pbw_float(&a, 2, v);
    kiln_pbw_varint(&a, 20, 1);
    kiln_pbw_message(n, 5, &a);
    kiln_pbw_free(&a);
}

static void attr_ints(kiln_pbw *n, const char *name, const int64_t *v, int32_t k) {
    kiln_pbw a = {0};
    kiln_pbw_string(&a, 1, name);
    for (int32_t i = 0; i < k; i++)
        kiln_pbw_int64(&a, 8, v[i]);
    kiln_pbw_varint(&a, 20, 7);
    kiln_pbw_message(n, 5, &a);
    kiln_pbw_free(&a);
}

static void attr_string(kiln_pbw *n, const char *name, const char *s) {
    kiln_pbw a = {0};
    kiln_pbw_string(&a, 1, name);
    kiln_pbw_string(&a, 4, s);
    kiln_pbw_varint(&a, 20, 3);
    kiln_pbw_message(n, 5, &a);
    kiln_pbw_free(&a);
}

/* Starts a NodeProto: inputs, outputs, name, op_type. Attributes follow;
 * end_node appends it to the graph. */
static void begin_node(kiln_pbw *n, const char *op_type, const char *name, int32_t n_in,
                       const char *const *in, int32_t n_out, const char *const *out) {
    memset(n, 0, sizeof *n);
    for (int32_t i = 0; i < n_in; i++)
        kiln_pbw_string(n, 1, in[i] ? in[i] : "");
    for (int32_t i = 0; i < n_out; i++)
        kiln_pbw_string(n, 2, out[i]);
    kiln_pbw_string(n, 3, name);
    kiln_pbw_string(n, 4, op_type);
}

static void end_node(exporter *e, kiln_pbw *n) {
    kiln_pbw_message(&e->nodes, 1, n);
    kiln_pbw_free(n);
}

/* One-line node without attributes. */
static void simple_node(exporter *e, const char *op_type, const char *name, int32_t n_in,
                        const char *const *in, const char *out) {
    kiln_pbw n;
    begin_node(&n, op_type, name, n_in, in, 1, &out);
    end_node(e, &n);
}

static void write_tensor(exporter *e, const char *name, int32_t onnx_type, int32_t rank,
                         const int64_t *dims, const void *data, size_t nbytes) {
    kiln_pbw t = {0};
    for (int32_t i = 0; i < rank; i++)
        kiln_pbw_int64(&t, 1, dims[i]);
    kiln_pbw_varint(&t, 2, (uint64_t)onnx_type);
    kiln_pbw_string(&t, 8, name);
    kiln_pbw_bytes(&t, 9, data, nbytes); /* raw_data: little-endian, as Kiln stores it */
    kiln_pbw_message(&e->inits, 5, &t);
    kiln_pbw_free(&t);
}

/* Writes a constant value as an initializer once; returns its name. */
static kiln_status use_const(exporter *e, int32_t id) {
    const kiln_value *v = &e->src->values[id];
    if (e->exported_const[id]) return KILN_OK;
    int32_t ot = kiln_onnx_dtype_to_onnx(v->dtype);
    if (!ot)
        return kiln_error(KILN_ERR_UNSUPPORTED, "ONNX export: constant '%s' has dtype %s", v->name,
                          kiln_dtype_names[v->dtype]);
    int64_t ne = kiln_numel(v->rank, v->dims);
    if (ne < 0 || (size_t)ne * kiln_dtype_size(v->dtype) != v->nbytes)
        return kiln_error(KILN_ERR_SHAPE,
                          "ONNX export: constant '%s' holds %zu bytes, its shape needs %lld "
                          "elements",
                          v->name, v->nbytes, (long long)ne);
    write_tensor(e, e->names[id], ot, v->rank, v->dims, v->data, v->nbytes);
    e->exported_const[id] = true;
    return KILN_OK;
}

static const char *int64_init(exporter *e, const char *base, const char *what, const int64_t *v,
                              int32_t n) {
    const char *nm = helper_name(e, base, what);
    if (!nm) return NULL;
    int64_t d[1] = {n};
    write_tensor(e, nm, KILN_ONNX_INT64, 1, d, v, (size_t)n * sizeof(int64_t));
    return nm;
}

static const char *float_scalar_init(exporter *e, const char *base, const char *what, float v) {
    const char *nm = helper_name(e, base, what);
    if (!nm) return NULL;
    write_tensor(e, nm, KILN_ONNX_FLOAT, 0, NULL, &v, sizeof v);
    return nm;
}

static void value_info(kiln_pbw *w, uint32_t field, const char *name, const kiln_value *v,
                       bool with_shape) {
    kiln_pbw vi = {0}, tp = {0}, tt = {0}, sh = {0};
    kiln_pbw_string(&vi, 1, name);
    int32_t ot = kiln_onnx_dtype_to_onnx(v->dtype);
    kiln_pbw_varint(&tt, 1, (uint64_t)(ot ? ot : KILN_ONNX_FLOAT));
    if (with_shape) {
        for (int32_t i = 0; i < v->rank; i++) {
            kiln_pbw d = {0};
            if (i == 0 && (v->dims[0] < 0 || (v->flags & KILN_VALUE_INPUT)))
                kiln_pbw_string(&d, 2, "N"); /* the batch */
            else if (v->dims[i] >= 0)
                kiln_pbw_int64(&d, 1, v->dims[i]);
            kiln_pbw_message(&sh, 1, &d);
            kiln_pbw_free(&d);
        }
        kiln_pbw_message(&tt, 2, &sh);
    }
    kiln_pbw_message(&tp, 1, &tt);
    kiln_pbw_message(&vi, 2, &tp);
    kiln_pbw_message(w, field, &vi);
    kiln_pbw_free(&vi);
    kiln_pbw_free(&tp);
    kiln_pbw_free(&tt);
    kiln_pbw_free(&sh);
}

static kiln_status node_fail(const kiln_node *n, const char *why) {
    return kiln_error(KILN_ERR_UNSUPPORTED, "ONNX export: node '%s' (%s): %s", n->name,
                      (unsigned)n->op < KILN_OP_COUNT ? kiln_op_names[n->op] : "?", why);
}

/* ---- Q/DQ for INT8 nodes ---------------------------------------------------------- */

static kiln_status oom(void) {
    return kiln_error(KILN_ERR_NO_MEMORY, "ONNX export: out of memory");
}

static bool node_int8(const exporter *e, const kiln_node *n) {
    return e->qdq && n->precision == KILN_PRECISION_INT8;
}

static bool act_nonneg(const kiln_attrs *a) {
    return a->act == KILN_ACT_RELU || (a->act == KILN_ACT_CLIP && a->clip_min >= 0);
}

/* True if activation v is >= 0 by construction (ReLU, clip >= 0, and pools,
 * flatten or reshape of such): its Q/DQ pairs use a u8 zero point. */
static bool value_nonneg(const exporter *e, int32_t v) {
    for (int32_t hops = 0; hops <= e->src->n_nodes; hops++) {
        int32_t p = e->src->values[v].producer;
        if (p < 0 || p >= e->src->n_nodes) return false;
        const kiln_node *n = &e->src->nodes[p];
        switch (n->op) {
        case KILN_OP_RELU: return true;
        case KILN_OP_CLIP: return n->attrs.clip_min >= 0;
        case KILN_OP_CONV:
        case KILN_OP_GEMM:
        case KILN_OP_ADD: return act_nonneg(&n->attrs);
        case KILN_OP_MAX_POOL:
        case KILN_OP_AVG_POOL:
        case KILN_OP_GLOBAL_AVG_POOL:
        case KILN_OP_GLOBAL_MAX_POOL:
        case KILN_OP_FLATTEN:
        case KILN_OP_RESHAPE:
        case KILN_OP_IDENTITY:
            if (n->n_inputs < 1 || n->inputs[0] < 0) return false;
            v = n->inputs[0];
            continue;
        default: return false;
        }
    }
    return false;
}

/* Scale and zero point of activation v, written once: u8 0 and T/255 (or
 * T/127, options.u8_levels) when non-negative, else s8 0 and T/127. */
static kiln_status act_qparams(exporter *e, int32_t v) {
    if (e->q_scale[v]) return KILN_OK;
    float t = e->src->values[v].quant.threshold;
    if (!(t > 0) || !isfinite(t))
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "ONNX export: tensor '%s' is read or written by an INT8 node but has "
                          "no threshold",
                          e->src->values[v].name);
    bool u8 = value_nonneg(e, v);
    double levels = u8 && e->u8_levels != 127 ? 255.0 : 127.0;
    e->q_sval[v] = (float)(t / levels);
    const char *sc = float_scalar_init(e, e->names[v], "scale", e->q_sval[v]);
    const char *zp = helper_name(e, e->names[v], "zero_point");
    if (!sc || !zp) return oom();
    uint8_t z = 0;
    write_tensor(e, zp, u8 ? KILN_ONNX_UINT8 : KILN_ONNX_INT8, 0, NULL, &z, 1);
    e->q_scale[v] = sc;
    e->q_zp[v] = zp;
    return KILN_OK;
}

/* QuantizeLinear -> DequantizeLinear of activation v (reading its float
 * tensor), one pair per consumer (ORT fuses a Q only when it has a single
 * consumer). The DQ writes `out`, or a fresh name when NULL; *dq gets it. */
static kiln_status emit_qdq(exporter *e, int32_t v, const char *out, const char **dq) {
    KILN_TRY(act_qparams(e, v));
    const char *q = helper_name(e, e->names[v], "q");
    const char *d = out ? out : helper_name(e, e->names[v], "dq");
    if (!q || !d) return oom();
    const char *qi[3] = {e->fsrc[v], e->q_scale[v], e->q_zp[v]};
    simple_node(e, "QuantizeLinear", q, 3, qi, q);
    const char *di[3] = {q, e->q_scale[v], e->q_zp[v]};
    simple_node(e, "DequantizeLinear", d, 3, di, d);
    *dq = d;
    return KILN_OK;
}

/* Q -> DQ of a float tensor that is no Kiln value (a split residual conv's
 * output before the add): scale t/127, s8 zero point. */
static kiln_status emit_qdq_raw(exporter *e, const char *src, float t, const char **dq) {
    const char *sc = float_scalar_init(e, src, "scale", (float)(t / 127.0));
    const char *zp = helper_name(e, src, "zero_point");
    const char *q = helper_name(e, src, "q"), *d = helper_name(e, src, "dq");
    if (!sc || !zp || !q || !d) return oom();
    uint8_t z = 0;
    write_tensor(e, zp, KILN_ONNX_INT8, 0, NULL, &z, 1);
    const char *qi[3] = {src, sc, zp};
    simple_node(e, "QuantizeLinear", q, 3, qi, q);
    const char *di[3] = {q, sc, zp};
    simple_node(e, "DequantizeLinear", d, 3, di, d);
    *dq = d;
    return KILN_OK;
}

/* Weights of an INT8 conv/gemm: an int8 initializer q = clamp(rint(w * 127 /
 * T_w[c]), -127, 127) and a per-channel DequantizeLinear (scale T_w[c]/127,
 * zero point 0; axis 0 for conv and trans_b gemm, 1 for gemm B[K,N]).
 * e->wscale gets the float scales (1 for an all-zero channel). */
static kiln_status emit_weight(exporter *e, const kiln_node *n, const char **dq) {
    int32_t id = n->inputs[1];
    const kiln_value *w = &e->src->values[id];
    const float *d = w->dtype == KILN_DT_F32 ? (const float *)w->data : NULL;
    int64_t total = kiln_numel(w->rank, w->dims);
    int64_t ch = w->quant.n_channels;
    bool conv = n->op == KILN_OP_CONV;
    int64_t axis = conv || n->attrs.trans_b ? 0 : 1;
    if (!d || w->rank < 1 || total <= 0 || ch <= 0 || !w->quant.channel_thresholds ||
        (size_t)total * sizeof(float) != w->nbytes || (!conv && w->rank != 2) ||
        w->dims[axis] != ch)
        return node_fail(n, "INT8 weights need f32 constants with one threshold per output "
                            "channel (plan the graph with precision INT8)");
    const float *thr = w->quant.channel_thresholds;
    int8_t *q = malloc((size_t)total);
    float *sc = malloc(sizeof(float) * (size_t)ch);
    uint8_t *zp = calloc((size_t)ch, 1);
    if (!q || !sc || !zp) {
        free(q);
        free(sc);
        free(zp);
        return oom();
    }
    for (int64_t c = 0; c < ch; c++)
        sc[c] = thr[c] > 0 ? (float)(thr[c] / 127.0) : 1.0f;
    for (int64_t i = 0; i < total; i++) {
        int64_t c = conv ? i / (total / ch) : axis == 0 ? i / w->dims[1] : i % w->dims[1];
        double v = thr[c] > 0 ? rint(d[i] * (127.0 / thr[c])) : 0.0;
        q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
    const char *qn = helper_name(e, e->names[id], "int8"),
               *sn = helper_name(e, e->names[id], "scale"),
               *zn = helper_name(e, e->names[id], "zero_point"),
               *dn = helper_name(e, e->names[id], "dq");
    kiln_status s = KILN_OK;
    if (!qn || !sn || !zn || !dn) {
        s = oom();
    } else {
        int64_t cd[1] = {ch};
        write_tensor(e, qn, KILN_ONNX_INT8, w->rank, w->dims, q, (size_t)total);
        write_tensor(e, sn, KILN_ONNX_FLOAT, 1, cd, sc, sizeof(float) * (size_t)ch);
        write_tensor(e, zn, KILN_ONNX_INT8, 1, cd, zp, (size_t)ch);
        kiln_pbw nw;
        const char *di[3] = {qn, sn, zn};
        begin_node(&nw, "DequantizeLinear", dn, 3, di, 1, &dn);
        attr_int(&nw, "axis", axis);
        end_node(e, &nw);
        *dq = dn;
    }
    free(q);
    free(zp);
    free(e->wscale);
    e->wscale = s == KILN_OK ? sc : NULL;
    e->n_wscale = s == KILN_OK ? ch : 0;
    if (s != KILN_OK) free(sc);
    return s;
}

/* Bias of an INT8 conv/gemm as int32 with scale s_x * s_w[c] (the form ORT
 * needs to run QLinearConv / QGemm); *dq stays NULL when the bias does not
 * have one value per channel (it is then written as float). */
static kiln_status emit_bias(exporter *e, int32_t id, int32_t x, const char **dq) {
    const kiln_value *b = &e->src->values[id];
    *dq = NULL;
    int64_t ch = e->n_wscale;
    if (!e->wscale || b->dtype != KILN_DT_F32 || b->rank != 1 || b->dims[0] != ch ||
        b->nbytes != (size_t)ch * sizeof(float) || !e->q_scale[x])
        return KILN_OK;
    const float *d = b->data;
    float sx = e->q_sval[x]; /* the scale x's Q/DQ uses */
    int32_t *q = malloc(sizeof(int32_t) * (size_t)ch);
    float *sc = malloc(sizeof(float) * (size_t)ch);
    int32_t *zp = calloc((size_t)ch, sizeof(int32_t));
    const char *qn = helper_name(e, e->names[id], "int32"),
               *sn = helper_name(e, e->names[id], "scale"),
               *zn = helper_name(e, e->names[id], "zero_point"),
               *dn = helper_name(e, e->names[id], "dq");
    kiln_status s = KILN_OK;
    if (!q || !sc || !zp || !qn || !sn || !zn || !dn) {
        s = oom();
    } else {
        for (int64_t c = 0; c < ch; c++) {
            sc[c] = sx * e->wscale[c];
            double v = sc[c] > 0 ? rint((double)d[c] / sc[c]) : 0.0;
            q[c] = (int32_t)(v > INT32_MAX ? INT32_MAX : v < -INT32_MAX ? -INT32_MAX : v);
        }
        int64_t cd[1] = {ch};
        write_tensor(e, qn, KILN_ONNX_INT32, 1, cd, q, sizeof(int32_t) * (size_t)ch);
        write_tensor(e, sn, KILN_ONNX_FLOAT, 1, cd, sc, sizeof(float) * (size_t)ch);
        write_tensor(e, zn, KILN_ONNX_INT32, 1, cd, zp, sizeof(int32_t) * (size_t)ch);
        kiln_pbw nw;
        const char *di[3] = {qn, sn, zn};
        begin_node(&nw, "DequantizeLinear", dn, 3, di, 1, &dn);
        attr_int(&nw, "axis", 0);
        end_node(e, &nw);
        *dq = dn;
    }
    free(q);
    free(sc);
    free(zp);
    return s;
}

/* Name the main op of a fused conv/gemm/add writes: `out` itself, or a
 * helper when a residual add or an activation follows. */
static const char *pre_name(exporter *e, const kiln_node *n, bool res, const char *out) {
    return res || n->attrs.act != KILN_ACT_NONE ? helper_name(e, out, "pre") : out;
}

/* The fused tail of conv/gemm/add, in Kiln's order: (+ R) then act. */
static kiln_status emit_epilogue(exporter *e, const kiln_node *n, const char *y, const char *res,
                                 const char *out) {
    bool act = n->attrs.act != KILN_ACT_NONE;
    if (res) {
        const char *s = act ? helper_name(e, out, "sum") : out;
        if (!s) return oom();
        const char *ai[2] = {y, res};
        simple_node(e, "Add", s, 2, ai, s);
        y = s;
    }
    if (n->attrs.act == KILN_ACT_RELU) {
        const char *r = helper_name(e, out, "relu");
        if (!r) return oom();
        simple_node(e, "Relu", r, 1, &y, out);
    } else if (n->attrs.act == KILN_ACT_CLIP) {
        const char *ci[3] = {y, float_scalar_init(e, out, "min", n->attrs.clip_min),
                             float_scalar_init(e, out, "max", n->attrs.clip_max)};
        const char *c = helper_name(e, out, "clip");
        if (!ci[1] || !ci[2] || !c) return oom();
        simple_node(e, "Clip", c, 3, ci, out);
    }
    return KILN_OK;
}

/* ---- ops ------------------------------------------------------------------------ */

static const kiln_value *shp(const exporter *e, int32_t id) {
    return &e->g->values[id];
}

static void spatial(kiln_pbw *w, const kiln_attrs *a, bool kernel, bool dilations) {
    if (kernel) attr_ints(w, "kernel_shape", a->kernel, 2);
    attr_ints(w, "strides", a->strides, 2);
    if (dilations) attr_ints(w, "dilations", a->dilations, 2);
    static const char *const ap[KILN_PAD_COUNT] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
    if (a->auto_pad == KILN_PAD_EXPLICIT)
        attr_ints(w, "pads", a->pads, 4);
    else
        attr_string(w, "auto_pad", ap[a->auto_pad]);
}

static kiln_status export_node(exporter *e, const kiln_node *n) {
    const kiln_attrs *a = &n->attrs;
    const char *in[KILN_MAX_IO];
    bool q8 = node_int8(e, n), wq = q8 && (n->op == KILN_OP_CONV || n->op == KILN_OP_GEMM);
    for (int32_t k = 0; k < n->n_inputs; k++) {
        int32_t id = n->inputs[k];
        in[k] = id == KILN_NO_VALUE ? "" : e->fsrc[id];
        if (id == KILN_NO_VALUE) continue;
        const kiln_value *v = &e->src->values[id];
        if (v->data) {
            if (wq && k == 1) {
                KILN_TRY(emit_weight(e, n, &in[1]));
                continue;
            }
            if (wq && k == 2 && (n->op == KILN_OP_CONV || (a->alpha == 1.0f && a->beta == 1.0f))) {
                const char *b;
                KILN_TRY(emit_bias(e, id, n->inputs[0], &b));
                if (b) {
                    in[2] = b;
                    continue;
                }
            }
            /* A Paddle-axis add's constant B is written reshaped, below. */
            bool deferred = n->op == KILN_OP_ADD && a->axis >= 0 && k == 1;
            if (!deferred) KILN_TRY(use_const(e, id));
        } else if (e->qdq && v->quant.threshold > 0) {
            /* INT8 node reads it, or an INT8 node wrote it: Kiln's tensor holds
             * the quantized values either way. */
            int32_t p = v->producer;
            bool from8 = p >= 0 && p < e->src->n_nodes && node_int8(e, &e->src->nodes[p]);
            if (q8 || from8) KILN_TRY(emit_qdq(e, id, NULL, &in[k]));
        } else if (q8) {
            return node_fail(n, "an activation it reads has no INT8 threshold");
        }
    }
    if (n->n_outputs != 1) return node_fail(n, "only single-output nodes can be exported");
    const char *out = e->names[n->outputs[0]];
    if (q8 && !(out = helper_name(e, out, "f"))) return oom(); /* Q/DQ'd by its readers */
    e->fsrc[n->outputs[0]] = out;
    kiln_pbw w;
    char nm[1200];
    snprintf(nm, sizeof nm, "%s", n->name);
    switch (n->op) {
    case KILN_OP_CONV: {
        /* fused: act(conv(X, W) + B + R) */
        bool res = n->n_inputs > 3 && n->inputs[3] != KILN_NO_VALUE;
        int32_t n_in = n->n_inputs >= 3 && n->inputs[2] != KILN_NO_VALUE ? 3 : 2;
        const char *y = pre_name(e, n, res, out);
        if (!y) return oom();
        begin_node(&w, "Conv", nm, n_in, in, 1, &y);
        const kiln_value *W = shp(e, n->inputs[1]);
        kiln_attrs c = *a;
        bool known = W->rank == 4 && W->dims[2] > 0 && W->dims[3] > 0;
        if (known) c.kernel[0] = W->dims[2], c.kernel[1] = W->dims[3];
        spatial(&w, &c, known, true);
        attr_int(&w, "group", a->group);
        end_node(e, &w);
        if (res && q8 && e->split_residual) {
            /* ORT has no int8 conv with a sum: quantize the conv's own output
             * (threshold T_y + T_R: a bound, the sum's inputs are not
             * calibrated separately) so it runs as QLinearConv + QLinearAdd. */
            float t = e->src->values[n->outputs[0]].quant.threshold +
                      e->src->values[n->inputs[3]].quant.threshold;
            KILN_TRY(emit_qdq_raw(e, y, t, &y));
        }
        return emit_epilogue(e, n, y, res ? in[3] : NULL, out);
    }
    case KILN_OP_BATCH_NORM:
        begin_node(&w, "BatchNormalization", nm, 5, in, 1, &out);
        attr_float(&w, "epsilon", a->epsilon);
        end_node(e, &w);
        return KILN_OK;
    case KILN_OP_RELU: simple_node(e, "Relu", nm, 1, in, out); return KILN_OK;
    case KILN_OP_IDENTITY: simple_node(e, "Identity", nm, 1, in, out); return KILN_OK;
    case KILN_OP_GLOBAL_AVG_POOL:
        simple_node(e, "GlobalAveragePool", nm, 1, in, out);
        return KILN_OK;
    case KILN_OP_GLOBAL_MAX_POOL: simple_node(e, "GlobalMaxPool", nm, 1, in, out); return KILN_OK;
    case KILN_OP_SUM: simple_node(e, "Sum", nm, n->n_inputs, in, out); return KILN_OK;
    case KILN_OP_CLIP: {
        const char *cin[3] = {in[0], float_scalar_init(e, out, "min", a->clip_min),
                              float_scalar_init(e, out, "max", a->clip_max)};
        if (!cin[1] || !cin[2]) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
        simple_node(e, "Clip", nm, 3, cin, out);
        return KILN_OK;
    }
    case KILN_OP_MAX_POOL:
    case KILN_OP_AVG_POOL: {
        bool mx = n->op == KILN_OP_MAX_POOL;
        if (!mx && (a->dilations[0] != 1 || a->dilations[1] != 1))
            return node_fail(n, "AveragePool with dilations needs opset 19");
        begin_node(&w, mx ? "MaxPool" : "AveragePool", nm, 1, in, 1, &out);
        spatial(&w, a, true, mx);
        attr_int(&w, "ceil_mode", a->ceil_mode);
        if (!mx) attr_int(&w, "count_include_pad", a->count_include_pad);
        end_node(e, &w);
        return KILN_OK;
    }
    case KILN_OP_GEMM: {
        int32_t n_in = n->n_inputs >= 3 && n->inputs[2] != KILN_NO_VALUE ? 3 : 2;
        const char *y = pre_name(e, n, false, out);
        if (!y) return oom();
        begin_node(&w, "Gemm", nm, n_in, in, 1, &y);
        attr_float(&w, "alpha", a->alpha);
        attr_float(&w, "beta", a->beta);
        attr_int(&w, "transA", a->trans_a);
        attr_int(&w, "transB", a->trans_b);
        end_node(e, &w);
        return emit_epilogue(e, n, y, NULL, out);
    }
    case KILN_OP_MATMUL: {
        const char *mm[2] = {in[0], in[1]};
        for (int k = 0; k < 2; k++) {
            bool tr = k == 0 ? a->trans_a : a->trans_b;
            int32_t r = shp(e, n->inputs[k])->rank;
            if (!tr || r < 2) continue; /* Kiln ignores transposes of 1-D operands */
            if (!e->shapes_ok) return node_fail(n, "transposed operand of unknown rank");
            int64_t perm[KILN_MAX_RANK];
            for (int32_t i = 0; i < r; i++)
                perm[i] = i;
            perm[r - 2] = r - 1;
            perm[r - 1] = r - 2;
            const char *t = helper_name(e, out, k == 0 ? "transA" : "transB");
            if (!t) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
            begin_node(&w, "Transpose", t, 1, &mm[k], 1, &t);
            attr_ints(&w, "perm", perm, r);
            end_node(e, &w);
            mm[k] = t;
        }
        if (a->alpha == 1.0f) {
            simple_node(e, "MatMul", nm, 2, mm, out);
            return KILN_OK;
        }
        const char *p = helper_name(e, out, "matmul");
        const char *s = float_scalar_init(e, out, "alpha", a->alpha);
        if (!p || !s) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
        simple_node(e, "MatMul", nm, 2, mm, p);
        const char *mi[2] = {p, s};
        simple_node(e, "Mul", helper_name(e, out, "mul_alpha"), 2, mi, out);
        return KILN_OK;
    }
    case KILN_OP_ADD: {
        const char *y = pre_name(e, n, false, out);
        if (!y) return oom();
        if (a->axis < 0) {
            simple_node(e, "Add", nm, 2, in, y);
            return emit_epilogue(e, n, y, NULL, out);
        }
        const kiln_value *Bs = &e->src->values[n->inputs[1]];
        /* Paddle axis: B (trailing 1s dropped) aligns with A from `axis`; make
         * it right-aligned for numpy broadcasting by appending 1s. */
        if (!e->shapes_ok) return node_fail(n, "axis add with unknown shapes");
        const kiln_value *A = shp(e, n->inputs[0]), *B = shp(e, n->inputs[1]);
        int32_t rb = B->rank;
        while (rb > 0 && B->dims[rb - 1] == 1)
            rb--;
        int32_t target = A->rank - (int32_t)a->axis;
        if (target < rb) return node_fail(n, "B does not fit into A at axis");
        if (target == B->rank) {
            if (Bs->data) KILN_TRY(use_const(e, n->inputs[1]));
            simple_node(e, "Add", nm, 2, in, y);
            return emit_epilogue(e, n, y, NULL, out);
        }
        int64_t d[KILN_MAX_RANK];
        for (int32_t i = 0; i < target; i++)
            d[i] = i < rb ? B->dims[i] : 1;
        const char *b2;
        if (Bs->data) {
            b2 = helper_name(e, in[1], "bcast");
            if (!b2) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
            write_tensor(e, b2, kiln_onnx_dtype_to_onnx(Bs->dtype), target, d, Bs->data,
                         Bs->nbytes);
        } else {
            for (int32_t i = 0; i < rb; i++)
                d[i] = 0; /* copy B's own dims (batch may be -1) */
            const char *sh = int64_init(e, in[1], "bcast_shape", d, target);
            b2 = helper_name(e, in[1], "bcast");
            if (!sh || !b2) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
            const char *ri[2] = {in[1], sh};
            simple_node(e, "Reshape", b2, 2, ri, b2);
        }
        const char *ai[2] = {in[0], b2};
        simple_node(e, "Add", nm, 2, ai, y);
        return emit_epilogue(e, n, y, NULL, out);
    }
    case KILN_OP_SOFTMAX: {
        int32_t r = shp(e, n->inputs[0])->rank;
        if (!a->coerce_2d) {
            begin_node(&w, "Softmax", nm, 1, in, 1, &out);
            attr_int(&w, "axis", a->axis);
            end_node(e, &w);
            return KILN_OK;
        }
        if (!e->shapes_ok) return node_fail(n, "coerced softmax with unknown rank");
        int64_t ax = a->axis < 0 ? a->axis + r : a->axis;
        if (ax == r - 1) { /* coercing at the last axis = softmax along it */
            begin_node(&w, "Softmax", nm, 1, in, 1, &out);
            attr_int(&w, "axis", -1);
            end_node(e, &w);
            return KILN_OK;
        }
        /* Flatten to 2-D at axis, softmax rows, reshape back to Shape(X). */
        const char *f = helper_name(e, out, "flat"), *s = helper_name(e, out, "softmax2d"),
                   *sh = helper_name(e, out, "shape");
        if (!f || !s || !sh) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
        begin_node(&w, "Flatten", f, 1, in, 1, &f);
        attr_int(&w, "axis", ax);
        end_node(e, &w);
        begin_node(&w, "Softmax", nm, 1, &f, 1, &s);
        attr_int(&w, "axis", 1);
        end_node(e, &w);
        simple_node(e, "Shape", sh, 1, in, sh);
        const char *ri[2] = {s, sh};
        simple_node(e, "Reshape", helper_name(e, out, "reshape"), 2, ri, out);
        return KILN_OK;
    }
    case KILN_OP_SCALE: {
        /* bias_after_scale: alpha*X + beta; else alpha*(X + beta). */
        bool mul = a->alpha != 1.0f, add = a->beta != 0.0f;
        if (!mul && !add) {
            simple_node(e, "Identity", nm, 1, in, out);
            return KILN_OK;
        }
        const char *al = mul ? float_scalar_init(e, out, "alpha", a->alpha) : NULL;
        const char *be = add ? float_scalar_init(e, out, "beta", a->beta) : NULL;
        if ((mul && !al) || (add && !be)) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
        if (!mul || !add) {
            const char *ii[2] = {in[0], mul ? al : be};
            simple_node(e, mul ? "Mul" : "Add", nm, 2, ii, out);
            return KILN_OK;
        }
        const char *mid = helper_name(e, out, "scale_mid");
        if (!mid) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
        const char *first[2] = {in[0], a->bias_after_scale ? al : be};
        const char *second[2] = {mid, a->bias_after_scale ? be : al};
        simple_node(e, a->bias_after_scale ? "Mul" : "Add", mid, 2, first, mid);
        simple_node(e, a->bias_after_scale ? "Add" : "Mul", nm, 2, second, out);
        return KILN_OK;
    }
    case KILN_OP_FLATTEN: {
        if (a->coerce_2d) {
            begin_node(&w, "Flatten", nm, 1, in, 1, &out);
            attr_int(&w, "axis", a->axis);
            end_node(e, &w);
            return KILN_OK;
        }
        if (!e->shapes_ok) return node_fail(n, "range flatten with unknown rank");
        const kiln_value *X = shp(e, n->inputs[0]);
        int32_t r = X->rank;
        int64_t lo = a->axis < 0 ? a->axis + r : a->axis;
        int64_t hi = a->axis_end < 0 ? a->axis_end + r : a->axis_end;
        if (lo < 0 || hi >= r || hi < lo) return node_fail(n, "axes out of range");
        /* Reshape: dims before the range copied (0), the range -1, dims after it
         * spelled out (0 would copy the wrong input dim). */
        int64_t d[KILN_MAX_RANK];
        int32_t k = 0;
        for (int32_t i = 0; i < lo; i++)
            d[k++] = 0;
        d[k++] = -1;
        for (int32_t i = (int32_t)hi + 1; i < r; i++) {
            if (X->dims[i] < 0) return node_fail(n, "unknown dim after the flattened range");
            d[k++] = X->dims[i];
        }
        const char *sh = int64_init(e, out, "shape", d, k);
        if (!sh) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
        const char *ri[2] = {in[0], sh};
        simple_node(e, "Reshape", nm, 2, ri, out);
        return KILN_OK;
    }
    case KILN_OP_RESHAPE: {
        const char *sh = int64_init(e, out, "shape", a->shape, a->shape_rank);
        if (!sh) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
        const char *ri[2] = {in[0], sh};
        simple_node(e, "Reshape", nm, 2, ri, out);
        return KILN_OK;
    }
    case KILN_OP_FAKE_QUANT:
    case KILN_OP_FAKE_QUANT_DEQUANT:
    case KILN_OP_FAKE_DEQUANT:
    case KILN_OP_FAKE_CHANNEL_DEQUANT:
    case KILN_OP_FAKE_CHANNEL_QUANT_DEQUANT:
        return node_fail(n, "fake-quant ops cannot be exported to ONNX yet (QuantizeLinear/"
                            "DequantizeLinear export is future work); export the FP32 model");
    case KILN_OP_COUNT: break;
    }
    return node_fail(n, "unknown op");
}

/* ---- model ---------------------------------------------------------------------- */

static void exporter_free(exporter *e) {
    if (e->names)
        for (int32_t i = 0; i < e->src->n_values; i++)
            free(e->names[i]);
    free(e->names);
    free(e->exported_const);
    free(e->fsrc);
    free(e->q_scale);
    free(e->q_zp);
    free(e->q_sval);
    free(e->wscale);
    for (int32_t i = 0; i < e->n_extra; i++)
        free(e->extra[i]);
    free(e->extra);
    kiln_pbw_free(&e->nodes);
    kiln_pbw_free(&e->inits);
    kiln_graph_destroy(e->g);
}

kiln_status kiln_onnx_export_buffer_ex(const kiln_graph *g, const kiln_onnx_export_options *o,
                                       kiln_pbw *out) {
    memset(out, 0, sizeof *out);
    exporter e;
    memset(&e, 0, sizeof e);
    e.src = g;
    e.qdq = o && o->qdq;
    e.split_residual = e.qdq && o->split_residual;
    e.u8_levels = e.qdq ? o->u8_levels : 0;
    if (e.qdq) {
        int32_t n8 = 0;
        for (int32_t i = 0; i < g->n_nodes; i++)
            n8 += g->nodes[i].precision == KILN_PRECISION_INT8;
        if (n8 == 0)
            return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                              "ONNX Q/DQ export: no node of the graph is INT8; plan it with "
                              "precision INT8 and a calibration table first");
    }
    kiln_status s = kiln_graph_clone(g, &e.g);
    if (s != KILN_OK) return s;
    /* Infer with a symbolic batch so batch-dependent output dims come out -1 ("N"). */
    for (int32_t i = 0; i < e.g->n_inputs; i++)
        if (e.g->values[e.g->inputs[i]].rank >= 1) e.g->values[e.g->inputs[i]].dims[0] = -1;
    e.shapes_ok = kiln_infer_shapes(e.g) == KILN_OK;
    if (!e.shapes_ok) kiln_error_clear();
    s = assign_names(&e);
    if (s == KILN_OK) {
        size_t nv = (size_t)g->n_values + 1;
        e.fsrc = calloc(nv, sizeof *e.fsrc);
        e.q_scale = calloc(nv, sizeof *e.q_scale);
        e.q_zp = calloc(nv, sizeof *e.q_zp);
        e.q_sval = calloc(nv, sizeof *e.q_sval);
        if (!e.fsrc || !e.q_scale || !e.q_zp || !e.q_sval) s = oom();
        for (int32_t i = 0; i < g->n_values && s == KILN_OK; i++)
            e.fsrc[i] = e.names[i];
    }
    for (int32_t i = 0; i < g->n_inputs && s == KILN_OK; i++)
        if (g->values[g->inputs[i]].dtype != KILN_DT_F32)
            s = kiln_error(KILN_ERR_UNSUPPORTED, "ONNX export: graph input '%s' is %s, not f32",
                           g->values[g->inputs[i]].name,
                           kiln_dtype_names[g->values[g->inputs[i]].dtype]);
    for (int32_t i = 0; i < g->n_nodes && s == KILN_OK; i++)
        s = export_node(&e, &g->nodes[i]);
    for (int32_t i = 0; i < g->n_outputs && s == KILN_OK; i++) {
        int32_t id = g->outputs[i];
        if (g->values[id].data) s = use_const(&e, id);
        if (s == KILN_OK &&
            e.fsrc[id] != e.names[id]) { /* written by an INT8 node: quantized values */
            const char *dq;
            s = emit_qdq(&e, id, e.names[id], &dq);
            e.fsrc[id] = e.names[id];
        }
    }
    if (s != KILN_OK) {
        exporter_free(&e);
        return s;
    }
    kiln_pbw gr = {0};
    kiln_pbw_raw(&gr, e.nodes.data, e.nodes.size);
    kiln_pbw_string(&gr, 2, "kiln");
    kiln_pbw_raw(&gr, e.inits.data, e.inits.size);
    for (int32_t i = 0; i < g->n_inputs; i++)
        value_info(&gr, 11, e.names[g->inputs[i]], &g->values[g->inputs[i]], true);
    for (int32_t i = 0; i < g->n_outputs; i++) {
        int32_t id = g->outputs[i];
        /* Output shapes from inference (with the -1 batch), when it succeeded. */
        value_info(&gr, 12, e.names[id], e.shapes_ok ? &e.g->values[id] : &g->values[id],
                   e.shapes_ok);
    }
    kiln_pbw_varint(out, 1, 8); /* ir_version 8 (ONNX 1.10+) */
    kiln_pbw_string(out, 2, "kiln");
    kiln_pbw_string(out, 3, KILN_VERSION_STRING);
    kiln_pbw_message(out, 7, &gr);
    kiln_pbw op = {0};
    kiln_pbw_string(&op, 1, "");
    kiln_pbw_varint(&op, 2, EXPORT_OPSET);
    kiln_pbw_message(out, 8, &op);
    int failed = gr.failed || op.failed || e.nodes.failed || e.inits.failed || out->failed;
    kiln_pbw_free(&gr);
    kiln_pbw_free(&op);
    exporter_free(&e);
    if (failed) {
        kiln_pbw_free(out);
        return kiln_error(KILN_ERR_NO_MEMORY, "ONNX export: out of memory");
    }
    return KILN_OK;
}

kiln_status kiln_onnx_export_buffer(const kiln_graph *g, kiln_pbw *out) {
    return kiln_onnx_export_buffer_ex(g, NULL, out);
}

kiln_status kiln_onnx_export(const kiln_graph *g, const char *path) {
    return kiln_onnx_export_ex(g, NULL, path);
}

kiln_status kiln_onnx_export_ex(const kiln_graph *g, const kiln_onnx_export_options *o,
                                const char *path) {
    kiln_pbw w;
    KILN_TRY(kiln_onnx_export_buffer_ex(g, o, &w));
    kiln_status s = kiln_write_file_atomic(path, w.data, w.size);
    kiln_pbw_free(&w);
    if (s != KILN_OK) return kiln_error_prefix(s, "ONNX export");
    return KILN_OK;
}
