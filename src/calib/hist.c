/*
 * hist.c — the |x| histogram (see hist.h and docs/CALIBRATION.md).
 *
 * add() makes two passes over a batch: the max |x| (and a NaN/Inf count),
 * then the binning. Bin index = floor(|x| * (1/width)) in double, clamped to
 * the last bin (so a value equal to the top edge lands in the last bin).
 *
 * Non-goals: SIMD, threads (the caller may run one histogram per thread).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calib/hist.h"
#include "core/status.h"

void kiln_calib_hist_init(kiln_calib_hist *h) {
    memset(h, 0, sizeof *h);
}

void kiln_calib_hist_free(kiln_calib_hist *h) {
    free(h->counts);
    kiln_calib_hist_init(h);
}

/* Makes room for `nbins` zeroed bins (keeping existing counts). */
static kiln_status grow(kiln_calib_hist *h, int64_t nbins) {
    if (nbins <= h->cap) {
        for (int64_t k = h->nbins; k < nbins; k++)
            h->counts[k] = 0;
        h->nbins = nbins;
        return KILN_OK;
    }
    int64_t cap = h->cap ? h->cap : KILN_CALIB_HIST_BINS;
    while (cap < nbins)
        cap *= 2;
    if (cap > KILN_CALIB_HIST_MAX_BINS) cap = KILN_CALIB_HIST_MAX_BINS;
    int64_t *c = realloc(h->counts, (size_t)cap * sizeof *c);
    if (!c)
        return kiln_error(KILN_ERR_NO_MEMORY, "calibration histogram: %lld bins", (long long)cap);
    for (int64_t k = h->nbins; k < cap; k++)
        c[k] = 0;
    h->counts = c;
    h->cap = cap;
    h->nbins = nbins;
    return KILN_OK;
}

kiln_status kiln_calib_hist_add(kiln_calib_hist *h, const float *x, size_t n) {
    /* pass 1: batch max over finite values, non-finite count */
    float bmax = 0.0f;
    int64_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (!isfinite(a)) {
            bad++;
            continue;
        }
        if (a > bmax) bmax = a;
    }
    int64_t good = (int64_t)n - bad;
    if (bmax == 0.0f) { /* all zeros (or empty): only counts */
        if (h->nbins == 0)
            h->pending_zeros += good;
        else
            h->counts[0] += good;
        h->n_values += good;
        h->n_nonfinite += bad;
        return KILN_OK;
    }
    if (h->nbins == 0) {
        /* the first non-zero batch fixes the width */
        double width = (double)bmax / KILN_CALIB_HIST_BINS;
        KILN_TRY(grow(h, KILN_CALIB_HIST_BINS));
        h->width = width;
        h->inv_width = 1.0 / width;
        h->counts[0] += h->pending_zeros;
        h->pending_zeros = 0;
    } else if ((double)bmax > (double)h->nbins * h->width) {
        double need = ceil((double)bmax / h->width);
        if (need > (double)KILN_CALIB_HIST_MAX_BINS)
            return kiln_error(KILN_ERR_UNSUPPORTED,
                              "calibration histogram: max|x| grew from %g (first batch) to %g, "
                              "more than %d bins of width %g; make the first calibration batch "
                              "representative (or larger)",
                              (double)h->max_abs, (double)bmax, KILN_CALIB_HIST_MAX_BINS, h->width);
        KILN_TRY(grow(h, (int64_t)need));
    }
    /* pass 2: binning */
    int64_t *c = h->counts;
    const int64_t last = h->nbins - 1;
    const double inv = h->inv_width;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (!isfinite(a)) continue;
        double f = (double)a * inv;
        int64_t k = f < (double)last ? (int64_t)f : last;
        c[k]++;
    }
    if (bmax > h->max_abs) h->max_abs = bmax;
    h->n_values += good;
    h->n_nonfinite += bad;
    return KILN_OK;
}
