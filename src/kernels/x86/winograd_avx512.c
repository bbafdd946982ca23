/*
 * winograd_avx512.c: AVX-512 tile transforms for Winograd F(4x4, 3x3)
 * convolution (driver and portable reference in ../winograd.c). Sixteen tiles
 * side by side are transformed at once, one tile per lane: the stride-4 columns
 * of the 6x6 input windows are deinterleaved from contiguous row loads with
 * two-source permutes, and the 4x4 outputs are interleaved back into
 * contiguous rows with unpacks and 128-bit shuffles, so the transforms cost a
 * few instructions per tile and channel next to the 36 products.
 * Compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl.
 */
#include <immintrin.h>

#include "kernels/kernels.h"

void it_wino_in_avx512(const float *src, int64_t ld, int n, float *dst, int64_t xs);
void it_wino_out_avx512(const float *src, int64_t xs, int n, float *dst, float bias, const it_act *act);

/* o = B^T d over six vectors */
static inline __attribute__((always_inline)) void bt6(const __m512 *d, int ds, __m512 *o, int os) {
    const __m512 c4 = _mm512_set1_ps(4.f), c5 = _mm512_set1_ps(5.f), c2 = _mm512_set1_ps(2.f);
    __m512 d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds], d4 = d[4 * ds], d5 = d[5 * ds];
    o[0] = _mm512_fmadd_ps(c4, d0, _mm512_fnmadd_ps(c5, d2, d4));
    o[os] = _mm512_fnmadd_ps(c4, _mm512_add_ps(d1, d2), _mm512_add_ps(d3, d4));
    o[2 * os] = _mm512_fmadd_ps(c4, _mm512_sub_ps(d1, d2), _mm512_sub_ps(d4, d3));
    __m512 e = _mm512_sub_ps(d4, d2), f = _mm512_sub_ps(d3, d1);
    o[3 * os] = _mm512_fmadd_ps(c2, f, e);
    o[4 * os] = _mm512_fnmadd_ps(c2, f, e);
    o[5 * os] = _mm512_fmadd_ps(c4, d1, _mm512_fnmadd_ps(c5, d3, d5));
}

void it_wino_in_avx512(const float *src, int64_t ld, int n, float *dst, int64_t xs) {
    __mmask16 k = (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1);
    /* column j of tile l sits at 4l + j: lanes 0..7 from (a0, a1), 8..15 from (a2, a3) */
    const __m512i ix0 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i one = _mm512_set1_epi32(1);
    const __m512i sh0 = _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
    const __m512i sh1 = _mm512_add_epi32(sh0, _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1));
    __m512 d[36], t[36];
    for (int r = 0; r < 6; r++) {
        const float *s = src + r * ld;
        __m512 a0 = _mm512_loadu_ps(s), a1 = _mm512_loadu_ps(s + 16), a2 = _mm512_loadu_ps(s + 32);
        __m512 a3 = _mm512_loadu_ps(s + 48), a4 = _mm512_loadu_ps(s + 64);
        __m512i ix = ix0;
        for (int j = 0; j < 4; j++) {
            __m512 lo = _mm512_permutex2var_ps(a0, ix, a1), hi = _mm512_permutex2var_ps(a2, ix, a3);
            d[r * 6 + j] = _mm512_shuffle_f32x4(lo, hi, 0x44);
            ix = _mm512_add_epi32(ix, one);
        }
        /* columns 4 and 5 are columns 0 and 1 of the next tile */
        d[r * 6 + 4] = _mm512_permutex2var_ps(d[r * 6], sh0, a4);
        d[r * 6 + 5] = _mm512_permutex2var_ps(d[r * 6 + 1], sh1, a4);
    }
    for (int c = 0; c < 6; c++) bt6(d + c, 6, t + c, 6); /* t = B^T d */
    for (int r = 0; r < 6; r++) {
        __m512 v[6];
        bt6(t + r * 6, 1, v, 1);                      /* v = t B */
        for (int c = 0; c < 6; c++) _mm512_mask_storeu_ps(dst + (r * 6 + c) * xs, k, v[c]);
    }
}

/* o = A^T m over six vectors (four results) */
static inline __attribute__((always_inline)) void at6(const __m512 *m, int ms, __m512 *o, int os) {
    __m512 a = _mm512_add_ps(m[ms], m[2 * ms]), b = _mm512_sub_ps(m[ms], m[2 * ms]);
    __m512 c = _mm512_add_ps(m[3 * ms], m[4 * ms]), d = _mm512_sub_ps(m[3 * ms], m[4 * ms]);
    o[0] = _mm512_add_ps(_mm512_add_ps(m[0], a), c);
    o[os] = _mm512_fmadd_ps(_mm512_set1_ps(2.f), d, b);
    o[2 * os] = _mm512_fmadd_ps(_mm512_set1_ps(4.f), c, a);
    o[3 * os] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.f), d, b), m[5 * ms]);
}

static inline __attribute__((always_inline)) __m512 act512(__m512 v, int kind, float a, float b) {
    switch (kind) {
    case IT_ACT_RELU: return _mm512_max_ps(v, _mm512_setzero_ps());
    case IT_ACT_CLIP: return _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(a)), _mm512_set1_ps(b));
    case IT_ACT_LEAKY:
        return _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v, _mm512_set1_ps(a));
    case IT_ACT_HARDSIGMOID: {
        __m512 t = _mm512_fmadd_ps(v, _mm512_set1_ps(a), _mm512_set1_ps(b));
        return _mm512_min_ps(_mm512_max_ps(t, _mm512_setzero_ps()), _mm512_set1_ps(1.f));
    }
    case IT_ACT_HARDSWISH: {
        __m512 t = _mm512_fmadd_ps(v, _mm512_set1_ps(1.f / 6.f), _mm512_set1_ps(0.5f));
        return _mm512_mul_ps(v, _mm512_min_ps(_mm512_max_ps(t, _mm512_setzero_ps()), _mm512_set1_ps(1.f)));
    }
    default: return v;
    }
}

void it_wino_out_avx512(const float *src, int64_t xs, int n, float *dst, float bias, const it_act *act) {
    int kind = act ? act->kind : 0;
    float aa = act ? act->a : 0.f, ab = act ? act->b : 0.f;
    __mmask16 k = (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1);
    __m512 m[36], t[24];
    for (int i = 0; i < 36; i++) m[i] = _mm512_maskz_loadu_ps(k, src + i * xs);
    for (int c = 0; c < 6; c++) at6(m + c, 6, t + c, 6); /* t[4][6] = A^T m */
    __m512 bv = _mm512_set1_ps(bias);
    for (int r = 0; r < 4; r++) {
        __m512 o[4];
        at6(t + r * 6, 1, o, 1);
        for (int c = 0; c < 4; c++) o[c] = act512(_mm512_add_ps(o[c], bv), kind, aa, ab);
        /* interleave: out[4l + c] = o[c][l] */
        __m512 p01l = _mm512_unpacklo_ps(o[0], o[1]), p01h = _mm512_unpackhi_ps(o[0], o[1]);
        __m512 p23l = _mm512_unpacklo_ps(o[2], o[3]), p23h = _mm512_unpackhi_ps(o[2], o[3]);
        __m512 r0 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(p01l), _mm512_castps_pd(p23l)));
        __m512 r1 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(p01l), _mm512_castps_pd(p23l)));
        __m512 r2 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(p01h), _mm512_castps_pd(p23h)));
        __m512 r3 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(p01h), _mm512_castps_pd(p23h)));
        /* r0 holds tiles 0,4,8,12 (one per 128-bit lane), r1 1,5,9,13, ... */
        __m512 s0 = _mm512_shuffle_f32x4(r0, r1, 0x88), s1 = _mm512_shuffle_f32x4(r2, r3, 0x88);
        __m512 s2 = _mm512_shuffle_f32x4(r0, r1, 0xdd), s3 = _mm512_shuffle_f32x4(r2, r3, 0xdd);
        float *d = dst + r * 64;
        _mm512_storeu_ps(d, _mm512_shuffle_f32x4(s0, s1, 0x88));
        _mm512_storeu_ps(d + 16, _mm512_shuffle_f32x4(s2, s3, 0x88));
        _mm512_storeu_ps(d + 32, _mm512_shuffle_f32x4(s0, s1, 0xdd));
        _mm512_storeu_ps(d + 48, _mm512_shuffle_f32x4(s2, s3, 0xdd));
    }
}
