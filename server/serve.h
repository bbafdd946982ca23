/*
 * serve.h: entry point of `ingot serve`, the HTTP model server (KServe v2 for
 * tensor models today; the OpenAI API for LLMs joins it). cli/main.c calls
 * cmd_serve with argv[0] = "serve".
 */
#ifndef INGOT_SERVER_SERVE_H
#define INGOT_SERVER_SERVE_H

/* Parse the options, serve until SIGTERM/SIGINT, drain, return the exit code
 * (0 after a clean shutdown, 2 on bad usage, 1 when the server cannot start). */
int cmd_serve(int argc, char **argv);

#endif
