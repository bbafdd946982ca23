/*
 * registry.c: the list of operator families. Adding an operator touches its
 * family file only; adding a family adds one line here.
 */
#include "ops.h"
#include "registry.h"

#define FAMILY(x) extern const it_op it_ops_##x[];
#include "families.h"
#undef FAMILY

static const it_op *const families[] = {
#define FAMILY(x) it_ops_##x,
#include "families.h"
#undef FAMILY
};

const it_op *it_op_find(const char *domain, const char *name, int opset) {
    (void)opset;
    if (!domain) domain = "";
    if (!strcmp(domain, "ai.onnx")) domain = "";
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const it_op *op = families[f]; op->name; op++)
            if (!strcmp(op->name, name) && !strcmp(op->domain, domain)) return op;
    return NULL;
}

void it_op_each(void (*fn)(void *ud, const it_op *op), void *ud) {
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const it_op *op = families[f]; op->name; op++) fn(ud, op);
}
