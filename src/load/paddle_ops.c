/*
 * paddle_ops.c — Paddle program + params -> Kiln IR (kiln_paddle_model_to_graph).
 *
 * One handler per Paddle op type maps its slots and attributes onto IR nodes
 * (spec §4.1, §5.1). Values take their shapes from the VarDescs (a -1 batch
 * stays -1); params become constants pointing into the mmap'ed files, which
 * move into the graph. Feed ops' Out are the inputs and fetch ops' X the
 * outputs, ordered by `col`. A variable written twice (in-place ops) gets a
 * fresh value; the older one is renamed "<name>@<k>" so names stay unique.
 * Non-goals: shape inference (ir/shape.c), secondary outputs (XShape,
 * MeanOut, OutScale... are skipped), sub-blocks.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "load/paddle.h"

/* ---- name -> int32 hash map (keys borrowed from the program) -------------- */

typedef struct namemap {
    const char **keys;
    int32_t *vals;
    uint32_t cap, n;
} namemap;

static uint32_t hash_str(const char *s) {
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 16777619u;
    return h;
}

static int nm_grow(namemap *m) {
    uint32_t cap = m->cap ? m->cap * 2 : 256;
    const char **k = calloc(cap, sizeof *k);
    int32_t *v = calloc(cap, sizeof *v);
    if (!k || !v) {
        free(k);
        free(v);
        return 0;
    }
    for (uint32_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        uint32_t j = hash_str(m->keys[i]) & (cap - 1);
        while (k[j])
            j = (j + 1) & (cap - 1);
        k[j] = m->keys[i];
        v[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = k;
    m->vals = v;
    m->cap = cap;
    return 1;
}

static int nm_put(namemap *m, const char *key, int32_t val) {
    if ((m->n + 1) * 2 > m->cap && !nm_grow(m)) return 0;
    uint32_t j = hash_str(key) & (m->cap - 1);
    while (m->keys[j] && strcmp(m->keys[j], key) != 0)
        j = (j + 1) & (m->cap - 1);
    if (!m->keys[j]) m->n++;
    m->keys[j] = key;
    m->vals[j] = val;
    return 1;
}

static int32_t nm_get(const namemap *m, const char *key) {
    if (!m->cap) return -1;
    uint32_t j = hash_str(key) & (m->cap - 1);
    while (m->keys[j]) {
        if (strcmp(m->keys[j], key) == 0) return m->vals[j];
        j = (j + 1) & (m->cap - 1);
    }
    return -1;
}

static void nm_free(namemap *m) {
    free(m->keys);
    free(m->vals);
}

/* ---- build context --------------------------------------------------------- */

typedef struct io_ref {
    int64_t col;
    int32_t value;
} io_ref;

typedef struct bctx {
    kiln_paddle_model *m;
    const kiln_paddle_block *b;
    kiln_graph *g;
    const kiln_logger *lg;
    const char *path;
    namemap vars, vals, params, versions;
    int32_t op_index;
    const kiln_paddle_op *op;
    io_ref *feeds, *fetches;
    int32_t n_feeds, n_fetches;
} bctx;

static kiln_status op_error(bctx *c, kiln_status s, const char *fmt, ...) KILN_PRINTF(3, 4);

static kiln_status op_error(bctx *c, kiln_status s, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return kiln_error(s, "%s: offset %zu: op #%d '%s' (output '%s'): %s", c->path, c->op->offset,
                      (int)c->op_index, c->op->type, kiln_paddle_op_first_output(c->op), msg);
}

static const kiln_paddle_var *find_var(bctx *c, const char *name) {
    int32_t i = nm_get(&c->vars, name);
    return i >= 0 ? &c->b->vars[i] : NULL;
}

/* Resolves an input variable to a value: an earlier op's output, a feed, or a param. */
static kiln_status value_of(bctx *c, const char *name, const char *slot, int32_t *id) {
    int32_t v = nm_get(&c->vals, name);
    if (v >= 0) {
        *id = v;
        return KILN_OK;
    }
    int32_t pi = nm_get(&c->params, name);
    if (pi >= 0) {
        kiln_paddle_param *p = &c->m->params[pi];
        if (!p->present)
            return op_error(c, KILN_ERR_IO,
                            "input '%s' (slot %s) is a parameter whose file %s is missing; "
                            "restore it or fill it",
                            name, slot, p->file ? p->file : "?");
        kiln_dtype dt = kiln_paddle_dtype_to_kiln(p->rec.dtype);
        if (dt == KILN_DT_COUNT)
            return op_error(c, KILN_ERR_UNSUPPORTED,
                            "parameter '%s' has data type %s, which Kiln "
                            "does not handle",
                            name, kiln_paddle_dtype_name(p->rec.dtype));
        if (p->rec.rank > KILN_MAX_RANK)
            return op_error(c, KILN_ERR_UNSUPPORTED, "parameter '%s' has rank %d (max %d)", name,
                            (int)p->rec.rank, KILN_MAX_RANK);
        KILN_TRY(kiln_graph_add_value(c->g, name, dt, p->rec.rank, p->rec.dims, &v));
        const void *data = p->rec.data;
        size_t align = kiln_dtype_size(dt);
        if (p->rec.nbytes && align > 1 && (uintptr_t)data % align != 0) {
            /* Records have variable-size headers, so data in a file is often
             * not aligned for its type; reading it as float would be UB.
             * Copy those (and only those) into aligned graph memory. */
            void *copy = kiln_graph_alloc(c->g, p->rec.nbytes);
            if (!copy) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory copying '%s'", name);
            memcpy(copy, data, p->rec.nbytes);
            data = copy;
        }
        kiln_graph_set_const(c->g, v, data, p->rec.nbytes);
        if (!nm_put(&c->vals, name, v)) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
        *id = v;
        return KILN_OK;
    }
    return op_error(c, KILN_ERR_FORMAT,
                    "input '%s' (slot %s) is not written by an earlier op, not fed and not a "
                    "parameter; the program is inconsistent",
                    name, slot);
}

static kiln_status input(bctx *c, const char *slot, bool required, int32_t *id) {
    const char *name = kiln_paddle_op_input1(c->op, slot);
    *id = KILN_NO_VALUE;
    if (!name) {
        if (required)
            return op_error(c, KILN_ERR_FORMAT, "required input slot '%s' is missing or empty",
                            slot);
        return KILN_OK;
    }
    return value_of(c, name, slot, id);
}

static bool has_input(bctx *c, const char *slot) {
    return kiln_paddle_op_input1(c->op, slot);
}

/* A new value for variable `name` (its VarDesc gives dtype and shape). */
static kiln_status new_value(bctx *c, const char *name, int32_t *id) {
    const kiln_paddle_var *v = find_var(c, name);
    if (!v) return op_error(c, KILN_ERR_FORMAT, "output '%s' has no VarDesc in block 0", name);
    kiln_dtype dt = KILN_DT_F32;
    if (v->has_tensor) {
        dt = kiln_paddle_dtype_to_kiln(v->dtype);
        if (dt == KILN_DT_COUNT)
            return op_error(c, KILN_ERR_UNSUPPORTED,
                            "variable '%s' has data type %s, which Kiln does not handle", name,
                            kiln_paddle_dtype_name(v->dtype));
    }
    if (v->rank > KILN_MAX_RANK)
        return op_error(c, KILN_ERR_UNSUPPORTED, "variable '%s' has rank %d (max %d)", name,
                        (int)v->rank, KILN_MAX_RANK);
    int32_t old = nm_get(&c->vals, name);
    char *renamed = NULL;
    bool rename_new = false;
    if (old >= 0) { /* in-place write: keep names unique */
        int32_t k = nm_get(&c->versions, name) + 1;
        if (k < 1) k = 1;
        if (!nm_put(&c->versions, name, k)) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
        size_t len = strlen(name) + 16;
        if (!(renamed = malloc(len))) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
        snprintf(renamed, len, "%s@%d", name, (int)k);
        /* a fed input or a parameter keeps its name; the new value is renamed */
        rename_new = c->g->values[old].data != NULL;
        for (int32_t i = 0; i < c->n_feeds; i++)
            rename_new |= c->feeds[i].value == old;
        if (!rename_new) {
            free(c->g->values[old].name);
            c->g->values[old].name = renamed;
            renamed = NULL;
        }
    }
    kiln_status s = kiln_graph_add_value(c->g, renamed ? renamed : name, dt, v->rank, v->dims, id);
    free(renamed);
    KILN_TRY(s);
    if (!nm_put(&c->vals, name, *id)) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    return KILN_OK;
}

static kiln_status output(bctx *c, const char *slot, int32_t *id) {
    const char *name = kiln_paddle_op_output1(c->op, slot);
    if (!name)
        return op_error(c, KILN_ERR_FORMAT, "required output slot '%s' is missing or empty", slot);
    return new_value(c, name, id);
}

/* An intermediate value "<like's name>.<suffix>" between nodes of one Paddle
 * op. dims == NULL copies like's shape. (Copies first: adding a value may
 * move the values array that `dims` or `like` point into.) */
static kiln_status temp_value(bctx *c, int32_t like, const char *suffix, int32_t rank,
                              const int64_t *dims, int32_t *id) {
    char name[1024];
    int64_t d[KILN_MAX_RANK];
    const kiln_value *lv = &c->g->values[like];
    if (!dims) {
        rank = lv->rank;
        dims = lv->dims;
    }
    if (rank > KILN_MAX_RANK) rank = KILN_MAX_RANK;
    memcpy(d, dims, (size_t)rank * sizeof *d);
    kiln_dtype dt = lv->dtype;
    snprintf(name, sizeof name, "%s.%s", lv->name, suffix);
    return kiln_graph_add_value(c->g, name, dt, rank, d, id);
}

static kiln_status add_node(bctx *c, kiln_op op, int32_t n_in, const int32_t *in, int32_t out,
                            const kiln_attrs *a) {
    char name[1024];
    snprintf(name, sizeof name, "%s:%s", c->op->type, c->g->values[out].name);
    return kiln_graph_add_node(c->g, op, name, n_in, in, 1, &out, a, NULL);
}

static kiln_attrs base_attrs(bctx *c) {
    kiln_attrs a = kiln_attrs_default();
    a.out_threshold = kiln_paddle_attr_float(c->op, "out_threshold", 0.0f);
    return a;
}

/* ---- attribute helpers ----------------------------------------------------- */

static kiln_status pair_attr(bctx *c, const char *name, int64_t dflt, bool positive,
                             int64_t out[2]) {
    int64_t v[4];
    int32_t n = kiln_paddle_attr_ints(c->op, name, v, 4);
    if (n < 0 || n == 0) {
        out[0] = out[1] = dflt;
        return KILN_OK;
    }
    if (n == 1) v[1] = v[0];
    if (n > 2)
        return op_error(c, KILN_ERR_FORMAT, "attribute '%s' has %d values, expected 2", name,
                        (int)n);
    for (int i = 0; i < 2; i++)
        if (positive ? v[i] <= 0 : v[i] < 0)
            return op_error(c, KILN_ERR_FORMAT, "attribute '%s' holds %lld", name, (long long)v[i]);
    out[0] = v[0];
    out[1] = v[1];
    return KILN_OK;
}

/* paddings (2 values: symmetric; 4: top, bottom, left, right) and
 * padding_algorithm into kiln pads (top, left, bottom, right) + auto_pad. */
static kiln_status pads_attr(bctx *c, kiln_attrs *a) {
    int64_t v[4] = {0, 0, 0, 0};
    int32_t n = kiln_paddle_attr_ints(c->op, "paddings", v, 4);
    if (n == 1) v[1] = v[0];
    if (n == 1 || n == 2) {
        a->pads[0] = a->pads[2] = v[0];
        a->pads[1] = a->pads[3] = v[1];
    } else if (n == 4) {
        a->pads[0] = v[0];
        a->pads[2] = v[1];
        a->pads[1] = v[2];
        a->pads[3] = v[3];
    } else if (n > 0) {
        return op_error(c, KILN_ERR_FORMAT, "attribute 'paddings' has %d values, expected 2 or 4",
                        (int)n);
    }
    for (int i = 0; i < 4; i++)
        if (a->pads[i] < 0)
            return op_error(c, KILN_ERR_FORMAT, "negative padding %lld", (long long)a->pads[i]);
    const char *alg = kiln_paddle_attr_string(c->op, "padding_algorithm", "EXPLICIT");
    if (strcmp(alg, "EXPLICIT") == 0 || alg[0] == '\0') {
        a->auto_pad = KILN_PAD_EXPLICIT;
    } else if (strcmp(alg, "SAME") == 0 || strcmp(alg, "VALID") == 0) {
        a->auto_pad = alg[0] == 'S' ? KILN_PAD_SAME_UPPER : KILN_PAD_VALID;
        memset(a->pads, 0, sizeof a->pads);
    } else {
        return op_error(c, KILN_ERR_UNSUPPORTED,
                        "padding_algorithm '%s' (Kiln handles EXPLICIT, SAME, VALID)", alg);
    }
    return KILN_OK;
}

static kiln_status nchw_only(bctx *c, const char *attr) {
    const char *f = kiln_paddle_attr_string(c->op, attr, "NCHW");
    if (strcmp(f, "NCHW") == 0 || strcmp(f, "AnyLayout") == 0 || f[0] == '\0') return KILN_OK;
    return op_error(c, KILN_ERR_UNSUPPORTED,
                    "%s '%s': Kiln handles NCHW only; re-export the model with NCHW layout", attr,
                    f);
}

/* Appends the activation `act` ("relu", "relu6", "" = none) after value
 * `pre`, writing `out`. *emitted tells whether a node was added. */
static kiln_status activation(bctx *c, const char *act, float relu6_max, int32_t pre, int32_t out,
                              float out_threshold) {
    kiln_attrs a = kiln_attrs_default();
    a.out_threshold = out_threshold;
    if (strcmp(act, "relu") == 0) return add_node(c, KILN_OP_RELU, 1, &pre, out, &a);
    if (strcmp(act, "relu6") == 0) {
        a.clip_min = 0.0f;
        a.clip_max = relu6_max > 0.0f ? relu6_max : 6.0f;
        return add_node(c, KILN_OP_CLIP, 1, &pre, out, &a);
    }
    return op_error(c, KILN_ERR_UNSUPPORTED,
                    "fused activation '%s' (Kiln fuses relu and relu6 only); see docs/OPS.md", act);
}

static bool act_none(const char *act) {
    return act[0] == '\0' || strcmp(act, "identity") == 0;
}

/* Emits `op` on `in` writing the Paddle output `out_slot`, followed by the
 * activation `act` if any (the op then writes a ".pre_act" temp value). */
static kiln_status with_act(bctx *c, kiln_op op, int32_t n_in, const int32_t *in,
                            const char *out_slot, kiln_attrs *a, const char *act, float relu6_max) {
    int32_t out;
    KILN_TRY(output(c, out_slot, &out));
    if (act_none(act)) return add_node(c, op, n_in, in, out, a);
    int32_t pre;
    KILN_TRY(temp_value(c, out, "pre_act", 0, NULL, &pre));
    float thr = a->out_threshold;
    a->out_threshold = 0.0f;
    KILN_TRY(add_node(c, op, n_in, in, pre, a));
    return activation(c, act, relu6_max, pre, out, thr);
}

/* FLATTEN(coerce_2d, axis) of value x into a temp; returns its id. */
static kiln_status flatten2d(bctx *c, int32_t x, int64_t axis, int32_t *id) {
    const kiln_value *xv = &c->g->values[x];
    int32_t rank = xv->rank;
    int64_t d[2] = {1, 1};
    for (int32_t i = 0; i < rank; i++) {
        int64_t *t = &d[i < axis ? 0 : 1];
        if (xv->dims[i] < 0 || *t < 0)
            *t = -1;
        else if (xv->dims[i] == 0 || *t <= INT64_MAX / xv->dims[i])
            *t *= xv->dims[i];
        else
            *t = -1;
    }
    KILN_TRY(temp_value(c, x, "flat", 2, d, id));
    kiln_attrs a = kiln_attrs_default();
    a.axis = axis;
    a.coerce_2d = true;
    char name[1024];
    snprintf(name, sizeof name, "%s:%s", c->op->type, c->g->values[*id].name);
    return kiln_graph_add_node(c->g, KILN_OP_FLATTEN, name, 1, &x, 1, id, &a, NULL);
}

/* ---- handlers -------------------------------------------------------------- */

static kiln_status h_conv(bctx *c) {
    int32_t in[3];
    KILN_TRY(input(c, "Input", true, &in[0]));
    KILN_TRY(input(c, "Filter", true, &in[1]));
    KILN_TRY(input(c, "Bias", false, &in[2]));
    KILN_TRY(nchw_only(c, "data_format"));
    kiln_attrs a = base_attrs(c);
    KILN_TRY(pair_attr(c, "strides", 1, true, a.strides));
    KILN_TRY(pair_attr(c, "dilations", 1, true, a.dilations));
    KILN_TRY(pads_attr(c, &a));
    if (a.auto_pad == KILN_PAD_SAME_UPPER) a.dilations[0] = a.dilations[1] = 1; /* as Paddle */
    a.group = kiln_paddle_attr_int(c->op, "groups", 1);
    if (a.group < 1) return op_error(c, KILN_ERR_FORMAT, "groups = %lld", (long long)a.group);
    int32_t n_in = in[2] == KILN_NO_VALUE ? 2 : 3;
    const char *act = kiln_paddle_attr_string(c->op, "fuse_activation", "");
    float relu6_max = kiln_paddle_attr_float(c->op, "fuse_alpha", 0.0f);
    if (act_none(act) && kiln_paddle_attr_bool(c->op, "fuse_relu", false)) act = "relu";
    if (act_none(act) && kiln_paddle_attr_bool(c->op, "fuse_brelu", false)) {
        act = "relu6";
        relu6_max = kiln_paddle_attr_float(c->op, "fuse_brelu_threshold", 6.0f);
    }
    if (has_input(c, "ResidualData") &&
        kiln_paddle_attr_bool(c->op, "fuse_residual_connection", false)) {
        /* conv -> add(residual) -> [act] */
        int32_t res, out, pre;
        KILN_TRY(input(c, "ResidualData", true, &res));
        KILN_TRY(output(c, "Output", &out));
        KILN_TRY(temp_value(c, out, "conv", 0, NULL, &pre));
        float thr = a.out_threshold;
        a.out_threshold = 0.0f;
        KILN_TRY(add_node(c, KILN_OP_CONV, n_in, in, pre, &a));
        int32_t add_in[2] = {pre, res};
        kiln_attrs aa = kiln_attrs_default();
        if (act_none(act)) {
            aa.out_threshold = thr;
            return add_node(c, KILN_OP_ADD, 2, add_in, out, &aa);
        }
        int32_t sum;
        KILN_TRY(temp_value(c, out, "pre_act", 0, NULL, &sum));
        KILN_TRY(add_node(c, KILN_OP_ADD, 2, add_in, sum, &aa));
        return activation(c, act, relu6_max, sum, out, thr);
    }
    return with_act(c, KILN_OP_CONV, n_in, in, "Output", &a, act, relu6_max);
}

static kiln_status h_batch_norm(bctx *c) {
    int32_t in[5];
    static const char *const slots[5] = {"X", "Scale", "Bias", "Mean", "Variance"};
    for (int i = 0; i < 5; i++)
        KILN_TRY(input(c, slots[i], true, &in[i]));
    KILN_TRY(nchw_only(c, "data_layout"));
    kiln_attrs a = base_attrs(c);
    a.epsilon = kiln_paddle_attr_float(c->op, "epsilon", 1e-5f);
    const char *act = kiln_paddle_attr_bool(c->op, "fuse_with_relu", false) ? "relu" : "";
    return with_act(c, KILN_OP_BATCH_NORM, 5, in, "Y", &a, act, 0.0f);
}

static kiln_status h_relu(bctx *c) {
    int32_t x, out;
    KILN_TRY(input(c, "X", true, &x));
    KILN_TRY(output(c, "Out", &out));
    kiln_attrs a = base_attrs(c);
    return add_node(c, KILN_OP_RELU, 1, &x, out, &a);
}

static kiln_status h_relu6(bctx *c) {
    int32_t x, out;
    KILN_TRY(input(c, "X", true, &x));
    KILN_TRY(output(c, "Out", &out));
    kiln_attrs a = base_attrs(c);
    a.clip_min = 0.0f;
    a.clip_max = kiln_paddle_attr_float(c->op, "threshold", 6.0f);
    return add_node(c, KILN_OP_CLIP, 1, &x, out, &a);
}

static kiln_status h_clip(bctx *c) {
    int32_t x, out;
    if (has_input(c, "Min") || has_input(c, "Max"))
        return op_error(c, KILN_ERR_UNSUPPORTED,
                        "Min/Max tensor inputs (bounds computed at run time); Kiln handles the "
                        "constant 'min'/'max' attributes only");
    KILN_TRY(input(c, "X", true, &x));
    KILN_TRY(output(c, "Out", &out));
    kiln_attrs a = base_attrs(c);
    a.clip_min = kiln_paddle_attr_float(c->op, "min", a.clip_min);
    a.clip_max = kiln_paddle_attr_float(c->op, "max", a.clip_max);
    return add_node(c, KILN_OP_CLIP, 1, &x, out, &a);
}

static kiln_status h_sum(bctx *c) {
    int32_t in[KILN_MAX_IO], out;
    const kiln_paddle_slot *s = kiln_paddle_op_input(c->op, "X");
    if (!s || s->n_args < 1 || s->n_args > KILN_MAX_IO)
        return op_error(c, KILN_ERR_UNSUPPORTED, "sum of %d tensors (Kiln handles 1..%d)",
                        s ? (int)s->n_args : 0, KILN_MAX_IO);
    for (int32_t i = 0; i < s->n_args; i++)
        KILN_TRY(value_of(c, s->args[i], "X", &in[i]));
    KILN_TRY(output(c, "Out", &out));
    kiln_attrs a = base_attrs(c);
    return add_node(c, KILN_OP_SUM, s->n_args, in, out, &a);
}

static kiln_status h_elementwise_add(bctx *c) {
    int32_t in[2];
    KILN_TRY(input(c, "X", true, &in[0]));
    KILN_TRY(input(c, "Y", true, &in[1]));
    kiln_attrs a = base_attrs(c);
    a.axis = kiln_paddle_attr_int(c->op, "axis", -1);
    if (a.axis < -1) return op_error(c, KILN_ERR_FORMAT, "axis = %lld", (long long)a.axis);
    const char *act = kiln_paddle_attr_string(c->op, "fuse_activation", "");
    if (act_none(act)) act = kiln_paddle_attr_string(c->op, "act", "");
    return with_act(c, KILN_OP_ADD, 2, in, "Out", &a, act,
                    kiln_paddle_attr_float(c->op, "fuse_alpha", 0.0f));
}

static kiln_status h_pool2d(bctx *c) {
    int32_t x, out;
    KILN_TRY(input(c, "X", true, &x));
    KILN_TRY(nchw_only(c, "data_format"));
    const char *type = kiln_paddle_attr_string(c->op, "pooling_type", "max");
    bool is_max = strcmp(type, "max") == 0;
    if (!is_max && strcmp(type, "avg") != 0)
        return op_error(c, KILN_ERR_UNSUPPORTED, "pooling_type '%s' (expected max or avg)", type);
    kiln_attrs a = base_attrs(c);
    int64_t ks[2];
    int32_t nks = kiln_paddle_attr_ints(c->op, "ksize", ks, 2);
    bool global = kiln_paddle_attr_bool(c->op, "global_pooling", false);
    if (kiln_paddle_attr_bool(c->op, "adaptive", false) && !global) {
        if (!(nks == 2 && ks[0] == 1 && ks[1] == 1))
            return op_error(c, KILN_ERR_UNSUPPORTED,
                            "adaptive pool2d with output size [%lld,%lld]: Kiln handles adaptive "
                            "pooling to [1,1] (global pooling) only",
                            nks >= 1 ? (long long)ks[0] : -1LL, nks >= 2 ? (long long)ks[1] : -1LL);
        global = true;
    }
    KILN_TRY(output(c, "Out", &out));
    if (global)
        return add_node(c, is_max ? KILN_OP_GLOBAL_MAX_POOL : KILN_OP_GLOBAL_AVG_POOL, 1, &x, out,
                        &a);
    KILN_TRY(pair_attr(c, "ksize", 0, true, a.kernel));
    if (a.kernel[0] <= 0) return op_error(c, KILN_ERR_FORMAT, "attribute 'ksize' is missing");
    KILN_TRY(pair_attr(c, "strides", 1, true, a.strides));
    KILN_TRY(pads_attr(c, &a));
    a.ceil_mode = kiln_paddle_attr_bool(c->op, "ceil_mode", false);
    a.count_include_pad = !kiln_paddle_attr_bool(c->op, "exclusive", true);
    return add_node(c, is_max ? KILN_OP_MAX_POOL : KILN_OP_AVG_POOL, 1, &x, out, &a);
}

static kiln_status h_mul(bctx *c) {
    int32_t x, y, out;
    KILN_TRY(input(c, "X", true, &x));
    KILN_TRY(input(c, "Y", true, &y));
    int64_t xnc = kiln_paddle_attr_int(c->op, "x_num_col_dims", 1);
    int64_t ync = kiln_paddle_attr_int(c->op, "y_num_col_dims", 1);
    if (ync != 1)
        return op_error(c, KILN_ERR_UNSUPPORTED, "y_num_col_dims = %lld (Kiln handles 1)",
                        (long long)ync);
    int32_t xr = c->g->values[x].rank, yr = c->g->values[y].rank;
    if (xnc < 1 || xnc >= xr || yr < 2)
        return op_error(c, KILN_ERR_FORMAT, "x_num_col_dims = %lld with X of rank %d, Y of rank %d",
                        (long long)xnc, (int)xr, (int)yr);
    if (yr > 2) KILN_TRY(flatten2d(c, y, 1, &y));
    if (xr > xnc + 1) {
        if (xnc != 1)
            return op_error(c, KILN_ERR_UNSUPPORTED,
                            "x_num_col_dims = %lld with X of rank %d needs a reshape of the "
                            "result; Kiln handles x_num_col_dims = 1 or rank(X) - 1",
                            (long long)xnc, (int)xr);
        KILN_TRY(flatten2d(c, x, 1, &x));
    }
    KILN_TRY(output(c, "Out", &out));
    kiln_attrs a = base_attrs(c);
    int32_t in[2] = {x, y};
    return add_node(c, KILN_OP_MATMUL, 2, in, out, &a);
}

static kiln_status h_matmul(bctx *c) {
    int32_t in[2], out;
    KILN_TRY(input(c, "X", true, &in[0]));
    KILN_TRY(input(c, "Y", true, &in[1]));
    KILN_TRY(output(c, "Out", &out));
    kiln_attrs a = base_attrs(c);
    bool v2 = strcmp(c->op->type, "matmul_v2") == 0;
    a.trans_a = kiln_paddle_attr_bool(c->op, v2 ? "trans_x" : "transpose_X", false);
    a.trans_b = kiln_paddle_attr_bool(c->op, v2 ? "trans_y" : "transpose_Y", false);
    a.alpha = v2 ? 1.0f : kiln_paddle_attr_float(c->op, "alpha", 1.0f);
    return add_node(c, KILN_OP_MATMUL, 2, in, out, &a);
}

static kiln_status h_fc(bctx *c) {
    int32_t x, w, bias;
    KILN_TRY(input(c, "Input", true, &x));
    KILN_TRY(input(c, "W", true, &w));
    KILN_TRY(input(c, "Bias", false, &bias));
    int64_t k = kiln_paddle_attr_int(c->op, "in_num_col_dims", 1);
    int32_t xr = c->g->values[x].rank;
    if (k < 1 || k >= xr)
        return op_error(c, KILN_ERR_FORMAT, "in_num_col_dims = %lld with Input of rank %d",
                        (long long)k, (int)xr);
    const char *act = kiln_paddle_attr_string(c->op, "activation_type", "");
    kiln_attrs a = base_attrs(c);
    if (k == xr - 1 && xr > 2) { /* batched: matmul [+ add] [+ act] */
        int32_t out, cur, in[2] = {x, w};
        KILN_TRY(output(c, "Out", &out));
        bool last_mm = bias == KILN_NO_VALUE && act_none(act);
        if (last_mm) return add_node(c, KILN_OP_MATMUL, 2, in, out, &a);
        kiln_attrs plain = kiln_attrs_default();
        KILN_TRY(temp_value(c, out, "matmul", 0, NULL, &cur));
        KILN_TRY(add_node(c, KILN_OP_MATMUL, 2, in, cur, &plain));
        if (bias != KILN_NO_VALUE) {
            int32_t add_in[2] = {cur, bias};
            if (act_none(act)) return add_node(c, KILN_OP_ADD, 2, add_in, out, &a);
            KILN_TRY(temp_value(c, out, "pre_act", 0, NULL, &cur));
            KILN_TRY(add_node(c, KILN_OP_ADD, 2, add_in, cur, &plain));
        }
        return activation(c, act, 0.0f, cur, out, a.out_threshold);
    }
    if (xr > 2) KILN_TRY(flatten2d(c, x, k, &x));
    int32_t in[3] = {x, w, bias};
    a.beta = 1.0f;
    return with_act(c, KILN_OP_GEMM, bias == KILN_NO_VALUE ? 2 : 3, in, "Out", &a, act, 0.0f);
}

static kiln_status h_softmax(bctx *c) {
    int32_t x, out;
    KILN_TRY(input(c, "X", true, &x));
    KILN_TRY(output(c, "Out", &out));
    kiln_attrs a = base_attrs(c);
    a.axis = kiln_paddle_attr_int(c->op, "axis", -1);
    a.coerce_2d = false;
    return add_node(c, KILN_OP_SOFTMAX, 1, &x, out, &a);
}

static kiln_status h_scale(bctx *c) {
    int32_t x, out;
    if (has_input(c, "ScaleTensor"))
        return op_error(c, KILN_ERR_UNSUPPORTED,
                        "a ScaleTensor input (a scale computed at run time); Kiln handles the "
                        "constant 'scale' attribute only");
    KILN_TRY(input(c, "X", true, &x));
    KILN_TRY(output(c, "Out", &out));
    kiln_attrs a = base_attrs(c);
    a.alpha = kiln_paddle_attr_float(c->op, "scale", 1.0f);
    a.beta = kiln_paddle_attr_float(c->op, "bias", 0.0f);
    a.bias_after_scale = kiln_paddle_attr_bool(c->op, "bias_after_scale", true);
    return add_node(c, KILN_OP_SCALE, 1, &x, out, &a);
}

static kiln_status h_flatten2(bctx *c) {
    int32_t x, out;
    KILN_TRY(input(c, "X", true, &x));
    KILN_TRY(output(c, "Out", &out));
    kiln_attrs a = base_attrs(c);
    a.axis = kiln_paddle_attr_int(c->op, "axis", 1);
    a.coerce_2d = true;
    return add_node(c, KILN_OP_FLATTEN, 1, &x, out, &a);
}

static kiln_status h_flatten_range(bctx *c) {
    int32_t x, out;
    KILN_TRY(input(c, "X", true, &x));
    KILN_TRY(output(c, "Out", &out));
    kiln_attrs a = base_attrs(c);
    a.axis = kiln_paddle_attr_int(c->op, "start_axis", 1);
    a.axis_end = kiln_paddle_attr_int(c->op, "stop_axis", 1);
    a.coerce_2d = false;
    return add_node(c, KILN_OP_FLATTEN, 1, &x, out, &a);
}

static kiln_status h_reshape2(bctx *c) {
    int32_t x, out;
    if (has_input(c, "Shape") || has_input(c, "ShapeTensor"))
        return op_error(c, KILN_ERR_UNSUPPORTED,
                        "a Shape/ShapeTensor input (a shape computed at run time); Kiln handles "
                        "the constant 'shape' attribute only");
    KILN_TRY(input(c, "X", true, &x));
    KILN_TRY(output(c, "Out", &out));
    kiln_attrs a = base_attrs(c);
    int32_t n = kiln_paddle_attr_ints(c->op, "shape", a.shape, KILN_MAX_RANK);
    if (n < 0) return op_error(c, KILN_ERR_FORMAT, "attribute 'shape' is missing");
    if (n > KILN_MAX_RANK)
        return op_error(c, KILN_ERR_UNSUPPORTED, "target rank %d exceeds %d", (int)n,
                        KILN_MAX_RANK);
    a.shape_rank = n;
    return add_node(c, KILN_OP_RESHAPE, 1, &x, out, &a);
}

static kiln_status h_dropout(bctx *c) {
    int32_t x, out;
    KILN_TRY(input(c, "X", true, &x));
    KILN_TRY(output(c, "Out", &out));
    kiln_attrs a = base_attrs(c);
    const char *impl =
        kiln_paddle_attr_string(c->op, "dropout_implementation", "downgrade_in_infer");
    if (strcmp(impl, "upscale_in_train") == 0) return add_node(c, KILN_OP_IDENTITY, 1, &x, out, &a);
    if (strcmp(impl, "downgrade_in_infer") != 0)
        return op_error(c, KILN_ERR_UNSUPPORTED, "dropout_implementation '%s'", impl);
    a.alpha = 1.0f - kiln_paddle_attr_float(c->op, "dropout_prob", 0.5f);
    a.beta = 0.0f;
    a.bias_after_scale = true;
    return add_node(c, KILN_OP_SCALE, 1, &x, out, &a);
}

static void quant_attrs(bctx *c, kiln_attrs *a) {
    a->bit_length = (int32_t)kiln_paddle_attr_int(c->op, "bit_length", 8);
    a->round_type = (int32_t)kiln_paddle_attr_int(c->op, "round_type", 1);
}

static kiln_status check_bits(bctx *c, int64_t bits) {
    if (bits < 2 || bits > 16)
        return op_error(c, KILN_ERR_UNSUPPORTED, "bit length %lld (Kiln handles 2..16)",
                        (long long)bits);
    return KILN_OK;
}

/* fake_quantize_* and fake_quantize_dequantize_* (per tensor). */
static kiln_status h_fake_quant(bctx *c) {
    int32_t in[2], out;
    KILN_TRY(input(c, "X", true, &in[0]));
    bool abs_max = strstr(c->op->type, "_abs_max") && !strstr(c->op->type, "range") &&
                   !strstr(c->op->type, "moving_average");
    KILN_TRY(input(c, "InScale", !abs_max, &in[1]));
    KILN_TRY(output(c, "Out", &out));
    kiln_attrs a = base_attrs(c);
    quant_attrs(c, &a);
    KILN_TRY(check_bits(c, a.bit_length));
    bool qdq = strncmp(c->op->type, "fake_quantize_dequantize", 24) == 0;
    return add_node(c, qdq ? KILN_OP_FAKE_QUANT_DEQUANT : KILN_OP_FAKE_QUANT,
                    in[1] == KILN_NO_VALUE ? 1 : 2, in, out, &a);
}

static kiln_status h_fake_dequant(bctx *c) {
    int32_t in[2], out;
    KILN_TRY(input(c, "X", true, &in[0]));
    KILN_TRY(input(c, "Scale", true, &in[1]));
    KILN_TRY(output(c, "Out", &out));
    kiln_attrs a = base_attrs(c);
    a.max_range = kiln_paddle_attr_float(c->op, "max_range", 0.0f);
    if (!(a.max_range > 0.0f))
        return op_error(c, KILN_ERR_FORMAT, "max_range %g must be positive", (double)a.max_range);
    return add_node(c, KILN_OP_FAKE_DEQUANT, 2, in, out, &a);
}

static kiln_status h_fake_channel_dequant(bctx *c) {
    int32_t in[3], out;
    KILN_TRY(input(c, "X", true, &in[0]));
    const kiln_paddle_slot *s = kiln_paddle_op_input(c->op, "Scales");
    if (!s || s->n_args < 1 || s->n_args > 2)
        return op_error(c, KILN_ERR_FORMAT, "slot 'Scales' holds %d tensors, expected 1 or 2",
                        s ? (int)s->n_args : 0);
    for (int32_t i = 0; i < s->n_args; i++)
        KILN_TRY(value_of(c, s->args[i], "Scales", &in[1 + i]));
    KILN_TRY(output(c, "Out", &out));
    kiln_attrs a = base_attrs(c);
    a.axis = kiln_paddle_attr_int(c->op, "quant_axis", 0);
    int64_t bits[2] = {8, 8};
    int32_t nb = kiln_paddle_attr_ints(c->op, "quant_bits", bits, 2);
    if (nb < 0) nb = s->n_args;
    if (nb != s->n_args)
        return op_error(c, KILN_ERR_FORMAT, "%d quant_bits for %d Scales tensors", (int)nb,
                        (int)s->n_args);
    a.n_quant_bits = nb;
    for (int32_t i = 0; i < nb; i++) {
        KILN_TRY(check_bits(c, bits[i]));
        a.quant_bits[i] = (int32_t)bits[i];
    }
    return add_node(c, KILN_OP_FAKE_CHANNEL_DEQUANT, 1 + s->n_args, in, out, &a);
}

static kiln_status h_fake_channel_qdq(bctx *c) {
    int32_t x, out;
    KILN_TRY(input(c, "X", true, &x));
    KILN_TRY(output(c, "Out", &out));
    kiln_attrs a = base_attrs(c);
    quant_attrs(c, &a);
    KILN_TRY(check_bits(c, a.bit_length));
    a.axis = kiln_paddle_attr_int(c->op, "quant_axis", 0);
    return add_node(c, KILN_OP_FAKE_CHANNEL_QUANT_DEQUANT, 1, &x, out, &a);
}

static kiln_status io_col(bctx *c, io_ref **arr, int32_t *n, int32_t value) {
    io_ref *q = realloc(*arr, ((size_t)*n + 1) * sizeof *q);
    if (!q) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    *arr = q;
    q[*n].col = kiln_paddle_attr_int(c->op, "col", 0);
    q[*n].value = value;
    (*n)++;
    return KILN_OK;
}

static kiln_status h_feed(bctx *c) {
    int32_t out;
    KILN_TRY(output(c, "Out", &out));
    return io_col(c, &c->feeds, &c->n_feeds, out);
}

static kiln_status h_fetch(bctx *c) {
    int32_t x;
    KILN_TRY(input(c, "X", true, &x));
    return io_col(c, &c->fetches, &c->n_fetches, x);
}

typedef struct handler {
    const char *type;
    kiln_status (*fn)(bctx *c);
} handler;

static const handler handlers[] = {
    {"feed", h_feed},
    {"fetch", h_fetch},
    {"conv2d", h_conv},
    {"depthwise_conv2d", h_conv},
    {"batch_norm", h_batch_norm},
    {"relu", h_relu},
    {"relu6", h_relu6},
    {"clip", h_clip},
    {"sum", h_sum},
    {"elementwise_add", h_elementwise_add},
    {"pool2d", h_pool2d},
    {"mul", h_mul},
    {"matmul", h_matmul},
    {"matmul_v2", h_matmul},
    {"fc", h_fc},
    {"softmax", h_softmax},
    {"scale", h_scale},
    {"flatten", h_flatten2},
    {"flatten2", h_flatten2},
    {"flatten_contiguous_range", h_flatten_range},
    {"reshape", h_reshape2},
    {"reshape2", h_reshape2},
    {"dropout", h_dropout},
    {"fake_quantize_abs_max", h_fake_quant},
    {"fake_quantize_range_abs_max", h_fake_quant},
    {"fake_quantize_moving_average_abs_max", h_fake_quant},
    {"fake_quantize_dequantize_abs_max", h_fake_quant},
    {"fake_quantize_dequantize_moving_average_abs_max", h_fake_quant},
    {"fake_dequantize_max_abs", h_fake_dequant},
    {"fake_channel_wise_dequantize_max_abs", h_fake_channel_dequant},
    {"fake_channel_wise_quantize_dequantize_abs_max", h_fake_channel_qdq},
};

static int cmp_io(const void *a, const void *b) {
    const io_ref *x = a, *y = b;
    if (x->col != y->col) return x->col < y->col ? -1 : 1;
    return x->value < y->value ? -1 : x->value > y->value;
}

static kiln_status build(bctx *c) {
    const kiln_paddle_block *b = c->b;
    for (int32_t i = 0; i < b->n_vars; i++)
        if (nm_get(&c->vars, b->vars[i].name) < 0 && !nm_put(&c->vars, b->vars[i].name, i))
            return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    for (int32_t i = 0; i < c->m->n_params; i++)
        if (!nm_put(&c->params, c->m->params[i].name, i))
            return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    for (int32_t i = 0; i < b->n_ops; i++) {
        c->op_index = i;
        c->op = &b->ops[i];
        const handler *h = NULL;
        for (size_t k = 0; k < sizeof handlers / sizeof handlers[0] && !h; k++)
            if (strcmp(handlers[k].type, c->op->type) == 0) h = &handlers[k];
        if (!h)
            return op_error(c, KILN_ERR_UNSUPPORTED,
                            "Paddle op type '%s' is not supported by Kiln; the supported list is "
                            "in docs/OPS.md",
                            c->op->type);
        KILN_TRY(h->fn(c));
    }
    if (c->n_fetches == 0)
        return kiln_error(KILN_ERR_FORMAT,
                          "%s: the program has no fetch ops, so no outputs; export it with "
                          "save_inference_model",
                          c->path);
    qsort(c->feeds, (size_t)c->n_feeds, sizeof *c->feeds, cmp_io);
    qsort(c->fetches, (size_t)c->n_fetches, sizeof *c->fetches, cmp_io);
    for (int32_t i = 0; i < c->n_feeds; i++)
        KILN_TRY(kiln_graph_add_input(c->g, c->feeds[i].value));
    for (int32_t i = 0; i < c->n_fetches; i++)
        KILN_TRY(kiln_graph_add_output(c->g, c->fetches[i].value));
    char ver[128];
    snprintf(ver, sizeof ver, "paddle ProgramDesc version %lld, %d ops",
             (long long)c->m->program->version, (int)b->n_ops);
    c->g->format = KILN_FORMAT_PADDLE;
    c->g->format_version = strdup(ver);
    c->g->source = strdup(c->m->program_path);
    if (!c->g->format_version || !c->g->source)
        return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    KILN_TRY(kiln_graph_verify(c->g));
    /* Move the param mappings and buffers into the graph. */
    for (int32_t i = 0; i < c->m->n_maps; i++) {
        kiln_status s = kiln_graph_own_mapping(c->g, &c->m->maps[i]);
        if (s != KILN_OK) return s;
        memset(&c->m->maps[i], 0, sizeof c->m->maps[i]);
    }
    for (int32_t i = 0; i < c->m->n_owned; i++) {
        void *p = c->m->owned[i];
        c->m->owned[i] = NULL;
        KILN_TRY(kiln_graph_own(c->g, p));
    }
    return KILN_OK;
}

kiln_status kiln_paddle_model_to_graph(kiln_paddle_model *m, const kiln_logger *logger,
                                       kiln_graph **out) {
    *out = NULL;
    bctx c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.lg = logger;
    c.path = m->program_path;
    c.b = &m->program->blocks[0];
    kiln_status s = kiln_graph_create(&c.g);
    if (s == KILN_OK) s = build(&c);
    if (s != KILN_OK) {
        kiln_graph_destroy(c.g);
        c.g = NULL;
    } else {
        kiln_log(logger, KILN_LOG_INFO, "%s: %s -> %d nodes, %d values", m->program_path,
                 c.g->format_version, (int)c.g->n_nodes, (int)c.g->n_values);
    }
    nm_free(&c.vars);
    nm_free(&c.vals);
    nm_free(&c.params);
    nm_free(&c.versions);
    free(c.feeds);
    free(c.fetches);
    kiln_paddle_model_destroy(m);
    *out = c.g;
    return s;
}
