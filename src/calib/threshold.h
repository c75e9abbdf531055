/*
 * threshold.h — the activation threshold T (range [-T, T], scale T/127) from an
 * |x| histogram, by entropy (KL divergence, TensorRT EntropyCalibration2 as
 * PyTorch-quantization's _compute_amax_entropy), percentile, min-max or MSE.
 * docs/CALIBRATION.md states each algorithm exactly, with every deviation from
 * the PyTorch-quantization (PQ) reference.
 *
 * The *_units functions work on raw counts and return T in units of the bin
 * width (a bin index, or index + 0.5 for MSE), so tests can compare exactly.
 *
 * Non-goals: per-channel thresholds, asymmetric ranges, FP8.
 */
#ifndef KILN_CALIB_THRESHOLD_H
#define KILN_CALIB_THRESHOLD_H

#include <stdint.h>

#include "calib/hist.h"
#include "kiln.h"

typedef enum kiln_calib_algo {
    KILN_CALIB_ENTROPY = 0, /* "entropy": min KL divergence (TensorRT EntropyCalibration2) */
    KILN_CALIB_PERCENTILE,  /* "percentile": bin where the cdf reaches p% (default 99.99) */
    KILN_CALIB_MINMAX,      /* "minmax": exact max |x| */
    KILN_CALIB_MSE,         /* "mse": min squared fake-quantization error over bin centres */
    KILN_CALIB_ALGO_COUNT
} kiln_calib_algo;

#define KILN_CALIB_PERCENTILE_DEFAULT 99.99
/* Quantized levels of |x| (2^(8-1)), also the first candidate bin of entropy/mse. */
#define KILN_CALIB_LEVELS 128

/* "entropy", "percentile", "minmax", "mse"; "?" when out of range. */
const char *kiln_calib_algo_name(kiln_calib_algo a);

/* Parses one of the names above (exact, lowercase). KILN_ERR_INVALID_ARGUMENT
 * with the list of valid names otherwise. */
kiln_status kiln_calib_algo_parse(const char *s, kiln_calib_algo *out);

/* T of a histogram, as a float. percentile is used by KILN_CALIB_PERCENTILE
 * only and must be in [0, 100]. A histogram whose values are all zero gives
 * T = 0 (the caller keeps that tensor out of INT8 or picks a fallback); one
 * with no values at all is KILN_ERR_INVALID_ARGUMENT. NaN/Inf seen by the
 * histogram are the caller's to report; they are ignored here. */
kiln_status kiln_calib_threshold(const kiln_calib_hist *h, kiln_calib_algo algo, double percentile,
                                 float *T);

/* Entropy: the chosen candidate i in [128, nbins] (T = i * width); nbins when
 * nbins < 128 (no candidate: the whole range) or every candidate diverges.
 * Allocates scratch; KILN_ERR_NO_MEMORY. */
kiln_status kiln_calib_entropy_units(const int64_t *counts, int64_t nbins, int64_t *i_out);

/* Percentile: the first bin k whose cumulative count reaches p% of the total,
 * as PQ's searchsorted(cdf, p/100) (T = k * width, the bin's lower edge);
 * k = 0 is returned as 1 so that T > 0 (a deviation from PQ). 0 for an
 * all-zero count array. */
int64_t kiln_calib_percentile_units(const int64_t *counts, int64_t nbins, double percentile);

/* MSE: the chosen centre in bin-width units, i + 0.5 for a candidate i in
 * [128, nbins - 1] (T = (i + 0.5) * width); nbins when nbins <= 128. */
double kiln_calib_mse_units(const int64_t *counts, int64_t nbins);

#endif
