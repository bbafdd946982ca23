/*
 * reduce2.c: the Einsum engine of the 'reduce' operator family (the family
 * table is in reduce.c).
 *
 * An equation ("bij,bjk->bik", "...ii->...i", implicit "ij,jk") is parsed
 * against the input ranks: letters become labels, an ellipsis becomes labels
 * for its dims (right-aligned, broadcast like numpy). Each operand first takes
 * its diagonals (repeated labels) and sums out labels no other operand or the
 * output needs; operands are then contracted left to right, each step a
 * transpose (skipped when the layout already fits) into [batch, M, K] x
 * [batch, K, N] and batched matrix products (it_sgemm for float32, a plain loop
 * in double for every other dtype). A final transpose gives the output order.
 * Workload: attention-style contractions in exported float32 models.
 */
#include "reduce_internal.h"

#define NLAB (52 + IT_MAX_DIMS) /* letters, then ellipsis dims */
#define TMAX 64                  /* labels of one term (intermediate unions too) */
#define EMAX_IN 64               /* operands */

typedef struct eterm {
    int nd;
    int lab[TMAX];
    int64_t dims[TMAX];
    void *data; /* contiguous, element type of the computation */
} eterm;

typedef struct ectx {
    it_opctx *c;
    int es; /* 4: float32, 8: double */
    void *heap[64];
    int nheap;
} ectx;

static int letter_id(char ch) {
    if (ch >= 'a' && ch <= 'z') return ch - 'a';
    if (ch >= 'A' && ch <= 'Z') return 26 + ch - 'A';
    return -1;
}

/* A buffer of `count` elements: op scratch, or heap when scratch runs out. */
static void *ebuf(ectx *e, int64_t count) {
    int64_t bytes;
    if (count < 1) count = 1;
    if (count > IT_LIMIT_ELEMENTS || !it_mul_ok(count, e->es, &bytes)) return NULL;
    void *p = it_scratch(e->c, (size_t)bytes);
    if (!p && e->nheap < 64) {
        p = it_malloc((size_t)bytes);
        if (p) e->heap[e->nheap++] = p;
    }
    return p;
}

/* ---- equation parsing ---- */

typedef struct eparsed {
    int n_in;
    int nlab[EMAX_IN];       /* labels in each term (before ellipsis expansion) */
    int lab[EMAX_IN][TMAX];  /* letter ids, -2 marks the ellipsis */
    int has_out;
    int out_n;
    int out_lab[TMAX];
} eparsed;

/* Parse one term (letters and at most one "...") from s[0..n). */
static int parse_term(const char *s, size_t n, int *lab, int *nlab, it_err *err) {
    int k = 0, ell = 0;
    for (size_t i = 0; i < n;) {
        char ch = s[i];
        if (ch == ' ') { i++; continue; }
        if (ch == '.') {
            if (i + 2 >= n || s[i + 1] != '.' || s[i + 2] != '.' || ell)
                return it_fail(err, INGOT_ERR_FORMAT, "einsum: bad ellipsis in equation");
            ell = 1;
            if (k >= TMAX) return it_fail(err, INGOT_ERR_FORMAT, "einsum: term too long");
            lab[k++] = -2;
            i += 3;
            continue;
        }
        int id = letter_id(ch);
        if (id < 0) return it_fail(err, INGOT_ERR_FORMAT, "einsum: invalid character '%c' in equation", ch);
        if (k >= TMAX) return it_fail(err, INGOT_ERR_FORMAT, "einsum: term too long");
        lab[k++] = id;
        i++;
    }
    *nlab = k;
    return 0;
}

static int parse_equation(const char *eq, eparsed *p, it_err *err) {
    memset(p, 0, sizeof *p);
    const char *arrow = strstr(eq, "->");
    size_t lhs_len = arrow ? (size_t)(arrow - eq) : strlen(eq);
    const char *t = eq;
    for (;;) {
        const char *comma = memchr(t, ',', lhs_len - (size_t)(t - eq));
        size_t len = comma ? (size_t)(comma - t) : lhs_len - (size_t)(t - eq);
        if (p->n_in >= EMAX_IN) return it_fail(err, INGOT_ERR_UNSUPPORTED, "einsum: too many operands");
        int st = parse_term(t, len, p->lab[p->n_in], &p->nlab[p->n_in], err);
        if (st) return st;
        p->n_in++;
        if (!comma) break;
        t = comma + 1;
    }
    if (arrow) {
        p->has_out = 1;
        const char *r = arrow + 2;
        if (strstr(r, "->")) return it_fail(err, INGOT_ERR_FORMAT, "einsum: more than one '->'");
        int st = parse_term(r, strlen(r), p->out_lab, &p->out_n, err);
        if (st) return st;
        for (int i = 0; i < p->out_n; i++)
            for (int j = 0; j < i; j++)
                if (p->out_lab[i] == p->out_lab[j])
                    return it_fail(err, INGOT_ERR_FORMAT, "einsum: output label repeated");
    }
    return 0;
}

int it_einsum_init(it_node *n, it_err *e) {
    const char *eq = it_attr_str(n, "equation", NULL);
    if (!eq) return it_fail(e, INGOT_ERR_FORMAT, "Einsum: missing 'equation' attribute");
    eparsed *p = it_malloc(sizeof *p);
    if (!p) return it_fail(e, INGOT_ERR_NOMEM, "Einsum: out of memory");
    int st = parse_equation(eq, p, e);
    it_free(p);
    return st;
}

/* ---- data movement ---- */

/* dst (contiguous, shape dims[nd]) = src read with element strides st[nd]. */
static void gather(const void *src, void *dst, int es, int nd, const int64_t *dims, const int64_t *st) {
    for (int k = 0; k < nd; k++)
        if (dims[k] == 0) return;
    if (nd == 0) { memcpy(dst, src, (size_t)es); return; }
    int64_t idx[TMAX] = {0}, off = 0, L = dims[nd - 1], s = st[nd - 1];
    char *d = dst;
    for (;;) {
        if (es == 4) {
            const float *p = (const float *)src + off;
            float *q = (float *)d;
            if (s == 1) memcpy(q, p, (size_t)L * 4);
            else for (int64_t j = 0; j < L; j++) q[j] = p[j * s];
        } else {
            const double *p = (const double *)src + off;
            double *q = (double *)d;
            if (s == 1) memcpy(q, p, (size_t)L * 8);
            else for (int64_t j = 0; j < L; j++) q[j] = p[j * s];
        }
        d += L * es;
        int k = nd - 2;
        for (; k >= 0; k--) {
            off += st[k];
            if (++idx[k] < dims[k]) break;
            off -= st[k] * dims[k];
            idx[k] = 0;
        }
        if (k < 0) break;
    }
}

/* In place: buf[P][Q] -> buf[P] row sums (row p is read before index p is written). */
static void sum_rows(void *buf, int es, int64_t P, int64_t Q) {
    for (int64_t p = 0; p < P; p++) {
        double s = 0;
        if (es == 4) {
            const float *r = (const float *)buf + p * Q;
            for (int64_t q = 0; q < Q; q++) s += r[q];
            ((float *)buf)[p] = (float)s;
        } else {
            const double *r = (const double *)buf + p * Q;
            for (int64_t q = 0; q < Q; q++) s += r[q];
            ((double *)buf)[p] = s;
        }
    }
}

static int term_find(const eterm *t, int l) {
    for (int i = 0; i < t->nd; i++)
        if (t->lab[i] == l) return i;
    return -1;
}

/* Element strides of term t (unique labels) read in the order of labels lab[n]
 * with sizes dims[n]: a label t lacks or holds with size 1 is broadcast (stride 0). */
static void term_strides(const eterm *t, int n, const int *lab, const int64_t *dims, int64_t *st) {
    int64_t cs[TMAX], s = 1;
    for (int i = t->nd - 1; i >= 0; i--) { cs[i] = s; s *= t->dims[i]; }
    for (int k = 0; k < n; k++) {
        int i = term_find(t, lab[k]);
        st[k] = (i < 0 || (t->dims[i] == 1 && dims[k] != 1)) ? 0 : cs[i];
    }
}

/* Is term t laid out exactly as labels lab[n] with sizes dims[n]? */
static int term_is(const eterm *t, int n, const int *lab, const int64_t *dims) {
    if (t->nd != n) return 0;
    for (int k = 0; k < n; k++)
        if (t->lab[k] != lab[k] || t->dims[k] != dims[k]) return 0;
    return 1;
}

static int64_t count_of(int n, const int64_t *d) {
    int64_t c = 1;
    for (int i = 0; i < n; i++)
        if (!it_mul_ok(c, d[i], &c) || c > IT_LIMIT_ELEMENTS) return -1;
    return c;
}

/* ---- products ---- */

static void gemm_f64(int64_t M, int64_t N, int64_t K, const double *A, int ta, const double *B, int tb, double *C) {
    for (int64_t i = 0; i < M * N; i++) C[i] = 0;
    for (int64_t m = 0; m < M; m++)
        for (int64_t k = 0; k < K; k++) {
            double a = ta ? A[k * M + m] : A[m * K + k];
            if (a == 0) continue;
            double *c = C + m * N;
            if (!tb) {
                const double *b = B + k * N;
                for (int64_t n = 0; n < N; n++) c[n] += a * b[n];
            } else {
                for (int64_t n = 0; n < N; n++) c[n] += a * B[n * K + k];
            }
        }
}

/* Contract a and b into r, keeping labels in need[] (1 = needed later).
 * out_data: when the result would be laid out as the final output (labels
 * out_lab[out_n], sizes out_dims) it is written straight into out_data. */
static int contract(ectx *e, const eterm *a, const eterm *b, const unsigned char *need, eterm *r,
                    int out_n, const int *out_lab, const int64_t *out_dims, void *out_data) {
    int bl[TMAX], ml[TMAX], kl[TMAX], nl[TMAX], nb = 0, nm = 0, nk = 0, nn = 0;
    int64_t bd[TMAX], md[TMAX], kd[TMAX], nd_[TMAX];
    for (int i = 0; i < a->nd; i++) {
        int l = a->lab[i], j = term_find(b, l);
        if (j >= 0) {
            int64_t da = a->dims[i], db = b->dims[j];
            if (da != db && da != 1 && db != 1)
                return it_opfail(e->c, INGOT_ERR_SHAPE, "einsum: label sizes %lld and %lld do not match", (long long)da, (long long)db);
            int64_t d = da == 1 ? db : da;
            if (need[l]) { bl[nb] = l; bd[nb++] = d; }
            else { kl[nk] = l; kd[nk++] = d; }
        } else {
            ml[nm] = l; md[nm++] = a->dims[i];
        }
    }
    for (int j = 0; j < b->nd; j++)
        if (term_find(a, b->lab[j]) < 0) { nl[nn] = b->lab[j]; nd_[nn++] = b->dims[j]; }
    if (nb + nm + nn > TMAX || nb + nm + nk > TMAX || nb + nk + nn > TMAX)
        return it_opfail(e->c, INGOT_ERR_UNSUPPORTED, "einsum: too many labels");
    int64_t NB = count_of(nb, bd), M = count_of(nm, md), K = count_of(nk, kd), N = count_of(nn, nd_);
    if (NB < 0 || M < 0 || K < 0 || N < 0) return it_opfail(e->c, INGOT_ERR_SHAPE, "einsum: operand too large");
    /* A as [batch, M, K] (ta 0) or [batch, K, M] (ta 1) */
    int lab[TMAX];
    int64_t dims[TMAX], st[TMAX];
    const void *A = a->data, *B = b->data;
    int ta = 0, tb = 0, n = 0;
#define PUT(L, D, CNT) for (int q = 0; q < (CNT); q++) { lab[n] = (L)[q]; dims[n++] = (D)[q]; }
    n = 0; PUT(bl, bd, nb); PUT(ml, md, nm); PUT(kl, kd, nk);
    if (!term_is(a, n, lab, dims)) {
        n = 0; PUT(bl, bd, nb); PUT(kl, kd, nk); PUT(ml, md, nm);
        if (term_is(a, n, lab, dims)) ta = 1;
        else {
            n = 0; PUT(bl, bd, nb); PUT(ml, md, nm); PUT(kl, kd, nk);
            void *p = ebuf(e, NB * M * K);
            if (!p) return it_opfail(e->c, INGOT_ERR_NOMEM, "einsum: out of memory");
            term_strides(a, n, lab, dims, st);
            gather(a->data, p, e->es, n, dims, st);
            A = p;
        }
    }
    n = 0; PUT(bl, bd, nb); PUT(kl, kd, nk); PUT(nl, nd_, nn);
    if (!term_is(b, n, lab, dims)) {
        n = 0; PUT(bl, bd, nb); PUT(nl, nd_, nn); PUT(kl, kd, nk);
        if (term_is(b, n, lab, dims)) tb = 1;
        else {
            n = 0; PUT(bl, bd, nb); PUT(kl, kd, nk); PUT(nl, nd_, nn);
            void *p = ebuf(e, NB * K * N);
            if (!p) return it_opfail(e->c, INGOT_ERR_NOMEM, "einsum: out of memory");
            term_strides(b, n, lab, dims, st);
            gather(b->data, p, e->es, n, dims, st);
            B = p;
        }
    }
    n = 0; PUT(bl, bd, nb); PUT(ml, md, nm); PUT(nl, nd_, nn);
#undef PUT
    r->nd = n;
    memcpy(r->lab, lab, sizeof(int) * (size_t)n);
    memcpy(r->dims, dims, sizeof(int64_t) * (size_t)n);
    int direct = out_data && out_n == n;
    for (int k = 0; direct && k < n; k++) direct = out_lab[k] == lab[k] && out_dims[k] == dims[k];
    void *C = direct ? out_data : ebuf(e, NB * M * N);
    if (!C) return it_opfail(e->c, INGOT_ERR_NOMEM, "einsum: out of memory");
    r->data = C;
    if (NB * M * N == 0) return 0;
    for (int64_t q = 0; q < NB; q++) {
        if (e->es == 4) {
            float *c = (float *)C + q * M * N;
            if (K == 0) { memset(c, 0, (size_t)(M * N) * 4); continue; }
            const float *pa = (const float *)A + q * M * K, *pb = (const float *)B + q * K * N;
            it_sgemm(e->c->tp, ta, tb, M, N, K, 1.0f, pa, ta ? M : K, pb, tb ? K : N, 0.0f, c, N);
        } else {
            gemm_f64(M, N, K, (const double *)A + q * M * K, ta, (const double *)B + q * K * N, tb,
                     (double *)C + q * M * N);
        }
    }
    return 0;
}

/* ---- the operator ---- */

static int einsum_compute(ectx *ep, const eparsed *p, eterm *terms);

int it_einsum_run(it_opctx *c) {
    const char *eq = it_attr_str(c->node, "equation", NULL);
    if (!eq) return it_opfail(c, INGOT_ERR_FORMAT, "missing 'equation' attribute");
    eparsed *p = it_scratch(c, sizeof(eparsed));
    eterm *terms = it_scratch(c, sizeof(eterm) * (EMAX_IN + 1));
    if (!p || !terms) return it_opfail(c, INGOT_ERR_NOMEM, "out of scratch memory");
    int pst = parse_equation(eq, p, c->err);
    if (pst) return pst;
    if (p->n_in != c->n_in) return it_opfail(c, INGOT_ERR_FORMAT, "equation has %d operands but the node has %d inputs", p->n_in, c->n_in);
    ectx e = {c, 4, {0}, 0};
    int st = einsum_compute(&e, p, terms);
    for (int i = 0; i < e.nheap; i++) it_free(e.heap[i]);
    return st;
}

static int einsum_compute(ectx *ep, const eparsed *p, eterm *terms) {
    it_opctx *c = ep->c;
    int st = 0;
    int dt = -1;
    for (int i = 0; i < p->n_in; i++) {
        it_tensor *x = it_in(c, i);
        if (!x) return it_opfail(c, INGOT_ERR_FORMAT, "input %d is missing", i);
        if (dt < 0) dt = x->dtype;
        else if (x->dtype != dt) return it_opfail(c, INGOT_ERR_FORMAT, "inputs have different types");
    }
    if (dt == IT_STRING || dt == IT_BOOL || dt == IT_C64 || dt == IT_C128 || !it_dtype_size(dt))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unsupported input type %s", it_dtype_name(dt));
    ep->es = dt == IT_F32 ? 4 : 8;

    /* expand ellipses: raw labels of each input */
    int max_ne = 0, ne[EMAX_IN];
    for (int i = 0; i < p->n_in; i++) {
        it_tensor *x = it_in(c, i);
        int letters = 0, ell = 0;
        for (int k = 0; k < p->nlab[i]; k++) {
            if (p->lab[i][k] == -2) ell = 1;
            else letters++;
        }
        ne[i] = x->ndim - letters;
        if (ne[i] < 0 || (!ell && ne[i] != 0))
            return it_opfail(c, INGOT_ERR_SHAPE, "einsum: term %d has %d labels but input %d has rank %d", i, letters, i, x->ndim);
        if (ne[i] > max_ne) max_ne = ne[i];
    }
    int64_t size[NLAB];
    int count[NLAB] = {0};
    for (int l = 0; l < NLAB; l++) size[l] = -1;
    for (int i = 0; i < p->n_in; i++) {
        it_tensor *x = it_in(c, i);
        eterm *t = &terms[i];
        t->nd = 0;
        for (int k = 0; k < p->nlab[i]; k++) {
            if (p->lab[i][k] == -2) {
                for (int q = 0; q < ne[i]; q++) t->lab[t->nd++] = 52 + (max_ne - ne[i]) + q;
            } else {
                t->lab[t->nd++] = p->lab[i][k];
            }
        }
        for (int k = 0; k < t->nd; k++) {
            int l = t->lab[k];
            int64_t d = x->dims[k];
            t->dims[k] = d;
            count[l]++;
            if (size[l] < 0 || size[l] == 1) size[l] = d;
            else if (d != 1 && d != size[l])
                return it_opfail(c, INGOT_ERR_SHAPE, "einsum: label '%c' has sizes %lld and %lld",
                                 l < 26 ? 'a' + l : l < 52 ? 'A' + l - 26 : '.', (long long)size[l], (long long)d);
        }
    }
    /* output labels */
    int out_n = 0, out_lab[TMAX];
    if (p->has_out) {
        for (int k = 0; k < p->out_n; k++) {
            if (p->out_lab[k] == -2) {
                for (int q = 0; q < max_ne; q++) out_lab[out_n++] = 52 + q;
            } else {
                int l = p->out_lab[k];
                if (count[l] == 0) return it_opfail(c, INGOT_ERR_FORMAT, "einsum: output label '%c' is not in any input", l < 26 ? 'a' + l : 'A' + l - 26);
                out_lab[out_n++] = l;
            }
            if (out_n > IT_MAX_DIMS) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "einsum: output rank too large");
        }
    } else {
        for (int q = 0; q < max_ne; q++) out_lab[out_n++] = 52 + q;
        for (int l = 26; l < 52; l++) if (count[l] == 1 && out_n < TMAX) out_lab[out_n++] = l;
        for (int l = 0; l < 26; l++) if (count[l] == 1 && out_n < TMAX) out_lab[out_n++] = l;
        if (out_n > IT_MAX_DIMS) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "einsum: output rank too large");
    }
    int64_t odims[IT_MAX_DIMS];
    for (int k = 0; k < out_n; k++) odims[k] = size[out_lab[k]];
    it_tensor *y;
    st = it_out_tensor(c, 0, dt, out_n, odims, &y);
    if (st) return st;
    int64_t ycount = it_count(y);
    if (ycount == 0) return 0;

    unsigned char in_out[NLAB] = {0};
    for (int k = 0; k < out_n; k++) in_out[out_lab[k]] = 1;
    /* per-input: data in compute type, diagonals, sum of unneeded labels */
    for (int i = 0; i < p->n_in; i++) {
        it_tensor *x = it_in(c, i);
        eterm *t = &terms[i];
        int64_t n = it_count(x);
        void *data = x->data;
        if (dt != IT_F32 && dt != IT_F64) {
            double *d = ebuf(ep, n);
            if (!d) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
            for (int64_t q = 0; q < n; q++) d[q] = it_get_f64(x->data, dt, q);
            data = d;
        }
        t->data = data;
        unsigned char need[NLAB];
        memcpy(need, in_out, sizeof need);
        for (int j = 0; j < p->n_in; j++)
            if (j != i)
                for (int k = 0; k < terms[j].nd; k++) need[terms[j].lab[k]] = 1;
        /* unique labels, summed strides for repeats */
        int ul[TMAX], nu = 0, repeated = 0, dropped = 0;
        int64_t ud[TMAX], us[TMAX], cs[TMAX], s = 1;
        for (int k = t->nd - 1; k >= 0; k--) { cs[k] = s; s *= t->dims[k]; }
        for (int k = 0; k < t->nd; k++) {
            int q = 0;
            while (q < nu && ul[q] != t->lab[k]) q++;
            if (q < nu) {
                if (ud[q] != t->dims[k]) return it_opfail(c, INGOT_ERR_SHAPE, "einsum: repeated label with different sizes in input %d", i);
                us[q] += cs[k];
                repeated = 1;
            } else {
                ul[nu] = t->lab[k]; ud[nu] = t->dims[k]; us[nu++] = cs[k];
                if (!need[t->lab[k]]) dropped = 1;
            }
        }
        if (!repeated && !dropped) continue;
        int ol[TMAX], no = 0;
        int64_t od[TMAX], os[TMAX], P = 1, Q = 1;
        for (int q = 0; q < nu; q++)
            if (need[ul[q]]) { ol[no] = ul[q]; od[no] = ud[q]; os[no++] = us[q]; P *= ud[q]; }
        int nkeep = no;
        for (int q = 0; q < nu; q++)
            if (!need[ul[q]]) { ol[no] = ul[q]; od[no] = ud[q]; os[no++] = us[q]; Q *= ud[q]; }
        int64_t cnt = count_of(no, od);
        void *buf = cnt < 0 ? NULL : ebuf(ep, cnt);
        if (!buf) return it_opfail(c, INGOT_ERR_NOMEM, "einsum: out of memory");
        if (cnt > 0) gather(data, buf, ep->es, no, od, os);
        else if (P > 0) memset(buf, 0, (size_t)P * (size_t)ep->es); /* sum over an empty label */
        if (cnt > 0 && Q != 1) sum_rows(buf, ep->es, P, Q);
        t->nd = nkeep;
        memcpy(t->lab, ol, sizeof(int) * (size_t)nkeep);
        memcpy(t->dims, od, sizeof(int64_t) * (size_t)nkeep);
        t->data = buf;
    }
    /* contract left to right */
    eterm *cur = &terms[0], *res = &terms[EMAX_IN];
    void *ydirect = (dt == IT_F32 || dt == IT_F64) ? y->data : NULL;
    for (int i = 1; i < p->n_in; i++) {
        unsigned char need[NLAB];
        memcpy(need, in_out, sizeof need);
        for (int j = i + 1; j < p->n_in; j++)
            for (int k = 0; k < terms[j].nd; k++) need[terms[j].lab[k]] = 1;
        int last = i == p->n_in - 1;
        eterm r;
        st = contract(ep, cur, &terms[i], need, &r, out_n, out_lab, odims, last ? ydirect : NULL);
        if (st) return st;
        *res = r;
        cur = res;
    }
    if (cur->data != y->data) {
        int64_t sst[TMAX];
        for (int k = 0; k < cur->nd; k++)
            if (!in_out[cur->lab[k]]) return it_opfail(c, INGOT_ERR_INTERNAL, "einsum: label left over");
        term_strides(cur, out_n, out_lab, odims, sst);
        if (dt == IT_F32 || dt == IT_F64) {
            gather(cur->data, y->data, ep->es, out_n, odims, sst);
        } else {
            double *tmp = ebuf(ep, ycount);
            if (!tmp) return it_opfail(c, INGOT_ERR_NOMEM, "einsum: out of memory");
            gather(cur->data, tmp, 8, out_n, odims, sst);
            if (it_dtype_is_int(dt)) {
                for (int64_t q = 0; q < ycount; q++) {
                    double v = nearbyint(tmp[q]);
                    it_set_f64(y->data, dt, q, v);
                }
            } else {
                for (int64_t q = 0; q < ycount; q++) it_set_f64(y->data, dt, q, tmp[q]);
            }
        }
    }
    return st;
}
