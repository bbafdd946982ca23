/*
 * inspect.c: include/ingot_inspect.h: model facts read from headers only and
 * machine facts, for `ingot advise` and other tools.
 *
 * GGUF files are parsed by the GGUF reader over a read-only mapping (tensor
 * data is never touched); safetensors files through their JSON header (and a
 * folder's config.json for the hyperparameters); ONNX through the public
 * inspect API; TFLite only by its identifier. The quantization estimates
 * replay, tensor by tensor, the type rules of `ingot quantize`
 * (pick_type in convert.c, itself llama-quantize's rules without an
 * importance matrix) with ggml's block sizes, so that they match the files
 * ingot writes. The bandwidth probe streams a buffer on a thread pool and
 * keeps the best pass: decode speed of a memory-bound LLM cannot beat it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "base/base.h"
#include "formats/gguf.h"
#include "ingot_inspect.h"
#include "jscan.h"
#include "tensor/quant.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

static const char *const QUANT_TYPES[INGOT_INSPECT_N_QUANT] = {"F32",  "F16",  "BF16", "Q8_0", "Q6_K",
                                                               "Q5_K", "Q5_1", "Q5_0", "Q4_K", "Q4_1",
                                                               "Q4_0", "Q3_K", "Q2_K"};

/* strlcpy: copy with truncation, always terminated */
static void scopy(char *d, size_t n, const char *s) {
    size_t l = strlen(s);
    if (l >= n) l = n - 1;
    memcpy(d, s, l);
    d[l] = 0;
}

static ingot_status finish(int st, const it_err *e, char *err, size_t errlen) {
    if (err && errlen) {
        if (st) snprintf(err, errlen, "%s", e->msg);
        else err[0] = 0;
    }
    return (ingot_status)st;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* ---- one tensor, format-neutral, for the estimates ---- */
typedef struct tinfo {
    char name[96];
    int gtype;          /* ggml type, -1 when not a ggml type (safetensors int types) */
    int nd;             /* dims after dropping trailing 1s (ggml_n_dims) */
    int64_t ne0;        /* row length */
    int64_t n;          /* elements */
    int64_t bytes;      /* as stored */
    int is_output;      /* output projection (or tied token embedding) */
    int is_embd;
} tinfo;

static void add_type(ingot_model_facts *f, const char *type, int64_t n, int64_t bytes) {
    for (int i = 0; i < f->n_types; i++)
        if (!strcmp(f->types[i].type, type)) {
            f->types[i].n_tensors++;
            f->types[i].n_elements += n;
            f->types[i].bytes += bytes;
            return;
        }
    if (f->n_types == INGOT_INSPECT_MAX_TYPES) return;
    ingot_type_bytes *t = &f->types[f->n_types++];
    scopy(t->type, sizeof t->type, type);
    t->n_tensors = 1;
    t->n_elements = n;
    t->bytes = bytes;
}

/* The type ingot quantize gives a tensor for base type `base` (convert.c's pick_type). */
static int pick_type(const tinfo *t, int base) {
    int quantize = ends_with(t->name, "weight") && t->nd >= 2 && !strstr(t->name, "ffn_gate_inp.weight") &&
                   !strstr(t->name, "pos_embd") && !strstr(t->name, "token_types") && !strstr(t->name, "ssm_");
    if (!quantize) return t->gtype;
    int ty = base;
    int is_block = it_ggml_block_size((uint32_t)base) > 1;
    if (is_block && t->is_output && base != IT_GGML_Q8_0) ty = t->ne0 % IT_QK_K ? IT_GGML_Q8_0 : IT_GGML_Q6_K;
    if (t->ne0 % it_ggml_block_size((uint32_t)ty)) {
        switch (ty) {
        case IT_GGML_Q2_K: case IT_GGML_Q3_K: ty = IT_GGML_Q4_0; break;
        case IT_GGML_Q4_K: ty = IT_GGML_Q5_0; break;
        case IT_GGML_Q5_K: ty = IT_GGML_Q5_1; break;
        case IT_GGML_Q6_K: ty = IT_GGML_Q8_0; break;
        default: break;
        }
        if (t->ne0 % it_ggml_block_size((uint32_t)ty)) ty = IT_GGML_F16;
    }
    return ty;
}

static int64_t bytes_as(const tinfo *t, int ty) {
    if (ty == t->gtype || ty < 0) return t->bytes;
    int64_t row = it_ggml_row_bytes((uint32_t)ty, t->ne0);
    if (row < 0 || t->ne0 <= 0) return t->bytes;
    return row * (t->n / t->ne0);
}

/* Fill f->quant from the tensor list; meta: bytes before the data section;
 * align: data alignment (GGUF: general.alignment; other formats: 32). */
static void estimate(ingot_model_facts *f, const tinfo *ts, int64_t nt, int64_t meta, int64_t align) {
    f->n_quant = INGOT_INSPECT_N_QUANT;
    for (int q = 0; q < INGOT_INSPECT_N_QUANT; q++) {
        ingot_quant_estimate *e = &f->quant[q];
        memset(e, 0, sizeof *e);
        scopy(e->type, sizeof e->type, QUANT_TYPES[q]);
        int base = it_ggml_type_from_name(QUANT_TYPES[q]);
        int64_t w = 0, file = meta, read = 0;
        for (int64_t i = 0; i < nt; i++) {
            int ty = pick_type(&ts[i], base);
            int64_t b = bytes_as(&ts[i], ty);
            w += b;
            file += (int64_t)it_align_up((size_t)b, (size_t)align);
            if (ts[i].is_embd && !ts[i].is_output) read += ts[i].n > 0 && f->n_vocab > 0 ? b / f->n_vocab : 0;
            else read += b;
        }
        e->weight_bytes = w;
        e->file_bytes = file;
        e->read_bytes_per_token = read;
        e->bits_per_weight = f->n_params > 0 ? 8.0 * (double)w / (double)f->n_params : 0;
        e->available = f->is_float || !strcasecmp(f->file_type, QUANT_TYPES[q]);
    }
}

/* Facts that follow from the tensor list once it is known. */
static void summarize(ingot_model_facts *f, const tinfo *ts, int64_t nt, int64_t meta, int64_t align) {
    int64_t best = -1;
    f->is_float = 1;
    for (int64_t i = 0; i < nt; i++) {
        const tinfo *t = &ts[i];
        f->n_params += t->n;
        f->weight_bytes += t->bytes;
        const char *tn = t->gtype >= 0 ? it_ggml_type_name((uint32_t)t->gtype) : "other";
        add_type(f, tn ? tn : "?", t->n, t->bytes);
        if (t->gtype != IT_GGML_F32 && t->gtype != IT_GGML_F16 && t->gtype != IT_GGML_BF16) f->is_float = 0;
        if (t->is_embd) f->embd_bytes = t->bytes;
    }
    for (int i = 0; i < f->n_types; i++)
        if (f->types[i].bytes > best) {
            best = f->types[i].bytes;
            scopy(f->file_type, sizeof f->file_type, f->types[i].type);
        }
    /* the dominant type of the 2-D weights names the file better than the 1-D norms */
    int64_t best2 = -1;
    {
        int64_t by[IT_GGML_TYPE_COUNT] = {0};
        for (int64_t i = 0; i < nt; i++)
            if (ts[i].nd >= 2 && ts[i].gtype >= 0 && ts[i].gtype < IT_GGML_TYPE_COUNT && !ts[i].is_output &&
                !ts[i].is_embd)
                by[ts[i].gtype] += ts[i].bytes;
        for (int t = 0; t < IT_GGML_TYPE_COUNT; t++)
            if (by[t] > best2 && by[t] > 0 && it_ggml_type_name((uint32_t)t)) {
                best2 = by[t];
                scopy(f->file_type, sizeof f->file_type, it_ggml_type_name((uint32_t)t));
            }
    }
    f->read_bytes_per_token = 0;
    for (int64_t i = 0; i < nt; i++) {
        if (ts[i].is_embd && !ts[i].is_output) f->read_bytes_per_token += f->n_vocab > 0 ? ts[i].bytes / f->n_vocab : 0;
        else f->read_bytes_per_token += ts[i].bytes;
    }
    if (f->n_layer > 0 && f->n_head_kv > 0 && f->head_dim > 0)
        f->kv_bytes_per_1k = 2 * f->n_layer * f->n_head_kv * f->head_dim * 2 * 1024;
    estimate(f, ts, nt, meta, align);
}

static void guess_llm_task(ingot_model_facts *f) {
    static const char *const embed[] = {"bert", "nomic-bert", "jina-bert-v2", "t5encoder", "xlm-roberta", NULL};
    snprintf(f->task, sizeof f->task, "llm");
    for (int i = 0; embed[i]; i++)
        if (!strcmp(f->arch, embed[i])) snprintf(f->task, sizeof f->task, "embedding");
    if (strstr(f->arch, "whisper") || strstr(f->arch, "wav")) snprintf(f->task, sizeof f->task, "audio");
    if (strstr(f->arch, "clip") || strstr(f->arch, "vit")) snprintf(f->task, sizeof f->task, "vision");
}

/* ---- GGUF ---- */

static int64_t gguf_int(const it_gguf *g, const char *arch, const char *suffix) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t v = 0;
    it_err e;
    if (it_gguf_get_int(g, key, &v, &e)) {
        /* per-layer arrays (e.g. head_count_kv of some hybrids): take the first element */
        it_gguf_val arr, el;
        if (it_gguf_get_arr(g, key, -1, &arr, &e) == 0 && arr.n > 0 && it_gguf_val_elem(&arr, 0, &el) == 0 &&
            it_gguf_val_int(&el, &v) == 0)
            return v > 0 ? v : 0;
        return 0;
    }
    return v > 0 ? v : 0;
}

static int inspect_gguf(const char *path, ingot_model_facts *f, it_err *e) {
    it_gguf g;
    int st = it_gguf_open(path, &g, e);
    if (st) return st;
    tinfo *ts = NULL;
    snprintf(f->format, sizeof f->format, "gguf");
    const char *s;
    uint64_t len;
    if (it_gguf_get_str(&g, "general.architecture", &s, &len, e) == 0)
        snprintf(f->arch, sizeof f->arch, "%.*s", (int)(len < 47 ? len : 47), s);
    if (it_gguf_get_str(&g, "general.name", &s, &len, e) == 0)
        snprintf(f->name, sizeof f->name, "%.*s", (int)(len < 95 ? len : 95), s);
    if (f->arch[0]) {
        f->n_layer = gguf_int(&g, f->arch, "block_count");
        f->n_head = gguf_int(&g, f->arch, "attention.head_count");
        f->n_head_kv = gguf_int(&g, f->arch, "attention.head_count_kv");
        f->n_embd = gguf_int(&g, f->arch, "embedding_length");
        f->n_ff = gguf_int(&g, f->arch, "feed_forward_length");
        f->n_ctx_train = gguf_int(&g, f->arch, "context_length");
        f->n_vocab = gguf_int(&g, f->arch, "vocab_size");
        f->head_dim = gguf_int(&g, f->arch, "attention.key_length");
        if (!f->n_head_kv) f->n_head_kv = f->n_head;
        if (!f->head_dim && f->n_head) f->head_dim = f->n_embd / f->n_head;
    }
    it_gguf_val toks;
    if (!f->n_vocab && it_gguf_get_arr(&g, "tokenizer.ggml.tokens", -1, &toks, e) == 0)
        f->n_vocab = (int64_t)toks.n;
    e->msg[0] = 0;
    f->n_tensors = g.n_tensors;
    ts = calloc((size_t)(g.n_tensors ? g.n_tensors : 1), sizeof *ts);
    if (!ts) { st = it_fail(e, INGOT_ERR_NOMEM, "out of memory"); goto done; }
    int has_output = it_gguf_find_tensor(&g, "output.weight") >= 0;
    f->tied_embeddings = !has_output;
    for (int64_t i = 0; i < g.n_tensors; i++) {
        const it_gguf_tensor *t = &g.tensors[i];
        tinfo *o = &ts[i];
        scopy(o->name, sizeof o->name, t->name);
        o->gtype = (int)t->type;
        int nd = t->ndim;
        while (nd > 1 && t->ne[nd - 1] == 1) nd--;
        o->nd = nd;
        o->ne0 = t->ne[0];
        o->n = 1;
        for (int d = 0; d < t->ndim; d++) o->n *= t->ne[d]; /* bounded by the reader's limits */
        o->bytes = (int64_t)t->nbytes;
        o->is_embd = !strcmp(t->name, "token_embd.weight");
        o->is_output = !strcmp(t->name, "output.weight") || (o->is_embd && !has_output);
    }
    f->meta_bytes = (int64_t)g.data_offset;
    summarize(f, ts, g.n_tensors, (int64_t)g.data_offset, g.alignment ? g.alignment : 32);
    if (f->n_layer && f->n_head) guess_llm_task(f);
    else snprintf(f->task, sizeof f->task, "other");
done:
    free(ts);
    it_gguf_free(&g);
    return st;
}

/* ---- safetensors ---- */

static int st_dtype(const char *d, int *gtype, int *esize) {
    static const struct { const char *name; int gtype, size; } T[] = {
        {"F32", IT_GGML_F32, 4}, {"F16", IT_GGML_F16, 2}, {"BF16", IT_GGML_BF16, 2}, {"F64", IT_GGML_F64, 8},
        {"I8", IT_GGML_I8, 1},   {"U8", -1, 1},           {"I16", IT_GGML_I16, 2},   {"I32", IT_GGML_I32, 4},
        {"I64", IT_GGML_I64, 8}, {"BOOL", -1, 1},         {"F8_E4M3", -1, 1},        {"F8_E5M2", -1, 1},
        {"U16", -1, 2},          {"U32", -1, 4},          {"U64", -1, 8}};
    for (size_t i = 0; i < sizeof T / sizeof *T; i++)
        if (!strcmp(d, T[i].name)) { *gtype = T[i].gtype; *esize = T[i].size; return 0; }
    return -1;
}

typedef struct tlist {
    tinfo *v;
    int64_t n, cap;
} tlist;

static tinfo *tlist_push(tlist *l) {
    if (l->n == l->cap) {
        int64_t cap = l->cap ? l->cap * 2 : 64;
        if (cap > 1000000) return NULL;
        tinfo *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return NULL;
        l->v = v;
        l->cap = cap;
    }
    memset(&l->v[l->n], 0, sizeof *l->v);
    return &l->v[l->n++];
}

/* Parse one safetensors file's header into l; *hdr: bytes before the data. */
static int read_safetensors(const char *path, tlist *l, int64_t *hdr, int64_t *fsize, it_err *e) {
    int st = 0;
    char *json = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return it_fail(e, INGOT_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(fp), &sb) || sb.st_size < 8) { st = it_fail(e, INGOT_ERR_FORMAT, "%s: too short for safetensors", path); goto done; }
    unsigned char h8[8];
    if (fread(h8, 1, 8, fp) != 8) { st = it_fail(e, INGOT_ERR_IO, "%s: read failed", path); goto done; }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | h8[i];
    if (n == 0 || n > 100000000 || n > (uint64_t)sb.st_size - 8) {
        st = it_fail(e, INGOT_ERR_FORMAT, "%s: safetensors header length %llu does not fit the file (%lld bytes)", path,
                     (unsigned long long)n, (long long)sb.st_size);
        goto done;
    }
    json = malloc((size_t)n);
    if (!json) { st = it_fail(e, INGOT_ERR_NOMEM, "out of memory"); goto done; }
    if (fread(json, 1, (size_t)n, fp) != n) { st = it_fail(e, INGOT_ERR_IO, "%s: read failed", path); goto done; }
    *hdr += 8 + (int64_t)n;
    *fsize += (int64_t)sb.st_size;
    int64_t data_len = (int64_t)sb.st_size - 8 - (int64_t)n;
    it_js j;
    it_js_init(&j, json, (size_t)n);
    char key[256];
    int r;
    if (it_js_obj_begin(&j)) { st = it_fail(e, INGOT_ERR_FORMAT, "%s: header is not a JSON object", path); goto done; }
    while ((r = it_js_obj_next(&j, key, sizeof key)) == 1) {
        if (!strcmp(key, "__metadata__")) {
            if (it_js_skip(&j)) break;
            continue;
        }
        tinfo *t = tlist_push(l);
        if (!t) { st = it_fail(e, INGOT_ERR_LIMIT, "%s: too many tensors", path); goto done; }
        scopy(t->name, sizeof t->name, key);
        int64_t dims[IT_MAX_DIMS], nd = 0, off[2] = {-1, -1};
        char dtype[16] = "";
        char k2[32];
        int r2;
        if (it_js_obj_begin(&j)) { r = -1; break; }
        while ((r2 = it_js_obj_next(&j, k2, sizeof k2)) == 1) {
            if (!strcmp(k2, "dtype")) {
                if (it_js_string(&j, dtype, sizeof dtype)) { r2 = -1; break; }
            } else if (!strcmp(k2, "shape") || !strcmp(k2, "data_offsets")) {
                int is_shape = k2[0] == 's';
                int64_t cnt = 0;
                if (it_js_arr_begin(&j)) { r2 = -1; break; }
                int r3;
                while ((r3 = it_js_arr_next(&j)) == 1) {
                    double d;
                    if (it_js_number(&j, &d) || d < 0 || d > 1e15) { r3 = -1; break; }
                    if (is_shape && cnt < IT_MAX_DIMS) dims[cnt] = (int64_t)d;
                    if (!is_shape && cnt < 2) off[cnt] = (int64_t)d;
                    cnt++;
                }
                if (r3 < 0 || (is_shape && cnt > IT_MAX_DIMS)) { r2 = -1; break; }
                if (is_shape) nd = cnt;
            } else if (it_js_skip(&j)) { r2 = -1; break; }
        }
        if (r2 < 0) { r = -1; break; }
        int esize;
        if (st_dtype(dtype, &t->gtype, &esize)) {
            st = it_fail(e, INGOT_ERR_UNSUPPORTED, "%s: tensor '%s' has unknown dtype '%s'", path, t->name, dtype);
            goto done;
        }
        int64_t cnt = 1;
        for (int64_t d = 0; d < nd; d++)
            if (!it_mul_ok(cnt, dims[d], &cnt) || cnt > IT_LIMIT_ELEMENTS) {
                st = it_fail(e, INGOT_ERR_LIMIT, "%s: tensor '%s' is too large", path, t->name);
                goto done;
            }
        if (off[0] < 0 || off[1] < off[0] || off[1] > data_len || off[1] - off[0] != cnt * esize) {
            st = it_fail(e, INGOT_ERR_FORMAT, "%s: tensor '%s' data_offsets do not match its shape and dtype", path,
                         t->name);
            goto done;
        }
        t->n = cnt;
        t->bytes = cnt * esize;
        t->nd = (int)(nd ? nd : 1);
        t->ne0 = nd ? dims[nd - 1] : 1;
        /* ggml_n_dims: trailing ggml dims of 1 are leading safetensors dims of 1 */
        for (int64_t d = 0; d < nd - 1 && dims[d] == 1 && t->nd > 1; d++) t->nd--;
    }
    if (r < 0) st = it_fail(e, INGOT_ERR_FORMAT, "%s: malformed safetensors JSON header", path);
done:
    free(json);
    fclose(fp);
    return st;
}

static void config_json(const char *dir, ingot_model_facts *f) {
    char path[1100];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *fp = fopen(path, "rb");
    if (!fp) return;
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, 1 << 20, fp) : 0;
    fclose(fp);
    if (!buf) return;
    it_js j;
    it_js_init(&j, buf, n);
    char key[64];
    int tie = -1;
    if (it_js_obj_begin(&j) == 0) {
        while (it_js_obj_next(&j, key, sizeof key) == 1) {
            double d = 0;
            int64_t *dst = NULL;
            if (!strcmp(key, "num_hidden_layers") || !strcmp(key, "n_layer")) dst = &f->n_layer;
            else if (!strcmp(key, "num_attention_heads") || !strcmp(key, "n_head")) dst = &f->n_head;
            else if (!strcmp(key, "num_key_value_heads")) dst = &f->n_head_kv;
            else if (!strcmp(key, "hidden_size") || !strcmp(key, "n_embd")) dst = &f->n_embd;
            else if (!strcmp(key, "intermediate_size")) dst = &f->n_ff;
            else if (!strcmp(key, "max_position_embeddings")) dst = &f->n_ctx_train;
            else if (!strcmp(key, "vocab_size")) dst = &f->n_vocab;
            else if (!strcmp(key, "head_dim")) dst = &f->head_dim;
            if (dst) {
                if (it_js_peek(&j) == 'n' ? it_js_skip(&j) : it_js_number(&j, &d)) break;
                if (d > 0 && d < 1e12) *dst = (int64_t)d;
            } else if (!strcmp(key, "model_type")) {
                if (it_js_string(&j, f->arch, sizeof f->arch)) break;
            } else if (!strcmp(key, "tie_word_embeddings")) {
                if (it_js_number(&j, &d)) break;
                tie = d != 0;
            } else if (it_js_skip(&j)) break;
        }
    }
    free(buf);
    if (!f->n_head_kv) f->n_head_kv = f->n_head;
    if (!f->head_dim && f->n_head) f->head_dim = f->n_embd / f->n_head;
    if (tie >= 0) f->tied_embeddings = tie;
}

static int name_is_embd(const char *n) { return ends_with(n, "embed_tokens.weight") || ends_with(n, "wte.weight"); }

static int inspect_safetensors(const char *path, int is_dir, ingot_model_facts *f, it_err *e) {
    tlist l = {0};
    int64_t hdr = 0, fsize = 0;
    int st = 0, nfiles = 0;
    snprintf(f->format, sizeof f->format, "safetensors");
    if (is_dir) {
        DIR *d = opendir(path);
        if (!d) return it_fail(e, INGOT_ERR_IO, "%s: %s", path, strerror(errno));
        struct dirent *de;
        while ((de = readdir(d)) && !st) {
            if (!ends_with(de->d_name, ".safetensors")) continue;
            char p[1100];
            snprintf(p, sizeof p, "%s/%s", path, de->d_name);
            st = read_safetensors(p, &l, &hdr, &fsize, e);
            nfiles++;
        }
        closedir(d);
        if (!st && !nfiles) st = it_fail(e, INGOT_ERR_NOT_FOUND, "%s: no *.safetensors file in the folder", path);
        if (!st) config_json(path, f);
    } else {
        st = read_safetensors(path, &l, &hdr, &fsize, e);
        if (!st) {
            char dir[1024];
            scopy(dir, sizeof dir, path);
            char *slash = strrchr(dir, '/');
            if (slash) *slash = 0;
            else snprintf(dir, sizeof dir, ".");
            config_json(dir, f);
        }
    }
    if (st) goto done;
    int has_head = 0;
    for (int64_t i = 0; i < l.n; i++)
        if (ends_with(l.v[i].name, "lm_head.weight")) has_head = 1;
    if (!has_head) f->tied_embeddings = 1;
    for (int64_t i = 0; i < l.n; i++) {
        l.v[i].is_embd = name_is_embd(l.v[i].name);
        l.v[i].is_output = ends_with(l.v[i].name, "lm_head.weight") || (l.v[i].is_embd && !has_head);
    }
    f->n_tensors = l.n;
    f->file_bytes = fsize;
    f->meta_bytes = hdr;
    summarize(f, l.v, l.n, hdr, 32);
    if (f->n_layer && f->n_head) guess_llm_task(f);
    else snprintf(f->task, sizeof f->task, "other");
done:
    free(l.v);
    return st;
}

/* ---- ONNX (through the public API) ---- */

static int contains_ci(const char *s, const char *w) { return s && strcasestr(s, w) != NULL; }

static int inspect_onnx(const char *path, ingot_model_facts *f, it_err *e) {
    ingot_model *m = NULL;
    char msg[400];
    int st = ingot_model_inspect(path, &m, msg, sizeof msg);
    if (st) return it_fail(e, st, "%s", msg);
    ingot_model_summary s;
    ingot_model_summarize(m, &s);
    snprintf(f->format, sizeof f->format, "onnx");
    snprintf(f->arch, sizeof f->arch, "onnx");
    snprintf(f->file_type, sizeof f->file_type, "onnx");
    f->weight_bytes = s.param_bytes;
    f->n_tensors = s.n_initializers;
    f->n_nodes = s.n_nodes;
    f->n_inputs = ingot_model_num_inputs(m);
    snprintf(f->task, sizeof f->task, "other");
    for (int i = 0; i < f->n_inputs; i++) {
        ingot_value_info vi;
        if (ingot_model_input(m, i, &vi)) continue;
        int fl = vi.dtype == INGOT_DTYPE_F32 || vi.dtype == INGOT_DTYPE_F16 || vi.dtype == INGOT_DTYPE_U8 ||
                 vi.dtype == INGOT_DTYPE_I8;
        if (contains_ci(vi.name, "input_ids") || contains_ci(vi.name, "token")) {
            snprintf(f->task, sizeof f->task, "embedding");
            for (int k = 0; k < ingot_model_num_outputs(m); k++) {
                ingot_value_info vo;
                if (!ingot_model_output(m, k, &vo) && (contains_ci(vo.name, "logits")))
                    snprintf(f->task, sizeof f->task, "llm");
            }
            break;
        }
        if (fl && vi.ndim == 4) { snprintf(f->task, sizeof f->task, "vision"); break; }
        if (fl && (contains_ci(vi.name, "audio") || contains_ci(vi.name, "wav") || contains_ci(vi.name, "pcm") ||
                   contains_ci(vi.name, "mel") || contains_ci(vi.name, "spectro"))) {
            snprintf(f->task, sizeof f->task, "audio");
            break;
        }
    }
    ingot_model_free(m);
    f->meta_bytes = f->file_bytes > f->weight_bytes ? f->file_bytes - f->weight_bytes : 0;
    return 0;
}

ingot_status ingot_inspect_file(const char *path, ingot_model_facts *f, char *err, size_t errlen) {
    it_err e = {{0}};
    int st;
    if (!f) return finish(it_fail(&e, INGOT_ERR_INVALID_ARG, "no output struct"), &e, err, errlen);
    memset(f, 0, sizeof *f);
    if (!path || !*path) return finish(it_fail(&e, INGOT_ERR_INVALID_ARG, "no model path"), &e, err, errlen);
    scopy(f->path, sizeof f->path, path);
    const char *base = strrchr(path, '/');
    scopy(f->name, sizeof f->name, base ? base + 1 : path);
    struct stat sb;
    if (stat(path, &sb)) return finish(it_fail(&e, INGOT_ERR_IO, "%s: %s", path, strerror(errno)), &e, err, errlen);
    if (S_ISDIR(sb.st_mode)) return finish(inspect_safetensors(path, 1, f, &e), &e, err, errlen);
    f->file_bytes = (int64_t)sb.st_size;
    unsigned char magic[8] = {0};
    FILE *fp = fopen(path, "rb");
    if (!fp) return finish(it_fail(&e, INGOT_ERR_IO, "%s: %s", path, strerror(errno)), &e, err, errlen);
    size_t got = fread(magic, 1, 8, fp);
    fclose(fp);
    if (got >= 4 && !memcmp(magic, "GGUF", 4)) st = inspect_gguf(path, f, &e);
    else if (got == 8 && !memcmp(magic + 4, "TFL3", 4)) {
        snprintf(f->format, sizeof f->format, "tflite");
        snprintf(f->arch, sizeof f->arch, "tflite");
        snprintf(f->task, sizeof f->task, "other");
        f->weight_bytes = f->file_bytes;
        st = 0;
    } else if (ends_with(path, ".safetensors")) st = inspect_safetensors(path, 0, f, &e);
    else if (ends_with(path, ".onnx") || (got >= 1 && magic[0] == 0x08)) st = inspect_onnx(path, f, &e);
    else
        st = it_fail(&e, INGOT_ERR_UNSUPPORTED,
                     "%s: not a model ingot reads (GGUF, safetensors file or folder, ONNX, TFLite)", path);
    return finish(st, &e, err, errlen);
}

const ingot_quant_estimate *ingot_inspect_quant(const ingot_model_facts *f, const char *type) {
    if (!f || !type) return NULL;
    for (int i = 0; i < f->n_quant; i++)
        if (!strcasecmp(f->quant[i].type, type)) return &f->quant[i];
    return NULL;
}

double ingot_inspect_type_bytes(const char *type) {
    int t = type ? it_ggml_type_from_name(type) : -1;
    if (t < 0) return 0;
    int64_t bs = it_ggml_block_size((uint32_t)t);
    size_t sz = it_ggml_type_size((uint32_t)t);
    return bs > 0 ? (double)sz / (double)bs : 0;
}

/* ---- machine ---- */

static void trim(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r' || s[n - 1] == 0)) s[--n] = 0;
}

static int64_t meminfo(const char *key) {
    FILE *fp = fopen("/proc/meminfo", "r");
    if (!fp) return 0;
    char line[256];
    int64_t v = 0;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, fp))
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            v = strtoll(line + kl + 1, NULL, 10) * 1024;
            break;
        }
    fclose(fp);
    return v;
}

static void detect_gpu(ingot_machine_info *m) {
    DIR *d = opendir("/proc/driver/nvidia/gpus");
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.') continue;
            m->n_gpus++;
            if (m->gpu_name[0]) continue;
            char p[512], line[256];
            snprintf(p, sizeof p, "/proc/driver/nvidia/gpus/%s/information", de->d_name);
            FILE *fp = fopen(p, "r");
            if (!fp) continue;
            while (fgets(line, sizeof line, fp))
                if (!strncmp(line, "Model:", 6)) {
                    char *v = line + 6;
                    while (*v == ' ' || *v == '\t') v++;
                    scopy(m->gpu_name, sizeof m->gpu_name, v);
                    trim(m->gpu_name);
                }
            fclose(fp);
        }
        closedir(d);
    }
    static const char *const smi[] = {"/usr/bin/nvidia-smi", "/usr/local/bin/nvidia-smi", NULL};
    for (int i = 0; smi[i]; i++) {
        if (access(smi[i], X_OK)) continue;
        char cmd[256];
        snprintf(cmd, sizeof cmd, "%s --query-gpu=name,memory.total --format=csv,noheader,nounits 2>/dev/null", smi[i]);
        FILE *fp = popen(cmd, "r");
        if (!fp) break;
        char line[256];
        int n = 0;
        while (fgets(line, sizeof line, fp)) {
            char *comma = strrchr(line, ',');
            if (!comma) continue;
            *comma = 0;
            if (n == 0) {
                scopy(m->gpu_name, sizeof m->gpu_name, line);
                trim(m->gpu_name);
                m->gpu_mem = strtoll(comma + 1, NULL, 10) * 1024 * 1024;
            }
            n++;
        }
        pclose(fp);
        if (n > m->n_gpus) m->n_gpus = n;
        break;
    }
}

void ingot_machine_detect(ingot_machine_info *m) {
    if (!m) return;
    memset(m, 0, sizeof *m);
    struct utsname u;
    if (!uname(&u)) {
        scopy(m->arch, sizeof m->arch, u.machine);
        scopy(m->os, sizeof m->os, !strcmp(u.sysname, "Darwin") ? "macos" : !strcmp(u.sysname, "Linux") ? "linux" : u.sysname);
    }
    it_cpu_model_name(m->cpu_model, sizeof m->cpu_model);
    scopy(m->isa, sizeof m->isa, ingot_isa_name());
    unsigned f = it_cpu_features();
    static const struct { unsigned bit; const char *name; } F[] = {
        {IT_CPU_AVX2, "avx2 fma f16c"}, {IT_CPU_AVX512, "avx512"}, {IT_CPU_VNNI, "vnni"}, {IT_CPU_BF16, "bf16"},
        {IT_CPU_AVXVNNI, "avxvnni"},    {IT_CPU_NEON, "neon"},     {IT_CPU_DOTPROD, "dotprod"}};
    for (size_t i = 0; i < sizeof F / sizeof *F; i++)
        if (f & F[i].bit) {
            size_t l = strlen(m->features);
            snprintf(m->features + l, sizeof m->features - l, "%s%s", l ? " " : "", F[i].name);
        }
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    m->cores = nc > 0 ? (int)nc : 1;
    m->threads = ingot_default_threads();
    m->mem_total = meminfo("MemTotal");
    m->mem_available = meminfo("MemAvailable");
    if (!m->mem_total) {
        long pages = sysconf(_SC_PHYS_PAGES), ps = sysconf(_SC_PAGESIZE);
        if (pages > 0 && ps > 0) m->mem_total = (int64_t)pages * ps;
        m->mem_available = m->mem_total;
    }
    FILE *fp = fopen("/proc/device-tree/model", "r");
    if (fp) {
        size_t n = fread(m->board, 1, sizeof m->board - 1, fp);
        m->board[n] = 0;
        trim(m->board);
        fclose(fp);
    }
    detect_gpu(m);
}

/* ---- bandwidth probe ---- */

typedef struct probe {
    const uint8_t *buf;
    size_t chunk;       /* bytes per item, a multiple of 128 */
    uint64_t sink[256]; /* per thread, so the reads are not optimized away */
    int avx2;
} probe;

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2"))) static uint64_t read_avx2(const uint8_t *p, size_t n) {
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    for (size_t i = 0; i + 128 <= n; i += 128) {
        a = _mm256_xor_si256(a, _mm256_load_si256((const __m256i *)(p + i)));
        b = _mm256_xor_si256(b, _mm256_load_si256((const __m256i *)(p + i + 32)));
        c = _mm256_xor_si256(c, _mm256_load_si256((const __m256i *)(p + i + 64)));
        d = _mm256_xor_si256(d, _mm256_load_si256((const __m256i *)(p + i + 96)));
    }
    a = _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d));
    return (uint64_t)_mm256_extract_epi64(a, 0) ^ (uint64_t)_mm256_extract_epi64(a, 3);
}
#endif

static uint64_t read_plain(const uint8_t *p, size_t n) {
    uint64_t a = 0, b = 0, c = 0, d = 0;
    const uint64_t *q = (const uint64_t *)(const void *)p;
    for (size_t i = 0; i + 4 <= n / 8; i += 4) {
        a ^= q[i];
        b ^= q[i + 1];
        c ^= q[i + 2];
        d ^= q[i + 3];
    }
    return a ^ b ^ c ^ d;
}

static void probe_range(void *arg, int64_t begin, int64_t end, int tid) {
    probe *pr = arg;
    uint64_t s = 0;
    for (int64_t i = begin; i < end; i++) {
        const uint8_t *p = pr->buf + (size_t)i * pr->chunk;
#if defined(__x86_64__) || defined(__i386__)
        if (pr->avx2) { s ^= read_avx2(p, pr->chunk); continue; }
#endif
        s ^= read_plain(p, pr->chunk);
    }
    pr->sink[tid & 255] ^= s;
}

double ingot_mem_bandwidth_probe(int64_t bytes, int threads, double ms) {
    if (bytes <= 0) bytes = (int64_t)256 << 20;
    if (bytes < ((int64_t)4 << 20)) bytes = (int64_t)4 << 20;
    if (bytes > ((int64_t)1 << 30)) bytes = (int64_t)1 << 30;
    if (threads <= 0) threads = ingot_default_threads();
    if (ms <= 0) ms = 100;
    const int64_t items = 1024;
    size_t chunk = it_align_up((size_t)(bytes / items), 128);
    probe *pr = calloc(1, sizeof *pr);
    uint8_t *buf = it_malloc(chunk * (size_t)items);
    it_threadpool *tp = it_threadpool_create(threads);
    double best = 0;
    if (!pr || !buf || !tp) goto done;
    memset(buf, 1, chunk * (size_t)items); /* fault the pages in before timing */
    pr->buf = buf;
    pr->chunk = chunk;
    pr->avx2 = (it_cpu_features() & IT_CPU_AVX2) != 0;
    double t0 = it_now_ms(), tmin = 1e30;
    for (int pass = 0; pass < 1000; pass++) {
        double a = it_now_ms();
        it_parallel_for(tp, items, 1, probe_range, pr);
        double t = it_now_ms() - a;
        if (t < tmin) tmin = t;
        if (pass >= 2 && it_now_ms() - t0 > ms) break;
    }
    if (tmin > 0 && tmin < 1e29) best = (double)chunk * (double)items / (tmin * 1e-3) / 1e9;
done:
    it_threadpool_free(tp);
    it_free(buf);
    free(pr);
    return best;
}
