/*
 * jscan.h: a small pull-style JSON scanner for the few JSON documents the
 * model inspector reads without jansson (which the core must not need): the
 * header of a safetensors file and a Hugging Face config.json. It walks the
 * text in place, never allocates, bounds nesting, and reports malformed input
 * as an error return; nothing in the input can make it read past the end.
 */
#ifndef INGOT_API_JSCAN_H
#define INGOT_API_JSCAN_H

#include <stddef.h>

typedef struct it_js {
    const char *p, *end;
} it_js;

void it_js_init(it_js *j, const char *s, size_t n);
/* The next non-space character, not consumed; 0 at the end. */
int it_js_peek(it_js *j);
/* Skip one value of any type. 0 ok, -1 malformed. */
int it_js_skip(it_js *j);
/* Read a string into buf (NUL-terminated, truncated to cap-1 bytes; \u
 * escapes become UTF-8). 0 ok, -1 malformed or not a string. */
int it_js_string(it_js *j, char *buf, size_t cap);
/* Read a number (true/false read as 1/0). 0 ok, -1 otherwise. */
int it_js_number(it_js *j, double *out);
/* Objects: it_js_obj_begin consumes '{'; it_js_obj_next reads the next key
 * and its ':' and returns 1, returns 0 after the closing '}', -1 on error. */
int it_js_obj_begin(it_js *j);
int it_js_obj_next(it_js *j, char *key, size_t cap);
/* Arrays: it_js_arr_next returns 1 when an element follows, 0 after ']'. */
int it_js_arr_begin(it_js *j);
int it_js_arr_next(it_js *j);

#endif
