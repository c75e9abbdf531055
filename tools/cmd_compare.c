/*
 * cmd_compare.c — `kiln compare`: the same inputs through two engine
 * configurations (precision and backend, e.g. fp32:ref vs int8:cpu), and how
 * far apart their outputs are: relative error ||b - a|| / ||a||, cosine, max
 * |b - a|, top-1 / top-5 agreement for classifier outputs, and optionally the
 * same per layer. A is the reference. Exits 1 when any output element fails
 * |b - a| <= atol + rtol * |a| (numpy allclose, documented in --help).
 *
 * Non-goals: choosing tolerances for the user (defaults are loose on
 * purpose; set --atol/--rtol for CI).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "engine/engine.h"

static void usage(void) {
    printf("usage: kiln compare <model> [flags]\n"
           "  --model_file=F [--params_file=P] | --model_dir=D | PATH   the model\n"
           "  --a=fp32:ref          reference run: precision[:backend] (default fp32:ref)\n"
           "  --b=int8:auto         compared run (default int8:auto)\n"
           "  --data=DIR|LIST       images (.jpg .png .bin) to feed, one per run\n"
           "  --samples=N           first N images (default all)\n"
           "  --input=FILE.bin      or one raw float32 input (with --shape or the model's)\n"
           "  --outputs=A,B         also compare these tensors (e.g. a stage's output)\n"
           "  --per_layer           table of every layer both runs compute\n"
           "  --atol=X --rtol=Y     pass iff |b-a| <= atol + rtol*|a| everywhere (default 1e-2, "
           "1e-1)\n"
           "  --max_rel=R           and ||b-a||/||a|| <= R for every output (incl. --outputs)\n"
           "  --calib_table=FILE    INT8 table (default <model dir>/_opt_cache/trt_calib_<key>)\n"
           "  --threads=N\n");
}

typedef struct {
    double se, sa, sb, dot, max_abs;
    int64_t n, violations, rows, top1, top5_hits;
} stats;

static int parse_config(const char *flag, const char *s, kiln_build_options *o) {
    char buf[64];
    snprintf(buf, sizeof buf, "%s", s);
    char *colon = strchr(buf, ':');
    if (colon) *colon = '\0';
    if (kiln_cli_parse_precision(buf, &o->precision)) return 2;
    if (colon && kiln_backend_from_name(colon + 1, &o->backend) != KILN_OK) {
        fprintf(stderr, "kiln compare: --%s=%s: %s\n", flag, s, kiln_last_error());
        return 2;
    }
    return 0;
}

static void top5(const float *x, int64_t n, int64_t *idx) {
    for (int k = 0; k < 5; k++)
        idx[k] = -1;
    for (int64_t j = 0; j < n; j++)
        for (int k = 0; k < 5; k++)
            if (idx[k] < 0 || x[j] > x[idx[k]]) {
                for (int m = 4; m > k; m--)
                    idx[m] = idx[m - 1];
                idx[k] = j;
                break;
            }
}

static void accumulate(stats *st, const float *a, const float *b, int64_t n, int rank,
                       const int64_t *dims, double atol, double rtol) {
    for (int64_t i = 0; i < n; i++) {
        double d = (double)b[i] - a[i];
        st->se += d * d;
        st->sa += (double)a[i] * a[i];
        st->sb += (double)b[i] * b[i];
        st->dot += (double)a[i] * b[i];
        if (fabs(d) > st->max_abs) st->max_abs = fabs(d);
        if (!(fabs(d) <= atol + rtol * fabs(a[i]))) st->violations++;
    }
    st->n += n;
    if (rank == 2 && dims[1] >= 5) { /* classifier rows */
        for (int64_t r = 0; r < dims[0]; r++) {
            int64_t ta[5], tb[5];
            top5(a + r * dims[1], dims[1], ta);
            top5(b + r * dims[1], dims[1], tb);
            st->rows++;
            st->top1 += ta[0] == tb[0];
            for (int k = 0; k < 5; k++)
                for (int m = 0; m < 5; m++)
                    st->top5_hits += ta[k] == tb[m];
        }
    }
}

static void print_stats(const char *name, const stats *st) {
    double rel = st->sa > 0 ? sqrt(st->se / st->sa) : (st->se > 0 ? INFINITY : 0);
    double cos = st->sa > 0 && st->sb > 0 ? st->dot / sqrt(st->sa * st->sb) : 1;
    printf("%-48s rel %.3e  cos %.6f  max|d| %.3e  allclose-fail %lld/%lld", name, rel, cos,
           st->max_abs, (long long)st->violations, (long long)st->n);
    if (st->rows)
        printf("  top-1 %.1f%%  top-5 overlap %.1f%%", 100.0 * st->top1 / st->rows,
               100.0 * st->top5_hits / (5.0 * st->rows));
    printf("\n");
}

/* Names of activations both planned graphs compute (graph order of A). */
static int common_layers(const kiln_model *m, const kiln_build_options *a,
                         const kiln_build_options *b, char ***names, int *n) {
    kiln_graph *ga = NULL, *gb = NULL;
    kiln_status s = kiln_engine_plan(m, a, &ga);
    if (s == KILN_OK) s = kiln_engine_plan(m, b, &gb);
    *n = 0;
    *names = NULL;
    if (s == KILN_OK) *names = calloc((size_t)ga->n_nodes + 1, sizeof(char *));
    for (int32_t i = 0; s == KILN_OK && *names && i < ga->n_nodes; i++) {
        const char *nm = ga->values[ga->nodes[i].outputs[0]].name;
        int32_t v = kiln_graph_find_value(gb, nm);
        if (v >= 0 && gb->values[v].producer >= 0) (*names)[(*n)++] = strdup(nm);
    }
    kiln_graph_destroy(ga);
    kiln_graph_destroy(gb);
    return s == KILN_OK ? 0 : kiln_cli_fail("kiln compare", s);
}

int kiln_cmd_compare(int argc, char **argv) {
    kiln_cli c;
    if (kiln_cli_parse(&c, argc, argv, 1)) return 2;
    bool help, per_layer;
    if (kiln_cli_get_bool(&c, "help", false, &help)) return 2;
    if (help) {
        usage();
        return 0;
    }
    kiln_load_options lo;
    if (kiln_cli_model_options(&c, "kiln compare", &lo)) return 2;
    kiln_build_options oa = kiln_build_options_default(), ob = kiln_build_options_default();
    oa.backend = KILN_BACKEND_REF;
    ob.precision = KILN_PRECISION_INT8;
    const char *sa = kiln_cli_get(&c, "a"), *sb = kiln_cli_get(&c, "b");
    const char *data = kiln_cli_get(&c, "data"), *input = kiln_cli_get(&c, "input");
    const char *outputs = kiln_cli_get(&c, "outputs"), *table = kiln_cli_get(&c, "calib_table");
    const char *atol_s = kiln_cli_get(&c, "atol"), *rtol_s = kiln_cli_get(&c, "rtol");
    const char *max_rel_s = kiln_cli_get(&c, "max_rel");
    double max_rel = INFINITY;
    if (max_rel_s) {
        char *end;
        max_rel = strtod(max_rel_s, &end);
        if (!*max_rel_s || *end || !(max_rel >= 0)) {
            fprintf(stderr, "kiln compare: --max_rel=%s: expected a number >= 0\n", max_rel_s);
            return 2;
        }
    }
    int64_t samples = 0, threads = 0;
    if ((sa && parse_config("a", sa, &oa)) || (sb && parse_config("b", sb, &ob)) ||
        kiln_cli_get_int(&c, "samples", 1, 100000000, &samples) ||
        kiln_cli_get_int(&c, "threads", 0, 4096, &threads) ||
        kiln_cli_get_bool(&c, "per_layer", false, &per_layer))
        return 2;
    if (kiln_cli_check_unused(&c, "kiln compare")) return 2;
    char *end_a = NULL, *end_r = NULL;
    double atol = atol_s ? strtod(atol_s, &end_a) : 1e-2;
    double rtol = rtol_s ? strtod(rtol_s, &end_r) : 1e-1;
    if (!(atol >= 0) || !(rtol >= 0) || (atol_s && (end_a == atol_s || *end_a)) ||
        (rtol_s && (end_r == rtol_s || *end_r))) {
        fprintf(stderr, "kiln compare: --atol/--rtol must be numbers >= 0\n");
        return 2;
    }
    if (!data == !input) {
        fprintf(stderr, "kiln compare: give --data=DIR|LIST or --input=FILE.bin\n");
        return 2;
    }
    oa.threads = ob.threads = (int)threads;
    oa.calibration_table = ob.calibration_table = table;

    int rc = 0, n_layers = 0;
    char **layers = NULL, **paths = NULL;
    size_t n_paths = 0, n_listed = 0;
    kiln_model *m = NULL;
    kiln_engine *ea = NULL, *eb = NULL;
    stats *st = NULL;
    float *x = NULL;
    kiln_status s = kiln_model_load(&lo, &m);
    if (s != KILN_OK) return kiln_cli_fail("kiln compare", s);
    if (outputs) {
        char buf[4096];
        snprintf(buf, sizeof buf, "%s", outputs);
        for (char *t = strtok(buf, ","); t; t = strtok(NULL, ","))
            if ((s = kiln_model_add_output(m, t)) != KILN_OK) {
                rc = kiln_cli_fail("kiln compare", s);
                goto done;
            }
    }
    if (per_layer && (rc = common_layers(m, &oa, &ob, &layers, &n_layers))) goto done;
    if ((s = kiln_engine_build_ex(m, &oa, (const char *const *)layers, n_layers, &ea)) != KILN_OK ||
        (s = kiln_engine_build_ex(m, &ob, (const char *const *)layers, n_layers, &eb)) != KILN_OK) {
        rc = kiln_cli_fail("kiln compare", s);
        goto done;
    }
    int n_out = (int)ea->graph->n_outputs;
    if (n_out != (int)eb->graph->n_outputs) {
        fprintf(stderr, "kiln compare: the two engines expose different outputs\n");
        rc = 1;
        goto done;
    }
    st = calloc((size_t)n_out, sizeof *st);
    int64_t dims[KILN_MAX_RANK];
    int rank;
    kiln_model_input_shape(m, 0, dims, &rank);
    dims[0] = 1;
    size_t per = (size_t)kiln_numel(rank - 1, dims + 1);
    x = malloc(per * sizeof(float));
    if (!st || !x) {
        rc = kiln_cli_fail("kiln compare", KILN_ERR_NO_MEMORY);
        goto done;
    }
    if (data) {
        if ((s = kiln_image_paths(data, &paths, &n_paths)) != KILN_OK) {
            rc = kiln_cli_fail("kiln compare", s);
            goto done;
        }
        n_listed = n_paths;
        if (samples && (size_t)samples < n_paths) n_paths = (size_t)samples;
    } else {
        n_paths = 1;
    }
    for (size_t i = 0; i < n_paths; i++) {
        s = data ? kiln_image_to_tensor(paths[i], dims[2], x)
                 : kiln_image_to_tensor(input, dims[2], x);
        if (s == KILN_OK) s = kiln_engine_set_input(ea, 0, x, dims, rank);
        if (s == KILN_OK) s = kiln_engine_set_input(eb, 0, x, dims, rank);
        if (s == KILN_OK) s = kiln_engine_run(ea);
        if (s == KILN_OK) s = kiln_engine_run(eb);
        for (int k = 0; s == KILN_OK && k < n_out; k++) {
            const float *ya, *yb;
            int64_t da[KILN_MAX_RANK], db[KILN_MAX_RANK];
            int ra, rb;
            s = kiln_engine_get_output(ea, k, &ya, da, &ra);
            if (s == KILN_OK) s = kiln_engine_get_output(eb, k, &yb, db, &rb);
            if (s == KILN_OK) accumulate(&st[k], ya, yb, kiln_numel(ra, da), ra, da, atol, rtol);
        }
        if (s != KILN_OK) {
            rc = kiln_cli_fail("kiln compare", s);
            goto done;
        }
    }
    int n8a, n8b, ca, cb;
    kiln_engine_int8_layers(ea, &n8a, &ca);
    kiln_engine_int8_layers(eb, &n8b, &cb);
    printf("A: %s on %s (INT8 layers %d/%d)   B: %s on %s (INT8 layers %d/%d)   samples: %zu\n",
           oa.precision == KILN_PRECISION_INT8 ? "int8" : "fp32", kiln_engine_backend(ea), n8a, ca,
           ob.precision == KILN_PRECISION_INT8 ? "int8" : "fp32", kiln_engine_backend(eb), n8b, cb,
           n_paths);
    int model_outputs = kiln_model_num_outputs(m);
    int64_t fails = 0;
    for (int k = 0; k < n_out; k++) {
        if (k == model_outputs && n_layers) printf("--- per layer (graph order) ---\n");
        print_stats(k < model_outputs ? kiln_model_output_name(m, k)
                                      : ea->graph->values[ea->graph->outputs[k]].name,
                    &st[k]);
        if (k < model_outputs) fails += st[k].violations;
        if (k < n_out - n_layers) { /* model outputs and --outputs, not the per-layer rows */
            double rel = st[k].sa > 0 ? sqrt(st[k].se / st[k].sa) : 0;
            if (!(rel <= max_rel)) {
                printf("  relative error %.3e of '%s' exceeds --max_rel=%g\n", rel,
                       ea->graph->values[ea->graph->outputs[k]].name, max_rel);
                fails++;
            }
        }
    }
    printf("%s: atol %g, rtol %g (|b-a| <= atol + rtol*|a| on every element of the outputs)",
           fails ? "FAIL" : "PASS", atol, rtol);
    if (max_rel_s) printf(", max_rel %g", max_rel);
    printf("\n");
    rc = fails ? 1 : 0;
done:
    for (int i = 0; i < n_layers; i++)
        free(layers[i]);
    free(layers);
    kiln_image_paths_free(paths, n_listed);
    free(st);
    free(x);
    kiln_engine_destroy(ea);
    kiln_engine_destroy(eb);
    kiln_model_destroy(m);
    return rc;
}
