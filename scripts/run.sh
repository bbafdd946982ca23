#!/bin/sh
# run.sh: sets up the machine, builds ingot and runs its main job: `ingot serve` with
# the default model (SmolLM2-135M-Instruct, Q4_1 GGUF, installed from PyPI by setup.sh)
# on http://127.0.0.1:8080, speaking the OpenAI API (/v1/chat/completions,
# /v1/completions, /v1/models) and KServe v2. Extra arguments go to `ingot serve`
# (e.g. --port 9000, --model other.gguf, --model model.onnx:name).
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
INGOT_DEFAULT_MODEL=$(./scripts/model_path.sh)
export INGOT_DEFAULT_MODEL
echo "run: serving $INGOT_DEFAULT_MODEL (Ctrl-C stops)"
exec ./build/ingot serve "$@"
