/*
 * test_llm.c: the LLM engine on a real model and on hand-made data. stories260K (a
 * llama2.c Llama) converted to GGUF with the convert API must generate greedily the
 * published llama2.c text, also when loaded from the .bin directly and when quantized to
 * Q8_0; prompts decoded together in one batch must give bit-identical logits to each
 * decoded alone (and across thread counts); the sampler's steps are checked on hand-made
 * logits (masks of top-k / top-p / min-p / typical-p, penalties, bias, seeded draws, log
 * probs) and stop strings; limits (prompt past the context, bad batches) must be errors.
 * The kernels' tiers: test_llm_kernels.c.
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

#include <cmocka.h>

#include "formats/gguf.h"
#include "ingot_llm.h"
#include "ingot_llm_sched.h"
#include "kernels/qdot.h"
#include "llm/context.h"
#include "llm/kv_cache.h"
#include "llm/model.h"
#include "llm/sampler.h"
#include "tensor/quant.h"
#include "tensor/tensor.h"

#define MODEL_BIN INGOT_SHARED_DIR "/models/llm/stories260K.bin"
#define TOK_BIN INGOT_SHARED_DIR "/models/llm/tok512.bin"
static const char EXPECTED[] =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";

static char gguf_path[256], q8_path[256];

static int setup(void **state) {
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(gguf_path, sizeof gguf_path, "%s/ingot_test_llm_%d.gguf", tmp ? tmp : "/tmp", (int)getpid());
    snprintf(q8_path, sizeof q8_path, "%s/ingot_test_llm_%d_q8.gguf", tmp ? tmp : "/tmp", (int)getpid());
    char err[512];
    if (ingot_convert_llama2c(MODEL_BIN, TOK_BIN, gguf_path, err, sizeof err)) {
        fprintf(stderr, "convert: %s\n", err);
        return -1;
    }
    if (ingot_quantize_gguf(gguf_path, q8_path, "Q8_0", 1, err, sizeof err)) {
        fprintf(stderr, "quantize: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    unlink(gguf_path);
    unlink(q8_path);
    return 0;
}

typedef struct textbuf {
    char s[4096];
    size_t n;
    int calls;
} textbuf;

static int collect(void *user, const char *text, size_t len, const ingot_llm_token *tok) {
    textbuf *b = user;
    (void)tok;
    b->calls++;
    if (b->n + len < sizeof b->s) {
        memcpy(b->s + b->n, text, len);
        b->n += len;
        b->s[b->n] = 0;
    }
    return 0;
}

/* prompt + generated text of a greedy run */
static void greedy(const char *path, const char *tok, const char *prompt, int n, int threads, textbuf *out) {
    char err[512];
    ingot_llm *m = NULL;
    ingot_llm_ctx *c = NULL;
    ingot_status st = ingot_llm_load(path, tok, &m, err, sizeof err);
    if (st) fail_msg("load %s: %s", path, err);
    ingot_llm_ctx_params cp;
    ingot_llm_ctx_params_default(&cp);
    cp.n_threads = threads;
    if ((st = ingot_llm_ctx_create(m, &cp, &c, err, sizeof err))) fail_msg("ctx: %s", err);
    ingot_llm_gen_params gp;
    ingot_llm_gen_params_default(&gp);
    gp.temp = 0;
    gp.max_tokens = n;
    memset(out, 0, sizeof *out);
    snprintf(out->s, sizeof out->s, "%s", prompt);
    out->n = strlen(out->s);
    ingot_llm_gen_stats gs;
    st = ingot_llm_generate(c, prompt, strlen(prompt), &gp, collect, out, &gs);
    if (st) fail_msg("generate: %s", ingot_llm_ctx_error(c));
    assert_int_equal(gs.n_prompt, 5);
    ingot_llm_ctx_free(c);
    ingot_llm_free(m);
}

static void greedy_gguf(void **state) {
    (void)state;
    textbuf b;
    greedy(gguf_path, NULL, "Once upon a time", 40, 2, &b);
    if (strncmp(b.s, EXPECTED, strlen(EXPECTED))) fail_msg("got: %s", b.s);
    ingot_llm *m;
    char err[256];
    assert_int_equal(ingot_llm_load(gguf_path, NULL, &m, err, sizeof err), INGOT_OK);
    ingot_llm_info info;
    assert_int_equal(ingot_llm_get_info(m, &info), INGOT_OK);
    assert_string_equal(info.arch, "llama");
    assert_int_equal(info.n_vocab, 512);
    assert_int_equal(info.n_ctx_train, 512);
    assert_int_equal(info.n_layer, 5);
    assert_int_equal(info.bos, 1);
    assert_null(info.chat_template);
    int32_t ids[64];
    size_t n;
    assert_int_equal(ingot_llm_tokenize(m, "Once upon a time", 16, INGOT_LLM_ADD_SPECIAL, ids, 64, &n), INGOT_OK);
    assert_int_equal(n, 5);
    assert_int_equal(ids[0], 1);
    char txt[64];
    int64_t tl = ingot_llm_detokenize(m, ids, n, txt, sizeof txt);
    assert_int_equal(tl, 16);
    assert_memory_equal(txt, "Once upon a time", 16);
    ingot_llm_free(m);
}

static void greedy_llama2c_bin(void **state) {
    (void)state;
    textbuf b;
    greedy(MODEL_BIN, TOK_BIN, "Once upon a time", 40, 1, &b);
    if (strncmp(b.s, EXPECTED, strlen(EXPECTED))) fail_msg("got: %s", b.s);
    textbuf g;
    greedy(gguf_path, NULL, "Once upon a time", 40, 1, &g);
    assert_string_equal(b.s, g.s);
}

/* Q8_0 weights (ffn_down, whose rows of 172 are not a multiple of 32, falls back to F16)
 * keep the first sentence: the quantization error is far below the greedy margins. */
static void greedy_q8_0(void **state) {
    (void)state;
    textbuf b;
    greedy(q8_path, NULL, "Once upon a time", 40, 2, &b);
    if (strncmp(b.s, EXPECTED, strlen(EXPECTED))) fail_msg("got: %s", b.s);
}

static void generate_options(void **state) {
    (void)state;
    char err[512];
    ingot_llm *m = NULL;
    ingot_llm_ctx *c = NULL;
    assert_int_equal(ingot_llm_load(gguf_path, NULL, &m, err, sizeof err), INGOT_OK);
    ingot_llm_ctx_params cp;
    ingot_llm_ctx_params_default(&cp);
    cp.n_ctx = 64;
    cp.n_threads = 2;
    assert_int_equal(ingot_llm_ctx_create(m, &cp, &c, err, sizeof err), INGOT_OK);
    ingot_llm_gen_params gp;
    ingot_llm_gen_params_default(&gp);
    /* stop string: text ends right before it */
    const char *stops[] = {"Lily"};
    gp.temp = 0;
    gp.max_tokens = 40;
    gp.stop = stops;
    gp.n_stop = 1;
    textbuf b = {{0}, 0, 0};
    ingot_llm_gen_stats gs;
    assert_int_equal(ingot_llm_generate(c, "Once upon a time", 16, &gp, collect, &b, &gs), INGOT_OK);
    assert_string_equal(b.s, ", there was a little girl named ");
    assert_int_equal(gs.stop_reason, INGOT_LLM_STOP_STRING);
    /* seeded sampling: same seed same text (prefix reuse on the second call) */
    ingot_llm_gen_params_default(&gp);
    gp.seed = 42;
    gp.max_tokens = 30;
    gp.temp = 1.0f;
    textbuf s1 = {{0}, 0, 0}, s2 = {{0}, 0, 0}, s3 = {{0}, 0, 0};
    assert_int_equal(ingot_llm_generate(c, "Once upon a time", 16, &gp, collect, &s1, &gs), INGOT_OK);
    assert_int_equal(ingot_llm_generate(c, "Once upon a time", 16, &gp, collect, &s2, &gs), INGOT_OK);
    assert_true(gs.n_reused > 0);
    assert_string_equal(s1.s, s2.s);
    gp.seed = 43;
    int differs = 0;
    for (int k = 0; k < 4 && !differs; k++) {
        gp.seed = 43 + (uint64_t)k;
        s3.n = 0;
        s3.s[0] = 0;
        assert_int_equal(ingot_llm_generate(c, "Once upon a time", 16, &gp, collect, &s3, &gs), INGOT_OK);
        differs = strcmp(s1.s, s3.s) != 0;
    }
    assert_true(differs);
    /* max tokens */
    gp.max_tokens = 3;
    assert_int_equal(ingot_llm_generate(c, "Once", 4, &gp, NULL, NULL, &gs), INGOT_OK);
    assert_int_equal(gs.n_gen, 3);
    assert_int_equal(gs.stop_reason, INGOT_LLM_STOP_MAX_TOKENS);
    /* a prompt longer than the context is an error naming both sizes */
    char longp[2048];
    size_t n = 0;
    while (n + 6 < sizeof longp) { memcpy(longp + n, "hello ", 6); n += 6; }
    assert_int_equal(ingot_llm_generate(c, longp, n, &gp, NULL, NULL, &gs), INGOT_ERR_LIMIT);
    assert_non_null(strstr(ingot_llm_ctx_error(c), "n_ctx"));
    /* generation that reaches the context end stops cleanly */
    gp.max_tokens = 0;
    gp.ignore_eos = 1;
    assert_int_equal(ingot_llm_generate(c, "Once upon a time", 16, &gp, NULL, NULL, &gs), INGOT_OK);
    assert_int_equal(gs.stop_reason, INGOT_LLM_STOP_CONTEXT);
    assert_int_equal(gs.n_prompt + gs.n_gen, 64 + 1);
    /* bad batches */
    int32_t tok = 600, pos = 0, seq = 0;
    float lg[512];
    assert_int_equal(ingot_llm_decode(c, 1, &tok, &pos, &seq, NULL, lg), INGOT_ERR_INVALID_ARG);
    tok = 5;
    pos = 64;
    assert_int_equal(ingot_llm_decode(c, 1, &tok, &pos, &seq, NULL, lg), INGOT_ERR_LIMIT);
    pos = 0;
    seq = 1;
    assert_int_equal(ingot_llm_decode(c, 1, &tok, &pos, &seq, NULL, lg), INGOT_ERR_INVALID_ARG);
    ingot_llm_ctx_free(c);
    ingot_llm_free(m);
    /* load errors name the problem */
    assert_int_not_equal(ingot_llm_load(MODEL_BIN, NULL, &m, err, sizeof err), INGOT_OK);
    assert_null(m);
    assert_non_null(strstr(err, "tokenizer"));
    assert_int_equal(ingot_llm_load("/nonexistent.gguf", NULL, &m, err, sizeof err), INGOT_ERR_IO);
}

/* copy the test GGUF with one key replaced (or dropped) and one tensor dropped */
static void write_variant(const char *out, const char *key, const char *val, const char *drop_tensor) {
    it_gguf g;
    it_err e = {{0}};
    if (it_gguf_open(gguf_path, &g, &e)) fail_msg("%s", e.msg);
    it_gguf_writer *w = it_gguf_writer_create();
    for (int64_t i = 0; i < g.n_kv; i++) {
        if (key && !strcmp(g.kv[i].key, key)) {
            if (val) assert_int_equal(it_gguf_w_str(w, key, val, strlen(val), &e), 0);
            continue;
        }
        if (it_gguf_w_val(w, g.kv[i].key, &g.kv[i].v, &e)) fail_msg("%s", e.msg);
    }
    for (int64_t i = 0; i < g.n_tensors; i++) {
        const it_gguf_tensor *t = &g.tensors[i];
        if (drop_tensor && !strcmp(t->name, drop_tensor)) continue;
        if (it_gguf_w_tensor(w, t->name, t->type, t->ndim, t->ne, t->data, &e)) fail_msg("%s", e.msg);
    }
    if (it_gguf_w_write_file(w, out, NULL, NULL, &e)) fail_msg("%s", e.msg);
    it_gguf_writer_free(w);
    it_gguf_free(&g);
}

static void load_errors(void **state) {
    (void)state;
    char path[300], err[512];
    snprintf(path, sizeof path, "%s.variant", gguf_path);
    ingot_llm *m = NULL;
    write_variant(path, "general.architecture", "mamba9", NULL);
    assert_int_equal(ingot_llm_load(path, NULL, &m, err, sizeof err), INGOT_ERR_UNSUPPORTED);
    assert_non_null(strstr(err, "mamba9"));
    write_variant(path, NULL, NULL, "blk.3.ffn_up.weight");
    assert_int_equal(ingot_llm_load(path, NULL, &m, err, sizeof err), INGOT_ERR_NOT_FOUND);
    assert_non_null(strstr(err, "blk.3.ffn_up.weight"));
    write_variant(path, "llama.attention.head_count", NULL, NULL);
    assert_int_not_equal(ingot_llm_load(path, NULL, &m, err, sizeof err), INGOT_OK);
    assert_non_null(strstr(err, "llama.attention.head_count"));
    write_variant(path, "tokenizer.ggml.model", NULL, NULL);
    assert_int_not_equal(ingot_llm_load(path, NULL, &m, err, sizeof err), INGOT_OK);
    assert_non_null(strstr(err, "tokenizer"));
    /* every truncation of the file fails cleanly (a step through the header and tensors) */
    FILE *f = fopen(gguf_path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    for (long cut = 0; cut < len; cut += cut < 20000 ? 997 : 50021) {
        FILE *o = fopen(path, "wb");
        fwrite(buf, 1, (size_t)cut, o);
        fclose(o);
        assert_int_not_equal(ingot_llm_load(path, NULL, &m, err, sizeof err), INGOT_OK);
        assert_null(m);
    }
    free(buf);
    unlink(path);
    assert_null(m);
}

/* logits of every token of 3 prompts: alone (fresh sequences) vs. in one batch */
static void batch_invariance(void **state) {
    (void)state;
    char err[512];
    ingot_llm *m = NULL;
    assert_int_equal(ingot_llm_load(gguf_path, NULL, &m, err, sizeof err), INGOT_OK);
    const char *prompts[3] = {"Once upon a time", "The little dog ran to the park and saw a big",
                              "Tom had a red ball. He"};
    int32_t ids[3][64];
    size_t n[3], total = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ingot_llm_tokenize(m, prompts[i], strlen(prompts[i]), INGOT_LLM_ADD_SPECIAL, ids[i], 64, &n[i]),
                         INGOT_OK);
        total += n[i];
    }
    assert_true(n[0] != n[1] && n[1] != n[2]);
    const int64_t V = 512;
    float *alone = malloc(total * V * sizeof(float)), *batched = malloc(total * V * sizeof(float));
    float *decode_step[2] = {malloc(3 * V * sizeof(float)), malloc(3 * V * sizeof(float))};
    int32_t tok[256], pos[256], seq[256];
    for (int pass = 0; pass < 2; pass++) {
        ingot_llm_ctx_params cp;
        ingot_llm_ctx_params_default(&cp);
        cp.n_seq = 3;
        cp.n_ctx = 128;
        cp.n_threads = pass ? 1 : 2;
        ingot_llm_ctx *c = NULL;
        assert_int_equal(ingot_llm_ctx_create(m, &cp, &c, err, sizeof err), INGOT_OK);
        /* alone */
        size_t off = 0;
        for (int i = 0; i < 3; i++) {
            for (size_t k = 0; k < n[i]; k++) { tok[k] = ids[i][k]; pos[k] = (int32_t)k; seq[k] = i; }
            assert_int_equal(ingot_llm_decode(c, (int64_t)n[i], tok, pos, seq, NULL, alone + off * V), INGOT_OK);
            off += n[i];
        }
        /* batched, interleaved, on fresh sequences */
        for (int i = 0; i < 3; i++) assert_int_equal(ingot_llm_seq_truncate(c, i, 0), INGOT_OK);
        size_t k = 0, at[3] = {0, 0, 0}, rowof[3][64];
        while (k < total)
            for (int i = 0; i < 3; i++)
                if (at[i] < n[i]) {
                    tok[k] = ids[i][at[i]];
                    pos[k] = (int32_t)at[i];
                    seq[k] = i;
                    rowof[i][at[i]++] = k++;
                }
        float *tmp = malloc(total * V * sizeof(float));
        assert_int_equal(ingot_llm_decode(c, (int64_t)total, tok, pos, seq, NULL, tmp), INGOT_OK);
        off = 0;
        for (int i = 0; i < 3; i++)
            for (size_t j = 0; j < n[i]; j++, off++) memcpy(batched + off * V, tmp + rowof[i][j] * V, V * sizeof(float));
        free(tmp);
        if (memcmp(alone, batched, total * V * sizeof(float))) fail_msg("batched logits differ (threads %d)", cp.n_threads);
        /* token by token (chunking does not change a token's result either) */
        assert_int_equal(ingot_llm_seq_truncate(c, 1, 0), INGOT_OK);
        for (size_t j = 0; j < n[1]; j++) {
            int32_t tk = ids[1][j], ps = (int32_t)j, sq = 1;
            float row[512];
            assert_int_equal(ingot_llm_decode(c, 1, &tk, &ps, &sq, NULL, row), INGOT_OK);
            assert_memory_equal(row, alone + (n[0] + j) * V, sizeof row);
        }
        /* one mixed decode step (three single tokens), compared across thread counts */
        for (int i = 0; i < 3; i++) { tok[i] = 42 + i; pos[i] = (int32_t)n[i]; seq[i] = i; }
        assert_int_equal(ingot_llm_decode(c, 3, tok, pos, seq, NULL, decode_step[pass]), INGOT_OK);
        ingot_llm_ctx_free(c);
    }
    assert_memory_equal(decode_step[0], decode_step[1], 3 * V * sizeof(float));
    free(decode_step[0]);
    free(decode_step[1]);
    free(alone);
    free(batched);
    ingot_llm_free(m);
}

/* ingot_llm_decode_sample draws what ingot_llm_decode then ingot_llm_sampler_sample_rows
 * draw: batches of several sequences split between 2 threads (rows drawn in the parts, a
 * prompt chunk's rows not wanted), a single sequence (rows after the batch), 1 thread */
/* a context of n_seq sequences of n_ctx positions on `threads` threads */
static ingot_llm_ctx *open_ctx_t(const ingot_llm *m, int n_seq, int64_t n_ctx, int threads, int prefix_cache) {
    char err[512];
    ingot_llm_ctx *c = NULL;
    ingot_llm_ctx_params cp;
    ingot_llm_ctx_params_default(&cp);
    cp.n_seq = n_seq;
    cp.n_ctx = n_ctx;
    cp.n_threads = threads;
    cp.prefix_cache = prefix_cache;
    assert_int_equal(ingot_llm_ctx_create(m, &cp, &c, err, sizeof err), INGOT_OK);
    return c;
}

static ingot_llm_ctx *open_ctx(const ingot_llm *m, int n_seq, int64_t n_ctx, int prefix_cache) {
    return open_ctx_t(m, n_seq, n_ctx, 2, prefix_cache);
}

static void decode_sample(void **state) {
    (void)state;
    char err[512];
    ingot_llm *m = NULL;
    assert_int_equal(ingot_llm_load(gguf_path, NULL, &m, err, sizeof err), INGOT_OK);
    enum { S = 5, V = 512, STEPS = 24 };
    for (int threads = 1; threads <= 2; threads++) {
        ingot_llm_ctx *c[2];
        ingot_llm_sampler *smp[2][S];
        for (int k = 0; k < 2; k++) {
            c[k] = open_ctx_t(m, S, 128, threads, 0);
            for (int s = 0; s < S; s++) {
                ingot_llm_gen_params gp;
                ingot_llm_gen_params_default(&gp);
                gp.temp = 0.9f, gp.top_k = 0, gp.top_p = 1.0f, gp.min_p = 0, gp.seed = 11 + (uint64_t)s;
                gp.n_logprobs = 2;
                assert_int_equal(ingot_llm_sampler_create(m, &gp, &smp[k][s], err, sizeof err), INGOT_OK);
            }
        }
        int32_t last[S], len[S];
        for (int s = 0; s < S; s++) last[s] = 1 + 7 * s, len[s] = 0;
        for (int step = 0; step < STEPS; step++) {
            /* sequence step % S gets a chunk of 3 tokens (2 rows not wanted); step 5: one sequence alone */
            int32_t tok[3 * S], pos[3 * S], seq[3 * S];
            uint8_t want[3 * S];
            int n = 0, rows = 0;
            for (int s = 0; s < S; s++) {
                if (step == 5 && s != 2) continue;
                const int chunk = s == step % S ? 3 : 1;
                for (int q = 0; q < chunk; q++) {
                    tok[n] = q + 1 < chunk ? 3 + q : last[s], pos[n] = len[s]++, seq[n] = s;
                    want[n++] = q + 1 == chunk;
                }
                rows++;
            }
            float *l0 = malloc((size_t)rows * V * sizeof(float)), *l1 = malloc((size_t)rows * V * sizeof(float));
            int32_t id0[S], id1[S];
            ingot_llm_token t0[S], t1[S];
            ingot_llm_sampler *sm0[S], *sm1[S];
            for (int s = 0, r = 0; s < S; s++)
                if (step != 5 || s == 2) sm0[r] = smp[0][s], sm1[r++] = smp[1][s];
            assert_int_equal(ingot_llm_decode(c[0], n, tok, pos, seq, want, l0), INGOT_OK);
            ingot_llm_sampler_sample_rows(c[0], rows, sm0, l0, V, id0, t0);
            assert_int_equal(ingot_llm_decode_sample(c[1], n, tok, pos, seq, want, l1, sm1, id1, t1), INGOT_OK);
            assert_memory_equal(l0, l1, (size_t)rows * V * sizeof(float));
            for (int r = 0; r < rows; r++) {
                assert_int_equal(id0[r], id1[r]);
                assert_true(t0[r].logprob == t1[r].logprob && t0[r].n_top == t1[r].n_top);
                assert_memory_equal(t0[r].top_ids, t1[r].top_ids, (size_t)t0[r].n_top * sizeof(int32_t));
            }
            for (int s = 0, r = 0; s < S; s++) {
                if (step == 5 && s != 2) continue;
                ingot_llm_sampler_accept(smp[0][s], id0[r]);
                ingot_llm_sampler_accept(smp[1][s], id1[r]);
                last[s] = id0[r++];
            }
            free(l0), free(l1);
        }
        for (int k = 0; k < 2; k++) {
            for (int s = 0; s < S; s++) ingot_llm_sampler_free(smp[k][s]);
            ingot_llm_ctx_free(c[k]);
        }
    }
    ingot_llm_free(m);
}

/* ingot_llm_decode_steps equals step-by-step decode_sample with each draw accepted: ids,
 * log-probabilities, the steps each sequence takes (its own limit; none after an
 * end-of-generation draw when asked: sequence 1 leans to it by its logit bias), and the
 * cache left behind (lengths, the next token's logits); 1 and 2 threads, prefix cache on */
static void decode_steps(void **state) {
    (void)state;
    char err[512];
    ingot_llm *m = NULL;
    assert_int_equal(ingot_llm_load(gguf_path, NULL, &m, err, sizeof err), INGOT_OK);
    enum { S = 6, V = 512, K = 5, ROUNDS = 8 };
    int32_t eos = -1;
    for (int32_t t = 0; t < V && eos < 0; t++)
        if (ingot_llm_is_eog(m, t)) eos = t;
    assert_true(eos >= 0);
    const ingot_llm_logit_bias lean = {eos, 30.0f};
    for (int threads = 1; threads <= 2; threads++) {
        ingot_llm_ctx *c[2];
        ingot_llm_sampler *smp[2][S];
        for (int k = 0; k < 2; k++) {
            c[k] = open_ctx_t(m, S, 128, threads, 1);
            for (int s = 0; s < S; s++) {
                ingot_llm_gen_params gp;
                ingot_llm_gen_params_default(&gp);
                gp.temp = 0.9f, gp.top_k = 0, gp.top_p = 1.0f, gp.min_p = 0, gp.seed = 5 + (uint64_t)s;
                gp.repeat_penalty = 1.3f; /* (the history must hold every draw) */
                if (s == 1) gp.logit_bias = &lean, gp.n_logit_bias = 1;
                assert_int_equal(ingot_llm_sampler_create(m, &gp, &smp[k][s], err, sizeof err), INGOT_OK);
            }
        }
        int32_t last[S], len[S];
        for (int s = 0; s < S; s++) { /* prompts of 2 + s tokens */
            int32_t tok[8], pos[8], seq[8];
            for (int q = 0; q < 2 + s; q++) tok[q] = 10 + 3 * q + s, pos[q] = q, seq[q] = s;
            for (int k = 0; k < 2; k++) assert_int_equal(ingot_llm_decode(c[k], 2 + s, tok, pos, seq, NULL, NULL), INGOT_OK);
            last[s] = 40 + s, len[s] = 2 + s;
        }
        int eos_stops = 0;
        for (int round = 0; round < ROUNDS; round++) {
            int32_t tok[S], pos[S], seq[S], ids[K * S];
            int steps[S], most[S], n = 0;
            uint8_t stop[S];
            float lp[K * S];
            ingot_llm_sampler *sm0[S], *sm1[S];
            for (int s = 0; s < S; s++) {
                if (round == 2 && s % 2) continue; /* a round without some sequences */
                tok[n] = last[s], pos[n] = len[s], seq[n] = s, stop[n] = s < 3;
                most[n] = steps[n] = 1 + (s + round) % K;
                sm0[n] = smp[0][s], sm1[n] = smp[1][s];
                n++;
            }
            assert_int_equal(ingot_llm_decode_steps(c[1], n, tok, pos, seq, sm1, stop, K, steps, ids, lp), INGOT_OK);
            /* the same step by step */
            int32_t cur[S], map[S], bt[S], bp[S], bs[S], idr[S];
            int done[S], alive[S];
            ingot_llm_token tr[S];
            float *lg = malloc((size_t)S * V * sizeof(float));
            for (int i = 0; i < n; i++) cur[i] = tok[i], done[i] = 0, alive[i] = 1;
            for (int k = 0; k < K; k++) {
                int na = 0;
                ingot_llm_sampler *sr[S];
                for (int i = 0; i < n; i++)
                    if (alive[i]) bt[na] = cur[i], bp[na] = pos[i] + k, bs[na] = seq[i], sr[na] = sm0[i], map[na++] = i;
                if (!na) break;
                assert_int_equal(ingot_llm_decode_sample(c[0], na, bt, bp, bs, NULL, lg, sr, idr, tr), INGOT_OK);
                for (int r = 0; r < na; r++) {
                    const int i = map[r];
                    assert_int_equal(ids[k * n + i], idr[r]);
                    assert_true(lp[k * n + i] == tr[r].logprob);
                    ingot_llm_sampler_accept(sm0[i], idr[r]);
                    cur[i] = idr[r], done[i] = k + 1;
                    const int eog = stop[i] && ingot_llm_is_eog(m, idr[r]);
                    eos_stops += eog && k + 1 < most[i];
                    alive[i] = !eog && k + 1 < most[i];
                }
            }
            free(lg);
            for (int i = 0; i < n; i++) {
                assert_int_equal(steps[i], done[i]);
                last[seq[i]] = cur[i], len[seq[i]] += done[i];
                assert_int_equal(ingot_llm_seq_len(c[1], seq[i]), len[seq[i]]);
                assert_int_equal(ingot_llm_seq_len(c[0], seq[i]), len[seq[i]]);
            }
        }
        assert_true(eos_stops > 0); /* (the early stop was exercised) */
        int32_t tok[S], pos[S], seq[S];
        for (int s = 0; s < S; s++) tok[s] = last[s], pos[s] = len[s], seq[s] = s;
        float *l0 = malloc((size_t)S * V * sizeof(float)), *l1 = malloc((size_t)S * V * sizeof(float));
        assert_int_equal(ingot_llm_decode(c[0], S, tok, pos, seq, NULL, l0), INGOT_OK);
        assert_int_equal(ingot_llm_decode(c[1], S, tok, pos, seq, NULL, l1), INGOT_OK);
        assert_memory_equal(l0, l1, (size_t)S * V * sizeof(float));
        free(l0), free(l1);
        /* bad calls (a sequence twice, a step limit out of range) change nothing, even where
         * a valid call would have rewritten the sequence from an earlier position */
        int32_t ids[K * 2], two[2] = {3, 3}, p2[2] = {len[3] - 2, len[3] - 2};
        int steps[2] = {2, 2};
        assert_int_equal(ingot_llm_decode_steps(c[1], 2, tok, p2, two, smp[1], NULL, K, steps, ids, NULL),
                         INGOT_ERR_INVALID_ARG);
        steps[0] = 0;
        assert_int_equal(ingot_llm_decode_steps(c[1], 1, tok, p2, two, smp[1], NULL, K, steps, ids, NULL),
                         INGOT_ERR_INVALID_ARG);
        assert_int_equal(ingot_llm_seq_len(c[1], 3), len[3] + 1);
        for (int k = 0; k < 2; k++) {
            for (int s = 0; s < S; s++) ingot_llm_sampler_free(smp[k][s]);
            ingot_llm_ctx_free(c[k]);
        }
    }
    ingot_llm_free(m);
}


/* a prefix decoded once and forked into two sequences gives the logits of decoding it on each */
/* a long batch (FFN chunks, shared quantized rows) gives each token the bits it gets in
 * short chunks (per-thread rows) */
static void long_batch_of(const char *path) {
    char err[512];
    ingot_llm *m = NULL;
    assert_int_equal(ingot_llm_load(path, NULL, &m, err, sizeof err), INGOT_OK);
    enum { N = 300, V = 512 };
    int32_t tok[N], pos[N], seq[N];
    for (int i = 0; i < N; i++) tok[i] = 1 + (i * 37) % 500, pos[i] = i, seq[i] = 0;
    float *a = malloc((size_t)N * V * sizeof(float)), *b = malloc((size_t)N * V * sizeof(float));
    ingot_llm_ctx_params cp;
    ingot_llm_ctx_params_default(&cp);
    cp.n_ctx = 512;
    cp.n_threads = 2;
    ingot_llm_ctx *c = NULL;
    assert_int_equal(ingot_llm_ctx_create(m, &cp, &c, err, sizeof err), INGOT_OK);
    assert_int_equal(ingot_llm_decode(c, N, tok, pos, seq, NULL, a), INGOT_OK);
    assert_int_equal(ingot_llm_seq_truncate(c, 0, 0), INGOT_OK);
    for (int i = 0; i < N; i += 7) {
        const int n = N - i < 7 ? N - i : 7;
        assert_int_equal(ingot_llm_decode(c, n, tok + i, pos + i, seq + i, NULL, b + (size_t)i * V), INGOT_OK);
    }
    assert_memory_equal(a, b, (size_t)N * V * sizeof(float));
    ingot_llm_ctx_free(c);
    ingot_llm_free(m);
    free(a);
    free(b);
}

static void long_batch(void **state) {
    (void)state;
    long_batch_of(gguf_path); /* F32 tiles */
    long_batch_of(q8_path);   /* packed Q8_0 groups */
}

static void prefix_fork(void **state) {
    (void)state;
    char err[512];
    ingot_llm *m = NULL;
    assert_int_equal(ingot_llm_load(gguf_path, NULL, &m, err, sizeof err), INGOT_OK);
    ingot_llm_ctx *c = open_ctx(m, 3, 96, 0);
    const char *text = "Once upon a time, there was a little girl named Lily. She loved to play outside";
    int32_t ids[64], pos[64], seq[64];
    size_t n;
    assert_int_equal(ingot_llm_tokenize(m, text, strlen(text), INGOT_LLM_ADD_SPECIAL, ids, 64, &n), INGOT_OK);
    assert_true(n > 20);
    const int64_t V = 512, pre = 19; /* not a block multiple: the partial block is shared too */
    float *ref = malloc((n - pre) * V * sizeof(float)), *got = malloc(2 * (n - pre) * V * sizeof(float));
    /* reference: everything on sequence 2 */
    for (size_t i = 0; i < n; i++) { pos[i] = (int32_t)i; seq[i] = 2; }
    float *all = malloc(n * V * sizeof(float));
    assert_int_equal(ingot_llm_decode(c, (int64_t)n, ids, pos, seq, NULL, all), INGOT_OK);
    memcpy(ref, all + pre * V, (n - pre) * V * sizeof(float));
    /* the prefix on sequence 0, forked to 1, then both continue in one batch */
    for (size_t i = 0; i < (size_t)pre; i++) seq[i] = 0;
    assert_int_equal(ingot_llm_decode(c, pre, ids, pos, seq, NULL, all), INGOT_OK);
    assert_int_equal(ingot_llm_seq_fork(c, 0, 1, pre), INGOT_OK);
    assert_int_equal(ingot_llm_seq_len(c, 1), pre);
    int32_t t2[128], p2[128], s2[128];
    size_t k = 0;
    for (size_t i = pre; i < n; i++)
        for (int q = 0; q < 2; q++) { t2[k] = ids[i]; p2[k] = (int32_t)i; s2[k] = q; k++; }
    assert_int_equal(ingot_llm_decode(c, (int64_t)k, t2, p2, s2, NULL, got), INGOT_OK);
    for (size_t i = 0; i < n - pre; i++) {
        assert_memory_equal(got + (2 * i) * V, ref + i * V, V * sizeof(float));
        assert_memory_equal(got + (2 * i + 1) * V, ref + i * V, V * sizeof(float));
    }
    /* forks past the source's length and bad ids are errors */
    assert_int_equal(ingot_llm_seq_fork(c, 0, 1, 1000), INGOT_ERR_INVALID_ARG);
    assert_int_equal(ingot_llm_seq_fork(c, 0, 7, 1), INGOT_ERR_INVALID_ARG);
    /* all blocks come back */
    for (int q = 0; q < 3; q++) assert_int_equal(ingot_llm_seq_truncate(c, q, 0), INGOT_OK);
    free(ref);
    free(got);
    free(all);
    ingot_llm_ctx_free(c);
    ingot_llm_free(m);
}

/* --numerics llamacpp: the same model (logits near the default arithmetic's, the same greedy
 * continuation for stories260K), deterministic, and refused without the f16 cache. Its
 * equality with llama.cpp itself is checked by bench/llm_vs_llamacpp.py --numerics llamacpp
 * (llama.cpp is not built in the suite). */
static void numerics_llamacpp(void **state) {
    (void)state;
    char err[512];
    const char *paths[2] = {gguf_path, q8_path};
    for (int f = 0; f < 2; f++) {
        ingot_llm *m = NULL;
        assert_int_equal(ingot_llm_load(paths[f], NULL, &m, err, sizeof err), INGOT_OK);
        int32_t ids[64];
        size_t n = 0;
        const char *prompt = "Once upon a time, there was a little girl named Lily. She";
        assert_int_equal(ingot_llm_tokenize(m, prompt, strlen(prompt), INGOT_LLM_ADD_SPECIAL, ids, 64, &n), INGOT_OK);
        float *lg[3];
        int32_t next[3][24];
        for (int k = 0; k < 3; k++) { /* default, llamacpp, llamacpp again */
            ingot_llm_ctx_params cp;
            ingot_llm_ctx_params_default(&cp);
            cp.n_ctx = 128, cp.n_threads = 2, cp.numerics = k ? INGOT_LLM_NUMERICS_LLAMACPP : INGOT_LLM_NUMERICS_DEFAULT;
            ingot_llm_ctx *c = NULL;
            assert_int_equal(ingot_llm_ctx_create(m, &cp, &c, err, sizeof err), INGOT_OK);
            int32_t pos[64], seq[64];
            for (size_t i = 0; i < n; i++) pos[i] = (int32_t)i, seq[i] = 0;
            lg[k] = malloc(n * 512 * sizeof(float));
            assert_int_equal(ingot_llm_decode(c, (int64_t)n, ids, pos, seq, NULL, lg[k]), INGOT_OK);
            /* greedy, one token at a time (the decode-step arithmetic) */
            float row[512];
            memcpy(row, lg[k] + (n - 1) * 512, sizeof row);
            for (int g = 0; g < 24; g++) {
                int best = 0;
                for (int v = 1; v < 512; v++) best = row[v] > row[best] ? v : best;
                next[k][g] = best;
                int32_t ps = (int32_t)n + g, sq = 0;
                assert_int_equal(ingot_llm_decode(c, 1, &next[k][g], &ps, &sq, NULL, row), INGOT_OK);
            }
            ingot_llm_ctx_free(c);
        }
        float md = 0;
        for (size_t i = 0; i < n * 512; i++) md = fmaxf(md, fabsf(lg[0][i] - lg[1][i]));
        /* measured 0.009 (F32 weights) and 0.24 (Q8_0: 8-bit activations turn float-order
         * differences into whole quantization steps) */
        assert_true(md < (f ? 1.0f : 0.05f));
        assert_memory_equal(lg[1], lg[2], n * 512 * sizeof(float));
        assert_memory_equal(next[0], next[1], sizeof next[0]);
        assert_memory_equal(next[1], next[2], sizeof next[1]);
        for (int k = 0; k < 3; k++) free(lg[k]);
        /* only over the f16 cache */
        ingot_llm_ctx_params cp;
        ingot_llm_ctx_params_default(&cp);
        cp.numerics = INGOT_LLM_NUMERICS_LLAMACPP, cp.kv_type = INGOT_LLM_KV_F32, cp.n_ctx = 64;
        ingot_llm_ctx *c = NULL;
        assert_int_not_equal(ingot_llm_ctx_create(m, &cp, &c, err, sizeof err), INGOT_OK);
        assert_non_null(strstr(err, "f16 KV cache"));
        ingot_llm_free(m);
    }
    assert_int_equal(ingot_llm_numerics_from_name("llamacpp"), INGOT_LLM_NUMERICS_LLAMACPP);
    assert_int_equal(ingot_llm_numerics_from_name("default"), INGOT_LLM_NUMERICS_DEFAULT);
    assert_int_equal(ingot_llm_numerics_from_name("fast"), -1);
}

static void kv_blocks(void **state) {
    (void)state;
    it_kv_cache kv;
    it_err e = {{0}};
    assert_int_equal(it_kv_init(&kv, 2, 8, 64, 2, 6, 1, &e), 0);
    assert_int_equal(it_kv_seq_resize(&kv, 0, 40, &e), 0); /* 3 blocks */
    assert_int_equal(kv.n_free, 3);
    assert_int_equal(it_kv_seq_fork(&kv, 0, 1, 40, &e), 0);
    assert_int_equal(kv.n_free, 3);
    assert_int_equal(it_kv_seq_shared(&kv, 1, 32, 48), 1);
    assert_int_equal(it_kv_seq_own(&kv, 1, 32, 48, &e), 0);
    assert_int_equal(kv.n_free, 2);
    assert_int_equal(it_kv_seq_shared(&kv, 1, 32, 48), 0);
    assert_int_equal(it_kv_seq_shared(&kv, 0, 0, 48), 2);
    assert_int_equal(it_kv_seq_resize(&kv, 1, 65, &e), INGOT_ERR_LIMIT); /* past n_ctx */
    assert_int_equal(it_kv_seq_resize(&kv, 1, 64, &e), 0);               /* one more block */
    assert_int_equal(kv.n_free, 1);
    assert_int_equal(it_kv_seq_resize(&kv, 0, 64, &e), 0);
    assert_int_equal(kv.n_free, 0);
    assert_int_equal(it_kv_seq_own(&kv, 0, 0, 64, &e), INGOT_ERR_LIMIT); /* 2 shared, none free */
    assert_int_equal(it_kv_seq_resize(&kv, 0, 0, &e), 0);
    assert_int_equal(it_kv_seq_resize(&kv, 1, 0, &e), 0);
    assert_int_equal(kv.n_free, 6);
    it_kv_free(&kv);
}

static uint32_t rng32(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static float frand(uint64_t *s) { return (float)rng32(s) / 4294967296.0f * 2.0f - 1.0f; }

/* prefix cache at block level: registration, matching by prefix (not by block contents
 * alone), reference counts, LRU eviction deepest block first, usage */
static void kv_prefix(void **state) {
    (void)state;
    it_kv_cache kv;
    it_err e = {{0}};
    assert_int_equal(it_kv_init(&kv, 1, 4, 64, 3, 6, 1, &e), 0);
    assert_int_equal(it_kv_prefix_enable(&kv, &e), 0);
    int32_t a[64], b[64];
    for (int i = 0; i < 64; i++) a[i] = b[i] = 100 + i;
    b[20] = 7; /* b = a's first block, then differs */
    int64_t used, idle;
    /* sequence 0 computes 40 positions of a: blocks 0 and 1 are registered */
    assert_int_equal(it_kv_seq_resize(&kv, 0, 40, &e), 0);
    it_kv_prefix_note(&kv, 0, 0, a, 40);
    assert_int_equal(kv.n_cached, 2);
    it_kv_usage(&kv, &used, &idle);
    assert_int_equal(used, 3);
    assert_int_equal(idle, 0);
    /* sequence 1 with a's prompt while 0 runs: shares both blocks */
    assert_int_equal(it_kv_prefix_match(&kv, 1, a, 39), 32);
    assert_int_equal(kv.seq[1].blocks[0], kv.seq[0].blocks[0]);
    assert_int_equal(kv.seq[1].blocks[1], kv.seq[0].blocks[1]);
    assert_int_equal(kv.n_free, 3);
    /* a whole block of b matches, the second differs */
    assert_int_equal(it_kv_prefix_match(&kv, 2, b, 40), 16);
    /* the same second block's tokens after a different first block do not match */
    int32_t c[32];
    for (int i = 0; i < 32; i++) c[i] = i < 16 ? 5 : a[i];
    assert_int_equal(it_kv_prefix_match(&kv, 2, c, 32), 0);
    assert_int_equal(it_kv_prefix_match(&kv, 2, a, 15), 0); /* less than a block */
    /* all sequences done: the 2 registered blocks stay, evictable, counted as free */
    for (int q = 0; q < 3; q++) assert_int_equal(it_kv_seq_resize(&kv, q, 0, &e), 0);
    it_kv_usage(&kv, &used, &idle);
    assert_int_equal(used, 0);
    assert_int_equal(idle, 2);
    assert_int_equal(kv.n_free, 6);
    /* a new sequence takes 5 blocks: 4 free + 1 evicted, the deeper one (block 1 of a) */
    assert_int_equal(it_kv_seq_resize(&kv, 2, 80 > 64 ? 64 : 80, &e), 0); /* 4 blocks */
    assert_int_equal(it_kv_seq_resize(&kv, 1, 16, &e), 0);                 /* a 5th */
    assert_int_equal(kv.n_cached, 1);
    assert_int_equal(it_kv_seq_resize(&kv, 1, 0, &e), 0);
    assert_int_equal(it_kv_seq_resize(&kv, 2, 0, &e), 0);
    assert_int_equal(it_kv_prefix_match(&kv, 0, a, 63), 16); /* block 0 survived */
    /* copy on write: rewriting inside a registered block leaves the cached one intact */
    assert_int_equal(it_kv_seq_resize(&kv, 0, 8, &e), 0); /* drops into block 0 */
    assert_int_equal(it_kv_seq_shared(&kv, 0, 8, 16), 1);
    assert_int_equal(it_kv_seq_own(&kv, 0, 8, 16, &e), 0);
    assert_int_equal(it_kv_prefix_match(&kv, 1, a, 20), 16);
    assert_int_not_equal(kv.seq[1].blocks[0], kv.seq[0].blocks[0]);
    it_kv_free(&kv);
}

/* the evictable blocks' heap against a scan after every operation of a random workload
 * (prompts from a small alphabet so that prefixes repeat; sequences grow, get noted,
 * matched and dropped, the pool runs out and evicts): exactly the registered blocks only
 * the cache holds, ordered by (tick, id), so eviction takes what a scan would */
static void kv_evict_heap(void **state) {
    (void)state;
    it_kv_cache kv;
    it_err e = {{0}};
    enum { NS = 4, NB = 24, CTX = 128 };
    assert_int_equal(it_kv_init(&kv, 1, 4, CTX, NS, NB, 1, &e), 0);
    assert_int_equal(it_kv_prefix_enable(&kv, &e), 0);
    uint64_t rs = 3;
    int32_t toks[NS][CTX];
    int evictions = 0;
    for (int op = 0; op < 4000; op++) {
        const int q = (int)(rng32(&rs) % NS), kind = (int)(rng32(&rs) % 4);
        const int64_t cached0 = kv.n_cached, listed0 = kv.n_list;
        if (kind == 0) { /* a new prompt: matched against the cache */
            for (int i = 0; i < CTX; i++) toks[q][i] = (int32_t)(rng32(&rs) % 2) + (i % 16 ? 0 : (int32_t)(rng32(&rs) % 3));
            it_kv_prefix_match(&kv, q, toks[q], 16 + (int64_t)(rng32(&rs) % 64));
        } else if (kind == 1) { /* grow (when the pool allows) and note what was computed */
            const int64_t len = kv.seq[q].len, to = len + 1 + (int64_t)(rng32(&rs) % 40);
            if (to <= CTX && it_kv_seq_resize(&kv, q, to, &e) == 0) {
                evictions += kv.n_list == 0 && listed0 == 0 && kv.n_cached < cached0;
                it_kv_prefix_note(&kv, q, kv.seq[q].n_known, toks[q] + kv.seq[q].n_known, to - kv.seq[q].n_known);
            }
        } else if (kind == 2) {
            assert_int_equal(it_kv_seq_resize(&kv, q, kv.seq[q].len / 2, &e), 0);
        } else {
            assert_int_equal(it_kv_seq_resize(&kv, q, 0, &e), 0);
        }
        int64_t evictable = 0;
        for (int32_t b = 0; b < NB; b++) {
            const int in = kv.cached[b] && kv.ref[b] == 1;
            evictable += in;
            assert_int_equal(kv.hpos[b] != 0, in);
            if (in) assert_int_equal(kv.heap[kv.hpos[b] - 1], b);
        }
        assert_int_equal(kv.n_heap, evictable);
        assert_int_equal(kv.n_free, kv.n_list + evictable);
        for (int64_t i = 1; i < kv.n_heap; i++) { /* no entry older than its parent */
            const int32_t a = kv.heap[i], p = kv.heap[(i - 1) / 2];
            assert_true(kv.tick[p] < kv.tick[a] || (kv.tick[p] == kv.tick[a] && p < a));
        }
    }
    assert_true(evictions > 10);
    it_kv_free(&kv);
}

/* through the API: a prompt decoded on one sequence, matched by another: the matched
 * sequence's logits equal a full recomputation's bit for bit */
static void prefix_cache_logits(void **state) {
    (void)state;
    char err[512];
    ingot_llm *m = NULL;
    assert_int_equal(ingot_llm_load(gguf_path, NULL, &m, err, sizeof err), INGOT_OK);
    ingot_llm_ctx *c = open_ctx(m, 3, 128, 1);
    const char *text = "Once upon a time, there was a little girl named Lily. She loved to play outside in the sun. "
                       "One day, she saw a big dog in the park and they became friends.";
    int32_t ids[120], pos[120], seq[120];
    size_t n;
    assert_int_equal(ingot_llm_tokenize(m, text, strlen(text), INGOT_LLM_ADD_SPECIAL, ids, 120, &n), INGOT_OK);
    assert_true(n > 33 && n < 120);
    const int64_t V = 512;
    float *all = malloc(n * V * sizeof(float)), *got = malloc(n * V * sizeof(float));
    for (size_t i = 0; i < n; i++) { pos[i] = (int32_t)i; seq[i] = 0; }
    assert_int_equal(ingot_llm_decode(c, (int64_t)n, ids, pos, seq, NULL, all), INGOT_OK);
    int64_t hit = ingot_llm_seq_match_prefix(c, 1, ids, (int64_t)n - 1);
    assert_int_equal(hit, (int64_t)(n - 1) / 16 * 16);
    assert_int_equal(ingot_llm_seq_len(c, 1), hit);
    for (size_t i = (size_t)hit; i < n; i++) seq[i] = 1;
    assert_int_equal(ingot_llm_decode(c, (int64_t)n - hit, ids + hit, pos + hit, seq + hit, NULL, got), INGOT_OK);
    assert_memory_equal(got, all + hit * V, (n - (size_t)hit) * V * sizeof(float));
    ingot_llm_kv_stats ks;
    ingot_llm_kv_get_stats(c, &ks);
    assert_int_equal(ks.prefix_hits, (uint64_t)hit / 16);
    assert_true(ks.used > 0 && ks.available + ks.used + ks.cached_idle <= ks.total + ks.cached_idle);
    /* without the cache the call matches nothing */
    ingot_llm_ctx *c2 = open_ctx(m, 3, 128, 0);
    assert_int_equal(ingot_llm_seq_match_prefix(c2, 1, ids, (int64_t)n - 1), 0);
    ingot_llm_ctx_free(c2);
    free(all);
    free(got);
    ingot_llm_ctx_free(c);
    ingot_llm_free(m);
}

/* ---------------------------------------------------------------- sampler */

static it_sampler *mk(const it_sampler_params *p, int64_t V) {
    it_sampler *s = NULL;
    it_err e = {{0}};
    if (it_sampler_create(p, V, &s, &e)) fail_msg("%s", e.msg);
    return s;
}

/* the set of ids the sampler can return for these logits, over many draws */
static unsigned support(const it_sampler_params *p, const float *l, int64_t V) {
    it_sampler *s = mk(p, V);
    unsigned mask = 0;
    for (int i = 0; i < 2000; i++) mask |= 1u << it_sampler_sample(s, l, NULL);
    it_sampler_free(s);
    return mask;
}

static void sampler_steps(void **state) {
    (void)state;
    /* probabilities (temp 1): softmax of log(p) */
    const float p[6] = {0.40f, 0.25f, 0.15f, 0.10f, 0.06f, 0.04f};
    float l[6];
    for (int i = 0; i < 6; i++) l[i] = logf(p[i]);
    it_sampler_params sp;
    it_sampler_params_default(&sp);
    sp.temp = 1;
    sp.top_k = 0;
    sp.top_p = 1;
    sp.min_p = 0;
    assert_int_equal(support(&sp, l, 6), 0x3f);
    sp.top_k = 3;
    assert_int_equal(support(&sp, l, 6), 0x7);
    sp.top_k = 0;
    sp.top_p = 0.7f; /* 0.40 + 0.25 = 0.65 < 0.7 -> three */
    assert_int_equal(support(&sp, l, 6), 0x7);
    sp.top_p = 0.6f;
    assert_int_equal(support(&sp, l, 6), 0x3);
    sp.top_p = 1;
    sp.min_p = 0.3f; /* >= 0.12 */
    assert_int_equal(support(&sp, l, 6), 0x7);
    sp.min_p = 0;
    sp.typical_p = 0.2f; /* entropy 1.53 nats: |-log p - H| is smallest for p=0.25 (0.14), then 0.15 (0.37) */
    assert_int_equal(support(&sp, l, 6), 0x2);
    sp.typical_p = 0.3f;
    assert_int_equal(support(&sp, l, 6), 0x6);
    sp.typical_p = 1;
    /* greedy, ties to the lowest id, bias */
    sp.temp = 0;
    assert_int_equal(support(&sp, l, 6), 0x1);
    it_logit_bias bias[2] = {{0, -INFINITY}, {5, 0.5f}};
    sp.bias = bias;
    sp.n_bias = 1;
    assert_int_equal(support(&sp, l, 6), 0x2);
    sp.n_bias = 2; /* log(0.04)+0.5 = -2.72 still below log(0.25) */
    assert_int_equal(support(&sp, l, 6), 0x2);
    bias[1].bias = 5;
    assert_int_equal(support(&sp, l, 6), 0x20);
    sp.n_bias = 0;
    /* penalties: repeat divides positive / multiplies negative logits; freq and presence */
    float pl[4] = {2.0f, 1.9f, -1.0f, -1.1f};
    sp.repeat_penalty = 1.1f;
    it_sampler *s = mk(&sp, 4);
    it_sampler_accept(s, 0);
    assert_int_equal(it_sampler_sample(s, pl, NULL), 1); /* 2/1.1 = 1.82 < 1.9 */
    it_sampler_free(s);
    sp.repeat_penalty = 1;
    sp.freq_penalty = 0.06f;
    s = mk(&sp, 4);
    it_sampler_accept(s, 0);
    assert_int_equal(it_sampler_sample(s, pl, NULL), 0); /* 1.94 */
    it_sampler_accept(s, 0);
    assert_int_equal(it_sampler_sample(s, pl, NULL), 1); /* 1.88 */
    it_sampler_free(s);
    sp.freq_penalty = 0;
    sp.presence_penalty = 0.2f;
    s = mk(&sp, 4);
    it_sampler_accept(s, 0);
    assert_int_equal(it_sampler_sample(s, pl, NULL), 1);
    it_sampler_reset(s); /* history cleared */
    assert_int_equal(it_sampler_sample(s, pl, NULL), 0);
    it_sampler_free(s);
    sp.presence_penalty = 0;
    /* log-probs: of the chosen and the top-N, normalized over the vocabulary */
    sp.n_logprobs = 3;
    s = mk(&sp, 6);
    it_sample_result r;
    assert_int_equal(it_sampler_sample(s, l, &r), 0);
    assert_true(fabsf(r.logprob - logf(0.40f)) < 1e-5f);
    assert_int_equal(r.n_top, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r.top[i].id, i);
        assert_true(fabsf(r.top[i].logprob - logf(p[i])) < 1e-5f);
    }
    it_sampler_free(s);
    /* everything banned */
    it_logit_bias ban[6];
    for (int i = 0; i < 6; i++) ban[i] = (it_logit_bias){i, -INFINITY};
    sp.bias = ban;
    sp.n_bias = 6;
    s = mk(&sp, 6);
    assert_int_equal(it_sampler_sample(s, l, NULL), -1);
    it_sampler_free(s);
    /* bad parameters */
    it_err e = {{0}};
    ban[0].id = 6;
    assert_int_equal(it_sampler_create(&sp, 6, &s, &e), INGOT_ERR_INVALID_ARG);
    assert_null(s);
}

/* a large vocabulary without top-k (the OpenAI API's case: only the distribution's head is
 * sorted): top-p and min-p keep the same tokens as on a small one */
static void sampler_large_vocab(void **state) {
    (void)state;
    enum { V = 1000 };
    static const float head[8] = {0.30f, 0.20f, 0.15f, 0.10f, 0.08f, 0.05f, 0.03f, 0.02f};
    float l[V];
    for (int i = 0; i < V; i++) l[i] = i < 8 ? logf(head[i]) : logf(0.07f / (V - 8));
    it_sampler_params sp;
    it_sampler_params_default(&sp);
    sp.temp = 1;
    sp.top_k = 0;
    struct { float top_p, min_p; unsigned want; int tail; } cases[] = {
        {0.6f, 0, 0x7, 0},    /* 0.30 + 0.20 + 0.15 = 0.65 >= 0.6 */
        {0.9f, 0, 0x7f, 0},   /* ... + 0.05 = 0.88 < 0.9, + 0.03 = 0.91 */
        {1, 0.2f, 0x1f, 0},   /* p >= 0.06 */
        {0.7f, 0.2f, 0xf, 0}, /* top-p's 4 (0.75) inside min-p's 5 */
        {1, 0, 0xff, 1},      /* everything, the 992 tail tokens too */
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        sp.top_p = cases[k].top_p;
        sp.min_p = cases[k].min_p;
        sp.seed = 77;
        it_sampler *s = mk(&sp, V);
        unsigned mask = 0;
        int tail = 0;
        for (int i = 0; i < 4000; i++) {
            int32_t id = it_sampler_sample(s, l, NULL);
            assert_true(id >= 0 && id < V);
            if (id < 8) mask |= 1u << id;
            else tail = 1;
        }
        it_sampler_free(s);
        if (mask != cases[k].want || tail != cases[k].tail)
            fail_msg("top_p %g min_p %g: tokens 0x%x tail %d, want 0x%x tail %d", cases[k].top_p, cases[k].min_p, mask,
                     tail, cases[k].want, cases[k].tail);
    }
}

/* with nothing truncated the draw follows the softmax over the whole vocabulary (several
 * exp chunks), never a banned token */
static void sampler_full_vocab(void **state) {
    (void)state;
    enum { V = 5000, N = 40000 };
    static float l[V];
    static const int ids[4] = {3, 1500, 2047, 4999};
    static const double pr[4] = {0.4, 0.3, 0.2, 0.1};
    for (int i = 0; i < V; i++) l[i] = -30.0f + (float)(i % 7); /* tail mass about 1e-9 */
    for (int k = 0; k < 4; k++) l[ids[k]] = logf((float)pr[k]) * 2; /* temperature 2 below */
    l[1000] = -INFINITY;
    it_sampler_params sp;
    it_sampler_params_default(&sp);
    sp.temp = 2;
    sp.top_k = 0, sp.top_p = 1, sp.min_p = 0;
    sp.seed = 5;
    it_sampler *s = mk(&sp, V);
    int cnt[4] = {0};
    for (int i = 0; i < N; i++) {
        int32_t id = it_sampler_sample(s, l, NULL);
        assert_true(id >= 0 && id < V && id != 1000);
        for (int k = 0; k < 4; k++) cnt[k] += id == ids[k];
    }
    it_sampler_free(s);
    for (int k = 0; k < 4; k++) /* 5 standard deviations */
        if (fabs(cnt[k] / (double)N - pr[k]) > 5 * sqrt(pr[k] * (1 - pr[k]) / N))
            fail_msg("id %d drawn %d of %d times, want p %g", ids[k], cnt[k], N, pr[k]);
}

static void sampler_seeded(void **state) {
    (void)state;
    enum { V = 100 };
    float l[V];
    uint64_t rs = 3;
    for (int i = 0; i < V; i++) l[i] = frand(&rs) * 3;
    it_sampler_params sp;
    it_sampler_params_default(&sp);
    sp.temp = 1.5f;
    sp.top_k = 0;
    sp.top_p = 0.99f;
    sp.min_p = 0;
    sp.seed = 1234;
    int32_t a[64], b[64], c[64];
    it_sampler *s1 = mk(&sp, V), *s2 = mk(&sp, V);
    sp.seed = 1235;
    it_sampler *s3 = mk(&sp, V);
    int same3 = 1;
    for (int i = 0; i < 64; i++) {
        a[i] = it_sampler_sample(s1, l, NULL);
        b[i] = it_sampler_sample(s2, l, NULL);
        c[i] = it_sampler_sample(s3, l, NULL);
        same3 &= a[i] == c[i];
    }
    assert_memory_equal(a, b, sizeof a);
    assert_false(same3);
    it_sampler_reset(s1);
    for (int i = 0; i < 64; i++) assert_int_equal(it_sampler_sample(s1, l, NULL), a[i]);
    it_sampler_free(s1);
    it_sampler_free(s2);
    it_sampler_free(s3);
}

static void stop_strings(void **state) {
    (void)state;
    const char *stops[] = {"</s>", "\n\nUser:"};
    size_t at, safe;
    assert_int_equal(it_stop_find("hello", 5, stops, 2, &at, &safe), 0);
    assert_int_equal(safe, 5);
    assert_int_equal(it_stop_find("hello </", 8, stops, 2, &at, &safe), 0);
    assert_int_equal(safe, 6); /* "</" may become "</s>" */
    assert_int_equal(it_stop_find("hi\n\nUs", 6, stops, 2, &at, &safe), 0);
    assert_int_equal(safe, 2);
    assert_int_equal(it_stop_find("hi</s> more", 11, stops, 2, &at, &safe), 1);
    assert_int_equal(at, 2);
    assert_int_equal(it_stop_find("a\n\nUser: x</s>", 14, stops, 2, &at, &safe), 1);
    assert_int_equal(at, 1);
    assert_int_equal(it_stop_find("<", 1, stops, 2, &at, &safe), 0);
    assert_int_equal(safe, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(greedy_gguf),      cmocka_unit_test(greedy_llama2c_bin), cmocka_unit_test(greedy_q8_0),
        cmocka_unit_test(generate_options), cmocka_unit_test(load_errors), cmocka_unit_test(batch_invariance), cmocka_unit_test(decode_sample), cmocka_unit_test(decode_steps), cmocka_unit_test(long_batch), cmocka_unit_test(numerics_llamacpp), cmocka_unit_test(prefix_fork), cmocka_unit_test(kv_blocks), cmocka_unit_test(kv_prefix), cmocka_unit_test(kv_evict_heap), cmocka_unit_test(prefix_cache_logits),
        cmocka_unit_test(sampler_steps),    cmocka_unit_test(sampler_large_vocab),
        cmocka_unit_test(sampler_full_vocab),
        cmocka_unit_test(sampler_seeded),     cmocka_unit_test(stop_strings),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
