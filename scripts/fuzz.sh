#!/bin/sh
# fuzz.sh SECONDS: builds the libFuzzer targets (clang, ASan+UBSan) and fuzzes the
# ONNX loader, the GGUF and safetensors readers, the KServe request parser, the
# chat-template interpreter, the tokenizers and Hugging Face folder conversion, SECONDS each (default 30), seeded with small
# files from the shared data. Fails on any finding. Work files go to a temporary
# folder.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECS=${1:-30}
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DINGOT_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_onnx fuzz_gguf fuzz_kserve fuzz_safetensors fuzz_jinja fuzz_tokenizer fuzz_hf
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/onnx" "$WORK/gguf" "$WORK/kserve" "$WORK/safetensors" "$WORK/jinja" "$WORK/tokenizer" "$WORK/hf"
printf '\000Once upon a time, there was a little girl.' > "$WORK/tokenizer/spm"
printf '\001Hello <|im_start|>user caf\303\251 \360\237\230\200 123' > "$WORK/tokenizer/bpe"
printf '\002Hello, World! Na\303\257ve r\303\251sum\303\251' > "$WORK/tokenizer/wpm"
INGOT_SMOLLM2_GGUF=$(./scripts/model_path.sh 2>/dev/null || true)
INGOT_MINILM_DIR=$(./scripts/embed_model_path.sh 2>/dev/null || true)
export INGOT_SMOLLM2_GGUF INGOT_MINILM_DIR
python3 -c "import struct,json;h=json.dumps({'w':{'dtype':'F32','shape':[2,2],'data_offsets':[0,16]}}).encode();open('$WORK/safetensors/seed0','wb').write(struct.pack('<Q',len(h))+h+bytes(16))"
# a tiny valid Hugging Face llama folder: config, tokenizer.json, tokenizer_config, safetensors
python3 - "$WORK/hf/seed0" <<'PY'
import json, struct, sys
D, F, V, H, KV, HD = 8, 16, 8, 2, 1, 4
cfg = {"architectures": ["LlamaForCausalLM"], "hidden_size": D, "intermediate_size": F, "num_hidden_layers": 1,
       "num_attention_heads": H, "num_key_value_heads": KV, "max_position_embeddings": 64, "rms_norm_eps": 1e-6,
       "rope_theta": 10000.0, "vocab_size": V, "tie_word_embeddings": True, "bos_token_id": 0, "eos_token_id": 1}
tok = {"version": "1.0", "added_tokens": [{"id": 0, "content": "<|endoftext|>", "special": True},
                                          {"id": 1, "content": "<|im_end|>", "special": True}],
       "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
       "decoder": {"type": "ByteLevel"},
       "model": {"type": "BPE", "byte_fallback": False,
                 "vocab": {"<|endoftext|>": 0, "<|im_end|>": 1, "a": 2, "b": 3, "\u0120": 4, "ab": 5, "\u0120ab": 6},
                 "merges": [["a", "b"], "\u0120 ab"]}}
tcfg = {"eos_token": "<|im_end|>", "chat_template": "{{ x }}"}
ts = [("model.embed_tokens.weight", [V, D]), ("model.norm.weight", [D]), ("model.layers.0.input_layernorm.weight", [D]),
      ("model.layers.0.self_attn.q_proj.weight", [H * HD, D]), ("model.layers.0.self_attn.k_proj.weight", [KV * HD, D]),
      ("model.layers.0.self_attn.v_proj.weight", [KV * HD, D]), ("model.layers.0.self_attn.o_proj.weight", [D, H * HD]),
      ("model.layers.0.post_attention_layernorm.weight", [D]), ("model.layers.0.mlp.gate_proj.weight", [F, D]),
      ("model.layers.0.mlp.up_proj.weight", [F, D]), ("model.layers.0.mlp.down_proj.weight", [D, F])]
hdr, off = {}, 0
for n, s in ts:
    b = 4 * (s[0] * (s[1] if len(s) > 1 else 1))
    hdr[n] = {"dtype": "F32", "shape": s, "data_offsets": [off, off + b]}
    off += b
h = json.dumps(hdr).encode()
h += b" " * ((8 - len(h) % 8) % 8)
st = struct.pack("<Q", len(h)) + h + struct.pack("<%df" % (off // 4), *[0.01 * (i % 17) for i in range(off // 4)])
open(sys.argv[1], "wb").write(b"\x1e".join([json.dumps(cfg).encode(), json.dumps(tok).encode(), json.dumps(tcfg).encode(), st]))
PY
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
# inputs of past findings (tests/data/fuzz/TARGET/) are replayed first and seed the corpus
for t in onnx gguf; do
    for f in tests/data/fuzz/$t/*; do
        [ -f "$f" ] || continue
        cp "$f" "$WORK/$t/"
        ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 "$ROOT/build-fuzz/tests/fuzz_$t" -rss_limit_mb=2048 "$f" \
            > "$WORK/replay.log" 2>&1 || { echo "-- replay of $f failed:"; tail -20 "$WORK/replay.log"; status=1; }
    done
done
for t in onnx gguf kserve safetensors jinja tokenizer hf; do
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
