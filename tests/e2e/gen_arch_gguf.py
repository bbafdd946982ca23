#!/usr/bin/env python3
"""gen_arch_gguf: tiny random-weight GGUF models, one per LLM architecture variant that
ingot runs, for the architecture tests (arch_ref.py: ingot against a NumPy reference;
arch_vs_llamacpp.py: ingot against llama.cpp on the same files).

    gen_arch_gguf.py OUTDIR

writes OUTDIR/<name>.gguf and OUTDIR/manifest.json (the files, the token ids to run, the
contexts to run them in, and where llama.cpp is known to differ). Fixed seeds: the files
are the same on every run. Written with the `gguf` package (llama.cpp's gguf-py), the
way llama.cpp's converters lay tensors out: q/k rows of "llama" permuted for its
adjacent-pair RoPE, norms of gemma3 stored as 1 + w, phi3's fused attn_qkv and gate+up
ffn_up. The vocabulary is a small synthetic SentencePiece one (byte tokens and letters);
the tests pass token ids, so its pieces do not matter.

Variants: llama (F32, separate output), llama_swa (F16, sliding window 8 shorter than the
test sequence), qwen2 (q/k/v biases, tied output), qwen3 (q/k norms, head_dim * heads !=
n_embd, F16), phi3 (fused tensors, partial rotary, LongRoPE short/long factors and
attn_factor, run in a context below and above its original one), gemma3 (7 layers: local,
local, local, local, local, global, local with window 8, MQA, linear rope scaling on the
global layers), gemma3_nswa (no sliding window, final logit soft-capping), gemma3_softcap
(attention soft-capping too; llama.cpp ignores that key for gemma3).
"""
import json
import os
import sys

import numpy as np
import gguf

N_VOCAB = 384
PROMPT_LEN = 24
N_GEN = 16


def vocab():
    toks, scores, types = ["<unk>", "<s>", "</s>"], [0.0, 0.0, 0.0], [2, 3, 3]
    for b in range(256):
        toks.append("<0x%02X>" % b)
        scores.append(0.0)
        types.append(6)
    for sp in ("<|endoftext|>", "<|end|>", "<|user|>", "<|assistant|>"):  # phi3's llama.cpp vocab expects them
        toks.append(sp)
        scores.append(0.0)
        types.append(3)
    letters = "abcdefghijklmnopqrstuvwxyz"
    extra = ["\u2581" + c for c in letters] + list(letters) + ["\u2581" + a + b for a in "aeiost" for b in letters]
    i = 0
    while len(toks) < N_VOCAB:
        toks.append(extra[i])
        scores.append(-1.0 - i)
        types.append(1)
        i += 1
    return toks, scores, types


def permute(w, n_head):
    """llama.cpp's convert_hf_to_gguf permute: HF rotate-half rows -> adjacent pairs."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


class Gen:
    def __init__(self, seed, dtype):
        self.rng = np.random.default_rng(seed)
        self.dtype = dtype

    def mat(self, n_out, n_in, gain=1.0):
        return (self.rng.standard_normal((n_out, n_in)) * gain / np.sqrt(n_in)).astype(np.float32)

    def vec(self, n, mean=1.0, sd=0.1):
        return (mean + sd * self.rng.standard_normal(n)).astype(np.float32)

    def w(self, a):  # 2-D weights in the file's type; 1-D stays F32 as the converters write
        return a.astype(self.dtype)


def common(w, arch, c, toks, scores, types):
    w.add_name("tiny-" + c["name"])
    w.add_context_length(c.get("ctx_train", 4096))
    w.add_embedding_length(c["n_embd"])
    w.add_block_count(c["n_layer"])
    w.add_feed_forward_length(c["n_ff"])
    w.add_head_count(c["n_head"])
    w.add_head_count_kv(c["n_head_kv"])
    w.add_layer_norm_rms_eps(c.get("eps", 1e-5))
    w.add_rope_freq_base(c.get("rope_base", 10000.0))
    if c.get("head_dim") and c["head_dim"] != c["n_embd"] // c["n_head"]:
        w.add_key_length(c["head_dim"])
        w.add_value_length(c["head_dim"])
    w.add_tokenizer_model("llama")
    w.add_token_list(toks)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)


def build(outdir, c):
    arch = c["arch"]
    toks, scores, types = vocab()
    g = Gen(c["seed"], c["dtype"])
    D, L, H, KV, FF = c["n_embd"], c["n_layer"], c["n_head"], c["n_head_kv"], c["n_ff"]
    hd = c.get("head_dim") or D // H
    path = os.path.join(outdir, c["name"] + ".gguf")
    w = gguf.GGUFWriter(path, arch)
    common(w, arch, c, toks, scores, types)
    if c.get("n_rot"):
        w.add_rope_dimension_count(c["n_rot"])
    if "swa" in c:
        w.add_sliding_window(c["swa"])
    if "rope_linear" in c:
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(c["rope_linear"])
    if "final_softcap" in c:
        w.add_final_logit_softcapping(c["final_softcap"])
    if "attn_softcap" in c:
        w.add_attn_logit_softcapping(c["attn_softcap"])
    if "orig_ctx" in c:
        w.add_rope_scaling_orig_ctx_len(c["orig_ctx"])
        w.add_rope_scaling_attn_factors(c["attn_factor"])
    gemma = arch == "gemma3"
    emb_sd = 0.25 if gemma else 1.0
    w.add_tensor("token_embd.weight", g.w((g.rng.standard_normal((N_VOCAB, D)) * emb_sd).astype(np.float32)))
    w.add_tensor("output_norm.weight", g.vec(D))
    if not c.get("tied"):
        w.add_tensor("output.weight", g.w(g.mat(N_VOCAB, D, gain=2.0)))
    if arch == "phi3":
        half = c["n_rot"] // 2
        w.add_tensor("rope_factors_short.weight", (1.0 + 0.5 * g.rng.random(half)).astype(np.float32))
        w.add_tensor("rope_factors_long.weight", (1.0 + 8.0 * g.rng.random(half)).astype(np.float32))
    for i in range(L):
        p = "blk.%d." % i
        w.add_tensor(p + "attn_norm.weight", g.vec(D))
        wq, wk, wv = g.mat(H * hd, D), g.mat(KV * hd, D), g.mat(KV * hd, D)
        if arch == "llama":
            wq, wk = permute(wq, H), permute(wk, KV)
        if arch == "phi3":
            w.add_tensor(p + "attn_qkv.weight", g.w(np.concatenate([wq, wk, wv], axis=0)))
        else:
            w.add_tensor(p + "attn_q.weight", g.w(wq))
            w.add_tensor(p + "attn_k.weight", g.w(wk))
            w.add_tensor(p + "attn_v.weight", g.w(wv))
        if arch == "qwen2" or c.get("attn_bias"):
            for n, d, nh in (("q", H * hd, H), ("k", KV * hd, KV), ("v", KV * hd, 0)):
                b = g.vec(d, 0.0, 0.2)
                if arch == "llama" and nh:  # the converter permutes q/k biases like their rows
                    b = permute(b, nh)
                w.add_tensor(p + "attn_%s.bias" % n, b)
        if c.get("attn_bias"):  # HF llama's attention_bias: o_proj has one too
            w.add_tensor(p + "attn_output.bias", g.vec(D, 0.0, 0.2))
        if arch in ("qwen3", "gemma3"):
            w.add_tensor(p + "attn_q_norm.weight", g.vec(hd))
            w.add_tensor(p + "attn_k_norm.weight", g.vec(hd))
        w.add_tensor(p + "attn_output.weight", g.w(g.mat(D, H * hd)))
        w.add_tensor(p + "ffn_norm.weight", g.vec(D))
        if arch == "phi3":
            w.add_tensor(p + "ffn_up.weight", g.w(np.concatenate([g.mat(FF, D), g.mat(FF, D)], axis=0)))
        else:
            w.add_tensor(p + "ffn_gate.weight", g.w(g.mat(FF, D)))
            w.add_tensor(p + "ffn_up.weight", g.w(g.mat(FF, D)))
        w.add_tensor(p + "ffn_down.weight", g.w(g.mat(D, FF)))
        if gemma:
            w.add_tensor(p + "post_attention_norm.weight", g.vec(D))
            w.add_tensor(p + "post_ffw_norm.weight", g.vec(D))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


F32, F16 = np.float32, np.float16

MODELS = [
    dict(name="llama", arch="llama", seed=1, dtype=F32, n_embd=64, n_layer=3, n_head=4, n_head_kv=2, n_ff=160),
    dict(name="llama_swa", arch="llama", seed=2, dtype=F16, n_embd=64, n_layer=3, n_head=4, n_head_kv=2, n_ff=160,
         swa=8, peer_note="llama.cpp ignores llama.attention.sliding_window: equal only at positions < 8",
         peer_agree_upto=8),
    dict(name="llama_bias", arch="llama", seed=9, dtype=F32, n_embd=128, n_layer=2, n_head=4, n_head_kv=2, n_ff=160,
         attn_bias=True),
    dict(name="qwen2", arch="qwen2", seed=3, dtype=F32, n_embd=64, n_layer=2, n_head=4, n_head_kv=2, n_ff=128,
         rope_base=1000000.0, eps=1e-6, tied=True),
    dict(name="qwen3", arch="qwen3", seed=4, dtype=F16, n_embd=64, n_layer=2, n_head=4, n_head_kv=2, n_ff=128,
         head_dim=32, rope_base=1000000.0, eps=1e-6),
    dict(name="phi3", arch="phi3", seed=5, dtype=F32, n_embd=96, n_layer=2, n_head=4, n_head_kv=2, n_ff=128,
         n_rot=18, ctx_train=4096, orig_ctx=512, attn_factor=1.1902380714238083, swa=2048,
         ctxs=[512, 1024]),
    dict(name="gemma3", arch="gemma3", seed=6, dtype=F32, n_embd=64, n_layer=7, n_head=4, n_head_kv=1, n_ff=128,
         head_dim=32, rope_base=1000000.0, eps=1e-6, tied=True, swa=8, rope_linear=2.0),
    dict(name="gemma3_nswa", arch="gemma3", seed=7, dtype=F16, n_embd=64, n_layer=2, n_head=4, n_head_kv=2,
         n_ff=128, head_dim=16, rope_base=10000.0, eps=1e-6, tied=True, final_softcap=4.0),
    dict(name="gemma3_softcap", arch="gemma3", seed=8, dtype=F32, n_embd=64, n_layer=6, n_head=4, n_head_kv=2,
         n_ff=128, head_dim=16, rope_base=1000000.0, eps=1e-6, tied=True, swa=8, final_softcap=4.0,
         attn_softcap=1.5, peer_note="llama.cpp's gemma3 ignores attn_logit_softcapping", peer_agree_upto=0),
]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_arch_gguf.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1234)
    prompt = [1] + [int(t) for t in rng.integers(3, N_VOCAB, PROMPT_LEN - 1)]
    man = []
    for c in MODELS:
        path = build(out, c)
        man.append(dict(name=c["name"], arch=c["arch"], path=os.path.abspath(path), prompt=prompt, n_gen=N_GEN,
                        ctxs=c.get("ctxs", [256]), peer_note=c.get("peer_note"),
                        peer_agree_upto=c.get("peer_agree_upto")))
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(man, f, indent=1)
    print("wrote %d models to %s" % (len(man), out))


if __name__ == "__main__":
    main()
