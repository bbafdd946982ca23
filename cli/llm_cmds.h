/*
 * llm_cmds.h: the `ingot convert` and `ingot quantize` subcommands (cli/convert.c), and
 * `ingot generate` and the LLM `ingot bench` (cli/llm_generate.c), `ingot chat` (cli/llm_chat.c).
 */
#ifndef INGOT_CLI_LLM_CMDS_H
#define INGOT_CLI_LLM_CMDS_H

/* argv[0] is the subcommand name. Return the process exit status. */
int cmd_convert(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_llm_bench(int argc, char **argv);
int cmd_chat(int argc, char **argv); /* cli/llm_chat.c */

#endif
