/*
 * llama.c: the Llama family descriptor (Llama 1/2/3.x, TinyLlama, SmolLM/SmolLM2, Mistral,
 * llama2.c checkpoints): pre-norm blocks with RMSNorm, RoPE over
 * adjacent pairs (ggml's "normal" rope; GGUF q/k rows are permuted by the converters for
 * that), grouped-query attention, SwiGLU feed-forward, optional tied embeddings and llama3
 * rope_freqs. Mistral-style sliding-window attention when llama.attention.sliding_window
 * is non-zero (every layer attends to the last W positions, as HF's Mistral; llama.cpp
 * ignores the key for llama, so both agree only while a sequence is shorter than W).
 * Everything else is the shared loader and forward pass.
 */
#include "llm/model.h"

const it_llm_arch it_llm_arch_llama = {
    .name = "llama",
    .rope_type = IT_ROPE_NORM,
    .flags = IT_ARCH_SWA,
    .ffn_act = IT_FFN_SILU,
    .load_hparams = NULL,
};
