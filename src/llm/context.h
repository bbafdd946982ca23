/*
 * context.h: an inference context over a loaded model: its compute pool, the paged KV
 * cache for up to n_seq sequences, and the batched forward pass (forward.c).
 *
 * One it_llm_decode call runs a batch of tokens from several sequences (each token has a
 * sequence id and position): prompt chunks and single decode tokens mixed. Within a
 * sequence the batch's tokens must continue it: the first one at a position <= the
 * sequence's current length (a lower position drops the cached tail), the next ones
 * consecutive. Every output is computed by the same per-row kernels in the same reduction
 * order whatever else is in the batch, so a sequence's logits are bit-identical alone or
 * batched.
 *
 * Threads: a context belongs to one thread at a time (the one driving its pool).
 */
#ifndef INGOT_LLM_CONTEXT_H
#define INGOT_LLM_CONTEXT_H

#include <stdint.h>

#include "base/base.h"
#include "kernels/kernels.h"
#include "kernels/qdot.h"
#include "llm/kv_cache.h"
#include "llm/model.h"

#define IT_LLM_PRIV_T 64
#define IT_LLM_FFN_CHUNK 128 /* tokens per FFN pass of a batch */
#define IT_LLM_UBATCH 256    /* tokens per forward pass: larger batches run in parts */
#define IT_LLM_GGML_UBATCH 512 /* llama.cpp's default micro-batch (IT_LLM_NUMERICS_GGML) */

typedef struct it_llm_ctx_params {
    int64_t n_ctx;     /* positions per sequence; 0: the model's training context */
    int n_seq;         /* sequences; 0: 1 */
    int n_threads;     /* 0: all cores */
    int kv_type;       /* IT_KV_F16 (the default), IT_KV_F32, IT_KV_Q8_0 */
    int64_t n_blocks;  /* KV pool blocks; 0: n_seq full contexts */
    int numerics;      /* IT_LLM_NUMERICS_* */
} it_llm_ctx_params;

/* IT_LLM_NUMERICS_GGML: the arithmetic of llama.cpp's CPU backend (ggml's AVX-512 build,
 * without flash attention) instead of ingot's own kernels, so that a sequence's logits are
 * bit for bit llama.cpp's: quantized weights (Q8_0, Q4_1) through the row kernels
 * (ggml's lane sums) instead of the packed groups, RMSNorm summed in order, SiLU and softmax
 * with ggml's exp, RoPE angles by ggml's running product, and attention over the f16 cache
 * with q and the probabilities rounded to f16 and ggml's summation orders, which differ
 * between a batch of one token (decode) and of several (prompt): in this mode a token's
 * result depends on the size of its batch, as in llama.cpp. Needs the f16 KV cache. */
#define IT_LLM_NUMERICS_DEFAULT 0
#define IT_LLM_NUMERICS_GGML 1

typedef struct it_llm_batch {
    int64_t n;
    const int32_t *token; /* [n] */
    const int32_t *pos;   /* [n] */
    const int32_t *seq;   /* [n] */
    const uint8_t *logits; /* [n] nonzero: produce logits for this token; NULL: all */
    int hidden;            /* 1: the output rows are the final-norm hidden states (n_embd floats)
                              instead of logits (embeddings from a decoder model) */
} it_llm_batch;

typedef struct it_llm_ctx {
    const it_llm_model *m;
    it_threadpool *tp;
    int nthreads;
    it_kv_cache kv;
    const it_qdot_table *qt;
    const it_kernel_table *kt;
    /* activations, grown to the largest batch seen (rows of the batch) */
    int64_t cap_t;
    float *x, *xn, *q, *k, *v, *att, *ffa, *ffb, *rope; /* rope: [T][n_rot/2][2] cos, sin */
    uint8_t *xq, *xq1;  /* Q8_0 / Q8_1 rows of the current matmul input */
    size_t xq_cap;
    /* Small batches (T <= IT_LLM_PRIV_T): each thread quantizes the input rows into its own
     * buffer (slot 0: Q8_0, 1: Q8_1) the first time it works on a product, instead of the
     * caller writing one shared buffer that the other cores read: a cache line another core
     * has read costs the writer a coherence miss, which made the shared quantization four
     * times slower than on one core. xqt_key[tid * 2 + slot]: the input serial held. */
    uint8_t *xqt;
    size_t xqt_stride;
    int weights_cached; /* every matrix together fits a few MiB: they stay in cache between tokens */
    int ggml;           /* IT_LLM_NUMERICS_GGML */
    int64_t ggml_ubatch; /* (ggml) tokens of the llama.cpp micro-batch being computed */
    uint64_t *xqt_key;
    uint64_t xq_serial[2], serial_ctr;
    float *tscratch;    /* [nthreads][tstride] */
    int64_t tstride;
    /* A small model's batch of several sequences runs as one single-threaded forward pass
     * per thread over a part of the sequences (forward.c): the contexts of the parts (their
     * own activations, the cache shared) and the parts' output rows. */
    struct it_llm_ctx **part;
    float *part_out;
    size_t part_out_cap;
    float *step_out; /* it_llm_decode_steps' rows outside parts */
    size_t step_out_cap;
    /* it_llm_decode_rows: called for each output row on the thread that computed it, as
     * soon as its part is done (row: its index among the batch's output rows) */
    void (*row_fn)(void *arg, int64_t row, const float *logits);
    void *row_arg;
    int rows_done; /* the last decode called row_fn for every output row */
} it_llm_ctx;

int it_llm_ctx_create(const it_llm_model *m, const it_llm_ctx_params *p, it_llm_ctx **out, it_err *e);
void it_llm_ctx_free(it_llm_ctx *c);
/* Run a batch; logits gets one row of n_vocab floats per token that asks for logits, in
 * batch order. On error nothing of the cache changes except that sequences in the batch
 * may have been shortened to the first position the batch gives them. */
int it_llm_decode(it_llm_ctx *c, const it_llm_batch *b, float *logits, it_err *e);
/* it_llm_decode, and fn(arg, row, logits of the row) for each output row: on the thread
 * that computed the row as soon as its part of a batch split by sequence is done, else
 * after the batch (logits must not be NULL). */
int it_llm_decode_rows(it_llm_ctx *c, const it_llm_batch *b, float *logits,
                       void (*fn)(void *arg, int64_t row, const float *logits), void *arg, it_err *e);
/* Draw sequence i's token at step k from its logits row (*id); return nonzero to stop the
 * sequence after this step. Called on the thread that computed the row. */
typedef int (*it_llm_draw_fn)(void *arg, int i, int k, const float *logits, int32_t *id);
#define IT_LLM_MAX_PARTS 64
/* Up to n_steps decode steps of n distinct sequences, one token each per step: step 0 feeds
 * tok0[i] at pos[i] of sequence seq[i], step k the id drawn at step k - 1; sequence i takes
 * at most steps[i] steps (then steps[i] = the steps it took) and none after its draw asks
 * to stop. ids[k * n + i]: its draw at step k. Every token computes as in a batch of one
 * step (a small model's sequences in parts, each part's steps on one thread with no
 * synchronization between steps); the cache keeps exactly the positions fed. */
int it_llm_decode_steps(it_llm_ctx *c, int n, const int32_t *tok0, const int32_t *pos, const int32_t *seq,
                        int n_steps, int *steps, it_llm_draw_fn draw, void *arg, int32_t *ids, it_err *e);
/* Forget sequence s (or keep its first len positions). */
int it_llm_seq_truncate(it_llm_ctx *c, int s, int64_t len, it_err *e);
int64_t it_llm_seq_len(const it_llm_ctx *c, int s);
/* Sequence dst becomes the first len positions of src, sharing its cache blocks (a common
 * prompt prefix computed once); blocks are copied when written. */
int it_llm_seq_fork(it_llm_ctx *c, int src, int dst, int64_t len, it_err *e);

#endif
