"""minilm_ref.py: an independent reference for ingot's sentence embeddings.

BERT (post-norm, GELU erf) + sentence-transformers pooling + L2 normalization written in numpy
from the weights of model.safetensors (read by the `safetensors` package) and the token ids of
the Hugging Face `tokenizers` library on the folder's tokenizer.json (its padding and
truncation turned off). Nothing here shares code with ingot. Run as a script to print the
reference vectors of a few texts: python minilm_ref.py MODEL_DIR [TEXT...]
"""
import json
import math
import os
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer


class Ref:
    def __init__(self, d):
        self.cfg = json.load(open(os.path.join(d, "config.json")))
        w = load_file(os.path.join(d, "model.safetensors"))
        if "embeddings.word_embeddings.weight" not in w:
            w = {k[5:]: v for k, v in w.items() if k.startswith("bert.")}
        self.w = {k: v.astype(np.float64) for k, v in w.items()}
        self.tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
        self.tok.no_padding()
        self.tok.no_truncation()
        self.pool = "mean"
        self.normalize = False
        mp = os.path.join(d, "modules.json")
        if os.path.exists(mp):
            for m in json.load(open(mp)):
                if m["type"].endswith("Normalize"):
                    self.normalize = True
                if m["type"].endswith("Pooling"):
                    pc = json.load(open(os.path.join(d, m["path"], "config.json")))
                    if pc.get("pooling_mode_cls_token"):
                        self.pool = "cls"
                    elif pc.get("pooling_mode_max_tokens"):
                        self.pool = "max"

    def ids(self, text):
        return self.tok.encode(text).ids

    @staticmethod
    def ln(x, g, b, eps):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / np.sqrt(v + eps) * g + b

    def embed_ids(self, ids):
        w, c = self.w, self.cfg
        eps = c["layer_norm_eps"]
        H, nh = c["hidden_size"], c["num_attention_heads"]
        hd = H // nh
        L = len(ids)
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:L] \
            + w["embeddings.token_type_embeddings.weight"][0]
        x = self.ln(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        erf = np.vectorize(math.erf)
        for l in range(c["num_hidden_layers"]):
            p = "encoder.layer.%d." % l
            lin = lambda t, n: t @ w[p + n + ".weight"].T + w[p + n + ".bias"]
            q = lin(x, "attention.self.query").reshape(L, nh, hd).transpose(1, 0, 2)
            k = lin(x, "attention.self.key").reshape(L, nh, hd).transpose(1, 0, 2)
            v = lin(x, "attention.self.value").reshape(L, nh, hd).transpose(1, 0, 2)
            s = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(1, 0, 2).reshape(L, H)
            x = self.ln(x + lin(ctx, "attention.output.dense"), w[p + "attention.output.LayerNorm.weight"],
                        w[p + "attention.output.LayerNorm.bias"], eps)
            h = lin(x, "intermediate.dense")
            h = 0.5 * h * (1.0 + erf(h / math.sqrt(2.0)))
            x = self.ln(x + lin(h, "output.dense"), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"],
                        eps)
        if self.pool == "cls":
            o = x[0]
        elif self.pool == "max":
            o = x.max(0)
        else:
            o = x.mean(0)
        if self.normalize:
            o = o / max(np.linalg.norm(o), 1e-12)
        return o

    def embed(self, text):
        return self.embed_ids(self.ids(text))


if __name__ == "__main__":
    r = Ref(sys.argv[1])
    for t in sys.argv[2:] or ["hello world"]:
        v = r.embed(t)
        print(json.dumps(t), len(r.ids(t)), " ".join("%.7f" % x for x in v[:8]))
