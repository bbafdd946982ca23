/*
 * tokenizer.h: text <-> token ids for LLMs, knowing nothing of file formats. A tokenizer is
 * built from a neutral vocabulary descriptor (it_vocab_desc) that a format reader (GGUF,
 * tokenizer.json, llama2.c tok.bin) fills in; the tokenizer copies what it needs, so the
 * descriptor and the strings it points at may be freed after it_tok_create returns.
 *
 * Three algorithms, matching the Hugging Face tokenizers that produced the reference ids:
 *   "llama" SentencePiece-style BPE over scores (Llama 1/2, Phi-3, TinyLlama, Mistral):
 *           spaces become U+2581, optional leading U+2581, highest-score pair merged first,
 *           bytes without a token become <0xXX> byte tokens.
 *   "gpt2"  byte-level BPE with merges ranked by order (GPT-2, Falcon, Llama 3, Qwen2,
 *           SmolLM, StarCoder, DeepSeek...): the pre-tokenizer named by `pre` (a table of
 *           PCRE2 split regexes, see tok_bpe.c), GPT-2 bytes-to-unicode, merges by rank.
 *   "bert"  WordPiece: BERT normalizer (clean, lowercase, strip accents, split punctuation
 *           and CJK), greedy longest match with continuation pieces, [UNK] for failed words.
 * Special tokens (control, user-defined, unknown) are matched in the input before the model
 * runs: user-defined always, control/unknown only with IT_TOK_PARSE_SPECIAL.
 *
 * Threads: a tokenizer is immutable after creation; any thread may call the tokenize and
 * detokenize functions concurrently. A it_tok_stream belongs to one thread.
 */
#ifndef INGOT_LLM_TOKENIZER_H
#define INGOT_LLM_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* Token types, with the values of GGUF's tokenizer.ggml.token_type. */
enum {
    IT_TOKEN_UNDEFINED = 0,
    IT_TOKEN_NORMAL = 1,
    IT_TOKEN_UNKNOWN = 2,
    IT_TOKEN_CONTROL = 3,
    IT_TOKEN_USER_DEFINED = 4,
    IT_TOKEN_UNUSED = 5,
    IT_TOKEN_BYTE = 6
};

/* Optional per-token attributes (HF AddedToken lstrip/rstrip): whitespace next to a special
 * token found in the input is dropped on that side. */
enum { IT_TOKEN_ATTR_LSTRIP = 1, IT_TOKEN_ATTR_RSTRIP = 2 };

/* Default bound on the input of one tokenize call (bytes); see it_vocab_desc.max_input_bytes. */
#define IT_TOK_MAX_INPUT_DEFAULT ((size_t)1 << 24) /* 16 MiB, millions of tokens */
#define IT_TOK_MAX_TOKENS ((int32_t)1 << 24) /* vocabulary size bound */
#define IT_TOK_MAX_TOKEN_BYTES 1024          /* longest token text */

typedef struct it_vocab_str {
    const char *ptr; /* not NUL-terminated necessarily */
    size_t len;
} it_vocab_str;

typedef struct it_vocab_desc {
    const char *model; /* "llama" | "gpt2" | "bert" (GGUF tokenizer.ggml.model) */
    const char *pre;   /* pre-tokenizer name (tokenizer.ggml.pre); NULL = "default" */
    int32_t n_tokens;
    const it_vocab_str *tokens;  /* [n_tokens] token texts, as stored in the vocab */
    const float *scores;         /* [n_tokens] or NULL (all 0) */
    const int32_t *token_types;  /* [n_tokens] IT_TOKEN_* or NULL (all normal) */
    const uint8_t *token_attrs;  /* [n_tokens] IT_TOKEN_ATTR_* or NULL */
    int64_t n_merges;
    const it_vocab_str *merges;  /* [n_merges] "left right", rank = index (gpt2 only) */
    /* special ids; -1 = none. it_vocab_desc_init sets them all to -1. */
    int32_t bos_id, eos_id, unk_id, sep_id, pad_id, cls_id, mask_id, eot_id, eom_id;
    /* flags; -1 = the model's default (llama: add_bos 1, add_space_prefix 1; gpt2: add_bos 0,
     * no prefix; bert: add_bos(=CLS) 1, add_sep 1, lowercase 1, strip_accents = lowercase) */
    int add_bos, add_eos, add_sep;
    int add_space_prefix;
    int remove_extra_whitespaces;
    int lowercase, strip_accents;
    /* bert only: 1 = continuation pieces carry "##" (tokenizer.json), 0 = word-initial pieces
     * carry U+2581 and continuations are bare (GGUF); -1 = detect from the vocab. */
    int wpm_hash_continuation;
    size_t max_input_bytes; /* 0 = IT_TOK_MAX_INPUT_DEFAULT */
} it_vocab_desc;

typedef struct it_tokenizer it_tokenizer;

/* Zero the descriptor, set every special id to -1 and every flag to -1 (model default). */
void it_vocab_desc_init(it_vocab_desc *d);

/* Build a tokenizer. Validates the descriptor (sizes, duplicate tokens, ids in range, an
 * unknown model or pre-tokenizer name) and returns INGOT_ERR_FORMAT / _UNSUPPORTED / _LIMIT
 * with a message naming the field. */
int it_tok_create(const it_vocab_desc *d, it_tokenizer **out, it_err *e);
void it_tok_free(it_tokenizer *t); /* NULL is fine */

/* tokenize flags */
enum {
    IT_TOK_ADD_SPECIAL = 1,  /* BOS/EOS/CLS/SEP as the vocab says */
    IT_TOK_PARSE_SPECIAL = 2 /* control-token texts in the input become their ids */
};

/* Tokenize text[0..len) (any bytes: invalid UTF-8 never crashes). Writes at most cap ids
 * into ids and the full count into *n_ids; returns INGOT_ERR_LIMIT when cap is too small
 * (then *n_ids says how many are needed) or when len exceeds the input bound. */
int it_tok_tokenize(const it_tokenizer *t, const char *text, size_t len, int flags, int32_t *ids,
                    size_t cap, size_t *n_ids, it_err *e);
/* Same, into a malloc'd array (*ids, free with free()); *ids is NULL when *n_ids is 0. */
int it_tok_tokenize_alloc(const it_tokenizer *t, const char *text, size_t len, int flags,
                          int32_t **ids, size_t *n_ids, it_err *e);

/* piece / detokenize flags */
enum {
    IT_TOK_RENDER_SPECIAL = 1, /* control/unknown tokens render their text (else nothing) */
    IT_TOK_STRIP_LEADING = 2,  /* drop one leading space (the SPM prefix of the first token) */
    IT_TOK_SKIP_SPECIAL = 4    /* detokenize: drop a leading BOS / trailing EOS the vocab adds */
};

/* The bytes of one token: byte tokens <0xXX> give their byte, U+2581 becomes a space (llama,
 * bert), byte-level BPE text is mapped back to bytes. Writes min(len, cap) bytes and returns
 * the full length (>= 0), or a negative status for an id out of range. The result may end in
 * the middle of a UTF-8 sequence (see it_tok_stream). */
int64_t it_tok_piece(const it_tokenizer *t, int32_t id, int flags, char *buf, size_t cap);

/* Concatenated pieces of ids[0..n) (leading space of the first piece stripped for vocabs with
 * a space prefix). Writes min(total, cap) bytes, returns the total or a negative status. */
int64_t it_tok_detokenize(const it_tokenizer *t, const int32_t *ids, size_t n, int flags,
                          char *buf, size_t cap);

/* Bytes at the end of s[0..n) that start a UTF-8 sequence still missing continuation bytes
 * (0..3). A streaming printer holds these back until the next piece completes them. */
size_t it_utf8_incomplete_tail(const char *s, size_t n);

/* Streaming detokenizer: feed ids one at a time, get only complete UTF-8 out. */
typedef struct it_tok_stream {
    char pending[8];
    int n_pending;
    int n_fed;
    int flags;
} it_tok_stream;
void it_tok_stream_init(it_tok_stream *s, int flags);
/* Appends the piece of id to the pending bytes and emits everything but an incomplete tail.
 * Returns the number of bytes written to buf (at most cap; a piece is at most
 * IT_TOK_MAX_TOKEN_BYTES + 8 bytes, so a buffer that large always suffices) or a negative
 * status (INGOT_ERR_LIMIT when cap is too small: nothing is consumed then). */
int64_t it_tok_stream_push(const it_tokenizer *t, it_tok_stream *s, int32_t id, char *buf, size_t cap);
/* Emits what is still pending at the end of generation: an incomplete sequence left over
 * becomes U+FFFD. Returns the bytes written (cap >= 4 suffices). */
int64_t it_tok_stream_flush(it_tok_stream *s, char *buf, size_t cap);

/* ---- vocabulary queries ---- */
int32_t it_tok_n_tokens(const it_tokenizer *t);
/* The stored text of a token (not NUL-terminated) or NULL for an id out of range. */
const char *it_tok_text(const it_tokenizer *t, int32_t id, size_t *len);
int it_tok_type(const it_tokenizer *t, int32_t id); /* IT_TOKEN_*, -1 out of range */
float it_tok_score(const it_tokenizer *t, int32_t id);
int32_t it_tok_find(const it_tokenizer *t, const char *text, size_t len); /* -1 if absent */

enum {
    IT_TOK_ID_BOS,
    IT_TOK_ID_EOS,
    IT_TOK_ID_UNK,
    IT_TOK_ID_SEP,
    IT_TOK_ID_PAD,
    IT_TOK_ID_CLS,
    IT_TOK_ID_MASK,
    IT_TOK_ID_EOT,
    IT_TOK_ID_EOM,
    IT_TOK_ID_COUNT
};
int32_t it_tok_special_id(const it_tokenizer *t, int which); /* -1 none */
int it_tok_add_bos(const it_tokenizer *t);
int it_tok_add_eos(const it_tokenizer *t);
/* End of generation: EOS, EOT, EOM, or a control token whose text is one of the usual
 * end-of-turn markers (<|eot_id|>, <|im_end|>, <|end|>, <end_of_turn>, <|endoftext|>...). */
int it_tok_is_eog(const it_tokenizer *t, int32_t id);
int it_tok_is_control(const it_tokenizer *t, int32_t id);

#endif
