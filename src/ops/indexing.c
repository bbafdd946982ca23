/*
 * indexing.c: operators that read or write elements at computed positions:
 * Gather, GatherElements, GatherND, Scatter / ScatterElements (reductions
 * none/add/mul/max/min), ScatterND, TensorScatter (KV-cache writes), Compress,
 * NonZero, OneHot, ReverseSequence and Unique.
 *
 * Workload: embedding lookups and token selection in transformers (Gather on
 * float32 tables, copied a contiguous slab per index with memcpy), KV-cache
 * updates, and the index plumbing of exported detection/NLP graphs. Every
 * index read from a tensor is range-checked (negative indices count from the
 * end); an index out of range fails the op instead of reading out of bounds.
 * All dtypes are moved, strings included (outputs get strdup'd copies).
 */
#include "shape_copy.h"

/* ---- helpers ---- */

static int elem_size(it_opctx *c, int dtype, size_t *es) {
    *es = it_dtype_size(dtype);
    if (!*es) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "dtype %s is not supported", it_dtype_name(dtype));
    return 0;
}

static int own_strings(it_opctx *c, it_tensor *y) {
    if (y->dtype != IT_STRING) return 0;
    if (it_shp_dup_strings(y->data, it_count(y))) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory copying strings");
    return 0;
}

static int need_index_type(it_opctx *c, const it_tensor *t, const char *what) {
    if (t->dtype != IT_I64 && t->dtype != IT_I32 && !it_dtype_is_int(t->dtype))
        return it_opfail(c, INGOT_ERR_SHAPE, "%s must be an integer tensor", what);
    return 0;
}

static inline int64_t idx_at(const it_tensor *t, int64_t i) {
    if (t->dtype == IT_I64) return ((const int64_t *)t->data)[i];
    if (t->dtype == IT_I32) return ((const int32_t *)t->data)[i];
    return it_get_i64(t->data, t->dtype, i);
}

/* Normalize index v into [0, d); -1 if out of range. */
static inline int64_t norm_idx(int64_t v, int64_t d) {
    if (v < 0) v += d;
    return (v < 0 || v >= d) ? -1 : v;
}

/* ---- Gather ---- */

typedef struct gather_job {
    const char *src;
    char *dst;
    const it_tensor *idx;
    int64_t nidx, dim, blk; /* blk: bytes per index slab */
    int64_t bad;            /* first bad index position + 1, 0 if none (written per chunk) */
} gather_job;

static void gather_rows(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    gather_job *j = arg;
    for (int64_t r = b; r < e; r++) {
        int64_t o = r / j->nidx, i = r % j->nidx;
        int64_t k = norm_idx(idx_at(j->idx, i), j->dim);
        if (k < 0) {
            __atomic_store_n(&j->bad, i + 1, __ATOMIC_RELAXED);
            continue;
        }
        memcpy(j->dst + r * j->blk, j->src + (o * j->dim + k) * j->blk, (size_t)j->blk);
    }
}

static int gather_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    IT_REQUIRE_IN(c, 1, ind);
    int st;
    if ((st = need_index_type(c, ind, "indices"))) return st;
    int r = x->ndim, q = ind->ndim;
    int axis = it_axis(it_attr_int(c->node, "axis", 0), r, 0);
    if (axis < 0) return it_opfail(c, INGOT_ERR_SHAPE, "axis out of range for rank %d", r);
    if (r - 1 + q > IT_MAX_DIMS) return it_opfail(c, INGOT_ERR_LIMIT, "output rank too large");
    size_t es;
    if ((st = elem_size(c, x->dtype, &es))) return st;
    int64_t od[IT_MAX_DIMS];
    int nd = 0;
    for (int k = 0; k < axis; k++) od[nd++] = x->dims[k];
    for (int k = 0; k < q; k++) od[nd++] = ind->dims[k];
    for (int k = axis + 1; k < r; k++) od[nd++] = x->dims[k];
    it_tensor *y;
    if ((st = it_out_tensor(c, 0, x->dtype, nd, od, &y))) return st;
    int64_t outer = 1, inner = 1, nidx = it_count(ind);
    for (int k = 0; k < axis; k++) outer *= x->dims[k];
    for (int k = axis + 1; k < r; k++) inner *= x->dims[k];
    if (it_count(y) == 0) return 0;
    gather_job j = {x->data, y->data, ind, nidx, x->dims[axis], inner * (int64_t)es, 0};
    int64_t rows = outer * nidx;
    if (x->dtype == IT_F32 && inner == 1) { /* element gather: no memcpy call per element */
        const float *s = x->data;
        float *d = y->data;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < nidx; i++) {
                int64_t k = norm_idx(idx_at(ind, i), j.dim);
                if (k < 0) { j.bad = i + 1; break; }
                d[o * nidx + i] = s[o * j.dim + k];
            }
    } else {
        int64_t grain = 65536 / (j.blk ? j.blk : 1) + 1;
        if (rows <= grain) gather_rows(&j, 0, rows, 0);
        else it_parallel_for(c->tp, rows, grain, gather_rows, &j);
    }
    if (j.bad) {
        if (x->dtype == IT_STRING) memset(y->data, 0, y->nbytes);
        return it_opfail(c, INGOT_ERR_SHAPE, "index %lld out of range for axis of size %lld",
                         (long long)idx_at(ind, j.bad - 1), (long long)j.dim);
    }
    return own_strings(c, y);
}

/* ---- GatherElements ---- */

static int gather_elements_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    IT_REQUIRE_IN(c, 1, ind);
    int st;
    if ((st = need_index_type(c, ind, "indices"))) return st;
    int r = x->ndim;
    if (ind->ndim != r || r == 0) return it_opfail(c, INGOT_ERR_SHAPE, "indices must have the rank of data (>= 1)");
    int axis = it_axis(it_attr_int(c->node, "axis", 0), r, 0);
    if (axis < 0) return it_opfail(c, INGOT_ERR_SHAPE, "axis out of range for rank %d", r);
    for (int k = 0; k < r; k++)
        if (k != axis && ind->dims[k] > x->dims[k]) return it_opfail(c, INGOT_ERR_SHAPE, "indices dimension %d exceeds data", k);
    size_t es;
    if ((st = elem_size(c, x->dtype, &es))) return st;
    it_tensor *y;
    if ((st = it_out_like(c, 0, x->dtype, ind, &y))) return st;
    int64_t n = it_count(ind);
    if (n == 0) return 0;
    int64_t xs[IT_MAX_DIMS], idx[IT_MAX_DIMS] = {0}, base = 0, dim = x->dims[axis];
    it_strides(r, x->dims, xs);
    /* base: data offset of the index position with the axis coordinate zeroed */
    for (int64_t i = 0; i < n; i++) {
        int64_t k = norm_idx(idx_at(ind, i), dim);
        if (k < 0) {
            if (x->dtype == IT_STRING) memset(y->data, 0, y->nbytes);
            return it_opfail(c, INGOT_ERR_SHAPE, "index %lld out of range for axis of size %lld", (long long)idx_at(ind, i), (long long)dim);
        }
        memcpy((char *)y->data + i * (int64_t)es, (const char *)x->data + (base + k * xs[axis]) * (int64_t)es, es);
        for (int d = r - 1; d >= 0; d--) {
            if (d != axis) base += xs[d];
            if (++idx[d] < ind->dims[d]) break;
            if (d != axis) base -= xs[d] * ind->dims[d];
            idx[d] = 0;
        }
    }
    return own_strings(c, y);
}

/* ---- GatherND ---- */

static int gather_nd_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    IT_REQUIRE_IN(c, 1, ind);
    int st;
    if ((st = need_index_type(c, ind, "indices"))) return st;
    int r = x->ndim, q = ind->ndim;
    int64_t b = it_attr_int(c->node, "batch_dims", 0);
    if (q < 1 || r < 1 || b < 0 || b >= q || b >= r) return it_opfail(c, INGOT_ERR_SHAPE, "invalid ranks or batch_dims");
    int64_t m = ind->dims[q - 1];
    if (m < 1 || m > r - b) return it_opfail(c, INGOT_ERR_SHAPE, "indices last dimension %lld invalid", (long long)m);
    for (int k = 0; k < b; k++)
        if (ind->dims[k] != x->dims[k]) return it_opfail(c, INGOT_ERR_SHAPE, "batch dimension %d differs", k);
    int64_t od[IT_MAX_DIMS];
    int nd = 0;
    if (q - 1 + r - b - m > IT_MAX_DIMS) return it_opfail(c, INGOT_ERR_LIMIT, "output rank too large");
    for (int k = 0; k < q - 1; k++) od[nd++] = ind->dims[k];
    for (int k = (int)(b + m); k < r; k++) od[nd++] = x->dims[k];
    size_t es;
    if ((st = elem_size(c, x->dtype, &es))) return st;
    it_tensor *y;
    if ((st = it_out_tensor(c, 0, x->dtype, nd, od, &y))) return st;
    int64_t xs[IT_MAX_DIMS], nb = 1, slab = 1, per_batch = 1;
    it_strides(r, x->dims, xs);
    for (int k = 0; k < b; k++) nb *= ind->dims[k];
    for (int k = (int)b; k < q - 1; k++) per_batch *= ind->dims[k];
    for (int k = (int)(b + m); k < r; k++) slab *= x->dims[k];
    int64_t bstride = b > 0 ? xs[b - 1] : 0, sb = slab * (int64_t)es;
    if (it_count(y) == 0) return 0;
    char *dst = y->data;
    for (int64_t bi = 0; bi < nb; bi++)
        for (int64_t t = 0; t < per_batch; t++) {
            int64_t row = bi * per_batch + t, off = bi * bstride;
            for (int64_t k = 0; k < m; k++) {
                int64_t d = x->dims[b + k], v = norm_idx(idx_at(ind, row * m + k), d);
                if (v < 0) {
                    if (x->dtype == IT_STRING) memset(y->data, 0, y->nbytes);
                    return it_opfail(c, INGOT_ERR_SHAPE, "index %lld out of range for dimension of size %lld", (long long)idx_at(ind, row * m + k), (long long)d);
                }
                off += v * xs[b + k];
            }
            memcpy(dst + row * sb, (const char *)x->data + off * (int64_t)es, (size_t)sb);
        }
    return own_strings(c, y);
}

/* ---- scatter reductions ---- */

enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN };

static int parse_reduction(it_opctx *c, int *red) {
    const char *s = it_attr_str(c->node, "reduction", "none");
    if (!strcmp(s, "none")) *red = RED_NONE;
    else if (!strcmp(s, "add")) *red = RED_ADD;
    else if (!strcmp(s, "mul")) *red = RED_MUL;
    else if (!strcmp(s, "max")) *red = RED_MAX;
    else if (!strcmp(s, "min")) *red = RED_MIN;
    else return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unknown reduction '%s'", s);
    return 0;
}

#define RED_APPLY(T)                                                                                           \
    do {                                                                                                       \
        T *d_ = (T *)dst;                                                                                      \
        const T *s_ = (const T *)src;                                                                          \
        for (int64_t i = 0; i < n; i++) {                                                                      \
            T a = d_[i], b = s_[i];                                                                            \
            switch (red) {                                                                                     \
            case RED_ADD: d_[i] = (T)(a + b); break;                                                           \
            case RED_MUL: d_[i] = (T)(a * b); break;                                                           \
            case RED_MAX: d_[i] = a > b ? a : b; break;                                                        \
            default: d_[i] = a < b ? a : b; break;                                                             \
            }                                                                                                  \
        }                                                                                                      \
    } while (0)

/* dst[0..n) = reduce(dst, src) elementwise; red != RED_NONE. */
static void reduce_into(void *dst, const void *src, int dtype, int red, int64_t n) {
    switch (dtype) {
    case IT_F32: RED_APPLY(float); return;
    case IT_F64: RED_APPLY(double); return;
    case IT_I64: RED_APPLY(int64_t); return;
    case IT_I32: RED_APPLY(int32_t); return;
    case IT_I16: RED_APPLY(int16_t); return;
    case IT_I8: RED_APPLY(int8_t); return;
    case IT_U64: RED_APPLY(uint64_t); return;
    case IT_U32: RED_APPLY(uint32_t); return;
    case IT_U16: RED_APPLY(uint16_t); return;
    case IT_U8: RED_APPLY(uint8_t); return;
    case IT_BOOL:
        for (int64_t i = 0; i < n; i++) {
            uint8_t a = ((uint8_t *)dst)[i] != 0, b = ((const uint8_t *)src)[i] != 0;
            ((uint8_t *)dst)[i] = red == RED_ADD || red == RED_MAX ? (a | b) : (a & b);
        }
        return;
    default:
        for (int64_t i = 0; i < n; i++) {
            double a = it_get_f64(dst, dtype, i), b = it_get_f64(src, dtype, i), v;
            switch (red) {
            case RED_ADD: v = a + b; break;
            case RED_MUL: v = a * b; break;
            case RED_MAX: v = a > b ? a : b; break;
            default: v = a < b ? a : b; break;
            }
            it_set_f64(dst, dtype, i, v);
        }
    }
}

/* Output = copy of data with pointers borrowed (strings are owned afterwards by own_strings). */
static int copy_data_out(it_opctx *c, const it_tensor *x, it_tensor **y) {
    int st = it_out_like(c, 0, x->dtype, x, y);
    if (st) return st;
    it_shp_memcpy(c->tp, (*y)->data, x->data, x->nbytes < (*y)->nbytes ? x->nbytes : (*y)->nbytes);
    return 0;
}

/* ---- Scatter, ScatterElements ---- */

static int scatter_elements_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    IT_REQUIRE_IN(c, 1, ind);
    IT_REQUIRE_IN(c, 2, upd);
    int st, red = RED_NONE;
    if ((st = need_index_type(c, ind, "indices"))) return st;
    if (strcmp(c->node->op_type, "Scatter") && c->node->opset >= 16 && (st = parse_reduction(c, &red))) return st;
    int r = x->ndim;
    if (r == 0 || ind->ndim != r || !it_shape_equal(ind, upd)) return it_opfail(c, INGOT_ERR_SHAPE, "data, indices and updates must share rank; indices and updates their shape");
    if (upd->dtype != x->dtype) return it_opfail(c, INGOT_ERR_SHAPE, "updates type differs from data");
    if (red != RED_NONE && x->dtype == IT_STRING) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "reduction on strings");
    int axis = it_axis(it_attr_int(c->node, "axis", 0), r, 0);
    if (axis < 0) return it_opfail(c, INGOT_ERR_SHAPE, "axis out of range for rank %d", r);
    for (int k = 0; k < r; k++)
        if (k != axis && ind->dims[k] > x->dims[k]) return it_opfail(c, INGOT_ERR_SHAPE, "indices dimension %d exceeds data", k);
    size_t es;
    if ((st = elem_size(c, x->dtype, &es))) return st;
    it_tensor *y;
    if ((st = copy_data_out(c, x, &y))) return st;
    int64_t n = it_count(ind), xs[IT_MAX_DIMS], idx[IT_MAX_DIMS] = {0}, base = 0, dim = x->dims[axis];
    it_strides(r, x->dims, xs);
    for (int64_t i = 0; n > 0 && i < n; i++) {
        int64_t k = norm_idx(idx_at(ind, i), dim);
        if (k < 0) {
            if (x->dtype == IT_STRING) memset(y->data, 0, y->nbytes);
            return it_opfail(c, INGOT_ERR_SHAPE, "index %lld out of range for axis of size %lld", (long long)idx_at(ind, i), (long long)dim);
        }
        char *d = (char *)y->data + (base + k * xs[axis]) * (int64_t)es;
        const char *s = (const char *)upd->data + i * (int64_t)es;
        if (red == RED_NONE) memcpy(d, s, es);
        else reduce_into(d, s, x->dtype, red, 1);
        for (int dd = r - 1; dd >= 0; dd--) {
            if (dd != axis) base += xs[dd];
            if (++idx[dd] < ind->dims[dd]) break;
            if (dd != axis) base -= xs[dd] * ind->dims[dd];
            idx[dd] = 0;
        }
    }
    return own_strings(c, y);
}

/* ---- ScatterND ---- */

static int scatter_nd_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    IT_REQUIRE_IN(c, 1, ind);
    IT_REQUIRE_IN(c, 2, upd);
    int st, red = RED_NONE;
    if ((st = need_index_type(c, ind, "indices"))) return st;
    if (c->node->opset >= 16 && (st = parse_reduction(c, &red))) return st;
    int r = x->ndim, q = ind->ndim;
    if (q < 1 || r < 1) return it_opfail(c, INGOT_ERR_SHAPE, "data and indices must have rank >= 1");
    int64_t m = ind->dims[q - 1];
    if (m < 1 || m > r) return it_opfail(c, INGOT_ERR_SHAPE, "indices last dimension %lld invalid", (long long)m);
    /* updates shape = indices.shape[:-1] + data.shape[m:] */
    if (upd->ndim != q - 1 + r - m) return it_opfail(c, INGOT_ERR_SHAPE, "updates has the wrong rank");
    for (int k = 0; k < q - 1; k++)
        if (upd->dims[k] != ind->dims[k]) return it_opfail(c, INGOT_ERR_SHAPE, "updates shape differs from indices");
    for (int k = (int)m; k < r; k++)
        if (upd->dims[q - 1 + k - m] != x->dims[k]) return it_opfail(c, INGOT_ERR_SHAPE, "updates shape differs from data");
    if (upd->dtype != x->dtype) return it_opfail(c, INGOT_ERR_SHAPE, "updates type differs from data");
    if (red != RED_NONE && x->dtype == IT_STRING) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "reduction on strings");
    size_t es;
    if ((st = elem_size(c, x->dtype, &es))) return st;
    it_tensor *y;
    if ((st = copy_data_out(c, x, &y))) return st;
    int64_t xs[IT_MAX_DIMS], nrows = 1, slab = 1;
    it_strides(r, x->dims, xs);
    for (int k = 0; k < q - 1; k++) nrows *= ind->dims[k];
    for (int k = (int)m; k < r; k++) slab *= x->dims[k];
    for (int64_t row = 0; slab > 0 && row < nrows; row++) {
        int64_t off = 0;
        for (int64_t k = 0; k < m; k++) {
            int64_t v = norm_idx(idx_at(ind, row * m + k), x->dims[k]);
            if (v < 0) {
                if (x->dtype == IT_STRING) memset(y->data, 0, y->nbytes);
                return it_opfail(c, INGOT_ERR_SHAPE, "index %lld out of range for dimension of size %lld", (long long)idx_at(ind, row * m + k), (long long)x->dims[k]);
            }
            off += v * xs[k];
        }
        char *d = (char *)y->data + off * (int64_t)es;
        const char *s = (const char *)upd->data + row * slab * (int64_t)es;
        if (red == RED_NONE) memcpy(d, s, (size_t)slab * es);
        else reduce_into(d, s, x->dtype, red, slab);
    }
    return own_strings(c, y);
}

/* ---- TensorScatter ---- */

static int tensor_scatter_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, past);
    IT_REQUIRE_IN(c, 1, upd);
    it_tensor *wi = it_in(c, 2);
    int r = past->ndim, st;
    const char *ms = it_attr_str(c->node, "mode", "linear");
    int circular;
    if (!strcmp(ms, "linear")) circular = 0;
    else if (!strcmp(ms, "circular")) circular = 1;
    else return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unknown mode '%s'", ms);
    int axis = it_axis(it_attr_int(c->node, "axis", -2), r, 0);
    if (r < 2 || axis < 1) return it_opfail(c, INGOT_ERR_SHAPE, "axis must name a non-batch dimension of a rank >= 2 cache");
    if (upd->ndim != r || upd->dtype != past->dtype) return it_opfail(c, INGOT_ERR_SHAPE, "update must match the cache in rank and type");
    for (int k = 0; k < r; k++)
        if (k != axis && upd->dims[k] != past->dims[k]) return it_opfail(c, INGOT_ERR_SHAPE, "update dimension %d differs from the cache", k);
    int64_t batch = past->dims[0], maxs = past->dims[axis], seq = upd->dims[axis];
    if (seq > maxs) return it_opfail(c, INGOT_ERR_SHAPE, "update sequence %lld exceeds the cache's %lld", (long long)seq, (long long)maxs);
    if (wi) {
        if ((st = need_index_type(c, wi, "write_indices"))) return st;
        if (it_count(wi) != batch) return it_opfail(c, INGOT_ERR_SHAPE, "write_indices must have batch_size entries");
    }
    size_t es;
    if ((st = elem_size(c, past->dtype, &es))) return st;
    it_tensor *y;
    if ((st = copy_data_out(c, past, &y))) return st;
    int64_t mid = 1, inner = 1;
    for (int k = 1; k < axis; k++) mid *= past->dims[k];
    for (int k = axis + 1; k < r; k++) inner *= past->dims[k];
    int64_t ib = inner * (int64_t)es;
    for (int64_t b = 0; b < batch; b++) {
        int64_t w = wi ? idx_at(wi, b) : 0;
        if (w < 0 || w >= maxs || (!circular && w + seq > maxs)) {
            if (past->dtype == IT_STRING) memset(y->data, 0, y->nbytes);
            return it_opfail(c, INGOT_ERR_SHAPE, "write index %lld out of range for a cache of %lld", (long long)w, (long long)maxs);
        }
        for (int64_t mi = 0; mi < mid; mi++) {
            char *dbase = (char *)y->data + ((b * mid + mi) * maxs) * ib;
            const char *sbase = (const char *)upd->data + ((b * mid + mi) * seq) * ib;
            if (!circular || w + seq <= maxs) {
                memcpy(dbase + w * ib, sbase, (size_t)(seq * ib));
            } else {
                int64_t first = maxs - w;
                memcpy(dbase + w * ib, sbase, (size_t)(first * ib));
                memcpy(dbase, sbase + first * ib, (size_t)((seq - first) * ib));
            }
        }
    }
    return own_strings(c, y);
}

/* ---- Compress ---- */

static int compress_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    IT_REQUIRE_IN(c, 1, cond);
    if (cond->ndim != 1) return it_opfail(c, INGOT_ERR_SHAPE, "condition must be 1-D");
    int st;
    size_t es;
    if ((st = elem_size(c, x->dtype, &es))) return st;
    const it_attr *aa = it_attr_get(c->node, "axis");
    int64_t outer = 1, dim, inner = 1, od[IT_MAX_DIMS];
    int nd;
    if (aa) {
        int axis = it_axis(aa->i, x->ndim, 0);
        if (axis < 0) return it_opfail(c, INGOT_ERR_SHAPE, "axis out of range for rank %d", x->ndim);
        for (int k = 0; k < axis; k++) outer *= x->dims[k];
        for (int k = axis + 1; k < x->ndim; k++) inner *= x->dims[k];
        dim = x->dims[axis];
        nd = x->ndim;
        memcpy(od, x->dims, sizeof(int64_t) * (size_t)nd);
        od[axis] = 0;
    } else {
        dim = it_count(x);
        nd = 1;
        od[0] = 0;
    }
    int64_t nc = it_count(cond), lim = nc < dim ? nc : dim, kept = 0;
    for (int64_t i = 0; i < lim; i++) kept += it_get_f64(cond->data, cond->dtype, i) != 0;
    od[aa ? it_axis(aa->i, x->ndim, 0) : 0] = kept;
    it_tensor *y;
    if ((st = it_out_tensor(c, 0, x->dtype, nd, od, &y))) return st;
    int64_t ib = inner * (int64_t)es;
    char *d = y->data;
    for (int64_t o = 0; ib > 0 && o < outer; o++)
        for (int64_t i = 0; i < lim; i++)
            if (it_get_f64(cond->data, cond->dtype, i) != 0) {
                memcpy(d, (const char *)x->data + (o * dim + i) * ib, (size_t)ib);
                d += ib;
            }
    return own_strings(c, y);
}

/* ---- NonZero ---- */

static int is_nonzero(const it_tensor *x, int64_t i, size_t es) {
    if (x->dtype == IT_STRING) {
        const char *s = ((char *const *)x->data)[i];
        return s && s[0];
    }
    if (it_dtype_is_float(x->dtype)) return it_get_f64(x->data, x->dtype, i) != 0;
    const uint8_t *p = (const uint8_t *)x->data + (size_t)i * es;
    for (size_t k = 0; k < es; k++)
        if (p[k]) return 1;
    return 0;
}

static int nonzero_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    int st;
    size_t es;
    if ((st = elem_size(c, x->dtype, &es))) return st;
    int64_t n = it_count(x), nnz = 0;
    for (int64_t i = 0; i < n; i++) nnz += is_nonzero(x, i, es);
    int r = x->ndim ? x->ndim : 1;
    int64_t od[2] = {r, nnz}, idx[IT_MAX_DIMS] = {0};
    it_tensor *y;
    if ((st = it_out_tensor(c, 0, IT_I64, 2, od, &y))) return st;
    int64_t *o = y->data, j = 0;
    for (int64_t i = 0; i < n; i++) {
        if (is_nonzero(x, i, es)) {
            for (int k = 0; k < r; k++) o[k * nnz + j] = x->ndim ? idx[k] : 0;
            j++;
        }
        if (x->ndim) it_next_index(x->ndim, x->dims, idx);
    }
    return 0;
}

/* ---- OneHot ---- */

static int onehot_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, ind);
    IT_REQUIRE_IN(c, 1, dep);
    IT_REQUIRE_IN(c, 2, vals);
    if (it_count(dep) != 1) return it_opfail(c, INGOT_ERR_SHAPE, "depth must be a scalar");
    if (it_count(vals) != 2) return it_opfail(c, INGOT_ERR_SHAPE, "values must have two elements");
    if (ind->dtype == IT_STRING || dep->dtype == IT_STRING) return it_opfail(c, INGOT_ERR_SHAPE, "indices and depth must be numeric");
    double df = it_get_f64(dep->data, dep->dtype, 0);
    if (!(df >= 1) || df > (double)IT_LIMIT_ELEMENTS) return it_opfail(c, INGOT_ERR_SHAPE, "invalid depth %g", df);
    int64_t depth = (int64_t)df;
    int r = ind->ndim;
    if (r + 1 > IT_MAX_DIMS) return it_opfail(c, INGOT_ERR_LIMIT, "output rank too large");
    int axis = it_axis(it_attr_int(c->node, "axis", -1), r, 1);
    if (axis < 0) return it_opfail(c, INGOT_ERR_SHAPE, "axis out of range");
    int64_t od[IT_MAX_DIMS];
    for (int k = 0, j = 0; k <= r; k++) od[k] = k == axis ? depth : ind->dims[j++];
    int st;
    size_t es;
    if ((st = elem_size(c, vals->dtype, &es))) return st;
    int64_t total = it_shape_count(r + 1, od);
    if (total < 0 || total > IT_LIMIT_ELEMENTS) return it_opfail(c, INGOT_ERR_LIMIT, "output too large");
    it_tensor *y;
    if ((st = it_out_tensor(c, 0, vals->dtype, r + 1, od, &y))) return st;
    const char *off = vals->data, *on = off + es;
    it_shp_fill(y->data, off, es, total);
    int64_t outer = 1, inner = 1;
    for (int k = 0; k < axis; k++) outer *= ind->dims[k];
    for (int k = axis; k < r; k++) inner *= ind->dims[k];
    int isint = it_dtype_is_int(ind->dtype);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t p = o * inner + i, v;
            if (isint) v = it_get_i64(ind->data, ind->dtype, p);
            else {
                double f = it_get_f64(ind->data, ind->dtype, p);
                if (!(f > -(double)depth - 1 && f < (double)depth + 1)) continue;
                v = (int64_t)f;
            }
            if (v < 0) v += depth;
            if (v < 0 || v >= depth) continue;
            memcpy((char *)y->data + ((o * depth + v) * inner + i) * (int64_t)es, on, es);
        }
    return own_strings(c, y);
}

/* ---- ReverseSequence ---- */

static int reverse_sequence_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    IT_REQUIRE_IN(c, 1, lens);
    int st;
    if ((st = need_index_type(c, lens, "sequence_lens"))) return st;
    if (x->ndim < 2) return it_opfail(c, INGOT_ERR_SHAPE, "input rank must be at least 2");
    int64_t ta = it_attr_int(c->node, "time_axis", 0), ba = it_attr_int(c->node, "batch_axis", 1);
    if (!((ta == 0 && ba == 1) || (ta == 1 && ba == 0))) return it_opfail(c, INGOT_ERR_SHAPE, "time_axis and batch_axis must be 0 and 1");
    int64_t T = x->dims[ta], B = x->dims[ba], inner = 1;
    for (int k = 2; k < x->ndim; k++) inner *= x->dims[k];
    if (it_count(lens) != B) return it_opfail(c, INGOT_ERR_SHAPE, "sequence_lens must have batch_size entries");
    size_t es;
    if ((st = elem_size(c, x->dtype, &es))) return st;
    it_tensor *y;
    if ((st = copy_data_out(c, x, &y))) return st;
    int64_t ib = inner * (int64_t)es;
    /* offset of (t, b) in slabs of `inner` */
    int64_t st_t = ta == 0 ? B : 1, st_b = ta == 0 ? 1 : T;
    for (int64_t b = 0; b < B; b++) {
        int64_t L = idx_at(lens, b);
        if (L < 0 || L > T) {
            if (x->dtype == IT_STRING) memset(y->data, 0, y->nbytes);
            return it_opfail(c, INGOT_ERR_SHAPE, "sequence length %lld out of range [0, %lld]", (long long)L, (long long)T);
        }
        for (int64_t t = 0; t < L; t++)
            memcpy((char *)y->data + (t * st_t + b * st_b) * ib, (const char *)x->data + ((L - 1 - t) * st_t + b * st_b) * ib, (size_t)ib);
    }
    return own_strings(c, y);
}

/* ---- Unique ---- */

typedef struct uctx {
    const it_tensor *x;
    int64_t outer, n, inner; /* items along the axis: element (o, i, k) at (o*n + i)*inner + k */
} uctx;

static int elem_cmp(const it_tensor *x, int64_t a, int64_t b) {
    switch (x->dtype) {
    case IT_STRING: {
        const char *sa = ((char *const *)x->data)[a], *sb = ((char *const *)x->data)[b];
        return strcmp(sa ? sa : "", sb ? sb : "");
    }
    case IT_I64: case IT_I32: case IT_I16: case IT_I8: case IT_U32: case IT_U16: case IT_U8: case IT_BOOL: {
        int64_t va = it_get_i64(x->data, x->dtype, a), vb = it_get_i64(x->data, x->dtype, b);
        return va < vb ? -1 : va > vb;
    }
    case IT_U64: {
        uint64_t va = ((const uint64_t *)x->data)[a], vb = ((const uint64_t *)x->data)[b];
        return va < vb ? -1 : va > vb;
    }
    default: {
        double va = it_get_f64(x->data, x->dtype, a), vb = it_get_f64(x->data, x->dtype, b);
        if (va < vb) return -1;
        if (va > vb) return 1;
        if (va == vb) return 0;
        return isnan(va) ? (isnan(vb) ? 0 : 1) : -1; /* NaNs sort last and equal each other */
    }
    }
}

static int item_cmp(const uctx *u, int64_t a, int64_t b) {
    for (int64_t o = 0; o < u->outer; o++)
        for (int64_t k = 0; k < u->inner; k++) {
            int r = elem_cmp(u->x, (o * u->n + a) * u->inner + k, (o * u->n + b) * u->inner + k);
            if (r) return r;
        }
    return 0;
}

/* Stable merge sort of v[0..n) by item_cmp (tmp has n entries). */
static void msort(const uctx *u, int64_t *v, int64_t *tmp, int64_t n) {
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = item_cmp(u, v[j], v[i]) < 0 ? v[j++] : v[i++];
            while (i < mid) tmp[k++] = v[i++];
            while (j < hi) tmp[k++] = v[j++];
        }
        memcpy(v, tmp, sizeof(int64_t) * (size_t)n);
    }
}

static int unique_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    int st;
    size_t es;
    if ((st = elem_size(c, x->dtype, &es))) return st;
    int sorted = (int)it_attr_int(c->node, "sorted", 1);
    const it_attr *aa = it_attr_get(c->node, "axis");
    uctx u = {x, 1, it_count(x), 1};
    int axis = -1;
    if (aa) {
        axis = it_axis(aa->i, x->ndim, 0);
        if (axis < 0) return it_opfail(c, INGOT_ERR_SHAPE, "axis out of range for rank %d", x->ndim);
        u.n = x->dims[axis];
        for (int k = 0; k < axis; k++) u.outer *= x->dims[k];
        for (int k = axis + 1; k < x->ndim; k++) u.inner *= x->dims[k];
    }
    int64_t n = u.n;
    size_t nb = sizeof(int64_t) * (size_t)(n + 1);
    int64_t *ord = it_scratch(c, nb), *tmp = it_scratch(c, nb), *grp = it_scratch(c, nb), *first = it_scratch(c, nb);
    int64_t *cnt = it_scratch(c, nb), *rank = it_scratch(c, nb);
    if (!ord || !tmp || !grp || !first || !cnt || !rank) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) ord[i] = i;
    msort(&u, ord, tmp, n);
    /* groups of equal items in sorted order; stability makes ord[start] the first occurrence */
    int64_t ng = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i == 0 || item_cmp(&u, ord[i - 1], ord[i]) != 0) {
            first[ng] = ord[i];
            cnt[ng] = 0;
            ng++;
        }
        grp[ord[i]] = ng - 1;
        cnt[ng - 1]++;
    }
    /* rank[g]: output position of sorted group g */
    if (sorted) {
        for (int64_t g = 0; g < ng; g++) rank[g] = g;
    } else {
        /* order groups by first occurrence: walk the input, numbering groups when first seen */
        for (int64_t g = 0; g < ng; g++) rank[g] = -1;
        int64_t next = 0;
        for (int64_t i = 0; i < n; i++)
            if (rank[grp[i]] < 0) rank[grp[i]] = next++;
    }
    /* tmp[pos] = group at output position pos */
    for (int64_t g = 0; g < ng; g++) tmp[rank[g]] = g;
    int64_t od[IT_MAX_DIMS];
    int nd;
    if (aa) {
        nd = x->ndim;
        memcpy(od, x->dims, sizeof(int64_t) * (size_t)nd);
        od[axis] = ng;
    } else {
        nd = 1;
        od[0] = ng;
    }
    it_tensor *y, *ti, *tinv, *tc;
    if ((st = it_out_tensor(c, 0, x->dtype, nd, od, &y))) return st;
    int64_t ib = u.inner * (int64_t)es;
    for (int64_t o = 0; ib > 0 && o < u.outer; o++)
        for (int64_t p = 0; p < ng; p++)
            memcpy((char *)y->data + (o * ng + p) * ib, (const char *)x->data + (o * n + first[tmp[p]]) * ib, (size_t)ib);
    if ((st = own_strings(c, y))) return st;
    if (it_has_out(c, 1)) {
        if ((st = it_out_tensor(c, 1, IT_I64, 1, &ng, &ti))) return st;
        for (int64_t p = 0; p < ng; p++) ((int64_t *)ti->data)[p] = first[tmp[p]];
    }
    if (it_has_out(c, 2)) {
        if ((st = it_out_tensor(c, 2, IT_I64, 1, &n, &tinv))) return st;
        for (int64_t i = 0; i < n; i++) ((int64_t *)tinv->data)[i] = rank[grp[i]];
    }
    if (it_has_out(c, 3)) {
        if ((st = it_out_tensor(c, 3, IT_I64, 1, &ng, &tc))) return st;
        for (int64_t p = 0; p < ng; p++) ((int64_t *)tc->data)[p] = cnt[tmp[p]];
    }
    return 0;
}

const it_op it_ops_indexing[] = {
    {"", "Gather", NULL, gather_run, NULL, 0},
    {"", "GatherElements", NULL, gather_elements_run, NULL, 0},
    {"", "GatherND", NULL, gather_nd_run, NULL, 0},
    {"", "Scatter", NULL, scatter_elements_run, NULL, 0},
    {"", "ScatterElements", NULL, scatter_elements_run, NULL, 0},
    {"", "ScatterND", NULL, scatter_nd_run, NULL, 0},
    {"", "TensorScatter", NULL, tensor_scatter_run, NULL, 0},
    {"", "Compress", NULL, compress_run, NULL, 0},
    {"", "NonZero", NULL, nonzero_run, NULL, 0},
    {"", "OneHot", NULL, onehot_run, NULL, 0},
    {"", "ReverseSequence", NULL, reverse_sequence_run, NULL, 0},
    {"", "Unique", NULL, unique_run, NULL, 0},
    {0},
};
