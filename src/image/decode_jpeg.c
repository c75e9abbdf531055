/*
 * decode_jpeg.c — JPEG to 8-bit RGB with libjpeg(-turbo)'s jpeglib API, with
 * libjpeg's default decoding (ISLOW IDCT, fancy upsampling, block smoothing),
 * so the pixels equal `djpeg -pnm`'s. Errors longjmp out of libjpeg through
 * our error manager and become a kiln_status; corrupt or truncated entropy
 * data is an error (djpeg would warn and fill with gray). Grayscale is
 * replicated, CMYK/YCCK converted (docs/IMAGES.md), EXIF orientation applied.
 * Non-goals: 12-bit/lossless JPEG, ICC colour management, DCT scaling.
 */
#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE */
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "core/status.h"
#include "image/image_internal.h"

/* More scans than this is a denial of service, not a photo (libjpeg-turbo's
 * TurboJPEG API uses the same bound). */
#define KILN_JPEG_MAX_SCANS 500

typedef struct jpeg_err_ctx {
    struct jpeg_error_mgr pub; /* first: libjpeg casts cinfo->err to it */
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX + 64];
} jpeg_err_ctx;

static void on_error_exit(j_common_ptr c) {
    jpeg_err_ctx *e = (jpeg_err_ctx *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->jump, 1);
}

/* Warnings that mean pixels were lost: treated as errors. Others (extraneous
 * bytes before a marker, an odd JFIF revision, a bad ICC marker) are
 * harmless and ignored, as PIL and OpenCV do. */
static int is_data_loss(int code) {
    switch (code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_MUST_RESYNC:
#if defined(D_ARITH_CODING_SUPPORTED) || JPEG_LIB_VERSION >= 70
    case JWRN_ARITH_BAD_CODE:
#endif
        return 1;
    default: return 0;
    }
}

static void on_emit_message(j_common_ptr c, int level) {
    if (level >= 0) return; /* trace messages */
    jpeg_err_ctx *e = (jpeg_err_ctx *)c->err;
    c->err->num_warnings++;
    if (is_data_loss(c->err->msg_code)) {
        c->err->format_message(c, e->msg);
        longjmp(e->jump, 1);
    }
}

static void on_output_message(j_common_ptr c) {
    (void)c;
}

static void on_progress(j_common_ptr c) {
    if (!c->is_decompressor) return;
    j_decompress_ptr d = (j_decompress_ptr)c;
    if (d->input_scan_number > KILN_JPEG_MAX_SCANS) {
        jpeg_err_ctx *e = (jpeg_err_ctx *)c->err;
        snprintf(e->msg, sizeof e->msg, "more than %d progressive scans", KILN_JPEG_MAX_SCANS);
        longjmp(e->jump, 1);
    }
}

/* Rounded a*b/255 for a, b in [0,255]: floor(a*b/255 + 0.5), exactly what
 * libjpeg-turbo's djpeg does for CMYK (cmyk.h). */
static uint8_t mul255(unsigned a, unsigned b) {
    return (uint8_t)((2u * a * b + 255u) / 510u);
}

/* One row of CMYK to RGB. Adobe (Photoshop) files store inverted CMYK
 * (255 = no ink): R = C*K/255. Otherwise plain CMYK: R = (255-C)(255-K)/255. */
static void cmyk_row_to_rgb(const uint8_t *in, uint8_t *out, int64_t w, int adobe) {
    for (int64_t x = 0; x < w; x++) {
        unsigned c = in[4 * x], m = in[4 * x + 1], y = in[4 * x + 2], k = in[4 * x + 3];
        if (!adobe) {
            c = 255 - c, m = 255 - m, y = 255 - y, k = 255 - k;
        }
        out[3 * x] = mul255(c, k);
        out[3 * x + 1] = mul255(m, k);
        out[3 * x + 2] = mul255(y, k);
    }
}

static int find_orientation(j_decompress_ptr d) {
    for (jpeg_saved_marker_ptr m = d->marker_list; m; m = m->next) {
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 &&
            memcmp(m->data, "Exif\0\0", 6) == 0)
            return kiln_exif_orientation(m->data, m->data_length);
    }
    return 0;
}

kiln_status kiln_image_decode_jpeg(const uint8_t *data, size_t n, const char *name,
                                   int64_t max_pixels, kiln_image *out) {
    struct jpeg_decompress_struct d;
    struct jpeg_progress_mgr progress;
    jpeg_err_ctx err;
    /* volatile: assigned after setjmp and freed on the longjmp path */
    uint8_t *volatile rgb = NULL;
    uint8_t *volatile row = NULL;

    memset(out, 0, sizeof *out);
    if (n > (size_t)0xffffffffu)
        return kiln_error(KILN_ERR_UNSUPPORTED, "%s: JPEG of %zu bytes is too large (4 GiB max)",
                          name, n);
    memset(&d, 0, sizeof d);
    err.msg[0] = '\0';
    d.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = on_error_exit;
    err.pub.emit_message = on_emit_message;
    err.pub.output_message = on_output_message;
    if (setjmp(err.jump)) {
        free(row);
        free(rgb);
        jpeg_destroy_decompress(&d);
        memset(out, 0, sizeof *out);
        return kiln_error(KILN_ERR_FORMAT, "%s: corrupt or truncated JPEG: libjpeg: %s", name,
                          err.msg);
    }
    jpeg_create_decompress(&d);
    progress.progress_monitor = on_progress;
    d.progress = &progress;
    jpeg_mem_src(&d, data, (unsigned long)n);
    jpeg_save_markers(&d, JPEG_APP0 + 1, 0xffff);
    jpeg_read_header(&d, TRUE);

    int cmyk = 0;
    switch (d.jpeg_color_space) {
    case JCS_GRAYSCALE:
    case JCS_YCbCr:
    case JCS_RGB: d.out_color_space = JCS_RGB; break;
    case JCS_CMYK:
    case JCS_YCCK:
        d.out_color_space = JCS_CMYK; /* libjpeg converts YCCK to CMYK */
        cmyk = 1;
        break;
    default: {
        int nc = d.num_components;
        jpeg_destroy_decompress(&d);
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "%s: JPEG with an unknown colour space (%d components); "
                          "convert it to RGB or grayscale",
                          name, nc);
    }
    }
    /* Check the declared size before libjpeg allocates anything for it. */
    if ((int64_t)d.image_width > KILN_IMAGE_MAX_SIDE ||
        (int64_t)d.image_height > KILN_IMAGE_MAX_SIDE ||
        (int64_t)d.image_width * (int64_t)d.image_height > max_pixels) {
        int64_t w = d.image_width, h = d.image_height;
        jpeg_destroy_decompress(&d);
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "%s: JPEG of %lldx%lld pixels exceeds the limit (%d per side, "
                          "%lld in total)",
                          name, (long long)w, (long long)h, KILN_IMAGE_MAX_SIDE,
                          (long long)max_pixels);
    }
    int orientation = find_orientation(&d);
    int adobe = d.saw_Adobe_marker;
    jpeg_start_decompress(&d);

    int64_t w = d.output_width, h = d.output_height;
    if (d.output_components != (cmyk ? 4 : 3)) {
        int oc = d.output_components;
        jpeg_destroy_decompress(&d);
        return kiln_error(KILN_ERR_INTERNAL, "%s: libjpeg produced %d components, expected %d",
                          name, oc, cmyk ? 4 : 3);
    }
    kiln_image img;
    kiln_status s = kiln_image_alloc(&img, w, h, max_pixels, name);
    if (s != KILN_OK) {
        jpeg_destroy_decompress(&d);
        return s;
    }
    rgb = img.rgb;
    if (cmyk) {
        row = malloc((size_t)w * 4);
        if (!row) {
            free(rgb);
            jpeg_destroy_decompress(&d);
            return kiln_error(KILN_ERR_NO_MEMORY, "%s: no memory for a JPEG row", name);
        }
    }
    while (d.output_scanline < d.output_height) {
        int64_t y = d.output_scanline;
        JSAMPROW p = cmyk ? (JSAMPROW)row : (JSAMPROW)(rgb + (size_t)y * (size_t)w * 3);
        if (jpeg_read_scanlines(&d, &p, 1) != 1) {
            /* only with a suspending source, which jpeg_mem_src is not */
            snprintf(err.msg, sizeof err.msg, "no scanline %lld", (long long)y);
            longjmp(err.jump, 1);
        }
        if (cmyk) cmyk_row_to_rgb(row, rgb + (size_t)y * (size_t)w * 3, w, adobe);
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    free(row);

    img.rgb = rgb;
    if (orientation > 1) {
        s = kiln_image_orient(&img, orientation, name);
        if (s != KILN_OK) {
            kiln_image_free(&img);
            return s;
        }
    }
    *out = img;
    return KILN_OK;
}
