/*
 * shape.c — per-op shape inference and input validation (kiln_infer_node).
 *
 * For each node: checks input counts, ranks, channel counts, weight shapes and
 * broadcastability, then sets every output's dtype (f32), rank and dims. A -1
 * dim (the unknown batch) propagates as -1 wherever it is involved. Errors are
 * KILN_ERR_SHAPE naming the node, the op, the tensors and their shapes.
 *
 * Non-goals: dtype inference beyond f32, dynamic shapes other than -1 dims,
 * constant folding.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/status.h"
#include "ir/graph.h"

typedef struct shape {
    int32_t rank;
    int64_t d[KILN_MAX_RANK];
} shape;

typedef struct ctx {
    kiln_graph *g;
    const kiln_node *n;
} ctx;

static kiln_status fail(const ctx *c, const char *fmt, ...) KILN_PRINTF(2, 3);
static kiln_status fail(const ctx *c, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return kiln_error(KILN_ERR_SHAPE, "node '%s' (%s): %s", c->n->name, kiln_op_names[c->n->op],
                      msg);
}

/* Shape string of value `id` into buf (for messages). */
static const char *vs(const ctx *c, int32_t id, char *buf, size_t n) {
    const kiln_value *v = &c->g->values[id];
    return kiln_shape_str(v->rank, v->dims, buf, n);
}

static const char *vn(const ctx *c, int32_t id) {
    return c->g->values[id].name;
}

static const kiln_value *in_val(const ctx *c, int k) {
    return &c->g->values[c->n->inputs[k]];
}

static bool has_in(const ctx *c, int k) {
    return k < c->n->n_inputs && c->n->inputs[k] != KILN_NO_VALUE;
}

/* a*b with -1 (unknown) propagation; false on overflow. */
static bool mul_dim(int64_t a, int64_t b, int64_t *out) {
    if (a < 0 || b < 0) {
        *out = -1;
        return true;
    }
    if (a != 0 && b > INT64_MAX / a) return false;
    *out = a * b;
    return true;
}

/* Product of d[lo..hi) (-1 if any unknown); false on overflow. */
static bool prod_range(const int64_t *d, int32_t lo, int32_t hi, int64_t *out) {
    int64_t p = 1;
    bool unknown = false;
    for (int32_t i = lo; i < hi; i++) {
        if (d[i] < 0) {
            unknown = true;
            continue;
        }
        if (!mul_dim(p, d[i], &p)) return false;
    }
    *out = unknown ? -1 : p;
    return true;
}

/* Checks the input count, that required inputs are present, and that there is one output. */
static kiln_status check_io(const ctx *c, int min_in, int max_in) {
    const kiln_node *n = c->n;
    if (n->n_inputs < min_in || n->n_inputs > max_in) {
        if (min_in == max_in)
            return fail(c, "expects %d input(s), got %d", min_in, (int)n->n_inputs);
        return fail(c, "expects %d to %d inputs, got %d", min_in, max_in, (int)n->n_inputs);
    }
    for (int k = 0; k < min_in; k++)
        if (n->inputs[k] == KILN_NO_VALUE) return fail(c, "required input %d is missing", k);
    if (n->n_outputs != 1) return fail(c, "expects 1 output, got %d", (int)n->n_outputs);
    return KILN_OK;
}

static kiln_status check_rank(const ctx *c, int k, int32_t lo, int32_t hi, const char *what) {
    const kiln_value *v = in_val(c, k);
    if (v->rank < lo || v->rank > hi) {
        char b[160];
        if (lo == hi)
            return fail(c, "%s '%s' has shape %s: expected rank %d", what, v->name,
                        vs(c, c->n->inputs[k], b, sizeof b), (int)lo);
        return fail(c, "%s '%s' has shape %s: expected rank %d to %d", what, v->name,
                    vs(c, c->n->inputs[k], b, sizeof b), (int)lo, (int)hi);
    }
    return KILN_OK;
}

/* Input k must hold exactly `count` elements (known dims). */
static kiln_status check_numel(const ctx *c, int k, int64_t count, const char *what) {
    const kiln_value *v = in_val(c, k);
    int64_t ne = kiln_numel(v->rank, v->dims);
    if (ne != count) {
        char b[160];
        return fail(c, "%s '%s' has shape %s (%lld elements): expected %lld element(s)", what,
                    v->name, vs(c, c->n->inputs[k], b, sizeof b), (long long)ne, (long long)count);
    }
    return KILN_OK;
}

static shape shape_of(const kiln_value *v) {
    shape s;
    s.rank = v->rank;
    for (int32_t i = 0; i < KILN_MAX_RANK; i++)
        s.d[i] = i < v->rank ? v->dims[i] : 0;
    return s;
}

static kiln_status set_out(const ctx *c, const shape *s) {
    kiln_value *v = &c->g->values[c->n->outputs[0]];
    if (v->data)
        return fail(c, "output '%s' is a constant (has data); outputs must be activations",
                    v->name);
    v->dtype = KILN_DT_F32;
    v->rank = s->rank;
    for (int32_t i = 0; i < KILN_MAX_RANK; i++)
        v->dims[i] = i < s->rank ? s->d[i] : 0;
    return KILN_OK;
}

/* Numpy broadcast of two dims; -1 is unknown (assumed compatible). */
static bool bcast_dim(int64_t a, int64_t b, int64_t *out) {
    if (a == b)
        *out = a;
    else if (a == 1)
        *out = b;
    else if (b == 1)
        *out = a;
    else if (a < 0)
        *out = b;
    else if (b < 0)
        *out = a;
    else
        return false;
    return true;
}

/* Numpy broadcast of s with value `id` into s; error names both tensors. */
static kiln_status bcast_into(const ctx *c, shape *s, int32_t id, const char *prev_name) {
    const kiln_value *v = &c->g->values[id];
    shape r;
    r.rank = s->rank > v->rank ? s->rank : v->rank;
    for (int32_t i = 0; i < r.rank; i++) {
        int32_t ia = i - (r.rank - s->rank), ib = i - (r.rank - v->rank);
        int64_t a = ia >= 0 ? s->d[ia] : 1, b = ib >= 0 ? v->dims[ib] : 1;
        if (!bcast_dim(a, b, &r.d[i])) {
            char b1[160], b2[160];
            return fail(c, "'%s' %s and '%s' %s are not broadcastable (dim %d: %lld vs %lld)",
                        prev_name, kiln_shape_str(s->rank, s->d, b1, sizeof b1), v->name,
                        vs(c, id, b2, sizeof b2), (int)i, (long long)a, (long long)b);
        }
    }
    *s = r;
    return KILN_OK;
}

static kiln_status check_window_attrs(const ctx *c, bool with_kernel) {
    const kiln_attrs *a = &c->n->attrs;
    const int64_t lim = (int64_t)1 << 20;
    for (int i = 0; i < 2; i++) {
        if (with_kernel && (a->kernel[i] < 1 || a->kernel[i] > lim))
            return fail(c, "kernel [%lld,%lld] must lie in [1, 2^20]", (long long)a->kernel[0],
                        (long long)a->kernel[1]);
        if (a->strides[i] < 1 || a->strides[i] > lim)
            return fail(c, "strides [%lld,%lld] must lie in [1, 2^20]", (long long)a->strides[0],
                        (long long)a->strides[1]);
        if (a->dilations[i] < 1 || a->dilations[i] > lim)
            return fail(c, "dilations [%lld,%lld] must lie in [1, 2^20]",
                        (long long)a->dilations[0], (long long)a->dilations[1]);
    }
    for (int i = 0; i < 4; i++)
        if (a->pads[i] < 0 || a->pads[i] > lim)
            return fail(c, "pads [%lld,%lld,%lld,%lld] must lie in [0, 2^20]",
                        (long long)a->pads[0], (long long)a->pads[1], (long long)a->pads[2],
                        (long long)a->pads[3]);
    if ((unsigned)a->auto_pad >= KILN_PAD_COUNT)
        return fail(c, "auto_pad %d is not a kiln_auto_pad", (int)a->auto_pad);
    return KILN_OK;
}

/* Output size of one spatial dim of a sliding window (conv or pool). `in` is
 * the input size (-1 unknown), k the kernel, s stride, d dilation, pb/pe the
 * explicit pads. Returns -1 for unknown, -2 when the window does not fit. */
static int64_t window_out(const kiln_attrs *a, int64_t in, int64_t k, int64_t s, int64_t d,
                          int64_t pb, int64_t pe, bool ceil_mode) {
    if (in < 0) return -1;
    if (in > ((int64_t)1 << 40)) return -2; /* absurd sizes would overflow below */
    int64_t ek = d * (k - 1) + 1;
    if (a->auto_pad == KILN_PAD_SAME_UPPER || a->auto_pad == KILN_PAD_SAME_LOWER)
        return in < 1 ? -2 : (in + s - 1) / s;
    if (a->auto_pad == KILN_PAD_VALID) pb = pe = 0;
    int64_t span = in + pb + pe - ek;
    if (span < 0) return -2;
    if (!ceil_mode) return span / s + 1;
    int64_t out = (span + s - 1) / s + 1;
    /* ONNX/Paddle: drop the last window if it starts inside the end padding. */
    if ((out - 1) * s >= in + pb) out--;
    return out;
}

static kiln_status infer_conv(const ctx *c) {
    KILN_TRY(check_io(c, 2, 4));
    KILN_TRY(check_rank(c, 0, 4, 4, "input X"));
    KILN_TRY(check_rank(c, 1, 4, 4, "weight W"));
    KILN_TRY(check_window_attrs(c, false));
    const kiln_attrs *a = &c->n->attrs;
    const kiln_value *x = in_val(c, 0), *w = in_val(c, 1);
    char b1[160], b2[160];
    for (int i = 0; i < 4; i++)
        if (w->dims[i] < 1 || (i >= 2 && w->dims[i] > ((int64_t)1 << 20)))
            return fail(c,
                        "weight '%s' has shape %s: every dim must be known and >= 1 "
                        "(kernel dims <= 2^20)",
                        w->name, vs(c, c->n->inputs[1], b1, sizeof b1));
    int64_t grp = a->group, m = w->dims[0], cin = x->dims[1];
    if (grp < 1) return fail(c, "group %lld must be >= 1", (long long)grp);
    if (m % grp != 0)
        return fail(c, "weight '%s' %s: output channels %lld not divisible by group %lld", w->name,
                    vs(c, c->n->inputs[1], b1, sizeof b1), (long long)m, (long long)grp);
    if (cin >= 0 && (cin % grp != 0 || cin / grp != w->dims[1]))
        return fail(c,
                    "input '%s' %s has %lld channels but weight '%s' %s expects %lld x "
                    "group %lld (W is [M, C/group, kh, kw])",
                    x->name, vs(c, c->n->inputs[0], b1, sizeof b1), (long long)cin, w->name,
                    vs(c, c->n->inputs[1], b2, sizeof b2), (long long)w->dims[1], (long long)grp);
    if (has_in(c, 2)) {
        const kiln_value *b = in_val(c, 2);
        if (b->rank != 1 || b->dims[0] != m)
            return fail(c, "bias '%s' has shape %s: expected [%lld]", b->name,
                        vs(c, c->n->inputs[2], b1, sizeof b1), (long long)m);
    }
    shape s = {4, {x->dims[0], m, 0, 0}};
    for (int i = 0; i < 2; i++) {
        int64_t o = window_out(a, x->dims[2 + i], w->dims[2 + i], a->strides[i], a->dilations[i],
                               a->pads[i], a->pads[2 + i], false);
        if (o == -2 || o == 0)
            return fail(c,
                        "input '%s' %s is smaller than the dilated kernel %lldx%lld (pads "
                        "[%lld,%lld,%lld,%lld], dilations [%lld,%lld])",
                        x->name, vs(c, c->n->inputs[0], b1, sizeof b1), (long long)w->dims[2],
                        (long long)w->dims[3], (long long)a->pads[0], (long long)a->pads[1],
                        (long long)a->pads[2], (long long)a->pads[3], (long long)a->dilations[0],
                        (long long)a->dilations[1]);
        s.d[2 + i] = o;
    }
    if (has_in(c, 3)) { /* fused residual: exactly the output's shape */
        const kiln_value *r = in_val(c, 3);
        bool ok = r->rank == 4;
        for (int i = 0; ok && i < 4; i++)
            ok = r->dims[i] == s.d[i] || r->dims[i] < 0 || s.d[i] < 0;
        if (!ok)
            return fail(c, "residual '%s' has shape %s but the conv output is %s", r->name,
                        vs(c, c->n->inputs[3], b1, sizeof b1),
                        kiln_shape_str(4, s.d, b2, sizeof b2));
    }
    return set_out(c, &s);
}

static kiln_status infer_pool(const ctx *c) {
    KILN_TRY(check_io(c, 1, 1));
    KILN_TRY(check_rank(c, 0, 4, 4, "input X"));
    KILN_TRY(check_window_attrs(c, true));
    const kiln_attrs *a = &c->n->attrs;
    const kiln_value *x = in_val(c, 0);
    shape s = shape_of(x);
    for (int i = 0; i < 2; i++) {
        int64_t o = window_out(a, x->dims[2 + i], a->kernel[i], a->strides[i], a->dilations[i],
                               a->pads[i], a->pads[2 + i], a->ceil_mode);
        if (o == -2 || o == 0) {
            char b1[160];
            return fail(c,
                        "input '%s' %s is smaller than the kernel %lldx%lld (pads "
                        "[%lld,%lld,%lld,%lld])",
                        x->name, vs(c, c->n->inputs[0], b1, sizeof b1), (long long)a->kernel[0],
                        (long long)a->kernel[1], (long long)a->pads[0], (long long)a->pads[1],
                        (long long)a->pads[2], (long long)a->pads[3]);
        }
        s.d[2 + i] = o;
    }
    return set_out(c, &s);
}

static kiln_status infer_global_pool(const ctx *c) {
    KILN_TRY(check_io(c, 1, 1));
    KILN_TRY(check_rank(c, 0, 3, KILN_MAX_RANK, "input X"));
    shape s = shape_of(in_val(c, 0));
    for (int32_t i = 2; i < s.rank; i++)
        s.d[i] = 1;
    return set_out(c, &s);
}

static kiln_status infer_unary(const ctx *c) {
    KILN_TRY(check_io(c, 1, 1));
    shape s = shape_of(in_val(c, 0));
    return set_out(c, &s);
}

static kiln_status infer_add(const ctx *c) {
    KILN_TRY(check_io(c, 2, 2));
    const kiln_value *A = in_val(c, 0), *B = in_val(c, 1);
    int64_t axis = c->n->attrs.axis;
    shape s = shape_of(A);
    if (axis < 0) {
        KILN_TRY(bcast_into(c, &s, c->n->inputs[1], A->name));
        return set_out(c, &s);
    }
    /* Paddle: B without trailing 1s aligns with A's dims from `axis`. */
    int32_t rb = B->rank;
    while (rb > 0 && B->dims[rb - 1] == 1)
        rb--;
    char b1[160], b2[160];
    if (axis > A->rank || axis + rb > A->rank)
        return fail(c, "'%s' %s does not fit into '%s' %s at axis %lld", B->name,
                    vs(c, c->n->inputs[1], b1, sizeof b1), A->name,
                    vs(c, c->n->inputs[0], b2, sizeof b2), (long long)axis);
    for (int32_t i = 0; i < rb; i++) {
        int64_t da = A->dims[axis + i], db = B->dims[i];
        if (!(db == da || db == 1 || da < 0 || db < 0))
            return fail(c,
                        "'%s' %s does not broadcast into '%s' %s at axis %lld (dim %d: %lld "
                        "vs %lld)",
                        B->name, vs(c, c->n->inputs[1], b1, sizeof b1), A->name,
                        vs(c, c->n->inputs[0], b2, sizeof b2), (long long)axis, (int)(axis + i),
                        (long long)da, (long long)db);
    }
    return set_out(c, &s);
}

static kiln_status infer_sum(const ctx *c) {
    KILN_TRY(check_io(c, 1, KILN_MAX_IO));
    for (int k = 1; k < c->n->n_inputs; k++)
        if (c->n->inputs[k] == KILN_NO_VALUE) return fail(c, "input %d is missing", k);
    shape s = shape_of(in_val(c, 0));
    for (int k = 1; k < c->n->n_inputs; k++) {
        char names[64];
        snprintf(names, sizeof names, "%s%s", vn(c, c->n->inputs[0]),
                 k > 1 ? " (broadcast so far)" : "");
        KILN_TRY(bcast_into(c, &s, c->n->inputs[k], names));
    }
    return set_out(c, &s);
}

static kiln_status infer_matmul(const ctx *c) {
    KILN_TRY(check_io(c, 2, 2));
    const kiln_value *A = in_val(c, 0), *B = in_val(c, 1);
    const kiln_attrs *at = &c->n->attrs;
    char b1[160], b2[160];
    if (A->rank < 1 || B->rank < 1)
        return fail(c, "'%s' %s and '%s' %s: matmul needs rank >= 1", A->name,
                    vs(c, c->n->inputs[0], b1, sizeof b1), B->name,
                    vs(c, c->n->inputs[1], b2, sizeof b2));
    /* Promote 1-D operands: A [K] -> [1,K], B [K] -> [K,1] (transposes ignored). */
    int64_t am, ak, bk, bn;
    if (A->rank == 1)
        am = 1, ak = A->dims[0];
    else if (at->trans_a)
        am = A->dims[A->rank - 1], ak = A->dims[A->rank - 2];
    else
        am = A->dims[A->rank - 2], ak = A->dims[A->rank - 1];
    if (B->rank == 1)
        bk = B->dims[0], bn = 1;
    else if (at->trans_b)
        bk = B->dims[B->rank - 1], bn = B->dims[B->rank - 2];
    else
        bk = B->dims[B->rank - 2], bn = B->dims[B->rank - 1];
    if (ak >= 0 && bk >= 0 && ak != bk)
        return fail(c,
                    "inner dims differ: '%s' %s (trans_a %d) gives K=%lld, '%s' %s (trans_b "
                    "%d) gives K=%lld",
                    A->name, vs(c, c->n->inputs[0], b1, sizeof b1), (int)at->trans_a, (long long)ak,
                    B->name, vs(c, c->n->inputs[1], b2, sizeof b2), (int)at->trans_b,
                    (long long)bk);
    int32_t ra = A->rank > 2 ? A->rank - 2 : 0, rb = B->rank > 2 ? B->rank - 2 : 0;
    shape s;
    s.rank = ra > rb ? ra : rb;
    for (int32_t i = 0; i < s.rank; i++) {
        int32_t ia = i - (s.rank - ra), ib = i - (s.rank - rb);
        int64_t da = ia >= 0 ? A->dims[ia] : 1, db = ib >= 0 ? B->dims[ib] : 1;
        if (!bcast_dim(da, db, &s.d[i]))
            return fail(c, "batch dims of '%s' %s and '%s' %s are not broadcastable", A->name,
                        vs(c, c->n->inputs[0], b1, sizeof b1), B->name,
                        vs(c, c->n->inputs[1], b2, sizeof b2));
    }
    if (A->rank > 1) s.d[s.rank++] = am;
    if (B->rank > 1) s.d[s.rank++] = bn;
    return set_out(c, &s);
}

static kiln_status infer_gemm(const ctx *c) {
    KILN_TRY(check_io(c, 2, 3));
    KILN_TRY(check_rank(c, 0, 2, 2, "input A"));
    KILN_TRY(check_rank(c, 1, 2, 2, "input B"));
    const kiln_value *A = in_val(c, 0), *B = in_val(c, 1);
    const kiln_attrs *at = &c->n->attrs;
    char b1[160], b2[160];
    int64_t m = at->trans_a ? A->dims[1] : A->dims[0], ka = at->trans_a ? A->dims[0] : A->dims[1];
    int64_t kb = at->trans_b ? B->dims[1] : B->dims[0], n = at->trans_b ? B->dims[0] : B->dims[1];
    if (ka >= 0 && kb >= 0 && ka != kb)
        return fail(c, "inner dims differ: '%s' %s (trans_a %d) vs '%s' %s (trans_b %d)", A->name,
                    vs(c, c->n->inputs[0], b1, sizeof b1), (int)at->trans_a, B->name,
                    vs(c, c->n->inputs[1], b2, sizeof b2), (int)at->trans_b);
    shape s = {2, {m, n}};
    if (has_in(c, 2)) {
        const kiln_value *C = in_val(c, 2);
        bool ok = C->rank <= 2;
        for (int32_t i = 0; ok && i < C->rank; i++) {
            int64_t want = s.d[2 - C->rank + i], d = C->dims[i];
            ok = d == 1 || d == want || d < 0 || want < 0;
        }
        if (!ok)
            return fail(c, "bias '%s' %s does not broadcast to [M,N] = %s", C->name,
                        vs(c, c->n->inputs[2], b1, sizeof b1),
                        kiln_shape_str(2, s.d, b2, sizeof b2));
    }
    return set_out(c, &s);
}

/* Normalises axis into [0, limit) (negative counts from rank); false if out of range. */
static bool norm_axis(int64_t axis, int32_t rank, int32_t limit, int64_t *out) {
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= limit) return false;
    *out = axis;
    return true;
}

static kiln_status infer_softmax(const ctx *c) {
    KILN_TRY(check_io(c, 1, 1));
    const kiln_value *x = in_val(c, 0);
    int64_t ax;
    if (x->rank < 1 || !norm_axis(c->n->attrs.axis, x->rank, x->rank, &ax)) {
        char b1[160];
        return fail(c, "axis %lld is out of range for '%s' %s", (long long)c->n->attrs.axis,
                    x->name, vs(c, c->n->inputs[0], b1, sizeof b1));
    }
    shape s = shape_of(x);
    return set_out(c, &s);
}

static kiln_status infer_flatten(const ctx *c) {
    KILN_TRY(check_io(c, 1, 1));
    const kiln_value *x = in_val(c, 0);
    const kiln_attrs *a = &c->n->attrs;
    char b1[160];
    shape s;
    if (a->coerce_2d) {
        int64_t ax;
        if (!norm_axis(a->axis, x->rank, x->rank + 1, &ax))
            return fail(c, "axis %lld is out of range for '%s' %s", (long long)a->axis, x->name,
                        vs(c, c->n->inputs[0], b1, sizeof b1));
        s.rank = 2;
        if (!prod_range(x->dims, 0, (int32_t)ax, &s.d[0]) ||
            !prod_range(x->dims, (int32_t)ax, x->rank, &s.d[1]))
            return fail(c, "element count of '%s' overflows", x->name);
        return set_out(c, &s);
    }
    int64_t lo, hi;
    if (x->rank < 1 || !norm_axis(a->axis, x->rank, x->rank, &lo) ||
        !norm_axis(a->axis_end, x->rank, x->rank, &hi) || hi < lo)
        return fail(c, "axes %lld..%lld are out of range for '%s' %s", (long long)a->axis,
                    (long long)a->axis_end, x->name, vs(c, c->n->inputs[0], b1, sizeof b1));
    s.rank = 0;
    for (int32_t i = 0; i < lo; i++)
        s.d[s.rank++] = x->dims[i];
    if (!prod_range(x->dims, (int32_t)lo, (int32_t)hi + 1, &s.d[s.rank++]))
        return fail(c, "element count of '%s' overflows", x->name);
    for (int32_t i = (int32_t)hi + 1; i < x->rank; i++)
        s.d[s.rank++] = x->dims[i];
    return set_out(c, &s);
}

static kiln_status infer_reshape(const ctx *c) {
    KILN_TRY(check_io(c, 1, 1));
    const kiln_value *x = in_val(c, 0);
    const kiln_attrs *a = &c->n->attrs;
    char b1[160], b2[160];
    if (a->shape_rank < 0 || a->shape_rank > KILN_MAX_RANK)
        return fail(c, "target rank %d is out of range [0, %d]", (int)a->shape_rank, KILN_MAX_RANK);
    shape s;
    s.rank = a->shape_rank;
    const char *tgt = kiln_shape_str(a->shape_rank, a->shape, b2, sizeof b2);
    int32_t neg = -1;
    bool copied_unknown[KILN_MAX_RANK] = {false}; /* out dim j is a copy of an unknown in dim */
    bool in_unknown_copied[KILN_MAX_RANK] = {false};
    for (int32_t j = 0; j < s.rank; j++) {
        int64_t t = a->shape[j];
        if (t == -1) {
            if (neg >= 0)
                return fail(c, "target shape %s has more than one -1 (input '%s' %s)", tgt, x->name,
                            vs(c, c->n->inputs[0], b1, sizeof b1));
            neg = j;
            s.d[j] = -1;
        } else if (t == 0) {
            if (j >= x->rank)
                return fail(c, "target shape %s copies dim %d (0) but input '%s' is %s", tgt,
                            (int)j, x->name, vs(c, c->n->inputs[0], b1, sizeof b1));
            s.d[j] = x->dims[j];
            if (x->dims[j] < 0) copied_unknown[j] = in_unknown_copied[j] = true;
        } else if (t < 0) {
            return fail(c, "target shape %s has invalid dim %lld (input '%s' %s)", tgt,
                        (long long)t, x->name, vs(c, c->n->inputs[0], b1, sizeof b1));
        } else {
            s.d[j] = t;
        }
    }
    /* Known products, leaving out unknown input dims that are copied to the output. */
    bool uncopied_unknown = false;
    int64_t in_known = 1, out_known = 1;
    for (int32_t i = 0; i < x->rank; i++) {
        if (x->dims[i] < 0) {
            if (!in_unknown_copied[i]) uncopied_unknown = true;
            continue;
        }
        if (!mul_dim(in_known, x->dims[i], &in_known))
            return fail(c, "element count of '%s' overflows", x->name);
    }
    for (int32_t j = 0; j < s.rank; j++) {
        if (j == neg || copied_unknown[j]) continue;
        if (!mul_dim(out_known, s.d[j], &out_known))
            return fail(c, "element count of target shape %s overflows", tgt);
    }
    if (uncopied_unknown) {
        /* The -1 absorbs the unknown batch; without a -1 nothing can be checked yet. */
        return set_out(c, &s);
    }
    if (neg >= 0) {
        if (out_known == 0 || in_known % out_known != 0)
            return fail(c, "cannot reshape '%s' %s to %s: %lld elements do not divide by %lld",
                        x->name, vs(c, c->n->inputs[0], b1, sizeof b1), tgt, (long long)in_known,
                        (long long)out_known);
        s.d[neg] = in_known / out_known;
    } else if (in_known != out_known) {
        return fail(c, "cannot reshape '%s' %s (%lld elements) to %s (%lld elements)", x->name,
                    vs(c, c->n->inputs[0], b1, sizeof b1), (long long)in_known, tgt,
                    (long long)out_known);
    }
    return set_out(c, &s);
}

static kiln_status infer_batch_norm(const ctx *c) {
    KILN_TRY(check_io(c, 5, 5));
    KILN_TRY(check_rank(c, 0, 2, KILN_MAX_RANK, "input X"));
    const kiln_value *x = in_val(c, 0);
    static const char *const what[5] = {"", "scale", "bias", "mean", "variance"};
    if (x->dims[1] < 0) {
        char b1[160];
        return fail(c, "input '%s' %s: channel dim must be known", x->name,
                    vs(c, c->n->inputs[0], b1, sizeof b1));
    }
    for (int k = 1; k < 5; k++)
        KILN_TRY(check_numel(c, k, x->dims[1], what[k]));
    if (!(c->n->attrs.epsilon >= 0.0f))
        return fail(c, "epsilon %g must be >= 0", (double)c->n->attrs.epsilon);
    shape s = shape_of(x);
    return set_out(c, &s);
}

static kiln_status check_bits(const ctx *c, int32_t bits) {
    if (bits < 2 || bits > 30) return fail(c, "bit length %d must lie in [2, 30]", (int)bits);
    return KILN_OK;
}

static kiln_status infer_fake_quant(const ctx *c, bool scale_required) {
    const kiln_attrs *a = &c->n->attrs;
    KILN_TRY(check_io(c, scale_required ? 2 : 1, 2));
    if (has_in(c, 1)) KILN_TRY(check_numel(c, 1, 1, "scale"));
    if (c->n->op == KILN_OP_FAKE_DEQUANT) {
        if (!(a->max_range > 0.0f))
            return fail(c, "max_range %g must be > 0", (double)a->max_range);
    } else {
        KILN_TRY(check_bits(c, a->bit_length));
    }
    if (a->round_type != 0 && a->round_type != 1)
        return fail(c, "round_type %d must be 0 (half to even) or 1 (half away from zero)",
                    (int)a->round_type);
    shape s = shape_of(in_val(c, 0));
    return set_out(c, &s);
}

static kiln_status infer_channel_dequant(const ctx *c) {
    KILN_TRY(check_io(c, 2, 3));
    const kiln_attrs *a = &c->n->attrs;
    const kiln_value *x = in_val(c, 0);
    char b1[160];
    if (a->n_quant_bits < 0 || a->n_quant_bits > 2)
        return fail(c, "%d quant_bits: expected 0 to 2", (int)a->n_quant_bits);
    for (int i = 0; i < a->n_quant_bits; i++)
        KILN_TRY(check_bits(c, a->quant_bits[i]));
    if (a->n_quant_bits == 0) KILN_TRY(check_bits(c, a->bit_length));
    int64_t ax;
    if (has_in(c, 2)) {
        /* Two scales: channel on axis 1 (Paddle ignores quant_axis), second scale [1]. */
        ax = 1;
        KILN_TRY(check_numel(c, 2, 1, "second scale"));
    } else if (!norm_axis(a->axis, x->rank, x->rank, &ax)) {
        return fail(c, "quant_axis %lld is out of range for '%s' %s", (long long)a->axis, x->name,
                    vs(c, c->n->inputs[0], b1, sizeof b1));
    }
    if (ax >= x->rank || x->dims[ax] < 0)
        return fail(c, "input '%s' %s: channel axis %lld must exist and be known", x->name,
                    vs(c, c->n->inputs[0], b1, sizeof b1), (long long)ax);
    KILN_TRY(check_numel(c, 1, x->dims[ax], "channel scales"));
    shape s = shape_of(x);
    return set_out(c, &s);
}

static kiln_status infer_channel_qdq(const ctx *c) {
    KILN_TRY(check_io(c, 1, 1));
    const kiln_attrs *a = &c->n->attrs;
    const kiln_value *x = in_val(c, 0);
    int64_t ax;
    if (!norm_axis(a->axis, x->rank, x->rank, &ax)) {
        char b1[160];
        return fail(c, "quant_axis %lld is out of range for '%s' %s", (long long)a->axis, x->name,
                    vs(c, c->n->inputs[0], b1, sizeof b1));
    }
    KILN_TRY(check_bits(c, a->bit_length));
    if (a->round_type != 0 && a->round_type != 1)
        return fail(c, "round_type %d must be 0 or 1", (int)a->round_type);
    shape s = shape_of(x);
    return set_out(c, &s);
}

kiln_status kiln_infer_node(kiln_graph *g, int32_t id) {
    if (id < 0 || id >= g->n_nodes)
        return kiln_error(KILN_ERR_INTERNAL, "shape inference: node id %d out of range", (int)id);
    ctx c = {g, &g->nodes[id]};
    const kiln_node *n = c.n;
    if ((unsigned)n->op >= KILN_OP_COUNT)
        return kiln_error(KILN_ERR_INTERNAL, "node '%s': op %d out of range", n->name, (int)n->op);
    for (int32_t k = 0; k < n->n_inputs; k++)
        if (n->inputs[k] < KILN_NO_VALUE || n->inputs[k] >= g->n_values)
            return fail(&c, "input id %d out of range", (int)n->inputs[k]);
    for (int32_t k = 0; k < n->n_outputs; k++)
        if (n->outputs[k] < 0 || n->outputs[k] >= g->n_values)
            return fail(&c, "output id %d out of range", (int)n->outputs[k]);
    /* Constant inputs: their bytes must match their shape and dtype. */
    for (int32_t k = 0; k < n->n_inputs; k++) {
        if (n->inputs[k] == KILN_NO_VALUE) continue;
        const kiln_value *v = &g->values[n->inputs[k]];
        if (!v->data) continue;
        int64_t ne = kiln_numel(v->rank, v->dims);
        size_t es = kiln_dtype_size(v->dtype);
        if (ne < 0 || es == 0 || (uint64_t)ne > SIZE_MAX / es || (size_t)ne * es != v->nbytes) {
            char b1[160];
            return fail(&c, "constant '%s' %s (%s) holds %zu bytes, which does not match its shape",
                        v->name, vs(&c, n->inputs[k], b1, sizeof b1),
                        (unsigned)v->dtype < KILN_DT_COUNT ? kiln_dtype_names[v->dtype] : "?",
                        v->nbytes);
        }
    }
    /* Fused activation: only conv, gemm and add apply one. */
    if ((unsigned)n->attrs.act >= KILN_ACT_COUNT)
        return fail(&c, "fused activation %d is not a kiln_act", (int)n->attrs.act);
    if (n->attrs.act != KILN_ACT_NONE && n->op != KILN_OP_CONV && n->op != KILN_OP_GEMM &&
        n->op != KILN_OP_ADD)
        return fail(&c, "a fused activation is only defined for conv, gemm and add");
    switch (n->op) {
    case KILN_OP_CONV: return infer_conv(&c);
    case KILN_OP_BATCH_NORM: return infer_batch_norm(&c);
    case KILN_OP_RELU:
    case KILN_OP_CLIP:
    case KILN_OP_SCALE:
    case KILN_OP_IDENTITY: return infer_unary(&c);
    case KILN_OP_ADD: return infer_add(&c);
    case KILN_OP_SUM: return infer_sum(&c);
    case KILN_OP_MAX_POOL:
    case KILN_OP_AVG_POOL: return infer_pool(&c);
    case KILN_OP_GLOBAL_AVG_POOL:
    case KILN_OP_GLOBAL_MAX_POOL: return infer_global_pool(&c);
    case KILN_OP_MATMUL: return infer_matmul(&c);
    case KILN_OP_GEMM: return infer_gemm(&c);
    case KILN_OP_SOFTMAX: return infer_softmax(&c);
    case KILN_OP_FLATTEN: return infer_flatten(&c);
    case KILN_OP_RESHAPE: return infer_reshape(&c);
    case KILN_OP_FAKE_QUANT:
    case KILN_OP_FAKE_QUANT_DEQUANT: return infer_fake_quant(&c, false);
    case KILN_OP_FAKE_DEQUANT: return infer_fake_quant(&c, true);
    case KILN_OP_FAKE_CHANNEL_DEQUANT: return infer_channel_dequant(&c);
    case KILN_OP_FAKE_CHANNEL_QUANT_DEQUANT: return infer_channel_qdq(&c);
    case KILN_OP_COUNT: break;
    }
    return fail(&c, "no shape rule for this op");
}
