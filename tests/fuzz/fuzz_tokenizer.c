/*
 * fuzz_tokenizer.c: libFuzzer target for the tokenizers. The input is text (any bytes:
 * invalid UTF-8, control characters, special-token spellings) tokenized and then
 * detokenized by the SentencePiece-style BPE of stories260K (llama2.c files in the shared
 * data), by the byte-level BPE of SmolLM2 (when INGOT_SMOLLM2_GGUF names its GGUF), and
 * by the WordPiece tokenizer of all-MiniLM-L6-v2 (when INGOT_MINILM_DIR names its
 * folder); the first input byte picks the tokenizer and whether special tokens parse.
 * The models load once per process (a fuzz harness may keep that state).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingot.h"
#include "ingot_embed.h"
#include "ingot_llm.h"

static ingot_llm *spm, *bpe;
static ingot_embedder *wpm;
static int loaded;

static void load(void) {
    char err[512];
    loaded = 1;
    ingot_llm_load(INGOT_SHARED_DIR "/models/llm/stories260K.bin", INGOT_SHARED_DIR "/models/llm/tok512.bin", &spm, err,
                   sizeof err);
    const char *g = getenv("INGOT_SMOLLM2_GGUF");
    if (g && *g) ingot_llm_load(g, NULL, &bpe, err, sizeof err);
    const char *d = getenv("INGOT_MINILM_DIR");
    if (d && *d) ingot_embedder_load(d, NULL, &wpm, err, sizeof err);
}

static void run_llm(const ingot_llm *m, const uint8_t *text, size_t len, int flags) {
    if (!m) return;
    int32_t ids[4096];
    size_t n = 0;
    if (ingot_llm_tokenize(m, (const char *)text, len, flags, ids, 4096, &n) != INGOT_OK) return;
    char buf[65536];
    ingot_llm_detokenize(m, ids, n < 4096 ? n : 4096, buf, sizeof buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!loaded) load();
    if (size < 1) return 0;
    uint8_t sel = data[0];
    const uint8_t *text = data + 1;
    size_t len = size - 1;
    int flags = (sel >> 2) & 3; /* add-special / parse-special bits */
    switch (sel & 3) {
    case 0: run_llm(spm, text, len, flags); break;
    case 1: run_llm(bpe ? bpe : spm, text, len, flags); break;
    default:
        if (wpm) {
            int32_t ids[4096];
            size_t n = 0;
            char err[256];
            ingot_embedder_tokenize(wpm, (const char *)text, len, 0, ids, 4096, &n, err, sizeof err);
        } else run_llm(spm, text, len, flags);
        break;
    }
    return 0;
}
