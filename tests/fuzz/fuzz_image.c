/*
 * fuzz_image.c — libFuzzer target for image decoding (JPEG, PNG, EXIF) and
 * preprocessing: any bytes must decode or fail cleanly, never crash, leak or
 * read out of bounds (built with ASan/UBSan). The pixel limit is lowered to
 * 4 Mpx so that a small input declaring a huge image stays fast.
 */
#include <stddef.h>
#include <stdint.h>

#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kiln_image img;
    if (kiln_image_decode_buffer_limited(data, size, "fuzz", (int64_t)1 << 22, &img) != KILN_OK)
        return 0;
    if (!img.rgb || img.width < 1 || img.height < 1) __builtin_trap();
    /* a small recipe: exercises resize/crop on every shape cheaply */
    kiln_preprocess p = kiln_preprocess_default();
    p.resize_short = 20;
    p.crop = 16;
    float out[3 * 16 * 16];
    if (kiln_image_preprocess(&img, &p, out) != KILN_OK) __builtin_trap();
    kiln_image_free(&img);
    return 0;
}
