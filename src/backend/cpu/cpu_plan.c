/*
 * cpu_plan.c — builds one plan (the steps for one batch size): storages and
 * layouts per value, reorders where a consumer wants another layout than its
 * producer wrote, output placement (graph outputs land in dense row-major
 * dedicated buffers), the memory plan (kiln_plan_memory over a graph of
 * steps and storages) and binding of oneDNN memory objects to arena
 * pointers.
 *
 * Non-goals: op-specific logic (cpu_ops*.c), running (cpu_backend.c).
 */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "core/status.h"
#include "passes/passes.h"

bool cpu_is_const(const cpu_exec *e, int32_t v) {
    return e->g->values[v].data != NULL;
}

void cpu_value_dims(const cpu_exec *e, const cpu_plan *p, int32_t v, int64_t *dims) {
    const kiln_value *val = &e->g->values[v];
    for (int32_t i = 0; i < val->rank; i++)
        dims[i] = val->dims[i];
    if (!val->data && val->rank >= 1 && val->dims[0] == e->built_batch) dims[0] = p->batch;
}

kiln_status cpu_add_step(cpu_plan *p, int32_t node, cpu_step **out) {
    if (p->n_steps == p->cap_steps) {
        int32_t nc = p->cap_steps ? p->cap_steps * 2 : 64;
        cpu_step *q = realloc(p->steps, sizeof *q * (size_t)nc);
        if (!q) return kiln_error(KILN_ERR_NO_MEMORY, "cpu backend: out of memory");
        p->steps = q;
        p->cap_steps = nc;
    }
    cpu_step *s = &p->steps[p->n_steps++];
    memset(s, 0, sizeof *s);
    s->node = node;
    *out = s;
    return KILN_OK;
}

kiln_status cpu_new_storage(cpu_plan *p, size_t bytes, int32_t *id) {
    if (p->n_st == p->cap_st) {
        int32_t nc = p->cap_st ? p->cap_st * 2 : 64;
        cpu_storage *q = realloc(p->st, sizeof *q * (size_t)nc);
        if (!q) return kiln_error(KILN_ERR_NO_MEMORY, "cpu backend: out of memory");
        p->st = q;
        p->cap_st = nc;
    }
    cpu_storage *s = &p->st[p->n_st];
    s->bytes = bytes ? bytes : sizeof(float);
    s->fixed = NULL;
    s->off = SIZE_MAX;
    *id = p->n_st++;
    return KILN_OK;
}

kiln_status cpu_pd_create(cpu_exec *e, int32_t node, const_dnnl_op_desc_t desc,
                          const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *pd) {
    CPU_DN(e, node, dnnl_primitive_desc_create(pd, desc, attr, e->eng, NULL));
    return KILN_OK;
}

dnnl_memory_desc_t cpu_pd_md(const_dnnl_primitive_desc_t pd, dnnl_query_t what, int index) {
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, what, index);
    dnnl_memory_desc_t r;
    if (md)
        r = *md;
    else
        memset(&r, 0, sizeof r);
    return r;
}

kiln_status cpu_prim_create(cpu_exec *e, int32_t node, dnnl_primitive_desc_t pd, cpu_prim *out) {
    out->prim = NULL;
    out->scratch = cpu_pd_md(pd, dnnl_query_scratchpad_md, 0);
    dnnl_status_t s = dnnl_primitive_create(&out->prim, pd);
    dnnl_primitive_desc_destroy(pd);
    if (s != dnnl_success) return cpu_dnnl_error(e, node, "dnnl_primitive_create", s);
    size_t sb = dnnl_memory_desc_get_size(&out->scratch);
    if (sb > e->scratch_bytes) e->scratch_bytes = sb;
    return KILN_OK;
}

void cpu_prim_drop(cpu_prim *pr) {
    if (pr->prim) dnnl_primitive_destroy(pr->prim);
    pr->prim = NULL;
}

kiln_status cpu_add_prim(cpu_plan *p, int32_t node, cpu_prim *pr, cpu_step **out) {
    cpu_step *s = NULL;
    kiln_status st = cpu_add_step(p, node, &s);
    if (st != KILN_OK) {
        cpu_prim_drop(pr);
        return st;
    }
    s->prim = pr->prim;
    pr->prim = NULL;
    if (dnnl_memory_desc_get_size(&pr->scratch) > 0) {
        cpu_arg *a = &s->args[s->n_args++];
        a->arg = DNNL_ARG_SCRATCHPAD;
        a->storage = CPU_ST_SCRATCH;
        a->md = pr->scratch;
    }
    *out = s;
    return KILN_OK;
}

void cpu_arg_storage(cpu_step *s, int arg, int32_t storage, const dnnl_memory_desc_t *md,
                     bool write) {
    cpu_arg *a = &s->args[s->n_args++];
    a->arg = arg;
    a->storage = storage;
    a->ptr = NULL;
    a->write = write;
    a->md = *md;
}

void cpu_arg_fixed(cpu_step *s, int arg, void *ptr, const dnnl_memory_desc_t *md) {
    cpu_arg *a = &s->args[s->n_args++];
    a->arg = arg;
    a->storage = CPU_ST_FIXED;
    a->ptr = ptr;
    a->write = false;
    a->md = *md;
}

void cpu_arg_in(cpu_step *s, int arg, const cpu_arg *a) {
    if (a->storage == CPU_ST_FIXED)
        cpu_arg_fixed(s, arg, a->ptr, &a->md);
    else
        cpu_arg_storage(s, arg, a->storage, &a->md, false);
}

kiln_status cpu_add_reorder_scaled(cpu_exec *e, cpu_plan *p, int32_t node, int32_t from,
                                   const dnnl_memory_desc_t *fm, int32_t to,
                                   const dnnl_memory_desc_t *tm, float scale) {
    dnnl_primitive_attr_t attr;
    CPU_DN(e, node, dnnl_primitive_attr_create(&attr));
    dnnl_status_t s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (s == dnnl_success && scale != 1.0f)
        s = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale);
    dnnl_primitive_desc_t pd = NULL;
    if (s == dnnl_success)
        s = dnnl_reorder_primitive_desc_create(&pd, fm, e->eng, tm, e->eng, attr);
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success) return cpu_dnnl_error(e, node, "dnnl_reorder_primitive_desc_create", s);
    cpu_prim pr;
    KILN_TRY(cpu_prim_create(e, node, pd, &pr));
    cpu_step *st;
    KILN_TRY(cpu_add_prim(p, node, &pr, &st));
    cpu_arg_storage(st, DNNL_ARG_SRC, from, fm, false);
    cpu_arg_storage(st, DNNL_ARG_DST, to, tm, true);
    return KILN_OK;
}

kiln_status cpu_add_reorder(cpu_exec *e, cpu_plan *p, int32_t node, int32_t from,
                            const dnnl_memory_desc_t *fm, int32_t to,
                            const dnnl_memory_desc_t *tm) {
    return cpu_add_reorder_scaled(e, p, node, from, fm, to, tm, 1.0f);
}

kiln_status cpu_make_attr(cpu_exec *e, int32_t node, kiln_act act, float clip_min, float clip_max,
                          bool sum, dnnl_primitive_attr_t *out) {
    dnnl_primitive_attr_t attr;
    CPU_DN(e, node, dnnl_primitive_attr_create(&attr));
    dnnl_status_t s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (s == dnnl_success && (sum || act != KILN_ACT_NONE)) {
        dnnl_post_ops_t po;
        s = dnnl_post_ops_create(&po);
        if (s == dnnl_success) {
            if (sum) s = dnnl_post_ops_append_sum(po, 1.0f);
            if (s == dnnl_success && act == KILN_ACT_RELU)
                s = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
            if (s == dnnl_success && act == KILN_ACT_CLIP)
                s = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, clip_min, clip_max);
            if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(attr, po);
            dnnl_post_ops_destroy(po);
        }
    }
    if (s != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return cpu_dnnl_error(e, node, "setting primitive attributes (post-ops)", s);
    }
    *out = attr;
    return KILN_OK;
}

static bool same_dims(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b) {
    if (a->ndims != b->ndims) return false;
    for (int i = 0; i < a->ndims; i++)
        if (a->dims[i] != b->dims[i]) return false;
    return true;
}

static int64_t md_numel(const dnnl_memory_desc_t *md) {
    int64_t n = 1;
    for (int i = 0; i < md->ndims; i++)
        n *= md->dims[i];
    return n;
}

/* Own-code step converting storage `from` (layout fm, n elements in its
 * bytes) into a new temporary of layout tm: quantize (f32 -> int8) or
 * requantize (int8 at threshold t_in -> int8 at t_out). */
static kiln_status add_quant(cpu_plan *p, int32_t node, int32_t from, const dnnl_memory_desc_t *fm,
                             const dnnl_memory_desc_t *tm, float t_in, float t_out, int32_t *to) {
    KILN_TRY(cpu_new_storage(p, dnnl_memory_desc_get_size(tm), to));
    cpu_step *st = NULL;
    KILN_TRY(cpu_add_step(p, node, &st));
    st->own = true;
    bool req = cpu_dt_is_int8(fm->data_type);
    st->o.kind = req ? CPU_OWN_REQUANT : CPU_OWN_QUANT;
    st->o.n = (int64_t)dnnl_memory_desc_get_size(tm); /* int8: one byte per element */
    st->o.dscale = req ? (double)t_in / 127.0 : 1.0;
    st->o.qscale = 127.0 / (double)t_out;
    st->o.in_u8 = fm->data_type == dnnl_u8;
    st->o.out_u8 = tm->data_type == dnnl_u8;
    if (req) cpu_own_requant_init(&st->o);
    cpu_arg_storage(st, 0, from, fm, false);
    cpu_arg_storage(st, 1, *to, tm, true);
    return KILN_OK;
}

kiln_status cpu_input(cpu_exec *e, cpu_plan *p, int32_t node, int32_t v,
                      const dnnl_memory_desc_t *want, cpu_arg *out) {
    memset(out, 0, sizeof *out);
    out->md = *want;
    const kiln_value *val = &e->g->values[v];
    bool want_plain = cpu_md_is_plain(want);
    bool want_q = cpu_dt_is_int8(want->data_type);
    if (cpu_is_const(e, v)) {
        if (want_q)
            return kiln_error(KILN_ERR_INTERNAL,
                              "cpu backend: node '%s': constant '%s' read as int8",
                              e->g->nodes[node].name, val->name);
        out->storage = CPU_ST_FIXED;
        if (want_plain && dnnl_memory_desc_get_size(want) == val->nbytes) {
            out->ptr = (void *)(uintptr_t)val->data;
            return KILN_OK;
        }
        dnnl_memory_desc_t um; /* a constant in a blocked layout: packed once */
        KILN_TRY(cpu_md_plain(val->rank, val->dims, &um));
        if (!same_dims(&um, want))
            return kiln_error(KILN_ERR_INTERNAL,
                              "cpu backend: node '%s': constant '%s' read with other dims",
                              e->g->nodes[node].name, val->name);
        return cpu_pack_weights(e, node, v, 1.0f, &um, want, &out->ptr);
    }
    int32_t sid = p->vst[v];
    if (sid < 0)
        return kiln_error(KILN_ERR_INTERNAL,
                          "cpu backend: node '%s' reads '%s' before it is written",
                          e->g->nodes[node].name, val->name);
    dnnl_memory_desc_t have = p->vmd[v];
    bool have_q = cpu_dt_is_int8(have.data_type);
    if (want_q && (!have_q || p->vth[v] != val->quant.threshold)) {
        /* quantize (f32, read dense) or requantize (int8, elementwise in its layout) */
        float t = val->quant.threshold;
        if (!(t > 0))
            return kiln_error(KILN_ERR_INTERNAL,
                              "cpu backend: node '%s' reads '%s' as INT8 but it has no threshold",
                              e->g->nodes[node].name, val->name);
        int32_t tmp = -1;
        if (have_q) {
            dnnl_memory_desc_t qm = cpu_md_with_dt(&have, want->data_type);
            KILN_TRY(add_quant(p, node, sid, &have, &qm, p->vth[v], t, &tmp));
            have = qm;
        } else {
            dnnl_memory_desc_t fm, qm;
            KILN_TRY(cpu_md_plain(have.ndims, have.dims, &fm));
            cpu_arg f;
            KILN_TRY(cpu_input(e, p, node, v, &fm, &f));
            KILN_TRY(cpu_md_plain_dt(have.ndims, have.dims, want->data_type, &qm));
            KILN_TRY(add_quant(p, node, f.storage, &fm, &qm, 0.0f, t, &tmp));
            have = qm;
        }
        sid = tmp;
        have_q = true;
    }
    out->storage = sid;
    if (want_q && have.data_type != want->data_type)
        return kiln_error(
            KILN_ERR_INTERNAL, "cpu backend: node '%s' reads '%s' as %s, it is stored as %s",
            e->g->nodes[node].name, val->name, want->data_type == dnnl_u8 ? "u8" : "s8",
            have.data_type == dnnl_u8 ? "u8" : "s8");
    if (dnnl_memory_desc_equal(&have, want)) return KILN_OK;
    bool same_dt = have.data_type == want->data_type;
    if (same_dt && want_plain && cpu_md_is_plain(&have) && md_numel(&have) == md_numel(want))
        return KILN_OK;
    /* a reorder into a temporary (dequantizing an int8 value read as f32) */
    dnnl_memory_desc_t target;
    if (want_plain) {
        KILN_TRY(cpu_md_plain_dt(have.ndims, have.dims, want->data_type, &target));
        if (md_numel(&have) != md_numel(want))
            return kiln_error(KILN_ERR_INTERNAL,
                              "cpu backend: node '%s': '%s' has %lld elements, the op reads %lld",
                              e->g->nodes[node].name, val->name, (long long)md_numel(&have),
                              (long long)md_numel(want));
    } else {
        target = *want;
        if (!same_dims(&have, want))
            return kiln_error(
                KILN_ERR_INTERNAL,
                "cpu backend: node '%s': '%s' read with other dims in a blocked layout",
                e->g->nodes[node].name, val->name);
    }
    float scale = have_q && !want_q ? (float)(p->vth[v] / 127.0) : 1.0f;
    int32_t tmp = -1;
    KILN_TRY(cpu_new_storage(p, dnnl_memory_desc_get_size(&target), &tmp));
    KILN_TRY(cpu_add_reorder_scaled(e, p, node, sid, &have, tmp, &target, scale));
    out->storage = tmp;
    return KILN_OK;
}

kiln_status cpu_output(cpu_exec *e, cpu_plan *p, int32_t node, int32_t y,
                       const dnnl_memory_desc_t *natural, cpu_arg *out, int32_t *pending) {
    (void)node;
    memset(out, 0, sizeof *out);
    *pending = -1;
    int64_t yd[KILN_MAX_RANK];
    cpu_value_dims(e, p, y, yd);
    const kiln_value *val = &e->g->values[y];
    bool plain = cpu_md_is_plain(natural);
    bool q = cpu_dt_is_int8(natural->data_type);
    out->md = *natural;
    out->write = true;
    if (e->dedicated[y]) {
        out->storage = p->vst[y];
        if (!plain || q) {
            KILN_TRY(cpu_new_storage(p, dnnl_memory_desc_get_size(natural), &out->storage));
            *pending = out->storage;
        }
        return KILN_OK; /* vmd[y] stays the plain layout set up front */
    }
    if (plain) {
        KILN_TRY(cpu_md_plain_dt(val->rank, yd, natural->data_type, &p->vmd[y]));
    } else {
        p->vmd[y] = *natural;
    }
    p->vth[y] = q ? val->quant.threshold : 0.0f;
    KILN_TRY(cpu_new_storage(p, dnnl_memory_desc_get_size(natural), &p->vst[y]));
    out->storage = p->vst[y];
    return KILN_OK;
}

kiln_status cpu_output_done(cpu_exec *e, cpu_plan *p, int32_t node, int32_t y, const cpu_arg *dst,
                            int32_t pending) {
    if (pending < 0) return KILN_OK;
    dnnl_memory_desc_t target;
    KILN_TRY(cpu_md_plain(dst->md.ndims, dst->md.dims, &target));
    float scale =
        cpu_dt_is_int8(dst->md.data_type) ? (float)(e->g->values[y].quant.threshold / 127.0) : 1.0f;
    return cpu_add_reorder_scaled(e, p, node, pending, &dst->md, p->vst[y], &target, scale);
}

static kiln_status build_node(cpu_exec *e, cpu_plan *p, int32_t i) {
    if (e->g->nodes[i].precision == KILN_PRECISION_INT8) switch (e->g->nodes[i].op) {
        case KILN_OP_CONV: return cpu_build_conv_int8(e, p, i);
        case KILN_OP_MAX_POOL:
        case KILN_OP_AVG_POOL:
        case KILN_OP_GLOBAL_AVG_POOL: return cpu_build_pool_int8(e, p, i);
        case KILN_OP_GEMM: return cpu_build_gemm_int8(e, p, i);
        case KILN_OP_ADD: return cpu_build_add_int8(e, p, i);
        default: break; /* no INT8 form: FP32 as marked otherwise */
        }
    switch (e->g->nodes[i].op) {
    case KILN_OP_CONV: return cpu_build_conv(e, p, i);
    case KILN_OP_MAX_POOL:
    case KILN_OP_AVG_POOL:
    case KILN_OP_GLOBAL_AVG_POOL:
    case KILN_OP_GLOBAL_MAX_POOL: return cpu_build_pool(e, p, i);
    case KILN_OP_GEMM: return cpu_build_gemm(e, p, i);
    case KILN_OP_MATMUL: return cpu_build_matmul(e, p, i);
    case KILN_OP_RELU:
    case KILN_OP_CLIP:
    case KILN_OP_SCALE: return cpu_build_eltwise(e, p, i);
    case KILN_OP_ADD: return cpu_build_add(e, p, i);
    case KILN_OP_SUM: return cpu_build_sum(e, p, i);
    case KILN_OP_BATCH_NORM: return cpu_build_batch_norm(e, p, i);
    case KILN_OP_SOFTMAX: return cpu_build_softmax(e, p, i);
    case KILN_OP_IDENTITY:
    case KILN_OP_FLATTEN:
    case KILN_OP_RESHAPE: return cpu_build_view(e, p, i);
    default:
        return kiln_error(KILN_ERR_UNSUPPORTED, "cpu backend: node '%s' (%s) is not supported",
                          e->g->nodes[i].name, kiln_op_names[e->g->nodes[i].op]);
    }
}

/* The memory plan: a graph whose values are the plan's storages and whose
 * nodes are its steps, handed to kiln_plan_memory. */
static kiln_status plan_arena(cpu_plan *p) {
    kiln_graph *pg;
    KILN_TRY(kiln_graph_create(&pg));
    size_t *bytes = calloc((size_t)p->n_st + 1, sizeof *bytes);
    size_t *offs = calloc((size_t)p->n_st + 1, sizeof *offs);
    kiln_status s = bytes && offs ? KILN_OK : kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    int64_t one = 1;
    for (int32_t i = 0; i < p->n_st && s == KILN_OK; i++) {
        int32_t id;
        s = kiln_graph_add_value(pg, "storage", KILN_DT_F32, 1, &one, &id);
        bytes[i] = p->st[i].fixed ? 0 : p->st[i].bytes;
    }
    for (int32_t k = 0; k < p->n_steps && s == KILN_OK; k++) {
        const cpu_step *st = &p->steps[k];
        int32_t in[KILN_MAX_IO], out[KILN_MAX_IO], ni = 0, no = 0;
        for (int a = 0; a < st->n_args; a++) {
            int32_t sid = st->args[a].storage;
            if (sid < 0 || p->st[sid].fixed) continue;
            /* a written storage also counts as read by its writer: it stays live
             * through every step that writes it (in-place residual sums) */
            for (int pass = 0; pass < (st->args[a].write ? 2 : 1); pass++) {
                int32_t *arr = pass ? out : in, *cnt = pass ? &no : &ni;
                bool dup = false;
                for (int32_t j = 0; j < *cnt; j++)
                    dup = dup || arr[j] == sid;
                if (dup) continue;
                if (*cnt == KILN_MAX_IO) {
                    s = kiln_error(KILN_ERR_INTERNAL,
                                   "cpu backend: a step touches too many buffers");
                    break;
                }
                arr[(*cnt)++] = sid;
            }
        }
        if (s == KILN_OK)
            s = kiln_graph_add_node(pg, KILN_OP_IDENTITY, "step", ni, in, no, out, NULL, NULL);
    }
    if (s == KILN_OK) s = kiln_plan_memory(pg, bytes, 64, offs, &p->arena_bytes);
    for (int32_t i = 0; i < p->n_st && s == KILN_OK; i++)
        p->st[i].off = offs[i];
    free(bytes);
    free(offs);
    kiln_graph_destroy(pg);
    return s;
}

kiln_status cpu_plan_build(cpu_exec *e, cpu_plan *p) {
    const kiln_graph *g = e->g;
    p->vst = malloc(sizeof(int32_t) * ((size_t)g->n_values + 1));
    p->vmd = calloc((size_t)g->n_values + 1, sizeof *p->vmd);
    p->vth = calloc((size_t)g->n_values + 1, sizeof *p->vth);
    if (!p->vst || !p->vmd || !p->vth)
        return kiln_error(KILN_ERR_NO_MEMORY, "cpu backend: out of memory");
    for (int32_t v = 0; v < g->n_values; v++) {
        p->vst[v] = -1;
        if (!e->dedicated[v]) continue;
        int64_t d[KILN_MAX_RANK];
        cpu_value_dims(e, p, v, d);
        KILN_TRY(cpu_md_plain(g->values[v].rank, d, &p->vmd[v]));
        KILN_TRY(cpu_new_storage(p, 0, &p->vst[v]));
        p->st[p->vst[v]].fixed = e->dedicated[v];
        p->st[p->vst[v]].bytes = e->ded_bytes[v];
    }
    for (int32_t i = 0; i < g->n_nodes; i++)
        KILN_TRY(build_node(e, p, i));
    return plan_arena(p);
}

static kiln_status new_mem(cpu_exec *e, const dnnl_memory_desc_t *md, void *ptr,
                           dnnl_memory_t *out) {
    if (e->n_mems == e->cap_mems) {
        int32_t nc = e->cap_mems ? e->cap_mems * 2 : 256;
        dnnl_memory_t *q = realloc(e->mems, sizeof *q * (size_t)nc);
        if (!q) return kiln_error(KILN_ERR_NO_MEMORY, "cpu backend: out of memory");
        e->mems = q;
        e->cap_mems = nc;
    }
    dnnl_status_t s = dnnl_memory_create(out, md, e->eng, ptr);
    if (s != dnnl_success) return cpu_dnnl_error(e, -1, "dnnl_memory_create", s);
    e->mems[e->n_mems++] = *out;
    return KILN_OK;
}

kiln_status cpu_plan_bind(cpu_exec *e, cpu_plan *p) {
    for (int32_t k = 0; k < p->n_steps; k++) {
        cpu_step *st = &p->steps[k];
        for (int a = 0; a < st->n_args; a++) {
            cpu_arg *ar = &st->args[a];
            void *ptr;
            if (ar->storage == CPU_ST_FIXED)
                ptr = ar->ptr;
            else if (ar->storage == CPU_ST_SCRATCH)
                ptr = e->scratch;
            else if (p->st[ar->storage].fixed)
                ptr = p->st[ar->storage].fixed;
            else
                ptr = (char *)e->arena + p->st[ar->storage].off;
            if (st->own) {
                st->ptr[a] = ptr;
            } else {
                st->exec[a].arg = ar->arg;
                KILN_TRY(new_mem(e, &ar->md, ptr, &st->exec[a].memory));
            }
        }
    }
    return KILN_OK;
}

void cpu_plan_free(cpu_plan *p) {
    for (int32_t k = 0; k < p->n_steps; k++)
        if (p->steps[k].prim) dnnl_primitive_destroy(p->steps[k].prim);
    free(p->steps);
    free(p->st);
    free(p->vst);
    free(p->vmd);
    free(p->vth);
    memset(p, 0, sizeof *p);
}
