/*
 * gemm_avx2.c: AVX2+FMA GEMM micro-kernel, a 6x16 register tile (12 ymm
 * accumulators), specialised at compile time for every row count 1..6 (small-M
 * products do no wasted FMAs); column tails use maskload/maskstore. Bias and
 * the fused activation (relu, clip, leaky, hardsigmoid, hardswish) are applied
 * before the tile is stored. Compiled with -mavx2 -mfma; only called when the
 * CPU has them.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/kernels.h"

#define MR 6
#define NR 16

void it_pool_row_avx2(float *out, int64_t ow, const float *const *rows, int kh, int kw, int sw, int is_max,
                      float div);
void it_dwconv_row_avx2(float *out, int64_t ow, const float *const *rows, const float *w, int kh, int kw,
                        int sw, int dw, float bias);

static inline __attribute__((always_inline)) __m256 act256(__m256 v, const it_micro_epi *ep) {
    switch (ep->act_kind) {
    case IT_ACT_RELU: return _mm256_max_ps(v, _mm256_setzero_ps());
    case IT_ACT_CLIP: return _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(ep->act_a)), _mm256_set1_ps(ep->act_b));
    case IT_ACT_LEAKY: {
        __m256 neg = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
        return _mm256_blendv_ps(v, _mm256_mul_ps(v, _mm256_set1_ps(ep->act_a)), neg);
    }
    case IT_ACT_HARDSIGMOID: {
        __m256 t = _mm256_fmadd_ps(v, _mm256_set1_ps(ep->act_a), _mm256_set1_ps(ep->act_b));
        return _mm256_min_ps(_mm256_max_ps(t, _mm256_setzero_ps()), _mm256_set1_ps(1.f));
    }
    case IT_ACT_HARDSWISH: {
        __m256 t = _mm256_fmadd_ps(v, _mm256_set1_ps(1.f / 6.f), _mm256_set1_ps(0.5f));
        t = _mm256_min_ps(_mm256_max_ps(t, _mm256_setzero_ps()), _mm256_set1_ps(1.f));
        return _mm256_mul_ps(v, t);
    }
    default: return v;
    }
}

static inline __m256i tail_mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline __attribute__((always_inline)) void micro_t(const int M_, int64_t k, const float *a, const float *b,
                                                          float *c, int64_t ldc, int acc, int n,
                                                          const it_micro_epi *ep) {
    __m256 r0[MR], r1[MR];
    #pragma GCC unroll 8
    for (int i = 0; i < M_; i++) r0[i] = r1[i] = _mm256_setzero_ps();
    for (int64_t p = 0; p < k; p++) {
        __m256 b0 = _mm256_loadu_ps(b + p * NR), b1 = _mm256_loadu_ps(b + p * NR + 8);
        const float *ap = a + p * MR;
        #pragma GCC unroll 8
        for (int i = 0; i < M_; i++) {
            __m256 x = _mm256_broadcast_ss(ap + i);
            r0[i] = _mm256_fmadd_ps(x, b0, r0[i]);
            r1[i] = _mm256_fmadd_ps(x, b1, r1[i]);
        }
    }
    int full = n == NR;
    __m256i m0 = tail_mask(n), m1 = tail_mask(n - 8);
    __m256 bn0 = _mm256_setzero_ps(), bn1 = bn0;
    if (ep && ep->bias_n) {
        bn0 = _mm256_maskload_ps(ep->bias_n, m0);
        bn1 = _mm256_maskload_ps(ep->bias_n + 8, m1);
    }
    #pragma GCC unroll 8
    for (int i = 0; i < M_; i++) {
        float *cr = c + i * ldc;
        __m256 v0 = r0[i], v1 = r1[i];
        if (acc) {
            if (full) {
                v0 = _mm256_add_ps(v0, _mm256_loadu_ps(cr));
                v1 = _mm256_add_ps(v1, _mm256_loadu_ps(cr + 8));
            } else {
                v0 = _mm256_add_ps(v0, _mm256_maskload_ps(cr, m0));
                v1 = _mm256_add_ps(v1, _mm256_maskload_ps(cr + 8, m1));
            }
        }
        if (ep) {
            if (ep->bias_m) {
                __m256 bm = _mm256_broadcast_ss(ep->bias_m + i);
                v0 = _mm256_add_ps(v0, bm);
                v1 = _mm256_add_ps(v1, bm);
            }
            if (ep->bias_n) {
                v0 = _mm256_add_ps(v0, bn0);
                v1 = _mm256_add_ps(v1, bn1);
            }
            if (ep->act_kind) {
                v0 = act256(v0, ep);
                v1 = act256(v1, ep);
            }
        }
        if (full) {
            _mm256_storeu_ps(cr, v0);
            _mm256_storeu_ps(cr + 8, v1);
        } else {
            _mm256_maskstore_ps(cr, m0, v0);
            if (n > 8) _mm256_maskstore_ps(cr + 8, m1, v1);
        }
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
    default: micro_t(6, k, a, b, c, ldc, acc, n, ep); break;
    }
}

static float sdot(const float *x, const float *y, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), s1);
    }
    s0 = _mm256_add_ps(s0, s1);
    float t[8];
    _mm256_storeu_ps(t, s0);
    float s = t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
    for (; i < n; i++) s += x[i] * y[i];
    return s;
}

static const it_kernel_table table = {IT_ISA_AVX2, MR, NR, micro, sdot, NULL, it_dwconv_row_avx2, NULL, NULL,
                                      it_pool_row_avx2};
const it_kernel_table *it_kernels_avx2(void);
const it_kernel_table *it_kernels_avx2(void) { return &table; }
