/*
 * pb_write.c — protobuf wire-format writer (see pb_write.h).
 */
#include <stdlib.h>
#include <string.h>

#include "load/pb_write.h"

void kiln_pbw_free(kiln_pbw *w) {
    free(w->data);
    memset(w, 0, sizeof *w);
}

void kiln_pbw_raw(kiln_pbw *w, const void *p, size_t n) {
    if (w->failed || n == 0) return;
    if (w->size + n > w->cap) {
        size_t nc = w->cap ? w->cap : 256;
        while (nc < w->size + n)
            nc *= 2;
        uint8_t *q = realloc(w->data, nc);
        if (!q) {
            w->failed = 1;
            return;
        }
        w->data = q;
        w->cap = nc;
    }
    memcpy(w->data + w->size, p, n);
    w->size += n;
}

void kiln_pbw_varint_raw(kiln_pbw *w, uint64_t v) {
    uint8_t b[10];
    size_t n = 0;
    do {
        b[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) b[n] |= 0x80;
        n++;
    } while (v);
    kiln_pbw_raw(w, b, n);
}

static void tag(kiln_pbw *w, uint32_t field, int wire) {
    kiln_pbw_varint_raw(w, ((uint64_t)field << 3) | (uint64_t)wire);
}

void kiln_pbw_varint(kiln_pbw *w, uint32_t field, uint64_t v) {
    tag(w, field, 0);
    kiln_pbw_varint_raw(w, v);
}

void kiln_pbw_int64(kiln_pbw *w, uint32_t field, int64_t v) {
    kiln_pbw_varint(w, field, (uint64_t)v);
}

void kiln_pbw_fixed32(kiln_pbw *w, uint32_t field, uint32_t bits) {
    uint8_t b[4] = {(uint8_t)bits, (uint8_t)(bits >> 8), (uint8_t)(bits >> 16),
                    (uint8_t)(bits >> 24)};
    tag(w, field, 5);
    kiln_pbw_raw(w, b, 4);
}

void kiln_pbw_float(kiln_pbw *w, uint32_t field, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    kiln_pbw_fixed32(w, field, u);
}

void kiln_pbw_double(kiln_pbw *w, uint32_t field, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(u >> (8 * i));
    tag(w, field, 1);
    kiln_pbw_raw(w, b, 8);
}

void kiln_pbw_bytes(kiln_pbw *w, uint32_t field, const void *p, size_t n) {
    tag(w, field, 2);
    kiln_pbw_varint_raw(w, n);
    kiln_pbw_raw(w, p, n);
}

void kiln_pbw_string(kiln_pbw *w, uint32_t field, const char *s) {
    kiln_pbw_bytes(w, field, s, strlen(s));
}

void kiln_pbw_message(kiln_pbw *w, uint32_t field, const kiln_pbw *child) {
    if (child->failed) w->failed = 1;
    kiln_pbw_bytes(w, field, child->data, child->size);
}
