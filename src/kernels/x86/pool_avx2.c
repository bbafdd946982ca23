/*
 * pool_avx2.c: MaxPool / AveragePool rows (windows inside the plane), 8
 * output columns per vector. Stride 1 loads directly, stride 2 deinterleaves
 * two loads while they stay inside the row's extent; other strides and the
 * column tail are scalar, so nothing past the row's last needed element is read.
 */
#include <immintrin.h>
#include <math.h>

#include "kernels/kernels.h"

void it_pool_row_avx2(float *out, int64_t ow, const float *const *rows, int kh, int kw, int sw, int is_max,
                      float div);
void it_pool_row_avx2(float *out, int64_t ow, const float *const *rows, int kh, int kw, int sw, int is_max,
                      float div) {
    int64_t j = 0;
    __m256 dv = _mm256_set1_ps(div);
    if (sw == 1) {
        for (; j + 8 <= ow; j += 8) {
            __m256 acc = is_max ? _mm256_set1_ps(-INFINITY) : _mm256_setzero_ps();
            for (int i = 0; i < kh; i++) {
                const float *r = rows[i] + j;
                for (int k = 0; k < kw; k++) {
                    __m256 v = _mm256_loadu_ps(r + k);
                    acc = is_max ? _mm256_max_ps(v, acc) : _mm256_add_ps(acc, v);
                }
            }
            _mm256_storeu_ps(out + j, is_max ? acc : _mm256_div_ps(acc, dv));
        }
    } else if (sw == 2) {
        /* the vector at j reads r[2j + k .. 2j + k + 15]; the row ends at 2(ow-1) + kw-1 */
        for (; 2 * j + 16 <= 2 * (ow - 1) + 1; j += 8) {
            __m256 acc = is_max ? _mm256_set1_ps(-INFINITY) : _mm256_setzero_ps();
            for (int i = 0; i < kh; i++) {
                const float *r = rows[i] + 2 * j;
                for (int k = 0; k < kw; k++) {
                    __m256 lo = _mm256_loadu_ps(r + k), hi = _mm256_loadu_ps(r + k + 8);
                    __m256 v = _mm256_shuffle_ps(lo, hi, 0x88);
                    v = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(v), 0xd8));
                    acc = is_max ? _mm256_max_ps(v, acc) : _mm256_add_ps(acc, v);
                }
            }
            _mm256_storeu_ps(out + j, is_max ? acc : _mm256_div_ps(acc, dv));
        }
    }
    for (; j < ow; j++) {
        if (is_max) {
            float m = -INFINITY;
            for (int i = 0; i < kh; i++)
                for (int k = 0; k < kw; k++) {
                    float v = rows[i][j * sw + k];
                    m = v > m ? v : m;
                }
            out[j] = m;
        } else {
            float s = 0;
            for (int i = 0; i < kh; i++)
                for (int k = 0; k < kw; k++) s += rows[i][j * sw + k];
            out[j] = s / div;
        }
    }
}
