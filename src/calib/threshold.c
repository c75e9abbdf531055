/*
 * threshold.c — T from an |x| histogram: entropy (KL), percentile, min-max,
 * MSE. Follows PyTorch-quantization calib/histogram.py (PQ); every deviation
 * is marked "DEVIATION" here and listed in docs/CALIBRATION.md.
 *
 * Entropy cost: a closed form per candidate over the 128 groups (prefix sums,
 * O(128) logs each) finds the minimum; the candidates within KILN_KL_WINDOW
 * of it are then re-evaluated with the literal bin-by-bin formula (the one a
 * straight port of PQ computes) and the last argmin of those is taken, so the
 * choice equals the literal algorithm's, ties included.
 *
 * Non-goals: per-channel, unsigned or FP8 variants of PQ's functions.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calib/threshold.h"
#include "core/status.h"

/* Candidates whose closed-form KL is within this of the minimum are
 * re-evaluated literally. The closed form differs from the literal sum by
 * < 1e-9 (double rounding over <= 65536 bins), so this window is safe. */
#define KILN_KL_WINDOW 1e-6
/* Upper bound on literal re-evaluation work (sum of i over the window); past
 * it, the closed-form values decide (only reachable on degenerate inputs). */
#define KILN_KL_REFINE_BUDGET ((int64_t)1 << 26)

static const char *const algo_names[KILN_CALIB_ALGO_COUNT] = {"entropy", "percentile", "minmax",
                                                              "mse"};

const char *kiln_calib_algo_name(kiln_calib_algo a) {
    if ((int)a < 0 || a >= KILN_CALIB_ALGO_COUNT) return "?";
    return algo_names[a];
}

kiln_status kiln_calib_algo_parse(const char *s, kiln_calib_algo *out) {
    for (int a = 0; a < KILN_CALIB_ALGO_COUNT; a++) {
        if (s && strcmp(s, algo_names[a]) == 0) {
            *out = (kiln_calib_algo)a;
            return KILN_OK;
        }
    }
    return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                      "unknown calibration algorithm '%s'; use entropy, percentile, minmax or mse",
                      s ? s : "(null)");
}

/* ---- entropy ------------------------------------------------------------ */

typedef struct kl_ctx {
    const int64_t *b; /* [n] counts with b[0] replaced by b[1] */
    int64_t n;
    const int64_t *S; /* [n+1] S[k] = b[0] + ... + b[k-1] */
    const int64_t *Z; /* [n+1] Z[k] = number of non-zero b[0..k-1] */
    const double *L;  /* [n+1] L[k] = sum over j < k of b[j] ln b[j] (sequential) */
    int64_t total;    /* S[n] */
} kl_ctx;

/* First bin of group g when the first i bins are split in 128 groups: bin j
 * belongs to group floor(128 j / i) (PQ's linspace(0, i, 129) + digitize:
 * the edges g*i/128 are exact in double, so this equality is exact). */
static inline int64_t group_start(int64_t g, int64_t i) {
    return (g * i + KILN_CALIB_LEVELS - 1) / KILN_CALIB_LEVELS;
}

/* KL(P||Q) for candidate i in closed form:
 *   KL = (sum P ln P - sum_g P_g ln(G_g / n_g)) / SP - ln SP + ln SQ
 * with G_g the group's count, n_g its non-zero bins, P_g = G_g (+ outliers in
 * the last group), SP = total, SQ = S[i]. */
static double kl_fast(const kl_ctx *c, int64_t i) {
    int64_t outl = c->total - c->S[i];
    int64_t last = c->b[i - 1];
    /* DEVIATION: Q empty (the first i bins are all zero) is +inf; PQ gets NaN
     * from scipy and np.argmin would pick it. */
    if (c->S[i] == 0) return INFINITY;
    if (outl > 0 && last == 0) return INFINITY; /* P > 0 where Q = 0 */
    double pl = (double)(last + outl);
    double plp = c->L[i - 1];
    if (pl > 0) plp += pl * log(pl);
    double cross = 0.0;
    for (int64_t g = 0; g < KILN_CALIB_LEVELS; g++) {
        int64_t s = group_start(g, i), e = group_start(g + 1, i);
        int64_t G = c->S[e] - c->S[s];
        if (G == 0) continue;
        int64_t nz = c->Z[e] - c->Z[s];
        double pg = (double)(g == KILN_CALIB_LEVELS - 1 ? G + outl : G);
        cross += pg * log((double)G / (double)nz);
    }
    double sp = (double)c->total, sq = (double)c->S[i];
    return (plp - cross) / sp - log(sp) + log(sq);
}

/* KL(P||Q) for candidate i, bin by bin, exactly as a literal port of PQ's
 * _compute_amax_entropy + scipy.stats.entropy computes it, with sequential
 * sums (DEVIATION: numpy sums pairwise; last-bit differences only).
 * Products and sums are separate statements so no FMA contraction happens. */
static double kl_literal(const kl_ctx *c, int64_t i) {
    double qg[KILN_CALIB_LEVELS];
    int64_t outl = c->total - c->S[i];
    for (int64_t g = 0; g < KILN_CALIB_LEVELS; g++) {
        int64_t s = group_start(g, i), e = group_start(g + 1, i);
        int64_t nz = c->Z[e] - c->Z[s];
        qg[g] = nz ? (double)(c->S[e] - c->S[s]) / (double)nz : 0.0;
    }
    double sq = 0.0;
    for (int64_t j = 0; j < i; j++)
        if (c->b[j]) sq += qg[(KILN_CALIB_LEVELS * j) / i];
    if (sq == 0.0) return INFINITY;
    double sp = (double)c->total;
    double kl = 0.0;
    for (int64_t j = 0; j < i; j++) {
        int64_t P = c->b[j] + (j == i - 1 ? outl : 0);
        if (P == 0) continue;
        if (c->b[j] == 0) return INFINITY;
        double p = (double)P / sp;
        double q = qg[(KILN_CALIB_LEVELS * j) / i] / sq;
        double t = p * log(p / q);
        kl += t;
    }
    return kl;
}

kiln_status kiln_calib_entropy_units(const int64_t *counts, int64_t nbins, int64_t *i_out) {
    *i_out = nbins;
    if (nbins < KILN_CALIB_LEVELS) return KILN_OK; /* no candidate: the whole range */
    size_t n1 = (size_t)nbins + 1;
    int64_t *b = malloc((size_t)nbins * sizeof *b);
    int64_t *S = malloc(n1 * sizeof *S);
    int64_t *Z = malloc(n1 * sizeof *Z);
    double *L = malloc(n1 * sizeof *L);
    double *f = malloc(n1 * sizeof *f);
    if (!b || !S || !Z || !L || !f) {
        free(b), free(S), free(Z), free(L), free(f);
        return kiln_error(KILN_ERR_NO_MEMORY, "entropy calibration: %lld bins", (long long)nbins);
    }
    memcpy(b, counts, (size_t)nbins * sizeof *b);
    b[0] = b[1]; /* PQ: keep the spike at 0 (ReLU) from dominating */
    S[0] = 0, Z[0] = 0, L[0] = 0.0;
    for (int64_t k = 0; k < nbins; k++) {
        S[k + 1] = S[k] + b[k];
        Z[k + 1] = Z[k] + (b[k] != 0);
        L[k + 1] = L[k];
        if (b[k] > 0) {
            double v = (double)b[k];
            L[k + 1] += v * log(v);
        }
    }
    kl_ctx c = {b, nbins, S, Z, L, S[nbins]};
    double fmin = INFINITY;
    int64_t imin = nbins;
    for (int64_t i = KILN_CALIB_LEVELS; i <= nbins; i++) {
        f[i] = kl_fast(&c, i);
        if (f[i] <= fmin) fmin = f[i], imin = i;
    }
    if (isfinite(fmin)) {
        double lim = fmin + KILN_KL_WINDOW;
        int64_t work = 0;
        for (int64_t i = KILN_CALIB_LEVELS; i <= nbins; i++)
            if (f[i] <= lim) work += i;
        if (work <= KILN_KL_REFINE_BUDGET) {
            double best = INFINITY;
            for (int64_t i = KILN_CALIB_LEVELS; i <= nbins; i++) {
                if (!(f[i] <= lim)) continue;
                double e = kl_literal(&c, i);
                if (e <= best) best = e, imin = i; /* last argmin, as PQ */
            }
        }
    }
    *i_out = imin; /* all candidates infinite: the last one, as PQ's last argmin */
    free(b), free(S), free(Z), free(L), free(f);
    return KILN_OK;
}

/* ---- percentile, mse ---------------------------------------------------- */

int64_t kiln_calib_percentile_units(const int64_t *counts, int64_t nbins, double percentile) {
    int64_t total = 0;
    for (int64_t k = 0; k < nbins; k++)
        total += counts[k];
    if (total == 0) return 0;
    /* DEVIATION: exact integer cumulative counts instead of PQ's float
     * cumsum(hist / total); same first bin except at rounding boundaries. */
    double target = percentile / 100.0;
    int64_t cum = 0;
    for (int64_t k = 0; k < nbins; k++) {
        cum += counts[k];
        if ((double)cum / (double)total >= target) return k == 0 ? 1 : k;
    }
    return nbins;
}

double kiln_calib_mse_units(const int64_t *counts, int64_t nbins) {
    if (nbins <= KILN_CALIB_LEVELS) return (double)nbins;
    /* PQ: candidates are the centres of bins 128 .. nbins-2 (range(start_bin,
     * len(centers)) excludes the last one); fake-quantize every bin centre
     * with amax = that centre, error = sum count * (q - c)^2 (PQ's mean
     * divides by nbins, a constant), first argmin. Computed in bin-width units
     * (c_k = k + 0.5) in double; PQ uses float32 on the GPU. Rounding is half
     * away from zero (PQ's CUDA kernel, roundf); exact halves cannot occur as
     * 127 (2k+1) / (2i+1) is never an odd multiple of 1/2. */
    double best = INFINITY, best_c = (double)KILN_CALIB_LEVELS + 0.5;
    for (int64_t i = KILN_CALIB_LEVELS; i < nbins; i++) {
        double amax = (double)i + 0.5;
        double scale = 127.0 / amax;
        double err = 0.0;
        for (int64_t k = 0; k < nbins; k++) {
            if (counts[k] == 0) continue; /* adds exactly 0 */
            double cen = (double)k + 0.5;
            double v = cen * scale;
            v = v >= 127.5 ? 127.0 : round(v);
            if (v > 127.0) v = 127.0;
            double q = v / scale;
            double d = q - cen;
            double t = d * d;
            t = t * (double)counts[k];
            err += t;
        }
        if (err < best) best = err, best_c = amax; /* first argmin, as np.argmin */
    }
    return best_c;
}

kiln_status kiln_calib_threshold(const kiln_calib_hist *h, kiln_calib_algo algo, double percentile,
                                 float *T) {
    if (!h || !T) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "calibration threshold: NULL");
    *T = 0.0f;
    if ((int)algo < 0 || algo >= KILN_CALIB_ALGO_COUNT)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "calibration algorithm %d out of range",
                          (int)algo);
    if (algo == KILN_CALIB_PERCENTILE && !(percentile >= 0.0 && percentile <= 100.0))
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "percentile %g: must be in [0, 100]",
                          percentile);
    if (h->n_values == 0)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "calibration threshold: no finite values were observed");
    if (h->nbins == 0) return KILN_OK; /* every value was 0: T = 0 */
    double units = 0.0;
    switch (algo) {
    case KILN_CALIB_MINMAX: *T = h->max_abs; return KILN_OK;
    case KILN_CALIB_ENTROPY: {
        int64_t i;
        KILN_TRY(kiln_calib_entropy_units(h->counts, h->nbins, &i));
        units = (double)i;
        break;
    }
    case KILN_CALIB_PERCENTILE:
        units = (double)kiln_calib_percentile_units(h->counts, h->nbins, percentile);
        break;
    case KILN_CALIB_MSE: units = kiln_calib_mse_units(h->counts, h->nbins); break;
    default: break;
    }
    *T = (float)(units * h->width);
    return KILN_OK;
}
