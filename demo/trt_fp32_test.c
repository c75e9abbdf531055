/*
 * trt_fp32_test.c — the Paddle-TRT demo `trt_fp32_test`, written against the
 * Paddle Inference C API (kiln_paddle.h): load ResNet50, run it in FP32 on a
 * fixed input (every value 1.0, as the original demo), print the first 20
 * output values.
 *
 *   trt_fp32_test --model_file=ResNet50/model --params_file=ResNet50/params [--batch_size=N]
 *
 * Also: --model_dir=D, --warmup=N (5), --repeats=N (5), --run_mode (accepted
 * for compatibility: trt_fp32 | paddle; both run FP32 on Kiln's best backend).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln_paddle.h"

typedef struct {
    const char *model_file, *params_file, *model_dir, *run_mode;
    long batch_size, warmup, repeats;
} flags;

static int parse_long(const char *name, const char *v, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "trt_fp32_test: --%s=%s: expected an integer in [%ld, %ld]\n", name, v, lo,
                hi);
        return 2;
    }
    *out = x;
    return 0;
}

static int parse_flags(int argc, char **argv, flags *f) {
    memset(f, 0, sizeof *f);
    f->batch_size = 1;
    f->warmup = 5;
    f->repeats = 5;
    f->run_mode = "trt_fp32";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *eq = strchr(a, '=');
        if (strncmp(a, "--", 2) != 0 || !eq) {
            if (!strcmp(a, "--help")) {
                printf("usage: trt_fp32_test --model_file=F --params_file=P [--batch_size=N]\n"
                       "       [--model_dir=D] [--warmup=N] [--repeats=N] [--run_mode=trt_fp32]\n");
                exit(0);
            }
            fprintf(stderr, "trt_fp32_test: unexpected argument '%s' (flags are --name=value)\n",
                    a);
            return 2;
        }
        size_t k = (size_t)(eq - a);
        const char *v = eq + 1;
        int rc = 0;
        if (k == 12 && !strncmp(a, "--model_file", k))
            f->model_file = v;
        else if (k == 13 && !strncmp(a, "--params_file", k))
            f->params_file = v;
        else if (k == 11 && !strncmp(a, "--model_dir", k))
            f->model_dir = v;
        else if (k == 10 && !strncmp(a, "--run_mode", k))
            f->run_mode = v;
        else if (k == 12 && !strncmp(a, "--batch_size", k))
            rc = parse_long("batch_size", v, 1, 4096, &f->batch_size);
        else if (k == 8 && !strncmp(a, "--warmup", k))
            rc = parse_long("warmup", v, 0, 100000, &f->warmup);
        else if (k == 9 && !strncmp(a, "--repeats", k))
            rc = parse_long("repeats", v, 1, 1000000, &f->repeats);
        else {
            fprintf(stderr, "trt_fp32_test: unknown flag %.*s\n", (int)k, a);
            return 2;
        }
        if (rc) return rc;
    }
    if (strcmp(f->run_mode, "trt_fp32") && strcmp(f->run_mode, "paddle") &&
        strcmp(f->run_mode, "paddle_gpu")) {
        fprintf(stderr, "trt_fp32_test: --run_mode=%s: this demo runs trt_fp32 (or paddle)\n",
                f->run_mode);
        return 2;
    }
    if (!f->model_dir && !f->model_file) {
        fprintf(stderr, "trt_fp32_test: give --model_file=F --params_file=P (or --model_dir=D)\n");
        return 2;
    }
    return 0;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    flags f;
    int rc = parse_flags(argc, argv, &f);
    if (rc) return rc;

    PD_Config *config = PD_ConfigCreate();
    if (f.model_dir)
        PD_ConfigSetModelDir(config, f.model_dir);
    else
        PD_ConfigSetModel(config, f.model_file, f.params_file);
    PD_ConfigEnableUseGpu(config, 500, 0, PD_PRECISION_FLOAT32);
    if (!strcmp(f.run_mode, "trt_fp32"))
        PD_ConfigEnableTensorRtEngine(config, 1 << 30, (int32_t)f.batch_size, 5,
                                      PD_PRECISION_FLOAT32, FALSE, FALSE);
    PD_Predictor *predictor = PD_PredictorCreate(config); /* takes the config */
    if (!predictor) {
        fprintf(stderr, "trt_fp32_test: cannot create the predictor: %s\n", PD_GetLastError());
        return 1;
    }

    int32_t shape[4] = {(int32_t)f.batch_size, 3, 224, 224};
    size_t n = (size_t)f.batch_size * 3 * 224 * 224;
    float *input = malloc(n * sizeof(float));
    if (!input) {
        fprintf(stderr, "trt_fp32_test: out of memory\n");
        PD_PredictorDestroy(predictor);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        input[i] = 1.0f; /* the seed demo's input */

    PD_OneDimArrayCstr *in_names = PD_PredictorGetInputNames(predictor);
    PD_Tensor *in = PD_PredictorGetInputHandle(predictor, in_names->data[0]);
    PD_TensorReshape(in, 4, shape);
    PD_TensorCopyFromCpuFloat(in, input);

    rc = 0;
    for (long i = 0; i < f.warmup && rc == 0; i++)
        if (!PD_PredictorRun(predictor)) rc = 1;
    double t0 = now_ms();
    float *out = NULL;
    size_t out_n = 0;
    for (long i = 0; i < f.repeats && rc == 0; i++) {
        if (!PD_PredictorRun(predictor)) {
            rc = 1;
            break;
        }
        PD_OneDimArrayCstr *out_names = PD_PredictorGetOutputNames(predictor);
        PD_Tensor *ot = PD_PredictorGetOutputHandle(predictor, out_names->data[0]);
        PD_OneDimArrayInt32 *os = PD_TensorGetShape(ot);
        size_t m = 1;
        for (size_t d = 0; d < os->size; d++)
            m *= (size_t)os->data[d];
        if (m > out_n) {
            free(out);
            out = malloc(m * sizeof(float));
            out_n = out ? m : 0;
        }
        if (out) PD_TensorCopyToCpuFloat(ot, out);
        PD_OneDimArrayInt32Destroy(os);
        PD_TensorDestroy(ot);
        PD_OneDimArrayCstrDestroy(out_names);
    }
    if (rc) {
        fprintf(stderr, "trt_fp32_test: run failed: %s\n", PD_GetLastError());
    } else {
        printf("run avg time is %.3f ms\n", (now_ms() - t0) / (double)f.repeats);
        printf("first 20 outputs:\n");
        for (size_t i = 0; i < 20 && i < out_n; i++)
            printf("%g\n", out[i]);
    }
    free(out);
    free(input);
    PD_TensorDestroy(in);
    PD_OneDimArrayCstrDestroy(in_names);
    PD_PredictorDestroy(predictor);
    return rc;
}
