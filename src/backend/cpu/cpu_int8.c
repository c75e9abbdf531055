/*
 * cpu_int8.c — the cpu backend's INT8 nodes on oneDNN, with the arithmetic of
 * the ref oracle (ref_int8.c, docs/INT8.md) reproduced:
 *   conv / gemm: s8 or u8 activations holding q(x, T_x), s8 weights quantized
 *     here per output channel exactly as ref does (rint, clamp 127), s32
 *     accumulation; per-channel output scale (T_x/127)(T_w[c]/127)/(T_y/127)
 *     and a bias pre-divided by (T_x/127)(T_w[c]/127) (oneDNN 2.x scales
 *     acc + bias); residual R by a sum post-op of scale T_R/T_y (R read as its
 *     own int8 type); the act and the [-127, 127] clamp as one clip post-op in
 *     units of T_y/127; oneDNN rounds to nearest even on the int8 store.
 *   pools: int8 in, int8 out; average pools rescale by T_x/T_y in a linear
 *     post-op before the store; max pools requantize when T_x != T_y (a
 *     byte table of ref's arithmetic; a oneDNN reorder when it provably
 *     gives the same 256 results).
 *   add: binary add with source scales T_a/T_y, T_b/T_y and the clip post-op.
 * Outputs that cannot be negative (relu, clip >= 0, pools of u8) are u8 with
 * the same scale T/127 (values 0..127), the fast VNNI source type.
 *
 * Non-goals: winograd or other inexact INT8 algorithms; broadcasting INT8 add;
 * asymmetric quantization.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "core/status.h"

#define TRY_PRIM(pr, expr)                                                                         \
    do {                                                                                           \
        kiln_status try_s_ = (expr);                                                               \
        if (try_s_ != KILN_OK) {                                                                   \
            cpu_prim_drop(pr);                                                                     \
            return try_s_;                                                                         \
        }                                                                                          \
    } while (0)

static bool avg_pool_past_end(const kiln_graph *g, const kiln_node *n) {
    const kiln_attrs *a = &n->attrs;
    if (n->op != KILN_OP_AVG_POOL || !a->count_include_pad) return false;
    const kiln_value *x = &g->values[n->inputs[0]], *y = &g->values[n->outputs[0]];
    if (x->rank != 4 || y->rank != 4) return false;
    for (int i = 0; i < 2; i++) {
        int64_t end, b = cpu_pad_begin(a, i, x->dims[2 + i], a->kernel[i], &end);
        if (cpu_pad_end(x->dims[2 + i], y->dims[2 + i], a->kernel[i], a->strides[i],
                        a->dilations[i], b, end) > end)
            return true;
    }
    return false;
}

const char *cpu_int8_unsupported_reason(const kiln_graph *g, int32_t node) {
    const kiln_node *n = &g->nodes[node];
    const kiln_value *y = &g->values[n->outputs[0]];
    switch (n->op) {
    case KILN_OP_CONV: return NULL;
    case KILN_OP_MAX_POOL:
    case KILN_OP_GLOBAL_AVG_POOL: return NULL;
    case KILN_OP_AVG_POOL:
        return avg_pool_past_end(g, n) ? "INT8 average pooling counting padding with ceil-mode "
                                         "windows past the end padding is not implemented on cpu"
                                       : NULL;
    case KILN_OP_GEMM: {
        if (n->attrs.trans_a || g->values[n->inputs[0]].rank != 2)
            return "INT8 gemm on cpu needs a 2-D, untransposed A";
        if (n->attrs.alpha == 0.0f) return "INT8 gemm with alpha 0";
        int32_t c = n->n_inputs > 2 ? n->inputs[2] : KILN_NO_VALUE;
        if (c != KILN_NO_VALUE) {
            const kiln_value *cv = &g->values[c];
            int64_t ne = kiln_numel(cv->rank, cv->dims), N = y->dims[1];
            if (!(ne == 1 || (cv->rank == 1 && cv->dims[0] == N) ||
                  (cv->rank == 2 && cv->dims[0] == 1 && cv->dims[1] == N)))
                return "INT8 gemm on cpu needs C absent, a scalar or a row [N]";
        }
        return NULL;
    }
    case KILN_OP_ADD:
        for (int k = 0; k < 2; k++) {
            const kiln_value *v = &g->values[n->inputs[k]];
            if (v->rank != y->rank ||
                memcmp(v->dims, y->dims, sizeof(int64_t) * (size_t)y->rank) != 0)
                return "INT8 add with broadcasting is not implemented on cpu";
        }
        return NULL;
    default: return "op has no INT8 form";
    }
}

dnnl_data_type_t cpu_int8_dt(const cpu_plan *p, int32_t v) {
    dnnl_data_type_t dt = p->vmd[v].data_type;
    return cpu_dt_is_int8(dt) ? dt : dnnl_s8;
}

static float thr(const cpu_exec *e, int32_t v) {
    return e->g->values[v].quant.threshold;
}

/* u8 when the op's output cannot be negative. */
static dnnl_data_type_t act_dt(const kiln_attrs *a) {
    if (a->act == KILN_ACT_RELU || (a->act == KILN_ACT_CLIP && a->clip_min >= 0.0f)) return dnnl_u8;
    return dnnl_s8;
}

/* Clip bounds, in units of the output scale sy, of act followed by q's clamp. */
static void clip_bounds(const kiln_attrs *a, double sy, float *lo, float *hi) {
    double l = -127.0, h = 127.0;
    if (a->act == KILN_ACT_RELU) l = 0.0;
    if (a->act == KILN_ACT_CLIP) {
        l = fmax(l, a->clip_min / sy);
        h = fmin(h, a->clip_max / sy);
    }
    *lo = (float)l;
    *hi = (float)h;
}

/* Primitive attr: user scratchpad, output scales (count 0: none), post-ops
 * [sum_v2(sum_scale, sum_dt)] [linear(lin)] clip(lo, hi). */
static kiln_status int8_attr(cpu_exec *e, int32_t node, int64_t n_scales, const float *scales,
                             bool sum, float sum_scale, dnnl_data_type_t sum_dt, float lin,
                             bool clip, float lo, float hi, dnnl_primitive_attr_t *out) {
    dnnl_primitive_attr_t attr;
    CPU_DN(e, node, dnnl_primitive_attr_create(&attr));
    dnnl_status_t s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (s == dnnl_success && n_scales > 0)
        s = dnnl_primitive_attr_set_output_scales(attr, n_scales, n_scales > 1 ? 2 : 0, scales);
    if (s == dnnl_success && (sum || lin != 1.0f || clip)) {
        dnnl_post_ops_t po;
        s = dnnl_post_ops_create(&po);
        if (s == dnnl_success) {
            if (sum) s = dnnl_post_ops_append_sum_v2(po, sum_scale, sum_dt);
            if (s == dnnl_success && lin != 1.0f)
                s = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, lin, 0.0f);
            if (s == dnnl_success && clip)
                s = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, lo, hi);
            if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(attr, po);
            dnnl_post_ops_destroy(po);
        }
    }
    if (s != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return cpu_dnnl_error(e, node, "setting INT8 primitive attributes", s);
    }
    *out = attr;
    return KILN_OK;
}

static inline int8_t q8(double x, double inv) {
    double v = rint(x * inv);
    return (int8_t)(v > 127 ? 127 : (v < -127 ? -127 : v));
}

/* Weights w quantized per output channel exactly as ref_int8.c does, in w's
 * own layout (um: s8, w's dims), cached per value; then packed into pm. */
static kiln_status pack_int8_weights(cpu_exec *e, int32_t node, int32_t w, bool conv, bool trans_b,
                                     const dnnl_memory_desc_t *um, const dnnl_memory_desc_t *pm,
                                     void **out) {
    void *hit = cpu_find_buf(e, w, pm);
    if (hit) {
        *out = hit;
        return KILN_OK;
    }
    const kiln_value *wv = &e->g->values[w];
    int64_t total = kiln_numel(wv->rank, wv->dims), ch = wv->quant.n_channels;
    const float *d = wv->data;
    int64_t expect = conv ? wv->dims[0] : (trans_b ? wv->dims[0] : wv->dims[1]);
    if (!d || ch != expect || !wv->quant.channel_thresholds)
        return kiln_error(KILN_ERR_INTERNAL,
                          "cpu backend: node '%s': weights '%s' have %lld channel thresholds, "
                          "expected %lld (run the precision pass)",
                          e->g->nodes[node].name, wv->name, (long long)ch, (long long)expect);
    int8_t *q = cpu_find_buf(e, w, um);
    if (!q) {
        KILN_TRY(cpu_new_buf(e, w, um, (size_t)total, (void **)&q));
        const float *t = wv->quant.channel_thresholds;
        for (int64_t i = 0; i < total; i++) {
            int64_t c = conv ? i / (total / ch) : (trans_b ? i / wv->dims[1] : i % wv->dims[1]);
            q[i] = t[c] > 0 ? q8(d[i], 127.0 / t[c]) : 0;
        }
    }
    void *dst;
    KILN_TRY(cpu_new_buf(e, w, pm, dnnl_memory_desc_get_size(pm), &dst));
    KILN_TRY(cpu_reorder_now(e, node, um, q, pm, dst));
    *out = dst;
    return KILN_OK;
}

/* Output scales and pre-divided bias per output channel c:
 *   osc[c] = alpha sx sw[c] / sy,   bias[c] = b[c] / (alpha sx sw[c])
 * (a channel whose weights are all 0: osc = 1/sy, bias = b). */
static void channel_scales(const kiln_value *wv, int64_t ch, double alpha, double sx, double sy,
                           const float *b, int64_t b_n, double beta, float *osc, float *bias) {
    for (int64_t c = 0; c < ch; c++) {
        double k = alpha * sx * (wv->quant.channel_thresholds[c] / 127.0);
        double bc = b ? beta * b[b_n == 1 ? 0 : c] : 0.0;
        if (k != 0.0) {
            osc[c] = (float)(k / sy);
            bias[c] = (float)(bc / k);
        } else {
            osc[c] = (float)(1.0 / sy);
            bias[c] = (float)bc;
        }
    }
}

kiln_status cpu_build_conv_int8(cpu_exec *e, cpu_plan *p, int32_t node) {
    const kiln_node *n = &e->g->nodes[node];
    const kiln_attrs *a = &n->attrs;
    int32_t x = n->inputs[0], w = n->inputs[1], y = n->outputs[0];
    int32_t b = n->n_inputs > 2 ? n->inputs[2] : KILN_NO_VALUE;
    int32_t r = n->n_inputs > 3 ? n->inputs[3] : KILN_NO_VALUE;
    int64_t xd[KILN_MAX_RANK], yd[KILN_MAX_RANK];
    cpu_value_dims(e, p, x, xd);
    cpu_value_dims(e, p, y, yd);
    const kiln_value *wv = &e->g->values[w];
    const int64_t *wdims = wv->dims;
    int64_t G = a->group, M = wdims[0];
    int64_t w5[5] = {G, M / G, wdims[1], wdims[2], wdims[3]};
    double sx = thr(e, x) / 127.0, sy = thr(e, y) / 127.0;
    dnnl_data_type_t xdt = cpu_int8_dt(p, x), ydt = act_dt(a);
    dnnl_data_type_t rdt = r != KILN_NO_VALUE ? cpu_int8_dt(p, r) : dnnl_s8;

    dnnl_memory_desc_t src_any, w_any, w_user, b_md, dst_any;
    dnnl_dims_t sd = {xd[0], xd[1], xd[2], xd[3]}, dd = {yd[0], yd[1], yd[2], yd[3]};
    CPU_DN(e, node, dnnl_memory_desc_init_by_tag(&src_any, 4, sd, xdt, dnnl_format_tag_any));
    CPU_DN(e, node, dnnl_memory_desc_init_by_tag(&dst_any, 4, dd, ydt, dnnl_format_tag_any));
    if (G > 1) {
        dnnl_dims_t d5 = {w5[0], w5[1], w5[2], w5[3], w5[4]};
        CPU_DN(e, node, dnnl_memory_desc_init_by_tag(&w_any, 5, d5, dnnl_s8, dnnl_format_tag_any));
        KILN_TRY(cpu_md_plain_dt(5, w5, dnnl_s8, &w_user));
    } else {
        dnnl_dims_t d4 = {wdims[0], wdims[1], wdims[2], wdims[3]};
        CPU_DN(e, node, dnnl_memory_desc_init_by_tag(&w_any, 4, d4, dnnl_s8, dnnl_format_tag_any));
        KILN_TRY(cpu_md_plain_dt(4, wdims, dnnl_s8, &w_user));
    }
    KILN_TRY(cpu_md_plain(1, &M, &b_md));
    dnnl_dims_t strides, dil, pl, pr;
    for (int i = 0; i < 2; i++) {
        int64_t end;
        strides[i] = a->strides[i];
        dil[i] = a->dilations[i] - 1;
        pl[i] = cpu_pad_begin(a, i, xd[2 + i], wdims[2 + i], &end);
        pr[i] = cpu_pad_end(xd[2 + i], yd[2 + i], wdims[2 + i], a->strides[i], a->dilations[i],
                            pl[i], end);
    }
    /* per-channel scales and the pre-divided bias (always present: it is 0
     * without B) */
    float *osc = malloc(sizeof(float) * (size_t)M);
    void *bp = NULL;
    if (!osc) return kiln_error(KILN_ERR_NO_MEMORY, "cpu backend: out of memory");
    kiln_status s = cpu_new_buf(e, -1, NULL, sizeof(float) * (size_t)M, &bp);
    if (s == KILN_OK && wv->quant.n_channels != M)
        s = kiln_error(KILN_ERR_INTERNAL, "cpu backend: node '%s': weights '%s' lack thresholds",
                       n->name, wv->name);
    if (s == KILN_OK)
        channel_scales(wv, M, 1.0, sx, sy,
                       b != KILN_NO_VALUE ? (const float *)e->g->values[b].data : NULL, M, 1.0, osc,
                       bp);
    float lo, hi;
    clip_bounds(a, sy, &lo, &hi);
    dnnl_primitive_attr_t attr = NULL;
    if (s == KILN_OK)
        s = int8_attr(e, node, M, osc, r != KILN_NO_VALUE,
                      r != KILN_NO_VALUE ? (float)(thr(e, r) / thr(e, y)) : 0.0f, rdt, 1.0f, true,
                      lo, hi, &attr);
    free(osc);
    KILN_TRY(s);
    dnnl_convolution_desc_t cd;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t ds = dnnl_dilated_convolution_forward_desc_init(
        &cd, dnnl_forward_inference, dnnl_convolution_direct, &src_any, &w_any, &b_md, &dst_any,
        strides, dil, pl, pr);
    if (ds == dnnl_success) ds = dnnl_primitive_desc_create(&pd, &cd, attr, e->eng, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (ds != dnnl_success)
        return cpu_dnnl_error(e, node, "creating the INT8 convolution primitive", ds);
    dnnl_memory_desc_t src_md = cpu_pd_md(pd, dnnl_query_src_md, 0);
    dnnl_memory_desc_t w_md = cpu_pd_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_desc_t dst_md = cpu_pd_md(pd, dnnl_query_dst_md, 0);
    cpu_prim prim;
    KILN_TRY(cpu_prim_create(e, node, pd, &prim));
    void *wp;
    TRY_PRIM(&prim, pack_int8_weights(e, node, w, true, false, &w_user, &w_md, &wp));
    cpu_arg src, dst;
    TRY_PRIM(&prim, cpu_input(e, p, node, x, &src_md, &src));
    int32_t pending = -1;
    dnnl_memory_desc_t r_md = cpu_md_with_dt(&dst_md, rdt);
    if (r != KILN_NO_VALUE && !e->dedicated[y] && cpu_dt_is_int8(p->vmd[r].data_type) &&
        p->vth[r] == thr(e, r) && dnnl_memory_desc_equal(&p->vmd[r], &r_md) &&
        cpu_residual_in_place(e, p, node, r, x)) {
        p->vst[y] = p->vst[r]; /* the sum post-op adds R where it lies */
        p->vmd[y] = dst_md;
        p->vth[y] = thr(e, y);
        memset(&dst, 0, sizeof dst);
        dst.storage = p->vst[y];
        dst.md = dst_md;
    } else {
        TRY_PRIM(&prim, cpu_output(e, p, node, y, &dst_md, &dst, &pending));
        if (r != KILN_NO_VALUE) { /* the sum post-op reads R (as rdt) from dst: copy it there */
            cpu_arg ra;
            TRY_PRIM(&prim, cpu_input(e, p, node, r, &r_md, &ra));
            TRY_PRIM(&prim, cpu_add_reorder(e, p, node, ra.storage, &r_md, dst.storage, &r_md));
        }
    }
    cpu_step *st;
    KILN_TRY(cpu_add_prim(p, node, &prim, &st));
    cpu_arg_in(st, DNNL_ARG_SRC, &src);
    cpu_arg_fixed(st, DNNL_ARG_WEIGHTS, wp, &w_md);
    cpu_arg_fixed(st, DNNL_ARG_BIAS, bp, &b_md);
    cpu_arg_storage(st, DNNL_ARG_DST, dst.storage, &dst.md, true);
    return cpu_output_done(e, p, node, y, &dst, pending);
}

kiln_status cpu_build_gemm_int8(cpu_exec *e, cpu_plan *p, int32_t node) {
    const kiln_node *n = &e->g->nodes[node];
    const kiln_attrs *a = &n->attrs;
    int32_t A = n->inputs[0], B = n->inputs[1], y = n->outputs[0];
    int32_t C = n->n_inputs > 2 ? n->inputs[2] : KILN_NO_VALUE;
    int64_t ad[KILN_MAX_RANK], yd[KILN_MAX_RANK];
    cpu_value_dims(e, p, A, ad);
    cpu_value_dims(e, p, y, yd);
    int64_t K = ad[1], N = yd[1];
    const kiln_value *bv = &e->g->values[B];
    double sx = thr(e, A) / 127.0, sy = thr(e, y) / 127.0;
    dnnl_data_type_t xdt = cpu_int8_dt(p, A), ydt = act_dt(a);
    dnnl_memory_desc_t src_any, w_any, w_user, b_md, dst_any;
    dnnl_dims_t sdims = {ad[0], K}, wdims = {N, K}, ddims = {yd[0], N};
    dnnl_dims_t wstr = {K, 1};
    if (!a->trans_b) wstr[0] = 1, wstr[1] = N; /* B is [K,N]: the weights are its transpose */
    CPU_DN(e, node, dnnl_memory_desc_init_by_tag(&src_any, 2, sdims, xdt, dnnl_format_tag_any));
    CPU_DN(e, node, dnnl_memory_desc_init_by_tag(&w_any, 2, wdims, dnnl_s8, dnnl_format_tag_any));
    CPU_DN(e, node, dnnl_memory_desc_init_by_tag(&dst_any, 2, ddims, ydt, dnnl_format_tag_any));
    CPU_DN(e, node, dnnl_memory_desc_init_by_strides(&w_user, 2, wdims, dnnl_s8, wstr));
    KILN_TRY(cpu_md_plain(1, &N, &b_md));
    if (bv->quant.n_channels != N)
        return kiln_error(KILN_ERR_INTERNAL, "cpu backend: node '%s': weights '%s' lack thresholds",
                          n->name, bv->name);
    float *osc = malloc(sizeof(float) * (size_t)N);
    void *bp = NULL;
    if (!osc) return kiln_error(KILN_ERR_NO_MEMORY, "cpu backend: out of memory");
    kiln_status s = cpu_new_buf(e, -1, NULL, sizeof(float) * (size_t)N, &bp);
    if (s == KILN_OK) {
        const kiln_value *cv = C != KILN_NO_VALUE ? &e->g->values[C] : NULL;
        channel_scales(bv, N, a->alpha, sx, sy, cv ? (const float *)cv->data : NULL,
                       cv ? kiln_numel(cv->rank, cv->dims) : 0, a->beta, osc, bp);
    }
    float lo, hi;
    clip_bounds(a, sy, &lo, &hi);
    dnnl_primitive_attr_t attr = NULL;
    if (s == KILN_OK)
        s = int8_attr(e, node, N, osc, false, 0.0f, dnnl_s8, 1.0f, true, lo, hi, &attr);
    free(osc);
    KILN_TRY(s);
    dnnl_inner_product_desc_t ipd;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t ds = dnnl_inner_product_forward_desc_init(&ipd, dnnl_forward_inference, &src_any,
                                                            &w_any, &b_md, &dst_any);
    if (ds == dnnl_success) ds = dnnl_primitive_desc_create(&pd, &ipd, attr, e->eng, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (ds != dnnl_success)
        return cpu_dnnl_error(e, node, "creating the INT8 inner product primitive", ds);
    dnnl_memory_desc_t src_md = cpu_pd_md(pd, dnnl_query_src_md, 0);
    dnnl_memory_desc_t w_md = cpu_pd_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_desc_t dst_md = cpu_pd_md(pd, dnnl_query_dst_md, 0);
    cpu_prim prim;
    KILN_TRY(cpu_prim_create(e, node, pd, &prim));
    void *wp;
    TRY_PRIM(&prim, pack_int8_weights(e, node, B, false, a->trans_b, &w_user, &w_md, &wp));
    cpu_arg src, dst;
    int32_t pending;
    TRY_PRIM(&prim, cpu_input(e, p, node, A, &src_md, &src));
    TRY_PRIM(&prim, cpu_output(e, p, node, y, &dst_md, &dst, &pending));
    cpu_step *st;
    KILN_TRY(cpu_add_prim(p, node, &prim, &st));
    cpu_arg_in(st, DNNL_ARG_SRC, &src);
    cpu_arg_fixed(st, DNNL_ARG_WEIGHTS, wp, &w_md);
    cpu_arg_fixed(st, DNNL_ARG_BIAS, bp, &b_md);
    cpu_arg_storage(st, DNNL_ARG_DST, dst.storage, &dst.md, true);
    return cpu_output_done(e, p, node, y, &dst, pending);
}

/* True if a oneDNN reorder with output scale r into s8 (float product, round
 * to nearest even, saturation to [-128, 127]) maps every byte as o->lut does
 * (u8 values 0..127 have the same bytes as s8). */
static bool reorder_equals_lut(const cpu_own *o, float r) {
    for (int b = 0; b < 256; b++) {
        int32_t qi = o->in_u8 ? b : (int32_t)(int8_t)(uint8_t)b;
        float v = nearbyintf((float)qi * r);
        float lo = -128.0f, hi = 127.0f;
        v = v < lo ? lo : (v > hi ? hi : v);
        uint8_t got = (uint8_t)(int8_t)v;
        if (got != o->lut[b]) return false;
    }
    return true;
}

kiln_status cpu_build_pool_int8(cpu_exec *e, cpu_plan *p, int32_t node) {
    const kiln_node *n = &e->g->nodes[node];
    const kiln_attrs *a = &n->attrs;
    int32_t x = n->inputs[0], y = n->outputs[0];
    int64_t xd[KILN_MAX_RANK], yd[KILN_MAX_RANK];
    cpu_value_dims(e, p, x, xd);
    cpu_value_dims(e, p, y, yd);
    bool global = n->op == KILN_OP_GLOBAL_AVG_POOL, is_max = n->op == KILN_OP_MAX_POOL;
    dnnl_dims_t strides, kernel, dil, pl, pr;
    for (int i = 0; i < 2; i++) {
        if (global) {
            kernel[i] = xd[2 + i];
            strides[i] = 1;
            dil[i] = 0;
            pl[i] = pr[i] = 0;
            continue;
        }
        int64_t end;
        kernel[i] = a->kernel[i];
        strides[i] = a->strides[i];
        dil[i] = a->dilations[i] - 1;
        pl[i] = cpu_pad_begin(a, i, xd[2 + i], a->kernel[i], &end);
        pr[i] = cpu_pad_end(xd[2 + i], yd[2 + i], a->kernel[i], a->strides[i], a->dilations[i],
                            pl[i], end);
    }
    dnnl_alg_kind_t alg = is_max                 ? dnnl_pooling_max
                          : a->count_include_pad ? dnnl_pooling_avg_include_padding
                                                 : dnnl_pooling_avg_exclude_padding;
    if (global) alg = dnnl_pooling_avg_exclude_padding;
    dnnl_data_type_t dt = cpu_int8_dt(p, x);
    float tx = thr(e, x), ty = thr(e, y);
    /* the layout x is stored in when it is int8 already, else dense */
    dnnl_memory_desc_t src_md, dst_any;
    if (cpu_dt_is_int8(p->vmd[x].data_type))
        src_md = p->vmd[x];
    else
        KILN_TRY(cpu_md_plain_dt(4, xd, dt, &src_md));
    dnnl_dims_t dd = {yd[0], yd[1], yd[2], yd[3]};
    CPU_DN(e, node, dnnl_memory_desc_init_by_tag(&dst_any, 4, dd, dt, dnnl_format_tag_any));
    dnnl_pooling_v2_desc_t pdesc;
    CPU_DN(e, node,
           dnnl_pooling_v2_forward_desc_init(&pdesc, dnnl_forward_inference, alg, &src_md, &dst_any,
                                             strides, kernel, dil, pl, pr));
    /* average: rescale to T_y before the rounding store; max: exact, then
     * requantized below when the thresholds differ */
    bool rescale = !is_max && tx != ty;
    dnnl_primitive_attr_t attr;
    KILN_TRY(int8_attr(e, node, 0, NULL, false, 0.0f, dnnl_s8, rescale ? (float)(tx / ty) : 1.0f,
                       rescale, dt == dnnl_u8 ? 0.0f : -127.0f, 127.0f, &attr));
    dnnl_primitive_desc_t pd;
    kiln_status s = cpu_pd_create(e, node, &pdesc, attr, &pd);
    dnnl_primitive_attr_destroy(attr);
    KILN_TRY(s);
    dnnl_memory_desc_t dst_md = cpu_pd_md(pd, dnnl_query_dst_md, 0);
    src_md = cpu_pd_md(pd, dnnl_query_src_md, 0);
    cpu_prim prim;
    KILN_TRY(cpu_prim_create(e, node, pd, &prim));
    cpu_arg src, dst;
    int32_t pending, pooled;
    TRY_PRIM(&prim, cpu_input(e, p, node, x, &src_md, &src));
    TRY_PRIM(&prim, cpu_output(e, p, node, y, &dst_md, &dst, &pending));
    bool requant = is_max && tx != ty;
    pooled = dst.storage;
    if (requant) TRY_PRIM(&prim, cpu_new_storage(p, dnnl_memory_desc_get_size(&dst_md), &pooled));
    cpu_step *st;
    KILN_TRY(cpu_add_prim(p, node, &prim, &st));
    cpu_arg_in(st, DNNL_ARG_SRC, &src);
    cpu_arg_storage(st, DNNL_ARG_DST, pooled, &dst.md, true);
    if (requant) {
        cpu_own o;
        memset(&o, 0, sizeof o);
        o.kind = CPU_OWN_REQUANT;
        o.n = (int64_t)dnnl_memory_desc_get_size(&dst_md);
        o.dscale = tx / 127.0;
        o.qscale = 127.0 / ty;
        o.in_u8 = o.out_u8 = dt == dnnl_u8;
        cpu_own_requant_init(&o);
        float r = (float)(tx / ty);
        if (reorder_equals_lut(&o, r)) { /* oneDNN's threaded reorder gives the same bytes */
            dnnl_memory_desc_t s8 = cpu_md_with_dt(&dst.md, dnnl_s8);
            KILN_TRY(cpu_add_reorder_scaled(e, p, node, pooled, &dst.md, dst.storage, &s8, r));
        } else {
            KILN_TRY(cpu_add_step(p, node, &st));
            st->own = true;
            st->o = o;
            cpu_arg_storage(st, 0, pooled, &dst.md, false);
            cpu_arg_storage(st, 1, dst.storage, &dst.md, true);
        }
    }
    return cpu_output_done(e, p, node, y, &dst, pending);
}

kiln_status cpu_build_add_int8(cpu_exec *e, cpu_plan *p, int32_t node) {
    const kiln_node *n = &e->g->nodes[node];
    int32_t y = n->outputs[0], in[2] = {n->inputs[0], n->inputs[1]};
    int32_t rank = e->g->values[y].rank;
    int64_t yd[KILN_MAX_RANK];
    cpu_value_dims(e, p, y, yd);
    dnnl_memory_desc_t want[2], dst_any;
    float scales[2];
    for (int k = 0; k < 2; k++) {
        if (cpu_dt_is_int8(p->vmd[in[k]].data_type))
            want[k] = p->vmd[in[k]];
        else
            KILN_TRY(cpu_md_plain_dt(rank, yd, dnnl_s8, &want[k]));
        scales[k] = (float)(thr(e, in[k]) / thr(e, y));
    }
    dnnl_data_type_t ydt = act_dt(&n->attrs);
    KILN_TRY(cpu_md_any(rank, yd, &dst_any));
    dst_any.data_type = ydt;
    dnnl_binary_desc_t bd;
    CPU_DN(e, node, dnnl_binary_desc_init(&bd, dnnl_binary_add, &want[0], &want[1], &dst_any));
    float lo, hi;
    clip_bounds(&n->attrs, thr(e, y) / 127.0, &lo, &hi);
    dnnl_primitive_attr_t attr;
    KILN_TRY(int8_attr(e, node, 0, NULL, false, 0.0f, dnnl_s8, 1.0f, true, lo, hi, &attr));
    dnnl_status_t ds = dnnl_primitive_attr_set_scales(attr, DNNL_ARG_SRC_0, 1, 0, &scales[0]);
    if (ds == dnnl_success)
        ds = dnnl_primitive_attr_set_scales(attr, DNNL_ARG_SRC_1, 1, 0, &scales[1]);
    dnnl_primitive_desc_t pd = NULL;
    if (ds == dnnl_success) ds = dnnl_primitive_desc_create(&pd, &bd, attr, e->eng, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (ds != dnnl_success) return cpu_dnnl_error(e, node, "creating the INT8 binary add", ds);
    dnnl_memory_desc_t dst_md = cpu_pd_md(pd, dnnl_query_dst_md, 0);
    cpu_prim prim;
    KILN_TRY(cpu_prim_create(e, node, pd, &prim));
    cpu_arg src[2], dst;
    for (int k = 0; k < 2; k++)
        TRY_PRIM(&prim, cpu_input(e, p, node, in[k], &want[k], &src[k]));
    int32_t pending;
    TRY_PRIM(&prim, cpu_output(e, p, node, y, &dst_md, &dst, &pending));
    cpu_step *st;
    KILN_TRY(cpu_add_prim(p, node, &prim, &st));
    cpu_arg_in(st, DNNL_ARG_SRC_0, &src[0]);
    cpu_arg_in(st, DNNL_ARG_SRC_1, &src[1]);
    cpu_arg_storage(st, DNNL_ARG_DST, dst.storage, &dst.md, true);
    return cpu_output_done(e, p, node, y, &dst, pending);
}
