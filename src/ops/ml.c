/*
 * ml.c: operator family 'ml' (see ops.h for how a family is laid out).
 */
#include "ops.h"

const it_op it_ops_ml[] = {
    {0},
};
