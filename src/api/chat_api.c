/*
 * chat_api.c: include/ingot_chat.h: rendering a conversation with a model's chat
 * template through the Jinja interpreter of src/llm/jinja, with the model's BOS/EOS
 * token texts as bos_token/eos_token, the current time for strftime_now, the removal of
 * a leading BOS text that the tokenizer would add again, and a plain "role: content"
 * fallback for models without a template.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "ingot_chat.h"
#include "llm/jinja/jinja.h"
#include "llm/model.h"

/* The loaded model behind a handle. ingot_llm (llm_api.c) starts with its it_llm_model
 * pointer; a pointer to a struct, converted, points to its first member (C11 6.7.2.1).
 * TODO(lead): replace with an accessor exported by llm_api.c. */
static const it_llm_model *model_of(const ingot_llm *m) { return *(it_llm_model *const *)(const void *)m; }

static char *token_text(const it_llm_model *mm, int32_t id) {
    if (id < 0 || !mm->tok || id >= it_tok_n_tokens(mm->tok)) return NULL;
    size_t len = 0;
    const char *s = it_tok_text(mm->tok, id, &len);
    if (!s) return NULL;
    char *r = malloc(len + 1);
    if (r) memcpy(r, s, len), r[len] = 0;
    return r;
}

static ingot_status status_of(int st) {
    switch (st) {
    case 0: return INGOT_OK;
    case -2: return INGOT_ERR_NOMEM;
    case -7: return INGOT_ERR_LIMIT;
    case -1: return INGOT_ERR_INVALID_ARG;
    default: return INGOT_ERR_FORMAT;
    }
}

static ingot_status render(const char *tmpl, const ingot_chat_message *msgs, int n, int agp, const char *bos,
                           const char *eos, int64_t now, char **out, char *err, size_t errlen) {
    if (out) *out = NULL;
    if (!tmpl || !out || n < 0 || (n > 0 && !msgs)) {
        if (err && errlen) snprintf(err, errlen, "ingot_chat_render: bad arguments");
        return INGOT_ERR_INVALID_ARG;
    }
    if (n > IT_JINJA_MAX_MESSAGES) {
        if (err && errlen) snprintf(err, errlen, "%d messages: more than the limit of %d", n, IT_JINJA_MAX_MESSAGES);
        return INGOT_ERR_LIMIT;
    }
    it_jinja_msg *jm = n ? malloc((size_t)n * sizeof *jm) : NULL;
    if (n && !jm) {
        if (err && errlen) snprintf(err, errlen, "out of memory");
        return INGOT_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++) jm[i].role = msgs[i].role, jm[i].content = msgs[i].content;
    it_jinja_vars v = {.msgs = jm, .n_msgs = n, .bos_token = bos, .eos_token = eos, .add_generation_prompt = agp,
                       .now = now};
    int st = it_jinja_render(tmpl, strlen(tmpl), &v, out, NULL, err, errlen);
    free(jm);
    return status_of(st);
}

ingot_status ingot_chat_render_template(const char *tmpl, const ingot_chat_message *msgs, int n,
                                        int add_generation_prompt, const char *bos_token, const char *eos_token,
                                        int64_t now, char **out, char *err, size_t errlen) {
    return render(tmpl, msgs, n, add_generation_prompt, bos_token, eos_token, now, out, err, errlen);
}

static ingot_status render_plain(const ingot_chat_message *msgs, int n, int agp, char **out, char *err,
                                 size_t errlen) {
    size_t len = 16;
    for (int i = 0; i < n; i++)
        len += (msgs[i].role ? strlen(msgs[i].role) : 0) + (msgs[i].content ? strlen(msgs[i].content) : 0) + 4;
    char *s = malloc(len), *p = s;
    if (!s) {
        if (err && errlen) snprintf(err, errlen, "out of memory");
        return INGOT_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++) {
        const char *r = msgs[i].role ? msgs[i].role : "", *c = msgs[i].content ? msgs[i].content : "";
        size_t rl = strlen(r), cl = strlen(c);
        memcpy(p, r, rl), p += rl;
        memcpy(p, ": ", 2), p += 2;
        memcpy(p, c, cl), p += cl;
        *p++ = '\n';
    }
    if (agp) memcpy(p, "assistant:", 10), p += 10;
    *p = 0;
    *out = s;
    return INGOT_OK;
}

int ingot_chat_tokenize_flags(const ingot_llm *m) {
    ingot_llm_info info;
    if (!m || ingot_llm_get_info(m, &info) != INGOT_OK || !info.chat_template) return INGOT_LLM_ADD_SPECIAL;
    return INGOT_LLM_ADD_SPECIAL | INGOT_LLM_PARSE_SPECIAL;
}

ingot_status ingot_chat_render(const ingot_llm *m, const ingot_chat_message *msgs, int n, int add_generation_prompt,
                               char **out, char *err, size_t errlen) {
    if (out) *out = NULL;
    if (err && errlen) err[0] = 0;
    ingot_llm_info info;
    if (!m || !out || n < 0 || (n > 0 && !msgs) || ingot_llm_get_info(m, &info) != INGOT_OK) {
        if (err && errlen) snprintf(err, errlen, "ingot_chat_render: bad arguments");
        return INGOT_ERR_INVALID_ARG;
    }
    if (n > IT_JINJA_MAX_MESSAGES) {
        if (err && errlen) snprintf(err, errlen, "%d messages: more than the limit of %d", n, IT_JINJA_MAX_MESSAGES);
        return INGOT_ERR_LIMIT;
    }
    if (!info.chat_template) return render_plain(msgs, n, add_generation_prompt, out, err, errlen);
    const it_llm_model *mm = model_of(m);
    char *bos = token_text(mm, info.bos), *eos = token_text(mm, info.eos);
    ingot_status st = render(info.chat_template, msgs, n, add_generation_prompt, bos, eos, (int64_t)time(NULL), out,
                             err, errlen);
    /* the tokenizer adds BOS itself: drop the template's copy */
    if (st == INGOT_OK && bos && bos[0] && mm->tok && it_tok_add_bos(mm->tok)) {
        size_t bl = strlen(bos);
        if (!strncmp(*out, bos, bl)) memmove(*out, *out + bl, strlen(*out + bl) + 1);
    }
    free(bos), free(eos);
    return st;
}
