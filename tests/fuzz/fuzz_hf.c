/*
 * fuzz_hf.c: libFuzzer target for Hugging Face folder conversion (src/llm/hf.c) and the
 * GGUF model load behind it. The input is split at the first three 0x1E bytes into
 * config.json, tokenizer.json and tokenizer_config.json; the rest is model.safetensors
 * (a missing part: no such file). The files go to a private temporary folder, which is
 * converted to GGUF in memory and, when that works, loaded as a model (vocabulary,
 * tokenizer, hyperparameters, tensor shapes). Any folder must load or fail with a message;
 * crashes, hangs, leaks and sanitizer reports are findings.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llm/model.h"

static char dir[64];

static void cleanup(void) {
    static const char *names[] = {"config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"};
    char p[128];
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void put(const char *name, const uint8_t *data, size_t n, int present) {
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    if (!present) {
        unlink(p);
        return;
    }
    FILE *f = fopen(p, "wb");
    if (!f) abort();
    if (n && fwrite(data, 1, n, f) != n) abort();
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/ingot_fuzz_hf_XXXXXX");
        if (!mkdtemp(dir)) abort();
        atexit(cleanup);
    }
    static const char *names[] = {"config.json", "tokenizer.json", "tokenizer_config.json"};
    size_t pos = 0;
    for (int i = 0; i < 3; i++) {
        const uint8_t *end = pos <= size ? memchr(data + pos, 0x1E, size - pos) : NULL;
        size_t n = end ? (size_t)(end - (data + pos)) : size - pos;
        put(names[i], data + pos, n, pos < size || i == 0);
        pos = end ? pos + n + 1 : size + 1;
    }
    put("model.safetensors", data + (pos < size ? pos : size), pos < size ? size - pos : 0, pos <= size);
    it_err e = {{0}};
    it_llm_model *m = NULL;
    if (it_llm_model_load(dir, NULL, &m, &e) == 0) {
        if (!m || !m->tok) abort();
        it_llm_model_free(m);
    } else if (!e.msg[0]) {
        abort(); /* every failure has a message */
    }
    return 0;
}
