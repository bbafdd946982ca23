/*
 * test_tokenizer.c: the tokenizers of src/llm/tokenizer on small hand-built vocabularies:
 * SentencePiece BPE (merges by score, byte fallback, invalid UTF-8 as byte tokens, the space
 * prefix), byte-level BPE (merges by rank, lossless round trips of any bytes, every
 * pre-tokenizer regex compiles), WordPiece (lowercase, accents, punctuation, [UNK], both the
 * GGUF and the tokenizer.json piece conventions), special-token parsing, streaming
 * detokenization that holds back partial UTF-8, empty and huge inputs, bad descriptors.
 * The real vocabularies are covered by tests/conformance/tokenizer_conformance.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llm/tokenizer/tokenizer.h"

/* ---------------------------------------------------------------- vocab builders */

#define MAXV 600

typedef struct vb {
    it_vocab_str tok[MAXV];
    float score[MAXV];
    int32_t type[MAXV];
    char text[MAXV][16];
    int n;
    it_vocab_str merge[64];
    char mtext[64][24];
    int nm;
} vb;

static int vb_add(vb *v, const char *s, float score, int type) {
    int i = v->n++;
    assert_true(i < MAXV);
    size_t n = strlen(s);
    assert_true(n < sizeof v->text[i]);
    memcpy(v->text[i], s, n + 1);
    v->tok[i] = (it_vocab_str){v->text[i], n};
    v->score[i] = score;
    v->type[i] = type;
    return i;
}

static void vb_merge(vb *v, const char *s) {
    int i = v->nm++;
    assert_true(i < 64);
    snprintf(v->mtext[i], sizeof v->mtext[i], "%s", s);
    v->merge[i] = (it_vocab_str){v->mtext[i], strlen(s)};
}

static int32_t find(const it_tokenizer *t, const char *s) { return it_tok_find(t, s, strlen(s)); }

static void tokenize(const it_tokenizer *t, const char *s, int flags, int32_t *out, size_t *n) {
    it_err e = {""};
    int st = it_tok_tokenize(t, s, strlen(s), flags, out, 256, n, &e);
    if (st) fail_msg("tokenize '%s': %s", s, e.msg);
}

static void expect_ids(const it_tokenizer *t, const char *s, int flags, const char *const *want, int nwant) {
    int32_t ids[256];
    size_t n;
    tokenize(t, s, flags, ids, &n);
    if ((int)n != nwant) {
        char buf[512] = "";
        for (size_t i = 0; i < n; i++) {
            size_t l;
            const char *p = it_tok_text(t, ids[i], &l);
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), " [%.*s]", (int)l, p);
        }
        fail_msg("'%s': %zu tokens, want %d:%s", s, n, nwant, buf);
    }
    for (int i = 0; i < nwant; i++) {
        int32_t id = find(t, want[i]);
        if (id < 0) fail_msg("'%s' not in vocab", want[i]);
        if (ids[i] != id) fail_msg("'%s': token %d is %d, want %d ('%s')", s, i, ids[i], id, want[i]);
    }
}

static char *detok(const it_tokenizer *t, const int32_t *ids, size_t n, int flags, size_t *len) {
    int64_t need = it_tok_detokenize(t, ids, n, flags, NULL, 0);
    assert_true(need >= 0);
    char *b = malloc((size_t)need + 1);
    assert_int_equal(it_tok_detokenize(t, ids, n, flags, b, (size_t)need), need);
    b[need] = 0;
    *len = (size_t)need;
    return b;
}

/* SentencePiece vocab: <unk> <s> </s> <0x00>..<0xFF> then pieces with scores */
static it_tokenizer *make_spm(vb *v, int with_specials) {
    memset(v, 0, sizeof *v);
    vb_add(v, "<unk>", 0, IT_TOKEN_UNKNOWN);
    vb_add(v, "<s>", 0, IT_TOKEN_CONTROL);
    vb_add(v, "</s>", 0, IT_TOKEN_CONTROL);
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        vb_add(v, s, 0, IT_TOKEN_BYTE);
    }
    static const struct {
        const char *s;
        float score;
    } p[] = {{"\xe2\x96\x81", -1},   {"h", -2},          {"e", -2},         {"l", -2},
             {"o", -2},              {"w", -2},          {"r", -2},         {"d", -2},
             {"\xe2\x96\x81h", -3},  {"ll", -3},         {"\xe2\x96\x81he", -4}, {"llo", -5},
             {"\xe2\x96\x81hello", -6}, {"\xe2\x96\x81w", -3}, {"or", -4},      {"\xe2\x96\x81wor", -5},
             {"\xe2\x96\x81world", -7}, {"ld", -6},      {"\xe2\x96\x81worl", -9}, {"\xe4\xbd\xa0", -2}};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) vb_add(v, p[i].s, p[i].score, IT_TOKEN_NORMAL);
    if (with_specials) {
        vb_add(v, "<|im_start|>", 0, IT_TOKEN_CONTROL);
        vb_add(v, "<tool>", 0, IT_TOKEN_USER_DEFINED);
    }
    it_vocab_desc d;
    it_vocab_desc_init(&d);
    d.model = "llama";
    d.n_tokens = v->n;
    d.tokens = v->tok;
    d.scores = v->score;
    d.token_types = v->type;
    d.bos_id = 1;
    d.eos_id = 2;
    d.unk_id = 0;
    it_tokenizer *t = NULL;
    it_err e = {""};
    if (it_tok_create(&d, &t, &e)) fail_msg("create spm: %s", e.msg);
    return t;
}

/* byte-level BPE vocab: the 256 byte characters (in byte order) plus merged pieces */
static it_tokenizer *make_bpe(vb *v, const char *pre, it_err *err) {
    memset(v, 0, sizeof *v);
    for (int b = 0; b < 256; b++) {
        /* GPT-2 bytes_to_unicode */
        uint32_t cp;
        int printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        if (printable) {
            cp = (uint32_t)b;
        } else {
            int k = 0;
            for (int i = 0; i < b; i++)
                k += !((i >= 0x21 && i <= 0x7E) || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF));
            cp = 256u + (uint32_t)k;
        }
        char s[4] = {0};
        if (cp < 0x80) s[0] = (char)cp;
        else s[0] = (char)(0xC0 | (cp >> 6)), s[1] = (char)(0x80 | (cp & 0x3F));
        vb_add(v, s, 0, IT_TOKEN_NORMAL);
    }
    static const char *const merges[] = {"h e", "l l", "he ll", "hell o", "\xc4\xa0 w", "o r", "\xc4\xa0w or",
                                         "l d", "\xc4\xa0wor ld"};
    static const char *const pieces[] = {"he", "ll", "hell", "hello", "\xc4\xa0w", "or", "\xc4\xa0wor", "ld",
                                         "\xc4\xa0world"};
    for (size_t i = 0; i < sizeof merges / sizeof merges[0]; i++) {
        vb_merge(v, merges[i]);
        vb_add(v, pieces[i], 0, IT_TOKEN_NORMAL);
    }
    vb_add(v, "<|endoftext|>", 0, IT_TOKEN_CONTROL);
    it_vocab_desc d;
    it_vocab_desc_init(&d);
    d.model = "gpt2";
    d.pre = pre;
    d.n_tokens = v->n;
    d.tokens = v->tok;
    d.token_types = v->type;
    d.merges = v->merge;
    d.n_merges = v->nm;
    d.eos_id = d.bos_id = v->n - 1;
    it_tokenizer *t = NULL;
    it_err e = {""};
    int st = it_tok_create(&d, &t, err ? err : &e);
    if (st && !err) fail_msg("create bpe '%s': %s", pre ? pre : "(null)", e.msg);
    return t;
}

static it_tokenizer *make_wpm(vb *v, int hash_style) {
    memset(v, 0, sizeof *v);
    vb_add(v, "[PAD]", 0, IT_TOKEN_CONTROL);
    vb_add(v, "[UNK]", 0, IT_TOKEN_CONTROL);
    vb_add(v, "[CLS]", 0, IT_TOKEN_CONTROL);
    vb_add(v, "[SEP]", 0, IT_TOKEN_CONTROL);
    static const char *const words[] = {"hello", "un", "world", ",", "!", "cafe", "\xe4\xbd\xa0"};
    static const char *const conts[] = {"aff", "able", "s"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        char s[16];
        snprintf(s, sizeof s, "%s%s", hash_style ? "" : "\xe2\x96\x81", words[i]);
        vb_add(v, s, 0, IT_TOKEN_NORMAL);
    }
    for (size_t i = 0; i < sizeof conts / sizeof conts[0]; i++) {
        char s[16];
        snprintf(s, sizeof s, "%s%s", hash_style ? "##" : "", conts[i]);
        vb_add(v, s, 0, IT_TOKEN_NORMAL);
    }
    it_vocab_desc d;
    it_vocab_desc_init(&d);
    d.model = "bert";
    d.n_tokens = v->n;
    d.tokens = v->tok;
    d.token_types = v->type;
    d.unk_id = 1;
    d.cls_id = 2;
    d.sep_id = 3;
    d.pad_id = 0;
    it_tokenizer *t = NULL;
    it_err e = {""};
    if (it_tok_create(&d, &t, &e)) fail_msg("create wpm: %s", e.msg);
    return t;
}

/* ---------------------------------------------------------------- SentencePiece */

static void spm_merges_and_round_trip(void **state) {
    (void)state;
    vb v;
    it_tokenizer *t = make_spm(&v, 0);
    expect_ids(t, "hello world", 0, (const char *const[]){"\xe2\x96\x81hello", "\xe2\x96\x81world"}, 2);
    expect_ids(t, "hello", IT_TOK_ADD_SPECIAL, (const char *const[]){"<s>", "\xe2\x96\x81hello"}, 2);
    int32_t ids[256];
    size_t n, len;
    tokenize(t, "hello world", 0, ids, &n);
    char *s = detok(t, ids, n, 0, &len);
    assert_string_equal(s, "hello world");
    free(s);
    /* with BOS, the BOS renders nothing and is skipped on request */
    tokenize(t, "hello  world", IT_TOK_ADD_SPECIAL, ids, &n);
    s = detok(t, ids, n, IT_TOK_SKIP_SPECIAL, &len);
    assert_string_equal(s, "hello  world");
    free(s);
    s = detok(t, ids, n, IT_TOK_RENDER_SPECIAL, &len);
    assert_string_equal(s, "<s> hello  world");
    free(s);
    it_tok_free(t);
}

static void spm_byte_fallback(void **state) {
    (void)state;
    vb v;
    it_tokenizer *t = make_spm(&v, 0);
    /* é is not a piece: its two bytes become <0xC3> <0xA9>; 你 is a piece */
    expect_ids(t, "\xc3\xa9\xe4\xbd\xa0", 0,
               (const char *const[]){"\xe2\x96\x81", "<0xC3>", "<0xA9>", "\xe4\xbd\xa0"}, 4);
    int32_t ids[256];
    size_t n, len;
    tokenize(t, "h\xc3\xa9llo \xf0\x9f\x98\x80!", 0, ids, &n);
    char *s = detok(t, ids, n, 0, &len);
    assert_string_equal(s, "h\xc3\xa9llo \xf0\x9f\x98\x80!");
    free(s);
    char piece[16];
    assert_int_equal(it_tok_piece(t, find(t, "<0x41>"), 0, piece, sizeof piece), 1);
    assert_int_equal(piece[0], 'A');
    assert_int_equal(it_tok_piece(t, find(t, "\xe2\x96\x81hello"), 0, piece, sizeof piece), 6);
    assert_memory_equal(piece, " hello", 6);
    assert_int_equal(it_tok_piece(t, find(t, "\xe2\x96\x81hello"), IT_TOK_STRIP_LEADING, piece, sizeof piece), 5);
    assert_int_equal(it_tok_piece(t, find(t, "<s>"), 0, piece, sizeof piece), 0);
    assert_int_equal(it_tok_piece(t, find(t, "<s>"), IT_TOK_RENDER_SPECIAL, piece, sizeof piece), 3);
    assert_true(it_tok_piece(t, -1, 0, piece, sizeof piece) < 0);
    assert_true(it_tok_piece(t, it_tok_n_tokens(t), 0, piece, sizeof piece) < 0);
    it_tok_free(t);
}

static void spm_invalid_utf8(void **state) {
    (void)state;
    vb v;
    it_tokenizer *t = make_spm(&v, 0);
    /* invalid bytes map to byte tokens; nothing is lost */
    static const char *const cases[] = {"\xff\xfe", "a\xe2\x96", "\xc0\x80", "\xed\xa0\x80x", "\xf4\x90\x80\x80",
                                        "\x80\x80\x80", "he\xe4\xbdllo", "\xf0\x9f\x98"};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int32_t ids[256];
        size_t n, len;
        tokenize(t, cases[c], 0, ids, &n);
        char *s = detok(t, ids, n, 0, &len);
        if (len != strlen(cases[c]) || memcmp(s, cases[c], len) != 0) fail_msg("case %zu does not round-trip", c);
        free(s);
    }
    int32_t ids[8];
    size_t n;
    tokenize(t, "\xff", 0, ids, &n);
    assert_int_equal(n, 2);
    assert_int_equal(ids[1], find(t, "<0xFF>"));
    it_tok_free(t);
}

static void spm_special_tokens(void **state) {
    (void)state;
    vb v;
    it_tokenizer *t = make_spm(&v, 1);
    int32_t im = find(t, "<|im_start|>"), tool = find(t, "<tool>");
    int32_t ids[256];
    size_t n;
    /* parsed: the control token is one id, and text after it gets the space prefix again */
    tokenize(t, "<|im_start|>hello", IT_TOK_PARSE_SPECIAL, ids, &n);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], im);
    assert_int_equal(ids[1], find(t, "\xe2\x96\x81hello"));
    /* not parsed: the text is tokenized as text */
    tokenize(t, "<|im_start|>hello", 0, ids, &n);
    for (size_t i = 0; i < n; i++) assert_int_not_equal(ids[i], im);
    assert_true(n > 2);
    /* user-defined tokens are always matched */
    tokenize(t, "hello<tool>world", 0, ids, &n);
    assert_int_equal(n, 3);
    assert_int_equal(ids[1], tool);
    assert_int_equal(ids[2], find(t, "\xe2\x96\x81world"));
    /* a special token split across the end and other partial matches do not match */
    tokenize(t, "<|im_start", IT_TOK_PARSE_SPECIAL, ids, &n);
    for (size_t i = 0; i < n; i++) assert_int_not_equal(ids[i], im);
    tokenize(t, "<|im_start|><|im_start|>", IT_TOK_PARSE_SPECIAL, ids, &n);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], im);
    assert_int_equal(ids[1], im);
    assert_true(it_tok_is_eog(t, 2));
    assert_false(it_tok_is_eog(t, im));
    assert_true(it_tok_is_control(t, im));
    it_tok_free(t);
}

static void empty_input(void **state) {
    (void)state;
    vb v;
    it_tokenizer *t = make_spm(&v, 0);
    int32_t ids[4];
    size_t n = 99;
    it_err e = {""};
    assert_int_equal(it_tok_tokenize(t, "", 0, 0, ids, 4, &n, &e), INGOT_OK);
    assert_int_equal(n, 0);
    assert_int_equal(it_tok_tokenize(t, NULL, 0, IT_TOK_ADD_SPECIAL, ids, 4, &n, &e), INGOT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 1);
    int32_t *a = (int32_t *)1;
    assert_int_equal(it_tok_tokenize_alloc(t, "", 0, 0, &a, &n, &e), INGOT_OK);
    assert_null(a);
    assert_int_equal(n, 0);
    assert_int_equal(it_tok_detokenize(t, NULL, 0, 0, NULL, 0), 0);
    it_tok_free(t);
    t = make_bpe(&v, "gpt-2", NULL);
    assert_int_equal(it_tok_tokenize(t, "", 0, IT_TOK_ADD_SPECIAL, ids, 4, &n, &e), INGOT_OK);
    assert_int_equal(n, 0); /* gpt2 adds no BOS by default */
    it_tok_free(t);
    t = make_wpm(&v, 0);
    assert_int_equal(it_tok_tokenize(t, "", 0, IT_TOK_ADD_SPECIAL, ids, 4, &n, &e), INGOT_OK);
    assert_int_equal(n, 2); /* [CLS] [SEP] */
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], 3);
    it_tok_free(t);
}

static void capacity_and_bounds(void **state) {
    (void)state;
    vb v;
    it_tokenizer *t = make_spm(&v, 0);
    int32_t ids[2];
    size_t n;
    it_err e = {""};
    assert_int_equal(it_tok_tokenize(t, "hello world hello", 17, 0, ids, 2, &n, &e), INGOT_ERR_LIMIT);
    assert_int_equal(n, 3);
    assert_non_null(strstr(e.msg, "3 tokens"));
    it_tok_free(t);

    /* the input bound of the descriptor */
    memset(&v, 0, sizeof v);
    vb_add(&v, "a", 0, IT_TOKEN_NORMAL);
    it_vocab_desc d;
    it_vocab_desc_init(&d);
    d.model = "llama";
    d.n_tokens = v.n;
    d.tokens = v.tok;
    d.max_input_bytes = 1000;
    assert_int_equal(it_tok_create(&d, &t, &e), INGOT_OK);
    char *big = malloc(1001);
    memset(big, 'a', 1001);
    int32_t *a = NULL;
    assert_int_equal(it_tok_tokenize_alloc(t, big, 1001, 0, &a, &n, &e), INGOT_ERR_LIMIT);
    assert_null(a);
    assert_non_null(strstr(e.msg, "exceeds"));
    assert_int_equal(it_tok_tokenize_alloc(t, big, 1000, 0, &a, &n, &e), INGOT_OK);
    free(a);
    free(big);
    it_tok_free(t);
}

static void huge_inputs(void **state) {
    (void)state;
    /* a few MiB through each algorithm: whitespace runs, words, random bytes, one long word */
    size_t len = 3u << 20;
    char *s = malloc(len);
    uint32_t x = 12345;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        size_t blk = i >> 18;
        s[i] = blk % 4 == 0 ? ' ' : blk % 4 == 1 ? "hello world"[i % 11] : blk % 4 == 2 ? (char)(x >> 16) : 'a';
    }
    vb v;
    it_tokenizer *ts[3] = {make_spm(&v, 0), make_bpe(&v, "llama-bpe", NULL), make_wpm(&v, 0)};
    for (int k = 0; k < 3; k++) {
        int32_t *ids = NULL;
        size_t n = 0;
        it_err e = {""};
        int st = it_tok_tokenize_alloc(ts[k], s, len, 0, &ids, &n, &e);
        if (st) fail_msg("tokenizer %d: %s", k, e.msg);
        assert_true(n > 0);
        if (k == 1) { /* byte-level BPE is lossless */
            size_t l;
            char *back = detok(ts[k], ids, n, 0, &l);
            assert_int_equal(l, len);
            assert_memory_equal(back, s, len);
            free(back);
        }
        free(ids);
        it_tok_free(ts[k]);
    }
    free(s);
}

/* ---------------------------------------------------------------- byte-level BPE */

static void bpe_merges_by_rank(void **state) {
    (void)state;
    vb v;
    it_tokenizer *t = make_bpe(&v, "gpt-2", NULL);
    expect_ids(t, "hello world", 0, (const char *const[]){"hello", "\xc4\xa0world"}, 2);
    expect_ids(t, "hellow", 0, (const char *const[]){"hello", "w"}, 2);
    /* the pre-tokenizer splits "hello" from "'s" and digits from letters */
    expect_ids(t, "hello's 42", 0, (const char *const[]){"hello", "'", "s", "\xc4\xa0", "4", "2"}, 6);
    /* special token text only with PARSE_SPECIAL */
    int32_t ids[256];
    size_t n;
    tokenize(t, "hello<|endoftext|>", IT_TOK_PARSE_SPECIAL, ids, &n);
    assert_int_equal(n, 2);
    assert_int_equal(ids[1], find(t, "<|endoftext|>"));
    tokenize(t, "hello<|endoftext|>", 0, ids, &n);
    assert_true(n > 2);
    it_tok_free(t);
}

static void bpe_round_trip_any_bytes(void **state) {
    (void)state;
    vb v;
    it_tokenizer *t = make_bpe(&v, "qwen2", NULL);
    uint32_t x = 7;
    char buf[300];
    for (int iter = 0; iter < 300; iter++) {
        size_t len = (size_t)(iter % 97) + 1;
        for (size_t i = 0; i < len; i++) {
            x = x * 1664525u + 1013904223u;
            buf[i] = (char)(x >> 24);
        }
        int32_t *ids;
        size_t n, l;
        it_err e = {""};
        assert_int_equal(it_tok_tokenize_alloc(t, buf, len, 0, &ids, &n, &e), INGOT_OK);
        char *back = detok(t, ids, n, 0, &l);
        assert_int_equal(l, len);
        assert_memory_equal(back, buf, len);
        free(back);
        free(ids);
    }
    it_tok_free(t);
}

static void bpe_every_pre_tokenizer(void **state) {
    (void)state;
    static const char *const names[] = {
        "default", "llama3", "llama-bpe", "dbrx", "deepseek-llm", "deepseek-coder", "deepseek-v3", "falcon",
        "starcoder", "refact", "smollm", "command-r", "gpt-2", "mpt", "olmo", "roberta-bpe", "qwen2",
        "deepseek-r1-qwen", "stablelm2", "qwen35", "poro-chat", "bloom", "viking", "chameleon", "tekken",
        "gpt-4o", "llama4", "bailingmoe", "seed-coder", "grok-2", "ufakzeka", "glm4", "exaone", NULL};
    static const char text[] = "Hello, y'all! How are you \xf0\x9f\x98\x81 ?\xe6\x88\x91\xe6\x83\xb3 3333 "
                               "\xd0\x9d\xd0\xb5 \xe1\x9e\x80\xe1\x9e\xb6 \t\n\n  x\xff\xfe '\"s <sentinel:3>";
    vb v;
    for (int i = 0; names[i]; i++) {
        it_tokenizer *t = make_bpe(&v, names[i], NULL);
        int32_t *ids;
        size_t n, l;
        it_err e = {""};
        if (it_tok_tokenize_alloc(t, text, sizeof text - 1, 0, &ids, &n, &e)) fail_msg("%s: %s", names[i], e.msg);
        char *back = detok(t, ids, n, 0, &l);
        if (l != sizeof text - 1 || memcmp(back, text, l) != 0) fail_msg("%s: no round trip", names[i]);
        free(back);
        free(ids);
        it_tok_free(t);
    }
    it_err e = {""};
    assert_null(make_bpe(&v, "no-such-pre", &e));
    assert_non_null(strstr(e.msg, "no-such-pre"));
}

/* ---------------------------------------------------------------- WordPiece */

static void wpm_words(void **state) {
    (void)state;
    for (int style = 0; style < 2; style++) {
        vb v;
        it_tokenizer *t = make_wpm(&v, style);
        const char *P = style ? "" : "\xe2\x96\x81", *C = style ? "##" : "";
        char w_hello[16], w_comma[16], w_un[16], c_aff[16], c_able[16], w_bang[16], w_cafe[16], c_s[16], w_ni[16];
        snprintf(w_hello, 16, "%shello", P);
        snprintf(w_comma, 16, "%s,", P);
        snprintf(w_un, 16, "%sun", P);
        snprintf(c_aff, 16, "%saff", C);
        snprintf(c_able, 16, "%sable", C);
        snprintf(w_bang, 16, "%s!", P);
        snprintf(w_cafe, 16, "%scafe", P);
        snprintf(c_s, 16, "%ss", C);
        snprintf(w_ni, 16, "%s\xe4\xbd\xa0", P);
        expect_ids(t, "Hello, UNAFFABLE!", 0, (const char *const[]){w_hello, w_comma, w_un, c_aff, c_able, w_bang},
                   6);
        /* accents stripped, lowercase, CJK split, control characters dropped */
        expect_ids(t, "CAF\xc3\x89S\xe4\xbd\xa0hel\x01lo", 0, (const char *const[]){w_cafe, c_s, w_ni, w_hello}, 4);
        /* a word without a full cover is one [UNK]; invalid UTF-8 is dropped */
        const char *w_world = P[0] ? "\xe2\x96\x81world" : "world";
        expect_ids(t, "hellox \xff world", IT_TOK_ADD_SPECIAL,
                   (const char *const[]){"[CLS]", "[UNK]", w_world, "[SEP]"}, 4);
        int32_t ids[256];
        size_t n, len;
        tokenize(t, "hello, unaffable", 0, ids, &n);
        char *s = detok(t, ids, n, 0, &len);
        assert_string_equal(s, style ? " hello , unaffable" : " hello , unaffable");
        free(s);
        /* a 101-character word is [UNK] */
        char longw[128];
        memset(longw, 's', 101);
        memcpy(longw, "hello", 5);
        longw[101] = 0;
        tokenize(t, longw, 0, ids, &n);
        assert_int_equal(n, 1);
        assert_int_equal(ids[0], 1);
        it_tok_free(t);
    }
}

/* ---------------------------------------------------------------- streaming */

static void utf8_incomplete_tail(void **state) {
    (void)state;
    assert_int_equal(it_utf8_incomplete_tail("abc", 3), 0);
    assert_int_equal(it_utf8_incomplete_tail("a\xc3", 2), 1);
    assert_int_equal(it_utf8_incomplete_tail("\xc3\xa9", 2), 0);
    assert_int_equal(it_utf8_incomplete_tail("\xe2\x96", 2), 2);
    assert_int_equal(it_utf8_incomplete_tail("\xf0\x9f\x98", 3), 3);
    assert_int_equal(it_utf8_incomplete_tail("\xf0\x9f\x98\x80", 4), 0);
    assert_int_equal(it_utf8_incomplete_tail("\xff", 1), 0);         /* invalid, not incomplete */
    assert_int_equal(it_utf8_incomplete_tail("\x80\x80\x80", 3), 0); /* no lead byte */
    assert_int_equal(it_utf8_incomplete_tail("\xed\xa0", 2), 0);     /* would be a surrogate */
    assert_int_equal(it_utf8_incomplete_tail("", 0), 0);
}

static void stream_holds_partial_utf8(void **state) {
    (void)state;
    vb v;
    it_tokenizer *t = make_spm(&v, 0);
    /* 😀 = F0 9F 98 80 as four byte tokens, then ▁hello */
    int32_t ids[5] = {find(t, "<0xF0>"), find(t, "<0x9F>"), find(t, "<0x98>"), find(t, "<0x80>"),
                      find(t, "\xe2\x96\x81hello")};
    it_tok_stream s;
    it_tok_stream_init(&s, 0);
    char out[64];
    size_t total = 0;
    char all[64];
    for (int i = 0; i < 3; i++) assert_int_equal(it_tok_stream_push(t, &s, ids[i], out, sizeof out), 0);
    int64_t k = it_tok_stream_push(t, &s, ids[3], out, sizeof out);
    assert_int_equal(k, 4);
    assert_memory_equal(out, "\xf0\x9f\x98\x80", 4);
    memcpy(all + total, out, 4), total += 4;
    k = it_tok_stream_push(t, &s, ids[4], out, sizeof out);
    assert_int_equal(k, 6);
    assert_memory_equal(out, " hello", 6);
    assert_int_equal(it_tok_stream_flush(&s, out, sizeof out), 0);
    /* a dangling lead byte at the end becomes U+FFFD */
    assert_int_equal(it_tok_stream_push(t, &s, find(t, "<0xE4>"), out, sizeof out), 0);
    assert_int_equal(it_tok_stream_flush(&s, out, sizeof out), 3);
    assert_memory_equal(out, "\xef\xbf\xbd", 3);
    /* an invalid byte is not held */
    assert_int_equal(it_tok_stream_push(t, &s, find(t, "<0xFF>"), out, sizeof out), 1);
    /* too small a buffer consumes nothing */
    it_tok_stream_init(&s, IT_TOK_STRIP_LEADING);
    assert_int_equal(it_tok_stream_push(t, &s, ids[4], out, 2), INGOT_ERR_LIMIT);
    assert_int_equal(it_tok_stream_push(t, &s, ids[4], out, sizeof out), 5); /* leading space stripped */
    assert_memory_equal(out, "hello", 5);
    assert_int_equal(it_tok_stream_push(t, &s, ids[4], out, sizeof out), 6);
    it_tok_free(t);
}

/* ---------------------------------------------------------------- bad descriptors */

static void bad_descriptors(void **state) {
    (void)state;
    vb v;
    memset(&v, 0, sizeof v);
    vb_add(&v, "a", 0, IT_TOKEN_NORMAL);
    vb_add(&v, "b", 0, IT_TOKEN_NORMAL);
    vb_add(&v, "a", 0, IT_TOKEN_NORMAL);
    it_vocab_desc d;
    it_vocab_desc_init(&d);
    d.model = "llama";
    d.n_tokens = v.n;
    d.tokens = v.tok;
    it_tokenizer *t = (it_tokenizer *)1;
    it_err e = {""};
    assert_int_equal(it_tok_create(&d, &t, &e), INGOT_ERR_FORMAT);
    assert_null(t);
    assert_non_null(strstr(e.msg, "duplicates"));
    d.n_tokens = 2;
    d.model = "rwkv";
    assert_int_equal(it_tok_create(&d, &t, &e), INGOT_ERR_UNSUPPORTED);
    assert_non_null(strstr(e.msg, "rwkv"));
    d.model = NULL;
    assert_int_equal(it_tok_create(&d, &t, &e), INGOT_ERR_FORMAT);
    d.model = "llama";
    d.n_tokens = 0;
    assert_int_equal(it_tok_create(&d, &t, &e), INGOT_ERR_FORMAT);
    d.n_tokens = 2;
    d.tokens = NULL;
    assert_int_equal(it_tok_create(&d, &t, &e), INGOT_ERR_FORMAT);
    /* out-of-range special ids and types are ignored, not trusted */
    d.tokens = v.tok;
    d.bos_id = 99;
    d.unk_id = -7;
    int32_t types[2] = {77, -3};
    d.token_types = types;
    assert_int_equal(it_tok_create(&d, &t, &e), INGOT_OK);
    assert_int_equal(it_tok_special_id(t, IT_TOK_ID_BOS), -1);
    assert_int_equal(it_tok_special_id(t, IT_TOK_ID_UNK), -1);
    assert_int_equal(it_tok_type(t, 0), IT_TOKEN_UNDEFINED);
    int32_t ids[8];
    size_t n;
    assert_int_equal(it_tok_tokenize(t, "ab\xff", 3, IT_TOK_ADD_SPECIAL, ids, 8, &n, &e), INGOT_OK);
    it_tok_free(t);
    /* merges that name unknown tokens or lack a space are skipped */
    memset(&v, 0, sizeof v);
    vb_add(&v, "a", 0, IT_TOKEN_NORMAL);
    vb_merge(&v, "a");
    vb_merge(&v, "a zz");
    vb_merge(&v, "");
    it_vocab_desc_init(&d);
    d.model = "gpt2";
    d.pre = "gpt-2";
    d.n_tokens = v.n;
    d.tokens = v.tok;
    d.merges = v.merge;
    d.n_merges = v.nm;
    assert_int_equal(it_tok_create(&d, &t, &e), INGOT_OK);
    assert_int_equal(it_tok_tokenize(t, "aa b", 4, 0, ids, 8, &n, &e), INGOT_OK);
    assert_int_equal(n, 2); /* "a" "a"; " " and "b" have no token and no unk */
    it_tok_free(t);
    it_tok_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spm_merges_and_round_trip),
        cmocka_unit_test(spm_byte_fallback),
        cmocka_unit_test(spm_invalid_utf8),
        cmocka_unit_test(spm_special_tokens),
        cmocka_unit_test(empty_input),
        cmocka_unit_test(capacity_and_bounds),
        cmocka_unit_test(huge_inputs),
        cmocka_unit_test(bpe_merges_by_rank),
        cmocka_unit_test(bpe_round_trip_any_bytes),
        cmocka_unit_test(bpe_every_pre_tokenizer),
        cmocka_unit_test(wpm_words),
        cmocka_unit_test(utf8_incomplete_tail),
        cmocka_unit_test(stream_holds_partial_utf8),
        cmocka_unit_test(bad_descriptors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
