/*
 * load.c — resolves how a model was named (file + params, file alone,
 * directory) and dispatches to the Paddle or ONNX loader by the file's bytes.
 *
 * Directory rules, first match wins: `__model__` (params one file per
 * variable), `model` + `params`, `inference.pdmodel` + `inference.pdiparams`,
 * a single `*.pdmodel` + `*.pdiparams` pair of the same stem, a single `*.onnx`.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/status.h"
#include "load/load.h"

kiln_load_options kiln_load_options_default(void) {
    kiln_load_options o;
    memset(&o, 0, sizeof o);
    o.logger = kiln_logger_default();
    return o;
}

static kiln_status sniff(const char *path, kiln_model_format *fmt) {
    uint8_t head[16];
    FILE *f = fopen(path, "rb");
    if (!f) return kiln_error(KILN_ERR_IO, "%s: cannot open model file", path);
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    *fmt = kiln_detect_format(head, n);
    if (*fmt == KILN_FORMAT_UNKNOWN)
        return kiln_error(KILN_ERR_FORMAT,
                          "%s: offset 0: neither an ONNX ModelProto nor a Paddle ProgramDesc "
                          "(%zu bytes read); pass the program file (model, __model__, "
                          "*.pdmodel) or an .onnx file",
                          path, n);
    return KILN_OK;
}

static kiln_status load_file(const char *model, const char *params, const kiln_logger *lg,
                             kiln_graph **out) {
    kiln_model_format fmt = KILN_FORMAT_UNKNOWN;
    KILN_TRY(sniff(model, &fmt));
    if (fmt == KILN_FORMAT_ONNX) {
        if (params)
            return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                              "%s is an ONNX model: it carries its own weights; drop "
                              "--params_file=%s",
                              model, params);
        return kiln_load_onnx(model, lg, out);
    }
    return kiln_load_paddle(model, params, lg, out);
}

/* Finds the single file in dir ending with `suffix`; 0 none, 1 found, 2 several. */
static int find_suffix(const char *dir, const char *suffix, char *buf, size_t n) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int found = 0;
    struct dirent *e;
    size_t sl = strlen(suffix);
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > sl && strcmp(e->d_name + l - sl, suffix) == 0) {
            if (found++ == 0) snprintf(buf, n, "%s/%s", dir, e->d_name);
        }
    }
    closedir(d);
    return found > 1 ? 2 : found;
}

static kiln_status load_dir(const char *dir, const kiln_logger *lg, kiln_graph **out) {
    char a[4096], b[4096];
    if (!kiln_is_dir(dir)) return kiln_error(KILN_ERR_IO, "%s: not a directory", dir);
    KILN_TRY(kiln_path_join(a, sizeof a, dir, "__model__"));
    if (kiln_is_file(a)) return load_file(a, NULL, lg, out);
    KILN_TRY(kiln_path_join(a, sizeof a, dir, "model"));
    KILN_TRY(kiln_path_join(b, sizeof b, dir, "params"));
    if (kiln_is_file(a)) return load_file(a, kiln_is_file(b) ? b : NULL, lg, out);
    int k = find_suffix(dir, ".pdmodel", a, sizeof a);
    if (k == 2)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "%s: several *.pdmodel files; name one with --model_file", dir);
    if (k == 1) {
        size_t l = strlen(a);
        snprintf(b, sizeof b, "%.*s.pdiparams", (int)(l - 8), a);
        return load_file(a, kiln_is_file(b) ? b : NULL, lg, out);
    }
    k = find_suffix(dir, ".onnx", a, sizeof a);
    if (k == 2)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "%s: several *.onnx files; name one with --model_file", dir);
    if (k == 1) return load_file(a, NULL, lg, out);
    return kiln_error(KILN_ERR_NOT_FOUND,
                      "%s: no model found: expected __model__, model (+ params), *.pdmodel (+ "
                      "*.pdiparams) or one *.onnx",
                      dir);
}

kiln_status kiln_load(const kiln_load_options *o, kiln_graph **out) {
    *out = NULL;
    if (!o) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "load options are NULL");
    if ((o->model_file != NULL) + (o->model_dir != NULL) != 1)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "name the model with exactly one of model_file or model_dir");
    if (o->model_dir) {
        if (o->params_file)
            return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                              "params_file goes with model_file, not model_dir");
        return load_dir(o->model_dir, &o->logger, out);
    }
    if (kiln_is_dir(o->model_file) && !o->params_file)
        return load_dir(o->model_file, &o->logger, out);
    return load_file(o->model_file, o->params_file, &o->logger, out);
}
