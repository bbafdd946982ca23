/*
 * eval.c: the evaluator of the chat-template interpreter: statements (text, output, if,
 * for with loop.* and else, set incl. namespace attributes and block sets, macros,
 * break/continue), expressions with Python/Jinja semantics (truthiness, and/or returning
 * operands, int/float arithmetic, string and list concatenation, comparisons, in,
 * indexing and slicing by code point, attribute lookup that yields undefined), the
 * global functions (range, namespace, dict, raise_exception, strftime_now) and method
 * calls on strings and dicts. Filters and tests live in builtins.c.
 *
 * Scoping follows Jinja: each loop iteration and each macro call gets a fresh scope
 * (assignments inside do not leak out); if-blocks share the enclosing scope; namespace()
 * objects are the way to carry values out of loops. Every loop iteration and macro call
 * counts against IT_JINJA_MAX_STEPS and recursion against IT_JINJA_MAX_EVAL_DEPTH.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "llm/jinja/builtins.h"
#include "llm/jinja/jinja_int.h"

static const jnode BUILTIN_FUNCS[] = {
    {.name = "range"}, {.name = "namespace"}, {.name = "raise_exception"}, {.name = "strftime_now"}, {.name = "dict"},
};

void jstep(jctx *x, const jnode *at, int64_t n) {
    x->steps += n;
    if (x->steps > IT_JINJA_MAX_STEPS)
        jerr(x, at ? at->line : 0, at ? at->col : 0, -7, "the template ran more than %d loop iterations and calls",
             IT_JINJA_MAX_STEPS);
}

static void enter(jctx *x, const jnode *n) {
    if (++x->depth > IT_JINJA_MAX_EVAL_DEPTH)
        jerr(x, n->line, n->col, -7, "the template recurses deeper than %d levels", IT_JINJA_MAX_EVAL_DEPTH);
}

static int lookup(jctx *x, jscope *s, const char *name, jv *out) {
    size_t n = strlen(name);
    for (; s; s = s->parent)
        if (jdict_get(&s->vars, name, n, out)) return 1;
    (void)x;
    return 0;
}

static void set_var(jctx *x, jscope *s, const char *name, jv v) { jdict_set(x, &s->vars, jv_cstr(name), v); }

/* ---------------------------------------------------------------- strings */

/* byte offsets of the code points of s (n+1 entries); *count gets n */
static size_t *cp_offsets(jctx *x, jv s, size_t *count) {
    size_t n = 0;
    for (size_t i = 0; i < s.u.s.n; i++)
        if (((unsigned char)s.u.s.p[i] & 0xC0) != 0x80) n++;
    size_t *o = jalloc(x, (n + 1) * sizeof *o);
    size_t k = 0;
    for (size_t i = 0; i < s.u.s.n; i++)
        if (((unsigned char)s.u.s.p[i] & 0xC0) != 0x80) o[k++] = i;
    o[n] = s.u.s.n;
    *count = n;
    return o;
}

size_t jstr_len(jv s) {
    size_t n = 0;
    for (size_t i = 0; i < s.u.s.n; i++)
        if (((unsigned char)s.u.s.p[i] & 0xC0) != 0x80) n++;
    return n;
}

jv jstr_chars(jctx *x, jv s) {
    size_t n;
    size_t *o = cp_offsets(x, s, &n);
    jv l = jv_newlist(x);
    for (size_t i = 0; i < n; i++) jlist_push(x, l.u.l, jv_str(x, s.u.s.p + o[i], o[i + 1] - o[i]));
    return l;
}

/* Python slice indices */
static void slice_idx(int64_t len, int has_a, int64_t a, int has_b, int64_t b, int64_t step, int64_t *start,
                      int64_t *stop) {
    if (step > 0) {
        *start = !has_a ? 0 : a < 0 ? (a + len < 0 ? 0 : a + len) : (a > len ? len : a);
        *stop = !has_b ? len : b < 0 ? (b + len < 0 ? 0 : b + len) : (b > len ? len : b);
    } else {
        *start = !has_a ? len - 1 : a < 0 ? (a + len < 0 ? -1 : a + len) : (a >= len ? len - 1 : a);
        *stop = !has_b ? -1 : b < 0 ? (b + len < 0 ? -1 : b + len) : (b >= len ? len - 1 : b);
    }
}

/* ---------------------------------------------------------------- expressions */

static jv eval(jctx *x, jscope *s, const jnode *n);
static void exec_body(jctx *x, jscope *s, const jnode *b);

static int64_t want_int(jctx *x, const jnode *at, jv v, const char *what) {
    if (v.t == JV_INT) return v.u.i;
    if (v.t == JV_BOOL) return v.u.b;
    JERR_AT(x, at, "%s must be an integer, not %s", what, jv_typename(v));
}

static jv get_item(jctx *x, const jnode *at, jv o, jv k) {
    if (o.t == JV_DICT || o.t == JV_NS) {
        jv r;
        return jdict_getv(o.u.d, k, &r) ? r : jv_undef();
    }
    if (o.t == JV_LIST && (k.t == JV_INT || k.t == JV_BOOL)) {
        int64_t i = k.t == JV_INT ? k.u.i : k.u.b, len = (int64_t)o.u.l->n;
        if (i < 0) i += len;
        return i >= 0 && i < len ? o.u.l->v[i] : jv_undef();
    }
    if (o.t == JV_STR && (k.t == JV_INT || k.t == JV_BOOL)) {
        size_t cnt;
        size_t *off = cp_offsets(x, o, &cnt);
        int64_t i = k.t == JV_INT ? k.u.i : k.u.b;
        if (i < 0) i += (int64_t)cnt;
        if (i < 0 || i >= (int64_t)cnt) return jv_undef();
        return jv_str(x, o.u.s.p + off[i], off[i + 1] - off[i]);
    }
    if (o.t == JV_UNDEF) JERR_AT(x, at, "cannot index an undefined value");
    return jv_undef();
}

jv jget_attr(jctx *x, const jnode *at, jv o, const char *name) {
    if (o.t == JV_UNDEF) {
        if (at && at->a && at->a->kind == N_NAME) JERR_AT(x, at, "'%s' is undefined", at->a->name);
        JERR_AT(x, at, "cannot read attribute '%s' of an undefined value", name);
    }
    if (o.t == JV_DICT || o.t == JV_NS) {
        jv r;
        return jdict_get(o.u.d, name, strlen(name), &r) ? r : jv_undef();
    }
    return jv_undef();
}

static int is_num(jv v) { return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL; }
static double num(jv v) { return v.t == JV_FLOAT ? v.u.f : v.t == JV_INT ? (double)v.u.i : (double)v.u.b; }
static int64_t ival(jv v) { return v.t == JV_INT ? v.u.i : v.u.b; }

int jcompare(jctx *x, const jnode *at, jv a, jv b) {
    if (is_num(a) && is_num(b)) {
        if (a.t != JV_FLOAT && b.t != JV_FLOAT) return (ival(a) > ival(b)) - (ival(a) < ival(b));
        return (num(a) > num(b)) - (num(a) < num(b));
    }
    if (a.t == JV_STR && b.t == JV_STR) {
        size_t m = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
        int c = memcmp(a.u.s.p, b.u.s.p, m);
        return c ? (c > 0) - (c < 0) : (a.u.s.n > b.u.s.n) - (a.u.s.n < b.u.s.n);
    }
    JERR_AT(x, at, "cannot compare %s with %s", jv_typename(a), jv_typename(b));
}

int jcontains(jctx *x, const jnode *at, jv hay, jv needle) {
    if (hay.t == JV_STR) {
        if (needle.t != JV_STR) JERR_AT(x, at, "'in <string>' needs a string on the left, not %s", jv_typename(needle));
        if (needle.u.s.n == 0) return 1;
        if (needle.u.s.n > hay.u.s.n) return 0;
        for (size_t i = 0; i + needle.u.s.n <= hay.u.s.n; i++)
            if (!memcmp(hay.u.s.p + i, needle.u.s.p, needle.u.s.n)) return 1;
        return 0;
    }
    if (hay.t == JV_LIST) {
        for (size_t i = 0; i < hay.u.l->n; i++)
            if (jv_equal(hay.u.l->v[i], needle)) return 1;
        return 0;
    }
    if (hay.t == JV_DICT || hay.t == JV_NS) return jdict_getv(hay.u.d, needle, NULL);
    if (hay.t == JV_UNDEF) return 0;
    JERR_AT(x, at, "'in' needs a string, list or dict on the right, not %s", jv_typename(hay));
}

static jv arith(jctx *x, const jnode *n, int op, jv a, jv b) {
    if (op == OP_CAT) {
        jbuf bf = {0};
        jv_to_str(x, &bf, a);
        jv_to_str(x, &bf, b);
        return jv_str(x, bf.p ? bf.p : "", bf.n);
    }
    if (op == OP_ADD && a.t == JV_STR && b.t == JV_STR) {
        if (a.u.s.n + b.u.s.n > IT_JINJA_MAX_OUTPUT) jerr(x, n->line, n->col, -7, "a string is too long");
        char *p = jalloc(x, a.u.s.n + b.u.s.n + 1);
        memcpy(p, a.u.s.p, a.u.s.n), memcpy(p + a.u.s.n, b.u.s.p, b.u.s.n);
        jv r = {.t = JV_STR};
        r.u.s.p = p, r.u.s.n = a.u.s.n + b.u.s.n;
        return r;
    }
    if (op == OP_ADD && a.t == JV_LIST && b.t == JV_LIST) {
        jv r = jv_newlist(x);
        jstep(x, n, (int64_t)(a.u.l->n + b.u.l->n));
        for (size_t i = 0; i < a.u.l->n; i++) jlist_push(x, r.u.l, a.u.l->v[i]);
        for (size_t i = 0; i < b.u.l->n; i++) jlist_push(x, r.u.l, b.u.l->v[i]);
        return r;
    }
    if (op == OP_MUL && ((a.t == JV_STR && (b.t == JV_INT || b.t == JV_BOOL)) || (b.t == JV_STR && (a.t == JV_INT || a.t == JV_BOOL)))) {
        jv s = a.t == JV_STR ? a : b;
        int64_t k = a.t == JV_STR ? ival(b) : ival(a);
        if (k <= 0 || s.u.s.n == 0) return jv_cstr("");
        if ((uint64_t)k > IT_JINJA_MAX_OUTPUT / s.u.s.n) jerr(x, n->line, n->col, -7, "a repeated string is too long");
        jbuf bf = {0};
        for (int64_t i = 0; i < k; i++) jbuf_put(x, &bf, s.u.s.p, s.u.s.n);
        return jv_str(x, bf.p, bf.n);
    }
    if (!is_num(a) || !is_num(b)) {
        static const char *const ops[] = {"", "+", "-", "*", "/", "//", "%", "**"};
        if (a.t == JV_UNDEF || b.t == JV_UNDEF) {
            const jnode *un = a.t == JV_UNDEF ? n->a : n->b;
            if (un && un->kind == N_NAME) JERR_AT(x, n, "'%s' is undefined", un->name);
            if (un && un->kind == N_ATTR) JERR_AT(x, n, "'%s' is undefined", un->name);
        }
        JERR_AT(x, n, "unsupported operand types for %s: %s and %s", op >= OP_ADD && op <= OP_POW ? ops[op] : "?",
                jv_typename(a), jv_typename(b));
    }
    int ints = a.t != JV_FLOAT && b.t != JV_FLOAT;
    if (ints) {
        int64_t p = ival(a), q = ival(b), r;
        switch (op) {
        case OP_ADD:
            if (!__builtin_add_overflow(p, q, &r)) return jv_int(r);
            return jv_float((double)p + (double)q);
        case OP_SUB:
            if (!__builtin_sub_overflow(p, q, &r)) return jv_int(r);
            return jv_float((double)p - (double)q);
        case OP_MUL:
            if (!__builtin_mul_overflow(p, q, &r)) return jv_int(r);
            return jv_float((double)p * (double)q);
        case OP_FDIV:
        case OP_MOD: {
            if (q == 0) JERR_AT(x, n, "integer division or modulo by zero");
            if (p == INT64_MIN && q == -1) return op == OP_MOD ? jv_int(0) : jv_float(-(double)INT64_MIN);
            int64_t d = p / q, m = p % q;
            if (m != 0 && ((m < 0) != (q < 0))) d--, m += q;
            return op == OP_MOD ? jv_int(m) : jv_int(d);
        }
        case OP_POW:
            if (q >= 0) {
                int64_t acc = 1;
                int ovf = 0;
                for (int64_t i = 0; i < q && !ovf; i++) ovf = __builtin_mul_overflow(acc, p, &acc);
                if (!ovf) return jv_int(acc);
            }
            return jv_float(pow((double)p, (double)q));
        default: break;
        }
    }
    double p = num(a), q = num(b);
    switch (op) {
    case OP_ADD: return jv_float(p + q);
    case OP_SUB: return jv_float(p - q);
    case OP_MUL: return jv_float(p * q);
    case OP_DIV:
        if (q == 0) JERR_AT(x, n, "division by zero");
        return jv_float(p / q);
    case OP_FDIV:
        if (q == 0) JERR_AT(x, n, "division by zero");
        return jv_float(floor(p / q));
    case OP_MOD: {
        if (q == 0) JERR_AT(x, n, "modulo by zero");
        double m = fmod(p, q);
        if (m != 0 && ((m < 0) != (q < 0))) m += q;
        return jv_float(m);
    }
    case OP_POW: return jv_float(pow(p, q));
    }
    JERR_AT(x, n, "bad operator");
}

/* Evaluate a call's arguments. */
void jeval_args(jctx *x, jscope *s, const jnode *n, jargs *a) {
    a->n = n->n < JARGS_MAX ? n->n : JARGS_MAX;
    if (n->n > JARGS_MAX || n->nkw > JARGS_MAX) JERR_AT(x, n, "too many arguments");
    for (int i = 0; i < n->n; i++) a->v[i] = eval(x, s, n->list[i]);
    a->nkw = n->nkw;
    for (int i = 0; i < n->nkw; i++) a->kwn[i] = n->kwn[i], a->kwv[i] = eval(x, s, n->kwv[i]);
    a->at = n;
}

/* Positional argument i, or keyword name, or undefined. */
jv jarg(const jargs *a, int i, const char *name) {
    if (i >= 0 && i < a->n) return a->v[i];
    if (name)
        for (int k = 0; k < a->nkw; k++)
            if (!strcmp(a->kwn[k], name)) return a->kwv[k];
    return jv_undef();
}

static jv call_macro(jctx *x, const jnode *at, const jnode *m, const jargs *a) {
    if (++x->call_depth > IT_JINJA_MAX_CALL_DEPTH)
        jerr(x, at->line, at->col, -7, "macro calls nest deeper than %d levels", IT_JINJA_MAX_CALL_DEPTH);
    jstep(x, at, 1);
    jscope sc = {.parent = x->globals};
    if (a->n > m->nkw) JERR_AT(x, at, "macro '%s' takes %d arguments, %d given", m->name, m->nkw, a->n);
    for (int i = 0; i < m->nkw; i++) {
        jv v = jarg(a, i, m->kwn[i]);
        if (v.t == JV_UNDEF && m->list2 && m->list2[i]) v = eval(x, &sc, m->list2[i]);
        set_var(x, &sc, m->kwn[i], v);
    }
    jbuf out = {0}, *saved = x->ob;
    x->ob = &out;
    exec_body(x, &sc, m->b);
    x->ob = saved;
    x->loop_ctl = 0;
    x->call_depth--;
    return jv_str(x, out.p ? out.p : "", out.n);
}

static jv call_builtin(jctx *x, const jnode *at, const char *name, const jargs *a) {
    if (!strcmp(name, "range")) {
        int64_t start = 0, stop, step = 1;
        if (a->n == 1) stop = want_int(x, at, a->v[0], "range()'s argument");
        else if (a->n == 2 || a->n == 3) {
            start = want_int(x, at, a->v[0], "range()'s start");
            stop = want_int(x, at, a->v[1], "range()'s stop");
            if (a->n == 3) step = want_int(x, at, a->v[2], "range()'s step");
        } else JERR_AT(x, at, "range() takes 1 to 3 arguments");
        if (step == 0) JERR_AT(x, at, "range() step must not be zero");
        jv l = jv_newlist(x);
        double cnt = step > 0 ? ceil(((double)stop - (double)start) / (double)step)
                              : ceil(((double)start - (double)stop) / (double)-step);
        if (cnt > IT_JINJA_MAX_RANGE)
            jerr(x, at->line, at->col, -7, "range() of %.0f elements exceeds the limit of %d", cnt, IT_JINJA_MAX_RANGE);
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) jlist_push(x, l.u.l, jv_int(i));
        return l;
    }
    if (!strcmp(name, "namespace") || !strcmp(name, "dict")) {
        jv d = jv_newdict(x);
        if (!strcmp(name, "namespace")) d.t = JV_NS;
        for (int i = 0; i < a->n; i++) { /* namespace(some_dict) */
            if (a->v[i].t != JV_DICT && a->v[i].t != JV_NS) JERR_AT(x, at, "%s() takes keyword arguments or a dict", name);
            for (size_t k = 0; k < a->v[i].u.d->n; k++) jdict_set(x, d.u.d, a->v[i].u.d->k[k], a->v[i].u.d->v[k]);
        }
        for (int i = 0; i < a->nkw; i++) jdict_set(x, d.u.d, jv_cstr(a->kwn[i]), a->kwv[i]);
        return d;
    }
    if (!strcmp(name, "raise_exception")) {
        jv m = jv_stringify(x, jarg(a, 0, "message"));
        jerr(x, at->line, at->col, -4, "the template raised an error: %.*s", (int)(m.u.s.n > 400 ? 400 : m.u.s.n),
             m.u.s.p);
    }
    if (!strcmp(name, "strftime_now")) {
        jv f = jarg(a, 0, "format");
        if (f.t != JV_STR) JERR_AT(x, at, "strftime_now() needs a format string");
        char fmt[256], out[512];
        if (f.u.s.n >= sizeof fmt) JERR_AT(x, at, "strftime_now() format is too long");
        memcpy(fmt, f.u.s.p, f.u.s.n), fmt[f.u.s.n] = 0;
        time_t t = (time_t)x->now;
        struct tm tmv;
        if (!gmtime_r(&t, &tmv)) JERR_AT(x, at, "strftime_now(): bad time");
        size_t k = fmt[0] ? strftime(out, sizeof out, fmt, &tmv) : 0;
        return jv_str(x, out, k);
    }
    JERR_AT(x, at, "unknown function '%s'", name);
}

static jv call(jctx *x, jscope *s, const jnode *n) {
    jargs a;
    const jnode *c = n->a;
    if (c->kind == N_ATTR) {
        jv o = eval(x, s, c->a);
        if (o.t == JV_DICT || o.t == JV_NS) {
            jv f;
            if (jdict_get(o.u.d, c->name, strlen(c->name), &f) && f.t == JV_MACRO) {
                jeval_args(x, s, n, &a);
                return f.u.m->kind == N_MACRO ? call_macro(x, n, f.u.m, &a) : call_builtin(x, n, f.u.m->name, &a);
            }
        }
        if (o.t == JV_UNDEF) jget_attr(x, c, o, c->name); /* errors */
        jeval_args(x, s, n, &a);
        return jmethod(x, n, o, c->name, &a);
    }
    jv f = eval(x, s, c);
    if (f.t != JV_MACRO) {
        if (c->kind == N_NAME) JERR_AT(x, n, "'%s' is %s, not a function", c->name, f.t == JV_UNDEF ? "undefined" : jv_typename(f));
        JERR_AT(x, n, "%s is not callable", jv_typename(f));
    }
    jeval_args(x, s, n, &a);
    return f.u.m->kind == N_MACRO ? call_macro(x, n, f.u.m, &a) : call_builtin(x, n, f.u.m->name, &a);
}

static jv do_slice(jctx *x, jscope *s, const jnode *n, jv o) {
    int64_t a = 0, b = 0, step = 1;
    int has_a = 0, has_b = 0;
    if (n->b) {
        jv v = eval(x, s, n->b);
        if (v.t != JV_NONE) a = want_int(x, n, v, "a slice index"), has_a = 1;
    }
    if (n->c) {
        jv v = eval(x, s, n->c);
        if (v.t != JV_NONE) b = want_int(x, n, v, "a slice index"), has_b = 1;
    }
    if (n->d) {
        jv v = eval(x, s, n->d);
        if (v.t != JV_NONE) step = want_int(x, n, v, "a slice step");
    }
    if (step == 0) JERR_AT(x, n, "slice step cannot be zero");
    if (o.t == JV_LIST) {
        int64_t st, sp;
        slice_idx((int64_t)o.u.l->n, has_a, a, has_b, b, step, &st, &sp);
        jv r = jv_newlist(x);
        for (int64_t i = st; step > 0 ? i < sp : i > sp; i += step) jlist_push(x, r.u.l, o.u.l->v[i]);
        return r;
    }
    if (o.t == JV_STR) {
        size_t cnt;
        size_t *off = cp_offsets(x, o, &cnt);
        int64_t st, sp;
        slice_idx((int64_t)cnt, has_a, a, has_b, b, step, &st, &sp);
        jbuf bf = {0};
        for (int64_t i = st; step > 0 ? i < sp : i > sp; i += step) jbuf_put(x, &bf, o.u.s.p + off[i], off[i + 1] - off[i]);
        return jv_str(x, bf.p ? bf.p : "", bf.n);
    }
    if (o.t == JV_UNDEF) JERR_AT(x, n, "cannot slice an undefined value");
    JERR_AT(x, n, "cannot slice %s", jv_typename(o));
}

static jv eval(jctx *x, jscope *s, const jnode *n) {
    enter(x, n);
    jv r;
    switch (n->kind) {
    case N_LIT: r = n->lit; break;
    case N_NAME:
        if (!lookup(x, s, n->name, &r)) {
            r = jv_undef();
            for (size_t i = 0; i < sizeof BUILTIN_FUNCS / sizeof *BUILTIN_FUNCS; i++)
                if (!strcmp(n->name, BUILTIN_FUNCS[i].name)) {
                    r.t = JV_MACRO, r.u.m = &BUILTIN_FUNCS[i];
                    break;
                }
        }
        break;
    case N_ATTR: r = jget_attr(x, n, eval(x, s, n->a), n->name); break;
    case N_INDEX: {
        jv o = eval(x, s, n->a);
        if (o.t == JV_UNDEF && n->a->kind == N_NAME) JERR_AT(x, n, "'%s' is undefined", n->a->name);
        r = get_item(x, n, o, eval(x, s, n->b));
        break;
    }
    case N_SLICE: r = do_slice(x, s, n, eval(x, s, n->a)); break;
    case N_CALL: r = call(x, s, n); break;
    case N_FILTER: {
        jv v = eval(x, s, n->a);
        jargs a;
        jeval_args(x, s, n, &a);
        r = jfilter(x, s, n, n->name, v, &a);
        break;
    }
    case N_TEST: {
        jv v = eval(x, s, n->a);
        jargs a;
        jeval_args(x, s, n, &a);
        r = jv_bool(jtest(x, n, n->name, v, &a) != n->neg);
        break;
    }
    case N_NOT: r = jv_bool(!jv_truthy(eval(x, s, n->a))); break;
    case N_NEG:
    case N_POS: {
        jv v = eval(x, s, n->a);
        if (v.t == JV_INT) r = n->kind == N_NEG ? (v.u.i == INT64_MIN ? jv_float(-(double)v.u.i) : jv_int(-v.u.i)) : v;
        else if (v.t == JV_BOOL) r = jv_int(n->kind == N_NEG ? -v.u.b : v.u.b);
        else if (v.t == JV_FLOAT) r = jv_float(n->kind == N_NEG ? -v.u.f : v.u.f);
        else JERR_AT(x, n, "bad operand type for unary %s: %s", n->kind == N_NEG ? "-" : "+", jv_typename(v));
        break;
    }
    case N_AND: {
        jv a = eval(x, s, n->a);
        r = jv_truthy(a) ? eval(x, s, n->b) : a;
        break;
    }
    case N_OR: {
        jv a = eval(x, s, n->a);
        r = jv_truthy(a) ? a : eval(x, s, n->b);
        break;
    }
    case N_COND:
        if (jv_truthy(eval(x, s, n->b))) r = eval(x, s, n->a);
        else r = n->c ? eval(x, s, n->c) : jv_undef();
        break;
    case N_BIN: {
        jv a = eval(x, s, n->a), b = eval(x, s, n->b);
        switch (n->op) {
        case OP_EQ: r = jv_bool(jv_equal(a, b)); break;
        case OP_NE: r = jv_bool(!jv_equal(a, b)); break;
        case OP_LT: r = jv_bool(jcompare(x, n, a, b) < 0); break;
        case OP_LE: r = jv_bool(jcompare(x, n, a, b) <= 0); break;
        case OP_GT: r = jv_bool(jcompare(x, n, a, b) > 0); break;
        case OP_GE: r = jv_bool(jcompare(x, n, a, b) >= 0); break;
        case OP_IN: r = jv_bool(jcontains(x, n, b, a)); break;
        case OP_NOTIN: r = jv_bool(!jcontains(x, n, b, a)); break;
        default: r = arith(x, n, n->op, a, b); break;
        }
        break;
    }
    case N_LIST:
        r = jv_newlist(x);
        for (int i = 0; i < n->n; i++) jlist_push(x, r.u.l, eval(x, s, n->list[i]));
        break;
    case N_DICT:
        r = jv_newdict(x);
        for (int i = 0; i < n->n; i++) {
            jv k = eval(x, s, n->list[i]);
            jdict_set(x, r.u.d, k, eval(x, s, n->list2[i]));
        }
        break;
    default: JERR_AT(x, n, "internal error: not an expression");
    }
    x->depth--;
    return r;
}

jv jeval_expr(jctx *x, jscope *s, const jnode *n) { return eval(x, s, n); }

/* ---------------------------------------------------------------- statements */

static void out_put(jctx *x, const jnode *at, const char *p, size_t n) {
    if (x->ob->n + n > IT_JINJA_MAX_OUTPUT)
        jerr(x, at->line, at->col, -7, "the output is longer than %u bytes", IT_JINJA_MAX_OUTPUT);
    jbuf_put(x, x->ob, p, n);
}

/* the items a for loop or filter iterates: lists as they are, dict keys, string chars */
jlist *jiter_items(jctx *x, const jnode *at, jv v) {
    if (v.t == JV_LIST) return v.u.l;
    if (v.t == JV_DICT || v.t == JV_NS) {
        jv l = jv_newlist(x);
        for (size_t i = 0; i < v.u.d->n; i++) jlist_push(x, l.u.l, v.u.d->k[i]);
        return l.u.l;
    }
    if (v.t == JV_STR) return jstr_chars(x, v).u.l;
    if (v.t == JV_UNDEF) return jv_newlist(x).u.l;
    JERR_AT(x, at, "%s is not iterable", jv_typename(v));
}

static void assign(jctx *x, jscope *s, const jnode *n, jv v) {
    if (n->nkw == 1) {
        set_var(x, s, n->kwn[0], v);
        return;
    }
    if (v.t != JV_LIST || (int)v.u.l->n != n->nkw)
        JERR_AT(x, n, "cannot unpack %s into %d names", jv_typename(v), n->nkw);
    for (int i = 0; i < n->nkw; i++) set_var(x, s, n->kwn[i], v.u.l->v[i]);
}

static void exec_for(jctx *x, jscope *s, const jnode *n) {
    jlist *src = jiter_items(x, n, eval(x, s, n->a));
    jlist *items = src;
    if (n->d) { /* for x in y if cond: filter first (loop.length counts what is left) */
        jv l = jv_newlist(x);
        jscope fs = {.parent = s};
        for (size_t i = 0; i < src->n; i++) {
            jstep(x, n, 1);
            fs.vars.n = 0;
            assign(x, &fs, n, src->v[i]);
            if (jv_truthy(eval(x, &fs, n->d))) jlist_push(x, l.u.l, src->v[i]);
        }
        items = l.u.l;
    }
    size_t len = items->n;
    if (len == 0) {
        if (n->c) exec_body(x, s, n->c);
        return;
    }
    jv loop = jv_newdict(x);
    static const char *const keys[] = {"index", "index0", "revindex", "revindex0", "first", "last", "length",
                                       "previtem", "nextitem"};
    for (int k = 0; k < 9; k++) jdict_set(x, loop.u.d, jv_cstr(keys[k]), jv_none());
    jscope ls = {.parent = s};
    for (size_t i = 0; i < len; i++) {
        jstep(x, n, 1);
        jv *lv = loop.u.d->v;
        lv[0] = jv_int((int64_t)i + 1), lv[1] = jv_int((int64_t)i);
        lv[2] = jv_int((int64_t)(len - i)), lv[3] = jv_int((int64_t)(len - i - 1));
        lv[4] = jv_bool(i == 0), lv[5] = jv_bool(i + 1 == len), lv[6] = jv_int((int64_t)len);
        lv[7] = i > 0 ? items->v[i - 1] : jv_undef();
        lv[8] = i + 1 < len ? items->v[i + 1] : jv_undef();
        ls.vars.n = 0; /* a fresh scope per iteration, as Jinja */
        set_var(x, &ls, "loop", loop);
        assign(x, &ls, n, items->v[i]);
        exec_body(x, &ls, n->b);
        if (x->loop_ctl == 1) {
            x->loop_ctl = 0;
            break;
        }
        x->loop_ctl = 0;
    }
}

static void exec_stmt(jctx *x, jscope *s, const jnode *n) {
    enter(x, n);
    switch (n->kind) {
    case N_TEXT: out_put(x, n, n->lit.u.s.p, n->lit.u.s.n); break;
    case N_OUT: {
        jv v = eval(x, s, n->a);
        if (v.t == JV_STR) out_put(x, n, v.u.s.p, v.u.s.n);
        else if (v.t != JV_UNDEF) {
            jv t = jv_stringify(x, v);
            out_put(x, n, t.u.s.p, t.u.s.n);
        }
        break;
    }
    case N_IF:
        if (jv_truthy(eval(x, s, n->a))) exec_body(x, s, n->b);
        else if (n->c) exec_body(x, s, n->c);
        break;
    case N_FOR: exec_for(x, s, n); break;
    case N_SET: {
        jv v = eval(x, s, n->a);
        if (n->name) {
            jv ns;
            if (!lookup(x, s, n->kwn[0], &ns) || ns.t != JV_NS)
                JERR_AT(x, n, "'%s' is not a namespace: only namespace() objects take attribute assignment",
                        n->kwn[0]);
            jdict_set(x, ns.u.d, jv_cstr(n->name), v);
        } else {
            assign(x, s, n, v);
        }
        break;
    }
    case N_SETBLOCK: {
        jbuf out = {0}, *saved = x->ob;
        x->ob = &out;
        exec_body(x, s, n->b);
        x->ob = saved;
        jv v = jv_str(x, out.p ? out.p : "", out.n);
        if (n->d) {
            ((jnode *)n->c)->lit = v;
            v = eval(x, s, n->d);
        }
        set_var(x, s, n->kwn[0], v);
        break;
    }
    case N_MACRO: {
        jv m = {.t = JV_MACRO};
        m.u.m = n;
        set_var(x, s, n->name, m);
        break;
    }
    case N_BREAK: x->loop_ctl = 1; break;
    case N_CONTINUE: x->loop_ctl = 2; break;
    case N_BODY: exec_body(x, s, n); break;
    default: JERR_AT(x, n, "internal error: not a statement");
    }
    x->depth--;
}

static void exec_body(jctx *x, jscope *s, const jnode *b) {
    for (int i = 0; i < b->n && !x->loop_ctl; i++) exec_stmt(x, s, b->list[i]);
}

void jrender(jctx *x, const jnode *root) { exec_body(x, x->globals, root); }
