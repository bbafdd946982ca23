/*
 * builtins.h: the filters, tests and methods of the chat-template interpreter
 * (builtins.c) and the evaluator helpers they share with eval.c.
 */
#ifndef INGOT_LLM_JINJA_BUILTINS_H
#define INGOT_LLM_JINJA_BUILTINS_H

#include "llm/jinja/jinja_int.h"

#define JARGS_MAX 16

typedef struct jargs { /* evaluated call arguments */
    jv v[JARGS_MAX];
    int n;
    const char *kwn[JARGS_MAX];
    jv kwv[JARGS_MAX];
    int nkw;
    const jnode *at;
} jargs;

/* eval.c */
void jstep(jctx *x, const jnode *at, int64_t n);
jv jget_attr(jctx *x, const jnode *at, jv o, const char *name);
int jcompare(jctx *x, const jnode *at, jv a, jv b);
int jcontains(jctx *x, const jnode *at, jv hay, jv needle);
jlist *jiter_items(jctx *x, const jnode *at, jv v);
size_t jstr_len(jv s);
jv jstr_chars(jctx *x, jv s);
jv jarg(const jargs *a, int i, const char *name);
void jeval_args(jctx *x, jscope *s, const jnode *n, jargs *a);
jv jeval_expr(jctx *x, jscope *s, const jnode *n);

/* builtins.c */
jv jfilter(jctx *x, jscope *s, const jnode *at, const char *name, jv v, const jargs *a);
int jtest(jctx *x, const jnode *at, const char *name, jv v, const jargs *a);
jv jmethod(jctx *x, const jnode *at, jv o, const char *name, const jargs *a);

#endif
