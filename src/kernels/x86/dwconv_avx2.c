/*
 * dwconv_avx2.c: depthwise convolution rows (group == channels convs of
 * MobileNet / BlazeFace), 8 output columns per vector; stride 1 uses plain
 * loads, stride 2 deinterleaves two loads; other strides and the column tail
 * are scalar.
 */
#include <immintrin.h>

#include "kernels/kernels.h"

void it_dwconv_row_avx2(float *out, int64_t ow, const float *const *rows, const float *w, int kh, int kw,
                        int sw, int dw, float bias);
void it_dwconv_row_avx2(float *out, int64_t ow, const float *const *rows, const float *w, int kh, int kw,
                        int sw, int dw, float bias) {
    int64_t j = 0;
    if (sw == 1) {
        for (; j + 16 <= ow; j += 16) {
            __m256 a0 = _mm256_set1_ps(bias), a1 = a0;
            for (int i = 0; i < kh; i++) {
                const float *r = rows[i] + j;
                for (int k = 0; k < kw; k++) {
                    __m256 wv = _mm256_broadcast_ss(w + i * kw + k);
                    a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(r + k * dw), a0);
                    a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(r + k * dw + 8), a1);
                }
            }
            _mm256_storeu_ps(out + j, a0);
            _mm256_storeu_ps(out + j + 8, a1);
        }
        for (; j + 8 <= ow; j += 8) {
            __m256 a0 = _mm256_set1_ps(bias);
            for (int i = 0; i < kh; i++)
                for (int k = 0; k < kw; k++)
                    a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(w + i * kw + k), _mm256_loadu_ps(rows[i] + j + k * dw), a0);
            _mm256_storeu_ps(out + j, a0);
        }
    } else if (sw == 2) {
        /* a vector reads 16 elements from 2j (one past the last needed: the plane has slack) */
        for (; j + 8 <= ow; j += 8) {
            __m256 a0 = _mm256_set1_ps(bias);
            for (int i = 0; i < kh; i++) {
                const float *r = rows[i] + 2 * j;
                for (int k = 0; k < kw; k++) {
                    const float *q = r + k * dw;
                    __m256 lo = _mm256_loadu_ps(q), hi = _mm256_loadu_ps(q + 8);
                    __m256 ev = _mm256_shuffle_ps(lo, hi, 0x88);
                    ev = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), 0xd8));
                    a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(w + i * kw + k), ev, a0);
                }
            }
            _mm256_storeu_ps(out + j, a0);
        }
    }
    for (; j < ow; j++) {
        float s = bias;
        for (int i = 0; i < kh; i++)
            for (int k = 0; k < kw; k++) s += w[i * kw + k] * rows[i][j * sw + k * dw];
        out[j] = s;
    }
}
