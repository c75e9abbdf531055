/*
 * plan_memory.c — places every activation of a graph in one arena by
 * lifetimes: a value lives from the node that writes it to the last node that
 * reads it (graph inputs from the start, graph outputs to the end). Greedy:
 * values in order of first write, each at the lowest aligned offset that does
 * not overlap a live value (first fit over the sorted live intervals).
 *
 * Non-goals: optimal packing; in-place reuse of an input by its consumer
 * (a backend may add that itself).
 */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "passes/passes.h"

typedef struct {
    size_t off, end;
    int32_t last; /* last node reading it */
} placed;

static size_t align_up(size_t x, size_t a) {
    return (x + a - 1) / a * a;
}

kiln_status kiln_plan_memory(const kiln_graph *g, const size_t *bytes, size_t align,
                             size_t *offsets, size_t *total) {
    int32_t nv = g->n_values, nn = g->n_nodes;
    int32_t *first = malloc(sizeof(int32_t) * ((size_t)nv + 1));
    int32_t *last = malloc(sizeof(int32_t) * ((size_t)nv + 1));
    placed *live = malloc(sizeof(placed) * ((size_t)nv + 1));
    if (!first || !last || !live) {
        free(first);
        free(last);
        free(live);
        return kiln_error(KILN_ERR_NO_MEMORY, "out of memory planning activations");
    }
    for (int32_t v = 0; v < nv; v++) {
        first[v] = (g->values[v].flags & KILN_VALUE_INPUT) ? -1 : nn;
        last[v] = -2;
        offsets[v] = SIZE_MAX;
    }
    for (int32_t i = 0; i < nn; i++) {
        const kiln_node *n = &g->nodes[i];
        for (int32_t k = 0; k < n->n_outputs; k++)
            if (first[n->outputs[k]] > i) first[n->outputs[k]] = i;
        for (int32_t k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] != KILN_NO_VALUE && last[n->inputs[k]] < i) last[n->inputs[k]] = i;
    }
    for (int32_t i = 0; i < g->n_outputs; i++)
        last[g->outputs[i]] = nn; /* read after the run */
    for (int32_t v = 0; v < nv; v++)
        if (last[v] < first[v]) last[v] = first[v]; /* written, never read: lives one node */

    size_t top = 0;
    int32_t n_live = 0;
    /* visit values by time of first write: inputs (-1), then node order */
    for (int32_t t = -1; t < nn; t++) {
        /* retire values whose last use is before t */
        int32_t w = 0;
        for (int32_t k = 0; k < n_live; k++)
            if (live[k].last >= t) live[w++] = live[k];
        n_live = w;
        for (int32_t v = 0; v < nv; v++) {
            if (first[v] != t || bytes[v] == 0 || g->values[v].data) continue;
            size_t size = align_up(bytes[v], align), off = 0;
            /* live[] is sorted by offset: first gap that fits */
            int32_t pos = 0;
            for (; pos < n_live; pos++) {
                if (off + size <= live[pos].off) break;
                if (live[pos].end > off) off = align_up(live[pos].end, align);
            }
            memmove(&live[pos + 1], &live[pos], sizeof(placed) * (size_t)(n_live - pos));
            live[pos].off = off;
            live[pos].end = off + size;
            live[pos].last = last[v];
            n_live++;
            offsets[v] = off;
            if (off + size > top) top = off + size;
        }
    }
    *total = top;
    free(first);
    free(last);
    free(live);
    return KILN_OK;
}
