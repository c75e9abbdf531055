/*
 * test_cpu_ops.c — every op and fused op of the cpu (oneDNN) backend against
 * the ref backend on small random graphs: odd sizes and channel counts that
 * are not multiples of 16 (3, 7, 17, 33), groups/depthwise, strides 2,
 * dilations, asymmetric pads, SAME, ceil mode, fused bias + residual +
 * relu/clip, gemm with bias + relu, chains that keep oneDNN's blocked layouts
 * between ops, and runs at a batch below the built batch.
 * Tolerance: ||cpu - ref|| / ||ref|| <= 1e-5 per output, and ||ref|| > 0.
 * Also: fake-quant ops are refused with a reason, absurd thread counts fail.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "passes/passes.h"
#include "test_util.h"

extern const kiln_backend kiln_backend_cpu;

static const double TOL = 1e-5;
static uint64_t g_seed = 1000;

/* ---- graph building ------------------------------------------------------- */

static int32_t input(kiln_graph *g, const char *name, int32_t rank, const int64_t *dims) {
    int32_t id;
    kiln_graph_add_value(g, name, KILN_DT_F32, rank, dims, &id);
    kiln_graph_add_input(g, id);
    return id;
}

static int32_t cst(kiln_graph *g, const char *name, int32_t rank, const int64_t *dims, float lo,
                   float hi) {
    int32_t id;
    kiln_add_const_f32(g, name, rank, dims, NULL, &id);
    kt_fill_uniform((float *)g->values[id].data, (size_t)kiln_numel(rank, dims), g_seed++, lo, hi);
    return id;
}

/* Adds a node with a fresh output whose shape inference fills in. */
static int32_t op(kiln_graph *g, kiln_op o, int32_t nin, const int32_t *in, const kiln_attrs *a) {
    static const int64_t none[1] = {1};
    char name[64];
    snprintf(name, sizeof name, "%s_%d", kiln_op_names[o], (int)g->n_nodes);
    int32_t y, id;
    kiln_graph_add_value(g, name, KILN_DT_F32, 0, none, &y);
    KT_OK(kiln_graph_add_node(g, o, name, nin, in, 1, &y, a, &id));
    KT_OK(kiln_infer_node(g, id));
    return y;
}

static int32_t conv(kiln_graph *g, int32_t x, int64_t m, int64_t k, const kiln_attrs *a, bool bias,
                    int32_t r) {
    int64_t c = g->values[x].dims[1];
    int64_t wd[4] = {m, c / a->group, k, k};
    float s = 1.0f / sqrtf((float)(c / a->group * k * k));
    int32_t in[4] = {x, cst(g, "w", 4, wd, -s, s), KILN_NO_VALUE, r};
    if (bias) in[2] = cst(g, "b", 1, &m, -0.5f, 0.5f);
    return op(g, KILN_OP_CONV, r != KILN_NO_VALUE ? 4 : (bias ? 3 : 2), in, a);
}

static kiln_attrs conv_attrs(int64_t stride, int64_t pad, int64_t dil, int64_t group) {
    kiln_attrs a = kiln_attrs_default();
    a.strides[0] = a.strides[1] = stride;
    for (int i = 0; i < 4; i++)
        a.pads[i] = pad;
    a.dilations[0] = a.dilations[1] = dil;
    a.group = group;
    return a;
}

/* ---- comparing ------------------------------------------------------------ */

/* Runs g on ref and cpu at `batch` (<= the built batch) with the same random
 * inputs and compares every graph output. */
static void check(kiln_graph *g, const char *what, int64_t batch, int threads) {
    KT_OK(kiln_graph_verify(g));
    kiln_backend_options bo = {threads, KILN_PRECISION_FP32, NULL};
    void *re = NULL, *ce = NULL;
    KT_OK(kiln_backend_ref.create(g, &bo, &re));
    kiln_status s = kiln_backend_cpu.create(g, &bo, &ce);
    KT_CHECK(s == KILN_OK, "%s: cpu create: %s", what, kiln_last_error());
    if (!re || !ce) {
        if (re) kiln_backend_ref.destroy(re);
        if (ce) kiln_backend_cpu.destroy(ce);
        return;
    }
    for (int rep = 0; rep < 2; rep++) { /* twice: the second run reuses everything */
        for (int32_t i = 0; i < g->n_inputs; i++) {
            const kiln_value *v = &g->values[g->inputs[i]];
            size_t n = (size_t)(kiln_numel(v->rank, v->dims) / v->dims[0] * batch);
            float *x = malloc(n * sizeof(float));
            kt_fill_uniform(x, n, g_seed + 77 * (uint64_t)i + (uint64_t)rep, -1.0f, 1.0f);
            KT_OK(kiln_backend_ref.write_value(re, g->inputs[i], x, n));
            KT_OK(kiln_backend_cpu.write_value(ce, g->inputs[i], x, n));
            free(x);
        }
        KT_OK(kiln_backend_ref.run(re, batch));
        s = kiln_backend_cpu.run(ce, batch);
        KT_CHECK(s == KILN_OK, "%s: cpu run: %s", what, kiln_last_error());
        for (int32_t i = 0; i < g->n_outputs; i++) {
            const kiln_value *v = &g->values[g->outputs[i]];
            size_t n = (size_t)kiln_numel(v->rank, v->dims);
            if (v->rank > 0 && v->dims[0] == g->values[g->inputs[0]].dims[0])
                n = n / (size_t)v->dims[0] * (size_t)batch;
            float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
            KT_OK(kiln_backend_ref.read_value(re, g->outputs[i], a, n));
            KT_OK(kiln_backend_cpu.read_value(ce, g->outputs[i], b, n));
            double norm = 0;
            for (size_t k = 0; k < n; k++)
                norm += (double)a[k] * a[k];
            double e = kt_rel_err(b, a, n);
            KT_CHECK(norm > 0, "%s: output %d of the ref is all zero", what, (int)i);
            KT_CHECK(e <= TOL, "%s (batch %lld, output %s): rel err %g > %g", what,
                     (long long)batch, v->name, e, TOL);
            free(a);
            free(b);
        }
    }
    kiln_backend_ref.destroy(re);
    kiln_backend_cpu.destroy(ce);
}

static kiln_graph *new_graph(void) {
    kiln_graph *g;
    kiln_graph_create(&g);
    return g;
}

static void done(kiln_graph *g, const char *what, int64_t batch) {
    check(g, what, batch, 0);
    kiln_graph_destroy(g);
}

/* ---- cases ------------------------------------------------------------------ */

static void test_conv_variants(void) {
    struct {
        const char *what;
        int64_t n, c, h, w, m, k, stride, pad, dil, group;
        kiln_auto_pad ap;
        bool bias;
        kiln_act act;
    } cases[] = {
        {"conv 3->7 3x3 p1 bias", 2, 3, 11, 9, 7, 3, 1, 1, 1, 1, KILN_PAD_EXPLICIT, true, 0},
        {"conv 17->33 3x3 s2 relu", 1, 17, 13, 15, 33, 3, 2, 1, 1, 1, KILN_PAD_EXPLICIT, true,
         KILN_ACT_RELU},
        {"conv 7->17 3x3 dil2 p2", 2, 7, 12, 10, 17, 3, 1, 2, 2, 1, KILN_PAD_EXPLICIT, false, 0},
        {"depthwise 17 3x3 s2 relu6", 2, 17, 15, 13, 17, 3, 2, 1, 1, 17, KILN_PAD_EXPLICIT, true,
         KILN_ACT_CLIP},
        {"depthwise 32 3x3 s1", 1, 32, 14, 14, 32, 3, 1, 1, 1, 32, KILN_PAD_EXPLICIT, true, 0},
        {"grouped 9->12 g3 1x1", 2, 9, 7, 7, 12, 1, 1, 0, 1, 3, KILN_PAD_EXPLICIT, true, 0},
        {"conv 5x5 SAME_UPPER s2", 2, 3, 17, 13, 7, 5, 2, 0, 1, 1, KILN_PAD_SAME_UPPER, true, 0},
        {"conv 4x4 SAME_LOWER s2", 1, 7, 11, 12, 5, 4, 2, 0, 1, 1, KILN_PAD_SAME_LOWER, true, 0},
        {"conv 3x3 VALID s2", 2, 3, 10, 11, 7, 3, 2, 5, 1, 1, KILN_PAD_VALID, false, 0},
        {"conv 7x7 s2 p3 (resnet stem)", 1, 3, 33, 31, 16, 7, 2, 3, 1, 1, KILN_PAD_EXPLICIT, true,
         KILN_ACT_RELU},
        {"conv 1x1 64->33", 2, 64, 9, 9, 33, 1, 1, 0, 1, 1, KILN_PAD_EXPLICIT, true, KILN_ACT_RELU},
        {"conv 32->48 3x3 s1 p1 relu (winograd, nChw16c at batch 2)", 2, 32, 14, 13, 48, 3, 1, 1, 1,
         1, KILN_PAD_EXPLICIT, true, KILN_ACT_RELU},
        {"conv 17->33 3x3 s1 p1 (winograd candidate)", 2, 17, 9, 11, 33, 3, 1, 1, 1, 1,
         KILN_PAD_EXPLICIT, false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kiln_graph *g = new_graph();
        int64_t xd[4] = {cases[i].n, cases[i].c, cases[i].h, cases[i].w};
        int32_t x = input(g, "x", 4, xd);
        kiln_attrs a = conv_attrs(cases[i].stride, cases[i].pad, cases[i].dil, cases[i].group);
        a.auto_pad = cases[i].ap;
        a.act = cases[i].act;
        a.clip_min = 0.0f;
        a.clip_max = 0.25f; /* small, so the clip really bites */
        int32_t y = conv(g, x, cases[i].m, cases[i].k, &a, cases[i].bias, KILN_NO_VALUE);
        kiln_graph_add_output(g, y);
        check(g, cases[i].what, 1, 0); /* the batch-1 plan: oneDNN's own layouts */
        done(g, cases[i].what, cases[i].n);
    }
    /* asymmetric pads */
    kiln_graph *g = new_graph();
    int64_t xd[4] = {2, 17, 12, 13};
    int32_t x = input(g, "x", 4, xd);
    kiln_attrs a = conv_attrs(2, 0, 1, 1);
    a.pads[0] = 0, a.pads[1] = 1, a.pads[2] = 2, a.pads[3] = 1;
    kiln_graph_add_output(g, conv(g, x, 33, 3, &a, true, KILN_NO_VALUE));
    done(g, "conv asymmetric pads 0,1,2,1 s2", 2);
}

/* conv -> conv with the first output as residual of a later conv, in place and
 * not (the residual also being a graph output forbids in place). */
static void test_residual(bool r_is_output, kiln_act act, int64_t mid) {
    kiln_graph *g = new_graph();
    int64_t xd[4] = {2, 17, 10, 11};
    int32_t x = input(g, "x", 4, xd);
    kiln_attrs a = conv_attrs(1, 1, 1, 1);
    int32_t r = conv(g, x, 33, 3, &a, true, KILN_NO_VALUE);
    a.act = KILN_ACT_RELU;
    kiln_attrs a1 = conv_attrs(1, 0, 1, 1);
    a1.act = KILN_ACT_RELU;
    int32_t t = conv(g, r, mid, 1, &a1, true, KILN_NO_VALUE);
    kiln_attrs b = conv_attrs(1, 1, 1, 1);
    b.act = act;
    b.clip_min = -0.1f;
    b.clip_max = 0.3f;
    int32_t y = conv(g, t, 33, 3, &b, true, r);
    kiln_attrs c = conv_attrs(2, 1, 1, 1);
    c.act = KILN_ACT_RELU;
    int32_t z = conv(g, y, 7, 3, &c, false, KILN_NO_VALUE);
    kiln_graph_add_output(g, z);
    if (r_is_output) kiln_graph_add_output(g, r);
    char what[96];
    snprintf(what, sizeof what, "conv + bias + residual + %s%s, %lld mid channels",
             act == KILN_ACT_RELU   ? "relu"
             : act == KILN_ACT_CLIP ? "clip"
                                    : "none",
             r_is_output ? " (residual is an output)" : "", (long long)mid);
    check(g, what, 1, 0);
    done(g, what, 2);
}

static void test_pools(void) {
    struct {
        const char *what;
        kiln_op op;
        int64_t k, s, pad, dil;
        bool ceil, include;
        kiln_auto_pad ap;
    } cases[] = {
        {"max 3x3 s2 p1", KILN_OP_MAX_POOL, 3, 2, 1, 1, false, false, KILN_PAD_EXPLICIT},
        {"max 3x3 s2 p0 ceil", KILN_OP_MAX_POOL, 3, 2, 0, 1, true, false, KILN_PAD_EXPLICIT},
        {"max 2x2 s2 dil2", KILN_OP_MAX_POOL, 2, 2, 0, 2, false, false, KILN_PAD_EXPLICIT},
        {"max 3x3 SAME_UPPER s2", KILN_OP_MAX_POOL, 3, 2, 0, 1, false, false, KILN_PAD_SAME_UPPER},
        {"avg 3x3 s2 p1 exclude", KILN_OP_AVG_POOL, 3, 2, 1, 1, false, false, KILN_PAD_EXPLICIT},
        {"avg 3x3 s2 p1 include", KILN_OP_AVG_POOL, 3, 2, 1, 1, false, true, KILN_PAD_EXPLICIT},
        {"avg 3x3 s2 p1 ceil exclude", KILN_OP_AVG_POOL, 3, 2, 1, 1, true, false,
         KILN_PAD_EXPLICIT},
        {"avg 3x3 s2 p1 ceil include", KILN_OP_AVG_POOL, 3, 2, 1, 1, true, true, KILN_PAD_EXPLICIT},
        {"avg 2x2 s1 p0 include", KILN_OP_AVG_POOL, 2, 1, 0, 1, false, true, KILN_PAD_EXPLICIT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int after_conv = 0; after_conv < 2; after_conv++) {
            kiln_graph *g = new_graph();
            int64_t xd[4] = {2, 17, 12, 11};
            int32_t x = input(g, "x", 4, xd);
            if (after_conv) { /* blocked layout from the conv */
                kiln_attrs ca = conv_attrs(1, 1, 1, 1);
                x = conv(g, x, 33, 3, &ca, true, KILN_NO_VALUE);
            }
            kiln_attrs a = kiln_attrs_default();
            a.kernel[0] = a.kernel[1] = cases[i].k;
            a.strides[0] = a.strides[1] = cases[i].s;
            for (int j = 0; j < 4; j++)
                a.pads[j] = cases[i].pad;
            a.dilations[0] = a.dilations[1] = cases[i].dil;
            a.ceil_mode = cases[i].ceil;
            a.count_include_pad = cases[i].include;
            a.auto_pad = cases[i].ap;
            kiln_graph_add_output(g, op(g, cases[i].op, 1, &x, &a));
            char what[128];
            snprintf(what, sizeof what, "%s%s", cases[i].what, after_conv ? " after conv" : "");
            done(g, what, 2);
        }
    }
    for (int m = 0; m < 2; m++) {
        kiln_graph *g = new_graph();
        int64_t xd[4] = {3, 7, 9, 5};
        int32_t x = input(g, "x", 4, xd);
        kiln_attrs ca = conv_attrs(1, 1, 1, 1);
        x = conv(g, x, 33, 3, &ca, true, KILN_NO_VALUE);
        kiln_graph_add_output(
            g, op(g, m ? KILN_OP_GLOBAL_MAX_POOL : KILN_OP_GLOBAL_AVG_POOL, 1, &x, NULL));
        done(g, m ? "global max pool" : "global avg pool", 3);
    }
}

static void test_gemm(void) {
    for (int variant = 0; variant < 7; variant++) {
        kiln_graph *g = new_graph();
        int64_t ad[2] = {5, 33}, n = 17;
        kiln_attrs a = kiln_attrs_default();
        const char *what = "gemm";
        int32_t A = input(g, "a", 2, ad), B, C = KILN_NO_VALUE;
        int64_t bd[2] = {33, n}, btd[2] = {n, 33}, cd2[2] = {5, n};
        switch (variant) {
        case 0:
            what = "gemm + bias + relu";
            B = cst(g, "B", 2, bd, -0.3f, 0.3f);
            C = cst(g, "C", 1, &n, -0.5f, 0.5f);
            a.act = KILN_ACT_RELU;
            break;
        case 1:
            what = "gemm trans_b + bias";
            B = cst(g, "B", 2, btd, -0.3f, 0.3f);
            C = cst(g, "C", 1, &n, -0.5f, 0.5f);
            a.trans_b = true;
            break;
        case 2:
            what = "gemm alpha 0.5 beta 2 + clip";
            B = cst(g, "B", 2, bd, -0.3f, 0.3f);
            C = cst(g, "C", 1, &n, -0.5f, 0.5f);
            a.alpha = 0.5f;
            a.beta = 2.0f;
            a.act = KILN_ACT_CLIP;
            a.clip_min = -0.2f;
            a.clip_max = 0.4f;
            break;
        case 3:
            what = "gemm full C [M,N] alpha 1.5 (matmul path)";
            B = cst(g, "B", 2, bd, -0.3f, 0.3f);
            C = cst(g, "C", 2, cd2, -0.5f, 0.5f);
            a.alpha = 1.5f;
            a.beta = 0.5f;
            break;
        case 4: {
            what = "gemm trans_a (matmul path)";
            kiln_graph_destroy(g);
            g = new_graph();
            int64_t atd[2] = {33, 5};
            A = input(g, "a", 2, atd);
            B = cst(g, "B", 2, bd, -0.3f, 0.3f);
            a.trans_a = true;
            break;
        }
        case 5:
            what = "gemm no bias";
            B = cst(g, "B", 2, bd, -0.3f, 0.3f);
            break;
        default:
            what = "gemm scalar C";
            B = cst(g, "B", 2, bd, -0.3f, 0.3f);
            {
                int64_t one = 1;
                C = cst(g, "C", 1, &one, 0.5f, 0.7f);
            }
            break;
        }
        int32_t in[3] = {A, B, C};
        kiln_graph_add_output(g, op(g, KILN_OP_GEMM, C != KILN_NO_VALUE ? 3 : 2, in, &a));
        done(g, what, variant == 4 ? 33 : 5);
    }
    /* FC head as in ResNet: conv -> global pool -> flatten -> gemm -> softmax, batch 3 of 4 */
    kiln_graph *g = new_graph();
    int64_t xd[4] = {4, 7, 6, 5}, n = 10;
    int32_t x = input(g, "x", 4, xd);
    kiln_attrs ca = conv_attrs(1, 1, 1, 1);
    ca.act = KILN_ACT_RELU;
    x = conv(g, x, 48, 3, &ca, true, KILN_NO_VALUE);
    x = op(g, KILN_OP_GLOBAL_AVG_POOL, 1, &x, NULL);
    kiln_attrs fa = kiln_attrs_default();
    fa.axis = 1;
    fa.coerce_2d = true;
    x = op(g, KILN_OP_FLATTEN, 1, &x, &fa);
    int64_t wd[2] = {48, n};
    int32_t in[3] = {x, cst(g, "fc_w", 2, wd, -0.5f, 0.5f), cst(g, "fc_b", 1, &n, -0.1f, 0.1f)};
    x = op(g, KILN_OP_GEMM, 3, in, NULL);
    kiln_attrs sa = kiln_attrs_default();
    sa.axis = -1;
    kiln_graph_add_output(g, op(g, KILN_OP_SOFTMAX, 1, &x, &sa));
    check(g, "conv-pool-flatten-fc-softmax batch 3 of 4", 3, 0);
    check(g, "conv-pool-flatten-fc-softmax batch 1 of 4", 1, 0);
    check(g, "conv-pool-flatten-fc-softmax batch 4, 1 thread", 4, 1);
    kiln_graph_destroy(g);
}

static void test_matmul(void) {
    struct {
        const char *what;
        int32_t ra, rb;
        int64_t ad[4], bd[4];
        bool ta, tb, b_const;
        float alpha;
    } cases[] = {
        {"matmul 2-D const B", 2, 2, {6, 7}, {7, 5}, false, false, true, 1.0f},
        {"matmul batched x 2-D", 3, 2, {3, 5, 7}, {7, 4}, false, false, true, 1.0f},
        {"matmul broadcast batch", 4, 3, {2, 3, 5, 7}, {3, 7, 6}, false, false, false, 1.0f},
        {"matmul trans_a trans_b alpha", 3, 3, {2, 7, 5}, {2, 6, 7}, true, true, false, 0.5f},
        {"matmul 1-D B", 3, 1, {2, 5, 7}, {7}, false, false, true, 1.0f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kiln_graph *g = new_graph();
        int32_t A = input(g, "a", cases[i].ra, cases[i].ad);
        int32_t B;
        if (cases[i].b_const) {
            B = cst(g, "b", cases[i].rb, cases[i].bd, -0.5f, 0.5f);
        } else {
            kiln_graph_add_value(g, "b", KILN_DT_F32, cases[i].rb, cases[i].bd, &B);
            kiln_graph_add_input(g, B);
        }
        kiln_attrs a = kiln_attrs_default();
        a.trans_a = cases[i].ta;
        a.trans_b = cases[i].tb;
        a.alpha = cases[i].alpha;
        int32_t in[2] = {A, B};
        kiln_graph_add_output(g, op(g, KILN_OP_MATMUL, 2, in, &a));
        done(g, cases[i].what, cases[i].ad[0]);
    }
}

static void test_elementwise(void) {
    /* after a conv (blocked layout): relu, clip, scale both ways, batch_norm, add forms */
    for (int v = 0; v < 11; v++) {
        kiln_graph *g = new_graph();
        int64_t xd[4] = {2, 7, 9, 10}, c = 17;
        int32_t x = input(g, "x", 4, xd);
        kiln_attrs ca = conv_attrs(1, 1, 1, 1), c1 = conv_attrs(1, 0, 1, 1);
        int32_t y = conv(g, x, c, 3, &ca, true, KILN_NO_VALUE);
        kiln_attrs a = kiln_attrs_default();
        const char *what = "";
        int32_t out = KILN_NO_VALUE;
        switch (v) {
        case 0:
            what = "relu after conv";
            out = op(g, KILN_OP_RELU, 1, &y, NULL);
            break;
        case 1:
            what = "clip after conv";
            a.clip_min = -0.2f;
            a.clip_max = 0.3f;
            out = op(g, KILN_OP_CLIP, 1, &y, &a);
            break;
        case 2:
            what = "scale after conv";
            a.alpha = 1.5f;
            a.beta = -0.25f;
            out = op(g, KILN_OP_SCALE, 1, &y, &a);
            break;
        case 3:
            what = "scale bias before scale";
            a.alpha = -2.0f;
            a.beta = 0.5f;
            a.bias_after_scale = false;
            out = op(g, KILN_OP_SCALE, 1, &y, &a);
            break;
        case 4: {
            what = "batch_norm after conv";
            a.epsilon = 1e-3f;
            int32_t in[5] = {y, cst(g, "sc", 1, &c, 0.5f, 1.5f), cst(g, "bi", 1, &c, -0.3f, 0.3f),
                             cst(g, "me", 1, &c, -0.2f, 0.2f), cst(g, "va", 1, &c, 0.5f, 2.0f)};
            out = op(g, KILN_OP_BATCH_NORM, 5, in, &a);
            break;
        }
        case 5: {
            what = "add same shape + relu (two convs)";
            int32_t z = conv(g, x, c, 1, &c1, true, KILN_NO_VALUE);
            int32_t in[2] = {y, z};
            a.act = KILN_ACT_RELU;
            out = op(g, KILN_OP_ADD, 2, in, &a);
            break;
        }
        case 6: {
            what = "add Paddle axis=1 bias";
            a.axis = 1;
            int32_t in[2] = {y, cst(g, "bias", 1, &c, -0.5f, 0.5f)};
            out = op(g, KILN_OP_ADD, 2, in, &a);
            break;
        }
        case 7: {
            what = "add numpy [1,C,1,1] + clip";
            int64_t bd[4] = {1, c, 1, 1};
            int32_t in[2] = {cst(g, "bias", 4, bd, -0.5f, 0.5f), y}; /* broadcast side first */
            a.act = KILN_ACT_CLIP;
            a.clip_min = -0.1f;
            a.clip_max = 0.2f;
            out = op(g, KILN_OP_ADD, 2, in, &a);
            break;
        }
        case 8: {
            what = "add both sides broadcast (own code)";
            int64_t d1[4] = {1, c, 1, 10};
            int32_t gp = op(g, KILN_OP_GLOBAL_AVG_POOL, 1, &y, NULL); /* [2,C,1,1] */
            int32_t in[2] = {gp, cst(g, "row", 4, d1, -0.5f, 0.5f)};
            a.act = KILN_ACT_RELU;
            out = op(g, KILN_OP_ADD, 2, in, &a);
            break;
        }
        case 9: {
            what = "sum of three";
            int32_t z = conv(g, x, c, 1, &c1, true, KILN_NO_VALUE);
            int32_t w = op(g, KILN_OP_RELU, 1, &y, NULL);
            int32_t in[3] = {y, z, w};
            out = op(g, KILN_OP_SUM, 3, in, NULL);
            break;
        }
        default: {
            what = "sum with broadcast (own code)";
            int64_t bd[4] = {1, c, 1, 1};
            int32_t in[3] = {y, cst(g, "k", 4, bd, -0.5f, 0.5f), y};
            out = op(g, KILN_OP_SUM, 3, in, NULL);
            break;
        }
        }
        kiln_graph_add_output(g, out);
        done(g, what, 2);
    }
    /* batch_norm on a plain 2-D input; softmax forms; views */
    {
        kiln_graph *g = new_graph();
        int64_t xd[2] = {3, 33}, c = 33;
        int32_t x = input(g, "x", 2, xd);
        kiln_attrs a = kiln_attrs_default();
        int32_t in[5] = {x, cst(g, "sc", 1, &c, 0.5f, 1.5f), cst(g, "bi", 1, &c, -0.3f, 0.3f),
                         cst(g, "me", 1, &c, -0.2f, 0.2f), cst(g, "va", 1, &c, 0.5f, 2.0f)};
        kiln_graph_add_output(g, op(g, KILN_OP_BATCH_NORM, 5, in, &a));
        done(g, "batch_norm 2-D", 3);
    }
    for (int v = 0; v < 3; v++) {
        kiln_graph *g = new_graph();
        int64_t xd[4] = {2, 7, 5, 3};
        int32_t x = input(g, "x", 4, xd);
        kiln_attrs ca = conv_attrs(1, 1, 1, 1);
        x = conv(g, x, 17, 3, &ca, true, KILN_NO_VALUE);
        kiln_attrs a = kiln_attrs_default();
        a.axis = v == 0 ? 1 : v == 1 ? -1 : 1;
        a.coerce_2d = v == 2;
        kiln_graph_add_output(g, op(g, KILN_OP_SOFTMAX, 1, &x, &a));
        done(g,
             v == 0   ? "softmax axis 1 (4-D)"
             : v == 1 ? "softmax axis -1"
                      : "softmax coerce_2d",
             2);
    }
    {
        kiln_graph *g = new_graph();
        int64_t xd[4] = {2, 7, 5, 3};
        int32_t x = input(g, "x", 4, xd);
        kiln_attrs ca = conv_attrs(1, 1, 1, 1);
        x = conv(g, x, 17, 3, &ca, true, KILN_NO_VALUE);
        int32_t id = op(g, KILN_OP_IDENTITY, 1, &x, NULL);
        kiln_attrs fa = kiln_attrs_default();
        fa.axis = 1;
        fa.coerce_2d = true;
        int32_t f = op(g, KILN_OP_FLATTEN, 1, &id, &fa); /* blocked -> dense: a reorder */
        kiln_attrs ra = kiln_attrs_default();
        ra.shape_rank = 3;
        ra.shape[0] = 0, ra.shape[1] = 17, ra.shape[2] = -1;
        int32_t r = op(g, KILN_OP_RESHAPE, 1, &f, &ra); /* dense: an alias */
        int32_t rr = op(g, KILN_OP_RELU, 1, &r, NULL);
        kiln_graph_add_output(g, rr);
        kiln_graph_add_output(g, f);
        done(g, "identity/flatten/reshape views", 2);
    }
}

/* A small ResNet-like net built at batch 4, run at 4, 3 and 1. */
static void test_small_net(void) {
    kiln_graph *g = new_graph();
    int64_t xd[4] = {4, 3, 23, 21};
    int32_t x = input(g, "x", 4, xd);
    kiln_attrs a = conv_attrs(2, 3, 1, 1);
    a.act = KILN_ACT_RELU;
    x = conv(g, x, 16, 7, &a, true, KILN_NO_VALUE);
    kiln_attrs pa = kiln_attrs_default();
    pa.kernel[0] = pa.kernel[1] = 3;
    pa.strides[0] = pa.strides[1] = 2;
    for (int i = 0; i < 4; i++)
        pa.pads[i] = 1;
    x = op(g, KILN_OP_MAX_POOL, 1, &x, &pa);
    for (int blk = 0; blk < 2; blk++) {
        kiln_attrs b1 = conv_attrs(1, 0, 1, 1), b2 = conv_attrs(1, 1, 1, 1);
        b1.act = b2.act = KILN_ACT_RELU;
        int32_t sc = blk == 0 ? conv(g, x, 33, 1, &b1, true, KILN_NO_VALUE) : x;
        int32_t t = conv(g, x, 8, 1, &b1, true, KILN_NO_VALUE);
        t = conv(g, t, 8, 3, &b2, true, KILN_NO_VALUE);
        kiln_attrs b3 = conv_attrs(1, 0, 1, 1);
        b3.act = KILN_ACT_RELU;
        x = conv(g, t, 33, 1, &b3, true, sc);
    }
    x = op(g, KILN_OP_GLOBAL_AVG_POOL, 1, &x, NULL);
    kiln_attrs fa = kiln_attrs_default();
    fa.axis = 1;
    fa.coerce_2d = true;
    x = op(g, KILN_OP_FLATTEN, 1, &x, &fa);
    int64_t wd[2] = {33, 10}, n = 10;
    int32_t in[3] = {x, cst(g, "fc_w", 2, wd, -0.5f, 0.5f), cst(g, "fc_b", 1, &n, -0.1f, 0.1f)};
    x = op(g, KILN_OP_GEMM, 3, in, NULL);
    kiln_attrs sa = kiln_attrs_default();
    kiln_graph_add_output(g, op(g, KILN_OP_SOFTMAX, 1, &x, &sa));
    for (int64_t b = 4; b >= 1; b--) {
        char what[64];
        snprintf(what, sizeof what, "small resnet, batch %lld of 4", (long long)b);
        check(g, what, b, 0);
    }
    kiln_graph_destroy(g);
}

/* MobileNetV1-style: depthwise 3x3 (s1, s2) + relu6, pointwise 1x1 + relu6,
 * 7x7 average pool, flatten, fc, softmax; built at batch 4, run at 4, 3, 1. */
static void test_mobilenet_block(void) {
    kiln_graph *g = new_graph();
    int64_t xd[4] = {4, 3, 30, 30};
    int32_t x = input(g, "x", 4, xd);
    kiln_attrs a = conv_attrs(2, 1, 1, 1);
    a.act = KILN_ACT_CLIP;
    a.clip_min = 0.0f;
    a.clip_max = 6.0f;
    x = conv(g, x, 32, 3, &a, true, KILN_NO_VALUE);
    int64_t ch[3] = {32, 64, 64};
    for (int i = 0; i < 2; i++) {
        kiln_attrs dw = conv_attrs(i == 0 ? 1 : 2, 1, 1, ch[i]), pw = conv_attrs(1, 0, 1, 1);
        dw.act = pw.act = KILN_ACT_CLIP;
        dw.clip_min = pw.clip_min = 0.0f;
        dw.clip_max = pw.clip_max = 6.0f;
        x = conv(g, x, ch[i], 3, &dw, true, KILN_NO_VALUE);
        x = conv(g, x, ch[i + 1], 1, &pw, true, KILN_NO_VALUE);
    }
    kiln_attrs pa = kiln_attrs_default(); /* [4,64,8,8] -> 7x7 avg pool, stride 1 */
    pa.kernel[0] = pa.kernel[1] = 7;
    x = op(g, KILN_OP_AVG_POOL, 1, &x, &pa);
    kiln_attrs fa = kiln_attrs_default();
    fa.axis = 1;
    x = op(g, KILN_OP_FLATTEN, 1, &x, &fa);
    int64_t wd[2] = {256, 10}, n = 10;
    int32_t in[3] = {x, cst(g, "fc_w", 2, wd, -0.2f, 0.2f), cst(g, "fc_b", 1, &n, -0.1f, 0.1f)};
    x = op(g, KILN_OP_GEMM, 3, in, NULL);
    kiln_graph_add_output(g, op(g, KILN_OP_SOFTMAX, 1, &x, NULL));
    int64_t batches[3] = {4, 3, 1};
    for (int i = 0; i < 3; i++) {
        char what[64];
        snprintf(what, sizeof what, "mobilenet block, batch %lld of 4", (long long)batches[i]);
        check(g, what, batches[i], 0);
    }
    kiln_graph_destroy(g);
}

static void test_refusals(void) {
    kiln_graph *g = new_graph();
    int64_t xd[2] = {2, 5};
    int32_t x = input(g, "x", 2, xd);
    kiln_attrs a = kiln_attrs_default();
    int32_t y = op(g, KILN_OP_FAKE_QUANT_DEQUANT, 1, &x, &a);
    kiln_graph_add_output(g, y);
    const char *why = kiln_backend_cpu.unsupported_reason(g, 0);
    KT_CHECK(why && strstr(why, "fake-quant"), "fake-quant refused with a reason: %s",
             why ? why : "(null)");
    void *ce = NULL;
    kiln_backend_options bo = {0, KILN_PRECISION_FP32, NULL};
    KT_CHECK(kiln_backend_cpu.create(g, &bo, &ce) == KILN_ERR_UNSUPPORTED && !ce,
             "create fails on an unsupported node");
    kiln_graph_destroy(g);

    g = new_graph();
    int64_t d4[4] = {1, 3, 5, 5};
    x = input(g, "x", 4, d4);
    kiln_graph_add_output(g, op(g, KILN_OP_RELU, 1, &x, NULL));
    bo.threads = 100000;
    kiln_status s = kiln_backend_cpu.create(g, &bo, &ce);
    KT_CHECK(s == KILN_ERR_INVALID_ARGUMENT && !ce && strstr(kiln_last_error(), "threads"),
             "threads 100000 -> %s: %s", kiln_status_string(s), kiln_last_error());
    bo.threads = -1;
    s = kiln_backend_cpu.create(g, &bo, &ce);
    KT_CHECK(s == KILN_ERR_INVALID_ARGUMENT && !ce, "threads -1 -> %s", kiln_status_string(s));
    bo.threads = 1;
    KT_OK(kiln_backend_cpu.create(g, &bo, &ce));
    if (ce) {
        float buf[75];
        KT_CHECK(kiln_backend_cpu.run(ce, 2) == KILN_ERR_INVALID_ARGUMENT, "batch 2 > built 1");
        KT_CHECK(kiln_backend_cpu.write_value(ce, x, buf, 76) == KILN_ERR_INVALID_ARGUMENT,
                 "writing past the input");
        kiln_backend_cpu.destroy(ce);
    }
    check(g, "relu with 1 thread", 1, 1);
    kiln_graph_destroy(g);
}

int main(void) {
    test_conv_variants();
    test_residual(false, KILN_ACT_RELU, 7);
    test_residual(false, KILN_ACT_CLIP, 7);
    test_residual(true, KILN_ACT_RELU, 7);
    test_residual(false, KILN_ACT_NONE, 7);
    test_residual(false, KILN_ACT_RELU, 32); /* winograd + sum post-op, nChw16c at batch 2 */
    test_residual(true, KILN_ACT_CLIP, 48);
    test_pools();
    test_gemm();
    test_matmul();
    test_elementwise();
    test_small_net();
    test_mobilenet_block();
    test_refusals();
    return kt_finish("test_cpu_ops");
}
