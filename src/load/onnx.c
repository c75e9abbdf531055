/*
 * onnx.c — the ONNX loader: ModelProto (ir_version, opset_import, graph) to
 * a kiln_graph. Initializers become constant values (raw_data borrowed from
 * the mmap'ed file when aligned), graph inputs that are not initializers
 * become graph inputs with shapes from their ValueInfoProto (dim_param or a
 * missing dim -> -1), nodes are mapped by onnx_ops.c.
 *
 * Field numbers (onnx.proto): ModelProto 1 ir_version, 2 producer_name,
 * 7 graph, 8 opset_import; GraphProto 1 node, 5 initializer, 11 input,
 * 12 output, 13 value_info; NodeProto 1 input, 2 output, 3 name, 4 op_type,
 * 5 attribute, 7 domain; ValueInfoProto 1 name, 2 type; TypeProto
 * 1 tensor_type {1 elem_type, 2 shape {1 dim {1 dim_value, 2 dim_param}}}.
 *
 * Non-goals: functions, subgraphs, sparse initializers, external data,
 * training info, custom domains.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/log.h"
#include "core/status.h"
#include "load/load.h"
#include "load/onnx.h"
#include "load/onnx_internal.h"

#define SPN(s) (int)((s).n > 200 ? 200 : (s).n), ((s).p ? (const char *)(s).p : "")

static kiln_onnx_span span_of(const kiln_pb_field *f) {
    kiln_onnx_span s = {f->data, f->len};
    return s;
}

static bool span_eq(kiln_onnx_span s, const char *z) {
    size_t n = strlen(z);
    return s.n == n && (n == 0 || memcmp(s.p, z, n) == 0);
}

/* ---- errors ------------------------------------------------------------ */

kiln_status kiln_onnx_node_error(const kiln_onnx_ctx *c, kiln_status s, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return kiln_error(s, "%s: offset %zu: %s: %s", c->path, c->node.offset, c->node.label, msg);
}

/* ---- name table (open addressing over value ids) ----------------------- */

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

int32_t kiln_onnx_find(const kiln_onnx_ctx *c, kiln_onnx_span name) {
    if (!c->n_slots) return -1;
    size_t mask = c->n_slots - 1;
    for (size_t i = (size_t)hash_bytes(name.p, name.n) & mask;; i = (i + 1) & mask) {
        int32_t id = c->slots[i];
        if (id < 0) return -1;
        const char *vn = c->g->values[id].name;
        if (strlen(vn) == name.n && memcmp(vn, name.p, name.n) == 0) return id;
    }
}

static kiln_status table_insert(kiln_onnx_ctx *c, int32_t id) {
    if ((c->n_used + 1) * 2 > c->n_slots) {
        size_t ns = c->n_slots ? c->n_slots * 2 : 256;
        int32_t *s = malloc(ns * sizeof *s);
        if (!s) return kiln_error(KILN_ERR_NO_MEMORY, "%s: out of memory", c->path);
        for (size_t i = 0; i < ns; i++)
            s[i] = -1;
        for (size_t k = 0; k < c->n_slots; k++) {
            int32_t v = c->slots[k];
            if (v < 0) continue;
            const char *vn = c->g->values[v].name;
            size_t i = (size_t)hash_bytes((const uint8_t *)vn, strlen(vn)) & (ns - 1);
            while (s[i] >= 0)
                i = (i + 1) & (ns - 1);
            s[i] = v;
        }
        free(c->slots);
        c->slots = s;
        c->n_slots = ns;
    }
    const char *vn = c->g->values[id].name;
    size_t i = (size_t)hash_bytes((const uint8_t *)vn, strlen(vn)) & (c->n_slots - 1);
    while (c->slots[i] >= 0)
        i = (i + 1) & (c->n_slots - 1);
    c->slots[i] = id;
    c->n_used++;
    return KILN_OK;
}

const char *kiln_onnx_cstr(kiln_onnx_ctx *c, kiln_onnx_span s) {
    if (s.n + 1 > c->scratch_cap) {
        char *q = realloc(c->scratch, s.n + 1);
        if (!q) return NULL;
        c->scratch = q;
        c->scratch_cap = s.n + 1;
    }
    if (s.n) memcpy(c->scratch, s.p, s.n);
    c->scratch[s.n] = '\0';
    return c->scratch;
}

kiln_status kiln_onnx_new_value(kiln_onnx_ctx *c, kiln_onnx_span name, kiln_dtype dtype,
                                int32_t rank, const int64_t *dims, int32_t *id) {
    if (name.n == 0)
        return kiln_error(KILN_ERR_FORMAT, "%s: %s: a tensor has an empty name", c->path,
                          c->node.label);
    if (memchr(name.p, 0, name.n))
        return kiln_error(KILN_ERR_FORMAT, "%s: tensor name '%.*s' contains a NUL byte", c->path,
                          SPN(name));
    if (kiln_onnx_find(c, name) >= 0)
        return kiln_error(KILN_ERR_FORMAT,
                          "%s: %s: tensor '%.*s' is defined twice (ONNX names are single-"
                          "assignment)",
                          c->path, c->node.label, SPN(name));
    const char *z = kiln_onnx_cstr(c, name);
    if (!z) return kiln_error(KILN_ERR_NO_MEMORY, "%s: out of memory", c->path);
    KILN_TRY(kiln_graph_add_value(c->g, z, dtype, rank, dims, id));
    return table_insert(c, *id);
}

/* ---- node inputs and attributes ----------------------------------------- */

kiln_status kiln_onnx_ignore_outputs(kiln_onnx_ctx *c, int32_t k, const char *why) {
    for (int32_t i = k; i < c->node.n_out; i++) {
        if (c->node.out[i].n == 0) continue;
        if (c->n_ignored == c->cap_ignored) {
            int32_t nc = c->cap_ignored ? c->cap_ignored * 2 : 16;
            kiln_onnx_ignored *q = realloc(c->ignored, (size_t)nc * sizeof *q);
            if (!q) return kiln_error(KILN_ERR_NO_MEMORY, "%s: out of memory", c->path);
            c->ignored = q;
            c->cap_ignored = nc;
        }
        kiln_onnx_ignored *g = &c->ignored[c->n_ignored++];
        g->name = c->node.out[i];
        g->why = why;
        g->node = c->node.index;
    }
    return KILN_OK;
}

const kiln_onnx_ignored *kiln_onnx_find_ignored(const kiln_onnx_ctx *c, kiln_onnx_span name) {
    for (int32_t i = 0; i < c->n_ignored; i++)
        if (c->ignored[i].name.n == name.n && memcmp(c->ignored[i].name.p, name.p, name.n) == 0)
            return &c->ignored[i];
    return NULL;
}

kiln_status kiln_onnx_input(kiln_onnx_ctx *c, int32_t k, int32_t *id) {
    *id = KILN_NO_VALUE;
    if (k >= c->node.n_in || c->node.in[k].n == 0) return KILN_OK;
    int32_t v = kiln_onnx_find(c, c->node.in[k]);
    const kiln_onnx_ignored *ig = v < 0 ? kiln_onnx_find_ignored(c, c->node.in[k]) : NULL;
    if (ig)
        return kiln_onnx_node_error(c, KILN_ERR_UNSUPPORTED,
                                    "input %d '%.*s' is an output of node #%d that Kiln does not "
                                    "produce: %s",
                                    (int)k, SPN(c->node.in[k]), (int)ig->node, ig->why);
    if (v < 0)
        return kiln_onnx_node_error(c, KILN_ERR_FORMAT,
                                    "input %d '%.*s' is not a graph input, an initializer or an "
                                    "output of an earlier node (nodes must be in topological "
                                    "order)",
                                    (int)k, SPN(c->node.in[k]));
    *id = v;
    return KILN_OK;
}

kiln_status kiln_onnx_input_req(kiln_onnx_ctx *c, int32_t k, const char *what, int32_t *id) {
    KILN_TRY(kiln_onnx_input(c, k, id));
    if (*id == KILN_NO_VALUE)
        return kiln_onnx_node_error(c, KILN_ERR_FORMAT, "missing required input %d (%s)", (int)k,
                                    what);
    return KILN_OK;
}

const kiln_onnx_attr *kiln_onnx_attr_get(const kiln_onnx_ctx *c, const char *name) {
    for (int32_t i = 0; i < c->node.n_attrs; i++)
        if (span_eq(c->node.attrs[i].name, name)) return &c->node.attrs[i];
    return NULL;
}

static kiln_status attr_type_error(kiln_onnx_ctx *c, const char *name, const char *want) {
    return kiln_onnx_node_error(c, KILN_ERR_FORMAT, "attribute '%s' is not of type %s", name, want);
}

kiln_status kiln_onnx_attr_int(kiln_onnx_ctx *c, const char *name, int64_t def, int64_t *out) {
    const kiln_onnx_attr *a = kiln_onnx_attr_get(c, name);
    *out = def;
    if (!a) return KILN_OK;
    if (!a->has_i || (a->type && a->type != KILN_ONNX_ATTR_INT))
        return attr_type_error(c, name, "INT");
    *out = a->i;
    return KILN_OK;
}

kiln_status kiln_onnx_attr_float(kiln_onnx_ctx *c, const char *name, float def, float *out) {
    const kiln_onnx_attr *a = kiln_onnx_attr_get(c, name);
    *out = def;
    if (!a) return KILN_OK;
    if (!a->has_f || (a->type && a->type != KILN_ONNX_ATTR_FLOAT))
        return attr_type_error(c, name, "FLOAT");
    *out = a->f;
    return KILN_OK;
}

typedef struct ints_acc {
    int64_t *out;
    int32_t n, max;
} ints_acc;

static int ints_cb(void *user, uint64_t bits) {
    ints_acc *a = user;
    if (a->n >= a->max) return -1;
    a->out[a->n++] = (int64_t)bits;
    return 0;
}

kiln_status kiln_onnx_attr_ints(kiln_onnx_ctx *c, const char *name, int64_t *out, int32_t max,
                                int32_t *n) {
    const kiln_onnx_attr *a = kiln_onnx_attr_get(c, name);
    *n = -1;
    if (!a) return KILN_OK;
    if (a->type && a->type != KILN_ONNX_ATTR_INTS) return attr_type_error(c, name, "INTS");
    ints_acc acc = {out, 0, max};
    kiln_pb m = kiln_pb_sub(&c->node.msg, &a->self);
    kiln_pb_field f;
    int r;
    while ((r = kiln_pb_next(&m, &f)) == 1) {
        if (f.number != 8) continue;
        if (kiln_pb_repeated(&m, &f, KILN_PB_VARINT, ints_cb, &acc) != 0) {
            if (acc.n >= max)
                return kiln_onnx_node_error(c, KILN_ERR_UNSUPPORTED,
                                            "attribute '%s' has more than %d values (only 2-D "
                                            "spatial ops and rank <= %d are supported)",
                                            name, (int)max, KILN_MAX_RANK);
            break;
        }
    }
    if (m.error)
        return kiln_error(KILN_ERR_FORMAT, "%s: offset %zu: %s: attribute '%s': %s", c->path,
                          m.error_offset, c->node.label, name, m.error);
    *n = acc.n;
    return KILN_OK;
}

kiln_status kiln_onnx_attr_string(kiln_onnx_ctx *c, const char *name, kiln_onnx_span *out,
                                  bool *found) {
    const kiln_onnx_attr *a = kiln_onnx_attr_get(c, name);
    *found = false;
    if (!a) return KILN_OK;
    if (!a->has_s || (a->type && a->type != KILN_ONNX_ATTR_STRING))
        return attr_type_error(c, name, "STRING");
    *out = a->s;
    *found = true;
    return KILN_OK;
}

/* ---- NodeProto ---------------------------------------------------------- */

static kiln_status parse_attr(kiln_onnx_ctx *c, const kiln_pb *node, const kiln_pb_field *f,
                              kiln_onnx_attr *a) {
    memset(a, 0, sizeof *a);
    a->self = *f;
    kiln_pb m = kiln_pb_sub(node, f);
    kiln_pb_field x;
    int r;
    while ((r = kiln_pb_next(&m, &x)) == 1) {
        int want = -1;
        switch (x.number) {
        case 1:
            want = KILN_PB_LEN;
            a->name = span_of(&x);
            break;
        case 20:
            want = KILN_PB_VARINT;
            a->type = kiln_pb_int32(&x);
            break;
        case 2:
            want = KILN_PB_FIXED32;
            a->has_f = true;
            a->f = kiln_pb_float(&x);
            break;
        case 3:
            want = KILN_PB_VARINT;
            a->has_i = true;
            a->i = kiln_pb_int64(&x);
            break;
        case 4:
            want = KILN_PB_LEN;
            a->has_s = true;
            a->s = span_of(&x);
            break;
        case 5:
            want = KILN_PB_LEN;
            a->has_t = true;
            a->t = x;
            break;
        case 7: a->n_floats++; break;
        case 8: a->n_ints++; break;
        case 21: a->has_ref = true; break;
        default: break;
        }
        if (want >= 0 && x.wire_type != want)
            return kiln_error(KILN_ERR_FORMAT,
                              "%s: offset %zu: %s: attribute field %u has wire type %d", c->path,
                              x.offset, c->node.label, x.number, x.wire_type);
    }
    if (r < 0)
        return kiln_error(KILN_ERR_FORMAT, "%s: offset %zu: %s: malformed attribute: %s", c->path,
                          m.error_offset, c->node.label, m.error);
    if (a->has_ref)
        return kiln_onnx_node_error(c, KILN_ERR_UNSUPPORTED,
                                    "attribute '%.*s' refers to a function attribute "
                                    "(ref_attr_name); functions are not supported",
                                    SPN(a->name));
    return KILN_OK;
}

static kiln_status parse_node(kiln_onnx_ctx *c, const kiln_pb *graph, const kiln_pb_field *f,
                              int32_t index) {
    kiln_onnx_node *n = &c->node;
    memset(n, 0, offsetof(kiln_onnx_node, attrs));
    n->index = index;
    n->offset = f->offset;
    n->msg = kiln_pb_sub(graph, f);
    snprintf(n->label, sizeof n->label, "node #%d", (int)index);
    kiln_pb m = n->msg;
    kiln_pb_field x;
    int r;
    /* Pass 1: everything but attributes, so messages can name the node. */
    while ((r = kiln_pb_next(&m, &x)) == 1) {
        if (x.number >= 1 && x.number <= 7 && x.number != 6 && x.wire_type != KILN_PB_LEN)
            return kiln_error(KILN_ERR_FORMAT,
                              "%s: offset %zu: node #%d: field %u has wire type %d", c->path,
                              x.offset, (int)index, x.number, x.wire_type);
        switch (x.number) {
        case 1:
        case 2: {
            int32_t *cnt = x.number == 1 ? &n->n_in : &n->n_out;
            if (*cnt >= KILN_ONNX_NODE_MAX_IO)
                return kiln_error(KILN_ERR_UNSUPPORTED,
                                  "%s: offset %zu: node #%d has more than %d %s", c->path, x.offset,
                                  (int)index, KILN_ONNX_NODE_MAX_IO,
                                  x.number == 1 ? "inputs" : "outputs");
            (x.number == 1 ? n->in : n->out)[(*cnt)++] = span_of(&x);
            break;
        }
        case 3: n->name = span_of(&x); break;
        case 4: n->op_type = span_of(&x); break;
        case 7: n->domain = span_of(&x); break;
        default: break;
        }
    }
    if (r < 0)
        return kiln_error(KILN_ERR_FORMAT, "%s: offset %zu: node #%d: %s", c->path, m.error_offset,
                          (int)index, m.error);
    kiln_onnx_span who = n->name.n ? n->name : (n->n_out ? n->out[0] : n->name);
    snprintf(n->label, sizeof n->label, "node #%d '%.*s' (%.*s%s%.*s)", (int)index, SPN(who),
             SPN(n->domain), n->domain.n ? "::" : "", SPN(n->op_type));
    m = n->msg;
    while ((r = kiln_pb_next(&m, &x)) == 1) {
        if (x.number != 5) continue;
        if (n->n_attrs >= KILN_ONNX_NODE_MAX_ATTRS)
            return kiln_onnx_node_error(c, KILN_ERR_UNSUPPORTED, "more than %d attributes",
                                        KILN_ONNX_NODE_MAX_ATTRS);
        KILN_TRY(parse_attr(c, &n->msg, &x, &n->attrs[n->n_attrs++]));
    }
    return KILN_OK;
}

/* ---- ValueInfoProto: graph inputs --------------------------------------- */

static kiln_status parse_value_info(kiln_onnx_ctx *c, const kiln_pb *graph, const kiln_pb_field *f,
                                    kiln_onnx_span *name, int32_t *elem_type, int32_t *rank,
                                    int64_t *dims, bool *has_shape, bool *is_tensor) {
    kiln_pb m = kiln_pb_sub(graph, f);
    kiln_pb_field x;
    int r;
    *elem_type = 0;
    *rank = 0;
    *has_shape = false;
    *is_tensor = false;
    name->p = NULL;
    name->n = 0;
    while ((r = kiln_pb_next(&m, &x)) == 1) {
        if (x.number == 1 && x.wire_type == KILN_PB_LEN) *name = span_of(&x);
        if (x.number != 2 || x.wire_type != KILN_PB_LEN) continue;
        kiln_pb tp = kiln_pb_sub(&m, &x);
        kiln_pb_field y;
        while ((r = kiln_pb_next(&tp, &y)) == 1) {
            if (y.number != 1 || y.wire_type != KILN_PB_LEN) continue;
            *is_tensor = true;
            kiln_pb tt = kiln_pb_sub(&tp, &y);
            kiln_pb_field z;
            while ((r = kiln_pb_next(&tt, &z)) == 1) {
                if (z.number == 1 && z.wire_type == KILN_PB_VARINT) *elem_type = kiln_pb_int32(&z);
                if (z.number != 2 || z.wire_type != KILN_PB_LEN) continue;
                *has_shape = true;
                *rank = 0;
                kiln_pb sh = kiln_pb_sub(&tt, &z);
                kiln_pb_field d;
                while ((r = kiln_pb_next(&sh, &d)) == 1) {
                    if (d.number != 1 || d.wire_type != KILN_PB_LEN) continue;
                    if (*rank >= KILN_MAX_RANK)
                        return kiln_error(KILN_ERR_UNSUPPORTED,
                                          "%s: offset %zu: input '%.*s' has rank > %d", c->path,
                                          d.offset, SPN(*name), KILN_MAX_RANK);
                    int64_t dv = -1;
                    kiln_pb dm = kiln_pb_sub(&sh, &d);
                    kiln_pb_field e;
                    while ((r = kiln_pb_next(&dm, &e)) == 1)
                        if (e.number == 1 && e.wire_type == KILN_PB_VARINT) dv = kiln_pb_int64(&e);
                    if (r < 0) {
                        sh.error = dm.error;
                        sh.error_offset = dm.error_offset;
                        break;
                    }
                    if (dv < -1)
                        return kiln_error(KILN_ERR_FORMAT,
                                          "%s: offset %zu: input '%.*s': dim_value %lld is "
                                          "negative",
                                          c->path, d.offset, SPN(*name), (long long)dv);
                    dims[(*rank)++] = dv;
                }
                if (sh.error) {
                    tt.error = sh.error;
                    tt.error_offset = sh.error_offset;
                    r = -1;
                    break;
                }
            }
            if (tt.error) {
                tp.error = tt.error;
                tp.error_offset = tt.error_offset;
                r = -1;
                break;
            }
        }
        if (tp.error) {
            m.error = tp.error;
            m.error_offset = tp.error_offset;
            r = -1;
            break;
        }
    }
    if (m.error)
        return kiln_error(KILN_ERR_FORMAT, "%s: offset %zu: malformed ValueInfoProto: %s", c->path,
                          m.error_offset, m.error);
    return KILN_OK;
}

static kiln_status add_graph_input(kiln_onnx_ctx *c, const kiln_pb *graph, const kiln_pb_field *f) {
    kiln_onnx_span name;
    int32_t et, rank;
    int64_t dims[KILN_MAX_RANK];
    bool has_shape, is_tensor;
    KILN_TRY(parse_value_info(c, graph, f, &name, &et, &rank, dims, &has_shape, &is_tensor));
    if (name.n == 0)
        return kiln_error(KILN_ERR_FORMAT, "%s: offset %zu: a graph input has no name", c->path,
                          f->offset);
    int32_t id = kiln_onnx_find(c, name);
    if (id >= 0) {
        if (c->g->values[id].data) return KILN_OK; /* an initializer listed as input (IR < 4) */
        return kiln_error(KILN_ERR_FORMAT, "%s: offset %zu: graph input '%.*s' is listed twice",
                          c->path, f->offset, SPN(name));
    }
    for (int32_t b = 0; b < c->n_bind; b++) {
        const kiln_onnx_binding *bd = &c->bind[b];
        if (strlen(bd->name) != name.n || memcmp(bd->name, name.p, name.n) != 0) continue;
        bool rank_ok = bd->rank >= 0 && bd->rank <= KILN_MAX_RANK;
        int64_t ne = rank_ok ? kiln_numel(bd->rank, bd->dims) : -1;
        size_t es = kiln_dtype_size(bd->dtype);
        if (ne < 0 || es == 0 || (ne > 0 && !bd->data) || (uint64_t)ne > c->max_const / es)
            return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                              "%s: the value bound to input '%s' has a bad shape, type or "
                              "no data",
                              c->path, bd->name);
        void *p = kiln_graph_alloc(c->g, (size_t)ne * es);
        if (!p) return kiln_error(KILN_ERR_NO_MEMORY, "%s: out of memory", c->path);
        if (ne) memcpy(p, bd->data, (size_t)ne * es);
        KILN_TRY(kiln_onnx_new_value(c, name, bd->dtype, bd->rank, bd->dims, &id));
        kiln_graph_set_const(c->g, id, p, (size_t)ne * es);
        c->bound[b] = true;
        return KILN_OK;
    }
    if (!is_tensor)
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "%s: offset %zu: graph input '%.*s' is not a tensor (sequence, map and "
                          "optional inputs are not supported)",
                          c->path, f->offset, SPN(name));
    kiln_dtype dt;
    if (!kiln_onnx_dtype_from_onnx(et, &dt))
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "%s: offset %zu: graph input '%.*s' has element type %s (%d), which "
                          "Kiln does not support",
                          c->path, f->offset, SPN(name), kiln_onnx_type_name(et), (int)et);
    if (!has_shape)
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "%s: offset %zu: graph input '%.*s' declares no shape; Kiln needs at "
                          "least its rank (give it a shape, e.g. with onnx.tools or "
                          "onnxsim --overwrite-input-shape)",
                          c->path, f->offset, SPN(name));
    KILN_TRY(kiln_onnx_new_value(c, name, dt, rank, dims, &id));
    return kiln_graph_add_input(c->g, id);
}

/* ---- GraphProto ----------------------------------------------------------- */

static kiln_status add_initializer(kiln_onnx_ctx *c, const kiln_pb *graph, const kiln_pb_field *f) {
    kiln_onnx_tensor t;
    KILN_TRY(kiln_onnx_tensor_parse(graph, f, c->path, "initializer", c->max_const, c->borrow, &t));
    if (t.owned) KILN_TRY(kiln_graph_own(c->g, t.owned));
    kiln_onnx_span name = {t.name, t.name_len};
    if (name.n == 0)
        return kiln_error(KILN_ERR_FORMAT, "%s: offset %zu: an initializer has no name", c->path,
                          f->offset);
    int32_t id;
    KILN_TRY(kiln_onnx_new_value(c, name, t.dtype, t.rank, t.dims, &id));
    if (t.nbytes == 0) {
        void *p = kiln_graph_alloc(c->g, 1); /* keep `data` non-NULL: the value is constant */
        if (!p) return kiln_error(KILN_ERR_NO_MEMORY, "%s: out of memory", c->path);
        kiln_graph_set_const(c->g, id, p, 0);
    } else {
        kiln_graph_set_const(c->g, id, t.data, t.nbytes);
    }
    return KILN_OK;
}

static kiln_status pb_fail(const kiln_onnx_ctx *c, const kiln_pb *m, const char *what) {
    return kiln_error(KILN_ERR_FORMAT, "%s: offset %zu: malformed %s: %s", c->path, m->error_offset,
                      what, m->error);
}

static kiln_status parse_graph(kiln_onnx_ctx *c, const kiln_pb *model, const kiln_pb_field *gf) {
    kiln_pb_field f;
    int r;
    kiln_pb m = kiln_pb_sub(model, gf);
    /* Pass 1: initializers. */
    while ((r = kiln_pb_next(&m, &f)) == 1)
        if (f.number == 5)
            KILN_TRY(add_initializer(c, &m, &f));
        else if (f.number == 15 && f.wire_type == KILN_PB_LEN)
            return kiln_error(KILN_ERR_UNSUPPORTED,
                              "%s: offset %zu: sparse initializers are not supported", c->path,
                              f.offset);
    if (r < 0) return pb_fail(c, &m, "GraphProto");
    /* Pass 2: graph inputs. */
    m = kiln_pb_sub(model, gf);
    while ((r = kiln_pb_next(&m, &f)) == 1)
        if (f.number == 11) {
            if (f.wire_type != KILN_PB_LEN)
                return kiln_error(KILN_ERR_FORMAT, "%s: offset %zu: graph input is not a message",
                                  c->path, f.offset);
            KILN_TRY(add_graph_input(c, &m, &f));
        }
    /* Pass 3: nodes, in order. */
    m = kiln_pb_sub(model, gf);
    int32_t index = 0;
    while ((r = kiln_pb_next(&m, &f)) == 1)
        if (f.number == 1) {
            if (f.wire_type != KILN_PB_LEN)
                return kiln_error(KILN_ERR_FORMAT, "%s: offset %zu: node is not a message", c->path,
                                  f.offset);
            KILN_TRY(parse_node(c, &m, &f, index));
            KILN_TRY(kiln_onnx_map_node(c));
            index++;
        }
    /* Pass 4: graph outputs. */
    memset(&c->node, 0, offsetof(kiln_onnx_node, attrs));
    snprintf(c->node.label, sizeof c->node.label, "graph outputs");
    m = kiln_pb_sub(model, gf);
    while ((r = kiln_pb_next(&m, &f)) == 1)
        if (f.number == 12) {
            if (f.wire_type != KILN_PB_LEN)
                return kiln_error(KILN_ERR_FORMAT, "%s: offset %zu: graph output is not a message",
                                  c->path, f.offset);
            kiln_onnx_span name;
            int32_t et, rank;
            int64_t dims[KILN_MAX_RANK];
            bool has_shape, is_tensor;
            KILN_TRY(parse_value_info(c, &m, &f, &name, &et, &rank, dims, &has_shape, &is_tensor));
            int32_t id = kiln_onnx_find(c, name);
            const kiln_onnx_ignored *ig = id < 0 ? kiln_onnx_find_ignored(c, name) : NULL;
            if (ig)
                return kiln_error(KILN_ERR_UNSUPPORTED,
                                  "%s: offset %zu: graph output '%.*s' is an output of node #%d "
                                  "that Kiln does not produce: %s",
                                  c->path, f.offset, SPN(name), (int)ig->node, ig->why);
            if (id < 0)
                return kiln_error(KILN_ERR_FORMAT,
                                  "%s: offset %zu: graph output '%.*s' is not produced by any "
                                  "node",
                                  c->path, f.offset, SPN(name));
            KILN_TRY(kiln_graph_add_output(c->g, id));
        }
    if (c->g->n_outputs == 0)
        return kiln_error(KILN_ERR_FORMAT, "%s: the graph declares no outputs", c->path);
    return KILN_OK;
}

/* ---- ModelProto ------------------------------------------------------------ */

static kiln_status parse_model(kiln_onnx_ctx *c, const uint8_t *data, size_t size) {
    kiln_pb m = kiln_pb_init(data, size, 0);
    kiln_pb_field f, graph;
    kiln_onnx_span producer = {NULL, 0};
    bool has_graph = false, has_ir = false;
    int r;
    c->opset = -1;
    while ((r = kiln_pb_next(&m, &f)) == 1) {
        switch (f.number) {
        case 1:
            if (f.wire_type != KILN_PB_VARINT) break;
            c->ir_version = kiln_pb_int64(&f);
            has_ir = true;
            break;
        case 2:
            if (f.wire_type == KILN_PB_LEN) producer = span_of(&f);
            break;
        case 7:
            if (f.wire_type != KILN_PB_LEN)
                return kiln_error(KILN_ERR_FORMAT, "%s: offset %zu: graph is not a message",
                                  c->path, f.offset);
            graph = f;
            has_graph = true;
            break;
        case 8: {
            if (f.wire_type != KILN_PB_LEN) break;
            kiln_pb o = kiln_pb_sub(&m, &f);
            kiln_pb_field x;
            kiln_onnx_span dom = {NULL, 0};
            int64_t ver = -1;
            while ((r = kiln_pb_next(&o, &x)) == 1) {
                if (x.number == 1 && x.wire_type == KILN_PB_LEN) dom = span_of(&x);
                if (x.number == 2 && x.wire_type == KILN_PB_VARINT) ver = kiln_pb_int64(&x);
            }
            if (r < 0) return pb_fail(c, &o, "opset_import");
            if (dom.n == 0 || span_eq(dom, "ai.onnx")) c->opset = ver;
            break;
        }
        case 20:
        case 25:
            if (f.number == 25)
                kiln_log(c->logger, KILN_LOG_DEBUG, "%s: ignoring model-local functions", c->path);
            break;
        default: break;
        }
    }
    if (r < 0) return pb_fail(c, &m, "ModelProto");
    if (!has_ir || !has_graph)
        return kiln_error(KILN_ERR_FORMAT,
                          "%s: not an ONNX model: no %s (ModelProto field %d); is this a Paddle "
                          "program or a truncated file?",
                          c->path, has_ir ? "graph" : "ir_version", has_ir ? 7 : 1);
    if (c->opset < 0)
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "%s: the model imports no default-domain opset (opset_import); "
                          "models before IR version 3 are not supported",
                          c->path);
    if (c->opset > 17)
        kiln_log(c->logger, KILN_LOG_WARNING,
                 "%s: opset %lld is newer than the tested range 9..17; loading with opset-17 "
                 "semantics",
                 c->path, (long long)c->opset);
    char ver[512];
    snprintf(ver, sizeof ver, "onnx ir_version %lld, opset %lld, producer %.*s",
             (long long)c->ir_version, (long long)c->opset, SPN(producer));
    c->g->format = KILN_FORMAT_ONNX;
    c->g->format_version = strdup(ver);
    c->g->source = strdup(c->path);
    if (!c->g->format_version || !c->g->source)
        return kiln_error(KILN_ERR_NO_MEMORY, "%s: out of memory", c->path);
    KILN_TRY(parse_graph(c, &m, &graph));
    for (int32_t b = 0; b < c->n_bind; b++)
        if (!c->bound[b])
            return kiln_error(KILN_ERR_NOT_FOUND,
                              "%s: a value was bound to '%s', which is not a "
                              "graph input",
                              c->path, c->bind[b].name);
    kiln_status s = kiln_graph_verify(c->g);
    if (s != KILN_OK) return kiln_error_prefix(s, "%s", c->path);
    kiln_log(c->logger, KILN_LOG_INFO, "%s: %s: %d nodes, %d values, %d inputs, %d outputs",
             c->path, ver, (int)c->g->n_nodes, (int)c->g->n_values, (int)c->g->n_inputs,
             (int)c->g->n_outputs);
    return KILN_OK;
}

static kiln_status load_into(kiln_graph *g, const uint8_t *data, size_t size, const char *name,
                             bool borrow, const kiln_onnx_options *o, const kiln_logger *logger) {
    kiln_onnx_ctx *c = calloc(1, sizeof *c);
    if (!c) return kiln_error(KILN_ERR_NO_MEMORY, "%s: out of memory", name);
    c->g = g;
    c->path = name;
    c->logger = logger;
    c->borrow = borrow;
    c->max_const = o && o->max_const_bytes ? o->max_const_bytes : KILN_ONNX_MAX_CONST_BYTES;
    if (o && o->n_bind > 0) {
        c->bind = o->bind;
        c->n_bind = o->n_bind;
        c->bound = calloc((size_t)o->n_bind, sizeof *c->bound);
        if (!c->bound) {
            free(c);
            return kiln_error(KILN_ERR_NO_MEMORY, "%s: out of memory", name);
        }
    }
    snprintf(c->node.label, sizeof c->node.label, "model");
    static const uint8_t empty = 0;
    kiln_status s = parse_model(c, data ? data : &empty, size);
    free(c->bound);
    free(c->ignored);
    free(c->slots);
    free(c->scratch);
    free(c);
    return s;
}

kiln_status kiln_load_onnx_buffer(const uint8_t *data, size_t size, const char *name,
                                  const kiln_onnx_options *o, const kiln_logger *logger,
                                  kiln_graph **out) {
    *out = NULL;
    kiln_graph *g;
    KILN_TRY(kiln_graph_create(&g));
    kiln_status s = load_into(g, data, size, name ? name : "(buffer)", false, o, logger);
    if (s != KILN_OK) {
        kiln_graph_destroy(g);
        return s;
    }
    *out = g;
    return KILN_OK;
}

kiln_status kiln_load_onnx_ex(const char *path, const kiln_onnx_options *o,
                              const kiln_logger *logger, kiln_graph **out) {
    *out = NULL;
    kiln_mapping map;
    KILN_TRY(kiln_map_file(path, &map));
    kiln_graph *g;
    kiln_status s = kiln_graph_create(&g);
    if (s != KILN_OK) {
        kiln_unmap(&map);
        return s;
    }
    s = kiln_graph_own_mapping(g, &map);
    if (s != KILN_OK) {
        kiln_unmap(&map);
        kiln_graph_destroy(g);
        return s;
    }
    s = load_into(g, map.data, map.size, path, true, o, logger);
    if (s != KILN_OK) {
        kiln_graph_destroy(g);
        return s;
    }
    *out = g;
    return KILN_OK;
}

kiln_status kiln_load_onnx(const char *path, const kiln_logger *logger, kiln_graph **out) {
    return kiln_load_onnx_ex(path, NULL, logger, out);
}
