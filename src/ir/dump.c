/*
 * dump.c — the text form of a graph printed by `kiln inspect`: one line per
 * node with its op, tensors (name + shape) and the attributes that op reads.
 */
#include <string.h>

#include "ir/dump.h"

static void value_str(const kiln_graph *g, int32_t id, char *buf, size_t n) {
    if (id == KILN_NO_VALUE) {
        snprintf(buf, n, "-");
        return;
    }
    const kiln_value *v = &g->values[id];
    char shape[96];
    kiln_shape_str(v->rank, v->dims, shape, sizeof shape);
    snprintf(buf, n, "%s%s%s", v->name, shape, v->data ? "(param)" : "");
}

static void attrs_str(const kiln_node *nd, char *buf, size_t n) {
    const kiln_attrs *a = &nd->attrs;
    static const char *const pad_names[KILN_PAD_COUNT] = {"explicit", "same_upper", "same_lower",
                                                          "valid"};
    buf[0] = '\0';
    switch (nd->op) {
    case KILN_OP_CONV:
        snprintf(buf, n,
                 "strides=%lldx%lld dilations=%lldx%lld pads=%lld,%lld,%lld,%lld group=%lld "
                 "auto_pad=%s",
                 (long long)a->strides[0], (long long)a->strides[1], (long long)a->dilations[0],
                 (long long)a->dilations[1], (long long)a->pads[0], (long long)a->pads[1],
                 (long long)a->pads[2], (long long)a->pads[3], (long long)a->group,
                 pad_names[a->auto_pad]);
        break;
    case KILN_OP_MAX_POOL:
    case KILN_OP_AVG_POOL:
        snprintf(buf, n,
                 "kernel=%lldx%lld strides=%lldx%lld pads=%lld,%lld,%lld,%lld ceil_mode=%d "
                 "count_include_pad=%d auto_pad=%s",
                 (long long)a->kernel[0], (long long)a->kernel[1], (long long)a->strides[0],
                 (long long)a->strides[1], (long long)a->pads[0], (long long)a->pads[1],
                 (long long)a->pads[2], (long long)a->pads[3], a->ceil_mode, a->count_include_pad,
                 pad_names[a->auto_pad]);
        break;
    case KILN_OP_BATCH_NORM: snprintf(buf, n, "epsilon=%g", a->epsilon); break;
    case KILN_OP_CLIP: snprintf(buf, n, "min=%g max=%g", a->clip_min, a->clip_max); break;
    case KILN_OP_ADD: snprintf(buf, n, "axis=%lld", (long long)a->axis); break;
    case KILN_OP_MATMUL:
    case KILN_OP_GEMM:
        snprintf(buf, n, "trans_a=%d trans_b=%d alpha=%g beta=%g", a->trans_a, a->trans_b, a->alpha,
                 a->beta);
        break;
    case KILN_OP_SOFTMAX:
        snprintf(buf, n, "axis=%lld coerce_2d=%d", (long long)a->axis, a->coerce_2d);
        break;
    case KILN_OP_SCALE:
        snprintf(buf, n, "scale=%g bias=%g bias_after_scale=%d", a->alpha, a->beta,
                 a->bias_after_scale);
        break;
    case KILN_OP_FLATTEN:
        snprintf(buf, n, "axis=%lld axis_end=%lld coerce_2d=%d", (long long)a->axis,
                 (long long)a->axis_end, a->coerce_2d);
        break;
    case KILN_OP_RESHAPE: {
        char s[96];
        snprintf(buf, n, "shape=%s", kiln_shape_str(a->shape_rank, a->shape, s, sizeof s));
        break;
    }
    case KILN_OP_FAKE_QUANT:
    case KILN_OP_FAKE_QUANT_DEQUANT:
    case KILN_OP_FAKE_CHANNEL_QUANT_DEQUANT:
        snprintf(buf, n, "bit_length=%d round_type=%d axis=%lld", a->bit_length, a->round_type,
                 (long long)a->axis);
        break;
    case KILN_OP_FAKE_DEQUANT: snprintf(buf, n, "max_range=%g", a->max_range); break;
    case KILN_OP_FAKE_CHANNEL_DEQUANT:
        snprintf(buf, n, "quant_bits=%d,%d axis=%lld", a->quant_bits[0], a->quant_bits[1],
                 (long long)a->axis);
        break;
    default: break;
    }
    if (a->act != KILN_ACT_NONE) {
        size_t l = strlen(buf);
        if (a->act == KILN_ACT_RELU)
            snprintf(buf + l, n - l, "%sact=relu", l ? " " : "");
        else
            snprintf(buf + l, n - l, "%sact=clip(%g,%g)", l ? " " : "", a->clip_min, a->clip_max);
    }
    if (a->out_threshold > 0) {
        size_t l = strlen(buf);
        snprintf(buf + l, n - l, "%sout_threshold=%g", l ? " " : "", a->out_threshold);
    }
}

static bool nd_int8(const kiln_node *n) {
    return n->precision == KILN_PRECISION_INT8;
}

void kiln_graph_dump(const kiln_graph *g, FILE *f, int show_params) {
    char buf[512], attrs[512];
    fprintf(f, "format: %s\n", g->format_version ? g->format_version : "?");
    if (g->source) fprintf(f, "source: %s\n", g->source);
    for (int32_t i = 0; i < g->n_inputs; i++) {
        value_str(g, g->inputs[i], buf, sizeof buf);
        fprintf(f, "input  %d: %s\n", (int)i, buf);
    }
    for (int32_t i = 0; i < g->n_outputs; i++) {
        value_str(g, g->outputs[i], buf, sizeof buf);
        fprintf(f, "output %d: %s\n", (int)i, buf);
    }
    int64_t n_params = 0, param_elems = 0;
    size_t param_bytes = 0;
    for (int32_t i = 0; i < g->n_values; i++)
        if (g->values[i].data) {
            n_params++;
            param_bytes += g->values[i].nbytes;
            param_elems += kiln_numel(g->values[i].rank, g->values[i].dims);
        }
    fprintf(f, "nodes: %d, tensors: %d, parameters: %lld tensors, %lld elements, %.2f MB\n",
            (int)g->n_nodes, (int)g->n_values, (long long)n_params, (long long)param_elems,
            (double)param_bytes / 1e6);
    bool precision_known = false;
    for (int32_t i = 0; i < g->n_nodes; i++)
        precision_known |= nd_int8(&g->nodes[i]) || g->nodes[i].precision_reason != NULL;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const kiln_node *nd = &g->nodes[i];
        if (precision_known)
            fprintf(f, "%4d %-16s %-5s %s%s%s%s\n", (int)i, kiln_op_names[nd->op],
                    nd_int8(nd) ? "INT8" : "FP32", nd->name,
                    !nd_int8(nd) && nd->precision_reason ? "  (" : "",
                    !nd_int8(nd) && nd->precision_reason ? nd->precision_reason : "",
                    !nd_int8(nd) && nd->precision_reason ? ")" : "");
        else
            fprintf(f, "%4d %-16s %s\n", (int)i, kiln_op_names[nd->op], nd->name);
        for (int32_t k = 0; k < nd->n_inputs; k++) {
            value_str(g, nd->inputs[k], buf, sizeof buf);
            fprintf(f, "       in  %s\n", buf);
        }
        for (int32_t k = 0; k < nd->n_outputs; k++) {
            value_str(g, nd->outputs[k], buf, sizeof buf);
            fprintf(f, "       out %s\n", buf);
        }
        attrs_str(nd, attrs, sizeof attrs);
        if (attrs[0]) fprintf(f, "       %s\n", attrs);
    }
    if (show_params) {
        fprintf(f, "parameters:\n");
        for (int32_t i = 0; i < g->n_values; i++) {
            const kiln_value *v = &g->values[i];
            if (!v->data) continue;
            value_str(g, i, buf, sizeof buf);
            fprintf(f, "  %-60s %s %zu bytes\n", buf, kiln_dtype_names[v->dtype], v->nbytes);
        }
    }
}
