#!/usr/bin/env python3
"""models_vs_ort: ingot's outputs against ONNX Runtime's on the CNNs of
../shared/conformance/onnx/light (whose stored outputs only check shapes).

Each model runs in both engines on the same input (element i = i/N, and a
second seeded random input), through the real `ingot run` command; outputs must
agree within rtol 1e-3 / atol 1e-4 (float32 with fused and reordered
arithmetic). Usage: models_vs_ort.py INGOT_BINARY SHARED_DIR [--threads T]
"""
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort


def main():
    ingot, shared = sys.argv[1], sys.argv[2]
    threads = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "1"
    models = sorted(glob.glob(os.path.join(shared, "conformance", "onnx", "light", "*.onnx")))
    if not models:
        print("no models found under", shared)
        return 1
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            name = os.path.basename(model)[:-5]
            m = onnx.load(model, load_external_data=False)
            inits = {i.name for i in m.graph.initializer}
            inputs = [i for i in m.graph.input if i.name not in inits]
            so = ort.SessionOptions()
            so.intra_op_num_threads = 1
            sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
            for variant in ("ramp", "random"):
                feeds, args = {}, []
                for k, i in enumerate(inputs):
                    shape = [d.dim_value if d.dim_value > 0 else 1 for d in i.type.tensor_type.shape.dim]
                    n = int(np.prod(shape))
                    if variant == "ramp":
                        x = (np.arange(n, dtype=np.float32) / n).reshape(shape)
                    else:
                        x = np.random.default_rng(k + 7).standard_normal(shape).astype(np.float32)
                    feeds[i.name] = x
                    p = os.path.join(tmp, f"in{k}.npy")
                    np.save(p, x)
                    args += ["--input", f"{i.name}={p}"]
                out_dir = os.path.join(tmp, "out")
                r = subprocess.run([ingot, "run", model, "-t", threads, "--output-dir", out_dir] + args,
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    print(f"FAIL {name} ({variant}): ingot run failed: {r.stderr.strip()[-300:]}")
                    failed += 1
                    continue
                ref = sess.run(None, feeds)
                ok = True
                for o, want in zip(m.graph.output, ref):
                    safe = o.name.replace("/", "_").replace(":", "_")
                    got = np.load(os.path.join(out_dir, safe + ".npy"))
                    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-3, atol=1e-4):
                        err = np.max(np.abs(got.astype(np.float64) - want)) if got.shape == want.shape else "shape"
                        print(f"FAIL {name} ({variant}): output {o.name} differs from ONNX Runtime (max abs err {err})")
                        ok = False
                if ok:
                    print(f"PASS {name} ({variant})")
                else:
                    failed += 1
    print(f"{len(models) * 2 - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
