/*
 * dwconv_avx512.c: depthwise convolution rows (MobileNet / BlazeFace style
 * group == channels convs), 16 output columns per vector; stride 1 uses plain
 * loads, stride 2 deinterleaves two loads, other strides gather. Tails use
 * masks, so nothing past the row's last needed element is read.
 */
#include <immintrin.h>

#include "kernels/kernels.h"

void it_dwconv_row_avx512(float *out, int64_t ow, const float *const *rows, const float *w, int kh, int kw,
                          int sw, int dw, float bias);
void it_dwconv_row_avx512(float *out, int64_t ow, const float *const *rows, const float *w, int kh, int kw,
                          int sw, int dw, float bias) {
    int64_t j = 0;
    if (sw == 1) {
        for (; j + 32 <= ow; j += 32) {
            __m512 a0 = _mm512_set1_ps(bias), a1 = a0;
            for (int i = 0; i < kh; i++) {
                const float *r = rows[i] + j;
                const float *wr = w + i * kw;
                for (int k = 0; k < kw; k++) {
                    __m512 wv = _mm512_set1_ps(wr[k]);
                    a0 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(r + k * dw), a0);
                    a1 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(r + k * dw + 16), a1);
                }
            }
            _mm512_storeu_ps(out + j, a0);
            _mm512_storeu_ps(out + j + 16, a1);
        }
        for (; j < ow; j += 16) {
            __mmask16 m = (__mmask16)(ow - j >= 16 ? 0xffff : (1u << (ow - j)) - 1);
            __m512 a0 = _mm512_set1_ps(bias);
            for (int i = 0; i < kh; i++) {
                const float *r = rows[i] + j;
                for (int k = 0; k < kw; k++)
                    a0 = _mm512_fmadd_ps(_mm512_set1_ps(w[i * kw + k]), _mm512_maskz_loadu_ps(m, r + k * dw), a0);
            }
            _mm512_mask_storeu_ps(out + j, m, a0);
        }
    } else if (sw == 2) {
        const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        for (; j < ow; j += 16) {
            int64_t cnt = ow - j >= 16 ? 16 : ow - j;
            __mmask16 m = (__mmask16)(cnt == 16 ? 0xffff : (1u << cnt) - 1);
            int64_t need = 2 * cnt - 1; /* elements read from the row */
            __mmask16 mlo = (__mmask16)(need >= 16 ? 0xffff : (1u << need) - 1);
            __mmask16 mhi = (__mmask16)(need <= 16 ? 0 : need >= 32 ? 0xffff : (1u << (need - 16)) - 1);
            __m512 a0 = _mm512_set1_ps(bias);
            for (int i = 0; i < kh; i++) {
                const float *r = rows[i] + 2 * j;
                for (int k = 0; k < kw; k++) {
                    __m512 lo = _mm512_maskz_loadu_ps(mlo, r + k * dw), hi = _mm512_maskz_loadu_ps(mhi, r + k * dw + 16);
                    a0 = _mm512_fmadd_ps(_mm512_set1_ps(w[i * kw + k]), _mm512_permutex2var_ps(lo, even, hi), a0);
                }
            }
            _mm512_mask_storeu_ps(out + j, m, a0);
        }
    } else {
        __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(sw));
        for (; j < ow; j += 16) {
            __mmask16 m = (__mmask16)(ow - j >= 16 ? 0xffff : (1u << (ow - j)) - 1);
            __m512 a0 = _mm512_set1_ps(bias);
            for (int i = 0; i < kh; i++) {
                const float *r = rows[i] + j * sw;
                for (int k = 0; k < kw; k++) {
                    __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, r + k * dw, 4);
                    a0 = _mm512_fmadd_ps(_mm512_set1_ps(w[i * kw + k]), v, a0);
                }
            }
            _mm512_mask_storeu_ps(out + j, m, a0);
        }
    }
}
