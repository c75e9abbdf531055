/*
 * exif.c — the EXIF orientation tag (0x0112) from a JPEG APP1 payload, and
 * applying an orientation 1..8 to an RGB image. We parse the TIFF header
 * ourselves (both byte orders, IFD0 only), bounds-checking every offset.
 * Non-goals: any other EXIF tag, thumbnails, XMP orientation, PNG eXIf.
 */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "image/image_internal.h"

static unsigned rd16(const uint8_t *p, int le) {
    return le ? (unsigned)p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | (unsigned)p[1];
}

static uint32_t rd32(const uint8_t *p, int le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int kiln_exif_orientation(const uint8_t *app1, size_t n) {
    if (!app1 || n < 6 + 8 || memcmp(app1, "Exif\0\0", 6) != 0) return 0;
    const uint8_t *t = app1 + 6; /* the TIFF header; offsets are relative to it */
    size_t tn = n - 6;
    int le;
    if (t[0] == 'I' && t[1] == 'I')
        le = 1;
    else if (t[0] == 'M' && t[1] == 'M')
        le = 0;
    else
        return 0;
    if (rd16(t + 2, le) != 42) return 0;
    uint32_t ifd = rd32(t + 4, le);
    if (ifd > tn || tn - ifd < 2) return 0;
    unsigned count = rd16(t + ifd, le);
    for (unsigned i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)12 * i;
        if (e + 12 > tn) return 0;
        if (rd16(t + e, le) != 0x0112) continue;
        unsigned type = rd16(t + e + 2, le);
        uint32_t cnt = rd32(t + e + 4, le);
        uint32_t v;
        if (cnt < 1) return 0;
        if (type == 3) /* SHORT: value left-justified in the 4-byte field */
            v = rd16(t + e + 8, le);
        else if (type == 4) /* LONG: not per spec, but seen in the wild */
            v = rd32(t + e + 8, le);
        else
            return 0;
        return (v >= 1 && v <= 8) ? (int)v : 0;
    }
    return 0;
}

kiln_status kiln_image_orient(kiln_image *img, int o, const char *name) {
    if (o <= 1 || o > 8) return KILN_OK;
    int64_t w = img->width, h = img->height;
    int swap = o >= 5; /* 5..8 transpose the axes */
    int64_t ow = swap ? h : w, oh = swap ? w : h;
    kiln_image r;
    KILN_TRY(kiln_image_alloc(&r, ow, oh, KILN_IMAGE_MAX_PIXELS, name));
    for (int64_t y = 0; y < oh; y++) {
        for (int64_t x = 0; x < ow; x++) {
            int64_t sx, sy; /* source pixel of output (x, y) */
            switch (o) {
            case 2: sx = w - 1 - x, sy = y; break;         /* mirror left-right */
            case 3: sx = w - 1 - x, sy = h - 1 - y; break; /* rotate 180 */
            case 4: sx = x, sy = h - 1 - y; break;         /* mirror top-bottom */
            case 5: sx = y, sy = x; break;                 /* transpose */
            case 6: sx = y, sy = h - 1 - x; break;         /* rotate 90 clockwise */
            case 7: sx = w - 1 - y, sy = h - 1 - x; break; /* transverse */
            default: sx = w - 1 - y, sy = x; break;        /* 8: rotate 90 counter-clockwise */
            }
            const uint8_t *s = img->rgb + ((size_t)sy * (size_t)w + (size_t)sx) * 3;
            uint8_t *d = r.rgb + ((size_t)y * (size_t)ow + (size_t)x) * 3;
            d[0] = s[0], d[1] = s[1], d[2] = s[2];
        }
    }
    kiln_image_free(img);
    *img = r;
    return KILN_OK;
}
