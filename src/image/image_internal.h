/*
 * image_internal.h — pieces of src/image/ shared between its files: the
 * per-format decoders, EXIF orientation parsing and applying it, and the
 * checked allocation of an RGB image.
 * Non-goals: anything a caller outside src/image/ should use (see image.h).
 */
#ifndef KILN_IMAGE_INTERNAL_H
#define KILN_IMAGE_INTERNAL_H

#include "image/image.h"

/* Checks width/height against KILN_IMAGE_MAX_SIDE and max_pixels and
 * allocates img->rgb (width * height * 3 bytes, uninitialised). */
kiln_status kiln_image_alloc(kiln_image *img, int64_t width, int64_t height, int64_t max_pixels,
                             const char *name);

/* Decoders: data is the whole file; on failure *out is freed and zeroed. */
kiln_status kiln_image_decode_jpeg(const uint8_t *data, size_t n, const char *name,
                                   int64_t max_pixels, kiln_image *out);
kiln_status kiln_image_decode_png(const uint8_t *data, size_t n, const char *name,
                                  int64_t max_pixels, kiln_image *out);

/* EXIF orientation (1..8) from an APP1 payload that starts with
 * "Exif\0\0"; 0 if absent, malformed or out of range. Both TIFF byte
 * orders; only IFD0 is read. */
int kiln_exif_orientation(const uint8_t *app1, size_t n);

/* Applies EXIF orientation o (1..8, as a viewer would: 6 rotates 90°
 * clockwise) to img in place (a new buffer for 2..8). */
kiln_status kiln_image_orient(kiln_image *img, int o, const char *name);

#endif
