/*
 * test_paddle_bad_input.c — the Paddle loader on broken files never crashes
 * and says what is wrong and where: every truncation of simple_model's
 * program and params, flipped bytes at every position, huge declared
 * lengths, a missing param file, a param whose dims disagree with its
 * VarDesc, an unknown op type. Run it under the sanitizer build too.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "load/load.h"
#include "load/paddle.h"
#include "load/pb_wire.h"
#include "test_util.h"

static char tmpdir[256];
static kiln_mapping prog, params;
static char prog_path[1024], params_path[1024];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

static const char *tmp(const char *name) {
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* Plain write (no fsync: thousands of these). */
static void put(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n)) {
        KT_CHECK(0, "cannot write %s", path);
        if (f) fclose(f);
        return;
    }
    fclose(f);
}

static kiln_status load(const char *p, const char *q) {
    kiln_graph *g = NULL;
    kiln_status s = kiln_load_paddle(p, q, NULL, &g);
    KT_CHECK((s == KILN_OK) == (g != NULL), "graph iff OK");
    if (s == KILN_OK) KT_CHECK(kiln_graph_verify(g) == KILN_OK, "verified");
    kiln_graph_destroy(g);
    return s;
}

/* Top-level field boundaries of the program: truncating exactly there leaves
 * a shorter but valid ProgramDesc (e.g. without op_version_map). */
static int is_boundary(size_t len) {
    kiln_pb m = kiln_pb_init(prog.data, prog.size, 0);
    kiln_pb_field f;
    while (kiln_pb_next(&m, &f) == 1)
        if (kiln_pb_offset(&m) == len) return 1;
    return 0;
}

static void test_truncations(void) {
    int ok_cases = 0, bad_msg = 0;
    const char *p = tmp("trunc.pdmodel");
    for (size_t n = 0; n < prog.size; n++) {
        put(p, prog.data, n);
        kiln_status s = load(p, params_path);
        if (s == KILN_OK) {
            ok_cases++;
            KT_CHECK(is_boundary(n), "program truncated to %zu bytes loaded OK", n);
        } else if (!strstr(kiln_last_error(), p)) {
            if (bad_msg++ < 5)
                KT_CHECK(0, "truncated to %zu: message does not name the file: %s", n,
                         kiln_last_error());
        }
    }
    KT_CHECK(ok_cases <= 2, "%d truncations of the program loaded", ok_cases);
    const char *q = tmp("trunc.pdiparams");
    int params_ok = 0;
    bad_msg = 0;
    for (size_t n = 0; n < params.size; n++) {
        put(q, params.data, n);
        kiln_status s = load(prog_path, q);
        if (s == KILN_OK) params_ok++;
        if (s != KILN_OK && !strstr(kiln_last_error(), q) && bad_msg++ < 5)
            KT_CHECK(0, "params truncated to %zu: message does not name the file: %s", n,
                     kiln_last_error());
    }
    KT_CHECK(params_ok == 0, "%d truncated params files loaded", params_ok);
    /* one trailing byte too many is refused too */
    uint8_t *more = malloc(params.size + 1);
    memcpy(more, params.data, params.size);
    more[params.size] = 0;
    put(q, more, params.size + 1);
    free(more);
    KT_CHECK(load(prog_path, q) == KILN_ERR_FORMAT && strstr(kiln_last_error(), "trailing"),
             "trailing bytes: %s", kiln_last_error());
}

static void test_flips(void) {
    static const uint8_t masks[] = {0xff, 0x80, 0x01};
    uint8_t *buf = malloc(prog.size > params.size ? prog.size : params.size);
    const char *p = tmp("flip.pdmodel"), *q = tmp("flip.pdiparams");
    int failures = 0, empty_msg = 0;
    for (size_t i = 0; i < prog.size; i++) {
        for (size_t k = 0; k < sizeof masks; k++) {
            if (k == 2 && i % 3) continue; /* the third mask on every third byte */
            memcpy(buf, prog.data, prog.size);
            buf[i] ^= masks[k];
            put(p, buf, prog.size);
            if (load(p, params_path) != KILN_OK) {
                failures++;
                if (!kiln_last_error()[0]) empty_msg++;
            }
        }
    }
    for (size_t i = 0; i < params.size; i++) {
        for (size_t k = 0; k < 2; k++) {
            memcpy(buf, params.data, params.size);
            buf[i] ^= masks[k];
            put(q, buf, params.size);
            if (load(prog_path, q) != KILN_OK) {
                failures++;
                if (!kiln_last_error()[0]) empty_msg++;
            }
        }
    }
    free(buf);
    KT_CHECK(failures > 0, "some flips are detected");
    KT_CHECK(empty_msg == 0, "%d failures without a message", empty_msg);
}

static void test_huge_lengths(void) {
    /* a block field declaring 2^60 bytes */
    uint8_t h[16] = {0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10, 0x08, 0x00};
    const char *p = tmp("huge.pdmodel");
    put(p, h, 12);
    kiln_status s = load(p, params_path);
    KT_CHECK(s == KILN_ERR_FORMAT && strstr(kiln_last_error(), p) &&
                 strstr(kiln_last_error(), "offset 0"),
             "huge LEN: %s", kiln_last_error());

    /* params: a record whose dims multiply past 2^64, one with a huge
     * TensorDesc size, one with a huge lod_level */
    kiln_pbw w = {0};
    const int64_t dims[4] = {1ll << 40, 1ll << 40, 1ll << 40, 3};
    kiln_paddle_record_write(&w, KILN_PD_FP32, 4, dims, NULL, 0);
    kiln_paddle_record rec;
    s = kiln_paddle_record_read(w.data, w.size, 0, "big.params", "big_w", &rec);
    KT_CHECK(s == KILN_ERR_FORMAT && strstr(kiln_last_error(), "big.params: offset") &&
                 strstr(kiln_last_error(), "'big_w'"),
             "overflowing dims: %s", kiln_last_error());
    w.data[16] = 0xff; /* TensorDesc size byte 0 */
    w.data[19] = 0x7f;
    s = kiln_paddle_record_read(w.data, w.size, 0, "big.params", "big_w", &rec);
    KT_CHECK(s == KILN_ERR_FORMAT && strstr(kiln_last_error(), "TensorDesc size"),
             "huge desc size: %s", kiln_last_error());
    memset(w.data + 4, 0xff, 8); /* lod_level */
    s = kiln_paddle_record_read(w.data, w.size, 0, "big.params", "big_w", &rec);
    KT_CHECK(s == KILN_ERR_FORMAT && strstr(kiln_last_error(), "lod_level"), "huge lod: %s",
             kiln_last_error());
    kiln_pbw_free(&w);
    /* a valid small record whose data would run past the end */
    const int64_t d2[2] = {1000, 1000};
    float x[4] = {1, 2, 3, 4};
    kiln_paddle_record_write(&w, KILN_PD_FP32, 2, d2, x, sizeof x);
    s = kiln_paddle_record_read(w.data, w.size, 0, "short.params", "w2", &rec);
    KT_CHECK(s == KILN_ERR_FORMAT && strstr(kiln_last_error(), "remain"), "short data: %s",
             kiln_last_error());
    kiln_pbw_free(&w);
}

static void test_missing_and_mismatch(void) {
    KT_OK(kiln_paddle_convert_to_dir(prog_path, params_path, tmp("dir")));
    KT_CHECK(load(tmp("dir/__model__"), NULL) == KILN_OK, "per-file copy loads");
    remove(tmp("dir/conv1_bn_mean"));
    kiln_status s = load(tmp("dir/__model__"), NULL);
    KT_CHECK(s == KILN_ERR_IO && strstr(kiln_last_error(), "dir/conv1_bn_mean") &&
                 strstr(kiln_last_error(), "'conv1_bn_mean'"),
             "missing param: %s", kiln_last_error());

    /* conv1_weights re-declared as [16,6,3,3]: same bytes, wrong dims */
    kiln_paddle_model *m;
    KT_OK(kiln_paddle_load_partial(prog_path, params_path, NULL, &m));
    if (!m) return;
    kiln_pbw w = {0};
    for (int32_t i = 0; i < m->n_params; i++) {
        const kiln_paddle_record *r = &m->params[i].rec;
        int64_t d[4] = {16, 6, 3, 3};
        bool bad = strcmp(m->params[i].name, "conv1_weights") == 0;
        kiln_paddle_record_write(&w, r->dtype, r->rank, bad ? d : r->dims, r->data, r->nbytes);
    }
    kiln_paddle_model_destroy(m);
    const char *q = tmp("mismatch.pdiparams");
    put(q, w.data, w.size);
    kiln_pbw_free(&w);
    s = load(prog_path, q);
    KT_CHECK(s == KILN_ERR_SHAPE && strstr(kiln_last_error(), "'conv1_weights'") &&
                 strstr(kiln_last_error(), "FP32 [16,6,3,3]") &&
                 strstr(kiln_last_error(), "FP32 [32,3,3,3]") && strstr(kiln_last_error(), q),
             "dims mismatch: %s", kiln_last_error());
}

static void test_unknown_op(void) {
    kiln_paddle_program *p;
    KT_OK(kiln_paddle_program_parse(prog.data, prog.size, prog_path, &p));
    if (!p) return;
    for (int32_t i = 0; i < p->blocks[0].n_ops; i++)
        if (strcmp(p->blocks[0].ops[i].type, "relu") == 0) p->blocks[0].ops[i].type = "my_gelu";
    kiln_pbw w = {0};
    kiln_paddle_program_serialize(p, &w);
    kiln_paddle_program_destroy(p);
    const char *path = tmp("unknown.pdmodel");
    put(path, w.data, w.size);
    kiln_pbw_free(&w);
    kiln_status s = load(path, params_path);
    KT_CHECK(s == KILN_ERR_UNSUPPORTED && strstr(kiln_last_error(), "'my_gelu'") &&
                 strstr(kiln_last_error(), "op #3") &&
                 strstr(kiln_last_error(), "batch_norm_0.tmp_3") &&
                 strstr(kiln_last_error(), "docs/OPS.md") && strstr(kiln_last_error(), path),
             "unknown op: %s", kiln_last_error());
}

int main(void) {
    snprintf(prog_path, sizeof prog_path, "%s/paddle/simple_model/model.pdmodel", kt_fixtures());
    snprintf(params_path, sizeof params_path, "%s/paddle/simple_model/model.pdiparams",
             kt_fixtures());
    if (!kiln_is_file(prog_path)) kt_skip("fixtures not found (set KILN_FIXTURES)");
    /* tmpfs when there is one: this test writes ~60,000 small files */
    snprintf(tmpdir, sizeof tmpdir, "%s/kiln_paddle_bad_XXXXXX",
             kiln_is_dir("/dev/shm") && access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(tmpdir)) kt_skip("cannot create a temp dir");
    if (kiln_map_file(prog_path, &prog) != KILN_OK ||
        kiln_map_file(params_path, &params) != KILN_OK)
        kt_skip("cannot map simple_model");
    test_truncations();
    test_flips();
    test_huge_lengths();
    test_missing_and_mismatch();
    test_unknown_op();
    kiln_unmap(&prog);
    kiln_unmap(&params);
    nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return kt_finish("test_paddle_bad_input");
}
