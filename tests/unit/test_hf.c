/*
 * test_hf.c: Hugging Face LLM folders (llm/hf.h) on hand-made folders: a tiny valid llama
 * folder loads from the directory (converted in memory) and converts to a GGUF file that the
 * GGUF reader parses with llama.cpp's key and tensor names and the q/k rows permuted; and the
 * error paths name the file or tensor at fault without crashing: config.json missing or
 * corrupt, an unsupported architecture, a required field missing, a shard missing, a tensor
 * missing or of the wrong shape, an unknown tensor, a tokenizer that is not BPE, a
 * pre-tokenizer ingot does not know.
 *
 * Also a helper for tests/e2e/hf_folder.py: `test_hf --tokenize DIR FILE...` loads DIR with
 * ingot_llm_load and prints the ids of each file's text (special tokens added and parsed),
 * one line per file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "formats/gguf.h"
#include "ingot_llm.h"
#include "llm/hf.h"
#include "llm/model.h"
#include "tensor/quant.h"

/* the tiny model: D 8, one layer, 2 heads of 4 (1 kv head), FFN 16, vocab 8 */
enum { D = 8, H = 2, KV = 1, HD = 4, F = 16, V = 8 };

static char root[256];

static void put_file(const char *dir, const char *name, const void *data, size_t n) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void put_text(const char *dir, const char *name, const char *text) { put_file(dir, name, text, strlen(text)); }

typedef struct st_entry {
    const char *name;
    int64_t d0, d1; /* d1 0: 1-D */
} st_entry;

/* A safetensors file of F32 tensors; values are row * 100 + col so permutations are visible. */
static void put_safetensors(const char *dir, const char *file, const st_entry *t, int n) {
    char hdr[8192];
    size_t k = 0, off = 0;
    k += (size_t)snprintf(hdr + k, sizeof hdr - k, "{");
    for (int i = 0; i < n; i++) {
        size_t bytes = (size_t)(t[i].d0 * (t[i].d1 ? t[i].d1 : 1)) * 4;
        if (t[i].d1)
            k += (size_t)snprintf(hdr + k, sizeof hdr - k, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld,%lld],\"data_offsets\":[%zu,%zu]}",
                                  i ? "," : "", t[i].name, (long long)t[i].d0, (long long)t[i].d1, off, off + bytes);
        else
            k += (size_t)snprintf(hdr + k, sizeof hdr - k, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld],\"data_offsets\":[%zu,%zu]}",
                                  i ? "," : "", t[i].name, (long long)t[i].d0, off, off + bytes);
        off += bytes;
    }
    k += (size_t)snprintf(hdr + k, sizeof hdr - k, "}");
    while (k % 8) hdr[k++] = ' ';
    size_t total = 8 + k + off;
    uint8_t *buf = malloc(total);
    assert_non_null(buf);
    uint64_t hl = k;
    memcpy(buf, &hl, 8);
    memcpy(buf + 8, hdr, k);
    float *p = (float *)(buf + 8 + k);
    for (int i = 0; i < n; i++) {
        int64_t cols = t[i].d1 ? t[i].d1 : 1;
        for (int64_t r = 0; r < t[i].d0; r++)
            for (int64_t c = 0; c < cols; c++) *p++ = (float)(r * 100 + c) * 0.001f;
    }
    put_file(dir, file, buf, total);
    free(buf);
}

static const st_entry tiny_tensors[] = {
    {"model.embed_tokens.weight", V, D},
    {"model.norm.weight", D, 0},
    {"model.layers.0.input_layernorm.weight", D, 0},
    {"model.layers.0.self_attn.q_proj.weight", H * HD, D},
    {"model.layers.0.self_attn.k_proj.weight", KV * HD, D},
    {"model.layers.0.self_attn.v_proj.weight", KV * HD, D},
    {"model.layers.0.self_attn.o_proj.weight", D, H * HD},
    {"model.layers.0.post_attention_layernorm.weight", D, 0},
    {"model.layers.0.mlp.gate_proj.weight", F, D},
    {"model.layers.0.mlp.up_proj.weight", F, D},
    {"model.layers.0.mlp.down_proj.weight", D, F},
};
#define N_TINY ((int)(sizeof tiny_tensors / sizeof tiny_tensors[0]))

static const char tiny_config[] =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 8, \"intermediate_size\": 16,"
    " \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"num_key_value_heads\": 1,"
    " \"max_position_embeddings\": 64, \"rms_norm_eps\": 1e-6, \"rope_theta\": 10000.0,"
    " \"vocab_size\": 8, \"tie_word_embeddings\": true, \"bos_token_id\": 0, \"eos_token_id\": 1}";

static const char tiny_tokenizer[] =
    "{\"version\": \"1.0\", \"added_tokens\": [{\"id\": 0, \"content\": \"<|endoftext|>\", \"special\": true},"
    " {\"id\": 1, \"content\": \"<|im_end|>\", \"special\": true}],"
    " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true},"
    " \"decoder\": {\"type\": \"ByteLevel\"},"
    " \"model\": {\"type\": \"BPE\", \"byte_fallback\": false, \"vocab\": {\"<|endoftext|>\": 0, \"<|im_end|>\": 1,"
    " \"a\": 2, \"b\": 3, \"\\u0120\": 4, \"ab\": 5, \"\\u0120ab\": 6}, \"merges\": [[\"a\", \"b\"], \"\\u0120 ab\"]}}";

/* A fresh folder root/name holding the tiny valid model. */
static void make_tiny(char *dir, size_t n, const char *name) {
    snprintf(dir, n, "%s/%s", root, name);
    assert_int_equal(mkdir(dir, 0755), 0);
    put_text(dir, "config.json", tiny_config);
    put_text(dir, "tokenizer.json", tiny_tokenizer);
    put_text(dir, "tokenizer_config.json", "{\"eos_token\": \"<|im_end|>\", \"chat_template\": \"{{ x }}\"}");
    put_safetensors(dir, "model.safetensors", tiny_tensors, N_TINY);
}

static int setup(void **state) {
    (void)state;
    snprintf(root, sizeof root, "/tmp/ingot_test_hf_XXXXXX");
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

/* Load dir: must fail with status st and a message containing want. */
static void expect_fail(const char *dir, int st, const char *want) {
    it_err e = {{0}};
    it_llm_model *m = NULL;
    int got = it_llm_model_load(dir, NULL, &m, &e);
    if (got != st || !strstr(e.msg, want)) fprintf(stderr, "status %d, message: %s (wanted %d, '%s')\n", got, e.msg, st, want);
    assert_int_equal(got, st);
    assert_null(m);
    assert_non_null(strstr(e.msg, want));
}

/* YaRN's attention factor reaches the loaded model's hyperparameters (the converter writes
 * llama.cpp's rope.scaling.yarn_attn_factor) */
static void yarn_attention_factor(void **state) {
    (void)state;
    char dir[300];
    make_tiny(dir, sizeof dir, "yarn");
    put_text(dir, "config.json",
             "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 8, \"intermediate_size\": 16,"
             " \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"num_key_value_heads\": 1,"
             " \"max_position_embeddings\": 256, \"rms_norm_eps\": 1e-6, \"rope_theta\": 10000.0,"
             " \"vocab_size\": 8, \"tie_word_embeddings\": true, \"bos_token_id\": 0, \"eos_token_id\": 1,"
             " \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0, \"original_max_position_embeddings\": 64,"
             " \"attention_factor\": 1.25}}");
    it_err e = {{0}};
    it_llm_model *m = NULL;
    int st = it_llm_model_load(dir, NULL, &m, &e);
    if (st) fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(st, 0);
    assert_int_equal(m->hp.rope_scaling, IT_ROPE_SCALING_YARN);
    assert_true(fabsf(m->hp.rope_factor - 4.0f) < 1e-6f);
    assert_true(fabsf(m->hp.yarn_attn_factor - 1.25f) < 1e-6f);
    it_llm_model_free(m);
}

static void tiny_loads_and_converts(void **state) {
    (void)state;
    char dir[300], out[320];
    make_tiny(dir, sizeof dir, "ok");
    it_err e = {{0}};
    it_llm_model *m = NULL;
    int st = it_llm_model_load(dir, NULL, &m, &e);
    if (st) fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(st, 0);
    assert_string_equal(m->arch_name, "llama");
    assert_string_equal(m->format, "hf");
    assert_int_equal(m->hp.n_embd, D);
    assert_int_equal(m->hp.n_head_kv, KV);
    assert_int_equal(m->hp.n_vocab, V);
    assert_ptr_equal(m->output.data, m->tok_embd.data); /* tied */
    assert_string_equal(m->chat_template, "{{ x }}");
    it_llm_model_free(m);

    /* the file: keys, names, permuted q rows */
    snprintf(out, sizeof out, "%s/tiny.gguf", root);
    char err[512];
    assert_int_equal(ingot_convert_hf(dir, out, err, sizeof err), INGOT_OK);
    it_gguf g;
    assert_int_equal(it_gguf_open(out, &g, &e), 0);
    int64_t v;
    assert_int_equal(it_gguf_get_int(&g, "llama.block_count", &v, &e), 0);
    assert_int_equal(v, 1);
    assert_int_equal(it_gguf_get_int(&g, "llama.rope.dimension_count", &v, &e), 0);
    assert_int_equal(v, HD);
    assert_int_equal(it_gguf_get_int(&g, "tokenizer.ggml.eos_token_id", &v, &e), 0);
    assert_int_equal(v, 1);
    const char *s;
    uint64_t sl;
    assert_int_equal(it_gguf_get_str(&g, "tokenizer.ggml.pre", &s, &sl, &e), 0);
    assert_true(sl == 5 && !memcmp(s, "gpt-2", 5));
    assert_int_equal(it_gguf_get_str(&g, "tokenizer.ggml.tokens", &s, &sl, &e) != 0, 1); /* an array */
    it_gguf_val arr;
    assert_int_equal(it_gguf_get_arr(&g, "tokenizer.ggml.merges", IT_GGUF_STRING, &arr, &e), 0);
    assert_int_equal(arr.n, 2);
    assert_null(it_gguf_tensor_get(&g, "output.weight"));
    const it_gguf_tensor *q = it_gguf_tensor_get(&g, "blk.0.attn_q.weight");
    assert_non_null(q);
    assert_int_equal(q->type, IT_GGML_F32);
    assert_int_equal(q->ne[0], D);
    assert_int_equal(q->ne[1], H * HD);
    /* head 0 rows: HF [0 1 | 2 3] -> GGUF [0 2 1 3] */
    const float *qd = (const float *)q->data;
    const int order[4] = {0, 2, 1, 3};
    for (int r = 0; r < 4; r++) assert_true(qd[r * D] == (float)(order[r] * 100) * 0.001f);
    const it_gguf_tensor *vt = it_gguf_tensor_get(&g, "blk.0.attn_v.weight");
    assert_true(((const float *)vt->data)[1 * D] == 100 * 0.001f); /* v is not permuted */
    it_gguf_free(&g);

    /* in memory: a read-only mapping holding the same file */
    void *buf;
    size_t len;
    assert_int_equal(it_hf_convert_mem(dir, &buf, &len, &e), 0);
    assert_true(len > 0 && ((uintptr_t)buf & 4095) == 0);
    munmap(buf, len);
}

static void missing_and_corrupt_config(void **state) {
    (void)state;
    char dir[300], p[400];
    make_tiny(dir, sizeof dir, "cfg");
    snprintf(p, sizeof p, "%s/config.json", dir);
    remove(p);
    expect_fail(dir, INGOT_ERR_NOT_FOUND, "config.json");
    put_text(dir, "config.json", "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 8,");
    expect_fail(dir, INGOT_ERR_FORMAT, "config.json");
    put_text(dir, "config.json", "[1, 2]");
    expect_fail(dir, INGOT_ERR_FORMAT, "not a JSON object");
    put_text(dir, "config.json", "{\"hidden_size\": 8}");
    expect_fail(dir, INGOT_ERR_FORMAT, "architectures");
    put_text(dir, "config.json", "{\"architectures\": [\"GPTNeoXForCausalLM\"]}");
    expect_fail(dir, INGOT_ERR_UNSUPPORTED, "unsupported architecture \"GPTNeoXForCausalLM\"");
    put_text(dir, "config.json", "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 8}");
    expect_fail(dir, INGOT_ERR_FORMAT, "\"num_hidden_layers\" is missing");
    put_text(dir, "config.json",
             "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 8, \"intermediate_size\": 16,"
             " \"num_hidden_layers\": 1, \"num_attention_heads\": 3, \"num_key_value_heads\": 2, \"vocab_size\": 8}");
    expect_fail(dir, INGOT_ERR_FORMAT, "not a multiple");
    put_text(dir, "config.json",
             "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": \"eight\", \"vocab_size\": 8}");
    expect_fail(dir, INGOT_ERR_FORMAT, "\"hidden_size\" is not an integer");
    expect_fail("/nonexistent/ingot/hf", INGOT_ERR_IO, "/nonexistent/ingot/hf");
}

static void shards_and_tensors(void **state) {
    (void)state;
    char dir[300], p[400];
    make_tiny(dir, sizeof dir, "shards");
    /* sharded: the index names two files, the second is missing */
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    remove(p);
    put_safetensors(dir, "model-00001-of-00002.safetensors", tiny_tensors, 6);
    char idx[4096];
    size_t k = (size_t)snprintf(idx, sizeof idx, "{\"weight_map\": {");
    for (int i = 0; i < N_TINY; i++)
        k += (size_t)snprintf(idx + k, sizeof idx - k, "%s\"%s\": \"model-0000%d-of-00002.safetensors\"", i ? ", " : "",
                              tiny_tensors[i].name, i < 6 ? 1 : 2);
    snprintf(idx + k, sizeof idx - k, "}}");
    put_text(dir, "model.safetensors.index.json", idx);
    expect_fail(dir, INGOT_ERR_IO, "model-00002-of-00002.safetensors");
    /* with the shard there it loads */
    put_safetensors(dir, "model-00002-of-00002.safetensors", tiny_tensors + 6, N_TINY - 6);
    it_err e = {{0}};
    it_llm_model *m = NULL;
    assert_int_equal(it_llm_model_load(dir, NULL, &m, &e), 0);
    it_llm_model_free(m);
    /* no weights at all */
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    remove(p);
    expect_fail(dir, INGOT_ERR_NOT_FOUND, "model.safetensors");

    /* a tensor missing, one of the wrong shape, one unknown */
    char d2[300];
    make_tiny(d2, sizeof d2, "tensors");
    st_entry t[N_TINY + 1];
    memcpy(t, tiny_tensors, sizeof tiny_tensors);
    put_safetensors(d2, "model.safetensors", t, N_TINY - 1);
    expect_fail(d2, INGOT_ERR_NOT_FOUND, "tensor \"model.layers.0.mlp.down_proj.weight\" is missing");
    t[3].d0 = 6;
    put_safetensors(d2, "model.safetensors", t, N_TINY);
    expect_fail(d2, INGOT_ERR_SHAPE, "\"model.layers.0.self_attn.q_proj.weight\" has shape [6, 8], expected [8, 8]");
    t[3].d0 = H * HD;
    t[N_TINY] = (st_entry){"model.layers.0.mlp.extra.weight", 2, 2};
    put_safetensors(d2, "model.safetensors", t, N_TINY + 1);
    expect_fail(d2, INGOT_ERR_UNSUPPORTED, "model.layers.0.mlp.extra.weight");
    /* not tied and no lm_head */
    put_safetensors(d2, "model.safetensors", t, N_TINY);
    put_text(d2, "config.json",
             "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 8, \"intermediate_size\": 16,"
             " \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"num_key_value_heads\": 1, \"vocab_size\": 8}");
    expect_fail(d2, INGOT_ERR_NOT_FOUND, "lm_head.weight");
    /* a corrupt safetensors header */
    put_text(d2, "model.safetensors", "\x10\0\0\0\0\0\0\0{\"a\": nonsense}");
    expect_fail(d2, INGOT_ERR_FORMAT, "model.safetensors");
}

static void tokenizer_errors(void **state) {
    (void)state;
    char dir[300], p[400];
    make_tiny(dir, sizeof dir, "tok");
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    remove(p);
    expect_fail(dir, INGOT_ERR_NOT_FOUND, "tokenizer.json");
    put_text(dir, "tokenizer.json", "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
    expect_fail(dir, INGOT_ERR_UNSUPPORTED, "model type \"Unigram\"");
    put_text(dir, "tokenizer.json",
             "{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\w+\"}, \"behavior\": \"Isolated\"},"
             " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}");
    expect_fail(dir, INGOT_ERR_UNSUPPORTED, "pre-tokenizer");
    put_text(dir, "tokenizer.json", "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\","
                                    " \"vocab\": {\"a\": 0, \"b\": 9}, \"merges\": []}}");
    expect_fail(dir, INGOT_ERR_FORMAT, "outside [0, 8)");
}

/* --tokenize DIR FILE...: the e2e test's view of ingot's tokenizer. */
static int tokenize_main(int argc, char **argv) {
    char err[512];
    ingot_llm *m = NULL;
    ingot_status st = ingot_llm_load(argv[2], NULL, &m, err, sizeof err);
    if (st) {
        fprintf(stderr, "test_hf: %s\n", err);
        return 1;
    }
    int rc = 0;
    for (int i = 3; i < argc && !rc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) { rc = 1; break; }
        char *text = malloc(1 << 20);
        size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
        fclose(f);
        size_t cap = n + 16, got = 0;
        int32_t *ids = malloc(cap * sizeof *ids);
        if (!text || !ids ||
            ingot_llm_tokenize(m, text, n, INGOT_LLM_ADD_SPECIAL | INGOT_LLM_PARSE_SPECIAL, ids, cap, &got) != INGOT_OK)
            rc = 1;
        for (size_t k = 0; !rc && k < got; k++) printf("%s%d", k ? " " : "", ids[k]);
        printf("\n");
        free(text);
        free(ids);
    }
    ingot_llm_free(m);
    return rc;
}

int main(int argc, char **argv) {
    if (argc >= 3 && !strcmp(argv[1], "--tokenize")) return tokenize_main(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tiny_loads_and_converts),
        cmocka_unit_test(yarn_attention_factor),
        cmocka_unit_test(missing_and_corrupt_config),
        cmocka_unit_test(shards_and_tensors),
        cmocka_unit_test(tokenizer_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
