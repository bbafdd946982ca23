/*
 * qgemm_avx2.c: AVX2 tier of the 8-bit GEMM (see qgemm.h): operands are packed
 * widened to int16 (pairs along K), so a 6x16 register tile (12 ymm
 * accumulators) runs on vpmaddwd, exact for any u8 x s8 input (vpmaddubsw
 * would saturate its int16 pair sums). Also an 8-wide requantization.
 * Compiled with -mavx2 -mfma; only used when the CPU has AVX2.
 */
#include <immintrin.h>

#include "kernels/qgemm.h"

#define MR 6
#define NR 16
#define KG 2

static void micro(int64_t kp, const void *a, const void *b, int32_t *c, int a_unsigned) {
    (void)a_unsigned; /* values are already widened with their signedness */
    const int16_t *A = a, *B = b;
    const int64_t ng = kp / KG;
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
            c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int64_t g = 0; g < ng; g++) {
        __m256i b0 = _mm256_loadu_si256((const __m256i *)(B + g * NR * KG));
        __m256i b1 = _mm256_loadu_si256((const __m256i *)(B + g * NR * KG + 16));
        const int32_t *ag = (const int32_t *)(const void *)(A + g * MR * KG);
        __m256i x;
        x = _mm256_set1_epi32(ag[0]);
        c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(x, b0)); c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(x, b1));
        x = _mm256_set1_epi32(ag[1]);
        c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(x, b0)); c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(x, b1));
        x = _mm256_set1_epi32(ag[2]);
        c20 = _mm256_add_epi32(c20, _mm256_madd_epi16(x, b0)); c21 = _mm256_add_epi32(c21, _mm256_madd_epi16(x, b1));
        x = _mm256_set1_epi32(ag[3]);
        c30 = _mm256_add_epi32(c30, _mm256_madd_epi16(x, b0)); c31 = _mm256_add_epi32(c31, _mm256_madd_epi16(x, b1));
        x = _mm256_set1_epi32(ag[4]);
        c40 = _mm256_add_epi32(c40, _mm256_madd_epi16(x, b0)); c41 = _mm256_add_epi32(c41, _mm256_madd_epi16(x, b1));
        x = _mm256_set1_epi32(ag[5]);
        c50 = _mm256_add_epi32(c50, _mm256_madd_epi16(x, b0)); c51 = _mm256_add_epi32(c51, _mm256_madd_epi16(x, b1));
    }
    _mm256_storeu_si256((__m256i *)(c + 0 * NR), c00); _mm256_storeu_si256((__m256i *)(c + 0 * NR + 8), c01);
    _mm256_storeu_si256((__m256i *)(c + 1 * NR), c10); _mm256_storeu_si256((__m256i *)(c + 1 * NR + 8), c11);
    _mm256_storeu_si256((__m256i *)(c + 2 * NR), c20); _mm256_storeu_si256((__m256i *)(c + 2 * NR + 8), c21);
    _mm256_storeu_si256((__m256i *)(c + 3 * NR), c30); _mm256_storeu_si256((__m256i *)(c + 3 * NR + 8), c31);
    _mm256_storeu_si256((__m256i *)(c + 4 * NR), c40); _mm256_storeu_si256((__m256i *)(c + 4 * NR + 8), c41);
    _mm256_storeu_si256((__m256i *)(c + 5 * NR), c50); _mm256_storeu_si256((__m256i *)(c + 5 * NR + 8), c51);
}

static void requant(const int32_t *acc, int64_t n, const float *scale, int scale_vec, int32_t zp, int out_s8,
                    void *out) {
    const __m256 lo = _mm256_set1_ps((float)((out_s8 ? -128 : 0) - zp));
    const __m256 hi = _mm256_set1_ps((float)((out_s8 ? 127 : 255) - zp));
    const __m256i vz = _mm256_set1_epi32(zp);
    __m256 s = _mm256_set1_ps(scale[0]);
    uint8_t *o = out;
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 v = _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(acc + j)));
        if (scale_vec) s = _mm256_loadu_ps(scale + j);
        v = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(v, s), lo), hi);
        __m256i r = _mm256_add_epi32(_mm256_cvtps_epi32(v), vz);
        __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        w = out_s8 ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w);
        _mm_storel_epi64((__m128i *)(o + j), w);
    }
    if (j < n) it_qrequant_ref(acc + j, n - j, scale_vec ? scale + j : scale, scale_vec, zp, out_s8, o + j);
}

static const it_qgemm_tier tier = {IT_ISA_AVX2, "avx2", MR, NR, KG, 2, micro, requant};

const it_qgemm_tier *it_qgemm_tier_avx2(void) { return &tier; }
