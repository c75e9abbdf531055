/*
 * test_onnx_export.c — kiln_onnx_export on small graphs built in the IR.
 *
 * 1. A classifier (conv + batch_norm + relu + max_pool + flatten + gemm +
 *    softmax): export, reload with kiln_load_onnx_buffer, run both on the
 *    reference backend at batch 2; outputs must agree to rel err <= 1e-6
 *    (same kernels, same weights: only float noise is allowed).
 * 2. The expansions (Paddle-axis add with a constant and with a computed B,
 *    scale, clip, range flatten, matmul with trans_b and alpha, coerced
 *    softmax on rank 3): Kiln's loader does not read Transpose/Mul/Shape
 *    back, so ONNX Runtime is the oracle: tests/ort/run_ort.js (when node and
 *    tests/ort/node_modules exist, else that part is skipped with a note),
 *    rel err <= 1e-5 (ORT's kernels sum in another order).
 * 3. Fake-quant ops are refused with KILN_ERR_UNSUPPORTED.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/file.h"
#include "core/status.h"
#include "load/load.h"
#include "load/onnx.h"
#include "load/onnx_export.h"
#include "test_util.h"

static uint64_t seed = 1;

static int32_t cst(kiln_graph *g, const char *name, int32_t rank, const int64_t *dims, float lo,
                   float hi) {
    int32_t id;
    kiln_graph_add_value(g, name, KILN_DT_F32, rank, dims, &id);
    int64_t n = kiln_numel(rank, dims);
    float *p = kiln_graph_alloc(g, (size_t)n * sizeof(float));
    kt_fill_uniform(p, (size_t)n, seed++, lo, hi);
    kiln_graph_set_const(g, id, p, (size_t)n * sizeof(float));
    return id;
}

static int32_t act(kiln_graph *g, const char *name) {
    int32_t id;
    kiln_graph_add_value(g, name, KILN_DT_F32, 0, NULL, &id);
    return id;
}

static int32_t node1(kiln_graph *g, kiln_op op, const char *name, int32_t n_in, const int32_t *in,
                     const kiln_attrs *a) {
    int32_t out = act(g, name);
    kiln_graph_add_node(g, op, name, n_in, in, 1, &out, a, NULL);
    return out;
}

static kiln_graph *classifier(void) {
    kiln_graph *g;
    kiln_graph_create(&g);
    int64_t xd[4] = {-1, 3, 8, 8}, wd[4] = {4, 3, 3, 3}, c4[1] = {4}, fw[2] = {10, 64},
            c10[1] = {10};
    int32_t x;
    kiln_graph_add_value(g, "image", KILN_DT_F32, 4, xd, &x);
    kiln_graph_add_input(g, x);
    kiln_attrs a = kiln_attrs_default();
    a.pads[0] = a.pads[1] = a.pads[2] = a.pads[3] = 1;
    int32_t in[5] = {x, cst(g, "conv.w", 4, wd, -0.5f, 0.5f), cst(g, "conv.b", 1, c4, -0.1f, 0.1f)};
    int32_t y = node1(g, KILN_OP_CONV, "conv", 3, in, &a);
    int32_t bn[5] = {y, cst(g, "bn.scale", 1, c4, 0.5f, 1.5f),
                     cst(g, "bn.bias", 1, c4, -0.2f, 0.2f), cst(g, "bn.mean", 1, c4, -0.1f, 0.1f),
                     cst(g, "bn.var", 1, c4, 0.5f, 2.0f)};
    a = kiln_attrs_default();
    a.epsilon = 1e-3f;
    y = node1(g, KILN_OP_BATCH_NORM, "bn", 5, bn, &a);
    y = node1(g, KILN_OP_RELU, "relu", 1, &y, NULL);
    a = kiln_attrs_default();
    a.kernel[0] = a.kernel[1] = 2;
    a.strides[0] = a.strides[1] = 2;
    y = node1(g, KILN_OP_MAX_POOL, "pool", 1, &y, &a);
    a = kiln_attrs_default();
    a.coerce_2d = true;
    a.axis = 1;
    y = node1(g, KILN_OP_FLATTEN, "flatten", 1, &y, &a);
    int32_t gi[3] = {y, cst(g, "fc.w", 2, fw, -0.3f, 0.3f), cst(g, "fc.b", 1, c10, -0.1f, 0.1f)};
    a = kiln_attrs_default();
    a.trans_b = true;
    y = node1(g, KILN_OP_GEMM, "fc", 3, gi, &a);
    a = kiln_attrs_default();
    a.coerce_2d = true;
    a.axis = 1;
    y = node1(g, KILN_OP_SOFTMAX, "prob", 1, &y, &a);
    kiln_graph_add_output(g, y);
    return g;
}

static kiln_graph *expansions(void) {
    kiln_graph *g;
    kiln_graph_create(&g);
    int64_t xd[4] = {-1, 3, 5, 6}, c3[1] = {3}, md[2] = {5, 30};
    int32_t x;
    kiln_graph_add_value(g, "x", KILN_DT_F32, 4, xd, &x);
    kiln_graph_add_input(g, x);
    kiln_attrs a = kiln_attrs_default();
    a.axis = 1; /* Paddle add: B [3] on A's dim 1 */
    int32_t ai[2] = {x, cst(g, "bias", 1, c3, -0.5f, 0.5f)};
    int32_t y = node1(g, KILN_OP_ADD, "add_c", 2, ai, &a);
    /* Computed B: flatten(GAP(x)) [N,3] added at axis 0. */
    int32_t p = node1(g, KILN_OP_GLOBAL_AVG_POOL, "gap", 1, &x, NULL);
    a = kiln_attrs_default();
    a.coerce_2d = true;
    a.axis = 1;
    p = node1(g, KILN_OP_FLATTEN, "gap_flat", 1, &p, &a);
    a = kiln_attrs_default();
    a.axis = 0;
    int32_t ai2[2] = {y, p};
    y = node1(g, KILN_OP_ADD, "add_v", 2, ai2, &a);
    a = kiln_attrs_default();
    a.alpha = 2.0f;
    a.beta = 0.25f;
    a.bias_after_scale = false;
    y = node1(g, KILN_OP_SCALE, "scale", 1, &y, &a);
    a = kiln_attrs_default();
    a.clip_min = -1.5f;
    a.clip_max = 1.0f;
    y = node1(g, KILN_OP_CLIP, "clip", 1, &y, &a);
    a = kiln_attrs_default();
    a.axis = 2;
    a.axis_end = 3;
    y = node1(g, KILN_OP_FLATTEN, "flat23", 1, &y, &a); /* [N,3,30] */
    a = kiln_attrs_default();
    a.trans_b = true;
    a.alpha = 0.5f;
    int32_t mi[2] = {y, cst(g, "mm.w", 2, md, -0.4f, 0.4f)};
    y = node1(g, KILN_OP_MATMUL, "mm", 2, mi, &a); /* [N,3,5] */
    a = kiln_attrs_default();
    a.coerce_2d = true;
    a.axis = 1;
    y = node1(g, KILN_OP_SOFTMAX, "prob", 1, &y, &a); /* softmax over 15 per sample */
    kiln_graph_add_output(g, y);
    return g;
}

/* Runs g (batch from `batch`) on the reference backend; returns malloc'ed output 0. */
static float *run_ref(const kiln_graph *g0, const float *x, int64_t batch, int64_t *n_out) {
    kiln_graph *g;
    if (kiln_graph_clone(g0, &g) != KILN_OK) return NULL;
    g->values[g->inputs[0]].dims[0] = batch;
    float *y = NULL;
    void *exec = NULL;
    kiln_backend_options bo = {1, KILN_PRECISION_FP32, NULL};
    KT_OK(kiln_infer_shapes(g));
    KT_OK(kiln_backend_ref.create(g, &bo, &exec));
    if (exec) {
        const kiln_value *in = &g->values[g->inputs[0]], *out = &g->values[g->outputs[0]];
        KT_OK(kiln_backend_ref.write_value(exec, g->inputs[0], x,
                                           (size_t)kiln_numel(in->rank, in->dims)));
        KT_OK(kiln_backend_ref.run(exec, batch));
        *n_out = kiln_numel(out->rank, out->dims);
        y = malloc((size_t)*n_out * sizeof(float));
        KT_OK(kiln_backend_ref.read_value(exec, g->outputs[0], y, (size_t)*n_out));
        kiln_backend_ref.destroy(exec);
    }
    kiln_graph_destroy(g);
    return y;
}

static void test_classifier(void) {
    kiln_graph *g = classifier();
    KT_OK(kiln_graph_verify(g));
    kiln_pbw w;
    KT_OK(kiln_onnx_export_buffer(g, &w));
    kiln_graph *r = NULL;
    KT_OK(kiln_load_onnx_buffer(w.data, w.size, "exported.onnx", NULL, NULL, &r));
    if (!r) {
        kiln_graph_destroy(g);
        return;
    }
    KT_CHECK(strstr(r->format_version, "ir_version 8, opset 13, producer kiln") != NULL, "%s",
             r->format_version);
    KT_CHECK(r->n_inputs == 1 && r->values[r->inputs[0]].dims[0] == -1, "batch is dim_param");
    KT_CHECK(r->n_nodes == g->n_nodes, "%d nodes reloaded, %d exported", (int)r->n_nodes,
             (int)g->n_nodes);
    float x[2 * 3 * 8 * 8];
    kt_fill_uniform(x, sizeof x / sizeof x[0], 99, -1.0f, 1.0f);
    int64_t na = 0, nb = 0;
    float *ya = run_ref(g, x, 2, &na), *yb = run_ref(r, x, 2, &nb);
    KT_CHECK(ya && yb && na == 20 && nb == 20, "outputs %lld %lld", (long long)na, (long long)nb);
    if (ya && yb && na == nb) {
        double err = kt_rel_err(yb, ya, (size_t)na);
        printf("classifier round trip: rel err %.3g (tolerance 1e-6)\n", err);
        KT_CHECK(err <= 1e-6, "round trip rel err %g", err);
    }
    /* Writing to a file too (atomic path). */
    char path[] = "/tmp/kiln_test_export_XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) {
        close(fd);
        KT_OK(kiln_onnx_export(g, path));
        kiln_graph *f = NULL;
        KT_OK(kiln_load_onnx(path, NULL, &f));
        KT_CHECK(f && f->n_nodes == g->n_nodes, "file reload");
        kiln_graph_destroy(f);
        unlink(path);
    }
    free(ya);
    free(yb);
    kiln_pbw_free(&w);
    kiln_graph_destroy(r);
    kiln_graph_destroy(g);
}

static void test_expansions(void) {
    kiln_graph *g = expansions();
    KT_OK(kiln_graph_verify(g));
    kiln_pbw w;
    KT_OK(kiln_onnx_export_buffer(g, &w));
    const char *src = getenv("KILN_SRC");
    char runner[4096], mods[4096], cmd[20000];
    snprintf(runner, sizeof runner, "%s/tests/ort/run_ort.js", src ? src : ".");
    snprintf(mods, sizeof mods, "%s/tests/ort/node_modules/onnxruntime-node", src ? src : ".");
    if (!kiln_is_file(runner) || !kiln_is_dir(mods) || system("node --version >/dev/null 2>&1")) {
        printf("expansions: ONNX Runtime runner unavailable (node, %s): ORT comparison "
               "skipped\n",
               mods);
        kiln_pbw_free(&w);
        kiln_graph_destroy(g);
        return;
    }
    char dir[] = "/tmp/kiln_test_export_dir_XXXXXX";
    if (!mkdtemp(dir)) {
        KT_CHECK(0, "mkdtemp failed");
        return;
    }
    char model[4200], inp[4200], outp[4200];
    snprintf(model, sizeof model, "%s/m.onnx", dir);
    snprintf(inp, sizeof inp, "%s/in.bin", dir);
    snprintf(outp, sizeof outp, "%s/out.bin", dir);
    float x[2 * 3 * 5 * 6];
    kt_fill_uniform(x, sizeof x / sizeof x[0], 7, -1.0f, 1.0f);
    KT_OK(kiln_write_file_atomic(model, w.data, w.size));
    KT_OK(kiln_write_file_atomic(inp, x, sizeof x));
    snprintf(cmd, sizeof cmd, "node '%s' '%s' '%s' 2x3x5x6 '%s'", runner, model, inp, outp);
    int rc = system(cmd);
    KT_CHECK(rc == 0, "ONNX Runtime failed on the exported model (%s)", cmd);
    int64_t n = 0;
    float *y = run_ref(g, x, 2, &n);
    kiln_mapping m;
    if (rc == 0 && y && kiln_map_file(outp, &m) == KILN_OK) {
        KT_CHECK(m.size == (size_t)n * sizeof(float), "ORT output %zu bytes, kiln %lld floats",
                 m.size, (long long)n);
        if (m.size == (size_t)n * sizeof(float)) {
            float *o = malloc(m.size);
            memcpy(o, m.data, m.size);
            double err = kt_rel_err(y, o, (size_t)n);
            printf("expansions vs ONNX Runtime: rel err %.3g (tolerance 1e-5)\n", err);
            KT_CHECK(err <= 1e-5, "rel err vs ORT %g", err);
            free(o);
        }
        kiln_unmap(&m);
    }
    free(y);
    unlink(model);
    unlink(inp);
    unlink(outp);
    rmdir(dir);
    kiln_pbw_free(&w);
    kiln_graph_destroy(g);
}

static void test_fake_quant_refused(void) {
    kiln_graph *g;
    kiln_graph_create(&g);
    int64_t xd[2] = {-1, 4};
    int32_t x;
    kiln_graph_add_value(g, "x", KILN_DT_F32, 2, xd, &x);
    kiln_graph_add_input(g, x);
    int32_t y = node1(g, KILN_OP_FAKE_QUANT_DEQUANT, "fq", 1, &x, NULL);
    kiln_graph_add_output(g, y);
    kiln_pbw w;
    kiln_status s = kiln_onnx_export_buffer(g, &w);
    KT_CHECK(s == KILN_ERR_UNSUPPORTED && strstr(kiln_last_error(), "fq"), "%s: %s",
             kiln_status_string(s), kiln_last_error());
    if (s == KILN_OK) kiln_pbw_free(&w);
    kiln_graph_destroy(g);
}

int main(void) {
    test_classifier();
    test_expansions();
    test_fake_quant_refused();
    return kt_finish("test_onnx_export");
}
