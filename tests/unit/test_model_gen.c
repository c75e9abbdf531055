/*
 * test_model_gen.c — the seeded ResNet50 generator (src/model/resnet50.c):
 * structure (53 convs, fixture names), shape inference to [1,1000],
 * determinism by seed, and one forward pass on the reference backend with the
 * seed demo's input (i % 255 * 0.1): every activation finite with RMS in
 * [1e-3, 1e3], softmax rows summing to 1 (tolerance 1e-4).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "model/fill.h"
#include "model/resnet50.h"
#include "model/trace.h"
#include "test_util.h"

static int count_op(const kiln_graph *g, kiln_op op) {
    int c = 0;
    for (int32_t i = 0; i < g->n_nodes; i++)
        c += g->nodes[i].op == op;
    return c;
}

static int same_weights(const kiln_graph *a, const kiln_graph *b) {
    if (a->n_values != b->n_values) return 0;
    for (int32_t i = 0; i < a->n_values; i++) {
        const kiln_value *x = &a->values[i], *y = &b->values[i];
        if (strcmp(x->name, y->name) || x->nbytes != y->nbytes || (!x->data) != (!y->data))
            return 0;
        if (x->data && memcmp(x->data, y->data, x->nbytes)) return 0;
    }
    return 1;
}

typedef struct stats {
    int layers, bad;
    double min_rms, max_rms;
    double prob_sum;
} stats;

static kiln_status after(void *user, kiln_trace *t, int32_t node) {
    stats *st = user;
    const kiln_node *n = &t->g->nodes[node];
    int32_t v = n->outputs[0];
    const kiln_value *sv = &t->shapes->values[v];
    int64_t ne = kiln_numel(sv->rank, sv->dims), nonfinite = 0;
    double rms = kiln_model_rms(t->acts[v], ne, &nonfinite);
    KT_CHECK(nonfinite == 0, "%s: %lld non-finite values", n->name, (long long)nonfinite);
    if (n->op == KILN_OP_SOFTMAX) {
        double s = 0;
        for (int64_t i = 0; i < ne; i++)
            s += t->acts[v][i];
        st->prob_sum = s;
        return KILN_OK;
    }
    st->layers++;
    if (rms < st->min_rms) st->min_rms = rms;
    if (rms > st->max_rms) st->max_rms = rms;
    if (!(rms >= 1e-3 && rms <= 1e3)) {
        st->bad++;
        fprintf(stderr, "layer %s: RMS %g out of [1e-3, 1e3]\n", n->name, rms);
    }
    return KILN_OK;
}

int main(void) {
    kiln_graph *g = NULL, *g2 = NULL, *g3 = NULL;
    KT_OK(kiln_model_generate_resnet50(1, &g));
    if (!g) return kt_finish("test_model_gen");
    KT_CHECK(count_op(g, KILN_OP_CONV) == 53, "%d convs", count_op(g, KILN_OP_CONV));
    KT_CHECK(count_op(g, KILN_OP_BATCH_NORM) == 53, "%d bns", count_op(g, KILN_OP_BATCH_NORM));
    KT_CHECK(count_op(g, KILN_OP_ADD) == 16, "%d adds", count_op(g, KILN_OP_ADD));
    KT_CHECK(count_op(g, KILN_OP_RELU) == 49, "%d relus", count_op(g, KILN_OP_RELU));
    int params = 0;
    for (int32_t i = 0; i < g->n_values; i++)
        params += g->values[i].data != NULL;
    KT_CHECK(params == 267, "%d params (expected 267 like the fixture)", params);
    static const char *const names[] = {"conv1_weights",
                                        "bn_conv1_variance",
                                        "res2a_branch1_weights",
                                        "bn5c_branch2c_scale",
                                        "res5a_branch2b_weights",
                                        "fc_0.w_0",
                                        "fc_0.b_0"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        KT_CHECK(kiln_graph_find_value(g, names[i]) >= 0, "missing %s", names[i]);
    int32_t fc = kiln_graph_find_value(g, "fc_0.w_0");
    KT_CHECK(fc >= 0 && g->values[fc].dims[0] == 2048 && g->values[fc].dims[1] == 1000,
             "fc_0.w_0 shape");
    int32_t w5 = kiln_graph_find_value(g, "res5a_branch2b_weights");
    KT_CHECK(w5 >= 0 && g->values[w5].dims[0] == 512 && g->values[w5].dims[1] == 512 &&
                 g->values[w5].dims[2] == 3,
             "res5a_branch2b_weights shape");
    KT_CHECK(g->n_inputs == 1 && strcmp(g->values[g->inputs[0]].name, "image") == 0, "input");
    KT_OK(kiln_graph_verify(g));

    /* shapes with batch 1 */
    kiln_graph *c = NULL;
    KT_OK(kiln_graph_clone(g, &c));
    if (c) {
        c->values[c->inputs[0]].dims[0] = 1;
        KT_OK(kiln_infer_shapes(c));
        const kiln_value *o = &c->values[c->outputs[0]];
        KT_CHECK(o->rank == 2 && o->dims[0] == 1 && o->dims[1] == 1000, "output shape");
        kiln_graph_destroy(c);
    }

    /* determinism */
    KT_OK(kiln_model_generate_resnet50(1, &g2));
    KT_OK(kiln_model_generate_resnet50(2, &g3));
    if (g2 && g3) {
        KT_CHECK(same_weights(g, g2), "same seed, different weights");
        KT_CHECK(!same_weights(g, g3), "different seeds, same weights");
    }
    kiln_graph_destroy(g2);
    kiln_graph_destroy(g3);

    /* one forward pass on the seed input */
    int64_t n = 3 * 224 * 224;
    float *x = malloc((size_t)n * sizeof *x);
    kiln_model_seed_input(x, n);
    stats st = {0, 0, 1e30, 0, 0};
    KT_OK(kiln_model_trace(g, x, 1, NULL, after, &st));
    /* 53 conv + 53 bn + 49 relu + 16 add + 2 pools + flatten + gemm (softmax apart) */
    KT_CHECK(st.layers == 175, "%d layers traced", st.layers);
    KT_CHECK(st.bad == 0, "%d layers out of range", st.bad);
    KT_CHECK(fabs(st.prob_sum - 1.0) < 1e-4, "softmax sums to %.6f", st.prob_sum);
    printf("traced %d layers: RMS min %.4g max %.4g; softmax sum %.6f\n", st.layers, st.min_rms,
           st.max_rms, st.prob_sum);
    free(x);
    kiln_graph_destroy(g);
    return kt_finish("test_model_gen");
}
