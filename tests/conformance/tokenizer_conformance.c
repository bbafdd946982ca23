/*
 * tokenizer_conformance.c: runs one tokenizer test suite of ../shared/conformance/tokenizer
 * (llama.cpp's vocab test vectors, expected ids from the Hugging Face tokenizers).
 *   tokenizer_conformance VOCAB.gguf INPUT.inp EXPECTED.out
 * VOCAB.gguf is read with the GGUF reader and turned into an it_vocab_desc; each case of
 * INPUT.inp (cases end with "\n__ggml_vocab_test__\n") is tokenized without BOS/EOS and
 * without parsing special-token text, and compared with the ids on the same line of
 * EXPECTED.out. Prints PASS/FAIL per case (the first differing id on failure), then
 * "N passed, N failed"; exits 1 when any case fails or the files cannot be used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "formats/gguf.h"
#include "llm/tokenizer/tokenizer.h"

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    for (;;) {
        if (!b) break;
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (n < cap) break;
        cap *= 2;
        char *nb = realloc(b, cap + 1);
        if (!nb) {
            free(b);
            b = NULL;
            break;
        }
        b = nb;
    }
    fclose(f);
    if (b) b[n] = 0;
    *len = n;
    return b;
}

/* The GGUF keys llama.cpp's llama_vocab::load reads, into a descriptor. Arrays are copied
 * into `hold` (scores and types may be unaligned in the file). */
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
    *out = it_strndup(s, (size_t)n);
    return *out ? 0 : INGOT_ERR_NOMEM;
}

static int get_str_array(it_gguf *g, const char *key, it_vocab_str **out, int64_t *n_out, it_err *e) {
    int64_t k = it_gguf_find_key(g, key);
    if (k < 0) return INGOT_ERR_NOT_FOUND;
    const it_gguf_val *v = it_gguf_value(g, k);
    if (v->type != IT_GGUF_ARRAY || v->arr_type != IT_GGUF_STRING)
        return it_fail(e, INGOT_ERR_FORMAT, "%s is not an array of strings", key);
    if (v->n > (uint64_t)IT_TOK_MAX_TOKENS * 4) return it_fail(e, INGOT_ERR_LIMIT, "%s has %llu entries", key,
                                                                 (unsigned long long)v->n);
    it_vocab_str *a = calloc(v->n ? v->n : 1, sizeof *a);
    if (!a) return INGOT_ERR_NOMEM;
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
    if ((int64_t)v->n < n) return it_fail(e, INGOT_ERR_FORMAT, "%s has %llu entries for %lld tokens", key,
                                          (unsigned long long)v->n, (long long)n);
    void *a = malloc((size_t)(n ? n : 1) * 4);
    if (!a) return INGOT_ERR_NOMEM;
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

static int vocab_from_gguf(it_gguf *g, it_vocab_desc *d, vocab_hold *h, it_err *e) {
    int st;
    int64_t n = 0;
    it_vocab_desc_init(d);
    memset(h, 0, sizeof *h);
    if ((st = get_strz(g, "tokenizer.ggml.model", &h->model, e))) return st;
    d->model = h->model;
    st = get_strz(g, "tokenizer.ggml.pre", &h->pre, e);
    if (st && st != INGOT_ERR_NOT_FOUND) return st;
    d->pre = h->pre;
    if ((st = get_str_array(g, "tokenizer.ggml.tokens", &h->tokens, &n, e))) return st;
    if (n > IT_TOK_MAX_TOKENS) return it_fail(e, INGOT_ERR_LIMIT, "%lld tokens", (long long)n);
    d->n_tokens = (int32_t)n;
    d->tokens = h->tokens;
    st = get_num_array(g, "tokenizer.ggml.scores", 1, n, (void **)&h->scores, e);
    if (st && st != INGOT_ERR_NOT_FOUND) return st;
    d->scores = h->scores;
    st = get_num_array(g, "tokenizer.ggml.token_type", 0, n, (void **)&h->types, e);
    if (st && st != INGOT_ERR_NOT_FOUND) return st;
    d->token_types = h->types;
    int64_t nm = 0;
    st = get_str_array(g, "tokenizer.ggml.merges", &h->merges, &nm, e);
    if (st && st != INGOT_ERR_NOT_FOUND) return st;
    d->merges = h->merges;
    d->n_merges = nm;

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
        if (st) return st;
        *(int32_t *)((char *)d + ids[i].off) = v >= 0 && v < n ? (int32_t)v : -1;
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
        if (st) return st;
        *(int *)((char *)d + flags[i].off) = v;
    }
    return 0;
}

static int parse_ids(const char *line, size_t len, int32_t **ids, size_t *n) {
    size_t cap = 16;
    *n = 0;
    *ids = malloc(cap * sizeof **ids);
    if (!*ids) return -1;
    size_t i = 0;
    while (i < len) {
        while (i < len && line[i] == ' ') i++;
        if (i >= len) break;
        long v = 0;
        size_t start = i;
        while (i < len && line[i] >= '0' && line[i] <= '9') v = v * 10 + (line[i++] - '0');
        if (i == start || v > INT32_MAX) return -1;
        if (*n == cap) {
            cap *= 2;
            int32_t *nv = realloc(*ids, cap * sizeof *nv);
            if (!nv) return -1;
            *ids = nv;
        }
        (*ids)[(*n)++] = (int32_t)v;
    }
    return 0;
}

static void print_case(const char *s, size_t n) {
    putchar('\'');
    for (size_t i = 0; i < n && i < 60; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c < 0x20) printf("\\x%02x", c);
        else putchar(c);
    }
    if (n > 60) fputs("...", stdout);
    putchar('\'');
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s VOCAB.gguf INPUT.inp EXPECTED.out\n", argv[0]);
        return 2;
    }
    int rc = 1;
    it_err e = {""};
    it_gguf g;
    vocab_hold hold = {0};
    it_vocab_desc d;
    it_tokenizer *tok = NULL;
    char *inp = NULL, *outp = NULL;
    size_t inp_len, out_len;
    memset(&g, 0, sizeof g);

    if (it_gguf_open(argv[1], &g, &e)) {
        fprintf(stderr, "%s: %s\n", argv[1], e.msg);
        goto done;
    }
    if (vocab_from_gguf(&g, &d, &hold, &e)) {
        fprintf(stderr, "%s: vocabulary: %s\n", argv[1], e.msg);
        goto done;
    }
    if (it_tok_create(&d, &tok, &e)) {
        fprintf(stderr, "%s: %s\n", argv[1], e.msg);
        goto done;
    }
    inp = read_file(argv[2], &inp_len);
    outp = read_file(argv[3], &out_len);
    if (!inp || !outp) {
        fprintf(stderr, "cannot read %s\n", !inp ? argv[2] : argv[3]);
        goto done;
    }

    static const char sep[] = "\n__ggml_vocab_test__\n";
    size_t sl = sizeof sep - 1;
    int passed = 0, failed = 0, ncase = 0;
    size_t ip = 0, op = 0;
    while (ip < inp_len) {
        const char *end = NULL;
        for (size_t j = ip; j + sl <= inp_len; j++)
            if (memcmp(inp + j, sep, sl) == 0) {
                end = inp + j;
                break;
            }
        size_t clen = end ? (size_t)(end - (inp + ip)) : inp_len - ip;
        const char *cs = inp + ip;
        ip += clen + (end ? sl : 0);
        if (!end && clen == 0) break;
        /* expected line */
        if (op >= out_len) {
            printf("FAIL case %d: no expected line\n", ncase);
            failed++;
            ncase++;
            continue;
        }
        const char *nl = memchr(outp + op, '\n', out_len - op);
        size_t ll = nl ? (size_t)(nl - (outp + op)) : out_len - op;
        int32_t *want = NULL;
        size_t nwant = 0;
        if (parse_ids(outp + op, ll, &want, &nwant)) {
            printf("FAIL case %d: bad expected line\n", ncase);
            failed++;
            free(want);
            op += ll + 1;
            ncase++;
            continue;
        }
        op += ll + 1;
        int32_t *got = NULL;
        size_t ngot = 0;
        int st = it_tok_tokenize_alloc(tok, cs, clen, 0, &got, &ngot, &e);
        if (st) {
            printf("FAIL case %d: %s ", ncase, e.msg);
            print_case(cs, clen);
            putchar('\n');
            failed++;
        } else {
            size_t k = 0;
            while (k < ngot && k < nwant && got[k] == want[k]) k++;
            if (k == ngot && k == nwant) {
                printf("PASS case %d ", ncase);
                print_case(cs, clen);
                putchar('\n');
                passed++;
            } else {
                printf("FAIL case %d ", ncase);
                print_case(cs, clen);
                printf(": first difference at token %zu: expected %lld, got %lld (%zu vs %zu tokens)\n  got:",
                       k, k < nwant ? (long long)want[k] : -1LL, k < ngot ? (long long)got[k] : -1LL, nwant,
                       ngot);
                for (size_t i = 0; i < ngot; i++) printf(" %d", got[i]);
                printf("\n  want:");
                for (size_t i = 0; i < nwant; i++) printf(" %d", want[i]);
                putchar('\n');
                failed++;
            }
        }
        free(got);
        free(want);
        ncase++;
    }
    if (op < out_len) {
        printf("FAIL: %s has more lines than %s has cases\n", argv[3], argv[2]);
        failed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    rc = failed ? 1 : 0;
done:
    it_tok_free(tok);
    hold_free(&hold);
    it_gguf_free(&g);
    free(inp);
    free(outp);
    return rc;
}
