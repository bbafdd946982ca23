/*
 * kv_cache.c: block pool and per-sequence block tables of kv_cache.h, with reference
 * counted blocks shared between sequences (forks of a common prefix, the prefix cache's
 * registered blocks) and copy on write.
 */
#include <stdlib.h>
#include <string.h>

#include "llm/kv_cache.h"

int it_kv_init(it_kv_cache *c, int64_t n_layer, int64_t kv_dim, int64_t n_ctx, int n_seq, int64_t n_blocks, int type,
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
    if (type != IT_KV_F32 && type != IT_KV_F16 && type != IT_KV_Q8_0)
        return it_fail(e, INGOT_ERR_INVALID_ARG, "kv cache: unknown entry type %d", type);
    if (type == IT_KV_Q8_0 && kv_dim % 32)
        return it_fail(e, INGOT_ERR_UNSUPPORTED, "kv cache: Q8_0 entries need a multiple of 32 K/V values per position, "
                       "the model has %lld", (long long)kv_dim);
    c->type = type;
    c->f16 = type == IT_KV_F16;
    c->q8 = type == IT_KV_Q8_0;
    c->row_bytes = c->q8 ? (size_t)(kv_dim / 32) * 34 : (size_t)kv_dim * (c->f16 ? 2 : 4);
    c->n_seq = n_seq;
    if (!it_mul_ok(n_layer * IT_KV_BLOCK, n_blocks, &bytes) || !it_mul_ok(bytes, (int64_t)c->row_bytes, &bytes) ||
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
    c->n_list = c->n_free = n_blocks;
    return 0;
}

void it_kv_free(it_kv_cache *c) {
    if (!c) return;
    it_free(c->k);
    it_free(c->v);
    free(c->free_list);
    free(c->ref);
    free(c->cached);
    free(c->bhash);
    free(c->bparent);
    free(c->tick);
    free(c->btok);
    free(c->table);
    free(c->heap);
    free(c->hpos);
    if (c->seq)
        for (int s = 0; s < c->n_seq; s++) {
            free(c->seq[s].blocks);
            free(c->seq[s].toks);
            free(c->seq[s].hash);
        }
    free(c->seq);
    memset(c, 0, sizeof *c);
}

/* ---- references and allocation (n_free counts the free list and evictable blocks) ---- */

/* The evictable blocks (registered, held by the cache alone) as a binary min-heap by
 * (tick, block id): the least recently used first, the lowest id among equals. A block's
 * tick does not change while it is evictable (only a holder touches it). */
static int older(const it_kv_cache *c, int32_t a, int32_t b) {
    return c->tick[a] < c->tick[b] || (c->tick[a] == c->tick[b] && a < b);
}

static void heap_set(it_kv_cache *c, int64_t i, int32_t b) {
    c->heap[i] = b;
    c->hpos[b] = (int32_t)i + 1;
}

static void heap_fix(it_kv_cache *c, int64_t i) { /* move the entry at i up or down to its place */
    const int32_t b = c->heap[i];
    while (i > 0 && older(c, b, c->heap[(i - 1) / 2])) heap_set(c, i, c->heap[(i - 1) / 2]), i = (i - 1) / 2;
    for (;;) {
        int64_t k = 2 * i + 1;
        if (k >= c->n_heap) break;
        if (k + 1 < c->n_heap && older(c, c->heap[k + 1], c->heap[k])) k++;
        if (!older(c, c->heap[k], b)) break;
        heap_set(c, i, c->heap[k]);
        i = k;
    }
    heap_set(c, i, b);
}

static void heap_add(it_kv_cache *c, int32_t b) {
    heap_set(c, c->n_heap++, b);
    heap_fix(c, c->n_heap - 1);
}

static void heap_remove(it_kv_cache *c, int32_t b) {
    const int64_t i = c->hpos[b] - 1;
    c->hpos[b] = 0;
    if (i < --c->n_heap) {
        heap_set(c, i, c->heap[c->n_heap]);
        heap_fix(c, i);
    }
}

static void ref_inc(it_kv_cache *c, int32_t b) {
    if (c->prefix && c->cached[b] && c->ref[b] == 1) c->n_free--, heap_remove(c, b); /* no longer evictable */
    c->ref[b]++;
}

static void ref_dec(it_kv_cache *c, int32_t b) {
    if (--c->ref[b] == 0) {
        c->free_list[c->n_list++] = b;
        c->n_free++;
    } else if (c->prefix && c->cached[b] && c->ref[b] == 1) {
        c->n_free++, heap_add(c, b); /* only the cache holds it: evictable */
    }
}

static void table_remove(it_kv_cache *c, int32_t b);

/* A block for a writer (reference 1); n_free > 0 is the caller's check. */
static int32_t blk_alloc(it_kv_cache *c) {
    if (c->n_list == 0) { /* evict the least recently used registered block no one uses */
        const int32_t victim = c->heap[0];
        heap_remove(c, victim);
        table_remove(c, victim);
        c->cached[victim] = 0;
        c->n_cached--;
        c->ref[victim] = 0;
        c->free_list[c->n_list++] = victim;
    }
    int32_t b = c->free_list[--c->n_list];
    c->n_free--;
    c->ref[b] = 1;
    return b;
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
        while (q->n_blocks < need) q->blocks[q->n_blocks++] = blk_alloc(c);
    }
    while (q->n_blocks > need) ref_dec(c, q->blocks[--q->n_blocks]);
    q->len = len;
    if (q->n_known > len) q->n_known = len;
    if (q->n_hashed > len / IT_KV_BLOCK) q->n_hashed = len / IT_KV_BLOCK;
    return 0;
}

static int grow_toks(it_kv_seq *q, int64_t n) {
    if (n <= q->toks_cap) return 0;
    int64_t nc = q->toks_cap * 2 > n ? q->toks_cap * 2 : n + 64;
    int32_t *t = realloc(q->toks, (size_t)nc * sizeof *t);
    if (!t) return -1;
    q->toks = t, q->toks_cap = nc;
    return 0;
}

static int grow_hash(it_kv_seq *q, int64_t n) {
    if (n <= q->hash_cap) return 0;
    int64_t nc = q->hash_cap * 2 > n ? q->hash_cap * 2 : n + 16;
    uint64_t *h = realloc(q->hash, (size_t)nc * sizeof *h);
    if (!h) return -1;
    q->hash = h, q->hash_cap = nc;
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
        ref_inc(c, b);
        d->blocks[i] = b;
    }
    d->n_blocks = need;
    d->len = len;
    if (c->prefix) { /* what src knew of those positions */
        const it_kv_seq *q = &c->seq[src];
        int64_t known = q->n_known < len ? q->n_known : len;
        if (known > 0 && !grow_toks(d, known)) {
            memcpy(d->toks, q->toks, (size_t)known * sizeof *d->toks);
            d->n_known = known;
        }
        int64_t nh = q->n_hashed < len / IT_KV_BLOCK ? q->n_hashed : len / IT_KV_BLOCK;
        if (nh > 0 && !grow_hash(d, nh)) {
            memcpy(d->hash, q->hash, (size_t)nh * sizeof *d->hash);
            d->n_hashed = nh;
        }
    }
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
    const size_t bb = (size_t)IT_KV_BLOCK * c->row_bytes; /* bytes of one block of one layer */
    for (int64_t bi = from / IT_KV_BLOCK; bi < q->n_blocks && bi * IT_KV_BLOCK < to; bi++) {
        int32_t b = q->blocks[bi];
        if (c->ref[b] <= 1) continue;
        int32_t nb = blk_alloc(c);
        for (int64_t l = 0; l < c->n_layer; l++) {
            size_t so = ((size_t)l * (size_t)c->n_blocks + (size_t)b) * bb, dof = ((size_t)l * (size_t)c->n_blocks + (size_t)nb) * bb;
            memcpy(c->k + dof, c->k + so, bb);
            memcpy(c->v + dof, c->v + so, bb);
        }
        ref_dec(c, b);
        q->blocks[bi] = nb;
    }
    return 0;
}

/* ---- prefix cache ---- */

#define PREFIX_SEED 0x243F6A8885A308D3ull


/* hash of the prefix ending with this block: its parent's hash and its tokens */
static uint64_t chain(uint64_t parent, const int32_t *t) {
    uint64_t h = it_hash_mix64(parent ^ 0x9E3779B97F4A7C15ull);
    for (int i = 0; i < IT_KV_BLOCK; i++) h = it_hash_mix64(h ^ (uint32_t)t[i]) + (uint64_t)i;
    return h;
}

int it_kv_prefix_enable(it_kv_cache *c, it_err *e) {
    if (c->prefix) return 0;
    int64_t cap = 16;
    while (cap < 2 * c->n_blocks) cap *= 2;
    size_t nb = (size_t)(c->n_blocks ? c->n_blocks : 1);
    c->cached = calloc(nb, 1);
    c->bhash = calloc(nb, sizeof *c->bhash);
    c->bparent = calloc(nb, sizeof *c->bparent);
    c->tick = calloc(nb, sizeof *c->tick);
    c->btok = calloc(nb * IT_KV_BLOCK, sizeof *c->btok);
    c->table = calloc((size_t)cap, sizeof *c->table);
    c->heap = calloc(nb, sizeof *c->heap);
    c->hpos = calloc(nb, sizeof *c->hpos);
    if (!c->cached || !c->bhash || !c->bparent || !c->tick || !c->btok || !c->table || !c->heap || !c->hpos)
        return it_fail(e, INGOT_ERR_NOMEM, "prefix cache: out of memory");
    c->table_mask = cap - 1;
    c->prefix = 1;
    return 0;
}

static int32_t table_find(const it_kv_cache *c, uint64_t h, uint64_t parent, const int32_t *t) {
    for (int64_t i = (int64_t)(h & (uint64_t)c->table_mask);; i = (i + 1) & c->table_mask) {
        int32_t v = c->table[i];
        if (!v) return -1;
        int32_t b = v - 1;
        if (c->bhash[b] == h && c->bparent[b] == parent &&
            !memcmp(c->btok + (size_t)b * IT_KV_BLOCK, t, IT_KV_BLOCK * sizeof *t))
            return b;
    }
}

static void table_insert(it_kv_cache *c, int32_t b) {
    int64_t i = (int64_t)(c->bhash[b] & (uint64_t)c->table_mask);
    while (c->table[i]) i = (i + 1) & c->table_mask;
    c->table[i] = b + 1;
}

/* linear probing with backward-shift deletion */
static void table_remove(it_kv_cache *c, int32_t b) {
    int64_t i = (int64_t)(c->bhash[b] & (uint64_t)c->table_mask);
    while (c->table[i] != b + 1) i = (i + 1) & c->table_mask;
    c->table[i] = 0;
    for (int64_t j = (i + 1) & c->table_mask; c->table[j]; j = (j + 1) & c->table_mask) {
        int64_t k = (int64_t)(c->bhash[c->table[j] - 1] & (uint64_t)c->table_mask); /* home of the entry at j */
        int movable = i <= j ? (k <= i || k > j) : (k <= i && k > j);
        if (movable) {
            c->table[i] = c->table[j];
            c->table[j] = 0;
            i = j;
        }
    }
}

/* deeper blocks of a chain get older ticks, so eviction takes a chain from its end */
static uint64_t tick_of(const it_kv_cache *c, int64_t depth) { return (c->epoch << 24) - (uint64_t)(depth & 0xffffff); }

void it_kv_prefix_note(it_kv_cache *c, int s, int64_t pos, const int32_t *tokens, int64_t n) {
    if (!c->prefix || s < 0 || s >= c->n_seq || n <= 0 || pos < 0) return;
    it_kv_seq *q = &c->seq[s];
    if (pos > q->n_known) return; /* a gap: nothing after it is known */
    if (pos + n > q->len) n = q->len - pos;
    if (n <= 0 || grow_toks(q, pos + n)) return;
    memcpy(q->toks + pos, tokens, (size_t)n * sizeof *tokens);
    q->n_known = pos + n;
    if (q->n_hashed > pos / IT_KV_BLOCK) q->n_hashed = pos / IT_KV_BLOCK; /* rewritten blocks */
    int64_t full = q->n_known / IT_KV_BLOCK;
    if (full <= q->n_hashed || grow_hash(q, full)) return;
    c->epoch++;
    for (int64_t i = q->n_hashed; i < full; i++) {
        uint64_t parent = i ? q->hash[i - 1] : PREFIX_SEED;
        const int32_t *t = q->toks + i * IT_KV_BLOCK;
        uint64_t h = chain(parent, t);
        q->hash[i] = h;
        int32_t b = q->blocks[i];
        if (!c->cached[b] && table_find(c, h, parent, t) < 0) { /* register: the cache's own reference */
            c->cached[b] = 1;
            c->n_cached++;
            c->bhash[b] = h;
            c->bparent[b] = parent;
            memcpy(c->btok + (size_t)b * IT_KV_BLOCK, t, IT_KV_BLOCK * sizeof *t);
            table_insert(c, b);
            c->ref[b]++;
        }
        if (c->cached[b]) c->tick[b] = tick_of(c, i);
    }
    q->n_hashed = full;
}

int64_t it_kv_prefix_match(it_kv_cache *c, int s, const int32_t *tokens, int64_t n) {
    if (s < 0 || s >= c->n_seq) return 0;
    it_kv_seq *q = &c->seq[s];
    while (q->n_blocks > 0) ref_dec(c, q->blocks[--q->n_blocks]);
    q->len = q->n_known = q->n_hashed = 0;
    if (!c->prefix || !tokens || n < IT_KV_BLOCK) return 0;
    int64_t most = n / IT_KV_BLOCK;
    if (most > (c->n_ctx) / IT_KV_BLOCK) most = c->n_ctx / IT_KV_BLOCK;
    if (grow_toks(q, most * IT_KV_BLOCK) || grow_hash(q, most)) return 0;
    if (most > q->cap) {
        int32_t *nb = realloc(q->blocks, (size_t)most * sizeof *nb);
        if (!nb) return 0;
        q->blocks = nb;
        q->cap = most;
    }
    c->epoch++;
    uint64_t parent = PREFIX_SEED;
    int64_t i = 0;
    for (; i < most; i++) {
        const int32_t *t = tokens + i * IT_KV_BLOCK;
        uint64_t h = chain(parent, t);
        c->queries++;
        int32_t b = table_find(c, h, parent, t);
        if (b < 0) break;
        c->hits++;
        ref_inc(c, b);
        c->tick[b] = tick_of(c, i);
        q->blocks[i] = b;
        q->hash[i] = h;
        parent = h;
    }
    q->n_blocks = q->n_hashed = i;
    q->len = q->n_known = i * IT_KV_BLOCK;
    memcpy(q->toks, tokens, (size_t)q->len * sizeof *tokens);
    return q->len;
}

void it_kv_usage(const it_kv_cache *c, int64_t *used, int64_t *cached_idle) {
    /* n_free counts the free list and the evictable blocks: registered ones that only the
     * cache holds */
    const int64_t idle = c->prefix ? c->n_free - c->n_list : 0;
    if (cached_idle) *cached_idle = idle;
    if (used) *used = c->n_blocks - c->n_list - idle;
}
