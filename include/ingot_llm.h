/*
 * ingot_llm.h: ingot's LLM engine: loading GGUF models (or llama2.c checkpoints),
 * tokenizing, generating text with sampling and streaming, batched decoding over a
 * paged KV cache; and the model-file tools (llama2.c -> GGUF conversion, GGUF
 * quantization). Include after (or instead of) ingot.h; the status codes are ingot.h's.
 *
 * Objects: an ingot_llm (a loaded model: immutable, weights mapped read-only) and any
 * number of ingot_llm_ctx on it (a KV cache, a compute pool and scratch; one per
 * conversation stream or per server scheduler). Every *_free accepts NULL.
 *
 * Threads: the file tools and the model functions (load excepted, which returns a new
 * object) may be called from any thread, several at once. A context is used by one
 * thread at a time; its work runs on the context's own pool. Error messages go to the
 * caller's err buffer (errlen bytes, may be NULL/0) or stay on the context
 * (ingot_llm_ctx_error); strings passed in are only read during the call.
 */
#ifndef INGOT_LLM_H
#define INGOT_LLM_H

#include "ingot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Convert a llama2.c checkpoint (model) and its tokenizer file (tok) to a
 * GGUF file at out (written through a temporary file, then renamed), F32
 * weights, architecture "llama", with the llama.* hyperparameters and the
 * SentencePiece-style vocabulary llama.cpp expects. Weights are laid out as
 * llama.cpp's convert-llama2c-to-ggml writes them (q/k rows not permuted: the
 * llama2.c RoPE rotates adjacent pairs, like llama.cpp's "llama" rope). */
ingot_status ingot_convert_llama2c(const char *model, const char *tok, const char *out, char *err, size_t errlen);

/* Convert a Hugging Face model folder (config.json with LlamaForCausalLM,
 * MistralForCausalLM, Qwen2ForCausalLM or Qwen3ForCausalLM; model.safetensors or its
 * shards with model.safetensors.index.json; tokenizer.json; optionally
 * tokenizer_config.json, chat_template.jinja, generation_config.json) to a GGUF file at out
 * (written through a temporary file, then renamed), as llama.cpp's convert_hf_to_gguf.py
 * writes it: F32/F16/BF16 weights kept in their dtype (1-D tensors as F32), llama.cpp's
 * key and tensor names, llama-architecture q/k rows permuted to interleaved RoPE pairs,
 * the tokenizer as "gpt2" (byte-level BPE, with merges and tokenizer.ggml.pre) or "llama"
 * (SentencePiece-style BPE with byte fallback, with scores). ingot_llm_load also accepts
 * such a folder directly (converted in memory). Errors name the file and the field or
 * tensor at fault. */
ingot_status ingot_convert_hf(const char *dir, const char *out, char *err, size_t errlen);

/* Quantize the GGUF file in to out. type: "F32", "F16", "BF16", "Q8_0",
 * "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K" or "Q6_K"
 * (case-insensitive). Like llama-quantize without an importance matrix: 2-D+
 * weight tensors are quantized with ggml's reference quantizer, 1-D tensors
 * are copied; output.weight (or token_embd.weight when there is no output) is
 * Q6_K for block types other than Q8_0 (Q8_0 if its rows are not a multiple
 * of 256); rows that the type's block does not divide fall back (Q4_K->Q5_0,
 * Q5_K->Q5_1, Q6_K->Q8_0, Q2_K/Q3_K->Q4_0, then F16). Sources must be F32, F16
 * or BF16 (requantizing is refused). Metadata is copied; general.file_type
 * and general.quantization_version are set. threads <= 0: all cores. */
ingot_status ingot_quantize_gguf(const char *in, const char *out, const char *type, int threads, char *err,
                                 size_t errlen);

/* ---- models ------------------------------------------------------------ */

typedef struct ingot_llm ingot_llm;

/* Load a GGUF model, a Hugging Face model folder (see ingot_convert_hf; converted to GGUF in
 * memory), or a llama2.c checkpoint when tokenizer (its tok.bin) is given and the file is
 * not GGUF. Weights stay in the read-only mapping. Unknown architectures,
 * tensor types or missing tensors fail with a message naming them. *out is NULL on
 * failure. The caller owns *out (ingot_llm_free). Any thread. */
ingot_status ingot_llm_load(const char *path, const char *tokenizer, ingot_llm **out, char *err, size_t errlen);
/* Free a model. All its contexts must have been freed first. */
void ingot_llm_free(ingot_llm *m);

typedef struct ingot_llm_info {
    const char *arch;          /* general.architecture ("llama") */
    const char *name;          /* general.name or the file name */
    const char *format;        /* "gguf" | "llama2c" | "hf" (a Hugging Face folder) */
    const char *chat_template; /* NULL when the file has none */
    int64_t n_ctx_train, n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff;
    int64_t n_params;          /* weights counted over the tensors used */
    int64_t weight_bytes;      /* bytes of those tensors in the file */
    int32_t bos, eos;          /* -1 when none */
} ingot_llm_info;

/* Facts about a model; the strings are owned by the model. Any thread. */
ingot_status ingot_llm_get_info(const ingot_llm *m, ingot_llm_info *info);

enum {
    INGOT_LLM_ADD_SPECIAL = 1,  /* tokenize: add BOS/EOS as the vocabulary says */
    INGOT_LLM_PARSE_SPECIAL = 2 /* tokenize: control-token texts become their ids */
};

/* Tokenize text[0..len). Writes at most cap ids and the full count to *n_ids; returns
 * INGOT_ERR_LIMIT when cap is too small (*n_ids says how many are needed). Any thread. */
ingot_status ingot_llm_tokenize(const ingot_llm *m, const char *text, size_t len, int flags, int32_t *ids,
                                size_t cap, size_t *n_ids);
/* Text of ids[0..n) (control tokens render nothing). Writes min(total, cap) bytes (not
 * NUL-terminated) and returns the total, or a negative status. Any thread. */
int64_t ingot_llm_detokenize(const ingot_llm *m, const int32_t *ids, size_t n, char *buf, size_t cap);
/* 1 when id ends generation (EOS, EOT, end-of-turn markers). Any thread. */
int ingot_llm_is_eog(const ingot_llm *m, int32_t id);

/* ---- contexts ---------------------------------------------------------- */

typedef struct ingot_llm_ctx ingot_llm_ctx;

typedef struct ingot_llm_ctx_params {
    int64_t n_ctx;   /* positions per sequence; 0: the model's training context, at most 4096 */
    int n_seq;       /* sequences that ingot_llm_decode may mix; 0: 1 */
    int n_threads;   /* 0: all cores */
    int64_t n_batch; /* prompt tokens per forward pass in ingot_llm_generate; 0: 512 */
    int kv_f32;      /* 1: f32 KV cache (default f16); the same as kv_type INGOT_LLM_KV_F32 */
    int64_t n_kv_blocks; /* KV pool size in blocks of INGOT_LLM_KV_BLOCK positions shared by
                            all sequences; 0: n_seq full contexts */
    int prefix_cache;    /* 1: full blocks of computed tokens are kept, addressed by a hash of
                            the token prefix they end, for ingot_llm_seq_match_prefix */
    int kv_type;         /* INGOT_LLM_KV_F16 (0, the default), INGOT_LLM_KV_F32 or INGOT_LLM_KV_Q8_0
                            (half the memory of f16; the head size must be a multiple of 32) */
    int numerics;        /* INGOT_LLM_NUMERICS_DEFAULT (0) or INGOT_LLM_NUMERICS_LLAMACPP */
} ingot_llm_ctx_params;

/* Arithmetic. DEFAULT: ingot's kernels; a token's logits do not depend on what else is in
 * its batch or on how its prompt was split. LLAMACPP: the arithmetic of llama.cpp's CPU
 * backend (ggml built for AVX-512, no flash attention) step for step, so that logits and
 * greedy text equal llama.cpp's bit for bit on the same file: checked for llama-family
 * models (SiLU, no logit soft-capping) with Q8_0 and Q4_1 weights (llama.cpp repacks Q4_0
 * into interleaved groups with kernels of their own, not reproduced); F16/F32 weights keep
 * ingot's products. As in llama.cpp, attention then sums in one order for a batch of
 * one token and in another for larger batches. Slower; needs the f16 KV cache. */
#define INGOT_LLM_NUMERICS_DEFAULT 0
#define INGOT_LLM_NUMERICS_LLAMACPP 1
/* "default" or "llamacpp" to INGOT_LLM_NUMERICS_*; -1 for anything else. */
int ingot_llm_numerics_from_name(const char *name);

#define INGOT_LLM_KV_F16 0
#define INGOT_LLM_KV_F32 1
#define INGOT_LLM_KV_Q8_0 2
/* "f16", "f32" or "q8_0" (any case) to INGOT_LLM_KV_*; -1 for anything else. */
int ingot_llm_kv_type_from_name(const char *name);
/* Bytes of one position's K and V entries of all layers with that cache type (0: unknown type). */
int64_t ingot_llm_kv_bytes_per_pos(const ingot_llm *m, int kv_type);

#define INGOT_LLM_KV_BLOCK 16

void ingot_llm_ctx_params_default(ingot_llm_ctx_params *p);
/* Create a context (the KV cache is allocated here). The model must outlive it. The
 * caller owns *out. Any thread; the context then belongs to one thread at a time. */
ingot_status ingot_llm_ctx_create(const ingot_llm *m, const ingot_llm_ctx_params *p, ingot_llm_ctx **out,
                                  char *err, size_t errlen);
void ingot_llm_ctx_free(ingot_llm_ctx *c);
int64_t ingot_llm_ctx_n_ctx(const ingot_llm_ctx *c);
/* Threads of the context's compute pool (the caller counts as one). */
int ingot_llm_ctx_n_threads(const ingot_llm_ctx *c);
/* The message of the context's last failed call ("" after a success); owned by c, valid
 * until its next call. */
const char *ingot_llm_ctx_error(const ingot_llm_ctx *c);

/* One forward pass over n tokens from up to n_seq sequences: token i is tokens[i] at
 * position pos[i] of sequence seq[i]. Within a sequence the tokens continue what it holds
 * (the first at a position <= its length; a lower one drops the tail), consecutively.
 * For each i with want_logits[i] != 0 (every i when want_logits is NULL) one row of
 * n_vocab floats is written to logits, in batch order. A sequence's logits do not depend
 * on the rest of the batch. A position past n_ctx is INGOT_ERR_LIMIT. */
ingot_status ingot_llm_decode(ingot_llm_ctx *c, int64_t n, const int32_t *tokens, const int32_t *pos,
                              const int32_t *seq, const uint8_t *want_logits, float *logits);
/* Prefix cache (ingot_llm_ctx_params.prefix_cache): sequence seq is cleared, then takes
 * the cached KV blocks matching the longest whole-block prefix of tokens[0..n) - blocks
 * computed by any sequence, running or finished, shared by reference, not copied.
 * Returns the positions it now holds (0 without the cache); the caller decodes the rest
 * from there. Pass n = prompt length - 1 to keep one token to decode for logits. Cached
 * blocks no sequence uses are evicted least recently used first when the pool needs them. */
int64_t ingot_llm_seq_match_prefix(ingot_llm_ctx *c, int seq, const int32_t *tokens, int64_t n);

typedef struct ingot_llm_kv_stats {
    int64_t total;        /* blocks in the pool */
    int64_t used;         /* held by sequences */
    int64_t cached_idle;  /* cached blocks no sequence holds (evictable) */
    int64_t available;    /* free + evictable: what new positions can take */
    uint64_t prefix_queries, prefix_hits; /* blocks looked up / found by match_prefix */
} ingot_llm_kv_stats;
void ingot_llm_kv_get_stats(const ingot_llm_ctx *c, ingot_llm_kv_stats *st);

/* Embedding of tokens[0..n) from the model's final-norm hidden states: their mean over the
 * positions (INGOT_LLM_POOL_MEAN; the default, also llama.cpp's for decoder models) or the
 * last position's (INGOT_LLM_POOL_LAST; INGOT_LLM_POOL_MODEL: what the GGUF's
 * <arch>.pooling_type says, mean when absent), scaled to unit length: n_embd floats to out.
 * Runs on sequence seq, which is cleared before and after, in chunks of n_batch tokens;
 * n must be 1..n_ctx (INGOT_ERR_LIMIT names both otherwise). */
enum { INGOT_LLM_POOL_MODEL = -1, INGOT_LLM_POOL_MEAN = 1, INGOT_LLM_POOL_LAST = 3 };
ingot_status ingot_llm_embed(ingot_llm_ctx *c, int seq, const int32_t *tokens, int64_t n, int pooling, float *out);

/* Keep only the first len positions of sequence seq (0 clears it). */
ingot_status ingot_llm_seq_truncate(ingot_llm_ctx *c, int seq, int64_t len);
/* Sequence dst becomes a copy of the first len positions of sequence src (len <= its
 * length), sharing src's KV blocks (a common prompt prefix is computed and stored once;
 * a shared block is copied only when one of them writes into it). dst's old contents are
 * dropped. Decoding dst afterwards gives the same logits as if the prefix had been decoded
 * on dst. */
ingot_status ingot_llm_seq_fork(ingot_llm_ctx *c, int src, int dst, int64_t len);
/* Positions held by sequence seq (-1 when seq is out of range). */
int64_t ingot_llm_seq_len(const ingot_llm_ctx *c, int seq);

/* ---- generation -------------------------------------------------------- */

typedef struct ingot_llm_logit_bias {
    int32_t id;
    float bias; /* -INFINITY bans the token */
} ingot_llm_logit_bias;

typedef struct ingot_llm_gen_params {
    int32_t max_tokens;   /* <= 0: until end of generation or the context is full */
    float temp;           /* <= 0: greedy */
    int32_t top_k;        /* <= 0: off */
    float top_p, min_p, typical_p; /* 1, 0, 1: off */
    float repeat_penalty; /* 1: off */
    int32_t penalty_last_n;
    float frequency_penalty, presence_penalty;
    uint64_t seed;        /* same seed, same prompt, same parameters: same text */
    const ingot_llm_logit_bias *logit_bias;
    int32_t n_logit_bias;
    const char *const *stop; /* stop strings: generation ends before the first occurrence */
    int n_stop;
    int32_t n_logprobs;   /* top-N log-probs per token in the callback (0..20); -1: no log-probs at all,
                           * not even the chosen token's (one pass over the vocabulary less) */
    int add_special;      /* add BOS etc. to the prompt (default 1) */
    int parse_special;    /* control-token texts in the prompt become tokens (default 0) */
    int ignore_eos;       /* keep going past end-of-generation tokens */
} ingot_llm_gen_params;

/* max_tokens 128, temp 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat_penalty 1,
 * penalty_last_n 64, seed 0, add_special 1. */
void ingot_llm_gen_params_default(ingot_llm_gen_params *p);

typedef struct ingot_llm_token {
    int32_t id;              /* the token sampled */
    float logprob;           /* its log-probability (penalized logits, temperature 1) */
    int32_t n_top;
    const int32_t *top_ids;  /* [n_top] most likely tokens, best first */
    const float *top_logprobs;
} ingot_llm_token;

/* Called once per generated token on the generating thread with the text that became
 * safe to show: complete UTF-8 only, and nothing that may still turn into a stop string
 * (held-back bytes come with later calls; len may be 0). tok is NULL for the final flush.
 * text is valid during the call only. Return nonzero to stop generating. */
typedef int (*ingot_llm_piece_fn)(void *user, const char *text, size_t len, const ingot_llm_token *tok);

enum {
    INGOT_LLM_STOP_EOG = 1,      /* an end-of-generation token */
    INGOT_LLM_STOP_MAX_TOKENS = 2,
    INGOT_LLM_STOP_STRING = 3,
    INGOT_LLM_STOP_CALLBACK = 4,
    INGOT_LLM_STOP_CONTEXT = 5   /* the context is full */
};

typedef struct ingot_llm_gen_stats {
    int64_t n_prompt, n_reused; /* prompt tokens, of which reused from the cache */
    int64_t n_gen;              /* tokens generated */
    double prompt_ms;           /* prompt processing up to the first token's logits */
    double gen_ms;              /* sampling and decoding of the generated tokens */
    int stop_reason;            /* INGOT_LLM_STOP_* */
} ingot_llm_gen_stats;

/* Tokenize prompt[0..len) and generate on sequence 0 of the context, streaming text to
 * cb (may be NULL). The cached prefix shared with the previous call is reused. A prompt
 * that does not fit the context (with room for one token) is INGOT_ERR_LIMIT naming both
 * sizes. stats may be NULL. The calling thread drives the context's pool. */
ingot_status ingot_llm_generate(ingot_llm_ctx *c, const char *prompt, size_t len, const ingot_llm_gen_params *p,
                                ingot_llm_piece_fn cb, void *user, ingot_llm_gen_stats *stats);

#ifdef __cplusplus
}
#endif

#endif
