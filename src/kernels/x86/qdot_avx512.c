/*
 * qdot_avx512.c: the AVX-512 VNNI tier of qdot.h: Q8_0 / Q4_0 weight rows against Q8_0
 * activation rows with vpdpbusd (unsigned |w| times sign-adjusted x, 32 pairs per block
 * into 8 int32 lanes), and f16 . f32 dot / axpy 16 lanes wide.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/qdot.h"
#include "tensor/quant.h"
#include "tensor/tensor.h"

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline __m256 dot32(__m256i w, __m256i x) {
    __m256i aw = _mm256_abs_epi8(w);
    __m256i sx = _mm256_sign_epi8(x, w);
    return _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), aw, sx));
}

static inline float half(uint16_t h) { return _cvtsh_ss(h); }

static float q8_0(const void *w, const void *xq8, int64_t n) {
    const it_block_q8_0 *a = w, *b = xq8;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / IT_QK; i++) {
        __m256i wv = _mm256_loadu_si256((const __m256i *)a[i].qs);
        __m256i xv = _mm256_loadu_si256((const __m256i *)b[i].qs);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half(a[i].d) * half(b[i].d)), dot32(wv, xv), acc);
    }
    return hsum8(acc);
}

static float q4_0(const void *w, const void *xq8, int64_t n) {
    const it_block_q4_0 *a = w;
    const it_block_q8_0 *b = xq8;
    const __m128i m4 = _mm_set1_epi8(15), off = _mm_set1_epi8(8);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / IT_QK; i++) {
        __m128i q = _mm_loadu_si128((const __m128i *)a[i].qs);
        __m128i lo = _mm_sub_epi8(_mm_and_si128(q, m4), off);
        __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), m4), off);
        __m256i wv = _mm256_set_m128i(hi, lo);
        __m256i xv = _mm256_loadu_si256((const __m256i *)b[i].qs);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half(a[i].d) * half(b[i].d)), dot32(wv, xv), acc);
    }
    return hsum8(acc);
}

static float dot_f16(const uint16_t *a, const float *b, int64_t n) {
    __m512 s0 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(a + i))), _mm512_loadu_ps(b + i), s0);
    float s = _mm512_reduce_add_ps(s0);
    for (; i < n; i++) s += half(a[i]) * b[i];
    return s;
}

static void axpy_f16(float *y, float a, const uint16_t *x, int64_t n) {
    __m512 va = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))),
                                                _mm512_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * half(x[i]);
}

static const it_qdot_table table = {IT_ISA_AVX512, q8_0, q4_0, dot_f16, axpy_f16};
const it_qdot_table *it_qdot_avx512(void);
const it_qdot_table *it_qdot_avx512(void) { return &table; }
