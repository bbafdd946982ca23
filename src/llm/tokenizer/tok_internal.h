/*
 * tok_internal.h: the tokenizer object shared by the files of src/llm/tokenizer (common code in
 * tokenizer.c, one file per algorithm: tok_spm.c, tok_bpe.c, tok_wpm.c, Unicode helpers in
 * tok_unicode.c). Not for use outside this folder.
 */
#ifndef INGOT_LLM_TOK_INTERNAL_H
#define INGOT_LLM_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "llm/tokenizer/tokenizer.h"

enum { TOK_SPM = 1, TOK_BPE = 2, TOK_WPM = 3 };

/* per-token flags beyond the type */
enum { TOKF_EOG = 1 };

typedef struct tok_entry {
    uint32_t off, len;           /* text in t->pool */
    uint32_t piece_off, piece_len; /* rendered bytes in t->piece_pool */
    float score;
    uint8_t type, attr, flags;
} tok_entry;

typedef struct tok_bpe_pre tok_bpe_pre; /* compiled pre-tokenizer, tok_bpe.c */

/* merge table entry: (left id, right id) -> rank and merged id */
typedef struct tok_merge {
    uint64_t key; /* (left << 32) | right, UINT64_MAX = empty slot */
    int32_t rank;
    int32_t result; /* id of the merged text or -1 */
} tok_merge;

struct it_tokenizer {
    int model;
    int32_t n_tokens;
    tok_entry *tok;
    char *pool;
    size_t pool_len;
    char *piece_pool;
    int32_t *hash; /* open addressing over token texts, -1 = empty */
    size_t hash_mask;
    size_t max_token_len;

    int32_t special[IT_TOK_ID_COUNT];
    int add_bos, add_eos, add_sep, add_space_prefix, remove_extra_ws;
    int lowercase, strip_accents, wpm_hash;
    size_t max_input;

    int32_t byte_tok[256]; /* token for a raw byte: SPM <0xXX>, BPE the byte-level char */
    int32_t *specials;     /* control/user-defined/unknown ids, longest text first */
    int32_t n_specials;

    /* BPE */
    tok_merge *merges;
    size_t merge_mask;
    int ignore_merges;
    tok_bpe_pre *pre;
};

/* growable id list */
typedef struct tok_ids {
    int32_t *v;
    size_t n, cap;
} tok_ids;
int tok_ids_push(tok_ids *o, int32_t id);

/* token text lookup; -1 if absent */
int32_t tok_lookup(const it_tokenizer *t, const char *s, size_t n);
static inline const char *tok_text(const it_tokenizer *t, int32_t id) { return t->pool + t->tok[id].off; }

/* byte fallback for one byte: the byte token, else unk, else nothing */
int tok_push_byte(const it_tokenizer *t, tok_ids *o, unsigned char b);

/* ---- algorithms: tokenize one raw-text fragment (no special tokens inside) ---- */
int tok_spm_encode(const it_tokenizer *t, const char *s, size_t n, int prefix_space, tok_ids *o);
int tok_bpe_encode(const it_tokenizer *t, const char *s, size_t n, tok_ids *o, it_err *e);
int tok_wpm_encode(const it_tokenizer *t, const char *s, size_t n, tok_ids *o);

/* BPE setup (tok_bpe.c): pre-tokenizer by name, merges, byte tokens, pieces */
int tok_bpe_init(it_tokenizer *t, const it_vocab_desc *d, it_err *e);
void tok_bpe_free(it_tokenizer *t);
/* GPT-2 bytes_to_unicode: the code point standing for byte b, and back (-1 if none) */
uint32_t tok_bpe_byte_to_cp(unsigned char b);
int tok_bpe_cp_to_byte(uint32_t cp);

/* ---- Unicode (tok_unicode.c) ---- */
enum { UC_WS = 1, UC_CTRL = 2, UC_PUNCT = 4, UC_MN = 8, UC_SYM = 16, UC_LETTER = 32, UC_NUMBER = 64 };
/* Decode one code point at s[0..n) (n > 0). Invalid or truncated sequences give U+FFFD and
 * consume one byte. Returns the bytes consumed. */
size_t tok_utf8_decode(const char *s, size_t n, uint32_t *cp);
/* Length of a valid sequence at s (1..4), or 1 for an invalid byte. */
size_t tok_utf8_len(const char *s, size_t n);
size_t tok_utf8_encode(uint32_t cp, char out[4]);
unsigned tok_uc_flags(uint32_t cp);
/* full lowercase: writes 1 or 2 code points, returns the count */
int tok_uc_lower(uint32_t cp, uint32_t out[2]);
/* canonical decomposition (NFD of one code point): writes up to 8, returns the count */
int tok_uc_nfd(uint32_t cp, uint32_t out[8]);

#endif
