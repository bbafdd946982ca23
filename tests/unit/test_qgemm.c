/*
 * test_qgemm.c: checks every available tier of the 8-bit GEMM (scalar, AVX2,
 * AVX-512 VNNI) against a naive int64 product on odd shapes and tails: both
 * operand signedness layouts, flips while packing, per-row / per-column zero
 * points, bias, int32 output and requantization (per-row and per-column
 * scales, u8 and s8, strided output; B packed inside the workers by
 * it_qgemm_b), plus the requantization, depthwise (row and flattened plane)
 * and QuantizeLinear kernels. Exit status non-zero on any mismatch.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/qgemm.h"

static uint32_t rng = 12345;
static uint32_t rnd(void) {
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
}

/* it_qgemm_b (B packed inside the workers) must give what it_qgemm gave in
 * ep->C, when the epilogue needs no column sums */
static int check_fused_b(const it_qgemm_tier *t, it_threadpool *tp, int64_t M, int64_t N, int64_t K, const void *Ap,
                         const uint8_t *B, int b_s8, int a_unsigned, const it_qepi *ep, size_t osz) {
    for (int64_t m = 0; m < M; m++)
        if (ep->row_z[m]) return 0;
    size_t bytes = (size_t)(M * N) * osz;
    void *C2 = calloc(bytes, 1), *ws = malloc((size_t)it_qgemm_b_ws_bytes(t, K, it_threadpool_size(tp)));
    it_qepi e2 = *ep;
    e2.C = C2;
    it_qbsrc bs = {B, N, 0, b_s8};
    it_qgemm_b(tp, t, M, N, K, Ap, &bs, ws, a_unsigned, &e2);
    int bad = memcmp(C2, ep->C, bytes) != 0;
    if (bad) printf("  %s it_qgemm_b differs M=%lld N=%lld K=%lld\n", t->name, (long long)M, (long long)N, (long long)K);
    free(C2);
    free(ws);
    return bad;
}

static int check_case(const it_qgemm_tier *t, it_threadpool *tp, int64_t M, int64_t N, int64_t K, int a_s8, int b_s8,
                      int mode) {
    uint8_t *A = malloc((size_t)(M * K)), *B = malloc((size_t)(K * N));
    for (int64_t i = 0; i < M * K; i++) A[i] = (uint8_t)rnd();
    for (int64_t i = 0; i < K * N; i++) B[i] = (uint8_t)rnd();
    int32_t *za = malloc(sizeof(int32_t) * (size_t)M), *zb = malloc(sizeof(int32_t) * (size_t)N);
    int32_t *bias = malloc(sizeof(int32_t) * (size_t)M);
    for (int64_t i = 0; i < M; i++) za[i] = (mode & 1) ? (int32_t)(rnd() % 256) - (a_s8 ? 128 : 0) : 0;
    /* without zero points (mode & 1 == 0) the tiers' fused requantization runs */
    for (int64_t i = 0; i < N; i++) zb[i] = (mode & 1) ? (int32_t)(rnd() % 256) - (b_s8 ? 128 : 0) : 0;
    for (int64_t i = 0; i < M; i++) bias[i] = (int32_t)(rnd() % 20001) - 10000;
    /* exact reference */
    int64_t *ref = calloc((size_t)(M * N), sizeof(int64_t));
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            int64_t s = bias[m];
            for (int64_t k = 0; k < K; k++) {
                int av = a_s8 ? (int8_t)A[m * K + k] : A[m * K + k];
                int bv = b_s8 ? (int8_t)B[k * N + n] : B[k * N + n];
                s += (int64_t)(av - za[m]) * (bv - zb[n]);
            }
            ref[m * N + n] = s;
        }
    /* pack: make exactly one operand unsigned; flip A when both match */
    int flip_a = a_s8 == b_s8;
    int pa_s8 = flip_a ? !a_s8 : a_s8;
    int a_unsigned = !pa_s8;
    int32_t *rs = malloc(sizeof(int32_t) * (size_t)M), *cs = malloc(sizeof(int32_t) * (size_t)N);
    void *Ap = malloc((size_t)it_qpack_bytes(t, 0, M, K)), *Bp = malloc((size_t)it_qpack_bytes(t, 1, N, K));
    it_qpack(tp, t, 0, M, K, A, K, 1, flip_a, pa_s8, Ap, rs);
    it_qpack(tp, t, 1, N, K, B, 1, N, 0, b_s8, Bp, cs);
    int32_t shift = flip_a ? (a_s8 ? 128 : -128) : 0;
    int32_t *rz = malloc(sizeof(int32_t) * (size_t)M), *radd = malloc(sizeof(int32_t) * (size_t)M);
    int32_t *csp = malloc(sizeof(int32_t) * (size_t)N);
    for (int64_t m = 0; m < M; m++) rz[m] = za[m] + shift;
    for (int64_t n = 0; n < N; n++) csp[n] = cs[n] - (int32_t)K * zb[n];
    for (int64_t m = 0; m < M; m++) radd[m] = bias[m];
    it_qepi ep = {0};
    ep.row_add = radd;
    ep.row_z = rz;
    ep.col_s = csp;
    ep.col_z = (mode & 1) ? zb : NULL;
    ep.row_s = rs;
    int bad = 0;
    if (mode & 2) { /* requantized, strided (transposed) when mode & 4 */
        float *sc = malloc(sizeof(float) * (size_t)(M > N ? M : N));
        for (int64_t i = 0; i < (M > N ? M : N); i++) sc[i] = (float)(rnd() % 1000 + 1) * 1e-5f;
        int s8 = (mode & 8) != 0;
        int32_t yz = (int32_t)(rnd() % 256) - (s8 ? 128 : 0);
        int per_col = (mode & 16) != 0;
        uint8_t *C = calloc((size_t)(M * N), 1);
        ep.out_type = s8 ? 2 : 1;
        ep.scale = sc;
        ep.scale_mode = per_col ? 2 : 1;
        ep.zp = yz;
        ep.C = C;
        ep.ldc_m = (mode & 4) ? 1 : N;
        ep.ldc_n = (mode & 4) ? M : 1;
        it_qgemm(tp, t, M, N, K, Ap, Bp, a_unsigned, &ep);
        bad |= check_fused_b(t, tp, M, N, K, Ap, B, b_s8, a_unsigned, &ep, 1);
        for (int64_t m = 0; m < M && !bad; m++)
            for (int64_t n = 0; n < N; n++) {
                int32_t acc = (int32_t)ref[m * N + n];
                float v = (float)acc * sc[per_col ? n : m];
                int32_t r = (int32_t)nearbyintf(v) + yz;
                int lo = s8 ? -128 : 0, hi = s8 ? 127 : 255;
                r = r < lo ? lo : r > hi ? hi : r;
                uint8_t got = C[m * ep.ldc_m + n * ep.ldc_n];
                int gv = s8 ? (int8_t)got : got;
                if (gv != r) {
                    printf("  %s M=%lld N=%lld K=%lld mode=%d: C[%lld][%lld] = %d, want %d\n", t->name, (long long)M,
                           (long long)N, (long long)K, mode, (long long)m, (long long)n, gv, r);
                    bad = 1;
                    break;
                }
            }
        free(C);
        free(sc);
    } else {
        int32_t *C = calloc((size_t)(M * N), sizeof(int32_t));
        ep.out_type = 0;
        ep.C = C;
        ep.ldc_m = N;
        ep.ldc_n = 1;
        it_qgemm(tp, t, M, N, K, Ap, Bp, a_unsigned, &ep);
        bad |= check_fused_b(t, tp, M, N, K, Ap, B, b_s8, a_unsigned, &ep, 4);
        for (int64_t i = 0; i < M * N; i++)
            if (C[i] != (int32_t)ref[i]) {
                printf("  %s M=%lld N=%lld K=%lld a_s8=%d b_s8=%d: C[%lld] = %d, want %lld\n", t->name, (long long)M,
                       (long long)N, (long long)K, a_s8, b_s8, (long long)i, C[i], (long long)ref[i]);
                bad = 1;
                break;
            }
        free(C);
    }
    free(A); free(B); free(za); free(zb); free(bias); free(ref); free(rs); free(cs);
    free(Ap); free(Bp); free(rz); free(radd); free(csp);
    return bad;
}

static int check_requant(const it_qgemm_tier *t) {
    int32_t acc[77];
    float sc[77];
    uint8_t a[77], b[77];
    for (int i = 0; i < 77; i++) {
        acc[i] = (int32_t)(rnd() % 200001) - 100000;
        sc[i] = (float)(rnd() % 1000) * 1e-5f + 0.5f / 1024.f;
    }
    acc[3] = 2147483647; acc[4] = -2147483647 - 1;
    acc[5] = 1; sc[5] = 0.5f; acc[6] = 3; sc[6] = 0.5f; /* ties to even */
    for (int s8 = 0; s8 < 2; s8++)
        for (int vec = 0; vec < 2; vec++)
            for (int n = 0; n <= 77; n += 11) {
                it_qrequant_ref(acc, n, -1234, sc, vec, 7, s8, a);
                t->requant(acc, n, -1234, sc, vec, 7, s8, b);
                if (memcmp(a, b, (size_t)n)) {
                    printf("  %s requant mismatch (s8=%d vec=%d n=%d)\n", t->name, s8, vec, n);
                    return 1;
                }
            }
    return 0;
}

static int check_dw(const it_qgemm_tier *t) {
    uint8_t buf[9][620]; /* n * stride for n <= 200, stride <= 3 */
    const uint8_t *src[9];
    int32_t w[9], a[200], b[200];
    uint8_t qa[200], qb[200];
    float sc = 0.0123f;
    for (int k = 0; k < 9; k++) {
        for (int i = 0; i < 620; i++) buf[k][i] = (uint8_t)rnd();
        w[k] = (int32_t)(rnd() % 255) - 127;
        src[k] = buf[k];
    }
    for (int stride = 1; stride <= 3; stride++)
        for (int xs8 = 0; xs8 < 2; xs8++)
            for (int taps = 1; taps <= 9; taps += 4)
                for (int n = 0; n <= 200; n += 13) {
                    it_qdw_row_ref(src, n, stride, xs8, w, taps, 77, NULL, 0, 0, a);
                    t->dw_row(src, n, stride, xs8, w, taps, 77, NULL, 0, 0, b);
                    it_qdw_row_ref(src, n, stride, xs8, w, taps, -500, &sc, 3, xs8, qa);
                    t->dw_row(src, n, stride, xs8, w, taps, -500, &sc, 3, xs8, qb);
                    if (memcmp(a, b, sizeof(int32_t) * (size_t)n) || memcmp(qa, qb, (size_t)n)) {
                        printf("  %s dw_row mismatch (stride=%d s8=%d taps=%d n=%d)\n", t->name, stride, xs8, taps, n);
                        return 1;
                    }
                }
    return 0;
}

/* dw_plane against its reference: kernel sizes, strides, tails, s8 inputs and
 * outputs; rows live in one buffer with IT_QDW_SLACK readable bytes past them */
static int check_dw_plane(const it_qgemm_tier *t) {
    if (!t->dw_plane) return 0;
    enum { ROWLEN = 2 * 300 + 8, NROW = 5 };
    uint8_t *buf = malloc(ROWLEN * NROW + IT_QDW_SLACK);
    const uint8_t *rows[NROW];
    int8_t w[NROW * 4];
    uint8_t o1[300], o2[300];
    for (int i = 0; i < ROWLEN * NROW + IT_QDW_SLACK; i++) buf[i] = (uint8_t)rnd();
    for (int i = 0; i < NROW * 4; i++) w[i] = (int8_t)(rnd() & 0xff);
    for (int r = 0; r < NROW; r++) rows[r] = buf + r * ROWLEN;
    int fail = 0;
    for (int kh = 1; kh <= NROW && !fail; kh++)
        for (int kw = 1; kw <= 4 && !fail; kw++)
            for (int stride = 1; stride <= 2 && !fail; stride++)
                for (int xs8 = 0; xs8 < 2 && !fail; xs8++)
                    for (int n = 0; n <= 300 && !fail; n += 23) {
                        int32_t bias = (int32_t)(rnd() % 20000) - 10000;
                        float sc = 0.002f + (float)(rnd() % 100) * 1e-4f;
                        int32_t zp = (int32_t)(rnd() % 40) - (xs8 ? 20 : 0);
                        memset(o2, 0xee, sizeof o2);
                        it_qdw_plane_ref(rows, kh, kw, n, stride, xs8, w, bias, sc, zp, xs8, o1);
                        t->dw_plane(rows, kh, kw, n, stride, xs8, w, bias, sc, zp, xs8, o2);
                        if (memcmp(o1, o2, (size_t)n) || (n < 300 && o2[n] != 0xee)) {
                            printf("  %s dw_plane mismatch (kh=%d kw=%d stride=%d s8=%d n=%d)\n", t->name, kh, kw,
                                   stride, xs8, n);
                            fail = 1;
                        }
                    }
    free(buf);
    return fail;
}

static int check_quant(const it_qgemm_tier *t) {
    if (!t->quant) return 0;
    float x[100];
    uint8_t o1[100], o2[100];
    for (int i = 0; i < 100; i++) x[i] = ((float)(int)(rnd() % 20001) - 10000.f) * 0.01f;
    x[3] = 2.5f, x[4] = -3.5f, x[5] = 0.5f, x[6] = NAN, x[7] = 1e30f, x[8] = -1e30f;
    for (int s8 = 0; s8 < 2; s8++)
        for (int n = 0; n <= 100; n += 11) {
            it_qquant_ref(x, n, s8 ? 0.5f : 0.37f, s8 ? -3 : 120, s8, o1);
            t->quant(x, n, s8 ? 0.5f : 0.37f, s8 ? -3 : 120, s8, o2);
            if (memcmp(o1, o2, (size_t)n)) {
                printf("  %s quant mismatch (s8=%d n=%d)\n", t->name, s8, n);
                return 1;
            }
        }
    return 0;
}

/* the tier's fast B packing (no sums) must equal the generic packing */
static int check_pack_b(const it_qgemm_tier *t) {
    if (!t->pack_b) return 0;
    static const int64_t sh[][2] = {{1, 1}, {5, 3}, {7, 33}, {64, 100}, {3, 16}, {4, 32}};
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++)
        for (int flip = 0; flip < 2; flip++)
            for (int sg = 0; sg < 2; sg++) {
                int64_t K = sh[s][0], N = sh[s][1], nb = it_qpack_bytes(t, 1, N, K);
                uint8_t *B = malloc((size_t)(K * N)), *p1 = malloc((size_t)nb), *p2 = malloc((size_t)nb);
                int32_t *cs = malloc(sizeof(int32_t) * (size_t)N);
                for (int64_t i = 0; i < K * N; i++) B[i] = (uint8_t)rnd();
                memset(p2, 0x5a, (size_t)nb);
                it_qpack(NULL, t, 1, N, K, B, 1, N, flip, sg, p1, cs);
                it_qpack(NULL, t, 1, N, K, B, 1, N, flip, sg, p2, NULL);
                int bad = memcmp(p1, p2, (size_t)nb) != 0;
                free(B); free(p1); free(p2); free(cs);
                if (bad) {
                    printf("  %s pack_b mismatch K=%lld N=%lld flip=%d signed=%d\n", t->name, (long long)K,
                           (long long)N, flip, sg);
                    return 1;
                }
            }
    return 0;
}

static int check_qadd(const it_qgemm_tier *t) {
    uint8_t a[70], b[70], o1[70], o2[70];
    for (int i = 0; i < 70; i++) a[i] = (uint8_t)rnd(), b[i] = (uint8_t)rnd();
    for (int s8 = 0; s8 < 2; s8++)
        for (int bc = 0; bc < 3; bc++)
            for (int n = 0; n <= 70; n += 7) {
                it_qadd_ref(a, b, n, bc == 1, bc == 2, 0.37f, 1.9f, -3.25f, s8, o1);
                t->qadd(a, b, n, bc == 1, bc == 2, 0.37f, 1.9f, -3.25f, s8, o2);
                if (memcmp(o1, o2, (size_t)n)) {
                    printf("  %s qadd mismatch (s8=%d bc=%d n=%d)\n", t->name, s8, bc, n);
                    return 1;
                }
            }
    return 0;
}

int main(void) {
    static const int64_t shapes[][3] = {{1, 1, 1},  {3, 5, 7},    {8, 32, 4},   {9, 33, 5},   {17, 49, 27},
                                        {6, 16, 2}, {13, 100, 96}, {64, 70, 31}, {1, 1000, 65}, {33, 3, 300}};
    it_threadpool *tp = it_threadpool_create(3);
    int fails = 0, tiers = 0;
    for (int isa = IT_ISA_SCALAR; isa <= IT_ISA_AVX512; isa++) {
        const it_qgemm_tier *t = it_qgemm_tier_for(isa);
        if (!t) continue;
        tiers++;
        fails += check_requant(t);
        fails += check_dw(t);
        fails += check_pack_b(t);
        fails += check_qadd(t);
        fails += check_dw_plane(t);
        fails += check_quant(t);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int types = 0; types < 4; types++)
                for (int mode = 0; mode < 32; mode++) {
                    if (!(mode & 2) && (mode & ~1)) continue;
                    fails += check_case(t, (s & 1) ? tp : NULL, shapes[s][0], shapes[s][1], shapes[s][2], types & 1,
                                        (types >> 1) & 1, mode);
                }
        printf("tier %s checked\n", t->name);
    }
    it_threadpool_free(tp);
    printf("%d tiers, %d failures\n", tiers, fails);
    return fails != 0;
}
