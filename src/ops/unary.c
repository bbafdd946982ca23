/*
 * unary.c: elementwise operators of one input: math functions (Abs ... Tanh),
 * activations (Relu, LeakyRelu, Elu, Selu, Celu, HardSigmoid, HardSwish, Mish,
 * Softplus, Softsign, ThresholdedRelu, Shrink, Gelu, Swish), Clip, IsInf,
 * IsNaN, Not, BitwiseNot, and the type conversions Cast / CastLike (numeric
 * dtypes through it_convert, strings parsed and printed here).
 *
 * Workload: activations of CNNs and transformers on float32 (Relu, Clip,
 * Sigmoid, Tanh, Erf, Gelu), which get tight loops over contiguous memory:
 * 128-bit GCC/clang vector code (baseline SSE2 / NEON; -O2 does not
 * autovectorize) with a polynomial expf, tanh and erf accurate to a few 1e-7
 * relative for Sigmoid, Tanh, Swish, Erf and both Gelu forms.
 * Every other dtype/op pair runs a generic loop that computes in double
 * (float16/bfloat16 in float32 blocks; integers in int64 so that no precision
 * is lost). Outputs over 64K elements are split over the thread pool.
 */
#include "ops.h"

#include <errno.h>
#include <float.h>
#include <stdio.h>

#define PAR_MIN 32768
#define PAR_GRAIN 8192

enum {
    U_ABS, U_ACOS, U_ACOSH, U_ASIN, U_ASINH, U_ATAN, U_ATANH, U_CEIL, U_COS, U_COSH, U_ERF, U_EXP,
    U_FLOOR, U_LOG, U_NEG, U_RECIP, U_ROUND, U_SIGMOID, U_SIGN, U_SIN, U_SINH, U_SQRT, U_TAN, U_TANH,
    U_RELU, U_LEAKY, U_ELU, U_SELU, U_CELU, U_HSIG, U_HSWISH, U_MISH, U_SOFTPLUS, U_SOFTSIGN,
    U_THRELU, U_SHRINK, U_GELU, U_GELU_TANH, U_SWISH, U_CLIP, U_NOT, U_BNOT
};

typedef struct uctx {
    int op;
    double alpha, beta, gamma; /* op parameters (Clip: alpha = min, beta = max) */
    int64_t ilo, ihi;          /* Clip bounds for integer types */
} uctx;

/* ---------------------------------------------------------------- scalar reference (double) */

static double softplus_d(double x) { return (x > 0 ? x : 0) + log1p(exp(-fabs(x))); }

static double uf(const uctx *u, double x) {
    switch (u->op) {
    case U_ABS: return fabs(x);
    case U_ACOS: return acos(x);
    case U_ACOSH: return acosh(x);
    case U_ASIN: return asin(x);
    case U_ASINH: return asinh(x);
    case U_ATAN: return atan(x);
    case U_ATANH: return atanh(x);
    case U_CEIL: return ceil(x);
    case U_COS: return cos(x);
    case U_COSH: return cosh(x);
    case U_ERF: return erf(x);
    case U_EXP: return exp(x);
    case U_FLOOR: return floor(x);
    case U_LOG: return log(x);
    case U_NEG: return -x;
    case U_RECIP: return 1.0 / x;
    case U_ROUND: return nearbyint(x); /* half to even in the default rounding mode */
    case U_SIGMOID: return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
    case U_SIGN: return x > 0 ? 1.0 : x < 0 ? -1.0 : x;
    case U_SIN: return sin(x);
    case U_SINH: return sinh(x);
    case U_SQRT: return sqrt(x);
    case U_TAN: return tan(x);
    case U_TANH: return tanh(x);
    case U_RELU: return x > 0 ? x : (x != x ? x : 0.0);
    case U_LEAKY: return x < 0 ? u->alpha * x : x;
    case U_ELU: return x < 0 ? u->alpha * expm1(x) : x;
    case U_SELU: return x <= 0 ? u->gamma * u->alpha * expm1(x) : u->gamma * x;
    case U_CELU: return (x > 0 ? x : 0) + fmin(0.0, u->alpha * expm1(x / u->alpha));
    case U_HSIG: return fmax(0.0, fmin(1.0, u->alpha * x + u->beta));
    case U_HSWISH: return x * fmax(0.0, fmin(1.0, x / 6.0 + 0.5));
    case U_MISH: return x * tanh(softplus_d(x));
    case U_SOFTPLUS: return softplus_d(x);
    case U_SOFTSIGN: return x / (1.0 + fabs(x));
    case U_THRELU: return x > u->alpha ? x : 0.0;
    case U_SHRINK: return x < -u->alpha ? x + u->beta : x > u->alpha ? x - u->beta : 0.0;
    case U_GELU: return 0.5 * x * erfc(-x * M_SQRT1_2);
    case U_GELU_TANH: {
        double t = 0.7978845608028654 * (x + 0.044715 * x * x * x);
        return x / (1.0 + exp(-2.0 * t));
    }
    case U_SWISH: {
        double t = u->alpha * x;
        return x * (t >= 0 ? 1.0 / (1.0 + exp(-t)) : exp(t) / (1.0 + exp(t)));
    }
    case U_CLIP: return x < u->alpha ? u->alpha : x > u->beta ? u->beta : x;
    }
    return x;
}

/* ---------------------------------------------------------------- float32 vector kernels */

typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

static inline v4f vld(const float *p) {
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void vst(float *p, v4f v) { memcpy(p, &v, sizeof v); }
static inline v4f vs(float s) { return (v4f){s, s, s, s}; }
static inline v4f vsel(v4i m, v4f a, v4f b) { return (v4f)((m & (v4i)a) | (~m & (v4i)b)); }
static inline v4f vmaxf(v4f a, v4f b) { return vsel(a > b, a, b); }
static inline v4f vminf(v4f a, v4f b) { return vsel(a < b, a, b); }

/* exp(x) for x clamped to [-87, 88]: x = n*ln2 + r, |r| <= ln2/2, degree-7
 * Taylor polynomial in r (truncation < 1e-8 relative), times 2^n built in the
 * exponent bits. */
static inline v4f vexp(v4f x) {
    x = vminf(vmaxf(x, vs(-87.0f)), vs(88.0f));
    v4f t = x * vs(1.44269504088896341f);
    v4f n = (t + vs(12582912.0f)) - vs(12582912.0f); /* round to nearest */
    v4f r = x - n * vs(0.693359375f);
    r = r - n * vs(-2.12194440e-4f);
    v4f p = vs(1.0f / 5040);
    p = p * r + vs(1.0f / 720);
    p = p * r + vs(1.0f / 120);
    p = p * r + vs(1.0f / 24);
    p = p * r + vs(1.0f / 6);
    p = p * r + vs(0.5f);
    p = p * r + vs(1.0f);
    p = p * r + vs(1.0f);
    v4i e = (__builtin_convertvector(n, v4i) + 127) << 23;
    return p * (v4f)e;
}

static inline v4f vsigmoid(v4f x) {
    v4f r = vs(1.0f) / (vs(1.0f) + vexp(-x));
    return vsel(x == x, r, x);
}

/* tanh: odd Taylor polynomial for |x| < 0.4, 1 - 2/(exp(2|x|)+1) above
 * (no cancellation there: tanh(0.4) = 0.38). */
static inline v4f vtanh(v4f x) {
    v4i sign = (v4i)x & (v4i)vs(-0.0f);
    v4f ax = (v4f)((v4i)x & ~(v4i)vs(-0.0f));
    v4f big = vs(1.0f) - vs(2.0f) / (vexp(ax + ax) + vs(1.0f));
    big = (v4f)((v4i)big | sign);
    v4f x2 = x * x;
    v4f p = vs(-0.00145583438705131827f);
    p = p * x2 + vs(0.00359212803657248102f);
    p = p * x2 + vs(-0.00886323552990219657f);
    p = p * x2 + vs(0.02186948853615520282f);
    p = p * x2 + vs(-0.05396825396825396825f);
    p = p * x2 + vs(0.13333333333333333333f);
    p = p * x2 + vs(-0.33333333333333333333f);
    v4f small = x + x * x2 * p;
    v4f r = vsel(ax < vs(0.4f), small, big);
    return vsel(x == x, r, x);
}

/* erf pieces, coefficients fitted here by least squares (float32 max relative
 * error about 2e-7):  erf(z) = z * S(z^2) for |z| < 0.9, and
 * erfc(|z|) = exp(-z^2) * L(t), t = 1 / (1 + |z|/2), for |z| >= 0.9. */
static const float erf_s[7] = {1.128379226e+00f, -3.761263490e-01f, 1.128371879e-01f, -2.686071210e-02f,
                               5.204336252e-03f, -8.180807927e-04f, 8.534143853e-05f};
static const float erfc_l[9] = {-9.248866263e-06f, 2.823251784e-01f, 2.796925604e-01f, 2.603620887e-01f,
                                1.325920373e-01f, 1.596131027e-01f, -4.509575292e-02f, -1.346779466e-01f,
                                6.548933685e-02f};

/* *small = erf(z) (valid for |z| < 0.9), *big = erfc(|z|) (valid for |z| >= 0.9). */
static inline void verf_parts(v4f z, v4f *small, v4f *big) {
    v4f az = (v4f)((v4i)z & ~(v4i)vs(-0.0f));
    az = vminf(az, vs(10.0f));
    v4f z2 = z * z;
    v4f p = vs(erf_s[6]);
    for (int k = 5; k >= 0; k--) p = p * z2 + vs(erf_s[k]);
    *small = z * p;
    v4f t = vs(1.0f) / (vs(1.0f) + vs(0.5f) * az);
    v4f q = vs(erfc_l[8]);
    for (int k = 7; k >= 0; k--) q = q * t + vs(erfc_l[k]);
    *big = vexp(-(az * az)) * q;
}

static inline v4f verf(v4f x) {
    v4f sm, bg;
    verf_parts(x, &sm, &bg);
    v4i sign = (v4i)x & (v4i)vs(-0.0f);
    v4f far = (v4f)((v4i)(vs(1.0f) - bg) | sign);
    v4f ax = (v4f)((v4i)x & ~(v4i)vs(-0.0f));
    v4f r = vsel(ax < vs(0.9f), sm, far);
    return vsel(x == x, r, x);
}

/* gelu(x) = x/2 * (1 + erf(x/sqrt2)); for x/sqrt2 <= -0.9 the bracket is
 * erfc(|z|) itself, so the negative tail keeps its relative accuracy. */
static inline v4f vgelu(v4f x) {
    v4f z = x * vs((float)M_SQRT1_2), sm, bg;
    verf_parts(z, &sm, &bg);
    v4f az = (v4f)((v4i)z & ~(v4i)vs(-0.0f));
    v4f far = vsel(z > vs(0.0f), vs(2.0f) - bg, bg);
    v4f r = vs(0.5f) * x * vsel(az < vs(0.9f), vs(1.0f) + sm, far);
    return vsel(x == x, r, x);
}

static inline float sig1(float x) { return (float)(x >= 0 ? 1.0 / (1.0 + exp(-(double)x)) : exp((double)x) / (1.0 + exp((double)x))); }

/* Apply op to n float32 values (y may equal x). */
static void f32_kernel(const uctx *u, const float *x, float *y, int64_t n) {
    int64_t i = 0;
    switch (u->op) {
    case U_RELU:
        for (; i + 4 <= n; i += 4) {
            v4f v = vld(x + i);
            vst(y + i, vsel(v > vs(0.0f), v, vs(0.0f)));
        }
        for (; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0.0f;
        return;
    case U_LEAKY: {
        float a = (float)u->alpha;
        for (; i + 4 <= n; i += 4) {
            v4f v = vld(x + i);
            vst(y + i, vsel(v < vs(0.0f), v * vs(a), v));
        }
        for (; i < n; i++) y[i] = x[i] < 0 ? x[i] * a : x[i];
        return;
    }
    case U_CLIP: {
        float lo = (float)u->alpha, hi = (float)u->beta;
        for (; i + 4 <= n; i += 4) {
            v4f v = vld(x + i);
            v = vsel(v < vs(lo), vs(lo), v);
            vst(y + i, vsel(v > vs(hi), vs(hi), v));
        }
        for (; i < n; i++) {
            float v = x[i] < lo ? lo : x[i];
            y[i] = v > hi ? hi : v;
        }
        return;
    }
    case U_SIGMOID:
        for (; i + 4 <= n; i += 4) vst(y + i, vsigmoid(vld(x + i)));
        for (; i < n; i++) y[i] = sig1(x[i]);
        return;
    case U_TANH:
        for (; i + 4 <= n; i += 4) vst(y + i, vtanh(vld(x + i)));
        for (; i < n; i++) y[i] = tanhf(x[i]);
        return;
    case U_SWISH: {
        float a = (float)u->alpha;
        for (; i + 4 <= n; i += 4) {
            v4f v = vld(x + i);
            vst(y + i, v * vsigmoid(v * vs(a)));
        }
        for (; i < n; i++) y[i] = x[i] * sig1(a * x[i]);
        return;
    }
    case U_GELU_TANH:
        /* 0.5 x (1 + tanh(t)) = x * sigmoid(2t): no cancellation for x << 0 */
        for (; i + 4 <= n; i += 4) {
            v4f v = vld(x + i);
            v4f t = vs(2 * 0.7978845608028654f) * (v + vs(0.044715f) * v * v * v);
            vst(y + i, v * vsigmoid(t));
        }
        for (; i < n; i++) y[i] = (float)uf(u, x[i]);
        return;
    case U_HSWISH:
        for (; i + 4 <= n; i += 4) {
            v4f v = vld(x + i);
            v4f t = v * vs(1.0f / 6) + vs(0.5f);
            t = vminf(vmaxf(t, vs(0.0f)), vs(1.0f));
            vst(y + i, v * t);
        }
        for (; i < n; i++) y[i] = (float)uf(u, x[i]);
        return;
    case U_HSIG: {
        float a = (float)u->alpha, b = (float)u->beta;
        for (; i + 4 <= n; i += 4) {
            v4f t = vld(x + i) * vs(a) + vs(b);
            vst(y + i, vminf(vmaxf(t, vs(0.0f)), vs(1.0f)));
        }
        for (; i < n; i++) y[i] = (float)uf(u, x[i]);
        return;
    }
    case U_ERF:
        for (; i + 4 <= n; i += 4) vst(y + i, verf(vld(x + i)));
        for (; i < n; i++) y[i] = erff(x[i]);
        return;
    case U_GELU:
        for (; i + 4 <= n; i += 4) vst(y + i, vgelu(vld(x + i)));
        for (; i < n; i++) y[i] = 0.5f * x[i] * erfcf(-x[i] * (float)M_SQRT1_2);
        return;
    case U_EXP:
        for (; i < n; i++) y[i] = expf(x[i]);
        return;
    case U_NEG:
        for (; i < n; i++) y[i] = -x[i];
        return;
    case U_ABS:
        for (; i < n; i++) y[i] = fabsf(x[i]);
        return;
    case U_SQRT:
        for (; i < n; i++) y[i] = sqrtf(x[i]);
        return;
    case U_RECIP:
        for (; i < n; i++) y[i] = 1.0f / x[i];
        return;
    default:
        for (; i < n; i++) y[i] = (float)uf(u, x[i]);
        return;
    }
}

/* ---------------------------------------------------------------- integer path */

static int64_t uint_op(const uctx *u, int64_t v, int dt) {
    int uns = !it_dtype_is_signed(dt) && dt != IT_BOOL;
    switch (u->op) {
    case U_ABS: return uns ? v : v < 0 ? (int64_t)(0 - (uint64_t)v) : v;
    case U_NEG: return (int64_t)(0 - (uint64_t)v);
    case U_SIGN:
        if (uns) return v != 0;
        return v > 0 ? 1 : v < 0 ? -1 : 0;
    case U_RELU: return uns ? v : v > 0 ? v : 0;
    case U_CLIP:
        if (dt == IT_U64) {
            uint64_t x = (uint64_t)v, lo = (uint64_t)u->ilo, hi = (uint64_t)u->ihi;
            x = x < lo ? lo : x;
            return (int64_t)(x > hi ? hi : x);
        }
        v = v < u->ilo ? u->ilo : v;
        return v > u->ihi ? u->ihi : v;
    case U_BNOT: return ~v;
    case U_NOT: return v == 0;
    }
    return v;
}

static void set_int(void *d, int dt, int64_t i, int64_t v) {
    switch (dt) {
    case IT_I8: ((int8_t *)d)[i] = (int8_t)v; break;
    case IT_U8: ((uint8_t *)d)[i] = (uint8_t)v; break;
    case IT_BOOL: ((uint8_t *)d)[i] = v != 0; break;
    case IT_I16: ((int16_t *)d)[i] = (int16_t)v; break;
    case IT_U16: ((uint16_t *)d)[i] = (uint16_t)v; break;
    case IT_I32: ((int32_t *)d)[i] = (int32_t)v; break;
    case IT_U32: ((uint32_t *)d)[i] = (uint32_t)v; break;
    case IT_I64: ((int64_t *)d)[i] = v; break;
    case IT_U64: ((uint64_t *)d)[i] = (uint64_t)v; break;
    }
}

/* Ops defined on integers directly; others (Shrink ...) go through double. */
static int int_native(int op) {
    return op == U_ABS || op == U_NEG || op == U_SIGN || op == U_RELU || op == U_CLIP || op == U_BNOT || op == U_NOT;
}

/* ---------------------------------------------------------------- range driver */

typedef struct ujob {
    const uctx *u;
    int dt;
    const void *x;
    void *y;
} ujob;

static void u_range(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    const ujob *j = arg;
    const uctx *u = j->u;
    switch (j->dt) {
    case IT_F32: f32_kernel(u, (const float *)j->x + b, (float *)j->y + b, e - b); return;
    case IT_F64: {
        const double *x = j->x;
        double *y = j->y;
        for (int64_t i = b; i < e; i++) y[i] = uf(u, x[i]);
        return;
    }
    case IT_F16: case IT_BF16: {
        float buf[512];
        int bf = j->dt == IT_BF16;
        const uint16_t *x = j->x;
        uint16_t *y = j->y;
        for (int64_t i0 = b; i0 < e; i0 += 512) {
            int64_t m = e - i0 < 512 ? e - i0 : 512;
            for (int64_t i = 0; i < m; i++) buf[i] = bf ? it_bf16_to_f32(x[i0 + i]) : it_f16_to_f32(x[i0 + i]);
            f32_kernel(u, buf, buf, m);
            for (int64_t i = 0; i < m; i++) y[i0 + i] = bf ? it_f32_to_bf16(buf[i]) : it_f32_to_f16(buf[i]);
        }
        return;
    }
    default:
        if (int_native(u->op)) {
            for (int64_t i = b; i < e; i++) set_int(j->y, j->dt, i, uint_op(u, it_get_i64(j->x, j->dt, i), j->dt));
        } else {
            for (int64_t i = b; i < e; i++) {
                double v = uf(u, it_get_f64(j->x, j->dt, i));
                int64_t r = v != v ? 0 : v >= 9.2e18 ? INT64_MAX : v <= -9.2e18 ? INT64_MIN : (int64_t)v;
                set_int(j->y, j->dt, i, r);
            }
        }
        return;
    }
}

enum { A_FLOAT = 1, A_SINT = 2, A_UINT = 4, A_BOOL = 8 };
#define A_NUM (A_FLOAT | A_SINT | A_UINT)

static int allowed(int dt, int mask) {
    if (dt == IT_F32 || dt == IT_F64 || dt == IT_F16 || dt == IT_BF16) return mask & A_FLOAT;
    if (dt == IT_I8 || dt == IT_I16 || dt == IT_I32 || dt == IT_I64) return mask & A_SINT;
    if (dt == IT_U8 || dt == IT_U16 || dt == IT_U32 || dt == IT_U64) return mask & A_UINT;
    if (dt == IT_BOOL) return mask & A_BOOL;
    return 0;
}

static int run_unary(it_opctx *c, const uctx *u, int mask) {
    IT_REQUIRE_IN(c, 0, x);
    if (!allowed(x->dtype, mask))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unsupported input type %s", it_dtype_name(x->dtype));
    it_tensor *y;
    int st = it_out_tensor_raw(c, 0, x->dtype, x->ndim, x->dims, &y); /* every element written */
    if (st) return st;
    int64_t n = it_count(x);
    ujob j = {u, x->dtype, x->data, y->data};
    if (n >= PAR_MIN) it_parallel_for(c->tp, n, PAR_GRAIN, u_range, &j);
    else u_range(&j, 0, n, 0);
    return 0;
}

#define SIMPLE(NAME, OP, MASK)                                                              \
    static int NAME##_run(it_opctx *c) {                                                   \
        uctx u = {.op = OP};                                                               \
        return run_unary(c, &u, MASK);                                                     \
    }
SIMPLE(abs, U_ABS, A_NUM)
SIMPLE(acos, U_ACOS, A_FLOAT)
SIMPLE(acosh, U_ACOSH, A_FLOAT)
SIMPLE(asin, U_ASIN, A_FLOAT)
SIMPLE(asinh, U_ASINH, A_FLOAT)
SIMPLE(atan, U_ATAN, A_FLOAT)
SIMPLE(atanh, U_ATANH, A_FLOAT)
SIMPLE(ceil, U_CEIL, A_FLOAT)
SIMPLE(cos, U_COS, A_FLOAT)
SIMPLE(cosh, U_COSH, A_FLOAT)
SIMPLE(erf, U_ERF, A_NUM)
SIMPLE(exp, U_EXP, A_FLOAT)
SIMPLE(floor, U_FLOOR, A_FLOAT)
SIMPLE(log, U_LOG, A_FLOAT)
SIMPLE(neg, U_NEG, A_FLOAT | A_SINT)
SIMPLE(recip, U_RECIP, A_FLOAT)
SIMPLE(round, U_ROUND, A_FLOAT)
SIMPLE(sigmoid, U_SIGMOID, A_FLOAT)
SIMPLE(sign, U_SIGN, A_NUM)
SIMPLE(sin, U_SIN, A_FLOAT)
SIMPLE(sinh, U_SINH, A_FLOAT)
SIMPLE(sqrt, U_SQRT, A_FLOAT)
SIMPLE(tan, U_TAN, A_FLOAT)
SIMPLE(tanh, U_TANH, A_FLOAT)
SIMPLE(relu, U_RELU, A_FLOAT | A_SINT)
SIMPLE(hswish, U_HSWISH, A_FLOAT)
SIMPLE(mish, U_MISH, A_FLOAT)
SIMPLE(softplus, U_SOFTPLUS, A_FLOAT)
SIMPLE(softsign, U_SOFTSIGN, A_FLOAT)
SIMPLE(not, U_NOT, A_BOOL)
SIMPLE(bnot, U_BNOT, A_SINT | A_UINT)

#define ATTR1(NAME, OP, MASK, A, DA)                                                        \
    static int NAME##_run(it_opctx *c) {                                                   \
        uctx u = {.op = OP, .alpha = it_attr_float(c->node, A, DA)};                       \
        return run_unary(c, &u, MASK);                                                     \
    }
ATTR1(leaky, U_LEAKY, A_FLOAT, "alpha", 0.01f)
ATTR1(elu, U_ELU, A_FLOAT, "alpha", 1.0f)
ATTR1(threlu, U_THRELU, A_FLOAT, "alpha", 1.0f)
ATTR1(swish, U_SWISH, A_FLOAT, "alpha", 1.0f)

static int celu_run(it_opctx *c) {
    uctx u = {.op = U_CELU, .alpha = it_attr_float(c->node, "alpha", 1.0f)};
    if (u.alpha == 0) return it_opfail(c, INGOT_ERR_FORMAT, "alpha must not be 0");
    return run_unary(c, &u, A_FLOAT);
}
static int selu_run(it_opctx *c) {
    uctx u = {.op = U_SELU, .alpha = it_attr_float(c->node, "alpha", 1.67326319217681884765625f),
              .gamma = it_attr_float(c->node, "gamma", 1.05070102214813232421875f)};
    return run_unary(c, &u, A_FLOAT);
}
static int hsig_run(it_opctx *c) {
    uctx u = {.op = U_HSIG, .alpha = it_attr_float(c->node, "alpha", 0.2f),
              .beta = it_attr_float(c->node, "beta", 0.5f)};
    return run_unary(c, &u, A_FLOAT);
}
static int shrink_run(it_opctx *c) {
    uctx u = {.op = U_SHRINK, .alpha = it_attr_float(c->node, "lambd", 0.5f),
              .beta = it_attr_float(c->node, "bias", 0.0f)};
    return run_unary(c, &u, A_NUM);
}
static int gelu_run(it_opctx *c) {
    const char *ap = it_attr_str(c->node, "approximate", "none");
    uctx u = {.op = U_GELU};
    if (!strcmp(ap, "tanh")) u.op = U_GELU_TANH;
    else if (strcmp(ap, "none")) return it_opfail(c, INGOT_ERR_FORMAT, "approximate must be none or tanh, got '%s'", ap);
    return run_unary(c, &u, A_FLOAT);
}

/* Clip: bounds are attributes before opset 11, optional scalar inputs after. */
static int clip_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    uctx u = {.op = U_CLIP, .alpha = -INFINITY, .beta = INFINITY, .ilo = INT64_MIN, .ihi = INT64_MAX};
    int dt = x->dtype;
    if (dt == IT_U64) u.ilo = 0, u.ihi = -1; /* bit patterns of 0 and UINT64_MAX */
    if (c->node->opset < 11) {
        u.alpha = it_attr_float(c->node, "min", -FLT_MAX);
        u.beta = it_attr_float(c->node, "max", FLT_MAX);
        if (!allowed(dt, A_FLOAT)) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unsupported input type %s", it_dtype_name(dt));
    } else {
        for (int k = 1; k <= 2; k++) {
            it_tensor *b = it_in(c, k);
            if (!b) continue;
            if (b->dtype != dt)
                return it_opfail(c, INGOT_ERR_FORMAT, "bound %d has type %s, input has %s", k, it_dtype_name(b->dtype),
                                 it_dtype_name(dt));
            if (it_count(b) != 1) return it_opfail(c, INGOT_ERR_SHAPE, "bound %d must be a scalar", k);
            if (it_dtype_is_int(dt)) {
                int64_t v = it_get_i64(b->data, dt, 0);
                if (k == 1) u.ilo = v;
                else u.ihi = v;
            } else {
                double v = it_get_f64(b->data, dt, 0);
                if (k == 1) u.alpha = v;
                else u.beta = v;
            }
        }
    }
    return run_unary(c, &u, A_NUM);
}

/* IsInf / IsNaN: float input, bool output. */
static int isx_run(it_opctx *c, int nan) {
    IT_REQUIRE_IN(c, 0, x);
    if (!allowed(x->dtype, A_FLOAT) && !(x->dtype >= IT_F8E4M3FN && x->dtype <= IT_F8E5M2FNUZ))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unsupported input type %s", it_dtype_name(x->dtype));
    int pos = (int)it_attr_int(c->node, "detect_positive", 1), neg = (int)it_attr_int(c->node, "detect_negative", 1);
    it_tensor *y;
    int st = it_out_like(c, 0, IT_BOOL, x, &y);
    if (st) return st;
    int64_t n = it_count(x);
    uint8_t *o = y->data;
    for (int64_t i = 0; i < n; i++) {
        double v = it_get_f64(x->data, x->dtype, i);
        o[i] = nan ? v != v : (isinf(v) && ((v > 0 && pos) || (v < 0 && neg)));
    }
    return 0;
}
static int isnan_run(it_opctx *c) { return isx_run(c, 1); }
static int isinf_run(it_opctx *c) { return isx_run(c, 0); }

/* ---------------------------------------------------------------- Cast */

/* Significant digits and the positional range numpy uses when printing a
 * value of this precision ("0.5", "1e-05", "1.2345679e+08"). */
static void fmt_float(char *buf, size_t n, double v, int dt) {
    if (v != v) { snprintf(buf, n, "NaN"); return; }
    if (isinf(v)) { snprintf(buf, n, v > 0 ? "INF" : "-INF"); return; }
    if (v == 0) { snprintf(buf, n, signbit(v) ? "-0.0" : "0.0"); return; }
    /* shortest digit count that reads back to the same value of dtype dt */
    char tmp[64];
    int p;
    for (p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
        double r = strtod(tmp, NULL);
        if (dt == IT_F64 ? r == v : (float)r == (float)v) {
            if (dt == IT_F16 && it_f32_to_f16((float)r) != it_f32_to_f16((float)v)) continue;
            break;
        }
        if (dt == IT_F16 && it_f32_to_f16((float)r) == it_f32_to_f16((float)v)) break;
    }
    if (p > 17) p = 17;
    /* tmp = d.ddddde±XX: split digits and exponent */
    char digits[32];
    int nd = 0, ex;
    const char *s = tmp;
    int neg = *s == '-';
    if (neg) s++;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9') digits[nd++] = *s;
    ex = *s == 'e' ? atoi(s + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    double lim = dt == IT_F64 ? 1e16 : dt == IT_F16 ? 1e3 : 1e6;
    double av = fabs(v);
    size_t o = 0;
    if (neg) buf[o++] = '-';
    if (av >= 1e-4 && av < lim) {
        if (ex >= 0) {
            for (int i = 0; i <= ex; i++) buf[o++] = i < nd ? digits[i] : '0';
            buf[o++] = '.';
            if (nd > ex + 1)
                for (int i = ex + 1; i < nd; i++) buf[o++] = digits[i];
            else buf[o++] = '0';
        } else {
            buf[o++] = '0';
            buf[o++] = '.';
            for (int i = 0; i < -ex - 1; i++) buf[o++] = '0';
            for (int i = 0; i < nd; i++) buf[o++] = digits[i];
        }
        buf[o] = 0;
    } else {
        buf[o++] = digits[0];
        if (nd > 1) {
            buf[o++] = '.';
            for (int i = 1; i < nd; i++) buf[o++] = digits[i];
        }
        snprintf(buf + o, n - o, "e%c%02d", ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
    }
}

static int cast_to_string(it_opctx *c, const it_tensor *x, it_tensor *y) {
    int64_t n = it_count(x);
    char **o = y->data;
    char buf[96];
    for (int64_t i = 0; i < n; i++) {
        int dt = x->dtype;
        if (dt == IT_STRING) {
            const char *s = ((char *const *)x->data)[i];
            o[i] = it_strdup(s ? s : "");
        } else {
            if (dt == IT_BOOL) snprintf(buf, sizeof buf, "%s", ((const uint8_t *)x->data)[i] ? "True" : "False");
            else if (dt == IT_U64) snprintf(buf, sizeof buf, "%llu", (unsigned long long)((const uint64_t *)x->data)[i]);
            else if (it_dtype_is_int(dt)) snprintf(buf, sizeof buf, "%lld", (long long)it_get_i64(x->data, dt, i));
            else fmt_float(buf, sizeof buf, it_get_f64(x->data, dt, i), dt == IT_F64 ? IT_F64 : dt == IT_F16 ? IT_F16 : IT_F32);
            o[i] = it_strdup(buf);
        }
        if (!o[i]) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    }
    return 0;
}

static int cast_from_string(it_opctx *c, const it_tensor *x, it_tensor *y) {
    int64_t n = it_count(x);
    int dt = y->dtype;
    for (int64_t i = 0; i < n; i++) {
        const char *s = ((char *const *)x->data)[i];
        if (!s) s = "";
        while (*s == ' ' || *s == '\t') s++;
        if (it_dtype_is_int(dt) && dt != IT_U4 && dt != IT_I4 && dt != IT_U2 && dt != IT_I2) {
            char *end;
            errno = 0;
            int64_t v;
            if (dt == IT_U64) v = (int64_t)strtoull(s, &end, 10);
            else v = strtoll(s, &end, 10);
            if (end == s || (*end && *end != ' ')) { /* "1.5", "1e3": parse as a number and truncate */
                double d = strtod(s, &end);
                if (end == s) return it_opfail(c, INGOT_ERR_FORMAT, "cannot parse '%.40s' as a number", s);
                v = d != d ? 0 : d >= 9.2e18 ? INT64_MAX : d <= -9.2e18 ? INT64_MIN : (int64_t)d;
            }
            set_int(y->data, dt, i, v);
        } else if (dt == IT_BOOL) {
            char *end;
            double d = strtod(s, &end);
            if (end == s) d = !strcmp(s, "True") || !strcmp(s, "true");
            ((uint8_t *)y->data)[i] = d != 0;
        } else {
            char *end;
            double d = strtod(s, &end);
            if (end == s) return it_opfail(c, INGOT_ERR_FORMAT, "cannot parse '%.40s' as a number", s);
            if (dt == IT_F32) ((float *)y->data)[i] = (float)d;
            else if (dt == IT_F64) ((double *)y->data)[i] = d;
            else if (!it_dtype_size(dt)) it_set_f64(y->data, dt, i, d); /* packed 4/2-bit types */
            else it_convert((char *)y->data + (size_t)i * it_dtype_size(dt), dt, &d, IT_F64, 1,
                            it_attr_int(c->node, "saturate", 1) != 0);
        }
    }
    return 0;
}

typedef struct cast_job {
    const char *x;
    char *y;
    int sd, dd, sat;
    size_t ss, ds;
} cast_job;

static void cast_range(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    const cast_job *j = arg;
    it_convert(j->y + (size_t)b * j->ds, j->dd, j->x + (size_t)b * j->ss, j->sd, e - b, j->sat);
}

static int is_castable(int dt) {
    return dt == IT_STRING || allowed(dt, A_NUM | A_BOOL) || (dt >= IT_F8E4M3FN && dt <= IT_I2);
}

static int do_cast(it_opctx *c, int to) {
    IT_REQUIRE_IN(c, 0, x);
    if (!is_castable(to)) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "cannot cast to type %d", to);
    if (!is_castable(x->dtype))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "cannot cast from %s", it_dtype_name(x->dtype));
    int64_t sat = it_attr_int(c->node, "saturate", 1) != 0;
    const char *rm = it_attr_str(c->node, "round_mode", "up");
    if (!strcmp(rm, "down")) sat |= IT_E8M0_DOWN << 1;
    else if (!strcmp(rm, "nearest")) sat |= IT_E8M0_NEAREST << 1;
    else if (strcmp(rm, "up")) return it_opfail(c, INGOT_ERR_FORMAT, "round_mode must be up, down or nearest, got '%s'", rm);
    it_tensor *y;
    int st = it_out_like(c, 0, to, x, &y);
    if (st) return st;
    int64_t n = it_count(x);
    if (to == IT_STRING) return cast_to_string(c, x, y);
    if (x->dtype == IT_STRING) return cast_from_string(c, x, y);
    cast_job j = {x->data, y->data, x->dtype, to, (int)sat, it_dtype_size(x->dtype), it_dtype_size(to)};
    if (n >= PAR_MIN && j.ss && j.ds) it_parallel_for(c->tp, n, PAR_GRAIN, cast_range, &j);
    else it_convert(y->data, to, x->data, x->dtype, n, (int)sat);
    return 0;
}

static int cast_run(it_opctx *c) {
    const it_attr *a = it_attr_get(c->node, "to");
    if (!a) return it_opfail(c, INGOT_ERR_FORMAT, "missing attribute 'to'");
    if (a->i <= 0 || a->i >= IT_DTYPE_COUNT) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "cannot cast to type %lld", (long long)a->i);
    return do_cast(c, (int)a->i);
}

static int castlike_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 1, like);
    return do_cast(c, like->dtype);
}

const it_op it_ops_unary[] = {
    {"", "Abs", NULL, abs_run, NULL, 0},
    {"", "Acos", NULL, acos_run, NULL, 0},
    {"", "Acosh", NULL, acosh_run, NULL, 0},
    {"", "Asin", NULL, asin_run, NULL, 0},
    {"", "Asinh", NULL, asinh_run, NULL, 0},
    {"", "Atan", NULL, atan_run, NULL, 0},
    {"", "Atanh", NULL, atanh_run, NULL, 0},
    {"", "Ceil", NULL, ceil_run, NULL, 0},
    {"", "Cos", NULL, cos_run, NULL, 0},
    {"", "Cosh", NULL, cosh_run, NULL, 0},
    {"", "Erf", NULL, erf_run, NULL, 0},
    {"", "Exp", NULL, exp_run, NULL, 0},
    {"", "Floor", NULL, floor_run, NULL, 0},
    {"", "IsInf", NULL, isinf_run, NULL, 0},
    {"", "IsNaN", NULL, isnan_run, NULL, 0},
    {"", "Log", NULL, log_run, NULL, 0},
    {"", "Neg", NULL, neg_run, NULL, 0},
    {"", "Not", NULL, not_run, NULL, 0},
    {"", "Reciprocal", NULL, recip_run, NULL, 0},
    {"", "Round", NULL, round_run, NULL, 0},
    {"", "Sigmoid", NULL, sigmoid_run, NULL, 0},
    {"", "Sign", NULL, sign_run, NULL, 0},
    {"", "Sin", NULL, sin_run, NULL, 0},
    {"", "Sinh", NULL, sinh_run, NULL, 0},
    {"", "Sqrt", NULL, sqrt_run, NULL, 0},
    {"", "Tan", NULL, tan_run, NULL, 0},
    {"", "Tanh", NULL, tanh_run, NULL, 0},
    {"", "Relu", NULL, relu_run, NULL, 0},
    {"", "LeakyRelu", NULL, leaky_run, NULL, 0},
    {"", "Elu", NULL, elu_run, NULL, 0},
    {"", "Selu", NULL, selu_run, NULL, 0},
    {"", "Celu", NULL, celu_run, NULL, 0},
    {"", "HardSigmoid", NULL, hsig_run, NULL, 0},
    {"", "HardSwish", NULL, hswish_run, NULL, 0},
    {"", "Mish", NULL, mish_run, NULL, 0},
    {"", "Softplus", NULL, softplus_run, NULL, 0},
    {"", "Softsign", NULL, softsign_run, NULL, 0},
    {"", "ThresholdedRelu", NULL, threlu_run, NULL, 0},
    {"", "Shrink", NULL, shrink_run, NULL, 0},
    {"", "Gelu", NULL, gelu_run, NULL, 0},
    {"", "Swish", NULL, swish_run, NULL, 0},
    {"", "Clip", NULL, clip_run, NULL, 0},
    {"", "BitwiseNot", NULL, bnot_run, NULL, 0},
    {"", "Cast", NULL, cast_run, NULL, 0},
    {"", "CastLike", NULL, castlike_run, NULL, 0},
    {0},
};
