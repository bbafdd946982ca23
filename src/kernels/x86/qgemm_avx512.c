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

#define MICRO_ACC                                                                            \
    const uint8_t *A = a, *B = b;                                                            \
    const int64_t ng = kp / KG;                                                              \
    __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, \
            c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00,     \
            c61 = c00, c70 = c00, c71 = c00;                                                 \
    if (a_unsigned) {                                                                        \
        MICRO_BODY(DP_UA)                                                                    \
    } else {                                                                                 \
        MICRO_BODY(DP_SA)                                                                    \
    }

static void micro(int64_t kp, const void *a, const void *b, int32_t *c, int a_unsigned) {
    MICRO_ACC
    _mm512_storeu_si512(c + 0 * NR, c00); _mm512_storeu_si512(c + 0 * NR + 16, c01);
    _mm512_storeu_si512(c + 1 * NR, c10); _mm512_storeu_si512(c + 1 * NR + 16, c11);
    _mm512_storeu_si512(c + 2 * NR, c20); _mm512_storeu_si512(c + 2 * NR + 16, c21);
    _mm512_storeu_si512(c + 3 * NR, c30); _mm512_storeu_si512(c + 3 * NR + 16, c31);
    _mm512_storeu_si512(c + 4 * NR, c40); _mm512_storeu_si512(c + 4 * NR + 16, c41);
    _mm512_storeu_si512(c + 5 * NR, c50); _mm512_storeu_si512(c + 5 * NR + 16, c51);
    _mm512_storeu_si512(c + 6 * NR, c60); _mm512_storeu_si512(c + 6 * NR + 16, c61);
    _mm512_storeu_si512(c + 7 * NR, c70); _mm512_storeu_si512(c + 7 * NR + 16, c71);
}

typedef struct rq_ctx {
    __m512 lo, hi, s0, s1;
    __m512i vz;
    __mmask16 k0, k1;
    int full, scale_mode;
    const int32_t *row_add;
    const float *scale;
} rq_ctx;

static inline void rq_row(const rq_ctx *q, int i, __m512i r0, __m512i r1, uint8_t *dst) {
    __m512 s0 = q->s0, s1 = q->s1;
    if (q->scale_mode == 1) s0 = s1 = _mm512_set1_ps(q->scale[i]);
    if (q->row_add) {
        __m512i ad = _mm512_set1_epi32(q->row_add[i]);
        r0 = _mm512_add_epi32(r0, ad);
        r1 = _mm512_add_epi32(r1, ad);
    }
    __m512 v0 = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(r0), s0), q->lo), q->hi);
    __m512 v1 = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(r1), s1), q->lo), q->hi);
    __m128i b0 = _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(v0), q->vz));
    __m128i b1 = _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(v1), q->vz));
    if (q->full) {
        _mm_storeu_si128((__m128i *)dst, b0);
        _mm_storeu_si128((__m128i *)(dst + 16), b1);
    } else {
        _mm_mask_storeu_epi8(dst, q->k0, b0);
        _mm_mask_storeu_epi8(dst + 16, q->k1, b1);
    }
}

static void micro_rq(int64_t kp, const void *a, const void *b, int a_unsigned, const int32_t *row_add,
                     const float *scale, int scale_mode, int32_t zp, int out_s8, uint8_t *C, int64_t ldc, int mm,
                     int nn) {
    MICRO_ACC
    rq_ctx q;
    q.lo = _mm512_set1_ps((float)((out_s8 ? -128 : 0) - zp));
    q.hi = _mm512_set1_ps((float)((out_s8 ? 127 : 255) - zp));
    q.vz = _mm512_set1_epi32(zp);
    q.k0 = nn >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nn) - 1);
    q.k1 = nn >= 32 ? (__mmask16)0xffff : nn <= 16 ? 0 : (__mmask16)((1u << (nn - 16)) - 1);
    q.full = nn == NR;
    q.scale_mode = scale_mode;
    q.row_add = row_add;
    q.scale = scale;
    if (scale_mode == 2) {
        q.s0 = _mm512_maskz_loadu_ps(q.k0, scale);
        q.s1 = _mm512_maskz_loadu_ps(q.k1, scale + 16);
    } else q.s0 = q.s1 = _mm512_set1_ps(scale[0]);
    rq_row(&q, 0, c00, c01, C);
    if (mm > 1) rq_row(&q, 1, c10, c11, C + ldc);
    if (mm > 2) rq_row(&q, 2, c20, c21, C + 2 * ldc);
    if (mm > 3) rq_row(&q, 3, c30, c31, C + 3 * ldc);
    if (mm > 4) rq_row(&q, 4, c40, c41, C + 4 * ldc);
    if (mm > 5) rq_row(&q, 5, c50, c51, C + 5 * ldc);
    if (mm > 6) rq_row(&q, 6, c60, c61, C + 6 * ldc);
    if (mm > 7) rq_row(&q, 7, c70, c71, C + 7 * ldc);
}

static void requant(const int32_t *acc, int64_t n, int32_t add, const float *scale, int scale_vec, int32_t zp,
                    int out_s8, void *out) {
    const __m512i va = _mm512_set1_epi32(add);
    const __m512 lo = _mm512_set1_ps((float)((out_s8 ? -128 : 0) - zp));
    const __m512 hi = _mm512_set1_ps((float)((out_s8 ? 127 : 255) - zp));
    const __m512i vz = _mm512_set1_epi32(zp);
    __m512 s = _mm512_set1_ps(scale[0]);
    uint8_t *o = out;
    for (int64_t j = 0; j < n; j += 16) {
        __mmask16 k = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 v = _mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_maskz_loadu_epi32(k, acc + j), va));
        if (scale_vec) s = _mm512_maskz_loadu_ps(k, scale + j);
        v = _mm512_mul_ps(v, s);
        v = _mm512_max_ps(v, lo);
        v = _mm512_min_ps(v, hi);
        __m512i r = _mm512_add_epi32(_mm512_cvtps_epi32(v), vz);
        _mm512_mask_cvtepi32_storeu_epi8(o + j, k, r);
    }
}

/* 32 bytes of tap row x (stride 1 or 2) widened to 32 int16, masked to rem outputs. */
static inline __m512i dw_load(const uint8_t *x, int stride, int x_s8, int64_t rem) {
    __m256i v;
    if (stride == 1) {
        __mmask32 k = rem >= 32 ? 0xffffffffu : (__mmask32)((1u << rem) - 1);
        v = _mm256_maskz_loadu_epi8(k, x);
    } else {
        __mmask64 k = rem >= 32 ? 0x7fffffffffffffffull : (((__mmask64)1 << (2 * rem - 1)) - 1);
        v = _mm512_cvtepi16_epi8(_mm512_maskz_loadu_epi8(k, x));
    }
    return x_s8 ? _mm512_cvtepi8_epi16(v) : _mm512_cvtepu8_epi16(v);
}

/* Taps in pairs: the two widened rows are interleaved and vpmaddwd sums both
 * products into int32. Lanes come out permuted (unpack works per 128 bits) and
 * are put back in order once per 32 outputs. */
static void dw_row(const uint8_t *const *src, int64_t n, int stride, int x_s8, const int32_t *w, int ntaps,
                   int32_t bias, const float *scale, int32_t zp, int out_s8, void *out) {
    if ((stride != 1 && stride != 2) || ntaps > 64) {
        it_qdw_row_ref(src, n, stride, x_s8, w, ntaps, bias, scale, zp, out_s8, out);
        return;
    }
    __m512i wp[32];
    int np = (ntaps + 1) / 2;
    for (int q = 0; q < np; q++) {
        int32_t w0 = w[2 * q], w1 = 2 * q + 1 < ntaps ? w[2 * q + 1] : 0;
        wp[q] = _mm512_set1_epi32((int32_t)(((uint32_t)(uint16_t)w1 << 16) | (uint16_t)w0));
    }
    const __m512i vb = _mm512_set1_epi32(bias), vz = _mm512_set1_epi32(zp);
    const __m512i i0 = _mm512_set_epi32(23, 22, 21, 20, 7, 6, 5, 4, 19, 18, 17, 16, 3, 2, 1, 0);
    const __m512i i1 = _mm512_set_epi32(31, 30, 29, 28, 15, 14, 13, 12, 27, 26, 25, 24, 11, 10, 9, 8);
    const __m512 lo = _mm512_set1_ps((float)((out_s8 ? -128 : 0) - zp));
    const __m512 hi = _mm512_set1_ps((float)((out_s8 ? 127 : 255) - zp));
    const __m512 vs = _mm512_set1_ps(scale ? scale[0] : 0.f);
    for (int64_t i = 0; i < n; i += 32) {
        int64_t rem = n - i;
        __m512i al = vb, ah = vb;
        for (int q = 0; q < np; q++) {
            __m512i x0 = dw_load(src[2 * q] + i * stride, stride, x_s8, rem);
            __m512i x1 = 2 * q + 1 < ntaps ? dw_load(src[2 * q + 1] + i * stride, stride, x_s8, rem)
                                           : _mm512_setzero_si512();
            al = _mm512_add_epi32(al, _mm512_madd_epi16(_mm512_unpacklo_epi16(x0, x1), wp[q]));
            ah = _mm512_add_epi32(ah, _mm512_madd_epi16(_mm512_unpackhi_epi16(x0, x1), wp[q]));
        }
        /* al: outputs 0-3, 8-11, 16-19, 24-27; ah: 4-7, 12-15, 20-23, 28-31 */
        __m512i r0 = _mm512_permutex2var_epi32(al, i0, ah), r1 = _mm512_permutex2var_epi32(al, i1, ah);
        __mmask16 k0 = rem >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << rem) - 1);
        __mmask16 k1 = rem >= 32 ? (__mmask16)0xffff : rem <= 16 ? 0 : (__mmask16)((1u << (rem - 16)) - 1);
        if (!scale) {
            _mm512_mask_storeu_epi32((int32_t *)out + i, k0, r0);
            _mm512_mask_storeu_epi32((int32_t *)out + i + 16, k1, r1);
            continue;
        }
        __m512 v0 = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(r0), vs), lo), hi);
        __m512 v1 = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(r1), vs), lo), hi);
        __m128i q0 = _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(v0), vz));
        __m128i q1 = _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(v1), vz));
        if (rem >= 32) {
            _mm_storeu_si128((__m128i *)((uint8_t *)out + i), q0);
            _mm_storeu_si128((__m128i *)((uint8_t *)out + i + 16), q1);
        } else {
            _mm_mask_storeu_epi8((uint8_t *)out + i, k0, q0);
            if (k1) _mm_mask_storeu_epi8((uint8_t *)out + i + 16, k1, q1);
        }
    }
}

/* VNNI B panel: for each group of 4 rows, 32 columns x 4 bytes. */
static void pack_b(const uint8_t *src, int64_t ld, int64_t K, int nn, uint8_t fx, int psigned, void *dst) {
    (void)psigned;
    const __mmask32 m = nn >= 32 ? 0xffffffffu : (__mmask32)((1u << nn) - 1);
    const __m256i vx = _mm256_set1_epi8((char)fx), z = _mm256_setzero_si256();
    uint8_t *d = dst;
    for (int64_t k = 0; k < K; k += 4, d += NR * KG) {
        __m256i r0 = _mm256_xor_si256(_mm256_maskz_loadu_epi8(m, src + k * ld), vx);
        __m256i r1 = k + 1 < K ? _mm256_xor_si256(_mm256_maskz_loadu_epi8(m, src + (k + 1) * ld), vx) : z;
        __m256i r2 = k + 2 < K ? _mm256_xor_si256(_mm256_maskz_loadu_epi8(m, src + (k + 2) * ld), vx) : z;
        __m256i r3 = k + 3 < K ? _mm256_xor_si256(_mm256_maskz_loadu_epi8(m, src + (k + 3) * ld), vx) : z;
        if (m != 0xffffffffu) { /* columns past nn stay zero after the flip */
            r0 = _mm256_maskz_mov_epi8(m, r0);
            r1 = _mm256_maskz_mov_epi8(m, r1);
            r2 = _mm256_maskz_mov_epi8(m, r2);
            r3 = _mm256_maskz_mov_epi8(m, r3);
        }
        __m256i t0 = _mm256_unpacklo_epi8(r0, r1), t1 = _mm256_unpackhi_epi8(r0, r1);
        __m256i t2 = _mm256_unpacklo_epi8(r2, r3), t3 = _mm256_unpackhi_epi8(r2, r3);
        __m256i q0 = _mm256_unpacklo_epi16(t0, t2), q1 = _mm256_unpackhi_epi16(t0, t2);
        __m256i q2 = _mm256_unpacklo_epi16(t1, t3), q3 = _mm256_unpackhi_epi16(t1, t3);
        _mm256_storeu_si256((__m256i *)d, _mm256_permute2x128_si256(q0, q1, 0x20));
        _mm256_storeu_si256((__m256i *)(d + 32), _mm256_permute2x128_si256(q2, q3, 0x20));
        _mm256_storeu_si256((__m256i *)(d + 64), _mm256_permute2x128_si256(q0, q1, 0x31));
        _mm256_storeu_si256((__m256i *)(d + 96), _mm256_permute2x128_si256(q2, q3, 0x31));
    }
}

static void qadd(const uint8_t *a, const uint8_t *b, int64_t n, int a_bc, int b_bc, float ra, float rb, float f, int s8,
                 uint8_t *out) {
    const __m512 vra = _mm512_set1_ps(ra), vrb = _mm512_set1_ps(rb), vf = _mm512_set1_ps(f);
    const __m512 lo = _mm512_set1_ps(s8 ? -128.f : 0.f), hi = _mm512_set1_ps(s8 ? 127.f : 255.f);
    __m128i ba = _mm_set1_epi8((char)a[0]), bb = _mm_set1_epi8((char)b[0]);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m128i xa = a_bc ? ba : _mm_maskz_loadu_epi8(k, a + i);
        __m128i xb = b_bc ? bb : _mm_maskz_loadu_epi8(k, b + i);
        __m512 fa = _mm512_cvtepi32_ps(s8 ? _mm512_cvtepi8_epi32(xa) : _mm512_cvtepu8_epi32(xa));
        __m512 fb = _mm512_cvtepi32_ps(s8 ? _mm512_cvtepi8_epi32(xb) : _mm512_cvtepu8_epi32(xb));
        __m512 v = _mm512_fmadd_ps(fa, vra, _mm512_fmadd_ps(fb, vrb, vf));
        v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
        _mm512_mask_cvtepi32_storeu_epi8(out + i, k, _mm512_cvtps_epi32(v));
    }
}

static const it_qgemm_tier tier = {IT_ISA_AVX512, "avx512vnni", MR, NR, KG, 1, micro, requant, dw_row, micro_rq, pack_b, qadd};

const it_qgemm_tier *it_qgemm_tier_avx512(void) { return &tier; }
