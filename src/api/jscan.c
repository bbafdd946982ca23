/*
 * jscan.c: the pull-style JSON scanner of jscan.h (safetensors headers and
 * Hugging Face config.json for the model inspector). Lenient about commas,
 * strict about bounds: every read checks the end of the text, and nesting
 * deeper than JS_MAX_DEPTH is refused instead of recursing further.
 */
#include "jscan.h"

#include <stdlib.h>
#include <string.h>

#define JS_MAX_DEPTH 64

void it_js_init(it_js *j, const char *s, size_t n) {
    j->p = s;
    j->end = s + n;
}

static void ws(it_js *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

int it_js_peek(it_js *j) {
    ws(j);
    return j->p < j->end ? (unsigned char)*j->p : 0;
}

static int hex4(const char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static void put(char *buf, size_t cap, size_t *n, unsigned char c) {
    if (buf && *n + 1 < cap) buf[*n] = (char)c;
    (*n)++;
}

int it_js_string(it_js *j, char *buf, size_t cap) {
    size_t n = 0;
    if (it_js_peek(j) != '"') return -1;
    j->p++;
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p++;
        if (c != '\\') { put(buf, cap, &n, c); continue; }
        if (j->p >= j->end) return -1;
        char e = *j->p++;
        switch (e) {
        case 'n': put(buf, cap, &n, '\n'); break;
        case 't': put(buf, cap, &n, '\t'); break;
        case 'r': put(buf, cap, &n, '\r'); break;
        case 'b': put(buf, cap, &n, '\b'); break;
        case 'f': put(buf, cap, &n, '\f'); break;
        case 'u': {
            unsigned u;
            if (j->end - j->p < 4 || hex4(j->p, &u)) return -1;
            j->p += 4;
            if (u >= 0xd800 && u < 0xdc00 && j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u') {
                unsigned lo;
                if (!hex4(j->p + 2, &lo) && lo >= 0xdc00 && lo < 0xe000) {
                    u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
                    j->p += 6;
                }
            }
            if (u < 0x80) put(buf, cap, &n, (unsigned char)u);
            else if (u < 0x800) { put(buf, cap, &n, (unsigned char)(0xc0 | (u >> 6))); put(buf, cap, &n, (unsigned char)(0x80 | (u & 63))); }
            else if (u < 0x10000) {
                put(buf, cap, &n, (unsigned char)(0xe0 | (u >> 12)));
                put(buf, cap, &n, (unsigned char)(0x80 | ((u >> 6) & 63)));
                put(buf, cap, &n, (unsigned char)(0x80 | (u & 63)));
            } else {
                put(buf, cap, &n, (unsigned char)(0xf0 | (u >> 18)));
                put(buf, cap, &n, (unsigned char)(0x80 | ((u >> 12) & 63)));
                put(buf, cap, &n, (unsigned char)(0x80 | ((u >> 6) & 63)));
                put(buf, cap, &n, (unsigned char)(0x80 | (u & 63)));
            }
            break;
        }
        default: put(buf, cap, &n, (unsigned char)e); break;
        }
    }
    if (j->p >= j->end) return -1;
    j->p++; /* closing quote */
    if (buf && cap) buf[n < cap ? n : cap - 1] = 0;
    return 0;
}

int it_js_number(it_js *j, double *out) {
    int c = it_js_peek(j);
    if (c == 't' && j->end - j->p >= 4 && !memcmp(j->p, "true", 4)) { j->p += 4; *out = 1; return 0; }
    if (c == 'f' && j->end - j->p >= 5 && !memcmp(j->p, "false", 5)) { j->p += 5; *out = 0; return 0; }
    char tmp[64];
    size_t n = 0;
    while (j->p + n < j->end && n < sizeof tmp - 1 && strchr("0123456789+-.eE", j->p[n]) && j->p[n]) {
        tmp[n] = j->p[n];
        n++;
    }
    if (!n) return -1;
    tmp[n] = 0;
    char *e;
    double v = strtod(tmp, &e);
    if (e == tmp) return -1;
    j->p += e - tmp;
    *out = v;
    return 0;
}

static int skip_depth(it_js *j, int depth) {
    if (depth > JS_MAX_DEPTH) return -1;
    int c = it_js_peek(j);
    if (c == '"') return it_js_string(j, NULL, 0);
    if (c == '{') {
        j->p++;
        int r;
        while ((r = it_js_obj_next(j, NULL, 0)) == 1)
            if (skip_depth(j, depth + 1)) return -1;
        return r;
    }
    if (c == '[') {
        j->p++;
        int r;
        while ((r = it_js_arr_next(j)) == 1)
            if (skip_depth(j, depth + 1)) return -1;
        return r;
    }
    if (c == 'n') {
        if (j->end - j->p >= 4 && !memcmp(j->p, "null", 4)) { j->p += 4; return 0; }
        return -1;
    }
    double d;
    return it_js_number(j, &d);
}

int it_js_skip(it_js *j) { return skip_depth(j, 0); }

int it_js_obj_begin(it_js *j) {
    if (it_js_peek(j) != '{') return -1;
    j->p++;
    return 0;
}

int it_js_obj_next(it_js *j, char *key, size_t cap) {
    int c = it_js_peek(j);
    if (c == ',') { j->p++; c = it_js_peek(j); }
    if (c == '}') { j->p++; return 0; }
    if (c != '"' || it_js_string(j, key, cap)) return -1;
    if (it_js_peek(j) != ':') return -1;
    j->p++;
    return 1;
}

int it_js_arr_begin(it_js *j) {
    if (it_js_peek(j) != '[') return -1;
    j->p++;
    return 0;
}

int it_js_arr_next(it_js *j) {
    int c = it_js_peek(j);
    if (c == ',') { j->p++; c = it_js_peek(j); }
    if (c == ']') { j->p++; return 0; }
    return c ? 1 : -1;
}
