/*
 * binary.c: elementwise operators of two or more inputs with numpy-style
 * (multidirectional) broadcasting: arithmetic (Add Sub Mul Div Pow Mod),
 * comparisons (Equal Greater Less ...), logic and bitwise ops, the variadic
 * Max Min Mean Sum, PRelu and Where.
 *
 * Workload: the float32 Add/Sub/Mul/Div of CNN and transformer graphs (bias
 * adds, residuals, scaling) on same-shape, scalar and trailing-row broadcasts.
 * Every op runs through one broadcast walker: the output shape is collapsed
 * (size-1 dims dropped, adjacent dims merged when all inputs agree) so that the
 * innermost dimension is a long row in which each input advances by 0 or 1
 * element; a row kernel then handles the four (stride a, stride b) cases with
 * tight loops ([N,C,H,W] + [C,1,1] becomes rows of H*W against a scalar,
 * [B,T,D] + [D] rows of D against a vector). float32 rows use GCC/clang
 * vector extensions (128-bit, so baseline x86-64 SSE2 or NEON) because -O2
 * does not autovectorize. Large outputs are split over the thread pool by flat
 * element ranges. Add and Sum apply the activation the fusion pass moved into
 * them (node->act: ResNet's Add -> Relu) to each row as it is written.
 */
#include "ops.h"

#include <float.h>

#define BC_MAXIN 3
#define PAR_MIN 32768 /* parallelize above this many output elements */
#define PAR_GRAIN 8192

typedef float v4f __attribute__((vector_size(16)));

static inline v4f v4_ld(const float *p) {
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void v4_st(float *p, v4f v) { memcpy(p, &v, sizeof v); }

/* ---------------------------------------------------------------- broadcast walker */

typedef struct bc_plan {
    int nd, nin;                          /* collapsed rank (>= 1), input count */
    int64_t dims[IT_MAX_DIMS];            /* collapsed output shape */
    int64_t st[BC_MAXIN][IT_MAX_DIMS];    /* element strides per input, 0 = broadcast */
} bc_plan;

/* A row kernel: n output elements at y; input k starts at x[k] and advances
 * by xs[k] (0 or 1) elements per output element. */
typedef void (*bc_row_fn)(const void *ctx, int64_t n, char *y, const char *const *x, const int64_t *xs);

static void bc_make_plan(bc_plan *p, int nout, const int64_t *dout, int nin, it_tensor *const *in) {
    int64_t st[BC_MAXIN][IT_MAX_DIMS];
    for (int k = 0; k < nin; k++) it_broadcast_strides(in[k]->ndim, in[k]->dims, nout, dout, st[k]);
    /* walk from the innermost dim outwards, merging into the current group */
    int64_t gd[IT_MAX_DIMS], gs[BC_MAXIN][IT_MAX_DIMS];
    int ng = 0;
    for (int i = nout - 1; i >= 0; i--) {
        if (dout[i] == 1) continue;
        if (ng > 0) {
            int ok = 1;
            for (int k = 0; k < nin && ok; k++) {
                int64_t inner = gs[k][ng - 1];
                if (st[k][i] == 0 && inner == 0) continue;
                if (inner != 0 && st[k][i] == inner * gd[ng - 1]) continue;
                ok = 0;
            }
            if (ok) {
                gd[ng - 1] *= dout[i];
                continue;
            }
        }
        gd[ng] = dout[i];
        for (int k = 0; k < nin; k++) gs[k][ng] = st[k][i];
        ng++;
    }
    if (ng == 0) {
        gd[0] = 1;
        for (int k = 0; k < nin; k++) gs[k][0] = 0;
        ng = 1;
    }
    p->nd = ng;
    p->nin = nin;
    for (int i = 0; i < ng; i++) {
        p->dims[i] = gd[ng - 1 - i];
        for (int k = 0; k < nin; k++) p->st[k][i] = gs[k][ng - 1 - i];
    }
}

typedef struct bc_job {
    const bc_plan *p;
    bc_row_fn fn;
    const void *ctx;
    const it_act *act; /* fused activation applied to each finished row (NULL: none) */
    int ydt;
    char *y;
    size_t ysz;
    const char *x[BC_MAXIN];
    size_t xsz[BC_MAXIN];
} bc_job;

/* The activation fused into an Add / Sum (node->act, see graph/fuse.c) on n outputs:
 * float32 through the vectorized it_act_apply, other types element by element. */
static void act_row(const it_act *act, int dt, char *y, int64_t n) {
    if (dt == IT_F32) {
        it_act_apply((float *)y, n, act);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float v = (float)it_get_f64(y, dt, i);
        it_act_apply(&v, 1, act);
        it_set_f64(y, dt, i, v);
    }
}

static void bc_range(void *arg, int64_t begin, int64_t end, int tid) {
    (void)tid;
    const bc_job *j = arg;
    const bc_plan *p = j->p;
    int nd = p->nd, nin = p->nin;
    int64_t inner = p->dims[nd - 1];
    if (inner <= 0) return;
    int64_t idx[IT_MAX_DIMS], off[BC_MAXIN] = {0}, xs[BC_MAXIN];
    int64_t row = begin / inner, col = begin % inner;
    for (int d = nd - 2; d >= 0; d--) {
        idx[d] = row % p->dims[d];
        row /= p->dims[d];
    }
    for (int k = 0; k < nin; k++) {
        xs[k] = p->st[k][nd - 1];
        for (int d = 0; d < nd - 1; d++) off[k] += idx[d] * p->st[k][d];
    }
    int64_t pos = begin;
    while (pos < end) {
        int64_t len = inner - col;
        if (len > end - pos) len = end - pos;
        const char *xp[BC_MAXIN];
        for (int k = 0; k < nin; k++) xp[k] = j->x[k] + (size_t)(off[k] + col * xs[k]) * j->xsz[k];
        j->fn(j->ctx, len, j->y + (size_t)pos * j->ysz, xp, xs);
        if (j->act) act_row(j->act, j->ydt, j->y + (size_t)pos * j->ysz, len);
        pos += len;
        col = 0;
        for (int d = nd - 2; d >= 0; d--) {
            idx[d]++;
            for (int k = 0; k < nin; k++) off[k] += p->st[k][d];
            if (idx[d] < p->dims[d]) break;
            for (int k = 0; k < nin; k++) off[k] -= p->st[k][d] * p->dims[d];
            idx[d] = 0;
        }
    }
}

/* Run fn over the broadcast of inputs in[0..nin) into y (already allocated
 * with the broadcast shape). */
static void bc_run_act(it_opctx *c, it_tensor *y, int nin, it_tensor *const *in, bc_row_fn fn, const void *ctx,
                       const it_act *act) {
    int64_t n = it_count(y);
    if (n <= 0) return;
    bc_plan p;
    bc_make_plan(&p, y->ndim, y->dims, nin, in);
    bc_job j = {.p = &p, .fn = fn, .ctx = ctx, .act = act && act->kind ? act : NULL, .ydt = y->dtype,
                .y = y->data, .ysz = it_dtype_size(y->dtype)};
    for (int k = 0; k < nin; k++) {
        j.x[k] = in[k]->data;
        j.xsz[k] = it_dtype_size(in[k]->dtype);
    }
    if (n >= PAR_MIN) it_parallel_for(c->tp, n, PAR_GRAIN, bc_range, &j);
    else bc_range(&j, 0, n, 0);
}

static void bc_run(it_opctx *c, it_tensor *y, int nin, it_tensor *const *in, bc_row_fn fn, const void *ctx) {
    bc_run_act(c, y, nin, in, fn, ctx, NULL);
}

/* Broadcast shape of inputs; fails with a message naming the shapes. */
static int bc_shape(it_opctx *c, int nin, it_tensor *const *in, int *nd, int64_t *dims) {
    *nd = in[0]->ndim;
    memcpy(dims, in[0]->dims, sizeof(int64_t) * (size_t)in[0]->ndim);
    for (int k = 1; k < nin; k++) {
        int64_t tmp[IT_MAX_DIMS];
        int nt;
        if (it_broadcast_shape(*nd, dims, in[k]->ndim, in[k]->dims, &nt, tmp)) {
            char s1[128], s2[128];
            it_shape_str(*nd, dims, s1, sizeof s1);
            it_shape_str(in[k]->ndim, in[k]->dims, s2, sizeof s2);
            return it_opfail(c, INGOT_ERR_SHAPE, "shapes %s and %s do not broadcast", s1, s2);
        }
        *nd = nt;
        memcpy(dims, tmp, sizeof(int64_t) * (size_t)nt);
    }
    return 0;
}

/* ---------------------------------------------------------------- op codes and row kernels */

enum {
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD, OP_FMOD, OP_MAX, OP_MIN, OP_PRELU,
    OP_AND, OP_OR, OP_XOR, OP_BAND, OP_BOR, OP_BXOR, OP_SHL, OP_SHR,
    OP_EQ, OP_GT, OP_GE, OP_LT, OP_LE
};

typedef struct ew_ctx {
    int op, dt;
} ew_ctx;

/* Four stride cases of y[i] = EXPR(A, B) with A, B of type T. */
#define LOOP2(T, TY, EXPR)                                                                  \
    do {                                                                                   \
        if (sa && sb)                                                                      \
            for (int64_t i = 0; i < n; i++) { T A = a[i], B = b[i]; y[i] = (TY)(EXPR); }   \
        else if (sa) {                                                                     \
            T B = b[0];                                                                    \
            for (int64_t i = 0; i < n; i++) { T A = a[i]; y[i] = (TY)(EXPR); }             \
        } else if (sb) {                                                                   \
            T A = a[0];                                                                    \
            for (int64_t i = 0; i < n; i++) { T B = b[i]; y[i] = (TY)(EXPR); }             \
        } else {                                                                           \
            T A = a[0], B = b[0];                                                          \
            TY r = (TY)(EXPR);                                                             \
            for (int64_t i = 0; i < n; i++) y[i] = r;                                      \
        }                                                                                  \
    } while (0)

/* float32 vectorized + - * / (y may alias a or b element for element). */
#define F32_VLOOP(OP)                                                                       \
    do {                                                                                   \
        int64_t i = 0;                                                                     \
        if (sa && sb) {                                                                    \
            for (; i + 8 <= n; i += 8) {                                                   \
                v4f a0 = v4_ld(a + i), a1 = v4_ld(a + i + 4), b0 = v4_ld(b + i), b1 = v4_ld(b + i + 4); \
                v4_st(y + i, a0 OP b0);                                                    \
                v4_st(y + i + 4, a1 OP b1);                                                \
            }                                                                              \
            for (; i < n; i++) y[i] = a[i] OP b[i];                                        \
        } else if (sa) {                                                                   \
            float bs = b[0];                                                               \
            v4f bv = {bs, bs, bs, bs};                                                     \
            for (; i + 8 <= n; i += 8) {                                                   \
                v4f a0 = v4_ld(a + i), a1 = v4_ld(a + i + 4);                              \
                v4_st(y + i, a0 OP bv);                                                    \
                v4_st(y + i + 4, a1 OP bv);                                                \
            }                                                                              \
            for (; i < n; i++) y[i] = a[i] OP bs;                                          \
        } else if (sb) {                                                                   \
            float as = a[0];                                                               \
            v4f av = {as, as, as, as};                                                     \
            for (; i + 8 <= n; i += 8) {                                                   \
                v4f b0 = v4_ld(b + i), b1 = v4_ld(b + i + 4);                              \
                v4_st(y + i, av OP b0);                                                    \
                v4_st(y + i + 4, av OP b1);                                                \
            }                                                                              \
            for (; i < n; i++) y[i] = as OP b[i];                                          \
        } else {                                                                           \
            float r = a[0] OP b[0];                                                        \
            for (; i < n; i++) y[i] = r;                                                   \
        }                                                                                  \
    } while (0)

static inline double py_fmod(double a, double b) {
    double r = fmod(a, b);
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}

/* x < 0 without -Wtype-limits noise for unsigned T */
#define NEG(T, v) ((v) < (T)1 && (v) != 0)

#define FLOAT_ROW(SUF, T)                                                                   \
    static void arith_##SUF(int op, int64_t n, T *y, const T *a, int64_t sa, const T *b, int64_t sb) { \
        switch (op) {                                                                      \
        case OP_ADD: LOOP2(T, T, A + B); break;                                            \
        case OP_SUB: LOOP2(T, T, A - B); break;                                            \
        case OP_MUL: LOOP2(T, T, A * B); break;                                            \
        case OP_DIV: LOOP2(T, T, A / B); break;                                            \
        case OP_MOD: LOOP2(T, T, py_fmod(A, B)); break;                                    \
        case OP_FMOD: LOOP2(T, T, fmod(A, B)); break;                                      \
        case OP_MAX: LOOP2(T, T, A != A ? A : (B != B ? B : (A > B ? A : B))); break;    \
        case OP_MIN: LOOP2(T, T, A != A ? A : (B != B ? B : (A < B ? A : B))); break;    \
        case OP_PRELU: LOOP2(T, T, A < 0 ? A * B : A); break;                              \
        }                                                                                  \
    }                                                                                      \
    static void cmp_##SUF(int op, int64_t n, uint8_t *y, const T *a, int64_t sa, const T *b, int64_t sb) { \
        switch (op) {                                                                      \
        case OP_EQ: LOOP2(T, uint8_t, A == B); break;                                      \
        case OP_GT: LOOP2(T, uint8_t, A > B); break;                                       \
        case OP_GE: LOOP2(T, uint8_t, A >= B); break;                                      \
        case OP_LT: LOOP2(T, uint8_t, A < B); break;                                       \
        case OP_LE: LOOP2(T, uint8_t, A <= B); break;                                      \
        }                                                                                  \
    }
FLOAT_ROW(f64, double)

static void arith_f32(int op, int64_t n, float *y, const float *a, int64_t sa, const float *b, int64_t sb) {
    if (op == OP_DIV && sa && !sb) {
        /* division by one value (HardSwish's x / 6, normalizations): multiply by its
         * reciprocal when both are normal numbers (within an ulp of the quotient) */
        float r = 1.f / b[0];
        if (isnormal(b[0]) && isnormal(r)) {
            arith_f32(OP_MUL, n, y, a, sa, &r, 0);
            return;
        }
    }
    switch (op) {
    case OP_ADD: F32_VLOOP(+); break;
    case OP_SUB: F32_VLOOP(-); break;
    case OP_MUL: F32_VLOOP(*); break;
    case OP_DIV: F32_VLOOP(/); break;
    case OP_MOD: LOOP2(float, float, (float)py_fmod(A, B)); break;
    case OP_FMOD: LOOP2(float, float, fmodf(A, B)); break;
    case OP_MAX: LOOP2(float, float, A != A ? A : (B != B ? B : (A > B ? A : B))); break;
    case OP_MIN: LOOP2(float, float, A != A ? A : (B != B ? B : (A < B ? A : B))); break;
    case OP_PRELU: LOOP2(float, float, A < 0 ? A * B : A); break;
    }
}
static void cmp_f32(int op, int64_t n, uint8_t *y, const float *a, int64_t sa, const float *b, int64_t sb) {
    switch (op) {
    case OP_EQ: LOOP2(float, uint8_t, A == B); break;
    case OP_GT: LOOP2(float, uint8_t, A > B); break;
    case OP_GE: LOOP2(float, uint8_t, A >= B); break;
    case OP_LT: LOOP2(float, uint8_t, A < B); break;
    case OP_LE: LOOP2(float, uint8_t, A <= B); break;
    }
}

/* Integer rows: + - * wrap (computed unsigned), division truncates toward zero
 * and gives 0 for a zero divisor (no SIGFPE), Mod follows the divisor's sign
 * (fmod=0) or the dividend's (fmod=1). */
#define INT_ROW(SUF, T, UT, SIGNED, BITS)                                                   \
    static inline T idiv_##SUF(T a, T b) {                                                 \
        if (b == 0) return 0;                                                              \
        if (SIGNED && b == (T)-1) return (T)((UT)0 - (UT)a);                               \
        return (T)(a / b);                                                                 \
    }                                                                                      \
    static inline T irem_##SUF(T a, T b) {                                                 \
        if (b == 0 || (SIGNED && b == (T)-1)) return 0;                                    \
        return (T)(a % b);                                                                 \
    }                                                                                      \
    static inline T imod_##SUF(T a, T b) {                                                 \
        T r = irem_##SUF(a, b);                                                            \
        if (SIGNED && r != 0 && (NEG(T, r) != NEG(T, b))) r = (T)((UT)r + (UT)b);              \
        return r;                                                                          \
    }                                                                                      \
    static void arith_##SUF(int op, int64_t n, T *y, const T *a, int64_t sa, const T *b, int64_t sb) { \
        switch (op) {                                                                      \
        case OP_ADD: LOOP2(T, T, (UT)A + (UT)B); break;                                    \
        case OP_SUB: LOOP2(T, T, (UT)A - (UT)B); break;                                    \
        case OP_MUL: LOOP2(T, T, (UT)A * (UT)B); break;                                    \
        case OP_DIV: LOOP2(T, T, idiv_##SUF(A, B)); break;                                 \
        case OP_MOD: LOOP2(T, T, imod_##SUF(A, B)); break;                                 \
        case OP_FMOD: LOOP2(T, T, irem_##SUF(A, B)); break;                                \
        case OP_MAX: LOOP2(T, T, A > B ? A : B); break;                                    \
        case OP_MIN: LOOP2(T, T, A < B ? A : B); break;                                    \
        case OP_PRELU: LOOP2(T, T, NEG(T, A) ? (UT)A * (UT)B : (UT)A); break;                  \
        case OP_AND: LOOP2(T, T, (A != 0) & (B != 0)); break;                              \
        case OP_OR: LOOP2(T, T, (A != 0) | (B != 0)); break;                               \
        case OP_XOR: LOOP2(T, T, (A != 0) ^ (B != 0)); break;                              \
        case OP_BAND: LOOP2(T, T, A & B); break;                                           \
        case OP_BOR: LOOP2(T, T, A | B); break;                                            \
        case OP_BXOR: LOOP2(T, T, A ^ B); break;                                           \
        case OP_SHL: LOOP2(T, T, (UT)B >= BITS ? 0 : (UT)A << (UT)B); break;               \
        case OP_SHR: LOOP2(T, T, (UT)B >= BITS ? 0 : (UT)A >> (UT)B); break;               \
        }                                                                                  \
    }                                                                                      \
    static void cmp_##SUF(int op, int64_t n, uint8_t *y, const T *a, int64_t sa, const T *b, int64_t sb) { \
        switch (op) {                                                                      \
        case OP_EQ: LOOP2(T, uint8_t, A == B); break;                                      \
        case OP_GT: LOOP2(T, uint8_t, A > B); break;                                       \
        case OP_GE: LOOP2(T, uint8_t, A >= B); break;                                      \
        case OP_LT: LOOP2(T, uint8_t, A < B); break;                                       \
        case OP_LE: LOOP2(T, uint8_t, A <= B); break;                                      \
        }                                                                                  \
    }
INT_ROW(i8, int8_t, uint8_t, 1, 8)
INT_ROW(i16, int16_t, uint16_t, 1, 16)
INT_ROW(i32, int32_t, uint32_t, 1, 32)
INT_ROW(i64, int64_t, uint64_t, 1, 64)
INT_ROW(u8, uint8_t, uint8_t, 0, 8)
INT_ROW(u16, uint16_t, uint16_t, 0, 16)
INT_ROW(u32, uint32_t, uint32_t, 0, 32)
INT_ROW(u64, uint64_t, uint64_t, 0, 64)

/* float16 / bfloat16: convert blocks to float32, compute, convert back. */
static void half_block(const ew_ctx *c, int64_t n, char *y, const char *a, int64_t sa, const char *b, int64_t sb) {
    float fa[256], fb[256], fy[256];
    uint8_t cy[256];
    int bf = c->dt == IT_BF16, cmp = c->op >= OP_EQ;
    for (int64_t i0 = 0; i0 < n; i0 += 256) {
        int64_t m = n - i0 < 256 ? n - i0 : 256;
        const uint16_t *pa = (const uint16_t *)a + (sa ? i0 : 0), *pb = (const uint16_t *)b + (sb ? i0 : 0);
        int64_t ma = sa ? m : 1, mb = sb ? m : 1;
        for (int64_t i = 0; i < ma; i++) fa[i] = bf ? it_bf16_to_f32(pa[i]) : it_f16_to_f32(pa[i]);
        for (int64_t i = 0; i < mb; i++) fb[i] = bf ? it_bf16_to_f32(pb[i]) : it_f16_to_f32(pb[i]);
        if (cmp) {
            cmp_f32(c->op, m, cy, fa, sa, fb, sb);
            memcpy(y + i0, cy, (size_t)m);
        } else {
            int op = c->op;
            if (op == OP_MOD || op == OP_FMOD) { /* compute in double for exactness */
                for (int64_t i = 0; i < m; i++) {
                    double A = fa[sa ? i : 0], B = fb[sb ? i : 0];
                    fy[i] = (float)(op == OP_MOD ? py_fmod(A, B) : fmod(A, B));
                }
            } else arith_f32(op, m, fy, fa, sa, fb, sb);
            uint16_t *py = (uint16_t *)y + i0;
            for (int64_t i = 0; i < m; i++) py[i] = bf ? it_f32_to_bf16(fy[i]) : it_f32_to_f16(fy[i]);
        }
    }
}

static void ew_row(const void *vctx, int64_t n, char *y, const char *const *x, const int64_t *xs) {
    const ew_ctx *c = vctx;
    int64_t sa = xs[0], sb = xs[1];
    const void *a = x[0], *b = x[1];
    int cmp = c->op >= OP_EQ;
#define DISPATCH(SUF, T)                                                                    \
    if (cmp) cmp_##SUF(c->op, n, (uint8_t *)y, (const T *)a, sa, (const T *)b, sb);        \
    else arith_##SUF(c->op, n, (T *)y, (const T *)a, sa, (const T *)b, sb);                \
    break;
    switch (c->dt) {
    case IT_F32: DISPATCH(f32, float)
    case IT_F64: DISPATCH(f64, double)
    case IT_I8: DISPATCH(i8, int8_t)
    case IT_I16: DISPATCH(i16, int16_t)
    case IT_I32: DISPATCH(i32, int32_t)
    case IT_I64: DISPATCH(i64, int64_t)
    case IT_U8: case IT_BOOL: DISPATCH(u8, uint8_t)
    case IT_U16: DISPATCH(u16, uint16_t)
    case IT_U32: DISPATCH(u32, uint32_t)
    case IT_U64: DISPATCH(u64, uint64_t)
    case IT_F16: case IT_BF16: half_block(c, n, y, a, sa, b, sb); break;
    }
#undef DISPATCH
}

static void str_eq_row(const void *vctx, int64_t n, char *y, const char *const *x, const int64_t *xs) {
    (void)vctx;
    const char *const *a = (const char *const *)x[0], *const *b = (const char *const *)x[1];
    for (int64_t i = 0; i < n; i++) {
        const char *p = a[i * xs[0]], *q = b[i * xs[1]];
        y[i] = !strcmp(p ? p : "", q ? q : "");
    }
}

/* ---------------------------------------------------------------- op runners */

enum { T_NUM = 1, T_INT = 2, T_BOOL = 4, T_UINT = 8, T_FLOAT = 16, T_STR = 32 };

static int type_ok(int dt, int allowed) {
    int isf = dt == IT_F32 || dt == IT_F64 || dt == IT_F16 || dt == IT_BF16;
    int isi = dt == IT_I8 || dt == IT_I16 || dt == IT_I32 || dt == IT_I64 || dt == IT_U8 ||
              dt == IT_U16 || dt == IT_U32 || dt == IT_U64;
    if ((allowed & T_NUM) && (isf || isi)) return 1;
    if ((allowed & T_FLOAT) && isf) return 1;
    if ((allowed & T_INT) && isi) return 1;
    if ((allowed & T_UINT) && (dt == IT_U8 || dt == IT_U16 || dt == IT_U32 || dt == IT_U64)) return 1;
    if ((allowed & T_BOOL) && dt == IT_BOOL) return 1;
    if ((allowed & T_STR) && dt == IT_STRING) return 1;
    return 0;
}

/* Two-input op with same-typed inputs. out_bool: comparison output. */
static int run_binary(it_opctx *c, int op, int allowed, int out_bool) {
    IT_REQUIRE_IN(c, 0, a);
    IT_REQUIRE_IN(c, 1, b);
    if (a->dtype != b->dtype)
        return it_opfail(c, INGOT_ERR_FORMAT, "input types differ (%s vs %s)", it_dtype_name(a->dtype),
                         it_dtype_name(b->dtype));
    if (!type_ok(a->dtype, allowed))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unsupported input type %s", it_dtype_name(a->dtype));
    it_tensor *in[2] = {a, b};
    int nd;
    int64_t dims[IT_MAX_DIMS];
    int st = bc_shape(c, 2, in, &nd, dims);
    if (st) return st;
    it_tensor *y;
    st = it_out_tensor_raw(c, 0, out_bool ? IT_BOOL : a->dtype, nd, dims, &y); /* every element written */
    if (st) return st;
    if (a->dtype == IT_STRING) {
        if (op != OP_EQ) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "strings support only Equal");
        bc_run(c, y, 2, in, str_eq_row, NULL);
        return 0;
    }
    ew_ctx ctx = {op, a->dtype};
    bc_run_act(c, y, 2, in, ew_row, &ctx, out_bool ? NULL : &c->node->act);
    return 0;
}

static int add_run(it_opctx *c) { return run_binary(c, OP_ADD, T_NUM, 0); }
static int sub_run(it_opctx *c) { return run_binary(c, OP_SUB, T_NUM, 0); }
static int mul_run(it_opctx *c) { return run_binary(c, OP_MUL, T_NUM, 0); }
static int div_run(it_opctx *c) { return run_binary(c, OP_DIV, T_NUM, 0); }
static int mod_run(it_opctx *c) {
    int64_t fm = it_attr_int(c->node, "fmod", 0);
    if (fm != 0 && fm != 1) return it_opfail(c, INGOT_ERR_FORMAT, "fmod must be 0 or 1, got %lld", (long long)fm);
    return run_binary(c, fm ? OP_FMOD : OP_MOD, T_NUM, 0);
}
static int and_run(it_opctx *c) { return run_binary(c, OP_AND, T_BOOL, 0); }
static int or_run(it_opctx *c) { return run_binary(c, OP_OR, T_BOOL, 0); }
static int xor_run(it_opctx *c) { return run_binary(c, OP_XOR, T_BOOL, 0); }
static int band_run(it_opctx *c) { return run_binary(c, OP_BAND, T_INT, 0); }
static int bor_run(it_opctx *c) { return run_binary(c, OP_BOR, T_INT, 0); }
static int bxor_run(it_opctx *c) { return run_binary(c, OP_BXOR, T_INT, 0); }
static int equal_run(it_opctx *c) { return run_binary(c, OP_EQ, T_NUM | T_BOOL | T_STR, 1); }
static int greater_run(it_opctx *c) { return run_binary(c, OP_GT, T_NUM | T_BOOL, 1); }
static int greater_eq_run(it_opctx *c) { return run_binary(c, OP_GE, T_NUM | T_BOOL, 1); }
static int less_run(it_opctx *c) { return run_binary(c, OP_LT, T_NUM | T_BOOL, 1); }
static int less_eq_run(it_opctx *c) { return run_binary(c, OP_LE, T_NUM | T_BOOL, 1); }

static int bitshift_run(it_opctx *c) {
    const char *dir = it_attr_str(c->node, "direction", "");
    int op;
    if (!strcmp(dir, "LEFT")) op = OP_SHL;
    else if (!strcmp(dir, "RIGHT")) op = OP_SHR;
    else return it_opfail(c, INGOT_ERR_FORMAT, "direction must be LEFT or RIGHT, got '%s'", dir);
    return run_binary(c, op, T_UINT, 0);
}

/* PRelu: slope broadcasts to X (unidirectionally; before opset 7 a slope of
 * shape [C] applies to axis 1, which the trailing broadcast covers when the
 * model reshaped it; otherwise we also accept a 1-D slope matching dims[1]). */
static int prelu_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    IT_REQUIRE_IN(c, 1, s);
    if (x->dtype != s->dtype)
        return it_opfail(c, INGOT_ERR_FORMAT, "X and slope types differ (%s vs %s)", it_dtype_name(x->dtype),
                         it_dtype_name(s->dtype));
    if (!type_ok(x->dtype, T_NUM))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unsupported input type %s", it_dtype_name(x->dtype));
    it_tensor sv = *s;
    int nd;
    int64_t dims[IT_MAX_DIMS];
    if (it_broadcast_shape(x->ndim, x->dims, sv.ndim, sv.dims, &nd, dims) || nd != x->ndim ||
        memcmp(dims, x->dims, sizeof(int64_t) * (size_t)nd)) {
        /* legacy: slope [C] against X [N, C, ...] */
        if (s->ndim == 1 && x->ndim >= 2 && s->dims[0] == x->dims[1]) {
            sv.ndim = x->ndim - 1;
            sv.dims[0] = s->dims[0];
            for (int i = 1; i < sv.ndim; i++) sv.dims[i] = 1;
        } else {
            char s1[128], s2[128];
            it_shape_str(x->ndim, x->dims, s1, sizeof s1);
            it_shape_str(s->ndim, s->dims, s2, sizeof s2);
            return it_opfail(c, INGOT_ERR_SHAPE, "slope %s does not broadcast to X %s", s2, s1);
        }
    }
    it_tensor *y;
    int st = it_out_like(c, 0, x->dtype, x, &y);
    if (st) return st;
    it_tensor *in[2] = {x, &sv};
    ew_ctx ctx = {OP_PRELU, x->dtype};
    bc_run(c, y, 2, in, ew_row, &ctx);
    return 0;
}

/* ---------------------------------------------------------------- Pow */

typedef struct pow_ctx {
    int da, db;
} pow_ctx;

static int64_t ipow(int64_t base, int64_t e) {
    if (e < 0) {
        if (base == 1) return 1;
        if (base == -1) return (e & 1) ? -1 : 1;
        return 0; /* |base| > 1: 1/base^|e| truncates to 0 (base 0: undefined, give 0) */
    }
    uint64_t r = 1, b = (uint64_t)base;
    uint64_t ue = (uint64_t)e;
    while (ue) {
        if (ue & 1) r *= b;
        b *= b;
        ue >>= 1;
    }
    return (int64_t)r;
}

static void set_int_wrap(void *d, int dt, int64_t i, int64_t v) {
    switch (dt) {
    case IT_I8: ((int8_t *)d)[i] = (int8_t)v; break;
    case IT_U8: ((uint8_t *)d)[i] = (uint8_t)v; break;
    case IT_I16: ((int16_t *)d)[i] = (int16_t)v; break;
    case IT_U16: ((uint16_t *)d)[i] = (uint16_t)v; break;
    case IT_I32: ((int32_t *)d)[i] = (int32_t)v; break;
    case IT_U32: ((uint32_t *)d)[i] = (uint32_t)v; break;
    case IT_I64: ((int64_t *)d)[i] = v; break;
    case IT_U64: ((uint64_t *)d)[i] = (uint64_t)v; break;
    }
}

static int64_t f2i(double v) {
    if (v != v) return 0;
    if (v >= 9.2e18) return INT64_MAX;
    if (v <= -9.2e18) return INT64_MIN;
    return (int64_t)v;
}

static void pow_row(const void *vctx, int64_t n, char *y, const char *const *x, const int64_t *xs) {
    const pow_ctx *c = vctx;
    if (c->da == IT_F32 && c->db == IT_F32) {
        const float *a = (const float *)x[0], *b = (const float *)x[1];
        float *yy = (float *)y;
        int64_t sa = xs[0], sb = xs[1];
        if (!sa && sb == 0) {
            float r = powf(a[0], b[0]);
            for (int64_t i = 0; i < n; i++) yy[i] = r;
        } else if (!sb && b[0] == 2.0f) {
            for (int64_t i = 0; i < n; i++) yy[i] = a[i] * a[i];
        } else if (!sb && b[0] == 0.5f) {
            for (int64_t i = 0; i < n; i++) yy[i] = sqrtf(a[i]);
        } else {
            for (int64_t i = 0; i < n; i++) yy[i] = powf(a[i * sa], b[i * sb]);
        }
        return;
    }
    int ai = it_dtype_is_int(c->da), bi = it_dtype_is_int(c->db);
    for (int64_t i = 0; i < n; i++) {
        int64_t ia = i * xs[0], ib = i * xs[1];
        if (ai) {
            int64_t base = it_get_i64(x[0], c->da, ia);
            if (bi) {
                int64_t e = it_get_i64(x[1], c->db, ib);
                if (c->db == IT_U64 && e < 0) e = INT64_MAX; /* huge exponent */
                set_int_wrap(y, c->da, i, ipow(base, e));
            } else {
                set_int_wrap(y, c->da, i, f2i(pow((double)base, it_get_f64(x[1], c->db, ib))));
            }
        } else {
            double base = it_get_f64(x[0], c->da, ia), e = it_get_f64(x[1], c->db, ib);
            it_set_f64(y, c->da, i, pow(base, e));
        }
    }
}

static int pow_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, a);
    IT_REQUIRE_IN(c, 1, b);
    if (!type_ok(a->dtype, T_NUM) || !type_ok(b->dtype, T_NUM))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unsupported types %s ^ %s", it_dtype_name(a->dtype),
                         it_dtype_name(b->dtype));
    it_tensor *in[2] = {a, b};
    int nd;
    int64_t dims[IT_MAX_DIMS];
    int st = bc_shape(c, 2, in, &nd, dims);
    if (st) return st;
    it_tensor *y;
    st = it_out_tensor_raw(c, 0, a->dtype, nd, dims, &y);
    if (st) return st;
    pow_ctx ctx = {a->dtype, b->dtype};
    bc_run(c, y, 2, in, pow_row, &ctx);
    return 0;
}

/* ---------------------------------------------------------------- variadic Max Min Sum Mean */

static void copy_row(const void *vctx, int64_t n, char *y, const char *const *x, const int64_t *xs) {
    size_t es = *(const size_t *)vctx;
    if (xs[0]) memcpy(y, x[0], (size_t)n * es);
    else
        for (int64_t i = 0; i < n; i++) memcpy(y + (size_t)i * es, x[0], es);
}

typedef struct scale_job {
    float *y32;
    double *y64;
    uint16_t *yh;
    int bf;
    double s;
} scale_job;

static void scale_range(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    const scale_job *j = arg;
    if (j->y32) {
        float s = (float)j->s;
        for (int64_t i = b; i < e; i++) j->y32[i] *= s;
    } else if (j->y64) {
        for (int64_t i = b; i < e; i++) j->y64[i] *= j->s;
    } else {
        for (int64_t i = b; i < e; i++) {
            float v = j->bf ? it_bf16_to_f32(j->yh[i]) : it_f16_to_f32(j->yh[i]);
            v = (float)(v * j->s);
            j->yh[i] = j->bf ? it_f32_to_bf16(v) : it_f32_to_f16(v);
        }
    }
}

static int run_variadic(it_opctx *c, int op, int mean) {
    int nin = 0;
    it_tensor *ins[64];
    for (int i = 0; i < c->n_in; i++) {
        it_tensor *t = it_in(c, i);
        if (!t) continue;
        if (nin == 64) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "more than 64 inputs");
        ins[nin++] = t;
    }
    if (nin == 0) return it_opfail(c, INGOT_ERR_FORMAT, "needs at least one input");
    int dt = ins[0]->dtype;
    for (int i = 1; i < nin; i++)
        if (ins[i]->dtype != dt)
            return it_opfail(c, INGOT_ERR_FORMAT, "input types differ (%s vs %s)", it_dtype_name(dt),
                             it_dtype_name(ins[i]->dtype));
    if (!type_ok(dt, mean ? T_FLOAT : T_NUM))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unsupported input type %s", it_dtype_name(dt));
    int nd;
    int64_t dims[IT_MAX_DIMS];
    int st = bc_shape(c, nin, ins, &nd, dims);
    if (st) return st;
    it_tensor *y;
    st = it_out_tensor_raw(c, 0, dt, nd, dims, &y);
    if (st) return st;
    ew_ctx ctx = {op, dt};
    const it_act *act = mean ? NULL : &c->node->act; /* fused (Sum -> Relu), on the last pass */
    if (nin == 1) {
        size_t es = it_dtype_size(dt);
        bc_run_act(c, y, 1, ins, copy_row, &es, act);
    } else {
        it_tensor *in2[2] = {ins[0], ins[1]};
        bc_run_act(c, y, 2, in2, ew_row, &ctx, nin == 2 ? act : NULL);
        for (int k = 2; k < nin; k++) {
            in2[0] = y;
            in2[1] = ins[k];
            bc_run_act(c, y, 2, in2, ew_row, &ctx, k == nin - 1 ? act : NULL);
        }
    }
    if (mean && nin > 1) {
        scale_job j = {0};
        if (dt == IT_F32) j.y32 = y->data;
        else if (dt == IT_F64) j.y64 = y->data;
        else {
            j.yh = y->data;
            j.bf = dt == IT_BF16;
        }
        j.s = 1.0 / nin;
        int64_t n = it_count(y);
        if (n >= PAR_MIN) it_parallel_for(c->tp, n, PAR_GRAIN, scale_range, &j);
        else scale_range(&j, 0, n, 0);
    }
    return 0;
}

static int max_run(it_opctx *c) { return run_variadic(c, OP_MAX, 0); }
static int min_run(it_opctx *c) { return run_variadic(c, OP_MIN, 0); }
static int sum_run(it_opctx *c) { return run_variadic(c, OP_ADD, 0); }
static int mean_run(it_opctx *c) { return run_variadic(c, OP_ADD, 1); }

/* ---------------------------------------------------------------- Where */

static void where_row(const void *vctx, int64_t n, char *y, const char *const *x, const int64_t *xs) {
    int es = *(const int *)vctx;
    const uint8_t *cnd = (const uint8_t *)x[0];
    int64_t sc = xs[0], sa = xs[1], sb = xs[2];
#define WHERE_T(T)                                                                          \
    {                                                                                      \
        const T *a = (const T *)x[1], *b = (const T *)x[2];                                \
        T *yy = (T *)y;                                                                    \
        for (int64_t i = 0; i < n; i++) yy[i] = cnd[i * sc] ? a[i * sa] : b[i * sb];       \
    }                                                                                      \
    break;
    switch (es) {
    case 1: WHERE_T(uint8_t)
    case 2: WHERE_T(uint16_t)
    case 4: WHERE_T(uint32_t)
    case 8: WHERE_T(uint64_t)
    case 16:
        for (int64_t i = 0; i < n; i++) memcpy(y + 16 * i, cnd[i * sc] ? x[1] + 16 * i * sa : x[2] + 16 * i * sb, 16);
        break;
    case -1: { /* strings: duplicate */
        const char *const *a = (const char *const *)x[1], *const *b = (const char *const *)x[2];
        char **yy = (char **)y;
        for (int64_t i = 0; i < n; i++) {
            const char *s = cnd[i * sc] ? a[i * sa] : b[i * sb];
            yy[i] = it_strdup(s ? s : "");
        }
        break;
    }
    }
#undef WHERE_T
}

static int where_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, cnd);
    IT_REQUIRE_IN(c, 1, a);
    IT_REQUIRE_IN(c, 2, b);
    if (cnd->dtype != IT_BOOL) return it_opfail(c, INGOT_ERR_FORMAT, "condition must be bool, got %s", it_dtype_name(cnd->dtype));
    if (a->dtype != b->dtype)
        return it_opfail(c, INGOT_ERR_FORMAT, "X and Y types differ (%s vs %s)", it_dtype_name(a->dtype),
                         it_dtype_name(b->dtype));
    int es = (int)it_dtype_size(a->dtype);
    if (a->dtype == IT_STRING) es = -1;
    else if (es != 1 && es != 2 && es != 4 && es != 8 && es != 16)
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "unsupported type %s", it_dtype_name(a->dtype));
    it_tensor *in[3] = {cnd, a, b};
    int nd;
    int64_t dims[IT_MAX_DIMS];
    int st = bc_shape(c, 3, in, &nd, dims);
    if (st) return st;
    it_tensor *y;
    st = it_out_tensor_raw(c, 0, a->dtype, nd, dims, &y); /* strings come zeroed */
    if (st) return st;
    bc_run(c, y, 3, in, where_row, &es);
    if (es == -1) {
        char **s = y->data;
        int64_t n = it_count(y);
        for (int64_t i = 0; i < n; i++)
            if (!s[i]) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory copying strings");
    }
    return 0;
}

const it_op it_ops_binary[] = {
    {"", "Add", NULL, add_run, NULL, 0},
    {"", "Sub", NULL, sub_run, NULL, 0},
    {"", "Mul", NULL, mul_run, NULL, 0},
    {"", "Div", NULL, div_run, NULL, 0},
    {"", "Pow", NULL, pow_run, NULL, 0},
    {"", "Mod", NULL, mod_run, NULL, 0},
    {"", "And", NULL, and_run, NULL, 0},
    {"", "Or", NULL, or_run, NULL, 0},
    {"", "Xor", NULL, xor_run, NULL, 0},
    {"", "Equal", NULL, equal_run, NULL, 0},
    {"", "Greater", NULL, greater_run, NULL, 0},
    {"", "GreaterOrEqual", NULL, greater_eq_run, NULL, 0},
    {"", "Less", NULL, less_run, NULL, 0},
    {"", "LessOrEqual", NULL, less_eq_run, NULL, 0},
    {"", "BitShift", NULL, bitshift_run, NULL, 0},
    {"", "BitwiseAnd", NULL, band_run, NULL, 0},
    {"", "BitwiseOr", NULL, bor_run, NULL, 0},
    {"", "BitwiseXor", NULL, bxor_run, NULL, 0},
    {"", "Max", NULL, max_run, NULL, 0},
    {"", "Min", NULL, min_run, NULL, 0},
    {"", "Mean", NULL, mean_run, NULL, 0},
    {"", "Sum", NULL, sum_run, NULL, 0},
    {"", "Where", NULL, where_run, NULL, 0},
    {"", "PRelu", NULL, prelu_run, NULL, 0},
    {0},
};
