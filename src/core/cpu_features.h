/*
 * cpu_features.h — what this CPU can do, for bench reports and kernel choice.
 */
#ifndef KILN_CORE_CPU_FEATURES_H
#define KILN_CORE_CPU_FEATURES_H

#include <stdbool.h>
#include <stddef.h>

typedef struct kiln_cpu_features {
    bool avx2, fma, avx512f, avx512bw, avx512vl, avx512_vnni, avx512_bf16, avx_vnni, amx_int8;
    int logical_cores;
    char model[128]; /* brand string, e.g. "AMD EPYC 9B45" */
} kiln_cpu_features;

void kiln_cpu_features_get(kiln_cpu_features *f);

/* "AVX-512 (F BW VL VNNI BF16)" or "AVX2 FMA" etc. into buf. */
const char *kiln_cpu_isa_string(const kiln_cpu_features *f, char *buf, size_t n);

#endif
