/*
 * ref_int8.c — the literal INT8 arithmetic of an INT8 node, the oracle for
 * every INT8 backend (docs/INT8.md):
 *   q(x, T)   = clamp(rint(x * 127 / T), -127, 127)     (round half to even)
 *   deq(q, T) = q * T / 127
 * conv / gemm: integer products of q(x, T_x) and q(w, T_w[c]) summed in
 * int64; the epilogue is defined in float32, in this exact order, so that
 * every backend can reproduce it bit for bit (oneDNN's int8 order):
 *   k   = alpha * (T_x/127) * (T_w[c]/127)                per channel, in double
 *   osc = (float)(k / (T_y/127)),  bq = (float)(beta * bias[c] / k)
 *         (k == 0, all-zero weights: osc = (float)(127/T_y), bq = (float)(beta * bias))
 *   a   = ((float)acc + bq) * osc                            float
 *   a   = fmaf((float)q_R, (float)(T_R / T_y), a)            with a residual
 *   q_y = rint(clamp(a, act bounds in units of T_y/127, within [-127, 127]))
 * and the output holds q_y * T_y / 127.
 * pools / add: the float kernel on deq(q(x)) inputs, output stored as
 * deq(q(y, T_y)). Tensors between INT8 nodes therefore hold exactly the
 * values an int8 tensor represents.
 *
 * Non-goals: speed; asymmetric or u8-scaled quantization.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/ref/ref.h"
#include "core/status.h"

static inline int32_t q8(double x, double inv_scale) {
    double v = rint(x * inv_scale);
    if (v > 127) v = 127;
    if (v < -127) v = -127;
    return (int32_t)v;
}

void kiln_ref_fake_quant(const float *x, float *y, int64_t n, float t) {
    if (t <= 0) {
        for (int64_t i = 0; i < n; i++)
            y[i] = 0;
        return;
    }
    double inv = 127.0 / t, s = t / 127.0;
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)(q8(x[i], inv) * s);
}

kiln_status kiln_ref_int8_prepare(const kiln_graph *g, const kiln_node *n, kiln_ref_int8 *w) {
    memset(w, 0, sizeof *w);
    if (n->op != KILN_OP_CONV && n->op != KILN_OP_GEMM) return KILN_OK;
    const kiln_value *wv = &g->values[n->inputs[1]];
    const float *d = (const float *)wv->data;
    int64_t total = kiln_numel(wv->rank, wv->dims);
    int32_t ch = wv->quant.n_channels;
    if (!d || ch <= 0)
        return kiln_error(KILN_ERR_INTERNAL, "ref int8: node '%s' has no weight thresholds",
                          n->name);
    w->qw = malloc((size_t)total);
    w->scale = malloc(sizeof(double) * (size_t)ch);
    if (!w->qw || !w->scale) return kiln_error(KILN_ERR_NO_MEMORY, "ref int8: out of memory");
    for (int32_t c = 0; c < ch; c++) {
        float t = wv->quant.channel_thresholds[c];
        w->scale[c] = t > 0 ? t / 127.0 : 0.0;
    }
    for (int64_t i = 0; i < total; i++) {
        int64_t c;
        if (n->op == KILN_OP_CONV)
            c = i / (total / ch);
        else
            c = n->attrs.trans_b ? i / wv->dims[1] : i % wv->dims[1];
        float t = wv->quant.channel_thresholds[c];
        w->qw[i] = (int8_t)(t > 0 ? q8(d[i], 127.0 / t) : 0);
    }
    return KILN_OK;
}

void kiln_ref_int8_free(kiln_ref_int8 *w) {
    free(w->qw);
    free(w->scale);
    memset(w, 0, sizeof *w);
}

static void quantize_all(const kiln_ref_tensor *x, float t, int8_t *q) {
    double inv = t > 0 ? 127.0 / t : 0.0;
    for (int64_t i = 0; i < x->n; i++)
        q[i] = (int8_t)q8(x->p[i], inv);
}

/* Per-channel epilogue constants of the float32 order above. */
typedef struct {
    float osc, bq;
} epi;

static epi epilogue(double alpha, double sx, double sw, double sy, double bias) {
    epi e;
    double k = alpha * sx * sw;
    if (k != 0.0) {
        e.osc = (float)(k / sy);
        e.bq = (float)(bias / k);
    } else {
        e.osc = (float)(1.0 / sy);
        e.bq = (float)bias;
    }
    return e;
}

/* Activation bounds in output quantization units, within [-127, 127]. */
static void act_bounds(const kiln_attrs *a, double sy, float *lo, float *hi) {
    *lo = -127.0f;
    *hi = 127.0f;
    if (a->act == KILN_ACT_RELU) {
        *lo = 0.0f;
    } else if (a->act == KILN_ACT_CLIP) {
        double l = a->clip_min / sy, h = a->clip_max / sy;
        if (l > *lo) *lo = (float)l;
        if (h < *hi) *hi = (float)h;
    }
}

static float requant(float a, float lo, float hi, double sy) {
    if (a < lo) a = lo;
    if (a > hi) a = hi;
    return (float)(rintf(a) * sy);
}

static void conv_int8(const kiln_node *n, const kiln_ref_tensor *in, const int8_t *qx, double sx,
                      const kiln_ref_int8 *w, const int8_t *qr, float r_scale, double sy,
                      kiln_ref_tensor *out) {
    const kiln_attrs *a = &n->attrs;
    const kiln_ref_tensor *x = &in[0], *wt = &in[1], *b = &in[2];
    int64_t N = x->d[0], C = x->d[1], H = x->d[2], W = x->d[3];
    int64_t M = wt->d[0], CG = wt->d[1], KH = wt->d[2], KW = wt->d[3];
    int64_t OH = out->d[2], OW = out->d[3], MG = M / a->group, end;
    int64_t pt = kiln_ref_pad_begin(a, 0, H, KH, &end), pl = kiln_ref_pad_begin(a, 1, W, KW, &end);
    float lo, hi;
    act_bounds(a, sy, &lo, &hi);
    for (int64_t nn = 0; nn < N; nn++)
        for (int64_t m = 0; m < M; m++) {
            epi e = epilogue(1.0, sx, w->scale[m], sy, b->p ? b->p[m] : 0.0);
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    int64_t acc = 0;
                    for (int64_t cg = 0; cg < CG; cg++) {
                        int64_t c = (m / MG) * CG + cg;
                        for (int64_t kh = 0; kh < KH; kh++) {
                            int64_t ih = oh * a->strides[0] - pt + kh * a->dilations[0];
                            if (ih < 0 || ih >= H) continue;
                            for (int64_t kw = 0; kw < KW; kw++) {
                                int64_t iw = ow * a->strides[1] - pl + kw * a->dilations[1];
                                if (iw < 0 || iw >= W) continue;
                                acc += (int64_t)qx[((nn * C + c) * H + ih) * W + iw] *
                                       w->qw[((m * CG + cg) * KH + kh) * KW + kw];
                            }
                        }
                    }
                    int64_t yi = ((nn * M + m) * OH + oh) * OW + ow;
                    float v = ((float)acc + e.bq) * e.osc;
                    if (qr) v = fmaf((float)qr[yi], r_scale, v);
                    out->p[yi] = requant(v, lo, hi, sy);
                }
        }
}

static void gemm_int8(const kiln_node *n, const kiln_ref_tensor *in, const int8_t *qa, double sa,
                      const kiln_ref_int8 *w, double sy, kiln_ref_tensor *out) {
    const kiln_attrs *a = &n->attrs;
    const kiln_ref_tensor *A = &in[0], *Cb = &in[2];
    int64_t M = A->d[0], K = A->d[1], N = out->d[1];
    int64_t cn = Cb->p ? Cb->n : 0;
    float lo, hi;
    act_bounds(a, sy, &lo, &hi);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            int64_t acc = 0;
            for (int64_t k = 0; k < K; k++) {
                int8_t bw = a->trans_b ? w->qw[j * K + k] : w->qw[k * N + j];
                acc += (int64_t)qa[i * K + k] * bw;
            }
            /* C is unidirectionally broadcast to [M, N] */
            double c = !cn           ? 0.0
                       : cn == 1     ? Cb->p[0]
                       : cn == N     ? Cb->p[j]
                       : cn == M * N ? Cb->p[i * N + j]
                                     : Cb->p[i];
            epi e = epilogue(a->alpha, sa, w->scale[j], sy, (double)a->beta * c);
            out->p[i * N + j] = requant(((float)acc + e.bq) * e.osc, lo, hi, sy);
        }
}

void kiln_ref_int8_node(const kiln_graph *g, const kiln_node *n, const kiln_ref_tensor *in,
                        kiln_ref_tensor *out, const kiln_ref_int8 *w, kiln_ref_scratch *s) {
    float tx = g->values[n->inputs[0]].quant.threshold;
    float ty = g->values[n->outputs[0]].quant.threshold;
    switch (n->op) {
    case KILN_OP_CONV: {
        quantize_all(&in[0], tx, s->q);
        const int8_t *qr = NULL;
        float r_scale = 0;
        if (n->n_inputs > 3 && in[3].p) {
            float tr = g->values[n->inputs[3]].quant.threshold;
            quantize_all(&in[3], tr, s->q + s->r_offset);
            qr = s->q + s->r_offset;
            r_scale = (float)((double)tr / ty);
        }
        conv_int8(n, in, s->q, tx / 127.0, w, qr, r_scale, ty / 127.0, out);
        return; /* output already quantized */
    }
    case KILN_OP_GEMM:
        quantize_all(&in[0], tx, s->q);
        gemm_int8(n, in, s->q, tx / 127.0, w, ty / 127.0, out);
        return;
    default: { /* pools and add: float kernel on dequantized inputs */
        kiln_ref_tensor qin[KILN_MAX_IO];
        memcpy(qin, in, sizeof qin);
        float *bufs[2] = {s->f0, s->f1};
        for (int32_t k = 0; k < n->n_inputs && k < 2; k++) {
            if (!in[k].p || g->values[n->inputs[k]].data) continue;
            kiln_ref_fake_quant(in[k].p, bufs[k], in[k].n, g->values[n->inputs[k]].quant.threshold);
            qin[k].p = bufs[k];
        }
        kiln_ref_run_float(n, qin, out);
        break;
    }
    }
    kiln_ref_fake_quant(out->p, out->p, out->n, ty);
}
