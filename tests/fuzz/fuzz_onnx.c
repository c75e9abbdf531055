/*
 * fuzz_onnx.c — libFuzzer target for the ONNX loader: kiln_load_onnx_buffer
 * on arbitrary bytes (constants capped at 16 MiB so the fuzzer's memory
 * limit is not the finding), format detection, and for every graph that
 * loads: the verifier must accept it, shape inference must not crash, and
 * the exporter must not crash (its output, when it has only ops the loader
 * maps, must load again).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "load/load.h"
#include "load/onnx.h"
#include "load/onnx_export.h"

static void quiet(void *user, kiln_log_level level, const char *msg) {
    (void)user;
    (void)level;
    (void)msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    (void)kiln_detect_format(data, size);
    kiln_logger lg = {quiet, NULL, KILN_LOG_DEBUG};
    kiln_onnx_options o = {(size_t)16 << 20, NULL, 0};
    kiln_graph *g = NULL;
    if (kiln_load_onnx_buffer(data, size, "fuzz.onnx", &o, &lg, &g) != KILN_OK) return 0;
    if (kiln_graph_verify(g) != KILN_OK) __builtin_trap(); /* the loader returned a bad graph */
    kiln_graph *c = NULL;
    if (kiln_graph_clone(g, &c) == KILN_OK) {
        (void)kiln_infer_shapes(c);
        kiln_graph_destroy(c);
    }
    kiln_pbw w;
    if (kiln_onnx_export_buffer(g, &w) == KILN_OK) {
        kiln_graph *r = NULL;
        if (kiln_load_onnx_buffer(w.data, w.size, "reexported.onnx", &o, &lg, &r) == KILN_OK)
            kiln_graph_destroy(r);
        kiln_pbw_free(&w);
    }
    kiln_graph_destroy(g);
    return 0;
}
