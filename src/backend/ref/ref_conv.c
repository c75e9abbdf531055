/*
 * ref_conv.c — reference 2-D convolution, NCHW, grouped, strided, dilated,
 * explicit or auto padding, Y = act(conv(X,W) + B + R) with the optional bias,
 * fused residual R and fused activation: a direct 7-deep loop in double.
 *
 * Non-goals: im2col, blocking, any speed.
 */
#include "backend/ref/ref.h"

void kiln_ref_conv(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out) {
    const kiln_attrs *a = &n->attrs;
    const kiln_ref_tensor *x = &in[0], *w = &in[1], *b = &in[2], *r = &in[3];
    int64_t N = x->d[0], C = x->d[1], H = x->d[2], W = x->d[3];
    int64_t M = w->d[0], CG = w->d[1], KH = w->d[2], KW = w->d[3];
    int64_t OH = out->d[2], OW = out->d[3];
    int64_t G = a->group, MG = M / G;
    int64_t end;
    int64_t pt = kiln_ref_pad_begin(a, 0, H, KH, &end);
    int64_t pl = kiln_ref_pad_begin(a, 1, W, KW, &end);
    int64_t sh = a->strides[0], sw = a->strides[1], dh = a->dilations[0], dw = a->dilations[1];
    (void)C;
    for (int64_t nn = 0; nn < N; nn++)
        for (int64_t m = 0; m < M; m++) {
            int64_t g = m / MG;
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    double acc = b->p ? (double)b->p[m] : 0.0;
                    for (int64_t cg = 0; cg < CG; cg++) {
                        int64_t c = g * CG + cg;
                        for (int64_t kh = 0; kh < KH; kh++) {
                            int64_t ih = oh * sh - pt + kh * dh;
                            if (ih < 0 || ih >= H) continue;
                            for (int64_t kw = 0; kw < KW; kw++) {
                                int64_t iw = ow * sw - pl + kw * dw;
                                if (iw < 0 || iw >= W) continue;
                                double xv = x->p[((nn * C + c) * H + ih) * W + iw];
                                double wv = w->p[((m * CG + cg) * KH + kh) * KW + kw];
                                acc += xv * wv;
                            }
                        }
                    }
                    int64_t yi = ((nn * M + m) * OH + oh) * OW + ow;
                    if (r->p) acc += r->p[yi]; /* fused residual, same shape as Y */
                    out->p[yi] = (float)kiln_ref_act(a, acc);
                }
        }
}
