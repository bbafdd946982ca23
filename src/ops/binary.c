/*
 * binary.c: operator family 'binary' (see ops.h for how a family is laid out).
 */
#include "ops.h"

const it_op it_ops_binary[] = {
    {0},
};
