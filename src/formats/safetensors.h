/*
 * safetensors.h: reading Hugging Face .safetensors files, zero copy.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON (an object mapping tensor
 * names to {"dtype", "shape", "data_offsets": [begin, end]} plus an optional "__metadata__"
 * object of string values), then the data buffer; offsets are relative to the buffer. The
 * reader parses the header with the core's own bounded JSON reader (formats/json.h) and checks
 * every size and offset against the file: header length within the file and the limit, known
 * dtype, dims non-negative with an element count that does not overflow, end - begin equal to
 * elements x dtype size, end within the buffer, no two tensors overlapping, no duplicate name.
 * Errors name the tensor (or field) and the file's byte offset. Tensor data pointers point
 * into the caller's buffer or the file mapping (never copied, possibly unaligned for the type).
 *
 * A model folder may hold one model.safetensors or shards listed by
 * model.safetensors.index.json ({"weight_map": {tensor: file}}): it_st_open_dir maps each shard
 * once and checks that every tensor of the weight map is in its shard.
 *
 * Threads: a parsed it_safetensors is immutable; any thread may read it.
 */
#ifndef INGOT_FORMATS_SAFETENSORS_H
#define INGOT_FORMATS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

#define IT_ST_MAX_HEADER ((uint64_t)100 << 20) /* the limit of the reference implementation */
#define IT_ST_MAX_SHARDS 1024

enum {
    IT_ST_BOOL, IT_ST_U8, IT_ST_I8, IT_ST_F8_E4M3, IT_ST_F8_E5M2, IT_ST_I16, IT_ST_U16, IT_ST_F16, IT_ST_BF16,
    IT_ST_I32, IT_ST_U32, IT_ST_F32, IT_ST_I64, IT_ST_U64, IT_ST_F64, IT_ST_DTYPE_COUNT
};
const char *it_st_dtype_name(int dtype); /* "F32" ... */
size_t it_st_dtype_size(int dtype);      /* bytes per element, 0 when unknown */

typedef struct it_st_tensor {
    const char *name;          /* NUL-terminated */
    int dtype;                 /* IT_ST_* */
    int ndim;
    int64_t shape[IT_MAX_DIMS]; /* row-major (shape[ndim-1] varies fastest) */
    int64_t n_elements;
    uint64_t begin, end;       /* relative to the shard's data buffer */
    const void *data;          /* into the buffer / mapping */
    int shard;                 /* index of the file it lives in */
} it_st_tensor;

typedef struct it_st_shard {
    const uint8_t *buf;
    size_t len;
    size_t data_offset;        /* 8 + header length */
    void *map;                 /* mapping owned by the reader, or NULL */
    size_t map_len;
    char *path;
} it_st_shard;

typedef struct it_safetensors {
    int64_t n_tensors;
    it_st_tensor *tensors;
    int64_t n_meta;            /* __metadata__ string pairs (of the first shard) */
    const char **meta_keys, **meta_vals;
    int n_shards;
    it_st_shard *shards;
    int64_t *hash;             /* name hash table: tensor index + 1, 0 empty */
    int64_t hash_cap;
    it_arena arena;
} it_safetensors;

/* Parse one safetensors file held in buf (which must outlive st). st is zeroed first and
 * freed on failure, so it_st_free is safe either way. name labels messages (may be NULL). */
int it_st_parse(const void *buf, size_t len, const char *name, it_safetensors *st, it_err *e);
/* Map path read-only and parse it. */
int it_st_open(const char *path, it_safetensors *st, it_err *e);
/* A model folder: dir/model.safetensors.index.json (sharded) or dir/model.safetensors. */
int it_st_open_dir(const char *dir, it_safetensors *st, it_err *e);
void it_st_free(it_safetensors *st);

const it_st_tensor *it_st_find(const it_safetensors *st, const char *name);
/* Metadata value or NULL. */
const char *it_st_meta(const it_safetensors *st, const char *key);

/* Copy tensor t to f32 (F32, F16, BF16, F64 sources) into dst[n_elements]. */
int it_st_to_f32(const it_st_tensor *t, float *dst, it_err *e);

#endif
