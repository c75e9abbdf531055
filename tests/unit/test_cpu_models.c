/*
 * test_cpu_models.c — the generated ResNet50 (kiln_model_generate_resnet50)
 * after kiln_passes_run on the cpu (oneDNN) backend against the ref backend,
 * built at batch 2 and run at batch 2 and batch 1: the softmax output, the
 * logits and the stage-4 output 'res4f.add.output.5.tmp_0' (the last res4
 * block's relu, marked as a graph output before the passes, so the fused conv
 * + residual + relu writes it). One ref run at batch 2 (~20 s) is the oracle
 * for both cpu runs (images are independent).
 * Tolerance: ||cpu - ref|| / ||ref|| <= 1e-5 per output; ||ref|| > 0.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "model/fill.h"
#include "model/resnet50.h"
#include "passes/passes.h"
#include "test_util.h"

extern const kiln_backend kiln_backend_cpu;

static const double TOL = 1e-5;
static const char *const OUTS[] = {"softmax_0.tmp_0", "fc_0.tmp_1", "res4f.add.output.5.tmp_0"};
enum { N_OUTS = 3 };

static float *read_out(const kiln_backend *b, void *exec, int32_t id, size_t n) {
    float *y = malloc(n * sizeof(float));
    if (y && b->read_value(exec, id, y, n) != KILN_OK) {
        fprintf(stderr, "%s read: %s\n", b->name, kiln_last_error());
        free(y);
        return NULL;
    }
    return y;
}

int main(void) {
    const int64_t B = 2;
    kiln_graph *g = NULL;
    KT_OK(kiln_model_generate_resnet50(1, &g));
    if (!g) return kt_finish("test_cpu_models");
    g->values[g->inputs[0]].dims[0] = B;
    int32_t ids[N_OUTS];
    for (int i = 0; i < N_OUTS; i++) {
        ids[i] = kiln_graph_find_value(g, OUTS[i]);
        KT_CHECK(ids[i] >= 0, "the generator names '%s'", OUTS[i]);
        if (ids[i] < 0) return kt_finish("test_cpu_models");
        if (i > 0) KT_OK(kiln_graph_add_output(g, ids[i]));
    }
    KT_OK(kiln_infer_shapes(g));
    kiln_pass_stats st;
    KT_OK(kiln_passes_run(g, NULL, &st));
    KT_OK(kiln_infer_shapes(g));
    KT_CHECK(st.residuals_fused == 16, "16 residual adds fused (got %d)", st.residuals_fused);
    for (int i = 0; i < N_OUTS; i++)
        KT_CHECK(g->values[ids[i]].producer >= 0, "'%s' still produced after the passes", OUTS[i]);

    int32_t x = g->inputs[0];
    size_t nx = (size_t)kiln_numel(g->values[x].rank, g->values[x].dims);
    float *in = malloc(nx * sizeof(float));
    kiln_model_seed_input(in, (int64_t)(nx / (size_t)B)); /* image 0: the seed demo's input */
    kt_fill_uniform(in + nx / (size_t)B, nx / (size_t)B, 5, 0.0f, 25.0f); /* image 1: random */

    kiln_backend_options bo = {0, KILN_PRECISION_FP32, NULL};
    void *re = NULL, *ce = NULL;
    KT_OK(kiln_backend_ref.create(g, &bo, &re));
    KT_OK(kiln_backend_cpu.create(g, &bo, &ce));
    if (!re || !ce) {
        free(in);
        kiln_graph_destroy(g);
        return kt_finish("test_cpu_models");
    }
    KT_OK(kiln_backend_ref.write_value(re, x, in, nx));
    KT_OK(kiln_backend_ref.run(re, B));
    float *ref[N_OUTS];
    size_t n[N_OUTS];
    for (int i = 0; i < N_OUTS; i++) {
        const kiln_value *v = &g->values[ids[i]];
        n[i] = (size_t)kiln_numel(v->rank, v->dims);
        ref[i] = read_out(&kiln_backend_ref, re, ids[i], n[i]);
    }
    kiln_backend_ref.destroy(re);

    for (int64_t b = B; b >= 1; b--) {
        KT_OK(kiln_backend_cpu.write_value(ce, x, in, nx / (size_t)B * (size_t)b));
        KT_OK(kiln_backend_cpu.run(ce, b));
        for (int i = 0; i < N_OUTS; i++) {
            size_t m = n[i] / (size_t)B * (size_t)b;
            float *y = read_out(&kiln_backend_cpu, ce, ids[i], m);
            if (!ref[i] || !y) {
                KT_CHECK(0, "%s: outputs read", OUTS[i]);
                free(y);
                continue;
            }
            double norm = 0;
            for (size_t k = 0; k < m; k++)
                norm += (double)ref[i][k] * ref[i][k];
            double e = kt_rel_err(y, ref[i], m);
            printf("batch %lld %-28s rel err %.3g\n", (long long)b, OUTS[i], e);
            KT_CHECK(norm > 0, "%s: ref output is all zero", OUTS[i]);
            KT_CHECK(e <= TOL, "batch %lld %s: rel err %g > %g", (long long)b, OUTS[i], e, TOL);
            free(y);
        }
    }
    kiln_backend_cpu.destroy(ce);
    for (int i = 0; i < N_OUTS; i++)
        free(ref[i]);
    free(in);
    kiln_graph_destroy(g);
    return kt_finish("test_cpu_models");
}
