/*
 * phi3.c: the Phi-3 / Phi-3.5 / Phi-4-mini family descriptor (GGUF architecture "phi3"),
 * as llama.cpp's phi3 graph builds it: pre-norm blocks with RMSNorm, one fused projection
 * blk.N.attn_qkv.weight ([q | k | v] rows; separate attn_q/k/v are accepted too), neox
 * RoPE over rope.dimension_count dims (partial rotary on Phi-4-mini), grouped-query
 * attention scaled by 1/sqrt(head_dim), and a fused ffn_up holding the gate rows then the
 * up rows (HF gate_up_proj; SwiGLU: silu(first half) * second half). The loader splits both
 * fused tensors into row views.
 *
 * LongRoPE (Phi-3 128k, Phi-3.5, Phi-4-mini): rope_factors_short / rope_factors_long divide
 * the per-dimension frequencies; as in llama.cpp the long factors apply when a context
 * holds more positions per sequence than rope.scaling.original_context_length, and cos/sin
 * are scaled by rope.scaling.attn_factor. attention.sliding_window applies (as HF's Phi3
 * does) when it is non-zero; note that llama.cpp ignores it for phi3, so both agree only
 * while a sequence is shorter than the window.
 */
#include "llm/model.h"

const it_llm_arch it_llm_arch_phi3 = {
    .name = "phi3",
    .rope_type = IT_ROPE_NEOX,
    .flags = IT_ARCH_SWA | IT_ARCH_FUSED_FFN,
    .ffn_act = IT_FFN_SILU,
    .load_hparams = NULL,
};
