/*
 * cmd_run.c — `kiln run`: run a model once and print or save its outputs.
 *
 * Input: --input=FILE.bin (raw little-endian float32, NCHW) with the shape
 * from --shape or the model; default: the seed demo's input, every value 1.0.
 * --outputs=VAR,... makes any named tensors outputs; --save_outputs=DIR
 * writes DIR/<name>.bin (float32) and DIR/<name>.shape ("1x1000").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/file.h"

static void usage(void) {
    printf("usage: kiln run <model> [flags]\n"
           "  --model_file=F [--params_file=P] | --model_dir=D | PATH   the model\n"
           "  --input=FILE.bin      raw float32 NCHW input (default: every value 1.0)\n"
           "  --shape=1x3x224x224   input shape (default: the model's, batch --batch_size)\n"
           "  --batch_size=N        batch for the default input (default 1)\n"
           "  --outputs=A,B         also output these tensors (any name from kiln inspect)\n"
           "  --save_outputs=DIR    write DIR/<name>.bin + DIR/<name>.shape per output\n"
           "  --print=N             values printed per output (default 20)\n"
           "  --image=FILE          a JPEG/PNG through the ResNet50 preprocessing\n"
           "  --precision=fp32|int8 (int8 reads the calibration table)\n"
           "  --calib_table=FILE    the table (default <model dir>/_opt_cache/trt_calib_<key>)\n"
           "  --backend=auto|ref|cpu|cuda   (default auto)\n"
           "  --threads=N           CPU threads (default: all cores)\n");
}

static int read_input(const char *path, size_t n, float *dst) {
    kiln_mapping m;
    kiln_status s = kiln_map_file(path, &m);
    if (s != KILN_OK) return kiln_cli_fail("kiln run", s);
    if (m.size != n * sizeof(float)) {
        fprintf(stderr,
                "kiln run: %s holds %zu bytes but the input shape needs %zu float32 values (%zu "
                "bytes); check --shape\n",
                path, m.size, n, n * sizeof(float));
        kiln_unmap(&m);
        return 2;
    }
    memcpy(dst, m.data, m.size);
    kiln_unmap(&m);
    return 0;
}

static void file_name(const char *tensor, char *buf, size_t n) {
    snprintf(buf, n, "%s", tensor);
    for (char *p = buf; *p; p++)
        if (*p == '/' || *p == '\\' || *p == ':') *p = '_';
}

static int save_output(const char *dir, const char *name, const float *data, const int64_t *dims,
                       int rank) {
    char base[512], path[4096], shape[256];
    file_name(name, base, sizeof base);
    size_t n = 1, k = 0;
    for (int d = 0; d < rank; d++) {
        n *= (size_t)dims[d];
        k +=
            (size_t)snprintf(shape + k, sizeof shape - k, d ? "x%lld" : "%lld", (long long)dims[d]);
    }
    snprintf(shape + k, sizeof shape - k, "\n");
    kiln_status s;
    snprintf(path, sizeof path, "%s/%s.bin", dir, base);
    if ((s = kiln_write_file_atomic(path, data, n * sizeof(float))) != KILN_OK)
        return kiln_cli_fail("kiln run", s);
    snprintf(path, sizeof path, "%s/%s.shape", dir, base);
    if ((s = kiln_write_file_atomic(path, shape, strlen(shape))) != KILN_OK)
        return kiln_cli_fail("kiln run", s);
    return 0;
}

static void print_output(const char *name, const float *data, const int64_t *dims, int rank,
                         int64_t count) {
    int64_t n = 1;
    printf("output '%s' shape [", name);
    for (int d = 0; d < rank; d++) {
        printf(d ? ",%lld" : "%lld", (long long)dims[d]);
        n *= dims[d];
    }
    printf("]\n");
    for (int64_t i = 0; i < n && i < count; i++)
        printf("%lld : %.8g\n", (long long)i, data[i]);
}

static int add_outputs(kiln_model *m, const char *list) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        kiln_status s = kiln_model_add_output(m, tok);
        if (s != KILN_OK) return kiln_cli_fail("kiln run", s);
    }
    return 0;
}

int kiln_cmd_run(int argc, char **argv) {
    const char *bo_table;
    kiln_cli c;
    if (kiln_cli_parse(&c, argc, argv, 1)) return 2;
    bool help;
    if (kiln_cli_get_bool(&c, "help", false, &help)) return 2;
    if (help) {
        usage();
        return 0;
    }
    kiln_load_options lo;
    if (kiln_cli_model_options(&c, "kiln run", &lo)) return 2;
    const char *input = kiln_cli_get(&c, "input");
    const char *shape_s = kiln_cli_get(&c, "shape");
    const char *outputs = kiln_cli_get(&c, "outputs");
    const char *save = kiln_cli_get(&c, "save_outputs");
    const char *backend = kiln_cli_get(&c, "backend");
    const char *image = kiln_cli_get(&c, "image");
    const char *precision = kiln_cli_get(&c, "precision");
    bo_table = kiln_cli_get(&c, "calib_table");
    int64_t batch = 1, print_n = 20, threads = 0;
    if (kiln_cli_get_int(&c, "batch_size", 1, 1 << 16, &batch) ||
        kiln_cli_get_int(&c, "print", 0, 1ll << 40, &print_n) ||
        kiln_cli_get_int(&c, "threads", 0, 4096, &threads))
        return 2;
    if (kiln_cli_check_unused(&c, "kiln run")) return 2;

    kiln_build_options bo = kiln_build_options_default();
    bo.threads = (int)threads;
    bo.calibration_table = bo_table;
    if (precision && kiln_cli_parse_precision(precision, &bo.precision)) return 2;
    if (input && image) {
        fprintf(stderr, "kiln run: give --input or --image, not both\n");
        return 2;
    }
    if (backend && kiln_backend_from_name(backend, &bo.backend) != KILN_OK)
        return kiln_cli_fail("kiln run", KILN_ERR_INVALID_ARGUMENT);

    kiln_model *m = NULL;
    kiln_engine *e = NULL;
    float *x = NULL;
    int rc = 0;
    kiln_status s = kiln_model_load(&lo, &m);
    if (s != KILN_OK) return kiln_cli_fail("kiln run", s);
    if (outputs && (rc = add_outputs(m, outputs))) goto done;
    if (kiln_model_num_inputs(m) != 1) {
        fprintf(stderr, "kiln run: the model has %d inputs; kiln run feeds exactly one\n",
                kiln_model_num_inputs(m));
        rc = 2;
        goto done;
    }
    int64_t dims[KILN_MAX_RANK];
    int rank;
    if (shape_s) {
        if ((rc = kiln_cli_parse_shape("shape", shape_s, dims, &rank))) goto done;
    } else {
        kiln_model_input_shape(m, 0, dims, &rank);
        if (rank > 0 && dims[0] < 0) dims[0] = batch;
        for (int d = 1; d < rank; d++)
            if (dims[d] < 0) {
                fprintf(stderr, "kiln run: input dimension %d is dynamic: give --shape\n", d);
                rc = 2;
                goto done;
            }
    }
    bo.max_batch = rank > 0 ? dims[0] : 1;
    size_t n = 1;
    for (int d = 0; d < rank; d++)
        n *= (size_t)dims[d];
    x = malloc(n * sizeof(float) + 1);
    if (!x) {
        rc = kiln_cli_fail("kiln run", KILN_ERR_NO_MEMORY);
        goto done;
    }
    if (input) {
        if ((rc = read_input(input, n, x))) goto done;
    } else if (image) {
        if (rank != 4 || dims[0] != 1) {
            fprintf(stderr, "kiln run: --image needs a [1,3,S,S] input\n");
            rc = 2;
            goto done;
        }
        if ((s = kiln_image_to_tensor(image, dims[2], x)) != KILN_OK) {
            rc = kiln_cli_fail("kiln run", s);
            goto done;
        }
    } else {
        for (size_t i = 0; i < n; i++)
            x[i] = 1.0f;
    }
    if ((s = kiln_engine_build(m, &bo, &e)) != KILN_OK ||
        (s = kiln_engine_set_input(e, 0, x, dims, rank)) != KILN_OK ||
        (s = kiln_engine_run(e)) != KILN_OK) {
        rc = kiln_cli_fail("kiln run", s);
        goto done;
    }
    if (save && (s = kiln_mkdirs(save)) != KILN_OK) {
        rc = kiln_cli_fail("kiln run", s);
        goto done;
    }
    for (int i = 0; i < kiln_model_num_outputs(m); i++) {
        const float *y;
        int64_t od[KILN_MAX_RANK];
        int orank;
        if ((s = kiln_engine_get_output(e, i, &y, od, &orank)) != KILN_OK) {
            rc = kiln_cli_fail("kiln run", s);
            goto done;
        }
        print_output(kiln_model_output_name(m, i), y, od, orank, print_n);
        if (i == 0 && bo.precision == KILN_PRECISION_INT8) {
            int n8, nc;
            kiln_engine_int8_layers(e, &n8, &nc);
            printf("INT8 layers: %d/%d\n", n8, nc);
        }
        if (save && (rc = save_output(save, kiln_model_output_name(m, i), y, od, orank))) goto done;
    }
done:
    free(x);
    kiln_engine_destroy(e);
    kiln_model_destroy(m);
    return rc;
}
