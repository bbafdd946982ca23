/*
 * nn.c: operator family 'nn': Gemm and MatMul (the dense layers of CNN heads,
 * audio front ends and transformers) and the normalizations (Batch, Instance,
 * Layer, Group, RMS normalization, LRN).
 *
 * float32 Gemm/MatMul run on the packed GEMM kernel: a constant B (weights) is
 * packed once in prepare(), bias and the fused activation (node->act) are
 * applied in the GEMM epilogue, and a batched MatMul against a 2-D B folds the
 * batch into M. Other types take simple typed loops. Normalizations have a
 * float32 path parallel over rows/planes and a generic path through double.
 */
#include "ops.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static int float_type(int dt) { return dt == IT_F32 || dt == IT_F64 || dt == IT_F16 || dt == IT_BF16; }

/* ================= MatMul / Gemm generic element loops ================= */

/* C[M,N] (+)= op(A) op(B) for one batch, any numeric dtype, offsets in elements. */
static void mm_generic(int dt, const void *A, int64_t oa, int ta, const void *B, int64_t ob, int tb, void *C, int64_t oc,
                       int64_t M, int64_t N, int64_t K, double alpha) {
    int is_int = it_dtype_is_int(dt);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            if (is_int) {
                int64_t s = 0;
                for (int64_t k = 0; k < K; k++) {
                    int64_t a = it_get_i64(A, dt, oa + (ta ? k * M + i : i * K + k));
                    int64_t b = it_get_i64(B, dt, ob + (tb ? j * K + k : k * N + j));
                    s = (int64_t)((uint64_t)s + (uint64_t)a * (uint64_t)b);
                }
                int64_t idx = oc + i * N + j;
                switch (dt) {
                case IT_I64: ((int64_t *)C)[idx] = (int64_t)((double)s * alpha); if (alpha == 1.0) ((int64_t *)C)[idx] = s; break;
                case IT_U64: ((uint64_t *)C)[idx] = (uint64_t)s; break;
                case IT_I32: ((int32_t *)C)[idx] = (int32_t)s; break;
                case IT_U32: ((uint32_t *)C)[idx] = (uint32_t)s; break;
                case IT_I16: ((int16_t *)C)[idx] = (int16_t)s; break;
                case IT_U16: ((uint16_t *)C)[idx] = (uint16_t)s; break;
                case IT_I8: ((int8_t *)C)[idx] = (int8_t)s; break;
                case IT_U8: ((uint8_t *)C)[idx] = (uint8_t)s; break;
                default: break;
                }
            } else {
                double s = 0;
                for (int64_t k = 0; k < K; k++)
                    s += it_get_f64(A, dt, oa + (ta ? k * M + i : i * K + k)) * it_get_f64(B, dt, ob + (tb ? j * K + k : k * N + j));
                it_set_f64(C, dt, oc + i * N + j, s * alpha);
            }
        }
}

/* ================= MatMul ================= */

typedef struct mm_state {
    const void *src; /* the B data packed: a fed input with other data skips the state */
    int64_t K, N;
    it_packed *pb;
} mm_state;

static void mm_free(void *p) {
    mm_state *s = p;
    if (!s) return;
    it_packed_free(s->pb);
    free(s);
}

/* A constant input, including initializers that old models also list as graph
 * inputs (IR < 4): run() checks the data pointer, so a fed value is never mixed up. */
static const it_tensor *const_weight(const it_graph *g, const it_node *n, int i) {
    const it_tensor *t = it_node_const_input(g, n, i);
    if (t || i >= n->n_in || n->in[i] < 0) return t;
    const it_valdef *d = &g->values[n->in[i]];
    return d->is_const ? &d->cval : NULL;
}

static int matmul_prepare(it_node *n, const it_graph *g, it_err *e) {
    const it_tensor *b = const_weight(g, n, 1);
    if (!b || b->dtype != IT_F32 || b->ndim != 2 || b->dims[1] < 2 || b->dims[0] < 1) return 0;
    mm_state *s = calloc(1, sizeof *s);
    if (!s) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    s->K = b->dims[0];
    s->N = b->dims[1];
    s->src = b->data;
    s->pb = it_sgemm_pack(1, 0, s->K, s->N, b->data, s->N);
    if (!s->pb) { free(s); return it_fail(e, INGOT_ERR_NOMEM, "out of memory"); }
    mm_free(n->state);
    n->state = s;
    return 0;
}

static int matmul_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, A);
    IT_REQUIRE_IN(c, 1, B);
    if (A->dtype != B->dtype) return it_opfail(c, INGOT_ERR_SHAPE, "MatMul operand types differ");
    int dt = A->dtype;
    if (!(float_type(dt) || it_dtype_is_int(dt))) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "MatMul on %s", it_dtype_name(dt));
    if (A->ndim < 1 || B->ndim < 1) return it_opfail(c, INGOT_ERR_SHAPE, "MatMul on scalars");
    int64_t ad[IT_MAX_DIMS + 1], bd[IT_MAX_DIMS + 1];
    int an = A->ndim, bn = B->ndim;
    if (an == 1) { ad[0] = 1; ad[1] = A->dims[0]; an = 2; }
    else memcpy(ad, A->dims, sizeof(int64_t) * (size_t)an);
    if (bn == 1) { bd[0] = B->dims[0]; bd[1] = 1; bn = 2; }
    else memcpy(bd, B->dims, sizeof(int64_t) * (size_t)bn);
    int64_t M = ad[an - 2], K = ad[an - 1], N = bd[bn - 1];
    if (bd[bn - 2] != K) return it_opfail(c, INGOT_ERR_SHAPE, "MatMul inner dims %lld and %lld differ", (long long)K, (long long)bd[bn - 2]);
    int nb;
    int64_t batch[IT_MAX_DIMS];
    if (it_broadcast_shape(an - 2, ad, bn - 2, bd, &nb, batch)) return it_opfail(c, INGOT_ERR_SHAPE, "MatMul batch dims do not broadcast");
    int64_t od[IT_MAX_DIMS + 2];
    int on = 0;
    for (int i = 0; i < nb; i++) od[on++] = batch[i];
    if (A->ndim != 1) od[on++] = M;
    if (B->ndim != 1) od[on++] = N;
    if (on > IT_MAX_DIMS) return it_opfail(c, INGOT_ERR_SHAPE, "rank too large");
    it_tensor *Y;
    int st = it_out_tensor(c, 0, dt, on, od, &Y);
    if (st) return st;
    int64_t nbatch = it_shape_count(nb, batch);
    if (nbatch <= 0 || M == 0 || N == 0) return 0;
    int64_t sa[IT_MAX_DIMS], sb[IT_MAX_DIMS];
    it_broadcast_strides(an - 2, ad, nb, batch, sa);
    it_broadcast_strides(bn - 2, bd, nb, batch, sb);
    int64_t idx[IT_MAX_DIMS] = {0};
    if (dt == IT_F32) {
        const mm_state *s = c->node->state;
        const it_packed *pb = (s && s->K == K && s->N == N && bn == 2 && s->src == B->data) ? s->pb : NULL;
        it_epilogue ep = {1.f, 0.f, NULL, NULL, c->node->act};
        const float *a = A->data, *b = B->data;
        float *y = Y->data;
        /* B shared by every batch and A contiguous: one product with the batch folded into M */
        int a_full = 1;
        for (int i = 0; i < nb; i++)
            if (sa[i] == 0 && batch[i] != 1) a_full = 0;
        if (bn == 2 && a_full) {
            it_sgemm_ex(c->tp, nbatch * M, N, K, a, K, 0, NULL, b, N, 0, pb, y, N, &ep);
            return 0;
        }
        for (int64_t t = 0; t < nbatch; t++) {
            int64_t oa = 0, ob = 0;
            for (int i = 0; i < nb; i++) { oa += idx[i] * sa[i]; ob += idx[i] * sb[i]; }
            it_sgemm_ex(c->tp, M, N, K, a + oa * M * K, K, 0, NULL, b + ob * K * N, N, 0, pb, y + t * M * N, N, &ep);
            it_next_index(nb, batch, idx);
        }
        return 0;
    }
    for (int64_t t = 0; t < nbatch; t++) {
        int64_t oa = 0, ob = 0;
        for (int i = 0; i < nb; i++) { oa += idx[i] * sa[i]; ob += idx[i] * sb[i]; }
        mm_generic(dt, A->data, oa * M * K, 0, B->data, ob * K * N, 0, Y->data, t * M * N, M, N, K, 1.0);
        it_next_index(nb, batch, idx);
    }
    return 0;
}

/* ================= Gemm ================= */

static int gemm_prepare(it_node *n, const it_graph *g, it_err *e) {
    const it_tensor *b = const_weight(g, n, 1);
    if (!b || b->dtype != IT_F32 || b->ndim != 2) return 0;
    int tb = (int)it_attr_int(n, "transB", 0);
    int64_t K = tb ? b->dims[1] : b->dims[0], N = tb ? b->dims[0] : b->dims[1];
    if (K < 1 || N < 2) return 0;
    mm_state *s = calloc(1, sizeof *s);
    if (!s) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    s->K = K;
    s->N = N;
    s->src = b->data;
    s->pb = it_sgemm_pack(1, tb, K, N, b->data, b->dims[1]);
    if (!s->pb) { free(s); return it_fail(e, INGOT_ERR_NOMEM, "out of memory"); }
    mm_free(n->state);
    n->state = s;
    return 0;
}

static int gemm_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, A);
    IT_REQUIRE_IN(c, 1, B);
    it_tensor *Ct = it_in(c, 2);
    int dt = A->dtype;
    if (B->dtype != dt || (Ct && Ct->dtype != dt)) return it_opfail(c, INGOT_ERR_SHAPE, "Gemm operand types differ");
    if (!(float_type(dt) || it_dtype_is_int(dt))) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "Gemm on %s", it_dtype_name(dt));
    if (A->ndim != 2 || B->ndim != 2) return it_opfail(c, INGOT_ERR_SHAPE, "Gemm needs 2-D A and B");
    int ta = (int)it_attr_int(c->node, "transA", 0), tb = (int)it_attr_int(c->node, "transB", 0);
    float alpha = it_attr_float(c->node, "alpha", 1.f), beta = it_attr_float(c->node, "beta", 1.f);
    int64_t M = ta ? A->dims[1] : A->dims[0], K = ta ? A->dims[0] : A->dims[1];
    int64_t K2 = tb ? B->dims[1] : B->dims[0], N = tb ? B->dims[0] : B->dims[1];
    if (K != K2) return it_opfail(c, INGOT_ERR_SHAPE, "Gemm inner dims %lld and %lld differ", (long long)K, (long long)K2);
    /* C broadcast to [M, N]: classify */
    int64_t cm = 1, cn = 1;
    if (Ct) {
        if (Ct->ndim > 2) return it_opfail(c, INGOT_ERR_SHAPE, "Gemm C has rank %d", Ct->ndim);
        if (Ct->ndim == 2) { cm = Ct->dims[0]; cn = Ct->dims[1]; }
        else if (Ct->ndim == 1) cn = Ct->dims[0];
        if ((cm != 1 && cm != M) || (cn != 1 && cn != N)) return it_opfail(c, INGOT_ERR_SHAPE, "Gemm C does not broadcast to [M, N]");
    }
    int64_t od[2] = {M, N};
    it_tensor *Y;
    int st = it_out_tensor(c, 0, dt, 2, od, &Y);
    if (st) return st;
    if (M == 0 || N == 0) return 0;
    if (dt == IT_F32) {
        const mm_state *s = c->node->state;
        const it_packed *pb = (s && s->K == K && s->N == N && s->src == B->data) ? s->pb : NULL;
        it_epilogue ep = {alpha, 0.f, NULL, NULL, c->node->act};
        float *y = Y->data;
        const float *cv = Ct ? Ct->data : NULL;
        if (Ct && beta != 0.f && it_count(Ct) > 0) {
            if (cm == M && cn == N && M > 1) {
                memcpy(y, cv, sizeof(float) * (size_t)(M * N));
                ep.beta = beta;
            } else if (cm == 1 && cn == N) {
                float *bn = it_scratch(c, sizeof(float) * (size_t)N);
                if (!bn) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
                for (int64_t j = 0; j < N; j++) bn[j] = beta * cv[j];
                ep.bias_n = bn;
            } else if (cn == 1 && cm == M) {
                float *bm = it_scratch(c, sizeof(float) * (size_t)M);
                if (!bm) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
                for (int64_t i = 0; i < M; i++) bm[i] = beta * cv[i];
                ep.bias_m = bm;
            } else { /* scalar */
                float *bn = it_scratch(c, sizeof(float) * (size_t)N);
                if (!bn) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
                for (int64_t j = 0; j < N; j++) bn[j] = beta * cv[0];
                ep.bias_n = bn;
            }
        }
        it_sgemm_ex(c->tp, M, N, K, A->data, A->dims[1], ta, NULL, B->data, B->dims[1], tb, pb, y, N, &ep);
        return 0;
    }
    mm_generic(dt, A->data, 0, ta, B->data, 0, tb, Y->data, 0, M, N, K, alpha);
    if (Ct && beta != 0.f && it_count(Ct) > 0) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                int64_t ci = (cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j);
                if (it_dtype_is_int(dt)) {
                    int64_t v = it_get_i64(Y->data, dt, i * N + j) + (int64_t)(beta * (double)it_get_i64(Ct->data, dt, ci));
                    it_set_f64(Y->data, dt, i * N + j, (double)v);
                } else {
                    it_set_f64(Y->data, dt, i * N + j, it_get_f64(Y->data, dt, i * N + j) + beta * it_get_f64(Ct->data, dt, ci));
                }
            }
    }
    return 0;
}

/* ================= normalizations ================= */

/* Read n values of any float tensor as float (scratch copy when not float32). */
static const float *f32_of(it_opctx *c, const it_tensor *t) {
    if (t->dtype == IT_F32) return t->data;
    int64_t n = it_count(t);
    float *p = it_scratch(c, sizeof(float) * (size_t)(n ? n : 1));
    if (!p || it_convert(p, IT_F32, t->data, t->dtype, n, 0)) return NULL;
    return p;
}

/* Staged float32 input/output: returns the float32 view of X and a float32 buffer for Y. */
static int stage(it_opctx *c, const it_tensor *X, it_tensor *Y, const float **x, float **y) {
    *x = f32_of(c, X);
    *y = Y->dtype == IT_F32 ? Y->data : it_scratch(c, sizeof(float) * (size_t)(it_count(Y) ? it_count(Y) : 1));
    if (!*x || !*y) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    return 0;
}
static void unstage(it_tensor *Y, float *y) {
    if (Y->dtype != IT_F32) it_convert(Y->data, Y->dtype, y, IT_F32, it_count(Y), 0);
}

typedef struct bn_job {
    const float *x, *a, *b;
    float *y;
    int64_t C, S;
    it_act act; /* fused activation (node->act) */
} bn_job;

typedef float bn_v4 __attribute__((vector_size(16)));
typedef int32_t bn_v4i __attribute__((vector_size(16)));

/* one scale+shift(+relu) pass per plane, 128-bit vector extensions (-O2 does not
 * autovectorize; y may alias x element for element); other activations run over
 * the plane while it is in cache */
static void bn_task(void *arg, int64_t b0, int64_t e, int tid) {
    (void)tid;
    bn_job *j = arg;
    int relu = j->act.kind == IT_ACT_RELU;
    for (int64_t p = b0; p < e; p++) {
        int64_t ch = p % j->C;
        float a = j->a[ch], b = j->b[ch];
        const float *x = j->x + p * j->S;
        float *y = j->y + p * j->S;
        bn_v4 av = {a, a, a, a}, bv = {b, b, b, b}, zero = {0, 0, 0, 0};
        int64_t i = 0;
        for (; i + 8 <= j->S; i += 8) {
            bn_v4 x0, x1;
            memcpy(&x0, x + i, sizeof x0);
            memcpy(&x1, x + i + 4, sizeof x1);
            x0 = x0 * av + bv;
            x1 = x1 * av + bv;
            if (relu) {
                x0 = (bn_v4)((bn_v4i)x0 & (x0 > zero));
                x1 = (bn_v4)((bn_v4i)x1 & (x1 > zero));
            }
            memcpy(y + i, &x0, sizeof x0);
            memcpy(y + i + 4, &x1, sizeof x1);
        }
        for (; i < j->S; i++) {
            float v = x[i] * a + b;
            y[i] = relu ? (v > 0 ? v : 0) : v;
        }
        if (j->act.kind && !relu) it_act_apply(y, j->S, &j->act);
    }
}

static int batchnorm_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, X);
    IT_REQUIRE_IN(c, 1, Sc);
    IT_REQUIRE_IN(c, 2, Bi);
    IT_REQUIRE_IN(c, 3, Mean);
    IT_REQUIRE_IN(c, 4, Var);
    if (!float_type(X->dtype) || !float_type(Sc->dtype) || !float_type(Bi->dtype) || !float_type(Mean->dtype) || !float_type(Var->dtype))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "BatchNormalization on %s", it_dtype_name(X->dtype));
    if (X->ndim < 2) return it_opfail(c, INGOT_ERR_SHAPE, "BatchNormalization needs rank >= 2");
    int64_t N = X->dims[0], C = X->dims[1], S = 1;
    for (int i = 2; i < X->ndim; i++) S *= X->dims[i];
    if (it_count(Sc) != C || it_count(Bi) != C || it_count(Mean) != C || it_count(Var) != C)
        return it_opfail(c, INGOT_ERR_SHAPE, "BatchNormalization parameters must have C=%lld values", (long long)C);
    float eps = it_attr_float(c->node, "epsilon", 1e-5f), mom = it_attr_float(c->node, "momentum", 0.9f);
    int training = c->node->opset >= 14 ? (int)it_attr_int(c->node, "training_mode", 0) : 0;
    if (c->node->opset < 9 && c->node->opset >= 7 && !it_attr_int(c->node, "spatial", 1))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "spatial=0");
    it_tensor *Y;
    int st = it_out_tensor_raw(c, 0, X->dtype, X->ndim, X->dims, &Y); /* every element written */
    if (st) return st;
    const float *x;
    float *y;
    if ((st = stage(c, X, Y, &x, &y))) return st;
    float *a = it_scratch(c, sizeof(float) * (size_t)(C ? C : 1)), *b = it_scratch(c, sizeof(float) * (size_t)(C ? C : 1));
    if (!a || !b) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    double *bm = NULL, *bv = NULL;
    if (training) {
        bm = it_scratch(c, sizeof(double) * (size_t)(C ? C : 1));
        bv = it_scratch(c, sizeof(double) * (size_t)(C ? C : 1));
        if (!bm || !bv) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
        for (int64_t ch = 0; ch < C; ch++) {
            double s = 0, s2 = 0;
            for (int64_t n = 0; n < N; n++)
                for (int64_t i = 0; i < S; i++) s += x[(n * C + ch) * S + i];
            double cnt = (double)(N * S), m = cnt > 0 ? s / cnt : 0;
            for (int64_t n = 0; n < N; n++)
                for (int64_t i = 0; i < S; i++) { double d = x[(n * C + ch) * S + i] - m; s2 += d * d; }
            bm[ch] = m;
            bv[ch] = cnt > 0 ? s2 / cnt : 0;
        }
    }
    for (int64_t ch = 0; ch < C; ch++) {
        double m = training ? bm[ch] : it_get_f64(Mean->data, Mean->dtype, ch);
        double v = training ? bv[ch] : it_get_f64(Var->data, Var->dtype, ch);
        double sc = it_get_f64(Sc->data, Sc->dtype, ch) / sqrt(v + eps);
        a[ch] = (float)sc;
        b[ch] = (float)(it_get_f64(Bi->data, Bi->dtype, ch) - m * sc);
    }
    bn_job j = {x, a, b, y, C, S, c->node->act};
    it_parallel_for(c->tp, N * C, 1 + 16384 / (S ? S : 1), bn_task, &j);
    unstage(Y, y);
    if (training) {
        for (int o = 1; o <= 2; o++) {
            if (!it_has_out(c, o)) continue;
            it_tensor *R, *src = o == 1 ? Mean : Var;
            if ((st = it_out_like(c, o, src->dtype, src, &R))) return st;
            for (int64_t ch = 0; ch < C; ch++) {
                double cur = o == 1 ? bm[ch] : bv[ch];
                it_set_f64(R->data, R->dtype, ch, it_get_f64(src->data, src->dtype, ch) * mom + cur * (1.0 - mom));
            }
        }
    }
    return 0;
}

/* rows of length D normalized: y = (x - mean) * inv * scale[i % ...] + bias */
typedef struct rn_job {
    const float *x, *scale, *bias;
    float *y, *mean_out, *inv_out;
    int64_t D;
    float eps;
    int rms;
    /* per-row scale/bias (instance/group norm): scale index = (row % per) / div */
    int per_row;
    int64_t row_mod, row_div, sub; /* group norm: `sub` channels of S elements per row */
} rn_job;

static void rn_task(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    rn_job *j = arg;
    for (int64_t r = b; r < e; r++) {
        const float *x = j->x + r * j->D;
        float *y = j->y + r * j->D;
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < j->D; i++) s += x[i];
        double m = j->D ? s / (double)j->D : 0;
        if (j->rms) {
            for (int64_t i = 0; i < j->D; i++) s2 += (double)x[i] * x[i];
            m = 0;
        } else {
            for (int64_t i = 0; i < j->D; i++) { double d = x[i] - m; s2 += d * d; }
        }
        double var = j->D ? s2 / (double)j->D : 0;
        float inv = (float)(1.0 / sqrt(var + j->eps)), mf = (float)m;
        if (j->mean_out) j->mean_out[r] = mf;
        if (j->inv_out) j->inv_out[r] = inv;
        if (!j->per_row) {
            for (int64_t i = 0; i < j->D; i++) {
                float v = (x[i] - mf) * inv * j->scale[i];
                y[i] = j->bias ? v + j->bias[i] : v;
            }
        } else {
            int64_t S = j->D / j->sub;
            for (int64_t q = 0; q < j->sub; q++) {
                int64_t ch = ((r % j->row_mod) * j->sub + q) / j->row_div;
                float a = inv * j->scale[ch], bb = j->bias ? j->bias[ch] - mf * a : -mf * a;
                for (int64_t i = q * S; i < (q + 1) * S; i++) y[i] = x[i] * a + bb;
            }
        }
    }
}

/* Expand a parameter broadcastable to shape dims[0..n) into a dense float array. */
static const float *expand_param(it_opctx *c, const it_tensor *t, int n, const int64_t *dims, int64_t total) {
    const float *src = f32_of(c, t);
    if (!src) return NULL;
    if (it_count(t) == total) return src;
    int no;
    int64_t od[IT_MAX_DIMS], str[IT_MAX_DIMS];
    if (t->ndim > n || it_broadcast_shape(n, dims, t->ndim, t->dims, &no, od) || no != n) return NULL;
    for (int i = 0; i < n; i++)
        if (od[i] != dims[i]) return NULL;
    it_broadcast_strides(t->ndim, t->dims, n, dims, str);
    float *p = it_scratch(c, sizeof(float) * (size_t)(total ? total : 1));
    if (!p) return NULL;
    int64_t idx[IT_MAX_DIMS] = {0};
    for (int64_t i = 0; i < total; i++) {
        int64_t off = 0;
        for (int a = 0; a < n; a++) off += idx[a] * str[a];
        p[i] = src[off];
        it_next_index(n, dims, idx);
    }
    return p;
}

static int layer_rms_norm(it_opctx *c, int rms) {
    IT_REQUIRE_IN(c, 0, X);
    IT_REQUIRE_IN(c, 1, Sc);
    it_tensor *Bt = rms ? NULL : it_in(c, 2);
    if (!float_type(X->dtype) || !float_type(Sc->dtype) || (Bt && !float_type(Bt->dtype)))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "normalization on %s", it_dtype_name(X->dtype));
    if (X->ndim < 1) return it_opfail(c, INGOT_ERR_SHAPE, "normalization of a scalar");
    int axis = it_axis(it_attr_int(c->node, "axis", -1), X->ndim, 0);
    if (axis < 0) return it_opfail(c, INGOT_ERR_SHAPE, "axis out of range");
    int64_t rows = 1, D = 1;
    for (int i = 0; i < axis; i++) rows *= X->dims[i];
    for (int i = axis; i < X->ndim; i++) D *= X->dims[i];
    it_tensor *Y;
    int st = it_out_like(c, 0, X->dtype, X, &Y);
    if (st) return st;
    const float *x;
    float *y;
    if ((st = stage(c, X, Y, &x, &y))) return st;
    const float *scale = expand_param(c, Sc, X->ndim - axis, X->dims + axis, D);
    const float *bias = Bt ? expand_param(c, Bt, X->ndim - axis, X->dims + axis, D) : NULL;
    if (!scale || (Bt && !bias)) return it_opfail(c, INGOT_ERR_SHAPE, "scale/bias do not broadcast to the normalized shape");
    rn_job j;
    memset(&j, 0, sizeof j);
    j.x = x; j.y = y; j.scale = scale; j.bias = bias; j.D = D; j.rms = rms;
    j.eps = it_attr_float(c->node, "epsilon", 1e-5f);
    it_tensor *Mo = NULL, *Io = NULL;
    int64_t sd[IT_MAX_DIMS];
    for (int i = 0; i < X->ndim; i++) sd[i] = i < axis ? X->dims[i] : 1;
    int stash_dt = IT_F32;
    if (!rms) {
        int64_t stash = it_attr_int(c->node, "stash_type", 1);
        stash_dt = stash == 1 ? IT_F32 : (int)stash;
        if (!float_type(stash_dt)) stash_dt = IT_F32;
        if (it_has_out(c, 1) && (st = it_out_tensor(c, 1, stash_dt, X->ndim, sd, &Mo))) return st;
        if (it_has_out(c, 2) && (st = it_out_tensor(c, 2, stash_dt, X->ndim, sd, &Io))) return st;
    }
    float *mbuf = NULL, *ibuf = NULL;
    if (Mo) { mbuf = stash_dt == IT_F32 ? Mo->data : it_scratch(c, sizeof(float) * (size_t)(rows ? rows : 1)); if (!mbuf) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory"); }
    if (Io) { ibuf = stash_dt == IT_F32 ? Io->data : it_scratch(c, sizeof(float) * (size_t)(rows ? rows : 1)); if (!ibuf) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory"); }
    j.mean_out = mbuf;
    j.inv_out = ibuf;
    it_parallel_for(c->tp, rows, 1 + 4096 / (D ? D : 1), rn_task, &j);
    unstage(Y, y);
    if (Mo && stash_dt != IT_F32) it_convert(Mo->data, stash_dt, mbuf, IT_F32, rows, 0);
    if (Io && stash_dt != IT_F32) it_convert(Io->data, stash_dt, ibuf, IT_F32, rows, 0);
    return 0;
}

static int layernorm_run(it_opctx *c) { return layer_rms_norm(c, 0); }
static int rmsnorm_run(it_opctx *c) { return layer_rms_norm(c, 1); }

/* instance norm (groups == C) and group norm share the per-row path */
static int group_like(it_opctx *c, int64_t groups, int per_group_params) {
    IT_REQUIRE_IN(c, 0, X);
    IT_REQUIRE_IN(c, 1, Sc);
    IT_REQUIRE_IN(c, 2, Bt);
    if (!float_type(X->dtype) || !float_type(Sc->dtype) || !float_type(Bt->dtype))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "normalization on %s", it_dtype_name(X->dtype));
    if (X->ndim < 2) return it_opfail(c, INGOT_ERR_SHAPE, "normalization needs rank >= 2");
    int64_t N = X->dims[0], C = X->dims[1], S = 1;
    for (int i = 2; i < X->ndim; i++) S *= X->dims[i];
    if (groups <= 0) groups = C;
    if (groups < 1 || C % groups) return it_opfail(c, INGOT_ERR_SHAPE, "num_groups %lld does not divide C=%lld", (long long)groups, (long long)C);
    int64_t np = per_group_params ? groups : C;
    if (it_count(Sc) != np || it_count(Bt) != np) return it_opfail(c, INGOT_ERR_SHAPE, "scale/bias must have %lld values", (long long)np);
    it_tensor *Y;
    int st = it_out_like(c, 0, X->dtype, X, &Y);
    if (st) return st;
    const float *x;
    float *y;
    if ((st = stage(c, X, Y, &x, &y))) return st;
    rn_job j;
    memset(&j, 0, sizeof j);
    j.x = x; j.y = y;
    j.scale = f32_of(c, Sc);
    j.bias = f32_of(c, Bt);
    if (!j.scale || !j.bias) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    j.sub = C / groups;
    j.D = j.sub * S;
    j.eps = it_attr_float(c->node, "epsilon", 1e-5f);
    j.per_row = 1;
    j.row_mod = groups;
    j.row_div = per_group_params ? j.sub : 1;
    if (j.D == 0) { unstage(Y, y); return 0; }
    it_parallel_for(c->tp, N * groups, 1 + 4096 / j.D, rn_task, &j);
    unstage(Y, y);
    return 0;
}

static int instnorm_run(it_opctx *c) { return group_like(c, 0, 0); }

static int groupnorm_run(it_opctx *c) {
    int64_t g = it_attr_int(c->node, "num_groups", -1);
    if (g < 1) return it_opfail(c, INGOT_ERR_FORMAT, "num_groups missing or not positive");
    return group_like(c, g, c->node->opset < 21);
}

/* LRN float32: one (image, channel) plane per task, in blocks of LRN_BLK positions:
 * the window's squares are summed channel by channel (the reference order) into a
 * small vector the compiler keeps in registers/L1, then scaled. beta 0.75 (AlexNet,
 * ZFNet) takes t^-0.75 as 1 / (sqrt(t) * sqrt(sqrt(t))) instead of a powf per value. */
#define LRN_BLK 256
typedef struct lrn_job {
    const float *x;
    float *y;
    int64_t C, S, lo, hi, size;
    float alpha, beta, bias;
} lrn_job;

typedef float lrn_v4 __attribute__((vector_size(16)));

static inline lrn_v4 lrn_ld(const float *p) { lrn_v4 v; memcpy(&v, p, sizeof v); return v; }

/* t^-0.75 for 4 lanes: 1 / (sqrt(t) * sqrt(sqrt(t))), as the scalar loop computes it */
static inline lrn_v4 lrn_rpow75(lrn_v4 t) {
#if defined(__SSE2__)
    __m128 r = _mm_sqrt_ps((__m128)t);
    return (lrn_v4)_mm_mul_ps(r, _mm_sqrt_ps(r));
#else
    lrn_v4 o;
    for (int q = 0; q < 4; q++) { float r = sqrtf(t[q]); o[q] = r * sqrtf(r); }
    return o;
#endif
}

static void lrn_task(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    const lrn_job *j = arg;
    float s[LRN_BLK];
    float k = j->alpha / (float)j->size;
    int b75 = j->beta == 0.75f;
    lrn_v4 kv = {k, k, k, k}, bv = {j->bias, j->bias, j->bias, j->bias};
    for (int64_t p = b; p < e; p++) {
        int64_t n = p / j->C, ch = p % j->C;
        int64_t c0 = ch - j->lo < 0 ? 0 : ch - j->lo, c1 = ch + j->hi >= j->C ? j->C - 1 : ch + j->hi;
        const float *xn = j->x + n * j->C * j->S;
        const float *xp = xn + ch * j->S;
        float *yp = j->y + p * j->S;
        for (int64_t i0 = 0; i0 < j->S; i0 += LRN_BLK) {
            int64_t len = j->S - i0 < LRN_BLK ? j->S - i0 : LRN_BLK, v4 = len & ~(int64_t)3;
            memset(s, 0, sizeof(float) * (size_t)len);
            for (int64_t q = c0; q <= c1; q++) {
                const float *xq = xn + q * j->S + i0;
                int64_t i = 0;
                for (; i < v4; i += 4) {
                    lrn_v4 a = lrn_ld(s + i), x = lrn_ld(xq + i);
                    a += x * x;
                    memcpy(s + i, &a, sizeof a);
                }
                for (; i < len; i++) s[i] += xq[i] * xq[i];
            }
            int64_t i = 0;
            if (b75) {
                for (; i < v4; i += 4) {
                    lrn_v4 t = bv + kv * lrn_ld(s + i), o = lrn_ld(xp + i0 + i) / lrn_rpow75(t);
                    memcpy(yp + i0 + i, &o, sizeof o);
                }
                for (; i < len; i++) {
                    float t = j->bias + k * s[i], r = sqrtf(t);
                    yp[i0 + i] = xp[i0 + i] / (r * sqrtf(r));
                }
            } else {
                for (; i < len; i++) yp[i0 + i] = xp[i0 + i] / powf(j->bias + k * s[i], j->beta);
            }
        }
    }
}

static int lrn_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, X);
    if (!float_type(X->dtype)) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "LRN on %s", it_dtype_name(X->dtype));
    if (X->ndim < 2) return it_opfail(c, INGOT_ERR_SHAPE, "LRN needs rank >= 2");
    int64_t size = it_attr_int(c->node, "size", 0);
    if (size < 1) return it_opfail(c, INGOT_ERR_FORMAT, "LRN size must be positive");
    float alpha = it_attr_float(c->node, "alpha", 1e-4f), beta = it_attr_float(c->node, "beta", 0.75f);
    float bias = it_attr_float(c->node, "bias", 1.f);
    int64_t N = X->dims[0], C = X->dims[1], S = 1;
    for (int i = 2; i < X->ndim; i++) S *= X->dims[i];
    it_tensor *Y; /* every element is written below */
    int st = it_out_tensor_raw(c, 0, X->dtype, X->ndim, X->dims, &Y);
    if (st) return st;
    if (it_count(Y) == 0) return 0;
    const float *x;
    float *y;
    if ((st = stage(c, X, Y, &x, &y))) return st;
    lrn_job j = {x, y, C, S, (size - 1) / 2, size - 1 - (size - 1) / 2, size, alpha, beta, bias};
    it_parallel_for(c->tp, N * C, 1 + 16384 / (S * size + 1), lrn_task, &j);
    unstage(Y, y);
    return 0;
}

const it_op it_ops_nn[] = {
    {"", "MatMul", NULL, matmul_run, mm_free, 0, matmul_prepare},
    {"", "Gemm", NULL, gemm_run, mm_free, 0, gemm_prepare},
    {"", "BatchNormalization", NULL, batchnorm_run, NULL, 0, NULL},
    {"", "InstanceNormalization", NULL, instnorm_run, NULL, 0, NULL},
    {"", "LayerNormalization", NULL, layernorm_run, NULL, 0, NULL},
    {"", "RMSNormalization", NULL, rmsnorm_run, NULL, 0, NULL},
    {"", "GroupNormalization", NULL, groupnorm_run, NULL, 0, NULL},
    {"", "LRN", NULL, lrn_run, NULL, 0, NULL},
    {0},
};
