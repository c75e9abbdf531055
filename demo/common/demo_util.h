/*
 * demo_util.h — what the three Paddle-TRT demos share: the seed's flag
 * style (--name=value), batches of input images (real photos through
 * Kiln's ResNet50 preprocessing, or seeded synthetic inputs when there are
 * none), and printing the first 20 outputs.
 */
#ifndef KILN_DEMO_UTIL_H
#define KILN_DEMO_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "kiln_paddle.h"

typedef struct demo_flags {
    const char *model_file, *params_file, *model_dir, *image_dir;
    long batch_size, samples;
    int use_calib; /* -1: not accepted by this demo */
} demo_flags;

/* Parses argv into f (defaults set by the caller). Returns 0, or 2 after a message. */
int demo_parse(const char *prog, int argc, char **argv, demo_flags *f);

/* A predictor for f's model with INT8 enabled the Paddle-TRT way
 * (EnableTensorRtEngine(1<<30, batch_size, 5, INT8, use_static=false,
 * use_calib_mode)); NULL after printing why. */
PD_Predictor *demo_int8_predictor(const char *prog, const demo_flags *f, PD_Bool use_calib_mode);

/* The images to feed: f->image_dir, else ../shared/fixtures/images when it
 * exists, else none (synthetic). */
typedef struct demo_inputs {
    char **paths;
    size_t n_paths;
    const char *dir; /* NULL: synthetic */
} demo_inputs;

int demo_inputs_open(const char *prog, const demo_flags *f, demo_inputs *in);
void demo_inputs_close(demo_inputs *in);

/* Fills batch `b` (images b*batch .. +batch-1, wrapping) into x[batch*3*224*224]. */
int demo_inputs_batch(const char *prog, const demo_inputs *in, long b, long batch, float *x);

/* Runs one batch through the predictor; copies output 0 into *out (realloc'ed). */
int demo_run(const char *prog, PD_Predictor *p, const float *x, long batch, float **out,
             size_t *out_n);

void demo_print20(const float *y, size_t n);

#endif
