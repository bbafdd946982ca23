/*
 * llm_chat.c: `ingot chat`, an interactive conversation with an LLM in the terminal.
 *   ingot chat -m MODEL [-t THREADS] [--temp T] [-n N] [--system TEXT] [-c N_CTX] [--seed S]
 * Each line read from stdin is a user turn; the whole conversation is rendered with the
 * model's chat template (ingot_chat_render) every turn and generated on one context, whose
 * KV cache keeps the common prefix, so only the new turn is processed. The reply streams to
 * stdout; prompts and diagnostics go to stderr. EOF or a line "/exit" ends the session.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingot.h"
#include "ingot_chat.h"
#include "ingot_llm.h"
#include "llm_cmds.h"

#define CHAT_MAX_LINE (1 << 20)

static int chat_usage(FILE *f) {
    fprintf(f, "usage: ingot chat -m MODEL [-t THREADS] [--temp T] [-n N] [--system TEXT] [-c N_CTX] [--seed S]\n"
               "                 [--kv-type f16|q8_0|f32] [--numerics default|llamacpp]\n"
               "Type a message and press enter; /exit or end of input (Ctrl-D) quits.\n"
               "-n: most tokens per reply (default 512); --temp 0 is greedy (default 0.8).\n");
    return 2;
}

static int parse_num(const char *s, double *v) {
    char *end;
    *v = strtod(s, &end);
    return end != s && !*end && isfinite(*v);
}

typedef struct reply {
    char *s;
    size_t len, cap;
    int oom;
} reply;

static int on_piece(void *user, const char *text, size_t len, const ingot_llm_token *tok) {
    (void)tok;
    reply *r = user;
    if (!len) return 0;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    if (r->len + len + 1 > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 1024;
        while (cap < r->len + len + 1) cap *= 2;
        char *s = realloc(r->s, cap);
        if (!s) {
            r->oom = 1;
            return 1;
        }
        r->s = s, r->cap = cap;
    }
    memcpy(r->s + r->len, text, len);
    r->len += len;
    r->s[r->len] = 0;
    return 0;
}

typedef struct convo {
    ingot_chat_message *m;
    int n, cap;
} convo;

static int add_msg(convo *c, const char *role, const char *text) {
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 16;
        ingot_chat_message *m = realloc(c->m, (size_t)cap * sizeof *m);
        if (!m) return -1;
        c->m = m, c->cap = cap;
    }
    char *t = strdup(text);
    if (!t) return -1;
    c->m[c->n].role = role, c->m[c->n].content = t, c->n++;
    return 0;
}

static void drop_last(convo *c) {
    if (c->n > 0) free((char *)c->m[--c->n].content);
}

int cmd_chat(int argc, char **argv) {
    const char *model = NULL, *sys = NULL;
    int threads = 0, n_predict = 512;
    double temp = 0.8, v;
    long long seed = 0;
    int64_t n_ctx = 0;
    int kv_type = INGOT_LLM_KV_F16, numerics = INGOT_LLM_NUMERICS_DEFAULT;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return chat_usage(stdout), 0;
        if (!val) return chat_usage(stderr);
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = val;
        else if (!strcmp(a, "--system")) sys = val;
        else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && parse_num(val, &v)) threads = (int)v;
        else if (!strcmp(a, "--temp") && parse_num(val, &v)) temp = v;
        else if (!strcmp(a, "-n") && parse_num(val, &v)) n_predict = (int)v;
        else if (!strcmp(a, "-c") && parse_num(val, &v)) n_ctx = (int64_t)v;
        else if (!strcmp(a, "--seed") && parse_num(val, &v)) seed = (long long)v;
        else if (!strcmp(a, "--kv-type") && ingot_llm_kv_type_from_name(val) >= 0) kv_type = ingot_llm_kv_type_from_name(val);
        else if (!strcmp(a, "--numerics") && ingot_llm_numerics_from_name(val) >= 0) numerics = ingot_llm_numerics_from_name(val);
        else {
            fprintf(stderr, "ingot chat: bad or unknown option %s %s\n", a, val);
            return chat_usage(stderr);
        }
    }
    if (!model) return chat_usage(stderr);
    char err[1024];
    ingot_llm *m = NULL;
    ingot_llm_ctx *c = NULL;
    convo cv = {0};
    char *line = NULL;
    int rc = 1;
    ingot_status st = ingot_llm_load(model, NULL, &m, err, sizeof err);
    if (st != INGOT_OK) {
        fprintf(stderr, "ingot chat: %s\n", err[0] ? err : ingot_status_str(st));
        goto out;
    }
    ingot_llm_ctx_params cp;
    ingot_llm_ctx_params_default(&cp);
    cp.n_threads = threads, cp.n_ctx = n_ctx, cp.kv_type = kv_type, cp.numerics = numerics;
    if ((st = ingot_llm_ctx_create(m, &cp, &c, err, sizeof err))) {
        fprintf(stderr, "ingot chat: %s\n", err[0] ? err : ingot_status_str(st));
        goto out;
    }
    ingot_llm_info info;
    ingot_llm_get_info(m, &info);
    if (!info.chat_template) fprintf(stderr, "ingot chat: %s has no chat template; using plain 'role: text' lines\n", model);
    if (sys && add_msg(&cv, "system", sys)) goto oom;
    ingot_llm_gen_params gp;
    ingot_llm_gen_params_default(&gp);
    gp.temp = (float)temp, gp.max_tokens = n_predict, gp.seed = (uint64_t)seed;
    int flags = ingot_chat_tokenize_flags(m);
    gp.add_special = (flags & INGOT_LLM_ADD_SPECIAL) != 0;
    gp.parse_special = (flags & INGOT_LLM_PARSE_SPECIAL) != 0;
    line = malloc(CHAT_MAX_LINE);
    if (!line) goto oom;
    for (;;) {
        fputs("> ", stderr);
        fflush(stderr);
        if (!fgets(line, CHAT_MAX_LINE, stdin)) break;
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) break;
        if (!len) continue;
        if (add_msg(&cv, "user", line)) goto oom;
        char *prompt = NULL;
        st = ingot_chat_render(m, cv.m, cv.n, 1, &prompt, err, sizeof err);
        if (st != INGOT_OK) {
            fprintf(stderr, "ingot chat: the chat template failed: %s\n", err);
            drop_last(&cv);
            continue;
        }
        reply r = {0};
        ingot_llm_gen_stats gs;
        st = ingot_llm_generate(c, prompt, strlen(prompt), &gp, on_piece, &r, &gs);
        free(prompt);
        fputs("\n", stdout);
        fflush(stdout);
        if (st != INGOT_OK || r.oom) {
            fprintf(stderr, "ingot chat: %s\n", r.oom ? "out of memory" : ingot_llm_ctx_error(c));
            free(r.s);
            drop_last(&cv);
            if (st == INGOT_ERR_LIMIT) fprintf(stderr, "ingot chat: the conversation no longer fits the context\n");
            continue;
        }
        fprintf(stderr, "[%lld prompt tokens (%lld reused), %lld generated, %.1f tok/s]\n", (long long)gs.n_prompt,
                (long long)gs.n_reused, (long long)gs.n_gen, gs.gen_ms > 0 ? gs.n_gen * 1000.0 / gs.gen_ms : 0.0);
        int bad = add_msg(&cv, "assistant", r.s ? r.s : "");
        free(r.s);
        if (bad) goto oom;
    }
    rc = 0;
    goto out;
oom:
    fprintf(stderr, "ingot chat: out of memory\n");
out:
    free(line);
    for (int i = 0; i < cv.n; i++) free((char *)cv.m[i].content);
    free(cv.m);
    ingot_llm_ctx_free(c);
    ingot_llm_free(m);
    return rc;
}
