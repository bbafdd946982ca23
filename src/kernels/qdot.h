/*
 * qdot.h: row dot products for LLM matrix-vector work, one weight row against one
 * activation row: quantized weights (ggml Q8_0 / Q4_0 / Q5_0 / Q6_K blocks against
 * activations quantized to Q8_0 blocks, Q4_1 / Q5_1 / Q4_K / Q5_K against Q8_1: integer
 * products per 32-element block, float scaling per block), and f16 vectors (the KV cache,
 * F16 weights) against f32.
 *
 * Each function is deterministic: the same inputs give the same bits on the same tier,
 * whatever else the caller computes (the LLM forward pass relies on that for batch
 * invariance). Tiers differ from the scalar reference only by float summation order.
 * The table is chosen once from the CPU features (capped by INGOT_ISA); per-tier
 * tables are available for tests.
 */
#ifndef INGOT_QDOT_H
#define INGOT_QDOT_H

#include <math.h>
#include <stdint.h>

#include "base/base.h"
#include "tensor/quant.h"

/* n is a multiple of 32 for the block kernels (256 for the K types); w is a row of blocks,
 * x an activation row made by it_qdot_quant_act: its Q8_0 or Q8_1 blocks, then float
 * copies of the block scales (and Q8_1 block sums) that SIMD tiers read in vectors. */
typedef float (*it_qdot_fn)(const void *w, const void *xq8, int64_t n);
/* The same for four activation rows xq, xq + xs, xq + 2xs, xq + 3xs (xs in bytes): each
 * out[i] has exactly the bits the single-row kernel gives for that row. */
typedef void (*it_qdot4_fn)(const void *w, const void *xq, int64_t xs, int64_t n, float *out);
/* Weights repacked once into 16-row groups (it_qpack16): a group's 32-weight blocks are
 * stored together, lanes = rows: per block the 16 rows' f16 scales (and Q4_1 mins), then
 * the quantized bytes as 64-byte vectors whose dword r is row r's bytes 4q..4q+3 (Q4: 4
 * vectors of packed nibbles, low nibbles are elements 4q.., high ones 16+4q..; Q8_0: 8
 * vectors of int8). A kernel computes one group (nr <= 16 valid rows) against T
 * activation rows xs bytes apart: y[t * ldy + r] = w_r . x_t. Each (row, token) result is
 * an exact int32 block sum scaled by one fma per block in block order, so it has the same
 * bits whatever T and nr, and the same bits on every tier (it_qdot_p16_ref): the forward
 * pass uses them for every batch size, single-token decode included. */
typedef void (*it_qpack16_fn)(const void *wp, int64_t n, int nr, const void *xq, int64_t xs, int64_t T, float *y,
                              int64_t ldy);

typedef struct it_qdot_table {
    int isa;
    it_qdot_fn q8_0; /* Q8_0 weights . Q8_0 activations */
    it_qdot_fn q4_0; /* Q4_0 weights . Q8_0 activations */
    it_qdot_fn q4_1; /* Q4_1 weights . Q8_1 activations */
    it_qdot4_fn q8_0_x4, q4_0_x4, q4_1_x4;
    it_qdot_fn q5_0; /* Q5_0 . Q8_0 */
    it_qdot_fn q5_1; /* Q5_1 . Q8_1 */
    it_qdot_fn q4_K; /* Q4_K . Q8_1 (per 32-element sub-block: scale, and min times the block sum) */
    it_qdot_fn q5_K; /* Q5_K . Q8_1 */
    it_qdot_fn q6_K; /* Q6_K . Q8_0 (two 16-element scales per 32-element block) */
    it_qpack16_fn q8_0_p16, q4_0_p16, q4_1_p16; /* packed-group kernels; NULL: the row kernels */
    float (*dot_f16)(const uint16_t *a, const float *b, int64_t n);      /* any n */
    void (*axpy_f16)(float *y, float a, const uint16_t *x, int64_t n);   /* y += a*x, any n */
    /* Attention over an f16 KV cache of blocks of 16 positions, a sequence's blocks given as
     * a list of pointers. K blocks are stored transposed (kt[d * 16 + j] is dimension d of
     * position j); V blocks hold 16 rows, stride elements apart. Both take nh query heads,
     * `group` of them per KV head: head h reads KV head h / group (its K at kb[b] + (h /
     * group) * hd * 16, its V at + (h / group) * hd). kq: for the nb blocks, s[h * lds + 16
     * * b + j] = q_h . k_j (q_h at q + h * hd), summed as four partial sums over d mod 4 (d
     * in order), then (s0 + s1) + (s2 + s3): the same bits on every tier
     * (it_qdot_kq_ref). pv: rows off .. off + n - 1 of the list (row r at vb[r / 16] + r %
     * 16 * stride), head h's weights at p + h * ldp (one per row) and output at out + h *
     * ldo: out[k] += sum_i p[i] * v_i[k] in row order, one fma per term (the bits of n
     * axpy_f16 calls on the SIMD tiers; heads computed together to overlap their chains of
     * dependent fmas). */
    void (*kq_f16)(const uint16_t *const *kb, int64_t nb, const float *q, int nh, int group, int64_t hd, float *s,
                   int64_t lds);
    void (*pv_f16)(const uint16_t *const *vb, int64_t off, int64_t n, int64_t stride, const float *p, int64_t ldp,
                   int nh, int group, int64_t hd, float *out, int64_t ldo);
    /* The same over Q8_0 rows (hd a multiple of 32, row i at v + i * stride bytes): out[k] +=
     * (p[i] * d) * q for each row's block scale d, one fma per term, rows in order. */
    void (*pv_q8_0)(const void *v, int64_t stride, const float *p, int64_t n, int64_t hd, float *out);
    /* A tile of F16 matrix products: y[t * ldy + r] = dot_f16(a + r * lda, x + t * ldx, n)
     * for r < nr (any; IT_F16_TR rows at a time), t < nt <= IT_F16_TT, the same bits as
     * dot_f16 (so a token's result does not depend on the tile it was computed in), each
     * weight row read once per tile. */
    void (*f16_tile)(const uint16_t *a, int64_t lda, int nr, const float *x, int64_t ldx, int nt, int64_t n, float *y,
                     int64_t ldy);
    /* The same for F32 weights: dot_f32 (any n) and tiles with its bits. */
    float (*dot_f32)(const float *a, const float *b, int64_t n);
    void (*f32_tile)(const float *a, int64_t lda, int nr, const float *x, int64_t ldx, int nt, int64_t n, float *y,
                     int64_t ldy);
    /* it_qdot_quant_act, the same bytes */
    void (*quant_act)(uint32_t act, const float *x, int64_t n, void *row);
    /* Softmax and gate pieces (each tier's own rounding; one tier gives a row the same bits
     * whatever else is computed with it). max_f32: the largest of x[0..n), n >= 1, NaN
     * skipped where an element before it is a number. exp_sum: y[i] = exp(x[i] * a - b) (the
     * argument rounded once or twice),
     * 0 where x[i] * a - b < -87.3 (so -inf gives 0), returns the sum of y. silu_mul:
     * g[i] = g[i] / (1 + exp(-g[i])) * u[i]. y may be x. */
    float (*max_f32)(const float *x, int64_t n);
    /* dst[i * stride] = x[i] as f16 (round to nearest even, it_f32_to_f16's bits for finite x) */
    void (*f16_store)(uint16_t *dst, int64_t stride, const float *x, int64_t n);
    float (*exp_sum)(float *y, const float *x, int64_t n, float a, float b);
    void (*silu_mul)(float *g, const float *u, int64_t n);
    /* Softmax and PV of attention heads of at most 16 dimensions over an f16 cache whose V
     * blocks are transposed like K's: vb[b] is block b's V from the first KV head on (KV head
     * g's dimension d at vb[b] + (g * hd + d) * 16, one value per position of the block),
     * query head j (< nh) reads KV head j / group; its scores in base-2 units (the query
     * scaled by log2(e) / sqrt(hd) beforehand) are at s + j * lds, one per position (whole
     * blocks: position p of the list at s[p]), and positions [p0, np) count (0 <= p0 < np,
     * positions of block b are 16b .. 16b + 15). Per head, with M the largest score:
     * w_p = it_exp2_poly(s_p - M) (0 below IT_EXP2_LO and outside [p0, np); written back
     * over s, whole blocks; vb[b] is read for the blocks of [p0, np) only), S = it_tree16 of 16 lane sums (lane p mod 16, positions in
     * order), out[j * hd + d] = it_tree16 of the lanes of fma(w_p, v_p[d], .) in position
     * order, times 1 / S: every tier the bits of it_qdot_softmax_pv_f16t_ref. */
    void (*softmax_pv_f16t)(const uint16_t *const *vb, int64_t p0, int64_t np, float *s, int64_t lds, int nh,
                            int group, int64_t hd, float *out);
} it_qdot_table;

#define IT_F16_TR 4
#define IT_F16_TT 6

const it_qdot_table *it_qdot(void);
/* The table of one tier (IT_ISA_*), NULL when not built or not supported here. The
 * AVX-512 tier needs AVX-512 VNNI. */
const it_qdot_table *it_qdot_for(int isa);

/* Activation rows: act is IT_GGML_Q8_0 or IT_GGML_Q8_1, quantized as ggml's x86 builds do
 * (x * (127 / amax) rounded to nearest even: llama.cpp's activation bytes on these machines;
 * it_quant_row, ggml's reference, divides by d and rounds ties away from zero). Bytes of a
 * row (a multiple of 32): */
static inline int64_t it_qdot_act_scales_off(uint32_t act, int64_t n) {
    return (n / IT_QK * (act == IT_GGML_Q8_1 ? 36 : 34) + 31) & ~(int64_t)31;
}
/* after the blocks: float d[nb], s[nb] (Q8_1's f16 block sums; 0 for Q8_0), q[nb] (exact
 * sums of each block's int8 values) */
static inline int64_t it_qdot_act_bytes(uint32_t act, int64_t n) {
    return (it_qdot_act_scales_off(act, n) + n / IT_QK * 4 * 3 + 31) & ~(int64_t)31;
}
void it_qdot_quant_act(uint32_t act, const float *x, int64_t n, void *row);

/* Scalar references (also the portable tier). */
float it_qdot_q8_0_ref(const void *w, const void *xq8, int64_t n);
float it_qdot_q4_0_ref(const void *w, const void *xq8, int64_t n);
float it_qdot_q4_1_ref(const void *w, const void *xq8_1, int64_t n);
float it_qdot_q5_0_ref(const void *w, const void *xq8, int64_t n);
float it_qdot_q5_1_ref(const void *w, const void *xq8_1, int64_t n);
float it_qdot_q4_K_ref(const void *w, const void *xq8_1, int64_t n); /* n: multiple of 256 */
float it_qdot_q5_K_ref(const void *w, const void *xq8_1, int64_t n);
float it_qdot_q6_K_ref(const void *w, const void *xq8, int64_t n);
/* K-quant scale / min of 32-element sub-block j (0..7) from the 12 packed bytes */
static inline void it_k4_scale_min(int j, const uint8_t *q, int *d, int *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
    }
}
float it_dot_f16_ref(const uint16_t *a, const float *b, int64_t n);
float it_max_f32_ref(const float *x, int64_t n);
float it_dot_f32_ref(const float *a, const float *b, int64_t n);
void it_f16_store_ref(uint16_t *dst, int64_t stride, const float *x, int64_t n);
float it_exp_sum_ref(float *y, const float *x, int64_t n, float a, float b);
void it_silu_mul_ref(float *g, const float *u, int64_t n);
/* below this exp_sum's argument gives 0 (expf would give a denormal or 0) */
#define IT_EXP_LO (-87.3f)

/* 16-row group packing (Q8_0, Q4_0, Q4_1 with n_in a multiple of 32): bytes of the packed
 * copy (groups of 16 rows, the last one zero-padded), -1 for other types. */
int64_t it_qpack16_bytes(uint32_t type, int64_t n_out, int64_t n_in);
/* Bytes of one packed group (the stride between groups). */
int64_t it_qpack16_group_bytes(uint32_t type, int64_t n_in);
/* Row r of a packed matrix back in the file's block layout (row bytes of the type). */
void it_qpack16_row(uint32_t type, const void *packed, int64_t n_in, int64_t r, void *row);
void it_qpack16(uint32_t type, const void *w, int64_t row_bytes, int64_t n_out, int64_t n_in, void *out);
/* Groups g0..g1 of that copy only (the whole copy's out; groups are independent). */
void it_qpack16_groups(uint32_t type, const void *w, int64_t row_bytes, int64_t n_out, int64_t n_in, int64_t g0,
                       int64_t g1, void *out);
/* The scalar reference of the packed-group kernels (the bits of every tier's). */
void it_qdot_p16_ref(uint32_t type, const void *wp, int64_t n, int nr, const void *xq, int64_t xs, int64_t T, float *y,
                     int64_t ldy);
void it_axpy_f16_ref(float *y, float a, const uint16_t *x, int64_t n);
void it_qdot_kq_ref(const uint16_t *const *kb, int64_t nb, const float *q, int nh, int group, int64_t hd, float *s,
                    int64_t lds);
void it_qdot_pv_q8_0_ref(const void *v, int64_t stride, const float *p, int64_t n, int64_t hd, float *out);
void it_qdot_softmax_pv_f16t_ref(const uint16_t *const *vb, int64_t p0, int64_t np, float *s, int64_t lds, int nh,
                                 int group, int64_t hd, float *out);
/* 2^t for IT_EXP2_LO <= t <= 1 as softmax_pv_f16t computes it: 2^n * p(t - n), n the nearest
 * integer (ties to even), p a degree-5 polynomial (within 1.7e-7 of 2^r on [-1/2, 1/2]),
 * every operation rounded as written (the multiply-adds fused). */
#define IT_EXP2_LO (-126.0f)
#define IT_EXP2_C1 0x1.62e42ap-1f
#define IT_EXP2_C2 0x1.ebf9bcp-3f
#define IT_EXP2_C3 0x1.c6b752p-5f
#define IT_EXP2_C4 0x1.3cea52p-7f
#define IT_EXP2_C5 0x1.5bb97ap-10f
static inline float it_exp2_poly(float t) {
    const float n = rintf(t), r = t - n;
    float p = fmaf(IT_EXP2_C5, r, IT_EXP2_C4);
    p = fmaf(p, r, IT_EXP2_C3);
    p = fmaf(p, r, IT_EXP2_C2);
    p = fmaf(p, r, IT_EXP2_C1);
    return ldexpf(fmaf(p, r, 1.0f), (int)n);
}
/* x[0] + ... + x[15] added as a tree: x[i] + x[i + 8], then + 4, + 2, + 1 apart */
static inline float it_tree16(const float *x) {
    float a[8];
    for (int i = 0; i < 8; i++) a[i] = x[i] + x[i + 8];
    for (int i = 0; i < 4; i++) a[i] += a[i + 4];
    for (int i = 0; i < 2; i++) a[i] += a[i + 2];
    return a[0] + a[1];
}
void it_qdot_pv_ref(const uint16_t *const *vb, int64_t off, int64_t n, int64_t stride, const float *p, int64_t ldp,
                    int nh, int group, int64_t hd, float *out, int64_t ldo);

#endif
