#!/usr/bin/env python3
"""serve_throughput: generation throughput of `ingot serve` with 1 stream and with N
concurrent streams (continuous batching), on stories260K (converted) and the default
SmolLM2, through the official openai client, the standard library's HTTP client or wrk (the
client shares the machine's cores with the server: the lighter it is, the less it takes from
the server). Each stream sends requests one after another for a fixed time (a closed loop, as
a load generator keeps N requests in flight). The levels run interleaved, one after another, REPS times, and
each round's ratio is taken against that round's one-stream run: the machine's speed drifts
(a shared VM), and adjacent runs see the same drift. Prints the median output tokens/s per
level and the median (min - max) of the rounds' ratios to one stream. Usage (after
scripts/setup.sh and a build):

    .venv/bin/python bench/serve_throughput.py [--ingot build/ingot] [--threads 2] [--streams 1,8,16]
                                               [--client openai|http|wrk] [--seconds 3] [--reps 5]
                                               [--models stories260k,smollm2]
"""
import argparse
import concurrent.futures as cf
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import openai
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


LOCAL = threading.local()


def raw_completion(port, name, prompt, max_tokens, seed):
    """The same request through the standard library's HTTP client (one keep-alive connection
    per thread): a client that costs the shared cores far less CPU than the openai package."""
    conns = LOCAL.__dict__.setdefault("conns", {})
    if port not in conns:
        conns[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c = conns[port]
    body = json.dumps({"model": name, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0.8,
                       "seed": seed, "ignore_eos": True})
    c.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    data = json.loads(r.read())
    if r.status != 200:
        raise RuntimeError("HTTP %d: %s" % (r.status, data))
    return data["usage"]["completion_tokens"]


WRK_LUA = r"""
local prompts = {"Once upon a time", "The little dog", "One day, a girl named", "Tom and Sam went",
                 "The sun was", "In a small town", "The cat saw", "Mom said"}
counter, tokens, bad = 0, 0, 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function request()
    counter = counter + 1
    local body = string.format('{"model":"%s","prompt":"%s","max_tokens":%d,"temperature":0.8,"seed":%d,"ignore_eos":true}',
                               MODEL, prompts[counter % #prompts + 1], MAX_TOKENS, counter)
    return wrk.format("POST", "/v1/completions", {["Content-Type"] = "application/json"}, body)
end
function response(status, headers, body)
    local n = string.match(body, '"completion_tokens":%s*(%d+)')
    if status ~= 200 or not n then bad = bad + 1 else tokens = tokens + tonumber(n) end
end
function done(summary, latency, requests)
    local t, b = 0, 0
    for _, th in ipairs(threads) do t = t + th:get("tokens"); b = b + th:get("bad") end
    io.write(string.format("TOKENS %d BAD %d US %d\n", t, b, summary.duration))
end
"""


def metric(port, name):
    """the sum of a /metrics series over its labels"""
    text = requests.get("http://127.0.0.1:%d/metrics" % port, timeout=10).text
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith(name + "{"))


def generated(port):
    """the server's count of generated tokens, once the requests of a previous run (which wrk
    left behind when it stopped: the server drops them as it notices) are gone"""
    for _ in range(200):
        if metric(port, "ingot_llm_requests_running") + metric(port, "ingot_llm_requests_waiting") == 0:
            break
        time.sleep(0.05)
    return metric(port, "ingot_llm_generation_tokens_total")


def wrk_level(port, name, max_tokens, n, seconds, lua):
    """n connections of wrk (one thread: a C client that takes little of the shared cores) in
    a closed loop for `seconds`: tokens the server generated per second meanwhile (/metrics:
    the requests still running at the end count for what they generated; wrk itself counts
    only completed ones)"""
    before = generated(port)
    out = subprocess.run(["wrk", "-t1", "-c%d" % n, "-d%ds" % max(1, round(seconds)), "--timeout", "60s", "-s", lua,
                          "http://127.0.0.1:%d/v1/completions" % port], capture_output=True, text=True,
                         env=dict(os.environ, MODEL=name, MAX_TOKENS=str(max_tokens)), check=True).stdout
    after = metric(port, "ingot_llm_generation_tokens_total")
    _, bad, us = (int(x) for x in out.split("TOKENS")[1].split()[0::2][:3])
    if bad:
        raise RuntimeError("wrk: %d failed requests" % bad)
    return (after - before) / (us / 1e6)


def run(ingot, model, name, threads, streams, max_tokens, ctx, client_kind, seconds, reps):
    port = free_port()
    srv = subprocess.Popen([ingot, "serve", "--model", model + ":" + name, "--port", str(port), "--threads",
                            str(threads), "--max-seqs", str(max(streams)), "--ctx", str(ctx)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = openai.OpenAI(base_url="http://127.0.0.1:%d/v1" % port, api_key="none", max_retries=0, timeout=600)
    for _ in range(300):  # /health is 200 once every model is loaded
        try:
            if requests.get("http://127.0.0.1:%d/health" % port, timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(0.1)
    prompts = ["Once upon a time", "The little dog", "One day, a girl named", "Tom and Sam went",
               "The sun was", "In a small town", "The cat saw", "Mom said"]
    counter = iter(range(1 << 60))
    lock = threading.Lock()

    def one(i):
        if client_kind == "http":
            return raw_completion(port, name, prompts[i % len(prompts)], max_tokens, i)
        r = client.completions.create(model=name, prompt=prompts[i % len(prompts)], max_tokens=max_tokens,
                                      temperature=0.8, seed=i, extra_body={"ignore_eos": True})
        return r.usage.completion_tokens

    lua = None
    if client_kind == "wrk":
        lua = os.path.join(tempfile.mkdtemp(), "serve.lua")
        with open(lua, "w") as f:
            f.write(WRK_LUA.replace("MODEL", 'os.getenv("MODEL")').replace("MAX_TOKENS", 'tonumber(os.getenv("MAX_TOKENS"))'))

    def level(n, dur):
        """n streams in a closed loop for dur seconds: output tokens per second until the
        last request in flight at the deadline is done"""
        if lua:
            return wrk_level(port, name, max_tokens, n, dur, lua)
        deadline = time.perf_counter() + dur

        def stream(_):
            toks = 0
            while time.perf_counter() < deadline:
                with lock:
                    i = next(counter)
                toks += one(i)
            return toks, time.perf_counter()
        t0 = time.perf_counter()
        with cf.ThreadPoolExecutor(n) as ex:
            res = list(ex.map(stream, range(n)))
        return sum(r[0] for r in res) / (max(r[1] for r in res) - t0)

    tps = {n: [] for n in streams}
    try:
        one(0)
        level(max(streams), 1.0)  # warm-up: every slot and the pool's threads
        for _ in range(reps):
            for n in streams:
                tps[n].append(level(n, seconds))
    finally:
        srv.terminate()
        srv.wait(timeout=60)
    rows = []
    for n in streams:
        ratios = [a / b for a, b in zip(tps[n], tps[streams[0]])]
        rows.append((n, statistics.median(tps[n]), statistics.median(ratios), min(ratios), max(ratios)))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ingot", default=os.path.join(ROOT, "build", "ingot"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--streams", default="1,8,16")
    ap.add_argument("--models", default="stories260k,smollm2", help="which of stories260k, smollm2 to run")
    ap.add_argument("--seconds", type=float, default=3.0, help="length of one run of one level")
    ap.add_argument("--reps", type=int, default=5, help="rounds of the levels, interleaved")
    ap.add_argument("--client", default="openai", choices=["openai", "http", "wrk"],
                    help="openai: the official client; http: the standard library's http.client (less CPU "
                         "taken from the cores the server shares); wrk: the C load generator (Debian package "
                         "wrk, from scripts/setup.sh), the least")
    a = ap.parse_args()
    streams = [int(s) for s in a.streams.split(",")]
    models = []
    with tempfile.TemporaryDirectory() as tmp:
        s260k = os.path.join(tmp, "s260k.gguf")
        subprocess.run([a.ingot, "convert", "--from", "llama2c", os.path.join(SHARED, "models/llm/stories260K.bin"),
                        "--tokenizer", os.path.join(SHARED, "models/llm/tok512.bin"), "-o", s260k],
                       check=True, capture_output=True)
        if "stories260k" in a.models.split(","):
            models.append(("stories260K F32", s260k, "s260k", 256, 512))
        r = subprocess.run(["sh", os.path.join(ROOT, "scripts/model_path.sh")], capture_output=True, text=True)
        if r.returncode == 0 and "smollm2" in a.models.split(","):
            models.append(("SmolLM2-135M Q4_1", r.stdout.strip(), "smollm2", 64, 1024))
        print("| model | threads | streams | output tok/s (median) | vs %d stream%s (median) | min - max |"
              % (streams[0], "" if streams[0] == 1 else "s"))
        print("|---|---:|---:|---:|---:|---|")
        for label, path, name, max_tokens, ctx in models:
            for n, tps, ratio, lo, hi in run(a.ingot, path, name, a.threads, streams, max_tokens, ctx, a.client,
                                              a.seconds, a.reps):
                print("| %s | %d | %d | %.0f | %.2fx | %.2f - %.2f |" % (label, a.threads, n, tps, ratio, lo, hi))
                sys.stdout.flush()


if __name__ == "__main__":
    main()
