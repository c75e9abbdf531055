/*
 * cpu.h — internals of the oneDNN cpu backend, shared by its files only (no
 * oneDNN type leaves src/backend/cpu/).
 *
 * The executable holds one *plan* per prepared batch size (1, 2, 4, ...,
 * the built batch): a list of steps (oneDNN primitives with their argument
 * memories bound once, or own-code kernels) over *storages* (byte ranges in
 * the one activation arena, or the dedicated plain buffers of graph inputs
 * and outputs). Layouts are oneDNN memory descriptors chosen per value per
 * plan (oneDNN's choice at batch 1, nChw16c convs from batch 2: see
 * cpu_ops_nn.c); reorders are steps of their own. A run at a batch without
 * its own plan uses the next larger one (images are independent).
 *
 * INT8 (nodes the precision pass marked, cpu_int8.c): a value an INT8 node
 * writes is stored as s8 (u8 when it cannot be negative) holding exactly the
 * integers q of docs/INT8.md, real value q * T/127; p->vth[v] is that T (0 =
 * the value is stored as f32). cpu_input converts between the two (dequantize
 * by a scaled reorder, quantize by own code with ref's rounding and clamp).
 *
 * Non-goals: more than one stream, mixing with other backends.
 */
#ifndef KILN_BACKEND_CPU_H
#define KILN_BACKEND_CPU_H

#include <dnnl.h>

#include "backend/backend.h"

enum { CPU_MAX_ARGS = 12 };

/* Storage ids that are not plan storages. */
enum { CPU_ST_FIXED = -2, CPU_ST_SCRATCH = -3 };

typedef struct cpu_arg {
    int arg;         /* DNNL_ARG_* (own-code steps: position) */
    int32_t storage; /* plan storage id, CPU_ST_FIXED (ptr) or CPU_ST_SCRATCH */
    void *ptr;       /* CPU_ST_FIXED: constant data or packed weights */
    bool write;      /* the step writes it (for the memory plan) */
    dnnl_memory_desc_t md;
} cpu_arg;

typedef enum cpu_own_kind {
    CPU_OWN_BCAST_SUM, /* y = act(sum_k x_k), numpy broadcast, plain */
    CPU_OWN_AVG_POOL,  /* average pool, plain NCHW, ref semantics for any padding */
    CPU_OWN_QUANT,     /* f32 -> s8/u8: clamp(rint(x * qscale), qlo, 127), elementwise */
    CPU_OWN_REQUANT,   /* s8/u8 -> s8/u8: q(deq(x, dscale), qscale) exactly as ref, elementwise */
} cpu_own_kind;

/* Parameters of an own-code step (shapes at the plan's batch). */
typedef struct cpu_own {
    cpu_own_kind kind;
    int32_t rank, n_in;
    int64_t out[KILN_MAX_RANK];
    int64_t in[KILN_MAX_IO][KILN_MAX_RANK]; /* aligned to rank (1s in front) */
    kiln_act act;
    float clip_min, clip_max;
    /* pooling */
    int64_t kernel[2], strides[2], dilations[2], pad_begin[2], pad_end[2];
    bool count_include_pad;
    /* quantize / requantize: n elements; in_u8/out_u8: the int8 flavour */
    int64_t n;
    double dscale, qscale;
    bool in_u8, out_u8;
    uint8_t lut[256]; /* requantize: output byte per input byte (cpu_own_requant_init) */
} cpu_own;

typedef struct cpu_step {
    bool own;     /* own-code kernel instead of a primitive */
    int32_t node; /* graph node the step belongs to */
    dnnl_primitive_t prim;
    int n_args;
    cpu_arg args[CPU_MAX_ARGS];
    dnnl_exec_arg_t exec[CPU_MAX_ARGS]; /* bound in cpu_plan_bind */
    float *ptr[CPU_MAX_ARGS];           /* own-code: resolved pointers */
    cpu_own o;
} cpu_step;

typedef struct cpu_storage {
    size_t bytes;
    void *fixed; /* dedicated buffer (graph input/output), else NULL: in the arena */
    size_t off;  /* arena offset */
} cpu_storage;

typedef struct cpu_plan {
    int64_t batch;
    cpu_step *steps;
    int32_t n_steps, cap_steps;
    cpu_storage *st;
    int32_t n_st, cap_st;
    int32_t *vst;            /* per value: storage id, -1 if none yet */
    dnnl_memory_desc_t *vmd; /* per value: layout at this batch (f32, s8 or u8) */
    float *vth;              /* per value: T of its s8/u8 storage (real = q*T/127); 0 = f32 */
    size_t arena_bytes;
} cpu_plan;

typedef struct cpu_buf { /* an owned aligned buffer, optionally keyed by value + layout */
    int32_t value;
    dnnl_memory_desc_t md;
    void *p;
} cpu_buf;

typedef struct cpu_exec {
    const kiln_graph *g;
    const kiln_logger *logger;
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    int threads; /* OpenMP threads for create and run; 0 = leave OpenMP's setting */
    void (*omp_set)(int);
    int (*omp_get)(void);
    int64_t built_batch;
    cpu_plan *plans;
    int32_t n_plans;
    void **dedicated; /* per value: plain buffer of a graph input/output, else NULL */
    size_t *ded_bytes;
    void *arena;
    size_t arena_bytes;
    void *scratch;
    size_t scratch_bytes;
    cpu_buf *bufs; /* packed weights and scaled constants */
    int32_t n_bufs, cap_bufs;
    dnnl_memory_t *mems;
    int32_t n_mems, cap_mems;
    int32_t *last_use; /* per value: last node reading it (n_nodes for graph outputs) */
} cpu_exec;

/* ---- cpu_util.c ---------------------------------------------------------- */

/* KILN_ERR_BACKEND naming the node, the oneDNN call and its status. */
kiln_status cpu_dnnl_error(const cpu_exec *e, int32_t node, const char *call, dnnl_status_t s);
#define CPU_DN(e, node, call)                                                                      \
    do {                                                                                           \
        dnnl_status_t cpu_s_ = (call);                                                             \
        if (cpu_s_ != dnnl_success) return cpu_dnnl_error((e), (node), #call, cpu_s_);             \
    } while (0)

/* Dense row-major desc (rank 0 becomes [1]); `any` lets the primitive choose. */
kiln_status cpu_md_plain(int32_t rank, const int64_t *dims, dnnl_memory_desc_t *md);
kiln_status cpu_md_any(int32_t rank, const int64_t *dims, dnnl_memory_desc_t *md);
/* True if md's bytes are laid out as the dense row-major tensor of its dims. */
bool cpu_md_is_plain(const dnnl_memory_desc_t *md);
/* Begin/end padding of spatial dim i, auto_pad resolved as the ref backend does. */
int64_t cpu_pad_begin(const kiln_attrs *a, int i, int64_t in, int64_t k, int64_t *end);
/* End padding oneDNN needs so that `out` windows fit (ceil mode: more than declared). */
int64_t cpu_pad_end(int64_t in, int64_t out, int64_t k, int64_t s, int64_t d, int64_t begin,
                    int64_t declared);
/* Aligned copy of constant v times `scale`, laid out as md (plain, v's element
 * count), shared between plans when scale is 1. */
kiln_status cpu_const_copy(cpu_exec *e, int32_t v, float scale, const dnnl_memory_desc_t *md,
                           void **out);
/* Packs constant v (user layout um) into layout pm once per distinct pm;
 * `scale` multiplies it (then it is not shared). */
kiln_status cpu_pack_weights(cpu_exec *e, int32_t node, int32_t v, float scale,
                             const dnnl_memory_desc_t *um, const dnnl_memory_desc_t *pm,
                             void **out);
/* Runs one reorder now (at create): src in layout um into dst in layout pm. */
kiln_status cpu_reorder_now(cpu_exec *e, int32_t node, const dnnl_memory_desc_t *um,
                            const void *src, const dnnl_memory_desc_t *pm, void *dst);
/* An owned 64-byte aligned buffer of `bytes` (zeroed); keyed for cpu_find_buf. */
kiln_status cpu_new_buf(cpu_exec *e, int32_t value, const dnnl_memory_desc_t *md, size_t bytes,
                        void **out);
void *cpu_find_buf(const cpu_exec *e, int32_t value, const dnnl_memory_desc_t *md);

/* ---- cpu_plan.c ---------------------------------------------------------- */

/* Dims of value v at the plan's batch. */
void cpu_value_dims(const cpu_exec *e, const cpu_plan *p, int32_t v, int64_t *dims);
bool cpu_is_const(const cpu_exec *e, int32_t v);
/* Appends a zeroed step; *out is valid until the next step is added. */
kiln_status cpu_add_step(cpu_plan *p, int32_t node, cpu_step **out);
kiln_status cpu_new_storage(cpu_plan *p, size_t bytes, int32_t *id);
/* A created primitive and its scratchpad layout (before it becomes a step). */
typedef struct cpu_prim {
    dnnl_primitive_t prim;
    dnnl_memory_desc_t scratch;
} cpu_prim;
/* dnnl_primitive_desc_create with a message naming the node. */
kiln_status cpu_pd_create(cpu_exec *e, int32_t node, const_dnnl_op_desc_t desc,
                          const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *pd);
/* Layout pd chose for `what` (dnnl_query_src_md, ...). */
dnnl_memory_desc_t cpu_pd_md(const_dnnl_primitive_desc_t pd, dnnl_query_t what, int index);
/* Creates the primitive of pd and destroys pd (also on failure). */
kiln_status cpu_prim_create(cpu_exec *e, int32_t node, dnnl_primitive_desc_t pd, cpu_prim *out);
void cpu_prim_drop(cpu_prim *pr);
/* Appends a step running pr (owned by the step from now on, also on failure),
 * with its scratchpad argument; the caller appends the other arguments. */
kiln_status cpu_add_prim(cpu_plan *p, int32_t node, cpu_prim *pr, cpu_step **out);
/* Appends an argument to a step. */
void cpu_arg_storage(cpu_step *s, int arg, int32_t storage, const dnnl_memory_desc_t *md,
                     bool write);
void cpu_arg_fixed(cpu_step *s, int arg, void *ptr, const dnnl_memory_desc_t *md);
/* Appends input `a` (from cpu_input: a storage or a fixed pointer) as `arg`. */
void cpu_arg_in(cpu_step *s, int arg, const cpu_arg *a);
/* Reorder step: storage `from` (layout fm) into storage `to` (layout tm), same dims. */
kiln_status cpu_add_reorder(cpu_exec *e, cpu_plan *p, int32_t node, int32_t from,
                            const dnnl_memory_desc_t *fm, int32_t to, const dnnl_memory_desc_t *tm);
/* The same with tm = scale * fm (dequantization: s8/u8 -> f32, scale T/127). */
kiln_status cpu_add_reorder_scaled(cpu_exec *e, cpu_plan *p, int32_t node, int32_t from,
                                   const dnnl_memory_desc_t *fm, int32_t to,
                                   const dnnl_memory_desc_t *tm, float scale);
/* A primitive attr with the user scratchpad and the act as an eltwise post-op,
 * after a sum post-op when `sum` (the residual R). */
kiln_status cpu_make_attr(cpu_exec *e, int32_t node, kiln_act act, float clip_min, float clip_max,
                          bool sum, dnnl_primitive_attr_t *out);
/* Argument for reading value v in layout `want`: a constant (plain `want`
 * only), v's storage when the layouts agree (or both are dense row-major), or
 * a temporary filled by a reorder step. An f32 `want` of an s8/u8 value
 * dequantizes it; an s8/u8 `want` reads v quantized with v's own threshold
 * (want's data type must be cpu_int8_dt(v)): its storage when it holds
 * exactly that, else a temporary quantized (or requantized) by own code. */
kiln_status cpu_input(cpu_exec *e, cpu_plan *p, int32_t node, int32_t v,
                      const dnnl_memory_desc_t *want, cpu_arg *out);
/* Where a node writes its output y in layout `natural`: *out is the DST
 * argument; *pending >= 0 is a temporary that cpu_output_done reorders into
 * y's dedicated plain buffer. */
kiln_status cpu_output(cpu_exec *e, cpu_plan *p, int32_t node, int32_t y,
                       const dnnl_memory_desc_t *natural, cpu_arg *out, int32_t *pending);
kiln_status cpu_output_done(cpu_exec *e, cpu_plan *p, int32_t node, int32_t y, const cpu_arg *dst,
                            int32_t pending);
/* Builds every step of plan p (node order), then its memory plan. */
kiln_status cpu_plan_build(cpu_exec *e, cpu_plan *p);
/* Creates the memory objects once the arena and scratchpad exist. */
kiln_status cpu_plan_bind(cpu_exec *e, cpu_plan *p);
void cpu_plan_free(cpu_plan *p);

/* Dense row-major desc of data type dt. */
kiln_status cpu_md_plain_dt(int32_t rank, const int64_t *dims, dnnl_data_type_t dt,
                            dnnl_memory_desc_t *md);
/* md with data type dt, same layout (elements strides are type-independent). */
dnnl_memory_desc_t cpu_md_with_dt(const dnnl_memory_desc_t *md, dnnl_data_type_t dt);
static inline bool cpu_dt_is_int8(dnnl_data_type_t dt) {
    return dt == dnnl_s8 || dt == dnnl_u8;
}
/* Layout in which an FP32 op reads value v's storage as is: vmd[v], as f32. */
dnnl_memory_desc_t cpu_md_f32(const cpu_plan *p, int32_t v);

/* The residual r may be overwritten by conv `node` (its sum post-op in
 * place): nothing reads r's storage after this node (cpu_ops_nn.c). */
bool cpu_residual_in_place(const cpu_exec *e, const cpu_plan *p, int32_t node, int32_t r,
                           int32_t x);

/* ---- cpu_int8.c ---------------------------------------------------------- */

/* NULL if INT8 node `node` runs on the cpu backend, else why not. */
const char *cpu_int8_unsupported_reason(const kiln_graph *g, int32_t node);
/* Data type an INT8 op reads value v in: its own when stored s8/u8, else s8. */
dnnl_data_type_t cpu_int8_dt(const cpu_plan *p, int32_t v);
kiln_status cpu_build_conv_int8(cpu_exec *e, cpu_plan *p, int32_t node);
kiln_status cpu_build_gemm_int8(cpu_exec *e, cpu_plan *p, int32_t node);
kiln_status cpu_build_pool_int8(cpu_exec *e, cpu_plan *p, int32_t node);
kiln_status cpu_build_add_int8(cpu_exec *e, cpu_plan *p, int32_t node);

/* ---- cpu_ops.c / cpu_ops_nn.c: one builder per op family ----------------- */

kiln_status cpu_build_conv(cpu_exec *e, cpu_plan *p, int32_t node);
kiln_status cpu_build_pool(cpu_exec *e, cpu_plan *p, int32_t node);
kiln_status cpu_build_gemm(cpu_exec *e, cpu_plan *p, int32_t node);
kiln_status cpu_build_matmul(cpu_exec *e, cpu_plan *p, int32_t node);
kiln_status cpu_build_eltwise(cpu_exec *e, cpu_plan *p, int32_t node);
kiln_status cpu_build_add(cpu_exec *e, cpu_plan *p, int32_t node);
kiln_status cpu_build_sum(cpu_exec *e, cpu_plan *p, int32_t node);
kiln_status cpu_build_batch_norm(cpu_exec *e, cpu_plan *p, int32_t node);
kiln_status cpu_build_softmax(cpu_exec *e, cpu_plan *p, int32_t node);
kiln_status cpu_build_view(cpu_exec *e, cpu_plan *p, int32_t node);

/* ---- cpu_own.c ----------------------------------------------------------- */

void cpu_own_run(const cpu_step *s);
/* Fills o->lut for CPU_OWN_REQUANT from dscale, qscale, in_u8, out_u8. */
void cpu_own_requant_init(cpu_own *o);

#endif
