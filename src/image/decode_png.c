/*
 * decode_png.c — PNG to 8-bit RGB with libpng, from memory. Palette and
 * low-bit grayscale are expanded, grayscale replicated, 16-bit reduced to its
 * high byte (png_set_strip_16, as PIL and OpenCV), interlacing handled, and
 * alpha / tRNS transparency DROPPED (PIL's .convert("RGB") does the same).
 * libpng errors longjmp out through our handler and become a kiln_status.
 * Non-goals: gamma/ICC/sBIT handling (ignored, as PIL does), APNG, eXIf.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "core/status.h"
#include "image/image_internal.h"

/* zlib's deflate cannot expand more than 1032:1, so a PNG whose raw image
 * data is larger than 1032 × the file is necessarily truncated or corrupt:
 * reject it before allocating anything. */
#define KILN_DEFLATE_MAX_RATIO 1032u

typedef struct png_ctx {
    const uint8_t *data;
    size_t n;
    size_t pos;
    jmp_buf jump;
    char msg[256];
} png_ctx;

static void on_png_error(png_structp p, png_const_charp msg) {
    png_ctx *c = png_get_error_ptr(p);
    snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "(no message)");
    longjmp(c->jump, 1);
}

static void on_png_warning(png_structp p, png_const_charp msg) {
    (void)p;
    (void)msg;
}

static void on_png_read(png_structp p, png_bytep dst, size_t len) {
    png_ctx *c = png_get_io_ptr(p);
    if (len > c->n - c->pos) {
        snprintf(c->msg, sizeof c->msg, "unexpected end of file at byte %zu (truncated)", c->n);
        longjmp(c->jump, 1);
    }
    memcpy(dst, c->data + c->pos, len);
    c->pos += len;
}

static int channels_of(int color_type) {
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY: return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB: return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA: return 4;
    case PNG_COLOR_TYPE_PALETTE: return 1;
    default: return 4;
    }
}

kiln_status kiln_image_decode_png(const uint8_t *data, size_t n, const char *name,
                                  int64_t max_pixels, kiln_image *out) {
    png_ctx ctx;
    png_structp png = NULL;
    png_infop info = NULL;
    uint8_t *volatile rgb = NULL;
    png_bytep *volatile rows = NULL;
    uint8_t *volatile rgba = NULL; /* only for palette + tRNS */

    memset(out, 0, sizeof *out);
    ctx.data = data;
    ctx.n = n;
    ctx.pos = 0;
    ctx.msg[0] = '\0';
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_png_error, on_png_warning);
    if (!png) return kiln_error(KILN_ERR_NO_MEMORY, "%s: libpng: cannot create a reader", name);
    info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return kiln_error(KILN_ERR_NO_MEMORY, "%s: libpng: cannot create an info struct", name);
    }
    /* png and info are not modified after this point, only what they point to */
    if (setjmp(ctx.jump)) {
        free(rows);
        free(rgba);
        free(rgb);
        png_destroy_read_struct(&png, &info, NULL);
        memset(out, 0, sizeof *out);
        return kiln_error(KILN_ERR_FORMAT, "%s: corrupt or truncated PNG: libpng: %s", name,
                          ctx.msg);
    }
    png_set_read_fn(png, &ctx, on_png_read);
    /* our own size check below gives the clearer message */
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    png_read_info(png, info);

    png_uint_32 w32, h32;
    int bit_depth, color_type, interlace;
    png_get_IHDR(png, info, &w32, &h32, &bit_depth, &color_type, &interlace, NULL, NULL);
    int64_t w = w32, h = h32;
    if (w > KILN_IMAGE_MAX_SIDE || h > KILN_IMAGE_MAX_SIDE || w * h > max_pixels) {
        png_destroy_read_struct(&png, &info, NULL);
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "%s: PNG of %lldx%lld pixels exceeds the limit (%d per side, "
                          "%lld in total)",
                          name, (long long)w, (long long)h, KILN_IMAGE_MAX_SIDE,
                          (long long)max_pixels);
    }
    uint64_t raw =
        (uint64_t)h *
        (1 + ((uint64_t)w * (uint64_t)channels_of(color_type) * (uint64_t)bit_depth + 7) / 8);
    if (raw > (uint64_t)n * KILN_DEFLATE_MAX_RATIO + 4096) {
        png_destroy_read_struct(&png, &info, NULL);
        return kiln_error(KILN_ERR_FORMAT,
                          "%s: PNG declares %lldx%lld pixels (%llu bytes of image data) but "
                          "the file has only %zu bytes: truncated or corrupt",
                          name, (long long)w, (long long)h, (unsigned long long)raw, n);
    }

    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (bit_depth == 16) png_set_strip_16(png);
    if (color_type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(png);
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, info);
    /* Palette + tRNS still comes out as RGBA (png_set_palette_to_rgb also
     * expands tRNS to alpha); that alpha is dropped after reading. */
    int ch = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if ((ch != 3 && ch != 4) || png_get_bit_depth(png, info) != 8 ||
        rowbytes != (size_t)w * (size_t)ch) {
        int bd = png_get_bit_depth(png, info);
        png_destroy_read_struct(&png, &info, NULL);
        return kiln_error(KILN_ERR_INTERNAL,
                          "%s: PNG colour type %d depth %d became %d channels of %d bits, "
                          "expected 3 or 4 of 8",
                          name, color_type, bit_depth, ch, bd);
    }

    kiln_image img;
    kiln_status s = kiln_image_alloc(&img, w, h, max_pixels, name);
    if (s != KILN_OK) {
        png_destroy_read_struct(&png, &info, NULL);
        return s;
    }
    rgb = img.rgb;
    if (ch == 4) {
        rgba = malloc((size_t)w * (size_t)h * 4);
        if (!rgba) {
            free(rgb);
            png_destroy_read_struct(&png, &info, NULL);
            return kiln_error(KILN_ERR_NO_MEMORY, "%s: no memory for a %lldx%lld RGBA image", name,
                              (long long)w, (long long)h);
        }
    }
    rows = malloc((size_t)h * sizeof *rows);
    if (!rows) {
        free(rgba);
        free(rgb);
        png_destroy_read_struct(&png, &info, NULL);
        return kiln_error(KILN_ERR_NO_MEMORY, "%s: no memory for %lld PNG rows", name,
                          (long long)h);
    }
    uint8_t *base = ch == 4 ? rgba : rgb;
    for (int64_t y = 0; y < h; y++)
        rows[y] = base + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    if (ch == 4) {
        size_t np = (size_t)w * (size_t)h;
        for (size_t i = 0; i < np; i++) {
            rgb[3 * i] = rgba[4 * i];
            rgb[3 * i + 1] = rgba[4 * i + 1];
            rgb[3 * i + 2] = rgba[4 * i + 2];
        }
        free(rgba);
    }
    img.rgb = rgb;
    *out = img;
    return KILN_OK;
}
