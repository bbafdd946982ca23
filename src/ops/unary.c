/*
 * unary.c: elementwise operators of one input (math functions, activations).
 */
#include "ops.h"

static int relu_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    it_tensor *y;
    int st = it_out_like(c, 0, x->dtype, x, &y);
    if (st) return st;
    int64_t n = it_count(x);
    if (x->dtype == IT_F32) {
        const float *a = x->data;
        float *b = y->data;
        for (int64_t i = 0; i < n; i++) b[i] = a[i] > 0 ? a[i] : 0;
    } else {
        for (int64_t i = 0; i < n; i++) {
            double v = it_get_f64(x->data, x->dtype, i);
            it_set_f64(y->data, y->dtype, i, v > 0 ? v : 0);
        }
    }
    return 0;
}

const it_op it_ops_unary[] = {
    {"", "Relu", NULL, relu_run, NULL, 0},
    {0},
};
