/*
 * cmd_inspect.c — `kiln inspect`: the graph as text.
 *
 * Default: the graph as loaded (format and version read, inputs/outputs,
 * every op with attributes and shapes). --optimized: the graph an engine
 * runs, after the passes (fused nodes: bias, residual input, act=...), with
 * the activation arena of the planner (plain FP32 layout) and the pass
 * counts. --precision=int8 adds per-layer precision (INT8, or FP32 with the
 * reason) from the calibration table and "INT8 layers: n/m".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "engine/engine.h"
#include "ir/dump.h"
#include "passes/passes.h"

static void usage(void) {
    printf("usage: kiln inspect <model> [--optimized] [--precision=int8] [--params]\n"
           "  --model_file=F [--params_file=P] | --model_dir=D | PATH   the model\n"
           "  --optimized          the graph after the passes, with the arena size\n"
           "  --precision=int8     per-layer precision from the calibration table\n"
           "  --calib_table=FILE   the table (default <model dir>/_opt_cache/trt_calib_<key>)\n"
           "  --batch=N            batch the arena is planned for (default 1)\n"
           "  --params             also list every parameter tensor\n");
}

static void summary(const kiln_graph *g) {
    size_t *bytes = calloc((size_t)g->n_values + 1, sizeof(size_t));
    size_t *off = calloc((size_t)g->n_values + 1, sizeof(size_t));
    size_t total = 0, sum = 0, weights = 0;
    if (!bytes || !off) goto out;
    for (int32_t v = 0; v < g->n_values; v++) {
        const kiln_value *x = &g->values[v];
        if (x->data) {
            weights += x->nbytes;
            continue;
        }
        if (x->producer < 0 && !(x->flags & KILN_VALUE_INPUT)) continue;
        bytes[v] = (size_t)kiln_numel(x->rank, x->dims) * sizeof(float);
        sum += bytes[v];
    }
    if (kiln_plan_memory(g, bytes, 64, off, &total) == KILN_OK)
        printf("weights: %.2f MB; activation arena: %.2f MB (planned by lifetimes; %.2f MB if "
               "every tensor had its own buffer), plain FP32 layout\n",
               (double)weights / 1e6, (double)total / 1e6, (double)sum / 1e6);
    int n8 = 0, cand = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        n8 += g->nodes[i].precision == KILN_PRECISION_INT8;
        cand += kiln_int8_capable(g, &g->nodes[i], NULL);
    }
    if (n8) printf("INT8 layers: %d/%d\n", n8, cand);
out:
    free(bytes);
    free(off);
}

int kiln_cmd_inspect(int argc, char **argv) {
    kiln_cli c;
    if (kiln_cli_parse(&c, argc, argv, 1)) return 2;
    bool help, params, optimized;
    int64_t batch = 1;
    if (kiln_cli_get_bool(&c, "help", false, &help)) return 2;
    if (help) {
        usage();
        return 0;
    }
    kiln_build_options bo = kiln_build_options_default();
    const char *prec = kiln_cli_get(&c, "precision");
    bo.calibration_table = kiln_cli_get(&c, "calib_table");
    if (kiln_cli_get_bool(&c, "params", false, &params) ||
        kiln_cli_get_bool(&c, "optimized", false, &optimized) ||
        kiln_cli_get_int(&c, "batch", 1, 1 << 16, &batch) ||
        (prec && kiln_cli_parse_precision(prec, &bo.precision)))
        return 2;
    kiln_load_options lo;
    if (kiln_cli_model_options(&c, "kiln inspect", &lo)) return 2;
    if (kiln_cli_check_unused(&c, "kiln inspect")) return 2;
    kiln_model *m;
    kiln_status s = kiln_model_load(&lo, &m);
    if (s != KILN_OK) return kiln_cli_fail("kiln inspect", s);
    int rc = 0;
    if (!optimized && bo.precision == KILN_PRECISION_FP32) {
        kiln_graph_dump(m->graph, stdout, params);
    } else {
        bo.max_batch = batch;
        bo.backend = KILN_BACKEND_REF; /* planning only: no backend is created */
        kiln_graph *g = NULL;
        s = kiln_engine_plan(m, &bo, &g);
        if (s != KILN_OK) {
            rc = kiln_cli_fail("kiln inspect", s);
        } else {
            printf("graph after passes (batch %lld):\n", (long long)batch);
            kiln_graph_dump(g, stdout, params);
            summary(g);
            kiln_graph_destroy(g);
        }
    }
    kiln_model_destroy(m);
    return rc;
}
