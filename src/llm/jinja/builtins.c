/*
 * builtins.c: filters, tests and methods of the chat-template interpreter, with the
 * semantics of Jinja's built-ins and Python's str/dict methods as chat templates use
 * them: trim/strip, upper/lower/title/capitalize, length/count, tojson (indent,
 * sort_keys; no HTML escaping, non-ASCII kept, as transformers' tojson), join, default,
 * first/last, replace, string/int/float/list, map, select/reject/selectattr/rejectattr,
 * items, reverse, sort, unique, abs, indent, safe, escape; the tests defined, none,
 * string, number, mapping, iterable, sequence, boolean, true/false, comparisons, in,
 * odd/even/divisibleby; str.startswith/endswith/split/strip/replace/upper/lower/title/
 * find/count/join, dict.get/items/keys/values. Unknown names are errors naming them.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/jinja/builtins.h"

static int py_space(unsigned char c) { return c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x1f); }

static jv need_str(jctx *x, const jnode *at, jv v, const char *what) {
    if (v.t != JV_STR) JERR_AT(x, at, "%s needs a string, not %s", what, jv_typename(v));
    return v;
}

/* strip chars (NULL: whitespace) from the left (1), right (2) or both (3) */
static jv strip(jctx *x, const jnode *at, jv s, jv chars, int side) {
    s = need_str(x, at, s, "strip");
    size_t b = 0, e = s.u.s.n;
    const char *cs = NULL;
    size_t cn = 0;
    if (chars.t == JV_STR) cs = chars.u.s.p, cn = chars.u.s.n;
    else if (chars.t != JV_UNDEF && chars.t != JV_NONE) JERR_AT(x, at, "strip characters must be a string");
#define IN_SET(c) (cs ? memchr(cs, (c), cn) != NULL : py_space((unsigned char)(c)))
    if (side & 1)
        while (b < e && IN_SET(s.u.s.p[b])) b++;
    if (side & 2)
        while (e > b && IN_SET(s.u.s.p[e - 1])) e--;
#undef IN_SET
    jv r = {.t = JV_STR};
    r.u.s.p = s.u.s.p + b, r.u.s.n = e - b;
    return r;
}

static jv map_case(jctx *x, jv s, int mode) { /* 0 lower, 1 upper, 2 py title, 3 capitalize, 4 jinja title */
    char *p = jstrdup(x, s.u.s.p, s.u.s.n);
    int prev_alpha = 0;
    for (size_t i = 0; i < s.u.s.n; i++) {
        unsigned char c = (unsigned char)p[i];
        int alpha = isalpha(c) != 0;
        if (mode == 0) p[i] = (char)tolower(c);
        else if (mode == 1) p[i] = (char)toupper(c);
        else if (mode == 2) p[i] = (char)(alpha ? (prev_alpha ? tolower(c) : toupper(c)) : c);
        else if (mode == 3) p[i] = (char)(i == 0 ? toupper(c) : tolower(c));
        else { /* jinja title: words start after whitespace, '-', brackets */
            int start = i == 0 || py_space((unsigned char)s.u.s.p[i - 1]) || strchr("-([{<", s.u.s.p[i - 1]);
            p[i] = (char)(start ? toupper(c) : tolower(c));
        }
        prev_alpha = alpha || (c >= 0x80 && prev_alpha);
    }
    jv r = {.t = JV_STR};
    r.u.s.p = p, r.u.s.n = s.u.s.n;
    return r;
}

static jv replace(jctx *x, const jnode *at, jv s, jv old, jv rep, jv count) {
    s = need_str(x, at, s, "replace");
    old = jv_stringify(x, old), rep = jv_stringify(x, rep);
    int64_t max = count.t == JV_INT ? count.u.i : -1;
    jbuf b = {0};
    size_t i = 0;
    int64_t done = 0;
    if (old.u.s.n == 0) { /* Python inserts rep between characters */
        size_t cnt;
        jlist *ch = jstr_chars(x, s).u.l;
        cnt = ch->n;
        for (size_t k = 0; k <= cnt; k++) {
            if (max < 0 || done < max) jbuf_put(x, &b, rep.u.s.p, rep.u.s.n), done++;
            if (k < cnt) jbuf_put(x, &b, ch->v[k].u.s.p, ch->v[k].u.s.n);
        }
        return jv_str(x, b.p ? b.p : "", b.n);
    }
    while (i < s.u.s.n) {
        if ((max < 0 || done < max) && s.u.s.n - i >= old.u.s.n && !memcmp(s.u.s.p + i, old.u.s.p, old.u.s.n)) {
            jbuf_put(x, &b, rep.u.s.p, rep.u.s.n);
            i += old.u.s.n, done++;
        } else {
            jbuf_put(x, &b, s.u.s.p + i, 1), i++;
        }
    }
    return jv_str(x, b.p ? b.p : "", b.n);
}

static jv split(jctx *x, const jnode *at, jv s, jv sep, jv maxsplit) {
    s = need_str(x, at, s, "split");
    int64_t max = maxsplit.t == JV_INT ? maxsplit.u.i : -1;
    jv l = jv_newlist(x);
    if (sep.t == JV_UNDEF || sep.t == JV_NONE) { /* runs of whitespace */
        size_t i = 0;
        int64_t done = 0;
        while (i < s.u.s.n) {
            while (i < s.u.s.n && py_space((unsigned char)s.u.s.p[i])) i++;
            if (i >= s.u.s.n) break;
            size_t b = i;
            if (max >= 0 && done >= max) {
                size_t e = s.u.s.n;
                while (e > b && py_space((unsigned char)s.u.s.p[e - 1])) e--;
                jlist_push(x, l.u.l, jv_str(x, s.u.s.p + b, e - b));
                break;
            }
            while (i < s.u.s.n && !py_space((unsigned char)s.u.s.p[i])) i++;
            jlist_push(x, l.u.l, jv_str(x, s.u.s.p + b, i - b));
            done++;
        }
        return l;
    }
    sep = need_str(x, at, sep, "split's separator");
    if (sep.u.s.n == 0) JERR_AT(x, at, "split: empty separator");
    size_t b = 0, i = 0;
    int64_t done = 0;
    while (i + sep.u.s.n <= s.u.s.n) {
        if ((max < 0 || done < max) && !memcmp(s.u.s.p + i, sep.u.s.p, sep.u.s.n)) {
            jlist_push(x, l.u.l, jv_str(x, s.u.s.p + b, i - b));
            i += sep.u.s.n, b = i, done++;
        } else {
            i++;
        }
    }
    jlist_push(x, l.u.l, jv_str(x, s.u.s.p + b, s.u.s.n - b));
    return l;
}

static int affix(jctx *x, const jnode *at, jv s, jv p, int end) {
    s = need_str(x, at, s, end ? "endswith" : "startswith");
    if (p.t == JV_LIST) {
        for (size_t i = 0; i < p.u.l->n; i++)
            if (affix(x, at, s, p.u.l->v[i], end)) return 1;
        return 0;
    }
    p = need_str(x, at, p, end ? "endswith" : "startswith");
    if (p.u.s.n > s.u.s.n) return 0;
    return !memcmp(s.u.s.p + (end ? s.u.s.n - p.u.s.n : 0), p.u.s.p, p.u.s.n);
}

static jv html_escape(jctx *x, jv s) {
    jbuf b = {0};
    for (size_t i = 0; i < s.u.s.n; i++) {
        char c = s.u.s.p[i];
        const char *e = c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '"' ? "&#34;"
                      : c == '\'' ? "&#39;" : NULL;
        if (e) jbuf_put(x, &b, e, strlen(e));
        else jbuf_put(x, &b, &c, 1);
    }
    return jv_str(x, b.p ? b.p : "", b.n);
}

static jv join(jctx *x, const jnode *at, jv v, jv sep, jv attr) {
    jlist *l = jiter_items(x, at, v);
    jv sp = sep.t == JV_UNDEF ? jv_cstr("") : jv_stringify(x, sep);
    jbuf b = {0};
    jstep(x, at, (int64_t)l->n);
    for (size_t i = 0; i < l->n; i++) {
        if (i) jbuf_put(x, &b, sp.u.s.p, sp.u.s.n);
        jv it = l->v[i];
        if (attr.t == JV_STR) it = jget_attr(x, at, it, jstrdup(x, attr.u.s.p, attr.u.s.n));
        jv_to_str(x, &b, it);
    }
    return jv_str(x, b.p ? b.p : "", b.n);
}

/* an attribute path "a.b" of v (undefined when missing) */
static jv attr_path(jctx *x, const jnode *at, jv v, jv path) {
    path = need_str(x, at, path, "attribute");
    size_t b = 0;
    for (size_t i = 0; i <= path.u.s.n; i++) {
        if (i < path.u.s.n && path.u.s.p[i] != '.') continue;
        if (v.t == JV_UNDEF) return v;
        const char *nm = jstrdup(x, path.u.s.p + b, i - b);
        char *e;
        long idx = strtol(nm, &e, 10);
        if (*nm && !*e && v.t == JV_LIST) v = (idx >= 0 && (size_t)idx < v.u.l->n) ? v.u.l->v[idx] : jv_undef();
        else v = jget_attr(x, at, v, nm);
        b = i + 1;
    }
    return v;
}

static jargs shift_args(const jargs *a, int k) { /* drop the first k positional arguments */
    jargs r = *a;
    r.n = a->n > k ? a->n - k : 0;
    for (int i = 0; i < r.n; i++) r.v[i] = a->v[i + k];
    return r;
}

static jv select_common(jctx *x, const jnode *at, jv v, const jargs *a, int use_attr, int keep) {
    jlist *l = jiter_items(x, at, v);
    jv r = jv_newlist(x);
    jstep(x, at, (int64_t)l->n);
    int first_test = use_attr ? 1 : 0;
    jv tname = jarg(a, first_test, NULL);
    jargs targs = shift_args(a, first_test + 1);
    for (size_t i = 0; i < l->n; i++) {
        jv it = use_attr ? attr_path(x, at, l->v[i], jarg(a, 0, NULL)) : l->v[i];
        int ok;
        if (tname.t == JV_UNDEF) ok = jv_truthy(it);
        else {
            tname = need_str(x, at, tname, "select's test name");
            ok = jtest(x, at, jstrdup(x, tname.u.s.p, tname.u.s.n), it, &targs);
        }
        if (ok == keep) jlist_push(x, r.u.l, l->v[i]);
    }
    return r;
}

static int cmp_vals(jctx *x, const jnode *at, jv a, jv b) { return jcompare(x, at, a, b); }

static int64_t to_int(jctx *x, jv v, int64_t def, int *ok) {
    *ok = 1;
    if (v.t == JV_INT) return v.u.i;
    if (v.t == JV_BOOL) return v.u.b;
    if (v.t == JV_FLOAT && isfinite(v.u.f) && fabs(v.u.f) < 9.2e18) return (int64_t)v.u.f;
    if (v.t == JV_STR) {
        char *s = jstrdup(x, v.u.s.p, v.u.s.n), *e;
        while (py_space((unsigned char)*s)) s++;
        long long r = strtoll(s, &e, 10);
        if (e != s) {
            while (py_space((unsigned char)*e)) e++;
            if (!*e) return r;
        }
        double d = strtod(s, &e);
        if (e != s && isfinite(d) && fabs(d) < 9.2e18) {
            while (py_space((unsigned char)*e)) e++;
            if (!*e) return (int64_t)d;
        }
    }
    *ok = 0;
    return def;
}

jv jfilter(jctx *x, jscope *s, const jnode *at, const char *f, jv v, const jargs *a) {
    (void)s;
    if (!strcmp(f, "trim") || !strcmp(f, "strip")) return strip(x, at, jv_stringify(x, v), jarg(a, 0, "chars"), 3);
    if (!strcmp(f, "lstrip")) return strip(x, at, jv_stringify(x, v), jarg(a, 0, "chars"), 1);
    if (!strcmp(f, "rstrip")) return strip(x, at, jv_stringify(x, v), jarg(a, 0, "chars"), 2);
    if (!strcmp(f, "upper")) return map_case(x, jv_stringify(x, v), 1);
    if (!strcmp(f, "lower")) return map_case(x, jv_stringify(x, v), 0);
    if (!strcmp(f, "title")) return map_case(x, jv_stringify(x, v), 4);
    if (!strcmp(f, "capitalize")) return map_case(x, jv_stringify(x, v), 3);
    if (!strcmp(f, "length") || !strcmp(f, "count")) {
        if (v.t == JV_STR) return jv_int((int64_t)jstr_len(v));
        if (v.t == JV_LIST) return jv_int((int64_t)v.u.l->n);
        if (v.t == JV_DICT || v.t == JV_NS) return jv_int((int64_t)v.u.d->n);
        if (v.t == JV_UNDEF) return jv_int(0);
        JERR_AT(x, at, "object of type %s has no length", jv_typename(v));
    }
    if (!strcmp(f, "tojson")) {
        jv ind = jarg(a, -1, "indent"), sk = jarg(a, -1, "sort_keys");
        int indent = -1;
        if (ind.t == JV_INT) indent = ind.u.i < 0 ? 0 : ind.u.i > 32 ? 32 : (int)ind.u.i;
        else if (ind.t != JV_UNDEF && ind.t != JV_NONE) JERR_AT(x, at, "tojson: indent must be an integer");
        jbuf b = {0};
        jv_to_json(x, &b, v, indent, jv_truthy(sk), 0);
        return jv_str(x, b.p ? b.p : "", b.n);
    }
    if (!strcmp(f, "join")) return join(x, at, v, jarg(a, 0, "d"), jarg(a, 1, "attribute"));
    if (!strcmp(f, "default") || !strcmp(f, "d")) {
        jv def = jarg(a, 0, "default_value"), boolean = jarg(a, 1, "boolean");
        if (v.t == JV_UNDEF || (jv_truthy(boolean) && !jv_truthy(v))) return def.t == JV_UNDEF ? jv_cstr("") : def;
        return v;
    }
    if (!strcmp(f, "first") || !strcmp(f, "last")) {
        jlist *l = jiter_items(x, at, v);
        if (!l->n) return jv_undef();
        return f[0] == 'f' ? l->v[0] : l->v[l->n - 1];
    }
    if (!strcmp(f, "replace"))
        return replace(x, at, jv_stringify(x, v), jarg(a, 0, "old"), jarg(a, 1, "new"), jarg(a, 2, "count"));
    if (!strcmp(f, "string")) return jv_stringify(x, v);
    if (!strcmp(f, "safe")) return v;
    if (!strcmp(f, "e") || !strcmp(f, "escape")) return html_escape(x, jv_stringify(x, v));
    if (!strcmp(f, "int")) {
        jv def = jarg(a, 0, "default");
        int ok;
        int64_t r = to_int(x, v, 0, &ok);
        return ok ? jv_int(r) : (def.t == JV_UNDEF ? jv_int(0) : def);
    }
    if (!strcmp(f, "float")) {
        jv def = jarg(a, 0, "default");
        if (v.t == JV_FLOAT) return v;
        if (v.t == JV_INT || v.t == JV_BOOL) return jv_float(v.t == JV_INT ? (double)v.u.i : v.u.b);
        if (v.t == JV_STR) {
            char *p = jstrdup(x, v.u.s.p, v.u.s.n), *e;
            double d = strtod(p, &e);
            while (py_space((unsigned char)*e)) e++;
            if (e != p && !*e) return jv_float(d);
        }
        return def.t == JV_UNDEF ? jv_float(0) : def;
    }
    if (!strcmp(f, "abs")) {
        if (v.t == JV_INT) return v.u.i == INT64_MIN ? jv_float(9.223372036854775808e18) : jv_int(v.u.i < 0 ? -v.u.i : v.u.i);
        if (v.t == JV_FLOAT) return jv_float(fabs(v.u.f));
        JERR_AT(x, at, "abs needs a number, not %s", jv_typename(v));
    }
    if (!strcmp(f, "list")) {
        jlist *l = jiter_items(x, at, v);
        jv r = jv_newlist(x);
        for (size_t i = 0; i < l->n; i++) jlist_push(x, r.u.l, l->v[i]);
        return r;
    }
    if (!strcmp(f, "reverse")) {
        if (v.t == JV_STR) {
            jlist *l = jstr_chars(x, v).u.l;
            jbuf b = {0};
            for (size_t i = l->n; i > 0; i--) jbuf_put(x, &b, l->v[i - 1].u.s.p, l->v[i - 1].u.s.n);
            return jv_str(x, b.p ? b.p : "", b.n);
        }
        jlist *l = jiter_items(x, at, v);
        jv r = jv_newlist(x);
        for (size_t i = l->n; i > 0; i--) jlist_push(x, r.u.l, l->v[i - 1]);
        return r;
    }
    if (!strcmp(f, "items")) {
        jv r = jv_newlist(x);
        if (v.t == JV_UNDEF) return r;
        if (v.t != JV_DICT && v.t != JV_NS) JERR_AT(x, at, "items needs a dict, not %s", jv_typename(v));
        for (size_t i = 0; i < v.u.d->n; i++) {
            jv p = jv_newlist(x);
            jlist_push(x, p.u.l, v.u.d->k[i]), jlist_push(x, p.u.l, v.u.d->v[i]);
            jlist_push(x, r.u.l, p);
        }
        return r;
    }
    if (!strcmp(f, "map")) {
        jlist *l = jiter_items(x, at, v);
        jv r = jv_newlist(x);
        jstep(x, at, (int64_t)l->n);
        jv attr = jarg(a, -1, "attribute");
        if (attr.t != JV_UNDEF) {
            jv def = jarg(a, -1, "default");
            for (size_t i = 0; i < l->n; i++) {
                jv it = attr_path(x, at, l->v[i], attr);
                jlist_push(x, r.u.l, it.t == JV_UNDEF && def.t != JV_UNDEF ? def : it);
            }
            return r;
        }
        jv fname = need_str(x, at, jarg(a, 0, NULL), "map's filter name");
        jargs fa = shift_args(a, 1);
        const char *fn = jstrdup(x, fname.u.s.p, fname.u.s.n);
        for (size_t i = 0; i < l->n; i++) jlist_push(x, r.u.l, jfilter(x, s, at, fn, l->v[i], &fa));
        return r;
    }
    if (!strcmp(f, "select")) return select_common(x, at, v, a, 0, 1);
    if (!strcmp(f, "reject")) return select_common(x, at, v, a, 0, 0);
    if (!strcmp(f, "selectattr")) return select_common(x, at, v, a, 1, 1);
    if (!strcmp(f, "rejectattr")) return select_common(x, at, v, a, 1, 0);
    if (!strcmp(f, "unique")) {
        jlist *l = jiter_items(x, at, v);
        jv r = jv_newlist(x);
        jstep(x, at, (int64_t)l->n);
        for (size_t i = 0; i < l->n; i++) {
            int seen = 0;
            for (size_t k = 0; k < r.u.l->n && !seen; k++) seen = jv_equal(r.u.l->v[k], l->v[i]);
            if (!seen) jlist_push(x, r.u.l, l->v[i]);
        }
        return r;
    }
    if (!strcmp(f, "sort")) {
        jlist *l = jiter_items(x, at, v);
        jv r = jv_newlist(x);
        jv rev = jarg(a, 0, "reverse"), attr = jarg(a, 2, "attribute");
        jstep(x, at, (int64_t)l->n);
        for (size_t i = 0; i < l->n; i++) jlist_push(x, r.u.l, l->v[i]);
        jv *e = r.u.l->v;
        for (size_t i = 1; i < r.u.l->n; i++) /* stable insertion sort */
            for (size_t j = i; j > 0; j--) {
                jv p = e[j - 1], q = e[j];
                jv kp = attr.t == JV_UNDEF ? p : attr_path(x, at, p, attr);
                jv kq = attr.t == JV_UNDEF ? q : attr_path(x, at, q, attr);
                int c = cmp_vals(x, at, kp, kq);
                if (jv_truthy(rev) ? c >= 0 : c <= 0) break;
                e[j - 1] = q, e[j] = p;
                jstep(x, at, 1);
            }
        return r;
    }
    if (!strcmp(f, "indent")) {
        jv w = jarg(a, 0, "width"), first = jarg(a, 1, "first"), blank = jarg(a, 2, "blank");
        jv pad = w.t == JV_STR ? w : jv_undef();
        jbuf pb = {0};
        if (pad.t == JV_UNDEF) {
            int64_t n = w.t == JV_INT ? w.u.i : 4;
            for (int64_t i = 0; i < n && i < 256; i++) jbuf_put(x, &pb, " ", 1);
            pad = jv_str(x, pb.p ? pb.p : "", pb.n);
        }
        v = jv_stringify(x, v);
        jbuf b = {0};
        int line_start = 1;
        for (size_t i = 0; i < v.u.s.n; i++) {
            if (line_start && (i > 0 || jv_truthy(first))) {
                int blank_line = v.u.s.p[i] == '\n';
                if (!blank_line || jv_truthy(blank)) jbuf_put(x, &b, pad.u.s.p, pad.u.s.n);
            }
            jbuf_put(x, &b, v.u.s.p + i, 1);
            line_start = v.u.s.p[i] == '\n';
        }
        return jv_str(x, b.p ? b.p : "", b.n);
    }
    JERR_AT(x, at, "unknown filter '%s'", f);
}

int jtest(jctx *x, const jnode *at, const char *t, jv v, const jargs *a) {
    jv o = jarg(a, 0, NULL);
    if (!strcmp(t, "defined")) return v.t != JV_UNDEF;
    if (!strcmp(t, "undefined")) return v.t == JV_UNDEF;
    if (!strcmp(t, "none")) return v.t == JV_NONE;
    if (!strcmp(t, "string")) return v.t == JV_STR;
    if (!strcmp(t, "number")) return v.t == JV_INT || v.t == JV_FLOAT;
    if (!strcmp(t, "integer")) return v.t == JV_INT;
    if (!strcmp(t, "float")) return v.t == JV_FLOAT;
    if (!strcmp(t, "boolean")) return v.t == JV_BOOL;
    if (!strcmp(t, "true")) return v.t == JV_BOOL && v.u.b;
    if (!strcmp(t, "false")) return v.t == JV_BOOL && !v.u.b;
    if (!strcmp(t, "mapping")) return v.t == JV_DICT || v.t == JV_NS;
    if (!strcmp(t, "iterable")) return v.t == JV_STR || v.t == JV_LIST || v.t == JV_DICT || v.t == JV_NS;
    if (!strcmp(t, "sequence")) return v.t == JV_STR || v.t == JV_LIST || v.t == JV_DICT;
    if (!strcmp(t, "callable")) return v.t == JV_MACRO;
    if (!strcmp(t, "equalto") || !strcmp(t, "eq") || !strcmp(t, "==") || !strcmp(t, "sameas")) return jv_equal(v, o);
    if (!strcmp(t, "ne") || !strcmp(t, "!=")) return !jv_equal(v, o);
    if (!strcmp(t, "lt") || !strcmp(t, "<") || !strcmp(t, "lessthan")) return jcompare(x, at, v, o) < 0;
    if (!strcmp(t, "le") || !strcmp(t, "<=")) return jcompare(x, at, v, o) <= 0;
    if (!strcmp(t, "gt") || !strcmp(t, ">") || !strcmp(t, "greaterthan")) return jcompare(x, at, v, o) > 0;
    if (!strcmp(t, "ge") || !strcmp(t, ">=")) return jcompare(x, at, v, o) >= 0;
    if (!strcmp(t, "in")) return jcontains(x, at, o, v);
    if (!strcmp(t, "odd") || !strcmp(t, "even") || !strcmp(t, "divisibleby")) {
        if (v.t != JV_INT) JERR_AT(x, at, "the '%s' test needs an integer, not %s", t, jv_typename(v));
        int64_t d = !strcmp(t, "divisibleby") ? (o.t == JV_INT ? o.u.i : 0) : 2;
        if (d == 0) JERR_AT(x, at, "divisibleby needs a nonzero integer");
        int64_t m = d == -1 ? 0 : v.u.i % d;
        return t[0] == 'o' ? m != 0 : m == 0;
    }
    if (!strcmp(t, "lower") || !strcmp(t, "upper")) {
        if (v.t != JV_STR) return 0;
        for (size_t i = 0; i < v.u.s.n; i++) {
            unsigned char c = (unsigned char)v.u.s.p[i];
            if (t[0] == 'l' ? isupper(c) : islower(c)) return 0;
        }
        return 1;
    }
    JERR_AT(x, at, "unknown test '%s'", t);
}

jv jmethod(jctx *x, const jnode *at, jv o, const char *m, const jargs *a) {
    if (o.t == JV_STR) {
        if (!strcmp(m, "startswith")) return jv_bool(affix(x, at, o, jarg(a, 0, NULL), 0));
        if (!strcmp(m, "endswith")) return jv_bool(affix(x, at, o, jarg(a, 0, NULL), 1));
        if (!strcmp(m, "split")) return split(x, at, o, jarg(a, 0, "sep"), jarg(a, 1, "maxsplit"));
        if (!strcmp(m, "strip")) return strip(x, at, o, jarg(a, 0, NULL), 3);
        if (!strcmp(m, "lstrip")) return strip(x, at, o, jarg(a, 0, NULL), 1);
        if (!strcmp(m, "rstrip")) return strip(x, at, o, jarg(a, 0, NULL), 2);
        if (!strcmp(m, "replace")) return replace(x, at, o, jarg(a, 0, NULL), jarg(a, 1, NULL), jarg(a, 2, "count"));
        if (!strcmp(m, "upper")) return map_case(x, o, 1);
        if (!strcmp(m, "lower")) return map_case(x, o, 0);
        if (!strcmp(m, "title")) return map_case(x, o, 2);
        if (!strcmp(m, "capitalize")) return map_case(x, o, 3);
        if (!strcmp(m, "find") || !strcmp(m, "count")) {
            jv n = need_str(x, at, jarg(a, 0, NULL), m);
            int64_t cnt = 0;
            for (size_t i = 0; i + n.u.s.n <= o.u.s.n; i++)
                if (!memcmp(o.u.s.p + i, n.u.s.p, n.u.s.n)) {
                    if (m[0] == 'f') {
                        size_t cps = 0;
                        for (size_t k = 0; k < i; k++)
                            if (((unsigned char)o.u.s.p[k] & 0xC0) != 0x80) cps++;
                        return jv_int((int64_t)cps);
                    }
                    cnt++;
                    if (n.u.s.n) i += n.u.s.n - 1;
                }
            return jv_int(m[0] == 'f' ? -1 : cnt);
        }
        if (!strcmp(m, "join")) return join(x, at, jarg(a, 0, NULL), o, jv_undef());
        JERR_AT(x, at, "strings have no method '%s'", m);
    }
    if (o.t == JV_DICT) {
        if (!strcmp(m, "get")) {
            jv r;
            if (jdict_getv(o.u.d, jarg(a, 0, NULL), &r)) return r;
            jv def = jarg(a, 1, NULL);
            return def.t == JV_UNDEF ? jv_none() : def;
        }
        if (!strcmp(m, "items") || !strcmp(m, "keys") || !strcmp(m, "values")) {
            jv r = jv_newlist(x);
            for (size_t i = 0; i < o.u.d->n; i++) {
                if (m[0] == 'k') jlist_push(x, r.u.l, o.u.d->k[i]);
                else if (m[0] == 'v') jlist_push(x, r.u.l, o.u.d->v[i]);
                else {
                    jv p = jv_newlist(x);
                    jlist_push(x, p.u.l, o.u.d->k[i]), jlist_push(x, p.u.l, o.u.d->v[i]);
                    jlist_push(x, r.u.l, p);
                }
            }
            return r;
        }
        JERR_AT(x, at, "dicts have no method '%s'", m);
    }
    JERR_AT(x, at, "%s has no method '%s'", jv_typename(o), m);
}
