/*
 * ref_pool.c — reference max/average pooling (windowed and global), NCHW.
 * Average pooling: count_include_pad = false divides by the in-bounds
 * elements (Paddle exclusive); true divides by the window clipped to the
 * padded extent (ONNX reference: ceil-mode positions past the end padding do
 * not count).
 *
 * Non-goals: adaptive pooling (loaders map it to global pooling), LP pooling.
 */
#include <math.h>

#include "backend/ref/ref.h"

void kiln_ref_pool(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out) {
    const kiln_attrs *a = &n->attrs;
    const kiln_ref_tensor *x = &in[0];
    bool is_max = n->op == KILN_OP_MAX_POOL;
    int64_t NC = x->d[0] * x->d[1], H = x->d[2], W = x->d[3];
    int64_t OH = out->d[2], OW = out->d[3];
    int64_t KH = a->kernel[0], KW = a->kernel[1];
    int64_t pb, pr;
    int64_t pt = kiln_ref_pad_begin(a, 0, H, KH, &pb);
    int64_t pl = kiln_ref_pad_begin(a, 1, W, KW, &pr);
    int64_t sh = a->strides[0], sw = a->strides[1], dh = a->dilations[0], dw = a->dilations[1];
    for (int64_t p = 0; p < NC; p++) {
        const float *xp = x->p + p * H * W;
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                double acc = is_max ? -INFINITY : 0.0;
                int64_t inside = 0, padded = 0;
                for (int64_t kh = 0; kh < KH; kh++) {
                    int64_t ih = oh * sh - pt + kh * dh;
                    for (int64_t kw = 0; kw < KW; kw++) {
                        int64_t iw = ow * sw - pl + kw * dw;
                        if (ih >= -pt && ih < H + pb && iw >= -pl && iw < W + pr) padded++;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                        double v = xp[ih * W + iw];
                        inside++;
                        if (is_max)
                            acc = v > acc ? v : acc;
                        else
                            acc += v;
                    }
                }
                if (!is_max) {
                    int64_t div = a->count_include_pad ? padded : inside;
                    acc = div > 0 ? acc / (double)div : 0.0;
                }
                out->p[(p * OH + oh) * OW + ow] = (float)acc;
            }
    }
}

void kiln_ref_global_pool(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out) {
    const kiln_ref_tensor *x = &in[0];
    bool is_max = n->op == KILN_OP_GLOBAL_MAX_POOL;
    int64_t NC = x->d[0] * x->d[1], S = 1;
    for (int32_t i = 2; i < x->rank; i++)
        S *= x->d[i];
    for (int64_t p = 0; p < NC; p++) {
        double acc = is_max ? -INFINITY : 0.0;
        for (int64_t i = 0; i < S; i++) {
            double v = x->p[p * S + i];
            if (is_max)
                acc = v > acc ? v : acc;
            else
                acc += v;
        }
        out->p[p] = (float)(is_max ? acc : (S > 0 ? acc / (double)S : 0.0));
    }
}
