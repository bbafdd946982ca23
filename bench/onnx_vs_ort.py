#!/usr/bin/env python3
"""onnx_vs_ort: ingot against ONNX Runtime on real ONNX models, same machine, same run.

For every model folder in ../shared/models/onnx (and, with --light, the CNNs of
../shared/conformance/onnx/light), both engines run the same inputs (the test
data set, or i/N ramps for the light models) at each thread count, ONNX Runtime
with intra-op threads = T, sequential execution and all graph optimizations.
Prints median latency per engine and the ratio ingot/ORT (below 1.0: ingot is
faster) and the geometric mean of the ratios. Usage:

    .venv/bin/python bench/onnx_vs_ort.py [--threads 1,2] [--iters N] [--light] [--markdown]
"""
import argparse
import glob
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")


def real_models():
    for d in sorted(glob.glob(os.path.join(SHARED, "models", "onnx", "test_*"))):
        model = os.path.join(d, "model.onnx")
        m = onnx.load(model, load_external_data=False)
        inits = {i.name for i in m.graph.initializer}
        names = [i.name for i in m.graph.input if i.name not in inits]
        feeds = {}
        for k, name in enumerate(names):
            t = onnx.TensorProto()
            with open(os.path.join(d, "test_data_set_0", f"input_{k}.pb"), "rb") as f:
                t.ParseFromString(f.read())
            feeds[name] = numpy_helper.to_array(t)
        yield os.path.basename(d)[5:], model, feeds


def light_models():
    for model in sorted(glob.glob(os.path.join(SHARED, "conformance", "onnx", "light", "*.onnx"))):
        m = onnx.load(model, load_external_data=False)
        inits = {i.name for i in m.graph.initializer}
        feeds = {}
        for i in m.graph.input:
            if i.name in inits:
                continue
            shape = [d.dim_value if d.dim_value > 0 else 1 for d in i.type.tensor_type.shape.dim]
            n = int(np.prod(shape))
            feeds[i.name] = (np.arange(n, dtype=np.float32) / n).reshape(shape)
        yield os.path.basename(model)[:-5], model, feeds


def ort_median(model, feeds, threads, iters, warmup):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    for _ in range(warmup):
        sess.run(None, feeds)
    lat = []
    for _ in range(iters):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        lat.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(lat)


def ingot_median(ingot, model, feeds, threads, iters, warmup, tmp):
    args = [ingot, "bench", model, "-t", str(threads), "--iters", str(iters), "--warmup", str(warmup), "--json"]
    for name, arr in feeds.items():
        path = os.path.join(tmp, name.replace("/", "_").replace(":", "_") + ".npy")
        np.save(path, arr)
        args += ["--input", f"{name}={path}"]
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        return None, out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"
    return json.loads(out.stdout.strip().splitlines()[-1])["median_ms"], None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--light", action="store_true", help="also the CNNs of conformance/onnx/light")
    ap.add_argument("--ingot", default=os.path.join(ROOT, "build", "ingot"))
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    threads = [int(t) for t in a.threads.split(",")]
    models = list(real_models()) + (list(light_models()) if a.light else [])
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    print(f"# machine: {cpu}, {os.cpu_count()} CPUs, {platform.system()}; onnxruntime {ort.__version__}")
    sep = "|" if a.markdown else " "
    hdr = ["model", "threads", "ORT ms", "ingot ms", "ingot/ORT"]
    if a.markdown:
        print("| " + " | ".join(hdr) + " |")
        print("|" + "---|" * len(hdr))
    else:
        print(f"{'model':<28} {'threads':>7} {'ORT ms':>10} {'ingot ms':>10} {'ingot/ORT':>10}")
    ratios = {t: [] for t in threads}
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, feeds in models:
            for t in threads:
                o = ort_median(model, feeds, t, a.iters, a.warmup)
                i, err = ingot_median(a.ingot, model, feeds, t, a.iters, a.warmup, tmp)
                r = i / o if i else None
                if r:
                    ratios[t].append(r)
                cells = [name, str(t), f"{o:.3f}", f"{i:.3f}" if i else "n/a", f"{r:.2f}" if r else f"({err[:60]})"]
                if a.markdown:
                    print("| " + " | ".join(cells) + " |")
                else:
                    print(f"{cells[0]:<28} {cells[1]:>7} {cells[2]:>10} {cells[3]:>10} {cells[4]:>10}")
                sys.stdout.flush()
    for t in threads:
        if ratios[t]:
            g = math.exp(sum(math.log(r) for r in ratios[t]) / len(ratios[t]))
            print(f"geomean ingot/ORT at {t} thread(s): {g:.2f} over {len(ratios[t])} models")


if __name__ == "__main__":
    main()
