/*
 * file.c — mmap'ed reads, atomic writes, small path helpers.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "core/status.h"

kiln_status kiln_map_file(const char *path, kiln_mapping *out) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return kiln_error(KILN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return kiln_error(KILN_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return kiln_error(KILN_ERR_IO, "%s: not a regular file", path);
    }
    out->size = (size_t)st.st_size;
    if (out->size == 0) {
        close(fd);
        return KILN_OK;
    }
    void *p = mmap(NULL, out->size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return kiln_error(KILN_ERR_IO, "%s: cannot mmap: %s", path, strerror(e));
    out->base = p;
    out->map_size = out->size;
    out->data = (const uint8_t *)p;
    return KILN_OK;
}

void kiln_unmap(kiln_mapping *m) {
    if (m->base) munmap(m->base, m->map_size);
    memset(m, 0, sizeof *m);
}

int kiln_is_file(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int kiln_is_dir(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

kiln_status kiln_path_join(char *buf, size_t n, const char *dir, const char *name) {
    int k = snprintf(buf, n, "%s/%s", dir, name);
    if (k < 0 || (size_t)k >= n)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "path too long: %s/%s", dir, name);
    return KILN_OK;
}

kiln_status kiln_write_file_atomic(const char *path, const void *data, size_t n) {
    char tmp[4096];
    int k = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (k < 0 || (size_t)k >= sizeof tmp)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "path too long: %s", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return kiln_error(KILN_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    int flush_err = fflush(f) != 0 || fsync(fileno(f)) != 0;
    int close_err = fclose(f) != 0;
    if (w != n || flush_err || close_err) {
        int e = errno;
        unlink(tmp);
        return kiln_error(KILN_ERR_IO, "%s: write failed: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return kiln_error(KILN_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(e));
    }
    return KILN_OK;
}

kiln_status kiln_mkdirs(const char *path) {
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buf)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "bad directory path '%s'", path);
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0775) != 0 && errno != EEXIST)
                return kiln_error(KILN_ERR_IO, "%s: cannot create directory: %s", buf,
                                  strerror(errno));
            buf[i] = c;
        }
    }
    if (!kiln_is_dir(path)) return kiln_error(KILN_ERR_IO, "%s: not a directory", path);
    return KILN_OK;
}
