/*
 * paddle_params.c — LoDTensor records: read (zero-copy, bounded), write,
 * combined and per-file layouts, VarDesc check (see paddle_params.h, spec §2).
 * Non-goals: LoD offsets (validated, skipped), non-zero record versions.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/status.h"
#include "load/paddle_params.h"
#include "load/pb_wire.h"

static uint32_t rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd_u64(const uint8_t *p) {
    return (uint64_t)rd_u32(p) | (uint64_t)rd_u32(p + 4) << 32;
}

const char *kiln_paddle_record_str(int32_t dtype, int32_t rank, const int64_t *dims, char *buf,
                                   size_t n) {
    size_t k = 0;
    if (n == 0) return buf;
    int w = snprintf(buf, n, "%s [", kiln_paddle_dtype_name(dtype));
    k = w > 0 ? (size_t)w : 0;
    for (int32_t i = 0; i < rank && k < n; i++) {
        w = snprintf(buf + k, n - k, i ? ",%lld" : "%lld", (long long)dims[i]);
        if (w > 0) k += (size_t)w;
    }
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

#define RFAIL(off, ...) rfail(path, var, (off), __VA_ARGS__)

static kiln_status rfail(const char *path, const char *var, size_t off, const char *fmt, ...)
    KILN_PRINTF(4, 5);

static kiln_status rfail(const char *path, const char *var, size_t off, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return kiln_error(KILN_ERR_FORMAT, "%s: offset %zu: variable '%s': %s", path, off,
                      var ? var : "?", msg);
}

kiln_status kiln_paddle_record_read(const uint8_t *buf, size_t size, size_t base_offset,
                                    const char *path, const char *var, kiln_paddle_record *out) {
    static const uint8_t empty[1] = {0};
    memset(out, 0, sizeof *out);
    out->offset = base_offset;
    if (!buf) buf = empty;
    const char *hint = "the params file is truncated or does not belong to this program";
    size_t pos = 0;
    if (size - pos < 4)
        return RFAIL(base_offset + pos, "file ends inside the record header (%zu bytes left); %s",
                     size - pos, hint);
    uint32_t version = rd_u32(buf + pos);
    if (version != 0)
        return RFAIL(base_offset + pos,
                     "LoDTensor version %u, expected 0; %s (or was written by an unsupported "
                     "Paddle version)",
                     version, hint);
    pos += 4;
    if (size - pos < 8)
        return RFAIL(base_offset + pos, "file ends inside the record header; %s", hint);
    uint64_t lod_level = rd_u64(buf + pos);
    if (lod_level > KILN_PADDLE_MAX_LOD_LEVEL)
        return RFAIL(base_offset + pos, "lod_level %llu exceeds %d; %s",
                     (unsigned long long)lod_level, KILN_PADDLE_MAX_LOD_LEVEL, hint);
    out->lod_level = lod_level;
    pos += 8;
    for (uint64_t l = 0; l < lod_level; l++) {
        if (size - pos < 8)
            return RFAIL(base_offset + pos, "file ends inside LoD level %llu; %s",
                         (unsigned long long)l, hint);
        uint64_t nb = rd_u64(buf + pos);
        if (nb > size - pos - 8 || nb % 8 != 0)
            return RFAIL(base_offset + pos,
                         "LoD level %llu declares %llu bytes but %zu remain (or not a multiple "
                         "of 8); %s",
                         (unsigned long long)l, (unsigned long long)nb, size - pos - 8, hint);
        pos += 8 + (size_t)nb;
    }
    if (size - pos < 4)
        return RFAIL(base_offset + pos, "file ends before the tensor version; %s", hint);
    uint32_t tversion = rd_u32(buf + pos);
    if (tversion != 0)
        return RFAIL(base_offset + pos, "tensor version %u, expected 0; %s", tversion, hint);
    pos += 4;
    if (size - pos < 4)
        return RFAIL(base_offset + pos, "file ends before the TensorDesc size; %s", hint);
    int32_t desc_size = (int32_t)rd_u32(buf + pos);
    if (desc_size < 0 || desc_size > KILN_PADDLE_MAX_DESC_BYTES ||
        (size_t)desc_size > size - pos - 4)
        return RFAIL(base_offset + pos,
                     "TensorDesc size %d is negative, above %d or beyond the %zu bytes left; %s",
                     (int)desc_size, KILN_PADDLE_MAX_DESC_BYTES, size - pos - 4, hint);
    pos += 4;
    /* TensorDesc: data_type = 1, dims = 2 (varints, packed or not). */
    kiln_pb m = kiln_pb_init(buf + pos, (size_t)desc_size, base_offset + pos);
    kiln_pb_field f;
    int r, have_type = 0;
    out->dtype = -1;
    while ((r = kiln_pb_next(&m, &f)) == 1) {
        if (f.number == 1) {
            if (f.wire_type != KILN_PB_VARINT)
                return RFAIL(f.offset, "TensorDesc.data_type is not a varint; %s", hint);
            out->dtype = kiln_pb_int32(&f);
            have_type = 1;
        } else if (f.number == 2) {
            const uint8_t *p = f.data, *end = f.data ? f.data + f.len : NULL;
            uint64_t v = f.varint;
            if (f.wire_type != KILN_PB_VARINT && f.wire_type != KILN_PB_LEN)
                return RFAIL(f.offset, "TensorDesc.dims has wire type %d; %s", f.wire_type, hint);
            do {
                if (f.wire_type == KILN_PB_LEN) {
                    if (p >= end) break;
                    size_t n = kiln_pb_read_varint(p, end, &v);
                    if (!n) return RFAIL(f.offset, "truncated packed dims; %s", hint);
                    p += n;
                }
                if (out->rank >= KILN_PADDLE_MAX_DIMS)
                    return RFAIL(f.offset, "more than %d dims; %s", KILN_PADDLE_MAX_DIMS, hint);
                out->dims[out->rank++] = (int64_t)v;
            } while (f.wire_type == KILN_PB_LEN);
        }
    }
    if (r < 0) return RFAIL(m.error_offset, "malformed TensorDesc (%s); %s", m.error, hint);
    if (!have_type) return RFAIL(base_offset + pos, "TensorDesc without a data_type; %s", hint);
    size_t esz = kiln_paddle_dtype_size(out->dtype);
    if (esz == 0)
        return RFAIL(base_offset + pos, "unknown data type %d in the TensorDesc; %s",
                     (int)out->dtype, hint);
    pos += (size_t)desc_size;
    uint64_t numel = 1;
    for (int32_t i = 0; i < out->rank; i++) {
        int64_t d = out->dims[i];
        if (d < 0)
            return RFAIL(base_offset + pos - (size_t)desc_size, "dim %d is %lld (negative); %s",
                         (int)i, (long long)d, hint);
        if (d != 0 && numel > UINT64_MAX / (uint64_t)d)
            return RFAIL(base_offset + pos - (size_t)desc_size, "element count overflows; %s",
                         hint);
        numel *= (uint64_t)d;
    }
    if (numel > (uint64_t)(size - pos) / esz) {
        char sh[256];
        return RFAIL(base_offset + pos,
                     "the data of %s needs %llu x %zu bytes but only %zu remain; %s",
                     kiln_paddle_record_str(out->dtype, out->rank, out->dims, sh, sizeof sh),
                     (unsigned long long)numel, esz, size - pos, hint);
    }
    out->raw = buf;
    out->data = buf + pos;
    out->nbytes = (size_t)numel * esz;
    pos += out->nbytes;
    out->size = pos;
    return KILN_OK;
}

kiln_status kiln_paddle_params_read_combined(const uint8_t *data, size_t size, const char *path,
                                             const char *const *names, int32_t n,
                                             kiln_paddle_record *recs) {
    static const uint8_t empty[1] = {0};
    size_t pos = 0;
    if (!data) data = empty; /* an empty (unmapped) file: no pointer arithmetic on NULL */
    for (int32_t i = 0; i < n; i++) {
        kiln_status s =
            kiln_paddle_record_read(data + pos, size - pos, pos, path, names[i], &recs[i]);
        if (s != KILN_OK) {
            char ctx[160];
            snprintf(ctx, sizeof ctx, " (record %d of %d in the combined file)", (int)i + 1,
                     (int)n);
            const char *msg = kiln_last_error();
            char copy[2048];
            snprintf(copy, sizeof copy, "%s%s", msg, ctx);
            return kiln_error(s, "%s", copy);
        }
        pos += recs[i].size;
    }
    if (pos != size)
        return kiln_error(KILN_ERR_FORMAT,
                          "%s: offset %zu: %zu trailing bytes after the last of the program's %d "
                          "parameters%s%s%s; the params file does not belong to this program "
                          "(Paddle refuses partial loads too)",
                          path, pos, size - pos, (int)n, n ? " ('" : "", n ? names[n - 1] : "",
                          n ? "')" : "");
    return KILN_OK;
}

int kiln_paddle_name_is_safe_path(const char *name) {
    if (!name || !*name || name[0] == '/') return 0;
    const char *p = name;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0) return 0;
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) return 0;
        if (!e) break;
        p = e + 1;
        if (!*p) return 0;
    }
    return 1;
}

kiln_status kiln_paddle_params_read_file(const char *dir, const char *name, kiln_mapping *map,
                                         kiln_paddle_record *rec) {
    char path[4096];
    memset(map, 0, sizeof *map);
    if (!kiln_paddle_name_is_safe_path(name))
        return kiln_error(KILN_ERR_FORMAT,
                          "%s: variable '%s': the name is not a safe relative file name (empty, "
                          "absolute, or with '.'/'..' parts); refusing to read it",
                          dir, name);
    KILN_TRY(kiln_path_join(path, sizeof path, dir, name));
    KILN_TRY(kiln_map_file(path, map));
    kiln_status s = kiln_paddle_record_read(map->data, map->size, 0, path, name, rec);
    if (s == KILN_OK && rec->size != map->size)
        s = kiln_error(KILN_ERR_FORMAT,
                       "%s: offset %zu: variable '%s': %zu trailing bytes after its record; the "
                       "file is not a single Paddle LoDTensor",
                       path, rec->size, name, map->size - rec->size);
    if (s != KILN_OK) kiln_unmap(map);
    return s;
}

kiln_status kiln_paddle_record_check(const kiln_paddle_record *r, const kiln_paddle_var *v,
                                     const char *path) {
    int ok = v->has_tensor && r->dtype == v->dtype && r->rank == v->rank;
    for (int32_t i = 0; ok && i < r->rank; i++)
        if (v->dims[i] >= 0 && v->dims[i] != r->dims[i]) ok = 0;
    if (ok) return KILN_OK;
    char a[256], b[256];
    kiln_paddle_record_str(r->dtype, r->rank, r->dims, a, sizeof a);
    if (v->has_tensor)
        kiln_paddle_record_str(v->dtype, v->rank, v->dims, b, sizeof b);
    else
        snprintf(b, sizeof b, "no tensor type");
    return kiln_error(KILN_ERR_SHAPE,
                      "%s: offset %zu: variable '%s': the params record holds %s but the "
                      "program declares %s; the params do not belong to this program (export "
                      "model and params together, or pass the matching params file)",
                      path, r->offset, v->name, a, b);
}

static size_t header(uint8_t *h, int32_t dtype, int32_t rank, const int64_t *dims) {
    /* u32 version, u64 lod_level, u32 tensor version, i32 desc size, desc */
    kiln_pbw d = {0};
    uint8_t *p = h;
    memset(p, 0, 16);
    p += 16;
    kiln_pbw_int64(&d, 1, dtype);
    for (int32_t i = 0; i < rank; i++)
        kiln_pbw_int64(&d, 2, dims[i]);
    uint32_t ds = (uint32_t)d.size;
    if (d.failed || ds > KILN_PADDLE_MAX_DESC_BYTES) ds = 0;
    p[0] = (uint8_t)ds;
    p[1] = (uint8_t)(ds >> 8);
    p[2] = (uint8_t)(ds >> 16);
    p[3] = (uint8_t)(ds >> 24);
    p += 4;
    if (ds) memcpy(p, d.data, ds);
    p += ds;
    kiln_pbw_free(&d);
    return (size_t)(p - h);
}

enum { HEADER_MAX = 20 + KILN_PADDLE_MAX_DESC_BYTES };

void kiln_paddle_record_write(kiln_pbw *w, int32_t dtype, int32_t rank, const int64_t *dims,
                              const void *data, size_t nbytes) {
    uint8_t h[HEADER_MAX];
    size_t n = header(h, dtype, rank, dims);
    kiln_pbw_raw(w, h, n);
    kiln_pbw_raw(w, data, nbytes);
}

kiln_status kiln_paddle_record_fwrite(FILE *f, const char *path, int32_t dtype, int32_t rank,
                                      const int64_t *dims, const void *data, size_t nbytes) {
    uint8_t h[HEADER_MAX];
    size_t n = header(h, dtype, rank, dims);
    if (fwrite(h, 1, n, f) != n || (nbytes && fwrite(data, 1, nbytes, f) != nbytes))
        return kiln_error(KILN_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return KILN_OK;
}
