/*
 * tok_wpm.c: WordPiece (tokenizer.ggml.model "bert": BERT, BGE, MiniLM embedding models), as
 * the Hugging Face BertNormalizer + BertPreTokenizer + WordPiece model do it:
 *   clean: drop NUL, U+FFFD (also what invalid UTF-8 decodes to) and control characters
 *          (category C* except \t \n \r), whitespace separates words;
 *   CJK ideographs become words of their own;
 *   strip accents (NFD, then drop Mn marks) and lowercase, as the vocab asks;
 *   punctuation (P*, and ASCII symbols) becomes words of its own;
 *   each word is cut greedily into the longest vocabulary pieces, continuation pieces marked
 *   "##x" (tokenizer.json) or word-initial pieces marked "\u2581x" (GGUF, llama.cpp's
 *   convention); a word with no full cover, or longer than 100 characters, is one [UNK].
 */
#include <stdlib.h>
#include <string.h>

#include "llm/tokenizer/tok_internal.h"

#define WPM_MAX_WORD_CHARS 100

typedef struct wpm_buf {
    char *s;
    size_t n, cap;
    size_t chars;
} wpm_buf;

static int wpm_put(wpm_buf *b, uint32_t cp) {
    if (b->n + 4 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        char *ns = realloc(b->s, nc);
        if (!ns) return INGOT_ERR_NOMEM;
        b->s = ns;
        b->cap = nc;
    }
    b->n += tok_utf8_encode(cp, b->s + b->n);
    b->chars++;
    return 0;
}

static int wpm_is_cjk(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
           (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) ||
           (cp >= 0x2B920 && cp <= 0x2CEAF) || /* HF uses 0x2B920 here, not 0x2B820 */
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

/* greedy longest-match of one word (b->s[0..n)) into o */
static int wpm_word(const it_tokenizer *t, const wpm_buf *b, wpm_buf *scratch, tok_ids *o) {
    int32_t unk = t->special[IT_TOK_ID_UNK];
    size_t start_n = o->n;
    int st;
    if (b->n == 0) return 0;
    if (b->chars > WPM_MAX_WORD_CHARS) goto unknown;
    /* scratch = marker + word, so a piece is one contiguous lookup */
    size_t need = b->n + 3;
    if (need > scratch->cap) {
        char *ns = realloc(scratch->s, need);
        if (!ns) return INGOT_ERR_NOMEM;
        scratch->s = ns;
        scratch->cap = need;
    }
    for (size_t i = 0; i < b->n;) {
        size_t best = 0;
        int32_t best_id = -1;
        /* the piece text: GGUF "\u2581" + word at the start, bare after; HF bare at the start,
         * "##" + rest after */
        const char *pre = NULL;
        size_t pre_n = 0;
        if (!t->wpm_hash && i == 0) pre = "\xe2\x96\x81", pre_n = 3;
        if (t->wpm_hash && i > 0) pre = "##", pre_n = 2;
        if (pre_n) memcpy(scratch->s, pre, pre_n);
        size_t maxlen = b->n - i;
        if (maxlen + pre_n > t->max_token_len) maxlen = t->max_token_len > pre_n ? t->max_token_len - pre_n : 0;
        memcpy(scratch->s + pre_n, b->s + i, maxlen);
        for (size_t len = maxlen; len > 0; len--) {
            /* pieces end on character boundaries */
            if (i + len < b->n && ((unsigned char)b->s[i + len] & 0xC0) == 0x80) continue;
            int32_t id = tok_lookup(t, scratch->s, pre_n + len);
            if (id >= 0) {
                best = len;
                best_id = id;
                break;
            }
        }
        if (best_id < 0) goto unknown;
        if ((st = tok_ids_push(o, best_id))) return st;
        i += best;
    }
    return 0;
unknown:
    o->n = start_n;
    if (unk >= 0) return tok_ids_push(o, unk);
    return 0;
}

static int wpm_flush(const it_tokenizer *t, wpm_buf *w, wpm_buf *scratch, tok_ids *o) {
    int st = wpm_word(t, w, scratch, o);
    w->n = 0;
    w->chars = 0;
    return st;
}

int tok_wpm_encode(const it_tokenizer *t, const char *s, size_t n, tok_ids *o) {
    wpm_buf w = {0}, scratch = {0}, one = {0};
    int st = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += tok_utf8_decode(s + i, n - i, &cp);
        if (cp == 0 || cp == 0xFFFD) continue;
        unsigned f = tok_uc_flags(cp);
        if ((f & UC_CTRL) && cp != '\t' && cp != '\n' && cp != '\r') continue;
        if ((f & UC_WS) || cp == '\t' || cp == '\n' || cp == '\r') {
            if ((st = wpm_flush(t, &w, &scratch, o))) goto out;
            continue;
        }
        if (wpm_is_cjk(cp)) {
            if ((st = wpm_flush(t, &w, &scratch, o))) goto out;
            one.n = one.chars = 0;
            uint32_t lc[2];
            int nl = t->lowercase ? tok_uc_lower(cp, lc) : (lc[0] = cp, 1);
            for (int k = 0; k < nl; k++)
                if ((st = wpm_put(&one, lc[k]))) goto out;
            if ((st = wpm_flush(t, &one, &scratch, o))) goto out;
            continue;
        }
        uint32_t dec[8];
        int nd = t->strip_accents ? tok_uc_nfd(cp, dec) : (dec[0] = cp, 1);
        for (int k = 0; k < nd; k++) {
            uint32_t c = dec[k];
            if (t->strip_accents && (tok_uc_flags(c) & UC_MN)) continue;
            uint32_t lc[2];
            int nl = t->lowercase ? tok_uc_lower(c, lc) : (lc[0] = c, 1);
            for (int j = 0; j < nl; j++) {
                uint32_t x = lc[j];
                unsigned fx = tok_uc_flags(x);
                if ((fx & UC_PUNCT) || (x < 0x7F && (fx & UC_SYM))) {
                    if ((st = wpm_flush(t, &w, &scratch, o))) goto out;
                    one.n = one.chars = 0;
                    if ((st = wpm_put(&one, x))) goto out;
                    if ((st = wpm_flush(t, &one, &scratch, o))) goto out;
                } else if ((st = wpm_put(&w, x))) {
                    goto out;
                }
            }
        }
    }
    st = wpm_flush(t, &w, &scratch, o);
out:
    free(w.s);
    free(one.s);
    free(scratch.s);
    return st;
}
