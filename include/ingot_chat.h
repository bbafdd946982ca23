/*
 * ingot_chat.h: rendering a conversation into a model's prompt with the model's own
 * chat template (the Jinja template in GGUF tokenizer.chat_template), the way Hugging
 * Face transformers' apply_chat_template does, by ingot's safe template interpreter
 * (no I/O; loops, recursion, memory and output bounded; errors name the template line
 * and column). Include after ingot_llm.h.
 *
 * Threads: any thread, several at once; the model is only read.
 */
#ifndef INGOT_CHAT_H
#define INGOT_CHAT_H

#include "ingot_llm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ingot_chat_message {
    const char *role;    /* "system", "user", "assistant", ... */
    const char *content; /* NUL-terminated UTF-8; NULL renders as none */
} ingot_chat_message;

/* Render msgs[0..n) with the model's chat template into *out (malloc'd, NUL-terminated;
 * free it with free()). The template sees messages (a list of {role, content}),
 * add_generation_prompt, bos_token and eos_token (the texts of the model's BOS/EOS
 * tokens; undefined when the model has none) and strftime_now (the current UTC time).
 *
 * Tokenize the result with ingot_chat_tokenize_flags(m). When the model's tokenizer adds
 * BOS by itself, a BOS text that the template puts at the very start is removed so that
 * the prompt gets one BOS, not two (as llama.cpp does).
 *
 * Fallback when the model has no template: plain lines "ROLE: CONTENT\n" per message
 * and "assistant:" when add_generation_prompt (meant for base models such as llama2.c
 * checkpoints); its text is tokenized without parsing special tokens.
 *
 * Errors (a template that raises, uses what the interpreter does not support, or
 * exceeds a limit) return a negative status with the message in err; *out is NULL. */
ingot_status ingot_chat_render(const ingot_llm *m, const ingot_chat_message *msgs, int n, int add_generation_prompt,
                               char **out, char *err, size_t errlen);

/* The ingot_llm_tokenize flags for ingot_chat_render's text: INGOT_LLM_ADD_SPECIAL, plus
 * INGOT_LLM_PARSE_SPECIAL when the model has a chat template (its control tokens are
 * written as text). Any thread. */
int ingot_chat_tokenize_flags(const ingot_llm *m);

/* Render an explicit template tmpl (NUL-terminated) as ingot_chat_render does, with the
 * given bos/eos texts (NULL: undefined) and now (unix time, UTC) for strftime_now. No
 * BOS stripping. For tests and tools. */
ingot_status ingot_chat_render_template(const char *tmpl, const ingot_chat_message *msgs, int n,
                                        int add_generation_prompt, const char *bos_token, const char *eos_token,
                                        int64_t now, char **out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
