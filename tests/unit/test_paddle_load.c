/*
 * test_paddle_load.c — Paddle program + params -> IR on the real fixtures:
 * simple_model (complete, combined params) loads with the right shapes,
 * attributes and zero-copy constants; the incomplete per-file models fail
 * naming the missing file, load partially, and build once the missing
 * tensors are supplied; the QAT program maps conv+bias+relu, adaptive pool,
 * flatten_contiguous_range, matmul and an in-place elementwise_add.
 */
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "load/load.h"
#include "load/paddle.h"
#include "test_util.h"

static char g_path[4096], g_path2[4096];

static const char *fx(const char *rel) {
    snprintf(g_path, sizeof g_path, "%s/paddle/%s", kt_fixtures(), rel);
    return g_path;
}

static int count_op(const kiln_graph *g, kiln_op op) {
    int n = 0;
    for (int32_t i = 0; i < g->n_nodes; i++)
        n += g->nodes[i].op == op;
    return n;
}

static const kiln_node *find_node(const kiln_graph *g, kiln_op op) {
    for (int32_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == op) return &g->nodes[i];
    return NULL;
}

static int dims_eq(const kiln_value *v, int32_t rank, const int64_t *d) {
    if (v->rank != rank) return 0;
    for (int32_t i = 0; i < rank; i++)
        if (v->dims[i] != d[i]) return 0;
    return 1;
}

static void test_simple_model(void) {
    kiln_graph *g = NULL;
    snprintf(g_path2, sizeof g_path2, "%s/paddle/simple_model/model.pdiparams", kt_fixtures());
    KT_OK(kiln_load_paddle(fx("simple_model/model.pdmodel"), g_path2, NULL, &g));
    if (!g) return;
    KT_OK(kiln_graph_verify(g));
    KT_CHECK(g->format == KILN_FORMAT_PADDLE, "format");
    KT_CHECK(strcmp(g->format_version, "paddle ProgramDesc version 2002002, 5 ops") == 0, "%s",
             g->format_version);
    KT_CHECK(g->n_nodes == 3, "3 nodes, got %d", (int)g->n_nodes);
    KT_CHECK(g->n_inputs == 1 && g->n_outputs == 1, "1 in 1 out");
    const int64_t in_dims[4] = {-1, 3, 224, 224}, out_dims[4] = {-1, 32, 112, 112};
    const kiln_value *in = &g->values[g->inputs[0]];
    KT_CHECK(strcmp(in->name, "image") == 0 && dims_eq(in, 4, in_dims) && in->dtype == KILN_DT_F32,
             "input image [-1,3,224,224]");
    KT_CHECK(in->flags & KILN_VALUE_INPUT, "input flag");
    const kiln_value *out = &g->values[g->outputs[0]];
    KT_CHECK(strcmp(out->name, "batch_norm_0.tmp_3") == 0 && dims_eq(out, 4, out_dims), "output %s",
             out->name);
    KT_CHECK(g->nodes[0].op == KILN_OP_CONV && g->nodes[1].op == KILN_OP_BATCH_NORM &&
                 g->nodes[2].op == KILN_OP_RELU,
             "conv, batch_norm, relu");
    const kiln_node *conv = &g->nodes[0];
    KT_CHECK(conv->n_inputs == 2, "conv without bias has 2 inputs");
    KT_CHECK(conv->attrs.strides[0] == 2 && conv->attrs.strides[1] == 2, "strides 2");
    KT_CHECK(conv->attrs.pads[0] == 1 && conv->attrs.pads[1] == 1 && conv->attrs.pads[2] == 1 &&
                 conv->attrs.pads[3] == 1,
             "pads 1");
    KT_CHECK(conv->attrs.group == 1 && conv->attrs.auto_pad == KILN_PAD_EXPLICIT, "group, pad");
    const kiln_value *w = &g->values[conv->inputs[1]];
    const int64_t wd[4] = {32, 3, 3, 3};
    KT_CHECK(strcmp(w->name, "conv1_weights") == 0 && dims_eq(w, 4, wd) && w->data &&
                 w->nbytes == 32 * 27 * 4,
             "conv1_weights const [32,3,3,3]");
    /* every constant is aligned for its type; aligned ones stay zero-copy
     * (inside a mapping the graph owns) */
    int inside = 0, consts = 0;
    for (int32_t v = 0; v < g->n_values; v++) {
        const kiln_value *cv = &g->values[v];
        if (!cv->data) continue;
        consts++;
        KT_CHECK((uintptr_t)cv->data % kiln_dtype_size(cv->dtype) == 0, "%s aligned", cv->name);
        for (int32_t i = 0; i < g->n_mappings; i++) {
            const kiln_mapping *m = &g->mappings[i];
            if ((const uint8_t *)cv->data >= m->data &&
                (const uint8_t *)cv->data < m->data + m->size)
                inside++;
        }
    }
    KT_CHECK(consts == 5 && g->n_mappings == 1, "5 constants, params file owned by the graph");
    KT_CHECK(inside >= 1, "aligned params stay zero-copy (%d of 5)", inside);
    const kiln_node *bn = &g->nodes[1];
    KT_CHECK(bn->n_inputs == 5 && bn->attrs.epsilon > 9.9e-6f && bn->attrs.epsilon < 1.01e-5f,
             "batch_norm epsilon %g", (double)bn->attrs.epsilon);
    static const char *const bn_in[5] = {"conv2d_0.tmp_0", "conv1_bn_scale", "conv1_bn_offset",
                                         "conv1_bn_mean", "conv1_bn_variance"};
    for (int i = 0; i < 5; i++)
        KT_CHECK(strcmp(g->values[bn->inputs[i]].name, bn_in[i]) == 0, "bn input %d %s", i,
                 g->values[bn->inputs[i]].name);
    /* the weights are real (not all zero) */
    const float *wf = w->data;
    float s = 0;
    for (int i = 0; i < 32 * 27; i++)
        s += wf[i] * wf[i];
    KT_CHECK(s > 0.0f, "weights not all zero");
    kiln_graph_destroy(g);

    /* load.h's dispatcher, directory form */
    kiln_load_options o = kiln_load_options_default();
    snprintf(g_path2, sizeof g_path2, "%s/paddle/simple_model", kt_fixtures());
    o.model_dir = g_path2;
    g = NULL;
    KT_OK(kiln_load(&o, &g));
    KT_CHECK(g && g->n_nodes == 3, "kiln_load(dir)");
    kiln_graph_destroy(g);
}

static void fill_missing(kiln_paddle_model *m, int expect_missing) {
    KT_CHECK(m->n_missing == expect_missing, "%d missing, expected %d", (int)m->n_missing,
             expect_missing);
    for (int32_t i = 0; i < m->n_params; i++) {
        kiln_paddle_param *p = &m->params[i];
        if (p->present) continue;
        int64_t n = 1;
        for (int32_t k = 0; k < p->var->rank; k++)
            n *= p->var->dims[k];
        float *buf = malloc((size_t)n * sizeof *buf);
        kt_fill_uniform(buf, (size_t)n, (uint64_t)i + 1, -0.05f, 0.05f);
        KT_OK(kiln_paddle_model_set_param(m, p->name, buf, (size_t)n * sizeof *buf));
        free(buf);
    }
    KT_CHECK(m->n_missing == 0, "all filled");
}

static kiln_graph *load_filled(const char *rel, int n_params, int missing) {
    kiln_paddle_model *m = NULL;
    KT_OK(kiln_paddle_load_partial(fx(rel), NULL, NULL, &m));
    if (!m) return NULL;
    KT_CHECK(m->n_params == n_params, "%s: %d params, expected %d", rel, (int)m->n_params,
             n_params);
    fill_missing(m, missing);
    kiln_graph *g = NULL;
    KT_OK(kiln_paddle_model_to_graph(m, NULL, &g));
    if (g) KT_OK(kiln_graph_verify(g));
    return g;
}

static void test_resnet50(void) {
    kiln_graph *g = NULL;
    kiln_status s = kiln_load_paddle(fx("resnet50_fp32_224/__model__"), NULL, NULL, &g);
    KT_CHECK(s == KILN_ERR_IO && g == NULL, "incomplete model fails: %s", kiln_status_string(s));
    KT_CHECK(strstr(kiln_last_error(), "resnet50_fp32_224/fc_0.w_0") &&
                 strstr(kiln_last_error(), "10 of 267"),
             "message names the missing file: %s", kiln_last_error());

    g = load_filled("resnet50_fp32_224/__model__", 267, 10);
    if (!g) return;
    KT_CHECK(count_op(g, KILN_OP_CONV) == 53 && count_op(g, KILN_OP_BATCH_NORM) == 53 &&
                 count_op(g, KILN_OP_RELU) == 49 && count_op(g, KILN_OP_ADD) == 17,
             "resnet50 node counts");
    KT_CHECK(count_op(g, KILN_OP_MAX_POOL) == 1 && count_op(g, KILN_OP_GLOBAL_AVG_POOL) == 1,
             "pools");
    KT_CHECK(count_op(g, KILN_OP_FLATTEN) == 1 && count_op(g, KILN_OP_MATMUL) == 1 &&
                 count_op(g, KILN_OP_SOFTMAX) == 1 && count_op(g, KILN_OP_SCALE) == 1,
             "mul -> flatten + matmul; softmax; scale");
    KT_CHECK(g->n_nodes == 178, "%d nodes", (int)g->n_nodes);
    KT_CHECK(g->n_outputs == 1 &&
                 strcmp(g->values[g->outputs[0]].name, "save_infer_model/scale_0") == 0,
             "output name");
    const kiln_node *mp = find_node(g, KILN_OP_MAX_POOL);
    KT_CHECK(mp && mp->attrs.kernel[0] == 3 && mp->attrs.strides[0] == 2 &&
                 mp->attrs.pads[0] == 1 && !mp->attrs.ceil_mode,
             "max pool 3x3 s2 p1");
    const kiln_node *fl = find_node(g, KILN_OP_FLATTEN);
    KT_CHECK(fl && fl->attrs.coerce_2d && fl->attrs.axis == 1, "mul flatten axis 1 coerce_2d");
    kiln_graph_destroy(g);
}

static void test_int8(void) {
    kiln_graph *g = load_filled("resnet50_int8_224_per_layer/__model__", 242, 10);
    if (!g) return;
    KT_CHECK(count_op(g, KILN_OP_FAKE_QUANT) == 50, "fake_quant x%d",
             count_op(g, KILN_OP_FAKE_QUANT));
    KT_CHECK(count_op(g, KILN_OP_FAKE_DEQUANT) == 54, "fake_dequant");
    KT_CHECK(count_op(g, KILN_OP_FAKE_QUANT_DEQUANT) == 84, "fake_quant_dequant");
    KT_CHECK(count_op(g, KILN_OP_ADD) == 70, "adds");
    const kiln_node *fq = find_node(g, KILN_OP_FAKE_QUANT);
    KT_CHECK(fq && fq->n_inputs == 2 && g->values[fq->inputs[1]].data &&
                 strcmp(g->values[fq->inputs[1]].name, "image.scale") == 0 &&
                 fq->attrs.bit_length == 8,
             "fake_quant(X, InScale const)");
    const kiln_node *dq = find_node(g, KILN_OP_FAKE_DEQUANT);
    KT_CHECK(dq && dq->attrs.max_range > 50070.0f && dq->attrs.max_range < 50071.0f, "max_range");
    const kiln_node *conv = find_node(g, KILN_OP_CONV);
    KT_CHECK(conv && conv->attrs.out_threshold > 4.62f && conv->attrs.out_threshold < 4.63f,
             "out_threshold kept");
    /* a param stored in a subfolder */
    int32_t v = kiln_graph_find_value(g, "fuse_conv_bn/conv2d_eltwise_y_in/0");
    KT_CHECK(v >= 0 && g->values[v].data, "param from a subfolder");
    kiln_graph_destroy(g);
}

static void test_mobilenet(void) {
    kiln_graph *g = load_filled("mobilenet_v1_fp32_224/__model__", 137, 1);
    if (!g) return;
    KT_CHECK(count_op(g, KILN_OP_CONV) == 27, "27 convs");
    int dw = 0;
    for (int32_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == KILN_OP_CONV && g->nodes[i].attrs.group > 1) dw++;
    KT_CHECK(dw == 13, "13 depthwise convs, got %d", dw);
    KT_CHECK(count_op(g, KILN_OP_GLOBAL_AVG_POOL) == 1, "global avg pool");
    kiln_graph_destroy(g);
}

static void test_qat_program(void) {
    kiln_paddle_model *m = NULL;
    KT_OK(kiln_paddle_load_partial(fx("programs/paddleslim_qat_mobilenet_v1_int8_infer.pdmodel"),
                                   NULL, NULL, &m));
    if (!m) return;
    /* no params at all beside it: building fails, naming the parameter */
    kiln_graph *g = NULL;
    KT_CHECK(m->n_missing == m->n_params && m->n_params > 0, "all params missing");
    fill_missing(m, m->n_params);
    KT_OK(kiln_paddle_model_to_graph(m, NULL, &g));
    if (!g) return;
    KT_OK(kiln_graph_verify(g));
    const kiln_node *conv = find_node(g, KILN_OP_CONV);
    KT_CHECK(conv && conv->n_inputs == 3 && g->values[conv->inputs[2]].data, "conv with Bias");
    KT_CHECK(count_op(g, KILN_OP_CONV) == 27 && count_op(g, KILN_OP_RELU) == 27,
             "fuse_activation relu -> 27 relu nodes (got %d)", count_op(g, KILN_OP_RELU));
    KT_CHECK(count_op(g, KILN_OP_GLOBAL_AVG_POOL) == 1, "adaptive [1,1] -> global avg pool");
    const kiln_node *fl = find_node(g, KILN_OP_FLATTEN);
    KT_CHECK(fl && !fl->attrs.coerce_2d && fl->attrs.axis == 1 && fl->attrs.axis_end == 3,
             "flatten_contiguous_range 1..3");
    KT_CHECK(count_op(g, KILN_OP_MATMUL) == 1, "matmul");
    /* in-place elementwise_add: X == Out == linear_1.tmp_0 */
    const kiln_node *add = find_node(g, KILN_OP_ADD);
    KT_CHECK(add && strcmp(g->values[add->outputs[0]].name, "linear_1.tmp_0") == 0 &&
                 strcmp(g->values[add->inputs[0]].name, "linear_1.tmp_0@1") == 0,
             "in-place add renames the older value");
    const kiln_node *relu = find_node(g, KILN_OP_RELU);
    KT_CHECK(relu && relu->attrs.out_threshold > 18.8f && relu->attrs.out_threshold < 18.81f,
             "out_threshold on the node writing the Paddle variable");
    kiln_graph_destroy(g);

    /* without filling, to_graph names the missing parameter */
    m = NULL;
    KT_OK(kiln_paddle_load_partial(fx("programs/paddleslim_qat_mobilenet_v1_int8_infer.pdmodel"),
                                   NULL, NULL, &m));
    if (!m) return;
    kiln_status s = kiln_paddle_model_to_graph(m, NULL, &g);
    KT_CHECK(s != KILN_OK && strstr(kiln_last_error(), "conv2d_0.w_0") &&
                 strstr(kiln_last_error(), "missing"),
             "missing param named: %s", kiln_last_error());
}

int main(void) {
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/paddle/simple_model/model.pdmodel", kt_fixtures());
    if (!kiln_is_file(probe)) kt_skip("fixtures not found (set KILN_FIXTURES)");
    test_simple_model();
    test_resnet50();
    test_int8();
    test_mobilenet();
    test_qat_program();
    return kt_finish("test_paddle_load");
}
