/*
 * jinja.h: a safe interpreter of the Jinja subset that Hugging Face chat templates use
 * (tokenizer.chat_template in GGUF files, chat_template in tokenizer_config.json), for
 * rendering a conversation into the prompt text a model was trained on.
 *
 * Rendering follows transformers' apply_chat_template: trim_blocks and lstrip_blocks on,
 * loop controls (break/continue) on, raise_exception(msg), strftime_now(fmt), tojson
 * without HTML escaping. The interpreter does no I/O and has no access to the host;
 * loops, recursion, memory and output are bounded by the limits below, and every error
 * (syntax, type, undefined, raise_exception, a limit) is a message naming the template
 * line and column. Nothing in a template or message can crash the process.
 *
 * Threads: a render uses only its own memory (one arena per call); any number of renders
 * may run at once on any threads.
 */
#ifndef INGOT_LLM_JINJA_H
#define INGOT_LLM_JINJA_H

#include <stddef.h>
#include <stdint.h>

/* ---- limits (all of them) ---------------------------------------------- */
#define IT_JINJA_MAX_SOURCE (1u << 20)        /* template bytes */
#define IT_JINJA_MAX_OUTPUT (16u << 20)       /* rendered bytes */
#define IT_JINJA_MAX_MEMORY (128u << 20)      /* arena bytes per render (AST + values) */
#define IT_JINJA_MAX_STEPS 2000000            /* loop iterations + macro calls + filter items, per render */
#define IT_JINJA_MAX_RANGE 1000000            /* elements of one range() */
#define IT_JINJA_MAX_DEPTH 200                /* parser nesting, value nesting in tojson/str */
#define IT_JINJA_MAX_EVAL_DEPTH 1000          /* evaluator recursion, macro calls included */
#define IT_JINJA_MAX_CALL_DEPTH 64            /* nested macro calls */
#define IT_JINJA_MAX_MESSAGES 100000          /* messages passed in */

/* One chat message. content NULL is none. */
typedef struct it_jinja_msg {
    const char *role;
    const char *content;
} it_jinja_msg;

/* The variables a chat template sees. Strings may be NULL (then undefined). */
typedef struct it_jinja_vars {
    const it_jinja_msg *msgs;
    int n_msgs;
    const char *bos_token, *eos_token;
    int add_generation_prompt;
    int64_t now; /* unix time strftime_now formats (UTC) */
} it_jinja_vars;

/* Render tmpl[0..len) with vars. On success *out is a NUL-terminated malloc'd string
 * (*out_len bytes without the NUL; out_len may be NULL) and 0 is returned. On failure
 * *out is NULL, err holds "line L, column C: message" and a negative ingot status is
 * returned (INGOT_ERR_FORMAT for template and runtime errors, INGOT_ERR_LIMIT for a
 * limit, INGOT_ERR_NOMEM). */
int it_jinja_render(const char *tmpl, size_t len, const it_jinja_vars *vars, char **out, size_t *out_len,
                    char *err, size_t errlen);

#endif
