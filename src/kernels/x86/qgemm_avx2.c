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

static void requant(const int32_t *acc, int64_t n, int32_t add, const float *scale, int scale_vec, int32_t zp,
                    int out_s8, void *out) {
    const __m256i va = _mm256_set1_epi32(add);
    const __m256 lo = _mm256_set1_ps((float)((out_s8 ? -128 : 0) - zp));
    const __m256 hi = _mm256_set1_ps((float)((out_s8 ? 127 : 255) - zp));
    const __m256i vz = _mm256_set1_epi32(zp);
    __m256 s = _mm256_set1_ps(scale[0]);
    uint8_t *o = out;
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 v = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(acc + j)), va));
        if (scale_vec) s = _mm256_loadu_ps(scale + j);
        v = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(v, s), lo), hi);
        __m256i r = _mm256_add_epi32(_mm256_cvtps_epi32(v), vz);
        __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        w = out_s8 ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w);
        _mm_storel_epi64((__m128i *)(o + j), w);
    }
    if (j < n) it_qrequant_ref(acc + j, n - j, add, scale_vec ? scale + j : scale, scale_vec, zp, out_s8, o + j);
}

static void dw_row(const uint8_t *const *src, int64_t n, int stride, int x_s8, const int32_t *w, int ntaps,
                   int32_t bias, const float *scale, int32_t zp, int out_s8, void *out) {
    if (stride != 1 || ntaps > 64) {
        it_qdw_row_ref(src, n, stride, x_s8, w, ntaps, bias, scale, zp, out_s8, out);
        return;
    }
    const __m256i vb = _mm256_set1_epi32(bias), vz = _mm256_set1_epi32(zp);
    const __m256 lo = _mm256_set1_ps((float)((out_s8 ? -128 : 0) - zp));
    const __m256 hi = _mm256_set1_ps((float)((out_s8 ? 127 : 255) - zp));
    const __m256 vs = _mm256_set1_ps(scale ? scale[0] : 0.f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i acc = vb;
        for (int t = 0; t < ntaps; t++) {
            __m128i x = _mm_loadl_epi64((const __m128i *)(src[t] + i));
            __m256i xv = x_s8 ? _mm256_cvtepi8_epi32(x) : _mm256_cvtepu8_epi32(x);
            acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(xv, _mm256_set1_epi32(w[t])));
        }
        if (!scale) {
            _mm256_storeu_si256((__m256i *)((int32_t *)out + i), acc);
            continue;
        }
        __m256 v = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc), vs), lo), hi);
        __m256i r = _mm256_add_epi32(_mm256_cvtps_epi32(v), vz);
        __m128i q = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        q = out_s8 ? _mm_packs_epi16(q, q) : _mm_packus_epi16(q, q);
        _mm_storel_epi64((__m128i *)((uint8_t *)out + i), q);
    }
    if (i < n) {
        const uint8_t *s2[64];
        for (int t = 0; t < ntaps; t++) s2[t] = src[t] + i;
        it_qdw_row_ref(s2, n - i, 1, x_s8, w, ntaps, bias, scale, zp, out_s8,
                       scale ? (void *)((uint8_t *)out + i) : (void *)((int32_t *)out + i));
    }
}

/* int16 B panel: for each pair of rows, 16 columns x 2 int16. */
static void pack_b(const uint8_t *src, int64_t ld, int64_t K, int nn, uint8_t fx, int psigned, void *dst) {
    const __m128i vx = _mm_set1_epi8((char)fx);
    int16_t *d = dst;
    for (int64_t k = 0; k < K; k += 2, d += NR * KG) {
        __m128i r[2];
        for (int q = 0; q < 2; q++) {
            if (k + q >= K) {
                r[q] = _mm_setzero_si128();
                continue;
            }
            const uint8_t *s = src + (k + q) * ld;
            if (nn == NR) r[q] = _mm_xor_si128(_mm_loadu_si128((const __m128i *)s), vx);
            else {
                uint8_t tmp[16];
                for (int j = 0; j < 16; j++) tmp[j] = j < nn ? (uint8_t)(s[j] ^ fx) : 0;
                r[q] = _mm_loadu_si128((const __m128i *)tmp);
            }
        }
        __m256i w0 = psigned ? _mm256_cvtepi8_epi16(r[0]) : _mm256_cvtepu8_epi16(r[0]);
        __m256i w1 = psigned ? _mm256_cvtepi8_epi16(r[1]) : _mm256_cvtepu8_epi16(r[1]);
        __m256i lo = _mm256_unpacklo_epi16(w0, w1), hi = _mm256_unpackhi_epi16(w0, w1);
        _mm256_storeu_si256((__m256i *)d, _mm256_permute2x128_si256(lo, hi, 0x20));
        _mm256_storeu_si256((__m256i *)(d + 16), _mm256_permute2x128_si256(lo, hi, 0x31));
    }
}

static void qadd(const uint8_t *a, const uint8_t *b, int64_t n, int a_bc, int b_bc, float ra, float rb, float f, int s8,
                 uint8_t *out) {
    const __m256 vra = _mm256_set1_ps(ra), vrb = _mm256_set1_ps(rb), vf = _mm256_set1_ps(f);
    const __m256 lo = _mm256_set1_ps(s8 ? -128.f : 0.f), hi = _mm256_set1_ps(s8 ? 127.f : 255.f);
    __m128i ba = _mm_set1_epi8((char)a[0]), bb = _mm_set1_epi8((char)b[0]);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i xa = a_bc ? ba : _mm_loadl_epi64((const __m128i *)(a + i));
        __m128i xb = b_bc ? bb : _mm_loadl_epi64((const __m128i *)(b + i));
        __m256 fa = _mm256_cvtepi32_ps(s8 ? _mm256_cvtepi8_epi32(xa) : _mm256_cvtepu8_epi32(xa));
        __m256 fb = _mm256_cvtepi32_ps(s8 ? _mm256_cvtepi8_epi32(xb) : _mm256_cvtepu8_epi32(xb));
        __m256 v = _mm256_fmadd_ps(fa, vra, _mm256_fmadd_ps(fb, vrb, vf));
        v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
        __m256i r = _mm256_cvtps_epi32(v);
        __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        w = s8 ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w);
        _mm_storel_epi64((__m128i *)(out + i), w);
    }
    if (i < n) it_qadd_ref(a_bc ? a : a + i, b_bc ? b : b + i, n - i, a_bc, b_bc, ra, rb, f, s8, out + i);
}

static const it_qgemm_tier tier = {IT_ISA_AVX2, "avx2", MR, NR, KG, 2, micro, requant, dw_row, NULL, pack_b, qadd, NULL, NULL, it_qcopy2d_ref};

const it_qgemm_tier *it_qgemm_tier_avx2(void) { return &tier; }
