/*
 * graph.c: building and checking graphs: value table with a name hash,
 * topological ordering, use counts for buffer reuse, subgraph captures, op
 * binding and attribute lookup.
 */
#include "graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

it_graph *it_graph_new(it_graph *parent) {
    it_graph *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    it_arena_init(&g->arena, 1 << 16);
    g->parent = parent;
    return g;
}

static void free_attr_graphs(it_attr *a) {
    it_graph_free(a->g);
    a->g = NULL;
    for (int i = 0; a->graphs && i < a->n_graphs_read; i++) it_graph_free(a->graphs[i]);
    if (a->t.owned) it_tensor_release(&a->t);
    for (int i = 0; a->tensors && i < a->n_tensors_read; i++) it_tensor_release(&a->tensors[i]);
}

void it_graph_free(it_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n_nodes; i++) {
        it_node *n = &g->nodes[i];
        if (n->op && n->op->free_state && n->state) n->op->free_state(n->state);
        for (int a = 0; a < n->n_attr; a++) free_attr_graphs(&n->attrs[a]);
    }
    for (int i = 0; i < g->n_values; i++) it_tensor_release(&g->values[i].cval);
    free(g->values);
    free(g->nodes);
    free(g->hash);
    it_arena_free(&g->arena);
    free(g);
}

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static int rehash(it_graph *g, int cap) {
    int *h = malloc(sizeof(int) * (size_t)cap);
    if (!h) return -1;
    for (int i = 0; i < cap; i++) h[i] = -1;
    for (int v = 0; v < g->n_values; v++) {
        uint64_t k = hash_str(g->values[v].name) & (uint64_t)(cap - 1);
        while (h[k] >= 0) k = (k + 1) & (uint64_t)(cap - 1);
        h[k] = v;
    }
    free(g->hash);
    g->hash = h;
    g->hash_cap = cap;
    return 0;
}

int it_graph_find(const it_graph *g, const char *name) {
    if (!g->hash_cap) return -1;
    uint64_t k = hash_str(name) & (uint64_t)(g->hash_cap - 1);
    while (g->hash[k] >= 0) {
        if (!strcmp(g->values[g->hash[k]].name, name)) return g->hash[k];
        k = (k + 1) & (uint64_t)(g->hash_cap - 1);
    }
    return -1;
}

int it_graph_value(it_graph *g, const char *name, it_err *e) {
    int v = it_graph_find(g, name);
    if (v >= 0) return v;
    if (g->n_values >= IT_LIMIT_NODES * 4)
        return it_fail(e, INGOT_ERR_LIMIT, "graph has too many values");
    if (g->n_values == g->cap_values) {
        int cap = g->cap_values ? g->cap_values * 2 : 64;
        it_valdef *nv = realloc(g->values, sizeof *nv * (size_t)cap);
        if (!nv) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
        g->values = nv;
        g->cap_values = cap;
    }
    it_valdef *d = &g->values[g->n_values];
    memset(d, 0, sizeof *d);
    d->name = it_arena_strdup(&g->arena, name, strlen(name));
    if (!d->name) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    d->producer = -1;
    d->type.ndim = -1;
    g->n_values++;
    if (g->n_values * 2 > g->hash_cap) {
        if (rehash(g, g->hash_cap ? g->hash_cap * 2 : 128)) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    } else {
        uint64_t k = hash_str(d->name) & (uint64_t)(g->hash_cap - 1);
        while (g->hash[k] >= 0) k = (k + 1) & (uint64_t)(g->hash_cap - 1);
        g->hash[k] = g->n_values - 1;
    }
    return g->n_values - 1;
}

it_node *it_graph_add_node(it_graph *g, it_err *e) {
    if (g->n_nodes >= IT_LIMIT_NODES) {
        it_fail(e, INGOT_ERR_LIMIT, "graph has more than %d nodes", IT_LIMIT_NODES);
        return NULL;
    }
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? g->cap_nodes * 2 : 32;
        it_node *nn = realloc(g->nodes, sizeof *nn * (size_t)cap);
        if (!nn) {
            it_fail(e, INGOT_ERR_NOMEM, "out of memory");
            return NULL;
        }
        g->nodes = nn;
        g->cap_nodes = cap;
    }
    it_node *n = &g->nodes[g->n_nodes++];
    memset(n, 0, sizeof *n);
    return n;
}

static int is_default_domain(const char *d) { return !d || !*d || !strcmp(d, "ai.onnx"); }

void it_graph_set_opset(it_graph *g, const char *domain, int64_t version) {
    if (is_default_domain(domain)) domain = "";
    for (int i = 0; i < g->n_opsets; i++)
        if (!strcmp(g->opset_domain[i], domain)) {
            g->opset_version[i] = version;
            return;
        }
    if (g->n_opsets < 16) {
        g->opset_domain[g->n_opsets] = it_arena_strdup(&g->arena, domain, strlen(domain));
        g->opset_version[g->n_opsets++] = version;
    }
}

int64_t it_graph_opset(const it_graph *g, const char *domain) {
    if (is_default_domain(domain)) domain = "";
    for (; g; g = g->parent)
        for (int i = 0; i < g->n_opsets; i++)
            if (!strcmp(g->opset_domain[i], domain)) return g->opset_version[i];
    return -1;
}

static int collect_outer(it_graph *sub, int **names_v, int *n, int *cap, it_graph *g, it_err *e) {
    /* every outer value of sub becomes a capture in g */
    for (int v = 0; v < sub->n_values; v++) {
        if (!sub->values[v].outer) continue;
        int gv = it_graph_value(g, sub->values[v].name, e);
        if (gv < 0) return gv;
        int dup = 0;
        for (int k = 0; k < *n; k++) dup |= (*names_v)[k] == gv;
        if (dup) continue;
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 8;
            int *nv = realloc(*names_v, sizeof(int) * (size_t)*cap);
            if (!nv) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
            *names_v = nv;
        }
        (*names_v)[(*n)++] = gv;
    }
    return 0;
}

int it_graph_finalize(it_graph *g, it_err *e) {
    int st = 0;
    int *order = NULL, *indeg = NULL, *queue = NULL, *adj_start = NULL, *adj = NULL, *fill = NULL;
    it_node *sorted = NULL;
    /* 1. subgraphs first, then captures */
    for (int i = 0; i < g->n_nodes; i++) {
        it_node *n = &g->nodes[i];
        int *caps = NULL, nc = 0, cc = 0;
        for (int a = 0; a < n->n_attr; a++) {
            it_attr *at = &n->attrs[a];
            int cnt = at->type == IT_ATTR_GRAPH ? 1 : at->type == IT_ATTR_GRAPHS ? at->n : 0;
            for (int k = 0; k < cnt; k++) {
                it_graph *sub = at->type == IT_ATTR_GRAPH ? at->g : at->graphs[k];
                if (!sub) continue;
                if ((st = it_graph_finalize(sub, e))) {
                    free(caps);
                    return st;
                }
                if ((st = collect_outer(sub, &caps, &nc, &cc, g, e))) {
                    free(caps);
                    return st;
                }
            }
        }
        n = &g->nodes[i]; /* it_graph_value may not move nodes, but keep it obvious */
        if (nc) {
            n->capture = it_arena_alloc(&g->arena, sizeof(int) * (size_t)nc);
            if (!n->capture) {
                free(caps);
                return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
            }
            memcpy(n->capture, caps, sizeof(int) * (size_t)nc);
            n->n_capture = nc;
        }
        free(caps);
    }
    /* 2. producers */
    for (int v = 0; v < g->n_values; v++) {
        g->values[v].producer = -1;
        g->values[v].uses = 0;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        it_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_out; k++) {
            int v = n->out[k];
            if (v < 0) continue;
            if (g->values[v].producer >= 0)
                return it_fail(e, INGOT_ERR_FORMAT, "value '%s' is produced by two nodes ('%s' and '%s')",
                               g->values[v].name, g->nodes[g->values[v].producer].op_type, n->op_type);
            if (g->values[v].is_const && !g->values[v].is_input) {
                /* a node overrides an initializer of the same name: the node wins */
                g->values[v].is_const = 0;
            }
            g->values[v].producer = i;
        }
    }
    /* 3. undefined values are outer (subgraph) or an error (main graph) */
    for (int v = 0; v < g->n_values; v++) {
        it_valdef *d = &g->values[v];
        if (d->producer < 0 && !d->is_input && !d->is_const) {
            if (g->parent) d->outer = 1;
            else {
                /* defined nowhere: an error only if someone reads it */
                int used = 0;
                for (int i = 0; i < g->n_nodes && !used; i++) {
                    for (int k = 0; k < g->nodes[i].n_in; k++) used |= g->nodes[i].in[k] == v;
                    for (int k = 0; k < g->nodes[i].n_capture; k++) used |= g->nodes[i].capture[k] == v;
                }
                for (int k = 0; k < g->n_outputs; k++) used |= g->outputs[k] == v;
                if (used) {
                    const char *who = "a graph output";
                    for (int i = 0; i < g->n_nodes; i++)
                        for (int k = 0; k < g->nodes[i].n_in; k++)
                            if (g->nodes[i].in[k] == v) who = g->nodes[i].op_type;
                    return it_fail(e, INGOT_ERR_FORMAT, "value '%s' (read by %s) is not defined by any node, input or initializer", d->name, who);
                }
            }
        }
    }
    /* 4. Kahn's algorithm over producer edges (stable: keeps file order where possible) */
    int N = g->n_nodes;
    indeg = calloc((size_t)N + 1, sizeof(int));
    adj_start = calloc((size_t)N + 2, sizeof(int));
    order = malloc(sizeof(int) * ((size_t)N + 1));
    queue = malloc(sizeof(int) * ((size_t)N + 1));
    if (!indeg || !adj_start || !order || !queue) { st = it_fail(e, INGOT_ERR_NOMEM, "out of memory"); goto done; }
    int n_edges = 0;
    for (int i = 0; i < N; i++) {
        it_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in + n->n_capture; k++) {
            int v = k < n->n_in ? n->in[k] : n->capture[k - n->n_in];
            if (v >= 0 && g->values[v].producer >= 0) { adj_start[g->values[v].producer + 1]++; n_edges++; indeg[i]++; }
        }
    }
    for (int i = 0; i < N; i++) adj_start[i + 1] += adj_start[i];
    adj = malloc(sizeof(int) * ((size_t)n_edges + 1));
    fill = calloc((size_t)N + 1, sizeof(int));
    if (!adj || !fill) { st = it_fail(e, INGOT_ERR_NOMEM, "out of memory"); goto done; }
    for (int i = 0; i < N; i++) {
        it_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in + n->n_capture; k++) {
            int v = k < n->n_in ? n->in[k] : n->capture[k - n->n_in];
            if (v >= 0 && g->values[v].producer >= 0) {
                int p = g->values[v].producer;
                adj[adj_start[p] + fill[p]++] = i;
            }
        }
    }
    /* min-index-first using a simple scan queue: ready nodes processed in index order */
    int qh = 0, qt = 0, n_done = 0;
    for (int i = 0; i < N; i++) if (!indeg[i]) queue[qt++] = i;
    while (qh < qt) {
        int i = queue[qh++];
        order[n_done++] = i;
        for (int k = adj_start[i]; k < adj_start[i + 1]; k++)
            if (--indeg[adj[k]] == 0) queue[qt++] = adj[k];
    }
    if (n_done != N) {
        for (int i = 0; i < N; i++)
            if (indeg[i]) {
                st = it_fail(e, INGOT_ERR_FORMAT, "graph has a cycle through node '%s' (%s)",
                             g->nodes[i].name ? g->nodes[i].name : "", g->nodes[i].op_type);
                goto done;
            }
    }
    sorted = malloc(sizeof(it_node) * ((size_t)N + 1));
    if (!sorted) { st = it_fail(e, INGOT_ERR_NOMEM, "out of memory"); goto done; }
    for (int i = 0; i < N; i++) sorted[i] = g->nodes[order[i]];
    if (N) memcpy(g->nodes, sorted, sizeof(it_node) * (size_t)N);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < g->nodes[i].n_out; k++)
            if (g->nodes[i].out[k] >= 0) g->values[g->nodes[i].out[k]].producer = i;
    /* 5. uses */
    for (int i = 0; i < N; i++) {
        it_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++) if (n->in[k] >= 0) g->values[n->in[k]].uses++;
        for (int k = 0; k < n->n_capture; k++) g->values[n->capture[k]].uses++;
    }
    for (int k = 0; k < g->n_outputs; k++) g->values[g->outputs[k]].uses++;
done:
    free(order); free(indeg); free(queue); free(adj_start); free(adj); free(fill); free(sorted);
    return st;
}

int it_graph_bind(it_graph *g, it_op_lookup lookup, it_err *e) {
    for (int i = 0; i < g->n_nodes; i++) {
        it_node *n = &g->nodes[i];
        for (int a = 0; a < n->n_attr; a++) {
            it_attr *at = &n->attrs[a];
            if (at->type == IT_ATTR_GRAPH && at->g) {
                int st = it_graph_bind(at->g, lookup, e);
                if (st) return st;
            }
            if (at->type == IT_ATTR_GRAPHS)
                for (int k = 0; k < at->n; k++) {
                    int st = it_graph_bind(at->graphs[k], lookup, e);
                    if (st) return st;
                }
        }
        int64_t ver = it_graph_opset(g, n->domain);
        if (ver < 0) {
            if (is_default_domain(n->domain)) ver = 1;
            else return it_fail(e, INGOT_ERR_FORMAT, "node '%s' (%s) uses domain '%s' that the model does not import",
                                n->name ? n->name : "", n->op_type, n->domain);
        }
        n->opset = (int)ver;
        n->op = lookup(is_default_domain(n->domain) ? "" : n->domain, n->op_type, n->opset);
        if (!n->op)
            return it_fail(e, INGOT_ERR_UNSUPPORTED, "operator %s (domain '%s', opset %d) is not implemented by ingot (node '%s')",
                           n->op_type, is_default_domain(n->domain) ? "ai.onnx" : n->domain, n->opset, n->name ? n->name : "");
        if (n->op->init) {
            it_err sub = {{0}};
            int st = n->op->init(n, &sub);
            if (st) return it_fail(e, st, "%s node '%s': %s", n->op_type, n->name ? n->name : "", sub.msg);
        }
    }
    return 0;
}

const it_attr *it_attr_get(const it_node *n, const char *name) {
    for (int i = 0; i < n->n_attr; i++)
        if (!strcmp(n->attrs[i].name, name)) return &n->attrs[i];
    return NULL;
}

int64_t it_attr_int(const it_node *n, const char *name, int64_t def) {
    const it_attr *a = it_attr_get(n, name);
    if (!a) return def;
    if (a->type == IT_ATTR_INT) return a->i;
    if (a->type == IT_ATTR_FLOAT) return a->f >= -9.2e18f && a->f <= 9.2e18f ? (int64_t)a->f : def;
    return def;
}

float it_attr_float(const it_node *n, const char *name, float def) {
    const it_attr *a = it_attr_get(n, name);
    if (!a) return def;
    if (a->type == IT_ATTR_FLOAT) return a->f;
    if (a->type == IT_ATTR_INT) return (float)a->i;
    return def;
}

const char *it_attr_str(const it_node *n, const char *name, const char *def) {
    const it_attr *a = it_attr_get(n, name);
    return a && a->type == IT_ATTR_STRING ? a->s : def;
}

int it_attr_ints(const it_node *n, const char *name, const int64_t **v) {
    const it_attr *a = it_attr_get(n, name);
    if (!a || a->type != IT_ATTR_INTS) { *v = NULL; return 0; }
    *v = a->ints;
    return a->n;
}

int it_attr_floats(const it_node *n, const char *name, const float **v) {
    const it_attr *a = it_attr_get(n, name);
    if (!a || a->type != IT_ATTR_FLOATS) { *v = NULL; return 0; }
    *v = a->floats;
    return a->n;
}

int it_graph_prepare(it_graph *g, it_err *e) {
    for (int i = 0; i < g->n_nodes; i++) {
        it_node *n = &g->nodes[i];
        for (int a = 0; a < n->n_attr; a++) {
            it_attr *at = &n->attrs[a];
            int st = 0;
            if (at->type == IT_ATTR_GRAPH && at->g) st = it_graph_prepare(at->g, e);
            for (int k = 0; !st && at->type == IT_ATTR_GRAPHS && k < at->n; k++) st = it_graph_prepare(at->graphs[k], e);
            if (st) return st;
        }
        if (n->removed || !n->op || !n->op->prepare) continue;
        it_err sub = {{0}};
        int st = n->op->prepare(n, g, &sub);
        if (st) return it_fail(e, st, "%s node '%s': %s", n->op_type, n->name ? n->name : "", sub.msg);
    }
    return 0;
}

const it_tensor *it_node_const_input(const it_graph *g, const it_node *n, int i) {
    if (i >= n->n_in || n->in[i] < 0) return NULL;
    const it_valdef *d = &g->values[n->in[i]];
    return d->is_const ? &d->cval : NULL; /* initializers listed as inputs (IR < 4) included: never fed */
}
