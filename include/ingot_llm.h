/*
 * ingot_llm.h: public model-file tools for ingot's LLM engine: converting a
 * llama2.c checkpoint to GGUF and quantizing GGUF files. Include after (or
 * instead of) ingot.h; the status codes are ingot.h's.
 *
 * Threads: every function here is self-contained (no shared state) and may be
 * called from any thread, several at once on different files. Error messages
 * go to the caller's err buffer (errlen bytes, may be NULL/0); strings passed
 * in are only read during the call.
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

#ifdef __cplusplus
}
#endif

#endif
