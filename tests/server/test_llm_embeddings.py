#!/usr/bin/env python3
"""test_llm_embeddings: POST /v1/embeddings answered by LLMs (their final-norm hidden states,
mean-pooled, unit length) through the official openai client, against the independent
NumPy forward pass of tests/e2e/arch_ref.py on the tiny random-weight GGUFs of
tests/e2e/gen_arch_gguf.py (llama, qwen3, gemma3): token-id inputs, several inputs per
request, base64 encoding, text inputs (tokenized by the model's vocabulary), and the errors
(too long without "truncate", ids out of the vocabulary).

    test_llm_embeddings.py INGOT_BINARY
"""
import base64
import os
import subprocess
import sys
import tempfile

import numpy as np
import openai
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
import arch_ref  # noqa: E402
from serverlib import Server  # noqa: E402

FAILURES = []


def check(cond, what):
    print(("PASS " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


def ref_embedding(m, toks, n_ctx):
    h = arch_ref.forward(m, toks, n_ctx, hidden=True)
    v = h.mean(axis=0)
    return v / np.linalg.norm(v)


def main():
    ingot = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([sys.executable, os.path.join(os.path.dirname(HERE), "e2e", "gen_arch_gguf.py"), tmp],
                           capture_output=True, text=True)
        check(r.returncode == 0, "gen_arch_gguf.py (%s)" % r.stderr[-300:])
        paths = {n: os.path.join(tmp, n + ".gguf") for n in ("llama", "qwen3", "gemma3")}
        args = []
        for n, p in paths.items():
            args += ["--model", p + ":" + n]
        srv = Server(ingot, args + ["-t", "2", "--ctx", "64", "--max-seqs", "2"], os.path.join(tmp, "srv.log"))
        try:
            client = openai.OpenAI(base_url=srv.url + "/v1", api_key="none", max_retries=0, timeout=120)
            rng = np.random.default_rng(3)
            for name, path in paths.items():
                m = arch_ref.Model(path)
                seqs = [rng.integers(3, arch_ref_vocab(m), size=k).tolist() for k in (1, 9, 40)]
                e = client.embeddings.create(model=name, input=seqs)
                got = [np.array(d.embedding) for d in e.data]
                refs = [ref_embedding(m, s, 64) for s in seqs]
                diff = max(float(np.max(np.abs(g - r))) for g, r in zip(got, refs))
                check(len(got) == 3 and [d.index for d in e.data] == [0, 1, 2] and diff < 2e-3,
                      "%s: 3 token-id inputs equal the NumPy reference (max |diff| %.2e, dim %d)" % (
                          name, diff, len(got[0])))
                check(abs(float(np.linalg.norm(got[1])) - 1) < 1e-5, "%s: unit length" % name)
                check(e.usage.prompt_tokens == 50, "%s: usage counts the tokens (%s)" % (name, e.usage))
                b = client.embeddings.create(model=name, input=[seqs[1]], encoding_format="base64")
                raw = b.data[0].embedding
                vec = np.frombuffer(base64.b64decode(raw), dtype="<f4") if isinstance(raw, str) else np.array(raw)
                check(np.array_equal(vec.astype(np.float32), got[1].astype(np.float32)),
                      "%s: base64 encoding gives the same floats" % name)
                # errors: longer than the context (64), ids outside the vocabulary
                h = {"Content-Type": "application/json"}
                long = list(range(3, 3 + 70))
                rr = requests.post(srv.url + "/v1/embeddings", headers=h, json={"model": name, "input": [long]})
                check(rr.status_code == 400 and rr.json()["error"]["code"] == "context_length_exceeded",
                      "%s: 70 tokens in a 64-token context -> 400 (%s)" % (name, rr.text[:160]))
                rr = requests.post(srv.url + "/v1/embeddings", headers=h,
                                   json={"model": name, "input": [long], "truncate": True})
                ok = rr.status_code == 200
                if ok:
                    want = ref_embedding(m, long[:64], 64)
                    ok = float(np.max(np.abs(np.array(rr.json()["data"][0]["embedding"]) - want))) < 2e-3
                check(ok, "%s: truncate cuts to the context (%s)" % (name, rr.status_code))
                rr = requests.post(srv.url + "/v1/embeddings", headers=h, json={"model": name, "input": [[3, 99999]]})
                check(rr.status_code == 400, "%s: token id outside the vocabulary -> 400" % name)
            # a text input goes through the model's tokenizer
            t = client.embeddings.create(model="llama", input="hello world")
            check(len(t.data) == 1 and len(t.data[0].embedding) > 0 and t.usage.prompt_tokens > 1,
                  "text input (%d tokens)" % t.usage.prompt_tokens)
            # the LLM still generates while serving embeddings
            c = client.completions.create(model="llama", prompt=[5, 6, 7], max_tokens=4, temperature=0)
            check(c.usage.completion_tokens == 4, "completions still served")
        finally:
            rc = srv.stop()
            check(rc == 0, "server exits 0 (%s)" % rc)
    print("%d failures" % len(FAILURES))
    sys.exit(1 if FAILURES else 0)


def arch_ref_vocab(m):
    return int(m.t["token_embd.weight"].shape[0])


if __name__ == "__main__":
    main()
