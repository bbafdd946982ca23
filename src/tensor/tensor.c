/*
 * tensor.c: dtype tables, shape arithmetic, tensor storage and conversions
 * between element types (including f16, bf16 and the float8 formats).
 */
#include "tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const struct { const char *name; size_t size; } dtypes[IT_DTYPE_COUNT] = {
    [IT_F32] = {"float32", 4}, [IT_U8] = {"uint8", 1}, [IT_I8] = {"int8", 1},
    [IT_U16] = {"uint16", 2}, [IT_I16] = {"int16", 2}, [IT_I32] = {"int32", 4},
    [IT_I64] = {"int64", 8}, [IT_STRING] = {"string", sizeof(char *)}, [IT_BOOL] = {"bool", 1},
    [IT_F16] = {"float16", 2}, [IT_F64] = {"float64", 8}, [IT_U32] = {"uint32", 4},
    [IT_U64] = {"uint64", 8}, [IT_C64] = {"complex64", 8}, [IT_C128] = {"complex128", 16},
    [IT_BF16] = {"bfloat16", 2}, [IT_F8E4M3FN] = {"float8e4m3fn", 1},
    [IT_F8E4M3FNUZ] = {"float8e4m3fnuz", 1}, [IT_F8E5M2] = {"float8e5m2", 1},
    [IT_F8E5M2FNUZ] = {"float8e5m2fnuz", 1}, [IT_U4] = {"uint4", 0}, [IT_I4] = {"int4", 0},
    [IT_F4E2M1] = {"float4e2m1", 0}, [IT_F8E8M0] = {"float8e8m0", 1}, [IT_U2] = {"uint2", 0},
    [IT_I2] = {"int2", 0},
};

size_t it_dtype_size(int dt) { return dt > 0 && dt < IT_DTYPE_COUNT ? dtypes[dt].size : 0; }
const char *it_dtype_name(int dt) {
    return dt > 0 && dt < IT_DTYPE_COUNT && dtypes[dt].name ? dtypes[dt].name : "?";
}
int it_dtype_from_name(const char *name) {
    for (int i = 1; i < IT_DTYPE_COUNT; i++)
        if (dtypes[i].name && !strcmp(dtypes[i].name, name)) return i;
    return 0;
}
size_t ingot_dtype_size(int dt) { return it_dtype_size(dt); }
const char *ingot_dtype_name(int dt) { return it_dtype_name(dt); }

int it_dtype_is_float(int dt) {
    return dt == IT_F32 || dt == IT_F64 || dt == IT_F16 || dt == IT_BF16 ||
           (dt >= IT_F8E4M3FN && dt <= IT_F8E5M2FNUZ) || dt == IT_F4E2M1 || dt == IT_F8E8M0;
}
int it_dtype_is_int(int dt) {
    switch (dt) {
    case IT_U8: case IT_I8: case IT_U16: case IT_I16: case IT_I32: case IT_I64: case IT_U32:
    case IT_U64: case IT_U4: case IT_I4: case IT_U2: case IT_I2: return 1;
    }
    return 0;
}
int it_dtype_is_signed(int dt) {
    return dt == IT_I8 || dt == IT_I16 || dt == IT_I32 || dt == IT_I64 || dt == IT_I4 || dt == IT_I2;
}

int64_t it_shape_count(int ndim, const int64_t *dims) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0 || !it_mul_ok(n, dims[i], &n)) return -1;
    }
    return n;
}

int64_t it_dtype_bytes(int dt, int64_t count) {
    if (count < 0) return -1;
    if (dt == IT_U4 || dt == IT_I4 || dt == IT_F4E2M1) return (count + 1) / 2;
    if (dt == IT_U2 || dt == IT_I2) return (count + 3) / 4;
    int64_t r;
    if (!it_mul_ok(count, (int64_t)it_dtype_size(dt), &r)) return -1;
    return r;
}

int it_tensor_set_shape(it_tensor *t, int dtype, int ndim, const int64_t *dims, it_err *e) {
    if (ndim < 0 || ndim > IT_MAX_DIMS)
        return it_fail(e, INGOT_ERR_LIMIT, "rank %d exceeds the limit of %d", ndim, IT_MAX_DIMS);
    if (dtype <= 0 || dtype >= IT_DTYPE_COUNT || !dtypes[dtype].name)
        return it_fail(e, INGOT_ERR_UNSUPPORTED, "unsupported element type %d", dtype);
    int64_t n = it_shape_count(ndim, dims);
    if (n < 0 || n > IT_LIMIT_ELEMENTS)
        return it_fail(e, INGOT_ERR_LIMIT, "tensor shape is negative or too large");
    int64_t b = it_dtype_bytes(dtype, n);
    if (b < 0 || b > IT_LIMIT_TENSOR_BYTES)
        return it_fail(e, INGOT_ERR_LIMIT, "tensor of %lld elements is too large", (long long)n);
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->dims[i] = dims[i];
    t->nbytes = (size_t)b;
    return 0;
}

int it_tensor_alloc(it_tensor *t, it_err *e) {
    t->data = it_calloc(t->nbytes);
    if (!t->data) return it_fail(e, INGOT_ERR_NOMEM, "out of memory allocating %zu bytes", t->nbytes);
    t->owned = 1;
    return 0;
}

void it_tensor_release(it_tensor *t) {
    if (t->owned && t->data) {
        if (t->dtype == IT_STRING) {
            char **s = t->data;
            int64_t n = it_count(t);
            for (int64_t i = 0; i < n; i++) free(s[i]);
        }
        it_free(t->data);
    }
    t->data = NULL;
    t->owned = 0;
}

int it_tensor_copy(it_tensor *dst, const it_tensor *src, it_err *e) {
    it_tensor t = *src;
    t.owned = 0;
    t.data = NULL;
    int st = it_tensor_alloc(&t, e);
    if (st) return st;
    if (src->dtype == IT_STRING) {
        int64_t n = it_count(src);
        char **d = t.data, **s = src->data;
        for (int64_t i = 0; i < n; i++) {
            d[i] = it_strdup(s[i] ? s[i] : "");
            if (!d[i]) {
                it_tensor_release(&t);
                return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
            }
        }
    } else if (src->nbytes) {
        memcpy(t.data, src->data, src->nbytes);
    }
    *dst = t;
    return 0;
}

int it_shape_equal(const it_tensor *a, const it_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

void it_shape_str(int ndim, const int64_t *dims, char *buf, size_t n) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (int i = 0; i < ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, i ? ",%lld" : "%lld", (long long)dims[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

uint16_t it_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff);
    uint32_t man = x & 0x7fffff;
    if (exp == 255) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 | (man >> 13) : 0));
    int32_t e = exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000;
        int shift = 14 - e;
        uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; /* may carry into exponent: fine */
    return (uint16_t)(sign | h);
}

uint16_t it_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

/* float8 decoders (ONNX definitions) */
static float f8_to_f32(uint8_t v, int dt) {
    int sign = v >> 7;
    float r;
    switch (dt) {
    case IT_F8E4M3FN: {
        int e = (v >> 3) & 15, m = v & 7;
        if (e == 15 && m == 7) return NAN;
        r = e ? ldexpf(1.f + m / 8.f, e - 7) : ldexpf(m / 8.f, -6);
        break;
    }
    case IT_F8E4M3FNUZ: {
        if (v == 0x80) return NAN;
        int e = (v >> 3) & 15, m = v & 7;
        r = e ? ldexpf(1.f + m / 8.f, e - 8) : ldexpf(m / 8.f, -7);
        break;
    }
    case IT_F8E5M2: {
        int e = (v >> 2) & 31, m = v & 3;
        if (e == 31) return m ? NAN : (sign ? -INFINITY : INFINITY);
        r = e ? ldexpf(1.f + m / 4.f, e - 15) : ldexpf(m / 4.f, -14);
        break;
    }
    case IT_F8E5M2FNUZ: {
        if (v == 0x80) return NAN;
        int e = (v >> 2) & 31, m = v & 3;
        r = e ? ldexpf(1.f + m / 4.f, e - 16) : ldexpf(m / 4.f, -15);
        break;
    }
    case IT_F8E8M0:
        if (v == 0xff) return NAN;
        return ldexpf(1.f, (int)v - 127);
    default: return 0;
    }
    return sign ? -r : r;
}

/* float8e8m0 (a bare power of two 2^(e-127), 0xff NaN): the float32 exponent
 * field, rounded by the mantissa as `mode` says (IT_E8M0_UP: any fraction
 * rounds up; DOWN: truncates; NEAREST: half to even on the exponent). The sign
 * is ignored; zero encodes as 0x00 (2^-127). */
static uint8_t f32_to_e8m0(float f, int saturate, int mode) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t e = (x >> 23) & 0xff, m = x & 0x7fffff;
    if (e == 0xff) return (m || !saturate) ? 0xff : 0xfe; /* NaN, inf */
    if (mode == IT_E8M0_UP) e += m != 0;
    else if (mode == IT_E8M0_NEAREST) e += m > 0x400000 || (m == 0x400000 && (e & 1));
    if (e == 0xff) return saturate ? 0xfe : 0xff;
    return (uint8_t)e;
}

/* Encode to float8 with round-to-nearest-even; saturate clamps to the max finite. */
static uint8_t f32_to_f8(float f, int dt, int saturate) {
    if (dt == IT_F8E8M0) return f32_to_e8m0(f, saturate, IT_E8M0_UP);
    int ebits = (dt == IT_F8E4M3FN || dt == IT_F8E4M3FNUZ) ? 4 : 5, mbits = 7 - ebits;
    int uz = dt == IT_F8E4M3FNUZ || dt == IT_F8E5M2FNUZ;
    int bias = (ebits == 4 ? 7 : 15) + uz;
    uint8_t nan = uz ? 0x80 : (dt == IT_F8E4M3FN ? 0x7f : 0x7f);
    if (isnan(f)) return nan;
    uint8_t sign = signbit(f) ? 0x80 : 0;
    float a = fabsf(f);
    /* max finite */
    float maxv;
    if (dt == IT_F8E4M3FN) maxv = 448.f;
    else if (dt == IT_F8E4M3FNUZ) maxv = 240.f;
    else maxv = 57344.f;
    if (isinf(a)) {
        if (saturate) return sign | (dt == IT_F8E4M3FN ? 0x7e : dt == IT_F8E4M3FNUZ ? 0x7f : dt == IT_F8E5M2 ? 0x7b : 0x7f);
        if (dt == IT_F8E5M2) return sign | 0x7c;
        return nan;
    }
    /* enumerate by rounding: compute exponent */
    int emin = 1 - bias; /* smallest normal exponent */
    int e;
    frexpf(a, &e);
    e -= 1; /* a = 1.x * 2^e */
    if (a == 0) return uz ? 0 : sign;
    if (e < emin) e = emin;
    float q = ldexpf(1.f, e - mbits); /* quantum */
    float n = nearbyintf(a / q);      /* ties to even under default rounding */
    float r = n * q;
    if (r > maxv) {
        if (saturate) r = maxv;
        else return dt == IT_F8E5M2 ? (uint8_t)(sign | 0x7c) : nan;
    }
    /* encode r */
    if (r == 0) return uz ? 0 : sign;
    frexpf(r, &e);
    e -= 1;
    uint8_t bits;
    if (e < emin) { /* subnormal */
        int m = (int)(r / ldexpf(1.f, emin - mbits));
        bits = (uint8_t)m;
    } else {
        int m = (int)((r / ldexpf(1.f, e) - 1.f) * (1 << mbits) + 0.5f);
        bits = (uint8_t)(((e + bias) << mbits) | m);
    }
    return sign | bits;
}

static float f4_to_f32(uint8_t v) {
    static const float t[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
    return (v & 8) ? -t[v & 7] : t[v & 7];
}
static uint8_t f32_to_f4(float f) {
    if (isnan(f)) return 0x8; /* e2m1 has no NaN: ONNX's conversion gives -0 */
    uint8_t s = signbit(f) ? 8 : 0;
    float a = fabsf(f);
    static const float t[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
    int best = 7;
    if (a < 6) {
        for (int i = 0; i < 7; i++) {
            float mid = (t[i] + t[i + 1]) / 2;
            if (a < mid || (a == mid && (i & 1) == 0)) { best = i; break; }
            best = i + 1;
        }
    }
    return s | (uint8_t)best;
}

double it_get_f64(const void *d, int dt, int64_t i) {
    switch (dt) {
    case IT_F32: return ((const float *)d)[i];
    case IT_F64: return ((const double *)d)[i];
    case IT_F16: return it_f16_to_f32(((const uint16_t *)d)[i]);
    case IT_BF16: return it_bf16_to_f32(((const uint16_t *)d)[i]);
    case IT_I8: return ((const int8_t *)d)[i];
    case IT_U8: return ((const uint8_t *)d)[i];
    case IT_BOOL: return ((const uint8_t *)d)[i] != 0;
    case IT_I16: return ((const int16_t *)d)[i];
    case IT_U16: return ((const uint16_t *)d)[i];
    case IT_I32: return ((const int32_t *)d)[i];
    case IT_U32: return ((const uint32_t *)d)[i];
    case IT_I64: return (double)((const int64_t *)d)[i];
    case IT_U64: return (double)((const uint64_t *)d)[i];
    case IT_F8E4M3FN: case IT_F8E4M3FNUZ: case IT_F8E5M2: case IT_F8E5M2FNUZ: case IT_F8E8M0:
        return f8_to_f32(((const uint8_t *)d)[i], dt);
    case IT_U4: { uint8_t b = ((const uint8_t *)d)[i / 2]; return (i & 1) ? b >> 4 : b & 15; }
    case IT_I4: { uint8_t b = ((const uint8_t *)d)[i / 2]; int v = (i & 1) ? b >> 4 : b & 15; return v >= 8 ? v - 16 : v; }
    case IT_U2: { uint8_t b = ((const uint8_t *)d)[i / 4]; return (b >> (2 * (i & 3))) & 3; }
    case IT_I2: { uint8_t b = ((const uint8_t *)d)[i / 4]; int v = (b >> (2 * (i & 3))) & 3; return v >= 2 ? v - 4 : v; }
    case IT_F4E2M1: { uint8_t b = ((const uint8_t *)d)[i / 2]; return f4_to_f32((i & 1) ? b >> 4 : b & 15); }
    }
    return 0;
}

int64_t it_get_i64(const void *d, int dt, int64_t i) {
    switch (dt) {
    case IT_I64: return ((const int64_t *)d)[i];
    case IT_U64: return (int64_t)((const uint64_t *)d)[i];
    case IT_I32: return ((const int32_t *)d)[i];
    case IT_U32: return ((const uint32_t *)d)[i];
    case IT_I16: return ((const int16_t *)d)[i];
    case IT_U16: return ((const uint16_t *)d)[i];
    case IT_I8: return ((const int8_t *)d)[i];
    case IT_U8: case IT_BOOL: return ((const uint8_t *)d)[i];
    default: {
        double v = it_get_f64(d, dt, i);
        if (v != v) return 0;
        if (v >= 9.2e18) return INT64_MAX;
        if (v <= -9.2e18) return INT64_MIN;
        return (int64_t)v;
    }
    }
}

static int64_t sat_i(double v, int64_t lo, int64_t hi) {
    if (v != v) return 0;
    if (v <= (double)lo) return lo;
    if (v >= (double)hi) return hi;
    return (int64_t)v;
}

void it_set_f64(void *d, int dt, int64_t i, double v) {
    switch (dt) {
    case IT_F32: ((float *)d)[i] = (float)v; break;
    case IT_F64: ((double *)d)[i] = v; break;
    case IT_F16: ((uint16_t *)d)[i] = it_f32_to_f16((float)v); break;
    case IT_BF16: ((uint16_t *)d)[i] = it_f32_to_bf16((float)v); break;
    /* float -> int casts truncate toward zero; out-of-range wraps like C on x86 via int64 */
    case IT_I8: ((int8_t *)d)[i] = (int8_t)sat_i(v, INT64_MIN, INT64_MAX); break;
    case IT_U8: ((uint8_t *)d)[i] = (uint8_t)sat_i(v, INT64_MIN, INT64_MAX); break;
    case IT_BOOL: ((uint8_t *)d)[i] = v != 0; break;
    case IT_I16: ((int16_t *)d)[i] = (int16_t)sat_i(v, INT64_MIN, INT64_MAX); break;
    case IT_U16: ((uint16_t *)d)[i] = (uint16_t)sat_i(v, INT64_MIN, INT64_MAX); break;
    case IT_I32: ((int32_t *)d)[i] = (int32_t)sat_i(v, INT64_MIN, INT64_MAX); break;
    case IT_U32: ((uint32_t *)d)[i] = (uint32_t)sat_i(v, INT64_MIN, INT64_MAX); break;
    case IT_I64: ((int64_t *)d)[i] = sat_i(v, INT64_MIN, INT64_MAX); break;
    case IT_U64: ((uint64_t *)d)[i] = v != v ? 0 : v >= 1.8446744073709552e19 ? UINT64_MAX : v < 0 ? (uint64_t)sat_i(v, INT64_MIN, INT64_MAX) : (uint64_t)v; break;
    case IT_F8E4M3FN: case IT_F8E4M3FNUZ: case IT_F8E5M2: case IT_F8E5M2FNUZ: case IT_F8E8M0:
        ((uint8_t *)d)[i] = f32_to_f8((float)v, dt, 1); break;
    case IT_U4: case IT_I4: case IT_F4E2M1: {
        uint8_t nib;
        if (dt == IT_F4E2M1) nib = f32_to_f4((float)v);
        else {
            double r = v != v ? 0 : nearbyint(v);
            if (dt == IT_U4) r = r < 0 ? 0 : r > 15 ? 15 : r;
            else r = r < -8 ? -8 : r > 7 ? 7 : r;
            nib = (uint8_t)((int)r & 15);
        }
        uint8_t *b = (uint8_t *)d + i / 2;
        *b = (i & 1) ? (uint8_t)((*b & 0x0f) | (nib << 4)) : (uint8_t)((*b & 0xf0) | nib);
        break;
    }
    case IT_U2: case IT_I2: {
        double r = v != v ? 0 : nearbyint(v);
        if (dt == IT_U2) r = r < 0 ? 0 : r > 3 ? 3 : r;
        else r = r < -2 ? -2 : r > 1 ? 1 : r;
        uint8_t q = (uint8_t)((int)r & 3), sh = (uint8_t)(2 * (i & 3));
        uint8_t *b = (uint8_t *)d + i / 4;
        *b = (uint8_t)((*b & ~(3 << sh)) | (q << sh));
        break;
    }
    }
}

static void set_i64(void *d, int dt, int64_t i, int64_t v) {
    switch (dt) {
    case IT_I64: ((int64_t *)d)[i] = v; break;
    case IT_U64: ((uint64_t *)d)[i] = (uint64_t)v; break;
    case IT_I32: ((int32_t *)d)[i] = (int32_t)v; break;
    case IT_U32: ((uint32_t *)d)[i] = (uint32_t)v; break;
    case IT_I16: ((int16_t *)d)[i] = (int16_t)v; break;
    case IT_U16: ((uint16_t *)d)[i] = (uint16_t)v; break;
    case IT_I8: ((int8_t *)d)[i] = (int8_t)v; break;
    case IT_U8: ((uint8_t *)d)[i] = (uint8_t)v; break;
    case IT_BOOL: ((uint8_t *)d)[i] = v != 0; break;
    default: it_set_f64(d, dt, i, (double)v);
    }
}

/* Store the low bits of v (wrapping) into packed element i of a 4- or 2-bit int type. */
static void set_sub_int(void *d, int dt, int64_t i, int64_t v) {
    if (dt == IT_U4 || dt == IT_I4) {
        uint8_t nib = (uint8_t)((uint64_t)v & 15), *b = (uint8_t *)d + i / 2;
        *b = (i & 1) ? (uint8_t)((*b & 0x0f) | (nib << 4)) : (uint8_t)((*b & 0xf0) | nib);
    } else {
        uint8_t q = (uint8_t)((uint64_t)v & 3), sh = (uint8_t)(2 * (i & 3)), *b = (uint8_t *)d + i / 4;
        *b = (uint8_t)((*b & ~(3 << sh)) | (q << sh));
    }
}

int it_convert(void *dst, int dd, const void *src, int sd, int64_t n, int saturate) {
    if (dd == sd && it_dtype_size(dd)) {
        memmove(dst, src, (size_t)n * it_dtype_size(dd));
        return 0;
    }
    if (dd == IT_F32 && sd == IT_F16) {
        for (int64_t i = 0; i < n; i++) ((float *)dst)[i] = it_f16_to_f32(((const uint16_t *)src)[i]);
        return 0;
    }
    if (dd == IT_F16 && sd == IT_F32) {
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = it_f32_to_f16(((const float *)src)[i]);
        return 0;
    }
    int src_int = it_dtype_is_int(sd) || sd == IT_BOOL, dst_int = it_dtype_is_int(dd) || dd == IT_BOOL;
    int dst_sub = dd == IT_U4 || dd == IT_I4 || dd == IT_U2 || dd == IT_I2;
    if (src_int && dst_int && !dst_sub && sd != IT_U4 && sd != IT_I4 && sd != IT_U2 && sd != IT_I2) {
        if (sd == IT_U64)
            for (int64_t i = 0; i < n; i++) set_i64(dst, dd, i, (int64_t)((const uint64_t *)src)[i]);
        else
            for (int64_t i = 0; i < n; i++) set_i64(dst, dd, i, it_get_i64(src, sd, i));
        return 0;
    }
    int f8 = dd >= IT_F8E4M3FN && dd <= IT_F8E5M2FNUZ;
    int dst_int_sub = dd == IT_U4 || dd == IT_I4 || dd == IT_U2 || dd == IT_I2;
    int sat = saturate & 1, e8mode = (saturate >> 1) & 3;
    for (int64_t i = 0; i < n; i++) {
        if (dst_int_sub) { /* Cast to int4/uint4/int2/uint2: round to nearest even, then wrap */
            int64_t iv;
            if (src_int && sd != IT_U64) iv = it_get_i64(src, sd, i);
            else if (sd == IT_U64) iv = (int64_t)((const uint64_t *)src)[i];
            else {
                double t = nearbyint(it_get_f64(src, sd, i));
                iv = (t != t) ? 0 : (t >= 9.2e18 || t <= -9.2e18) ? 0 : (int64_t)t;
            }
            set_sub_int(dst, dd, i, iv);
            continue;
        }
        double v = it_get_f64(src, sd, i);
        if (dd == IT_F8E8M0) ((uint8_t *)dst)[i] = f32_to_e8m0((float)v, sat, e8mode);
        else if (f8) ((uint8_t *)dst)[i] = f32_to_f8((float)v, dd, sat);
        else if (dd == IT_F32 && sd == IT_F64) ((float *)dst)[i] = (float)v;
        else if (dst_int && !dst_sub && it_dtype_is_float(sd)) {
            /* float -> int: truncate, out of range values wrap through int64 like numpy on x86 */
            double t = trunc(v);
            int64_t iv = (t != t) ? INT64_MIN : (t >= 9.2233720368547758e18 || t < -9.2233720368547758e18) ? INT64_MIN : (int64_t)t;
            set_i64(dst, dd, i, iv);
        } else it_set_f64(dst, dd, i, v);
    }
    return 0;
}
