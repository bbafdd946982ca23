/*
 * shape.c: operators that create, reinterpret or move data without arithmetic:
 * Constant, ConstantOfShape, Identity, Reshape, Flatten, Squeeze, Unsqueeze,
 * Transpose, Concat, Split, Slice, Expand, Tile, Pad, Shape, Size, Range,
 * EyeLike, Trilu, DepthToSpace, SpaceToDepth, Dropout (inference, and training
 * mode with its own seeded generator), BitCast and CenterCropPad.
 *
 * Workload: shape plumbing in every exported model (Reshape/Flatten/Squeeze/
 * Unsqueeze/Identity are views of their input and never copy), attention head
 * reshapes and NCHW <-> NHWC layout changes (Transpose, Concat, Slice, Expand,
 * Pad on float32 activations). All data movement goes through the strided copy
 * of shape_copy.c, which copies contiguous runs with memcpy and tiles
 * transposes. Every dtype works, strings included: string outputs receive
 * heap copies (strdup) of the input strings; the executor frees them.
 */
#include "shape_copy.h"

/* ---- helpers ---- */

/* Element size of t's dtype; fails for sub-byte types (which these ops do not move). */
static int elem_size(it_opctx *c, int dtype, size_t *es) {
    *es = it_dtype_size(dtype);
    if (!*es) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "dtype %s is not supported", it_dtype_name(dtype));
    return 0;
}

/* After pointers to input strings were copied into a string output, make them owned copies. */
static int own_strings(it_opctx *c, it_tensor *y) {
    if (y->dtype != IT_STRING) return 0;
    if (it_shp_dup_strings(y->data, it_count(y))) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory copying strings");
    return 0;
}

/* Integer list from input i (1-D or scalar int tensor) into out[0..max); *n gets the count. */
static int ints_input(it_opctx *c, int i, int64_t *out, int64_t max, const char *what, int64_t *n) {
    it_tensor *t = it_in(c, i);
    if (!t) return it_opfail(c, INGOT_ERR_FORMAT, "input '%s' is missing", what);
    if (t->ndim > 1) return it_opfail(c, INGOT_ERR_SHAPE, "input '%s' must be 1-D", what);
    *n = it_read_ints(t, out, max);
    if (*n < 0) return it_opfail(c, INGOT_ERR_SHAPE, "input '%s' must be integers with at most %lld entries", what, (long long)max);
    return 0;
}

/* Integer list from attribute `name` (count 0 if absent). */
static int ints_attr(it_opctx *c, const char *name, int64_t *out, int64_t max, int64_t *n) {
    const int64_t *v;
    int k = it_attr_ints(c->node, name, &v);
    if (k > max) return it_opfail(c, INGOT_ERR_SHAPE, "attribute '%s' has too many entries (%d)", name, k);
    for (int i = 0; i < k; i++) out[i] = v[i];
    *n = k;
    return 0;
}

static int shape_check(it_opctx *c, int ndim, const int64_t *dims) {
    int64_t n = it_shape_count(ndim, dims);
    if (n < 0 || n > IT_LIMIT_ELEMENTS) return it_opfail(c, INGOT_ERR_LIMIT, "output shape is too large");
    return 0;
}

/* ---- Constant ---- */

static int constant_run(it_opctx *c) {
    const it_node *n = c->node;
    it_tensor *y;
    int st;
    for (int k = 0; k < n->n_attr; k++) {
        const it_attr *a = &n->attrs[k];
        if (!strcmp(a->name, "value") || !strcmp(a->name, "sparse_value")) {
            const it_tensor *t = &a->t;
            if (!t->data && it_count(t) != 0)
                return it_opfail(c, INGOT_ERR_UNSUPPORTED, "attribute '%s' holds no tensor data", a->name);
            if ((st = it_out_tensor(c, 0, t->dtype, t->ndim, t->dims, &y))) return st;
            if (t->dtype == IT_STRING) {
                if (it_count(t)) memcpy(y->data, t->data, y->nbytes);
                return own_strings(c, y);
            }
            if (y->nbytes) memcpy(y->data, t->data, y->nbytes < t->nbytes ? y->nbytes : t->nbytes);
            return 0;
        }
        if (!strcmp(a->name, "value_float")) {
            if ((st = it_out_tensor(c, 0, IT_F32, 0, NULL, &y))) return st;
            ((float *)y->data)[0] = a->f;
            return 0;
        }
        if (!strcmp(a->name, "value_int")) {
            if ((st = it_out_tensor(c, 0, IT_I64, 0, NULL, &y))) return st;
            ((int64_t *)y->data)[0] = a->i;
            return 0;
        }
        if (!strcmp(a->name, "value_floats") || !strcmp(a->name, "value_ints")) {
            int isf = a->name[6] == 'f';
            int64_t d = a->n;
            if ((st = it_out_tensor(c, 0, isf ? IT_F32 : IT_I64, 1, &d, &y))) return st;
            if (d) memcpy(y->data, isf ? (const void *)a->floats : (const void *)a->ints, y->nbytes);
            return 0;
        }
        if (!strcmp(a->name, "value_string")) {
            if ((st = it_out_tensor(c, 0, IT_STRING, 0, NULL, &y))) return st;
            char *s = it_strndup(a->s ? a->s : "", a->s ? a->s_len : 0);
            if (!s) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
            ((char **)y->data)[0] = s;
            return 0;
        }
        if (!strcmp(a->name, "value_strings")) {
            int64_t d = a->n;
            if ((st = it_out_tensor(c, 0, IT_STRING, 1, &d, &y))) return st;
            char **p = y->data;
            for (int i = 0; i < a->n; i++) {
                p[i] = it_strndup(a->strings[i] ? a->strings[i] : "", a->strings[i] ? a->string_lens[i] : 0);
                if (!p[i]) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
            }
            return 0;
        }
    }
    return it_opfail(c, INGOT_ERR_FORMAT, "Constant has no value attribute");
}

/* ---- ConstantOfShape ---- */

static int constant_of_shape_run(it_opctx *c) {
    int64_t dims[IT_MAX_DIMS];
    int64_t nd;
    int st = ints_input(c, 0, dims, IT_MAX_DIMS, "shape", &nd);
    if (st) return st;
    for (int i = 0; i < nd; i++)
        if (dims[i] < 0) return it_opfail(c, INGOT_ERR_SHAPE, "negative dimension %lld", (long long)dims[i]);
    if ((st = shape_check(c, (int)nd, dims))) return st;
    const it_attr *a = it_attr_get(c->node, "value");
    int dtype = IT_F32;
    const void *val = NULL;
    if (a) {
        if (a->type != IT_ATTR_TENSOR || it_count(&a->t) != 1 || !a->t.data)
            return it_opfail(c, INGOT_ERR_FORMAT, "attribute 'value' must be a one-element tensor");
        dtype = a->t.dtype;
        val = a->t.data;
    }
    size_t es;
    if ((st = elem_size(c, dtype, &es))) return st;
    if (dtype == IT_STRING) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "string value is not supported");
    it_tensor *y;
    if ((st = it_out_tensor(c, 0, dtype, (int)nd, dims, &y))) return st;
    if (val) {
        int zero = 1;
        for (size_t i = 0; i < es; i++) zero &= ((const uint8_t *)val)[i] == 0;
        if (!zero) it_shp_fill(y->data, val, es, it_count(y));
    }
    return 0;
}

/* ---- Identity and the views ---- */

static int identity_run(it_opctx *c) {
    if (c->in[0] && c->in[0]->kind != IT_V_TENSOR) {
        it_value v;
        int st = it_value_copy(&v, c->in[0], c->err);
        if (st) return st;
        return it_out_move(c, 0, &v);
    }
    IT_REQUIRE_IN(c, 0, x);
    return it_out_alias(c, 0, 0, x->ndim, x->dims);
}

static int reshape_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    int64_t sh[IT_MAX_DIMS], out[IT_MAX_DIMS];
    int64_t ns;
    int st = c->node->opset < 5 ? ints_attr(c, "shape", sh, IT_MAX_DIMS, &ns) : ints_input(c, 1, sh, IT_MAX_DIMS, "shape", &ns);
    if (st) return st;
    int allowzero = c->node->opset >= 14 ? (int)it_attr_int(c->node, "allowzero", 0) : 0;
    int neg = -1;
    int64_t known = 1, total = it_count(x);
    for (int i = 0; i < ns; i++) {
        int64_t v = sh[i];
        if (v == -1) {
            if (neg >= 0) return it_opfail(c, INGOT_ERR_SHAPE, "more than one -1 in the shape");
            neg = i;
            out[i] = 1;
            continue;
        }
        if (v == 0 && !allowzero) {
            if (i >= x->ndim) return it_opfail(c, INGOT_ERR_SHAPE, "shape[%d] = 0 copies a dimension the input lacks", i);
            v = x->dims[i];
        }
        if (v < 0) return it_opfail(c, INGOT_ERR_SHAPE, "invalid dimension %lld in the shape", (long long)v);
        out[i] = v;
        if (!it_mul_ok(known, v, &known)) return it_opfail(c, INGOT_ERR_SHAPE, "shape overflows");
    }
    if (neg >= 0) {
        if (known == 0) return it_opfail(c, INGOT_ERR_SHAPE, "cannot infer -1 next to a zero dimension");
        if (total % known) return it_opfail(c, INGOT_ERR_SHAPE, "cannot reshape %lld elements: not a multiple of %lld", (long long)total, (long long)known);
        out[neg] = total / known;
    } else if (known != total) {
        return it_opfail(c, INGOT_ERR_SHAPE, "cannot reshape %lld elements into %lld", (long long)total, (long long)known);
    }
    return it_out_alias(c, 0, 0, (int)ns, out);
}

static int flatten_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    int64_t av = it_attr_int(c->node, "axis", 1);
    if (av < -x->ndim || av > x->ndim) return it_opfail(c, INGOT_ERR_SHAPE, "axis %lld out of range for rank %d", (long long)av, x->ndim);
    int axis = (int)(av < 0 ? av + x->ndim : av);
    int64_t d[2] = {1, 1};
    for (int i = 0; i < x->ndim; i++) d[i >= axis] *= x->dims[i];
    return it_out_alias(c, 0, 0, 2, d);
}

static int squeeze_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    int64_t ax[IT_MAX_DIMS];
    int64_t na = 0;
    int st = 0;
    if (c->node->opset < 13) st = ints_attr(c, "axes", ax, IT_MAX_DIMS, &na);
    else if (it_in(c, 1)) st = ints_input(c, 1, ax, IT_MAX_DIMS, "axes", &na);
    if (st) return st;
    int drop[IT_MAX_DIMS] = {0};
    for (int i = 0; i < na; i++) {
        int a = it_axis(ax[i], x->ndim, 0);
        if (a < 0) return it_opfail(c, INGOT_ERR_SHAPE, "axis %lld out of range for rank %d", (long long)ax[i], x->ndim);
        if (x->dims[a] != 1) return it_opfail(c, INGOT_ERR_SHAPE, "cannot squeeze axis %d of size %lld", a, (long long)x->dims[a]);
        drop[a] = 1;
    }
    int64_t d[IT_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < x->ndim; i++)
        if (!(na ? drop[i] : x->dims[i] == 1)) d[nd++] = x->dims[i];
    return it_out_alias(c, 0, 0, nd, d);
}

static int unsqueeze_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    int64_t ax[IT_MAX_DIMS + 1];
    int64_t na;
    int st = c->node->opset < 13 ? ints_attr(c, "axes", ax, IT_MAX_DIMS, &na) : ints_input(c, 1, ax, IT_MAX_DIMS, "axes", &na);
    if (st) return st;
    int r = x->ndim + (int)na;
    if (r > IT_MAX_DIMS) return it_opfail(c, INGOT_ERR_LIMIT, "output rank %d exceeds %d", r, IT_MAX_DIMS);
    int ins[IT_MAX_DIMS] = {0};
    for (int i = 0; i < na; i++) {
        int a = it_axis(ax[i], r, 0);
        if (a < 0) return it_opfail(c, INGOT_ERR_SHAPE, "axis %lld out of range for output rank %d", (long long)ax[i], r);
        if (ins[a]) return it_opfail(c, INGOT_ERR_SHAPE, "axis %d repeated", a);
        ins[a] = 1;
    }
    int64_t d[IT_MAX_DIMS];
    for (int i = 0, k = 0; i < r; i++) d[i] = ins[i] ? 1 : x->dims[k++];
    return it_out_alias(c, 0, 0, r, d);
}

/* ---- Transpose ---- */

static int transpose_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    int r = x->ndim;
    int64_t perm[IT_MAX_DIMS];
    int64_t np;
    int st = ints_attr(c, "perm", perm, IT_MAX_DIMS, &np);
    if (st) return st;
    if (np == 0)
        for (int i = 0; i < r; i++) perm[i] = r - 1 - i;
    else if (np != r) return it_opfail(c, INGOT_ERR_SHAPE, "perm has %lld entries for rank %d", (long long)np, r);
    int seen[IT_MAX_DIMS] = {0};
    for (int i = 0; i < r; i++) {
        if (perm[i] < 0 || perm[i] >= r || seen[perm[i]]) return it_opfail(c, INGOT_ERR_SHAPE, "perm is not a permutation");
        seen[perm[i]] = 1;
    }
    int64_t od[IT_MAX_DIMS], xs[IT_MAX_DIMS], ss[IT_MAX_DIMS], ds[IT_MAX_DIMS];
    it_strides(r, x->dims, xs);
    int order_kept = 1;
    int64_t last = -1;
    for (int i = 0; i < r; i++) {
        od[i] = x->dims[perm[i]];
        ss[i] = xs[perm[i]];
        if (od[i] != 1) {
            if (perm[i] < last) order_kept = 0;
            last = perm[i];
        }
    }
    if (order_kept && x->dtype != IT_STRING) return it_out_alias(c, 0, 0, r, od);
    size_t es;
    if ((st = elem_size(c, x->dtype, &es))) return st;
    it_tensor *y;
    if ((st = it_out_tensor_raw(c, 0, x->dtype, r, od, &y))) return st;
    it_strides(r, od, ds);
    it_shp_copy(c->tp, es, r, od, y->data, ds, x->data, ss);
    return own_strings(c, y);
}

/* ---- Concat ---- */

typedef struct concat_job {
    int n;
    char **src;
    int64_t *rowb; /* bytes per outer row of each input */
    char *dst;
    int64_t out_rowb;
} concat_job;

static void concat_rows(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    const concat_job *j = arg;
    for (int64_t o = b; o < e; o++) {
        char *d = j->dst + o * j->out_rowb;
        for (int i = 0; i < j->n; i++) {
            if (j->rowb[i]) memcpy(d, j->src[i] + o * j->rowb[i], (size_t)j->rowb[i]);
            d += j->rowb[i];
        }
    }
}

/* one outer row (batch 1 along the axis): the output is the inputs end to end; cut
 * the whole byte range in CONCAT_CHUNK pieces, each copying the parts of the inputs
 * it overlaps, so small and large inputs alike spread over the pool in one job */
#define CONCAT_CHUNK ((int64_t)1 << 16)
static void concat_flat(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    const concat_job *j = arg;
    int64_t lo = b * CONCAT_CHUNK, hi = e * CONCAT_CHUNK, off = 0;
    if (hi > j->out_rowb) hi = j->out_rowb;
    for (int i = 0; i < j->n && off < hi; i++) {
        int64_t s0 = off > lo ? off : lo, s1 = off + j->rowb[i] < hi ? off + j->rowb[i] : hi;
        if (s1 > s0) memcpy(j->dst + s0, j->src[i] + (s0 - off), (size_t)(s1 - s0));
        off += j->rowb[i];
    }
}

static int concat_run(it_opctx *c) {
    if (c->n_in < 1) return it_opfail(c, INGOT_ERR_FORMAT, "Concat needs at least one input");
    IT_REQUIRE_IN(c, 0, x0);
    int r = x0->ndim;
    const it_attr *aa = it_attr_get(c->node, "axis");
    if (!aa) return it_opfail(c, INGOT_ERR_FORMAT, "attribute 'axis' is required");
    int axis = it_axis(aa->i, r, 0);
    if (axis < 0) return it_opfail(c, INGOT_ERR_SHAPE, "axis %lld out of range for rank %d", (long long)aa->i, r);
    size_t es;
    int st;
    if ((st = elem_size(c, x0->dtype, &es))) return st;
    int64_t od[IT_MAX_DIMS];
    memcpy(od, x0->dims, sizeof(int64_t) * (size_t)r);
    od[axis] = 0;
    for (int i = 0; i < c->n_in; i++) {
        it_tensor *t = it_in(c, i);
        if (!t) return it_opfail(c, INGOT_ERR_FORMAT, "input %d is missing", i);
        if (t->dtype != x0->dtype || t->ndim != r) return it_opfail(c, INGOT_ERR_SHAPE, "input %d differs in type or rank", i);
        for (int k = 0; k < r; k++)
            if (k != axis && t->dims[k] != x0->dims[k]) return it_opfail(c, INGOT_ERR_SHAPE, "input %d differs in dimension %d", i, k);
        if (!it_add_ok(od[axis], t->dims[axis], &od[axis])) return it_opfail(c, INGOT_ERR_SHAPE, "size overflows");
    }
    if ((st = shape_check(c, r, od))) return st;
    it_tensor *y;
    if ((st = it_out_tensor_raw(c, 0, x0->dtype, r, od, &y))) return st;
    int64_t outer = 1, inner = (int64_t)es;
    for (int k = 0; k < axis; k++) outer *= od[k];
    for (int k = axis + 1; k < r; k++) inner *= od[k];
    if (outer == 0 || it_count(y) == 0) return 0;
    concat_job j;
    j.n = c->n_in;
    j.src = it_scratch(c, sizeof(char *) * (size_t)c->n_in);
    j.rowb = it_scratch(c, sizeof(int64_t) * (size_t)c->n_in);
    if (!j.src || !j.rowb) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < c->n_in; i++) {
        it_tensor *t = it_in(c, i);
        j.src[i] = t->data;
        j.rowb[i] = t->dims[axis] * inner;
    }
    j.dst = y->data;
    j.out_rowb = od[axis] * inner;
    if (outer == 1 && j.out_rowb > 4 * CONCAT_CHUNK) {
        it_parallel_for(c->tp, (j.out_rowb + CONCAT_CHUNK - 1) / CONCAT_CHUNK, 1, concat_flat, &j);
    } else if (outer == 1) {
        char *d = y->data;
        for (int i = 0; i < j.n; i++) {
            it_shp_memcpy(c->tp, d, j.src[i], (size_t)j.rowb[i]);
            d += j.rowb[i];
        }
    } else {
        int64_t grain = (1 << 16) / (j.out_rowb ? j.out_rowb : 1) + 1;
        if (outer <= grain) concat_rows(&j, 0, outer, 0);
        else it_parallel_for(c->tp, outer, grain, concat_rows, &j);
    }
    return own_strings(c, y);
}

/* ---- Split ---- */

static int split_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    int r = x->ndim;
    int axis = it_axis(it_attr_int(c->node, "axis", 0), r, 0);
    if (axis < 0) return it_opfail(c, INGOT_ERR_SHAPE, "axis out of range for rank %d", r);
    int nout = c->n_out;
    if (nout < 1) return it_opfail(c, INGOT_ERR_FORMAT, "Split has no outputs");
    size_t es;
    int st;
    if ((st = elem_size(c, x->dtype, &es))) return st;
    int64_t *sz = it_scratch(c, sizeof(int64_t) * ((size_t)nout + 1));
    if (!sz) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    int64_t dim = x->dims[axis], ns = -2;
    if (c->node->opset < 13) {
        const int64_t *v;
        int n = it_attr_ints(c->node, "split", &v);
        if (n) {
            if (n != nout) return it_opfail(c, INGOT_ERR_SHAPE, "split has %d entries for %d outputs", n, nout);
            memcpy(sz, v, sizeof(int64_t) * (size_t)n);
            ns = n;
        }
    } else if (it_in(c, 1)) {
        it_tensor *s = it_in(c, 1);
        if (it_count(s) != nout) return it_opfail(c, INGOT_ERR_SHAPE, "split has %lld entries for %d outputs", (long long)it_count(s), nout);
        ns = it_read_ints(s, sz, nout);
        if (ns < 0) return it_opfail(c, INGOT_ERR_SHAPE, "split must be integers");
    }
    if (ns >= 0) {
        int64_t sum = 0;
        for (int i = 0; i < nout; i++) {
            if (sz[i] < 0 || !it_add_ok(sum, sz[i], &sum)) return it_opfail(c, INGOT_ERR_SHAPE, "invalid split size %lld", (long long)sz[i]);
        }
        if (sum != dim) return it_opfail(c, INGOT_ERR_SHAPE, "split sizes sum to %lld, axis has %lld", (long long)sum, (long long)dim);
    } else {
        const it_attr *na = it_attr_get(c->node, "num_outputs");
        if (na && na->i != nout) return it_opfail(c, INGOT_ERR_SHAPE, "num_outputs %lld but %d outputs", (long long)na->i, nout);
        if (dim % nout == 0) {
            for (int i = 0; i < nout; i++) sz[i] = dim / nout;
        } else if (c->node->opset >= 18) {
            int64_t chunk = (dim + nout - 1) / nout, left = dim;
            for (int i = 0; i < nout; i++) {
                sz[i] = left < chunk ? left : chunk;
                left -= sz[i];
            }
            if (sz[nout - 1] == 0 && dim > 0) return it_opfail(c, INGOT_ERR_SHAPE, "cannot split %lld into %d parts", (long long)dim, nout);
        } else {
            return it_opfail(c, INGOT_ERR_SHAPE, "axis of size %lld does not split evenly into %d", (long long)dim, nout);
        }
    }
    int64_t outer = 1, inner = 1;
    for (int k = 0; k < axis; k++) outer *= x->dims[k];
    for (int k = axis + 1; k < r; k++) inner *= x->dims[k];
    int64_t off = 0;
    for (int i = 0; i < nout; i++) {
        if (!it_has_out(c, i)) {
            off += sz[i];
            continue;
        }
        int64_t od[IT_MAX_DIMS];
        memcpy(od, x->dims, sizeof(int64_t) * (size_t)r);
        od[axis] = sz[i];
        it_tensor *y;
        if ((st = it_out_tensor_raw(c, i, x->dtype, r, od, &y))) return st;
        int64_t cd[2] = {outer, sz[i] * inner}, ds[2] = {sz[i] * inner, 1}, ss[2] = {dim * inner, 1};
        it_shp_copy(c->tp, es, 2, cd, y->data, ds, (char *)x->data + off * inner * (int64_t)es, ss);
        if ((st = own_strings(c, y))) return st;
        off += sz[i];
    }
    return 0;
}

/* ---- Slice ---- */

static int slice_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    int r = x->ndim;
    int64_t starts[IT_MAX_DIMS], ends[IT_MAX_DIMS], axes[IT_MAX_DIMS], steps[IT_MAX_DIMS];
    int64_t ns, ne, na = -1, nst = -1;
    int st;
    if (c->node->opset < 10) {
        if ((st = ints_attr(c, "starts", starts, IT_MAX_DIMS, &ns)) || (st = ints_attr(c, "ends", ends, IT_MAX_DIMS, &ne)))
            return st;
        if (it_attr_get(c->node, "axes") && (st = ints_attr(c, "axes", axes, IT_MAX_DIMS, &na))) return st;
    } else {
        if ((st = ints_input(c, 1, starts, IT_MAX_DIMS, "starts", &ns)) || (st = ints_input(c, 2, ends, IT_MAX_DIMS, "ends", &ne)))
            return st;
        if (it_in(c, 3) && (st = ints_input(c, 3, axes, IT_MAX_DIMS, "axes", &na))) return st;
        if (it_in(c, 4) && (st = ints_input(c, 4, steps, IT_MAX_DIMS, "steps", &nst))) return st;
    }
    if (ns != ne || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
        return it_opfail(c, INGOT_ERR_SHAPE, "starts, ends, axes and steps differ in length");
    int64_t st0[IT_MAX_DIMS], step[IT_MAX_DIMS], od[IT_MAX_DIMS];
    int done[IT_MAX_DIMS] = {0};
    for (int k = 0; k < r; k++) st0[k] = 0, step[k] = 1, od[k] = x->dims[k];
    for (int i = 0; i < ns; i++) {
        int64_t av = na >= 0 ? axes[i] : i;
        int a = it_axis(av, r, 0);
        if (a < 0) return it_opfail(c, INGOT_ERR_SHAPE, "axis %lld out of range for rank %d", (long long)av, r);
        if (done[a]) return it_opfail(c, INGOT_ERR_SHAPE, "axis %d repeated", a);
        done[a] = 1;
        int64_t d = x->dims[a], s = starts[i], e = ends[i], p = nst >= 0 ? steps[i] : 1, len;
        if (p == 0) return it_opfail(c, INGOT_ERR_SHAPE, "step is zero");
        if (s < 0) s += d;
        if (e < 0) e += d;
        if (p > 0) {
            s = s < 0 ? 0 : s > d ? d : s;
            e = e < 0 ? 0 : e > d ? d : e;
            len = e > s ? (e - s - 1) / p + 1 : 0;
        } else {
            s = s < 0 ? 0 : s > d - 1 ? d - 1 : s;
            e = e < -1 ? -1 : e > d - 1 ? d - 1 : e;
            uint64_t ap = (uint64_t)0 - (uint64_t)p;
            len = s > e ? (int64_t)((uint64_t)(s - e - 1) / ap) + 1 : 0;
        }
        st0[a] = len > 0 ? s : 0;
        step[a] = len > 1 ? p : 1;
        od[a] = len;
    }
    size_t es;
    if ((st = elem_size(c, x->dtype, &es))) return st;
    it_tensor *y;
    if ((st = it_out_tensor_raw(c, 0, x->dtype, r, od, &y))) return st;
    if (it_count(y) == 0) return 0;
    int64_t xs[IT_MAX_DIMS], ss[IT_MAX_DIMS], ds[IT_MAX_DIMS], off = 0;
    it_strides(r, x->dims, xs);
    it_strides(r, od, ds);
    for (int k = 0; k < r; k++) {
        off += st0[k] * xs[k];
        ss[k] = xs[k] * step[k];
    }
    it_shp_copy(c->tp, es, r, od, y->data, ds, (const char *)x->data + off * (int64_t)es, ss);
    return own_strings(c, y);
}

/* ---- Expand, Tile ---- */

static int expand_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    int64_t sh[IT_MAX_DIMS], od[IT_MAX_DIMS], ss[IT_MAX_DIMS], ds[IT_MAX_DIMS];
    int64_t ns;
    int st = ints_input(c, 1, sh, IT_MAX_DIMS, "shape", &ns);
    if (st) return st;
    for (int i = 0; i < ns; i++)
        if (sh[i] < 0) return it_opfail(c, INGOT_ERR_SHAPE, "negative dimension %lld", (long long)sh[i]);
    int no;
    if (it_broadcast_shape(x->ndim, x->dims, (int)ns, sh, &no, od)) return it_opfail(c, INGOT_ERR_SHAPE, "shape does not broadcast with the input");
    if ((st = shape_check(c, no, od))) return st;
    if (it_shape_count(no, od) == it_count(x) && x->dtype != IT_STRING) return it_out_alias(c, 0, 0, no, od);
    size_t es;
    if ((st = elem_size(c, x->dtype, &es))) return st;
    it_tensor *y;
    if ((st = it_out_tensor_raw(c, 0, x->dtype, no, od, &y))) return st;
    it_broadcast_strides(x->ndim, x->dims, no, od, ss);
    it_strides(no, od, ds);
    it_shp_copy(c->tp, es, no, od, y->data, ds, x->data, ss);
    return own_strings(c, y);
}

static int tile_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    int r = x->ndim;
    int64_t rep[IT_MAX_DIMS];
    int64_t nr;
    int st = ints_input(c, 1, rep, IT_MAX_DIMS, "repeats", &nr);
    if (st) return st;
    if (nr != r) return it_opfail(c, INGOT_ERR_SHAPE, "repeats has %lld entries for rank %d", (long long)nr, r);
    int64_t od[IT_MAX_DIMS], xs[IT_MAX_DIMS];
    for (int i = 0; i < r; i++) {
        if (rep[i] < 0) return it_opfail(c, INGOT_ERR_SHAPE, "negative repeat %lld", (long long)rep[i]);
        if (!it_mul_ok(x->dims[i], rep[i], &od[i])) return it_opfail(c, INGOT_ERR_SHAPE, "size overflows");
    }
    size_t es;
    if ((st = shape_check(c, r, od)) || (st = elem_size(c, x->dtype, &es))) return st;
    it_tensor *y;
    if ((st = it_out_tensor_raw(c, 0, x->dtype, r, od, &y))) return st;
    if (it_count(y) == 0) return 0;
    /* view the output as [rep0, d0, rep1, d1, ...] (contiguous) read from strides [0, s0, 0, s1, ...] */
    int64_t cd[2 * IT_MAX_DIMS], cds[2 * IT_MAX_DIMS], css[2 * IT_MAX_DIMS];
    it_strides(r, x->dims, xs);
    for (int i = 0; i < r; i++) {
        cd[2 * i] = rep[i];
        cd[2 * i + 1] = x->dims[i];
        css[2 * i] = 0;
        css[2 * i + 1] = xs[i];
    }
    it_strides(2 * r, cd, cds);
    it_shp_copy(c->tp, es, 2 * r, cd, y->data, cds, x->data, css);
    return own_strings(c, y);
}

/* ---- Pad, CenterCropPad ---- */

enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP };

static int64_t pad_src(int mode, int64_t t, int64_t len) {
    switch (mode) {
    case PAD_EDGE: return t < 0 ? 0 : t >= len ? len - 1 : t;
    case PAD_WRAP: return ((t % len) + len) % len;
    default: {
        if (len == 1) return 0;
        int64_t p = 2 * (len - 1), m = ((t % p) + p) % p;
        return m >= len ? p - m : m;
    }
    }
}

/* memcpy with the element sizes of the innermost axis inlined */
static inline void copy_block(char *d, const char *s, int64_t n) {
    switch (n) {
    case 1: *d = *s; break;
    case 2: memcpy(d, s, 2); break;
    case 4: memcpy(d, s, 4); break;
    case 8: memcpy(d, s, 8); break;
    default: memcpy(d, s, (size_t)n);
    }
}

static int pad_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    int r = x->ndim, opset = c->node->opset;
    const char *ms = it_attr_str(c->node, "mode", "constant");
    int mode;
    if (!strcmp(ms, "constant")) mode = PAD_CONSTANT;
    else if (!strcmp(ms, "reflect")) mode = PAD_REFLECT;
    else if (!strcmp(ms, "edge")) mode = PAD_EDGE;
    else if (!strcmp(ms, "wrap")) mode = PAD_WRAP;
    else return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unknown mode '%s'", ms);
    int64_t pads[2 * IT_MAX_DIMS], axes[IT_MAX_DIMS];
    int64_t np, na = r;
    double fval = 0;
    const void *vptr = NULL;
    int st;
    if (opset < 11) {
        if ((st = ints_attr(c, opset < 2 ? "paddings" : "pads", pads, 2 * IT_MAX_DIMS, &np))) return st;
        fval = it_attr_float(c->node, "value", 0.0f);
    } else {
        if ((st = ints_input(c, 1, pads, 2 * IT_MAX_DIMS, "pads", &np))) return st;
        it_tensor *v = it_in(c, 2);
        if (v && it_count(v) > 0) {
            if (v->dtype != x->dtype) return it_opfail(c, INGOT_ERR_SHAPE, "constant_value type differs from the input");
            vptr = v->data;
        }
        if (it_in(c, 3) && (st = ints_input(c, 3, axes, IT_MAX_DIMS, "axes", &na))) return st;
    }
    if (na == r && !it_in(c, 3))
        for (int i = 0; i < r; i++) axes[i] = i;
    if (np != 2 * na) return it_opfail(c, INGOT_ERR_SHAPE, "pads has %lld entries for %lld axes", (long long)np, (long long)na);
    int64_t pb[IT_MAX_DIMS] = {0}, pe[IT_MAX_DIMS] = {0};
    for (int i = 0; i < na; i++) {
        int a = it_axis(axes[i], r, 0);
        if (a < 0) return it_opfail(c, INGOT_ERR_SHAPE, "axis %lld out of range for rank %d", (long long)axes[i], r);
        pb[a] = pads[i];
        pe[a] = pads[i + na];
    }
    /* negative pads crop: the kept input range [cs, cs+cl) lands at [ds0, ds0+cl) */
    int64_t od[IT_MAX_DIMS], cs[IT_MAX_DIMS], cl[IT_MAX_DIMS], d0[IT_MAX_DIMS];
    for (int k = 0; k < r; k++) {
        int64_t d = x->dims[k];
        if (pb[k] < -d || pe[k] < -d || pb[k] > IT_LIMIT_ELEMENTS || pe[k] > IT_LIMIT_ELEMENTS)
            return it_opfail(c, INGOT_ERR_SHAPE, "pads out of range for axis %d", k);
        od[k] = d + pb[k] + pe[k];
        cs[k] = pb[k] < 0 ? -pb[k] : 0;
        cl[k] = d - cs[k] - (pe[k] < 0 ? -pe[k] : 0);
        d0[k] = pb[k] > 0 ? pb[k] : 0;
        if (od[k] < 0 || cl[k] < 0) return it_opfail(c, INGOT_ERR_SHAPE, "pads remove more than axis %d holds", k);
        if (mode != PAD_CONSTANT && cl[k] == 0 && od[k] > 0)
            return it_opfail(c, INGOT_ERR_SHAPE, "cannot pad an empty axis %d in mode %s", k, ms);
    }
    size_t es;
    if ((st = shape_check(c, r, od)) || (st = elem_size(c, x->dtype, &es))) return st;
    it_tensor *y;
    if ((st = it_out_tensor(c, 0, x->dtype, r, od, &y))) return st;
    int64_t total = it_count(y);
    if (total == 0) return 0;
    if (mode == PAD_CONSTANT) {
        uint8_t vb[16] = {0};
        int zero = 1;
        if (vptr) memcpy(vb, vptr, es);
        else if (fval != 0 && x->dtype != IT_STRING) it_set_f64(vb, x->dtype, 0, fval);
        for (size_t i = 0; i < es; i++) zero &= vb[i] == 0;
        if (!zero) it_shp_fill(y->data, vb, es, total);
    }
    int64_t xs[IT_MAX_DIMS], ys[IT_MAX_DIMS], soff = 0, doff = 0;
    it_strides(r, x->dims, xs);
    it_strides(r, od, ys);
    for (int k = 0; k < r; k++) soff += cs[k] * xs[k], doff += d0[k] * ys[k];
    it_shp_copy(c->tp, es, r, cl, (char *)y->data + doff * (int64_t)es, ys, (const char *)x->data + soff * (int64_t)es, xs);
    if (mode != PAD_CONSTANT) {
        /* fill the borders axis by axis from the innermost: rows of axis a whose
         * outer coordinates lie in the interior copy an interior row. */
        char *yb = y->data;
        for (int a = r - 1; a >= 0; a--) {
            if (od[a] == cl[a]) continue;
            int64_t blk = ys[a] * (int64_t)es, idx[IT_MAX_DIMS] = {0}, np2 = od[a] - cl[a], k2 = 0;
            int64_t *pq = it_scratch(c, sizeof(int64_t) * 2 * (size_t)np2); /* (dst, src) offsets */
            if (!pq) {
                if (x->dtype == IT_STRING) memset(y->data, 0, y->nbytes);
                return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
            }
            for (int64_t p = 0; p < od[a]; p++) {
                if (p == d0[a]) p += cl[a];
                if (p >= od[a]) break;
                pq[2 * k2] = p * blk;
                pq[2 * k2 + 1] = (d0[a] + pad_src(mode, p - d0[a], cl[a])) * blk;
                k2++;
            }
            do {
                int64_t base = 0;
                for (int k = 0; k < a; k++) base += (d0[k] + idx[k]) * ys[k];
                char *row = yb + base * (int64_t)es;
                for (int64_t k = 0; k < k2; k++) copy_block(row + pq[2 * k], row + pq[2 * k + 1], blk);
            } while (it_next_index(a, cl, idx));
        }
    }
    return own_strings(c, y); /* a string constant_value was filled in as a borrowed pointer too */
}

static int center_crop_pad_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    int r = x->ndim;
    int64_t sh[IT_MAX_DIMS], axes[IT_MAX_DIMS];
    int64_t ns, na;
    int st;
    if ((st = ints_input(c, 1, sh, IT_MAX_DIMS, "shape", &ns)) || (st = ints_attr(c, "axes", axes, IT_MAX_DIMS, &na))) return st;
    if (na == 0) {
        na = r;
        for (int i = 0; i < r; i++) axes[i] = i;
    }
    if (ns != na) return it_opfail(c, INGOT_ERR_SHAPE, "shape has %lld entries for %lld axes", (long long)ns, (long long)na);
    int64_t od[IT_MAX_DIMS], len[IT_MAX_DIMS], so[IT_MAX_DIMS] = {0}, dof[IT_MAX_DIMS] = {0};
    memcpy(od, x->dims, sizeof(int64_t) * (size_t)r);
    int seen[IT_MAX_DIMS] = {0};
    for (int i = 0; i < na; i++) {
        int a = it_axis(axes[i], r, 0);
        if (a < 0 || seen[a]) return it_opfail(c, INGOT_ERR_SHAPE, "invalid or repeated axis %lld", (long long)axes[i]);
        seen[a] = 1;
        if (sh[i] < 0) return it_opfail(c, INGOT_ERR_SHAPE, "negative target size %lld", (long long)sh[i]);
        od[a] = sh[i];
    }
    for (int k = 0; k < r; k++) {
        int64_t d = x->dims[k], t = od[k];
        len[k] = d < t ? d : t;
        if (d > t) so[k] = (d - t) / 2;
        else dof[k] = (t - d) / 2;
    }
    size_t es;
    if ((st = shape_check(c, r, od)) || (st = elem_size(c, x->dtype, &es))) return st;
    it_tensor *y;
    if ((st = it_out_tensor(c, 0, x->dtype, r, od, &y))) return st;
    if (it_count(y) == 0) return 0;
    int64_t xs[IT_MAX_DIMS], ys[IT_MAX_DIMS], soff = 0, doff = 0;
    it_strides(r, x->dims, xs);
    it_strides(r, od, ys);
    for (int k = 0; k < r; k++) soff += so[k] * xs[k], doff += dof[k] * ys[k];
    it_shp_copy(c->tp, es, r, len, (char *)y->data + doff * (int64_t)es, ys, (const char *)x->data + soff * (int64_t)es, xs);
    return own_strings(c, y);
}

/* ---- Shape, Size ---- */

static int shape_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    int64_t r = x->ndim, s = 0, e = r;
    if (c->node->opset >= 15) {
        s = it_attr_int(c->node, "start", 0);
        e = it_attr_int(c->node, "end", r);
        if (s < 0) s += r;
        if (e < 0) e += r;
        s = s < 0 ? 0 : s > r ? r : s;
        e = e < 0 ? 0 : e > r ? r : e;
    }
    int64_t n = e > s ? e - s : 0;
    it_tensor *y;
    int st = it_out_tensor(c, 0, IT_I64, 1, &n, &y);
    if (st) return st;
    for (int64_t i = 0; i < n; i++) ((int64_t *)y->data)[i] = x->dims[s + i];
    return 0;
}

static int size_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    it_tensor *y;
    int st = it_out_tensor(c, 0, IT_I64, 0, NULL, &y);
    if (st) return st;
    ((int64_t *)y->data)[0] = it_count(x);
    return 0;
}

/* ---- Range, EyeLike, Trilu ---- */

static int range_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, ts);
    IT_REQUIRE_IN(c, 1, tl);
    IT_REQUIRE_IN(c, 2, td);
    if (it_count(ts) != 1 || it_count(tl) != 1 || it_count(td) != 1)
        return it_opfail(c, INGOT_ERR_SHAPE, "start, limit and delta must be scalars");
    int dt = ts->dtype;
    if (tl->dtype != dt || td->dtype != dt) return it_opfail(c, INGOT_ERR_SHAPE, "start, limit and delta differ in type");
    it_tensor *y;
    int st;
    if (it_dtype_is_int(dt)) {
        int64_t s = it_get_i64(ts->data, dt, 0), l = it_get_i64(tl->data, dt, 0), d = it_get_i64(td->data, dt, 0);
        if (d == 0) return it_opfail(c, INGOT_ERR_SHAPE, "delta is zero");
        __int128 diff = (__int128)l - s, n128 = 0;
        if ((diff > 0 && d > 0) || (diff < 0 && d < 0)) n128 = (diff + (d > 0 ? d - 1 : d + 1)) / d;
        if (n128 > IT_LIMIT_ELEMENTS) return it_opfail(c, INGOT_ERR_LIMIT, "range is too long");
        int64_t n = (int64_t)n128;
        if ((st = it_out_tensor(c, 0, dt, 1, &n, &y))) return st;
        for (int64_t i = 0; i < n; i++) {
            int64_t v = (int64_t)((__int128)s + (__int128)i * d);
            switch (dt) {
            case IT_I64: ((int64_t *)y->data)[i] = v; break;
            case IT_I32: ((int32_t *)y->data)[i] = (int32_t)v; break;
            case IT_I16: ((int16_t *)y->data)[i] = (int16_t)v; break;
            case IT_I8: ((int8_t *)y->data)[i] = (int8_t)v; break;
            default: it_set_f64(y->data, dt, i, (double)v);
            }
        }
        return 0;
    }
    if (!it_dtype_is_float(dt) || !it_dtype_size(dt)) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "dtype %s", it_dtype_name(dt));
    double s = it_get_f64(ts->data, dt, 0), l = it_get_f64(tl->data, dt, 0), d = it_get_f64(td->data, dt, 0);
    if (d == 0 || !isfinite(s) || !isfinite(l) || !isfinite(d)) return it_opfail(c, INGOT_ERR_SHAPE, "invalid start, limit or delta");
    double nf = ceil((l - s) / d);
    if (!(nf < (double)IT_LIMIT_ELEMENTS)) return it_opfail(c, INGOT_ERR_LIMIT, "range is too long");
    int64_t n = nf > 0 ? (int64_t)nf : 0;
    if ((st = it_out_tensor(c, 0, dt, 1, &n, &y))) return st;
    if (dt == IT_F32) {
        float fs = (float)s, fd = (float)d;
        for (int64_t i = 0; i < n; i++) ((float *)y->data)[i] = fs + (float)i * fd;
    } else {
        for (int64_t i = 0; i < n; i++) it_set_f64(y->data, dt, i, s + (double)i * d);
    }
    return 0;
}

static int eyelike_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    if (x->ndim != 2) return it_opfail(c, INGOT_ERR_SHAPE, "input must be 2-D");
    int dt = (int)it_attr_int(c->node, "dtype", x->dtype);
    if (dt <= 0 || dt >= IT_DTYPE_COUNT || dt == IT_STRING || !it_dtype_size(dt))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "dtype %d", dt);
    int64_t k = it_attr_int(c->node, "k", 0);
    it_tensor *y;
    int st = it_out_tensor(c, 0, dt, 2, x->dims, &y);
    if (st) return st;
    int64_t rows = x->dims[0], cols = x->dims[1];
    if (k <= -rows || k >= cols) return 0;
    for (int64_t i = k < 0 ? -k : 0; i < rows && i + k < cols; i++) it_set_f64(y->data, dt, i * cols + i + k, 1.0);
    return 0;
}

static int trilu_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    int r = x->ndim;
    if (r < 2) return it_opfail(c, INGOT_ERR_SHAPE, "input rank must be at least 2");
    int64_t k = 0;
    it_tensor *kt = it_in(c, 1);
    if (kt) {
        if (it_count(kt) != 1 || !it_dtype_is_int(kt->dtype)) return it_opfail(c, INGOT_ERR_SHAPE, "k must be an integer scalar");
        k = it_get_i64(kt->data, kt->dtype, 0);
    }
    int upper = (int)it_attr_int(c->node, "upper", 1);
    size_t es;
    int st;
    if ((st = elem_size(c, x->dtype, &es))) return st;
    it_tensor *y;
    if ((st = it_out_like(c, 0, x->dtype, x, &y))) return st;
    int64_t rows = x->dims[r - 2], cols = x->dims[r - 1], nmat = 1;
    for (int i = 0; i < r - 2; i++) nmat *= x->dims[i];
    int64_t lim = rows + cols + 1;
    if (k > lim) k = lim;
    if (k < -lim) k = -lim;
    for (int64_t m = 0; m < nmat; m++)
        for (int64_t i = 0; i < rows; i++) {
            int64_t a, b; /* kept columns [a, b) */
            if (upper) a = i + k, b = cols;
            else a = 0, b = i + k + 1;
            if (a < 0) a = 0;
            if (b > cols) b = cols;
            if (a >= b) continue;
            size_t off = (size_t)((m * rows + i) * cols + a) * es;
            memcpy((char *)y->data + off, (const char *)x->data + off, (size_t)(b - a) * es);
        }
    return own_strings(c, y);
}

/* ---- DepthToSpace, SpaceToDepth ---- */

static int depth_space_run(it_opctx *c, int to_space) {
    IT_REQUIRE_IN(c, 0, x);
    if (x->ndim != 4) return it_opfail(c, INGOT_ERR_SHAPE, "input must be 4-D");
    int64_t b = it_attr_int(c->node, "blocksize", 0);
    if (b <= 0 || b > 65536) return it_opfail(c, INGOT_ERR_SHAPE, "invalid blocksize %lld", (long long)b);
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3], od[4];
    int64_t cd[6], cs[6];
    if (to_space) {
        if (C % (b * b)) return it_opfail(c, INGOT_ERR_SHAPE, "channels %lld not divisible by blocksize^2", (long long)C);
        int64_t Co = C / (b * b);
        od[0] = N, od[1] = Co, od[2] = H * b, od[3] = W * b;
        int crd = !strcmp(it_attr_str(c->node, "mode", "DCR"), "CRD");
        /* output viewed as [N, Co, H, b1, W, b2] */
        cd[0] = N, cd[1] = Co, cd[2] = H, cd[3] = b, cd[4] = W, cd[5] = b;
        cs[0] = C * H * W, cs[2] = W, cs[4] = 1;
        if (crd) cs[1] = b * b * H * W, cs[3] = b * H * W, cs[5] = H * W;
        else cs[1] = H * W, cs[3] = b * Co * H * W, cs[5] = Co * H * W;
    } else {
        if (H % b || W % b) return it_opfail(c, INGOT_ERR_SHAPE, "spatial size not divisible by blocksize");
        int64_t Ho = H / b, Wo = W / b;
        if (!it_mul_ok(C, b * b, &od[1])) return it_opfail(c, INGOT_ERR_SHAPE, "size overflows");
        od[0] = N, od[2] = Ho, od[3] = Wo;
        if (!strcmp(it_attr_str(c->node, "mode", "DCR"), "CRD")) {
            /* output channel c*b*b + b1*b + b2: viewed as [N, C, b1, b2, Ho, Wo] */
            cd[0] = N, cd[1] = C, cd[2] = b, cd[3] = b, cd[4] = Ho, cd[5] = Wo;
            cs[0] = C * H * W, cs[1] = H * W, cs[2] = W, cs[3] = 1, cs[4] = b * W, cs[5] = b;
        } else {
            /* output channel (b1*b + b2)*C + c: viewed as [N, b1, b2, C, Ho, Wo] */
            cd[0] = N, cd[1] = b, cd[2] = b, cd[3] = C, cd[4] = Ho, cd[5] = Wo;
            cs[0] = C * H * W, cs[1] = W, cs[2] = 1, cs[3] = H * W, cs[4] = b * W, cs[5] = b;
        }
    }
    size_t es;
    int st;
    if ((st = elem_size(c, x->dtype, &es))) return st;
    it_tensor *y;
    if ((st = it_out_tensor_raw(c, 0, x->dtype, 4, od, &y))) return st;
    int64_t ds[6];
    it_strides(6, cd, ds);
    it_shp_copy(c->tp, es, 6, cd, y->data, ds, x->data, cs);
    return own_strings(c, y);
}
static int depth_to_space_run(it_opctx *c) { return depth_space_run(c, 1); }
static int space_to_depth_run(it_opctx *c) { return depth_space_run(c, 0); }

/* ---- Dropout ---- */

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int dropout_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    int opset = c->node->opset, training = 0, st;
    double ratio = 0.5;
    if (opset >= 12) {
        it_tensor *rt = it_in(c, 1), *tm = it_in(c, 2);
        if (rt && it_count(rt) >= 1) ratio = it_scalar(rt);
        if (tm && it_count(tm) >= 1) training = it_scalar(tm) != 0;
    } else {
        /* before opset 12 there is no way to ask for training: an inference
         * engine runs Dropout-1/6 (is_test) and 7..10 as the identity */
        ratio = it_attr_float(c->node, "ratio", 0.5f);
    }
    if (training && (!(ratio >= 0) || ratio > 1)) return it_opfail(c, INGOT_ERR_SHAPE, "ratio %g out of [0, 1]", ratio);
    int mask_dt = opset >= 10 ? IT_BOOL : x->dtype;
    it_tensor *m = NULL;
    if (!training || ratio == 0) {
        if ((st = it_out_alias(c, 0, 0, x->ndim, x->dims))) return st;
        if (it_has_out(c, 1)) {
            size_t es;
            if ((st = elem_size(c, mask_dt, &es)) || es > 16) return st ? st : it_opfail(c, INGOT_ERR_UNSUPPORTED, "mask type");
            if ((st = it_out_tensor_raw(c, 1, mask_dt, x->ndim, x->dims, &m))) return st;
            uint8_t one[16] = {0};
            it_set_f64(one, mask_dt, 0, 1.0);
            it_shp_fill(m->data, one, es, it_count(m));
        }
        return 0;
    }
    if (!it_dtype_is_float(x->dtype)) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "training dropout on %s", it_dtype_name(x->dtype));
    it_tensor *y;
    if ((st = it_out_like(c, 0, x->dtype, x, &y))) return st;
    if (it_has_out(c, 1) && (st = it_out_tensor(c, 1, mask_dt, x->ndim, x->dims, &m))) return st;
    uint64_t seed = (uint64_t)it_attr_int(c->node, "seed", 0x5eed1234);
    double scale = ratio < 1 ? 1.0 / (1.0 - ratio) : 0;
    int64_t n = it_count(x);
    for (int64_t i = 0; i < n; i++) {
        double u = (double)(splitmix64(&seed) >> 11) * (1.0 / 9007199254740992.0);
        int keep = u >= ratio;
        if (x->dtype == IT_F32) ((float *)y->data)[i] = keep ? ((const float *)x->data)[i] * (float)scale : 0.0f;
        else it_set_f64(y->data, x->dtype, i, keep ? it_get_f64(x->data, x->dtype, i) * scale : 0.0);
        if (m) it_set_f64(m->data, mask_dt, i, keep);
    }
    return 0;
}

/* ---- BitCast ---- */

static int dtype_bits(int dt) {
    switch (dt) {
    case IT_U4: case IT_I4: case IT_F4E2M1: return 4;
    case IT_U2: case IT_I2: return 2;
    default: return (int)it_dtype_size(dt) * 8;
    }
}

static int bitcast_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    const it_attr *a = it_attr_get(c->node, "to");
    if (!a) return it_opfail(c, INGOT_ERR_FORMAT, "attribute 'to' is required");
    int to = (int)a->i;
    if (to <= 0 || to >= IT_DTYPE_COUNT || to == IT_STRING || x->dtype == IT_STRING || !dtype_bits(to))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "cannot bitcast %s to dtype %d", it_dtype_name(x->dtype), to);
    if (dtype_bits(to) != dtype_bits(x->dtype))
        return it_opfail(c, INGOT_ERR_SHAPE, "bit widths of %s and %s differ", it_dtype_name(x->dtype), it_dtype_name(to));
    it_tensor *y;
    int st = it_out_tensor(c, 0, to, x->ndim, x->dims, &y);
    if (st) return st;
    size_t n = y->nbytes < x->nbytes ? y->nbytes : x->nbytes;
    it_shp_memcpy(c->tp, y->data, x->data, n);
    if (to == IT_BOOL) /* keep bools canonical */
        for (size_t i = 0; i < n; i++) ((uint8_t *)y->data)[i] = ((uint8_t *)y->data)[i] != 0;
    return 0;
}

const it_op it_ops_shape[] = {
    {"", "Constant", NULL, constant_run, NULL, 0},
    {"", "ConstantOfShape", NULL, constant_of_shape_run, NULL, 0},
    {"", "Identity", NULL, identity_run, NULL, 0},
    {"", "Reshape", NULL, reshape_run, NULL, 0},
    {"", "Flatten", NULL, flatten_run, NULL, 0},
    {"", "Squeeze", NULL, squeeze_run, NULL, 0},
    {"", "Unsqueeze", NULL, unsqueeze_run, NULL, 0},
    {"", "Transpose", NULL, transpose_run, NULL, 0},
    {"", "Concat", NULL, concat_run, NULL, 0},
    {"", "Split", NULL, split_run, NULL, 0},
    {"", "Slice", NULL, slice_run, NULL, 0},
    {"", "Expand", NULL, expand_run, NULL, 0},
    {"", "Tile", NULL, tile_run, NULL, 0},
    {"", "Pad", NULL, pad_run, NULL, 0},
    {"", "CenterCropPad", NULL, center_crop_pad_run, NULL, 0},
    {"", "Shape", NULL, shape_run, NULL, 0},
    {"", "Size", NULL, size_run, NULL, 0},
    {"", "Range", NULL, range_run, NULL, 0},
    {"", "EyeLike", NULL, eyelike_run, NULL, 0},
    {"", "Trilu", NULL, trilu_run, NULL, 0},
    {"", "DepthToSpace", NULL, depth_to_space_run, NULL, 0},
    {"", "SpaceToDepth", NULL, space_to_depth_run, NULL, 0},
    {"", "Dropout", NULL, dropout_run, NULL, 0},
    {"", "BitCast", NULL, bitcast_run, NULL, 0},
    {0},
};
