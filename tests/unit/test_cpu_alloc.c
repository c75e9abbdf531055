/*
 * test_cpu_alloc.c — the cpu backend's run allocates nothing. malloc, calloc,
 * realloc, posix_memalign, aligned_alloc, memalign and free are interposed in
 * this executable (forwarding to glibc's __libc_* entry points) and counted
 * while a flag is set around kiln_backend_cpu.run, after one warm-up run per
 * batch size. A call is Kiln's when its return address lies in this
 * executable (Kiln is linked statically into it); those must be zero.
 *
 * oneDNN itself cannot run a primitive through its C API without building a
 * per-call argument map (std::unordered_map in dnnl_primitive_execute): those
 * allocations come from libstdc++/libdnnl, are reported, and are checked to be
 * transient (every one freed within the same run) and the same count every
 * run, so memory never grows while serving.
 * Graphs: the generated ResNet50 after the passes (built at batch 2, run at 2
 * and 1) in FP32 and in INT8 (every node the precision pass can mark, with
 * made-up thresholds: the INT8 steps, own-code quantize and requantize
 * included), and a small graph through the own-code kernels and matmul.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "model/resnet50.h"
#include "passes/passes.h"
#include "test_util.h"

extern const kiln_backend kiln_backend_cpu;

#if defined(__SANITIZE_ADDRESS__)
#define KT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KT_ASAN 1
#endif
#endif

static int counting;
static long kiln_allocs, lib_allocs, lib_frees;

#ifndef KT_ASAN /* AddressSanitizer owns malloc: no interposition there (skipped) */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);
extern char __executable_start[], etext[];

/* noinline: __builtin_return_address(0) must be the caller's address */

static void count(void *ret) {
    if (!__atomic_load_n(&counting, __ATOMIC_RELAXED)) return;
    if ((char *)ret >= __executable_start && (char *)ret < etext)
        __atomic_fetch_add(&kiln_allocs, 1, __ATOMIC_RELAXED);
    else
        __atomic_fetch_add(&lib_allocs, 1, __ATOMIC_RELAXED);
}

__attribute__((noinline)) void *malloc(size_t n) {
    count(__builtin_return_address(0));
    return __libc_malloc(n);
}
__attribute__((noinline)) void *calloc(size_t a, size_t b) {
    count(__builtin_return_address(0));
    return __libc_calloc(a, b);
}
__attribute__((noinline)) void *realloc(void *p, size_t n) {
    count(__builtin_return_address(0));
    return __libc_realloc(p, n);
}
__attribute__((noinline)) void *memalign(size_t al, size_t n) {
    count(__builtin_return_address(0));
    return __libc_memalign(al, n);
}
__attribute__((noinline)) void *aligned_alloc(size_t al, size_t n) {
    count(__builtin_return_address(0));
    return __libc_memalign(al, n);
}
__attribute__((noinline)) int posix_memalign(void **out, size_t al, size_t n) {
    count(__builtin_return_address(0));
    void *p = __libc_memalign(al, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
__attribute__((noinline)) void free(void *p) {
    if (p && __atomic_load_n(&counting, __ATOMIC_RELAXED))
        __atomic_fetch_add(&lib_frees, 1, __ATOMIC_RELAXED);
    __libc_free(p);
}

#endif

/* Runs exec at `batch` three times counting; checks and reports. */
static void count_runs(void *exec, int64_t batch, const char *what) {
    KT_OK(kiln_backend_cpu.run(exec, batch)); /* warm-up: OpenMP team, first-touch */
    long per_run[3];
    for (int r = 0; r < 3; r++) {
        kiln_allocs = lib_allocs = lib_frees = 0;
        __atomic_store_n(&counting, 1, __ATOMIC_SEQ_CST);
        kiln_status s = kiln_backend_cpu.run(exec, batch);
        __atomic_store_n(&counting, 0, __ATOMIC_SEQ_CST);
        KT_CHECK(s == KILN_OK, "%s: run: %s", what, kiln_last_error());
        KT_CHECK(kiln_allocs == 0, "%s batch %lld: Kiln allocated %ld times during run", what,
                 (long long)batch, kiln_allocs);
        KT_CHECK(lib_allocs == lib_frees,
                 "%s batch %lld: oneDNN allocated %ld and freed %ld times during run", what,
                 (long long)batch, lib_allocs, lib_frees);
        per_run[r] = lib_allocs;
    }
    KT_CHECK(per_run[1] == per_run[0] && per_run[2] == per_run[0],
             "%s: oneDNN allocations per run differ: %ld %ld %ld", what, per_run[0], per_run[1],
             per_run[2]);
    printf("%s batch %lld: Kiln allocations during run: %ld; oneDNN-internal (transient): %ld\n",
           what, (long long)batch, kiln_allocs, per_run[0]);
}

/* Made-up thresholds, different per tensor (so max pool requantizes). */
static float fake_threshold(void *user, const char *name) {
    (void)user;
    return 4.0f + (float)(strlen(name) % 7);
}

static void test_resnet50(kiln_precision prec) {
    const char *what = prec == KILN_PRECISION_INT8 ? "resnet50 int8" : "resnet50";
    kiln_graph *g = NULL;
    KT_OK(kiln_model_generate_resnet50(3, &g));
    if (!g) return;
    g->values[g->inputs[0]].dims[0] = 2;
    KT_OK(kiln_infer_shapes(g));
    KT_OK(kiln_passes_run(g, NULL, NULL));
    KT_OK(kiln_infer_shapes(g));
    if (prec == KILN_PRECISION_INT8) {
        int n8 = 0;
        KT_OK(kiln_pass_assign_precision(g, fake_threshold, NULL, NULL, &n8, NULL));
        KT_CHECK(n8 == 56, "%s: 56 INT8 nodes (got %d)", what, n8);
    }
    kiln_backend_options bo = {0, prec, NULL};
    void *ce = NULL;
    KT_OK(kiln_backend_cpu.create(g, &bo, &ce));
    if (ce) {
        size_t nx = 2 * 3 * 224 * 224;
        float *x = malloc(nx * sizeof(float));
        kt_fill_uniform(x, nx, 9, 0.0f, 25.0f);
        KT_OK(kiln_backend_cpu.write_value(ce, g->inputs[0], x, nx));
        free(x);
        count_runs(ce, 2, what);
        count_runs(ce, 1, what);
        kiln_backend_cpu.destroy(ce);
    }
    kiln_graph_destroy(g);
}

/* x -> avg pool (ceil, include pad: own code) -> add of a [1,1,1,W] row with
 * a [N,C,1,1] global pool (both broadcast: own code) -> matmul -> softmax */
static void test_own_code(void) {
    kiln_graph *g;
    kiln_graph_create(&g);
    int64_t xd[4] = {2, 5, 9, 9}, one[1] = {1};
    int32_t x, p, gp, row, s, w, m, y, n;
    kiln_graph_add_value(g, "x", KILN_DT_F32, 4, xd, &x);
    kiln_graph_add_input(g, x);
    kiln_attrs a = kiln_attrs_default();
    a.kernel[0] = a.kernel[1] = 3;
    a.strides[0] = a.strides[1] = 2;
    for (int i = 0; i < 4; i++)
        a.pads[i] = 1;
    a.ceil_mode = true;
    a.count_include_pad = true;
    kiln_graph_add_value(g, "p", KILN_DT_F32, 0, one, &p);
    KT_OK(kiln_graph_add_node(g, KILN_OP_AVG_POOL, "pool", 1, &x, 1, &p, &a, NULL));
    kiln_graph_add_value(g, "gp", KILN_DT_F32, 0, one, &gp);
    KT_OK(kiln_graph_add_node(g, KILN_OP_GLOBAL_AVG_POOL, "gpool", 1, &x, 1, &gp, NULL, NULL));
    int64_t rd[4] = {1, 1, 1, 5}, wd[2] = {5, 6};
    KT_OK(kiln_add_const_f32(g, "row", 4, rd, NULL, &row));
    kt_fill_uniform((float *)g->values[row].data, 5, 1, -1, 1);
    kiln_graph_add_value(g, "s", KILN_DT_F32, 0, one, &s);
    KT_OK(kiln_graph_add_node(g, KILN_OP_ADD, "add", 2, (int32_t[]){gp, row}, 1, &s, NULL, NULL));
    KT_OK(kiln_add_const_f32(g, "w", 2, wd, NULL, &w));
    kt_fill_uniform((float *)g->values[w].data, 30, 2, -1, 1);
    kiln_graph_add_value(g, "m", KILN_DT_F32, 0, one, &m);
    KT_OK(kiln_graph_add_node(g, KILN_OP_MATMUL, "mm", 2, (int32_t[]){s, w}, 1, &m, NULL, NULL));
    kiln_graph_add_value(g, "y", KILN_DT_F32, 0, one, &y);
    KT_OK(kiln_graph_add_node(g, KILN_OP_SOFTMAX, "sm", 1, &m, 1, &y, NULL, NULL));
    kiln_graph_add_value(g, "n", KILN_DT_F32, 0, one, &n);
    KT_OK(kiln_graph_add_node(g, KILN_OP_SUM, "sum", 2, (int32_t[]){p, p}, 1, &n, NULL, NULL));
    KT_OK(kiln_graph_add_output(g, y));
    KT_OK(kiln_graph_add_output(g, n));
    KT_OK(kiln_infer_shapes(g));
    kiln_backend_options bo = {1, KILN_PRECISION_FP32, NULL};
    void *ce = NULL;
    KT_OK(kiln_backend_cpu.create(g, &bo, &ce));
    if (ce) {
        float xv[2 * 5 * 9 * 9];
        kt_fill_uniform(xv, sizeof xv / sizeof xv[0], 4, -1, 1);
        KT_OK(kiln_backend_cpu.write_value(ce, x, xv, sizeof xv / sizeof xv[0]));
        count_runs(ce, 2, "own-code graph (1 thread)");
        count_runs(ce, 1, "own-code graph (1 thread)");
        kiln_backend_cpu.destroy(ce);
    }
    kiln_graph_destroy(g);
}

/* The attribution works: a malloc from this executable counts as Kiln's. */
static void test_self_check(void) {
    kiln_allocs = lib_allocs = 0;
    __atomic_store_n(&counting, 1, __ATOMIC_SEQ_CST);
    void *volatile p = malloc(16);
    __atomic_store_n(&counting, 0, __ATOMIC_SEQ_CST);
    free(p);
    KT_CHECK(kiln_allocs == 1 && lib_allocs == 0, "self-check: kiln %ld lib %ld", kiln_allocs,
             lib_allocs);
}

int main(void) {
#ifdef KT_ASAN
    kt_skip("malloc interposition conflicts with AddressSanitizer");
#endif
    test_self_check();
    test_resnet50(KILN_PRECISION_FP32);
    test_resnet50(KILN_PRECISION_INT8);
    test_own_code();
    return kt_finish("test_cpu_alloc");
}
