/*
 * bert_encoder.h: BERT-family sentence encoders (BERT, MiniLM, all-MiniLM-L6-v2, BGE and other
 * sentence-transformers models with a BertModel body) loaded from a Hugging Face folder, for
 * embeddings: token ids -> hidden states -> one pooled (optionally L2-normalized) vector per text.
 *
 * A folder holds config.json (model_type "bert": hidden_size, num_hidden_layers,
 * num_attention_heads, intermediate_size, max_position_embeddings, layer_norm_eps, vocab_size,
 * type_vocab_size, hidden_act), model.safetensors (or shards with their index; tensor names
 * with or without the "bert." prefix; F32, F16, BF16 or F64), a WordPiece vocabulary
 * (tokenizer.json, else vocab.txt with tokenizer_config.json's do_lower_case / strip_accents),
 * and optionally sentence-transformers' modules.json (a Normalize module turns on L2
 * normalization; a Dense module is refused as unsupported) and the Pooling module's
 * config.json (mean, cls, max or mean_sqrt_len_tokens). Without modules.json: mean pooling,
 * no normalization.
 *
 * The forward pass packs the texts of a batch one after another (no padding rows are ever
 * computed; each text attends only to its own tokens, which is what BERT's padding mask
 * achieves): per layer one fused QKV GEMM, attention per (text, head), the output projection
 * accumulated onto the residual, post-norm LayerNorm, the GELU (erf) feed-forward and a second
 * LayerNorm. GEMM weights are packed once at load (it_sgemm_pack); the embedding tables and
 * norms stay in the file mapping.
 *
 * Threads: a loaded encoder is immutable; it_bert_embed may run on several threads at once as
 * long as each passes its own thread pool (or NULL).
 */
#ifndef INGOT_LLM_MODELS_BERT_ENCODER_H
#define INGOT_LLM_MODELS_BERT_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "llm/tokenizer/tokenizer.h"

enum { IT_BERT_POOL_MEAN = 0, IT_BERT_POOL_CLS = 1, IT_BERT_POOL_MAX = 2, IT_BERT_POOL_MEAN_SQRT_LEN = 3 };

#define IT_BERT_MAX_BATCH_TOKENS 4096 /* tokens per forward pass; larger batches are split */

typedef struct it_bert_info {
    int64_t n_embd;   /* hidden_size: the embedding dimension */
    int64_t n_layer, n_head, n_ff;
    int64_t n_pos;    /* max_position_embeddings: the longest sequence, [CLS] and [SEP] included */
    int64_t n_vocab, n_type;
    float eps;
    int gelu_tanh;    /* hidden_act gelu_new / gelu_pytorch_tanh: the tanh approximation */
    int pooling;      /* IT_BERT_POOL_* */
    int normalize;    /* L2-normalize the pooled vector */
    char name[128];   /* _name_or_path of config.json, else the folder name */
} it_bert_info;

typedef struct it_bert it_bert;

/* Load an encoder from a folder. Errors name the file, field or tensor at fault. */
int it_bert_load(const char *dir, it_bert **out, it_err *e);
void it_bert_free(it_bert *b); /* NULL is fine */
const it_bert_info *it_bert_get_info(const it_bert *b);
const it_tokenizer *it_bert_tokenizer(const it_bert *b);

/* Token ids of text with [CLS] ... [SEP] (added-token texts such as "[SEP]" in the input are
 * matched, as the Hugging Face tokenizer does). A text longer than n_pos tokens is
 * INGOT_ERR_LIMIT naming both lengths, unless truncate is set: then the middle is cut to
 * [CLS] first n_pos-2 pieces [SEP]. *ids is malloc'd (free()). */
int it_bert_tokenize(const it_bert *b, const char *text, size_t len, int truncate, int32_t **ids, size_t *n_ids,
                     it_err *e);

/* Embed n sequences of token ids (ids[i][0..lens[i]), used as given: tokenize adds the
 * special tokens). out: n x n_embd floats. normalize < 0: as the model says; 0 / 1: off / on.
 * Ids out of range, empty or too long sequences are errors naming the sequence. */
int it_bert_embed(const it_bert *b, it_threadpool *tp, const int32_t *const *ids, const int64_t *lens, int64_t n,
                  int normalize, float *out, it_err *e);

#endif
