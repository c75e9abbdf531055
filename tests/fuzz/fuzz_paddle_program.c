/*
 * fuzz_paddle_program.c — libFuzzer target for the ProgramDesc parser and
 * the program -> IR mapping: parse the bytes; if they parse, the serializer
 * must produce bytes that parse again to a program that serializes to the
 * same bytes; then every param gets zero data (when its VarDesc shape is
 * known and small), the graph is built and, if that works, exported.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "load/paddle.h"

static void check_serializer(const kiln_paddle_program *p) {
    kiln_pbw w1 = {0}, w2 = {0};
    kiln_paddle_program_serialize(p, &w1);
    if (w1.failed) goto out;
    kiln_paddle_program *q = NULL;
    if (kiln_paddle_program_parse(w1.data, w1.size, "reserialized", &q) != KILN_OK)
        __builtin_trap(); /* the serializer wrote something the parser refuses */
    kiln_paddle_program_serialize(q, &w2);
    if (!w2.failed && (w1.size != w2.size || memcmp(w1.data, w2.data, w1.size) != 0))
        __builtin_trap(); /* serialization is not a fixed point */
    kiln_paddle_program_destroy(q);
out:
    kiln_pbw_free(&w1);
    kiln_pbw_free(&w2);
}

static void touch_lookups(const kiln_paddle_program *p) {
    const kiln_paddle_block *b = &p->blocks[0];
    for (int32_t i = 0; i < b->n_ops && i < 64; i++) {
        const kiln_paddle_op *op = &b->ops[i];
        int64_t v[4];
        volatile int64_t acc = kiln_paddle_attr_int(op, "axis", -1) +
                               kiln_paddle_attr_ints(op, "paddings", v, 4) +
                               (kiln_paddle_attr_float(op, "epsilon", 0.0f) > 0.0f) +
                               kiln_paddle_attr_bool(op, "is_test", false);
        (void)acc;
        (void)kiln_paddle_attr_string(op, "data_format", "");
        (void)kiln_paddle_op_first_output(op);
        (void)kiln_paddle_block_var(b, kiln_paddle_op_first_output(op));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kiln_paddle_program *p = NULL;
    if (kiln_paddle_program_parse(data, size, "fuzz.pdmodel", &p) != KILN_OK) return 0;
    check_serializer(p);
    touch_lookups(p);
    kiln_paddle_program_destroy(p);

    kiln_paddle_model *m = NULL;
    if (kiln_paddle_model_from_program(data, size, "fuzz.pdmodel", &m) != KILN_OK) __builtin_trap();
    for (int32_t i = 0; i < m->n_params; i++) {
        const kiln_paddle_var *v = m->params[i].var;
        size_t es = kiln_paddle_dtype_size(v->dtype);
        int64_t n = 1;
        for (int32_t k = 0; k < v->rank && n >= 0; k++)
            n = v->dims[k] < 0 || v->dims[k] > 4096 ? -1 : n * v->dims[k];
        if (!v->has_tensor || es == 0 || n < 0 || n > 4096 || v->rank > 16) continue;
        void *buf = calloc((size_t)n + 1, es);
        if (buf) kiln_paddle_model_set_param(m, m->params[i].name, buf, (size_t)n * es);
        free(buf);
    }
    kiln_graph *g = NULL;
    if (kiln_paddle_model_to_graph(m, NULL, &g) == KILN_OK) {
        if (kiln_graph_verify(g) != KILN_OK) __builtin_trap();
        kiln_pbw prog, params;
        if (kiln_paddle_export_mem(g, &prog, &params) == KILN_OK) {
            kiln_pbw_free(&prog);
            kiln_pbw_free(&params);
        }
        kiln_graph_destroy(g);
    }
    return 0;
}
