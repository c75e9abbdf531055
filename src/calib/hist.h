/*
 * hist.h — the |x| histogram that calibration builds per observed tensor.
 *
 * Equal-width bins starting at 0. The width is fixed once, by the first batch
 * with a non-zero max|x|: width = max / 2048. A later batch with a larger max
 * appends bins of the same width (nbins = ceil(max / width)); counts are never
 * re-binned (PyTorch-quantization's growth rule). Pure integer counts plus an
 * exact float max, so the result depends only on the data and the batch split
 * of the first non-zero batch (docs/CALIBRATION.md).
 *
 * Non-goals: signed histograms, merging histograms, per-channel statistics.
 */
#ifndef KILN_CALIB_HIST_H
#define KILN_CALIB_HIST_H

#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

/* Bins created by the first non-zero batch. */
#define KILN_CALIB_HIST_BINS 2048
/* Growth limit: a later batch may extend the range to at most 32x the first
 * batch's max (65536 bins). Beyond that, add() fails: the first batch was not
 * representative. Keeps memory and threshold search time bounded. */
#define KILN_CALIB_HIST_MAX_BINS 65536

typedef struct kiln_calib_hist {
    int64_t *counts;       /* [nbins] counts of |x|; bin k holds [k*width, (k+1)*width) */
    int64_t nbins;         /* 0 until the first batch with max|x| > 0 */
    int64_t cap;           /* allocated entries of counts */
    double width;          /* bin width; 0 while nbins == 0 */
    double inv_width;      /* 1 / width: bin k = floor(|x| * inv_width), clamped */
    float max_abs;         /* exact max |x| over every finite value seen */
    int64_t n_values;      /* finite values counted (zeros included) */
    int64_t n_nonfinite;   /* NaN / +-Inf values seen (not binned) */
    int64_t pending_zeros; /* zeros seen before the width was fixed (go to bin 0) */
} kiln_calib_hist;

/* Empty histogram; allocates nothing until the first non-zero batch. */
void kiln_calib_hist_init(kiln_calib_hist *h);

/* Counts n values (|x| of each). NaN/Inf are counted in n_nonfinite only; the
 * caller reports them (names the tensor). Errors: KILN_ERR_NO_MEMORY, or
 * KILN_ERR_UNSUPPORTED when the range would exceed KILN_CALIB_HIST_MAX_BINS
 * (the histogram is left unchanged). */
kiln_status kiln_calib_hist_add(kiln_calib_hist *h, const float *x, size_t n);

/* Frees the counts; h is re-initialised (empty). */
void kiln_calib_hist_free(kiln_calib_hist *h);

#endif
