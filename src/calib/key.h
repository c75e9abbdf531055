/*
 * key.h — the calibration table key: a 64-bit hash ("kiln64", defined below)
 * of the model's program bytes, parameter bytes and input shape, printed as
 * 16 lowercase hex digits. The same bytes give the same key on every machine
 * (explicit little-endian, no seeds from the environment). The byte recipe the
 * caller feeds is in docs/CALIBRATION.md ("The key").
 *
 * kiln64 over a byte stream s of length len (any split into updates gives the
 * same result), m = 0xc6a4a7935bd1e995, r = 47, all arithmetic mod 2^64:
 *
 *   h = 0x9e3779b97f4a7c15
 *   for each full 8-byte block w of s (little-endian):
 *       w *= m; w ^= w >> r; w *= m; h ^= w; h *= m;
 *   if len % 8 != 0: w = the last len % 8 bytes, little-endian, zero-extended;
 *       h ^= w; h *= m;
 *   h ^= len; h *= m;
 *   h ^= h >> r; h *= m; h ^= h >> r;
 *
 * (MurmurHash64A's block and final mixing, with the length mixed in at the
 * end so the stream can be hashed without knowing its length first.)
 *
 * Non-goals: cryptographic strength (a key guards against mistakes, not
 * attackers).
 */
#ifndef KILN_CALIB_KEY_H
#define KILN_CALIB_KEY_H

#include <stddef.h>
#include <stdint.h>

typedef struct kiln_key {
    uint64_t h;
    uint64_t len;   /* bytes fed so far */
    uint8_t buf[8]; /* pending bytes of an incomplete block */
    unsigned nbuf;
} kiln_key;

void kiln_key_init(kiln_key *k);
/* Feeds n bytes. */
void kiln_key_update(kiln_key *k, const void *data, size_t n);
/* Feeds the bytes of s and its terminating '\0' (so strings are
 * self-delimiting). */
void kiln_key_update_str(kiln_key *k, const char *s);
/* Feeds v as 8 bytes, little-endian two's complement. */
void kiln_key_update_i64(kiln_key *k, int64_t v);
/* Feeds (int64) n, then the n bytes: a length-prefixed blob. */
void kiln_key_update_blob(kiln_key *k, const void *data, size_t n);
/* The hash of everything fed so far (k is not modified; more may be fed). */
uint64_t kiln_key_final_u64(const kiln_key *k);
/* The same as 16 lowercase hex digits + '\0'. */
void kiln_key_final(const kiln_key *k, char out[17]);

#endif
