/*
 * graph.h: ingot's graph IR and the executor's interface to operators.
 *
 * A graph is a list of values (named, typed, maybe constant) and nodes that
 * read and write them by index. Format readers (src/formats) build graphs;
 * operator implementations (src/ops) are bound to nodes through a lookup
 * function passed in by the API layer, so this layer knows ops only as the
 * it_op interface below. Subgraphs (If/Loop/Scan bodies) are graphs whose
 * `parent` is the enclosing graph; names they use but do not define are
 * resolved in the enclosing scopes when they run.
 */
#ifndef INGOT_GRAPH_H
#define INGOT_GRAPH_H

#include "kernels/kernels.h"
#include "tensor/tensor.h"

typedef struct it_graph it_graph;
typedef struct it_node it_node;
typedef struct it_opctx it_opctx;
typedef struct it_exec it_exec;

/* Attribute types: ONNX AttributeProto.AttributeType numbers. */
enum {
    IT_ATTR_FLOAT = 1, IT_ATTR_INT = 2, IT_ATTR_STRING = 3, IT_ATTR_TENSOR = 4, IT_ATTR_GRAPH = 5,
    IT_ATTR_FLOATS = 6, IT_ATTR_INTS = 7, IT_ATTR_STRINGS = 8, IT_ATTR_TENSORS = 9,
    IT_ATTR_GRAPHS = 10, IT_ATTR_SPARSE_TENSOR = 11, IT_ATTR_SPARSE_TENSORS = 12,
    IT_ATTR_TYPE_PROTO = 13, IT_ATTR_TYPE_PROTOS = 14
};

typedef struct it_attr {
    const char *name;
    int type;
    float f;
    int64_t i;
    const char *s; /* NUL-terminated copy; s_len bytes (may hold NULs) */
    size_t s_len;
    it_tensor t;
    it_graph *g;
    int n;            /* length of the list for list types */
    float *floats;
    int64_t *ints;
    const char **strings;
    size_t *string_lens;
    it_tensor *tensors;
    it_graph **graphs;
    const char *ref_attr_name; /* inside function bodies: refers to the caller's attribute */
    int n_graphs_read, n_tensors_read; /* filled entries of graphs/tensors (freed even on a failed read) */
} it_attr;

/* Value kinds (also used for declared types). */
enum { IT_KIND_TENSOR = 0, IT_KIND_SEQUENCE = 1, IT_KIND_OPTIONAL = 2, IT_KIND_MAP = 3, IT_KIND_OTHER = 4 };

/* A declared type from a model: tensor(dtype, shape), sequence(...), optional(...). */
typedef struct it_type {
    int kind;      /* IT_KIND_* */
    int dtype;     /* element dtype of the tensor (innermost, for sequence/optional) */
    int elem_kind; /* for optional: kind of the element (tensor or sequence) */
    int ndim;      /* -1 unknown rank */
    int64_t dims[IT_MAX_DIMS];          /* -1 unknown/symbolic */
    const char *dim_names[IT_MAX_DIMS]; /* symbolic names or NULL */
} it_type;

typedef struct it_valdef {
    const char *name;
    it_type type;
    int has_type;
    int is_const;    /* initializer or folded constant: `cval` holds it */
    it_tensor cval;  /* data points into the model mapping or is owned */
    int is_input;    /* a graph input (may also be const: a default) */
    int outer;       /* defined in an enclosing graph; resolved by name at run time */
    int producer;    /* node index or -1 */
    int uses;        /* node inputs + graph outputs + subgraph captures reading it */
} it_valdef;

/* The run-time value of a graph value. */
enum { IT_V_UNSET = 0, IT_V_TENSOR = 1, IT_V_SEQ = 2, IT_V_NONE = 3 /* optional without element */ };
typedef struct it_block it_block;
typedef struct it_value {
    int kind;
    it_tensor t;       /* IT_V_TENSOR */
    it_block *block;   /* storage of t (NULL: constant, borrowed or owned by t) */
    int n_seq, cap_seq;/* IT_V_SEQ: owned tensors */
    it_tensor *seq;
    int seq_dtype;     /* element dtype of a sequence (also for empty ones) */
} it_value;

typedef struct it_op {
    const char *domain; /* "" for ai.onnx */
    const char *name;
    /* At load: check attributes, precompute state (node->state). May be NULL. */
    int (*init)(it_node *n, it_err *e);
    /* Compute the outputs: allocate them with it_out_tensor and fill them. */
    int (*run)(it_opctx *c);
    void (*free_state)(void *state);
    int flags;
    /* After constant folding: precompute from constant inputs (pack weights into
     * node->state). May be NULL. run must still work when state is NULL. */
    int (*prepare)(it_node *n, const it_graph *g, it_err *e);
} it_op;
enum { IT_OP_NO_FOLD = 1 /* never constant-fold (random ops) */ };

struct it_node {
    const char *name, *op_type, *domain;
    int opset;          /* the model's opset for the node's domain */
    int n_in, n_out;
    int *in, *out;      /* value indices; -1 for an omitted optional input/output */
    int n_attr;
    it_attr *attrs;
    int n_capture;      /* values of this graph that subgraphs of the node read */
    int *capture;
    const it_op *op;
    void *state;
    int removed;        /* folded or fused away */
    it_act act;         /* activation fused into this node by the fusion pass
                           (Conv, Gemm, MatMul apply it to their output); kind 0: none */
};

struct it_graph {
    it_arena arena;     /* names, attributes, arrays */
    it_graph *parent;
    const char *name;
    int n_values, cap_values;
    it_valdef *values;
    int n_nodes, cap_nodes;
    it_node *nodes;     /* topologically ordered once finalized */
    int n_inputs, n_outputs;
    int *inputs, *outputs;
    int *hash;          /* name -> value index (open addressing), built by finalize */
    int hash_cap;
    int n_opsets;
    const char *opset_domain[16];
    int64_t opset_version[16];
};

/* ---- building (used by format readers) ---- */
it_graph *it_graph_new(it_graph *parent);
void it_graph_free(it_graph *g);
/* Index of the value named `name`, created (untyped, no producer) if absent. */
int it_graph_value(it_graph *g, const char *name, it_err *e);
int it_graph_find(const it_graph *g, const char *name); /* -1 if absent */
it_node *it_graph_add_node(it_graph *g, it_err *e);
/* Register opset imports (domain "" and "ai.onnx" are the same). */
void it_graph_set_opset(it_graph *g, const char *domain, int64_t version);
int64_t it_graph_opset(const it_graph *g, const char *domain);
/* Sort nodes, count uses, compute captures, check that every input is defined.
 * Recurses into subgraphs. */
int it_graph_finalize(it_graph *g, it_err *e);

typedef const it_op *(*it_op_lookup)(const char *domain, const char *op, int opset);
/* Bind every node (and subgraph node) to an op and run op->init. Fails naming
 * the first op with no implementation. */
int it_graph_bind(it_graph *g, it_op_lookup lookup, it_err *e);
/* Evaluate nodes whose inputs are all constant, once, and keep the results. */
int it_graph_fold(it_graph *g, it_threadpool *tp, it_err *e);
/* Fold BatchNormalization into Conv and activations into Conv/Gemm/MatMul
 * (see fuse.c). INGOT_NO_FUSION=1 turns it off. */
int it_graph_fuse(it_graph *g, it_err *e);
/* Call op->prepare on every live node (after folding), subgraphs included. */
int it_graph_prepare(it_graph *g, it_err *e);
/* Is input i of node n a constant of graph g (initializer or folded)? NULL if not. */
const it_tensor *it_node_const_input(const it_graph *g, const it_node *n, int i);

/* ---- attributes ---- */
const it_attr *it_attr_get(const it_node *n, const char *name);
int64_t it_attr_int(const it_node *n, const char *name, int64_t def);
float it_attr_float(const it_node *n, const char *name, float def);
const char *it_attr_str(const it_node *n, const char *name, const char *def);
/* List attribute: returns the count (0 if absent) and sets *v. */
int it_attr_ints(const it_node *n, const char *name, const int64_t **v);
int it_attr_floats(const it_node *n, const char *name, const float **v);

/* ---- execution ---- */
it_exec *it_exec_new(const it_graph *g, it_threadpool *tp);
void it_exec_free(it_exec *x);
/* Run the graph. inputs[i] feeds g->inputs[i] (NULL: use its initializer default).
 * Afterwards it_exec_output(x, i) holds output i until the next run. */
int it_exec_run(it_exec *x, it_value *const *inputs, it_err *e);
it_value *it_exec_output(it_exec *x, int i);
/* Bytes held by the executor's buffer pool (for memory reports). */
size_t it_exec_pool_bytes(const it_exec *x);

/* ---- the operator's view of a run ---- */
struct it_opctx {
    const it_node *node;
    int n_in, n_out;
    it_value **in;   /* in[i] NULL when the optional input is omitted */
    it_value **out;  /* out[i] NULL when the output is omitted */
    it_threadpool *tp;
    it_err *err;
    it_exec *x;
    void *frame;     /* the executing frame (for subgraph scoping) */
    struct it_opstate *st; /* executor-private: scratch buffers, omitted outputs */
};

/* Tensor of input i, or NULL if omitted or not a tensor. */
static inline it_tensor *it_in(it_opctx *c, int i) {
    return (i < c->n_in && c->in[i] && c->in[i]->kind == IT_V_TENSOR) ? &c->in[i]->t : NULL;
}
static inline int it_has_in(it_opctx *c, int i) { return i < c->n_in && c->in[i] != NULL; }
static inline int it_has_out(it_opctx *c, int i) { return i < c->n_out && c->out[i] != NULL; }
/* Allocate output i (zeroed) with the given type and shape; *t receives it.
 * If output i is omitted, a scratch tensor is still returned and dropped later. */
int it_out_tensor(it_opctx *c, int i, int dtype, int ndim, const int64_t *dims, it_tensor **t);
/* The same without zeroing, for ops that write every element of the output. */
int it_out_tensor_raw(it_opctx *c, int i, int dtype, int ndim, const int64_t *dims, it_tensor **t);
/* Make output i share input j's storage with a new shape (Reshape, Squeeze...). */
int it_out_alias(it_opctx *c, int i, int j, int ndim, const int64_t *dims);
/* Move a value into output i (ownership of its storage passes to the executor). */
int it_out_move(it_opctx *c, int i, it_value *v);
/* Scratch memory for the duration of the op (freed after run returns), zeroed. */
void *it_scratch(it_opctx *c, size_t bytes);
/* The same, not zeroed: for buffers the op fills itself. */
void *it_scratch_raw(it_opctx *c, size_t bytes);
/* Fail with a message prefixed by the node's op type and name. */
int it_opfail(it_opctx *c, int st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Run subgraph g with the given inputs (bound to g->inputs in order). Outputs
 * are written to outs[0..g->n_outputs) as values the caller now owns: pass them
 * to it_out_move or release them with it_value_release. */
int it_exec_subgraph(it_opctx *c, const it_graph *g, int n_in, it_value *const *ins, it_value *outs);
void it_value_release(it_exec *x, it_value *v);
/* Deep-copy a value into caller-owned heap storage (sequences, loop carries). */
int it_value_copy(it_value *dst, const it_value *src, it_err *e);
/* Allocate a tensor value from the executor's pool (for ops building values). */
int it_value_alloc(it_exec *x, it_value *v, int dtype, int ndim, const int64_t *dims, it_err *e);

#endif
