/*
 * training.c: operator family 'training' (see ops.h for how a family is laid out).
 */
#include "ops.h"

const it_op it_ops_training[] = {
    {0},
};
