/*
 * kv_cache.h: the paged KV cache of an LLM context: a pool of fixed-size blocks
 * (IT_KV_BLOCK positions each, all layers) and one block table per sequence, so that many
 * sequences of different lengths share one pool and grow or shrink independently (the
 * server's continuous batching). Entries are f16 by default (f32 or Q8_0 on request). Blocks carry
 * reference counts so that a shared prompt prefix can be mapped into several tables.
 *
 * Prefix cache (optional, it_kv_prefix_enable): a full block whose tokens are known is
 * registered under a hash of the whole token prefix it ends (the chain of its block's
 * tokens and its parent block's hash), holding one reference of its own. A new sequence
 * maps the longest run of registered blocks that matches its prompt (it_kv_prefix_match)
 * instead of recomputing them, whichever sequence computed them and whether it is still
 * running. Registered blocks that no sequence uses are evictable: they count as free, and
 * allocation takes the least recently used one (the deepest block of a chain first; kept in
 * a heap by age, so O(log n)) when the free list is empty.
 *
 * Layout: v is [n_layer][n_blocks][IT_KV_BLOCK][kv_dim] elements; k is [n_layer][n_blocks]
 * [kv_dim][IT_KV_BLOCK] (each block transposed, so that one dimension of the block's
 * positions is contiguous: attention scores a whole block at once), and so is v when vt is
 * set (f16 heads of at most 16 dimensions: the weights of a block's positions then multiply
 * its V rows in whole vectors). Q8_0 entries are rows
 * of GGML Q8_0 blocks (32 elements, 34 bytes) per position in K and V alike, K not
 * transposed: [n_layer][n_blocks][IT_KV_BLOCK][kv_dim / 32 blocks].
 * Threads: owned by one context; only its driving thread resizes tables, while the forward
 * pass's workers read and write disjoint entries.
 */
#ifndef INGOT_LLM_KV_CACHE_H
#define INGOT_LLM_KV_CACHE_H

#include <stdint.h>

#include "base/base.h"

#define IT_KV_BLOCK 16
enum { IT_KV_F32 = 0, IT_KV_F16 = 1, IT_KV_Q8_0 = 2 };

typedef struct it_kv_seq {
    int32_t *blocks; /* [n_blocks] pool block of each IT_KV_BLOCK positions */
    int64_t n_blocks, cap;
    int64_t len;     /* positions held */
    /* prefix cache: the token at each position when known, and the chain hash of each
     * full block so far */
    int32_t *toks;
    int64_t n_known, toks_cap;
    uint64_t *hash;
    int64_t n_hashed, hash_cap;
} it_kv_seq;

typedef struct it_kv_cache {
    int64_t n_layer, kv_dim, n_blocks, n_ctx; /* n_ctx: the most positions of one sequence */
    int type;           /* IT_KV_* */
    int f16, q8;        /* type == IT_KV_F16, IT_KV_Q8_0 */
    int vt;             /* V blocks transposed like K's (f16 entries; set by the context) */
    size_t row_bytes;   /* one position's kv_dim entries */
    uint8_t *k, *v;
    int32_t *free_list; /* stack of free block ids */
    int64_t n_list;
    int64_t n_free;     /* blocks an allocation can take: the free list + evictable cached ones */
    int32_t *ref;       /* [n_blocks] sequences (and the prefix cache) holding each block */
    /* prefix cache (prefix != 0) */
    int prefix;
    uint8_t *cached;    /* [n_blocks] registered */
    uint64_t *bhash, *bparent, *tick; /* [n_blocks] */
    int32_t *btok;      /* [n_blocks][IT_KV_BLOCK] */
    int32_t *table;     /* open addressing, block id + 1 (0: empty) */
    int64_t table_mask, n_cached;
    int32_t *heap, *hpos; /* evictable blocks by age (kv_cache.c); each one's place + 1 (0: not in) */
    int64_t n_heap;
    uint64_t epoch;
    uint64_t hits, queries; /* blocks found / looked up by it_kv_prefix_match */
    int n_seq;
    it_kv_seq *seq;     /* [n_seq] */
} it_kv_cache;

/* n_blocks 0: enough for every sequence to reach n_ctx. type: IT_KV_* (Q8_0 needs kv_dim
 * to be a multiple of 32). */
int it_kv_init(it_kv_cache *c, int64_t n_layer, int64_t kv_dim, int64_t n_ctx, int n_seq, int64_t n_blocks, int type,
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
/* Turn the prefix cache on (before any sequence holds blocks). */
int it_kv_prefix_enable(it_kv_cache *c, it_err *e);
/* Record that positions [pos, pos + n) of s hold tokens (after they were computed) and
 * register the full blocks whose tokens are all known. No-op without the prefix cache. */
void it_kv_prefix_note(it_kv_cache *c, int s, int64_t pos, const int32_t *tokens, int64_t n);
/* Sequence s (emptied first) takes the registered blocks matching the longest whole-block
 * prefix of tokens[0..n); returns the positions it now holds (a multiple of IT_KV_BLOCK). */
int64_t it_kv_prefix_match(it_kv_cache *c, int s, const int32_t *tokens, int64_t n);
/* Blocks in use by sequences, and registered blocks no sequence uses (evictable). */
void it_kv_usage(const it_kv_cache *c, int64_t *used, int64_t *cached_idle);

/* Block of (layer, sequence, position) in base: IT_KV_BLOCK positions (float K: element
 * (pos, d) at [d * IT_KV_BLOCK + pos % IT_KV_BLOCK]; Q8_0: row pos % IT_KV_BLOCK). */
static inline void *it_kv_block(const it_kv_cache *c, const uint8_t *base, int64_t layer, int s, int64_t pos) {
    int64_t blk = c->seq[s].blocks[pos / IT_KV_BLOCK];
    return (void *)(base + (size_t)((layer * c->n_blocks + blk) * IT_KV_BLOCK) * c->row_bytes);
}
/* Entry of (layer, sequence, position) in V (or in a Q8_0 K): kv_dim elements. pos < the
 * sequence's blocks. */
static inline void *it_kv_entry(const it_kv_cache *c, const uint8_t *base, int64_t layer, int s, int64_t pos) {
    int64_t blk = c->seq[s].blocks[pos / IT_KV_BLOCK];
    return (void *)(base + (size_t)((layer * c->n_blocks + blk) * IT_KV_BLOCK + pos % IT_KV_BLOCK) * c->row_bytes);
}

#endif
