/*
 * pb_wire.h — a zero-copy protobuf wire-format reader over a byte range.
 *
 * A kiln_pb cursor walks one message's fields; length-delimited fields are
 * returned as sub-ranges of the same buffer (no copies). Every read is
 * bounds-checked; errors carry the absolute byte offset so loaders can say
 * "file X, offset N: ...".
 *
 *   kiln_pb m = kiln_pb_init(data, size, 0);
 *   kiln_pb_field f;
 *   while (kiln_pb_next(&m, &f) == 1) { switch (f.number) { ... } }
 *   if (m.error) ...   // kiln_pb_next returned -1
 *
 * Non-goals: schemas, reflection, groups (wire types 3/4 are an error).
 */
#ifndef KILN_LOAD_PB_WIRE_H
#define KILN_LOAD_PB_WIRE_H

#include <stddef.h>
#include <stdint.h>

enum { KILN_PB_VARINT = 0, KILN_PB_FIXED64 = 1, KILN_PB_LEN = 2, KILN_PB_FIXED32 = 5 };

typedef struct kiln_pb {
    const uint8_t *p;      /* current position */
    const uint8_t *end;    /* end of this message */
    size_t base;           /* absolute file offset of the buffer start... */
    const uint8_t *origin; /* ...which is this pointer */
    const char *error;     /* static description of the first error, or NULL */
    size_t error_offset;   /* absolute offset of the first error */
} kiln_pb;

typedef struct kiln_pb_field {
    uint32_t number;
    int wire_type;
    uint64_t varint;     /* VARINT, FIXED64 (raw bits), FIXED32 (raw bits) */
    const uint8_t *data; /* LEN: payload */
    size_t len;          /* LEN: payload size */
    size_t offset;       /* absolute offset of the field's tag */
} kiln_pb_field;

/* A cursor over data[0..size); base_offset is data's offset in its file. */
kiln_pb kiln_pb_init(const uint8_t *data, size_t size, size_t base_offset);

/* A cursor over a LEN field's payload, keeping absolute offsets. */
kiln_pb kiln_pb_sub(const kiln_pb *parent, const kiln_pb_field *f);

/* 1: a field was read into *f; 0: end of message; -1: malformed (see ->error). */
int kiln_pb_next(kiln_pb *m, kiln_pb_field *f);

/* Absolute offset of the cursor. */
size_t kiln_pb_offset(const kiln_pb *m);

/* Field value helpers. */
static inline int32_t kiln_pb_int32(const kiln_pb_field *f) {
    return (int32_t)(uint32_t)f->varint;
}
static inline int64_t kiln_pb_int64(const kiln_pb_field *f) {
    return (int64_t)f->varint;
}
float kiln_pb_float(const kiln_pb_field *f);   /* FIXED32 */
double kiln_pb_double(const kiln_pb_field *f); /* FIXED64 */

/* Repeated scalars, packed or not: for a field of a repeated numeric type,
 * call this for every occurrence; a packed (LEN) occurrence yields several
 * values. Calls cb(user, raw_bits) per element; `elem_wire` is the element's
 * wire type (VARINT, FIXED32, FIXED64). Returns 0 on success, -1 on malformed
 * data (sets m->error). */
int kiln_pb_repeated(kiln_pb *m, const kiln_pb_field *f, int elem_wire,
                     int (*cb)(void *user, uint64_t bits), void *user);

/* Reads one varint at *p (bounded by end); returns bytes used, 0 if bad. */
size_t kiln_pb_read_varint(const uint8_t *p, const uint8_t *end, uint64_t *out);

#endif
