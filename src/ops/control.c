/*
 * control.c: control-flow operators with subgraph bodies: If, Loop, Scan.
 *
 * Workload: exported PyTorch/TF models with data-dependent branches, beam or
 * greedy decoding loops and scripted recurrences (Loop with loop-carried
 * tensors, sequences or optionals), and older recurrent exports using Scan
 * (opset 8 with a batch axis and sequence_lens, opset 9+ with per-input axes
 * and directions). Bodies run through it_exec_subgraph; the values it returns
 * are owned here until moved into the node's outputs or released. Scan inputs
 * are sliced without copying when the scan axis is the outermost one.
 */
#include "ops.h"

static const it_graph *body_attr(const it_node *n, const char *name) {
    const it_attr *a = it_attr_get(n, name);
    return (a && a->type == IT_ATTR_GRAPH) ? a->g : NULL;
}

static size_t elem_bytes(int dtype) { return dtype == IT_STRING ? sizeof(char *) : it_dtype_size(dtype); }

/* Copy `n` elements (strings duplicated). */
static int copy_elems(it_opctx *c, int dtype, void *dst, const void *src, int64_t n) {
    if (n <= 0) return 0;
    if (dtype == IT_STRING) {
        char **d = dst;
        char *const *s = src;
        for (int64_t k = 0; k < n; k++) {
            d[k] = it_strdup(s[k] ? s[k] : "");
            if (!d[k]) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
        }
        return 0;
    }
    memcpy(dst, src, (size_t)n * it_dtype_size(dtype));
    return 0;
}

/* Copy value src into output i (tensors go to pooled storage). */
static int out_copy_value(it_opctx *c, int i, const it_value *src) {
    if (src->kind == IT_V_TENSOR) {
        it_tensor *y;
        int st = it_out_tensor(c, i, src->t.dtype, src->t.ndim, src->t.dims, &y);
        if (st) return st;
        return copy_elems(c, src->t.dtype, y->data, src->t.data, it_count(&src->t));
    }
    it_value v;
    it_err sub = {{0}};
    int st = it_value_copy(&v, src, &sub);
    if (st) {
        it_value_release(c->x, &v);
        return it_opfail(c, st, "%s", sub.msg);
    }
    return it_out_move(c, i, &v);
}

/* Read a boolean/integer scalar condition. */
static int read_bool(it_opctx *c, const it_value *v, const char *what, int *out) {
    if (!v || v->kind != IT_V_TENSOR || it_count(&v->t) < 1)
        return it_opfail(c, INGOT_ERR_SHAPE, "%s must be a tensor with one element", what);
    if (v->t.dtype == IT_BOOL || it_dtype_is_int(v->t.dtype)) *out = it_get_i64(v->t.data, v->t.dtype, 0) != 0;
    else if (it_dtype_is_float(v->t.dtype)) *out = it_get_f64(v->t.data, v->t.dtype, 0) != 0;
    else return it_opfail(c, INGOT_ERR_FORMAT, "%s has unsupported dtype %s", what, it_dtype_name(v->t.dtype));
    return 0;
}

/* ---- If ---- */

static int if_run(it_opctx *c) {
    int cond;
    if (!it_has_in(c, 0)) return it_opfail(c, INGOT_ERR_FORMAT, "cond input is missing");
    int st = read_bool(c, c->in[0], "cond", &cond);
    if (st) return st;
    const it_graph *g = body_attr(c->node, cond ? "then_branch" : "else_branch");
    if (!g) return it_opfail(c, INGOT_ERR_FORMAT, "attribute %s is missing", cond ? "then_branch" : "else_branch");
    if (g->n_outputs < c->n_out)
        return it_opfail(c, INGOT_ERR_FORMAT, "branch has %d outputs, node has %d", g->n_outputs, c->n_out);
    it_value *outs = it_scratch(c, sizeof(it_value) * (size_t)(g->n_outputs + 1));
    if (!outs) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    memset(outs, 0, sizeof(it_value) * (size_t)(g->n_outputs + 1));
    st = it_exec_subgraph(c, g, 0, NULL, outs);
    for (int k = 0; k < g->n_outputs; k++) {
        if (!st && k < c->n_out) {
            if (outs[k].kind == IT_V_UNSET) st = it_opfail(c, INGOT_ERR_FORMAT, "branch output %d has no value", k);
            else {
                st = it_out_move(c, k, &outs[k]);
                continue;
            }
        }
        it_value_release(c->x, &outs[k]);
    }
    return st;
}

/* ---- scan output accumulation (Loop: count unknown in advance) ---- */

typedef struct acc {
    int dtype, ndim, started;
    int64_t dims[IT_MAX_DIMS];
    int64_t count;   /* elements per iteration */
    size_t bytes;    /* bytes per iteration */
    char *buf;
    size_t cap;      /* iterations buf can hold */
    int64_t n;       /* iterations stored */
} acc;

static void acc_free(acc *a) {
    if (a->dtype == IT_STRING && a->buf) {
        char **s = (char **)a->buf;
        for (int64_t i = 0; i < a->n * a->count; i++) free(s[i]);
    }
    free(a->buf);
    memset(a, 0, sizeof *a);
}

static int acc_push(it_opctx *c, acc *a, const it_value *v, int k) {
    if (v->kind != IT_V_TENSOR) return it_opfail(c, INGOT_ERR_FORMAT, "scan output %d is not a tensor", k);
    const it_tensor *t = &v->t;
    if (!a->started) {
        if (t->ndim + 1 > IT_MAX_DIMS) return it_opfail(c, INGOT_ERR_LIMIT, "scan output %d: rank too large", k);
        if (t->dtype != IT_STRING && it_dtype_size(t->dtype) == 0)
            return it_opfail(c, INGOT_ERR_UNSUPPORTED, "scan output %d: dtype %s", k, it_dtype_name(t->dtype));
        a->started = 1;
        a->dtype = t->dtype;
        a->ndim = t->ndim;
        memcpy(a->dims, t->dims, sizeof a->dims);
        a->count = it_count(t);
        a->bytes = (size_t)a->count * elem_bytes(t->dtype);
    } else if (t->dtype != a->dtype || t->ndim != a->ndim || memcmp(t->dims, a->dims, sizeof(int64_t) * (size_t)a->ndim)) {
        return it_opfail(c, INGOT_ERR_SHAPE, "scan output %d changes shape or dtype between iterations", k);
    }
    if ((size_t)a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 16;
        int64_t tot;
        if (!it_mul_ok((int64_t)nc, (int64_t)(a->bytes ? a->bytes : 1), &tot) || tot > IT_LIMIT_TENSOR_BYTES)
            return it_opfail(c, INGOT_ERR_LIMIT, "scan output %d too large", k);
        char *nb = realloc(a->buf, (size_t)tot);
        if (!nb) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
        a->buf = nb;
        a->cap = nc;
    }
    char *dst = a->buf + (size_t)a->n * a->bytes;
    if (a->dtype == IT_STRING) memset(dst, 0, a->bytes);
    int st = copy_elems(c, a->dtype, dst, t->data, a->count);
    if (st) {
        if (a->dtype == IT_STRING) { /* drop the partial row */
            char **s = (char **)dst;
            for (int64_t i = 0; i < a->count; i++) free(s[i]);
        }
        return st;
    }
    a->n++;
    return 0;
}

/* Output i = the accumulated iterations stacked on a new axis 0. `decl` is the
 * body output's declared type, used when there were no iterations. */
static int acc_emit(it_opctx *c, int i, acc *a, const it_valdef *decl) {
    int64_t dims[IT_MAX_DIMS];
    dims[0] = a->n;
    int nd = 1, dtype = a->dtype;
    if (a->started) {
        for (int d = 0; d < a->ndim; d++) dims[nd++] = a->dims[d];
    } else {
        dtype = decl && decl->has_type && decl->type.dtype > 0 ? decl->type.dtype : IT_F32;
        if (decl && decl->has_type && decl->type.kind == IT_KIND_TENSOR && decl->type.ndim > 0 &&
            decl->type.ndim < IT_MAX_DIMS)
            for (int d = 0; d < decl->type.ndim; d++) dims[nd++] = decl->type.dims[d] > 0 ? decl->type.dims[d] : 0;
    }
    it_tensor *y;
    int st = it_out_tensor(c, i, dtype, nd, dims, &y);
    if (st) return st;
    if (a->n && a->bytes) {
        memcpy(y->data, a->buf, (size_t)a->n * a->bytes);
        if (a->dtype == IT_STRING) { /* ownership of the strings moved to y */
            free(a->buf);
            a->buf = NULL;
            a->n = 0;
        }
    }
    return 0;
}

/* ---- Loop ---- */

static int loop_run(it_opctx *c) {
    const it_graph *g = body_attr(c->node, "body");
    if (!g) return it_opfail(c, INGOT_ERR_FORMAT, "attribute body is missing");
    if (c->n_in < 2) return it_opfail(c, INGOT_ERR_FORMAT, "needs inputs M and cond (possibly empty)");
    int N = c->n_in - 2, K = c->n_out - N;
    if (K < 0) return it_opfail(c, INGOT_ERR_FORMAT, "%d loop-carried inputs but %d outputs", N, c->n_out);
    if (g->n_inputs != N + 2) return it_opfail(c, INGOT_ERR_FORMAT, "body has %d inputs, expected %d", g->n_inputs, N + 2);
    if (g->n_outputs != 1 + N + K)
        return it_opfail(c, INGOT_ERR_FORMAT, "body has %d outputs, expected %d", g->n_outputs, 1 + N + K);
    int64_t max_trip = -1;
    int cond = 1, st;
    if (it_has_in(c, 0)) {
        it_tensor *m = it_in(c, 0);
        if (!m || it_count(m) < 1 || !it_dtype_is_int(m->dtype))
            return it_opfail(c, INGOT_ERR_SHAPE, "M must be an integer scalar");
        max_trip = it_get_i64(m->data, m->dtype, 0);
        if (max_trip < 0) max_trip = 0;
    }
    if (it_has_in(c, 1) && (st = read_bool(c, c->in[1], "cond", &cond))) return st;

    size_t nv = (size_t)(N + K + 3);
    it_value **ins = it_scratch(c, sizeof(it_value *) * nv);
    it_value *own = it_scratch(c, sizeof(it_value) * nv);    /* carried values owned here */
    it_value *outs = it_scratch(c, sizeof(it_value) * nv);
    acc *accs = it_scratch(c, sizeof(acc) * nv);
    if (!ins || !own || !outs || !accs) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    memset(own, 0, sizeof(it_value) * nv);
    memset(outs, 0, sizeof(it_value) * nv);
    memset(accs, 0, sizeof(acc) * nv);
    for (int i = 0; i < N; i++) {
        ins[2 + i] = c->in[2 + i];
        if (!ins[2 + i]) { st = it_opfail(c, INGOT_ERR_FORMAT, "loop-carried input %d is missing", i); goto done; }
    }

    int64_t iter_v = 0;
    uint8_t cond_v = 1;
    it_value iter_val, cond_val;
    memset(&iter_val, 0, sizeof iter_val);
    memset(&cond_val, 0, sizeof cond_val);
    iter_val.kind = cond_val.kind = IT_V_TENSOR;
    iter_val.t.dtype = IT_I64;
    iter_val.t.nbytes = 8;
    iter_val.t.data = &iter_v;
    cond_val.t.dtype = IT_BOOL;
    cond_val.t.nbytes = 1;
    cond_val.t.data = &cond_v;
    ins[0] = &iter_val;
    ins[1] = &cond_val;

    int64_t it = 0;
    st = 0;
    while (cond && (max_trip < 0 || it < max_trip)) {
        if (it >= IT_LIMIT_LOOP_ITERS) { st = it_opfail(c, INGOT_ERR_LIMIT, "more than %lld iterations", (long long)IT_LIMIT_LOOP_ITERS); goto done; }
        iter_v = it;
        cond_v = (uint8_t)cond;
        st = it_exec_subgraph(c, g, N + 2, ins, outs);
        if (st) goto done;
        if ((st = read_bool(c, &outs[0], "body cond output", &cond))) goto done;
        for (int i = 0; i < N; i++) {
            if (outs[1 + i].kind == IT_V_UNSET) { st = it_opfail(c, INGOT_ERR_FORMAT, "body output %d has no value", 1 + i); goto done; }
            it_value_release(c->x, &own[i]);
            own[i] = outs[1 + i];
            memset(&outs[1 + i], 0, sizeof outs[1 + i]);
            ins[2 + i] = &own[i];
        }
        for (int k = 0; k < K; k++)
            if ((st = acc_push(c, &accs[k], &outs[1 + N + k], k))) goto done;
        for (int k = 0; k < g->n_outputs; k++) it_value_release(c->x, &outs[k]);
        it++;
    }
    for (int i = 0; i < N && !st; i++) {
        if (own[i].kind != IT_V_UNSET) st = it_out_move(c, i, &own[i]);
        else st = out_copy_value(c, i, c->in[2 + i]);
    }
    for (int k = 0; k < K && !st; k++) st = acc_emit(c, N + k, &accs[k], &g->values[g->outputs[1 + N + k]]);
done:
    for (int k = 0; k < g->n_outputs; k++) it_value_release(c->x, &outs[k]);
    for (int i = 0; i < N; i++) it_value_release(c->x, &own[i]);
    for (int k = 0; k < K; k++) acc_free(&accs[k]);
    return st;
}

/* ---- Scan ---- */

typedef struct scan_in {
    const it_tensor *t; /* the full input (for opset 8: one batch entry's view) */
    int axis, reverse;
    int64_t outer, inner; /* elements before / after the scan axis */
    it_tensor slice;      /* element view or gathered copy */
    void *buf;            /* gather buffer when axis != 0 */
} scan_in;

typedef struct scan_out {
    int axis, reverse;
    int started, dtype, ndim;
    int64_t dims[IT_MAX_DIMS]; /* element shape */
    it_tensor *dst;            /* allocated output (whole) */
    char *base;                /* where this run writes (opset 8: the batch entry) */
} scan_out;

/* Point sc->slice at position p of the scan input. */
static void scan_slice(scan_in *sc, int64_t p) {
    size_t es = elem_bytes(sc->t->dtype);
    int64_t len = sc->t->dims[sc->axis];
    if (sc->outer == 1) {
        sc->slice.data = (char *)sc->t->data + (size_t)(p * sc->inner) * es;
        return;
    }
    char *d = sc->buf;
    const char *s = sc->t->data;
    for (int64_t o = 0; o < sc->outer; o++)
        memcpy(d + (size_t)(o * sc->inner) * es, s + (size_t)((o * len + p) * sc->inner) * es, (size_t)sc->inner * es);
    sc->slice.data = sc->buf;
}

typedef struct scan_ctx {
    const it_graph *g;
    int N, M, K, v8;
    int64_t batch, max_len; /* opset 8 */
    scan_in *si;
    scan_out *so;
    it_value **ins;
    it_value *own, *outs;
} scan_ctx;

/* Allocate scan output k once its element shape is known. */
static int scan_out_alloc(it_opctx *c, scan_ctx *s, int k, const it_tensor *e, int64_t len) {
    scan_out *o = &s->so[k];
    int64_t dims[IT_MAX_DIMS];
    int nd = 0;
    if (e->ndim + 1 + s->v8 > IT_MAX_DIMS) return it_opfail(c, INGOT_ERR_LIMIT, "scan output %d: rank too large", k);
    if (e->dtype != IT_STRING && it_dtype_size(e->dtype) == 0)
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "scan output %d: dtype %s", k, it_dtype_name(e->dtype));
    int r = e->ndim + 1;
    if (!s->v8) {
        int ax = it_axis(o->axis, r, 0);
        if (ax < 0) return it_opfail(c, INGOT_ERR_SHAPE, "scan_output_axes[%d] out of range", k);
        o->axis = ax;
    } else {
        dims[nd++] = s->batch;
        o->axis = 0;
    }
    for (int d = 0, j = 0; d < r; d++) dims[nd++] = d == o->axis ? len : e->dims[j++];
    int st = it_out_tensor(c, s->N + k, e->dtype, nd, dims, &o->dst);
    if (st) return st;
    o->started = 1;
    o->dtype = e->dtype;
    o->ndim = e->ndim;
    memcpy(o->dims, e->dims, sizeof o->dims);
    return 0;
}

/* Write element e of iteration position p into scan output k (len positions). */
static int scan_out_put(it_opctx *c, scan_out *o, int k, const it_tensor *e, int64_t p, int64_t len) {
    if (e->dtype != o->dtype || e->ndim != o->ndim || memcmp(e->dims, o->dims, sizeof(int64_t) * (size_t)o->ndim))
        return it_opfail(c, INGOT_ERR_SHAPE, "scan output %d changes shape or dtype between iterations", k);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < o->ndim; d++) {
        if (d < o->axis) outer *= e->dims[d];
        else inner *= e->dims[d];
    }
    size_t es = elem_bytes(e->dtype);
    for (int64_t q = 0; q < outer; q++) {
        char *dst = o->base + (size_t)((q * len + p) * inner) * es;
        const char *src = (const char *)e->data + (size_t)(q * inner) * es;
        int st = copy_elems(c, e->dtype, dst, src, inner);
        if (st) return st;
    }
    return 0;
}

/* Run the body `len` times over the current scan inputs. States start from
 * ins[0..N) and end in own[0..N) (unset if len == 0). out_len: size of the
 * output scan axis; b: batch entry (opset 8) or -1. */
static int scan_iterate(it_opctx *c, scan_ctx *s, int64_t len, int64_t out_len, int64_t b) {
    int N = s->N, M = s->M, K = s->K, st = 0;
    for (int64_t t = 0; t < len; t++) {
        for (int m = 0; m < M; m++) {
            scan_in *sc = &s->si[m];
            scan_slice(sc, sc->reverse ? len - 1 - t : t);
            s->ins[N + m] = &s->own[N + K + m]; /* element wrappers live after the states */
            s->own[N + K + m].kind = IT_V_TENSOR;
            s->own[N + K + m].t = sc->slice;
            s->own[N + K + m].block = NULL;
        }
        st = it_exec_subgraph(c, s->g, N + M, s->ins, s->outs);
        if (st) return st;
        for (int i = 0; i < N; i++) {
            if (s->outs[i].kind == IT_V_UNSET) return it_opfail(c, INGOT_ERR_FORMAT, "body output %d has no value", i);
            it_value_release(c->x, &s->own[i]);
            s->own[i] = s->outs[i];
            memset(&s->outs[i], 0, sizeof s->outs[i]);
            s->ins[i] = &s->own[i];
        }
        for (int k = 0; k < K; k++) {
            const it_value *v = &s->outs[N + k];
            if (v->kind != IT_V_TENSOR) return it_opfail(c, INGOT_ERR_FORMAT, "scan output %d is not a tensor", k);
            scan_out *o = &s->so[k];
            if (!o->started && (st = scan_out_alloc(c, s, k, &v->t, out_len))) return st;
            if (s->v8) {
                size_t row = (size_t)(it_count(o->dst) / (s->batch ? s->batch : 1)) * elem_bytes(o->dtype);
                o->base = (char *)o->dst->data + (size_t)b * row;
            } else {
                o->base = o->dst->data;
            }
            int64_t p = s->v8 ? t : (o->reverse ? len - 1 - t : t);
            if ((st = scan_out_put(c, o, k, &v->t, p, out_len))) return st;
        }
        for (int k = 0; k < s->g->n_outputs; k++) it_value_release(c->x, &s->outs[k]);
    }
    return 0;
}

static int scan_setup_input(it_opctx *c, scan_in *sc, const it_tensor *t, int64_t axis, int reverse, int m) {
    if (t->ndim < 1) return it_opfail(c, INGOT_ERR_SHAPE, "scan input %d must have rank >= 1", m);
    if (t->dtype != IT_STRING && it_dtype_size(t->dtype) == 0)
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "scan input %d: dtype %s", m, it_dtype_name(t->dtype));
    int ax = it_axis(axis, t->ndim, 0);
    if (ax < 0) return it_opfail(c, INGOT_ERR_SHAPE, "scan input %d: axis %lld out of range", m, (long long)axis);
    sc->t = t;
    sc->axis = ax;
    sc->reverse = reverse;
    sc->outer = 1;
    sc->inner = 1;
    int64_t dims[IT_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (d < ax) sc->outer *= t->dims[d];
        if (d > ax) sc->inner *= t->dims[d];
        if (d != ax) dims[nd++] = t->dims[d];
    }
    memset(&sc->slice, 0, sizeof sc->slice);
    it_err sub = {{0}};
    int st = it_tensor_set_shape(&sc->slice, t->dtype, nd, dims, &sub);
    if (st) return it_opfail(c, st, "%s", sub.msg);
    if (sc->outer != 1) {
        sc->buf = it_scratch(c, sc->slice.nbytes ? sc->slice.nbytes : 1);
        if (!sc->buf) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    }
    return 0;
}

static int scan_run(it_opctx *c) {
    scan_ctx s;
    memset(&s, 0, sizeof s);
    s.g = body_attr(c->node, "body");
    if (!s.g) return it_opfail(c, INGOT_ERR_FORMAT, "attribute body is missing");
    s.v8 = c->node->opset < 9;
    int64_t M = it_attr_int(c->node, "num_scan_inputs", -1);
    int first = s.v8 ? 1 : 0; /* opset 8: input 0 is sequence_lens */
    if (M < 1 || M > c->n_in - first) return it_opfail(c, INGOT_ERR_FORMAT, "bad num_scan_inputs %lld", (long long)M);
    s.M = (int)M;
    s.N = c->n_in - first - s.M;
    s.K = c->n_out - s.N;
    int N = s.N, K = s.K, st = 0;
    if (K < 0) return it_opfail(c, INGOT_ERR_FORMAT, "%d state inputs but %d outputs", N, c->n_out);
    if (s.g->n_inputs != N + s.M) return it_opfail(c, INGOT_ERR_FORMAT, "body has %d inputs, expected %d", s.g->n_inputs, N + s.M);
    if (s.g->n_outputs != N + K) return it_opfail(c, INGOT_ERR_FORMAT, "body has %d outputs, expected %d", s.g->n_outputs, N + K);

    const int64_t *in_axes = NULL, *in_dirs = NULL, *out_axes = NULL, *out_dirs = NULL;
    int n_ia = 0, n_id, n_oa = 0, n_od = 0;
    if (s.v8) {
        n_id = it_attr_ints(c->node, "directions", &in_dirs);
    } else {
        n_ia = it_attr_ints(c->node, "scan_input_axes", &in_axes);
        n_id = it_attr_ints(c->node, "scan_input_directions", &in_dirs);
        n_oa = it_attr_ints(c->node, "scan_output_axes", &out_axes);
        n_od = it_attr_ints(c->node, "scan_output_directions", &out_dirs);
    }
    if ((n_ia && n_ia != s.M) || (n_id && n_id != s.M) || (n_oa && n_oa != K) || (n_od && n_od != K))
        return it_opfail(c, INGOT_ERR_FORMAT, "scan axes/directions attribute lengths do not match the inputs/outputs");

    size_t nv = (size_t)(N + s.M + K + 2);
    s.si = it_scratch(c, sizeof(scan_in) * nv);
    s.so = it_scratch(c, sizeof(scan_out) * nv);
    s.ins = it_scratch(c, sizeof(it_value *) * nv);
    s.own = it_scratch(c, sizeof(it_value) * nv);
    s.outs = it_scratch(c, sizeof(it_value) * nv);
    if (!s.si || !s.so || !s.ins || !s.own || !s.outs) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    memset(s.si, 0, sizeof(scan_in) * nv);
    memset(s.so, 0, sizeof(scan_out) * nv);
    memset(s.own, 0, sizeof(it_value) * nv);
    memset(s.outs, 0, sizeof(it_value) * nv);
    for (int k = 0; k < K; k++) {
        s.so[k].axis = out_axes ? (int)out_axes[k] : 0;
        if (out_axes && (out_axes[k] < -IT_MAX_DIMS || out_axes[k] > IT_MAX_DIMS))
            return it_opfail(c, INGOT_ERR_SHAPE, "scan_output_axes[%d] out of range", k);
        s.so[k].reverse = out_dirs ? out_dirs[k] != 0 : 0;
    }
    for (int i = 0; i < N + s.M; i++)
        if (!it_has_in(c, first + i)) return it_opfail(c, INGOT_ERR_FORMAT, "input %d is missing", first + i);

    if (!s.v8) {
        int64_t len = -1;
        for (int m = 0; m < s.M; m++) {
            it_tensor *t = it_in(c, N + m);
            if (!t) return it_opfail(c, INGOT_ERR_FORMAT, "scan input %d is not a tensor", m);
            if ((st = scan_setup_input(c, &s.si[m], t, in_axes ? in_axes[m] : 0, in_dirs ? in_dirs[m] != 0 : 0, m)))
                return st;
            int64_t l = t->dims[s.si[m].axis];
            if (len >= 0 && l != len) return it_opfail(c, INGOT_ERR_SHAPE, "scan inputs have different lengths (%lld, %lld)", (long long)len, (long long)l);
            len = l;
        }
        for (int i = 0; i < N; i++) s.ins[i] = c->in[i];
        st = scan_iterate(c, &s, len, len, -1);
        for (int i = 0; i < N && !st; i++) {
            if (s.own[i].kind != IT_V_UNSET) st = it_out_move(c, i, &s.own[i]);
            else st = out_copy_value(c, i, c->in[i]);
        }
        for (int k = 0; k < K && !st; k++) {
            if (s.so[k].started) continue;
            /* zero iterations: an empty output with the declared element shape */
            const it_valdef *d = &s.g->values[s.g->outputs[N + k]];
            it_tensor e;
            memset(&e, 0, sizeof e);
            e.dtype = d->has_type && d->type.dtype > 0 ? d->type.dtype : IT_F32;
            if (d->has_type && d->type.ndim > 0 && d->type.ndim < IT_MAX_DIMS) {
                e.ndim = d->type.ndim;
                for (int q = 0; q < e.ndim; q++) e.dims[q] = d->type.dims[q] > 0 ? d->type.dims[q] : 0;
            }
            st = scan_out_alloc(c, &s, k, &e, 0);
        }
    } else {
        /* opset 8: states [batch, ...], scan inputs [batch, seq, ...] */
        it_tensor *sl = it_has_in(c, 0) ? it_in(c, 0) : NULL;
        if (it_has_in(c, 0) && !sl) return it_opfail(c, INGOT_ERR_FORMAT, "sequence_lens must be a tensor");
        it_tensor *x0 = it_in(c, 1 + N);
        if (!x0 || x0->ndim < 2) return it_opfail(c, INGOT_ERR_SHAPE, "scan inputs must have rank >= 2 (batch, sequence)");
        s.batch = x0->dims[0];
        s.max_len = x0->dims[1];
        it_tensor *views = it_scratch(c, sizeof(it_tensor) * nv);
        it_value *sviews = it_scratch(c, sizeof(it_value) * nv);
        if (!views || !sviews) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
        memset(sviews, 0, sizeof(it_value) * nv);
        if (sl && (it_count(sl) != s.batch || !it_dtype_is_int(sl->dtype)))
            return it_opfail(c, INGOT_ERR_SHAPE, "sequence_lens must hold %lld integers", (long long)s.batch);
        for (int m = 0; m < s.M; m++) {
            it_tensor *t = it_in(c, 1 + N + m);
            if (!t || t->ndim < 2 || t->dims[0] != s.batch || t->dims[1] != s.max_len)
                return it_opfail(c, INGOT_ERR_SHAPE, "scan input %d must be [%lld, %lld, ...]", m, (long long)s.batch, (long long)s.max_len);
            views[m] = *t;
            views[m].ndim = t->ndim - 1;
            memmove(views[m].dims, t->dims + 1, sizeof(int64_t) * (size_t)(t->ndim - 1));
            views[m].owned = 0;
            if ((st = scan_setup_input(c, &s.si[m], &views[m], 0, in_dirs ? in_dirs[m] != 0 : 0, m))) return st;
        }
        it_tensor *state_out[64];
        if (N > 64) return it_opfail(c, INGOT_ERR_LIMIT, "too many scan states");
        for (int i = 0; i < N; i++) {
            it_tensor *t = it_in(c, 1 + i);
            if (!t || t->ndim < 1 || t->dims[0] != s.batch)
                return it_opfail(c, INGOT_ERR_SHAPE, "state %d must be a tensor with batch dimension %lld", i, (long long)s.batch);
            if (t->dtype != IT_STRING && it_dtype_size(t->dtype) == 0)
                return it_opfail(c, INGOT_ERR_UNSUPPORTED, "state %d: dtype %s", i, it_dtype_name(t->dtype));
            if ((st = it_out_like(c, i, t->dtype, t, &state_out[i]))) return st;
        }
        for (int64_t b = 0; b < s.batch && !st; b++) {
            int64_t len = s.max_len;
            if (sl) {
                len = it_get_i64(sl->data, sl->dtype, b);
                if (len < 0 || len > s.max_len) return it_opfail(c, INGOT_ERR_SHAPE, "sequence_lens[%lld] = %lld out of range", (long long)b, (long long)len);
            }
            for (int i = 0; i < N; i++) {
                it_tensor *t = it_in(c, 1 + i);
                int64_t per = s.batch ? it_count(t) / s.batch : 0;
                it_value *v = &sviews[i];
                v->kind = IT_V_TENSOR;
                v->t = *t;
                v->t.owned = 0;
                v->t.ndim = t->ndim - 1;
                memmove(v->t.dims, t->dims + 1, sizeof(int64_t) * (size_t)(t->ndim - 1));
                v->t.nbytes = (size_t)per * elem_bytes(t->dtype);
                v->t.data = (char *)t->data + (size_t)(b * per) * elem_bytes(t->dtype);
                s.ins[i] = v;
            }
            for (int m = 0; m < s.M; m++) {
                it_tensor *full = it_in(c, 1 + N + m);
                size_t per = full->nbytes / (size_t)(s.batch ? s.batch : 1);
                views[m].data = (char *)full->data + (size_t)b * per;
                views[m].nbytes = per;
            }
            st = scan_iterate(c, &s, len, s.max_len, b);
            for (int i = 0; i < N && !st; i++) {
                const it_value *fin = s.own[i].kind != IT_V_UNSET ? &s.own[i] : s.ins[i];
                it_tensor *o = state_out[i];
                int64_t per = s.batch ? it_count(o) / s.batch : 0;
                if (fin->kind != IT_V_TENSOR || fin->t.dtype != o->dtype || it_count(&fin->t) != per)
                    st = it_opfail(c, INGOT_ERR_SHAPE, "state %d changes shape or dtype", i);
                else
                    st = copy_elems(c, o->dtype, (char *)o->data + (size_t)(b * per) * elem_bytes(o->dtype), fin->t.data, per);
            }
            for (int i = 0; i < N; i++) it_value_release(c->x, &s.own[i]);
        }
        for (int k = 0; k < K && !st; k++) {
            if (s.so[k].started) continue;
            const it_valdef *d = &s.g->values[s.g->outputs[N + k]];
            it_tensor e;
            memset(&e, 0, sizeof e);
            e.dtype = d->has_type && d->type.dtype > 0 ? d->type.dtype : IT_F32;
            if (d->has_type && d->type.ndim > 0 && d->type.ndim < IT_MAX_DIMS - 1) {
                e.ndim = d->type.ndim;
                for (int q = 0; q < e.ndim; q++) e.dims[q] = d->type.dims[q] > 0 ? d->type.dims[q] : 0;
            }
            st = scan_out_alloc(c, &s, k, &e, s.max_len);
        }
    }
    for (int k = 0; k < s.g->n_outputs; k++) it_value_release(c->x, &s.outs[k]);
    for (int i = 0; i < N; i++) it_value_release(c->x, &s.own[i]);
    return st;
}

const it_op it_ops_control[] = {
    {"", "If", NULL, if_run, NULL, IT_OP_NO_FOLD, NULL},
    {"", "Loop", NULL, loop_run, NULL, IT_OP_NO_FOLD, NULL},
    {"", "Scan", NULL, scan_run, NULL, IT_OP_NO_FOLD, NULL},
    {0},
};
