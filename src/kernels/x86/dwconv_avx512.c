/*
 * dwconv_avx512.c: depthwise convolution rows (MobileNet / BlazeFace style
 * group == channels convs), 16 output columns per vector and up to four
 * vectors per block, so that four independent FMA chains hide the FMA
 * latency (one chain per vector would wait on the previous tap's result).
 * Stride 1 uses plain loads, stride 2 deinterleaves two loads, other strides
 * gather. The last vector of a row is masked, so nothing past the row's last
 * needed element is read.
 */
#include <immintrin.h>

#include "kernels/kernels.h"

void it_dwconv_row_avx512(float *out, int64_t ow, const float *const *rows, const float *w, int kh, int kw,
                          int sw, int dw, float bias);

static inline __mmask16 lowmask(int64_t n) {
    return (__mmask16)(n >= 16 ? 0xffff : n <= 0 ? 0 : (1u << n) - 1);
}

/* nv (1..4, a constant after inlining) vectors of outputs from column j; the last has
 * cnt_last valid lanes. sw is 1 or 2. */
static inline __attribute__((always_inline)) void dw_block(float *out, int64_t j, int nv, int64_t cnt_last,
                                                           const float *const *rows, const float *w, int kh, int kw,
                                                           int sw, int dw, float bias) {
    __m512 a[4];
    for (int v = 0; v < nv; v++) a[v] = _mm512_set1_ps(bias);
    __mmask16 ml = lowmask(cnt_last);
    if (sw == 1) {
        for (int i = 0; i < kh; i++) {
            const float *r = rows[i] + j;
            const float *wr = w + i * kw;
            for (int k = 0; k < kw; k++) {
                __m512 wv = _mm512_set1_ps(wr[k]);
                const float *q = r + k * dw;
                for (int v = 0; v < nv; v++) {
                    __m512 x = v == nv - 1 ? _mm512_maskz_loadu_ps(ml, q + 16 * v) : _mm512_loadu_ps(q + 16 * v);
                    a[v] = _mm512_fmadd_ps(wv, x, a[v]);
                }
            }
        }
    } else {
        const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        int64_t need = 2 * cnt_last - 1; /* elements the last vector reads from its start */
        __mmask16 mlo = lowmask(need), mhi = lowmask(need - 16);
        for (int i = 0; i < kh; i++) {
            const float *r = rows[i] + 2 * j;
            const float *wr = w + i * kw;
            for (int k = 0; k < kw; k++) {
                __m512 wv = _mm512_set1_ps(wr[k]);
                const float *q = r + k * dw;
                for (int v = 0; v < nv; v++) {
                    __m512 lo, hi;
                    if (v == nv - 1) {
                        lo = _mm512_maskz_loadu_ps(mlo, q + 32 * v);
                        hi = _mm512_maskz_loadu_ps(mhi, q + 32 * v + 16);
                    } else {
                        lo = _mm512_loadu_ps(q + 32 * v);
                        hi = _mm512_loadu_ps(q + 32 * v + 16);
                    }
                    a[v] = _mm512_fmadd_ps(wv, _mm512_permutex2var_ps(lo, even, hi), a[v]);
                }
            }
        }
    }
    for (int v = 0; v < nv; v++) {
        if (v == nv - 1) _mm512_mask_storeu_ps(out + j + 16 * v, ml, a[v]);
        else _mm512_storeu_ps(out + j + 16 * v, a[v]);
    }
}

void it_dwconv_row_avx512(float *out, int64_t ow, const float *const *rows, const float *w, int kh, int kw,
                          int sw, int dw, float bias) {
    int64_t j = 0;
    if (sw == 1 || sw == 2) {
        for (; j < ow; j += 64) {
            int64_t rem = ow - j;
            int nv = rem >= 64 ? 4 : (int)((rem + 15) / 16);
            int64_t cnt_last = rem - 16 * (nv - 1);
            if (cnt_last > 16) cnt_last = 16;
            switch (nv) {
            case 4: dw_block(out, j, 4, cnt_last, rows, w, kh, kw, sw, dw, bias); break;
            case 3: dw_block(out, j, 3, cnt_last, rows, w, kh, kw, sw, dw, bias); break;
            case 2: dw_block(out, j, 2, cnt_last, rows, w, kh, kw, sw, dw, bias); break;
            default: dw_block(out, j, 1, cnt_last, rows, w, kh, kw, sw, dw, bias); break;
            }
        }
        return;
    }
    __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                     _mm512_set1_epi32(sw));
    for (; j < ow; j += 16) {
        __mmask16 m = lowmask(ow - j);
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
