/*
 * ref_quant.c — the PaddleSlim fake-quant family with the literal arithmetic
 * of spec §5.1, in double: r = 2^(bits-1)-1; quantize q = round(clip(x,-T,T)*r/T)
 * with round_type 0 = half to even (rint in the default rounding mode) or
 * 1 = half away from zero (round); dequantize x*T/r. A threshold T <= 0 gives 0.
 *
 * Non-goals: training-time scale updates (moving averages, windows).
 */
#include <math.h>

#include "backend/ref/ref.h"

static double range_of(int32_t bits) {
    return ldexp(1.0, bits - 1) - 1.0;
}

static double round_q(double v, int32_t round_type) {
    return round_type == 0 ? nearbyint(v) : round(v);
}

/* round(clip(x,-T,T)*r/T), or 0 when T <= 0. */
static double quantize(double x, double t, double r, int32_t round_type) {
    if (!(t > 0.0)) return 0.0;
    if (x > t) x = t;
    if (x < -t) x = -t;
    return round_q(x * r / t, round_type);
}

static double abs_max(const float *p, int64_t n, int64_t stride) {
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double v = fabs((double)p[i * stride]);
        if (v > m) m = v;
    }
    return m;
}

/* Splits x around axis `ax` into [outer, ch, inner]. */
static void split_axis(const kiln_ref_tensor *x, int64_t ax, int64_t *outer, int64_t *ch,
                       int64_t *inner) {
    *outer = *inner = 1;
    *ch = x->d[ax];
    for (int32_t i = 0; i < x->rank; i++) {
        if (i < ax)
            *outer *= x->d[i];
        else if (i > ax)
            *inner *= x->d[i];
    }
}

static void channel_dequant(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out) {
    const kiln_attrs *a = &n->attrs;
    const kiln_ref_tensor *x = &in[0];
    bool two = n->n_inputs > 2 && in[2].p;
    double r1 = range_of(a->n_quant_bits >= 1 ? a->quant_bits[0] : a->bit_length);
    double r2 = range_of(a->n_quant_bits >= 2   ? a->quant_bits[1]
                         : a->n_quant_bits == 1 ? a->quant_bits[0]
                                                : a->bit_length);
    int64_t ax = two ? 1 : (a->axis < 0 ? a->axis + x->rank : a->axis);
    int64_t outer, ch, inner;
    split_axis(x, ax, &outer, &ch, &inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < ch; c++) {
            double s =
                two ? (double)in[1].p[c] * (double)in[2].p[0] / (r1 * r2) : (double)in[1].p[c] / r1;
            for (int64_t i = 0; i < inner; i++) {
                int64_t k = (o * ch + c) * inner + i;
                out->p[k] = (float)((double)x->p[k] * s);
            }
        }
}

static void channel_qdq(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out) {
    const kiln_attrs *a = &n->attrs;
    const kiln_ref_tensor *x = &in[0];
    double r = range_of(a->bit_length);
    int64_t ax = a->axis < 0 ? a->axis + x->rank : a->axis;
    int64_t outer, ch, inner;
    split_axis(x, ax, &outer, &ch, &inner);
    for (int64_t c = 0; c < ch; c++) {
        double t = 0.0;
        for (int64_t o = 0; o < outer; o++) {
            double m = abs_max(x->p + (o * ch + c) * inner, inner, 1);
            if (m > t) t = m;
        }
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t k = (o * ch + c) * inner + i;
                double q = quantize(x->p[k], t, r, a->round_type);
                out->p[k] = (float)(t > 0.0 ? q * t / r : 0.0);
            }
    }
}

void kiln_ref_quant(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out) {
    const kiln_attrs *a = &n->attrs;
    const kiln_ref_tensor *x = &in[0];
    switch (n->op) {
    case KILN_OP_FAKE_QUANT:
    case KILN_OP_FAKE_QUANT_DEQUANT: {
        double r = range_of(a->bit_length);
        double t = (n->n_inputs > 1 && in[1].p) ? (double)in[1].p[0] : abs_max(x->p, x->n, 1);
        bool deq = n->op == KILN_OP_FAKE_QUANT_DEQUANT;
        for (int64_t i = 0; i < x->n; i++) {
            double q = quantize(x->p[i], t, r, a->round_type);
            out->p[i] = (float)(deq && t > 0.0 ? q * t / r : q);
        }
        break;
    }
    case KILN_OP_FAKE_DEQUANT: {
        double s = (double)in[1].p[0] / (double)a->max_range;
        for (int64_t i = 0; i < x->n; i++)
            out->p[i] = (float)((double)x->p[i] * s);
        break;
    }
    case KILN_OP_FAKE_CHANNEL_DEQUANT: channel_dequant(n, in, out); break;
    case KILN_OP_FAKE_CHANNEL_QUANT_DEQUANT: channel_qdq(n, in, out); break;
    default: break;
    }
}
