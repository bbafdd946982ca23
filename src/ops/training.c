/*
 * training.c: ai.onnx.preview.training optimizer steps: Adagrad, Adam and
 * Momentum (standard and Nesterov). Each takes the learning rate R, the step
 * count T and then, for n optimized tensors, n X's, n gradients and n of each
 * optimizer state; it returns the n new X's followed by the new states.
 * Gradient differentiates a chain of elementwise nodes of the enclosing graph.
 *
 * Workload: on-device training graphs with small parameter sets; elementwise math
 * in double, written back in the tensors' own float type.
 */
#include "ops.h"

enum { OPT_ADAGRAD, OPT_ADAM, OPT_MOMENTUM };

static int opt_common(it_opctx *c, int kind) {
    const it_node *nd = c->node;
    int groups = kind == OPT_ADAM ? 4 : 3; /* X, G, states */
    IT_REQUIRE_IN(c, 0, Rt);
    IT_REQUIRE_IN(c, 1, Tt);
    if ((c->n_in - 2) % groups || c->n_in <= 2) return it_opfail(c, INGOT_ERR_FORMAT, "input count %d does not fit the optimizer", c->n_in);
    int n = (c->n_in - 2) / groups;
    if (c->n_out > (groups - 1) * n) return it_opfail(c, INGOT_ERR_FORMAT, "too many outputs");
    if (it_count(Rt) < 1 || it_count(Tt) < 1 || !it_dtype_is_int(Tt->dtype)) return it_opfail(c, INGOT_ERR_SHAPE, "R and T must be scalars (T integer)");
    double r = it_scalar(Rt);
    int64_t t = it_get_i64(Tt->data, Tt->dtype, 0);
    double norm = it_attr_float(nd, "norm_coefficient", 0.0f);
    double eps = 0, decay = 0, alpha = 0, beta = 0, post = 0;
    int nesterov = 0;
    if (kind == OPT_ADAGRAD) {
        eps = it_attr_float(nd, "epsilon", 1e-6f);
        decay = it_attr_float(nd, "decay_factor", 0.0f);
    } else if (kind == OPT_ADAM) {
        alpha = it_attr_float(nd, "alpha", 0.9f);
        beta = it_attr_float(nd, "beta", 0.999f);
        eps = it_attr_float(nd, "epsilon", 1e-6f);
        post = it_attr_float(nd, "norm_coefficient_post", 0.0f);
    } else {
        alpha = it_attr_float(nd, "alpha", 0.0f);
        beta = it_attr_float(nd, "beta", 0.0f);
        const char *mode = it_attr_str(nd, "mode", "standard");
        if (!strcmp(mode, "nesterov")) nesterov = 1;
        else if (strcmp(mode, "standard")) return it_opfail(c, INGOT_ERR_FORMAT, "unknown mode '%s'", mode);
    }
    for (int i = 0; i < n; i++) {
        it_tensor *in[4] = {NULL, NULL, NULL, NULL}, *out[3] = {NULL, NULL, NULL};
        for (int g = 0; g < groups; g++) {
            in[g] = it_in(c, 2 + g * n + i);
            if (!in[g]) return it_opfail(c, INGOT_ERR_FORMAT, "input %d missing", 2 + g * n + i);
            if (!it_dtype_is_float(in[g]->dtype)) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "type %s", it_dtype_name(in[g]->dtype));
            if (!it_shape_equal(in[g], in[0])) return it_opfail(c, INGOT_ERR_SHAPE, "tensor %d of group %d differs in shape from X", i, g);
        }
        for (int g = 0; g < groups - 1; g++) {
            int oi = g * n + i, st;
            if ((st = it_out_like(c, oi, in[g == 0 ? 0 : g + 1]->dtype, in[0], &out[g]))) return st;
        }
        int64_t cnt = it_count(in[0]);
        for (int64_t k = 0; k < cnt; k++) {
            double x = it_get_f64(in[0]->data, in[0]->dtype, k), gr = it_get_f64(in[1]->data, in[1]->dtype, k);
            double gg = norm * x + gr;
            if (kind == OPT_ADAGRAD) {
                double h = it_get_f64(in[2]->data, in[2]->dtype, k);
                double rr = r / (1 + (double)t * decay);
                double hn = h + gg * gg;
                it_set_f64(out[0]->data, out[0]->dtype, k, x - rr * gg / (sqrt(hn) + eps));
                it_set_f64(out[1]->data, out[1]->dtype, k, hn);
            } else if (kind == OPT_ADAM) {
                double v = it_get_f64(in[2]->data, in[2]->dtype, k), h = it_get_f64(in[3]->data, in[3]->dtype, k);
                double vn = alpha * v + (1 - alpha) * gg;
                double hn = beta * h + (1 - beta) * gg * gg;
                double rr = t > 0 ? r * sqrt(1 - pow(beta, (double)t)) / (1 - pow(alpha, (double)t)) : r;
                double xn = x - rr * (vn / (sqrt(hn) + eps));
                it_set_f64(out[0]->data, out[0]->dtype, k, (1 - post) * xn);
                it_set_f64(out[1]->data, out[1]->dtype, k, vn);
                it_set_f64(out[2]->data, out[2]->dtype, k, hn);
            } else {
                double v = it_get_f64(in[2]->data, in[2]->dtype, k);
                double b = t > 0 ? beta : 1.0;
                double vn = alpha * v + b * gg;
                double xn = nesterov ? x - r * (gg + alpha * vn) : x - r * vn;
                it_set_f64(out[0]->data, out[0]->dtype, k, xn);
                it_set_f64(out[1]->data, out[1]->dtype, k, vn);
            }
        }
    }
    return 0;
}

static int adagrad_run(it_opctx *c) { return opt_common(c, OPT_ADAGRAD); }
static int adam_run(it_opctx *c) { return opt_common(c, OPT_ADAM); }
static int momentum_run(it_opctx *c) { return opt_common(c, OPT_MOMENTUM); }


/* ---- Gradient (ai.onnx.preview.training): reverse-mode differentiation of the
 * chain of elementwise nodes that computes `y` from the inputs `xs`. The chain
 * is found at load (prepare) in the enclosing graph; at run the op evaluates it
 * forward from its own inputs (the xs) and constants, then backward. Supported
 * nodes: Add, Sub, Mul, Div, Neg, Identity on float32 tensors of one shape or
 * scalars. Anything else fails at load with the node named. */
enum { G_ADD, G_SUB, G_MUL, G_DIV, G_NEG, G_ID };
typedef struct grad_step {
    int op, a, b, out; /* value indices; b = -1 for unary */
} grad_step;
typedef struct grad_state {
    int n_steps, n_xs, y, n_values;
    grad_step *steps;
    int *xs;
    const it_tensor **consts; /* per value index: constant data or NULL */
} grad_state;

static void grad_free(void *p) {
    grad_state *g = p;
    if (!g) return;
    free(g->steps);
    free(g->xs);
    free(g->consts);
    free(g);
}

static int grad_prepare(it_node *n, const it_graph *g, it_err *e) {
    const it_attr *xs = it_attr_get(n, "xs");
    const char *yname = it_attr_str(n, "y", NULL);
    if (!xs || xs->type != IT_ATTR_STRINGS || !yname) return it_fail(e, INGOT_ERR_FORMAT, "Gradient needs attributes xs (strings) and y (string)");
    if (xs->n != n->n_in) return it_fail(e, INGOT_ERR_FORMAT, "Gradient has %d inputs but %d names in xs", n->n_in, xs->n);
    grad_state *st = calloc(1, sizeof *st);
    if (!st) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    st->n_values = g->n_values;
    st->xs = calloc((size_t)xs->n + 1, sizeof(int));
    st->steps = calloc((size_t)g->n_nodes + 1, sizeof(grad_step));
    st->consts = calloc((size_t)g->n_values + 1, sizeof(it_tensor *));
    char *need = calloc((size_t)g->n_values + 1, 1), *isx = calloc((size_t)g->n_values + 1, 1);
    int rc = 0;
    if (!st->xs || !st->steps || !st->consts || !need || !isx) { rc = it_fail(e, INGOT_ERR_NOMEM, "out of memory"); goto done; }
    st->n_xs = xs->n;
    for (int i = 0; i < xs->n; i++) {
        st->xs[i] = it_graph_find(g, xs->strings[i]);
        if (st->xs[i] < 0) { rc = it_fail(e, INGOT_ERR_FORMAT, "Gradient: xs names unknown value '%s'", xs->strings[i]); goto done; }
        isx[st->xs[i]] = 1;
    }
    st->y = it_graph_find(g, yname);
    if (st->y < 0) { rc = it_fail(e, INGOT_ERR_FORMAT, "Gradient: y names unknown value '%s'", yname); goto done; }
    need[st->y] = 1;
    /* walk nodes backwards (graph is topologically sorted) collecting the chain */
    int ns = 0;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        const it_node *m = &g->nodes[i];
        if (m->n_out < 1 || m->out[0] < 0 || !need[m->out[0]] || isx[m->out[0]]) continue;
        int op;
        if (m->domain[0]) op = -1;
        else if (!strcmp(m->op_type, "Add")) op = G_ADD;
        else if (!strcmp(m->op_type, "Sub")) op = G_SUB;
        else if (!strcmp(m->op_type, "Mul")) op = G_MUL;
        else if (!strcmp(m->op_type, "Div")) op = G_DIV;
        else if (!strcmp(m->op_type, "Neg")) op = G_NEG;
        else if (!strcmp(m->op_type, "Identity")) op = G_ID;
        else op = -1;
        if (op < 0) { rc = it_fail(e, INGOT_ERR_UNSUPPORTED, "Gradient cannot differentiate %s node '%s' (supported: Add Sub Mul Div Neg Identity)", m->op_type, m->name); goto done; }
        int binary = op <= G_DIV;
        if (m->n_in < (binary ? 2 : 1)) { rc = it_fail(e, INGOT_ERR_FORMAT, "Gradient: %s node '%s' lacks inputs", m->op_type, m->name); goto done; }
        grad_step *s = &st->steps[ns++];
        s->op = op;
        s->a = m->in[0];
        s->b = binary ? m->in[1] : -1;
        s->out = m->out[0];
        for (int k = 0; k < (binary ? 2 : 1); k++) {
            int v = m->in[k];
            if (v < 0) { rc = it_fail(e, INGOT_ERR_FORMAT, "Gradient: node '%s' has an omitted input", m->name); goto done; }
            if (isx[v]) continue;
            if (g->values[v].is_const) { st->consts[v] = &g->values[v].cval; continue; }
            need[v] = 1;
        }
    }
    /* every needed leaf must be an x, a constant or produced inside the chain */
    for (int v = 0; v < g->n_values; v++)
        if (need[v] && !isx[v] && !st->consts[v] && g->values[v].producer < 0) {
            rc = it_fail(e, INGOT_ERR_UNSUPPORTED, "Gradient: '%s' depends on '%s', which is neither in xs nor a constant", yname, g->values[v].name);
            goto done;
        }
    /* reverse into forward order */
    for (int i = 0; i < ns / 2; i++) { grad_step t = st->steps[i]; st->steps[i] = st->steps[ns - 1 - i]; st->steps[ns - 1 - i] = t; }
    st->n_steps = ns;
done:
    free(need);
    free(isx);
    if (rc) { grad_free(st); return rc; }
    grad_free(n->state);
    n->state = st;
    return 0;
}

typedef struct gval { float *v, *g; int64_t n; const it_tensor *shape; } gval;

static float gat(const gval *x, int64_t i) { return x->n == 1 ? x->v[0] : x->v[i]; }
static void gadd(gval *x, int64_t i, float d) { if (x->g) x->g[x->n == 1 ? 0 : i] += d; }

static int grad_run(it_opctx *c) {
    grad_state *st = c->node->state;
    if (!st) return it_opfail(c, INGOT_ERR_INTERNAL, "Gradient was not prepared");
    gval *vals = it_scratch(c, sizeof(gval) * ((size_t)st->n_values + 1));
    if (!vals) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    memset(vals, 0, sizeof(gval) * ((size_t)st->n_values + 1));
    for (int i = 0; i < st->n_xs; i++) {
        it_tensor *x = it_in(c, i);
        if (!x || x->dtype != IT_F32) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "Gradient supports float32 inputs only");
        gval *gv = &vals[st->xs[i]];
        gv->v = x->data;
        gv->n = it_count(x);
        gv->shape = x;
        gv->g = it_scratch(c, sizeof(float) * (size_t)(gv->n + 1));
        if (!gv->g) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
        memset(gv->g, 0, sizeof(float) * (size_t)gv->n);
    }
    for (int v = 0; v < st->n_values; v++)
        if (st->consts[v]) {
            if (st->consts[v]->dtype != IT_F32) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "Gradient supports float32 constants only");
            vals[v].v = st->consts[v]->data;
            vals[v].n = it_count(st->consts[v]);
            vals[v].shape = st->consts[v];
        }
    /* forward */
    for (int k = 0; k < st->n_steps; k++) {
        grad_step *s = &st->steps[k];
        gval *a = &vals[s->a], *b = s->b >= 0 ? &vals[s->b] : NULL, *o = &vals[s->out];
        if (!a->v || (b && !b->v)) return it_opfail(c, INGOT_ERR_INTERNAL, "Gradient: value not computed");
        int64_t n = a->n;
        if (b && b->n != n) {
            if (n == 1) n = b->n;
            else if (b->n != 1) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "Gradient: operands of %lld and %lld elements (only equal shapes or scalars)", (long long)a->n, (long long)b->n);
        }
        o->n = n;
        o->shape = (b && a->n == 1) ? b->shape : a->shape;
        o->v = it_scratch(c, sizeof(float) * (size_t)(n + 1));
        o->g = it_scratch(c, sizeof(float) * (size_t)(n + 1));
        if (!o->v || !o->g) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
        memset(o->g, 0, sizeof(float) * (size_t)n);
        if (!a->g && !st->consts[s->a]) { a->g = NULL; }
        for (int64_t i = 0; i < n; i++) {
            float x = gat(a, i), y = b ? gat(b, i) : 0.f;
            o->v[i] = s->op == G_ADD ? x + y : s->op == G_SUB ? x - y : s->op == G_MUL ? x * y : s->op == G_DIV ? x / y : s->op == G_NEG ? -x : x;
        }
    }
    gval *y = &vals[st->y];
    if (!y->v) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "Gradient: y does not depend on the inputs");
    for (int64_t i = 0; i < y->n; i++) y->g[i] = 1.f;
    /* backward */
    for (int k = st->n_steps - 1; k >= 0; k--) {
        grad_step *s = &st->steps[k];
        gval *a = &vals[s->a], *b = s->b >= 0 ? &vals[s->b] : NULL, *o = &vals[s->out];
        for (int64_t i = 0; i < o->n; i++) {
            float go = o->g[i], x = gat(a, i), yv = b ? gat(b, i) : 0.f;
            switch (s->op) {
            case G_ADD: gadd(a, i, go); gadd(b, i, go); break;
            case G_SUB: gadd(a, i, go); gadd(b, i, -go); break;
            case G_MUL: gadd(a, i, go * yv); gadd(b, i, go * x); break;
            case G_DIV: gadd(a, i, go / yv); gadd(b, i, -go * x / (yv * yv)); break;
            case G_NEG: gadd(a, i, -go); break;
            default: gadd(a, i, go); break;
            }
        }
    }
    for (int i = 0; i < st->n_xs && i < c->n_out; i++) {
        gval *gv = &vals[st->xs[i]];
        it_tensor *out;
        int rc = it_out_tensor(c, i, IT_F32, gv->shape->ndim, gv->shape->dims, &out);
        if (rc) return rc;
        memcpy(out->data, gv->g, sizeof(float) * (size_t)gv->n);
    }
    return 0;
}

const it_op it_ops_training[] = {
    {"ai.onnx.preview.training", "Adagrad", NULL, adagrad_run, NULL, 0, NULL},
    {"ai.onnx.preview.training", "Adam", NULL, adam_run, NULL, 0, NULL},
    {"ai.onnx.preview.training", "Momentum", NULL, momentum_run, NULL, 0, NULL},
    {"ai.onnx.preview.training", "Gradient", NULL, grad_run, grad_free, IT_OP_NO_FOLD, grad_prepare},
    {0},
};
