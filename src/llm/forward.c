/*
 * forward.c: the batched transformer forward pass shared by every architecture
 * descriptor, over the paged KV cache: embeddings (optionally scaled), per layer RMSNorm ->
 * q/k/v projections (+bias, per-head q/k norm) -> RoPE -> cache write -> causal attention
 * with grouped KV heads (optionally limited to a sliding window, with soft-capped scores)
 * -> output projection -> (post-norm) -> residual -> RMSNorm -> gated FFN (SiLU/GELU) ->
 * (post-norm) -> residual, then the final norm, the vocabulary projection for the tokens
 * that ask for logits and optional logit soft-capping. Sliding-window layers may use their
 * own RoPE table (gemma3's local base); the KV cache still keeps every position.
 *
 * Batch invariance: every matrix product is computed row by row (one weight row against one
 * token row) by a fixed kernel, and attention per (token, head) reads only the cache of its
 * own sequence in position order, so a token's result does not depend on the batch's other
 * tokens or on the thread count. Matrix products are parallelized over weight rows;
 * attention over (token, head) pairs. Quantized weights (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
 * Q4_K, Q5_K, Q6_K) use integer block dots against activations quantized to Q8_0 / Q8_1
 * blocks (qdot.h); F32 and F16 rows are dotted directly; other types are dequantized one
 * row at a time into per-thread scratch.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm/context.h"
#include "tensor/quant.h"
#include "tensor/tensor.h"

/* ---------------------------------------------------------------- context */

static int64_t attn_heads(const it_llm_ctx *c);
static int64_t attn_scratch(const it_llm_hparams *h, int64_t n_ctx, int64_t heads);

static int grow(it_llm_ctx *c, int64_t T, it_err *e) {
    if (T <= c->cap_t) return 0;
    const it_llm_hparams *h = &c->m->hp;
    const int64_t D = h->n_embd, qd = h->n_head * h->head_dim, kvd = h->n_head_kv * h->head_dim;
    int64_t wide = D > qd ? D : qd;
    float **bufs[] = {&c->x, &c->xn, &c->q, &c->k, &c->v, &c->att, &c->ffa, &c->ffb, &c->rope};
    /* rope: two tables per token (global and sliding-window layers) */
    int64_t widths[] = {D, wide, qd, kvd, kvd, qd, h->n_ff, h->n_ff, 2 * (h->n_rot > 0 ? h->n_rot : 2)};
    const int64_t tf = T < IT_LLM_FFN_CHUNK ? T : IT_LLM_FFN_CHUNK; /* ffa, ffb: one FFN chunk */
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        int64_t n;
        if (!it_mul_ok(i == 6 || i == 7 ? tf : T, widths[i], &n) || n > IT_LIMIT_ELEMENTS)
            return it_fail(e, INGOT_ERR_LIMIT, "batch of %lld tokens is too large", (long long)T);
        it_free(*bufs[i]);
        *bufs[i] = it_malloc((size_t)n * sizeof(float));
        if (!*bufs[i]) return it_fail(e, INGOT_ERR_NOMEM, "out of memory for a batch of %lld tokens", (long long)T);
    }
    int64_t max_in = wide > h->n_ff ? wide : h->n_ff;
    size_t xq = (size_t)T * (size_t)it_qdot_act_bytes(IT_GGML_Q8_1, max_in / IT_QK * IT_QK + IT_QK);
    it_free(c->xq);
    it_free(c->xq1);
    c->xq = it_malloc(xq);
    c->xq1 = it_malloc(xq);
    if (!c->xq || !c->xq1) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    c->xq_cap = xq;
    if (!c->xqt && c->nthreads > 1) {
        c->xqt_stride = (size_t)IT_LLM_PRIV_T * (size_t)it_qdot_act_bytes(IT_GGML_Q8_1, max_in / IT_QK * IT_QK + IT_QK);
        c->xqt = it_malloc(c->xqt_stride * 2 * (size_t)c->nthreads);
        c->xqt_key = calloc((size_t)c->nthreads * 2, sizeof *c->xqt_key);
        if (!c->xqt || !c->xqt_key) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    }
    c->cap_t = T;
    return 0;
}

int it_llm_ctx_create(const it_llm_model *m, const it_llm_ctx_params *p, it_llm_ctx **out, it_err *e) {
    it_llm_ctx_params d = {0, 1, 0, IT_KV_F16, 0, IT_LLM_NUMERICS_DEFAULT};
    if (p) d = *p;
    *out = NULL;
    if (d.n_ctx <= 0) d.n_ctx = m->hp.n_ctx_train;
    if (d.n_ctx > IT_LLM_MAX_CTX) return it_fail(e, INGOT_ERR_LIMIT, "n_ctx %lld exceeds %d", (long long)d.n_ctx,
                                                 IT_LLM_MAX_CTX);
    if (d.n_seq <= 0) d.n_seq = 1;
    if (d.n_threads <= 0) d.n_threads = it_cpu_count();
    if (d.n_threads > 256) d.n_threads = 256;
    it_llm_ctx *c = calloc(1, sizeof *c);
    if (!c) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    c->m = m;
    c->qt = it_qdot();
    {
        int64_t wb = m->output.data ? m->output.n_out * m->output.row_bytes : 0;
        for (int64_t l = 0; l < m->hp.n_layer; l++) {
            const it_llm_layer *L = &m->layers[l];
            const it_llm_weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
            for (size_t k = 0; k < sizeof ws / sizeof *ws; k++)
                if (ws[k]->data) wb += ws[k]->n_out * ws[k]->row_bytes;
        }
        c->weights_cached = wb <= (4 << 20);
    }
    c->kt = it_kernels();
    int st;
    const it_llm_hparams *h = &m->hp;
    c->ggml = d.numerics == IT_LLM_NUMERICS_GGML;
    if (c->ggml && d.kv_type != IT_KV_F16) {
        st = it_fail(e, INGOT_ERR_UNSUPPORTED, "llama.cpp numerics need the f16 KV cache");
        goto fail;
    }
    if (d.kv_type == IT_KV_Q8_0 && h->head_dim % 32) {
        st = it_fail(e, INGOT_ERR_UNSUPPORTED, "a Q8_0 KV cache needs a head size that is a multiple of 32; this model's is %lld",
                     (long long)h->head_dim);
        goto fail;
    }
    if ((st = it_kv_init(&c->kv, h->n_layer, h->n_head_kv * h->head_dim, d.n_ctx, d.n_seq, d.n_blocks, d.kv_type, e)))
        goto fail;
    c->kv.vt = c->kv.f16 && !c->ggml && h->head_dim <= 16; /* (attn_items) */
    c->tp = it_threadpool_create(d.n_threads);
    if (!c->tp) { st = it_fail(e, INGOT_ERR_NOMEM, "cannot create the thread pool"); goto fail; }
    c->nthreads = it_threadpool_size(c->tp);
    int64_t wide = h->n_embd > h->n_head * h->head_dim ? h->n_embd : h->n_head * h->head_dim;
    if (h->n_ff > wide) wide = h->n_ff;
    int64_t att = attn_scratch(h, d.n_ctx, attn_heads(c));
    if (c->ggml) { /* attn_ggml: scores and probabilities of the cells, q, a K column, 64 PV lanes
                      per dimension and a double per dimension */
        const int64_t need = 2 * (d.n_ctx + 256) + 2 * h->head_dim + 64 * h->head_dim + 2 + 2 * h->head_dim;
        if (att < need) att = need;
    }
    c->tstride = (wide > att ? wide : att) + 16;
    c->tscratch = it_malloc((size_t)c->tstride * (size_t)c->nthreads * sizeof(float));
    if (!c->tscratch) { st = it_fail(e, INGOT_ERR_NOMEM, "out of memory"); goto fail; }
    if ((st = grow(c, 1, e))) goto fail;
    *out = c;
    return 0;
fail:
    it_llm_ctx_free(c);
    return st;
}

/* The buffers a context owns besides its cache and pool (a part's context owns only these). */
static void free_buffers(it_llm_ctx *c) {
    float *bufs[] = {c->x, c->xn, c->q, c->k, c->v, c->att, c->ffa, c->ffb, c->rope, c->tscratch, c->part_out, c->step_out};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) it_free(bufs[i]);
    it_free(c->xq);
    it_free(c->xq1);
    it_free(c->xqt);
    free(c->xqt_key);
    if (c->part) {
        for (int i = 0; i < c->nthreads; i++)
            if (c->part[i]) free_buffers(c->part[i]), it_free(c->part[i]);
        free(c->part);
    }
}

void it_llm_ctx_free(it_llm_ctx *c) {
    if (!c) return;
    it_threadpool_free(c->tp);
    it_kv_free(&c->kv);
    free_buffers(c);
    free(c);
}

int it_llm_seq_truncate(it_llm_ctx *c, int s, int64_t len, it_err *e) {
    if (s < 0 || s >= c->kv.n_seq) return it_fail(e, INGOT_ERR_INVALID_ARG, "sequence id %d out of range", s);
    if (len > c->kv.seq[s].len) len = c->kv.seq[s].len;
    return it_kv_seq_resize(&c->kv, s, len < 0 ? 0 : len, e);
}

int it_llm_seq_fork(it_llm_ctx *c, int src, int dst, int64_t len, it_err *e) {
    return it_kv_seq_fork(&c->kv, src, dst, len, e);
}

int64_t it_llm_seq_len(const it_llm_ctx *c, int s) {
    return s >= 0 && s < c->kv.n_seq ? c->kv.seq[s].len : -1;
}

/* ---------------------------------------------------------------- matrix products */

typedef struct mm_job {
    const it_llm_ctx *c;
    const it_llm_weight *w;
    const float *x;   /* [T][ldx] */
    int64_t ldx;
    const uint8_t *xq; /* [T][xq_rb] Q8_0 / Q8_1 rows, when qf */
    int64_t xq_rb;
    int64_t T;
    float *y;         /* [T][ldy] */
    int64_t ldy;
    it_qdot_fn qf;
    it_qdot4_fn qf4;
    it_qpack16_fn pf; /* w->packed: 16-row groups */
    uint64_t serial;  /* nonzero: x goes to per-thread rows (IT_LLM_PRIV_T), this input's serial */
    uint32_t act;
} mm_job;

/* The quantized input rows for thread tid: the shared ones, or its own (made on first use). */
static const uint8_t *mm_xq(const mm_job *j, int tid) {
    if (!j->serial) return j->xq;
    const it_llm_ctx *c = j->c;
    const int slot = j->act == IT_GGML_Q8_1;
    uint8_t *buf = c->xqt + (size_t)(tid * 2 + slot) * c->xqt_stride;
    if (c->xqt_key[tid * 2 + slot] != j->serial) {
        for (int64_t t = 0; t < j->T; t++) c->qt->quant_act(j->act, j->x + t * j->ldx, j->w->n_in, buf + t * j->xq_rb);
        c->xqt_key[tid * 2 + slot] = j->serial;
    }
    return buf;
}

/* groups g0..g1 of a packed weight */
static void mm_groups(void *arg, int64_t g0, int64_t g1, int tid) {
    const mm_job *j = arg;
    const it_llm_weight *w = j->w;
    const int64_t gb = it_qpack16_group_bytes(w->type, w->n_in);
    const uint8_t *xq = mm_xq(j, tid);
    for (int64_t g = g0; g < g1; g++) {
        int64_t r0 = g * 16, nr = w->n_out - r0 < 16 ? w->n_out - r0 : 16;
        j->pf((const uint8_t *)w->packed + g * gb, w->n_in, (int)nr, xq, j->xq_rb, j->T, j->y + r0, j->ldy);
    }
}

/* F16 and F32 weights through the tile kernels (every batch size: a product's bits do not
 * depend on the tile it is computed in). */
static void float_tile(const mm_job *j, int64_t r, int nr, int64_t t, int nt) {
    const it_llm_weight *w = j->w;
    const it_qdot_table *qt = j->c->qt;
    const void *a = (const uint8_t *)w->data + r * w->row_bytes;
    if (w->type == IT_GGML_F16)
        qt->f16_tile(a, (int64_t)(w->row_bytes / 2), nr, j->x + t * j->ldx, j->ldx, nt, w->n_in, j->y + t * j->ldy + r,
                     j->ldy);
    else
        qt->f32_tile(a, (int64_t)(w->row_bytes / 4), nr, j->x + t * j->ldx, j->ldx, nt, w->n_in, j->y + t * j->ldy + r,
                     j->ldy);
}

static void mm_rows_float(const mm_job *j, int64_t r0, int64_t r1) {
    if (j->T <= 8 && !j->c->weights_cached) {
        /* few tokens over a matrix from memory: one weight row at a time streams at over twice
         * the rate of four rows side by side (measured: Zen 4) */
        for (int64_t r = r0; r < r1; r++)
            for (int64_t t = 0; t < j->T; t += IT_F16_TT)
                float_tile(j, r, 1, t, j->T - t < IT_F16_TT ? (int)(j->T - t) : IT_F16_TT);
        return;
    }
    /* 128 rows (up to 384 KiB of f16) stay in L2 while every token tile passes over them;
     * the tokens in tiles of even sizes (8 as 4 + 4, not 6 + 2: a narrow tile loads its
     * weight rows for few products and sums its accumulators one by one) */
    const int64_t ntile = (j->T + IT_F16_TT - 1) / IT_F16_TT, base = j->T / ntile, more = j->T % ntile;
    for (int64_t rb = r0; rb < r1; rb += 128) {
        const int64_t re = r1 - rb < 128 ? r1 : rb + 128;
        for (int64_t k = 0, t = 0; k < ntile; k++) {
            const int nt = (int)(base + (k < more));
            float_tile(j, rb, (int)(re - rb), t, nt); /* (the kernel walks the rows four at a time) */
            t += nt;
        }
    }
}

static void mm_rows(void *arg, int64_t r0, int64_t r1, int tid) {
    const mm_job *j = arg;
    const it_llm_weight *w = j->w;
    const int64_t n = w->n_in;
    float *tmp = j->c->tscratch + (size_t)tid * (size_t)j->c->tstride;
    float (*sdot)(const float *, const float *, int64_t) = j->c->kt->sdot;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *wr = (const uint8_t *)w->data + r * w->row_bytes;
        if (j->qf) { /* four tokens per weight-row pass; same bits as one at a time */
            int64_t t = 0;
            for (; j->qf4 && t + 4 <= j->T; t += 4) {
                float o[4];
                j->qf4(wr, j->xq + t * j->xq_rb, j->xq_rb, n, o);
                for (int k = 0; k < 4; k++) j->y[(t + k) * j->ldy + r] = o[k];
            }
            for (; t < j->T; t++) j->y[t * j->ldy + r] = j->qf(wr, j->xq + t * j->xq_rb, n);
            continue;
        }
        if (w->type == IT_GGML_F16 || w->type == IT_GGML_F32) { /* all rows here at once, in tiles */
            mm_rows_float(j, r0, r1);
            return;
        }
        const float *row = (const float *)wr;
        if (w->type != IT_GGML_F32) {
            it_dequant_row(w->type, wr, tmp, n);
            row = tmp;
        }
        for (int64_t t = 0; t < j->T; t++) j->y[t * j->ldy + r] = sdot(row, j->x + t * j->ldx, n);
    }
}

/* The integer kernel for a weight type and the activation block type it takes. */
static it_qdot_fn qdot_for(const it_llm_ctx *c, uint32_t type, uint32_t *act, it_qdot4_fn *f4, it_qpack16_fn *pf) {
    *act = IT_GGML_Q8_0;
    *f4 = NULL;
    if (pf) *pf = type == IT_GGML_Q8_0 ? c->qt->q8_0_p16 : type == IT_GGML_Q4_0 ? c->qt->q4_0_p16
                : type == IT_GGML_Q4_1 ? c->qt->q4_1_p16 : NULL;
    switch (type) {
    case IT_GGML_Q8_0: *f4 = c->qt->q8_0_x4; return c->qt->q8_0;
    case IT_GGML_Q4_0: *f4 = c->qt->q4_0_x4; return c->qt->q4_0;
    case IT_GGML_Q4_1: *act = IT_GGML_Q8_1; *f4 = c->qt->q4_1_x4; return c->qt->q4_1;
    case IT_GGML_Q5_0: return c->qt->q5_0;
    case IT_GGML_Q6_K: return c->qt->q6_K;
    case IT_GGML_Q5_1: *act = IT_GGML_Q8_1; return c->qt->q5_1;
    case IT_GGML_Q4_K: *act = IT_GGML_Q8_1; return c->qt->q4_K;
    case IT_GGML_Q5_K: *act = IT_GGML_Q8_1; return c->qt->q5_K;
    default: return NULL;
    }
}

/* Per-thread quantized rows for this product (context.h): few tokens, several threads. */
static int priv_rows(const it_llm_ctx *c, int64_t T, const it_llm_weight *w) {
    return c->xqt && T <= IT_LLM_PRIV_T && T * w->n_out * w->n_in >= 65536;
}

/* The serial of the input for per-thread rows: a new one unless x was already given to a
 * product with this activation type (bit 4 << slot of *xq_ready). */
static uint64_t input_serial(it_llm_ctx *c, uint32_t act, int *xq_ready) {
    const int slot = act == IT_GGML_Q8_1;
    if (!(*xq_ready & (4 << slot))) c->xq_serial[slot] = ++c->serial_ctr;
    *xq_ready |= 4 << slot;
    return c->xq_serial[slot];
}

/* y[t][r] = w[r] . x[t] for r < n_out. *xq_ready: bit 1 << act set when x was already
 * quantized to that activation type into the shared rows (inputs shared by several
 * products), bit 4 << act when it has a serial for per-thread rows. */
static void matmul(it_llm_ctx *c, const it_llm_weight *w, const float *x, int64_t ldx, int64_t T, float *y,
                   int64_t ldy, int *xq_ready) {
    uint32_t act;
    mm_job j = {c, w, x, ldx, NULL, 0, T, y, ldy, NULL, NULL, NULL, 0, 0};
    j.qf = qdot_for(c, w->type, &act, &j.qf4, w->packed && !c->ggml ? &j.pf : NULL);
    if (j.pf && priv_rows(c, T, w)) {
        j.act = act;
        j.xq_rb = it_qdot_act_bytes(act, w->n_in);
        j.serial = input_serial(c, act, xq_ready);
    } else if (j.qf) {
        int slot = act == IT_GGML_Q8_1;
        uint8_t *buf = slot ? c->xq1 : c->xq;
        j.xq = buf;
        j.xq_rb = it_qdot_act_bytes(act, w->n_in);
        if (!(*xq_ready & (1 << slot)))
            for (int64_t t = 0; t < T; t++) c->qt->quant_act(act, x + t * ldx, w->n_in, buf + t * j.xq_rb);
        *xq_ready |= 1 << slot;
    }
    if (j.pf) {
        const int64_t ng = (w->n_out + 15) / 16;
        int64_t gg = ng / ((int64_t)c->nthreads * 4);
        if (gg < 1) gg = 1;
        if (T * w->n_out * w->n_in < 65536 || c->nthreads == 1) mm_groups(&j, 0, ng, 0);
        else it_parallel_for(c->tp, ng, gg, mm_groups, &j);
        return;
    }
    int64_t grain = w->n_out / ((int64_t)c->nthreads * 4);
    if (grain < 4) grain = 4;
    if (T * w->n_out * w->n_in < 65536 || c->nthreads == 1) mm_rows(&j, 0, w->n_out, 0);
    else it_parallel_for(c->tp, w->n_out, grain, mm_rows, &j);
}

/* Several products of the same input (q/k/v, gate/up) in one parallel region when every
 * weight is packed with the same activation type: one quantization of x and one fork/join
 * instead of one per product (each (row, token) result is the same as matmul's). */
typedef struct mm_multi {
    mm_job j[3];
    int64_t first[4]; /* group offset of each product in the combined range */
    int n;
} mm_multi;

static void mm_multi_groups(void *arg, int64_t g0, int64_t g1, int tid) {
    const mm_multi *mm = arg;
    for (int k = 0; k < mm->n; k++) {
        int64_t a = g0 > mm->first[k] ? g0 : mm->first[k], b = g1 < mm->first[k + 1] ? g1 : mm->first[k + 1];
        if (a < b) mm_groups((void *)&mm->j[k], a - mm->first[k], b - mm->first[k], tid);
    }
}

static void matmul_n(it_llm_ctx *c, int n, const it_llm_weight *const *ws, const float *x, int64_t ldx, int64_t T,
                     float *const *ys, const int64_t *ldys, int *xq_ready) {
    mm_multi mm;
    uint32_t act0 = 0;
    int ok = n <= 3;
    mm.n = n;
    mm.first[0] = 0;
    for (int k = 0; k < n && ok; k++) {
        uint32_t act;
        mm_job j = {c, ws[k], x, ldx, NULL, 0, T, ys[k], ldys[k], NULL, NULL, NULL, 0, 0};
        j.qf = qdot_for(c, ws[k]->type, &act, &j.qf4, ws[k]->packed && !c->ggml ? &j.pf : NULL);
        ok = j.pf && ws[k]->n_in == ws[0]->n_in && (k == 0 || act == act0);
        act0 = act;
        mm.j[k] = j;
        mm.first[k + 1] = mm.first[k] + (ws[k]->n_out + 15) / 16;
    }
    if (!ok || c->nthreads == 1) {
        for (int k = 0; k < n; k++) matmul(c, ws[k], x, ldx, T, ys[k], ldys[k], xq_ready);
        return;
    }
    int slot = act0 == IT_GGML_Q8_1;
    uint8_t *buf = slot ? c->xq1 : c->xq;
    int64_t rb = it_qdot_act_bytes(act0, ws[0]->n_in);
    uint64_t serial = 0;
    if (priv_rows(c, T, ws[0])) serial = input_serial(c, act0, xq_ready);
    else {
        if (!(*xq_ready & (1 << slot)))
            for (int64_t t = 0; t < T; t++) c->qt->quant_act(act0, x + t * ldx, ws[0]->n_in, buf + t * rb);
        *xq_ready |= 1 << slot;
    }
    for (int k = 0; k < n; k++) mm.j[k].xq = buf, mm.j[k].xq_rb = rb, mm.j[k].serial = serial, mm.j[k].act = act0;
    int64_t ng = mm.first[n], gg = ng / ((int64_t)c->nthreads * 4);
    it_parallel_for(c->tp, ng, gg < 1 ? 1 : gg, mm_multi_groups, &mm);
}

/* ---------------------------------------------------------------- elementwise */

/* w as floats: in place when F32, else dequantized into tmp. */
static const float *vec_f32(const it_llm_weight *w, float *tmp) {
    if (w->type == IT_GGML_F32) return w->data;
    it_dequant_row(w->type, w->data, tmp, w->n_in);
    return tmp;
}

/* eight lanes in the compiler's vector types (the build's baseline instructions): each
 * lane's operations are the scalar ones, in the same order */
typedef float it_v8f __attribute__((vector_size(32)));
typedef double it_v8d __attribute__((vector_size(64)));
#if defined(__x86_64__)
/* built for AVX-512 and AVX2 as well, picked by the CPU: for code with no multiply and add
 * that a compiler could fuse (every clone gives the same bits) */
#define V_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define V_CLONES
#endif

V_CLONES static void rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps, int plus1, int in_order) {
    it_v8d acc = {0, 0, 0, 0, 0, 0, 0, 0}; /* eight running sums (lane k: i = k mod 8), a fixed order */
    double s[8];
    int64_t i = 0;
    for (; i + 8 <= n && !in_order; i += 8) {
        it_v8f xv;
        memcpy(&xv, x + i, sizeof xv);
        acc += __builtin_convertvector(xv * xv, it_v8d);
    }
    memcpy(s, &acc, sizeof s);
    for (; i < n; i++) s[0] += (double)(x[i] * x[i]); /* (ggml's order) */
    const double ss = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    const float scale = 1.0f / sqrtf((float)(ss / (double)n) + eps);
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        it_v8f xv, wv;
        memcpy(&xv, x + k, sizeof xv);
        memcpy(&wv, w + k, sizeof wv);
        if (plus1) wv = 1.0f + wv;
        xv = xv * scale * wv;
        memcpy(out + k, &xv, sizeof xv);
    }
    for (; k < n; k++) out[k] = x[k] * scale * (plus1 ? 1.0f + w[k] : w[k]);
}

/* rotate n_heads heads of head_dim in v by the token's cos/sin table cs[n_rot/2][2] */
static void rope(float *v, int64_t n_heads, int64_t hd, int64_t n_rot, int type, const float *cs, int ggml) {
    int64_t half = n_rot / 2;
    const int neox = type == IT_ROPE_NEOX;
    if (!ggml && n_rot == hd && hd % (neox ? 16 : 8) == 0 && hd <= 512) {
        /* whole heads, eight lanes at a time: each lane the operations of the loop below */
        float cv[512], sv[512];
        if (neox)
            for (int64_t i = 0; i < half; i++) cv[i] = cs[2 * i], sv[i] = cs[2 * i + 1];
        else /* (pairs side by side: x0 c + x1 (-s), x1 c + x0 s) */
            for (int64_t i = 0; i < half; i++)
                cv[2 * i] = cv[2 * i + 1] = cs[2 * i], sv[2 * i] = -cs[2 * i + 1], sv[2 * i + 1] = cs[2 * i + 1];
        for (int64_t hh = 0; hh < n_heads; hh++) {
            float *p = v + hh * hd;
            it_v8f x, y, c, s;
            for (int64_t i = 0; neox && i < half; i += 8) {
                memcpy(&x, p + i, sizeof x), memcpy(&y, p + i + half, sizeof y);
                memcpy(&c, cv + i, sizeof c), memcpy(&s, sv + i, sizeof s);
                const it_v8f a = x * c - y * s, b = x * s + y * c;
                memcpy(p + i, &a, sizeof a), memcpy(p + i + half, &b, sizeof b);
            }
            for (int64_t k = 0; !neox && k < hd; k += 8) {
                memcpy(&x, p + k, sizeof x), memcpy(&c, cv + k, sizeof c), memcpy(&s, sv + k, sizeof s);
                const it_v8f a = x * c + __builtin_shufflevector(x, x, 1, 0, 3, 2, 5, 4, 7, 6) * s;
                memcpy(p + k, &a, sizeof a);
            }
        }
        return;
    }
    for (int64_t hh = 0; hh < n_heads; hh++) {
        float *p = v + hh * hd;
        for (int64_t i = 0; i < half; i++) {
            float c = cs[2 * i], s = cs[2 * i + 1];
            float *a = type == IT_ROPE_NEOX ? p + i : p + 2 * i;
            float *b = type == IT_ROPE_NEOX ? p + i + half : p + 2 * i + 1;
            float x0 = *a, x1 = *b;
            if (ggml) { /* the contraction gcc gives ggml's rotation */
                const float t1 = x1 * s, t2 = x1 * c;
                *a = fmaf(x0, c, -t1);
                *b = fmaf(x0, s, t2);
            } else {
                *a = x0 * c - x1 * s;
                *b = x0 * s + x1 * c;
            }
        }
    }
}

/* ---- llama.cpp's numerics (IT_LLM_NUMERICS_GGML, context.h) ---- */

/* The horizontal sum of 16 lanes in the order of ggml's AVX-512 reductions (gcc's
 * _mm512_reduce_add_ps): i + (i + 8), then + (i + 4), then (0 + 2) + (1 + 3). */
static inline __attribute__((always_inline)) float g_hsum16(const float *l) {
    float p[8], q[4];
    for (int i = 0; i < 8; i++) p[i] = l[i] + l[i + 8];
    for (int i = 0; i < 4; i++) q[i] = p[i] + p[i + 4];
    return (q[0] + q[2]) + (q[1] + q[3]);
}

/* exp as ggml's vector code computes it (its AVX-512 ggml_v_expf: the Arm optimized-routines
 * polynomial, 2^n by scaling; 0 below about -104, inf above 88.4) */
static inline __attribute__((always_inline)) float g_expf(float x) {
    const float z = fmaf(x, 0x1.715476p+0f, 0x1.8p23f), n = z - 0x1.8p23f;
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x)), u = b * b;
    const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)), u,
                         fmaf(0x1.ffffecp-1f, b, 1.0f));
    if (!(fabsf(n) <= 192)) return n > 0 ? INFINITY : 0.0f;
    const int k = (int)n;
    if (k > -126 && k < 128) { /* a power of two: the product is exact, as scaling is */
        const uint32_t bits = (uint32_t)(k + 127) << 23;
        float p2;
        memcpy(&p2, &bits, 4);
        return j * p2;
    }
    return ldexpf(j, k);
}

/* fmaf as an instruction where the CPU has one (the same result as the library call) */
#define G_CLONES __attribute__((target_clones("fma", "default")))

/* g = silu(g) * u over rows of n: ggml's swiglu (16 at a time with g_expf, the rest with expf) */
G_CLONES static void silu_mul_ggml(float *g, const float *u, int64_t rows, int64_t n) {
    for (int64_t r = 0; r < rows; r++) {
        float *x = g + r * n;
        const float *y = u + r * n;
        int64_t i = 0;
        for (; i + 16 <= n; i += 16)
            for (int l = 0; l < 16; l++) x[i + l] = x[i + l] / (1.0f + g_expf(0.0f - x[i + l])) * y[i + l];
        for (; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i])) * y[i];
    }
}

/* An f16 dot product (both operands f16 values held as floats) in the order of ggml's tinyBLAS (batches of 2+ tokens, n a multiple of 16): 16
 * lanes of fmas over 16-element chunks, then g_hsum16 */
static inline __attribute__((always_inline)) float g_dot_tb(const float *a, const float *b, int64_t n) {
    float acc[16] = {0};
    for (int64_t c = 0; c < n; c += 16)
        for (int l = 0; l < 16; l++) acc[l] = fmaf(a[c + l], b[c + l], acc[l]);
    return g_hsum16(acc);
}

/* ... and of ggml_vec_dot_f16 (one token): four 16-lane fma accumulators over 64-element
 * chunks, (0 + 2) + (1 + 3), g_hsum16 into a double, the rest as float products added in
 * double. */
static inline __attribute__((always_inline)) float g_dot_vd(const float *a, const float *b, int64_t n) {
    const int64_t np = n & ~(int64_t)63;
    float acc[4][16] = {{0}}, x0[16];
    for (int64_t i = 0; i < np; i += 64)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 16; l++) acc[j][l] = fmaf(a[i + 16 * j + l], b[i + 16 * j + l], acc[j][l]);
    for (int l = 0; l < 16; l++) x0[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    double s = g_hsum16(x0);
    for (int64_t i = np; i < n; i++) s += (double)(a[i] * b[i]);
    return (float)s;
}

static float gelu(float x) {
    return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}

/* ---------------------------------------------------------------- attention */

typedef struct attn_job {
    it_llm_ctx *c;
    const it_llm_batch *b;
    int64_t layer;
    float scale;
    float softcap;  /* scores become softcap * tanh(score / softcap); 0: none */
    int64_t window; /* attend to the last `window` positions (this one included); 0: all */
} attn_job;

/* Query heads that one attention item computes together: with an f16 cache and heads of
 * at most 16 dimensions, all of a token's (a head's own work is too short to keep the core
 * busy: kq_f16 reads each K block once for the query heads of its KV head, softmax_pv_f16t
 * each transposed V block); else one. */
static int64_t attn_heads(const it_llm_ctx *c) {
    const it_llm_hparams *h = &c->m->hp;
    return c->kv.f16 && h->head_dim <= 16 ? h->n_head : 1;
}

#define IT_LOG2E 1.44269504088896341f

/* Scratch floats per thread for attention: per head of an item the scores (whole blocks)
 * and its output row (or the scaled query), then the query as Q8_0 activations (Q8_0 cache)
 * or the K and V block lists (transposed V). */
static int64_t attn_scratch(const it_llm_hparams *h, int64_t n_ctx, int64_t heads) {
    return heads * (n_ctx + 2 * IT_KV_BLOCK + h->head_dim) + (it_qdot_act_bytes(IT_GGML_Q8_0, h->head_dim) + 64) / 4 +
           2 * (n_ctx / IT_KV_BLOCK + 2) * (int64_t)(sizeof(void *) / sizeof(float)) + 16;
}

static inline float f16r(float x) { return it_f16_to_f32(it_f32_to_f16(x)); }

/* Attention of one (token, query head) as llama.cpp computes it without flash attention
 * over its f16 cache: KQ = k . f16(q) (a matrix product of the cache's n_kv cells, padded
 * to 256, and the batch), softmax(KQ * scale) with ggml's exp summed per 16 cells in
 * double, f16(probabilities) . V. The products run in tinyBLAS order for a batch of 2+
 * tokens and in ggml_vec_dot_f16's for one. */
G_CLONES static void attn_ggml(const attn_job *j, int64_t t, int64_t hh, float *scr) {
    it_llm_ctx *c = j->c;
    const it_llm_hparams *h = &c->m->hp;
    const it_kv_cache *kv = &c->kv;
    const int64_t hd = h->head_dim, qd = h->n_head * hd, g = hh / (h->n_head / h->n_head_kv);
    const int s = j->b->seq[t];
    const int64_t np = (int64_t)j->b->pos[t] + 1;
    const int64_t p0 = j->window > 0 && np > j->window ? np - j->window : 0;
    const int64_t nkv = (kv->seq[s].len + 255) / 256 * 256; /* the cells llama.cpp attends over */
    const int tb = c->ggml_ubatch >= 2; /* (the micro-batch llama.cpp would compute) */
    /* scratch: scores, probabilities (nkv each), q, a K column, then the PV accumulators */
    float *wp = scr, *pr = scr + nkv, *qh = pr + nkv, *kk = qh + hd, *acc = kk + hd;
    const float *q = c->q + t * qd + hh * hd;
    for (int64_t d = 0; d < hd; d++) qh[d] = f16r(q[d]);
    float mx = -INFINITY;
    for (int64_t p = p0; p < np; p++) {
        const uint16_t *kb = (const uint16_t *)it_kv_block(kv, kv->k, j->layer, s, p) + g * hd * IT_KV_BLOCK + p % IT_KV_BLOCK;
        for (int64_t d = 0; d < hd; d++) kk[d] = it_f16_to_f32(kb[d * IT_KV_BLOCK]);
        const float sc = tb && hd % 16 == 0 ? g_dot_tb(kk, qh, hd) : g_dot_vd(kk, qh, hd);
        wp[p] = sc * j->scale;
        mx = wp[p] > mx ? wp[p] : mx;
    }
    double sum = 0;
    for (int64_t c0 = p0 / 16 * 16; c0 < np; c0 += 16) {
        float v[16];
        for (int l = 0; l < 16; l++) v[l] = c0 + l >= p0 && c0 + l < np ? g_expf(wp[c0 + l] - mx) : 0.0f;
        memcpy(pr + c0, v, sizeof v);
        sum += (double)g_hsum16(v);
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t p = p0; p < np; p++) pr[p] = f16r(pr[p] * inv);
    /* out[d] = the probabilities . V's column d: tinyBLAS keeps 16 lanes (position mod 16)
     * of fma chains over the chunks of 16 cells; ggml_vec_dot_f16 four times 16 lanes over
     * chunks of 64 and, past the last whole chunk of 64 of the nkv cells, float products
     * summed in double. Positions are visited in order, each V row read once. */
    const int64_t lanes = tb ? 16 : 64, np64 = nkv & ~(int64_t)63;
    double *tail = (double *)(((uintptr_t)(acc + hd * 64) + 7) & ~(uintptr_t)7); /* (2 floats of slack) */
    memset(acc, 0, (size_t)(hd * lanes) * sizeof *acc);
    for (int64_t d = 0; d < hd; d++) tail[d] = 0;
    for (int64_t p = p0; p < np; p++) {
        const uint16_t *vr = (const uint16_t *)it_kv_entry(kv, kv->v, j->layer, s, p) + g * hd;
        const float pp = pr[p];
        if (!tb && p >= np64) {
            for (int64_t d = 0; d < hd; d++) tail[d] += (double)(it_f16_to_f32(vr[d]) * pp);
            continue;
        }
        const int64_t lane = tb ? p % 16 : p % 64; /* (vec_dot: accumulator p % 64 / 16, lane p % 16) */
        for (int64_t d = 0; d < hd; d++) acc[d * lanes + lane] = fmaf(it_f16_to_f32(vr[d]), pp, acc[d * lanes + lane]);
    }
    float *dst = c->att + t * qd + hh * hd;
    for (int64_t d = 0; d < hd; d++) {
        const float *a = acc + d * lanes;
        if (tb) {
            dst[d] = g_hsum16(a);
        } else {
            float x0[16];
            for (int l = 0; l < 16; l++) x0[l] = (a[l] + a[32 + l]) + (a[16 + l] + a[48 + l]);
            dst[d] = (float)((double)g_hsum16(x0) + tail[d]);
        }
    }
}

static void attn_items(void *arg, int64_t i0, int64_t i1, int tid) {
    const attn_job *j = arg;
    it_llm_ctx *c = j->c;
    const it_llm_hparams *h = &c->m->hp;
    const it_kv_cache *kv = &c->kv;
    const int64_t hd = h->head_dim, qd = h->n_head * hd, group = h->n_head / h->n_head_kv;
    const int64_t nh = attn_heads(c), per_t = h->n_head / nh;
    const int64_t ss = (kv->n_ctx + IT_KV_BLOCK - 1) / IT_KV_BLOCK * IT_KV_BLOCK + IT_KV_BLOCK; /* scores per head */
    float *sc0 = c->tscratch + (size_t)tid * (size_t)c->tstride, *out0 = sc0 + nh * ss;
    if (c->ggml && kv->f16 && j->softcap <= 0) {
        for (int64_t i = i0; i < i1; i++)
            for (int64_t jh = 0; jh < nh; jh++) attn_ggml(j, i / per_t, i % per_t * nh + jh, sc0);
        return;
    }
    const int gsz = (int)(nh < group ? nh : group); /* query heads of the item per KV head */
    for (int64_t i = i0; i < i1; i++) {
        const int64_t t = i / per_t, h0 = i % per_t * nh, g0 = h0 / group;
        const int s = j->b->seq[t];
        const int64_t np = (int64_t)j->b->pos[t] + 1;
        const int64_t p0 = j->window > 0 && np > j->window ? np - j->window : 0;
        const int64_t b0 = p0 / IT_KV_BLOCK, b1 = (np - 1) / IT_KV_BLOCK;
        float sum[IT_LLM_MAX_HEADS];
        if (kv->vt) { /* every head of the token (at most 16 dimensions): scores in base 2, then
                         softmax and PV over the transposed V blocks */
            const int64_t nb = b1 - b0 + 1;
            const uint16_t **kl = (const uint16_t **)(((uintptr_t)(out0 + nh * hd) + 63) & ~(uintptr_t)63), **vl = kl + nb;
            for (int64_t k = 0; k < nb; k++) {
                kl[k] = (const uint16_t *)it_kv_block(kv, kv->k, j->layer, s, (b0 + k) * IT_KV_BLOCK);
                vl[k] = (const uint16_t *)it_kv_block(kv, kv->v, j->layer, s, (b0 + k) * IT_KV_BLOCK);
            }
            float *sc = sc0 + b0 * IT_KV_BLOCK;
            const float *q = c->q + t * qd;
            if (j->softcap > 0) {
                c->qt->kq_f16(kl, nb, q, (int)nh, gsz, hd, sc, ss);
                for (int64_t jh = 0; jh < nh; jh++)
                    for (int64_t p = p0; p < np; p++) {
                        float *x = sc + jh * ss + p - b0 * IT_KV_BLOCK;
                        *x = j->softcap * tanhf(*x * j->scale / j->softcap) * IT_LOG2E;
                    }
            } else { /* the query scaled by log2(e) / sqrt(hd) */
                const float ql = j->scale * IT_LOG2E;
                for (int64_t k = 0; k < nh * hd; k++) out0[k] = q[k] * ql;
                c->qt->kq_f16(kl, nb, out0, (int)nh, gsz, hd, sc, ss);
            }
            c->qt->softmax_pv_f16t(vl, p0 - b0 * IT_KV_BLOCK, np - b0 * IT_KV_BLOCK, sc, ss, (int)nh, gsz, hd,
                                   c->att + t * qd);
            continue;
        }
        /* q . k for whole blocks of 16 positions (K blocks are transposed), over f16 blocks
         * up to 64 blocks a call */
        const uint16_t *bl[64];
        for (int64_t c0 = b0; c0 <= b1 && kv->f16; c0 += 64) {
            const int64_t nb = b1 + 1 - c0 < 64 ? b1 + 1 - c0 : 64;
            for (int64_t k = 0; k < nb; k++)
                bl[k] = (const uint16_t *)it_kv_block(kv, kv->k, j->layer, s, (c0 + k) * IT_KV_BLOCK) + g0 * hd * IT_KV_BLOCK;
            c->qt->kq_f16(bl, nb, c->q + t * qd + h0 * hd, (int)nh, gsz, hd, sc0 + c0 * IT_KV_BLOCK, ss);
        }
        for (int64_t jh = 0; jh < nh; jh++) {
            const int64_t g = (h0 + jh) / group;
            const float *q = c->q + t * qd + (h0 + jh) * hd;
            float *sc = sc0 + jh * ss;
            if (kv->q8) { /* q . k as integer dot products of Q8_0 rows, positions [p0, np) */
                uint8_t *qq = (uint8_t *)(((uintptr_t)(out0 + nh * hd) + 63) & ~(uintptr_t)63);
                c->qt->quant_act(IT_GGML_Q8_0, q, hd, qq);
                const int64_t hoff = g * (hd / 32) * 34;
                for (int64_t p = p0; p < np; p++)
                    sc[p] = c->qt->q8_0((const uint8_t *)it_kv_entry(kv, kv->k, j->layer, s, p) + hoff, qq, hd);
            } else if (!kv->f16) {
                for (int64_t blk = b0; blk <= b1; blk++) {
                    const float *kt = (const float *)it_kv_block(kv, kv->k, j->layer, s, blk * IT_KV_BLOCK) + g * hd * IT_KV_BLOCK;
                    float *sb = sc + blk * IT_KV_BLOCK;
                    for (int jj = 0; jj < IT_KV_BLOCK; jj++) {
                        float d = 0;
                        for (int64_t k = 0; k < hd; k++) d += q[k] * kt[k * IT_KV_BLOCK + jj];
                        sb[jj] = d;
                    }
                }
            }
            if (j->softcap > 0) {
                for (int64_t p = p0; p < np; p++) sc[p] = j->softcap * tanhf(sc[p] * j->scale / j->softcap);
                sum[jh] = c->qt->exp_sum(sc + p0, sc + p0, np - p0, 1.0f, c->qt->max_f32(sc + p0, np - p0));
            } else { /* scale > 0: the largest scaled score is the scaled largest score */
                sum[jh] = c->qt->exp_sum(sc + p0, sc + p0, np - p0, j->scale, c->qt->max_f32(sc + p0, np - p0) * j->scale);
            }
        }
        memset(out0, 0, (size_t)(nh * hd) * sizeof *out0);
        for (int64_t c0 = b0; c0 <= b1 && kv->f16; c0 += 64) { /* positions [p0, np) in order, 64 blocks a call */
            const int64_t nb = b1 + 1 - c0 < 64 ? b1 + 1 - c0 : 64;
            const int64_t a = c0 * IT_KV_BLOCK > p0 ? c0 * IT_KV_BLOCK : p0;
            const int64_t z = (c0 + nb) * IT_KV_BLOCK < np ? (c0 + nb) * IT_KV_BLOCK : np;
            for (int64_t k = 0; k < nb; k++)
                bl[k] = (const uint16_t *)it_kv_entry(kv, kv->v, j->layer, s, (c0 + k) * IT_KV_BLOCK) + g0 * hd;
            c->qt->pv_f16(bl, a - c0 * IT_KV_BLOCK, z - a, kv->kv_dim, sc0 + a, ss, (int)nh, gsz, hd, out0, hd);
        }
        for (int64_t blk = b0; blk <= b1 && !kv->f16; blk++) { /* the block's positions in [p0, np), in order */
            int64_t a = blk * IT_KV_BLOCK > p0 ? blk * IT_KV_BLOCK : p0, z = (blk + 1) * IT_KV_BLOCK < np ? (blk + 1) * IT_KV_BLOCK : np;
            const void *vp = it_kv_entry(kv, kv->v, j->layer, s, a);
            for (int64_t jh = 0; jh < nh; jh++) {
                const int64_t g = (h0 + jh) / group;
                const float *sc = sc0 + jh * ss;
                float *out = out0 + jh * hd;
                if (kv->q8)
                    c->qt->pv_q8_0((const uint8_t *)vp + g * (hd / 32) * 34, (int64_t)kv->row_bytes, sc + a, z - a, hd, out);
                else
                    for (int64_t p = a; p < z; p++) {
                        const float *vf = (const float *)vp + (p - a) * kv->kv_dim + g * hd;
                        for (int64_t k = 0; k < hd; k++) out[k] += sc[p] * vf[k];
                    }
            }
        }
        for (int64_t jh = 0; jh < nh; jh++) {
            float inv = 1.0f / sum[jh];
            float *dst = c->att + t * qd + (h0 + jh) * hd;
            for (int64_t k = 0; k < hd; k++) dst[k] = out0[jh * hd + k] * inv;
        }
    }
}

/* ---------------------------------------------------------------- decode */

/* RMSNorm of a block output (rows of c->xn) before the residual add, when w is present. */
static void post_norm(it_llm_ctx *c, const it_llm_weight *w, int64_t T, float *vt) {
    if (!w->data) return;
    const it_llm_hparams *h = &c->m->hp;
    const int64_t D = h->n_embd, qd = h->n_head * h->head_dim, wide = D > qd ? D : qd;
    const float *wf = vec_f32(w, vt);
    for (int64_t t = 0; t < T; t++) rmsnorm(c->xn + t * wide, c->xn + t * wide, wf, D, h->norm_eps, h->norm_plus1, c->ggml);
}

static int check_batch(it_llm_ctx *c, const it_llm_batch *b, int64_t *n_out, it_err *e) {
    const it_llm_hparams *h = &c->m->hp;
    if (!b || b->n <= 0 || !b->token || !b->pos || !b->seq)
        return it_fail(e, INGOT_ERR_INVALID_ARG, "empty or incomplete batch");
    int64_t *next = malloc((size_t)c->kv.n_seq * 2 * sizeof *next), *first = next + c->kv.n_seq;
    if (!next) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    for (int s = 0; s < c->kv.n_seq; s++) next[s] = -1;
    int st = 0;
    *n_out = 0;
    for (int64_t i = 0; i < b->n && !st; i++) {
        int32_t tok = b->token[i], s = b->seq[i];
        int64_t p = b->pos[i];
        if (tok < 0 || tok >= h->n_vocab)
            st = it_fail(e, INGOT_ERR_INVALID_ARG, "batch token %lld: id %d is outside the vocabulary [0, %lld)",
                         (long long)i, tok, (long long)h->n_vocab);
        else if (s < 0 || s >= c->kv.n_seq)
            st = it_fail(e, INGOT_ERR_INVALID_ARG, "batch token %lld: sequence id %d is outside [0, %d)", (long long)i,
                         s, c->kv.n_seq);
        else if (p < 0 || p >= c->kv.n_ctx)
            st = it_fail(e, INGOT_ERR_LIMIT,
                         "sequence %d: position %lld is past the context (n_ctx = %lld positions per sequence)", s,
                         (long long)p, (long long)c->kv.n_ctx);
        else if (next[s] < 0 ? p > c->kv.seq[s].len : p != next[s])
            st = it_fail(e, INGOT_ERR_INVALID_ARG, "sequence %d: position %lld does not continue it (expected %lld)", s,
                         (long long)p, (long long)(next[s] < 0 ? c->kv.seq[s].len : next[s]));
        else {
            if (next[s] < 0) first[s] = p;
            next[s] = p + 1;
        }
        if (!b->logits || b->logits[i]) (*n_out)++;
    }
    if (!st) { /* all block needs at once (new blocks, copies of shared ones written into), so
                  that resizing and copying below cannot fail half way */
        int64_t need = 0;
        for (int s = 0; s < c->kv.n_seq; s++)
            if (next[s] >= 0) {
                int64_t nb = (next[s] + IT_KV_BLOCK - 1) / IT_KV_BLOCK - c->kv.seq[s].n_blocks;
                if (nb > 0) need += nb;
                need += it_kv_seq_shared(&c->kv, s, first[s], next[s]);
            }
        if (need > c->kv.n_free)
            st = it_fail(e, INGOT_ERR_LIMIT, "kv cache full: the batch needs %lld more blocks of %d positions, %lld free",
                         (long long)need, IT_KV_BLOCK, (long long)c->kv.n_free);
    }
    for (int s = 0; s < c->kv.n_seq && !st; s++)
        if (next[s] >= 0 && !(st = it_kv_seq_resize(&c->kv, s, next[s], e)))
            st = it_kv_seq_own(&c->kv, s, first[s], next[s], e);
    free(next);
    return st;
}

/* The forward pass of a checked batch of at most IT_LLM_UBATCH tokens (n_out rows wanted). */
static int forward(it_llm_ctx *c, const it_llm_batch *b, int64_t n_out, float *logits, it_err *e) {
    const it_llm_model *m = c->m;
    const it_llm_hparams *h = &m->hp;
    int st;
    const int64_t T = b->n, D = h->n_embd, hd = h->head_dim, qd = h->n_head * hd, kvd = h->n_head_kv * hd;
    const int64_t wide = D > qd ? D : qd, half = h->n_rot / 2;
    if ((st = grow(c, T, e))) return st;
    const int plus1 = h->norm_plus1;
    float *vt = c->tscratch; /* thread 0's scratch: 1-D weights outside parallel regions */
    /* per token: cos/sin of the global layers, then of the sliding-window layers. LongRoPE
     * factors are chosen by the context's size, as llama.cpp does. */
    const int64_t rw = half > 0 ? 2 * half : 2;
    const float *inv_g = m->rope_inv_freq_long && c->kv.n_ctx > h->rope_orig_ctx ? m->rope_inv_freq_long
                                                                                 : m->rope_inv_freq;
    const float *inv_s = m->rope_inv_freq_swa;
    /* llama.cpp numerics: ggml's angles where the scaling is plain (none, linear, factors) */
    const int ggml_theta = c->ggml && h->rope_scaling != IT_ROPE_SCALING_YARN && inv_g == m->rope_inv_freq;
    const float theta_scale = powf(h->rope_theta, -2.0f / (float)(h->n_rot > 0 ? h->n_rot : 2));
    const float freq_scale = h->rope_scaling == IT_ROPE_SCALING_LINEAR && h->rope_factor > 0 ? 1.0f / h->rope_factor : 1.0f;

    /* tied embeddings that were packed as the output matrix: rows come from the packed copy,
     * so the file's pages stay released (each lookup would fault in 64 KiB around its row) */
    const int emb_packed = m->output.packed && m->output.data == m->tok_embd.data;
    for (int64_t t = 0; t < T; t++) {
        if (emb_packed) {
            uint8_t *row = (uint8_t *)vt; /* (free until the first norm below) */
            it_qpack16_row(m->tok_embd.type, m->output.packed, D, b->token[t], row);
            it_dequant_row(m->tok_embd.type, row, c->x + t * D, D);
        } else {
            it_dequant_row(m->tok_embd.type, (const uint8_t *)m->tok_embd.data + b->token[t] * m->tok_embd.row_bytes,
                           c->x + t * D, D);
        }
        if (h->embd_scale != 1)
            for (int64_t i = 0; i < D; i++) c->x[t * D + i] *= h->embd_scale;
        float *cs = c->rope + t * 2 * rw;
        if (ggml_theta) { /* ggml's angles: a running product of base^(-2/n_rot), / factor */
            float theta = (float)b->pos[t];
            for (int64_t i = 0; i < half; i++) {
                const float th = freq_scale * (m->rope_ff ? theta / m->rope_ff[i] : theta);
                cs[2 * i] = cosf(th) * m->rope_mscale;
                cs[2 * i + 1] = sinf(th) * m->rope_mscale;
                theta *= theta_scale;
            }
        } else
            for (int64_t i = 0; i < half; i++) {
                float th = (float)b->pos[t] * inv_g[i];
                cs[2 * i] = cosf(th) * m->rope_mscale;
                cs[2 * i + 1] = sinf(th) * m->rope_mscale;
            }
        for (int64_t i = 0; inv_s && i < half; i++) { /* no scaling on the local layers */
            float th = (float)b->pos[t] * inv_s[i];
            cs[rw + 2 * i] = cosf(th);
            cs[rw + 2 * i + 1] = sinf(th);
        }
    }
    const float scale = h->attn_scale > 0 ? h->attn_scale : 1.0f / sqrtf((float)hd);

    for (int64_t l = 0; l < h->n_layer; l++) {
        const it_llm_layer *L = &m->layers[l];
        const float *w = vec_f32(&L->attn_norm, vt);
        for (int64_t t = 0; t < T; t++) rmsnorm(c->xn + t * wide, c->x + t * D, w, D, h->norm_eps, plus1, c->ggml);
        int xq = 0;
        {
            const it_llm_weight *ws[3] = {&L->wq, &L->wk, &L->wv};
            float *ys[3] = {c->q, c->k, c->v};
            const int64_t lds[3] = {qd, kvd, kvd};
            matmul_n(c, 3, ws, c->xn, wide, T, ys, lds, &xq);
        }
        const it_llm_weight *bias[3] = {&L->bq, &L->bk, &L->bv};
        float *dst[3] = {c->q, c->k, c->v};
        int64_t dims[3] = {qd, kvd, kvd};
        for (int k = 0; k < 3; k++) {
            if (!bias[k]->data) continue;
            const float *bv = vec_f32(bias[k], vt);
            for (int64_t t = 0; t < T; t++)
                for (int64_t i = 0; i < dims[k]; i++) dst[k][t * dims[k] + i] += bv[i];
        }
        if (L->q_norm.data) {
            const float *qn = vec_f32(&L->q_norm, vt);
            for (int64_t t = 0; t < T * h->n_head; t++) rmsnorm(c->q + t * hd, c->q + t * hd, qn, hd, h->norm_eps, plus1, c->ggml);
            const float *kn = vec_f32(&L->k_norm, vt);
            for (int64_t t = 0; t < T * h->n_head_kv; t++)
                rmsnorm(c->k + t * hd, c->k + t * hd, kn, hd, h->norm_eps, plus1, c->ggml);
        }
        const int64_t cs_off = L->swa && inv_s ? rw : 0;
        for (int64_t t = 0; t < T; t++) {
            const float *cs = c->rope + t * 2 * rw + cs_off;
            rope(c->q + t * qd, h->n_head, hd, h->n_rot, h->rope_type, cs, c->ggml);
            rope(c->k + t * kvd, h->n_head_kv, hd, h->n_rot, h->rope_type, cs, c->ggml);
            void *kb = it_kv_block(&c->kv, c->kv.k, l, b->seq[t], b->pos[t]); /* transposed block */
            void *vp = it_kv_entry(&c->kv, c->kv.v, l, b->seq[t], b->pos[t]);
            const int64_t j16 = b->pos[t] % IT_KV_BLOCK;
            if (c->kv.q8) { /* rows of Q8_0 blocks, K like V */
                it_quant_row(IT_GGML_Q8_0, c->k + t * kvd, it_kv_entry(&c->kv, c->kv.k, l, b->seq[t], b->pos[t]), kvd);
                it_quant_row(IT_GGML_Q8_0, c->v + t * kvd, vp, kvd);
            } else if (c->kv.f16) {
                c->qt->f16_store((uint16_t *)kb + j16, IT_KV_BLOCK, c->k + t * kvd, kvd);
                if (c->kv.vt)
                    c->qt->f16_store((uint16_t *)it_kv_block(&c->kv, c->kv.v, l, b->seq[t], b->pos[t]) + j16, IT_KV_BLOCK,
                                     c->v + t * kvd, kvd);
                else
                    c->qt->f16_store(vp, 1, c->v + t * kvd, kvd);
            } else {
                for (int64_t i = 0; i < kvd; i++) ((float *)kb)[i * IT_KV_BLOCK + j16] = c->k[t * kvd + i];
                memcpy(vp, c->v + t * kvd, (size_t)kvd * sizeof(float));
            }
        }
        attn_job aj = {c, b, l, scale, h->attn_softcap, L->swa ? h->n_swa : 0};
        const int64_t items = T * h->n_head / attn_heads(c);
        if (items == 1 || c->nthreads == 1) attn_items(&aj, 0, items, 0);
        else it_parallel_for(c->tp, items, 1, attn_items, &aj);
        xq = 0;
        matmul(c, &L->wo, c->att, qd, T, c->xn, wide, &xq);
        if (L->bo.data) {
            const float *bo = vec_f32(&L->bo, vt);
            for (int64_t t = 0; t < T; t++)
                for (int64_t i = 0; i < D; i++) c->xn[t * wide + i] += bo[i];
        }
        post_norm(c, &L->attn_post_norm, T, vt);
        for (int64_t t = 0; t < T; t++)
            for (int64_t i = 0; i < D; i++) c->x[t * D + i] += c->xn[t * wide + i];

        w = vec_f32(&L->ffn_norm, vt);
        for (int64_t t = 0; t < T; t++) rmsnorm(c->xn + t * wide, c->x + t * D, w, D, h->norm_eps, plus1, c->ggml);
        /* the FFN in chunks of tokens: its two n_ff-wide buffers are the largest of a prompt
         * batch (a token's result does not depend on the chunk). The down product of a chunk
         * overwrites only that chunk's input rows. */
        for (int64_t t0 = 0; t0 < T; t0 += IT_LLM_FFN_CHUNK) {
            const int64_t tc = T - t0 < IT_LLM_FFN_CHUNK ? T - t0 : IT_LLM_FFN_CHUNK;
            float *xin = c->xn + t0 * wide;
            xq = 0;
            const it_llm_weight *ws[2] = {&L->w_gate, &L->w_up};
            float *ys[2] = {c->ffa, c->ffb};
            const int64_t lds[2] = {h->n_ff, h->n_ff};
            matmul_n(c, 2, ws, xin, wide, tc, ys, lds, &xq);
            const int64_t nf = tc * h->n_ff;
            if (h->ffn_act == IT_FFN_GELU)
                for (int64_t i = 0; i < nf; i++) c->ffa[i] = gelu(c->ffa[i]) * c->ffb[i];
            else if (c->ggml)
                silu_mul_ggml(c->ffa, c->ffb, tc, h->n_ff);
            else
                c->qt->silu_mul(c->ffa, c->ffb, nf);
            xq = 0;
            matmul(c, &L->w_down, c->ffa, h->n_ff, tc, xin, wide, &xq);
        }
        post_norm(c, &L->ffn_post_norm, T, vt);
        for (int64_t t = 0; t < T; t++)
            for (int64_t i = 0; i < D; i++) c->x[t * D + i] += c->xn[t * wide + i];
    }

    if (n_out == 0 || !logits) return 0;
    const float *w = vec_f32(&m->output_norm, vt);
    int64_t o = 0;
    for (int64_t t = 0; t < T; t++)
        if (!b->logits || b->logits[t]) rmsnorm(c->xn + (o++) * wide, c->x + t * D, w, D, h->norm_eps, plus1, c->ggml);
    if (b->hidden) {
        for (int64_t r = 0; r < n_out; r++) memcpy(logits + r * D, c->xn + r * wide, (size_t)D * sizeof(float));
        return 0;
    }
    int xq = 0;
    matmul(c, &m->output, c->xn, wide, n_out, logits, h->n_vocab, &xq);
    if (h->final_softcap > 0)
        for (int64_t i = 0; i < n_out * h->n_vocab; i++)
            logits[i] = tanhf(logits[i] / h->final_softcap) * h->final_softcap;
    return 0;
}

/* ---------------------------------------------------------------- sequence-parallel parts
 *
 * A small model (every matrix together in a few MiB: each core keeps all of them in its
 * cache) makes products too short to share between threads at every layer: a step of 16
 * decode tokens of stories260K spent as long in 2 threads as in 1. Such a batch of several
 * sequences instead splits by sequence into one part per thread, and each thread runs the
 * whole forward pass of its part alone, with no synchronization until the end. A token's
 * result is the same (its kernels do not depend on the batch it is in or on threads). */

typedef struct seq_part {
    it_llm_ctx *pc;
    it_llm_batch b;
    int32_t *token, *pos, *seq;
    uint8_t *want;
    int64_t n_out, out0; /* its output rows, written at part_out + out0 rows */
    int64_t *rows;       /* each output row's index among the batch's */
    float *logits;
    void (*row_fn)(void *arg, int64_t row, const float *logits);
    void *row_arg;
    int64_t width;
    int st;
    it_err err;
} seq_part;

/* The single-threaded context of part i (made on first use): the model, the kernels and
 * (copied at each batch) the cache of c, its own activations and scratch. */
static it_llm_ctx *part_ctx(it_llm_ctx *c, int i, it_err *e) {
    if (!c->part && !(c->part = calloc((size_t)c->nthreads, sizeof *c->part)))
        return it_fail(e, INGOT_ERR_NOMEM, "out of memory"), NULL;
    if (!c->part[i]) {
        it_llm_ctx *p = it_calloc(sizeof *p + 256); /* (whole cache lines: the parts run side by side) */
        if (!p) return it_fail(e, INGOT_ERR_NOMEM, "out of memory"), NULL;
        p->m = c->m, p->qt = c->qt, p->kt = c->kt, p->nthreads = 1, p->weights_cached = c->weights_cached;
        p->ggml = c->ggml;
        p->tstride = c->tstride;
        p->tscratch = it_malloc((size_t)p->tstride * sizeof(float));
        if (!p->tscratch || grow(p, 1, e)) {
            free_buffers(p);
            it_free(p);
            return it_fail(e, INGOT_ERR_NOMEM, "out of memory"), NULL;
        }
        c->part[i] = p;
    }
    c->part[i]->kv = c->kv;
    c->part[i]->ggml_ubatch = c->ggml_ubatch;
    return c->part[i];
}

static void run_parts(void *arg, int64_t i0, int64_t i1, int tid) {
    (void)tid;
    seq_part *p = arg;
    for (int64_t i = i0; i < i1; i++) {
        if (!p[i].b.n) continue;
        p[i].st = forward(p[i].pc, &p[i].b, p[i].n_out, p[i].logits, &p[i].err);
        if (!p[i].st && p[i].row_fn && p[i].logits)
            for (int64_t r = 0; r < p[i].n_out; r++)
                p[i].row_fn(p[i].row_arg, p[i].rows[r], p[i].logits + (size_t)r * (size_t)p[i].width);
    }
}

static int cmp_load_desc(const void *a, const void *b) {
    const int64_t *x = a, *y = b; /* pairs (tokens, sequence) */
    return x[0] < y[0] ? 1 : x[0] > y[0] ? -1 : (x[1] > y[1]) - (x[1] < y[1]);
}

/* *buf holds at least need bytes (grown, contents not kept); 0 or an allocation failure */
static int ensure_rows(float **buf, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    it_free(*buf);
    *buf = it_malloc(need);
    *cap = *buf ? need : 0;
    return *buf ? 0 : -1;
}

/* A token's cost in multiply-adds: the weights' (one per element of the layers' matrices
 * and the output's) and the attention's, which grows with its position (per head and
 * position q . k and p . v, and the softmax's exp, about as much again as one of them for
 * heads this small): *wcost, and the attention's per position. */
static int64_t attn_cost(const it_llm_ctx *c, int64_t *wcost) {
    const it_llm_hparams *h = &c->m->hp;
    const int64_t D = h->n_embd, qd = h->n_head * h->head_dim, kvd = h->n_head_kv * h->head_dim;
    *wcost = h->n_layer * (2 * D * qd + 2 * D * kvd + 3 * D * h->n_ff) + D * h->n_vocab;
    return h->n_layer * h->n_head * 3 * h->head_dim;
}

/* The sequences with a cost (cost[s] > 0, s < ns) onto P parts, largest first onto the
 * least loaded part: part_of[s], load[k] (zeroed by the caller); pairs: scratch of 2 ns.
 * Returns whether that pays: at least two sequences and the largest part not much over an
 * even share. */
static int balance_parts(const int64_t *cost, int ns, int P, int64_t wcost, int64_t *pairs, int64_t *load,
                         int *part_of) {
    int np = 0;
    for (int s = 0; s < ns; s++)
        if (cost[s]) pairs[2 * np] = cost[s], pairs[2 * np + 1] = s, np++;
    if (np < 2) return 0;
    qsort(pairs, (size_t)np, 2 * sizeof *pairs, cmp_load_desc);
    for (int i = 0; i < np; i++) {
        int best = 0;
        for (int k = 1; k < P; k++)
            if (load[k] < load[best]) best = k;
        load[best] += pairs[2 * i];
        part_of[pairs[2 * i + 1]] = best;
    }
    int64_t mx = 0, tot = 0;
    for (int k = 0; k < P; k++) mx = load[k] > mx ? load[k] : mx, tot += load[k];
    return mx * P <= tot + tot / 4 + P * wcost;
}

/* Runs b in parts when that pays (returns 1 with *st set), else returns 0. */
static int decode_parts(it_llm_ctx *c, const it_llm_batch *b, int64_t n_out, float *logits, int *st, it_err *e) {
    const int P = c->nthreads;
    if (!c->weights_cached || P < 2 || b->n < 2 || b->n > IT_LLM_UBATCH) return 0;
    const int64_t T = b->n;
    /* the cost of each sequence's tokens, then the sequences onto the least loaded part,
     * largest first */
    const size_t ns = (size_t)c->kv.n_seq;
    /* one zeroed block: parts, per-sequence costs and (cost, sequence) pairs, per-part
     * loads, the parts' output rows' indices in the batch, each sequence's part, the parts'
     * token / position / sequence ids and flags */
    seq_part *p = calloc(1, (size_t)P * sizeof *p + (3 * ns + (size_t)T + (size_t)P) * sizeof(int64_t) +
                                ns * sizeof(int) + (size_t)T * 3 * sizeof(int32_t) + (size_t)T);
    if (!p) return 0; /* (the plain path then) */
    int64_t *cost = (int64_t *)(void *)(p + P), *pairs = cost + ns, *load = pairs + 2 * ns, *rows = load + P;
    int *part_of = (int *)(void *)(rows + T);
    int32_t *ints = (int32_t *)(void *)(part_of + ns);
    uint8_t *want = (uint8_t *)(ints + 3 * T);
    int64_t wcost;
    const int64_t acost = attn_cost(c, &wcost);
    for (int64_t t = 0; t < T; t++) cost[b->seq[t]] += wcost + acost * (b->pos[t] + 1);
    int ok = balance_parts(cost, c->kv.n_seq, P, wcost, pairs, load, part_of);
    const int64_t width = b->hidden ? c->m->hp.n_embd : c->m->hp.n_vocab;
    if (ok && logits) { /* the parts' output rows, one after another */
        ok = !ensure_rows(&c->part_out, &c->part_out_cap, (size_t)n_out * (size_t)width * sizeof(float));
    }
    if (ok) {
        /* each part's tokens in batch order (a sequence's tokens stay in order in it) */
        int64_t off = 0, out0 = 0;
        for (int k = 0; k < P; k++) {
            seq_part *q = &p[k];
            if (!load[k]) continue;
            q->token = ints + off, q->pos = ints + T + off, q->seq = ints + 2 * T + off, q->want = want + off;
            q->rows = rows + out0;
            int64_t n = 0, no = 0;
            for (int64_t t = 0, o = 0; t < T; t++) {
                const int w = !b->logits || b->logits[t];
                if (part_of[b->seq[t]] == k) {
                    q->token[n] = b->token[t], q->pos[n] = b->pos[t], q->seq[n] = b->seq[t];
                    q->want[n] = (uint8_t)w;
                    if (w) q->rows[no++] = o;
                    n++;
                }
                o += w;
            }
            q->row_fn = c->row_fn, q->row_arg = c->row_arg, q->width = width;
            q->b = (it_llm_batch){n, q->token, q->pos, q->seq, q->want, b->hidden};
            q->n_out = no;
            q->out0 = out0;
            q->logits = logits ? c->part_out + (size_t)out0 * (size_t)width : NULL;
            off += n, out0 += no;
            if (!(q->pc = part_ctx(c, k, e)) || grow(q->pc, n, e)) {
                *st = INGOT_ERR_NOMEM;
                goto done;
            }
        }
        it_parallel_for(c->tp, P, 1, run_parts, p);
        *st = 0;
        for (int k = 0; k < P && !*st; k++)
            if (p[k].st) *st = p[k].st, memcpy(e, &p[k].err, sizeof *e);
        c->rows_done = !*st && c->row_fn && logits;
        if (!*st && logits) /* the rows back in batch order */
            for (int64_t t = 0, o = 0; t < T; t++) {
                if (b->logits && !b->logits[t]) continue;
                seq_part *q = &p[part_of[b->seq[t]]];
                memcpy(logits + o++ * width, c->part_out + (size_t)(q->out0++) * (size_t)width,
                       (size_t)width * sizeof(float));
            }
    }
done:
    free(p);
    return ok;
}

typedef int (*batch_fn)(it_llm_ctx *c, const it_llm_batch *b, int64_t n_out, float *logits, it_err *e);

/* b as consecutive sub-batches of at most `step` tokens through run, the output rows in
 * order; set_ub: each sub-batch is a llama.cpp micro-batch (c->ggml_ubatch) */
static int in_steps(it_llm_ctx *c, const it_llm_batch *b, int64_t step, float *logits, it_err *e, batch_fn run,
                    int set_ub) {
    const int64_t width = b->hidden ? c->m->hp.n_embd : c->m->hp.n_vocab;
    int64_t done = 0;
    int st = 0;
    for (int64_t t0 = 0; t0 < b->n && !st; t0 += step) {
        it_llm_batch sb = *b;
        sb.n = b->n - t0 < step ? b->n - t0 : step;
        sb.token += t0, sb.pos += t0, sb.seq += t0;
        if (sb.logits) sb.logits += t0;
        int64_t so = 0;
        for (int64_t i = 0; i < sb.n; i++) so += !sb.logits || sb.logits[i];
        if (set_ub) c->ggml_ubatch = sb.n;
        st = run(c, &sb, so, logits ? logits + done * width : NULL, e);
        done += so;
    }
    return st;
}

/* A checked batch: in sequence-parallel parts when that pays, else as forward passes of at
 * most IT_LLM_UBATCH tokens (a token's result does not depend on the batch it is in: the
 * activations are those of IT_LLM_UBATCH tokens, not of the batch). */
static int decode_checked(it_llm_ctx *c, const it_llm_batch *b, int64_t n_out, float *logits, it_err *e) {
    int st = 0;
    if (decode_parts(c, b, n_out, logits, &st, e)) return st;
    if (b->n <= IT_LLM_UBATCH) return forward(c, b, n_out, logits, e);
    return in_steps(c, b, IT_LLM_UBATCH, logits, e, forward, 0);
}

typedef struct rows_job {
    void (*fn)(void *arg, int64_t row, const float *logits);
    void *arg;
    const float *logits;
    int64_t width;
} rows_job;

static void rows_range(void *arg, int64_t r0, int64_t r1, int tid) {
    (void)tid;
    const rows_job *j = arg;
    for (int64_t r = r0; r < r1; r++) j->fn(j->arg, r, j->logits + (size_t)r * (size_t)j->width);
}

int it_llm_decode_rows(it_llm_ctx *c, const it_llm_batch *b, float *logits,
                       void (*fn)(void *arg, int64_t row, const float *logits), void *arg, it_err *e) {
    if (!logits || !fn) return it_fail(e, INGOT_ERR_INVALID_ARG, "decode with rows: NULL logits or function");
    /* (a batch in llama.cpp's micro-batches runs in several passes: its rows afterwards) */
    const int one_pass = !c->ggml || b->n <= IT_LLM_GGML_UBATCH;
    c->row_fn = one_pass ? fn : NULL, c->row_arg = arg, c->rows_done = 0;
    int st = it_llm_decode(c, b, logits, e);
    c->row_fn = NULL, c->row_arg = NULL;
    if (st || c->rows_done) return st;
    int64_t n_out = 0; /* the batch ran whole: its rows now, on the compute threads */
    for (int64_t i = 0; i < b->n; i++) n_out += !b->logits || b->logits[i];
    rows_job j = {fn, arg, logits, b->hidden ? c->m->hp.n_embd : c->m->hp.n_vocab};
    it_parallel_for(c->tp, n_out, 1, rows_range, &j);
    return 0;
}

int it_llm_decode(it_llm_ctx *c, const it_llm_batch *b, float *logits, it_err *e) {
    int64_t n_out = 0;
    int st;
    if ((st = check_batch(c, b, &n_out, e))) return st; /* the whole batch's KV blocks, at once */
    c->ggml_ubatch = b->n;
    if (!c->ggml || b->n <= IT_LLM_GGML_UBATCH) return decode_checked(c, b, n_out, logits, e);
    /* llama.cpp numerics: its micro-batches of 512 tokens (their size picks the order of the
     * attention sums) */
    return in_steps(c, b, IT_LLM_GGML_UBATCH, logits, e, decode_checked, 1);
}

/* ---------------------------------------------------------------- several steps per call */

typedef struct steps_job {
    int n, n_steps;
    const int32_t *tok0, *pos, *seq;
    const int *most;  /* the steps each sequence may take */
    int *done;        /* the steps it took */
    int32_t *ids;     /* [n_steps][n] */
    it_llm_draw_fn draw;
    void *arg;
    int64_t width;
    /* the parts: each one's context, sequences (indices < n), output rows and status */
    it_llm_ctx *pc[IT_LLM_MAX_PARTS];
    const int *idx[IT_LLM_MAX_PARTS];
    int cnt[IT_LLM_MAX_PARTS];
    float *logits[IT_LLM_MAX_PARTS];
    int st[IT_LLM_MAX_PARTS];
    it_err err[IT_LLM_MAX_PARTS];
} steps_job;

typedef struct draw_job {
    steps_job *j;
    const int *idx;
    const int32_t *map;
    int32_t *cur, *alive;
    const float *logits;
    int k;
} draw_job;

/* the draws of a step's rows r0 .. r1 */
static void draw_rows(void *arg, int64_t r0, int64_t r1, int tid) {
    (void)tid;
    const draw_job *d = arg;
    steps_job *j = d->j;
    for (int64_t r = r0; r < r1; r++) {
        const int i = d->map[r], x = d->idx[i];
        const int stop = j->draw(j->arg, x, d->k, d->logits + (size_t)r * (size_t)j->width, &d->cur[i]);
        j->ids[(size_t)d->k * (size_t)j->n + (size_t)x] = d->cur[i];
        j->done[x] = d->k + 1;
        d->alive[i] = !stop && d->k + 1 < j->most[x];
    }
}

/* The steps of m sequences (idx) on context c: each step a batch of the sequences still
 * going, then a draw per row (on c's threads; a part's context: this one). */
static int run_steps(it_llm_ctx *c, steps_job *j, const int *idx, int m, float *logits, it_err *e) {
    int32_t *ints = malloc((size_t)m * 6 * sizeof *ints);
    if (!ints) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    int32_t *tok = ints, *pos = ints + m, *seq = ints + 2 * m, *cur = ints + 3 * m, *map = ints + 4 * m;
    int32_t *alive = ints + 5 * m;
    int st = 0;
    for (int i = 0; i < m; i++) cur[i] = j->tok0[idx[i]], alive[i] = 1, j->done[idx[i]] = 0;
    for (int k = 0; k < j->n_steps && !st; k++) {
        int na = 0;
        for (int i = 0; i < m; i++)
            if (alive[i]) tok[na] = cur[i], pos[na] = j->pos[idx[i]] + k, seq[na] = j->seq[idx[i]], map[na++] = i;
        if (!na) break;
        const it_llm_batch b = {na, tok, pos, seq, NULL, 0};
        c->ggml_ubatch = na;
        st = !c->ggml || na <= IT_LLM_GGML_UBATCH ? decode_checked(c, &b, na, logits, e)
                                                   : in_steps(c, &b, IT_LLM_GGML_UBATCH, logits, e, decode_checked, 1);
        if (st) break;
        draw_job dj = {j, idx, map, cur, alive, logits, k};
        it_parallel_for(c->tp, na, 1, draw_rows, &dj); /* (a part's context has no pool: inline) */
    }
    free(ints);
    return st;
}

static void run_steps_parts(void *arg, int64_t i0, int64_t i1, int tid) {
    (void)tid;
    steps_job *j = arg;
    for (int64_t k = i0; k < i1; k++)
        if (j->cnt[k]) j->st[k] = run_steps(j->pc[k], j, j->idx[k], j->cnt[k], j->logits[k], &j->err[k]);
}

int it_llm_decode_steps(it_llm_ctx *c, int n, const int32_t *tok0, const int32_t *pos, const int32_t *seq,
                        int n_steps, int *steps, it_llm_draw_fn draw, void *arg, int32_t *ids, it_err *e) {
    if (n < 1 || n_steps < 1 || !tok0 || !pos || !seq || !steps || !draw || !ids)
        return it_fail(e, INGOT_ERR_INVALID_ARG, "decode steps: no sequences, no steps or a NULL array");
    const int ns = c->kv.n_seq;
    int64_t T = 0;
    for (int i = 0; i < n; i++) {
        if (steps[i] < 1 || steps[i] > n_steps)
            return it_fail(e, INGOT_ERR_INVALID_ARG, "decode steps: sequence %d may take %d steps (1 to %d)", seq[i],
                           steps[i], n_steps);
        T += steps[i];
    }
    /* one block: the positions every step may fill (checked and allocated as one batch of
     * T tokens, so that no step can run out of cache), per-sequence costs, (cost, sequence)
     * pairs and per-part loads, each sequence's part, the parts' members, the steps taken */
    const size_t bytes = (size_t)(3 * T + 1) * sizeof(int32_t) + (size_t)(3 * ns + IT_LLM_MAX_PARTS) * sizeof(int64_t) +
                         (size_t)(ns + 2 * n) * sizeof(int);
    int32_t *bt = calloc(1, bytes);
    if (!bt) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    int32_t *bp = bt + T, *bs = bp + T;
    int64_t *cost = (int64_t *)(void *)(bs + T + (T & 1)), *pairs = cost + ns, *load = pairs + 2 * ns;
    int *part_of = (int *)(void *)(load + IT_LLM_MAX_PARTS), *members = part_of + ns, *done = members + n;
    int st = 0;
    for (int i = 0, t = 0; i < n && !st; i++) {
        if (seq[i] >= 0 && seq[i] < ns && cost[seq[i]])
            st = it_fail(e, INGOT_ERR_INVALID_ARG, "decode steps: sequence %d appears twice", seq[i]);
        for (int k = 0; k < steps[i] && !st; k++, t++) bt[t] = tok0[i], bp[t] = pos[i] + k, bs[t] = seq[i];
        if (seq[i] >= 0 && seq[i] < ns) cost[seq[i]] = 1;
    }
    int64_t n_out = 0;
    const it_llm_batch all = {T, bt, bp, bs, NULL, 0};
    const int checked = !st; /* (from here on the sequences hold the positions of every step) */
    if (!st) st = check_batch(c, &all, &n_out, e);
    const int64_t width = c->m->hp.n_vocab;
    const size_t need = (size_t)n * (size_t)width * sizeof(float);
    steps_job j = {.n = n, .n_steps = n_steps, .tok0 = tok0, .pos = pos, .seq = seq, .most = steps, .done = done,
                   .ids = ids, .draw = draw, .arg = arg, .width = width};
    const int P = c->nthreads < IT_LLM_MAX_PARTS ? c->nthreads : IT_LLM_MAX_PARTS;
    int parts = 0;
    if (!st && c->weights_cached && P >= 2 && n >= 2 && !c->ggml) { /* a small model: each part's steps on one thread */
        int64_t wcost;
        const int64_t acost = attn_cost(c, &wcost);
        for (int s = 0; s < ns; s++) cost[s] = 0;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < steps[i]; k++) cost[seq[i]] += wcost + acost * (pos[i] + k + 1);
        parts = balance_parts(cost, ns, P, wcost, pairs, load, part_of);
    }
    if (!st && parts && ensure_rows(&c->part_out, &c->part_out_cap, need)) st = it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    if (!st && parts) {
        int off = 0;
        for (int k = 0; k < P && !st; k++) {
            j.idx[k] = members + off;
            for (int i = 0; i < n; i++)
                if (part_of[seq[i]] == k) members[off++] = i;
            j.cnt[k] = (int)(members + off - j.idx[k]);
            j.logits[k] = c->part_out + (size_t)(j.idx[k] - members) * (size_t)width;
            if (j.cnt[k] && (!(j.pc[k] = part_ctx(c, k, e)) || grow(j.pc[k], j.cnt[k], e))) st = INGOT_ERR_NOMEM;
        }
        if (!st) {
            it_parallel_for(c->tp, P, 1, run_steps_parts, &j);
            for (int k = 0; k < P && !st; k++)
                if (j.st[k]) st = j.st[k], memcpy(e, &j.err[k], sizeof *e);
        }
    } else if (!st) { /* (its rows apart from part_out, which a step's batch in parts uses) */
        for (int i = 0; i < n; i++) members[i] = i;
        st = ensure_rows(&c->step_out, &c->step_out_cap, need) ? it_fail(e, INGOT_ERR_NOMEM, "out of memory")
                                                               : run_steps(c, &j, members, n, c->step_out, e);
    }
    for (int i = 0; i < n && checked; i++) { /* positions allocated past a sequence's last step are given back */
        steps[i] = done[i];
        if (seq[i] >= 0 && seq[i] < ns && c->kv.seq[seq[i]].len > pos[i] + done[i])
            it_kv_seq_resize(&c->kv, seq[i], pos[i] + done[i], NULL);
    }
    free(bt);
    return st;
}
