/*
 * gemm.c: single-precision matrix multiplication, the kernel behind MatMul,
 * Gemm, Conv (1x1 directly, others through implicit-GEMM patch packing) and
 * attention. Goto-style blocking: B is cut into NCB-column x KC-deep blocks
 * packed in nr-column panels (or taken prepacked, or produced by a caller's
 * packing callback for convolution patches); A is packed per task in MC-row
 * tiles of mr-row panels (or taken prepacked: constant weights are packed once
 * with it_sgemm_pack). Tasks (M tile x N sub-tile) run on the pool; the
 * micro-kernel applies bias, scale and the fused activation to each register
 * tile on the last K block while it is still in cache. When no packed B block
 * is shared between tasks (B prepacked, or one M tile whose tasks pack their
 * own panels) a task runs the whole K loop and the product is one pool job;
 * otherwise each K block is one job whose tile tasks run beside the packing
 * tasks of the next block (double-buffered), so packing is never a serial step.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#define KC 256        /* depth of a packed block */
#define MC_PANELS 16  /* mr-panels per M tile (A tile ~ 16*mr x KC floats, L2 resident) */
#define NCB 512      /* columns of a packed B block */

struct it_packed {
    int which;        /* 0: A [M,K] in mr-panels, 1: B [K,N] in nr-panels */
    int64_t rows, cols;
    int r;            /* panel width (mr or nr) the data was packed for */
    float *data;      /* block kb (k0 = kb*KC) starts at k0 * rup(M or N, r) */
};

static int64_t rup(int64_t a, int64_t b) { return (a + b - 1) / b * b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* pack op(A)[m0:m0+mc, k0:k0+kc] into mr-row panels: panel p holds a[k][i] at [k*mr + i] */
static void pack_a(float *dst, const float *A, int64_t lda, int trans, int64_t m0, int64_t mc, int64_t k0,
                   int64_t kc, int mr, float alpha) {
    for (int64_t p = 0; p < mc; p += mr) {
        int64_t rows = mc - p < mr ? mc - p : mr;
        if (trans) {
            for (int64_t k = 0; k < kc; k++) {
                const float *src = A + (k0 + k) * lda + m0 + p;
                float *d = dst + k * mr;
                int64_t i = 0;
                for (; i < rows; i++) d[i] = src[i] * alpha;
                for (; i < mr; i++) d[i] = 0;
            }
        } else {
            for (int64_t i = 0; i < rows; i++) {
                const float *src = A + (m0 + p + i) * lda + k0;
                if (alpha == 1.f)
                    for (int64_t k = 0; k < kc; k++) dst[k * mr + i] = src[k];
                else
                    for (int64_t k = 0; k < kc; k++) dst[k * mr + i] = src[k] * alpha;
            }
            for (int64_t i = rows; i < mr; i++)
                for (int64_t k = 0; k < kc; k++) dst[k * mr + i] = 0;
        }
        dst += kc * mr;
    }
}

/* pack op(B)[k0:k0+kc, n0:n0+cols] into consecutive nr-column panels (zero-padded) */
static void pack_b_panels(float *dst, const float *B, int64_t ldb, int trans, int64_t n0, int64_t cols,
                          int64_t k0, int64_t kc, int nr, float alpha) {
    int64_t np = (cols + nr - 1) / nr;
    if (!trans) {
        /* row by row across all panels: contiguous reads of B */
        for (int64_t k = 0; k < kc; k++) {
            const float *src = B + (k0 + k) * ldb + n0;
            for (int64_t p = 0; p < np; p++) {
                float *d = dst + p * kc * nr + k * nr;
                int64_t w = cols - p * nr < nr ? cols - p * nr : nr, j = 0;
                const float *sp = src + p * nr;
                if (alpha == 1.f) {
                    if (w == nr) { memcpy(d, sp, sizeof(float) * (size_t)nr); continue; }
                    for (; j < w; j++) d[j] = sp[j];
                } else {
                    for (; j < w; j++) d[j] = sp[j] * alpha;
                }
                for (; j < nr; j++) d[j] = 0;
            }
        }
    } else {
        for (int64_t p = 0; p < np; p++) {
            float *d = dst + p * kc * nr;
            int64_t w = cols - p * nr < nr ? cols - p * nr : nr;
            for (int64_t j = 0; j < w; j++) {
                const float *src = B + (n0 + p * nr + j) * ldb + k0;
                for (int64_t k = 0; k < kc; k++) d[k * nr + j] = src[k] * alpha;
            }
            for (int64_t j = w; j < nr; j++)
                for (int64_t k = 0; k < kc; k++) d[k * nr + j] = 0;
        }
    }
}

it_packed *it_sgemm_pack_for(const it_kernel_table *kt, int which, int trans, int64_t rows, int64_t cols,
                             const float *p, int64_t ld) {
    if (!kt || rows < 0 || cols < 0) return NULL;
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
            int64_t kc = min64(K - k0, KC);
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
            int64_t kc = min64(K - k0, KC);
            pack_b_panels(d, p, ld, trans, 0, N, k0, kc, kt->nr, 1.f);
            d += rup(N, kt->nr) * kc;
        }
    }
    return pk;
}

it_packed *it_sgemm_pack(int which, int trans, int64_t rows, int64_t cols, const float *p, int64_t ld) {
    return it_sgemm_pack_for(it_kernels(), which, trans, rows, cols, p, ld);
}

void it_packed_free(it_packed *p) {
    if (!p) return;
    it_free(p->data);
    free(p);
}

typedef struct drv {
    const it_kernel_table *kt;
    int64_t M, N, K;
    const float *A; int64_t lda; int ta; const it_packed *Ap; float alpha_a;
    const float *B; int64_t ldb; int tb; const it_packed *Bp; it_pack_b_fn cb; void *cbctx; float alpha_b;
    float *C; int64_t ldc;
    const it_epilogue *ep;
    it_micro_epi mep;   /* bias pointers relative to the whole C */
    int post_act;       /* activation the micro-kernel does not vectorize */
    /* current block (shared-B path): tiles of K block k0/kc read wb_cur while the
       same job packs the next K block (pk0/pkc) into wb_next */
    int64_t n0, nc, k0, kc, pk0, pkc;
    int last;
    int fused_b;        /* tasks pack their own B panels (one M tile) */
    float *wb;          /* packed B blocks, two of rup(NCB, nr) x KC (double buffer) */
    const float *wb_cur;
    float *wb_next;
    float *wa;          /* per-thread A tiles (MC x KC each) */
    float *wbt;         /* per-thread B panels when fused */
    int64_t wbt_stride; /* floats per thread in wbt */
    int64_t m_tiles, n_sub, sub_panels;
    int64_t mt;           /* rows per M tile of a whole-K task (<= MC_PANELS * mr) */
    int64_t n_tile_tasks; /* tasks [0, n_tile_tasks) are tiles, the rest pack B */
    int64_t pk_split, pk_tasks; /* B packing: each panel cut in pk_split K ranges */
} drv;

static int micro_act(int kind) {
    return kind == IT_ACT_RELU || kind == IT_ACT_CLIP || kind == IT_ACT_LEAKY || kind == IT_ACT_HARDSIGMOID ||
           kind == IT_ACT_HARDSWISH;
}

/* pack the panels covering columns [n0, n0+cols) of K rows [k0, k0+kc) */
static void get_b_panels(const drv *d, float *dst, int64_t k0, int64_t kc, int64_t n0, int64_t cols) {
    int nr = d->kt->nr;
    if (d->cb) {
        d->cb(d->cbctx, dst, k0, kc, n0, cols, nr);
        if (d->alpha_b != 1.f)
            for (int64_t i = 0; i < kc * rup(cols, nr); i++) dst[i] *= d->alpha_b;
    } else {
        pack_b_panels(dst, d->B, d->ldb, d->tb, n0, cols, k0, kc, nr, d->alpha_b);
    }
}

/* B packing task t of the block k0/kc: panel t / pk_split, its K range t % pk_split
 * (one panel per call, so the range's rows land at their offset inside the panel) */
static void pack_b_one(const drv *d, float *wb, int64_t k0, int64_t kc, int64_t t) {
    int nr = d->kt->nr;
    int64_t p = t / d->pk_split, s = t % d->pk_split;
    int64_t step = (kc + d->pk_split - 1) / d->pk_split, kb = s * step, ke = min64(kc, kb + step);
    if (kb >= ke) return;
    int64_t n0 = d->n0 + p * nr;
    get_b_panels(d, wb + p * kc * nr + kb * nr, k0 + kb, ke - kb, n0, min64(d->n0 + d->nc - n0, nr));
}

static void pack_b_task(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    drv *d = arg;
    for (int64_t t = b; t < e; t++) pack_b_one(d, d->wb_next, d->pk0, d->pkc, t);
}

/* the register tiles of rows [m_lo, m_hi) x panels [p_lo, p_hi) (of the block at
 * column d->n0 when B is shared, else of the whole N) for K block k0/kc */
static void tile_run(const drv *d, int tid, int64_t k0, int64_t kc, int last, int64_t m_lo, int64_t m_hi,
                     int64_t nb0, int64_t nb1, int64_t p_lo, int64_t p_hi) {
    const it_kernel_table *kt = d->kt;
    int mr = kt->mr, nr = kt->nr;
    int64_t mc_rows = (int64_t)MC_PANELS * mr;
    float *wa = d->wa ? d->wa + (size_t)tid * (size_t)(mc_rows * KC) : NULL;
    float *wbt = d->wbt ? d->wbt + (size_t)tid * (size_t)d->wbt_stride : NULL;
    const float *pa;
    if (d->Ap) {
        pa = d->Ap->data + k0 * rup(d->M, mr) + m_lo * kc;
    } else {
        pack_a(wa, d->A, d->lda, d->ta, m_lo, m_hi - m_lo, k0, kc, mr, d->alpha_a);
        pa = wa;
    }
    if (d->fused_b) {
        int64_t n0 = nb0 + p_lo * nr;
        get_b_panels(d, wbt, k0, kc, n0, min64(nb1 - n0, (p_hi - p_lo) * nr));
    }
    int acc = k0 > 0 || d->ep->beta != 0.f;
    for (int64_t p = p_lo; p < p_hi; p++) {
        int64_t n0 = nb0 + p * nr;
        int n = (int)min64(nb1 - n0, nr);
        const float *pb;
        if (d->Bp) pb = d->Bp->data + k0 * rup(d->N, nr) + n0 * kc;
        else if (d->fused_b) pb = wbt + (p - p_lo) * kc * nr;
        else pb = d->wb_cur + p * kc * nr;
        for (int64_t m0 = m_lo; m0 < m_hi; m0 += mr) {
            int m = (int)min64(m_hi - m0, mr);
            float *c = d->C + m0 * d->ldc + n0;
            const float *ap = pa + (m0 - m_lo) * kc;
            if (last) {
                it_micro_epi me = d->mep;
                if (me.bias_m) me.bias_m += m0;
                if (me.bias_n) me.bias_n += n0;
                kt->sgemm_micro(kc, ap, pb, c, d->ldc, acc, m, n, &me);
                if (d->post_act)
                    for (int i = 0; i < m; i++) it_act_apply(c + i * d->ldc, n, &d->ep->act);
            } else {
                kt->sgemm_micro(kc, ap, pb, c, d->ldc, acc, m, n, NULL);
            }
        }
    }
}

/* shared B block: tiles of the current K block, then packing of the next one */
static void tile_task(void *arg, int64_t b, int64_t e, int tid) {
    drv *d = arg;
    int64_t mc_rows = (int64_t)MC_PANELS * d->kt->mr;
    int64_t panels_n = (d->nc + d->kt->nr - 1) / d->kt->nr;
    for (int64_t t = b; t < e; t++) {
        if (t >= d->n_tile_tasks) {
            pack_b_one(d, d->wb_next, d->pk0, d->pkc, t - d->n_tile_tasks);
            continue;
        }
        int64_t tm = t / d->n_sub, tn = t % d->n_sub;
        int64_t m_lo = tm * mc_rows, m_hi = min64(m_lo + mc_rows, d->M);
        int64_t p_lo = tn * d->sub_panels, p_hi = min64(p_lo + d->sub_panels, panels_n);
        tile_run(d, tid, d->k0, d->kc, d->last, m_lo, m_hi, d->n0, d->n0 + d->nc, p_lo, p_hi);
    }
}

/* B prepacked or packed per task (nothing shared between tasks): a task owns its
 * (M tile, column range) for the whole K loop, one job per product */
static void whole_task(void *arg, int64_t b, int64_t e, int tid) {
    drv *d = arg;
    int64_t panels_n = (d->N + d->kt->nr - 1) / d->kt->nr;
    for (int64_t t = b; t < e; t++) {
        int64_t tm = t / d->n_sub, tn = t % d->n_sub;
        int64_t m_lo = tm * d->mt, m_hi = min64(m_lo + d->mt, d->M);
        int64_t p_lo = tn * d->sub_panels, p_hi = min64(p_lo + d->sub_panels, panels_n);
        for (int64_t k0 = 0; k0 < d->K; k0 += KC) {
            int64_t kc = min64(d->K - k0, KC);
            tile_run(d, tid, k0, kc, k0 + kc >= d->K, m_lo, m_hi, 0, d->N, p_lo, p_hi);
        }
    }
}

/* pack the whole op(A) once (all K blocks) when the caller gave it raw */
typedef struct apack_job {
    const drv *d;
    float *dst;
    int64_t panels;
} apack_job;

static void apack_task(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    apack_job *j = arg;
    const drv *d = j->d;
    int mr = d->kt->mr;
    for (int64_t t = b; t < e; t++) {
        int64_t kb = t / j->panels, p = t % j->panels;
        int64_t k0 = kb * KC, kc = min64(d->K - k0, KC), m0 = p * mr;
        pack_a(j->dst + k0 * rup(d->M, mr) + m0 * kc, d->A, d->lda, d->ta, m0, min64(d->M - m0, mr), k0, kc, mr,
               d->alpha_a);
    }
}

/* epilogue on its own (K == 0, alpha == 0, or the out-of-memory fallback) */
static void epi_rows(const drv *d, int64_t b, int64_t e) {
    const it_epilogue *ep = d->ep;
    for (int64_t i = b; i < e; i++) {
        float *row = d->C + i * d->ldc;
        if (ep->bias_m) for (int64_t n = 0; n < d->N; n++) row[n] += ep->bias_m[i];
        if (ep->bias_n) for (int64_t n = 0; n < d->N; n++) row[n] += ep->bias_n[n];
        if (ep->act.kind) it_act_apply(row, d->N, &ep->act);
    }
}

static void epi_task(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    epi_rows(arg, b, e);
}

/* N == 1: one dot product per row of A (A not transposed, B a column). */
typedef struct gemv_job {
    const drv *d;
    const float *x;
    float alpha;
} gemv_job;

static void gemv_task(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    gemv_job *g = arg;
    const drv *d = g->d;
    for (int64_t i = b; i < e; i++) {
        float s = d->kt->sdot(d->A + i * d->lda, g->x, d->K) * g->alpha;
        float *c = d->C + i * d->ldc;
        *c = d->ep->beta == 0.f ? s : s + *c * d->ep->beta;
    }
    epi_rows(d, b, e);
}

static void scale_c(float *C, int64_t ldc, int64_t M, int64_t N, float beta) {
    for (int64_t i = 0; i < M; i++) {
        float *r = C + i * ldc;
        if (beta == 0.f) memset(r, 0, sizeof(float) * (size_t)N);
        else if (beta != 1.f) for (int64_t n = 0; n < N; n++) r[n] *= beta;
    }
}

/* workspace: the pool's grow-only scratch when there is a pool, else malloc (own) */
static void *ws_get(it_threadpool *tp, int slot, size_t bytes, void **own) {
    void *p = it_threadpool_scratch(tp, slot, bytes);
    if (!p) p = *own = it_malloc(bytes);
    return p;
}
static void ws_put(void **own) {
    for (int i = 0; i < 4; i++) it_free(own[i]);
}

static void drive(drv *d, it_threadpool *tp) {
    static const it_epilogue none = {1.f, 0.f, NULL, NULL, {0, 0, 0}};
    if (!d->ep) d->ep = &none;
    const it_epilogue *ep = d->ep;
    const it_kernel_table *kt = d->kt;
    int64_t M = d->M, N = d->N, K = d->K;
    int mr = kt->mr, nr = kt->nr;
    if (M <= 0 || N <= 0) return;
    if (d->Ap && d->Ap->r != mr) d->Ap = NULL; /* packed for another tier: never in one process */
    if (d->Bp && d->Bp->r != nr) d->Bp = NULL;
    if (K == 0 || ep->alpha == 0.f) {
        scale_c(d->C, d->ldc, M, N, ep->beta);
        it_parallel_for(tp, M, 16, epi_task, d);
        return;
    }
    float alpha = ep->alpha, beta = ep->beta;
    int nthr = it_threadpool_size(tp);
    if (N == 1 && d->A && !d->ta && !d->Bp && !d->cb && kt->sdot) { /* GEMV: raw rows beat packed panels */
        float *x = NULL;
        const float *xv = d->B;
        if (!d->tb && d->ldb != 1) {
            x = it_malloc(sizeof(float) * (size_t)K);
            if (x) { for (int64_t k = 0; k < K; k++) x[k] = d->B[k * d->ldb]; xv = x; }
        }
        if (xv != d->B || d->tb || d->ldb == 1) {
            gemv_job g = {d, xv, alpha};
            it_parallel_for(tp, M, 64, gemv_task, &g);
            it_free(x);
            return;
        }
    }
    d->alpha_a = d->alpha_b = 1.f;
    if (alpha != 1.f) {
        if (!d->Ap) d->alpha_a = alpha;
        else if (!d->Bp) d->alpha_b = alpha;
        else {
            /* both operands prepacked (rare): unscaled product into C prescaled by
               beta/alpha, then scale by alpha and apply the epilogue */
            if (beta != 0.f) scale_c(d->C, d->ldc, M, N, beta / alpha);
            it_epilogue e3 = {1.f, beta != 0.f ? 1.f : 0.f, NULL, NULL, {0, 0, 0}};
            drv d2 = *d;
            d2.ep = &e3;
            drive(&d2, tp);
            for (int64_t i = 0; i < M; i++)
                for (int64_t n = 0; n < N; n++) d->C[i * d->ldc + n] *= alpha;
            it_parallel_for(tp, M, 16, epi_task, d);
            return;
        }
    }
    if (beta != 0.f && beta != 1.f) scale_c(d->C, d->ldc, M, N, beta);
    /* the micro-kernels accumulate into C when beta != 0: C is prescaled, so use 1 */
    it_epilogue ep2 = *ep;
    ep2.beta = beta != 0.f ? 1.f : 0.f;
    d->ep = &ep2;
    d->mep.bias_m = ep->bias_m;
    d->mep.bias_n = ep->bias_n;
    d->mep.act_kind = micro_act(ep->act.kind) ? ep->act.kind : 0;
    d->mep.act_a = ep->act.a;
    d->mep.act_b = ep->act.b;
    d->post_act = ep->act.kind && !micro_act(ep->act.kind);

    int64_t mc_rows = (int64_t)MC_PANELS * mr;
    d->m_tiles = (M + mc_rows - 1) / mc_rows;
    void *own[4] = {NULL, NULL, NULL, NULL}; /* buffers malloc'd because there is no pool */
    /* raw A: pack it once for the whole product rather than once per task and N block */
    it_packed tmpA;
    float *tmpA_data = NULL;
    if (!d->Ap && rup(M, mr) * K <= ((int64_t)1 << 24) && (N > NCB || d->m_tiles > 1 || nthr > 1)) {
        tmpA_data = ws_get(tp, 0, sizeof(float) * (size_t)(rup(M, mr) * K), &own[0]);
        if (tmpA_data) {
            apack_job aj = {d, tmpA_data, (M + mr - 1) / mr};
            it_parallel_for(tp, aj.panels * ((K + KC - 1) / KC), 8, apack_task, &aj);
            tmpA = (it_packed){0, M, K, mr, tmpA_data};
            d->Ap = &tmpA;
            d->alpha_a = 1.f;
        }
    }
    d->wa = d->Ap ? NULL : ws_get(tp, 1, sizeof(float) * (size_t)(nthr * mc_rows * KC), &own[1]);
    int64_t ncb = min64(N, NCB);
    d->fused_b = !d->Bp && d->m_tiles == 1;
    d->wb = (d->Bp || d->fused_b) ? NULL : ws_get(tp, 2, sizeof(float) * (size_t)(2 * rup(ncb, nr) * KC), &own[2]);
    d->wbt_stride = (ncb + nr - 1) / nr * KC * nr; /* the most panels one task packs */
    d->wbt = d->fused_b ? ws_get(tp, 3, sizeof(float) * (size_t)(nthr * d->wbt_stride), &own[3]) : NULL;
    if ((!d->Ap && !d->wa) || (!d->Bp && !d->fused_b && !d->wb) || (d->fused_b && !d->wbt)) {
        d->ep = ep;
        epi_rows(d, 0, M);
        return;
    }
    int64_t want = (int64_t)nthr * 3; /* enough tasks to balance the pool */
    if (!d->wb) {
        /* no shared B block: one job, tasks of at most NCB columns over the whole K */
        int64_t panels = (N + nr - 1) / nr, maxp = (ncb + nr - 1) / nr;
        /* packing tasks: their panels stay in L2 between the packing and the products */
        if (d->fused_b && maxp > 256 / nr) maxp = 256 / nr > 1 ? 256 / nr : 1;
        int64_t n_sub = (panels + maxp - 1) / maxp;
        if (nthr > 1 && d->m_tiles * n_sub < want) n_sub = (want + d->m_tiles - 1) / d->m_tiles;
        if (n_sub > panels) n_sub = panels;
        d->sub_panels = (panels + n_sub - 1) / n_sub;
        d->n_sub = (panels + d->sub_panels - 1) / d->sub_panels;
        /* few column panels (small maps): cut M finer so every thread has work */
        d->mt = mc_rows;
        int64_t tm = d->m_tiles;
        if (nthr > 1 && tm * d->n_sub < want) {
            tm = (want + d->n_sub - 1) / d->n_sub;
            if (tm > (M + mr - 1) / mr) tm = (M + mr - 1) / mr;
            d->mt = rup((M + tm - 1) / tm, mr);
            tm = (M + d->mt - 1) / d->mt;
        }
        it_parallel_for(tp, tm * d->n_sub, 1, whole_task, d);
        ws_put(own);
        return;
    }
    float *wbuf[2] = {d->wb, d->wb + rup(ncb, nr) * KC};
    for (int64_t n0 = 0; n0 < N; n0 += NCB) {
        d->n0 = n0;
        d->nc = min64(N - n0, NCB);
        int64_t panels = (d->nc + nr - 1) / nr;
        /* each task at least a few panels wide */
        int64_t n_sub = d->m_tiles >= want ? 1 : (want + d->m_tiles - 1) / d->m_tiles;
        if (nthr == 1) n_sub = 1;
        if (n_sub > panels) n_sub = panels;
        d->sub_panels = (panels + n_sub - 1) / n_sub;
        d->n_sub = (panels + d->sub_panels - 1) / d->sub_panels;
        d->n_tile_tasks = d->m_tiles * d->n_sub;
        /* few panels: cut each panel's packing by K so it spreads over the pool */
        d->pk_split = 1;
        if (nthr > 1 && panels < 4 * nthr) {
            d->pk_split = (4 * nthr + panels - 1) / panels;
            if (d->pk_split > KC / 32) d->pk_split = KC / 32;
        }
        d->pk_tasks = panels * d->pk_split;
        /* pack K block 0, then each job runs the tiles of block kb and packs block kb+1 */
        d->pk0 = 0;
        d->pkc = min64(K, KC);
        d->wb_next = wbuf[0];
        it_parallel_for(tp, d->pk_tasks, 1, pack_b_task, d);
        int cur = 0;
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            d->k0 = k0;
            d->kc = min64(K - k0, KC);
            d->last = k0 + d->kc >= K;
            d->wb_cur = wbuf[cur];
            d->wb_next = wbuf[cur ^ 1];
            d->pk0 = k0 + d->kc;
            d->pkc = d->last ? 0 : min64(K - d->pk0, KC);
            it_parallel_for(tp, d->n_tile_tasks + (d->last ? 0 : d->pk_tasks), 1, tile_task, d);
            cur ^= 1;
        }
    }
    ws_put(own);
}

void it_sgemm_ex_for(const it_kernel_table *kt, it_threadpool *tp, int64_t M, int64_t N, int64_t K,
                     const float *A, int64_t lda, int trans_a, const it_packed *Ap, const float *B, int64_t ldb,
                     int trans_b, const it_packed *Bp, float *C, int64_t ldc, const it_epilogue *ep) {
    drv d;
    memset(&d, 0, sizeof d);
    d.kt = kt;
    d.M = M; d.N = N; d.K = K;
    d.A = A; d.lda = lda; d.ta = trans_a; d.Ap = Ap;
    d.B = B; d.ldb = ldb; d.tb = trans_b; d.Bp = Bp;
    d.C = C; d.ldc = ldc; d.ep = ep;
    drive(&d, tp);
}

void it_sgemm_ex(it_threadpool *tp, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                 int trans_a, const it_packed *Ap, const float *B, int64_t ldb, int trans_b,
                 const it_packed *Bp, float *C, int64_t ldc, const it_epilogue *ep) {
    it_sgemm_ex_for(it_kernels(), tp, M, N, K, A, lda, trans_a, Ap, B, ldb, trans_b, Bp, C, ldc, ep);
}

void it_sgemm_cb(it_threadpool *tp, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, int trans_a,
                 const it_packed *Ap, it_pack_b_fn pack_b, void *pack_ctx, float *C, int64_t ldc,
                 const it_epilogue *ep) {
    drv d;
    memset(&d, 0, sizeof d);
    d.kt = it_kernels();
    d.M = M; d.N = N; d.K = K;
    d.A = A; d.lda = lda; d.ta = trans_a; d.Ap = Ap;
    d.cb = pack_b; d.cbctx = pack_ctx;
    d.C = C; d.ldc = ldc; d.ep = ep;
    drive(&d, tp);
}

void it_sgemm(it_threadpool *tp, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    it_epilogue ep = {alpha, beta, NULL, NULL, {0, 0, 0}};
    it_sgemm_ex(tp, M, N, K, A, lda, trans_a, NULL, B, ldb, trans_b, NULL, C, ldc, &ep);
}

typedef float act_v4 __attribute__((vector_size(16)));
typedef int32_t act_v4i __attribute__((vector_size(16)));

static inline act_v4 act_sel(act_v4i m, act_v4 a, act_v4 b) {
    return (act_v4)(((act_v4i)a & m) | ((act_v4i)b & ~m));
}

/* 4 lanes of the piecewise-linear activations, with the scalar loop's exact
 * semantics (NaN handling, comparison order, x / 6 in hardswish) */
static inline act_v4 act_vec(act_v4 x, int kind, float pa, float pb) {
    act_v4 zero = {0, 0, 0, 0}, one = {1, 1, 1, 1}, a = {pa, pa, pa, pa}, b = {pb, pb, pb, pb};
    switch (kind) {
    case IT_ACT_RELU: return (act_v4)((act_v4i)x & (x > zero));
    case IT_ACT_CLIP: return act_sel(x < a, a, act_sel(x > b, b, x));
    case IT_ACT_LEAKY: return act_sel(x >= zero, x, x * a);
    case IT_ACT_HARDSIGMOID: {
        act_v4 v = a * x + b;
        return act_sel(v < zero, zero, act_sel(v > one, one, v));
    }
    default: { /* hardswish */
        act_v4 six = {6, 6, 6, 6}, half = {0.5f, 0.5f, 0.5f, 0.5f};
        act_v4 v = x / six + half;
        return x * act_sel(v < zero, zero, act_sel(v > one, one, v));
    }
    }
}

void it_act_apply(float *x, int64_t n, const it_act *act) {
    int k = act->kind;
    if (k == IT_ACT_RELU || k == IT_ACT_CLIP || k == IT_ACT_LEAKY || k == IT_ACT_HARDSIGMOID || k == IT_ACT_HARDSWISH) {
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) {
            act_v4 v0, v1;
            memcpy(&v0, x + i, sizeof v0);
            memcpy(&v1, x + i + 4, sizeof v1);
            v0 = act_vec(v0, k, act->a, act->b);
            v1 = act_vec(v1, k, act->a, act->b);
            memcpy(x + i, &v0, sizeof v0);
            memcpy(x + i + 4, &v1, sizeof v1);
        }
        x += i;
        n -= i;
    }
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
