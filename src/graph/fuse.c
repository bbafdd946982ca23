/*
 * fuse.c: graph rewrites that save memory traffic in real CNNs and MLPs,
 * applied once after constant folding:
 *   - BatchNormalization after a Conv with constant float32 weights is folded
 *     into the Conv's weights and bias (inference-mode BN is an affine map per
 *     output channel), and so are a Mul and an Add by per-channel (or scalar)
 *     constants, the form exporters give BN (Caffe2's DenseNet: Conv, Mul, Add);
 *   - an activation (Relu, Clip with constant bounds, LeakyRelu, Sigmoid,
 *     HardSigmoid, HardSwish, Tanh) after Conv / Gemm / MatMul / BatchNormalization
 *     (DenseNet's pre-activation BN -> Relu) / Add / Sum (residuals) is moved into
 *     the producer's epilogue (it_node.act) when nothing else reads the
 *     producer's output.
 * Only the main graph is rewritten; the rewrite never changes results beyond
 * float rounding of the folded weights.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"

static int is_output(const it_graph *g, int v) {
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == v) return 1;
    return 0;
}

/* The single live consumer of value v, or -1. */
static int sole_consumer(const it_graph *g, int v, int *slot) {
    int found = -1, count = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const it_node *n = &g->nodes[i];
        if (n->removed) continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] == v) {
                found = i;
                if (slot) *slot = k;
                count++;
            }
        for (int k = 0; k < n->n_capture; k++)
            if (n->capture[k] == v) count += 2;
    }
    return count == 1 ? found : -1;
}

static const it_tensor *const_f32(const it_graph *g, const it_node *n, int i) {
    const it_tensor *t = it_node_const_input(g, n, i);
    return t && t->dtype == IT_F32 ? t : NULL;
}

static int new_const(it_graph *g, const char *base, const char *tag, it_tensor *t, it_err *e) {
    char name[512];
    for (int k = 0;; k++) {
        snprintf(name, sizeof name, "%s::ingot_%s%d", base, tag, k);
        if (it_graph_find(g, name) < 0) break;
    }
    int v = it_graph_value(g, name, e);
    if (v < 0) return v;
    it_valdef *d = &g->values[v];
    d->is_const = 1;
    d->cval = *t;
    d->has_type = 1;
    d->type.kind = IT_KIND_TENSOR;
    d->type.dtype = t->dtype;
    d->type.ndim = t->ndim;
    memcpy(d->type.dims, t->dims, sizeof t->dims);
    return v;
}

/* Conv -> BatchNormalization  =>  Conv with scaled weights and bias */
static int fold_bn(it_graph *g, int ci, it_err *e) {
    it_node *conv = &g->nodes[ci];
    if (conv->n_out != 1 || conv->out[0] < 0 || is_output(g, conv->out[0])) return 0;
    int slot = -1;
    int bi = sole_consumer(g, conv->out[0], &slot);
    if (bi < 0 || slot != 0) return 0;
    it_node *bn = &g->nodes[bi];
    if (strcmp(bn->op_type, "BatchNormalization") || bn->domain[0] || bn->n_in < 5) return 0;
    if (bn->n_out > 1) {
        for (int k = 1; k < bn->n_out; k++)
            if (bn->out[k] >= 0) return 0; /* training outputs in use */
    }
    if (it_attr_int(bn, "training_mode", 0)) return 0;
    const it_tensor *W = const_f32(g, conv, 1), *B = conv->n_in > 2 ? const_f32(g, conv, 2) : NULL;
    const it_tensor *sc = const_f32(g, bn, 1), *sh = const_f32(g, bn, 2), *mu = const_f32(g, bn, 3), *var = const_f32(g, bn, 4);
    if (!W || !sc || !sh || !mu || !var || W->ndim < 3) return 0;
    if (conv->n_in > 2 && conv->in[2] >= 0 && !B) return 0;
    int64_t M = W->dims[0], per = it_count(W) / (M ? M : 1);
    if (it_count(sc) != M || it_count(sh) != M || it_count(mu) != M || it_count(var) != M) return 0;
    if (B && it_count(B) != M) return 0;
    float eps = it_attr_float(bn, "epsilon", 1e-5f);
    it_tensor nw = *W, nb;
    memset(&nb, 0, sizeof nb);
    nw.owned = 0;
    nw.data = NULL;
    int st = it_tensor_alloc(&nw, e);
    if (st) return st;
    int64_t bd[1] = {M};
    if ((st = it_tensor_set_shape(&nb, IT_F32, 1, bd, e)) || (st = it_tensor_alloc(&nb, e))) {
        it_tensor_release(&nw);
        return st;
    }
    const float *w = W->data, *b = B ? B->data : NULL, *s = sc->data, *o = sh->data, *m = mu->data, *vr = var->data;
    float *w2 = nw.data, *b2 = nb.data;
    for (int64_t c = 0; c < M; c++) {
        float k = s[c] / sqrtf(vr[c] + eps);
        for (int64_t i = 0; i < per; i++) w2[c * per + i] = w[c * per + i] * k;
        b2[c] = ((b ? b[c] : 0.f) - m[c]) * k + o[c];
    }
    const char *base = conv->name && conv->name[0] ? conv->name : g->values[conv->out[0]].name;
    int wv = new_const(g, base, "w", &nw, e);
    if (wv < 0) { it_tensor_release(&nw); it_tensor_release(&nb); return wv; }
    int bv = new_const(g, base, "b", &nb, e);
    if (bv < 0) { it_tensor_release(&nb); return bv; }
    conv = &g->nodes[ci];
    bn = &g->nodes[bi];
    int *in = it_arena_alloc(&g->arena, sizeof(int) * 3);
    if (!in) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    in[0] = conv->in[0];
    in[1] = wv;
    in[2] = bv;
    for (int k = 1; k < conv->n_in; k++)
        if (conv->in[k] >= 0) g->values[conv->in[k]].uses--;
    conv->in = in;
    conv->n_in = 3;
    g->values[wv].uses = 1;
    g->values[bv].uses = 1;
    /* conv now writes BN's output; BN's other inputs lose a reader */
    for (int k = 1; k < bn->n_in; k++)
        if (bn->in[k] >= 0) g->values[bn->in[k]].uses--;
    g->values[conv->out[0]].uses = 0;
    g->values[conv->out[0]].producer = -1;
    conv->out[0] = bn->out[0];
    g->values[bn->out[0]].producer = ci;
    bn->removed = 1;
    return 1;
}

/* Values of a float32 constant that broadcasts against a [N, M, spatial...] output
 * per channel (shape [M,1,1], [1,M,1,1], [1], scalar...): vals[0..M). */
static int per_channel(const it_tensor *c, int out_rank, int64_t M, float *vals) {
    if (!c || c->dtype != IT_F32 || c->ndim > out_rank) return 0;
    int64_t n = it_count(c);
    if (n != 1 && n != M) return 0;
    for (int i = 0; i < c->ndim; i++) {
        int axis = out_rank - c->ndim + i;
        int64_t d = c->dims[i];
        if (d != 1 && !(axis == 1 && d == M)) return 0;
    }
    for (int64_t m = 0; m < M; m++) vals[m] = ((const float *)c->data)[n == 1 ? 0 : m];
    return 1;
}

/* Conv -> Mul(const) or Add(const) per channel  =>  Conv with scaled weights / shifted bias */
static int fold_affine(it_graph *g, int ci, it_err *e) {
    it_node *conv = &g->nodes[ci];
    if (conv->act.kind || conv->n_out != 1 || conv->out[0] < 0 || is_output(g, conv->out[0])) return 0;
    int slot = -1;
    int ai = sole_consumer(g, conv->out[0], &slot);
    if (ai < 0) return 0;
    it_node *op = &g->nodes[ai];
    int is_mul = !strcmp(op->op_type, "Mul"), is_add = !strcmp(op->op_type, "Add");
    if ((!is_mul && !is_add) || op->domain[0] || op->n_in != 2 || op->n_out != 1 || op->out[0] < 0) return 0;
    if (op->in[0] == op->in[1]) return 0;
    const it_tensor *W = const_f32(g, conv, 1), *B = conv->n_in > 2 ? const_f32(g, conv, 2) : NULL;
    if (!W || W->ndim < 3 || (conv->n_in > 2 && conv->in[2] >= 0 && !B)) return 0;
    const it_tensor *k = const_f32(g, op, 1 - slot);
    int64_t M = W->dims[0], per = it_count(W) / (M ? M : 1);
    if (!k || M <= 0 || (B && it_count(B) != M)) return 0;
    float *vals = malloc(sizeof(float) * (size_t)M);
    if (!vals) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    if (!per_channel(k, W->ndim, M, vals)) { free(vals); return 0; }
    it_tensor nw, nb;
    memset(&nw, 0, sizeof nw);
    memset(&nb, 0, sizeof nb);
    int64_t bd[1] = {M};
    int st = it_tensor_set_shape(&nb, IT_F32, 1, bd, e);
    if (!st) st = it_tensor_alloc(&nb, e);
    if (!st && is_mul) {
        nw = *W;
        nw.owned = 0;
        nw.data = NULL;
        st = it_tensor_alloc(&nw, e);
    }
    if (st) { free(vals); it_tensor_release(&nb); return st; }
    const float *w = W->data, *b = B ? B->data : NULL;
    float *b2 = nb.data;
    for (int64_t m = 0; m < M; m++) {
        float bv = b ? b[m] : 0.f;
        if (is_mul) {
            float *w2 = nw.data;
            for (int64_t i = 0; i < per; i++) w2[m * per + i] = w[m * per + i] * vals[m];
            b2[m] = bv * vals[m];
        } else b2[m] = bv + vals[m];
    }
    free(vals);
    const char *base = conv->name && conv->name[0] ? conv->name : g->values[conv->out[0]].name;
    int wv = conv->in[1];
    if (is_mul) {
        wv = new_const(g, base, "w", &nw, e);
        if (wv < 0) { it_tensor_release(&nw); it_tensor_release(&nb); return wv; }
    }
    int bv = new_const(g, base, "b", &nb, e);
    if (bv < 0) { it_tensor_release(&nb); return bv; }
    conv = &g->nodes[ci];
    op = &g->nodes[ai];
    int *in = it_arena_alloc(&g->arena, sizeof(int) * 3);
    if (!in) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    in[0] = conv->in[0];
    in[1] = wv;
    in[2] = bv;
    for (int q = 1; q < conv->n_in; q++)
        if (conv->in[q] >= 0) g->values[conv->in[q]].uses--;
    conv->in = in;
    conv->n_in = 3;
    g->values[wv].uses++;
    g->values[bv].uses = 1;
    g->values[op->in[1 - slot]].uses--;
    g->values[conv->out[0]].uses = 0;
    g->values[conv->out[0]].producer = -1;
    conv->out[0] = op->out[0];
    g->values[op->out[0]].producer = ci;
    op->removed = 1;
    return 1;
}

/* Rank of value v when it can be told without running: declared, or carried
 * through rank-preserving ops back to a Conv (weight rank) or a typed value. */
static int infer_rank(const it_graph *g, int v, int depth) {
    if (v < 0 || depth > 64) return -1;
    const it_valdef *d = &g->values[v];
    if (d->has_type && d->type.kind == IT_KIND_TENSOR && d->type.ndim >= 0) return d->type.ndim;
    if (d->is_const) return d->cval.ndim;
    if (d->producer < 0) return -1;
    const it_node *p = &g->nodes[d->producer];
    const char *t = p->op_type;
    if (p->domain[0]) return -1;
    if (!strcmp(t, "Conv")) {
        const it_tensor *W = it_node_const_input(g, p, 1);
        return W ? W->ndim : -1;
    }
    if (!strcmp(t, "Relu") || !strcmp(t, "BatchNormalization") || !strcmp(t, "MaxPool") || !strcmp(t, "AveragePool") ||
        !strcmp(t, "Concat") || !strcmp(t, "LeakyRelu") || !strcmp(t, "Sigmoid") || !strcmp(t, "Clip") ||
        !strcmp(t, "Dropout") || !strcmp(t, "Identity") || !strcmp(t, "LRN"))
        return p->n_in > 0 ? infer_rank(g, p->in[0], depth + 1) : -1;
    if (!strcmp(t, "Mul") || !strcmp(t, "Add") || !strcmp(t, "Sum")) {
        int r = -1;
        for (int k = 0; k < p->n_in; k++) {
            int rk = infer_rank(g, p->in[k], depth + 1);
            if (rk < 0) return -1;
            if (rk > r) r = rk;
        }
        return r;
    }
    return -1;
}

/* BatchNormalization -> Mul(const) or Add(const) per channel  =>  BN with new scale/bias */
static int fold_affine_bn(it_graph *g, int bi, it_err *e) {
    it_node *bn = &g->nodes[bi];
    if (bn->act.kind || bn->n_in < 5 || bn->out[0] < 0 || is_output(g, bn->out[0]) || it_attr_int(bn, "training_mode", 0)) return 0;
    for (int k = 1; k < bn->n_out; k++)
        if (bn->out[k] >= 0) return 0;
    int slot = -1;
    int ai = sole_consumer(g, bn->out[0], &slot);
    if (ai < 0) return 0;
    it_node *op = &g->nodes[ai];
    int is_mul = !strcmp(op->op_type, "Mul"), is_add = !strcmp(op->op_type, "Add");
    if ((!is_mul && !is_add) || op->domain[0] || op->n_in != 2 || op->n_out != 1 || op->out[0] < 0 || op->in[0] == op->in[1]) return 0;
    const it_tensor *sc = const_f32(g, bn, 1), *sh = const_f32(g, bn, 2), *k = const_f32(g, op, 1 - slot);
    if (!sc || !sh || !k) return 0;
    int64_t C = it_count(sc);
    int rank = infer_rank(g, bn->in[0], 0);
    if (C <= 0 || it_count(sh) != C || rank < 2 || k->ndim > rank) return 0;
    float *vals = malloc(sizeof(float) * (size_t)C);
    if (!vals) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    if (!per_channel(k, rank, C, vals)) { free(vals); return 0; }
    it_tensor ns = *sc, nh = *sh;
    ns.owned = nh.owned = 0;
    ns.data = nh.data = NULL;
    int st = it_tensor_alloc(&ns, e);
    if (!st) st = it_tensor_alloc(&nh, e);
    if (st) { free(vals); it_tensor_release(&ns); it_tensor_release(&nh); return st; }
    for (int64_t c = 0; c < C; c++) {
        float s0 = ((const float *)sc->data)[c], h0 = ((const float *)sh->data)[c];
        ((float *)ns.data)[c] = is_mul ? s0 * vals[c] : s0;
        ((float *)nh.data)[c] = is_mul ? h0 * vals[c] : h0 + vals[c];
    }
    free(vals);
    const char *base = bn->name && bn->name[0] ? bn->name : g->values[bn->out[0]].name;
    int sv = new_const(g, base, "scale", &ns, e);
    if (sv < 0) { it_tensor_release(&ns); it_tensor_release(&nh); return sv; }
    int hv = new_const(g, base, "shift", &nh, e);
    if (hv < 0) { it_tensor_release(&nh); return hv; }
    bn = &g->nodes[bi];
    op = &g->nodes[ai];
    int *in = it_arena_alloc(&g->arena, sizeof(int) * (size_t)bn->n_in);
    if (!in) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    memcpy(in, bn->in, sizeof(int) * (size_t)bn->n_in);
    g->values[in[1]].uses--;
    g->values[in[2]].uses--;
    in[1] = sv;
    in[2] = hv;
    g->values[sv].uses = 1;
    g->values[hv].uses = 1;
    bn->in = in;
    g->values[op->in[1 - slot]].uses--;
    g->values[bn->out[0]].uses = 0;
    g->values[bn->out[0]].producer = -1;
    bn->out[0] = op->out[0];
    g->values[op->out[0]].producer = bi;
    op->removed = 1;
    return 1;
}

static int act_of(const it_graph *g, const it_node *a, it_act *act) {
    memset(act, 0, sizeof *act);
    if (a->domain[0]) return 0;
    const char *t = a->op_type;
    if (!strcmp(t, "Relu")) act->kind = IT_ACT_RELU;
    else if (!strcmp(t, "Sigmoid")) act->kind = IT_ACT_SIGMOID;
    else if (!strcmp(t, "Tanh")) act->kind = IT_ACT_TANH;
    else if (!strcmp(t, "HardSwish")) act->kind = IT_ACT_HARDSWISH;
    else if (!strcmp(t, "LeakyRelu")) { act->kind = IT_ACT_LEAKY; act->a = it_attr_float(a, "alpha", 0.01f); }
    else if (!strcmp(t, "HardSigmoid")) {
        act->kind = IT_ACT_HARDSIGMOID;
        act->a = it_attr_float(a, "alpha", 0.2f);
        act->b = it_attr_float(a, "beta", 0.5f);
    } else if (!strcmp(t, "Clip")) {
        act->kind = IT_ACT_CLIP;
        if (a->opset < 11) {
            act->a = it_attr_float(a, "min", -INFINITY);
            act->b = it_attr_float(a, "max", INFINITY);
        } else {
            act->a = -INFINITY;
            act->b = INFINITY;
            if (a->n_in > 1 && a->in[1] >= 0) {
                const it_tensor *lo = const_f32(g, a, 1);
                if (!lo || it_count(lo) != 1) return 0;
                act->a = *(const float *)lo->data;
            }
            if (a->n_in > 2 && a->in[2] >= 0) {
                const it_tensor *hi = const_f32(g, a, 2);
                if (!hi || it_count(hi) != 1) return 0;
                act->b = *(const float *)hi->data;
            }
        }
    } else return 0;
    return 1;
}

static int fuse_act(it_graph *g, int pi) {
    it_node *p = &g->nodes[pi];
    if (p->act.kind || p->n_out != 1 || p->out[0] < 0 || is_output(g, p->out[0])) return 0;
    int slot = -1;
    int ai = sole_consumer(g, p->out[0], &slot);
    if (ai < 0 || slot != 0) return 0;
    it_node *a = &g->nodes[ai];
    it_act act;
    if (!act_of(g, a, &act) || a->n_out != 1 || a->out[0] < 0) return 0;
    /* float32 only: the weight (Conv input 1, Gemm/MatMul input 1; BatchNormalization's
     * scale, input 1) must be a float32 constant or, for MatMul/Gemm, the declared type of
     * the output must be float. BatchNormalization in training mode is left alone. */
    if (!strcmp(p->op_type, "BatchNormalization") && it_attr_int(p, "training_mode", 0)) return 0;
    const it_valdef *od = &g->values[p->out[0]];
    int sum = !strcmp(p->op_type, "Add") || !strcmp(p->op_type, "Sum");
    int f32 = (!sum && const_f32(g, p, 1) != NULL) || (od->has_type && od->type.dtype == IT_F32);
    /* Add / Sum (residuals): float32 when an input is a float32 constant or typed value,
     * or comes from a Conv / BatchNormalization with float32 weights */
    for (int k = 0; sum && !f32 && k < p->n_in; k++) {
        int v = p->in[k];
        if (v < 0) continue;
        const it_valdef *d = &g->values[v];
        if ((d->is_const && d->cval.dtype == IT_F32) || (d->has_type && d->type.dtype == IT_F32)) f32 = 1;
        const it_node *q = d->producer >= 0 ? &g->nodes[d->producer] : NULL;
        if (q && !q->domain[0] && (!strcmp(q->op_type, "Conv") || !strcmp(q->op_type, "BatchNormalization")) &&
            const_f32(g, q, 1))
            f32 = 1;
    }
    if (!f32) return 0;
    for (int k = 1; k < a->n_in; k++)
        if (a->in[k] >= 0) g->values[a->in[k]].uses--;
    g->values[p->out[0]].uses = 0;
    g->values[p->out[0]].producer = -1;
    p->out[0] = a->out[0];
    g->values[a->out[0]].producer = pi;
    p->act = act;
    a->removed = 1;
    return 1;
}

int it_graph_fuse(it_graph *g, it_err *e) {
    if (getenv("INGOT_NO_FUSION")) return 0;
    for (int i = 0; i < g->n_nodes; i++) {
        it_node *n = &g->nodes[i];
        if (n->removed || n->domain[0]) continue;
        if (!strcmp(n->op_type, "Conv")) {
            int st = fold_bn(g, i, e);
            if (st < 0) return st;
            /* a chain of per-channel Mul/Add constants folds one node at a time */
            while ((st = fold_affine(g, i, e)) == 1) {
            }
            if (st < 0) return st;
        }
        if (!strcmp(n->op_type, "BatchNormalization")) {
            int st;
            while ((st = fold_affine_bn(g, i, e)) == 1) {
            }
            if (st < 0) return st;
        }
    }
    for (int i = 0; i < g->n_nodes; i++) {
        it_node *n = &g->nodes[i];
        if (n->removed || n->domain[0]) continue;
        if (!strcmp(n->op_type, "Conv") || !strcmp(n->op_type, "Gemm") || !strcmp(n->op_type, "MatMul") ||
            !strcmp(n->op_type, "BatchNormalization") || !strcmp(n->op_type, "Add") || !strcmp(n->op_type, "Sum"))
            fuse_act(g, i);
    }
    return 0;
}
