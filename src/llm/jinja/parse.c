/*
 * parse.c: lexer and parser of the chat-template interpreter. The lexer splits the
 * template into text and tags with Jinja's whitespace rules as transformers configures
 * them (trim_blocks: the newline after a block or comment tag is dropped; lstrip_blocks:
 * spaces and tabs before a block or comment tag that starts a line are dropped; "-"
 * inside a delimiter strips all whitespace on that side, "+" turns the block rules off),
 * handles {% raw %}, and tokenizes expressions inside tags (names, numbers, strings with
 * Python escapes, operators; brackets are balanced so "}}" inside a dict literal does not
 * end a tag). The parser builds the tree of jinja_int.h with Jinja's precedence (or, and,
 * not, comparisons and in, + -, ~, * / // %, **, unary, then postfix . [] () and the
 * filter/test chain), for the statements if/elif/else, for (with else, a filter
 * condition and tuple targets), set (name, ns.attr, tuple, block form), macro, break,
 * continue and generation. Nesting is bounded by IT_JINJA_MAX_DEPTH.
 */
#include <stdlib.h>
#include <string.h>

#include "llm/jinja/jinja_int.h"

enum { T_EOF = 0, T_TEXT, T_VBEGIN, T_VEND, T_BBEGIN, T_BEND, T_NAME, T_INT, T_FLOAT, T_STR, T_OP };

typedef struct tok {
    int t, line, col;
    const char *s; /* text, name, op, or decoded string */
    size_t n;
    int64_t i;
    double f;
} tok;

typedef struct lexer {
    jctx *x;
    const char *s;
    size_t n, pos;
    int line, col;
    size_t lc_pos; /* line/col are those of lc_pos */
    tok *toks;
    size_t nt, cap;
} lexer;

static void lc_to(lexer *L, size_t pos) {
    for (; L->lc_pos < pos; L->lc_pos++) {
        if (L->s[L->lc_pos] == '\n') L->line++, L->col = 1;
        else L->col++;
    }
}

static tok *push(lexer *L, int t, size_t at) {
    if (L->nt == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 256;
        tok *nt = jalloc(L->x, cap * sizeof *nt);
        if (L->nt) memcpy(nt, L->toks, L->nt * sizeof *nt);
        L->toks = nt, L->cap = cap;
    }
    lc_to(L, at);
    tok *k = &L->toks[L->nt++];
    memset(k, 0, sizeof *k);
    k->t = t, k->line = L->line, k->col = L->col;
    return k;
}

static _Noreturn void lex_err(lexer *L, size_t at, const char *msg) {
    lc_to(L, at);
    jerr(L->x, L->line, L->col, -4, "%s", msg);
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static int is_id0(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_id(char c) { return is_id0(c) || (c >= '0' && c <= '9'); }

static void put_utf8(char *o, size_t *k, uint32_t cp) {
    if (cp < 0x80) o[(*k)++] = (char)cp;
    else if (cp < 0x800) o[(*k)++] = (char)(0xC0 | (cp >> 6)), o[(*k)++] = (char)(0x80 | (cp & 63));
    else if (cp < 0x10000)
        o[(*k)++] = (char)(0xE0 | (cp >> 12)), o[(*k)++] = (char)(0x80 | ((cp >> 6) & 63)),
        o[(*k)++] = (char)(0x80 | (cp & 63));
    else
        o[(*k)++] = (char)(0xF0 | (cp >> 18)), o[(*k)++] = (char)(0x80 | ((cp >> 12) & 63)),
        o[(*k)++] = (char)(0x80 | ((cp >> 6) & 63)), o[(*k)++] = (char)(0x80 | (cp & 63));
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A quoted string at L->pos (Python escapes). */
static void lex_string(lexer *L) {
    size_t start = L->pos;
    char q = L->s[L->pos++];
    char *o = jalloc(L->x, L->n - L->pos + 1);
    size_t k = 0;
    for (;;) {
        if (L->pos >= L->n) lex_err(L, start, "unterminated string literal");
        char c = L->s[L->pos++];
        if (c == q) break;
        if (c != '\\') {
            o[k++] = c;
            continue;
        }
        if (L->pos >= L->n) lex_err(L, start, "unterminated string literal");
        char e = L->s[L->pos++];
        int nd = 0;
        switch (e) {
        case 'n': o[k++] = '\n'; break;
        case 't': o[k++] = '\t'; break;
        case 'r': o[k++] = '\r'; break;
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 'v': o[k++] = '\v'; break;
        case 'a': o[k++] = '\a'; break;
        case '0': o[k++] = '\0'; break;
        case '\n': break;
        case 'x': nd = 2; break;
        case 'u': nd = 4; break;
        case 'U': nd = 8; break;
        case '\\':
        case '\'':
        case '"': o[k++] = e; break;
        default: o[k++] = '\\', o[k++] = e; break; /* Python keeps unknown escapes */
        }
        if (nd) {
            uint32_t cp = 0;
            for (int i = 0; i < nd; i++) {
                int h = L->pos < L->n ? hexval(L->s[L->pos]) : -1;
                if (h < 0) lex_err(L, start, "bad \\x/\\u escape in a string literal");
                cp = cp * 16 + (uint32_t)h, L->pos++;
            }
            if (cp > 0x10FFFF) lex_err(L, start, "bad \\U escape in a string literal");
            put_utf8(o, &k, cp);
        }
    }
    tok *t = push(L, T_STR, start);
    t->s = o, t->n = k;
}

static const char *const OPS[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "|", ".", ",",
                                  ":", "(", ")", "[", "]", "{", "}", "<", ">", "=", NULL};

/* Tokens of one tag up to its end delimiter; returns the position after it and sets
 * *strip_after (a "-" before the end), *plus_after ("+" before %}). */
static size_t lex_tag(lexer *L, int block, int *strip_after, int *plus_after) {
    int depth = 0;
    *strip_after = *plus_after = 0;
    for (;;) {
        while (L->pos < L->n && is_ws(L->s[L->pos])) L->pos++;
        if (L->pos >= L->n) lex_err(L, L->pos, block ? "missing '%}' at the end of the template" : "missing '}}'");
        const char *p = L->s + L->pos;
        size_t left = L->n - L->pos;
        if (depth == 0) {
            const char *end = block ? "%}" : "}}";
            if ((p[0] == '-' || (block && p[0] == '+')) && left >= 3 && !memcmp(p + 1, end, 2)) {
                if (p[0] == '-') *strip_after = 1;
                else *plus_after = 1;
                push(L, block ? T_BEND : T_VEND, L->pos);
                return L->pos + 3;
            }
            if (left >= 2 && !memcmp(p, end, 2)) {
                push(L, block ? T_BEND : T_VEND, L->pos);
                return L->pos + 2;
            }
        }
        char c = p[0];
        if (c == '\'' || c == '"') {
            lex_string(L);
            continue;
        }
        if (is_id0(c)) {
            size_t s = L->pos;
            while (L->pos < L->n && is_id(L->s[L->pos])) L->pos++;
            tok *t = push(L, T_NAME, s);
            t->s = L->s + s, t->n = L->pos - s;
            continue;
        }
        if (c >= '0' && c <= '9') {
            size_t s = L->pos;
            int isf = 0;
            while (L->pos < L->n && ((L->s[L->pos] >= '0' && L->s[L->pos] <= '9') || L->s[L->pos] == '_')) L->pos++;
            if (L->pos + 1 < L->n && L->s[L->pos] == '.' && L->s[L->pos + 1] >= '0' && L->s[L->pos + 1] <= '9') {
                isf = 1, L->pos++;
                while (L->pos < L->n && L->s[L->pos] >= '0' && L->s[L->pos] <= '9') L->pos++;
            }
            if (L->pos < L->n && (L->s[L->pos] == 'e' || L->s[L->pos] == 'E')) {
                size_t q = L->pos + 1;
                if (q < L->n && (L->s[q] == '+' || L->s[q] == '-')) q++;
                if (q < L->n && L->s[q] >= '0' && L->s[q] <= '9') {
                    isf = 1, L->pos = q;
                    while (L->pos < L->n && L->s[L->pos] >= '0' && L->s[L->pos] <= '9') L->pos++;
                }
            }
            char buf[64];
            size_t k = 0;
            for (size_t i = s; i < L->pos && k < sizeof buf - 1; i++)
                if (L->s[i] != '_') buf[k++] = L->s[i];
            buf[k] = 0;
            if (L->pos - s >= sizeof buf - 1) lex_err(L, s, "number literal too long");
            tok *t = push(L, isf ? T_FLOAT : T_INT, s);
            if (isf) t->f = strtod(buf, NULL);
            else {
                char *e;
                unsigned long long v = strtoull(buf, &e, 10);
                if (v > INT64_MAX) lex_err(L, s, "integer literal too large");
                t->i = (int64_t)v;
            }
            continue;
        }
        int found = 0;
        for (int i = 0; OPS[i]; i++) {
            size_t ol = strlen(OPS[i]);
            if (left >= ol && !memcmp(p, OPS[i], ol)) {
                tok *t = push(L, T_OP, L->pos);
                t->s = OPS[i], t->n = ol;
                if (c == '(' || c == '[' || c == '{') depth++;
                if ((c == ')' || c == ']' || c == '}') && depth > 0) depth--;
                L->pos += ol, found = 1;
                break;
            }
        }
        if (!found) lex_err(L, L->pos, "unexpected character in a tag");
    }
}

static void rstrip_text(lexer *L) {
    if (L->nt && L->toks[L->nt - 1].t == T_TEXT) {
        tok *t = &L->toks[L->nt - 1];
        while (t->n && is_ws(t->s[t->n - 1])) t->n--;
    }
}

static void lex(lexer *L) {
    int strip_next = 0;
    while (L->pos < L->n) {
        /* text up to the next tag opener */
        size_t s = L->pos, e = s;
        while (e < L->n && !(L->s[e] == '{' && e + 1 < L->n && (L->s[e + 1] == '{' || L->s[e + 1] == '%' ||
                                                               L->s[e + 1] == '#')))
            e++;
        size_t ts = s;
        if (strip_next)
            while (ts < e && is_ws(L->s[ts])) ts++;
        strip_next = 0;
        if (e > ts) {
            tok *t = push(L, T_TEXT, ts);
            t->s = L->s + ts, t->n = e - ts;
        }
        if (e >= L->n) break;
        char kind = L->s[e + 1];
        size_t p = e + 2;
        char mod = p < L->n ? L->s[p] : 0;
        if (mod == '-') rstrip_text(L), p++;
        else if (mod == '+' && kind != '{') p++;
        else if (kind != '{') {
            /* lstrip_blocks: drop spaces/tabs between the line start and the tag */
            size_t k = e;
            while (k > ts && (L->s[k - 1] == ' ' || L->s[k - 1] == '\t')) k--;
            int at_line = k > ts ? L->s[k - 1] == '\n' : (ts == 0 || L->s[ts - 1] == '\n');
            if (at_line && e > ts) L->toks[L->nt - 1].n = k - ts;
        }
        if (kind == '#') {
            const char *c = NULL;
            for (size_t q = p; q + 1 < L->n; q++)
                if (L->s[q] == '#' && L->s[q + 1] == '}') {
                    c = L->s + q;
                    break;
                }
            if (!c) lex_err(L, e, "unterminated comment '{#'");
            size_t q = (size_t)(c - L->s);
            int minus = q > p && L->s[q - 1] == '-', plus = q > p && L->s[q - 1] == '+';
            L->pos = q + 2;
            if (minus) strip_next = 1;
            else if (!plus && L->pos < L->n && L->s[L->pos] == '\n') L->pos++;
            continue;
        }
        if (kind == '%') {
            /* {% raw %} ... {% endraw %} */
            size_t q = p;
            while (q < L->n && is_ws(L->s[q])) q++;
            if (L->n - q >= 3 && !memcmp(L->s + q, "raw", 3) && (q + 3 >= L->n || !is_id(L->s[q + 3]))) {
                q += 3;
                while (q < L->n && is_ws(L->s[q])) q++;
                int rminus = 0;
                if (q < L->n && L->s[q] == '-') rminus = 1, q++;
                if (L->n - q < 2 || memcmp(L->s + q, "%}", 2)) lex_err(L, e, "bad {% raw %} tag");
                q += 2;
                size_t body = q;
                if (rminus)
                    while (body < L->n && is_ws(L->s[body])) body++;
                for (size_t r = body; r + 1 < L->n; r++) {
                    if (L->s[r] != '{' || L->s[r + 1] != '%') continue;
                    size_t u = r + 2, bodyend = r;
                    int lminus = 0;
                    if (u < L->n && L->s[u] == '-') lminus = 1, u++;
                    while (u < L->n && is_ws(L->s[u])) u++;
                    if (L->n - u < 6 || memcmp(L->s + u, "endraw", 6)) continue;
                    u += 6;
                    while (u < L->n && is_ws(L->s[u])) u++;
                    int eminus = 0;
                    if (u < L->n && L->s[u] == '-') eminus = 1, u++;
                    if (L->n - u < 2 || memcmp(L->s + u, "%}", 2)) continue;
                    if (lminus)
                        while (bodyend > body && is_ws(L->s[bodyend - 1])) bodyend--;
                    if (bodyend > body) {
                        tok *t = push(L, T_TEXT, body);
                        t->s = L->s + body, t->n = bodyend - body;
                    }
                    L->pos = u + 2;
                    if (eminus) strip_next = 1;
                    else if (L->pos < L->n && L->s[L->pos] == '\n') L->pos++;
                    goto raw_done;
                }
                lex_err(L, e, "missing {% endraw %}");
            }
        }
        push(L, kind == '%' ? T_BBEGIN : T_VBEGIN, e);
        L->pos = p;
        int sa, pa;
        L->pos = lex_tag(L, kind == '%', &sa, &pa);
        if (sa) strip_next = 1;
        else if (kind == '%' && !pa && L->pos < L->n && L->s[L->pos] == '\n') L->pos++;
        continue;
    raw_done:;
    }
    push(L, T_EOF, L->n);
}

/* ---------------------------------------------------------------- parser */

typedef struct parser {
    jctx *x;
    tok *t;
    size_t i, n;
    int depth;
} parser;

static tok *peek(parser *P) { return &P->t[P->i]; }
static tok *next(parser *P) {
    tok *t = &P->t[P->i];
    if (t->t != T_EOF) P->i++;
    return t;
}
static _Noreturn void perr(parser *P, tok *t, const char *fmt, const char *a) {
    jerr(P->x, t->line, t->col, -4, fmt, a);
}
static int is_op(tok *t, const char *op) { return t->t == T_OP && t->n == strlen(op) && !memcmp(t->s, op, t->n); }
static int is_name(tok *t, const char *nm) { return t->t == T_NAME && t->n == strlen(nm) && !memcmp(t->s, nm, t->n); }
static void expect_op(parser *P, const char *op) {
    tok *t = next(P);
    if (!is_op(t, op)) perr(P, t, "expected '%s'", op);
}
static const char *tok_name(parser *P, tok *t) { return jstrdup(P->x, t->s, t->n); }
static const char *expect_name(parser *P) {
    tok *t = next(P);
    if (t->t != T_NAME) perr(P, t, "expected a name%s", "");
    return tok_name(P, t);
}

static jnode *node(parser *P, int kind, tok *at) {
    jnode *n = jalloc(P->x, sizeof *n);
    n->kind = kind, n->line = at->line, n->col = at->col;
    return n;
}

typedef struct nvec {
    jnode **v;
    int n, cap;
} nvec;
static void nv_push(parser *P, nvec *a, jnode *n) {
    if (a->n == a->cap) {
        int cap = a->cap ? a->cap * 2 : 8;
        jnode **nv = jalloc(P->x, (size_t)cap * sizeof *nv);
        if (a->n) memcpy(nv, a->v, (size_t)a->n * sizeof *nv);
        a->v = nv, a->cap = cap;
    }
    a->v[a->n++] = n;
}

static void enter(parser *P, tok *t) {
    if (++P->depth > IT_JINJA_MAX_DEPTH) jerr(P->x, t->line, t->col, -7, "the template nests deeper than %d levels", IT_JINJA_MAX_DEPTH);
}

static jnode *parse_expr(parser *P);
static jnode *parse_or(parser *P);
static jnode *parse_unary(parser *P, int with_filter);

/* (args) after the '(' was consumed: positional into list, keyword into kwn/kwv */
static void parse_args(parser *P, jnode *call) {
    nvec pos = {0}, kv = {0};
    const char **names = NULL;
    int nn = 0, cap = 0;
    while (!is_op(peek(P), ")")) {
        tok *t = peek(P);
        if (t->t == T_NAME && is_op(&P->t[P->i + 1], "=")) {
            next(P), next(P);
            if (nn == cap) {
                cap = cap ? cap * 2 : 4;
                const char **nnames = jalloc(P->x, (size_t)cap * sizeof *nnames);
                if (nn) memcpy(nnames, names, (size_t)nn * sizeof *nnames);
                names = nnames;
            }
            names[nn++] = tok_name(P, t);
            nv_push(P, &kv, parse_expr(P));
        } else {
            if (nn) perr(P, t, "a positional argument follows a keyword argument%s", "");
            nv_push(P, &pos, parse_expr(P));
        }
        if (!is_op(peek(P), ",")) break;
        next(P);
    }
    expect_op(P, ")");
    call->list = pos.v, call->n = pos.n, call->kwn = names, call->kwv = kv.v, call->nkw = nn;
}

static jnode *parse_primary(parser *P) {
    tok *t = next(P);
    enter(P, t);
    jnode *n;
    switch (t->t) {
    case T_STR: {
        n = node(P, N_LIT, t);
        /* adjacent string literals concatenate */
        size_t len = t->n;
        const char *s = t->s;
        while (peek(P)->t == T_STR) {
            tok *u = next(P);
            char *c = jalloc(P->x, len + u->n + 1);
            memcpy(c, s, len), memcpy(c + len, u->s, u->n);
            s = c, len += u->n;
        }
        n->lit.t = JV_STR, n->lit.u.s.p = s, n->lit.u.s.n = len;
        break;
    }
    case T_INT: n = node(P, N_LIT, t), n->lit = jv_int(t->i); break;
    case T_FLOAT: n = node(P, N_LIT, t), n->lit = jv_float(t->f); break;
    case T_NAME:
        if (is_name(t, "true") || is_name(t, "True")) n = node(P, N_LIT, t), n->lit = jv_bool(1);
        else if (is_name(t, "false") || is_name(t, "False")) n = node(P, N_LIT, t), n->lit = jv_bool(0);
        else if (is_name(t, "none") || is_name(t, "None")) n = node(P, N_LIT, t), n->lit = jv_none();
        else n = node(P, N_NAME, t), n->name = tok_name(P, t);
        break;
    case T_OP:
        if (is_op(t, "(")) {
            if (is_op(peek(P), ")")) { /* empty tuple */
                next(P);
                n = node(P, N_LIST, t);
                break;
            }
            jnode *e = parse_expr(P);
            if (is_op(peek(P), ",")) { /* tuple: a list */
                nvec items = {0};
                nv_push(P, &items, e);
                while (is_op(peek(P), ",")) {
                    next(P);
                    if (is_op(peek(P), ")")) break;
                    nv_push(P, &items, parse_expr(P));
                }
                n = node(P, N_LIST, t);
                n->list = items.v, n->n = items.n;
            } else {
                n = e;
            }
            expect_op(P, ")");
            break;
        }
        if (is_op(t, "[")) {
            nvec items = {0};
            while (!is_op(peek(P), "]")) {
                nv_push(P, &items, parse_expr(P));
                if (!is_op(peek(P), ",")) break;
                next(P);
            }
            expect_op(P, "]");
            n = node(P, N_LIST, t);
            n->list = items.v, n->n = items.n;
            break;
        }
        if (is_op(t, "{")) {
            nvec ks = {0}, vs = {0};
            while (!is_op(peek(P), "}")) {
                nv_push(P, &ks, parse_expr(P));
                expect_op(P, ":");
                nv_push(P, &vs, parse_expr(P));
                if (!is_op(peek(P), ",")) break;
                next(P);
            }
            expect_op(P, "}");
            n = node(P, N_DICT, t);
            n->list = ks.v, n->n = ks.n, n->list2 = vs.v;
            break;
        }
        /* fallthrough */
    default:
        if (t->t == T_EOF) perr(P, t, "unexpected end of template%s", "");
        if (t->t == T_VEND || t->t == T_BEND) perr(P, t, "expected an expression before the end of the tag%s", "");
        perr(P, t, "unexpected '%s'", t->t == T_OP ? t->s : "token");
    }
    P->depth--;
    return n;
}

static jnode *parse_postfix(parser *P, jnode *n) {
    for (;;) {
        tok *t = peek(P);
        if (is_op(t, ".")) {
            next(P);
            tok *a = next(P);
            jnode *m = node(P, N_ATTR, a);
            if (a->t == T_NAME) m->name = tok_name(P, a);
            else if (a->t == T_INT) { /* x.0: an index */
                m->kind = N_INDEX;
                m->b = node(P, N_LIT, a), m->b->lit = jv_int(a->i);
            } else perr(P, a, "expected an attribute name after '.'%s", "");
            m->a = n, n = m;
        } else if (is_op(t, "[")) {
            next(P);
            jnode *parts[3] = {0};
            int colons = 0;
            for (;;) {
                if (is_op(peek(P), "]")) break;
                if (is_op(peek(P), ":")) {
                    if (++colons > 2) perr(P, peek(P), "too many ':' in a slice%s", "");
                    next(P);
                    continue;
                }
                if (parts[colons]) perr(P, peek(P), "expected ':' or ']'%s", "");
                parts[colons] = parse_expr(P);
            }
            expect_op(P, "]");
            jnode *m;
            if (colons == 0) {
                if (!parts[0]) perr(P, t, "empty subscript%s", "");
                m = node(P, N_INDEX, t), m->b = parts[0];
            } else {
                m = node(P, N_SLICE, t), m->b = parts[0], m->c = parts[1], m->d = parts[2];
            }
            m->a = n, n = m;
        } else if (is_op(t, "(")) {
            next(P);
            jnode *m = node(P, N_CALL, t);
            m->line = n->line, m->col = n->col; /* errors point at the callee */
            m->a = n;
            parse_args(P, m);
            n = m;
        } else {
            return n;
        }
    }
}

static int starts_primary(tok *t) {
    if (t->t == T_STR || t->t == T_INT || t->t == T_FLOAT) return 1;
    if (t->t == T_OP) return is_op(t, "(") || is_op(t, "[") || is_op(t, "{");
    if (t->t != T_NAME) return 0;
    static const char *const kw[] = {"and", "or", "not", "in", "is", "if", "else", NULL};
    for (int i = 0; kw[i]; i++)
        if (is_name(t, kw[i])) return 0;
    return 1;
}

static jnode *parse_filters(parser *P, jnode *n) {
    for (;;) {
        tok *t = peek(P);
        if (is_op(t, "|")) {
            next(P);
            tok *nt = peek(P);
            jnode *f = node(P, N_FILTER, nt);
            f->name = expect_name(P);
            while (is_op(peek(P), ".")) { /* dotted filter names: keep the last part */
                next(P);
                f->name = expect_name(P);
            }
            f->a = n;
            if (is_op(peek(P), "(")) next(P), parse_args(P, f);
            n = f;
        } else if (is_name(t, "is")) {
            next(P);
            jnode *f = node(P, N_TEST, t);
            if (is_name(peek(P), "not")) next(P), f->neg = 1;
            tok *nt = peek(P);
            if (nt->t == T_NAME) f->name = expect_name(P);
            else if (is_op(nt, "==") || is_op(nt, "!=") || is_op(nt, "<") || is_op(nt, ">") || is_op(nt, "<=") ||
                     is_op(nt, ">="))
                next(P), f->name = jstrdup(P->x, nt->s, nt->n);
            else perr(P, nt, "expected a test name after 'is'%s", "");
            if (is_name(nt, "none") || is_name(nt, "None")) f->name = "none";
            if (is_name(nt, "true") || is_name(nt, "True")) f->name = "true";
            if (is_name(nt, "false") || is_name(nt, "False")) f->name = "false";
            f->a = n;
            if (is_op(peek(P), "(")) next(P), parse_args(P, f);
            else if (starts_primary(peek(P))) { /* one argument without parentheses */
                jnode **args = jalloc(P->x, sizeof *args);
                args[0] = parse_unary(P, 0);
                f->list = args, f->n = 1;
            }
            n = f;
        } else {
            return n;
        }
    }
}

static jnode *parse_unary(parser *P, int with_filter) {
    tok *t = peek(P);
    enter(P, t);
    jnode *n;
    if (is_op(t, "-") || is_op(t, "+")) {
        next(P);
        n = node(P, is_op(t, "-") ? N_NEG : N_POS, t);
        n->a = parse_unary(P, 0);
    } else {
        n = parse_primary(P);
    }
    n = parse_postfix(P, n);
    if (with_filter) n = parse_filters(P, n);
    P->depth--;
    return n;
}

static jnode *bin(parser *P, tok *t, int op, jnode *a, jnode *b) {
    jnode *n = node(P, N_BIN, t);
    n->op = op, n->a = a, n->b = b;
    return n;
}

static jnode *parse_pow(parser *P) {
    jnode *a = parse_unary(P, 1);
    while (is_op(peek(P), "**")) {
        tok *t = next(P);
        a = bin(P, t, OP_POW, a, parse_unary(P, 1));
    }
    return a;
}
static jnode *parse_math2(parser *P) {
    jnode *a = parse_pow(P);
    for (;;) {
        tok *t = peek(P);
        int op = is_op(t, "*") ? OP_MUL : is_op(t, "/") ? OP_DIV : is_op(t, "//") ? OP_FDIV : is_op(t, "%") ? OP_MOD : 0;
        if (!op) return a;
        next(P);
        a = bin(P, t, op, a, parse_pow(P));
    }
}
static jnode *parse_concat(parser *P) {
    jnode *a = parse_math2(P);
    while (is_op(peek(P), "~")) {
        tok *t = next(P);
        a = bin(P, t, OP_CAT, a, parse_math2(P));
    }
    return a;
}
static jnode *parse_math1(parser *P) {
    jnode *a = parse_concat(P);
    for (;;) {
        tok *t = peek(P);
        int op = is_op(t, "+") ? OP_ADD : is_op(t, "-") ? OP_SUB : 0;
        if (!op) return a;
        next(P);
        a = bin(P, t, op, a, parse_concat(P));
    }
}
static jnode *parse_compare(parser *P) {
    jnode *a = parse_math1(P);
    for (;;) {
        tok *t = peek(P);
        int op = is_op(t, "==") ? OP_EQ : is_op(t, "!=") ? OP_NE : is_op(t, "<") ? OP_LT : is_op(t, "<=") ? OP_LE
               : is_op(t, ">") ? OP_GT : is_op(t, ">=") ? OP_GE : is_name(t, "in") ? OP_IN : 0;
        if (!op && is_name(t, "not") && is_name(&P->t[P->i + 1], "in")) {
            next(P);
            op = OP_NOTIN;
        }
        if (!op) return a;
        next(P);
        a = bin(P, t, op, a, parse_math1(P));
    }
}
static jnode *parse_not(parser *P) {
    tok *t = peek(P);
    if (is_name(t, "not")) {
        next(P);
        enter(P, t);
        jnode *n = node(P, N_NOT, t);
        n->a = parse_not(P);
        P->depth--;
        return n;
    }
    return parse_compare(P);
}
static jnode *parse_and(parser *P) {
    jnode *a = parse_not(P);
    while (is_name(peek(P), "and")) {
        tok *t = next(P);
        jnode *n = node(P, N_AND, t);
        n->a = a, n->b = parse_not(P), a = n;
    }
    return a;
}
static jnode *parse_or(parser *P) {
    jnode *a = parse_and(P);
    while (is_name(peek(P), "or")) {
        tok *t = next(P);
        jnode *n = node(P, N_OR, t);
        n->a = a, n->b = parse_and(P), a = n;
    }
    return a;
}
static jnode *parse_expr(parser *P) {
    tok *t0 = peek(P);
    enter(P, t0);
    jnode *a = parse_or(P);
    while (is_name(peek(P), "if")) {
        tok *t = next(P);
        jnode *n = node(P, N_COND, t);
        n->a = a, n->b = parse_or(P);
        if (is_name(peek(P), "else")) next(P), n->c = parse_expr(P);
        a = n;
    }
    P->depth--;
    return a;
}

/* ---------------------------------------------------------------- statements */

static void expect_bend(parser *P) {
    tok *t = next(P);
    if (t->t != T_BEND) perr(P, t, "expected '%%}'%s", "");
}

static jnode *parse_body(parser *P, const char *const *ends, const char **which);

static jnode *body_node(parser *P, tok *at, nvec *v) {
    jnode *b = node(P, N_BODY, at);
    b->list = v->v, b->n = v->n;
    return b;
}

static jnode *parse_if(parser *P, tok *at) {
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    static const char *const endif[] = {"endif", NULL};
    jnode *n = node(P, N_IF, at);
    n->a = parse_expr(P);
    expect_bend(P);
    const char *which;
    n->b = parse_body(P, ends, &which);
    if (!strcmp(which, "elif")) {
        tok *t = &P->t[P->i - 1];
        nvec v = {0};
        nv_push(P, &v, parse_if(P, t));
        n->c = body_node(P, t, &v);
        return n; /* the nested if consumed endif */
    }
    if (!strcmp(which, "else")) {
        expect_bend(P);
        n->c = parse_body(P, endif, &which);
    }
    expect_bend(P);
    return n;
}

static jnode *parse_stmt(parser *P) {
    tok *bt = next(P); /* BBEGIN */
    tok *t = next(P);
    if (t->t != T_NAME) perr(P, t, "expected a tag name after '{%%'%s", "");
    const char *which;
    if (is_name(t, "if")) return parse_if(P, t);
    if (is_name(t, "for")) {
        static const char *const ends[] = {"else", "endfor", NULL};
        static const char *const endfor[] = {"endfor", NULL};
        jnode *n = node(P, N_FOR, t);
        const char **names = jalloc(P->x, 8 * sizeof *names);
        int nn = 0;
        int paren = is_op(peek(P), "(");
        if (paren) next(P);
        for (;;) {
            if (nn == 8) perr(P, peek(P), "too many loop targets%s", "");
            names[nn++] = expect_name(P);
            if (!is_op(peek(P), ",")) break;
            next(P);
        }
        if (paren) expect_op(P, ")");
        n->kwn = names, n->nkw = nn;
        if (!is_name(next(P), "in")) perr(P, &P->t[P->i - 1], "expected 'in' in a for tag%s", "");
        n->a = parse_or(P);
        if (is_name(peek(P), "if")) next(P), n->d = parse_expr(P);
        if (is_name(peek(P), "recursive")) perr(P, peek(P), "recursive loops are not supported%s", "");
        expect_bend(P);
        n->b = parse_body(P, ends, &which);
        if (!strcmp(which, "else")) {
            expect_bend(P);
            n->c = parse_body(P, endfor, &which);
        }
        expect_bend(P);
        return n;
    }
    if (is_name(t, "set")) {
        jnode *n = node(P, N_SET, t);
        tok *nt = peek(P);
        const char **names = jalloc(P->x, 8 * sizeof *names);
        int nn = 0;
        names[nn++] = expect_name(P);
        if (is_op(peek(P), ".")) { /* ns.attr = value */
            next(P);
            n->name = expect_name(P);
        } else {
            while (is_op(peek(P), ",")) {
                next(P);
                if (nn == 8) perr(P, peek(P), "too many assignment targets%s", "");
                names[nn++] = expect_name(P);
            }
        }
        n->kwn = names, n->nkw = nn;
        if (is_op(peek(P), "=")) {
            next(P);
            jnode *e = parse_expr(P);
            if (is_op(peek(P), ",")) { /* set a, b = x, y */
                nvec items = {0};
                nv_push(P, &items, e);
                while (is_op(peek(P), ",")) next(P), nv_push(P, &items, parse_expr(P));
                e = node(P, N_LIST, nt);
                e->list = items.v, e->n = items.n;
            }
            n->a = e;
            expect_bend(P);
            return n;
        }
        if (n->name || nn != 1) perr(P, peek(P), "expected '=' in a set tag%s", "");
        /* block set, optionally filtered */
        n->kind = N_SETBLOCK;
        jnode *filt = NULL;
        if (is_op(peek(P), "|")) {
            jnode *ph = node(P, N_LIT, peek(P));
            filt = parse_filters(P, ph);
            n->c = ph;
        }
        expect_bend(P);
        static const char *const endset[] = {"endset", NULL};
        n->b = parse_body(P, endset, &which);
        n->d = filt;
        expect_bend(P);
        return n;
    }
    if (is_name(t, "macro")) {
        static const char *const endm[] = {"endmacro", NULL};
        jnode *n = node(P, N_MACRO, t);
        n->name = expect_name(P);
        expect_op(P, "(");
        const char **names = NULL;
        nvec defs = {0};
        int nn = 0, cap = 0;
        while (!is_op(peek(P), ")")) {
            if (nn == cap) {
                cap = cap ? cap * 2 : 4;
                const char **nnames = jalloc(P->x, (size_t)cap * sizeof *nnames);
                if (nn) memcpy(nnames, names, (size_t)nn * sizeof *nnames);
                names = nnames;
            }
            names[nn++] = expect_name(P);
            jnode *d = NULL;
            if (is_op(peek(P), "=")) next(P), d = parse_expr(P);
            nv_push(P, &defs, d);
            if (!is_op(peek(P), ",")) break;
            next(P);
        }
        expect_op(P, ")");
        expect_bend(P);
        n->kwn = names, n->nkw = nn, n->list2 = defs.v;
        n->b = parse_body(P, endm, &which);
        if (peek(P)->t == T_NAME) next(P);
        expect_bend(P);
        return n;
    }
    if (is_name(t, "break") || is_name(t, "continue")) {
        jnode *n = node(P, is_name(t, "break") ? N_BREAK : N_CONTINUE, t);
        expect_bend(P);
        return n;
    }
    if (is_name(t, "generation")) {
        static const char *const endg[] = {"endgeneration", NULL};
        expect_bend(P);
        jnode *b = parse_body(P, endg, &which);
        expect_bend(P);
        return b;
    }
    (void)bt;
    perr(P, t, "unknown or unexpected tag '%s'", tok_name(P, t));
}

/* Statements up to a block tag named in ends (NULL: the end of the template). */
static jnode *parse_body(parser *P, const char *const *ends, const char **which) {
    tok *start = peek(P);
    enter(P, start);
    nvec v = {0};
    for (;;) {
        tok *t = peek(P);
        if (t->t == T_EOF) {
            if (ends) {
                int k = 0;
                while (ends[k + 1]) k++;
                perr(P, t, "missing {%% %s %%} before the end of the template", ends[k]);
            }
            break;
        }
        if (t->t == T_TEXT) {
            next(P);
            jnode *n = node(P, N_TEXT, t);
            n->lit.t = JV_STR, n->lit.u.s.p = t->s, n->lit.u.s.n = t->n;
            nv_push(P, &v, n);
            continue;
        }
        if (t->t == T_VBEGIN) {
            next(P);
            jnode *n = node(P, N_OUT, t);
            n->a = parse_expr(P);
            if (is_op(peek(P), ",")) { /* {{ a, b }} prints a tuple */
                nvec items = {0};
                nv_push(P, &items, n->a);
                while (is_op(peek(P), ",")) next(P), nv_push(P, &items, parse_expr(P));
                n->a = node(P, N_LIST, t);
                n->a->list = items.v, n->a->n = items.n;
            }
            tok *e = next(P);
            if (e->t != T_VEND) perr(P, e, "expected '}}'%s", "");
            nv_push(P, &v, n);
            continue;
        }
        if (t->t == T_BBEGIN) {
            tok *nm = &P->t[P->i + 1];
            if (ends)
                for (int i = 0; ends[i]; i++)
                    if (is_name(nm, ends[i])) {
                        next(P), next(P);
                        *which = ends[i];
                        P->depth--;
                        return body_node(P, start, &v);
                    }
            static const char *const stray[] = {"endif", "endfor", "else", "elif", "endset", "endmacro",
                                                "endgeneration", "endraw", NULL};
            for (int i = 0; stray[i]; i++)
                if (is_name(nm, stray[i])) perr(P, nm, "unexpected {%% %s %%}", stray[i]);
            nv_push(P, &v, parse_stmt(P));
            continue;
        }
        perr(P, t, "unexpected token outside of a tag%s", "");
    }
    P->depth--;
    return body_node(P, start, &v);
}

jnode *jparse(jctx *x) {
    lexer L = {.x = x, .s = x->src, .n = x->src_len, .line = 1, .col = 1};
    lex(&L);
    parser P = {.x = x, .t = L.toks, .n = L.nt};
    return parse_body(&P, NULL, NULL);
}
