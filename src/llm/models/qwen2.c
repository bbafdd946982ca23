/*
 * qwen2.c: the Qwen2 / Qwen2.5 family descriptor: Llama blocks with biases on the q/k/v
 * projections and RoPE over halves of each head (ggml's "neox" rope), tied embeddings in
 * the small models.
 */
#include "llm/model.h"

const it_llm_arch it_llm_arch_qwen2 = {
    .name = "qwen2",
    .rope_type = IT_ROPE_NEOX,
    .flags = IT_ARCH_QKV_BIAS,
    .ffn_act = IT_FFN_SILU,
    .load_hparams = NULL,
};
