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
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <string.h>

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

/* rint for |v| <= 2^51 in the default rounding mode (to nearest, ties to
 * even), without a libm call so the loop vectorizes; v is clamped first. */
static inline double rint_small(double v) {
    const double magic = 6755399441055744.0; /* 1.5 * 2^52 */
    return (v + magic) - magic;
}

/* One requantized value, exactly as the ref backend: its float tensor holds
 * (float)(q * dscale); the next node rounds that times qscale. */
static double requant_one(const cpu_own *o, int32_t qi) {
    float f = (float)((double)qi * o->dscale);
    return clamp_q(rint((double)f * o->qscale), o->out_u8 ? 0.0 : -127.0);
}

void cpu_own_requant_init(cpu_own *o) {
    for (int b = 0; b < 256; b++) {
        int32_t qi = o->in_u8 ? b : (int32_t)(int8_t)(uint8_t)b;
        double v = requant_one(o, qi);
        o->lut[b] = o->out_u8 ? (uint8_t)v : (uint8_t)(int8_t)v;
    }
}

/* quantize: y = clamp(rint(x * qscale)) from f32; requantize: a byte table */
static void quant(const cpu_step *s) {
    const cpu_own *o = &s->o;
    int64_t n = o->n;
    if (o->kind == CPU_OWN_REQUANT) {
        const uint8_t *x = (const uint8_t *)(const void *)s->ptr[0];
        uint8_t *y = (uint8_t *)(void *)s->ptr[1];
        for (int64_t i = 0; i < n; i++)
            y[i] = o->lut[x[i]];
        return;
    }
    double q = o->qscale, lo = o->out_u8 ? 0.0 : -127.0;
    const float *x = (const float *)(const void *)s->ptr[0];
    uint8_t *y = (uint8_t *)(void *)s->ptr[1]; /* s8 or u8: the same bytes */
    int64_t i = 0;
#if defined(__SSE2__)
    /* the same double arithmetic, 4 at a time: cvtpd2dq rounds to nearest
     * even (the default MXCSR mode), as rint does */
    __m128d vq = _mm_set1_pd(q), vlo = _mm_set1_pd(lo), vhi = _mm_set1_pd(127.0);
    for (; i + 4 <= n; i += 4) {
        __m128 f = _mm_loadu_ps(x + i);
        __m128d a = _mm_mul_pd(_mm_cvtps_pd(f), vq);
        __m128d b = _mm_mul_pd(_mm_cvtps_pd(_mm_movehl_ps(f, f)), vq);
        a = _mm_min_pd(_mm_max_pd(a, vlo), vhi);
        b = _mm_min_pd(_mm_max_pd(b, vlo), vhi);
        __m128i v = _mm_unpacklo_epi64(_mm_cvtpd_epi32(a), _mm_cvtpd_epi32(b));
        v = _mm_packs_epi32(v, v);
        v = _mm_packs_epi16(v, v); /* values are in [-127, 127]: no saturation */
        int32_t w = _mm_cvtsi128_si32(v);
        memcpy(y + i, &w, 4);
    }
#endif
    for (; i < n; i++)
        y[i] = (uint8_t)(int32_t)rint_small(clamp_q((double)x[i] * q, lo));
}

void cpu_own_run(const cpu_step *s) {
    switch (s->o.kind) {
    case CPU_OWN_BCAST_SUM: bcast_sum(s); break;
    case CPU_OWN_AVG_POOL: avg_pool(s); break;
    case CPU_OWN_QUANT:
    case CPU_OWN_REQUANT: quant(s); break;
    }
}
