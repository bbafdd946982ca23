/*
 * arch.c: the registry of LLM architecture descriptors (one per family, each defined in
 * src/llm/models/<family>.c). Adding a family is one file plus one line here.
 */
#include <string.h>

#include "llm/model.h"

extern const it_llm_arch it_llm_arch_llama;
extern const it_llm_arch it_llm_arch_qwen2;
extern const it_llm_arch it_llm_arch_qwen3;
extern const it_llm_arch it_llm_arch_phi3;
extern const it_llm_arch it_llm_arch_gemma3;

static const it_llm_arch *const archs[] = {
    &it_llm_arch_llama,
    &it_llm_arch_qwen2,
    &it_llm_arch_qwen3,
    &it_llm_arch_phi3,
    &it_llm_arch_gemma3,
};

const it_llm_arch *it_llm_arch_find(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (strlen(archs[i]->name) == len && !memcmp(archs[i]->name, name, len)) return archs[i];
    return NULL;
}

const char *it_llm_arch_names(void) { return "llama, qwen2, qwen3, phi3, gemma3"; }
