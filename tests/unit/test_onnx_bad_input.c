/*
 * test_onnx_bad_input.c — the ONNX loader on malformed and unsupported
 * input: every truncation of a small valid model, every byte flipped, huge
 * lengths and dims, an unknown op, external data, a missing file. Each must
 * return a clean error (never crash, hang or allocate wildly) whose message
 * names the file and, where one is involved, the node.
 *
 * The models are written here with the protobuf writer, so the test needs
 * no fixtures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "core/status.h"
#include "load/load.h"
#include "load/onnx.h"
#include "load/onnx_export.h"
#include "load/pb_write.h"
#include "test_util.h"

#define NAME "bad.onnx"

static void quiet(void *user, kiln_log_level level, const char *msg) {
    (void)user;
    (void)level;
    (void)msg;
}
static const kiln_logger QUIET = {quiet, NULL, KILN_LOG_DEBUG};

/* ---- a tiny ModelProto writer --------------------------------------------- */

static void tensor_f32(kiln_pbw *w, uint32_t field, const char *name, int32_t rank,
                       const int64_t *dims, const float *data, size_t n) {
    kiln_pbw t = {0};
    for (int32_t i = 0; i < rank; i++)
        kiln_pbw_int64(&t, 1, dims[i]);
    kiln_pbw_varint(&t, 2, 1);
    kiln_pbw_string(&t, 8, name);
    if (data) kiln_pbw_bytes(&t, 9, data, n * sizeof(float));
    kiln_pbw_message(w, field, &t);
    kiln_pbw_free(&t);
}

static void tensor_i64(kiln_pbw *w, uint32_t field, const char *name, const int64_t *v, int32_t n) {
    kiln_pbw t = {0};
    kiln_pbw_int64(&t, 1, n);
    kiln_pbw_varint(&t, 2, 7);
    kiln_pbw_string(&t, 8, name);
    kiln_pbw_bytes(&t, 9, v, (size_t)n * 8);
    kiln_pbw_message(w, field, &t);
    kiln_pbw_free(&t);
}

static void node(kiln_pbw *g, const char *op, const char *name, const char *in0, const char *in1,
                 const char *out) {
    kiln_pbw n = {0};
    if (in0) kiln_pbw_string(&n, 1, in0);
    if (in1) kiln_pbw_string(&n, 1, in1);
    kiln_pbw_string(&n, 2, out);
    kiln_pbw_string(&n, 3, name);
    kiln_pbw_string(&n, 4, op);
    kiln_pbw_message(g, 1, &n);
    kiln_pbw_free(&n);
}

static void value_info(kiln_pbw *g, uint32_t field, const char *name, int32_t rank,
                       const int64_t *dims) {
    kiln_pbw vi = {0}, tp = {0}, tt = {0}, sh = {0};
    kiln_pbw_string(&vi, 1, name);
    kiln_pbw_varint(&tt, 1, 1);
    for (int32_t i = 0; i < rank; i++) {
        kiln_pbw d = {0};
        kiln_pbw_int64(&d, 1, dims[i]);
        kiln_pbw_message(&sh, 1, &d);
        kiln_pbw_free(&d);
    }
    kiln_pbw_message(&tt, 2, &sh);
    kiln_pbw_message(&tp, 1, &tt);
    kiln_pbw_message(&vi, 2, &tp);
    kiln_pbw_message(g, field, &vi);
    kiln_pbw_free(&vi);
    kiln_pbw_free(&tp);
    kiln_pbw_free(&tt);
    kiln_pbw_free(&sh);
}

static void finish_model(kiln_pbw *m, kiln_pbw *g) {
    kiln_pbw_varint(m, 1, 8);
    kiln_pbw_string(m, 2, "test");
    kiln_pbw_message(m, 7, g);
    kiln_pbw op = {0};
    kiln_pbw_varint(&op, 2, 13);
    kiln_pbw_message(m, 8, &op);
    kiln_pbw_free(&op);
    kiln_pbw_free(g);
}

/* x[1,2,4,4] -> Conv(w[2,2,3,3]) -> Relu -> Reshape([1,-1]) -> y */
static void good_model(kiln_pbw *m) {
    kiln_pbw g = {0};
    int64_t xd[4] = {1, 2, 4, 4}, wd[4] = {2, 2, 3, 3}, shape[2] = {1, -1};
    float w[36];
    kt_fill_uniform(w, 36, 3, -1.0f, 1.0f);
    node(&g, "Conv", "conv0", "x", "w", "c");
    node(&g, "Relu", "relu0", "c", NULL, "r");
    node(&g, "Reshape", "reshape0", "r", "shape", "y");
    kiln_pbw_string(&g, 2, "g");
    tensor_f32(&g, 5, "w", 4, wd, w, 36);
    tensor_i64(&g, 5, "shape", shape, 2);
    value_info(&g, 11, "x", 4, xd);
    value_info(&g, 12, "y", 0, NULL);
    memset(m, 0, sizeof *m);
    finish_model(m, &g);
}

/* Loads; expects failure with `status` (or any error if -1) and every
 * needle in the message. */
static void expect_error(const uint8_t *d, size_t n, int status, const char *n1, const char *n2,
                         const char *what) {
    kiln_graph *g = NULL;
    kiln_status s = kiln_load_onnx_buffer(d, n, NAME, NULL, &QUIET, &g);
    const char *msg = kiln_last_error();
    KT_CHECK(s != KILN_OK, "%s: loaded", what);
    if (s == KILN_OK) {
        kiln_graph_destroy(g);
        return;
    }
    KT_CHECK(g == NULL, "%s: graph returned on error", what);
    KT_CHECK(status < 0 || (int)s == status, "%s: %s (%s)", what, kiln_status_string(s), msg);
    KT_CHECK(strstr(msg, NAME) != NULL, "%s: message does not name the file: %s", what, msg);
    KT_CHECK(!n1 || strstr(msg, n1), "%s: message lacks '%s': %s", what, n1, msg);
    KT_CHECK(!n2 || strstr(msg, n2), "%s: message lacks '%s': %s", what, n2, msg);
}

static void test_good_loads(const kiln_pbw *m) {
    kiln_graph *g = NULL;
    KT_OK(kiln_load_onnx_buffer(m->data, m->size, NAME, NULL, &QUIET, &g));
    KT_CHECK(g && g->n_nodes == 3 && g->n_inputs == 1 && g->n_outputs == 1, "good model shape");
    kiln_graph_destroy(g);
}

static void test_truncations(const kiln_pbw *m) {
    int bad_msgs = 0, loaded = 0;
    for (size_t k = 0; k < m->size; k++) {
        kiln_graph *g = NULL;
        /* A fresh copy of exactly k bytes, so ASan sees any over-read. */
        uint8_t *d = malloc(k ? k : 1);
        memcpy(d, m->data, k);
        kiln_status s = kiln_load_onnx_buffer(d, k, NAME, NULL, &QUIET, &g);
        if (s == KILN_OK) {
            loaded++;
            kiln_graph_destroy(g);
        } else if (!strstr(kiln_last_error(), NAME)) {
            bad_msgs++;
        }
        free(d);
    }
    /* The model ends with opset_import, so no proper prefix is a whole model. */
    KT_CHECK(loaded == 0, "%d truncations loaded", loaded);
    KT_CHECK(bad_msgs == 0, "%d truncation errors do not name the file", bad_msgs);
}

static void test_flips(const kiln_pbw *m) {
    static const uint8_t masks[] = {0xff, 0x80, 0x01, 0x7f};
    int bad_msgs = 0, loaded = 0;
    uint8_t *d = malloc(m->size);
    for (size_t k = 0; k < m->size; k++) {
        for (size_t j = 0; j < sizeof masks; j++) {
            memcpy(d, m->data, m->size);
            d[k] ^= masks[j];
            kiln_graph *g = NULL;
            kiln_status s = kiln_load_onnx_buffer(d, m->size, NAME, NULL, &QUIET, &g);
            if (s == KILN_OK) {
                /* Some flips are harmless (a weight byte, a name letter). */
                if (kiln_graph_verify(g) != KILN_OK) bad_msgs++;
                loaded++;
                kiln_graph_destroy(g);
            } else if (!strstr(kiln_last_error(), NAME)) {
                bad_msgs++;
            }
        }
    }
    free(d);
    printf("byte flips: %zu variants, %d still load\n", m->size * sizeof masks, loaded);
    KT_CHECK(bad_msgs == 0, "%d flipped models: error without the file name or bad graph",
             bad_msgs);
}

static void test_huge_lengths(void) {
    /* A graph field claiming 2^60 bytes. */
    kiln_pbw m = {0};
    kiln_pbw_varint(&m, 1, 8);
    kiln_pbw_varint_raw(&m, (7u << 3) | 2);
    kiln_pbw_varint_raw(&m, (uint64_t)1 << 60);
    kiln_pbw_raw(&m, "\x0a\x00", 2);
    expect_error(m.data, m.size, KILN_ERR_FORMAT, "offset", NULL, "huge LEN");
    kiln_pbw_free(&m);

    /* An initializer of 2^40 x 2^40 floats with no data. */
    kiln_pbw g = {0};
    int64_t dims[2] = {(int64_t)1 << 40, (int64_t)1 << 40}, xd[2] = {1, 2};
    node(&g, "Add", "add0", "x", "big", "y");
    tensor_f32(&g, 5, "big", 2, dims, NULL, 0);
    value_info(&g, 11, "x", 2, xd);
    value_info(&g, 12, "y", 0, NULL);
    finish_model(&m, &g);
    expect_error(m.data, m.size, -1, "big", NULL, "huge dims");
    kiln_pbw_free(&m);

    /* ConstantOfShape of [2^20, 2^20, 2^20]: refused before allocating. */
    int64_t shape[3] = {1 << 20, 1 << 20, 1 << 20};
    memset(&g, 0, sizeof g);
    node(&g, "ConstantOfShape", "cos0", "s", NULL, "c");
    node(&g, "Add", "add0", "x", "c", "y");
    tensor_i64(&g, 5, "s", shape, 3);
    value_info(&g, 11, "x", 2, xd);
    value_info(&g, 12, "y", 0, NULL);
    finish_model(&m, &g);
    expect_error(m.data, m.size, KILN_ERR_UNSUPPORTED, "cos0", "ConstantOfShape",
                 "huge ConstantOfShape");
    kiln_pbw_free(&m);

    /* raw_data shorter than the dims need. */
    memset(&g, 0, sizeof g);
    float two[2] = {1, 2};
    int64_t wd[1] = {3};
    node(&g, "Add", "add0", "x", "w", "y");
    tensor_f32(&g, 5, "w", 1, wd, two, 2);
    value_info(&g, 11, "x", 2, xd);
    value_info(&g, 12, "y", 0, NULL);
    finish_model(&m, &g);
    expect_error(m.data, m.size, KILN_ERR_FORMAT, "'w'", "raw_data", "short raw_data");
    kiln_pbw_free(&m);
}

static void test_unknown_op_and_more(void) {
    kiln_pbw g = {0}, m = {0};
    int64_t xd[2] = {1, 2};
    node(&g, "Relu", "relu0", "x", NULL, "r");
    node(&g, "FooBar", "my_foo", "r", NULL, "y");
    value_info(&g, 11, "x", 2, xd);
    value_info(&g, 12, "y", 0, NULL);
    finish_model(&m, &g);
    expect_error(m.data, m.size, KILN_ERR_UNSUPPORTED, "FooBar", "my_foo", "unknown op");
    kiln_pbw_free(&m);

    /* A node reading a tensor nobody produces. */
    memset(&g, 0, sizeof g);
    node(&g, "Relu", "relu0", "ghost", NULL, "y");
    value_info(&g, 11, "x", 2, xd);
    value_info(&g, 12, "y", 0, NULL);
    finish_model(&m, &g);
    expect_error(m.data, m.size, KILN_ERR_FORMAT, "ghost", "relu0", "undefined input");
    kiln_pbw_free(&m);

    /* Two nodes writing the same tensor. */
    memset(&g, 0, sizeof g);
    node(&g, "Relu", "relu0", "x", NULL, "y");
    node(&g, "Relu", "relu1", "x", NULL, "y");
    value_info(&g, 11, "x", 2, xd);
    value_info(&g, 12, "y", 0, NULL);
    finish_model(&m, &g);
    expect_error(m.data, m.size, KILN_ERR_FORMAT, "defined twice", "relu1", "SSA violation");
    kiln_pbw_free(&m);

    /* A custom domain. */
    memset(&g, 0, sizeof g);
    kiln_pbw n = {0};
    kiln_pbw_string(&n, 1, "x");
    kiln_pbw_string(&n, 2, "y");
    kiln_pbw_string(&n, 3, "custom0");
    kiln_pbw_string(&n, 4, "Relu");
    kiln_pbw_string(&n, 7, "com.example");
    kiln_pbw_message(&g, 1, &n);
    kiln_pbw_free(&n);
    value_info(&g, 11, "x", 2, xd);
    value_info(&g, 12, "y", 0, NULL);
    finish_model(&m, &g);
    expect_error(m.data, m.size, KILN_ERR_UNSUPPORTED, "com.example", "custom0", "domain");
    kiln_pbw_free(&m);

    /* External data. */
    memset(&g, 0, sizeof g);
    kiln_pbw t = {0};
    kiln_pbw_int64(&t, 1, 2);
    kiln_pbw_varint(&t, 2, 1);
    kiln_pbw_string(&t, 8, "ext");
    kiln_pbw_varint(&t, 14, 1);
    node(&g, "Add", "add0", "x", "ext", "y");
    kiln_pbw_message(&g, 5, &t);
    kiln_pbw_free(&t);
    value_info(&g, 11, "x", 2, xd);
    value_info(&g, 12, "y", 0, NULL);
    finish_model(&m, &g);
    expect_error(m.data, m.size, KILN_ERR_UNSUPPORTED, "external", "'ext'", "external data");
    kiln_pbw_free(&m);

    /* A Dropout mask (not produced by Kiln) read by a later node. */
    memset(&g, 0, sizeof g);
    kiln_pbw dn = {0};
    kiln_pbw_string(&dn, 1, "x");
    kiln_pbw_string(&dn, 2, "d");
    kiln_pbw_string(&dn, 2, "mask");
    kiln_pbw_string(&dn, 3, "drop0");
    kiln_pbw_string(&dn, 4, "Dropout");
    kiln_pbw_message(&g, 1, &dn);
    kiln_pbw_free(&dn);
    node(&g, "Relu", "relu_mask", "mask", NULL, "y");
    value_info(&g, 11, "x", 2, xd);
    value_info(&g, 12, "y", 0, NULL);
    finish_model(&m, &g);
    expect_error(m.data, m.size, KILN_ERR_UNSUPPORTED, "relu_mask", "mask output", "mask read");
    kiln_pbw_free(&m);

    /* Not ONNX at all / empty. */
    expect_error((const uint8_t *)"hello world", 11, KILN_ERR_FORMAT, NULL, NULL, "text");
    expect_error(NULL, 0, KILN_ERR_FORMAT, "not an ONNX model", NULL, "empty");
}

static void test_files(const kiln_pbw *m) {
    kiln_graph *g = NULL;
    kiln_status s = kiln_load_onnx("/nonexistent/dir/model.onnx", &QUIET, &g);
    KT_CHECK(s == KILN_ERR_IO && strstr(kiln_last_error(), "/nonexistent/dir/model.onnx"),
             "missing file: %s: %s", kiln_status_string(s), kiln_last_error());
    char path[] = "/tmp/kiln_bad_onnx_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return;
    close(fd);
    KT_OK(kiln_write_file_atomic(path, m->data, m->size / 2));
    s = kiln_load_onnx(path, &QUIET, &g);
    KT_CHECK(s == KILN_ERR_FORMAT && strstr(kiln_last_error(), path), "truncated file: %s: %s",
             kiln_status_string(s), kiln_last_error());
    KT_OK(kiln_write_file_atomic(path, m->data, m->size));
    KT_OK(kiln_load_onnx(path, &QUIET, &g));
    kiln_graph_destroy(g);
    unlink(path);
    /* Format detection. */
    KT_CHECK(kiln_detect_format(m->data, m->size) == KILN_FORMAT_ONNX, "detect onnx");
    KT_CHECK(kiln_detect_format((const uint8_t *)"\x0a\x05", 2) == KILN_FORMAT_PADDLE,
             "detect paddle");
    KT_CHECK(kiln_detect_format((const uint8_t *)"GIF89a", 6) == KILN_FORMAT_UNKNOWN,
             "detect other");
}

int main(void) {
    kiln_pbw m;
    good_model(&m);
    KT_CHECK(!m.failed, "writer failed");
    test_good_loads(&m);
    test_truncations(&m);
    test_flips(&m);
    test_huge_lengths();
    test_unknown_op_and_more();
    test_files(&m);
    kiln_pbw_free(&m);
    return kt_finish("test_onnx_bad_input");
}
