/*
 * cmd_calibrate.c — `kiln calibrate`: INT8 post-training calibration as an
 * explicit step. Runs the model in FP32 over images (JPEG/PNG through the
 * ResNet50 preprocessing, or raw .bin tensors), writes the table to
 * <model dir>/_opt_cache/trt_calib_<key> (or --output) atomically, and
 * prints its absolute path, the sample count and the time. Fails loudly —
 * non-zero status, no table — when it reads fewer samples than asked for or
 * an image cannot be read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static void usage(void) {
    printf("usage: kiln calibrate <model> --data=DIR|LIST [flags]\n"
           "  --model_file=F [--params_file=P] | --model_dir=D | PATH   the model\n"
           "  --data=DIR|LIST      images (.jpg .jpeg .png, or .bin tensors): a directory or a\n"
           "                       text file with one path per line\n"
           "  --samples=N          use the first N images (default: all); fewer found = error\n"
           "  --algo=entropy|percentile|minmax|mse   (default entropy)\n"
           "  --percentile=P       for --algo=percentile (default 99.99)\n"
           "  --batch=N            images per FP32 run (default 1)\n"
           "  --output=FILE        table path (default <model dir>/_opt_cache/trt_calib_<key>)\n"
           "  --backend=auto|ref|cpu  --threads=N\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void progress(bool tty, int64_t done, int64_t total, double t0) {
    double el = now_s() - t0;
    if (tty) {
        int w = 30, fill = (int)(w * done / (total ? total : 1));
        fprintf(stderr, "\rcalibrating [%.*s%*s] %lld/%lld  %.1f s", fill,
                "##############################", w - fill, "", (long long)done, (long long)total,
                el);
        if (done == total) fprintf(stderr, "\n");
    } else if (done == total || (done * 10 / total) != ((done - 1) * 10 / total)) {
        fprintf(stderr, "calibrating: %lld/%lld samples, %.1f s\n", (long long)done,
                (long long)total, el);
    }
}

int kiln_cmd_calibrate(int argc, char **argv) {
    kiln_cli c;
    if (kiln_cli_parse(&c, argc, argv, 1)) return 2;
    bool help;
    if (kiln_cli_get_bool(&c, "help", false, &help)) return 2;
    if (help) {
        usage();
        return 0;
    }
    kiln_load_options lo;
    if (kiln_cli_model_options(&c, "kiln calibrate", &lo)) return 2;
    kiln_calibrate_options co = kiln_calibrate_options_default();
    const char *data = kiln_cli_get(&c, "data");
    const char *output = kiln_cli_get(&c, "output");
    const char *algo = kiln_cli_get(&c, "algo");
    const char *pct = kiln_cli_get(&c, "percentile");
    const char *backend = kiln_cli_get(&c, "backend");
    int64_t samples = 0, batch = 1, threads = 0;
    if (kiln_cli_get_int(&c, "samples", 1, 100000000, &samples) ||
        kiln_cli_get_int(&c, "batch", 1, 4096, &batch) ||
        kiln_cli_get_int(&c, "threads", 0, 4096, &threads))
        return 2;
    if (kiln_cli_check_unused(&c, "kiln calibrate")) return 2;
    if (!data) {
        fprintf(stderr, "kiln calibrate: --data=DIR|LIST is required (calibration images)\n");
        return 2;
    }
    if (algo) co.algo = algo;
    if (pct) {
        char *end;
        co.percentile = strtod(pct, &end);
        if (*end || !(co.percentile > 0 && co.percentile <= 100)) {
            fprintf(stderr, "kiln calibrate: --percentile=%s: expected a number in (0, 100]\n",
                    pct);
            return 2;
        }
    }
    if (backend && kiln_backend_from_name(backend, &co.backend) != KILN_OK)
        return kiln_cli_fail("kiln calibrate", KILN_ERR_INVALID_ARGUMENT);
    co.max_batch = batch;
    co.threads = (int)threads;

    char **paths = NULL;
    size_t n_paths = 0;
    kiln_model *m = NULL;
    kiln_calibrator *cal = NULL;
    float *x = NULL;
    int rc = 0;
    kiln_status s = kiln_image_paths(data, &paths, &n_paths);
    if (s != KILN_OK) return kiln_cli_fail("kiln calibrate", s);
    if (samples == 0) samples = (int64_t)n_paths;
    if ((size_t)samples > n_paths) {
        fprintf(stderr,
                "kiln calibrate: asked for %lld samples but %s holds only %zu images; no table "
                "written\n",
                (long long)samples, data, n_paths);
        rc = 1;
        goto done;
    }
    if ((s = kiln_model_load(&lo, &m)) != KILN_OK) {
        rc = kiln_cli_fail("kiln calibrate", s);
        goto done;
    }
    int64_t dims[KILN_MAX_RANK];
    int rank;
    kiln_model_input_shape(m, 0, dims, &rank);
    if (rank != 4 || dims[1] != 3 || dims[2] != dims[3] || dims[2] <= 0) {
        fprintf(stderr, "kiln calibrate: the model input must be [N,3,S,S] images\n");
        rc = 2;
        goto done;
    }
    char prep[128];
    if ((s = kiln_image_preprocess_describe(dims[2], prep, sizeof prep)) != KILN_OK) {
        rc = kiln_cli_fail("kiln calibrate", s);
        goto done;
    }
    co.preprocess = prep;
    if ((s = kiln_calibrator_create(m, &co, &cal)) != KILN_OK) {
        rc = kiln_cli_fail("kiln calibrate", s);
        goto done;
    }
    size_t per = (size_t)(3 * dims[2] * dims[3]);
    x = malloc(per * (size_t)batch * sizeof(float));
    if (!x) {
        rc = kiln_cli_fail("kiln calibrate", KILN_ERR_NO_MEMORY);
        goto done;
    }
    bool tty = isatty(2);
    double t0 = now_s();
    for (int64_t i = 0; i < samples;) {
        int64_t b = samples - i < batch ? samples - i : batch;
        for (int64_t k = 0; k < b; k++)
            if ((s = kiln_image_to_tensor(paths[i + k], dims[2], x + per * (size_t)k)) != KILN_OK) {
                if (tty) fprintf(stderr, "\n");
                rc = kiln_cli_fail("kiln calibrate", s);
                fprintf(stderr, "kiln calibrate: no table written\n");
                goto done;
            }
        dims[0] = b;
        if ((s = kiln_calibrator_add(cal, x, dims, 4)) != KILN_OK) {
            if (tty) fprintf(stderr, "\n");
            rc = kiln_cli_fail("kiln calibrate", s);
            goto done;
        }
        i += b;
        progress(tty, i, samples, t0);
    }
    char written[4096];
    if ((s = kiln_calibrator_write(cal, output, written, sizeof written)) != KILN_OK) {
        rc = kiln_cli_fail("kiln calibrate", s);
        goto done;
    }
    printf("calibration table: %s\n", written);
    printf("samples: %lld  algorithm: %s  time: %.2f s\n", (long long)kiln_calibrator_samples(cal),
           co.algo, now_s() - t0);
done:
    free(x);
    kiln_calibrator_destroy(cal);
    kiln_model_destroy(m);
    kiln_image_paths_free(paths, n_paths);
    return rc;
}
