#!/bin/sh
# fuzz.sh SECONDS: builds the libFuzzer targets (clang, ASan+UBSan) and fuzzes the
# ONNX loader for SECONDS (default 60), seeded with small models from the shared
# conformance suite. Fails on any finding. Work files go to a temporary folder.
set -eu
cd "$(dirname "$0")/.."
SECS=${1:-60}
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DINGOT_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_onnx
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/corpus"
i=0
for d in ../shared/conformance/onnx/node/test_add_bcast ../shared/conformance/onnx/node/test_conv_with_strides_padding \
         ../shared/conformance/onnx/node/test_if ../shared/conformance/onnx/node/test_loop11 \
         ../shared/conformance/onnx/node/test_reshape_reduced_dims ../shared/conformance/onnx/node/test_gemm_default_single_elem_vector_bias \
         ../shared/conformance/onnx/node/test_constant ../shared/conformance/onnx/node/test_sequence_insert_at_back; do
    [ -f "$d/model.onnx" ] && cp "$d/model.onnx" "$WORK/corpus/seed$i.onnx" && i=$((i + 1))
done
cd "$WORK"
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
    "$OLDPWD/build-fuzz/tests/fuzz_onnx" -max_total_time="$SECS" -max_len=65536 -rss_limit_mb=2048 \
    -timeout=10 -print_final_stats=1 corpus 2>&1 | tail -15
