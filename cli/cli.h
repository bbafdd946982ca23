/*
 * cli.h: shared pieces of the `ingot` command: argument helpers and the
 * subcommands. Every command takes its model as `-m MODEL` or as the first
 * positional argument.
 */
#ifndef INGOT_CLI_H
#define INGOT_CLI_H

#include "ingot.h"

typedef struct cli_args {
    int argc;
    char **argv;
    const char *model;
} cli_args;

/* Pulls the model path out of argv (-m/--model or the first positional). */
const char *cli_model(int argc, char **argv);
/* Peak and current resident memory of this process in KiB (0 if unknown). */
long cli_rss_kib(long *peak);

int cmd_info(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
