/*
 * routes_openai.c: the OpenAI-compatible API of `ingot serve` for LLMs: GET /v1/models,
 * /v1/models/{id}; POST /v1/chat/completions and /v1/completions, streamed as SSE
 * (`data: {chunk}` ... `data: [DONE]`, stream_options.include_usage) or whole.
 *
 * A handler validates the JSON body (every field's type and range; errors in OpenAI's
 * {"error": {"message", "type", "param", "code"}} form), renders chat messages with the
 * model's own Jinja chat template (ingot_chat_render; plain "role: content" lines for a
 * model without one; a template error such as raise_exception is a 400 naming it),
 * tokenizes, refuses prompts that do not fit the
 * context (never truncates), creates the request's sampler and streamer and submits it
 * to the model's scheduler (llm_model.c). It then waits (non-streaming) or returns a
 * stream reader that turns each produced token into a chunk. A client that goes away is
 * noticed by polling its socket while waiting, and cancels its sequence.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "app.h"
#include "ingot_chat.h"

#define OAI_MAX_STOP 16
#define OAI_MAX_N 16 /* choices per request (n): each is a sequence of its own */

/* ---------------------------------------------------------------- errors */

static const char *err_type(int status) {
    switch (status) {
    case 401: return "authentication_error";
    case 404: return "invalid_request_error";
    case 429: return "rate_limit_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

json_t *oai_error_json(int status, const char *msg, const char *param, const char *code) {
    json_t *e = json_object();
    if (!e) return NULL;
    json_object_set_new(e, "message", http_json_string_lossy(msg));
    json_object_set_new(e, "type", json_string(err_type(status)));
    json_object_set_new(e, "param", param ? http_json_string_lossy(param) : json_null());
    json_object_set_new(e, "code", code ? json_string(code) : json_null());
    json_t *o = json_object();
    if (!o) {
        json_decref(e);
        return NULL;
    }
    json_object_set_new(o, "error", e);
    return o;
}

json_t *oai_errfmt(int status, const char *msg) {
    const char *code = status == 401 ? "invalid_api_key" : status == 413 ? "request_too_large" : NULL;
    return oai_error_json(status, msg, NULL, code);
}

void oai_error(http_resp *resp, int status, const char *param, const char *code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    http_resp_json(resp, status, oai_error_json(status, msg, param, code));
}

/* ---------------------------------------------------------------- models */

typedef struct list_ctx {
    json_t *arr;
    const char *only; /* one id, or NULL for all */
    json_t *found;
} list_ctx;

static json_t *model_obj(const char *name, served_model *m) {
    return json_pack("{s:s, s:s, s:i, s:s}", "id", name, "object", "model", "created", m->llm ? llm_model_created(m->llm) : m->created,
                     "owned_by", "ingot");
}

static void list_visit(void *ud, const char *name, const char *version, const char *state, const char *reason,
                       served_model *m) {
    (void)version, (void)state, (void)reason;
    list_ctx *c = ud;
    if (!m || (m->kind != MODEL_KIND_LLM && m->kind != MODEL_KIND_EMBED)) return;
    if (c->only) {
        if (!strcmp(c->only, name) && !c->found) c->found = model_obj(name, m);
        return;
    }
    json_t *o = model_obj(name, m);
    if (o) json_array_append_new(c->arr, o);
}

static void h_models(http_req *req, http_resp *resp, void *ud) {
    (void)req;
    ingot_app *app = ud;
    list_ctx c = {json_array(), NULL, NULL};
    model_repo_foreach(app->repo, list_visit, &c);
    http_resp_json(resp, 200, json_pack("{s:s, s:o}", "object", "list", "data", c.arr ? c.arr : json_array()));
}

static void h_model(http_req *req, http_resp *resp, void *ud) {
    ingot_app *app = ud;
    list_ctx c = {NULL, http_req_param(req, 0), NULL};
    model_repo_foreach(app->repo, list_visit, &c);
    if (!c.found) {
        oai_error(resp, 404, "model", "model_not_found", "The model '%s' does not exist", c.only);
        return;
    }
    http_resp_json(resp, 200, c.found);
}

/* ---------------------------------------------------------------- parameters */

typedef struct oai_params {
    ingot_llm_gen_params gp;
    ingot_llm_logit_bias *bias;
    const char *stop[OAI_MAX_STOP];
    int n_stop;
    int max_tokens; /* 0: until the context is full */
    int stream, include_usage, logprobs, top_logprobs, ignore_eos;
    int n; /* choices */
} oai_params;

/* A number field in [lo, hi]; absent or null keeps *out. 0 ok, -1 with the reply made. */
static int get_num(json_t *body, const char *key, double lo, double hi, int integer, double *out, http_resp *resp) {
    json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v) || (integer && !json_is_integer(v))) {
        oai_error(resp, 400, key, "invalid_type", "'%s' must be %s", key, integer ? "an integer" : "a number");
        return -1;
    }
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi)) {
        oai_error(resp, 400, key, "invalid_value", "'%s' is %g; it must be in [%g, %g]", key, x, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

static int get_bool(json_t *body, const char *key, int *out, http_resp *resp) {
    json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) {
        oai_error(resp, 400, key, "invalid_type", "'%s' must be a boolean", key);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

static int parse_params(json_t *body, int chat, const ingot_llm *llm, oai_params *p, http_resp *resp) {
    ingot_llm_gen_params_default(&p->gp);
    ingot_llm_gen_params *g = &p->gp;
    g->temp = 1.0f, g->top_k = 0, g->top_p = 1.0f, g->min_p = 0.0f;
    double x;
    x = 1;
    if (get_num(body, "temperature", 0, 2, 0, &x, resp)) return -1;
    g->temp = (float)x;
    x = 1;
    if (get_num(body, "top_p", 0, 1, 0, &x, resp)) return -1;
    g->top_p = (float)x;
    x = 0;
    if (get_num(body, "top_k", -1, 1e6, 1, &x, resp)) return -1;
    g->top_k = (int32_t)x;
    x = 0;
    if (get_num(body, "min_p", 0, 1, 0, &x, resp)) return -1;
    g->min_p = (float)x;
    x = 0;
    if (get_num(body, "presence_penalty", -2, 2, 0, &x, resp)) return -1;
    g->presence_penalty = (float)x;
    x = 0;
    if (get_num(body, "frequency_penalty", -2, 2, 0, &x, resp)) return -1;
    g->frequency_penalty = (float)x;
    x = 1;
    if (get_num(body, "repetition_penalty", 0.01, 10, 0, &x, resp)) return -1;
    g->repeat_penalty = (float)x;
    x = 1;
    if (get_num(body, "n", 1, OAI_MAX_N, 1, &x, resp)) return -1;
    p->n = (int)x;
    x = 0;
    if (get_num(body, "max_tokens", 1, 1 << 24, 1, &x, resp)) return -1;
    if (get_num(body, "max_completion_tokens", 1, 1 << 24, 1, &x, resp)) return -1;
    p->max_tokens = (int)x;
    json_t *seed = json_object_get(body, "seed");
    if (seed && !json_is_null(seed)) {
        if (!json_is_integer(seed)) {
            oai_error(resp, 400, "seed", "invalid_type", "'seed' must be an integer");
            return -1;
        }
        g->seed = (uint64_t)json_integer_value(seed);
    } else if (getrandom(&g->seed, sizeof g->seed, 0) != (ssize_t)sizeof g->seed) {
        g->seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)p;
    }
    json_t *user = json_object_get(body, "user");
    if (user && !json_is_null(user) && !json_is_string(user)) {
        oai_error(resp, 400, "user", "invalid_type", "'user' must be a string");
        return -1;
    }
    if (get_bool(body, "stream", &p->stream, resp)) return -1;
    if (get_bool(body, "ignore_eos", &p->ignore_eos, resp)) return -1; /* vLLM's extension */
    json_t *so = json_object_get(body, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) {
            oai_error(resp, 400, "stream_options", "invalid_type", "'stream_options' must be an object");
            return -1;
        }
        if (get_bool(so, "include_usage", &p->include_usage, resp)) return -1;
    }
    /* stop: a string or an array of strings */
    json_t *st = json_object_get(body, "stop");
    if (st && !json_is_null(st)) {
        if (json_is_string(st)) {
            if (json_string_length(st)) p->stop[p->n_stop++] = json_string_value(st);
        } else if (json_is_array(st) && json_array_size(st) <= OAI_MAX_STOP) {
            for (size_t i = 0; i < json_array_size(st); i++) {
                json_t *s = json_array_get(st, i);
                if (!json_is_string(s)) {
                    oai_error(resp, 400, "stop", "invalid_type", "'stop' entries must be strings");
                    return -1;
                }
                if (json_string_length(s)) p->stop[p->n_stop++] = json_string_value(s);
            }
        } else {
            oai_error(resp, 400, "stop", "invalid_type", "'stop' must be a string or an array of at most %d strings",
                      OAI_MAX_STOP);
            return -1;
        }
    }
    g->stop = p->stop;
    g->n_stop = p->n_stop;
    /* logit_bias: {"token id": bias in [-100, 100]} */
    json_t *lb = json_object_get(body, "logit_bias");
    if (lb && !json_is_null(lb)) {
        ingot_llm_info info;
        ingot_llm_get_info(llm, &info);
        if (!json_is_object(lb) || json_object_size(lb) > 4096) {
            oai_error(resp, 400, "logit_bias", "invalid_type", "'logit_bias' must be an object of at most 4096 entries");
            return -1;
        }
        p->bias = calloc(json_object_size(lb) + 1, sizeof *p->bias);
        if (!p->bias) {
            oai_error(resp, 500, NULL, NULL, "out of memory");
            return -1;
        }
        const char *k;
        json_t *v;
        json_object_foreach(lb, k, v) {
            char *end;
            long id = strtol(k, &end, 10);
            if (end == k || *end || id < 0 || id >= info.n_vocab) {
                oai_error(resp, 400, "logit_bias", "invalid_value", "logit_bias key '%s' is not a token id in [0, %lld)",
                          k, (long long)info.n_vocab);
                return -1;
            }
            if (!json_is_number(v) || !(json_number_value(v) >= -100 && json_number_value(v) <= 100)) {
                oai_error(resp, 400, "logit_bias", "invalid_value", "logit_bias values must be numbers in [-100, 100]");
                return -1;
            }
            double b = json_number_value(v);
            p->bias[g->n_logit_bias].id = (int32_t)id;
            p->bias[g->n_logit_bias].bias = b <= -100 ? -INFINITY : (float)b;
            g->n_logit_bias++;
        }
        g->logit_bias = p->bias;
    }
    /* logprobs: chat: boolean + top_logprobs 0..20; completions: integer 0..20 */
    if (chat) {
        if (get_bool(body, "logprobs", &p->logprobs, resp)) return -1;
        x = 0;
        if (get_num(body, "top_logprobs", 0, 20, 1, &x, resp)) return -1;
        p->top_logprobs = (int)x;
        if (p->top_logprobs && !p->logprobs) {
            oai_error(resp, 400, "top_logprobs", "invalid_value", "'top_logprobs' requires 'logprobs': true");
            return -1;
        }
    } else {
        json_t *v = json_object_get(body, "logprobs");
        if (v && !json_is_null(v)) {
            x = 0;
            if (get_num(body, "logprobs", 0, 20, 1, &x, resp)) return -1;
            p->logprobs = 1;
            p->top_logprobs = (int)x;
        }
    }
    g->n_logprobs = p->logprobs ? p->top_logprobs : -1; /* logprob of the chosen token: only when asked */
    g->penalty_last_n = 64;
    return 0;
}

/* ---------------------------------------------------------------- prompts */

static int text_of_content(json_t *c, sbuf *b, int i, http_resp *resp) {
    char param[64];
    snprintf(param, sizeof param, "messages[%d].content", i);
    if (!c || json_is_null(c)) return 0;
    if (json_is_string(c)) {
        sbuf_printf(b, "%s", json_string_value(c));
        return 0;
    }
    if (json_is_array(c)) {
        for (size_t k = 0; k < json_array_size(c); k++) {
            json_t *part = json_array_get(c, k);
            json_t *ty = json_is_object(part) ? json_object_get(part, "type") : NULL;
            json_t *tx = json_is_object(part) ? json_object_get(part, "text") : NULL;
            if (!json_is_string(ty) || strcmp(json_string_value(ty), "text") || !json_is_string(tx)) {
                oai_error(resp, 400, param, "invalid_value", "content parts must be {\"type\": \"text\", \"text\": ...}");
                return -1;
            }
            sbuf_printf(b, "%s", json_string_value(tx));
        }
        return 0;
    }
    oai_error(resp, 400, param, "invalid_type", "'content' must be a string or an array of text parts");
    return -1;
}

/* Render the messages into b with the model's chat template (ingot_chat_render; a plain
 * "role: content" fallback for models without one); *flags gets the tokenizer flags.
 * 0 ok, -1 replied. */
static int render_chat(json_t *msgs, llm_model *lm, sbuf *b, int *flags, http_resp *resp) {
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        oai_error(resp, 400, "messages", msgs ? "invalid_type" : "missing_required_parameter",
                  "'messages' must be a non-empty array");
        return -1;
    }
    size_t n = json_array_size(msgs);
    if (n > 100000) {
        oai_error(resp, 400, "messages", "invalid_value", "too many messages (%zu)", n);
        return -1;
    }
    int rc = -1;
    char *text = NULL;
    ingot_chat_message *cm = calloc(n, sizeof *cm);
    sbuf *parts = calloc(n, sizeof *parts);
    if (!cm || !parts) {
        oai_error(resp, 500, NULL, NULL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(msgs, i);
        json_t *role = json_is_object(m) ? json_object_get(m, "role") : NULL;
        char param[64];
        snprintf(param, sizeof param, "messages[%zu].role", i);
        if (!json_is_string(role)) {
            oai_error(resp, 400, param, "invalid_type", "each message needs a 'role' string");
            goto out;
        }
        const char *r = json_string_value(role);
        if (!strcmp(r, "developer")) r = "system";
        if (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant")) {
            oai_error(resp, 400, param, "invalid_value", "role '%s' is not one of system, user, assistant", r);
            goto out;
        }
        if (text_of_content(json_object_get(m, "content"), &parts[i], (int)i, resp)) goto out;
        if (parts[i].oom) {
            oai_error(resp, 500, NULL, NULL, "out of memory");
            goto out;
        }
        cm[i].role = r;
        cm[i].content = parts[i].s ? parts[i].s : "";
    }
    const ingot_llm *llm = llm_model_llm(lm);
    char err[512];
    ingot_status st = ingot_chat_render(llm, cm, (int)n, 1, &text, err, sizeof err);
    if (st == INGOT_ERR_NOMEM) {
        oai_error(resp, 500, NULL, NULL, "out of memory");
        goto out;
    }
    if (st != INGOT_OK) {
        oai_error(resp, 400, "messages", "invalid_value", "the model's chat template failed: %s", err);
        goto out;
    }
    sbuf_printf(b, "%s", text);
    *flags = ingot_chat_tokenize_flags(llm);
    rc = 0;
out:
    for (size_t i = 0; parts && i < n; i++) free(parts[i].s);
    free(parts), free(cm), free(text);
    return rc;
}

static int tokenize(const ingot_llm *llm, const char *text, size_t len, int flags, int32_t **out, int64_t *n) {
    size_t cap = len + 16, got = 0;
    for (int tries = 0; tries < 2; tries++) {
        int32_t *ids = malloc(cap * sizeof *ids);
        if (!ids) return -1;
        ingot_status st = ingot_llm_tokenize(llm, text, len, flags, ids, cap, &got);
        if (st == INGOT_OK) {
            *out = ids, *n = (int64_t)got;
            return 0;
        }
        free(ids);
        if (st != INGOT_ERR_LIMIT) return -1;
        cap = got + 1;
    }
    return -1;
}

/* ---------------------------------------------------------------- responses */

typedef struct oai_job {
    ingot_app *app;
    served_model *sm;
    llm_model *lm;
    llm_req *rs[OAI_MAX_N]; /* one request (sequence) per choice */
    int n;
    int chat, include_usage, logprobs, fd;
    char id[48];
    char *model;
    long long created;
    /* streaming, per choice */
    int phase;
    int64_t tok_i[OAI_MAX_N];
    size_t text_pos[OAI_MAX_N];
    uint8_t ended[OAI_MAX_N];
    sbuf out;
    size_t out_pos;
} oai_job;

static void job_free(oai_job *j) {
    if (!j) return;
    for (int i = 0; i < j->n; i++)
        if (j->rs[i]) {
            llm_req_cancel(j->lm, j->rs[i]); /* no-op when it finished */
            llm_req_release(j->lm, j->rs[i]);
        }
    model_repo_release(j->sm);
    free(j->model);
    free(j->out.s);
    free(j);
}

static const char *finish_str(int f) { return f == LLM_FINISH_LENGTH ? "length" : "stop"; }

/* the prompt counts once, every choice's tokens count */
static json_t *usage_json(const oai_job *j) {
    int64_t gen = 0;
    for (int i = 0; i < j->n; i++) gen += j->rs[i]->n_gen;
    const llm_req *r = j->rs[0];
    return json_pack("{s:I, s:I, s:I, s:{s:I}}", "prompt_tokens", (json_int_t)r->n_prompt, "completion_tokens",
                     (json_int_t)gen, "total_tokens", (json_int_t)(r->n_prompt + gen), "prompt_tokens_details",
                     "cached_tokens", (json_int_t)r->cached_tokens);
}

static json_t *tok_text_json(const ingot_llm *llm, int32_t id, json_t **bytes) {
    char buf[1100];
    int64_t n = ingot_llm_detokenize(llm, &id, 1, buf, sizeof buf - 1);
    if (n < 0) n = 0;
    if (n > (int64_t)sizeof buf - 1) n = (int64_t)sizeof buf - 1;
    buf[n] = 0;
    if (bytes) {
        *bytes = json_array();
        for (int64_t i = 0; i < n && *bytes; i++) json_array_append_new(*bytes, json_integer((unsigned char)buf[i]));
    }
    return http_json_string_lossy(buf);
}

/* Chat logprobs entry of one token. */
static json_t *chat_lp(const ingot_llm *llm, const llm_req *r, const llm_tok *t) {
    json_t *bytes = NULL;
    json_t *o = json_object();
    json_object_set_new(o, "token", tok_text_json(llm, t->id, &bytes));
    json_object_set_new(o, "logprob", json_real(t->logprob));
    json_object_set_new(o, "bytes", bytes ? bytes : json_null());
    json_t *top = json_array();
    for (int k = 0; k < t->n_top; k++) {
        json_t *tb = NULL;
        json_t *e = json_object();
        json_object_set_new(e, "token", tok_text_json(llm, r->top[t->top0 + k].id, &tb));
        json_object_set_new(e, "logprob", json_real(r->top[t->top0 + k].logprob));
        json_object_set_new(e, "bytes", tb ? tb : json_null());
        json_array_append_new(top, e);
    }
    json_object_set_new(o, "top_logprobs", top);
    return o;
}

/* Completions logprobs over toks[a..b); text offsets relative to base. */
static json_t *cmpl_lp(const ingot_llm *llm, const llm_req *r, int64_t a, int64_t b, size_t base) {
    json_t *tokens = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
    size_t off = base;
    for (int64_t i = a; i < b; i++) {
        const llm_tok *t = &r->toks[i];
        json_array_append_new(tokens, tok_text_json(llm, t->id, NULL));
        json_array_append_new(lps, json_real(t->logprob));
        json_t *top = json_object();
        for (int k = 0; k < t->n_top; k++) {
            json_t *s = tok_text_json(llm, r->top[t->top0 + k].id, NULL);
            json_object_set_new(top, json_string_value(s), json_real(r->top[t->top0 + k].logprob));
            json_decref(s);
        }
        json_array_append_new(tops, top);
        json_array_append_new(offs, json_integer((json_int_t)off));
        off = t->text_end;
    }
    return json_pack("{s:o, s:o, s:o, s:o}", "tokens", tokens, "token_logprobs", lps, "top_logprobs", tops,
                     "text_offset", offs);
}

static json_t *stringn_lossy(const char *s, size_t n) {
    char *t = strndup(s, n);
    json_t *j = http_json_string_lossy(t ? t : "");
    free(t);
    return j;
}

/* One choice object of a chunk (stream) or of the whole response. */
static json_t *choice(oai_job *j, int index, const char *text, size_t n, json_t *lp, const char *finish, int stream,
                      int role) {
    json_t *c = json_object();
    json_object_set_new(c, "index", json_integer(index));
    if (j->chat) {
        json_t *m = json_object();
        if (role || !stream) json_object_set_new(m, "role", json_string("assistant"));
        if (text) json_object_set_new(m, "content", stringn_lossy(text, n));
        json_object_set_new(c, stream ? "delta" : "message", m);
    } else {
        json_object_set_new(c, "text", stringn_lossy(text ? text : "", text ? n : 0));
    }
    json_object_set_new(c, "logprobs", lp ? lp : json_null());
    json_object_set_new(c, "finish_reason", finish ? json_string(finish) : json_null());
    return c;
}

static json_t *envelope(oai_job *j, int stream, json_t *choices) {
    const char *obj = j->chat ? (stream ? "chat.completion.chunk" : "chat.completion") : "text_completion";
    return json_pack("{s:s, s:s, s:I, s:s, s:o, s:n}", "id", j->id, "object", obj, "created", (json_int_t)j->created,
                     "model", j->model, "choices", choices ? choices : json_array(), "system_fingerprint");
}

static void sse(oai_job *j, json_t *o) {
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (s) sbuf_printf(&j->out, "data: %s\n\n", s);
    free(s);
}

static void chunk(oai_job *j, int index, const char *text, size_t n, json_t *lp, const char *finish, int role) {
    json_t *o = envelope(j, 1, json_pack("[o]", choice(j, index, text, n, lp, finish, 1, role)));
    if (o && j->include_usage) json_object_set_new(o, "usage", json_null());
    sse(j, o);
}

/* Stream reader: SSE chunks as the scheduler produces tokens. */
static ssize_t stream_read(void *ud, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    oai_job *j = ud;
    const ingot_llm *llm = llm_model_llm(j->lm);
    for (;;) {
        if (j->out_pos < j->out.len) {
            size_t n = j->out.len - j->out_pos;
            if (n > max) n = max;
            memcpy(buf, j->out.s + j->out_pos, n);
            j->out_pos += n;
            return (ssize_t)n;
        }
        j->out.len = j->out_pos = 0;
        if (j->out.oom) return -2;
        if (j->phase == 0) {
            if (j->chat)
                for (int i = 0; i < j->n; i++) chunk(j, i, "", 0, NULL, NULL, 1);
            j->phase = 1;
            continue;
        }
        if (j->phase == 1) {
            llm_req_lock(j->lm);
            for (;;) { /* until some choice has news */
                int news = 0;
                for (int i = 0; i < j->n && !news; i++)
                    news = !j->ended[i] && (j->tok_i[i] < j->rs[i]->n_toks || j->rs[i]->finish);
                if (news) break;
                llm_req_wait(j->lm, 50);
                if (http_socket_closed(j->fd)) {
                    llm_req_unlock(j->lm);
                    for (int i = 0; i < j->n; i++) llm_req_cancel(j->lm, j->rs[i]);
                    return -2;
                }
            }
            int live = 0;
            for (int i = 0; i < j->n && j->phase == 1; i++) {
                llm_req *r = j->rs[i];
                if (j->ended[i]) continue;
                for (; j->tok_i[i] < r->n_toks; j->tok_i[i]++) {
                    const llm_tok *t = &r->toks[j->tok_i[i]];
                    size_t n = t->text_end - j->text_pos[i];
                    if (n == 0 && !j->logprobs) continue;
                    json_t *lp = NULL;
                    if (j->logprobs)
                        lp = j->chat ? json_pack("{s:[o]}", "content", chat_lp(llm, r, t))
                                     : cmpl_lp(llm, r, j->tok_i[i], j->tok_i[i] + 1, j->text_pos[i]);
                    chunk(j, i, r->text + j->text_pos[i], n, lp, NULL, 0);
                    j->text_pos[i] = t->text_end;
                }
                if (!r->finish) {
                    live++;
                    continue;
                }
                if (r->text_len > j->text_pos[i])
                    chunk(j, i, r->text + j->text_pos[i], r->text_len - j->text_pos[i], NULL, NULL, 0);
                j->text_pos[i] = r->text_len;
                j->ended[i] = 1;
                if (r->finish == LLM_FINISH_ERROR || r->finish == LLM_FINISH_CANCELLED) {
                    sse(j, oai_error_json(r->status ? r->status : 500, r->err, NULL, NULL));
                    for (int k = 0; k < j->n; k++) llm_req_cancel(j->lm, j->rs[k]);
                    j->phase = 3;
                } else {
                    chunk(j, i, NULL, 0, NULL, finish_str(r->finish), 0);
                }
            }
            if (j->phase == 1 && !live) {
                if (j->include_usage) {
                    json_t *o = envelope(j, 1, json_array());
                    if (o) json_object_set_new(o, "usage", usage_json(j));
                    sse(j, o);
                }
                j->phase = 3;
            }
            llm_req_unlock(j->lm);
            continue;
        }
        if (j->phase == 3) {
            sbuf_printf(&j->out, "data: [DONE]\n\n");
            j->phase = 4;
            continue;
        }
        return -1; /* end of stream */
    }
}

static void stream_done(void *ud) { job_free(ud); }

/* Non-streaming: wait for the whole result. */
static void respond_whole(oai_job *j, http_resp *resp) {
    const ingot_llm *llm = llm_model_llm(j->lm);
    llm_req_lock(j->lm);
    for (int i = 0; i < j->n; i++) {
        llm_req *r = j->rs[i];
        while (!r->finish) {
            llm_req_wait_done(j->lm, r, 50);
            if (!r->finish && http_socket_closed(j->fd)) {
                llm_req_unlock(j->lm);
                for (int k = 0; k < j->n; k++) llm_req_cancel(j->lm, j->rs[k]);
                oai_error(resp, 499, NULL, NULL, "client closed the connection");
                return;
            }
        }
        if (r->finish == LLM_FINISH_ERROR || r->finish == LLM_FINISH_CANCELLED) {
            int status = r->status ? r->status : 500;
            char msg[256];
            snprintf(msg, sizeof msg, "%s", r->err);
            llm_req_unlock(j->lm);
            for (int k = 0; k < j->n; k++) llm_req_cancel(j->lm, j->rs[k]);
            oai_error(resp, status, NULL, NULL, "%s", msg);
            return;
        }
    }
    json_t *choices = json_array();
    for (int i = 0; i < j->n; i++) {
        const llm_req *r = j->rs[i];
        json_t *lp = NULL;
        if (j->logprobs) {
            if (j->chat) {
                json_t *arr = json_array();
                for (int64_t k = 0; k < r->n_toks; k++) json_array_append_new(arr, chat_lp(llm, r, &r->toks[k]));
                lp = json_pack("{s:o}", "content", arr);
            } else {
                lp = cmpl_lp(llm, r, 0, r->n_toks, 0);
            }
        }
        json_array_append_new(choices, choice(j, i, r->text ? r->text : "", r->text_len, lp, finish_str(r->finish), 0, 0));
    }
    json_t *o = envelope(j, 0, choices);
    if (o) json_object_set_new(o, "usage", usage_json(j));
    llm_req_unlock(j->lm);
    http_resp_json(resp, 200, o);
}

static void completion(http_req *req, http_resp *resp, ingot_app *app, int chat) {
    size_t len;
    http_req_body(req, &len);
    json_t *body = http_req_json(req, resp, len);
    if (!body) return;
    oai_params p;
    memset(&p, 0, sizeof p);
    sbuf prompt = {0};
    int32_t *ids = NULL;
    int64_t n_ids = 0;
    oai_job *j = NULL;
    served_model *sm = NULL;
    char err[512];
    if (!json_is_object(body)) {
        oai_error(resp, 400, NULL, "invalid_type", "the request body must be a JSON object");
        goto out;
    }
    json_t *model = json_object_get(body, "model");
    if (!json_is_string(model)) {
        oai_error(resp, 400, "model", model ? "invalid_type" : "missing_required_parameter",
                  "'model' must be given as a string");
        goto out;
    }
    int exists = 0;
    sm = model_repo_acquire(app->repo, json_string_value(model), NULL, &exists);
    if (!sm && exists) { /* listed, not (yet) loaded */
        http_resp_header(resp, "Retry-After", "1");
        oai_error(resp, 503, "model", "model_not_ready", "The model '%s' is not loaded (yet); retry later",
                  json_string_value(model));
        goto out;
    }
    if (!sm || sm->kind != MODEL_KIND_LLM) {
        oai_error(resp, 404, "model", "model_not_found", "The model '%s' does not exist or is not an LLM",
                  json_string_value(model));
        goto out;
    }
    const ingot_llm *llm = llm_model_llm(sm->llm);
    if (parse_params(body, chat, llm, &p, resp)) goto out;
    int flags = INGOT_LLM_ADD_SPECIAL;
    if (chat) {
        if (render_chat(json_object_get(body, "messages"), sm->llm, &prompt, &flags, resp)) goto out;
        if (prompt.oom) {
            oai_error(resp, 500, NULL, NULL, "out of memory");
            goto out;
        }
        if (tokenize(llm, prompt.s ? prompt.s : "", prompt.len, flags, &ids, &n_ids)) {
            oai_error(resp, 400, "messages", "invalid_value", "the prompt cannot be tokenized");
            goto out;
        }
    } else {
        json_t *pr = json_object_get(body, "prompt");
        if (json_is_array(pr) && json_array_size(pr) == 1 && json_is_string(json_array_get(pr, 0)))
            pr = json_array_get(pr, 0);
        if (json_is_string(pr)) {
            if (tokenize(llm, json_string_value(pr), json_string_length(pr), flags, &ids, &n_ids)) {
                oai_error(resp, 400, "prompt", "invalid_value", "the prompt cannot be tokenized");
                goto out;
            }
        } else if (json_is_array(pr) && json_array_size(pr) > 0 && json_is_integer(json_array_get(pr, 0))) {
            ingot_llm_info info;
            ingot_llm_get_info(llm, &info);
            n_ids = (int64_t)json_array_size(pr);
            ids = malloc((size_t)n_ids * sizeof *ids);
            if (!ids) {
                oai_error(resp, 500, NULL, NULL, "out of memory");
                goto out;
            }
            for (int64_t i = 0; i < n_ids; i++) {
                json_t *v = json_array_get(pr, (size_t)i);
                if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= info.n_vocab) {
                    oai_error(resp, 400, "prompt", "invalid_value", "prompt token %lld is not an id in [0, %lld)",
                              (long long)i, (long long)info.n_vocab);
                    goto out;
                }
                ids[i] = (int32_t)json_integer_value(v);
            }
        } else {
            oai_error(resp, 400, "prompt", pr ? "invalid_type" : "missing_required_parameter",
                      "'prompt' must be a string, a one-string array or an array of token ids (n > 1 prompts are not "
                      "supported)");
            goto out;
        }
    }
    int64_t n_ctx = llm_model_n_ctx(sm->llm);
    if (n_ids == 0) {
        oai_error(resp, 400, chat ? "messages" : "prompt", "invalid_value", "the prompt is empty (no tokens)");
        goto out;
    }
    if (n_ids >= n_ctx) {
        oai_error(resp, 400, chat ? "messages" : "prompt", "context_length_exceeded",
                  "This model's maximum context length is %lld tokens; the prompt has %lld tokens (and at least one "
                  "must be generated)",
                  (long long)n_ctx, (long long)n_ids);
        goto out;
    }
    j = calloc(1, sizeof *j);
    if (!j || !(j->model = strdup(json_string_value(model)))) {
        oai_error(resp, 500, NULL, NULL, "out of memory");
        goto out;
    }
    j->app = app, j->lm = sm->llm, j->chat = chat, j->include_usage = p.include_usage && p.stream;
    j->logprobs = p.logprobs, j->fd = http_req_socket(req), j->created = (long long)time(NULL);
    /* one request per choice: the same prompt (the prefix cache shares its blocks once one
     * has computed them), seeds seed, seed + 1, ... */
    for (int c = 0; c < p.n; c++) {
        llm_req *r = llm_req_new();
        if (!r || !(r->prompt = malloc((size_t)n_ids * sizeof *r->prompt))) {
            free(r);
            oai_error(resp, 500, NULL, NULL, "out of memory");
            goto out;
        }
        j->rs[j->n++] = r;
        memcpy(r->prompt, ids, (size_t)n_ids * sizeof *ids);
        r->n_prompt = n_ids;
        r->max_tokens = p.max_tokens > 0 ? p.max_tokens : (int32_t)(n_ctx - n_ids);
        r->want_logprobs = p.logprobs;
        r->ignore_eos = p.ignore_eos;
        ingot_llm_gen_params gp = p.gp;
        gp.seed += (uint64_t)c;
        if (ingot_llm_sampler_create(llm, &gp, &r->smp, err, sizeof err) != INGOT_OK) {
            oai_error(resp, 400, NULL, "invalid_value", "%s", err);
            goto out;
        }
        for (int64_t i = 0; i < r->n_prompt; i++) ingot_llm_sampler_accept(r->smp, r->prompt[i]);
        if (ingot_llm_streamer_create(llm, p.stop, p.n_stop, &r->str, err, sizeof err) != INGOT_OK) {
            oai_error(resp, 400, "stop", "invalid_value", "%s", err);
            goto out;
        }
    }
    unsigned char rnd[12] = {0};
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) memcpy(rnd, &j, sizeof(void *));
    int o = snprintf(j->id, sizeof j->id, "%s", chat ? "chatcmpl-" : "cmpl-");
    for (size_t i = 0; i < sizeof rnd; i++) o += snprintf(j->id + o, sizeof j->id - (size_t)o, "%02x", rnd[i]);
    for (int c = 0; c < j->n; c++) {
        int rc = llm_submit(sm->llm, j->rs[c]);
        if (rc == 429) {
            http_resp_header(resp, "Retry-After", "1");
            oai_error(resp, 429, NULL, "queue_full", "the server's request queue is full; retry later");
            goto out;
        } else if (rc) {
            oai_error(resp, rc, NULL, NULL, rc == 503 ? "the server is shutting down" : "cannot queue the request");
            goto out;
        }
    }
    j->sm = sm, sm = NULL;
    if (p.stream) {
        http_resp_header(resp, "Cache-Control", "no-cache");
        http_resp_stream(resp, 200, "text/event-stream", stream_read, j, stream_done);
        j = NULL;
    } else {
        respond_whole(j, resp);
    }
out:
    if (j) {
        if (!j->sm) j->sm = sm, sm = NULL; /* job_free cancels and releases its requests */
        job_free(j);
    }
    model_repo_release(sm);
    free(ids);
    free(prompt.s);
    free(p.bias);
    json_decref(body);
}

static void h_chat(http_req *req, http_resp *resp, void *ud) { completion(req, resp, ud, 1); }
static void h_completions(http_req *req, http_resp *resp, void *ud) { completion(req, resp, ud, 0); }

int routes_openai_add(ingot_app *app) {
    int rc = 0;
    rc |= http_route_add(app->http, "GET", "/v1/models", h_models, app, oai_errfmt, 0);
    rc |= http_route_add(app->http, "GET", "/v1/models/{}", h_model, app, oai_errfmt, 0);
    rc |= http_route_add(app->http, "POST", "/v1/chat/completions", h_chat, app, oai_errfmt, 0);
    rc |= http_route_add(app->http, "POST", "/v1/completions", h_completions, app, oai_errfmt, 0);
    return rc;
}
