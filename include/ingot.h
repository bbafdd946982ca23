/*
 * ingot.h: the one public header of ingot, a small C inference engine.
 *
 * Objects are opaque handles with create/free pairs; every *_free accepts NULL.
 * Functions return ingot_status (0 = INGOT_OK, negative = error). Errors that
 * come with a message write it to the caller's buffer (model loading) or keep
 * it on the object (sessions: ingot_session_error).
 *
 * Threads: a model is immutable after load and may be shared by any number of
 * sessions on any threads. A session is used by one thread at a time; its run
 * uses the session's own compute pool. Tensors are plain values owned by whoever
 * created them, except the outputs returned by ingot_session_output, which the
 * session owns until its next run or its free.
 */
#ifndef INGOT_H
#define INGOT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define INGOT_VERSION "0.1.0"

typedef enum ingot_status {
    INGOT_OK = 0,
    INGOT_ERR_INVALID_ARG = -1, /* a caller passed a bad argument */
    INGOT_ERR_NOMEM = -2,       /* an allocation failed */
    INGOT_ERR_IO = -3,          /* a file could not be opened, read or mapped */
    INGOT_ERR_FORMAT = -4,      /* a model or tensor file is malformed */
    INGOT_ERR_UNSUPPORTED = -5, /* valid input that ingot does not implement */
    INGOT_ERR_SHAPE = -6,       /* shapes or types do not fit together */
    INGOT_ERR_LIMIT = -7,       /* a size exceeds one of ingot's limits */
    INGOT_ERR_NOT_FOUND = -8,   /* a named input, output or file does not exist */
    INGOT_ERR_INTERNAL = -9     /* a bug in ingot */
} ingot_status;

/* A static string naming the status ("ok", "format error", ...). Any thread. */
const char *ingot_status_str(ingot_status st);

/* Element types. The numbers are ONNX's TensorProto.DataType values. */
typedef enum ingot_dtype {
    INGOT_DTYPE_UNDEFINED = 0,
    INGOT_DTYPE_F32 = 1,
    INGOT_DTYPE_U8 = 2,
    INGOT_DTYPE_I8 = 3,
    INGOT_DTYPE_U16 = 4,
    INGOT_DTYPE_I16 = 5,
    INGOT_DTYPE_I32 = 6,
    INGOT_DTYPE_I64 = 7,
    INGOT_DTYPE_STRING = 8, /* data is an array of NUL-terminated char* */
    INGOT_DTYPE_BOOL = 9,   /* one byte per element, 0 or 1 */
    INGOT_DTYPE_F16 = 10,
    INGOT_DTYPE_F64 = 11,
    INGOT_DTYPE_U32 = 12,
    INGOT_DTYPE_U64 = 13,
    INGOT_DTYPE_BF16 = 16
} ingot_dtype;

/* Name of a dtype ("float32", "int64", ...) or "?" for unknown. Any thread. */
const char *ingot_dtype_name(int dtype);
/* Bytes per element (string: sizeof(char*)), 0 for unknown types. */
size_t ingot_dtype_size(int dtype);

#define INGOT_MAX_DIMS 16

/* ---- tensors ---------------------------------------------------------- */

typedef struct ingot_tensor ingot_tensor;

/* A new tensor with zeroed storage owned by the tensor. */
ingot_status ingot_tensor_create(int dtype, int ndim, const int64_t *dims, ingot_tensor **out);
/* A tensor over caller memory; the caller keeps data alive and frees it. */
ingot_status ingot_tensor_wrap(int dtype, int ndim, const int64_t *dims, void *data, ingot_tensor **out);
void ingot_tensor_free(ingot_tensor *t);
int ingot_tensor_dtype(const ingot_tensor *t);
int ingot_tensor_ndim(const ingot_tensor *t);
const int64_t *ingot_tensor_dims(const ingot_tensor *t);
int64_t ingot_tensor_count(const ingot_tensor *t);
void *ingot_tensor_data(const ingot_tensor *t);
size_t ingot_tensor_nbytes(const ingot_tensor *t);

/* ---- models ----------------------------------------------------------- */

typedef struct ingot_model ingot_model;

/* Load an ONNX model. Weights stay in the read-only mapping of the file (or of
 * its external data files); nothing is copied unless misaligned. On failure
 * *out is NULL and err (if given) names the problem: field, byte offset, op. */
ingot_status ingot_model_load(const char *path, ingot_model **out, char *err, size_t errlen);
/* Load from memory; buf must outlive the model (weights point into it). */
ingot_status ingot_model_load_buffer(const void *buf, size_t len, ingot_model **out, char *err,
                                     size_t errlen);
/* Read a model's structure without preparing it to run (no operator binding,
 * folding or weight packing): for `ingot info` and tools. Such a model cannot
 * be given to ingot_session_create (INGOT_ERR_INVALID_ARG). */
ingot_status ingot_model_inspect(const char *path, ingot_model **out, char *err, size_t errlen);
void ingot_model_free(ingot_model *m);

/* Description of a graph input or output. Pointers stay valid while the model lives. */
typedef struct ingot_value_info {
    const char *name;
    int dtype;                 /* ingot_dtype; 0 when not a tensor */
    int ndim;                  /* -1 when the rank is unknown */
    int64_t dims[INGOT_MAX_DIMS]; /* -1 for a symbolic or unknown dim */
    const char *dim_names[INGOT_MAX_DIMS]; /* symbolic name or NULL */
    int kind;                  /* 0 tensor, 1 sequence, 2 optional, 3 other */
} ingot_value_info;

int ingot_model_num_inputs(const ingot_model *m);
int ingot_model_num_outputs(const ingot_model *m);
ingot_status ingot_model_input(const ingot_model *m, int i, ingot_value_info *info);
ingot_status ingot_model_output(const ingot_model *m, int i, ingot_value_info *info);

/* Summary facts for tools (`ingot info`). Strings are owned by the model. */
typedef struct ingot_model_summary {
    const char *format;        /* "onnx" */
    int64_t ir_version;
    const char *producer;
    int n_opsets;
    const char *opset_domains[16];
    int64_t opset_versions[16];
    int64_t n_nodes;
    int64_t n_initializers;
    int64_t param_bytes;       /* bytes of all initializers */
    size_t mapped_bytes;       /* bytes of the file mapping */
} ingot_model_summary;
void ingot_model_summarize(const ingot_model *m, ingot_model_summary *s);
/* Histogram of operator types: calls fn once per distinct (domain, op) with the
 * node count and whether ingot implements the operator. */
void ingot_model_op_histogram(const ingot_model *m,
                              void (*fn)(void *ud, const char *domain, const char *op, int64_t count,
                                         int supported),
                              void *ud);

/* ---- sessions --------------------------------------------------------- */

typedef struct ingot_session ingot_session;

typedef struct ingot_session_options {
    int threads; /* compute threads including the caller; <= 0 means all cores */
} ingot_session_options;

/* A session runs one model; several sessions may share a model. opts may be NULL. */
ingot_status ingot_session_create(const ingot_model *m, const ingot_session_options *opts,
                                  ingot_session **out);
void ingot_session_free(ingot_session *s);

/* Run the model. names[i] names the graph input that inputs[i] feeds; inputs
 * are read, never kept. Outputs are read with ingot_session_output afterwards. */
ingot_status ingot_session_run(ingot_session *s, int n, const char *const *names,
                               const ingot_tensor *const *inputs);
int ingot_session_num_outputs(const ingot_session *s);
/* Output i of the last run, owned by the session (valid until the next run or
 * free); NULL when output i is not a tensor (a sequence or an empty optional). */
const ingot_tensor *ingot_session_output(const ingot_session *s, int i);
/* Message of the last failed call on this session ("" when none). */
const char *ingot_session_error(const ingot_session *s);

/* Threads a session uses when its options say 0: the CPUs this process may run on. */
int ingot_default_threads(void);

/* The instruction-set tier kernels run with ("scalar", "avx2", "avx512"). */
const char *ingot_isa_name(void);

#ifdef __cplusplus
}
#endif
#endif
