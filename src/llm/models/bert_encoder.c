/*
 * bert_encoder.c: the BERT sentence encoder of bert_encoder.h: reading a Hugging Face folder
 * (config, weights, WordPiece vocabulary, sentence-transformers pooling/normalization) and the
 * batched forward pass used by the embeddings API.
 *
 * Layout of one forward pass over a chunk of texts packed into T token rows (H = n_embd,
 * I = n_ff, d = H / n_head): x[T][H] the residual stream; qkv[T][3H] (Q | K | V per row);
 * ctx[T][H] attention output; ff[T][I]; per pool thread a score matrix s[Lmax][Lmax].
 * GEMMs run on the caller's pool; attention runs (text, head) pairs in parallel, each with
 * small single-threaded GEMMs.
 */
#include "llm/models/bert_encoder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/json.h"
#include "formats/safetensors.h"
#include "kernels/kernels.h"

typedef struct bert_layer {
    it_packed *qkv, *o, *ff1, *ff2; /* op(B) of [H][3H], [H][H], [H][I], [I][H] */
    const float *qkv_b;             /* [3H] */
    const float *o_b, *ln1_w, *ln1_b, *ff1_b, *ff2_b, *ln2_w, *ln2_b;
} bert_layer;

struct it_bert {
    it_bert_info info;
    it_tokenizer *tok;
    it_safetensors st;
    const float *word, *pos, *type0; /* [n_vocab][H], [n_pos][H], row 0 of [n_type][H] */
    const float *emb_ln_w, *emb_ln_b;
    bert_layer *layers;
    void **owned; /* converted or concatenated weights */
    int n_owned, cap_owned;
};

/* ------------------------------------------------------------------ loading */

static int own(it_bert *b, void *p) {
    if (b->n_owned == b->cap_owned) {
        int cap = b->cap_owned ? b->cap_owned * 2 : 32;
        void **n = realloc(b->owned, (size_t)cap * sizeof *n);
        if (!n) return -1;
        b->owned = n, b->cap_owned = cap;
    }
    b->owned[b->n_owned++] = p;
    return 0;
}

/* A float tensor of the given shape (ndim 1 or 2), zero copy when it is aligned F32. */
static int get_f32(it_bert *b, const char *prefix, const char *name, int64_t d0, int64_t d1, const float **out,
                   it_err *e) {
    char full[256];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    const it_st_tensor *t = it_st_find(&b->st, full);
    if (!t) return it_fail(e, INGOT_ERR_NOT_FOUND, "tensor '%s' is missing", full);
    int ndim = d1 > 0 ? 2 : 1;
    if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
        char got[128] = "";
        size_t k = 0;
        for (int i = 0; i < t->ndim && k < sizeof got - 24; i++)
            k += (size_t)snprintf(got + k, sizeof got - k, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        if (ndim == 2)
            return it_fail(e, INGOT_ERR_SHAPE, "tensor '%s' has shape [%s], expected [%lld, %lld]", full, got,
                           (long long)d0, (long long)d1);
        return it_fail(e, INGOT_ERR_SHAPE, "tensor '%s' has shape [%s], expected [%lld]", full, got, (long long)d0);
    }
    if (t->dtype == IT_ST_F32 && ((uintptr_t)t->data & 3) == 0) {
        *out = t->data;
        return 0;
    }
    float *p = it_malloc((size_t)t->n_elements * sizeof(float) + 1);
    if (!p || own(b, p)) {
        it_free(p);
        return it_fail(e, INGOT_ERR_NOMEM, "tensor '%s': out of memory", full);
    }
    int st = it_st_to_f32(t, p, e);
    if (st) return st;
    *out = p;
    return 0;
}

static int read_json(const char *dir, const char *file, int required, char **text, it_json_doc *doc, it_err *e) {
    char path[4096];
    struct stat sb;
    *text = NULL;
    memset(doc, 0, sizeof *doc);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (stat(path, &sb) != 0) return required ? it_fail(e, INGOT_ERR_NOT_FOUND, "%s: no such file", path) : 1;
    size_t len;
    int st = it_read_file(path, 256u << 20, text, &len, e);
    if (!st) st = it_json_parse(*text, len, path, doc, e);
    if (st) {
        free(*text);
        *text = NULL;
    }
    return st;
}

static int cfg_int(const it_json *cfg, const char *key, int64_t lo, int64_t hi, int64_t dflt, int required,
                   int64_t *out, const char *path, it_err *e) {
    int r = it_json_get_int(cfg, key, lo, hi, out);
    if (r < 0)
        return it_fail(e, INGOT_ERR_FORMAT, "%s: '%s' must be an integer in [%lld, %lld]", path, key, (long long)lo,
                       (long long)hi);
    if (r > 0) {
        if (required) return it_fail(e, INGOT_ERR_FORMAT, "%s: '%s' is missing", path, key);
        *out = dflt;
    }
    return 0;
}

static int load_config(it_bert *b, const char *dir, it_err *e) {
    char *text, path[4096];
    it_json_doc doc;
    snprintf(path, sizeof path, "%s/config.json", dir);
    int st = read_json(dir, "config.json", 1, &text, &doc, e);
    if (st) return st;
    const it_json *c = doc.root;
    it_bert_info *in = &b->info;
    const char *s = NULL;
    if (c->type != IT_JSON_OBJECT) {
        st = it_fail(e, INGOT_ERR_FORMAT, "%s: not a JSON object", path);
        goto done;
    }
    if (it_json_get_str(c, "model_type", &s) != 0 || strcmp(s, "bert")) {
        st = it_fail(e, INGOT_ERR_UNSUPPORTED, "%s: model_type '%.64s' is not an encoder ingot embeds (bert)", path,
                     s ? s : "(none)");
        goto done;
    }
    if ((st = cfg_int(c, "hidden_size", 1, 1 << 16, 0, 1, &in->n_embd, path, e)) ||
        (st = cfg_int(c, "num_hidden_layers", 1, 1024, 0, 1, &in->n_layer, path, e)) ||
        (st = cfg_int(c, "num_attention_heads", 1, 1024, 0, 1, &in->n_head, path, e)) ||
        (st = cfg_int(c, "intermediate_size", 1, 1 << 18, 0, 1, &in->n_ff, path, e)) ||
        (st = cfg_int(c, "max_position_embeddings", 2, 1 << 16, 0, 1, &in->n_pos, path, e)) ||
        (st = cfg_int(c, "vocab_size", 1, IT_TOK_MAX_TOKENS, 0, 1, &in->n_vocab, path, e)) ||
        (st = cfg_int(c, "type_vocab_size", 1, 1 << 16, 2, 0, &in->n_type, path, e)))
        goto done;
    if (in->n_embd % in->n_head) {
        st = it_fail(e, INGOT_ERR_FORMAT, "%s: hidden_size %lld is not a multiple of num_attention_heads %lld", path,
                     (long long)in->n_embd, (long long)in->n_head);
        goto done;
    }
    double eps = 1e-12;
    if (it_json_get_num(c, "layer_norm_eps", &eps) < 0 || !(eps > 0 && eps < 1)) {
        st = it_fail(e, INGOT_ERR_FORMAT, "%s: 'layer_norm_eps' must be a number in (0, 1)", path);
        goto done;
    }
    in->eps = (float)eps;
    s = "gelu";
    if (it_json_get_str(c, "hidden_act", &s) < 0) s = "?";
    if (!strcmp(s, "gelu_new") || !strcmp(s, "gelu_pytorch_tanh") || !strcmp(s, "gelu_fast")) in->gelu_tanh = 1;
    else if (strcmp(s, "gelu")) {
        st = it_fail(e, INGOT_ERR_UNSUPPORTED, "%s: hidden_act '%.64s' is not supported (gelu, gelu_new)", path, s);
        goto done;
    }
    s = "absolute";
    if (it_json_get_str(c, "position_embedding_type", &s) < 0 || strcmp(s, "absolute")) {
        st = it_fail(e, INGOT_ERR_UNSUPPORTED, "%s: position_embedding_type '%.64s' is not supported (absolute)", path, s);
        goto done;
    }
    s = NULL;
    const char *base = strrchr(dir, '/');
    if (it_json_get_str(c, "_name_or_path", &s) == 0 && *s) snprintf(in->name, sizeof in->name, "%s", s);
    else snprintf(in->name, sizeof in->name, "%s", base && base[1] ? base + 1 : dir);
done:
    it_json_doc_free(&doc);
    free(text);
    return st;
}

/* sentence-transformers modules: pooling and normalization. */
static int load_modules(it_bert *b, const char *dir, it_err *e) {
    char *text = NULL, *ptext = NULL, path[4096];
    it_json_doc doc, pdoc;
    memset(&pdoc, 0, sizeof pdoc);
    b->info.pooling = IT_BERT_POOL_MEAN;
    b->info.normalize = 0;
    snprintf(path, sizeof path, "%s/modules.json", dir);
    int st = read_json(dir, "modules.json", 0, &text, &doc, e);
    if (st > 0) return 0; /* plain BERT folder: mean pooling */
    if (st) return st;
    char pool_dir[512] = "1_Pooling";
    if (doc.root->type != IT_JSON_ARRAY) {
        st = it_fail(e, INGOT_ERR_FORMAT, "%s: not a JSON array", path);
        goto done;
    }
    for (const it_json *m = doc.root->child; m; m = m->next) {
        const char *type = NULL, *mpath = "";
        if (it_json_get_str(m, "type", &type) != 0) {
            st = it_fail(e, INGOT_ERR_FORMAT, "%s: module at byte %zu has no 'type' string", path, m->off);
            goto done;
        }
        if (it_json_get_str(m, "path", &mpath) < 0) mpath = "";
        const char *dot = strrchr(type, '.');
        const char *kind = dot ? dot + 1 : type;
        if (!strcmp(kind, "Transformer")) continue;
        if (!strcmp(kind, "Pooling")) {
            if (strstr(mpath, "..") || mpath[0] == '/') {
                st = it_fail(e, INGOT_ERR_FORMAT, "%s: Pooling path '%.64s' leaves the folder", path, mpath);
                goto done;
            }
            snprintf(pool_dir, sizeof pool_dir, "%s", mpath);
        } else if (!strcmp(kind, "Normalize")) {
            b->info.normalize = 1;
        } else {
            st = it_fail(e, INGOT_ERR_UNSUPPORTED, "%s: sentence-transformers module %.100s is not supported", path, type);
            goto done;
        }
    }
    char pfile[600];
    snprintf(pfile, sizeof pfile, "%s/config.json", pool_dir);
    st = read_json(dir, pfile, 0, &ptext, &pdoc, e);
    if (st > 0) {
        st = 0;
        goto done;
    }
    if (st) goto done;
    const it_json *pc = pdoc.root;
    const char *mode = NULL;
    int n_modes = 0;
    if (it_json_get_str(pc, "pooling_mode", &mode) == 0) {
        n_modes = 1;
        if (!strcmp(mode, "mean")) b->info.pooling = IT_BERT_POOL_MEAN;
        else if (!strcmp(mode, "cls")) b->info.pooling = IT_BERT_POOL_CLS;
        else if (!strcmp(mode, "max")) b->info.pooling = IT_BERT_POOL_MAX;
        else if (!strcmp(mode, "mean_sqrt_len_tokens")) b->info.pooling = IT_BERT_POOL_MEAN_SQRT_LEN;
        else n_modes = 2;
    } else {
        static const struct {
            const char *key;
            int mode;
        } modes[] = {{"pooling_mode_mean_tokens", IT_BERT_POOL_MEAN},
                     {"pooling_mode_cls_token", IT_BERT_POOL_CLS},
                     {"pooling_mode_max_tokens", IT_BERT_POOL_MAX},
                     {"pooling_mode_mean_sqrt_len_tokens", IT_BERT_POOL_MEAN_SQRT_LEN},
                     {"pooling_mode_weightedmean_tokens", -1},
                     {"pooling_mode_lasttoken", -1}};
        for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++) {
            int on = 0;
            if (it_json_get_bool(pc, modes[k].key, &on) < 0) {
                st = it_fail(e, INGOT_ERR_FORMAT, "%s/%s: '%s' must be a boolean", dir, pfile, modes[k].key);
                goto done;
            }
            if (!on) continue;
            n_modes += modes[k].mode < 0 ? 2 : 1;
            b->info.pooling = modes[k].mode;
        }
        if (n_modes == 0) n_modes = 2;
    }
    if (n_modes != 1) {
        st = it_fail(e, INGOT_ERR_UNSUPPORTED,
                     "%s/%s: only one of the pooling modes mean, cls, max, mean_sqrt_len_tokens is supported", dir,
                     pfile);
        goto done;
    }
    int64_t wdim = 0;
    if (it_json_get_int(pc, "word_embedding_dimension", 1, INT64_MAX, &wdim) == 0 && wdim != b->info.n_embd) {
        st = it_fail(e, INGOT_ERR_FORMAT, "%s/%s: word_embedding_dimension %lld differs from hidden_size %lld", dir,
                     pfile, (long long)wdim, (long long)b->info.n_embd);
        goto done;
    }
done:
    it_json_doc_free(&pdoc);
    free(ptext);
    it_json_doc_free(&doc);
    free(text);
    return st;
}

/* ---- vocabulary ---- */

static const char *const bert_special_texts[5] = {"[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]"};

static void set_specials(it_vocab_desc *d, const it_vocab_str *toks, int32_t n, const char *const names[5]) {
    int32_t *ids[5] = {&d->cls_id, &d->sep_id, &d->unk_id, &d->pad_id, &d->mask_id};
    for (int k = 0; k < 5; k++) {
        const char *want = names[k] ? names[k] : bert_special_texts[k];
        size_t wl = strlen(want);
        for (int32_t i = 0; i < n; i++)
            if (toks[i].len == wl && !memcmp(toks[i].ptr, want, wl)) {
                *ids[k] = i;
                break;
            }
    }
    d->bos_id = d->cls_id;
}

static int vocab_from_tokenizer_json(it_bert *b, const char *dir, it_json_doc *doc, it_err *e) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    const it_json *root = doc->root, *model = it_json_get(root, "model");
    const char *type = NULL;
    int st = 0;
    it_vocab_str *toks = NULL;
    int32_t *types = NULL;
    if (!model || it_json_get_str(model, "type", &type) != 0 || strcmp(type, "WordPiece"))
        return it_fail(e, INGOT_ERR_UNSUPPORTED, "%s: model.type '%.64s' is not WordPiece", path, type ? type : "?");
    const char *prefix = "##";
    if (it_json_get_str(model, "continuing_subword_prefix", &prefix) < 0 || strcmp(prefix, "##"))
        return it_fail(e, INGOT_ERR_UNSUPPORTED, "%s: continuing_subword_prefix must be \"##\"", path);
    const it_json *vocab = it_json_get(model, "vocab");
    if (!vocab || vocab->type != IT_JSON_OBJECT || vocab->n <= 0 || vocab->n > IT_TOK_MAX_TOKENS)
        return it_fail(e, INGOT_ERR_FORMAT, "%s: model.vocab is not a non-empty object", path);
    int32_t n = (int32_t)vocab->n;
    toks = calloc((size_t)n, sizeof *toks);
    types = calloc((size_t)n, sizeof *types);
    if (!toks || !types) {
        st = it_fail(e, INGOT_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (const it_json *v = vocab->child; v; v = v->next) {
        if (v->type != IT_JSON_NUMBER || !v->is_int || v->i < 0 || v->i >= n || toks[v->i].ptr) {
            st = it_fail(e, INGOT_ERR_FORMAT, "%s: vocab entry '%.64s' at byte %zu: id is not unique in [0, %d)", path,
                         v->key, v->off, n);
            goto done;
        }
        toks[v->i].ptr = v->key;
        toks[v->i].len = v->key_len;
        types[v->i] = IT_TOKEN_NORMAL;
    }
    const it_json *added = it_json_get(root, "added_tokens");
    for (const it_json *a = added && added->type == IT_JSON_ARRAY ? added->child : NULL; a; a = a->next) {
        int64_t id = -1;
        int special = 0;
        const char *content = NULL;
        if (it_json_get_int(a, "id", 0, n - 1, &id) != 0 || it_json_get_str(a, "content", &content) != 0) continue;
        it_json_get_bool(a, "special", &special);
        if (strcmp(toks[id].ptr, content)) continue; /* an added token outside the vocab: ignored */
        types[id] = special ? IT_TOKEN_CONTROL : IT_TOKEN_USER_DEFINED;
    }
    it_vocab_desc d;
    it_vocab_desc_init(&d);
    d.model = "bert";
    d.n_tokens = n;
    d.tokens = toks;
    d.token_types = types;
    d.wpm_hash_continuation = 1;
    const char *unk = NULL;
    it_json_get_str(model, "unk_token", &unk);
    const char *names[5] = {NULL, NULL, unk, NULL, NULL};
    set_specials(&d, toks, n, names);
    const it_json *norm = it_json_get(root, "normalizer");
    if (norm && norm->type == IT_JSON_OBJECT) {
        const char *nt = NULL;
        if (it_json_get_str(norm, "type", &nt) != 0 || strcmp(nt, "BertNormalizer")) {
            st = it_fail(e, INGOT_ERR_UNSUPPORTED, "%s: normalizer '%.64s' is not supported (BertNormalizer)", path,
                         nt ? nt : "?");
            goto done;
        }
        int lc = 1, sa = -1;
        it_json_get_bool(norm, "lowercase", &lc);
        if (it_json_get_bool(norm, "strip_accents", &sa) != 0) sa = lc; /* null: follows lowercase */
        d.lowercase = lc;
        d.strip_accents = sa;
    }
    st = it_tok_create(&d, &b->tok, e);
done:
    free(toks);
    free(types);
    return st;
}

static int vocab_from_txt(it_bert *b, const char *dir, it_err *e) {
    char path[4096], *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    int st = it_read_file(path, 64u << 20, &text, &len, e);
    if (st) return st;
    it_vocab_str *toks = NULL;
    it_json_doc cdoc;
    char *ctext = NULL;
    memset(&cdoc, 0, sizeof cdoc);
    int32_t n = 0;
    for (size_t i = 0; i < len; i++) n += text[i] == '\n';
    if (len && text[len - 1] != '\n') n++;
    if (n <= 0 || n > IT_TOK_MAX_TOKENS) {
        st = it_fail(e, INGOT_ERR_FORMAT, "%s: %d lines is not a vocabulary", path, n);
        goto done;
    }
    toks = calloc((size_t)n, sizeof *toks);
    if (!toks) {
        st = it_fail(e, INGOT_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    int32_t k = 0;
    for (size_t i = 0; i < len && k < n;) {
        size_t j = i;
        while (j < len && text[j] != '\n') j++;
        size_t l = j - i;
        if (l && text[i + l - 1] == '\r') l--;
        toks[k].ptr = text + i;
        toks[k].len = l;
        k++;
        i = j + 1;
    }
    n = k;
    it_vocab_desc d;
    it_vocab_desc_init(&d);
    d.model = "bert";
    d.n_tokens = n;
    d.tokens = toks;
    d.wpm_hash_continuation = 1;
    const char *names[5] = {NULL, NULL, NULL, NULL, NULL};
    int cst = read_json(dir, "tokenizer_config.json", 0, &ctext, &cdoc, e);
    if (cst < 0) {
        st = cst;
        goto done;
    }
    if (cst == 0) {
        int lc = 1, sa = -1;
        it_json_get_bool(cdoc.root, "do_lower_case", &lc);
        if (it_json_get_bool(cdoc.root, "strip_accents", &sa) != 0) sa = lc;
        d.lowercase = lc, d.strip_accents = sa;
        static const char *const keys[5] = {"cls_token", "sep_token", "unk_token", "pad_token", "mask_token"};
        for (int q = 0; q < 5; q++) it_json_get_str(cdoc.root, keys[q], &names[q]);
    }
    set_specials(&d, toks, n, names);
    int32_t *types = calloc((size_t)n, sizeof *types);
    if (!types) {
        st = it_fail(e, INGOT_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int32_t i = 0; i < n; i++) types[i] = IT_TOKEN_NORMAL;
    int32_t sp[5] = {d.cls_id, d.sep_id, d.unk_id, d.pad_id, d.mask_id};
    for (int q = 0; q < 5; q++)
        if (sp[q] >= 0) types[sp[q]] = q == 2 ? IT_TOKEN_UNKNOWN : IT_TOKEN_CONTROL;
    d.token_types = types;
    st = it_tok_create(&d, &b->tok, e);
    free(types);
done:
    it_json_doc_free(&cdoc);
    free(ctext);
    free(toks);
    free(text);
    return st;
}

static int load_vocab(it_bert *b, const char *dir, it_err *e) {
    char *text = NULL;
    it_json_doc doc;
    int st = read_json(dir, "tokenizer.json", 0, &text, &doc, e);
    if (st == 0) {
        st = vocab_from_tokenizer_json(b, dir, &doc, e);
        it_json_doc_free(&doc);
        free(text);
    } else if (st > 0) {
        st = vocab_from_txt(b, dir, e);
    }
    if (st) return st;
    if (it_tok_n_tokens(b->tok) > b->info.n_vocab)
        return it_fail(e, INGOT_ERR_FORMAT, "%s: the vocabulary has %d tokens, more than vocab_size %lld", dir,
                       it_tok_n_tokens(b->tok), (long long)b->info.n_vocab);
    if (it_tok_special_id(b->tok, IT_TOK_ID_CLS) < 0 || it_tok_special_id(b->tok, IT_TOK_ID_SEP) < 0)
        return it_fail(e, INGOT_ERR_FORMAT, "%s: the vocabulary has no [CLS] or [SEP] token", dir);
    return 0;
}

/* Pack W[out][in] (an nn.Linear weight) as op(B) = W^T of [in][out]. */
static int pack_linear(const float *w, int64_t n_out, int64_t n_in, it_packed **out, const char *what, it_err *e) {
    *out = it_sgemm_pack(1, 1, n_in, n_out, w, n_in);
    if (!*out) return it_fail(e, INGOT_ERR_NOMEM, "%s: out of memory packing weights", what);
    return 0;
}

static int load_weights(it_bert *b, it_err *e) {
    const it_bert_info *in = &b->info;
    int64_t H = in->n_embd, I = in->n_ff;
    const char *pre = it_st_find(&b->st, "embeddings.word_embeddings.weight") ? "" : "bert.";
    const float *type;
    int st;
    if ((st = get_f32(b, pre, "embeddings.word_embeddings.weight", in->n_vocab, H, &b->word, e)) ||
        (st = get_f32(b, pre, "embeddings.position_embeddings.weight", in->n_pos, H, &b->pos, e)) ||
        (st = get_f32(b, pre, "embeddings.token_type_embeddings.weight", in->n_type, H, &type, e)) ||
        (st = get_f32(b, pre, "embeddings.LayerNorm.weight", H, 0, &b->emb_ln_w, e)) ||
        (st = get_f32(b, pre, "embeddings.LayerNorm.bias", H, 0, &b->emb_ln_b, e)))
        return st;
    b->type0 = type;
    b->layers = calloc((size_t)in->n_layer, sizeof *b->layers);
    if (!b->layers) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    for (int64_t l = 0; l < in->n_layer; l++) {
        bert_layer *L = &b->layers[l];
        char p[96], what[128];
        snprintf(p, sizeof p, "%sencoder.layer.%lld.", pre, (long long)l);
        const float *wq, *wk, *wv, *bq, *bk, *bv, *wo, *w1, *w2;
        if ((st = get_f32(b, p, "attention.self.query.weight", H, H, &wq, e)) ||
            (st = get_f32(b, p, "attention.self.key.weight", H, H, &wk, e)) ||
            (st = get_f32(b, p, "attention.self.value.weight", H, H, &wv, e)) ||
            (st = get_f32(b, p, "attention.self.query.bias", H, 0, &bq, e)) ||
            (st = get_f32(b, p, "attention.self.key.bias", H, 0, &bk, e)) ||
            (st = get_f32(b, p, "attention.self.value.bias", H, 0, &bv, e)) ||
            (st = get_f32(b, p, "attention.output.dense.weight", H, H, &wo, e)) ||
            (st = get_f32(b, p, "attention.output.dense.bias", H, 0, &L->o_b, e)) ||
            (st = get_f32(b, p, "attention.output.LayerNorm.weight", H, 0, &L->ln1_w, e)) ||
            (st = get_f32(b, p, "attention.output.LayerNorm.bias", H, 0, &L->ln1_b, e)) ||
            (st = get_f32(b, p, "intermediate.dense.weight", I, H, &w1, e)) ||
            (st = get_f32(b, p, "intermediate.dense.bias", I, 0, &L->ff1_b, e)) ||
            (st = get_f32(b, p, "output.dense.weight", H, I, &w2, e)) ||
            (st = get_f32(b, p, "output.dense.bias", H, 0, &L->ff2_b, e)) ||
            (st = get_f32(b, p, "output.LayerNorm.weight", H, 0, &L->ln2_w, e)) ||
            (st = get_f32(b, p, "output.LayerNorm.bias", H, 0, &L->ln2_b, e)))
            return st;
        /* fused QKV: W = [Wq; Wk; Wv] of [3H][H], bias [3H] */
        float *wqkv = it_malloc((size_t)(3 * H * H) * sizeof(float));
        float *bqkv = it_malloc((size_t)(3 * H) * sizeof(float));
        if (!wqkv || !bqkv || own(b, bqkv)) {
            it_free(wqkv), it_free(bqkv);
            return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
        }
        memcpy(wqkv, wq, (size_t)(H * H) * sizeof(float));
        memcpy(wqkv + H * H, wk, (size_t)(H * H) * sizeof(float));
        memcpy(wqkv + 2 * H * H, wv, (size_t)(H * H) * sizeof(float));
        memcpy(bqkv, bq, (size_t)H * sizeof(float));
        memcpy(bqkv + H, bk, (size_t)H * sizeof(float));
        memcpy(bqkv + 2 * H, bv, (size_t)H * sizeof(float));
        L->qkv_b = bqkv;
        snprintf(what, sizeof what, "%sattention", p);
        st = pack_linear(wqkv, 3 * H, H, &L->qkv, what, e);
        it_free(wqkv);
        if (st || (st = pack_linear(wo, H, H, &L->o, what, e)) || (st = pack_linear(w1, I, H, &L->ff1, what, e)) ||
            (st = pack_linear(w2, H, I, &L->ff2, what, e)))
            return st;
    }
    return 0;
}

int it_bert_load(const char *dir, it_bert **out, it_err *e) {
    *out = NULL;
    it_bert *b = calloc(1, sizeof *b);
    if (!b) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    int st;
    if ((st = load_config(b, dir, e)) || (st = load_modules(b, dir, e)) || (st = load_vocab(b, dir, e)) ||
        (st = it_st_open_dir(dir, &b->st, e)) || (st = load_weights(b, e))) {
        it_bert_free(b);
        return st;
    }
    *out = b;
    return 0;
}

void it_bert_free(it_bert *b) {
    if (!b) return;
    if (b->layers)
        for (int64_t l = 0; l < b->info.n_layer; l++) {
            it_packed_free(b->layers[l].qkv);
            it_packed_free(b->layers[l].o);
            it_packed_free(b->layers[l].ff1);
            it_packed_free(b->layers[l].ff2);
        }
    free(b->layers);
    for (int i = 0; i < b->n_owned; i++) it_free(b->owned[i]);
    free(b->owned);
    it_tok_free(b->tok);
    it_st_free(&b->st);
    free(b);
}

const it_bert_info *it_bert_get_info(const it_bert *b) { return &b->info; }
const it_tokenizer *it_bert_tokenizer(const it_bert *b) { return b->tok; }

int it_bert_tokenize(const it_bert *b, const char *text, size_t len, int truncate, int32_t **ids, size_t *n_ids,
                     it_err *e) {
    int st = it_tok_tokenize_alloc(b->tok, text, len, IT_TOK_ADD_SPECIAL | IT_TOK_PARSE_SPECIAL, ids, n_ids, e);
    if (st) return st;
    size_t max = (size_t)b->info.n_pos;
    if (*n_ids <= max) return 0;
    if (!truncate) {
        size_t n = *n_ids;
        free(*ids);
        *ids = NULL;
        *n_ids = 0;
        return it_fail(e, INGOT_ERR_LIMIT, "the input is %zu tokens long, longer than the model's maximum of %zu tokens",
                       n, max);
    }
    (*ids)[max - 1] = (*ids)[*n_ids - 1]; /* keep the final [SEP] */
    *n_ids = max;
    return 0;
}

/* ------------------------------------------------------------------ forward */

typedef struct fwd {
    const it_bert *b;
    int64_t H, I, nh, hd;
    const int32_t *const *ids;
    const int64_t *lens;
    const int64_t *start; /* first row of each sequence */
    int64_t nseq;
    float *x, *qkv, *ctx, *ff, *scores; /* scores: [threads][lmax * lmax] */
    int64_t lmax;
    const float *ln_w, *ln_b;
} fwd;

static void layer_norm_row(float *x, int64_t n, const float *w, const float *bias, float eps) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; i++) mean += x[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        double d = x[i] - mean;
        var += d * d;
    }
    var /= (double)n;
    float inv = (float)(1.0 / sqrt(var + eps)), m = (float)mean;
    for (int64_t i = 0; i < n; i++) x[i] = (x[i] - m) * inv * w[i] + bias[i];
}

static void ln_rows(void *arg, int64_t r0, int64_t r1, int tid) {
    (void)tid;
    fwd *f = arg;
    for (int64_t r = r0; r < r1; r++) layer_norm_row(f->x + r * f->H, f->H, f->ln_w, f->ln_b, f->b->info.eps);
}

static void embed_seqs(void *arg, int64_t s0, int64_t s1, int tid) {
    (void)tid;
    fwd *f = arg;
    const it_bert *b = f->b;
    int64_t H = f->H;
    for (int64_t s = s0; s < s1; s++)
        for (int64_t p = 0; p < f->lens[s]; p++) {
            float *x = f->x + (f->start[s] + p) * H;
            const float *w = b->word + (int64_t)f->ids[s][p] * H, *pe = b->pos + p * H;
            for (int64_t i = 0; i < H; i++) x[i] = w[i] + pe[i] + b->type0[i];
            layer_norm_row(x, H, b->emb_ln_w, b->emb_ln_b, b->info.eps);
        }
}

static void gelu_rows(void *arg, int64_t r0, int64_t r1, int tid) {
    (void)tid;
    fwd *f = arg;
    float *p = f->ff + r0 * f->I;
    int64_t n = (r1 - r0) * f->I;
    if (f->b->info.gelu_tanh) {
        for (int64_t i = 0; i < n; i++) {
            float x = p[i];
            p[i] = 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
        }
    } else {
        for (int64_t i = 0; i < n; i++) p[i] = 0.5f * p[i] * (1.0f + erff(p[i] * 0.70710678118654752f));
    }
}

/* One (sequence, head) pair: ctx = softmax(Q K^T / sqrt(d)) V. */
static void attn_items(void *arg, int64_t i0, int64_t i1, int tid) {
    fwd *f = arg;
    int64_t H = f->H, hd = f->hd, ld = 3 * H;
    float *s = f->scores + (int64_t)tid * f->lmax * f->lmax;
    float scale = 1.0f / sqrtf((float)hd);
    for (int64_t it = i0; it < i1; it++) {
        int64_t sq = it / f->nh, h = it % f->nh, L = f->lens[sq];
        const float *q = f->qkv + f->start[sq] * ld + h * hd;
        it_sgemm(NULL, 0, 1, L, L, hd, scale, q, ld, q + H, ld, 0.0f, s, L);
        for (int64_t r = 0; r < L; r++) {
            float *row = s + r * L, mx = row[0], sum = 0;
            for (int64_t c = 1; c < L; c++) mx = row[c] > mx ? row[c] : mx;
            for (int64_t c = 0; c < L; c++) sum += (row[c] = expf(row[c] - mx));
            float inv = 1.0f / sum;
            for (int64_t c = 0; c < L; c++) row[c] *= inv;
        }
        it_sgemm(NULL, 0, 0, L, hd, L, 1.0f, s, L, q + 2 * H, ld, 0.0f, f->ctx + f->start[sq] * H + h * hd, H);
    }
}

/* Forward of nseq sequences (total T rows) and pooling into out[nseq][H]. */
static int forward_chunk(const it_bert *b, it_threadpool *tp, const int32_t *const *ids, const int64_t *lens,
                         int64_t nseq, int normalize, float *out, it_err *e) {
    const it_bert_info *in = &b->info;
    int64_t H = in->n_embd, I = in->n_ff, T = 0, lmax = 0;
    int nth = tp ? it_threadpool_size(tp) : 1;
    int st = 0;
    int64_t *start = malloc((size_t)nseq * sizeof *start);
    if (!start) return it_fail(e, INGOT_ERR_NOMEM, "embeddings: out of memory");
    for (int64_t s = 0; s < nseq; s++) {
        start[s] = T;
        T += lens[s];
        if (lens[s] > lmax) lmax = lens[s];
    }
    fwd f = {b, H, I, in->n_head, H / in->n_head, ids, lens, start, nseq, NULL, NULL, NULL, NULL, NULL, lmax, NULL, NULL};
    f.x = it_malloc((size_t)(T * H) * sizeof(float));
    f.qkv = it_malloc((size_t)(T * 3 * H) * sizeof(float));
    f.ctx = it_malloc((size_t)(T * H) * sizeof(float));
    f.ff = it_malloc((size_t)(T * I) * sizeof(float));
    f.scores = it_malloc((size_t)(nth * lmax * lmax) * sizeof(float));
    if (!f.x || !f.qkv || !f.ctx || !f.ff || !f.scores) {
        st = it_fail(e, INGOT_ERR_NOMEM, "embeddings: out of memory for %lld tokens", (long long)T);
        goto done;
    }
    it_parallel_for(tp, nseq, 1, embed_seqs, &f);
    for (int64_t l = 0; l < in->n_layer; l++) {
        const bert_layer *L = &b->layers[l];
        it_epilogue ep_qkv = {1.0f, 0.0f, NULL, L->qkv_b, {IT_ACT_NONE, 0, 0}};
        it_sgemm_ex(tp, T, 3 * H, H, f.x, H, 0, NULL, NULL, 0, 0, L->qkv, f.qkv, 3 * H, &ep_qkv);
        it_parallel_for(tp, nseq * in->n_head, 1, attn_items, &f);
        it_epilogue ep_o = {1.0f, 1.0f, NULL, L->o_b, {IT_ACT_NONE, 0, 0}}; /* x += ctx Wo^T + bo */
        it_sgemm_ex(tp, T, H, H, f.ctx, H, 0, NULL, NULL, 0, 0, L->o, f.x, H, &ep_o);
        f.ln_w = L->ln1_w, f.ln_b = L->ln1_b;
        it_parallel_for(tp, T, 16, ln_rows, &f);
        it_epilogue ep_1 = {1.0f, 0.0f, NULL, L->ff1_b, {IT_ACT_NONE, 0, 0}};
        it_sgemm_ex(tp, T, I, H, f.x, H, 0, NULL, NULL, 0, 0, L->ff1, f.ff, I, &ep_1);
        it_parallel_for(tp, T, 8, gelu_rows, &f);
        it_epilogue ep_2 = {1.0f, 1.0f, NULL, L->ff2_b, {IT_ACT_NONE, 0, 0}}; /* x += ff W2^T + b2 */
        it_sgemm_ex(tp, T, H, I, f.ff, I, 0, NULL, NULL, 0, 0, L->ff2, f.x, H, &ep_2);
        f.ln_w = L->ln2_w, f.ln_b = L->ln2_b;
        it_parallel_for(tp, T, 16, ln_rows, &f);
    }
    /* pooling */
    for (int64_t s = 0; s < nseq; s++) {
        float *o = out + s * H;
        const float *x = f.x + start[s] * H;
        int64_t L = lens[s];
        if (in->pooling == IT_BERT_POOL_CLS) {
            memcpy(o, x, (size_t)H * sizeof(float));
        } else if (in->pooling == IT_BERT_POOL_MAX) {
            memcpy(o, x, (size_t)H * sizeof(float));
            for (int64_t p = 1; p < L; p++)
                for (int64_t i = 0; i < H; i++) o[i] = x[p * H + i] > o[i] ? x[p * H + i] : o[i];
        } else {
            for (int64_t i = 0; i < H; i++) {
                double acc = 0;
                for (int64_t p = 0; p < L; p++) acc += x[p * H + i];
                o[i] = (float)(acc / (in->pooling == IT_BERT_POOL_MEAN ? (double)L : sqrt((double)L)));
            }
        }
        if (normalize) {
            double n2 = 0;
            for (int64_t i = 0; i < H; i++) n2 += (double)o[i] * o[i];
            double nrm = sqrt(n2);
            float inv = (float)(1.0 / (nrm > 1e-12 ? nrm : 1e-12));
            for (int64_t i = 0; i < H; i++) o[i] *= inv;
        }
    }
done:
    it_free(f.x), it_free(f.qkv), it_free(f.ctx), it_free(f.ff), it_free(f.scores);
    free(start);
    return st;
}

int it_bert_embed(const it_bert *b, it_threadpool *tp, const int32_t *const *ids, const int64_t *lens, int64_t n,
                  int normalize, float *out, it_err *e) {
    if (!b || n < 0 || (n && (!ids || !lens || !out)))
        return it_fail(e, INGOT_ERR_INVALID_ARG, "embeddings: NULL model, inputs or output");
    const it_bert_info *in = &b->info;
    int nrm = normalize < 0 ? in->normalize : normalize != 0;
    for (int64_t s = 0; s < n; s++) {
        if (lens[s] <= 0)
            return it_fail(e, INGOT_ERR_INVALID_ARG, "embeddings: input %lld has no tokens", (long long)s);
        if (lens[s] > in->n_pos)
            return it_fail(e, INGOT_ERR_LIMIT,
                           "embeddings: input %lld is %lld tokens long, longer than the model's maximum of %lld tokens",
                           (long long)s, (long long)lens[s], (long long)in->n_pos);
        if (!ids[s]) return it_fail(e, INGOT_ERR_INVALID_ARG, "embeddings: input %lld: NULL ids", (long long)s);
        for (int64_t p = 0; p < lens[s]; p++)
            if (ids[s][p] < 0 || ids[s][p] >= in->n_vocab)
                return it_fail(e, INGOT_ERR_INVALID_ARG,
                               "embeddings: input %lld: token id %d at position %lld is outside the vocabulary [0, %lld)",
                               (long long)s, ids[s][p], (long long)p, (long long)in->n_vocab);
    }
    /* chunks of at most IT_BERT_MAX_BATCH_TOKENS tokens (a single sequence always fits: n_pos
     * may exceed the chunk, then it runs alone) */
    for (int64_t s0 = 0; s0 < n;) {
        int64_t s1 = s0, tokens = 0;
        while (s1 < n && (s1 == s0 || tokens + lens[s1] <= IT_BERT_MAX_BATCH_TOKENS)) tokens += lens[s1++];
        int st = forward_chunk(b, tp, ids + s0, lens + s0, s1 - s0, nrm, out + s0 * in->n_embd, e);
        if (st) return st;
        s0 = s1;
    }
    return 0;
}
