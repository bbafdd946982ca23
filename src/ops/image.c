/*
 * image.c: image-geometry operators: Resize (opsets 10-19: nearest / linear /
 * cubic, every coordinate transformation mode, axes, antialias and
 * keep_aspect_ratio_policy), Upsample (opsets 7-10), GridSample (2-D and N-D),
 * RoiAlign, AffineGrid, NonMaxSuppression and Col2Im.
 *
 * Workload: the resampling layers of detection and segmentation models (FPN and
 * U-Net upsampling, RoI heads, box post-processing) and spatial transformers.
 * Resize is separable: one table of (input index, weight) taps per output
 * position and axis is built once, then each resized axis is one pass over the
 * data with contiguous inner loops. The common float32 case of the last two axes
 * resized with nearest or (bi)linear taps goes through a fused 2-D kernel (row
 * gather or horizontal interpolation cached per source row plus a vertical
 * blend) split over the rows of all N*C planes.
 */
#include "ops.h"

/* ====================================================================== Resize */

enum { RM_NEAREST, RM_LINEAR, RM_CUBIC };
enum { CT_HALF_PIXEL, CT_PYTORCH_HALF_PIXEL, CT_ALIGN_CORNERS, CT_ASYMMETRIC, CT_TF_CROP, CT_HALF_PIXEL_SYM };
enum { NM_ROUND_FLOOR, NM_ROUND_CEIL, NM_FLOOR, NM_CEIL, NM_SIMPLE };

typedef struct rs_params {
    int mode, ctm, nearest, antialias, exclude_outside;
    int roi_f32; /* roi came as float32: its start/extent products are float32 like the reference's */
    double cubic_a, extrap;
} rs_params;

/* Taps of one resized axis. */
typedef struct rs_axis {
    int axis;
    int64_t in, out;
    int ntap;
    int64_t *idx;  /* [out * ntap] input indices, clamped into [0, in) */
    float *wf;     /* [out * ntap] weights */
    double *wd;    /* [out * ntap] the same in double */
    uint8_t *ext;  /* [out]: 1 where tf_crop_and_resize extrapolates (NULL: none) */
} rs_axis;

static int rs_str_eq(const char *a, const char *b) { return a && !strcmp(a, b); }

/* Source coordinate of output index y (the ONNX reference's _compute_x_ori). */
static double rs_coord(const rs_params *p, double y, double scale, int64_t in, int64_t out, double r0, double r1) {
    double outw = scale * (double)in;
    switch (p->ctm) {
    case CT_ALIGN_CORNERS: return outw == 1 ? 0.0 : y * (double)(in - 1) / (outw - 1);
    case CT_ASYMMETRIC: return y / scale;
    case CT_TF_CROP: {
        double ext = p->roi_f32 ? (double)((float)r1 - (float)r0) : r1 - r0;
        double st = p->roi_f32 ? (double)((float)r0 * (float)(in - 1)) : r0 * (double)(in - 1);
        double x = outw == 1 ? ext * (double)(in - 1) / 2 : y * ext * (double)(in - 1) / (outw - 1);
        return x + st;
    }
    case CT_PYTORCH_HALF_PIXEL: return outw == 1 ? -0.5 : (y + 0.5) / scale - 0.5;
    case CT_HALF_PIXEL_SYM: {
        double adj = (double)out / outw, center = (double)in / 2, off = center * (1 - adj);
        return off + (y + 0.5) / scale - 0.5;
    }
    default: return (y + 0.5) / scale - 0.5;
    }
}

/* Cubic kernel and coefficients evaluated in float32 like the ONNX reference
 * (whose cubic_coeff_a is a float32 scalar that makes numpy compute in float32). */
static double rs_cubic_kernel(double xd, float A) {
    double x = fabs(xd), x2 = x * x, x3 = x * x2;
    if (x <= 1) return (double)((A + 2) * (float)x3 - (A + 3) * (float)x2 + 1);
    if (x < 2) return (double)(A * (float)x3 - 5 * A * (float)x2 + 8 * A * (float)x - 4 * A);
    return 0.0;
}

static void rs_cubic_coeffs(double r, float A, double *w) {
    float r1 = (float)(r + 1), rr = (float)r, q = (float)(1 - r), q1 = (float)((1 - r) + 1);
    w[0] = (double)(((A * r1 - 5 * A) * r1 + 8 * A) * r1 - 4 * A);
    w[1] = (double)(((A + 2) * rr - (A + 3)) * rr * rr + 1);
    w[2] = (double)(((A + 2) * q - (A + 3)) * q * q + 1);
    w[3] = (double)(((A * q1 - 5 * A) * q1 + 8 * A) * q1 - 4 * A);
}

/* Build the taps of one axis. r0/r1: roi start/end for tf_crop_and_resize. */
static int rs_build_axis(it_opctx *c, const rs_params *p, rs_axis *a, double scale, double r0, double r1) {
    int64_t in = a->in, out = a->out;
    int64_t start = 0, ntap;
    double s = scale < 1 ? scale : 1;
    int aa = p->antialias && p->mode != RM_NEAREST;
    if (p->mode == RM_NEAREST) ntap = 1;
    else if (p->mode == RM_LINEAR) {
        start = aa ? (int64_t)floor(-1.0 / s) + 1 : 0;
        ntap = 2 - 2 * start;
    } else {
        start = aa ? (int64_t)floor(-2.0 / s) + 1 : -1;
        ntap = 2 - 2 * start;
    }
    if (ntap < 1 || ntap > 4 * in + 8 || ntap > (1 << 24))
        return it_opfail(c, INGOT_ERR_LIMIT, "resize filter of %lld taps on axis %d is too wide", (long long)ntap, a->axis);
    int64_t tot;
    if (!it_mul_ok(out, ntap, &tot) || tot > IT_LIMIT_ELEMENTS)
        return it_opfail(c, INGOT_ERR_LIMIT, "resize tables too large on axis %d", a->axis);
    a->ntap = (int)ntap;
    size_t nt = (size_t)(tot > 0 ? tot : 1);
    a->idx = it_scratch(c, nt * sizeof(int64_t));
    a->wf = it_scratch(c, nt * sizeof(float));
    a->wd = it_scratch(c, nt * sizeof(double));
    a->ext = NULL;
    if (p->ctm == CT_TF_CROP) {
        a->ext = it_scratch(c, (size_t)(out > 0 ? out : 1));
        if (!a->ext) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory for resize tables");
    }
    if (!a->idx || !a->wf || !a->wd) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory for resize tables");
    double lim = (double)in + (double)ntap + 4;
    for (int64_t y = 0; y < out; y++) {
        double x = rs_coord(p, (double)y, scale, in, out, r0, r1);
        int64_t *ix = a->idx + y * ntap;
        double *w = a->wd + y * ntap;
        if (a->ext) a->ext[y] = (x < 0 || x > (double)(in - 1)) ? 1 : 0;
        if (x != x) x = 0;
        if (x < -lim) x = -lim;
        if (x > lim) x = lim;
        double fl = ceil(x) - 1, ratio = x - fl; /* ratio in (0, 1]: prefer the left pixel */
        int64_t ifl = (int64_t)fl;
        if (p->mode == RM_NEAREST) {
            int pick;
            int nm = p->nearest;
            if (nm == NM_SIMPLE) nm = scale < 1 ? NM_CEIL : NM_FLOOR;
            if (ratio == 1) pick = 1;
            else if (nm == NM_ROUND_FLOOR) pick = ratio > 0.5;
            else if (nm == NM_ROUND_CEIL) pick = ratio >= 0.5;
            else if (nm == NM_FLOOR) pick = 0;
            else pick = 1;
            ix[0] = ifl + pick;
            w[0] = 1;
        } else if (!aa && p->mode == RM_LINEAR) {
            ix[0] = ifl;
            ix[1] = ifl + 1;
            w[0] = 1 - ratio;
            w[1] = ratio;
        } else if (!aa) {
            for (int k = 0; k < 4; k++) ix[k] = ifl - 1 + k;
            rs_cubic_coeffs(ratio, (float)p->cubic_a, w);
        } else {
            double sum = 0;
            for (int64_t k = 0; k < ntap; k++) {
                double arg = s * ((double)(start + k) - ratio);
                double v;
                if (p->mode == RM_LINEAR) {
                    v = 1 - fabs(arg);
                    v = v < 0 ? 0 : (v > 1 ? 1 : v);
                } else {
                    v = rs_cubic_kernel(arg, (float)p->cubic_a);
                }
                ix[k] = ifl + start + k;
                w[k] = v;
                sum += v;
            }
            if (sum != 0)
                for (int64_t k = 0; k < ntap; k++) w[k] /= sum;
        }
        if (p->exclude_outside) {
            double sum = 0;
            for (int64_t k = 0; k < ntap; k++) {
                if (ix[k] < 0 || ix[k] >= in) w[k] = 0;
                sum += w[k];
            }
            if (sum == 0) sum = 1;
            for (int64_t k = 0; k < ntap; k++) w[k] /= sum;
        }
        for (int64_t k = 0; k < ntap; k++) {
            ix[k] = ix[k] < 0 ? 0 : (ix[k] >= in ? in - 1 : ix[k]);
            a->wf[y * ntap + k] = (float)w[k];
        }
    }
    return 0;
}

/* One separable pass: src viewed as [outer, in, inner] -> dst [outer, out, inner]. */
typedef struct rs_pass {
    const void *src;
    void *dst;
    int64_t in, out, inner;
    const rs_axis *ax;
    double extrap;
} rs_pass;

#define RS_PASS_FN(NAME, T, W)                                                                       \
    static void NAME(void *arg, int64_t b, int64_t e, int tid) {                                     \
        const rs_pass *p = arg;                                                                      \
        const T *src = p->src;                                                                       \
        T *dst = p->dst;                                                                             \
        const rs_axis *ax = p->ax;                                                                   \
        int nt = ax->ntap;                                                                           \
        int64_t inner = p->inner;                                                                    \
        for (int64_t row = b; row < e; row++) {                                                      \
            int64_t o = row / p->out, j = row % p->out;                                              \
            T *d = dst + row * inner;                                                                \
            if (ax->ext && ax->ext[j]) {                                                             \
                for (int64_t i = 0; i < inner; i++) d[i] = (T)p->extrap;                             \
                continue;                                                                            \
            }                                                                                        \
            const int64_t *ix = ax->idx + j * nt;                                                    \
            const W *w = (const W *)(sizeof(W) == sizeof(float) ? (const void *)ax->wf               \
                                                                : (const void *)ax->wd) + j * nt;    \
            const T *s0 = src + o * p->in * inner;                                                   \
            if (inner == 1) {                                                                        \
                T acc = 0;                                                                           \
                for (int k = 0; k < nt; k++) acc += (T)w[k] * s0[ix[k]];                             \
                d[0] = acc;                                                                          \
                continue;                                                                            \
            }                                                                                        \
            const T *r = s0 + ix[0] * inner;                                                         \
            T w0 = (T)w[0];                                                                          \
            for (int64_t i = 0; i < inner; i++) d[i] = w0 * r[i];                                    \
            for (int k = 1; k < nt; k++) {                                                           \
                T wk = (T)w[k];                                                                      \
                if (wk == 0) continue;                                                               \
                r = s0 + ix[k] * inner;                                                              \
                for (int64_t i = 0; i < inner; i++) d[i] += wk * r[i];                               \
            }                                                                                        \
        }                                                                                            \
    }
RS_PASS_FN(rs_pass_f32, float, float)
RS_PASS_FN(rs_pass_f64, double, double)

/* Fused 2-D kernel over the last two axes (float32): rows of all planes. */
typedef struct rs2d {
    const float *src;
    float *dst;
    int64_t ih, iw, oh, ow;
    const rs_axis *ay, *ax; /* ntap 1 (nearest) or 2 (linear) */
    int64_t fx;             /* nearest: integer horizontal replication factor, 0 if none */
    float *work;            /* linear: per thread 2 rows of ow floats */
} rs2d;

static void rs2d_nearest(void *arg, int64_t b, int64_t e, int tid) {
    const rs2d *k = arg;
    const int64_t *iy = k->ay->idx, *ixs = k->ax->idx;
    int64_t ow = k->ow, iw = k->iw;
    for (int64_t r = b; r < e; r++) {
        int64_t plane = r / k->oh, oy = r % k->oh;
        float *d = k->dst + r * ow;
        if (r > b && oy > 0 && iy[oy] == iy[oy - 1]) {
            memcpy(d, d - ow, (size_t)ow * sizeof(float));
            continue;
        }
        const float *s = k->src + (plane * k->ih + iy[oy]) * iw;
        if (k->fx == 2) {
            for (int64_t i = 0; i < iw; i++) d[2 * i] = d[2 * i + 1] = s[i];
        } else if (k->fx > 0) {
            int64_t f = k->fx;
            for (int64_t i = 0; i < iw; i++)
                for (int64_t q = 0; q < f; q++) d[i * f + q] = s[i];
        } else {
            for (int64_t x = 0; x < ow; x++) d[x] = s[ixs[x]];
        }
    }
}

static void rs2d_hrow(const rs2d *k, const float *s, float *out) {
    const int64_t *ix = k->ax->idx;
    const float *w = k->ax->wf;
    for (int64_t x = 0; x < k->ow; x++) out[x] = w[2 * x] * s[ix[2 * x]] + w[2 * x + 1] * s[ix[2 * x + 1]];
}

static void rs2d_linear(void *arg, int64_t b, int64_t e, int tid) {
    const rs2d *k = arg;
    int64_t ow = k->ow;
    float *buf[2] = {k->work + (int64_t)tid * 2 * ow, k->work + (int64_t)tid * 2 * ow + ow};
    int64_t key[2] = {-1, -1}; /* plane * ih + source row held by each buffer */
    const int64_t *iy = k->ay->idx;
    const float *wy = k->ay->wf;
    for (int64_t r = b; r < e; r++) {
        int64_t plane = r / k->oh, oy = r % k->oh;
        float *d = k->dst + r * ow;
        int64_t want[2] = {plane * k->ih + iy[2 * oy], plane * k->ih + iy[2 * oy + 1]};
        float *rows[2];
        for (int t = 0; t < 2; t++) {
            int slot;
            if (key[0] == want[t]) slot = 0;
            else if (key[1] == want[t]) slot = 1;
            else {
                /* refill the buffer that does not hold the other tap's row */
                int64_t other = want[1 - t];
                slot = key[0] == other ? 1 : 0;
                if (t == 1 && rows[0] == buf[slot]) slot = 1 - slot;
                rs2d_hrow(k, k->src + want[t] * k->iw, buf[slot]);
                key[slot] = want[t];
            }
            rows[t] = buf[slot];
        }
        float w0 = wy[2 * oy], w1 = wy[2 * oy + 1];
        const float *a = rows[0], *c = rows[1];
        if (w1 == 0) memcpy(d, a, (size_t)ow * sizeof(float));
        else
            for (int64_t x = 0; x < ow; x++) d[x] = w0 * a[x] + w1 * c[x];
    }
}

/* Round and saturate a double into an integer dtype's range (Resize output of ints). */
static double rs_int_clamp(int dt, double v) {
    v = nearbyint(v);
    double lo, hi;
    switch (dt) {
    case IT_U8: lo = 0; hi = 255; break;
    case IT_I8: lo = -128; hi = 127; break;
    case IT_U16: lo = 0; hi = 65535; break;
    case IT_I16: lo = -32768; hi = 32767; break;
    case IT_I32: lo = -2147483648.0; hi = 2147483647.0; break;
    case IT_U32: lo = 0; hi = 4294967295.0; break;
    case IT_U64: lo = 0; hi = 18446744073709549568.0; break;
    default: lo = -9223372036854775808.0; hi = 9223372036854774784.0; break;
    }
    return v != v ? 0 : (v < lo ? lo : (v > hi ? hi : v));
}

static int rs_parse_mode(it_opctx *c, const char *m, int *mode) {
    if (rs_str_eq(m, "nearest")) *mode = RM_NEAREST;
    else if (rs_str_eq(m, "linear") || rs_str_eq(m, "bilinear") || rs_str_eq(m, "trilinear")) *mode = RM_LINEAR;
    else if (rs_str_eq(m, "cubic") || rs_str_eq(m, "bicubic")) *mode = RM_CUBIC;
    else return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unknown mode '%s'", m ? m : "");
    return 0;
}

/* Shared body of Resize and Upsample once scales/sizes are known per dimension.
 * scale[d], out[d] for every dim; roi[d], roi[r + d] start/end. */
static int rs_execute(it_opctx *c, const rs_params *p, const it_tensor *x, const double *scale, const int64_t *outd,
                      const double *roi) {
    int r = x->ndim;
    it_tensor *y;
    int st = it_out_tensor(c, 0, x->dtype, r, outd, &y);
    if (st) return st;
    int64_t ny = it_count(y), nx = it_count(x);
    if (ny == 0) return 0;
    if (nx == 0) return it_opfail(c, INGOT_ERR_SHAPE, "cannot resize an empty tensor to a non-empty one");
    if (x->dtype == IT_STRING || it_dtype_size(x->dtype) == 0)
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "dtype %s is not supported", it_dtype_name(x->dtype));
    rs_axis axes[IT_MAX_DIMS];
    int na = 0;
    for (int d = 0; d < r; d++) {
        double r0 = roi ? roi[d] : 0, r1 = roi ? roi[r + d] : 1;
        double s = scale[d];
        int ident = fabs(s - 1.0) <= 1e-9 * (fabs(s) > 1 ? fabs(s) : 1) && outd[d] == x->dims[d] &&
                    (p->ctm != CT_TF_CROP || (r0 == 0 && r1 == 1));
        if (ident) continue;
        rs_axis *a = &axes[na++];
        a->axis = d;
        a->in = x->dims[d];
        a->out = outd[d];
        st = rs_build_axis(c, p, a, s, r0, r1);
        if (st) return st;
    }
    /* float32 working precision except for cubic, whose negative lobes cancel */
    int is_float = (x->dtype == IT_F32 || x->dtype == IT_F16 || x->dtype == IT_BF16) && p->mode != RM_CUBIC;
    size_t esz = is_float ? sizeof(float) : sizeof(double);
    if (na == 0) {
        memcpy(y->data, x->data, x->nbytes < y->nbytes ? x->nbytes : y->nbytes);
        return 0;
    }
    /* working copy of the input in float / double */
    int direct = x->dtype == (is_float ? IT_F32 : IT_F64); /* no conversion: the last pass writes y */
    const void *cur = x->data;
    if (!direct) {
        void *buf = it_scratch(c, (size_t)nx * esz);
        if (!buf) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
        st = it_convert(buf, is_float ? IT_F32 : IT_F64, x->data, x->dtype, nx, 0);
        if (st) return it_opfail(c, st, "cannot convert input from %s", it_dtype_name(x->dtype));
        cur = buf;
    }
    void *final = direct ? y->data : it_scratch(c, (size_t)ny * esz);
    if (!final) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    int nth = it_threadpool_size(c->tp);
    if (nth < 1) nth = 1;

    /* fused 2-D path: float, last two axes only, nearest or 2-tap linear, no extrapolation */
    if (is_float && r >= 2 && (na == 1 || na == 2) && axes[0].axis >= r - 2 && !axes[0].ext &&
        (na == 1 || !axes[1].ext)) {
        int ntap = axes[0].ntap;
        int ok = (ntap == 1 && !p->exclude_outside) || ntap == 2;
        if (na == 2 && axes[1].ntap != ntap) ok = 0;
        if (ok) {
            rs_axis idy, idx;
            const rs_axis *ay = NULL, *ax = NULL;
            for (int i = 0; i < na; i++) {
                if (axes[i].axis == r - 2) ay = &axes[i];
                else ax = &axes[i];
            }
            rs_axis *ids[2] = {&idy, &idx};
            const rs_axis **slots[2] = {&ay, &ax};
            for (int t = 0; t < 2; t++) {
                if (*slots[t]) continue;
                rs_axis *a = ids[t];
                int64_t n = x->dims[r - 2 + t];
                a->axis = r - 2 + t;
                a->in = a->out = n;
                a->ntap = ntap;
                a->ext = NULL;
                a->idx = it_scratch(c, (size_t)(n * ntap + 1) * sizeof(int64_t));
                a->wf = it_scratch(c, (size_t)(n * ntap + 1) * sizeof(float));
                a->wd = NULL;
                if (!a->idx || !a->wf) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
                for (int64_t i = 0; i < n; i++)
                    for (int q = 0; q < ntap; q++) {
                        a->idx[i * ntap + q] = i;
                        a->wf[i * ntap + q] = q == 0 ? 1.0f : 0.0f;
                    }
                *slots[t] = a;
            }
            rs2d k = {cur, final, x->dims[r - 2], x->dims[r - 1], outd[r - 2], outd[r - 1], ay, ax, 0, NULL};
            int64_t planes = ny / (k.oh * k.ow);
            int64_t rows = planes * k.oh;
            int64_t grain = 1 + 16384 / (k.ow + 1);
            if (ntap == 1) {
                if (k.iw > 0 && k.ow % k.iw == 0) {
                    int64_t f = k.ow / k.iw, i;
                    for (i = 0; i < k.ow && ax->idx[i] == i / f; i++) {}
                    if (i == k.ow) k.fx = f;
                }
                it_parallel_for(c->tp, rows, grain, rs2d_nearest, &k);
            } else {
                int64_t wl;
                if (!it_mul_ok(2 * k.ow, nth, &wl)) return it_opfail(c, INGOT_ERR_LIMIT, "output too wide");
                k.work = it_scratch(c, (size_t)wl * sizeof(float));
                if (!k.work) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
                it_parallel_for(c->tp, rows, grain, rs2d_linear, &k);
            }
            goto finish;
        }
    }

    {
        /* separable passes in axis order */
        int64_t shape[IT_MAX_DIMS];
        memcpy(shape, x->dims, sizeof(int64_t) * (size_t)r);
        for (int i = 0; i < na; i++) {
            const rs_axis *a = &axes[i];
            int64_t outer = 1, inner = 1;
            for (int d = 0; d < a->axis; d++) outer *= shape[d];
            for (int d = a->axis + 1; d < r; d++) inner *= shape[d];
            shape[a->axis] = a->out;
            int64_t cnt = outer * a->out * inner;
            void *dst = i == na - 1 ? final : it_scratch(c, (size_t)(cnt > 0 ? cnt : 1) * esz);
            if (!dst) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
            rs_pass ps = {cur, dst, a->in, a->out, inner, a, p->extrap};
            int64_t rows = outer * a->out;
            int64_t grain = 1 + 16384 / ((inner + 1) * a->ntap);
            it_parallel_for(c->tp, rows, grain, is_float ? rs_pass_f32 : rs_pass_f64, &ps);
            cur = dst;
        }
    }
finish:
    if (!direct) {
        if (is_float) {
            st = it_convert(y->data, y->dtype, final, IT_F32, ny, 0);
            if (st) return it_opfail(c, st, "cannot convert output to %s", it_dtype_name(y->dtype));
        } else {
            const double *f = final;
            for (int64_t i = 0; i < ny; i++) {
                double v = f[i];
                if (it_dtype_is_int(y->dtype)) v = rs_int_clamp(y->dtype, v);
                it_set_f64(y->data, y->dtype, i, v);
            }
        }
    }
    return 0;
}

static int rs_read_floats(it_opctx *c, const it_tensor *t, double *out, int max, const char *what) {
    int64_t n = it_count(t);
    if (n > max) return it_opfail(c, INGOT_ERR_SHAPE, "%s has %lld values, at most %d expected", what, (long long)n, max);
    if (!it_dtype_is_float(t->dtype) || it_dtype_size(t->dtype) == 0)
        return it_opfail(c, INGOT_ERR_FORMAT, "%s must be a float tensor", what);
    for (int64_t i = 0; i < n; i++) out[i] = it_get_f64(t->data, t->dtype, i);
    return 0;
}

static int resize_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    const it_node *nd = c->node;
    int opset = nd->opset, r = x->ndim;
    if (r < 1) return it_opfail(c, INGOT_ERR_SHAPE, "input must have rank >= 1");
    rs_params p = {0};
    int st = rs_parse_mode(c, it_attr_str(nd, "mode", "nearest"), &p.mode);
    if (st) return st;
    if (opset < 11) {
        p.ctm = CT_ASYMMETRIC;
        p.nearest = NM_SIMPLE;
    } else {
        const char *ct = it_attr_str(nd, "coordinate_transformation_mode", "half_pixel");
        if (rs_str_eq(ct, "half_pixel")) p.ctm = CT_HALF_PIXEL;
        else if (rs_str_eq(ct, "pytorch_half_pixel")) p.ctm = CT_PYTORCH_HALF_PIXEL;
        else if (rs_str_eq(ct, "align_corners")) p.ctm = CT_ALIGN_CORNERS;
        else if (rs_str_eq(ct, "asymmetric")) p.ctm = CT_ASYMMETRIC;
        else if (rs_str_eq(ct, "tf_crop_and_resize")) p.ctm = CT_TF_CROP;
        else if (rs_str_eq(ct, "half_pixel_symmetric")) p.ctm = CT_HALF_PIXEL_SYM;
        else if (rs_str_eq(ct, "tf_half_pixel_for_nn")) p.ctm = CT_HALF_PIXEL; /* opset 11 only */
        else return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unknown coordinate_transformation_mode '%s'", ct);
        const char *nm = it_attr_str(nd, "nearest_mode", "round_prefer_floor");
        if (rs_str_eq(nm, "round_prefer_floor")) p.nearest = NM_ROUND_FLOOR;
        else if (rs_str_eq(nm, "round_prefer_ceil")) p.nearest = NM_ROUND_CEIL;
        else if (rs_str_eq(nm, "floor")) p.nearest = NM_FLOOR;
        else if (rs_str_eq(nm, "ceil")) p.nearest = NM_CEIL;
        else return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unknown nearest_mode '%s'", nm);
        p.cubic_a = it_attr_float(nd, "cubic_coeff_a", -0.75f);
        p.exclude_outside = it_attr_int(nd, "exclude_outside", 0) != 0;
        p.extrap = it_attr_float(nd, "extrapolation_value", 0.0f);
    }
    if (opset >= 18) p.antialias = it_attr_int(nd, "antialias", 0) != 0;
    /* axes (opset 18) */
    int axes[IT_MAX_DIMS], naxes = r;
    for (int i = 0; i < r; i++) axes[i] = i;
    const int64_t *av;
    int nav = opset >= 18 ? it_attr_ints(nd, "axes", &av) : 0;
    if (nav > 0) {
        if (nav > r) return it_opfail(c, INGOT_ERR_SHAPE, "%d axes for a rank-%d input", nav, r);
        int seen[IT_MAX_DIMS] = {0};
        for (int i = 0; i < nav; i++) {
            int a = it_axis(av[i], r, 0);
            if (a < 0 || seen[a]) return it_opfail(c, INGOT_ERR_SHAPE, "invalid or repeated axis %lld", (long long)av[i]);
            seen[a] = 1;
            axes[i] = a;
        }
        naxes = nav;
    }
    int policy = 0; /* 0 stretch, 1 not_larger, 2 not_smaller */
    if (opset >= 18) {
        const char *kp = it_attr_str(nd, "keep_aspect_ratio_policy", "stretch");
        if (rs_str_eq(kp, "stretch")) policy = 0;
        else if (rs_str_eq(kp, "not_larger")) policy = 1;
        else if (rs_str_eq(kp, "not_smaller")) policy = 2;
        else return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unknown keep_aspect_ratio_policy '%s'", kp);
    }
    it_tensor *troi = NULL, *tsc, *tsz = NULL;
    if (opset < 11) {
        tsc = it_in(c, 1);
    } else {
        troi = it_in(c, 1);
        tsc = it_in(c, 2);
        tsz = it_in(c, 3);
    }
    if (tsc && it_count(tsc) == 0) tsc = NULL;
    if (tsz && it_count(tsz) == 0) tsz = NULL;
    if (troi && it_count(troi) == 0) troi = NULL;
    if (!tsc && !tsz) return it_opfail(c, INGOT_ERR_FORMAT, "one of scales and sizes must be given");
    if (tsc && tsz) return it_opfail(c, INGOT_ERR_FORMAT, "only one of scales and sizes may be given");
    double scale[IT_MAX_DIMS];
    int64_t outd[IT_MAX_DIMS];
    double roi[2 * IT_MAX_DIMS];
    for (int d = 0; d < r; d++) {
        scale[d] = 1.0;
        outd[d] = x->dims[d];
        roi[d] = 0;
        roi[r + d] = 1;
    }
    if (troi) {
        double rv[2 * IT_MAX_DIMS];
        if (it_count(troi) != 2 * naxes) return it_opfail(c, INGOT_ERR_SHAPE, "roi must have %d values", 2 * naxes);
        st = rs_read_floats(c, troi, rv, 2 * IT_MAX_DIMS, "roi");
        if (st) return st;
        p.roi_f32 = troi->dtype == IT_F32;
        for (int i = 0; i < naxes; i++) {
            roi[axes[i]] = rv[i];
            roi[r + axes[i]] = rv[naxes + i];
        }
    }
    if (tsc) {
        double sv[IT_MAX_DIMS];
        if (it_count(tsc) != naxes)
            return it_opfail(c, INGOT_ERR_SHAPE, "scales has %lld values, expected %d", (long long)it_count(tsc), naxes);
        st = rs_read_floats(c, tsc, sv, IT_MAX_DIMS, "scales");
        if (st) return st;
        for (int i = 0; i < naxes; i++) {
            double s = sv[i];
            if (!(s > 0) || s > 1e9) return it_opfail(c, INGOT_ERR_SHAPE, "invalid scale %g", s);
            double o = s * (double)x->dims[axes[i]];
            if (o > (double)IT_LIMIT_ELEMENTS) return it_opfail(c, INGOT_ERR_LIMIT, "output dimension too large");
            scale[axes[i]] = s;
            outd[axes[i]] = (int64_t)o;
        }
    } else {
        int64_t zv[IT_MAX_DIMS];
        if (it_count(tsz) != naxes)
            return it_opfail(c, INGOT_ERR_SHAPE, "sizes has %lld values, expected %d", (long long)it_count(tsz), naxes);
        if (it_read_ints(tsz, zv, IT_MAX_DIMS) != naxes) return it_opfail(c, INGOT_ERR_FORMAT, "sizes must be integers");
        for (int i = 0; i < naxes; i++) {
            if (zv[i] < 0 || zv[i] > IT_LIMIT_ELEMENTS)
                return it_opfail(c, INGOT_ERR_SHAPE, "invalid size %lld", (long long)zv[i]);
            int64_t in = x->dims[axes[i]];
            if (in == 0 && zv[i] != 0) return it_opfail(c, INGOT_ERR_SHAPE, "cannot resize an empty dimension");
            outd[axes[i]] = zv[i];
            scale[axes[i]] = in ? (double)zv[i] / (double)in : 1.0;
        }
        if (policy) {
            double s = scale[axes[0]];
            for (int i = 1; i < naxes; i++) {
                double v = scale[axes[i]];
                if (policy == 1 ? v < s : v > s) s = v;
            }
            for (int i = 0; i < naxes; i++) {
                double o = s * (double)x->dims[axes[i]] + 0.5;
                if (o > (double)IT_LIMIT_ELEMENTS) return it_opfail(c, INGOT_ERR_LIMIT, "output dimension too large");
                scale[axes[i]] = s;
                outd[axes[i]] = (int64_t)o;
            }
        }
    }
    return rs_execute(c, &p, x, scale, outd, troi ? roi : NULL);
}

static int upsample_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    const it_node *nd = c->node;
    int r = x->ndim;
    rs_params p = {0};
    int st = rs_parse_mode(c, it_attr_str(nd, "mode", "nearest"), &p.mode);
    if (st) return st;
    if (p.mode == RM_CUBIC) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "Upsample supports nearest and linear only");
    p.ctm = CT_ASYMMETRIC;
    p.nearest = NM_SIMPLE;
    double sv[IT_MAX_DIMS];
    int ns;
    if (nd->opset < 9) {
        const float *f;
        ns = it_attr_floats(nd, "scales", &f);
        if (ns > IT_MAX_DIMS) ns = IT_MAX_DIMS + 1;
        for (int i = 0; i < ns && i < IT_MAX_DIMS; i++) sv[i] = f[i];
    } else {
        IT_REQUIRE_IN(c, 1, ts);
        ns = (int)(it_count(ts) > IT_MAX_DIMS ? IT_MAX_DIMS + 1 : it_count(ts));
        if (ns <= IT_MAX_DIMS) {
            st = rs_read_floats(c, ts, sv, IT_MAX_DIMS, "scales");
            if (st) return st;
        }
    }
    if (ns != r) return it_opfail(c, INGOT_ERR_SHAPE, "scales has %d values for a rank-%d input", ns, r);
    int64_t outd[IT_MAX_DIMS];
    for (int d = 0; d < r; d++) {
        if (!(sv[d] > 0) || sv[d] > 1e9) return it_opfail(c, INGOT_ERR_SHAPE, "invalid scale %g", sv[d]);
        double o = sv[d] * (double)x->dims[d];
        if (o > (double)IT_LIMIT_ELEMENTS) return it_opfail(c, INGOT_ERR_LIMIT, "output dimension too large");
        outd[d] = (int64_t)o;
    }
    return rs_execute(c, &p, x, sv, outd, NULL);
}

/* ====================================================================== GridSample */

typedef struct gs_job {
    const float *x;
    const void *grid;
    int gdt;
    float *y;
    int k;                       /* spatial rank */
    int64_t C, P, S;             /* channels, output positions, input spatial size */
    int64_t dims[IT_MAX_DIMS];   /* input spatial dims */
    int64_t strides[IT_MAX_DIMS];
    int mode, pad, align;        /* mode RM_*; pad 0 zeros, 1 border, 2 reflection */
} gs_job;

#define GS_MAX_TAPS 4096

static double gs_reflect(double x, double lo, double hi) {
    double rng = hi - lo;
    if (!(rng > 0)) return lo;
    if (x < lo) {
        double dx = lo - x, n = floor(dx / rng), r = dx - n * rng;
        return fmod(n, 2.0) == 0 ? lo + r : hi - r;
    }
    if (x > hi) {
        double dx = x - hi, n = floor(dx / rng), r = dx - n * rng;
        return fmod(n, 2.0) == 0 ? hi - r : lo + r;
    }
    return x;
}

/* Index of tap i along a dim of size D after padding; -1 means zero. */
static int64_t gs_tap(int64_t i, int64_t D, int pad, double lo, double hi) {
    if (i >= 0 && i < D) return i;
    if (pad == 0) return -1;
    if (pad == 1) return i < 0 ? 0 : D - 1;
    int64_t v = (int64_t)gs_reflect((double)i, lo, hi);
    return v < 0 ? 0 : (v >= D ? D - 1 : v);
}

static void gs_cubic_coeffs(double t, double *w) {
    const double A = -0.75;
    t = fabs(t);
    w[0] = ((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A;
    w[1] = ((A + 2) * t - (A + 3)) * t * t + 1;
    w[2] = ((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1;
    w[3] = ((A * (2 - t) - 5 * A) * (2 - t) + 8 * A) * (2 - t) - 4 * A;
}

static void gs_positions(void *arg, int64_t b, int64_t e, int tid) {
    const gs_job *j = arg;
    int k = j->k;
    int64_t off[GS_MAX_TAPS];
    float wt[GS_MAX_TAPS];
    for (int64_t q = b; q < e; q++) {
        int64_t n = q / j->P, pos = q % j->P;
        int64_t tidx[IT_MAX_DIMS][4];
        double tw[IT_MAX_DIMS][4];
        int nt = j->mode == RM_NEAREST ? 1 : (j->mode == RM_LINEAR ? 2 : 4);
        for (int i = 0; i < k; i++) {
            int64_t D = j->dims[i];
            double g = j->gdt == IT_F32 ? (double)((const float *)j->grid)[q * k + (k - 1 - i)]
                                         : it_get_f64(j->grid, j->gdt, q * k + (k - 1 - i));
            float gf = (float)g, xf;
            if (j->align) xf = (gf + 1.0f) / 2.0f * (float)(D - 1);
            else xf = ((gf + 1.0f) * (float)D - 1.0f) / 2.0f;
            double lo = j->align ? 0.0 : -0.5, hi = j->align ? (double)D - 1 : (double)D - 0.5;
            double x = xf;
            if (x != x) x = -(double)D - 10;
            if (j->mode == RM_NEAREST) x = nearbyint(x);
            if (x < lo || x > hi) {
                if (j->pad == 1) x = x < 0 ? 0 : (x > (double)(D - 1) ? (double)(D - 1) : x);
                else if (j->pad == 2) x = gs_reflect(x, lo, hi);
            }
            double lim = (double)D + 10;
            if (!(x >= -lim)) x = -lim; /* NaN too (reflecting an infinity) */
            if (x > lim) x = lim;
            if (j->mode == RM_NEAREST) {
                tidx[i][0] = gs_tap((int64_t)x, D, j->pad, lo, hi);
                tw[i][0] = 1;
            } else {
                double x0 = floor(x), t = x - x0;
                int64_t i0 = (int64_t)x0;
                if (j->mode == RM_LINEAR) {
                    tidx[i][0] = gs_tap(i0, D, j->pad, lo, hi);
                    tidx[i][1] = gs_tap(i0 + 1, D, j->pad, lo, hi);
                    tw[i][0] = 1 - t;
                    tw[i][1] = t;
                } else {
                    gs_cubic_coeffs(t, tw[i]);
                    for (int m = 0; m < 4; m++) tidx[i][m] = gs_tap(i0 - 1 + m, D, j->pad, lo, hi);
                }
            }
        }
        /* combine the per-dim taps */
        int cnt = 0, ci[IT_MAX_DIMS] = {0};
        for (;;) {
            int64_t o = 0;
            double w = 1;
            int zero = 0;
            for (int i = 0; i < k; i++) {
                int64_t t = tidx[i][ci[i]];
                if (t < 0) { zero = 1; break; }
                o += t * j->strides[i];
                w *= tw[i][ci[i]];
            }
            if (!zero && w != 0) {
                off[cnt] = o;
                wt[cnt] = (float)w;
                cnt++;
            }
            int i = k - 1;
            for (; i >= 0; i--) {
                if (++ci[i] < nt) break;
                ci[i] = 0;
            }
            if (i < 0) break;
        }
        for (int64_t ch = 0; ch < j->C; ch++) {
            const float *src = j->x + (n * j->C + ch) * j->S;
            float acc = 0;
            for (int t = 0; t < cnt; t++) acc += wt[t] * src[off[t]];
            j->y[(n * j->C + ch) * j->P + pos] = acc;
        }
    }
}

static int gridsample_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    IT_REQUIRE_IN(c, 1, grid);
    int r = x->ndim, k = r - 2;
    if (r < 3) return it_opfail(c, INGOT_ERR_SHAPE, "X must have rank >= 3");
    if (grid->ndim != r || grid->dims[r - 1] != k || grid->dims[0] != x->dims[0])
        return it_opfail(c, INGOT_ERR_SHAPE, "grid must be [N, out spatial..., %d] matching X", k);
    if (!it_dtype_is_float(grid->dtype) || it_dtype_size(grid->dtype) < 2)
        return it_opfail(c, INGOT_ERR_FORMAT, "grid must be a float tensor");
    if (x->dtype == IT_STRING || it_dtype_size(x->dtype) == 0 || x->dtype == IT_C64 || x->dtype == IT_C128)
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "dtype %s is not supported", it_dtype_name(x->dtype));
    gs_job j = {0};
    j.k = k;
    int st = rs_parse_mode(c, it_attr_str(c->node, "mode", c->node->opset >= 20 ? "linear" : "bilinear"), &j.mode);
    if (st) return st;
    const char *pm = it_attr_str(c->node, "padding_mode", "zeros");
    if (rs_str_eq(pm, "zeros")) j.pad = 0;
    else if (rs_str_eq(pm, "border")) j.pad = 1;
    else if (rs_str_eq(pm, "reflection")) j.pad = 2;
    else return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unknown padding_mode '%s'", pm);
    j.align = it_attr_int(c->node, "align_corners", 0) != 0;
    int per = j.mode == RM_NEAREST ? 1 : (j.mode == RM_LINEAR ? 2 : 4);
    double taps = pow((double)per, (double)k);
    if (taps > GS_MAX_TAPS) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "%d spatial dims are too many for this mode", k);
    int64_t od[IT_MAX_DIMS];
    od[0] = x->dims[0];
    od[1] = x->dims[1];
    j.P = 1;
    j.S = 1;
    for (int i = 0; i < k; i++) {
        od[2 + i] = grid->dims[1 + i];
        j.P *= grid->dims[1 + i];
        j.dims[i] = x->dims[2 + i];
    }
    for (int i = k - 1; i >= 0; i--) {
        j.strides[i] = j.S;
        j.S *= j.dims[i];
    }
    it_tensor *y;
    st = it_out_tensor(c, 0, x->dtype, r, od, &y);
    if (st) return st;
    int64_t ny = it_count(y), nx = it_count(x);
    if (ny == 0) return 0;
    if (j.S == 0) return it_opfail(c, INGOT_ERR_SHAPE, "X has an empty spatial dimension");
    j.C = x->dims[1];
    j.grid = grid->data;
    j.gdt = grid->dtype;
    if (x->dtype == IT_F32) {
        j.x = x->data;
        j.y = y->data;
    } else {
        float *xb = it_scratch(c, (size_t)nx * sizeof(float)), *yb = it_scratch(c, (size_t)ny * sizeof(float));
        if (!xb || !yb) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
        st = it_convert(xb, IT_F32, x->data, x->dtype, nx, 0);
        if (st) return it_opfail(c, st, "cannot convert X");
        j.x = xb;
        j.y = yb;
    }
    it_parallel_for(c->tp, x->dims[0] * j.P, 1 + 4096 / (j.C * (int64_t)taps + 1), gs_positions, &j);
    if (x->dtype != IT_F32) {
        st = it_convert(y->data, y->dtype, j.y, IT_F32, ny, 0);
        if (st) return it_opfail(c, st, "cannot convert Y");
    }
    return 0;
}

/* ====================================================================== RoiAlign */

typedef struct ra_pc { int64_t pos[4]; float w[4]; } ra_pc;

typedef struct ra_roi {
    double sh, sw, bh, bw; /* roi start and bin size */
    int64_t gh, gw;        /* sampling grid per bin */
    int64_t batch;
} ra_roi;

typedef struct ra_job {
    const float *x;
    float *y;
    int64_t C, H, W, ph, pw;
    const ra_roi *rois;
    ra_pc *work;     /* per thread: max entries */
    int64_t maxent;
    int max_mode;
} ra_job;

static void ra_rois(void *arg, int64_t b, int64_t e, int tid) {
    const ra_job *j = arg;
    ra_pc *pc = j->work + (int64_t)tid * j->maxent;
    int64_t H = j->H, W = j->W;
    for (int64_t n = b; n < e; n++) {
        const ra_roi *ro = &j->rois[n];
        int64_t idx = 0;
        for (int64_t ph = 0; ph < j->ph; ph++)
            for (int64_t pw = 0; pw < j->pw; pw++)
                for (int64_t iy = 0; iy < ro->gh; iy++) {
                    double yy = ro->sh + (double)ph * ro->bh + ((double)iy + 0.5) * ro->bh / (double)ro->gh;
                    for (int64_t ix = 0; ix < ro->gw; ix++, idx++) {
                        double xx = ro->sw + (double)pw * ro->bw + ((double)ix + 0.5) * ro->bw / (double)ro->gw;
                        ra_pc *p = &pc[idx];
                        double yv = yy, xv = xx;
                        if (!(yv >= -1.0 && yv <= (double)H && xv >= -1.0 && xv <= (double)W)) {
                            memset(p, 0, sizeof *p);
                            continue;
                        }
                        if (yv < 0) yv = 0;
                        if (xv < 0) xv = 0;
                        int64_t yl = (int64_t)yv, xl = (int64_t)xv, yh, xh;
                        if (yl >= H - 1) { yh = yl = H - 1; yv = (double)yl; } else yh = yl + 1;
                        if (xl >= W - 1) { xh = xl = W - 1; xv = (double)xl; } else xh = xl + 1;
                        double ly = yv - (double)yl, lx = xv - (double)xl, hy = 1 - ly, hx = 1 - lx;
                        p->pos[0] = yl * W + xl; p->pos[1] = yl * W + xh;
                        p->pos[2] = yh * W + xl; p->pos[3] = yh * W + xh;
                        p->w[0] = (float)(hy * hx); p->w[1] = (float)(hy * lx);
                        p->w[2] = (float)(ly * hx); p->w[3] = (float)(ly * lx);
                    }
                }
        int64_t cnt = ro->gh * ro->gw;
        for (int64_t ch = 0; ch < j->C; ch++) {
            const float *src = j->x + (ro->batch * j->C + ch) * H * W;
            float *dst = j->y + (n * j->C + ch) * j->ph * j->pw;
            const ra_pc *p = pc;
            for (int64_t o = 0; o < j->ph * j->pw; o++) {
                float acc = 0;
                int first = 1;
                for (int64_t s = 0; s < cnt; s++, p++) {
                    if (j->max_mode) {
                        float v = p->w[0] * src[p->pos[0]], v1 = p->w[1] * src[p->pos[1]];
                        float v2 = p->w[2] * src[p->pos[2]], v3 = p->w[3] * src[p->pos[3]];
                        if (v1 > v) v = v1;
                        if (v2 > v) v = v2;
                        if (v3 > v) v = v3;
                        if (first || v > acc) acc = v;
                        first = 0;
                    } else {
                        acc += p->w[0] * src[p->pos[0]] + p->w[1] * src[p->pos[1]] + p->w[2] * src[p->pos[2]] +
                               p->w[3] * src[p->pos[3]];
                    }
                }
                if (!j->max_mode) acc /= (float)(cnt > 1 ? cnt : 1);
                dst[o] = acc;
            }
        }
    }
}

static int roialign_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    IT_REQUIRE_IN(c, 1, rois);
    IT_REQUIRE_IN(c, 2, bi);
    const it_node *nd = c->node;
    if (x->ndim != 4) return it_opfail(c, INGOT_ERR_SHAPE, "X must be [N, C, H, W]");
    if (rois->ndim != 2 || rois->dims[1] != 4) return it_opfail(c, INGOT_ERR_SHAPE, "rois must be [num_rois, 4]");
    if (bi->ndim != 1 || bi->dims[0] != rois->dims[0])
        return it_opfail(c, INGOT_ERR_SHAPE, "batch_indices must be [num_rois]");
    if (!it_dtype_is_int(bi->dtype)) return it_opfail(c, INGOT_ERR_FORMAT, "batch_indices must be integers");
    if (!it_dtype_is_float(x->dtype) || it_dtype_size(x->dtype) < 2 || !it_dtype_is_float(rois->dtype) ||
        it_dtype_size(rois->dtype) < 2)
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "X and rois must be float tensors");
    const char *mode = it_attr_str(nd, "mode", "avg");
    int max_mode;
    if (rs_str_eq(mode, "avg")) max_mode = 0;
    else if (rs_str_eq(mode, "max")) max_mode = 1;
    else return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unknown mode '%s'", mode);
    int64_t oh = it_attr_int(nd, "output_height", 1), ow = it_attr_int(nd, "output_width", 1);
    int64_t sr = it_attr_int(nd, "sampling_ratio", 0);
    double ss = it_attr_float(nd, "spatial_scale", 1.0f);
    if (oh < 1 || ow < 1 || oh > (1 << 20) || ow > (1 << 20) || sr < 0 || sr > (1 << 16))
        return it_opfail(c, INGOT_ERR_SHAPE, "invalid output size or sampling_ratio");
    int half = 0;
    if (nd->opset >= 16) {
        const char *ct = it_attr_str(nd, "coordinate_transformation_mode", "half_pixel");
        if (rs_str_eq(ct, "half_pixel")) half = 1;
        else if (!rs_str_eq(ct, "output_half_pixel"))
            return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unknown coordinate_transformation_mode '%s'", ct);
    }
    int64_t R = rois->dims[0], N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    int64_t od[4] = {R, C, oh, ow};
    it_tensor *y;
    int st = it_out_tensor(c, 0, x->dtype, 4, od, &y);
    if (st) return st;
    int64_t ny = it_count(y), nx = it_count(x);
    if (ny == 0) return 0;
    if (H == 0 || W == 0) return it_opfail(c, INGOT_ERR_SHAPE, "X has an empty spatial dimension");
    ra_roi *ro = it_scratch(c, (size_t)R * sizeof(ra_roi));
    if (!ro) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    int64_t maxent = 1;
    double off = half ? 0.5 : 0.0;
    for (int64_t n = 0; n < R; n++) {
        double v[4];
        for (int i = 0; i < 4; i++) v[i] = it_get_f64(rois->data, rois->dtype, n * 4 + i) * ss - off;
        int64_t b = it_get_i64(bi->data, bi->dtype, n);
        if (b < 0 || b >= N) return it_opfail(c, INGOT_ERR_SHAPE, "batch index %lld out of range", (long long)b);
        double rw = v[2] - v[0], rh = v[3] - v[1];
        if (!half) {
            if (rw < 1) rw = 1;
            if (rh < 1) rh = 1;
        }
        if (!(fabs(rw) < 1e12 && fabs(rh) < 1e12 && fabs(v[0]) < 1e12 && fabs(v[1]) < 1e12))
            return it_opfail(c, INGOT_ERR_SHAPE, "roi %lld has invalid coordinates", (long long)n);
        ro[n].sw = v[0];
        ro[n].sh = v[1];
        ro[n].bh = rh / (double)oh;
        ro[n].bw = rw / (double)ow;
        ro[n].gh = sr > 0 ? sr : (int64_t)ceil(rh / (double)oh);
        ro[n].gw = sr > 0 ? sr : (int64_t)ceil(rw / (double)ow);
        if (ro[n].gh < 0) ro[n].gh = 0;
        if (ro[n].gw < 0) ro[n].gw = 0;
        ro[n].batch = b;
        int64_t ent;
        if (!it_mul_ok(ro[n].gh, ro[n].gw, &ent) || !it_mul_ok(ent, oh * ow, &ent) || ent > ((int64_t)1 << 26))
            return it_opfail(c, INGOT_ERR_LIMIT, "roi %lld needs too many samples", (long long)n);
        if (ent > maxent) maxent = ent;
    }
    int nth = it_threadpool_size(c->tp);
    if (nth < 1) nth = 1;
    ra_job j = {NULL, NULL, C, H, W, oh, ow, ro, NULL, maxent, max_mode};
    j.work = it_scratch(c, (size_t)maxent * (size_t)nth * sizeof(ra_pc));
    if (!j.work) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    if (x->dtype == IT_F32) {
        j.x = x->data;
        j.y = y->data;
    } else {
        float *xb = it_scratch(c, (size_t)nx * sizeof(float)), *yb = it_scratch(c, (size_t)ny * sizeof(float));
        if (!xb || !yb) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
        st = it_convert(xb, IT_F32, x->data, x->dtype, nx, 0);
        if (st) return it_opfail(c, st, "cannot convert X");
        j.x = xb;
        j.y = yb;
    }
    it_parallel_for(c->tp, R, 1, ra_rois, &j);
    if (x->dtype != IT_F32) {
        st = it_convert(y->data, y->dtype, j.y, IT_F32, ny, 0);
        if (st) return it_opfail(c, st, "cannot convert Y");
    }
    return 0;
}

/* ====================================================================== AffineGrid */

static int affinegrid_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, theta);
    IT_REQUIRE_IN(c, 1, size);
    int64_t sz[5];
    int64_t ns = it_read_ints(size, sz, 5);
    if (ns != 4 && ns != 5) return it_opfail(c, INGOT_ERR_SHAPE, "size must hold 4 (2-D) or 5 (3-D) integers");
    int k = (int)ns - 2;
    if (theta->ndim != 3 || theta->dims[0] != sz[0] || theta->dims[1] != k || theta->dims[2] != k + 1)
        return it_opfail(c, INGOT_ERR_SHAPE, "theta must be [N, %d, %d] with N = size[0]", k, k + 1);
    if (!it_dtype_is_float(theta->dtype) || it_dtype_size(theta->dtype) < 2)
        return it_opfail(c, INGOT_ERR_FORMAT, "theta must be a float tensor");
    int align = it_attr_int(c->node, "align_corners", 0) != 0;
    int64_t od[5];
    od[0] = sz[0];
    int64_t P = 1;
    for (int i = 0; i < k; i++) {
        if (sz[2 + i] < 0) return it_opfail(c, INGOT_ERR_SHAPE, "negative size");
        od[1 + i] = sz[2 + i];
        if (!it_mul_ok(P, sz[2 + i], &P) || P > IT_LIMIT_ELEMENTS) return it_opfail(c, INGOT_ERR_LIMIT, "grid too large");
    }
    od[1 + k] = k;
    it_tensor *y;
    int st = it_out_tensor(c, 0, theta->dtype, k + 2, od, &y);
    if (st) return st;
    if (it_count(y) == 0) return 0;
    /* base coordinates per spatial dim (dims in order D/H/W; the point is (x, y[, z])) */
    double *base[3];
    for (int i = 0; i < k; i++) {
        int64_t s = sz[2 + i];
        base[i] = it_scratch(c, (size_t)(s + 1) * sizeof(double));
        if (!base[i]) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
        for (int64_t t = 0; t < s; t++) {
            if (align) base[i][t] = s == 1 ? -1.0 : -1.0 + (double)t * (2.0 / (double)(s - 1));
            else {
                double step = 2.0 / (double)s;
                base[i][t] = -1.0 + step / 2 + (double)t * step;
            }
        }
    }
    int64_t N = sz[0];
    for (int64_t n = 0; n < N; n++) {
        double th[12];
        for (int i = 0; i < k * (k + 1); i++) th[i] = it_get_f64(theta->data, theta->dtype, n * k * (k + 1) + i);
        int64_t idx[3] = {0, 0, 0};
        for (int64_t p = 0; p < P; p++) {
            double pt[4];
            /* point = (x, y[, z], 1): x is the last spatial dim */
            for (int i = 0; i < k; i++) pt[i] = base[k - 1 - i][idx[k - 1 - i]];
            pt[k] = 1;
            for (int rr = 0; rr < k; rr++) {
                double v = 0;
                for (int q = 0; q <= k; q++) v += th[rr * (k + 1) + q] * pt[q];
                it_set_f64(y->data, y->dtype, (n * P + p) * k + rr, v);
            }
            for (int i = k - 1; i >= 0; i--) {
                if (++idx[i] < sz[2 + i]) break;
                idx[i] = 0;
            }
        }
    }
    return 0;
}

/* ====================================================================== NonMaxSuppression */

typedef struct nms_cand { float score; int64_t idx; } nms_cand;

static int nms_cmp(const void *a, const void *b) {
    const nms_cand *x = a, *y = b;
    /* descending score (NaN last), ascending index on ties */
    int xn = x->score != x->score, yn = y->score != y->score;
    if (xn != yn) return xn - yn;
    if (!xn && x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static int nms_suppress(const double *b1, const double *b2, int center, double thr) {
    double x1a, x1b, y1a, y1b, x2a, x2b, y2a, y2b;
    if (!center) {
        x1a = fmin(b1[1], b1[3]); x1b = fmax(b1[1], b1[3]);
        x2a = fmin(b2[1], b2[3]); x2b = fmax(b2[1], b2[3]);
        y1a = fmin(b1[0], b1[2]); y1b = fmax(b1[0], b1[2]);
        y2a = fmin(b2[0], b2[2]); y2b = fmax(b2[0], b2[2]);
    } else {
        x1a = b1[0] - b1[2] / 2; x1b = b1[0] + b1[2] / 2;
        x2a = b2[0] - b2[2] / 2; x2b = b2[0] + b2[2] / 2;
        y1a = b1[1] - b1[3] / 2; y1b = b1[1] + b1[3] / 2;
        y2a = b2[1] - b2[3] / 2; y2b = b2[1] + b2[3] / 2;
    }
    double ix0 = fmax(x1a, x2a), ix1 = fmin(x1b, x2b);
    if (!(ix1 > ix0)) return 0;
    double iy0 = fmax(y1a, y2a), iy1 = fmin(y1b, y2b);
    if (!(iy1 > iy0)) return 0;
    double inter = (ix1 - ix0) * (iy1 - iy0);
    if (!(inter > 0)) return 0;
    double a1 = (x1b - x1a) * (y1b - y1a), a2 = (x2b - x2a) * (y2b - y2a), uni = a1 + a2 - inter;
    if (!(a1 > 0) || !(a2 > 0) || !(uni > 0)) return 0;
    return inter / uni > thr;
}

static int nms_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, boxes);
    IT_REQUIRE_IN(c, 1, scores);
    if (boxes->ndim != 3 || boxes->dims[2] != 4) return it_opfail(c, INGOT_ERR_SHAPE, "boxes must be [batch, boxes, 4]");
    if (scores->ndim != 3 || scores->dims[0] != boxes->dims[0] || scores->dims[2] != boxes->dims[1])
        return it_opfail(c, INGOT_ERR_SHAPE, "scores must be [batch, classes, boxes] matching boxes");
    if (!it_dtype_is_float(boxes->dtype) || !it_dtype_is_float(scores->dtype) || it_dtype_size(boxes->dtype) < 2 ||
        it_dtype_size(scores->dtype) < 2)
        return it_opfail(c, INGOT_ERR_FORMAT, "boxes and scores must be float tensors");
    int64_t maxout = 0;
    double iou = 0, sthr = 0;
    int has_sthr = 0;
    it_tensor *t = it_in(c, 2);
    if (t && it_count(t) > 0) {
        if (!it_dtype_is_int(t->dtype)) return it_opfail(c, INGOT_ERR_FORMAT, "max_output_boxes_per_class must be an integer");
        maxout = it_get_i64(t->data, t->dtype, 0);
        if (maxout < 0) maxout = 0;
    }
    t = it_in(c, 3);
    if (t && it_count(t) > 0) iou = it_scalar(t);
    t = it_in(c, 4);
    if (t && it_count(t) > 0) {
        sthr = it_scalar(t);
        has_sthr = 1;
    }
    int center = it_attr_int(c->node, "center_point_box", 0) != 0;
    int64_t B = boxes->dims[0], NB = boxes->dims[1], NC = scores->dims[1];
    int64_t per = maxout < NB ? maxout : NB;
    int64_t cap;
    if (!it_mul_ok(B, NC, &cap) || !it_mul_ok(cap, per, &cap) || cap > IT_LIMIT_ELEMENTS / 3)
        return it_opfail(c, INGOT_ERR_LIMIT, "too many boxes");
    int64_t *sel = it_scratch(c, (size_t)(cap > 0 ? cap : 1) * 3 * sizeof(int64_t));
    nms_cand *cand = it_scratch(c, (size_t)(NB > 0 ? NB : 1) * sizeof(nms_cand));
    int64_t *keep = it_scratch(c, (size_t)(per > 0 ? per : 1) * sizeof(int64_t));
    double *bx = it_scratch(c, (size_t)(NB > 0 ? NB : 1) * 4 * sizeof(double));
    if (!sel || !cand || !keep || !bx) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    int64_t nsel = 0;
    for (int64_t b = 0; b < B && per > 0; b++) {
        for (int64_t i = 0; i < NB * 4; i++) bx[i] = it_get_f64(boxes->data, boxes->dtype, b * NB * 4 + i);
        for (int64_t cl = 0; cl < NC; cl++) {
            int64_t nc = 0;
            for (int64_t i = 0; i < NB; i++) {
                double s = it_get_f64(scores->data, scores->dtype, (b * NC + cl) * NB + i);
                if (has_sthr && !(s > sthr)) continue;
                cand[nc].score = (float)s;
                cand[nc].idx = i;
                nc++;
            }
            qsort(cand, (size_t)nc, sizeof *cand, nms_cmp);
            int64_t nk = 0;
            for (int64_t i = 0; i < nc && nk < per; i++) {
                int ok = 1;
                for (int64_t q = 0; q < nk && ok; q++)
                    if (nms_suppress(bx + cand[i].idx * 4, bx + keep[q] * 4, center, iou)) ok = 0;
                if (!ok) continue;
                keep[nk++] = cand[i].idx;
                sel[nsel * 3] = b;
                sel[nsel * 3 + 1] = cl;
                sel[nsel * 3 + 2] = cand[i].idx;
                nsel++;
            }
        }
    }
    int64_t od[2] = {nsel, 3};
    it_tensor *y;
    int st = it_out_tensor(c, 0, IT_I64, 2, od, &y);
    if (st) return st;
    if (nsel) memcpy(y->data, sel, (size_t)nsel * 3 * sizeof(int64_t));
    return 0;
}

/* ====================================================================== Col2Im */

typedef struct c2i_job {
    const void *x;
    void *y;
    int kind;                 /* 0 float, 1 double, 2 int64 */
    int k;
    int64_t C, K, L, S;       /* channels, kernel size, blocks, image size */
    int64_t img[IT_MAX_DIMS], blk[IT_MAX_DIMS], nb[IT_MAX_DIMS];
    int64_t dil[IT_MAX_DIMS], pad[IT_MAX_DIMS], str[IT_MAX_DIMS];
} c2i_job;

static void c2i_planes(void *arg, int64_t b, int64_t e, int tid) {
    const c2i_job *j = arg;
    int k = j->k;
    for (int64_t pl = b; pl < e; pl++) {
        const int64_t in_base = pl * j->K * j->L, out_base = pl * j->S;
        int64_t ko[IT_MAX_DIMS] = {0};
        for (int64_t kk = 0; kk < j->K; kk++) {
            int64_t bo[IT_MAX_DIMS] = {0};
            for (int64_t l = 0; l < j->L; l++) {
                int64_t o = 0;
                int in = 1;
                for (int i = 0; i < k; i++) {
                    int64_t p = bo[i] * j->str[i] - j->pad[i] + ko[i] * j->dil[i];
                    if (p < 0 || p >= j->img[i]) { in = 0; break; }
                    o = o * j->img[i] + p;
                }
                if (in) {
                    int64_t si = in_base + kk * j->L + l, di = out_base + o;
                    if (j->kind == 0) ((float *)j->y)[di] += ((const float *)j->x)[si];
                    else if (j->kind == 1) ((double *)j->y)[di] += ((const double *)j->x)[si];
                    else ((int64_t *)j->y)[di] += ((const int64_t *)j->x)[si];
                }
                for (int i = k - 1; i >= 0; i--) {
                    if (++bo[i] < j->nb[i]) break;
                    bo[i] = 0;
                }
            }
            for (int i = k - 1; i >= 0; i--) {
                if (++ko[i] < j->blk[i]) break;
                ko[i] = 0;
            }
        }
    }
}

static int col2im_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    IT_REQUIRE_IN(c, 1, ti);
    IT_REQUIRE_IN(c, 2, tb);
    c2i_job j = {0};
    int64_t k1 = it_read_ints(ti, j.img, IT_MAX_DIMS - 2), k2 = it_read_ints(tb, j.blk, IT_MAX_DIMS - 2);
    if (k1 < 1 || k1 != k2) return it_opfail(c, INGOT_ERR_SHAPE, "image_shape and block_shape must have the same length");
    int k = (int)k1;
    j.k = k;
    const int64_t *v;
    int n;
    for (int i = 0; i < k; i++) {
        j.dil[i] = 1;
        j.str[i] = 1;
        j.pad[i] = 0;
    }
    int64_t pend[IT_MAX_DIMS] = {0};
    if ((n = it_attr_ints(c->node, "dilations", &v)) > 0) {
        if (n != k) return it_opfail(c, INGOT_ERR_SHAPE, "dilations must have %d values", k);
        for (int i = 0; i < k; i++) j.dil[i] = v[i];
    }
    if ((n = it_attr_ints(c->node, "strides", &v)) > 0) {
        if (n != k) return it_opfail(c, INGOT_ERR_SHAPE, "strides must have %d values", k);
        for (int i = 0; i < k; i++) j.str[i] = v[i];
    }
    if ((n = it_attr_ints(c->node, "pads", &v)) > 0) {
        if (n != 2 * k) return it_opfail(c, INGOT_ERR_SHAPE, "pads must have %d values", 2 * k);
        for (int i = 0; i < k; i++) {
            j.pad[i] = v[i];
            pend[i] = v[k + i];
        }
    }
    if (x->ndim != 3) return it_opfail(c, INGOT_ERR_SHAPE, "input must be [N, C*prod(block_shape), L]");
    j.K = 1;
    j.L = 1;
    j.S = 1;
    for (int i = 0; i < k; i++) {
        if (j.img[i] < 1 || j.blk[i] < 1 || j.dil[i] < 1 || j.str[i] < 1 || j.img[i] > IT_LIMIT_ELEMENTS ||
            j.blk[i] > IT_LIMIT_ELEMENTS || j.dil[i] > IT_LIMIT_ELEMENTS || j.str[i] > IT_LIMIT_ELEMENTS ||
            llabs(j.pad[i]) > IT_LIMIT_ELEMENTS || llabs(pend[i]) > IT_LIMIT_ELEMENTS)
            return it_opfail(c, INGOT_ERR_SHAPE, "invalid image, block, dilation, stride or pad on dim %d", i);
        int64_t num = j.img[i] + j.pad[i] + pend[i] - j.dil[i] * (j.blk[i] - 1) - 1;
        if (num < 0) return it_opfail(c, INGOT_ERR_SHAPE, "block does not fit the padded image on dim %d", i);
        j.nb[i] = num / j.str[i] + 1;
        if (!it_mul_ok(j.K, j.blk[i], &j.K) || !it_mul_ok(j.L, j.nb[i], &j.L) || !it_mul_ok(j.S, j.img[i], &j.S))
            return it_opfail(c, INGOT_ERR_LIMIT, "sizes overflow");
    }
    if (x->dims[1] % j.K != 0) return it_opfail(c, INGOT_ERR_SHAPE, "input dim 1 is not a multiple of the block size");
    if (x->dims[2] != j.L)
        return it_opfail(c, INGOT_ERR_SHAPE, "input dim 2 is %lld, expected %lld blocks", (long long)x->dims[2],
                         (long long)j.L);
    j.C = x->dims[1] / j.K;
    int64_t od[IT_MAX_DIMS];
    od[0] = x->dims[0];
    od[1] = j.C;
    for (int i = 0; i < k; i++) od[2 + i] = j.img[i];
    int64_t tot;
    if (!it_mul_ok(x->dims[0] * j.C, j.S, &tot) || tot > IT_LIMIT_ELEMENTS) return it_opfail(c, INGOT_ERR_LIMIT, "output too large");
    it_tensor *y;
    int st = it_out_tensor(c, 0, x->dtype, k + 2, od, &y);
    if (st) return st;
    int64_t ny = it_count(y), nx = it_count(x);
    if (ny == 0) return 0;
    int dt = x->dtype;
    if (dt == IT_STRING || it_dtype_size(dt) == 0 || dt == IT_C64 || dt == IT_C128)
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "dtype %s is not supported", it_dtype_name(dt));
    int work_dt;
    if (dt == IT_F32 || dt == IT_F16 || dt == IT_BF16) { j.kind = 0; work_dt = IT_F32; }
    else if (dt == IT_F64) { j.kind = 1; work_dt = IT_F64; }
    else { j.kind = 2; work_dt = IT_I64; }
    size_t esz = it_dtype_size(work_dt);
    if (dt == work_dt) {
        j.x = x->data;
        j.y = y->data;
    } else {
        void *xb = it_scratch(c, (size_t)nx * esz), *yb = it_scratch(c, (size_t)ny * esz);
        if (!xb || !yb) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
        memset(yb, 0, (size_t)ny * esz);
        st = it_convert(xb, work_dt, x->data, dt, nx, 0);
        if (st) return it_opfail(c, st, "cannot convert input");
        j.x = xb;
        j.y = yb;
    }
    it_parallel_for(c->tp, x->dims[0] * j.C, 1, c2i_planes, &j);
    if (dt != work_dt) {
        st = it_convert(y->data, dt, j.y, work_dt, ny, 0);
        if (st) return it_opfail(c, st, "cannot convert output");
    }
    return 0;
}

const it_op it_ops_image[] = {
    {"", "Resize", NULL, resize_run, NULL, 0, NULL},
    {"", "Upsample", NULL, upsample_run, NULL, 0, NULL},
    {"", "GridSample", NULL, gridsample_run, NULL, 0, NULL},
    {"", "RoiAlign", NULL, roialign_run, NULL, 0, NULL},
    {"", "AffineGrid", NULL, affinegrid_run, NULL, 0, NULL},
    {"", "NonMaxSuppression", NULL, nms_run, NULL, 0, NULL},
    {"", "Col2Im", NULL, col2im_run, NULL, 0, NULL},
    {0},
};
