/*
 * llm_logits: a test tool that runs an LLM over given token ids through the public API
 * (include/ingot_llm.h) and writes every position's logits, for the architecture tests
 * (tests/e2e/arch_ref.py against a NumPy reference, arch_vs_llamacpp.py against
 * llama.cpp).
 *
 *   llm_logits MODEL.gguf OUT.bin --tokens 1,2,3 [--gen N] [--chunk K] [--ctx N]
 *              [--threads T] [--kv-f32] [--kv-type T] [--numerics default|llamacpp] [--check-batch]
 *
 * The prompt is decoded in batches of K tokens (default: all at once), then N tokens are
 * generated greedily one at a time (argmax, lowest id on ties). OUT.bin: int32 n, int32
 * n_vocab, int32 tokens[n] (prompt then generated), float32 logits[n][n_vocab] (row i: the
 * logits after token i). --check-batch decodes the same tokens again as sequence 0 of a
 * two-sequence context, interleaved with another sequence in batches of other sizes, and
 * fails unless sequence 0's logits are bit-identical to the first run's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingot.h"
#include "ingot_llm.h"

#define MAX_TOK 4096

static int parse_ids(const char *s, int32_t *ids, int *n) {
    *n = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || *n >= MAX_TOK) return -1;
        ids[(*n)++] = (int32_t)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return *n > 0 ? 0 : -1;
}

static int32_t argmax(const float *v, int64_t n) {
    int64_t b = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return (int32_t)b;
}

/* Run tokens[0..n) of sequence 0 interleaved with n2 tokens of sequence 1 in a
 * two-sequence context; sequence 0's logits go to out[n][V]. */
static int run_batched(const ingot_llm *m, const ingot_llm_ctx_params *base, const int32_t *tokens, int n,
                       int64_t V, float *out) {
    ingot_llm_ctx_params cp = *base;
    cp.n_seq = 2;
    ingot_llm_ctx *c = NULL;
    char err[512];
    if (ingot_llm_ctx_create(m, &cp, &c, err, sizeof err)) {
        fprintf(stderr, "llm_logits: %s\n", err);
        return 1;
    }
    int32_t tok[64], pos[64], seq[64];
    float *lg = malloc(sizeof(float) * (size_t)V * 64);
    int rc = lg ? 0 : 1;
    int i0 = 0, i1 = 0, step = 0;
    const int n1 = n + 3;
    while (!rc && (i0 < n || i1 < n1)) {
        /* sizes vary per step: 1..5 tokens of sequence 1 first, then 1..7 of sequence 0 */
        int k1 = 1 + step % 5, k0 = 1 + (step * 3) % 7, nb = 0;
        for (int k = 0; k < k1 && i1 < n1; k++, i1++, nb++) {
            tok[nb] = (int32_t)((i1 * 7 + 3) % V);
            pos[nb] = i1;
            seq[nb] = 1;
        }
        int first0 = nb;
        for (int k = 0; k < k0 && i0 < n; k++, i0++, nb++) {
            tok[nb] = tokens[i0];
            pos[nb] = i0;
            seq[nb] = 0;
        }
        if (ingot_llm_decode(c, nb, tok, pos, seq, NULL, lg)) {
            fprintf(stderr, "llm_logits: batched decode: %s\n", ingot_llm_ctx_error(c));
            rc = 1;
            break;
        }
        for (int k = first0; k < nb; k++) memcpy(out + (size_t)pos[k] * V, lg + (size_t)k * V, sizeof(float) * V);
        step++;
    }
    free(lg);
    ingot_llm_ctx_free(c);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: llm_logits MODEL OUT.bin --tokens 1,2,3 [--gen N] [--chunk K] [--ctx N] "
                        "[--threads T] [--kv-f32] [--check-batch]\n");
        return 2;
    }
    static int32_t tokens[MAX_TOK];
    int n_prompt = 0, n_gen = 0, chunk = 0, check = 0;
    ingot_llm_ctx_params cp;
    ingot_llm_ctx_params_default(&cp);
    cp.n_ctx = 256;
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--tokens") && has) {
            if (parse_ids(argv[++i], tokens, &n_prompt)) {
                fprintf(stderr, "llm_logits: bad --tokens\n");
                return 2;
            }
        } else if (!strcmp(a, "--gen") && has) n_gen = atoi(argv[++i]);
        else if (!strcmp(a, "--chunk") && has) chunk = atoi(argv[++i]);
        else if (!strcmp(a, "--ctx") && has) cp.n_ctx = atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && has) cp.n_threads = atoi(argv[++i]);
        else if (!strcmp(a, "--kv-f32")) cp.kv_f32 = 1;
        else if (!strcmp(a, "--kv-type") && i + 1 < argc) cp.kv_type = ingot_llm_kv_type_from_name(argv[++i]);
        else if (!strcmp(a, "--numerics") && i + 1 < argc) cp.numerics = ingot_llm_numerics_from_name(argv[++i]);
        else if (!strcmp(a, "--check-batch")) check = 1;
        else {
            fprintf(stderr, "llm_logits: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (!n_prompt || n_gen < 0 || n_prompt + n_gen > MAX_TOK) {
        fprintf(stderr, "llm_logits: need --tokens (and prompt + gen <= %d)\n", MAX_TOK);
        return 2;
    }
    if (chunk <= 0) chunk = n_prompt;
    char err[512];
    ingot_llm *m = NULL;
    ingot_llm_ctx *c = NULL;
    if (ingot_llm_load(argv[1], NULL, &m, err, sizeof err)) {
        fprintf(stderr, "llm_logits: %s\n", err);
        return 1;
    }
    ingot_llm_info info;
    ingot_llm_get_info(m, &info);
    const int64_t V = info.n_vocab;
    const int n = n_prompt + n_gen;
    float *lg = malloc(sizeof(float) * (size_t)V * (size_t)n), *lg2 = NULL;
    int rc = 1;
    if (!lg) goto done;
    if (ingot_llm_ctx_create(m, &cp, &c, err, sizeof err)) {
        fprintf(stderr, "llm_logits: %s\n", err);
        goto done;
    }
    static int32_t pos[MAX_TOK], seq[MAX_TOK];
    for (int i = 0; i < n; i++) pos[i] = i;
    for (int i0 = 0; i0 < n_prompt; i0 += chunk) {
        int k = n_prompt - i0 < chunk ? n_prompt - i0 : chunk;
        if (ingot_llm_decode(c, k, tokens + i0, pos + i0, seq, NULL, lg + (size_t)i0 * V)) {
            fprintf(stderr, "llm_logits: decode: %s\n", ingot_llm_ctx_error(c));
            goto done;
        }
    }
    for (int i = n_prompt; i < n; i++) {
        tokens[i] = argmax(lg + (size_t)(i - 1) * V, V);
        if (ingot_llm_decode(c, 1, tokens + i, pos + i, seq, NULL, lg + (size_t)i * V)) {
            fprintf(stderr, "llm_logits: decode: %s\n", ingot_llm_ctx_error(c));
            goto done;
        }
    }
    if (check) {
        lg2 = malloc(sizeof(float) * (size_t)V * (size_t)n);
        if (!lg2 || run_batched(m, &cp, tokens, n, V, lg2)) goto done;
        size_t bad = 0;
        for (size_t i = 0; i < (size_t)V * (size_t)n; i++) bad += memcmp(&lg[i], &lg2[i], sizeof(float)) != 0;
        if (bad) {
            fprintf(stderr, "llm_logits: batch invariance: %zu of %zu logits differ when batched with another sequence\n",
                    bad, (size_t)V * (size_t)n);
            goto done;
        }
    }
    FILE *f = fopen(argv[2], "wb");
    if (!f) {
        fprintf(stderr, "llm_logits: cannot write %s\n", argv[2]);
        goto done;
    }
    int32_t hdr[2] = {n, (int32_t)V};
    int ok = fwrite(hdr, 4, 2, f) == 2 && fwrite(tokens, 4, (size_t)n, f) == (size_t)n &&
             fwrite(lg, sizeof(float), (size_t)V * (size_t)n, f) == (size_t)V * (size_t)n;
    if (fclose(f) || !ok) {
        fprintf(stderr, "llm_logits: write error on %s\n", argv[2]);
        goto done;
    }
    rc = 0;
done:
    free(lg);
    free(lg2);
    ingot_llm_ctx_free(c);
    ingot_llm_free(m);
    return rc;
}
