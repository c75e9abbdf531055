/*
 * test_paddle_convert.c — params layout converters and the exporter:
 * combined <-> per-file round trips are byte-exact (simple_model, and a
 * synthetic program with sub-folder names and tricky sort order), converting
 * an incomplete model fails naming the missing file, and export -> reload of
 * a small IR graph covering every exportable op gives the same nodes,
 * attributes, shapes and constant bytes.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "load/load.h"
#include "load/paddle.h"
#include "test_util.h"

static char tmpdir[256];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

static void rm_rf(const char *p) {
    nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *tmp(const char *name) {
    static char buf[8][1024];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static int same_file(const char *a, const char *b) {
    kiln_mapping x, y;
    if (kiln_map_file(a, &x) != KILN_OK) return 0;
    if (kiln_map_file(b, &y) != KILN_OK) {
        kiln_unmap(&x);
        return 0;
    }
    int same = x.size == y.size && (x.size == 0 || memcmp(x.data, y.data, x.size) == 0);
    kiln_unmap(&x);
    kiln_unmap(&y);
    return same;
}

static void test_simple_model_roundtrip(void) {
    char prog[1024], params[1024];
    snprintf(prog, sizeof prog, "%s/paddle/simple_model/model.pdmodel", kt_fixtures());
    snprintf(params, sizeof params, "%s/paddle/simple_model/model.pdiparams", kt_fixtures());
    KT_OK(kiln_paddle_convert_to_dir(prog, params, tmp("sm_dir")));
    KT_CHECK(kiln_is_file(tmp("sm_dir/conv1_weights")) && kiln_is_file(tmp("sm_dir/__model__")),
             "per-file layout written");
    KT_CHECK(same_file(tmp("sm_dir/__model__"), prog), "program copied unchanged");
    KT_OK(kiln_paddle_convert_to_combined(tmp("sm_dir/__model__"), tmp("sm_model"),
                                          tmp("sm_params")));
    KT_CHECK(same_file(tmp("sm_model"), prog), "combined program byte-exact");
    KT_CHECK(same_file(tmp("sm_params"), params), "combined params byte-exact");
    /* and the per-file copy loads like the original */
    kiln_graph *g = NULL;
    KT_OK(kiln_load_paddle(tmp("sm_dir/__model__"), NULL, NULL, &g));
    KT_CHECK(g && g->n_nodes == 3, "per-file copy loads");
    kiln_graph_destroy(g);
}

static void test_incomplete(void) {
    char prog[1024];
    snprintf(prog, sizeof prog, "%s/paddle/mobilenet_v1_fp32_224/__model__", kt_fixtures());
    kiln_status s = kiln_paddle_convert_to_combined(prog, tmp("mb_model"), tmp("mb_params"));
    KT_CHECK(s == KILN_ERR_IO && strstr(kiln_last_error(), "conv6_sep_weights"),
             "incomplete model: %s", kiln_last_error());
    KT_CHECK(!kiln_is_file(tmp("mb_params")), "nothing written");
}

/* A synthetic program: params with sub-folder names and names whose byte
 * order differs from a naive sort, written per-file by hand. */
static void test_synthetic_roundtrip(void) {
    static const char *const names[] = {"w_b", "W", "w.b", "sub/w", "w", "sub/a/x", "w@1"};
    enum { NV = 7 };
    kiln_paddle_program *p;
    KT_OK(kiln_paddle_program_create(&p));
    p->n_blocks = 1;
    p->blocks = kiln_paddle_program_alloc(p, sizeof *p->blocks);
    kiln_paddle_block *b = &p->blocks[0];
    b->parent_idx = -1;
    b->forward_block_idx = -1;
    b->n_vars = NV + 1;
    b->vars = kiln_paddle_program_alloc(p, (size_t)b->n_vars * sizeof *b->vars);
    for (int i = 0; i < NV; i++) {
        kiln_paddle_var *v = &b->vars[i];
        v->name = names[i];
        v->kind = KILN_PD_LOD_TENSOR;
        v->persistable = true;
        v->has_tensor = true;
        v->dtype = i == 3 ? KILN_PD_INT8 : KILN_PD_FP32;
        v->rank = 2;
        v->dims = kiln_paddle_program_alloc(p, 2 * sizeof(int64_t));
        v->dims[0] = i + 1;
        v->dims[1] = 3;
    }
    b->vars[NV].name = "feed";
    b->vars[NV].kind = KILN_PD_FEED_MINIBATCH;
    b->vars[NV].persistable = true;
    kiln_pbw w = {0};
    kiln_paddle_program_serialize(p, &w);
    KT_CHECK(!w.failed, "serialize");
    KT_OK(kiln_mkdirs(tmp("syn/sub/a")));
    KT_OK(kiln_write_file_atomic(tmp("syn/__model__"), w.data, w.size));
    for (int i = 0; i < NV; i++) {
        const kiln_paddle_var *v = &b->vars[i];
        size_t es = kiln_paddle_dtype_size(v->dtype), n = (size_t)(v->dims[0] * 3);
        float data[32];
        kt_fill_uniform(data, 32, (uint64_t)i + 7, -1.0f, 1.0f);
        char path[1024];
        snprintf(path, sizeof path, "%s/syn/%s", tmpdir, v->name);
        FILE *f = fopen(path, "wb");
        KT_CHECK(f != NULL, "create %s", path);
        if (!f) continue;
        KT_OK(kiln_paddle_record_fwrite(f, path, v->dtype, 2, v->dims, data, n * es));
        fclose(f);
    }
    kiln_pbw_free(&w);
    KT_OK(
        kiln_paddle_convert_to_combined(tmp("syn/__model__"), tmp("syn_model"), tmp("syn_params")));
    /* combined order is strcmp order */
    kiln_mapping m;
    KT_OK(kiln_map_file(tmp("syn_params"), &m));
    const char **sorted;
    int32_t ns;
    KT_OK(kiln_paddle_param_names(p, &sorted, &ns));
    KT_CHECK(ns == NV, "%d params", (int)ns);
    for (int32_t i = 1; i < ns; i++)
        KT_CHECK(strcmp(sorted[i - 1], sorted[i]) < 0, "sorted %s < %s", sorted[i - 1], sorted[i]);
    KT_CHECK(strcmp(sorted[0], "W") == 0 && strcmp(sorted[1], "sub/a/x") == 0 &&
                 strcmp(sorted[3], "w") == 0 && strcmp(sorted[4], "w.b") == 0 &&
                 strcmp(sorted[5], "w@1") == 0 && strcmp(sorted[6], "w_b") == 0,
             "byte-wise order");
    kiln_paddle_record *recs = calloc((size_t)ns, sizeof *recs);
    KT_OK(kiln_paddle_params_read_combined(m.data, m.size, "syn_params", sorted, ns, recs));
    for (int32_t i = 0; i < ns; i++) {
        const kiln_paddle_var *v = kiln_paddle_block_var(b, sorted[i]);
        KT_OK(kiln_paddle_record_check(&recs[i], v, "syn_params"));
    }
    free(recs);
    free(sorted);
    kiln_unmap(&m);
    KT_OK(kiln_paddle_convert_to_dir(tmp("syn_model"), tmp("syn_params"), tmp("syn2")));
    for (int i = 0; i < NV; i++) {
        char a[1024], c[1024];
        snprintf(a, sizeof a, "%s/syn/%s", tmpdir, names[i]);
        snprintf(c, sizeof c, "%s/syn2/%s", tmpdir, names[i]);
        KT_CHECK(same_file(a, c), "%s byte-exact after per-file -> combined -> per-file", names[i]);
    }
    KT_CHECK(same_file(tmp("syn/__model__"), tmp("syn2/__model__")), "program byte-exact");
    kiln_paddle_program_destroy(p);
}

/* ---- export -> reload ------------------------------------------------------- */

static int32_t val(kiln_graph *g, const char *name, int32_t rank, const int64_t *dims) {
    int32_t id = -1;
    KT_OK(kiln_graph_add_value(g, name, KILN_DT_F32, rank, dims, &id));
    return id;
}

static int32_t cst(kiln_graph *g, const char *name, int32_t rank, const int64_t *dims,
                   uint64_t seed) {
    int32_t id = val(g, name, rank, dims);
    int64_t n = kiln_numel(rank, dims);
    float *d = kiln_graph_alloc(g, (size_t)n * sizeof *d);
    kt_fill_uniform(d, (size_t)n, seed, 0.1f, 1.0f);
    kiln_graph_set_const(g, id, d, (size_t)n * sizeof *d);
    return id;
}

static void node(kiln_graph *g, kiln_op op, int32_t n_in, const int32_t *in, int32_t out,
                 const kiln_attrs *a) {
    KT_OK(kiln_graph_add_node(g, op, kiln_op_names[op], n_in, in, 1, &out, a, NULL));
}

static kiln_graph *build_graph(void) {
    kiln_graph *g;
    KT_OK(kiln_graph_create(&g));
    const int64_t x_d[] = {-1, 3, 8, 8}, w_d[] = {4, 3, 3, 3}, c4[] = {4}, a8[] = {-1, 4, 8, 8},
                  a4[] = {-1, 4, 4, 4}, a1[] = {-1, 4, 1, 1}, f4[] = {-1, 4}, w2[] = {4, 5},
                  b5[] = {5}, w3[] = {5, 5}, f5[] = {-1, 5}, r3[] = {-1, 5, 1}, one[] = {1};
    int32_t x = val(g, "x", 4, x_d);
    KT_OK(kiln_graph_add_input(g, x));
    int32_t w = cst(g, "conv_w", 4, w_d, 1), b = cst(g, "conv_b", 1, c4, 2);
    int32_t c1 = val(g, "c1", 4, a8);
    kiln_attrs a = kiln_attrs_default();
    a.pads[0] = a.pads[1] = 1;
    a.pads[2] = 1;
    a.pads[3] = 2;
    a.out_threshold = 3.5f;
    node(g, KILN_OP_CONV, 3, (int32_t[]){x, w, b}, c1, &a);
    int32_t s = cst(g, "bn_s", 1, c4, 3), o = cst(g, "bn_o", 1, c4, 4),
            m = cst(g, "bn_m", 1, c4, 5), v = cst(g, "bn_v", 1, c4, 6);
    int32_t b1 = val(g, "b1", 4, a8);
    a = kiln_attrs_default();
    a.epsilon = 1e-3f;
    node(g, KILN_OP_BATCH_NORM, 5, (int32_t[]){c1, s, o, m, v}, b1, &a);
    int32_t r1 = val(g, "r1", 4, a8), r6 = val(g, "r6", 4, a8), ad = val(g, "ad", 4, a8);
    node(g, KILN_OP_RELU, 1, &b1, r1, NULL);
    a = kiln_attrs_default();
    a.clip_min = 0;
    a.clip_max = 6;
    node(g, KILN_OP_CLIP, 1, &r1, r6, &a);
    node(g, KILN_OP_ADD, 2, (int32_t[]){r6, c1}, ad, NULL);
    int32_t qs = cst(g, "q.scale", 1, one, 7), q1 = val(g, "q1", 4, a8);
    node(g, KILN_OP_FAKE_QUANT_DEQUANT, 2, (int32_t[]){ad, qs}, q1, NULL);
    int32_t p1 = val(g, "p1", 4, a4), p2 = val(g, "p2", 4, a4), g1 = val(g, "g1", 4, a1);
    a = kiln_attrs_default();
    a.kernel[0] = a.kernel[1] = 2;
    a.strides[0] = a.strides[1] = 2;
    a.ceil_mode = true;
    node(g, KILN_OP_MAX_POOL, 1, &q1, p1, &a);
    a = kiln_attrs_default();
    a.kernel[0] = a.kernel[1] = 3;
    a.pads[0] = a.pads[1] = a.pads[2] = a.pads[3] = 1;
    a.count_include_pad = true;
    node(g, KILN_OP_AVG_POOL, 1, &p1, p2, &a);
    node(g, KILN_OP_GLOBAL_AVG_POOL, 1, &p2, g1, NULL);
    int32_t fl = val(g, "fl", 2, f4);
    a = kiln_attrs_default();
    a.axis = 1;
    a.coerce_2d = true;
    node(g, KILN_OP_FLATTEN, 1, &g1, fl, &a);
    int32_t gw = cst(g, "fc.w", 2, w2, 8), gb = cst(g, "fc.b", 1, b5, 9), y1 = val(g, "y1", 2, f5);
    node(g, KILN_OP_GEMM, 3, (int32_t[]){fl, gw, gb}, y1, NULL);
    int32_t mw = cst(g, "mm.w", 2, w3, 10), y2 = val(g, "y2", 2, f5), y3 = val(g, "y3", 2, f5);
    a = kiln_attrs_default();
    a.alpha = 0.5f;
    a.trans_b = true;
    node(g, KILN_OP_MATMUL, 2, (int32_t[]){y1, mw}, y2, &a);
    a = kiln_attrs_default();
    a.alpha = 2.0f;
    a.beta = 0.1f;
    a.bias_after_scale = false;
    node(g, KILN_OP_SCALE, 1, &y2, y3, &a);
    int32_t y4 = val(g, "y4", 3, r3), y5 = val(g, "y5", 2, f5), out = val(g, "prob", 2, f5);
    a = kiln_attrs_default();
    a.shape_rank = 3;
    a.shape[0] = 0;
    a.shape[1] = 5;
    a.shape[2] = 1;
    node(g, KILN_OP_RESHAPE, 1, &y3, y4, &a);
    a = kiln_attrs_default();
    a.axis = 1;
    a.axis_end = 2;
    node(g, KILN_OP_FLATTEN, 1, &y4, y5, &a);
    node(g, KILN_OP_SOFTMAX, 1, &y5, out, NULL);
    KT_OK(kiln_graph_add_output(g, out));
    /* a quantization branch */
    int32_t cq = val(g, "cq", 4, a4), fq = val(g, "fq", 4, a4), fd = val(g, "fd", 4, a4),
            cd = val(g, "cd", 4, a4), cl = val(g, "cl", 4, a4), sm = val(g, "sm", 4, a4),
            o2 = val(g, "out2", 4, a4);
    a = kiln_attrs_default();
    a.axis = 1;
    node(g, KILN_OP_FAKE_CHANNEL_QUANT_DEQUANT, 1, &p1, cq, &a);
    a = kiln_attrs_default();
    a.round_type = 0;
    node(g, KILN_OP_FAKE_QUANT, 1, &cq, fq, &a);
    int32_t ds = cst(g, "dq.scale", 1, one, 11), chs = cst(g, "ch.scale", 1, c4, 12);
    a = kiln_attrs_default();
    a.max_range = 127.0f * 127.0f / 0.5f;
    node(g, KILN_OP_FAKE_DEQUANT, 2, (int32_t[]){fq, ds}, fd, &a);
    a = kiln_attrs_default();
    a.axis = 1;
    a.n_quant_bits = 2;
    a.quant_bits[0] = a.quant_bits[1] = 8;
    node(g, KILN_OP_FAKE_CHANNEL_DEQUANT, 3, (int32_t[]){fd, chs, ds}, cd, &a);
    a = kiln_attrs_default();
    a.clip_min = -1;
    a.clip_max = 1;
    node(g, KILN_OP_CLIP, 1, &cd, cl, &a);
    node(g, KILN_OP_SUM, 2, (int32_t[]){cl, cd}, sm, NULL);
    node(g, KILN_OP_IDENTITY, 1, &sm, o2, NULL);
    KT_OK(kiln_graph_add_output(g, o2));
    KT_OK(kiln_graph_verify(g));
    return g;
}

static int same_attrs(const kiln_attrs *x, const kiln_attrs *y) {
    int ok = 1;
#define EQ(f) ok &= x->f == y->f
    for (int i = 0; i < 2; i++) {
        EQ(kernel[i]);
        EQ(strides[i]);
        EQ(dilations[i]);
        EQ(quant_bits[i]);
    }
    for (int i = 0; i < 4; i++)
        EQ(pads[i]);
    EQ(group);
    EQ(auto_pad);
    EQ(ceil_mode);
    EQ(count_include_pad);
    EQ(axis);
    EQ(axis_end);
    EQ(coerce_2d);
    EQ(alpha);
    EQ(beta);
    EQ(trans_a);
    EQ(trans_b);
    EQ(bias_after_scale);
    EQ(clip_min);
    EQ(clip_max);
    EQ(epsilon);
    EQ(shape_rank);
    for (int i = 0; i < x->shape_rank; i++)
        EQ(shape[i]);
    EQ(bit_length);
    EQ(max_range);
    EQ(round_type);
    EQ(n_quant_bits);
    EQ(out_threshold);
#undef EQ
    return ok;
}

static void test_export_reload(void) {
    kiln_graph *g = build_graph();
    KT_OK(kiln_paddle_export(g, tmp("exp_model"), tmp("exp_params")));
    kiln_graph *r = NULL;
    KT_OK(kiln_load_paddle(tmp("exp_model"), tmp("exp_params"), NULL, &r));
    if (!r) {
        kiln_graph_destroy(g);
        return;
    }
    KT_CHECK(r->n_nodes == g->n_nodes, "%d nodes after reload, %d before", (int)r->n_nodes,
             (int)g->n_nodes);
    for (int32_t i = 0; i < g->n_nodes && i < r->n_nodes; i++) {
        const kiln_node *a = &g->nodes[i], *b = &r->nodes[i];
        KT_CHECK(a->op == b->op, "node %d: op %s vs %s", (int)i, kiln_op_names[a->op],
                 kiln_op_names[b->op]);
        KT_CHECK(same_attrs(&a->attrs, &b->attrs), "node %d (%s): attributes differ", (int)i,
                 kiln_op_names[a->op]);
        KT_CHECK(a->n_inputs == b->n_inputs && a->n_outputs == b->n_outputs, "node %d: io count",
                 (int)i);
        for (int32_t k = 0; k < a->n_inputs && k < b->n_inputs; k++) {
            const kiln_value *u = &g->values[a->inputs[k]], *v = &r->values[b->inputs[k]];
            KT_CHECK(strcmp(u->name, v->name) == 0, "node %d input %d: %s vs %s", (int)i, (int)k,
                     u->name, v->name);
            KT_CHECK(u->rank == v->rank &&
                         memcmp(u->dims, v->dims, sizeof u->dims[0] * u->rank) == 0,
                     "%s: shape differs", u->name);
            KT_CHECK(u->dtype == v->dtype && !u->data == !v->data && u->nbytes == v->nbytes &&
                         (!u->data || memcmp(u->data, v->data, u->nbytes) == 0),
                     "%s: constant data differs", u->name);
        }
        const kiln_value *u = &g->values[a->outputs[0]], *v = &r->values[b->outputs[0]];
        KT_CHECK(strcmp(u->name, v->name) == 0 && u->rank == v->rank &&
                     memcmp(u->dims, v->dims, sizeof u->dims[0] * u->rank) == 0,
                 "node %d output %s vs %s", (int)i, u->name, v->name);
    }
    KT_CHECK(r->n_inputs == 1 && strcmp(r->values[r->inputs[0]].name, "x") == 0, "input x");
    KT_CHECK(r->n_outputs == 2 && strcmp(r->values[r->outputs[0]].name, "prob") == 0 &&
                 strcmp(r->values[r->outputs[1]].name, "out2") == 0,
             "outputs in order");
    /* re-exporting the reloaded graph gives the same params bytes */
    kiln_pbw p1, q1, p2, q2;
    KT_OK(kiln_paddle_export_mem(g, &p1, &q1));
    KT_OK(kiln_paddle_export_mem(r, &p2, &q2));
    KT_CHECK(q1.size == q2.size && memcmp(q1.data, q2.data, q1.size) == 0,
             "params identical after re-export");
    kiln_pbw_free(&p1);
    kiln_pbw_free(&q1);
    kiln_pbw_free(&p2);
    kiln_pbw_free(&q2);

    /* an op Paddle cannot express: a clear error naming the node */
    g->nodes[0].attrs.auto_pad = KILN_PAD_SAME_LOWER;
    kiln_status s = kiln_paddle_export_mem(g, &p1, &q1);
    KT_CHECK(s == KILN_ERR_UNSUPPORTED && strstr(kiln_last_error(), "SAME_LOWER"),
             "unsupported export: %s", kiln_last_error());
    kiln_graph_destroy(r);
    kiln_graph_destroy(g);
}

int main(void) {
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/paddle/simple_model/model.pdmodel", kt_fixtures());
    if (!kiln_is_file(probe)) kt_skip("fixtures not found (set KILN_FIXTURES)");
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kiln_paddle_convert_XXXXXX");
    if (!mkdtemp(tmpdir)) kt_skip("cannot create a temp dir");
    test_simple_model_roundtrip();
    test_incomplete();
    test_synthetic_roundtrip();
    test_export_reload();
    rm_rf(tmpdir);
    return kt_finish("test_paddle_convert");
}
