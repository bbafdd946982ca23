/*
 * convert.c: the model-file tools of include/ingot_llm.h: llama2.c -> GGUF
 * and Hugging Face folder -> GGUF (llm/hf.c) conversion, and GGUF quantization.
 *
 * Conversion maps the checkpoint and writes its tensors straight from the
 * mapping (no copy) under llama.cpp's tensor names, with the vocabulary
 * rewritten the way llama.cpp's convert-llama2c-to-ggml does (spaces as
 * U+2581, <unk>/<s>/</s> for ids 0-2, byte tokens typed as bytes).
 *
 * Quantization streams one tensor at a time: rows are converted to float and
 * quantized on a thread pool (rows are independent, so the output does not
 * depend on the thread count).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"
#include "formats/gguf.h"
#include "formats/llama2c.h"
#include "formats/onnx/onnx.h" /* it_map_file */
#include "ingot_llm.h"
#include "llm/hf.h"
#include "tensor/quant.h"

/* llama.cpp's token types and file types */
enum { TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_BYTE = 6 };

static ingot_status finish(int st, const it_err *e, char *err, size_t errlen) {
    if (err && errlen) {
        if (st) snprintf(err, errlen, "%s", e->msg);
        else err[0] = 0;
    }
    return (ingot_status)st;
}

static int is_byte_token(const char *s, uint32_t n) {
    static const char hex[] = "0123456789ABCDEFabcdef";
    return n == 6 && !memcmp(s, "<0x", 3) && s[5] == '>' && strchr(hex, s[3]) && s[3] && strchr(hex, s[4]) && s[4];
}

/* ---- llama2.c -> GGUF ---- */

static int add_vocab(it_gguf_writer *w, const it_llama2c_vocab *v, it_err *e) {
    int st = INGOT_ERR_NOMEM;
    char **toks = calloc((size_t)v->n, sizeof *toks);
    size_t *lens = calloc((size_t)v->n, sizeof *lens);
    int32_t *types = calloc((size_t)v->n, sizeof *types);
    if (!toks || !lens || !types) goto fail;
    for (int32_t i = 0; i < v->n; i++) {
        const char *s = v->tokens[i];
        uint32_t n = v->lens[i];
        int type = TOK_NORMAL;
        if (i == 0) { s = "<unk>"; n = 5; type = TOK_UNKNOWN; }
        else if (i == 1) { s = "<s>"; n = 3; type = TOK_CONTROL; }
        else if (i == 2) { s = "</s>"; n = 4; type = TOK_CONTROL; }
        else if (n == 0) type = TOK_CONTROL;
        else if (is_byte_token(s, n)) type = TOK_BYTE;
        size_t spaces = 0;
        for (uint32_t k = 0; k < n; k++) spaces += s[k] == ' ';
        char *t = malloc(n + 2 * spaces + 1), *q = t;
        if (!t) goto fail;
        for (uint32_t k = 0; k < n; k++) {
            if (s[k] == ' ') { memcpy(q, "\xe2\x96\x81", 3); q += 3; }
            else *q++ = s[k];
        }
        toks[i] = t;
        lens[i] = (size_t)(q - t);
        types[i] = type;
    }
    if ((st = it_gguf_w_str(w, "tokenizer.ggml.model", "llama", 5, e)) ||
        (st = it_gguf_w_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks, lens, (uint64_t)v->n, e)) ||
        (st = it_gguf_w_arr(w, "tokenizer.ggml.scores", IT_GGUF_F32, v->scores, (uint64_t)v->n, e)) ||
        (st = it_gguf_w_arr(w, "tokenizer.ggml.token_type", IT_GGUF_I32, types, (uint64_t)v->n, e)) ||
        (st = it_gguf_w_u32(w, "tokenizer.ggml.unknown_token_id", 0, e)) ||
        (st = it_gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 1, e)) ||
        (st = it_gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 2, e)) ||
        (st = it_gguf_w_bool(w, "tokenizer.ggml.add_bos_token", 1, e)) ||
        (st = it_gguf_w_bool(w, "tokenizer.ggml.add_eos_token", 0, e)))
        goto fail;
    st = 0;
fail:
    if (st == INGOT_ERR_NOMEM && !e->msg[0]) it_fail(e, st, "out of memory");
    if (toks)
        for (int32_t i = 0; i < v->n; i++) free(toks[i]);
    free(toks);
    free(lens);
    free(types);
    return st;
}

static int tensor2(it_gguf_writer *w, const char *name, int64_t ne0, int64_t ne1, const float *data, it_err *e) {
    int64_t ne[2] = {ne0, ne1};
    return it_gguf_w_tensor(w, name, IT_GGML_F32, ne1 ? 2 : 1, ne, data, e);
}

static void prefix_path(it_err *e, const char *path) {
    char tmp[sizeof e->msg];
    memcpy(tmp, e->msg, sizeof tmp);
    snprintf(e->msg, sizeof e->msg, "%.200s: %.300s", path, tmp);
}

static const char *base_name(const char *path, char *buf, size_t n) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(buf, n, "%s", b);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf) *dot = 0;
    return buf;
}

ingot_status ingot_convert_llama2c(const char *model, const char *tok, const char *out, char *err, size_t errlen) {
    it_err e = {{0}};
    it_llama2c m;
    it_llama2c_vocab v;
    void *tmap = NULL;
    size_t tlen = 0;
    it_gguf_writer *w = NULL;
    int st;
    memset(&m, 0, sizeof m);
    memset(&v, 0, sizeof v);
    if (!model || !tok || !out) return finish(it_fail(&e, INGOT_ERR_INVALID_ARG, "NULL path"), &e, err, errlen);
    if ((st = it_llama2c_open(model, &m, &e))) {
        prefix_path(&e, model);
        goto fail;
    }
    if ((st = it_map_file(tok, &tmap, &tlen, &e))) goto fail;
    if ((st = it_llama2c_vocab_parse(tmap, tlen, m.c.vocab_size, &v, &e))) {
        prefix_path(&e, tok);
        goto fail;
    }
    w = it_gguf_writer_create();
    if (!w) { st = it_fail(&e, INGOT_ERR_NOMEM, "out of memory"); goto fail; }
    const it_llama2c_config *c = &m.c;
    char name[128];
    base_name(model, name, sizeof name);
    if ((st = it_gguf_w_str(w, "general.architecture", "llama", 5, &e)) ||
        (st = it_gguf_w_str(w, "general.name", name, strlen(name), &e)) ||
        (st = it_gguf_w_u32(w, "general.file_type", 0, &e)) ||
        (st = it_gguf_w_u32(w, "llama.vocab_size", (uint32_t)c->vocab_size, &e)) ||
        (st = it_gguf_w_u32(w, "llama.context_length", (uint32_t)c->seq_len, &e)) ||
        (st = it_gguf_w_u32(w, "llama.embedding_length", (uint32_t)c->dim, &e)) ||
        (st = it_gguf_w_u32(w, "llama.block_count", (uint32_t)c->n_layers, &e)) ||
        (st = it_gguf_w_u32(w, "llama.feed_forward_length", (uint32_t)c->hidden_dim, &e)) ||
        (st = it_gguf_w_u32(w, "llama.attention.head_count", (uint32_t)c->n_heads, &e)) ||
        (st = it_gguf_w_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads, &e)) ||
        (st = it_gguf_w_u32(w, "llama.rope.dimension_count", (uint32_t)c->head_size, &e)) ||
        (st = it_gguf_w_f32(w, "llama.rope.freq_base", 10000.0f, &e)) ||
        (st = it_gguf_w_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f, &e)) ||
        (st = add_vocab(w, &v, &e)))
        goto fail;
    const int64_t D = c->dim, H = c->hidden_dim, KV = c->kv_dim, V = c->vocab_size;
    if ((st = tensor2(w, "token_embd.weight", D, V, m.tok_emb, &e)) ||
        (st = tensor2(w, "output_norm.weight", D, 0, m.rms_final, &e)) ||
        (!c->shared_classifier && (st = tensor2(w, "output.weight", D, V, m.wcls, &e))))
        goto fail;
    for (int64_t l = 0; l < c->n_layers; l++) {
        char n[9][64];
        static const char *const sfx[9] = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                                           "ffn_norm", "ffn_gate", "ffn_down", "ffn_up"};
        for (int k = 0; k < 9; k++) snprintf(n[k], sizeof n[k], "blk.%lld.%s.weight", (long long)l, sfx[k]);
        if ((st = tensor2(w, n[0], D, 0, m.rms_att + l * D, &e)) ||
            (st = tensor2(w, n[1], D, D, m.wq + l * D * D, &e)) ||
            (st = tensor2(w, n[2], D, KV, m.wk + l * KV * D, &e)) ||
            (st = tensor2(w, n[3], D, KV, m.wv + l * KV * D, &e)) ||
            (st = tensor2(w, n[4], D, D, m.wo + l * D * D, &e)) ||
            (st = tensor2(w, n[5], D, 0, m.rms_ffn + l * D, &e)) ||
            (st = tensor2(w, n[6], D, H, m.w1 + l * H * D, &e)) ||
            (st = tensor2(w, n[7], H, D, m.w2 + l * D * H, &e)) ||
            (st = tensor2(w, n[8], D, H, m.w3 + l * H * D, &e)))
            goto fail;
    }
    st = it_gguf_w_write_file(w, out, NULL, NULL, &e);
fail:
    it_gguf_writer_free(w);
    it_llama2c_vocab_free(&v);
    it_unmap(tmap, tlen);
    it_llama2c_free(&m);
    return finish(st, &e, err, errlen);
}

/* ---- Hugging Face folder -> GGUF (llm/hf.c) ---- */

ingot_status ingot_convert_hf(const char *dir, const char *out, char *err, size_t errlen) {
    it_err e = {{0}};
    if (!dir || !out) return finish(it_fail(&e, INGOT_ERR_INVALID_ARG, "NULL path"), &e, err, errlen);
    return finish(it_hf_convert_file(dir, out, &e), &e, err, errlen);
}

/* ---- quantization ---- */

typedef struct qtensor {
    const it_gguf_tensor *src;
    uint32_t dst_type;
} qtensor;

typedef struct qctx {
    it_gguf *g;
    qtensor *qt;
    it_threadpool *tp;
    int nthreads;
    float *scratch;     /* nthreads rows of the current tensor */
    size_t scratch_cap; /* floats */
    /* per-tensor job */
    const uint8_t *src;
    uint8_t *dst;
    uint32_t src_type, dst_type;
    int64_t row_len, src_row, dst_row;
    int failed;
} qctx;

static void quant_rows(void *arg, int64_t begin, int64_t end, int tid) {
    qctx *q = (qctx *)arg;
    float *buf = q->scratch + (size_t)tid * (size_t)q->row_len;
    for (int64_t r = begin; r < end; r++) {
        if (it_dequant_row(q->src_type, q->src + r * q->src_row, buf, q->row_len) ||
            it_quant_row(q->dst_type, buf, q->dst + r * q->dst_row, q->row_len))
            q->failed = 1; /* benign race: only ever set to 1 */
    }
}

static int fill_tensor(void *ud, int64_t index, void *dst, size_t nbytes, it_err *e) {
    qctx *q = (qctx *)ud;
    const qtensor *t = &q->qt[index];
    const it_gguf_tensor *s = t->src;
    int64_t rows = 1;
    for (int k = 1; k < s->ndim; k++) rows *= s->ne[k];
    q->row_len = s->ne[0];
    q->src = (const uint8_t *)s->data;
    q->dst = (uint8_t *)dst;
    q->src_type = s->type;
    q->dst_type = t->dst_type;
    q->src_row = it_ggml_row_bytes(s->type, s->ne[0]);
    q->dst_row = it_ggml_row_bytes(t->dst_type, s->ne[0]);
    q->failed = 0;
    if (q->dst_row < 0 || (uint64_t)(q->dst_row * rows) != nbytes)
        return it_fail(e, INGOT_ERR_INTERNAL, "tensor '%s': size mismatch", s->name);
    size_t need = (size_t)q->nthreads * (size_t)q->row_len;
    if (need > q->scratch_cap) {
        float *n = realloc(q->scratch, need * sizeof *n);
        if (!n) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
        q->scratch = n;
        q->scratch_cap = need;
    }
    int64_t grain = 1 + (1 << 16) / (q->row_len ? q->row_len : 1);
    it_parallel_for(q->tp, rows, grain, quant_rows, q);
    if (q->failed) return it_fail(e, INGOT_ERR_INTERNAL, "tensor '%s': quantization failed", s->name);
    return 0;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static int is_float_type(uint32_t t) { return t == IT_GGML_F32 || t == IT_GGML_F16 || t == IT_GGML_BF16; }

/* The type llama-quantize (no imatrix, not --pure) gives tensor t for base type `base`. */
static uint32_t pick_type(const it_gguf *g, const it_gguf_tensor *t, uint32_t base) {
    int nd = t->ndim;
    while (nd > 1 && t->ne[nd - 1] == 1) nd--; /* ggml_n_dims */
    int quantize = ends_with(t->name, "weight") && nd >= 2 && !strstr(t->name, "ffn_gate_inp.weight") &&
                   !strstr(t->name, "pos_embd") && !strstr(t->name, "token_types") && !strstr(t->name, "ssm_");
    if (!quantize) return t->type;
    uint32_t ty = base;
    int is_block = it_ggml_block_size(base) > 1;
    int is_output = !strcmp(t->name, "output.weight") ||
                    (!strcmp(t->name, "token_embd.weight") && it_gguf_find_tensor(g, "output.weight") < 0);
    if (is_block && is_output && base != IT_GGML_Q8_0) ty = t->ne[0] % IT_QK_K ? IT_GGML_Q8_0 : IT_GGML_Q6_K;
    if (t->ne[0] % it_ggml_block_size(ty)) {
        switch (ty) {
        case IT_GGML_Q2_K: case IT_GGML_Q3_K: ty = IT_GGML_Q4_0; break;
        case IT_GGML_Q4_K: ty = IT_GGML_Q5_0; break;
        case IT_GGML_Q5_K: ty = IT_GGML_Q5_1; break;
        case IT_GGML_Q6_K: ty = IT_GGML_Q8_0; break;
        default: break;
        }
        if (t->ne[0] % it_ggml_block_size(ty)) ty = IT_GGML_F16;
    }
    return ty;
}

static int file_type_of(uint32_t t) {
    switch (t) {
    case IT_GGML_F32: return 0;
    case IT_GGML_F16: return 1;
    case IT_GGML_Q4_0: return 2;
    case IT_GGML_Q4_1: return 3;
    case IT_GGML_Q8_0: return 7;
    case IT_GGML_Q5_0: return 8;
    case IT_GGML_Q5_1: return 9;
    case IT_GGML_Q2_K: return 10;
    case IT_GGML_Q3_K: return 11; /* Q3_K_S */
    case IT_GGML_Q4_K: return 14; /* Q4_K_S */
    case IT_GGML_Q5_K: return 16; /* Q5_K_S */
    case IT_GGML_Q6_K: return 18;
    case IT_GGML_BF16: return 32;
    default: return -1;
    }
}

ingot_status ingot_quantize_gguf(const char *in, const char *out, const char *type, int threads, char *err,
                                 size_t errlen) {
    it_err e = {{0}};
    it_gguf g;
    qctx q;
    it_gguf_writer *w = NULL;
    int st;
    memset(&g, 0, sizeof g);
    memset(&q, 0, sizeof q);
    if (!in || !out || !type) return finish(it_fail(&e, INGOT_ERR_INVALID_ARG, "NULL argument"), &e, err, errlen);
    int base = it_ggml_type_from_name(type);
    int ftype = base >= 0 ? file_type_of((uint32_t)base) : -1;
    if (ftype < 0 || base == IT_GGML_Q8_K || !it_ggml_can_quant((uint32_t)base))
        return finish(it_fail(&e, INGOT_ERR_INVALID_ARG,
                              "unknown quantization type '%s' (F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K)", type),
                      &e, err, errlen);
    if ((st = it_gguf_open(in, &g, &e))) goto fail;
    w = it_gguf_writer_create();
    q.qt = calloc(g.n_tensors ? (size_t)g.n_tensors : 1, sizeof *q.qt);
    if (!w || !q.qt) { st = it_fail(&e, INGOT_ERR_NOMEM, "out of memory"); goto fail; }
    for (int64_t i = 0; i < g.n_kv; i++) {
        const char *k = g.kv[i].key;
        if (!strcmp(k, "general.file_type") || !strcmp(k, "general.quantization_version")) continue;
        if ((st = it_gguf_w_val(w, k, &g.kv[i].v, &e))) goto fail;
    }
    if ((st = it_gguf_w_u32(w, "general.file_type", (uint32_t)ftype, &e))) goto fail;
    if (it_ggml_block_size((uint32_t)base) > 1 && (st = it_gguf_w_u32(w, "general.quantization_version", 2, &e))) goto fail;
    for (int64_t i = 0; i < g.n_tensors; i++) {
        const it_gguf_tensor *t = &g.tensors[i];
        uint32_t ty = pick_type(&g, t, (uint32_t)base);
        if (t->ndim > 4) { st = it_fail(&e, INGOT_ERR_UNSUPPORTED, "tensor '%s' has %d dims (GGUF writers allow 4)", t->name, t->ndim); goto fail; }
        if (ty != t->type && !is_float_type(t->type) && !is_float_type(ty)) { /* dequantizing is fine */
            st = it_fail(&e, INGOT_ERR_UNSUPPORTED, "tensor '%s' is %s: requantizing is not supported (start from F32, F16 or BF16, "
                         "or dequantize to one of them first)",
                         t->name, it_ggml_type_name(t->type));
            goto fail;
        }
        q.qt[i].src = t;
        q.qt[i].dst_type = ty;
        int ndim = t->ndim ? t->ndim : 1;
        if ((st = it_gguf_w_tensor(w, t->name, ty, ndim, t->ne, ty == t->type ? t->data : NULL, &e))) goto fail;
    }
    q.g = &g;
    q.nthreads = threads > 0 ? threads : it_cpu_count();
    if (q.nthreads < 1) q.nthreads = 1;
    if (q.nthreads > 256) q.nthreads = 256;
    q.tp = it_threadpool_create(q.nthreads);
    if (!q.tp) { st = it_fail(&e, INGOT_ERR_NOMEM, "cannot create the thread pool"); goto fail; }
    q.nthreads = it_threadpool_size(q.tp);
    st = it_gguf_w_write_file(w, out, fill_tensor, &q, &e);
fail:
    it_threadpool_free(q.tp);
    free(q.scratch);
    free(q.qt);
    it_gguf_writer_free(w);
    it_gguf_free(&g);
    return finish(st, &e, err, errlen);
}
