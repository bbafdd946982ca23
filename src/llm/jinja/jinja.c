/*
 * jinja.c: it_jinja_render, the entry of the chat-template interpreter: checks the
 * inputs against the limits, sets up the per-render arena and the error exit, builds
 * the variables a chat template sees (messages as a list of {role, content} dicts,
 * bos_token, eos_token, add_generation_prompt), parses and renders, and hands back the
 * text in one malloc'd buffer. All other memory of the render is freed here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/jinja/jinja_int.h"

static void set_global(jctx *x, const char *name, jv v) { jdict_set(x, &x->globals->vars, jv_cstr(name), v); }

static void build_globals(jctx *x, const it_jinja_vars *v) {
    x->globals = jalloc(x, sizeof *x->globals);
    jv msgs = jv_newlist(x);
    for (int i = 0; v && i < v->n_msgs; i++) {
        jv m = jv_newdict(x);
        const it_jinja_msg *src = &v->msgs[i];
        jdict_set(x, m.u.d, jv_cstr("role"), src->role ? jv_str(x, src->role, strlen(src->role)) : jv_none());
        jdict_set(x, m.u.d, jv_cstr("content"),
                  src->content ? jv_str(x, src->content, strlen(src->content)) : jv_none());
        jlist_push(x, msgs.u.l, m);
    }
    set_global(x, "messages", msgs);
    if (v && v->bos_token) set_global(x, "bos_token", jv_str(x, v->bos_token, strlen(v->bos_token)));
    if (v && v->eos_token) set_global(x, "eos_token", jv_str(x, v->eos_token, strlen(v->eos_token)));
    set_global(x, "add_generation_prompt", jv_bool(v && v->add_generation_prompt));
}

static int render(jctx *x, const it_jinja_vars *vars, char **out, size_t *out_len) {
    if (setjmp(x->jb)) return x->status;
    build_globals(x, vars);
    jnode *root = jparse(x);
    jbuf ob = {0};
    x->ob = &ob;
    jrender(x, root);
    char *r = malloc(ob.n + 1);
    if (!r) jerr(x, 0, 0, -2, "out of memory");
    if (ob.n) memcpy(r, ob.p, ob.n);
    r[ob.n] = 0;
    *out = r;
    if (out_len) *out_len = ob.n;
    return 0;
}

int it_jinja_render(const char *tmpl, size_t len, const it_jinja_vars *vars, char **out, size_t *out_len,
                    char *err, size_t errlen) {
    if (err && errlen) err[0] = 0;
    if (out) *out = NULL;
    if (out_len) *out_len = 0;
    if (!tmpl || !out) {
        if (err && errlen) snprintf(err, errlen, "no template or output given");
        return -1;
    }
    if (len > IT_JINJA_MAX_SOURCE) {
        if (err && errlen) snprintf(err, errlen, "the template is %zu bytes, more than the limit of %u", len,
                                    IT_JINJA_MAX_SOURCE);
        return -7;
    }
    if (vars && (vars->n_msgs < 0 || vars->n_msgs > IT_JINJA_MAX_MESSAGES || (vars->n_msgs && !vars->msgs))) {
        if (err && errlen) snprintf(err, errlen, "bad message count %d (at most %d)", vars->n_msgs,
                                    IT_JINJA_MAX_MESSAGES);
        return -1;
    }
    if (memchr(tmpl, 0, len)) {
        if (err && errlen) snprintf(err, errlen, "the template contains a NUL byte");
        return -4;
    }
    jctx *x = calloc(1, sizeof *x);
    if (!x) {
        if (err && errlen) snprintf(err, errlen, "out of memory");
        return -2;
    }
    x->err = err, x->errlen = errlen;
    x->src = tmpl, x->src_len = len;
    x->now = vars ? vars->now : 0;
    int st = render(x, vars, out, out_len);
    jarena_free(x);
    free(x);
    return st;
}
