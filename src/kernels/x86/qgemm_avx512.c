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

/* Narrow tail panels (nn <= 24 or <= 16 columns, e.g. 7x7 = 49 = 32 + 17 and
 * 14x14 = 196 = 6 * 32 + 4 output positions): skip the unused half of B, or do
 * it at 256 bits (half the cost on Zen 4's double-pumped 512-bit units). */
#define DP_UA_Y(acc, av, bv) acc = _mm256_dpbusd_epi32(acc, av, bv)
#define DP_SA_Y(acc, av, bv) acc = _mm256_dpbusd_epi32(acc, bv, av)
#define MICRO_BODY_N(DP, DPY, WIDE)                                                          \
    for (int64_t g = 0; g < ng; g++) {                                                       \
        __m512i b0 = _mm512_loadu_si512((const void *)(B + g * NR * KG));                    \
        __m256i b1 = _mm256_loadu_si256((const __m256i *)(B + g * NR * KG + 64));            \
        const int32_t *ag = (const int32_t *)(const void *)(A + g * MR * KG);                \
        __m512i x;                                                                           \
        x = _mm512_set1_epi32(ag[0]); DP(c00, x, b0); if (WIDE) DPY(y0, _mm512_castsi512_si256(x), b1); \
        x = _mm512_set1_epi32(ag[1]); DP(c10, x, b0); if (WIDE) DPY(y1, _mm512_castsi512_si256(x), b1); \
        x = _mm512_set1_epi32(ag[2]); DP(c20, x, b0); if (WIDE) DPY(y2, _mm512_castsi512_si256(x), b1); \
        x = _mm512_set1_epi32(ag[3]); DP(c30, x, b0); if (WIDE) DPY(y3, _mm512_castsi512_si256(x), b1); \
        x = _mm512_set1_epi32(ag[4]); DP(c40, x, b0); if (WIDE) DPY(y4, _mm512_castsi512_si256(x), b1); \
        x = _mm512_set1_epi32(ag[5]); DP(c50, x, b0); if (WIDE) DPY(y5, _mm512_castsi512_si256(x), b1); \
        x = _mm512_set1_epi32(ag[6]); DP(c60, x, b0); if (WIDE) DPY(y6, _mm512_castsi512_si256(x), b1); \
        x = _mm512_set1_epi32(ag[7]); DP(c70, x, b0); if (WIDE) DPY(y7, _mm512_castsi512_si256(x), b1); \
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

/* Requantization of a tile, two rows (64 values) at a time: float(acc) * scale,
 * clamped above at (max - zp) in float (this also keeps cvtps2dq in range; NaN
 * and values below become INT_MIN there), rounded by cvtps2dq, then narrowed with
 * signed saturation to int16, + zp with int16 saturation, and narrowed to bytes
 * with u8 / s8 saturation: the same as clamping to [min - zp, max - zp] before
 * rounding. The packs interleave 128-bit lanes; one vpermd puts them back. */
typedef struct rq_ctx {
    __m512 hi, s0, s1;
    __m512i vz16, perm;
    __mmask32 k;
    int scale_mode, out_s8;
    const float *scale;
} rq_ctx;

static inline __m512i rq_cvt(const rq_ctx *q, __m512i acc, __m512 s) {
    return _mm512_cvtps_epi32(_mm512_min_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(acc), s), q->hi));
}

/* rows i and i + 1 (columns 0-15 in a*0 / b*0, 16-31 in a*1 / b*1); row i + 1
 * is stored only when two is set */
static inline void rq_pair(const rq_ctx *q, int i, __m512i a0, __m512i a1, __m512i b0, __m512i b1, uint8_t *dst,
                           int64_t ldc, int two) {
    __m512 sa0 = q->s0, sa1 = q->s1, sb0 = q->s0, sb1 = q->s1;
    if (q->scale_mode == 1) {
        sa0 = sa1 = _mm512_set1_ps(q->scale[i]);
        sb0 = sb1 = two ? _mm512_set1_ps(q->scale[i + 1]) : sa0;
    }
    __m512i pa = _mm512_adds_epi16(_mm512_packs_epi32(rq_cvt(q, a0, sa0), rq_cvt(q, a1, sa1)), q->vz16);
    __m512i pb = _mm512_adds_epi16(_mm512_packs_epi32(rq_cvt(q, b0, sb0), rq_cvt(q, b1, sb1)), q->vz16);
    __m512i r = q->out_s8 ? _mm512_packs_epi16(pa, pb) : _mm512_packus_epi16(pa, pb);
    r = _mm512_permutexvar_epi32(q->perm, r);
    _mm256_mask_storeu_epi8(dst, q->k, _mm512_castsi512_si256(r));
    if (two) _mm256_mask_storeu_epi8(dst + ldc, q->k, _mm512_extracti64x4_epi64(r, 1));
}

static void micro_rq(int64_t kp, const void *a, const void *b, int a_unsigned, const int32_t *row_add,
                     const float *scale, int scale_mode, int32_t zp, int out_s8, uint8_t *C, int64_t ldc, int mm,
                     int nn) {
    const uint8_t *A = a, *B = b;
    const int64_t ng = kp / KG;
    /* the accumulators start at the row constants */
    int32_t ra[MR];
    for (int i = 0; i < MR; i++) ra[i] = row_add && i < mm ? row_add[i] : 0;
    __m512i c00 = _mm512_set1_epi32(ra[0]), c01 = c00, c10 = _mm512_set1_epi32(ra[1]), c11 = c10;
    __m512i c20 = _mm512_set1_epi32(ra[2]), c21 = c20, c30 = _mm512_set1_epi32(ra[3]), c31 = c30;
    __m512i c40 = _mm512_set1_epi32(ra[4]), c41 = c40, c50 = _mm512_set1_epi32(ra[5]), c51 = c50;
    __m512i c60 = _mm512_set1_epi32(ra[6]), c61 = c60, c70 = _mm512_set1_epi32(ra[7]), c71 = c70;
    if (nn > 24) {
        if (a_unsigned) {
            MICRO_BODY(DP_UA)
        } else {
            MICRO_BODY(DP_SA)
        }
    } else {
        __m256i y0 = _mm512_castsi512_si256(c01), y1 = _mm512_castsi512_si256(c11);
        __m256i y2 = _mm512_castsi512_si256(c21), y3 = _mm512_castsi512_si256(c31);
        __m256i y4 = _mm512_castsi512_si256(c41), y5 = _mm512_castsi512_si256(c51);
        __m256i y6 = _mm512_castsi512_si256(c61), y7 = _mm512_castsi512_si256(c71);
        const int wide = nn > 16;
        if (a_unsigned) {
            MICRO_BODY_N(DP_UA, DP_UA_Y, wide)
        } else {
            MICRO_BODY_N(DP_SA, DP_SA_Y, wide)
        }
        /* columns 24-31 (and 16-23 when !wide) are never stored */
        c01 = _mm512_zextsi256_si512(y0), c11 = _mm512_zextsi256_si512(y1);
        c21 = _mm512_zextsi256_si512(y2), c31 = _mm512_zextsi256_si512(y3);
        c41 = _mm512_zextsi256_si512(y4), c51 = _mm512_zextsi256_si512(y5);
        c61 = _mm512_zextsi256_si512(y6), c71 = _mm512_zextsi256_si512(y7);
    }
    rq_ctx q;
    q.hi = _mm512_set1_ps((float)((out_s8 ? 127 : 255) - zp));
    q.vz16 = _mm512_set1_epi16((short)zp);
    q.perm = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
    q.k = nn >= 32 ? 0xffffffffu : (__mmask32)((1u << nn) - 1);
    q.scale_mode = scale_mode;
    q.out_s8 = out_s8;
    q.scale = scale;
    if (scale_mode == 2) {
        q.s0 = _mm512_maskz_loadu_ps((__mmask16)q.k, scale);
        q.s1 = _mm512_maskz_loadu_ps((__mmask16)(q.k >> 16), scale + 16);
    } else q.s0 = q.s1 = _mm512_set1_ps(scale[0]);
    rq_pair(&q, 0, c00, c01, c10, c11, C, ldc, mm > 1);
    if (mm > 2) rq_pair(&q, 2, c20, c21, c30, c31, C + 2 * ldc, ldc, mm > 3);
    if (mm > 4) rq_pair(&q, 4, c40, c41, c50, c51, C + 4 * ldc, ldc, mm > 5);
    if (mm > 6) rq_pair(&q, 6, c60, c61, c70, c71, C + 6 * ldc, ldc, mm > 7);
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

/* Depthwise convolution over flattened rows (see qgemm.h dw_plane). The kw <= 4
 * taps of one kernel row are adjacent bytes of the input row, so one dword
 * holds them all: vpermb gathers, for 16 outputs, the 16 overlapping dwords
 * x[s*j .. s*j+3] from one 64-byte load, and one vpdpbusd against the row's
 * weights (a 4-byte broadcast, zero past kw) adds the whole kernel row. A 3x3
 * kernel costs 3 loads, 3 vpermb and 3 vpdpbusd per 16 outputs. s8 inputs are
 * flipped to u8 (x ^ 0x80 = x + 128) and the bias corrected by 128 * sum(w).
 * vpermb needs AVX-512 VBMI: the function carries its own target attribute and
 * is only put in the tier when the CPU has it. */
#define DW_BLOCK(KH)                                                                                      \
    for (int64_t j = 0; j < n; j += 64) {                                                                 \
        __m512i c0 = vb, c1 = vb, c2 = vb, c3 = vb;                                                       \
        for (int ky = 0; ky < (KH); ky++) {                                                               \
            const uint8_t *r = rows[ky] + j * stride;                                                     \
            const int64_t q1 = 16 * stride;                                                               \
            __m512i x0 = _mm512_xor_si512(_mm512_loadu_si512((const void *)r), vf);                       \
            __m512i x1 = _mm512_xor_si512(_mm512_loadu_si512((const void *)(r + q1)), vf);                \
            __m512i x2 = _mm512_xor_si512(_mm512_loadu_si512((const void *)(r + 2 * q1)), vf);            \
            __m512i x3 = _mm512_xor_si512(_mm512_loadu_si512((const void *)(r + 3 * q1)), vf);            \
            c0 = _mm512_dpbusd_epi32(c0, _mm512_permutexvar_epi8(idx, x0), wv[ky]);                        \
            c1 = _mm512_dpbusd_epi32(c1, _mm512_permutexvar_epi8(idx, x1), wv[ky]);                        \
            c2 = _mm512_dpbusd_epi32(c2, _mm512_permutexvar_epi8(idx, x2), wv[ky]);                        \
            c3 = _mm512_dpbusd_epi32(c3, _mm512_permutexvar_epi8(idx, x3), wv[ky]);                        \
        }                                                                                                 \
        dw_store(c0, c1, c2, c3, n - j, vs, hi, vz16, perm, out_s8, out + j);                             \
    }

/* 64 outputs requantized as in rq_pair (saturating packs, one vpermd) */
static inline __m512i dw_cvt(__m512i c, __m512 vs, __m512 hi) {
    return _mm512_cvtps_epi32(_mm512_min_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(c), vs), hi));
}

static inline void dw_store(__m512i c0, __m512i c1, __m512i c2, __m512i c3, int64_t rem, __m512 vs, __m512 hi,
                            __m512i vz16, __m512i perm, int out_s8, uint8_t *o) {
    __m512i p0 = _mm512_adds_epi16(_mm512_packs_epi32(dw_cvt(c0, vs, hi), dw_cvt(c1, vs, hi)), vz16);
    __m512i p1 = _mm512_adds_epi16(_mm512_packs_epi32(dw_cvt(c2, vs, hi), dw_cvt(c3, vs, hi)), vz16);
    __m512i r = out_s8 ? _mm512_packs_epi16(p0, p1) : _mm512_packus_epi16(p0, p1);
    r = _mm512_permutexvar_epi32(perm, r);
    if (rem >= 64) _mm512_storeu_si512((void *)o, r);
    else _mm512_mask_storeu_epi8(o, ((__mmask64)1 << rem) - 1, r);
}

__attribute__((target("avx512vbmi"))) static void dw_plane(const uint8_t *const *rows, int kh, int kw, int64_t n,
                                                             int stride, int x_s8, const int8_t *w, int32_t bias,
                                                             float scale, int32_t zp, int out_s8, uint8_t *out) {
    if (kw > 4 || kh > 16 || (stride != 1 && stride != 2)) {
        it_qdw_plane_ref(rows, kh, kw, n, stride, x_s8, w, bias, scale, zp, out_s8, out);
        return;
    }
    __m512i wv[16];
    int32_t wsum = 0;
    for (int ky = 0; ky < kh; ky++) {
        uint32_t d = 0;
        for (int kx = 0; kx < kw; kx++) {
            d |= (uint32_t)(uint8_t)w[ky * kw + kx] << (8 * kx);
            wsum += w[ky * kw + kx];
        }
        wv[ky] = _mm512_set1_epi32((int32_t)d);
    }
    if (x_s8) bias -= 128 * wsum;
    uint8_t ix[64];
    for (int i = 0; i < 64; i++) ix[i] = (uint8_t)(stride * (i >> 2) + (i & 3));
    const __m512i idx = _mm512_loadu_si512((const void *)ix);
    const __m512i vf = _mm512_set1_epi8(x_s8 ? (char)0x80 : 0), vb = _mm512_set1_epi32(bias);
    const __m512i vz16 = _mm512_set1_epi16((short)zp);
    const __m512i perm = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
    const __m512 hi = _mm512_set1_ps((float)((out_s8 ? 127 : 255) - zp));
    const __m512 vs = _mm512_set1_ps(scale);
    if (kh == 3) {
        DW_BLOCK(3)
    } else {
        DW_BLOCK(kh)
    }
}

/* QuantizeLinear f32 -> 8 bit: x / scale (a true division, like ONNX Runtime),
 * clamp, round half to even (cvtps), + zero point. */
static void quant(const float *x, int64_t n, float scale, int32_t zp, int s8, uint8_t *out) {
    const __m512 vs = _mm512_set1_ps(scale);
    const __m512 lo = _mm512_set1_ps((float)((s8 ? -128 : 0) - zp));
    const __m512 hi = _mm512_set1_ps((float)((s8 ? 127 : 255) - zp));
    const __m512i vz = _mm512_set1_epi32(zp);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(k, x + i), vs);
        v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
        _mm512_mask_cvtepi32_storeu_epi8(out + i, k, _mm512_add_epi32(_mm512_cvtps_epi32(v), vz));
    }
}

/* 2-D copy: 64-byte chunks, the row tail by a masked load and store. */
static void copy2d(uint8_t *dst, int64_t dp, const uint8_t *src, int64_t sp, int64_t rows, int64_t cols) {
    const int64_t full = cols & ~(int64_t)63;
    const __mmask64 k = ((__mmask64)1 << (cols & 63)) - 1;
    for (int64_t r = 0; r < rows; r++, dst += dp, src += sp) {
        for (int64_t c = 0; c < full; c += 64)
            _mm512_storeu_si512((void *)(dst + c), _mm512_loadu_si512((const void *)(src + c)));
        if (k) _mm512_mask_storeu_epi8(dst + full, k, _mm512_maskz_loadu_epi8(k, src + full));
    }
}

static const it_qgemm_tier tier = {IT_ISA_AVX512, "avx512vnni", MR, NR, KG, 1, micro, requant, dw_row,
                                   micro_rq, pack_b, qadd, NULL, quant, copy2d};
static const it_qgemm_tier tier_vbmi = {IT_ISA_AVX512, "avx512vnni", MR, NR, KG, 1, micro, requant, dw_row,
                                        micro_rq, pack_b, qadd, dw_plane, quant, copy2d};

const it_qgemm_tier *it_qgemm_tier_avx512(void) {
    return __builtin_cpu_supports("avx512vbmi") ? &tier_vbmi : &tier;
}
