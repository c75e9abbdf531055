/*
 * model_key.c — the calibration key of a loaded model, by the v1 recipe of
 * docs/CALIBRATION.md: the program file's bytes, every parameter tensor in
 * strcmp order of names, and the input shape with the batch recorded as 1
 * (so one table serves every batch size, as Paddle-TRT's calibration key).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib/calib.h"
#include "calib/key.h"
#include "core/file.h"
#include "core/status.h"

typedef struct {
    const kiln_graph *g;
    int32_t id;
} named;

static int cmp_named(const void *a, const void *b) {
    const named *x = a, *y = b;
    return strcmp(x->g->values[x->id].name, y->g->values[y->id].name);
}

kiln_status kiln_calib_model_key(const kiln_graph *g, char key[17]) {
    if (!g->source)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "the model has no source file: a calibration key needs its bytes");
    kiln_mapping m;
    KILN_TRY(kiln_map_file(g->source, &m));
    kiln_key k;
    kiln_key_init(&k);
    kiln_key_update_str(&k, "kiln-calib-key-v1");
    kiln_key_update_blob(&k, m.data, m.size);
    kiln_unmap(&m);
    int32_t n = 0;
    named *p = malloc(sizeof(named) * ((size_t)g->n_values + 1));
    if (!p) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory computing the model key");
    for (int32_t i = 0; i < g->n_values; i++)
        if (g->values[i].data) p[n++] = (named){g, i};
    qsort(p, (size_t)n, sizeof *p, cmp_named);
    kiln_key_update_i64(&k, n);
    for (int32_t i = 0; i < n; i++) {
        const kiln_value *v = &g->values[p[i].id];
        kiln_key_update_str(&k, v->name);
        kiln_key_update_str(&k, kiln_dtype_names[v->dtype]);
        kiln_key_update_i64(&k, v->rank);
        for (int32_t d = 0; d < v->rank; d++)
            kiln_key_update_i64(&k, v->dims[d]);
        kiln_key_update_blob(&k, v->data, v->nbytes);
    }
    free(p);
    for (int32_t i = 0; i < g->n_inputs; i++) {
        const kiln_value *v = &g->values[g->inputs[i]];
        kiln_key_update_i64(&k, v->rank);
        for (int32_t d = 0; d < v->rank; d++)
            kiln_key_update_i64(&k, d == 0 ? 1 : v->dims[d]);
    }
    kiln_key_final(&k, key);
    return KILN_OK;
}

kiln_status kiln_calib_default_path(const kiln_graph *g, const char *cache_dir, char *buf,
                                    size_t n) {
    char key[17];
    KILN_TRY(kiln_calib_model_key(g, key));
    char dir[4096];
    if (cache_dir) {
        snprintf(dir, sizeof dir, "%s", cache_dir);
    } else {
        const char *slash = g->source ? strrchr(g->source, '/') : NULL;
        if (slash)
            snprintf(dir, sizeof dir, "%.*s", (int)(slash - g->source), g->source);
        else
            snprintf(dir, sizeof dir, ".");
    }
    return kiln_calib_table_path(buf, n, dir, key);
}
