/*
 * image_api.c — the public image helpers of kiln.h over src/image: one
 * recipe (ResNet50 preprocessing, docs/IMAGES.md) for every tool.
 */
#include <stdio.h>
#include <string.h>

#include "core/file.h"
#include "core/status.h"
#include "image/image.h"

static kiln_preprocess recipe(int64_t crop) {
    kiln_preprocess p = kiln_preprocess_default();
    if (crop > 0 && crop != p.crop) {
        p.resize_short = (crop * 256 + 112) / 224; /* keep the 256/224 ratio */
        p.crop = crop;
    }
    return p;
}

kiln_status kiln_image_to_tensor(const char *path, int64_t crop, float *dst) {
    if (!path || !dst) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "kiln_image_to_tensor: NULL");
    kiln_preprocess p = recipe(crop);
    KILN_TRY(kiln_preprocess_validate(&p));
    return kiln_image_load_tensor(path, &p, dst);
}

kiln_status kiln_image_preprocess_describe(int64_t crop, char *buf, size_t n) {
    kiln_preprocess p = recipe(crop);
    KILN_TRY(kiln_preprocess_validate(&p));
    return kiln_preprocess_describe(&p, buf, n);
}

kiln_status kiln_image_paths(const char *dir_or_list, char ***paths, size_t *n) {
    if (!dir_or_list || !paths || !n)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "kiln_image_paths: NULL");
    if (kiln_is_dir(dir_or_list)) return kiln_image_list_dir(dir_or_list, paths, n);
    if (kiln_is_file(dir_or_list)) return kiln_image_list_file(dir_or_list, paths, n);
    return kiln_error(KILN_ERR_IO, "%s: no such directory or list file", dir_or_list);
}

void kiln_image_paths_free(char **paths, size_t n) {
    kiln_image_list_free(paths, n);
}
