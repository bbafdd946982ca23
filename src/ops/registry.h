/*
 * registry.h: finding operator implementations by (domain, name, opset).
 */
#ifndef INGOT_OPS_REGISTRY_H
#define INGOT_OPS_REGISTRY_H

#include "graph/graph.h"

const it_op *it_op_find(const char *domain, const char *name, int opset);
void it_op_each(void (*fn)(void *ud, const it_op *op), void *ud);

#endif
