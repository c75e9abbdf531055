/*
 * test_passes.c — every pass on small graphs: the graph before/after (node
 * counts and ops) and the ref backend's outputs before and after, compared
 * with ||after - before|| / ||before|| <= 1e-6. Odd channel counts and
 * sizes; never all-zero data. Also: a value the user marked as an output is
 * never fused away.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/rng.h"
#include "passes/passes.h"
#include "test_util.h"

static const double TOL = 1e-6;

static int32_t act_value(kiln_graph *g, const char *name, int32_t rank, const int64_t *dims) {
    int32_t id;
    kiln_graph_add_value(g, name, KILN_DT_F32, rank, dims, &id);
    return id;
}

static int32_t const_value(kiln_graph *g, const char *name, int32_t rank, const int64_t *dims,
                           uint64_t seed, float lo, float hi) {
    int32_t id;
    kiln_add_const_f32(g, name, rank, dims, NULL, &id);
    kt_fill_uniform((float *)g->values[id].data, (size_t)kiln_numel(rank, dims), seed, lo, hi);
    return id;
}

static int32_t node(kiln_graph *g, kiln_op op, int32_t nin, const int32_t *in, int32_t out,
                    const kiln_attrs *a) {
    int32_t id;
    kiln_graph_add_node(g, op, kiln_op_names[op], nin, in, 1, &out, a, &id);
    return id;
}

/* Runs g on the ref backend with input 0 filled from seed; returns output 0 (malloc'ed). */
static float *run_ref(const kiln_graph *src, uint64_t seed, size_t *n_out) {
    kiln_graph *g;
    if (kiln_graph_clone(src, &g) != KILN_OK) return NULL;
    float *y = NULL;
    void *exec = NULL;
    kiln_backend_options bo = {1, KILN_PRECISION_FP32, NULL};
    if (kiln_infer_shapes(g) == KILN_OK && kiln_backend_ref.create(g, &bo, &exec) == KILN_OK) {
        const kiln_value *xv = &g->values[g->inputs[0]];
        size_t nx = (size_t)kiln_numel(xv->rank, xv->dims);
        float *x = malloc(nx * sizeof(float));
        kt_fill_uniform(x, nx, seed, -1.0f, 1.0f);
        const kiln_value *yv = &g->values[g->outputs[0]];
        *n_out = (size_t)kiln_numel(yv->rank, yv->dims);
        y = malloc(*n_out * sizeof(float));
        if (kiln_backend_ref.write_value(exec, g->inputs[0], x, nx) != KILN_OK ||
            kiln_backend_ref.run(exec, xv->dims[0]) != KILN_OK ||
            kiln_backend_ref.read_value(exec, g->outputs[0], y, *n_out) != KILN_OK) {
            fprintf(stderr, "ref run failed: %s\n", kiln_last_error());
            free(y);
            y = NULL;
        }
        free(x);
        kiln_backend_ref.destroy(exec);
    } else {
        fprintf(stderr, "ref create failed: %s\n", kiln_last_error());
    }
    kiln_graph_destroy(g);
    return y;
}

/* Runs the pipeline and checks the outputs did not move; returns node count after. */
static int32_t check_pipeline(kiln_graph *g, const char *what, kiln_pass_stats *st) {
    size_t n0 = 0, n1 = 0;
    KT_OK(kiln_infer_shapes(g));
    float *before = run_ref(g, 99, &n0);
    KT_OK(kiln_passes_run(g, NULL, st));
    KT_OK(kiln_infer_shapes(g));
    float *after = run_ref(g, 99, &n1);
    KT_CHECK(before && after && n0 == n1, "%s: both runs produce output", what);
    if (before && after && n0 == n1) {
        double e = kt_rel_err(after, before, n0);
        KT_CHECK(e <= TOL, "%s: rel err %g > %g", what, e, TOL);
        double norm = 0;
        for (size_t i = 0; i < n0; i++)
            norm += (double)before[i] * before[i];
        KT_CHECK(norm > 0, "%s: output is not all zero", what);
    }
    free(before);
    free(after);
    return g->n_nodes;
}

/* conv(7 -> 5 ch, 3x3, stride 2, pad 1) -> batch_norm -> relu6 */
static void test_conv_bn_act(void) {
    kiln_graph *g;
    kiln_graph_create(&g);
    int64_t xd[4] = {2, 7, 11, 9}, wd[4] = {5, 7, 3, 3}, c = 5, yd[4] = {-1, -1, -1, -1};
    int32_t x = act_value(g, "x", 4, xd);
    kiln_graph_add_input(g, x);
    int32_t w = const_value(g, "w", 4, wd, 1, -0.5f, 0.5f);
    int32_t sc = const_value(g, "scale", 1, &c, 2, 0.5f, 1.5f);
    int32_t bi = const_value(g, "bias", 1, &c, 3, -0.3f, 0.3f);
    int32_t me = const_value(g, "mean", 1, &c, 4, -0.2f, 0.2f);
    int32_t va = const_value(g, "var", 1, &c, 5, 0.5f, 2.0f);
    int32_t y1 = act_value(g, "conv_out", 4, yd), y2 = act_value(g, "bn_out", 4, yd),
            y3 = act_value(g, "out", 4, yd);
    kiln_attrs a = kiln_attrs_default();
    a.strides[0] = a.strides[1] = 2;
    a.pads[0] = a.pads[1] = a.pads[2] = a.pads[3] = 1;
    node(g, KILN_OP_CONV, 2, (int32_t[]){x, w}, y1, &a);
    kiln_attrs b = kiln_attrs_default();
    b.epsilon = 1e-3f;
    node(g, KILN_OP_BATCH_NORM, 5, (int32_t[]){y1, sc, bi, me, va}, y2, &b);
    kiln_attrs r = kiln_attrs_default();
    r.clip_min = 0;
    r.clip_max = 6;
    node(g, KILN_OP_CLIP, 1, (int32_t[]){y2}, y3, &r);
    kiln_graph_add_output(g, y3);
    kiln_pass_stats st;
    int32_t n = check_pipeline(g, "conv+bn+relu6", &st);
    KT_CHECK(n == 1 && g->nodes[0].op == KILN_OP_CONV, "one conv left, got %d nodes", n);
    KT_CHECK(g->nodes[0].attrs.act == KILN_ACT_CLIP && g->nodes[0].n_inputs == 3,
             "conv has bias and clip");
    KT_CHECK(st.batch_norms_folded == 1 && st.activations_fused == 1, "stats");
    kiln_graph_destroy(g);
}

/* ResNet-style block: conv_a -> bias add (Paddle axis=1) ; shortcut conv_b ;
 * add(a, b) -> relu ; then a user-requested intermediate output. */
static void test_residual(bool keep_intermediate) {
    kiln_graph *g;
    kiln_graph_create(&g);
    int64_t xd[4] = {1, 3, 9, 13}, wd[4] = {6, 3, 1, 1}, w3[4] = {6, 3, 3, 3}, c = 6,
            yd[4] = {-1, -1, -1, -1};
    int32_t x = act_value(g, "x", 4, xd);
    kiln_graph_add_input(g, x);
    int32_t wa = const_value(g, "wa", 4, w3, 11, -0.4f, 0.4f);
    int32_t wb = const_value(g, "wb", 4, wd, 12, -0.4f, 0.4f);
    int32_t ba = const_value(g, "ba", 1, &c, 13, -0.5f, 0.5f);
    int32_t a1 = act_value(g, "a1", 4, yd), a2 = act_value(g, "a2", 4, yd),
            b1 = act_value(g, "b1", 4, yd), s = act_value(g, "sum", 4, yd),
            out = act_value(g, "out", 4, yd);
    kiln_attrs ca = kiln_attrs_default();
    ca.pads[0] = ca.pads[1] = ca.pads[2] = ca.pads[3] = 1;
    node(g, KILN_OP_CONV, 2, (int32_t[]){x, wa}, a1, &ca);
    kiln_attrs add_axis = kiln_attrs_default();
    add_axis.axis = 1;
    node(g, KILN_OP_ADD, 2, (int32_t[]){a1, ba}, a2, &add_axis);
    node(g, KILN_OP_CONV, 2, (int32_t[]){x, wb}, b1, NULL);
    node(g, KILN_OP_ADD, 2, (int32_t[]){a2, b1}, s, NULL);
    node(g, KILN_OP_RELU, 1, (int32_t[]){s}, out, NULL);
    kiln_graph_add_output(g, out);
    if (keep_intermediate) kiln_graph_add_output(g, s);
    kiln_pass_stats st;
    int32_t n = check_pipeline(g, keep_intermediate ? "residual (sum kept)" : "residual", &st);
    if (!keep_intermediate) {
        KT_CHECK(n == 2, "two convs left, got %d", n);
        KT_CHECK(st.biases_fused == 1 && st.residuals_fused == 1 && st.activations_fused == 1,
                 "bias %d residual %d act %d", st.biases_fused, st.residuals_fused,
                 st.activations_fused);
        KT_CHECK(g->nodes[1].n_inputs == 4 && g->nodes[1].attrs.act == KILN_ACT_RELU,
                 "second conv carries the residual and relu");
    } else {
        /* the sum is an output: relu must stay a separate node reading it */
        int relu = 0;
        for (int32_t i = 0; i < g->n_nodes; i++)
            relu += g->nodes[i].op == KILN_OP_RELU;
        KT_CHECK(relu == 1, "relu not fused when its input is a requested output");
        KT_CHECK(kiln_graph_find_value(g, "sum") >= 0 &&
                     g->values[kiln_graph_find_value(g, "sum")].producer >= 0,
                 "sum still produced");
    }
    kiln_graph_destroy(g);
}

/* flatten -> gemm -> bias add -> dropout scale -> identity -> relu -> softmax */
static void test_gemm_chain(void) {
    kiln_graph *g;
    kiln_graph_create(&g);
    int64_t xd[4] = {3, 17, 1, 1}, bd[2] = {17, 10}, c = 10, yd[2] = {-1, -1};
    int32_t x = act_value(g, "x", 4, xd);
    kiln_graph_add_input(g, x);
    int32_t w = const_value(g, "w", 2, bd, 21, -0.3f, 0.3f);
    int32_t b = const_value(g, "b", 1, &c, 22, -0.2f, 0.2f);
    int32_t f = act_value(g, "f", 2, yd), m = act_value(g, "m", 2, yd),
            a = act_value(g, "a", 2, yd), d = act_value(g, "d", 2, yd),
            i = act_value(g, "i", 2, yd), r = act_value(g, "r", 2, yd),
            s = act_value(g, "s", 2, yd);
    kiln_attrs fl = kiln_attrs_default();
    fl.axis = 1;
    fl.coerce_2d = true;
    node(g, KILN_OP_FLATTEN, 1, (int32_t[]){x}, f, &fl);
    node(g, KILN_OP_GEMM, 2, (int32_t[]){f, w}, m, NULL);
    node(g, KILN_OP_ADD, 2, (int32_t[]){m, b}, a, NULL);
    kiln_attrs sc = kiln_attrs_default();
    sc.alpha = 0.75f;
    sc.beta = 0.0f;
    node(g, KILN_OP_SCALE, 1, (int32_t[]){a}, d, &sc);
    node(g, KILN_OP_IDENTITY, 1, (int32_t[]){d}, i, NULL);
    node(g, KILN_OP_RELU, 1, (int32_t[]){i}, r, NULL);
    kiln_attrs sm = kiln_attrs_default();
    sm.axis = 1;
    node(g, KILN_OP_SOFTMAX, 1, (int32_t[]){r}, s, &sm);
    kiln_graph_add_output(g, s);
    kiln_pass_stats st;
    int32_t n = check_pipeline(g, "gemm chain", &st);
    KT_CHECK(n == 3, "flatten, gemm, softmax left; got %d", n);
    KT_CHECK(st.identities_removed == 1 && st.biases_fused == 1 && st.activations_fused == 1,
             "identity %d bias %d act %d", st.identities_removed, st.biases_fused,
             st.activations_fused);
    KT_CHECK(st.scales_folded == 0 || st.scales_folded == 1, "scale folded or kept");
    kiln_graph_destroy(g);
}

/* an identity feeding the graph output keeps the output produced */
static void test_identity_output(void) {
    kiln_graph *g;
    kiln_graph_create(&g);
    int64_t xd[2] = {2, 5}, yd[2] = {-1, -1};
    int32_t x = act_value(g, "x", 2, xd);
    kiln_graph_add_input(g, x);
    int32_t r = act_value(g, "r", 2, yd), y = act_value(g, "y", 2, yd);
    node(g, KILN_OP_RELU, 1, (int32_t[]){x}, r, NULL);
    kiln_attrs sc = kiln_attrs_default();
    sc.alpha = 1.0f;
    sc.beta = 0.0f;
    node(g, KILN_OP_SCALE, 1, (int32_t[]){r}, y, &sc);
    kiln_graph_add_output(g, y);
    int32_t n = check_pipeline(g, "identity at output", NULL);
    KT_CHECK(n == 1 && g->outputs[0] == r, "scale(1,0) removed, relu output is the graph output");
    kiln_graph_destroy(g);
}

int main(void) {
    test_conv_bn_act();
    test_residual(false);
    test_residual(true);
    test_gemm_chain();
    test_identity_output();
    return kt_finish("test_passes");
}
