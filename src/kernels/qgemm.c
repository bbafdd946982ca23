/*
 * qgemm.c: the portable part of the 8-bit integer GEMM (see qgemm.h): tier
 * selection from the CPU features, operand packing, the scalar reference
 * micro-kernel and requantization, and the multithreaded driver that walks
 * the tiles and applies the epilogue (zero points, bias, int32 store or
 * requantization to u8/s8). Workload: QLinearConv / QLinearMatMul /
 * ConvInteger / MatMulInteger of quantized CNNs and transformers.
 */
#include "kernels/qgemm.h"

#include <math.h>
#include <string.h>

#define REF_MR 4
#define REF_NR 8
#define REF_KG 4
#define MAX_TILE (16 * 64) /* largest mr * nr of any tier */

/* ---- scalar reference tier ---- */

static void micro_ref(int64_t kp, const void *a, const void *b, int32_t *c, int a_unsigned) {
    const uint8_t *A = a, *B = b;
    uint32_t acc[REF_MR][REF_NR];
    memset(acc, 0, sizeof acc);
    for (int64_t g = 0; g < kp / REF_KG; g++) {
        const uint8_t *ag = A + g * REF_MR * REF_KG, *bg = B + g * REF_NR * REF_KG;
        for (int i = 0; i < REF_MR; i++)
            for (int j = 0; j < REF_NR; j++) {
                int32_t s = 0;
                for (int q = 0; q < REF_KG; q++) {
                    int av = a_unsigned ? ag[i * REF_KG + q] : (int8_t)ag[i * REF_KG + q];
                    int bv = a_unsigned ? (int8_t)bg[j * REF_KG + q] : bg[j * REF_KG + q];
                    s += av * bv;
                }
                acc[i][j] += (uint32_t)s;
            }
    }
    for (int i = 0; i < REF_MR; i++)
        for (int j = 0; j < REF_NR; j++) c[i * REF_NR + j] = (int32_t)acc[i][j];
}

void it_qrequant_ref(const int32_t *acc, int64_t n, int32_t add, const float *scale, int scale_vec, int32_t zp,
                     int out_s8, void *out) {
    float lo = (float)((out_s8 ? -128 : 0) - zp), hi = (float)((out_s8 ? 127 : 255) - zp);
    for (int64_t j = 0; j < n; j++) {
        float v = (float)(int32_t)((uint32_t)acc[j] + (uint32_t)add) * scale[scale_vec ? j : 0];
        if (!(v >= lo)) v = lo; /* NaN goes to the low bound, like maxps */
        if (v > hi) v = hi;
        int32_t r = (int32_t)nearbyintf(v) + zp;
        if (out_s8) ((int8_t *)out)[j] = (int8_t)r;
        else ((uint8_t *)out)[j] = (uint8_t)r;
    }
}

void it_qdw_row_ref(const uint8_t *const *src, int64_t n, int stride, int x_s8, const int32_t *w, int ntaps,
                    int32_t bias, const float *scale, int32_t zp, int out_s8, void *out) {
    for (int64_t i = 0; i < n; i++) {
        int32_t acc = bias;
        for (int t = 0; t < ntaps; t++) {
            uint8_t v = src[t][i * stride];
            acc += w[t] * (x_s8 ? (int32_t)(int8_t)v : (int32_t)v);
        }
        if (scale) it_qrequant_ref(&acc, 1, 0, scale, 0, zp, out_s8, (uint8_t *)out + i);
        else ((int32_t *)out)[i] = acc;
    }
}

void it_qadd_ref(const uint8_t *a, const uint8_t *b, int64_t n, int a_bc, int b_bc, float ra, float rb, float f, int s8,
                 uint8_t *out) {
    float lo = s8 ? -128.f : 0.f, hi = s8 ? 127.f : 255.f;
    for (int64_t i = 0; i < n; i++) {
        uint8_t ua = a[a_bc ? 0 : i], ub = b[b_bc ? 0 : i];
        float av = s8 ? (float)(int8_t)ua : (float)ua, bv = s8 ? (float)(int8_t)ub : (float)ub;
        float v = fmaf(av, ra, fmaf(bv, rb, f));
        if (!(v >= lo)) v = lo;
        if (v > hi) v = hi;
        out[i] = (uint8_t)(int32_t)nearbyintf(v);
    }
}

void it_qdw_plane_ref(const uint8_t *const *rows, int kh, int kw, int64_t n, int stride, int x_s8, const int8_t *w,
                      int32_t bias, float scale, int32_t zp, int out_s8, uint8_t *out) {
    for (int64_t j = 0; j < n; j++) {
        int32_t acc = bias;
        for (int ky = 0; ky < kh; ky++)
            for (int kx = 0; kx < kw; kx++) {
                uint8_t v = rows[ky][j * stride + kx];
                acc += w[ky * kw + kx] * (x_s8 ? (int32_t)(int8_t)v : (int32_t)v);
            }
        it_qrequant_ref(&acc, 1, 0, &scale, 0, zp, out_s8, out + j);
    }
}

void it_qquant_ref(const float *x, int64_t n, float scale, int32_t zp, int s8, uint8_t *out) {
    float lo = (float)((s8 ? -128 : 0) - zp), hi = (float)((s8 ? 127 : 255) - zp);
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] / scale;
        if (!(v >= lo)) v = lo;
        if (v > hi) v = hi;
        out[i] = (uint8_t)((int32_t)nearbyintf(v) + zp);
    }
}

void it_qcopy2d_ref(uint8_t *dst, int64_t dp, const uint8_t *src, int64_t sp, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) memcpy(dst + r * dp, src + r * sp, (size_t)cols);
}

static const it_qgemm_tier ref_tier = {IT_ISA_SCALAR, "scalar", REF_MR, REF_NR, REF_KG, 1,
                                       micro_ref, it_qrequant_ref, it_qdw_row_ref, NULL, NULL, it_qadd_ref,
                                       it_qdw_plane_ref, it_qquant_ref, it_qcopy2d_ref};

const it_qgemm_tier *it_qgemm_tier_for(int isa) {
    if (isa == IT_ISA_SCALAR) return &ref_tier;
#ifdef INGOT_HAVE_X86
    unsigned f = it_cpu_features();
    if (isa == IT_ISA_AVX2 && (f & IT_CPU_AVX2)) return it_qgemm_tier_avx2();
    if (isa == IT_ISA_AVX512 && (f & IT_CPU_AVX512) && (f & IT_CPU_VNNI)) return it_qgemm_tier_avx512();
#endif
    return NULL;
}

const it_qgemm_tier *it_qgemm_best(void) {
    const it_qgemm_tier *t = it_qgemm_tier_for(IT_ISA_AVX512);
    if (!t) t = it_qgemm_tier_for(IT_ISA_AVX2);
    return t ? t : &ref_tier;
}

/* ---- packing ---- */

int64_t it_qpack_bytes(const it_qgemm_tier *t, int which, int64_t n, int64_t K) {
    int64_t R = which ? t->nr : t->mr;
    int64_t np = (n + R - 1) / R, kp = (K + t->kg - 1) / t->kg * t->kg, r;
    if (!it_mul_ok(np, R, &r) || !it_mul_ok(r, kp, &r) || !it_mul_ok(r, t->elem, &r)) return -1;
    return r;
}

typedef struct pack_job {
    const it_qgemm_tier *t;
    int R;
    int64_t n, K, kp, s_i, s_k;
    const uint8_t *src;
    uint8_t fx;
    int psigned;
    void *dst;
    int32_t *sums;
} pack_job;

static void pack_range(void *arg, int64_t p0, int64_t p1, int tid) {
    (void)tid;
    const pack_job *j = arg;
    const int R = j->R, kg = j->t->kg, elem = j->t->elem;
    const int64_t kp = j->kp, K = j->K;
    for (int64_t p = p0; p < p1; p++) {
        int64_t base = p * R * kp;
        memset((uint8_t *)j->dst + base * elem, 0, (size_t)(R * kp * elem));
        for (int r = 0; r < R; r++) {
            int64_t i = p * R + r;
            if (i >= j->n) break;
            const uint8_t *s = j->src + i * j->s_i;
            int32_t sum = 0;
            for (int64_t g = 0; g * kg < K; g++) {
                int64_t off = base + g * R * kg + (int64_t)r * kg;
                for (int q = 0; q < kg && g * kg + q < K; q++) {
                    uint8_t v = s[(g * kg + q) * j->s_k] ^ j->fx;
                    int val = j->psigned ? (int8_t)v : v;
                    sum += val;
                    if (elem == 1) ((uint8_t *)j->dst)[off + q] = v;
                    else ((int16_t *)j->dst)[off + q] = (int16_t)val;
                }
            }
            if (j->sums) j->sums[i] = sum;
        }
    }
}

static void pack_b_range(void *arg, int64_t p0, int64_t p1, int tid) {
    (void)tid;
    const pack_job *j = arg;
    const int R = j->R;
    for (int64_t p = p0; p < p1; p++) {
        int64_t nn = j->n - p * R < R ? j->n - p * R : R;
        j->t->pack_b(j->src + p * R, j->s_k, j->K, (int)nn, j->fx, j->psigned,
                     (uint8_t *)j->dst + p * R * j->kp * j->t->elem);
    }
}

void it_qpack(it_threadpool *tp, const it_qgemm_tier *t, int which, int64_t n, int64_t K, const uint8_t *src,
              int64_t s_i, int64_t s_k, int flip, int packed_signed, void *dst, int32_t *sums) {
    pack_job j = {t, which ? t->nr : t->mr, n, K, (K + t->kg - 1) / t->kg * t->kg, s_i, s_k, src,
                  (uint8_t)(flip ? 0x80 : 0), packed_signed, dst, sums};
    int64_t np = (n + j.R - 1) / j.R;
    int64_t grain = 1 + (int64_t)(16384 / (j.R * (K + 1)));
    if (which == 1 && s_i == 1 && !sums && t->pack_b) {
        it_parallel_for(tp, np, grain, pack_b_range, &j);
        return;
    }
    it_parallel_for(tp, np, grain, pack_range, &j);
}

/* ---- driver ---- */

typedef struct gemm_job {
    const it_qgemm_tier *t;
    int64_t M, N, kp;
    const uint8_t *Ap, *Bp;
    int a_unsigned;
    const it_qepi *ep;
    int64_t mpan, npan, mblk, nmb; /* panels, M panels per work item, M blocks */
    /* it_qgemm_b: B unpacked, each B panel packed by the worker that uses it into
     * its own slice of bws (NULL Bp) */
    const it_qbsrc *bsrc;
    int64_t K;
    uint8_t *bws;
    int64_t bws_bytes; /* per thread */
} gemm_job;

static void epilogue_tile(const gemm_job *g, int32_t *tile, int64_t m0, int mm, int64_t n0, int nn) {
    const it_qepi *ep = g->ep;
    const int nr = g->t->nr;
    for (int i = 0; i < mm; i++) {
        int64_t m = m0 + i;
        uint32_t *r = (uint32_t *)(tile + i * nr);
        uint32_t radd = ep->row_add ? (uint32_t)ep->row_add[m] : 0;
        int simple = !ep->col_add && !(ep->row_z && ep->col_s && ep->row_z[m]) && !(ep->col_z && ep->row_s);
        if (simple && ep->out_type != 0) { /* the row constant is added by requant */
            const float *sc = ep->scale;
            int vec = 0;
            if (ep->scale_mode == 1) sc += m;
            else if (ep->scale_mode == 2) sc += n0, vec = 1;
            uint8_t *C = (uint8_t *)ep->C + m * ep->ldc_m;
            if (ep->ldc_n == 1) {
                g->t->requant((const int32_t *)r, nn, (int32_t)radd, sc, vec, ep->zp, ep->out_type == 2, C + n0);
                continue;
            }
        }
        if (ep->col_add) {
            const int32_t *ca = ep->col_add + n0;
            for (int j = 0; j < nn; j++) r[j] += radd + (uint32_t)ca[j];
        } else if (radd)
            for (int j = 0; j < nn; j++) r[j] += radd;
        if (ep->row_z && ep->col_s && ep->row_z[m]) {
            uint32_t z = (uint32_t)ep->row_z[m];
            const int32_t *cs = ep->col_s + n0;
            for (int j = 0; j < nn; j++) r[j] -= z * (uint32_t)cs[j];
        }
        if (ep->col_z && ep->row_s) {
            uint32_t s = (uint32_t)ep->row_s[m];
            const int32_t *cz = ep->col_z + n0;
            for (int j = 0; j < nn; j++) r[j] -= s * (uint32_t)cz[j];
        }
        const int32_t *acc = (const int32_t *)r;
        if (ep->out_type == 0) {
            int32_t *C = (int32_t *)ep->C + m * ep->ldc_m;
            for (int j = 0; j < nn; j++) C[(n0 + j) * ep->ldc_n] = acc[j];
            continue;
        }
        const float *sc = ep->scale;
        int vec = 0;
        if (ep->scale_mode == 1) sc += m;
        else if (ep->scale_mode == 2) sc += n0, vec = 1;
        uint8_t *C = (uint8_t *)ep->C + m * ep->ldc_m;
        if (ep->ldc_n == 1) g->t->requant(acc, nn, 0, sc, vec, ep->zp, ep->out_type == 2, C + n0);
        else {
            uint8_t tmp[64];
            g->t->requant(acc, nn, 0, sc, vec, ep->zp, ep->out_type == 2, tmp);
            for (int j = 0; j < nn; j++) C[(n0 + j) * ep->ldc_n] = tmp[j];
        }
    }
}

/* B panel nb (columns [nb * nr, +nr) of the unpacked source) into dst. */
static void pack_panel(const it_qgemm_tier *t, const it_qbsrc *b, int64_t nb, int64_t N, int64_t K, int64_t kp,
                       uint8_t *dst) {
    int64_t n0 = nb * t->nr, nn = N - n0 < t->nr ? N - n0 : t->nr;
    if (t->pack_b) {
        t->pack_b(b->src + n0, b->ld, K, (int)nn, (uint8_t)(b->flip ? 0x80 : 0), b->psigned, dst);
        return;
    }
    pack_job j = {t, t->nr, nn, K, kp, 1, b->ld, b->src + n0, (uint8_t)(b->flip ? 0x80 : 0), b->psigned, dst, NULL};
    pack_range(&j, 0, 1, 0);
}

static void gemm_range(void *arg, int64_t w0, int64_t w1, int tid) {
    const gemm_job *g = arg;
    const it_qgemm_tier *t = g->t;
    const int mr = t->mr, nr = t->nr;
    int32_t tile[MAX_TILE];
    int64_t packed = -1;
    for (int64_t w = w0; w < w1; w++) {
        int64_t nb = w / g->nmb, mb = w % g->nmb;
        const uint8_t *bp;
        if (g->bsrc) { /* consecutive items share a panel: pack it once */
            uint8_t *dst = g->bws + (int64_t)tid * g->bws_bytes;
            if (packed != nb) {
                pack_panel(t, g->bsrc, nb, g->N, g->K, g->kp, dst);
                packed = nb;
            }
            bp = dst;
        } else
            bp = g->Bp + nb * nr * g->kp * t->elem;
        int64_t n0 = nb * nr;
        int nn = (int)(g->N - n0 < nr ? g->N - n0 : nr);
        int64_t pe = (mb + 1) * g->mblk < g->mpan ? (mb + 1) * g->mblk : g->mpan;
        const it_qepi *ep = g->ep;
        int fusable = t->micro_rq && ep->out_type != 0 && ep->ldc_n == 1 && !ep->col_add && !(ep->col_z && ep->row_s);
        for (int64_t mp = mb * g->mblk; mp < pe; mp++) {
            const uint8_t *ap = g->Ap + mp * mr * g->kp * t->elem;
            int64_t m0 = mp * mr;
            int mm = (int)(g->M - m0 < mr ? g->M - m0 : mr);
            int fuse = fusable;
            if (fuse && ep->row_z && ep->col_s)
                for (int i = 0; i < mm; i++) fuse &= ep->row_z[m0 + i] == 0;
            if (fuse) {
                const float *sc = ep->scale + (ep->scale_mode == 1 ? m0 : ep->scale_mode == 2 ? n0 : 0);
                t->micro_rq(g->kp, ap, bp, g->a_unsigned, ep->row_add ? ep->row_add + m0 : NULL, sc, ep->scale_mode,
                            ep->zp, ep->out_type == 2, (uint8_t *)ep->C + m0 * ep->ldc_m + n0, ep->ldc_m, mm, nn);
                continue;
            }
            t->micro(g->kp, ap, bp, tile, g->a_unsigned);
            epilogue_tile(g, tile, m0, mm, n0, nn);
        }
    }
}

int64_t it_qgemm_b_ws_bytes(const it_qgemm_tier *t, int64_t K, int nthreads) {
    int64_t r = it_qpack_bytes(t, 1, t->nr, K);
    if (r < 0) return -1;
    r = (int64_t)it_align_up((size_t)r, 64);
    return it_mul_ok(r, nthreads < 1 ? 1 : nthreads, &r) ? r : -1;
}

static void gemm_run(it_threadpool *tp, gemm_job *gp);

void it_qgemm(it_threadpool *tp, const it_qgemm_tier *t, int64_t M, int64_t N, int64_t K, const void *Ap,
              const void *Bp, int a_unsigned, const it_qepi *ep) {
    if (M <= 0 || N <= 0) return;
    gemm_job g = {t, M, N, (K + t->kg - 1) / t->kg * t->kg, Ap, Bp, a_unsigned, ep, 0, 0, 0, 0, NULL, K, NULL, 0};
    gemm_run(tp, &g);
}

void it_qgemm_b(it_threadpool *tp, const it_qgemm_tier *t, int64_t M, int64_t N, int64_t K, const void *Ap,
                const it_qbsrc *b, void *ws, int a_unsigned, const it_qepi *ep) {
    if (M <= 0 || N <= 0) return;
    gemm_job g = {t, M, N, (K + t->kg - 1) / t->kg * t->kg, Ap, NULL, a_unsigned, ep, 0, 0, 0, 0, b, K, ws,
                  it_qgemm_b_ws_bytes(t, K, 1)};
    gemm_run(tp, &g);
}

static void gemm_run(it_threadpool *tp, gemm_job *gp) {
    gemm_job g = *gp;
    const it_qgemm_tier *t = g.t;
    const int64_t M = g.M, N = g.N, K = g.K;
    g.mpan = (M + t->mr - 1) / t->mr;
    g.npan = (N + t->nr - 1) / t->nr;
    int nth = it_threadpool_size(tp);
    if (nth < 1) nth = 1;
    /* enough work items for the pool: split M when there are few column panels */
    int64_t want = 4 * (int64_t)nth, nmb = 1;
    if (g.npan < want) nmb = (want + g.npan - 1) / g.npan;
    if (nmb > g.mpan) nmb = g.mpan;
    g.mblk = (g.mpan + nmb - 1) / nmb;
    g.nmb = (g.mpan + g.mblk - 1) / g.mblk;
    int64_t macs = M * N * (K + 1);
    int64_t items = g.npan * g.nmb;
    int64_t grain = macs < 65536 ? items : 1;
    it_parallel_for(tp, items, grain, gemm_range, &g);
}
