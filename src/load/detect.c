/*
 * detect.c — model format from a file's first bytes (kiln_detect_format).
 *
 * An ONNX ModelProto is written in field order, so it starts with field 1
 * (ir_version) as a varint: tag byte 0x08 followed by a small version. A
 * Paddle ProgramDesc starts with field 1 (blocks) length-delimited: tag 0x0a
 * followed by a length varint. Non-goals: sniffing anything else (the full
 * loaders validate the rest).
 */
#include "load/load.h"
#include "load/pb_wire.h"

kiln_model_format kiln_detect_format(const uint8_t *data, size_t size) {
    if (!data || size < 2) return KILN_FORMAT_UNKNOWN;
    uint64_t v;
    const uint8_t *end = data + size;
    if (data[0] == 0x08) {
        /* ir_version is small (1..~12 today); reject absurd values so that
         * random bytes starting with 0x08 are not called ONNX. A varint cut
         * off by a short read is given the benefit of the doubt. */
        size_t n = kiln_pb_read_varint(data + 1, end, &v);
        if (n == 0) return size < 11 ? KILN_FORMAT_ONNX : KILN_FORMAT_UNKNOWN;
        return v >= 1 && v <= 1000 ? KILN_FORMAT_ONNX : KILN_FORMAT_UNKNOWN;
    }
    if (data[0] == 0x0a) return KILN_FORMAT_PADDLE;
    return KILN_FORMAT_UNKNOWN;
}
