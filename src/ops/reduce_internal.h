/*
 * reduce_internal.h: helpers shared between the files of the 'reduce' operator
 * family (reduce.c holds the family table; reduce2.c holds the Einsum engine).
 */
#ifndef INGOT_OPS_REDUCE_INTERNAL_H
#define INGOT_OPS_REDUCE_INTERNAL_H

#include "ops.h"

/* Einsum: init checks the equation's syntax; run parses it against the input
 * ranks and computes it as diagonals, sums and batched products. */
int it_einsum_init(it_node *n, it_err *e);
int it_einsum_run(it_opctx *c);

#endif
