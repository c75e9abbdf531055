/*
 * pb_wire.c — protobuf wire-format cursor (see pb_wire.h).
 */
#include <string.h>

#include "load/pb_wire.h"

kiln_pb kiln_pb_init(const uint8_t *data, size_t size, size_t base_offset) {
    kiln_pb m;
    m.p = data;
    m.end = data + size;
    m.origin = data;
    m.base = base_offset;
    m.error = NULL;
    m.error_offset = 0;
    return m;
}

size_t kiln_pb_offset(const kiln_pb *m) {
    return m->base + (size_t)(m->p - m->origin);
}

kiln_pb kiln_pb_sub(const kiln_pb *parent, const kiln_pb_field *f) {
    kiln_pb m = *parent;
    m.p = f->data;
    m.end = f->data + f->len;
    m.error = NULL;
    m.error_offset = 0;
    return m;
}

size_t kiln_pb_read_varint(const uint8_t *p, const uint8_t *end, uint64_t *out) {
    uint64_t v = 0;
    for (size_t i = 0; i < 10; i++) {
        if (p + i >= end) return 0;
        uint8_t b = p[i];
        if (i == 9 && b > 1) return 0; /* more than 64 bits */
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            return i + 1;
        }
    }
    return 0;
}

static int fail(kiln_pb *m, const char *what, const uint8_t *at) {
    if (!m->error) {
        m->error = what;
        m->error_offset = m->base + (size_t)(at - m->origin);
    }
    return -1;
}

int kiln_pb_next(kiln_pb *m, kiln_pb_field *f) {
    if (m->error) return -1;
    if (m->p >= m->end) return 0;
    const uint8_t *start = m->p;
    uint64_t tag;
    size_t n = kiln_pb_read_varint(m->p, m->end, &tag);
    if (!n) return fail(m, "truncated or overlong field tag", start);
    m->p += n;
    memset(f, 0, sizeof *f);
    f->offset = m->base + (size_t)(start - m->origin);
    f->wire_type = (int)(tag & 7);
    if ((tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) return fail(m, "invalid field number", start);
    f->number = (uint32_t)(tag >> 3);
    switch (f->wire_type) {
    case KILN_PB_VARINT:
        n = kiln_pb_read_varint(m->p, m->end, &f->varint);
        if (!n) return fail(m, "truncated or overlong varint", m->p);
        m->p += n;
        return 1;
    case KILN_PB_FIXED64:
        if (m->end - m->p < 8) return fail(m, "truncated fixed64", m->p);
        f->varint = 0;
        for (int i = 7; i >= 0; i--)
            f->varint = (f->varint << 8) | m->p[i];
        m->p += 8;
        return 1;
    case KILN_PB_FIXED32:
        if (m->end - m->p < 4) return fail(m, "truncated fixed32", m->p);
        f->varint = (uint64_t)m->p[0] | (uint64_t)m->p[1] << 8 | (uint64_t)m->p[2] << 16 |
                    (uint64_t)m->p[3] << 24;
        m->p += 4;
        return 1;
    case KILN_PB_LEN: {
        uint64_t len;
        n = kiln_pb_read_varint(m->p, m->end, &len);
        if (!n) return fail(m, "truncated length prefix", m->p);
        m->p += n;
        if (len > (uint64_t)(m->end - m->p))
            return fail(m, "length-delimited field runs past the end of its message", start);
        f->data = m->p;
        f->len = (size_t)len;
        m->p += len;
        return 1;
    }
    default: return fail(m, "unsupported wire type (groups or invalid)", start);
    }
}

float kiln_pb_float(const kiln_pb_field *f) {
    uint32_t u = (uint32_t)f->varint;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

double kiln_pb_double(const kiln_pb_field *f) {
    double x;
    memcpy(&x, &f->varint, 8);
    return x;
}

int kiln_pb_repeated(kiln_pb *m, const kiln_pb_field *f, int elem_wire,
                     int (*cb)(void *user, uint64_t bits), void *user) {
    if (f->wire_type == elem_wire)
        return cb(user, f->varint) == 0 ? 0 : fail(m, "too many elements", m->p);
    if (f->wire_type != KILN_PB_LEN)
        return fail(m, "repeated field has an unexpected wire type", m->p);
    const uint8_t *p = f->data, *end = f->data + f->len;
    while (p < end) {
        uint64_t v = 0;
        if (elem_wire == KILN_PB_VARINT) {
            size_t n = kiln_pb_read_varint(p, end, &v);
            if (!n) return fail(m, "truncated varint in packed field", p);
            p += n;
        } else {
            size_t w = elem_wire == KILN_PB_FIXED32 ? 4 : 8;
            if ((size_t)(end - p) < w) return fail(m, "truncated packed fixed-width field", p);
            for (size_t i = w; i-- > 0;)
                v = (v << 8) | p[i];
            p += w;
        }
        if (cb(user, v) != 0) return fail(m, "too many elements", p);
    }
    return 0;
}
