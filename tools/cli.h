/*
 * cli.h — shared pieces of the `kiln` command-line tool: the subcommand
 * table and flag parsing in the seed's `--name=value` style.
 *
 * Every tool names its model the same way: `--model_file=F --params_file=P`
 * (the seed's flags), `--model_dir=D`, or one positional path (a directory or
 * a file); the format is detected from the bytes. Unknown flags are errors.
 *
 * Non-goals: a general getopt replacement.
 */
#ifndef KILN_TOOLS_CLI_H
#define KILN_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "kiln.h"

/* Subcommands: int kiln_cmd_X(int argc, char **argv), argv[0] = "X". They
 * return a process exit status (0 ok, 1 failure, 2 usage error). */
int kiln_cmd_run(int argc, char **argv);
int kiln_cmd_inspect(int argc, char **argv);
int kiln_cmd_model(int argc, char **argv);
int kiln_cmd_bench(int argc, char **argv);
int kiln_cmd_calibrate(int argc, char **argv);
int kiln_cmd_compare(int argc, char **argv);
int kiln_cmd_crops(int argc, char **argv);

/* A parsed command line: flags (--k=v or --k v-less booleans) and positionals. */
enum { KILN_CLI_MAX_ARGS = 64 };
typedef struct kiln_cli {
    int n_flags;
    char keys[KILN_CLI_MAX_ARGS][64];
    const char *vals[KILN_CLI_MAX_ARGS]; /* "" for a bare --flag */
    bool used[KILN_CLI_MAX_ARGS];
    int n_pos;
    const char *pos[KILN_CLI_MAX_ARGS];
} kiln_cli;

/* Parses argv[first..argc). Returns 0, or 2 after printing a usage error. */
int kiln_cli_parse(kiln_cli *c, int argc, char **argv, int first);
/* Value of --key (marks it used), or NULL. */
const char *kiln_cli_get(kiln_cli *c, const char *key);
/* Integer flag in [lo, hi]; *out unchanged if absent. Returns 0 or 2 (message printed). */
int kiln_cli_get_int(kiln_cli *c, const char *key, int64_t lo, int64_t hi, int64_t *out);
/* Boolean flag: absent -> def; "", "true", "1" -> true; "false", "0" -> false; else error 2. */
int kiln_cli_get_bool(kiln_cli *c, const char *key, bool def, bool *out);
/* After all gets: prints "unknown flag --x" for any unused flag; returns 0 or 2. */
int kiln_cli_check_unused(kiln_cli *c, const char *tool);

/* Fills load options from --model_file/--params_file/--model_dir or the
 * first positional. Returns 0, or 2 with a message if none/too many given. */
int kiln_cli_model_options(kiln_cli *c, const char *tool, kiln_load_options *o);

/* Parses "1x3x224x224" into dims/rank. Returns 0 or 2 (message printed). */
int kiln_cli_parse_shape(const char *flag, const char *s, int64_t dims[KILN_MAX_RANK], int *rank);

/* "fp32" | "int8" (case-insensitive) into *out. Returns 0 or 2 (message printed). */
int kiln_cli_parse_precision(const char *s, kiln_precision *out);

/* Prints "kiln <tool>: <status>: <last error>" to stderr and returns 1. */
int kiln_cli_fail(const char *tool, kiln_status s);

#endif
