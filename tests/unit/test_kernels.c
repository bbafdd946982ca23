/*
 * test_kernels.c: checks every kernel tier this machine supports (scalar, AVX2,
 * AVX-512) against plain loops: the GEMM driver on odd shapes and tails (M, N,
 * K over a set of awkward sizes, transposes, alpha/beta, row/column bias, fused
 * activations, prepacked operands, single and multi-threaded) and the
 * depthwise convolution row kernel (strides 1..3, dilations, widths with tails)
 * and Winograd F(4x4,3x3) convolution (tile transforms of each tier, through the
 * driver) against a direct convolution in double.
 * Unsupported tiers print SKIP. Exits non-zero on the first tier that fails.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}
static float frand(void) { return (float)(rnd() % 20001) / 10000.f - 1.f; }

static float act_ref(float v, const it_act *a) {
    switch (a->kind) {
    case IT_ACT_RELU: return v > 0 ? v : 0;
    case IT_ACT_CLIP: return v < a->a ? a->a : v > a->b ? a->b : v;
    case IT_ACT_SIGMOID: return 1.f / (1.f + expf(-v));
    case IT_ACT_LEAKY: return v >= 0 ? v : v * a->a;
    case IT_ACT_HARDSIGMOID: { float t = a->a * v + a->b; return t < 0 ? 0 : t > 1 ? 1 : t; }
    case IT_ACT_TANH: return tanhf(v);
    case IT_ACT_HARDSWISH: { float t = v / 6.f + 0.5f; t = t < 0 ? 0 : t > 1 ? 1 : t; return v * t; }
    default: return v;
    }
}

static const int sizes[] = {1, 2, 3, 5, 7, 13, 17, 31, 33, 64, 100, 257};
#define NS ((int)(sizeof sizes / sizeof sizes[0]))

static int check_gemm(const it_kernel_table *kt, it_threadpool *tp, const char *name) {
    int fails = 0;
    for (int im = 0; im < NS; im++)
        for (int in = 0; in < NS; in++)
            for (int ik = 0; ik < NS; ik++) {
                int64_t M = sizes[im], N = sizes[in], K = sizes[ik];
                int ta = rnd() & 1, tb = rnd() & 1, variant = (int)(rnd() % 6);
                int pa = (rnd() % 3) == 0, pb = (rnd() % 3) == 0;
                float alpha = variant == 1 ? 0.5f : variant == 2 ? -1.25f : 1.f;
                float beta = variant == 2 ? 0.75f : variant == 3 ? 1.f : 0.f;
                it_act act = {(int)(rnd() % 8), -0.3f, 0.4f};
                if (act.kind == IT_ACT_HARDSIGMOID) act.a = 0.2f, act.b = 0.5f;
                if (act.kind == IT_ACT_LEAKY) act.a = 0.1f;
                int64_t lda = (ta ? M : K) + (rnd() % 3), ldb = (tb ? K : N) + (rnd() % 3), ldc = N + (rnd() % 3);
                float *A = malloc(sizeof(float) * (size_t)((ta ? K : M) * lda));
                float *B = malloc(sizeof(float) * (size_t)((tb ? N : K) * ldb));
                float *C = malloc(sizeof(float) * (size_t)(M * ldc));
                float *R = malloc(sizeof(float) * (size_t)(M * ldc));
                float *bm = malloc(sizeof(float) * (size_t)M), *bn = malloc(sizeof(float) * (size_t)N);
                for (int64_t i = 0; i < (ta ? K : M) * lda; i++) A[i] = frand();
                for (int64_t i = 0; i < (tb ? N : K) * ldb; i++) B[i] = frand();
                for (int64_t i = 0; i < M * ldc; i++) R[i] = C[i] = frand();
                for (int64_t i = 0; i < M; i++) bm[i] = frand();
                for (int64_t i = 0; i < N; i++) bn[i] = frand();
                it_epilogue ep = {alpha, beta, (variant & 1) ? bm : NULL, variant >= 4 ? bn : NULL, act};
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++) {
                        double s = 0;
                        for (int64_t k = 0; k < K; k++)
                            s += (double)(ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
                        float v = alpha * (float)s + (beta != 0.f ? beta * R[i * ldc + j] : 0.f);
                        if (ep.bias_m) v += bm[i];
                        if (ep.bias_n) v += bn[j];
                        R[i * ldc + j] = act_ref(v, &act);
                    }
                it_packed *Ap = pa ? it_sgemm_pack_for(kt, 0, ta, M, K, A, lda) : NULL;
                it_packed *Bp = pb ? it_sgemm_pack_for(kt, 1, tb, K, N, B, ldb) : NULL;
                it_sgemm_ex_for(kt, tp, M, N, K, A, lda, ta, Ap, B, ldb, tb, Bp, C, ldc, &ep);
                for (int64_t i = 0; i < M && !fails; i++)
                    for (int64_t j = 0; j < N; j++) {
                        float r = R[i * ldc + j], c = C[i * ldc + j];
                        if (!(fabsf(r - c) <= 1e-4f * sqrtf((float)K + 1) * 4 + 1e-4f * fabsf(r))) {
                            fprintf(stderr, "%s gemm FAIL M=%lld N=%lld K=%lld ta=%d tb=%d pa=%d pb=%d variant=%d act=%d at (%lld,%lld): %g vs %g\n",
                                    name, (long long)M, (long long)N, (long long)K, ta, tb, pa, pb, variant, act.kind,
                                    (long long)i, (long long)j, c, r);
                            fails++;
                            break;
                        }
                    }
                it_packed_free(Ap);
                it_packed_free(Bp);
                free(A); free(B); free(C); free(R); free(bm); free(bn);
                if (fails) return fails;
            }
    return fails;
}

static int check_dw(const it_kernel_table *kt, const char *name) {
    static const int widths[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 64, 100};
    for (int wi = 0; wi < (int)(sizeof widths / sizeof widths[0]); wi++)
        for (int sw = 1; sw <= 3; sw++)
            for (int dw = 1; dw <= 2; dw++)
                for (int kk = 1; kk <= 5; kk += 2) {
                    int64_t ow = widths[wi];
                    int kh = kk, kw = kk;
                    int64_t iw = (ow - 1) * sw + (kw - 1) * dw + 1;
                    float *plane = calloc((size_t)(iw * kh + 64), sizeof(float));
                    const float *rows[8];
                    for (int64_t i = 0; i < iw * kh; i++) plane[i] = frand();
                    for (int i = 0; i < kh; i++) rows[i] = plane + i * iw;
                    float w[25], out[128], ref[128];
                    for (int i = 0; i < kh * kw; i++) w[i] = frand();
                    float bias = frand();
                    kt->dwconv_row(out, ow, rows, w, kh, kw, sw, dw, bias);
                    for (int64_t j = 0; j < ow; j++) {
                        float s = bias;
                        for (int i = 0; i < kh; i++)
                            for (int k = 0; k < kw; k++) s += w[i * kw + k] * rows[i][j * sw + k * dw];
                        ref[j] = s;
                    }
                    free(plane);
                    for (int64_t j = 0; j < ow; j++)
                        if (!(fabsf(out[j] - ref[j]) <= 1e-4f)) {
                            fprintf(stderr, "%s dwconv FAIL ow=%lld sw=%d dw=%d k=%d at %lld: %g vs %g\n", name,
                                    (long long)ow, sw, dw, kk, (long long)j, out[j], ref[j]);
                            return 1;
                        }
                }
    return 0;
}

/* pooling rows: the exact extent the row needs is allocated (ASan catches over-reads) */
static int check_pool(const it_kernel_table *kt, const char *name) {
    static const int widths[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 64, 100};
    for (int wi = 0; wi < (int)(sizeof widths / sizeof widths[0]); wi++)
        for (int sw = 1; sw <= 3; sw++)
            for (int kk = 1; kk <= 5; kk++)
                for (int is_max = 0; is_max <= 1; is_max++) {
                    int64_t ow = widths[wi];
                    int kh = kk > 3 ? 2 : kk, kw = kk;
                    int64_t iw = (ow - 1) * sw + kw;
                    float *rowbuf[8];
                    const float *rows[8];
                    for (int i = 0; i < kh; i++) {
                        rowbuf[i] = malloc(sizeof(float) * (size_t)iw);
                        for (int64_t q = 0; q < iw; q++) rowbuf[i][q] = frand();
                        rows[i] = rowbuf[i];
                    }
                    float out[128], ref[128], div = (float)(kh * kw + (int)(rnd() % 3));
                    kt->pool_row(out, ow, rows, kh, kw, sw, is_max, div);
                    for (int64_t j = 0; j < ow; j++) {
                        float m = -INFINITY, sum = 0;
                        for (int i = 0; i < kh; i++)
                            for (int k = 0; k < kw; k++) {
                                float v = rows[i][j * sw + k];
                                m = v > m ? v : m;
                                sum += v;
                            }
                        ref[j] = is_max ? m : sum / div;
                    }
                    for (int i = 0; i < kh; i++) free(rowbuf[i]);
                    for (int64_t j = 0; j < ow; j++)
                        if (!(out[j] == ref[j])) {
                            fprintf(stderr, "%s pool FAIL ow=%lld sw=%d k=%dx%d max=%d at %lld: %g vs %g\n", name,
                                    (long long)ow, sw, kh, kw, is_max, (long long)j, out[j], ref[j]);
                            return 1;
                        }
                }
    return 0;
}

/* implicit-GEMM callback: packs raw row-major B into the documented panel layout */
typedef struct cbctx { const float *B; int64_t N; } cbctx;
static void cb_pack(void *arg, float *dst, int64_t k0, int64_t kc, int64_t n0, int64_t nc, int nr) {
    const cbctx *c = arg;
    int64_t ncp = (nc + nr - 1) / nr * nr;
    for (int64_t k = 0; k < kc; k++)
        for (int64_t t = 0; t < ncp; t++)
            dst[(t / nr) * kc * nr + k * nr + t % nr] = t < nc ? c->B[(k0 + k) * c->N + n0 + t] : 0.f;
}

static int check_cb(it_threadpool *tp) {
    /* one M tile (tasks pack their own panels, whole K per task, M cut finer for few
     * panels) and several (a shared B block per K block, packed a block ahead, cut by
     * K when it has few panels), one and several K and N blocks */
    static const int64_t shapes[][3] = {{5, 3000, 300}, {130, 1700, 33}, {1, 40, 7},    {64, 3137, 9},
                                        {200, 49, 600}, {300, 600, 520}, {100, 40, 700}, {129, 33, 257}};
    for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++) {
        int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = malloc(sizeof(float) * (size_t)(M * K)), *B = malloc(sizeof(float) * (size_t)(K * N));
        float *C = malloc(sizeof(float) * (size_t)(M * N)), *bm = malloc(sizeof(float) * (size_t)M);
        for (int64_t i = 0; i < M * K; i++) A[i] = frand();
        for (int64_t i = 0; i < K * N; i++) B[i] = frand();
        for (int64_t i = 0; i < M; i++) bm[i] = frand();
        it_packed *Ap = (s & 1) ? it_sgemm_pack(0, 0, M, K, A, K) : NULL;
        it_epilogue ep = {1.f, 0.f, bm, NULL, {IT_ACT_RELU, 0, 0}};
        cbctx cc = {B, N};
        it_sgemm_cb(tp, M, N, K, A, K, 0, Ap, cb_pack, &cc, C, N, &ep);
        int bad = 0;
        for (int64_t i = 0; i < M && !bad; i++)
            for (int64_t j = 0; j < N; j++) {
                double r = bm[i];
                for (int64_t k = 0; k < K; k++) r += (double)A[i * K + k] * B[k * N + j];
                if (r < 0) r = 0;
                if (!(fabs(r - C[i * N + j]) <= 1e-3 + 1e-4 * fabs(r))) {
                    fprintf(stderr, "callback gemm FAIL M=%lld N=%lld K=%lld at (%lld,%lld): %g vs %g\n", (long long)M,
                            (long long)N, (long long)K, (long long)i, (long long)j, C[i * N + j], r);
                    bad = 1;
                    break;
                }
            }
        it_packed_free(Ap);
        free(A); free(B); free(C); free(bm);
        if (bad) return 1;
    }
    return 0;
}

/* Winograd F(4x4,3x3) against a direct 3x3 convolution in double: odd sizes (tile
 * tails, maps narrower than a tile), pads, more tiles than one block, bias and
 * activations (one the tile kernels apply, one left to the driver) */
static int check_wino(const it_kernel_table *kt, it_threadpool *tp, const char *name) {
    static const int64_t shapes[][6] = { /* M, C, H, W, pad top/left, pad bottom/right */
        {8, 8, 5, 7, 1, 1},   {17, 9, 14, 14, 1, 1}, {33, 13, 9, 4, 0, 0},  {9, 16, 3, 3, 1, 1},
        {24, 8, 30, 41, 1, 1}, {8, 11, 17, 6, 2, 0}, {40, 20, 65, 23, 1, 2}, {16, 8, 1, 9, 1, 1},
        {32, 16, 7, 7, 1, 1}}; /* last: one tile block, few channels: output channels split finer */
    for (int si = 0; si < (int)(sizeof shapes / sizeof shapes[0]); si++) {
        int64_t M = shapes[si][0], C = shapes[si][1], H = shapes[si][2], W = shapes[si][3];
        int64_t pb = shapes[si][4], pe = shapes[si][5], OH = H + pb + pe - 2, OW = W + pb + pe - 2;
        it_act act = {si % 3 == 0 ? IT_ACT_RELU : si % 3 == 1 ? IT_ACT_TANH : IT_ACT_NONE, 0, 0};
        float *x = malloc(sizeof(float) * (size_t)(C * H * W)), *w = malloc(sizeof(float) * (size_t)(M * C * 9));
        float *y = malloc(sizeof(float) * (size_t)(M * OH * OW)), *bias = malloc(sizeof(float) * (size_t)M);
        for (int64_t i = 0; i < C * H * W; i++) x[i] = frand();
        for (int64_t i = 0; i < M * C * 9; i++) w[i] = frand();
        for (int64_t i = 0; i < M; i++) bias[i] = frand();
        it_wino_weights *wp = it_wino_pack_for(kt, w, M, C);
        int bad = !wp || it_wino_conv_for(kt, tp, wp, x, H, W, pb, pb, y, OH, OW, bias, &act) != 0;
        for (int64_t m = 0; m < M && !bad; m++)
            for (int64_t oh = 0; oh < OH && !bad; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    double r = bias[m], mag = 1;
                    for (int64_t c = 0; c < C; c++)
                        for (int i = 0; i < 3; i++)
                            for (int k = 0; k < 3; k++) {
                                int64_t ih = oh - pb + i, iw = ow - pb + k;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                double t = (double)w[((m * C + c) * 3 + i) * 3 + k] * x[(c * H + ih) * W + iw];
                                r += t;
                                mag += fabs(t);
                            }
                    float ref = act_ref((float)r, &act), got = y[(m * OH + oh) * OW + ow];
                    if (!(fabs(ref - got) <= 2e-5 * mag)) {
                        fprintf(stderr, "%s winograd FAIL M=%lld C=%lld %lldx%lld at (%lld,%lld,%lld): %g vs %g\n", name,
                                (long long)M, (long long)C, (long long)H, (long long)W, (long long)m, (long long)oh,
                                (long long)ow, got, ref);
                        bad = 1;
                        break;
                    }
                }
        it_wino_free(wp);
        free(x); free(w); free(y); free(bias);
        if (bad) return 1;
    }
    return 0;
}

int main(void) {
    static const char *names[] = {"scalar", "avx2", "avx512"};
    int fails = 0;
    it_threadpool *tp2 = it_threadpool_create(2);
    for (int isa = IT_ISA_SCALAR; isa <= IT_ISA_AVX512; isa++) {
        const it_kernel_table *kt = it_kernels_for(isa);
        if (!kt) {
            printf("SKIP %s (not supported here)\n", names[isa]);
            continue;
        }
        int f = check_gemm(kt, NULL, names[isa]);
        f += check_gemm(kt, tp2, names[isa]);
        f += check_dw(kt, names[isa]);
        f += check_pool(kt, names[isa]);
        f += check_wino(kt, NULL, names[isa]) + check_wino(kt, tp2, names[isa]);
        printf("%s %s\n", f ? "FAIL" : "PASS", names[isa]);
        fails += f;
    }
    int f = check_cb(NULL) + check_cb(tp2);
    printf("%s callback gemm (%s)\n", f ? "FAIL" : "PASS", names[it_kernels()->isa]);
    fails += f;
    it_threadpool_free(tp2);
    return fails ? 1 : 0;
}
