/*
 * qgemm_avx512.c: AVX-512 VNNI tier of the 8-bit GEMM (see qgemm.h): an 8x32
 * register tile (16 zmm accumulators) built on vpdpbusd, which sums four
 * u8 x s8 products into each int32 lane without intermediate saturation, and
 * a 16-wide requantization. Compiled with -mavx512f/bw/vl/vnni; only used
 * when the CPU has AVX-512 VNNI (INGOT_ISA may cap it).
 */
#include <immintrin.h>

#include "kernels/qgemm.h"

#define MR 8
#define NR 32
#define KG 4

/* a_unsigned: A bytes u8 (broadcast, first operand), B s8. Else A s8, B u8. */
#define DP_UA(acc, av, bv) acc = _mm512_dpbusd_epi32(acc, av, bv)
#define DP_SA(acc, av, bv) acc = _mm512_dpbusd_epi32(acc, bv, av)

#define MICRO_BODY(DP)                                                                       \
    for (int64_t g = 0; g < ng; g++) {                                                       \
        __m512i b0 = _mm512_loadu_si512((const void *)(B + g * NR * KG));                    \
        __m512i b1 = _mm512_loadu_si512((const void *)(B + g * NR * KG + 64));               \
        const int32_t *ag = (const int32_t *)(const void *)(A + g * MR * KG);                \
        __m512i x;                                                                           \
        x = _mm512_set1_epi32(ag[0]); DP(c00, x, b0); DP(c01, x, b1);                         \
        x = _mm512_set1_epi32(ag[1]); DP(c10, x, b0); DP(c11, x, b1);                         \
        x = _mm512_set1_epi32(ag[2]); DP(c20, x, b0); DP(c21, x, b1);                         \
        x = _mm512_set1_epi32(ag[3]); DP(c30, x, b0); DP(c31, x, b1);                         \
        x = _mm512_set1_epi32(ag[4]); DP(c40, x, b0); DP(c41, x, b1);                         \
        x = _mm512_set1_epi32(ag[5]); DP(c50, x, b0); DP(c51, x, b1);                         \
        x = _mm512_set1_epi32(ag[6]); DP(c60, x, b0); DP(c61, x, b1);                         \
        x = _mm512_set1_epi32(ag[7]); DP(c70, x, b0); DP(c71, x, b1);                         \
    }

static void micro(int64_t kp, const void *a, const void *b, int32_t *c, int a_unsigned) {
    const uint8_t *A = a, *B = b;
    const int64_t ng = kp / KG;
    __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
            c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    if (a_unsigned) {
        MICRO_BODY(DP_UA)
    } else {
        MICRO_BODY(DP_SA)
    }
    _mm512_storeu_si512(c + 0 * NR, c00); _mm512_storeu_si512(c + 0 * NR + 16, c01);
    _mm512_storeu_si512(c + 1 * NR, c10); _mm512_storeu_si512(c + 1 * NR + 16, c11);
    _mm512_storeu_si512(c + 2 * NR, c20); _mm512_storeu_si512(c + 2 * NR + 16, c21);
    _mm512_storeu_si512(c + 3 * NR, c30); _mm512_storeu_si512(c + 3 * NR + 16, c31);
    _mm512_storeu_si512(c + 4 * NR, c40); _mm512_storeu_si512(c + 4 * NR + 16, c41);
    _mm512_storeu_si512(c + 5 * NR, c50); _mm512_storeu_si512(c + 5 * NR + 16, c51);
    _mm512_storeu_si512(c + 6 * NR, c60); _mm512_storeu_si512(c + 6 * NR + 16, c61);
    _mm512_storeu_si512(c + 7 * NR, c70); _mm512_storeu_si512(c + 7 * NR + 16, c71);
}

static void requant(const int32_t *acc, int64_t n, const float *scale, int scale_vec, int32_t zp, int out_s8,
                    void *out) {
    const __m512 lo = _mm512_set1_ps((float)((out_s8 ? -128 : 0) - zp));
    const __m512 hi = _mm512_set1_ps((float)((out_s8 ? 127 : 255) - zp));
    const __m512i vz = _mm512_set1_epi32(zp);
    __m512 s = _mm512_set1_ps(scale[0]);
    uint8_t *o = out;
    for (int64_t j = 0; j < n; j += 16) {
        __mmask16 k = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 v = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(k, acc + j));
        if (scale_vec) s = _mm512_maskz_loadu_ps(k, scale + j);
        v = _mm512_mul_ps(v, s);
        v = _mm512_max_ps(v, lo);
        v = _mm512_min_ps(v, hi);
        __m512i r = _mm512_add_epi32(_mm512_cvtps_epi32(v), vz);
        _mm512_mask_cvtepi32_storeu_epi8(o + j, k, r);
    }
}

static const it_qgemm_tier tier = {IT_ISA_AVX512, "avx512vnni", MR, NR, KG, 1, micro, requant};

const it_qgemm_tier *it_qgemm_tier_avx512(void) { return &tier; }
