/*
 * test_calib.c — calibration: |x| histogram growth and determinism,
 * thresholds (entropy and MSE against slow literal ports of PyTorch-
 * quantization's numpy code, written separately here; percentile against a
 * hand computation; minmax exact; sanity on Gaussian/uniform data), the key
 * hash (a non-streaming reference, split invariance), and the table file
 * (round trip bit-exact, atomic write, TensorRT tables, every malformed case
 * with its line number, key/shape mismatch).
 *
 * Tolerances: entropy/MSE/minmax/percentile choices must be identical (exact
 * bin index / float bits); sanity bounds are stated where checked.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "calib/hist.h"
#include "calib/key.h"
#include "calib/table.h"
#include "calib/threshold.h"
#include "core/rng.h"
#include "core/status.h"
#include "test_util.h"

static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* ---- slow references ------------------------------------------------------ */

/* np.digitize(j, space) - 1 for space = np.linspace(0, i, 129): the m with
 * space[m] <= j < space[m + 1], by search over the float edges. */
static int64_t ref_digitize(double j, int64_t i) {
    double step = (double)i / 128.0;
    int64_t lo = 0, hi = 128; /* invariant: edge(lo) <= j < edge(hi) */
    while (hi - lo > 1) {
        int64_t mid = (lo + hi) / 2;
        double edge = (double)mid * step; /* linspace: arange(129) * step */
        if (edge <= j)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* PQ _compute_amax_entropy, line by line (stride 1, start_bin 128, 8 bits),
 * returning the chosen index (amax = bin_edges[index]). Scipy's entropy with
 * an all-zero qk yields NaN; Kiln treats that as +inf (documented deviation),
 * so the reference does too. */
static int64_t ref_entropy(const int64_t *hist, int64_t nb) {
    if (nb < 128) return nb;
    int64_t *bins = malloc((size_t)nb * sizeof *bins);
    memcpy(bins, hist, (size_t)nb * sizeof *bins);
    bins[0] = bins[1];
    const int64_t nbins = 128;
    double new_density_counts[128];
    int64_t *digitized = malloc((size_t)nb * sizeof *digitized);
    double *new_density = malloc((size_t)nb * sizeof *new_density);
    double *reference = malloc((size_t)nb * sizeof *reference);
    double best = INFINITY;
    int64_t best_i = nb;
    for (int64_t i = 128; i <= nb; i++) {
        for (int k = 0; k < nbins; k++)
            new_density_counts[k] = 0;
        for (int64_t j = 0; j < i; j++)
            digitized[j] = ref_digitize((double)j, i);
        for (int64_t j = 0; j < i; j++)
            if (bins[j] == 0) digitized[j] = -1;
        for (int64_t j = 0; j < i; j++)
            if (digitized[j] != -1) new_density_counts[digitized[j]] += (double)bins[j];
        int64_t counter[128] = {0};
        for (int64_t j = 0; j < i; j++)
            if (digitized[j] != -1) counter[digitized[j]]++;
        for (int k = 0; k < nbins; k++)
            if (counter[k]) new_density_counts[k] = new_density_counts[k] / (double)counter[k];
        for (int64_t j = 0; j < i; j++)
            new_density[j] = digitized[j] != -1 ? new_density_counts[digitized[j]] : 0.0;
        int64_t outliers = 0;
        for (int64_t k = i; k < nb; k++)
            outliers += bins[k];
        for (int64_t j = 0; j < i; j++)
            reference[j] = (double)bins[j];
        reference[i - 1] += (double)outliers;
        /* scipy.stats.entropy(pk=reference, qk=new_density) */
        double sp = 0, sq = 0;
        for (int64_t j = 0; j < i; j++)
            sp += reference[j];
        for (int64_t j = 0; j < i; j++)
            sq += new_density[j];
        double ent = 0;
        if (sq == 0) {
            ent = INFINITY;
        } else {
            for (int64_t j = 0; j < i; j++) {
                double pk = reference[j] / sp, qk = new_density[j] / sq;
                double term;
                if (pk > 0 && qk > 0) {
                    term = pk * log(pk / qk);
                } else if (pk == 0 && qk >= 0) {
                    term = 0;
                } else {
                    term = INFINITY;
                }
                ent += term;
            }
        }
        if (ent <= best) best = ent, best_i = i; /* last argmin */
    }
    free(bins), free(digitized), free(new_density), free(reference);
    return best_i;
}

/* PQ _compute_amax_mse with centres (edges[k] + edges[k+1]) / 2, edges =
 * k * width; fake quant clamp(round(c * 127/amax), -127, 127) / scale;
 * argmin of sum((q - c)^2 * count) (PQ's mean divides by a constant).
 * Returns the chosen amax. */
static double ref_mse(const int64_t *counts, int64_t nb, double width) {
    if (nb <= 128) return (double)nb * width;
    double best = INFINITY, best_amax = 0;
    for (int64_t i = 128; i < nb; i++) {
        double amax = ((double)i * width + (double)(i + 1) * width) / 2;
        double scale = 127.0 / amax;
        double mse = 0;
        for (int64_t k = 0; k < nb; k++) {
            double c = ((double)k * width + (double)(k + 1) * width) / 2;
            double q = round(c * scale);
            if (q > 127) q = 127;
            if (q < -127) q = -127;
            q = q / scale;
            double d = (q - c) * (q - c);
            d = d * (double)counts[k];
            mse += d;
        }
        if (mse < best) best = mse, best_amax = amax;
    }
    return best_amax;
}

/* ---- histograms --------------------------------------------------------- */

static void test_hist_growth(void) {
    kiln_calib_hist h;
    kiln_calib_hist_init(&h);
    float zeros[5] = {0, -0.0f, 0, 0, 0};
    KT_OK(kiln_calib_hist_add(&h, zeros, 5));
    KT_CHECK(h.nbins == 0 && h.pending_zeros == 5 && h.n_values == 5, "zeros deferred");
    float a[4] = {1.0f, -0.5f, 0.25f, 0.0f};
    KT_OK(kiln_calib_hist_add(&h, a, 4));
    KT_CHECK(h.nbins == 2048, "nbins %lld", (long long)h.nbins);
    KT_CHECK(h.width == 1.0 / 2048, "width %g", h.width);
    KT_CHECK(h.counts[0] == 6, "bin 0 = 5 deferred + 1 zero: %lld", (long long)h.counts[0]);
    KT_CHECK(h.counts[2047] == 1 && h.counts[1024] == 1 && h.counts[512] == 1,
             "bins of 1, .5, .25");
    float nan_inf[3] = {NAN, INFINITY, -INFINITY};
    KT_OK(kiln_calib_hist_add(&h, nan_inf, 3));
    KT_CHECK(h.n_nonfinite == 3 && h.n_values == 9, "nonfinite %lld values %lld",
             (long long)h.n_nonfinite, (long long)h.n_values);
    float b[2] = {1.5f, 0.75f};
    KT_OK(kiln_calib_hist_add(&h, b, 2));
    KT_CHECK(h.nbins == 3072, "grown to ceil(1.5 / width) = 3072: %lld", (long long)h.nbins);
    KT_CHECK(h.width == 1.0 / 2048, "width kept");
    KT_CHECK(h.counts[2047] == 1 && h.counts[1536] == 1 && h.counts[3071] == 1 && h.counts[0] == 6,
             "old counts kept, new values binned");
    int64_t sum = 0;
    for (int64_t k = 0; k < h.nbins; k++)
        sum += h.counts[k];
    KT_CHECK(sum == h.n_values, "every finite value counted once: %lld vs %lld", (long long)sum,
             (long long)h.n_values);
    KT_CHECK(h.max_abs == 1.5f, "max %g", (double)h.max_abs);
    /* growth past the limit: refused, histogram unchanged */
    float huge = 1000.0f;
    kiln_status s = kiln_calib_hist_add(&h, &huge, 1);
    KT_CHECK(s == KILN_ERR_UNSUPPORTED, "growth beyond %d bins refused: %s",
             KILN_CALIB_HIST_MAX_BINS, kiln_last_error());
    KT_CHECK(h.nbins == 3072 && h.n_values == 11 && h.max_abs == 1.5f, "unchanged after refusal");
    kiln_calib_hist_free(&h);
    KT_CHECK(h.nbins == 0 && h.counts == NULL, "freed");

    /* all-zero data: T = 0; no data: error */
    kiln_calib_hist z;
    kiln_calib_hist_init(&z);
    float T = 1;
    KT_CHECK(kiln_calib_threshold(&z, KILN_CALIB_ENTROPY, 0, &T) == KILN_ERR_INVALID_ARGUMENT,
             "no values");
    KT_OK(kiln_calib_hist_add(&z, zeros, 5));
    KT_OK(kiln_calib_threshold(&z, KILN_CALIB_ENTROPY, 0, &T));
    KT_CHECK(T == 0.0f, "all zero -> T = 0");
    kiln_calib_hist_free(&z);
}

static float *laplace(size_t n, uint64_t seed, double b) {
    float *x = malloc(n * sizeof *x);
    kiln_rng r = kiln_rng_seed(seed);
    for (size_t i = 0; i < n; i++) {
        double u = kiln_rng_uniform(&r) - 0.5;
        double v = -b * (u < 0 ? -1 : 1) * log(1 - 2 * fabs(u) + 1e-300);
        x[i] = (float)v;
    }
    return x;
}

static void thresholds_of(const float *x, size_t n, size_t batch, float T[4]) {
    kiln_calib_hist h;
    kiln_calib_hist_init(&h);
    for (size_t off = 0; off < n; off += batch)
        KT_OK(kiln_calib_hist_add(&h, x + off, off + batch <= n ? batch : n - off));
    for (int a = 0; a < KILN_CALIB_ALGO_COUNT; a++)
        KT_OK(kiln_calib_threshold(&h, (kiln_calib_algo)a, KILN_CALIB_PERCENTILE_DEFAULT, &T[a]));
    kiln_calib_hist_free(&h);
}

static void test_determinism(void) {
    size_t n = 60000;
    float *x = laplace(n, 7, 1.0);
    /* move the max into the first batch (first 1000 values) */
    size_t im = 0;
    for (size_t i = 0; i < n; i++)
        if (fabsf(x[i]) > fabsf(x[im])) im = i;
    float tmp = x[0];
    x[0] = x[im];
    x[im] = tmp;
    float T1[4], T2[4], T3[4], T4[4];
    thresholds_of(x, n, 1000, T1);
    thresholds_of(x, n, 1000, T2);
    thresholds_of(x, n, 7919, T3);
    thresholds_of(x, n, n, T4);
    for (int a = 0; a < KILN_CALIB_ALGO_COUNT; a++) {
        KT_CHECK(fbits(T1[a]) == fbits(T2[a]), "%s: same data, same bits",
                 kiln_calib_algo_name((kiln_calib_algo)a));
        KT_CHECK(fbits(T1[a]) == fbits(T3[a]) && fbits(T1[a]) == fbits(T4[a]),
                 "%s: batch split invariant: %.9g %.9g %.9g",
                 kiln_calib_algo_name((kiln_calib_algo)a), (double)T1[a], (double)T3[a],
                 (double)T4[a]);
        KT_CHECK(T1[a] > 0, "%s > 0", kiln_calib_algo_name((kiln_calib_algo)a));
    }
    KT_CHECK(T1[KILN_CALIB_MINMAX] == fabsf(x[0]), "minmax is the exact max: %.9g vs %.9g",
             (double)T1[KILN_CALIB_MINMAX], (double)fabsf(x[0]));
    /* percentile/entropy/mse clip a long tail: below the max */
    KT_CHECK(T1[KILN_CALIB_ENTROPY] < T1[KILN_CALIB_MINMAX], "entropy clips the Laplace tail");
    free(x);
}

static void test_percentile(void) {
    /* constructed: 10000 values; bin 0: 9000, bin 10: 998, bin 500: 2 */
    int64_t c[2048] = {0};
    c[0] = 9000, c[10] = 998, c[500] = 2;
    KT_CHECK(kiln_calib_percentile_units(c, 2048, 99.99) == 500,
             "99.99%%: cdf(10) = .9998 < .9999");
    KT_CHECK(kiln_calib_percentile_units(c, 2048, 99.9) == 10, "99.9%% -> bin 10");
    KT_CHECK(kiln_calib_percentile_units(c, 2048, 100.0) == 500, "100%% -> last non-empty bin");
    KT_CHECK(kiln_calib_percentile_units(c, 2048, 50.0) == 1, "bin 0 is reported as 1 (T > 0)");
    kiln_calib_hist h;
    kiln_calib_hist_init(&h);
    h.counts = c, h.nbins = 2048, h.cap = 2048, h.width = 0.5, h.inv_width = 2, h.n_values = 10000;
    h.max_abs = 250.2f;
    float T;
    KT_OK(kiln_calib_threshold(&h, KILN_CALIB_PERCENTILE, 99.99, &T));
    KT_CHECK(T == 250.0f, "T = 500 * 0.5 (lower edge, as PQ's bin_edges[idx]): %g", (double)T);
    KT_OK(kiln_calib_threshold(&h, KILN_CALIB_PERCENTILE, 99.9, &T));
    KT_CHECK(T == 5.0f, "T = 10 * 0.5: %g", (double)T);
    KT_OK(kiln_calib_threshold(&h, KILN_CALIB_MINMAX, 0, &T));
    KT_CHECK(T == 250.2f, "minmax = max_abs");
    KT_CHECK(kiln_calib_threshold(&h, KILN_CALIB_PERCENTILE, 100.5, &T) ==
                 KILN_ERR_INVALID_ARGUMENT,
             "percentile > 100 refused");
    KT_CHECK(kiln_calib_threshold(&h, KILN_CALIB_PERCENTILE, NAN, &T) == KILN_ERR_INVALID_ARGUMENT,
             "percentile NaN refused");
}

/* Test histograms for entropy/mse: fills c[nb]. */
static void make_hist(int kind, int64_t *c, int64_t nb, uint64_t seed) {
    kiln_rng r = kiln_rng_seed(seed);
    memset(c, 0, (size_t)nb * sizeof *c);
    switch (kind) {
    case 0: /* half-normal samples, max in the last bin */
        for (int s = 0; s < 200000; s++) {
            double v = fabs(kiln_rng_normal(&r)) / 4.5 * (double)nb;
            int64_t k = (int64_t)v;
            c[k < nb ? k : nb - 1]++;
        }
        break;
    case 1: /* ReLU-like: a huge bin 0 + half-normal */
        make_hist(0, c, nb, seed);
        c[0] += 5000000;
        break;
    case 2: /* Laplacian: long tail, many empty bins far out */
        for (int s = 0; s < 300000; s++) {
            double u = kiln_rng_uniform(&r);
            double v = -log(1 - u + 1e-300) / 14.0 * (double)nb;
            int64_t k = (int64_t)v;
            c[k < nb ? k : nb - 1]++;
        }
        break;
    case 3: /* random counts with zeros sprinkled */
        for (int64_t k = 0; k < nb; k++)
            c[k] = kiln_rng_uniform(&r) < 0.3 ? 0 : (int64_t)(kiln_rng_next(&r) % 1000);
        break;
    case 4: /* sparse: a few distinct values (exact KL ties) */
        for (int s = 0; s < 7; s++)
            c[kiln_rng_next(&r) % (uint64_t)nb] += 1 + s * 10;
        c[nb - 1] += 3;
        break;
    case 5: /* uniform counts: many equal KL values */
        for (int64_t k = 0; k < nb; k++)
            c[k] = 100;
        break;
    case 7: /* equal counts on the lower half: KL is exactly 0 for every i >= nb/2 */
        for (int64_t k = 0; k < nb / 2; k++)
            c[k] = 100;
        break;
    case 8: /* the same with empty bins sprinkled (excluded from Q): still exact ties */
        for (int64_t k = 0; k < nb / 2; k++)
            c[k] = kiln_rng_uniform(&r) < 0.2 ? 0 : 37;
        break;
    default: /* decreasing with a gap, nothing in bins 0..1 */
        for (int64_t k = 2; k < nb; k++)
            c[k] = (k % 97 == 0) ? 0 : (nb - k) * 3;
        break;
    }
}

static void test_entropy_vs_reference(void) {
    static const int64_t sizes[] = {2048, 2500, 300, 129, 128, 127, 3001};
    int cases = 0;
    for (int kind = 0; kind <= 8; kind++) {
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
            int64_t nb = sizes[si];
            if (nb > 2048 && kind > 3) continue; /* keep the O(n^2) reference short */
            int64_t *c = malloc((size_t)nb * sizeof *c);
            make_hist(kind, c, nb, 100 + (uint64_t)kind * 31 + si);
            int64_t got;
            KT_OK(kiln_calib_entropy_units(c, nb, &got));
            int64_t want = ref_entropy(c, nb);
            KT_CHECK(got == want, "entropy kind %d nbins %lld: kiln %lld, reference %lld", kind,
                     (long long)nb, (long long)got, (long long)want);
            if (nb >= 1000 && (kind == 0 || kind == 2 || kind == 3)) {
                double mw = ref_mse(c, nb, 1.0 / 2048);
                double mg = kiln_calib_mse_units(c, nb) / 2048;
                KT_CHECK(mw == mg, "mse kind %d nbins %lld: kiln %.9g, reference %.9g", kind,
                         (long long)nb, mg, mw);
            }
            free(c);
            cases++;
        }
    }
    KT_CHECK(cases >= 40, "ran %d entropy cases", cases);
    /* a Laplacian through the real histogram path */
    float *x = laplace(200000, 99, 0.3);
    kiln_calib_hist h;
    kiln_calib_hist_init(&h);
    KT_OK(kiln_calib_hist_add(&h, x, 100000));
    for (size_t i = 100000; i < 200000; i++)
        x[i] *= 1.7f; /* second half grows the range */
    KT_OK(kiln_calib_hist_add(&h, x + 100000, 100000));
    KT_CHECK(h.nbins > 2048, "grown: %lld bins", (long long)h.nbins);
    int64_t got;
    KT_OK(kiln_calib_entropy_units(h.counts, h.nbins, &got));
    KT_CHECK(got == ref_entropy(h.counts, h.nbins), "entropy on a grown Laplacian histogram");
    float T;
    KT_OK(kiln_calib_threshold(&h, KILN_CALIB_ENTROPY, 0, &T));
    KT_CHECK(T == (float)((double)got * h.width), "T = i * width (the bin edge)");
    kiln_calib_hist_free(&h);
    free(x);
}

static void test_sanity(void) {
    size_t n = 400000;
    float *x = malloc(n * sizeof *x);
    kiln_rng r = kiln_rng_seed(5);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)kiln_rng_normal(&r);
    kiln_calib_hist h;
    kiln_calib_hist_init(&h);
    KT_OK(kiln_calib_hist_add(&h, x, n));
    float Te, Tm, Tp;
    KT_OK(kiln_calib_threshold(&h, KILN_CALIB_ENTROPY, 0, &Te));
    KT_OK(kiln_calib_threshold(&h, KILN_CALIB_MSE, 0, &Tm));
    KT_OK(kiln_calib_threshold(&h, KILN_CALIB_PERCENTILE, 99.99, &Tp));
    printf("gaussian: max %.4f entropy %.4f mse %.4f p99.99 %.4f\n", (double)h.max_abs, (double)Te,
           (double)Tm, (double)Tp);
    KT_CHECK(Te >= 2.5f && Te <= 5.0f, "gaussian entropy T in [2.5, 5] sigma: %g", (double)Te);
    KT_CHECK(Tm >= 2.0f && Tm <= 5.0f, "gaussian mse T in [2, 5] sigma: %g", (double)Tm);
    KT_CHECK(Tp >= 3.6f && Tp <= 4.3f, "gaussian p99.99 near 3.89 sigma: %g", (double)Tp);
    kiln_calib_hist_free(&h);
    kt_fill_uniform(x, n, 11, 0.0f, 1.0f);
    kiln_calib_hist_init(&h);
    KT_OK(kiln_calib_hist_add(&h, x, n));
    KT_OK(kiln_calib_threshold(&h, KILN_CALIB_ENTROPY, 0, &Te));
    printf("uniform [0,1): entropy %.4f\n", (double)Te);
    KT_CHECK(fabsf(Te - 1.0f) < 0.03f, "uniform [0,1) entropy T ~ 1 (within 0.03): %g", (double)Te);
    kiln_calib_hist_free(&h);
    free(x);
}

static void test_algo_names(void) {
    for (int a = 0; a < KILN_CALIB_ALGO_COUNT; a++) {
        kiln_calib_algo got;
        KT_OK(kiln_calib_algo_parse(kiln_calib_algo_name((kiln_calib_algo)a), &got));
        KT_CHECK((int)got == a, "round trip %d", a);
    }
    kiln_calib_algo got;
    KT_CHECK(kiln_calib_algo_parse("kl", &got) == KILN_ERR_INVALID_ARGUMENT &&
                 strstr(kiln_last_error(), "entropy"),
             "unknown name lists the valid ones: %s", kiln_last_error());
}

/* ---- key ---------------------------------------------------------------- */

/* The definition in key.h, over one buffer. */
static uint64_t ref_kiln64(const uint8_t *s, size_t len) {
    const uint64_t m = 0xc6a4a7935bd1e995ull;
    uint64_t h = 0x9e3779b97f4a7c15ull;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w = 0;
        for (int b = 7; b >= 0; b--)
            w = w << 8 | s[i + (size_t)b];
        w *= m;
        w ^= w >> 47;
        w *= m;
        h ^= w;
        h *= m;
    }
    if (len % 8) {
        uint64_t w = 0;
        for (size_t b = len % 8; b-- > 0;)
            w = w << 8 | s[i + b];
        h ^= w;
        h *= m;
    }
    h ^= (uint64_t)len;
    h *= m;
    h ^= h >> 47;
    h *= m;
    h ^= h >> 47;
    return h;
}

#define KILN_TEST_GOLDEN_KEY "07dbdef00b408abd"

static void test_key(void) {
    size_t n = 1000;
    uint8_t *buf = malloc(n);
    kiln_rng r = kiln_rng_seed(3);
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)kiln_rng_next(&r);
    for (size_t len = 0; len < 40; len++) {
        kiln_key k;
        kiln_key_init(&k);
        kiln_key_update(&k, buf, len);
        KT_CHECK(kiln_key_final_u64(&k) == ref_kiln64(buf, len), "length %zu", len);
    }
    uint64_t want = ref_kiln64(buf, n);
    for (int trial = 0; trial < 20; trial++) {
        kiln_key k;
        kiln_key_init(&k);
        size_t off = 0;
        while (off < n) {
            size_t c = (size_t)(kiln_rng_next(&r) % 23);
            if (c > n - off) c = n - off;
            kiln_key_update(&k, buf + off, c);
            off += c;
        }
        KT_CHECK(kiln_key_final_u64(&k) == want, "split %d", trial);
    }
    /* helpers: str includes '\0'; i64 little-endian; blob = i64 length + bytes */
    uint8_t exp[64];
    memcpy(exp, "ab\0", 3);
    int64_t v = -2;
    for (int b = 0; b < 8; b++)
        exp[3 + b] = (uint8_t)((uint64_t)v >> (8 * b));
    for (int b = 0; b < 8; b++)
        exp[11 + b] = (uint8_t)(3ull >> (8 * b));
    memcpy(exp + 19, "xyz", 3);
    kiln_key k;
    kiln_key_init(&k);
    kiln_key_update_str(&k, "ab");
    kiln_key_update_i64(&k, -2);
    kiln_key_update_blob(&k, "xyz", 3);
    KT_CHECK(kiln_key_final_u64(&k) == ref_kiln64(exp, 22), "str/i64/blob encodings");
    char hex[17];
    kiln_key_final(&k, hex);
    char want_hex[17];
    snprintf(want_hex, sizeof want_hex, "%016llx", (unsigned long long)ref_kiln64(exp, 22));
    KT_CHECK(strcmp(hex, want_hex) == 0 && strlen(hex) == 16, "hex %s", hex);
    /* golden value: changing kiln64 changes every table name; do it on purpose only */
    kiln_key_init(&k);
    kiln_key_update_str(&k, "kiln-calib-key-v1");
    kiln_key_final(&k, hex);
    printf("kiln64(\"kiln-calib-key-v1\\0\") = %s\n", hex);
    KT_CHECK(strcmp(hex, KILN_TEST_GOLDEN_KEY) == 0, "golden key %s", hex);
    kiln_key k2;
    kiln_key_init(&k2);
    kiln_key_update_str(&k2, "kiln-calib-key-v2");
    KT_CHECK(kiln_key_final_u64(&k2) != kiln_key_final_u64(&k), "different input, different key");
    free(buf);
}

/* ---- table -------------------------------------------------------------- */

static char tmpdir[256];

static int count_files(const char *dir, const char *contains) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && (!contains || strstr(e->d_name, contains))) n++;
    closedir(d);
    return n;
}

static kiln_calib_table_info sample_info(void) {
    kiln_calib_table_info info = {0};
    info.key = "0123456789abcdef";
    info.algo = KILN_CALIB_ENTROPY;
    info.samples = 500;
    info.shape_rank = 4;
    info.shape[0] = 1, info.shape[1] = 3, info.shape[2] = 224, info.shape[3] = 224;
    info.preprocess = "resize256,crop224,rgb,mean=0.485/0.456/0.406,std=0.229/0.224/0.225";
    return info;
}

static void test_table_round_trip(void) {
    enum { N = 50 };
    char namebuf[N][32];
    const char *names[N];
    float T[N];
    kiln_rng r = kiln_rng_seed(17);
    for (int i = 0; i < N; i++) {
        snprintf(namebuf[i], sizeof namebuf[i], "conv%d.tmp_%d", i, i * 7);
        names[i] = namebuf[i];
        T[i] = (float)(kiln_rng_uniform(&r) * 30.0 + 1e-3);
    }
    names[3] = "data"; /* graph order is kept, not sorted */
    T[4] = 1e-30f;     /* tiny but positive */
    kiln_calib_table_info info = sample_info();
    char path[512];
    KT_OK(kiln_calib_table_path(path, sizeof path, tmpdir, info.key));
    char want_path[512];
    snprintf(want_path, sizeof want_path, "%s/_opt_cache/trt_calib_0123456789abcdef", tmpdir);
    KT_CHECK(strcmp(path, want_path) == 0, "path %s", path);
    KT_OK(kiln_calib_table_write(path, &info, names, T, N));
    char cache[512];
    snprintf(cache, sizeof cache, "%s/_opt_cache", tmpdir);
    KT_CHECK(count_files(cache, NULL) == 1 && count_files(cache, "tmp") == 0,
             "one file, no temp file left: %d", count_files(cache, NULL));
    /* rewrite over it: still one file */
    KT_OK(kiln_calib_table_write(path, &info, names, T, N));
    KT_CHECK(count_files(cache, NULL) == 1, "rewrite leaves one file");

    kiln_calib_table *t = NULL;
    KT_OK(kiln_calib_table_load(path, &t));
    if (!t) return;
    KT_CHECK(!t->is_trt && t->version == 1, "kiln table v1");
    KT_CHECK(strcmp(t->key, info.key) == 0, "key");
    KT_CHECK(t->has_algo && t->algo == KILN_CALIB_ENTROPY, "algo");
    KT_CHECK(t->samples == 500, "samples");
    KT_CHECK(t->shape_rank == 4 && t->shape[2] == 224, "shape");
    KT_CHECK(strcmp(t->preprocess, info.preprocess) == 0, "preprocess %s", t->preprocess);
    KT_CHECK(strcmp(t->kiln_version, KILN_VERSION_STRING) == 0, "kiln version");
    KT_CHECK(t->n_entries == N, "entries %lld", (long long)t->n_entries);
    for (int i = 0; i < N && i < t->n_entries; i++) {
        float want = T[i] / 127.0f;
        KT_CHECK(strcmp(t->entries[i].name, names[i]) == 0, "order %d", i);
        KT_CHECK(t->entries[i].line == i + 2, "line %d", i);
        KT_CHECK(fbits(t->entries[i].scale) == fbits(want), "scale bits %d", i);
        const kiln_calib_entry *e = kiln_calib_table_find(t, names[i]);
        KT_CHECK(e == &t->entries[i], "find %s", names[i]);
        float got;
        KT_OK(kiln_calib_table_threshold(t, names[i], &got));
        KT_CHECK(got == want * 127.0f, "threshold %d", i);
    }
    float got;
    KT_CHECK(kiln_calib_table_threshold(t, "nope", &got) == KILN_ERR_NOT_FOUND, "missing tensor");
    int no_key = -1;
    KT_OK(kiln_calib_table_check(t, info.key, 4, info.shape, &no_key));
    KT_CHECK(no_key == 0, "kiln table has a key");
    /* key mismatch */
    kiln_status s = kiln_calib_table_check(t, "fedcba9876543210", 4, info.shape, &no_key);
    const char *msg = kiln_last_error();
    KT_CHECK(s == KILN_ERR_INVALID_ARGUMENT && strstr(msg, "0123456789abcdef") &&
                 strstr(msg, "fedcba9876543210") && strstr(msg, "kiln calibrate") &&
                 strstr(msg, "delete") && strstr(msg, path),
             "key mismatch message: %s", msg);
    int64_t other[4] = {8, 3, 224, 224};
    s = kiln_calib_table_check(t, info.key, 4, other, &no_key);
    msg = kiln_last_error();
    KT_CHECK(s == KILN_ERR_INVALID_ARGUMENT && strstr(msg, "1x3x224x224") &&
                 strstr(msg, "8x3x224x224"),
             "shape mismatch message: %s", msg);
    kiln_calib_table_destroy(t);

    /* percentile header field */
    info.algo = KILN_CALIB_PERCENTILE;
    info.percentile = 99.99;
    info.preprocess = NULL;
    char *text;
    size_t len;
    KT_OK(kiln_calib_table_format(&info, names, T, 2, &text, &len));
    KT_CHECK(strstr(text, " percentile=99.99 ") && strstr(text, "preprocess=none\n"), "%s", text);
    KT_CHECK(strncmp(text,
                     "#kiln-calib-table v1 kiln=" KILN_VERSION_STRING
                     " key=0123456789abcdef algo=percentile",
                     60) == 0,
             "header %s", text);
    KT_OK(kiln_calib_table_parse(text, len, "mem", &t));
    if (t) KT_CHECK(t->percentile == 99.99 && t->algo == KILN_CALIB_PERCENTILE, "percentile back");
    kiln_calib_table_destroy(t);
    free(text);
}

static void test_table_write_rejects(void) {
    kiln_calib_table_info info = sample_info();
    float T[2] = {1.0f, 2.0f};
    static const char *bad[] = {"a:b", "a b", "a\nb", "a\tb", "", "a\r"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *names[2] = {"ok", bad[i]};
        char *text = NULL;
        size_t len;
        kiln_status s = kiln_calib_table_format(&info, names, T, 2, &text, &len);
        KT_CHECK(s == KILN_ERR_INVALID_ARGUMENT, "name #%zu rejected", i);
        if (bad[i][0])
            KT_CHECK(strstr(kiln_last_error(), "tensor '"), "names the tensor: %s",
                     kiln_last_error());
        free(text);
    }
    const char *dup[2] = {"x", "x"};
    char *text = NULL;
    size_t len;
    KT_CHECK(kiln_calib_table_format(&info, dup, T, 2, &text, &len) == KILN_ERR_INVALID_ARGUMENT,
             "duplicate names rejected");
    const char *names[2] = {"x", "y"};
    float Tz[2] = {1.0f, 0.0f};
    KT_CHECK(kiln_calib_table_format(&info, names, Tz, 2, &text, &len) ==
                     KILN_ERR_INVALID_ARGUMENT &&
                 strstr(kiln_last_error(), "'y'"),
             "T = 0 rejected naming the tensor: %s", kiln_last_error());
    float Tn[2] = {1.0f, NAN};
    KT_CHECK(kiln_calib_table_format(&info, names, Tn, 2, &text, &len) == KILN_ERR_INVALID_ARGUMENT,
             "T = NaN rejected");
    info.key = "0123";
    KT_CHECK(kiln_calib_table_format(&info, names, T, 2, &text, &len) == KILN_ERR_INVALID_ARGUMENT,
             "bad key rejected");
    info = sample_info();
    info.preprocess = "has space";
    KT_CHECK(kiln_calib_table_format(&info, names, T, 2, &text, &len) == KILN_ERR_INVALID_ARGUMENT,
             "preprocess with a space rejected");
    info = sample_info();
    info.shape[0] = -1;
    KT_CHECK(kiln_calib_table_format(&info, names, T, 2, &text, &len) == KILN_ERR_INVALID_ARGUMENT,
             "dynamic dim rejected");
}

static void test_trt_tables(void) {
    static const char *variants[] = {
        "TRT-7202-EntropyCalibration2\ndata: 3c008912\nconv1: 3c60dd38\n",
        "TRT-7202-EntropyCalibration2\r\ndata: 3c008912\r\nconv1: 3c60dd38\r\n",
        "TRT-7202-EntropyCalibration2\ndata: 3c008912\nconv1: 3c60dd38",
        "\xef\xbb\xbfTRT-7202-EntropyCalibration2\ndata: 3c008912\n\nconv1: 3C60DD38\n\n",
    };
    for (size_t v = 0; v < sizeof variants / sizeof *variants; v++) {
        kiln_calib_table *t = NULL;
        KT_OK(kiln_calib_table_parse(variants[v], strlen(variants[v]), "trt.cache", &t));
        if (!t) continue;
        KT_CHECK(t->is_trt && t->trt_version == 7202 &&
                     strcmp(t->trt_algo, "EntropyCalibration2") == 0 && t->has_algo &&
                     t->algo == KILN_CALIB_ENTROPY && t->key[0] == 0 && t->samples == -1,
                 "variant %zu header", v);
        KT_CHECK(t->n_entries == 2, "variant %zu: 2 entries", v);
        const kiln_calib_entry *d = kiln_calib_table_find(t, "data");
        const kiln_calib_entry *c = kiln_calib_table_find(t, "conv1");
        KT_CHECK(d && d->bits == 0x3c008912u && d->line == 2, "data");
        KT_CHECK(c && c->bits == 0x3c60dd38u, "conv1");
        if (d) {
            float T;
            KT_OK(kiln_calib_table_threshold(t, "data", &T));
            KT_CHECK(T == d->scale * 127.0f && fabsf(T - 0.99634f) < 1e-4f,
                     "data T = float(0x3c008912) * 127 = 0.99634: %g", (double)T);
        }
        int no_key = 0;
        KT_OK(
            kiln_calib_table_check(t, "0123456789abcdef", 4, (int64_t[]){1, 3, 224, 224}, &no_key));
        KT_CHECK(no_key == 1, "TRT table: no key -> caller warns");
        kiln_calib_table_destroy(t);
    }
    static const char *algos[] = {"TRT-8510-MinMaxCalibration\nx: 3f800000\n",
                                  "TRT-7000-EntropyCalibration\nx: 3f800000\n",
                                  "TRT-8600-LegacyCalibration\nx: 3f800000\n"};
    for (size_t a = 0; a < 3; a++) {
        kiln_calib_table *t = NULL;
        KT_OK(kiln_calib_table_parse(algos[a], strlen(algos[a]), "t", &t));
        if (t) KT_CHECK(t->is_trt && t->has_algo == (a < 2), "algo %zu", a);
        kiln_calib_table_destroy(t);
    }
    /* names with spaces (TensorRT internal tensors) and ": " inside */
    const char *odd = "TRT-8001-EntropyCalibration2\n(Unnamed Layer* 4) [Fully Connected]_output: "
                      "3c010a14\na: b: 00000001\n";
    kiln_calib_table *t = NULL;
    KT_OK(kiln_calib_table_parse(odd, strlen(odd), "t", &t));
    if (t) {
        KT_CHECK(kiln_calib_table_find(t, "(Unnamed Layer* 4) [Fully Connected]_output"),
                 "unnamed layer");
        const kiln_calib_entry *e = kiln_calib_table_find(t, "a: b");
        KT_CHECK(e && e->bits == 1 && e->scale > 0, "name up to the last ': ', tiny scale kept");
    }
    kiln_calib_table_destroy(t);
    /* forward compatibility: unknown header fields ignored */
    const char *fwd = "#kiln-calib-table v1 kiln=0.9.0 key=0123456789abcdef algo=mse samples=3 "
                      "shape=2x3 future=thing preprocess=x\nt: 3f800000\n";
    KT_OK(kiln_calib_table_parse(fwd, strlen(fwd), "t", &t));
    if (t) KT_CHECK(t->algo == KILN_CALIB_MSE && t->shape_rank == 2 && t->n_entries == 1, "fwd");
    kiln_calib_table_destroy(t);
}

typedef struct bad_case {
    const char *text;
    size_t len; /* 0: strlen */
    int line;
    const char *what; /* substring of the message */
} bad_case;

static void test_table_malformed(void) {
    static const char K[] = "#kiln-calib-table v1 kiln=0.1.0 key=0123456789abcdef algo=entropy "
                            "samples=1 shape=1x3x4x4 preprocess=none\n";
    char buf[64][256];
    const bad_case cases[] = {
        {"", 0, 1, "empty file"},
        {"\n\n", 0, 1, "not a calibration table"},
        {"hello\nx: 3f800000\n", 0, 1, "not a calibration table"},
        {"TRT-7202-Entropy\nx: 3f800000\n", 0, 1, "unknown algorithm"},
        {"TRT-abc-EntropyCalibration2\n", 0, 1, "not a number"},
        {"TRT-7202-EntropyCalibration2\ndata: 3c008912\nconv1 3c60dd38\n", 0, 3, "expected"},
        {"TRT-7202-EntropyCalibration2\ndata: 3c008912\nconv1: 3c60dz38\n", 0, 3, "hex"},
        {"TRT-7202-EntropyCalibration2\ndata: 3c0089120\n", 0, 2, "hex"},
        {"TRT-7202-EntropyCalibration2\ndata: \n", 0, 2, "hex"},
        {"TRT-7202-EntropyCalibration2\ndata: 7fc00000\n", 0, 2, "NaN"},
        {"TRT-7202-EntropyCalibration2\ndata: 7f800000\n", 0, 2, "infinite"},
        {"TRT-7202-EntropyCalibration2\na: 3f800000\ndata: bc008912\n", 0, 3, "negative"},
        {"TRT-7202-EntropyCalibration2\ndata: 00000000\n", 0, 2, "zero"},
        {"TRT-7202-EntropyCalibration2\ndata: 80000000\n", 0, 2, "zero"},
        {"TRT-7202-EntropyCalibration2\n: 3f800000\n", 0, 2, "empty tensor name"},
        {"TRT-7202-EntropyCalibration2\na: 3f800000\nb: 3f800000\na: 3f800000\n", 0, 4, "line 2"},
        {"TRT-7202-EntropyCalibration2\na: 3f800000\n\x01\x02garbage: 3f800000\n", 0, 3,
         "control byte"},
        {"TRT-7202-EntropyCalibration2\na: 3f800000\nb\0c: 3f800000\n", 55, 3, "control byte"},
        {"TRT-7202-EntropyCalibration2\na: 3f800000\n\xff\xfe: 3f800000\n", 0, 3, "UTF-8"},
        {"TRT-7202-EntropyCalibration2\na: 3f80\r0000\n", 0, 2, "control byte"},
        {"#kiln-calib-table v2 key=0123456789abcdef\nx: 3f800000\n", 0, 1, "newer Kiln"},
        {"#kiln-calib-table\n", 0, 1, "format version"},
        {"#kiln-calib-table v1 algo=entropy samples=1 shape=1\n", 0, 1, "'key='"},
        {"#kiln-calib-table v1 key=0123 algo=entropy samples=1 shape=1\n", 0, 1, "16 lowercase"},
        {"#kiln-calib-table v1 key=0123456789abcdef algo=kl samples=1 shape=1\n", 0, 1,
         "unknown algo"},
        {"#kiln-calib-table v1 key=0123456789abcdef algo=mse samples=-1 shape=1\n", 0, 1,
         "samples"},
        {"#kiln-calib-table v1 key=0123456789abcdef algo=mse samples=1 shape=1x0\n", 0, 1, "shape"},
        {"#kiln-calib-table v1 key=0123456789abcdef algo=mse samples=1 shape=1 shape=2\n", 0, 1,
         "twice"},
        {"#kiln-calib-table v1 key=0123456789abcdef algo=mse samples=1 shape=1 junk\n", 0, 1,
         "key=value"},
    };
    int n = (int)(sizeof cases / sizeof *cases);
    for (int i = 0; i < n; i++) {
        const bad_case *c = &cases[i];
        size_t len = c->len ? c->len : strlen(c->text);
        kiln_calib_table *t = (kiln_calib_table *)1;
        kiln_status s = kiln_calib_table_parse(c->text, len, "bad.table", &t);
        const char *msg = kiln_last_error();
        char want[64];
        snprintf(want, sizeof want, "bad.table:%d: ", c->line);
        KT_CHECK(s == KILN_ERR_FORMAT && t == NULL, "case %d: refused", i);
        KT_CHECK(strncmp(msg, want, strlen(want)) == 0, "case %d: line %d: %s", i, c->line, msg);
        KT_CHECK(strstr(msg, c->what) != NULL, "case %d: '%s' in %s", i, c->what, msg);
        KT_CHECK(strstr(msg, "kiln calibrate") && strstr(msg, "delete the file"),
                 "case %d: says how to regenerate: %s", i, msg);
    }
    /* errors after a Kiln header too, with the right line */
    snprintf(buf[0], sizeof buf[0], "%sa: 3f800000\nb: zz\n", K);
    kiln_calib_table *t = NULL;
    KT_CHECK(kiln_calib_table_parse(buf[0], strlen(buf[0]), "k", &t) == KILN_ERR_FORMAT &&
                 strncmp(kiln_last_error(), "k:3: ", 5) == 0,
             "kiln table line 3: %s", kiln_last_error());
    /* a missing file */
    char p[512];
    snprintf(p, sizeof p, "%s/does-not-exist", tmpdir);
    KT_CHECK(kiln_calib_table_load(p, &t) == KILN_ERR_IO, "missing file is an IO error");
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kiln_test_calib_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_hist_growth();
    test_determinism();
    test_percentile();
    test_entropy_vs_reference();
    test_sanity();
    test_algo_names();
    test_key();
    test_table_round_trip();
    test_table_write_rejects();
    test_trt_tables();
    test_table_malformed();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return kt_finish("test_calib");
}
