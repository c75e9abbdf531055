/*
 * ref_util.c — small index helpers shared by the reference kernels: auto_pad
 * resolution, numpy-broadcast offsets, flat-index-to-coordinates.
 *
 * Non-goals: anything clever; these run per element and that is fine here.
 */
#include "backend/ref/ref.h"

int64_t kiln_ref_pad_begin(const kiln_attrs *a, int i, int64_t in, int64_t k, int64_t *end) {
    int64_t s = a->strides[i], ek = a->dilations[i] * (k - 1) + 1;
    switch (a->auto_pad) {
    case KILN_PAD_SAME_UPPER:
    case KILN_PAD_SAME_LOWER: {
        int64_t out = (in + s - 1) / s;
        int64_t total = (out - 1) * s + ek - in;
        if (total < 0) total = 0;
        int64_t begin = a->auto_pad == KILN_PAD_SAME_UPPER ? total / 2 : (total + 1) / 2;
        *end = total - begin;
        return begin;
    }
    case KILN_PAD_VALID: *end = 0; return 0;
    default: *end = a->pads[2 + i]; return a->pads[i];
    }
}

void kiln_ref_coords(int64_t i, int32_t rank, const int64_t *d, int64_t *c) {
    for (int32_t k = rank - 1; k >= 0; k--) {
        c[k] = d[k] > 0 ? i % d[k] : 0;
        i = d[k] > 0 ? i / d[k] : 0;
    }
}

int64_t kiln_ref_bcast_offset(int32_t rank, const int64_t *d, int32_t orank, const int64_t *oc) {
    int64_t off = 0;
    for (int32_t k = 0; k < rank; k++) {
        int64_t ck = oc[orank - rank + k];
        off = off * d[k] + (d[k] == 1 ? 0 : ck);
    }
    return off;
}
