#!/usr/bin/env python3
"""arch_ref: every LLM architecture ingot runs, against an independent NumPy reference.

    arch_ref.py LLM_LOGITS_BINARY [--keep DIR]

Generates the tiny random-weight GGUFs of gen_arch_gguf.py, runs each through ingot
(tests/e2e/llm_logits.c: the prompt in batches of 5, then greedy generation one token at a
time, and a second pass interleaved with another sequence that must give bit-identical
logits) and compares every position's logits with a float64 NumPy forward pass written
from the Hugging Face transformers definitions of the families (LlamaForCausalLM /
MistralForCausalLM, Qwen2, Qwen3, Phi3, Gemma3ForCausalLM), not from ingot's code:

- weights are read back from the GGUF and mapped to the HF layout (llama q/k rows
  un-permuted, so RoPE is HF's rotate-half on the first rotary dims; gemma3 norms stored
  as 1 + w become w again and are applied as HF's (1 + w));
- sliding window: a query at position p sees keys at positions > p - W (HF's sliding
  mask), on every layer (llama/Mistral, phi3) or on gemma3's local layers (layer i local
  when (i + 1) % 6 != 0) with RoPE base 10000 and no scaling there;
- phi3 LongRoPE: frequencies divided by the short or long factors, cos/sin times the
  attention factor; the long factors when the context is larger than the original one
  (llama.cpp's rule, which ingot follows, rather than HF's per-call sequence length).

Pass: max |ingot - ref| over all logits <= TOL (f32 KV cache) and <= TOL_F16 (ingot's
default f16 KV cache), and every generated token is the reference argmax. Prints one line
per model and run. Exit 0 pass, 1 fail, 77 skip (no gguf package).
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

try:
    import gguf
except ImportError:  # pragma: no cover
    print("SKIP: the gguf package is not installed")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
TOL = 2e-3       # f32 KV cache: f32 arithmetic in another order
TOL_F16 = 3e-2   # f16 KV cache entries (11-bit mantissa)
TOL_Q8 = 1e-2    # Q8_0 cache against the same quantization in the reference (a value
                 # next to a rounding boundary may round the other way in float32)


# ---------------------------------------------------------------- GGUF reading

class Model:
    def __init__(self, path):
        r = gguf.GGUFReader(path)
        self.kv = {}
        for k, f in r.fields.items():
            if not f.types:
                continue
            if f.types[0] == gguf.GGUFValueType.ARRAY:
                continue
            if f.types[0] == gguf.GGUFValueType.STRING:
                self.kv[k] = bytes(f.parts[f.data[0]]).decode()
            else:
                self.kv[k] = f.parts[f.data[0]][0].item()
        self.arch = self.kv["general.architecture"]
        self.t = {}
        for t in r.tensors:
            a = np.array(t.data)
            self.t[t.name] = a.astype(np.float64).reshape([int(x) for x in reversed(t.shape)] if len(t.shape) > 1
                                                          else [int(t.shape[0])])

    def key(self, suffix, default=None):
        return self.kv.get(self.arch + "." + suffix, default)


# ---------------------------------------------------------------- HF-style building blocks

def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)


def rope(x, pos, inv_freq, mscale):
    """HF apply_rotary_pos_emb on the first 2 * len(inv_freq) dims (partial rotary)."""
    nr = 2 * len(inv_freq)
    ang = np.outer(pos, inv_freq)                      # [T, nr/2]
    emb = np.concatenate([ang, ang], axis=-1)          # [T, nr]
    cos, sin = np.cos(emb) * mscale, np.sin(emb) * mscale
    xr, xp = x[..., :nr], x[..., nr:]
    xr = xr * cos[:, None, :] + rotate_half(xr) * sin[:, None, :]
    return np.concatenate([xr, xp], axis=-1)


def attention(q, k, v, scale, window=0, softcap=0.0):
    """q [T, H, hd], k/v [T, KV, hd]: causal (optionally sliding-window) GQA."""
    T, H, hd = q.shape
    KV = k.shape[1]
    k = np.repeat(k, H // KV, axis=1)
    v = np.repeat(v, H // KV, axis=1)
    s = np.einsum("thd,shd->hts", q, k) * scale
    if softcap:
        s = np.tanh(s / softcap) * softcap
    i = np.arange(T)[:, None]
    j = np.arange(T)[None, :]
    allowed = j <= i
    if window:
        allowed &= j > i - window
    s = np.where(allowed[None], s, -np.inf)
    s = s - s.max(-1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(-1, keepdims=True)
    return np.einsum("hts,shd->thd", p, v).reshape(T, H * hd)


def q8_0(x):
    """x [..., n] (n a multiple of 32) through GGML's reference Q8_0 quantization (float32
    steps, round half away from zero, f16 scale) and back."""
    x = np.asarray(x, dtype=np.float32)
    b = x.reshape(*x.shape[:-1], -1, 32)
    d = np.abs(b).max(-1, keepdims=True) / np.float32(127)
    inv = (np.float32(1) / np.where(d != 0, d, np.float32(1))).astype(np.float32)
    inv = np.where(d != 0, inv, np.float32(0))
    v = (b * inv).astype(np.float64)
    q = np.sign(v) * np.floor(np.abs(v) + 0.5)
    return (q * d.astype(np.float16).astype(np.float64)).reshape(x.shape)


def silu(x):
    return x / (1 + np.exp(-x))


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def unpermute(w, n_head):
    """Inverse of llama.cpp's converter permute: adjacent-pair rows -> HF rotate-half rows."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


# ---------------------------------------------------------------- the families

def forward(m, tokens, n_ctx, hidden=False, kv_q8=False):
    """Logits [T, V] of the token ids at positions 0..T-1, HF semantics (hidden: the
    final-norm hidden states [T, D] instead). kv_q8: K and V pass through Q8_0 as a Q8_0
    cache stores them, and each query head through Q8_0 as its integer dot products take it."""
    arch = m.arch
    D = m.key("embedding_length")
    L = m.key("block_count")
    H = m.key("attention.head_count")
    KV = m.key("attention.head_count_kv", H)
    hd = m.key("attention.key_length", D // H)
    n_rot = m.key("rope.dimension_count", hd)
    eps = m.key("attention.layer_norm_rms_epsilon", 1e-5)
    base = m.key("rope.freq_base", 10000.0)
    window = m.key("attention.sliding_window", 0) or 0
    T = len(tokens)
    pos = np.arange(T, dtype=np.float64)
    t = m.t
    gemma = arch == "gemma3"

    def W(name):
        return t[name]

    def nw(name):  # norm weight as HF applies it
        w = t[name]
        return 1.0 + (w - 1.0) if gemma else w  # gemma GGUF holds 1 + w_hf

    inv = 1.0 / base ** (np.arange(0, n_rot, 2, dtype=np.float64) / n_rot)
    mscale = 1.0
    inv_global = inv
    if m.key("rope.scaling.type") == "linear":
        inv_global = inv / m.key("rope.scaling.factor")
    if arch == "phi3" and "rope_factors_long.weight" in t:
        orig = m.key("rope.scaling.original_context_length")
        fac = t["rope_factors_long.weight"] if n_ctx > orig else t["rope_factors_short.weight"]
        inv_global = inv / fac
        mscale = m.key("rope.scaling.attn_factor", 1.0)
    inv_local = 1.0 / m.key("rope.freq_base_swa", 10000.0) ** (np.arange(0, n_rot, 2, dtype=np.float64) / n_rot)

    x = W("token_embd.weight")[tokens]
    if gemma:
        x = x * np.sqrt(D)
        # query_pre_attn_scalar: head_dim, or n_embd / n_head on the 62-layer 27B
        scale = (D // H if L == 62 else hd) ** -0.5
    else:
        scale = hd ** -0.5
    attn_cap = m.key("attn_logit_softcapping", 0.0) if gemma else 0.0
    for i in range(L):
        p = "blk.%d." % i
        if gemma:
            local = window > 0 and (i + 1) % 6 != 0
        else:
            local = window > 0
        h = rms_norm(x, nw(p + "attn_norm.weight"), eps)
        if arch == "phi3":
            qkv = h @ W(p + "attn_qkv.weight").T
            q, k, v = np.split(qkv, [H * hd, H * hd + KV * hd], axis=-1)
        else:
            wq, wk = W(p + "attn_q.weight"), W(p + "attn_k.weight")
            if arch == "llama":
                wq, wk = unpermute(wq, H), unpermute(wk, KV)
            q, k, v = h @ wq.T, h @ wk.T, h @ W(p + "attn_v.weight").T
        if p + "attn_q.bias" in t:  # qwen2; llama with HF's attention_bias
            bq, bk = W(p + "attn_q.bias"), W(p + "attn_k.bias")
            if arch == "llama":
                bq, bk = unpermute(bq, H), unpermute(bk, KV)
            q, k, v = q + bq, k + bk, v + W(p + "attn_v.bias")
        q, k, v = q.reshape(T, H, hd), k.reshape(T, KV, hd), v.reshape(T, KV, hd)
        if arch in ("qwen3", "gemma3"):
            q = rms_norm(q, nw(p + "attn_q_norm.weight"), eps)
            k = rms_norm(k, nw(p + "attn_k_norm.weight"), eps)
        if gemma and local:
            q, k = rope(q, pos, inv_local, 1.0), rope(k, pos, inv_local, 1.0)
        else:
            q, k = rope(q, pos, inv_global, mscale), rope(k, pos, inv_global, mscale)
        if kv_q8:
            q, k, v = q8_0(q), q8_0(k), q8_0(v)
        a = attention(q, k, v, scale, window if local else 0, attn_cap)
        a = a @ W(p + "attn_output.weight").T
        if p + "attn_output.bias" in t:
            a = a + W(p + "attn_output.bias")
        if gemma:
            a = rms_norm(a, nw(p + "post_attention_norm.weight"), eps)
        x = x + a
        h = rms_norm(x, nw(p + "ffn_norm.weight"), eps)
        if arch == "phi3":
            gate, up = np.split(h @ W(p + "ffn_up.weight").T, 2, axis=-1)
        else:
            gate, up = h @ W(p + "ffn_gate.weight").T, h @ W(p + "ffn_up.weight").T
        f = (gelu_tanh(gate) if gemma else silu(gate)) * up
        f = f @ W(p + "ffn_down.weight").T
        if gemma:
            f = rms_norm(f, nw(p + "post_ffw_norm.weight"), eps)
        x = x + f
    x = rms_norm(x, nw("output_norm.weight"), eps)
    if hidden:
        return x
    out = t.get("output.weight", t["token_embd.weight"])
    logits = x @ out.T
    cap = m.key("final_logit_softcapping", 0.0) if gemma else 0.0
    if cap:
        logits = np.tanh(logits / cap) * cap
    return logits


# ---------------------------------------------------------------- running ingot

def run_ingot(binary, path, prompt, n_gen, n_ctx, kv, out):
    cmd = [binary, path, out, "--tokens", ",".join(map(str, prompt)), "--gen", str(n_gen), "--chunk", "5",
           "--ctx", str(n_ctx), "--threads", "2", "--check-batch", "--kv-type", kv]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("llm_logits failed: " + r.stderr.strip())
    return read_dump(out)


def read_dump(path):
    with open(path, "rb") as f:
        n, V = np.frombuffer(f.read(8), dtype=np.int32)
        toks = np.frombuffer(f.read(4 * n), dtype=np.int32)
        lg = np.frombuffer(f.read(4 * n * V), dtype=np.float32).reshape(n, V)
    return toks.tolist(), lg


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: arch_ref.py LLM_LOGITS_BINARY [--keep DIR]")
    binary = os.path.abspath(sys.argv[1])
    keep = sys.argv[sys.argv.index("--keep") + 1] if "--keep" in sys.argv else None
    tmp = keep or tempfile.mkdtemp(prefix="ingot-arch-")
    r = subprocess.run([sys.executable, os.path.join(HERE, "gen_arch_gguf.py"), tmp], capture_output=True, text=True)
    if r.returncode != 0:
        print("FAIL: gen_arch_gguf.py:", r.stderr)
        return 1
    man = json.load(open(os.path.join(tmp, "manifest.json")))
    fails = 0
    for e in man:
        m = Model(e["path"])
        for n_ctx in e["ctxs"]:
            for kv, tol in (("f32", TOL), ("f16", TOL_F16), ("q8_0", TOL_Q8)):
                label = "%-15s ctx %-5d kv %s" % (e["name"], n_ctx, kv)
                q8_ok = m.key("attention.key_length", m.key("embedding_length") // m.key("attention.head_count")) % 32 == 0
                try:
                    toks, lg = run_ingot(binary, e["path"], e["prompt"], e["n_gen"], n_ctx, kv,
                                         os.path.join(tmp, e["name"] + ".bin"))
                except Exception as ex:  # noqa: BLE001
                    if kv == "q8_0" and not q8_ok and "multiple of 32" in str(ex):
                        print("PASS %s: refused, head size not a multiple of 32 (%s)" % (label, str(ex)[-80:]))
                        continue
                    print("FAIL %s: %s" % (label, ex))
                    fails += 1
                    continue
                if kv == "q8_0" and not q8_ok:
                    print("FAIL %s: a Q8_0 cache was accepted with a head size that is not a multiple of 32" % label)
                    fails += 1
                    continue
                ref = forward(m, toks, n_ctx, kv_q8=kv == "q8_0")
                diff = float(np.max(np.abs(lg - ref)))
                npr = len(e["prompt"])
                greedy_ok = all(toks[i] == int(np.argmax(ref[i - 1])) for i in range(npr, len(toks)))
                ok = diff <= tol and greedy_ok and toks[:npr] == e["prompt"]
                print("%s %s: max |diff| %.2e (tol %.0e, logit range %.1f), %d greedy tokens %s" % (
                    "PASS" if ok else "FAIL", label, diff, tol, float(np.max(np.abs(ref))), e["n_gen"],
                    "equal" if greedy_ok else "DIFFER"))
                fails += not ok
    if not keep:
        for f in os.listdir(tmp):
            os.remove(os.path.join(tmp, f))
        os.rmdir(tmp)
    print("%s: %d failures" % ("PASS" if not fails else "FAIL", fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
