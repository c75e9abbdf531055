/*
 * table.c — calibration table text: format + atomic write, parse (Kiln or
 * TensorRT header), check against a model key/shape, lookup by name.
 *
 * The parser works on a private copy of the bytes, splits it into lines in
 * place and never reads past the copy; every error names the file and the
 * 1-based line. Format and rules: table.h and docs/CALIBRATION.md.
 *
 * Non-goals: streaming huge files (tables are a few KB), locale-dependent
 * number formats (none are used: hex, decimal integers, a fixed-point percentile).
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib/table.h"
#include "core/file.h"
#include "core/status.h"

#define HEADER_TAG "#kiln-calib-table"

static const char *const trt_algos[] = {"EntropyCalibration2", "EntropyCalibration",
                                        "MinMaxCalibration", "LegacyCalibration"};

/* ---- small helpers ------------------------------------------------------ */

/* Offset of the first byte that is not valid UTF-8 (shortest form, no
 * surrogates, <= U+10FFFF), or -1. */
static int64_t utf8_bad(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t min;
        if (c >= 0xc2 && c <= 0xdf)
            len = 2, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef)
            len = 3, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4)
            len = 4, min = 0x10000;
        else
            return (int64_t)i;
        if (len > n - i) return (int64_t)i;
        uint32_t cp = c & (0xffu >> (len + 1));
        for (size_t k = 1; k < len; k++) {
            unsigned cc = s[i + k];
            if ((cc & 0xc0) != 0x80) return (int64_t)i;
            cp = cp << 6 | (cc & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return (int64_t)i;
        i += len;
    }
    return -1;
}

/* Index of the first control byte (< 0x20 or 0x7f), or -1. */
static int64_t first_control(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] == 0x7f) return (int64_t)i;
    return -1;
}

/* Decimal digits only, no sign, value <= max. */
static int parse_u63(const char *s, int64_t max, int64_t *out) {
    if (!*s) return 0;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        int d = *s - '0';
        if (v > (max - d) / 10) return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

static int is_hex_key(const char *s) {
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f'))) return 0;
    return n == 16;
}

/* "1x3x224x224" -> dims; 0 on a malformed shape. Modifies nothing. */
static int parse_shape(const char *s, int32_t *rank, int64_t *dims) {
    int32_t r = 0;
    while (1) {
        char buf[32];
        size_t k = 0;
        while (s[k] && s[k] != 'x')
            k++;
        if (k == 0 || k >= sizeof buf || r >= KILN_MAX_RANK) return 0;
        memcpy(buf, s, k);
        buf[k] = 0;
        if (!parse_u63(buf, (int64_t)1 << 62, &dims[r]) || dims[r] < 1) return 0;
        r++;
        if (!s[k]) break;
        s += k + 1;
    }
    *rank = r;
    return 1;
}

/* p in [0, 100] with up to 6 decimals, '.' whatever the locale: "99.99". */
static void format_percent(char *buf, size_t n, double p) {
    long long u = llround(p * 1e6);
    snprintf(buf, n, "%lld.%06lld", u / 1000000, u % 1000000);
    size_t k = strlen(buf);
    while (k > 0 && buf[k - 1] == '0')
        buf[--k] = 0;
    if (k > 0 && buf[k - 1] == '.') buf[--k] = 0;
}

/* digits [ '.' digits ] (at most 15 digits), <= 100, locale-independent:
 * the digits as an integer divided by 10^decimals (correctly rounded). */
static int parse_percent(const char *s, double *out) {
    int64_t v = 0;
    int digits = 0, decimals = 0, dot = 0;
    for (; *s; s++) {
        if (*s == '.' && !dot) {
            dot = 1;
        } else if (*s >= '0' && *s <= '9' && digits < 15) {
            digits++;
            decimals += dot;
            v = v * 10 + (*s - '0');
        } else {
            return 0;
        }
    }
    double p = (double)v;
    if (decimals) p = (double)v / pow(10.0, decimals);
    if (!digits || p > 100.0) return 0;
    *out = p;
    return 1;
}

static void format_shape(char *buf, size_t n, int32_t rank, const int64_t *dims) {
    size_t off = 0;
    buf[0] = 0;
    for (int32_t i = 0; i < rank && off < n; i++) {
        int k = snprintf(buf + off, n - off, "%s%lld", i ? "x" : "", (long long)dims[i]);
        if (k < 0) break;
        off += (size_t)k;
    }
}

static kiln_status table_error(const char *path, int64_t line, const char *fmt, ...)
    KILN_PRINTF(3, 4);
static kiln_status table_error(const char *path, int64_t line, const char *fmt, ...) {
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return kiln_error(KILN_ERR_FORMAT, "%s:%lld: %s; %s", path, (long long)line, what,
                      KILN_CALIB_REGEN_HINT);
}

/* ---- writing ------------------------------------------------------------ */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) KILN_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && (size_t)k < b->cap - b->len) {
            b->len += (size_t)k;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + (size_t)k + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
}

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Rejects names the reader could not read back unambiguously. */
static kiln_status check_name(const char *name, int64_t i) {
    if (!name || !*name)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "calibration table: tensor #%lld has an empty name", (long long)i);
    size_t n = strlen(name);
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)name[k];
        if (c == ':' || isspace(c) || c < 0x20 || c == 0x7f)
            return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                              "calibration table: tensor '%.300s' has a name containing %s "
                              "(byte 0x%02x at %zu), which the table format cannot hold",
                              name, c == ':' ? "':'" : "whitespace or a control byte", c, k);
    }
    if (utf8_bad((const unsigned char *)name, n) >= 0)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "calibration table: tensor '%.300s' has a name that is not UTF-8", name);
    return KILN_OK;
}

static kiln_status check_info(const kiln_calib_table_info *info) {
    if (!info || !info->key || !is_hex_key(info->key))
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "calibration table: key '%s' is not 16 lowercase hex digits",
                          info && info->key ? info->key : "(null)");
    if ((int)info->algo < 0 || info->algo >= KILN_CALIB_ALGO_COUNT)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "calibration table: algorithm %d",
                          (int)info->algo);
    if (info->algo == KILN_CALIB_PERCENTILE &&
        !(info->percentile >= 0.0 && info->percentile <= 100.0))
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "calibration table: percentile %g",
                          info->percentile);
    if (info->samples < 0)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "calibration table: samples %lld",
                          (long long)info->samples);
    if (info->shape_rank < 1 || info->shape_rank > KILN_MAX_RANK)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "calibration table: shape rank %d",
                          (int)info->shape_rank);
    for (int32_t i = 0; i < info->shape_rank; i++)
        if (info->shape[i] < 1 || info->shape[i] > ((int64_t)1 << 62))
            return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                              "calibration table: input dimension %d is %lld; calibrate with a "
                              "concrete shape",
                              (int)i, (long long)info->shape[i]);
    const char *pp = info->preprocess;
    if (pp) {
        size_t n = strlen(pp);
        if (n == 0 || first_control((const unsigned char *)pp, n) >= 0 ||
            utf8_bad((const unsigned char *)pp, n) >= 0 || strpbrk(pp, " \t"))
            return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                              "calibration table: preprocess descriptor '%.300s' must be "
                              "non-empty UTF-8 without whitespace",
                              pp);
    }
    return KILN_OK;
}

kiln_status kiln_calib_table_format(const kiln_calib_table_info *info, const char *const *names,
                                    const float *thresholds, int64_t n, char **text, size_t *len) {
    *text = NULL;
    *len = 0;
    KILN_TRY(check_info(info));
    if (n < 0 || (n > 0 && (!names || !thresholds)))
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "calibration table: %lld tensors",
                          (long long)n);
    for (int64_t i = 0; i < n; i++) {
        KILN_TRY(check_name(names[i], i));
        float s = thresholds[i] / 127.0f;
        if (!(isfinite(s) && s > 0.0f))
            return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                              "calibration table: tensor '%.300s': threshold %g gives scale %g, "
                              "not a finite number > 0 (an all-zero or non-finite tensor?); keep "
                              "it out of INT8 instead",
                              names[i], (double)thresholds[i], (double)s);
    }
    if (n > 1) { /* duplicates */
        const char **tmp = malloc((size_t)n * sizeof *tmp);
        if (!tmp)
            return kiln_error(KILN_ERR_NO_MEMORY, "calibration table: %lld names", (long long)n);
        memcpy(tmp, names, (size_t)n * sizeof *tmp);
        qsort(tmp, (size_t)n, sizeof *tmp, cmp_str_ptr);
        for (int64_t i = 1; i < n; i++) {
            if (strcmp(tmp[i - 1], tmp[i]) == 0) {
                kiln_status s =
                    kiln_error(KILN_ERR_INVALID_ARGUMENT,
                               "calibration table: tensor '%.300s' given twice", tmp[i]);
                free(tmp);
                return s;
            }
        }
        free(tmp);
    }
    char shape[KILN_MAX_RANK * 24];
    format_shape(shape, sizeof shape, info->shape_rank, info->shape);
    sbuf b = {0};
    sb_printf(&b, HEADER_TAG " v%d kiln=%s key=%s algo=%s", KILN_CALIB_TABLE_VERSION,
              KILN_VERSION_STRING, info->key, kiln_calib_algo_name(info->algo));
    if (info->algo == KILN_CALIB_PERCENTILE) {
        char pb[48];
        format_percent(pb, sizeof pb, info->percentile);
        sb_printf(&b, " percentile=%s", pb);
    }
    sb_printf(&b, " samples=%lld shape=%s preprocess=%s\n", (long long)info->samples, shape,
              info->preprocess ? info->preprocess : "none");
    for (int64_t i = 0; i < n; i++) {
        float s = thresholds[i] / 127.0f;
        uint32_t bits;
        memcpy(&bits, &s, sizeof bits);
        sb_printf(&b, "%s: %08x\n", names[i], (unsigned)bits);
    }
    if (b.oom) {
        free(b.p);
        return kiln_error(KILN_ERR_NO_MEMORY, "calibration table: formatting %lld tensors",
                          (long long)n);
    }
    *text = b.p;
    *len = b.len;
    return KILN_OK;
}

kiln_status kiln_calib_table_path(char *buf, size_t n, const char *model_dir, const char *key) {
    int k = snprintf(buf, n, "%s/_opt_cache/trt_calib_%s", model_dir, key);
    if (k < 0 || (size_t)k >= n)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "path too long: %s/_opt_cache/trt_calib_%s",
                          model_dir, key);
    return KILN_OK;
}

kiln_status kiln_calib_table_write(const char *path, const kiln_calib_table_info *info,
                                   const char *const *names, const float *thresholds, int64_t n) {
    char *text;
    size_t len;
    KILN_TRY(kiln_calib_table_format(info, names, thresholds, n, &text, &len));
    char dir[4096];
    size_t pl = strlen(path);
    const char *slash = strrchr(path, '/');
    kiln_status s = pl ? KILN_OK : kiln_error(KILN_ERR_INVALID_ARGUMENT, "empty table path");
    if (s == KILN_OK && slash && slash != path) {
        size_t dl = (size_t)(slash - path);
        if (dl >= sizeof dir) {
            free(text);
            return kiln_error(KILN_ERR_INVALID_ARGUMENT, "path too long: %s", path);
        }
        memcpy(dir, path, dl);
        dir[dl] = 0;
        s = kiln_mkdirs(dir);
    }
    if (s == KILN_OK) s = kiln_write_file_atomic(path, text, len);
    free(text);
    return s;
}

/* ---- reading ------------------------------------------------------------ */

void kiln_calib_table_destroy(kiln_calib_table *t) {
    if (!t) return;
    free(t->entries);
    free(t->sorted);
    free(t->storage);
    free(t);
}

/* Our header line (already NUL-terminated, no control bytes). */
static kiln_status parse_kiln_header(kiln_calib_table *t, char *s) {
    const char *path = t->path;
    char *tok[64];
    int nt = 0;
    for (char *p = s; *p;) {
        while (*p == ' ')
            *p++ = 0;
        if (!*p) break;
        if (nt == 64) return table_error(path, 1, "header has more than 64 fields");
        tok[nt++] = p;
        while (*p && *p != ' ')
            p++;
    }
    if (nt < 2 || tok[1][0] != 'v')
        return table_error(path, 1, "header lacks a format version (`" HEADER_TAG " v1 ...`)");
    int64_t ver;
    if (!parse_u63(tok[1] + 1, 1000000, &ver) || ver < 1)
        return table_error(path, 1, "bad format version '%.40s'", tok[1]);
    if (ver > KILN_CALIB_TABLE_VERSION)
        return table_error(path, 1,
                           "table format v%lld was written by a newer Kiln; this Kiln (%s) "
                           "reads v%d",
                           (long long)ver, KILN_VERSION_STRING, KILN_CALIB_TABLE_VERSION);
    t->version = (int32_t)ver;
    int seen_key = 0, seen_algo = 0, seen_samples = 0, seen_shape = 0;
    for (int i = 2; i < nt; i++) {
        char *eq = strchr(tok[i], '=');
        if (!eq || eq == tok[i])
            return table_error(path, 1, "header field '%.80s' is not key=value", tok[i]);
        *eq = 0;
        const char *k = tok[i], *v = eq + 1;
        int *seen = NULL;
        if (strcmp(k, "key") == 0) {
            if (!is_hex_key(v))
                return table_error(path, 1, "key '%.40s' is not 16 lowercase hex digits", v);
            t->key = v;
            seen = &seen_key;
        } else if (strcmp(k, "algo") == 0) {
            int a;
            for (a = 0; a < KILN_CALIB_ALGO_COUNT; a++)
                if (strcmp(v, kiln_calib_algo_name((kiln_calib_algo)a)) == 0) break;
            if (a == KILN_CALIB_ALGO_COUNT)
                return table_error(path, 1,
                                   "unknown algo '%.40s' (entropy, percentile, minmax or mse)", v);
            t->algo = (kiln_calib_algo)a;
            t->has_algo = 1;
            seen = &seen_algo;
        } else if (strcmp(k, "samples") == 0) {
            if (!parse_u63(v, INT64_MAX, &t->samples))
                return table_error(path, 1, "samples '%.40s' is not a count", v);
            seen = &seen_samples;
        } else if (strcmp(k, "shape") == 0) {
            if (!parse_shape(v, &t->shape_rank, t->shape))
                return table_error(path, 1, "shape '%.80s' is not like 1x3x224x224", v);
            seen = &seen_shape;
        } else if (strcmp(k, "percentile") == 0) {
            if (!parse_percent(v, &t->percentile))
                return table_error(path, 1, "percentile '%.40s' is not in [0, 100]", v);
        } else if (strcmp(k, "kiln") == 0) {
            t->kiln_version = v;
        } else if (strcmp(k, "preprocess") == 0) {
            t->preprocess = v;
        } /* unknown keys: ignored (forward compatibility) */
        if (seen) {
            if (*seen) return table_error(path, 1, "header field '%s' appears twice", k);
            *seen = 1;
        }
    }
    const char *missing = !seen_key       ? "key"
                          : !seen_algo    ? "algo"
                          : !seen_samples ? "samples"
                          : !seen_shape   ? "shape"
                                          : NULL;
    if (missing) return table_error(path, 1, "header lacks the field '%s='", missing);
    return KILN_OK;
}

/* `TRT-<digits>-<algorithm>` */
static kiln_status parse_trt_header(kiln_calib_table *t, char *s) {
    char *p = s + 4, *dash = strchr(p, '-');
    if (!dash) return table_error(t->path, 1, "TensorRT header '%.80s' lacks '-<algorithm>'", s);
    *dash = 0;
    if (!parse_u63(p, 1000000000, &t->trt_version))
        return table_error(t->path, 1, "TensorRT header: version '%.40s' is not a number", p);
    const char *algo = dash + 1;
    size_t a;
    for (a = 0; a < sizeof trt_algos / sizeof *trt_algos; a++)
        if (strcmp(algo, trt_algos[a]) == 0) break;
    if (a == sizeof trt_algos / sizeof *trt_algos)
        return table_error(t->path, 1,
                           "TensorRT header: unknown algorithm '%.80s' (EntropyCalibration2, "
                           "EntropyCalibration, MinMaxCalibration or LegacyCalibration)",
                           algo);
    t->is_trt = 1;
    t->trt_algo = trt_algos[a];
    t->has_algo = a <= 2;
    t->algo = a == 2 ? KILN_CALIB_MINMAX : KILN_CALIB_ENTROPY;
    return KILN_OK;
}

/* `<name>: <1..8 hex digits>`, name up to the last ": ". */
static kiln_status parse_entry(kiln_calib_table *t, char *s, size_t len, int64_t line,
                               size_t *cap) {
    size_t sep = 0;
    int found = 0;
    for (size_t i = len; i >= 2; i--) {
        if (s[i - 2] == ':' && s[i - 1] == ' ') {
            sep = i - 2;
            found = 1;
            break;
        }
    }
    if (!found)
        return table_error(t->path, line, "expected `<tensor name>: <8 hex digits>`, got '%.80s'",
                           s);
    if (sep == 0) return table_error(t->path, line, "empty tensor name");
    const char *hex = s + sep + 2;
    size_t nh = strlen(hex);
    if (nh < 1 || nh > 8)
        return table_error(t->path, line, "scale '%.40s' is not 1 to 8 hex digits", hex);
    uint32_t bits = 0;
    for (size_t i = 0; i < nh; i++) {
        int c = hex[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return table_error(t->path, line, "scale '%.40s' is not 1 to 8 hex digits", hex);
        bits = bits << 4 | (uint32_t)d;
    }
    s[sep] = 0;
    float f;
    memcpy(&f, &bits, sizeof f);
    if (!(isfinite(f) && f > 0.0f))
        return table_error(t->path, line, "tensor '%.300s': scale %08x is %s, not a number > 0", s,
                           (unsigned)bits,
                           isnan(f)   ? "NaN"
                           : isinf(f) ? "infinite"
                           : f == 0   ? "zero"
                                      : "negative");
    if ((size_t)t->n_entries == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        kiln_calib_entry *e = realloc(t->entries, nc * sizeof *e);
        if (!e) return kiln_error(KILN_ERR_NO_MEMORY, "%s: %zu entries", t->path, nc);
        t->entries = e;
        *cap = nc;
    }
    kiln_calib_entry *e = &t->entries[t->n_entries++];
    e->name = s;
    e->scale = f;
    e->bits = bits;
    e->line = line;
    return KILN_OK;
}

static int cmp_entry_ptr(const void *a, const void *b) {
    const kiln_calib_entry *x = *(const kiln_calib_entry *const *)a;
    const kiln_calib_entry *y = *(const kiln_calib_entry *const *)b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* Builds t->sorted; a duplicate name is an error naming both lines (the pair
 * whose second occurrence comes first in the file). */
static kiln_status index_entries(kiln_calib_table *t) {
    int64_t n = t->n_entries;
    if (n == 0) return KILN_OK;
    kiln_calib_entry **tmp = malloc((size_t)n * sizeof *tmp);
    t->sorted = malloc((size_t)n * sizeof *t->sorted);
    if (!tmp || !t->sorted) {
        free(tmp);
        return kiln_error(KILN_ERR_NO_MEMORY, "%s: %lld entries", t->path, (long long)n);
    }
    for (int64_t i = 0; i < n; i++)
        tmp[i] = &t->entries[i];
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_entry_ptr);
    const kiln_calib_entry *d1 = NULL, *d2 = NULL;
    for (int64_t i = 0; i < n; i++) {
        t->sorted[i] = tmp[i] - t->entries;
        if (i > 0 && strcmp(tmp[i - 1]->name, tmp[i]->name) == 0 &&
            (!d2 || tmp[i]->line < d2->line))
            d1 = tmp[i - 1], d2 = tmp[i];
    }
    free(tmp);
    if (d2) {
        /* report the first occurrence of that name, not the previous duplicate */
        const kiln_calib_entry *first = d1;
        for (int64_t i = 0; i < n; i++)
            if (strcmp(t->entries[i].name, d2->name) == 0) {
                first = &t->entries[i];
                break;
            }
        return table_error(t->path, d2->line, "tensor '%.300s' appears twice (also at line %lld)",
                           d2->name, (long long)first->line);
    }
    return KILN_OK;
}

kiln_status kiln_calib_table_parse(const char *data, size_t n, const char *name,
                                   kiln_calib_table **out) {
    *out = NULL;
    if (!name) name = "(calibration table)";
    if (n == 0 || !data) return table_error(name, 1, "empty file");
    size_t nl_name = strlen(name);
    if (n > SIZE_MAX / 2 - nl_name)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "%s: table too large", name);
    kiln_calib_table *t = calloc(1, sizeof *t);
    char *st = malloc(n + 1 + nl_name + 1);
    if (!t || !st) {
        free(t);
        free(st);
        return kiln_error(KILN_ERR_NO_MEMORY, "%s: %zu bytes", name, n);
    }
    memcpy(st, data, n);
    st[n] = 0;
    memcpy(st + n + 1, name, nl_name + 1);
    t->storage = st;
    t->path = st + n + 1;
    t->trt_algo = t->kiln_version = t->key = t->preprocess = "";
    t->percentile = -1.0;
    t->samples = -1;

    kiln_status s = KILN_OK;
    size_t pos = 0, cap = 0;
    if (n >= 3 && memcmp(st, "\xef\xbb\xbf", 3) == 0) pos = 3; /* UTF-8 BOM */
    int64_t line = 0;
    int have_header = 0;
    while (pos < n && s == KILN_OK) {
        line++;
        char *ln = st + pos;
        char *nl = memchr(ln, '\n', n - pos);
        size_t len = nl ? (size_t)(nl - ln) : n - pos;
        pos += len + (nl ? 1 : 0);
        if (len && ln[len - 1] == '\r') len--;
        ln[len] = 0;
        int64_t bad = first_control((const unsigned char *)ln, len);
        if (bad >= 0) {
            s = table_error(t->path, line, "control byte 0x%02x at column %lld (not a text table)",
                            (unsigned char)ln[bad], (long long)bad + 1);
            break;
        }
        if ((bad = utf8_bad((const unsigned char *)ln, len)) >= 0) {
            s = table_error(t->path, line, "invalid UTF-8 at column %lld (not a text table)",
                            (long long)bad + 1);
            break;
        }
        if (!have_header) {
            have_header = 1;
            if (strncmp(ln, HEADER_TAG, strlen(HEADER_TAG)) == 0 &&
                (ln[strlen(HEADER_TAG)] == ' ' || ln[strlen(HEADER_TAG)] == 0))
                s = parse_kiln_header(t, ln);
            else if (strncmp(ln, "TRT-", 4) == 0)
                s = parse_trt_header(t, ln);
            else
                s = table_error(t->path, line,
                                "not a calibration table: the first line is '%.60s', expected "
                                "`" HEADER_TAG " v1 ...` or `TRT-<version>-<algorithm>`",
                                ln);
            continue;
        }
        if (len == 0) continue; /* blank lines are ignored */
        s = parse_entry(t, ln, len, line, &cap);
    }
    if (s == KILN_OK && !have_header) s = table_error(t->path, 1, "empty file");
    if (s == KILN_OK) s = index_entries(t);
    if (s != KILN_OK) {
        kiln_calib_table_destroy(t);
        return s;
    }
    *out = t;
    return KILN_OK;
}

kiln_status kiln_calib_table_load(const char *path, kiln_calib_table **out) {
    *out = NULL;
    kiln_mapping m;
    KILN_TRY(kiln_map_file(path, &m));
    kiln_status s = kiln_calib_table_parse((const char *)m.data, m.size, path, out);
    kiln_unmap(&m);
    return s;
}

/* ---- use ---------------------------------------------------------------- */

kiln_status kiln_calib_table_check(const kiln_calib_table *t, const char *key, int32_t rank,
                                   const int64_t *shape, int *no_key) {
    if (no_key) *no_key = 0;
    if (!t || !key || rank < 0 || rank > KILN_MAX_RANK || (rank && !shape))
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "calibration table check: bad arguments");
    if (t->is_trt) {
        if (no_key) *no_key = 1;
        return KILN_OK;
    }
    int same_shape = t->shape_rank == rank;
    for (int32_t i = 0; same_shape && i < rank; i++)
        same_shape = t->shape[i] == shape[i];
    if (same_shape && strcmp(t->key, key) == 0) return KILN_OK;
    char ts[KILN_MAX_RANK * 24], ms[KILN_MAX_RANK * 24];
    format_shape(ts, sizeof ts, t->shape_rank, t->shape);
    format_shape(ms, sizeof ms, rank, shape);
    return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                      "%s: this calibration table belongs to another model or input shape "
                      "(table: key %s, shape %s; this model: key %.40s, shape %s); delete the "
                      "file or run `kiln calibrate` to regenerate it",
                      t->path, t->key, ts, key, ms);
}

const kiln_calib_entry *kiln_calib_table_find(const kiln_calib_table *t, const char *name) {
    if (!t || !name) return NULL;
    int64_t lo = 0, hi = t->n_entries;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        const kiln_calib_entry *e = &t->entries[t->sorted[mid]];
        int c = strcmp(e->name, name);
        if (c == 0) return e;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

kiln_status kiln_calib_table_threshold(const kiln_calib_table *t, const char *name, float *T) {
    const kiln_calib_entry *e = kiln_calib_table_find(t, name);
    if (!e)
        return kiln_error(KILN_ERR_NOT_FOUND,
                          "%s: no calibration entry for tensor '%.300s'; " KILN_CALIB_REGEN_HINT,
                          t ? t->path : "(no table)", name ? name : "(null)");
    *T = e->scale * 127.0f;
    return KILN_OK;
}
