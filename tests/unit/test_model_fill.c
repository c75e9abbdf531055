/*
 * test_model_fill.c — the data-driven fill (src/model/fill.c) without the
 * fixtures: take a generated ResNet50, drop two weights (a 3x3 conv of stage 5
 * and the FC), fill them, and check on the seed input that
 *   - each output channel of the conv has std sqrt(var_c + eps) of its BN
 *     (relative tolerance 1e-3: float32 accumulation over 49 positions),
 *   - the FC output minus its bias has std 1 (tolerance 1e-3),
 *   (same-seed determinism of the fill is checked on the real fixture by
 *   tests/scripts/test_model_tool.sh),
 *   - a tensor that is not a conv/FC weight is refused, naming it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "model/fill.h"
#include "model/resnet50.h"
#include "model/trace.h"
#include "test_util.h"

static const char *const missing[] = {"res5c_branch2b_weights", "fc_0.w_0"};

static kiln_graph *make(void) {
    kiln_graph *g = NULL;
    KT_OK(kiln_model_generate_resnet50(5, &g));
    for (int i = 0; g && i < 2; i++) {
        int32_t v = kiln_graph_find_value(g, missing[i]);
        KT_CHECK(v >= 0, "%s", missing[i]);
        if (v >= 0) kiln_graph_set_const(g, v, NULL, 0);
    }
    return g;
}

typedef struct check {
    int conv_checked, fc_checked;
} check;

static double std_of(const float *x, int64_t n, int64_t stride, const float *sub, float beta) {
    double s1 = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = x[i * stride] - (sub ? beta * sub[i] : 0.0);
        s1 += v;
        s2 += v * v;
    }
    double m = s1 / (double)n;
    return sqrt(s2 / (double)n - m * m);
}

static kiln_status verify(void *user, kiln_trace *t, int32_t node) {
    check *c = user;
    const kiln_graph *g = t->g;
    const kiln_node *n = &g->nodes[node];
    int32_t ov = n->outputs[0];
    const kiln_value *os = &t->shapes->values[ov];
    if (!strcmp(g->values[ov].name, "res5c_branch2b.conv2d.output.1.tmp_0")) {
        const kiln_node *bn = &g->nodes[node + 1];
        KT_CHECK(bn->op == KILN_OP_BATCH_NORM, "conv is followed by its BN");
        const float *var = g->values[bn->inputs[4]].data;
        int64_t m = os->dims[1], hw = os->dims[2] * os->dims[3];
        int bad = 0;
        for (int64_t ch = 0; ch < m; ch++) {
            double sd = std_of(t->acts[ov] + ch * hw, hw, 1, NULL, 0);
            double want = sqrt((double)var[ch] + bn->attrs.epsilon);
            if (fabs(sd - want) > 1e-3 * want) bad++;
        }
        KT_CHECK(bad == 0, "%d of %lld channels off their BN std", bad, (long long)m);
        c->conv_checked = 1;
    }
    if (n->op == KILN_OP_GEMM) {
        const float *bias = g->values[n->inputs[2]].data;
        double sd = std_of(t->acts[ov], os->dims[1], 1, bias, n->attrs.beta);
        KT_CHECK(fabs(sd - 1.0) < 1e-3, "logits std %.6f", sd);
        c->fc_checked = 1;
    }
    return KILN_OK;
}

int main(void) {
    kiln_graph *a = make();
    if (!a) return kt_finish("test_model_fill");
    kiln_fill_options o = {9, stdout, false};
    kiln_fill_summary sa;
    KT_OK(kiln_model_fill(a, missing, 2, &o, &sa));
    KT_CHECK(sa.n_filled == 2, "%d filled", sa.n_filled);
    KT_CHECK(sa.n_nonfinite == 0, "%lld non-finite", (long long)sa.n_nonfinite);
    KT_CHECK(sa.min_rms >= 1e-3 && sa.max_rms <= 1e3, "RMS range [%g, %g]", sa.min_rms, sa.max_rms);

    /* the filled model, traced again, meets the recipe's targets */
    int64_t n = 3 * 224 * 224;
    float *x = malloc((size_t)n * sizeof *x);
    kiln_model_seed_input(x, n);
    KT_CHECK(x[0] == 0.0f && x[1] == 0.1f && x[255] == 0.0f && x[300] == 4.5f, "seed input");
    check ck = {0, 0};
    KT_OK(kiln_model_trace(a, x, 1, NULL, verify, &ck));
    KT_CHECK(ck.conv_checked && ck.fc_checked, "targets checked");
    free(x);

    o.report = NULL;

    /* refusals */
    kiln_graph *d = make();
    int32_t v = kiln_graph_find_value(d, "bn_conv1_variance");
    kiln_graph_set_const(d, v, NULL, 0);
    const char *bad[] = {"bn_conv1_variance"};
    kiln_status s = kiln_model_fill(d, bad, 1, &o, NULL);
    KT_CHECK(s == KILN_ERR_UNSUPPORTED && strstr(kiln_last_error(), "bn_conv1_variance"),
             "fill of a BN tensor: %s", kiln_last_error());
    const char *unknown[] = {"no_such_tensor"};
    KT_CHECK(kiln_model_fill(d, unknown, 1, &o, NULL) == KILN_ERR_NOT_FOUND, "unknown name");
    kiln_graph_destroy(d);
    kiln_graph_destroy(a);
    return kt_finish("test_model_fill");
}
