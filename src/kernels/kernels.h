/*
 * kernels.h: ingot's compute kernels. Pointers, sizes and strides in; nothing
 * of models or files. Each kernel has a portable C reference (ref/) and may
 * have SIMD variants (x86/, arm/) chosen once from the detected CPU features
 * (capped by INGOT_ISA). Multithreaded kernels take the caller's pool.
 */
#ifndef INGOT_KERNELS_H
#define INGOT_KERNELS_H

#include <stdint.h>

#include "base/base.h"

/* C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C. Row-major; op() transposes
 * when trans is set (A is then stored [K,M] with leading dim lda). beta == 0
 * ignores C's old contents (NaNs included). */
void it_sgemm(it_threadpool *tp, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
              float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
              float *C, int64_t ldc);

/* Activations fused into GEMM / convolution epilogues. */
enum { IT_ACT_NONE = 0, IT_ACT_RELU = 1, IT_ACT_CLIP = 2, IT_ACT_SIGMOID = 3, IT_ACT_LEAKY = 4,
       IT_ACT_HARDSIGMOID = 5, IT_ACT_TANH = 6, IT_ACT_HARDSWISH = 7 };
typedef struct it_act {
    int kind;
    float a, b; /* clip min/max, leaky alpha, hardsigmoid alpha/beta */
} it_act;

/* An operand packed once for repeated products (constant weights). which: 0 packs
 * op(A) of shape [rows=M, cols=K], 1 packs op(B) of shape [rows=K, cols=N]. */
typedef struct it_packed it_packed;
it_packed *it_sgemm_pack(int which, int trans, int64_t rows, int64_t cols, const float *p, int64_t ld);
void it_packed_free(it_packed *p);

/* What happens after the product: C = act(alpha*A@B + beta*C + bias). bias_m has M
 * entries (one per row: conv channels), bias_n has N (one per column: Gemm/MatMul). */
typedef struct it_epilogue {
    float alpha, beta;
    const float *bias_m, *bias_n;
    it_act act;
} it_epilogue;

/* The general entry: A given either raw (A, lda, trans_a) or packed (Ap), same for B.
 * ep may be NULL (alpha 1, beta 0, no bias, no activation). */
void it_sgemm_ex(it_threadpool *tp, int64_t M, int64_t N, int64_t K,
                 const float *A, int64_t lda, int trans_a, const it_packed *Ap,
                 const float *B, int64_t ldb, int trans_b, const it_packed *Bp,
                 float *C, int64_t ldc, const it_epilogue *ep);

/* Apply an activation in place to n floats. */
void it_act_apply(float *x, int64_t n, const it_act *act);

/* B supplied by a callback (implicit GEMM, e.g. convolution patches): fill dst with
 * op(B)[k0:k0+kc, n0:n0+nc] as ceil(nc/nr) consecutive panels of kc x nr floats:
 * b[k][n0+t] at dst[(t/nr)*kc*nr + k*nr + t%nr], zero past nc in the last panel.
 * Called concurrently from the pool's threads on disjoint ranges. */
typedef void (*it_pack_b_fn)(void *ctx, float *dst, int64_t k0, int64_t kc, int64_t n0, int64_t nc, int nr);

/* C = act(alpha * op(A) @ B + beta*C + bias) with B produced panel by panel by pack_b. */
void it_sgemm_cb(it_threadpool *tp, int64_t M, int64_t N, int64_t K,
                 const float *A, int64_t lda, int trans_a, const it_packed *Ap,
                 it_pack_b_fn pack_b, void *pack_ctx, float *C, int64_t ldc, const it_epilogue *ep);

/* Epilogue as seen by a micro-kernel tile: bias_m / bias_n already offset to the tile
 * (or NULL); act applied when act_kind is one the kernel vectorizes (relu, clip, leaky,
 * hardsigmoid, hardswish); other kinds are applied by the caller afterwards. */
typedef struct it_micro_epi {
    const float *bias_m, *bias_n;
    int act_kind;
    float act_a, act_b;
} it_micro_epi;

/* Depthwise convolution of one output row: out[j] = bias + sum_{i<kh, k<kw}
 * w[i*kw + k] * rows[i][j*sw + k*dw] for j < ow. rows[i] point into a padded input
 * plane that stays readable for 64 floats past the last element the row uses. */
typedef void (*it_dwconv_row_fn)(float *out, int64_t ow, const float *const *rows, const float *w, int kh,
                                 int kw, int sw, int dw, float bias);

/* Pooling of one output row: out[j] = reduce_{i<kh, k<kw} rows[i][j*sw + k] for j < ow,
 * the reduction being max (is_max; NaNs skipped as in `m = v > m ? v : m`) or the sum
 * divided by div. Reads nothing past rows[i][(ow-1)*sw + kw-1], so rows may point
 * straight into an input plane (window fully inside it). */
typedef void (*it_pool_row_fn)(float *out, int64_t ow, const float *const *rows, int kh, int kw, int sw,
                               int is_max, float div);

/* The dispatch table, filled once from the CPU features. */
typedef struct it_kernel_table {
    int isa;
    /* micro-kernel: C[m x n] (+)= packedA[mr x k] * packedB[k x nr] (m <= mr, n <= nr),
     * then ep (may be NULL) applied to the stored tile when this is the last K block */
    int mr, nr;
    void (*sgemm_micro)(int64_t k, const float *a, const float *b, float *c, int64_t ldc, int accumulate,
                        int m, int n, const it_micro_epi *ep);
    /* dot product of two float vectors */
    float (*sdot)(const float *x, const float *y, int64_t n);
    /* elementwise helpers (may be NULL) */
    void (*vexp)(float *y, const float *x, int64_t n);
    it_dwconv_row_fn dwconv_row;
    /* Winograd F(4x4,3x3) tile transforms (NULL: the portable ones in winograd.c).
     * wino_in: n <= 16 input tiles, tile t's 6x6 window at src[r*ld + 4*t + c] (readable
     * for 96 floats past the last tile); frequency xi of tile t goes to dst[xi*xs + t].
     * wino_out: n <= 16 tiles, frequency xi of tile t at src[xi*xs + t]; output row r of
     * tile t (4 values, plus bias, then act when it is relu, clip, leaky, hardsigmoid
     * or hardswish; other kinds are left to the caller) goes to dst[r*64 + 4*t .. +3]. */
    void (*wino_in)(const float *src, int64_t ld, int n, float *dst, int64_t xs);
    void (*wino_out)(const float *src, int64_t xs, int n, float *dst, float bias, const it_act *act);
    it_pool_row_fn pool_row;
} it_kernel_table;
const it_kernel_table *it_kernels(void);
/* Tables per tier, for tests comparing tiers; NULL when not built or not supported. */
const it_kernel_table *it_kernels_for(int isa);
/* The driver on an explicit table (tests compare tiers with it); packed operands must
 * come from it_sgemm_pack_for with the same table. */
void it_sgemm_ex_for(const it_kernel_table *kt, it_threadpool *tp, int64_t M, int64_t N, int64_t K,
                     const float *A, int64_t lda, int trans_a, const it_packed *Ap,
                     const float *B, int64_t ldb, int trans_b, const it_packed *Bp,
                     float *C, int64_t ldc, const it_epilogue *ep);
it_packed *it_sgemm_pack_for(const it_kernel_table *kt, int which, int trans, int64_t rows, int64_t cols,
                             const float *p, int64_t ld);


/* Winograd F(4x4, 3x3): 3x3 convolution, stride 1, dilation 1, one group.
 * it_wino_pack transforms weights w[M][C][3][3] once (for the tier it_kernels()
 * picks; _for: a given tier). it_wino_conv computes y[M][OH][OW] = act(conv(x) +
 * bias) from x[C][H][W] with top/left pads pt/pl (bottom/right padding implied by
 * OH/OW); returns 0, or -1 (weights from another tier, out of memory: caller falls
 * back). it_wino_useful: whether it beats direct convolution for these sizes. */
typedef struct it_wino_weights it_wino_weights;
it_wino_weights *it_wino_pack(const float *w, int64_t M, int64_t C);
it_wino_weights *it_wino_pack_for(const it_kernel_table *kt, const float *w, int64_t M, int64_t C);
void it_wino_free(it_wino_weights *p);
int it_wino_useful(const it_kernel_table *kt, int64_t M, int64_t C, int64_t OH, int64_t OW);
int it_wino_conv(it_threadpool *tp, const it_wino_weights *wp, const float *x, int64_t H, int64_t W, int64_t pt,
                 int64_t pl, float *y, int64_t OH, int64_t OW, const float *bias, const it_act *act);
int it_wino_conv_for(const it_kernel_table *kt, it_threadpool *tp, const it_wino_weights *wp, const float *x,
                     int64_t H, int64_t W, int64_t pt, int64_t pl, float *y, int64_t OH, int64_t OW,
                     const float *bias, const it_act *act);

#endif
