/*
 * ml.c: ai.onnx.ml operators for classic ML pipelines exported by skl2onnx and
 * similar converters: ArrayFeatureExtractor, Binarizer, LabelEncoder (opset 1-4
 * forms: string / int64 / float keys and values, or keys_tensor / values_tensor
 * with default_tensor) and TreeEnsemble (ai.onnx.ml opset 5: the unified tree
 * ensemble with BRANCH_* comparison modes including set membership, aggregation
 * and post transforms).
 *
 * Workload: tabular inference. Lookup tables are sorted once at load (binary
 * search per element); tree ensembles are flattened at load into arrays walked per
 * row, rows split over the thread pool.
 */
#include <float.h>
#include <stdio.h>

#include "ops.h"

/* ---------------------------------------------------------------- ArrayFeatureExtractor */

static int afe_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, X);
    IT_REQUIRE_IN(c, 1, I);
    if (!it_dtype_is_int(I->dtype)) return it_opfail(c, INGOT_ERR_SHAPE, "indices must be integers");
    if (X->ndim < 1) return it_opfail(c, INGOT_ERR_SHAPE, "data must have rank >= 1");
    int64_t K = it_count(I), F = X->dims[X->ndim - 1], rows = F ? it_count(X) / F : 0;
    int64_t od[IT_MAX_DIMS];
    int nd;
    if (X->ndim == 1) { od[0] = 1; od[1] = K; nd = 2; rows = 1; }
    else {
        nd = X->ndim;
        for (int i = 0; i < nd - 1; i++) od[i] = X->dims[i];
        od[nd - 1] = K;
        if (F == 0) {
            rows = 1;
            for (int i = 0; i < nd - 1; i++) rows *= X->dims[i];
        }
    }
    for (int64_t k = 0; k < K; k++) {
        int64_t ix = it_get_i64(I->data, I->dtype, k);
        if (ix < 0 || ix >= F) return it_opfail(c, INGOT_ERR_SHAPE, "index %lld out of range [0, %lld)", (long long)ix, (long long)F);
    }
    it_tensor *Y;
    int st = it_out_tensor(c, 0, X->dtype, nd, od, &Y);
    if (st) return st;
    size_t es = it_dtype_size(X->dtype);
    if (!es) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "type %s", it_dtype_name(X->dtype));
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < K; k++) {
            int64_t ix = it_get_i64(I->data, I->dtype, k);
            if (X->dtype == IT_STRING) {
                const char *s = ((char **)X->data)[r * F + ix];
                char *d = it_strdup(s ? s : "");
                if (!d) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
                ((char **)Y->data)[r * K + k] = d;
            } else {
                memcpy((char *)Y->data + (size_t)(r * K + k) * es, (char *)X->data + (size_t)(r * F + ix) * es, es);
            }
        }
    return 0;
}

/* ---------------------------------------------------------------- Binarizer */

static int binarizer_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, X);
    if (!it_dtype_is_float(X->dtype) && !it_dtype_is_int(X->dtype)) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "type %s", it_dtype_name(X->dtype));
    double th = it_attr_float(c->node, "threshold", 0.0f);
    it_tensor *Y;
    int st = it_out_like(c, 0, X->dtype, X, &Y);
    if (st) return st;
    int64_t n = it_count(X);
    if (X->dtype == IT_F32) {
        const float *x = X->data;
        float *y = Y->data, t = (float)th;
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > t ? 1.0f : 0.0f;
    } else {
        for (int64_t i = 0; i < n; i++) it_set_f64(Y->data, Y->dtype, i, it_get_f64(X->data, X->dtype, i) > th ? 1.0 : 0.0);
    }
    return 0;
}

/* ---------------------------------------------------------------- LabelEncoder */

enum { LE_STR = 0, LE_INT = 1, LE_FLT = 2 };

typedef struct le_state {
    int kkind, vkind, out_dtype;
    int64_t n;
    /* keys (sorted) and values, by kind */
    const char **ks; int64_t *ki; double *kf;
    int64_t *perm;    /* sorted position -> original index */
    const char **vs; int64_t *vi; double *vf;
    const char *ds; int64_t di; double df;
} le_state;

static void le_free(void *p) {
    le_state *s = p;
    if (!s) return;
    free(s->ks), free(s->ki), free(s->kf), free(s->perm), free(s->vs), free(s->vi), free(s->vf);
    free(s);
}

static int le_cmp(const le_state *s, int64_t a, int64_t b) {
    if (s->kkind == LE_STR) return strcmp(s->ks[a], s->ks[b]);
    if (s->kkind == LE_INT) return s->ki[a] < s->ki[b] ? -1 : s->ki[a] > s->ki[b];
    double x = s->kf[a], y = s->kf[b];
    if (x != x) return y != y ? 0 : 1; /* NaN sorts last and equals NaN */
    if (y != y) return -1;
    return x < y ? -1 : x > y;
}

static void le_sort(le_state *s, int64_t *p, int64_t *tmp, int64_t n) {
    if (n < 2) return;
    int64_t h = n / 2, i = 0, j = h, k = 0;
    le_sort(s, p, tmp, h);
    le_sort(s, p + h, tmp, n - h);
    while (i < h && j < n) tmp[k++] = le_cmp(s, p[j], p[i]) < 0 ? p[j++] : p[i++];
    while (i < h) tmp[k++] = p[i++];
    while (j < n) tmp[k++] = p[j++];
    memcpy(p, tmp, (size_t)n * sizeof *p);
}

/* Load a key/value list from the *_strings / *_int64s / *_floats / *_tensor attributes. */
static int le_load(it_node *nd, const char *pre, int *kind, int *dtype, int64_t *n, const char ***vs, int64_t **vi,
                   double **vf, it_err *e) {
    char name[64];
    const it_attr *a;
    snprintf(name, sizeof name, "%s_strings", pre);
    if ((a = it_attr_get(nd, name)) && a->type == IT_ATTR_STRINGS) {
        *kind = LE_STR, *dtype = IT_STRING, *n = a->n;
        *vs = calloc((size_t)a->n + 1, sizeof(char *));
        if (!*vs) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
        for (int i = 0; i < a->n; i++) (*vs)[i] = a->strings[i] ? a->strings[i] : "";
        return 1;
    }
    snprintf(name, sizeof name, "%s_int64s", pre);
    if ((a = it_attr_get(nd, name)) && a->type == IT_ATTR_INTS) {
        *kind = LE_INT, *dtype = IT_I64, *n = a->n;
        *vi = malloc(((size_t)a->n + 1) * sizeof(int64_t));
        if (!*vi) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
        for (int i = 0; i < a->n; i++) (*vi)[i] = a->ints[i];
        return 1;
    }
    snprintf(name, sizeof name, "%s_floats", pre);
    if ((a = it_attr_get(nd, name)) && a->type == IT_ATTR_FLOATS) {
        *kind = LE_FLT, *dtype = IT_F32, *n = a->n;
        *vf = malloc(((size_t)a->n + 1) * sizeof(double));
        if (!*vf) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
        for (int i = 0; i < a->n; i++) (*vf)[i] = a->floats[i];
        return 1;
    }
    snprintf(name, sizeof name, "%s_tensor", pre);
    if ((a = it_attr_get(nd, name)) && a->type == IT_ATTR_TENSOR) {
        const it_tensor *t = &a->t;
        int64_t cnt = it_count(t);
        if (cnt < 0) return it_fail(e, INGOT_ERR_FORMAT, "bad %s", name);
        *n = cnt, *dtype = t->dtype;
        if (t->dtype == IT_STRING) {
            *kind = LE_STR;
            *vs = calloc((size_t)cnt + 1, sizeof(char *));
            if (!*vs) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
            for (int64_t i = 0; i < cnt; i++) (*vs)[i] = ((char **)t->data)[i] ? ((char **)t->data)[i] : "";
        } else if (it_dtype_is_int(t->dtype) || t->dtype == IT_BOOL) {
            *kind = LE_INT;
            *vi = malloc(((size_t)cnt + 1) * sizeof(int64_t));
            if (!*vi) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
            for (int64_t i = 0; i < cnt; i++) (*vi)[i] = it_get_i64(t->data, t->dtype, i);
        } else if (it_dtype_is_float(t->dtype)) {
            *kind = LE_FLT;
            *vf = malloc(((size_t)cnt + 1) * sizeof(double));
            if (!*vf) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
            for (int64_t i = 0; i < cnt; i++) (*vf)[i] = it_get_f64(t->data, t->dtype, i);
        } else return it_fail(e, INGOT_ERR_UNSUPPORTED, "%s type %s", name, it_dtype_name(t->dtype));
        return 1;
    }
    return 0;
}

static int le_init(it_node *nd, it_err *e) {
    le_state *s = calloc(1, sizeof *s);
    if (!s) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    nd->state = s;
    int kd, r;
    int64_t nk, nv;
    if ((r = le_load(nd, "keys", &s->kkind, &kd, &nk, &s->ks, &s->ki, &s->kf, e)) <= 0)
        return r < 0 ? r : it_fail(e, INGOT_ERR_FORMAT, "LabelEncoder has no keys");
    if ((r = le_load(nd, "values", &s->vkind, &s->out_dtype, &nv, &s->vs, &s->vi, &s->vf, e)) <= 0)
        return r < 0 ? r : it_fail(e, INGOT_ERR_FORMAT, "LabelEncoder has no values");
    if (nk != nv) return it_fail(e, INGOT_ERR_FORMAT, "LabelEncoder has %lld keys but %lld values", (long long)nk, (long long)nv);
    s->n = nk;
    s->ds = it_attr_str(nd, "default_string", "_Unused");
    s->di = it_attr_int(nd, "default_int64", -1);
    s->df = it_attr_get(nd, "default_float") ? it_attr_float(nd, "default_float", 0.0f) : -0.0;
    const it_attr *dt = it_attr_get(nd, "default_tensor");
    if (dt && dt->type == IT_ATTR_TENSOR && it_count(&dt->t) >= 1) {
        const it_tensor *t = &dt->t;
        if (t->dtype == IT_STRING) s->ds = ((char **)t->data)[0] ? ((char **)t->data)[0] : "";
        else if (it_dtype_is_int(t->dtype)) s->di = it_get_i64(t->data, t->dtype, 0);
        else if (it_dtype_is_float(t->dtype)) s->df = it_get_f64(t->data, t->dtype, 0);
    }
    s->perm = malloc(((size_t)nk + 1) * sizeof(int64_t));
    int64_t *tmp = malloc(((size_t)nk + 1) * sizeof(int64_t));
    if (!s->perm || !tmp) {
        free(tmp);
        return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < nk; i++) s->perm[i] = i;
    le_sort(s, s->perm, tmp, nk);
    free(tmp);
    return 0;
}

static int le_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, X);
    le_state *s = c->node->state;
    if (!s) return it_opfail(c, INGOT_ERR_INTERNAL, "state missing");
    int xk = X->dtype == IT_STRING ? LE_STR : it_dtype_is_int(X->dtype) ? LE_INT : it_dtype_is_float(X->dtype) ? LE_FLT : -1;
    if (xk != s->kkind) return it_opfail(c, INGOT_ERR_SHAPE, "input type %s does not match the keys", it_dtype_name(X->dtype));
    it_tensor *Y;
    int st = it_out_like(c, 0, s->out_dtype, X, &Y);
    if (st) return st;
    int64_t n = it_count(X);
    size_t es = it_dtype_size(s->out_dtype);
    for (int64_t i = 0; i < n; i++) {
        const char *xs = NULL;
        int64_t xi = 0;
        double xf = 0;
        if (xk == LE_STR) xs = ((char **)X->data)[i] ? ((char **)X->data)[i] : "";
        else if (xk == LE_INT) xi = it_get_i64(X->data, X->dtype, i);
        else xf = it_get_f64(X->data, X->dtype, i);
        int64_t lo = 0, hi = s->n - 1, found = -1;
        while (lo <= hi) {
            int64_t mid = lo + (hi - lo) / 2, k = s->perm[mid];
            int r;
            if (xk == LE_STR) r = strcmp(s->ks[k], xs);
            else if (xk == LE_INT) r = s->ki[k] < xi ? -1 : s->ki[k] > xi;
            else {
                double kv = s->kf[k];
                if (kv != kv) r = xf != xf ? 0 : 1;
                else if (xf != xf) r = -1;
                else r = kv < xf ? -1 : kv > xf;
            }
            if (!r) { found = k; break; }
            if (r < 0) lo = mid + 1;
            else hi = mid - 1;
        }
        if (s->vkind == LE_STR) {
            char *d = it_strdup(found >= 0 ? s->vs[found] : s->ds);
            if (!d) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
            ((char **)Y->data)[i] = d;
        } else if (s->vkind == LE_INT) {
            int64_t v = found >= 0 ? s->vi[found] : s->di;
            it_convert((char *)Y->data + (size_t)i * es, s->out_dtype, &v, IT_I64, 1, 0);
        } else {
            it_set_f64(Y->data, s->out_dtype, i, found >= 0 ? s->vf[found] : s->df);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- TreeEnsemble (ml opset 5) */

enum { TE_LEQ, TE_LT, TE_GTE, TE_GT, TE_EQ, TE_NEQ, TE_MEMBER };

typedef struct te_state {
    int64_t nn, nl, nt, ntrees;
    uint8_t *mode, *tleaf, *fleaf, *miss;
    int64_t *feat, *tid, *fid, *roots, *ltarget;
    double *split, *lweight;
    int64_t *mset_off, *mset_len; /* per node: range in members */
    double *members;
    int agg, post;
    int64_t maxfeat; /* largest feature id used */
} te_state;

static void te_free(void *p) {
    te_state *s = p;
    if (!s) return;
    free(s->mode), free(s->tleaf), free(s->fleaf), free(s->miss), free(s->feat), free(s->tid), free(s->fid);
    free(s->roots), free(s->ltarget), free(s->split), free(s->lweight), free(s->mset_off), free(s->mset_len);
    free(s->members);
    free(s);
}

/* Read a numeric list attribute (ints, floats or a tensor) into doubles / int64s. */
static int64_t te_list(const it_node *nd, const char *name, double **fd, int64_t **id, it_err *e) {
    const it_attr *a = it_attr_get(nd, name);
    if (!a) return 0;
    int64_t n = 0;
    if (a->type == IT_ATTR_INTS || a->type == IT_ATTR_FLOATS) n = a->n;
    else if (a->type == IT_ATTR_TENSOR) n = it_count(&a->t);
    else return it_fail(e, INGOT_ERR_FORMAT, "TreeEnsemble attribute %s has a bad type", name);
    if (n < 0) return it_fail(e, INGOT_ERR_FORMAT, "bad %s", name);
    if (fd) { *fd = malloc(((size_t)n + 1) * sizeof(double)); if (!*fd) return it_fail(e, INGOT_ERR_NOMEM, "out of memory"); }
    if (id) { *id = malloc(((size_t)n + 1) * sizeof(int64_t)); if (!*id) return it_fail(e, INGOT_ERR_NOMEM, "out of memory"); }
    for (int64_t i = 0; i < n; i++) {
        double v;
        if (a->type == IT_ATTR_INTS) v = (double)a->ints[i];
        else if (a->type == IT_ATTR_FLOATS) v = a->floats[i];
        else v = it_get_f64(a->t.data, a->t.dtype, i);
        if (fd) (*fd)[i] = v;
        if (id) (*id)[i] = a->type == IT_ATTR_INTS ? a->ints[i] : a->type == IT_ATTR_TENSOR && !it_dtype_is_float(a->t.dtype) ? it_get_i64(a->t.data, a->t.dtype, i) : (int64_t)v;
    }
    return n;
}

static int te_init(it_node *nd, it_err *e) {
    te_state *s = calloc(1, sizeof *s);
    if (!s) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    nd->state = s;
    int64_t *modes = NULL, *tl = NULL, *fl = NULL, *mv = NULL;
    int64_t n, k;
    int rc = 0;
    n = te_list(nd, "nodes_modes", NULL, &modes, e);
    if (n < 0) { rc = (int)n; goto done; }
    s->nn = n;
#define NEED(name, fd, id)                                                                              \
    do {                                                                                                \
        k = te_list(nd, name, fd, id, e);                                                               \
        if (k < 0) { rc = (int)k; goto done; }                                                          \
        if (k != s->nn) { rc = it_fail(e, INGOT_ERR_FORMAT, "TreeEnsemble %s has %lld entries, expected %lld", name, (long long)k, (long long)s->nn); goto done; } \
    } while (0)
    NEED("nodes_featureids", NULL, &s->feat);
    NEED("nodes_splits", &s->split, NULL);
    NEED("nodes_truenodeids", NULL, &s->tid);
    NEED("nodes_falsenodeids", NULL, &s->fid);
    NEED("nodes_trueleafs", NULL, &tl);
    NEED("nodes_falseleafs", NULL, &fl);
    if (it_attr_get(nd, "nodes_missing_value_tracks_true")) NEED("nodes_missing_value_tracks_true", NULL, &mv);
#undef NEED
    s->nl = te_list(nd, "leaf_weights", &s->lweight, NULL, e);
    if (s->nl < 0) { rc = (int)s->nl; goto done; }
    k = te_list(nd, "leaf_targetids", NULL, &s->ltarget, e);
    if (k < 0) { rc = (int)k; goto done; }
    if (k != s->nl) { rc = it_fail(e, INGOT_ERR_FORMAT, "TreeEnsemble leaf_targetids and leaf_weights differ in length"); goto done; }
    s->ntrees = te_list(nd, "tree_roots", NULL, &s->roots, e);
    if (s->ntrees < 0) { rc = (int)s->ntrees; goto done; }
    s->nt = it_attr_int(nd, "n_targets", 0);
    s->agg = (int)it_attr_int(nd, "aggregate_function", 1);
    s->post = (int)it_attr_int(nd, "post_transform", 0);
    if (s->nt <= 0 || s->nt > (1 << 24)) { rc = it_fail(e, INGOT_ERR_FORMAT, "TreeEnsemble n_targets invalid"); goto done; }
    if (s->agg < 0 || s->agg > 3 || s->post < 0 || s->post > 4) { rc = it_fail(e, INGOT_ERR_FORMAT, "TreeEnsemble aggregate/post_transform invalid"); goto done; }
    s->mode = calloc((size_t)s->nn + 1, 1);
    s->tleaf = calloc((size_t)s->nn + 1, 1);
    s->fleaf = calloc((size_t)s->nn + 1, 1);
    s->miss = calloc((size_t)s->nn + 1, 1);
    s->mset_off = calloc((size_t)s->nn + 1, sizeof(int64_t));
    s->mset_len = calloc((size_t)s->nn + 1, sizeof(int64_t));
    if (!s->mode || !s->tleaf || !s->fleaf || !s->miss || !s->mset_off || !s->mset_len) { rc = it_fail(e, INGOT_ERR_NOMEM, "out of memory"); goto done; }
    for (int64_t i = 0; i < s->nn; i++) {
        if (modes[i] < 0 || modes[i] > TE_MEMBER) { rc = it_fail(e, INGOT_ERR_FORMAT, "TreeEnsemble node mode %lld", (long long)modes[i]); goto done; }
        s->mode[i] = (uint8_t)modes[i];
        s->tleaf[i] = tl[i] != 0;
        s->fleaf[i] = fl[i] != 0;
        s->miss[i] = mv ? mv[i] != 0 : 0;
        if (s->feat[i] > s->maxfeat) s->maxfeat = s->feat[i];
        if (s->feat[i] < 0) { rc = it_fail(e, INGOT_ERR_FORMAT, "TreeEnsemble negative feature id"); goto done; }
        if (s->tid[i] < 0 || s->tid[i] >= (s->tleaf[i] ? s->nl : s->nn) || s->fid[i] < 0 || s->fid[i] >= (s->fleaf[i] ? s->nl : s->nn)) {
            rc = it_fail(e, INGOT_ERR_FORMAT, "TreeEnsemble node %lld points out of range", (long long)i);
            goto done;
        }
    }
    for (int64_t i = 0; i < s->nl; i++)
        if (s->ltarget[i] < 0 || s->ltarget[i] >= s->nt) { rc = it_fail(e, INGOT_ERR_FORMAT, "TreeEnsemble leaf target out of range"); goto done; }
    for (int64_t i = 0; i < s->ntrees; i++)
        if (s->roots[i] < 0 || s->roots[i] >= s->nn) { rc = it_fail(e, INGOT_ERR_FORMAT, "TreeEnsemble tree root out of range"); goto done; }
    /* membership sets, in node order, separated by NaN */
    int64_t nm = te_list(nd, "membership_values", &s->members, NULL, e), pos = 0;
    if (nm < 0) { rc = (int)nm; goto done; }
    for (int64_t i = 0; i < s->nn; i++) {
        if (s->mode[i] != TE_MEMBER) continue;
        s->mset_off[i] = pos;
        while (pos < nm && s->members[pos] == s->members[pos]) pos++;
        s->mset_len[i] = pos - s->mset_off[i];
        pos++; /* skip the NaN separator (the last set may end without one) */
    }
done:
    free(modes), free(tl), free(fl), free(mv);
    return rc;
}

typedef struct te_job {
    const te_state *s;
    const it_tensor *X;
    int64_t F;
    double *out;
} te_job;

static void te_rows(void *arg, int64_t begin, int64_t end, int tid) {
    (void)tid;
    te_job *J = arg;
    const te_state *s = J->s;
    for (int64_t r = begin; r < end; r++) {
        double *o = J->out + r * s->nt;
        double init = s->agg == 2 ? DBL_MAX : s->agg == 3 ? -DBL_MAX : 0.0;
        for (int64_t t = 0; t < s->nt; t++) o[t] = init;
        for (int64_t t = 0; t < s->ntrees; t++) {
            int64_t i = s->roots[t], steps = 0, leaf = -1;
            while (leaf < 0 && steps++ <= s->nn) {
                int64_t f = s->feat[i];
                double x = it_get_f64(J->X->data, J->X->dtype, r * J->F + f), v = s->split[i];
                int cond;
                if (x != x) cond = s->miss[i];
                else switch (s->mode[i]) {
                    case TE_LEQ: cond = x <= v; break;
                    case TE_LT: cond = x < v; break;
                    case TE_GTE: cond = x >= v; break;
                    case TE_GT: cond = x > v; break;
                    case TE_EQ: cond = x == v; break;
                    case TE_NEQ: cond = x != v; break;
                    default: {
                        cond = 0;
                        for (int64_t m = 0; m < s->mset_len[i]; m++)
                            if (s->members[s->mset_off[i] + m] == x) { cond = 1; break; }
                    }
                    }
                if (x != x && s->mode[i] == TE_NEQ && !s->miss[i]) cond = 1; /* NaN != v */
                int isleaf = cond ? s->tleaf[i] : s->fleaf[i];
                int64_t nx = cond ? s->tid[i] : s->fid[i];
                if (isleaf) leaf = nx;
                else i = nx;
            }
            if (leaf < 0) continue; /* cycle: ignore the tree */
            int64_t tg = s->ltarget[leaf];
            double w = s->lweight[leaf];
            if (s->agg == 2) { if (w < o[tg]) o[tg] = w; }
            else if (s->agg == 3) { if (w > o[tg]) o[tg] = w; }
            else o[tg] += s->agg == 0 ? w / (double)s->ntrees : w;
        }
        /* post transform */
        if (s->post == 1 || s->post == 3) {
            double m = -INFINITY, sum = 0;
            for (int64_t t = 0; t < s->nt; t++)
                if (!(s->post == 3 && o[t] == 0) && o[t] > m) m = o[t];
            for (int64_t t = 0; t < s->nt; t++) {
                if (s->post == 3 && o[t] == 0) continue;
                o[t] = exp(o[t] - m);
                sum += o[t];
            }
            for (int64_t t = 0; t < s->nt; t++)
                if (!(s->post == 3 && o[t] == 0) && sum > 0) o[t] /= sum;
        } else if (s->post == 2) {
            for (int64_t t = 0; t < s->nt; t++) o[t] = 1.0 / (1.0 + exp(-o[t]));
        } else if (s->post == 4) {
            for (int64_t t = 0; t < s->nt; t++) {
                /* probit: sqrt(2) * erfinv(2p - 1), erfinv by Newton steps on erf */
                double y = 2 * o[t] - 1, z;
                if (y <= -1) { o[t] = -INFINITY; continue; }
                if (y >= 1) { o[t] = INFINITY; continue; }
                double w = -log((1.0 - y) * (1.0 + y));
                z = w < 5 ? y * (0.886226899 + w * 0.08) : (y > 0 ? 1 : -1) * sqrt(w - log(w)) * 0.9;
                for (int it = 0; it < 40; it++) {
                    double err = erf(z) - y;
                    z -= err / (1.1283791670955126 * exp(-z * z));
                }
                o[t] = 1.4142135623730951 * z;
            }
        }
    }
}

static int te_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, X);
    const te_state *s = c->node->state;
    if (!s) return it_opfail(c, INGOT_ERR_INTERNAL, "state missing");
    if (!it_dtype_is_float(X->dtype)) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "input type %s", it_dtype_name(X->dtype));
    int64_t N, F;
    if (X->ndim == 2) N = X->dims[0], F = X->dims[1];
    else if (X->ndim == 1) N = 1, F = X->dims[0];
    else return it_opfail(c, INGOT_ERR_SHAPE, "input must be [N, F]");
    int64_t od[2] = {N, s->nt}, tot;
    if (!it_mul_ok(N, s->nt, &tot) || tot > IT_LIMIT_ELEMENTS) return it_opfail(c, INGOT_ERR_LIMIT, "output too large");
    it_tensor *Y;
    int st = it_out_tensor(c, 0, X->dtype, 2, od, &Y);
    if (st) return st;
    double *out = it_scratch(c, (size_t)(tot + 1) * sizeof(double));
    if (!out) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    if (s->nn > 0 && s->maxfeat >= F)
        return it_opfail(c, INGOT_ERR_SHAPE, "feature id %lld beyond the %lld input features", (long long)s->maxfeat, (long long)F);
    te_job J = {s, X, F, out};
    it_parallel_for(c->tp, N, 64, te_rows, &J);
    for (int64_t i = 0; i < tot; i++) it_set_f64(Y->data, Y->dtype, i, out[i]);
    return 0;
}

const it_op it_ops_ml[] = {
    {"ai.onnx.ml", "ArrayFeatureExtractor", NULL, afe_run, NULL, 0, NULL},
    {"ai.onnx.ml", "Binarizer", NULL, binarizer_run, NULL, 0, NULL},
    {"ai.onnx.ml", "LabelEncoder", le_init, le_run, le_free, 0, NULL},
    {"ai.onnx.ml", "TreeEnsemble", te_init, te_run, te_free, 0, NULL},
    {0},
};
