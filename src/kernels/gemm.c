/*
 * gemm.c: single-precision matrix multiplication, the kernel behind MatMul,
 * Gemm, Conv (im2col) and attention. Operands are packed into panels of the
 * micro-kernel's register tile (mr x nr, from the dispatch table) in blocks of
 * KC along K, then tiles are computed in parallel over the pool. Constant
 * weights are packed once (it_sgemm_pack) and reused on every run.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#define KC 256
#define MC_PANELS 8   /* mr-panels per task */
#define NC_PANELS 16  /* nr-panels per task */

struct it_packed {
    int which;        /* 0: A [M,K] in mr-panels, 1: B [K,N] in nr-panels */
    int64_t rows, cols;
    int r;            /* panel width (mr or nr) the data was packed for */
    float *data;      /* per KC block kb: panels laid out consecutively */
};

/* pack op(A)[m0:m0+mc, k0:k0+kc] into mr-row panels: panel p holds a[k][i] at [k*mr + i] */
static void pack_a(float *dst, const float *A, int64_t lda, int trans, int64_t m0, int64_t mc, int64_t k0,
                   int64_t kc, int mr, float alpha) {
    for (int64_t p = 0; p < mc; p += mr) {
        int64_t rows = mc - p < mr ? mc - p : mr;
        for (int64_t k = 0; k < kc; k++) {
            for (int64_t i = 0; i < rows; i++) {
                int64_t r = m0 + p + i, c = k0 + k;
                float v = trans ? A[c * lda + r] : A[r * lda + c];
                dst[k * mr + i] = v * alpha;
            }
            for (int64_t i = rows; i < mr; i++) dst[k * mr + i] = 0;
        }
        dst += kc * mr;
    }
}

/* pack op(B)[k0:k0+kc, n0:n0+nc] into nr-col panels: panel holds b[k][j] at [k*nr + j] */
static void pack_b(float *dst, const float *B, int64_t ldb, int trans, int64_t n0, int64_t nc, int64_t k0,
                   int64_t kc, int nr) {
    for (int64_t p = 0; p < nc; p += nr) {
        int64_t cols = nc - p < nr ? nc - p : nr;
        if (!trans && cols == nr) {
            for (int64_t k = 0; k < kc; k++) memcpy(dst + k * nr, B + (k0 + k) * ldb + n0 + p, sizeof(float) * (size_t)nr);
        } else {
            for (int64_t k = 0; k < kc; k++) {
                for (int64_t j = 0; j < cols; j++) {
                    int64_t r = k0 + k, c = n0 + p + j;
                    dst[k * nr + j] = trans ? B[c * ldb + r] : B[r * ldb + c];
                }
                for (int64_t j = cols; j < nr; j++) dst[k * nr + j] = 0;
            }
        }
        dst += kc * nr;
    }
}

static int64_t rup(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

it_packed *it_sgemm_pack(int which, int trans, int64_t rows, int64_t cols, const float *p, int64_t ld) {
    const it_kernel_table *kt = it_kernels();
    it_packed *pk = calloc(1, sizeof *pk);
    if (!pk) return NULL;
    pk->which = which;
    pk->rows = rows;
    pk->cols = cols;
    if (which == 0) {
        int64_t M = rows, K = cols;
        pk->r = kt->mr;
        pk->data = it_malloc(sizeof(float) * (size_t)(rup(M, kt->mr) * (K ? K : 1)));
        if (!pk->data) { free(pk); return NULL; }
        float *d = pk->data;
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            int64_t kc = K - k0 < KC ? K - k0 : KC;
            pack_a(d, p, ld, trans, 0, M, k0, kc, kt->mr, 1.f);
            d += rup(M, kt->mr) * kc;
        }
    } else {
        int64_t K = rows, N = cols;
        pk->r = kt->nr;
        pk->data = it_malloc(sizeof(float) * (size_t)(rup(N, kt->nr) * (K ? K : 1)));
        if (!pk->data) { free(pk); return NULL; }
        float *d = pk->data;
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            int64_t kc = K - k0 < KC ? K - k0 : KC;
            pack_b(d, p, ld, trans, 0, N, k0, kc, kt->nr);
            d += rup(N, kt->nr) * kc;
        }
    }
    return pk;
}

void it_packed_free(it_packed *p) {
    if (!p) return;
    it_free(p->data);
    free(p);
}

typedef struct job {
    const it_kernel_table *kt;
    int64_t M, N, K, k0, kc;
    const float *pa, *pb; /* packed blocks for this kc */
    float *C;
    int64_t ldc;
    int accumulate;
    int64_t tiles_m, tiles_n;
    /* packing work */
    const float *A, *B;
    int64_t lda, ldb;
    int ta, tb;
    float alpha;
    float *wa, *wb;
} job;

static void tile_task(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    job *j = arg;
    const it_kernel_table *kt = j->kt;
    int mr = kt->mr, nr = kt->nr;
    for (int64_t t = b; t < e; t++) {
        int64_t tm = t / j->tiles_n, tn = t % j->tiles_n;
        int64_t m_lo = tm * MC_PANELS * mr, n_lo = tn * NC_PANELS * nr;
        int64_t m_hi = m_lo + MC_PANELS * mr, n_hi = n_lo + NC_PANELS * nr;
        if (m_hi > j->M) m_hi = j->M;
        if (n_hi > j->N) n_hi = j->N;
        for (int64_t n0 = n_lo; n0 < n_hi; n0 += nr) {
            const float *bp = j->pb + (n0 / nr) * j->kc * nr;
            int n = (int)(n_hi - n0 < nr ? n_hi - n0 : nr);
            for (int64_t m0 = m_lo; m0 < m_hi; m0 += mr) {
                const float *ap = j->pa + (m0 / mr) * j->kc * mr;
                int m = (int)(m_hi - m0 < mr ? m_hi - m0 : mr);
                kt->sgemm_micro(j->kc, ap, bp, j->C + m0 * j->ldc + n0, j->ldc, j->accumulate, m, n);
            }
        }
    }
}

static void pack_a_task(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    job *j = arg;
    int mr = j->kt->mr;
    for (int64_t p = b; p < e; p++) {
        int64_t m0 = p * mr, mc = j->M - m0 < mr ? j->M - m0 : mr;
        pack_a(j->wa + p * j->kc * mr, j->A, j->lda, j->ta, m0, mc, j->k0, j->kc, mr, j->alpha);
    }
}

static void pack_b_task(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    job *j = arg;
    int nr = j->kt->nr;
    for (int64_t p = b; p < e; p++) {
        int64_t n0 = p * nr, nc = j->N - n0 < nr ? j->N - n0 : nr;
        pack_b(j->wb + p * j->kc * nr, j->B, j->ldb, j->tb, n0, nc, j->k0, j->kc, nr);
    }
}

typedef struct epi_job {
    float *C;
    int64_t ldc, N;
    const it_epilogue *ep;
} epi_job;

static void epi_task(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    epi_job *j = arg;
    for (int64_t i = b; i < e; i++) {
        float *row = j->C + i * j->ldc;
        if (j->ep->bias_m) {
            float bv = j->ep->bias_m[i];
            for (int64_t n = 0; n < j->N; n++) row[n] += bv;
        }
        if (j->ep->bias_n)
            for (int64_t n = 0; n < j->N; n++) row[n] += j->ep->bias_n[n];
        if (j->ep->act.kind) it_act_apply(row, j->N, &j->ep->act);
    }
}

void it_sgemm_ex(it_threadpool *tp, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                 int trans_a, const it_packed *Ap, const float *B, int64_t ldb, int trans_b,
                 const it_packed *Bp, float *C, int64_t ldc, const it_epilogue *ep) {
    static const it_epilogue none = {1.f, 0.f, NULL, NULL, {0, 0, 0}};
    if (!ep) ep = &none;
    if (M <= 0 || N <= 0) return;
    const it_kernel_table *kt = it_kernels();
    int mr = kt->mr, nr = kt->nr;
    if (Ap && Ap->r != mr) Ap = NULL; /* packed for another tier: cannot happen in one process */
    if (Bp && Bp->r != nr) Bp = NULL;
    /* beta: scale or clear C first, then accumulate every K block */
    if (ep->beta == 0.f || K == 0) {
        for (int64_t i = 0; i < M; i++) memset(C + i * ldc, 0, sizeof(float) * (size_t)N);
    } else if (ep->beta != 1.f) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t n = 0; n < N; n++) C[i * ldc + n] *= ep->beta;
    }
    float *wa = NULL, *wb = NULL;
    if (!Ap) wa = it_malloc(sizeof(float) * (size_t)(rup(M, mr) * KC));
    if (!Bp) wb = it_malloc(sizeof(float) * (size_t)(rup(N, nr) * KC));
    if ((!Ap && !wa) || (!Bp && !wb)) {
        /* out of memory: fall back to a plain loop (slow but correct) */
        for (int64_t i = 0; i < M; i++)
            for (int64_t n = 0; n < N; n++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++) {
                    float a = trans_a ? A[k * lda + i] : A[i * lda + k];
                    float b = trans_b ? B[n * ldb + k] : B[k * ldb + n];
                    s += (double)a * b;
                }
                C[i * ldc + n] += ep->alpha * (float)s;
            }
        goto epilogue;
    }
    {
        job j = {.kt = kt, .M = M, .N = N, .K = K, .C = C, .ldc = ldc, .A = A, .B = B, .lda = lda,
                 .ldb = ldb, .ta = trans_a, .tb = trans_b, .alpha = Ap ? 1.f : ep->alpha, .wa = wa, .wb = wb};
        j.tiles_m = (M + MC_PANELS * mr - 1) / (MC_PANELS * mr);
        j.tiles_n = (N + NC_PANELS * nr - 1) / (NC_PANELS * nr);
        const float *pa_base = Ap ? Ap->data : NULL, *pb_base = Bp ? Bp->data : NULL;
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            int64_t kc = K - k0 < KC ? K - k0 : KC;
            j.k0 = k0;
            j.kc = kc;
            if (Ap) { j.pa = pa_base; pa_base += rup(M, mr) * kc; }
            else { it_parallel_for(tp, (M + mr - 1) / mr, 4, pack_a_task, &j); j.pa = wa; }
            if (Bp) { j.pb = pb_base; pb_base += rup(N, nr) * kc; }
            else { it_parallel_for(tp, (N + nr - 1) / nr, 4, pack_b_task, &j); j.pb = wb; }
            j.accumulate = 1;
            it_parallel_for(tp, j.tiles_m * j.tiles_n, 1, tile_task, &j);
        }
        if (Ap && ep->alpha != 1.f) {
            /* packed A carries no alpha; only valid when beta == 0 */
            for (int64_t i = 0; i < M; i++)
                for (int64_t n = 0; n < N; n++) C[i * ldc + n] *= ep->alpha;
        }
    }
epilogue:
    it_free(wa);
    it_free(wb);
    if (ep->bias_m || ep->bias_n || ep->act.kind) {
        epi_job ej = {C, ldc, N, ep};
        it_parallel_for(tp, M, 16, epi_task, &ej);
    }
}

void it_sgemm(it_threadpool *tp, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    it_epilogue ep = {alpha, beta, NULL, NULL, {0, 0, 0}};
    it_sgemm_ex(tp, M, N, K, A, lda, trans_a, NULL, B, ldb, trans_b, NULL, C, ldc, &ep);
}

void it_act_apply(float *x, int64_t n, const it_act *act) {
    switch (act->kind) {
    case IT_ACT_RELU: for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0; break;
    case IT_ACT_CLIP: for (int64_t i = 0; i < n; i++) x[i] = x[i] < act->a ? act->a : x[i] > act->b ? act->b : x[i]; break;
    case IT_ACT_SIGMOID: for (int64_t i = 0; i < n; i++) x[i] = 1.f / (1.f + expf(-x[i])); break;
    case IT_ACT_LEAKY: for (int64_t i = 0; i < n; i++) x[i] = x[i] >= 0 ? x[i] : x[i] * act->a; break;
    case IT_ACT_HARDSIGMOID:
        for (int64_t i = 0; i < n; i++) { float v = act->a * x[i] + act->b; x[i] = v < 0 ? 0 : v > 1 ? 1 : v; }
        break;
    case IT_ACT_TANH: for (int64_t i = 0; i < n; i++) x[i] = tanhf(x[i]); break;
    case IT_ACT_HARDSWISH:
        for (int64_t i = 0; i < n; i++) { float v = x[i] / 6.f + 0.5f; v = v < 0 ? 0 : v > 1 ? 1 : v; x[i] *= v; }
        break;
    default: break;
    }
}
