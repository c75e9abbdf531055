/*
 * trt_int8_test.c — the Paddle-TRT INT8 demo, on the Paddle C API:
 *
 *   trt_int8_test --model_file=ResNet50/model --params_file=ResNet50/params
 *       --use_calib=true|false [--batch_size=N] [--image_dir=DIR] [--samples=N]
 *
 * --use_calib=true: INT8 from the calibration table next to the model (made
 * by trt_gen_calib_table_test or `kiln calibrate`); without one, this run
 * calibrates instead, as Paddle-TRT does. --use_calib=false: INT8 from the
 * model's own quantization scales (not read yet: Kiln warns and runs FP32).
 * Prints the first 20 outputs of the first batch and the top-1 class of
 * every image.
 */
#include <stdio.h>
#include <stdlib.h>

#include "common/demo_util.h"

static const char *prog = "trt_int8_test";

int main(int argc, char **argv) {
    demo_flags f = {0};
    f.batch_size = 1;
    f.use_calib = 1;
    int rc = demo_parse(prog, argc, argv, &f);
    if (rc) return rc;
    demo_inputs in;
    if ((rc = demo_inputs_open(prog, &f, &in))) return rc;
    long samples = f.samples ? f.samples : in.dir ? (long)in.n_paths : 1;
    long batches = (samples + f.batch_size - 1) / f.batch_size;

    PD_Predictor *p = demo_int8_predictor(prog, &f, f.use_calib ? TRUE : FALSE);
    if (!p) {
        demo_inputs_close(&in);
        return 1;
    }
    float *x = malloc(sizeof(float) * 3 * 224 * 224 * (size_t)f.batch_size), *y = NULL;
    size_t yn = 0;
    for (long b = 0; b < batches && rc == 0 && x; b++) {
        if ((rc = demo_inputs_batch(prog, &in, b, f.batch_size, x)) != 0) break;
        if ((rc = demo_run(prog, p, x, f.batch_size, &y, &yn)) != 0) break;
        if (b == 0) demo_print20(y, yn);
        size_t classes = yn / (size_t)f.batch_size;
        for (long k = 0; k < f.batch_size && classes; k++) {
            const float *row = y + classes * (size_t)k;
            size_t best = 0;
            for (size_t j = 1; j < classes; j++)
                if (row[j] > row[best]) best = j;
            long idx = b * f.batch_size + k;
            printf("image %ld (%s): top-1 class %zu (%.4f)\n", idx,
                   in.dir ? in.paths[(size_t)idx % in.n_paths] : "synthetic", best, row[best]);
        }
    }
    if (!x) rc = 1;
    PD_PredictorDestroy(p);
    free(x);
    free(y);
    demo_inputs_close(&in);
    return rc;
}
