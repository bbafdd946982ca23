/*
 * qdot_blocks.h: the 32-weight-block dot-product kernels (1 row and 4 rows) shared by the
 * AVX2 and AVX-512 tiers, as one macro each tier instantiates after defining its own
 * helpers (half, hsum8, the DOT_* block products and the MTERM min terms). Both tiers run
 * these blocks on 256-bit registers; keeping one text keeps their rounding identical.
 */
#ifndef INGOT_QDOT_BLOCKS_H
#define INGOT_QDOT_BLOCKS_H

/* The activation scales and (Q8_1) block sums are read from the float copies after the
 * blocks (it_qdot_quant_act): no f16 conversions in the loops. */
#define KERNELS(NAME, WBLK, XBLK, ACT, LOADW, DOT, MTERM)                                                  \
    static float NAME(const void *w, const void *x, int64_t n) {                                           \
        const WBLK *a = w;                                                                                 \
        const XBLK *b = x;                                                                                 \
        const int64_t nb = n / IT_QK;                                                                      \
        const float *xd = (const float *)(const void *)((const char *)x + it_qdot_act_scales_off(ACT, n)); \
        __m256 acc = _mm256_setzero_ps();                                                                  \
        float ms = 0;                                                                                      \
        for (int64_t i = 0; i < nb; i++) {                                                                 \
            __m256i wv = LOADW(&a[i]);                                                                     \
            float dw = half(a[i].d);                                                                       \
            acc = _mm256_fmadd_ps(_mm256_set1_ps(dw * xd[i]),                                              \
                                  DOT(wv, _mm256_loadu_si256((const __m256i *)b[i].qs)), acc);             \
            MTERM(ms, a[i], xd[nb + i]);                                                                   \
        }                                                                                                  \
        return hsum8(acc) + ms;                                                                            \
    }                                                                                                      \
    static void NAME##_x4(const void *w, const void *x, int64_t xs, int64_t n, float *out) {               \
        const WBLK *a = w;                                                                                 \
        const int64_t nb = n / IT_QK, so = it_qdot_act_scales_off(ACT, n);                                 \
        const char *r0 = x, *r1 = r0 + xs, *r2 = r1 + xs, *r3 = r2 + xs;                                   \
        const XBLK *b0 = (const XBLK *)(const void *)r0, *b1 = (const XBLK *)(const void *)r1,             \
                   *b2 = (const XBLK *)(const void *)r2, *b3 = (const XBLK *)(const void *)r3;             \
        const float *d0 = (const float *)(const void *)(r0 + so), *d1 = (const float *)(const void *)(r1 + so), \
                    *d2 = (const float *)(const void *)(r2 + so), *d3 = (const float *)(const void *)(r3 + so); \
        __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;                                        \
        float m0 = 0, m1 = 0, m2 = 0, m3 = 0;                                                              \
        for (int64_t i = 0; i < nb; i++) {                                                                 \
            __m256i wv = LOADW(&a[i]);                                                                     \
            float dw = half(a[i].d);                                                                       \
            c0 = _mm256_fmadd_ps(_mm256_set1_ps(dw * d0[i]), DOT(wv, _mm256_loadu_si256((const __m256i *)b0[i].qs)), c0); \
            c1 = _mm256_fmadd_ps(_mm256_set1_ps(dw * d1[i]), DOT(wv, _mm256_loadu_si256((const __m256i *)b1[i].qs)), c1); \
            c2 = _mm256_fmadd_ps(_mm256_set1_ps(dw * d2[i]), DOT(wv, _mm256_loadu_si256((const __m256i *)b2[i].qs)), c2); \
            c3 = _mm256_fmadd_ps(_mm256_set1_ps(dw * d3[i]), DOT(wv, _mm256_loadu_si256((const __m256i *)b3[i].qs)), c3); \
            MTERM(m0, a[i], d0[nb + i]);                                                                   \
            MTERM(m1, a[i], d1[nb + i]);                                                                   \
            MTERM(m2, a[i], d2[nb + i]);                                                                   \
            MTERM(m3, a[i], d3[nb + i]);                                                                   \
        }                                                                                                  \
        out[0] = hsum8(c0) + m0;                                                                           \
        out[1] = hsum8(c1) + m1;                                                                           \
        out[2] = hsum8(c2) + m2;                                                                           \
        out[3] = hsum8(c3) + m3;                                                                           \
    }

#endif
