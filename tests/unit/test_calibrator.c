/*
 * test_calibrator.c — kiln_calibrator_* through kiln.h on the real
 * simple_model (conv+bn+relu, fused into one INT8-capable conv that reads
 * `image` and writes `batch_norm_0.tmp_3`) with seeded random inputs: the
 * table file and its header, determinism (byte-identical reruns), all four
 * algorithms, minmax = the exact max |x| (checked against an FP32 ref
 * engine), zero samples, a rejected (NaN) batch leaving no trace, the model
 * key (copy = same, one byte of params changed = different), and an INT8 ref
 * engine built from the table.
 *
 * Non-goals: threshold arithmetic (test_calib), INT8 kernels (test_int8_ref).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kiln.h"
#include "test_util.h"

#define S 224
#define PER ((size_t)3 * S * S)
#define N_IMG 3
#define OUT_NAME "batch_norm_0.tmp_3"
#define OUT_PER ((size_t)32 * 112 * 112)

static char tmp[256];
static float *img[N_IMG];

static int copy_file(const char *src, const char *dst, long flip_at) {
    FILE *in = fopen(src, "rb");
    if (!in) return -1;
    fseek(in, 0, SEEK_END);
    long n = ftell(in);
    fseek(in, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    size_t got = b ? fread(b, 1, (size_t)n, in) : 0;
    fclose(in);
    if (!b || got != (size_t)n) {
        free(b);
        return -1;
    }
    if (flip_at >= 0 && flip_at < n) b[n - 1 - flip_at] ^= 0x01; /* counted from the end */
    FILE *out = fopen(dst, "wb");
    int rc = out && fwrite(b, 1, (size_t)n, out) == (size_t)n ? 0 : -1;
    if (out && fclose(out)) rc = -1;
    free(b);
    return rc;
}

/* Copies simple_model into tmp/<name>; flip >= 0 changes one params byte. */
static void copy_model(const char *name, long flip, char *dir, size_t n) {
    char src[1024], dst[1024];
    snprintf(dir, n, "%s/%s", tmp, name);
    mkdir(dir, 0755);
    const char *files[2] = {"model.pdmodel", "model.pdiparams"};
    for (int i = 0; i < 2; i++) {
        snprintf(src, sizeof src, "%s/paddle/simple_model/%s", kt_fixtures(), files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        KT_CHECK(copy_file(src, dst, i == 1 ? flip : -1) == 0, "copy %s -> %s", src, dst);
    }
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[n] = 0;
    if (len) *len = (size_t)n;
    return b;
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* The 8-hex-digit value of `name: xxxxxxxx` in the table text, or -1. */
static long long entry_bits(const char *text, const char *name) {
    char pat[256];
    snprintf(pat, sizeof pat, "\n%s: ", name);
    const char *p = strstr(text, pat);
    if (!p) return -1;
    p += strlen(pat);
    char *end;
    unsigned long v = strtoul(p, &end, 16);
    if (end - p != 8 || (*end != '\n' && *end != 0)) return -1;
    return (long long)v;
}

/* Non-empty lines after the header. */
static int count_entries(const char *text) {
    int n = 0;
    for (const char *p = strchr(text, '\n'); p; p = strchr(p + 1, '\n'))
        if (p[1] && p[1] != '\n') n++;
    return n;
}

/* The header's value of `field=` (copied into buf), or "". */
static const char *header_field(const char *text, const char *field, char *buf, size_t n) {
    buf[0] = 0;
    const char *nl = strchr(text, '\n');
    size_t hl = nl ? (size_t)(nl - text) : strlen(text);
    char pat[64];
    snprintf(pat, sizeof pat, " %s=", field);
    const char *p = strstr(text, pat);
    if (!p || p >= text + hl) return buf;
    p += strlen(pat);
    size_t k = 0;
    while (p + k < text + hl && p[k] != ' ' && k + 1 < n)
        k++;
    memcpy(buf, p, k);
    buf[k] = 0;
    return buf;
}

static uint32_t f2bits(float f) {
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

static float bits2f(uint32_t b) {
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static kiln_calibrator *calibrate(const kiln_model *m, const char *algo, kiln_backend_kind be,
                                  int n_img) {
    kiln_calibrate_options o = kiln_calibrate_options_default();
    o.algo = algo;
    o.backend = be;
    o.preprocess = "test-random";
    kiln_calibrator *c = NULL;
    KT_OK(kiln_calibrator_create(m, &o, &c));
    if (!c) return NULL;
    int64_t d[4] = {1, 3, S, S};
    for (int i = 0; i < n_img; i++)
        KT_OK(kiln_calibrator_add(c, img[i], d, 4));
    KT_CHECK(kiln_calibrator_samples(c) == n_img, "samples %lld",
             (long long)kiln_calibrator_samples(c));
    return c;
}

/* Table at the default path: exists, header fields, one line per observed tensor. */
static void test_default_table(const kiln_model *m, const char *dir, char *table, size_t tn) {
    char def[4096];
    KT_OK(kiln_model_calibration_table_path(m, NULL, def, sizeof def));
    KT_CHECK(!exists(def), "no table before calibrating: %s", def);
    kiln_calibrator *c = calibrate(m, NULL, KILN_BACKEND_AUTO, N_IMG);
    if (!c) return;
    char written[4096] = "";
    KT_OK(kiln_calibrator_write(c, NULL, written, sizeof written));
    kiln_calibrator_destroy(c);
    char *abs_def = realpath(def, NULL);
    KT_CHECK(abs_def && strcmp(written, abs_def) == 0, "written '%s' is the default path '%s'",
             written, abs_def ? abs_def : def);
    KT_CHECK(written[0] == '/', "absolute path: %s", written);
    char want_dir[1100];
    snprintf(want_dir, sizeof want_dir, "%s/_opt_cache/trt_calib_", dir);
    KT_CHECK(strncmp(def, want_dir, strlen(want_dir)) == 0, "default path %s under %s", def,
             want_dir);
    free(abs_def);
    snprintf(table, tn, "%s", written);

    char *t = read_all(written, NULL);
    KT_CHECK(t != NULL, "table readable: %s", written);
    if (!t) return;
    const char *key = strrchr(def, '_') + 1;
    char v[512];
    KT_CHECK(strncmp(t, "#kiln-calib-table v1 ", 21) == 0, "header tag: %.60s", t);
    KT_CHECK(strcmp(header_field(t, "key", v, sizeof v), key) == 0, "key=%s (want %s)", v, key);
    KT_CHECK(strcmp(header_field(t, "algo", v, sizeof v), "entropy") == 0, "algo=%s", v);
    KT_CHECK(strcmp(header_field(t, "samples", v, sizeof v), "3") == 0, "samples=%s", v);
    KT_CHECK(strcmp(header_field(t, "shape", v, sizeof v), "1x3x224x224") == 0, "shape=%s", v);
    KT_CHECK(strcmp(header_field(t, "preprocess", v, sizeof v), "test-random") == 0,
             "preprocess=%s", v);
    /* the fused conv is the only INT8 layer: its input and output are observed */
    const char *observed[2] = {"image", OUT_NAME};
    for (int i = 0; i < 2; i++) {
        long long b = entry_bits(t, observed[i]);
        KT_CHECK(b >= 0, "table has a line for '%s'", observed[i]);
        float s = bits2f((uint32_t)b);
        KT_CHECK(b >= 0 && isfinite(s) && s > 0, "'%s' scale %g finite > 0", observed[i],
                 (double)s);
    }
    KT_CHECK(count_entries(t) == 2, "2 tensor lines, got %d:\n%s", count_entries(t), t);
    KT_CHECK(entry_bits(t, "conv2d_0.tmp_0") < 0 && entry_bits(t, "batch_norm_0.tmp_2") < 0,
             "tensors inside the fused conv are not calibrated");
    free(t);
}

static void test_determinism(const kiln_model *m, const char *first) {
    char p1[1024], p2[1024];
    snprintf(p1, sizeof p1, "%s/det1/table", tmp);
    snprintf(p2, sizeof p2, "%s/det2/table", tmp);
    for (int r = 0; r < 2; r++) {
        kiln_calibrator *c = calibrate(m, "entropy", KILN_BACKEND_AUTO, N_IMG);
        if (!c) return;
        KT_OK(kiln_calibrator_write(c, r ? p2 : p1, NULL, 0));
        kiln_calibrator_destroy(c);
    }
    size_t n1 = 0, n2 = 0, n0 = 0;
    char *a = read_all(p1, &n1), *b = read_all(p2, &n2), *z = read_all(first, &n0);
    KT_CHECK(a && b && n1 == n2 && memcmp(a, b, n1) == 0, "same data, same order: same bytes");
    KT_CHECK(a && z && n1 == n0 && memcmp(a, z, n1) == 0, "and the same as the first table");
    free(a);
    free(b);
    free(z);
}

/* Every algorithm writes a table; thresholds within (0, max + 2 bins]. */
static void test_algorithms(const kiln_model *m) {
    const char *algos[4] = {"entropy", "percentile", "minmax", "mse"};
    double t_minmax[2] = {0, 0};
    for (int a = 0; a < 4; a++) {
        kiln_calibrator *c = calibrate(m, algos[a], KILN_BACKEND_AUTO, N_IMG);
        if (!c) continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/algo/%s", tmp, algos[a]);
        KT_OK(kiln_calibrator_write(c, p, NULL, 0));
        kiln_calibrator_destroy(c);
        char *t = read_all(p, NULL), v[64];
        KT_CHECK(t != NULL, "%s: table written at %s", algos[a], p);
        if (!t) continue;
        KT_CHECK(strcmp(header_field(t, "algo", v, sizeof v), algos[a]) == 0, "algo=%s want %s", v,
                 algos[a]);
        if (a == 1)
            KT_CHECK(strcmp(header_field(t, "percentile", v, sizeof v), "99.99") == 0,
                     "percentile=%s", v);
        else
            KT_CHECK(header_field(t, "percentile", v, sizeof v)[0] == 0, "%s: no percentile field",
                     algos[a]);
        KT_CHECK(count_entries(t) == 2, "%s: 2 tensor lines", algos[a]);
        const char *names[2] = {"image", OUT_NAME};
        for (int i = 0; i < 2; i++) {
            long long b = entry_bits(t, names[i]);
            double T = b >= 0 ? (double)bits2f((uint32_t)b) * 127.0 : -1;
            if (a == 2) t_minmax[i] = T;
            KT_CHECK(T > 0, "%s/%s: T %g > 0", algos[a], names[i], T);
        }
        free(t);
    }
    /* second pass: every algorithm's T is at most max|x| plus 2 histogram bins (width
     * max/2048); minmax is the max itself */
    for (int a = 0; a < 4; a++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/algo/%s", tmp, algos[a]);
        char *t = read_all(p, NULL);
        if (!t) continue;
        const char *names[2] = {"image", OUT_NAME};
        for (int i = 0; i < 2; i++) {
            long long b = entry_bits(t, names[i]);
            double T = b >= 0 ? (double)bits2f((uint32_t)b) * 127.0 : -1;
            KT_CHECK(T <= t_minmax[i] * (1 + 2.0 / 2048) + 1e-6, "%s/%s: T %g <= max %g", algos[a],
                     names[i], T, t_minmax[i]);
        }
        free(t);
    }
}

/* minmax: T/127 is exactly (max |x|)/127.0f, max taken from a plain FP32 ref
 * engine on the same inputs (the observed output, and `image` made an output
 * with kiln_model_add_output). */
static void test_minmax_exact(const char *dir) {
    kiln_model *m = NULL;
    KT_OK(kiln_model_load_path(dir, NULL, &m));
    if (!m) return;
    kiln_calibrator *c = calibrate(m, "minmax", KILN_BACKEND_REF, N_IMG);
    if (!c) {
        kiln_model_destroy(m);
        return;
    }
    char p[1024];
    snprintf(p, sizeof p, "%s/minmax_ref/table", tmp);
    KT_OK(kiln_calibrator_write(c, p, NULL, 0));
    kiln_calibrator_destroy(c);
    kiln_model_destroy(m);

    /* fresh model: the calibrator must not have needed the extra output */
    KT_OK(kiln_model_load_path(dir, NULL, &m));
    if (!m) return;
    KT_OK(kiln_model_add_output(m, "image"));
    KT_CHECK(kiln_model_num_outputs(m) == 2, "image added as output 1: %d outputs",
             kiln_model_num_outputs(m));
    kiln_build_options bo = kiln_build_options_default();
    bo.backend = KILN_BACKEND_REF;
    kiln_engine *e = NULL;
    KT_OK(kiln_engine_build(m, &bo, &e));
    float mx_out = 0, mx_img = 0, mx_direct = 0;
    int64_t d[4] = {1, 3, S, S};
    for (int i = 0; e && i < N_IMG; i++) {
        KT_OK(kiln_engine_set_input(e, 0, img[i], d, 4));
        KT_OK(kiln_engine_run(e));
        const float *y;
        int64_t od[KILN_MAX_RANK];
        int r;
        KT_OK(kiln_engine_get_output(e, 0, &y, od, &r));
        for (size_t k = 0; k < OUT_PER; k++)
            mx_out = fmaxf(mx_out, fabsf(y[k]));
        if (kiln_engine_get_output(e, 1, &y, od, &r) == KILN_OK) {
            KT_CHECK(r == 4 && od[1] == 3 && od[2] == S, "image output shape");
            for (size_t k = 0; k < PER; k++)
                mx_img = fmaxf(mx_img, fabsf(y[k]));
        } else {
            KT_CHECK(0, "image as an output: %s", kiln_last_error());
        }
        for (size_t k = 0; k < PER; k++)
            mx_direct = fmaxf(mx_direct, fabsf(img[i][k]));
    }
    KT_CHECK(mx_img == mx_direct, "image output equals the input: max %g vs %g", (double)mx_img,
             (double)mx_direct);
    char *t = read_all(p, NULL);
    KT_CHECK(t != NULL, "minmax table at %s", p);
    if (t) {
        long long bo_bits = entry_bits(t, OUT_NAME), bi_bits = entry_bits(t, "image");
        KT_CHECK(bo_bits == (long long)f2bits(mx_out / 127.0f),
                 "%s: table %08llx, want bits of %.9g/127 = %08x", OUT_NAME, bo_bits,
                 (double)mx_out, (unsigned)f2bits(mx_out / 127.0f));
        KT_CHECK(bi_bits == (long long)f2bits(mx_direct / 127.0f),
                 "image: table %08llx, want bits of %.9g/127 = %08x", bi_bits, (double)mx_direct,
                 (unsigned)f2bits(mx_direct / 127.0f));
        free(t);
    }
    kiln_engine_destroy(e);
    kiln_model_destroy(m);
}

static void test_zero_samples(const char *dir) {
    kiln_model *m = NULL;
    KT_OK(kiln_model_load_path(dir, NULL, &m));
    if (!m) return;
    kiln_calibrator *c = calibrate(m, NULL, KILN_BACKEND_AUTO, 0);
    if (c) {
        char def[4096], p[1024], w[4096] = "";
        KT_OK(kiln_model_calibration_table_path(m, NULL, def, sizeof def));
        snprintf(p, sizeof p, "%s/zero/table", tmp);
        KT_CHECK(kiln_calibrator_write(c, NULL, w, sizeof w) != KILN_OK, "default path: fails");
        KT_CHECK(strstr(kiln_last_error(), "no calibration samples") != NULL, "says why: %s",
                 kiln_last_error());
        KT_CHECK(kiln_calibrator_write(c, p, w, sizeof w) != KILN_OK, "explicit path: fails");
        KT_CHECK(!exists(def) && !exists(p), "no file written (%s, %s)", def, p);
        char cache[1100];
        snprintf(cache, sizeof cache, "%s/_opt_cache", dir);
        KT_CHECK(!exists(cache), "not even the cache directory: %s", cache);
        /* a batch with a NaN is refused, naming the problem, and counts as no sample */
        float *x = malloc(PER * sizeof(float));
        memcpy(x, img[0], PER * sizeof(float));
        x[12345] = NAN;
        int64_t d[4] = {1, 3, S, S};
        KT_CHECK(kiln_calibrator_add(c, x, d, 4) != KILN_OK, "NaN batch refused");
        KT_CHECK(strstr(kiln_last_error(), "NaN") != NULL, "names NaN: %s", kiln_last_error());
        KT_CHECK(kiln_calibrator_samples(c) == 0, "NaN batch not counted");
        free(x);
        kiln_calibrator_destroy(c);
    }
    kiln_model_destroy(m);
}

/* A rejected batch (a NaN in the input) leaves the calibrator as it was: the
 * next good batch is accepted, and the table equals the one made without the
 * bad batch, byte for byte (nothing of the rejected batch is histogrammed). */
static void test_rejected_batch(const kiln_model *m) {
    char p_clean[1024], p_mixed[1024];
    snprintf(p_clean, sizeof p_clean, "%s/rejected/clean", tmp);
    snprintf(p_mixed, sizeof p_mixed, "%s/rejected/mixed", tmp);
    int64_t d[4] = {1, 3, S, S};
    kiln_calibrator *c = calibrate(m, "entropy", KILN_BACKEND_AUTO, 2); /* img 0, 1 */
    if (!c) return;
    KT_OK(kiln_calibrator_write(c, p_clean, NULL, 0));
    kiln_calibrator_destroy(c);

    c = calibrate(m, "entropy", KILN_BACKEND_AUTO, 1); /* img 0 */
    if (!c) return;
    float *x = malloc(PER * sizeof(float));
    /* a larger range than the good images: if it were binned it would show */
    for (size_t k = 0; k < PER; k++)
        x[k] = img[2][k] * 3.0f;
    x[PER - 1] = NAN;
    KT_CHECK(kiln_calibrator_add(c, x, d, 4) != KILN_OK, "NaN batch refused");
    KT_OK(kiln_calibrator_add(c, img[1], d, 4)); /* must not be poisoned by the NaN batch */
    KT_CHECK(kiln_calibrator_samples(c) == 2, "2 good samples, got %lld",
             (long long)kiln_calibrator_samples(c));
    KT_OK(kiln_calibrator_write(c, p_mixed, NULL, 0));
    kiln_calibrator_destroy(c);
    free(x);
    size_t n1 = 0, n2 = 0;
    char *a = read_all(p_clean, &n1), *b = read_all(p_mixed, &n2);
    KT_CHECK(a && b && n1 == n2 && memcmp(a, b, n1) == 0,
             "table with a rejected batch in between equals the table without it:\n%s\nvs\n%s",
             a ? a : "(none)", b ? b : "(none)");
    free(a);
    free(b);
}

static void key_of(const char *dir, char *path, size_t n) {
    kiln_model *m = NULL;
    path[0] = 0;
    KT_OK(kiln_model_load_path(dir, NULL, &m));
    if (m) KT_OK(kiln_model_calibration_table_path(m, NULL, path, n));
    kiln_model_destroy(m);
}

static void test_keys(const char *a, const char *b, const char *c) {
    char pa[4096], pb[4096], pc[4096], pf[4096], fix[1024];
    snprintf(fix, sizeof fix, "%s/paddle/simple_model", kt_fixtures());
    key_of(a, pa, sizeof pa);
    key_of(b, pb, sizeof pb);
    key_of(c, pc, sizeof pc);
    key_of(fix, pf, sizeof pf);
    const char *ka = strrchr(pa, '/'), *kb = strrchr(pb, '/'), *kc = strrchr(pc, '/'),
               *kf = strrchr(pf, '/');
    KT_CHECK(ka && kb && kc && kf, "paths: %s %s %s %s", pa, pb, pc, pf);
    if (!(ka && kb && kc && kf)) return;
    KT_CHECK(strncmp(ka, "/trt_calib_", 11) == 0 && strlen(ka) == 11 + 16, "file name %s", ka);
    KT_CHECK(strcmp(ka, kb) == 0, "copy in another dir: same key (%s vs %s)", ka, kb);
    KT_CHECK(strcmp(ka, kf) == 0, "and the same as the fixture's (%s vs %s)", ka, kf);
    KT_CHECK(strcmp(pa, pb) != 0, "but its own directory");
    KT_CHECK(strcmp(ka, kc) != 0, "one params byte changed: another key (%s)", kc);

    kiln_model *m = NULL;
    KT_OK(kiln_model_load_path(a, NULL, &m));
    if (m) {
        char pd[4096], want[4096];
        KT_OK(kiln_model_calibration_table_path(m, "/some/cache", pd, sizeof pd));
        snprintf(want, sizeof want, "/some/cache/_opt_cache%s", ka);
        KT_CHECK(strcmp(pd, want) == 0, "cache_dir: %s (want %s)", pd, want);
        char small[8];
        KT_CHECK(kiln_model_calibration_table_path(m, NULL, small, sizeof small) != KILN_OK,
                 "too small a buffer is an error");
    }
    kiln_model_destroy(m);
}

/* An INT8 ref engine from the table: every INT8 candidate runs INT8; its
 * output is close to FP32 (cosine > 0.99) without being identical. */
static void test_int8_engine(const char *dir, const char *table) {
    kiln_model *m = NULL;
    KT_OK(kiln_model_load_path(dir, NULL, &m));
    if (!m) return;
    kiln_build_options bo = kiln_build_options_default();
    bo.backend = KILN_BACKEND_REF;
    kiln_engine *f = NULL;
    KT_OK(kiln_engine_build(m, &bo, &f));
    for (int explicit_path = 1; explicit_path >= 0; explicit_path--) {
        bo.precision = KILN_PRECISION_INT8;
        bo.calibration_table = explicit_path ? table : NULL; /* NULL: the default path */
        kiln_engine *e = NULL;
        KT_OK(kiln_engine_build(m, &bo, &e));
        if (!e || !f) continue;
        int n8 = -1, nc = -1;
        kiln_engine_int8_layers(e, &n8, &nc);
        KT_CHECK(n8 >= 1 && n8 == nc, "INT8 layers %d/%d", n8, nc);
        int64_t d[4] = {1, 3, S, S};
        KT_OK(kiln_engine_set_input(e, 0, img[0], d, 4));
        KT_OK(kiln_engine_run(e));
        KT_OK(kiln_engine_set_input(f, 0, img[0], d, 4));
        KT_OK(kiln_engine_run(f));
        const float *yq = NULL, *yf = NULL;
        int64_t od[KILN_MAX_RANK];
        int r;
        KT_OK(kiln_engine_get_output(e, 0, &yq, od, &r));
        KT_OK(kiln_engine_get_output(f, 0, &yf, od, &r));
        if (yq && yf) {
            double dot = 0, qq = 0, ff = 0;
            int finite = 1, differ = 0;
            for (size_t k = 0; k < OUT_PER; k++) {
                finite &= isfinite(yq[k]) != 0;
                differ |= yq[k] != yf[k];
                dot += (double)yq[k] * yf[k];
                qq += (double)yq[k] * yq[k];
                ff += (double)yf[k] * yf[k];
            }
            double cosv = dot / sqrt(qq * ff);
            KT_CHECK(finite && differ, "INT8 output finite and not bit-equal to FP32");
            KT_CHECK(cosv > 0.99, "INT8 vs FP32 cosine %.6f > 0.99", cosv);
        }
        int f8 = -1, fc = -1;
        kiln_engine_int8_layers(f, &f8, &fc);
        KT_CHECK(f8 == 0 && fc == 0, "FP32 engine reports 0/0 (%d/%d)", f8, fc);
        kiln_engine_destroy(e);
    }
    kiln_engine_destroy(f);
    kiln_model_destroy(m);
}

int main(void) {
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/paddle/simple_model/model.pdmodel", kt_fixtures());
    if (!exists(probe)) kt_skip("fixtures/paddle/simple_model absent");
    snprintf(tmp, sizeof tmp, "/tmp/kiln_test_calibrator_XXXXXX");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    for (int i = 0; i < N_IMG; i++) {
        img[i] = malloc(PER * sizeof(float));
        /* asymmetric range: max |x| comes from the negative side */
        kt_fill_uniform(img[i], PER, 1000 + (uint64_t)i, -2.3f, 1.9f);
    }
    char a[1024], b[1024], c[1024], z[1024], table[4096] = "";
    copy_model("a", -1, a, sizeof a);
    copy_model("b", -1, b, sizeof b);
    copy_model("c", 3, c, sizeof c); /* the lowest byte of the last float */
    copy_model("z", -1, z, sizeof z);

    kiln_model *m = NULL;
    KT_OK(kiln_model_load_path(a, NULL, &m));
    if (m) {
        test_default_table(m, a, table, sizeof table);
        test_determinism(m, table);
        test_algorithms(m);
        test_rejected_batch(m);
    }
    kiln_model_destroy(m);
    test_minmax_exact(a);
    test_zero_samples(z);
    test_keys(a, b, c);
    if (table[0]) test_int8_engine(a, table);

    for (int i = 0; i < N_IMG; i++)
        free(img[i]);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (kt_failures == 0 && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return kt_finish("test_calibrator");
}
