/*
 * llm_api.c: the LLM half of include/ingot_llm.h on top of src/llm: model loading and
 * facts, tokenization, contexts with batched decoding, and text generation (prompt in
 * batches, sampling, streaming detokenization that holds back incomplete UTF-8 and
 * possible stop-string prefixes, reuse of the cached prompt prefix between calls).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"
#include "ingot_llm.h"
#include "ingot_llm_sched.h"
#include "llm/context.h"
#include "llm/model.h"
#include "llm/sampler.h"
#include "tensor/quant.h"

struct ingot_llm {
    it_llm_model *m;
    int64_t n_params, weight_bytes;
};

struct ingot_llm_ctx {
    const ingot_llm *m;
    it_llm_ctx *c;
    int64_t n_batch;
    it_err err;
    int32_t *toks; /* tokens held by sequence 0 (for prefix reuse) */
    int64_t n_toks, cap_toks;
    float *logits; /* [n_vocab] */
};

static ingot_status finish(int st, const it_err *e, char *err, size_t errlen) {
    if (err && errlen) {
        if (st) snprintf(err, errlen, "%s", e->msg[0] ? e->msg : ingot_status_str((ingot_status)st));
        else err[0] = 0;
    }
    return (ingot_status)st;
}

/* ---------------------------------------------------------------- models */

static void count_weight(ingot_llm *l, const it_llm_weight *w) {
    if (!w->data) return;
    l->n_params += w->n_in * w->n_out;
    l->weight_bytes += w->row_bytes * w->n_out;
}

ingot_status ingot_llm_load(const char *path, const char *tokenizer, ingot_llm **out, char *err, size_t errlen) {
    it_err e = {{0}};
    if (!out) return finish(it_fail(&e, INGOT_ERR_INVALID_ARG, "out is NULL"), &e, err, errlen);
    *out = NULL;
    if (!path) return finish(it_fail(&e, INGOT_ERR_INVALID_ARG, "path is NULL"), &e, err, errlen);
    ingot_llm *l = calloc(1, sizeof *l);
    if (!l) return finish(it_fail(&e, INGOT_ERR_NOMEM, "out of memory"), &e, err, errlen);
    int st = it_llm_model_load(path, tokenizer, &l->m, &e);
    if (!st && (st = it_llm_model_pack(l->m, &e))) it_llm_model_free(l->m);
    if (st) {
        char tmp[sizeof e.msg];
        memcpy(tmp, e.msg, sizeof tmp);
        if (!strstr(tmp, path)) snprintf(e.msg, sizeof e.msg, "%.200s: %.300s", path, tmp);
        free(l);
        return finish(st, &e, err, errlen);
    }
    const it_llm_model *m = l->m;
    count_weight(l, &m->tok_embd);
    count_weight(l, &m->output_norm);
    if (m->output.data != m->tok_embd.data) count_weight(l, &m->output);
    for (int64_t i = 0; i < m->hp.n_layer; i++) {
        const it_llm_layer *L = &m->layers[i];
        const it_llm_weight *ws[] = {&L->attn_norm, &L->wq, &L->wk, &L->wv, &L->wo, &L->bq, &L->bk, &L->bv,
                                     &L->q_norm, &L->k_norm, &L->ffn_norm, &L->w_gate, &L->w_up, &L->w_down,
                                     &L->attn_post_norm, &L->ffn_post_norm};
        for (size_t k = 0; k < sizeof ws / sizeof ws[0]; k++) count_weight(l, ws[k]);
    }
    *out = l;
    return finish(0, &e, err, errlen);
}

void ingot_llm_free(ingot_llm *m) {
    if (!m) return;
    it_llm_model_free(m->m);
    free(m);
}

ingot_status ingot_llm_get_info(const ingot_llm *l, ingot_llm_info *info) {
    if (!l || !info) return INGOT_ERR_INVALID_ARG;
    const it_llm_model *m = l->m;
    memset(info, 0, sizeof *info);
    info->arch = m->arch_name;
    info->name = m->name;
    info->format = m->format;
    info->chat_template = m->chat_template;
    info->n_ctx_train = m->hp.n_ctx_train;
    info->n_vocab = m->hp.n_vocab;
    info->n_embd = m->hp.n_embd;
    info->n_layer = m->hp.n_layer;
    info->n_head = m->hp.n_head;
    info->n_head_kv = m->hp.n_head_kv;
    info->n_ff = m->hp.n_ff;
    info->n_params = l->n_params;
    info->weight_bytes = l->weight_bytes;
    info->bos = it_tok_special_id(m->tok, IT_TOK_ID_BOS);
    info->eos = it_tok_special_id(m->tok, IT_TOK_ID_EOS);
    return INGOT_OK;
}

ingot_status ingot_llm_tokenize(const ingot_llm *l, const char *text, size_t len, int flags, int32_t *ids,
                                size_t cap, size_t *n_ids) {
    if (!l || (!text && len) || !n_ids || (!ids && cap)) return INGOT_ERR_INVALID_ARG;
    int f = (flags & INGOT_LLM_ADD_SPECIAL ? IT_TOK_ADD_SPECIAL : 0) |
            (flags & INGOT_LLM_PARSE_SPECIAL ? IT_TOK_PARSE_SPECIAL : 0);
    return (ingot_status)it_tok_tokenize(l->m->tok, text ? text : "", len, f, ids, cap, n_ids, NULL);
}

int64_t ingot_llm_detokenize(const ingot_llm *l, const int32_t *ids, size_t n, char *buf, size_t cap) {
    if (!l || (!ids && n) || (!buf && cap)) return INGOT_ERR_INVALID_ARG;
    return it_tok_detokenize(l->m->tok, ids, n, 0, buf, cap);
}

int ingot_llm_is_eog(const ingot_llm *l, int32_t id) { return l && it_tok_is_eog(l->m->tok, id); }

/* ---------------------------------------------------------------- contexts */

int ingot_llm_numerics_from_name(const char *name) {
    if (!name) return -1;
    if (!strcasecmp(name, "default")) return INGOT_LLM_NUMERICS_DEFAULT;
    if (!strcasecmp(name, "llamacpp") || !strcasecmp(name, "llama.cpp")) return INGOT_LLM_NUMERICS_LLAMACPP;
    return -1;
}

int ingot_llm_kv_type_from_name(const char *name) {
    if (!name) return -1;
    if (!strcasecmp(name, "f16")) return INGOT_LLM_KV_F16;
    if (!strcasecmp(name, "f32")) return INGOT_LLM_KV_F32;
    if (!strcasecmp(name, "q8_0")) return INGOT_LLM_KV_Q8_0;
    return -1;
}

int64_t ingot_llm_kv_bytes_per_pos(const ingot_llm *l, int kv_type) {
    if (!l) return 0;
    const it_llm_hparams *h = &l->m->hp;
    const int64_t kv_dim = h->n_head_kv * h->head_dim;
    const int64_t row = kv_type == INGOT_LLM_KV_F16 ? kv_dim * 2 : kv_type == INGOT_LLM_KV_F32 ? kv_dim * 4
                        : kv_type == INGOT_LLM_KV_Q8_0 ? kv_dim / 32 * 34 : 0;
    return 2 * h->n_layer * row;
}

typedef struct sample_job {
    ingot_llm_sampler *const *smp;
    const float *logits;
    int64_t ld;
    int32_t *ids;
    ingot_llm_token *toks;
} sample_job;

static void sample_rows(void *arg, int64_t i0, int64_t i1, int tid) {
    const sample_job *j = arg;
    (void)tid;
    for (int64_t i = i0; i < i1; i++)
        j->ids[i] = ingot_llm_sampler_sample(j->smp[i], j->logits + i * j->ld, j->toks ? &j->toks[i] : NULL);
}

void ingot_llm_sampler_sample_rows(ingot_llm_ctx *c, int n, ingot_llm_sampler *const *smp, const float *logits,
                                   int64_t ld, int32_t *ids, ingot_llm_token *toks) {
    if (!c || n <= 0 || !smp || !logits || !ids) return;
    sample_job j = {smp, logits, ld, ids, toks};
    it_parallel_for(c->c->tp, n, 1, sample_rows, &j);
}

static void sample_row(void *arg, int64_t row, const float *logits) {
    const sample_job *j = arg;
    j->ids[row] = ingot_llm_sampler_sample(j->smp[row], logits, j->toks ? &j->toks[row] : NULL);
}


void ingot_llm_ctx_params_default(ingot_llm_ctx_params *p) {
    memset(p, 0, sizeof *p);
    p->n_seq = 1;
    p->n_batch = 512;
}

ingot_status ingot_llm_ctx_create(const ingot_llm *l, const ingot_llm_ctx_params *p, ingot_llm_ctx **out, char *err,
                                  size_t errlen) {
    it_err e = {{0}};
    if (!l || !out) return finish(it_fail(&e, INGOT_ERR_INVALID_ARG, "NULL model or out"), &e, err, errlen);
    *out = NULL;
    ingot_llm_ctx_params d;
    ingot_llm_ctx_params_default(&d);
    if (p) d = *p;
    if (d.n_batch <= 0) d.n_batch = 512;
    if (d.n_batch > 65536) d.n_batch = 65536;
    ingot_llm_ctx *c = calloc(1, sizeof *c);
    if (!c) return finish(it_fail(&e, INGOT_ERR_NOMEM, "out of memory"), &e, err, errlen);
    c->m = l;
    c->n_batch = d.n_batch;
    if (d.n_ctx <= 0) d.n_ctx = l->m->hp.n_ctx_train < 4096 ? l->m->hp.n_ctx_train : 4096;
    if (d.n_kv_blocks < 0) d.n_kv_blocks = 0;
    if (d.kv_type != INGOT_LLM_KV_F16 && d.kv_type != INGOT_LLM_KV_F32 && d.kv_type != INGOT_LLM_KV_Q8_0) {
        free(c);
        return finish(it_fail(&e, INGOT_ERR_INVALID_ARG, "unknown KV cache type %d", d.kv_type), &e, err, errlen);
    }
    const int kvt = d.kv_f32 || d.kv_type == INGOT_LLM_KV_F32 ? IT_KV_F32 : d.kv_type == INGOT_LLM_KV_Q8_0 ? IT_KV_Q8_0 : IT_KV_F16;
    if (d.numerics != INGOT_LLM_NUMERICS_DEFAULT && d.numerics != INGOT_LLM_NUMERICS_LLAMACPP) {
        free(c);
        return finish(it_fail(&e, INGOT_ERR_INVALID_ARG, "unknown numerics %d", d.numerics), &e, err, errlen);
    }
    it_llm_ctx_params cp = {d.n_ctx, d.n_seq, d.n_threads, kvt, d.n_kv_blocks,
                            d.numerics == INGOT_LLM_NUMERICS_LLAMACPP ? IT_LLM_NUMERICS_GGML : IT_LLM_NUMERICS_DEFAULT};
    int st = it_llm_ctx_create(l->m, &cp, &c->c, &e);
    if (!st && d.prefix_cache) st = it_kv_prefix_enable(&c->c->kv, &e);
    if (!st) {
        c->logits = malloc((size_t)l->m->hp.n_vocab * sizeof *c->logits);
        if (!c->logits) st = it_fail(&e, INGOT_ERR_NOMEM, "out of memory");
    }
    if (st) {
        ingot_llm_ctx_free(c);
        return finish(st, &e, err, errlen);
    }
    *out = c;
    return INGOT_OK;
}

void ingot_llm_ctx_free(ingot_llm_ctx *c) {
    if (!c) return;
    it_llm_ctx_free(c->c);
    free(c->toks);
    free(c->logits);
    free(c);
}

int64_t ingot_llm_ctx_n_ctx(const ingot_llm_ctx *c) { return c ? c->c->kv.n_ctx : 0; }

int ingot_llm_ctx_n_threads(const ingot_llm_ctx *c) { return c ? c->c->nthreads : 0; }

const char *ingot_llm_ctx_error(const ingot_llm_ctx *c) { return c ? c->err.msg : "NULL context"; }

/* the positions a decode computed, in runs, to the prefix cache */
static void note_prefix(ingot_llm_ctx *c, int64_t n, const int32_t *tokens, const int32_t *pos, const int32_t *seq) {
    if (!c->c->kv.prefix || !tokens || !pos || !seq) return;
    for (int64_t i = 0; i < n;) {
        int64_t j = i + 1;
        while (j < n && seq[j] == seq[i] && pos[j] == pos[j - 1] + 1) j++;
        it_kv_prefix_note(&c->c->kv, seq[i], pos[i], tokens + i, j - i);
        i = j;
    }
}

/* ingot_llm_decode, with each output row passed to fn when fn is set */
static ingot_status decode_api(ingot_llm_ctx *c, int64_t n, const int32_t *tokens, const int32_t *pos,
                               const int32_t *seq, const uint8_t *want_logits, float *logits,
                               void (*fn)(void *arg, int64_t row, const float *logits), void *arg) {
    if (!c) return INGOT_ERR_INVALID_ARG;
    c->err.msg[0] = 0;
    it_llm_batch b = {n, tokens, pos, seq, want_logits};
    for (int64_t i = 0; i < n && tokens && seq; i++)
        if (seq[i] == 0) c->n_toks = 0; /* sequence 0 changed outside generate: no prefix reuse */
    int st = fn ? it_llm_decode_rows(c->c, &b, logits, fn, arg, &c->err) : it_llm_decode(c->c, &b, logits, &c->err);
    if (!st) note_prefix(c, n, tokens, pos, seq);
    return (ingot_status)st;
}

ingot_status ingot_llm_decode(ingot_llm_ctx *c, int64_t n, const int32_t *tokens, const int32_t *pos,
                              const int32_t *seq, const uint8_t *want_logits, float *logits) {
    return decode_api(c, n, tokens, pos, seq, want_logits, logits, NULL, NULL);
}

ingot_status ingot_llm_decode_sample(ingot_llm_ctx *c, int64_t n, const int32_t *tokens, const int32_t *pos,
                                     const int32_t *seq, const uint8_t *want_logits, float *logits,
                                     ingot_llm_sampler *const *smp, int32_t *ids, ingot_llm_token *toks) {
    if (c && (!smp || !ids || !logits)) {
        c->err.msg[0] = 0;
        it_fail(&c->err, INGOT_ERR_INVALID_ARG, "decode and sample: NULL samplers, ids or logits");
        return INGOT_ERR_INVALID_ARG;
    }
    sample_job j = {smp, logits, 0, ids, toks};
    return decode_api(c, n, tokens, pos, seq, want_logits, logits, sample_row, &j);
}

typedef struct steps_draw {
    ingot_llm_sampler *const *smp;
    const uint8_t *stop_eog;
    const ingot_llm *m;
    int n;
    float *logprobs;
} steps_draw;

static int draw_step(void *arg, int i, int k, const float *logits, int32_t *id) {
    const steps_draw *d = arg;
    ingot_llm_token tk;
    *id = ingot_llm_sampler_sample(d->smp[i], logits, &tk);
    if (d->logprobs) d->logprobs[(size_t)k * (size_t)d->n + (size_t)i] = tk.logprob;
    if (*id < 0) return 1;
    ingot_llm_sampler_accept(d->smp[i], *id);
    return d->stop_eog && d->stop_eog[i] && ingot_llm_is_eog(d->m, *id);
}

ingot_status ingot_llm_decode_steps(ingot_llm_ctx *c, int n, const int32_t *tokens, const int32_t *pos,
                                    const int32_t *seq, ingot_llm_sampler *const *smp, const uint8_t *stop_eog,
                                    int n_steps, int *steps, int32_t *ids, float *logprobs) {
    if (!c) return INGOT_ERR_INVALID_ARG;
    c->err.msg[0] = 0;
    if (!smp) return (ingot_status)it_fail(&c->err, INGOT_ERR_INVALID_ARG, "decode steps: NULL samplers");
    for (int i = 0; i < n && seq; i++)
        if (seq[i] == 0) c->n_toks = 0; /* sequence 0 changed outside generate: no prefix reuse */
    steps_draw d = {smp, stop_eog, c->m, n, logprobs};
    int st = it_llm_decode_steps(c->c, n, tokens, pos, seq, n_steps, steps, draw_step, &d, ids, &c->err);
    if (st || !c->c->kv.prefix) return (ingot_status)st;
    int32_t *fed = malloc((size_t)n_steps * sizeof *fed); /* each sequence's tokens fed, to the prefix cache */
    for (int i = 0; i < n && fed; i++) {
        if (!steps[i]) continue;
        fed[0] = tokens[i];
        for (int k = 1; k < steps[i]; k++) fed[k] = ids[(size_t)(k - 1) * (size_t)n + (size_t)i];
        it_kv_prefix_note(&c->c->kv, seq[i], pos[i], fed, steps[i]);
    }
    free(fed);
    return (ingot_status)st;
}

int64_t ingot_llm_seq_match_prefix(ingot_llm_ctx *c, int seq, const int32_t *tokens, int64_t n) {
    if (!c || seq < 0 || seq >= c->c->kv.n_seq) return 0;
    if (seq == 0) c->n_toks = 0;
    return it_kv_prefix_match(&c->c->kv, seq, tokens, n);
}

void ingot_llm_kv_get_stats(const ingot_llm_ctx *c, ingot_llm_kv_stats *st) {
    memset(st, 0, sizeof *st);
    if (!c) return;
    const it_kv_cache *kv = &c->c->kv;
    st->total = kv->n_blocks;
    it_kv_usage(kv, &st->used, &st->cached_idle);
    st->available = kv->n_free;
    st->prefix_queries = kv->queries;
    st->prefix_hits = kv->hits;
}

ingot_status ingot_llm_seq_truncate(ingot_llm_ctx *c, int seq, int64_t len) {
    if (!c) return INGOT_ERR_INVALID_ARG;
    c->err.msg[0] = 0;
    if (seq == 0 && len < c->n_toks) c->n_toks = len < 0 ? 0 : len;
    return (ingot_status)it_llm_seq_truncate(c->c, seq, len, &c->err);
}

ingot_status ingot_llm_seq_fork(ingot_llm_ctx *c, int src, int dst, int64_t len) {
    if (!c) return INGOT_ERR_INVALID_ARG;
    c->err.msg[0] = 0;
    if (dst == 0) c->n_toks = 0;
    return (ingot_status)it_llm_seq_fork(c->c, src, dst, len, &c->err);
}

ingot_status ingot_llm_embed(ingot_llm_ctx *c, int seq, const int32_t *tokens, int64_t n, int pooling, float *out) {
    if (!c || !tokens || !out || seq < 0 || seq >= c->c->kv.n_seq) return INGOT_ERR_INVALID_ARG;
    c->err.msg[0] = 0;
    const it_llm_model *m = c->m->m;
    const int64_t D = m->hp.n_embd, n_ctx = c->c->kv.n_ctx;
    if (n < 1 || n > n_ctx)
        return (ingot_status)it_fail(&c->err, INGOT_ERR_LIMIT, "%lld tokens to embed: the context holds 1 to %lld",
                                     (long long)n, (long long)n_ctx);
    if (pooling == INGOT_LLM_POOL_MODEL) {
        int64_t pt = INGOT_LLM_POOL_MEAN;
        char key[96];
        snprintf(key, sizeof key, "%s.pooling_type", m->arch_name);
        if (m->gguf && it_gguf_get_int(m->gguf, key, &pt, NULL) == 0 && pt == INGOT_LLM_POOL_LAST) pooling = (int)pt;
        else pooling = INGOT_LLM_POOL_MEAN;
    }
    if (pooling != INGOT_LLM_POOL_MEAN && pooling != INGOT_LLM_POOL_LAST)
        return (ingot_status)it_fail(&c->err, INGOT_ERR_INVALID_ARG, "pooling %d (mean %d or last %d)", pooling,
                                     INGOT_LLM_POOL_MEAN, INGOT_LLM_POOL_LAST);
    if (seq == 0) c->n_toks = 0;
    const int64_t nb = c->n_batch < n ? c->n_batch : n;
    float *h = malloc((size_t)(nb * D) * sizeof *h);
    double *sum = calloc((size_t)D, sizeof *sum);
    int32_t *pos = malloc((size_t)nb * sizeof *pos), *sq = malloc((size_t)nb * sizeof *sq);
    int st = !h || !sum || !pos || !sq ? it_fail(&c->err, INGOT_ERR_NOMEM, "out of memory") : 0;
    if (!st) st = it_llm_seq_truncate(c->c, seq, 0, &c->err);
    for (int64_t i = 0; i < n && !st; i += nb) {
        int64_t k = n - i < nb ? n - i : nb;
        for (int64_t t = 0; t < k; t++) pos[t] = (int32_t)(i + t), sq[t] = seq;
        it_llm_batch b = {k, tokens + i, pos, sq, NULL, 1};
        if ((st = it_llm_decode(c->c, &b, h, &c->err))) break;
        if (pooling == INGOT_LLM_POOL_MEAN)
            for (int64_t t = 0; t < k; t++)
                for (int64_t d = 0; d < D; d++) sum[d] += h[t * D + d];
        else if (i + k == n)
            for (int64_t d = 0; d < D; d++) sum[d] = h[(k - 1) * D + d];
    }
    if (!st) {
        double norm = 0;
        for (int64_t d = 0; d < D; d++) norm += sum[d] * sum[d];
        norm = norm > 0 ? 1.0 / sqrt(norm) : 0;
        for (int64_t d = 0; d < D; d++) out[d] = (float)(sum[d] * norm);
    }
    it_llm_seq_truncate(c->c, seq, 0, NULL);
    free(h);
    free(sum);
    free(pos);
    free(sq);
    return (ingot_status)st;
}

int64_t ingot_llm_seq_len(const ingot_llm_ctx *c, int seq) { return c ? it_llm_seq_len(c->c, seq) : -1; }

/* ---------------------------------------------------------------- generation */

void ingot_llm_gen_params_default(ingot_llm_gen_params *p) {
    it_sampler_params sp; /* the sampler's defaults, one place */
    it_sampler_params_default(&sp);
    memset(p, 0, sizeof *p);
    p->max_tokens = 128;
    p->temp = sp.temp;
    p->top_k = sp.top_k;
    p->top_p = sp.top_p;
    p->min_p = sp.min_p;
    p->typical_p = sp.typical_p;
    p->repeat_penalty = sp.repeat_penalty;
    p->penalty_last_n = sp.penalty_last_n;
    p->add_special = 1;
}

static int push_tok(ingot_llm_ctx *c, int32_t id) {
    if (c->n_toks == c->cap_toks) {
        int64_t nc = c->cap_toks ? c->cap_toks * 2 : 256;
        int32_t *nt = realloc(c->toks, (size_t)nc * sizeof *nt);
        if (!nt) return INGOT_ERR_NOMEM;
        c->toks = nt;
        c->cap_toks = nc;
    }
    c->toks[c->n_toks++] = id;
    return 0;
}

/* text not yet released to the callback (incomplete stop-string prefixes) */
typedef struct pending {
    char *b;
    size_t n, cap;
} pending;

static int pend_add(pending *p, const char *s, size_t n) {
    if (p->n + n > p->cap) {
        size_t nc = (p->n + n) * 2 + 64;
        char *nb = realloc(p->b, nc);
        if (!nb) return INGOT_ERR_NOMEM;
        p->b = nb;
        p->cap = nc;
    }
    memcpy(p->b + p->n, s, n);
    p->n += n;
    return 0;
}

ingot_status ingot_llm_generate(ingot_llm_ctx *c, const char *prompt, size_t len, const ingot_llm_gen_params *gp,
                                ingot_llm_piece_fn cb, void *user, ingot_llm_gen_stats *stats) {
    if (!c) return INGOT_ERR_INVALID_ARG;
    it_err *e = &c->err;
    e->msg[0] = 0;
    ingot_llm_gen_params p;
    ingot_llm_gen_params_default(&p);
    if (gp) p = *gp;
    ingot_llm_gen_stats stx;
    memset(&stx, 0, sizeof stx);
    const it_llm_model *m = c->m->m;
    const int64_t n_ctx = c->c->kv.n_ctx, V = m->hp.n_vocab;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    it_sampler *smp = NULL;
    pending pend = {NULL, 0, 0};
    int st;
    if (!prompt && len) return (ingot_status)it_fail(e, INGOT_ERR_INVALID_ARG, "prompt is NULL");
    if (p.n_stop < 0 || (p.n_stop && !p.stop) || p.n_logit_bias < 0 || (p.n_logit_bias && !p.logit_bias))
        return (ingot_status)it_fail(e, INGOT_ERR_INVALID_ARG, "stop strings or logit bias given without an array");
    for (int i = 0; i < p.n_stop; i++)
        if (!p.stop[i]) return (ingot_status)it_fail(e, INGOT_ERR_INVALID_ARG, "stop string %d is NULL", i);
    int tf = (p.add_special ? IT_TOK_ADD_SPECIAL : 0) | (p.parse_special ? IT_TOK_PARSE_SPECIAL : 0);
    if ((st = it_tok_tokenize_alloc(m->tok, prompt ? prompt : "", len, tf, &ids, &n_ids, e))) goto done;
    if (n_ids == 0) {
        st = it_fail(e, INGOT_ERR_INVALID_ARG, "the prompt is empty (no tokens)");
        goto done;
    }
    if ((int64_t)n_ids >= n_ctx) {
        st = it_fail(e, INGOT_ERR_LIMIT,
                     "the prompt has %zu tokens; the context holds %lld (n_ctx), which leaves no room to generate",
                     n_ids, (long long)n_ctx);
        goto done;
    }
    it_sampler_params sp;
    it_sampler_params_default(&sp);
    sp.temp = p.temp;
    sp.top_k = p.top_k;
    sp.top_p = p.top_p;
    sp.min_p = p.min_p;
    sp.typical_p = p.typical_p;
    sp.repeat_penalty = p.repeat_penalty;
    sp.penalty_last_n = p.penalty_last_n;
    sp.freq_penalty = p.frequency_penalty;
    sp.presence_penalty = p.presence_penalty;
    sp.seed = p.seed;
    sp.bias = (const it_logit_bias *)p.logit_bias; /* same layout */
    sp.n_bias = p.n_logit_bias;
    sp.n_logprobs = p.n_logprobs;
    if ((st = it_sampler_create(&sp, V, &smp, e))) goto done;
    for (size_t i = 0; i < n_ids; i++) it_sampler_accept(smp, ids[i]);

    /* reuse the cached prefix; always recompute the last prompt token for its logits */
    int64_t reuse = 0;
    while (reuse < c->n_toks && reuse < (int64_t)n_ids - 1 && c->toks[reuse] == ids[reuse]) reuse++;
    if ((st = it_llm_seq_truncate(c->c, 0, reuse, e))) goto done;
    c->n_toks = reuse;
    stx.n_prompt = (int64_t)n_ids;
    stx.n_reused = reuse;
    double t0 = it_now_ms();
    int32_t *pos = malloc((size_t)c->n_batch * sizeof *pos), *seq = calloc((size_t)c->n_batch, sizeof *seq);
    uint8_t *want = calloc((size_t)c->n_batch, 1);
    if (!pos || !seq || !want) {
        free(pos); free(seq); free(want);
        st = it_fail(e, INGOT_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int64_t i = reuse; i < (int64_t)n_ids && !st;) {
        int64_t nb = (int64_t)n_ids - i < c->n_batch ? (int64_t)n_ids - i : c->n_batch;
        for (int64_t k = 0; k < nb; k++) {
            pos[k] = (int32_t)(i + k);
            want[k] = i + k == (int64_t)n_ids - 1;
        }
        it_llm_batch b = {nb, ids + i, pos, seq, want};
        st = it_llm_decode(c->c, &b, c->logits, e);
        for (int64_t k = 0; k < nb && !st; k++) st = push_tok(c, ids[i + k]);
        i += nb;
    }
    free(pos); free(seq); free(want);
    if (st) {
        c->n_toks = 0;
        goto done;
    }
    double t1 = it_now_ms();
    stx.prompt_ms = t1 - t0;

    it_tok_stream ts;
    it_tok_stream_init(&ts, 0);
    char piece[IT_TOK_MAX_TOKEN_BYTES + 16];
    int32_t top_ids[IT_SAMPLER_MAX_LOGPROBS];
    float top_lp[IT_SAMPLER_MAX_LOGPROBS];
    int stop = 0;
    while (!stop) {
        it_sample_result r;
        int32_t id = it_sampler_sample(smp, c->logits, &r);
        if (id < 0) {
            st = it_fail(e, INGOT_ERR_INVALID_ARG, "every token is banned by the logit bias");
            break;
        }
        it_sampler_accept(smp, id);
        stx.n_gen++;
        if (!p.ignore_eos && it_tok_is_eog(m->tok, id)) {
            stop = INGOT_LLM_STOP_EOG;
            break;
        }
        int64_t np = it_tok_stream_push(m->tok, &ts, id, piece, sizeof piece);
        if (np < 0) np = 0;
        if ((st = pend_add(&pend, piece, (size_t)np))) {
            it_fail(e, st, "out of memory");
            break;
        }
        size_t at = 0, safe = pend.n;
        int hit = p.n_stop ? it_stop_find(pend.b, pend.n, p.stop, p.n_stop, &at, &safe) : 0;
        size_t emit = hit ? at : safe;
        ingot_llm_token tk = {id, r.logprob, r.n_top, top_ids, top_lp};
        for (int32_t k = 0; k < r.n_top; k++) {
            top_ids[k] = r.top[k].id;
            top_lp[k] = r.top[k].logprob;
        }
        if (cb && cb(user, pend.b ? pend.b : "", emit, &tk)) stop = INGOT_LLM_STOP_CALLBACK;
        memmove(pend.b, pend.b + emit, pend.n - emit);
        pend.n -= emit;
        if (hit) {
            pend.n = 0;
            stop = INGOT_LLM_STOP_STRING;
            break;
        }
        if (stop) break;
        if (p.max_tokens > 0 && stx.n_gen >= p.max_tokens) { stop = INGOT_LLM_STOP_MAX_TOKENS; break; }
        if (c->n_toks >= n_ctx) { stop = INGOT_LLM_STOP_CONTEXT; break; }
        int32_t ps = (int32_t)c->n_toks, sq = 0;
        it_llm_batch b = {1, &id, &ps, &sq, NULL};
        if ((st = it_llm_decode(c->c, &b, c->logits, e))) {
            c->n_toks = 0;
            break;
        }
        if ((st = push_tok(c, id))) {
            it_fail(e, st, "out of memory");
            break;
        }
    }
    if (!st && stop != INGOT_LLM_STOP_STRING) { /* flush held-back bytes */
        int64_t nf = it_tok_stream_flush(&ts, piece, sizeof piece);
        if (nf > 0 && pend_add(&pend, piece, (size_t)nf) == 0) {}
        if (cb && pend.n) cb(user, pend.b, pend.n, NULL);
    }
    stx.gen_ms = it_now_ms() - t1;
    stx.stop_reason = stop;
done:
    if (stats) *stats = stx;
    free(ids);
    free(pend.b);
    it_sampler_free(smp);
    return (ingot_status)st;
}
