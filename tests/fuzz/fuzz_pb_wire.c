/*
 * fuzz_pb_wire.c — libFuzzer target for the protobuf wire reader: walks every
 * field, recursing into each length-delimited payload as if it were a
 * message (bounded depth) and decoding it as packed varints / fixed32 /
 * fixed64. Any out-of-bounds read is a bug (built with ASan/UBSan).
 */
#include <stddef.h>
#include <stdint.h>

#include "load/pb_wire.h"

static int sink_cb(void *user, uint64_t bits) {
    *(uint64_t *)user ^= bits;
    return 0;
}

static uint64_t walk(kiln_pb *m, int depth) {
    uint64_t acc = 0;
    kiln_pb_field f;
    int r;
    while ((r = kiln_pb_next(m, &f)) == 1) {
        acc ^= f.varint + f.number + f.offset;
        if (f.wire_type == KILN_PB_FIXED32) acc ^= (uint64_t)(kiln_pb_float(&f) > 0.0f);
        if (f.wire_type == KILN_PB_FIXED64) acc ^= (uint64_t)(kiln_pb_double(&f) > 0.0);
        if (f.wire_type != KILN_PB_LEN) {
            kiln_pb_repeated(m, &f, f.wire_type, sink_cb, &acc);
            continue;
        }
        if (f.len) acc ^= f.data[0] ^ f.data[f.len - 1];
        static const int wires[3] = {KILN_PB_VARINT, KILN_PB_FIXED32, KILN_PB_FIXED64};
        for (int k = 0; k < 3; k++) {
            kiln_pb tmp = kiln_pb_sub(m, &f);
            kiln_pb_repeated(&tmp, &f, wires[k], sink_cb, &acc);
        }
        if (depth < 12) {
            kiln_pb sub = kiln_pb_sub(m, &f);
            acc ^= walk(&sub, depth + 1);
            if (sub.error &&
                (sub.error_offset < f.offset || sub.error_offset > f.offset + 20 + f.len))
                __builtin_trap(); /* an error offset outside the field */
        }
    }
    if (r < 0 && !m->error) __builtin_trap();
    return acc + kiln_pb_offset(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kiln_pb m = kiln_pb_init(data, size, 100);
    volatile uint64_t r = walk(&m, 0);
    (void)r;
    uint64_t v;
    kiln_pb_read_varint(data, data + size, &v);
    return 0;
}
