/*
 * gemm_avx512.c: AVX-512 micro-kernel, an 8x32 register tile (16 zmm
 * accumulators). Compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl.
 */
#include <immintrin.h>

#include "kernels/kernels.h"

#define MR 8
#define NR 32

static void micro(int64_t k, const float *a, const float *b, float *c, int64_t ldc, int acc, int m, int n) {
    __m512 r0[MR], r1[MR];
    for (int i = 0; i < MR; i++) r0[i] = r1[i] = _mm512_setzero_ps();
    for (int64_t p = 0; p < k; p++) {
        __m512 b0 = _mm512_loadu_ps(b + p * NR), b1 = _mm512_loadu_ps(b + p * NR + 16);
        const float *ap = a + p * MR;
        for (int i = 0; i < MR; i++) {
            __m512 x = _mm512_set1_ps(ap[i]);
            r0[i] = _mm512_fmadd_ps(x, b0, r0[i]);
            r1[i] = _mm512_fmadd_ps(x, b1, r1[i]);
        }
    }
    if (n == NR) {
        for (int i = 0; i < m; i++) {
            float *cr = c + i * ldc;
            if (acc) {
                r0[i] = _mm512_add_ps(r0[i], _mm512_loadu_ps(cr));
                r1[i] = _mm512_add_ps(r1[i], _mm512_loadu_ps(cr + 16));
            }
            _mm512_storeu_ps(cr, r0[i]);
            _mm512_storeu_ps(cr + 16, r1[i]);
        }
        return;
    }
    __mmask16 k0 = (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1);
    __mmask16 k1 = (__mmask16)(n <= 16 ? 0 : n >= 32 ? 0xffff : (1u << (n - 16)) - 1);
    for (int i = 0; i < m; i++) {
        float *cr = c + i * ldc;
        if (acc) {
            r0[i] = _mm512_add_ps(r0[i], _mm512_maskz_loadu_ps(k0, cr));
            r1[i] = _mm512_add_ps(r1[i], _mm512_maskz_loadu_ps(k1, cr + 16));
        }
        _mm512_mask_storeu_ps(cr, k0, r0[i]);
        _mm512_mask_storeu_ps(cr + 16, k1, r1[i]);
    }
}

static float sdot(const float *x, const float *y, int64_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), s1);
    }
    float s = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    for (; i < n; i++) s += x[i] * y[i];
    return s;
}

static const it_kernel_table table = {IT_ISA_AVX512, MR, NR, micro, sdot, NULL};
const it_kernel_table *it_kernels_avx512(void);
const it_kernel_table *it_kernels_avx512(void) { return &table; }
