/*
 * cli_common.c — flag parsing shared by the kiln subcommands (see cli.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

int kiln_cli_parse(kiln_cli *c, int argc, char **argv, int first) {
    memset(c, 0, sizeof *c);
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) == 0 && a[2]) {
            if (c->n_flags >= KILN_CLI_MAX_ARGS) {
                fprintf(stderr, "kiln: too many flags (max %d)\n", KILN_CLI_MAX_ARGS);
                return 2;
            }
            const char *eq = strchr(a, '=');
            size_t klen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            if (klen >= sizeof c->keys[0]) {
                fprintf(stderr, "kiln: flag name too long: %s\n", a);
                return 2;
            }
            memcpy(c->keys[c->n_flags], a + 2, klen);
            c->keys[c->n_flags][klen] = '\0';
            c->vals[c->n_flags] = eq ? eq + 1 : "";
            c->n_flags++;
        } else {
            if (c->n_pos >= KILN_CLI_MAX_ARGS) {
                fprintf(stderr, "kiln: too many arguments\n");
                return 2;
            }
            c->pos[c->n_pos++] = a;
        }
    }
    return 0;
}

const char *kiln_cli_get(kiln_cli *c, const char *key) {
    const char *v = NULL;
    for (int i = 0; i < c->n_flags; i++)
        if (strcmp(c->keys[i], key) == 0) {
            c->used[i] = true;
            v = c->vals[i]; /* last one wins */
        }
    return v;
}

int kiln_cli_get_int(kiln_cli *c, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    const char *v = kiln_cli_get(c, key);
    if (!v) return 0;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "kiln: --%s=%s: expected an integer in [%lld, %lld]\n", key, v,
                (long long)lo, (long long)hi);
        return 2;
    }
    *out = x;
    return 0;
}

int kiln_cli_get_bool(kiln_cli *c, const char *key, bool def, bool *out) {
    const char *v = kiln_cli_get(c, key);
    *out = def;
    if (!v) return 0;
    if (!*v || !strcmp(v, "true") || !strcmp(v, "1")) {
        *out = true;
        return 0;
    }
    if (!strcmp(v, "false") || !strcmp(v, "0")) {
        *out = false;
        return 0;
    }
    fprintf(stderr, "kiln: --%s=%s: expected true or false\n", key, v);
    return 2;
}

int kiln_cli_check_unused(kiln_cli *c, const char *tool) {
    int bad = 0;
    for (int i = 0; i < c->n_flags; i++)
        if (!c->used[i]) {
            fprintf(stderr, "%s: unknown flag --%s (see %s --help)\n", tool, c->keys[i], tool);
            bad = 2;
        }
    return bad;
}

int kiln_cli_model_options(kiln_cli *c, const char *tool, kiln_load_options *o) {
    *o = kiln_load_options_default();
    o->model_file = kiln_cli_get(c, "model_file");
    o->params_file = kiln_cli_get(c, "params_file");
    o->model_dir = kiln_cli_get(c, "model_dir");
    int named = (o->model_file != NULL) + (o->model_dir != NULL);
    if (named == 0 && c->n_pos > 0) {
        const char *p = c->pos[0];
        FILE *f = fopen(p, "rb");
        int is_dir = 0;
        if (f) {
            /* fopen succeeds on directories on Linux; fgetc fails there */
            is_dir = fgetc(f) == EOF && ferror(f);
            fclose(f);
        }
        if (is_dir)
            o->model_dir = p;
        else
            o->model_file = p;
        named = 1;
    }
    if (named != 1 || (o->params_file && !o->model_file)) {
        fprintf(stderr,
                "%s: name the model once: --model_file=F [--params_file=P], --model_dir=D, or "
                "a path\n",
                tool);
        return 2;
    }
    return 0;
}

int kiln_cli_parse_shape(const char *flag, const char *s, int64_t dims[KILN_MAX_RANK], int *rank) {
    int r = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long long d = strtoll(p, &end, 10);
        if (errno || end == p || d <= 0 || d > (1ll << 31) || r >= KILN_MAX_RANK ||
            (*end && *end != 'x' && *end != ',')) {
            fprintf(stderr, "kiln: --%s=%s: expected dims like 1x3x224x224\n", flag, s);
            return 2;
        }
        dims[r++] = d;
        p = *end ? end + 1 : end;
    }
    if (r == 0) {
        fprintf(stderr, "kiln: --%s is empty: expected dims like 1x3x224x224\n", flag);
        return 2;
    }
    *rank = r;
    return 0;
}

int kiln_cli_fail(const char *tool, kiln_status s) {
    fprintf(stderr, "%s: %s: %s\n", tool, kiln_status_string(s), kiln_last_error());
    return 1;
}

int kiln_cli_parse_precision(const char *s, kiln_precision *out) {
    if (!strcasecmp(s, "fp32") || !strcasecmp(s, "float32")) {
        *out = KILN_PRECISION_FP32;
        return 0;
    }
    if (!strcasecmp(s, "int8")) {
        *out = KILN_PRECISION_INT8;
        return 0;
    }
    fprintf(stderr, "kiln: --precision=%s: expected fp32 or int8\n", s);
    return 2;
}
