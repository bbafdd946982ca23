/*
 * kserve_codec.h: the wire format of KServe Open Inference Protocol v2 infer
 * requests and responses, JSON tensors plus the binary tensor data extension
 * (Inference-Header-Content-Length, binary_data_size, binary_data,
 * binary_data_output) that tritonclient uses. Pure functions over bytes: no
 * socket, no model, so the fuzzer (tests/fuzz/fuzz_kserve.c) calls them as is.
 *
 * Tensors are decoded into kv_tensor values holding little-endian element data
 * in ingot's dtypes (BYTES become INGOT_DTYPE_STRING: an array of
 * NUL-terminated char*). Every size is checked against the body it came from
 * before anything is allocated, so a request can never ask for more memory than
 * a small multiple of its own length.
 */
#ifndef INGOT_SERVER_KSERVE_CODEC_H
#define INGOT_SERVER_KSERVE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "ingot.h"

#define KV_MAX_TENSORS 64

typedef struct kv_tensor {
    char *name;
    int dtype;                    /* ingot_dtype */
    int ndim;
    int64_t dims[INGOT_MAX_DIMS];
    int64_t count;                /* product of dims */
    void *data;                   /* count elements; STRING: char*[count] */
    size_t nbytes;                /* count * element size (STRING: pointer size) */
    int binary;                   /* output: send in the binary section */
} kv_tensor;

typedef struct kv_output_req {
    char *name;
    int binary; /* -1: not said, 0 JSON, 1 binary */
} kv_output_req;

typedef struct kv_request {
    char *id;                     /* NULL when the request has none */
    int binary_output;            /* request parameter binary_data_output */
    kv_tensor *inputs;
    int ninputs;
    kv_output_req *outputs;       /* NULL/0: all outputs */
    int noutputs;
} kv_request;

/* KServe datatype name <-> ingot dtype. Unknown: NULL / 0. */
const char *kserve_dtype_name(int dtype);
int kserve_dtype_from_name(const char *name);

/* Parse an infer request. header_len_hdr is the Inference-Header-Content-Length
 * header value (NULL when absent: the whole body is JSON). Returns 0 and *out,
 * or -1 with a message for a 400 reply. */
int kserve_parse_infer(const uint8_t *body, size_t len, const char *header_len_hdr, kv_request **out, char *err,
                       size_t errlen);
void kv_request_free(kv_request *r);
void kv_tensor_clear(kv_tensor *t);

/* Encode an infer response. outs[i].binary picks the section of each output.
 * *body is malloc'd; *header_len is the JSON part's length when some output is
 * binary (send it as Inference-Header-Content-Length), else 0. 0 ok, -1 on
 * allocation failure. */
int kserve_encode_infer(const char *model, const char *version, const char *id, const kv_tensor *outs, int n,
                        char **body, size_t *len, size_t *header_len);

#endif
