/*
 * reduce.c: operator family 'reduce': reductions over axes (ReduceSum/Mean/Max/
 * Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare, ArgMax/ArgMin), scans (CumSum,
 * CumProd), TopK, normalizations along an axis (Softmax, LogSoftmax, Hardmax,
 * LpNormalization, MeanVarianceNormalization), Det, and Einsum (its engine is in
 * reduce2.c).
 *
 * Workload: transformers and CNNs in float32, where Softmax over the last axis,
 * ReduceMean/ReduceSum over the last axis (LayerNorm patterns) and ReduceMean over
 * spatial axes (global average pooling) are hot. A reduction first coalesces the
 * input shape into alternating kept/reduced groups; the float32 shapes
 * [kept][reduced] and [kept][reduced][kept] have contiguous loops split over the
 * thread pool, with float sums accumulated in blocks of float lanes summed in
 * double. Everything else goes through a generic odometer in double (floats) or
 * int64 (integers and bool, exact for Sum/Prod/Max/Min).
 */
#include <float.h>

#include "ops.h"
#include "reduce_internal.h"

enum { RK_SUM, RK_MEAN, RK_SSQ, RK_L1, RK_L2, RK_LOGSUM, RK_LSE, RK_PROD, RK_MAX, RK_MIN };

/* ---------------------------------------------------------------- helpers */

static int nthreads_of(it_threadpool *tp) { return tp ? it_threadpool_size(tp) : 1; }

/* Write an int64 into element i of an integer or bool tensor (wrapping like C). */
static void put_i64(void *d, int dt, int64_t i, int64_t v) {
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

static int is_intlike(int dt) { return it_dtype_is_int(dt) || dt == IT_BOOL; }

/* A key whose unsigned order is the value order of element i (any numeric dtype).
 * -0.0 and +0.0 get the same key; NaN sorts above +inf. */
static inline uint64_t okey_f64(double v) {
    v = v + 0.0;
    uint64_t b;
    memcpy(&b, &v, 8);
    return (b >> 63) ? ~b : (b | ((uint64_t)1 << 63));
}
static inline uint64_t okey(const void *d, int dt, int64_t i) {
    switch (dt) {
    case IT_F32: return okey_f64(((const float *)d)[i]);
    case IT_F64: return okey_f64(((const double *)d)[i]);
    case IT_U64: return ((const uint64_t *)d)[i];
    case IT_I64: return (uint64_t)((const int64_t *)d)[i] ^ ((uint64_t)1 << 63);
    default:
        if (is_intlike(dt)) return (uint64_t)it_get_i64(d, dt, i) ^ ((uint64_t)1 << 63);
        return okey_f64(it_get_f64(d, dt, i));
    }
}

/* Split a shape at `axis` into outer * D * inner. */
static void split_axis(const it_tensor *x, int axis, int64_t *outer, int64_t *D, int64_t *inner) {
    int64_t o = 1, n = 1;
    for (int i = 0; i < axis; i++) o *= x->dims[i];
    for (int i = axis + 1; i < x->ndim; i++) n *= x->dims[i];
    *outer = o;
    *D = x->dims[axis];
    *inner = n;
}

/* 4-lane float vectors (GCC/clang vector extensions: SSE2 on x86-64, NEON on
 * Arm, plain code elsewhere) for the float32 hot loops; -O2 does not vectorize
 * them by itself. Loads and stores go through memcpy (unaligned). */
typedef float vf4 __attribute__((vector_size(16)));
typedef int32_t vi4 __attribute__((vector_size(16)));
static inline vf4 vsplat(float a) { vf4 v = {a, a, a, a}; return v; }
static inline vf4 vld(const float *p) { vf4 v; memcpy(&v, p, 16); return v; }
static inline void vst(float *p, vf4 v) { memcpy(p, &v, 16); }
static inline vf4 vsel(vi4 m, vf4 a, vf4 b) { return (vf4)(((vi4)a & m) | ((vi4)b & ~m)); }
/* max/min that keep NaN once seen (like numpy) */
static inline vf4 vmaxn(vf4 a, vf4 v) { return vsel((v > a) | (v != v), v, a); }
static inline vf4 vminn(vf4 a, vf4 v) { return vsel((v < a) | (v != v), v, a); }
static inline vf4 vabs(vf4 v) {
    vi4 m = {0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff};
    return (vf4)((vi4)v & m);
}
static inline float hsum(vf4 v) { return (v[0] + v[1]) + (v[2] + v[3]); }

/* Fast exp for arguments <= 0 (softmax: x - max): 2^n * poly(r), relative error
 * ~2e-7. NaN maps to exp(-87); callers handle non-finite rows apart. */
static inline vf4 vexp4(vf4 x) {
    x = vsel(x > vsplat(-87.0f), x, vsplat(-87.0f));
    vf4 n = (x * vsplat(1.44269504089f) + vsplat(12582912.0f)) - vsplat(12582912.0f);
    vf4 r = x - n * vsplat(0.693145751953125f);
    r = r - n * vsplat(1.428606765330187e-06f);
    vf4 p = vsplat(1.3888889e-3f);
    p = p * r + vsplat(8.3333338e-3f);
    p = p * r + vsplat(4.1666668e-2f);
    p = p * r + vsplat(1.6666667e-1f);
    p = p * r + vsplat(0.5f);
    p = p * r + vsplat(1.0f);
    p = p * r + vsplat(1.0f);
    vi4 e = (__builtin_convertvector(n, vi4) + 127) << 23;
    return p * (vf4)e;
}
static inline float fexp(float x) { return vexp4(vsplat(x))[0]; }

/* ---------------------------------------------------------------- reduction plan */

typedef struct rplan {
    int nd;                  /* coalesced groups, alternating kept/reduced */
    int64_t d[IT_MAX_DIMS];
    int red[IT_MAX_DIMS];
    int64_t ostr[IT_MAX_DIMS]; /* output stride of each group (0 for reduced) */
    int64_t n_in, n_out, n_red;
    int out_nd;
    int64_t out_dims[IT_MAX_DIMS];
} rplan;

static void plan_build(rplan *p, const it_tensor *x, const int *flags, int keepdims) {
    memset(p, 0, sizeof *p);
    p->n_out = 1;
    p->n_red = 1;
    for (int i = 0; i < x->ndim; i++) {
        int64_t d = x->dims[i];
        if (flags[i]) {
            p->n_red *= d;
            if (keepdims) p->out_dims[p->out_nd++] = 1;
        } else {
            p->n_out *= d;
            p->out_dims[p->out_nd++] = d;
        }
        if (d == 1) continue;
        if (p->nd > 0 && p->red[p->nd - 1] == flags[i]) p->d[p->nd - 1] *= d;
        else {
            p->d[p->nd] = d;
            p->red[p->nd++] = flags[i] != 0;
        }
    }
    if (p->nd == 0) { p->nd = 1; p->d[0] = 1; p->red[0] = 1; }
    p->n_in = p->n_out * p->n_red;
    int64_t s = 1;
    for (int k = p->nd - 1; k >= 0; k--) {
        p->ostr[k] = p->red[k] ? 0 : s;
        if (!p->red[k]) s *= p->d[k];
    }
}

/* Visit the input of a plan (n_in > 0) in memory order as runs of its innermost
 * group: BODY sees i (input offset of the run), o (output offset of its first
 * element), L (run length) and s (output stride along the run). */
#define RP_VISIT(p, BODY)                                                               \
    do {                                                                                \
        int64_t idx_[IT_MAX_DIMS] = {0};                                                \
        int nd_ = (p)->nd;                                                              \
        int64_t L = (p)->d[nd_ - 1], s = (p)->ostr[nd_ - 1], i = 0, o = 0;             \
        (void)s;                                                                        \
        for (;;) {                                                                      \
            BODY;                                                                       \
            i += L;                                                                     \
            int k_ = nd_ - 2;                                                           \
            for (; k_ >= 0; k_--) {                                                     \
                o += (p)->ostr[k_];                                                     \
                if (++idx_[k_] < (p)->d[k_]) break;                                     \
                o -= (p)->ostr[k_] * (p)->d[k_];                                        \
                idx_[k_] = 0;                                                           \
            }                                                                           \
            if (k_ < 0) break;                                                          \
        }                                                                               \
    } while (0)

/* Axes of a Reduce* node into flags[rank]; *noop set when nothing is reduced. */
static int reduce_axes(it_opctx *c, int rank, int axes_from_input, int *flags) {
    int64_t ax[64];
    int64_t n = 0;
    int noop_attr = 0;
    memset(flags, 0, sizeof(int) * IT_MAX_DIMS);
    if (axes_from_input) {
        const it_tensor *t = it_in(c, 1);
        if (t) {
            n = it_read_ints(t, ax, 64);
            if (n < 0) return it_opfail(c, INGOT_ERR_SHAPE, "axes must be an integer tensor of at most 64 values");
        }
        noop_attr = it_attr_int(c->node, "noop_with_empty_axes", 0) != 0;
    } else {
        const int64_t *v;
        int k = it_attr_ints(c->node, "axes", &v);
        if (k > 64) return it_opfail(c, INGOT_ERR_SHAPE, "too many axes (%d)", k);
        for (int i = 0; i < k; i++) ax[i] = v[i];
        n = k;
    }
    if (n == 0) {
        if (!noop_attr)
            for (int i = 0; i < rank; i++) flags[i] = 1;
        return 0;
    }
    for (int64_t i = 0; i < n; i++) {
        int a = it_axis(ax[i], rank, 0);
        if (a < 0) return it_opfail(c, INGOT_ERR_SHAPE, "axis %lld out of range for rank %d", (long long)ax[i], rank);
        flags[a] = 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- finalize */

static double rk_init(int kind) {
    switch (kind) {
    case RK_PROD: return 1;
    case RK_MAX: return -INFINITY;
    case RK_MIN: return INFINITY;
    default: return 0;
    }
}

/* acc: accumulated value; n: elements reduced; m: the max (LogSumExp). */
static inline double rk_fin(int kind, double acc, int64_t n, double m) {
    switch (kind) {
    case RK_MEAN: return acc / (double)n;
    case RK_L2: return sqrt(acc);
    case RK_LOGSUM: return log(acc);
    case RK_LSE: return (m == m && !isinf(m)) ? log(acc) + m : m;
    default: return acc;
    }
}

/* ---------------------------------------------------------------- float32 fast paths */

/* Sum of f(x[i]) for mode 0: x, 1: |x|, 2: x*x; 16 float lanes in blocks of
 * 4096 values, block sums added in double. */
#define SUM_BLOCK(VEXPR, EXPR)                                                          \
    do {                                                                                \
        while (i < n) {                                                                 \
            int64_t e = n - i > 4096 ? i + 4096 : n;                                    \
            vf4 a0 = vsplat(0), a1 = a0, a2 = a0, a3 = a0, v;                           \
            for (; i + 16 <= e; i += 16) {                                              \
                v = vld(x + i); a0 += (VEXPR);                                          \
                v = vld(x + i + 4); a1 += (VEXPR);                                      \
                v = vld(x + i + 8); a2 += (VEXPR);                                      \
                v = vld(x + i + 12); a3 += (VEXPR);                                     \
            }                                                                           \
            float t = hsum((a0 + a1) + (a2 + a3));                                      \
            for (; i < e; i++) { float u = x[i]; t += (EXPR); }                         \
            total += t;                                                                 \
        }                                                                               \
    } while (0)

static double sum_f32(const float *x, int64_t n, int mode) {
    double total = 0;
    int64_t i = 0;
    if (mode == 0) SUM_BLOCK(v, u);
    else if (mode == 1) SUM_BLOCK(vabs(v), fabsf(u));
    else SUM_BLOCK(v * v, u * u);
    return total;
}

static float max_f32(const float *x, int64_t n, int is_min) {
    int64_t i = 0;
    float r = is_min ? INFINITY : -INFINITY;
    vf4 a = vsplat(r), b = a;
    if (!is_min) {
        for (; i + 8 <= n; i += 8) { a = vmaxn(a, vld(x + i)); b = vmaxn(b, vld(x + i + 4)); }
        a = vmaxn(a, b);
        for (int l = 0; l < 4; l++) r = (a[l] > r || a[l] != a[l]) ? a[l] : r;
        for (; i < n; i++) r = (x[i] > r || x[i] != x[i]) ? x[i] : r;
    } else {
        for (; i + 8 <= n; i += 8) { a = vminn(a, vld(x + i)); b = vminn(b, vld(x + i + 4)); }
        a = vminn(a, b);
        for (int l = 0; l < 4; l++) r = (a[l] < r || a[l] != a[l]) ? a[l] : r;
        for (; i < n; i++) r = (x[i] < r || x[i] != x[i]) ? x[i] : r;
    }
    return r;
}

/* The reduction of one contiguous row, finalized. */
static double row_f32(const float *x, int64_t n, int kind) {
    switch (kind) {
    case RK_SUM: case RK_MEAN: case RK_LOGSUM: return rk_fin(kind, sum_f32(x, n, 0), n, 0);
    case RK_L1: return sum_f32(x, n, 1);
    case RK_SSQ: case RK_L2: return rk_fin(kind, sum_f32(x, n, 2), n, 0);
    case RK_MAX: return max_f32(x, n, 0);
    case RK_MIN: return max_f32(x, n, 1);
    case RK_PROD: {
        double p = 1;
        for (int64_t i = 0; i < n; i++) p *= x[i];
        return p;
    }
    case RK_LSE: {
        double m = max_f32(x, n, 0), s = 0;
        if (m == m && !isinf(m))
            for (int64_t i = 0; i < n; i++) s += exp((double)x[i] - m);
        return rk_fin(kind, s, n, m);
    }
    }
    return 0;
}

typedef struct rtask {
    const float *x;
    float *y;
    int64_t K1, R, K2, nchunk;
    int kind;
} rtask;

#define COL_CHUNK 256

static void row_task(void *arg, int64_t b, int64_t e, int tid) {
    const rtask *t = arg;
    (void)tid;
    for (int64_t k = b; k < e; k++) t->y[k] = (float)row_f32(t->x + k * t->R, t->R, t->kind);
}

/* [K1][R][K2] with K2 > 1: task = (k1, chunk of K2). Sums run in float vectors
 * over blocks of 64 rows, added into double accumulators. */
static void col_task(void *arg, int64_t b, int64_t e, int tid) {
    const rtask *t = arg;
    (void)tid;
    double acc[COL_CHUNK], mx[COL_CHUNK];
    float fa[COL_CHUNK];
    for (int64_t task = b; task < e; task++) {
        int64_t k1 = task / t->nchunk, c0 = (task % t->nchunk) * COL_CHUNK;
        int64_t len = t->K2 - c0 < COL_CHUNK ? t->K2 - c0 : COL_CHUNK, len4 = len & ~(int64_t)3;
        const float *base = t->x + k1 * t->R * t->K2 + c0;
        int kind = t->kind;
        if (kind == RK_MAX || kind == RK_MIN || kind == RK_LSE) {
            int is_min = kind == RK_MIN;
            for (int64_t j = 0; j < len; j++) fa[j] = is_min ? INFINITY : -INFINITY;
            for (int64_t r = 0; r < t->R; r++) {
                const float *row = base + r * t->K2;
                if (is_min) {
                    for (int64_t j = 0; j < len4; j += 4) vst(fa + j, vminn(vld(fa + j), vld(row + j)));
                    for (int64_t j = len4; j < len; j++) fa[j] = (row[j] < fa[j] || row[j] != row[j]) ? row[j] : fa[j];
                } else {
                    for (int64_t j = 0; j < len4; j += 4) vst(fa + j, vmaxn(vld(fa + j), vld(row + j)));
                    for (int64_t j = len4; j < len; j++) fa[j] = (row[j] > fa[j] || row[j] != row[j]) ? row[j] : fa[j];
                }
            }
            for (int64_t j = 0; j < len; j++) acc[j] = fa[j];
            if (kind == RK_LSE) {
                for (int64_t j = 0; j < len; j++) { mx[j] = acc[j]; acc[j] = 0; }
                for (int64_t r = 0; r < t->R; r++) {
                    const float *row = base + r * t->K2;
                    for (int64_t j = 0; j < len; j++)
                        if (mx[j] == mx[j] && !isinf(mx[j])) acc[j] += exp(row[j] - mx[j]);
                }
            }
        } else if (kind == RK_PROD) {
            for (int64_t j = 0; j < len; j++) acc[j] = 1;
            for (int64_t r = 0; r < t->R; r++) {
                const float *row = base + r * t->K2;
                for (int64_t j = 0; j < len; j++) acc[j] *= row[j];
            }
        } else {
            int mode = (kind == RK_SSQ || kind == RK_L2) ? 2 : kind == RK_L1 ? 1 : 0;
            for (int64_t j = 0; j < len; j++) acc[j] = 0;
            for (int64_t r0 = 0; r0 < t->R; r0 += 64) {
                int64_t r1 = t->R - r0 < 64 ? t->R : r0 + 64;
                for (int64_t j = 0; j < len; j++) fa[j] = 0;
                for (int64_t r = r0; r < r1; r++) {
                    const float *row = base + r * t->K2;
                    if (mode == 0) {
                        for (int64_t j = 0; j < len4; j += 4) vst(fa + j, vld(fa + j) + vld(row + j));
                        for (int64_t j = len4; j < len; j++) fa[j] += row[j];
                    } else if (mode == 1) {
                        for (int64_t j = 0; j < len4; j += 4) vst(fa + j, vld(fa + j) + vabs(vld(row + j)));
                        for (int64_t j = len4; j < len; j++) fa[j] += fabsf(row[j]);
                    } else {
                        for (int64_t j = 0; j < len4; j += 4) { vf4 v = vld(row + j); vst(fa + j, vld(fa + j) + v * v); }
                        for (int64_t j = len4; j < len; j++) fa[j] += row[j] * row[j];
                    }
                }
                for (int64_t j = 0; j < len; j++) acc[j] += fa[j];
            }
        }
        float *out = t->y + k1 * t->K2 + c0;
        for (int64_t j = 0; j < len; j++) out[j] = (float)rk_fin(kind, acc[j], t->R, kind == RK_LSE ? mx[j] : 0);
    }
}

/* Float32 plans of shape [K][R], [R], [R][K] or [K][R][K]: returns 1 if handled. */
static int reduce_f32_fast(it_opctx *c, const rplan *p, const float *x, float *y, int kind) {
    int64_t K1 = 1, R = 1, K2 = 1;
    const int *rd = p->red;
    if (p->nd == 1) {
        if (rd[0]) R = p->d[0];
        else K1 = p->d[0];
    } else if (p->nd == 2) {
        if (rd[1]) { K1 = p->d[0]; R = p->d[1]; }
        else { R = p->d[0]; K2 = p->d[1]; }
    } else if (p->nd == 3 && rd[1]) {
        K1 = p->d[0]; R = p->d[1]; K2 = p->d[2];
    } else {
        return 0;
    }
    rtask t = {x, y, K1, R, K2, 0, kind};
    if (K2 == 1) {
        int64_t grain = R >= 16384 ? 1 : 16384 / (R ? R : 1);
        it_parallel_for(c->tp, K1, grain, row_task, &t);
    } else {
        t.nchunk = (K2 + COL_CHUNK - 1) / COL_CHUNK;
        int64_t per = R * (K2 < COL_CHUNK ? K2 : COL_CHUNK);
        int64_t grain = per >= 16384 ? 1 : 16384 / (per ? per : 1);
        it_parallel_for(c->tp, K1 * t.nchunk, grain, col_task, &t);
    }
    return 1;
}

/* ---------------------------------------------------------------- generic paths */

/* Accumulate a pass of `kind` over double input into acc[n_out] (already initialized).
 * For RK_LSE this is the exp pass, with maxima in mx. */
static void reduce_pass_f64(const rplan *p, const double *x, double *acc, int kind, const double *mx) {
    RP_VISIT(p, {
        const double *xr = x + i;
        double *a = acc + o;
        switch (kind) {
        case RK_SUM: case RK_MEAN: case RK_LOGSUM:
            for (int64_t j = 0; j < L; j++) a[j * s] += xr[j];
            break;
        case RK_SSQ: case RK_L2:
            for (int64_t j = 0; j < L; j++) a[j * s] += xr[j] * xr[j];
            break;
        case RK_L1:
            for (int64_t j = 0; j < L; j++) a[j * s] += fabs(xr[j]);
            break;
        case RK_PROD:
            for (int64_t j = 0; j < L; j++) a[j * s] *= xr[j];
            break;
        case RK_MAX:
            for (int64_t j = 0; j < L; j++) { double v = xr[j]; if (v > a[j * s] || v != v) a[j * s] = v; }
            break;
        case RK_MIN:
            for (int64_t j = 0; j < L; j++) { double v = xr[j]; if (v < a[j * s] || v != v) a[j * s] = v; }
            break;
        case RK_LSE:
            for (int64_t j = 0; j < L; j++) {
                double m = mx[o + j * s];
                if (m == m && !isinf(m)) a[j * s] += exp(xr[j] - m);
            }
            break;
        }
    });
}

/* Reduce double input; results (finalized) into out[n_out]. */
static void reduce_f64(const rplan *p, const double *x, double *out, double *mx, int kind) {
    int first = kind == RK_LSE ? RK_MAX : kind;
    for (int64_t k = 0; k < p->n_out; k++) out[k] = rk_init(first);
    if (p->n_in > 0) reduce_pass_f64(p, x, out, first, NULL);
    if (kind == RK_LSE) {
        for (int64_t k = 0; k < p->n_out; k++) { mx[k] = out[k]; out[k] = 0; }
        if (p->n_in > 0) reduce_pass_f64(p, x, out, RK_LSE, mx);
    }
    for (int64_t k = 0; k < p->n_out; k++) out[k] = rk_fin(kind, out[k], p->n_red, mx ? mx[k] : 0);
}

static void int_range(int dt, int64_t *lo, int64_t *hi) {
    switch (dt) {
    case IT_I8: *lo = INT8_MIN; *hi = INT8_MAX; break;
    case IT_U8: *lo = 0; *hi = UINT8_MAX; break;
    case IT_I16: *lo = INT16_MIN; *hi = INT16_MAX; break;
    case IT_U16: *lo = 0; *hi = UINT16_MAX; break;
    case IT_I32: *lo = INT32_MIN; *hi = INT32_MAX; break;
    case IT_U32: *lo = 0; *hi = UINT32_MAX; break;
    case IT_BOOL: *lo = 0; *hi = 1; break;
    default: *lo = INT64_MIN; *hi = INT64_MAX; break;
    }
}

/* Exact integer reductions (Sum, SumSquare, L1, Prod, Max, Min) with wrapping. */
static void reduce_int(const rplan *p, const it_tensor *x, it_tensor *y, uint64_t *acc, int kind) {
    int dt = x->dtype, u64 = dt == IT_U64;
    int64_t lo, hi;
    int_range(dt, &lo, &hi);
    uint64_t init = kind == RK_PROD ? 1 : kind == RK_MAX ? (u64 ? 0 : (uint64_t)lo)
                  : kind == RK_MIN ? (u64 ? UINT64_MAX : (uint64_t)hi) : 0;
    for (int64_t k = 0; k < p->n_out; k++) acc[k] = init;
    if (p->n_in > 0) {
        const void *xd = x->data;
        RP_VISIT(p, {
            for (int64_t j = 0; j < L; j++) {
                uint64_t v = (uint64_t)it_get_i64(xd, dt, i + j);
                uint64_t *a = &acc[o + j * s];
                switch (kind) {
                case RK_SUM: *a += v; break;
                case RK_SSQ: *a += v * v; break;
                case RK_L1: *a += (int64_t)v < 0 ? (uint64_t)0 - v : v; break;
                case RK_PROD: *a *= v; break;
                case RK_MAX: if (u64 ? v > *a : (int64_t)v > (int64_t)*a) *a = v; break;
                case RK_MIN: if (u64 ? v < *a : (int64_t)v < (int64_t)*a) *a = v; break;
                }
            }
        });
    }
    for (int64_t k = 0; k < p->n_out; k++) put_i64(y->data, y->dtype, k, (int64_t)acc[k]);
}

/* Input converted to double (scratch), or the data itself for float64. */
static const double *as_f64(it_opctx *c, const it_tensor *x) {
    if (x->dtype == IT_F64) return x->data;
    int64_t n = it_count(x), bytes;
    if (!it_mul_ok(n, 8, &bytes)) return NULL;
    double *d = it_scratch(c, (size_t)bytes);
    if (!d) return NULL;
    if (x->dtype == IT_F32) {
        const float *f = x->data;
        for (int64_t i = 0; i < n; i++) d[i] = f[i];
    } else {
        for (int64_t i = 0; i < n; i++) d[i] = it_get_f64(x->data, x->dtype, i);
    }
    return d;
}

static int reduce_common(it_opctx *c, int kind, int axes_input_opset) {
    IT_REQUIRE_IN(c, 0, x);
    int dt = x->dtype;
    if (dt == IT_STRING || dt == IT_C64 || dt == IT_C128 || !it_dtype_size(dt))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unsupported input type %s", it_dtype_name(dt));
    if (dt == IT_BOOL && kind != RK_MAX && kind != RK_MIN)
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "bool input is only supported by ReduceMax/ReduceMin");
    int flags[IT_MAX_DIMS];
    int st = reduce_axes(c, x->ndim, c->node->opset >= axes_input_opset, flags);
    if (st) return st;
    int keepdims = it_attr_int(c->node, "keepdims", 1) != 0;
    rplan p;
    plan_build(&p, x, flags, keepdims);
    it_tensor *y;
    st = it_out_tensor(c, 0, dt, p.out_nd, p.out_dims, &y);
    if (st) return st;
    if (p.n_out == 0) return 0;
    if (dt == IT_F32 && p.n_in > 0 && reduce_f32_fast(c, &p, x->data, y->data, kind)) return 0;
    int64_t obytes;
    if (!it_mul_ok(p.n_out, 16, &obytes)) return it_opfail(c, INGOT_ERR_SHAPE, "output too large");
    if (is_intlike(dt) && kind != RK_MEAN && kind != RK_L2 && kind != RK_LOGSUM && kind != RK_LSE) {
        uint64_t *acc = it_scratch(c, (size_t)obytes);
        if (!acc) return it_opfail(c, INGOT_ERR_NOMEM, "out of scratch memory");
        reduce_int(&p, x, y, acc, kind);
        return 0;
    }
    const double *xd = p.n_in > 0 ? as_f64(c, x) : NULL;
    double *acc = it_scratch(c, (size_t)obytes);
    if ((p.n_in > 0 && !xd) || !acc) return it_opfail(c, INGOT_ERR_NOMEM, "out of scratch memory");
    reduce_f64(&p, xd, acc, acc + p.n_out, kind);
    if (dt == IT_F32) {
        float *yf = y->data;
        for (int64_t k = 0; k < p.n_out; k++) yf[k] = (float)acc[k];
    } else if (is_intlike(dt)) {
        for (int64_t k = 0; k < p.n_out; k++) {
            double v = acc[k];
            put_i64(y->data, dt, k, v != v ? 0 : v >= 9.2e18 ? INT64_MAX : v <= -9.2e18 ? INT64_MIN : (int64_t)v);
        }
    } else {
        for (int64_t k = 0; k < p.n_out; k++) it_set_f64(y->data, dt, k, acc[k]);
    }
    return 0;
}

static int reducesum_run(it_opctx *c) { return reduce_common(c, RK_SUM, 13); }
static int reducemean_run(it_opctx *c) { return reduce_common(c, RK_MEAN, 18); }
static int reducesumsq_run(it_opctx *c) { return reduce_common(c, RK_SSQ, 18); }
static int reducel1_run(it_opctx *c) { return reduce_common(c, RK_L1, 18); }
static int reducel2_run(it_opctx *c) { return reduce_common(c, RK_L2, 18); }
static int reducelogsum_run(it_opctx *c) { return reduce_common(c, RK_LOGSUM, 18); }
static int reducelse_run(it_opctx *c) { return reduce_common(c, RK_LSE, 18); }
static int reduceprod_run(it_opctx *c) { return reduce_common(c, RK_PROD, 18); }
static int reducemax_run(it_opctx *c) { return reduce_common(c, RK_MAX, 18); }
static int reducemin_run(it_opctx *c) { return reduce_common(c, RK_MIN, 18); }

/* ---------------------------------------------------------------- ArgMax / ArgMin */

static int arg_common(it_opctx *c, int is_min) {
    IT_REQUIRE_IN(c, 0, x);
    if (x->dtype == IT_STRING || !it_dtype_size(x->dtype))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unsupported input type %s", it_dtype_name(x->dtype));
    int64_t axis_attr = it_attr_int(c->node, "axis", 0);
    int rank = x->ndim;
    int axis = it_axis(axis_attr, rank ? rank : 1, 0);
    if (axis < 0) return it_opfail(c, INGOT_ERR_SHAPE, "axis %lld out of range for rank %d", (long long)axis_attr, rank);
    int keepdims = it_attr_int(c->node, "keepdims", 1) != 0;
    int last = it_attr_int(c->node, "select_last_index", 0) != 0;
    int64_t outer = 1, D = 1, inner = 1;
    int64_t od[IT_MAX_DIMS];
    int ond = 0;
    if (rank > 0) {
        split_axis(x, axis, &outer, &D, &inner);
        for (int i = 0; i < rank; i++) {
            if (i == axis) { if (keepdims) od[ond++] = 1; }
            else od[ond++] = x->dims[i];
        }
    }
    it_tensor *y;
    int st = it_out_tensor(c, 0, IT_I64, ond, od, &y);
    if (st) return st;
    if (outer * inner == 0) return 0;
    if (D == 0) return it_opfail(c, INGOT_ERR_SHAPE, "cannot take ArgMax/ArgMin over an empty axis");
    int64_t *yo = y->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            int64_t base = o * D * inner + in, best = 0;
            if (x->dtype == IT_F32) {
                const float *xf = (const float *)x->data + base;
                float bv = xf[0];
                for (int64_t j = 1; j < D; j++) {
                    float v = xf[j * inner];
                    int better = is_min ? (last ? v <= bv : v < bv) : (last ? v >= bv : v > bv);
                    if (better) { bv = v; best = j; }
                }
            } else {
                uint64_t bk = okey(x->data, x->dtype, base);
                for (int64_t j = 1; j < D; j++) {
                    uint64_t k = okey(x->data, x->dtype, base + j * inner);
                    int better = is_min ? (last ? k <= bk : k < bk) : (last ? k >= bk : k > bk);
                    if (better) { bk = k; best = j; }
                }
            }
            yo[o * inner + in] = best;
        }
    return 0;
}

static int argmax_run(it_opctx *c) { return arg_common(c, 0); }
static int argmin_run(it_opctx *c) { return arg_common(c, 1); }

/* ---------------------------------------------------------------- CumSum / CumProd */

static int cum_common(it_opctx *c, int is_prod) {
    IT_REQUIRE_IN(c, 0, x);
    IT_REQUIRE_IN(c, 1, at);
    int dt = x->dtype;
    if (dt == IT_STRING || dt == IT_BOOL || !it_dtype_size(dt))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unsupported input type %s", it_dtype_name(dt));
    if (!it_dtype_is_int(at->dtype) || it_count(at) != 1)
        return it_opfail(c, INGOT_ERR_SHAPE, "axis must be an integer tensor of one element");
    int64_t a = it_get_i64(at->data, at->dtype, 0);
    int rank = x->ndim;
    int axis = it_axis(a, rank ? rank : 1, 0);
    if (axis < 0) return it_opfail(c, INGOT_ERR_SHAPE, "axis %lld out of range for rank %d", (long long)a, rank);
    int exclusive = it_attr_int(c->node, "exclusive", 0) != 0;
    int reverse = it_attr_int(c->node, "reverse", 0) != 0;
    it_tensor *y;
    int st = it_out_like(c, 0, dt, x, &y);
    if (st) return st;
    int64_t outer = 1, D = 1, inner = 1;
    if (rank > 0) split_axis(x, axis, &outer, &D, &inner);
    int isint = it_dtype_is_int(dt);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            int64_t base = o * D * inner + in;
            double accf = is_prod ? 1 : 0;
            uint64_t acci = is_prod ? 1 : 0;
            for (int64_t jj = 0; jj < D; jj++) {
                int64_t j = reverse ? D - 1 - jj : jj, k = base + j * inner;
                if (isint) {
                    uint64_t v = (uint64_t)it_get_i64(x->data, dt, k);
                    if (exclusive) put_i64(y->data, dt, k, (int64_t)acci);
                    acci = is_prod ? acci * v : acci + v;
                    if (!exclusive) put_i64(y->data, dt, k, (int64_t)acci);
                } else if (dt == IT_F32) {
                    double v = ((const float *)x->data)[k];
                    if (exclusive) ((float *)y->data)[k] = (float)accf;
                    accf = is_prod ? accf * v : accf + v;
                    if (!exclusive) ((float *)y->data)[k] = (float)accf;
                } else {
                    double v = it_get_f64(x->data, dt, k);
                    if (exclusive) it_set_f64(y->data, dt, k, accf);
                    accf = is_prod ? accf * v : accf + v;
                    if (!exclusive) it_set_f64(y->data, dt, k, accf);
                }
            }
        }
    return 0;
}

static int cumsum_run(it_opctx *c) { return cum_common(c, 0); }
static int cumprod_run(it_opctx *c) { return cum_common(c, 1); }

/* ---------------------------------------------------------------- TopK */

typedef struct kent {
    uint64_t key;
    int64_t idx;
} kent;

/* Does a rank before b? largest: bigger key first; ties: lower index first. */
static inline int kbefore(const kent *a, const kent *b, int largest) {
    if (a->key != b->key) return largest ? a->key > b->key : a->key < b->key;
    return a->idx < b->idx;
}

/* Min-heap on rank: h[0] is the element ranking last among those kept. */
static void heap_down(kent *h, int64_t n, int64_t i, int largest) {
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && kbefore(&h[w], &h[l], largest)) w = l;
        if (r < n && kbefore(&h[w], &h[r], largest)) w = r;
        if (w == i) return;
        kent t = h[i]; h[i] = h[w]; h[w] = t;
        i = w;
    }
}

static int topk_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    int dt = x->dtype;
    size_t es = it_dtype_size(dt);
    if (dt == IT_STRING || !es) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unsupported input type %s", it_dtype_name(dt));
    int64_t k;
    if (c->node->opset >= 10) {
        IT_REQUIRE_IN(c, 1, kt);
        if (!it_dtype_is_int(kt->dtype) || it_count(kt) != 1)
            return it_opfail(c, INGOT_ERR_SHAPE, "K must be an integer tensor of one element");
        k = it_get_i64(kt->data, kt->dtype, 0);
    } else {
        k = it_attr_int(c->node, "k", -1);
    }
    int rank = x->ndim;
    if (rank < 1) return it_opfail(c, INGOT_ERR_SHAPE, "TopK needs an input of rank >= 1");
    int64_t a = it_attr_int(c->node, "axis", -1);
    int axis = it_axis(a, rank, 0);
    if (axis < 0) return it_opfail(c, INGOT_ERR_SHAPE, "axis %lld out of range for rank %d", (long long)a, rank);
    int largest = c->node->opset >= 11 ? it_attr_int(c->node, "largest", 1) != 0 : 1;
    int64_t outer, D, inner;
    split_axis(x, axis, &outer, &D, &inner);
    if (k < 0 || k > D) return it_opfail(c, INGOT_ERR_SHAPE, "k = %lld out of range [0, %lld]", (long long)k, (long long)D);
    int64_t od[IT_MAX_DIMS];
    for (int i = 0; i < rank; i++) od[i] = x->dims[i];
    od[axis] = k;
    it_tensor *yv, *yi;
    int st = it_out_tensor(c, 0, dt, rank, od, &yv);
    if (st) return st;
    st = it_out_tensor(c, 1, IT_I64, rank, od, &yi);
    if (st) return st;
    if (k == 0 || outer * inner == 0) return 0;
    kent *h = it_scratch(c, (size_t)k * sizeof(kent));
    if (!h) return it_opfail(c, INGOT_ERR_NOMEM, "out of scratch memory");
    const char *xs = x->data;
    char *vs = yv->data;
    int64_t *is = yi->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            int64_t base = o * D * inner + in, n = 0;
            for (int64_t j = 0; j < D; j++) {
                kent e = {okey(xs, dt, base + j * inner), j};
                if (n < k) {
                    /* sift up */
                    int64_t p = n++;
                    h[p] = e;
                    while (p > 0) {
                        int64_t q = (p - 1) / 2;
                        if (!kbefore(&h[q], &h[p], largest)) break;
                        kent t = h[p]; h[p] = h[q]; h[q] = t;
                        p = q;
                    }
                } else if (kbefore(&e, &h[0], largest)) {
                    h[0] = e;
                    heap_down(h, n, 0, largest);
                }
            }
            /* pop the last-ranked element to the back until sorted */
            for (int64_t m = n; m > 1; m--) {
                kent t = h[0]; h[0] = h[m - 1]; h[m - 1] = t;
                heap_down(h, m - 1, 0, largest);
            }
            for (int64_t r = 0; r < k; r++) {
                int64_t dst = o * k * inner + r * inner + in;
                memcpy(vs + dst * es, xs + (base + h[r].idx * inner) * es, es);
                is[dst] = h[r].idx;
            }
        }
    return 0;
}

/* ---------------------------------------------------------------- Softmax family */

enum { SM_SOFTMAX, SM_LOG, SM_HARD };

typedef struct smtask {
    const float *x;
    float *y;
    int64_t D, inner, nchunk;
    int kind;
    float *tmp; /* per thread: 2 * chunk floats */
    void (*vexp)(float *y, const float *x, int64_t n); /* kernel table's, or NULL */
} smtask;

/* One normalization over n values with stride 1 in double (non-finite maxima, other dtypes). */
static void softmax_row_f64(const double *x, double *y, int64_t n, int kind) {
    double m = -INFINITY;
    int64_t arg = 0;
    for (int64_t j = 0; j < n; j++)
        if (x[j] > m || (x[j] != x[j] && m == m)) { m = x[j]; arg = j; }
    if (kind == SM_HARD) {
        for (int64_t j = 0; j < n; j++) y[j] = j == arg;
        return;
    }
    double s = 0;
    for (int64_t j = 0; j < n; j++) s += exp(x[j] - m);
    if (kind == SM_SOFTMAX) for (int64_t j = 0; j < n; j++) y[j] = exp(x[j] - m) / s;
    else for (int64_t j = 0; j < n; j++) y[j] = x[j] - m - log(s);
}

typedef void (*vexp_fn)(float *y, const float *x, int64_t n);

static void softmax_row_f32(const float *x, float *y, int64_t n, int kind, vexp_fn vexp) {
    if (kind == SM_HARD) {
        int64_t arg = 0;
        float m = x[0];
        for (int64_t j = 1; j < n; j++)
            if (x[j] > m) { m = x[j]; arg = j; }
        y[arg] = 1;
        return;
    }
    float m = max_f32(x, n, 0);
    if (!(m == m) || isinf(m)) {
        /* slow path keeps NaN/inf semantics */
        double mm = m, s = 0;
        for (int64_t i = 0; i < n; i++) s += exp((double)x[i] - mm);
        for (int64_t j = 0; j < n; j++)
            y[j] = kind == SM_SOFTMAX ? (float)(exp((double)x[j] - mm) / s) : (float)((double)x[j] - mm - log(s));
        return;
    }
    /* y = exp(x - m), then scale by 1/sum (softmax) or y = x - m - log(sum).
     * The kernel table's vexp (wider SIMD) is used when the CPU tier has one. */
    vf4 vm = vsplat(m);
    int64_t j = 0;
    if (vexp) {
        for (; j + 4 <= n; j += 4) vst(y + j, vld(x + j) - vm);
        for (; j < n; j++) y[j] = x[j] - m;
        vexp(y, y, n);
    } else {
        for (; j + 4 <= n; j += 4) vst(y + j, vexp4(vld(x + j) - vm));
        for (; j < n; j++) y[j] = fexp(x[j] - m);
    }
    double s = sum_f32(y, n, 0);
    if (kind == SM_SOFTMAX) {
        float inv = (float)(1.0 / s);
        vf4 vi = vsplat(inv);
        for (j = 0; j + 4 <= n; j += 4) vst(y + j, vld(y + j) * vi);
        for (; j < n; j++) y[j] *= inv;
    } else {
        float ls = (float)(log(s) + m);
        vf4 vl = vsplat(ls);
        for (j = 0; j + 4 <= n; j += 4) vst(y + j, vld(x + j) - vl);
        for (; j < n; j++) y[j] = x[j] - ls;
    }
}

static void sm_rows(void *arg, int64_t b, int64_t e, int tid) {
    const smtask *t = arg;
    (void)tid;
    for (int64_t r = b; r < e; r++) softmax_row_f32(t->x + r * t->D, t->y + r * t->D, t->D, t->kind, t->vexp);
}

/* inner > 1: task = (outer, chunk of inner), vectorized across the chunk. */
static void sm_cols(void *arg, int64_t b, int64_t e, int tid) {
    const smtask *t = arg;
    float *mx = t->tmp + (int64_t)tid * 2 * COL_CHUNK, *sm = mx + COL_CHUNK;
    int64_t D = t->D, inner = t->inner;
    for (int64_t task = b; task < e; task++) {
        int64_t o = task / t->nchunk, c0 = (task % t->nchunk) * COL_CHUNK;
        int64_t len = inner - c0 < COL_CHUNK ? inner - c0 : COL_CHUNK;
        const float *xb = t->x + o * D * inner + c0;
        float *yb = t->y + o * D * inner + c0;
        int64_t len4 = len & ~(int64_t)3;
        for (int64_t j = 0; j < len; j++) { mx[j] = xb[j]; sm[j] = 0; }
        for (int64_t d = 1; d < D; d++) {
            const float *xr = xb + d * inner;
            for (int64_t j = 0; j < len4; j += 4) vst(mx + j, vmaxn(vld(mx + j), vld(xr + j)));
            for (int64_t j = len4; j < len; j++) mx[j] = (xr[j] > mx[j] || xr[j] != xr[j]) ? xr[j] : mx[j];
        }
        if (t->kind == SM_HARD) {
            for (int64_t j = 0; j < len; j++) {
                int64_t arg = 0;
                for (int64_t d = 0; d < D; d++)
                    if (xb[d * inner + j] == mx[j]) { arg = d; break; }
                yb[arg * inner + j] = 1;
            }
            continue;
        }
        int bad = 0;
        for (int64_t j = 0; j < len; j++) bad |= !(mx[j] == mx[j]) || isinf(mx[j]);
        if (bad) {
            for (int64_t j = 0; j < len; j++) {
                double m = mx[j], s = 0;
                for (int64_t d = 0; d < D; d++) s += exp((double)xb[d * inner + j] - m);
                for (int64_t d = 0; d < D; d++) {
                    double v = xb[d * inner + j];
                    yb[d * inner + j] = t->kind == SM_SOFTMAX ? (float)(exp(v - m) / s) : (float)(v - m - log(s));
                }
            }
            continue;
        }
        for (int64_t d = 0; d < D; d++) {
            const float *xr = xb + d * inner;
            float *yr = yb + d * inner;
            for (int64_t j = 0; j < len4; j += 4) {
                vf4 v = vexp4(vld(xr + j) - vld(mx + j));
                vst(yr + j, v);
                vst(sm + j, vld(sm + j) + v);
            }
            for (int64_t j = len4; j < len; j++) { float v = fexp(xr[j] - mx[j]); yr[j] = v; sm[j] += v; }
        }
        if (t->kind == SM_SOFTMAX) {
            for (int64_t j = 0; j < len; j++) sm[j] = 1.0f / sm[j];
            for (int64_t d = 0; d < D; d++) {
                float *yr = yb + d * inner;
                for (int64_t j = 0; j < len4; j += 4) vst(yr + j, vld(yr + j) * vld(sm + j));
                for (int64_t j = len4; j < len; j++) yr[j] *= sm[j];
            }
        } else {
            for (int64_t j = 0; j < len; j++) sm[j] = logf(sm[j]) + mx[j];
            for (int64_t d = 0; d < D; d++) {
                const float *xr = xb + d * inner;
                float *yr = yb + d * inner;
                for (int64_t j = 0; j < len4; j += 4) vst(yr + j, vld(xr + j) - vld(sm + j));
                for (int64_t j = len4; j < len; j++) yr[j] = xr[j] - sm[j];
            }
        }
    }
}

static int softmax_common(it_opctx *c, int kind) {
    IT_REQUIRE_IN(c, 0, x);
    int dt = x->dtype;
    if (!it_dtype_is_float(dt) || !it_dtype_size(dt))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unsupported input type %s", it_dtype_name(dt));
    int rank = x->ndim, old = c->node->opset < 13;
    int64_t a = it_attr_int(c->node, "axis", old ? 1 : -1);
    int64_t outer = 1, D = 1, inner = 1;
    if (rank > 0) {
        /* before opset 13 the input is coerced to 2-D at axis (axis == rank gives rows of 1) */
        int axis = it_axis(a, rank, old);
        if (axis < 0) return it_opfail(c, INGOT_ERR_SHAPE, "axis %lld out of range for rank %d", (long long)a, rank);
        if (old) {
            for (int i = 0; i < axis; i++) outer *= x->dims[i];
            for (int i = axis; i < rank; i++) D *= x->dims[i];
        } else {
            split_axis(x, axis, &outer, &D, &inner);
        }
    }
    it_tensor *y;
    int st = it_out_like(c, 0, dt, x, &y);
    if (st) return st;
    if (outer * D * inner == 0) return 0;
    if (dt == IT_F32) {
        smtask t = {x->data, y->data, D, inner, 0, kind, NULL, it_kernels()->vexp};
        if (inner == 1) {
            int64_t grain = D >= 8192 ? 1 : 8192 / D;
            it_parallel_for(c->tp, outer, grain, sm_rows, &t);
        } else {
            t.nchunk = (inner + COL_CHUNK - 1) / COL_CHUNK;
            t.tmp = it_scratch(c, (size_t)nthreads_of(c->tp) * 2 * COL_CHUNK * sizeof(float));
            if (!t.tmp) return it_opfail(c, INGOT_ERR_NOMEM, "out of scratch memory");
            int64_t per = D * (inner < COL_CHUNK ? inner : COL_CHUNK);
            int64_t grain = per >= 8192 ? 1 : 8192 / per;
            it_parallel_for(c->tp, outer * t.nchunk, grain, sm_cols, &t);
        }
        return 0;
    }
    int64_t bytes;
    if (!it_mul_ok(D, 16, &bytes)) return it_opfail(c, INGOT_ERR_SHAPE, "axis too large");
    double *xr = it_scratch(c, (size_t)bytes), *yr = xr + D;
    if (!xr) return it_opfail(c, INGOT_ERR_NOMEM, "out of scratch memory");
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            int64_t base = o * D * inner + in;
            for (int64_t d = 0; d < D; d++) xr[d] = it_get_f64(x->data, dt, base + d * inner);
            softmax_row_f64(xr, yr, D, kind);
            for (int64_t d = 0; d < D; d++) it_set_f64(y->data, dt, base + d * inner, yr[d]);
        }
    return 0;
}

static int softmax_run(it_opctx *c) { return softmax_common(c, SM_SOFTMAX); }
static int logsoftmax_run(it_opctx *c) { return softmax_common(c, SM_LOG); }
static int hardmax_run(it_opctx *c) { return softmax_common(c, SM_HARD); }

/* ---------------------------------------------------------------- LpNormalization */

static int lpnorm_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    int dt = x->dtype;
    if (!it_dtype_is_float(dt) || !it_dtype_size(dt))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unsupported input type %s", it_dtype_name(dt));
    int64_t p = it_attr_int(c->node, "p", 2);
    if (p != 1 && p != 2) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "p must be 1 or 2, got %lld", (long long)p);
    int rank = x->ndim;
    int64_t a = it_attr_int(c->node, "axis", -1);
    int64_t outer = 1, D = 1, inner = 1;
    if (rank > 0) {
        int axis = it_axis(a, rank, 0);
        if (axis < 0) return it_opfail(c, INGOT_ERR_SHAPE, "axis %lld out of range for rank %d", (long long)a, rank);
        split_axis(x, axis, &outer, &D, &inner);
    }
    it_tensor *y;
    int st = it_out_like(c, 0, dt, x, &y);
    if (st) return st;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            int64_t base = o * D * inner + in;
            double s = 0;
            for (int64_t d = 0; d < D; d++) {
                double v = it_get_f64(x->data, dt, base + d * inner);
                s += p == 1 ? fabs(v) : v * v;
            }
            double nrm = p == 1 ? s : sqrt(s);
            for (int64_t d = 0; d < D; d++) {
                double v = it_get_f64(x->data, dt, base + d * inner);
                it_set_f64(y->data, dt, base + d * inner, nrm != 0 ? v / nrm : 0);
            }
        }
    return 0;
}

/* ---------------------------------------------------------------- MeanVarianceNormalization */

static int mvn_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    int dt = x->dtype;
    if (!it_dtype_is_float(dt) || !it_dtype_size(dt))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unsupported input type %s", it_dtype_name(dt));
    int flags[IT_MAX_DIMS] = {0};
    const int64_t *ax;
    int n = it_attr_ints(c->node, "axes", &ax);
    static const int64_t def_axes[3] = {0, 2, 3};
    if (!it_attr_get(c->node, "axes")) { ax = def_axes; n = 3; }
    for (int i = 0; i < n; i++) {
        int a = it_axis(ax[i], x->ndim, 0);
        if (a < 0) return it_opfail(c, INGOT_ERR_SHAPE, "axis %lld out of range for rank %d", (long long)ax[i], x->ndim);
        flags[a] = 1;
    }
    rplan p;
    plan_build(&p, x, flags, 1);
    it_tensor *y;
    int st = it_out_like(c, 0, dt, x, &y);
    if (st) return st;
    if (p.n_in == 0) return 0;
    int64_t obytes;
    if (!it_mul_ok(p.n_out, 16, &obytes)) return it_opfail(c, INGOT_ERR_SHAPE, "output too large");
    const double *xd = as_f64(c, x);
    double *mean = it_scratch(c, (size_t)obytes), *var = mean + p.n_out;
    if (!xd || !mean) return it_opfail(c, INGOT_ERR_NOMEM, "out of scratch memory");
    for (int64_t k = 0; k < p.n_out; k++) mean[k] = var[k] = 0;
    reduce_pass_f64(&p, xd, mean, RK_SUM, NULL);
    for (int64_t k = 0; k < p.n_out; k++) mean[k] /= (double)p.n_red;
    RP_VISIT(&p, {
        for (int64_t j = 0; j < L; j++) {
            double d = xd[i + j] - mean[o + j * s];
            var[o + j * s] += d * d;
        }
    });
    for (int64_t k = 0; k < p.n_out; k++) var[k] = sqrt(var[k] / (double)p.n_red) + 1e-9;
    RP_VISIT(&p, {
        for (int64_t j = 0; j < L; j++)
            it_set_f64(y->data, dt, i + j, (xd[i + j] - mean[o + j * s]) / var[o + j * s]);
    });
    return 0;
}

/* ---------------------------------------------------------------- Det */

static int det_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    int dt = x->dtype;
    if (!it_dtype_is_float(dt) || !it_dtype_size(dt))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unsupported input type %s", it_dtype_name(dt));
    int rank = x->ndim;
    if (rank < 2 || x->dims[rank - 1] != x->dims[rank - 2])
        return it_opfail(c, INGOT_ERR_SHAPE, "Det needs an input of shape [*, M, M]");
    int64_t M = x->dims[rank - 1], MM, bytes;
    if (!it_mul_ok(M, M, &MM) || !it_mul_ok(MM, 8, &bytes)) return it_opfail(c, INGOT_ERR_SHAPE, "matrix too large");
    it_tensor *y;
    int st = it_out_tensor(c, 0, dt, rank - 2, x->dims, &y);
    if (st) return st;
    int64_t nb = it_count(y);
    if (nb == 0) return 0;
    double *a = it_scratch(c, (size_t)bytes);
    if (!a) return it_opfail(c, INGOT_ERR_NOMEM, "out of scratch memory");
    for (int64_t b = 0; b < nb; b++) {
        for (int64_t i = 0; i < MM; i++) a[i] = it_get_f64(x->data, dt, b * MM + i);
        double det = 1;
        for (int64_t k = 0; k < M && det != 0; k++) {
            int64_t piv = k;
            for (int64_t i = k + 1; i < M; i++)
                if (fabs(a[i * M + k]) > fabs(a[piv * M + k])) piv = i;
            if (a[piv * M + k] == 0) { det = 0; break; }
            if (piv != k) {
                for (int64_t j = 0; j < M; j++) { double t = a[k * M + j]; a[k * M + j] = a[piv * M + j]; a[piv * M + j] = t; }
                det = -det;
            }
            double pv = a[k * M + k];
            det *= pv;
            for (int64_t i = k + 1; i < M; i++) {
                double f = a[i * M + k] / pv;
                if (f == 0) continue;
                for (int64_t j = k + 1; j < M; j++) a[i * M + j] -= f * a[k * M + j];
            }
        }
        it_set_f64(y->data, dt, b, det);
    }
    return 0;
}

const it_op it_ops_reduce[] = {
    {"", "ReduceSum", NULL, reducesum_run, NULL, 0, NULL},
    {"", "ReduceMean", NULL, reducemean_run, NULL, 0, NULL},
    {"", "ReduceSumSquare", NULL, reducesumsq_run, NULL, 0, NULL},
    {"", "ReduceL1", NULL, reducel1_run, NULL, 0, NULL},
    {"", "ReduceL2", NULL, reducel2_run, NULL, 0, NULL},
    {"", "ReduceLogSum", NULL, reducelogsum_run, NULL, 0, NULL},
    {"", "ReduceLogSumExp", NULL, reducelse_run, NULL, 0, NULL},
    {"", "ReduceProd", NULL, reduceprod_run, NULL, 0, NULL},
    {"", "ReduceMax", NULL, reducemax_run, NULL, 0, NULL},
    {"", "ReduceMin", NULL, reducemin_run, NULL, 0, NULL},
    {"", "ArgMax", NULL, argmax_run, NULL, 0, NULL},
    {"", "ArgMin", NULL, argmin_run, NULL, 0, NULL},
    {"", "CumSum", NULL, cumsum_run, NULL, 0, NULL},
    {"", "CumProd", NULL, cumprod_run, NULL, 0, NULL},
    {"", "TopK", NULL, topk_run, NULL, 0, NULL},
    {"", "Softmax", NULL, softmax_run, NULL, 0, NULL},
    {"", "LogSoftmax", NULL, logsoftmax_run, NULL, 0, NULL},
    {"", "Hardmax", NULL, hardmax_run, NULL, 0, NULL},
    {"", "LpNormalization", NULL, lpnorm_run, NULL, 0, NULL},
    {"", "MeanVarianceNormalization", NULL, mvn_run, NULL, 0, NULL},
    {"", "Det", NULL, det_run, NULL, 0, NULL},
    {"", "Einsum", it_einsum_init, it_einsum_run, NULL, 0, NULL},
    {0},
};
