#!/bin/sh
# test.sh: sets up the machine and runs ingot's whole test suite:
#   1. release builds with gcc and clang (-Wall -Wextra -Werror), CTest on the gcc build
#      (unit tests, kernel tests for every ISA tier, ONNX conformance suites, real models);
#   2. an AddressSanitizer + UndefinedBehaviorSanitizer build (clang) running the unit
#      tests and the conformance suites (all but the Python end-to-end checks);
#   3. the layer check (no include may point up the layer order);
#   4. bounded libFuzzer runs over every parser (ONNX, GGUF, safetensors, KServe requests,
#      chat templates), 30 s each.
# Needs ../shared (conformance data and models) beside the repository.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=${JOBS:-$(nproc)}
./scripts/setup.sh

echo "== layer check"
./scripts/check_layers.sh

echo "== build (gcc, release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc >/dev/null
cmake --build build -j"$JOBS"

echo "== build (clang, release)"
cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang >/dev/null
cmake --build build-clang -j"$JOBS"

echo "== tests (gcc build)"
(cd build && ctest --output-on-failure -j"$JOBS")

echo "== tests for every kernel tier"
for isa in scalar avx2; do
    echo "-- INGOT_ISA=$isa"
    (cd build && INGOT_ISA=$isa ctest --output-on-failure -j"$JOBS" -R 'unit\.')
done

echo "== sanitizers (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DINGOT_SANITIZE=ON -DCMAKE_C_COMPILER=clang >/dev/null
cmake --build build-asan -j"$JOBS"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -j"$JOBS" -E '^e2e\.')

echo "== fuzzing the parsers"
./scripts/fuzz.sh 30

echo "== all tests passed"
