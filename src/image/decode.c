/*
 * decode.c — image decoding entry points: read a file, pick the decoder by
 * the magic bytes (never the name), checked allocation of the RGB buffer.
 * Non-goals: the format details (decode_jpeg.c, decode_png.c, exif.c).
 */
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/status.h"
#include "image/image_internal.h"

kiln_image_format kiln_image_detect(const uint8_t *data, size_t n) {
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (!data) return KILN_IMAGE_FORMAT_UNKNOWN;
    if (n >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
        return KILN_IMAGE_FORMAT_JPEG;
    if (n >= 8 && memcmp(data, png_sig, 8) == 0) return KILN_IMAGE_FORMAT_PNG;
    return KILN_IMAGE_FORMAT_UNKNOWN;
}

kiln_status kiln_image_alloc(kiln_image *img, int64_t width, int64_t height, int64_t max_pixels,
                             const char *name) {
    memset(img, 0, sizeof *img);
    if (width <= 0 || height <= 0)
        return kiln_error(KILN_ERR_FORMAT, "%s: image has no pixels (%lldx%lld)", name,
                          (long long)width, (long long)height);
    if (max_pixels > KILN_IMAGE_MAX_PIXELS) max_pixels = KILN_IMAGE_MAX_PIXELS;
    if (width > KILN_IMAGE_MAX_SIDE || height > KILN_IMAGE_MAX_SIDE || width * height > max_pixels)
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "%s: image of %lldx%lld pixels exceeds the limit (%d per side, %lld "
                          "in total)",
                          name, (long long)width, (long long)height, KILN_IMAGE_MAX_SIDE,
                          (long long)max_pixels);
    img->rgb = malloc((size_t)width * (size_t)height * 3);
    if (!img->rgb)
        return kiln_error(KILN_ERR_NO_MEMORY, "%s: no memory for a %lldx%lld RGB image", name,
                          (long long)width, (long long)height);
    img->width = width;
    img->height = height;
    return KILN_OK;
}

void kiln_image_free(kiln_image *img) {
    if (!img) return;
    free(img->rgb);
    memset(img, 0, sizeof *img);
}

kiln_status kiln_image_decode_buffer_limited(const uint8_t *data, size_t n, const char *name,
                                             int64_t max_pixels, kiln_image *out) {
    if (!out) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "kiln_image_decode_buffer: out is NULL");
    memset(out, 0, sizeof *out);
    if (!name) name = "(buffer)";
    if (!data || n == 0) return kiln_error(KILN_ERR_FORMAT, "%s: empty file, not an image", name);
    if (max_pixels <= 0 || max_pixels > KILN_IMAGE_MAX_PIXELS) max_pixels = KILN_IMAGE_MAX_PIXELS;
    switch (kiln_image_detect(data, n)) {
    case KILN_IMAGE_FORMAT_JPEG: return kiln_image_decode_jpeg(data, n, name, max_pixels, out);
    case KILN_IMAGE_FORMAT_PNG: return kiln_image_decode_png(data, n, name, max_pixels, out);
    default: {
        char hex[3 * 8 + 1] = "";
        size_t k = n < 8 ? n : 8;
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < k; i++) {
            hex[3 * i] = digits[data[i] >> 4];
            hex[3 * i + 1] = digits[data[i] & 15];
            hex[3 * i + 2] = i + 1 < k ? ' ' : '\0';
        }
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "%s: not a JPEG or PNG (first bytes %s); Kiln reads JPEG, PNG and "
                          "raw .bin float32 tensors",
                          name, hex);
    }
    }
}

kiln_status kiln_image_decode_buffer(const uint8_t *data, size_t n, const char *name,
                                     kiln_image *out) {
    return kiln_image_decode_buffer_limited(data, n, name, KILN_IMAGE_MAX_PIXELS, out);
}

kiln_status kiln_image_load(const char *path, kiln_image *out) {
    if (!out) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "kiln_image_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "kiln_image_load: path is NULL");
    kiln_mapping m;
    KILN_TRY(kiln_map_file(path, &m));
    kiln_status s = kiln_image_decode_buffer(m.data, m.size, path, out);
    kiln_unmap(&m);
    return s;
}
