/*
 * kv_cache.c: block pool and per-sequence block tables of kv_cache.h, with reference
 * counted blocks shared between sequences (forks of a common prefix) and copy on write.
 */
#include <stdlib.h>
#include <string.h>

#include "llm/kv_cache.h"

int it_kv_init(it_kv_cache *c, int64_t n_layer, int64_t kv_dim, int64_t n_ctx, int n_seq, int64_t n_blocks, int f16,
               it_err *e) {
    memset(c, 0, sizeof *c);
    if (n_layer <= 0 || kv_dim <= 0 || n_ctx <= 0 || n_seq <= 0 || n_seq > 4096 || n_blocks < 0)
        return it_fail(e, INGOT_ERR_INVALID_ARG, "kv cache: bad sizes (n_ctx %lld, n_seq %d)", (long long)n_ctx, n_seq);
    int64_t per_seq = (n_ctx + IT_KV_BLOCK - 1) / IT_KV_BLOCK, bytes;
    if (!n_blocks && !it_mul_ok(per_seq, n_seq, &n_blocks))
        return it_fail(e, INGOT_ERR_LIMIT, "kv cache too large");
    c->n_layer = n_layer;
    c->kv_dim = kv_dim;
    c->n_ctx = n_ctx;
    c->n_blocks = n_blocks;
    c->f16 = f16;
    c->elsize = f16 ? 2 : 4;
    c->n_seq = n_seq;
    if (!it_mul_ok(n_layer * IT_KV_BLOCK, n_blocks, &bytes) || !it_mul_ok(bytes, kv_dim * (int64_t)c->elsize, &bytes) ||
        bytes > IT_LIMIT_TENSOR_BYTES || n_blocks > INT32_MAX)
        return it_fail(e, INGOT_ERR_LIMIT, "kv cache of %lld blocks does not fit the limits", (long long)n_blocks);
    c->k = it_malloc((size_t)bytes);
    c->v = it_malloc((size_t)bytes);
    c->free_list = malloc((size_t)(n_blocks ? n_blocks : 1) * sizeof *c->free_list);
    c->ref = calloc((size_t)(n_blocks ? n_blocks : 1), sizeof *c->ref);
    c->seq = calloc((size_t)n_seq, sizeof *c->seq);
    if (!c->k || !c->v || !c->free_list || !c->ref || !c->seq) {
        it_kv_free(c);
        return it_fail(e, INGOT_ERR_NOMEM, "kv cache: out of memory (%lld bytes)", (long long)bytes * 2);
    }
    for (int64_t i = 0; i < n_blocks; i++) c->free_list[i] = (int32_t)(n_blocks - 1 - i);
    c->n_free = n_blocks;
    return 0;
}

void it_kv_free(it_kv_cache *c) {
    if (!c) return;
    it_free(c->k);
    it_free(c->v);
    free(c->free_list);
    free(c->ref);
    if (c->seq)
        for (int s = 0; s < c->n_seq; s++) free(c->seq[s].blocks);
    free(c->seq);
    memset(c, 0, sizeof *c);
}

int it_kv_seq_resize(it_kv_cache *c, int s, int64_t len, it_err *e) {
    if (s < 0 || s >= c->n_seq)
        return it_fail(e, INGOT_ERR_INVALID_ARG, "sequence id %d is outside [0, %d)", s, c->n_seq);
    if (len < 0 || len > c->n_ctx)
        return it_fail(e, INGOT_ERR_LIMIT, "sequence %d: %lld positions exceed the context size n_ctx = %lld", s,
                       (long long)len, (long long)c->n_ctx);
    it_kv_seq *q = &c->seq[s];
    int64_t need = (len + IT_KV_BLOCK - 1) / IT_KV_BLOCK;
    if (need > q->n_blocks) {
        if (need - q->n_blocks > c->n_free)
            return it_fail(e, INGOT_ERR_LIMIT, "kv cache full: sequence %d needs %lld more blocks, %lld free", s,
                           (long long)(need - q->n_blocks), (long long)c->n_free);
        if (need > q->cap) {
            int32_t *nb = realloc(q->blocks, (size_t)need * sizeof *nb);
            if (!nb) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
            q->blocks = nb;
            q->cap = need;
        }
        while (q->n_blocks < need) {
            int32_t b = c->free_list[--c->n_free];
            c->ref[b] = 1;
            q->blocks[q->n_blocks++] = b;
        }
    }
    while (q->n_blocks > need) {
        int32_t b = q->blocks[--q->n_blocks];
        if (--c->ref[b] == 0) c->free_list[c->n_free++] = b;
    }
    q->len = len;
    return 0;
}

int it_kv_seq_fork(it_kv_cache *c, int src, int dst, int64_t len, it_err *e) {
    if (src < 0 || src >= c->n_seq || dst < 0 || dst >= c->n_seq)
        return it_fail(e, INGOT_ERR_INVALID_ARG, "sequence ids %d, %d: outside [0, %d)", src, dst, c->n_seq);
    if (len < 0 || len > c->seq[src].len)
        return it_fail(e, INGOT_ERR_INVALID_ARG, "fork of %lld positions from sequence %d, which holds %lld",
                       (long long)len, src, (long long)c->seq[src].len);
    if (src == dst) return it_kv_seq_resize(c, src, len, e);
    int64_t need = (len + IT_KV_BLOCK - 1) / IT_KV_BLOCK;
    it_kv_seq *d = &c->seq[dst];
    if (need > d->cap) {
        int32_t *nb = realloc(d->blocks, (size_t)need * sizeof *nb);
        if (!nb) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
        d->blocks = nb;
        d->cap = need;
    }
    int st = it_kv_seq_resize(c, dst, 0, e);
    if (st) return st;
    for (int64_t i = 0; i < need; i++) {
        int32_t b = c->seq[src].blocks[i];
        c->ref[b]++;
        d->blocks[i] = b;
    }
    d->n_blocks = need;
    d->len = len;
    return 0;
}

int64_t it_kv_seq_shared(const it_kv_cache *c, int s, int64_t from, int64_t to) {
    const it_kv_seq *q = &c->seq[s];
    int64_t n = 0;
    for (int64_t bi = from / IT_KV_BLOCK; bi < q->n_blocks && bi * IT_KV_BLOCK < to; bi++) n += c->ref[q->blocks[bi]] > 1;
    return n;
}

int it_kv_seq_own(it_kv_cache *c, int s, int64_t from, int64_t to, it_err *e) {
    if (s < 0 || s >= c->n_seq) return it_fail(e, INGOT_ERR_INVALID_ARG, "sequence id %d out of range", s);
    int64_t need = it_kv_seq_shared(c, s, from, to);
    if (need > c->n_free)
        return it_fail(e, INGOT_ERR_LIMIT, "kv cache full: sequence %d needs %lld blocks to copy shared ones, %lld free",
                       s, (long long)need, (long long)c->n_free);
    it_kv_seq *q = &c->seq[s];
    const size_t bb = (size_t)IT_KV_BLOCK * (size_t)c->kv_dim * c->elsize; /* bytes of one block of one layer */
    for (int64_t bi = from / IT_KV_BLOCK; bi < q->n_blocks && bi * IT_KV_BLOCK < to; bi++) {
        int32_t b = q->blocks[bi];
        if (c->ref[b] <= 1) continue;
        int32_t nb = c->free_list[--c->n_free];
        for (int64_t l = 0; l < c->n_layer; l++) {
            size_t so = ((size_t)l * (size_t)c->n_blocks + (size_t)b) * bb, dof = ((size_t)l * (size_t)c->n_blocks + (size_t)nb) * bb;
            memcpy(c->k + dof, c->k + so, bb);
            memcpy(c->v + dof, c->v + so, bb);
        }
        c->ref[b]--;
        c->ref[nb] = 1;
        q->blocks[bi] = nb;
    }
    return 0;
}
