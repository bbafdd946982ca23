#!/bin/sh
# run.sh: sets up the machine, builds ingot and runs its main job on the default
# model. Until `ingot serve` lands (the server issue), the main job is running a
# real ONNX model: MediaPipe BlazeFace from ../shared/models/onnx, once with its
# test input (printing the outputs) and then as a latency benchmark.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
MODEL=${MODEL:-../shared/models/onnx/test_blazeface_front}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
.venv/bin/python - "$MODEL" "$TMP" <<'PY'
import sys, onnx
from onnx import numpy_helper
import numpy as np
d, tmp = sys.argv[1], sys.argv[2]
m = onnx.load(d + "/model.onnx", load_external_data=False)
inits = {i.name for i in m.graph.initializer}
names = [i.name for i in m.graph.input if i.name not in inits]
with open(tmp + "/args", "w") as out:
    for k, n in enumerate(names):
        t = onnx.TensorProto()
        t.ParseFromString(open(f"{d}/test_data_set_0/input_{k}.pb", "rb").read())
        np.save(f"{tmp}/input_{k}.npy", numpy_helper.to_array(t))
        out.write(f"--input {n}={tmp}/input_{k}.npy\n")
PY
./build/ingot info "$MODEL/model.onnx"
./build/ingot run "$MODEL/model.onnx" $(cat "$TMP/args") --output-dir "$TMP/out"
./build/ingot bench "$MODEL/model.onnx" $(cat "$TMP/args")
