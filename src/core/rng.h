/*
 * rng.h — the one deterministic random source for generated weights and test
 * data: splitmix64 (uniform) and Box-Muller (normal). Same seed, same numbers,
 * on every machine.
 */
#ifndef KILN_CORE_RNG_H
#define KILN_CORE_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct kiln_rng {
    uint64_t state;
} kiln_rng;

static inline kiln_rng kiln_rng_seed(uint64_t seed) {
    kiln_rng r = {seed};
    return r;
}

static inline uint64_t kiln_rng_next(kiln_rng *r) {
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static inline double kiln_rng_uniform(kiln_rng *r) {
    return (double)(kiln_rng_next(r) >> 11) / 9007199254740992.0;
}

/* Standard normal (Box-Muller, one value per call). */
static inline double kiln_rng_normal(kiln_rng *r) {
    double u1 = kiln_rng_uniform(r), u2 = kiln_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* FNV-1a 64-bit of a string: derive per-tensor seeds from names. */
static inline uint64_t kiln_hash_str(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    while (*s) {
        h ^= (uint8_t)*s++;
        h *= 0x100000001b3ull;
    }
    return h;
}

#endif
