/*
 * test_util.c — see test_util.h.
 */
#include <math.h>
#include <stdlib.h>

#include "test_util.h"

int kt_failures = 0;
int kt_checks = 0;

int kt_finish(const char *name) {
    printf("%s: %d checks, %d failed\n", name, kt_checks, kt_failures);
    if (kt_checks == 0) {
        printf("%s: no checks ran\n", name);
        return 1;
    }
    return kt_failures ? 1 : 0;
}

void kt_skip(const char *reason) {
    printf("SKIPPED: %s\n", reason);
    exit(77);
}

double kt_rel_err(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    if (den == 0) return num == 0 ? 0 : INFINITY;
    return sqrt(num / den);
}

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void kt_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi) {
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        double u = (double)(splitmix64(&s) >> 11) / 9007199254740992.0;
        x[i] = (float)(lo + (hi - lo) * u);
    }
}

const char *kt_fixtures(void) {
    const char *e = getenv("KILN_FIXTURES");
    return e ? e : "../shared/fixtures";
}

const char *kt_bin(void) {
    const char *e = getenv("KILN_BIN");
    return e ? e : "build/bin";
}
