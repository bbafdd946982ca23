/*
 * tensor.h: ingot's tensor descriptor and element types.
 *
 * A tensor is a dtype, a shape (row-major, contiguous) and a data pointer. The
 * storage is owned by someone else unless `owned` is set: the executor's memory
 * plan, a read-only model mapping, or a caller buffer. String tensors hold an
 * array of char* (each string owned by the tensor when `owned`).
 */
#ifndef INGOT_TENSOR_H
#define INGOT_TENSOR_H

#include <stdint.h>
#include <string.h>

#include "base/base.h"

enum {
    IT_F32 = 1, IT_U8 = 2, IT_I8 = 3, IT_U16 = 4, IT_I16 = 5, IT_I32 = 6, IT_I64 = 7,
    IT_STRING = 8, IT_BOOL = 9, IT_F16 = 10, IT_F64 = 11, IT_U32 = 12, IT_U64 = 13,
    IT_C64 = 14, IT_C128 = 15, IT_BF16 = 16,
    IT_F8E4M3FN = 17, IT_F8E4M3FNUZ = 18, IT_F8E5M2 = 19, IT_F8E5M2FNUZ = 20,
    IT_U4 = 21, IT_I4 = 22, IT_F4E2M1 = 23, IT_F8E8M0 = 24, IT_U2 = 25, IT_I2 = 26,
    IT_DTYPE_COUNT = 27
};

struct ingot_tensor {
    int32_t dtype;
    int32_t ndim;
    int64_t dims[IT_MAX_DIMS];
    void *data;
    size_t nbytes;
    uint8_t owned; /* data (and strings) freed with the tensor */
};
typedef struct ingot_tensor it_tensor;

size_t it_dtype_size(int dtype); /* 0 for unknown and sub-byte types */
const char *it_dtype_name(int dtype);
int it_dtype_is_float(int dtype);
int it_dtype_is_int(int dtype);  /* signed or unsigned integer (not bool) */
int it_dtype_is_signed(int dtype);
int it_dtype_from_name(const char *name);

/* Element count; -1 on overflow or on a negative dim. */
int64_t it_shape_count(int ndim, const int64_t *dims);
static inline int64_t it_count(const it_tensor *t) { return it_shape_count(t->ndim, t->dims); }
/* Storage bytes of `count` elements of dtype (sub-byte types packed); -1 on overflow. */
int64_t it_dtype_bytes(int dtype, int64_t count);

/* Set dtype and shape (nbytes computed, data untouched). */
int it_tensor_set_shape(it_tensor *t, int dtype, int ndim, const int64_t *dims, it_err *e);
/* Allocate owned zeroed storage for an already shaped tensor. */
int it_tensor_alloc(it_tensor *t, it_err *e);
/* Release owned storage; resets data. */
void it_tensor_release(it_tensor *t);
/* Deep copy into dst (dst becomes owned). */
int it_tensor_copy(it_tensor *dst, const it_tensor *src, it_err *e);
int it_shape_equal(const it_tensor *a, const it_tensor *b);
void it_shape_str(int ndim, const int64_t *dims, char *buf, size_t n);

/* ---- element conversions ---- */
static inline float it_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else { /* subnormal */
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) bits = sign | 0x7f800000u | (man << 13);
    else bits = sign | ((exp + 112) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}
uint16_t it_f32_to_f16(float f); /* round to nearest even */
static inline float it_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}
uint16_t it_f32_to_bf16(float f); /* round to nearest even, NaN kept */

/* Read element i of any numeric dtype as double / write a double into one. */
double it_get_f64(const void *data, int dtype, int64_t i);
void it_set_f64(void *data, int dtype, int64_t i, double v);
int64_t it_get_i64(const void *data, int dtype, int64_t i);
/* Convert n elements between dtypes with ONNX Cast semantics (no strings).
 * `saturate` bit 0: the Cast saturate attribute (float8 targets: clamp out of
 * range values to the largest finite instead of inf/NaN); bits 1-2: rounding
 * of a float8e8m0 target (IT_E8M0_* << 1, default up). Float to int
 * truncates; to int4/uint4/int2/uint2 rounds to nearest even and wraps. */
enum { IT_E8M0_UP = 0, IT_E8M0_DOWN = 1, IT_E8M0_NEAREST = 2 };
int it_convert(void *dst, int dtype_dst, const void *src, int dtype_src, int64_t n, int saturate);

#endif
