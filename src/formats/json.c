/*
 * json.c: the bounded JSON reader of json.h. Recursive descent over the text with an explicit
 * depth bound (IT_JSON_MAX_DEPTH), nodes and decoded strings allocated from one arena. Every
 * read checks the end of the input first; errors name the document and the byte offset.
 */
#include "formats/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct jp {
    const char *s;
    size_t n, i;
    size_t base; /* file offset of text[0], for messages */
    const char *what;
    it_json_doc *doc;
    it_err *e;
} jp;

static int jp_fail(jp *p, const char *why) {
    return it_fail(p->e, INGOT_ERR_FORMAT, "%s: malformed JSON at byte %zu: %s", p->what, p->base + p->i, why);
}

static void jp_ws(jp *p) {
    while (p->i < p->n) {
        char c = p->s[p->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->i++;
    }
}

static it_json *jp_node(jp *p, int type) {
    if (p->doc->n_nodes >= IT_JSON_MAX_NODES) return NULL;
    it_json *v = it_arena_alloc(&p->doc->arena, sizeof *v);
    if (!v) return NULL;
    p->doc->n_nodes++;
    v->type = type;
    v->off = p->i;
    return v;
}

static int hex4(const char *s, uint32_t *out) {
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        char c = s[k];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(uint32_t cp, char *o) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 sequence at s[0..n) (1..4), 0 when invalid. */
static size_t utf8_valid(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07, min = 0x10000;
    else return 0;
    if (len > n) return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

/* A string starting at the opening quote; decoded into the arena. */
static int jp_string(jp *p, const char **out, size_t *out_len) {
    p->i++; /* '"' */
    /* first pass: find the end, so the decoded size is bounded by the raw size */
    size_t j = p->i;
    while (j < p->n && p->s[j] != '"') {
        if (p->s[j] == '\\') j++;
        j++;
    }
    if (j >= p->n) return jp_fail(p, "unterminated string");
    size_t raw = j - p->i;
    char *o = it_arena_alloc(&p->doc->arena, raw + 1);
    if (!o) return it_fail(p->e, INGOT_ERR_NOMEM, "%s: out of memory", p->what);
    size_t k = 0;
    while (p->i < j) {
        unsigned char c = (unsigned char)p->s[p->i];
        if (c < 0x20) return jp_fail(p, "control character in a string");
        if (c != '\\') {
            size_t l = utf8_valid((const unsigned char *)p->s + p->i, j - p->i);
            if (!l) return jp_fail(p, "invalid UTF-8 in a string");
            memcpy(o + k, p->s + p->i, l);
            k += l, p->i += l;
            continue;
        }
        if (p->i + 1 >= j) return jp_fail(p, "bad escape");
        char x = p->s[p->i + 1];
        p->i += 2;
        switch (x) {
        case '"': o[k++] = '"'; break;
        case '\\': o[k++] = '\\'; break;
        case '/': o[k++] = '/'; break;
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 'n': o[k++] = '\n'; break;
        case 'r': o[k++] = '\r'; break;
        case 't': o[k++] = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            if (p->i + 4 > j || hex4(p->s + p->i, &cp)) return jp_fail(p, "bad \\u escape");
            p->i += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return jp_fail(p, "lone low surrogate");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (p->i + 6 > j || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u' || hex4(p->s + p->i + 2, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return jp_fail(p, "lone high surrogate");
                p->i += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            /* \uXXXX is 6 raw bytes for at most 3 output bytes; a pair is 12 for 4 */
            k += put_utf8(cp, o + k);
            break;
        }
        default: p->i -= 1; return jp_fail(p, "bad escape");
        }
    }
    o[k] = 0;
    p->i = j + 1;
    *out = o;
    *out_len = k;
    return 0;
}

static int jp_number(jp *p, it_json *v) {
    size_t st = p->i, j = p->i;
    int is_int = 1;
    if (j < p->n && p->s[j] == '-') j++;
    if (j >= p->n || !(p->s[j] >= '0' && p->s[j] <= '9')) {
        p->i = j;
        return jp_fail(p, "bad number");
    }
    if (p->s[j] == '0') j++;
    else
        while (j < p->n && p->s[j] >= '0' && p->s[j] <= '9') j++;
    if (j < p->n && p->s[j] == '.') {
        is_int = 0;
        j++;
        if (j >= p->n || p->s[j] < '0' || p->s[j] > '9') {
            p->i = j;
            return jp_fail(p, "bad fraction");
        }
        while (j < p->n && p->s[j] >= '0' && p->s[j] <= '9') j++;
    }
    if (j < p->n && (p->s[j] == 'e' || p->s[j] == 'E')) {
        is_int = 0;
        j++;
        if (j < p->n && (p->s[j] == '+' || p->s[j] == '-')) j++;
        if (j >= p->n || p->s[j] < '0' || p->s[j] > '9') {
            p->i = j;
            return jp_fail(p, "bad exponent");
        }
        while (j < p->n && p->s[j] >= '0' && p->s[j] <= '9') j++;
    }
    size_t len = j - st;
    if (len > 400) return jp_fail(p, "number too long");
    char buf[408];
    memcpy(buf, p->s + st, len);
    buf[len] = 0;
    v->num = strtod(buf, NULL);
    if (is_int) {
        errno = 0;
        long long x = strtoll(buf, NULL, 10);
        if (errno == 0) v->is_int = 1, v->i = (int64_t)x;
    }
    p->i = j;
    return 0;
}

static int jp_lit(jp *p, const char *lit) {
    size_t n = strlen(lit);
    if (p->n - p->i < n || memcmp(p->s + p->i, lit, n)) return jp_fail(p, "unexpected character");
    p->i += n;
    return 0;
}

static int jp_value(jp *p, it_json **out, int depth) {
    int st;
    jp_ws(p);
    if (p->i >= p->n) return jp_fail(p, "unexpected end");
    if (depth > IT_JSON_MAX_DEPTH) return it_fail(p->e, INGOT_ERR_LIMIT, "%s: JSON nested deeper than %d at byte %zu",
                                                  p->what, IT_JSON_MAX_DEPTH, p->base + p->i);
    char c = p->s[p->i];
    int type = c == '{' ? IT_JSON_OBJECT : c == '[' ? IT_JSON_ARRAY : c == '"' ? IT_JSON_STRING
             : (c == 't' || c == 'f') ? IT_JSON_BOOL : c == 'n' ? IT_JSON_NULL : IT_JSON_NUMBER;
    it_json *v = jp_node(p, type);
    if (!v) return it_fail(p->e, p->doc->n_nodes >= IT_JSON_MAX_NODES ? INGOT_ERR_LIMIT : INGOT_ERR_NOMEM,
                           "%s: JSON too large (node limit %lld) or out of memory", p->what,
                           (long long)IT_JSON_MAX_NODES);
    *out = v;
    switch (type) {
    case IT_JSON_STRING: return jp_string(p, &v->s, &v->len);
    case IT_JSON_BOOL:
        v->b = c == 't';
        return jp_lit(p, v->b ? "true" : "false");
    case IT_JSON_NULL: return jp_lit(p, "null");
    case IT_JSON_NUMBER: return jp_number(p, v);
    default: break;
    }
    int obj = type == IT_JSON_OBJECT;
    p->i++;
    jp_ws(p);
    if (p->i < p->n && p->s[p->i] == (obj ? '}' : ']')) {
        p->i++;
        return 0;
    }
    it_json **tail = &v->child;
    for (;;) {
        const char *key = NULL;
        size_t key_len = 0;
        jp_ws(p);
        if (obj) {
            if (p->i >= p->n || p->s[p->i] != '"') return jp_fail(p, "expected a key");
            if ((st = jp_string(p, &key, &key_len))) return st;
            jp_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') return jp_fail(p, "expected ':'");
            p->i++;
        }
        it_json *ch = NULL;
        if ((st = jp_value(p, &ch, depth + 1))) return st;
        ch->key = key, ch->key_len = key_len;
        *tail = ch;
        tail = &ch->next;
        v->n++;
        jp_ws(p);
        if (p->i >= p->n) return jp_fail(p, "unexpected end");
        if (p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->s[p->i] == (obj ? '}' : ']')) {
            p->i++;
            return 0;
        }
        return jp_fail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

int it_json_parse(const char *text, size_t n, const char *what, it_json_doc *doc, it_err *e) {
    return it_json_parse_at(text, n, what, 0, doc, e);
}

int it_json_parse_at(const char *text, size_t n, const char *what, size_t base, it_json_doc *doc, it_err *e) {
    memset(doc, 0, sizeof *doc);
    it_arena_init(&doc->arena, 1 << 16);
    jp p = {text, n, 0, base, what ? what : "JSON", doc, e};
    if (!text && n) return it_fail(e, INGOT_ERR_INVALID_ARG, "%s: NULL text", p.what);
    int st = jp_value(&p, &doc->root, 0);
    if (!st) {
        jp_ws(&p);
        if (p.i != n) st = jp_fail(&p, "trailing characters after the value");
    }
    if (st) it_json_doc_free(doc);
    return st;
}

void it_json_doc_free(it_json_doc *doc) {
    if (!doc) return;
    it_arena_free(&doc->arena);
    doc->root = NULL;
    doc->n_nodes = 0;
}

const it_json *it_json_get(const it_json *obj, const char *key) {
    if (!obj || obj->type != IT_JSON_OBJECT || !key) return NULL;
    size_t kl = strlen(key);
    for (const it_json *c = obj->child; c; c = c->next)
        if (c->key_len == kl && !memcmp(c->key, key, kl)) return c;
    return NULL;
}

const it_json *it_json_at(const it_json *arr, int64_t i) {
    if (!arr || arr->type != IT_JSON_ARRAY || i < 0 || i >= arr->n) return NULL;
    const it_json *c = arr->child;
    while (c && i-- > 0) c = c->next;
    return c;
}

int it_json_get_int(const it_json *obj, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    const it_json *v = it_json_get(obj, key);
    if (!v || v->type == IT_JSON_NULL) return 1;
    if (v->type != IT_JSON_NUMBER || !v->is_int || v->i < lo || v->i > hi) return -1;
    *out = v->i;
    return 0;
}

int it_json_get_num(const it_json *obj, const char *key, double *out) {
    const it_json *v = it_json_get(obj, key);
    if (!v || v->type == IT_JSON_NULL) return 1;
    if (v->type != IT_JSON_NUMBER || !isfinite(v->num)) return -1;
    *out = v->num;
    return 0;
}

int it_json_get_bool(const it_json *obj, const char *key, int *out) {
    const it_json *v = it_json_get(obj, key);
    if (!v || v->type == IT_JSON_NULL) return 1;
    if (v->type != IT_JSON_BOOL) return -1;
    *out = v->b;
    return 0;
}

int it_json_get_str(const it_json *obj, const char *key, const char **out) {
    const it_json *v = it_json_get(obj, key);
    if (!v || v->type == IT_JSON_NULL) return 1;
    if (v->type != IT_JSON_STRING) return -1;
    *out = v->s;
    return 0;
}

int it_read_file(const char *path, size_t max, char **out, size_t *len, it_err *e) {
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return it_fail(e, INGOT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    int st = 0;
    char *buf = NULL;
    if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode)) {
        st = it_fail(e, INGOT_ERR_IO, "%s: not a regular file", path);
        goto done;
    }
    if ((uint64_t)sb.st_size > max) {
        st = it_fail(e, INGOT_ERR_LIMIT, "%s: %lld bytes exceed the limit of %zu", path, (long long)sb.st_size, max);
        goto done;
    }
    size_t n = (size_t)sb.st_size;
    buf = malloc(n + 1);
    if (!buf) {
        st = it_fail(e, INGOT_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if (n && fread(buf, 1, n, f) != n) {
        st = it_fail(e, INGOT_ERR_IO, "%s: read failed", path);
        free(buf);
        buf = NULL;
        goto done;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
done:
    fclose(f);
    return st;
}
