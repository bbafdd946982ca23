/*
 * hf.c: a Hugging Face LLM folder -> GGUF (hf.h), for `ingot convert --from hf` and for
 * loading a folder directly (converted into an anonymous mapping, then read by the GGUF
 * loader like any file).
 *
 * The output follows llama.cpp's convert_hf_to_gguf.py: general.* and <arch>.* keys from
 * config.json (TextModel.set_gguf_parameters, plus LlamaModel's vocab_size and
 * rope.dimension_count, its rope_freqs tensor for llama3 rope scaling, and the q/k row
 * permutation), tensor names of gguf-py's tensor map, tokenizer.ggml.* from tokenizer.json
 * (get_vocab_base for byte-level BPE, LlamaHfVocab for SentencePiece-style BPE) and
 * gguf.SpecialVocab (special ids from tokenizer_config.json then config.json, add_* flags
 * from tokenizer_config.json and the post-processor template, chat template), and
 * general.sampling.* from generation_config.json. Weights keep their dtype (F32, F16, BF16);
 * 1-D tensors are written as F32 like llama.cpp does.
 *
 * One deliberate difference: a SentencePiece-style BPE tokenizer.json has no scores (llama.cpp
 * writes -1000 for all, which makes its score-driven merging greedy); here a token's score is
 * minus the rank of the first merge that forms it, so the score-driven merge of the "llama"
 * tokenizer reproduces the BPE merge order of tokenizers.
 *
 * Tensors needing work (permuted q/k, 1-D tensors turned to F32, rope_freqs) are produced by
 * the GGUF writer's fill callback one at a time; all others are written straight from the
 * safetensors mappings. In memory, a first pass through a counting stream sizes the file, a
 * second writes it into an anonymous mapping of exactly that size.
 */
#define _GNU_SOURCE
#include "llm/hf.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "formats/gguf.h"
#include "formats/json.h"
#include "formats/safetensors.h"
#include "llm/tokenizer/tokenizer.h"
#include "tensor/quant.h"

#define HF_MAX_JSON ((size_t)512 << 20) /* tokenizer.json of large vocabularies is tens of MB */

/* ---------------------------------------------------------------- architectures */

typedef struct hf_arch {
    const char *hf;     /* config.json architectures[0] */
    const char *gguf;   /* general.architecture */
    int llama;          /* LlamaModel: q/k permutation, vocab_size, rope.dimension_count, rope_freqs */
    int qkv_bias;       /* 1: q/k/v biases required; 0: optional (written when present) */
    int qk_norm;        /* per-head q/k RMSNorm weights */
} hf_arch;

static const hf_arch hf_archs[] = {
    {"LlamaForCausalLM", "llama", 1, 0, 0},
    {"MistralForCausalLM", "llama", 1, 0, 0},
    {"Qwen2ForCausalLM", "qwen2", 0, 1, 0},
    {"Qwen3ForCausalLM", "qwen3", 0, 0, 1},
};

/* ---------------------------------------------------------------- conversion state */

typedef struct hf_file {
    char path[4096];
    char *text;
    it_json_doc doc; /* doc.root NULL: the (optional) file is absent */
} hf_file;

typedef struct hf_job {
    const it_st_tensor *src; /* NULL for generated data (f32) */
    const float *f32;
    int64_t perm_heads;      /* > 0: llama q/k row permutation over this many heads */
    int to_f32;
} hf_job;

typedef struct hf_conv {
    const char *dir;
    hf_file cfg, tok, tcfg, gen;
    it_safetensors st;
    it_gguf_writer *w;
    hf_job *jobs; /* one per GGUF tensor, in the writer's order */
    int64_t n_jobs, cap_jobs;
    uint8_t *used; /* [st.n_tensors] */
    const hf_arch *arch;
    int64_t D, L, H, KV, hd, F, V;
    int tied;
    float *rope_freqs;
    int counting; /* the sizing pass: fill does nothing */
    it_arena arena;
} hf_conv;

static const it_json *cfg_get(const hf_conv *c, const char *key) { return it_json_get(c->cfg.doc.root, key); }

static int load_file(hf_conv *c, hf_file *f, const char *name, int required, it_err *e) {
    struct stat sb;
    snprintf(f->path, sizeof f->path, "%s/%s", c->dir, name);
    if (stat(f->path, &sb) != 0) return required ? it_fail(e, INGOT_ERR_NOT_FOUND, "%s: no such file", f->path) : 0;
    size_t n = 0;
    int st = it_read_file(f->path, HF_MAX_JSON, &f->text, &n, e);
    if (st) return st;
    if ((st = it_json_parse(f->text, n, f->path, &f->doc, e))) return st;
    if (f->doc.root->type != IT_JSON_OBJECT) return it_fail(e, INGOT_ERR_FORMAT, "%s: not a JSON object", f->path);
    return 0;
}

static void free_file(hf_file *f) {
    it_json_doc_free(&f->doc);
    free(f->text);
    f->text = NULL;
}

static void conv_free(hf_conv *c) {
    free_file(&c->cfg);
    free_file(&c->tok);
    free_file(&c->tcfg);
    free_file(&c->gen);
    it_st_free(&c->st);
    it_gguf_writer_free(c->w);
    free(c->jobs);
    free(c->used);
    free(c->rope_freqs);
    it_arena_free(&c->arena);
}

/* An integer member of config.json (required, or def when absent). */
static int cfg_i64(hf_conv *c, const char *key, int required, int64_t def, int64_t lo, int64_t hi, int64_t *out,
                   it_err *e) {
    int r = it_json_get_int(c->cfg.doc.root, key, lo, hi, out);
    if (r < 0)
        return it_fail(e, INGOT_ERR_FORMAT, "%s: \"%s\" is not an integer in [%lld, %lld]", c->cfg.path, key,
                       (long long)lo, (long long)hi);
    if (r > 0) {
        if (required) return it_fail(e, INGOT_ERR_FORMAT, "%s: \"%s\" is missing", c->cfg.path, key);
        *out = def;
    }
    return 0;
}

/* A number member of obj (of file path): 1 absent, 0 read, error when not a finite number. */
static int num_of(const it_json *obj, const char *key, const char *path, double *out, it_err *e) {
    int r = it_json_get_num(obj, key, out);
    if (r < 0 || (r == 0 && !isfinite(*out)))
        return it_fail(e, INGOT_ERR_FORMAT, "%s: \"%s\" is not a number", path, key);
    return r;
}

/* ---------------------------------------------------------------- GGUF keys */

static int kv_u32(hf_conv *c, const char *sfx, int64_t v, it_err *e) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", c->arch->gguf, sfx);
    return it_gguf_w_u32(c->w, k, (uint32_t)v, e);
}

static int kv_f32(hf_conv *c, const char *sfx, double v, it_err *e) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", c->arch->gguf, sfx);
    return it_gguf_w_f32(c->w, k, (float)v, e);
}

static int kv_str(hf_conv *c, const char *key, const char *s, it_err *e) {
    return it_gguf_w_str(c->w, key, s, strlen(s), e);
}

/* llama.cpp's LlamaModel rope_freqs for rope_type llama3: a factor per dimension pair. */
static int llama3_freqs(hf_conv *c, const it_json *rope, double theta, int64_t dim, it_err *e) {
    double factor = 8, lo = 1, hi = 4, old = 8192;
    int st;
    if ((st = num_of(rope, "factor", c->cfg.path, &factor, e)) < 0 ||
        (st = num_of(rope, "low_freq_factor", c->cfg.path, &lo, e)) < 0 ||
        (st = num_of(rope, "high_freq_factor", c->cfg.path, &hi, e)) < 0 ||
        (st = num_of(rope, "original_max_position_embeddings", c->cfg.path, &old, e)) < 0)
        return st;
    if (!(factor > 0) || !(lo > 0) || !(hi > lo) || !(old > 0))
        return it_fail(e, INGOT_ERR_FORMAT, "%s: rope_scaling llama3 factors are out of range", c->cfg.path);
    int64_t half = dim / 2;
    c->rope_freqs = malloc((size_t)(half ? half : 1) * sizeof(float));
    if (!c->rope_freqs) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    double lo_wl = old / lo, hi_wl = old / hi;
    for (int64_t i = 0; i < half; i++) {
        double freq = 1.0 / pow(theta, (double)(2 * i) / (double)dim), wl = 2 * M_PI / freq, f;
        if (wl < hi_wl) f = 1;
        else if (wl > lo_wl) f = factor;
        else {
            double smooth = (old / wl - lo) / (hi - lo);
            f = 1 / ((1 - smooth) / factor + smooth);
        }
        c->rope_freqs[i] = (float)f;
    }
    return 0;
}

/* rope theta and scaling: TextModel.set_gguf_parameters (rope_parameters or rope_scaling). */
static int rope_keys(hf_conv *c, int64_t rope_dim, it_err *e) {
    const it_json *rope = cfg_get(c, "rope_parameters");
    if (!rope || rope->type != IT_JSON_OBJECT) rope = cfg_get(c, "rope_scaling");
    if (rope && rope->type == IT_JSON_NULL) rope = NULL;
    if (rope && rope->type != IT_JSON_OBJECT)
        return it_fail(e, INGOT_ERR_FORMAT, "%s: \"rope_scaling\" is not an object", c->cfg.path);
    double theta = 10000, v;
    int st, r;
    if ((r = num_of(c->cfg.doc.root, "rope_theta", c->cfg.path, &theta, e)) < 0) return r;
    if (r == 1 && rope && (r = num_of(rope, "rope_theta", c->cfg.path, &theta, e)) < 0) return r;
    if (!(theta > 0)) return it_fail(e, INGOT_ERR_FORMAT, "%s: rope_theta must be > 0", c->cfg.path);
    if (r == 0 && (st = kv_f32(c, "rope.freq_base", theta, e))) return st;
    if (!rope) return 0;
    const char *type = NULL;
    if (it_json_get_str(rope, "rope_type", &type) != 0 && it_json_get_str(rope, "type", &type) != 0) return 0;
    double factor = 0;
    if ((r = num_of(rope, "factor", c->cfg.path, &factor, e)) < 0) return r;
    int has_factor = r == 0;
    if (!strcmp(type, "default") || !strcmp(type, "none")) return 0;
    if (!strcmp(type, "linear") || !strcmp(type, "yarn")) {
        if (!has_factor) return 0; /* llama.cpp writes scaling only with a factor */
        if (!(factor > 0)) return it_fail(e, INGOT_ERR_FORMAT, "%s: rope_scaling factor must be > 0", c->cfg.path);
        char key[128];
        snprintf(key, sizeof key, "%s.rope.scaling.type", c->arch->gguf);
        if ((st = kv_str(c, key, type, e)) || (st = kv_f32(c, "rope.scaling.factor", factor, e))) return st;
        if (type[0] == 'l') return 0;
        int64_t orig;
        if (it_json_get_int(rope, "original_max_position_embeddings", 1, INT32_MAX, &orig) != 0)
            return it_fail(e, INGOT_ERR_FORMAT, "%s: rope_scaling yarn needs an integer original_max_position_embeddings",
                           c->cfg.path);
        if ((st = kv_u32(c, "rope.scaling.original_context_length", orig, e))) return st;
        static const char *const yk[][3] = {{"extrapolation_factor", NULL, "rope.scaling.yarn_ext_factor"},
                                            {"attention_factor", "attn_factor", "rope.scaling.yarn_attn_factor"},
                                            {"beta_fast", NULL, "rope.scaling.yarn_beta_fast"},
                                            {"beta_slow", NULL, "rope.scaling.yarn_beta_slow"}};
        for (size_t i = 0; i < sizeof yk / sizeof yk[0]; i++) {
            if ((r = num_of(rope, yk[i][0], c->cfg.path, &v, e)) < 0) return r;
            if (r == 1 && yk[i][1] && (r = num_of(rope, yk[i][1], c->cfg.path, &v, e)) < 0) return r;
            if (r == 0 && (st = kv_f32(c, yk[i][2], v, e))) return st;
        }
        return 0;
    }
    if (!strcmp(type, "llama3") && c->arch->llama) return llama3_freqs(c, rope, theta, rope_dim, e);
    return it_fail(e, INGOT_ERR_UNSUPPORTED, "%s: rope_scaling type \"%.32s\" is not supported (linear, yarn%s)",
                   c->cfg.path, type, c->arch->llama ? ", llama3" : "");
}

/* config.json -> general.* and <arch>.* keys. */
static int read_config(hf_conv *c, it_err *e) {
    const it_json *archs = cfg_get(c, "architectures"), *a0 = it_json_at(archs, 0);
    if (!a0 || a0->type != IT_JSON_STRING)
        return it_fail(e, INGOT_ERR_FORMAT, "%s: \"architectures\" is missing (an array naming the model class)",
                       c->cfg.path);
    for (size_t i = 0; i < sizeof hf_archs / sizeof hf_archs[0]; i++)
        if (!strcmp(a0->s, hf_archs[i].hf)) c->arch = &hf_archs[i];
    if (!c->arch) {
        char names[256] = "";
        for (size_t i = 0, k = 0; i < sizeof hf_archs / sizeof hf_archs[0]; i++)
            k += (size_t)snprintf(names + k, sizeof names - k, "%s%s", i ? ", " : "", hf_archs[i].hf);
        return it_fail(e, INGOT_ERR_UNSUPPORTED, "%s: unsupported architecture \"%.64s\" (supported: %s)", c->cfg.path,
                       a0->s, names);
    }
    int st;
    int64_t ctx;
    if ((st = cfg_i64(c, "hidden_size", 1, 0, 1, 1 << 17, &c->D, e)) ||
        (st = cfg_i64(c, "num_hidden_layers", 1, 0, 1, 1024, &c->L, e)) ||
        (st = cfg_i64(c, "num_attention_heads", 1, 0, 1, 1024, &c->H, e)) ||
        (st = cfg_i64(c, "num_key_value_heads", 0, c->H, 1, 1024, &c->KV, e)) ||
        (st = cfg_i64(c, "head_dim", 0, c->D / c->H, 1, 1024, &c->hd, e)) ||
        (st = cfg_i64(c, "intermediate_size", 1, 0, 1, 1 << 20, &c->F, e)) ||
        (st = cfg_i64(c, "vocab_size", 1, 0, 1, IT_TOK_MAX_TOKENS, &c->V, e)) ||
        (st = cfg_i64(c, "max_position_embeddings", 0, 0, 0, 1 << 24, &ctx, e)))
        return st;
    if (c->H % c->KV)
        return it_fail(e, INGOT_ERR_FORMAT, "%s: num_attention_heads %lld is not a multiple of num_key_value_heads %lld",
                       c->cfg.path, (long long)c->H, (long long)c->KV);
    if (c->hd % 2) return it_fail(e, INGOT_ERR_FORMAT, "%s: head_dim %lld is odd", c->cfg.path, (long long)c->hd);
    int tied = 0;
    if (it_json_get_bool(c->cfg.doc.root, "tie_word_embeddings", &tied) < 0)
        return it_fail(e, INGOT_ERR_FORMAT, "%s: \"tie_word_embeddings\" is not a boolean", c->cfg.path);
    c->tied = tied;
    /* general.name: the folder's name, as convert_hf_to_gguf.py's metadata heuristics default to */
    char name[256];
    snprintf(name, sizeof name, "%s", c->dir);
    size_t nl = strlen(name);
    while (nl > 1 && name[nl - 1] == '/') name[--nl] = 0;
    const char *base = strrchr(name, '/');
    base = base && base[1] ? base + 1 : name;
    if ((st = kv_str(c, "general.architecture", c->arch->gguf, e)) || (st = kv_str(c, "general.type", "model", e)) ||
        (st = kv_str(c, "general.name", base, e)) || (st = kv_u32(c, "block_count", c->L, e)) ||
        (ctx && (st = kv_u32(c, "context_length", ctx, e))) || (st = kv_u32(c, "embedding_length", c->D, e)) ||
        (st = kv_u32(c, "feed_forward_length", c->F, e)) || (st = kv_u32(c, "attention.head_count", c->H, e)) ||
        (st = kv_u32(c, "attention.head_count_kv", c->KV, e)))
        return st;
    int64_t rope_dim = c->hd;
    if ((st = rope_keys(c, rope_dim, e))) return st;
    double eps;
    int r = num_of(c->cfg.doc.root, "rms_norm_eps", c->cfg.path, &eps, e);
    if (r < 0) return r;
    if (r == 0 && (st = kv_f32(c, "attention.layer_norm_rms_epsilon", eps, e))) return st;
    if (it_json_get(c->cfg.doc.root, "head_dim") &&
        ((st = kv_u32(c, "attention.key_length", c->hd, e)) || (st = kv_u32(c, "attention.value_length", c->hd, e))))
        return st;
    if (c->arch->llama &&
        ((st = kv_u32(c, "vocab_size", c->V, e)) || (st = kv_u32(c, "rope.dimension_count", rope_dim, e))))
        return st;
    return 0;
}

/* generation_config.json -> general.sampling.* (gguf-py's Metadata.load). */
static int sampling_keys(hf_conv *c, it_err *e) {
    const it_json *g = c->gen.doc.root;
    if (!g) return 0;
    int64_t k;
    double v;
    int st, r = it_json_get_int(g, "top_k", 0, INT32_MAX, &k);
    if (r == 0 && (st = it_gguf_w_i32(c->w, "general.sampling.top_k", (int32_t)k, e))) return st;
    static const char *const fk[][2] = {
        {"top_p", "general.sampling.top_p"}, {"min_p", "general.sampling.min_p"}, {"temperature", "general.sampling.temp"}};
    for (size_t i = 0; i < sizeof fk / sizeof fk[0]; i++)
        if (it_json_get_num(g, fk[i][0], &v) == 0 && isfinite(v) && (st = it_gguf_w_f32(c->w, fk[i][1], (float)v, e)))
            return st;
    return 0;
}

/* ---------------------------------------------------------------- tensors */

static int push_job(hf_conv *c, hf_job j, it_err *e) {
    if (c->n_jobs == c->cap_jobs) {
        int64_t cap = c->cap_jobs ? 2 * c->cap_jobs : 256;
        hf_job *n = realloc(c->jobs, (size_t)cap * sizeof *n);
        if (!n) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
        c->jobs = n;
        c->cap_jobs = cap;
    }
    c->jobs[c->n_jobs++] = j;
    return 0;
}

static void shape_str(const it_st_tensor *t, char *buf, size_t n) {
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < t->ndim && k + 24 < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
}

/* Add safetensors tensor `hf` (HF shape [d0] or [d0, d1]) as GGUF tensor `gg`. */
static int add_tensor(hf_conv *c, const char *hf, const char *gg, int64_t d0, int64_t d1, int required,
                      int64_t perm_heads, it_err *e) {
    const it_st_tensor *t = it_st_find(&c->st, hf);
    if (!t) return required ? it_fail(e, INGOT_ERR_NOT_FOUND, "%s: tensor \"%s\" is missing", c->dir, hf) : 0;
    c->used[t - c->st.tensors] = 1;
    int ndim = d1 > 0 ? 2 : 1;
    if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
        char got[96];
        shape_str(t, got, sizeof got);
        if (ndim == 2)
            return it_fail(e, INGOT_ERR_SHAPE, "%s: tensor \"%s\" has shape [%s], expected [%lld, %lld]", c->dir, hf,
                           got, (long long)d0, (long long)d1);
        return it_fail(e, INGOT_ERR_SHAPE, "%s: tensor \"%s\" has shape [%s], expected [%lld]", c->dir, hf, got,
                       (long long)d0);
    }
    uint32_t type = IT_GGML_F32;
    int to_f32 = 0;
    if (ndim == 2 && t->dtype == IT_ST_F16) type = IT_GGML_F16;
    else if (ndim == 2 && t->dtype == IT_ST_BF16) type = IT_GGML_BF16;
    else if (t->dtype != IT_ST_F32) to_f32 = 1;
    if (to_f32 && t->dtype != IT_ST_F16 && t->dtype != IT_ST_BF16 && t->dtype != IT_ST_F64)
        return it_fail(e, INGOT_ERR_UNSUPPORTED, "%s: tensor \"%s\" has dtype %s (F32, F16 and BF16 are supported)",
                       c->dir, hf, it_st_dtype_name(t->dtype));
    int64_t ne[2] = {ndim == 2 ? d1 : d0, d0};
    hf_job j = {t, NULL, perm_heads, to_f32};
    int st = push_job(c, j, e);
    if (!st) st = it_gguf_w_tensor(c->w, gg, type, ndim, ne, to_f32 || perm_heads ? NULL : t->data, e);
    return st;
}

static int add_tensors(hf_conv *c, it_err *e) {
    const int64_t D = c->D, Q = c->H * c->hd, K = c->KV * c->hd;
    const int llama = c->arch->llama;
    int st;
    c->used = calloc((size_t)(c->st.n_tensors ? c->st.n_tensors : 1), 1);
    if (!c->used) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    if ((st = add_tensor(c, "model.embed_tokens.weight", "token_embd.weight", c->V, D, 1, 0, e))) return st;
    if (c->rope_freqs) {
        int64_t ne = c->hd / 2;
        hf_job j = {NULL, c->rope_freqs, 0, 0};
        if ((st = push_job(c, j, e)) || (st = it_gguf_w_tensor(c->w, "rope_freqs.weight", IT_GGML_F32, 1, &ne, NULL, e)))
            return st;
    }
    for (int64_t l = 0; l < c->L; l++) {
        static const struct {
            const char *hf, *gg;
            int rows, cols; /* 0 D, 1 Q, 2 K, 3 F, 4 head_dim, -1 none */
            int kind;       /* 0 required, 1 bias (arch), 2 qk norm (arch), 3 q perm, 4 k perm,
                               5 optional (written when present) */
        } T[] = {
            {"input_layernorm.weight", "attn_norm.weight", 0, -1, 0},
            {"self_attn.q_proj.weight", "attn_q.weight", 1, 0, 3},
            {"self_attn.k_proj.weight", "attn_k.weight", 2, 0, 4},
            {"self_attn.v_proj.weight", "attn_v.weight", 2, 0, 0},
            {"self_attn.o_proj.weight", "attn_output.weight", 0, 1, 0},
            {"self_attn.q_proj.bias", "attn_q.bias", 1, -1, 1},
            {"self_attn.k_proj.bias", "attn_k.bias", 2, -1, 1},
            {"self_attn.v_proj.bias", "attn_v.bias", 2, -1, 1},
            {"self_attn.o_proj.bias", "attn_output.bias", 0, -1, 5},
            {"self_attn.q_norm.weight", "attn_q_norm.weight", 4, -1, 2},
            {"self_attn.k_norm.weight", "attn_k_norm.weight", 4, -1, 2},
            {"post_attention_layernorm.weight", "ffn_norm.weight", 0, -1, 0},
            {"mlp.gate_proj.weight", "ffn_gate.weight", 3, 0, 0},
            {"mlp.up_proj.weight", "ffn_up.weight", 3, 0, 0},
            {"mlp.down_proj.weight", "ffn_down.weight", 0, 3, 0},
        };
        const int64_t dims[5] = {D, Q, K, c->F, c->hd};
        for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
            char hf[160], gg[96];
            int kind = T[i].kind;
            if (kind == 2 && !c->arch->qk_norm) continue;
            snprintf(hf, sizeof hf, "model.layers.%lld.%s", (long long)l, T[i].hf);
            snprintf(gg, sizeof gg, "blk.%lld.%s", (long long)l, T[i].gg);
            int req = (kind != 1 || c->arch->qkv_bias) && kind != 5;
            int64_t perm = 0;
            if (llama && (kind == 3 || (kind == 1 && strstr(T[i].hf, "q_proj")))) perm = c->H;
            if (llama && (kind == 4 || (kind == 1 && strstr(T[i].hf, "k_proj")))) perm = c->KV;
            if ((st = add_tensor(c, hf, gg, dims[T[i].rows], T[i].cols < 0 ? 0 : dims[T[i].cols], req, perm, e)))
                return st;
        }
    }
    if ((st = add_tensor(c, "model.norm.weight", "output_norm.weight", D, 0, 1, 0, e))) return st;
    const it_st_tensor *head = it_st_find(&c->st, "lm_head.weight");
    if (c->tied) {
        if (head) c->used[head - c->st.tensors] = 1; /* the same matrix as the embeddings */
    } else if ((st = add_tensor(c, "lm_head.weight", "output.weight", c->V, D, 1, 0, e)))
        return st;
    for (int64_t i = 0; i < c->st.n_tensors; i++) {
        const char *n = c->st.tensors[i].name;
        size_t len = strlen(n);
        if (c->used[i] || (len > 19 && !strcmp(n + len - 19, "rotary_emb.inv_freq"))) continue;
        return it_fail(e, INGOT_ERR_UNSUPPORTED, "%s: tensor \"%.128s\" is not part of %s (cannot map it to GGUF)",
                       c->dir, n, c->arch->hf);
    }
    /* general.file_type from the embeddings (convert_hf_to_gguf.py guesses it from the first matrix) */
    const it_st_tensor *emb = it_st_find(&c->st, "model.embed_tokens.weight");
    uint32_t ft = emb->dtype == IT_ST_F16 ? 1 : emb->dtype == IT_ST_BF16 ? 32 : 0;
    return it_gguf_w_u32(c->w, "general.file_type", ft, e);
}

/* Writer fill callback: the permuted / converted tensors. */
static int fill(void *ud, int64_t index, void *dst, size_t nbytes, it_err *e) {
    hf_conv *c = (hf_conv *)ud;
    if (c->counting) return 0;
    if (index < 0 || index >= c->n_jobs) return it_fail(e, INGOT_ERR_INTERNAL, "tensor %lld has no job", (long long)index);
    const hf_job *j = &c->jobs[index];
    if (j->f32) {
        memcpy(dst, j->f32, nbytes);
        return 0;
    }
    const it_st_tensor *t = j->src;
    size_t esz = j->to_f32 ? 4 : it_st_dtype_size(t->dtype);
    int64_t rows = t->shape[0], cols = t->ndim > 1 ? t->shape[1] : 1;
    if ((uint64_t)rows * (uint64_t)cols * esz != nbytes)
        return it_fail(e, INGOT_ERR_INTERNAL, "tensor \"%s\": size mismatch", t->name);
    const uint8_t *src = (const uint8_t *)t->data;
    float *tmp = NULL;
    if (j->to_f32) {
        if (j->perm_heads && !(tmp = malloc(nbytes ? nbytes : 1))) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
        int st = it_st_to_f32(t, tmp ? tmp : (float *)dst, e);
        if (st || !j->perm_heads) {
            free(tmp);
            return st;
        }
        src = (const uint8_t *)tmp;
    }
    /* HF rotate-half rows of each head [h][2][hd/2] -> ggml's interleaved pairs [h][hd/2][2] */
    int64_t hd = rows / j->perm_heads, half = hd / 2;
    size_t rb = (size_t)cols * esz;
    for (int64_t h = 0; h < j->perm_heads; h++)
        for (int64_t i = 0; i < half; i++)
            for (int64_t k = 0; k < 2; k++)
                memcpy((uint8_t *)dst + (size_t)(h * hd + 2 * i + k) * rb, src + (size_t)(h * hd + k * half + i) * rb, rb);
    free(tmp);
    return 0;
}

/* ---------------------------------------------------------------- tokenizer */

/* Pre-tokenizer regexes of tokenizer.json (as tokenizers writes them) and the
 * tokenizer.ggml.pre names llama.cpp gives them (llm/tokenizer/tok_bpe.c runs them). */
#define HF_RX_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define HF_RX_LLAMA3_HEAD "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
#define HF_RX_TAIL " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

typedef struct hf_pre {
    const char *name;
    int ignore_merges; /* model.ignore_merges must be this; -1 any */
    const char *rx[3];
} hf_pre;

static const hf_pre hf_pres[] = {
    {"gpt-2", -1, {HF_RX_GPT2}},
    {"smollm", -1, {"\\p{N}", HF_RX_GPT2}},
    {"llama-bpe", 1, {HF_RX_LLAMA3_HEAD "\\p{N}{1,3}|" HF_RX_TAIL}},
    {"smaug-bpe", 0, {HF_RX_LLAMA3_HEAD "\\p{N}{1,3}|" HF_RX_TAIL}},
    {"qwen2", -1, {HF_RX_LLAMA3_HEAD "\\p{N}|" HF_RX_TAIL}},
};

#define HF_MAX_PRE 8

/* Flatten the pre_tokenizer into the regexes it applies in turn. */
static int pre_regexes(const it_json *p, const char **rx, int *n, const char *path, it_err *e) {
    const char *type = NULL;
    if (!p || p->type != IT_JSON_OBJECT || it_json_get_str(p, "type", &type) != 0)
        return it_fail(e, INGOT_ERR_UNSUPPORTED, "%s: a byte-level BPE needs a pre_tokenizer", path);
    if (*n >= HF_MAX_PRE) return it_fail(e, INGOT_ERR_UNSUPPORTED, "%s: too many pre-tokenizers", path);
    if (!strcmp(type, "Sequence")) {
        const it_json *l = it_json_get(p, "pretokenizers");
        for (const it_json *q = l && l->type == IT_JSON_ARRAY ? l->child : NULL; q; q = q->next) {
            int st = pre_regexes(q, rx, n, path, e);
            if (st) return st;
        }
        return 0;
    }
    if (!strcmp(type, "Split")) {
        const char *re = NULL, *beh = "Isolated";
        int inv = 0;
        it_json_get_str(p, "behavior", &beh);
        it_json_get_bool(p, "invert", &inv);
        if (it_json_get_str(it_json_get(p, "pattern"), "Regex", &re) != 0 || strcmp(beh, "Isolated") || inv)
            return it_fail(e, INGOT_ERR_UNSUPPORTED, "%s: only Split pre-tokenizers with a Regex, Isolated, are supported",
                           path);
        rx[(*n)++] = re;
        return 0;
    }
    if (!strcmp(type, "Digits")) {
        int one = 0;
        it_json_get_bool(p, "individual_digits", &one);
        rx[(*n)++] = one ? "\\p{N}" : "\\p{N}+";
        return 0;
    }
    if (!strcmp(type, "ByteLevel")) {
        int use_rx = 1, prefix = 0;
        it_json_get_bool(p, "use_regex", &use_rx);
        it_json_get_bool(p, "add_prefix_space", &prefix);
        if (prefix)
            return it_fail(e, INGOT_ERR_UNSUPPORTED, "%s: ByteLevel pre-tokenizer with add_prefix_space is not supported",
                           path);
        if (use_rx) rx[(*n)++] = HF_RX_GPT2;
        return 0;
    }
    return it_fail(e, INGOT_ERR_UNSUPPORTED, "%s: pre-tokenizer type \"%.32s\" is not supported", path, type);
}

static int pre_name(hf_conv *c, const it_json *root, const it_json *model, const char **out, it_err *e) {
    const char *rx[HF_MAX_PRE];
    int n = 0, st, ign = 0;
    if ((st = pre_regexes(it_json_get(root, "pre_tokenizer"), rx, &n, c->tok.path, e))) return st;
    it_json_get_bool(model, "ignore_merges", &ign);
    for (size_t i = 0; i < sizeof hf_pres / sizeof hf_pres[0]; i++) {
        const hf_pre *p = &hf_pres[i];
        int k = 0;
        while (k < n && k < 3 && p->rx[k] && !strcmp(p->rx[k], rx[k])) k++;
        if (k == n && (k == 3 || !p->rx[k]) && (p->ignore_merges < 0 || p->ignore_merges == ign)) {
            *out = p->name;
            return 0;
        }
    }
    return it_fail(e, INGOT_ERR_UNSUPPORTED,
                   "%s: the pre-tokenizer (%d regexes, the first \"%.80s\") is not one ingot knows (gpt-2, smollm, "
                   "llama-bpe, smaug-bpe, qwen2)",
                   c->tok.path, n, n ? rx[0] : "");
}

typedef struct hf_vocab {
    int64_t n;
    it_vocab_str *tok; /* [n] */
    int32_t *type;     /* [n] */
    uint8_t *added, *special;
    float *score;      /* [n], SentencePiece-style only */
    int64_t *hash;     /* text -> id + 1 */
    size_t hmask;
} hf_vocab;

static void vocab_free(hf_vocab *v) {
    free(v->tok);
    free(v->type);
    free(v->added);
    free(v->special);
    free(v->score);
    free(v->hash);
}

static uint64_t str_hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static int64_t vocab_find(const hf_vocab *v, const char *s, size_t n) {
    for (size_t i = (size_t)str_hash(s, n) & v->hmask;; i = (i + 1) & v->hmask) {
        int64_t id = v->hash[i] - 1;
        if (id < 0) return -1;
        if (v->tok[id].len == n && !memcmp(v->tok[id].ptr, s, n)) return id;
    }
}

static int vocab_index(hf_vocab *v, it_err *e) {
    size_t cap = 16;
    while (cap < (size_t)v->n * 2) cap <<= 1;
    v->hash = calloc(cap, sizeof *v->hash);
    if (!v->hash) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    v->hmask = cap - 1;
    for (int64_t id = 0; id < v->n; id++) {
        if (vocab_find(v, v->tok[id].ptr, v->tok[id].len) >= 0) continue; /* first id wins */
        size_t i = (size_t)str_hash(v->tok[id].ptr, v->tok[id].len) & v->hmask;
        while (v->hash[i]) i = (i + 1) & v->hmask;
        v->hash[i] = id + 1;
    }
    return 0;
}

/* Ids and texts of model.vocab and added_tokens, padded to config.json's vocab_size. */
static int vocab_read(hf_conv *c, const it_json *root, const it_json *model, hf_vocab *v, it_err *e) {
    const it_json *vocab = it_json_get(model, "vocab");
    if (!vocab || vocab->type != IT_JSON_OBJECT)
        return it_fail(e, INGOT_ERR_FORMAT, "%s: model.vocab is not an object", c->tok.path);
    v->n = c->V;
    size_t n = (size_t)v->n;
    v->tok = calloc(n, sizeof *v->tok);
    v->type = calloc(n, sizeof *v->type);
    v->added = calloc(n, 1);
    v->special = calloc(n, 1);
    if (!v->tok || !v->type || !v->added || !v->special) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    for (const it_json *t = vocab->child; t; t = t->next) {
        if (t->type != IT_JSON_NUMBER || !t->is_int || t->i < 0 || t->i >= v->n)
            return it_fail(e, INGOT_ERR_FORMAT, "%s: token \"%.64s\" has an id outside [0, %lld) (vocab_size of config.json)",
                           c->tok.path, t->key, (long long)v->n);
        if (t->key_len > IT_TOK_MAX_TOKEN_BYTES)
            return it_fail(e, INGOT_ERR_LIMIT, "%s: token %lld is longer than %d bytes", c->tok.path, (long long)t->i,
                           IT_TOK_MAX_TOKEN_BYTES);
        v->tok[t->i] = (it_vocab_str){t->key, t->key_len};
        v->type[t->i] = IT_TOKEN_NORMAL;
    }
    const it_json *added = it_json_get(root, "added_tokens");
    for (const it_json *a = added && added->type == IT_JSON_ARRAY ? added->child : NULL; a; a = a->next) {
        int64_t id;
        const char *content;
        int special = 0;
        if (it_json_get_int(a, "id", 0, INT64_MAX, &id) != 0 || it_json_get_str(a, "content", &content) != 0)
            return it_fail(e, INGOT_ERR_FORMAT, "%s: added token at byte %zu has no id or content", c->tok.path, a->off);
        if (id >= v->n)
            return it_fail(e, INGOT_ERR_FORMAT, "%s: added token \"%.64s\" has id %lld, past vocab_size %lld of config.json",
                           c->tok.path, content, (long long)id, (long long)v->n);
        it_json_get_bool(a, "special", &special);
        v->tok[id] = (it_vocab_str){content, it_json_get(a, "content")->len};
        v->type[id] = IT_TOKEN_NORMAL;
        v->added[id] = 1;
        v->special[id] = (uint8_t)special;
    }
    for (int64_t id = 0; id < v->n; id++) {
        if (v->tok[id].ptr) continue;
        char pad[32];
        int l = snprintf(pad, sizeof pad, "[PAD%lld]", (long long)id);
        v->tok[id] = (it_vocab_str){it_arena_strdup(&c->arena, pad, (size_t)l), (size_t)l};
        v->type[id] = IT_TOKEN_UNUSED;
        if (!v->tok[id].ptr) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    }
    return vocab_index(v, e);
}

/* The content of tokenizer_config.json's <typ>_token (a string or {"content": ...}). */
static const char *special_content(const it_json *tcfg, const char *typ) {
    char key[32];
    snprintf(key, sizeof key, "%s_token", typ);
    const it_json *t = it_json_get(tcfg, key);
    const char *s = NULL;
    if (t && t->type == IT_JSON_STRING) return t->s;
    if (t && t->type == IT_JSON_OBJECT && it_json_get_str(t, "content", &s) == 0) return s;
    return NULL;
}

static int64_t added_id(const it_json *root, const char *content) {
    const it_json *added = it_json_get(root, "added_tokens");
    for (const it_json *a = added && added->type == IT_JSON_ARRAY ? added->child : NULL; a; a = a->next) {
        const char *s;
        int64_t id;
        if (it_json_get_str(a, "content", &s) == 0 && !strcmp(s, content) && it_json_get_int(a, "id", 0, INT64_MAX, &id) == 0)
            return id;
    }
    return -1;
}

enum { SP_BOS, SP_EOS, SP_UNK, SP_SEP, SP_PAD, SP_CLS, SP_MASK, SP_N };
static const char *const sp_typ[SP_N] = {"bos", "eos", "unk", "sep", "pad", "cls", "mask"};
static const char *const sp_key[SP_N] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                         "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.seperator_token_id",
                                         "tokenizer.ggml.padding_token_id", "tokenizer.ggml.cls_token_id",
                                         "tokenizer.ggml.mask_token_id"};

/* gguf.SpecialVocab: special ids (tokenizer_config.json, then config.json) and add_* flags
 * (the post-processor's template, then tokenizer_config.json). add[] is -1 when unset. */
static void special_vocab(hf_conv *c, const it_json *root, int64_t n, int64_t ids[SP_N], int add[3]) {
    const it_json *tcfg = c->tcfg.doc.root;
    const char *content[SP_N];
    for (int k = 0; k < SP_N; k++) {
        content[k] = tcfg ? special_content(tcfg, sp_typ[k]) : NULL;
        ids[k] = -1;
    }
    if (tcfg && !content[SP_BOS]) content[SP_BOS] = content[SP_CLS];
    if (tcfg && !content[SP_EOS]) content[SP_EOS] = content[SP_SEP];
    for (int k = 0; k < SP_N; k++) {
        int64_t id = content[k] ? added_id(root, content[k]) : -1, cid;
        char key[32];
        snprintf(key, sizeof key, "%s_token_id", sp_typ[k]);
        if (id < 0 && it_json_get_int(c->cfg.doc.root, key, 0, INT64_MAX, &cid) == 0) id = cid;
        ids[k] = id < n ? id : -1;
    }
    add[0] = add[1] = add[2] = -1; /* bos, eos, sep */
    const it_json *pp = it_json_get(root, "post_processor");
    const it_json *procs = it_json_get(pp, "processors");
    const it_json *first = procs && procs->type == IT_JSON_ARRAY ? procs->child : pp;
    for (const it_json *p = first; p && p->type == IT_JSON_OBJECT; p = procs ? p->next : NULL) {
        const char *type = NULL;
        it_json_get_str(p, "type", &type);
        if (type && !strcmp(type, "RobertaProcessing")) add[0] = add[1] = add[2] = 1;
        if (!type || strcmp(type, "TemplateProcessing")) continue;
        const it_json *single = it_json_get(p, "single");
        if (!single || single->type != IT_JSON_ARRAY || single->n < 2) continue;
        const char *s0 = NULL, *s1 = NULL;
        it_json_get_str(it_json_get(it_json_at(single, 0), "SpecialToken"), "id", &s0);
        it_json_get_str(it_json_get(it_json_at(single, single->n - 1), "SpecialToken"), "id", &s1);
        if (s0) add[0] = !tcfg || (content[SP_BOS] && !strcmp(s0, content[SP_BOS])) ||
                         (content[SP_CLS] && !strcmp(s0, content[SP_CLS]));
        if (s1) add[1] = !tcfg || (content[SP_EOS] && !strcmp(s1, content[SP_EOS]));
    }
    static const char *const flags[3] = {"add_bos_token", "add_eos_token", "add_sep_token"};
    for (int k = 0; k < 3; k++) {
        int b;
        if (tcfg && it_json_get_bool(tcfg, flags[k], &b) == 0) add[k] = b;
    }
}

static int looks_special(const char *s, size_t n) {
    return (n >= 4 && !memcmp(s, "<|", 2) && !memcmp(s + n - 2, "|>", 2)) ||
           (n >= 7 && !memcmp(s, "<unused", 7) && s[n - 1] == '>') || (n == 5 && !memcmp(s, "<pad>", 5)) ||
           (n == 6 && !memcmp(s, "<mask>", 6)) || (n == 7 && !memcmp(s, "<2mass>", 7)) ||
           (n == 7 && !memcmp(s, "[@BOS@]", 7));
}

static int is_byte_piece(const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEFabcdef";
    return n == 6 && !memcmp(s, "<0x", 3) && s[5] == '>' && memchr(hex, s[3], 22) && memchr(hex, s[4], 22);
}

/* One merge as "left right" (the list-of-pairs form of tokenizers >= 0.20 joined the way
 * SpecialVocab does: spaces inside a part become U+0120). */
static int merge_text(hf_conv *c, const it_json *m, const char **s, size_t *len, size_t *split, it_err *e) {
    if (m->type == IT_JSON_STRING) {
        const char *sp = m->len > 1 ? memchr(m->s + 1, ' ', m->len - 1) : NULL;
        *s = m->s;
        *len = m->len;
        *split = sp ? (size_t)(sp - m->s) : m->len;
        return 0;
    }
    const it_json *a = it_json_at(m, 0), *b = it_json_at(m, 1);
    if (m->type != IT_JSON_ARRAY || m->n != 2 || a->type != IT_JSON_STRING || b->type != IT_JSON_STRING)
        return it_fail(e, INGOT_ERR_FORMAT, "%s: merge at byte %zu is neither \"a b\" nor [a, b]", c->tok.path, m->off);
    size_t sa = 0;
    for (size_t i = 0; i < a->len; i++) sa += a->s[i] == ' ';
    for (size_t i = 0; i < b->len; i++) sa += b->s[i] == ' ';
    char *out = it_arena_alloc(&c->arena, a->len + b->len + 2 * sa + 2), *q = out;
    if (!out) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    for (int part = 0; part < 2; part++) {
        const it_json *p = part ? b : a;
        if (part) *split = (size_t)(q - out), *q++ = ' ';
        for (size_t i = 0; i < p->len; i++) {
            if (p->s[i] == ' ') *q++ = (char)0xC4, *q++ = (char)0xA0;
            else *q++ = p->s[i];
        }
    }
    *s = out;
    *len = (size_t)(q - out);
    return 0;
}

static int write_chat_template(hf_conv *c, it_err *e) {
    const it_json *tcfg = c->tcfg.doc.root, *ct = it_json_get(tcfg, "chat_template");
    int st;
    if (ct && ct->type == IT_JSON_STRING) return it_gguf_w_str(c->w, "tokenizer.chat_template", ct->s, ct->len, e);
    if (ct && ct->type == IT_JSON_ARRAY) { /* [{"name", "template"}]: default plus named ones */
        for (const it_json *t = ct->child; t; t = t->next) {
            const char *name = NULL;
            const it_json *body = it_json_get(t, "template");
            if (it_json_get_str(t, "name", &name) != 0 || !body || body->type != IT_JSON_STRING) continue;
            char key[160];
            if (!strcmp(name, "default")) snprintf(key, sizeof key, "tokenizer.chat_template");
            else snprintf(key, sizeof key, "tokenizer.chat_template.%.100s", name);
            if ((st = it_gguf_w_str(c->w, key, body->s, body->len, e))) return st;
        }
        return 0;
    }
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof path, "%s/chat_template.jinja", c->dir);
    if (stat(path, &sb) != 0) return 0;
    char *text = NULL;
    size_t len = 0;
    if ((st = it_read_file(path, HF_MAX_JSON, &text, &len, e))) return st;
    st = it_gguf_w_str(c->w, "tokenizer.chat_template", text, len, e);
    free(text);
    return st;
}

/* tokenizer.json (+ tokenizer_config.json, config.json) -> tokenizer.ggml.* */
static int write_vocab(hf_conv *c, it_err *e) {
    const it_json *root = c->tok.doc.root, *model = it_json_get(root, "model");
    const char *mtype = NULL;
    if (!model || it_json_get_str(model, "type", &mtype) != 0 || strcmp(mtype, "BPE"))
        return it_fail(e, INGOT_ERR_UNSUPPORTED, "%s: model type \"%.32s\" is not supported (BPE)", c->tok.path,
                       mtype ? mtype : "?");
    hf_vocab v;
    memset(&v, 0, sizeof v);
    const char **tp = NULL;
    size_t *tl = NULL, *mlens = NULL;
    const char **mptr = NULL;
    int st, spm = 0;
    int64_t ids[SP_N];
    int add[3];
    it_json_get_bool(model, "byte_fallback", &spm);
    if ((st = vocab_read(c, root, model, &v, e))) goto done;
    special_vocab(c, root, v.n, ids, add);
    const it_json *ml = it_json_get(model, "merges");
    int64_t nm = ml && ml->type == IT_JSON_ARRAY ? ml->n : 0;
    mptr = calloc((size_t)(nm ? nm : 1), sizeof *mptr);
    mlens = calloc((size_t)(nm ? nm : 1), sizeof *mlens);
    if (!mptr || !mlens) {
        st = it_fail(e, INGOT_ERR_NOMEM, "out of memory");
        goto done;
    }
    const char *pre = "default";
    if (spm) {
        /* SentencePiece-style: score = -(rank of the first merge forming the token) */
        v.score = malloc((size_t)v.n * sizeof *v.score);
        if (!v.score) {
            st = it_fail(e, INGOT_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (int64_t id = 0; id < v.n; id++) v.score[id] = v.type[id] == IT_TOKEN_NORMAL ? -1e9f : 0.0f;
        char *cat = malloc(2 * IT_TOK_MAX_TOKEN_BYTES + 8);
        if (!cat) {
            st = it_fail(e, INGOT_ERR_NOMEM, "out of memory");
            goto done;
        }
        int64_t r = 0;
        for (const it_json *m = ml ? ml->child : NULL; m; m = m->next, r++) {
            const char *s;
            size_t len, split;
            if ((st = merge_text(c, m, &s, &len, &split, e))) break;
            if (split >= len || len - 1 > 2 * IT_TOK_MAX_TOKEN_BYTES) continue;
            memcpy(cat, s, split);
            memcpy(cat + split, s + split + 1, len - split - 1);
            int64_t id = vocab_find(&v, cat, len - 1);
            if (id >= 0 && v.type[id] == IT_TOKEN_NORMAL && v.score[id] < -(float)r) v.score[id] = -(float)r;
        }
        free(cat);
        if (st) goto done;
        nm = 0; /* llama.cpp's "llama" vocab carries no merges */
    } else {
        if ((st = pre_name(c, root, model, &pre, e))) goto done;
        int64_t r = 0;
        for (const it_json *m = ml ? ml->child : NULL; m; m = m->next, r++) {
            size_t split;
            if ((st = merge_text(c, m, &mptr[r], &mlens[r], &split, e))) goto done;
        }
    }
    for (int64_t id = 0; id < v.n; id++) {
        const it_vocab_str *t = &v.tok[id];
        int special = v.special[id];
        for (int k = 0; k < SP_N && spm; k++) special |= ids[k] == id;
        if (v.type[id] == IT_TOKEN_UNUSED) continue;
        if (spm && is_byte_piece(t->ptr, t->len)) v.type[id] = IT_TOKEN_BYTE;
        else if (spm && id == ids[SP_UNK]) v.type[id] = IT_TOKEN_UNKNOWN;
        else if (special && (spm || v.added[id])) v.type[id] = IT_TOKEN_CONTROL;
        else if (v.added[id] && !spm && looks_special(t->ptr, t->len)) v.type[id] = IT_TOKEN_CONTROL;
        else if (v.added[id]) {
            v.type[id] = IT_TOKEN_USER_DEFINED;
            /* get_vocab_base pre-normalizes user-defined U+2581 to spaces */
            if (!spm && t->len >= 3 && memmem(t->ptr, t->len, "\xe2\x96\x81", 3)) {
                char *o = it_arena_alloc(&c->arena, t->len + 1), *q = o;
                if (!o) {
                    st = it_fail(e, INGOT_ERR_NOMEM, "out of memory");
                    goto done;
                }
                for (size_t i = 0; i < t->len; i++) {
                    if (i + 2 < t->len && !memcmp(t->ptr + i, "\xe2\x96\x81", 3)) *q++ = ' ', i += 2;
                    else *q++ = t->ptr[i];
                }
                v.tok[id] = (it_vocab_str){o, (size_t)(q - o)};
            }
        }
    }
    /* the token strings for the writer */
    tp = calloc((size_t)v.n, sizeof *tp);
    tl = calloc((size_t)v.n, sizeof *tl);
    if (!tp || !tl) {
        st = it_fail(e, INGOT_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int64_t id = 0; id < v.n; id++) tp[id] = v.tok[id].ptr, tl[id] = v.tok[id].len;
    if ((st = kv_str(c, "tokenizer.ggml.model", spm ? "llama" : "gpt2", e)) ||
        (st = kv_str(c, "tokenizer.ggml.pre", pre, e)) ||
        (st = it_gguf_w_arr_str(c->w, "tokenizer.ggml.tokens", tp, tl, (uint64_t)v.n, e)) ||
        (spm && (st = it_gguf_w_arr(c->w, "tokenizer.ggml.scores", IT_GGUF_F32, v.score, (uint64_t)v.n, e))) ||
        (st = it_gguf_w_arr(c->w, "tokenizer.ggml.token_type", IT_GGUF_I32, v.type, (uint64_t)v.n, e)) ||
        (nm && (st = it_gguf_w_arr_str(c->w, "tokenizer.ggml.merges", mptr, mlens, (uint64_t)nm, e))))
        goto done;
    for (int k = 0; k < SP_N; k++)
        if (ids[k] >= 0 && (st = it_gguf_w_u32(c->w, sp_key[k], (uint32_t)ids[k], e))) goto done;
    static const char *const add_keys[3] = {"tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token",
                                            "tokenizer.ggml.add_sep_token"};
    for (int k = 0; k < 3; k++)
        if (add[k] >= 0 && (st = it_gguf_w_bool(c->w, add_keys[k], add[k], e))) goto done;
    if (spm) { /* a leading U+2581: Prepend normalizer or a Metaspace that prepends */
        int prefix = 0;
        const it_json *norm = it_json_get(root, "normalizer"), *nl = it_json_get(norm, "normalizers");
        for (const it_json *q = nl && nl->type == IT_JSON_ARRAY ? nl->child : norm; q; q = nl ? q->next : NULL) {
            const char *t = NULL;
            if (it_json_get_str(q, "type", &t) == 0 && !strcmp(t, "Prepend")) prefix = 1;
        }
        const it_json *pt = it_json_get(root, "pre_tokenizer"), *pl = it_json_get(pt, "pretokenizers");
        for (const it_json *q = pl && pl->type == IT_JSON_ARRAY ? pl->child : pt; q; q = pl ? q->next : NULL) {
            const char *t = NULL, *scheme = NULL;
            int ap = 0;
            if (it_json_get_str(q, "type", &t) != 0 || strcmp(t, "Metaspace")) continue;
            if (it_json_get_str(q, "prepend_scheme", &scheme) == 0) prefix |= strcmp(scheme, "never") != 0;
            else if (it_json_get_bool(q, "add_prefix_space", &ap) == 0) prefix |= ap;
        }
        if ((st = it_gguf_w_bool(c->w, "tokenizer.ggml.add_space_prefix", prefix, e))) goto done;
    }
    st = write_chat_template(c, e);
done:
    free(tp);
    free(tl);
    free(mptr);
    free(mlens);
    vocab_free(&v);
    return st;
}

/* ---------------------------------------------------------------- driver */

static int build(hf_conv *c, const char *dir, it_err *e) {
    memset(c, 0, sizeof *c);
    c->dir = dir;
    it_arena_init(&c->arena, 1 << 16);
    struct stat sb;
    if (!dir || stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return it_fail(e, INGOT_ERR_NOT_FOUND, "%s: not a directory", dir ? dir : "(null)");
    int st;
    if ((st = load_file(c, &c->cfg, "config.json", 1, e)) || (st = load_file(c, &c->tok, "tokenizer.json", 1, e)) ||
        (st = load_file(c, &c->tcfg, "tokenizer_config.json", 0, e)) ||
        (st = load_file(c, &c->gen, "generation_config.json", 0, e)))
        return st;
    if (!(c->w = it_gguf_writer_create())) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    if ((st = read_config(c, e)) || (st = it_st_open_dir(dir, &c->st, e)) || (st = add_tensors(c, e)) ||
        (st = write_vocab(c, e)) || (st = sampling_keys(c, e)))
        return st;
    return 0;
}

int it_hf_is_dir(const char *path) {
    struct stat sb;
    return path && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

int it_hf_convert_file(const char *dir, const char *out, it_err *e) {
    hf_conv c;
    int st = build(&c, dir, e);
    if (!st) st = it_gguf_w_write_file(c.w, out, fill, &c, e);
    conv_free(&c);
    return st;
}

/* A write-only stream into buf[cap] (buf NULL: only counts). */
typedef struct hf_sink {
    uint8_t *buf;
    size_t cap, pos;
} hf_sink;

static ssize_t sink_write(void *cookie, const char *p, size_t n) {
    hf_sink *s = (hf_sink *)cookie;
    if (s->buf) {
        if (n > s->cap - s->pos) {
            errno = ENOSPC;
            return -1;
        }
        memcpy(s->buf + s->pos, p, n);
    }
    s->pos += n;
    return (ssize_t)n;
}

static int write_sink(hf_conv *c, hf_sink *s, it_err *e) {
    cookie_io_functions_t io = {NULL, sink_write, NULL, NULL};
    FILE *f = fopencookie(s, "w", io);
    if (!f) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    int st = it_gguf_w_write_stream(c->w, f, fill, c, e);
    if (fclose(f) && !st) st = it_fail(e, INGOT_ERR_IO, "%s: writing the GGUF in memory failed", c->dir);
    return st;
}

int it_hf_convert_mem(const char *dir, void **buf, size_t *len, it_err *e) {
    hf_conv c;
    hf_sink s = {NULL, 0, 0};
    void *p = MAP_FAILED;
    *buf = NULL;
    *len = 0;
    int st = build(&c, dir, e);
    if (!st) {
        c.counting = 1;
        st = write_sink(&c, &s, e);
        c.counting = 0;
    }
    if (!st) {
        p = mmap(NULL, s.pos, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            st = it_fail(e, INGOT_ERR_NOMEM, "%s: cannot allocate %zu bytes for the converted model", dir, s.pos);
    }
    if (!st) {
        hf_sink w = {(uint8_t *)p, s.pos, 0};
        st = write_sink(&c, &w, e);
        if (!st && w.pos != s.pos) st = it_fail(e, INGOT_ERR_INTERNAL, "%s: GGUF size changed between passes", dir);
    }
    if (!st) {
        mprotect(p, s.pos, PROT_READ);
        *buf = p;
        *len = s.pos;
    } else if (p != MAP_FAILED)
        munmap(p, s.pos);
    conv_free(&c);
    return st;
}
