/*
 * cmd_inspect.c — `kiln inspect`: the loaded graph as text (format and
 * version read, inputs/outputs, every op with attributes and shapes,
 * parameters with --params).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "engine/engine.h"
#include "ir/dump.h"

static void usage(void) {
    printf("usage: kiln inspect <model> [--params]\n"
           "  --model_file=F [--params_file=P] | --model_dir=D | PATH   the model\n"
           "  --params     also list every parameter tensor\n");
}

int kiln_cmd_inspect(int argc, char **argv) {
    kiln_cli c;
    if (kiln_cli_parse(&c, argc, argv, 1)) return 2;
    bool help, params;
    if (kiln_cli_get_bool(&c, "help", false, &help)) return 2;
    if (help) {
        usage();
        return 0;
    }
    if (kiln_cli_get_bool(&c, "params", false, &params)) return 2;
    kiln_load_options lo;
    if (kiln_cli_model_options(&c, "kiln inspect", &lo)) return 2;
    if (kiln_cli_check_unused(&c, "kiln inspect")) return 2;
    kiln_model *m;
    kiln_status s = kiln_model_load(&lo, &m);
    if (s != KILN_OK) return kiln_cli_fail("kiln inspect", s);
    kiln_graph_dump(m->graph, stdout, params);
    kiln_model_destroy(m);
    return 0;
}
