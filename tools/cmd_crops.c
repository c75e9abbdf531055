/*
 * cmd_crops.c — `kiln crops`: several deterministic views of each photo as
 * preprocessed .bin tensors, to build calibration and evaluation sets larger
 * than the photos at hand. View k of an image uses the ResNet50 pipeline
 * (docs/IMAGES.md) with the shorter side resized to one of --scales values
 * evenly spread over [crop, 1.43*crop] and, for every other view, a
 * horizontal flip. Files: DIR/<photo stem>_<k>.bin (float32 NCHW).
 *
 * Non-goals: random augmentation (outputs must be reproducible).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/file.h"
#include "image/image.h"

static void usage(void) {
    printf("usage: kiln crops --data=DIR|LIST --output_dir=DIR [--per_image=N] [--size=224]\n"
           "  writes N views per image (scales x flips) as preprocessed float32 .bin tensors\n");
}

static void flip_w(float *x, int64_t s) {
    for (int64_t c = 0; c < 3; c++)
        for (int64_t y = 0; y < s; y++) {
            float *row = x + (c * s + y) * s;
            for (int64_t i = 0, j = s - 1; i < j; i++, j--) {
                float t = row[i];
                row[i] = row[j];
                row[j] = t;
            }
        }
}

static const char *stem(const char *path, char *buf, size_t n) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(buf, n, "%s", b);
    char *dot = strrchr(buf, '.');
    if (dot) *dot = '\0';
    return buf;
}

int kiln_cmd_crops(int argc, char **argv) {
    kiln_cli c;
    if (kiln_cli_parse(&c, argc, argv, 1)) return 2;
    bool help;
    if (kiln_cli_get_bool(&c, "help", false, &help)) return 2;
    if (help) {
        usage();
        return 0;
    }
    const char *data = kiln_cli_get(&c, "data"), *out = kiln_cli_get(&c, "output_dir");
    int64_t per = 8, size = 224;
    if (kiln_cli_get_int(&c, "per_image", 1, 1000, &per) ||
        kiln_cli_get_int(&c, "size", 8, 4096, &size) || kiln_cli_check_unused(&c, "kiln crops"))
        return 2;
    if (!data || !out) {
        fprintf(stderr, "kiln crops: --data and --output_dir are required\n");
        return 2;
    }
    char **paths = NULL;
    size_t n = 0;
    kiln_status s = kiln_image_paths(data, &paths, &n);
    if (s == KILN_OK) s = kiln_mkdirs(out);
    if (s != KILN_OK) {
        kiln_image_list_free(paths, n);
        return kiln_cli_fail("kiln crops", s);
    }
    int64_t scales = (per + 1) / 2, numel = 3 * size * size;
    float *x = malloc(sizeof(float) * (size_t)numel);
    int rc = x ? 0 : kiln_cli_fail("kiln crops", KILN_ERR_NO_MEMORY);
    size_t written = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        kiln_image img;
        if ((s = kiln_image_load(paths[i], &img)) != KILN_OK) {
            rc = kiln_cli_fail("kiln crops", s);
            break;
        }
        for (int64_t k = 0; k < per && !rc; k++) {
            kiln_preprocess p = kiln_preprocess_default();
            p.crop = size;
            int64_t top = size * 143 / 100, si = k / 2;
            p.resize_short = scales > 1 ? size + (top - size) * si / (scales - 1) : top;
            char name[256], file[4096];
            snprintf(file, sizeof file, "%s/%s_%03lld.bin", out, stem(paths[i], name, sizeof name),
                     (long long)k);
            if ((s = kiln_image_preprocess(&img, &p, x)) == KILN_OK) {
                if (k % 2) flip_w(x, size);
                s = kiln_write_file_atomic(file, x, sizeof(float) * (size_t)numel);
            }
            if (s != KILN_OK)
                rc = kiln_cli_fail("kiln crops", s);
            else
                written++;
        }
        kiln_image_free(&img);
    }
    if (!rc) printf("kiln crops: %zu tensors from %zu images in %s\n", written, n, out);
    free(x);
    kiln_image_list_free(paths, n);
    return rc;
}
