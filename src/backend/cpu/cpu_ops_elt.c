/*
 * cpu_ops_elt.c — the cpu backend's light ops: relu/clip/scale (oneDNN
 * eltwise, in the producer's layout), add (oneDNN binary with broadcasting and
 * a fused act; own code when both sides broadcast), sum (oneDNN sum, own code
 * when shapes differ), inference batch norm (oneDNN), softmax (oneDNN, dense
 * layout) and the data-free views identity/flatten/reshape (aliases when the
 * input is dense row-major, else a reorder).
 *
 * These are the FP32 forms: an input stored as int8 (written by an INT8 node)
 * is read dequantized (cpu_input); views alias int8 storage as is.
 *
 * Non-goals: in-place eltwise (the passes fuse activations into conv/gemm).
 */
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

/* Layout in which value v is read by a layout-agnostic op: its own, or dense
 * for a constant. */
static kiln_status natural_md(const cpu_exec *e, const cpu_plan *p, int32_t v,
                              dnnl_memory_desc_t *md) {
    if (!cpu_is_const(e, v)) {
        *md = cpu_md_f32(p, v); /* an int8 value is dequantized into this layout */
        return KILN_OK;
    }
    int64_t d[KILN_MAX_RANK];
    cpu_value_dims(e, p, v, d);
    return cpu_md_plain(e->g->values[v].rank, d, md);
}

/* One primitive reading `n_src` inputs (args[k], layouts want[k]) and writing
 * node output 0 in the layout pd chose. Consumes pd. */
static kiln_status finish_simple(cpu_exec *e, cpu_plan *p, int32_t node, dnnl_primitive_desc_t pd,
                                 int n_src, const int *args, const int32_t *values,
                                 const dnnl_memory_desc_t *want, const cpu_arg *fixed_extra,
                                 int n_extra) {
    int32_t y = e->g->nodes[node].outputs[0];
    dnnl_memory_desc_t dst_md = cpu_pd_md(pd, dnnl_query_dst_md, 0);
    cpu_prim prim;
    KILN_TRY(cpu_prim_create(e, node, pd, &prim));
    cpu_arg src[KILN_MAX_IO], dst;
    for (int k = 0; k < n_src; k++)
        TRY_PRIM(&prim, cpu_input(e, p, node, values[k], &want[k], &src[k]));
    int32_t pending;
    TRY_PRIM(&prim, cpu_output(e, p, node, y, &dst_md, &dst, &pending));
    cpu_step *st;
    KILN_TRY(cpu_add_prim(p, node, &prim, &st));
    for (int k = 0; k < n_src; k++)
        cpu_arg_in(st, args[k], &src[k]);
    for (int k = 0; k < n_extra; k++)
        cpu_arg_in(st, fixed_extra[k].arg, &fixed_extra[k]);
    cpu_arg_storage(st, DNNL_ARG_DST, dst.storage, &dst.md, true);
    return cpu_output_done(e, p, node, y, &dst, pending);
}

kiln_status cpu_build_eltwise(cpu_exec *e, cpu_plan *p, int32_t node) {
    const kiln_node *n = &e->g->nodes[node];
    const kiln_attrs *a = &n->attrs;
    int32_t x = n->inputs[0];
    dnnl_memory_desc_t md;
    KILN_TRY(natural_md(e, p, x, &md));
    dnnl_alg_kind_t alg = dnnl_eltwise_relu;
    float alpha = 0.0f, beta = 0.0f;
    if (n->op == KILN_OP_CLIP) {
        alg = dnnl_eltwise_clip;
        alpha = a->clip_min;
        beta = a->clip_max;
    } else if (n->op == KILN_OP_SCALE) {
        alg = dnnl_eltwise_linear;
        alpha = a->alpha;
        beta = a->bias_after_scale ? a->beta : a->alpha * a->beta;
    }
    dnnl_eltwise_desc_t ed;
    CPU_DN(e, node,
           dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_inference, alg, &md, alpha, beta));
    dnnl_primitive_attr_t attr;
    KILN_TRY(cpu_make_attr(e, node, KILN_ACT_NONE, 0, 0, false, &attr));
    dnnl_primitive_desc_t pd;
    kiln_status s = cpu_pd_create(e, node, &ed, attr, &pd);
    dnnl_primitive_attr_destroy(attr);
    KILN_TRY(s);
    int arg = DNNL_ARG_SRC;
    return finish_simple(e, p, node, pd, 1, &arg, &x, &md, NULL, 0);
}

/* Own code: y = act(sum of inputs) with numpy broadcasting, dense layouts.
 * dims[k] are input k's dims aligned to y's rank. */
static kiln_status bcast_sum_own(cpu_exec *e, cpu_plan *p, int32_t node, int32_t n_in,
                                 const int32_t *in, int64_t (*dims)[KILN_MAX_RANK]) {
    const kiln_node *n = &e->g->nodes[node];
    int32_t y = n->outputs[0];
    int32_t rank = e->g->values[y].rank;
    int64_t yd[KILN_MAX_RANK];
    cpu_value_dims(e, p, y, yd);
    cpu_arg src[KILN_MAX_IO], dst;
    for (int32_t k = 0; k < n_in; k++) {
        int64_t vd[KILN_MAX_RANK];
        dnnl_memory_desc_t md;
        cpu_value_dims(e, p, in[k], vd);
        KILN_TRY(cpu_md_plain(e->g->values[in[k]].rank, vd, &md));
        KILN_TRY(cpu_input(e, p, node, in[k], &md, &src[k]));
    }
    dnnl_memory_desc_t ym;
    KILN_TRY(cpu_md_plain(rank, yd, &ym));
    int32_t pending;
    KILN_TRY(cpu_output(e, p, node, y, &ym, &dst, &pending));
    cpu_step *st;
    KILN_TRY(cpu_add_step(p, node, &st));
    st->own = true;
    st->o.kind = CPU_OWN_BCAST_SUM;
    st->o.rank = rank;
    st->o.n_in = n_in;
    memcpy(st->o.out, yd, sizeof yd);
    for (int32_t k = 0; k < n_in; k++) {
        memcpy(st->o.in[k], dims[k], sizeof(int64_t) * KILN_MAX_RANK);
        cpu_arg_in(st, k, &src[k]);
    }
    st->o.act = n->op == KILN_OP_ADD ? n->attrs.act : KILN_ACT_NONE;
    st->o.clip_min = n->attrs.clip_min;
    st->o.clip_max = n->attrs.clip_max;
    cpu_arg_storage(st, n_in, dst.storage, &dst.md, true);
    return cpu_output_done(e, p, node, y, &dst, pending);
}

/* dims of v aligned to `rank`: numpy (right-aligned) or Paddle axis. */
static void align_dims(const cpu_exec *e, const cpu_plan *p, int32_t v, int32_t rank, int64_t axis,
                       int64_t *out) {
    int64_t vd[KILN_MAX_RANK];
    cpu_value_dims(e, p, v, vd);
    int32_t vr = e->g->values[v].rank;
    if (axis >= 0) { /* Paddle: v without trailing 1s sits at dims axis.. */
        int32_t rb = vr;
        while (rb > 0 && vd[rb - 1] == 1)
            rb--;
        for (int32_t i = 0; i < rank; i++) {
            int64_t j = i - axis;
            out[i] = (j >= 0 && j < rb) ? vd[j] : 1;
        }
        return;
    }
    for (int32_t i = 0; i < rank; i++) {
        int32_t j = i - (rank - vr);
        out[i] = j < 0 ? 1 : vd[j];
    }
}

static bool dims_eq(const int64_t *a, const int64_t *b, int32_t r) {
    return memcmp(a, b, sizeof(int64_t) * (size_t)r) == 0;
}

/* Layout to read v with aligned dims d: its own when the dims are its own, else dense. */
static kiln_status operand_md(const cpu_exec *e, const cpu_plan *p, int32_t v, int32_t rank,
                              const int64_t *d, dnnl_memory_desc_t *md) {
    int64_t vd[KILN_MAX_RANK];
    cpu_value_dims(e, p, v, vd);
    if (!cpu_is_const(e, v) && e->g->values[v].rank == rank && dims_eq(vd, d, rank)) {
        *md = cpu_md_f32(p, v);
        return KILN_OK;
    }
    return cpu_md_plain(rank, d, md);
}

kiln_status cpu_build_add(cpu_exec *e, cpu_plan *p, int32_t node) {
    const kiln_node *n = &e->g->nodes[node];
    int32_t y = n->outputs[0], in[2] = {n->inputs[0], n->inputs[1]};
    int32_t rank = e->g->values[y].rank;
    int64_t yd[KILN_MAX_RANK], d[2][KILN_MAX_RANK];
    cpu_value_dims(e, p, y, yd);
    align_dims(e, p, in[0], rank, -1, d[0]);
    align_dims(e, p, in[1], rank, n->attrs.axis, d[1]);
    int first = dims_eq(d[0], yd, rank) ? 0 : dims_eq(d[1], yd, rank) ? 1 : -1;
    if (first < 0 || rank < 1) return bcast_sum_own(e, p, node, 2, in, d);
    int32_t vals[2] = {in[first], in[1 - first]};
    dnnl_memory_desc_t want[2], dst_any;
    KILN_TRY(operand_md(e, p, vals[0], rank, d[first], &want[0]));
    KILN_TRY(operand_md(e, p, vals[1], rank, d[1 - first], &want[1]));
    KILN_TRY(cpu_md_any(rank, yd, &dst_any));
    dnnl_binary_desc_t bd;
    CPU_DN(e, node, dnnl_binary_desc_init(&bd, dnnl_binary_add, &want[0], &want[1], &dst_any));
    dnnl_primitive_attr_t attr;
    KILN_TRY(
        cpu_make_attr(e, node, n->attrs.act, n->attrs.clip_min, n->attrs.clip_max, false, &attr));
    dnnl_primitive_desc_t pd;
    kiln_status s = cpu_pd_create(e, node, &bd, attr, &pd);
    dnnl_primitive_attr_destroy(attr);
    KILN_TRY(s);
    int args[2] = {DNNL_ARG_SRC_0, DNNL_ARG_SRC_1};
    return finish_simple(e, p, node, pd, 2, args, vals, want, NULL, 0);
}

kiln_status cpu_build_sum(cpu_exec *e, cpu_plan *p, int32_t node) {
    const kiln_node *n = &e->g->nodes[node];
    int32_t y = n->outputs[0];
    int32_t rank = e->g->values[y].rank;
    int64_t yd[KILN_MAX_RANK], d[KILN_MAX_IO][KILN_MAX_RANK];
    cpu_value_dims(e, p, y, yd);
    bool same = rank >= 1 && n->n_inputs >= 2;
    for (int32_t k = 0; k < n->n_inputs; k++) {
        align_dims(e, p, n->inputs[k], rank, -1, d[k]);
        same = same && !cpu_is_const(e, n->inputs[k]) && e->g->values[n->inputs[k]].rank == rank &&
               dims_eq(d[k], yd, rank);
    }
    if (!same) return bcast_sum_own(e, p, node, n->n_inputs, n->inputs, d);
    dnnl_memory_desc_t want[KILN_MAX_IO], dst_any;
    float scales[KILN_MAX_IO];
    for (int32_t k = 0; k < n->n_inputs; k++) {
        want[k] = cpu_md_f32(p, n->inputs[k]);
        scales[k] = 1.0f;
    }
    KILN_TRY(cpu_md_any(rank, yd, &dst_any));
    dnnl_primitive_attr_t attr;
    KILN_TRY(cpu_make_attr(e, node, KILN_ACT_NONE, 0, 0, false, &attr));
    dnnl_primitive_desc_t pd;
    dnnl_status_t ds =
        dnnl_sum_primitive_desc_create(&pd, &dst_any, n->n_inputs, scales, want, attr, e->eng);
    dnnl_primitive_attr_destroy(attr);
    if (ds != dnnl_success) return cpu_dnnl_error(e, node, "dnnl_sum_primitive_desc_create", ds);
    int args[KILN_MAX_IO];
    for (int32_t k = 0; k < n->n_inputs; k++)
        args[k] = DNNL_ARG_MULTIPLE_SRC + k;
    return finish_simple(e, p, node, pd, n->n_inputs, args, n->inputs, want, NULL, 0);
}

kiln_status cpu_build_batch_norm(cpu_exec *e, cpu_plan *p, int32_t node) {
    const kiln_node *n = &e->g->nodes[node];
    int32_t x = n->inputs[0];
    dnnl_memory_desc_t md, cm;
    KILN_TRY(natural_md(e, p, x, &md));
    int64_t C = e->g->values[x].dims[1];
    KILN_TRY(cpu_md_plain(1, &C, &cm));
    dnnl_batch_normalization_desc_t bd;
    CPU_DN(e, node,
           dnnl_batch_normalization_forward_desc_init(
               &bd, dnnl_forward_inference, &md, n->attrs.epsilon,
               dnnl_use_global_stats | dnnl_use_scale | dnnl_use_shift));
    dnnl_primitive_attr_t attr;
    KILN_TRY(cpu_make_attr(e, node, KILN_ACT_NONE, 0, 0, false, &attr));
    dnnl_primitive_desc_t pd;
    kiln_status s = cpu_pd_create(e, node, &bd, attr, &pd);
    dnnl_primitive_attr_destroy(attr);
    KILN_TRY(s);
    /* inputs: X, scale, bias, mean, var */
    static const int which[4] = {DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE};
    cpu_arg extra[4];
    for (int k = 0; k < 4; k++) {
        memset(&extra[k], 0, sizeof extra[k]);
        extra[k].arg = which[k];
        extra[k].storage = CPU_ST_FIXED;
        extra[k].md = cm;
        kiln_status cs = cpu_const_copy(e, n->inputs[1 + k], 1.0f, &cm, &extra[k].ptr);
        if (cs != KILN_OK) {
            dnnl_primitive_desc_destroy(pd);
            return cs;
        }
    }
    int arg = DNNL_ARG_SRC;
    return finish_simple(e, p, node, pd, 1, &arg, &x, &md, extra, 4);
}

kiln_status cpu_build_softmax(cpu_exec *e, cpu_plan *p, int32_t node) {
    const kiln_node *n = &e->g->nodes[node];
    int32_t x = n->inputs[0];
    int32_t rank = e->g->values[x].rank;
    int64_t xd[KILN_MAX_RANK];
    cpu_value_dims(e, p, x, xd);
    int64_t axis = n->attrs.axis < 0 ? n->attrs.axis + rank : n->attrs.axis;
    dnnl_memory_desc_t md;
    if (n->attrs.coerce_2d) {
        int64_t d2[2] = {1, 1};
        for (int32_t i = 0; i < rank; i++)
            d2[i < axis ? 0 : 1] *= xd[i];
        KILN_TRY(cpu_md_plain(2, d2, &md));
        axis = 1;
    } else {
        KILN_TRY(cpu_md_plain(rank, xd, &md));
    }
    dnnl_softmax_desc_t sd;
    CPU_DN(e, node, dnnl_softmax_forward_desc_init(&sd, dnnl_forward_inference, &md, (int)axis));
    dnnl_primitive_attr_t attr;
    KILN_TRY(cpu_make_attr(e, node, KILN_ACT_NONE, 0, 0, false, &attr));
    dnnl_primitive_desc_t pd;
    kiln_status s = cpu_pd_create(e, node, &sd, attr, &pd);
    dnnl_primitive_attr_destroy(attr);
    KILN_TRY(s);
    int arg = DNNL_ARG_SRC;
    return finish_simple(e, p, node, pd, 1, &arg, &x, &md, NULL, 0);
}

kiln_status cpu_build_view(cpu_exec *e, cpu_plan *p, int32_t node) {
    const kiln_node *n = &e->g->nodes[node];
    int32_t x = n->inputs[0], y = n->outputs[0];
    int64_t xd[KILN_MAX_RANK], yd[KILN_MAX_RANK];
    cpu_value_dims(e, p, x, xd);
    cpu_value_dims(e, p, y, yd);
    int32_t xr = e->g->values[x].rank, yr = e->g->values[y].rank;
    dnnl_memory_desc_t xplain, yplain;
    KILN_TRY(cpu_md_plain(xr, xd, &xplain));
    KILN_TRY(cpu_md_plain(yr, yd, &yplain));
    bool dense = cpu_is_const(e, x) || cpu_md_is_plain(&p->vmd[x]);
    if (!e->dedicated[y] && !cpu_is_const(e, x) &&
        (n->op == KILN_OP_IDENTITY || dense)) { /* alias x's storage */
        p->vst[y] = p->vst[x];
        p->vmd[y] =
            n->op == KILN_OP_IDENTITY ? p->vmd[x] : cpu_md_with_dt(&yplain, p->vmd[x].data_type);
        p->vth[y] = p->vth[x]; /* an int8 alias keeps x's scale */
        return KILN_OK;
    }
    /* copy x, dense, into y's own buffer */
    cpu_arg src, dst;
    KILN_TRY(cpu_input(e, p, node, x, &xplain, &src));
    int32_t pending;
    KILN_TRY(cpu_output(e, p, node, y, &xplain, &dst, &pending));
    if (src.storage == CPU_ST_FIXED) {
        /* a constant: copy it with an own-code sum of one input */
        cpu_step *st;
        KILN_TRY(cpu_add_step(p, node, &st));
        st->own = true;
        st->o.kind = CPU_OWN_BCAST_SUM;
        st->o.rank = 1;
        st->o.n_in = 1;
        st->o.out[0] = st->o.in[0][0] = (int64_t)(dnnl_memory_desc_get_size(&xplain) / 4);
        st->o.act = KILN_ACT_NONE;
        cpu_arg_in(st, 0, &src);
        cpu_arg_storage(st, 1, dst.storage, &dst.md, true);
    } else {
        KILN_TRY(cpu_add_reorder(e, p, node, src.storage, &src.md, dst.storage, &dst.md));
    }
    return cpu_output_done(e, p, node, y, &dst, pending);
}
