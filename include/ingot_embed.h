/*
 * ingot_embed.h: sentence embeddings with ingot: load a BERT-family encoder from a Hugging Face
 * folder (config.json, model.safetensors or shards, tokenizer.json or vocab.txt, and the
 * sentence-transformers modules.json / 1_Pooling/config.json when present; all-MiniLM-L6-v2 is
 * the model this is tested with) and turn texts into fixed-size vectors: WordPiece tokens with
 * [CLS]/[SEP], the transformer, then mean / CLS / max pooling and L2 normalization as the
 * folder says. Include after (or instead of) ingot.h; the status codes are ingot.h's.
 *
 * Objects: an ingot_embedder owns the mapped weights, the packed GEMM operands, the tokenizer
 * and a compute pool. ingot_embedder_free accepts NULL.
 *
 * Threads: any thread may call every function; calls that compute (ingot_embed,
 * ingot_embed_tokens) on one embedder are serialized by the embedder's lock and run on its own
 * pool, so several threads may share one embedder. Strings and arrays passed in are only read
 * during the call. Error messages go to the caller's err buffer (errlen bytes; may be NULL/0).
 * A text longer than the model's maximum (max_position_embeddings tokens, [CLS] and [SEP]
 * included) fails with INGOT_ERR_LIMIT naming both lengths unless INGOT_EMBED_TRUNCATE is given:
 * ingot never truncates silently.
 */
#ifndef INGOT_EMBED_H
#define INGOT_EMBED_H

#include <stddef.h>
#include <stdint.h>

#include "ingot.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ingot_embedder ingot_embedder;

typedef struct ingot_embedder_params {
    int n_threads; /* compute threads (the caller counts as one); 0: all cores */
} ingot_embedder_params;

void ingot_embedder_params_default(ingot_embedder_params *p);

/* Load the encoder in folder path. params may be NULL (defaults). *out is NULL on failure, and
 * the message names the file, field or tensor at fault. The caller owns *out. */
ingot_status ingot_embedder_load(const char *path, const ingot_embedder_params *params, ingot_embedder **out,
                                 char *err, size_t errlen);
void ingot_embedder_free(ingot_embedder *m);

/* The embedding dimension (floats per text). */
int64_t ingot_embedder_dim(const ingot_embedder *m);
/* The longest input in tokens, [CLS] and [SEP] included. */
int64_t ingot_embedder_max_tokens(const ingot_embedder *m);

typedef struct ingot_embedder_info {
    const char *name;      /* config.json _name_or_path, else the folder name */
    const char *pooling;   /* "mean" | "cls" | "max" | "mean_sqrt_len" */
    int normalize;         /* 1: vectors are L2-normalized by default */
    int64_t dim, max_tokens, n_layer, n_head, n_vocab;
} ingot_embedder_info;
/* Facts about the model; the strings are owned by m. */
ingot_status ingot_embedder_get_info(const ingot_embedder *m, ingot_embedder_info *info);

enum {
    INGOT_EMBED_TRUNCATE = 1,     /* cut over-long inputs to the maximum instead of failing */
    INGOT_EMBED_NO_NORMALIZE = 2, /* skip the L2 normalization the model asks for */
    INGOT_EMBED_NORMALIZE = 4     /* L2-normalize even if the model does not ask for it */
};

/* Token ids of text[0..len) as ingot_embed uses them ([CLS] ... [SEP]). Writes at most cap ids
 * and the count to *n_ids; INGOT_ERR_LIMIT when cap is too small (then *n_ids says how many
 * are needed) or when the text is too long (without INGOT_EMBED_TRUNCATE). */
ingot_status ingot_embedder_tokenize(const ingot_embedder *m, const char *text, size_t len, int flags, int32_t *ids,
                                     size_t cap, size_t *n_ids, char *err, size_t errlen);

/* Embed n texts: texts[i] of lens[i] bytes (lens NULL: NUL-terminated). out receives n x dim
 * floats, row i for text i. n_tokens (may be NULL) receives each text's token count. flags:
 * INGOT_EMBED_*. */
ingot_status ingot_embed(ingot_embedder *m, const char *const *texts, const size_t *lens, int64_t n, int flags,
                         float *out, int64_t *n_tokens, char *err, size_t errlen);

/* Embed n sequences of token ids given as they are (no [CLS]/[SEP] added: pass what
 * ingot_embedder_tokenize returns to match ingot_embed). Ids outside the vocabulary, empty or
 * over-long sequences are errors (INGOT_EMBED_TRUNCATE cuts the latter). */
ingot_status ingot_embed_tokens(ingot_embedder *m, const int32_t *const *ids, const int64_t *lens, int64_t n,
                                int flags, float *out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
