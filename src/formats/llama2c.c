/*
 * llama2c.c: the llama2.c checkpoint and tokenizer readers (see llama2c.h).
 * The header is validated (positive sizes, dim divisible by n_heads, n_heads
 * by n_kv_heads, an even head size for RoPE), every tensor size is computed
 * with overflow checks, and the file must hold exactly the weights the header
 * implies, including the legacy freq_cis_real/imag tables (seq_len *
 * head_size floats together) that sit before an unshared classifier.
 */
#include "formats/llama2c.h"

#include <stdlib.h>
#include <string.h>

#include "formats/onnx/onnx.h" /* it_map_file */

static int32_t rd_i32(const uint8_t *p) {
    uint32_t v = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    return (int32_t)v;
}

int it_llama2c_parse(const void *buf, size_t len, it_llama2c *m, it_err *e) {
    static const char *const names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
    memset(m, 0, sizeof *m);
    const uint8_t *b = (const uint8_t *)buf;
    if (len < 28) return it_fail(e, INGOT_ERR_FORMAT, "llama2.c checkpoint: %zu bytes, the header needs 28", len);
    if ((uintptr_t)buf % 4) return it_fail(e, INGOT_ERR_INVALID_ARG, "llama2.c checkpoint buffer is not 4-byte aligned");
    int32_t h[7];
    for (int i = 0; i < 7; i++) h[i] = rd_i32(b + 4 * i);
    it_llama2c_config *c = &m->c;
    c->shared_classifier = h[5] > 0;
    if (h[5] < 0) {
        if (h[5] == INT32_MIN) return it_fail(e, INGOT_ERR_FORMAT, "llama2.c header: vocab_size at byte 20 is out of range");
        h[5] = -h[5];
    }
    for (int i = 0; i < 7; i++)
        if (h[i] <= 0 || h[i] > (1 << 24))
            return it_fail(e, INGOT_ERR_FORMAT, "llama2.c header: %s = %d at byte %d is out of range", names[i], h[i], 4 * i);
    c->dim = h[0]; c->hidden_dim = h[1]; c->n_layers = h[2]; c->n_heads = h[3]; c->n_kv_heads = h[4];
    c->vocab_size = h[5]; c->seq_len = h[6];
    if (c->dim % c->n_heads)
        return it_fail(e, INGOT_ERR_FORMAT, "llama2.c header: dim %d is not a multiple of n_heads %d", c->dim, c->n_heads);
    if (c->n_kv_heads > c->n_heads || c->n_heads % c->n_kv_heads)
        return it_fail(e, INGOT_ERR_FORMAT, "llama2.c header: n_heads %d is not a multiple of n_kv_heads %d", c->n_heads, c->n_kv_heads);
    c->head_size = c->dim / c->n_heads;
    if (c->head_size % 2) return it_fail(e, INGOT_ERR_FORMAT, "llama2.c header: head size %d is odd", c->head_size);
    c->kv_dim = c->head_size * c->n_kv_heads;

    int64_t L = c->n_layers, D = c->dim, H = c->hidden_dim, KV = c->kv_dim, V = c->vocab_size;
    int64_t sizes[13], total = 0;
    int ok = it_mul_ok(V, D, &sizes[0]) && it_mul_ok(L, D, &sizes[1]) && it_mul_ok(L * D, D, &sizes[2]) &&
             it_mul_ok(L * KV, D, &sizes[3]) && (sizes[4] = sizes[3], 1) && (sizes[5] = sizes[2], 1) &&
             (sizes[6] = sizes[1], 1) && it_mul_ok(L * H, D, &sizes[7]) && (sizes[8] = sizes[7], 1) &&
             (sizes[9] = sizes[7], 1) && (sizes[10] = D, 1) && it_mul_ok(c->seq_len, c->head_size, &sizes[11]) &&
             (sizes[12] = c->shared_classifier ? 0 : sizes[0], 1);
    for (int i = 0; ok && i < 13; i++) ok = it_add_ok(total, sizes[i], &total);
    if (!ok || total > IT_LIMIT_ELEMENTS)
        return it_fail(e, INGOT_ERR_LIMIT, "llama2.c checkpoint: the header's sizes overflow the element limit");
    int64_t need = 28 + 4 * total;
    if ((uint64_t)need != len)
        return it_fail(e, INGOT_ERR_FORMAT, "llama2.c checkpoint: the header implies %lld bytes, the file has %zu",
                       (long long)need, len);
    const float *p = (const float *)(const void *)(b + 28);
    const float **dst[13] = {&m->tok_emb, &m->rms_att, &m->wq, &m->wk, &m->wv, &m->wo, &m->rms_ffn,
                             &m->w1, &m->w2, &m->w3, &m->rms_final, NULL, &m->wcls};
    for (int i = 0; i < 13; i++) {
        if (dst[i]) *dst[i] = p;
        p += sizes[i];
    }
    if (c->shared_classifier) m->wcls = m->tok_emb;
    return 0;
}

int it_llama2c_open(const char *path, it_llama2c *m, it_err *e) {
    void *addr = NULL;
    size_t len = 0;
    memset(m, 0, sizeof *m);
    int st = it_map_file(path, &addr, &len, e);
    if (st) return st;
    st = it_llama2c_parse(addr, len, m, e);
    if (st) {
        it_unmap(addr, len);
        memset(m, 0, sizeof *m);
        return st;
    }
    m->map = addr;
    m->map_len = len;
    return 0;
}

void it_llama2c_free(it_llama2c *m) {
    if (!m) return;
    if (m->map) it_unmap(m->map, m->map_len);
    memset(m, 0, sizeof *m);
}

int it_llama2c_vocab_parse(const void *buf, size_t len, int32_t n_vocab, it_llama2c_vocab *v, it_err *e) {
    memset(v, 0, sizeof *v);
    const uint8_t *b = (const uint8_t *)buf;
    if (n_vocab <= 0 || n_vocab > (1 << 24)) return it_fail(e, INGOT_ERR_INVALID_ARG, "vocab size %d out of range", n_vocab);
    if (len < 4) return it_fail(e, INGOT_ERR_FORMAT, "llama2.c tokenizer: %zu bytes, too short", len);
    if ((size_t)n_vocab > (len - 4) / 8)
        return it_fail(e, INGOT_ERR_FORMAT, "llama2.c tokenizer: %zu bytes cannot hold %d tokens", len, n_vocab);
    v->max_token_length = rd_i32(b);
    v->tokens = calloc((size_t)n_vocab, sizeof *v->tokens);
    v->lens = calloc((size_t)n_vocab, sizeof *v->lens);
    v->scores = calloc((size_t)n_vocab, sizeof *v->scores);
    if (!v->tokens || !v->lens || !v->scores) {
        it_llama2c_vocab_free(v);
        return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    }
    size_t pos = 4;
    for (int32_t i = 0; i < n_vocab; i++) {
        if (len - pos < 8) {
            it_llama2c_vocab_free(v);
            return it_fail(e, INGOT_ERR_FORMAT, "llama2.c tokenizer: token %d at byte %zu: truncated", i, pos);
        }
        uint32_t bits = (uint32_t)rd_i32(b + pos);
        memcpy(&v->scores[i], &bits, 4);
        int32_t l = rd_i32(b + pos + 4);
        if (l < 0 || (size_t)l > len - pos - 8) {
            it_llama2c_vocab_free(v);
            return it_fail(e, INGOT_ERR_FORMAT, "llama2.c tokenizer: token %d at byte %zu: length %d past end of file", i, pos, l);
        }
        v->tokens[i] = (const char *)(b + pos + 8);
        v->lens[i] = (uint32_t)l;
        pos += 8 + (size_t)l;
    }
    if (pos != len) {
        size_t extra = len - pos;
        it_llama2c_vocab_free(v);
        return it_fail(e, INGOT_ERR_FORMAT, "llama2.c tokenizer: %zu bytes after the %d tokens (at byte %zu)", extra, n_vocab, pos);
    }
    v->n = n_vocab;
    return 0;
}

void it_llama2c_vocab_free(it_llama2c_vocab *v) {
    if (!v) return;
    free(v->tokens);
    free(v->lens);
    free(v->scores);
    memset(v, 0, sizeof *v);
}
