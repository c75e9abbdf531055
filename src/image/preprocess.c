/*
 * preprocess.c — ResNet50-style preprocessing of an RGB image into a float
 * CHW tensor: shorter side to resize_short (longer side truncated and crop
 * offsets rounded half to even, as torchvision; or PaddleClas' conventions),
 * bilinear with half-pixel centres and no antialiasing (as OpenCV
 * INTER_LINEAR and torchvision antialias=False), center crop, then
 * (v / 255 - mean[c]) / std[c]. Only the cropped window is interpolated.
 * The resized values stay in float (no uint8 rounding in between).
 * Non-goals: antialiased or bicubic resize, BGR output, batching.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/status.h"
#include "image/image.h"

/* Largest crop accepted; a sanity bound, not a format limit. */
#define KILN_PREPROCESS_MAX_CROP 8192

kiln_preprocess kiln_preprocess_default(void) {
    kiln_preprocess p = {
        .resize_short = 256,
        .crop = 224,
        .sizes = KILN_SIZES_TORCHVISION,
        .mean = {0.485f, 0.456f, 0.406f},
        .std = {0.229f, 0.224f, 0.225f},
    };
    return p;
}

kiln_status kiln_preprocess_validate(const kiln_preprocess *p) {
    if (!p) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "preprocess: recipe is NULL");
    if (p->crop < 1 || p->crop > KILN_PREPROCESS_MAX_CROP)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "preprocess: crop %lld is not in [1, %d]",
                          (long long)p->crop, KILN_PREPROCESS_MAX_CROP);
    if (p->resize_short < p->crop || p->resize_short > KILN_IMAGE_MAX_SIDE)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "preprocess: resize_short %lld must be in [crop=%lld, %d]",
                          (long long)p->resize_short, (long long)p->crop, KILN_IMAGE_MAX_SIDE);
    if ((int)p->sizes < 0 || p->sizes >= KILN_SIZES_COUNT)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "preprocess: unknown size convention %d",
                          (int)p->sizes);
    for (int c = 0; c < 3; c++) {
        if (!isfinite(p->mean[c]) || !isfinite(p->std[c]) || !(p->std[c] > 0))
            return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                              "preprocess: channel %d: mean %g / std %g must be finite, std > 0", c,
                              (double)p->mean[c], (double)p->std[c]);
    }
    return KILN_OK;
}

int64_t kiln_preprocess_numel(const kiln_preprocess *p) {
    return 3 * p->crop * p->crop;
}

kiln_status kiln_preprocess_describe(const kiln_preprocess *p, char *buf, size_t n) {
    KILN_TRY(kiln_preprocess_validate(p));
    int k = snprintf(buf, n,
                     "resize_short=%lld,sizes=%s,bilinear,crop=%lld,rgb,mean=%g/%g/%g,std=%g/%g/%g",
                     (long long)p->resize_short,
                     p->sizes == KILN_SIZES_TORCHVISION ? "torchvision" : "paddleclas",
                     (long long)p->crop, (double)p->mean[0], (double)p->mean[1], (double)p->mean[2],
                     (double)p->std[0], (double)p->std[1], (double)p->std[2]);
    if (k < 0 || (size_t)k >= n)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "preprocess: description needs %d bytes, buffer has %zu", k + 1, n);
    return KILN_OK;
}

/* q / d rounded to nearest, ties to even (q >= 0, d > 0). */
static int64_t div_round_even(int64_t q, int64_t d) {
    int64_t k = q / d, r = q % d;
    if (2 * r > d || (2 * r == d && (k & 1))) k++;
    return k;
}

kiln_status kiln_preprocess_resized_size(const kiln_preprocess *p, int64_t width, int64_t height,
                                         int64_t *out_width, int64_t *out_height) {
    KILN_TRY(kiln_preprocess_validate(p));
    if (width < 1 || height < 1 || width > KILN_IMAGE_MAX_SIDE || height > KILN_IMAGE_MAX_SIDE)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "preprocess: bad image size %lldx%lld",
                          (long long)width, (long long)height);
    int64_t shorter = width <= height ? width : height;
    int64_t longer = width <= height ? height : width;
    int64_t q = longer * p->resize_short; /* <= 2^30: no overflow */
    int64_t new_long =
        p->sizes == KILN_SIZES_TORCHVISION ? q / shorter : div_round_even(q, shorter);
    if (width <= height) {
        *out_width = p->resize_short;
        *out_height = new_long;
    } else {
        *out_width = new_long;
        *out_height = p->resize_short;
    }
    return KILN_OK;
}

/* Source taps of `n` consecutive output coordinates starting at `first` when
 * resizing `in` samples to `out`: half-pixel centres, src clamped at 0 and
 * the upper tap clamped at in - 1 (PyTorch upsample_bilinear2d,
 * align_corners=False; OpenCV INTER_LINEAR). */
static void bilinear_taps(int64_t in, int64_t out, int64_t first, int64_t n, int64_t *i0,
                          int64_t *i1, float *frac) {
    double scale = (double)in / (double)out;
    for (int64_t k = 0; k < n; k++) {
        double src = ((double)(first + k) + 0.5) * scale - 0.5;
        if (src < 0) src = 0;
        int64_t a = (int64_t)src;
        if (a > in - 1) a = in - 1;
        i0[k] = a;
        i1[k] = a < in - 1 ? a + 1 : a;
        frac[k] = (float)(src - (double)a);
    }
}

kiln_status kiln_image_preprocess(const kiln_image *img, const kiln_preprocess *p, float *dst) {
    if (!img || !img->rgb || !dst)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "preprocess: NULL image or destination");
    int64_t rw, rh;
    KILN_TRY(kiln_preprocess_resized_size(p, img->width, img->height, &rw, &rh));
    int64_t crop = p->crop, w = img->width, h = img->height;
    /* center crop offsets: torchvision int(round((rh - crop) / 2.0)), ties to
     * even; PaddleClas (rh - crop) // 2 */
    int64_t top, left;
    if (p->sizes == KILN_SIZES_TORCHVISION) {
        top = div_round_even(rh - crop, 2);
        left = div_round_even(rw - crop, 2);
    } else {
        top = (rh - crop) / 2;
        left = (rw - crop) / 2;
    }

    size_t nc = (size_t)crop;
    int64_t *x0 = malloc(nc * sizeof *x0), *x1 = malloc(nc * sizeof *x1);
    int64_t *y0 = malloc(nc * sizeof *y0), *y1 = malloc(nc * sizeof *y1);
    float *fx = malloc(nc * sizeof *fx), *fy = malloc(nc * sizeof *fy);
    float *row0 = malloc(nc * 3 * sizeof *row0), *row1 = malloc(nc * 3 * sizeof *row1);
    kiln_status s = KILN_OK;
    if (!x0 || !x1 || !y0 || !y1 || !fx || !fy || !row0 || !row1) {
        s = kiln_error(KILN_ERR_NO_MEMORY, "preprocess: no memory for a %lld crop",
                       (long long)crop);
        goto done;
    }
    bilinear_taps(w, rw, left, crop, x0, x1, fx);
    bilinear_taps(h, rh, top, crop, y0, y1, fy);

    float a[3], b[3]; /* out = v * a + b = (v / 255 - mean) / std */
    for (int c = 0; c < 3; c++) {
        a[c] = (float)(1.0 / (255.0 * (double)p->std[c]));
        b[c] = (float)(-(double)p->mean[c] / (double)p->std[c]);
    }
    size_t plane = nc * nc;
    for (size_t i = 0; i < nc; i++) {
        /* horizontal pass over the two source rows this output row needs */
        const uint8_t *r0 = img->rgb + (size_t)y0[i] * (size_t)w * 3;
        const uint8_t *r1 = img->rgb + (size_t)y1[i] * (size_t)w * 3;
        for (size_t j = 0; j < nc; j++) {
            size_t s0 = (size_t)x0[j] * 3, s1 = (size_t)x1[j] * 3;
            float t = fx[j], u = 1.0f - t;
            for (int c = 0; c < 3; c++) {
                row0[j * 3 + c] = u * (float)r0[s0 + c] + t * (float)r0[s1 + c];
                row1[j * 3 + c] = u * (float)r1[s0 + c] + t * (float)r1[s1 + c];
            }
        }
        float t = fy[i], u = 1.0f - t;
        for (size_t j = 0; j < nc; j++) {
            for (int c = 0; c < 3; c++) {
                float v = u * row0[j * 3 + c] + t * row1[j * 3 + c];
                dst[(size_t)c * plane + i * nc + j] = v * a[c] + b[c];
            }
        }
    }
done:
    free(x0), free(x1), free(y0), free(y1), free(fx), free(fy), free(row0), free(row1);
    return s;
}
