/*
 * training.c: ai.onnx.preview.training optimizer steps: Adagrad, Adam and
 * Momentum (standard and Nesterov). Each takes the learning rate R, the step
 * count T and then, for n optimized tensors, n X's, n gradients and n of each
 * optimizer state; it returns the n new X's followed by the new states.
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

const it_op it_ops_training[] = {
    {"ai.onnx.preview.training", "Adagrad", NULL, adagrad_run, NULL, 0, NULL},
    {"ai.onnx.preview.training", "Adam", NULL, adam_run, NULL, 0, NULL},
    {"ai.onnx.preview.training", "Momentum", NULL, momentum_run, NULL, 0, NULL},
    {0},
};
