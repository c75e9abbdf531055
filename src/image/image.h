/*
 * image.h — image inputs for inference and calibration: decode JPEG/PNG into
 * 8-bit RGB, ResNet50-style preprocessing into an NCHW float tensor, raw
 * `.bin` float32 tensors, and listing a directory or list file of inputs.
 * One code path feeds both calibration and inference. docs/IMAGES.md gives
 * the exact conventions (rounding, interpolation, alpha, CMYK, EXIF).
 *
 * Non-goals: encoding, animation, colour management (ICC/gAMA ignored),
 * 12/16-bit JPEG, formats other than JPEG and PNG.
 */
#ifndef KILN_IMAGE_IMAGE_H
#define KILN_IMAGE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

/* Limits against memory bombs: a decoded image may have at most this many
 * pixels per side and in total (2^28 pixels = 768 MiB of RGB). */
#define KILN_IMAGE_MAX_SIDE 32768
#define KILN_IMAGE_MAX_PIXELS ((int64_t)1 << 28)

/* An 8-bit RGB image, row-major HWC: pixel (x, y) channel c is
 * rgb[(y * width + x) * 3 + c], c = 0 R, 1 G, 2 B. Owns rgb. */
typedef struct kiln_image {
    int64_t width;
    int64_t height;
    uint8_t *rgb;
} kiln_image;

typedef enum kiln_image_format {
    KILN_IMAGE_FORMAT_UNKNOWN = 0,
    KILN_IMAGE_FORMAT_JPEG,
    KILN_IMAGE_FORMAT_PNG,
    KILN_IMAGE_FORMAT_COUNT
} kiln_image_format;

/* Detects the format from the first bytes (never the name). */
kiln_image_format kiln_image_detect(const uint8_t *data, size_t n);

/* Decodes `path` (JPEG or PNG, by content) into *out (caller frees with
 * kiln_image_free). EXIF orientation is applied; alpha is dropped; grayscale
 * is replicated; CMYK converted. Errors name the file and, for corrupt data,
 * what libjpeg/libpng said. On failure *out is zeroed. */
kiln_status kiln_image_load(const char *path, kiln_image *out);

/* Same, from memory. `name` is used in messages only (may be NULL). */
kiln_status kiln_image_decode_buffer(const uint8_t *data, size_t n, const char *name,
                                     kiln_image *out);

/* Same with a lower pixel limit (<= KILN_IMAGE_MAX_PIXELS); the fuzz target
 * uses it to keep each run fast. */
kiln_status kiln_image_decode_buffer_limited(const uint8_t *data, size_t n, const char *name,
                                             int64_t max_pixels, kiln_image *out);

/* Frees img->rgb and zeroes *img. NULL is a no-op. */
void kiln_image_free(kiln_image *img);

/* ---- preprocessing --------------------------------------------------- */

/* Integer conventions of the resize and the crop. The longer side after
 * scaling the shorter one to resize_short is long * resize_short / short
 * (exact rational), then rounded; the crop offset is (side - crop) / 2, then
 * rounded:
 *   TORCHVISION (default): long side truncated (torchvision Resize(int)),
 *                crop offset rounded half to even (center_crop's round());
 *   PADDLECLAS:  long side rounded to nearest, ties to even (ResizeImage's
 *                int(round(w * percent))), crop offset floored (CropImage's //). */
typedef enum kiln_size_convention {
    KILN_SIZES_TORCHVISION = 0,
    KILN_SIZES_PADDLECLAS,
    KILN_SIZES_COUNT
} kiln_size_convention;

/* The recipe. Output is float32 NCHW [1, 3, crop, crop], RGB order,
 * value = (bilinear(rgb) / 255 - mean[c]) / std[c]. */
typedef struct kiln_preprocess {
    int64_t resize_short;       /* shorter side after resize (256); >= crop */
    int64_t crop;               /* center crop side (224) */
    kiln_size_convention sizes; /* rounding of the long side and crop offset */
    float mean[3];              /* per channel, RGB, on the [0,1] scale */
    float std[3];               /* per channel, RGB, > 0 */
} kiln_preprocess;

/* ResNet50 / ImageNet: 256, 224, torchvision sizes, mean 0.485/0.456/0.406, std 0.229/0.224/0.225.
 */
kiln_preprocess kiln_preprocess_default(void);

/* Checks the recipe (sides in range, resize_short >= crop, std > 0). */
kiln_status kiln_preprocess_validate(const kiln_preprocess *p);

/* Floats in one preprocessed image: 3 * crop * crop. */
int64_t kiln_preprocess_numel(const kiln_preprocess *p);

/* A stable one-line description, for calibration table headers, e.g.
 * "resize_short=256,sizes=torchvision,bilinear,crop=224,rgb,mean=0.485/0.456/0.406,std=0.229/0.224/0.225".
 * Errors if it does not fit in n bytes (128 is always enough). */
kiln_status kiln_preprocess_describe(const kiln_preprocess *p, char *buf, size_t n);

/* The size of the image after the shorter-side resize (before the crop). */
kiln_status kiln_preprocess_resized_size(const kiln_preprocess *p, int64_t width, int64_t height,
                                         int64_t *out_width, int64_t *out_height);

/* Resize + center crop + normalize `img` into dst (kiln_preprocess_numel
 * floats, CHW). */
kiln_status kiln_image_preprocess(const kiln_image *img, const kiln_preprocess *p, float *dst);

/* One input file into dst (kiln_preprocess_numel floats): a `.bin` name is a
 * raw float32 little-endian CHW tensor of exactly that many values (already
 * preprocessed; NaN/Inf rejected); anything else is decoded by content and
 * preprocessed. The same function serves calibration and inference. */
kiln_status kiln_image_load_tensor(const char *path, const kiln_preprocess *p, float *dst);

/* The `.bin` loader alone: `numel` float32 values, little-endian. */
kiln_status kiln_image_load_bin(const char *path, int64_t numel, float *dst);

/* ---- input lists ----------------------------------------------------- */

/* Regular files in `dir` named *.jpg *.jpeg *.png *.bin (case-insensitive),
 * as "dir/name", sorted by strcmp of the name. *paths is owned by the caller
 * (kiln_image_list_free). No match is an error (KILN_ERR_NOT_FOUND). */
kiln_status kiln_image_list_dir(const char *dir, char ***paths, size_t *n);

/* One path per line of `listfile`; relative paths are resolved against the
 * list file's directory; blank lines and lines starting with '#' (after
 * leading blanks) are skipped; trailing blanks and CR are trimmed. Order is
 * kept. No path is an error (KILN_ERR_NOT_FOUND). */
kiln_status kiln_image_list_file(const char *listfile, char ***paths, size_t *n);

void kiln_image_list_free(char **paths, size_t n);

#endif
