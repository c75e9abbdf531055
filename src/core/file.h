/*
 * file.h — read-only file mappings (mmap) and atomic file writes.
 * Non-goals: writable mappings, Windows.
 */
#ifndef KILN_CORE_FILE_H
#define KILN_CORE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

typedef struct kiln_mapping {
    const uint8_t *data; /* NULL for an empty file */
    size_t size;
    void *base; /* what munmap needs (NULL if not mapped) */
    size_t map_size;
} kiln_mapping;

/* Maps `path` read-only. Errors name the path. */
kiln_status kiln_map_file(const char *path, kiln_mapping *out);
void kiln_unmap(kiln_mapping *m);

/* True if path names an existing regular file / directory. */
int kiln_is_file(const char *path);
int kiln_is_dir(const char *path);

/* Writes `n` bytes to `path` atomically: to "<path>.tmp.<pid>" then rename,
 * so readers never see a half-written file. */
kiln_status kiln_write_file_atomic(const char *path, const void *data, size_t n);

/* mkdir -p */
kiln_status kiln_mkdirs(const char *path);

/* Joins dir and name with '/' into buf (size n); errors if it does not fit. */
kiln_status kiln_path_join(char *buf, size_t n, const char *dir, const char *name);

#endif
