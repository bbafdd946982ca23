#!/usr/bin/env python3
"""serve_vs_llamacpp: `ingot serve` against llama.cpp's OpenAI-compatible server (the PyPI
package llama-cpp-python with its server extra), same GGUF model, same thread count, same
machine, same fixed-seed prompt set, driven by the official openai client over loopback.

llama.cpp's server runs in its own venv (bench-only, not a project requirement):

    python3 -m venv /tmp/llvenv
    CMAKE_ARGS="-DGGML_NATIVE=ON" MAKEFLAGS=-j2 /tmp/llvenv/bin/pip install "llama-cpp-python[server]" openai

Run from the repository root with build/ingot built:

    .venv/bin/python bench/serve_vs_llamacpp.py [--threads 2] [--concurrency 1,4,16] [--max-tokens 64]
        [--soak 600] [--llama-python /tmp/llvenv/bin/python] [--model PATH.gguf]

For each concurrency C both servers get the same requests (2C, at least 8; streaming
completions, temperature 0, the vocabulary's control tokens (end of text among them) banned
through logit_bias, so that every request generates max-tokens tokens on both servers),
C at a time (llama-cpp-python's server runs one request at a time and is told to queue the
others rather than interrupt the running one). Reported per server: requests/s and output tokens/s over the wall time, time
to first token and inter-token latency (p50, p99), and ratios ingot / llama.cpp for the
throughputs (above 1: ingot serves more) and llama.cpp / ingot for the latencies (above 1:
ingot answers sooner). --soak S then drives ingot alone at concurrency 16 for S seconds
and reports errors and its resident memory over time.
"""
import argparse
import concurrent.futures as cf
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import openai

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SUBJECTS = ["a lighthouse keeper", "a robot gardener", "two rival chefs", "a lost kitten", "an old sailor",
            "a young astronomer", "a dragon who hates gold", "a clockmaker", "a tiny village", "a desert caravan",
            "a mountain rescue team", "a librarian at midnight", "a fox and a crow", "a retired detective",
            "a school science fair", "a ship in a bottle"]
FORMS = ["Write a short story about %s.", "Describe a day in the life of %s.", "Tell me a fable about %s.",
         "Write a news report about %s.", "Explain to a child what happened to %s."]


def prompts(n, seed=1234):
    rng = random.Random(seed)
    return [rng.choice(FORMS) % rng.choice(SUBJECTS) for _ in range(n)]


def control_bias(model):
    """logit_bias that bans the GGUF vocabulary's control tokens (EOS, EOT, chat markers)."""
    from gguf import GGUFReader
    r = GGUFReader(model)
    f = r.fields["tokenizer.ggml.token_type"]
    types = [int(f.parts[i][0]) for i in f.data]
    return {str(i): -100 for i, t in enumerate(types) if t == 3}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_ready(client, proc, what, timeout=300):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s" % (what, proc.returncode))
        try:  # listed and answering (a listed model may still be loading)
            data = client.models.list().data
            if data and client.completions.create(model=data[0].id, prompt="Hi", max_tokens=1, temperature=0):
                return data[0].id
        except Exception:
            pass
        time.sleep(0.5)
    raise RuntimeError("%s did not become ready" % what)


def one(client, model, prompt, max_tokens, extra):
    """Stream one completion: (ttft, [inter-token gaps], tokens, error)."""
    t0 = time.perf_counter()
    try:
        s = client.completions.create(model=model, prompt=prompt, max_tokens=max_tokens, temperature=0,
                                      stream=True, extra_body=extra)
        last, ttft, gaps, n = None, None, [], 0
        for c in s:
            if not c.choices or not c.choices[0].text:
                continue
            now = time.perf_counter()
            if ttft is None:
                ttft = now - t0
            else:
                gaps.append(now - last)
            last = now
            n += 1
        return ttft, gaps, n, None
    except Exception as e:  # counted, reported
        return None, [], 0, repr(e)


def pct(v, q):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q / 100.0 * (len(v) - 1))))]


def drive(client, model, ps, conc, max_tokens, extra):
    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(conc) as ex:
        res = list(ex.map(lambda p: one(client, model, p, max_tokens, extra), ps))
    wall = time.perf_counter() - t0
    ttft = [r[0] for r in res if r[0] is not None]
    gaps = [g for r in res for g in r[1]]
    toks = sum(r[2] for r in res)
    errs = [r[3] for r in res if r[3]]
    return {"rps": len(ps) / wall, "tps": toks / wall, "ttft50": pct(ttft, 50), "ttft99": pct(ttft, 99),
            "itl50": pct(gaps, 50), "itl99": pct(gaps, 99), "errors": len(errs), "err": errs[:2], "tokens": toks}


def rss_mib(pid):
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("VmRSS:"):
                return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ingot", default=os.path.join(ROOT, "build", "ingot"))
    ap.add_argument("--llama-python", default="/tmp/llvenv/bin/python")
    ap.add_argument("--model", default="")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--soak", type=int, default=0, help="seconds of the ingot soak at concurrency 16 (0: none)")
    ap.add_argument("--skip-llama", action="store_true")
    args = ap.parse_args()
    model = args.model or subprocess.run([os.path.join(ROOT, "scripts", "model_path.sh")], check=True,
                                         capture_output=True, text=True).stdout.strip()
    levels = [int(c) for c in args.concurrency.split(",")]
    logdir = tempfile.mkdtemp(prefix="serve_vs_llamacpp_")
    servers = []
    port = free_port()
    ing = subprocess.Popen([args.ingot, "serve", "--model", model + ":m", "--port", str(port), "--threads",
                            str(args.threads), "--max-seqs", str(max(levels + [16])), "--ctx", str(args.ctx)],
                           stdout=open(os.path.join(logdir, "ingot.log"), "w"), stderr=subprocess.STDOUT)
    bias = {"logit_bias": control_bias(model)}
    servers.append(("ingot", ing, port, bias))
    if not args.skip_llama:
        lport = free_port()
        ll = subprocess.Popen([args.llama_python, "-m", "llama_cpp.server", "--model", model, "--model_alias", "m",
                               "--host", "127.0.0.1", "--port", str(lport), "--n_threads", str(args.threads),
                               "--n_threads_batch", str(args.threads), "--n_ctx", str(args.ctx),
                               "--interrupt_requests", "False"],  # queue, do not cut running streams
                              stdout=open(os.path.join(logdir, "llama.log"), "w"), stderr=subprocess.STDOUT)
        servers.append(("llama.cpp", ll, lport, bias))
    results = {}
    try:
        for name, proc, p, extra in servers:
            client = openai.OpenAI(base_url="http://127.0.0.1:%d/v1" % p, api_key="none", max_retries=0, timeout=900)
            mid = wait_ready(client, proc, name)
            drive(client, mid, prompts(2, seed=1), 1, 8, extra)  # warm-up
            for c in levels:
                ps = prompts(max(2 * c, 8))
                r = drive(client, mid, ps, c, args.max_tokens, extra)
                r["rss"] = rss_mib(proc.pid)
                results[(name, c)] = r
                print("  %s c=%d: %.2f req/s, %.1f tok/s, ttft p50 %.3fs p99 %.3fs, itl p50 %.1fms p99 %.1fms, "
                      "errors %d %s, RSS %.0f MiB" % (name, c, r["rps"], r["tps"], r["ttft50"], r["ttft99"],
                                                     1e3 * r["itl50"], 1e3 * r["itl99"], r["errors"], r["err"],
                                                     r["rss"]), file=sys.stderr, flush=True)
            if name == "llama.cpp":
                proc.terminate()
        print("\nmodel %s, %d threads, completions of %d tokens, temperature 0" % (os.path.basename(model),
                                                                                  args.threads, args.max_tokens))
        print("\n| concurrency | server | req/s | output tok/s | TTFT p50 s | TTFT p99 s | ITL p50 ms | ITL p99 ms "
              "| errors |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
        for c in levels:
            for name, _, _, _ in servers:
                r = results[(name, c)]
                print("| %d | %s | %.2f | %.1f | %.3f | %.3f | %.1f | %.1f | %d |" % (
                    c, name, r["rps"], r["tps"], r["ttft50"], r["ttft99"], 1e3 * r["itl50"], 1e3 * r["itl99"],
                    r["errors"]))
        if len(servers) > 1:
            print("\n| concurrency | req/s ingot/llama.cpp | tok/s ingot/llama.cpp | TTFT p50 llama.cpp/ingot "
                  "| ITL p50 llama.cpp/ingot | ITL p99 llama.cpp/ingot |")
            print("|---:|---:|---:|---:|---:|---:|")
            for c in levels:
                a, b = results[("ingot", c)], results[("llama.cpp", c)]
                print("| %d | %.2f | %.2f | %.2f | %.2f | %.2f |" % (c, a["rps"] / b["rps"], a["tps"] / b["tps"],
                                                                   b["ttft50"] / a["ttft50"], b["itl50"] / a["itl50"],
                                                                   b["itl99"] / a["itl99"]))
        if args.soak > 0:
            client = openai.OpenAI(base_url="http://127.0.0.1:%d/v1" % port, api_key="none", max_retries=0,
                                   timeout=900)
            stop = time.time() + args.soak
            counts = {"ok": 0, "err": 0, "tokens": 0}
            lock = threading.Lock()
            errs = []

            def worker(i):
                k = 0
                while time.time() < stop:
                    p = prompts(1, seed=1000 * i + k)[0]
                    k += 1
                    _, _, n, e = one(client, "m", p, args.max_tokens, bias)
                    with lock:
                        counts["tokens"] += n
                        if e:
                            counts["err"] += 1
                            errs.append(e)
                        else:
                            counts["ok"] += 1

            samples = [(0.0, rss_mib(ing.pid))]
            t0 = time.time()
            ths = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
            for t in ths:
                t.start()
            while any(t.is_alive() for t in ths):
                time.sleep(min(30, max(1, stop - time.time())))
                samples.append((time.time() - t0, rss_mib(ing.pid)))
            for t in ths:
                t.join()
            print("\nsoak: ingot serve, concurrency 16, %d s: %d requests ok, %d errors %s, %d tokens (%.1f tok/s)" % (
                args.soak, counts["ok"], counts["err"], errs[:3], counts["tokens"], counts["tokens"] / args.soak))
            print("RSS MiB over time: " + ", ".join("%ds %.0f" % (t, r) for t, r in samples))
    finally:
        for _, proc, _, _ in servers:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    main()
