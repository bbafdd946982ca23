/*
 * sequence.c: sequence and optional operators (SequenceEmpty / Construct / At /
 * Insert / Erase / Length / Map, SplitToSequence, ConcatFromSequence, Optional,
 * OptionalGetElement, OptionalHasElement).
 *
 * Workload: models exported with dynamic lists (PyTorch list comprehensions,
 * torch.split into a list, detection post-processing) and optional values. A
 * sequence is an it_value of kind IT_V_SEQ holding owned heap tensors; an
 * optional holding an element is the element's own value (tensor or sequence),
 * an empty optional is IT_V_NONE. Sequences are small, so the ops copy.
 */
#include "ops.h"

/* ---- helpers ---- */

/* The sequence value of input i, or NULL. */
static it_value *in_seq(it_opctx *c, int i) {
    return (i < c->n_in && c->in[i] && c->in[i]->kind == IT_V_SEQ) ? c->in[i] : NULL;
}

static int seq_init(it_opctx *c, it_value *v, int dtype, int cap) {
    memset(v, 0, sizeof *v);
    v->kind = IT_V_SEQ;
    v->seq_dtype = dtype;
    v->seq = calloc((size_t)(cap > 0 ? cap : 1), sizeof(it_tensor));
    if (!v->seq) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    v->cap_seq = cap > 0 ? cap : 1;
    return 0;
}

/* Append an owned copy of t. */
static int seq_push_copy(it_opctx *c, it_value *v, const it_tensor *t) {
    if (v->n_seq == v->cap_seq) {
        int nc = v->cap_seq * 2 + 1;
        it_tensor *ns = realloc(v->seq, sizeof(it_tensor) * (size_t)nc);
        if (!ns) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
        v->seq = ns;
        v->cap_seq = nc;
    }
    it_err sub = {{0}};
    int st = it_tensor_copy(&v->seq[v->n_seq], t, &sub);
    if (st) return it_opfail(c, st, "%s", sub.msg);
    v->n_seq++;
    return 0;
}

/* Copy tensor src into output i (pooled storage; strings duplicated). */
static int out_copy_tensor(it_opctx *c, int i, const it_tensor *src) {
    it_tensor *y;
    int st = it_out_tensor(c, i, src->dtype, src->ndim, src->dims, &y);
    if (st) return st;
    if (src->dtype == IT_STRING) {
        int64_t n = it_count(src);
        char **d = y->data, *const *s = src->data;
        for (int64_t k = 0; k < n; k++) {
            d[k] = it_strdup(s[k] ? s[k] : "");
            if (!d[k]) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
        }
    } else if (src->nbytes) {
        memcpy(y->data, src->data, src->nbytes);
    }
    return 0;
}

/* Copy any value (tensor, sequence, empty optional) into output i. */
static int out_copy_value(it_opctx *c, int i, const it_value *src) {
    if (src->kind == IT_V_TENSOR) return out_copy_tensor(c, i, &src->t);
    it_value v;
    it_err sub = {{0}};
    int st = it_value_copy(&v, src, &sub);
    if (st) {
        it_value_release(c->x, &v);
        return it_opfail(c, st, "%s", sub.msg);
    }
    return it_out_move(c, i, &v);
}

/* Read a scalar position input (int32/int64, one element). */
static int read_position(it_opctx *c, int i, int64_t *pos) {
    it_tensor *p = it_in(c, i);
    if (!p) return it_opfail(c, INGOT_ERR_FORMAT, "position input must be a tensor");
    if (!it_dtype_is_int(p->dtype) || it_count(p) != 1)
        return it_opfail(c, INGOT_ERR_SHAPE, "position must be one integer");
    *pos = it_get_i64(p->data, p->dtype, 0);
    return 0;
}

/* The element dtype a sequence output should carry when it may be empty. */
static int attr_dtype(it_opctx *c, const char *name, int def) {
    int64_t d = it_attr_int(c->node, name, def);
    if (d <= 0 || d >= IT_DTYPE_COUNT) return -1;
    return (int)d;
}

/* ---- SequenceEmpty / SequenceConstruct / SequenceLength ---- */

static int seq_empty_run(it_opctx *c) {
    int dt = attr_dtype(c, "dtype", IT_F32);
    if (dt < 0) return it_opfail(c, INGOT_ERR_FORMAT, "bad dtype attribute");
    it_value v;
    int st = seq_init(c, &v, dt, 1);
    if (st) return st;
    return it_out_move(c, 0, &v);
}

static int seq_construct_run(it_opctx *c) {
    if (c->n_in < 1) return it_opfail(c, INGOT_ERR_FORMAT, "needs at least one input");
    it_value v;
    int st = seq_init(c, &v, 0, c->n_in);
    if (st) return st;
    for (int i = 0; i < c->n_in; i++) {
        it_tensor *t = it_in(c, i);
        if (!t) { st = it_opfail(c, INGOT_ERR_FORMAT, "input %d is not a tensor", i); break; }
        if (i == 0) v.seq_dtype = t->dtype;
        else if (t->dtype != v.seq_dtype) {
            st = it_opfail(c, INGOT_ERR_SHAPE, "input %d has dtype %s, expected %s", i, it_dtype_name(t->dtype),
                           it_dtype_name(v.seq_dtype));
            break;
        }
        if ((st = seq_push_copy(c, &v, t))) break;
    }
    if (st) {
        it_value_release(c->x, &v);
        return st;
    }
    return it_out_move(c, 0, &v);
}

static int seq_length_run(it_opctx *c) {
    it_value *s = in_seq(c, 0);
    if (!s) return it_opfail(c, INGOT_ERR_FORMAT, "input is not a sequence");
    it_tensor *y;
    int st = it_out_tensor(c, 0, IT_I64, 0, NULL, &y);
    if (st) return st;
    *(int64_t *)y->data = s->n_seq;
    return 0;
}

/* ---- SequenceAt / SequenceInsert / SequenceErase ---- */

static int seq_at_run(it_opctx *c) {
    it_value *s = in_seq(c, 0);
    if (!s) return it_opfail(c, INGOT_ERR_FORMAT, "input is not a sequence");
    int64_t pos;
    int st = read_position(c, 1, &pos);
    if (st) return st;
    if (pos < -(int64_t)s->n_seq || pos >= s->n_seq)
        return it_opfail(c, INGOT_ERR_SHAPE, "position %lld out of range for a sequence of %d", (long long)pos, s->n_seq);
    if (pos < 0) pos += s->n_seq;
    return out_copy_tensor(c, 0, &s->seq[pos]);
}

static int seq_insert_run(it_opctx *c) {
    it_value *s = in_seq(c, 0);
    if (!s) return it_opfail(c, INGOT_ERR_FORMAT, "input is not a sequence");
    it_tensor *t = it_in(c, 1);
    if (!t) return it_opfail(c, INGOT_ERR_FORMAT, "tensor input is missing");
    int64_t n = s->n_seq, pos = n;
    int st;
    if (it_has_in(c, 2)) {
        if ((st = read_position(c, 2, &pos))) return st;
        if (pos < -n || pos > n)
            return it_opfail(c, INGOT_ERR_SHAPE, "position %lld out of range for a sequence of %lld", (long long)pos, (long long)n);
        if (pos < 0) pos += n;
    }
    int dt = s->seq_dtype;
    if (n > 0 || dt > 0) {
        if (n > 0) dt = s->seq[0].dtype;
        if (t->dtype != dt)
            return it_opfail(c, INGOT_ERR_SHAPE, "inserting a %s tensor into a sequence of %s", it_dtype_name(t->dtype),
                             it_dtype_name(dt));
    }
    it_value v;
    if ((st = seq_init(c, &v, t->dtype, (int)n + 1))) return st;
    for (int64_t i = 0; i <= n && !st; i++) {
        if (i == pos) st = seq_push_copy(c, &v, t);
        if (!st && i < n) st = seq_push_copy(c, &v, &s->seq[i]);
    }
    if (st) {
        it_value_release(c->x, &v);
        return st;
    }
    return it_out_move(c, 0, &v);
}

static int seq_erase_run(it_opctx *c) {
    it_value *s = in_seq(c, 0);
    if (!s) return it_opfail(c, INGOT_ERR_FORMAT, "input is not a sequence");
    int64_t n = s->n_seq, pos = n - 1;
    int st;
    if (it_has_in(c, 1)) {
        if ((st = read_position(c, 1, &pos))) return st;
        if (pos < 0) pos += n;
    }
    if (pos < 0 || pos >= n)
        return it_opfail(c, INGOT_ERR_SHAPE, "position out of range for a sequence of %lld", (long long)n);
    it_value v;
    if ((st = seq_init(c, &v, s->seq_dtype, (int)n))) return st;
    for (int64_t i = 0; i < n && !st; i++)
        if (i != pos) st = seq_push_copy(c, &v, &s->seq[i]);
    if (st) {
        it_value_release(c->x, &v);
        return st;
    }
    return it_out_move(c, 0, &v);
}

/* ---- SplitToSequence / ConcatFromSequence ---- */

/* Copy `rows` blocks of `n` elements from src (stride sstride elements) to dst
 * (stride dstride); strings are duplicated. */
static int copy_rows(it_opctx *c, int dtype, void *dst, int64_t dstride, const void *src, int64_t sstride, int64_t rows,
                     int64_t n) {
    if (dtype == IT_STRING) {
        char **d = dst;
        char *const *s = src;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t k = 0; k < n; k++) {
                const char *x = s[r * sstride + k];
                d[r * dstride + k] = it_strdup(x ? x : "");
                if (!d[r * dstride + k]) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
            }
        return 0;
    }
    size_t es = it_dtype_size(dtype);
    for (int64_t r = 0; r < rows; r++)
        memcpy((char *)dst + (size_t)(r * dstride) * es, (const char *)src + (size_t)(r * sstride) * es, (size_t)n * es);
    return 0;
}

static int split_to_seq_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    if (x->ndim < 1) return it_opfail(c, INGOT_ERR_SHAPE, "input must have rank >= 1");
    if (x->dtype != IT_STRING && it_dtype_size(x->dtype) == 0)
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "dtype %s not supported", it_dtype_name(x->dtype));
    int axis = it_axis(it_attr_int(c->node, "axis", 0), x->ndim, 0);
    if (axis < 0) return it_opfail(c, INGOT_ERR_SHAPE, "axis out of range");
    int keepdims = it_attr_int(c->node, "keepdims", 1) != 0;
    int64_t dim = x->dims[axis];
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= x->dims[i];
    for (int i = axis + 1; i < x->ndim; i++) inner *= x->dims[i];
    int64_t *lens = NULL, n_parts = 0;
    it_tensor *sp = it_in(c, 1);
    int squeeze = 0;
    if (!sp) {
        n_parts = dim;
        squeeze = !keepdims;
    } else {
        if (!it_dtype_is_int(sp->dtype)) return it_opfail(c, INGOT_ERR_FORMAT, "split must be integers");
        if (sp->ndim == 0) {
            int64_t s = it_get_i64(sp->data, sp->dtype, 0);
            if (s <= 0) return it_opfail(c, INGOT_ERR_SHAPE, "split size %lld must be positive", (long long)s);
            n_parts = dim / s + (dim % s != 0);
        } else if (sp->ndim == 1) {
            n_parts = sp->dims[0];
        } else {
            return it_opfail(c, INGOT_ERR_SHAPE, "split must be a scalar or 1-D");
        }
    }
    if (n_parts > (1 << 24)) return it_opfail(c, INGOT_ERR_LIMIT, "too many parts (%lld)", (long long)n_parts);
    lens = it_scratch(c, sizeof(int64_t) * (size_t)(n_parts + 1));
    if (!lens) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    if (!sp) {
        for (int64_t i = 0; i < n_parts; i++) lens[i] = 1;
    } else if (sp->ndim == 0) {
        int64_t s = it_get_i64(sp->data, sp->dtype, 0);
        for (int64_t i = 0; i < n_parts; i++) lens[i] = dim - i * s < s ? dim - i * s : s;
    } else {
        int64_t sum = 0;
        for (int64_t i = 0; i < n_parts; i++) {
            lens[i] = it_get_i64(sp->data, sp->dtype, i);
            if (lens[i] < 0 || !it_add_ok(sum, lens[i], &sum))
                return it_opfail(c, INGOT_ERR_SHAPE, "bad split length %lld", (long long)lens[i]);
        }
        if (sum != dim)
            return it_opfail(c, INGOT_ERR_SHAPE, "split lengths sum to %lld, axis has %lld", (long long)sum, (long long)dim);
    }
    it_value v;
    int st = seq_init(c, &v, x->dtype, (int)n_parts);
    if (st) return st;
    int64_t off = 0;
    for (int64_t p = 0; p < n_parts && !st; p++) {
        it_tensor *t = &v.seq[p];
        int64_t dims[IT_MAX_DIMS];
        int nd = 0;
        for (int i = 0; i < x->ndim; i++) {
            if (i == axis) {
                if (!squeeze) dims[nd++] = lens[p];
            } else dims[nd++] = x->dims[i];
        }
        it_err sub = {{0}};
        st = it_tensor_set_shape(t, x->dtype, nd, dims, &sub);
        if (!st) st = it_tensor_alloc(t, &sub);
        if (st) { st = it_opfail(c, st, "%s", sub.msg); break; }
        v.n_seq++;
        int64_t n = lens[p] * inner;
        const char *src = (const char *)x->data + (size_t)(off * inner) * (x->dtype == IT_STRING ? sizeof(char *) : it_dtype_size(x->dtype));
        st = copy_rows(c, x->dtype, t->data, n, src, dim * inner, outer, n);
        off += lens[p];
    }
    if (st) {
        it_value_release(c->x, &v);
        return st;
    }
    return it_out_move(c, 0, &v);
}

static int concat_from_seq_run(it_opctx *c) {
    it_value *s = in_seq(c, 0);
    if (!s) return it_opfail(c, INGOT_ERR_FORMAT, "input is not a sequence");
    if (s->n_seq < 1) return it_opfail(c, INGOT_ERR_SHAPE, "cannot concatenate an empty sequence");
    const it_attr *ax = it_attr_get(c->node, "axis");
    if (!ax) return it_opfail(c, INGOT_ERR_FORMAT, "attribute axis is required");
    int new_axis = it_attr_int(c->node, "new_axis", 0) != 0;
    const it_tensor *t0 = &s->seq[0];
    int r = t0->ndim;
    if (new_axis && r + 1 > IT_MAX_DIMS) return it_opfail(c, INGOT_ERR_LIMIT, "rank too large");
    int axis = it_axis(ax->i, r, new_axis);
    if (axis < 0) return it_opfail(c, INGOT_ERR_SHAPE, "axis %lld out of range for rank %d", (long long)ax->i, r);
    if (t0->dtype != IT_STRING && it_dtype_size(t0->dtype) == 0)
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "dtype %s not supported", it_dtype_name(t0->dtype));
    int64_t dims[IT_MAX_DIMS];
    int nd = new_axis ? r + 1 : r;
    int64_t total = 0;
    for (int k = 0; k < s->n_seq; k++) {
        const it_tensor *t = &s->seq[k];
        if (t->dtype != t0->dtype || t->ndim != r)
            return it_opfail(c, INGOT_ERR_SHAPE, "sequence element %d differs in dtype or rank", k);
        for (int i = 0; i < r; i++)
            if ((new_axis || i != axis) && t->dims[i] != t0->dims[i])
                return it_opfail(c, INGOT_ERR_SHAPE, "sequence element %d differs in shape", k);
        if (!it_add_ok(total, new_axis ? 1 : t->dims[axis], &total))
            return it_opfail(c, INGOT_ERR_LIMIT, "size overflow");
    }
    for (int i = 0; i < nd; i++) {
        if (i == axis) dims[i] = total;
        else dims[i] = t0->dims[new_axis && i > axis ? i - 1 : i];
    }
    it_tensor *y;
    int st = it_out_tensor(c, 0, t0->dtype, nd, dims, &y);
    if (st) return st;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= dims[i];
    for (int i = axis + 1; i < nd; i++) inner *= dims[i];
    size_t es = t0->dtype == IT_STRING ? sizeof(char *) : it_dtype_size(t0->dtype);
    int64_t off = 0;
    for (int k = 0; k < s->n_seq; k++) {
        const it_tensor *t = &s->seq[k];
        int64_t len = new_axis ? 1 : t->dims[axis];
        int64_t n = len * inner;
        if ((st = copy_rows(c, t0->dtype, (char *)y->data + (size_t)(off * inner) * es, total * inner, t->data, n, outer, n)))
            return st;
        off += len;
    }
    return 0;
}

/* ---- SequenceMap ---- */

static int seq_map_run(it_opctx *c) {
    const it_attr *ba = it_attr_get(c->node, "body");
    if (!ba || ba->type != IT_ATTR_GRAPH || !ba->g) return it_opfail(c, INGOT_ERR_FORMAT, "attribute body is required");
    const it_graph *g = ba->g;
    it_value *s = in_seq(c, 0);
    if (!s) return it_opfail(c, INGOT_ERR_FORMAT, "input 0 is not a sequence");
    int n_in = c->n_in, n_out = c->n_out;
    if (g->n_inputs != n_in) return it_opfail(c, INGOT_ERR_FORMAT, "body has %d inputs, node has %d", g->n_inputs, n_in);
    if (g->n_outputs < n_out) return it_opfail(c, INGOT_ERR_FORMAT, "body has %d outputs, node has %d", g->n_outputs, n_out);
    int64_t n = s->n_seq;
    for (int j = 1; j < n_in; j++) {
        if (!c->in[j]) return it_opfail(c, INGOT_ERR_FORMAT, "input %d is missing", j);
        if (c->in[j]->kind == IT_V_SEQ && c->in[j]->n_seq != n)
            return it_opfail(c, INGOT_ERR_SHAPE, "sequence input %d has %d elements, expected %lld", j, c->in[j]->n_seq, (long long)n);
        if (c->in[j]->kind != IT_V_SEQ && c->in[j]->kind != IT_V_TENSOR)
            return it_opfail(c, INGOT_ERR_FORMAT, "input %d must be a tensor or a sequence", j);
    }
    it_value *res = it_scratch(c, sizeof(it_value) * (size_t)(n_out + g->n_outputs + 1));
    it_value *elems = it_scratch(c, sizeof(it_value) * (size_t)(n_in + 1));
    it_value **ins = it_scratch(c, sizeof(it_value *) * (size_t)(n_in + 1));
    it_value *outs = it_scratch(c, sizeof(it_value) * (size_t)(g->n_outputs + 1));
    if (!res || !elems || !ins || !outs) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    memset(res, 0, sizeof(it_value) * (size_t)n_out);
    memset(outs, 0, sizeof(it_value) * (size_t)g->n_outputs);
    int st = 0;
    for (int k = 0; k < n_out && !st; k++) {
        const it_valdef *d = &g->values[g->outputs[k]];
        st = seq_init(c, &res[k], d->has_type && d->type.dtype > 0 ? d->type.dtype : IT_F32, (int)n);
    }
    for (int64_t i = 0; i < n && !st; i++) {
        for (int j = 0; j < n_in; j++) {
            const it_value *src = c->in[j];
            if (src->kind == IT_V_SEQ) {
                memset(&elems[j], 0, sizeof elems[j]);
                elems[j].kind = IT_V_TENSOR;
                elems[j].t = src->seq[i];
                elems[j].t.owned = 0;
                ins[j] = &elems[j];
            } else {
                ins[j] = c->in[j];
            }
        }
        st = it_exec_subgraph(c, g, n_in, ins, outs);
        for (int k = 0; k < g->n_outputs; k++) {
            if (!st && k < n_out) {
                if (outs[k].kind != IT_V_TENSOR) st = it_opfail(c, INGOT_ERR_FORMAT, "body output %d is not a tensor", k);
                else {
                    if (res[k].n_seq == 0) res[k].seq_dtype = outs[k].t.dtype;
                    st = seq_push_copy(c, &res[k], &outs[k].t);
                }
            }
            it_value_release(c->x, &outs[k]);
        }
    }
    for (int k = 0; k < n_out; k++) {
        if (!st) st = it_out_move(c, k, &res[k]);
        else it_value_release(c->x, &res[k]);
    }
    return st;
}

/* ---- Optional / OptionalGetElement / OptionalHasElement ---- */

static int optional_run(it_opctx *c) {
    if (it_has_in(c, 0)) return out_copy_value(c, 0, c->in[0]);
    it_value v;
    memset(&v, 0, sizeof v);
    v.kind = IT_V_NONE;
    return it_out_move(c, 0, &v);
}

static int optional_get_run(it_opctx *c) {
    if (!it_has_in(c, 0) || c->in[0]->kind == IT_V_NONE)
        return it_opfail(c, INGOT_ERR_SHAPE, "the optional input is empty");
    if (c->in[0]->kind == IT_V_TENSOR) return it_out_alias(c, 0, 0, c->in[0]->t.ndim, c->in[0]->t.dims);
    return out_copy_value(c, 0, c->in[0]);
}

static int optional_has_run(it_opctx *c) {
    int has = it_has_in(c, 0) && c->in[0]->kind != IT_V_NONE;
    it_tensor *y;
    int st = it_out_tensor(c, 0, IT_BOOL, 0, NULL, &y);
    if (st) return st;
    *(uint8_t *)y->data = (uint8_t)has;
    return 0;
}

const it_op it_ops_sequence[] = {
    {"", "SequenceEmpty", NULL, seq_empty_run, NULL, 0, NULL},
    {"", "SequenceConstruct", NULL, seq_construct_run, NULL, 0, NULL},
    {"", "SequenceLength", NULL, seq_length_run, NULL, 0, NULL},
    {"", "SequenceAt", NULL, seq_at_run, NULL, 0, NULL},
    {"", "SequenceInsert", NULL, seq_insert_run, NULL, 0, NULL},
    {"", "SequenceErase", NULL, seq_erase_run, NULL, 0, NULL},
    {"", "SplitToSequence", NULL, split_to_seq_run, NULL, 0, NULL},
    {"", "ConcatFromSequence", NULL, concat_from_seq_run, NULL, 0, NULL},
    {"", "SequenceMap", NULL, seq_map_run, NULL, 0, NULL},
    {"", "Optional", NULL, optional_run, NULL, 0, NULL},
    {"", "OptionalGetElement", NULL, optional_get_run, NULL, 0, NULL},
    {"", "OptionalHasElement", NULL, optional_has_run, NULL, 0, NULL},
    {0},
};
