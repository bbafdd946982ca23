/*
 * model.h: an LLM loaded for inference: hyperparameters, weight views, tokenizer and chat
 * template, from a GGUF file (tensors zero-copy from the read-only mapping, any type the
 * quant layer dequantizes) or a llama2.c checkpoint plus its tokenizer file.
 *
 * Architectures are descriptors (it_llm_arch) in src/llm/models/<family>.c, listed in one
 * registry (arch.c). The shared loader reads the `<arch>.*` keys and the standard tensor
 * names (blk.N.attn_q.weight ...); a descriptor says which RoPE layout, optional tensors
 * (biases, q/k norms, post-norms) and block variants its family uses, and may add a hook
 * for family-specific keys. Fused tensors (attn_qkv, phi3's gate+up ffn_up) are split into
 * row views of the mapping at load, so the forward pass sees separate q/k/v and gate/up.
 * The forward pass (forward.c) runs any descriptor.
 *
 * Threads: a model is immutable after loading; any number of contexts on any threads may
 * share it.
 */
#ifndef INGOT_LLM_MODEL_H
#define INGOT_LLM_MODEL_H

#include <stdint.h>

#include "base/base.h"
#include "formats/gguf.h"
#include "formats/llama2c.h"
#include "llm/tokenizer/tokenizer.h"

/* Limits on sizes read from a model file. */
#define IT_LLM_MAX_LAYERS 1024
#define IT_LLM_MAX_EMBD (1 << 17)
#define IT_LLM_MAX_HEADS 1024
#define IT_LLM_MAX_HEAD_DIM 1024
#define IT_LLM_MAX_FF (1 << 20)
#define IT_LLM_MAX_CTX (1 << 24)

/* A weight matrix [n_out rows, n_in per row] (ggml ne[0] = n_in) viewed in the mapping.
 * data == NULL: absent (optional tensors). 1-D tensors have n_out == 1. */
typedef struct it_llm_weight {
    uint32_t type;     /* IT_GGML_* */
    int64_t n_in, n_out;
    int64_t row_bytes;
    const void *data;
    const char *name;  /* owned by the source (GGUF) or static */
    const void *packed; /* 16-row group copy (it_qpack16) when it_llm_model_pack made one */
} it_llm_weight;

enum { IT_ROPE_NORM = 0, IT_ROPE_NEOX = 2 };  /* ggml's numbering: adjacent pairs / halves */
enum { IT_ROPE_SCALING_NONE = 0, IT_ROPE_SCALING_LINEAR = 1, IT_ROPE_SCALING_YARN = 2 };
enum { IT_FFN_SILU = 0, IT_FFN_GELU = 1 }; /* gate activation of the gated FFN */

/* Optional tensors / block variants a family uses (it_llm_arch.flags). */
enum {
    IT_ARCH_QKV_BIAS = 1 << 0,   /* blk.N.attn_{q,k,v}.bias */
    IT_ARCH_QK_NORM = 1 << 1,    /* blk.N.attn_{q,k}_norm.weight: RMSNorm per head */
    IT_ARCH_NORM_PLUS1 = 1 << 2, /* RMSNorm scales by (1 + w) (gemma). GGUF converters store
                                    1 + w already, so only checkpoints that keep w (HF
                                    safetensors) set hparams.norm_plus1 */
    IT_ARCH_SWA = 1 << 3,        /* reads <arch>.attention.sliding_window */
    IT_ARCH_POST_NORMS = 1 << 4, /* blk.N.post_attention_norm / post_ffw_norm (gemma2/3):
                                    RMSNorm of the attention / FFN output before the residual */
    IT_ARCH_FUSED_FFN = 1 << 5   /* blk.N.ffn_up holds gate then up halves [2 * n_ff] (phi3);
                                    no ffn_gate */
};

typedef struct it_llm_hparams {
    int64_t n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_rot;
    float norm_eps;
    int rope_type;       /* IT_ROPE_* */
    float rope_theta;
    int rope_scaling;    /* IT_ROPE_SCALING_* */
    float rope_factor;   /* context extension factor (freq_scale = 1/factor) */
    int64_t rope_orig_ctx;
    float yarn_beta_fast, yarn_beta_slow, yarn_attn_factor;
    int ffn_act;         /* IT_FFN_* */
    float embd_scale;    /* multiply embeddings (1: none) */
    float attn_scale;    /* query scale (0: 1/sqrt(head_dim)) */
    float attn_softcap;  /* attention score soft-capping: c * tanh(s / c) (0: none) */
    float final_softcap; /* logit soft-capping (0: none) */
    int norm_plus1;      /* RMSNorm scales by (1 + w): see IT_ARCH_NORM_PLUS1 */
    /* sliding-window attention: a token at position p attends to positions > p - n_swa on
     * the layers marked swa (it_llm_layer.swa); every layer when swa_period is 0, else
     * layer i when i % swa_period < swa_period - 1 (gemma3: 5 local, 1 global). */
    int64_t n_swa;       /* 0: none */
    int64_t swa_period;
    float rope_theta_swa; /* RoPE base of the sliding-window layers (0: rope_theta, same table) */
} it_llm_hparams;

typedef struct it_llm_layer {
    it_llm_weight attn_norm, wq, wk, wv, wo, bq, bk, bv, bo, q_norm, k_norm, attn_post_norm;
    it_llm_weight ffn_norm, w_gate, w_up, w_down, ffn_post_norm;
    int swa; /* 1: sliding-window attention (hparams.n_swa) on this layer */
} it_llm_layer;

typedef struct it_llm_model it_llm_model;

typedef struct it_llm_arch {
    const char *name;  /* general.architecture */
    int rope_type;     /* IT_ROPE_* */
    unsigned flags;    /* IT_ARCH_* */
    int ffn_act;       /* IT_FFN_* */
    /* optional: family-specific keys after the shared ones are read */
    int (*load_hparams)(it_llm_model *m, it_err *e);
} it_llm_arch;

struct it_llm_model {
    const it_llm_arch *arch;
    char arch_name[32];
    char name[128];
    it_llm_hparams hp;
    it_llm_weight tok_embd, output_norm, output; /* output == tok_embd when tied */
    it_llm_layer *layers;                        /* [n_layer] */
    float *rope_inv_freq;                        /* [n_rot/2] per-dim angle per position */
    float *rope_inv_freq_long;  /* [n_rot/2] with rope_factors_long (phi3 LongRoPE), used
                                   instead when a context holds more positions per sequence
                                   than rope_orig_ctx (llama.cpp's choice); NULL: none */
    float *rope_inv_freq_swa;   /* [n_rot/2] of the sliding-window layers (base
                                   rope_theta_swa, unscaled); NULL: rope_inv_freq */
    float *rope_ff;             /* rope_freqs / rope_factors_short as floats (n_rot / 2), or NULL */
    float rope_mscale;          /* cos/sin multiplier (rope.scaling.attn_factor; yarn) */
    it_tokenizer *tok;
    char *chat_template; /* NUL-terminated or NULL */
    const char *format;  /* "gguf" | "llama2c" */
    /* sources */
    it_gguf *gguf;
    it_llama2c *l2c;
    void *tok_map;
    size_t tok_map_len;
    void *packed_mem; /* it_llm_model_pack's copies of the matrices */
    size_t packed_bytes;
};

/* Registry (arch.c). NULL when the name is unknown. */
const it_llm_arch *it_llm_arch_find(const char *name, size_t len);
/* Comma-separated names of the registered architectures, for error messages. */
const char *it_llm_arch_names(void);

/* Load a GGUF model. */
int it_llm_model_load_gguf(const char *path, it_llm_model **out, it_err *e);
/* Load a llama2.c checkpoint with its tokenizer file (tok_path may not be NULL). */
int it_llm_model_load_llama2c(const char *path, const char *tok_path, it_llm_model **out, it_err *e);
/* Either, by content: GGUF magic, else a llama2.c checkpoint (needs tok_path). */
int it_llm_model_load(const char *path, const char *tok_path, it_llm_model **out, it_err *e);
void it_llm_model_free(it_llm_model *m);
/* Repack the quantized matrices (Q8_0 / Q4_0 / Q4_1) into 16-row groups when this CPU's
 * qdot tier has kernels for them (pack.c); the forward pass then uses those kernels for
 * every batch size. The mapping's pages of packed tensors are released (the file stays
 * mapped: embedding rows are still read from it). Call once, right after loading. */
int it_llm_model_pack(it_llm_model *m, it_err *e);

/* Build the tokenizer descriptor from the tokenizer.ggml.* keys of a GGUF file (as
 * llama.cpp's llama_vocab::load reads them) and create the tokenizer. */
int it_llm_tokenizer_from_gguf(it_gguf *g, it_tokenizer **out, it_err *e);

/* For architecture files (load_hparams hooks): `<arch>.<suffix>` keys. A missing key gives
 * def (or an error when required); an integer outside [lo, hi] or a non-finite float is an
 * error naming the key. */
int it_llm_key_int(it_llm_model *m, const char *suffix, int required, int64_t def, int64_t lo, int64_t hi,
                   int64_t *out, it_err *e);
int it_llm_key_float(it_llm_model *m, const char *suffix, double def, float *out, it_err *e);

/* For architecture files: read the shared hyperparameters and standard tensors. */
int it_llm_get_weight(it_llm_model *m, const char *name, int64_t n_in, int64_t n_out, int required,
                      it_llm_weight *w, it_err *e);

#endif
