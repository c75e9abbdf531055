/*
 * input.c — from input files to tensors: one file (image or raw `.bin`
 * float32 tensor) into a preprocessed CHW buffer, and the lists of input
 * files a calibration or batch run walks (a directory, or a list file).
 * Calibration and inference both call kiln_image_load_tensor, so they can
 * never disagree on preprocessing.
 * Non-goals: recursion into subdirectories, globbing, URLs.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/file.h"
#include "core/status.h"
#include "image/image.h"

static int has_ext(const char *name, const char *ext) {
    size_t n = strlen(name), e = strlen(ext);
    return n > e && strcasecmp(name + n - e, ext) == 0;
}

static int is_input_name(const char *name) {
    return has_ext(name, ".jpg") || has_ext(name, ".jpeg") || has_ext(name, ".png") ||
           has_ext(name, ".bin");
}

/* Reads numel little-endian float32 values; `shape` describes them. */
static kiln_status load_bin(const char *path, int64_t numel, const char *shape, float *dst) {
    kiln_mapping m;
    KILN_TRY(kiln_map_file(path, &m));
    size_t want = (size_t)numel * 4;
    if (m.size != want) {
        size_t got = m.size;
        kiln_unmap(&m);
        return kiln_error(KILN_ERR_SHAPE,
                          "%s: a .bin input must hold exactly %lld float32 values (%zu bytes, "
                          "%s, little-endian), but the file has %zu bytes",
                          path, (long long)numel, want, shape, got);
    }
    for (int64_t i = 0; i < numel; i++) {
        const uint8_t *q = m.data + (size_t)i * 4;
        uint32_t u =
            (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
        float f;
        memcpy(&f, &u, 4);
        if (!isfinite(f)) {
            kiln_unmap(&m);
            return kiln_error(KILN_ERR_FORMAT, "%s: offset %lld: value %lld is %s", path,
                              (long long)i * 4, (long long)i, isnan(f) ? "NaN" : "infinite");
        }
        dst[i] = f;
    }
    kiln_unmap(&m);
    return KILN_OK;
}

kiln_status kiln_image_load_bin(const char *path, int64_t numel, float *dst) {
    if (!path || !dst || numel < 1)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "kiln_image_load_bin: bad arguments");
    return load_bin(path, numel, "flat", dst);
}

kiln_status kiln_image_load_tensor(const char *path, const kiln_preprocess *p, float *dst) {
    if (!path || !dst)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "kiln_image_load_tensor: NULL argument");
    KILN_TRY(kiln_preprocess_validate(p));
    if (has_ext(path, ".bin")) {
        char shape[96];
        snprintf(shape, sizeof shape, "NCHW [1,3,%lld,%lld]", (long long)p->crop,
                 (long long)p->crop);
        return load_bin(path, kiln_preprocess_numel(p), shape, dst);
    }
    kiln_image img;
    KILN_TRY(kiln_image_load(path, &img));
    kiln_status s = kiln_image_preprocess(&img, p, dst);
    kiln_image_free(&img);
    if (s != KILN_OK) return kiln_error_prefix(s, "%s", path);
    return KILN_OK;
}

/* ---- lists --------------------------------------------------------------- */

typedef struct path_list {
    char **v;
    size_t n, cap;
} path_list;

static kiln_status list_push(path_list *l, char *s) {
    if (!s) return kiln_error(KILN_ERR_NO_MEMORY, "image list: no memory for a path");
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            free(s);
            return kiln_error(KILN_ERR_NO_MEMORY, "image list: no memory for %zu paths", cap);
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = s;
    return KILN_OK;
}

void kiln_image_list_free(char **paths, size_t n) {
    if (!paths) return;
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
}

static char *join(const char *dir, const char *name, size_t name_len) {
    size_t dl = strlen(dir);
    int slash = dl > 0 && dir[dl - 1] != '/';
    char *s = malloc(dl + (size_t)slash + name_len + 1);
    if (!s) return NULL;
    memcpy(s, dir, dl);
    if (slash) s[dl] = '/';
    memcpy(s + dl + (size_t)slash, name, name_len);
    s[dl + (size_t)slash + name_len] = '\0';
    return s;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

kiln_status kiln_image_list_dir(const char *dir, char ***paths, size_t *n) {
    if (!dir || !paths || !n)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "kiln_image_list_dir: NULL argument");
    *paths = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return kiln_error(KILN_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
    path_list l = {0};
    kiln_status s = KILN_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        /* dot files are skipped (".", "..", macOS "._x.jpg" resource forks) */
        if (e->d_name[0] == '.' || !is_input_name(e->d_name)) continue;
        char *p = join(dir, e->d_name, strlen(e->d_name));
        struct stat st;
        if (p && (stat(p, &st) != 0 || !S_ISREG(st.st_mode))) {
            free(p);
            continue;
        }
        if ((s = list_push(&l, p)) != KILN_OK) break;
    }
    closedir(d);
    if (s == KILN_OK && l.n == 0)
        s = kiln_error(KILN_ERR_NOT_FOUND, "no images (.jpg .jpeg .png .bin) in %s", dir);
    if (s != KILN_OK) {
        kiln_image_list_free(l.v, l.n);
        return s;
    }
    /* all paths share the "dir/" prefix, so this is the order of the names */
    qsort(l.v, l.n, sizeof *l.v, cmp_str);
    *paths = l.v;
    *n = l.n;
    return KILN_OK;
}

kiln_status kiln_image_list_file(const char *listfile, char ***paths, size_t *n) {
    if (!listfile || !paths || !n)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "kiln_image_list_file: NULL argument");
    *paths = NULL;
    *n = 0;
    kiln_mapping m;
    KILN_TRY(kiln_map_file(listfile, &m));
    /* the list file's directory, to resolve relative paths against */
    const char *slash = strrchr(listfile, '/');
    char *base = NULL;
    if (slash) {
        size_t bl = (size_t)(slash - listfile) + 1; /* keep the '/' ("/x" -> "/") */
        base = malloc(bl + 1);
        if (!base) {
            kiln_unmap(&m);
            return kiln_error(KILN_ERR_NO_MEMORY, "%s: no memory", listfile);
        }
        memcpy(base, listfile, bl);
        base[bl] = '\0';
    }
    path_list l = {0};
    kiln_status s = KILN_OK;
    const char *t = (const char *)m.data;
    size_t pos = 0, line = 0;
    while (pos < m.size && s == KILN_OK) {
        size_t start = pos;
        while (pos < m.size && t[pos] != '\n')
            pos++;
        size_t end = pos;
        if (pos < m.size) pos++; /* the '\n' */
        line++;
        while (start < end && (t[start] == ' ' || t[start] == '\t'))
            start++;
        while (end > start && (t[end - 1] == ' ' || t[end - 1] == '\t' || t[end - 1] == '\r'))
            end--;
        if (start == end || t[start] == '#') continue;
        if (memchr(t + start, '\0', end - start)) {
            s = kiln_error(KILN_ERR_FORMAT, "%s: line %zu contains a NUL byte", listfile, line);
            break;
        }
        char *p = (t[start] == '/' || !base) ? join("", t + start, end - start)
                                             : join(base, t + start, end - start);
        s = list_push(&l, p);
    }
    free(base);
    kiln_unmap(&m);
    if (s == KILN_OK && l.n == 0)
        s = kiln_error(KILN_ERR_NOT_FOUND, "%s: the list names no image files", listfile);
    if (s != KILN_OK) {
        kiln_image_list_free(l.v, l.n);
        return s;
    }
    *paths = l.v;
    *n = l.n;
    return KILN_OK;
}
