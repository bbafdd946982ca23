/*
 * quant.c: operator family 'quant': linear (de)quantization and the quantized
 * compute operators of int8 CNNs and transformers.
 *
 *   QuantizeLinear, DequantizeLinear (per-tensor, per-axis, blocked; integer
 *   types down to 2 bits, float8 and float4 targets), DynamicQuantizeLinear,
 *   QLinearConv, ConvInteger, QLinearMatMul, MatMulInteger, and from
 *   com.microsoft QLinearAdd and QLinearGlobalAveragePool.
 *
 * Convolutions and products run on the 8-bit GEMM of kernels/qgemm.h (u8 x s8
 * -> s32, packed panels, requantization fused in the epilogue); depthwise
 * convolutions run directly. Constant weights are packed once in prepare().
 * Requantization follows ONNX Runtime exactly: float(acc) * (x_scale * w_scale
 * / y_scale), round half to even, + zero point, saturate.
 */
#include "ops.h"

#include "kernels/qgemm.h"

/* ---------------------------------------------------------------- helpers */

static int is_q8(int dt) { return dt == IT_U8 || dt == IT_I8; }
static int is_f8(int dt) { return dt >= IT_F8E4M3FN && dt <= IT_F8E5M2FNUZ; }
static int is_scale_type(int dt) { return dt == IT_F32 || dt == IT_F16 || dt == IT_BF16 || dt == IT_F64; }

/* Integer range of a quantized integer type; 0 if not one. */
static int int_range(int dt, int64_t *lo, int64_t *hi) {
    switch (dt) {
    case IT_U8: *lo = 0; *hi = 255; return 1;
    case IT_I8: *lo = -128; *hi = 127; return 1;
    case IT_U16: *lo = 0; *hi = 65535; return 1;
    case IT_I16: *lo = -32768; *hi = 32767; return 1;
    case IT_I32: *lo = INT32_MIN; *hi = INT32_MAX; return 1;
    case IT_U4: *lo = 0; *hi = 15; return 1;
    case IT_I4: *lo = -8; *hi = 7; return 1;
    case IT_U2: *lo = 0; *hi = 3; return 1;
    case IT_I2: *lo = -2; *hi = 1; return 1;
    }
    return 0;
}

/* Scalar float of a scale tensor (first element), failing on a wrong type or size. */
static int scale_scalar(it_opctx *c, int i, float *out) {
    it_tensor *t = it_in(c, i);
    if (!t) return it_opfail(c, INGOT_ERR_FORMAT, "scale input %d is missing", i);
    if (!is_scale_type(t->dtype) || it_count(t) != 1)
        return it_opfail(c, INGOT_ERR_SHAPE, "scale input %d must be one float", i);
    *out = (float)it_get_f64(t->data, t->dtype, 0);
    return 0;
}

/* Integer zero point (first element) of an optional input; 0 when omitted. */
static int zp_scalar(it_opctx *c, int i, int want_dt, int32_t *out) {
    it_tensor *t = it_in(c, i);
    *out = 0;
    if (!t) return 0;
    if (it_count(t) != 1) return it_opfail(c, INGOT_ERR_SHAPE, "zero point input %d must be a scalar", i);
    if (want_dt && t->dtype != want_dt)
        return it_opfail(c, INGOT_ERR_FORMAT, "zero point input %d has type %s, expected %s", i,
                         it_dtype_name(t->dtype), it_dtype_name(want_dt));
    *out = (int32_t)it_get_i64(t->data, t->dtype, 0);
    return 0;
}

/* ------------------------------------------- quantization granularity */

/* x viewed as [outer][D][inner]; the scale index of element (o, a, in) is 0
 * (per tensor), a (per axis) or (o * Db + a / bs) * inner + in (blocked). */
typedef struct gran {
    int mode; /* 0 tensor, 1 axis, 2 blocked */
    int64_t outer, D, inner, bs, Db;
} gran;

static int gran_setup(it_opctx *c, const it_tensor *x, const it_tensor *sc, const it_tensor *zp, int64_t axis_attr,
                      int64_t bs, gran *g) {
    int64_t ns = it_count(sc);
    memset(g, 0, sizeof *g);
    g->outer = 1;
    g->D = 1;
    g->inner = it_count(x);
    if (ns < 1) return it_opfail(c, INGOT_ERR_SHAPE, "empty scale");
    if (zp && it_count(zp) != ns) return it_opfail(c, INGOT_ERR_SHAPE, "zero point and scale differ in size");
    if (bs < 0) return it_opfail(c, INGOT_ERR_FORMAT, "negative block_size");
    if (ns == 1) return 0; /* one value: per tensor, whatever the rank */
    int ax = it_axis(axis_attr, x->ndim, 0);
    if (ax < 0) return it_opfail(c, INGOT_ERR_SHAPE, "axis %lld out of range", (long long)axis_attr);
    g->D = x->dims[ax];
    g->outer = 1;
    g->inner = 1;
    for (int d = 0; d < ax; d++) g->outer *= x->dims[d];
    for (int d = ax + 1; d < x->ndim; d++) g->inner *= x->dims[d];
    if (!bs) {
        if (sc->ndim != 1 || ns != g->D)
            return it_opfail(c, INGOT_ERR_SHAPE, "per-axis scale has %lld entries for axis size %lld", (long long)ns,
                             (long long)g->D);
        g->mode = 1;
        return 0;
    }
    if (sc->ndim != x->ndim) return it_opfail(c, INGOT_ERR_SHAPE, "blocked scale rank differs from input rank");
    for (int d = 0; d < x->ndim; d++)
        if (d != ax && sc->dims[d] != x->dims[d])
            return it_opfail(c, INGOT_ERR_SHAPE, "blocked scale dim %d differs from input", d);
    g->bs = bs;
    g->Db = sc->dims[ax];
    if (g->Db != (g->D + bs - 1) / bs)
        return it_opfail(c, INGOT_ERR_SHAPE, "blocked scale has %lld blocks for axis size %lld, block %lld",
                         (long long)g->Db, (long long)g->D, (long long)bs);
    g->mode = 2;
    return 0;
}

static inline int64_t gran_index(const gran *g, int64_t o, int64_t a, int64_t in) {
    if (g->mode == 0) return 0;
    if (g->mode == 1) return a;
    return (o * g->Db + a / g->bs) * g->inner + in;
}

/* ------------------------------------------------------ QuantizeLinear */

static int valid_qtype(int dt) {
    int64_t lo, hi;
    return int_range(dt, &lo, &hi) || is_f8(dt) || dt == IT_F4E2M1;
}

static int quantize_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    IT_REQUIRE_IN(c, 1, sc);
    it_tensor *zp = it_in(c, 2);
    const it_node *nd = c->node;
    int opset = nd->opset;
    int saturate = (int)it_attr_int(nd, "saturate", 1);
    int64_t bs = opset >= 21 ? it_attr_int(nd, "block_size", 0) : 0;
    int odt = opset >= 21 ? (int)it_attr_int(nd, "output_dtype", 0) : 0;
    if (!it_dtype_is_float(x->dtype) || !is_scale_type(sc->dtype))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "input type %s / scale type %s", it_dtype_name(x->dtype),
                         it_dtype_name(sc->dtype));
    if (zp && odt && odt != zp->dtype) return it_opfail(c, INGOT_ERR_FORMAT, "output_dtype differs from zero point type");
    int dt = zp ? zp->dtype : odt ? odt : IT_U8;
    if (!valid_qtype(dt)) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "output type %s", it_dtype_name(dt));
    gran g;
    int st = gran_setup(c, x, sc, zp, it_attr_int(nd, "axis", 1), bs, &g);
    if (st) return st;
    it_tensor *y;
    if ((st = it_out_like(c, 0, dt, x, &y))) return st;
    int64_t lo = 0, hi = 0;
    int integer = int_range(dt, &lo, &hi);
    /* f16 / f16 (bf16 / bf16) divides in that type, like the reference */
    int half = x->dtype == sc->dtype && (x->dtype == IT_F16 || x->dtype == IT_BF16);
    const it_qgemm_tier *qt = it_qgemm_best();
    int64_t i = 0;
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t a = 0; a < g.D; a++) {
            if (g.mode < 2) {
                int64_t si = gran_index(&g, o, a, 0);
                float s = (float)it_get_f64(sc->data, sc->dtype, si);
                int32_t z = zp && !is_f8(dt) ? (int32_t)it_get_f64(zp->data, zp->dtype, si) : 0;
                if (integer && x->dtype == IT_F32 && (dt == IT_U8 || dt == IT_I8)) {
                    const float *xf = (const float *)x->data + i;
                    if (qt->quant) {
                        qt->quant(xf, g.inner, s, z, dt == IT_I8, (uint8_t *)y->data + i);
                        i += g.inner;
                        continue;
                    }
                    float flo = (float)(lo - z), fhi = (float)(hi - z);
                    for (int64_t k = 0; k < g.inner; k++) {
                        float v = xf[k] / s;
                        if (!(v >= flo)) v = flo;
                        if (v > fhi) v = fhi;
                        /* round half to even by the 1.5 * 2^23 trick (|v| < 2^22 here) */
                        int32_t r = (int32_t)((v + 12582912.f) - 12582912.f) + z;
                        if (dt == IT_U8) ((uint8_t *)y->data)[i + k] = (uint8_t)r;
                        else ((int8_t *)y->data)[i + k] = (int8_t)r;
                    }
                    i += g.inner;
                    continue;
                }
            }
            for (int64_t in = 0; in < g.inner; in++, i++) {
                int64_t si = gran_index(&g, o, a, in);
                float s = (float)it_get_f64(sc->data, sc->dtype, si);
                float xv = (float)it_get_f64(x->data, x->dtype, i);
                float v = xv / s;
                if (half) v = x->dtype == IT_F16 ? it_f16_to_f32(it_f32_to_f16(v)) : it_bf16_to_f32(it_f32_to_bf16(v));
                if (integer) {
                    double z = zp ? it_get_f64(zp->data, zp->dtype, si) : 0;
                    double r = v != v ? (double)lo : (double)nearbyintf(v) + z;
                    if (r < (double)lo) r = (double)lo;
                    if (r > (double)hi) r = (double)hi;
                    switch (dt) {
                    case IT_U8: ((uint8_t *)y->data)[i] = (uint8_t)r; break;
                    case IT_I8: ((int8_t *)y->data)[i] = (int8_t)r; break;
                    case IT_U16: ((uint16_t *)y->data)[i] = (uint16_t)r; break;
                    case IT_I16: ((int16_t *)y->data)[i] = (int16_t)r; break;
                    case IT_I32: ((int32_t *)y->data)[i] = (int32_t)r; break;
                    default: it_set_f64(y->data, dt, i, r); break; /* packed 4 / 2 bit */
                    }
                } else if (is_f8(dt)) {
                    it_convert((uint8_t *)y->data + i, dt, &v, IT_F32, 1, saturate);
                } else { /* float4e2m1: zero point added as a float */
                    if (zp) v += (float)it_get_f64(zp->data, zp->dtype, si);
                    it_set_f64(y->data, dt, i, v);
                }
            }
        }
    return 0;
}

/* ---------------------------------------------------- DequantizeLinear */

static int dequantize_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    IT_REQUIRE_IN(c, 1, sc);
    it_tensor *zp = it_in(c, 2);
    const it_node *nd = c->node;
    int opset = nd->opset;
    int64_t bs = opset >= 21 ? it_attr_int(nd, "block_size", 0) : 0;
    int odt = opset >= 23 ? (int)it_attr_int(nd, "output_dtype", 0) : 0;
    if (!odt) odt = sc->dtype;
    if (!is_scale_type(sc->dtype) || !is_scale_type(odt))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "scale type %s / output type %s", it_dtype_name(sc->dtype),
                         it_dtype_name(odt));
    if (!valid_qtype(x->dtype)) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "input type %s", it_dtype_name(x->dtype));
    int floaty = is_f8(x->dtype) || x->dtype == IT_F4E2M1;
    if (zp && !floaty && zp->dtype != x->dtype)
        return it_opfail(c, INGOT_ERR_FORMAT, "zero point type %s differs from input type %s", it_dtype_name(zp->dtype),
                         it_dtype_name(x->dtype));
    if (floaty) zp = NULL; /* float8 / float4 zero points must be zero and are ignored */
    gran g;
    int st = gran_setup(c, x, sc, zp, it_attr_int(nd, "axis", 1), bs, &g);
    if (st) return st;
    it_tensor *y;
    if ((st = it_out_like(c, 0, odt, x, &y))) return st;
    int64_t i = 0;
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t a = 0; a < g.D; a++) {
            if (g.mode < 2 && odt == IT_F32 && is_q8(x->dtype)) {
                int64_t si = gran_index(&g, o, a, 0);
                float s = (float)it_get_f64(sc->data, sc->dtype, si);
                float z = zp ? (float)it_get_i64(zp->data, zp->dtype, si) : 0.f;
                float *yf = (float *)y->data + i;
                if (x->dtype == IT_U8) {
                    const uint8_t *xq = (const uint8_t *)x->data + i;
                    for (int64_t k = 0; k < g.inner; k++) yf[k] = ((float)xq[k] - z) * s;
                } else {
                    const int8_t *xq = (const int8_t *)x->data + i;
                    for (int64_t k = 0; k < g.inner; k++) yf[k] = ((float)xq[k] - z) * s;
                }
                i += g.inner;
                continue;
            }
            for (int64_t in = 0; in < g.inner; in++, i++) {
                int64_t si = gran_index(&g, o, a, in);
                float s = (float)it_get_f64(sc->data, sc->dtype, si);
                float xv = floaty ? (float)it_get_f64(x->data, x->dtype, i) : (float)it_get_i64(x->data, x->dtype, i);
                float z = zp ? (float)it_get_i64(zp->data, zp->dtype, si) : 0.f;
                float v = (xv - z) * s;
                if (odt == IT_F32) ((float *)y->data)[i] = v;
                else it_set_f64(y->data, odt, i, v);
            }
        }
    return 0;
}

/* ----------------------------------------------- DynamicQuantizeLinear */

static int dynq_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    if (x->dtype != IT_F32) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "input type %s", it_dtype_name(x->dtype));
    int64_t n = it_count(x);
    const float *xf = x->data;
    float mx = 0.f, mn = 0.f;
    for (int64_t i = 0; i < n; i++) {
        if (xf[i] > mx) mx = xf[i];
        if (xf[i] < mn) mn = xf[i];
    }
    float scale = (mx == mn ? 1.0f : (mx - mn)) / 255.0f;
    float zf = 0.0f - mn / scale;
    zf = zf < 0.f ? 0.f : zf > 255.f ? 255.f : zf;
    float zpi = nearbyintf(zf);
    it_tensor *y, *ys, *yz;
    int st;
    if ((st = it_out_like(c, 0, IT_U8, x, &y))) return st;
    if ((st = it_out_tensor(c, 1, IT_F32, 0, NULL, &ys))) return st;
    if ((st = it_out_tensor(c, 2, IT_U8, 0, NULL, &yz))) return st;
    uint8_t *q = y->data;
    for (int64_t i = 0; i < n; i++) {
        float v = nearbyintf(xf[i] / scale) + zpi;
        if (!(v >= 0.f)) v = 0.f;
        if (v > 255.f) v = 255.f;
        q[i] = (uint8_t)v;
    }
    *(float *)ys->data = scale;
    *(uint8_t *)yz->data = (uint8_t)zpi;
    return 0;
}

/* ------------------------------------------------ convolution geometry */

/* 1-D convolutions are handled as 2-D ones with H = KH = 1. */
typedef struct cgeo {
    int64_t N, C, H, W, M, G, Cg, Mg, KH, KW, OH, OW, sh, sw, dh, dw, ph, pw;
} cgeo;

static int conv_geo(it_opctx *c, const it_tensor *x, const it_tensor *w, cgeo *g) {
    const it_node *nd = c->node;
    if (x->ndim < 3 || x->ndim > 4 || w->ndim != x->ndim)
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "input rank %d / weight rank %d (1-D and 2-D convolutions only)",
                         x->ndim, w->ndim);
    int nsp = x->ndim - 2;
    int64_t in[2] = {1, 1}, k[2] = {1, 1}, s[2] = {1, 1}, d[2] = {1, 1}, p0[2] = {0, 0}, p1[2] = {0, 0}, out[2];
    for (int i = 0; i < nsp; i++) {
        in[2 - nsp + i] = x->dims[2 + i];
        k[2 - nsp + i] = w->dims[2 + i];
    }
    const int64_t *v;
    int n;
    if ((n = it_attr_ints(nd, "kernel_shape", &v))) {
        if (n != nsp) return it_opfail(c, INGOT_ERR_SHAPE, "kernel_shape has %d entries", n);
        for (int i = 0; i < nsp; i++)
            if (v[i] != w->dims[2 + i]) return it_opfail(c, INGOT_ERR_SHAPE, "kernel_shape differs from the weights");
    }
    if ((n = it_attr_ints(nd, "strides", &v))) {
        if (n != nsp) return it_opfail(c, INGOT_ERR_SHAPE, "strides has %d entries", n);
        for (int i = 0; i < nsp; i++) s[2 - nsp + i] = v[i];
    }
    if ((n = it_attr_ints(nd, "dilations", &v))) {
        if (n != nsp) return it_opfail(c, INGOT_ERR_SHAPE, "dilations has %d entries", n);
        for (int i = 0; i < nsp; i++) d[2 - nsp + i] = v[i];
    }
    if ((n = it_attr_ints(nd, "pads", &v))) {
        if (n != 2 * nsp) return it_opfail(c, INGOT_ERR_SHAPE, "pads has %d entries", n);
        for (int i = 0; i < nsp; i++) {
            p0[2 - nsp + i] = v[i];
            p1[2 - nsp + i] = v[nsp + i];
        }
    }
    for (int i = 0; i < 2; i++) {
        if (s[i] < 1 || d[i] < 1 || k[i] < 1 || p0[i] < 0 || p1[i] < 0 || in[i] < 0 || s[i] > (1 << 20) ||
            d[i] > (1 << 20) || p0[i] > (1 << 24) || p1[i] > (1 << 24) || k[i] > (1 << 20))
            return it_opfail(c, INGOT_ERR_SHAPE, "bad kernel, stride, dilation or pad");
    }
    const char *ap = it_attr_str(nd, "auto_pad", "NOTSET");
    int same = !strcmp(ap, "SAME_UPPER") ? 1 : !strcmp(ap, "SAME_LOWER") ? 2 : 0;
    for (int i = 0; i < 2; i++) {
        int64_t ext = d[i] * (k[i] - 1) + 1;
        if (same) {
            out[i] = (in[i] + s[i] - 1) / s[i];
            int64_t tot = (out[i] - 1) * s[i] + ext - in[i];
            if (tot < 0) tot = 0;
            p0[i] = same == 1 ? tot / 2 : tot - tot / 2;
            p1[i] = tot - p0[i];
        } else {
            if (!strcmp(ap, "VALID")) p0[i] = p1[i] = 0;
            int64_t span = in[i] + p0[i] + p1[i] - ext;
            if (span < 0) return it_opfail(c, INGOT_ERR_SHAPE, "kernel larger than the padded input");
            out[i] = span / s[i] + 1;
        }
    }
    g->N = x->dims[0];
    g->C = x->dims[1];
    g->M = w->dims[0];
    g->G = it_attr_int(nd, "group", 1);
    if (g->G < 1 || g->C % g->G || g->M % g->G || w->dims[1] * g->G != g->C)
        return it_opfail(c, INGOT_ERR_SHAPE, "channels %lld, weight %lldx%lld, group %lld do not fit", (long long)g->C,
                         (long long)g->M, (long long)w->dims[1], (long long)g->G);
    g->Cg = g->C / g->G;
    g->Mg = g->M / g->G;
    g->H = in[0]; g->W = in[1];
    g->KH = k[0]; g->KW = k[1];
    g->OH = out[0]; g->OW = out[1];
    g->sh = s[0]; g->sw = s[1];
    g->dh = d[0]; g->dw = d[1];
    g->ph = p0[0]; g->pw = p0[1];
    int64_t t;
    if (!it_mul_ok(g->Cg, g->KH * g->KW, &t) || t > ((int64_t)1 << 26) || !it_mul_ok(g->OH, g->OW, &t) ||
        !it_mul_ok(t, g->M, &t) || !it_mul_ok(t, g->N, &t))
        return it_opfail(c, INGOT_ERR_SHAPE, "convolution too large");
    return 0;
}

/* ------------------------------------------------- packed weights */

/* Weights of a quantized convolution: G packed A operands (Mg rows x Kg), the
 * weight zero points and row sums; for depthwise convolutions (w - wz) as int32. */
typedef struct qconv_w {
    const it_qgemm_tier *t;
    int w_s8;
    int64_t M, G, Kg, KHW, gbytes;
    int depthwise;
    uint8_t *wp;
    int32_t *rowsum, *wz, *dw;
    int8_t *dw8; /* depthwise (w - wz) as int8 when every value fits (dw8_ok) */
    int dw8_ok;
    float *sc;   /* QLinearConv with constant scales: x_scale * w_scale[m] / y_scale, [M] */
    int any_wz;
    void *mem; /* heap block when owned by node->state */
} qconv_w;

#define DW_MAX_TAPS 64 /* larger depthwise kernels go through the GEMM path */

static int is_depthwise(const it_tensor *w, int64_t G) {
    int64_t khw = 1;
    for (int i = 2; i < w->ndim; i++) khw *= w->dims[i];
    return G > 1 && w->dims[1] == 1 && w->dims[0] == G && khw <= DW_MAX_TAPS;
}

/* Build from weights w [M, Cg, KH, KW] and optional zero points wzt (scalar or [M]).
 * c NULL: heap memory (prepare), else scratch. */
static int qconv_w_build(qconv_w *q, const it_tensor *w, const it_tensor *wzt, int64_t G, it_threadpool *tp,
                         it_opctx *c, it_err *e) {
    memset(q, 0, sizeof *q);
    if (!is_q8(w->dtype)) return it_fail(e, INGOT_ERR_UNSUPPORTED, "weight type %s", it_dtype_name(w->dtype));
    if (w->ndim < 3 || w->ndim > 4 || G < 1 || w->dims[0] % G)
        return it_fail(e, INGOT_ERR_SHAPE, "bad weight shape or group");
    q->t = it_qgemm_best();
    q->w_s8 = w->dtype == IT_I8;
    q->M = w->dims[0];
    q->G = G;
    q->KHW = 1;
    for (int i = 2; i < w->ndim; i++) q->KHW *= w->dims[i];
    q->Kg = w->dims[1] * q->KHW;
    if (q->Kg < 1 || q->Kg > ((int64_t)1 << 26)) return it_fail(e, INGOT_ERR_SHAPE, "bad weight size");
    q->depthwise = is_depthwise(w, G);
    int64_t M = q->M, Mg = M / G;
    if (wzt) {
        int64_t nz = it_count(wzt);
        if (wzt->dtype != w->dtype) return it_fail(e, INGOT_ERR_FORMAT, "weight zero point type differs from weights");
        if (nz != 1 && nz != M) return it_fail(e, INGOT_ERR_SHAPE, "weight zero point has %lld entries", (long long)nz);
    }
    q->gbytes = q->depthwise ? 0 : it_align_up((size_t)it_qpack_bytes(q->t, 0, Mg, q->Kg), 64);
    size_t bytes = (size_t)(q->gbytes * G) + 2 * it_align_up((size_t)M * 4, 64) +
                   (q->depthwise ? it_align_up((size_t)(M * q->KHW) * 5, 64) : 0);
    uint8_t *mem = c ? it_scratch(c, bytes) : it_malloc(bytes);
    if (!mem) return it_fail(e, INGOT_ERR_NOMEM, "out of memory packing weights");
    if (!c) q->mem = mem;
    q->wp = mem;
    q->rowsum = (int32_t *)(mem + q->gbytes * G);
    q->wz = (int32_t *)((uint8_t *)q->rowsum + it_align_up((size_t)M * 4, 64));
    for (int64_t m = 0; m < M; m++) {
        q->wz[m] = wzt ? (int32_t)it_get_i64(wzt->data, wzt->dtype, it_count(wzt) == 1 ? 0 : m) : 0;
        if (q->wz[m]) q->any_wz = 1;
    }
    if (q->depthwise) {
        q->dw = (int32_t *)((uint8_t *)q->wz + it_align_up((size_t)M * 4, 64));
        for (int64_t m = 0; m < M; m++)
            for (int64_t k = 0; k < q->KHW; k++) {
                int v = q->w_s8 ? ((const int8_t *)w->data)[m * q->KHW + k] : ((const uint8_t *)w->data)[m * q->KHW + k];
                q->dw[m * q->KHW + k] = v - q->wz[m];
            }
        q->dw8 = (int8_t *)(q->dw + M * q->KHW);
        q->dw8_ok = 1;
        for (int64_t i = 0; i < M * q->KHW; i++) {
            if (q->dw[i] < -128 || q->dw[i] > 127) q->dw8_ok = 0;
            q->dw8[i] = (int8_t)q->dw[i];
        }
        return 0;
    }
    for (int64_t g = 0; g < G; g++)
        it_qpack(tp, q->t, 0, Mg, q->Kg, (const uint8_t *)w->data + g * Mg * q->Kg, q->Kg, 1, 0, q->w_s8,
                 q->wp + g * q->gbytes, q->rowsum + g * Mg);
    return 0;
}

static void qconv_w_free(void *p) {
    qconv_w *q = p;
    if (!q) return;
    it_free(q->sc);
    it_free(q->mem);
    it_free(q);
}

/* Requantization scales of QLinearConv: x_scale * w_scale[m or 0] / y_scale. */
static void conv_scales(float xs, const it_tensor *ws, float ys, int64_t M, float *out) {
    for (int64_t m = 0; m < M; m++) out[m] = xs * (float)it_get_f64(ws->data, ws->dtype, it_count(ws) == 1 ? 0 : m) / ys;
}

/* prepare for QLinearConv (w at 3, w_zp at 5) and ConvInteger (w at 1, w_zp at 3) */
static int qconv_prepare_at(it_node *n, const it_graph *g, it_err *e, int wi, int wzi) {
    if (n->state) return 0;
    const it_tensor *w = it_node_const_input(g, n, wi);
    if (!w || !is_q8(w->dtype)) return 0;
    const it_tensor *wz = NULL;
    if (wzi < n->n_in && n->in[wzi] >= 0) {
        wz = it_node_const_input(g, n, wzi);
        if (!wz) return 0;
    }
    int64_t G = it_attr_int(n, "group", 1);
    if (w->ndim < 3 || w->ndim > 4 || G < 1 || w->dims[0] % G) return 0; /* run reports it */
    qconv_w *q = it_calloc(sizeof *q);
    if (!q) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    int st = qconv_w_build(q, w, wz, G, NULL, NULL, e);
    if (st) {
        it_free(q);
        return st;
    }
    if (wi == 3) { /* constant scales: computed once here instead of on every run */
        const it_tensor *xs = it_node_const_input(g, n, 1), *ws = it_node_const_input(g, n, 4);
        const it_tensor *ys = n->n_in > 6 ? it_node_const_input(g, n, 6) : NULL;
        if (xs && ws && ys && is_scale_type(xs->dtype) && is_scale_type(ws->dtype) && is_scale_type(ys->dtype) &&
            it_count(xs) == 1 && it_count(ys) == 1 && (it_count(ws) == 1 || it_count(ws) == q->M) &&
            (q->sc = it_malloc((size_t)q->M * 4)))
            conv_scales((float)it_get_f64(xs->data, xs->dtype, 0), ws, (float)it_get_f64(ys->data, ys->dtype, 0),
                        q->M, q->sc);
    }
    n->state = q;
    return 0;
}
static int qlconv_prepare(it_node *n, const it_graph *g, it_err *e) { return qconv_prepare_at(n, g, e, 3, 5); }
static int convint_prepare(it_node *n, const it_graph *g, it_err *e) { return qconv_prepare_at(n, g, e, 1, 3); }

/* ----------------------------------------------------- convolution run */

typedef struct qconv_run_args {
    cgeo g;
    const uint8_t *x;
    int x_s8;
    int32_t xz;
    const qconv_w *w;
    const int32_t *bias; /* [M] or NULL */
    int out_type;        /* 0 int32, 1 u8, 2 s8 */
    const float *scales; /* [M] */
    int32_t yz;
    void *y;
    /* im2col */
    uint8_t *col;
    const uint8_t *xg; /* input of the current image and group */
    /* depthwise: per thread, the padded input plane split by row phase and the
     * flattened output (see dw_range) */
    uint8_t *dw_planes;
    int64_t dw_hq, dw_p, dw_q, dw_sub, dw_tmp_off, dw_plane_bytes;
    int dw_nslot;
    int dw_slot[DW_MAX_TAPS];   /* per kernel row: sub-plane holding its row phase */
    int64_t dw_roff[DW_MAX_TAPS]; /* per kernel row: row offset inside that sub-plane */
    int dw_py[DW_MAX_TAPS];      /* per sub-plane: its row phase */
} qconv_run_args;

/* Depthwise convolution, one channel plane at a time. The plane is copied with
 * its padding (the input zero point, folded into the bias as bias - xz *
 * sum(w)) into sub-planes by row phase: sub-plane py holds padded rows
 * r * sh + py with pitch P (P >= padded width, a multiple of sw). Output (oy, ox)
 * then sits at flattened index j = oy * Q + ox, Q = P / sw, and kernel tap (ky, kx)
 * reads sub-plane byte sw * j + roff(ky) * P + kx * dw: the whole plane is one
 * long strided row for the tier's kernels, which keeps their vectors full on
 * small planes (7x7, 14x14). The Q - OW junk outputs per row are dropped when
 * the flattened result is copied out. */
/* Copy the channel's input rows into the sub-planes (whose padding was filled
 * once per thread: it is the same for every channel). */
static void dw_build(const qconv_run_args *a, const it_qgemm_tier *t, const uint8_t *xc, uint8_t *plane) {
    const cgeo *g = &a->g;
    const int64_t P = a->dw_p;
    const int64_t c0 = g->pw < P ? g->pw : P, nc = g->W < P - c0 ? g->W : P - c0;
    for (int s = 0; s < a->dw_nslot; s++) {
        /* rows r with 0 <= r * sh + py - ph < H */
        int64_t py = a->dw_py[s], r0 = g->ph - py <= 0 ? 0 : (g->ph - py + g->sh - 1) / g->sh;
        if (g->H - 1 + g->ph - py < 0) continue;
        int64_t r1 = (g->H - 1 + g->ph - py) / g->sh + 1;
        if (r1 > a->dw_hq) r1 = a->dw_hq;
        if (r1 <= r0 || nc <= 0) continue;
        t->copy2d(plane + s * a->dw_sub + r0 * P + c0, P, xc + (r0 * g->sh + py - g->ph) * g->W, g->sh * g->W,
                  r1 - r0, nc);
    }
}

static void dw_range(void *arg, int64_t p0, int64_t p1, int tid) {
    const qconv_run_args *a = arg;
    const cgeo *g = &a->g;
    const it_qgemm_tier *t = a->w->t;
    uint8_t *plane = a->dw_planes + (size_t)tid * (size_t)a->dw_plane_bytes;
    uint8_t *tmp = plane + a->dw_tmp_off;
    const uint8_t *src[DW_MAX_TAPS], *rows[DW_MAX_TAPS];
    const int ntaps = (int)(g->KH * g->KW);
    const int q8out = a->out_type != 0;
    const size_t osz = q8out ? 1 : 4;
    const int64_t P = a->dw_p, Q = a->dw_q, n = (g->OH - 1) * Q + g->OW;
    const int fast = q8out && t->dw_plane && a->w->dw8_ok && g->dw == 1 && g->KW <= 4 && g->KH <= 16 &&
                     (g->sw == 1 || g->sw == 2);
    /* padding, and the slack that vector loads may read past the last sub-plane */
    memset(plane, (uint8_t)a->xz, (size_t)(a->dw_nslot * a->dw_sub + IT_QDW_SLACK));
    for (int64_t ky = 0; ky < g->KH; ky++) {
        rows[ky] = plane + a->dw_slot[ky] * a->dw_sub + a->dw_roff[ky] * P;
        for (int64_t kx = 0; kx < g->KW; kx++) src[ky * g->KW + kx] = rows[ky] + kx * g->dw;
    }
    for (int64_t p = p0; p < p1; p++) {
        int64_t ch = p % g->C;
        dw_build(a, t, a->x + p * g->H * g->W, plane);
        const int32_t *wk = a->w->dw + ch * a->w->KHW;
        int32_t wsum = 0;
        for (int k = 0; k < ntaps; k++) wsum += wk[k];
        int32_t b = (a->bias ? a->bias[ch] : 0) - a->xz * wsum;
        uint8_t *y = (uint8_t *)a->y + (size_t)(p * g->OH * g->OW) * osz;
        uint8_t *o = Q == g->OW ? y : tmp;
        if (fast)
            t->dw_plane(rows, (int)g->KH, (int)g->KW, n, (int)g->sw, a->x_s8, a->w->dw8 + ch * a->w->KHW, b,
                        a->scales[ch], a->yz, a->out_type == 2, o);
        else
            t->dw_row(src, n, (int)g->sw, a->x_s8, wk, ntaps, b, q8out ? a->scales + ch : NULL, a->yz,
                      a->out_type == 2, o);
        if (o == tmp) t->copy2d(y, g->OW * (int64_t)osz, tmp, Q * (int64_t)osz, g->OH, g->OW * (int64_t)osz);
    }
}

/* im2col of one image and group: col[k][oy*OW+ox], k = (ci, ky, kx); padding gets the raw zero point. */
static void im2col_range(void *arg, int64_t k0, int64_t k1, int tid) {
    (void)tid;
    const qconv_run_args *a = arg;
    const cgeo *g = &a->g;
    const int64_t NN = g->OH * g->OW, khw = g->KH * g->KW;
    const uint8_t pad = (uint8_t)a->xz;
    for (int64_t k = k0; k < k1; k++) {
        int64_t ci = k / khw, ky = (k / g->KW) % g->KH, kx = k % g->KW;
        const uint8_t *xc = a->xg + ci * g->H * g->W;
        uint8_t *dst = a->col + k * NN;
        int64_t off = kx * g->dw - g->pw;
        int64_t lo = off >= 0 ? 0 : (-off + g->sw - 1) / g->sw;
        int64_t hi = g->W - 1 - off < 0 ? -1 : (g->W - 1 - off) / g->sw;
        if (hi > g->OW - 1) hi = g->OW - 1;
        if (lo > g->OW) lo = g->OW;
        for (int64_t oy = 0; oy < g->OH; oy++) {
            uint8_t *d = dst + oy * g->OW;
            int64_t iy = oy * g->sh - g->ph + ky * g->dh;
            if (iy < 0 || iy >= g->H) {
                memset(d, pad, (size_t)g->OW);
                continue;
            }
            const uint8_t *row = xc + iy * g->W;
            if (lo > 0) memset(d, pad, (size_t)lo);
            if (g->sw == 1) {
                if (hi >= lo) memcpy(d + lo, row + lo + off, (size_t)(hi - lo + 1));
            } else
                for (int64_t ox = lo; ox <= hi; ox++) d[ox] = row[ox * g->sw + off];
            if (hi + 1 < g->OW) memset(d + (hi + 1 > lo ? hi + 1 : lo), pad, (size_t)(g->OW - (hi + 1 > lo ? hi + 1 : lo)));
        }
    }
}

static int qconv_exec(it_opctx *c, qconv_run_args *a) {
    const cgeo *g = &a->g;
    const qconv_w *w = a->w;
    const int64_t NN = g->OH * g->OW, HW = g->H * g->W;
    if (NN == 0 || g->N == 0 || g->M == 0) return 0;
    size_t osz = a->out_type == 0 ? 4 : 1;
    if (w->depthwise && g->Cg == 1 && g->Mg == 1 && g->KH * g->KW <= DW_MAX_TAPS) {
        int64_t planes = g->N * g->C, pb, tb;
        int nth = it_threadpool_size(c->tp);
        int64_t wp = (g->OW - 1) * g->sw + (g->KW - 1) * g->dw + 1;
        a->dw_p = (wp + g->sw - 1) / g->sw * g->sw;
        a->dw_q = a->dw_p / g->sw;
        a->dw_hq = g->OH + (g->KH - 1) * g->dh / g->sh;
        a->dw_nslot = 0;
        for (int64_t ky = 0; ky < g->KH; ky++) { /* one sub-plane per row phase in use */
            int py = (int)(ky * g->dh % g->sh), s = 0;
            while (s < a->dw_nslot && a->dw_py[s] != py) s++;
            if (s == a->dw_nslot) a->dw_py[a->dw_nslot++] = py;
            a->dw_slot[ky] = s;
            a->dw_roff[ky] = ky * g->dh / g->sh;
        }
        if (!it_mul_ok(a->dw_hq, a->dw_p, &a->dw_sub) || !it_mul_ok(a->dw_sub, a->dw_nslot, &pb) ||
            !it_mul_ok((g->OH - 1) * a->dw_q + g->OW, (int64_t)osz, &tb) || pb > ((int64_t)1 << 34) || tb > ((int64_t)1 << 34))
            return it_opfail(c, INGOT_ERR_SHAPE, "depthwise plane too large");
        a->dw_tmp_off = (int64_t)it_align_up((size_t)(pb + IT_QDW_SLACK), 64);
        a->dw_plane_bytes = a->dw_tmp_off + (int64_t)it_align_up((size_t)tb + 64, 64);
        a->dw_planes = it_scratch_raw(c, (size_t)(a->dw_plane_bytes * (nth < 1 ? 1 : nth))); /* filled per task */
        if (!a->dw_planes) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
        int64_t grain = 1 + 32768 / (1 + NN * w->KHW);
        it_parallel_for(c->tp, planes, grain, dw_range, a);
        return 0;
    }
    const it_qgemm_tier *t = w->t;
    const int64_t K = w->Kg, Mg = g->Mg;
    int pointwise = g->KH == 1 && g->KW == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0 &&
                    g->OH == g->H && g->OW == g->W;
    int flip_b = a->x_s8 == w->w_s8;
    int pb_s8 = !w->w_s8;
    int32_t xzp = flip_b ? (a->x_s8 ? a->xz + 128 : a->xz - 128) : a->xz;
    /* without weight zero points no column sums are needed: B panels are then
     * packed inside the GEMM's workers (it_qgemm_b), not in a pass of their own */
    int fused = !w->any_wz;
    int64_t bbytes = fused ? it_qgemm_b_ws_bytes(t, K, it_threadpool_size(c->tp)) : it_qpack_bytes(t, 1, NN, K);
    int64_t colbytes;
    if (bbytes < 0 || !it_mul_ok(K, NN, &colbytes)) return it_opfail(c, INGOT_ERR_SHAPE, "convolution too large");
    uint8_t *bp = it_scratch(c, (size_t)bbytes);
    int32_t *colsum = w->any_wz ? it_scratch(c, (size_t)NN * 4) : NULL;
    int32_t *radd = it_scratch(c, (size_t)g->M * 4);
    a->col = pointwise ? NULL : it_scratch(c, (size_t)(K * NN));
    if (!bp || !radd || (w->any_wz && !colsum) || (!pointwise && !a->col))
        return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    for (int64_t m = 0; m < g->M; m++) {
        int64_t v = (a->bias ? a->bias[m] : 0) + K * (int64_t)w->wz[m] * xzp - (int64_t)xzp * w->rowsum[m];
        radd[m] = (int32_t)(uint32_t)(uint64_t)v;
    }
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t gi = 0; gi < g->G; gi++) {
            const uint8_t *src = a->x + (n * g->C + gi * g->Cg) * HW;
            int64_t s_k = HW;
            if (!pointwise) {
                a->xg = src;
                it_parallel_for(c->tp, K, 1 + 65536 / (NN + 1), im2col_range, a);
                src = a->col;
                s_k = NN;
            }
            if (!fused) it_qpack(c->tp, t, 1, NN, K, src, 1, s_k, flip_b, pb_s8, bp, colsum);
            it_qepi ep = {0};
            ep.row_add = radd + gi * Mg;
            if (w->any_wz) {
                ep.row_z = w->wz + gi * Mg;
                ep.col_s = colsum;
            }
            ep.out_type = a->out_type;
            ep.scale = a->scales ? a->scales + gi * Mg : NULL;
            ep.scale_mode = 1;
            ep.zp = a->yz;
            ep.C = (uint8_t *)a->y + (size_t)((n * g->M + gi * Mg) * NN) * osz;
            ep.ldc_m = NN;
            ep.ldc_n = 1;
            if (fused) {
                it_qbsrc bs = {src, s_k, flip_b, pb_s8};
                it_qgemm_b(c->tp, t, Mg, NN, K, w->wp + gi * w->gbytes, &bs, bp, !w->w_s8, &ep);
            } else
                it_qgemm(c->tp, t, Mg, NN, K, w->wp + gi * w->gbytes, bp, !w->w_s8, &ep);
        }
    return 0;
}

/* Shared front end of QLinearConv and ConvInteger. */
static int qconv_common(it_opctx *c, int qlinear) {
    int xi = 0, wi = qlinear ? 3 : 1, xzi = qlinear ? 2 : 2, wzi = qlinear ? 5 : 3;
    IT_REQUIRE_IN(c, 0, x);
    it_tensor *w = it_in(c, wi);
    if (!w) return it_opfail(c, INGOT_ERR_FORMAT, "weights missing");
    (void)xi;
    if (!is_q8(x->dtype) || !is_q8(w->dtype))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "input type %s, weight type %s", it_dtype_name(x->dtype),
                         it_dtype_name(w->dtype));
    qconv_run_args a;
    memset(&a, 0, sizeof a);
    int st = conv_geo(c, x, w, &a.g);
    if (st) return st;
    a.x = x->data;
    a.x_s8 = x->dtype == IT_I8;
    if ((st = zp_scalar(c, xzi, x->dtype, &a.xz))) return st;
    it_tensor *wzt = it_in(c, wzi);
    qconv_w local;
    const qconv_w *q = c->node->state;
    if (q && (q->M != w->dims[0] || q->G != a.g.G || q->w_s8 != (w->dtype == IT_I8))) q = NULL;
    if (!q) {
        it_err e = {{0}};
        if ((st = qconv_w_build(&local, w, wzt, a.g.G, c->tp, c, &e))) return it_opfail(c, st, "%s", e.msg);
        q = &local;
    }
    a.w = q;
    int64_t M = a.g.M;
    int out_dt = IT_I32;
    if (qlinear) {
        float xs, ys;
        if ((st = scale_scalar(c, 1, &xs)) || (st = scale_scalar(c, 6, &ys))) return st;
        it_tensor *ws = it_in(c, 4), *yzt = it_in(c, 7), *bt = it_in(c, 8);
        if (!ws || !is_scale_type(ws->dtype) || (it_count(ws) != 1 && it_count(ws) != M))
            return it_opfail(c, INGOT_ERR_SHAPE, "weight scale must have 1 or %lld entries", (long long)M);
        out_dt = yzt ? yzt->dtype : x->dtype;
        if (!is_q8(out_dt)) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "output type %s", it_dtype_name(out_dt));
        if ((st = zp_scalar(c, 7, 0, &a.yz))) return st;
        if (q->sc && q == c->node->state) a.scales = q->sc;
        else {
            float *sc = it_scratch(c, (size_t)M * 4);
            if (!sc) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
            conv_scales(xs, ws, ys, M, sc);
            a.scales = sc;
        }
        if (bt) {
            if (bt->dtype != IT_I32 || it_count(bt) != M)
                return it_opfail(c, INGOT_ERR_SHAPE, "bias must be int32 with %lld entries", (long long)M);
            a.bias = bt->data;
        }
        a.out_type = out_dt == IT_I8 ? 2 : 1;
    }
    int64_t od[4] = {a.g.N, M, a.g.OH, a.g.OW};
    if (x->ndim == 3) od[2] = a.g.OW;
    it_tensor *y;
    if ((st = it_out_tensor(c, 0, out_dt, x->ndim, od, &y))) return st;
    a.y = y->data;
    return qconv_exec(c, &a);
}

static int qlconv_run(it_opctx *c) { return qconv_common(c, 1); }
static int convint_run(it_opctx *c) { return qconv_common(c, 0); }

/* ------------------------------------------------------ matrix products */

/* Constant 2-D B operand packed in prepare (QLinearMatMul b at 3, MatMulInteger b at 1). */
typedef struct qmm_b {
    const it_qgemm_tier *t;
    int b_s8;
    int64_t K, N;
    uint8_t *bp;
    int32_t *colsum;
    void *mem;
} qmm_b;

static void qmm_b_free(void *p) {
    qmm_b *q = p;
    if (!q) return;
    it_free(q->mem);
    it_free(q);
}

static int qmm_prepare_at(it_node *n, const it_graph *g, it_err *e, int bi) {
    if (n->state) return 0;
    const it_tensor *b = it_node_const_input(g, n, bi);
    if (!b || !is_q8(b->dtype) || b->ndim != 2 || b->dims[0] < 1 || b->dims[1] < 1) return 0;
    qmm_b *q = it_calloc(sizeof *q);
    if (!q) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    q->t = it_qgemm_best();
    q->b_s8 = b->dtype == IT_I8;
    q->K = b->dims[0];
    q->N = b->dims[1];
    int64_t bytes = it_qpack_bytes(q->t, 1, q->N, q->K);
    if (bytes < 0 || q->K > ((int64_t)1 << 26)) {
        it_free(q);
        return 0;
    }
    size_t pb = it_align_up((size_t)bytes, 64);
    q->mem = it_malloc(pb + (size_t)q->N * 4);
    if (!q->mem) {
        it_free(q);
        return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    }
    q->bp = q->mem;
    q->colsum = (int32_t *)((uint8_t *)q->mem + pb);
    it_qpack(NULL, q->t, 1, q->N, q->K, b->data, 1, q->N, 0, q->b_s8, q->bp, q->colsum);
    n->state = q;
    return 0;
}
static int qlmm_prepare(it_node *n, const it_graph *g, it_err *e) { return qmm_prepare_at(n, g, e, 3); }
static int mmint_prepare(it_node *n, const it_graph *g, it_err *e) { return qmm_prepare_at(n, g, e, 1); }

/* Per-row (a, M entries) or per-column (b, N entries) zero points / scales. */
static int vec_param(it_opctx *c, int i, int64_t want, const char *what, int64_t *count) {
    it_tensor *t = it_in(c, i);
    *count = t ? it_count(t) : 0;
    if (t && *count != 1 && *count != want)
        return it_opfail(c, INGOT_ERR_SHAPE, "%s has %lld entries, expected 1 or %lld", what, (long long)*count,
                         (long long)want);
    return 0;
}

static int qmm_common(it_opctx *c, int qlinear) {
    int ai = 0, bi = qlinear ? 3 : 1, azi = qlinear ? 2 : 2, bzi = qlinear ? 5 : 3;
    it_tensor *A = it_in(c, ai), *B = it_in(c, bi);
    if (!A || !B) return it_opfail(c, INGOT_ERR_FORMAT, "missing input");
    if (!is_q8(A->dtype) || !is_q8(B->dtype))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "input types %s, %s", it_dtype_name(A->dtype), it_dtype_name(B->dtype));
    if (A->ndim < 1 || B->ndim < 1) return it_opfail(c, INGOT_ERR_SHAPE, "scalar operand");
    int64_t M = A->ndim == 1 ? 1 : A->dims[A->ndim - 2], K = A->dims[A->ndim - 1];
    int64_t Kb = B->ndim == 1 ? B->dims[0] : B->dims[B->ndim - 2], N = B->ndim == 1 ? 1 : B->dims[B->ndim - 1];
    if (K != Kb) return it_opfail(c, INGOT_ERR_SHAPE, "inner dimensions %lld and %lld differ", (long long)K, (long long)Kb);
    if (K > ((int64_t)1 << 26)) return it_opfail(c, INGOT_ERR_SHAPE, "inner dimension too large");
    int nba = A->ndim > 2 ? A->ndim - 2 : 0, nbb = B->ndim > 2 ? B->ndim - 2 : 0, nbo;
    int64_t bo[IT_MAX_DIMS];
    if (it_broadcast_shape(nba, A->dims, nbb, B->dims, &nbo, bo))
        return it_opfail(c, INGOT_ERR_SHAPE, "batch dimensions do not broadcast");
    int64_t od[IT_MAX_DIMS + 2];
    int ond = 0;
    for (int i = 0; i < nbo; i++) od[ond++] = bo[i];
    if (A->ndim > 1) od[ond++] = M;
    if (B->ndim > 1) od[ond++] = N;
    if (ond > IT_MAX_DIMS) return it_opfail(c, INGOT_ERR_SHAPE, "output rank too large");
    int64_t nza, nzb;
    int st;
    if ((st = vec_param(c, azi, M, "a zero point", &nza)) || (st = vec_param(c, bzi, N, "b zero point", &nzb))) return st;
    it_tensor *azt = it_in(c, azi), *bzt = it_in(c, bzi);
    if ((azt && azt->dtype != A->dtype) || (bzt && bzt->dtype != B->dtype))
        return it_opfail(c, INGOT_ERR_FORMAT, "zero point type differs from its input");
    int out_dt = IT_I32, out_type = 0, scale_mode = 0, both_vec = 0;
    float *scales = NULL;
    int32_t yz = 0;
    if (qlinear) {
        it_tensor *as = it_in(c, 1), *bs = it_in(c, 4), *ys = it_in(c, 6), *yzt = it_in(c, 7);
        if (!as || !bs || !ys || !is_scale_type(as->dtype) || !is_scale_type(bs->dtype) || !is_scale_type(ys->dtype) ||
            it_count(ys) != 1)
            return it_opfail(c, INGOT_ERR_FORMAT, "bad or missing scales");
        int64_t nas, nbs;
        if ((st = vec_param(c, 1, M, "a scale", &nas)) || (st = vec_param(c, 4, N, "b scale", &nbs))) return st;
        out_dt = yzt ? yzt->dtype : A->dtype;
        if (!is_q8(out_dt)) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "output type %s", it_dtype_name(out_dt));
        if ((st = zp_scalar(c, 7, 0, &yz))) return st;
        out_type = out_dt == IT_I8 ? 2 : 1;
        float y = (float)it_get_f64(ys->data, ys->dtype, 0);
        int64_t ns = nas > 1 && nbs > 1 ? M * N : nas > 1 ? M : nbs > 1 ? N : 1;
        scales = it_scratch(c, (size_t)ns * 4);
        if (!scales) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
        scale_mode = nas > 1 && nbs > 1 ? 3 : nas > 1 ? 1 : nbs > 1 ? 2 : 0;
        both_vec = scale_mode == 3;
        for (int64_t i = 0; i < ns; i++) {
            int64_t r = scale_mode == 3 ? i / N : i, q = scale_mode == 3 ? i % N : i;
            float av = (float)it_get_f64(as->data, as->dtype, nas > 1 ? r : 0);
            float bv = (float)it_get_f64(bs->data, bs->dtype, nbs > 1 ? q : 0);
            scales[i] = av * bv / y;
        }
    }
    it_tensor *Y;
    if ((st = it_out_tensor(c, 0, out_dt, ond, od, &Y))) return st;
    int64_t MN;
    if (!it_mul_ok(M, N, &MN)) return it_opfail(c, INGOT_ERR_SHAPE, "output too large");
    if (M == 0 || N == 0 || it_count(Y) == 0) return 0;
    /* operands: B is kept as is (it may be prepacked), A flipped when the types match */
    const qmm_b *pre = c->node->state;
    if (pre && (pre->K != K || pre->N != N || B->ndim != 2 || pre->b_s8 != (B->dtype == IT_I8))) pre = NULL;
    const it_qgemm_tier *t = pre ? pre->t : it_qgemm_best();
    int b_s8 = B->dtype == IT_I8, a_s8 = A->dtype == IT_I8;
    int flip_a = a_s8 == b_s8, pa_s8 = !b_s8;
    int32_t *za = it_scratch(c, (size_t)M * 4), *zb = it_scratch(c, (size_t)N * 4);
    int32_t *cs = it_scratch(c, (size_t)N * 4), *csk = it_scratch(c, (size_t)N * 4), *rs = it_scratch(c, (size_t)M * 4);
    int64_t abytes = it_qpack_bytes(t, 0, M, K), bbytes = it_qpack_bytes(t, 1, N, K);
    if (abytes < 0 || bbytes < 0) return it_opfail(c, INGOT_ERR_SHAPE, "operands too large");
    uint8_t *ap = it_scratch(c, (size_t)abytes), *bp = pre ? NULL : it_scratch(c, (size_t)bbytes);
    int32_t *tmp = both_vec ? it_scratch(c, (size_t)MN * 4) : NULL;
    if (!za || !zb || !cs || !csk || !rs || !ap || (!pre && !bp) || (both_vec && !tmp))
        return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    int any_za = 0, any_zb = 0;
    for (int64_t m = 0; m < M; m++) {
        int32_t z = azt ? (int32_t)it_get_i64(azt->data, azt->dtype, nza > 1 ? m : 0) : 0;
        za[m] = flip_a ? (a_s8 ? z + 128 : z - 128) : z;
        any_za |= za[m] != 0;
    }
    for (int64_t n = 0; n < N; n++) {
        zb[n] = bzt ? (int32_t)it_get_i64(bzt->data, bzt->dtype, nzb > 1 ? n : 0) : 0;
        any_zb |= zb[n] != 0;
    }
    /* batch iteration with broadcast strides */
    int64_t sa[IT_MAX_DIMS], sb[IT_MAX_DIMS], idx[IT_MAX_DIMS] = {0};
    it_broadcast_strides(nba, A->dims, nbo, bo, sa);
    it_broadcast_strides(nbb, B->dims, nbo, bo, sb);
    int64_t nbatch = it_shape_count(nbo, bo);
    const int64_t am = M * K, bm = K * N;
    size_t osz = out_type ? 1 : 4;
    int64_t last_b = -1;
    for (int64_t bt = 0; bt < nbatch; bt++) {
        int64_t oa = 0, ob = 0;
        for (int i = 0; i < nbo; i++) {
            oa += idx[i] * sa[i];
            ob += idx[i] * sb[i];
        }
        it_qpack(c->tp, t, 0, M, K, (const uint8_t *)A->data + oa * am, K, 1, flip_a, pa_s8, ap, rs);
        const uint8_t *bpk = pre ? pre->bp : bp;
        const int32_t *bcs = pre ? pre->colsum : cs;
        if (!pre && ob != last_b) {
            it_qpack(c->tp, t, 1, N, K, (const uint8_t *)B->data + ob * bm, 1, N, 0, b_s8, bp, cs);
            last_b = ob;
        }
        for (int64_t n = 0; n < N; n++) csk[n] = (int32_t)((uint32_t)bcs[n] - (uint32_t)K * (uint32_t)zb[n]);
        it_qepi ep = {0};
        if (any_za) {
            ep.row_z = za;
            ep.col_s = csk;
        }
        if (any_zb) {
            ep.col_z = zb;
            ep.row_s = rs;
        }
        ep.ldc_m = N;
        ep.ldc_n = 1;
        void *out = (uint8_t *)Y->data + (size_t)(bt * MN) * osz;
        if (both_vec) {
            ep.out_type = 0;
            ep.C = tmp;
        } else {
            ep.out_type = out_type;
            ep.scale = scales;
            ep.scale_mode = scale_mode;
            ep.zp = yz;
            ep.C = out;
        }
        it_qgemm(c->tp, t, M, N, K, ap, bpk, !pa_s8, &ep);
        if (both_vec)
            for (int64_t m = 0; m < M; m++)
                t->requant(tmp + m * N, N, 0, scales + m * N, 1, yz, out_type == 2, (uint8_t *)out + m * N);
        it_next_index(nbo, bo, idx);
    }
    return 0;
}

static int qlmm_run(it_opctx *c) { return qmm_common(c, 1); }
static int mmint_run(it_opctx *c) { return qmm_common(c, 0); }

/* ------------------------------------------- com.microsoft QLinearAdd */

/* ONNX Runtime's formula: with rA = sA / sC, rB = sB / sC and
 * f = zC - (rA * zA + rB * zB): c = sat(round(fma(a, rA, fma(b, rB, f)))).
 * The tier's qadd computes it over runs of the last output dimension. */
static int qladd_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, A);
    IT_REQUIRE_IN(c, 3, B);
    if (!is_q8(A->dtype) || A->dtype != B->dtype)
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "input types %s, %s", it_dtype_name(A->dtype), it_dtype_name(B->dtype));
    float sa, sb, sc;
    int32_t za, zb, zc;
    int st;
    if ((st = scale_scalar(c, 1, &sa)) || (st = scale_scalar(c, 4, &sb)) || (st = scale_scalar(c, 6, &sc))) return st;
    if ((st = zp_scalar(c, 2, A->dtype, &za)) || (st = zp_scalar(c, 5, A->dtype, &zb)) ||
        (st = zp_scalar(c, 7, A->dtype, &zc)))
        return st;
    int nd;
    int64_t od[IT_MAX_DIMS];
    if (it_broadcast_shape(A->ndim, A->dims, B->ndim, B->dims, &nd, od))
        return it_opfail(c, INGOT_ERR_SHAPE, "shapes do not broadcast");
    it_tensor *C;
    if ((st = it_out_tensor(c, 0, A->dtype, nd, od, &C))) return st;
    float ra = sa / sc, rb = sb / sc;
    float f = (float)zc - (ra * (float)za + rb * (float)zb);
    int s8 = A->dtype == IT_I8;
    int64_t n = it_count(C), na = it_count(A), nb = it_count(B);
    const uint8_t *a = A->data, *b = B->data;
    uint8_t *o = C->data;
    const it_qgemm_tier *t = it_qgemm_best();
    if (n == 0) return 0;
    if ((na == n || na == 1) && (nb == n || nb == 1)) {
        t->qadd(a, b, n, na == 1 && n > 1, nb == 1 && n > 1, ra, rb, f, s8, o);
        return 0;
    }
    int64_t sta[IT_MAX_DIMS], stb[IT_MAX_DIMS], idx[IT_MAX_DIMS] = {0};
    it_broadcast_strides(A->ndim, A->dims, nd, od, sta);
    it_broadcast_strides(B->ndim, B->dims, nd, od, stb);
    int64_t L = od[nd - 1], rows = n / L;
    for (int64_t r = 0; r < rows; r++) {
        int64_t ia = 0, ib = 0;
        for (int d = 0; d < nd - 1; d++) {
            ia += idx[d] * sta[d];
            ib += idx[d] * stb[d];
        }
        t->qadd(a + ia, b + ib, L, sta[nd - 1] == 0 && L > 1, stb[nd - 1] == 0 && L > 1, ra, rb, f, s8, o + r * L);
        it_next_index(nd - 1, od, idx);
    }
    return 0;
}

/* ---------------------------- com.microsoft QLinearGlobalAveragePool */

static int qlgap_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, X);
    if (!is_q8(X->dtype)) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "input type %s", it_dtype_name(X->dtype));
    if (X->ndim < 3) return it_opfail(c, INGOT_ERR_SHAPE, "input rank %d < 3", X->ndim);
    float xs, ys;
    int32_t xz, yz;
    int st;
    if ((st = scale_scalar(c, 1, &xs)) || (st = scale_scalar(c, 3, &ys))) return st;
    if ((st = zp_scalar(c, 2, X->dtype, &xz)) || (st = zp_scalar(c, 4, X->dtype, &yz))) return st;
    int cl = (int)it_attr_int(c->node, "channels_last", 0) != 0;
    int64_t N = X->dims[0], C = cl ? X->dims[X->ndim - 1] : X->dims[1], S = 1;
    for (int d = cl ? 1 : 2; d < (cl ? X->ndim - 1 : X->ndim); d++) S *= X->dims[d];
    int64_t od[IT_MAX_DIMS];
    for (int d = 0; d < X->ndim; d++) od[d] = 1;
    od[0] = N;
    od[cl ? X->ndim - 1 : 1] = C;
    it_tensor *Y;
    if ((st = it_out_tensor(c, 0, X->dtype, X->ndim, od, &Y))) return st;
    if (N * C == 0) return 0;
    if (S < 1 || S >= 0x1000000) return it_opfail(c, INGOT_ERR_SHAPE, "image size %lld out of range", (long long)S);
    float scale = xs / (ys * (float)S);
    int32_t *acc = it_scratch(c, (size_t)(N * C) * 4);
    if (!acc) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    int s8 = X->dtype == IT_I8;
    for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < C; ch++) {
            int64_t base = cl ? n * S * C + ch : (n * C + ch) * S, step = cl ? C : 1;
            int32_t s = -xz * (int32_t)S;
            if (s8) {
                const int8_t *p = (const int8_t *)X->data + base;
                for (int64_t i = 0; i < S; i++) s += p[i * step];
            } else {
                const uint8_t *p = (const uint8_t *)X->data + base;
                for (int64_t i = 0; i < S; i++) s += p[i * step];
            }
            acc[n * C + ch] = s;
        }
    it_qgemm_best()->requant(acc, N * C, 0, &scale, 0, yz, s8, Y->data);
    return 0;
}

const it_op it_ops_quant[] = {
    {"", "QuantizeLinear", NULL, quantize_run, NULL, 0, NULL},
    {"", "DequantizeLinear", NULL, dequantize_run, NULL, 0, NULL},
    {"", "DynamicQuantizeLinear", NULL, dynq_run, NULL, 0, NULL},
    {"", "QLinearConv", NULL, qlconv_run, qconv_w_free, 0, qlconv_prepare},
    {"", "ConvInteger", NULL, convint_run, qconv_w_free, 0, convint_prepare},
    {"", "QLinearMatMul", NULL, qlmm_run, qmm_b_free, 0, qlmm_prepare},
    {"", "MatMulInteger", NULL, mmint_run, qmm_b_free, 0, mmint_prepare},
    {"com.microsoft", "QLinearAdd", NULL, qladd_run, NULL, 0, NULL},
    {"com.microsoft", "QLinearGlobalAveragePool", NULL, qlgap_run, NULL, 0, NULL},
    {"com.microsoft", "QuantizeLinear", NULL, quantize_run, NULL, 0, NULL},
    {"com.microsoft", "DequantizeLinear", NULL, dequantize_run, NULL, 0, NULL},
    {0},
};
