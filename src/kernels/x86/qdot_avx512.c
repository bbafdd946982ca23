/*
 * qdot_avx512.c: the AVX-512 VNNI tier of qdot.h: Q8_0 / Q4_0 weight rows against Q8_0
 * activation rows with vpdpbusd (|w| times sign-adjusted x) and Q4_1 against Q8_1
 * (unsigned nibbles straight into vpdpbusd), 32 pairs per block into 8 int32 lanes, for
 * one or four activation rows (the activation rows' trailing float scales are not used
 * here: grouping 8 blocks per scale vector measured slower); Q4_K / Q5_K / Q6_K rows;
 * f16 . f32 dot / axpy 16 lanes wide.
 */
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
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

static inline float half(uint16_t h) { return _cvtsh_ss(h); }

static inline __m256i load_q8_0(const it_block_q8_0 *a) { return _mm256_loadu_si256((const __m256i *)a->qs); }

static inline __m256i load_q4_0(const it_block_q4_0 *a) {
    const __m128i m4 = _mm_set1_epi8(15), off = _mm_set1_epi8(8);
    __m128i q = _mm_loadu_si128((const __m128i *)a->qs);
    __m128i lo = _mm_sub_epi8(_mm_and_si128(q, m4), off);
    __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), m4), off);
    return _mm256_set_m128i(hi, lo);
}

/* Q4_1 nibbles are unsigned: they go straight into the u8 operand */
static inline __m256i load_q4_1(const it_block_q4_1 *a) {
    const __m128i m4 = _mm_set1_epi8(15);
    __m128i q = _mm_loadu_si128((const __m128i *)a->qs);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
}

/* 8 int32 partial sums of w[i]*x[i] over 32 int8 pairs (vpdpbusd), as floats: signed
 * weights as |w| times sign-adjusted x, unsigned Q4_1 / K nibbles directly */
static inline __m256 dot_s(__m256i w, __m256i x) {
    return _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(w), _mm256_sign_epi8(x, w)));
}
static inline __m256 dot_u(__m256i w, __m256i x) {
    return _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), w, x));
}
#define DOT_S dot_s
#define DOT_U dot_u

/* explicit fused multiply-add: no contraction choices left to the compiler, so the 1-row
 * and 4-row kernels round identically */
static inline float fma1(float a, float b, float c) {
    return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
}
#define NOM(acc, a, s) (void)0
#define WITHM(acc, a, s) acc = fma1(half((a).m), (s), acc)
static inline __m256i dot_s_scaled(__m256i w, __m256i x, __m256i sc32) {
    __m256i d = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
    return _mm256_mullo_epi32(d, sc32);
}
static inline __m256i scales2(int s0, int s1) {
    return _mm256_set_m128i(_mm_set1_epi32(s1), _mm_set1_epi32(s0));
}
#include "qdot_blocks.h"

KERNELS(q8_0, it_block_q8_0, it_block_q8_0, IT_GGML_Q8_0, load_q8_0, DOT_S, NOM)
KERNELS(q4_0, it_block_q4_0, it_block_q8_0, IT_GGML_Q8_0, load_q4_0, DOT_S, NOM)
KERNELS(q4_1, it_block_q4_1, it_block_q8_1, IT_GGML_Q8_1, load_q4_1, DOT_U, WITHM)

/* ---- 16-row packed groups (it_qpack16_fn): lanes are weight rows. Per block the group's
 * quantized bytes are loaded once (Q4 nibbles split, Q8_0 flipped to unsigned by +128) and
 * dotted with up to 8 tokens' activations (4 bytes broadcast at a time into vpdpbusd, two
 * independent int32 chains), giving each row's exact block sum; the Q4_0 / Q8_0 offsets
 * come off with the activations' exact block sums, then one fma per block per row in
 * block order: the bits of it_qdot_p16_ref. */
enum { G_Q8_0, G_Q4_0, G_Q4_1 };
#define G_TT 8

static inline __m512i bcast4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* One tile of NT (a compile-time constant) tokens: with the loops fully unrolled, the
 * accumulators and the group's unpacked weights stay in registers. */
static inline __attribute__((always_inline)) void p16_tile(const uint8_t *wp, int64_t n, __mmask16 rm,
                                                           const uint8_t *xq, int64_t xs, float *y, int64_t ldy,
                                                           const int TY, const int NT) {
    const int64_t nb = n / IT_QK;
    const int64_t pb = TY == G_Q8_0 ? 544 : TY == G_Q4_0 ? 288 : 320, qoff = TY == G_Q4_1 ? 64 : 32;
    const uint32_t act = TY == G_Q4_1 ? IT_GGML_Q8_1 : IT_GGML_Q8_0;
    const int64_t xbsz = TY == G_Q4_1 ? 36 : 34, xqoff = TY == G_Q4_1 ? 4 : 2, soff = it_qdot_act_scales_off(act, n);
    const __m512i m4 = _mm512_set1_epi8(15), flip = _mm512_set1_epi8((char)0x80);
    __m512 acc[G_TT], macc[G_TT];
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) acc[t] = macc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = wp + b * pb;
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)wb));
        const __m512 dm = TY == G_Q4_1 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(wb + 32)))
                                       : _mm512_setzero_ps();
        __m512i qd[8];
        if (TY == G_Q8_0) {
#pragma GCC unroll 8
            for (int q = 0; q < 8; q++)
                qd[q] = _mm512_xor_si512(_mm512_loadu_si512((const void *)(wb + qoff + 64 * q)), flip);
        } else {
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++) {
                __m512i v = _mm512_loadu_si512((const void *)(wb + qoff + 64 * q));
                qd[q] = _mm512_and_si512(v, m4);
                qd[q + 4] = _mm512_and_si512(_mm512_srli_epi32(v, 4), m4);
            }
        }
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) {
            const uint8_t *xr = xq + t * xs, *xb = xr + b * xbsz + xqoff;
            const float *fd = (const float *)(const void *)(xr + soff);
            __m512i i0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), qd[0], bcast4(xb));
            __m512i i1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), qd[4], bcast4(xb + 16));
            i0 = _mm512_dpbusd_epi32(i0, qd[1], bcast4(xb + 4));
            i1 = _mm512_dpbusd_epi32(i1, qd[5], bcast4(xb + 20));
            i0 = _mm512_dpbusd_epi32(i0, qd[2], bcast4(xb + 8));
            i1 = _mm512_dpbusd_epi32(i1, qd[6], bcast4(xb + 24));
            i0 = _mm512_dpbusd_epi32(i0, qd[3], bcast4(xb + 12));
            i1 = _mm512_dpbusd_epi32(i1, qd[7], bcast4(xb + 28));
            __m512 fi = _mm512_cvtepi32_ps(_mm512_add_epi32(i0, i1));
            if (TY == G_Q8_0) fi = _mm512_sub_ps(fi, _mm512_set1_ps(128.0f * fd[2 * nb + b]));
            if (TY == G_Q4_0) fi = _mm512_sub_ps(fi, _mm512_set1_ps(8.0f * fd[2 * nb + b]));
            acc[t] = _mm512_fmadd_ps(fi, _mm512_mul_ps(dw, _mm512_set1_ps(fd[b])), acc[t]);
            if (TY == G_Q4_1) macc[t] = _mm512_fmadd_ps(dm, _mm512_set1_ps(fd[nb + b]), macc[t]);
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++)
        _mm512_mask_storeu_ps(y + t * ldy, rm, TY == G_Q4_1 ? _mm512_add_ps(acc[t], macc[t]) : acc[t]);
}

/* tiles of up to 8 tokens (6 for Q4_1, whose min terms take registers too) */
static inline void p16(const uint8_t *wp, int64_t n, int nr, const uint8_t *xq, int64_t xs, int64_t T, float *y,
                       int64_t ldy, const int TY) {
    const __mmask16 rm = (__mmask16)((1u << nr) - 1);
    const int tile = TY == G_Q4_1 ? 6 : 8;
    for (int64_t t0 = 0; t0 < T; t0 += tile) {
        const int nt = T - t0 < tile ? (int)(T - t0) : tile;
        const uint8_t *x0 = xq + t0 * xs;
        float *y0 = y + t0 * ldy;
        switch (nt) {
        case 8: p16_tile(wp, n, rm, x0, xs, y0, ldy, TY, 8); break;
        case 7: p16_tile(wp, n, rm, x0, xs, y0, ldy, TY, 7); break;
        case 6: p16_tile(wp, n, rm, x0, xs, y0, ldy, TY, 6); break;
        case 5: p16_tile(wp, n, rm, x0, xs, y0, ldy, TY, 5); break;
        case 4: p16_tile(wp, n, rm, x0, xs, y0, ldy, TY, 4); break;
        case 3: p16_tile(wp, n, rm, x0, xs, y0, ldy, TY, 3); break;
        case 2: p16_tile(wp, n, rm, x0, xs, y0, ldy, TY, 2); break;
        default: p16_tile(wp, n, rm, x0, xs, y0, ldy, TY, 1); break;
        }
    }
}

static void q8_0_p16(const void *w, int64_t n, int nr, const void *x, int64_t xs, int64_t T, float *y, int64_t ldy) {
    p16(w, n, nr, x, xs, T, y, ldy, G_Q8_0);
}
static void q4_0_p16(const void *w, int64_t n, int nr, const void *x, int64_t xs, int64_t T, float *y, int64_t ldy) {
    p16(w, n, nr, x, xs, T, y, ldy, G_Q4_0);
}
static void q4_1_p16(const void *w, int64_t n, int nr, const void *x, int64_t xs, int64_t T, float *y, int64_t ldy) {
    p16(w, n, nr, x, xs, T, y, ldy, G_Q4_1);
}

/* F16 / F32 weight rows (W16: f16) against activation rows: one accumulator per product
 * over 16-element chunks, the last chunk masked, then a horizontal sum. The tiles below keep
 * exactly these steps for each of their products, so a product's bits do not depend on the
 * tile it is computed in. */
static inline __m512 load_w(const void *a, int64_t i, __mmask16 m, const int W16) {
    return W16 ? _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)a + i))
               : _mm512_maskz_loadu_ps(m, (const float *)a + i);
}

static inline __mmask16 chunk_mask(int64_t n, int64_t i) {
    return n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
}

/* The horizontal sum of the products below, in one fixed order: lanes i + (i + 8), then
 * those pairs i + (i + 4), then (0 + 2) + (1 + 3). sum4x4 computes sixteen such sums at
 * once with the same adds. */
static inline float hsum16(__m512 v) {
    const __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

/* in[m][k] (m, k < 4) -> lane 4 * k + m of the result holds hsum16(in[m][k]): the same
 * adds of the same pairs, sixteen sums in 15 vector adds. */
static inline __attribute__((always_inline)) __m512 sum4x4(const __m512 in[4][4]) {
    __m512 q[4], r[2];
#pragma GCC unroll 4
    for (int m = 0; m < 4; m++) {
        /* halves of 256: [A.lo | B.lo] + [A.hi | B.hi] -> per vector i + (i + 8) */
        const __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(in[m][0], in[m][1], 0x44),
                                        _mm512_shuffle_f32x4(in[m][0], in[m][1], 0xEE));
        const __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(in[m][2], in[m][3], 0x44),
                                        _mm512_shuffle_f32x4(in[m][2], in[m][3], 0xEE));
        /* halves of 128: lane k of q[m] holds vector k's four pair sums p_i + p_(i+4) */
        q[m] = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xDD));
    }
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) /* (0 + 2), (1 + 3) of two m's per lane */
        r[h] = _mm512_add_ps(_mm512_shuffle_ps(q[2 * h], q[2 * h + 1], 0x44),
                             _mm512_shuffle_ps(q[2 * h], q[2 * h + 1], 0xEE));
    /* then their sum: [m0, m1, m2, m3] per lane */
    return _mm512_add_ps(_mm512_shuffle_ps(r[0], r[1], 0x88), _mm512_shuffle_ps(r[0], r[1], 0xDD));
}

static inline __attribute__((always_inline)) float dot_w(const void *a, const float *b, int64_t n, const int W16) {
    __m512 s = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) s = _mm512_fmadd_ps(load_w(a, i, 0xffff, W16), _mm512_loadu_ps(b + i), s);
    if (i < n) {
        const __mmask16 m = chunk_mask(n, i);
        s = _mm512_fmadd_ps(load_w(a, i, m, W16), _mm512_maskz_loadu_ps(m, b + i), s);
    }
    return hsum16(s);
}

static float dot_f16(const uint16_t *a, const float *b, int64_t n) { return dot_w(a, b, n, 1); }
static float dot_f32(const float *a, const float *b, int64_t n) { return dot_w(a, b, n, 0); }

/* NR weight rows against NT activation rows (compile-time constants: with the loops unrolled
 * the NR * NT accumulators stay in registers, 24 + 4 + 1 of the 32 at 4 x 6). lda counts
 * elements of the weight type. */
static inline __attribute__((always_inline)) void tile_k(const void *a, int64_t lda, const float *x, int64_t ldx,
                                                         int64_t n, float *y, int64_t ldy, const int NR, const int NT,
                                                         const int W16) {
    __m512 acc[IT_F16_TR][IT_F16_TT];
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++)
#pragma GCC unroll 6
        for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();
    const int64_t es = W16 ? 2 : 4;
    for (int64_t i = 0; i < n; i += 16) {
        /* full chunks unmasked (a constant mask: plain loads), the last one masked */
        const int full = i + 16 <= n;
        const __mmask16 m = full ? (__mmask16)0xffff : chunk_mask(n, i);
        __m512 w[IT_F16_TR];
        if (full) {
#pragma GCC unroll 4
            for (int r = 0; r < NR; r++) w[r] = load_w((const uint8_t *)a + r * lda * es, i, 0xffff, W16);
#pragma GCC unroll 6
            for (int t = 0; t < NT; t++) {
                const __m512 xv = _mm512_loadu_ps(x + t * ldx + i);
#pragma GCC unroll 4
                for (int r = 0; r < NR; r++) acc[r][t] = _mm512_fmadd_ps(w[r], xv, acc[r][t]);
            }
            continue;
        }
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++) w[r] = load_w((const uint8_t *)a + r * lda * es, i, m, W16);
#pragma GCC unroll 6
        for (int t = 0; t < NT; t++) {
            const __m512 xv = _mm512_maskz_loadu_ps(m, x + t * ldx + i);
#pragma GCC unroll 4
            for (int r = 0; r < NR; r++) acc[r][t] = _mm512_fmadd_ps(w[r], xv, acc[r][t]);
        }
    }
    if (NR == 4 && NT >= 3) { /* sixteen sums at a time: lane 4 * t + r */
        __m512 in[4][4];
        const __m512 z = _mm512_setzero_ps();
#pragma GCC unroll 2
        for (int t0 = 0; t0 < NT; t0 += 4) {
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
                for (int k = 0; k < 4; k++) in[r][k] = t0 + k < NT ? acc[r][t0 + k] : z;
            float sums[16];
            _mm512_storeu_ps(sums, sum4x4(in));
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++)
                if (t0 + k < NT) memcpy(y + (t0 + k) * ldy, sums + 4 * k, 4 * sizeof(float));
        }
        return;
    }
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++)
#pragma GCC unroll 6
        for (int t = 0; t < NT; t++) y[t * ldy + r] = hsum16(acc[r][t]);
}

/* one function per row count and weight type, the token count dispatched to a constant */
#define TILE_FN(name, NR, W16)                                                                                 \
    static void name(const void *a, int64_t lda, const float *x, int64_t ldx, int nt, int64_t n, float *y,   \
                     int64_t ldy) {                                                                            \
        switch (nt) {                                                                                          \
        case 1: tile_k(a, lda, x, ldx, n, y, ldy, NR, 1, W16); break;                                          \
        case 2: tile_k(a, lda, x, ldx, n, y, ldy, NR, 2, W16); break;                                          \
        case 3: tile_k(a, lda, x, ldx, n, y, ldy, NR, 3, W16); break;                                          \
        case 4: tile_k(a, lda, x, ldx, n, y, ldy, NR, 4, W16); break;                                          \
        case 5: tile_k(a, lda, x, ldx, n, y, ldy, NR, 5, W16); break;                                          \
        default: tile_k(a, lda, x, ldx, n, y, ldy, NR, IT_F16_TT, W16); break;                                 \
        }                                                                                                      \
    }
TILE_FN(f16_tile4, 4, 1)
TILE_FN(f16_tile1, 1, 1)
TILE_FN(f32_tile4, 4, 0)
TILE_FN(f32_tile1, 1, 0)

static void f16_tile(const uint16_t *a, int64_t lda, int nr, const float *x, int64_t ldx, int nt, int64_t n, float *y,
                     int64_t ldy) {
    int r = 0;
    for (; r + IT_F16_TR <= nr; r += IT_F16_TR) f16_tile4(a + r * lda, lda, x, ldx, nt, n, y + r, ldy);
    for (; r < nr; r++) f16_tile1(a + r * lda, lda, x, ldx, nt, n, y + r, ldy);
}

static void f32_tile(const float *a, int64_t lda, int nr, const float *x, int64_t ldx, int nt, int64_t n, float *y,
                     int64_t ldy) {
    int r = 0;
    for (; r + IT_F16_TR <= nr; r += IT_F16_TR) f32_tile4(a + r * lda, lda, x, ldx, nt, n, y + r, ldy);
    for (; r < nr; r++) f32_tile1(a + r * lda, lda, x, ldx, nt, n, y + r, ldy);
}

static void axpy_f16(float *y, float a, const uint16_t *x, int64_t n) {
    __m512 va = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))),
                                                _mm512_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * half(x[i]);
}

/* q . k of NJ query heads (rows of q, hd apart) over one K block read once: per head four
 * partial sums over d mod 4 */
static inline __attribute__((always_inline)) void kq_heads(const uint16_t *kt, const float *q, int64_t hd, float *s,
                                                           int64_t lds, const int NJ) {
    __m512 a[4][4];
#pragma GCC unroll 4
    for (int j = 0; j < NJ; j++)
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) a[j][r] = _mm512_setzero_ps();
    int64_t d = 0;
    for (; d + 4 <= hd; d += 4)
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const __m512 k = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(kt + (d + r) * 16)));
#pragma GCC unroll 4
            for (int j = 0; j < NJ; j++) a[j][r] = _mm512_fmadd_ps(_mm512_set1_ps(q[j * hd + d + r]), k, a[j][r]);
        }
    for (; d < hd; d++) {
        const __m512 k = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(kt + d * 16)));
#pragma GCC unroll 4
        for (int j = 0; j < NJ; j++) a[j][0] = _mm512_fmadd_ps(_mm512_set1_ps(q[j * hd + d]), k, a[j][0]);
    }
#pragma GCC unroll 4
    for (int j = 0; j < NJ; j++)
        _mm512_storeu_ps(s + j * lds, _mm512_add_ps(_mm512_add_ps(a[j][0], a[j][1]), _mm512_add_ps(a[j][2], a[j][3])));
}

/* 8-dimensional heads: the NJ heads' query values broadcast once for all the blocks */
static inline __attribute__((always_inline)) void kq8_blocks(const uint16_t *const *kb, int64_t nb, int64_t koff,
                                                             const float *q, float *s, int64_t lds, const int NJ) {
    __m512 qv[2][8];
#pragma GCC unroll 2
    for (int j = 0; j < NJ; j++)
#pragma GCC unroll 8
        for (int d = 0; d < 8; d++) qv[j][d] = _mm512_set1_ps(q[j * 8 + d]);
    for (int64_t b = 0; b < nb; b++) {
        const uint16_t *kt = kb[b] + koff;
        __m512 k[8];
#pragma GCC unroll 8
        for (int d = 0; d < 8; d++) k[d] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(kt + d * 16)));
#pragma GCC unroll 2
        for (int j = 0; j < NJ; j++) {
            __m512 a[4];
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++)
                a[r] = _mm512_fmadd_ps(qv[j][4 + r], k[4 + r], _mm512_fmadd_ps(qv[j][r], k[r], _mm512_setzero_ps()));
            _mm512_storeu_ps(s + j * lds + b * 16, _mm512_add_ps(_mm512_add_ps(a[0], a[1]), _mm512_add_ps(a[2], a[3])));
        }
    }
}

static void kq_f16(const uint16_t *const *kb, int64_t nb, const float *q, int nh, int group, int64_t hd, float *s,
                   int64_t lds) {
    if (group > nh) group = nh;
    for (int j0 = 0; j0 < nh; j0 += group) { /* the heads of one KV head share its rows */
        const int64_t koff = (int64_t)(j0 / group) * hd * 16;
        const int gn = nh - j0 < group ? nh - j0 : group;
        for (int j = j0; j < j0 + gn;) {
            const int left = j0 + gn - j;
            const float *qj = q + (int64_t)j * hd;
            float *sj = s + (int64_t)j * lds;
            if (hd == 8) {
                if (left >= 2) kq8_blocks(kb, nb, koff, qj, sj, lds, 2), j += 2;
                else kq8_blocks(kb, nb, koff, qj, sj, lds, 1), j += 1;
                continue;
            }
            const int nj = left >= 4 ? 4 : left;
            switch (nj) {
            case 4: for (int64_t b = 0; b < nb; b++) kq_heads(kb[b] + koff, qj, hd, sj + b * 16, lds, 4); break;
            case 3: for (int64_t b = 0; b < nb; b++) kq_heads(kb[b] + koff, qj, hd, sj + b * 16, lds, 3); break;
            case 2: for (int64_t b = 0; b < nb; b++) kq_heads(kb[b] + koff, qj, hd, sj + b * 16, lds, 2); break;
            default: for (int64_t b = 0; b < nb; b++) kq_heads(kb[b] + koff, qj, hd, sj + b * 16, lds, 1); break;
            }
            j += nj;
        }
    }
}

static void pv_one(const uint16_t *v, int64_t stride, const float *p, int64_t n, int64_t hd, float *out) {
    int64_t k = 0;
    for (; k + 64 <= hd; k += 64) { /* 64 outputs in registers across all n rows */
        __m512 o0 = _mm512_loadu_ps(out + k), o1 = _mm512_loadu_ps(out + k + 16), o2 = _mm512_loadu_ps(out + k + 32),
               o3 = _mm512_loadu_ps(out + k + 48);
        for (int64_t i = 0; i < n; i++) {
            const uint16_t *r = v + i * stride + k;
            __m512 pi = _mm512_set1_ps(p[i]);
            o0 = _mm512_fmadd_ps(pi, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)r)), o0);
            o1 = _mm512_fmadd_ps(pi, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(r + 16))), o1);
            o2 = _mm512_fmadd_ps(pi, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(r + 32))), o2);
            o3 = _mm512_fmadd_ps(pi, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(r + 48))), o3);
        }
        _mm512_storeu_ps(out + k, o0);
        _mm512_storeu_ps(out + k + 16, o1);
        _mm512_storeu_ps(out + k + 32, o2);
        _mm512_storeu_ps(out + k + 48, o3);
    }
    for (; k < hd; k += 16) {
        __mmask16 m = hd - k >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (hd - k)) - 1);
        __m512 o = _mm512_maskz_loadu_ps(m, out + k);
        for (int64_t i = 0; i < n; i++)
            o = _mm512_fmadd_ps(_mm512_set1_ps(p[i]), _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, v + i * stride + k)), o);
        _mm512_mask_storeu_ps(out + k, m, o);
    }
}

static void pv_f16(const uint16_t *const *vb, int64_t off, int64_t n, int64_t stride, const float *p, int64_t ldp,
                   int nh, int group, int64_t hd, float *out, int64_t ldo) {
    if (group > nh) group = nh;
    for (int64_t i0 = 0; i0 < n;) { /* block by block, the chains carried in out */
        const int64_t r0 = (off + i0) % 16, cnt = n - i0 < 16 - r0 ? n - i0 : 16 - r0;
        const uint16_t *v = vb[(off + i0) / 16] + r0 * stride;
        for (int j = 0; j < nh; j++) pv_one(v + (int64_t)(j / group) * hd, stride, p + i0 + j * ldp, cnt, hd, out + j * ldo);
        i0 += cnt;
    }
}

/* it_qdot_quant_act 16 lanes wide: per 32-element block amax, d = amax / 127 and its
 * inverse as the reference computes them (scalar), then round(x * id) half away from zero
 * (the fraction after truncation is exact) to int8: the same bytes. */
static void quant_act(uint32_t act, const float *x, int64_t n, void *row) {
    const int64_t nb = n / IT_QK;
    const int q81 = act == IT_GGML_Q8_1;
    const size_t bsz = q81 ? 36 : 34, qo = q81 ? 4 : 2;
    float *fd = (float *)(void *)((char *)row + it_qdot_act_scales_off(act, n)), *fs = fd + nb, *fq = fs + nb;
    const __m512 absm = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int64_t i = 0; i < nb; i++) {
        uint8_t *b = (uint8_t *)row + (size_t)i * bsz;
        __m512 v0 = _mm512_loadu_ps(x + i * 32), v1 = _mm512_loadu_ps(x + i * 32 + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(v0, absm), _mm512_and_ps(v1, absm)));
        const float d = amax / 127, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        /* F16C conversions round to nearest even like it_f32_to_f16 (the values are finite) */
        const uint16_t hd = (uint16_t)_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        memcpy(b, &hd, 2);
        __m512 vid = _mm512_set1_ps(id);
        __m512i qsum = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const __m512i q = _mm512_cvt_roundps_epi32(_mm512_mul_ps(h ? v1 : v0, vid),
                                                       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            _mm_storeu_si128((__m128i *)(void *)(b + qo + 16 * h), _mm512_cvtepi32_epi8(q));
            qsum = _mm512_add_epi32(qsum, q);
        }
        const int32_t sum = _mm512_reduce_add_epi32(qsum);
        if (q81) {
            const uint16_t hs = (uint16_t)_cvtss_sh((float)sum * d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            memcpy(b + 2, &hs, 2);
            fs[i] = half(hs);
        } else {
            fs[i] = 0;
        }
        fd[i] = half(hd);
        fq[i] = (float)sum;
    }
}

/* ---- softmax and gate pieces ---- */
/* exp(t) for t <= 88.7: 2^n * p(r), n = round(t / ln 2), r = t - n ln 2 in two parts, p the
 * degree-7 minimax polynomial of Cephes' expf (about 1 ulp) */
static inline __m512 exp512(__m512 t) {
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), t);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    const __m512 y = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(y, n);
}

static void pv_q8_0(const void *v, int64_t stride, const float *p, int64_t n, int64_t hd, float *out) {
    for (int64_t k = 0; k < hd; k += 32) { /* one block's 32 outputs in registers across all n rows */
        __m512 o0 = _mm512_loadu_ps(out + k), o1 = _mm512_loadu_ps(out + k + 16);
        for (int64_t i = 0; i < n; i++) {
            const it_block_q8_0 *b = (const it_block_q8_0 *)(const void *)((const uint8_t *)v + i * stride) + k / 32;
            const __m512 s = _mm512_set1_ps(p[i] * half(b->d));
            o0 = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b->qs))), o0);
            o1 = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b->qs + 16)))), o1);
        }
        _mm512_storeu_ps(out + k, o0);
        _mm512_storeu_ps(out + k + 16, o1);
    }
}

static void f16_store(uint16_t *dst, int64_t stride, const float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256i h = _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        if (stride == 1) {
            _mm256_storeu_si256((__m256i *)(dst + i), h);
        } else {
            uint16_t t[16];
            _mm256_storeu_si256((__m256i *)t, h);
            for (int k = 0; k < 16; k++) dst[(i + k) * stride] = t[k];
        }
    }
    for (; i < n; i++) dst[i * stride] = (uint16_t)_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

static float max_f32(const float *x, int64_t n) {
    if (n < 16) return it_max_f32_ref(x, n);
    __m512 m = _mm512_loadu_ps(x);
    int64_t i = 16;
    for (; i + 16 <= n; i += 16) m = _mm512_max_ps(_mm512_loadu_ps(x + i), m);
    float r = _mm512_reduce_max_ps(m);
    for (; i < n; i++) r = x[i] > r ? x[i] : r;
    return r;
}

static float exp_sum(float *y, const float *x, int64_t n, float a, float b) {
    const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b), lo = _mm512_set1_ps(IT_EXP_LO);
    __m512 s = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        const __m512 t = _mm512_fmsub_ps(_mm512_maskz_loadu_ps(m, x + i), va, vb); /* fused, explicitly */
        const __mmask16 ok = _mm512_mask_cmp_ps_mask(m, t, lo, _CMP_GE_OQ);
        const __m512 e = _mm512_maskz_mov_ps(ok, exp512(_mm512_max_ps(t, lo)));
        _mm512_mask_storeu_ps(y + i, m, e);
        s = _mm512_add_ps(s, e);
    }
    return _mm512_reduce_add_ps(s);
}

static void silu_mul(float *g, const float *u, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f), hi = _mm512_set1_ps(88.0f);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(m, g + i);
        const __m512 e = exp512(_mm512_max_ps(_mm512_min_ps(_mm512_sub_ps(_mm512_setzero_ps(), v), hi), _mm512_set1_ps(-104.0f)));
        _mm512_mask_storeu_ps(g + i, m,
                              _mm512_mul_ps(_mm512_div_ps(v, _mm512_add_ps(one, e)), _mm512_maskz_loadu_ps(m, u + i)));
    }
}


/* ---- softmax and PV over transposed V blocks (heads of at most 16 dimensions) ---- */

/* The sums of x[0..16) (each its 16 lanes as it_tree16 adds them) in one vector, lane k
 * the sum of x[k]. */
#define TREE16X16(NAME, OP)                                                                                         \
    static inline __attribute__((always_inline)) __m512 NAME(const __m512 *x) {                                    \
        __m512 c[8], d[4], e[2];                                                                                    \
        _Pragma("GCC unroll 8") for (int m = 0; m < 8; m++) c[m] =                                                  \
            OP(_mm512_shuffle_f32x4(x[m], x[m + 8], 0x44), _mm512_shuffle_f32x4(x[m], x[m + 8], 0xEE));             \
        _Pragma("GCC unroll 4") for (int m = 0; m < 4; m++) d[m] =                                                  \
            OP(_mm512_shuffle_f32x4(c[m], c[m + 4], 0x88), _mm512_shuffle_f32x4(c[m], c[m + 4], 0xDD));             \
        _Pragma("GCC unroll 2") for (int m = 0; m < 2; m++) e[m] =                                                  \
            OP(_mm512_shuffle_ps(d[m], d[m + 2], 0x44), _mm512_shuffle_ps(d[m], d[m + 2], 0xEE));                   \
        const __m512 f = OP(_mm512_shuffle_ps(e[0], e[1], 0x88), _mm512_shuffle_ps(e[0], e[1], 0xDD));              \
        return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15), f);   \
    }
/* The sums of x[0..16) (each its 16 lanes as it_tree16 adds them) in one vector, lane k
 * the sum of x[k]; the same for the largest lanes. */
TREE16X16(tree16x16, _mm512_add_ps)
TREE16X16(max16x16, _mm512_max_ps)

static inline __mmask16 block_mask(int64_t b, int64_t p0, int64_t np) {
    const int64_t a = p0 > b * 16 ? p0 - b * 16 : 0, z = np < b * 16 + 16 ? np - b * 16 : 16;
    return (__mmask16)(((1u << z) - 1) & ~((1u << a) - 1));
}

/* it_exp2_poly for t >= IT_EXP2_LO */
static inline __m512 exp2_512(__m512 t) {
    const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), r = _mm512_sub_ps(t, n);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(IT_EXP2_C5), r, _mm512_set1_ps(IT_EXP2_C4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(IT_EXP2_C3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(IT_EXP2_C2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(IT_EXP2_C1));
    return _mm512_scalef_ps(_mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f)), n);
}

/* CH heads of hd <= HD dimensions (CH * HD <= 16) of one KV head: the weights (zero
 * outside [p0, np)) times the blocks' V rows, an accumulator of 16 lanes per output, then
 * each output's lanes summed (it_tree16) and scaled by its head's inv */
static inline __attribute__((always_inline)) void pvt_heads(const uint16_t *const *vb, int64_t voff, int64_t p0,
                                                            int64_t np, const float *s, int64_t lds, const float *inv,
                                                            float *out, const int HD, const int CH, int hd) {
    __m512 acc[16];
#pragma GCC unroll 16
    for (int k = 0; k < 16; k++) acc[k] = _mm512_setzero_ps();
    const int64_t b0 = p0 / 16, b1 = (np - 1) / 16;
    const __mmask16 mf = block_mask(b0, p0, np), ml = block_mask(b1, p0, np);
    for (int64_t b = b0; b <= b1; b++) {
        const __mmask16 m = b == b0 ? mf : b == b1 ? ml : (__mmask16)0xffff;
        const uint16_t *v = vb[b] + voff;
        __m512 e[16];
#pragma GCC unroll 16
        for (int j = 0; j < CH; j++) e[j] = _mm512_loadu_ps(s + j * lds + b * 16);
#pragma GCC unroll 16
        for (int d = 0; d < HD; d++) { /* (lanes outside the range: 0 times 0, whatever the cache holds) */
            if (d >= hd) break;
            const __m512 vd = _mm512_maskz_cvtph_ps(m, _mm256_loadu_si256((const __m256i *)(v + d * 16)));
#pragma GCC unroll 16
            for (int j = 0; j < CH; j++) acc[j * hd + d] = _mm512_fmadd_ps(e[j], vd, acc[j * hd + d]);
        }
    }
    __m512 sc = _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int j = 0; j < CH; j++) sc = _mm512_mask_mov_ps(sc, (__mmask16)(((1u << hd) - 1) << (j * hd)), _mm512_set1_ps(inv[j]));
    _mm512_mask_storeu_ps(out, (__mmask16)((1u << (CH * hd)) - 1), _mm512_mul_ps(tree16x16(acc), sc));
}

static void softmax_pv_f16t(const uint16_t *const *vb, int64_t p0, int64_t np, float *s, int64_t lds, int nh,
                            int group, int64_t hd, float *out) {
    if (group > nh) group = nh;
    const int64_t b0 = p0 / 16, b1 = (np - 1) / 16;
    const __mmask16 mf = block_mask(b0, p0, np), ml = block_mask(b1, p0, np);
    const __m512 lo = _mm512_set1_ps(IT_EXP2_LO);
    for (int jc = 0; jc < nh; jc += 16) { /* 16 heads at a time: weights in place, then PV */
        const int nj = nh - jc < 16 ? nh - jc : 16;
        __m512 x[16];
        for (int j = 0; j < 16; j++) {
            const float *sj = s + (jc + j) * lds;
            __m512 mx = _mm512_set1_ps(-INFINITY);
            for (int64_t b = b0; j < nj && b <= b1; b++)
                mx = _mm512_mask_max_ps(mx, b == b0 ? mf : b == b1 ? ml : (__mmask16)0xffff, _mm512_loadu_ps(sj + b * 16), mx);
            x[j] = mx;
        }
        float mx[16], inv[16];
        _mm512_storeu_ps(mx, max16x16(x));
        for (int j = 0; j < 16; j++) {
            float *sj = s + (jc + j) * lds;
            const __m512 m = _mm512_set1_ps(mx[j]);
            __m512 sum = _mm512_setzero_ps();
            for (int64_t b = b0; j < nj && b <= b1; b++) {
                const __mmask16 in = b == b0 ? mf : b == b1 ? ml : (__mmask16)0xffff;
                const __m512 t = _mm512_sub_ps(_mm512_maskz_loadu_ps(in, sj + b * 16), m);
                const __m512 e = _mm512_maskz_mov_ps(_mm512_mask_cmp_ps_mask(in, t, lo, _CMP_GE_OQ), exp2_512(t));
                _mm512_storeu_ps(sj + b * 16, e);
                sum = _mm512_add_ps(sum, e);
            }
            x[j] = sum;
        }
        _mm512_storeu_ps(inv, _mm512_div_ps(_mm512_set1_ps(1.0f), tree16x16(x)));
        for (int j = jc; j < jc + nj;) { /* the heads of one KV head together, CH at a time */
            const int g = j / group, end = (g + 1) * group < jc + nj ? (g + 1) * group : jc + nj, left = end - j;
            const int64_t voff = (int64_t)g * hd * 16;
            const float *sj = s + j * lds, *ij = inv + (j - jc);
            float *oj = out + j * hd;
            if (hd == 8 && left >= 2) pvt_heads(vb, voff, p0, np, sj, lds, ij, oj, 8, 2, 8), j += 2;
            else if (hd == 8) pvt_heads(vb, voff, p0, np, sj, lds, ij, oj, 8, 1, 8), j += 1;
            else if (hd == 4 && left >= 4) pvt_heads(vb, voff, p0, np, sj, lds, ij, oj, 4, 4, 4), j += 4;
            else if (hd == 16) pvt_heads(vb, voff, p0, np, sj, lds, ij, oj, 16, 1, 16), j += 1;
            else pvt_heads(vb, voff, p0, np, sj, lds, ij, oj, 16, 1, (int)hd), j += 1;
        }
    }
}

static const it_qdot_table table = {IT_ISA_AVX512, q8_0, q4_0, q4_1, q8_0_x4, q4_0_x4, q4_1_x4, it_qdot_q5_0_ref, it_qdot_q5_1_ref,
                                    q4_K, q5_K, q6_K, q8_0_p16, q4_0_p16, q4_1_p16, dot_f16, axpy_f16,
                                    kq_f16, pv_f16, pv_q8_0, f16_tile, dot_f32, f32_tile, quant_act, max_f32, f16_store, exp_sum, silu_mul, softmax_pv_f16t};
const it_qdot_table *it_qdot_avx512(void);
const it_qdot_table *it_qdot_avx512(void) { return &table; }
