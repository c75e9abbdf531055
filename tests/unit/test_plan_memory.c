/*
 * test_plan_memory.c — the activation arena planner: on random graphs with
 * skip connections and on ResNet50, no two values whose lifetimes overlap
 * share a byte (lifetimes recomputed here independently), offsets are
 * aligned, and reuse makes the arena smaller than the sum of the values.
 */
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "model/resnet50.h"
#include "passes/passes.h"
#include "test_util.h"

/* live range [first, last] in node time; inputs start at -1, outputs end at n_nodes */
static void lifetimes(const kiln_graph *g, int32_t *first, int32_t *last) {
    for (int32_t v = 0; v < g->n_values; v++) {
        first[v] = (g->values[v].flags & KILN_VALUE_INPUT) ? -1 : INT32_MAX;
        last[v] = INT32_MIN;
    }
    for (int32_t i = 0; i < g->n_nodes; i++) {
        for (int32_t k = 0; k < g->nodes[i].n_outputs; k++) {
            int32_t v = g->nodes[i].outputs[k];
            if (i < first[v]) first[v] = i;
            if (i > last[v]) last[v] = i;
        }
        for (int32_t k = 0; k < g->nodes[i].n_inputs; k++) {
            int32_t v = g->nodes[i].inputs[k];
            if (v >= 0 && i > last[v]) last[v] = i;
        }
    }
    for (int32_t i = 0; i < g->n_outputs; i++)
        last[g->outputs[i]] = g->n_nodes;
}

static void check_plan(const kiln_graph *g, const size_t *bytes, size_t align, const char *what,
                       double *ratio) {
    size_t *off = malloc(sizeof(size_t) * (size_t)g->n_values);
    int32_t *first = malloc(sizeof(int32_t) * (size_t)g->n_values);
    int32_t *last = malloc(sizeof(int32_t) * (size_t)g->n_values);
    size_t total = 0, sum = 0;
    KT_OK(kiln_plan_memory(g, bytes, align, off, &total));
    lifetimes(g, first, last);
    int overlaps = 0, unaligned = 0, out_of_arena = 0, missing = 0;
    for (int32_t a = 0; a < g->n_values; a++) {
        if (!bytes[a] || g->values[a].data) continue;
        sum += bytes[a];
        if (off[a] == SIZE_MAX) {
            missing++;
            continue;
        }
        if (off[a] % align) unaligned++;
        if (off[a] + bytes[a] > total) out_of_arena++;
        for (int32_t b = a + 1; b < g->n_values; b++) {
            if (!bytes[b] || g->values[b].data || off[b] == SIZE_MAX) continue;
            bool time = first[a] <= last[b] && first[b] <= last[a];
            bool space = off[a] < off[b] + bytes[b] && off[b] < off[a] + bytes[a];
            if (time && space) overlaps++;
        }
    }
    KT_CHECK(missing == 0 && unaligned == 0 && out_of_arena == 0,
             "%s: missing %d unaligned %d outside %d", what, missing, unaligned, out_of_arena);
    KT_CHECK(overlaps == 0, "%s: %d overlapping live pairs", what, overlaps);
    KT_CHECK(total <= sum + (size_t)g->n_values * align, "%s: arena %zu > sum %zu", what, total,
             sum);
    if (ratio) *ratio = (double)total / (double)sum;
    free(off);
    free(first);
    free(last);
}

/* chain of relus where node i also adds the output of node i-k (skip) */
static void random_graph(uint64_t seed) {
    kiln_rng r = kiln_rng_seed(seed);
    kiln_graph *g;
    kiln_graph_create(&g);
    int64_t d[1] = {1};
    int32_t n = 20 + (int32_t)(kiln_rng_next(&r) % 40);
    int32_t *vals = malloc(sizeof(int32_t) * (size_t)(n + 1));
    kiln_graph_add_value(g, "in", KILN_DT_F32, 1, d, &vals[0]);
    kiln_graph_add_input(g, vals[0]);
    for (int32_t i = 1; i <= n; i++) {
        char name[32];
        snprintf(name, sizeof name, "v%d", (int)i);
        kiln_graph_add_value(g, name, KILN_DT_F32, 1, d, &vals[i]);
        int32_t skip = (int32_t)(kiln_rng_next(&r) % (uint64_t)i);
        if (kiln_rng_next(&r) % 3 == 0)
            kiln_graph_add_node(g, KILN_OP_ADD, name, 2, (int32_t[]){vals[i - 1], vals[skip]}, 1,
                                &vals[i], NULL, NULL);
        else
            kiln_graph_add_node(g, KILN_OP_RELU, name, 1, &vals[i - 1], 1, &vals[i], NULL, NULL);
    }
    kiln_graph_add_output(g, vals[n]);
    if (kiln_rng_next(&r) % 2) kiln_graph_add_output(g, vals[n / 2]);
    size_t *bytes = malloc(sizeof(size_t) * (size_t)g->n_values);
    for (int32_t v = 0; v < g->n_values; v++)
        bytes[v] = 1 + kiln_rng_next(&r) % 5000;
    char what[64];
    snprintf(what, sizeof what, "random graph seed %llu", (unsigned long long)seed);
    check_plan(g, bytes, 64, what, NULL);
    free(bytes);
    free(vals);
    kiln_graph_destroy(g);
}

int main(void) {
    for (uint64_t s = 1; s <= 200; s++)
        random_graph(s);

    kiln_graph *g = NULL;
    KT_OK(kiln_model_generate_resnet50(1, &g));
    if (g) {
        for (int32_t i = 0; i < g->n_inputs; i++)
            g->values[g->inputs[i]].dims[0] = 1;
        KT_OK(kiln_infer_shapes(g));
        KT_OK(kiln_passes_run(g, NULL, NULL));
        KT_OK(kiln_infer_shapes(g));
        size_t *bytes = calloc((size_t)g->n_values, sizeof(size_t));
        for (int32_t v = 0; v < g->n_values; v++)
            if (!g->values[v].data &&
                (g->values[v].producer >= 0 || (g->values[v].flags & KILN_VALUE_INPUT)))
                bytes[v] = (size_t)kiln_numel(g->values[v].rank, g->values[v].dims) * 4;
        double ratio = 1;
        check_plan(g, bytes, 64, "resnet50", &ratio);
        printf("resnet50 arena / sum of activations = %.3f\n", ratio);
        KT_CHECK(ratio < 0.5, "reuse: arena is %.2f of the sum", ratio);
        free(bytes);
        kiln_graph_destroy(g);
    }
    return kt_finish("test_plan_memory");
}
