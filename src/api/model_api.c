/*
 * model_api.c — kiln_model_* of kiln.h: load, query, add outputs.
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "engine/engine.h"
#include "load/load.h"

kiln_status kiln_model_load(const kiln_load_options *opts, kiln_model **out) {
    if (!out) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "kiln_model_load: out is NULL");
    *out = NULL;
    kiln_model *m = calloc(1, sizeof *m);
    if (!m) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    m->logger = opts ? opts->logger : kiln_logger_default();
    kiln_status s = kiln_load(opts, &m->graph);
    if (s == KILN_OK) s = kiln_graph_verify(m->graph);
    if (s != KILN_OK) {
        kiln_model_destroy(m);
        return s;
    }
    kiln_log(&m->logger, KILN_LOG_INFO, "loaded %s: %s, %d nodes, %d tensors",
             m->graph->source ? m->graph->source : "model",
             m->graph->format_version ? m->graph->format_version : "?", (int)m->graph->n_nodes,
             (int)m->graph->n_values);
    *out = m;
    return KILN_OK;
}

kiln_status kiln_model_load_path(const char *path, const kiln_logger *logger, kiln_model **out) {
    if (!path) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "kiln_model_load_path: path is NULL");
    kiln_load_options o = kiln_load_options_default();
    if (logger) o.logger = *logger;
    o.model_file = path;
    return kiln_model_load(&o, out);
}

void kiln_model_destroy(kiln_model *m) {
    if (!m) return;
    kiln_graph_destroy(m->graph);
    free(m);
}

kiln_model_format kiln_model_get_format(const kiln_model *m) {
    return m ? m->graph->format : KILN_FORMAT_UNKNOWN;
}

int kiln_model_num_inputs(const kiln_model *m) {
    return m ? (int)m->graph->n_inputs : 0;
}
int kiln_model_num_outputs(const kiln_model *m) {
    return m ? (int)m->graph->n_outputs : 0;
}

const char *kiln_model_input_name(const kiln_model *m, int i) {
    if (!m || i < 0 || i >= m->graph->n_inputs) return NULL;
    return m->graph->values[m->graph->inputs[i]].name;
}

const char *kiln_model_output_name(const kiln_model *m, int i) {
    if (!m || i < 0 || i >= m->graph->n_outputs) return NULL;
    return m->graph->values[m->graph->outputs[i]].name;
}

kiln_status kiln_model_input_shape(const kiln_model *m, int i, int64_t dims[KILN_MAX_RANK],
                                   int *rank) {
    if (!m || !dims || !rank || i < 0 || i >= m->graph->n_inputs)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "kiln_model_input_shape: bad argument");
    const kiln_value *v = &m->graph->values[m->graph->inputs[i]];
    *rank = v->rank;
    memcpy(dims, v->dims, sizeof(int64_t) * (size_t)v->rank);
    return KILN_OK;
}

kiln_status kiln_model_add_output(kiln_model *m, const char *name) {
    if (!m || !name) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "kiln_model_add_output: NULL");
    int32_t id = kiln_graph_find_value(m->graph, name);
    if (id < 0)
        return kiln_error(KILN_ERR_NOT_FOUND,
                          "no tensor named '%s' in the model; `kiln inspect` lists the names",
                          name);
    if (m->graph->values[id].data)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "'%s' is a parameter, not an activation; it cannot be an output", name);
    if (m->graph->values[id].producer < 0 && !(m->graph->values[id].flags & KILN_VALUE_INPUT))
        return kiln_error(KILN_ERR_NOT_FOUND, "tensor '%s' is not produced by any node", name);
    return kiln_graph_add_output(m->graph, id);
}
