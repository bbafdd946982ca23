/*
 * gguf.h: reading and writing GGUF files (the llama.cpp / ggml model format).
 *
 * The reader parses versions 2 and 3 (little-endian) over a caller buffer,
 * normally a read-only mmap of the file: metadata key/value pairs of every
 * GGUF value type (nested arrays included), `general.alignment`, and the
 * tensor infos, whose data pointers point into the buffer (zero copy). Every
 * count, length, dim and offset is checked for overflow and against the file
 * size and ingot's limits; a malformed file fails with the field and byte
 * offset at fault. Nothing read from a file can crash the reader.
 *
 * The writer collects key/value pairs and tensor infos, then writes the
 * header, the aligned tensor infos and the tensor data (each tensor padded
 * to the alignment) in the layout llama.cpp's gguf loader expects.
 *
 * Dims are in ggml order: ne[0] is the fastest-varying dim (the row length).
 */
#ifndef INGOT_GGUF_H
#define INGOT_GGUF_H

#include <stdint.h>
#include <stdio.h>

#include "base/base.h"

/* GGUF metadata value types (numbering of the GGUF spec). */
enum {
    IT_GGUF_U8 = 0, IT_GGUF_I8 = 1, IT_GGUF_U16 = 2, IT_GGUF_I16 = 3, IT_GGUF_U32 = 4,
    IT_GGUF_I32 = 5, IT_GGUF_F32 = 6, IT_GGUF_BOOL = 7, IT_GGUF_STRING = 8, IT_GGUF_ARRAY = 9,
    IT_GGUF_U64 = 10, IT_GGUF_I64 = 11, IT_GGUF_F64 = 12, IT_GGUF_TYPE_COUNT = 13
};

#define IT_GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define IT_GGUF_DEFAULT_ALIGNMENT 32
/* largest general.alignment accepted (real files use 32 to 4096) */
#define IT_GGUF_MAX_ALIGNMENT (1u << 20)
#define IT_GGUF_MAX_DEPTH 16      /* nesting of arrays in arrays */
#define IT_GGUF_MAX_NAME 64       /* llama.cpp's GGML_MAX_NAME: tensor names are shorter */

const char *it_gguf_type_name(uint32_t type); /* "u8" ... "f64", "?" when unknown */
/* Bytes of one element of a fixed-size type; 0 for string, array and unknown. */
size_t it_gguf_type_size(uint32_t type);

/* A metadata value, viewed in place. Strings are not NUL-terminated. */
typedef struct it_gguf_val {
    uint32_t type;      /* IT_GGUF_* */
    uint32_t arr_type;  /* element type when type is IT_GGUF_ARRAY */
    uint64_t n;         /* array: element count; string: byte length; else 1 */
    const uint8_t *p;   /* string bytes, array elements, or the scalar */
    const uint8_t *raw; /* the whole encoded value (array: from its element type field) */
    uint64_t raw_size;  /* bytes of the encoded value */
    size_t offset;      /* file offset of raw */
} it_gguf_val;

typedef struct it_gguf_kv {
    const char *key;     /* NUL-terminated copy */
    it_gguf_val v;
    uint64_t *elem_off;  /* arrays of strings/arrays: element offsets from v.p, built on demand */
} it_gguf_kv;

typedef struct it_gguf_tensor {
    const char *name;          /* NUL-terminated copy */
    uint32_t type;             /* ggml type (IT_GGML_*, tensor/quant.h) */
    int32_t ndim;
    int64_t ne[IT_MAX_DIMS];   /* ggml order; dims past ndim are 1 */
    uint64_t offset;           /* relative to the data section */
    uint64_t nbytes;
    const void *data;          /* into the buffer */
    size_t info_offset;        /* file offset of the tensor info */
} it_gguf_tensor;

typedef struct it_gguf {
    uint32_t version;
    uint32_t alignment;
    int64_t n_kv;
    it_gguf_kv *kv;
    int64_t n_tensors;
    it_gguf_tensor *tensors;
    size_t data_offset;        /* file offset of the data section */
    const uint8_t *buf;
    size_t len;
    void *map;                 /* set by it_gguf_open: the file mapping */
    size_t map_len;
    int64_t *khash, *thash;    /* key / tensor name hash tables (index+1, 0 empty) */
    int64_t khash_cap, thash_cap;
    it_arena arena;
} it_gguf;

/* Parse a GGUF file held in buf (which must outlive g). g is zeroed first; on
 * failure it is freed again, so it_gguf_free is safe either way. */
int it_gguf_parse(const void *buf, size_t len, it_gguf *g, it_err *e);
/* Map path read-only and parse it; the mapping belongs to g. */
int it_gguf_open(const char *path, it_gguf *g, it_err *e);
void it_gguf_free(it_gguf *g);

/* ---- metadata accessors ----
 * Lookups return the index or -1. The typed getters return 0, INGOT_ERR_NOT_FOUND
 * when the key is missing, or INGOT_ERR_FORMAT naming the key and its type. */
int64_t it_gguf_find_key(const it_gguf *g, const char *key);
const it_gguf_val *it_gguf_value(const it_gguf *g, int64_t k);
/* Any integer type (and bool), range-checked into int64. */
int it_gguf_val_int(const it_gguf_val *v, int64_t *out);
/* f32 or f64 (integers too, converted). */
int it_gguf_val_float(const it_gguf_val *v, double *out);
int it_gguf_get_int(const it_gguf *g, const char *key, int64_t *out, it_err *e);
int it_gguf_get_float(const it_gguf *g, const char *key, double *out, it_err *e);
int it_gguf_get_bool(const it_gguf *g, const char *key, int *out, it_err *e);
/* The string in place (not NUL-terminated). */
int it_gguf_get_str(const it_gguf *g, const char *key, const char **s, uint64_t *len, it_err *e);
/* An array; elem_type < 0 accepts any element type. */
int it_gguf_get_arr(const it_gguf *g, const char *key, int elem_type, it_gguf_val *out, it_err *e);

/* Element i of an array value (any element type; strings and arrays are walked
 * from the start, O(i)). Returns 0, or INGOT_ERR_INVALID_ARG out of range. */
int it_gguf_val_elem(const it_gguf_val *arr, uint64_t i, it_gguf_val *out);
/* Element i of the array in kv k in O(1): for string and array elements the
 * offset table is built on the first call (so g is modified; call once before
 * sharing g between threads). */
int it_gguf_kv_elem(it_gguf *g, int64_t k, uint64_t i, it_gguf_val *out, it_err *e);
/* String element i of the string array in kv k. */
int it_gguf_kv_str(it_gguf *g, int64_t k, uint64_t i, const char **s, uint64_t *len, it_err *e);

/* ---- tensors ---- */
int64_t it_gguf_find_tensor(const it_gguf *g, const char *name);
const it_gguf_tensor *it_gguf_tensor_get(const it_gguf *g, const char *name);

/* ---- writer ---- */
typedef struct it_gguf_writer it_gguf_writer;
it_gguf_writer *it_gguf_writer_create(void);
void it_gguf_writer_free(it_gguf_writer *w);

/* Each add copies key and value. Keys must be unique. `general.alignment`
 * (u32, a power of two) sets the alignment of the file being written. */
int it_gguf_w_u8(it_gguf_writer *w, const char *key, uint8_t v, it_err *e);
int it_gguf_w_i8(it_gguf_writer *w, const char *key, int8_t v, it_err *e);
int it_gguf_w_u16(it_gguf_writer *w, const char *key, uint16_t v, it_err *e);
int it_gguf_w_i16(it_gguf_writer *w, const char *key, int16_t v, it_err *e);
int it_gguf_w_u32(it_gguf_writer *w, const char *key, uint32_t v, it_err *e);
int it_gguf_w_i32(it_gguf_writer *w, const char *key, int32_t v, it_err *e);
int it_gguf_w_u64(it_gguf_writer *w, const char *key, uint64_t v, it_err *e);
int it_gguf_w_i64(it_gguf_writer *w, const char *key, int64_t v, it_err *e);
int it_gguf_w_f32(it_gguf_writer *w, const char *key, float v, it_err *e);
int it_gguf_w_f64(it_gguf_writer *w, const char *key, double v, it_err *e);
int it_gguf_w_bool(it_gguf_writer *w, const char *key, int v, it_err *e);
int it_gguf_w_str(it_gguf_writer *w, const char *key, const char *s, size_t len, it_err *e);
/* Array of a fixed-size element type (n elements, little-endian in memory). */
int it_gguf_w_arr(it_gguf_writer *w, const char *key, uint32_t elem_type, const void *data, uint64_t n, it_err *e);
/* Array of strings; lens may be NULL (then strlen). */
int it_gguf_w_arr_str(it_gguf_writer *w, const char *key, const char *const *s, const size_t *lens, uint64_t n,
                      it_err *e);
/* Any value given in its GGUF encoding (what it_gguf_val.raw holds): copies
 * metadata between files and writes nested arrays. The encoding is checked. */
int it_gguf_w_raw(it_gguf_writer *w, const char *key, uint32_t type, const void *raw, size_t raw_size, it_err *e);
int it_gguf_w_val(it_gguf_writer *w, const char *key, const it_gguf_val *v, it_err *e);
/* Remove a key added before (no-op when absent). */
void it_gguf_w_remove(it_gguf_writer *w, const char *key);

/* Add a tensor (ne in ggml order, ndim 1..4). data (nbytes = the type's row
 * size times the rows) is not copied and must stay valid until the write; it
 * may be NULL, and then the write's fill callback produces it. */
int it_gguf_w_tensor(it_gguf_writer *w, const char *name, uint32_t ggml_type, int ndim, const int64_t *ne,
                     const void *data, it_err *e);
int64_t it_gguf_w_tensor_count(const it_gguf_writer *w);

/* Fills dst (nbytes) with the data of tensor `index` (in order of addition). */
typedef int (*it_gguf_fill_fn)(void *ud, int64_t index, void *dst, size_t nbytes, it_err *e);
/* Write the file. To a path: through a temporary file renamed into place. */
int it_gguf_w_write_file(it_gguf_writer *w, const char *path, it_gguf_fill_fn fill, void *ud, it_err *e);
int it_gguf_w_write_stream(it_gguf_writer *w, FILE *f, it_gguf_fill_fn fill, void *ud, it_err *e);
/* Write to a malloc'd buffer (free it with free()). */
int it_gguf_w_write_mem(it_gguf_writer *w, uint8_t **out, size_t *len, it_gguf_fill_fn fill, void *ud, it_err *e);

#endif
