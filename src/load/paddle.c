/*
 * paddle.c — loading a Paddle model: the program, then its params from a
 * combined file or one file per variable (zero-copy mmaps), tolerating
 * missing per-file params for tools (kiln_paddle_load_partial), and
 * kiln_load_paddle(), which insists on every param. The program -> IR
 * mapping lives in paddle_ops.c.
 * Non-goals: sub-blocks, LoD, params outside block 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "load/load.h"
#include "load/paddle.h"

int32_t kiln_paddle_dtype_from_kiln(kiln_dtype t) {
    switch (t) {
    case KILN_DT_F32: return KILN_PD_FP32;
    case KILN_DT_F16: return KILN_PD_FP16;
    case KILN_DT_F64: return KILN_PD_FP64;
    case KILN_DT_I8: return KILN_PD_INT8;
    case KILN_DT_U8: return KILN_PD_UINT8;
    case KILN_DT_I16: return KILN_PD_INT16;
    case KILN_DT_I32: return KILN_PD_INT32;
    case KILN_DT_I64: return KILN_PD_INT64;
    case KILN_DT_BOOL: return KILN_PD_BOOL;
    default: return -1;
    }
}

kiln_dtype kiln_paddle_dtype_to_kiln(int32_t pd) {
    switch (pd) {
    case KILN_PD_FP32: return KILN_DT_F32;
    case KILN_PD_FP16: return KILN_DT_F16;
    case KILN_PD_FP64: return KILN_DT_F64;
    case KILN_PD_INT8: return KILN_DT_I8;
    case KILN_PD_UINT8: return KILN_DT_U8;
    case KILN_PD_INT16: return KILN_DT_I16;
    case KILN_PD_INT32: return KILN_DT_I32;
    case KILN_PD_INT64: return KILN_DT_I64;
    case KILN_PD_BOOL: return KILN_DT_BOOL;
    default: return KILN_DT_COUNT;
    }
}

void kiln_paddle_model_destroy(kiln_paddle_model *m) {
    if (!m) return;
    for (int32_t i = 0; i < m->n_params; i++)
        free(m->params[i].file);
    for (int32_t i = 0; i < m->n_maps; i++)
        kiln_unmap(&m->maps[i]);
    for (int32_t i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    kiln_unmap(&m->program_map);
    kiln_paddle_program_destroy(m->program);
    free(m->params);
    free(m->maps);
    free(m->owned);
    free(m->program_path);
    free(m->params_path);
    free(m->params_dir);
    free(m);
}

kiln_paddle_param *kiln_paddle_model_find_param(kiln_paddle_model *m, const char *name) {
    int32_t lo = 0, hi = m->n_params - 1;
    while (lo <= hi) { /* params are strcmp-sorted */
        int32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->params[mid].name, name);
        if (c == 0) return &m->params[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

static char *dup_or_null(const char *s) {
    return s ? strdup(s) : NULL;
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

static kiln_status load_per_file(kiln_paddle_model *m, const kiln_logger *lg) {
    char path[4096];
    for (int32_t i = 0; i < m->n_params; i++) {
        kiln_paddle_param *p = &m->params[i];
        if (!kiln_paddle_name_is_safe_path(p->name))
            return kiln_error(KILN_ERR_FORMAT,
                              "%s: parameter '%s' has a name that is not a safe relative file "
                              "name; refusing to read it from %s",
                              m->program_path, p->name, m->params_dir);
        KILN_TRY(kiln_path_join(path, sizeof path, m->params_dir, p->name));
        if (!(p->file = strdup(path))) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
        if (!kiln_is_file(path)) {
            m->n_missing++;
            kiln_log(lg, KILN_LOG_INFO, "%s: parameter file missing (persistable variable '%s')",
                     path, p->name);
            continue;
        }
        kiln_mapping *map = &m->maps[m->n_maps];
        KILN_TRY(kiln_paddle_params_read_file(m->params_dir, p->name, map, &p->rec));
        m->n_maps++;
        KILN_TRY(kiln_paddle_record_check(&p->rec, p->var, path));
        p->present = true;
    }
    return KILN_OK;
}

static kiln_status load_combined(kiln_paddle_model *m) {
    kiln_mapping *map = &m->maps[0];
    KILN_TRY(kiln_map_file(m->params_path, map));
    m->n_maps = 1;
    const char **names = malloc(((size_t)m->n_params + 1) * sizeof *names);
    kiln_paddle_record *recs = malloc(((size_t)m->n_params + 1) * sizeof *recs);
    kiln_status s = KILN_OK;
    if (!names || !recs) s = kiln_error(KILN_ERR_NO_MEMORY, "out of memory reading params");
    for (int32_t i = 0; s == KILN_OK && i < m->n_params; i++)
        names[i] = m->params[i].name;
    if (s == KILN_OK)
        s = kiln_paddle_params_read_combined(map->data, map->size, m->params_path, names,
                                             m->n_params, recs);
    for (int32_t i = 0; s == KILN_OK && i < m->n_params; i++) {
        kiln_paddle_param *p = &m->params[i];
        p->rec = recs[i];
        if (!(p->file = strdup(m->params_path))) {
            s = kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
            break;
        }
        s = kiln_paddle_record_check(&p->rec, p->var, m->params_path);
        p->present = s == KILN_OK;
    }
    free(names);
    free(recs);
    return s;
}

static int cmp_var(const void *a, const void *b) {
    const kiln_paddle_var *x = *(const kiln_paddle_var *const *)a;
    const kiln_paddle_var *y = *(const kiln_paddle_var *const *)b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return x < y ? -1 : x > y; /* the first VarDesc of a duplicated name wins */
}

/* m->params: block 0's params in Paddle's sorted order with their VarDescs
 * (the same set and order as kiln_paddle_param_names, in O(n log n)). */
static kiln_status init_params(kiln_paddle_model *m) {
    const kiln_paddle_block *b = &m->program->blocks[0];
    const kiln_paddle_var **v = malloc(((size_t)b->n_vars + 1) * sizeof *v);
    m->params = calloc((size_t)b->n_vars + 1, sizeof *m->params);
    m->maps = calloc((size_t)b->n_vars + 1, sizeof *m->maps);
    if (!v || !m->params || !m->maps) {
        free(v);
        return kiln_error(KILN_ERR_NO_MEMORY, "out of memory listing parameters");
    }
    int32_t n = 0;
    for (int32_t i = 0; i < b->n_vars; i++)
        if (kiln_paddle_var_is_param(&b->vars[i])) v[n++] = &b->vars[i];
    qsort(v, (size_t)n, sizeof *v, cmp_var);
    for (int32_t i = 0; i < n; i++) {
        if (m->n_params && strcmp(m->params[m->n_params - 1].name, v[i]->name) == 0) continue;
        m->params[m->n_params].name = v[i]->name;
        m->params[m->n_params++].var = v[i];
    }
    free(v);
    return KILN_OK;
}

kiln_status kiln_paddle_load_partial(const char *program_path, const char *params_path,
                                     const kiln_logger *logger, kiln_paddle_model **out) {
    *out = NULL;
    if (!program_path) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "Paddle program path is NULL");
    kiln_paddle_model *m = calloc(1, sizeof *m);
    if (!m) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory loading %s", program_path);
    kiln_status s = KILN_OK;
    m->program_path = strdup(program_path);
    m->params_path = dup_or_null(params_path);
    m->params_dir = params_path ? NULL : dir_of(program_path);
    if (!m->program_path || (params_path && !m->params_path) || (!params_path && !m->params_dir))
        s = kiln_error(KILN_ERR_NO_MEMORY, "out of memory loading %s", program_path);
    if (s == KILN_OK) s = kiln_map_file(program_path, &m->program_map);
    if (s == KILN_OK)
        s = kiln_paddle_program_parse(m->program_map.data, m->program_map.size, program_path,
                                      &m->program);
    if (s == KILN_OK) s = init_params(m);
    if (s == KILN_OK) s = params_path ? load_combined(m) : load_per_file(m, logger);
    if (s != KILN_OK) {
        kiln_paddle_model_destroy(m);
        return s;
    }
    if (m->n_missing)
        kiln_log(logger, KILN_LOG_INFO, "%s: %d of %d parameter files missing in %s", program_path,
                 (int)m->n_missing, (int)m->n_params, m->params_dir);
    *out = m;
    return KILN_OK;
}

kiln_status kiln_paddle_model_from_program(const uint8_t *program, size_t size, const char *name,
                                           kiln_paddle_model **out) {
    *out = NULL;
    if (!name) name = "<memory>";
    kiln_paddle_model *m = calloc(1, sizeof *m);
    if (!m) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory loading %s", name);
    kiln_status s = KILN_OK;
    uint8_t *copy = malloc(size ? size : 1);
    m->owned = malloc(sizeof *m->owned);
    m->program_path = strdup(name);
    m->params_dir = strdup(".");
    if (!copy || !m->owned || !m->program_path || !m->params_dir) {
        free(copy);
        s = kiln_error(KILN_ERR_NO_MEMORY, "out of memory loading %s", name);
    } else {
        if (size) memcpy(copy, program, size);
        m->owned[m->n_owned++] = copy;
        m->program_map.data = copy;
        m->program_map.size = size;
        s = kiln_paddle_program_parse(copy, size, name, &m->program);
    }
    if (s == KILN_OK) s = init_params(m);
    for (int32_t i = 0; s == KILN_OK && i < m->n_params; i++)
        if (!(m->params[i].file = strdup(m->params[i].name)))
            s = kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    if (s != KILN_OK) {
        kiln_paddle_model_destroy(m);
        return s;
    }
    m->n_missing = m->n_params;
    *out = m;
    return KILN_OK;
}

kiln_status kiln_paddle_model_set_param(kiln_paddle_model *m, const char *name, const void *data,
                                        size_t nbytes) {
    kiln_paddle_param *p = kiln_paddle_model_find_param(m, name);
    if (!p)
        return kiln_error(KILN_ERR_NOT_FOUND, "%s: no persistable variable named '%s'",
                          m->program_path, name);
    const kiln_paddle_var *v = p->var;
    size_t esz = kiln_paddle_dtype_size(v->dtype);
    if (!v->has_tensor || esz == 0 || v->rank > KILN_PADDLE_MAX_DIMS)
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "%s: variable '%s': its VarDesc has no usable tensor type, so its data "
                          "cannot be set",
                          m->program_path, name);
    uint64_t numel = 1;
    for (int32_t i = 0; i < v->rank; i++) {
        if (v->dims[i] < 0 || (v->dims[i] && numel > UINT64_MAX / 16 / (uint64_t)v->dims[i]))
            return kiln_error(KILN_ERR_SHAPE,
                              "%s: variable '%s': its declared shape is not fully known (dim %d "
                              "is %lld); cannot set its data",
                              m->program_path, name, (int)i, (long long)v->dims[i]);
        numel *= (uint64_t)v->dims[i];
    }
    if (numel * esz != nbytes)
        return kiln_error(KILN_ERR_SHAPE,
                          "%s: variable '%s': %zu bytes given, its VarDesc needs %llu x %zu",
                          m->program_path, name, nbytes, (unsigned long long)numel, esz);
    void **ow = realloc(m->owned, ((size_t)m->n_owned + 1) * sizeof *ow);
    if (!ow) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory");
    m->owned = ow;
    void *copy = malloc(nbytes ? nbytes : 1);
    if (!copy) return kiln_error(KILN_ERR_NO_MEMORY, "out of memory setting '%s'", name);
    if (nbytes) memcpy(copy, data, nbytes);
    m->owned[m->n_owned++] = copy;
    memset(&p->rec, 0, sizeof p->rec);
    p->rec.dtype = v->dtype;
    p->rec.rank = v->rank;
    for (int32_t i = 0; i < v->rank; i++)
        p->rec.dims[i] = v->dims[i];
    p->rec.data = copy;
    p->rec.nbytes = nbytes;
    if (!p->present) m->n_missing--;
    p->present = true;
    return KILN_OK;
}

kiln_status kiln_load_paddle(const char *program_path, const char *params_path,
                             const kiln_logger *logger, kiln_graph **out) {
    *out = NULL;
    kiln_paddle_model *m;
    KILN_TRY(kiln_paddle_load_partial(program_path, params_path, logger, &m));
    if (m->n_missing) {
        const kiln_paddle_param *first = NULL;
        for (int32_t i = 0; i < m->n_params && !first; i++)
            if (!m->params[i].present) first = &m->params[i];
        kiln_status s = kiln_error(
            KILN_ERR_IO,
            "%s: missing parameter file for persistable variable '%s' of %s (%d of %d parameter "
            "files missing); restore the files, or generate the missing tensors with Kiln's "
            "fill tool",
            first ? first->file : "?", first ? first->name : "?", program_path, (int)m->n_missing,
            (int)m->n_params);
        kiln_paddle_model_destroy(m);
        return s;
    }
    return kiln_paddle_model_to_graph(m, logger, out);
}
