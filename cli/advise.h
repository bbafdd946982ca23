/*
 * advise.h: the `ingot advise` subcommand (cli/advise.c): deployment advice
 * from the tool catalog, this machine and a model's metadata.
 */
#ifndef INGOT_CLI_ADVISE_H
#define INGOT_CLI_ADVISE_H

/* argv[0] is the subcommand name. Returns the process exit status. */
int cmd_advise(int argc, char **argv);

#endif
