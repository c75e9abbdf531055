/*
 * fuzz_paddle_params.c — libFuzzer target for the LoDTensor record reader:
 * the input is read as one record, then as a combined params file for a
 * fixed small program (params "a" FP32 [2,3], "b" INT8 [4], "c" FP32 [-1,2],
 * in sorted order), each record checked against its VarDesc. Every data
 * pointer handed out must lie inside the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "load/paddle_params.h"
#include "load/paddle_program.h"
#include "load/pb_write.h"

static kiln_paddle_program *fixed_program(void) {
    static kiln_paddle_program *prog; /* built once; fuzzers may keep state */
    if (prog) return prog;
    static const char *const names[3] = {"c", "a", "b"};
    static const int32_t dtypes[3] = {KILN_PD_FP32, KILN_PD_FP32, KILN_PD_INT8};
    static const int64_t dims[3][2] = {{-1, 2}, {2, 3}, {4, 0}};
    static const int32_t ranks[3] = {2, 2, 1};
    kiln_pbw blk = {0}, p = {0};
    kiln_pbw_varint(&blk, 1, 0);
    kiln_pbw_int64(&blk, 2, -1);
    for (int i = 0; i < 3; i++) {
        kiln_pbw v = {0}, t = {0}, l = {0}, d = {0};
        kiln_pbw_int64(&d, 1, dtypes[i]);
        for (int k = 0; k < ranks[i]; k++)
            kiln_pbw_int64(&d, 2, dims[i][k]);
        kiln_pbw_message(&l, 1, &d);
        kiln_pbw_varint(&t, 1, KILN_PD_LOD_TENSOR);
        kiln_pbw_message(&t, 3, &l);
        kiln_pbw_string(&v, 1, names[i]);
        kiln_pbw_message(&v, 2, &t);
        kiln_pbw_varint(&v, 3, 1);
        kiln_pbw_message(&blk, 3, &v);
        kiln_pbw_free(&v);
        kiln_pbw_free(&t);
        kiln_pbw_free(&l);
        kiln_pbw_free(&d);
    }
    kiln_pbw_message(&p, 1, &blk);
    if (kiln_paddle_program_parse(p.data, p.size, "fixed", &prog) != KILN_OK) __builtin_trap();
    kiln_pbw_free(&blk);
    kiln_pbw_free(&p);
    return prog;
}

static void check_inside(const kiln_paddle_record *r, const uint8_t *data, size_t size) {
    if (r->nbytes && (r->data < data || r->data + r->nbytes > data + size)) __builtin_trap();
    if (r->size > size) __builtin_trap();
    volatile uint8_t x = r->nbytes ? r->data[0] ^ r->data[r->nbytes - 1] : 0;
    (void)x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kiln_paddle_program *p = fixed_program();
    kiln_paddle_record rec;
    if (kiln_paddle_record_read(data, size, 0, "fuzz.params", "x", &rec) == KILN_OK) {
        check_inside(&rec, data, size);
        char buf[256];
        kiln_paddle_record_str(rec.dtype, rec.rank, rec.dims, buf, sizeof buf);
        /* writing it back gives a record that reads the same */
        kiln_pbw w = {0};
        kiln_paddle_record_write(&w, rec.dtype, rec.rank, rec.dims, rec.data, rec.nbytes);
        kiln_paddle_record back;
        if (!w.failed && kiln_paddle_record_read(w.data, w.size, 0, "w", "x", &back) != KILN_OK)
            __builtin_trap();
        if (!w.failed && (back.nbytes != rec.nbytes || back.rank != rec.rank)) __builtin_trap();
        kiln_pbw_free(&w);
    }
    const char **names;
    int32_t n;
    if (kiln_paddle_param_names(p, &names, &n) != KILN_OK) return 0;
    kiln_paddle_record recs[3];
    if (n == 3 &&
        kiln_paddle_params_read_combined(data, size, "fuzz.params", names, n, recs) == KILN_OK) {
        for (int32_t i = 0; i < n; i++) {
            check_inside(&recs[i], data, size);
            kiln_paddle_record_check(&recs[i], kiln_paddle_block_var(&p->blocks[0], names[i]),
                                     "fuzz.params");
        }
    }
    free(names);
    return 0;
}
