/*
 * test_util.h — tiny test helpers: checks that count failures, relative
 * error, seeded random data, fixture paths. Tests exit 0 on success, 1 on
 * failure, 77 when skipped (ctest SKIP_RETURN_CODE) with the reason printed.
 */
#ifndef KILN_TEST_UTIL_H
#define KILN_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern int kt_failures;
extern int kt_checks;

#define KT_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        kt_checks++;                                                                               \
        if (!(cond)) {                                                                             \
            kt_failures++;                                                                         \
            fprintf(stderr, "%s:%d: FAILED: %s: ", __FILE__, __LINE__, #cond);                     \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
        }                                                                                          \
    } while (0)

/* Checks a kiln_status is KILN_OK, printing kiln_last_error() otherwise. */
#define KT_OK(expr)                                                                                \
    do {                                                                                           \
        kiln_status kt_s_ = (expr);                                                                \
        KT_CHECK(kt_s_ == KILN_OK, "%s -> %s: %s", #expr, kiln_status_string(kt_s_),               \
                 kiln_last_error());                                                               \
    } while (0)

/* Prints a summary and returns the process exit code. */
int kt_finish(const char *name);

/* Prints the reason and exits 77 (skipped). */
void kt_skip(const char *reason);

/* ||a-b|| / ||b|| in double. */
double kt_rel_err(const float *a, const float *b, size_t n);

/* Deterministic uniform floats in [lo, hi) from a seed (splitmix64). */
void kt_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi);

/* $KILN_FIXTURES or "../shared/fixtures" relative to the source tree. */
const char *kt_fixtures(void);
/* $KILN_BIN (build/bin). */
const char *kt_bin(void);

#endif
