/*
 * ref_norm.c — reference inference batch norm
 * (y = scale*(x-mean)/sqrt(var+eps) + bias per channel on dim 1) and softmax
 * (along an axis, or ONNX opset<13 coerce-to-2D rows), max-subtracted, in double.
 *
 * Non-goals: training-mode statistics, log-softmax.
 */
#include <math.h>

#include "backend/ref/ref.h"

void kiln_ref_batch_norm(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out) {
    const kiln_ref_tensor *x = &in[0];
    const float *scale = in[1].p, *bias = in[2].p, *mean = in[3].p, *var = in[4].p;
    int64_t N = x->d[0], C = x->d[1], S = 1;
    for (int32_t i = 2; i < x->rank; i++)
        S *= x->d[i];
    double eps = n->attrs.epsilon;
    for (int64_t nn = 0; nn < N; nn++)
        for (int64_t c = 0; c < C; c++) {
            double inv = 1.0 / sqrt((double)var[c] + eps);
            const float *xp = x->p + (nn * C + c) * S;
            float *yp = out->p + (nn * C + c) * S;
            for (int64_t i = 0; i < S; i++)
                yp[i] = (float)((double)scale[c] * ((double)xp[i] - mean[c]) * inv + bias[c]);
        }
}

void kiln_ref_softmax(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out) {
    const kiln_ref_tensor *x = &in[0];
    int64_t axis = n->attrs.axis < 0 ? n->attrs.axis + x->rank : n->attrs.axis;
    /* View as [outer, len, inner]; softmax over len. */
    int64_t outer = 1, len = 1, inner = 1;
    for (int32_t i = 0; i < x->rank; i++) {
        if (i < axis)
            outer *= x->d[i];
        else if (n->attrs.coerce_2d || i == axis)
            len *= x->d[i];
        else
            inner *= x->d[i];
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < inner; k++) {
            const float *xp = x->p + o * len * inner + k;
            float *yp = out->p + o * len * inner + k;
            double mx = -INFINITY, sum = 0.0;
            for (int64_t i = 0; i < len; i++)
                if (xp[i * inner] > mx) mx = xp[i * inner];
            for (int64_t i = 0; i < len; i++)
                sum += exp((double)xp[i * inner] - mx);
            for (int64_t i = 0; i < len; i++)
                yp[i * inner] = (float)(exp((double)xp[i * inner] - mx) / sum);
        }
}
