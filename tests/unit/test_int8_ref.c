/*
 * test_int8_ref.c — the INT8 oracle: the precision pass (which nodes become
 * INT8, why others stay FP32, per-channel weight thresholds) and the ref
 * backend's literal INT8 arithmetic, checked against the formulas of
 * docs/INT8.md evaluated independently here (integer sums and the float32
 * epilogue: the results must agree to float rounding, tolerance 1e-6 relative).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "passes/passes.h"
#include "test_util.h"

typedef struct {
    const char *names[8];
    float t[8];
} table;

static float lookup(void *user, const char *name) {
    table *tb = user;
    for (int i = 0; i < 8 && tb->names[i]; i++)
        if (!strcmp(tb->names[i], name)) return tb->t[i];
    return 0;
}

static int32_t q(double x, double t) {
    double v = rint(x * 127.0 / t);
    return (int32_t)(v > 127 ? 127 : v < -127 ? -127 : v);
}

int main(void) {
    /* x[1,3,5,6] -> conv 3x3 pad 1 (4 out ch) + bias + relu -> y ; maxpool 2x2 -> p */
    kiln_graph *g;
    kiln_graph_create(&g);
    int64_t xd[4] = {1, 3, 5, 6}, wd[4] = {4, 3, 3, 3}, c4 = 4, yd[4] = {-1, -1, -1, -1};
    int32_t x, w, b, y, p, z;
    kiln_graph_add_value(g, "x", KILN_DT_F32, 4, xd, &x);
    kiln_graph_add_input(g, x);
    kiln_add_const_f32(g, "w", 4, wd, NULL, &w);
    kt_fill_uniform((float *)g->values[w].data, 108, 5, -0.8f, 0.8f);
    kiln_add_const_f32(g, "b", 1, &c4, NULL, &b);
    kt_fill_uniform((float *)g->values[b].data, 4, 6, -0.2f, 0.3f);
    kiln_graph_add_value(g, "y", KILN_DT_F32, 4, yd, &y);
    kiln_graph_add_value(g, "p", KILN_DT_F32, 4, yd, &p);
    kiln_graph_add_value(g, "z", KILN_DT_F32, 4, yd, &z);
    kiln_attrs ca = kiln_attrs_default();
    ca.pads[0] = ca.pads[1] = ca.pads[2] = ca.pads[3] = 1;
    ca.act = KILN_ACT_RELU;
    kiln_graph_add_node(g, KILN_OP_CONV, "conv", 3, (int32_t[]){x, w, b}, 1, &y, &ca, NULL);
    kiln_attrs pa = kiln_attrs_default();
    pa.kernel[0] = pa.kernel[1] = 2;
    pa.strides[0] = pa.strides[1] = 2;
    kiln_graph_add_node(g, KILN_OP_MAX_POOL, "pool", 1, &y, 1, &p, &pa, NULL);
    kiln_graph_add_node(g, KILN_OP_SOFTMAX, "softmax", 1, &p, 1, &z, NULL, NULL);
    kiln_graph_add_output(g, z);
    kiln_graph_add_output(g, y);
    KT_OK(kiln_infer_shapes(g));

    /* y has a threshold, p does not: conv INT8, pool FP32 (its output has no scale) */
    table tb = {{"x", "y", NULL}, {1.5f, 2.0f}};
    int n8 = 0, cand = 0;
    KT_OK(kiln_pass_assign_precision(g, lookup, &tb, NULL, &n8, &cand));
    KT_CHECK(n8 == 1 && cand == 2, "INT8 1 of 2 candidates, got %d/%d", n8, cand);
    KT_CHECK(g->nodes[0].precision == KILN_PRECISION_INT8, "conv INT8");
    KT_CHECK(g->nodes[1].precision == KILN_PRECISION_FP32 && g->nodes[1].precision_reason,
             "pool FP32 with a reason");
    KT_CHECK(g->nodes[2].precision == KILN_PRECISION_FP32 && g->nodes[2].precision_reason,
             "softmax FP32 with a reason");
    const kiln_value *wv = &g->values[w];
    KT_CHECK(wv->quant.n_channels == 4, "4 weight channels");
    const float *wdat = (const float *)wv->data;
    for (int c = 0; c < 4; c++) {
        float m = 0;
        for (int k = 0; k < 27; k++)
            m = fmaxf(m, fabsf(wdat[c * 27 + k]));
        KT_CHECK(wv->quant.channel_thresholds[c] == m, "channel %d threshold = max|W|", c);
    }

    /* run on ref; input includes values beyond T_x (saturation) */
    float xin[90];
    kt_fill_uniform(xin, 90, 77, -2.5f, 2.5f);
    xin[0] = 0.5f * 1.5f / 127.0f * 3.0f; /* a tie: x*127/T = 1.5 -> rint = 2 */
    kiln_backend_options bo = {1, KILN_PRECISION_INT8, NULL};
    void *exec;
    KT_OK(kiln_backend_ref.create(g, &bo, &exec));
    KT_OK(kiln_backend_ref.write_value(exec, x, xin, 90));
    KT_OK(kiln_backend_ref.run(exec, 1));
    float yout[120];
    KT_OK(kiln_backend_ref.read_value(exec, y, yout, 120));

    /* independent evaluation of the formula */
    const float *bias = (const float *)g->values[b].data;
    double maxerr = 0, maxref = 0;
    int representable = 1;
    for (int m = 0; m < 4; m++)
        for (int oh = 0; oh < 5; oh++)
            for (int ow = 0; ow < 6; ow++) {
                long acc = 0;
                double tw = wv->quant.channel_thresholds[m];
                for (int c = 0; c < 3; c++)
                    for (int kh = 0; kh < 3; kh++)
                        for (int kw = 0; kw < 3; kw++) {
                            int ih = oh - 1 + kh, iw = ow - 1 + kw;
                            if (ih < 0 || ih >= 5 || iw < 0 || iw >= 6) continue;
                            acc += (long)q(xin[(c * 5 + ih) * 6 + iw], 1.5) *
                                   q(wdat[((m * 3 + c) * 3 + kh) * 3 + kw], tw);
                        }
                /* the float32 epilogue of docs/INT8.md */
                double kk = (1.5 / 127.0) * (tw / 127.0);
                float osc = (float)(kk / (2.0 / 127.0)), bq = (float)(bias[m] / kk);
                float v = ((float)acc + bq) * osc;
                v = v < 0 ? 0 : v > 127 ? 127 : v;
                double expect = rintf(v) * (2.0 / 127.0);
                double got = yout[(m * 5 + oh) * 6 + ow];
                maxerr = fmax(maxerr, fabs(got - expect));
                maxref = fmax(maxref, fabs(expect));
                double k = got * 127.0 / 2.0;
                if (fabs(k - rint(k)) > 1e-4) representable = 0;
            }
    KT_CHECK(maxref > 0, "output not all zero");
    KT_CHECK(maxerr <= 1e-6 * maxref, "INT8 conv matches the formula: max err %g", maxerr);
    KT_CHECK(representable, "INT8 outputs are exact multiples of T/127");
    kiln_backend_ref.destroy(exec);

    /* with every tensor scaled, the pool becomes INT8 too */
    table all = {{"x", "y", "p", NULL}, {1.5f, 2.0f, 2.0f}};
    KT_OK(kiln_pass_assign_precision(g, lookup, &all, NULL, &n8, &cand));
    KT_CHECK(n8 == 2 && cand == 2, "INT8 2/2, got %d/%d", n8, cand);
    kiln_graph_destroy(g);
    return kt_finish("test_int8_ref");
}
