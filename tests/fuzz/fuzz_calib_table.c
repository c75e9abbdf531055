/*
 * fuzz_calib_table.c — libFuzzer target for the calibration table parser:
 * parses arbitrary bytes; on success checks the invariants every caller relies
 * on (each entry found by its name, scales finite and > 0, line numbers
 * increasing, header fields consistent), runs the key/shape check, and
 * re-formats a Kiln table's entries when their names are writable.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "calib/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kiln_calib_table *t = NULL;
    kiln_status s = kiln_calib_table_parse((const char *)data, size, "fuzz", &t);
    if (s != KILN_OK) {
        if (t) __builtin_trap();
        return 0;
    }
    if (!t) __builtin_trap();
    int64_t prev = 0;
    for (int64_t i = 0; i < t->n_entries; i++) {
        const kiln_calib_entry *e = &t->entries[i];
        if (!(isfinite(e->scale) && e->scale > 0.0f)) __builtin_trap();
        if (e->line <= prev || !e->name[0]) __builtin_trap();
        prev = e->line;
        if (kiln_calib_table_find(t, e->name) != e) __builtin_trap();
        float T;
        if (kiln_calib_table_threshold(t, e->name, &T) != KILN_OK) __builtin_trap();
    }
    if (t->is_trt == (t->key[0] != 0)) __builtin_trap();
    int no_key = 0;
    int64_t shape[4] = {1, 3, 224, 224};
    kiln_calib_table_check(t, "0123456789abcdef", 4, shape, &no_key);
    if (!t->is_trt && t->n_entries > 0 && t->n_entries < 1000) {
        kiln_calib_table_info info = {0};
        info.key = t->key;
        info.algo = t->algo;
        info.percentile = t->percentile;
        info.samples = t->samples;
        info.shape_rank = t->shape_rank;
        memcpy(info.shape, t->shape, sizeof info.shape);
        const char **names = malloc((size_t)t->n_entries * sizeof *names);
        float *T = malloc((size_t)t->n_entries * sizeof *T);
        if (names && T) {
            for (int64_t i = 0; i < t->n_entries; i++) {
                names[i] = t->entries[i].name;
                T[i] = t->entries[i].scale * 127.0f;
            }
            char *text = NULL;
            size_t len = 0;
            if (kiln_calib_table_format(&info, names, T, t->n_entries, &text, &len) == KILN_OK) {
                kiln_calib_table *u = NULL;
                if (kiln_calib_table_parse(text, len, "fuzz2", &u) != KILN_OK) __builtin_trap();
                if (u->n_entries != t->n_entries) __builtin_trap();
                kiln_calib_table_destroy(u);
            }
            free(text);
        }
        free(names);
        free(T);
    }
    kiln_calib_table_destroy(t);
    return 0;
}
