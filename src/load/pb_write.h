/*
 * pb_write.h — a small protobuf wire-format writer into a growable buffer,
 * for exporting models (Paddle ProgramDesc, ONNX ModelProto).
 *
 * Nested messages: write the child into its own kiln_pbw, then
 * kiln_pbw_bytes(parent, field, child.data, child.size).
 * Errors (out of memory) are sticky: check w.failed once at the end.
 *
 * Non-goals: schemas, packed encoding choice (callers pick per field).
 */
#ifndef KILN_LOAD_PB_WRITE_H
#define KILN_LOAD_PB_WRITE_H

#include <stddef.h>
#include <stdint.h>

typedef struct kiln_pbw {
    uint8_t *data;
    size_t size, cap;
    int failed; /* out of memory happened */
} kiln_pbw;

void kiln_pbw_free(kiln_pbw *w);
void kiln_pbw_raw(kiln_pbw *w, const void *p, size_t n);
void kiln_pbw_varint_raw(kiln_pbw *w, uint64_t v);
void kiln_pbw_varint(kiln_pbw *w, uint32_t field, uint64_t v); /* int32/int64/bool/enum */
void kiln_pbw_int64(kiln_pbw *w, uint32_t field, int64_t v);   /* negative -> 10 bytes */
void kiln_pbw_fixed32(kiln_pbw *w, uint32_t field, uint32_t bits);
void kiln_pbw_float(kiln_pbw *w, uint32_t field, float v);
void kiln_pbw_double(kiln_pbw *w, uint32_t field, double v);
void kiln_pbw_bytes(kiln_pbw *w, uint32_t field, const void *p, size_t n);
void kiln_pbw_string(kiln_pbw *w, uint32_t field, const char *s);
void kiln_pbw_message(kiln_pbw *w, uint32_t field, const kiln_pbw *child);

#endif
