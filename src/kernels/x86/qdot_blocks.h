/*
 * qdot_blocks.h: the 32-weight-block dot-product kernels (1 row and 4 rows) shared by the
 * AVX2 and AVX-512 tiers, as one macro each tier instantiates after defining its own
 * helpers (half, hsum8, the DOT_* block products and the MTERM min terms). Both tiers run
 * these blocks on 256-bit registers; keeping one text keeps their rounding identical. The
 * K-quant row kernels (Q4_K / Q5_K / Q6_K) follow as functions over the tier's dot_u,
 * dot_s_scaled and scales2 (VNNI or maddubs underneath).
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

/* ---- K-quant rows ---- */

/* Q4_K (five = 0) / Q5_K (five = 1) against Q8_1: see it_qdot_q4_K_ref */
static inline float qk(const uint8_t *blocks, size_t bsz, int five, const it_block_q8_1 *b, int64_t n) {
    const __m256i m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    float macc = 0;
    for (int64_t i = 0; i < n / IT_QK_K; i++) {
        const uint8_t *blk = blocks + (size_t)i * bsz;
        uint16_t hd, hm;
        memcpy(&hd, blk, 2);
        memcpy(&hm, blk + 2, 2);
        float d = half(hd), dmin = half(hm);
        const uint8_t *scales = blk + 4, *qs = blk + (five ? 48 : 16);
        __m256i hb = five ? _mm256_loadu_si256((const __m256i *)(blk + 16)) : _mm256_setzero_si256();
        for (int k = 0; k < 8; k++) {
            const it_block_q8_1 *xb = &b[i * 8 + k];
            __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * (k / 2)));
            if (k & 1) q = _mm256_srli_epi16(q, 4);
            q = _mm256_and_si256(q, m4);
            if (five) {
                q = _mm256_or_si256(q, _mm256_slli_epi16(_mm256_and_si256(hb, one), 4));
                hb = _mm256_srli_epi16(hb, 1);
            }
            int sc, m;
            it_k4_scale_min(k, scales, &sc, &m);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * half(xb->d) * (float)sc),
                                  dot_u(q, _mm256_loadu_si256((const __m256i *)xb->qs)), acc);
            macc = fma1(dmin * (float)m, half(xb->s), macc);
        }
    }
    return hsum8(acc) - macc;
}
static float q4_K(const void *w, const void *x, int64_t n) { return qk(w, 144, 0, x, n); }
static float q5_K(const void *w, const void *x, int64_t n) { return qk(w, 176, 1, x, n); }

/* Q6_K against Q8_0: see it_qdot_q6_K_ref */
static float q6_K(const void *w, const void *xq8, int64_t n) {
    const it_block_q6_K *a = w;
    const it_block_q8_0 *b = xq8;
    const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3), off = _mm256_set1_epi8(32);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / IT_QK_K; i++) {
        float d = half(a[i].d);
        for (int h = 0; h < 2; h++) {
            __m256i qh = _mm256_loadu_si256((const __m256i *)(a[i].qh + 32 * h));
            __m256i l0 = _mm256_loadu_si256((const __m256i *)(a[i].ql + 64 * h));
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(a[i].ql + 64 * h + 32));
            for (int j = 0; j < 4; j++) {
                __m256i lo = j & 1 ? l1 : l0;
                if (j >= 2) lo = _mm256_srli_epi16(lo, 4);
                __m256i q = _mm256_or_si256(_mm256_and_si256(lo, m4),
                                            _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
                qh = _mm256_srli_epi16(qh, 2);
                q = _mm256_sub_epi8(q, off);
                const int8_t *sc = a[i].scales + 8 * h + 2 * j;
                const it_block_q8_0 *xb = &b[i * 8 + 4 * h + j];
                __m256i s = dot_s_scaled(q, _mm256_loadu_si256((const __m256i *)xb->qs), scales2(sc[0], sc[1]));
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * half(xb->d)), _mm256_cvtepi32_ps(s), acc);
            }
        }
    }
    return hsum8(acc);
}

#endif
