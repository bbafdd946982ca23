/*
 * tok_unicode.c: the Unicode the tokenizers need outside PCRE2: UTF-8 decoding that never
 * reads past the end and turns invalid bytes into U+FFFD, and lookups in the generated tables
 * of tok_unicode_data.inc (categories, full lowercase, canonical decomposition) used by the
 * BERT normalizer of tok_wpm.c.
 */
#include <stdint.h>
#include <stdlib.h>

#include "llm/tokenizer/tok_internal.h"

#include "llm/tokenizer/tok_unicode_data.inc"

size_t tok_utf8_len(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    unsigned char c = p[0];
    size_t need;
    uint32_t min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) need = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) need = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) need = 4, min = 0x10000;
    else return 1;
    if (need > n) return 1;
    uint32_t cp = c & (0x7F >> need);
    for (size_t i = 1; i < need; i++) {
        if ((p[i] & 0xC0) != 0x80) return 1;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 1;
    return need;
}

size_t tok_utf8_decode(const char *s, size_t n, uint32_t *cp) {
    const unsigned char *p = (const unsigned char *)s;
    size_t k = tok_utf8_len(s, n);
    if (k == 1) {
        *cp = p[0] < 0x80 ? p[0] : 0xFFFD;
        return 1;
    }
    uint32_t v = p[0] & (0x7F >> k);
    for (size_t i = 1; i < k; i++) v = (v << 6) | (p[i] & 0x3F);
    *cp = v;
    return k;
}

size_t tok_utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp > 0x10FFFF) return tok_utf8_encode(0xFFFD, out);
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

unsigned tok_uc_flags(uint32_t cp) {
    size_t lo = 0, hi = sizeof tok_uc_ranges / sizeof tok_uc_ranges[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < tok_uc_ranges[mid].lo) hi = mid;
        else if (cp > tok_uc_ranges[mid].hi) lo = mid + 1;
        else return tok_uc_ranges[mid].flags;
    }
    return 0;
}

int tok_uc_lower(uint32_t cp, uint32_t out[2]) {
    size_t lo = 0, hi = sizeof tok_uc_lowers / sizeof tok_uc_lowers[0];
    if (cp >= 'A' && cp <= 'Z') {
        out[0] = cp + 32;
        return 1;
    }
    if (cp < 0x80) {
        out[0] = cp;
        return 1;
    }
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < tok_uc_lowers[mid].cp) hi = mid;
        else if (cp > tok_uc_lowers[mid].cp) lo = mid + 1;
        else {
            out[0] = tok_uc_lowers[mid].l0;
            if (tok_uc_lowers[mid].l1) {
                out[1] = tok_uc_lowers[mid].l1;
                return 2;
            }
            return 1;
        }
    }
    out[0] = cp;
    return 1;
}

int tok_uc_nfd(uint32_t cp, uint32_t out[8]) {
    if (cp >= 0xAC00 && cp <= 0xD7A3) { /* Hangul syllable: algorithmic */
        uint32_t s = cp - 0xAC00;
        out[0] = 0x1100 + s / (21 * 28);
        out[1] = 0x1161 + (s % (21 * 28)) / 28;
        if (s % 28) {
            out[2] = 0x11A7 + s % 28;
            return 3;
        }
        return 2;
    }
    if (cp >= 0xC0) {
        size_t lo = 0, hi = sizeof tok_uc_decomps / sizeof tok_uc_decomps[0];
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (cp < tok_uc_decomps[mid].cp) hi = mid;
            else if (cp > tok_uc_decomps[mid].cp) lo = mid + 1;
            else {
                int k = tok_uc_decomps[mid].len;
                for (int i = 0; i < k; i++) out[i] = tok_uc_decomp_pool[tok_uc_decomps[mid].off + i];
                return k;
            }
        }
    }
    out[0] = cp;
    return 1;
}
