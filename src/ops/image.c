/*
 * image.c: operator family 'image' (see ops.h for how a family is laid out).
 */
#include "ops.h"

const it_op it_ops_image[] = {
    {0},
};
