/*
 * gemm_ref.c: the portable kernels (the oracle the SIMD tiers are tested
 * against): a 4x8 GEMM micro-kernel with the epilogue, a dot product and a
 * depthwise convolution row.
 */
#include "kernels/kernels.h"

#define MR 4
#define NR 8

static float act1(float v, const it_micro_epi *ep) {
    switch (ep->act_kind) {
    case IT_ACT_RELU: return v > 0 ? v : 0;
    case IT_ACT_CLIP: return v < ep->act_a ? ep->act_a : v > ep->act_b ? ep->act_b : v;
    case IT_ACT_LEAKY: return v >= 0 ? v : v * ep->act_a;
    case IT_ACT_HARDSIGMOID: { float t = ep->act_a * v + ep->act_b; return t < 0 ? 0 : t > 1 ? 1 : t; }
    case IT_ACT_HARDSWISH: { float t = v / 6.f + 0.5f; t = t < 0 ? 0 : t > 1 ? 1 : t; return v * t; }
    default: return v;
    }
}

void it_sgemm_micro_ref(int64_t k, const float *a, const float *b, float *c, int64_t ldc, int acc, int m, int n,
                        const it_micro_epi *ep);
void it_sgemm_micro_ref(int64_t k, const float *a, const float *b, float *c, int64_t ldc, int acc, int m, int n,
                        const it_micro_epi *ep) {
    float t[MR][NR] = {{0}};
    for (int64_t p = 0; p < k; p++)
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++) t[i][j] += a[p * MR + i] * b[p * NR + j];
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float v = acc ? c[i * ldc + j] + t[i][j] : t[i][j];
            if (ep) {
                if (ep->bias_m) v += ep->bias_m[i];
                if (ep->bias_n) v += ep->bias_n[j];
                v = act1(v, ep);
            }
            c[i * ldc + j] = v;
        }
}

float it_sdot_ref(const float *x, const float *y, int64_t n);
float it_sdot_ref(const float *x, const float *y, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += x[i] * y[i];
    return s;
}

void it_dwconv_row_ref(float *out, int64_t ow, const float *const *rows, const float *w, int kh, int kw, int sw,
                       int dw, float bias);
void it_dwconv_row_ref(float *out, int64_t ow, const float *const *rows, const float *w, int kh, int kw, int sw,
                       int dw, float bias) {
    for (int64_t j = 0; j < ow; j++) {
        float s = bias;
        for (int i = 0; i < kh; i++)
            for (int k = 0; k < kw; k++) s += w[i * kw + k] * rows[i][j * sw + k * dw];
        out[j] = s;
    }
}
