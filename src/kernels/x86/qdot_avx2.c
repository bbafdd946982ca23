/*
 * qdot_avx2.c: the AVX2 (+FMA, F16C) tier of qdot.h: Q8_0 / Q4_0 weight rows against
 * Q8_0 activation rows (sign trick + maddubs per 32-element block) and Q4_1 against Q8_1
 * (unsigned nibbles straight into maddubs), scaled and accumulated in 8 float lanes, for
 * one or four activation rows; Q4_K / Q5_K / Q6_K rows (per-16 scales through madd); f16 .
 * f32 dot / axpy for the KV cache.
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

/* One kernel body per weight type, instantiated for 1 and 4 activation rows with the
 * same per-row instruction sequence, so both give the same bits for a row. */
/* 8 int32 partial sums of w[i]*x[i] over 32 int8 pairs, as floats */
static inline __m256 dot_s(__m256i w, __m256i x) {
    __m256i d16 = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(d16, _mm256_set1_epi16(1)));
}
static inline __m256 dot_u(__m256i w, __m256i x) { /* w unsigned, at most 31 */
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1)));
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
/* sum of w*x per 16-element half, each half times its int16 scale, as 8 int32 */
static inline __m256i dot_s_scaled(__m256i w, __m256i x, __m256i sc16) {
    __m256i d16 = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_madd_epi16(d16, sc16);
}
static inline __m256i scales2(int s0, int s1) {
    return _mm256_set_m128i(_mm_set1_epi16((short)s1), _mm_set1_epi16((short)s0));
}
#include "qdot_blocks.h"

KERNELS(q8_0, it_block_q8_0, it_block_q8_0, IT_GGML_Q8_0, load_q8_0, DOT_S, NOM)
KERNELS(q4_0, it_block_q4_0, it_block_q8_0, IT_GGML_Q8_0, load_q4_0, DOT_S, NOM)
KERNELS(q4_1, it_block_q4_1, it_block_q8_1, IT_GGML_Q8_1, load_q4_1, DOT_U, WITHM)

static float dot_f16(const uint16_t *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i))), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i + 8))), _mm256_loadu_ps(b + i + 8),
                             s1);
    }
    float s = hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s = fma1(half(a[i]), b[i], s);
    return s;
}

/* four activation rows against one f16 weight row, each with dot_f16's exact steps
 * (named accumulators: registers, not the stack) */
static void dot_f16_x4(const uint16_t *a, const float *x, int64_t ldx, int64_t n, float *out) {
    __m256 p0 = _mm256_setzero_ps(), q0 = p0, p1 = p0, q1 = p0, p2 = p0, q2 = p0, p3 = p0, q3 = p0;
    const float *x0 = x, *x1 = x + ldx, *x2 = x + 2 * ldx, *x3 = x + 3 * ldx;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i + 8)));
        p0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x0 + i), p0);
        q0 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x0 + i + 8), q0);
        p1 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x1 + i), p1);
        q1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x1 + i + 8), q1);
        p2 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x2 + i), p2);
        q2 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x2 + i + 8), q2);
        p3 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x3 + i), p3);
        q3 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x3 + i + 8), q3);
    }
    const __m256 ps[4] = {p0, p1, p2, p3}, qs[4] = {q0, q1, q2, q3};
    for (int t = 0; t < 4; t++) {
        float s = hsum8(_mm256_add_ps(ps[t], qs[t]));
        for (int64_t k = i; k < n; k++) s = fma1(half(a[k]), x[t * ldx + k], s);
        out[t] = s;
    }
}

static float dot_f32(const float *a, const float *b, int64_t n) {
    __m256 s = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) s = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s);
    float r = hsum8(s);
    for (; i < n; i++) r = fma1(a[i], b[i], r);
    return r;
}

static void f32_tile(const float *a, int64_t lda, int nr, const float *x, int64_t ldx, int nt, int64_t n, float *y,
                     int64_t ldy) {
    for (int r = 0; r < nr; r++)
        for (int t = 0; t < nt; t++) y[t * ldy + r] = dot_f32(a + r * lda, x + t * ldx, n);
}

static void f16_tile(const uint16_t *a, int64_t lda, int nr, const float *x, int64_t ldx, int nt, int64_t n, float *y,
                     int64_t ldy) {
    for (int r = 0; r < nr; r++) {
        const uint16_t *ar = a + r * lda;
        int t = 0;
        for (; t + 4 <= nt; t += 4) {
            float o[4];
            dot_f16_x4(ar, x + t * ldx, ldx, n, o);
            for (int k = 0; k < 4; k++) y[(t + k) * ldy + r] = o[k];
        }
        for (; t < nt; t++) y[t * ldy + r] = dot_f16(ar, x + t * ldx, n);
    }
}

/* ---- 16-row packed groups (it_qpack16_fn) as two halves of 8 rows (lanes = rows): Q4
 * nibbles are unsigned, so maddubs against 4 broadcast activation bytes gives pair sums of
 * at most 2 * 15 * 127, and all 8 of a block add up in int16 without saturating before
 * one madd to int32; Q8_0 goes through the sign trick, one madd per 4 bytes. The float
 * steps are the reference's (it_qdot_p16_ref), so the bits are too. */
enum { H_Q8_0, H_Q4_0, H_Q4_1 };
#define H_TT 4

static inline __m256i bc4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

static inline void p16(const uint8_t *wp, int64_t n, int nr, const uint8_t *xq, int64_t xs, int64_t T, float *y,
                       int64_t ldy, const int TY) {
    const int64_t nb = n / IT_QK;
    const int64_t pb = TY == H_Q8_0 ? 544 : TY == H_Q4_0 ? 288 : 320, qoff = TY == H_Q4_1 ? 64 : 32;
    const uint32_t act = TY == H_Q4_1 ? IT_GGML_Q8_1 : IT_GGML_Q8_0;
    const int64_t xbsz = TY == H_Q4_1 ? 36 : 34, xqoff = TY == H_Q4_1 ? 4 : 2, soff = it_qdot_act_scales_off(act, n);
    const __m256i m4 = _mm256_set1_epi8(15), ones = _mm256_set1_epi16(1);
    for (int h = 0; h < 2 && 8 * h < nr; h++)
        for (int64_t t0 = 0; t0 < T; t0 += H_TT) {
            const int nt = T - t0 < H_TT ? (int)(T - t0) : H_TT;
            __m256 acc[H_TT], macc[H_TT];
            for (int t = 0; t < H_TT; t++) acc[t] = macc[t] = _mm256_setzero_ps();
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *wb = wp + b * pb;
                const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(wb + 16 * h)));
                const __m256 dm = TY == H_Q4_1
                                      ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(wb + 32 + 16 * h)))
                                      : _mm256_setzero_ps();
                __m256i qd[8];
                for (int q = 0; q < (TY == H_Q8_0 ? 8 : 4); q++)
                    qd[q] = _mm256_loadu_si256((const __m256i *)(const void *)(wb + qoff + 64 * q + 32 * h));
                if (TY != H_Q8_0)
                    for (int q = 0; q < 4; q++) {
                        qd[q + 4] = _mm256_and_si256(_mm256_srli_epi16(qd[q], 4), m4);
                        qd[q] = _mm256_and_si256(qd[q], m4);
                    }
                for (int t = 0; t < nt; t++) {
                    const uint8_t *xr = xq + (t0 + t) * xs, *xb = xr + b * xbsz + xqoff;
                    const float *fd = (const float *)(const void *)(xr + soff);
                    __m256i is;
                    if (TY == H_Q8_0) {
                        is = _mm256_setzero_si256();
                        for (int q = 0; q < 8; q++)
                            is = _mm256_add_epi32(is, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(qd[q]),
                                                                                             _mm256_sign_epi8(bc4(xb + 4 * q), qd[q])),
                                                                        ones));
                    } else {
                        __m256i s0 = _mm256_maddubs_epi16(qd[0], bc4(xb));
                        __m256i s1 = _mm256_maddubs_epi16(qd[4], bc4(xb + 16));
                        for (int q = 1; q < 4; q++) {
                            s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(qd[q], bc4(xb + 4 * q)));
                            s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(qd[q + 4], bc4(xb + 16 + 4 * q)));
                        }
                        is = _mm256_madd_epi16(_mm256_add_epi16(s0, s1), ones);
                    }
                    __m256 fi = _mm256_cvtepi32_ps(is);
                    if (TY == H_Q4_0) fi = _mm256_sub_ps(fi, _mm256_set1_ps(8.0f * fd[2 * nb + b]));
                    acc[t] = _mm256_fmadd_ps(fi, _mm256_mul_ps(dw, _mm256_set1_ps(fd[b])), acc[t]);
                    if (TY == H_Q4_1) macc[t] = _mm256_fmadd_ps(dm, _mm256_set1_ps(fd[nb + b]), macc[t]);
                }
            }
            const int nh = nr - 8 * h < 8 ? nr - 8 * h : 8;
            for (int t = 0; t < nt; t++) {
                float o[8];
                _mm256_storeu_ps(o, TY == H_Q4_1 ? _mm256_add_ps(acc[t], macc[t]) : acc[t]);
                memcpy(y + (t0 + t) * ldy + 8 * h, o, (size_t)nh * sizeof(float));
            }
        }
}

static void q8_0_p16(const void *w, int64_t n, int nr, const void *x, int64_t xs, int64_t T, float *y, int64_t ldy) {
    p16(w, n, nr, x, xs, T, y, ldy, H_Q8_0);
}
static void q4_0_p16(const void *w, int64_t n, int nr, const void *x, int64_t xs, int64_t T, float *y, int64_t ldy) {
    p16(w, n, nr, x, xs, T, y, ldy, H_Q4_0);
}
static void q4_1_p16(const void *w, int64_t n, int nr, const void *x, int64_t xs, int64_t T, float *y, int64_t ldy) {
    p16(w, n, nr, x, xs, T, y, ldy, H_Q4_1);
}

static void axpy_f16(float *y, float a, const uint16_t *x, int64_t n) {
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))),
                                                _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * half(x[i]);
}

static inline __m256 h8(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

static void kq16_one(const uint16_t *kt, const float *q, int64_t hd, float *s) {
    for (int h = 0; h < 2; h++) { /* positions 8h..8h+7 */
        const uint16_t *b = kt + 8 * h;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int64_t d = 0;
        for (; d + 4 <= hd; d += 4) {
            a0 = _mm256_fmadd_ps(_mm256_set1_ps(q[d]), h8(b + d * 16), a0);
            a1 = _mm256_fmadd_ps(_mm256_set1_ps(q[d + 1]), h8(b + d * 16 + 16), a1);
            a2 = _mm256_fmadd_ps(_mm256_set1_ps(q[d + 2]), h8(b + d * 16 + 32), a2);
            a3 = _mm256_fmadd_ps(_mm256_set1_ps(q[d + 3]), h8(b + d * 16 + 48), a3);
        }
        for (; d < hd; d++) a0 = _mm256_fmadd_ps(_mm256_set1_ps(q[d]), h8(b + d * 16), a0);
        _mm256_storeu_ps(s + 8 * h, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    }
}

static void kq_f16(const uint16_t *const *kb, int64_t nb, const float *q, int nh, int group, int64_t hd, float *s,
                   int64_t lds) {
    for (int64_t b = 0; b < nb; b++)
        for (int j = 0; j < nh; j++)
            kq16_one(kb[b] + (int64_t)(j / group) * hd * 16, q + (int64_t)j * hd, hd, s + (int64_t)j * lds + b * 16);
}

static void pv_one(const uint16_t *v, int64_t stride, const float *p, int64_t n, int64_t hd, float *out) {
    int64_t k = 0;
    for (; k + 32 <= hd; k += 32) {
        __m256 o0 = _mm256_loadu_ps(out + k), o1 = _mm256_loadu_ps(out + k + 8), o2 = _mm256_loadu_ps(out + k + 16),
               o3 = _mm256_loadu_ps(out + k + 24);
        for (int64_t i = 0; i < n; i++) {
            const uint16_t *r = v + i * stride + k;
            __m256 pi = _mm256_set1_ps(p[i]);
            o0 = _mm256_fmadd_ps(pi, h8(r), o0);
            o1 = _mm256_fmadd_ps(pi, h8(r + 8), o1);
            o2 = _mm256_fmadd_ps(pi, h8(r + 16), o2);
            o3 = _mm256_fmadd_ps(pi, h8(r + 24), o3);
        }
        _mm256_storeu_ps(out + k, o0);
        _mm256_storeu_ps(out + k + 8, o1);
        _mm256_storeu_ps(out + k + 16, o2);
        _mm256_storeu_ps(out + k + 24, o3);
    }
    for (; k + 8 <= hd; k += 8) {
        __m256 o = _mm256_loadu_ps(out + k);
        for (int64_t i = 0; i < n; i++) o = _mm256_fmadd_ps(_mm256_set1_ps(p[i]), h8(v + i * stride + k), o);
        _mm256_storeu_ps(out + k, o);
    }
    for (; k < hd; k++)
        for (int64_t i = 0; i < n; i++) out[k] = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(p[i]), _mm_set_ss(half(v[i * stride + k])), _mm_set_ss(out[k])));
}

static void pv_f16(const uint16_t *const *vb, int64_t off, int64_t n, int64_t stride, const float *p, int64_t ldp,
                   int nh, int group, int64_t hd, float *out, int64_t ldo) {
    for (int64_t i0 = 0; i0 < n;) { /* block by block, the chains carried in out */
        const int64_t r0 = (off + i0) % 16, cnt = n - i0 < 16 - r0 ? n - i0 : 16 - r0;
        const uint16_t *v = vb[(off + i0) / 16] + r0 * stride;
        for (int j = 0; j < nh; j++) pv_one(v + (int64_t)(j / group) * hd, stride, p + j * ldp + i0, cnt, hd, out + j * ldo);
        i0 += cnt;
    }
}

/* ---- softmax and gate pieces ---- */
/* exp(t) for t in [-87.3, 88.3]: 2^n * p(r) as in the AVX-512 tier, 2^n built in the
 * exponent bits (n in [-126, 127]) */
static inline __m256 exp256(__m256 t) {
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(t, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), t);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    const __m256 y = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

static void pv_q8_0(const void *v, int64_t stride, const float *p, int64_t n, int64_t hd, float *out) {
    for (int64_t k = 0; k < hd; k += 32) { /* one block's 32 outputs in registers across all n rows */
        __m256 o0 = _mm256_loadu_ps(out + k), o1 = _mm256_loadu_ps(out + k + 8), o2 = _mm256_loadu_ps(out + k + 16),
               o3 = _mm256_loadu_ps(out + k + 24);
        for (int64_t i = 0; i < n; i++) {
            const it_block_q8_0 *b = (const it_block_q8_0 *)(const void *)((const uint8_t *)v + i * stride) + k / 32;
            const __m256 s = _mm256_set1_ps(p[i] * half(b->d));
            o0 = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)b->qs))), o0);
            o1 = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b->qs + 8)))), o1);
            o2 = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b->qs + 16)))), o2);
            o3 = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b->qs + 24)))), o3);
        }
        _mm256_storeu_ps(out + k, o0);
        _mm256_storeu_ps(out + k + 8, o1);
        _mm256_storeu_ps(out + k + 16, o2);
        _mm256_storeu_ps(out + k + 24, o3);
    }
}

static void f16_store(uint16_t *dst, int64_t stride, const float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        if (stride == 1) {
            _mm_storeu_si128((__m128i *)(dst + i), h);
        } else {
            uint16_t t[8];
            _mm_storeu_si128((__m128i *)t, h);
            for (int k = 0; k < 8; k++) dst[(i + k) * stride] = t[k];
        }
    }
    for (; i < n; i++) dst[i * stride] = (uint16_t)_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

static float max_f32(const float *x, int64_t n) {
    if (n < 8) return it_max_f32_ref(x, n);
    __m256 m = _mm256_loadu_ps(x);
    int64_t i = 8;
    for (; i + 8 <= n; i += 8) m = _mm256_max_ps(_mm256_loadu_ps(x + i), m);
    float v[8], r;
    _mm256_storeu_ps(v, m);
    r = v[0];
    for (int k = 1; k < 8; k++) r = v[k] > r ? v[k] : r;
    for (; i < n; i++) r = x[i] > r ? x[i] : r;
    return r;
}

static float exp_sum(float *y, const float *x, int64_t n, float a, float b) {
    const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b), lo = _mm256_set1_ps(IT_EXP_LO),
                 hi = _mm256_set1_ps(88.3f);
    __m256 s = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 t = _mm256_fmsub_ps(_mm256_loadu_ps(x + i), va, vb); /* fused, explicitly */
        const __m256 e = _mm256_and_ps(_mm256_cmp_ps(t, lo, _CMP_GE_OQ), exp256(_mm256_min_ps(_mm256_max_ps(t, lo), hi)));
        _mm256_storeu_ps(y + i, e);
        s = _mm256_add_ps(s, e);
    }
    if (i < n) { /* the tail through the same vector steps (an element's bits do not depend on n) */
        float tx[8] = {0}, ty[8];
        memcpy(tx, x + i, (size_t)(n - i) * sizeof *tx);
        const __m256 t = _mm256_fmsub_ps(_mm256_loadu_ps(tx), va, vb);
        const __m256 e = _mm256_and_ps(_mm256_cmp_ps(t, lo, _CMP_GE_OQ), exp256(_mm256_min_ps(_mm256_max_ps(t, lo), hi)));
        _mm256_storeu_ps(ty, e);
        for (int64_t k = n - i; k < 8; k++) ty[k] = 0;
        memcpy(y + i, ty, (size_t)(n - i) * sizeof *ty);
        s = _mm256_add_ps(s, _mm256_loadu_ps(ty));
    }
    return hsum8(s);
}

static void silu_mul(float *g, const float *u, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), lo = _mm256_set1_ps(IT_EXP_LO), hi = _mm256_set1_ps(88.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(g + i);
        const __m256 t = _mm256_sub_ps(_mm256_setzero_ps(), v);
        const __m256 e = _mm256_and_ps(_mm256_cmp_ps(t, lo, _CMP_GE_OQ), exp256(_mm256_min_ps(_mm256_max_ps(t, lo), hi)));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_div_ps(v, _mm256_add_ps(one, e)), _mm256_loadu_ps(u + i)));
    }
    if (i < n) { /* the tail through the same vector steps (an element's bits do not depend on n) */
        float tg[8] = {0}, tu[8] = {0};
        memcpy(tg, g + i, (size_t)(n - i) * sizeof *tg);
        memcpy(tu, u + i, (size_t)(n - i) * sizeof *tu);
        const __m256 v = _mm256_loadu_ps(tg);
        const __m256 t = _mm256_sub_ps(_mm256_setzero_ps(), v);
        const __m256 e = _mm256_and_ps(_mm256_cmp_ps(t, lo, _CMP_GE_OQ), exp256(_mm256_min_ps(_mm256_max_ps(t, lo), hi)));
        _mm256_storeu_ps(tg, _mm256_mul_ps(_mm256_div_ps(v, _mm256_add_ps(one, e)), _mm256_loadu_ps(tu)));
        memcpy(g + i, tg, (size_t)(n - i) * sizeof *tg);
    }
}

/* ---- softmax and PV over transposed V blocks (heads of at most 16 dimensions) ---- */

/* it_exp2_poly for IT_EXP2_LO <= t <= 1 (2^n built in the exponent bits: a normal number) */
static inline __m256 exp2_256(__m256 t) {
    const __m256 n = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), r = _mm256_sub_ps(t, n);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(IT_EXP2_C5), r, _mm256_set1_ps(IT_EXP2_C4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(IT_EXP2_C3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(IT_EXP2_C2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(IT_EXP2_C1));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(_mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f)), _mm256_castsi256_ps(e));
}

/* all ones in the lanes of positions q .. q + 7 that lie in [p0, np) */
static inline __m256 range_mask(int64_t q, int64_t p0, int64_t np) {
    const __m256i pos = _mm256_add_epi32(_mm256_set1_epi32((int)q), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_castsi256_ps(_mm256_and_si256(_mm256_cmpgt_epi32(pos, _mm256_set1_epi32((int)p0 - 1)),
                                                _mm256_cmpgt_epi32(_mm256_set1_epi32((int)np), pos)));
}

static void softmax_pv_f16t(const uint16_t *const *vb, int64_t p0, int64_t np, float *s, int64_t lds, int nh,
                            int group, int64_t hd, float *out) {
    if (group > nh) group = nh;
    const int64_t b0 = p0 / 16, b1 = (np - 1) / 16;
    const __m256 lo = _mm256_set1_ps(IT_EXP2_LO), ninf = _mm256_set1_ps(-INFINITY);
    for (int j = 0; j < nh; j++) {
        float *sj = s + (int64_t)j * lds, lane[16];
        __m256 mx = ninf;
        for (int64_t q = b0 * 16; q <= b1 * 16 + 8; q += 8)
            mx = _mm256_max_ps(_mm256_blendv_ps(ninf, _mm256_loadu_ps(sj + q), range_mask(q, p0, np)), mx);
        _mm256_storeu_ps(lane, mx);
        float mv = lane[0];
        for (int k = 1; k < 8; k++) mv = lane[k] > mv ? lane[k] : mv;
        const __m256 m = _mm256_set1_ps(mv);
        __m256 sum[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int64_t q = b0 * 16; q <= b1 * 16 + 8; q += 8) { /* weights in place, whole blocks */
            const __m256 t = _mm256_sub_ps(_mm256_loadu_ps(sj + q), m);
            const __m256 ok = _mm256_and_ps(range_mask(q, p0, np), _mm256_cmp_ps(t, lo, _CMP_GE_OQ));
            const __m256 e = _mm256_and_ps(ok, exp2_256(_mm256_max_ps(t, lo)));
            _mm256_storeu_ps(sj + q, e);
            sum[q / 8 % 2] = _mm256_add_ps(sum[q / 8 % 2], e);
        }
        _mm256_storeu_ps(lane, sum[0]);
        _mm256_storeu_ps(lane + 8, sum[1]);
        const float inv = 1.0f / it_tree16(lane);
        const int64_t voff = (int64_t)(j / group) * hd * 16;
        for (int64_t d0 = 0; d0 < hd; d0 += 4) { /* four outputs at a time, lanes 0-7 and 8-15 */
            const int nd = hd - d0 < 4 ? (int)(hd - d0) : 4;
            __m256 acc[4][2];
            for (int d = 0; d < 4; d++) acc[d][0] = acc[d][1] = _mm256_setzero_ps();
            for (int64_t b = b0; b <= b1; b++) {
                const uint16_t *v = vb[b] + voff + d0 * 16;
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) {
                    const int64_t q = b * 16 + h * 8;
                    const __m256 e = _mm256_loadu_ps(sj + q), in = range_mask(q, p0, np);
#pragma GCC unroll 4
                    for (int d = 0; d < 4; d++) { /* (lanes outside the range: 0 times 0) */
                        if (d >= nd) break;
                        const __m256 vd = _mm256_and_ps(in, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + d * 16 + h * 8))));
                        acc[d][h] = _mm256_fmadd_ps(e, vd, acc[d][h]);
                    }
                }
            }
            for (int d = 0; d < nd; d++) {
                _mm256_storeu_ps(lane, acc[d][0]);
                _mm256_storeu_ps(lane + 8, acc[d][1]);
                out[(int64_t)j * hd + d0 + d] = it_tree16(lane) * inv;
            }
        }
    }
}

static const it_qdot_table table = {IT_ISA_AVX2, q8_0, q4_0, q4_1, q8_0_x4, q4_0_x4, q4_1_x4, it_qdot_q5_0_ref, it_qdot_q5_1_ref,
                                    q4_K, q5_K, q6_K, q8_0_p16, q4_0_p16, q4_1_p16, dot_f16, axpy_f16,
                                    kq_f16, pv_f16, pv_q8_0, f16_tile, dot_f32, f32_tile, it_qdot_quant_act, max_f32, f16_store, exp_sum, silu_mul,
                                    softmax_pv_f16t};
const it_qdot_table *it_qdot_avx2(void);
const it_qdot_table *it_qdot_avx2(void) { return &table; }
