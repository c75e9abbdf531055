/*
 * ref_elementwise.c — reference add (numpy or Paddle-axis broadcast, fused
 * activation), n-ary sum, relu, clip, scale and identity. Broadcasting goes
 * through per-element coordinates: slow and plainly correct.
 *
 * Non-goals: other binary ops, in-place tricks.
 */
#include "backend/ref/ref.h"

void kiln_ref_add(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out) {
    const kiln_ref_tensor *A = &in[0], *B = &in[1];
    int32_t brank = B->rank;
    int64_t bd[KILN_MAX_RANK];
    for (int32_t i = 0; i < brank; i++)
        bd[i] = B->d[i];
    if (n->attrs.axis >= 0) {
        /* Paddle: B without trailing 1s sits at A's dims axis..; pad it to A's rank with 1s. */
        int32_t rb = B->rank;
        while (rb > 0 && B->d[rb - 1] == 1)
            rb--;
        brank = A->rank;
        for (int32_t i = 0; i < brank; i++) {
            int64_t j = i - n->attrs.axis;
            bd[i] = (j >= 0 && j < rb) ? B->d[j] : 1;
        }
    }
    int64_t c[KILN_MAX_RANK];
    for (int64_t i = 0; i < out->n; i++) {
        kiln_ref_coords(i, out->rank, out->d, c);
        double va = A->p[kiln_ref_bcast_offset(A->rank, A->d, out->rank, c)];
        double vb = B->p[kiln_ref_bcast_offset(brank, bd, out->rank, c)];
        out->p[i] = (float)kiln_ref_act(&n->attrs, va + vb);
    }
}

void kiln_ref_sum(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out) {
    int64_t c[KILN_MAX_RANK];
    for (int64_t i = 0; i < out->n; i++) {
        kiln_ref_coords(i, out->rank, out->d, c);
        double acc = 0.0;
        for (int32_t k = 0; k < n->n_inputs; k++)
            acc += in[k].p[kiln_ref_bcast_offset(in[k].rank, in[k].d, out->rank, c)];
        out->p[i] = (float)acc;
    }
}

void kiln_ref_unary(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out) {
    const kiln_attrs *a = &n->attrs;
    const float *x = in[0].p;
    float *y = out->p;
    for (int64_t i = 0; i < out->n; i++) {
        float v = x[i];
        switch (n->op) {
        case KILN_OP_RELU: y[i] = v > 0.0f ? v : 0.0f; break;
        case KILN_OP_CLIP:
            y[i] = v < a->clip_min ? a->clip_min : (v > a->clip_max ? a->clip_max : v);
            break;
        case KILN_OP_SCALE:
            y[i] = a->bias_after_scale ? (float)((double)a->alpha * v + a->beta)
                                       : (float)((double)a->alpha * ((double)v + a->beta));
            break;
        default: y[i] = v; break;
        }
    }
}
