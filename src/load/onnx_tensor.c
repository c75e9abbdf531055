/*
 * onnx_tensor.c — ONNX TensorProto decoding (see onnx_tensor.h).
 *
 * TensorProto fields: 1 dims, 2 data_type, 4 float_data, 5 int32_data,
 * 6 string_data, 7 int64_data, 8 name, 9 raw_data, 10 double_data,
 * 11 uint64_data, 13 external_data, 14 data_location.
 * Typed fields are counted before anything is allocated, so a tiny file
 * cannot make the decoder allocate more than it holds.
 */
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/status.h"
#include "load/onnx_tensor.h"

bool kiln_onnx_dtype_from_onnx(int32_t onnx_type, kiln_dtype *out) {
    switch (onnx_type) {
    case KILN_ONNX_FLOAT: *out = KILN_DT_F32; return true;
    case KILN_ONNX_UINT8: *out = KILN_DT_U8; return true;
    case KILN_ONNX_INT8: *out = KILN_DT_I8; return true;
    case KILN_ONNX_INT16: *out = KILN_DT_I16; return true;
    case KILN_ONNX_INT32: *out = KILN_DT_I32; return true;
    case KILN_ONNX_INT64: *out = KILN_DT_I64; return true;
    case KILN_ONNX_BOOL: *out = KILN_DT_BOOL; return true;
    case KILN_ONNX_FLOAT16: *out = KILN_DT_F16; return true;
    case KILN_ONNX_DOUBLE: *out = KILN_DT_F64; return true;
    default: return false;
    }
}

int32_t kiln_onnx_dtype_to_onnx(kiln_dtype t) {
    static const int32_t map[KILN_DT_COUNT] = {KILN_ONNX_FLOAT, KILN_ONNX_FLOAT16, KILN_ONNX_DOUBLE,
                                               KILN_ONNX_INT8,  KILN_ONNX_UINT8,   KILN_ONNX_INT16,
                                               KILN_ONNX_INT32, KILN_ONNX_INT64,   KILN_ONNX_BOOL};
    return (unsigned)t < KILN_DT_COUNT ? map[t] : 0;
}

const char *kiln_onnx_type_name(int32_t t) {
    static const char *const names[] = {"UNDEFINED",  "FLOAT",   "UINT8",  "INT8",   "UINT16",
                                        "INT16",      "INT32",   "INT64",  "STRING", "BOOL",
                                        "FLOAT16",    "DOUBLE",  "UINT32", "UINT64", "COMPLEX64",
                                        "COMPLEX128", "BFLOAT16"};
    if (t >= 0 && (size_t)t < sizeof names / sizeof names[0]) return names[t];
    return "(unknown/float8/int4 type)";
}

/* Which typed field carries a type's data (ONNX onnx.proto comments). */
static uint32_t typed_field(int32_t t) {
    switch (t) {
    case KILN_ONNX_FLOAT: return 4;
    case KILN_ONNX_INT64: return 7;
    case KILN_ONNX_DOUBLE: return 10;
    case KILN_ONNX_UINT32:
    case KILN_ONNX_UINT64: return 11;
    default: return 5; /* int32_data: int32/16/8, uint16/8, bool, float16 bits */
    }
}

static int typed_wire(uint32_t field) {
    return field == 4 ? KILN_PB_FIXED32 : field == 10 ? KILN_PB_FIXED64 : KILN_PB_VARINT;
}

/* Elements in one occurrence of a repeated scalar field; -1 if malformed. */
static int64_t count_elems(const kiln_pb_field *f, int elem_wire) {
    if (f->wire_type == elem_wire) return 1;
    if (f->wire_type != KILN_PB_LEN) return -1;
    if (elem_wire == KILN_PB_FIXED32) return f->len % 4 ? -1 : (int64_t)(f->len / 4);
    if (elem_wire == KILN_PB_FIXED64) return f->len % 8 ? -1 : (int64_t)(f->len / 8);
    int64_t n = 0;
    for (size_t i = 0; i < f->len; i++)
        if (!(f->data[i] & 0x80)) n++;
    if (f->len && (f->data[f->len - 1] & 0x80)) return -1;
    return n;
}

typedef struct fill_ctx {
    uint8_t *dst;
    kiln_dtype dtype;
    int64_t i, n;
} fill_ctx;

static int fill_cb(void *user, uint64_t bits) {
    fill_ctx *c = user;
    if (c->i >= c->n) return -1;
    size_t es = kiln_dtype_size(c->dtype);
    uint8_t *p = c->dst + (size_t)c->i * es;
    switch (c->dtype) {
    case KILN_DT_F32:
    case KILN_DT_I32: {
        uint32_t u = (uint32_t)bits;
        memcpy(p, &u, 4);
        break;
    }
    case KILN_DT_F64:
    case KILN_DT_I64: memcpy(p, &bits, 8); break;
    case KILN_DT_I16:
    case KILN_DT_F16: {
        uint16_t u = (uint16_t)bits;
        memcpy(p, &u, 2);
        break;
    }
    case KILN_DT_BOOL: *p = bits ? 1 : 0; break;
    default: *p = (uint8_t)bits; break; /* i8, u8 */
    }
    c->i++;
    return 0;
}

kiln_status kiln_onnx_tensor_parse(const kiln_pb *parent, const kiln_pb_field *f, const char *path,
                                   const char *what, size_t max_bytes, bool allow_borrow,
                                   kiln_onnx_tensor *out) {
    memset(out, 0, sizeof *out);
    if (f->wire_type != KILN_PB_LEN)
        return kiln_error(KILN_ERR_FORMAT, "%s: offset %zu: %s: TensorProto has wire type %d", path,
                          f->offset, what, f->wire_type);
    kiln_pb m = kiln_pb_sub(parent, f);
    kiln_pb_field x;
    const kiln_pb_field *raw = NULL;
    kiln_pb_field raw_f;
    int64_t typed_count[16] = {0};
    int data_location = 0, has_typed = 0, has_type = 0;
    int r;
    while ((r = kiln_pb_next(&m, &x)) == 1) {
        switch (x.number) {
        case 1: {
            if (x.wire_type == KILN_PB_VARINT) {
                if (out->rank >= KILN_MAX_RANK)
                    return kiln_error(KILN_ERR_UNSUPPORTED,
                                      "%s: offset %zu: %s: tensor rank exceeds %d", path, x.offset,
                                      what, KILN_MAX_RANK);
                out->dims[out->rank++] = kiln_pb_int64(&x);
            } else if (x.wire_type == KILN_PB_LEN) {
                const uint8_t *p = x.data, *e = x.data + x.len;
                while (p < e) {
                    uint64_t v;
                    size_t n = kiln_pb_read_varint(p, e, &v);
                    if (!n)
                        return kiln_error(KILN_ERR_FORMAT,
                                          "%s: offset %zu: %s: truncated packed dims", path,
                                          x.offset, what);
                    p += n;
                    if (out->rank >= KILN_MAX_RANK)
                        return kiln_error(KILN_ERR_UNSUPPORTED,
                                          "%s: offset %zu: %s: tensor rank exceeds %d", path,
                                          x.offset, what, KILN_MAX_RANK);
                    out->dims[out->rank++] = (int64_t)v;
                }
            } else {
                return kiln_error(KILN_ERR_FORMAT, "%s: offset %zu: %s: dims has wire type %d",
                                  path, x.offset, what, x.wire_type);
            }
            break;
        }
        case 2:
            out->onnx_type = kiln_pb_int32(&x);
            has_type = 1;
            break;
        case 4:
        case 5:
        case 7:
        case 10:
        case 11: {
            int64_t c = count_elems(&x, typed_wire(x.number));
            if (c < 0)
                return kiln_error(KILN_ERR_FORMAT,
                                  "%s: offset %zu: %s: malformed typed data field %u", path,
                                  x.offset, what, x.number);
            typed_count[x.number] += c;
            has_typed = 1;
            break;
        }
        case 6:
            return kiln_error(KILN_ERR_UNSUPPORTED,
                              "%s: offset %zu: %s: string tensors are not "
                              "supported",
                              path, x.offset, what);
        case 8:
            if (x.wire_type == KILN_PB_LEN) {
                out->name = x.data;
                out->name_len = x.len;
            }
            break;
        case 9:
            if (x.wire_type != KILN_PB_LEN)
                return kiln_error(KILN_ERR_FORMAT, "%s: offset %zu: %s: raw_data is not bytes",
                                  path, x.offset, what);
            raw_f = x;
            raw = &raw_f;
            break;
        case 14: data_location = kiln_pb_int32(&x); break;
        default: break; /* segment, doc_string, external_data (checked via 14) */
        }
    }
    if (r < 0)
        return kiln_error(KILN_ERR_FORMAT, "%s: offset %zu: %s: %s", path, m.error_offset, what,
                          m.error);
    int nl = out->name_len > 200 ? 200 : (int)out->name_len;
    const char *nm = out->name ? (const char *)out->name : "";
    if (data_location == 1)
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "%s: offset %zu: %s '%.*s' keeps its data in an external file; "
                          "external data is not supported yet: re-save the model with all "
                          "tensors inside (onnx.save(..., save_as_external_data=False))",
                          path, f->offset, what, nl, nm);
    if (!has_type)
        return kiln_error(KILN_ERR_FORMAT, "%s: offset %zu: %s '%.*s' has no data_type", path,
                          f->offset, what, nl, nm);
    if (!kiln_onnx_dtype_from_onnx(out->onnx_type, &out->dtype))
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "%s: offset %zu: %s '%.*s' has data type %s (%d), which Kiln does not "
                          "support",
                          path, f->offset, what, nl, nm, kiln_onnx_type_name(out->onnx_type),
                          (int)out->onnx_type);
    int64_t numel = 1;
    for (int32_t i = 0; i < out->rank; i++) {
        int64_t d = out->dims[i];
        if (d < 0)
            return kiln_error(KILN_ERR_FORMAT, "%s: offset %zu: %s '%.*s': negative dim %lld", path,
                              f->offset, what, nl, nm, (long long)d);
        if (d && numel > INT64_MAX / d)
            return kiln_error(KILN_ERR_FORMAT,
                              "%s: offset %zu: %s '%.*s': element count "
                              "overflows",
                              path, f->offset, what, nl, nm);
        numel *= d;
    }
    size_t es = kiln_dtype_size(out->dtype);
    if ((uint64_t)numel > (uint64_t)(SIZE_MAX / es) || (size_t)numel * es > max_bytes)
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "%s: offset %zu: %s '%.*s': %lld elements exceed the limit of %zu "
                          "bytes",
                          path, f->offset, what, nl, nm, (long long)numel, max_bytes);
    out->numel = numel;
    out->nbytes = (size_t)numel * es;
    if (raw && has_typed)
        return kiln_error(KILN_ERR_FORMAT,
                          "%s: offset %zu: %s '%.*s' has both raw_data and "
                          "typed data",
                          path, f->offset, what, nl, nm);
    if (raw) {
        if (raw->len != out->nbytes)
            return kiln_error(KILN_ERR_FORMAT,
                              "%s: offset %zu: %s '%.*s': raw_data has %zu bytes, shape and "
                              "type need %zu",
                              path, raw->offset, what, nl, nm, raw->len, out->nbytes);
        if (out->nbytes == 0) return KILN_OK;
        if (allow_borrow && ((uintptr_t)raw->data % es) == 0) {
            out->data = raw->data;
            return KILN_OK;
        }
        out->owned = malloc(out->nbytes);
        if (!out->owned) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory decoding %s", what);
        memcpy(out->owned, raw->data, out->nbytes);
        out->data = out->owned;
        return KILN_OK;
    }
    uint32_t want = typed_field(out->onnx_type);
    for (uint32_t k = 0; k < 16; k++)
        if (k != want && typed_count[k])
            return kiln_error(KILN_ERR_FORMAT,
                              "%s: offset %zu: %s '%.*s' of type %s stores data in field %u "
                              "(expected field %u)",
                              path, f->offset, what, nl, nm, kiln_onnx_type_name(out->onnx_type), k,
                              want);
    if (typed_count[want] != numel)
        return kiln_error(KILN_ERR_FORMAT,
                          "%s: offset %zu: %s '%.*s': %lld data elements, shape needs %lld", path,
                          f->offset, what, nl, nm, (long long)typed_count[want], (long long)numel);
    if (numel == 0) return KILN_OK;
    out->owned = malloc(out->nbytes);
    if (!out->owned) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory decoding %s", what);
    out->data = out->owned;
    fill_ctx c = {out->owned, out->dtype, 0, numel};
    /* UINT32/UINT64 never reach here (no Kiln dtype). */
    m = kiln_pb_sub(parent, f);
    while ((r = kiln_pb_next(&m, &x)) == 1)
        if (x.number == want && kiln_pb_repeated(&m, &x, typed_wire(want), fill_cb, &c) != 0) break;
    if (m.error || c.i != numel) {
        free(out->owned);
        out->owned = NULL;
        out->data = NULL;
        return kiln_error(KILN_ERR_FORMAT, "%s: offset %zu: %s '%.*s': malformed typed data: %s",
                          path, m.error ? m.error_offset : f->offset, what, nl, nm,
                          m.error ? m.error : "element count changed");
    }
    return KILN_OK;
}

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: normalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            man &= 0x3ff;
            u = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp - 15 + 127) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

bool kiln_onnx_to_float(kiln_dtype dtype, const void *src, int64_t n, float *dst) {
    const uint8_t *s = src;
    for (int64_t i = 0; i < n; i++) {
        switch (dtype) {
        case KILN_DT_F32: memcpy(&dst[i], s + 4 * i, 4); break;
        case KILN_DT_F64: {
            double d;
            memcpy(&d, s + 8 * i, 8);
            dst[i] = (float)d;
            break;
        }
        case KILN_DT_F16: {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            dst[i] = half_to_float(h);
            break;
        }
        case KILN_DT_I8: dst[i] = (float)(int8_t)s[i]; break;
        case KILN_DT_U8: dst[i] = (float)s[i]; break;
        case KILN_DT_BOOL: dst[i] = s[i] ? 1.0f : 0.0f; break;
        case KILN_DT_I16: {
            int16_t v;
            memcpy(&v, s + 2 * i, 2);
            dst[i] = (float)v;
            break;
        }
        case KILN_DT_I32: {
            int32_t v;
            memcpy(&v, s + 4 * i, 4);
            dst[i] = (float)v;
            break;
        }
        case KILN_DT_I64: {
            int64_t v;
            memcpy(&v, s + 8 * i, 8);
            dst[i] = (float)v;
            break;
        }
        default: return false;
        }
    }
    return true;
}

kiln_status kiln_onnx_read_tensor_file(const char *path, float **data, int32_t *rank,
                                       int64_t dims[KILN_MAX_RANK], kiln_dtype *dtype) {
    *data = NULL;
    kiln_mapping map;
    KILN_TRY(kiln_map_file(path, &map));
    /* Wrap the whole file as the payload of a synthetic LEN field. */
    static const uint8_t empty = 0;
    kiln_pb_field f;
    memset(&f, 0, sizeof f);
    f.wire_type = KILN_PB_LEN;
    f.data = map.data ? map.data : &empty;
    f.len = map.size;
    kiln_pb top = kiln_pb_init(f.data, f.len, 0);
    kiln_onnx_tensor t;
    kiln_status s =
        kiln_onnx_tensor_parse(&top, &f, path, "tensor file", (size_t)1 << 32, true, &t);
    if (s == KILN_OK) {
        float *out = malloc((size_t)(t.numel ? t.numel : 1) * sizeof(float));
        if (!out) {
            s = kiln_error(KILN_ERR_NO_MEMORY, "%s: out of memory", path);
        } else if (!kiln_onnx_to_float(t.dtype, t.data, t.numel, out)) {
            free(out);
            s = kiln_error(KILN_ERR_UNSUPPORTED, "%s: cannot convert %s to float", path,
                           kiln_dtype_names[t.dtype]);
        } else {
            *data = out;
            *rank = t.rank;
            memcpy(dims, t.dims, sizeof(int64_t) * KILN_MAX_RANK);
            *dtype = t.dtype;
        }
        free(t.owned);
    }
    kiln_unmap(&map);
    return s;
}
