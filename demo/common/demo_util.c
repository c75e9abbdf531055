/*
 * demo_util.c — see demo_util.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "demo_util.h"

static int parse_long(const char *prog, const char *name, const char *v, long lo, long hi,
                      long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "%s: --%s=%s: expected an integer in [%ld, %ld]\n", prog, name, v, lo, hi);
        return 2;
    }
    *out = x;
    return 0;
}

int demo_parse(const char *prog, int argc, char **argv, demo_flags *f) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *eq = strchr(a, '=');
        if (strncmp(a, "--", 2) != 0 || !eq) {
            fprintf(stderr, "%s: unexpected argument '%s' (flags are --name=value)\n", prog, a);
            return 2;
        }
        size_t k = (size_t)(eq - a - 2);
        const char *v = eq + 1;
        int rc = 0;
#define IS(s) (k == strlen(s) && !strncmp(a + 2, s, k))
        if (IS("model_file"))
            f->model_file = v;
        else if (IS("params_file"))
            f->params_file = v;
        else if (IS("model_dir"))
            f->model_dir = v;
        else if (IS("image_dir"))
            f->image_dir = v;
        else if (IS("batch_size"))
            rc = parse_long(prog, "batch_size", v, 1, 4096, &f->batch_size);
        else if (IS("samples"))
            rc = parse_long(prog, "samples", v, 1, 100000000, &f->samples);
        else if (IS("use_calib") && f->use_calib >= 0) {
            if (!strcmp(v, "true") || !strcmp(v, "1"))
                f->use_calib = 1;
            else if (!strcmp(v, "false") || !strcmp(v, "0"))
                f->use_calib = 0;
            else {
                fprintf(stderr, "%s: --use_calib=%s: expected true or false\n", prog, v);
                rc = 2;
            }
        } else {
            fprintf(stderr, "%s: unknown flag --%.*s\n", prog, (int)k, a + 2);
            rc = 2;
        }
#undef IS
        if (rc) return rc;
    }
    if (!f->model_dir && !f->model_file) {
        fprintf(stderr, "%s: give --model_file=F --params_file=P (or --model_dir=D)\n", prog);
        return 2;
    }
    return 0;
}

PD_Predictor *demo_int8_predictor(const char *prog, const demo_flags *f, PD_Bool use_calib_mode) {
    PD_Config *c = PD_ConfigCreate();
    if (f->model_dir)
        PD_ConfigSetModelDir(c, f->model_dir);
    else
        PD_ConfigSetModel(c, f->model_file, f->params_file);
    PD_ConfigEnableUseGpu(c, 1000, 0, PD_PRECISION_FLOAT32);
    PD_ConfigEnableTensorRtEngine(c, 1 << 30, (int32_t)f->batch_size, 5, PD_PRECISION_INT8, FALSE,
                                  use_calib_mode);
    PD_Predictor *p = PD_PredictorCreate(c); /* takes the config */
    if (!p) fprintf(stderr, "%s: cannot create the predictor: %s\n", prog, PD_GetLastError());
    return p;
}

int demo_inputs_open(const char *prog, const demo_flags *f, demo_inputs *in) {
    memset(in, 0, sizeof *in);
    const char *dir = f->image_dir;
    struct stat st;
    if (!dir && stat("../shared/fixtures/images", &st) == 0 && S_ISDIR(st.st_mode))
        dir = "../shared/fixtures/images";
    if (!dir) {
        printf("%s: no image directory: feeding seeded synthetic inputs\n", prog);
        return 0;
    }
    kiln_status s = kiln_image_paths(dir, &in->paths, &in->n_paths);
    if (s != KILN_OK) {
        fprintf(stderr, "%s: %s\n", prog, kiln_last_error());
        return 1;
    }
    in->dir = dir;
    printf("%s: %zu images from %s\n", prog, in->n_paths, dir);
    return 0;
}

void demo_inputs_close(demo_inputs *in) {
    kiln_image_paths_free(in->paths, in->n_paths);
}

int demo_inputs_batch(const char *prog, const demo_inputs *in, long b, long batch, float *x) {
    const size_t per = 3 * 224 * 224;
    for (long k = 0; k < batch; k++) {
        float *dst = x + per * (size_t)k;
        if (in->dir) {
            const char *path = in->paths[(size_t)(b * batch + k) % in->n_paths];
            if (kiln_image_to_tensor(path, 224, dst) != KILN_OK) {
                fprintf(stderr, "%s: %s\n", prog, kiln_last_error());
                return 1;
            }
        } else { /* seeded values in the range of a normalized image */
            uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(b * batch + k + 1);
            for (size_t i = 0; i < per; i++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                dst[i] = (float)((double)(s >> 40) / 16777216.0 * 4.0 - 2.0);
            }
        }
    }
    return 0;
}

int demo_run(const char *prog, PD_Predictor *p, const float *x, long batch, float **out,
             size_t *out_n) {
    PD_OneDimArrayCstr *in_names = PD_PredictorGetInputNames(p);
    PD_Tensor *in = PD_PredictorGetInputHandle(p, in_names->data[0]);
    int32_t shape[4] = {(int32_t)batch, 3, 224, 224};
    PD_TensorReshape(in, 4, shape);
    PD_TensorCopyFromCpuFloat(in, x);
    PD_TensorDestroy(in);
    PD_OneDimArrayCstrDestroy(in_names);
    if (!PD_PredictorRun(p)) {
        fprintf(stderr, "%s: run failed: %s\n", prog, PD_GetLastError());
        return 1;
    }
    PD_OneDimArrayCstr *out_names = PD_PredictorGetOutputNames(p);
    PD_Tensor *ot = PD_PredictorGetOutputHandle(p, out_names->data[0]);
    PD_OneDimArrayInt32 *os = PD_TensorGetShape(ot);
    size_t m = 1;
    for (size_t d = 0; os && d < os->size; d++)
        m *= (size_t)os->data[d];
    float *q = realloc(*out, m * sizeof(float));
    int rc = 0;
    if (!q) {
        fprintf(stderr, "%s: out of memory\n", prog);
        rc = 1;
    } else {
        *out = q;
        *out_n = m;
        PD_TensorCopyToCpuFloat(ot, q);
    }
    PD_OneDimArrayInt32Destroy(os);
    PD_TensorDestroy(ot);
    PD_OneDimArrayCstrDestroy(out_names);
    return rc;
}

void demo_print20(const float *y, size_t n) {
    printf("first 20 outputs:\n");
    for (size_t i = 0; i < 20 && i < n; i++)
        printf("%g\n", y[i]);
}
