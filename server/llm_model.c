/*
 * llm_model.c: a served LLM and its continuous-batching scheduler (see llm_model.h).
 *
 * One scheduler thread owns the model's ingot_llm_ctx, whose n_seq sequences are the
 * slots. Each step it (1) drops cancelled requests, freeing their KV at once; (2) admits
 * waiting requests in FIFO order into free slots; a new sequence first maps the context's
 * prefix-cache blocks matching its prompt (full 16-token blocks addressed by a hash of the
 * prefix they end, computed by any request, running or finished, shared by reference:
 * cached_tokens), so a repeated system prompt is computed once; (3) plans one batch:
 * one token for every decoding sequence first, then prompt chunks in arrival order up
 * to --max-batch-tokens, so a long prompt never stalls running streams; (4) checks the
 * KV block budget (--kv-cache-mem, in 16-position blocks that sequences take on demand;
 * cached blocks no request holds count as free, the context evicts them least recently
 * used first): when it is exceeded, the newest running requests are preempted (KV freed,
 * requeued, later recomputed from
 * prompt + generated tokens: the sampler state is kept, so the output is unchanged);
 * (5) runs one ingot_llm_decode and samples each sequence whose logits came back; while
 * every running request decodes (no prompt chunk, no log-probabilities wanted) one
 * ingot_llm_decode_steps call instead runs up to --decode-steps steps (a round of about
 * 2 ms at most), each sequence feeding back its own draws (a small model's parts run them
 * with no synchronization between steps; a sequence stops at its length limit or end of
 * generation, and one that meets a stop string drops the draws past it).
 * ingot_llm_decode's results do not depend on the batch, so greedy output is the same
 * alone or among others. HTTP threads wait on one condition broadcast after each round.
 */
#include "llm_model.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"

#define KV_BLOCK 16

typedef struct llm_slot {
    llm_req *req;    /* running request, or NULL */
} llm_slot;

struct llm_model {
    ingot_llm *llm;
    ingot_llm_ctx *ctx;
    llm_config cfg;
    int64_t n_ctx, n_vocab, budget_blocks;
    char tmpl[16];
    char *default_system;
    int created;
    llm_slot *slots;
    float *logits;   /* [max_seqs][n_vocab] */
    int32_t *b_tok, *b_pos, *b_seq;
    uint8_t *b_want;
    int *b_most;     /* decode_steps: per request its step limit, */
    float *b_lp;     /* the draws' log-probabilities [decode_steps][max_seqs], */
    ingot_llm_sampler **b_smp; /* and samplers */
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t work_cv, progress_cv;
    llm_req *queue;  /* waiting, sorted by order */
    int n_waiting, n_running, stopping;
    uint64_t next_order;
    /* statistics (under mu) */
    int64_t blocks_running, blocks_cached;
    uint64_t prefix_queries, prefix_hits;
    /* /v1/embeddings: a one-sequence context of its own, created on first use */
    pthread_mutex_t emu;
    ingot_llm_ctx *ectx;
    int threads;
    uint64_t prompt_tokens, cached_tokens, gen_tokens, preemptions, req_ok, req_fail, req_cancelled, steps;
    double step_s;   /* the last decode-only step's time (0: none yet) */
    metrics_hist ttft, itl, e2e;
};

static int64_t blocks_of(int64_t n) { return (n + KV_BLOCK - 1) / KV_BLOCK; }

/* ---------------------------------------------------------------- requests */

llm_req *llm_req_new(void) {
    llm_req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->refs = 1;
    r->slot = -1;
    r->t_arrive = http_now();
    pthread_cond_init(&r->done_cv, NULL);
    return r;
}

static void req_free(llm_req *r) {
    pthread_cond_destroy(&r->done_cv);
    ingot_llm_sampler_free(r->smp);
    ingot_llm_streamer_free(r->str);
    free(r->prompt), free(r->all), free(r->text), free(r->toks), free(r->top);
    free(r);
}

/* Drop a reference; the caller holds lm->mu. */
static void req_unref_locked(llm_req *r) {
    if (--r->refs == 0) req_free(r);
}

void llm_req_release(llm_model *lm, llm_req *r) {
    if (!r) return;
    pthread_mutex_lock(&lm->mu);
    req_unref_locked(r);
    pthread_mutex_unlock(&lm->mu);
}

void llm_req_cancel(llm_model *lm, llm_req *r) {
    pthread_mutex_lock(&lm->mu);
    if (!r->finish) {
        r->cancelled = 1;
        pthread_cond_signal(&lm->work_cv);
    }
    pthread_mutex_unlock(&lm->mu);
}

void llm_req_lock(llm_model *lm) { pthread_mutex_lock(&lm->mu); }
void llm_req_unlock(llm_model *lm) { pthread_mutex_unlock(&lm->mu); }

static void abs_deadline(struct timespec *ts, int ms) {
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_nsec += (long)ms * 1000000L;
    ts->tv_sec += ts->tv_nsec / 1000000000L;
    ts->tv_nsec %= 1000000000L;
}

void llm_req_wait_done(llm_model *lm, llm_req *r, int ms) {
    struct timespec ts;
    abs_deadline(&ts, ms);
    if (!r->finish) pthread_cond_timedwait(&r->done_cv, &lm->mu, &ts);
}

void llm_req_wait(llm_model *lm, int ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&lm->progress_cv, &lm->mu, &ts);
}

static void queue_insert(llm_model *lm, llm_req *r) {
    llm_req **pp = &lm->queue;
    while (*pp && (*pp)->order < r->order) pp = &(*pp)->next;
    r->next = *pp;
    *pp = r;
    lm->n_waiting++;
}

int llm_submit(llm_model *lm, llm_req *r) {
    int all_cap = (int)(r->n_prompt + 16);
    r->all = malloc((size_t)all_cap * sizeof *r->all);
    if (!r->all) return 500;
    memcpy(r->all, r->prompt, (size_t)r->n_prompt * sizeof *r->all);
    r->n_all = r->n_prompt;
    r->cap_all = all_cap;
    pthread_mutex_lock(&lm->mu);
    int rc = 0;
    if (lm->stopping) rc = 503;
    else if (lm->n_waiting >= lm->cfg.max_queue) rc = 429;
    else {
        r->refs++;
        r->order = ++lm->next_order;
        queue_insert(lm, r);
        pthread_cond_signal(&lm->work_cv);
    }
    pthread_mutex_unlock(&lm->mu);
    return rc;
}

/* ---------------------------------------------------------------- scheduler */

/* the slot's sequence lets its blocks go (full ones stay in the prefix cache) */
static void slot_clear(llm_model *lm, int s) { ingot_llm_seq_truncate(lm->ctx, s, 0); }

static void append_text(llm_req *r, const char *t, size_t n) {
    if (r->text_len + n + 1 > r->text_cap) {
        size_t nc = (r->text_len + n + 1) * 2 + 64;
        char *nb = realloc(r->text, nc);
        if (!nb) return; /* keep what we have */
        r->text = nb, r->text_cap = nc;
    }
    memcpy(r->text + r->text_len, t, n);
    r->text_len += n;
    r->text[r->text_len] = 0;
}

/* Finish r (lm->mu held): record how, free its slot's KV (its full blocks stay in the
 * prefix cache), drop the scheduler's reference. */
static void finish_req(llm_model *lm, llm_req *r, int how, int status, const char *msg) {
    r->finish = how;
    pthread_cond_broadcast(&r->done_cv);
    r->status = status;
    if (msg) snprintf(r->err, sizeof r->err, "%s", msg);
    double now = http_now();
    metrics_hist_add(&lm->e2e, now - r->t_arrive);
    if (how == LLM_FINISH_STOP || how == LLM_FINISH_LENGTH) lm->req_ok++;
    else if (how == LLM_FINISH_CANCELLED) lm->req_cancelled++;
    else lm->req_fail++;
    int s = r->slot;
    if (s >= 0) {
        lm->slots[s].req = NULL;
        lm->n_running--;
        slot_clear(lm, s);
        r->slot = -1;
    }
    req_unref_locked(r);
}

static void admit(llm_model *lm) {
    while (lm->queue && lm->n_running < lm->cfg.max_seqs) {
        llm_req *r = lm->queue;
        lm->queue = r->next;
        r->next = NULL;
        lm->n_waiting--;
        if (r->cancelled) {
            finish_req(lm, r, LLM_FINISH_CANCELLED, 499, "cancelled");
            continue;
        }
        int best = 0;
        while (lm->slots[best].req) best++;
        llm_slot *sl = &lm->slots[best];
        /* the prompt's cached blocks (one token is left to decode for the logits) */
        int64_t best_lcp = ingot_llm_seq_match_prefix(lm->ctx, best, r->all, r->n_all - 1);
        sl->req = r;
        r->slot = best;
        r->n_past = best_lcp;
        lm->n_running++;
        if (!r->admitted) {
            r->admitted = 1;
            r->cached_tokens = best_lcp;
            lm->prompt_tokens += (uint64_t)r->n_prompt;
            lm->cached_tokens += (uint64_t)best_lcp;
        }
    }
}

/* Running slots sorted by arrival order into idx; returns the count. */
static int running_sorted(llm_model *lm, int *idx) {
    int n = 0;
    for (int s = 0; s < lm->cfg.max_seqs; s++) {
        if (!lm->slots[s].req) continue;
        int k = n++;
        while (k > 0 && lm->slots[idx[k - 1]].req->order > lm->slots[s].req->order) idx[k] = idx[k - 1], k--;
        idx[k] = s;
    }
    return n;
}

/* Decide each running request's feed for this step; returns the new blocks it needs
 * (sequences hold whole blocks of what they computed; writes go past them). */
static int64_t plan(llm_model *lm, const int *idx, int n) {
    int64_t budget = lm->cfg.max_batch_tokens, blocks = 0;
    for (int i = 0; i < n; i++) {
        llm_req *r = lm->slots[idx[i]].req;
        r->feed = r->n_all - r->n_past == 1 ? 1 : 0;
        budget -= r->feed;
    }
    for (int i = 0; i < n; i++) {
        llm_req *r = lm->slots[idx[i]].req;
        if (r->feed == 0) {
            int64_t left = r->n_all - r->n_past;
            r->feed = left < budget ? left : (budget > 0 ? budget : 0);
            budget -= r->feed;
        }
        blocks += blocks_of(r->n_past + r->feed) - blocks_of(r->n_past);
    }
    return blocks;
}

/* the KV gauges of /metrics */
static void kv_gauges(llm_model *lm) {
    ingot_llm_kv_stats ks;
    ingot_llm_kv_get_stats(lm->ctx, &ks);
    lm->blocks_running = ks.used;
    lm->blocks_cached = ks.cached_idle;
    lm->prefix_queries = ks.prefix_queries;
    lm->prefix_hits = ks.prefix_hits;
}

/* Preempt the newest running requests until the plan's new blocks fit what the pool has
 * (free blocks and evictable cached ones). */
static int fit_budget(llm_model *lm, int *idx, int *n) {
    for (;;) {
        int64_t need = plan(lm, idx, *n);
        ingot_llm_kv_stats ks;
        ingot_llm_kv_get_stats(lm->ctx, &ks);
        if (need <= ks.available) return 0;
        if (*n <= 1) return -1;
        int s = idx[*n - 1];
        llm_req *r = lm->slots[s].req;
        lm->slots[s].req = NULL;
        lm->n_running--;
        slot_clear(lm, s);
        r->slot = -1;
        r->n_past = 0;
        r->feed = 0;
        queue_insert(lm, r);
        lm->preemptions++;
        (*n)--;
    }
}

static int push_all(llm_req *r, int32_t id) {
    if (r->n_all == r->cap_all) {
        int64_t nc = r->cap_all * 2 + 16;
        int32_t *nb = realloc(r->all, (size_t)nc * sizeof *nb);
        if (!nb) return -1;
        r->all = nb, r->cap_all = nc;
    }
    r->all[r->n_all++] = id;
    return 0;
}

static int push_tok(llm_req *r, const ingot_llm_token *tk) {
    if (r->n_toks == r->cap_toks) {
        int64_t nc = r->cap_toks * 2 + 16;
        llm_tok *nb = realloc(r->toks, (size_t)nc * sizeof *nb);
        if (!nb) return -1;
        r->toks = nb, r->cap_toks = nc;
    }
    const int32_t nt = r->want_logprobs ? (tk->n_top < LLM_MAX_TOP ? tk->n_top : LLM_MAX_TOP) : 0;
    if (r->n_top + nt > r->cap_top) {
        int64_t nc = (r->n_top + nt) * 2 + 64;
        llm_top *nb = realloc(r->top, (size_t)nc * sizeof *nb);
        if (!nb) return -1;
        r->top = nb, r->cap_top = nc;
    }
    llm_tok *t = &r->toks[r->n_toks++];
    t->id = tk->id;
    t->logprob = tk->logprob;
    t->n_top = nt;
    t->top0 = (int32_t)r->n_top;
    for (int k = 0; k < nt; k++) r->top[r->n_top++] = (llm_top){tk->top_ids[k], tk->top_logprobs[k]};
    t->text_end = r->text_len;
    return 0;
}

/* r's next token was sampled (from its row of logits): accept (unless the decode did),
 * stream, decide whether it is done. */
static void on_token(llm_model *lm, llm_req *r, int32_t id, const ingot_llm_token *tk0, int accepted) {
    ingot_llm_token tk = *tk0;
    if (id < 0) {
        finish_req(lm, r, LLM_FINISH_ERROR, 400, "every token is banned by logit_bias");
        return;
    }
    if (!accepted) ingot_llm_sampler_accept(r->smp, id);
    if (push_all(r, id)) {
        finish_req(lm, r, LLM_FINISH_ERROR, 500, "out of memory");
        return;
    }
    r->n_gen++;
    lm->gen_tokens++;
    double now = http_now();
    if (r->n_gen == 1) metrics_hist_add(&lm->ttft, now - r->t_arrive), r->t_first = now;
    else metrics_hist_add(&lm->itl, now - r->t_last);
    r->t_last = now;
    const char *t;
    size_t n;
    if (!r->ignore_eos && ingot_llm_is_eog(lm->llm, id)) {
        ingot_llm_streamer_flush(r->str, &t, &n); /* release held-back text */
        append_text(r, t, n);
        finish_req(lm, r, LLM_FINISH_STOP, 0, NULL);
        return;
    }
    int hit = ingot_llm_streamer_push(r->str, id, &t, &n);
    if (hit < 0) {
        finish_req(lm, r, LLM_FINISH_ERROR, 500, "detokenization failed");
        return;
    }
    append_text(r, t, n);
    if (push_tok(r, &tk)) {
        finish_req(lm, r, LLM_FINISH_ERROR, 500, "out of memory");
        return;
    }
    if (hit) { /* stopped by a stop string: nothing held back is shown */
        finish_req(lm, r, LLM_FINISH_STOP, 0, NULL);
    } else if (r->n_gen >= r->max_tokens || r->n_all - 1 >= lm->n_ctx) {
        ingot_llm_streamer_flush(r->str, &t, &n);
        append_text(r, t, n);
        finish_req(lm, r, LLM_FINISH_LENGTH, 0, NULL);
    }
}

/* A round of several decode steps lasts about this long at most: where steps are this
 * short the per-step work around them (scheduling, streaming, waking the threads) is a
 * large part of each, and tokens still stream every few milliseconds. */
#define LLM_ROUND_S 0.002

/* Decode steps this round may take in one call when every running request decodes one
 * token (no prompt chunk): cfg.decode_steps, fewer when steps are long (a round of about
 * LLM_ROUND_S at most, by the last decode step's time), 1 if a request wants
 * log-probabilities or the KV budget does not hold that many more positions for each. */
static int multi_steps(llm_model *lm, const int *idx, int n) {
    int k = lm->cfg.decode_steps;
    if (lm->step_s <= 0 || lm->step_s * 2 > LLM_ROUND_S) return 1;
    if (lm->step_s * k > LLM_ROUND_S) k = (int)(LLM_ROUND_S / lm->step_s);
    if (k <= 1) return 1;
    int64_t need = 0;
    for (int i = 0; i < n; i++) {
        const llm_req *r = lm->slots[idx[i]].req;
        if (r->want_logprobs) return 1;
        need += blocks_of(r->n_past + k) - blocks_of(r->n_past);
    }
    ingot_llm_kv_stats ks;
    ingot_llm_kv_get_stats(lm->ctx, &ks);
    return need <= ks.available ? k : 1;
}

/* One round of up to k decode steps for the n running requests (idx; each feeds one
 * token), their draws then streamed in order (called and returning with lm->mu held; ids:
 * room for k * max_seqs). A request that ends part way (a stop string) drops the rest. */
static void decode_steps(llm_model *lm, const int *idx, int n, int k, int32_t *ids) {
    int32_t *tok = lm->b_tok, *pos = lm->b_pos, *seq = lm->b_seq;
    uint8_t *stop = lm->b_want;
    int *most = lm->b_most;
    float *lp = lm->b_lp;
    ingot_llm_sampler **smp = lm->b_smp;
    for (int i = 0; i < n; i++) {
        llm_req *r = lm->slots[idx[i]].req;
        tok[i] = r->all[r->n_past], pos[i] = (int32_t)r->n_past, seq[i] = idx[i], smp[i] = r->smp;
        stop[i] = !r->ignore_eos;
        int64_t m = k;
        if (r->max_tokens - r->n_gen < m) m = r->max_tokens - r->n_gen; /* (both at least 1 while it runs) */
        if (lm->n_ctx - r->n_past < m) m = lm->n_ctx - r->n_past;
        most[i] = (int)m;
    }
    kv_gauges(lm);
    pthread_mutex_unlock(&lm->mu);
    const double t0 = http_now();
    ingot_status st = ingot_llm_decode_steps(lm->ctx, n, tok, pos, seq, smp, stop, k, most, ids, lp);
    int taken = 1; /* (forward passes: the most steps a sequence took) */
    for (int i = 0; i < n; i++) taken = most[i] > taken ? most[i] : taken;
    const double dt = (http_now() - t0) / taken;
    pthread_mutex_lock(&lm->mu);
    lm->steps += (uint64_t)taken;
    lm->step_s = dt;
    char msg[256];
    if (st != INGOT_OK) snprintf(msg, sizeof msg, "decode failed: %s", ingot_llm_ctx_error(lm->ctx));
    for (int i = 0; i < n; i++) {
        llm_req *r = lm->slots[idx[i]].req;
        r->feed = 0;
        if (st != INGOT_OK) {
            finish_req(lm, r, LLM_FINISH_ERROR, 500, msg);
            continue;
        }
        for (int q = 0; q < most[i] && lm->slots[idx[i]].req == r; q++) { /* (a finished request left its slot) */
            const ingot_llm_token tk = {ids[q * n + i], lp[q * n + i], 0, NULL, NULL};
            r->n_past++;
            on_token(lm, r, tk.id, &tk, 1);
        }
    }
    pthread_cond_broadcast(&lm->progress_cv);
}

static void *sched_main(void *arg) {
    llm_model *lm = arg;
    int *idx = malloc((size_t)lm->cfg.max_seqs * sizeof *idx);
    int *rows = malloc((size_t)lm->cfg.max_seqs * sizeof *rows);
    ingot_llm_sampler **smp = malloc((size_t)lm->cfg.max_seqs * sizeof *smp);
    int32_t *ids = malloc((size_t)lm->cfg.max_seqs * (size_t)lm->cfg.decode_steps * sizeof *ids);
    ingot_llm_token *toks = malloc((size_t)lm->cfg.max_seqs * sizeof *toks);
    pthread_mutex_lock(&lm->mu);
    for (;;) {
        if (!idx || !rows || !smp || !ids || !toks) break;
        for (int s = 0; s < lm->cfg.max_seqs; s++) {
            llm_req *r = lm->slots[s].req;
            if (r && r->cancelled)
                finish_req(lm, r, lm->stopping ? LLM_FINISH_ERROR : LLM_FINISH_CANCELLED, 503, "cancelled");
        }
        admit(lm);
        if (lm->n_running == 0) {
            kv_gauges(lm);
            pthread_cond_broadcast(&lm->progress_cv);
            if (lm->stopping) break;
            pthread_cond_wait(&lm->work_cv, &lm->mu);
            continue;
        }
        int n = running_sorted(lm, idx);
        if (fit_budget(lm, idx, &n)) {
            llm_req *r = lm->slots[idx[0]].req;
            finish_req(lm, r, LLM_FINISH_ERROR, 500, "the KV cache budget cannot hold this sequence");
            continue;
        }
        int64_t nt = 0;
        int nrows = 0;
        for (int i = 0; i < n; i++) {
            int s = idx[i];
            llm_req *r = lm->slots[s].req;
            for (int64_t k = 0; k < r->feed; k++, nt++) {
                lm->b_tok[nt] = r->all[r->n_past + k];
                lm->b_pos[nt] = (int32_t)(r->n_past + k);
                lm->b_seq[nt] = s;
                lm->b_want[nt] = 0;
            }
            r->want = r->feed > 0 && r->n_past + r->feed == r->n_all;
            if (r->want) {
                lm->b_want[nt - 1] = 1;
                smp[nrows] = r->smp;
                rows[i] = nrows++;
            } else {
                rows[i] = -1;
            }
        }
        const int k_steps = nt == n && nrows == n ? multi_steps(lm, idx, n) : 1;
        if (k_steps > 1) {
            decode_steps(lm, idx, n, k_steps, ids);
            continue;
        }
        lm->steps++;
        kv_gauges(lm);
        pthread_mutex_unlock(&lm->mu);
        /* decoding and sampling on the compute threads, outside the lock (only this thread
         * uses the running requests' samplers, and a request leaves its slot only on this
         * thread); a row is drawn by the thread that computed it */
        const double t0 = http_now();
        ingot_status st = nt ? ingot_llm_decode_sample(lm->ctx, nt, lm->b_tok, lm->b_pos, lm->b_seq, lm->b_want,
                                                       lm->logits, smp, ids, toks)
                             : INGOT_OK;
        const double dt = http_now() - t0;
        pthread_mutex_lock(&lm->mu);
        if (nt == n && nrows == n) lm->step_s = dt; /* (a step of decoding only) */
        char msg[256];
        if (st != INGOT_OK) snprintf(msg, sizeof msg, "decode failed: %s", ingot_llm_ctx_error(lm->ctx));
        for (int i = 0; i < n; i++) {
            llm_req *r = lm->slots[idx[i]].req;
            if (!r || r->feed == 0) continue;
            if (st != INGOT_OK) {
                finish_req(lm, r, LLM_FINISH_ERROR, 500, msg);
                continue;
            }
            r->n_past += r->feed;
            r->feed = 0;
            if (rows[i] >= 0) on_token(lm, r, ids[rows[i]], &toks[rows[i]], 0);
        }
        pthread_cond_broadcast(&lm->progress_cv);
    }
    /* shutting down: fail what is left */
    for (int s = 0; s < lm->cfg.max_seqs; s++)
        if (lm->slots[s].req) finish_req(lm, lm->slots[s].req, LLM_FINISH_ERROR, 503, "the server is shutting down");
    while (lm->queue) {
        llm_req *r = lm->queue;
        lm->queue = r->next;
        lm->n_waiting--;
        finish_req(lm, r, LLM_FINISH_ERROR, 503, "the server is shutting down");
    }
    pthread_cond_broadcast(&lm->progress_cv);
    pthread_mutex_unlock(&lm->mu);
    free(idx), free(rows), free(smp), free(ids), free(toks);
    return NULL;
}

/* ---------------------------------------------------------------- model */

/* The ChatML template's default system prompt: the literal text the template emits
 * after '<|im_start|>system\n' when the messages bring none. */
static char *template_default_system(const char *t) {
    const char *keys[] = {"<|im_start|>system\\n", "<|im_start|>system\n"};
    for (int k = 0; k < 2; k++) {
        const char *p = strstr(t, keys[k]);
        if (!p) continue;
        p += strlen(keys[k]);
        const char *e = strstr(p, "<|im_end|>");
        if (!e || e == p) continue;
        size_t n = (size_t)(e - p);
        if (memchr(p, '\'', n) || memchr(p, '"', n) || memchr(p, '{', n) || memchr(p, '+', n)) continue;
        return strndup(p, n);
    }
    return NULL;
}

llm_model *llm_model_create(const char *path, const llm_config *cfg, char *err, size_t errlen) {
    llm_model *lm = calloc(1, sizeof *lm);
    if (!lm) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&lm->mu, NULL);
    pthread_mutex_init(&lm->emu, NULL);
    pthread_cond_init(&lm->work_cv, NULL);
    pthread_cond_init(&lm->progress_cv, NULL);
    metrics_hist_init_time(&lm->ttft);
    metrics_hist_init_time(&lm->itl);
    metrics_hist_init_time(&lm->e2e);
    lm->cfg = *cfg;
    lm->created = (int)time(NULL);
    char lerr[512] = "";
    ingot_status st = ingot_llm_load(path, NULL, &lm->llm, lerr, sizeof lerr);
    if (st != INGOT_OK) {
        snprintf(err, errlen, "cannot load %s: %s", path, lerr[0] ? lerr : ingot_status_str(st));
        goto fail;
    }
    ingot_llm_info info;
    ingot_llm_get_info(lm->llm, &info);
    lm->n_vocab = info.n_vocab;
    int64_t n_ctx = cfg->n_ctx;
    if (n_ctx <= 0) n_ctx = info.n_ctx_train > 0 && info.n_ctx_train < 4096 ? info.n_ctx_train : 4096;
    if (lm->cfg.max_seqs <= 0) lm->cfg.max_seqs = 16;
    if (lm->cfg.max_batch_tokens < lm->cfg.max_seqs) lm->cfg.max_batch_tokens = lm->cfg.max_seqs;
    if (lm->cfg.max_queue <= 0) lm->cfg.max_queue = 64;
    if (lm->cfg.decode_steps <= 0) lm->cfg.decode_steps = 1;
    ingot_llm_ctx_params cp;
    ingot_llm_ctx_params_default(&cp);
    cp.n_ctx = n_ctx;
    cp.n_seq = lm->cfg.max_seqs;
    cp.n_threads = cfg->threads;
    lm->threads = cfg->threads;
    cp.prefix_cache = 1;
    cp.kv_type = cfg->kv_type;
    /* the KV pool: n_seq full contexts, or what --kv-cache-mem holds (at least one full context) */
    int64_t full = blocks_of(n_ctx);
    lm->budget_blocks = full * lm->cfg.max_seqs;
    if (cfg->kv_cache_mem > 0) {
        int64_t per_block = KV_BLOCK * ingot_llm_kv_bytes_per_pos(lm->llm, cfg->kv_type); /* K and V, all layers */
        int64_t b = per_block > 0 ? cfg->kv_cache_mem / per_block : 0;
        if (b < full) {
            snprintf(err, errlen,
                     "--kv-cache-mem %lld holds %lld KV blocks of %lld bytes; one full context (%lld positions) "
                     "needs %lld",
                     (long long)cfg->kv_cache_mem, (long long)b, (long long)per_block, (long long)n_ctx,
                     (long long)full);
            goto fail;
        }
        if (b < lm->budget_blocks) lm->budget_blocks = b;
    }
    cp.n_kv_blocks = lm->budget_blocks;
    st = ingot_llm_ctx_create(lm->llm, &cp, &lm->ctx, lerr, sizeof lerr);
    if (st != INGOT_OK) {
        snprintf(err, errlen, "cannot create a context for %s: %s", path, lerr[0] ? lerr : ingot_status_str(st));
        goto fail;
    }
    lm->n_ctx = ingot_llm_ctx_n_ctx(lm->ctx);
    if (info.chat_template && strstr(info.chat_template, "<|im_start|>")) {
        snprintf(lm->tmpl, sizeof lm->tmpl, "chatml");
        lm->default_system = template_default_system(info.chat_template);
    } else {
        snprintf(lm->tmpl, sizeof lm->tmpl, "plain");
    }
    size_t maxt = (size_t)lm->cfg.max_batch_tokens + (size_t)lm->cfg.max_seqs;
    lm->slots = calloc((size_t)lm->cfg.max_seqs, sizeof *lm->slots);
    lm->logits = malloc((size_t)lm->cfg.max_seqs * (size_t)lm->n_vocab * sizeof *lm->logits);
    lm->b_tok = malloc(maxt * sizeof *lm->b_tok);
    lm->b_pos = malloc(maxt * sizeof *lm->b_pos);
    lm->b_seq = malloc(maxt * sizeof *lm->b_seq);
    lm->b_want = malloc(maxt);
    lm->b_most = malloc((size_t)lm->cfg.max_seqs * sizeof *lm->b_most);
    lm->b_lp = malloc((size_t)lm->cfg.max_seqs * (size_t)lm->cfg.decode_steps * sizeof *lm->b_lp);
    lm->b_smp = malloc((size_t)lm->cfg.max_seqs * sizeof *lm->b_smp);
    if (!lm->slots || !lm->logits || !lm->b_tok || !lm->b_pos || !lm->b_seq || !lm->b_want || !lm->b_most || !lm->b_lp ||
        !lm->b_smp) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (pthread_create(&lm->thread, NULL, sched_main, lm) != 0) {
        snprintf(err, errlen, "cannot start the scheduler thread");
        goto fail;
    }
    lm->thread_started = 1;
    fprintf(stderr,
            "ingot serve: LLM %s: n_ctx %lld, %d sequences, %lld tokens per step, %lld KV blocks, chat template %s\n",
            path, (long long)lm->n_ctx, lm->cfg.max_seqs, (long long)lm->cfg.max_batch_tokens,
            (long long)lm->budget_blocks, lm->tmpl);
    return lm;
fail:
    llm_model_free(lm);
    return NULL;
}

void llm_model_cancel(llm_model *lm) {
    if (!lm) return;
    pthread_mutex_lock(&lm->mu);
    lm->stopping = 1;
    for (llm_req *r = lm->queue; r; r = r->next) r->cancelled = 1;
    for (int s = 0; lm->slots && s < lm->cfg.max_seqs; s++)
        if (lm->slots[s].req) lm->slots[s].req->cancelled = 1;
    pthread_cond_signal(&lm->work_cv);
    pthread_mutex_unlock(&lm->mu);
}

void llm_model_free(llm_model *lm) {
    if (!lm) return;
    if (lm->thread_started) {
        llm_model_cancel(lm);
        pthread_join(lm->thread, NULL);
    }
    free(lm->slots);
    free(lm->logits), free(lm->b_tok), free(lm->b_pos), free(lm->b_seq), free(lm->b_want);
    free(lm->b_most), free(lm->b_lp), free(lm->b_smp);
    free(lm->default_system);
    ingot_llm_ctx_free(lm->ctx);
    ingot_llm_ctx_free(lm->ectx);
    pthread_mutex_destroy(&lm->emu);
    ingot_llm_free(lm->llm);
    pthread_cond_destroy(&lm->work_cv);
    pthread_cond_destroy(&lm->progress_cv);
    pthread_mutex_destroy(&lm->mu);
    free(lm);
}

const ingot_llm *llm_model_llm(const llm_model *lm) { return lm->llm; }
int64_t llm_model_n_ctx(const llm_model *lm) { return lm->n_ctx; }

int llm_model_embed(llm_model *lm, const int32_t *ids, int64_t n, float *out, char *err, size_t errlen) {
    int rc = 0;
    pthread_mutex_lock(&lm->emu);
    if (!lm->ectx) {
        ingot_llm_ctx_params cp;
        ingot_llm_ctx_params_default(&cp);
        cp.n_ctx = lm->n_ctx;
        cp.n_seq = 1;
        cp.n_threads = lm->threads;
        if (ingot_llm_ctx_create(lm->llm, &cp, &lm->ectx, err, errlen) != INGOT_OK) rc = 500;
    }
    if (!rc) {
        ingot_status st = ingot_llm_embed(lm->ectx, 0, ids, n, INGOT_LLM_POOL_MODEL, out);
        if (st != INGOT_OK) {
            snprintf(err, errlen, "%s", ingot_llm_ctx_error(lm->ectx));
            rc = st == INGOT_ERR_LIMIT || st == INGOT_ERR_INVALID_ARG ? 400 : 500;
        }
    }
    pthread_mutex_unlock(&lm->emu);
    return rc;
}
int llm_model_created(const llm_model *lm) { return lm->created; }
const char *llm_model_template(const llm_model *lm, const char **default_system) {
    if (default_system) *default_system = lm->default_system;
    return lm->tmpl;
}

int llm_model_waiting(llm_model *lm) {
    pthread_mutex_lock(&lm->mu);
    int n = lm->n_waiting;
    pthread_mutex_unlock(&lm->mu);
    return n;
}

void llm_model_write_help(sbuf *b) {
    sbuf_printf(b,
                "# HELP ingot_llm_requests_running LLM requests in the running batch.\n"
                "# TYPE ingot_llm_requests_running gauge\n"
                "# HELP ingot_llm_requests_waiting LLM requests waiting for a sequence slot.\n"
                "# TYPE ingot_llm_requests_waiting gauge\n"
                "# HELP ingot_llm_kv_blocks_used KV blocks held by running requests.\n"
                "# TYPE ingot_llm_kv_blocks_used gauge\n"
                "# HELP ingot_llm_kv_blocks_cached Prefix-cache KV blocks no running request holds (evictable).\n"
                "# TYPE ingot_llm_kv_blocks_cached gauge\n"
                "# HELP ingot_llm_prefix_cache_queries_total KV blocks of admitted prompts looked up in the prefix cache.\n"
                "# TYPE ingot_llm_prefix_cache_queries_total counter\n"
                "# HELP ingot_llm_prefix_cache_hits_total KV blocks of admitted prompts found in the prefix cache.\n"
                "# TYPE ingot_llm_prefix_cache_hits_total counter\n"
                "# HELP ingot_llm_kv_blocks_total KV block budget.\n"
                "# TYPE ingot_llm_kv_blocks_total gauge\n"
                "# HELP ingot_llm_kv_cache_usage_ratio Fraction of the KV budget held by running requests.\n"
                "# TYPE ingot_llm_kv_cache_usage_ratio gauge\n"
                "# HELP ingot_llm_prompt_tokens_total Prompt tokens of admitted requests.\n"
                "# TYPE ingot_llm_prompt_tokens_total counter\n"
                "# HELP ingot_llm_prompt_tokens_cached_total Prompt tokens found in the prefix cache.\n"
                "# TYPE ingot_llm_prompt_tokens_cached_total counter\n"
                "# HELP ingot_llm_generation_tokens_total Tokens generated.\n"
                "# TYPE ingot_llm_generation_tokens_total counter\n"
                "# HELP ingot_llm_preemptions_total Running requests preempted for lack of KV blocks.\n"
                "# TYPE ingot_llm_preemptions_total counter\n"
                "# HELP ingot_llm_requests_total Finished LLM requests by outcome.\n"
                "# TYPE ingot_llm_requests_total counter\n"
                "# HELP ingot_llm_steps_total Scheduler steps (batched forward passes).\n"
                "# TYPE ingot_llm_steps_total counter\n"
                "# HELP ingot_llm_time_to_first_token_seconds Arrival to first generated token.\n"
                "# TYPE ingot_llm_time_to_first_token_seconds histogram\n"
                "# HELP ingot_llm_inter_token_latency_seconds Time between consecutive tokens of a request.\n"
                "# TYPE ingot_llm_inter_token_latency_seconds histogram\n"
                "# HELP ingot_llm_e2e_request_latency_seconds Arrival to finish of LLM requests.\n"
                "# TYPE ingot_llm_e2e_request_latency_seconds histogram\n");
}

void llm_model_write_metrics(llm_model *lm, sbuf *b, const char *labels) {
    pthread_mutex_lock(&lm->mu);
    sbuf_printf(b, "ingot_llm_requests_running{%s} %d\n", labels, lm->n_running);
    sbuf_printf(b, "ingot_llm_requests_waiting{%s} %d\n", labels, lm->n_waiting);
    sbuf_printf(b, "ingot_llm_kv_blocks_used{%s} %lld\n", labels, (long long)lm->blocks_running);
    sbuf_printf(b, "ingot_llm_kv_blocks_cached{%s} %lld\n", labels, (long long)lm->blocks_cached);
    sbuf_printf(b, "ingot_llm_kv_blocks_total{%s} %lld\n", labels, (long long)lm->budget_blocks);
    sbuf_printf(b, "ingot_llm_prefix_cache_queries_total{%s} %llu\n", labels, (unsigned long long)lm->prefix_queries);
    sbuf_printf(b, "ingot_llm_prefix_cache_hits_total{%s} %llu\n", labels, (unsigned long long)lm->prefix_hits);
    sbuf_printf(b, "ingot_llm_kv_cache_usage_ratio{%s} %.6f\n", labels,
                lm->budget_blocks ? (double)lm->blocks_running / (double)lm->budget_blocks : 0.0);
    sbuf_printf(b, "ingot_llm_prompt_tokens_total{%s} %llu\n", labels, (unsigned long long)lm->prompt_tokens);
    sbuf_printf(b, "ingot_llm_prompt_tokens_cached_total{%s} %llu\n", labels, (unsigned long long)lm->cached_tokens);
    sbuf_printf(b, "ingot_llm_generation_tokens_total{%s} %llu\n", labels, (unsigned long long)lm->gen_tokens);
    sbuf_printf(b, "ingot_llm_preemptions_total{%s} %llu\n", labels, (unsigned long long)lm->preemptions);
    sbuf_printf(b, "ingot_llm_requests_total{%s,outcome=\"ok\"} %llu\n", labels, (unsigned long long)lm->req_ok);
    sbuf_printf(b, "ingot_llm_requests_total{%s,outcome=\"cancelled\"} %llu\n", labels,
                (unsigned long long)lm->req_cancelled);
    sbuf_printf(b, "ingot_llm_requests_total{%s,outcome=\"error\"} %llu\n", labels, (unsigned long long)lm->req_fail);
    sbuf_printf(b, "ingot_llm_steps_total{%s} %llu\n", labels, (unsigned long long)lm->steps);
    metrics_hist_write(b, "ingot_llm_time_to_first_token_seconds", labels, &lm->ttft);
    metrics_hist_write(b, "ingot_llm_inter_token_latency_seconds", labels, &lm->itl);
    metrics_hist_write(b, "ingot_llm_e2e_request_latency_seconds", labels, &lm->e2e);
    pthread_mutex_unlock(&lm->mu);
}
