/*
 * cmd_model.c — `kiln model`: convert Paddle params layouts, fill the
 * tensors missing from the real fixtures (explicitly, with a report), generate
 * a seeded ResNet50, export a model as ONNX (as loaded; or, with --int8, the
 * INT8 plan an engine runs, as a Q/DQ model for ONNX Runtime).
 *
 * Non-goals: training, architectures other than ResNet50, silent filling
 * (nothing else in Kiln fills missing tensors).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/file.h"
#include "core/status.h"
#include "engine/engine.h"
#include "load/load.h"
#include "load/onnx_export.h"
#include "load/paddle.h"
#include "model/fill.h"
#include "model/resnet50.h"

#define TOOL "kiln model"

static void usage(FILE *f) {
    fprintf(
        f, "usage: kiln model <subcommand> [flags]\n"
           "\n"
           "  convert <model> --output_dir=DIR [--layout=combined|separate]\n"
           "      rewrite a Paddle model's params layout: combined -> DIR/model + DIR/params\n"
           "      (records in sorted name order), separate -> DIR/__model__ + one file per\n"
           "      variable. The program and every record are copied byte for byte.\n"
           "  fill <fixture dir> --output_dir=DIR [--seed=N] [--reference=FP32_DIR] [--verbose]\n"
           "      fill the params missing from a fixture (see docs/MODELS.md) and write DIR/model\n"
           "      (the original program) + DIR/params; prints each filled tensor, the RMS of\n"
           "      every layer with --verbose, and a summary. INT8 fake-quant fixtures need\n"
           "      --reference: the FP32 model of the same network (filled on the fly with the\n"
           "      same seed if it has missing params too).\n"
           "  generate --output_dir=DIR [--arch=resnet50] [--seed=N]\n"
           "      write a complete seeded ResNet50 (fixture names) as DIR/model + DIR/params\n"
           "  export-onnx <model> --output=FILE.onnx\n"
           "              [--int8 [--calib_table=FILE] [--outputs=A,B] [--split_residual]]\n"
           "      write any loadable model as ONNX. --int8: plan the INT8 graph (passes +\n"
           "      precision from the calibration table, default <model dir>/_opt_cache/\n"
           "      trt_calib_<key>) and write it as a Q/DQ model for ONNX Runtime (u8/s8\n"
           "      activations, per-channel s8 weights, int32 bias; docs/INT8.md).\n"
           "      --outputs also makes these tensors graph outputs (--int8 only).\n"
           "      --u8_levels=255|127: scale of u8 (post-ReLU) tensors, T/255 (default: range\n"
           "      [0, T] as Kiln's clamp) or T/127 (Kiln's steps, ORT clamps at 2T)\n"
           "      --split_residual: quantize each conv's output before its fused residual\n"
           "      add too (threshold T_y + T_R), so ORT runs every conv int8 (faster in\n"
           "      ORT, one rounding more than Kiln)\n"
           "\n"
           "A model is named by --model_file=F [--params_file=P], --model_dir=D or a path.\n"
           "--seed defaults to 0; each tensor uses the stream seed ^ FNV-1a-64(name).\n");
}

/* Program and params paths of a Paddle model named by the load options. */
static int resolve_paddle(const kiln_load_options *lo, char *prog, char *params, size_t n,
                          bool *has_params) {
    const char *dir = lo->model_dir;
    *has_params = false;
    if (lo->model_file && !kiln_is_dir(lo->model_file)) {
        snprintf(prog, n, "%s", lo->model_file);
        if (lo->params_file) {
            snprintf(params, n, "%s", lo->params_file);
            *has_params = true;
        }
        return 0;
    }
    if (!dir) dir = lo->model_file;
    snprintf(prog, n, "%s/__model__", dir);
    if (kiln_is_file(prog)) return 0;
    snprintf(prog, n, "%s/model", dir);
    snprintf(params, n, "%s/params", dir);
    if (kiln_is_file(prog)) {
        *has_params = kiln_is_file(params);
        return 0;
    }
    static const char *const stems[] = {"inference", "model"};
    for (size_t i = 0; i < sizeof stems / sizeof *stems; i++) {
        snprintf(prog, n, "%s/%s.pdmodel", dir, stems[i]);
        snprintf(params, n, "%s/%s.pdiparams", dir, stems[i]);
        if (kiln_is_file(prog)) {
            *has_params = kiln_is_file(params);
            return 0;
        }
    }
    fprintf(stderr,
            TOOL ": %s: no Paddle program found (expected __model__, model + params, "
                 "inference.pdmodel or model.pdmodel); name it with --model_file\n",
            dir);
    return 1;
}

static int out_paths(const char *dir, char *model, char *params, size_t n) {
    kiln_status s = kiln_mkdirs(dir);
    if (s == KILN_OK) s = kiln_path_join(model, n, dir, "model");
    if (s == KILN_OK) s = kiln_path_join(params, n, dir, "params");
    return s == KILN_OK ? 0 : kiln_cli_fail(TOOL, s);
}

static const char *need_output_dir(kiln_cli *c, const char *sub) {
    const char *d = kiln_cli_get(c, "output_dir");
    if (!d || !*d) fprintf(stderr, TOOL " %s: --output_dir=DIR is required (see --help)\n", sub);
    return d && *d ? d : NULL;
}

static int cmd_convert(kiln_cli *c) {
    const char *out = need_output_dir(c, "convert");
    const char *layout = kiln_cli_get(c, "layout");
    kiln_load_options lo;
    if (!out || kiln_cli_model_options(c, TOOL " convert", &lo)) return 2;
    if (kiln_cli_check_unused(c, TOOL " convert")) return 2;
    if (!layout) layout = "combined";
    bool combined = !strcmp(layout, "combined");
    if (!combined && strcmp(layout, "separate")) {
        fprintf(stderr, TOOL " convert: --layout=%s: expected combined or separate\n", layout);
        return 2;
    }
    char prog[4096], params[4096], mo[4096], po[4096];
    bool has_params;
    if (resolve_paddle(&lo, prog, params, sizeof prog, &has_params)) return 1;
    kiln_paddle_model *m;
    kiln_status s = kiln_paddle_load_partial(prog, has_params ? params : NULL, &lo.logger, &m);
    if (s != KILN_OK) return kiln_cli_fail(TOOL " convert", s);
    if (m->n_missing > 0) {
        fprintf(stderr,
                TOOL " convert: %s: %d params are missing; fill them explicitly with `kiln "
                     "model fill`\n",
                prog, (int)m->n_missing);
        for (int32_t i = 0; i < m->n_params; i++)
            if (!m->params[i].present) fprintf(stderr, "  missing: %s\n", m->params[i].name);
        kiln_paddle_model_destroy(m);
        return 1;
    }
    if (combined) {
        if (out_paths(out, mo, po, sizeof mo)) {
            kiln_paddle_model_destroy(m);
            return 1;
        }
        s = kiln_paddle_model_write_combined(m, mo, po);
    } else {
        s = kiln_mkdirs(out);
        if (s == KILN_OK) s = kiln_paddle_model_write_dir(m, out);
    }
    int32_t np = m->n_params;
    kiln_paddle_model_destroy(m);
    if (s != KILN_OK) return kiln_cli_fail(TOOL " convert", s);
    printf("wrote %s: %s layout, %d params\n", out, combined ? "combined" : "separate", (int)np);
    return 0;
}

/* A loaded Paddle model with its missing params, as a graph ready to fill. */
typedef struct loaded {
    kiln_graph *g;
    char **missing;
    int32_t n_missing;
} loaded;

static void loaded_free(loaded *l) {
    for (int32_t i = 0; i < l->n_missing; i++)
        free(l->missing[i]);
    free(l->missing);
    kiln_graph_destroy(l->g);
    memset(l, 0, sizeof *l);
}

/* Loads prog(+params) allowing missing params: they get zero placeholders to
 * build the graph, then their data is removed again so the fill sees them. */
static kiln_status load_for_fill(const char *prog, const char *params, const kiln_logger *lg,
                                 loaded *l) {
    memset(l, 0, sizeof *l);
    kiln_paddle_model *m;
    KILN_TRY(kiln_paddle_load_partial(prog, params, lg, &m));
    kiln_status s = KILN_OK;
    l->missing = calloc((size_t)m->n_params + 1, sizeof *l->missing);
    if (!l->missing) s = kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    for (int32_t i = 0; i < m->n_params && s == KILN_OK; i++) {
        kiln_paddle_param *p = &m->params[i];
        if (p->present) continue;
        const kiln_paddle_var *v = p->var;
        int64_t ne = v ? kiln_numel(v->rank, v->dims) : -1;
        size_t es = v ? kiln_paddle_dtype_size(v->dtype) : 0;
        if (ne <= 0 || es == 0 || (uint64_t)ne > SIZE_MAX / es) {
            s = kiln_error(KILN_ERR_SHAPE, "%s: missing param '%s' has no fully known shape", prog,
                           p->name);
            break;
        }
        void *zero = calloc((size_t)ne, es);
        l->missing[l->n_missing] = strdup(p->name);
        if (!zero || !l->missing[l->n_missing]) {
            free(zero);
            s = kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
            break;
        }
        l->n_missing++;
        s = kiln_paddle_model_set_param(m, p->name, zero, (size_t)ne * es);
        free(zero);
    }
    if (s != KILN_OK) {
        kiln_paddle_model_destroy(m);
        loaded_free(l);
        return s;
    }
    s = kiln_paddle_model_to_graph(m, lg, &l->g); /* consumes m */
    for (int32_t i = 0; i < l->n_missing && s == KILN_OK; i++) {
        int32_t v = kiln_graph_find_value(l->g, l->missing[i]);
        if (v < 0)
            s = kiln_error(KILN_ERR_NOT_FOUND, "%s: missing param '%s' is not in the graph", prog,
                           l->missing[i]);
        else
            kiln_graph_set_const(l->g, v, NULL, 0);
    }
    if (s != KILN_OK) loaded_free(l);
    return s;
}

static bool has_fake_quant(const kiln_graph *g) {
    for (int32_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == KILN_OP_FAKE_DEQUANT) return true;
    return false;
}

static int cmd_fill(kiln_cli *c) {
    const char *out = need_output_dir(c, "fill");
    const char *ref_dir = kiln_cli_get(c, "reference");
    int64_t seed = 0;
    bool verbose;
    kiln_load_options lo;
    if (!out || kiln_cli_get_int(c, "seed", 0, INT64_MAX, &seed) ||
        kiln_cli_get_bool(c, "verbose", false, &verbose) ||
        kiln_cli_model_options(c, TOOL " fill", &lo) || kiln_cli_check_unused(c, TOOL " fill"))
        return 2;
    char prog[4096], params[4096], mo[4096], po[4096];
    bool has_params;
    if (resolve_paddle(&lo, prog, params, sizeof prog, &has_params)) return 1;
    loaded l, r = {0};
    kiln_status s = load_for_fill(prog, has_params ? params : NULL, &lo.logger, &l);
    if (s != KILN_OK) return kiln_cli_fail(TOOL " fill", s);
    kiln_fill_options fo = {(uint64_t)seed, stdout, verbose};
    kiln_fill_summary sum;
    printf("%s: %d of its params are missing\n", prog, (int)l.n_missing);
    if (l.n_missing == 0) {
        printf("nothing to fill; writing the model unchanged (combined)\n");
    } else if (has_fake_quant(l.g)) {
        if (!ref_dir) {
            loaded_free(&l);
            fprintf(stderr,
                    TOOL " fill: %s is an INT8 fake-quant program: its missing weights are the "
                         "quantized FP32 ones; pass --reference=DIR, the FP32 model of the "
                         "same network (e.g. resnet50_fp32_224)\n",
                    prog);
            return 2;
        }
        kiln_load_options rl = kiln_load_options_default();
        char rprog[4096], rparams[4096];
        bool rhas;
        rl.model_dir = ref_dir;
        if (resolve_paddle(&rl, rprog, rparams, sizeof rprog, &rhas)) {
            loaded_free(&l);
            return 1;
        }
        s = load_for_fill(rprog, rhas ? rparams : NULL, &lo.logger, &r);
        if (s == KILN_OK && r.n_missing > 0) {
            printf("reference %s: filling its %d missing params first (seed %llu)\n", rprog,
                   (int)r.n_missing, (unsigned long long)seed);
            kiln_fill_options ro = fo;
            ro.verbose = false;
            s = kiln_model_fill(r.g, (const char *const *)r.missing, r.n_missing, &ro, &sum);
        }
        if (s == KILN_OK)
            s = kiln_model_fill_from_fp32(l.g, (const char *const *)l.missing, l.n_missing, r.g,
                                          &fo, &sum);
    } else {
        if (ref_dir)
            fprintf(stderr, TOOL " fill: note: --reference is only used for INT8 fixtures\n");
        s = kiln_model_fill(l.g, (const char *const *)l.missing, l.n_missing, &fo, &sum);
    }
    /* Write: the original program, real records byte for byte, filled ones new. */
    kiln_paddle_model *m = NULL;
    if (s == KILN_OK)
        s = kiln_paddle_load_partial(prog, has_params ? params : NULL, &lo.logger, &m);
    for (int32_t i = 0; i < l.n_missing && s == KILN_OK; i++) {
        const kiln_value *v = &l.g->values[kiln_graph_find_value(l.g, l.missing[i])];
        s = kiln_paddle_model_set_param(m, l.missing[i], v->data, v->nbytes);
    }
    int rc = 0;
    if (s == KILN_OK && out_paths(out, mo, po, sizeof mo)) rc = 1;
    if (s == KILN_OK && !rc) s = kiln_paddle_model_write_combined(m, mo, po);
    if (s == KILN_OK && !rc)
        printf("wrote %s (the original program, unchanged) and %s (%d params: %d real, %d "
               "filled)\n",
               mo, po, (int)m->n_params, (int)(m->n_params - l.n_missing), (int)l.n_missing);
    kiln_paddle_model_destroy(m);
    loaded_free(&l);
    loaded_free(&r);
    if (s != KILN_OK) return kiln_cli_fail(TOOL " fill", s);
    return rc;
}

static int cmd_generate(kiln_cli *c) {
    const char *out = need_output_dir(c, "generate");
    const char *arch = kiln_cli_get(c, "arch");
    int64_t seed = 0;
    if (!out || kiln_cli_get_int(c, "seed", 0, INT64_MAX, &seed)) return 2;
    if (c->n_pos > 0) {
        fprintf(stderr, TOOL " generate: unexpected argument '%s'\n", c->pos[0]);
        return 2;
    }
    if (kiln_cli_check_unused(c, TOOL " generate")) return 2;
    if (arch && strcmp(arch, "resnet50")) {
        fprintf(stderr, TOOL " generate: --arch=%s: only resnet50 is available\n", arch);
        return 2;
    }
    char mo[4096], po[4096];
    if (out_paths(out, mo, po, sizeof mo)) return 1;
    kiln_graph *g;
    kiln_status s = kiln_model_generate_resnet50((uint64_t)seed, &g);
    if (s != KILN_OK) return kiln_cli_fail(TOOL " generate", s);
    s = kiln_paddle_export(g, mo, po);
    kiln_graph_destroy(g);
    if (s != KILN_OK) return kiln_cli_fail(TOOL " generate", s);
    printf("wrote %s and %s: ResNet50, seed %lld\n", mo, po, (long long)seed);
    return 0;
}

/* --int8: the graph an INT8 engine runs, exported with Q/DQ. */
static int export_int8(const kiln_load_options *lo, const char *table, const char *outputs,
                       bool split, int64_t u8_levels, const char *out) {
    kiln_model *m;
    kiln_status s = kiln_model_load(lo, &m);
    if (s != KILN_OK) return kiln_cli_fail(TOOL " export-onnx", s);
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", outputs ? outputs : "");
    for (char *tok = strtok(buf, ","); tok && s == KILN_OK; tok = strtok(NULL, ","))
        s = kiln_model_add_output(m, tok);
    kiln_build_options bo = kiln_build_options_default();
    bo.precision = KILN_PRECISION_INT8;
    bo.calibration_table = table;
    bo.backend = KILN_BACKEND_REF; /* planning only: no backend is created */
    bo.logger = lo->logger;
    kiln_graph *g = NULL;
    if (s == KILN_OK) s = kiln_engine_plan(m, &bo, &g);
    int n8 = 0, cand = 0;
    if (s == KILN_OK) {
        for (int32_t i = 0; i < g->n_nodes; i++) {
            n8 += g->nodes[i].precision == KILN_PRECISION_INT8;
            cand += kiln_int8_capable(g, &g->nodes[i], NULL);
        }
        kiln_onnx_export_options eo = {
            .qdq = true, .split_residual = split, .u8_levels = (int)u8_levels};
        s = kiln_onnx_export_ex(g, &eo, out);
    }
    kiln_graph_destroy(g);
    kiln_model_destroy(m);
    if (s != KILN_OK) return kiln_cli_fail(TOOL " export-onnx", s);
    printf("wrote %s (Q/DQ, INT8 layers %d/%d)\n", out, n8, cand);
    return 0;
}

static int cmd_export_onnx(kiln_cli *c) {
    const char *out = kiln_cli_get(c, "output");
    const char *table = kiln_cli_get(c, "calib_table");
    const char *outputs = kiln_cli_get(c, "outputs");
    bool int8, split;
    kiln_load_options lo;
    if (!out || !*out) {
        fprintf(stderr, TOOL " export-onnx: --output=FILE.onnx is required (see --help)\n");
        return 2;
    }
    int64_t u8_levels = 255;
    if (kiln_cli_get_bool(c, "int8", false, &int8) ||
        kiln_cli_get_bool(c, "split_residual", false, &split) ||
        kiln_cli_get_int(c, "u8_levels", 127, 255, &u8_levels))
        return 2;
    if (u8_levels != 127 && u8_levels != 255) {
        fprintf(stderr, TOOL " export-onnx: --u8_levels=%lld: expected 127 or 255\n",
                (long long)u8_levels);
        return 2;
    }
    if (kiln_cli_model_options(c, TOOL " export-onnx", &lo)) return 2;
    if (kiln_cli_check_unused(c, TOOL " export-onnx")) return 2;
    if (!int8 && (table || outputs || split || kiln_cli_get(c, "u8_levels"))) {
        fprintf(stderr, TOOL " export-onnx: --calib_table, --outputs, --split_residual and "
                             "--u8_levels need --int8\n");
        return 2;
    }
    if (int8) return export_int8(&lo, table, outputs, split, u8_levels, out);
    kiln_graph *g;
    kiln_status s = kiln_load(&lo, &g);
    if (s == KILN_OK) {
        s = kiln_onnx_export(g, out);
        kiln_graph_destroy(g);
    }
    if (s != KILN_OK) return kiln_cli_fail(TOOL " export-onnx", s);
    printf("wrote %s\n", out);
    return 0;
}

int kiln_cmd_model(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        usage(stdout);
        return 0;
    }
    kiln_cli c;
    if (kiln_cli_parse(&c, argc, argv, 2)) return 2;
    bool help;
    if (kiln_cli_get_bool(&c, "help", false, &help)) return 2;
    if (help) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(sub, "convert")) return cmd_convert(&c);
    if (!strcmp(sub, "fill")) return cmd_fill(&c);
    if (!strcmp(sub, "generate")) return cmd_generate(&c);
    if (!strcmp(sub, "export-onnx")) return cmd_export_onnx(&c);
    fprintf(stderr, TOOL ": unknown subcommand '%s'\n\n", sub);
    usage(stderr);
    return 2;
}
