/*
 * app.h: the state one `ingot serve` process shares between its route
 * modules: the model repository, the HTTP server, readiness and the settings
 * the command line gave. Created and freed by serve.c; route modules get a
 * pointer at registration and keep no state of their own.
 */
#ifndef INGOT_SERVER_APP_H
#define INGOT_SERVER_APP_H

#include <stdatomic.h>

#include "http.h"
#include "model_repo.h"

typedef struct ingot_app {
    model_repo *repo;
    http_server *http;
    atomic_int ready;    /* startup loading done */
    atomic_int stopping; /* shutdown begun */
    double t_start;
} ingot_app;

/* Route modules: each adds its routes to app->http. */
int routes_kserve_add(ingot_app *app);
int routes_ops_add(ingot_app *app);
int routes_openai_add(ingot_app *app);
int routes_embeddings_add(ingot_app *app);

/* OpenAI-style errors ({"error": {"message", "type", "param", "code"}}) shared by the /v1
 * routes (routes_openai.c): the JSON body, the formatter the HTTP layer uses for its own
 * errors (401, 413...), and a printf-style responder. */
json_t *oai_error_json(int status, const char *msg, const char *param, const char *code);
json_t *oai_errfmt(int status, const char *msg);
void oai_error(http_resp *resp, int status, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
