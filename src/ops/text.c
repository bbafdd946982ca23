/*
 * text.c: string operators for preprocessing graphs: StringConcat (broadcast),
 * StringSplit (delimiter or whitespace runs, maxsplit, padded tokens + counts),
 * StringNormalizer (stopword removal, ASCII case change; locale is ignored),
 * RegexFullMatch (RE2 syntax translated to POSIX extended regex: \w \W \d \D \s \S
 * outside and inside brackets; constructs POSIX lacks are rejected at load) and
 * TfIdfVectorizer (n-gram counting with skips over int or string tokens).
 *
 * Workload: tokenizer-side graphs exported from scikit-learn / ONNX-ML; inputs are
 * small, so the code favours clarity. Strings in tensors are NUL-terminated and
 * malloc'd (it_strdup) as the tensor layer expects.
 */
#include <ctype.h>
#include <regex.h>
#include <strings.h>

#include "ops.h"

static const char *sget(const it_tensor *t, int64_t i) {
    const char *s = ((char *const *)t->data)[i];
    return s ? s : "";
}

static int sset(it_opctx *c, it_tensor *t, int64_t i, const char *s, size_t n) {
    char *d = it_strndup(s, n);
    if (!d) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    ((char **)t->data)[i] = d;
    return 0;
}

/* ---------------------------------------------------------------- StringConcat */

static int concat_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, A);
    IT_REQUIRE_IN(c, 1, B);
    if (A->dtype != IT_STRING || B->dtype != IT_STRING) return it_opfail(c, INGOT_ERR_SHAPE, "inputs must be strings");
    int nd;
    int64_t od[IT_MAX_DIMS], sa[IT_MAX_DIMS], sb[IT_MAX_DIMS], idx[IT_MAX_DIMS] = {0};
    if (it_broadcast_shape(A->ndim, A->dims, B->ndim, B->dims, &nd, od))
        return it_opfail(c, INGOT_ERR_SHAPE, "inputs do not broadcast");
    it_tensor *Y;
    int st = it_out_tensor(c, 0, IT_STRING, nd, od, &Y);
    if (st) return st;
    it_broadcast_strides(A->ndim, A->dims, nd, od, sa);
    it_broadcast_strides(B->ndim, B->dims, nd, od, sb);
    int64_t n = it_count(Y);
    for (int64_t i = 0; i < n; i++) {
        int64_t ia = 0, ib = 0;
        for (int k = 0; k < nd; k++) ia += idx[k] * sa[k], ib += idx[k] * sb[k];
        const char *a = sget(A, ia), *b = sget(B, ib);
        size_t la = strlen(a), lb = strlen(b);
        char *d = malloc(la + lb + 1);
        if (!d) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
        memcpy(d, a, la);
        memcpy(d + la, b, lb + 1);
        ((char **)Y->data)[i] = d;
        it_next_index(nd, od, idx);
    }
    return 0;
}

/* ---------------------------------------------------------------- StringSplit */

/* Split s like Python's str.split(sep, maxsplit). With emit == NULL only counts.
 * Returns the token count or -1 on allocation failure. */
static int64_t split_one(const char *s, const char *sep, int64_t maxsplit, it_opctx *c, it_tensor *out, int64_t base) {
    int64_t cnt = 0;
    size_t len = strlen(s);
#define EMIT(p, l)                                                                      \
    do {                                                                                \
        if (out && sset(c, out, base + cnt, (p), (l))) return -1;                       \
        cnt++;                                                                          \
    } while (0)
    if (sep && *sep) {
        size_t sl = strlen(sep), i = 0;
        int64_t splits = 0;
        for (;;) {
            const char *hit = (maxsplit < 0 || splits < maxsplit) ? strstr(s + i, sep) : NULL;
            if (!hit) {
                EMIT(s + i, len - i);
                break;
            }
            EMIT(s + i, (size_t)(hit - (s + i)));
            i = (size_t)(hit - s) + sl;
            splits++;
        }
    } else {
        size_t i = 0;
        int64_t left = maxsplit < 0 ? INT64_MAX : maxsplit;
        while (left-- > 0) {
            while (i < len && isspace((unsigned char)s[i])) i++;
            if (i == len) break;
            size_t j = i;
            while (i < len && !isspace((unsigned char)s[i])) i++;
            EMIT(s + j, i - j);
        }
        if (i < len) {
            while (i < len && isspace((unsigned char)s[i])) i++;
            if (i != len) EMIT(s + i, len - i);
        }
    }
#undef EMIT
    return cnt;
}

static int split_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, X);
    if (X->dtype != IT_STRING) return it_opfail(c, INGOT_ERR_SHAPE, "input must be strings");
    if (X->ndim + 1 > IT_MAX_DIMS) return it_opfail(c, INGOT_ERR_LIMIT, "rank too large");
    const char *sep = it_attr_str(c->node, "delimiter", NULL);
    int64_t maxsplit = it_attr_int(c->node, "maxsplit", -1);
    int64_t n = it_count(X), maxc = 0;
    it_tensor *Y, *Z;
    int st = it_out_tensor(c, 1, IT_I64, X->ndim, X->dims, &Z);
    if (st) return st;
    for (int64_t i = 0; i < n; i++) {
        int64_t k = split_one(sget(X, i), sep, maxsplit, c, NULL, 0);
        ((int64_t *)Z->data)[i] = k;
        if (k > maxc) maxc = k;
    }
    int64_t yd[IT_MAX_DIMS];
    for (int i = 0; i < X->ndim; i++) yd[i] = X->dims[i];
    yd[X->ndim] = maxc;
    if ((st = it_out_tensor(c, 0, IT_STRING, X->ndim + 1, yd, &Y))) return st;
    for (int64_t i = 0; i < n; i++) {
        int64_t k = split_one(sget(X, i), sep, maxsplit, c, Y, i * maxc);
        if (k < 0) return INGOT_ERR_NOMEM;
        for (int64_t j = k; j < maxc; j++)
            if (sset(c, Y, i * maxc + j, "", 0)) return INGOT_ERR_NOMEM;
    }
    return 0;
}

/* ---------------------------------------------------------------- StringNormalizer */

static int normalizer_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, X);
    const it_node *nd = c->node;
    if (X->dtype != IT_STRING) return it_opfail(c, INGOT_ERR_SHAPE, "input must be strings");
    int two = X->ndim == 2;
    if (!(X->ndim == 1 || (two && X->dims[0] == 1)))
        return it_opfail(c, INGOT_ERR_SHAPE, "input must be [C] or [1, C]");
    const char *act = it_attr_str(nd, "case_change_action", "NONE");
    int mode;
    if (!strcmp(act, "NONE")) mode = 0;
    else if (!strcmp(act, "LOWER")) mode = 1;
    else if (!strcmp(act, "UPPER")) mode = 2;
    else return it_opfail(c, INGOT_ERR_FORMAT, "unknown case_change_action '%s'", act);
    int cs = (int)it_attr_int(nd, "is_case_sensitive", 0);
    const it_attr *sw = it_attr_get(nd, "stopwords");
    int nsw = sw && sw->type == IT_ATTR_STRINGS ? sw->n : 0;
    int64_t n = it_count(X), kept = 0;
    uint8_t *keep = it_scratch(c, (size_t)(n + 1));
    if (!keep) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        const char *s = sget(X, i);
        keep[i] = 1;
        for (int k = 0; k < nsw; k++) {
            const char *w = sw->strings[k] ? sw->strings[k] : "";
            if (cs ? !strcmp(s, w) : !strcasecmp(s, w)) { keep[i] = 0; break; }
        }
        kept += keep[i];
    }
    int64_t od[2];
    int64_t outn = kept ? kept : 1;
    if (two) od[0] = 1, od[1] = outn;
    else od[0] = outn;
    it_tensor *Y;
    int st = it_out_tensor(c, 0, IT_STRING, two ? 2 : 1, od, &Y);
    if (st) return st;
    if (!kept) return sset(c, Y, 0, "", 0);
    int64_t o = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!keep[i]) continue;
        const char *s = sget(X, i);
        if (sset(c, Y, o, s, strlen(s))) return INGOT_ERR_NOMEM;
        char *d = ((char **)Y->data)[o++];
        if (mode == 1)
            for (; *d; d++) *d = (char)tolower((unsigned char)*d);
        else if (mode == 2)
            for (; *d; d++) *d = (char)toupper((unsigned char)*d);
    }
    return 0;
}

/* ---------------------------------------------------------------- RegexFullMatch */

typedef struct rx_state {
    regex_t re;
} rx_state;

static void rx_free(void *p) {
    rx_state *s = p;
    if (!s) return;
    regfree(&s->re);
    free(s);
}

/* Append to a bounded buffer; returns 0 on overflow. */
static int rx_put(char *buf, size_t cap, size_t *o, const char *s) {
    size_t l = strlen(s);
    if (*o + l + 1 > cap) return 0;
    memcpy(buf + *o, s, l + 1);
    *o += l;
    return 1;
}

/* Translate an RE2 pattern into POSIX ERE anchored as ^(...)$. 0 on unsupported. */
static int rx_translate(const char *p, char *out, size_t cap, const char **why) {
    size_t o = 0;
    char one[2] = {0, 0};
    if (!rx_put(out, cap, &o, "^(")) return 0;
    for (size_t i = 0; p[i];) {
        char ch = p[i];
        if (ch == '\\') {
            char e = p[i + 1];
            const char *r = NULL;
            switch (e) {
            case 'w': r = "[[:alnum:]_]"; break;
            case 'W': r = "[^[:alnum:]_]"; break;
            case 'd': r = "[[:digit:]]"; break;
            case 'D': r = "[^[:digit:]]"; break;
            case 's': r = "[[:space:]]"; break;
            case 'S': r = "[^[:space:]]"; break;
            case 't': r = "\t"; break;
            case 'n': r = "\n"; break;
            case 0: *why = "trailing backslash"; return 0;
            default:
                if (isalnum((unsigned char)e)) { *why = "unsupported escape"; return 0; }
                one[0] = e;
                if (!rx_put(out, cap, &o, "\\") || !rx_put(out, cap, &o, one)) return 0;
                i += 2;
                continue;
            }
            if (!rx_put(out, cap, &o, r)) return 0;
            i += 2;
        } else if (ch == '[') {
            /* bracket expression: collect items, '-' and ']' literals placed safely */
            size_t j = i + 1;
            int neg = 0, dash = 0, rbr = 0;
            char items[1024];
            size_t io = 0;
            items[0] = 0;
            if (p[j] == '^') neg = 1, j++;
            if (p[j] == ']') rbr = 1, j++;
            for (;;) {
                char b = p[j];
                if (!b) { *why = "unterminated bracket"; return 0; }
                if (b == ']') { j++; break; }
                if (b == '[' && p[j + 1] == ':') {
                    const char *end = strstr(p + j + 2, ":]");
                    if (!end) { *why = "bad class"; return 0; }
                    size_t l = (size_t)(end + 2 - (p + j));
                    if (io + l + 1 > sizeof items) return 0;
                    memcpy(items + io, p + j, l);
                    io += l;
                    items[io] = 0;
                    j += l;
                    continue;
                }
                if (b == '\\') {
                    char e = p[j + 1];
                    const char *r = NULL;
                    if (e == 'w') r = "[:alnum:]_";
                    else if (e == 'd') r = "[:digit:]";
                    else if (e == 's') r = "[:space:]";
                    else if (e == '-') { dash = 1; j += 2; continue; }
                    else if (e == ']') { rbr = 1; j += 2; continue; }
                    else if (e == 't') r = "\t";
                    else if (e == 'n') r = "\n";
                    else if (e && !isalnum((unsigned char)e)) { one[0] = e; r = one; }
                    else { *why = "unsupported escape in brackets"; return 0; }
                    if (!rx_put(items, sizeof items, &io, r)) return 0;
                    j += 2;
                    continue;
                }
                if (b == '-' && (p[j + 1] == ']' || io == 0)) { dash = 1; j++; continue; }
                one[0] = b;
                if (!rx_put(items, sizeof items, &io, one)) return 0;
                j++;
            }
            if (!rx_put(out, cap, &o, neg ? "[^" : "[") || (rbr && !rx_put(out, cap, &o, "]")) ||
                !rx_put(out, cap, &o, items) || (dash && !rx_put(out, cap, &o, "-")) || !rx_put(out, cap, &o, "]"))
                return 0;
            i = j;
        } else if (ch == '(' && p[i + 1] == '?') {
            if (p[i + 2] == ':') { /* non-capturing group: a plain group in POSIX */
                if (!rx_put(out, cap, &o, "(")) return 0;
                i += 3;
                continue;
            }
            *why = "group flags / lookaround";
            return 0;
        } else if ((ch == '*' || ch == '+' || ch == '?' || ch == '}') && p[i + 1] == '?') {
            *why = "non-greedy quantifier";
            return 0;
        } else {
            one[0] = ch;
            if (!rx_put(out, cap, &o, one)) return 0;
            i++;
        }
    }
    return rx_put(out, cap, &o, ")$");
}

static int rx_init(it_node *n, it_err *e) {
    const char *pat = it_attr_str(n, "pattern", NULL);
    if (!pat) return it_fail(e, INGOT_ERR_FORMAT, "RegexFullMatch needs a pattern");
    size_t cap = strlen(pat) * 16 + 64;
    char *buf = malloc(cap);
    rx_state *s = calloc(1, sizeof *s);
    const char *why = "pattern too long";
    if (!buf || !s) {
        free(buf), free(s);
        return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    }
    if (!rx_translate(pat, buf, cap, &why)) {
        free(buf), free(s);
        return it_fail(e, INGOT_ERR_UNSUPPORTED, "RegexFullMatch pattern '%s': %s is not supported", pat, why);
    }
    int r = regcomp(&s->re, buf, REG_EXTENDED | REG_NOSUB);
    free(buf);
    if (r) {
        free(s);
        return it_fail(e, INGOT_ERR_FORMAT, "RegexFullMatch pattern '%s' does not compile", pat);
    }
    n->state = s;
    return 0;
}

static int rx_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, X);
    if (X->dtype != IT_STRING) return it_opfail(c, INGOT_ERR_SHAPE, "input must be strings");
    rx_state *s = c->node->state;
    if (!s) return it_opfail(c, INGOT_ERR_INTERNAL, "regex not compiled");
    it_tensor *Y;
    int st = it_out_like(c, 0, IT_BOOL, X, &Y);
    if (st) return st;
    int64_t n = it_count(X);
    for (int64_t i = 0; i < n; i++) ((uint8_t *)Y->data)[i] = regexec(&s->re, sget(X, i), 0, NULL, 0) == 0;
    return 0;
}

/* ---------------------------------------------------------------- TfIdfVectorizer */

typedef struct tf_gram {
    int n;           /* n-gram length */
    int64_t off;     /* first pool item */
    int64_t out;     /* output column */
} tf_gram;

typedef struct tf_state {
    int strings;     /* pool of strings (else int64) */
    const int64_t *pi;
    const char **ps;
    tf_gram *g;      /* sorted by (n, items) */
    int64_t ng, out_size;
    int64_t minl, maxl, skip;
    int mode;        /* 1 TF, 2 IDF, 3 TFIDF */
    const float *w;
    int64_t nw;
} tf_state;

static void tf_free(void *p) {
    tf_state *s = p;
    if (!s) return;
    free(s->g);
    free(s);
}

/* compare pool n-gram a with pool n-gram b (same n) */
static int tf_cmp_pool(const tf_state *s, const tf_gram *a, const tf_gram *b) {
    if (a->n != b->n) return a->n < b->n ? -1 : 1;
    for (int k = 0; k < a->n; k++) {
        int r;
        if (s->strings) r = strcmp(s->ps[a->off + k] ? s->ps[a->off + k] : "", s->ps[b->off + k] ? s->ps[b->off + k] : "");
        else r = s->pi[a->off + k] < s->pi[b->off + k] ? -1 : s->pi[a->off + k] > s->pi[b->off + k];
        if (r) return r;
    }
    return 0;
}

/* Merge sort of the pool n-grams (pools can hold many thousands of entries). */
static void tf_sort(const tf_state *s, tf_gram *g, tf_gram *tmp, int64_t n) {
    if (n < 2) return;
    int64_t h = n / 2;
    tf_sort(s, g, tmp, h);
    tf_sort(s, g + h, tmp, n - h);
    int64_t i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = tf_cmp_pool(s, &g[j], &g[i]) < 0 ? g[j++] : g[i++];
    while (i < h) tmp[k++] = g[i++];
    while (j < n) tmp[k++] = g[j++];
    memcpy(g, tmp, (size_t)n * sizeof *g);
}

static int tf_init(it_node *n, it_err *e) {
    tf_state *s = calloc(1, sizeof *s);
    if (!s) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    n->state = s;
    const char *mode = it_attr_str(n, "mode", "");
    if (!strcmp(mode, "TF")) s->mode = 1;
    else if (!strcmp(mode, "IDF")) s->mode = 2;
    else if (!strcmp(mode, "TFIDF")) s->mode = 3;
    else return it_fail(e, INGOT_ERR_FORMAT, "TfIdfVectorizer mode '%s'", mode);
    s->minl = it_attr_int(n, "min_gram_length", 0);
    s->maxl = it_attr_int(n, "max_gram_length", 0);
    s->skip = it_attr_int(n, "max_skip_count", 0);
    if (s->minl < 1 || s->maxl < s->minl || s->maxl > 64 || s->skip < 0 || s->skip > 1 << 20)
        return it_fail(e, INGOT_ERR_FORMAT, "TfIdfVectorizer gram lengths / skip invalid");
    const int64_t *counts, *idx;
    int nc = it_attr_ints(n, "ngram_counts", &counts);
    int ni = it_attr_ints(n, "ngram_indexes", &idx);
    const it_attr *ps = it_attr_get(n, "pool_strings");
    int64_t total;
    if (ps && ps->type == IT_ATTR_STRINGS && ps->n > 0) {
        s->strings = 1;
        s->ps = ps->strings;
        total = ps->n;
    } else {
        total = it_attr_ints(n, "pool_int64s", &s->pi);
    }
    s->nw = it_attr_floats(n, "weights", &s->w);
    s->g = calloc((size_t)total + 1, sizeof(tf_gram));
    if (!s->g) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    int64_t k = 0;
    for (int i = 0; i < nc; i++) {
        int64_t st = counts[i], en = i + 1 < nc ? counts[i + 1] : total, sz = i + 1;
        if (st < 0 || en > total || en < st) return it_fail(e, INGOT_ERR_FORMAT, "TfIdfVectorizer ngram_counts invalid");
        for (int64_t p = st; p + sz <= en; p += sz) {
            if (k >= ni) return it_fail(e, INGOT_ERR_FORMAT, "TfIdfVectorizer has fewer ngram_indexes than n-grams");
            if (idx[k] < 0 || idx[k] > (1 << 28)) return it_fail(e, INGOT_ERR_FORMAT, "ngram index out of range");
            if (sz >= s->minl && sz <= s->maxl) {
                s->g[s->ng].n = (int)sz;
                s->g[s->ng].off = p;
                s->g[s->ng].out = idx[k];
                s->ng++;
            }
            k++;
        }
    }
    for (int i = 0; i < ni; i++)
        if (idx[i] + 1 > s->out_size) s->out_size = idx[i] + 1;
    if (s->mode != 1 && s->nw && s->nw < s->out_size) return it_fail(e, INGOT_ERR_FORMAT, "TfIdfVectorizer weights too short");
    tf_gram *tmp = malloc(((size_t)s->ng + 1) * sizeof *tmp);
    if (!tmp) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    tf_sort(s, s->g, tmp, s->ng);
    free(tmp);
    return 0;
}

/* Compare pool n-gram g with the input tokens at pos, pos+d, ... */
static int tf_cmp_in(const tf_state *s, const tf_gram *g, const it_tensor *X, int64_t pos, int64_t d, int n) {
    if (g->n != n) return g->n < n ? -1 : 1;
    for (int k = 0; k < n; k++) {
        int64_t xi = pos + k * d;
        int r;
        if (s->strings) r = strcmp(s->ps[g->off + k] ? s->ps[g->off + k] : "", sget(X, xi));
        else {
            int64_t a = s->pi[g->off + k], b = it_get_i64(X->data, X->dtype, xi);
            r = a < b ? -1 : a > b;
        }
        if (r) return r;
    }
    return 0;
}

static int tf_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, X);
    tf_state *s = c->node->state;
    if (!s) return it_opfail(c, INGOT_ERR_INTERNAL, "state missing");
    if (s->strings ? X->dtype != IT_STRING : !(X->dtype == IT_I32 || X->dtype == IT_I64))
        return it_opfail(c, INGOT_ERR_SHAPE, "input type does not match the pool");
    int64_t B, L;
    if (X->ndim == 1) B = 1, L = X->dims[0];
    else if (X->ndim == 2) B = X->dims[0], L = X->dims[1];
    else return it_opfail(c, INGOT_ERR_SHAPE, "input must be 1-D or 2-D");
    int64_t od[2] = {B, s->out_size};
    it_tensor *Y;
    int st = X->ndim == 1 ? it_out_tensor(c, 0, IT_F32, 1, &od[1], &Y) : it_out_tensor(c, 0, IT_F32, 2, od, &Y);
    if (st) return st;
    float *y = Y->data;
    for (int64_t b = 0; b < B; b++) {
        float *row = y + b * s->out_size;
        int64_t base = b * L;
        for (int n = (int)s->minl; n <= s->maxl; n++) {
            int64_t dmax = n == 1 ? 1 : s->skip + 1;
            for (int64_t d = 1; d <= dmax; d++)
                for (int64_t p = 0; p + (n - 1) * d < L; p++) {
                    int64_t lo = 0, hi = s->ng - 1;
                    while (lo <= hi) {
                        int64_t mid = lo + (hi - lo) / 2;
                        int r = tf_cmp_in(s, &s->g[mid], X, base + p, d, n);
                        if (!r) { row[s->g[mid].out] += 1; break; }
                        if (r < 0) lo = mid + 1;
                        else hi = mid - 1;
                    }
                }
        }
        for (int64_t i = 0; i < s->out_size; i++) {
            if (s->mode == 2) row[i] = row[i] > 0 ? (s->nw ? s->w[i] : 1.0f) : 0.0f;
            else if (s->mode == 3 && s->nw) row[i] *= s->w[i];
        }
    }
    return 0;
}

const it_op it_ops_text[] = {
    {"", "StringConcat", NULL, concat_run, NULL, 0, NULL},
    {"", "StringSplit", NULL, split_run, NULL, 0, NULL},
    {"", "StringNormalizer", NULL, normalizer_run, NULL, 0, NULL},
    {"", "RegexFullMatch", rx_init, rx_run, rx_free, 0, NULL},
    {"", "TfIdfVectorizer", tf_init, tf_run, tf_free, 0, NULL},
    {0},
};
