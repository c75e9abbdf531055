/*
 * ref.h — internals shared by the reference backend's files: the tensor view
 * a kernel sees (data + shape with the run batch applied) and one entry point
 * per op family. Kernels are plain scalar C that cannot fail: ref_backend.c
 * validates everything in create.
 *
 * Non-goals: speed, layouts other than dense row-major NCHW, dtypes other than f32.
 */
#ifndef KILN_BACKEND_REF_H
#define KILN_BACKEND_REF_H

#include "backend/backend.h"

/* A dense row-major float tensor. For an absent optional input p is NULL. */
typedef struct kiln_ref_tensor {
    float *p;
    int32_t rank;
    int64_t d[KILN_MAX_RANK];
    int64_t n; /* element count */
} kiln_ref_tensor;

/* The node's fused activation (conv, gemm, add), applied last. */
static inline double kiln_ref_act(const kiln_attrs *a, double v) {
    switch (a->act) {
    case KILN_ACT_RELU: return v > 0.0 ? v : 0.0;
    case KILN_ACT_CLIP: return v < a->clip_min ? a->clip_min : (v > a->clip_max ? a->clip_max : v);
    default: return v;
    }
}

/* Begin pad of spatial dim `i` (0 = H, 1 = W) for a window of kernel k over
 * input size `in`, resolving auto_pad as ONNX/TF do; *end gets the end pad. */
int64_t kiln_ref_pad_begin(const kiln_attrs *a, int i, int64_t in, int64_t k, int64_t *end);

/* Kernels: `in` holds the node's inputs (KILN_MAX_IO entries), `out` its output. */
void kiln_ref_conv(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out);
void kiln_ref_pool(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out);
void kiln_ref_global_pool(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out);
void kiln_ref_add(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out);
void kiln_ref_sum(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out);
void kiln_ref_unary(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out);
void kiln_ref_matmul(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out);
void kiln_ref_gemm(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out);
void kiln_ref_batch_norm(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out);
void kiln_ref_softmax(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out);
void kiln_ref_copy(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out);
void kiln_ref_quant(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out);

/* INT8 (ref_int8.c, docs/INT8.md). Per INT8 conv/gemm: weights quantized
 * per output channel and their scales T_w[c]/127. */
typedef struct kiln_ref_int8 {
    int8_t *qw;
    double *scale;
} kiln_ref_int8;

/* Scratch for INT8 nodes, each sized for the largest activation. */
typedef struct kiln_ref_scratch {
    int8_t *q;        /* 2 * r_offset bytes: quantized input, then quantized residual */
    int64_t r_offset; /* the largest activation, in elements */
    float *f0, *f1;
} kiln_ref_scratch;

kiln_status kiln_ref_int8_prepare(const kiln_graph *g, const kiln_node *n, kiln_ref_int8 *w);
void kiln_ref_int8_free(kiln_ref_int8 *w);
/* y[i] = deq(q(x[i], t), t); in place allowed. */
void kiln_ref_fake_quant(const float *x, float *y, int64_t n, float t);
void kiln_ref_int8_node(const kiln_graph *g, const kiln_node *n, const kiln_ref_tensor *in,
                        kiln_ref_tensor *out, const kiln_ref_int8 *w, kiln_ref_scratch *s);
/* The FP32 kernel of node n (ref_backend.c). */
void kiln_ref_run_float(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out);

/* Offset into a tensor of shape (rank, d) broadcast to an output of rank
 * `orank` whose coordinates are `oc` (numpy rules: right-aligned, size-1 dims
 * repeat). */
int64_t kiln_ref_bcast_offset(int32_t rank, const int64_t *d, int32_t orank, const int64_t *oc);

/* Coordinates of flat index `i` in a tensor of shape (rank, d). */
void kiln_ref_coords(int64_t i, int32_t rank, const int64_t *d, int64_t *c);

#endif
