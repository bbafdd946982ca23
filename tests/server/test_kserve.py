#!/usr/bin/env python3
"""test_kserve: `ingot serve` as a KServe Open Inference Protocol v2 server,
driven by real clients (tritonclient[http] and requests) on loopback.

Starts the server on a free port with the real ONNX models of
SHARED/models/onnx (blazeface, ppocr cls) and a models dir holding a tiny
dynamic-batch model built here (MatMul + Add over a [-1, 4] input), then checks:
inference through tritonclient with and without binary tensor data (outputs
equal to `ingot run`'s and within data.json of the stored ONNX Runtime outputs),
metadata, health and readiness, 16 concurrent requests stacked by the dynamic
batcher (all correct, /metrics shows runs of more than one request), error
statuses (400 malformed JSON / invalid UTF-8 / wrong shape / wrong dtype, 404
unknown model or version, 413 body over the limit, 401 missing or wrong API
key), repository index/load/unload, and a clean exit (0) on SIGTERM.

Usage: test_kserve.py INGOT_BINARY SHARED_DIR
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import requests
import tritonclient.http as httpclient
from onnx import TensorProto, helper, numpy_helper

API_KEY = "test-key-123"
# Always pass copies: tritonclient's infer() writes Inference-Header-Content-Length into the dict it is given.
AUTH = {"Authorization": "Bearer " + API_KEY}
THREADS = "2"
FAILURES = []


def check(cond, what):
    print(("PASS " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


def load_pb(path):
    t = TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def build_dyn_model(path):
    """Y = X @ W + B with X: [-1, 4] float32 (dynamic batch)."""
    w = (np.arange(12, dtype=np.float32).reshape(4, 3) - 5.0) / 7.0
    b = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["XW"]), helper.make_node("Add", ["XW", "B"], ["Y"])],
        "dyn",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(model, path)
    return w, b


def ingot_run(ingot, model, inputs, tmp):
    args = [ingot, "run", model, "-t", THREADS, "--output-dir", os.path.join(tmp, "run_out")]
    for name, x in inputs.items():
        p = os.path.join(tmp, "in_%d.npy" % len(args))
        np.save(p, x)
        args += ["--input", "%s=%s" % (name, p)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("ingot run failed: " + r.stderr[-500:])
    return os.path.join(tmp, "run_out")


def start_server(ingot, shared, models_dir, log_path):
    onnx_dir = os.path.join(shared, "models", "onnx")
    cmd = [ingot, "serve", "--port", "0", "--threads", THREADS, "--api-key", API_KEY,
           "--model", os.path.join(onnx_dir, "test_blazeface_front", "model.onnx") + ":blazeface",
           "--model", os.path.join(onnx_dir, "test_ppocr_cls_mobile_v2", "model.onnx") + ":ppocr",
           "--models-dir", models_dir, "--max-batch", "8", "--max-queue-delay-us", "1000",
           "--max-body-bytes", str(4 << 20), "--log-format", "json"]
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    port = None
    deadline = time.time() + 30
    while time.time() < deadline and port is None:
        if proc.poll() is not None:
            raise RuntimeError("server exited early:\n" + open(log_path).read())
        m = re.search(r"listening on http://[^:]+:(\d+)", open(log_path).read())
        if m:
            port = int(m.group(1))
        time.sleep(0.05)
    if port is None:
        proc.kill()
        raise RuntimeError("server did not report its port:\n" + open(log_path).read())
    base = "http://127.0.0.1:%d" % port
    while time.time() < deadline:
        try:
            if requests.get(base + "/health", timeout=2).status_code == 200:
                return proc, port, base
        except requests.RequestException:
            pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server never became healthy:\n" + open(log_path).read())


def tolerance(model_dir):
    p = os.path.join(model_dir, "data.json")
    d = json.load(open(p)) if os.path.exists(p) else {}
    return d.get("rtol", 1e-3), d.get("atol", 1e-7)


def test_real_model(client, ingot, shared, tmp, name, folder):
    mdir = os.path.join(shared, "models", "onnx", folder)
    model_path = os.path.join(mdir, "model.onnx")
    m = onnx.load(model_path, load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    in_names = [i.name for i in m.graph.input if i.name not in inits]
    out_names = [o.name for o in m.graph.output]
    ds = os.path.join(mdir, "test_data_set_0")
    xs = {n: load_pb(os.path.join(ds, "input_%d.pb" % k)) for k, n in enumerate(in_names)}
    refs = [load_pb(os.path.join(ds, "output_%d.pb" % k)) for k in range(len(out_names))]
    run_dir = ingot_run(ingot, model_path, xs, tmp)
    runs = [np.load(os.path.join(run_dir, o.replace("/", "_").replace(":", "_") + ".npy")) for o in out_names]
    rtol, atol = tolerance(mdir)
    for binary in (True, False):
        inputs = []
        for n, x in xs.items():
            i = httpclient.InferInput(n, list(x.shape), "FP32")
            i.set_data_from_numpy(x, binary_data=binary)
            inputs.append(i)
        outputs = [httpclient.InferRequestedOutput(o, binary_data=binary) for o in out_names]
        res = client.infer(name, inputs, outputs=outputs, headers=dict(AUTH))
        for o, ref, run in zip(out_names, refs, runs):
            got = res.as_numpy(o)
            ok = got is not None and got.shape == run.shape and np.allclose(got, run, rtol=1e-5, atol=1e-6)
            check(ok, "%s (%s): output %s equals `ingot run`" % (name, "binary" if binary else "json", o))
            ok = got is not None and got.shape == ref.shape and np.allclose(got, ref, rtol=rtol, atol=atol)
            check(ok, "%s (%s): output %s matches ONNX Runtime's within data.json" % (name, "binary" if binary else "json", o))
    # No outputs named: all outputs come back, in binary (binary_data_output).
    inputs = []
    for n, x in xs.items():
        i = httpclient.InferInput(n, list(x.shape), "FP32")
        i.set_data_from_numpy(x)
        inputs.append(i)
    res = client.infer(name, inputs, headers=dict(AUTH))
    check(all(res.as_numpy(o) is not None for o in out_names), "%s: all outputs returned when none are named" % name)
    # Output filtering: only the first output.
    res = client.infer(name, inputs, outputs=[httpclient.InferRequestedOutput(out_names[0])], headers=dict(AUTH))
    names = [o["name"] for o in res.get_response()["outputs"]]
    check(names == [out_names[0]], "%s: outputs filtered by the request" % name)


def metric(text, name, labels):
    for line in text.splitlines():
        if line.startswith(name + "{") and all(l in line for l in labels):
            return float(line.rsplit(" ", 1)[1])
    return None


def main():
    ingot, shared = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    tmp = tempfile.mkdtemp(prefix="ingot_kserve_")
    proc = None
    try:
        models_dir = os.path.join(tmp, "models")
        w, b = build_dyn_model(os.path.join(models_dir, "dyn", "model.onnx"))
        json.dump({"max_batch": 8, "max_queue_delay_us": 20000}, open(os.path.join(models_dir, "dyn", "config.json"), "w"))
        build_dyn_model(os.path.join(models_dir, "dyn2", "model.onnx"))
        build_dyn_model(os.path.join(models_dir, "dynq", "model.onnx"))
        json.dump({"max_batch": 8, "max_queue_delay_us": 300000, "max_queue": 1},
                  open(os.path.join(models_dir, "dynq", "config.json"), "w"))
        proc, port, base = start_server(ingot, shared, models_dir, os.path.join(tmp, "server.log"))
        client = httpclient.InferenceServerClient(url="127.0.0.1:%d" % port, concurrency=16)
        s = requests.Session()

        # Health, metadata, readiness.
        check(client.is_server_live(), "server live")
        check(client.is_server_ready(), "server ready")
        check(client.is_model_ready("blazeface", headers=dict(AUTH)), "model ready")
        check(not client.is_model_ready("nope", headers=dict(AUTH)), "unknown model not ready")
        meta = client.get_server_metadata(headers=dict(AUTH))
        check(meta.get("name") == "ingot" and "binary_tensor_data" in meta.get("extensions", []), "server metadata")
        md = client.get_model_metadata("ppocr", headers=dict(AUTH))
        check(md["name"] == "ppocr" and md["versions"] == ["1"] and md["inputs"][0]["datatype"] == "FP32"
              and md["inputs"][0]["shape"][0] == -1 and md["inputs"][0]["shape"][1] == 3, "model metadata (dynamic dims are -1)")
        md = client.get_model_metadata("blazeface", model_version="1", headers=dict(AUTH))
        check(md["inputs"][0]["shape"] == [1, 128, 128, 3] and len(md["outputs"]) == 4, "model metadata by version")
        r = s.get(base + "/v2/models/blazeface/versions/7", headers=dict(AUTH))
        check(r.status_code == 404 and "error" in r.json(), "unknown version -> 404")
        r = s.get(base + "/v2/models/blazeface/versions/1/ready", headers=dict(AUTH))
        check(r.status_code == 200 and r.json()["ready"] is True, "versioned model ready")

        # Real models through tritonclient, binary and JSON.
        test_real_model(client, ingot, shared, tmp, "blazeface", "test_blazeface_front")
        test_real_model(client, ingot, shared, tmp, "ppocr", "test_ppocr_cls_mobile_v2")

        # Dynamic batching: 16 concurrent requests.
        rng = np.random.default_rng(1)
        xs = [rng.standard_normal((1 + (k % 3 == 0), 4)).astype(np.float32) for k in range(16)]

        def one(x):
            i = httpclient.InferInput("X", list(x.shape), "FP32")
            i.set_data_from_numpy(x, binary_data=True)
            return client.infer("dyn", [i], headers=dict(AUTH)).as_numpy("Y")

        # tritonclient.http is gevent-based: concurrency comes from async_infer
        # over its 16-connection pool, not from Python threads.
        pending = []
        for x in xs:
            i = httpclient.InferInput("X", list(x.shape), "FP32")
            i.set_data_from_numpy(x, binary_data=True)
            pending.append(client.async_infer("dyn", [i], headers=dict(AUTH)))
        ys = [p.get_result().as_numpy("Y") for p in pending]
        ok = all(y is not None and y.shape == (x.shape[0], 3) and np.allclose(y, x @ w + b, rtol=1e-5, atol=1e-5)
                 for x, y in zip(xs, ys))
        check(ok, "16 concurrent requests to the dynamic-batch model are all correct")
        text = s.get(base + "/metrics", headers=dict(AUTH)).text
        lab = ['model="dyn"']
        execs = metric(text, "ingot_inference_exec_count_total", lab)
        succ = metric(text, "ingot_inference_request_success_total", lab)
        le1 = metric(text, "ingot_inference_batch_size_bucket", lab + ['le="1"'])
        nb = metric(text, "ingot_inference_batch_size_count", lab)
        print("  dyn: %s requests in %s runs; runs of one request: %s of %s" % (succ, execs, le1, nb))
        check(succ == 16 and execs is not None and execs < succ and le1 is not None and le1 < nb,
              "/metrics shows batches larger than 1")
        check(metric(text, "ingot_inference_count_total", lab) == sum(x.shape[0] for x in xs),
              "/metrics inference count counts batch rows")
        check("ingot_inference_queue_seconds_bucket" in text and "ingot_http_requests_in_flight" in text,
              "/metrics has queue histograms and requests in flight")
        # A request whose other dims differ is not stacked (and fails its own shape check).
        r = s.post(base + "/v2/models/dyn/infer", headers=AUTH,
                   json={"inputs": [{"name": "X", "shape": [2, 2, 2], "datatype": "FP32", "data": [1] * 8}]})
        check(r.status_code == 400 and "shape" in r.json()["error"], "wrong rank -> 400")

        # Queue full: dynq holds a request up to 300 ms waiting for company and queues at most one.
        def post_dynq():
            return requests.post(base + "/v2/models/dynq/infer", headers=AUTH, timeout=30,
                                 json={"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]})
        import threading
        results = []
        ts = [threading.Thread(target=lambda: results.append(post_dynq())) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        codes = sorted(r.status_code for r in results)
        full = [r for r in results if r.status_code == 429]
        check(200 in codes and full and all(r.headers.get("Retry-After") and "error" in r.json() for r in full),
              "bounded queue: 429 with Retry-After when full (statuses %s)" % codes)

        # JSON tensors by hand: nested data, request id, FP32 outputs as JSON.
        r = s.post(base + "/v2/models/dyn/infer", headers=AUTH,
                   json={"id": "abc", "inputs": [{"name": "X", "shape": [2, 4], "datatype": "FP32",
                                                  "data": [[1, 2, 3, 4], [0.5, 0, -1, 2]]}]})
        ok = r.status_code == 200 and r.json()["id"] == "abc"
        if ok:
            out = r.json()["outputs"][0]
            want = np.array([[1, 2, 3, 4], [0.5, 0, -1, 2]], np.float32) @ w + b
            ok = out["shape"] == [2, 3] and out["datatype"] == "FP32" and np.allclose(np.array(out["data"]).reshape(2, 3), want, atol=1e-5)
        check(ok, "JSON request with nested data and an id")

        # Errors.
        r = s.post(base + "/v2/models/dyn/infer", headers=AUTH, data=b'{"inputs": [')
        check(r.status_code == 400 and "error" in r.json(), "malformed JSON -> 400 with a JSON error")
        r = s.post(base + "/v2/models/dyn/infer", headers=AUTH, data=b'{"id": "\xff\xfe", "inputs": []}')
        check(r.status_code == 400 and "error" in r.json(), "invalid UTF-8 -> 400")
        r = s.post(base + "/v2/models/nope/infer", headers=AUTH,
                   json={"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]})
        check(r.status_code == 404 and "nope" in r.json()["error"], "unknown model -> 404")
        r = s.post(base + "/v2/models/dyn/versions/9/infer", headers=AUTH,
                   json={"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]})
        check(r.status_code == 404, "unknown version -> 404 on infer")
        r = s.post(base + "/v2/models/dyn/infer", headers=AUTH,
                   json={"inputs": [{"name": "X", "shape": [1, 5], "datatype": "FP32", "data": [1, 2, 3, 4, 5]}]})
        check(r.status_code == 400 and "shape" in r.json()["error"], "wrong shape -> 400")
        r = s.post(base + "/v2/models/dyn/infer", headers=AUTH,
                   json={"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3]}]})
        check(r.status_code == 400, "data count not matching shape -> 400")
        r = s.post(base + "/v2/models/dyn/infer", headers=AUTH,
                   json={"inputs": [{"name": "X", "shape": [1, 4], "datatype": "INT64", "data": [1, 2, 3, 4]}]})
        check(r.status_code == 400 and "datatype" in r.json()["error"], "wrong datatype -> 400")
        r = s.post(base + "/v2/models/dyn/infer", headers=AUTH,
                   json={"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}],
                         "outputs": [{"name": "nope"}]})
        check(r.status_code == 400, "unknown output -> 400")
        r = s.post(base + "/v2/models/dyn/infer", headers=AUTH, data=b"x" * (5 << 20))
        check(r.status_code == 413 and "error" in r.json(), "body over the limit -> 413")
        r = s.post(base + "/v2/models/dyn/infer",
                   json={"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]})
        check(r.status_code == 401 and "error" in r.json(), "missing API key -> 401")
        r = s.get(base + "/v2/models/dyn", headers={"Authorization": "Bearer wrong"})
        check(r.status_code == 401 and "error" in r.json(), "wrong API key -> 401")
        r = s.get(base + "/v2/health/ready")
        check(r.status_code == 200, "health probes need no API key")
        # Binary extension errors: header length past the body, sizes not matching.
        hdr = json.dumps({"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32",
                                      "parameters": {"binary_data_size": 16}}]}).encode()
        r = s.post(base + "/v2/models/dyn/infer", headers=dict(AUTH, **{"Inference-Header-Content-Length": "99999"}),
                   data=hdr + b"\0" * 16)
        check(r.status_code == 400, "Inference-Header-Content-Length past the body -> 400")
        r = s.post(base + "/v2/models/dyn/infer", headers=dict(AUTH, **{"Inference-Header-Content-Length": str(len(hdr))}),
                   data=hdr + b"\0" * 12)
        check(r.status_code == 400, "binary data shorter than binary_data_size -> 400")
        r = s.post(base + "/v2/models/dyn/infer", headers=dict(AUTH, **{"Inference-Header-Content-Length": str(len(hdr))}),
                   data=hdr + np.ones((1, 4), np.float32).tobytes())
        ok = r.status_code == 200 and np.allclose(np.array(r.json()["outputs"][0]["data"]), (np.ones((1, 4)) @ w + b).ravel(), atol=1e-5)
        check(ok, "binary input, JSON output by hand")
        check(proc.poll() is None, "server still running after the bad requests")

        # Repository: index, unload, load; other models keep serving.
        idx = s.post(base + "/v2/repository/index", headers=dict(AUTH)).json()
        states = {e["name"]: e["state"] for e in idx}
        check(states.get("dyn") == "READY" and states.get("dyn2") == "READY" and states.get("ppocr") == "READY"
              and states.get("dynq") == "READY",
              "repository index lists the models as READY")
        client.unload_model("dyn2", headers=dict(AUTH))
        check(not client.is_model_ready("dyn2", headers=dict(AUTH)), "unloaded model is not ready")
        r = s.post(base + "/v2/models/dyn2/infer", headers=AUTH,
                   json={"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]})
        check(r.status_code == 404, "infer on an unloaded model -> 404")
        idx = s.post(base + "/v2/repository/index", headers=AUTH, json={"ready": True}).json()
        check("dyn2" not in [e["name"] for e in idx], "index with ready=true omits the unloaded model")
        check(one(xs[0]) is not None, "other models serve while one is unloaded")
        client.load_model("dyn2", headers=dict(AUTH))
        check(client.is_model_ready("dyn2", headers=dict(AUTH)), "model loaded again through the repository API")
        r = s.post(base + "/v2/models/dyn2/infer", headers=AUTH,
                   json={"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]})
        check(r.status_code == 200, "reloaded model serves")
        r = s.post(base + "/v2/repository/models/..%2Fetc/load", headers=dict(AUTH))
        check(r.status_code in (400, 404), "model names cannot escape the models dir")
        r = s.post(base + "/v2/repository/models/missing/load", headers=dict(AUTH))
        check(r.status_code == 404, "loading an unknown model -> 404")

        # Graceful shutdown.
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = "timeout"
        check(rc == 0, "SIGTERM shuts the server down cleanly (exit 0, got %s)" % rc)
        log = open(os.path.join(tmp, "server.log")).read()
        check('"status":200' in log and '"path":"/v2/models/dyn/infer"' in log, "JSON access log lines")
        proc = None
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        log_path = os.path.join(tmp, "server.log")
        if (proc is not None or FAILURES) and os.path.exists(log_path):
            print("---- server log (tail) ----")
            print(open(log_path, errors="replace").read()[-4000:])
        shutil.rmtree(tmp, ignore_errors=True)
    print("%s: %d failures" % ("FAILED" if FAILURES else "OK", len(FAILURES)))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
