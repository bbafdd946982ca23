/*
 * gemm_avx512.c: AVX-512 GEMM micro-kernel, an 8x32 register tile (16 zmm
 * accumulators), specialised at compile time for every row count 1..8 so that
 * small-M products (batch-1 fully connected layers) do no wasted FMAs; column
 * tails use masked loads/stores. Bias, fused activation (relu, clip, leaky,
 * hardsigmoid, hardswish) are applied to the tile before it is stored.
 * Compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl.
 */
#include <immintrin.h>

#include "kernels/kernels.h"

#define MR 8
#define NR 32

void it_pool_row_avx512(float *out, int64_t ow, const float *const *rows, int kh, int kw, int sw, int is_max,
                      float div);
void it_dwconv_row_avx512(float *out, int64_t ow, const float *const *rows, const float *w, int kh, int kw,
                          int sw, int dw, float bias);
void it_wino_in_avx512(const float *src, int64_t ld, int n, float *dst, int64_t xs);
void it_wino_out_avx512(const float *src, int64_t xs, int n, float *dst, float bias, const it_act *act);

static inline __attribute__((always_inline)) __m512 act512(__m512 v, const it_micro_epi *ep) {
    switch (ep->act_kind) {
    case IT_ACT_RELU: return _mm512_max_ps(v, _mm512_setzero_ps());
    case IT_ACT_CLIP: return _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(ep->act_a)), _mm512_set1_ps(ep->act_b));
    case IT_ACT_LEAKY: {
        __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
        return _mm512_mask_mul_ps(v, neg, v, _mm512_set1_ps(ep->act_a));
    }
    case IT_ACT_HARDSIGMOID: {
        __m512 t = _mm512_fmadd_ps(v, _mm512_set1_ps(ep->act_a), _mm512_set1_ps(ep->act_b));
        return _mm512_min_ps(_mm512_max_ps(t, _mm512_setzero_ps()), _mm512_set1_ps(1.f));
    }
    case IT_ACT_HARDSWISH: {
        __m512 t = _mm512_fmadd_ps(v, _mm512_set1_ps(1.f / 6.f), _mm512_set1_ps(0.5f));
        t = _mm512_min_ps(_mm512_max_ps(t, _mm512_setzero_ps()), _mm512_set1_ps(1.f));
        return _mm512_mul_ps(v, t);
    }
    default: return v;
    }
}

static inline __attribute__((always_inline)) void micro_t(const int M_, int64_t k, const float *a, const float *b,
                                                          float *c, int64_t ldc, int acc, int n,
                                                          const it_micro_epi *ep) {
    __m512 r0[MR], r1[MR];
    #pragma GCC unroll 8
    for (int i = 0; i < M_; i++) r0[i] = r1[i] = _mm512_setzero_ps();
    int64_t p = 0;
    for (; p + 2 <= k; p += 2) {
        __m512 b0 = _mm512_loadu_ps(b + p * NR), b1 = _mm512_loadu_ps(b + p * NR + 16);
        __m512 b2 = _mm512_loadu_ps(b + p * NR + NR), b3 = _mm512_loadu_ps(b + p * NR + NR + 16);
        const float *ap = a + p * MR;
        #pragma GCC unroll 8
        for (int i = 0; i < M_; i++) {
            __m512 x = _mm512_set1_ps(ap[i]);
            r0[i] = _mm512_fmadd_ps(x, b0, r0[i]);
            r1[i] = _mm512_fmadd_ps(x, b1, r1[i]);
        }
        #pragma GCC unroll 8
        for (int i = 0; i < M_; i++) {
            __m512 x = _mm512_set1_ps(ap[MR + i]);
            r0[i] = _mm512_fmadd_ps(x, b2, r0[i]);
            r1[i] = _mm512_fmadd_ps(x, b3, r1[i]);
        }
    }
    for (; p < k; p++) {
        __m512 b0 = _mm512_loadu_ps(b + p * NR), b1 = _mm512_loadu_ps(b + p * NR + 16);
        const float *ap = a + p * MR;
        #pragma GCC unroll 8
        for (int i = 0; i < M_; i++) {
            __m512 x = _mm512_set1_ps(ap[i]);
            r0[i] = _mm512_fmadd_ps(x, b0, r0[i]);
            r1[i] = _mm512_fmadd_ps(x, b1, r1[i]);
        }
    }
    __mmask16 k0 = (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1);
    __mmask16 k1 = (__mmask16)(n <= 16 ? 0 : n >= 32 ? 0xffff : (1u << (n - 16)) - 1);
    __m512 bn0 = _mm512_setzero_ps(), bn1 = bn0;
    if (ep && ep->bias_n) {
        bn0 = _mm512_maskz_loadu_ps(k0, ep->bias_n);
        bn1 = _mm512_maskz_loadu_ps(k1, ep->bias_n + 16);
    }
    #pragma GCC unroll 8
    for (int i = 0; i < M_; i++) {
        float *cr = c + i * ldc;
        __m512 v0 = r0[i], v1 = r1[i];
        if (acc) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(k0, cr));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(k1, cr + 16));
        }
        if (ep) {
            if (ep->bias_m) {
                __m512 bm = _mm512_set1_ps(ep->bias_m[i]);
                v0 = _mm512_add_ps(v0, bm);
                v1 = _mm512_add_ps(v1, bm);
            }
            if (ep->bias_n) {
                v0 = _mm512_add_ps(v0, bn0);
                v1 = _mm512_add_ps(v1, bn1);
            }
            if (ep->act_kind) {
                v0 = act512(v0, ep);
                v1 = act512(v1, ep);
            }
        }
        _mm512_mask_storeu_ps(cr, k0, v0);
        if (k1) _mm512_mask_storeu_ps(cr + 16, k1, v1);
    }
}

static void micro(int64_t k, const float *a, const float *b, float *c, int64_t ldc, int acc, int m, int n,
                  const it_micro_epi *ep) {
    switch (m) {
    case 1: micro_t(1, k, a, b, c, ldc, acc, n, ep); break;
    case 2: micro_t(2, k, a, b, c, ldc, acc, n, ep); break;
    case 3: micro_t(3, k, a, b, c, ldc, acc, n, ep); break;
    case 4: micro_t(4, k, a, b, c, ldc, acc, n, ep); break;
    case 5: micro_t(5, k, a, b, c, ldc, acc, n, ep); break;
    case 6: micro_t(6, k, a, b, c, ldc, acc, n, ep); break;
    case 7: micro_t(7, k, a, b, c, ldc, acc, n, ep); break;
    default: micro_t(8, k, a, b, c, ldc, acc, n, ep); break;
    }
}

static float sdot(const float *x, const float *y, int64_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), s1);
    }
    for (; i < n; i += 16) {
        __mmask16 m = (__mmask16)(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i), s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

static const it_kernel_table table = {IT_ISA_AVX512, MR, NR, micro, sdot, NULL, it_dwconv_row_avx512,
                                       it_wino_in_avx512, it_wino_out_avx512, it_pool_row_avx512};
const it_kernel_table *it_kernels_avx512(void);
const it_kernel_table *it_kernels_avx512(void) { return &table; }
