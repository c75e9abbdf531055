/*
 * calib.h — calibration glue between a loaded model, the engine and the table
 * (docs/CALIBRATION.md): the model's key, the default table path, and the
 * calibrator that runs FP32 batches and observes activations.
 */
#ifndef KILN_CALIB_H
#define KILN_CALIB_H

#include "calib/hist.h"
#include "calib/table.h"
#include "calib/threshold.h"
#include "ir/graph.h"

/* The v1 key of a loaded model (program file bytes, parameters, input shape
 * with batch 1): 16 hex digits + NUL. */
kiln_status kiln_calib_model_key(const kiln_graph *g, char key[17]);

/* <cache_dir or the model file's directory>/_opt_cache/trt_calib_<key>. */
kiln_status kiln_calib_default_path(const kiln_graph *g, const char *cache_dir, char *buf,
                                    size_t n);

#endif
