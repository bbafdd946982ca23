/*
 * kv_cache.h: the paged KV cache of an LLM context: a pool of fixed-size blocks
 * (IT_KV_BLOCK positions each, all layers) and one block table per sequence, so that many
 * sequences of different lengths share one pool and grow or shrink independently (the
 * server's continuous batching). Entries are f16 by default (f32 on request). Blocks carry
 * reference counts so that a shared prompt prefix can later be mapped into several tables.
 *
 * Layout: k and v are each [n_layer][n_blocks][IT_KV_BLOCK][kv_dim] elements.
 * Threads: owned by one context; only its driving thread resizes tables, while the forward
 * pass's workers read and write disjoint entries.
 */
#ifndef INGOT_LLM_KV_CACHE_H
#define INGOT_LLM_KV_CACHE_H

#include <stdint.h>

#include "base/base.h"

#define IT_KV_BLOCK 16

typedef struct it_kv_seq {
    int32_t *blocks; /* [n_blocks] pool block of each IT_KV_BLOCK positions */
    int64_t n_blocks, cap;
    int64_t len;     /* positions held */
} it_kv_seq;

typedef struct it_kv_cache {
    int64_t n_layer, kv_dim, n_blocks, n_ctx; /* n_ctx: the most positions of one sequence */
    int f16;
    size_t elsize;
    uint8_t *k, *v;
    int32_t *free_list; /* stack of free block ids */
    int64_t n_free;
    int32_t *ref;       /* [n_blocks] */
    int n_seq;
    it_kv_seq *seq;     /* [n_seq] */
} it_kv_cache;

/* n_blocks 0: enough for every sequence to reach n_ctx. */
int it_kv_init(it_kv_cache *c, int64_t n_layer, int64_t kv_dim, int64_t n_ctx, int n_seq, int64_t n_blocks, int f16,
               it_err *e);
void it_kv_free(it_kv_cache *c);
/* Make sequence s hold exactly len positions (allocating or releasing blocks). Fails with
 * INGOT_ERR_LIMIT naming the limit when len exceeds n_ctx or the pool is exhausted;
 * nothing changes then. */
int it_kv_seq_resize(it_kv_cache *c, int s, int64_t len, it_err *e);
/* Make sequence dst hold the first len positions of src (len <= src's length) by sharing
 * src's blocks (reference counts; nothing is copied now). dst's old contents are dropped.
 * A shared block is copied when either sequence writes into it (it_kv_seq_own). */
int it_kv_seq_fork(it_kv_cache *c, int src, int dst, int64_t len, it_err *e);
/* Blocks of s covering positions [from, to) that are shared (would need a copy before a write). */
int64_t it_kv_seq_shared(const it_kv_cache *c, int s, int64_t from, int64_t to);
/* Give s private copies of the shared blocks covering [from, to) (all layers, K and V).
 * INGOT_ERR_LIMIT when the pool has too few free blocks; nothing changes then. */
int it_kv_seq_own(it_kv_cache *c, int s, int64_t from, int64_t to, it_err *e);
/* Entry of (layer, sequence, position): kv_dim elements. pos < the sequence's blocks. */
static inline void *it_kv_entry(const it_kv_cache *c, const uint8_t *base, int64_t layer, int s, int64_t pos) {
    int64_t blk = c->seq[s].blocks[pos / IT_KV_BLOCK];
    return (void *)(base + (size_t)(((layer * c->n_blocks + blk) * IT_KV_BLOCK + pos % IT_KV_BLOCK) * c->kv_dim) *
                               c->elsize);
}

#endif
