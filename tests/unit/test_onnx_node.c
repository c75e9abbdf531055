/*
 * test_onnx_node.c — ONNX's own backend node tests (Debian libonnx-testdata:
 * data/node, data/pytorch-converted, data/pytorch-operator, data/simple) on
 * the ONNX loader + reference backend.
 *
 * Every case directory whose model uses only op types the loader maps is a
 * "candidate"; each candidate must be listed in tests/onnx_node/CASES.md as
 * `run` (must load, run and match every output_N.pb) or `skip` (with the
 * reason). A candidate missing from the table, a `run` case that fails, or a
 * `run` case whose directory is missing fails the test, so nothing is
 * skipped silently. Tolerance: |kiln - ref| <= 1e-5 + 1e-5 * |ref| per element
 * (float32 kernels; the ONNX runner itself allows rtol 1e-3, atol 1e-7).
 *
 * Env: KILN_ONNX_TESTDATA (default /usr/share/libonnx-testdata/data),
 * KILN_SRC (for CASES.md). Skips (77) if the test data is not installed.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/file.h"
#include "core/status.h"
#include "load/load.h"
#include "load/onnx.h"
#include "load/onnx_tensor.h"
#include "load/pb_wire.h"
#include "test_util.h"

/* The backend under test: ref, or $KILN_TEST_BACKEND (test-only state). */
static const kiln_backend *be;
/* Set when the backend under test refuses a case (unsupported_reason): such
 * cases are listed and counted apart, never counted as passed. */
static int refused;

#define ATOL 1e-5
#define RTOL 1e-5

typedef struct entry {
    char name[160]; /* "node/test_relu" */
    int run;        /* 1 run, 0 skip */
    int seen;
    char bind[256]; /* "bind=a,b": graph inputs frozen to their test values */
} entry;

/* snprintf that reports truncation (paths here are short; a cut one is a bug). */
#define FMT(buf, ...)                                                                              \
    do {                                                                                           \
        int fmt_n_ = snprintf(buf, sizeof buf, __VA_ARGS__);                                       \
        if (fmt_n_ < 0 || (size_t)fmt_n_ >= sizeof buf) fprintf(stderr, "path too long\n");        \
    } while (0)

static entry *entries;
static int n_entries;

/* Trims spaces in place. */
static char *trim(char *t) {
    while (*t == ' ')
        t++;
    size_t n = strlen(t);
    while (n && (t[n - 1] == ' ' || t[n - 1] == '\n'))
        t[--n] = 0;
    return t;
}

/* Rows: "| run | node/test_relu | bind=... or empty | note |". */
static int load_cases(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        if (line[0] != '|') continue;
        char *col[4] = {0};
        int nc = 0;
        char *save = NULL;
        for (char *t = strtok_r(line + 1, "|", &save); t && nc < 4; t = strtok_r(NULL, "|", &save))
            col[nc++] = trim(t);
        if (nc < 2 || (strcmp(col[0], "run") && strcmp(col[0], "skip"))) continue;
        entries = realloc(entries, (size_t)(n_entries + 1) * sizeof *entries);
        entry *e = &entries[n_entries++];
        memset(e, 0, sizeof *e);
        snprintf(e->name, sizeof e->name, "%s", col[1]);
        e->run = strcmp(col[0], "run") == 0;
        if (nc >= 3 && !strncmp(col[2], "bind=", 5))
            snprintf(e->bind, sizeof e->bind, "%s", col[2] + 5);
    }
    fclose(f);
    return n_entries;
}

static entry *find_entry(const char *name) {
    for (int i = 0; i < n_entries; i++)
        if (!strcmp(entries[i].name, name)) return &entries[i];
    return NULL;
}

enum { MAX_IN = 16 };

typedef struct model_info {
    int n_inputs; /* graph inputs that are not initializers, in order */
    char inputs[MAX_IN][128];
} model_info;

/* 1 if every node of the model uses a supported op (default domain), 0 if
 * not, -1 if unreadable. Fills the model's graph input names. */
static int model_scan(const char *path, model_info *mi) {
    kiln_mapping m;
    memset(mi, 0, sizeof *mi);
    if (kiln_map_file(path, &m) != KILN_OK) return -1;
    int ok = 1, nodes = 0;
    char inits[256][128];
    int n_inits = 0;
    kiln_pb top = kiln_pb_init(m.data, m.size, 0);
    kiln_pb_field f, g, x;
    while (kiln_pb_next(&top, &f) == 1) {
        if (f.number != 7 || f.wire_type != KILN_PB_LEN) continue;
        for (int pass = 0; pass < 2; pass++) {
            kiln_pb gm = kiln_pb_sub(&top, &f);
            while (kiln_pb_next(&gm, &g) == 1) {
                if (g.wire_type != KILN_PB_LEN) continue;
                kiln_pb nm = kiln_pb_sub(&gm, &g);
                char op[128] = "", dom[128] = "", name[128] = "";
                while (kiln_pb_next(&nm, &x) == 1) {
                    if (x.wire_type != KILN_PB_LEN || x.len >= 128) continue;
                    if (x.number == 4) memcpy(op, x.data, x.len), op[x.len] = 0;
                    if (x.number == 7) memcpy(dom, x.data, x.len), dom[x.len] = 0;
                    if (x.number == 8 || x.number == 1)
                        memcpy(name, x.data, x.len), name[x.len] = 0;
                }
                if (pass == 0 && g.number == 1) {
                    nodes++;
                    if ((dom[0] && strcmp(dom, "ai.onnx")) || !kiln_onnx_op_supported(op)) ok = 0;
                }
                /* TensorProto.name is field 8; ValueInfoProto.name field 1. */
                if (pass == 0 && g.number == 5 && n_inits < 256) {
                    kiln_pb tm = kiln_pb_sub(&gm, &g);
                    name[0] = 0;
                    while (kiln_pb_next(&tm, &x) == 1)
                        if (x.number == 8 && x.wire_type == KILN_PB_LEN && x.len < 128)
                            memcpy(name, x.data, x.len), name[x.len] = 0;
                    snprintf(inits[n_inits++], 128, "%s", name);
                }
                if (pass == 1 && g.number == 11) {
                    kiln_pb vm = kiln_pb_sub(&gm, &g);
                    name[0] = 0;
                    while (kiln_pb_next(&vm, &x) == 1)
                        if (x.number == 1 && x.wire_type == KILN_PB_LEN && x.len < 128)
                            memcpy(name, x.data, x.len), name[x.len] = 0;
                    int is_init = 0;
                    for (int i = 0; i < n_inits; i++)
                        is_init |= !strcmp(inits[i], name);
                    if (!is_init && mi->n_inputs < MAX_IN)
                        snprintf(mi->inputs[mi->n_inputs++], 128, "%s", name);
                }
            }
        }
    }
    if (top.error) ok = -1;
    kiln_unmap(&m);
    return nodes ? ok : 0;
}

/* Is `name` in the comma-separated list? */
static int in_list(const char *list, const char *name) {
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *q = strchr(p, ',');
        size_t l = q ? (size_t)(q - p) : strlen(p);
        if (l == n && !strncmp(p, name, n)) return 1;
        if (!q) break;
        p = q + 1;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted subdirectory names of dir (malloc'ed array of malloc'ed strings). */
static int list_dir(const char *dir, char ***out) {
    DIR *d = opendir(dir);
    *out = NULL;
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        *out = realloc(*out, (size_t)(n + 1) * sizeof **out);
        (*out)[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(*out, (size_t)n, sizeof **out, cmp_str);
    return n;
}

static void free_list(char **l, int n) {
    for (int i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

/* Runs one test_data_set directory; returns 1 on pass, 0 on failure (printed). */
static int run_data_set(const char *cname, const char *model, const model_info *mi,
                        const char *bind, const char *ds) {
    char p[4096];
    kiln_graph *g0 = NULL, *g = NULL;
    void *exec = NULL;
    int ok = 0;
    float *in_data[MAX_IN] = {0};
    int32_t in_rank[MAX_IN];
    int64_t in_dims[MAX_IN][KILN_MAX_RANK];
    kiln_dtype in_dt[MAX_IN];
    kiln_onnx_binding bd[MAX_IN];
    void *bd_data[MAX_IN] = {0};
    int nb = 0, fed[MAX_IN], n_fed = 0;
    for (int i = 0; i < mi->n_inputs; i++) {
        FMT(p, "%s/input_%d.pb", ds, i);
        if (kiln_onnx_read_tensor_file(p, &in_data[i], &in_rank[i], in_dims[i], &in_dt[i]) !=
            KILN_OK)
            goto fail_status;
        if (!in_list(bind, mi->inputs[i])) {
            fed[n_fed++] = i;
            continue;
        }
        /* Freeze this input to its test value, in its own dtype (ints are small). */
        int64_t n = kiln_numel(in_rank[i], in_dims[i]);
        kiln_onnx_binding *b = &bd[nb];
        memset(b, 0, sizeof *b);
        b->name = mi->inputs[i];
        b->dtype = in_dt[i] == KILN_DT_I64 || in_dt[i] == KILN_DT_I32 ? KILN_DT_I64 : KILN_DT_F32;
        b->rank = in_rank[i];
        memcpy(b->dims, in_dims[i], sizeof b->dims);
        bd_data[nb] = malloc((size_t)(n ? n : 1) * 8);
        for (int64_t k = 0; k < n; k++) {
            if (b->dtype == KILN_DT_I64)
                ((int64_t *)bd_data[nb])[k] = (int64_t)in_data[i][k];
            else
                ((float *)bd_data[nb])[k] = in_data[i][k];
        }
        b->data = bd_data[nb++];
    }
    kiln_onnx_options o = {0, bd, nb};
    kiln_logger lg = kiln_logger_default();
    lg.max_level = KILN_LOG_ERROR;
    if (kiln_load_onnx_ex(model, &o, &lg, &g0) != KILN_OK) goto fail_status;
    if (kiln_graph_clone(g0, &g) != KILN_OK) goto fail_status;
    if (g->n_inputs != n_fed) {
        printf("  %s: the graph has %d inputs, the data set feeds %d\n", cname, (int)g->n_inputs,
               n_fed);
        goto done;
    }
    for (int32_t i = 0; i < g->n_inputs; i++) {
        kiln_value *v = &g->values[g->inputs[i]];
        int k = fed[i];
        if (v->rank != in_rank[k]) {
            printf("  %s: input %d has rank %d in the model, %d in the data\n", cname, (int)i,
                   (int)v->rank, (int)in_rank[k]);
            goto done;
        }
        memcpy(v->dims, in_dims[k], sizeof in_dims[k]);
    }
    if (kiln_infer_shapes(g) != KILN_OK) goto fail_status;
    kiln_backend_options bo = {1, KILN_PRECISION_FP32, NULL};
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const char *why = be->unsupported_reason(g, i);
        if (why) {
            printf("  %s: refused by backend %s: %s\n", cname, be->name, why);
            refused = 1;
            goto done;
        }
    }
    if (be->create(g, &bo, &exec) != KILN_OK) goto fail_status;
    for (int32_t i = 0; i < g->n_inputs; i++) {
        const kiln_value *v = &g->values[g->inputs[i]];
        if (be->write_value(exec, g->inputs[i], in_data[fed[i]],
                            (size_t)kiln_numel(v->rank, v->dims)) != KILN_OK)
            goto fail_status;
    }
    int64_t batch = 1;
    for (int32_t i = 0; i < g->n_inputs; i++)
        if (g->values[g->inputs[i]].rank >= 1) {
            batch = g->values[g->inputs[i]].dims[0];
            break;
        }
    if (batch < 1) batch = 1;
    if (be->run(exec, batch) != KILN_OK) goto fail_status;
    ok = 1;
    for (int32_t k = 0; k < g->n_outputs && ok; k++) {
        FMT(p, "%s/output_%d.pb", ds, (int)k);
        float *ref, *got;
        int32_t rank;
        int64_t dims[KILN_MAX_RANK];
        kiln_dtype dt;
        if (kiln_onnx_read_tensor_file(p, &ref, &rank, dims, &dt) != KILN_OK) {
            ok = 0;
            goto fail_status;
        }
        const kiln_value *v = &g->values[g->outputs[k]];
        int64_t n = kiln_numel(v->rank, v->dims);
        int same = v->rank == rank;
        for (int32_t d = 0; same && d < rank; d++)
            same = v->dims[d] == dims[d];
        if (!same) {
            char b1[160], b2[160];
            printf("  %s: output %d '%s': shape %s, expected %s\n", cname, (int)k, v->name,
                   kiln_shape_str(v->rank, v->dims, b1, sizeof b1),
                   kiln_shape_str(rank, dims, b2, sizeof b2));
            free(ref);
            ok = 0;
            break;
        }
        got = malloc((size_t)(n ? n : 1) * sizeof(float));
        if (be->read_value(exec, g->outputs[k], got, (size_t)n) != KILN_OK) {
            free(ref);
            free(got);
            ok = 0;
            goto fail_status;
        }
        for (int64_t i = 0; i < n; i++) {
            double a = got[i], b = ref[i];
            if (!(fabs(a - b) <= ATOL + RTOL * fabs(b)) && !(isnan(a) && isnan(b)) &&
                !(isinf(a) && a == b)) {
                printf("  %s: output %d '%s' element %lld: %.9g, expected %.9g\n", cname, (int)k,
                       v->name, (long long)i, a, b);
                ok = 0;
                break;
            }
        }
        free(ref);
        free(got);
    }
    goto done;
fail_status:
    printf("  %s: %s\n", cname, kiln_last_error());
    ok = 0;
done:
    if (exec) be->destroy(exec);
    kiln_graph_destroy(g);
    kiln_graph_destroy(g0);
    for (int i = 0; i < MAX_IN; i++)
        free(in_data[i]);
    for (int i = 0; i < nb; i++)
        free(bd_data[i]);
    return ok;
}

static int run_case(const char *cname, const char *dir, const model_info *mi, const char *bind) {
    char p[4096], model[4096];
    FMT(model, "%s/model.onnx", dir);
    char **sets;
    int ns = list_dir(dir, &sets), n_run = 0, ok = 1;
    for (int i = 0; i < ns; i++) {
        if (strncmp(sets[i], "test_data_set", 13)) continue;
        FMT(p, "%s/%s", dir, sets[i]);
        n_run++;
        if (!run_data_set(cname, model, mi, bind, p)) ok = 0;
    }
    free_list(sets, ns);
    if (!n_run) {
        printf("  %s: no test_data_set directory\n", cname);
        ok = 0;
    }
    return ok;
}

int main(int argc, char **argv) {
    const char *bname = getenv("KILN_TEST_BACKEND");
    kiln_backend_kind bk = KILN_BACKEND_REF;
    if (bname && kiln_backend_from_name(bname, &bk) != KILN_OK) {
        printf("bad KILN_TEST_BACKEND=%s\n", bname);
        return 1;
    }
    be = kiln_backend_get(bk);
    if (!be) kt_skip("the requested backend is not compiled in");
    printf("backend: %s\n", be->name);
    const char *root = getenv("KILN_ONNX_TESTDATA");
    if (!root) root = "/usr/share/libonnx-testdata/data";
    char p[4096];
    FMT(p, "%s/node", root);
    if (!kiln_is_dir(p))
        kt_skip("ONNX backend test data not installed (apt-get install "
                "libonnx-testdata) or KILN_ONNX_TESTDATA unset");
    const char *src = getenv("KILN_SRC");
    FMT(p, "%s/tests/onnx_node/CASES.md", src ? src : ".");
    int ne = load_cases(p);
    KT_CHECK(ne > 0, "cannot read the case table %s (set KILN_SRC)", p);
    if (ne <= 0) return kt_finish("test_onnx_node");
    /* Optional filter for debugging: test_onnx_node <substring>. */
    const char *filter = argc > 1 ? argv[1] : NULL;
    static const char *const kinds[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};
    int n_cand = 0, n_pass = 0, n_skip = 0, n_other = 0, n_fail = 0, n_unexpected = 0;
    int n_refused = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        char kd[4096];
        FMT(kd, "%s/%s", root, kinds[k]);
        char **cases;
        int nc = list_dir(kd, &cases);
        for (int i = 0; i < nc; i++) {
            char cname[320], dir[4096], model[4096];
            FMT(cname, "%s/%s", kinds[k], cases[i]);
            if (filter && !strstr(cname, filter)) continue;
            FMT(dir, "%s/%s", kd, cases[i]);
            FMT(model, "%s/model.onnx", dir);
            if (!kiln_is_file(model)) continue;
            model_info mi;
            int cand = model_scan(model, &mi);
            entry *e = find_entry(cname);
            if (e) e->seen = 1;
            if (cand != 1) {
                n_other++;
                KT_CHECK(!e,
                         "%s is listed in CASES.md but uses op types the loader does not "
                         "map",
                         cname);
                continue;
            }
            n_cand++;
            KT_CHECK(e != NULL, "%s uses only supported ops but is not classified in CASES.md",
                     cname);
            if (!e) continue;
            if (!e->run) {
                n_skip++;
                /* Informational: a skipped case that now passes can be promoted. */
                if (getenv("KILN_ONNX_NODE_CHECK_SKIPS") && run_case(cname, dir, &mi, e->bind)) {
                    printf("  note: skipped case %s passes now\n", cname);
                    n_unexpected++;
                }
                continue;
            }
            refused = 0;
            int ok = run_case(cname, dir, &mi, e->bind);
            if (refused) {
                n_refused++;
                continue;
            }
            KT_CHECK(ok, "%s failed", cname);
            if (ok)
                n_pass++;
            else
                n_fail++;
        }
        free_list(cases, nc);
    }
    for (int i = 0; i < n_entries && !filter; i++)
        KT_CHECK(entries[i].seen || !entries[i].run, "%s is listed as run but is missing",
                 entries[i].name);
    printf("onnx node tests: %d candidates (supported ops): %d passed, %d failed, %d skipped "
           "(reasons in CASES.md); %d cases use other ops",
           n_cand, n_pass, n_fail, n_skip, n_other);
    if (n_unexpected) printf("; %d skipped cases pass now", n_unexpected);
    if (n_refused) printf("; %d refused by backend %s (listed above)", n_refused, be->name);
    printf("\n");
    /* the reference backend runs every supported op: it may refuse nothing */
    KT_CHECK(be != &kiln_backend_ref || n_refused == 0, "ref refused %d cases", n_refused);
    free(entries);
    return kt_finish("test_onnx_node");
}
