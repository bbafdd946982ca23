/*
 * api.c: include/ingot.h on top of the layers: tensors, model loading (mmap +
 * ONNX reader + graph checks + op binding + constant folding) and sessions.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"
#include "ops/registry.h"

/* ---- tensors ---- */
ingot_status ingot_tensor_create(int dtype, int ndim, const int64_t *dims, ingot_tensor **out) {
    if (!out) return INGOT_ERR_INVALID_ARG;
    *out = NULL;
    it_tensor *t = calloc(1, sizeof *t);
    if (!t) return INGOT_ERR_NOMEM;
    int st = it_tensor_set_shape(t, dtype, ndim, dims, NULL);
    if (!st) st = it_tensor_alloc(t, NULL);
    if (st) { free(t); return (ingot_status)st; }
    *out = t;
    return INGOT_OK;
}

ingot_status ingot_tensor_wrap(int dtype, int ndim, const int64_t *dims, void *data, ingot_tensor **out) {
    if (!out || (!data && it_shape_count(ndim, dims) != 0)) return INGOT_ERR_INVALID_ARG;
    *out = NULL;
    it_tensor *t = calloc(1, sizeof *t);
    if (!t) return INGOT_ERR_NOMEM;
    int st = it_tensor_set_shape(t, dtype, ndim, dims, NULL);
    if (st) { free(t); return (ingot_status)st; }
    t->data = data;
    *out = t;
    return INGOT_OK;
}

void ingot_tensor_free(ingot_tensor *t) {
    if (!t) return;
    it_tensor_release(t);
    free(t);
}
int ingot_tensor_dtype(const ingot_tensor *t) { return t->dtype; }
int ingot_tensor_ndim(const ingot_tensor *t) { return t->ndim; }
const int64_t *ingot_tensor_dims(const ingot_tensor *t) { return t->dims; }
int64_t ingot_tensor_count(const ingot_tensor *t) { return it_count(t); }
void *ingot_tensor_data(const ingot_tensor *t) { return t->data; }
size_t ingot_tensor_nbytes(const ingot_tensor *t) { return t->nbytes; }

/* ---- models ---- */
static void set_err(char *err, size_t errlen, const char *msg) {
    if (err && errlen) snprintf(err, errlen, "%s", msg);
}

static ingot_status finish_load(ingot_model *m, char *err, size_t errlen) {
    it_err e = {{0}};
    it_graph *g = m->onnx.graph;
    int st = it_graph_finalize(g, &e);
    if (!st && m->inspect_only) goto inputs;
    if (!st) st = it_graph_bind(g, it_op_find, &e);
    if (!st) {
        it_threadpool *tp = it_threadpool_create(1);
        st = it_graph_fold(g, tp, &e);
        it_threadpool_free(tp);
    }
    if (!st) st = it_graph_fuse(g, &e);
    if (!st) st = it_graph_prepare(g, &e);
    /* Weights that operators packed in prepare are no longer read from the file:
     * drop the mapping's resident pages (clean file pages, faulted back in on the
     * next touch), so memory after load is one copy of the weights, not two. */
    if (!st && m->map && m->map_len) madvise(m->map, m->map_len, MADV_DONTNEED);
inputs:
    if (!st) {
        m->input_index = calloc((size_t)g->n_inputs + 1, sizeof(int));
        if (!m->input_index) st = it_fail(&e, INGOT_ERR_NOMEM, "out of memory");
        for (int i = 0; !st && i < g->n_inputs; i++)
            if (!g->values[g->inputs[i]].is_const) m->input_index[m->n_inputs++] = i;
    }
    if (st) set_err(err, errlen, e.msg);
    return (ingot_status)st;
}

static ingot_status load_common(ingot_model *m, const void *buf, size_t len, const char *dir, char *err, size_t errlen) {
    it_err e = {{0}};
    int st = m->map ? it_onnx_load_mapped(buf, len, dir, &m->onnx, &e) : it_onnx_load(buf, len, dir, &m->onnx, &e);
    if (st) {
        set_err(err, errlen, e.msg);
        return (ingot_status)st;
    }
    return finish_load(m, err, errlen);
}

static ingot_status load_path(const char *path, int inspect, ingot_model **out, char *err, size_t errlen) {
    if (!out || !path) return INGOT_ERR_INVALID_ARG;
    *out = NULL;
    ingot_model *m = calloc(1, sizeof *m);
    if (!m) return INGOT_ERR_NOMEM;
    m->inspect_only = inspect;
    it_err e = {{0}};
    int st = it_map_file(path, &m->map, &m->map_len, &e);
    if (st) {
        set_err(err, errlen, e.msg);
        free(m);
        return (ingot_status)st;
    }
    m->path = it_strdup(path);
    char *dir = it_strdup(path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash) *slash = 0;
    st = load_common(m, m->map, m->map_len, slash ? dir : ".", err, errlen);
    free(dir);
    if (st) {
        /* prefix the file name so the message says which model */
        if (err && errlen) {
            char tmp[1024];
            snprintf(tmp, sizeof tmp, "%s: %s", path, err);
            snprintf(err, errlen, "%s", tmp);
        }
        ingot_model_free(m);
        return (ingot_status)st;
    }
    *out = m;
    return INGOT_OK;
}

ingot_status ingot_model_load(const char *path, ingot_model **out, char *err, size_t errlen) {
    return load_path(path, 0, out, err, errlen);
}

ingot_status ingot_model_inspect(const char *path, ingot_model **out, char *err, size_t errlen) {
    return load_path(path, 1, out, err, errlen);
}

ingot_status ingot_model_load_buffer(const void *buf, size_t len, ingot_model **out, char *err, size_t errlen) {
    if (!out || (!buf && len)) return INGOT_ERR_INVALID_ARG;
    *out = NULL;
    ingot_model *m = calloc(1, sizeof *m);
    if (!m) return INGOT_ERR_NOMEM;
    int st = load_common(m, buf, len, NULL, err, errlen);
    if (st) {
        ingot_model_free(m);
        return (ingot_status)st;
    }
    *out = m;
    return INGOT_OK;
}

void ingot_model_free(ingot_model *m) {
    if (!m) return;
    it_onnx_free(&m->onnx);
    it_unmap(m->map, m->map_len);
    free(m->input_index);
    free(m->path);
    free(m);
}

const it_graph *it_model_graph(const ingot_model *m) { return m->onnx.graph; }

int ingot_model_num_inputs(const ingot_model *m) { return m->n_inputs; }
int ingot_model_num_outputs(const ingot_model *m) { return m->onnx.graph->n_outputs; }

static void fill_info(const it_valdef *d, ingot_value_info *info) {
    memset(info, 0, sizeof *info);
    info->name = d->name;
    info->kind = d->type.kind;
    info->dtype = d->type.dtype;
    info->ndim = d->has_type ? d->type.ndim : -1;
    for (int i = 0; i < info->ndim && i < INGOT_MAX_DIMS; i++) {
        info->dims[i] = d->type.dims[i];
        info->dim_names[i] = d->type.dim_names[i];
    }
}

ingot_status ingot_model_input(const ingot_model *m, int i, ingot_value_info *info) {
    if (!m || !info || i < 0 || i >= m->n_inputs) return INGOT_ERR_INVALID_ARG;
    const it_graph *g = m->onnx.graph;
    fill_info(&g->values[g->inputs[m->input_index[i]]], info);
    return INGOT_OK;
}

ingot_status ingot_model_output(const ingot_model *m, int i, ingot_value_info *info) {
    if (!m || !info || i < 0 || i >= m->onnx.graph->n_outputs) return INGOT_ERR_INVALID_ARG;
    const it_graph *g = m->onnx.graph;
    fill_info(&g->values[g->outputs[i]], info);
    return INGOT_OK;
}

static int64_t count_nodes(const it_graph *g) {
    int64_t n = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        n++;
        for (int a = 0; a < g->nodes[i].n_attr; a++) {
            const it_attr *at = &g->nodes[i].attrs[a];
            if (at->type == IT_ATTR_GRAPH && at->g) n += count_nodes(at->g);
            if (at->type == IT_ATTR_GRAPHS)
                for (int k = 0; k < at->n; k++) n += count_nodes(at->graphs[k]);
        }
    }
    return n;
}

void ingot_model_summarize(const ingot_model *m, ingot_model_summary *s) {
    memset(s, 0, sizeof *s);
    const it_graph *g = m->onnx.graph;
    s->format = "onnx";
    s->ir_version = m->onnx.ir_version;
    s->producer = m->onnx.producer_name ? m->onnx.producer_name : "";
    s->n_opsets = g->n_opsets;
    for (int i = 0; i < g->n_opsets; i++) {
        s->opset_domains[i] = g->opset_domain[i][0] ? g->opset_domain[i] : "ai.onnx";
        s->opset_versions[i] = g->opset_version[i];
    }
    s->n_nodes = count_nodes(g);
    s->n_initializers = m->onnx.n_initializers;
    s->param_bytes = m->onnx.param_bytes;
    s->mapped_bytes = m->map_len;
}

typedef struct hist_ent { const char *dom, *op; int64_t n; } hist_ent;
static void hist_add(hist_ent *h, int *n, int cap, const it_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        const it_node *nd = &g->nodes[i];
        int k;
        for (k = 0; k < *n; k++)
            if (!strcmp(h[k].op, nd->op_type) && !strcmp(h[k].dom, nd->domain)) break;
        if (k == *n) {
            if (*n >= cap) continue;
            h[k].dom = nd->domain;
            h[k].op = nd->op_type;
            h[k].n = 0;
            (*n)++;
        }
        h[k].n++;
        for (int a = 0; a < nd->n_attr; a++) {
            const it_attr *at = &nd->attrs[a];
            if (at->type == IT_ATTR_GRAPH && at->g) hist_add(h, n, cap, at->g);
            if (at->type == IT_ATTR_GRAPHS)
                for (int q = 0; q < at->n; q++) hist_add(h, n, cap, at->graphs[q]);
        }
    }
}

void ingot_model_op_histogram(const ingot_model *m, void (*fn)(void *, const char *, const char *, int64_t, int), void *ud) {
    hist_ent h[512];
    int n = 0;
    hist_add(h, &n, 512, m->onnx.graph);
    for (int i = 0; i < n; i++)
        fn(ud, h[i].dom[0] ? h[i].dom : "ai.onnx", h[i].op, h[i].n, it_op_find(h[i].dom, h[i].op, 0) != NULL);
}

/* ---- sessions ---- */
ingot_status ingot_session_create(const ingot_model *m, const ingot_session_options *opts, ingot_session **out) {
    if (!out) return INGOT_ERR_INVALID_ARG;
    *out = NULL;
    if (!m || m->inspect_only) return INGOT_ERR_INVALID_ARG;
    ingot_session *s = calloc(1, sizeof *s);
    if (!s) return INGOT_ERR_NOMEM;
    s->m = m;
    s->tp = it_threadpool_create(opts ? opts->threads : 0);
    s->x = s->tp ? it_exec_new(m->onnx.graph, s->tp) : NULL;
    if (!s->x) {
        ingot_session_free(s);
        return INGOT_ERR_NOMEM;
    }
    *out = s;
    return INGOT_OK;
}

void ingot_session_free(ingot_session *s) {
    if (!s) return;
    it_exec_free(s->x);
    it_threadpool_free(s->tp);
    free(s);
}

int it_session_run_values(ingot_session *s, it_value *const *inputs) {
    const it_graph *g = s->m->onnx.graph;
    it_value **all = calloc((size_t)g->n_inputs + 1, sizeof(it_value *));
    if (!all) return it_fail(&s->err, INGOT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < s->m->n_inputs; i++) all[s->m->input_index[i]] = inputs[i];
    s->err.msg[0] = 0;
    int st = it_exec_run(s->x, all, &s->err);
    free(all);
    return st;
}

it_value *it_session_output_value(ingot_session *s, int i) { return it_exec_output(s->x, i); }

static int check_input(const it_valdef *d, const it_tensor *t, it_err *e) {
    if (!d->has_type || d->type.kind != IT_KIND_TENSOR) return 0;
    if (d->type.dtype && d->type.dtype != t->dtype)
        return it_fail(e, INGOT_ERR_SHAPE, "input '%s' must be %s, got %s", d->name, it_dtype_name(d->type.dtype), it_dtype_name(t->dtype));
    if (d->type.ndim >= 0) {
        if (d->type.ndim != t->ndim)
            return it_fail(e, INGOT_ERR_SHAPE, "input '%s' must have rank %d, got %d", d->name, d->type.ndim, t->ndim);
        for (int k = 0; k < t->ndim; k++)
            if (d->type.dims[k] >= 0 && !d->type.dim_names[k] && d->type.dims[k] != t->dims[k])
                return it_fail(e, INGOT_ERR_SHAPE, "input '%s' dim %d must be %lld, got %lld", d->name, k, (long long)d->type.dims[k], (long long)t->dims[k]);
    }
    return 0;
}

ingot_status ingot_session_run(ingot_session *s, int n, const char *const *names, const ingot_tensor *const *inputs) {
    if (!s || (n && (!names || !inputs))) return INGOT_ERR_INVALID_ARG;
    const ingot_model *m = s->m;
    const it_graph *g = m->onnx.graph;
    it_value *vals = calloc((size_t)m->n_inputs + 1, sizeof(it_value));
    it_value **ptrs = calloc((size_t)m->n_inputs + 1, sizeof(it_value *));
    int st = 0;
    if (!vals || !ptrs) { st = it_fail(&s->err, INGOT_ERR_NOMEM, "out of memory"); goto done; }
    for (int k = 0; k < n; k++) {
        int found = -1;
        for (int i = 0; i < m->n_inputs; i++)
            if (!strcmp(g->values[g->inputs[m->input_index[i]]].name, names[k])) found = i;
        if (found < 0) { st = it_fail(&s->err, INGOT_ERR_NOT_FOUND, "the model has no input named '%s'", names[k]); goto done; }
        const it_valdef *d = &g->values[g->inputs[m->input_index[found]]];
        if ((st = check_input(d, inputs[k], &s->err))) goto done;
        vals[found].kind = IT_V_TENSOR;
        vals[found].t = *inputs[k];
        vals[found].t.owned = 0;
        ptrs[found] = &vals[found];
    }
    for (int i = 0; i < m->n_inputs; i++)
        if (!ptrs[i]) { st = it_fail(&s->err, INGOT_ERR_INVALID_ARG, "input '%s' was not given", g->values[g->inputs[m->input_index[i]]].name); goto done; }
    st = it_session_run_values(s, ptrs);
done:
    free(vals);
    free(ptrs);
    return (ingot_status)st;
}

int ingot_session_num_outputs(const ingot_session *s) { return s->m->onnx.graph->n_outputs; }

const ingot_tensor *ingot_session_output(const ingot_session *s, int i) {
    it_value *v = it_exec_output(s->x, i);
    return v && v->kind == IT_V_TENSOR ? &v->t : NULL;
}

const char *ingot_session_error(const ingot_session *s) { return s ? s->err.msg : ""; }

int ingot_default_threads(void) { return it_cpu_count(); }
