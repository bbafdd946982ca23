/*
 * llm_model.h: a served LLM: the loaded model, its chat template, and the scheduler
 * thread that runs continuous batching over one ingot_llm_ctx (see llm_model.c).
 *
 * HTTP threads build an llm_req (prompt ids and generation params), submit it and then
 * read what the scheduler produced (text, per-token log-probs, finish reason) under the
 * scheduler's lock, waiting with llm_req_wait. A request is reference-counted between
 * the HTTP side and the scheduler; llm_req_cancel makes the scheduler drop it and free
 * its KV blocks at its next step.
 */
#ifndef INGOT_SERVER_LLM_MODEL_H
#define INGOT_SERVER_LLM_MODEL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ingot_llm.h"
#include "ingot_llm_sched.h"
#include "metrics.h"

typedef struct llm_config {
    int64_t n_ctx;            /* 0: min(training context, 4096) */
    int max_seqs;             /* sequences decoded together */
    int64_t max_batch_tokens; /* tokens per forward pass (prefill chunks + decode tokens) */
    int64_t kv_cache_mem;     /* bytes of KV blocks the scheduler may use; 0: max_seqs full contexts */
    int threads;
    int max_queue;            /* waiting requests beyond this get 429 */
    int kv_type;              /* INGOT_LLM_KV_* */
    int decode_steps;         /* decode steps per scheduling round when every request decodes (1: one) */
} llm_config;

typedef struct llm_model llm_model;

enum { LLM_FINISH_NONE = 0, LLM_FINISH_STOP, LLM_FINISH_LENGTH, LLM_FINISH_ERROR, LLM_FINISH_CANCELLED };

#define LLM_MAX_TOP 20
typedef struct llm_tok {
    int32_t id;
    float logprob;
    int32_t n_top;   /* its most likely tokens: req->top[top0 .. top0 + n_top) */
    int32_t top0;
    size_t text_end; /* bytes of req->text released up to and including this token */
} llm_tok;
typedef struct llm_top {
    int32_t id;
    float logprob;
} llm_top;

typedef struct llm_req {
    /* in: set by the HTTP thread before llm_submit */
    int32_t *prompt;            /* owned */
    int64_t n_prompt;
    int32_t max_tokens;         /* > 0 */
    int ignore_eos;
    int want_logprobs;          /* record per-token log-probs */
    ingot_llm_sampler *smp;     /* owned; history already holds the prompt */
    ingot_llm_streamer *str;    /* owned */
    /* out: read under the scheduler lock (llm_req_lock) */
    char *text;                 /* released text, text_len bytes (NUL-terminated) */
    size_t text_len, text_cap;
    llm_tok *toks;
    int64_t n_toks, cap_toks;
    llm_top *top;               /* the tokens' top lists (log-probabilities wanted) */
    int64_t n_top, cap_top;
    int finish;                 /* LLM_FINISH_* once done */
    int status;                 /* HTTP status when finish == LLM_FINISH_ERROR */
    char err[256];
    int64_t cached_tokens;      /* prompt tokens found in the cache at first admission */
    /* private to llm_model.c */
    int32_t *all;               /* prompt + generated tokens */
    int64_t n_all, cap_all, n_past, n_gen, feed;
    int slot, cancelled, refs, admitted, want;
    uint64_t order;             /* admission order (preemption picks the newest) */
    double t_arrive, t_first, t_last;
    struct llm_req *next;
    pthread_cond_t done_cv;     /* signalled when finish is set */
} llm_req;

/* Load path (a GGUF) and start its scheduler. NULL with a message on failure. */
llm_model *llm_model_create(const char *path, const llm_config *cfg, char *err, size_t errlen);
/* Stop the scheduler (failing what is left) and free everything. */
void llm_model_free(llm_model *lm);
/* Fail queued and running requests with 503 and refuse new ones (shutdown). */
void llm_model_cancel(llm_model *lm);

const ingot_llm *llm_model_llm(const llm_model *lm);
int64_t llm_model_n_ctx(const llm_model *lm);
/* /v1/embeddings from the LLM: ingot_llm_embed of ids (the model's pooling, mean by default)
 * on a one-sequence context of the model's own, created on first use, one call at a time
 * (any thread; the scheduler's context is not touched). 0, or an HTTP status with err. */
int llm_model_embed(llm_model *lm, const int32_t *ids, int64_t n, float *out, char *err, size_t errlen);
/* The chat template kind: "chatml" or "plain"; *default_system: a system prompt the
 * template inserts when the messages have none (NULL if none). */
const char *llm_model_template(const llm_model *lm, const char **default_system);
int llm_model_created(const llm_model *lm); /* unix time of loading */

/* A new request (refs: 1, the caller's). NULL on allocation failure. */
llm_req *llm_req_new(void);
/* Drop the caller's reference. */
void llm_req_release(llm_model *lm, llm_req *r);
/* Queue r (the scheduler takes its own reference). 0, 429 when the queue is full,
 * 503 when shutting down. */
int llm_submit(llm_model *lm, llm_req *r);
/* Ask the scheduler to drop r and free its KV blocks at its next step. */
void llm_req_cancel(llm_model *lm, llm_req *r);
void llm_req_lock(llm_model *lm);
void llm_req_unlock(llm_model *lm);
/* With the lock held: wait for scheduler progress (any request) up to ms milliseconds. */
void llm_req_wait(llm_model *lm, int ms);
/* With the lock held: wait until r finishes, up to ms milliseconds (woken by r alone, not
 * by every step: a non-streaming request sleeps through the others' tokens). */
void llm_req_wait_done(llm_model *lm, llm_req *r, int ms);

/* Prometheus series of this model (labels like `model="x"`), and their HELP lines. */
void llm_model_write_metrics(llm_model *lm, sbuf *b, const char *labels);
void llm_model_write_help(sbuf *b);
int llm_model_waiting(llm_model *lm);

#endif
