/*
 * cmd_bench.c — `kiln bench`: trtexec-style timing of one engine.
 *
 * Flags follow trtexec: --batch, --warmUp (ms), --iterations, --duration (s),
 * --percentile, --exportTimes=FILE.json, --loadInputs=FILE.bin, --dumpProfile.
 * Timing runs until both --iterations and --duration are reached. Latency is
 * wall-clock time of one engine run (host clock, CLOCK_MONOTONIC): input
 * copy + compute + output copy. Throughput is said plainly in images/s and
 * batches/s (trtexec's "qps" counts batches). --precision=int8 builds an INT8
 * engine from the calibration table (--calib_table or the model's default).
 *
 * Non-goals: asserting speed (benchmarks are not tests).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cli.h"
#include "core/cpu_features.h"
#include "core/file.h"
#include "core/rng.h"
#include "engine/engine.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v. */
static double pct(const double *v, size_t n, double p) {
    if (n == 0) return NAN;
    size_t k = (size_t)ceil(p / 100.0 * (double)n);
    if (k < 1) k = 1;
    if (k > n) k = n;
    return v[k - 1];
}

static void usage(void) {
    printf("usage: kiln bench <model> [flags]   (trtexec-style)\n"
           "  --model_file=F [--params_file=P] | --model_dir=D | PATH   the model\n"
           "  --batch=N           batch size (default 1)\n"
           "  --warmUp=MS         warm-up time in ms (default 200)\n"
           "  --iterations=N      at least N timed runs (default 10)\n"
           "  --duration=S        at least S seconds of timed runs (default 3)\n"
           "  --percentile=P      extra percentile to report (default 99)\n"
           "  --exportTimes=F     per-iteration times as JSON\n"
           "  --loadInputs=F      raw float32 input (default: seeded uniform [-1,1))\n"
           "  --dumpProfile       per-layer times (one extra profiled run set)\n"
           "  --precision=fp32|int8   (int8 reads the calibration table)\n"
           "  --calib_table=F     the table (default <model dir>/_opt_cache/trt_calib_<key>)\n"
           "  --backend=auto|ref|cpu|cuda  --threads=N  --optimize=true|false\n");
}

typedef struct {
    int64_t batch, warmup_ms, iterations, duration_s, threads;
    double percentile;
    const char *export_times, *load_inputs, *backend, *calib_table;
    kiln_precision precision;
    bool dump_profile, optimize;
} bench_flags;

static int parse(kiln_cli *c, bench_flags *f) {
    memset(f, 0, sizeof *f);
    f->batch = 1;
    f->warmup_ms = 200;
    f->iterations = 10;
    f->duration_s = 3;
    f->percentile = 99;
    int64_t p = 99;
    if (kiln_cli_get_int(c, "batch", 1, 1 << 16, &f->batch) ||
        kiln_cli_get_int(c, "warmUp", 0, 3600000, &f->warmup_ms) ||
        kiln_cli_get_int(c, "iterations", 1, 100000000, &f->iterations) ||
        kiln_cli_get_int(c, "duration", 0, 86400, &f->duration_s) ||
        kiln_cli_get_int(c, "percentile", 1, 100, &p) ||
        kiln_cli_get_int(c, "threads", 0, 4096, &f->threads) ||
        kiln_cli_get_bool(c, "dumpProfile", false, &f->dump_profile) ||
        kiln_cli_get_bool(c, "optimize", true, &f->optimize))
        return 2;
    f->percentile = (double)p;
    f->export_times = kiln_cli_get(c, "exportTimes");
    f->load_inputs = kiln_cli_get(c, "loadInputs");
    f->backend = kiln_cli_get(c, "backend");
    f->calib_table = kiln_cli_get(c, "calib_table");
    f->precision = KILN_PRECISION_FP32;
    const char *prec = kiln_cli_get(c, "precision");
    if (prec && kiln_cli_parse_precision(prec, &f->precision)) return 2;
    return 0;
}

static int fill_input(const bench_flags *f, float *x, size_t n) {
    if (!f->load_inputs) {
        kiln_rng r = kiln_rng_seed(1234);
        for (size_t i = 0; i < n; i++)
            x[i] = (float)(2.0 * kiln_rng_uniform(&r) - 1.0);
        return 0;
    }
    const char *path =
        strchr(f->load_inputs, ':') ? strchr(f->load_inputs, ':') + 1 : f->load_inputs;
    kiln_mapping m;
    kiln_status s = kiln_map_file(path, &m);
    if (s != KILN_OK) return kiln_cli_fail("kiln bench", s);
    int rc = 0;
    if (m.size != n * sizeof(float)) {
        fprintf(stderr, "kiln bench: %s holds %zu bytes; batch %s needs %zu float32 values\n", path,
                m.size, "--batch", n);
        rc = 2;
    } else {
        memcpy(x, m.data, m.size);
    }
    kiln_unmap(&m);
    return rc;
}

static int export_times(const char *path, const double *start, const double *lat, size_t n) {
    size_t cap = 64 + n * 96, k = 0;
    char *buf = malloc(cap);
    if (!buf) return kiln_cli_fail("kiln bench", KILN_ERR_NO_MEMORY);
    k += (size_t)snprintf(buf + k, cap - k, "[\n");
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(
            buf + k, cap - k, "  {\"startMs\": %.4f, \"endMs\": %.4f, \"latencyMs\": %.4f}%s\n",
            start[i] - start[0], start[i] - start[0] + lat[i], lat[i], i + 1 < n ? "," : "");
    k += (size_t)snprintf(buf + k, cap - k, "]\n");
    kiln_status s = kiln_write_file_atomic(path, buf, k);
    free(buf);
    return s == KILN_OK ? 0 : kiln_cli_fail("kiln bench", s);
}

static void dump_profile(kiln_engine *e, int64_t batch, int reps) {
    const kiln_graph *g = e->graph;
    if (!e->backend->profile) {
        printf("=== Profile: backend %s has no per-layer profiler ===\n", e->backend->name);
        return;
    }
    double *acc = calloc((size_t)g->n_nodes + 1, sizeof(double));
    double *one = calloc((size_t)g->n_nodes + 1, sizeof(double));
    if (!acc || !one) {
        free(acc);
        free(one);
        return;
    }
    int ok = 0;
    for (int r = 0; r < reps; r++)
        if (e->backend->profile(e->exec, batch, one) == KILN_OK) {
            ok++;
            for (int32_t i = 0; i < g->n_nodes; i++)
                acc[i] += one[i];
        }
    double total = 0;
    for (int32_t i = 0; i < g->n_nodes; i++)
        total += acc[i];
    printf("=== Profile (%d runs, average per run) ===\n", ok);
    printf("%10s %7s  %-16s %s\n", "ms", "%", "op", "layer");
    for (int32_t i = 0; ok && i < g->n_nodes; i++)
        printf("%10.4f %6.2f%%  %-16s %s\n", acc[i] / ok, total > 0 ? 100 * acc[i] / total : 0,
               kiln_op_names[g->nodes[i].op], g->nodes[i].name);
    if (ok) printf("%10.4f 100.00%%  total\n", total / ok);
    free(acc);
    free(one);
}

int kiln_cmd_bench(int argc, char **argv) {
    kiln_cli c;
    if (kiln_cli_parse(&c, argc, argv, 1)) return 2;
    bool help;
    if (kiln_cli_get_bool(&c, "help", false, &help)) return 2;
    if (help) {
        usage();
        return 0;
    }
    bench_flags f;
    kiln_load_options lo;
    if (parse(&c, &f) || kiln_cli_model_options(&c, "kiln bench", &lo)) return 2;
    if (kiln_cli_check_unused(&c, "kiln bench")) return 2;
    kiln_build_options bo = kiln_build_options_default();
    bo.max_batch = f.batch;
    bo.threads = (int)f.threads;
    bo.optimize = f.optimize;
    bo.precision = f.precision;
    bo.calibration_table = f.calib_table;
    if (f.backend && kiln_backend_from_name(f.backend, &bo.backend) != KILN_OK)
        return kiln_cli_fail("kiln bench", KILN_ERR_INVALID_ARGUMENT);

    double t0 = now_ms();
    kiln_model *m = NULL;
    kiln_engine *e = NULL;
    kiln_status s = kiln_model_load(&lo, &m);
    if (s != KILN_OK) return kiln_cli_fail("kiln bench", s);
    double t_load = now_ms() - t0;
    if (kiln_model_num_inputs(m) != 1) {
        fprintf(stderr, "kiln bench: the model has %d inputs; kiln bench feeds exactly one\n",
                kiln_model_num_inputs(m));
        kiln_model_destroy(m);
        return 2;
    }
    t0 = now_ms();
    s = kiln_engine_build(m, &bo, &e);
    double t_build = now_ms() - t0;
    if (s != KILN_OK) {
        kiln_model_destroy(m);
        return kiln_cli_fail("kiln bench", s);
    }
    const kiln_value *iv = &e->graph->values[e->graph->inputs[0]];
    int64_t dims[KILN_MAX_RANK];
    memcpy(dims, iv->dims, sizeof dims);
    dims[0] = f.batch;
    size_t n = (size_t)kiln_numel(iv->rank, dims);
    float *x = malloc(n * sizeof(float));
    size_t cap = 1 << 16;
    double *lat = malloc(cap * sizeof(double)), *start = malloc(cap * sizeof(double));
    int rc = 0;
    if (!x || !lat || !start) {
        rc = kiln_cli_fail("kiln bench", KILN_ERR_NO_MEMORY);
        goto done;
    }
    if ((rc = fill_input(&f, x, n))) goto done;

    /* warm-up: at least one run */
    double w0 = now_ms();
    do {
        if ((s = kiln_engine_set_input(e, 0, x, dims, iv->rank)) != KILN_OK ||
            (s = kiln_engine_run(e)) != KILN_OK) {
            rc = kiln_cli_fail("kiln bench", s);
            goto done;
        }
    } while (now_ms() - w0 < (double)f.warmup_ms);

    size_t iters = 0;
    double b0 = now_ms();
    while (iters < (size_t)f.iterations || now_ms() - b0 < 1e3 * (double)f.duration_s) {
        if (iters == cap) break;
        double t = now_ms();
        if ((s = kiln_engine_set_input(e, 0, x, dims, iv->rank)) != KILN_OK ||
            (s = kiln_engine_run(e)) != KILN_OK) {
            rc = kiln_cli_fail("kiln bench", s);
            goto done;
        }
        start[iters] = t;
        lat[iters] = now_ms() - t;
        iters++;
    }
    double wall = now_ms() - b0;
    if (f.export_times && (rc = export_times(f.export_times, start, lat, iters))) goto done;
    qsort(lat, iters, sizeof(double), cmp_double);
    double sum = 0;
    for (size_t i = 0; i < iters; i++)
        sum += lat[i];
    double mean = sum / (double)iters, var = 0;
    for (size_t i = 0; i < iters; i++)
        var += (lat[i] - mean) * (lat[i] - mean);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    kiln_cpu_features cf;
    kiln_cpu_features_get(&cf);
    char isa[128];
    int threads = f.threads ? (int)f.threads : cf.logical_cores;

    printf("=== Model ===\n");
    printf("Model: %s (%s)\n", e->model->graph->source ? e->model->graph->source : "?",
           e->model->graph->format_version ? e->model->graph->format_version : "?");
    int n8 = 0, n8c = 0;
    kiln_engine_int8_layers(e, &n8, &n8c);
    char prec[64];
    if (f.precision == KILN_PRECISION_INT8)
        snprintf(prec, sizeof prec, "INT8 (INT8 layers %d/%d)", n8, n8c);
    else
        snprintf(prec, sizeof prec, "FP32");
    printf("Backend: %s  Precision: %s  Threads: %d  Batch: %lld\n", e->backend->name, prec,
           threads, (long long)f.batch);
    printf("CPU: %s, %d logical cores, ISA %s\n", cf.model, cf.logical_cores,
           kiln_cpu_isa_string(&cf, isa, sizeof isa));
    printf("Load time: %.1f ms  Build time: %.1f ms  Peak RSS: %.1f MB\n", t_load, t_build,
           (double)ru.ru_maxrss / 1024.0);
    printf("=== Performance summary ===\n");
    printf("Throughput: %.2f images/s (%.2f batches/s of %lld)\n",
           (double)iters * (double)f.batch / (wall / 1e3), (double)iters / (wall / 1e3),
           (long long)f.batch);
    printf("Latency: min = %.4f ms, max = %.4f ms, mean = %.4f ms, median = %.4f ms, "
           "percentile(90%%) = %.4f ms, percentile(95%%) = %.4f ms, percentile(99%%) = %.4f ms",
           lat[0], lat[iters - 1], mean, pct(lat, iters, 50), pct(lat, iters, 90),
           pct(lat, iters, 95), pct(lat, iters, 99));
    if (f.percentile != 90 && f.percentile != 95 && f.percentile != 99 && f.percentile != 50)
        printf(", percentile(%g%%) = %.4f ms", f.percentile, pct(lat, iters, f.percentile));
    printf("\nLatency spread: stddev = %.4f ms, (p90 - median) / median = %.1f%%\n",
           sqrt(var / (double)iters),
           100.0 * (pct(lat, iters, 90) - pct(lat, iters, 50)) / pct(lat, iters, 50));
    printf("Iterations: %zu  Total host walltime: %.3f s  (latency = host wall clock of one "
           "run: input copy + compute + output copy)\n",
           iters, wall / 1e3);
    if (f.dump_profile) dump_profile(e, f.batch, 10);
done:
    free(x);
    free(lat);
    free(start);
    kiln_engine_destroy(e);
    kiln_model_destroy(m);
    return rc;
}
