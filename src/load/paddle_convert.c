/*
 * paddle_convert.c — Paddle params layout converters: one file per variable
 * <-> combined `model` + `params` pair (spec §2.2, §2.3). The program bytes
 * are copied unchanged and records read from files are copied byte for byte,
 * so per-file -> combined -> per-file reproduces every file exactly.
 * Non-goals: rewriting the program, converting data types.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "load/paddle.h"

static kiln_status require_complete(const kiln_paddle_model *m) {
    for (int32_t i = 0; i < m->n_params; i++)
        if (!m->params[i].present)
            return kiln_error(KILN_ERR_IO,
                              "%s: missing parameter file for persistable variable '%s' of %s (%d "
                              "of %d missing); cannot convert an incomplete model",
                              m->params[i].file ? m->params[i].file : "?", m->params[i].name,
                              m->program_path, (int)m->n_missing, (int)m->n_params);
    return KILN_OK;
}

/* Appends param p's record: its original bytes when it was read from a file. */
static void put_record(kiln_pbw *w, const kiln_paddle_param *p) {
    if (p->rec.raw && p->rec.size)
        kiln_pbw_raw(w, p->rec.raw, p->rec.size);
    else
        kiln_paddle_record_write(w, p->rec.dtype, p->rec.rank, p->rec.dims, p->rec.data,
                                 p->rec.nbytes);
}

kiln_status kiln_paddle_model_write_combined(const kiln_paddle_model *m, const char *model_out,
                                             const char *params_out) {
    KILN_TRY(require_complete(m));
    kiln_pbw w = {0};
    for (int32_t i = 0; i < m->n_params; i++)
        put_record(&w, &m->params[i]);
    if (w.failed) {
        kiln_pbw_free(&w);
        return kiln_error(KILN_ERR_NO_MEMORY, "out of memory writing %s", params_out);
    }
    kiln_status s = kiln_write_file_atomic(params_out, w.data, w.size);
    kiln_pbw_free(&w);
    if (s == KILN_OK)
        s = kiln_write_file_atomic(model_out, m->program_map.data, m->program_map.size);
    return s;
}

static kiln_status mkdirs_for(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return KILN_OK;
    char dir[4096];
    size_t n = (size_t)(slash - path);
    if (n >= sizeof dir) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "path too long: %s", path);
    memcpy(dir, path, n);
    dir[n] = '\0';
    return kiln_mkdirs(dir);
}

kiln_status kiln_paddle_model_write_dir(const kiln_paddle_model *m, const char *dir_out) {
    KILN_TRY(require_complete(m));
    KILN_TRY(kiln_mkdirs(dir_out));
    char path[4096];
    for (int32_t i = 0; i < m->n_params; i++) {
        const kiln_paddle_param *p = &m->params[i];
        if (!kiln_paddle_name_is_safe_path(p->name))
            return kiln_error(KILN_ERR_FORMAT,
                              "variable '%s': the name is not a safe relative file name; refusing "
                              "to write it under %s",
                              p->name, dir_out);
        KILN_TRY(kiln_path_join(path, sizeof path, dir_out, p->name));
        if (strcmp(p->name, "__model__") == 0)
            return kiln_error(
                KILN_ERR_UNSUPPORTED,
                "a parameter is named '__model__'; the per-file layout cannot hold it");
        KILN_TRY(mkdirs_for(path));
        kiln_pbw w = {0};
        put_record(&w, p);
        kiln_status s = w.failed ? kiln_error(KILN_ERR_NO_MEMORY, "out of memory writing %s", path)
                                 : kiln_write_file_atomic(path, w.data, w.size);
        kiln_pbw_free(&w);
        KILN_TRY(s);
    }
    KILN_TRY(kiln_path_join(path, sizeof path, dir_out, "__model__"));
    return kiln_write_file_atomic(path, m->program_map.data, m->program_map.size);
}

kiln_status kiln_paddle_convert_to_combined(const char *program_path, const char *model_out,
                                            const char *params_out) {
    kiln_paddle_model *m;
    KILN_TRY(kiln_paddle_load_partial(program_path, NULL, NULL, &m));
    kiln_status s = kiln_paddle_model_write_combined(m, model_out, params_out);
    kiln_paddle_model_destroy(m);
    return s;
}

kiln_status kiln_paddle_convert_to_dir(const char *program_path, const char *params_path,
                                       const char *dir_out) {
    kiln_paddle_model *m;
    KILN_TRY(kiln_paddle_load_partial(program_path, params_path, NULL, &m));
    kiln_status s = kiln_paddle_model_write_dir(m, dir_out);
    kiln_paddle_model_destroy(m);
    return s;
}
