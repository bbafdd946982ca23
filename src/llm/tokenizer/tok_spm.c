/*
 * tok_spm.c: SentencePiece-style BPE over token scores (tokenizer.ggml.model "llama": Llama 1/2,
 * Phi-3, Mistral, Gemma GGUFs), the algorithm of llama.cpp's SPM tokenizer, which reproduces
 * the Hugging Face / sentencepiece ids: spaces become U+2581 (plus one in front when the vocab
 * adds a space prefix), the text is split into UTF-8 characters, and the adjacent pair whose
 * concatenation is a token with the highest score is merged repeatedly (a binary heap of
 * candidate pairs; ties go to the leftmost). Symbols left without a token are emitted as byte
 * tokens <0xXX>, which is also what happens to invalid UTF-8 bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "llm/tokenizer/tok_internal.h"

typedef struct spm_sym {
    int prev, next;
    uint32_t off, n; /* bytes in the escaped text; n == 0 once merged away */
} spm_sym;

typedef struct spm_bigram {
    float score;
    int left, right;
    uint32_t size;
} spm_bigram;

typedef struct spm_heap {
    spm_bigram *v;
    size_t n, cap;
} spm_heap;

/* a before b in the queue: higher score, then leftmost */
static int spm_before(const spm_bigram *a, const spm_bigram *b) {
    if (a->score != b->score) return a->score > b->score;
    return a->left < b->left;
}

static int spm_heap_push(spm_heap *h, spm_bigram b) {
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 64;
        spm_bigram *nv = realloc(h->v, nc * sizeof *nv);
        if (!nv) return INGOT_ERR_NOMEM;
        h->v = nv;
        h->cap = nc;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!spm_before(&b, &h->v[p])) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = b;
    return 0;
}

static spm_bigram spm_heap_pop(spm_heap *h) {
    spm_bigram top = h->v[0];
    spm_bigram last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const spm_bigram *best = &last;
        if (l < h->n && spm_before(&h->v[l], best)) m = l, best = &h->v[l];
        if (r < h->n && spm_before(&h->v[r], best)) m = r;
        if (m == i) break;
        h->v[i] = h->v[m];
        i = m;
    }
    if (h->n) h->v[i] = last;
    return top;
}

static int spm_try_add(const it_tokenizer *t, const char *text, const spm_sym *sym, int left, int right,
                       spm_heap *h) {
    if (left < 0 || right < 0) return 0;
    uint32_t n = sym[left].n + sym[right].n;
    int32_t id = tok_lookup(t, text + sym[left].off, n);
    if (id < 0) return 0;
    spm_bigram b = {t->tok[id].score, left, right, n};
    return spm_heap_push(h, b);
}

int tok_spm_encode(const it_tokenizer *t, const char *s, size_t n, int prefix_space, tok_ids *o) {
    int st = 0;
    char *text = NULL;
    spm_sym *sym = NULL;
    spm_heap heap = {0};
    size_t nsp = prefix_space ? 1 : 0;
    for (size_t i = 0; i < n; i++) nsp += s[i] == ' ';
    size_t tn = n + 2 * nsp + (prefix_space ? 1 : 0);
    if (tn == 0) return 0;
    if (tn > (size_t)INT32_MAX / 2) return INGOT_ERR_LIMIT;
    text = malloc(tn);
    sym = malloc(tn * sizeof *sym);
    if (!text || !sym) {
        st = INGOT_ERR_NOMEM;
        goto out;
    }
    /* escape: ' ' -> U+2581 */
    size_t k = 0;
    if (prefix_space) memcpy(text + k, "\xe2\x96\x81", 3), k += 3;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') memcpy(text + k, "\xe2\x96\x81", 3), k += 3;
        else text[k++] = s[i];
    }
    /* split into characters (invalid bytes are characters of their own) */
    int ns = 0;
    for (size_t off = 0; off < k;) {
        size_t cl = tok_utf8_len(text + off, k - off);
        sym[ns].off = (uint32_t)off;
        sym[ns].n = (uint32_t)cl;
        sym[ns].prev = ns - 1;
        off += cl;
        sym[ns].next = off == k ? -1 : ns + 1;
        ns++;
    }
    for (int i = 1; i < ns; i++)
        if ((st = spm_try_add(t, text, sym, i - 1, i, &heap))) goto out;
    while (heap.n) {
        spm_bigram b = spm_heap_pop(&heap);
        spm_sym *l = &sym[b.left], *r = &sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = b.left;
        if ((st = spm_try_add(t, text, sym, l->prev, b.left, &heap))) goto out;
        if ((st = spm_try_add(t, text, sym, b.left, l->next, &heap))) goto out;
    }
    for (int i = 0; i != -1; i = sym[i].next) {
        int32_t id = tok_lookup(t, text + sym[i].off, sym[i].n);
        if (id >= 0) {
            if ((st = tok_ids_push(o, id))) goto out;
            continue;
        }
        for (uint32_t j = 0; j < sym[i].n; j++)
            if ((st = tok_push_byte(t, o, (unsigned char)text[sym[i].off + j]))) goto out;
    }
out:
    free(heap.v);
    free(sym);
    free(text);
    return st;
}
