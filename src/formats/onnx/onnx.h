/*
 * onnx.h: reading ONNX ModelProto files into ingot's graph IR.
 *
 * The reader walks the protobuf wire format over the caller's buffer (usually
 * a read-only mmap of the file). Initializer data in raw_data, or in external
 * data files (mapped too), is referenced in place when suitably aligned;
 * nothing else is copied. Every length, count and dim is checked; a malformed
 * file fails with the field and byte offset at fault.
 */
#ifndef INGOT_ONNX_H
#define INGOT_ONNX_H

#include "formats/onnx/pb.h"
#include "graph/graph.h"

typedef struct it_mapping {
    void *addr;
    size_t len;
    struct it_mapping *next;
} it_mapping;

typedef struct it_onnx_model {
    it_graph *graph;
    int64_t ir_version;
    const char *producer_name, *producer_version, *domain;
    int64_t model_version;
    int64_t param_bytes;
    int64_t n_initializers;
    it_mapping *extra_maps; /* external data files */
    const char *dir;        /* directory for external data (may be NULL) */
    int buf_is_mapping;     /* the input buffer is a private read-only file mapping */
} it_onnx_model;

/* Parse a ModelProto in buf (which must outlive the model). dir locates
 * external data files (NULL: external data is an error). */
int it_onnx_load(const void *buf, size_t len, const char *dir, it_onnx_model *m, it_err *e);
/* Same, telling the reader that buf is a read-only file mapping: pages of
 * weights it had to copy (misaligned raw_data) are then released from memory. */
int it_onnx_load_mapped(const void *buf, size_t len, const char *dir, it_onnx_model *m, it_err *e);
void it_onnx_free(it_onnx_model *m);

/* Parse a TensorProto into an owned tensor. */
int it_onnx_parse_tensor(const void *buf, size_t len, it_tensor *t, it_err *e);
/* Parse a serialized value (TensorProto, SequenceProto or OptionalProto per
 * `kind`, IT_KIND_*) into an owned it_value. */
int it_onnx_parse_value(const void *buf, size_t len, int kind, it_value *v, it_err *e);

/* Map a whole file read-only. */
int it_map_file(const char *path, void **addr, size_t *len, it_err *e);
void it_unmap(void *addr, size_t len);

#endif
