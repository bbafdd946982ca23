/*
 * shape.c: operators that move or reinterpret data without arithmetic.
 */
#include "ops.h"

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

const it_op it_ops_shape[] = {
    {"", "Identity", NULL, identity_run, NULL, 0},
    {0},
};
