/*
 * pool_avx512.c: MaxPool / AveragePool rows (windows inside the plane), 16
 * output columns per vector. Stride 1 loads directly, stride 2 deinterleaves
 * two loads, other strides gather; every load is masked to the elements the
 * row needs, so rows may point into the caller's tensor with no slack.
 */
#include <immintrin.h>
#include <math.h>

#include "kernels/kernels.h"

void it_pool_row_avx512(float *out, int64_t ow, const float *const *rows, int kh, int kw, int sw, int is_max,
                        float div);

static inline __mmask16 lowmask(int64_t n) {
    return (__mmask16)(n >= 16 ? 0xffff : n <= 0 ? 0 : (1u << n) - 1);
}

/* one vector of 16 (cnt valid) outputs starting at column j */
static inline __attribute__((always_inline)) __m512 pool_vec(const float *const *rows, int64_t j, int64_t cnt,
                                                             int kh, int kw, int sw, int is_max) {
    __m512 acc = is_max ? _mm512_set1_ps(-INFINITY) : _mm512_setzero_ps();
    __mmask16 m = lowmask(cnt);
    if (sw == 1) {
        for (int i = 0; i < kh; i++) {
            const float *r = rows[i] + j;
            for (int k = 0; k < kw; k++) {
                __m512 v = _mm512_maskz_loadu_ps(m, r + k);
                acc = is_max ? _mm512_max_ps(v, acc) : _mm512_add_ps(acc, v);
            }
        }
    } else if (sw == 2) {
        const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        int64_t need = 2 * cnt - 1;
        __mmask16 mlo = lowmask(need), mhi = lowmask(need - 16);
        for (int i = 0; i < kh; i++) {
            const float *r = rows[i] + 2 * j;
            for (int k = 0; k < kw; k++) {
                __m512 lo = _mm512_maskz_loadu_ps(mlo, r + k), hi = _mm512_maskz_loadu_ps(mhi, r + k + 16);
                __m512 v = _mm512_permutex2var_ps(lo, even, hi);
                acc = is_max ? _mm512_max_ps(v, acc) : _mm512_add_ps(acc, v);
            }
        }
    } else {
        __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(sw));
        for (int i = 0; i < kh; i++) {
            const float *r = rows[i] + j * sw;
            for (int k = 0; k < kw; k++) {
                __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, r + k, 4);
                acc = is_max ? _mm512_max_ps(v, acc) : _mm512_add_ps(acc, v);
            }
        }
    }
    return acc;
}

void it_pool_row_avx512(float *out, int64_t ow, const float *const *rows, int kh, int kw, int sw, int is_max,
                        float div) {
    __m512 dv = _mm512_set1_ps(div);
    for (int64_t j = 0; j < ow; j += 16) {
        int64_t cnt = ow - j >= 16 ? 16 : ow - j;
        __m512 v = is_max ? pool_vec(rows, j, cnt, kh, kw, sw, 1) : _mm512_div_ps(pool_vec(rows, j, cnt, kh, kw, sw, 0), dv);
        _mm512_mask_storeu_ps(out + j, lowmask(cnt), v);
    }
}
