/*
 * test_image.c — image decoding (src/image/decode*.c, exif.c):
 *  - every fixture photo decodes to exactly the pixels of an independent
 *    decoder (`djpeg -pnm` from libjpeg-turbo-progs, `pngtopnm` from netpbm);
 *    the tools missing while the fixtures exist is a FAILURE;
 *  - EXIF orientations 1..8 (both byte orders) on a synthetic JPEG;
 *  - grayscale, CMYK and YCCK JPEGs; PNG with alpha, palette + tRNS, 16-bit,
 *    1-bit gray, gray + alpha, interlaced (written here with libjpeg/libpng);
 *  - bad input: truncations, random bytes, empty file, huge declared sizes.
 * JPEG tolerance against the known pattern: max abs diff <= 8 (quality 100,
 * 4:4:4, 16x16 flat blocks); PNG and djpeg comparisons are exact.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

#include "image/image.h"
#include "test_util.h"

/* ---- helpers ------------------------------------------------------------ */

static int tool_exists(const char *name) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

static int pnm_int(FILE *f, int64_t *v) {
    int c;
    for (;;) {
        c = fgetc(f);
        if (c == '#') {
            while (c != '\n' && c != EOF)
                c = fgetc(f);
        } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            break;
        }
    }
    if (c < '0' || c > '9') return -1;
    *v = 0;
    while (c >= '0' && c <= '9') {
        *v = *v * 10 + (c - '0');
        c = fgetc(f);
    }
    return 0; /* the single whitespace after the number is consumed */
}

/* Runs cmd and reads its binary PGM/PPM (maxval 255) as RGB. */
static int run_pnm(const char *cmd, kiln_image *img) {
    memset(img, 0, sizeof *img);
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    int rc = -1;
    char m[2];
    int64_t maxval;
    if (fread(m, 1, 2, f) == 2 && m[0] == 'P' && (m[1] == '5' || m[1] == '6') &&
        pnm_int(f, &img->width) == 0 && pnm_int(f, &img->height) == 0 && pnm_int(f, &maxval) == 0 &&
        maxval == 255 && img->width > 0 && img->height > 0) {
        size_t np = (size_t)img->width * (size_t)img->height, ch = m[1] == '6' ? 3 : 1;
        img->rgb = malloc(np * 3);
        if (img->rgb && fread(img->rgb, ch, np, f) == np) {
            if (ch == 1)
                for (size_t i = np; i-- > 0;)
                    img->rgb[3 * i] = img->rgb[3 * i + 1] = img->rgb[3 * i + 2] = img->rgb[i];
            rc = 0;
        }
    }
    if (pclose(f) != 0) rc = -1;
    if (rc != 0) kiln_image_free(img);
    return rc;
}

static int max_diff(const kiln_image *a, const kiln_image *b) {
    if (a->width != b->width || a->height != b->height) return 999;
    int m = 0;
    for (size_t i = 0; i < (size_t)a->width * (size_t)a->height * 3; i++) {
        int d = abs((int)a->rgb[i] - (int)b->rgb[i]);
        if (d > m) m = d;
    }
    return m;
}

static char tmpdir[64];

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n)) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

static uint8_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc((size_t)sz + 1);
    if (!d || fread(d, 1, (size_t)sz, f) != (size_t)sz) {
        free(d);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return d;
}

/* ---- writing test images --------------------------------------------------- */

/* A JPEG at quality 100, 4:4:4, from `comps`-channel pixels in colour space
 * in_cs, stored as jpeg_cs; app1 (if any) written as an APP1 marker. */
static uint8_t *make_jpeg(const uint8_t *pix, int w, int h, int comps, J_COLOR_SPACE in_cs,
                          J_COLOR_SPACE jpeg_cs, const uint8_t *app1, size_t app1_n, size_t *n) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    unsigned char *buf = NULL;
    unsigned long len = 0;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &buf, &len);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = in_cs;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, jpeg_cs);
    jpeg_set_quality(&c, 100, TRUE);
    for (int i = 0; i < c.num_components; i++)
        c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
    jpeg_start_compress(&c, TRUE);
    if (app1) jpeg_write_marker(&c, JPEG_APP0 + 1, app1, (unsigned)app1_n);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(pix + (size_t)c.next_scanline * (size_t)w * (size_t)comps);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    uint8_t *out = malloc(len);
    memcpy(out, buf, len);
    free(buf);
    *n = len;
    return out;
}

typedef struct membuf {
    uint8_t *d;
    size_t n, cap;
} membuf;

static void png_write_mem(png_structp p, png_bytep data, size_t len) {
    membuf *m = png_get_io_ptr(p);
    if (m->n + len > m->cap) {
        m->cap = (m->n + len) * 2;
        m->d = realloc(m->d, m->cap);
    }
    memcpy(m->d + m->n, data, len);
    m->n += len;
}
static void png_flush_mem(png_structp p) {
    (void)p;
}

/* A PNG from raw rows (bytes per row = rowbytes). */
static uint8_t *make_png(int w, int h, int color_type, int depth, int interlace, const uint8_t *raw,
                         size_t rowbytes, const png_color *pal, int npal, const uint8_t *trans,
                         int ntrans, const png_color_16 *trans_color, size_t *n) {
    membuf m = {0};
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(p);
    if (setjmp(png_jmpbuf(p))) {
        fprintf(stderr, "libpng write failed\n");
        exit(1);
    }
    png_set_write_fn(p, &m, png_write_mem, png_flush_mem);
    png_set_IHDR(p, info, (png_uint_32)w, (png_uint_32)h, depth, color_type,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(p, info, pal, npal);
    if (trans || trans_color) png_set_tRNS(p, info, trans, ntrans, trans_color);
    png_write_info(p, info);
    int passes = png_set_interlace_handling(p);
    for (int pass = 0; pass < passes; pass++)
        for (int y = 0; y < h; y++)
            png_write_row(p, raw + (size_t)y * rowbytes);
    png_write_end(p, info);
    png_destroy_write_struct(&p, &info);
    *n = m.n;
    return m.d;
}

/* ---- fixture photos against djpeg / pngtopnm ------------------------------ */

static int fixtures_present = 0;

static void test_fixtures(void) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/images", kt_fixtures());
    if (access(dir, R_OK) != 0) {
        printf("note: %s absent: fixture decoding not checked\n", dir);
        return;
    }
    fixtures_present = 1;
    int have_djpeg = tool_exists("djpeg"), have_pngtopnm = tool_exists("pngtopnm");
    KT_CHECK(have_djpeg && have_pngtopnm,
             "djpeg/pngtopnm missing: apt-get install libjpeg-turbo-progs netpbm "
             "(scripts/install-deps.sh)");
    char **paths;
    size_t n;
    KT_OK(kiln_image_list_dir(dir, &paths, &n));
    if (kt_failures) return;
    KT_CHECK(n >= 12, "expected the 12 fixture photos, found %zu", n);
    for (size_t i = 0; i < n; i++) {
        const char *path = paths[i];
        kiln_image img, ref;
        KT_OK(kiln_image_load(path, &img));
        size_t pl = strlen(path);
        int is_png = pl > 4 && strcmp(path + pl - 4, ".png") == 0;
        char cmd[1200];
        snprintf(cmd, sizeof cmd, is_png ? "pngtopnm '%s' 2>/dev/null" : "djpeg -pnm '%s'", path);
        int rc = run_pnm(cmd, &ref);
        KT_CHECK(rc == 0, "%s failed", cmd);
        if (rc == 0 && img.rgb) {
            int d = max_diff(&img, &ref);
            KT_CHECK(d == 0, "%s: kiln %lldx%lld vs reference %lldx%lld, max pixel diff %d", path,
                     (long long)img.width, (long long)img.height, (long long)ref.width,
                     (long long)ref.height, d);
        }
        kiln_image_free(&ref);
        kiln_image_free(&img);
    }
    printf("fixtures: %zu photos compared with djpeg/pngtopnm\n", n);
    kiln_image_list_free(paths, n);
}

/* ---- EXIF orientation -------------------------------------------------------- */

enum { PW = 48, PH = 32 }; /* 3 x 2 blocks of 16x16, all different */

static void pattern(kiln_image *img) {
    img->width = PW, img->height = PH;
    img->rgb = malloc(PW * PH * 3);
    for (int y = 0; y < PH; y++)
        for (int x = 0; x < PW; x++) {
            int bx = x / 16, by = y / 16;
            uint8_t *p = img->rgb + (y * PW + x) * 3;
            p[0] = (uint8_t)(30 + 90 * bx);
            p[1] = (uint8_t)(40 + 150 * by);
            p[2] = (uint8_t)(220 - 40 * bx - 70 * by);
        }
}

/* Written independently of exif.c: everything from two primitives. */
static kiln_image rot90cw(const kiln_image *a) {
    kiln_image r = {a->height, a->width, malloc((size_t)a->width * (size_t)a->height * 3)};
    for (int64_t y = 0; y < a->height; y++)
        for (int64_t x = 0; x < a->width; x++) /* source (x, y) goes to (H-1-y, x) */
            memcpy(r.rgb + (x * r.width + (a->height - 1 - y)) * 3, a->rgb + (y * a->width + x) * 3,
                   3);
    return r;
}

static kiln_image mirror(const kiln_image *a) {
    kiln_image r = {a->width, a->height, malloc((size_t)a->width * (size_t)a->height * 3)};
    for (int64_t y = 0; y < a->height; y++)
        for (int64_t x = 0; x < a->width; x++)
            memcpy(r.rgb + (y * a->width + (a->width - 1 - x)) * 3, a->rgb + (y * a->width + x) * 3,
                   3);
    return r;
}

/* expected display image for orientation o: o = 6 is "rotate 90 clockwise" */
static kiln_image oriented(const kiln_image *p, int o) {
    static const int rots[9] = {0, 0, 0, 2, 2, 1, 1, 3, 3}; /* clockwise quarter turns */
    static const int flip[9] = {0, 0, 1, 0, 1, 1, 0, 1, 0}; /* then mirror left-right */
    kiln_image cur = {p->width, p->height, malloc((size_t)p->width * (size_t)p->height * 3)};
    memcpy(cur.rgb, p->rgb, (size_t)p->width * (size_t)p->height * 3);
    for (int i = 0; i < rots[o]; i++) {
        kiln_image t = rot90cw(&cur);
        kiln_image_free(&cur);
        cur = t;
    }
    if (flip[o]) {
        kiln_image t = mirror(&cur);
        kiln_image_free(&cur);
        cur = t;
    }
    return cur;
}

static void put16(uint8_t *p, unsigned v, int le) {
    p[le ? 0 : 1] = (uint8_t)v;
    p[le ? 1 : 0] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v, int le) {
    for (int i = 0; i < 4; i++)
        p[le ? i : 3 - i] = (uint8_t)(v >> (8 * i));
}

/* "Exif\0\0" + TIFF header + IFD0 with a Make entry then Orientation. */
static size_t make_exif(uint8_t *b, int orientation, int le) {
    memcpy(b, "Exif\0\0", 6);
    uint8_t *t = b + 6;
    t[0] = t[1] = le ? 'I' : 'M';
    put16(t + 2, 42, le);
    put32(t + 4, 8, le);
    put16(t + 8, 2, le); /* 2 entries */
    uint8_t *e = t + 10;
    put16(e, 0x010f, le), put16(e + 2, 2, le), put32(e + 4, 4, le), memcpy(e + 8, "ACME", 4);
    e += 12;
    put16(e, 0x0112, le), put16(e + 2, 3, le), put32(e + 4, 1, le), put32(e + 8, 0, le);
    put16(e + 8, (unsigned)orientation, le);
    put32(e + 12, 0, le); /* next IFD */
    return 6 + 10 + 24 + 4;
}

static void test_exif(void) {
    kiln_image pat;
    pattern(&pat);
    for (int o = 1; o <= 8; o++) {
        for (int le = 0; le <= 1; le++) {
            uint8_t app1[64];
            size_t an = make_exif(app1, o, le), n;
            uint8_t *jpg = make_jpeg(pat.rgb, PW, PH, 3, JCS_RGB, JCS_YCbCr, app1, an, &n);
            kiln_image img, want = oriented(&pat, o);
            KT_OK(kiln_image_decode_buffer(jpg, n, "exif.jpg", &img));
            int d = img.rgb ? max_diff(&img, &want) : 999;
            KT_CHECK(d <= 8, "orientation %d (%s): %lldx%lld, max diff %d (want %lldx%lld)", o,
                     le ? "II" : "MM", (long long)img.width, (long long)img.height, d,
                     (long long)want.width, (long long)want.height);
            kiln_image_free(&img);
            kiln_image_free(&want);
            free(jpg);
        }
    }
    /* malformed EXIF is ignored (orientation 1), never an error */
    uint8_t app1[64];
    size_t an = make_exif(app1, 9, 1), n;
    const size_t cuts[] = {an, 6 + 8, 6 + 12, 6 + 20, 7};
    for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
        uint8_t *jpg = make_jpeg(pat.rgb, PW, PH, 3, JCS_RGB, JCS_YCbCr, app1, cuts[k], &n);
        kiln_image img;
        KT_OK(kiln_image_decode_buffer(jpg, n, "badexif.jpg", &img));
        KT_CHECK(img.rgb && max_diff(&img, &pat) <= 8, "malformed EXIF (%zu bytes) not ignored",
                 cuts[k]);
        kiln_image_free(&img);
        free(jpg);
    }
    /* an IFD offset far out of range */
    make_exif(app1, 6, 1);
    put32(app1 + 6 + 4, 0xfffffff0u, 1);
    uint8_t *jpg = make_jpeg(pat.rgb, PW, PH, 3, JCS_RGB, JCS_YCbCr, app1, an, &n);
    kiln_image img;
    KT_OK(kiln_image_decode_buffer(jpg, n, "badifd.jpg", &img));
    KT_CHECK(img.rgb && img.width == PW, "bad IFD offset not ignored");
    kiln_image_free(&img);
    free(jpg);
    kiln_image_free(&pat);
}

/* ---- grayscale / CMYK / YCCK JPEG ------------------------------------------- */

static void test_jpeg_colour(void) {
    kiln_image pat;
    pattern(&pat);
    /* grayscale */
    uint8_t gray[PW * PH];
    for (int i = 0; i < PW * PH; i++)
        gray[i] = pat.rgb[3 * i + 1];
    size_t n;
    uint8_t *jpg = make_jpeg(gray, PW, PH, 1, JCS_GRAYSCALE, JCS_GRAYSCALE, NULL, 0, &n);
    kiln_image img;
    KT_OK(kiln_image_decode_buffer(jpg, n, "gray.jpg", &img));
    int d = 0;
    for (int i = 0; img.rgb && i < PW * PH; i++)
        for (int c = 0; c < 3; c++) {
            int e = abs((int)img.rgb[3 * i + c] - (int)gray[i]);
            if (e > d) d = e;
        }
    KT_CHECK(img.rgb && img.width == PW && img.height == PH && d <= 8, "gray JPEG: max diff %d", d);
    kiln_image_free(&img);
    free(jpg);

    /* CMYK (libjpeg writes an Adobe marker: values stored inverted, 255 = no
     * ink) and the same as YCCK. Expected R = C*K/255 etc. */
    uint8_t cmyk[PW * PH * 4];
    for (int i = 0; i < PW * PH; i++) {
        const uint8_t *p = pat.rgb + 3 * i;
        cmyk[4 * i] = p[0], cmyk[4 * i + 1] = p[1], cmyk[4 * i + 2] = p[2];
        cmyk[4 * i + 3] = (uint8_t)(150 + (i % PW) / 16 * 50); /* K by block column */
    }
    const J_COLOR_SPACE stored[2] = {JCS_CMYK, JCS_YCCK};
    for (int k = 0; k < 2; k++) {
        jpg = make_jpeg(cmyk, PW, PH, 4, JCS_CMYK, stored[k], NULL, 0, &n);
        KT_OK(kiln_image_decode_buffer(jpg, n, "cmyk.jpg", &img));
        d = 0;
        for (int i = 0; img.rgb && i < PW * PH; i++)
            for (int c = 0; c < 3; c++) {
                double want = cmyk[4 * i + c] * (double)cmyk[4 * i + 3] / 255.0;
                double e = img.rgb[3 * i + c] - want;
                if (e < 0) e = -e;
                if (e > d) d = (int)(e + 0.999);
            }
        KT_CHECK(img.rgb && img.width == PW && d <= 8, "%s JPEG: max diff %d", k ? "YCCK" : "CMYK",
                 d);
        /* and exactly djpeg's conversion */
        if (tool_exists("djpeg") && img.rgb) {
            char path[128], cmd[300];
            snprintf(path, sizeof path, "%s/cmyk%d.jpg", tmpdir, k);
            write_file(path, jpg, n);
            snprintf(cmd, sizeof cmd, "djpeg -pnm '%s'", path);
            kiln_image ref;
            KT_CHECK(run_pnm(cmd, &ref) == 0, "%s failed", cmd);
            if (ref.rgb) KT_CHECK(max_diff(&img, &ref) == 0, "CMYK differs from djpeg");
            kiln_image_free(&ref);
            unlink(path);
        }
        kiln_image_free(&img);
        free(jpg);
    }
    kiln_image_free(&pat);
}

/* ---- PNG variants ------------------------------------------------------------ */

static void check_png(const char *what, const uint8_t *png, size_t n, const uint8_t *want, int w,
                      int h) {
    kiln_image img;
    KT_OK(kiln_image_decode_buffer(png, n, what, &img));
    KT_CHECK(img.rgb && img.width == w && img.height == h &&
                 memcmp(img.rgb, want, (size_t)w * (size_t)h * 3) == 0,
             "%s: decoded pixels differ", what);
    kiln_image_free(&img);
}

static void test_png_variants(void) {
    enum { W = 19, H = 13 }; /* odd sizes: partial interlace blocks */
    uint8_t want[W * H * 3], raw[W * H * 8];
    size_t n;
    uint8_t *png;
    uint64_t s = 12345;
    for (int i = 0; i < W * H * 3; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        want[i] = (uint8_t)(s >> 56);
    }
    /* RGBA: alpha dropped, colour kept even where alpha is 0 */
    for (int i = 0; i < W * H; i++) {
        memcpy(raw + 4 * i, want + 3 * i, 3);
        raw[4 * i + 3] = (uint8_t)(i * 37);
    }
    png = make_png(W, H, PNG_COLOR_TYPE_RGB_ALPHA, 8, 0, raw, W * 4, NULL, 0, NULL, 0, NULL, &n);
    check_png("rgba.png", png, n, want, W, H);
    free(png);
    /* interlaced RGB */
    png = make_png(W, H, PNG_COLOR_TYPE_RGB, 8, 1, want, W * 3, NULL, 0, NULL, 0, NULL, &n);
    check_png("adam7.png", png, n, want, W, H);
    free(png);
    /* 16-bit RGB: the high byte (low byte chosen so rounding would differ) */
    for (int i = 0; i < W * H * 3; i++)
        raw[2 * i] = want[i], raw[2 * i + 1] = 255 - want[i];
    png = make_png(W, H, PNG_COLOR_TYPE_RGB, 16, 0, raw, W * 6, NULL, 0, NULL, 0, NULL, &n);
    check_png("rgb16.png", png, n, want, W, H);
    free(png);
    /* palette with tRNS: palette colours, transparency ignored */
    png_color pal[7];
    uint8_t trans[7], pw[W * H * 3];
    for (int k = 0; k < 7; k++) {
        pal[k].red = (uint8_t)(k * 36), pal[k].green = (uint8_t)(255 - k * 20);
        pal[k].blue = (uint8_t)(k * k * 5);
        trans[k] = (uint8_t)(k * 40);
    }
    for (int i = 0; i < W * H; i++) {
        int k = (i * 5 + i / W) % 7;
        raw[i] = (uint8_t)k;
        pw[3 * i] = pal[k].red, pw[3 * i + 1] = pal[k].green, pw[3 * i + 2] = pal[k].blue;
    }
    png = make_png(W, H, PNG_COLOR_TYPE_PALETTE, 8, 0, raw, W, pal, 7, trans, 7, NULL, &n);
    check_png("palette_trns.png", png, n, pw, W, H);
    free(png);
    png = make_png(W, H, PNG_COLOR_TYPE_PALETTE, 8, 1, raw, W, pal, 7, NULL, 0, NULL, &n);
    check_png("palette_adam7.png", png, n, pw, W, H);
    free(png);
    /* gray 16-bit + alpha: high byte replicated */
    uint8_t gw[W * H * 3];
    for (int i = 0; i < W * H; i++) {
        uint8_t g = want[i];
        raw[4 * i] = g, raw[4 * i + 1] = (uint8_t)~g, raw[4 * i + 2] = 0x12, raw[4 * i + 3] = 0;
        gw[3 * i] = gw[3 * i + 1] = gw[3 * i + 2] = g;
    }
    png = make_png(W, H, PNG_COLOR_TYPE_GRAY_ALPHA, 16, 0, raw, W * 4, NULL, 0, NULL, 0, NULL, &n);
    check_png("gray16_alpha.png", png, n, gw, W, H);
    free(png);
    /* gray 8 with tRNS colour: ignored */
    png_color_16 tc = {0};
    tc.gray = want[0];
    png = make_png(W, H, PNG_COLOR_TYPE_GRAY, 8, 0, want, W, NULL, 0, NULL, 0, &tc, &n);
    check_png("gray_trns.png", png, n, gw, W, H);
    free(png);
    /* 1-bit gray: 0 / 255 */
    size_t rb = (W + 7) / 8;
    memset(raw, 0, rb * H);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int bit = (x * 3 + y * 7) % 5 < 2;
            if (bit) raw[y * rb + x / 8] |= (uint8_t)(0x80 >> (x % 8));
            memset(gw + (y * W + x) * 3, bit ? 255 : 0, 3);
        }
    png = make_png(W, H, PNG_COLOR_TYPE_GRAY, 1, 0, raw, rb, NULL, 0, NULL, 0, NULL, &n);
    check_png("gray1.png", png, n, gw, W, H);
    free(png);
}

/* ---- bad input ----------------------------------------------------------------- */

static uint32_t crc32_png(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

/* A PNG signature + IHDR (w x h, 8-bit RGB) + a tiny IDAT + IEND. */
static size_t png_header_only(uint8_t *b, uint32_t w, uint32_t h) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(b, sig, 8);
    size_t o = 8;
    const uint8_t ihdr[17] = {'I',
                              'H',
                              'D',
                              'R',
                              (uint8_t)(w >> 24),
                              (uint8_t)(w >> 16),
                              (uint8_t)(w >> 8),
                              (uint8_t)w,
                              (uint8_t)(h >> 24),
                              (uint8_t)(h >> 16),
                              (uint8_t)(h >> 8),
                              (uint8_t)h,
                              8,
                              2,
                              0,
                              0,
                              0};
    put32(b + o, 13, 0), o += 4;
    memcpy(b + o, ihdr, 17), o += 17;
    put32(b + o, crc32_png(ihdr, 17), 0), o += 4;
    const uint8_t idat[4 + 8] = {'I', 'D', 'A', 'T', 0x78, 0x9c, 0x63, 0, 0, 0, 1, 0};
    put32(b + o, 8, 0), o += 4;
    memcpy(b + o, idat, 12), o += 12;
    put32(b + o, crc32_png(idat, 12), 0), o += 4;
    put32(b + o, 0, 0), o += 4;
    memcpy(b + o, "IEND", 4), o += 4;
    put32(b + o, crc32_png((const uint8_t *)"IEND", 4), 0), o += 4;
    return o;
}

static void expect_error(const uint8_t *d, size_t n, const char *what, const char *substr) {
    kiln_image img;
    kiln_status s = kiln_image_decode_buffer(d, n, what, &img);
    KT_CHECK(s != KILN_OK && img.rgb == NULL, "%s (%zu bytes) decoded without error", what, n);
    if (s != KILN_OK) {
        KT_CHECK(strstr(kiln_last_error(), what) != NULL, "%s: message lacks the name: %s", what,
                 kiln_last_error());
        if (substr)
            KT_CHECK(strstr(kiln_last_error(), substr) != NULL, "%s: message lacks '%s': %s", what,
                     substr, kiln_last_error());
    }
    kiln_image_free(&img);
}

static void truncations(const char *path) {
    size_t n;
    uint8_t *d = read_all(path, &n);
    if (!d) return;
    int count = 0;
    for (size_t len = 0; len < n; len += 997, count++) {
        uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees over-reads */
        memcpy(copy, d, len);
        expect_error(copy, len, path, NULL);
        free(copy);
    }
    printf("truncations: %d of %s rejected\n", count, path);
    free(d);
}

static void test_bad_input(void) {
    char path[1024];
    if (fixtures_present) {
        snprintf(path, sizeof path, "%s/images/hot_dog.jpg", kt_fixtures());
        truncations(path);
        snprintf(path, sizeof path, "%s/images/chelsea.png", kt_fixtures());
        truncations(path);
        /* the message carries libjpeg's words */
        size_t n;
        snprintf(path, sizeof path, "%s/images/rocket.jpg", kt_fixtures());
        uint8_t *d = read_all(path, &n);
        if (d) {
            expect_error(d, n / 2, "half.jpg", "Premature end of JPEG file");
            free(d);
        }
    }
    /* random bytes, bare and behind each signature */
    uint8_t buf[4096];
    uint64_t s = 99;
    for (size_t i = 0; i < sizeof buf; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        buf[i] = (uint8_t)(s >> 56);
    }
    buf[0] = 0;
    expect_error(buf, sizeof buf, "random.bin", "not a JPEG or PNG");
    buf[0] = 0xff, buf[1] = 0xd8, buf[2] = 0xff;
    expect_error(buf, sizeof buf, "random.jpg", NULL);
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(buf, sig, 8);
    expect_error(buf, sizeof buf, "random.png", NULL);
    expect_error(buf, 0, "empty.png", "empty");
    expect_error(sig, 8, "sigonly.png", NULL);

    /* huge declared sizes */
    uint8_t hdr[128];
    size_t hn = png_header_only(hdr, 100000, 100000);
    expect_error(hdr, hn, "huge.png", "100000x100000");
    hn = png_header_only(hdr, 30000, 30000); /* sides ok, 9e8 pixels too many */
    expect_error(hdr, hn, "huge2.png", "exceeds");
    hn = png_header_only(hdr, 20000, 10000); /* allowed size, far too little data */
    expect_error(hdr, hn, "bomb.png", "truncated or corrupt");
    kiln_image pat;
    pattern(&pat);
    size_t jn;
    uint8_t *jpg = make_jpeg(pat.rgb, PW, PH, 3, JCS_RGB, JCS_YCbCr, NULL, 0, &jn);
    for (size_t i = 0; i + 8 < jn; i++)
        if (jpg[i] == 0xff && jpg[i + 1] == 0xc0) { /* SOF0: height, width at +5, +7 */
            jpg[i + 5] = 0xea, jpg[i + 6] = 0x60, jpg[i + 7] = 0xea, jpg[i + 8] = 0x60;
            break;
        }
    expect_error(jpg, jn, "huge.jpg", "exceeds");
    free(jpg);
    kiln_image_free(&pat);

    /* files: empty, missing; the message names the file */
    snprintf(path, sizeof path, "%s/empty.jpg", tmpdir);
    write_file(path, "", 0);
    kiln_image img;
    KT_CHECK(kiln_image_load(path, &img) != KILN_OK && strstr(kiln_last_error(), path),
             "empty file: %s", kiln_last_error());
    unlink(path);
    snprintf(path, sizeof path, "%s/missing.png", tmpdir);
    KT_CHECK(kiln_image_load(path, &img) != KILN_OK && strstr(kiln_last_error(), path),
             "missing file: %s", kiln_last_error());
    /* content decides, not the name */
    pattern(&pat);
    uint8_t *png =
        make_png(PW, PH, PNG_COLOR_TYPE_RGB, 8, 0, pat.rgb, PW * 3, NULL, 0, NULL, 0, NULL, &jn);
    snprintf(path, sizeof path, "%s/really_a_png.jpg", tmpdir);
    write_file(path, png, jn);
    KT_OK(kiln_image_load(path, &img));
    KT_CHECK(img.rgb && max_diff(&img, &pat) == 0, "PNG named .jpg");
    kiln_image_free(&img);
    unlink(path);
    free(png);
    kiln_image_free(&pat);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kiln_test_image_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_fixtures();
    test_exif();
    test_jpeg_colour();
    test_png_variants();
    test_bad_input();
    rmdir(tmpdir);
    if (!fixtures_present && kt_failures == 0)
        kt_skip("fixture photos absent (synthetic checks passed)");
    return kt_finish("test_image");
}
