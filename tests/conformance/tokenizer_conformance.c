/*
 * tokenizer_conformance.c: runs one tokenizer test suite of ../shared/conformance/tokenizer
 * (llama.cpp's vocab test vectors, expected ids from the Hugging Face tokenizers).
 *   tokenizer_conformance VOCAB.gguf INPUT.inp EXPECTED.out
 * VOCAB.gguf is read with the GGUF reader and turned into a tokenizer by the same code the
 * LLM engine loads models with (it_llm_tokenizer_from_gguf); each case of
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
#include "llm/model.h"
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
    it_tokenizer *tok = NULL;
    char *inp = NULL, *outp = NULL;
    size_t inp_len, out_len;
    memset(&g, 0, sizeof g);

    if (it_gguf_open(argv[1], &g, &e)) {
        fprintf(stderr, "%s: %s\n", argv[1], e.msg);
        goto done;
    }
    if (it_llm_tokenizer_from_gguf(&g, &tok, &e)) {
        fprintf(stderr, "%s: vocabulary: %s\n", argv[1], e.msg);
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
    it_gguf_free(&g);
    free(inp);
    free(outp);
    return rc;
}
