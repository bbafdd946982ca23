/*
 * loss.c: training-loss operators kept for exported graphs that still carry them:
 * SoftmaxCrossEntropyLoss (with the optional log_prob output) and
 * NegativeLogLikelihoodLoss, over inputs [N, C, d1..dk] and integer targets
 * [N, d1..dk], with class weights, ignore_index and reduction none/sum/mean.
 *
 * Workload: small evaluation graphs; the math is done in double per element with a
 * float32 read/write fast path, one pass over the classes per (n, d) position.
 */
#include "ops.h"

static double ld(const it_tensor *t, int64_t i) {
    return t->dtype == IT_F32 ? ((const float *)t->data)[i] : it_get_f64(t->data, t->dtype, i);
}

static void st(it_tensor *t, int64_t i, double v) {
    if (t->dtype == IT_F32) ((float *)t->data)[i] = (float)v;
    else it_set_f64(t->data, t->dtype, i, v);
}

/* Shared body. sce: apply log-softmax over the class axis first (and fill
 * log_prob when requested). */
static int loss_common(it_opctx *c, int sce) {
    IT_REQUIRE_IN(c, 0, X);
    IT_REQUIRE_IN(c, 1, Tg);
    it_tensor *W = it_in(c, 2);
    const it_node *n = c->node;
    if (!it_dtype_is_float(X->dtype)) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "input type %s", it_dtype_name(X->dtype));
    if (!it_dtype_is_int(Tg->dtype)) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "target must be integer");
    if (X->ndim < 2) return it_opfail(c, INGOT_ERR_SHAPE, "input must be at least [N, C]");
    if (Tg->ndim != X->ndim - 1 || Tg->dims[0] != X->dims[0])
        return it_opfail(c, INGOT_ERR_SHAPE, "target shape must be input shape without the class axis");
    for (int i = 1; i < Tg->ndim; i++)
        if (Tg->dims[i] != X->dims[i + 1]) return it_opfail(c, INGOT_ERR_SHAPE, "target shape must be input shape without the class axis");
    int64_t N = X->dims[0], C = X->dims[1], D = 1;
    for (int i = 2; i < X->ndim; i++) D *= X->dims[i];
    if (W && (W->ndim != 1 || W->dims[0] != C)) return it_opfail(c, INGOT_ERR_SHAPE, "weight must have C entries");
    const char *red = it_attr_str(n, "reduction", "mean");
    int mode;
    if (!strcmp(red, "none")) mode = 0;
    else if (!strcmp(red, "sum")) mode = 1;
    else if (!strcmp(red, "mean")) mode = 2;
    else return it_opfail(c, INGOT_ERR_FORMAT, "unknown reduction '%s'", red);
    int has_ii = it_attr_get(n, "ignore_index") != NULL;
    int64_t ii = it_attr_int(n, "ignore_index", 0);

    it_tensor *L, *LP = NULL;
    int s = mode == 0 ? it_out_tensor(c, 0, X->dtype, Tg->ndim, Tg->dims, &L) : it_out_tensor(c, 0, X->dtype, 0, NULL, &L);
    if (s) return s;
    double *lp = NULL; /* log-probabilities [N,C,D] */
    if (sce) {
        if (it_has_out(c, 1) && (s = it_out_like(c, 1, X->dtype, X, &LP))) return s;
        int64_t cnt = it_count(X);
        lp = it_scratch(c, (size_t)(cnt > 0 ? cnt : 1) * sizeof(double));
        if (!lp) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
        for (int64_t b = 0; b < N; b++)
            for (int64_t d = 0; d < D; d++) {
                int64_t base = b * C * D + d;
                double m = -INFINITY, sum = 0;
                for (int64_t k = 0; k < C; k++) {
                    double v = ld(X, base + k * D);
                    if (v > m) m = v;
                }
                for (int64_t k = 0; k < C; k++) sum += exp(ld(X, base + k * D) - m);
                double lse = m + log(sum);
                for (int64_t k = 0; k < C; k++) lp[base + k * D] = ld(X, base + k * D) - lse;
            }
        if (LP)
            for (int64_t i = 0; i < cnt; i++) st(LP, i, lp[i]);
    }
    double total = 0, wsum = 0;
    for (int64_t b = 0; b < N; b++)
        for (int64_t d = 0; d < D; d++) {
            int64_t t = it_get_i64(Tg->data, Tg->dtype, b * D + d);
            double loss = 0, w = 0;
            if (!(has_ii && t == ii)) {
                if (t < 0 || t >= C)
                    return it_opfail(c, INGOT_ERR_SHAPE, "target %lld outside [0, %lld)", (long long)t, (long long)C);
                int64_t xi = b * C * D + t * D + d;
                w = W ? ld(W, t) : 1.0;
                loss = -(sce ? lp[xi] : ld(X, xi)) * w;
            }
            if (mode == 0) st(L, b * D + d, loss);
            total += loss;
            wsum += w;
        }
    if (mode == 1) st(L, 0, total);
    else if (mode == 2) st(L, 0, total / wsum);
    return 0;
}

static int sce_run(it_opctx *c) { return loss_common(c, 1); }
static int nll_run(it_opctx *c) { return loss_common(c, 0); }

const it_op it_ops_loss[] = {
    {"", "SoftmaxCrossEntropyLoss", NULL, sce_run, NULL, 0, NULL},
    {"", "NegativeLogLikelihoodLoss", NULL, nll_run, NULL, 0, NULL},
    {0},
};
