/*
 * test_paddle_program.c — ProgramDesc parsing of the five real fixture
 * programs (op counts per type as documented in fixtures/README.md), the
 * serializer (parse -> serialize -> parse gives the same structure; a second
 * serialization is byte-identical), lookup helpers and the sorted param order.
 */
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "load/paddle_program.h"
#include "test_util.h"

typedef struct count {
    const char *type;
    int n;
} count;

static int op_count(const kiln_paddle_program *p, const char *type) {
    int n = 0;
    for (int32_t i = 0; i < p->blocks[0].n_ops; i++)
        if (strcmp(p->blocks[0].ops[i].type, type) == 0) n++;
    return n;
}

static kiln_paddle_program *parse_file(const char *rel, kiln_mapping *map) {
    char path[4096];
    snprintf(path, sizeof path, "%s/paddle/%s", kt_fixtures(), rel);
    kiln_paddle_program *p = NULL;
    if (kiln_map_file(path, map) != KILN_OK) {
        KT_CHECK(0, "cannot map %s: %s", path, kiln_last_error());
        return NULL;
    }
    KT_OK(kiln_paddle_program_parse(map->data, map->size, path, &p));
    return p;
}

static void check_counts(const char *rel, int total, const count *c, int nc) {
    kiln_mapping map;
    kiln_paddle_program *p = parse_file(rel, &map);
    if (!p) return;
    KT_CHECK(p->n_blocks >= 1, "%s: %d blocks", rel, (int)p->n_blocks);
    KT_CHECK(p->blocks[0].n_ops == total, "%s: %d ops, expected %d", rel, (int)p->blocks[0].n_ops,
             total);
    for (int i = 0; i < nc; i++)
        KT_CHECK(op_count(p, c[i].type) == c[i].n, "%s: %s x%d, expected %d", rel, c[i].type,
                 op_count(p, c[i].type), c[i].n);
    kiln_paddle_program_destroy(p);
    kiln_unmap(&map);
}

static int same_attr(const kiln_paddle_attr *a, const kiln_paddle_attr *b) {
    if (strcmp(a->name, b->name) || a->type != b->type || a->has != b->has) return 0;
    if (a->i != b->i || a->b != b->b || a->l != b->l || a->block_idx != b->block_idx) return 0;
    if (memcmp(&a->f, &b->f, 4) != 0) return 0;
    if ((a->has & KILN_PD_HAS_S) && (a->s_len != b->s_len || memcmp(a->s, b->s, a->s_len)))
        return 0;
    if (a->n_ints != b->n_ints || a->n_floats != b->n_floats || a->n_strings != b->n_strings ||
        a->n_bools != b->n_bools || a->n_longs != b->n_longs)
        return 0;
    for (int32_t i = 0; i < a->n_ints; i++)
        if (a->ints[i] != b->ints[i]) return 0;
    for (int32_t i = 0; i < a->n_longs; i++)
        if (a->longs[i] != b->longs[i]) return 0;
    if (a->n_floats && memcmp(a->floats, b->floats, (size_t)a->n_floats * 4)) return 0;
    for (int32_t i = 0; i < a->n_strings; i++)
        if (strcmp(a->strings[i], b->strings[i])) return 0;
    for (int32_t i = 0; i < a->n_bools; i++)
        if (a->bools[i] != b->bools[i]) return 0;
    return 1;
}

static int same_slots(const kiln_paddle_slot *a, const kiln_paddle_slot *b, int32_t n) {
    for (int32_t i = 0; i < n; i++) {
        if (strcmp(a[i].parameter, b[i].parameter) || a[i].n_args != b[i].n_args) return 0;
        for (int32_t k = 0; k < a[i].n_args; k++)
            if (strcmp(a[i].args[k], b[i].args[k])) return 0;
    }
    return 1;
}

static int same_program(const kiln_paddle_program *a, const kiln_paddle_program *b) {
    if (a->n_blocks != b->n_blocks || a->version != b->version ||
        a->has_version != b->has_version || a->n_op_versions != b->n_op_versions)
        return 0;
    for (int32_t i = 0; i < a->n_op_versions; i++)
        if (strcmp(a->op_versions[i].op_name, b->op_versions[i].op_name) ||
            a->op_versions[i].version != b->op_versions[i].version)
            return 0;
    for (int32_t bi = 0; bi < a->n_blocks; bi++) {
        const kiln_paddle_block *x = &a->blocks[bi], *y = &b->blocks[bi];
        if (x->idx != y->idx || x->parent_idx != y->parent_idx || x->n_vars != y->n_vars ||
            x->n_ops != y->n_ops)
            return 0;
        for (int32_t i = 0; i < x->n_vars; i++) {
            const kiln_paddle_var *u = &x->vars[i], *v = &y->vars[i];
            if (strcmp(u->name, v->name) || u->kind != v->kind ||
                u->persistable != v->persistable || u->has_tensor != v->has_tensor ||
                u->dtype != v->dtype || u->rank != v->rank || u->lod_level != v->lod_level)
                return 0;
            for (int32_t k = 0; k < u->rank; k++)
                if (u->dims[k] != v->dims[k]) return 0;
        }
        for (int32_t i = 0; i < x->n_ops; i++) {
            const kiln_paddle_op *o = &x->ops[i], *q = &y->ops[i];
            if (strcmp(o->type, q->type) || o->n_inputs != q->n_inputs ||
                o->n_outputs != q->n_outputs || o->n_attrs != q->n_attrs)
                return 0;
            if (!same_slots(o->inputs, q->inputs, o->n_inputs) ||
                !same_slots(o->outputs, q->outputs, o->n_outputs))
                return 0;
            for (int32_t k = 0; k < o->n_attrs; k++)
                if (!same_attr(&o->attrs[k], &q->attrs[k])) return 0;
        }
    }
    return 1;
}

static void check_roundtrip(const char *rel) {
    kiln_mapping map;
    kiln_paddle_program *p = parse_file(rel, &map);
    if (!p) return;
    kiln_pbw w1 = {0}, w2 = {0};
    kiln_paddle_program_serialize(p, &w1);
    KT_CHECK(!w1.failed, "%s: serialize failed", rel);
    kiln_paddle_program *q = NULL;
    KT_OK(kiln_paddle_program_parse(w1.data, w1.size, "reserialized", &q));
    if (q) {
        KT_CHECK(same_program(p, q), "%s: parse(serialize(p)) differs from p", rel);
        kiln_paddle_program_serialize(q, &w2);
        KT_CHECK(w1.size == w2.size && memcmp(w1.data, w2.data, w1.size) == 0,
                 "%s: second serialization differs (%zu vs %zu bytes)", rel, w1.size, w2.size);
    }
    kiln_pbw_free(&w1);
    kiln_pbw_free(&w2);
    kiln_paddle_program_destroy(q);
    kiln_paddle_program_destroy(p);
    kiln_unmap(&map);
}

static void check_lookups(void) {
    kiln_mapping map;
    kiln_paddle_program *p = parse_file("simple_model/model.pdmodel", &map);
    if (!p) return;
    KT_CHECK(p->has_version && p->version == 2002002, "version %lld", (long long)p->version);
    KT_CHECK(p->n_op_versions > 0, "op_version_map parsed");
    const kiln_paddle_block *b = &p->blocks[0];
    const kiln_paddle_op *conv = NULL;
    for (int32_t i = 0; i < b->n_ops; i++)
        if (strcmp(b->ops[i].type, "conv2d") == 0) conv = &b->ops[i];
    KT_CHECK(conv != NULL, "conv2d present");
    if (conv) {
        int64_t v[4];
        KT_CHECK(kiln_paddle_attr_ints(conv, "strides", v, 4) == 2 && v[0] == 2 && v[1] == 2,
                 "strides [2,2]");
        KT_CHECK(kiln_paddle_attr_int(conv, "groups", 0) == 1, "groups 1");
        KT_CHECK(strcmp(kiln_paddle_attr_string(conv, "data_format", ""), "AnyLayout") == 0,
                 "data_format");
        KT_CHECK(kiln_paddle_attr_bool(conv, "is_test", false), "is_test");
        KT_CHECK(kiln_paddle_op_attr(conv, "no_such_attr") == NULL, "absent attr");
        KT_CHECK(kiln_paddle_attr_int(conv, "no_such_attr", 42) == 42, "default");
        KT_CHECK(strcmp(kiln_paddle_op_input1(conv, "Filter"), "conv1_weights") == 0, "Filter");
        KT_CHECK(kiln_paddle_op_input1(conv, "Bias") == NULL, "empty Bias slot");
    }
    const kiln_paddle_var *img = kiln_paddle_block_var(b, "image");
    KT_CHECK(img && img->rank == 4 && img->dims[0] == -1 && img->dims[1] == 3 &&
                 img->dims[3] == 224 && img->dtype == KILN_PD_FP32 && !img->persistable,
             "image VarDesc [-1,3,224,224] FP32");
    const char **names;
    int32_t n;
    KT_OK(kiln_paddle_param_names(p, &names, &n));
    static const char *const want[] = {"conv1_bn_mean", "conv1_bn_offset", "conv1_bn_scale",
                                       "conv1_bn_variance", "conv1_weights"};
    KT_CHECK(n == 5, "5 params, got %d", (int)n);
    for (int32_t i = 0; i < n && i < 5; i++)
        KT_CHECK(strcmp(names[i], want[i]) == 0, "param %d: %s", (int)i, names[i]);
    free(names);
    kiln_paddle_program_destroy(p);
    kiln_unmap(&map);
}

/* Packed repeated fields and unknown fields are accepted. */
static void check_packed(void) {
    kiln_pbw attr = {0}, op = {0}, blk = {0}, prog = {0}, packed = {0}, var = {0}, vt = {0},
             lod = {0}, td = {0};
    kiln_pbw_string(&attr, 1, "strides");
    kiln_pbw_varint(&attr, 2, KILN_PD_ATTR_INTS);
    kiln_pbw_varint_raw(&packed, 3);
    kiln_pbw_varint_raw(&packed, 5);
    kiln_pbw_bytes(&attr, 6, packed.data, packed.size);
    kiln_pbw_varint(&attr, 99, 7); /* unknown field */
    kiln_pbw_string(&op, 3, "conv2d");
    kiln_pbw_message(&op, 4, &attr);
    kiln_pbw_string(&op, 77, "unknown");
    kiln_pbw_int64(&td, 1, KILN_PD_FP32);
    packed.size = 0;
    kiln_pbw_varint_raw(&packed, (uint64_t)-1);
    kiln_pbw_varint_raw(&packed, 8);
    kiln_pbw_bytes(&td, 2, packed.data, packed.size);
    kiln_pbw_message(&lod, 1, &td);
    kiln_pbw_varint(&vt, 1, KILN_PD_LOD_TENSOR);
    kiln_pbw_message(&vt, 3, &lod);
    kiln_pbw_string(&var, 1, "x");
    kiln_pbw_message(&var, 2, &vt);
    kiln_pbw_varint(&blk, 1, 0);
    kiln_pbw_int64(&blk, 2, -1);
    kiln_pbw_message(&blk, 3, &var);
    kiln_pbw_message(&blk, 4, &op);
    kiln_pbw_message(&prog, 1, &blk);
    kiln_paddle_program *p = NULL;
    KT_OK(kiln_paddle_program_parse(prog.data, prog.size, "packed", &p));
    if (p) {
        const kiln_paddle_op *o = &p->blocks[0].ops[0];
        int64_t v[4];
        KT_CHECK(kiln_paddle_attr_ints(o, "strides", v, 4) == 2 && v[0] == 3 && v[1] == 5,
                 "packed ints");
        const kiln_paddle_var *x = &p->blocks[0].vars[0];
        KT_CHECK(x->rank == 2 && x->dims[0] == -1 && x->dims[1] == 8, "packed dims");
        KT_CHECK(p->blocks[0].parent_idx == -1, "parent_idx -1");
    }
    kiln_paddle_program_destroy(p);
    kiln_pbw *all[] = {&attr, &op, &blk, &prog, &packed, &var, &vt, &lod, &td};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        kiln_pbw_free(all[i]);
}

int main(void) {
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/paddle/simple_model/model.pdmodel", kt_fixtures());
    if (!kiln_is_file(probe)) kt_skip("fixtures not found (set KILN_FIXTURES)");

    static const count r50[] = {
        {"conv2d", 53}, {"batch_norm", 53}, {"relu", 49},   {"elementwise_add", 17},
        {"pool2d", 2},  {"mul", 1},         {"softmax", 1}, {"scale", 1},
        {"feed", 1},    {"fetch", 1}};
    check_counts("resnet50_fp32_224/__model__", 179, r50, 10);
    static const count r50q[] = {{"fake_quantize_moving_average_abs_max", 50},
                                 {"fake_dequantize_max_abs", 54},
                                 {"fake_quantize_dequantize_moving_average_abs_max", 84},
                                 {"conv2d", 53},
                                 {"batch_norm", 0}};
    check_counts("resnet50_int8_224_per_layer/__model__", 367, r50q, 5);
    static const count mb[] = {{"conv2d", 14}, {"depthwise_conv2d", 13}, {"batch_norm", 27}};
    check_counts("mobilenet_v1_fp32_224/__model__", 88, mb, 3);
    static const count sm[] = {
        {"feed", 1}, {"conv2d", 1}, {"batch_norm", 1}, {"relu", 1}, {"fetch", 1}};
    check_counts("simple_model/model.pdmodel", 5, sm, 5);
    static const count qat[] = {{"conv2d", 27}, {"matmul", 1}, {"flatten_contiguous_range", 1}};
    check_counts("programs/paddleslim_qat_mobilenet_v1_int8_infer.pdmodel", 34, qat, 3);

    check_roundtrip("simple_model/model.pdmodel");
    check_roundtrip("resnet50_fp32_224/__model__");
    check_roundtrip("resnet50_int8_224_per_layer/__model__");
    check_roundtrip("programs/paddleslim_qat_mobilenet_v1_int8_infer.pdmodel");
    check_lookups();
    check_packed();
    return kt_finish("test_paddle_program");
}
