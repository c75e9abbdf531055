/*
 * trt_gen_calib_table_test.c — the Paddle-TRT demo that generates the INT8
 * calibration table, on the Paddle C API (kiln_paddle.h):
 *
 *   trt_gen_calib_table_test --model_file=ResNet50/model --params_file=ResNet50/params
 *       [--batch_size=N] [--image_dir=DIR] [--samples=N]
 *
 * INT8 with use_calib_mode=true and no table: every PD_PredictorRun is one
 * FP32 calibration batch; the table <model dir>/_opt_cache/trt_calib_<key>
 * is written when the predictor is destroyed. Feeds real photos (--image_dir,
 * default ../shared/fixtures/images when present, else seeded synthetic
 * inputs — say so, they make a poor table) and prints the first 20 outputs
 * of the last batch and how many samples went in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "common/demo_util.h"

static const char *prog = "trt_gen_calib_table_test";

int main(int argc, char **argv) {
    demo_flags f = {0};
    f.batch_size = 1;
    f.use_calib = -1;
    int rc = demo_parse(prog, argc, argv, &f);
    if (rc) return rc;
    demo_inputs in;
    if ((rc = demo_inputs_open(prog, &f, &in))) return rc;
    long samples = f.samples ? f.samples : in.dir ? (long)in.n_paths : 8;
    long batches = (samples + f.batch_size - 1) / f.batch_size;

    PD_Predictor *p = demo_int8_predictor(prog, &f, TRUE);
    if (!p) {
        demo_inputs_close(&in);
        return 1;
    }
    float *x = malloc(sizeof(float) * 3 * 224 * 224 * (size_t)f.batch_size), *y = NULL;
    size_t yn = 0;
    for (long b = 0; b < batches && rc == 0 && x; b++)
        if ((rc = demo_inputs_batch(prog, &in, b, f.batch_size, x)) == 0)
            rc = demo_run(prog, p, x, f.batch_size, &y, &yn);
    if (!x) rc = 1;
    if (rc == 0) {
        demo_print20(y, yn);
        printf("%s: %ld calibration samples (%ld batches of %ld) from %s\n", prog,
               batches * f.batch_size, batches, f.batch_size, in.dir ? in.dir : "synthetic inputs");
    }
    PD_PredictorDestroy(p); /* writes the table */
    free(x);
    free(y);
    demo_inputs_close(&in);
    return rc;
}
