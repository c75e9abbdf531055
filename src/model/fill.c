/*
 * fill.c — the missing-tensor fill (recipe in fill.h and docs/MODELS.md):
 * one node-by-node forward pass (model/trace.h) that initialises each missing
 * weight just before its node runs and rescales it right after, from the
 * output it produced, so the whole fill costs a single forward pass.
 *
 * Non-goals: reading or writing files (tools/cmd_model.c does that).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "model/fill.h"
#include "model/resnet50.h"
#include "model/trace.h"

void kiln_model_seed_input(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(i % 255) * 0.1f;
}

typedef struct fill_ctx {
    const kiln_fill_options *o;
    kiln_fill_summary *sum;
    unsigned char *missing; /* per value id: to be filled here */
    int32_t pending;        /* value id of the weight filled before the current node, or -1 */
    int32_t min_node, max_node;
} fill_ctx;

static const char *op_name(kiln_op op) {
    return (unsigned)op < KILN_OP_COUNT ? kiln_op_names[op] : "?";
}

static bool is_weight_slot(const kiln_node *n, int32_t k) {
    return k == 1 && (n->op == KILN_OP_CONV || n->op == KILN_OP_GEMM || n->op == KILN_OP_MATMUL);
}

/* The node after `from` that reads value v as input 0 with op `op`, or -1. */
static int32_t consumer(const kiln_graph *g, int32_t from, int32_t v, kiln_op op) {
    for (int32_t j = from + 1; j < g->n_nodes; j++)
        if (g->nodes[j].op == op && g->nodes[j].n_inputs > 0 && g->nodes[j].inputs[0] == v)
            return j;
    return -1;
}

/* f32 constant data of input k of node j with exactly n elements, or NULL. */
static const float *const_input(const kiln_graph *g, int32_t j, int32_t k, int64_t n) {
    const kiln_node *nd = &g->nodes[j];
    if (k >= nd->n_inputs || nd->inputs[k] < 0) return NULL;
    const kiln_value *v = &g->values[nd->inputs[k]];
    if (!v->data || v->dtype != KILN_DT_F32 || v->nbytes != (size_t)n * sizeof(float)) return NULL;
    return v->data;
}

static kiln_status before(void *user, kiln_trace *t, int32_t node) {
    fill_ctx *c = user;
    kiln_graph *g = t->g;
    const kiln_node *n = &g->nodes[node];
    c->pending = -1;
    for (int32_t k = 0; k < n->n_inputs; k++) {
        int32_t v = n->inputs[k];
        if (v < 0 || !c->missing[v] || g->values[v].data) continue;
        kiln_value *w = &g->values[v];
        if (!is_weight_slot(n, k))
            return kiln_error(KILN_ERR_UNSUPPORTED,
                              "fill: '%s' is input %d of node '%s' (%s); only the weights of "
                              "conv / gemm / matmul can be filled",
                              w->name, (int)k, n->name, op_name(n->op));
        int64_t ne = kiln_numel(w->rank, w->dims);
        if (ne <= 0 || w->dtype != KILN_DT_F32) {
            char b[128];
            return kiln_error(
                KILN_ERR_SHAPE, "fill: '%s' has shape %s (%s); need a known f32 shape", w->name,
                kiln_shape_str(w->rank, w->dims, b, sizeof b), kiln_dtype_names[w->dtype]);
        }
        float *p = kiln_graph_alloc(g, (size_t)ne * sizeof(float));
        if (!p) return kiln_error(KILN_ERR_NO_MEMORY, "fill: out of memory for '%s'", w->name);
        kiln_model_randn(p, ne, c->o->seed, w->name, 0.0, 1.0);
        kiln_graph_set_const(g, v, p, (size_t)ne * sizeof(float));
        c->pending = v;
    }
    return KILN_OK;
}

/* Rescales a freshly filled conv weight per output channel (see fill.h). */
static kiln_status rescale_conv(fill_ctx *c, kiln_trace *t, int32_t node, int32_t wv) {
    kiln_graph *g = t->g;
    const kiln_node *n = &g->nodes[node];
    int32_t ov = n->outputs[0];
    const kiln_value *os = &t->shapes->values[ov];
    kiln_value *w = &g->values[wv];
    int64_t batch = os->dims[0], m = os->dims[1];
    int64_t hw = kiln_numel(os->rank, os->dims) / (batch * m);
    int32_t bn = consumer(g, node, ov, KILN_OP_BATCH_NORM);
    const float *var = bn >= 0 ? const_input(g, bn, 4, m) : NULL;
    if (!var)
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "fill: conv '%s' (weight '%s'): its output feeds no batch_norm with a "
                          "known variance, so there is no target statistic; for INT8 "
                          "fake-quant programs use the FP32 reference (kiln model fill "
                          "--reference=DIR)",
                          n->name, w->name);
    float eps = g->nodes[bn].attrs.epsilon;
    float *y = t->acts[ov], *p = (float *)(uintptr_t)w->data;
    int64_t per = (int64_t)(w->nbytes / sizeof(float)) / m;
    double smin = 1e300, smax = 0;
    for (int64_t ch = 0; ch < m; ch++) {
        double s1 = 0, s2 = 0;
        for (int64_t b = 0; b < batch; b++)
            for (int64_t i = 0; i < hw; i++) {
                double x = y[(b * m + ch) * hw + i];
                s1 += x;
                s2 += x * x;
            }
        double cnt = (double)(batch * hw), mean = s1 / cnt,
               sd = sqrt(fmax(s2 / cnt - mean * mean, 0));
        double target = sqrt((double)var[ch] + (double)eps);
        double k = sd > 1e-20 ? target / sd : 1.0; /* a dead channel stays as drawn */
        if (k < smin) smin = k;
        if (k > smax) smax = k;
        for (int64_t i = 0; i < per; i++)
            p[ch * per + i] = (float)(p[ch * per + i] * k);
        for (int64_t b = 0; b < batch; b++)
            for (int64_t i = 0; i < hw; i++)
                y[(b * m + ch) * hw + i] = (float)(y[(b * m + ch) * hw + i] * k);
    }
    if (c->o->report)
        fprintf(c->o->report,
                "filled %-26s N(0,1) x per-channel scale [%.4g, %.4g] -> std = sqrt(var+eps) of "
                "'%s'\n",
                w->name, smin, smax, g->nodes[bn].name);
    return KILN_OK;
}

/* Rescales a freshly filled FC weight so x*W has std 1 (bias excluded). */
static kiln_status rescale_fc(fill_ctx *c, kiln_trace *t, int32_t node, int32_t wv) {
    kiln_graph *g = t->g;
    const kiln_node *n = &g->nodes[node];
    int32_t ov = n->outputs[0];
    const kiln_value *os = &t->shapes->values[ov];
    kiln_value *w = &g->values[wv];
    int64_t ne = kiln_numel(os->rank, os->dims), last = os->rank ? os->dims[os->rank - 1] : 1;
    const float *bias = NULL;
    int64_t nb = 0;
    float beta = 0;
    if (n->op == KILN_OP_GEMM && n->n_inputs > 2 && n->inputs[2] >= 0) {
        const kiln_value *bv = &g->values[n->inputs[2]];
        nb = (int64_t)(bv->nbytes / sizeof(float));
        if (!bv->data || (nb != 1 && nb != last && nb != ne))
            return kiln_error(KILN_ERR_UNSUPPORTED,
                              "fill: gemm '%s': bias '%s' has no data or an "
                              "unexpected size",
                              n->name, bv->name);
        bias = bv->data;
        beta = n->attrs.beta;
    }
    float *y = t->acts[ov], *p = (float *)(uintptr_t)w->data;
#define BIAS(i) (bias ? beta * bias[nb == 1 ? 0 : nb == ne ? (i) : (i) % last] : 0.0f)
    double s1 = 0, s2 = 0;
    for (int64_t i = 0; i < ne; i++) {
        double x = y[i] - BIAS(i);
        s1 += x;
        s2 += x * x;
    }
    double mean = s1 / (double)ne, sd = sqrt(fmax(s2 / (double)ne - mean * mean, 0));
    double k = sd > 1e-20 ? 1.0 / sd : 1.0;
    int64_t nw = (int64_t)(w->nbytes / sizeof(float));
    for (int64_t i = 0; i < nw; i++)
        p[i] = (float)(p[i] * k);
    for (int64_t i = 0; i < ne; i++)
        y[i] = (float)((y[i] - BIAS(i)) * k + BIAS(i));
#undef BIAS
    if (c->o->report)
        fprintf(c->o->report, "filled %-26s N(0,1) x %.4g -> logits (before bias) std 1 at '%s'\n",
                w->name, k, n->name);
    return KILN_OK;
}

/* Softmax outputs and unary ops on them (Paddle's trailing scale): their RMS
 * is ~1/sqrt(classes) by construction, so they stay out of the range check. */
static bool is_probability(const kiln_graph *g, int32_t node) {
    for (int depth = 0; depth < 4 && node >= 0; depth++) {
        const kiln_node *n = &g->nodes[node];
        if (n->op == KILN_OP_SOFTMAX) return true;
        if (n->n_inputs != 1 || n->inputs[0] < 0) return false;
        node = g->values[n->inputs[0]].producer;
    }
    return false;
}

static kiln_status measure(fill_ctx *c, kiln_trace *t, int32_t node) {
    const kiln_graph *g = t->g;
    const kiln_node *n = &g->nodes[node];
    int32_t ov = n->outputs[0];
    const kiln_value *os = &t->shapes->values[ov];
    int64_t ne = kiln_numel(os->rank, os->dims), bad = 0;
    const float *y = t->acts[ov];
    if (!y) return KILN_OK;
    double rms = kiln_model_rms(y, ne, &bad);
    kiln_fill_summary *s = c->sum;
    s->n_nonfinite += bad;
    if (!is_probability(g, node)) {
        s->n_layers++;
        if (rms < s->min_rms) s->min_rms = rms, c->min_node = node;
        if (rms > s->max_rms) s->max_rms = rms, c->max_node = node;
    }
    if (g->n_outputs > 0 && ov == g->outputs[0]) {
        int64_t per = os->rank ? ne / (os->dims[0] > 0 ? os->dims[0] : 1) : ne;
        s->top1 = 0;
        for (int64_t i = 1; i < per; i++)
            if (y[i] > y[s->top1]) s->top1 = (int32_t)i;
        s->top1_value = y[s->top1];
    }
    if (c->o->report && c->o->verbose) {
        char b[96];
        fprintf(c->o->report, "  %4d  %-44s %-15s %-18s RMS %-10.4g%s\n", (int)node, n->name,
                op_name(n->op), kiln_shape_str(os->rank, os->dims, b, sizeof b), rms,
                bad ? "  NON-FINITE" : "");
    }
    return KILN_OK;
}

static kiln_status after(void *user, kiln_trace *t, int32_t node) {
    fill_ctx *c = user;
    const kiln_node *n = &t->g->nodes[node];
    if (c->pending >= 0) {
        KILN_TRY(n->op == KILN_OP_CONV ? rescale_conv(c, t, node, c->pending)
                                       : rescale_fc(c, t, node, c->pending));
        c->sum->n_filled++;
        c->pending = -1;
    }
    return measure(c, t, node);
}

static void summary_init(kiln_fill_summary *s) {
    memset(s, 0, sizeof *s);
    s->min_rms = 1e300;
    s->top1 = -1;
}

static void print_summary(const fill_ctx *c, const kiln_graph *g) {
    const kiln_fill_summary *s = c->sum;
    FILE *f = c->o->report;
    if (!f) return;
    fprintf(f,
            "summary: %d tensors filled (seed %llu); %d layer outputs on the seed input "
            "(i %% 255 * 0.1, batch 1): RMS min %.4g ('%s'), max %.4g ('%s'); %lld non-finite",
            (int)s->n_filled, (unsigned long long)c->o->seed, (int)s->n_layers, s->min_rms,
            c->min_node >= 0 ? g->nodes[c->min_node].name : "-", s->max_rms,
            c->max_node >= 0 ? g->nodes[c->max_node].name : "-", (long long)s->n_nonfinite);
    if (s->n_clipped) fprintf(f, "; %lld weights clipped to [-127,127]", (long long)s->n_clipped);
    if (s->top1 >= 0) fprintf(f, "; top-1 class %d (%.4g)", (int)s->top1, s->top1_value);
    fprintf(f, "\n");
}

/* Marks missing[] in a per-value table; fails on unknown names or present data. */
static kiln_status mark_missing(const kiln_graph *g, const char *const *missing, int32_t n,
                                unsigned char **out) {
    unsigned char *m = calloc((size_t)g->n_values + 1, 1);
    if (!m) return kiln_error(KILN_ERR_NO_MEMORY, "fill: out of memory");
    for (int32_t i = 0; i < n; i++) {
        int32_t v = kiln_graph_find_value(g, missing[i]);
        if (v < 0 || g->values[v].data) {
            free(m);
            return kiln_error(v < 0 ? KILN_ERR_NOT_FOUND : KILN_ERR_INVALID_ARGUMENT,
                              "fill: '%s' %s", missing[i],
                              v < 0 ? "is not a tensor of the model" : "already has data");
        }
        m[v] = 1;
    }
    *out = m;
    return KILN_OK;
}

static kiln_status check_all_filled(const kiln_graph *g, const char *const *missing, int32_t n) {
    for (int32_t i = 0; i < n; i++)
        if (!g->values[kiln_graph_find_value(g, missing[i])].data)
            return kiln_error(KILN_ERR_UNSUPPORTED,
                              "fill: '%s' is read by no node that ran, so it cannot be filled "
                              "from data",
                              missing[i]);
    return KILN_OK;
}

static kiln_status trace_seed(kiln_graph *g, fill_ctx *c, kiln_trace_fn bf) {
    if (g->n_inputs < 1)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "fill: the model has no input");
    const kiln_value *in = &g->values[g->inputs[0]];
    int64_t n = 1;
    for (int32_t i = 1; i < in->rank; i++) {
        if (in->dims[i] <= 0 || n > (INT64_C(1) << 40) / in->dims[i])
            return kiln_error(KILN_ERR_SHAPE, "fill: input '%s' needs known dims", in->name);
        n *= in->dims[i];
    }
    float *x = malloc((size_t)n * sizeof *x);
    if (!x) return kiln_error(KILN_ERR_NO_MEMORY, "fill: out of memory");
    kiln_model_seed_input(x, n);
    c->min_node = c->max_node = -1;
    if (c->o->report && c->o->verbose)
        fprintf(c->o->report, "  %4s  %-44s %-15s %-18s %s\n", "node", "output of", "op", "shape",
                "RMS on the seed input");
    kiln_status s = kiln_model_trace(g, x, 1, bf, after, c);
    free(x);
    return s;
}

kiln_status kiln_model_fill(kiln_graph *g, const char *const *missing, int32_t n_missing,
                            const kiln_fill_options *o, kiln_fill_summary *sum) {
    kiln_fill_summary local;
    if (!sum) sum = &local;
    summary_init(sum);
    fill_ctx c = {o, sum, NULL, -1, -1, -1};
    KILN_TRY(mark_missing(g, missing, n_missing, &c.missing));
    kiln_status s = trace_seed(g, &c, before);
    free(c.missing);
    KILN_TRY(s);
    KILN_TRY(check_all_filled(g, missing, n_missing));
    print_summary(&c, g);
    return KILN_OK;
}

/* The node of g that reads value v as its input 1 (a weight), or -1. */
static int32_t weight_user(const kiln_graph *g, int32_t v) {
    for (int32_t j = 0; j < g->n_nodes; j++)
        if (g->nodes[j].n_inputs > 1 && g->nodes[j].inputs[1] == v) return j;
    return -1;
}

static kiln_status quantize_one(kiln_graph *g, const kiln_graph *ref, const char *name,
                                const kiln_fill_options *o, kiln_fill_summary *sum) {
    int32_t v = kiln_graph_find_value(g, name), rv = kiln_graph_find_value(ref, name);
    kiln_value *w = &g->values[v];
    int32_t node = weight_user(g, v);
    if (node < 0 || (g->nodes[node].op != KILN_OP_CONV && g->nodes[node].op != KILN_OP_MATMUL &&
                     g->nodes[node].op != KILN_OP_GEMM))
        return kiln_error(KILN_ERR_UNSUPPORTED, "fill: '%s' is not the weight of a conv or FC",
                          name);
    int32_t dq = consumer(g, node, g->nodes[node].outputs[0], KILN_OP_FAKE_DEQUANT);
    if (dq < 0 || !(g->nodes[dq].attrs.max_range > 0))
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "fill: the output of '%s' feeds no fake_dequantize_max_abs with a "
                          "max_range, so the per-layer weight scale is unknown",
                          g->nodes[node].name);
    int64_t ne = kiln_numel(w->rank, w->dims);
    size_t nbytes = ne > 0 ? (size_t)ne * sizeof(float) : 0;
    if (rv < 0 || !ref->values[rv].data || ref->values[rv].nbytes != nbytes || nbytes == 0 ||
        w->dtype != KILN_DT_F32)
        return kiln_error(KILN_ERR_NOT_FOUND,
                          "fill: the FP32 reference has no f32 tensor '%s' of %zu bytes", name,
                          nbytes);
    int64_t m = g->nodes[node].op == KILN_OP_CONV ? w->dims[0] : 1;
    const float *gamma = NULL, *var = NULL;
    float eps = 0;
    if (g->nodes[node].op == KILN_OP_CONV) {
        int32_t rn = weight_user(ref, rv);
        int32_t bn =
            rn >= 0 ? consumer(ref, rn, ref->nodes[rn].outputs[0], KILN_OP_BATCH_NORM) : -1;
        gamma = bn >= 0 ? const_input(ref, bn, 1, m) : NULL;
        var = bn >= 0 ? const_input(ref, bn, 4, m) : NULL;
        if (!gamma || !var)
            return kiln_error(KILN_ERR_NOT_FOUND,
                              "fill: in the FP32 reference, conv weight '%s' feeds no "
                              "batch_norm with known scale/variance to fold",
                              name);
        eps = ref->nodes[bn].attrs.epsilon;
    }
    float *p = kiln_graph_alloc(g, nbytes);
    if (!p) return kiln_error(KILN_ERR_NO_MEMORY, "fill: out of memory for '%s'", name);
    const float *src = ref->values[rv].data;
    double q = (double)g->nodes[dq].attrs.max_range / 127.0, wmax = 0;
    int64_t per = ne / m, clipped = 0;
    for (int64_t i = 0; i < ne; i++) {
        double f = src[i];
        if (gamma) f *= gamma[i / per] / sqrt((double)var[i / per] + eps);
        wmax = fmax(wmax, fabs(f));
        double r = round(f * q);
        if (r > 127 || r < -127) clipped++, r = r > 0 ? 127 : -127;
        p[i] = (float)r;
    }
    kiln_graph_set_const(g, v, p, nbytes);
    sum->n_filled++;
    sum->n_clipped += clipped;
    if (o->report)
        fprintf(o->report,
                "filled %-26s round(FP32 fill%s x %.6g), program weight max %.4g, filled max "
                "%.4g, %lld clipped\n",
                name, gamma ? " with BN folded" : "", q, 127.0 / q, wmax, (long long)clipped);
    return KILN_OK;
}

kiln_status kiln_model_fill_from_fp32(kiln_graph *g, const char *const *missing, int32_t n_missing,
                                      const kiln_graph *fp32, const kiln_fill_options *o,
                                      kiln_fill_summary *sum) {
    kiln_fill_summary local;
    if (!sum) sum = &local;
    summary_init(sum);
    fill_ctx c = {o, sum, NULL, -1, -1, -1};
    KILN_TRY(mark_missing(g, missing, n_missing, &c.missing));
    kiln_status s = KILN_OK;
    for (int32_t i = 0; i < n_missing && s == KILN_OK; i++)
        s = quantize_one(g, fp32, missing[i], o, sum);
    free(c.missing);
    c.missing = NULL;
    KILN_TRY(s);
    KILN_TRY(trace_seed(g, &c, NULL)); /* nothing left to fill: measure only */
    print_summary(&c, g);
    return KILN_OK;
}
