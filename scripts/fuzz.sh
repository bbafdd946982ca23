#!/bin/sh
# fuzz.sh SECONDS: builds the libFuzzer targets (clang, ASan+UBSan) and fuzzes the
# ONNX loader, the GGUF and safetensors readers, the KServe request parser and the
# chat-template interpreter and the tokenizers, SECONDS each (default 30), seeded with small
# files from the shared data. Fails on any finding. Work files go to a temporary
# folder.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECS=${1:-30}
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DINGOT_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_onnx fuzz_gguf fuzz_kserve fuzz_safetensors fuzz_jinja fuzz_tokenizer
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/onnx" "$WORK/gguf" "$WORK/kserve" "$WORK/safetensors" "$WORK/jinja" "$WORK/tokenizer"
printf '\000Once upon a time, there was a little girl.' > "$WORK/tokenizer/spm"
printf '\001Hello <|im_start|>user caf\303\251 \360\237\230\200 123' > "$WORK/tokenizer/bpe"
printf '\002Hello, World! Na\303\257ve r\303\251sum\303\251' > "$WORK/tokenizer/wpm"
INGOT_SMOLLM2_GGUF=$(./scripts/model_path.sh 2>/dev/null || true)
INGOT_MINILM_DIR=$(./scripts/embed_model_path.sh 2>/dev/null || true)
export INGOT_SMOLLM2_GGUF INGOT_MINILM_DIR
python3 -c "import struct,json;h=json.dumps({'w':{'dtype':'F32','shape':[2,2],'data_offsets':[0,16]}}).encode();open('$WORK/safetensors/seed0','wb').write(struct.pack('<Q',len(h))+h+bytes(16))"
cp tests/data/chat_templates/*.jinja "$WORK/jinja/" 2>/dev/null || true
printf '{"inputs":[{"name":"x","datatype":"FP32","shape":[2,2],"data":[1,2,3,4]}],"outputs":[{"name":"y"}]}' > "$WORK/kserve/seed0.json"
printf '{"inputs":[{"name":"x","datatype":"BYTES","shape":[1],"data":["a"]}]}' > "$WORK/kserve/seed1.json"
i=0
for d in test_add_bcast test_conv_with_strides_padding test_if test_loop11 test_reshape_reduced_dims \
         test_gemm_default_single_elem_vector_bias test_constant test_sequence_insert_at_back test_lstm_defaults; do
    f=../shared/conformance/onnx/node/$d/model.onnx
    [ -f "$f" ] && cp "$f" "$WORK/onnx/seed$i.onnx" && i=$((i + 1))
done
# small vocab-only GGUFs (the fuzzer truncates long inputs to -max_len)
for f in ../shared/conformance/tokenizer/ggml-vocab-bert-bge.gguf ../shared/conformance/tokenizer/ggml-vocab-phi-3.gguf; do
    [ -f "$f" ] && head -c 65536 "$f" > "$WORK/gguf/$(basename "$f")"
done
status=0
for t in onnx gguf kserve safetensors jinja tokenizer; do
    secs=$SECS
    [ "$t" = onnx ] && secs=$((SECS * 2)) # the model loader, the largest surface, gets twice as long
    echo "-- fuzz_$t for ${secs}s"
    (cd "$WORK" && ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
        "$ROOT/build-fuzz/tests/fuzz_$t" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 \
        -timeout=10 -print_final_stats=1 "$t" > "$WORK/$t.log" 2>&1) || status=1
    grep -E "stat::number_of_executed_runs|ERROR|SUMMARY|crash-|leak-|timeout-|oom-" "$WORK/$t.log" | head -20
done
# a finding's input, so that a CI log is enough to reproduce it
for f in "$WORK"/crash-* "$WORK"/leak-* "$WORK"/timeout-* "$WORK"/oom-*; do
    [ -f "$f" ] || continue
    echo "-- $(basename "$f") ($(wc -c < "$f") bytes), first 4 KiB as base64:"
    head -c 4096 "$f" | base64
done
[ "$status" = 0 ] && echo "fuzz: no findings"
exit $status
