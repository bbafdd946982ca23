/*
 * value.c: values of the chat-template interpreter and the per-render arena they live
 * in; Python-compatible printing (str() of none, bools, floats, lists and dicts, the way
 * Jinja prints them) and json.dumps-compatible serialization for the tojson filter
 * (ensure_ascii off, separators and indent as Python's json module uses them).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/jinja/jinja_int.h"

struct jchunk {
    jchunk *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
};

_Noreturn void jerr(jctx *x, int line, int col, int status, const char *fmt, ...) {
    if (x->err && x->errlen) {
        size_t o = 0;
        if (line > 0) {
            int k = snprintf(x->err, x->errlen, "template line %d, column %d: ", line, col);
            o = k > 0 ? ((size_t)k < x->errlen ? (size_t)k : x->errlen - 1) : 0;
        }
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(x->err + o, x->errlen - o, fmt, ap);
        va_end(ap);
    }
    x->status = status;
    longjmp(x->jb, 1);
}

void *jalloc(jctx *x, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    jchunk *c = x->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > (64u << 10) ? n : (64u << 10);
        if (x->used_bytes + cap > IT_JINJA_MAX_MEMORY)
            jerr(x, 0, 0, -7, "the template needs more than %u MiB of memory", IT_JINJA_MAX_MEMORY >> 20);
        jchunk *nc = malloc(sizeof *nc + cap);
        if (!nc) jerr(x, 0, 0, -2, "out of memory");
        nc->cap = cap, nc->used = 0, nc->next = x->chunks;
        x->chunks = nc;
        x->used_bytes += cap;
        c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

void jarena_free(jctx *x) {
    for (jchunk *c = x->chunks, *n; c; c = n) n = c->next, free(c);
    x->chunks = NULL;
}

char *jstrdup(jctx *x, const char *s, size_t n) {
    char *p = jalloc(x, n + 1);
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

jv jv_str(jctx *x, const char *s, size_t n) {
    jv v = {.t = JV_STR};
    v.u.s.p = jstrdup(x, s, n);
    v.u.s.n = n;
    return v;
}
jv jv_cstr(const char *s) {
    jv v = {.t = JV_STR};
    v.u.s.p = s;
    v.u.s.n = strlen(s);
    return v;
}
jv jv_int(int64_t i) {
    jv v = {.t = JV_INT};
    v.u.i = i;
    return v;
}
jv jv_float(double f) {
    jv v = {.t = JV_FLOAT};
    v.u.f = f;
    return v;
}
jv jv_bool(int b) {
    jv v = {.t = JV_BOOL};
    v.u.b = !!b;
    return v;
}
jv jv_none(void) {
    jv v = {.t = JV_NONE};
    return v;
}
jv jv_undef(void) {
    jv v = {.t = JV_UNDEF};
    return v;
}
jv jv_newlist(jctx *x) {
    jv v = {.t = JV_LIST};
    v.u.l = jalloc(x, sizeof *v.u.l);
    return v;
}
jv jv_newdict(jctx *x) {
    jv v = {.t = JV_DICT};
    v.u.d = jalloc(x, sizeof *v.u.d);
    return v;
}

void jlist_push(jctx *x, jlist *l, jv v) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        jv *nv = jalloc(x, cap * sizeof *nv);
        if (l->n) memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv, l->cap = cap;
    }
    l->v[l->n++] = v;
}

int jdict_getv(const jdict *d, jv k, jv *out) {
    for (size_t i = 0; i < d->n; i++)
        if (jv_equal(d->k[i], k)) {
            if (out) *out = d->v[i];
            return 1;
        }
    return 0;
}

int jdict_get(const jdict *d, const char *k, size_t kn, jv *out) {
    for (size_t i = 0; i < d->n; i++)
        if (d->k[i].t == JV_STR && d->k[i].u.s.n == kn && !memcmp(d->k[i].u.s.p, k, kn)) {
            if (out) *out = d->v[i];
            return 1;
        }
    return 0;
}

void jdict_set(jctx *x, jdict *d, jv k, jv v) {
    for (size_t i = 0; i < d->n; i++)
        if (jv_equal(d->k[i], k)) {
            d->v[i] = v;
            return;
        }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        jv *nk = jalloc(x, cap * sizeof *nk), *nv = jalloc(x, cap * sizeof *nv);
        if (d->n) memcpy(nk, d->k, d->n * sizeof *nk), memcpy(nv, d->v, d->n * sizeof *nv);
        d->k = nk, d->v = nv, d->cap = cap;
    }
    d->k[d->n] = k, d->v[d->n] = v, d->n++;
}

int jv_truthy(jv v) {
    switch (v.t) {
    case JV_BOOL: return v.u.b;
    case JV_INT: return v.u.i != 0;
    case JV_FLOAT: return v.u.f != 0;
    case JV_STR: return v.u.s.n != 0;
    case JV_LIST: return v.u.l->n != 0;
    case JV_DICT: return v.u.d->n != 0;
    case JV_NS:
    case JV_MACRO: return 1;
    default: return 0;
    }
}

static int is_num(jv v) { return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL; }
static double num(jv v) { return v.t == JV_FLOAT ? v.u.f : v.t == JV_INT ? (double)v.u.i : (double)v.u.b; }

int jv_equal(jv a, jv b) {
    if (is_num(a) && is_num(b)) {
        if (a.t != JV_FLOAT && b.t != JV_FLOAT) {
            int64_t x = a.t == JV_INT ? a.u.i : a.u.b, y = b.t == JV_INT ? b.u.i : b.u.b;
            return x == y;
        }
        return num(a) == num(b);
    }
    if (a.t != b.t) return 0;
    switch (a.t) {
    case JV_UNDEF:
    case JV_NONE: return 1;
    case JV_STR: return a.u.s.n == b.u.s.n && !memcmp(a.u.s.p, b.u.s.p, a.u.s.n);
    case JV_LIST:
        if (a.u.l->n != b.u.l->n) return 0;
        for (size_t i = 0; i < a.u.l->n; i++)
            if (!jv_equal(a.u.l->v[i], b.u.l->v[i])) return 0;
        return 1;
    case JV_DICT:
        if (a.u.d->n != b.u.d->n) return 0;
        for (size_t i = 0; i < a.u.d->n; i++) {
            jv o;
            if (!jdict_getv(b.u.d, a.u.d->k[i], &o) || !jv_equal(a.u.d->v[i], o)) return 0;
        }
        return 1;
    case JV_NS: return a.u.d == b.u.d;
    case JV_MACRO: return a.u.m == b.u.m;
    }
    return 0;
}

const char *jv_typename(jv v) {
    static const char *const names[] = {"undefined", "none", "bool", "int", "float", "string", "list", "dict",
                                        "namespace", "macro"};
    return v.t >= 0 && v.t <= JV_MACRO ? names[v.t] : "?";
}

void jbuf_put(jctx *x, jbuf *b, const char *s, size_t n) {
    if (n > b->cap - b->n) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->n < n) {
            if (cap > IT_JINJA_MAX_OUTPUT) jerr(x, 0, 0, -7, "a string is longer than %u bytes", IT_JINJA_MAX_OUTPUT);
            cap *= 2;
        }
        char *p = jalloc(x, cap);
        if (b->n) memcpy(p, b->p, b->n);
        b->p = p, b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void put_s(jctx *x, jbuf *b, const char *s) { jbuf_put(x, b, s, strlen(s)); }

static void put_float(jctx *x, jbuf *b, double f) {
    char t[40];
    if (isnan(f)) {
        put_s(x, b, "nan");
        return;
    }
    if (isinf(f)) {
        put_s(x, b, f > 0 ? "inf" : "-inf");
        return;
    }
    /* Python repr: the shortest form that round-trips, with ".0" for integral values */
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(t, sizeof t, "%.*g", prec, f);
        if (strtod(t, NULL) == f) break;
    }
    if (!strchr(t, '.') && !strchr(t, 'e') && !strchr(t, 'n') && !strchr(t, 'i')) strcat(t, ".0");
    put_s(x, b, t);
}

static void put_pyrepr_str(jctx *x, jbuf *b, jv s) {
    int dq = memchr(s.u.s.p, '\'', s.u.s.n) && !memchr(s.u.s.p, '"', s.u.s.n);
    char q = dq ? '"' : '\'';
    jbuf_put(x, b, &q, 1);
    for (size_t i = 0; i < s.u.s.n; i++) {
        unsigned char c = (unsigned char)s.u.s.p[i];
        char t[8];
        if (c == '\\') put_s(x, b, "\\\\");
        else if (c == (unsigned char)q) jbuf_put(x, b, "\\", 1), jbuf_put(x, b, &q, 1);
        else if (c == '\n') put_s(x, b, "\\n");
        else if (c == '\r') put_s(x, b, "\\r");
        else if (c == '\t') put_s(x, b, "\\t");
        else if (c < 0x20 || c == 0x7f) snprintf(t, sizeof t, "\\x%02x", c), put_s(x, b, t);
        else jbuf_put(x, b, (const char *)&c, 1);
    }
    jbuf_put(x, b, &q, 1);
}

static void put_repr(jctx *x, jbuf *b, jv v, int level) {
    if (level > IT_JINJA_MAX_DEPTH) jerr(x, 0, 0, -7, "a value is nested deeper than %d levels", IT_JINJA_MAX_DEPTH);
    if (v.t == JV_STR) {
        put_pyrepr_str(x, b, v);
        return;
    }
    if (v.t == JV_LIST) {
        put_s(x, b, "[");
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) put_s(x, b, ", ");
            put_repr(x, b, v.u.l->v[i], level + 1);
        }
        put_s(x, b, "]");
        return;
    }
    if (v.t == JV_DICT) {
        put_s(x, b, "{");
        for (size_t i = 0; i < v.u.d->n; i++) {
            if (i) put_s(x, b, ", ");
            put_repr(x, b, v.u.d->k[i], level + 1);
            put_s(x, b, ": ");
            put_repr(x, b, v.u.d->v[i], level + 1);
        }
        put_s(x, b, "}");
        return;
    }
    jv_to_str(x, b, v);
}

void jv_to_str(jctx *x, jbuf *b, jv v) {
    char t[32];
    switch (v.t) {
    case JV_UNDEF: return;
    case JV_NONE: put_s(x, b, "None"); return;
    case JV_BOOL: put_s(x, b, v.u.b ? "True" : "False"); return;
    case JV_INT: snprintf(t, sizeof t, "%lld", (long long)v.u.i), put_s(x, b, t); return;
    case JV_FLOAT: put_float(x, b, v.u.f); return;
    case JV_STR: jbuf_put(x, b, v.u.s.p, v.u.s.n); return;
    case JV_LIST:
    case JV_DICT: put_repr(x, b, v, 0); return;
    case JV_NS: put_s(x, b, "<Namespace>"); return;
    case JV_MACRO: put_s(x, b, "<Macro>"); return;
    }
}

jv jv_stringify(jctx *x, jv v) {
    if (v.t == JV_STR) return v;
    jbuf b = {0};
    jv_to_str(x, &b, v);
    jv r = {.t = JV_STR};
    r.u.s.p = b.p ? b.p : "";
    r.u.s.n = b.n;
    return r;
}

static void put_json_str(jctx *x, jbuf *b, const char *s, size_t n) {
    put_s(x, b, "\"");
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char t[8];
        if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c == '\n') esc = "\\n";
        else if (c == '\r') esc = "\\r";
        else if (c == '\t') esc = "\\t";
        else if (c == '\b') esc = "\\b";
        else if (c == '\f') esc = "\\f";
        else if (c < 0x20) snprintf(t, sizeof t, "\\u%04x", c), esc = t;
        if (esc) {
            jbuf_put(x, b, s + i - run, run);
            run = 0;
            put_s(x, b, esc);
        } else {
            run++;
        }
    }
    jbuf_put(x, b, s + n - run, run);
    put_s(x, b, "\"");
}

static void put_indent(jctx *x, jbuf *b, int indent, int level) {
    put_s(x, b, "\n");
    for (int i = 0; i < indent * level; i++) put_s(x, b, " ");
}

static int key_cmp(const jdict *d, size_t a, size_t b) {
    jv ka = d->k[a], kb = d->k[b];
    if (ka.t == JV_STR && kb.t == JV_STR) {
        size_t n = ka.u.s.n < kb.u.s.n ? ka.u.s.n : kb.u.s.n;
        int c = memcmp(ka.u.s.p, kb.u.s.p, n);
        return c ? c : (ka.u.s.n > kb.u.s.n) - (ka.u.s.n < kb.u.s.n);
    }
    return 0;
}

void jv_to_json(jctx *x, jbuf *b, jv v, int indent, int sort_keys, int level) {
    if (level > IT_JINJA_MAX_DEPTH) jerr(x, 0, 0, -7, "a value is nested deeper than %d levels", IT_JINJA_MAX_DEPTH);
    char t[32];
    switch (v.t) {
    case JV_UNDEF:
    case JV_NONE: put_s(x, b, "null"); return;
    case JV_BOOL: put_s(x, b, v.u.b ? "true" : "false"); return;
    case JV_INT: snprintf(t, sizeof t, "%lld", (long long)v.u.i), put_s(x, b, t); return;
    case JV_FLOAT:
        if (isnan(v.u.f)) put_s(x, b, "NaN");
        else if (isinf(v.u.f)) put_s(x, b, v.u.f > 0 ? "Infinity" : "-Infinity");
        else put_float(x, b, v.u.f);
        return;
    case JV_STR: put_json_str(x, b, v.u.s.p, v.u.s.n); return;
    case JV_LIST:
        if (v.u.l->n == 0) {
            put_s(x, b, "[]");
            return;
        }
        put_s(x, b, "[");
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) put_s(x, b, indent >= 0 ? "," : ", ");
            if (indent >= 0) put_indent(x, b, indent, level + 1);
            jv_to_json(x, b, v.u.l->v[i], indent, sort_keys, level + 1);
        }
        if (indent >= 0) put_indent(x, b, indent, level);
        put_s(x, b, "]");
        return;
    case JV_DICT:
    case JV_NS: {
        const jdict *d = v.u.d;
        if (d->n == 0) {
            put_s(x, b, "{}");
            return;
        }
        size_t *ord = jalloc(x, d->n * sizeof *ord);
        for (size_t i = 0; i < d->n; i++) ord[i] = i;
        if (sort_keys) /* insertion sort: dicts in templates are small */
            for (size_t i = 1; i < d->n; i++)
                for (size_t j = i; j > 0 && key_cmp(d, ord[j - 1], ord[j]) > 0; j--) {
                    size_t tmp = ord[j];
                    ord[j] = ord[j - 1], ord[j - 1] = tmp;
                }
        put_s(x, b, "{");
        for (size_t i = 0; i < d->n; i++) {
            if (i) put_s(x, b, indent >= 0 ? "," : ", ");
            if (indent >= 0) put_indent(x, b, indent, level + 1);
            jv k = d->k[ord[i]];
            if (k.t == JV_STR) put_json_str(x, b, k.u.s.p, k.u.s.n);
            else {
                jv ks = jv_stringify(x, k);
                if (k.t == JV_BOOL) ks = jv_cstr(k.u.b ? "true" : "false");
                if (k.t == JV_NONE) ks = jv_cstr("null");
                put_json_str(x, b, ks.u.s.p, ks.u.s.n);
            }
            put_s(x, b, ": ");
            jv_to_json(x, b, d->v[ord[i]], indent, sort_keys, level + 1);
        }
        if (indent >= 0) put_indent(x, b, indent, level);
        put_s(x, b, "}");
        return;
    }
    case JV_MACRO: jerr(x, 0, 0, -4, "a macro is not JSON serializable");
    }
}
