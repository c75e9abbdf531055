/*
 * test_ref_ops.c — every reference-backend op on small odd shapes against
 * independent expectations: conv through an explicit im2col + matmul, pooling
 * through clipped window ranges, matmul through per-element index maths, and
 * hand-computed literal cases (incl. fake-quant half-way rounding for both
 * round types). Also runs at a batch below the built batch.
 *
 * Tolerances: computed cases rel err <= 1e-6 (both sides accumulate in
 * double, results are float); literal cases abs err <= 1e-6 (exact where the
 * value is an integer or a quantized level).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/status.h"
#include "ir/graph.h"
#include "test_util.h"

#define D(...)                                                                                     \
    (const int64_t[]) {                                                                            \
        __VA_ARGS__                                                                                \
    }
#define REL_TOL 1e-6
#define ABS_TOL 1e-6

/* ---- graph building and running ---------------------------------------- */

typedef struct tcase {
    kiln_graph *g;
    int n_in;
    int32_t in_id[KILN_MAX_IO];
    const float *in_data[KILN_MAX_IO];
} tcase;

static void tc_init(tcase *t) {
    memset(t, 0, sizeof *t);
    KT_OK(kiln_graph_create(&t->g));
}

static int64_t numel(int32_t rank, const int64_t *d) {
    int64_t n = 1;
    for (int32_t i = 0; i < rank; i++)
        n *= d[i];
    return n;
}

/* A graph input (activation) with data to write before each run. */
static int32_t act(tcase *t, const char *name, int32_t rank, const int64_t *d, const float *data) {
    int32_t id = -1;
    KT_OK(kiln_graph_add_value(t->g, name, KILN_DT_F32, rank, d, &id));
    KT_OK(kiln_graph_add_input(t->g, id));
    t->in_id[t->n_in] = id;
    t->in_data[t->n_in++] = data;
    return id;
}

/* A constant holding a graph-owned copy of data. */
static int32_t cst(tcase *t, const char *name, int32_t rank, const int64_t *d, const float *data) {
    int32_t id = -1;
    KT_OK(kiln_graph_add_value(t->g, name, KILN_DT_F32, rank, d, &id));
    size_t nb = (size_t)numel(rank, d) * sizeof(float);
    float *p = kiln_graph_alloc(t->g, nb);
    memcpy(p, data, nb);
    kiln_graph_set_const(t->g, id, p, nb);
    return id;
}

/* Adds node `name` over ins (KILN_NO_VALUE allowed) and returns its new output value. */
static int32_t node(tcase *t, kiln_op op, const char *name, int n, const int32_t *ins,
                    const kiln_attrs *a) {
    int32_t o = -1;
    char oname[64];
    snprintf(oname, sizeof oname, "%s_out", name);
    KT_OK(kiln_graph_add_value(t->g, oname, KILN_DT_F32, 0, NULL, &o));
    KT_OK(kiln_graph_add_node(t->g, op, name, n, ins, 1, &o, a, NULL));
    return o;
}

/* Infers shapes and creates the executable; returns false on failure. */
static bool tc_build(tcase *t, int32_t out, void **exec) {
    *exec = NULL;
    kiln_status s = kiln_infer_shapes(t->g);
    KT_CHECK(s == KILN_OK, "infer: %s", kiln_last_error());
    if (s != KILN_OK) return false;
    KT_OK(kiln_graph_add_output(t->g, out));
    kiln_backend_options o = {0, KILN_PRECISION_FP32, NULL};
    s = kiln_backend_ref.create(t->g, &o, exec);
    KT_CHECK(s == KILN_OK, "create: %s", kiln_last_error());
    return s == KILN_OK;
}

/* Writes every input (at `batch`, scaling dims[0]), runs, reads `out` (n floats). */
static bool tc_run(tcase *t, void *exec, int64_t batch, int32_t out, float *y, size_t n) {
    for (int i = 0; i < t->n_in; i++) {
        const kiln_value *v = &t->g->values[t->in_id[i]];
        int64_t ne = numel(v->rank, v->dims) / v->dims[0] * batch;
        KT_OK(kiln_backend_ref.write_value(exec, t->in_id[i], t->in_data[i], (size_t)ne));
    }
    kiln_status s = kiln_backend_ref.run(exec, batch);
    KT_CHECK(s == KILN_OK, "run: %s", kiln_last_error());
    KT_OK(kiln_backend_ref.read_value(exec, out, y, n));
    return s == KILN_OK;
}

/* Builds, runs at the built batch, reads the whole output into a malloc'ed array. */
static float *tc_run_all(tcase *t, int32_t out, int64_t *n_out) {
    void *exec;
    *n_out = 0;
    if (!tc_build(t, out, &exec)) return NULL;
    const kiln_value *v = &t->g->values[out];
    int64_t n = numel(v->rank, v->dims);
    float *y = malloc((size_t)n * sizeof(float));
    int64_t batch = t->n_in ? t->g->values[t->in_id[0]].dims[0] : 1;
    if (!tc_run(t, exec, batch, out, y, (size_t)n)) {
        free(y);
        y = NULL;
    }
    kiln_backend_ref.destroy(exec);
    *n_out = n;
    return y;
}

static void check_dims(int line, const kiln_value *v, int32_t rank, const int64_t *d) {
    bool same = v->rank == rank;
    for (int32_t i = 0; same && i < rank; i++)
        same = v->dims[i] == d[i];
    char b1[128], b2[128];
    KT_CHECK(same, "line %d: '%s' has shape %s, expected %s", line, v->name,
             kiln_shape_str(v->rank, v->dims, b1, sizeof b1),
             kiln_shape_str(rank, d, b2, sizeof b2));
}

static void check_rel(int line, const char *what, const float *got, const float *want, size_t n) {
    double e = kt_rel_err(got, want, n);
    KT_CHECK(e <= REL_TOL, "line %d: %s: rel err %.3g > %.1g", line, what, e, REL_TOL);
}

static void check_abs(int line, const char *what, const float *got, const float *want, size_t n) {
    for (size_t i = 0; i < n; i++)
        KT_CHECK(fabs((double)got[i] - (double)want[i]) <= ABS_TOL,
                 "line %d: %s[%zu] = %.9g, expected %.9g", line, what, i, (double)got[i],
                 (double)want[i]);
}

static float *rnd(size_t n, uint64_t seed) {
    float *p = malloc(n * sizeof(float));
    kt_fill_uniform(p, n, seed, -1.0f, 1.0f);
    return p;
}

/* ---- convolution ---------------------------------------------------------- */

typedef struct conv_case {
    int64_t N, C, H, W, M, KH, KW, G, sh, sw, dh, dw;
    int64_t pads[4]; /* t, l, b, r */
    kiln_auto_pad ap;
    bool bias;
} conv_case;

/* Pads the test resolves itself for auto_pad (TF rule). */
static void conv_case_pads(const conv_case *c, int64_t *pt, int64_t *pl, int64_t *pb, int64_t *pr) {
    if (c->ap == KILN_PAD_VALID) {
        *pt = *pl = *pb = *pr = 0;
    } else if (c->ap == KILN_PAD_EXPLICIT) {
        *pt = c->pads[0], *pl = c->pads[1], *pb = c->pads[2], *pr = c->pads[3];
    } else {
        int64_t in[2] = {c->H, c->W}, k[2] = {c->KH, c->KW}, s[2] = {c->sh, c->sw},
                d[2] = {c->dh, c->dw}, beg[2], end[2];
        for (int i = 0; i < 2; i++) {
            int64_t out = in[i] / s[i] + (in[i] % s[i] != 0);
            int64_t need = (out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - in[i];
            if (need < 0) need = 0;
            int64_t small = need / 2, big = need - small;
            beg[i] = c->ap == KILN_PAD_SAME_UPPER ? small : big;
            end[i] = need - beg[i];
        }
        *pt = beg[0], *pl = beg[1], *pb = end[0], *pr = end[1];
    }
}

/* im2col per (image, group) followed by a plain matrix product, in double. */
static void conv_expect(const conv_case *c, const float *x, const float *w, const float *b,
                        int64_t OH, int64_t OW, float *y) {
    int64_t pt, pl, pb, pr;
    conv_case_pads(c, &pt, &pl, &pb, &pr);
    int64_t CG = c->C / c->G, MG = c->M / c->G, K = CG * c->KH * c->KW, P = OH * OW;
    double *cols = malloc((size_t)(K * P) * sizeof(double));
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t g = 0; g < c->G; g++) {
            for (int64_t r = 0; r < K; r++) {
                int64_t cg = r / (c->KH * c->KW), kh = (r / c->KW) % c->KH, kw = r % c->KW;
                for (int64_t p = 0; p < P; p++) {
                    int64_t ih = (p / OW) * c->sh - pt + kh * c->dh;
                    int64_t iw = (p % OW) * c->sw - pl + kw * c->dw;
                    bool in = ih >= 0 && ih < c->H && iw >= 0 && iw < c->W;
                    cols[r * P + p] =
                        in ? x[((n * c->C + g * CG + cg) * c->H + ih) * c->W + iw] : 0.0;
                }
            }
            for (int64_t mm = 0; mm < MG; mm++) {
                int64_t m = g * MG + mm;
                for (int64_t p = 0; p < P; p++) {
                    double acc = b ? b[m] : 0.0;
                    for (int64_t r = 0; r < K; r++)
                        acc += (double)w[m * K + r] * cols[r * P + p];
                    y[(n * c->M + m) * P + p] = (float)acc;
                }
            }
        }
    free(cols);
}

static void run_conv_case(int line, const conv_case *c, uint64_t seed) {
    tcase t;
    tc_init(&t);
    int64_t xd[4] = {c->N, c->C, c->H, c->W}, wd[4] = {c->M, c->C / c->G, c->KH, c->KW};
    size_t nx = (size_t)numel(4, xd), nw = (size_t)numel(4, wd);
    float *x = rnd(nx, seed), *w = rnd(nw, seed + 1), *b = rnd((size_t)c->M, seed + 2);
    kiln_attrs a = kiln_attrs_default();
    a.strides[0] = c->sh, a.strides[1] = c->sw;
    a.dilations[0] = c->dh, a.dilations[1] = c->dw;
    memcpy(a.pads, c->pads, sizeof a.pads);
    a.group = c->G;
    a.auto_pad = c->ap;
    int32_t ins[3] = {act(&t, "x", 4, xd, x), cst(&t, "w", 4, wd, w),
                      c->bias ? cst(&t, "b", 1, &c->M, b) : KILN_NO_VALUE};
    int32_t y = node(&t, KILN_OP_CONV, "conv", 3, ins, &a);
    void *exec;
    if (!tc_build(&t, y, &exec)) goto done;
    int64_t pt, pl, pb, pr;
    conv_case_pads(c, &pt, &pl, &pb, &pr);
    int64_t OH = (c->H + pt + pb - ((c->KH - 1) * c->dh + 1)) / c->sh + 1;
    int64_t OW = (c->W + pl + pr - ((c->KW - 1) * c->dw + 1)) / c->sw + 1;
    int64_t yd[4] = {c->N, c->M, OH, OW};
    check_dims(line, &t.g->values[y], 4, yd);
    size_t ny = (size_t)numel(4, yd), per = ny / (size_t)c->N;
    float *got = malloc(ny * sizeof(float)), *want = malloc(ny * sizeof(float));
    conv_expect(c, x, w, c->bias ? b : NULL, OH, OW, want);
    tc_run(&t, exec, c->N, y, got, ny);
    check_rel(line, "conv", got, want, ny);
    if (c->N > 1) {
        /* batch N-1 after writing N new images: the first N-1 outputs follow the new
         * images, the last output is not recomputed (keeps the old image's result). */
        float *x2 = rnd(nx, seed + 7), *want2 = malloc(ny * sizeof(float));
        conv_expect(c, x2, w, c->bias ? b : NULL, OH, OW, want2);
        KT_OK(kiln_backend_ref.write_value(exec, t.in_id[0], x2, nx));
        KT_OK(kiln_backend_ref.run(exec, c->N - 1));
        KT_OK(kiln_backend_ref.read_value(exec, y, got, ny));
        check_rel(line, "conv batch-1", got, want2, per * (size_t)(c->N - 1));
        check_rel(line, "conv untouched image", got + per * (size_t)(c->N - 1),
                  want + per * (size_t)(c->N - 1), per);
        free(x2);
        free(want2);
    }
    free(got);
    free(want);
    kiln_backend_ref.destroy(exec);
done:
    kiln_graph_destroy(t.g);
    free(x);
    free(w);
    free(b);
}

static void test_conv(void) {
    /* N C H W M KH KW G sh sw dh dw pads ap bias */
    conv_case c1 = {3, 4, 7, 6, 5, 3, 3, 1, 1, 1, 1, 1, {1, 1, 1, 1}, KILN_PAD_EXPLICIT, true};
    run_conv_case(__LINE__, &c1, 10);
    conv_case c2 = {2, 6, 9, 8, 4, 3, 2, 2, 2, 1, 1, 2, {0, 1, 2, 0}, KILN_PAD_EXPLICIT, true};
    run_conv_case(__LINE__, &c2, 20);
    conv_case c3 = {2, 5, 8, 7, 5, 3, 3, 5, 2, 2, 1, 1, {0, 0, 0, 0}, KILN_PAD_SAME_UPPER, true};
    run_conv_case(__LINE__, &c3, 30);
    conv_case c4 = {1, 3, 5, 6, 2, 2, 2, 1, 2, 2, 1, 1, {0, 0, 0, 0}, KILN_PAD_SAME_LOWER, false};
    run_conv_case(__LINE__, &c4, 40);
    conv_case c5 = {2, 2, 7, 8, 3, 3, 3, 1, 2, 2, 1, 1, {9, 9, 9, 9}, KILN_PAD_VALID, false};
    run_conv_case(__LINE__, &c5, 50);
    conv_case c6 = {3, 4, 6, 5, 6, 2, 3, 2, 1, 2, 2, 1, {2, 0, 1, 1}, KILN_PAD_EXPLICIT, true};
    run_conv_case(__LINE__, &c6, 60);
    conv_case c7 = {2, 3, 4, 5, 4, 1, 1, 1, 1, 1, 1, 1, {0, 0, 0, 0}, KILN_PAD_EXPLICIT, true};
    run_conv_case(__LINE__, &c7, 70);
    conv_case c8 = {1, 2, 6, 7, 2, 3, 3, 1, 2, 2, 2, 2, {0, 0, 0, 0}, KILN_PAD_SAME_UPPER, true};
    run_conv_case(__LINE__, &c8, 80);

    /* literal: x = 1..9 (3x3), w = [[1,0],[0,1]], bias 0.5 -> x[i][j] + x[i+1][j+1] + 0.5 */
    tcase t;
    tc_init(&t);
    static const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[4] = {1, 0, 0, 1}, b[1] = {0.5f};
    int32_t ins[3] = {act(&t, "x", 4, (const int64_t[]){1, 1, 3, 3}, x),
                      cst(&t, "w", 4, (const int64_t[]){1, 1, 2, 2}, w),
                      cst(&t, "b", 1, (const int64_t[]){1}, b)};
    int32_t y = node(&t, KILN_OP_CONV, "conv_lit", 3, ins, NULL);
    int64_t n;
    float *got = tc_run_all(&t, y, &n);
    static const float want[4] = {6.5f, 8.5f, 12.5f, 14.5f};
    if (got && n == 4) check_abs(__LINE__, "conv literal", got, want, 4);
    free(got);
    kiln_graph_destroy(t.g);
}

/* Fused conv: Y = act(conv(X,W) + B + R), with and without bias; batch 2 of 3. */
static void test_conv_fused(void) {
    conv_case c = {3, 4, 6, 5, 3, 3, 3, 1, 1, 1, 1, 1, {1, 1, 1, 1}, KILN_PAD_EXPLICIT, true};
    for (int v = 0; v < 2; v++) {
        tcase t;
        tc_init(&t);
        int64_t xd[4] = {3, 4, 6, 5}, wd[4] = {3, 4, 3, 3}, yd[4] = {3, 3, 6, 5};
        float *x = rnd(360, 95), *w = rnd(108, 96), *b = rnd(3, 97), *r = rnd(270, 98);
        kiln_attrs a = kiln_attrs_default();
        a.pads[0] = a.pads[1] = a.pads[2] = a.pads[3] = 1;
        a.act = v == 0 ? KILN_ACT_RELU : KILN_ACT_CLIP;
        a.clip_min = -0.5f, a.clip_max = 0.75f;
        int32_t xi = act(&t, "x", 4, xd, x), ri = act(&t, "residual", 4, yd, r);
        int32_t ins[4] = {xi, cst(&t, "w", 4, wd, w),
                          v == 0 ? cst(&t, "b", 1, D(3), b) : KILN_NO_VALUE, ri};
        int32_t y = node(&t, KILN_OP_CONV, "conv_fused", 4, ins, &a);
        void *exec;
        if (tc_build(&t, y, &exec)) {
            float got[270], want[270];
            c.bias = v == 0;
            conv_expect(&c, x, w, v == 0 ? b : NULL, 6, 5, want);
            for (int i = 0; i < 270; i++) {
                double z = (double)want[i] + r[i];
                if (v == 0)
                    z = z > 0 ? z : 0;
                else
                    z = z < -0.5 ? -0.5 : z > 0.75 ? 0.75 : z;
                want[i] = (float)z;
            }
            tc_run(&t, exec, 2, y, got, 180);
            check_rel(__LINE__, v == 0 ? "conv+bias+residual+relu" : "conv+residual+clip", got,
                      want, 180);
            kiln_backend_ref.destroy(exec);
        }
        free(x), free(w), free(b), free(r);
        kiln_graph_destroy(t.g);
    }
}

/* A weight computed at run time (identity of a constant) whose dims[0] equals the built
 * batch keeps its shape when the run batch is smaller. */
static void test_unbatched_activation(void) {
    conv_case c = {4, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, {1, 1, 1, 1}, KILN_PAD_EXPLICIT, false};
    tcase t;
    tc_init(&t);
    int64_t xd[4] = {4, 3, 5, 5}, wd[4] = {4, 3, 3, 3};
    float *x = rnd(300, 90), *w = rnd(108, 91);
    int32_t wc = cst(&t, "w_const", 4, wd, w);
    int32_t wa = node(&t, KILN_OP_IDENTITY, "w_copy", 1, &wc, NULL);
    kiln_attrs a = kiln_attrs_default();
    a.pads[0] = a.pads[1] = a.pads[2] = a.pads[3] = 1;
    int32_t ins[2] = {act(&t, "x", 4, xd, x), wa};
    int32_t y = node(&t, KILN_OP_CONV, "conv_w_act", 2, ins, &a);
    void *exec;
    if (tc_build(&t, y, &exec)) {
        float got[400], want[400];
        conv_expect(&c, x, w, NULL, 5, 5, want);
        tc_run(&t, exec, 2, y, got, 200);
        check_rel(__LINE__, "conv with computed weight, batch 2 of 4", got, want, 200);
        kiln_backend_ref.destroy(exec);
    }
    free(x), free(w);
    kiln_graph_destroy(t.g);
}

/* ---- pooling ------------------------------------------------------------- */

typedef struct pool_case {
    int64_t N, C, H, W, KH, KW, sh, sw;
    int64_t pads[4];
    kiln_auto_pad ap;
    bool ceil, include_pad, is_max;
    int64_t OH, OW; /* hand-computed output size */
} pool_case;

/* Window [hs, he) clipped to the padded extent, then to the input (PyTorch/ONNX style). */
static void pool_expect(const pool_case *c, int64_t pt, int64_t pl, int64_t pb, int64_t pr,
                        const float *x, float *y) {
    for (int64_t p = 0; p < c->N * c->C; p++)
        for (int64_t oh = 0; oh < c->OH; oh++)
            for (int64_t ow = 0; ow < c->OW; ow++) {
                int64_t hs = oh * c->sh - pt, ws = ow * c->sw - pl;
                int64_t he = hs + c->KH < c->H + pb ? hs + c->KH : c->H + pb;
                int64_t we = ws + c->KW < c->W + pr ? ws + c->KW : c->W + pr;
                int64_t padded = (he - hs) * (we - ws);
                int64_t h0 = hs < 0 ? 0 : hs, w0 = ws < 0 ? 0 : ws;
                int64_t h1 = he > c->H ? c->H : he, w1 = we > c->W ? c->W : we;
                double sum = 0.0, mx = -1e300;
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) {
                        double v = x[(p * c->H + h) * c->W + w];
                        sum += v;
                        mx = v > mx ? v : mx;
                    }
                double div = c->include_pad ? (double)padded : (double)((h1 - h0) * (w1 - w0));
                y[(p * c->OH + oh) * c->OW + ow] = (float)(c->is_max ? mx : sum / div);
            }
}

static void run_pool_case(int line, const pool_case *c, int64_t pt, int64_t pl, int64_t pb,
                          int64_t pr, uint64_t seed) {
    tcase t;
    tc_init(&t);
    int64_t xd[4] = {c->N, c->C, c->H, c->W};
    size_t nx = (size_t)numel(4, xd);
    float *x = rnd(nx, seed);
    kiln_attrs a = kiln_attrs_default();
    a.kernel[0] = c->KH, a.kernel[1] = c->KW;
    a.strides[0] = c->sh, a.strides[1] = c->sw;
    memcpy(a.pads, c->pads, sizeof a.pads);
    a.auto_pad = c->ap;
    a.ceil_mode = c->ceil;
    a.count_include_pad = c->include_pad;
    int32_t xi = act(&t, "x", 4, xd, x);
    int32_t y = node(&t, c->is_max ? KILN_OP_MAX_POOL : KILN_OP_AVG_POOL, "pool", 1, &xi, &a);
    int64_t n;
    float *got = tc_run_all(&t, y, &n);
    int64_t yd[4] = {c->N, c->C, c->OH, c->OW};
    check_dims(line, &t.g->values[y], 4, yd);
    if (got && n == numel(4, yd)) {
        float *want = malloc((size_t)n * sizeof(float));
        pool_expect(c, pt, pl, pb, pr, x, want);
        check_rel(line, c->is_max ? "max pool" : "avg pool", got, want, (size_t)n);
        free(want);
    }
    free(got);
    free(x);
    kiln_graph_destroy(t.g);
}

static void test_pool(void) {
    /* N C H W KH KW sh sw pads ap ceil incl max OH OW */
    /* ResNet stem max pool on odd sizes: (9+2-3)/2+1 = 5, (8+2-3)/2+1 = 4 */
    pool_case p1 = {2,     3,     9,    8, 3, 3, 2, 2, {1, 1, 1, 1}, KILN_PAD_EXPLICIT,
                    false, false, true, 5, 4};
    run_pool_case(__LINE__, &p1, 1, 1, 1, 1, 100);
    /* avg ceil mode, asymmetric pads t1 l0 b1 r2: H (8+2-3+1)/2+1 = 5, W (7+2-3+1)/2+1 = 4 */
    pool_case p2 = {1,    2,     8,     7, 3, 3, 2, 2, {1, 0, 1, 2}, KILN_PAD_EXPLICIT,
                    true, false, false, 5, 4};
    run_pool_case(__LINE__, &p2, 1, 0, 1, 2, 110);
    p2.include_pad = true;
    run_pool_case(__LINE__, &p2, 1, 0, 1, 2, 111);
    /* ceil mode drops the window starting in the end padding: H=W=5 k2 s2 p1 -> 3 */
    pool_case p3 = {2,    1,    5,     5, 2, 2, 2, 2, {1, 1, 1, 1}, KILN_PAD_EXPLICIT,
                    true, true, false, 3, 3};
    run_pool_case(__LINE__, &p3, 1, 1, 1, 1, 120);
    p3.is_max = true;
    run_pool_case(__LINE__, &p3, 1, 1, 1, 1, 121);
    /* ceil mode whose last window hangs past the input without padding: H=8 k3 s2 ->
     * ceil(5/2)+1 = 4 (last window rows 6..7 only), W=7 k2 s3 -> ceil(5/3)+1 = 3 (last: col 6) */
    pool_case p4 = {1,    2,    8,     7, 3, 2, 2, 3, {0, 0, 0, 0}, KILN_PAD_EXPLICIT,
                    true, true, false, 4, 3};
    run_pool_case(__LINE__, &p4, 0, 0, 0, 0, 130);
    p4.include_pad = false;
    run_pool_case(__LINE__, &p4, 0, 0, 0, 0, 131);
    /* SAME_UPPER avg k2 s2 on 5x7: out 3x4, total pad H 1 (0,1), W 1 (0,1); pads count */
    pool_case p5 = {1,     2,    5,     7, 2, 2, 2, 2, {0, 0, 0, 0}, KILN_PAD_SAME_UPPER,
                    false, true, false, 3, 4};
    run_pool_case(__LINE__, &p5, 0, 0, 1, 1, 140);
    /* SAME_LOWER k3 s1 on 4x5: total pad 2 each (1,1) */
    pool_case p6 = {1,     1,     4,     5, 3, 3, 1, 1, {0, 0, 0, 0}, KILN_PAD_SAME_LOWER,
                    false, false, false, 4, 5};
    run_pool_case(__LINE__, &p6, 1, 1, 1, 1, 150);
    /* VALID max k2x3 s1x2 on 5x8: 4 x 3 */
    pool_case p7 = {2, 2, 5, 8, 2, 3, 1, 2, {3, 3, 3, 3}, KILN_PAD_VALID, false, false, true, 4, 3};
    run_pool_case(__LINE__, &p7, 0, 0, 0, 0, 160);

    /* literal avg pool 2x2 s2 pads 1 on x = 1..9 (3x3): windows {1}, {2,3}, {4,7}, {5,6,8,9} */
    static const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    static const float excl[4] = {1.0f, 2.5f, 5.5f, 7.0f}, incl[4] = {0.25f, 1.25f, 2.75f, 7.0f};
    static const float mx[4] = {1, 3, 7, 9};
    for (int mode = 0; mode < 3; mode++) {
        tcase t;
        tc_init(&t);
        kiln_attrs a = kiln_attrs_default();
        a.kernel[0] = a.kernel[1] = 2;
        a.strides[0] = a.strides[1] = 2;
        a.pads[0] = a.pads[1] = a.pads[2] = a.pads[3] = 1;
        a.count_include_pad = mode == 1;
        int32_t xi = act(&t, "x", 4, (const int64_t[]){1, 1, 3, 3}, x);
        int32_t y =
            node(&t, mode == 2 ? KILN_OP_MAX_POOL : KILN_OP_AVG_POOL, "pool_lit", 1, &xi, &a);
        int64_t n;
        float *got = tc_run_all(&t, y, &n);
        if (got && n == 4)
            check_abs(__LINE__, "pool literal", got, mode == 0 ? excl : mode == 1 ? incl : mx, 4);
        free(got);
        kiln_graph_destroy(t.g);
    }

    /* dilated max pool k2 d2 s1 pads 1 on 6x5, positions enumerated: out (6+2-3)+1 = 6, 5 */
    {
        tcase t;
        tc_init(&t);
        float *xx = rnd(2 * 6 * 5, 170);
        kiln_attrs a = kiln_attrs_default();
        a.kernel[0] = a.kernel[1] = 2;
        a.dilations[0] = a.dilations[1] = 2;
        a.pads[0] = a.pads[1] = a.pads[2] = a.pads[3] = 1;
        int32_t xi = act(&t, "x", 4, (const int64_t[]){1, 2, 6, 5}, xx);
        int32_t y = node(&t, KILN_OP_MAX_POOL, "dil_pool", 1, &xi, &a);
        int64_t n;
        float *got = tc_run_all(&t, y, &n);
        check_dims(__LINE__, &t.g->values[y], 4, (const int64_t[]){1, 2, 6, 5});
        if (got && n == 60) {
            float want[60];
            for (int c = 0; c < 2; c++)
                for (int oh = 0; oh < 6; oh++)
                    for (int ow = 0; ow < 5; ow++) {
                        const int pos[4][2] = {
                            {oh - 1, ow - 1}, {oh - 1, ow + 1}, {oh + 1, ow - 1}, {oh + 1, ow + 1}};
                        float m = -1e30f;
                        for (int k = 0; k < 4; k++) {
                            int h = pos[k][0], w = pos[k][1];
                            if (h >= 0 && h < 6 && w >= 0 && w < 5 && xx[(c * 6 + h) * 5 + w] > m)
                                m = xx[(c * 6 + h) * 5 + w];
                        }
                        want[(c * 6 + oh) * 5 + ow] = m;
                    }
            check_abs(__LINE__, "dilated max pool", got, want, 60);
        }
        free(got);
        free(xx);
        kiln_graph_destroy(t.g);
    }
}

static void test_global_pool(void) {
    for (int is_max = 0; is_max < 2; is_max++) {
        tcase t;
        tc_init(&t);
        int64_t xd[4] = {3, 4, 5, 3};
        float *x = rnd(180, 200 + (uint64_t)is_max);
        int32_t xi = act(&t, "x", 4, xd, x);
        int32_t y = node(&t, is_max ? KILN_OP_GLOBAL_MAX_POOL : KILN_OP_GLOBAL_AVG_POOL, "gpool", 1,
                         &xi, NULL);
        void *exec;
        if (tc_build(&t, y, &exec)) {
            check_dims(__LINE__, &t.g->values[y], 4, (const int64_t[]){3, 4, 1, 1});
            float got[12], want[12];
            for (int p = 0; p < 12; p++) {
                double s = 0, m = -1e30;
                for (int i = 0; i < 15; i++) {
                    s += x[p * 15 + i];
                    m = x[p * 15 + i] > m ? x[p * 15 + i] : m;
                }
                want[p] = (float)(is_max ? m : s / 15.0);
            }
            tc_run(&t, exec, 3, y, got, 12);
            check_rel(__LINE__, "global pool", got, want, 12);
            tc_run(&t, exec, 2, y, got, 8); /* batch 2 of 3 */
            check_rel(__LINE__, "global pool batch 2", got, want, 8);
            kiln_backend_ref.destroy(exec);
        }
        free(x);
        kiln_graph_destroy(t.g);
    }
}

/* ---- elementwise ------------------------------------------------------- */

static void test_add_sum(void) {
    /* numpy: A [2,3,4] + B [3,1] */
    {
        tcase t;
        tc_init(&t);
        float *a = rnd(24, 300), *b = rnd(3, 301);
        int32_t ins[2] = {act(&t, "a", 3, (const int64_t[]){2, 3, 4}, a),
                          cst(&t, "b", 2, (const int64_t[]){3, 1}, b)};
        int32_t y = node(&t, KILN_OP_ADD, "add_np", 2, ins, NULL);
        int64_t n;
        float *got = tc_run_all(&t, y, &n), want[24];
        for (int i = 0; i < 2; i++)
            for (int c = 0; c < 3; c++)
                for (int k = 0; k < 4; k++)
                    want[(i * 3 + c) * 4 + k] = a[(i * 3 + c) * 4 + k] + b[c];
        if (got && n == 24) check_rel(__LINE__, "add numpy", got, want, 24);
        free(got), free(a), free(b);
        kiln_graph_destroy(t.g);
    }
    /* numpy, both sides broadcast: A [3,1] + B [2,1,4] -> [2,3,4] */
    {
        tcase t;
        tc_init(&t);
        float *a = rnd(3, 310), *b = rnd(8, 311);
        int32_t ins[2] = {act(&t, "a", 2, (const int64_t[]){3, 1}, a),
                          cst(&t, "b", 3, (const int64_t[]){2, 1, 4}, b)};
        int32_t y = node(&t, KILN_OP_ADD, "add_np2", 2, ins, NULL);
        int64_t n;
        float *got = tc_run_all(&t, y, &n), want[24];
        check_dims(__LINE__, &t.g->values[y], 3, (const int64_t[]){2, 3, 4});
        for (int i = 0; i < 2; i++)
            for (int c = 0; c < 3; c++)
                for (int k = 0; k < 4; k++)
                    want[(i * 3 + c) * 4 + k] = a[c] + b[i * 4 + k];
        if (got && n == 24) check_rel(__LINE__, "add numpy 2", got, want, 24);
        free(got), free(a), free(b);
        kiln_graph_destroy(t.g);
    }
    /* Paddle axis=1: A [2,3,4,5] + B [3,4]; and B [3,1,1] (trailing 1s dropped) */
    for (int v = 0; v < 2; v++) {
        tcase t;
        tc_init(&t);
        float *a = rnd(120, 320), *b = rnd(12, 321);
        kiln_attrs at = kiln_attrs_default();
        at.axis = 1;
        int32_t ins[2] = {act(&t, "a", 4, (const int64_t[]){2, 3, 4, 5}, a),
                          v == 0 ? cst(&t, "b", 2, (const int64_t[]){3, 4}, b)
                                 : cst(&t, "b", 3, (const int64_t[]){3, 1, 1}, b)};
        int32_t y = node(&t, KILN_OP_ADD, "add_paddle", 2, ins, &at);
        int64_t n;
        float *got = tc_run_all(&t, y, &n), want[120];
        for (int i = 0; i < 2; i++)
            for (int c = 0; c < 3; c++)
                for (int h = 0; h < 4; h++)
                    for (int w = 0; w < 5; w++)
                        want[((i * 3 + c) * 4 + h) * 5 + w] =
                            a[((i * 3 + c) * 4 + h) * 5 + w] + (v == 0 ? b[c * 4 + h] : b[c]);
        if (got && n == 120) check_rel(__LINE__, "add paddle axis", got, want, 120);
        free(got), free(a), free(b);
        kiln_graph_destroy(t.g);
    }
    /* two activations, batch 2 of 3: A [3,5] + B [3,5] */
    {
        tcase t;
        tc_init(&t);
        float *a = rnd(15, 330), *b = rnd(15, 331);
        int32_t ins[2] = {act(&t, "a", 2, (const int64_t[]){3, 5}, a),
                          act(&t, "b", 2, (const int64_t[]){3, 5}, b)};
        int32_t y = node(&t, KILN_OP_ADD, "add_act", 2, ins, NULL);
        void *exec;
        if (tc_build(&t, y, &exec)) {
            float got[10], want[10];
            for (int i = 0; i < 10; i++)
                want[i] = a[i] + b[i];
            tc_run(&t, exec, 2, y, got, 10);
            check_rel(__LINE__, "add batch 2", got, want, 10);
            kiln_backend_ref.destroy(exec);
        }
        free(a), free(b);
        kiln_graph_destroy(t.g);
    }
    /* fused activation on add: clip(a + b, -1, 2) and relu(a + b) */
    {
        static const float a[5] = {-3, -0.5f, 0.25f, 1, 4}, b[5] = {1, 0.25f, -1, 0.5f, 1};
        static const float wclip[5] = {-1, -0.25f, -0.75f, 1.5f, 2}, wrelu[5] = {0, 0, 0, 1.5f, 5};
        for (int v = 0; v < 2; v++) {
            tcase t;
            tc_init(&t);
            kiln_attrs at = kiln_attrs_default();
            at.act = v == 0 ? KILN_ACT_CLIP : KILN_ACT_RELU;
            at.clip_min = -1, at.clip_max = 2;
            int32_t ins[2] = {act(&t, "a", 2, D(1, 5), a), cst(&t, "b", 1, D(5), b)};
            int32_t y = node(&t, KILN_OP_ADD, "add_act", 2, ins, &at);
            int64_t n;
            float *got = tc_run_all(&t, y, &n);
            if (got && n == 5) check_abs(__LINE__, "add+act", got, v == 0 ? wclip : wrelu, 5);
            free(got);
            kiln_graph_destroy(t.g);
        }
    }
    /* sum: [2,3,4] + [3,1] + [4] */
    {
        tcase t;
        tc_init(&t);
        float *a = rnd(24, 340), *b = rnd(3, 341), *c = rnd(4, 342);
        int32_t ins[3] = {act(&t, "a", 3, (const int64_t[]){2, 3, 4}, a),
                          cst(&t, "b", 2, (const int64_t[]){3, 1}, b),
                          cst(&t, "c", 1, (const int64_t[]){4}, c)};
        int32_t y = node(&t, KILN_OP_SUM, "sum3", 3, ins, NULL);
        int64_t n;
        float *got = tc_run_all(&t, y, &n), want[24];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 4; k++)
                    want[(i * 3 + j) * 4 + k] =
                        (float)((double)a[(i * 3 + j) * 4 + k] + b[j] + c[k]);
        if (got && n == 24) check_rel(__LINE__, "sum", got, want, 24);
        free(got), free(a), free(b), free(c);
        kiln_graph_destroy(t.g);
    }
}

static void run_unary_literal(int line, kiln_op op, const kiln_attrs *a, const float *x,
                              const float *want, int n) {
    tcase t;
    tc_init(&t);
    int64_t d[2] = {1, n};
    int32_t xi = act(&t, "x", 2, d, x);
    int32_t y = node(&t, op, kiln_op_names[op], 1, &xi, a);
    int64_t got_n;
    float *got = tc_run_all(&t, y, &got_n);
    if (got && got_n == n) check_abs(line, kiln_op_names[op], got, want, (size_t)n);
    free(got);
    kiln_graph_destroy(t.g);
}

static void test_unary(void) {
    static const float x[7] = {-3.0f, -1.0f, -0.25f, 0.5f, 2.0f, 6.5f, 7.0f};
    static const float relu[7] = {0, 0, 0, 0.5f, 2.0f, 6.5f, 7.0f};
    run_unary_literal(__LINE__, KILN_OP_RELU, NULL, x, relu, 7);
    kiln_attrs a = kiln_attrs_default();
    a.clip_min = -1.0f, a.clip_max = 6.0f;
    static const float clip[7] = {-1.0f, -1.0f, -0.25f, 0.5f, 2.0f, 6.0f, 6.0f};
    run_unary_literal(__LINE__, KILN_OP_CLIP, &a, x, clip, 7);
    a = kiln_attrs_default();
    a.alpha = 2.0f, a.beta = 0.5f, a.bias_after_scale = true;
    static const float sa[7] = {-5.5f, -1.5f, 0.0f, 1.5f, 4.5f, 13.5f, 14.5f};
    run_unary_literal(__LINE__, KILN_OP_SCALE, &a, x, sa, 7);
    a.bias_after_scale = false;
    static const float sb[7] = {-5.0f, -1.0f, 0.5f, 2.0f, 5.0f, 14.0f, 15.0f};
    run_unary_literal(__LINE__, KILN_OP_SCALE, &a, x, sb, 7);
    run_unary_literal(__LINE__, KILN_OP_IDENTITY, NULL, x, x, 7);
}

/* ---- matmul / gemm ------------------------------------------------------- */

/* Element (row, col) of the (possibly transposed, broadcast) matrix of tensor p at output
 * batch coordinates bc (obr of them). 1-D: A is a row [1,K], B a column [K,1]. */
static double mat_at(const float *p, int32_t rank, const int64_t *d, bool trans, bool is_a,
                     int32_t obr, const int64_t *bc, int64_t row, int64_t col) {
    if (rank == 1) return p[is_a ? col : row];
    int64_t r = trans ? col : row, c = trans ? row : col;
    int64_t flat = 0;
    int32_t br = rank - 2;
    for (int32_t i = 0; i < br; i++) {
        int64_t ci = d[i] == 1 ? 0 : bc[obr - br + i];
        flat = flat * d[i] + ci;
    }
    return p[(flat * d[rank - 2] + r) * d[rank - 1] + c];
}

static void run_matmul_case(int line, int32_t ra, const int64_t *da, int32_t rb, const int64_t *db,
                            bool ta, bool tb, float alpha, int32_t ro, const int64_t *dout,
                            uint64_t seed) {
    tcase t;
    tc_init(&t);
    int64_t na = numel(ra, da), nb = numel(rb, db);
    float *a = rnd((size_t)na, seed), *b = rnd((size_t)nb, seed + 1);
    kiln_attrs at = kiln_attrs_default();
    at.trans_a = ta, at.trans_b = tb, at.alpha = alpha;
    int32_t ins[2] = {act(&t, "a", ra, da, a), cst(&t, "b", rb, db, b)};
    int32_t y = node(&t, KILN_OP_MATMUL, "matmul", 2, ins, &at);
    int64_t n;
    float *got = tc_run_all(&t, y, &n);
    check_dims(line, &t.g->values[y], ro, dout);
    if (got && n == numel(ro, dout)) {
        int64_t M = ra == 1 ? 1 : (ta ? da[ra - 1] : da[ra - 2]);
        int64_t K = ra == 1 ? da[0] : (ta ? da[ra - 2] : da[ra - 1]);
        int64_t N = rb == 1 ? 1 : (tb ? db[rb - 2] : db[rb - 1]);
        int32_t obr = ro - (ra > 1) - (rb > 1);
        float *want = malloc((size_t)n * sizeof(float));
        int64_t nbatch = numel(obr, dout), bc[KILN_MAX_RANK];
        for (int64_t bi = 0; bi < nbatch; bi++) {
            int64_t rem = bi;
            for (int32_t i = obr - 1; i >= 0; i--)
                bc[i] = rem % dout[i], rem /= dout[i];
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) {
                    double s = 0;
                    for (int64_t k = 0; k < K; k++)
                        s += mat_at(a, ra, da, ta, true, obr, bc, i, k) *
                             mat_at(b, rb, db, tb, false, obr, bc, k, j);
                    want[(bi * M + i) * N + j] = (float)(alpha * s);
                }
        }
        check_rel(line, "matmul", got, want, (size_t)n);
        free(want);
    }
    free(got), free(a), free(b);
    kiln_graph_destroy(t.g);
}

static void test_matmul(void) {
    run_matmul_case(__LINE__, 3, D(2, 3, 4), 2, D(4, 5), false, false, 1.0f, 3, D(2, 3, 5), 400);
    run_matmul_case(__LINE__, 3, D(2, 4, 3), 2, D(4, 5), true, false, 1.0f, 3, D(2, 3, 5), 410);
    run_matmul_case(__LINE__, 3, D(2, 3, 4), 2, D(5, 4), false, true, 0.5f, 3, D(2, 3, 5), 420);
    run_matmul_case(__LINE__, 2, D(4, 3), 3, D(2, 5, 4), true, true, 1.0f, 3, D(2, 3, 5), 430);
    run_matmul_case(__LINE__, 1, D(4), 3, D(2, 4, 5), false, false, 1.0f, 2, D(2, 5), 440);
    run_matmul_case(__LINE__, 3, D(2, 3, 4), 1, D(4), false, false, 1.0f, 2, D(2, 3), 450);
    run_matmul_case(__LINE__, 4, D(2, 1, 3, 4), 3, D(5, 4, 2), false, false, 1.0f, 4, D(2, 5, 3, 2),
                    460);
    run_matmul_case(__LINE__, 2, D(3, 7), 2, D(7, 1), false, false, 2.0f, 2, D(3, 1), 470);
    /* literal: [1,2;3,4] x [5,6;7,8] = [19,22;43,50] */
    {
        tcase t;
        tc_init(&t);
        static const float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}, want[4] = {19, 22, 43, 50};
        int32_t ins[2] = {act(&t, "a", 2, D(2, 2), a), cst(&t, "b", 2, D(2, 2), b)};
        int32_t y = node(&t, KILN_OP_MATMUL, "mm_lit", 2, ins, NULL);
        int64_t n;
        float *got = tc_run_all(&t, y, &n);
        if (got && n == 4) check_abs(__LINE__, "matmul literal", got, want, 4);
        free(got);
        kiln_graph_destroy(t.g);
    }
}

static void run_gemm_case(int line, bool ta, bool tb, int32_t rc, const int64_t *dc,
                          uint64_t seed) {
    const int64_t M = 3, K = 4, N = 5;
    tcase t;
    tc_init(&t);
    int64_t da[2] = {ta ? K : M, ta ? M : K}, db[2] = {tb ? N : K, tb ? K : N};
    float *a = rnd(12, seed), *b = rnd(20, seed + 1), *c = rnd(15, seed + 2);
    kiln_attrs at = kiln_attrs_default();
    at.trans_a = ta, at.trans_b = tb, at.alpha = 0.75f, at.beta = -2.0f;
    int32_t ins[3] = {act(&t, "a", 2, da, a), cst(&t, "b", 2, db, b),
                      rc >= 0 ? cst(&t, "c", rc, dc, c) : KILN_NO_VALUE};
    int32_t y = node(&t, KILN_OP_GEMM, "gemm", 3, ins, &at);
    int64_t n;
    float *got = tc_run_all(&t, y, &n);
    if (got && n == M * N) {
        float want[15];
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++)
                    s += (double)(ta ? a[k * M + i] : a[i * K + k]) *
                         (tb ? b[j * K + k] : b[k * N + j]);
                double cv = 0;
                if (rc == 0)
                    cv = c[0];
                else if (rc == 1)
                    cv = dc[0] == 1 ? c[0] : c[j];
                else if (rc == 2)
                    cv = c[(dc[0] == 1 ? 0 : i) * dc[1] + (dc[1] == 1 ? 0 : j)];
                want[i * N + j] = (float)(0.75 * s - 2.0 * cv);
            }
        check_rel(line, "gemm", got, want, 15);
    }
    free(got), free(a), free(b), free(c);
    kiln_graph_destroy(t.g);
}

static void test_gemm(void) {
    run_gemm_case(__LINE__, false, false, 1, D(5), 500);
    run_gemm_case(__LINE__, true, false, 2, D(3, 1), 510);
    run_gemm_case(__LINE__, false, true, 2, D(3, 5), 520);
    run_gemm_case(__LINE__, true, true, 1, D(1), 530);
    run_gemm_case(__LINE__, false, false, -1, NULL, 540);
    run_gemm_case(__LINE__, false, true, 0, NULL, 550);
    /* fused relu on gemm: [2,-1] x [[1,2,-1],[1,0.5,3]] = [1, 3.5, -5]; + [0.5,-1,0]
     * = [1.5, 2.5, -5]; relu -> [1.5, 2.5, 0] */
    {
        tcase t;
        tc_init(&t);
        static const float a[2] = {2, -1}, b[6] = {1, 2, -1, 1, 0.5f, 3}, c[3] = {0.5f, -1, 0};
        static const float want[3] = {1.5f, 2.5f, 0.0f};
        kiln_attrs at = kiln_attrs_default();
        at.act = KILN_ACT_RELU;
        int32_t ins[3] = {act(&t, "a", 2, D(1, 2), a), cst(&t, "b", 2, D(2, 3), b),
                          cst(&t, "c", 1, D(3), c)};
        int32_t y = node(&t, KILN_OP_GEMM, "gemm_relu", 3, ins, &at);
        int64_t n;
        float *got = tc_run_all(&t, y, &n);
        if (got && n == 3) check_abs(__LINE__, "gemm+relu", got, want, 3);
        free(got);
        kiln_graph_destroy(t.g);
    }
    /* FC head at batch 2 of 3: [3,6] x [6,4] + [4] */
    tcase t;
    tc_init(&t);
    float *a = rnd(18, 560), *b = rnd(24, 561), *c = rnd(4, 562);
    int32_t ins[3] = {act(&t, "a", 2, D(3, 6), a), cst(&t, "w", 2, D(6, 4), b),
                      cst(&t, "bias", 1, D(4), c)};
    int32_t y = node(&t, KILN_OP_GEMM, "fc", 3, ins, NULL);
    void *exec;
    if (tc_build(&t, y, &exec)) {
        float got[8], want[8];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 4; j++) {
                double s = c[j];
                for (int k = 0; k < 6; k++)
                    s += (double)a[i * 6 + k] * b[k * 4 + j];
                want[i * 4 + j] = (float)s;
            }
        tc_run(&t, exec, 2, y, got, 8);
        check_rel(__LINE__, "fc batch 2", got, want, 8);
        kiln_backend_ref.destroy(exec);
    }
    free(a), free(b), free(c);
    kiln_graph_destroy(t.g);
}

/* ---- batch norm, softmax, flatten/reshape -------------------------------- */

static void test_batch_norm(void) {
    tcase t;
    tc_init(&t);
    float *x = rnd(3 * 4 * 2 * 3, 600);
    static const float scale[4] = {2.0f, -1.0f, 0.5f, 1.5f}, bias[4] = {0.5f, 0.25f, -1, 3};
    static const float mean[4] = {1.0f, -0.5f, 0.25f, 0}, var[4] = {3.0f, 0.5f, 2.0f, 0.1f};
    kiln_attrs a = kiln_attrs_default();
    a.epsilon = 1.0f;
    int32_t ins[5] = {act(&t, "x", 4, D(3, 4, 2, 3), x), cst(&t, "scale", 1, D(4), scale),
                      cst(&t, "bias", 1, D(4), bias), cst(&t, "mean", 1, D(4), mean),
                      cst(&t, "var", 1, D(4), var)};
    int32_t y = node(&t, KILN_OP_BATCH_NORM, "bn", 5, ins, &a);
    void *exec;
    if (tc_build(&t, y, &exec)) {
        float got[72], want[72];
        for (int i = 0; i < 72; i++) {
            int c = (i / 6) % 4;
            want[i] = (float)(((double)x[i] - mean[c]) * scale[c] / sqrt(var[c] + 1.0) + bias[c]);
        }
        tc_run(&t, exec, 3, y, got, 72);
        check_rel(__LINE__, "batch norm", got, want, 72);
        tc_run(&t, exec, 1, y, got, 24);
        check_rel(__LINE__, "batch norm batch 1", got, want, 24);
        /* literal: x=3, mean 1, var 3, eps 1 -> (2/2)*2 + 0.5 = 2.5 in channel 0 */
        float one[72];
        memcpy(one, x, sizeof one);
        one[0] = 3.0f;
        t.in_data[0] = one;
        tc_run(&t, exec, 1, y, got, 24);
        check_abs(__LINE__, "batch norm literal", got, (const float[]){2.5f}, 1);
        kiln_backend_ref.destroy(exec);
    }
    free(x);
    kiln_graph_destroy(t.g);
}

static void test_softmax(void) {
    float *x = rnd(24, 700);
    for (int mode = 0; mode < 3; mode++) {
        /* 0: axis 1 of [2,3,4]; 1: coerce_2d axis 1 (rows of 12); 2: axis -1 */
        tcase t;
        tc_init(&t);
        kiln_attrs a = kiln_attrs_default();
        a.axis = mode == 2 ? -1 : 1;
        a.coerce_2d = mode == 1;
        int32_t xi = act(&t, "x", 3, D(2, 3, 4), x);
        int32_t y = node(&t, KILN_OP_SOFTMAX, "softmax", 1, &xi, &a);
        int64_t n;
        float *got = tc_run_all(&t, y, &n);
        float want[24];
        for (int i = 0; i < 24; i++) {
            /* the group of element i: indices sharing every coordinate but the reduced ones */
            int nn = i / 12, c = (i / 4) % 3, k = i % 4;
            double den = 0;
            for (int j = 0; j < 24; j++) {
                int nj = j / 12, cj = (j / 4) % 3, kj = j % 4;
                bool same = mode == 0   ? (nj == nn && kj == k)
                            : mode == 1 ? nj == nn
                                        : (nj == nn && cj == c);
                if (same) den += exp(x[j]);
            }
            want[i] = (float)(exp(x[i]) / den);
        }
        if (got && n == 24) check_rel(__LINE__, "softmax", got, want, 24);
        free(got);
        kiln_graph_destroy(t.g);
    }
    free(x);
    /* large logits stay finite: softmax([1000,1001,1002]) */
    tcase t;
    tc_init(&t);
    static const float big[3] = {1000.0f, 1001.0f, 1002.0f};
    int32_t xi = act(&t, "x", 2, D(1, 3), big);
    int32_t y = node(&t, KILN_OP_SOFTMAX, "softmax_big", 1, &xi, NULL);
    int64_t n;
    float *got = tc_run_all(&t, y, &n);
    double e1 = exp(-1.0), e2 = exp(-2.0), s = 1 + e1 + e2;
    const float want[3] = {(float)(e2 / s), (float)(e1 / s), (float)(1 / s)};
    if (got && n == 3) check_abs(__LINE__, "softmax big", got, want, 3);
    free(got);
    kiln_graph_destroy(t.g);
}

static void test_flatten_reshape(void) {
    float *x = rnd(24, 800);
    for (int op = 0; op < 2; op++) {
        tcase t;
        tc_init(&t);
        kiln_attrs a = kiln_attrs_default();
        a.axis = 1;
        a.coerce_2d = true;
        if (op == 1) {
            a.shape_rank = 3;
            a.shape[0] = 0, a.shape[1] = -1, a.shape[2] = 2;
        }
        int32_t xi = act(&t, "x", 4, D(2, 3, 2, 2), x);
        int32_t y = node(&t, op ? KILN_OP_RESHAPE : KILN_OP_FLATTEN, "reshape", 1, &xi, &a);
        int64_t n;
        float *got = tc_run_all(&t, y, &n);
        if (op == 0)
            check_dims(__LINE__, &t.g->values[y], 2, D(2, 12));
        else
            check_dims(__LINE__, &t.g->values[y], 3, D(2, 6, 2));
        if (got && n == 24) check_abs(__LINE__, "reshape copy", got, x, 24);
        free(got);
        kiln_graph_destroy(t.g);
    }
    free(x);
}

/* ---- fake quant ------------------------------------------------------------ */

static void run_quant(int line, kiln_op op, const kiln_attrs *a, int32_t rank, const int64_t *d,
                      const float *x, int n_scales, const float *const *scales,
                      const int64_t *scale_n, const float *want) {
    tcase t;
    tc_init(&t);
    int32_t ins[3] = {act(&t, "x", rank, d, x), KILN_NO_VALUE, KILN_NO_VALUE};
    for (int i = 0; i < n_scales; i++) {
        char name[16];
        snprintf(name, sizeof name, "scale%d", i);
        ins[1 + i] = cst(&t, name, 1, &scale_n[i], scales[i]);
    }
    int32_t y = node(&t, op, kiln_op_names[op], 1 + n_scales, ins, a);
    int64_t n;
    float *got = tc_run_all(&t, y, &n);
    if (got && n == numel(rank, d)) check_abs(line, kiln_op_names[op], got, want, (size_t)n);
    free(got);
    kiln_graph_destroy(t.g);
}

static void test_fake_quant(void) {
    kiln_attrs a = kiln_attrs_default();
    /* T = 127 from InScale: q = round(clip(x,-127,127)); half-way cases */
    static const float x1[10] = {2.5f,   -2.5f,   3.5f,  0.5f,  -0.5f,
                                 200.0f, -300.0f, 1.49f, -1.5f, 126.5f};
    static const float q0[10] = {2, -2, 4, 0, 0, 127, -127, 1, -2, 126};
    static const float q1[10] = {3, -3, 4, 1, -1, 127, -127, 1, -2, 127};
    static const float t127[1] = {127.0f};
    const float *sc[2] = {t127, NULL};
    int64_t sn[2] = {1, 1};
    a.round_type = 0;
    run_quant(__LINE__, KILN_OP_FAKE_QUANT, &a, 2, D(2, 5), x1, 1, sc, sn, q0);
    a.round_type = 1;
    run_quant(__LINE__, KILN_OP_FAKE_QUANT, &a, 2, D(2, 5), x1, 1, sc, sn, q1);

    /* No InScale: T = max|x| = 254, x*127/254 = x/2 */
    static const float x2[6] = {5.0f, -3.0f, 7.0f, 1.0f, -254.0f, 100.2f};
    static const float q2_0[6] = {2, -2, 4, 0, -127, 50}, q2_1[6] = {3, -2, 4, 1, -127, 50};
    a.round_type = 0;
    run_quant(__LINE__, KILN_OP_FAKE_QUANT, &a, 2, D(1, 6), x2, 0, sc, sn, q2_0);
    a.round_type = 1;
    run_quant(__LINE__, KILN_OP_FAKE_QUANT, &a, 2, D(1, 6), x2, 0, sc, sn, q2_1);
    /* quant-dequant: q*254/127 = 2q */
    static const float d2_0[6] = {4, -4, 8, 0, -254, 100}, d2_1[6] = {6, -4, 8, 2, -254, 100};
    a.round_type = 0;
    run_quant(__LINE__, KILN_OP_FAKE_QUANT_DEQUANT, &a, 2, D(1, 6), x2, 0, sc, sn, d2_0);
    a.round_type = 1;
    run_quant(__LINE__, KILN_OP_FAKE_QUANT_DEQUANT, &a, 2, D(1, 6), x2, 0, sc, sn, d2_1);
    /* quant-dequant with InScale T=3.5, 4 bits (r=7): x*7/3.5 = 2x, dequant q/2:
     * 1.25 -> 2.5 -> 2|3; -0.25 -> -0.5 -> 0|-1; 5 -> clip -> 7; 0.3 -> 0.6 -> 1 */
    a.bit_length = 4;
    static const float t35[1] = {3.5f}, t2[1] = {2.0f};
    const float *sc35[1] = {t35}, *sc2[1] = {t2};
    static const float x3[4] = {1.25f, -0.25f, 5.0f, 0.3f};
    static const float d3_0[4] = {1.0f, 0.0f, 3.5f, 0.5f}, d3_1[4] = {1.5f, -0.5f, 3.5f, 0.5f};
    a.round_type = 0;
    run_quant(__LINE__, KILN_OP_FAKE_QUANT_DEQUANT, &a, 2, D(1, 4), x3, 1, sc35, sn, d3_0);
    a.round_type = 1;
    run_quant(__LINE__, KILN_OP_FAKE_QUANT_DEQUANT, &a, 2, D(1, 4), x3, 1, sc35, sn, d3_1);

    /* fake_dequant: x * scale / max_range = x * 2 / 4 */
    a = kiln_attrs_default();
    a.max_range = 4.0f;
    static const float x4[2] = {3.0f, -5.0f}, d4[2] = {1.5f, -2.5f};
    run_quant(__LINE__, KILN_OP_FAKE_DEQUANT, &a, 2, D(1, 2), x4, 1, sc2, sn, d4);

    /* channel dequant, one scale along quant_axis 0 of [2,3]: row c * s_c/127 */
    a = kiln_attrs_default();
    a.axis = 0;
    a.n_quant_bits = 1;
    a.quant_bits[0] = 8;
    static const float x5[6] = {1, -2, 3, 4, 5, -6};
    static const float s5[2] = {127.0f, 254.0f};
    const float *sc5[1] = {s5};
    int64_t sn5[1] = {2};
    static const float d5[6] = {1, -2, 3, 8, 10, -12};
    run_quant(__LINE__, KILN_OP_FAKE_CHANNEL_DEQUANT, &a, 2, D(2, 3), x5, 1, sc5, sn5, d5);
    /* quant_axis 1 of [3,2]: column c */
    a.axis = 1;
    static const float d5b[6] = {1, -4, 3, 8, 5, -12};
    run_quant(__LINE__, KILN_OP_FAKE_CHANNEL_DEQUANT, &a, 2, D(3, 2), x5, 1, sc5, sn5, d5b);
    /* two scales, [1,2,3]: x * s1[c] * s2 / (127*127), s2 = 381 -> c0: x*3, c1: x*6 */
    a.axis = 0; /* ignored with two scales: channel is axis 1 */
    a.n_quant_bits = 2;
    a.quant_bits[0] = a.quant_bits[1] = 8;
    static const float s6[1] = {381.0f};
    const float *sc6[2] = {s5, s6};
    int64_t sn6[2] = {2, 1};
    static const float d6[6] = {3, -6, 9, 24, 30, -36};
    run_quant(__LINE__, KILN_OP_FAKE_CHANNEL_DEQUANT, &a, 3, D(1, 2, 3), x5, 2, sc6, sn6, d6);

    /* channel quant-dequant, quant_axis 0 of [2,3]:
     * row 0 T=254: x/2 -> {127, 2.5, -1.5}: type0 {127,2,-2}, type1 {127,3,-2}; *2
     * row 1 T=1: x*127 -> {127, 31.75, -63.5}: {127, 32, -64}, /127 */
    a = kiln_attrs_default();
    a.axis = 0;
    static const float x7[6] = {254.0f, 5.0f, -3.0f, 1.0f, 0.25f, -0.5f};
    static const float d7_0[6] = {254, 4, -4, 1.0f, 32.0f / 127, -64.0f / 127};
    static const float d7_1[6] = {254, 6, -4, 1.0f, 32.0f / 127, -64.0f / 127};
    a.round_type = 0;
    run_quant(__LINE__, KILN_OP_FAKE_CHANNEL_QUANT_DEQUANT, &a, 2, D(2, 3), x7, 0, sc, sn, d7_0);
    a.round_type = 1;
    run_quant(__LINE__, KILN_OP_FAKE_CHANNEL_QUANT_DEQUANT, &a, 2, D(2, 3), x7, 0, sc, sn, d7_1);
    /* quant_axis 1 of [3,2]: columns {254,-3,0.25} T=254 and {5,1,-0.5} T=5:
     * col0 x/2 -> {127,-1.5,0.125} -> {127,-2,0}; *2 -> {254,-4,0}
     * col1 x*127/5 -> {127, 25.4, -12.7} -> {127,25,-13}; *5/127 */
    a.axis = 1;
    static const float d8[6] = {254, 5, -4, 125.0f / 127, 0, -65.0f / 127};
    a.round_type = 0;
    run_quant(__LINE__, KILN_OP_FAKE_CHANNEL_QUANT_DEQUANT, &a, 2, D(3, 2), x7, 0, sc, sn, d8);
}

/* ---- errors ------------------------------------------------------------------ */

static void test_errors(void) {
    /* an i8 constant is unsupported, named in the message */
    tcase t;
    tc_init(&t);
    float x[4] = {1, 2, 3, 4};
    int32_t xi = act(&t, "x", 2, D(2, 2), x), w;
    static const int8_t w8[4] = {1, 2, 3, 4};
    KT_OK(kiln_graph_add_value(t.g, "w_int8", KILN_DT_I8, 2, D(2, 2), &w));
    kiln_graph_set_const(t.g, w, w8, sizeof w8);
    int32_t y = node(&t, KILN_OP_MATMUL, "mm_i8", 2, (const int32_t[]){xi, w}, NULL);
    KT_OK(kiln_infer_shapes(t.g));
    KT_CHECK(kiln_backend_ref.unsupported_reason(t.g, 0) != NULL, "i8 constant accepted");
    void *exec = NULL;
    kiln_backend_options o = {0, KILN_PRECISION_FP32, NULL};
    kiln_status s = kiln_backend_ref.create(t.g, &o, &exec);
    KT_CHECK(s == KILN_ERR_UNSUPPORTED, "got %s", kiln_status_string(s));
    KT_CHECK(strstr(kiln_last_error(), "mm_i8") != NULL, "%s", kiln_last_error());
    KT_CHECK(strstr(kiln_last_error(), "w_int8") != NULL, "%s", kiln_last_error());
    (void)y;
    kiln_graph_destroy(t.g);

    /* supported f32 node: no reason; batch above the built batch is rejected */
    tc_init(&t);
    xi = act(&t, "x", 2, D(2, 2), x);
    y = node(&t, KILN_OP_RELU, "relu", 1, &xi, NULL);
    if (tc_build(&t, y, &exec)) {
        KT_CHECK(kiln_backend_ref.unsupported_reason(t.g, 0) == NULL, "relu unsupported");
        KT_CHECK(kiln_backend_ref.run(exec, 3) == KILN_ERR_INVALID_ARGUMENT, "batch 3 of 2 ran");
        KT_CHECK(kiln_backend_ref.run(exec, 0) == KILN_ERR_INVALID_ARGUMENT, "batch 0 ran");
        float big[8] = {0};
        KT_CHECK(kiln_backend_ref.write_value(exec, xi, big, 8) == KILN_ERR_INVALID_ARGUMENT,
                 "oversized write accepted");
        kiln_backend_ref.destroy(exec);
    }
    kiln_graph_destroy(t.g);
}

int main(void) {
    test_conv();
    test_unbatched_activation();
    test_conv_fused();
    test_pool();
    test_global_pool();
    test_add_sum();
    test_unary();
    test_matmul();
    test_gemm();
    test_batch_norm();
    test_softmax();
    test_flatten_reshape();
    test_fake_quant();
    test_errors();
    return kt_finish("test_ref_ops");
}
