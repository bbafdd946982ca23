/*
 * gemm_avx2.c: AVX2+FMA micro-kernel, a 6x16 register tile (12 accumulators).
 * Compiled with -mavx2 -mfma; only called when the CPU has them.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/kernels.h"

#define MR 6
#define NR 16

static void micro(int64_t k, const float *a, const float *b, float *c, int64_t ldc, int acc, int m, int n) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
           c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int64_t p = 0; p < k; p++) {
        __m256 b0 = _mm256_loadu_ps(b + p * NR), b1 = _mm256_loadu_ps(b + p * NR + 8);
        const float *ap = a + p * MR;
        __m256 x;
        x = _mm256_broadcast_ss(ap + 0); c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
        x = _mm256_broadcast_ss(ap + 1); c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
        x = _mm256_broadcast_ss(ap + 2); c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
        x = _mm256_broadcast_ss(ap + 3); c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
        x = _mm256_broadcast_ss(ap + 4); c40 = _mm256_fmadd_ps(x, b0, c40); c41 = _mm256_fmadd_ps(x, b1, c41);
        x = _mm256_broadcast_ss(ap + 5); c50 = _mm256_fmadd_ps(x, b0, c50); c51 = _mm256_fmadd_ps(x, b1, c51);
    }
    __m256 r[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    if (m == MR && n == NR) {
        for (int i = 0; i < MR; i++) {
            float *cr = c + i * ldc;
            if (acc) {
                r[i][0] = _mm256_add_ps(r[i][0], _mm256_loadu_ps(cr));
                r[i][1] = _mm256_add_ps(r[i][1], _mm256_loadu_ps(cr + 8));
            }
            _mm256_storeu_ps(cr, r[i][0]);
            _mm256_storeu_ps(cr + 8, r[i][1]);
        }
        return;
    }
    float t[MR][NR];
    for (int i = 0; i < MR; i++) {
        _mm256_storeu_ps(t[i], r[i][0]);
        _mm256_storeu_ps(t[i] + 8, r[i][1]);
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) c[i * ldc + j] = acc ? c[i * ldc + j] + t[i][j] : t[i][j];
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

static const it_kernel_table table = {IT_ISA_AVX2, MR, NR, micro, sdot, NULL};
const it_kernel_table *it_kernels_avx2(void);
const it_kernel_table *it_kernels_avx2(void) { return &table; }
