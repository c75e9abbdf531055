/*
 * key.c — kiln64, the streaming hash of key.h (definition there).
 *
 * Non-goals: speed beyond ~2 GB/s (a ResNet50's 100 MB hash in ~50 ms).
 */
#include <stdio.h>
#include <string.h>

#include "calib/key.h"

#define KILN64_M 0xc6a4a7935bd1e995ull
#define KILN64_R 47
#define KILN64_SEED 0x9e3779b97f4a7c15ull

static inline uint64_t load_le64(const uint8_t *p) {
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

static inline uint64_t mix_block(uint64_t h, uint64_t w) {
    w *= KILN64_M;
    w ^= w >> KILN64_R;
    w *= KILN64_M;
    h ^= w;
    return h * KILN64_M;
}

void kiln_key_init(kiln_key *k) {
    memset(k, 0, sizeof *k);
    k->h = KILN64_SEED;
}

void kiln_key_update(kiln_key *k, const void *data, size_t n) {
    const uint8_t *p = data;
    k->len += n;
    if (k->nbuf) {
        while (n && k->nbuf < 8)
            k->buf[k->nbuf++] = *p++, n--;
        if (k->nbuf < 8) return;
        k->h = mix_block(k->h, load_le64(k->buf));
        k->nbuf = 0;
    }
    uint64_t h = k->h;
    for (; n >= 8; p += 8, n -= 8)
        h = mix_block(h, load_le64(p));
    k->h = h;
    while (n)
        k->buf[k->nbuf++] = *p++, n--;
}

void kiln_key_update_str(kiln_key *k, const char *s) {
    kiln_key_update(k, s, strlen(s) + 1);
}

void kiln_key_update_i64(kiln_key *k, int64_t v) {
    uint8_t b[8];
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(u >> (8 * i));
    kiln_key_update(k, b, 8);
}

void kiln_key_update_blob(kiln_key *k, const void *data, size_t n) {
    kiln_key_update_i64(k, (int64_t)n);
    kiln_key_update(k, data, n);
}

uint64_t kiln_key_final_u64(const kiln_key *k) {
    uint64_t h = k->h;
    if (k->nbuf) {
        uint64_t w = 0;
        for (unsigned i = 0; i < k->nbuf; i++)
            w |= (uint64_t)k->buf[i] << (8 * i);
        h ^= w;
        h *= KILN64_M;
    }
    h ^= k->len;
    h *= KILN64_M;
    h ^= h >> KILN64_R;
    h *= KILN64_M;
    h ^= h >> KILN64_R;
    return h;
}

void kiln_key_final(const kiln_key *k, char out[17]) {
    snprintf(out, 17, "%016llx", (unsigned long long)kiln_key_final_u64(k));
}
