/*
 * cpu_own.c — the cpu backend's own kernels for what oneDNN does not fit:
 * an n-ary sum with numpy broadcasting on both sides (+ fused act), and
 * average pooling with count_include_pad whose ceil-mode windows run past the
 * declared end padding (the divisor is the window clipped to the padded
 * extent, as the ref backend defines it); INT8 quantization of an f32 tensor
 * and requantization of an int8 tensor to another threshold, with the ref
 * backend's exact arithmetic (double products, rint, clamp to [-127, 127]).
 * Dense row-major layouts (the int8 ones are elementwise, any layout); they
 * cannot fail (cpu_ops*.c checked everything at create).
 *
 * Non-goals: speed; ResNet50 and MobileNet never reach these.
 */
#include <math.h>

#include "backend/cpu/cpu.h"

static float act(const cpu_own *o, float v) {
    switch (o->act) {
    case KILN_ACT_RELU: return v > 0.0f ? v : 0.0f;
    case KILN_ACT_CLIP: return v < o->clip_min ? o->clip_min : (v > o->clip_max ? o->clip_max : v);
    default: return v;
    }
}

static void bcast_sum(const cpu_step *s) {
    const cpu_own *o = &s->o;
    int64_t total = 1, c[KILN_MAX_RANK] = {0};
    for (int32_t i = 0; i < o->rank; i++)
        total *= o->out[i];
    float *y = s->ptr[o->n_in];
    for (int64_t i = 0; i < total; i++) {
        double acc = 0.0;
        for (int32_t k = 0; k < o->n_in; k++) {
            int64_t off = 0;
            for (int32_t d = 0; d < o->rank; d++)
                off = off * o->in[k][d] + (o->in[k][d] == 1 ? 0 : c[d]);
            acc += s->ptr[k][off];
        }
        y[i] = act(o, (float)acc);
        for (int32_t d = o->rank - 1; d >= 0; d--) { /* next coordinate */
            if (++c[d] < o->out[d]) break;
            c[d] = 0;
        }
    }
}

static void avg_pool(const cpu_step *s) {
    const cpu_own *o = &s->o;
    int64_t NC = o->in[0][0] * o->in[0][1], H = o->in[0][2], W = o->in[0][3];
    int64_t OH = o->out[2], OW = o->out[3];
    int64_t pt = o->pad_begin[0], pl = o->pad_begin[1], pb = o->pad_end[0], pr = o->pad_end[1];
    const float *x = s->ptr[0];
    float *y = s->ptr[1];
    for (int64_t p = 0; p < NC; p++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                double acc = 0.0;
                int64_t inside = 0, padded = 0;
                for (int64_t kh = 0; kh < o->kernel[0]; kh++) {
                    int64_t ih = oh * o->strides[0] - pt + kh * o->dilations[0];
                    for (int64_t kw = 0; kw < o->kernel[1]; kw++) {
                        int64_t iw = ow * o->strides[1] - pl + kw * o->dilations[1];
                        if (ih >= -pt && ih < H + pb && iw >= -pl && iw < W + pr) padded++;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                        acc += x[(p * H + ih) * W + iw];
                        inside++;
                    }
                }
                int64_t div = o->count_include_pad ? padded : inside;
                y[(p * OH + oh) * OW + ow] = (float)(div > 0 ? acc / (double)div : 0.0);
            }
}

static inline double clamp_q(double v, double lo) {
    return v > 127.0 ? 127.0 : (v < lo ? lo : v);
}

/* y = clamp(rint(x * qscale)): x f32 (quantize) or int8 times dscale, rounded
 * to float first as the ref backend's float tensors hold it (requantize). */
static void quant(const cpu_step *s) {
    const cpu_own *o = &s->o;
    double q = o->qscale, lo = o->out_u8 ? 0.0 : -127.0;
    int64_t n = o->n;
    if (o->kind == CPU_OWN_QUANT) {
        const float *x = (const float *)(const void *)s->ptr[0];
        if (o->out_u8) {
            uint8_t *y = (uint8_t *)(void *)s->ptr[1];
            for (int64_t i = 0; i < n; i++)
                y[i] = (uint8_t)clamp_q(rint((double)x[i] * q), lo);
        } else {
            int8_t *y = (int8_t *)(void *)s->ptr[1];
            for (int64_t i = 0; i < n; i++)
                y[i] = (int8_t)clamp_q(rint((double)x[i] * q), lo);
        }
        return;
    }
    const void *x = s->ptr[0];
    void *y = s->ptr[1];
    for (int64_t i = 0; i < n; i++) {
        int32_t qi = o->in_u8 ? ((const uint8_t *)x)[i] : ((const int8_t *)x)[i];
        float f = (float)((double)qi * o->dscale);
        double v = clamp_q(rint((double)f * q), lo);
        if (o->out_u8)
            ((uint8_t *)y)[i] = (uint8_t)v;
        else
            ((int8_t *)y)[i] = (int8_t)v;
    }
}

void cpu_own_run(const cpu_step *s) {
    switch (s->o.kind) {
    case CPU_OWN_BCAST_SUM: bcast_sum(s); break;
    case CPU_OWN_AVG_POOL: avg_pool(s); break;
    case CPU_OWN_QUANT:
    case CPU_OWN_REQUANT: quant(s); break;
    }
}
