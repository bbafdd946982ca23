/*
 * ops.h: shared helpers for operator implementations (the files of src/ops).
 *
 * An operator family lives in one file that defines a table
 *     const it_op it_ops_<family>[] = { {"", "Relu", init, run, free, flags}, ..., {0} };
 * and registry.c lists the tables. `run` reads inputs with it_in(), allocates
 * outputs with it_out_tensor() and reports errors with it_opfail(); semantics
 * that changed between opsets branch on c->node->opset.
 */
#ifndef INGOT_OPS_H
#define INGOT_OPS_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "kernels/kernels.h"

/* Broadcast two shapes (numpy rules). Returns 0 or INGOT_ERR_SHAPE. */
int it_broadcast_shape(int na, const int64_t *da, int nb, const int64_t *db, int *nout, int64_t *dout);
/* Strides (in elements) of a tensor of shape (n, d) viewed as broadcast to (nout, dout):
 * broadcast dims get stride 0. */
void it_broadcast_strides(int n, const int64_t *d, int nout, const int64_t *dout, int64_t *strides);
/* Contiguous strides of a shape. */
void it_strides(int n, const int64_t *d, int64_t *strides);

/* Normalize an axis in [-rank, rank) (or [-rank-1, rank] with extra=1); -1 if out of range. */
static inline int it_axis(int64_t axis, int rank, int extra) {
    int r = rank + extra;
    if (axis < -r || axis >= r) return -1;
    return (int)(axis < 0 ? axis + r : axis);
}

/* Read an integer tensor (any int dtype) into out[0..max); returns the count or -1. */
int64_t it_read_ints(const it_tensor *t, int64_t *out, int64_t max);
/* Scalar from a tensor of any numeric dtype (first element). */
double it_scalar(const it_tensor *t);

/* Iterate a multi-index over a shape: returns 0 when done. */
static inline int it_next_index(int n, const int64_t *dims, int64_t *idx) {
    for (int i = n - 1; i >= 0; i--) {
        if (++idx[i] < dims[i]) return 1;
        idx[i] = 0;
    }
    return 0;
}

/* Convenience: allocate output i with the shape of tensor `like` and dtype. */
static inline int it_out_like(it_opctx *c, int i, int dtype, const it_tensor *like, it_tensor **t) {
    return it_out_tensor(c, i, dtype, like->ndim, like->dims, t);
}

#define IT_REQUIRE_IN(c, i, t)                                                                  \
    it_tensor *t = it_in(c, i);                                                                 \
    if (!t) return it_opfail(c, INGOT_ERR_FORMAT, "required input %d is missing", (int)(i));

#endif
