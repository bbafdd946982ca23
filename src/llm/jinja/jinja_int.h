/*
 * jinja_int.h: internals of the chat-template interpreter shared by its files: values
 * (jv: undefined, none, bool, int, float, string, list, dict, namespace, macro), the
 * per-render arena they live in, the syntax tree, and the render state with its error
 * exit. Errors leave through longjmp to it_jinja_render, which frees the arena: no
 * value is ever freed on its own, so no path can leak or double-free.
 */
#ifndef INGOT_LLM_JINJA_INT_H
#define INGOT_LLM_JINJA_INT_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#include "llm/jinja/jinja.h"

enum { JV_UNDEF = 0, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR, JV_LIST, JV_DICT, JV_NS, JV_MACRO };

typedef struct jlist jlist;
typedef struct jdict jdict;
typedef struct jnode jnode;

typedef struct jv {
    int t;
    union {
        int b;
        int64_t i;
        double f;
        struct {
            const char *p;
            size_t n;
        } s;
        jlist *l;
        jdict *d; /* JV_DICT and JV_NS */
        const jnode *m; /* JV_MACRO: the macro statement */
    } u;
} jv;

struct jlist {
    jv *v;
    size_t n, cap;
};

struct jdict { /* insertion-ordered; string keys mostly, any value as key */
    jv *k, *v;
    size_t n, cap;
};

/* ---- syntax tree -------------------------------------------------------- */
enum {
    /* expressions */
    N_LIT = 1, N_NAME, N_ATTR, N_INDEX, N_SLICE, N_CALL, N_FILTER, N_TEST, N_NOT, N_NEG, N_POS, N_BIN, N_AND, N_OR,
    N_COND, N_LIST, N_DICT,
    /* statements */
    N_TEXT, N_OUT, N_IF, N_FOR, N_SET, N_SETBLOCK, N_MACRO, N_BREAK, N_CONTINUE, N_BODY
};

enum { OP_ADD = 1, OP_SUB, OP_MUL, OP_DIV, OP_FDIV, OP_MOD, OP_POW, OP_CAT, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE,
       OP_IN, OP_NOTIN };

struct jnode {
    int kind, op, line, col;
    int neg;          /* N_TEST: "is not" */
    jnode *a, *b, *c, *d;
    jnode **list;     /* args, list items, body statements, dict keys */
    int n;
    jnode **list2;    /* dict values, macro defaults (NULL entries: none) */
    const char **kwn; /* keyword names (calls), target names (for, set), parameter names (macro) */
    jnode **kwv;
    int nkw;
    const char *name; /* names, attributes, filters, tests */
    jv lit;
};

/* ---- render state ------------------------------------------------------- */
typedef struct jbuf { /* a growing string in the arena */
    char *p;
    size_t n, cap;
} jbuf;

typedef struct jchunk jchunk;

typedef struct jscope {
    struct jscope *parent;
    jdict vars;
} jscope;

typedef struct jctx {
    jmp_buf jb;
    int status;      /* negative ingot status of the error */
    char *err;
    size_t errlen;
    /* arena */
    jchunk *chunks;
    size_t used_bytes;
    /* source */
    const char *src;
    size_t src_len;
    jbuf *ob;        /* where statements write (swapped for macros and block sets) */
    /* evaluation */
    jscope *globals;
    int64_t steps;
    int depth, call_depth;
    int64_t now;
    int loop_ctl;    /* 0, 1 break, 2 continue */
} jctx;

/* Leave with an error at line/col (0: none). Never returns. */
_Noreturn void jerr(jctx *x, int line, int col, int status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define JERR_AT(x, nd, ...) jerr((x), (nd) ? (nd)->line : 0, (nd) ? (nd)->col : 0, -4, __VA_ARGS__)

void *jalloc(jctx *x, size_t n);           /* zeroed; errors out on the memory limit */
char *jstrdup(jctx *x, const char *s, size_t n);
void jarena_free(jctx *x);

/* values (value.c) */
jv jv_str(jctx *x, const char *s, size_t n); /* copies */
jv jv_cstr(const char *s);                   /* no copy: static or arena string */
jv jv_int(int64_t i);
jv jv_float(double f);
jv jv_bool(int b);
jv jv_none(void);
jv jv_undef(void);
jv jv_newlist(jctx *x);
jv jv_newdict(jctx *x);
void jlist_push(jctx *x, jlist *l, jv v);
void jdict_set(jctx *x, jdict *d, jv k, jv v);
int jdict_get(const jdict *d, const char *k, size_t kn, jv *out);
int jdict_getv(const jdict *d, jv k, jv *out);
int jv_truthy(jv v);
int jv_equal(jv a, jv b);
const char *jv_typename(jv v);
/* str(v) as Python prints it (None, True, 1.5, ['a', 1], {'k': 'v'}) appended to b */
void jbuf_put(jctx *x, jbuf *b, const char *s, size_t n);
void jv_to_str(jctx *x, jbuf *b, jv v);
jv jv_stringify(jctx *x, jv v); /* a JV_STR of str(v) */
/* json.dumps(v, ensure_ascii=False, indent=indent (<0: none), sort_keys) */
void jv_to_json(jctx *x, jbuf *b, jv v, int indent, int sort_keys, int level);

/* parser (parse.c): the template as one N_BODY */
jnode *jparse(jctx *x);

/* evaluator (eval.c) */
void jrender(jctx *x, const jnode *root);

#endif
