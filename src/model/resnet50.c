/*
 * resnet50.c — the seeded ResNet50 generator (see resnet50.h).
 *
 * Layout, in the fixture program's execution order and names: conv1 7x7/2 +
 * bn_conv1 + relu, max pool 3x3/2 pad 1; stages [3,4,6,3] of bottlenecks
 * (branch2a 1x1, branch2b 3x3 with the stage stride, branch2c 1x1 x4, then
 * branch1 1x1 shortcut in each stage's first block), add + relu; global avg
 * pool, flatten, GEMM 2048->1000 with bias, softmax.
 *
 * Init: conv He-normal N(0, 2/fan_in); BN scale 1 + 0.1 N (x0.2 for branch2c,
 * so each residual branch adds a small correction and the stream stays
 * bounded), offset 0.1 N, mean 0.1 N, variance U[0.5,1.5); FC N(0, 1/2048),
 * bias 0.01 N. Non-goals: other depths, trained weights.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/rng.h"
#include "core/status.h"
#include "model/resnet50.h"

void kiln_model_randn(float *dst, int64_t n, uint64_t seed, const char *name, double mean,
                      double std) {
    kiln_rng r = kiln_rng_seed(seed ^ kiln_hash_str(name));
    for (int64_t i = 0; i < n; i++)
        dst[i] = (float)(mean + std * kiln_rng_normal(&r));
}

typedef struct builder {
    kiln_graph *g;
    uint64_t seed;
} builder;

/* A constant f32 tensor of the given shape, zero-initialised; returns its data. */
static kiln_status add_param(builder *b, const char *name, int32_t rank, const int64_t *dims,
                             int32_t *id, float **data) {
    KILN_TRY(kiln_graph_add_value(b->g, name, KILN_DT_F32, rank, dims, id));
    int64_t n = kiln_numel(rank, dims);
    size_t bytes = (size_t)n * sizeof(float);
    float *p = kiln_graph_alloc(b->g, bytes);
    if (!p) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory generating '%s'", name);
    kiln_graph_set_const(b->g, *id, p, bytes);
    *data = p;
    return KILN_OK;
}

static kiln_status add_act(builder *b, const char *name, int64_t c, int64_t h, int64_t w,
                           int32_t *id) {
    int64_t dims[4] = {-1, c, h, w};
    return kiln_graph_add_value(b->g, name, KILN_DT_F32, 4, dims, id);
}

/* conv (no bias) + batch_norm [+ relu]. prefix "2a_branch2a" style names:
 * conv weights res<prefix>_weights, BN bn<prefix>_*; for the stem pass
 * wname "conv1_weights", bnname "bn_conv1", convname "conv1". */
static kiln_status conv_bn(builder *b, int32_t x, int64_t cin, int64_t *h, int64_t *w,
                           const char *convname, const char *bnname, int64_t cout, int64_t k,
                           int64_t stride, int64_t pad, double bn_gain, int relu, int32_t *y) {
    char name[160];
    int32_t wid, cid, bid;
    float *p = NULL;
    int64_t wd[4] = {cout, cin, k, k};
    snprintf(name, sizeof name, "%s_weights", convname);
    KILN_TRY(add_param(b, name, 4, wd, &wid, &p));
    kiln_model_randn(p, cout * cin * k * k, b->seed, name, 0.0, sqrt(2.0 / (double)(cin * k * k)));

    int64_t oh = (*h + 2 * pad - k) / stride + 1, ow = (*w + 2 * pad - k) / stride + 1;
    snprintf(name, sizeof name, "%s.conv2d.output.1.tmp_0", convname);
    KILN_TRY(add_act(b, name, cout, oh, ow, &cid));
    kiln_attrs a = kiln_attrs_default();
    a.strides[0] = a.strides[1] = stride;
    for (int i = 0; i < 4; i++)
        a.pads[i] = pad;
    int32_t cin_ids[3] = {x, wid, KILN_NO_VALUE};
    KILN_TRY(kiln_graph_add_node(b->g, KILN_OP_CONV, name, 2, cin_ids, 1, &cid, &a, NULL));

    static const char *const suffix[4] = {"scale", "offset", "mean", "variance"};
    int32_t bn_in[5] = {cid, 0, 0, 0, 0};
    for (int t = 0; t < 4; t++) {
        snprintf(name, sizeof name, "%s_%s", bnname, suffix[t]);
        KILN_TRY(add_param(b, name, 1, &cout, &bn_in[1 + t], &p));
        if (t == 3) {
            kiln_rng r = kiln_rng_seed(b->seed ^ kiln_hash_str(name));
            for (int64_t i = 0; i < cout; i++)
                p[i] = (float)(0.5 + kiln_rng_uniform(&r));
        } else if (t == 0) {
            kiln_model_randn(p, cout, b->seed, name, 1.0, 0.1);
            for (int64_t i = 0; i < cout; i++)
                p[i] *= (float)bn_gain;
        } else {
            kiln_model_randn(p, cout, b->seed, name, 0.0, 0.1);
        }
    }
    snprintf(name, sizeof name, "%s.output.1.tmp_2", bnname);
    KILN_TRY(add_act(b, name, cout, oh, ow, &bid));
    a = kiln_attrs_default();
    a.epsilon = 1e-5f;
    KILN_TRY(kiln_graph_add_node(b->g, KILN_OP_BATCH_NORM, name, 5, bn_in, 1, &bid, &a, NULL));
    *h = oh;
    *w = ow;
    if (!relu) {
        *y = bid;
        return KILN_OK;
    }
    snprintf(name, sizeof name, "%s.output.1.tmp_3", bnname);
    KILN_TRY(add_act(b, name, cout, oh, ow, y));
    return kiln_graph_add_node(b->g, KILN_OP_RELU, name, 1, &bid, 1, y, NULL, NULL);
}

/* One bottleneck block res<stage><letter>; x has cin channels. */
static kiln_status bottleneck(builder *b, int32_t x, int64_t cin, int64_t *h, int64_t *w, int stage,
                              char letter, int64_t filters, int64_t stride, int shortcut,
                              int32_t *y) {
    char cn[64], bn[64], name[160];
    int64_t h0 = *h, w0 = *w, hh = *h, ww = *w;
    int32_t a2, b2, c2, sc = x, sum;
    snprintf(cn, sizeof cn, "res%d%c_branch2a", stage, letter);
    snprintf(bn, sizeof bn, "bn%d%c_branch2a", stage, letter);
    KILN_TRY(conv_bn(b, x, cin, &hh, &ww, cn, bn, filters, 1, 1, 0, 1.0, 1, &a2));
    snprintf(cn, sizeof cn, "res%d%c_branch2b", stage, letter);
    snprintf(bn, sizeof bn, "bn%d%c_branch2b", stage, letter);
    KILN_TRY(conv_bn(b, a2, filters, &hh, &ww, cn, bn, filters, 3, stride, 1, 1.0, 1, &b2));
    snprintf(cn, sizeof cn, "res%d%c_branch2c", stage, letter);
    snprintf(bn, sizeof bn, "bn%d%c_branch2c", stage, letter);
    KILN_TRY(conv_bn(b, b2, filters, &hh, &ww, cn, bn, filters * 4, 1, 1, 0, 0.2, 0, &c2));
    if (shortcut) {
        int64_t sh = h0, sw = w0;
        snprintf(cn, sizeof cn, "res%d%c_branch1", stage, letter);
        snprintf(bn, sizeof bn, "bn%d%c_branch1", stage, letter);
        KILN_TRY(conv_bn(b, x, cin, &sh, &sw, cn, bn, filters * 4, 1, stride, 0, 1.0, 0, &sc));
    }
    snprintf(name, sizeof name, "res%d%c.add.output.5", stage, letter);
    KILN_TRY(add_act(b, name, filters * 4, hh, ww, &sum));
    int32_t in[2] = {sc, c2};
    kiln_attrs a = kiln_attrs_default();
    a.axis = -1;
    KILN_TRY(kiln_graph_add_node(b->g, KILN_OP_ADD, name, 2, in, 1, &sum, &a, NULL));
    snprintf(name, sizeof name, "res%d%c.add.output.5.tmp_0", stage, letter);
    KILN_TRY(add_act(b, name, filters * 4, hh, ww, y));
    KILN_TRY(kiln_graph_add_node(b->g, KILN_OP_RELU, name, 1, &sum, 1, y, NULL, NULL));
    *h = hh;
    *w = ww;
    return KILN_OK;
}

static kiln_status build(builder *b) {
    kiln_graph *g = b->g;
    int32_t x, y, t;
    int64_t h = 224, w = 224;
    KILN_TRY(add_act(b, "image", 3, h, w, &x));
    KILN_TRY(kiln_graph_add_input(g, x));
    KILN_TRY(conv_bn(b, x, 3, &h, &w, "conv1", "bn_conv1", 64, 7, 2, 3, 1.0, 1, &y));

    kiln_attrs a = kiln_attrs_default();
    a.kernel[0] = a.kernel[1] = 3;
    a.strides[0] = a.strides[1] = 2;
    for (int i = 0; i < 4; i++)
        a.pads[i] = 1;
    h = (h + 2 - 3) / 2 + 1;
    w = (w + 2 - 3) / 2 + 1;
    KILN_TRY(add_act(b, "pool2d_0.tmp_0", 64, h, w, &t));
    KILN_TRY(kiln_graph_add_node(g, KILN_OP_MAX_POOL, "pool2d_0.tmp_0", 1, &y, 1, &t, &a, NULL));
    x = t;

    static const int depth[4] = {3, 4, 6, 3};
    int64_t cin = 64;
    for (int s = 0; s < 4; s++) {
        int64_t filters = (int64_t)64 << s;
        for (int i = 0; i < depth[s]; i++) {
            int64_t stride = (i == 0 && s > 0) ? 2 : 1;
            KILN_TRY(
                bottleneck(b, x, cin, &h, &w, s + 2, (char)('a' + i), filters, stride, i == 0, &y));
            x = y;
            cin = filters * 4;
        }
    }

    KILN_TRY(add_act(b, "pool2d_1.tmp_0", 2048, 1, 1, &t));
    KILN_TRY(kiln_graph_add_node(g, KILN_OP_GLOBAL_AVG_POOL, "pool2d_1.tmp_0", 1, &x, 1, &t, NULL,
                                 NULL));
    int64_t fd[2] = {-1, 2048};
    int32_t flat;
    KILN_TRY(kiln_graph_add_value(g, "pool2d_1.tmp_0.flatten", KILN_DT_F32, 2, fd, &flat));
    a = kiln_attrs_default();
    a.axis = 1;
    a.coerce_2d = true;
    KILN_TRY(kiln_graph_add_node(g, KILN_OP_FLATTEN, "pool2d_1.tmp_0.flatten", 1, &t, 1, &flat, &a,
                                 NULL));

    int32_t wid, bid, logits, prob;
    float *p;
    int64_t wd[2] = {2048, 1000}, bd = 1000;
    KILN_TRY(add_param(b, "fc_0.w_0", 2, wd, &wid, &p));
    kiln_model_randn(p, 2048 * 1000, b->seed, "fc_0.w_0", 0.0, sqrt(1.0 / 2048.0));
    KILN_TRY(add_param(b, "fc_0.b_0", 1, &bd, &bid, &p));
    kiln_model_randn(p, 1000, b->seed, "fc_0.b_0", 0.0, 0.01);
    int64_t ld[2] = {-1, 1000};
    KILN_TRY(kiln_graph_add_value(g, "fc_0.tmp_1", KILN_DT_F32, 2, ld, &logits));
    a = kiln_attrs_default();
    a.alpha = 1.0f;
    a.beta = 1.0f;
    int32_t gin[3] = {flat, wid, bid};
    KILN_TRY(kiln_graph_add_node(g, KILN_OP_GEMM, "fc_0.tmp_1", 3, gin, 1, &logits, &a, NULL));
    KILN_TRY(kiln_graph_add_value(g, "softmax_0.tmp_0", KILN_DT_F32, 2, ld, &prob));
    a = kiln_attrs_default();
    a.axis = -1;
    KILN_TRY(
        kiln_graph_add_node(g, KILN_OP_SOFTMAX, "softmax_0.tmp_0", 1, &logits, 1, &prob, &a, NULL));
    KILN_TRY(kiln_graph_add_output(g, prob));
    return kiln_graph_verify(g);
}

kiln_status kiln_model_generate_resnet50(uint64_t seed, kiln_graph **out) {
    builder b = {NULL, seed};
    KILN_TRY(kiln_graph_create(&b.g));
    b.g->format = KILN_FORMAT_PADDLE;
    char ver[96];
    snprintf(ver, sizeof ver, "kiln generated resnet50 seed %llu", (unsigned long long)seed);
    b.g->format_version = strdup(ver);
    kiln_status s =
        b.g->format_version ? build(&b) : kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    if (s != KILN_OK) {
        kiln_graph_destroy(b.g);
        return kiln_error_prefix(s, "generating resnet50");
    }
    *out = b.g;
    return KILN_OK;
}
