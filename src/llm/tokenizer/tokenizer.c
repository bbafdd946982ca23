/*
 * tokenizer.c: the parts every tokenizer shares: building the vocabulary (text pool, hash from
 * text to id, rendered pieces), validating the descriptor, splitting the input around special
 * tokens (longest first, as llama.cpp and HF added tokens do), dispatching raw fragments to the
 * algorithm (tok_spm.c, tok_bpe.c, tok_wpm.c), adding BOS/EOS/SEP, and detokenizing, including
 * the streaming detokenizer that holds back incomplete UTF-8.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/tokenizer/tok_internal.h"

/* ---------------------------------------------------------------- small helpers */

int tok_ids_push(tok_ids *o, int32_t id) {
    if (o->n == o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 64;
        int32_t *nv = realloc(o->v, nc * sizeof *nv);
        if (!nv) return INGOT_ERR_NOMEM;
        o->v = nv;
        o->cap = nc;
    }
    o->v[o->n++] = id;
    return 0;
}

static uint64_t tok_hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

int32_t tok_lookup(const it_tokenizer *t, const char *s, size_t n) {
    if (!t->hash || n == 0 || n > t->max_token_len) return -1;
    size_t i = (size_t)tok_hash_bytes(s, n) & t->hash_mask;
    for (;;) {
        int32_t id = t->hash[i];
        if (id < 0) return -1;
        if (t->tok[id].len == n && memcmp(t->pool + t->tok[id].off, s, n) == 0) return id;
        i = (i + 1) & t->hash_mask;
    }
}

int tok_push_byte(const it_tokenizer *t, tok_ids *o, unsigned char b) {
    int32_t id = t->byte_tok[b];
    if (id < 0) id = t->special[IT_TOK_ID_UNK];
    if (id < 0) return 0;
    return tok_ids_push(o, id);
}

void it_vocab_desc_init(it_vocab_desc *d) {
    memset(d, 0, sizeof *d);
    d->bos_id = d->eos_id = d->unk_id = d->sep_id = d->pad_id = -1;
    d->cls_id = d->mask_id = d->eot_id = d->eom_id = -1;
    d->add_bos = d->add_eos = d->add_sep = -1;
    d->add_space_prefix = d->remove_extra_whitespaces = -1;
    d->lowercase = d->strip_accents = -1;
    d->wpm_hash_continuation = -1;
}

/* ---------------------------------------------------------------- pieces */

/* U+2581 -> ' ' into dst; returns bytes written (dst has room for n) */
static size_t tok_unescape_spaces(const char *s, size_t n, char *dst) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && (unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x96 &&
            (unsigned char)s[i + 2] == 0x81) {
            dst[o++] = ' ';
            i += 3;
        } else {
            dst[o++] = s[i++];
        }
    }
    return o;
}

static int tok_parse_byte_token(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Render token id into dst (room for at least len + 2 bytes): what a detokenizer prints,
 * special tokens excluded (they render their text only on request). */
static size_t tok_render(const it_tokenizer *t, int32_t id, char *dst) {
    const tok_entry *te = &t->tok[id];
    const char *s = t->pool + te->off;
    size_t n = te->len;
    switch (te->type) {
    case IT_TOKEN_CONTROL:
    case IT_TOKEN_UNKNOWN:
        return 0; /* rendered from the text on request */
    case IT_TOKEN_USER_DEFINED:
        memcpy(dst, s, n);
        return n;
    case IT_TOKEN_BYTE: {
        int b = tok_parse_byte_token(s, n);
        if (b < 0) {
            memcpy(dst, s, n);
            return n;
        }
        dst[0] = (char)b;
        return 1;
    }
    case IT_TOKEN_NORMAL:
        break;
    default:
        return 0; /* unused / undefined render nothing, as llama.cpp does */
    }
    if (t->model == TOK_BPE) {
        size_t o = 0;
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            size_t k = tok_utf8_decode(s + i, n - i, &cp);
            int b = tok_bpe_cp_to_byte(cp);
            if (b >= 0) {
                dst[o++] = (char)b;
            } else { /* not a byte-level char: keep it as it is */
                memcpy(dst + o, s + i, k);
                o += k;
            }
            i += k;
        }
        return o;
    }
    if (t->model == TOK_WPM && t->wpm_hash) {
        if (n >= 2 && s[0] == '#' && s[1] == '#') {
            memcpy(dst, s + 2, n - 2);
            return n - 2;
        }
        dst[0] = ' ';
        memcpy(dst + 1, s, n);
        return n + 1;
    }
    return tok_unescape_spaces(s, n, dst);
}

/* ---------------------------------------------------------------- create / free */

static const char *const tok_eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "<|eom_id|>", "<\xef\xbd\234end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
    "<end_of_utterance>", "<|return|>", "<|call|>"};

typedef struct {
    const it_tokenizer *t;
    int32_t id;
} tok_sort_item;

static int tok_cmp_items(const void *a, const void *b) {
    const tok_sort_item *x = a, *y = b;
    uint32_t lx = x->t->tok[x->id].len, ly = y->t->tok[y->id].len;
    if (lx != ly) return lx > ly ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

void it_tok_free(it_tokenizer *t) {
    if (!t) return;
    tok_bpe_free(t);
    free(t->tok);
    free(t->pool);
    free(t->piece_pool);
    free(t->hash);
    free(t->specials);
    free(t->merges);
    free(t);
}

static int tok_flag(int v, int dflt) { return v < 0 ? dflt : v != 0; }

int it_tok_create(const it_vocab_desc *d, it_tokenizer **out, it_err *e) {
    int st = INGOT_OK;
    it_tokenizer *t = NULL;
    tok_sort_item *items = NULL;
    if (out) *out = NULL;
    if (!d || !out) return it_fail(e, INGOT_ERR_INVALID_ARG, "tokenizer: NULL descriptor or output");
    if (!d->model) return it_fail(e, INGOT_ERR_FORMAT, "tokenizer: no model name (tokenizer.ggml.model)");
    int model;
    if (strcmp(d->model, "llama") == 0) model = TOK_SPM;
    else if (strcmp(d->model, "gpt2") == 0) model = TOK_BPE;
    else if (strcmp(d->model, "bert") == 0) model = TOK_WPM;
    else return it_fail(e, INGOT_ERR_UNSUPPORTED, "tokenizer: unknown model '%.64s'", d->model);
    if (d->n_tokens <= 0 || !d->tokens)
        return it_fail(e, INGOT_ERR_FORMAT, "tokenizer: empty vocabulary (tokenizer.ggml.tokens)");
    if (d->n_tokens > IT_TOK_MAX_TOKENS)
        return it_fail(e, INGOT_ERR_LIMIT, "tokenizer: %d tokens exceed the limit %d", d->n_tokens,
                       IT_TOK_MAX_TOKENS);

    t = calloc(1, sizeof *t);
    if (!t) return it_fail(e, INGOT_ERR_NOMEM, "tokenizer: out of memory");
    t->model = model;
    t->n_tokens = d->n_tokens;
    t->max_input = d->max_input_bytes ? d->max_input_bytes : IT_TOK_MAX_INPUT_DEFAULT;
    for (int i = 0; i < 256; i++) t->byte_tok[i] = -1;

    /* text pool */
    size_t total = 0;
    for (int32_t i = 0; i < d->n_tokens; i++) {
        size_t n = d->tokens[i].len;
        if (n && !d->tokens[i].ptr) {
            st = it_fail(e, INGOT_ERR_FORMAT, "tokenizer: token %d has no text", i);
            goto fail;
        }
        if (n > IT_TOK_MAX_TOKEN_BYTES) {
            st = it_fail(e, INGOT_ERR_LIMIT, "tokenizer: token %d is %zu bytes (limit %d)", i, n,
                         IT_TOK_MAX_TOKEN_BYTES);
            goto fail;
        }
        total += n;
        if (n > t->max_token_len) t->max_token_len = n;
    }
    if (total > UINT32_MAX / 2) {
        st = it_fail(e, INGOT_ERR_LIMIT, "tokenizer: token texts total %zu bytes", total);
        goto fail;
    }
    t->tok = calloc((size_t)d->n_tokens, sizeof *t->tok);
    t->pool = malloc(total + 1);
    /* rendered pieces: at most 1 extra byte per token (WPM " " prefix) */
    t->piece_pool = malloc(total + (size_t)d->n_tokens + 1);
    size_t hcap = 16;
    while (hcap < (size_t)d->n_tokens * 2) hcap <<= 1;
    t->hash = malloc(hcap * sizeof *t->hash);
    if (!t->tok || !t->pool || !t->piece_pool || !t->hash) {
        st = it_fail(e, INGOT_ERR_NOMEM, "tokenizer: out of memory");
        goto fail;
    }
    memset(t->hash, 0xFF, hcap * sizeof *t->hash);
    t->hash_mask = hcap - 1;
    size_t off = 0;
    for (int32_t i = 0; i < d->n_tokens; i++) {
        tok_entry *te = &t->tok[i];
        te->off = (uint32_t)off;
        te->len = (uint32_t)d->tokens[i].len;
        if (te->len) memcpy(t->pool + off, d->tokens[i].ptr, te->len);
        off += te->len;
        te->score = d->scores ? d->scores[i] : 0.0f;
        int ty = d->token_types ? d->token_types[i] : IT_TOKEN_NORMAL;
        if (ty < 0 || ty > IT_TOKEN_BYTE) ty = IT_TOKEN_UNDEFINED;
        te->type = (uint8_t)ty;
        te->attr = d->token_attrs ? d->token_attrs[i] : 0;
        if (te->len == 0) continue; /* empty texts never match */
        size_t h = (size_t)tok_hash_bytes(t->pool + te->off, te->len) & t->hash_mask;
        while (t->hash[h] >= 0) {
            int32_t o = t->hash[h];
            if (t->tok[o].len == te->len && memcmp(t->pool + t->tok[o].off, t->pool + te->off, te->len) == 0) {
                st = it_fail(e, INGOT_ERR_FORMAT, "tokenizer: token %d duplicates token %d ('%.*s')", i, o,
                             (int)(te->len > 40 ? 40 : te->len), t->pool + te->off);
                goto fail;
            }
            h = (h + 1) & t->hash_mask;
        }
        t->hash[h] = i;
    }
    t->pool[off] = 0;
    t->pool_len = off;

    /* special ids */
    int32_t sp[IT_TOK_ID_COUNT] = {d->bos_id, d->eos_id, d->unk_id, d->sep_id, d->pad_id,
                                   d->cls_id, d->mask_id, d->eot_id, d->eom_id};
    static const char *const sp_names[IT_TOK_ID_COUNT] = {"bos", "eos", "unk", "sep", "pad",
                                                          "cls", "mask", "eot", "eom"};
    for (int k = 0; k < IT_TOK_ID_COUNT; k++) {
        if (sp[k] >= d->n_tokens || sp[k] < -1) {
            it_log(IT_LOG_WARN, "tokenizer: %s id %d out of range (%d tokens), ignored", sp_names[k], sp[k],
                   d->n_tokens);
            sp[k] = -1;
        }
        t->special[k] = sp[k];
    }
    if (model == TOK_WPM && t->special[IT_TOK_ID_BOS] < 0) t->special[IT_TOK_ID_BOS] = t->special[IT_TOK_ID_CLS];
    if (model == TOK_WPM && t->special[IT_TOK_ID_CLS] < 0) t->special[IT_TOK_ID_CLS] = t->special[IT_TOK_ID_BOS];

    /* flags */
    t->add_bos = tok_flag(d->add_bos, model != TOK_BPE);
    t->add_eos = tok_flag(d->add_eos, 0);
    t->add_sep = tok_flag(d->add_sep, model == TOK_WPM);
    t->add_space_prefix = tok_flag(d->add_space_prefix, model == TOK_SPM);
    if (model == TOK_BPE) t->add_space_prefix = 0; /* llama.cpp: BPE has its pre-tokenizer instead */
    t->remove_extra_ws = tok_flag(d->remove_extra_whitespaces, 0);
    t->lowercase = tok_flag(d->lowercase, 1);
    t->strip_accents = tok_flag(d->strip_accents, t->lowercase);
    if (model == TOK_WPM) {
        if (d->wpm_hash_continuation >= 0) {
            t->wpm_hash = d->wpm_hash_continuation != 0;
        } else { /* GGUF vocabs mark word starts with U+2581; tokenizer.json ones use ## */
            int n_phantom = 0, n_hash = 0;
            for (int32_t i = 0; i < d->n_tokens; i++) {
                const char *s = t->pool + t->tok[i].off;
                uint32_t n = t->tok[i].len;
                if (n >= 3 && memcmp(s, "\xe2\x96\x81", 3) == 0) n_phantom++;
                else if (n >= 3 && s[0] == '#' && s[1] == '#') n_hash++;
            }
            t->wpm_hash = n_hash > n_phantom;
        }
    }

    /* byte tokens */
    if (model == TOK_SPM) {
        for (int b = 0; b < 256; b++) {
            char buf[8];
            snprintf(buf, sizeof buf, "<0x%02X>", b);
            int32_t id = tok_lookup(t, buf, 6);
            if (id < 0) {
                char c = (char)b;
                id = tok_lookup(t, &c, 1);
            }
            t->byte_tok[b] = id;
        }
    }

    /* EOG flags */
    for (int k = 0; k < IT_TOK_ID_COUNT; k++) {
        if ((k == IT_TOK_ID_EOS || k == IT_TOK_ID_EOT || k == IT_TOK_ID_EOM) && t->special[k] >= 0)
            t->tok[t->special[k]].flags |= TOKF_EOG;
    }
    for (size_t k = 0; k < sizeof tok_eog_texts / sizeof tok_eog_texts[0]; k++) {
        int32_t id = tok_lookup(t, tok_eog_texts[k], strlen(tok_eog_texts[k]));
        if (id >= 0 && (t->tok[id].type == IT_TOKEN_CONTROL || t->tok[id].type == IT_TOKEN_USER_DEFINED))
            t->tok[id].flags |= TOKF_EOG;
    }

    /* special tokens, longest first */
    int32_t ns = 0;
    for (int32_t i = 0; i < d->n_tokens; i++) {
        int ty = t->tok[i].type;
        if ((ty == IT_TOKEN_CONTROL || ty == IT_TOKEN_USER_DEFINED || ty == IT_TOKEN_UNKNOWN) && t->tok[i].len)
            ns++;
    }
    if (ns) {
        items = malloc((size_t)ns * sizeof *items);
        t->specials = malloc((size_t)ns * sizeof *t->specials);
        if (!items || !t->specials) {
            st = it_fail(e, INGOT_ERR_NOMEM, "tokenizer: out of memory");
            goto fail;
        }
        ns = 0;
        for (int32_t i = 0; i < d->n_tokens; i++) {
            int ty = t->tok[i].type;
            if ((ty == IT_TOKEN_CONTROL || ty == IT_TOKEN_USER_DEFINED || ty == IT_TOKEN_UNKNOWN) && t->tok[i].len)
                items[ns++] = (tok_sort_item){t, i};
        }
        qsort(items, (size_t)ns, sizeof *items, tok_cmp_items);
        for (int32_t i = 0; i < ns; i++) t->specials[i] = items[i].id;
        t->n_specials = ns;
        free(items);
        items = NULL;
    }

    if (model == TOK_BPE) {
        st = tok_bpe_init(t, d, e);
        if (st) goto fail;
    }

    /* rendered pieces */
    size_t po = 0;
    for (int32_t i = 0; i < d->n_tokens; i++) {
        t->tok[i].piece_off = (uint32_t)po;
        t->tok[i].piece_len = (uint32_t)tok_render(t, i, t->piece_pool + po);
        po += t->tok[i].piece_len;
    }

    *out = t;
    return INGOT_OK;
fail:
    free(items);
    it_tok_free(t);
    return st;
}

/* ---------------------------------------------------------------- tokenize */

typedef struct tok_frag {
    size_t off, len; /* raw text when id < 0 */
    int32_t id;
} tok_frag;

typedef struct tok_frags {
    tok_frag *v;
    size_t n, cap;
} tok_frags;

static int tok_frags_reserve(tok_frags *f, size_t extra) {
    if (f->n + extra <= f->cap) return 0;
    size_t nc = f->cap ? f->cap * 2 : 16;
    while (nc < f->n + extra) nc *= 2;
    tok_frag *nv = realloc(f->v, nc * sizeof *nv);
    if (!nv) return INGOT_ERR_NOMEM;
    f->v = nv;
    f->cap = nc;
    return 0;
}

static const char *tok_memmem(const char *h, size_t hn, const char *n, size_t nn) {
    if (nn == 0 || nn > hn) return NULL;
    const char *end = h + hn - nn;
    for (const char *p = h; p <= end;) {
        p = memchr(p, n[0], (size_t)(end - p) + 1);
        if (!p) return NULL;
        if (memcmp(p, n, nn) == 0) return p;
        p++;
    }
    return NULL;
}

static int tok_is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* Split raw fragments around every occurrence of each special token in turn (longest first);
 * the resulting list is fragments of raw text and special ids, in order. */
static int tok_partition(const it_tokenizer *t, const char *text, size_t len, int parse_special, tok_frags *fr) {
    fr->n = 0;
    if (len == 0) return 0;
    if (tok_frags_reserve(fr, 1)) return INGOT_ERR_NOMEM;
    fr->v[fr->n++] = (tok_frag){0, len, -1};
    tok_frags tmp = {0};
    for (int32_t k = 0; k < t->n_specials; k++) {
        int32_t sid = t->specials[k];
        const tok_entry *te = &t->tok[sid];
        if (!parse_special && te->type != IT_TOKEN_USER_DEFINED) continue;
        const char *stext = t->pool + te->off;
        size_t sl = te->len;
        int any = 0;
        for (size_t i = 0; i < fr->n && !any; i++)
            if (fr->v[i].id < 0 && tok_memmem(text + fr->v[i].off, fr->v[i].len, stext, sl)) any = 1;
        if (!any) continue;
        tmp.n = 0;
        for (size_t i = 0; i < fr->n; i++) {
            tok_frag f = fr->v[i];
            if (f.id >= 0) {
                if (tok_frags_reserve(&tmp, 1)) goto nomem;
                tmp.v[tmp.n++] = f;
                continue;
            }
            size_t pos = f.off, end = f.off + f.len;
            while (pos < end) {
                const char *m = tok_memmem(text + pos, end - pos, stext, sl);
                if (!m) break;
                size_t mo = (size_t)(m - text);
                size_t left_end = mo;
                if (te->attr & IT_TOKEN_ATTR_LSTRIP)
                    while (left_end > pos && tok_is_space(text[left_end - 1])) left_end--;
                if (tok_frags_reserve(&tmp, 2)) goto nomem;
                if (left_end > pos) tmp.v[tmp.n++] = (tok_frag){pos, left_end - pos, -1};
                tmp.v[tmp.n++] = (tok_frag){mo, sl, sid};
                pos = mo + sl;
                if (te->attr & IT_TOKEN_ATTR_RSTRIP)
                    while (pos < end && tok_is_space(text[pos])) pos++;
            }
            if (pos < end) {
                if (tok_frags_reserve(&tmp, 1)) goto nomem;
                tmp.v[tmp.n++] = (tok_frag){pos, end - pos, -1};
            }
        }
        tok_frags sw = *fr;
        *fr = tmp;
        tmp = sw;
    }
    free(tmp.v);
    return 0;
nomem:
    free(tmp.v);
    return INGOT_ERR_NOMEM;
}

static int tok_run(const it_tokenizer *t, const char *text, size_t len, int flags, tok_ids *o, it_err *e) {
    if (!t) return it_fail(e, INGOT_ERR_INVALID_ARG, "tokenize: NULL tokenizer");
    if (!text && len) return it_fail(e, INGOT_ERR_INVALID_ARG, "tokenize: NULL text");
    if (len > t->max_input)
        return it_fail(e, INGOT_ERR_LIMIT, "tokenize: input of %zu bytes exceeds the limit of %zu", len,
                       t->max_input);
    int add_special = (flags & IT_TOK_ADD_SPECIAL) != 0;
    tok_frags fr = {0};
    int st = tok_partition(t, text, len, (flags & IT_TOK_PARSE_SPECIAL) != 0, &fr);
    if (st) goto out;

    int32_t bos = t->special[IT_TOK_ID_BOS], eos = t->special[IT_TOK_ID_EOS], sep = t->special[IT_TOK_ID_SEP];
    if (add_special && t->add_bos && bos >= 0 && (st = tok_ids_push(o, bos))) goto out;
    int prev_special = 1; /* SPM: a space prefix before the first fragment and after specials */
    for (size_t i = 0; i < fr.n; i++) {
        const tok_frag *f = &fr.v[i];
        if (f->id >= 0) {
            if ((st = tok_ids_push(o, f->id))) goto out;
            prev_special = 1;
            continue;
        }
        switch (t->model) {
        case TOK_SPM:
            st = tok_spm_encode(t, text + f->off, f->len, t->add_space_prefix && prev_special, o);
            break;
        case TOK_BPE:
            st = tok_bpe_encode(t, text + f->off, f->len, o, e);
            break;
        default:
            st = tok_wpm_encode(t, text + f->off, f->len, o);
            break;
        }
        if (st) goto out;
        prev_special = 0;
    }
    if (add_special && t->add_eos && eos >= 0 && (st = tok_ids_push(o, eos))) goto out;
    if (add_special && t->add_sep && sep >= 0 && (st = tok_ids_push(o, sep))) goto out;
out:
    free(fr.v);
    if (st == INGOT_ERR_NOMEM) it_fail(e, st, "tokenize: out of memory");
    return st;
}

int it_tok_tokenize(const it_tokenizer *t, const char *text, size_t len, int flags, int32_t *ids, size_t cap,
                    size_t *n_ids, it_err *e) {
    tok_ids o = {0};
    if (n_ids) *n_ids = 0;
    int st = tok_run(t, text, len, flags, &o, e);
    if (st) {
        free(o.v);
        return st;
    }
    if (n_ids) *n_ids = o.n;
    if (o.n > cap) {
        free(o.v);
        return it_fail(e, INGOT_ERR_LIMIT, "tokenize: %zu tokens do not fit in %zu", o.n, cap);
    }
    if (o.n) memcpy(ids, o.v, o.n * sizeof *ids);
    free(o.v);
    return INGOT_OK;
}

int it_tok_tokenize_alloc(const it_tokenizer *t, const char *text, size_t len, int flags, int32_t **ids,
                          size_t *n_ids, it_err *e) {
    tok_ids o = {0};
    *ids = NULL;
    *n_ids = 0;
    int st = tok_run(t, text, len, flags, &o, e);
    if (st) {
        free(o.v);
        return st;
    }
    if (o.n == 0) {
        free(o.v);
        return INGOT_OK;
    }
    *ids = o.v;
    *n_ids = o.n;
    return INGOT_OK;
}

/* ---------------------------------------------------------------- detokenize */

static const char *tok_piece_bytes(const it_tokenizer *t, int32_t id, int flags, size_t *n) {
    const tok_entry *te = &t->tok[id];
    if ((te->type == IT_TOKEN_CONTROL || te->type == IT_TOKEN_UNKNOWN) && (flags & IT_TOK_RENDER_SPECIAL)) {
        *n = te->len;
        return t->pool + te->off;
    }
    *n = te->piece_len;
    return t->piece_pool + te->piece_off;
}

int64_t it_tok_piece(const it_tokenizer *t, int32_t id, int flags, char *buf, size_t cap) {
    if (!t || id < 0 || id >= t->n_tokens) return INGOT_ERR_INVALID_ARG;
    size_t n;
    const char *p = tok_piece_bytes(t, id, flags, &n);
    if ((flags & IT_TOK_STRIP_LEADING) && n && p[0] == ' ') p++, n--;
    if (buf && cap) memcpy(buf, p, n < cap ? n : cap);
    return (int64_t)n;
}

int64_t it_tok_detokenize(const it_tokenizer *t, const int32_t *ids, size_t n, int flags, char *buf, size_t cap) {
    if (!t || (!ids && n)) return INGOT_ERR_INVALID_ARG;
    size_t total = 0;
    int strip = t->add_space_prefix;
    if ((flags & IT_TOK_SKIP_SPECIAL) && t->add_bos && n && ids[0] == t->special[IT_TOK_ID_BOS]) ids++, n--;
    if ((flags & IT_TOK_SKIP_SPECIAL) && t->add_eos && n && ids[n - 1] == t->special[IT_TOK_ID_EOS]) n--;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_tokens) return INGOT_ERR_INVALID_ARG;
        size_t k;
        const char *p = tok_piece_bytes(t, ids[i], flags, &k);
        if (strip && k) {
            if (p[0] == ' ') p++, k--;
            strip = 0;
        }
        if (buf && total < cap) memcpy(buf + total, p, k < cap - total ? k : cap - total);
        total += k;
    }
    return (int64_t)total;
}

size_t it_utf8_incomplete_tail(const char *s, size_t n) {
    /* look back at most 3 bytes for a lead byte whose sequence runs past the end */
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = (unsigned char)s[n - back];
        if ((c & 0xC0) == 0x80) continue; /* continuation: keep looking */
        size_t need = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 1;
        if (need <= back) return 0;
        if (back >= 2) { /* the second byte must be able to start a valid sequence */
            unsigned char c1 = (unsigned char)s[n - back + 1];
            if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) ||
                (c == 0xF4 && c1 > 0x8F))
                return 0;
        }
        return back;
    }
    return 0;
}

void it_tok_stream_init(it_tok_stream *s, int flags) {
    memset(s, 0, sizeof *s);
    s->flags = flags;
}

int64_t it_tok_stream_push(const it_tokenizer *t, it_tok_stream *s, int32_t id, char *buf, size_t cap) {
    if (!t || !s || id < 0 || id >= t->n_tokens) return INGOT_ERR_INVALID_ARG;
    size_t k;
    const char *p = tok_piece_bytes(t, id, s->flags, &k);
    if ((s->flags & IT_TOK_STRIP_LEADING) && s->n_fed == 0 && k && p[0] == ' ') p++, k--;
    size_t have = (size_t)s->n_pending + k;
    size_t keep = 0;
    /* find the incomplete tail of pending + piece */
    char tail[8];
    size_t tn = have < 4 ? have : 4;
    for (size_t i = 0; i < tn; i++) {
        size_t pos = have - tn + i; /* index in the virtual concatenation */
        tail[i] = pos < (size_t)s->n_pending ? s->pending[pos] : p[pos - (size_t)s->n_pending];
    }
    keep = it_utf8_incomplete_tail(tail, tn);
    size_t emit = have - keep;
    if (emit > cap) return INGOT_ERR_LIMIT;
    size_t np = (size_t)s->n_pending;
    if (emit <= np) {
        memcpy(buf, s->pending, emit);
    } else {
        memcpy(buf, s->pending, np);
        memcpy(buf + np, p, emit - np);
    }
    /* new pending: the last `keep` bytes */
    char newp[8];
    for (size_t i = 0; i < keep; i++) {
        size_t pos = emit + i;
        newp[i] = pos < np ? s->pending[pos] : p[pos - np];
    }
    memcpy(s->pending, newp, keep);
    s->n_pending = (int)keep;
    if (k) s->n_fed++;
    return (int64_t)emit;
}

int64_t it_tok_stream_flush(it_tok_stream *s, char *buf, size_t cap) {
    if (!s) return INGOT_ERR_INVALID_ARG;
    if (s->n_pending == 0) return 0;
    if (cap < 3) return INGOT_ERR_LIMIT;
    buf[0] = (char)0xEF, buf[1] = (char)0xBF, buf[2] = (char)0xBD;
    s->n_pending = 0;
    return 3;
}

/* ---------------------------------------------------------------- queries */

int32_t it_tok_n_tokens(const it_tokenizer *t) { return t ? t->n_tokens : 0; }

const char *it_tok_text(const it_tokenizer *t, int32_t id, size_t *len) {
    if (!t || id < 0 || id >= t->n_tokens) return NULL;
    if (len) *len = t->tok[id].len;
    return t->pool + t->tok[id].off;
}

int it_tok_type(const it_tokenizer *t, int32_t id) {
    if (!t || id < 0 || id >= t->n_tokens) return -1;
    return t->tok[id].type;
}

float it_tok_score(const it_tokenizer *t, int32_t id) {
    if (!t || id < 0 || id >= t->n_tokens) return 0.0f;
    return t->tok[id].score;
}

int32_t it_tok_find(const it_tokenizer *t, const char *text, size_t len) {
    if (!t || (!text && len)) return -1;
    return tok_lookup(t, text, len);
}

int32_t it_tok_special_id(const it_tokenizer *t, int which) {
    if (!t || which < 0 || which >= IT_TOK_ID_COUNT) return -1;
    return t->special[which];
}

int it_tok_add_bos(const it_tokenizer *t) { return t && t->add_bos && t->special[IT_TOK_ID_BOS] >= 0; }
int it_tok_add_eos(const it_tokenizer *t) { return t && t->add_eos && t->special[IT_TOK_ID_EOS] >= 0; }

int it_tok_is_eog(const it_tokenizer *t, int32_t id) {
    if (!t || id < 0 || id >= t->n_tokens) return 0;
    return (t->tok[id].flags & TOKF_EOG) != 0;
}

int it_tok_is_control(const it_tokenizer *t, int32_t id) {
    if (!t || id < 0 || id >= t->n_tokens) return 0;
    return t->tok[id].type == IT_TOKEN_CONTROL;
}
