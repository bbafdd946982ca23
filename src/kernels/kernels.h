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

/* The dispatch table, filled once from the CPU features. */
typedef struct it_kernel_table {
    int isa;
    /* micro-kernel: C[mr x nr] (+)= packedA[mr x k] * packedB[k x nr] */
    int mr, nr;
    void (*sgemm_micro)(int64_t k, const float *a, const float *b, float *c, int64_t ldc, int accumulate,
                        int m, int n);
    /* y[i] = sum_k x[k] * w[i*K + k]: dot products, used for small-M products */
    float (*sdot)(const float *x, const float *y, int64_t n);
    /* elementwise helpers */
    void (*vexp)(float *y, const float *x, int64_t n);
} it_kernel_table;
const it_kernel_table *it_kernels(void);
/* Tables per tier, for tests comparing tiers; NULL when not built or not supported. */
const it_kernel_table *it_kernels_for(int isa);

#endif
