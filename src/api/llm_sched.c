/*
 * llm_sched.c: include/ingot_llm_sched.h: the per-sequence sampler and text streamer a
 * batching scheduler needs beside ingot_llm_decode. The sampler wraps src/llm/sampler.h
 * with the parameter mapping ingot_llm_generate uses; the streamer reproduces
 * ingot_llm_generate's streaming: each id's piece (bytes, possibly a partial UTF-8
 * sequence) is appended, an incomplete UTF-8 tail is held back, and complete text is
 * released only up to the point where it can no longer grow into a stop string.
 *
 * A token's piece comes from the public detokenizer: detokenize([ref, id]) minus
 * detokenize([ref]), with ref a token whose text is not empty, so that the
 * leading-space stripping detokenize applies to a first piece never touches id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "ingot_llm_sched.h"
#include "llm/sampler.h"
#include "llm/tokenizer/tokenizer.h"

struct ingot_llm_sampler {
    it_sampler *s;
    int32_t top_ids[IT_SAMPLER_MAX_LOGPROBS];
    float top_lp[IT_SAMPLER_MAX_LOGPROBS];
};

ingot_status ingot_llm_sampler_create(const ingot_llm *m, const ingot_llm_gen_params *p, ingot_llm_sampler **out,
                                      char *err, size_t errlen) {
    it_err e = {{0}};
    ingot_llm_info info;
    int st = 0;
    if (out) *out = NULL;
    if (!m || !p || !out || ingot_llm_get_info(m, &info) != INGOT_OK) {
        st = it_fail(&e, INGOT_ERR_INVALID_ARG, "NULL model, params or out");
        goto done;
    }
    ingot_llm_sampler *s = calloc(1, sizeof *s);
    if (!s) {
        st = it_fail(&e, INGOT_ERR_NOMEM, "out of memory");
        goto done;
    }
    it_sampler_params sp;
    it_sampler_params_default(&sp);
    sp.temp = p->temp;
    sp.top_k = p->top_k;
    sp.top_p = p->top_p;
    sp.min_p = p->min_p;
    sp.typical_p = p->typical_p;
    sp.repeat_penalty = p->repeat_penalty;
    sp.penalty_last_n = p->penalty_last_n;
    sp.freq_penalty = p->frequency_penalty;
    sp.presence_penalty = p->presence_penalty;
    sp.seed = p->seed;
    sp.bias = (const it_logit_bias *)p->logit_bias; /* same layout */
    sp.n_bias = p->n_logit_bias;
    sp.n_logprobs = p->n_logprobs;
    st = it_sampler_create(&sp, info.n_vocab, &s->s, &e);
    if (st) {
        free(s);
        goto done;
    }
    *out = s;
done:
    if (err && errlen) snprintf(err, errlen, "%s", st ? e.msg : "");
    return (ingot_status)st;
}

void ingot_llm_sampler_free(ingot_llm_sampler *s) {
    if (!s) return;
    it_sampler_free(s->s);
    free(s);
}

void ingot_llm_sampler_accept(ingot_llm_sampler *s, int32_t id) {
    if (s) it_sampler_accept(s->s, id);
}

int32_t ingot_llm_sampler_sample(ingot_llm_sampler *s, const float *logits, ingot_llm_token *tok) {
    if (!s || !logits) return -1;
    it_sample_result r;
    int32_t id = it_sampler_sample(s->s, logits, &r);
    if (tok) {
        for (int32_t k = 0; k < r.n_top; k++) {
            s->top_ids[k] = r.top[k].id;
            s->top_lp[k] = r.top[k].logprob;
        }
        tok->id = id;
        tok->logprob = r.logprob;
        tok->n_top = id < 0 ? 0 : r.n_top;
        tok->top_ids = s->top_ids;
        tok->top_logprobs = s->top_lp;
    }
    return id;
}

/* ---------------------------------------------------------------- streamer */

struct ingot_llm_streamer {
    const ingot_llm *m;
    int32_t ref;        /* a token with non-empty text */
    int64_t ref_len;    /* bytes of detokenize([ref]) */
    char **stop;
    int n_stop;
    char utf8[8];       /* incomplete UTF-8 tail held back */
    size_t n_utf8;
    char *pend;         /* complete text not yet released (possible stop prefix) */
    size_t n_pend, cap_pend;
    char *out;          /* what the last call released */
    size_t cap_out;
    char piece[2 * IT_TOK_MAX_TOKEN_BYTES + 16];
};

void ingot_llm_streamer_free(ingot_llm_streamer *s) {
    if (!s) return;
    for (int i = 0; i < s->n_stop; i++) free(s->stop[i]);
    free(s->stop);
    free(s->pend);
    free(s->out);
    free(s);
}

ingot_status ingot_llm_streamer_create(const ingot_llm *m, const char *const *stop, int n_stop,
                                       ingot_llm_streamer **out, char *err, size_t errlen) {
    ingot_llm_info info;
    if (out) *out = NULL;
    if (!m || !out || n_stop < 0 || (n_stop && !stop) || ingot_llm_get_info(m, &info) != INGOT_OK) {
        if (err && errlen) snprintf(err, errlen, "invalid arguments");
        return INGOT_ERR_INVALID_ARG;
    }
    ingot_llm_streamer *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->m = m;
    s->ref = -1;
    for (int32_t id = 0; id < info.n_vocab && id < 4096; id++) {
        char b[IT_TOK_MAX_TOKEN_BYTES + 8];
        int64_t n = ingot_llm_detokenize(m, &id, 1, b, sizeof b);
        if (n > 0) {
            s->ref = id;
            s->ref_len = n;
            break;
        }
    }
    if (s->ref < 0) {
        ingot_llm_streamer_free(s);
        if (err && errlen) snprintf(err, errlen, "the vocabulary has no token with text");
        return INGOT_ERR_INVALID_ARG;
    }
    if (n_stop) {
        s->stop = calloc((size_t)n_stop, sizeof *s->stop);
        if (!s->stop) goto oom;
        for (int i = 0; i < n_stop; i++) {
            if (!stop[i]) {
                ingot_llm_streamer_free(s);
                if (err && errlen) snprintf(err, errlen, "stop string %d is NULL", i);
                return INGOT_ERR_INVALID_ARG;
            }
            s->stop[i] = strdup(stop[i]);
            s->n_stop = i + 1;
            if (!s->stop[i]) goto oom;
        }
    }
    *out = s;
    if (err && errlen) err[0] = 0;
    return INGOT_OK;
oom:
    ingot_llm_streamer_free(s);
    if (err && errlen) snprintf(err, errlen, "out of memory");
    return INGOT_ERR_NOMEM;
}

static int pend_add(ingot_llm_streamer *s, const char *b, size_t n) {
    if (s->n_pend + n > s->cap_pend) {
        size_t nc = (s->n_pend + n) * 2 + 64;
        char *nb = realloc(s->pend, nc);
        if (!nb) return INGOT_ERR_NOMEM;
        s->pend = nb;
        s->cap_pend = nc;
    }
    memcpy(s->pend + s->n_pend, b, n);
    s->n_pend += n;
    return 0;
}

/* Move the first n pending bytes to s->out. */
static int release(ingot_llm_streamer *s, size_t n, const char **text, size_t *len) {
    if (n + 1 > s->cap_out) {
        size_t nc = n * 2 + 64;
        char *nb = realloc(s->out, nc);
        if (!nb) return INGOT_ERR_NOMEM;
        s->out = nb;
        s->cap_out = nc;
    }
    if (n) memcpy(s->out, s->pend, n);
    s->out[n] = 0;
    memmove(s->pend, s->pend + n, s->n_pend - n);
    s->n_pend -= n;
    *text = s->out;
    *len = n;
    return 0;
}

int ingot_llm_streamer_push(ingot_llm_streamer *s, int32_t id, const char **text, size_t *len) {
    static const char empty[1] = "";
    *text = empty;
    *len = 0;
    if (!s) return INGOT_ERR_INVALID_ARG;
    int32_t two[2] = {s->ref, id};
    /* held-back UTF-8 bytes, then detokenize([ref, id]) whose first ref_len bytes are ref's */
    memcpy(s->piece, s->utf8, s->n_utf8);
    char *dst = s->piece + s->n_utf8;
    size_t room = sizeof s->piece - s->n_utf8;
    int64_t n = ingot_llm_detokenize(s->m, two, 2, dst, room);
    if (n < 0) return (int)n;
    if ((size_t)n > room || n < s->ref_len) return INGOT_ERR_LIMIT;
    size_t k = (size_t)(n - s->ref_len);
    memmove(dst, dst + s->ref_len, k);
    size_t have = s->n_utf8 + k;
    size_t keep = it_utf8_incomplete_tail(s->piece, have);
    if (pend_add(s, s->piece, have - keep)) return INGOT_ERR_NOMEM;
    memcpy(s->utf8, s->piece + have - keep, keep);
    s->n_utf8 = keep;
    size_t at = 0, safe = s->n_pend;
    int hit = s->n_stop ? it_stop_find(s->pend ? s->pend : "", s->n_pend, (const char *const *)s->stop, s->n_stop,
                                       &at, &safe)
                        : 0;
    if (release(s, hit ? at : safe, text, len)) return INGOT_ERR_NOMEM;
    if (hit) s->n_pend = 0, s->n_utf8 = 0;
    return hit;
}

void ingot_llm_streamer_flush(ingot_llm_streamer *s, const char **text, size_t *len) {
    static const char empty[1] = "";
    *text = empty;
    *len = 0;
    if (!s) return;
    if (s->n_utf8) {
        s->n_utf8 = 0;
        if (pend_add(s, "\xEF\xBF\xBD", 3)) return;
    }
    release(s, s->n_pend, text, len);
}
