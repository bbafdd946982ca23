/*
 * test_gguf.c: the GGUF reader/writer, the ggml quantization formats and the
 * llama2.c reader. Real vocab GGUFs from the tokenizer conformance suite must
 * parse; every value type and nested arrays must round-trip through the
 * writer; every truncation of a small written file and absurd counts, dims
 * and offsets must fail with a message naming the problem; quantization must
 * round-trip within per-type bounds and hand-built blocks must dequantize to
 * the values the GGUF formulas give; stories260K must read and convert.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "formats/gguf.h"
#include "formats/llama2c.h"
#include "ingot_llm.h"
#include "tensor/quant.h"
#include "tensor/tensor.h"

static const char *const VOCABS[] = {"baichuan", "bert-bge", "deepseek-coder", "deepseek-llm", "falcon", "gpt-2",
                                     "gpt-neox", "llama-spm", "mpt", "phi-3", "refact", "starcoder"};

static void parses_vocab_files(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof VOCABS / sizeof *VOCABS; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/conformance/tokenizer/ggml-vocab-%s.gguf", INGOT_SHARED_DIR, VOCABS[i]);
        it_gguf g;
        it_err e = {{0}};
        int st = it_gguf_open(path, &g, &e);
        if (st) fail_msg("%s: %s", path, e.msg);
        assert_true(g.version == 2 || g.version == 3);
        assert_true(g.n_kv > 5);
        assert_int_equal(g.n_tensors, 0);
        const char *s;
        uint64_t len;
        assert_int_equal(it_gguf_get_str(&g, "general.architecture", &s, &len, &e), 0);
        assert_true(len > 0);
        assert_int_equal(it_gguf_get_str(&g, "tokenizer.ggml.model", &s, &len, &e), 0);
        it_gguf_val toks, types;
        assert_int_equal(it_gguf_get_arr(&g, "tokenizer.ggml.tokens", IT_GGUF_STRING, &toks, &e), 0);
        assert_true(toks.n > 1000);
        if (it_gguf_get_arr(&g, "tokenizer.ggml.token_type", IT_GGUF_I32, &types, &e) == 0)
            assert_int_equal(types.n, toks.n);
        /* random access through the offset table equals a walk */
        int64_t k = it_gguf_find_key(&g, "tokenizer.ggml.tokens");
        assert_true(k >= 0);
        uint64_t idx[3] = {0, toks.n / 2, toks.n - 1};
        for (int j = 0; j < 3; j++) {
            it_gguf_val a, b;
            assert_int_equal(it_gguf_kv_elem(&g, k, idx[j], &a, &e), 0);
            assert_int_equal(it_gguf_val_elem(&toks, idx[j], &b), 0);
            assert_ptr_equal(a.p, b.p);
            assert_int_equal(a.n, b.n);
        }
        uint64_t total = 0;
        for (uint64_t j = 0; j < toks.n; j++) {
            assert_int_equal(it_gguf_kv_str(&g, k, j, &s, &len, &e), 0);
            total += len;
        }
        assert_true(total >= toks.n / 2);
        assert_int_not_equal(it_gguf_kv_str(&g, k, toks.n, &s, &len, &e), 0);
        int64_t v;
        assert_int_equal(it_gguf_get_int(&g, "no.such.key", &v, &e), INGOT_ERR_NOT_FOUND);
        assert_int_equal(it_gguf_get_int(&g, "tokenizer.ggml.model", &v, &e), INGOT_ERR_FORMAT);
        assert_non_null(strstr(e.msg, "tokenizer.ggml.model"));
        it_gguf_free(&g);
    }
}

/* ---- writer round trip ---- */

static uint8_t *write_small(size_t *len, int with_tensors) {
    it_err e = {{0}};
    it_gguf_writer *w = it_gguf_writer_create();
    assert_non_null(w);
    assert_int_equal(it_gguf_w_u8(w, "t.u8", 200, &e), 0);
    assert_int_equal(it_gguf_w_i8(w, "t.i8", -100, &e), 0);
    assert_int_equal(it_gguf_w_u16(w, "t.u16", 60000, &e), 0);
    assert_int_equal(it_gguf_w_i16(w, "t.i16", -30000, &e), 0);
    assert_int_equal(it_gguf_w_u32(w, "t.u32", 4000000000u, &e), 0);
    assert_int_equal(it_gguf_w_i32(w, "t.i32", -2000000000, &e), 0);
    assert_int_equal(it_gguf_w_f32(w, "t.f32", 1.5f, &e), 0);
    assert_int_equal(it_gguf_w_bool(w, "t.bool", 1, &e), 0);
    assert_int_equal(it_gguf_w_str(w, "t.str", "hello", 5, &e), 0);
    assert_int_equal(it_gguf_w_u64(w, "t.u64", UINT64_MAX, &e), 0);
    assert_int_equal(it_gguf_w_i64(w, "t.i64", INT64_MIN, &e), 0);
    assert_int_equal(it_gguf_w_f64(w, "t.f64", -2.25, &e), 0);
    int32_t ia[3] = {1, -2, 3};
    assert_int_equal(it_gguf_w_arr(w, "t.arr_i32", IT_GGUF_I32, ia, 3, &e), 0);
    const char *sa[3] = {"a", "", "ccc"};
    assert_int_equal(it_gguf_w_arr_str(w, "t.arr_str", sa, NULL, 3, &e), 0);
    /* nested: array of 2 arrays: [u8 x2 {7,8}], [string x1 {"xy"}] */
    uint8_t nested[] = {9, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,                        /* array of arrays, n=2 */
                        0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7, 8,              /* u8 [7,8] */
                        8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 'x', 'y'};
    assert_int_equal(it_gguf_w_raw(w, "t.nested", IT_GGUF_ARRAY, nested, sizeof nested, &e), 0);
    /* bad raw encodings are refused */
    assert_int_not_equal(it_gguf_w_raw(w, "t.bad", IT_GGUF_ARRAY, nested, sizeof nested - 1, &e), 0);
    assert_int_not_equal(it_gguf_w_u8(w, "t.u8", 1, &e), 0); /* duplicate */
    assert_int_not_equal(it_gguf_w_u64(w, "general.alignment", 64, &e), 0);
    assert_int_equal(it_gguf_w_u32(w, "general.alignment", 64, &e), 0);
    if (with_tensors) {
        static float a[2 * 3] = {1, 2, 3, 4, 5, 6};
        static uint16_t h[32];
        int64_t ne_a[2] = {3, 2}, ne_h[1] = {32};
        for (int i = 0; i < 32; i++) h[i] = it_f32_to_f16((float)i);
        assert_int_equal(it_gguf_w_tensor(w, "a", IT_GGML_F32, 2, ne_a, a, &e), 0);
        assert_int_equal(it_gguf_w_tensor(w, "h", IT_GGML_F16, 1, ne_h, h, &e), 0);
        int64_t ne_bad[1] = {33};
        assert_int_not_equal(it_gguf_w_tensor(w, "q", IT_GGML_Q8_0, 1, ne_bad, h, &e), 0);
        assert_int_not_equal(it_gguf_w_tensor(w, "a", IT_GGML_F32, 2, ne_a, a, &e), 0);
    }
    uint8_t *buf = NULL;
    assert_int_equal(it_gguf_w_write_mem(w, &buf, len, NULL, NULL, &e), 0);
    it_gguf_writer_free(w);
    return buf;
}

static void round_trip_values(void **state) {
    (void)state;
    size_t len;
    uint8_t *buf = write_small(&len, 1);
    it_gguf g;
    it_err e = {{0}};
    if (it_gguf_parse(buf, len, &g, &e)) fail_msg("%s", e.msg);
    assert_int_equal(g.version, 3);
    assert_int_equal(g.alignment, 64);
    int64_t v;
    double d;
    int b;
    const char *s;
    uint64_t sl;
    assert_int_equal(it_gguf_get_int(&g, "t.u8", &v, &e), 0); assert_int_equal(v, 200);
    assert_int_equal(it_gguf_get_int(&g, "t.i8", &v, &e), 0); assert_int_equal(v, -100);
    assert_int_equal(it_gguf_get_int(&g, "t.u16", &v, &e), 0); assert_int_equal(v, 60000);
    assert_int_equal(it_gguf_get_int(&g, "t.i16", &v, &e), 0); assert_int_equal(v, -30000);
    assert_int_equal(it_gguf_get_int(&g, "t.u32", &v, &e), 0); assert_int_equal(v, 4000000000ll);
    assert_int_equal(it_gguf_get_int(&g, "t.i32", &v, &e), 0); assert_int_equal(v, -2000000000ll);
    assert_int_equal(it_gguf_get_int(&g, "t.i64", &v, &e), 0); assert_true(v == INT64_MIN);
    assert_int_equal(it_gguf_get_int(&g, "t.u64", &v, &e), INGOT_ERR_LIMIT);
    assert_int_equal(it_gguf_value(&g, it_gguf_find_key(&g, "t.u64"))->type, IT_GGUF_U64);
    assert_int_equal(it_gguf_get_float(&g, "t.f32", &d, &e), 0); assert_true(d == 1.5);
    assert_int_equal(it_gguf_get_float(&g, "t.f64", &d, &e), 0); assert_true(d == -2.25);
    assert_int_equal(it_gguf_get_bool(&g, "t.bool", &b, &e), 0); assert_int_equal(b, 1);
    assert_int_equal(it_gguf_get_bool(&g, "t.u8", &b, &e), INGOT_ERR_FORMAT);
    assert_int_equal(it_gguf_get_str(&g, "t.str", &s, &sl, &e), 0);
    assert_int_equal(sl, 5); assert_memory_equal(s, "hello", 5);
    it_gguf_val a, el, el2;
    assert_int_equal(it_gguf_get_arr(&g, "t.arr_i32", IT_GGUF_I32, &a, &e), 0);
    assert_int_equal(a.n, 3);
    assert_int_equal(it_gguf_val_elem(&a, 1, &el), 0);
    assert_int_equal(it_gguf_val_int(&el, &v), 0); assert_int_equal(v, -2);
    assert_int_equal(it_gguf_get_arr(&g, "t.arr_i32", IT_GGUF_F32, &a, &e), INGOT_ERR_FORMAT);
    int64_t k = it_gguf_find_key(&g, "t.arr_str");
    assert_int_equal(it_gguf_kv_str(&g, k, 2, &s, &sl, &e), 0); assert_int_equal(sl, 3); assert_memory_equal(s, "ccc", 3);
    assert_int_equal(it_gguf_kv_str(&g, k, 1, &s, &sl, &e), 0); assert_int_equal(sl, 0);
    assert_int_equal(it_gguf_get_arr(&g, "t.nested", IT_GGUF_ARRAY, &a, &e), 0);
    assert_int_equal(a.n, 2);
    assert_int_equal(it_gguf_val_elem(&a, 0, &el), 0);
    assert_int_equal(el.arr_type, IT_GGUF_U8); assert_int_equal(el.n, 2);
    assert_int_equal(it_gguf_val_elem(&el, 1, &el2), 0);
    assert_int_equal(it_gguf_val_int(&el2, &v), 0); assert_int_equal(v, 8);
    assert_int_equal(it_gguf_val_elem(&a, 1, &el), 0);
    assert_int_equal(el.arr_type, IT_GGUF_STRING);
    assert_int_equal(it_gguf_val_elem(&el, 0, &el2), 0);
    assert_int_equal(el2.n, 2); assert_memory_equal(el2.p, "xy", 2);
    assert_int_equal(it_gguf_kv_elem(&g, it_gguf_find_key(&g, "t.nested"), 1, &el, &e), 0);
    assert_int_equal(el.arr_type, IT_GGUF_STRING);
    /* tensors */
    assert_int_equal(g.n_tensors, 2);
    const it_gguf_tensor *t = it_gguf_tensor_get(&g, "a");
    assert_non_null(t);
    assert_int_equal(t->ndim, 2); assert_int_equal(t->ne[0], 3); assert_int_equal(t->ne[1], 2);
    assert_int_equal(t->nbytes, 24);
    assert_int_equal((g.data_offset + t->offset) % 64, 0);
    float f;
    memcpy(&f, (const char *)t->data + 20, 4);
    assert_true(f == 6.0f);
    t = it_gguf_tensor_get(&g, "h");
    assert_non_null(t);
    assert_true(it_f16_to_f32(((const uint16_t *)t->data)[31]) == 31.0f);
    assert_null(it_gguf_tensor_get(&g, "nope"));
    /* copy every value into a second file: identical metadata */
    it_gguf_writer *w = it_gguf_writer_create();
    for (int64_t i = 0; i < g.n_kv; i++) assert_int_equal(it_gguf_w_val(w, g.kv[i].key, &g.kv[i].v, &e), 0);
    uint8_t *buf2;
    size_t len2;
    assert_int_equal(it_gguf_w_write_mem(w, &buf2, &len2, NULL, NULL, &e), 0);
    it_gguf g2;
    assert_int_equal(it_gguf_parse(buf2, len2, &g2, &e), 0);
    assert_int_equal(g2.n_kv, g.n_kv);
    for (int64_t i = 0; i < g.n_kv; i++) {
        assert_string_equal(g2.kv[i].key, g.kv[i].key);
        assert_int_equal(g2.kv[i].v.raw_size, g.kv[i].v.raw_size);
        assert_memory_equal(g2.kv[i].v.raw, g.kv[i].v.raw, g.kv[i].v.raw_size);
    }
    it_gguf_free(&g2);
    free(buf2);
    it_gguf_writer_free(w);
    it_gguf_free(&g);
    free(buf);
}

static void every_truncation_fails(void **state) {
    (void)state;
    size_t len;
    uint8_t *buf = write_small(&len, 1);
    for (size_t n = 0; n < len; n++) {
        uint8_t *p = malloc(n ? n : 1);
        memcpy(p, buf, n);
        it_gguf g;
        it_err e = {{0}};
        int st = it_gguf_parse(p, n, &g, &e);
        if (st == 0) fail_msg("truncation to %zu of %zu bytes parsed", n, len);
        assert_true(strlen(e.msg) > 0);
        it_gguf_free(&g);
        free(p);
    }
    free(buf);
}

/* Patch a little-endian u64 / u32 in a copy of the small file, expect an error naming `needle`. */
static void expect_error(const uint8_t *buf, size_t len, const char *needle) {
    it_gguf g;
    it_err e = {{0}};
    int st = it_gguf_parse(buf, len, &g, &e);
    if (st == 0) fail_msg("corrupt file parsed (expected an error with '%s')", needle);
    if (!strstr(e.msg, needle)) fail_msg("error '%s' does not mention '%s'", e.msg, needle);
    it_gguf_free(&g);
}

static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }

static size_t find_n(const uint8_t *b, size_t len, const char *s, size_t n) {
    for (size_t i = 0; i + n <= len; i++)
        if (!memcmp(b + i, s, n)) return i;
    fail_msg("'%s' not in file", s);
    return 0;
}

static size_t find(const uint8_t *b, size_t len, const char *s) { return find_n(b, len, s, strlen(s)); }

static void absurd_values_fail(void **state) {
    (void)state;
    size_t len;
    uint8_t *buf = write_small(&len, 1), *c = malloc(len);
#define FRESH() memcpy(c, buf, len)
    FRESH(); put32(c, 0x12345678); expect_error(c, len, "magic");
    FRESH(); put32(c + 4, 1); expect_error(c, len, "version 1");
    FRESH(); put32(c + 4, 7); expect_error(c, len, "version 7");
    FRESH(); put64(c + 8, UINT64_MAX); expect_error(c, len, "tensor count");
    FRESH(); put64(c + 16, (uint64_t)1 << 40); expect_error(c, len, "metadata count");
    /* key length past the end */
    FRESH(); put64(c + 24, (uint64_t)1 << 50); expect_error(c, len, "key at byte 24");
    /* unknown value type of t.u8 */
    size_t k = find(buf, len, "t.u8");
    FRESH(); put32(c + k + 4, 99); expect_error(c, len, "unknown value type 99");
    /* string length past the end */
    k = find(buf, len, "hello");
    FRESH(); put64(c + k - 8, (uint64_t)1 << 60); expect_error(c, len, "t.str");
    /* array count absurd */
    k = find(buf, len, "t.arr_i32");
    FRESH(); put64(c + k + 9 + 4 + 4, (uint64_t)1 << 61); expect_error(c, len, "array of");
    FRESH(); put32(c + k + 9 + 4, 77); expect_error(c, len, "unknown value type 77");
    /* tensor infos: name "a" then ndim, dims, type, offset */
    size_t ga = find(buf, len, "general.alignment"); /* tensor infos follow the metadata */
    k = ga + find_n(buf + ga, len - ga, "\x01\0\0\0\0\0\0\0a", 9) + 9;
    FRESH(); put32(c + k, 1000); expect_error(c, len, "tensor 'a'");
    FRESH(); put64(c + k + 4, (uint64_t)1 << 62); expect_error(c, len, "tensor 'a'");
    FRESH(); put64(c + k + 4, 0xffffffffull); put64(c + k + 12, 0xffffffffull); expect_error(c, len, "exceeds");
    FRESH(); put32(c + k + 20, 1000); expect_error(c, len, "unknown ggml type 1000");
    FRESH(); put32(c + k + 20, IT_GGML_Q8_0); expect_error(c, len, "block size");
    FRESH(); put64(c + k + 24, 1 << 20); expect_error(c, len, "data past end of file");
    FRESH(); put64(c + k + 24, UINT64_MAX - 63); expect_error(c, len, "data past end of file");
    FRESH(); put64(c + k + 24, 8); expect_error(c, len, "alignment");
    /* duplicate tensor name */
    size_t h = ga + find_n(buf + ga, len - ga, "\x01\0\0\0\0\0\0\0h", 9);
    FRESH(); c[h + 8] = 'a'; expect_error(c, len, "duplicate tensor");
    /* alignment not a power of two / wrong type */
    k = find(buf, len, "general.alignment");
    FRESH(); put32(c + k + 17 + 4, 48); expect_error(c, len, "power of two");
    FRESH(); put32(c + k + 17, IT_GGUF_I32); expect_error(c, len, "expected u32");
    FRESH(); put32(c + k + 17 + 4, 1u << 31); expect_error(c, len, "above the limit"); /* a 2 GiB pad */
    /* nested depth: an array of arrays of ... each claiming one element */
    uint8_t deep[24 + 8 + 1 + 4 + 12 * 40];
    memset(deep, 0, sizeof deep);
    put32(deep, IT_GGUF_MAGIC); put32(deep + 4, 3); put64(deep + 16, 1);
    put64(deep + 24, 1); deep[32] = 'k'; put32(deep + 33, IT_GGUF_ARRAY);
    for (int i = 0; i < 40; i++) { put32(deep + 37 + 12 * i, IT_GGUF_ARRAY); put64(deep + 41 + 12 * i, 1); }
    expect_error(deep, sizeof deep, "nested");
#undef FRESH
    free(c);
    free(buf);
}

/* ---- quantization ---- */

static void type_table(void **state) {
    (void)state;
    static const struct { int t; int64_t bs; size_t ts; } want[] = {
        {IT_GGML_F32, 1, 4}, {IT_GGML_F16, 1, 2}, {IT_GGML_Q4_0, 32, 18}, {IT_GGML_Q4_1, 32, 20},
        {IT_GGML_Q5_0, 32, 22}, {IT_GGML_Q5_1, 32, 24}, {IT_GGML_Q8_0, 32, 34}, {IT_GGML_Q8_1, 32, 36},
        {IT_GGML_Q2_K, 256, 84}, {IT_GGML_Q3_K, 256, 110}, {IT_GGML_Q4_K, 256, 144}, {IT_GGML_Q5_K, 256, 176},
        {IT_GGML_Q6_K, 256, 210}, {IT_GGML_Q8_K, 256, 292}, {IT_GGML_BF16, 1, 2}, {IT_GGML_IQ4_XS, 256, 136}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        assert_int_equal(it_ggml_block_size((uint32_t)want[i].t), want[i].bs);
        assert_int_equal(it_ggml_type_size((uint32_t)want[i].t), want[i].ts);
        assert_int_equal(it_ggml_type_from_name(it_ggml_type_name((uint32_t)want[i].t)), want[i].t);
    }
    assert_null(it_ggml_type_name(4));
    assert_int_equal(it_ggml_row_bytes(IT_GGML_Q4_0, 33), -1);
    assert_int_equal(it_ggml_row_bytes(IT_GGML_Q4_K, 512), 288);
}

static float frand(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffff) / 65536.0f - 0.5f;
}

static void quant_round_trip(void **state) {
    (void)state;
    static const struct { int t; double max_rel_rmse; } cases[] = {
        {IT_GGML_F16, 0.001}, {IT_GGML_BF16, 0.005}, {IT_GGML_Q8_0, 0.01}, {IT_GGML_Q8_1, 0.01},
        {IT_GGML_Q4_0, 0.12}, {IT_GGML_Q4_1, 0.08}, {IT_GGML_Q5_0, 0.06}, {IT_GGML_Q5_1, 0.04},
        {IT_GGML_Q2_K, 0.35}, {IT_GGML_Q3_K, 0.2}, {IT_GGML_Q4_K, 0.09}, {IT_GGML_Q5_K, 0.045},
        {IT_GGML_Q6_K, 0.025}, {IT_GGML_Q8_K, 0.01}};
    enum { N = 4096 };
    static float x[N], y[N];
    static uint8_t q[N * 2];
    uint32_t seed = 42;
    for (int i = 0; i < N; i++) x[i] = frand(&seed) * (1 + (i / 256) % 5);
    for (int i = 512; i < 768; i++) x[i] = 0; /* an all-zero super-block */
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        uint32_t t = (uint32_t)cases[c].t;
        assert_int_equal(it_quant_row(t, x, q, N), 0);
        assert_int_equal(it_dequant_row(t, q, y, N), 0);
        double err = 0, ref = 0;
        for (int i = 0; i < N; i++) {
            err += (double)(y[i] - x[i]) * (y[i] - x[i]);
            ref += (double)x[i] * x[i];
        }
        for (int i = 512; i < 768; i++)
            if (y[i] != 0) fail_msg("%s: zero block dequantized to %g", it_ggml_type_name(t), y[i]);
        double rel = sqrt(err / ref);
        if (rel > cases[c].max_rel_rmse) fail_msg("%s: relative rmse %g > %g", it_ggml_type_name(t), rel, cases[c].max_rel_rmse);
    }
    assert_int_equal(it_quant_row(IT_GGML_Q4_0, x, q, 33), INGOT_ERR_INVALID_ARG);
    assert_int_equal(it_dequant_row(IT_GGML_IQ2_XXS, q, y, 256), INGOT_ERR_UNSUPPORTED);
    /* NaN and inf inputs must not crash (values meaningless) */
    for (int i = 0; i < 256; i++) x[i] = i % 3 ? NAN : INFINITY;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) it_quant_row((uint32_t)cases[c].t, x, q, 256);
}

static void hand_built_blocks(void **state) {
    (void)state;
    float y[256];
    uint8_t b[292];
    const uint16_t h2 = it_f32_to_f16(2.0f), h05 = it_f32_to_f16(0.5f), hm = it_f32_to_f16(-1.0f);
    /* Q4_0: x[j] = d*((qs[j]&15)-8), x[j+16] = d*((qs[j]>>4)-8) */
    memcpy(b, &h2, 2);
    for (int j = 0; j < 16; j++) b[2 + j] = (uint8_t)(j | ((15 - j) << 4));
    it_dequant_row(IT_GGML_Q4_0, b, y, 32);
    for (int j = 0; j < 16; j++) { assert_true(y[j] == 2.0f * (j - 8)); assert_true(y[j + 16] == 2.0f * (7 - j)); }
    /* Q4_1: d*q + m */
    memcpy(b, &h05, 2); memcpy(b + 2, &hm, 2);
    for (int j = 0; j < 16; j++) b[4 + j] = (uint8_t)(j | (j << 4));
    it_dequant_row(IT_GGML_Q4_1, b, y, 32);
    for (int j = 0; j < 16; j++) { assert_true(y[j] == 0.5f * j - 1); assert_true(y[j + 16] == 0.5f * j - 1); }
    /* Q5_0: bit j of qh is the 5th bit of element j */
    memcpy(b, &h2, 2);
    uint32_t qh = 0xA5A5F00Fu;
    memcpy(b + 2, &qh, 4);
    for (int j = 0; j < 16; j++) b[6 + j] = (uint8_t)(j | (j << 4));
    it_dequant_row(IT_GGML_Q5_0, b, y, 32);
    for (int j = 0; j < 32; j++) {
        int q = (j % 16) | (int)(((qh >> j) & 1) << 4);
        assert_true(y[j] == 2.0f * (q - 16));
    }
    /* Q5_1 */
    memcpy(b, &h05, 2); memcpy(b + 2, &hm, 2); memcpy(b + 4, &qh, 4);
    for (int j = 0; j < 16; j++) b[8 + j] = (uint8_t)(j | (j << 4));
    it_dequant_row(IT_GGML_Q5_1, b, y, 32);
    for (int j = 0; j < 32; j++) {
        int q = (j % 16) | (int)(((qh >> j) & 1) << 4);
        assert_true(y[j] == 0.5f * q - 1);
    }
    /* Q8_0 */
    memcpy(b, &h05, 2);
    for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)(int8_t)(j * 8 - 128);
    it_dequant_row(IT_GGML_Q8_0, b, y, 32);
    for (int j = 0; j < 32; j++) assert_true(y[j] == 0.5f * (j * 8 - 128));
    /* Q4_K: 8 sub-blocks of 32 with 6-bit scale/min; element l of pair p uses
     * low nibble (sub-block 2p) or high nibble (2p+1) of qs[32p+l] */
    memset(b, 0, sizeof b);
    memcpy(b, &h05, 2); memcpy(b + 2, &h2, 2);
    uint8_t sc[8] = {1, 2, 3, 63, 5, 6, 33, 8}, mn[8] = {0, 1, 2, 3, 4, 5, 6, 63};
    uint8_t *S = b + 4;
    for (int j = 0; j < 8; j++) {
        if (j < 4) { S[j] = sc[j]; S[j + 4] = mn[j]; }
        else {
            S[j + 4] = (uint8_t)((sc[j] & 0xF) | ((mn[j] & 0xF) << 4));
            S[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            S[j] |= (uint8_t)((mn[j] >> 4) << 6);
        }
    }
    for (int i = 0; i < 128; i++) b[16 + i] = (uint8_t)((i * 7) & 0xFF);
    it_dequant_row(IT_GGML_Q4_K, b, y, 256);
    for (int i = 0; i < 256; i++) {
        int p = i / 64, hi = (i % 64) >= 32, l = i % 32, sub = 2 * p + hi;
        int q = hi ? b[16 + 32 * p + l] >> 4 : b[16 + 32 * p + l] & 15;
        assert_true(y[i] == (0.5f * sc[sub]) * q - 2.0f * mn[sub]);
    }
    /* Q6_K: ql low/high nibbles + 2 bits of qh, signed 8-bit scale per 16 */
    memset(b, 0, sizeof b);
    for (int i = 0; i < 128; i++) b[i] = (uint8_t)(i * 13);
    for (int i = 0; i < 64; i++) b[128 + i] = (uint8_t)(i * 29 + 3);
    for (int i = 0; i < 16; i++) b[192 + i] = (uint8_t)(int8_t)(i * 9 - 70);
    memcpy(b + 208, &h05, 2);
    it_dequant_row(IT_GGML_Q6_K, b, y, 256);
    for (int i = 0; i < 256; i++) {
        int half = i / 128, r = i % 128, grp = r / 32, l = r % 32;
        const uint8_t *ql = b + 64 * half, *qhp = b + 128 + 32 * half;
        int lo = grp == 0 ? ql[l] & 15 : grp == 1 ? ql[l + 32] & 15 : grp == 2 ? ql[l] >> 4 : ql[l + 32] >> 4;
        int q = (lo | (((qhp[l] >> (2 * grp)) & 3) << 4)) - 32;
        int8_t s = (int8_t)b[192 + 8 * half + 2 * grp + l / 16];
        assert_true(y[i] == 0.5f * s * q);
    }
}

/* ---- llama2.c ---- */

static void llama2c_reads_stories(void **state) {
    (void)state;
    it_llama2c m;
    it_err e = {{0}};
    if (it_llama2c_open(INGOT_SHARED_DIR "/models/llm/stories260K.bin", &m, &e)) fail_msg("%s", e.msg);
    assert_int_equal(m.c.dim, 64);
    assert_int_equal(m.c.hidden_dim, 172);
    assert_int_equal(m.c.n_layers, 5);
    assert_int_equal(m.c.n_heads, 8);
    assert_int_equal(m.c.n_kv_heads, 4);
    assert_int_equal(m.c.vocab_size, 512);
    assert_int_equal(m.c.seq_len, 512);
    assert_int_equal(m.c.kv_dim, 32);
    assert_true(m.c.shared_classifier);
    assert_ptr_equal(m.wcls, m.tok_emb);
    assert_true((const char *)(m.rms_final + 64) + 512 * 8 * 4 == (const char *)m.map + m.map_len);
    /* truncating the mapping at any multiple of 4 fails */
    for (size_t n = 0; n < m.map_len; n += m.map_len / 97 * 4 / 4 + 4) {
        it_llama2c m2;
        assert_int_not_equal(it_llama2c_parse(m.map, n, &m2, &e), 0);
    }
    it_llama2c_vocab v;
    FILE *f = fopen(INGOT_SHARED_DIR "/models/llm/tok512.bin", "rb");
    assert_non_null(f);
    static uint8_t tb[16384];
    size_t tl = fread(tb, 1, sizeof tb, f);
    fclose(f);
    if (it_llama2c_vocab_parse(tb, tl, 512, &v, &e)) fail_msg("%s", e.msg);
    assert_int_equal(v.n, 512);
    assert_int_equal(v.lens[3], 6);
    assert_memory_equal(v.tokens[3], "<0x00>", 6);
    for (size_t n = 0; n < tl; n += 7) {
        it_llama2c_vocab v2;
        assert_int_not_equal(it_llama2c_vocab_parse(tb, n, 512, &v2, &e), 0);
    }
    { it_llama2c_vocab v3; assert_int_not_equal(it_llama2c_vocab_parse(tb, tl, 513, &v3, &e), 0); }
    it_llama2c_vocab_free(&v);
    /* header corruption */
    static int32_t hdr[64];
    memcpy(hdr, m.map, sizeof hdr);
    hdr[3] = 7;
    assert_int_not_equal(it_llama2c_parse(hdr, m.map_len, &(it_llama2c){0}, &e), 0);
    assert_non_null(strstr(e.msg, "n_heads"));
    it_llama2c_free(&m);
}

static void converts_and_quantizes_stories(void **state) {
    (void)state;
    char err[512];
    const char *out = "test_gguf_stories.gguf", *outq = "test_gguf_stories_q8.gguf";
    ingot_status st = ingot_convert_llama2c(INGOT_SHARED_DIR "/models/llm/stories260K.bin",
                                            INGOT_SHARED_DIR "/models/llm/tok512.bin", out, err, sizeof err);
    if (st) fail_msg("convert: %s", err);
    it_gguf g;
    it_err e = {{0}};
    if (it_gguf_open(out, &g, &e)) fail_msg("%s", e.msg);
    int64_t v;
    assert_int_equal(it_gguf_get_int(&g, "llama.block_count", &v, &e), 0); assert_int_equal(v, 5);
    assert_int_equal(it_gguf_get_int(&g, "llama.attention.head_count_kv", &v, &e), 0); assert_int_equal(v, 4);
    assert_int_equal(it_gguf_get_int(&g, "llama.rope.dimension_count", &v, &e), 0); assert_int_equal(v, 8);
    assert_int_equal(g.n_tensors, 2 + 9 * 5);
    const it_gguf_tensor *t = it_gguf_tensor_get(&g, "blk.4.ffn_down.weight");
    assert_non_null(t);
    assert_int_equal(t->ne[0], 172); assert_int_equal(t->ne[1], 64);
    assert_null(it_gguf_tensor_get(&g, "output.weight"));
    int64_t k = it_gguf_find_key(&g, "tokenizer.ggml.tokens");
    const char *s;
    uint64_t sl;
    assert_int_equal(it_gguf_kv_str(&g, k, 1, &s, &sl, &e), 0);
    assert_int_equal(sl, 3); assert_memory_equal(s, "<s>", 3);
    it_gguf_val types;
    assert_int_equal(it_gguf_get_arr(&g, "tokenizer.ggml.token_type", IT_GGUF_I32, &types, &e), 0);
    int32_t ty;
    memcpy(&ty, types.p + 4 * 3, 4); assert_int_equal(ty, 6); /* <0x00> is a byte token */
    memcpy(&ty, types.p + 4 * 2, 4); assert_int_equal(ty, 3);
    it_gguf_free(&g);
    st = ingot_quantize_gguf(out, outq, "q8_0", 2, err, sizeof err);
    if (st) fail_msg("quantize: %s", err);
    if (it_gguf_open(outq, &g, &e)) fail_msg("%s", e.msg);
    assert_int_equal(it_gguf_get_int(&g, "general.file_type", &v, &e), 0); assert_int_equal(v, 7);
    t = it_gguf_tensor_get(&g, "blk.0.attn_q.weight");
    assert_int_equal(t->type, IT_GGML_Q8_0);
    t = it_gguf_tensor_get(&g, "blk.0.ffn_down.weight"); /* 172 is not a multiple of 32 */
    assert_int_equal(t->type, IT_GGML_F16);
    t = it_gguf_tensor_get(&g, "blk.0.attn_norm.weight");
    assert_int_equal(t->type, IT_GGML_F32);
    it_gguf_free(&g);
    assert_int_not_equal(ingot_quantize_gguf(out, outq, "Q9_9", 1, err, sizeof err), 0);
    assert_int_not_equal(ingot_quantize_gguf("/nonexistent.gguf", outq, "Q4_0", 1, err, sizeof err), 0);
    assert_non_null(strstr(err, "nonexistent"));
    remove(out);
    remove(outq);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_vocab_files),     cmocka_unit_test(round_trip_values),
        cmocka_unit_test(every_truncation_fails), cmocka_unit_test(absurd_values_fail),
        cmocka_unit_test(type_table),             cmocka_unit_test(quant_round_trip),
        cmocka_unit_test(hand_built_blocks),      cmocka_unit_test(llama2c_reads_stories),
        cmocka_unit_test(converts_and_quantizes_stories),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
