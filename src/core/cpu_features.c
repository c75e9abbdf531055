/*
 * cpu_features.c — CPUID-based feature detection (x86-64; other
 * architectures report no features) and the brand string.
 */
#include <string.h>
#include <stdio.h>
#include <unistd.h>

#include "core/cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}

static bool os_saves_avx512(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    return (lo & 0xe6) == 0xe6; /* XMM, YMM, opmask, ZMM hi256, hi16 ZMM */
}
#endif

void kiln_cpu_features_get(kiln_cpu_features *f) {
    memset(f, 0, sizeof *f);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    f->logical_cores = n > 0 ? (int)n : 1;
#if defined(__x86_64__) || defined(__i386__)
    unsigned r[4];
    cpuid(0, 0, r);
    unsigned max_leaf = r[0];
    cpuid(1, 0, r);
    bool osxsave = (r[2] >> 27) & 1;
    f->fma = (r[2] >> 12) & 1;
    if (max_leaf >= 7 && osxsave) {
        unsigned e[4];
        cpuid(7, 0, e);
        f->avx2 = (e[1] >> 5) & 1;
        if (os_saves_avx512()) {
            f->avx512f = (e[1] >> 16) & 1;
            f->avx512bw = (e[1] >> 30) & 1;
            f->avx512vl = (e[1] >> 31) & 1;
            f->avx512_vnni = (e[2] >> 11) & 1;
        }
        f->amx_int8 = (e[3] >> 25) & 1;
        unsigned s[4];
        cpuid(7, 1, s);
        f->avx_vnni = (s[0] >> 4) & 1;
        f->avx512_bf16 = f->avx512f && ((s[0] >> 5) & 1);
    }
    cpuid(0x80000000u, 0, r);
    if (r[0] >= 0x80000004u) {
        unsigned b[12];
        for (unsigned i = 0; i < 3; i++)
            cpuid(0x80000002u + i, 0, b + 4 * i);
        memcpy(f->model, b, 48);
        f->model[48] = '\0';
        /* trim */
        char *p = f->model;
        while (*p == ' ')
            p++;
        memmove(f->model, p, strlen(p) + 1);
        for (size_t l = strlen(f->model); l && f->model[l - 1] == ' ';)
            f->model[--l] = '\0';
    }
#endif
    if (!f->model[0]) snprintf(f->model, sizeof f->model, "unknown CPU");
}

const char *kiln_cpu_isa_string(const kiln_cpu_features *f, char *buf, size_t n) {
    if (f->avx512f)
        snprintf(buf, n, "AVX-512 (F%s%s%s%s)%s", f->avx512bw ? " BW" : "",
                 f->avx512vl ? " VL" : "", f->avx512_vnni ? " VNNI" : "",
                 f->avx512_bf16 ? " BF16" : "", f->amx_int8 ? " AMX-INT8" : "");
    else if (f->avx2)
        snprintf(buf, n, "AVX2%s%s", f->fma ? " FMA" : "", f->avx_vnni ? " AVX-VNNI" : "");
    else
        snprintf(buf, n, "baseline (no AVX2)");
    return buf;
}
