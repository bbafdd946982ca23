/*
 * fuzz_jinja.c: libFuzzer target for the chat-template interpreter: the input is a
 * template rendered over a fixed conversation; it must render or fail with a message,
 * never crash, hang past the limits or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingot_chat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const ingot_chat_message msgs[] = {
        {"system", "You are a helpful assistant"}, {"user", "Hello"}, {"assistant", "Hi</think> there"}, {"user", NULL}};
    char *t = malloc(size + 1);
    if (!t) return 0;
    memcpy(t, data, size);
    t[size] = 0;
    char *out = NULL, err[256];
    ingot_chat_render_template(t, msgs, 4, (int)(size & 1), "<s>", "</s>", 0, &out, err, sizeof err);
    free(out);
    free(t);
    return 0;
}
