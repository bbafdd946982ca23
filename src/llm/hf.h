/*
 * hf.h: Hugging Face model folders of decoder LLMs -> GGUF, the way llama.cpp's
 * convert_hf_to_gguf.py writes them, so that one loader (model.c) serves both.
 *
 * A folder holds config.json (architectures: LlamaForCausalLM, MistralForCausalLM,
 * Qwen2ForCausalLM, Qwen3ForCausalLM), model.safetensors or shards listed by
 * model.safetensors.index.json (F32 / F16 / BF16 weights, kept in their dtype; 1-D tensors
 * become F32 as llama.cpp makes them), tokenizer.json (BPE: byte-level -> GGUF "gpt2" with
 * merges and the pre-tokenizer named from its regexes; SentencePiece-style with byte_fallback
 * -> "llama" with scores), optionally tokenizer_config.json (special tokens, add_bos/eos,
 * chat_template), chat_template.jinja and generation_config.json (sampling defaults).
 * Llama-architecture q/k projections are permuted from HF's rotate-half layout to GGUF's
 * interleaved pairs; qwen2/qwen3 (NEOX rope) are not.
 *
 * Errors name the file and the field or tensor at fault (a missing config.json, an
 * unsupported architecture, a tensor missing or of the wrong shape, a missing shard).
 *
 * Threads: the functions keep no state; any thread.
 */
#ifndef INGOT_LLM_HF_H
#define INGOT_LLM_HF_H

#include <stddef.h>

#include "base/base.h"

/* 1 when path is a directory (a candidate HF folder), else 0. */
int it_hf_is_dir(const char *path);

/* Convert the folder to a GGUF file at out (written to out.tmp, then renamed). */
int it_hf_convert_file(const char *dir, const char *out, it_err *e);

/* Convert the folder into memory: *buf (page aligned, read-only, *len bytes) holds a whole
 * GGUF file. Release it with munmap (it_unmap of formats/onnx/onnx.h), e.g. by handing it
 * to an it_gguf as its map. */
int it_hf_convert_mem(const char *dir, void **buf, size_t *len, it_err *e);

#endif
