/*
 * llama2c.h: reading llama2.c checkpoints (the legacy "version 0" export of
 * karpathy/llama2.c: a 7 x int32 header then float32 weights) and llama2.c
 * tokenizer files (int32 max_token_length, then per token a float32 score,
 * an int32 length and the bytes).
 *
 * Weights are views into the caller's buffer (normally a read-only mmap);
 * every size is checked against the file length, which must match exactly.
 * Matrices are row-major [out, in] as llama2.c's matmul reads them.
 */
#ifndef INGOT_LLAMA2C_H
#define INGOT_LLAMA2C_H

#include <stdint.h>

#include "base/base.h"

typedef struct it_llama2c_config {
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
    int shared_classifier; /* header vocab_size > 0: the classifier is the embedding */
    int32_t head_size, kv_dim;
} it_llama2c_config;

typedef struct it_llama2c {
    it_llama2c_config c;
    const float *tok_emb;   /* [vocab, dim] */
    const float *rms_att;   /* [n_layers, dim] */
    const float *wq;        /* [n_layers, dim, dim] */
    const float *wk;        /* [n_layers, kv_dim, dim] */
    const float *wv;        /* [n_layers, kv_dim, dim] */
    const float *wo;        /* [n_layers, dim, dim] */
    const float *rms_ffn;   /* [n_layers, dim] */
    const float *w1;        /* [n_layers, hidden, dim] (gate) */
    const float *w2;        /* [n_layers, dim, hidden] (down) */
    const float *w3;        /* [n_layers, hidden, dim] (up) */
    const float *rms_final; /* [dim] */
    const float *wcls;      /* [vocab, dim]; == tok_emb when shared */
    void *map;              /* it_llama2c_open: the mapping */
    size_t map_len;
} it_llama2c;

/* buf must be 4-byte aligned and outlive m. */
int it_llama2c_parse(const void *buf, size_t len, it_llama2c *m, it_err *e);
int it_llama2c_open(const char *path, it_llama2c *m, it_err *e);
void it_llama2c_free(it_llama2c *m);

typedef struct it_llama2c_vocab {
    int32_t n;
    int32_t max_token_length;
    const char **tokens; /* n pointers into the buffer (not NUL-terminated) */
    uint32_t *lens;
    float *scores;
} it_llama2c_vocab;

/* Parse a tokenizer file holding exactly n_vocab tokens (buf outlives v). */
int it_llama2c_vocab_parse(const void *buf, size_t len, int32_t n_vocab, it_llama2c_vocab *v, it_err *e);
void it_llama2c_vocab_free(it_llama2c_vocab *v);

#endif
