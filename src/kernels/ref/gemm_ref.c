/*
 * gemm_ref.c: the portable micro-kernel (the oracle for the SIMD tiers).
 */
#include "kernels/kernels.h"

#define MR 4
#define NR 8

void it_sgemm_micro_ref(int64_t k, const float *a, const float *b, float *c, int64_t ldc, int acc, int m, int n);
void it_sgemm_micro_ref(int64_t k, const float *a, const float *b, float *c, int64_t ldc, int acc, int m, int n) {
    float t[MR][NR] = {{0}};
    for (int64_t p = 0; p < k; p++)
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++) t[i][j] += a[p * MR + i] * b[p * NR + j];
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) c[i * ldc + j] = acc ? c[i * ldc + j] + t[i][j] : t[i][j];
}

float it_sdot_ref(const float *x, const float *y, int64_t n);
float it_sdot_ref(const float *x, const float *y, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += x[i] * y[i];
    return s;
}
