/*
 * main.c — `kiln`: the command-line front door. Dispatches to subcommands.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} command;

static const command commands[] = {
    {"run", kiln_cmd_run, "run a model on an input and print/save outputs"},
    {"inspect", kiln_cmd_inspect, "print the graph: ops, attributes, shapes, parameters"},
    {"model", kiln_cmd_model, "convert, fill, generate or export models"},
    {"calibrate", kiln_cmd_calibrate, "INT8 calibration: run images in FP32, write the table"},
    {"compare", kiln_cmd_compare,
     "two runs (precisions/backends) on the same inputs: errors, top-k"},
    {"crops", kiln_cmd_crops, "views of photos (scales, flips) as .bin tensors for calibration"},
    {"bench", kiln_cmd_bench, "time an engine, trtexec style (latency percentiles, throughput)"},
};

static void usage(FILE *f) {
    fprintf(f, "kiln %s — inference for CNN classifiers (Paddle and ONNX models)\n\n",
            kiln_version());
    fprintf(f, "usage: kiln <command> [flags]   (kiln <command> --help for its flags)\n\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nA model is named by --model_file=F [--params_file=P], --model_dir=D or a "
               "path.\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("kiln %s\n", kiln_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "kiln: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
