/*
 * cpu_ops_nn.c — the cpu backend's heavy ops on oneDNN: convolution (groups,
 * strides, dilations, asymmetric/auto padding, fused bias + residual "sum"
 * post-op + relu/clip, the residual summed in place when its buffer is free),
 * pooling (max/avg/global; ceil mode as extra end padding), gemm as inner
 * product (weights packed once) or matmul, and numpy matmul.
 *
 * Primitives let oneDNN choose their layouts (format_tag any; convs follow
 * the layout policy below); inputs in another layout are reordered by
 * cpu_input, weights are packed once at create.
 *
 * These are the FP32 forms (INT8 ones: cpu_int8.c); int8 inputs are read
 * dequantized.
 *
 * Non-goals: 1-D/3-D convolution.
 */
#include <string.h>

#include "backend/cpu/cpu.h"
#include "core/status.h"

/* The residual r may be overwritten by conv `node` (its sum post-op in place):
 * nothing reads r's storage after this node. */
bool cpu_residual_in_place(const cpu_exec *e, const cpu_plan *p, int32_t node, int32_t r,
                           int32_t x) {
    int32_t sid = p->vst[r];
    if (sid < 0 || p->st[sid].fixed || p->vst[x] == sid) return false;
    for (int32_t v = 0; v < e->g->n_values; v++)
        if (p->vst[v] == sid && e->last_use[v] > node) return false;
    return true;
}

/* Layout policy, measured on ResNet50 on 2 Zen 5 cores: at batch 1 oneDNN's
 * own choice (nhwc brgconv) is fastest; from batch 2 on, nChw16c (its jit and
 * winograd kernels) is, so convs with >= 16 input and output channels get
 * aBcd16b there. 3x3 stride-1 convs try winograd first (2.25x fewer
 * multiplies; ||diff||/||direct|| ~1e-6 on ResNet50) and fall back to direct
 * when oneDNN has no winograd kernel for the shape or post-ops. A candidate
 * that lands on a reference (scalar) kernel is skipped for the next one. */
static kiln_status blocked_md(const int64_t *d, dnnl_memory_desc_t *md) {
    dnnl_dims_t dims = {d[0], d[1], d[2], d[3]};
    dnnl_status_t s = dnnl_memory_desc_init_by_tag(md, 4, dims, dnnl_f32, dnnl_aBcd16b);
    return s == dnnl_success ? KILN_OK : cpu_dnnl_error(NULL, -1, "dnnl_memory_desc_init", s);
}

#define TRY_PRIM(pr, expr)                                                                         \
    do {                                                                                           \
        kiln_status try_s_ = (expr);                                                               \
        if (try_s_ != KILN_OK) {                                                                   \
            cpu_prim_drop(pr);                                                                     \
            return try_s_;                                                                         \
        }                                                                                          \
    } while (0)

kiln_status cpu_build_conv(cpu_exec *e, cpu_plan *p, int32_t node) {
    const kiln_node *n = &e->g->nodes[node];
    const kiln_attrs *a = &n->attrs;
    int32_t x = n->inputs[0], w = n->inputs[1], y = n->outputs[0];
    int32_t b = n->n_inputs > 2 ? n->inputs[2] : KILN_NO_VALUE;
    int32_t r = n->n_inputs > 3 ? n->inputs[3] : KILN_NO_VALUE;
    int64_t xd[KILN_MAX_RANK], yd[KILN_MAX_RANK];
    cpu_value_dims(e, p, x, xd);
    cpu_value_dims(e, p, y, yd);
    const int64_t *wdims = e->g->values[w].dims;
    int64_t G = a->group, M = wdims[0];
    int64_t w5[5] = {G, M / G, wdims[1], wdims[2], wdims[3]};
    dnnl_memory_desc_t w_any, w_user, b_md;
    KILN_TRY(G > 1 ? cpu_md_any(5, w5, &w_any) : cpu_md_any(4, wdims, &w_any));
    KILN_TRY(G > 1 ? cpu_md_plain(5, w5, &w_user) : cpu_md_plain(4, wdims, &w_user));
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
    dnnl_primitive_attr_t attr;
    KILN_TRY(cpu_make_attr(e, node, a->act, a->clip_min, a->clip_max, r != KILN_NO_VALUE, &attr));
    /* Candidates, best first (see the layout policy above); the last one is
     * plain oneDNN choice and reports its error. */
    struct {
        dnnl_alg_kind_t alg;
        bool blocked;
    } tries[3];
    int nt = 0;
    bool blocked = p->batch >= 2 && xd[1] >= 16 && M >= 16;
    if (wdims[2] == 3 && wdims[3] == 3 && a->strides[0] == 1 && a->strides[1] == 1 &&
        a->dilations[0] == 1 && a->dilations[1] == 1 && G == 1)
        tries[nt].alg = dnnl_convolution_winograd, tries[nt++].blocked = blocked;
    if (blocked) tries[nt].alg = dnnl_convolution_direct, tries[nt++].blocked = true;
    tries[nt].alg = dnnl_convolution_direct, tries[nt++].blocked = false;
    dnnl_primitive_desc_t pd = NULL;
    for (int t = 0; t < nt && !pd; t++) {
        bool last = t == nt - 1;
        dnnl_memory_desc_t src_any, dst_any;
        kiln_status s = tries[t].blocked ? blocked_md(xd, &src_any) : cpu_md_any(4, xd, &src_any);
        if (s == KILN_OK)
            s = tries[t].blocked ? blocked_md(yd, &dst_any) : cpu_md_any(4, yd, &dst_any);
        if (s != KILN_OK) {
            dnnl_primitive_attr_destroy(attr);
            return s;
        }
        dnnl_convolution_desc_t cd;
        dnnl_status_t ds = dnnl_dilated_convolution_forward_desc_init(
            &cd, dnnl_forward_inference, tries[t].alg, &src_any, &w_any,
            b != KILN_NO_VALUE ? &b_md : NULL, &dst_any, strides, dil, pl, pr);
        if (ds == dnnl_success) ds = dnnl_primitive_desc_create(&pd, &cd, attr, e->eng, NULL);
        if (ds != dnnl_success) {
            pd = NULL;
            if (!last) continue;
            dnnl_primitive_attr_destroy(attr);
            return cpu_dnnl_error(e, node, "creating the convolution primitive", ds);
        }
        const char *impl = NULL;
        if (!last &&
            dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
            impl && strncmp(impl, "ref", 3) == 0) { /* a reference kernel: try the next */
            dnnl_primitive_desc_destroy(pd);
            pd = NULL;
        }
    }
    dnnl_primitive_attr_destroy(attr);
    dnnl_memory_desc_t src_md = cpu_pd_md(pd, dnnl_query_src_md, 0);
    dnnl_memory_desc_t w_md = cpu_pd_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_desc_t dst_md = cpu_pd_md(pd, dnnl_query_dst_md, 0);
    cpu_prim prim;
    KILN_TRY(cpu_prim_create(e, node, pd, &prim));

    void *wp, *bp = NULL;
    TRY_PRIM(&prim, cpu_pack_weights(e, node, w, 1.0f, &w_user, &w_md, &wp));
    if (b != KILN_NO_VALUE) TRY_PRIM(&prim, cpu_const_copy(e, b, 1.0f, &b_md, &bp));
    cpu_arg src, dst;
    TRY_PRIM(&prim, cpu_input(e, p, node, x, &src_md, &src));
    int32_t pending = -1;
    if (r != KILN_NO_VALUE && !e->dedicated[y] && cpu_residual_in_place(e, p, node, r, x) &&
        dnnl_memory_desc_equal(&p->vmd[r], &dst_md)) {
        p->vst[y] = p->vst[r];
        p->vmd[y] = dst_md;
        memset(&dst, 0, sizeof dst);
        dst.storage = p->vst[y];
        dst.md = dst_md;
    } else {
        TRY_PRIM(&prim, cpu_output(e, p, node, y, &dst_md, &dst, &pending));
        if (r != KILN_NO_VALUE) /* the sum post-op reads R from dst: copy it there */
            TRY_PRIM(&prim,
                     cpu_add_reorder_scaled(e, p, node, p->vst[r], &p->vmd[r], dst.storage, &dst.md,
                                            p->vth[r] > 0 ? (float)(p->vth[r] / 127.0) : 1.0f));
    }
    cpu_step *st;
    KILN_TRY(cpu_add_prim(p, node, &prim, &st));
    cpu_arg_in(st, DNNL_ARG_SRC, &src);
    cpu_arg_fixed(st, DNNL_ARG_WEIGHTS, wp, &w_md);
    if (bp) cpu_arg_fixed(st, DNNL_ARG_BIAS, bp, &b_md);
    cpu_arg_storage(st, DNNL_ARG_DST, dst.storage, &dst.md, true);
    return cpu_output_done(e, p, node, y, &dst, pending);
}

/* Average pooling whose ceil-mode windows run past the declared end padding
 * while padding counts: oneDNN would divide by the whole window, the ref
 * semantics clip it to the padded extent. Own code, plain layout. */
static kiln_status pool_own(cpu_exec *e, cpu_plan *p, int32_t node, const int64_t *xd,
                            const int64_t *yd, const int64_t *pb, const int64_t *pe) {
    const kiln_node *n = &e->g->nodes[node];
    int32_t x = n->inputs[0], y = n->outputs[0];
    dnnl_memory_desc_t xm, ym;
    KILN_TRY(cpu_md_plain(4, xd, &xm));
    KILN_TRY(cpu_md_plain(4, yd, &ym));
    cpu_arg src, dst;
    int32_t pending;
    KILN_TRY(cpu_input(e, p, node, x, &xm, &src));
    KILN_TRY(cpu_output(e, p, node, y, &ym, &dst, &pending));
    cpu_step *st;
    KILN_TRY(cpu_add_step(p, node, &st));
    st->own = true;
    st->o.kind = CPU_OWN_AVG_POOL;
    st->o.rank = 4;
    for (int i = 0; i < 4; i++) {
        st->o.in[0][i] = xd[i];
        st->o.out[i] = yd[i];
    }
    for (int i = 0; i < 2; i++) {
        st->o.kernel[i] = n->attrs.kernel[i];
        st->o.strides[i] = n->attrs.strides[i];
        st->o.dilations[i] = n->attrs.dilations[i];
        st->o.pad_begin[i] = pb[i];
        st->o.pad_end[i] = pe[i];
    }
    st->o.count_include_pad = n->attrs.count_include_pad;
    cpu_arg_in(st, 0, &src);
    cpu_arg_storage(st, 1, dst.storage, &dst.md, true);
    return cpu_output_done(e, p, node, y, &dst, pending);
}

kiln_status cpu_build_pool(cpu_exec *e, cpu_plan *p, int32_t node) {
    const kiln_node *n = &e->g->nodes[node];
    const kiln_attrs *a = &n->attrs;
    int32_t x = n->inputs[0], y = n->outputs[0];
    int64_t xd[KILN_MAX_RANK], yd[KILN_MAX_RANK];
    cpu_value_dims(e, p, x, xd);
    cpu_value_dims(e, p, y, yd);
    bool global = n->op == KILN_OP_GLOBAL_AVG_POOL || n->op == KILN_OP_GLOBAL_MAX_POOL;
    bool is_max = n->op == KILN_OP_MAX_POOL || n->op == KILN_OP_GLOBAL_MAX_POOL;
    dnnl_dims_t strides, kernel, dil, pl, pr;
    int64_t declared_end[2], pb[2];
    bool past_end = false;
    for (int i = 0; i < 2; i++) {
        if (global) {
            kernel[i] = xd[2 + i];
            strides[i] = 1;
            dil[i] = 0;
            pl[i] = pr[i] = 0;
            continue;
        }
        kernel[i] = a->kernel[i];
        strides[i] = a->strides[i];
        dil[i] = a->dilations[i] - 1;
        pl[i] = pb[i] = cpu_pad_begin(a, i, xd[2 + i], a->kernel[i], &declared_end[i]);
        pr[i] = cpu_pad_end(xd[2 + i], yd[2 + i], a->kernel[i], a->strides[i], a->dilations[i],
                            pl[i], declared_end[i]);
        past_end = past_end || pr[i] > declared_end[i];
    }
    if (!is_max && !global && a->count_include_pad && past_end)
        return pool_own(e, p, node, xd, yd, pb, declared_end);
    dnnl_alg_kind_t alg = is_max                 ? dnnl_pooling_max
                          : a->count_include_pad ? dnnl_pooling_avg_include_padding
                                                 : dnnl_pooling_avg_exclude_padding;
    if (global) alg = is_max ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding;
    dnnl_memory_desc_t src_md, dst_any;
    if (cpu_is_const(e, x))
        KILN_TRY(cpu_md_plain(4, xd, &src_md));
    else
        src_md = cpu_md_f32(p, x);
    KILN_TRY(cpu_md_any(4, yd, &dst_any));
    dnnl_pooling_v2_desc_t pdesc;
    CPU_DN(e, node,
           dnnl_pooling_v2_forward_desc_init(&pdesc, dnnl_forward_inference, alg, &src_md, &dst_any,
                                             strides, kernel, dil, pl, pr));
    dnnl_primitive_attr_t attr;
    KILN_TRY(cpu_make_attr(e, node, KILN_ACT_NONE, 0, 0, false, &attr));
    dnnl_primitive_desc_t pd;
    kiln_status s = cpu_pd_create(e, node, &pdesc, attr, &pd);
    dnnl_primitive_attr_destroy(attr);
    KILN_TRY(s);
    dnnl_memory_desc_t dst_md = cpu_pd_md(pd, dnnl_query_dst_md, 0);
    src_md = cpu_pd_md(pd, dnnl_query_src_md, 0);
    cpu_prim prim;
    KILN_TRY(cpu_prim_create(e, node, pd, &prim));
    cpu_arg src, dst;
    int32_t pending;
    TRY_PRIM(&prim, cpu_input(e, p, node, x, &src_md, &src));
    TRY_PRIM(&prim, cpu_output(e, p, node, y, &dst_md, &dst, &pending));
    cpu_step *st;
    KILN_TRY(cpu_add_prim(p, node, &prim, &st));
    cpu_arg_in(st, DNNL_ARG_SRC, &src);
    cpu_arg_storage(st, DNNL_ARG_DST, dst.storage, &dst.md, true);
    return cpu_output_done(e, p, node, y, &dst, pending);
}

/* C of a gemm as a bias row [N]: absent, a scalar, [N] or [1,N]. */
static bool c_is_row(const kiln_value *c, int64_t N) {
    int64_t ne = kiln_numel(c->rank, c->dims);
    if (ne == 1) return true;
    if (c->rank == 1) return c->dims[0] == N;
    return c->rank == 2 && c->dims[0] == 1 && c->dims[1] == N;
}

/* Y = act(alpha * A B' + beta * C) as an inner product: alpha folded into the
 * packed weights, beta * C into the bias. */
static kiln_status gemm_ip(cpu_exec *e, cpu_plan *p, int32_t node) {
    const kiln_node *n = &e->g->nodes[node];
    const kiln_attrs *a = &n->attrs;
    int32_t A = n->inputs[0], B = n->inputs[1], y = n->outputs[0];
    int32_t C = n->n_inputs > 2 ? n->inputs[2] : KILN_NO_VALUE;
    int64_t ad[KILN_MAX_RANK], yd[KILN_MAX_RANK];
    cpu_value_dims(e, p, A, ad);
    cpu_value_dims(e, p, y, yd);
    int64_t K = ad[1], N = yd[1];
    int64_t wd[2] = {N, K};
    dnnl_memory_desc_t src_any, w_any, w_user, b_md, dst_any;
    KILN_TRY(cpu_md_any(2, ad, &src_any));
    KILN_TRY(cpu_md_any(2, wd, &w_any));
    KILN_TRY(cpu_md_any(2, yd, &dst_any));
    KILN_TRY(cpu_md_plain(1, &N, &b_md));
    dnnl_dims_t wdims = {N, K}, wstr = {K, 1};
    if (!a->trans_b) wstr[0] = 1, wstr[1] = N; /* B is [K,N]: the weights are its transpose */
    CPU_DN(e, node, dnnl_memory_desc_init_by_strides(&w_user, 2, wdims, dnnl_f32, wstr));
    dnnl_inner_product_desc_t ipd;
    CPU_DN(e, node,
           dnnl_inner_product_forward_desc_init(&ipd, dnnl_forward_inference, &src_any, &w_any,
                                                C != KILN_NO_VALUE ? &b_md : NULL, &dst_any));
    dnnl_primitive_attr_t attr;
    KILN_TRY(cpu_make_attr(e, node, a->act, a->clip_min, a->clip_max, false, &attr));
    dnnl_primitive_desc_t pd;
    kiln_status s = cpu_pd_create(e, node, &ipd, attr, &pd);
    dnnl_primitive_attr_destroy(attr);
    KILN_TRY(s);
    dnnl_memory_desc_t src_md = cpu_pd_md(pd, dnnl_query_src_md, 0);
    dnnl_memory_desc_t w_md = cpu_pd_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_desc_t dst_md = cpu_pd_md(pd, dnnl_query_dst_md, 0);
    cpu_prim prim;
    KILN_TRY(cpu_prim_create(e, node, pd, &prim));
    void *wp, *bp = NULL;
    TRY_PRIM(&prim, cpu_pack_weights(e, node, B, a->alpha, &w_user, &w_md, &wp));
    if (C != KILN_NO_VALUE) {
        const kiln_value *cv = &e->g->values[C];
        TRY_PRIM(&prim, cpu_new_buf(e, -1, NULL, (size_t)N * sizeof(float), &bp));
        const float *c = cv->data;
        bool scalar = kiln_numel(cv->rank, cv->dims) == 1;
        for (int64_t j = 0; j < N; j++)
            ((float *)bp)[j] = a->beta * c[scalar ? 0 : j];
    }
    cpu_arg src, dst;
    int32_t pending;
    TRY_PRIM(&prim, cpu_input(e, p, node, A, &src_md, &src));
    TRY_PRIM(&prim, cpu_output(e, p, node, y, &dst_md, &dst, &pending));
    cpu_step *st;
    KILN_TRY(cpu_add_prim(p, node, &prim, &st));
    cpu_arg_in(st, DNNL_ARG_SRC, &src);
    cpu_arg_fixed(st, DNNL_ARG_WEIGHTS, wp, &w_md);
    if (bp) cpu_arg_fixed(st, DNNL_ARG_BIAS, bp, &b_md);
    cpu_arg_storage(st, DNNL_ARG_DST, dst.storage, &dst.md, true);
    return cpu_output_done(e, p, node, y, &dst, pending);
}

/* Operand of a matmul: value v (dense row-major), rank-1 promoted (A: [1,K],
 * B: [K,1]), padded to `rank` with leading 1s, last two dims swapped when
 * transposed (through strides). */
static kiln_status mm_operand(cpu_exec *e, cpu_plan *p, int32_t node, int32_t v, bool is_b,
                              bool trans, int32_t rank, int64_t *ldims, cpu_arg *out) {
    int64_t vd[KILN_MAX_RANK], pd[DNNL_MAX_NDIMS];
    cpu_value_dims(e, p, v, vd);
    int32_t vr = e->g->values[v].rank;
    dnnl_memory_desc_t plain;
    KILN_TRY(cpu_md_plain(vr, vd, &plain));
    KILN_TRY(cpu_input(e, p, node, v, &plain, out));
    int64_t md2[2];
    int32_t r2 = vr;
    if (vr == 1) {
        md2[0] = is_b ? vd[0] : 1;
        md2[1] = is_b ? 1 : vd[0];
        r2 = 2;
    }
    for (int32_t i = 0; i < rank; i++) {
        int32_t j = i - (rank - r2);
        pd[i] = j < 0 ? 1 : (vr == 1 ? md2[j] : vd[j]);
    }
    dnnl_dims_t st, dims;
    dnnl_dim_t acc = 1;
    for (int32_t i = rank - 1; i >= 0; i--) {
        st[i] = acc;
        acc *= pd[i];
        dims[i] = pd[i];
    }
    if (trans) {
        dnnl_dim_t t = dims[rank - 1];
        dims[rank - 1] = dims[rank - 2];
        dims[rank - 2] = t;
        t = st[rank - 1];
        st[rank - 1] = st[rank - 2];
        st[rank - 2] = t;
    }
    for (int32_t i = 0; i < rank; i++)
        ldims[i] = dims[i];
    CPU_DN(e, node, dnnl_memory_desc_init_by_strides(&out->md, rank, dims, dnnl_f32, st));
    return KILN_OK;
}

/* Y = act(alpha * op(A) op(B) [+ beta * C]) on oneDNN's matmul (plain layouts,
 * batch broadcast). oneDNN applies the output scale to (acc + bias), so the
 * bias is beta * C / alpha. */
static kiln_status matmul_prim(cpu_exec *e, cpu_plan *p, int32_t node, int32_t C, float beta) {
    const kiln_node *n = &e->g->nodes[node];
    const kiln_attrs *a = &n->attrs;
    int32_t A = n->inputs[0], B = n->inputs[1], y = n->outputs[0];
    int32_t ra = e->g->values[A].rank, rb = e->g->values[B].rank;
    int32_t rank = ra > rb ? ra : rb;
    if (rank < 2) rank = 2;
    int64_t al[DNNL_MAX_NDIMS], bl[DNNL_MAX_NDIMS];
    cpu_arg sa, sb;
    KILN_TRY(mm_operand(e, p, node, A, false, a->trans_a, rank, al, &sa));
    KILN_TRY(mm_operand(e, p, node, B, true, a->trans_b, rank, bl, &sb));
    int64_t dd[DNNL_MAX_NDIMS];
    for (int32_t i = 0; i < rank - 2; i++)
        dd[i] = al[i] == 1 ? bl[i] : al[i];
    dd[rank - 2] = al[rank - 2];
    dd[rank - 1] = bl[rank - 1];
    dnnl_memory_desc_t dst_md, bias_md;
    KILN_TRY(cpu_md_plain(rank, dd, &dst_md));
    void *bp = NULL;
    if (C != KILN_NO_VALUE) {
        /* C's dims aligned to dst; a dim larger than dst's (C built for the
         * full batch, run at a smaller one) reads its leading part */
        const kiln_value *cv = &e->g->values[C];
        dnnl_dims_t cd, cs;
        dnnl_dim_t acc = 1;
        for (int32_t i = rank - 1; i >= 0; i--) {
            int32_t j = i - (rank - cv->rank);
            int64_t full = j < 0 ? 1 : cv->dims[j];
            cd[i] = full > dd[i] ? dd[i] : full;
            cs[i] = acc;
            acc *= full;
        }
        CPU_DN(e, node, dnnl_memory_desc_init_by_strides(&bias_md, rank, cd, dnnl_f32, cs));
        dnnl_memory_desc_t whole;
        KILN_TRY(cpu_md_plain(cv->rank, cv->dims, &whole));
        KILN_TRY(cpu_const_copy(e, C, beta / a->alpha, &whole, &bp));
    }
    dnnl_matmul_desc_t mdesc;
    CPU_DN(e, node, dnnl_matmul_desc_init(&mdesc, &sa.md, &sb.md, bp ? &bias_md : NULL, &dst_md));
    dnnl_primitive_attr_t attr;
    KILN_TRY(cpu_make_attr(e, node, a->act, a->clip_min, a->clip_max, false, &attr));
    dnnl_status_t ds = dnnl_success;
    if (a->alpha != 1.0f) ds = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &a->alpha);
    dnnl_primitive_desc_t pd;
    kiln_status s = ds == dnnl_success
                        ? cpu_pd_create(e, node, &mdesc, attr, &pd)
                        : cpu_dnnl_error(e, node, "dnnl_primitive_attr_set_output_scales", ds);
    dnnl_primitive_attr_destroy(attr);
    KILN_TRY(s);
    cpu_prim prim;
    KILN_TRY(cpu_prim_create(e, node, pd, &prim));
    cpu_arg dst;
    int32_t pending;
    TRY_PRIM(&prim, cpu_output(e, p, node, y, &dst_md, &dst, &pending));
    cpu_step *st;
    KILN_TRY(cpu_add_prim(p, node, &prim, &st));
    const cpu_arg *ops[2] = {&sa, &sb};
    int which[2] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS};
    for (int k = 0; k < 2; k++)
        cpu_arg_in(st, which[k], ops[k]);
    if (bp) cpu_arg_fixed(st, DNNL_ARG_BIAS, bp, &bias_md);
    cpu_arg_storage(st, DNNL_ARG_DST, dst.storage, &dst.md, true);
    return cpu_output_done(e, p, node, y, &dst, pending);
}

kiln_status cpu_build_gemm(cpu_exec *e, cpu_plan *p, int32_t node) {
    const kiln_node *n = &e->g->nodes[node];
    int32_t A = n->inputs[0], B = n->inputs[1];
    int32_t C = n->n_inputs > 2 ? n->inputs[2] : KILN_NO_VALUE;
    int64_t N = e->g->values[n->outputs[0]].dims[1];
    if (!n->attrs.trans_a && cpu_is_const(e, B) && e->g->values[A].rank == 2 &&
        (C == KILN_NO_VALUE || c_is_row(&e->g->values[C], N)))
        return gemm_ip(e, p, node);
    return matmul_prim(e, p, node, C, n->attrs.beta);
}

kiln_status cpu_build_matmul(cpu_exec *e, cpu_plan *p, int32_t node) {
    return matmul_prim(e, p, node, KILN_NO_VALUE, 1.0f);
}
