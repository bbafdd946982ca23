/*
 * model.c: loading an LLM into an it_llm_model (model.h): GGUF files through the GGUF
 * reader (hyperparameters from `<arch>.*`, standard tensor names checked for shape and
 * type, tokenizer from tokenizer.ggml.*, tokenizer.chat_template) and llama2.c checkpoints
 * (weights viewed as F32 matrices, the tok.bin vocabulary rewritten the way llama.cpp's
 * convert-llama2c-to-ggml does). Also precomputes the RoPE per-dimension frequencies
 * (base, linear / YaRN scaling, llama3 rope_freqs and phi3 LongRoPE factors, the
 * sliding-window layers' own base) and splits fused tensors (attn_qkv, phi3's gate+up
 * ffn_up) into row views.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/onnx/onnx.h" /* it_map_file */
#include "llm/hf.h"
#include "llm/model.h"
#include "tensor/quant.h"

/* ---------------------------------------------------------------- tokenizer from GGUF */

typedef struct vocab_hold {
    it_vocab_str *tokens, *merges;
    float *scores;
    int32_t *types;
    char *model, *pre;
} vocab_hold;

static void hold_free(vocab_hold *h) {
    free(h->tokens);
    free(h->merges);
    free(h->scores);
    free(h->types);
    free(h->model);
    free(h->pre);
}

static int get_strz(it_gguf *g, const char *key, char **out, it_err *e) {
    const char *s;
    uint64_t n;
    int st = it_gguf_get_str(g, key, &s, &n, e);
    if (st) return st;
    if (n > IT_LIMIT_STRING) return it_fail(e, INGOT_ERR_LIMIT, "%s: string of %llu bytes", key, (unsigned long long)n);
    *out = it_strndup(s, (size_t)n);
    return *out ? 0 : it_fail(e, INGOT_ERR_NOMEM, "out of memory");
}

static int get_str_array(it_gguf *g, const char *key, it_vocab_str **out, int64_t *n_out, it_err *e) {
    int64_t k = it_gguf_find_key(g, key);
    if (k < 0) return INGOT_ERR_NOT_FOUND;
    const it_gguf_val *v = it_gguf_value(g, k);
    if (v->type != IT_GGUF_ARRAY || v->arr_type != IT_GGUF_STRING)
        return it_fail(e, INGOT_ERR_FORMAT, "%s is not an array of strings", key);
    if (v->n > (uint64_t)IT_TOK_MAX_TOKENS * 4)
        return it_fail(e, INGOT_ERR_LIMIT, "%s has %llu entries", key, (unsigned long long)v->n);
    it_vocab_str *a = calloc(v->n ? v->n : 1, sizeof *a);
    if (!a) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; i < v->n; i++) {
        const char *s;
        uint64_t len;
        int st = it_gguf_kv_str(g, k, i, &s, &len, e);
        if (st) {
            free(a);
            return st;
        }
        a[i].ptr = s;
        a[i].len = (size_t)len;
    }
    *out = a;
    *n_out = (int64_t)v->n;
    return 0;
}

static int get_num_array(it_gguf *g, const char *key, int want_float, int64_t n, void **out, it_err *e) {
    int64_t k = it_gguf_find_key(g, key);
    if (k < 0) return INGOT_ERR_NOT_FOUND;
    const it_gguf_val *v = it_gguf_value(g, k);
    if (v->type != IT_GGUF_ARRAY) return it_fail(e, INGOT_ERR_FORMAT, "%s is not an array", key);
    if ((int64_t)v->n < n)
        return it_fail(e, INGOT_ERR_FORMAT, "%s has %llu entries for %lld tokens", key, (unsigned long long)v->n,
                       (long long)n);
    void *a = malloc((size_t)(n ? n : 1) * 4);
    if (!a) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        it_gguf_val el;
        int st = it_gguf_kv_elem(g, k, (uint64_t)i, &el, e);
        if (st) {
            free(a);
            return st;
        }
        if (want_float) {
            double d;
            if (it_gguf_val_float(&el, &d)) {
                free(a);
                return it_fail(e, INGOT_ERR_FORMAT, "%s[%lld] is not a number", key, (long long)i);
            }
            ((float *)a)[i] = (float)d;
        } else {
            int64_t x;
            if (it_gguf_val_int(&el, &x)) {
                free(a);
                return it_fail(e, INGOT_ERR_FORMAT, "%s[%lld] is not an integer", key, (long long)i);
            }
            ((int32_t *)a)[i] = (int32_t)x;
        }
    }
    *out = a;
    return 0;
}

int it_llm_tokenizer_from_gguf(it_gguf *g, it_tokenizer **out, it_err *e) {
    it_vocab_desc d;
    vocab_hold h;
    int st;
    int64_t n = 0, nm = 0;
    it_vocab_desc_init(&d);
    memset(&h, 0, sizeof h);
    *out = NULL;
    if ((st = get_strz(g, "tokenizer.ggml.model", &h.model, e))) {
        if (st == INGOT_ERR_NOT_FOUND) it_fail(e, st, "the file has no tokenizer (tokenizer.ggml.model missing)");
        goto fail;
    }
    d.model = h.model;
    st = get_strz(g, "tokenizer.ggml.pre", &h.pre, e);
    if (st && st != INGOT_ERR_NOT_FOUND) goto fail;
    d.pre = h.pre;
    if ((st = get_str_array(g, "tokenizer.ggml.tokens", &h.tokens, &n, e))) {
        if (st == INGOT_ERR_NOT_FOUND) it_fail(e, st, "tokenizer.ggml.tokens missing");
        goto fail;
    }
    if (n > IT_TOK_MAX_TOKENS) {
        st = it_fail(e, INGOT_ERR_LIMIT, "tokenizer.ggml.tokens: %lld tokens", (long long)n);
        goto fail;
    }
    d.n_tokens = (int32_t)n;
    d.tokens = h.tokens;
    st = get_num_array(g, "tokenizer.ggml.scores", 1, n, (void **)&h.scores, e);
    if (st && st != INGOT_ERR_NOT_FOUND) goto fail;
    d.scores = h.scores;
    st = get_num_array(g, "tokenizer.ggml.token_type", 0, n, (void **)&h.types, e);
    if (st && st != INGOT_ERR_NOT_FOUND) goto fail;
    d.token_types = h.types;
    st = get_str_array(g, "tokenizer.ggml.merges", &h.merges, &nm, e);
    if (st && st != INGOT_ERR_NOT_FOUND) goto fail;
    d.merges = h.merges;
    d.n_merges = nm;
    static const struct {
        const char *key;
        size_t off;
    } ids[] = {
        {"tokenizer.ggml.bos_token_id", offsetof(it_vocab_desc, bos_id)},
        {"tokenizer.ggml.eos_token_id", offsetof(it_vocab_desc, eos_id)},
        {"tokenizer.ggml.unknown_token_id", offsetof(it_vocab_desc, unk_id)},
        {"tokenizer.ggml.seperator_token_id", offsetof(it_vocab_desc, sep_id)},
        {"tokenizer.ggml.padding_token_id", offsetof(it_vocab_desc, pad_id)},
        {"tokenizer.ggml.cls_token_id", offsetof(it_vocab_desc, cls_id)},
        {"tokenizer.ggml.mask_token_id", offsetof(it_vocab_desc, mask_id)},
        {"tokenizer.ggml.eot_token_id", offsetof(it_vocab_desc, eot_id)},
        {"tokenizer.ggml.eom_token_id", offsetof(it_vocab_desc, eom_id)},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        int64_t v;
        st = it_gguf_get_int(g, ids[i].key, &v, e);
        if (st == INGOT_ERR_NOT_FOUND) continue;
        if (st) goto fail;
        *(int32_t *)((char *)&d + ids[i].off) = v >= 0 && v < n ? (int32_t)v : -1;
    }
    static const struct {
        const char *key;
        size_t off;
    } flags[] = {
        {"tokenizer.ggml.add_bos_token", offsetof(it_vocab_desc, add_bos)},
        {"tokenizer.ggml.add_eos_token", offsetof(it_vocab_desc, add_eos)},
        {"tokenizer.ggml.add_sep_token", offsetof(it_vocab_desc, add_sep)},
        {"tokenizer.ggml.add_space_prefix", offsetof(it_vocab_desc, add_space_prefix)},
        {"tokenizer.ggml.remove_extra_whitespaces", offsetof(it_vocab_desc, remove_extra_whitespaces)},
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        int v;
        st = it_gguf_get_bool(g, flags[i].key, &v, e);
        if (st == INGOT_ERR_NOT_FOUND) continue;
        if (st) goto fail;
        *(int *)((char *)&d + flags[i].off) = v;
    }
    st = it_tok_create(&d, out, e);
fail:
    hold_free(&h);
    return st;
}

/* ---------------------------------------------------------------- hyperparameters */

static int key_int(it_llm_model *m, const char *suffix, int required, int64_t def, int64_t lo, int64_t hi,
                   int64_t *out, it_err *e) {
    char key[160];
    int64_t v;
    snprintf(key, sizeof key, "%s.%s", m->arch_name, suffix);
    int st = it_gguf_get_int(m->gguf, key, &v, e);
    if (st == INGOT_ERR_NOT_FOUND) {
        if (required) return it_fail(e, INGOT_ERR_FORMAT, "missing hyperparameter %s", key);
        *out = def;
        return 0;
    }
    if (st) return st;
    if (v < lo || v > hi)
        return it_fail(e, INGOT_ERR_LIMIT, "%s = %lld is outside [%lld, %lld]", key, (long long)v, (long long)lo,
                       (long long)hi);
    *out = v;
    return 0;
}

static int key_float(it_llm_model *m, const char *suffix, double def, float *out, it_err *e) {
    char key[160];
    double v;
    snprintf(key, sizeof key, "%s.%s", m->arch_name, suffix);
    int st = it_gguf_get_float(m->gguf, key, &v, e);
    if (st == INGOT_ERR_NOT_FOUND) v = def;
    else if (st) return st;
    if (!isfinite(v)) return it_fail(e, INGOT_ERR_FORMAT, "%s is not finite", key);
    *out = (float)v;
    return 0;
}

int it_llm_key_int(it_llm_model *m, const char *suffix, int required, int64_t def, int64_t lo, int64_t hi,
                   int64_t *out, it_err *e) {
    return key_int(m, suffix, required, def, lo, hi, out, e);
}

int it_llm_key_float(it_llm_model *m, const char *suffix, double def, float *out, it_err *e) {
    return key_float(m, suffix, def, out, e);
}

static int read_hparams(it_llm_model *m, it_err *e) {
    it_llm_hparams *h = &m->hp;
    int64_t v;
    int st;
    if ((st = key_int(m, "context_length", 0, 2048, 1, IT_LLM_MAX_CTX, &h->n_ctx_train, e)) ||
        (st = key_int(m, "embedding_length", 1, 0, 1, IT_LLM_MAX_EMBD, &h->n_embd, e)) ||
        (st = key_int(m, "block_count", 1, 0, 1, IT_LLM_MAX_LAYERS, &h->n_layer, e)) ||
        (st = key_int(m, "feed_forward_length", 1, 0, 1, IT_LLM_MAX_FF, &h->n_ff, e)) ||
        (st = key_int(m, "attention.head_count", 1, 0, 1, IT_LLM_MAX_HEADS, &h->n_head, e)) ||
        (st = key_int(m, "attention.head_count_kv", 0, h->n_head, 1, IT_LLM_MAX_HEADS, &h->n_head_kv, e)))
        return st;
    if (h->n_head % h->n_head_kv)
        return it_fail(e, INGOT_ERR_FORMAT, "%s.attention.head_count %lld is not a multiple of head_count_kv %lld",
                       m->arch_name, (long long)h->n_head, (long long)h->n_head_kv);
    int64_t hd_def = h->n_embd % h->n_head ? 0 : h->n_embd / h->n_head;
    if ((st = key_int(m, "attention.key_length", hd_def == 0, hd_def, 1, IT_LLM_MAX_HEAD_DIM, &h->head_dim, e)))
        return st;
    if ((st = key_int(m, "attention.value_length", 0, h->head_dim, 1, IT_LLM_MAX_HEAD_DIM, &v, e))) return st;
    if (v != h->head_dim)
        return it_fail(e, INGOT_ERR_UNSUPPORTED, "%s.attention.value_length %lld differs from key_length %lld",
                       m->arch_name, (long long)v, (long long)h->head_dim);
    if ((st = key_int(m, "rope.dimension_count", 0, h->head_dim, 0, h->head_dim, &h->n_rot, e))) return st;
    if (h->n_rot % 2) return it_fail(e, INGOT_ERR_FORMAT, "%s.rope.dimension_count is odd", m->arch_name);
    if ((st = key_float(m, "attention.layer_norm_rms_epsilon", 1e-5, &h->norm_eps, e)) ||
        (st = key_float(m, "rope.freq_base", 10000.0, &h->rope_theta, e)))
        return st;
    if (h->rope_theta <= 0) return it_fail(e, INGOT_ERR_FORMAT, "%s.rope.freq_base <= 0", m->arch_name);
    /* scaling: rope.scaling.type (string) + factor, or the older rope.scale_linear */
    char key[160];
    const char *s;
    uint64_t sl;
    snprintf(key, sizeof key, "%s.rope.scaling.type", m->arch_name);
    h->rope_scaling = IT_ROPE_SCALING_NONE;
    h->rope_factor = 1;
    st = it_gguf_get_str(m->gguf, key, &s, &sl, e);
    if (st && st != INGOT_ERR_NOT_FOUND) return st;
    int have_type = st == 0;
    if (have_type) {
        if (sl == 6 && !memcmp(s, "linear", 6)) h->rope_scaling = IT_ROPE_SCALING_LINEAR;
        else if (sl == 4 && !memcmp(s, "yarn", 4)) h->rope_scaling = IT_ROPE_SCALING_YARN;
        else if (!(sl == 4 && !memcmp(s, "none", 4)) && !(sl == 6 && !memcmp(s, "llama3", 6)))
            return it_fail(e, INGOT_ERR_UNSUPPORTED, "%s '%.*s' is not supported (none, linear, yarn, llama3)", key,
                           (int)(sl > 32 ? 32 : sl), s);
    }
    float f = 0;
    if ((st = key_float(m, "rope.scaling.factor", 0, &f, e))) return st;
    if (f == 0 && (st = key_float(m, "rope.scale_linear", 0, &f, e))) return st;
    if (f != 0) {
        if (f < 0) return it_fail(e, INGOT_ERR_FORMAT, "%s.rope.scaling.factor < 0", m->arch_name);
        h->rope_factor = f;
        if (!have_type) h->rope_scaling = IT_ROPE_SCALING_LINEAR;
    }
    if ((st = key_int(m, "rope.scaling.original_context_length", 0, h->n_ctx_train, 1, IT_LLM_MAX_CTX,
                      &h->rope_orig_ctx, e)) ||
        (st = key_float(m, "rope.scaling.yarn_beta_fast", 32.0, &h->yarn_beta_fast, e)) ||
        (st = key_float(m, "rope.scaling.yarn_beta_slow", 1.0, &h->yarn_beta_slow, e)) ||
        /* llama.cpp names the factor both ways (yarn_attn_factor: YaRN converters) */
        (st = key_float(m, "rope.scaling.yarn_attn_factor", 1.0, &h->yarn_attn_factor, e)) ||
        (st = key_float(m, "rope.scaling.attn_factor", h->yarn_attn_factor, &h->yarn_attn_factor, e)))
        return st;
    h->rope_type = m->arch->rope_type;
    h->ffn_act = m->arch->ffn_act;
    h->embd_scale = 1;
    if ((m->arch->flags & IT_ARCH_SWA) &&
        (st = key_int(m, "attention.sliding_window", 0, 0, 0, IT_LLM_MAX_CTX, &h->n_swa, e)))
        return st;
    return 0;
}

/* ---------------------------------------------------------------- tensors */

int it_llm_get_weight(it_llm_model *m, const char *name, int64_t n_in, int64_t n_out, int required,
                      it_llm_weight *w, it_err *e) {
    memset(w, 0, sizeof *w);
    const it_gguf_tensor *t = it_gguf_tensor_get(m->gguf, name);
    if (!t) return required ? it_fail(e, INGOT_ERR_NOT_FOUND, "tensor %s is missing", name) : 0;
    if (t->ndim > 2)
        for (int d = 2; d < t->ndim; d++)
            if (t->ne[d] != 1) return it_fail(e, INGOT_ERR_SHAPE, "tensor %s has %d dims", name, t->ndim);
    int64_t ne1 = t->ndim >= 2 ? t->ne[1] : 1;
    if ((n_in > 0 && t->ne[0] != n_in) || (n_out > 0 && ne1 != n_out))
        return it_fail(e, INGOT_ERR_SHAPE, "tensor %s is [%lld, %lld] (ggml order), expected [%lld, %lld]", name,
                       (long long)t->ne[0], (long long)ne1, (long long)n_in, (long long)n_out);
    if (!it_ggml_can_dequant(t->type)) {
        const char *tn = it_ggml_type_name(t->type);
        return it_fail(e, INGOT_ERR_UNSUPPORTED, "tensor %s has type %s (%u), which ingot cannot compute with", name,
                       tn ? tn : "unknown", t->type);
    }
    int64_t rb = it_ggml_row_bytes(t->type, t->ne[0]), total;
    if (rb <= 0 || !it_mul_ok(rb, ne1, &total) || (uint64_t)total > t->nbytes)
        return it_fail(e, INGOT_ERR_FORMAT, "tensor %s: rows of %lld do not fit its type or size", name,
                       (long long)t->ne[0]);
    w->type = t->type;
    w->n_in = t->ne[0];
    w->n_out = ne1;
    w->row_bytes = rb;
    w->data = t->data;
    w->name = t->name;
    return 0;
}

/* Rows [r0, r0 + n) of w, a view into the same mapping. */
static it_llm_weight row_view(const it_llm_weight *w, int64_t r0, int64_t n) {
    it_llm_weight v = *w;
    v.data = (const uint8_t *)w->data + r0 * w->row_bytes;
    v.n_out = n;
    return v;
}

static int load_tensors(it_llm_model *m, it_err *e) {
    const it_llm_hparams *h = &m->hp;
    const int64_t D = h->n_embd, q_dim = h->n_head * h->head_dim, kv_dim = h->n_head_kv * h->head_dim;
    int st;
    if ((st = it_llm_get_weight(m, "token_embd.weight", D, 0, 1, &m->tok_embd, e))) return st;
    if (h->n_vocab && m->tok_embd.n_out != h->n_vocab)
        return it_fail(e, INGOT_ERR_SHAPE, "token_embd.weight has %lld rows for a vocabulary of %lld",
                       (long long)m->tok_embd.n_out, (long long)h->n_vocab);
    m->hp.n_vocab = m->tok_embd.n_out;
    if ((st = it_llm_get_weight(m, "output_norm.weight", D, 1, 1, &m->output_norm, e)) ||
        (st = it_llm_get_weight(m, "output.weight", D, h->n_vocab, 0, &m->output, e)))
        return st;
    if (!m->output.data) m->output = m->tok_embd; /* tied embeddings */
    m->layers = calloc((size_t)h->n_layer, sizeof *m->layers);
    if (!m->layers) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    const unsigned fl = m->arch->flags;
    for (int64_t l = 0; l < h->n_layer; l++) {
        it_llm_layer *L = &m->layers[l];
        char n[96];
#define W(field, nm, in, out, req)                                                  \
    do {                                                                            \
        snprintf(n, sizeof n, "blk.%lld.%s", (long long)l, nm);                     \
        if ((st = it_llm_get_weight(m, n, in, out, req, &L->field, e))) return st; \
    } while (0)
        W(attn_norm, "attn_norm.weight", D, 1, 1);
        W(wq, "attn_q.weight", D, q_dim, 0);
        if (L->wq.data) {
            W(wk, "attn_k.weight", D, kv_dim, 1);
            W(wv, "attn_v.weight", D, kv_dim, 1);
        } else { /* fused [q | k | v] rows (phi3): three row views */
            it_llm_weight qkv;
            snprintf(n, sizeof n, "blk.%lld.attn_qkv.weight", (long long)l);
            if (!it_gguf_tensor_get(m->gguf, n))
                return it_fail(e, INGOT_ERR_NOT_FOUND, "tensor blk.%lld.attn_q.weight (or a fused attn_qkv) is missing",
                               (long long)l);
            if ((st = it_llm_get_weight(m, n, D, q_dim + 2 * kv_dim, 1, &qkv, e))) return st;
            L->wq = row_view(&qkv, 0, q_dim);
            L->wk = row_view(&qkv, q_dim, kv_dim);
            L->wv = row_view(&qkv, q_dim + kv_dim, kv_dim);
        }
        W(wo, "attn_output.weight", q_dim, D, 1);
        W(ffn_norm, "ffn_norm.weight", D, 1, 1);
        if (fl & IT_ARCH_FUSED_FFN) { /* ffn_up = [gate | up] rows (phi3's gate_up_proj) */
            it_llm_weight gu;
            W(w_up, "ffn_up.weight", D, 2 * h->n_ff, 1);
            gu = L->w_up;
            L->w_gate = row_view(&gu, 0, h->n_ff);
            L->w_up = row_view(&gu, h->n_ff, h->n_ff);
        } else {
            W(w_gate, "ffn_gate.weight", D, h->n_ff, 1);
            W(w_up, "ffn_up.weight", D, h->n_ff, 1);
        }
        W(w_down, "ffn_down.weight", h->n_ff, D, 1);
        if (fl & IT_ARCH_POST_NORMS) {
            W(attn_post_norm, "post_attention_norm.weight", D, 1, 1);
            W(ffn_post_norm, "post_ffw_norm.weight", D, 1, 1);
        }
        L->swa = h->n_swa > 0 && (h->swa_period <= 0 || l % h->swa_period < h->swa_period - 1);
        /* attention biases: qwen2's always; any family's when the file has them (llama.cpp
         * loads them as optional for llama too: HF's attention_bias) */
        W(bq, "attn_q.bias", q_dim, 1, 0);
        W(bk, "attn_k.bias", kv_dim, 1, 0);
        W(bv, "attn_v.bias", kv_dim, 1, 0);
        W(bo, "attn_output.bias", D, 1, 0);
        if (fl & IT_ARCH_QK_NORM) {
            W(q_norm, "attn_q_norm.weight", h->head_dim, 1, 1);
            W(k_norm, "attn_k_norm.weight", h->head_dim, 1, 1);
        }
#undef W
    }
    return 0;
}

/* Per-dimension angle per position, folding in base, linear/YaRN scaling and llama3's
 * rope_freqs factors (as ggml's rope: theta = pos * base^(-2i/n_rot) / ff[i], YaRN mixes
 * the interpolated and extrapolated angles per dimension; both are linear in pos). */
static int rope_table(it_llm_model *m, const it_llm_weight *freqs, const char *fname, double base, int scaled,
                      float **out, it_err *e) {
    const it_llm_hparams *h = &m->hp;
    int64_t half = h->n_rot / 2;
    float *tab = calloc((size_t)(half ? half : 1), sizeof(float)), *ff = NULL;
    if (!tab) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    if (freqs && freqs->data) {
        if (freqs->n_in < half) {
            free(tab);
            return it_fail(e, INGOT_ERR_SHAPE, "%s has %lld entries for %lld dims", fname, (long long)freqs->n_in,
                           (long long)half);
        }
        ff = malloc((size_t)freqs->n_in * sizeof *ff);
        if (!ff) {
            free(tab);
            return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
        }
        it_dequant_row(freqs->type, freqs->data, ff, freqs->n_in);
    }
    double freq_scale = h->rope_factor > 0 ? 1.0 / h->rope_factor : 1.0;
    double corr0 = 0, corr1 = 0;
    int yarn = scaled && h->rope_scaling == IT_ROPE_SCALING_YARN;
    if (yarn) { /* ggml_rope_yarn_corr_dims */
        double nd = (double)h->n_rot, oc = (double)h->rope_orig_ctx;
        corr0 = floor(nd * log(oc / (h->yarn_beta_fast * 2 * M_PI)) / (2 * log(base)));
        corr1 = ceil(nd * log(oc / (h->yarn_beta_slow * 2 * M_PI)) / (2 * log(base)));
        if (corr0 < 0) corr0 = 0;
        if (corr1 > nd - 1) corr1 = nd - 1;
    } else if (!scaled || h->rope_scaling != IT_ROPE_SCALING_LINEAR)
        freq_scale = 1.0;
    for (int64_t i = 0; i < half; i++) {
        double f = pow(base, -2.0 * (double)i / (double)h->n_rot);
        if (ff && ff[i] > 0) f /= ff[i];
        double mix = freq_scale;
        if (yarn) {
            double y = ((double)i - corr0) / fmax(0.001, corr1 - corr0);
            double ramp = 1.0 - fmin(1.0, fmax(0.0, y));
            mix = freq_scale * (1 - ramp) + ramp;
        }
        tab[i] = (float)(f * mix);
    }
    free(ff);
    *out = tab;
    return 0;
}

/* freqs: rope_freqs (llama3) or rope_factors_short (phi3), long: rope_factors_long. The
 * cos/sin multiplier is rope.scaling.attn_factor (phi3 LongRoPE writes
 * sqrt(1 + ln(s) / ln(orig_ctx))), times YaRN's 1 + 0.1 ln(factor) under YaRN (as ggml). */
static int setup_rope(it_llm_model *m, const it_llm_weight *freqs, const it_llm_weight *lng, it_err *e) {
    const it_llm_hparams *h = &m->hp;
    int st;
    m->rope_mscale = h->yarn_attn_factor > 0 ? h->yarn_attn_factor : 1.0f;
    if (h->rope_scaling == IT_ROPE_SCALING_YARN && h->rope_factor > 0)
        m->rope_mscale *= (float)(1.0 + 0.1 * log(h->rope_factor));
    if ((st = rope_table(m, freqs, freqs && freqs->name ? freqs->name : "rope_freqs.weight", h->rope_theta, 1,
                         &m->rope_inv_freq, e)))
        return st;
    if (freqs && freqs->data) { /* (rope_table checked its length) */
        if (!(m->rope_ff = malloc((size_t)freqs->n_in * sizeof *m->rope_ff))) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
        it_dequant_row(freqs->type, freqs->data, m->rope_ff, freqs->n_in);
    }
    if (lng && lng->data && (st = rope_table(m, lng, "rope_factors_long.weight", h->rope_theta, 1, &m->rope_inv_freq_long, e)))
        return st;
    int any_swa = 0;
    for (int64_t l = 0; l < h->n_layer && m->layers; l++) any_swa |= m->layers[l].swa;
    if (any_swa && h->rope_theta_swa > 0 &&
        (st = rope_table(m, NULL, NULL, h->rope_theta_swa, 0, &m->rope_inv_freq_swa, e)))
        return st;
    return 0;
}

/* ---------------------------------------------------------------- GGUF */

/* The model of the GGUF in m->gguf (opened or parsed by the caller). */
static int load_from_gguf(it_llm_model *m, it_err *e) {
    int st;
    const char *s;
    uint64_t sl;
    if ((st = it_gguf_get_str(m->gguf, "general.architecture", &s, &sl, e))) {
        if (st == INGOT_ERR_NOT_FOUND) it_fail(e, INGOT_ERR_FORMAT, "general.architecture is missing");
        goto fail;
    }
    m->arch = it_llm_arch_find(s, (size_t)sl);
    if (!m->arch) {
        st = it_fail(e, INGOT_ERR_UNSUPPORTED, "architecture '%.*s' is not supported (supported: %s)",
                     (int)(sl > 64 ? 64 : sl), s, it_llm_arch_names());
        goto fail;
    }
    snprintf(m->arch_name, sizeof m->arch_name, "%s", m->arch->name);
    if (it_gguf_get_str(m->gguf, "general.name", &s, &sl, NULL) == 0)
        snprintf(m->name, sizeof m->name, "%.*s", (int)(sl > 120 ? 120 : sl), s);
    if ((st = read_hparams(m, e))) goto fail;
    int64_t nv;
    if ((st = key_int(m, "vocab_size", 0, 0, 0, IT_TOK_MAX_TOKENS, &nv, e))) goto fail;
    m->hp.n_vocab = nv;
    if (m->arch->load_hparams && (st = m->arch->load_hparams(m, e))) goto fail;
    if ((st = load_tensors(m, e))) goto fail;
    it_llm_weight freqs, lng;
    if ((st = it_llm_get_weight(m, "rope_freqs.weight", 0, 1, 0, &freqs, e)) ||
        (!freqs.data && (st = it_llm_get_weight(m, "rope_factors_short.weight", 0, 1, 0, &freqs, e))) ||
        (st = it_llm_get_weight(m, "rope_factors_long.weight", 0, 1, 0, &lng, e)))
        goto fail;
    if ((st = setup_rope(m, &freqs, &lng, e))) goto fail;
    if ((st = it_llm_tokenizer_from_gguf(m->gguf, &m->tok, e))) goto fail;
    if (it_tok_n_tokens(m->tok) > m->hp.n_vocab) {
        st = it_fail(e, INGOT_ERR_FORMAT, "the tokenizer has %d tokens, the model %lld", it_tok_n_tokens(m->tok),
                     (long long)m->hp.n_vocab);
        goto fail;
    }
    st = get_strz(m->gguf, "tokenizer.chat_template", &m->chat_template, e);
    if (st == INGOT_ERR_NOT_FOUND) st = 0;
fail:
    return st;
}

int it_llm_model_load_gguf(const char *path, it_llm_model **out, it_err *e) {
    int st;
    *out = NULL;
    it_llm_model *m = calloc(1, sizeof *m);
    if (!m) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    m->format = "gguf";
    m->gguf = calloc(1, sizeof *m->gguf);
    if (!m->gguf) st = it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    else if (!(st = it_gguf_open(path, m->gguf, e))) st = load_from_gguf(m, e);
    if (st) {
        it_llm_model_free(m);
        return st;
    }
    *out = m;
    return 0;
}

/* A Hugging Face folder (llm/hf.h), converted to GGUF in an anonymous mapping that the
 * model's it_gguf then owns (it_gguf_free unmaps it). */
static int load_hf_dir(const char *dir, it_llm_model **out, it_err *e) {
    void *buf = NULL;
    size_t len = 0;
    int st;
    *out = NULL;
    it_llm_model *m = calloc(1, sizeof *m);
    if (!m) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    m->format = "hf";
    m->gguf = calloc(1, sizeof *m->gguf);
    if (!m->gguf) st = it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    else if (!(st = it_hf_convert_mem(dir, &buf, &len, e))) {
        if ((st = it_gguf_parse(buf, len, m->gguf, e))) it_unmap(buf, len);
        else {
            m->gguf->map = buf;
            m->gguf->map_len = len;
            st = load_from_gguf(m, e);
        }
    }
    if (st) {
        it_llm_model_free(m);
        return st;
    }
    *out = m;
    return 0;
}

/* ---------------------------------------------------------------- llama2.c */

static int is_byte_token(const char *s, uint32_t n) {
    static const char hex[] = "0123456789ABCDEFabcdef";
    return n == 6 && !memcmp(s, "<0x", 3) && s[5] == '>' && s[3] && strchr(hex, s[3]) && s[4] && strchr(hex, s[4]);
}

/* The tok.bin vocabulary as llama.cpp's converter rewrites it: spaces as U+2581, <unk> <s>
 * </s> for ids 0-2, byte tokens typed as bytes. */
static int l2c_tokenizer(const it_llama2c_vocab *v, it_tokenizer **out, it_err *e) {
    int st = INGOT_ERR_NOMEM;
    it_vocab_str *toks = calloc((size_t)v->n, sizeof *toks);
    int32_t *types = calloc((size_t)v->n, sizeof *types);
    char **bufs = calloc((size_t)v->n, sizeof *bufs);
    if (!toks || !types || !bufs) goto fail;
    for (int32_t i = 0; i < v->n; i++) {
        const char *s = v->tokens[i];
        uint32_t n = v->lens[i];
        int type = IT_TOKEN_NORMAL;
        if (i == 0) { s = "<unk>"; n = 5; type = IT_TOKEN_UNKNOWN; }
        else if (i == 1) { s = "<s>"; n = 3; type = IT_TOKEN_CONTROL; }
        else if (i == 2) { s = "</s>"; n = 4; type = IT_TOKEN_CONTROL; }
        else if (n == 0) type = IT_TOKEN_CONTROL;
        else if (is_byte_token(s, n)) type = IT_TOKEN_BYTE;
        char *t = malloc((size_t)n * 3 + 1), *q = t;
        if (!t) goto fail;
        for (uint32_t k = 0; k < n; k++) {
            if (s[k] == ' ') { memcpy(q, "\xe2\x96\x81", 3); q += 3; }
            else *q++ = s[k];
        }
        bufs[i] = t;
        toks[i].ptr = t;
        toks[i].len = (size_t)(q - t);
        types[i] = type;
    }
    it_vocab_desc d;
    it_vocab_desc_init(&d);
    d.model = "llama";
    d.n_tokens = v->n;
    d.tokens = toks;
    d.scores = v->scores;
    d.token_types = types;
    d.unk_id = 0;
    d.bos_id = 1;
    d.eos_id = 2;
    d.add_bos = 1;
    d.add_eos = 0;
    st = it_tok_create(&d, out, e);
fail:
    if (st == INGOT_ERR_NOMEM && !e->msg[0]) it_fail(e, st, "out of memory");
    if (bufs)
        for (int32_t i = 0; i < v->n; i++) free(bufs[i]);
    free(bufs);
    free(toks);
    free(types);
    return st;
}

static it_llm_weight f32w(const char *name, const float *p, int64_t n_in, int64_t n_out) {
    it_llm_weight w = {IT_GGML_F32, n_in, n_out, n_in * 4, p, name};
    return w;
}

int it_llm_model_load_llama2c(const char *path, const char *tok_path, it_llm_model **out, it_err *e) {
    int st;
    it_llama2c_vocab v;
    memset(&v, 0, sizeof v);
    *out = NULL;
    if (!tok_path) return it_fail(e, INGOT_ERR_INVALID_ARG, "%s: a llama2.c checkpoint needs its tokenizer file", path);
    it_llm_model *m = calloc(1, sizeof *m);
    if (!m) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    m->format = "llama2c";
    m->l2c = calloc(1, sizeof *m->l2c);
    if (!m->l2c) { st = it_fail(e, INGOT_ERR_NOMEM, "out of memory"); goto fail; }
    if ((st = it_llama2c_open(path, m->l2c, e))) goto fail;
    if ((st = it_map_file(tok_path, &m->tok_map, &m->tok_map_len, e))) goto fail;
    const it_llama2c_config *c = &m->l2c->c;
    if ((st = it_llama2c_vocab_parse(m->tok_map, m->tok_map_len, c->vocab_size, &v, e))) goto fail;
    if ((st = l2c_tokenizer(&v, &m->tok, e))) goto fail;
    m->arch = it_llm_arch_find("llama", 5);
    snprintf(m->arch_name, sizeof m->arch_name, "llama");
    const char *b = strrchr(path, '/');
    snprintf(m->name, sizeof m->name, "%s", b ? b + 1 : path);
    it_llm_hparams *h = &m->hp;
    h->n_vocab = c->vocab_size;
    h->n_ctx_train = c->seq_len;
    h->n_embd = c->dim;
    h->n_layer = c->n_layers;
    h->n_head = c->n_heads;
    h->n_head_kv = c->n_kv_heads;
    h->head_dim = c->head_size;
    h->n_ff = c->hidden_dim;
    h->n_rot = c->head_size;
    h->norm_eps = 1e-5f;
    h->rope_type = IT_ROPE_NORM;
    h->rope_theta = 10000.0f;
    h->rope_factor = 1;
    h->embd_scale = 1;
    if (h->n_layer > IT_LLM_MAX_LAYERS || h->head_dim % 2 || h->n_head % h->n_head_kv) {
        st = it_fail(e, INGOT_ERR_FORMAT, "%s: unusable llama2.c header", path);
        goto fail;
    }
    const it_llama2c *l = m->l2c;
    const int64_t D = h->n_embd, KV = c->kv_dim, H = h->n_ff, V = h->n_vocab;
    m->tok_embd = f32w("token_embd.weight", l->tok_emb, D, V);
    m->output_norm = f32w("output_norm.weight", l->rms_final, D, 1);
    m->output = f32w("output.weight", l->wcls, D, V);
    m->layers = calloc((size_t)h->n_layer, sizeof *m->layers);
    if (!m->layers) { st = it_fail(e, INGOT_ERR_NOMEM, "out of memory"); goto fail; }
    for (int64_t i = 0; i < h->n_layer; i++) {
        it_llm_layer *L = &m->layers[i];
        L->attn_norm = f32w("attn_norm", l->rms_att + i * D, D, 1);
        L->wq = f32w("attn_q", l->wq + i * D * D, D, D);
        L->wk = f32w("attn_k", l->wk + i * KV * D, D, KV);
        L->wv = f32w("attn_v", l->wv + i * KV * D, D, KV);
        L->wo = f32w("attn_output", l->wo + i * D * D, D, D);
        L->ffn_norm = f32w("ffn_norm", l->rms_ffn + i * D, D, 1);
        L->w_gate = f32w("ffn_gate", l->w1 + i * H * D, D, H);
        L->w_down = f32w("ffn_down", l->w2 + i * D * H, H, D);
        L->w_up = f32w("ffn_up", l->w3 + i * H * D, D, H);
    }
    if ((st = setup_rope(m, NULL, NULL, e))) goto fail;
    it_llama2c_vocab_free(&v);
    *out = m;
    return 0;
fail:
    it_llama2c_vocab_free(&v);
    it_llm_model_free(m);
    return st;
}

int it_llm_model_load(const char *path, const char *tok_path, it_llm_model **out, it_err *e) {
    if (it_hf_is_dir(path)) return load_hf_dir(path, out, e);
    FILE *f = fopen(path, "rb");
    if (!f) return it_fail(e, INGOT_ERR_IO, "%s: cannot open", path);
    unsigned char magic[4] = {0};
    size_t n = fread(magic, 1, 4, f);
    fclose(f);
    if (n == 4 && magic[0] == 'G' && magic[1] == 'G' && magic[2] == 'U' && magic[3] == 'F')
        return it_llm_model_load_gguf(path, out, e);
    if (!tok_path)
        return it_fail(e, INGOT_ERR_FORMAT, "%s is not a GGUF file (a llama2.c checkpoint needs a tokenizer file)",
                       path);
    return it_llm_model_load_llama2c(path, tok_path, out, e);
}

void it_llm_model_free(it_llm_model *m) {
    if (!m) return;
    it_tok_free(m->tok);
    free(m->layers);
    free(m->rope_inv_freq);
    free(m->rope_inv_freq_long);
    free(m->rope_inv_freq_swa);
    free(m->rope_ff);
    free(m->chat_template);
    if (m->gguf) {
        it_gguf_free(m->gguf);
        free(m->gguf);
    }
    if (m->l2c) {
        it_llama2c_free(m->l2c);
        free(m->l2c);
    }
    if (m->tok_map) it_unmap(m->tok_map, m->tok_map_len);
    it_free(m->packed_mem);
    free(m);
}
