/*
 * qwen3.c: the Qwen3 (dense) family descriptor: Llama blocks with RMSNorm over each query
 * and key head before RoPE (attn_q_norm / attn_k_norm), neox RoPE, no projection biases,
 * head_dim given by attention.key_length (not embedding / heads).
 */
#include "llm/model.h"

const it_llm_arch it_llm_arch_qwen3 = {
    .name = "qwen3",
    .rope_type = IT_ROPE_NEOX,
    .flags = IT_ARCH_QK_NORM,
    .ffn_act = IT_FFN_SILU,
    .load_hparams = NULL,
};
