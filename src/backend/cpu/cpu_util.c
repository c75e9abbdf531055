/*
 * cpu_util.c — small helpers of the cpu backend: oneDNN status to kiln error,
 * memory descriptors (dense, any, "is this dense row-major"), padding
 * resolution (auto_pad as the ref backend resolves it; ceil-mode end padding)
 * and the owned aligned buffers (packed weights, scaled constants).
 *
 * Non-goals: anything that builds primitives (cpu_plan.c, cpu_ops*.c).
 */
#include <stdlib.h>
#include <string.h>

#include <dnnl_debug.h>

#include "backend/cpu/cpu.h"
#include "core/status.h"

kiln_status cpu_dnnl_error(const cpu_exec *e, int32_t node, const char *call, dnnl_status_t s) {
    const char *name = dnnl_status2str(s);
    const char *hint = s == dnnl_unimplemented
                           ? " (oneDNN has no implementation for these shapes/attributes)"
                       : s == dnnl_out_of_memory ? " (out of memory)"
                                                 : "";
    if (e && node >= 0 && node < e->g->n_nodes) {
        const kiln_node *n = &e->g->nodes[node];
        return kiln_error(KILN_ERR_BACKEND, "cpu backend: node '%s' (%s): %s failed: %s%s", n->name,
                          kiln_op_names[n->op], call, name ? name : "?", hint);
    }
    return kiln_error(KILN_ERR_BACKEND, "cpu backend: %s failed: %s%s", call, name ? name : "?",
                      hint);
}

static kiln_status md_init(int32_t rank, const int64_t *dims, bool any, dnnl_memory_desc_t *md) {
    dnnl_dims_t d, strides;
    int nd = rank > 0 ? rank : 1;
    if (nd > DNNL_MAX_NDIMS)
        return kiln_error(KILN_ERR_UNSUPPORTED, "cpu backend: rank %d exceeds oneDNN's %d",
                          (int)rank, DNNL_MAX_NDIMS);
    for (int i = 0; i < nd; i++)
        d[i] = rank > 0 ? dims[i] : 1;
    dnnl_status_t s;
    if (any) {
        s = dnnl_memory_desc_init_by_tag(md, nd, d, dnnl_f32, dnnl_format_tag_any);
    } else {
        dnnl_dim_t st = 1;
        for (int i = nd - 1; i >= 0; i--) {
            strides[i] = st;
            st *= d[i] > 0 ? d[i] : 1;
        }
        s = dnnl_memory_desc_init_by_strides(md, nd, d, dnnl_f32, strides);
    }
    if (s != dnnl_success) return cpu_dnnl_error(NULL, -1, "dnnl_memory_desc_init", s);
    return KILN_OK;
}

kiln_status cpu_md_plain(int32_t rank, const int64_t *dims, dnnl_memory_desc_t *md) {
    return md_init(rank, dims, false, md);
}

kiln_status cpu_md_any(int32_t rank, const int64_t *dims, dnnl_memory_desc_t *md) {
    return md_init(rank, dims, true, md);
}

bool cpu_md_is_plain(const dnnl_memory_desc_t *md) {
    if (md->format_kind != dnnl_blocked || md->offset0 != 0) return false;
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    if (b->inner_nblks != 0) return false;
    dnnl_dim_t st = 1;
    for (int i = md->ndims - 1; i >= 0; i--) {
        if (md->padded_dims[i] != md->dims[i] || md->padded_offsets[i] != 0) return false;
        if (md->dims[i] > 1 && b->strides[i] != st) return false;
        st *= md->dims[i];
    }
    return true;
}

int64_t cpu_pad_begin(const kiln_attrs *a, int i, int64_t in, int64_t k, int64_t *end) {
    int64_t s = a->strides[i], ek = a->dilations[i] * (k - 1) + 1;
    switch (a->auto_pad) {
    case KILN_PAD_SAME_UPPER:
    case KILN_PAD_SAME_LOWER: {
        int64_t out = (in + s - 1) / s;
        int64_t total = (out - 1) * s + ek - in;
        if (total < 0) total = 0;
        int64_t begin = a->auto_pad == KILN_PAD_SAME_UPPER ? total / 2 : (total + 1) / 2;
        *end = total - begin;
        return begin;
    }
    case KILN_PAD_VALID: *end = 0; return 0;
    default: *end = a->pads[2 + i]; return a->pads[i];
    }
}

int64_t cpu_pad_end(int64_t in, int64_t out, int64_t k, int64_t s, int64_t d, int64_t begin,
                    int64_t declared) {
    int64_t ek = d * (k - 1) + 1, span = in + begin + declared - ek;
    if (s > 0 && span >= 0 && span / s + 1 == out) return declared;
    return (out - 1) * s + ek - in - begin;
}

kiln_status cpu_new_buf(cpu_exec *e, int32_t value, const dnnl_memory_desc_t *md, size_t bytes,
                        void **out) {
    if (e->n_bufs == e->cap_bufs) {
        int32_t nc = e->cap_bufs ? e->cap_bufs * 2 : 64;
        cpu_buf *q = realloc(e->bufs, sizeof *q * (size_t)nc);
        if (!q) return kiln_error(KILN_ERR_NO_MEMORY, "cpu backend: out of memory");
        e->bufs = q;
        e->cap_bufs = nc;
    }
    size_t n = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, n ? n : 64);
    if (!p)
        return kiln_error(KILN_ERR_NO_MEMORY, "cpu backend: out of memory (%zu bytes of weights)",
                          bytes);
    memset(p, 0, n ? n : 64);
    cpu_buf *b = &e->bufs[e->n_bufs++];
    b->value = value;
    if (md)
        b->md = *md;
    else
        memset(&b->md, 0, sizeof b->md);
    b->p = p;
    *out = p;
    return KILN_OK;
}

void *cpu_find_buf(const cpu_exec *e, int32_t value, const dnnl_memory_desc_t *md) {
    for (int32_t i = 0; i < e->n_bufs; i++)
        if (value >= 0 && e->bufs[i].value == value && dnnl_memory_desc_equal(&e->bufs[i].md, md))
            return e->bufs[i].p;
    return NULL;
}

kiln_status cpu_const_copy(cpu_exec *e, int32_t v, float scale, const dnnl_memory_desc_t *md,
                           void **out) {
    const kiln_value *cv = &e->g->values[v];
    if (scale == 1.0f) {
        void *hit = cpu_find_buf(e, v, md);
        if (hit) {
            *out = hit;
            return KILN_OK;
        }
    }
    size_t n = cv->nbytes / sizeof(float);
    void *p;
    KILN_TRY(cpu_new_buf(e, scale == 1.0f ? v : -1, md, n * sizeof(float), &p));
    const float *src = cv->data;
    float *dst = p;
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i] * scale;
    *out = p;
    return KILN_OK;
}

kiln_status cpu_pack_weights(cpu_exec *e, int32_t node, int32_t v, float scale,
                             const dnnl_memory_desc_t *um, const dnnl_memory_desc_t *pm,
                             void **out) {
    if (scale == 1.0f) {
        void *hit = cpu_find_buf(e, v, pm);
        if (hit) {
            *out = hit;
            return KILN_OK;
        }
    }
    const kiln_value *cv = &e->g->values[v];
    if (cv->nbytes != dnnl_memory_desc_get_size(um))
        return kiln_error(KILN_ERR_SHAPE,
                          "cpu backend: constant '%s' holds %zu bytes, expected %zu", cv->name,
                          cv->nbytes, dnnl_memory_desc_get_size(um));
    void *src = (void *)(uintptr_t)cv->data, *tmp = NULL, *dst;
    if (scale != 1.0f) {
        KILN_TRY(cpu_new_buf(e, -1, NULL, cv->nbytes, &tmp)); /* freed with the exec */
        for (size_t i = 0; i < cv->nbytes / sizeof(float); i++)
            ((float *)tmp)[i] = ((const float *)cv->data)[i] * scale;
        src = tmp;
    }
    KILN_TRY(cpu_new_buf(e, scale == 1.0f ? v : -1, pm, dnnl_memory_desc_get_size(pm), &dst));
    KILN_TRY(cpu_reorder_now(e, node, um, src, pm, dst));
    *out = dst;
    return KILN_OK;
}

kiln_status cpu_reorder_now(cpu_exec *e, int32_t node, const dnnl_memory_desc_t *um,
                            const void *src, const dnnl_memory_desc_t *pm, void *dst) {
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_memory_t ms = NULL, md = NULL;
    dnnl_status_t s = dnnl_reorder_primitive_desc_create(&pd, um, e->eng, pm, e->eng, NULL);
    if (s == dnnl_success) s = dnnl_primitive_create(&prim, pd);
    if (s == dnnl_success) s = dnnl_memory_create(&ms, um, e->eng, (void *)(uintptr_t)src);
    if (s == dnnl_success) s = dnnl_memory_create(&md, pm, e->eng, dst);
    if (s == dnnl_success) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, ms}, {DNNL_ARG_DST, md}};
        s = dnnl_primitive_execute(prim, e->stream, 2, args);
    }
    if (s == dnnl_success) s = dnnl_stream_wait(e->stream);
    if (md) dnnl_memory_destroy(md);
    if (ms) dnnl_memory_destroy(ms);
    if (prim) dnnl_primitive_destroy(prim);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (s != dnnl_success) return cpu_dnnl_error(e, node, "packing weights (reorder)", s);
    return KILN_OK;
}

kiln_status cpu_md_plain_dt(int32_t rank, const int64_t *dims, dnnl_data_type_t dt,
                            dnnl_memory_desc_t *md) {
    KILN_TRY(md_init(rank, dims, false, md));
    md->data_type = dt;
    return KILN_OK;
}

dnnl_memory_desc_t cpu_md_with_dt(const dnnl_memory_desc_t *md, dnnl_data_type_t dt) {
    dnnl_memory_desc_t r = *md;
    r.data_type = dt;
    return r;
}

dnnl_memory_desc_t cpu_md_f32(const cpu_plan *p, int32_t v) {
    return cpu_md_with_dt(&p->vmd[v], dnnl_f32);
}
