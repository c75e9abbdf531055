/*
 * paddle_program.c — ProgramDesc parse / serialize / lookup (see
 * paddle_program.h, spec §1). Every message is walked twice: once to count
 * repeated fields (so arrays are sized from the bytes actually present, never
 * from a declared count), once to fill them. All memory lives in one arena.
 * Non-goals: keeping unknown fields, validating op semantics (paddle.c does).
 */
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "load/paddle_program.h"
#include "load/pb_wire.h"

const char *const kiln_pd_attr_type_names[KILN_PD_ATTR_COUNT] = {
    "INT",   "FLOAT", "STRING", "INTS",  "FLOATS",   "STRINGS", "BOOLEAN", "BOOLEANS",
    "BLOCK", "LONG",  "BLOCKS", "LONGS", "FLOAT64S", "VAR",     "VARS",    "FLOAT64",
};

/* ---- arena ----------------------------------------------------------------- */

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    alignas(16) unsigned char data[];
} arena_chunk;

struct kiln_paddle_arena {
    arena_chunk *head;
};

enum { ARENA_CHUNK = 64 * 1024 };

void *kiln_paddle_program_alloc(kiln_paddle_program *p, size_t n) {
    struct kiln_paddle_arena *a = p->arena;
    if (n > SIZE_MAX / 2) return NULL;
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        arena_chunk *c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    void *r = a->head->data + a->head->used;
    a->head->used += n;
    memset(r, 0, n);
    return r;
}

static char *arena_strndup(kiln_paddle_program *p, const uint8_t *s, size_t n) {
    if (n == SIZE_MAX) return NULL;
    char *r = kiln_paddle_program_alloc(p, n + 1);
    if (r && n) memcpy(r, s, n);
    return r;
}

char *kiln_paddle_program_strdup(kiln_paddle_program *p, const char *s) {
    return arena_strndup(p, (const uint8_t *)s, strlen(s));
}

kiln_status kiln_paddle_program_create(kiln_paddle_program **out) {
    kiln_paddle_program *p = calloc(1, sizeof *p);
    if (p) p->arena = calloc(1, sizeof *p->arena);
    if (!p || !p->arena) {
        free(p);
        return kiln_error(KILN_ERR_NO_MEMORY, "out of memory creating a Paddle program");
    }
    *out = p;
    return KILN_OK;
}

void kiln_paddle_program_destroy(kiln_paddle_program *p) {
    if (!p) return;
    if (p->arena) {
        arena_chunk *c = p->arena->head;
        while (c) {
            arena_chunk *n = c->next;
            free(c);
            c = n;
        }
        free(p->arena);
    }
    free(p);
}

/* ---- parse helpers ---------------------------------------------------------- */

typedef struct pctx {
    kiln_paddle_program *prog;
    const char *path;
    char where[160]; /* "block 0, op #12 (conv2d)" for messages */
} pctx;

static kiln_status pb_fail(const pctx *c, const kiln_pb *m) {
    return kiln_error(KILN_ERR_FORMAT,
                      "%s: offset %zu: %s%s%s; the ProgramDesc is corrupt or "
                      "truncated (re-export the model)",
                      c->path, m->error_offset, m->error ? m->error : "malformed protobuf",
                      c->where[0] ? " in " : "", c->where);
}

static kiln_status wire_fail(const pctx *c, const kiln_pb_field *f, const char *msg, int expected) {
    return kiln_error(KILN_ERR_FORMAT,
                      "%s: offset %zu: %s field %u has wire type %d, expected %d%s%s; the "
                      "ProgramDesc is corrupt",
                      c->path, f->offset, msg, (unsigned)f->number, f->wire_type, expected,
                      c->where[0] ? " in " : "", c->where);
}

static kiln_status oom(const pctx *c) {
    return kiln_error(KILN_ERR_NO_MEMORY, "%s: out of memory parsing the ProgramDesc", c->path);
}

#define EXPECT_WIRE(c, f, w, msg)                                                                  \
    do {                                                                                           \
        if ((f)->wire_type != (w)) return wire_fail((c), (f), (msg), (w));                         \
    } while (0)

static kiln_status copy_str(pctx *c, const kiln_pb_field *f, const char *msg, const char **out,
                            size_t *len) {
    EXPECT_WIRE(c, f, KILN_PB_LEN, msg);
    char *s = arena_strndup(c->prog, f->data, f->len);
    if (!s) return oom(c);
    *out = s;
    if (len) *len = f->len;
    return KILN_OK;
}

static void *alloc_array(pctx *c, size_t n, size_t elem) {
    if (n == 0) return NULL;
    if (n > SIZE_MAX / elem) return NULL;
    return kiln_paddle_program_alloc(c->prog, n * elem);
}

/* Counts the elements of one occurrence of a repeated scalar field. */
static int count_cb(void *user, uint64_t bits) {
    (void)bits;
    size_t *n = user;
    if (*n >= (size_t)INT32_MAX) return -1;
    (*n)++;
    return 0;
}

typedef struct store {
    void *arr;
    int32_t n, cap;
    int kind; /* 0 int32, 1 float, 2 bool, 3 int64, 4 double */
} store;

static int store_cb(void *user, uint64_t bits) {
    store *s = user;
    if (s->n >= s->cap) return -1;
    switch (s->kind) {
    case 0: ((int32_t *)s->arr)[s->n] = (int32_t)(uint32_t)bits; break;
    case 1: {
        uint32_t u = (uint32_t)bits;
        memcpy(&((float *)s->arr)[s->n], &u, 4);
        break;
    }
    case 2: ((bool *)s->arr)[s->n] = bits != 0; break;
    case 3: ((int64_t *)s->arr)[s->n] = (int64_t)bits; break;
    default: memcpy(&((double *)s->arr)[s->n], &bits, 8); break;
    }
    s->n++;
    return 0;
}

static kiln_status check_count(pctx *c, size_t n, size_t off, const char *what) {
    if (n >= (size_t)INT32_MAX)
        return kiln_error(KILN_ERR_FORMAT, "%s: offset %zu: too many %s", c->path, off, what);
    return KILN_OK;
}

/* ---- messages -------------------------------------------------------------- */

static kiln_status parse_attr(pctx *c, kiln_pb *parent, const kiln_pb_field *af,
                              kiln_paddle_attr *a) {
    a->offset = af->offset;
    a->type = -1;
    /* field number -> (element wire type, counter index) for repeated scalars */
    enum { R_INTS, R_FLOATS, R_BOOLS, R_BLOCKS, R_LONGS, R_F64S, R_N };
    static const int rep_field[R_N] = {6, 7, 11, 14, 15, 16};
    static const int rep_wire[R_N] = {KILN_PB_VARINT, KILN_PB_FIXED32, KILN_PB_VARINT,
                                      KILN_PB_VARINT, KILN_PB_VARINT,  KILN_PB_FIXED64};
    static const int rep_kind[R_N] = {0, 1, 2, 0, 3, 4};
    static const size_t rep_size[R_N] = {4, 4, sizeof(bool), 4, 8, 8};
    size_t cnt[R_N] = {0}, n_strings = 0, n_vars = 0;
    kiln_pb m = kiln_pb_sub(parent, af);
    kiln_pb_field f;
    int r;
    while ((r = kiln_pb_next(&m, &f)) == 1) {
        for (int k = 0; k < R_N; k++)
            if ((int)f.number == rep_field[k] &&
                kiln_pb_repeated(&m, &f, rep_wire[k], count_cb, &cnt[k]) != 0)
                return pb_fail(c, &m);
        if (f.number == 8) n_strings++;
        if (f.number == 18) n_vars++;
    }
    if (r < 0) return pb_fail(c, &m);
    KILN_TRY(check_count(c, n_strings + n_vars, af->offset, "strings in an attribute"));
    store st[R_N];
    for (int k = 0; k < R_N; k++) {
        st[k].n = 0;
        st[k].cap = (int32_t)cnt[k];
        st[k].kind = rep_kind[k];
        st[k].arr = alloc_array(c, cnt[k], rep_size[k]);
        if (cnt[k] && !st[k].arr) return oom(c);
    }
    a->strings = alloc_array(c, n_strings, sizeof(char *));
    a->vars_name = alloc_array(c, n_vars, sizeof(char *));
    if ((n_strings && !a->strings) || (n_vars && !a->vars_name)) return oom(c);
    bool have_name = false, have_type = false;
    m = kiln_pb_sub(parent, af);
    while ((r = kiln_pb_next(&m, &f)) == 1) {
        switch (f.number) {
        case 1:
            KILN_TRY(copy_str(c, &f, "Attr.name", &a->name, NULL));
            have_name = true;
            break;
        case 2:
            EXPECT_WIRE(c, &f, KILN_PB_VARINT, "Attr.type");
            a->type = kiln_pb_int32(&f);
            have_type = true;
            break;
        case 3:
            EXPECT_WIRE(c, &f, KILN_PB_VARINT, "Attr.i");
            a->i = kiln_pb_int32(&f);
            a->has |= KILN_PD_HAS_I;
            break;
        case 4:
            EXPECT_WIRE(c, &f, KILN_PB_FIXED32, "Attr.f");
            a->f = kiln_pb_float(&f);
            a->has |= KILN_PD_HAS_F;
            break;
        case 5:
            KILN_TRY(copy_str(c, &f, "Attr.s", &a->s, &a->s_len));
            a->has |= KILN_PD_HAS_S;
            break;
        case 8: KILN_TRY(copy_str(c, &f, "Attr.strings", &a->strings[a->n_strings++], NULL)); break;
        case 10:
            EXPECT_WIRE(c, &f, KILN_PB_VARINT, "Attr.b");
            a->b = f.varint != 0;
            a->has |= KILN_PD_HAS_B;
            break;
        case 12:
            EXPECT_WIRE(c, &f, KILN_PB_VARINT, "Attr.block_idx");
            a->block_idx = kiln_pb_int32(&f);
            a->has |= KILN_PD_HAS_BLOCK;
            break;
        case 13:
            EXPECT_WIRE(c, &f, KILN_PB_VARINT, "Attr.l");
            a->l = kiln_pb_int64(&f);
            a->has |= KILN_PD_HAS_L;
            break;
        case 17:
            KILN_TRY(copy_str(c, &f, "Attr.var_name", &a->var_name, NULL));
            a->has |= KILN_PD_HAS_VAR;
            break;
        case 18:
            KILN_TRY(copy_str(c, &f, "Attr.vars_name", &a->vars_name[a->n_vars_name++], NULL));
            break;
        case 19:
            EXPECT_WIRE(c, &f, KILN_PB_FIXED64, "Attr.float64");
            a->f64 = kiln_pb_double(&f);
            a->has |= KILN_PD_HAS_F64;
            break;
        default:
            for (int k = 0; k < R_N; k++)
                if ((int)f.number == rep_field[k] &&
                    kiln_pb_repeated(&m, &f, rep_wire[k], store_cb, &st[k]) != 0)
                    return pb_fail(c, &m);
            break; /* unknown fields are skipped */
        }
    }
    if (r < 0) return pb_fail(c, &m);
    if (!have_name || !have_type)
        return kiln_error(KILN_ERR_FORMAT,
                          "%s: offset %zu: attribute without a %s%s%s; the ProgramDesc is corrupt",
                          c->path, af->offset, have_name ? "type" : "name",
                          c->where[0] ? " in " : "", c->where);
    a->ints = st[R_INTS].arr;
    a->n_ints = st[R_INTS].n;
    a->floats = st[R_FLOATS].arr;
    a->n_floats = st[R_FLOATS].n;
    a->bools = st[R_BOOLS].arr;
    a->n_bools = st[R_BOOLS].n;
    a->blocks_idx = st[R_BLOCKS].arr;
    a->n_blocks_idx = st[R_BLOCKS].n;
    a->longs = st[R_LONGS].arr;
    a->n_longs = st[R_LONGS].n;
    a->float64s = st[R_F64S].arr;
    a->n_float64s = st[R_F64S].n;
    return KILN_OK;
}

static kiln_status parse_slot(pctx *c, kiln_pb *parent, const kiln_pb_field *sf,
                              kiln_paddle_slot *s) {
    size_t n = 0;
    kiln_pb m = kiln_pb_sub(parent, sf);
    kiln_pb_field f;
    int r;
    while ((r = kiln_pb_next(&m, &f)) == 1)
        if (f.number == 2) n++;
    if (r < 0) return pb_fail(c, &m);
    KILN_TRY(check_count(c, n, sf->offset, "arguments"));
    s->args = alloc_array(c, n, sizeof(char *));
    if (n && !s->args) return oom(c);
    m = kiln_pb_sub(parent, sf);
    while ((r = kiln_pb_next(&m, &f)) == 1) {
        if (f.number == 1) KILN_TRY(copy_str(c, &f, "OpDesc.Var.parameter", &s->parameter, NULL));
        if (f.number == 2)
            KILN_TRY(copy_str(c, &f, "OpDesc.Var.arguments", &s->args[s->n_args++], NULL));
    }
    if (r < 0) return pb_fail(c, &m);
    if (!s->parameter)
        return kiln_error(KILN_ERR_FORMAT,
                          "%s: offset %zu: op input/output slot without a name%s%s; the "
                          "ProgramDesc is corrupt",
                          c->path, sf->offset, c->where[0] ? " in " : "", c->where);
    return KILN_OK;
}

static kiln_status parse_op(pctx *c, kiln_pb *parent, const kiln_pb_field *of, kiln_paddle_op *op) {
    size_t n_in = 0, n_out = 0, n_attr = 0;
    op->offset = of->offset;
    kiln_pb m = kiln_pb_sub(parent, of);
    kiln_pb_field f;
    int r;
    while ((r = kiln_pb_next(&m, &f)) == 1) {
        if (f.number == 1) n_in++;
        if (f.number == 2) n_out++;
        if (f.number == 4) n_attr++;
        if (f.number == 3) KILN_TRY(copy_str(c, &f, "OpDesc.type", &op->type, NULL));
    }
    if (r < 0) return pb_fail(c, &m);
    KILN_TRY(check_count(c, n_in + n_out + n_attr, of->offset, "slots or attributes"));
    if (!op->type)
        return kiln_error(KILN_ERR_FORMAT,
                          "%s: offset %zu: op without a type in %s; the ProgramDesc is corrupt",
                          c->path, of->offset, c->where);
    size_t wl = strlen(c->where);
    snprintf(c->where + wl, sizeof c->where - wl, " (%.40s)", op->type);
    op->inputs = alloc_array(c, n_in, sizeof(kiln_paddle_slot));
    op->outputs = alloc_array(c, n_out, sizeof(kiln_paddle_slot));
    op->attrs = alloc_array(c, n_attr, sizeof(kiln_paddle_attr));
    if ((n_in && !op->inputs) || (n_out && !op->outputs) || (n_attr && !op->attrs)) return oom(c);
    m = kiln_pb_sub(parent, of);
    while ((r = kiln_pb_next(&m, &f)) == 1) {
        switch (f.number) {
        case 1:
            EXPECT_WIRE(c, &f, KILN_PB_LEN, "OpDesc.inputs");
            KILN_TRY(parse_slot(c, &m, &f, &op->inputs[op->n_inputs++]));
            break;
        case 2:
            EXPECT_WIRE(c, &f, KILN_PB_LEN, "OpDesc.outputs");
            KILN_TRY(parse_slot(c, &m, &f, &op->outputs[op->n_outputs++]));
            break;
        case 4:
            EXPECT_WIRE(c, &f, KILN_PB_LEN, "OpDesc.attrs");
            KILN_TRY(parse_attr(c, &m, &f, &op->attrs[op->n_attrs++]));
            break;
        case 5:
            EXPECT_WIRE(c, &f, KILN_PB_VARINT, "OpDesc.is_target");
            op->is_target = f.varint != 0;
            break;
        default: break;
        }
    }
    if (r < 0) return pb_fail(c, &m);
    return KILN_OK;
}

static kiln_status parse_tensor_desc(pctx *c, kiln_pb *parent, const kiln_pb_field *tf,
                                     kiln_paddle_var *v) {
    size_t n = 0;
    kiln_pb m = kiln_pb_sub(parent, tf);
    kiln_pb_field f;
    int r;
    while ((r = kiln_pb_next(&m, &f)) == 1)
        if (f.number == 2 && kiln_pb_repeated(&m, &f, KILN_PB_VARINT, count_cb, &n) != 0)
            return pb_fail(c, &m);
    if (r < 0) return pb_fail(c, &m);
    KILN_TRY(check_count(c, n, tf->offset, "dims"));
    store st = {alloc_array(c, n, sizeof(int64_t)), 0, (int32_t)n, 3};
    if (n && !st.arr) return oom(c);
    v->dtype = -1;
    m = kiln_pb_sub(parent, tf);
    while ((r = kiln_pb_next(&m, &f)) == 1) {
        if (f.number == 1) {
            EXPECT_WIRE(c, &f, KILN_PB_VARINT, "TensorDesc.data_type");
            v->dtype = kiln_pb_int32(&f);
        } else if (f.number == 2 && kiln_pb_repeated(&m, &f, KILN_PB_VARINT, store_cb, &st) != 0)
            return pb_fail(c, &m);
    }
    if (r < 0) return pb_fail(c, &m);
    v->dims = st.arr;
    v->rank = st.n;
    v->has_tensor = true;
    return KILN_OK;
}

static kiln_status parse_var_type(pctx *c, kiln_pb *parent, const kiln_pb_field *tf,
                                  kiln_paddle_var *v) {
    kiln_pb m = kiln_pb_sub(parent, tf);
    kiln_pb_field f;
    int r;
    bool have_kind = false;
    while ((r = kiln_pb_next(&m, &f)) == 1) {
        if (f.number == 1) {
            EXPECT_WIRE(c, &f, KILN_PB_VARINT, "VarType.type");
            v->kind = kiln_pb_int32(&f);
            have_kind = true;
        } else if (f.number == 2) { /* selected_rows: a TensorDesc */
            EXPECT_WIRE(c, &f, KILN_PB_LEN, "VarType.selected_rows");
            KILN_TRY(parse_tensor_desc(c, &m, &f, v));
        } else if (f.number == 3) { /* lod_tensor: LoDTensorDesc */
            EXPECT_WIRE(c, &f, KILN_PB_LEN, "VarType.lod_tensor");
            kiln_pb lm = kiln_pb_sub(&m, &f);
            kiln_pb_field g;
            int r2;
            while ((r2 = kiln_pb_next(&lm, &g)) == 1) {
                if (g.number == 1) {
                    EXPECT_WIRE(c, &g, KILN_PB_LEN, "LoDTensorDesc.tensor");
                    KILN_TRY(parse_tensor_desc(c, &lm, &g, v));
                } else if (g.number == 2) {
                    EXPECT_WIRE(c, &g, KILN_PB_VARINT, "LoDTensorDesc.lod_level");
                    v->lod_level = kiln_pb_int32(&g);
                    v->has_lod_level = true;
                }
            }
            if (r2 < 0) return pb_fail(c, &lm);
        }
    }
    if (r < 0) return pb_fail(c, &m);
    if (!have_kind)
        return kiln_error(KILN_ERR_FORMAT,
                          "%s: offset %zu: VarType without a type in %s; the ProgramDesc is "
                          "corrupt",
                          c->path, tf->offset, c->where);
    return KILN_OK;
}

static kiln_status parse_var(pctx *c, kiln_pb *parent, const kiln_pb_field *vf,
                             kiln_paddle_var *v) {
    v->offset = vf->offset;
    v->kind = -1;
    v->dtype = -1;
    kiln_pb m = kiln_pb_sub(parent, vf);
    kiln_pb_field f;
    int r;
    bool have_type = false;
    while ((r = kiln_pb_next(&m, &f)) == 1) {
        switch (f.number) {
        case 1: KILN_TRY(copy_str(c, &f, "VarDesc.name", &v->name, NULL)); break;
        case 2:
            EXPECT_WIRE(c, &f, KILN_PB_LEN, "VarDesc.type");
            KILN_TRY(parse_var_type(c, &m, &f, v));
            have_type = true;
            break;
        case 3:
            EXPECT_WIRE(c, &f, KILN_PB_VARINT, "VarDesc.persistable");
            v->persistable = f.varint != 0;
            break;
        case 4:
            EXPECT_WIRE(c, &f, KILN_PB_VARINT, "VarDesc.need_check_feed");
            v->need_check_feed = f.varint != 0;
            break;
        default: break;
        }
    }
    if (r < 0) return pb_fail(c, &m);
    if (!v->name || !have_type)
        return kiln_error(KILN_ERR_FORMAT,
                          "%s: offset %zu: variable %s%s%s without a %s in %s; the ProgramDesc "
                          "is corrupt",
                          c->path, vf->offset, v->name ? "'" : "", v->name ? v->name : "",
                          v->name ? "'" : "", v->name ? "type" : "name", c->where);
    return KILN_OK;
}

static kiln_status parse_block(pctx *c, kiln_pb *parent, const kiln_pb_field *bf,
                               kiln_paddle_block *b, int32_t index) {
    size_t n_vars = 0, n_ops = 0;
    b->idx = index;
    b->parent_idx = -1;
    b->forward_block_idx = -1;
    kiln_pb m = kiln_pb_sub(parent, bf);
    kiln_pb_field f;
    int r;
    while ((r = kiln_pb_next(&m, &f)) == 1) {
        if (f.number == 3) n_vars++;
        if (f.number == 4) n_ops++;
    }
    snprintf(c->where, sizeof c->where, "block %d", (int)index);
    if (r < 0) return pb_fail(c, &m);
    KILN_TRY(check_count(c, n_vars + n_ops, bf->offset, "variables or ops"));
    b->vars = alloc_array(c, n_vars, sizeof(kiln_paddle_var));
    b->ops = alloc_array(c, n_ops, sizeof(kiln_paddle_op));
    if ((n_vars && !b->vars) || (n_ops && !b->ops)) return oom(c);
    m = kiln_pb_sub(parent, bf);
    while ((r = kiln_pb_next(&m, &f)) == 1) {
        switch (f.number) {
        case 1:
            EXPECT_WIRE(c, &f, KILN_PB_VARINT, "BlockDesc.idx");
            b->idx = kiln_pb_int32(&f);
            break;
        case 2:
            EXPECT_WIRE(c, &f, KILN_PB_VARINT, "BlockDesc.parent_idx");
            b->parent_idx = kiln_pb_int32(&f);
            break;
        case 3:
            EXPECT_WIRE(c, &f, KILN_PB_LEN, "BlockDesc.vars");
            snprintf(c->where, sizeof c->where, "block %d, variable #%d", (int)index,
                     (int)b->n_vars);
            KILN_TRY(parse_var(c, &m, &f, &b->vars[b->n_vars++]));
            break;
        case 4:
            EXPECT_WIRE(c, &f, KILN_PB_LEN, "BlockDesc.ops");
            snprintf(c->where, sizeof c->where, "block %d, op #%d", (int)index, (int)b->n_ops);
            KILN_TRY(parse_op(c, &m, &f, &b->ops[b->n_ops++]));
            break;
        case 5:
            EXPECT_WIRE(c, &f, KILN_PB_VARINT, "BlockDesc.forward_block_idx");
            b->forward_block_idx = kiln_pb_int32(&f);
            b->has_forward_block_idx = true;
            break;
        default: break;
        }
        snprintf(c->where, sizeof c->where, "block %d", (int)index);
    }
    if (r < 0) return pb_fail(c, &m);
    return KILN_OK;
}

/* Pairs in one OpVersionMap occurrence; -1 if malformed. */
static int64_t count_op_versions(const kiln_pb *parent, const kiln_pb_field *mf) {
    int64_t n = 0;
    kiln_pb m = kiln_pb_sub(parent, mf);
    kiln_pb_field f;
    int r;
    while ((r = kiln_pb_next(&m, &f)) == 1)
        if (f.number == 1) n++;
    return r < 0 ? -1 : n;
}

/* Appends the pairs into p->op_versions, sized by the caller over every
 * occurrence of the field (protobuf merges repeated occurrences). */
static kiln_status parse_op_version_map(pctx *c, kiln_pb *parent, const kiln_pb_field *mf,
                                        int32_t cap) {
    kiln_paddle_program *p = c->prog;
    kiln_pb m;
    kiln_pb_field f;
    int r;
    m = kiln_pb_sub(parent, mf);
    while ((r = kiln_pb_next(&m, &f)) == 1) {
        if (f.number != 1) continue;
        EXPECT_WIRE(c, &f, KILN_PB_LEN, "OpVersionMap.pair");
        if (p->n_op_versions >= cap) return oom(c); /* cannot happen: counted before */
        kiln_paddle_op_version *ov = &p->op_versions[p->n_op_versions++];
        ov->op_name = "";
        kiln_pb pm = kiln_pb_sub(&m, &f);
        kiln_pb_field g;
        int r2;
        while ((r2 = kiln_pb_next(&pm, &g)) == 1) {
            if (g.number == 1)
                KILN_TRY(copy_str(c, &g, "OpVersionPair.op_name", &ov->op_name, NULL));
            if (g.number == 2) {
                EXPECT_WIRE(c, &g, KILN_PB_LEN, "OpVersionPair.op_version");
                kiln_pb vm = kiln_pb_sub(&pm, &g);
                kiln_pb_field h;
                int r3;
                while ((r3 = kiln_pb_next(&vm, &h)) == 1)
                    if (h.number == 1 && h.wire_type == KILN_PB_VARINT)
                        ov->version = kiln_pb_int32(&h);
                if (r3 < 0) return pb_fail(c, &vm);
            }
        }
        if (r2 < 0) return pb_fail(c, &pm);
    }
    if (r < 0) return pb_fail(c, &m);
    return KILN_OK;
}

kiln_status kiln_paddle_program_parse(const uint8_t *data, size_t size, const char *path,
                                      kiln_paddle_program **out) {
    static const uint8_t empty[1] = {0};
    *out = NULL;
    if (!data) data = empty; /* an empty (unmapped) file */
    kiln_paddle_program *p = NULL;
    KILN_TRY(kiln_paddle_program_create(&p));
    pctx c;
    c.prog = p;
    c.path = path ? path : "<memory>";
    c.where[0] = '\0';
    kiln_status s = KILN_OK;
    size_t n_blocks = 0;
    kiln_pb m = kiln_pb_init(data, size, 0);
    kiln_pb_field f;
    int r;
    size_t n_ov = 0;
    while ((r = kiln_pb_next(&m, &f)) == 1) {
        if (f.number == 1) n_blocks++;
        if (f.number == 5 && f.wire_type == KILN_PB_LEN) {
            int64_t k = count_op_versions(&m, &f);
            if (k > 0) n_ov += (size_t)k; /* malformed: reported by the second pass */
        }
    }
    if (r < 0) s = pb_fail(&c, &m);
    if (s == KILN_OK) s = check_count(&c, n_blocks + n_ov, 0, "blocks or op versions");
    if (s == KILN_OK && n_ov) {
        p->op_versions = alloc_array(&c, n_ov, sizeof *p->op_versions);
        if (!p->op_versions) s = oom(&c);
    }
    if (s == KILN_OK && n_blocks == 0)
        s = kiln_error(KILN_ERR_FORMAT,
                       "%s: offset 0: the ProgramDesc has no blocks (%zu bytes); this is not a "
                       "Paddle model file, or it is empty",
                       c.path, size);
    if (s == KILN_OK) {
        p->blocks = alloc_array(&c, n_blocks, sizeof(kiln_paddle_block));
        if (!p->blocks) s = oom(&c);
    }
    m = kiln_pb_init(data, size, 0);
    while (s == KILN_OK && (r = kiln_pb_next(&m, &f)) == 1) {
        c.where[0] = '\0';
        if (f.number == 1) {
            if (f.wire_type != KILN_PB_LEN) {
                s = wire_fail(&c, &f, "ProgramDesc.blocks", KILN_PB_LEN);
                break;
            }
            s = parse_block(&c, &m, &f, &p->blocks[p->n_blocks], p->n_blocks);
            p->n_blocks++;
        } else if (f.number == 4) {
            if (f.wire_type != KILN_PB_LEN) {
                s = wire_fail(&c, &f, "ProgramDesc.version", KILN_PB_LEN);
                break;
            }
            kiln_pb vm = kiln_pb_sub(&m, &f);
            kiln_pb_field g;
            int r2;
            p->has_version = true;
            while ((r2 = kiln_pb_next(&vm, &g)) == 1)
                if (g.number == 1 && g.wire_type == KILN_PB_VARINT) p->version = kiln_pb_int64(&g);
            if (r2 < 0) s = pb_fail(&c, &vm);
        } else if (f.number == 5) {
            if (f.wire_type != KILN_PB_LEN) {
                s = wire_fail(&c, &f, "ProgramDesc.op_version_map", KILN_PB_LEN);
                break;
            }
            snprintf(c.where, sizeof c.where, "op_version_map");
            p->has_op_version_map = true;
            s = parse_op_version_map(&c, &m, &f, (int32_t)n_ov);
        }
        /* field 3 (op_compatible_map, 1.x) and unknown fields: skipped */
    }
    if (s == KILN_OK && r < 0) s = pb_fail(&c, &m);
    if (s != KILN_OK) {
        kiln_paddle_program_destroy(p);
        return s;
    }
    *out = p;
    return KILN_OK;
}

/* ---- serialize ------------------------------------------------------------- */

static void ser_attr(const kiln_paddle_attr *a, kiln_pbw *w) {
    kiln_pbw_string(w, 1, a->name ? a->name : "");
    kiln_pbw_int64(w, 2, a->type);
    if (a->has & KILN_PD_HAS_I) kiln_pbw_int64(w, 3, a->i);
    if (a->has & KILN_PD_HAS_F) kiln_pbw_float(w, 4, a->f);
    if (a->has & KILN_PD_HAS_S) kiln_pbw_bytes(w, 5, a->s ? a->s : "", a->s ? a->s_len : 0);
    for (int32_t k = 0; k < a->n_ints; k++)
        kiln_pbw_int64(w, 6, a->ints[k]);
    for (int32_t k = 0; k < a->n_floats; k++)
        kiln_pbw_float(w, 7, a->floats[k]);
    for (int32_t k = 0; k < a->n_strings; k++)
        kiln_pbw_string(w, 8, a->strings[k]);
    if (a->has & KILN_PD_HAS_B) kiln_pbw_varint(w, 10, a->b);
    for (int32_t k = 0; k < a->n_bools; k++)
        kiln_pbw_varint(w, 11, a->bools[k]);
    if (a->has & KILN_PD_HAS_BLOCK) kiln_pbw_int64(w, 12, a->block_idx);
    if (a->has & KILN_PD_HAS_L) kiln_pbw_int64(w, 13, a->l);
    for (int32_t k = 0; k < a->n_blocks_idx; k++)
        kiln_pbw_int64(w, 14, a->blocks_idx[k]);
    for (int32_t k = 0; k < a->n_longs; k++)
        kiln_pbw_int64(w, 15, a->longs[k]);
    for (int32_t k = 0; k < a->n_float64s; k++)
        kiln_pbw_double(w, 16, a->float64s[k]);
    if (a->has & KILN_PD_HAS_VAR) kiln_pbw_string(w, 17, a->var_name ? a->var_name : "");
    for (int32_t k = 0; k < a->n_vars_name; k++)
        kiln_pbw_string(w, 18, a->vars_name[k]);
    if (a->has & KILN_PD_HAS_F64) kiln_pbw_double(w, 19, a->f64);
}

static void ser_slot(const kiln_paddle_slot *s, kiln_pbw *w) {
    kiln_pbw_string(w, 1, s->parameter ? s->parameter : "");
    for (int32_t k = 0; k < s->n_args; k++)
        kiln_pbw_string(w, 2, s->args[k]);
}

static void ser_child(kiln_pbw *w, uint32_t field, kiln_pbw *child) {
    kiln_pbw_message(w, field, child);
    child->size = 0;
    child->failed = 0;
}

static void ser_op(const kiln_paddle_op *op, kiln_pbw *w) {
    kiln_pbw c = {0};
    for (int32_t k = 0; k < op->n_inputs; k++) {
        ser_slot(&op->inputs[k], &c);
        ser_child(w, 1, &c);
    }
    for (int32_t k = 0; k < op->n_outputs; k++) {
        ser_slot(&op->outputs[k], &c);
        ser_child(w, 2, &c);
    }
    kiln_pbw_string(w, 3, op->type ? op->type : "");
    for (int32_t k = 0; k < op->n_attrs; k++) {
        ser_attr(&op->attrs[k], &c);
        ser_child(w, 4, &c);
    }
    if (op->is_target) kiln_pbw_varint(w, 5, 1);
    if (c.failed) w->failed = 1;
    kiln_pbw_free(&c);
}

static void ser_var(const kiln_paddle_var *v, kiln_pbw *w) {
    kiln_pbw type = {0}, lod = {0}, tensor = {0};
    kiln_pbw_string(w, 1, v->name ? v->name : "");
    kiln_pbw_int64(&type, 1, v->kind);
    if (v->has_tensor) {
        kiln_pbw_int64(&tensor, 1, v->dtype);
        for (int32_t k = 0; k < v->rank; k++)
            kiln_pbw_int64(&tensor, 2, v->dims[k]);
        if (v->kind == KILN_PD_SELECTED_ROWS) {
            kiln_pbw_message(&type, 2, &tensor);
        } else {
            kiln_pbw_message(&lod, 1, &tensor);
            if (v->has_lod_level) kiln_pbw_int64(&lod, 2, v->lod_level);
            kiln_pbw_message(&type, 3, &lod);
        }
    }
    kiln_pbw_message(w, 2, &type);
    kiln_pbw_varint(w, 3, v->persistable);
    if (v->need_check_feed) kiln_pbw_varint(w, 4, 1);
    if (type.failed || lod.failed || tensor.failed) w->failed = 1;
    kiln_pbw_free(&type);
    kiln_pbw_free(&lod);
    kiln_pbw_free(&tensor);
}

void kiln_paddle_program_serialize(const kiln_paddle_program *p, kiln_pbw *w) {
    kiln_pbw blk = {0}, c = {0};
    for (int32_t bi = 0; bi < p->n_blocks; bi++) {
        const kiln_paddle_block *b = &p->blocks[bi];
        kiln_pbw_int64(&blk, 1, b->idx);
        kiln_pbw_int64(&blk, 2, b->parent_idx);
        for (int32_t k = 0; k < b->n_vars; k++) {
            ser_var(&b->vars[k], &c);
            ser_child(&blk, 3, &c);
        }
        for (int32_t k = 0; k < b->n_ops; k++) {
            ser_op(&b->ops[k], &c);
            ser_child(&blk, 4, &c);
        }
        if (b->has_forward_block_idx) kiln_pbw_int64(&blk, 5, b->forward_block_idx);
        ser_child(w, 1, &blk);
    }
    if (p->has_version) {
        kiln_pbw_int64(&c, 1, p->version);
        ser_child(w, 4, &c);
    }
    if (p->has_op_version_map) {
        kiln_pbw pair = {0}, ver = {0};
        for (int32_t k = 0; k < p->n_op_versions; k++) {
            kiln_pbw_string(&pair, 1, p->op_versions[k].op_name);
            kiln_pbw_int64(&ver, 1, p->op_versions[k].version);
            ser_child(&pair, 2, &ver);
            ser_child(&c, 1, &pair);
        }
        if (pair.failed || ver.failed) w->failed = 1;
        kiln_pbw_free(&pair);
        kiln_pbw_free(&ver);
        /* an empty map is still written (present but empty) */
        kiln_pbw_message(w, 5, &c);
        c.size = 0;
    }
    if (blk.failed || c.failed) w->failed = 1;
    kiln_pbw_free(&blk);
    kiln_pbw_free(&c);
}

/* ---- lookups ---------------------------------------------------------------- */

const kiln_paddle_attr *kiln_paddle_op_attr(const kiln_paddle_op *op, const char *name) {
    for (int32_t i = 0; i < op->n_attrs; i++)
        if (strcmp(op->attrs[i].name, name) == 0) return &op->attrs[i];
    return NULL;
}

static const kiln_paddle_slot *find_slot(const kiln_paddle_slot *s, int32_t n, const char *name) {
    for (int32_t i = 0; i < n; i++)
        if (strcmp(s[i].parameter, name) == 0) return &s[i];
    return NULL;
}

const kiln_paddle_slot *kiln_paddle_op_input(const kiln_paddle_op *op, const char *slot) {
    return find_slot(op->inputs, op->n_inputs, slot);
}

const kiln_paddle_slot *kiln_paddle_op_output(const kiln_paddle_op *op, const char *slot) {
    return find_slot(op->outputs, op->n_outputs, slot);
}

const char *kiln_paddle_op_input1(const kiln_paddle_op *op, const char *slot) {
    const kiln_paddle_slot *s = kiln_paddle_op_input(op, slot);
    return s && s->n_args > 0 ? s->args[0] : NULL;
}

const char *kiln_paddle_op_output1(const kiln_paddle_op *op, const char *slot) {
    const kiln_paddle_slot *s = kiln_paddle_op_output(op, slot);
    return s && s->n_args > 0 ? s->args[0] : NULL;
}

const char *kiln_paddle_op_first_output(const kiln_paddle_op *op) {
    for (int32_t i = 0; i < op->n_outputs; i++)
        if (op->outputs[i].n_args > 0) return op->outputs[i].args[0];
    return "";
}

const kiln_paddle_var *kiln_paddle_block_var(const kiln_paddle_block *b, const char *name) {
    for (int32_t i = 0; i < b->n_vars; i++)
        if (strcmp(b->vars[i].name, name) == 0) return &b->vars[i];
    return NULL;
}

int64_t kiln_paddle_attr_int(const kiln_paddle_op *op, const char *name, int64_t dflt) {
    const kiln_paddle_attr *a = kiln_paddle_op_attr(op, name);
    if (!a) return dflt;
    if (a->has & KILN_PD_HAS_I) return a->i;
    if (a->has & KILN_PD_HAS_L) return a->l;
    if (a->has & KILN_PD_HAS_B) return a->b;
    return dflt;
}

float kiln_paddle_attr_float(const kiln_paddle_op *op, const char *name, float dflt) {
    const kiln_paddle_attr *a = kiln_paddle_op_attr(op, name);
    if (!a) return dflt;
    if (a->has & KILN_PD_HAS_F) return a->f;
    if (a->has & KILN_PD_HAS_F64) return (float)a->f64;
    if (a->has & KILN_PD_HAS_I) return (float)a->i;
    if (a->has & KILN_PD_HAS_L) return (float)a->l;
    return dflt;
}

bool kiln_paddle_attr_bool(const kiln_paddle_op *op, const char *name, bool dflt) {
    const kiln_paddle_attr *a = kiln_paddle_op_attr(op, name);
    if (!a) return dflt;
    if (a->has & KILN_PD_HAS_B) return a->b;
    if (a->has & KILN_PD_HAS_I) return a->i != 0;
    if (a->has & KILN_PD_HAS_L) return a->l != 0;
    return dflt;
}

const char *kiln_paddle_attr_string(const kiln_paddle_op *op, const char *name, const char *dflt) {
    const kiln_paddle_attr *a = kiln_paddle_op_attr(op, name);
    if (!a || !(a->has & KILN_PD_HAS_S)) return dflt;
    return a->s;
}

int32_t kiln_paddle_attr_ints(const kiln_paddle_op *op, const char *name, int64_t *out,
                              int32_t max) {
    const kiln_paddle_attr *a = kiln_paddle_op_attr(op, name);
    if (!a) return -1;
    bool use_longs = a->type == KILN_PD_ATTR_LONGS || (a->n_longs > 0 && a->n_ints == 0);
    int32_t n = use_longs ? a->n_longs : a->n_ints;
    for (int32_t i = 0; i < n && i < max; i++)
        out[i] = use_longs ? a->longs[i] : a->ints[i];
    return n;
}

bool kiln_paddle_var_is_param(const kiln_paddle_var *v) {
    return v->persistable && v->kind != KILN_PD_FEED_MINIBATCH && v->kind != KILN_PD_FETCH_LIST &&
           v->kind != KILN_PD_RAW;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

kiln_status kiln_paddle_param_names(const kiln_paddle_program *p, const char ***names, int32_t *n) {
    *names = NULL;
    *n = 0;
    if (p->n_blocks == 0) return KILN_OK;
    const kiln_paddle_block *b = &p->blocks[0];
    const char **v = malloc(((size_t)b->n_vars + 1) * sizeof *v);
    if (!v) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory listing parameters");
    int32_t k = 0;
    for (int32_t i = 0; i < b->n_vars; i++)
        if (kiln_paddle_var_is_param(&b->vars[i])) v[k++] = b->vars[i].name;
    qsort(v, (size_t)k, sizeof *v, cmp_str);
    int32_t u = 0;
    for (int32_t i = 0; i < k; i++)
        if (u == 0 || strcmp(v[u - 1], v[i]) != 0) v[u++] = v[i];
    *names = v;
    *n = u;
    return KILN_OK;
}

size_t kiln_paddle_dtype_size(int32_t dtype) {
    switch (dtype) {
    case KILN_PD_BOOL:
    case KILN_PD_UINT8:
    case KILN_PD_INT8: return 1;
    case KILN_PD_INT16:
    case KILN_PD_FP16:
    case KILN_PD_BF16: return 2;
    case KILN_PD_INT32:
    case KILN_PD_FP32: return 4;
    case KILN_PD_INT64:
    case KILN_PD_FP64:
    case KILN_PD_SIZE_T:
    case KILN_PD_COMPLEX64: return 8;
    case KILN_PD_COMPLEX128: return 16;
    default: return 0;
    }
}

const char *kiln_paddle_dtype_name(int32_t dtype) {
    switch (dtype) {
    case KILN_PD_BOOL: return "BOOL";
    case KILN_PD_INT16: return "INT16";
    case KILN_PD_INT32: return "INT32";
    case KILN_PD_INT64: return "INT64";
    case KILN_PD_FP16: return "FP16";
    case KILN_PD_FP32: return "FP32";
    case KILN_PD_FP64: return "FP64";
    case KILN_PD_SIZE_T: return "SIZE_T";
    case KILN_PD_UINT8: return "UINT8";
    case KILN_PD_INT8: return "INT8";
    case KILN_PD_BF16: return "BF16";
    case KILN_PD_COMPLEX64: return "COMPLEX64";
    case KILN_PD_COMPLEX128: return "COMPLEX128";
    default: return "?";
    }
}
