/*
 * test_cpu_int8.c — the cpu backend's INT8 nodes against the ref backend's
 * INT8 oracle (ref_int8.c): small graphs (conv + bias + relu chains with odd
 * channel counts 3/7/17/33, stride 2, depthwise and grouped convs, residuals
 * summed in place and copied, s8 residual into u8 output, max/avg/global
 * pools with a threshold change, INT8 add, gemm with and without trans_b, a
 * tensor left without a threshold so FP32 and INT8 nodes mix, INT8 graph
 * outputs) and the generated ResNet50 after the passes.
 * Thresholds: max|x| of each tensor from an FP32 run times 1, 0.9 or 0.75 (by
 * value id, so some tensors saturate), set with kiln_pass_assign_precision.
 * Tolerance: ||cpu_int8 - ref_int8|| / ||ref_int8|| <= 1e-3 per output of
 * the small graphs and per ResNet50 node run alone on ref's inputs (the
 * issue's bound; both sides compute the same integers, differences come only
 * from float32 rounding near a rounding tie); the whole ResNet50 end to end
 * <= 1e-3 with the same top-1 (see test_resnet50).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "model/fill.h"
#include "model/resnet50.h"
#include "passes/passes.h"
#include "test_util.h"

extern const kiln_backend kiln_backend_cpu;

static const double TOL = 1e-3;

typedef struct {
    int32_t n;
    char **names;
    float *t;
} table;

static float lookup(void *user, const char *name) {
    table *tb = user;
    for (int32_t i = 0; i < tb->n; i++)
        if (!strcmp(tb->names[i], name)) return tb->t[i];
    return 0.0f;
}

static void table_free(table *tb) {
    for (int32_t i = 0; i < tb->n; i++)
        free(tb->names[i]);
    free(tb->names);
    free(tb->t);
    memset(tb, 0, sizeof *tb);
}

/* Thresholds from an FP32 run of backend b on a clone of g with every
 * activation a graph output; names in `skip` get none. */
static void thresholds(const kiln_backend *b, const kiln_graph *g, const float *x, int64_t batch,
                       const char *const *skip, table *tb) {
    memset(tb, 0, sizeof *tb);
    kiln_graph *c = NULL;
    KT_OK(kiln_graph_clone(g, &c));
    if (!c) return;
    for (int32_t v = 0; v < c->n_values; v++)
        if (!c->values[v].data && c->values[v].producer >= 0 &&
            !(c->values[v].flags & KILN_VALUE_OUTPUT))
            KT_OK(kiln_graph_add_output(c, v));
    kiln_backend_options bo = {0, KILN_PRECISION_FP32, NULL};
    void *ex = NULL;
    KT_OK(b->create(c, &bo, &ex));
    if (!ex) {
        kiln_graph_destroy(c);
        return;
    }
    int32_t in = c->inputs[0];
    KT_OK(b->write_value(ex, in, x, (size_t)kiln_numel(c->values[in].rank, c->values[in].dims)));
    KT_OK(b->run(ex, batch));
    tb->names = calloc((size_t)c->n_values, sizeof(char *));
    tb->t = calloc((size_t)c->n_values, sizeof(float));
    for (int32_t v = 0; v < c->n_values; v++) {
        const kiln_value *val = &c->values[v];
        if (val->data || (val->producer < 0 && !(val->flags & KILN_VALUE_INPUT))) continue;
        bool skipped = false;
        for (int k = 0; skip && skip[k]; k++)
            skipped = skipped || !strcmp(skip[k], val->name);
        if (skipped) continue;
        size_t n = (size_t)kiln_numel(val->rank, val->dims);
        float *y = malloc(n * sizeof(float));
        KT_OK(b->read_value(ex, v, y, n));
        float m = 0;
        for (size_t i = 0; i < n; i++)
            m = fmaxf(m, fabsf(y[i]));
        free(y);
        static const float f[3] = {1.0f, 0.9f, 0.75f};
        tb->names[tb->n] = strdup(val->name);
        tb->t[tb->n++] = m * f[v % 3];
    }
    b->destroy(ex);
    kiln_graph_destroy(c);
}

static float *read_out(const kiln_backend *b, void *exec, int32_t id, size_t n) {
    float *y = malloc(n * sizeof(float));
    KT_OK(b->read_value(exec, id, y, n));
    return y;
}

/* Marks g INT8 from tb, runs ref INT8 at `batch` and cpu INT8 at batch and
 * 1, compares every graph output. */
static void compare(const char *what, kiln_graph *g, const float *x, int64_t batch, table *tb,
                    int expect_int8) {
    int n8 = 0, cand = 0;
    KT_OK(kiln_pass_assign_precision(g, lookup, tb, NULL, &n8, &cand));
    printf("%s: INT8 nodes %d of %d candidates\n", what, n8, cand);
    if (expect_int8 >= 0)
        KT_CHECK(n8 == expect_int8, "%s: %d INT8 nodes, expected %d", what, n8, expect_int8);
    for (int32_t i = 0; i < g->n_nodes; i++)
        KT_CHECK(kiln_backend_cpu.unsupported_reason(g, i) == NULL, "%s: node %s: %s", what,
                 g->nodes[i].name, kiln_backend_cpu.unsupported_reason(g, i));
    kiln_backend_options bo = {0, KILN_PRECISION_INT8, NULL};
    void *re = NULL, *ce = NULL;
    KT_OK(kiln_backend_ref.create(g, &bo, &re));
    KT_OK(kiln_backend_cpu.create(g, &bo, &ce));
    if (!re || !ce) {
        if (re) kiln_backend_ref.destroy(re);
        if (ce) kiln_backend_cpu.destroy(ce);
        return;
    }
    int32_t in = g->inputs[0];
    size_t nx = (size_t)kiln_numel(g->values[in].rank, g->values[in].dims);
    KT_OK(kiln_backend_ref.write_value(re, in, x, nx));
    KT_OK(kiln_backend_ref.run(re, batch));
    for (int64_t b = batch; b >= 1; b = b > 1 ? 1 : 0) {
        KT_OK(kiln_backend_cpu.write_value(ce, in, x, nx / (size_t)batch * (size_t)b));
        KT_OK(kiln_backend_cpu.run(ce, b));
        for (int32_t o = 0; o < g->n_outputs; o++) {
            const kiln_value *v = &g->values[g->outputs[o]];
            size_t n = (size_t)kiln_numel(v->rank, v->dims) / (size_t)batch * (size_t)b;
            float *r = read_out(&kiln_backend_ref, re, g->outputs[o], n);
            float *c = read_out(&kiln_backend_cpu, ce, g->outputs[o], n);
            double norm = 0, maxd = 0;
            size_t ndiff = 0;
            for (size_t k = 0; k < n; k++) {
                norm += (double)r[k] * r[k];
                double d = fabs((double)r[k] - c[k]);
                if (d > 1e-6 * fabs(r[k]) + 1e-30) ndiff++;
                if (d > maxd) maxd = d;
            }
            double e = kt_rel_err(c, r, n);
            printf("  %s batch %lld %-28s rel err %.3g (max |diff| %.3g, %zu of %zu differ; "
                   "T/127 = %.3g)\n",
                   what, (long long)b, v->name, e, maxd, ndiff, n, v->quant.threshold / 127.0);
            KT_CHECK(norm > 0, "%s: ref output %s is all zero", what, v->name);
            KT_CHECK(e <= TOL, "%s batch %lld %s: rel err %g > %g", what, (long long)b, v->name, e,
                     TOL);
            free(r);
            free(c);
        }
    }
    kiln_backend_ref.destroy(re);
    kiln_backend_cpu.destroy(ce);
}

/* ---- graph building ------------------------------------------------------ */

static uint64_t seed = 100;

static int32_t act_value(kiln_graph *g, const char *name) {
    int64_t d[1] = {-1};
    int32_t id;
    kiln_graph_add_value(g, name, KILN_DT_F32, 0, d, &id);
    return id;
}

static int32_t add_conv(kiln_graph *g, const char *name, int32_t x, int64_t cin, int64_t cout,
                        int64_t k, int64_t stride, int64_t group, kiln_act act, int32_t r) {
    char buf[64];
    int64_t wd[4] = {cout, cin / group, k, k};
    int32_t w, b, y;
    snprintf(buf, sizeof buf, "%s.w", name);
    KT_OK(kiln_add_const_f32(g, buf, 4, wd, NULL, &w));
    size_t nw = (size_t)(cout * (cin / group) * k * k);
    float amp = 1.5f / sqrtf((float)(nw / (size_t)cout));
    kt_fill_uniform((float *)g->values[w].data, nw, seed++, -amp, amp);
    snprintf(buf, sizeof buf, "%s.b", name);
    KT_OK(kiln_add_const_f32(g, buf, 1, &cout, NULL, &b));
    kt_fill_uniform((float *)g->values[b].data, (size_t)cout, seed++, -0.3f, 0.3f);
    y = act_value(g, name);
    kiln_attrs a = kiln_attrs_default();
    a.strides[0] = a.strides[1] = stride;
    for (int i = 0; i < 4; i++)
        a.pads[i] = k / 2;
    a.group = group;
    a.act = act;
    a.clip_min = 0.0f;
    a.clip_max = 0.9f;
    int32_t ins[4] = {x, w, b, r};
    KT_OK(kiln_graph_add_node(g, KILN_OP_CONV, name, r == KILN_NO_VALUE ? 3 : 4, ins, 1, &y, &a,
                              NULL));
    return y;
}

static int32_t add_pool(kiln_graph *g, const char *name, kiln_op op, int32_t x, int64_t k,
                        int64_t s, int64_t pad) {
    kiln_attrs a = kiln_attrs_default();
    a.kernel[0] = a.kernel[1] = k;
    a.strides[0] = a.strides[1] = s;
    for (int i = 0; i < 4; i++)
        a.pads[i] = pad;
    int32_t y = act_value(g, name);
    KT_OK(kiln_graph_add_node(g, op, name, 1, &x, 1, &y, &a, NULL));
    return y;
}

static int32_t add_gemm(kiln_graph *g, const char *name, int32_t x, int64_t K, int64_t N,
                        bool trans_b, int64_t c_n, kiln_act act) {
    char buf[64];
    int64_t bd[2] = {trans_b ? N : K, trans_b ? K : N};
    int32_t B, C = KILN_NO_VALUE;
    snprintf(buf, sizeof buf, "%s.w", name);
    KT_OK(kiln_add_const_f32(g, buf, 2, bd, NULL, &B));
    float amp = 1.5f / sqrtf((float)K);
    kt_fill_uniform((float *)g->values[B].data, (size_t)(K * N), seed++, -amp, amp);
    if (c_n > 0) {
        snprintf(buf, sizeof buf, "%s.c", name);
        KT_OK(kiln_add_const_f32(g, buf, 1, &c_n, NULL, &C));
        kt_fill_uniform((float *)g->values[C].data, (size_t)c_n, seed++, -0.5f, 0.5f);
    }
    kiln_attrs a = kiln_attrs_default();
    a.trans_b = trans_b;
    a.act = act;
    a.beta = 0.7f;
    int32_t y = act_value(g, name);
    int32_t ins[3] = {x, B, C};
    KT_OK(kiln_graph_add_node(g, KILN_OP_GEMM, name, c_n > 0 ? 3 : 2, ins, 1, &y, &a, NULL));
    return y;
}

static int32_t add_add(kiln_graph *g, const char *name, int32_t a0, int32_t a1, kiln_act act) {
    kiln_attrs a = kiln_attrs_default();
    a.act = act;
    int32_t y = act_value(g, name);
    KT_OK(kiln_graph_add_node(g, KILN_OP_ADD, name, 2, (int32_t[]){a0, a1}, 1, &y, &a, NULL));
    return y;
}

static kiln_graph *new_graph(int32_t rank, const int64_t *dims, int32_t *x) {
    kiln_graph *g;
    kiln_graph_create(&g);
    kiln_graph_add_value(g, "x", KILN_DT_F32, rank, dims, x);
    kiln_graph_add_input(g, *x);
    return g;
}

/* conv chain: odd channels, stride 2, pools, depthwise, grouped + residual,
 * global pool, flatten, gemm, softmax; an s8 conv output is a graph output
 * read by the next INT8 conv. */
static void test_chain(void) {
    int64_t xd[4] = {2, 3, 13, 11};
    int32_t x;
    kiln_graph *g = new_graph(4, xd, &x);
    int32_t c1 = add_conv(g, "c1", x, 3, 7, 3, 1, 1, KILN_ACT_RELU, KILN_NO_VALUE);
    int32_t c2 = add_conv(g, "c2", c1, 7, 17, 3, 2, 1, KILN_ACT_NONE, KILN_NO_VALUE);
    int32_t c3 = add_conv(g, "c3", c2, 17, 33, 1, 1, 1, KILN_ACT_RELU, KILN_NO_VALUE);
    int32_t mp = add_pool(g, "mp", KILN_OP_MAX_POOL, c3, 3, 2, 1);
    int32_t ap = add_pool(g, "ap", KILN_OP_AVG_POOL, mp, 2, 1, 0);
    int32_t dw = add_conv(g, "dw", ap, 33, 33, 3, 1, 33, KILN_ACT_RELU, KILN_NO_VALUE);
    int32_t gc = add_conv(g, "gc", dw, 33, 33, 3, 1, 3, KILN_ACT_RELU, ap);
    int32_t gp = act_value(g, "gp");
    KT_OK(kiln_graph_add_node(g, KILN_OP_GLOBAL_AVG_POOL, "gp", 1, &gc, 1, &gp, NULL, NULL));
    int32_t fl = act_value(g, "fl");
    kiln_attrs fa = kiln_attrs_default();
    fa.axis = 1;
    fa.coerce_2d = true;
    KT_OK(kiln_graph_add_node(g, KILN_OP_FLATTEN, "fl", 1, &gp, 1, &fl, &fa, NULL));
    int32_t fc = add_gemm(g, "fc", fl, 33, 10, false, 10, KILN_ACT_NONE);
    int32_t sm = act_value(g, "sm");
    KT_OK(kiln_graph_add_node(g, KILN_OP_SOFTMAX, "sm", 1, &fc, 1, &sm, NULL, NULL));
    KT_OK(kiln_graph_add_output(g, sm));
    KT_OK(kiln_graph_add_output(g, fc));
    KT_OK(kiln_graph_add_output(g, c2));
    KT_OK(kiln_graph_add_output(g, gc));
    KT_OK(kiln_infer_shapes(g));
    size_t nx = 2 * 3 * 13 * 11;
    float *in = malloc(nx * sizeof(float));
    kt_fill_uniform(in, nx, 7, -1.0f, 1.0f);
    table tb;
    thresholds(&kiln_backend_ref, g, in, 2, NULL, &tb);
    compare("chain", g, in, 2, &tb, 9);
    table_free(&tb);
    free(in);
    kiln_graph_destroy(g);
}

/* residual blocks and INT8 adds; `skip` leaves one tensor without a
 * threshold so FP32 and INT8 nodes mix. */
static void test_residual(const char *what, const char *const *skip, int expect) {
    int64_t xd[4] = {1, 16, 9, 9};
    int32_t x;
    kiln_graph *g = new_graph(4, xd, &x);
    int32_t a = add_conv(g, "a", x, 16, 16, 1, 1, 1, KILN_ACT_RELU, KILN_NO_VALUE);
    int32_t pj = add_conv(g, "proj", x, 16, 32, 1, 2, 1, KILN_ACT_NONE, KILN_NO_VALUE);
    int32_t b = add_conv(g, "b", a, 16, 32, 3, 2, 1, KILN_ACT_RELU, pj); /* s8 R, u8 out */
    int32_t c = add_conv(g, "c", b, 32, 32, 3, 1, 1, KILN_ACT_RELU, b);  /* R = X: copied */
    int32_t d = add_conv(g, "d", c, 32, 32, 1, 1, 1, KILN_ACT_NONE, c);  /* R in place */
    int32_t s1 = add_add(g, "s1", d, b, KILN_ACT_RELU);
    int32_t s2 = add_add(g, "s2", s1, d, KILN_ACT_NONE);
    int32_t f = add_conv(g, "f", s2, 32, 5, 1, 1, 1, KILN_ACT_CLIP, KILN_NO_VALUE);
    KT_OK(kiln_graph_add_output(g, f));
    KT_OK(kiln_graph_add_output(g, s1));
    KT_OK(kiln_infer_shapes(g));
    size_t nx = 16 * 9 * 9;
    float *in = malloc(nx * sizeof(float));
    kt_fill_uniform(in, nx, 8, -1.0f, 1.5f);
    table tb;
    thresholds(&kiln_backend_ref, g, in, 1, skip, &tb);
    compare(what, g, in, 1, &tb, expect);
    table_free(&tb);
    free(in);
    kiln_graph_destroy(g);
}

/* gemm from the graph input: trans_b with a scalar C and relu (u8 out), then
 * an untransposed gemm without C. */
static void test_gemm(void) {
    int64_t xd[2] = {3, 20};
    int32_t x;
    kiln_graph *g = new_graph(2, xd, &x);
    int32_t g1 = add_gemm(g, "g1", x, 20, 7, true, 1, KILN_ACT_RELU);
    int32_t g2 = add_gemm(g, "g2", g1, 7, 4, false, 0, KILN_ACT_NONE);
    KT_OK(kiln_graph_add_output(g, g2));
    KT_OK(kiln_infer_shapes(g));
    float in[60];
    kt_fill_uniform(in, 60, 9, -2.0f, 2.0f);
    table tb;
    thresholds(&kiln_backend_ref, g, in, 3, NULL, &tb);
    compare("gemm", g, in, 3, &tb, 2);
    table_free(&tb);
    kiln_graph_destroy(g);
}

/* Node `i` of g (INT8) alone on the cpu: its activation inputs are graph
 * inputs fed with ref's values, its output compared with ref's. Returns the
 * relative error (-1 on failure). */
static double node_alone(const kiln_graph *g, int32_t i, void *re) {
    const kiln_node *n = &g->nodes[i];
    kiln_graph *m = NULL;
    KT_OK(kiln_graph_create(&m));
    if (!m) return -1;
    int32_t ins[KILN_MAX_IO], out, src[KILN_MAX_IO], n_src = 0;
    for (int32_t k = 0; k < n->n_inputs; k++) {
        int32_t id = n->inputs[k];
        ins[k] = KILN_NO_VALUE;
        if (id == KILN_NO_VALUE) continue;
        for (int32_t j = 0; j < k; j++)
            if (n->inputs[j] == id) ins[k] = ins[j];
        if (ins[k] != KILN_NO_VALUE) continue;
        const kiln_value *v = &g->values[id];
        KT_OK(kiln_graph_add_value(m, v->name, v->dtype, v->rank, v->dims, &ins[k]));
        kiln_value *mv = &m->values[ins[k]];
        mv->quant.threshold = v->quant.threshold;
        if (v->data) {
            kiln_graph_set_const(m, ins[k], v->data, v->nbytes);
            if (v->quant.n_channels > 0) {
                mv->quant.n_channels = v->quant.n_channels;
                mv->quant.channel_thresholds = malloc(sizeof(float) * (size_t)v->quant.n_channels);
                memcpy(mv->quant.channel_thresholds, v->quant.channel_thresholds,
                       sizeof(float) * (size_t)v->quant.n_channels);
            }
        } else {
            KT_OK(kiln_graph_add_input(m, ins[k]));
            src[n_src++] = id;
        }
    }
    const kiln_value *yv = &g->values[n->outputs[0]];
    KT_OK(kiln_graph_add_value(m, yv->name, yv->dtype, yv->rank, yv->dims, &out));
    m->values[out].quant.threshold = yv->quant.threshold;
    KT_OK(kiln_graph_add_node(m, n->op, n->name, n->n_inputs, ins, 1, &out, &n->attrs, NULL));
    m->nodes[0].precision = n->precision;
    KT_OK(kiln_graph_add_output(m, out));
    double e = -1;
    kiln_backend_options bo = {0, KILN_PRECISION_INT8, NULL};
    void *ce = NULL;
    KT_OK(kiln_backend_cpu.create(m, &bo, &ce));
    if (ce) {
        for (int32_t k = 0; k < n_src; k++) {
            const kiln_value *v = &g->values[src[k]];
            size_t cnt = (size_t)kiln_numel(v->rank, v->dims);
            float *x = read_out(&kiln_backend_ref, re, src[k], cnt);
            KT_OK(kiln_backend_cpu.write_value(ce, m->inputs[k], x, cnt));
            free(x);
        }
        KT_OK(kiln_backend_cpu.run(ce, yv->dims[0]));
        size_t cnt = (size_t)kiln_numel(yv->rank, yv->dims);
        float *r = read_out(&kiln_backend_ref, re, n->outputs[0], cnt);
        float *c = read_out(&kiln_backend_cpu, ce, out, cnt);
        e = kt_rel_err(c, r, cnt);
        free(r);
        free(c);
        kiln_backend_cpu.destroy(ce);
    }
    kiln_graph_destroy(m);
    return e;
}

/* The generated ResNet50 after the passes, batch 1. Thresholds from a cpu
 * FP32 run (fast); one ref INT8 run (~8 s) is the oracle for
 *  - every INT8 node run alone on the cpu with ref's inputs: <= 1e-3 (the
 *    issue's bound; ~1e-7 in practice: a handful of near-tie roundings), and
 *  - the whole network on the cpu: logits, softmax and the stage-4 output
 *    (a graph output before the passes): top-1 equal and rel err <= 1e-3.
 *    This holds because ref's epilogue is defined in float32 in oneDNN's
 *    order (docs/INT8.md): with a double epilogue a few near-tie outputs round
 *    the other way and the one-step difference cascades (3% at res4f). */
static void test_resnet50(void) {
    kiln_graph *g = NULL;
    KT_OK(kiln_model_generate_resnet50(1, &g));
    if (!g) return;
    g->values[g->inputs[0]].dims[0] = 1;
    const char *extra[2] = {"fc_0.tmp_1", "res4f.add.output.5.tmp_0"};
    for (int i = 0; i < 2; i++) {
        int32_t v = kiln_graph_find_value(g, extra[i]);
        KT_CHECK(v >= 0, "the generator names '%s'", extra[i]);
        if (v >= 0) KT_OK(kiln_graph_add_output(g, v));
    }
    KT_OK(kiln_infer_shapes(g));
    KT_OK(kiln_passes_run(g, NULL, NULL));
    KT_OK(kiln_infer_shapes(g));
    size_t nx = 3 * 224 * 224;
    float *in = malloc(nx * sizeof(float));
    kiln_model_seed_input(in, (int64_t)nx);
    table tb;
    thresholds(&kiln_backend_cpu, g, in, 1, NULL, &tb);
    int n8 = 0, cand = 0;
    KT_OK(kiln_pass_assign_precision(g, lookup, &tb, NULL, &n8, &cand));
    KT_CHECK(n8 == 56 && cand == 56, "resnet50: 56 INT8 nodes (got %d of %d)", n8, cand);
    kiln_backend_options bo = {0, KILN_PRECISION_INT8, NULL};
    void *re = NULL, *ce = NULL;
    KT_OK(kiln_backend_ref.create(g, &bo, &re));
    KT_OK(kiln_backend_cpu.create(g, &bo, &ce));
    if (re && ce) {
        KT_OK(kiln_backend_ref.write_value(re, g->inputs[0], in, nx));
        KT_OK(kiln_backend_ref.run(re, 1));
        double worst = 0;
        int worst_i = -1, nodes = 0;
        for (int32_t i = 0; i < g->n_nodes; i++) {
            if (g->nodes[i].precision != KILN_PRECISION_INT8) continue;
            double e = node_alone(g, i, re);
            nodes++;
            KT_CHECK(e >= 0 && e <= TOL, "resnet50 node %s alone: rel err %g > %g",
                     g->nodes[i].name, e, TOL);
            if (e > worst) worst = e, worst_i = i;
            if (getenv("KT_VERBOSE")) printf("    %-40s %.3g\n", g->nodes[i].name, e);
        }
        printf("resnet50: %d INT8 nodes alone, worst rel err %.3g (%s)\n", nodes, worst,
               worst_i >= 0 ? g->nodes[worst_i].name : "-");
        KT_OK(kiln_backend_cpu.write_value(ce, g->inputs[0], in, nx));
        KT_OK(kiln_backend_cpu.run(ce, 1));
        for (int32_t o = 0; o < g->n_outputs; o++) {
            const kiln_value *v = &g->values[g->outputs[o]];
            size_t n = (size_t)kiln_numel(v->rank, v->dims);
            float *r = read_out(&kiln_backend_ref, re, g->outputs[o], n);
            float *c = read_out(&kiln_backend_cpu, ce, g->outputs[o], n);
            double e = kt_rel_err(c, r, n);
            printf("  resnet50 whole network %-28s rel err %.3g\n", v->name, e);
            KT_CHECK(e <= TOL, "resnet50 %s: rel err %g > %g", v->name, e, TOL);
            if (v->dims[v->rank - 1] == 1000) {
                size_t ar = 0, ac = 0;
                for (size_t k = 1; k < n; k++) {
                    if (r[k] > r[ar]) ar = k;
                    if (c[k] > c[ac]) ac = k;
                }
                KT_CHECK(ar == ac, "resnet50 %s: top-1 %zu (ref) vs %zu (cpu)", v->name, ar, ac);
            }
            free(r);
            free(c);
        }
    }
    if (re) kiln_backend_ref.destroy(re);
    if (ce) kiln_backend_cpu.destroy(ce);
    table_free(&tb);
    free(in);
    kiln_graph_destroy(g);
}

int main(void) {
    test_gemm();
    test_chain();
    test_residual("residual", NULL, 8);
    /* c without a threshold: conv c and the convs/adds reading it stay FP32 */
    test_residual("residual-mixed", (const char *const[]){"c", NULL}, 6);
    test_resnet50();
    return kt_finish("test_cpu_int8");
}
