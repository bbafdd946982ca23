/*
 * qgemm.h: 8-bit integer GEMM (u8 x s8 -> s32) for quantized operators
 * (QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger).
 *
 * Both operands are packed into tier-specific panels first: A (the "row"
 * operand, M x K) into panels of mr rows, B (the "column" operand, K x N) into
 * panels of nr columns, K padded to the tier's group size. Exactly one packed
 * operand is unsigned: callers holding two operands of the same signedness flip
 * one of them (xor 0x80) while packing and move its zero point by 128. The
 * driver runs the micro-kernels over all tiles (multithreaded) and applies the
 * epilogue: zero-point corrections, bias, then either an int32 store or a
 * requantization float(acc) * scale, round half to even, + zero point,
 * saturate (the order ONNX Runtime uses, so results match it bit for bit).
 *
 * Tiers: scalar (the reference), AVX2 (operands widened to int16, vpmaddwd:
 * exact, no vpmaddubsw saturation), AVX-512 VNNI (vpdpbusd). it_qgemm_best()
 * picks the best tier allowed by it_cpu_features() (INGOT_ISA caps it).
 */
#ifndef INGOT_QGEMM_H
#define INGOT_QGEMM_H

#include <stdint.h>

#include "base/base.h"

typedef struct it_qgemm_tier {
    int isa;            /* IT_ISA_* */
    const char *name;
    int mr, nr, kg;     /* tile rows, tile columns, K group */
    int elem;           /* bytes per packed element: 1 (bytes) or 2 (int16 widened) */
    /* c[mr][nr] (row-major, ld nr) = A panel x B panel over kp (multiple of kg).
     * a_unsigned: A panel holds u8 and B panel s8 (else A s8 and B u8). */
    void (*micro)(int64_t kp, const void *a, const void *b, int32_t *c, int a_unsigned);
    /* out[j] = sat(round(float(acc[j] + add) * scale[j or 0]) + zp) for j < n;
     * scale_vec: scale has n entries; out_s8: int8 output (else uint8). */
    void (*requant)(const int32_t *acc, int64_t n, int32_t add, const float *scale, int scale_vec, int32_t zp,
                    int out_s8, void *out);
    /* Depthwise convolution row: acc_i = bias + sum_{t < ntaps} w[t] * x_t[i * stride], i < n,
     * x_t = src[t] read as u8 (s8 when x_s8). scale NULL: out is int32 acc; else
     * out[i] = requant(acc_i) (scale[0], zp, u8 or s8 when out_s8). */
    void (*dw_row)(const uint8_t *const *src, int64_t n, int stride, int x_s8, const int32_t *w, int ntaps,
                   int32_t bias, const float *scale, int32_t zp, int out_s8, void *out);
    /* Optional: micro followed by the requantization of the tile straight from
     * the accumulators: C[i*ldc + j] = requant(acc[i][j] + row_add[i]) for i < mm,
     * j < nn; row_add may be NULL; scale_mode 0: scale[0], 1: scale[i], 2: scale[j]. */
    void (*micro_rq)(int64_t kp, const void *a, const void *b, int a_unsigned, const int32_t *row_add,
                     const float *scale, int scale_mode, int32_t zp, int out_s8, uint8_t *C, int64_t ldc, int mm,
                     int nn);
    /* One B panel (nn <= nr columns) from contiguous rows src + k * ld, k < K,
     * xor fx, values read as signed when psigned. NULL: generic packing. */
    void (*pack_b)(const uint8_t *src, int64_t ld, int64_t K, int nn, uint8_t fx, int psigned, void *dst);
    /* QLinearAdd: out[i] = sat(round(fma(a[i], ra, fma(b[i], rb, f)))) on u8 (s8 when s8);
     * a_bc / b_bc: that operand is one broadcast value. */
    void (*qadd)(const uint8_t *a, const uint8_t *b, int64_t n, int a_bc, int b_bc, float ra, float rb, float f,
                 int s8, uint8_t *out);
    /* Optional. Depthwise convolution over flattened rows (kh rows of kw <= 4
     * taps, stride 1 or 2, s8 weights w[ky * kw + kx]):
     *   out[j] = requant(bias + sum_{ky, kx} w[ky*kw + kx] * x(rows[ky][stride*j + kx])), j < n,
     * x read as u8 (s8 when x_s8), requant with scale, zp, u8 or s8 output.
     * Loads may reach IT_QDW_SLACK bytes past rows[ky] + stride*n + kw (they
     * must be readable; their values do not matter). */
    void (*dw_plane)(const uint8_t *const *rows, int kh, int kw, int64_t n, int stride, int x_s8, const int8_t *w,
                     int32_t bias, float scale, int32_t zp, int out_s8, uint8_t *out);
    /* Optional. QuantizeLinear f32 -> u8 (s8 when s8):
     * out[i] = sat(round_half_even(x[i] / scale) + zp), NaN to the low bound. */
    void (*quant)(const float *x, int64_t n, float scale, int32_t zp, int s8, uint8_t *out);
    /* 2-D byte copy: rows x cols bytes from src (pitch sp) to dst (pitch dp);
     * for the many short rows of depthwise planes. */
    void (*copy2d)(uint8_t *dst, int64_t dp, const uint8_t *src, int64_t sp, int64_t rows, int64_t cols);
} it_qgemm_tier;

#define IT_QDW_SLACK 256

/* Tier for an ISA (IT_ISA_*), NULL when not built or not supported by this CPU. */
const it_qgemm_tier *it_qgemm_tier_for(int isa);
/* Best tier allowed by it_cpu_features(). */
const it_qgemm_tier *it_qgemm_best(void);

/* Bytes of a packed operand with `n` rows (A, which 0) or columns (B, which 1)
 * and depth K; -1 on overflow. */
int64_t it_qpack_bytes(const it_qgemm_tier *t, int which, int64_t n, int64_t K);
/* Pack A rows [0, n) (which == 0) or B columns [0, n) (which == 1) of depth K.
 * Element (row-or-column i, depth k) is src[i * s_i + k * s_k] (bytes); flip
 * xors every element with 0x80 (u8 <-> s8, value shifted by 128). sums (may
 * be NULL) receives per row/column sums over K of the packed values, read as
 * signed when packed_signed is set. dst must hold it_qpack_bytes bytes.
 * Panels are packed in parallel on tp (may be NULL). */
void it_qpack(it_threadpool *tp, const it_qgemm_tier *t, int which, int64_t n, int64_t K, const uint8_t *src, int64_t s_i,
              int64_t s_k, int flip, int packed_signed, void *dst, int32_t *sums);

/* Epilogue of C = A @ B (m < M rows, n < N columns):
 *   acc = S[m][n] + row_add[m] + col_add[n] - row_z[m]*col_s[n] - col_z[n]*row_s[m]
 * (NULL arrays: term absent; a product term needs both arrays), then either
 * int32 C[m*ldc_m + n*ldc_n] = acc (out_type 0), or a requantized u8 (1) /
 * s8 (2) output with scale per row (scale_mode 1), per column (2) or one (0). */
typedef struct it_qepi {
    const int32_t *row_add, *col_add;
    const int32_t *row_z, *col_s;
    const int32_t *col_z, *row_s;
    int out_type;
    const float *scale;
    int scale_mode;
    int32_t zp;
    void *C;
    int64_t ldc_m, ldc_n;
} it_qepi;

/* C = epilogue(A @ B). Ap, Bp: packed with it_qpack (A rows M, B columns N, both
 * depth K, same tier). a_unsigned as for the micro-kernel. tp may be NULL. */
void it_qgemm(it_threadpool *tp, const it_qgemm_tier *t, int64_t M, int64_t N, int64_t K, const void *Ap,
              const void *Bp, int a_unsigned, const it_qepi *ep);

/* B operand left unpacked: element (k, n) is src[k * ld + n] (K rows of N
 * contiguous bytes), xor 0x80 when flip, values signed when psigned. */
typedef struct it_qbsrc {
    const uint8_t *src;
    int64_t ld;
    int flip, psigned;
} it_qbsrc;

/* it_qgemm with B packed panel by panel inside the workers (no separate
 * packing pass, no column sums: the epilogue must not need col_s). ws holds
 * it_qgemm_b_ws_bytes(t, K, threads of tp) bytes (-1 on overflow). */
int64_t it_qgemm_b_ws_bytes(const it_qgemm_tier *t, int64_t K, int nthreads);
void it_qgemm_b(it_threadpool *tp, const it_qgemm_tier *t, int64_t M, int64_t N, int64_t K, const void *Ap,
                const it_qbsrc *b, void *ws, int a_unsigned, const it_qepi *ep);

/* Scalar requantization, the reference for the tiers' requant. */
void it_qrequant_ref(const int32_t *acc, int64_t n, int32_t add, const float *scale, int scale_vec, int32_t zp,
                     int out_s8, void *out);
void it_qadd_ref(const uint8_t *a, const uint8_t *b, int64_t n, int a_bc, int b_bc, float ra, float rb, float f, int s8,
                 uint8_t *out);
void it_qdw_plane_ref(const uint8_t *const *rows, int kh, int kw, int64_t n, int stride, int x_s8, const int8_t *w,
                      int32_t bias, float scale, int32_t zp, int out_s8, uint8_t *out);
void it_qquant_ref(const float *x, int64_t n, float scale, int32_t zp, int s8, uint8_t *out);
void it_qcopy2d_ref(uint8_t *dst, int64_t dp, const uint8_t *src, int64_t sp, int64_t rows, int64_t cols);
void it_qdw_row_ref(const uint8_t *const *src, int64_t n, int stride, int x_s8, const int32_t *w, int ntaps,
                    int32_t bias, const float *scale, int32_t zp, int out_s8, void *out);

/* Tier entry points (x86 files). */
const it_qgemm_tier *it_qgemm_tier_avx2(void);
const it_qgemm_tier *it_qgemm_tier_avx512(void);

#endif
