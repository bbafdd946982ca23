/*
 * exec.c: the graph executor.
 *
 * Runs nodes in topological order on the session's thread pool. Activation
 * memory comes from a buffer pool: a value's buffer returns to the pool when
 * its last reader has run (use counts from it_graph_finalize), and the next
 * allocation of a fitting size reuses it (best fit within 2x). After the first
 * run with given shapes, the pool holds every buffer the graph needs, so
 * steady-state runs do not call malloc for activations. Ops that only change a
 * shape (Reshape, Squeeze, Identity...) alias their input's buffer instead of
 * copying it (buffers are refcounted).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"

struct it_block {
    void *p;
    size_t size;
    int refs;
    int free_;        /* in the free list */
    it_block *next;   /* all blocks */
};

typedef struct frame {
    const it_graph *g;
    it_value *vals;
    it_value **vp;    /* vp[i]: where value i lives (local slot or an outer frame's slot) */
    int *refs;
    struct frame *parent;
} frame;

/* INGOT_PROFILE=1: time per operator type, printed to stderr when the executor is freed */
#define PROF_MAX 128
typedef struct prof_ent {
    const char *op;
    double ms;
    int64_t calls;
} prof_ent;

struct it_exec {
    const it_graph *g;
    it_threadpool *tp;
    it_block *blocks;
    size_t pool_bytes;
    frame *top;
    int depth;
    int profile;
    int n_prof;
    prof_ent prof[PROF_MAX];
    double prof_total;
    int64_t prof_runs;
};

static void prof_add(it_exec *x, const char *op, double ms) {
    int i;
    for (i = 0; i < x->n_prof; i++)
        if (!strcmp(x->prof[i].op, op)) break;
    if (i == x->n_prof) {
        if (x->n_prof == PROF_MAX) return;
        x->prof[x->n_prof].op = op;
        x->prof[x->n_prof].ms = 0;
        x->prof[x->n_prof++].calls = 0;
    }
    x->prof[i].ms += ms;
    x->prof[i].calls++;
}

static int prof_cmp(const void *a, const void *b) {
    double x = ((const prof_ent *)a)->ms, y = ((const prof_ent *)b)->ms;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void prof_print(it_exec *x) {
    if (!x->profile || !x->prof_runs) return;
    qsort(x->prof, (size_t)x->n_prof, sizeof(prof_ent), prof_cmp);
    double total = 0;
    for (int i = 0; i < x->n_prof; i++) total += x->prof[i].ms;
    fprintf(stderr, "ingot profile: %lld runs, %.3f ms per run in operators\n", (long long)x->prof_runs, total / (double)x->prof_runs);
    for (int i = 0; i < x->n_prof; i++)
        fprintf(stderr, "  %-28s %9.3f ms/run %5.1f%%  %lld calls/run\n", x->prof[i].op, x->prof[i].ms / (double)x->prof_runs,
                100.0 * x->prof[i].ms / (total > 0 ? total : 1), (long long)(x->prof[i].calls / x->prof_runs));
}

/* ---- buffer pool ---- */
static it_block *block_get(it_exec *x, size_t n, int zero) {
    if (n == 0) n = 1;
    it_block *best = NULL;
    for (it_block *b = x->blocks; b; b = b->next)
        if (b->free_ && b->size >= n && b->size <= 2 * n + 4096 && (!best || b->size < best->size)) best = b;
    if (best) {
        best->free_ = 0;
        best->refs = 1;
        if (zero) memset(best->p, 0, n);
        return best;
    }
    it_block *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->p = it_calloc(n);
    if (!b->p) {
        free(b);
        return NULL;
    }
    b->size = n;
    b->refs = 1;
    b->next = x->blocks;
    x->blocks = b;
    x->pool_bytes += n;
    return b;
}

static void block_unref(it_block *b) {
    if (b && --b->refs == 0) b->free_ = 1;
}

size_t it_exec_pool_bytes(const it_exec *x) { return x->pool_bytes; }

void it_value_release(it_exec *x, it_value *v) {
    (void)x;
    if (!v) return;
    if (v->kind == IT_V_TENSOR) {
        if (v->block) {
            if (v->t.dtype == IT_STRING && v->block->refs == 1) {
                char **s = v->t.data;
                int64_t n = it_count(&v->t);
                for (int64_t i = 0; i < n; i++) free(s[i]), s[i] = NULL;
            }
            block_unref(v->block);
        } else if (v->t.owned) it_tensor_release(&v->t);
    } else if (v->kind == IT_V_SEQ) {
        for (int i = 0; i < v->n_seq; i++) it_tensor_release(&v->seq[i]);
        free(v->seq);
    }
    memset(v, 0, sizeof *v);
}

int it_value_alloc(it_exec *x, it_value *v, int dtype, int ndim, const int64_t *dims, it_err *e) {
    memset(v, 0, sizeof *v);
    int st = it_tensor_set_shape(&v->t, dtype, ndim, dims, e);
    if (st) return st;
    it_block *b = block_get(x, v->t.nbytes, 1);
    if (!b) return it_fail(e, INGOT_ERR_NOMEM, "out of memory allocating %zu bytes", v->t.nbytes);
    v->kind = IT_V_TENSOR;
    v->t.data = b->p;
    v->t.owned = 0;
    v->block = b;
    return 0;
}

int it_value_copy(it_value *dst, const it_value *src, it_err *e) {
    memset(dst, 0, sizeof *dst);
    dst->kind = src->kind;
    dst->seq_dtype = src->seq_dtype;
    if (src->kind == IT_V_TENSOR) return it_tensor_copy(&dst->t, &src->t, e);
    if (src->kind == IT_V_SEQ) {
        dst->seq = calloc((size_t)src->n_seq + 1, sizeof(it_tensor));
        if (!dst->seq) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
        dst->cap_seq = src->n_seq + 1;
        for (int i = 0; i < src->n_seq; i++) {
            int st = it_tensor_copy(&dst->seq[i], &src->seq[i], e);
            if (st) return st;
            dst->n_seq++;
        }
    }
    return 0;
}

/* share src into dst: a block reference for pooled tensors, a copy for sequences */
static int value_share(it_value *dst, const it_value *src, int is_const, it_err *e) {
    if (src->kind == IT_V_TENSOR && !src->t.owned && (src->block || is_const)) {
        *dst = *src;
        if (src->block) src->block->refs++;
        return 0;
    }
    return it_value_copy(dst, src, e);
}

/* ---- frames ---- */
static void frame_free(it_exec *x, frame *f) {
    if (!f) return;
    if (f->vals)
        for (int i = 0; i < f->g->n_values; i++)
            if (f->vp[i] == &f->vals[i] && !f->g->values[i].is_input) it_value_release(x, &f->vals[i]);
    free(f->vals);
    free(f->vp);
    free(f->refs);
    free(f);
}

static frame *frame_new(const it_graph *g, frame *parent, it_err *e) {
    frame *f = calloc(1, sizeof *f);
    if (!f) goto nomem;
    f->g = g;
    f->parent = parent;
    size_t n = (size_t)g->n_values + 1;
    f->vals = calloc(n, sizeof(it_value));
    f->vp = calloc(n, sizeof(it_value *));
    f->refs = calloc(n, sizeof(int));
    if (!f->vals || !f->vp || !f->refs) goto nomem;
    for (int i = 0; i < g->n_values; i++) {
        const it_valdef *d = &g->values[i];
        f->vp[i] = &f->vals[i];
        f->refs[i] = d->uses;
        if (d->outer) {
            it_value *found = NULL;
            for (frame *p = parent; p && !found; p = p->parent) {
                int j = it_graph_find(p->g, d->name);
                if (j >= 0) found = p->vp[j];
            }
            if (!found) {
                it_fail(e, INGOT_ERR_FORMAT, "subgraph reads '%s', which no enclosing graph defines", d->name);
                frame_free(NULL, f);
                return NULL;
            }
            f->vp[i] = found;
        } else if (d->is_const) {
            f->vals[i].kind = IT_V_TENSOR;
            f->vals[i].t = d->cval;
            f->vals[i].t.owned = 0;
        }
    }
    return f;
nomem:
    it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    frame_free(NULL, f);
    return NULL;
}

/* ---- op-facing helpers ---- */
#define MAX_SCRATCH 32
struct it_opstate {
    it_value omitted[MAX_SCRATCH]; /* outputs the graph omits */
    it_block *scratch[MAX_SCRATCH];
    int n_scratch;
};

int it_opfail(it_opctx *c, int st, const char *fmt, ...) {
    char buf[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    const it_node *n = c->node;
    return it_fail(c->err, st, "%s node '%s': %s", n ? n->op_type : "?", n && n->name ? n->name : "", buf);
}

static it_value *out_slot(it_opctx *c, int i) {
    if (i < c->n_out && c->out[i]) return c->out[i];
    if (i >= 0 && i < MAX_SCRATCH && c->st) return &c->st->omitted[i];
    return NULL;
}

int it_out_tensor(it_opctx *c, int i, int dtype, int ndim, const int64_t *dims, it_tensor **t) {
    it_value *v = out_slot(c, i);
    if (!v) return it_opfail(c, INGOT_ERR_INTERNAL, "output %d out of range", i);
    it_value_release(c->x, v);
    it_err sub = {{0}};
    int st = it_value_alloc(c->x, v, dtype, ndim, dims, &sub);
    if (st) return it_opfail(c, st, "output %d: %s", i, sub.msg);
    *t = &v->t;
    return 0;
}

int it_out_tensor_raw(it_opctx *c, int i, int dtype, int ndim, const int64_t *dims, it_tensor **t) {
    if (dtype == IT_STRING) return it_out_tensor(c, i, dtype, ndim, dims, t); /* string slots must start NULL */
    it_value *v = out_slot(c, i);
    if (!v) return it_opfail(c, INGOT_ERR_INTERNAL, "output %d out of range", i);
    it_value_release(c->x, v);
    it_err sub = {{0}};
    int st = it_tensor_set_shape(&v->t, dtype, ndim, dims, &sub);
    if (st) return it_opfail(c, st, "output %d: %s", i, sub.msg);
    it_block *b = block_get(c->x, v->t.nbytes ? v->t.nbytes : 1, 0);
    if (!b) return it_opfail(c, INGOT_ERR_NOMEM, "output %d: out of memory allocating %zu bytes", i, v->t.nbytes);
    v->kind = IT_V_TENSOR;
    v->t.data = b->p;
    v->t.owned = 0;
    v->block = b;
    *t = &v->t;
    return 0;
}

int it_out_alias(it_opctx *c, int i, int j, int ndim, const int64_t *dims) {
    it_value *in = j < c->n_in ? c->in[j] : NULL;
    if (!in || in->kind != IT_V_TENSOR) return it_opfail(c, INGOT_ERR_INTERNAL, "alias of a missing input");
    it_value *v = out_slot(c, i);
    if (!v) return it_opfail(c, INGOT_ERR_INTERNAL, "output %d out of range", i);
    it_err sub = {{0}};
    it_tensor t = in->t;
    int st = it_tensor_set_shape(&t, in->t.dtype, ndim, dims, &sub);
    if (st) return it_opfail(c, st, "%s", sub.msg);
    if (t.nbytes != in->t.nbytes)
        return it_opfail(c, INGOT_ERR_SHAPE, "cannot view %lld elements as %lld", (long long)it_count(&in->t), (long long)it_count(&t));
    if (v == in) { v->t = t; return 0; }
    it_value_release(c->x, v);
    if (in->t.dtype == IT_STRING || in->t.owned || (in->block == NULL && in->t.dtype == IT_STRING)) {
        it_value nv;
        st = it_value_copy(&nv, in, &sub);
        if (st) return it_opfail(c, st, "%s", sub.msg);
        nv.t.ndim = t.ndim;
        memcpy(nv.t.dims, t.dims, sizeof t.dims);
        *v = nv;
        return 0;
    }
    v->kind = IT_V_TENSOR;
    v->t = t;
    v->t.owned = 0;
    v->block = in->block;
    if (in->block) in->block->refs++;
    return 0;
}

int it_out_move(it_opctx *c, int i, it_value *src) {
    it_value *v = out_slot(c, i);
    if (!v) {
        it_value_release(c->x, src);
        return it_opfail(c, INGOT_ERR_INTERNAL, "output %d out of range", i);
    }
    it_value_release(c->x, v);
    *v = *src;
    memset(src, 0, sizeof *src);
    return 0;
}

static void *scratch_get(it_opctx *c, size_t bytes, int zero) {
    if (!c->st || c->st->n_scratch >= MAX_SCRATCH) return NULL;
    it_block *b = block_get(c->x, bytes ? bytes : 1, zero);
    if (!b) return NULL;
    c->st->scratch[c->st->n_scratch++] = b;
    return b->p;
}

void *it_scratch(it_opctx *c, size_t bytes) { return scratch_get(c, bytes, 1); }
void *it_scratch_raw(it_opctx *c, size_t bytes) { return scratch_get(c, bytes, 0); }

static void opstate_clear(it_exec *x, struct it_opstate *os) {
    for (int i = 0; i < os->n_scratch; i++) block_unref(os->scratch[i]);
    os->n_scratch = 0;
    for (int i = 0; i < MAX_SCRATCH; i++)
        if (os->omitted[i].kind) it_value_release(x, &os->omitted[i]);
}

/* ---- running ---- */
/* Slots past a node's last input/output read as omitted (NULL): an op that looks at
 * c->in[0] of a node written with no inputs (a fuzzed or hand-made model) sees "missing",
 * not whatever the stack held. */
#define IT_IN_PAD 8
static void pad_slots(it_value **v, int n) {
    for (int k = n; k < n + IT_IN_PAD; k++) v[k] = NULL;
}

static int run_frame(it_exec *x, frame *f, it_err *e) {
    const it_graph *g = f->g;
    it_value *inv[64], *outv[64];
    it_value **in = inv, **out = outv;
    struct it_opstate os;
    memset(&os, 0, sizeof os);
    int st = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const it_node *n = &g->nodes[i];
        if (n->removed) continue;
        if (n->n_in > 64 - IT_IN_PAD || n->n_out > 64 - IT_IN_PAD) {
            in = malloc(sizeof(it_value *) * (size_t)(n->n_in + IT_IN_PAD));
            out = malloc(sizeof(it_value *) * (size_t)(n->n_out + IT_IN_PAD));
            if (!in || !out) { st = it_fail(e, INGOT_ERR_NOMEM, "out of memory"); goto node_done; }
        }
        for (int k = 0; k < n->n_in; k++) {
            in[k] = n->in[k] >= 0 ? f->vp[n->in[k]] : NULL;
            if (in[k] && in[k]->kind == IT_V_UNSET) {
                st = it_fail(e, INGOT_ERR_INTERNAL, "%s node '%s': input '%s' has no value", n->op_type,
                             n->name ? n->name : "", g->values[n->in[k]].name);
                goto node_done;
            }
        }
        for (int k = 0; k < n->n_out; k++) out[k] = n->out[k] >= 0 ? f->vp[n->out[k]] : NULL;
        pad_slots(in, n->n_in);
        pad_slots(out, n->n_out);
        it_opctx c = {.node = n, .n_in = n->n_in, .n_out = n->n_out, .in = in, .out = out,
                      .tp = x->tp, .err = e, .x = x, .frame = f, .st = &os};
        double t0 = x->profile ? it_now_ms() : 0;
        st = n->op->run(&c);
        if (x->profile && x->depth == 0) prof_add(x, n->op_type, it_now_ms() - t0);
        if (!st)
            for (int k = 0; k < n->n_out; k++)
                if (out[k] && out[k]->kind == IT_V_UNSET)
                    st = it_opfail(&c, INGOT_ERR_INTERNAL, "output %d was not produced", k);
    node_done:
        opstate_clear(x, &os);
        if (in != inv) { free(in); in = inv; }
        if (out != outv) { free(out); out = outv; }
        if (st) return st;
        /* release values whose last reader was this node */
        for (int k = 0; k < n->n_in + n->n_capture; k++) {
            int v = k < n->n_in ? n->in[k] : n->capture[k - n->n_in];
            if (v < 0) continue;
            if (--f->refs[v] == 0 && f->vp[v] == &f->vals[v] && !g->values[v].is_const && !g->values[v].is_input)
                it_value_release(x, &f->vals[v]);
        }
        for (int k = 0; k < n->n_out; k++) {
            int v = n->out[k];
            if (v >= 0 && f->refs[v] == 0) it_value_release(x, &f->vals[v]); /* never read */
        }
    }
    return 0;
}

it_exec *it_exec_new(const it_graph *g, it_threadpool *tp) {
    it_exec *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->g = g;
    x->tp = tp;
    const char *p = getenv("INGOT_PROFILE");
    x->profile = p && *p && strcmp(p, "0");
    return x;
}

void it_exec_free(it_exec *x) {
    if (!x) return;
    prof_print(x);
    frame_free(x, x->top);
    for (it_block *b = x->blocks; b;) {
        it_block *n = b->next;
        it_free(b->p);
        free(b);
        b = n;
    }
    free(x);
}

int it_exec_run(it_exec *x, it_value *const *inputs, it_err *e) {
    const it_graph *g = x->g;
    frame_free(x, x->top);
    x->top = frame_new(g, NULL, e);
    if (!x->top) return INGOT_ERR_NOMEM;
    frame *f = x->top;
    for (int i = 0; i < g->n_inputs; i++) {
        int v = g->inputs[i];
        if (inputs && inputs[i]) {
            f->vals[v] = *inputs[i];
            f->vals[v].block = NULL;
            f->vals[v].t.owned = 0;
        } else if (!g->values[v].is_const) {
            return it_fail(e, INGOT_ERR_INVALID_ARG, "graph input '%s' was not given", g->values[v].name);
        }
    }
    x->prof_runs++;
    return run_frame(x, f, e);
}

it_value *it_exec_output(it_exec *x, int i) {
    if (!x->top || i < 0 || i >= x->g->n_outputs) return NULL;
    return x->top->vp[x->g->outputs[i]];
}

int it_exec_subgraph(it_opctx *c, const it_graph *g, int n_in, it_value *const *ins, it_value *outs) {
    it_exec *x = c->x;
    if (x->depth >= IT_LIMIT_SUBGRAPH_DEPTH)
        return it_opfail(c, INGOT_ERR_LIMIT, "subgraphs nested deeper than %d", IT_LIMIT_SUBGRAPH_DEPTH);
    frame *f = frame_new(g, c->frame, c->err);
    if (!f) return INGOT_ERR_FORMAT;
    int st = 0;
    for (int i = 0; i < g->n_inputs && i < n_in; i++) {
        int v = g->inputs[i];
        if (ins[i]) {
            f->vals[v] = *ins[i];
            f->vals[v].t.owned = 0;
            if (f->vals[v].block) f->vals[v].block->refs++; /* dropped below */
        }
    }
    /* subgraph inputs are borrowed: mark them so frame_free leaves them alone */
    x->depth++;
    st = run_frame(x, f, c->err);
    x->depth--;
    if (!st) {
        for (int k = 0; k < g->n_outputs; k++) {
            int ov = g->outputs[k];
            const it_valdef *d = &g->values[ov];
            it_value *src = f->vp[ov];
            st = value_share(&outs[k], src, d->is_const && !d->is_input, c->err);
            if (st) break;
        }
    }
    for (int i = 0; i < g->n_inputs && i < n_in; i++)
        if (ins[i] && f->vals[g->inputs[i]].block) block_unref(f->vals[g->inputs[i]].block);
    frame_free(x, f);
    return st;
}

/* ---- constant folding ---- */
int it_graph_fold(it_graph *g, it_threadpool *tp, it_err *e) {
    it_exec *x = it_exec_new(g, tp);
    if (!x) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    int st = 0;
    frame *f = frame_new(g, NULL, e);
    if (!f) { it_exec_free(x); return INGOT_ERR_NOMEM; }
    for (int i = 0; i < g->n_nodes; i++) {
        it_node *n = &g->nodes[i];
        if (n->removed || n->n_capture || (n->op->flags & IT_OP_NO_FOLD)) continue;
        int ok = n->n_out > 0;
        for (int k = 0; k < n->n_in && ok; k++)
            if (n->in[k] >= 0 && !g->values[n->in[k]].is_const) ok = 0; /* IR<4 initializer inputs are constants too: the API never feeds them */
        for (int k = 0; k < n->n_out && ok; k++)
            if (n->out[k] < 0) ok = 0;
        if (!ok) continue;
        it_value *inv[64], *outv[64];
        if (n->n_in > 64 - IT_IN_PAD || n->n_out > 64 - IT_IN_PAD) continue;
        for (int k = 0; k < n->n_in; k++) inv[k] = n->in[k] >= 0 ? f->vp[n->in[k]] : NULL;
        for (int k = 0; k < n->n_out; k++) outv[k] = f->vp[n->out[k]];
        pad_slots(inv, n->n_in);
        pad_slots(outv, n->n_out);
        struct it_opstate os;
        memset(&os, 0, sizeof os);
        it_err sub = {{0}};
        it_opctx c = {.node = n, .n_in = n->n_in, .n_out = n->n_out, .in = inv, .out = outv,
                      .tp = tp, .err = &sub, .x = x, .frame = f, .st = &os};
        int rst = n->op->run(&c);
        opstate_clear(x, &os);
        int all_tensors = 1;
        for (int k = 0; k < n->n_out; k++) all_tensors &= outv[k]->kind == IT_V_TENSOR;
        if (rst || !all_tensors) {
            for (int k = 0; k < n->n_out; k++) it_value_release(x, outv[k]);
            continue; /* leave it to run time, which reports the error */
        }
        for (int k = 0; k < n->n_out; k++) {
            it_valdef *d = &g->values[n->out[k]];
            it_block *b = outv[k]->block;
            if (b && b->refs == 1 && outv[k]->t.dtype != IT_STRING && b->p == outv[k]->t.data) {
                /* take the buffer out of the pool instead of copying it (large folded
                 * weights, e.g. ConstantOfShape generators, would otherwise exist twice) */
                d->cval = outv[k]->t;
                d->cval.owned = 1;
                x->pool_bytes -= b->size;
                b->p = NULL;
                b->size = 0; /* never handed out again */
            } else {
                st = it_tensor_copy(&d->cval, &outv[k]->t, e);
                if (st) goto done;
            }
            d->is_const = 1;
            it_value_release(x, outv[k]);
            outv[k]->kind = IT_V_TENSOR;
            outv[k]->t = d->cval;
            outv[k]->t.owned = 0;
            outv[k]->block = NULL;
        }
        n->removed = 1;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0) g->values[n->in[k]].uses--;
    }
done:
    frame_free(x, f);
    it_exec_free(x);
    return st;
}
