/*
 * test_shape_infer.c — kiln_infer_node for every op: ordinary and odd shapes,
 * SAME/VALID padding, ceil-mode pooling, Paddle-axis add, reshape with 0/-1
 * and an unknown batch, flatten variants, and error cases whose message must
 * name the node (and the offending tensor).
 *
 * Expected shapes are hand-computed literals.
 */
#include <string.h>

#include "core/status.h"
#include "ir/graph.h"
#include "test_util.h"

typedef struct sh {
    int32_t rank;
    int64_t d[KILN_MAX_RANK];
} sh;

static sh mk(const int64_t *d, size_t n) {
    sh s;
    memset(&s, 0, sizeof s);
    s.rank = (int32_t)n;
    for (size_t i = 0; i < n; i++)
        s.d[i] = d[i];
    return s;
}
#define S(...)                                                                                     \
    mk((const int64_t[]){__VA_ARGS__}, sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))
static const sh S0 = {0, {0}};

#define NODE "mynode"

/* Builds in0..in{n-1} -> node NODE -> "out", infers, returns the status and the output shape. */
static kiln_status infer(kiln_op op, const kiln_attrs *a, int n, const sh *ins, sh *out) {
    kiln_graph *g;
    KT_OK(kiln_graph_create(&g));
    int32_t ids[KILN_MAX_IO], o;
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "in%d", i);
        KT_OK(kiln_graph_add_value(g, name, KILN_DT_F32, ins[i].rank, ins[i].d, &ids[i]));
    }
    KT_OK(kiln_graph_add_value(g, "out", KILN_DT_F32, 0, NULL, &o));
    KT_OK(kiln_graph_add_node(g, op, NODE, n, ids, 1, &o, a, NULL));
    kiln_status s = kiln_infer_shapes(g);
    if (out) {
        out->rank = g->values[o].rank;
        memcpy(out->d, g->values[o].dims, sizeof out->d);
    }
    kiln_graph_destroy(g);
    return s;
}

static void expect_shape(int line, kiln_op op, const kiln_attrs *a, int n, const sh *ins, sh want) {
    sh got;
    kiln_status s = infer(op, a, n, ins, &got);
    char b1[128], b2[128];
    KT_CHECK(s == KILN_OK, "line %d: %s: %s", line, kiln_op_names[op], kiln_last_error());
    if (s != KILN_OK) return;
    bool same = got.rank == want.rank;
    for (int32_t i = 0; same && i < want.rank; i++)
        same = got.d[i] == want.d[i];
    KT_CHECK(same, "line %d: %s: got %s want %s", line, kiln_op_names[op],
             kiln_shape_str(got.rank, got.d, b1, sizeof b1),
             kiln_shape_str(want.rank, want.d, b2, sizeof b2));
}

/* Expects a KILN_ERR_SHAPE whose message contains NODE and each of `needles` (NULL-ended). */
static void expect_error(int line, kiln_op op, const kiln_attrs *a, int n, const sh *ins,
                         const char *n1, const char *n2) {
    kiln_status s = infer(op, a, n, ins, NULL);
    const char *m = kiln_last_error();
    KT_CHECK(s == KILN_ERR_SHAPE, "line %d: %s: expected KILN_ERR_SHAPE, got %s", line,
             kiln_op_names[op], kiln_status_string(s));
    KT_CHECK(strstr(m, "'" NODE "'") != NULL, "line %d: message lacks the node: %s", line, m);
    KT_CHECK(strstr(m, kiln_op_names[op]) != NULL, "line %d: message lacks the op: %s", line, m);
    if (n1) KT_CHECK(strstr(m, n1) != NULL, "line %d: message lacks '%s': %s", line, n1, m);
    if (n2) KT_CHECK(strstr(m, n2) != NULL, "line %d: message lacks '%s': %s", line, n2, m);
}

#define OK1(op, a, want, ...)                                                                      \
    do {                                                                                           \
        const sh ins_[] = {__VA_ARGS__};                                                           \
        expect_shape(__LINE__, op, a, (int)(sizeof ins_ / sizeof ins_[0]), ins_, want);            \
    } while (0)
#define ERR(op, a, n1, n2, ...)                                                                    \
    do {                                                                                           \
        const sh ins_[] = {__VA_ARGS__};                                                           \
        expect_error(__LINE__, op, a, (int)(sizeof ins_ / sizeof ins_[0]), ins_, n1, n2);          \
    } while (0)

static kiln_attrs conv_attrs(int64_t sh_, int64_t sw, int64_t pt, int64_t pl, int64_t pb,
                             int64_t pr) {
    kiln_attrs a = kiln_attrs_default();
    a.strides[0] = sh_, a.strides[1] = sw;
    a.pads[0] = pt, a.pads[1] = pl, a.pads[2] = pb, a.pads[3] = pr;
    return a;
}

static void test_conv(void) {
    kiln_attrs a = conv_attrs(1, 1, 1, 1, 1, 1);
    OK1(KILN_OP_CONV, &a, S(1, 4, 7, 9), S(1, 3, 7, 9), S(4, 3, 3, 3));
    OK1(KILN_OP_CONV, &a, S(1, 4, 7, 9), S(1, 3, 7, 9), S(4, 3, 3, 3), S(4));
    OK1(KILN_OP_CONV, &a, S(-1, 4, 7, 9), S(-1, 3, 7, 9), S(4, 3, 3, 3));
    /* stride 2, asymmetric pads top 0 left 1 bottom 2 right 0: (7+2-3)/2+1, (9+1-3)/2+1 */
    a = conv_attrs(2, 2, 0, 1, 2, 0);
    OK1(KILN_OP_CONV, &a, S(1, 4, 4, 4), S(1, 3, 7, 9), S(4, 3, 3, 3));
    /* ResNet stem: 224, k7 s2 p3 -> 112 */
    a = conv_attrs(2, 2, 3, 3, 3, 3);
    OK1(KILN_OP_CONV, &a, S(-1, 64, 112, 112), S(-1, 3, 224, 224), S(64, 3, 7, 7));
    /* dilation 2: effective kernel 5 -> 7-5+1, 9-5+1 */
    a = conv_attrs(1, 1, 0, 0, 0, 0);
    a.dilations[0] = a.dilations[1] = 2;
    OK1(KILN_OP_CONV, &a, S(1, 4, 3, 5), S(1, 3, 7, 9), S(4, 3, 3, 3));
    /* groups: depthwise and 3 groups */
    a = conv_attrs(1, 1, 0, 0, 0, 0);
    a.group = 6;
    OK1(KILN_OP_CONV, &a, S(2, 6, 3, 3), S(2, 6, 5, 5), S(6, 1, 3, 3));
    a.group = 3;
    OK1(KILN_OP_CONV, &a, S(2, 9, 3, 3), S(2, 6, 5, 5), S(9, 2, 3, 3));
    /* SAME: ceil(H/s); VALID: (H-k)/s+1 */
    a = conv_attrs(2, 2, 5, 5, 5, 5); /* explicit pads are ignored under auto_pad */
    a.auto_pad = KILN_PAD_SAME_UPPER;
    OK1(KILN_OP_CONV, &a, S(1, 4, 4, 4), S(1, 3, 7, 8), S(4, 3, 3, 3));
    a.auto_pad = KILN_PAD_SAME_LOWER;
    OK1(KILN_OP_CONV, &a, S(1, 4, 4, 4), S(1, 3, 7, 8), S(4, 3, 3, 3));
    a.auto_pad = KILN_PAD_VALID;
    OK1(KILN_OP_CONV, &a, S(1, 4, 3, 3), S(1, 3, 7, 8), S(4, 3, 3, 3));
    /* 1x1 kernel, odd shape */
    a = conv_attrs(3, 2, 0, 0, 0, 0);
    OK1(KILN_OP_CONV, &a, S(5, 2, 3, 3), S(5, 7, 7, 5), S(2, 7, 1, 1));

    /* fused residual (4th input) and activation */
    a = conv_attrs(1, 1, 1, 1, 1, 1);
    a.act = KILN_ACT_RELU;
    OK1(KILN_OP_CONV, &a, S(-1, 4, 7, 9), S(-1, 3, 7, 9), S(4, 3, 3, 3), S(4), S(-1, 4, 7, 9));
    ERR(KILN_OP_CONV, &a, "in3", "[1,4,7,8]", S(1, 3, 7, 9), S(4, 3, 3, 3), S(4), S(1, 4, 7, 8));
    a.act = (kiln_act)7;
    ERR(KILN_OP_CONV, &a, "activation", NULL, S(1, 3, 7, 9), S(4, 3, 3, 3));
    a = kiln_attrs_default();
    a.act = KILN_ACT_CLIP;
    OK1(KILN_OP_ADD, &a, S(2, 3), S(2, 3), S(3));
    OK1(KILN_OP_GEMM, &a, S(2, 5), S(2, 3), S(3, 5));
    ERR(KILN_OP_RELU, &a, "activation", NULL, S(2, 3));
    ERR(KILN_OP_MATMUL, &a, "activation", NULL, S(2, 3), S(3, 5));

    /* errors */
    a = conv_attrs(1, 1, 1, 1, 1, 1);
    ERR(KILN_OP_CONV, &a, "in0", "[1,5,7,7]", S(1, 5, 7, 7), S(4, 3, 3, 3));
    ERR(KILN_OP_CONV, &a, "in1", "[4,3,3]", S(1, 3, 7, 7), S(4, 3, 3));
    ERR(KILN_OP_CONV, &a, "in2", "[5]", S(1, 3, 7, 7), S(4, 3, 3, 3), S(5));
    ERR(KILN_OP_CONV, &a, "in0", NULL, S(1, 3, 7), S(4, 3, 3, 3));
    ERR(KILN_OP_CONV, &a, "input", NULL, S(1, 3, 7, 7));
    a.group = 2;
    ERR(KILN_OP_CONV, &a, "in1", "group", S(1, 6, 7, 7), S(5, 3, 3, 3));
    a = conv_attrs(1, 1, 0, 0, 0, 0);
    ERR(KILN_OP_CONV, &a, "in0", "[1,3,2,7]", S(1, 3, 2, 7), S(4, 3, 3, 3));
    a.strides[0] = 0;
    ERR(KILN_OP_CONV, &a, "strides", NULL, S(1, 3, 7, 7), S(4, 3, 3, 3));
}

static kiln_attrs pool_attrs(int64_t k, int64_t s, int64_t pt, int64_t pl, int64_t pb, int64_t pr,
                             bool ceil) {
    kiln_attrs a = conv_attrs(s, s, pt, pl, pb, pr);
    a.kernel[0] = a.kernel[1] = k;
    a.ceil_mode = ceil;
    return a;
}

static void test_pool(void) {
    kiln_attrs a = pool_attrs(3, 2, 1, 1, 1, 1, false);
    OK1(KILN_OP_MAX_POOL, &a, S(-1, 64, 56, 56), S(-1, 64, 112, 112));
    /* floor vs ceil: H=6 k3 s2 -> 2 vs 3 */
    a = pool_attrs(3, 2, 0, 0, 0, 0, false);
    OK1(KILN_OP_AVG_POOL, &a, S(1, 2, 2, 2), S(1, 2, 6, 6));
    a.ceil_mode = true;
    OK1(KILN_OP_AVG_POOL, &a, S(1, 2, 3, 3), S(1, 2, 6, 6));
    /* ceil mode drops a last window that starts in the end padding:
     * H=5 k2 s2 p1,1: ceil gives 4, (4-1)*2 = 6 >= 5+1 -> 3; floor also 3 */
    a = pool_attrs(2, 2, 1, 1, 1, 1, true);
    OK1(KILN_OP_MAX_POOL, &a, S(1, 1, 3, 3), S(1, 1, 5, 5));
    a.ceil_mode = false;
    OK1(KILN_OP_MAX_POOL, &a, S(1, 1, 3, 3), S(1, 1, 5, 5));
    /* ceil mode keeps a window starting inside the input: H=7 k3 s2 p0 -> ceil(4/2)+1 = 3,
     * H=8 -> ceil(5/2)+1 = 4 */
    a = pool_attrs(3, 2, 0, 0, 0, 0, true);
    OK1(KILN_OP_MAX_POOL, &a, S(1, 1, 3, 4), S(1, 1, 7, 8));
    /* asymmetric kernel and pads */
    a = pool_attrs(1, 1, 0, 2, 1, 0, false);
    a.kernel[0] = 2, a.kernel[1] = 3;
    a.strides[0] = 1, a.strides[1] = 2;
    OK1(KILN_OP_AVG_POOL, &a, S(2, 3, 5, 4), S(2, 3, 5, 7)); /* (5+1-2)/1+1, (7+2-3)/2+1 */
    /* SAME / VALID */
    a = pool_attrs(3, 2, 0, 0, 0, 0, false);
    a.auto_pad = KILN_PAD_SAME_UPPER;
    OK1(KILN_OP_MAX_POOL, &a, S(1, 1, 4, 3), S(1, 1, 7, 5));
    a.auto_pad = KILN_PAD_VALID;
    OK1(KILN_OP_MAX_POOL, &a, S(1, 1, 3, 2), S(1, 1, 7, 5));
    /* global */
    OK1(KILN_OP_GLOBAL_AVG_POOL, NULL, S(-1, 2048, 1, 1), S(-1, 2048, 7, 7));
    OK1(KILN_OP_GLOBAL_MAX_POOL, NULL, S(2, 5, 1, 1), S(2, 5, 7, 3));
    /* errors */
    a = pool_attrs(5, 1, 0, 0, 0, 0, false);
    ERR(KILN_OP_MAX_POOL, &a, "in0", "[1,1,4,9]", S(1, 1, 4, 9));
    a = pool_attrs(0, 1, 0, 0, 0, 0, false);
    ERR(KILN_OP_AVG_POOL, &a, "kernel", NULL, S(1, 1, 4, 9));
    ERR(KILN_OP_GLOBAL_AVG_POOL, NULL, "in0", "[3,4]", S(3, 4));
}

static void test_add_sum(void) {
    kiln_attrs a = kiln_attrs_default(); /* axis -1: numpy */
    OK1(KILN_OP_ADD, &a, S(2, 3, 4, 5), S(2, 3, 4, 5), S(4, 1));
    OK1(KILN_OP_ADD, &a, S(2, 3, 4, 5), S(3, 1, 5), S(2, 1, 4, 1));
    OK1(KILN_OP_ADD, &a, S(-1, 1000), S(-1, 1000), S(1000));
    OK1(KILN_OP_ADD, &a, S(2, 3), S0, S(2, 3));
    ERR(KILN_OP_ADD, &a, "in0", "in1", S(2, 3), S(4));
    /* Paddle axis: B aligns with A from axis, trailing 1s dropped */
    a.axis = 1;
    OK1(KILN_OP_ADD, &a, S(2, 3, 4, 5), S(2, 3, 4, 5), S(3));
    OK1(KILN_OP_ADD, &a, S(2, 3, 4, 5), S(2, 3, 4, 5), S(3, 1, 1));
    OK1(KILN_OP_ADD, &a, S(-1, 3, 4, 5), S(-1, 3, 4, 5), S(3, 4));
    OK1(KILN_OP_ADD, &a, S(2, 3, 4, 5), S(2, 3, 4, 5), S(1, 4));
    a.axis = 0;
    OK1(KILN_OP_ADD, &a, S(2, 3, 4, 5), S(2, 3, 4, 5), S(2, 3, 4, 5));
    a.axis = 2;
    OK1(KILN_OP_ADD, &a, S(2, 3, 4, 5), S(2, 3, 4, 5), S(4));
    a.axis = 1;
    ERR(KILN_OP_ADD, &a, "in1", "[4]", S(2, 3, 4, 5), S(4));
    a.axis = 3;
    ERR(KILN_OP_ADD, &a, "in1", "[5,2]", S(2, 3, 4, 5), S(5, 2));
    ERR(KILN_OP_ADD, &a, NULL, NULL, S(2, 3, 4, 5));

    OK1(KILN_OP_SUM, NULL, S(2, 3, 4), S(2, 1, 4), S(3, 1), S(4));
    OK1(KILN_OP_SUM, NULL, S(7), S(7));
    OK1(KILN_OP_SUM, NULL, S(-1, 8), S(-1, 8), S(-1, 8), S(1, 8));
    ERR(KILN_OP_SUM, NULL, "in2", "[5]", S(2, 3, 4), S(3, 1), S(5));
}

static void test_matmul_gemm(void) {
    kiln_attrs a = kiln_attrs_default();
    OK1(KILN_OP_MATMUL, &a, S(2, 3, 5), S(2, 3, 4), S(4, 5));
    OK1(KILN_OP_MATMUL, &a, S(5), S(4), S(4, 5));
    OK1(KILN_OP_MATMUL, &a, S(2, 3), S(2, 3, 4), S(4));
    OK1(KILN_OP_MATMUL, &a, S0, S(4), S(4));
    OK1(KILN_OP_MATMUL, &a, S(2, 5, 3, 6), S(2, 1, 3, 4), S(5, 4, 6));
    OK1(KILN_OP_MATMUL, &a, S(-1, 1000), S(-1, 2048), S(2048, 1000));
    a.trans_b = true;
    OK1(KILN_OP_MATMUL, &a, S(2, 3, 5), S(2, 3, 4), S(5, 4));
    a.trans_a = true;
    OK1(KILN_OP_MATMUL, &a, S(2, 3, 5), S(2, 4, 3), S(5, 4));
    a.trans_a = a.trans_b = false;
    ERR(KILN_OP_MATMUL, &a, "in0", "[2,3,4]", S(2, 3, 4), S(5, 6));
    ERR(KILN_OP_MATMUL, &a, "in1", "[3,4,6]", S(2, 3, 4), S(3, 4, 6));

    OK1(KILN_OP_GEMM, &a, S(3, 5), S(3, 4), S(4, 5), S(5));
    OK1(KILN_OP_GEMM, &a, S(3, 5), S(3, 4), S(4, 5), S(3, 1));
    OK1(KILN_OP_GEMM, &a, S(3, 5), S(3, 4), S(4, 5));
    OK1(KILN_OP_GEMM, &a, S(-1, 1000), S(-1, 2048), S(2048, 1000), S(1000));
    a.trans_a = true;
    OK1(KILN_OP_GEMM, &a, S(3, 5), S(4, 3), S(4, 5), S(1, 5));
    a.trans_b = true;
    OK1(KILN_OP_GEMM, &a, S(3, 5), S(4, 3), S(5, 4), S0);
    a.trans_a = a.trans_b = false;
    ERR(KILN_OP_GEMM, &a, "in2", "[4]", S(3, 4), S(4, 5), S(4));
    ERR(KILN_OP_GEMM, &a, "in1", "[5,5]", S(3, 4), S(5, 5));
    ERR(KILN_OP_GEMM, &a, "in0", "[2,3,4]", S(2, 3, 4), S(4, 5));
}

static void test_same_shape_ops(void) {
    kiln_attrs a = kiln_attrs_default();
    static const kiln_op ops[] = {KILN_OP_RELU,     KILN_OP_CLIP,       KILN_OP_SCALE,
                                  KILN_OP_IDENTITY, KILN_OP_FAKE_QUANT, KILN_OP_FAKE_QUANT_DEQUANT};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        OK1(ops[i], &a, S(-1, 3, 5), S(-1, 3, 5));
        OK1(ops[i], &a, S(7), S(7));
        ERR(ops[i], &a, NULL, NULL, S(7), S(7), S(7));
    }
    OK1(KILN_OP_FAKE_QUANT, &a, S(2, 3), S(2, 3), S(1));
    ERR(KILN_OP_FAKE_QUANT, &a, "in1", "[2]", S(2, 3), S(2));
    a.max_range = 127.0f * 127.0f;
    OK1(KILN_OP_FAKE_DEQUANT, &a, S(2, 3), S(2, 3), S(1));
    ERR(KILN_OP_FAKE_DEQUANT, &a, NULL, NULL, S(2, 3));
    a.max_range = 0.0f;
    ERR(KILN_OP_FAKE_DEQUANT, &a, "max_range", NULL, S(2, 3), S(1));
    a = kiln_attrs_default();
    a.bit_length = 40;
    ERR(KILN_OP_FAKE_QUANT, &a, "bit", NULL, S(2, 3));
    a = kiln_attrs_default();
    a.round_type = 2;
    ERR(KILN_OP_FAKE_QUANT_DEQUANT, &a, "round_type", NULL, S(2, 3));

    /* channel dequant: one scale along quant_axis, two scales along axis 1 */
    a = kiln_attrs_default();
    a.axis = 0;
    a.n_quant_bits = 1;
    a.quant_bits[0] = 8;
    OK1(KILN_OP_FAKE_CHANNEL_DEQUANT, &a, S(4, 3, 3, 3), S(4, 3, 3, 3), S(4));
    a.axis = 1;
    OK1(KILN_OP_FAKE_CHANNEL_DEQUANT, &a, S(6, 4), S(6, 4), S(4));
    ERR(KILN_OP_FAKE_CHANNEL_DEQUANT, &a, "in1", "[6]", S(6, 4), S(6));
    a.axis = 0;
    a.n_quant_bits = 2;
    a.quant_bits[1] = 8;
    OK1(KILN_OP_FAKE_CHANNEL_DEQUANT, &a, S(-1, 8, 5, 5), S(-1, 8, 5, 5), S(8), S(1));
    ERR(KILN_OP_FAKE_CHANNEL_DEQUANT, &a, "in2", "[2]", S(-1, 8, 5, 5), S(8), S(2));
    ERR(KILN_OP_FAKE_CHANNEL_DEQUANT, &a, "in1", "[5]", S(-1, 8, 5, 5), S(5), S(1));
    a = kiln_attrs_default();
    a.axis = 0;
    OK1(KILN_OP_FAKE_CHANNEL_QUANT_DEQUANT, &a, S(4, 3, 3, 3), S(4, 3, 3, 3));
    a.axis = 4;
    ERR(KILN_OP_FAKE_CHANNEL_QUANT_DEQUANT, &a, "in0", "quant_axis", S(4, 3, 3, 3));

    /* batch norm */
    OK1(KILN_OP_BATCH_NORM, NULL, S(-1, 3, 5, 7), S(-1, 3, 5, 7), S(3), S(3), S(3), S(3));
    OK1(KILN_OP_BATCH_NORM, NULL, S(2, 3), S(2, 3), S(3), S(3), S(3), S(3));
    ERR(KILN_OP_BATCH_NORM, NULL, "in3", "[4]", S(2, 3, 5, 7), S(3), S(3), S(4), S(3));
    ERR(KILN_OP_BATCH_NORM, NULL, NULL, NULL, S(2, 3, 5, 7), S(3), S(3), S(3));

    /* softmax */
    a = kiln_attrs_default();
    OK1(KILN_OP_SOFTMAX, &a, S(-1, 1000), S(-1, 1000));
    a.axis = 1;
    a.coerce_2d = true;
    OK1(KILN_OP_SOFTMAX, &a, S(2, 3, 4), S(2, 3, 4));
    a.axis = 3;
    ERR(KILN_OP_SOFTMAX, &a, "in0", "[2,3,4]", S(2, 3, 4));
    a.axis = -4;
    ERR(KILN_OP_SOFTMAX, &a, "in0", "axis", S(2, 3, 4));
}

static void test_flatten_reshape(void) {
    kiln_attrs a = kiln_attrs_default();
    a.coerce_2d = true;
    a.axis = 1;
    OK1(KILN_OP_FLATTEN, &a, S(2, 60), S(2, 3, 4, 5));
    OK1(KILN_OP_FLATTEN, &a, S(-1, 2048), S(-1, 2048, 1, 1));
    a.axis = 0;
    OK1(KILN_OP_FLATTEN, &a, S(1, 120), S(2, 3, 4, 5));
    a.axis = 4;
    OK1(KILN_OP_FLATTEN, &a, S(120, 1), S(2, 3, 4, 5));
    a.axis = -1;
    OK1(KILN_OP_FLATTEN, &a, S(24, 5), S(2, 3, 4, 5));
    a.axis = 2;
    OK1(KILN_OP_FLATTEN, &a, S(-1, 4), S(-1, 3, 4));
    a.axis = 5;
    ERR(KILN_OP_FLATTEN, &a, "in0", "[2,3,4,5]", S(2, 3, 4, 5));
    a.coerce_2d = false;
    a.axis = 1, a.axis_end = -1;
    OK1(KILN_OP_FLATTEN, &a, S(2, 60), S(2, 3, 4, 5));
    OK1(KILN_OP_FLATTEN, &a, S(-1, 2048), S(-1, 2048, 1, 1));
    a.axis = 1, a.axis_end = 2;
    OK1(KILN_OP_FLATTEN, &a, S(2, 12, 5), S(2, 3, 4, 5));
    a.axis = 0, a.axis_end = 0;
    OK1(KILN_OP_FLATTEN, &a, S(2, 3, 4, 5), S(2, 3, 4, 5));
    a.axis = -3, a.axis_end = -2;
    OK1(KILN_OP_FLATTEN, &a, S(2, 12, 5), S(2, 3, 4, 5));
    a.axis = 3, a.axis_end = 1;
    ERR(KILN_OP_FLATTEN, &a, "in0", "[2,3,4,5]", S(2, 3, 4, 5));

    a = kiln_attrs_default();
#define SHAPE(...)                                                                                 \
    do {                                                                                           \
        const int64_t t_[] = {__VA_ARGS__};                                                        \
        a.shape_rank = (int32_t)(sizeof t_ / sizeof t_[0]);                                        \
        memcpy(a.shape, t_, sizeof t_);                                                            \
    } while (0)
    SHAPE(0, -1);
    OK1(KILN_OP_RESHAPE, &a, S(2, 12), S(2, 3, 4));
    OK1(KILN_OP_RESHAPE, &a, S(-1, 2048), S(-1, 2048, 1, 1));
    SHAPE(-1, 2048);
    OK1(KILN_OP_RESHAPE, &a, S(-1, 2048), S(-1, 2048, 1, 1));
    OK1(KILN_OP_RESHAPE, &a, S(3, 2048), S(3, 2048, 1, 1));
    SHAPE(6, -1);
    OK1(KILN_OP_RESHAPE, &a, S(6, 4), S(2, 3, 4));
    SHAPE(-1);
    OK1(KILN_OP_RESHAPE, &a, S(24), S(2, 3, 4));
    SHAPE(0, 0, 2, 2);
    OK1(KILN_OP_RESHAPE, &a, S(2, 3, 2, 2), S(2, 3, 4));
    SHAPE(0, 3, -1);
    OK1(KILN_OP_RESHAPE, &a, S(-1, 3, 4), S(-1, 12));
    SHAPE(4, 6);
    OK1(KILN_OP_RESHAPE, &a, S(4, 6), S(2, 3, 4));
    /* errors */
    SHAPE(-1, -1);
    ERR(KILN_OP_RESHAPE, &a, "in0", "[-1,-1]", S(2, 3, 4));
    SHAPE(5, 5);
    ERR(KILN_OP_RESHAPE, &a, "in0", "[5,5]", S(2, 3, 4));
    SHAPE(5, -1);
    ERR(KILN_OP_RESHAPE, &a, "in0", "[2,3,4]", S(2, 3, 4));
    SHAPE(0, 0, 0, -1); /* -1 takes 1 */
    OK1(KILN_OP_RESHAPE, &a, S(2, 3, 4, 1), S(2, 3, 4));
    SHAPE(0, 0, 0, 0); /* copies a dim the input lacks */
    ERR(KILN_OP_RESHAPE, &a, "in0", "[2,3,4]", S(2, 3, 4));
    SHAPE(2, -3, 4);
    ERR(KILN_OP_RESHAPE, &a, "in0", "-3", S(2, 3, 4));
#undef SHAPE
}

/* Constants whose bytes disagree with their shape are rejected by name. */
static void test_const_bytes(void) {
    kiln_graph *g;
    KT_OK(kiln_graph_create(&g));
    int32_t x, w, o;
    static const float wdata[4] = {1, 2, 3, 4};
    KT_OK(kiln_graph_add_value(g, "x", KILN_DT_F32, 4, (const int64_t[]){1, 1, 3, 3}, &x));
    KT_OK(kiln_graph_add_value(g, "w_bad", KILN_DT_F32, 4, (const int64_t[]){1, 1, 2, 3}, &w));
    kiln_graph_set_const(g, w, wdata, sizeof wdata);
    KT_OK(kiln_graph_add_value(g, "y", KILN_DT_F32, 0, NULL, &o));
    int32_t ins[2] = {x, w};
    KT_OK(kiln_graph_add_node(g, KILN_OP_CONV, "conv_node", 2, ins, 1, &o, NULL, NULL));
    kiln_status s = kiln_infer_shapes(g);
    KT_CHECK(s == KILN_ERR_SHAPE, "got %s", kiln_status_string(s));
    KT_CHECK(strstr(kiln_last_error(), "w_bad") && strstr(kiln_last_error(), "conv_node"), "%s",
             kiln_last_error());
    kiln_graph_destroy(g);
}

/* A chain: output shapes of one node feed the next (ResNet head with unknown batch). */
static void test_chain(void) {
    kiln_graph *g;
    KT_OK(kiln_graph_create(&g));
    int32_t x, p, f, w, y;
    KT_OK(kiln_graph_add_value(g, "x", KILN_DT_F32, 4, (const int64_t[]){-1, 2048, 7, 7}, &x));
    KT_OK(kiln_graph_add_value(g, "pool", KILN_DT_F32, 0, NULL, &p));
    KT_OK(kiln_graph_add_value(g, "flat", KILN_DT_F32, 0, NULL, &f));
    KT_OK(kiln_graph_add_value(g, "fc_w", KILN_DT_F32, 2, (const int64_t[]){2048, 1000}, &w));
    KT_OK(kiln_graph_add_value(g, "logits", KILN_DT_F32, 0, NULL, &y));
    kiln_attrs fa = kiln_attrs_default();
    fa.coerce_2d = true;
    fa.axis = 1;
    KT_OK(kiln_graph_add_node(g, KILN_OP_GLOBAL_AVG_POOL, "gap", 1, &x, 1, &p, NULL, NULL));
    KT_OK(kiln_graph_add_node(g, KILN_OP_FLATTEN, "flatten", 1, &p, 1, &f, &fa, NULL));
    KT_OK(kiln_graph_add_node(g, KILN_OP_MATMUL, "fc", 2, (const int32_t[]){f, w}, 1, &y, NULL,
                              NULL));
    KT_OK(kiln_infer_shapes(g));
    KT_CHECK(g->values[y].rank == 2 && g->values[y].dims[0] == -1 && g->values[y].dims[1] == 1000,
             "logits rank %d", (int)g->values[y].rank);
    KT_CHECK(g->values[y].dtype == KILN_DT_F32, "dtype");
    kiln_graph_destroy(g);
}

int main(void) {
    test_conv();
    test_pool();
    test_add_sum();
    test_matmul_gemm();
    test_same_shape_ops();
    test_flatten_reshape();
    test_const_bytes();
    test_chain();
    return kt_finish("test_shape_infer");
}
