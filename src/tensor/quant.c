/*
 * quant.c: the ggml type table and scalar reference (de)quantization of the
 * GGUF block formats F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K,
 * Q3_K, Q4_K, Q5_K, Q6_K and Q8_K.
 *
 * Dequantization follows ggml's dequantize_row_* operation for operation, so
 * results are equal bit for bit; quantization follows quantize_row_*_ref
 * (round-to-nearest with ggml's scale searches), which is what llama.cpp's
 * quantizer runs when no importance matrix is given. Floating-point
 * contraction is turned off so that no compiler fuses a*b+c into an FMA and
 * changes a rounding. Blocks are read byte-wise, so buffers need no alignment.
 * Inputs with NaN or huge values give meaningless blocks, never UB or a crash.
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "tensor/quant.h"

#include <float.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "tensor/tensor.h"

_Static_assert(sizeof(it_block_q4_0) == 18, "q4_0");
_Static_assert(sizeof(it_block_q4_1) == 20, "q4_1");
_Static_assert(sizeof(it_block_q5_0) == 22, "q5_0");
_Static_assert(sizeof(it_block_q5_1) == 24, "q5_1");
_Static_assert(sizeof(it_block_q8_0) == 34, "q8_0");
_Static_assert(sizeof(it_block_q8_1) == 36, "q8_1");
_Static_assert(sizeof(it_block_q2_K) == 84, "q2_K");
_Static_assert(sizeof(it_block_q3_K) == 110, "q3_K");
_Static_assert(sizeof(it_block_q4_K) == 144, "q4_K");
_Static_assert(sizeof(it_block_q5_K) == 176, "q5_K");
_Static_assert(sizeof(it_block_q6_K) == 210, "q6_K");
_Static_assert(sizeof(it_block_q8_K) == 292, "q8_K");

typedef struct type_info {
    const char *name;
    int32_t block;
    int32_t size;
    uint8_t deq, q;
} type_info;

static const type_info TYPES[IT_GGML_TYPE_COUNT] = {
    [IT_GGML_F32] = {"F32", 1, 4, 1, 1},         [IT_GGML_F16] = {"F16", 1, 2, 1, 1},
    [IT_GGML_Q4_0] = {"Q4_0", 32, 18, 1, 1},     [IT_GGML_Q4_1] = {"Q4_1", 32, 20, 1, 1},
    [IT_GGML_Q5_0] = {"Q5_0", 32, 22, 1, 1},     [IT_GGML_Q5_1] = {"Q5_1", 32, 24, 1, 1},
    [IT_GGML_Q8_0] = {"Q8_0", 32, 34, 1, 1},     [IT_GGML_Q8_1] = {"Q8_1", 32, 36, 1, 1},
    [IT_GGML_Q2_K] = {"Q2_K", 256, 84, 1, 1},    [IT_GGML_Q3_K] = {"Q3_K", 256, 110, 1, 1},
    [IT_GGML_Q4_K] = {"Q4_K", 256, 144, 1, 1},   [IT_GGML_Q5_K] = {"Q5_K", 256, 176, 1, 1},
    [IT_GGML_Q6_K] = {"Q6_K", 256, 210, 1, 1},   [IT_GGML_Q8_K] = {"Q8_K", 256, 292, 1, 1},
    [IT_GGML_IQ2_XXS] = {"IQ2_XXS", 256, 66, 0, 0}, [IT_GGML_IQ2_XS] = {"IQ2_XS", 256, 74, 0, 0},
    [IT_GGML_IQ3_XXS] = {"IQ3_XXS", 256, 98, 0, 0}, [IT_GGML_IQ1_S] = {"IQ1_S", 256, 50, 0, 0},
    [IT_GGML_IQ4_NL] = {"IQ4_NL", 32, 18, 0, 0},  [IT_GGML_IQ3_S] = {"IQ3_S", 256, 110, 0, 0},
    [IT_GGML_IQ2_S] = {"IQ2_S", 256, 82, 0, 0},   [IT_GGML_IQ4_XS] = {"IQ4_XS", 256, 136, 0, 0},
    [IT_GGML_I8] = {"I8", 1, 1, 0, 0},           [IT_GGML_I16] = {"I16", 1, 2, 0, 0},
    [IT_GGML_I32] = {"I32", 1, 4, 0, 0},         [IT_GGML_I64] = {"I64", 1, 8, 0, 0},
    [IT_GGML_F64] = {"F64", 1, 8, 0, 0},         [IT_GGML_IQ1_M] = {"IQ1_M", 256, 56, 0, 0},
    [IT_GGML_BF16] = {"BF16", 1, 2, 1, 1},       [IT_GGML_TQ1_0] = {"TQ1_0", 256, 54, 0, 0},
    [IT_GGML_TQ2_0] = {"TQ2_0", 256, 66, 0, 0},  [IT_GGML_MXFP4] = {"MXFP4", 32, 17, 0, 0},
    [IT_GGML_NVFP4] = {"NVFP4", 64, 36, 0, 0},   [IT_GGML_Q1_0] = {"Q1_0", 128, 18, 0, 0},
};

static const type_info *info(uint32_t t) {
    if (t >= IT_GGML_TYPE_COUNT || !TYPES[t].name) return NULL;
    return &TYPES[t];
}

const char *it_ggml_type_name(uint32_t type) {
    const type_info *ti = info(type);
    return ti ? ti->name : NULL;
}

int it_ggml_type_from_name(const char *name) {
    if (!name) return -1;
    for (int t = 0; t < IT_GGML_TYPE_COUNT; t++)
        if (TYPES[t].name && !strcasecmp(TYPES[t].name, name)) return t;
    return -1;
}

int64_t it_ggml_block_size(uint32_t type) {
    const type_info *ti = info(type);
    return ti ? ti->block : 0;
}

size_t it_ggml_type_size(uint32_t type) {
    const type_info *ti = info(type);
    return ti ? (size_t)ti->size : 0;
}

int64_t it_ggml_row_bytes(uint32_t type, int64_t n) {
    const type_info *ti = info(type);
    int64_t r;
    if (!ti || n < 0 || n % ti->block) return -1;
    if (!it_mul_ok(n / ti->block, ti->size, &r)) return -1;
    return r;
}

int it_ggml_can_dequant(uint32_t type) {
    const type_info *ti = info(type);
    return ti && ti->deq;
}

int it_ggml_can_quant(uint32_t type) {
    const type_info *ti = info(type);
    return ti && ti->q;
}

/* ---- little helpers ---- */
#define MAXI(a, b) ((a) > (b) ? (a) : (b))
#define MINI(a, b) ((a) < (b) ? (a) : (b))
#define GROUP_MAX_EPS 1e-15f

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void wr32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline float h2f(const uint8_t *p) { return it_f16_to_f32(rd16(p)); }
static inline float fromf16(uint16_t h) { return it_f16_to_f32(h); }

/* C's float -> int truncation, defined for every input (NaN gives 0, huge
 * values saturate); equal to the cast wherever the cast is defined. */
static inline int trunc_i(float v) {
    if (!(v == v)) return 0;
    if (v > 1073741824.f) return 1073741824;
    if (v < -1073741824.f) return -1073741824;
    return (int)v;
}
/* trunc_i(roundf(v)) (half away from zero) without the libm call: the fraction v - (int)v
 * is exact */
static inline int round_i(float v) {
    if (!(v == v)) return 0;
    if (v > 1073741824.f) return 1073741824;
    if (v < -1073741824.f) return -1073741824;
    int q = (int)v;
    float f = v - (float)q;
    return q + (f >= 0.5f) - (f <= -0.5f);
}

/* ggml's nearest_int: round half to even via the 1.5*2^23 trick. */
static inline int nearest_int(float fval) {
    float val = fval + 12582912.f;
    int32_t i;
    memcpy(&i, &val, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* ================= dequantization ================= */

static void deq_q4_0(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 18, y += 32) {
        const float d = h2f(b);
        const uint8_t *qs = b + 2;
        for (int j = 0; j < 16; j++) {
            const int x0 = (qs[j] & 0x0F) - 8, x1 = (qs[j] >> 4) - 8;
            y[j] = x0 * d;
            y[j + 16] = x1 * d;
        }
    }
}

static void deq_q4_1(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 20, y += 32) {
        const float d = h2f(b), m = h2f(b + 2);
        const uint8_t *qs = b + 4;
        for (int j = 0; j < 16; j++) {
            const int x0 = qs[j] & 0x0F, x1 = qs[j] >> 4;
            y[j] = x0 * d + m;
            y[j + 16] = x1 * d + m;
        }
    }
}

static void deq_q5_0(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 22, y += 32) {
        const float d = h2f(b);
        const uint32_t qh = rd32(b + 2);
        const uint8_t *qs = b + 6;
        for (int j = 0; j < 16; j++) {
            const uint8_t xh0 = (uint8_t)(((qh >> (j + 0)) << 4) & 0x10);
            const uint8_t xh1 = (uint8_t)((qh >> (j + 12)) & 0x10);
            const int32_t x0 = ((qs[j] & 0x0F) | xh0) - 16;
            const int32_t x1 = ((qs[j] >> 4) | xh1) - 16;
            y[j] = x0 * d;
            y[j + 16] = x1 * d;
        }
    }
}

static void deq_q5_1(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 24, y += 32) {
        const float d = h2f(b), m = h2f(b + 2);
        const uint32_t qh = rd32(b + 4);
        const uint8_t *qs = b + 8;
        for (int j = 0; j < 16; j++) {
            const uint8_t xh0 = (uint8_t)(((qh >> (j + 0)) << 4) & 0x10);
            const uint8_t xh1 = (uint8_t)((qh >> (j + 12)) & 0x10);
            const int x0 = (qs[j] & 0x0F) | xh0;
            const int x1 = (qs[j] >> 4) | xh1;
            y[j] = x0 * d + m;
            y[j + 16] = x1 * d + m;
        }
    }
}

static void deq_q8_0(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 34, y += 32) {
        const float d = h2f(b);
        for (int j = 0; j < 32; j++) y[j] = (int8_t)b[2 + j] * d;
    }
}

static void deq_q8_1(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 36, y += 32) {
        const float d = h2f(b);
        for (int j = 0; j < 32; j++) y[j] = (int8_t)b[4 + j] * d;
    }
}

static void deq_q2_K(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 84) {
        const uint8_t *sc = b, *q = b + 16;
        const float d = h2f(b + 80), min = h2f(b + 82);
        int is = 0;
        for (int n = 0; n < IT_QK_K; n += 128) {
            int shift = 0;
            for (int j = 0; j < 4; ++j) {
                uint8_t s = sc[is++];
                float dl = d * (s & 0xF), ml = min * (s >> 4);
                for (int l = 0; l < 16; ++l) *y++ = dl * ((int8_t)((q[l] >> shift) & 3)) - ml;
                s = sc[is++];
                dl = d * (s & 0xF);
                ml = min * (s >> 4);
                for (int l = 0; l < 16; ++l) *y++ = dl * ((int8_t)((q[l + 16] >> shift) & 3)) - ml;
                shift += 2;
            }
            q += 32;
        }
    }
}

/* The 16 6-bit scales of a Q3_K block, unpacked as ggml does (minus 32 applied by the caller). */
static void q3k_scales(const uint8_t *packed, int8_t out[16]) {
    const uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
    uint32_t aux[4];
    aux[0] = rd32(packed);
    aux[1] = rd32(packed + 4);
    aux[2] = rd32(packed + 8);
    uint32_t tmp = aux[2];
    aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
    aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
    aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
    aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 4; j++) out[4 * k + j] = (int8_t)(uint8_t)(aux[k] >> (8 * j));
}

static void deq_q3_K(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 110) {
        const float d_all = h2f(b + 108);
        const uint8_t *hm = b, *q = b + 32;
        int8_t scales[16];
        q3k_scales(b + 96, scales);
        uint8_t m = 1;
        int is = 0;
        for (int n = 0; n < IT_QK_K; n += 128) {
            int shift = 0;
            for (int j = 0; j < 4; ++j) {
                float dl = d_all * (scales[is++] - 32);
                for (int l = 0; l < 16; ++l)
                    *y++ = dl * ((int8_t)((q[l + 0] >> shift) & 3) - ((hm[l + 0] & m) ? 0 : 4));
                dl = d_all * (scales[is++] - 32);
                for (int l = 0; l < 16; ++l)
                    *y++ = dl * ((int8_t)((q[l + 16] >> shift) & 3) - ((hm[l + 16] & m) ? 0 : 4));
                shift += 2;
                m = (uint8_t)(m << 1);
            }
            q += 32;
        }
    }
}

static inline void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

static void deq_q4_K(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 144) {
        const float d = h2f(b), min = h2f(b + 2);
        const uint8_t *scales = b + 4, *q = b + 16;
        int is = 0;
        uint8_t sc, m;
        for (int j = 0; j < IT_QK_K; j += 64) {
            scale_min_k4(is + 0, scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            scale_min_k4(is + 1, scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
            q += 32;
            is += 2;
        }
    }
}

static void deq_q5_K(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 176) {
        const float d = h2f(b), min = h2f(b + 2);
        const uint8_t *scales = b + 4, *qh = b + 16, *ql = b + 48;
        int is = 0;
        uint8_t sc, m, u1 = 1, u2 = 2;
        for (int j = 0; j < IT_QK_K; j += 64) {
            scale_min_k4(is + 0, scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            scale_min_k4(is + 1, scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
            ql += 32;
            is += 2;
            u1 = (uint8_t)(u1 << 2);
            u2 = (uint8_t)(u2 << 2);
        }
    }
}

static void deq_q6_K(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 210) {
        const float d = h2f(b + 208);
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        for (int n = 0; n < IT_QK_K; n += 128) {
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int8_t q1 = (int8_t)((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int8_t q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int8_t q3 = (int8_t)((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int8_t q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l + 0] = d * sc[is + 0] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }
}

static void deq_q8_K(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 292, y += 256) {
        uint32_t bits = rd32(b);
        float d;
        memcpy(&d, &bits, 4);
        for (int j = 0; j < 256; j++) y[j] = d * (int8_t)b[4 + j];
    }
}

int it_dequant_row(uint32_t type, const void *src, float *dst, int64_t n) {
    const type_info *ti = info(type);
    if (!ti || !ti->deq) return INGOT_ERR_UNSUPPORTED;
    if (n < 0 || n % ti->block) return INGOT_ERR_INVALID_ARG;
    const uint8_t *b = (const uint8_t *)src;
    const int64_t nb = n / ti->block;
    switch (type) {
    case IT_GGML_F32: memcpy(dst, src, (size_t)n * 4); break;
    case IT_GGML_F16: for (int64_t i = 0; i < n; i++) dst[i] = fromf16(rd16(b + 2 * i)); break;
    case IT_GGML_BF16: for (int64_t i = 0; i < n; i++) dst[i] = it_bf16_to_f32(rd16(b + 2 * i)); break;
    case IT_GGML_Q4_0: deq_q4_0(b, dst, nb); break;
    case IT_GGML_Q4_1: deq_q4_1(b, dst, nb); break;
    case IT_GGML_Q5_0: deq_q5_0(b, dst, nb); break;
    case IT_GGML_Q5_1: deq_q5_1(b, dst, nb); break;
    case IT_GGML_Q8_0: deq_q8_0(b, dst, nb); break;
    case IT_GGML_Q8_1: deq_q8_1(b, dst, nb); break;
    case IT_GGML_Q2_K: deq_q2_K(b, dst, nb); break;
    case IT_GGML_Q3_K: deq_q3_K(b, dst, nb); break;
    case IT_GGML_Q4_K: deq_q4_K(b, dst, nb); break;
    case IT_GGML_Q5_K: deq_q5_K(b, dst, nb); break;
    case IT_GGML_Q6_K: deq_q6_K(b, dst, nb); break;
    case IT_GGML_Q8_K: deq_q8_K(b, dst, nb); break;
    default: return INGOT_ERR_UNSUPPORTED;
    }
    return 0;
}

/* ================= reference quantization ================= */

static void q_q4_0(const float *x, uint8_t *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32, b += 18) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < 32; j++) {
            const float v = x[j];
            if (amax < fabsf(v)) { amax = fabsf(v); max = v; }
        }
        const float d = max / -8;
        const float id = d ? 1.0f / d : 0.0f;
        wr16(b, it_f32_to_f16(d));
        for (int j = 0; j < 16; ++j) {
            const float x0 = x[j] * id, x1 = x[16 + j] * id;
            const uint8_t xi0 = (uint8_t)MINI(15, (int8_t)trunc_i(x0 + 8.5f));
            const uint8_t xi1 = (uint8_t)MINI(15, (int8_t)trunc_i(x1 + 8.5f));
            b[2 + j] = (uint8_t)(xi0 | (xi1 << 4));
        }
    }
}

static void q_q4_1(const float *x, uint8_t *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32, b += 20) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < 32; j++) {
            const float v = x[j];
            if (v < min) min = v;
            if (v > max) max = v;
        }
        const float d = (max - min) / ((1 << 4) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        wr16(b, it_f32_to_f16(d));
        wr16(b + 2, it_f32_to_f16(min));
        for (int j = 0; j < 16; ++j) {
            const float x0 = (x[j] - min) * id, x1 = (x[16 + j] - min) * id;
            const uint8_t xi0 = (uint8_t)MINI(15, (int8_t)trunc_i(x0 + 0.5f));
            const uint8_t xi1 = (uint8_t)MINI(15, (int8_t)trunc_i(x1 + 0.5f));
            b[4 + j] = (uint8_t)(xi0 | (xi1 << 4));
        }
    }
}

static void q_q5_0(const float *x, uint8_t *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32, b += 22) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < 32; j++) {
            const float v = x[j];
            if (amax < fabsf(v)) { amax = fabsf(v); max = v; }
        }
        const float d = max / -16;
        const float id = d ? 1.0f / d : 0.0f;
        wr16(b, it_f32_to_f16(d));
        uint32_t qh = 0;
        for (int j = 0; j < 16; ++j) {
            const float x0 = x[j] * id, x1 = x[16 + j] * id;
            const uint8_t xi0 = (uint8_t)MINI(31, (int8_t)trunc_i(x0 + 16.5f));
            const uint8_t xi1 = (uint8_t)MINI(31, (int8_t)trunc_i(x1 + 16.5f));
            b[6 + j] = (uint8_t)((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
            qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
            qh |= ((xi1 & 0x10u) >> 4) << (j + 16);
        }
        wr32(b + 2, qh);
    }
}

static void q_q5_1(const float *x, uint8_t *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32, b += 24) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < 32; j++) {
            const float v = x[j];
            if (v < min) min = v;
            if (v > max) max = v;
        }
        const float d = (max - min) / ((1 << 5) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        wr16(b, it_f32_to_f16(d));
        wr16(b + 2, it_f32_to_f16(min));
        uint32_t qh = 0;
        for (int j = 0; j < 16; ++j) {
            const float x0 = (x[j] - min) * id, x1 = (x[16 + j] - min) * id;
            const uint8_t xi0 = (uint8_t)trunc_i(x0 + 0.5f);
            const uint8_t xi1 = (uint8_t)trunc_i(x1 + 0.5f);
            b[8 + j] = (uint8_t)((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
            qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
            qh |= ((xi1 & 0x10u) >> 4) << (j + 16);
        }
        wr32(b + 4, qh);
    }
}

static void q_q8_0(const float *x, uint8_t *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32, b += 34) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        wr16(b, it_f32_to_f16(d));
        for (int j = 0; j < 32; ++j) b[2 + j] = (uint8_t)(int8_t)round_i(x[j] * id);
    }
}

static void q_q8_1(const float *x, uint8_t *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32, b += 36) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        wr16(b, it_f32_to_f16(d));
        int sum = 0;
        for (int j = 0; j < 16; ++j) {
            const int8_t q0 = (int8_t)round_i(x[j] * id);
            const int8_t q1 = (int8_t)round_i(x[16 + j] * id);
            b[4 + j] = (uint8_t)q0;
            b[4 + 16 + j] = (uint8_t)q1;
            sum += q0 + q1;
        }
        wr16(b + 2, it_f32_to_f16(sum * d));
    }
}

/* ggml's make_qx_quants with rmse_type 1 and no importance weights (w = x*x). */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * x[i]);
        l = MAXI(-nmax, MINI(nmax - 1, l));
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * x[i]);
            l = MAXI(-nmax, MINI(nmax - 1, l));
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                int l = nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + MAXI(-nmax, MINI(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* ggml's make_q3_quants with do_rmse. */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * x[i]);
        l = MAXI(-nmax, MINI(nmax - 1, l));
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; ++itry) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                int new_l = nearest_int(x[i] * sl2 / slx);
                new_l = MAXI(-nmax, MINI(nmax - 1, new_l));
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        ++n_changed;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; ++i) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* ggml's make_qkx2_quants. */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
                              uint8_t *Laux, float rmin, float rdelta, int nstep, int use_mad) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)MAXI(0, MINI(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        float w = weights[i];
        best_error += w * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * (x[i] - min));
            l = MAXI(0, MINI(nmax, l));
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                float w = weights[i];
                cur_error += w * diff;
            }
            if (cur_error < best_error) {
                for (int i = 0; i < n; ++i) L[i] = Laux[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

static void q_q2_K(const float *x, uint8_t *b, int64_t nb) {
    uint8_t L[IT_QK_K], Laux[16];
    float weights[16], mins[16], scales[16];
    const float q4scale = 15.f;
    for (int64_t i = 0; i < nb; i++, x += IT_QK_K, b += 84) {
        uint8_t *ysc = b, *qs = b + 16;
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 16; ++j) {
            for (int l = 0; l < 16; ++l) weights[l] = fabsf(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, 1);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        uint16_t hd, hdmin;
        if (max_scale > 0) {
            float iscale = q4scale / max_scale;
            for (int j = 0; j < 16; ++j) ysc[j] = (uint8_t)nearest_int(iscale * scales[j]);
            hd = it_f32_to_f16(max_scale / q4scale);
        } else {
            for (int j = 0; j < 16; ++j) ysc[j] = 0;
            hd = it_f32_to_f16(0.f);
        }
        if (max_min > 0) {
            float iscale = q4scale / max_min;
            for (int j = 0; j < 16; ++j) {
                int l = nearest_int(iscale * mins[j]);
                ysc[j] = (uint8_t)(ysc[j] | (l << 4));
            }
            hdmin = it_f32_to_f16(max_min / q4scale);
        } else {
            hdmin = it_f32_to_f16(0.f);
        }
        wr16(b + 80, hd);
        wr16(b + 82, hdmin);
        for (int j = 0; j < 16; ++j) {
            const float d = fromf16(hd) * (ysc[j] & 0xF);
            if (!d) continue;
            const float dm = fromf16(hdmin) * (ysc[j] >> 4);
            for (int ii = 0; ii < 16; ++ii) {
                int l = nearest_int((x[16 * j + ii] + dm) / d);
                L[16 * j + ii] = (uint8_t)MAXI(0, MINI(3, l));
            }
        }
        for (int j = 0; j < IT_QK_K; j += 128)
            for (int l = 0; l < 32; ++l)
                qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    }
}

static void q_q3_K(const float *x, uint8_t *b, int64_t nb) {
    int8_t L[IT_QK_K];
    float scales[16];
    for (int64_t i = 0; i < nb; i++, x += IT_QK_K, b += 110) {
        uint8_t *hmask = b, *qs = b + 32, *ysc = b + 96;
        float max_scale = 0, amax = 0;
        for (int j = 0; j < 16; ++j) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            float scale = fabsf(scales[j]);
            if (scale > amax) { amax = scale; max_scale = scales[j]; }
        }
        memset(ysc, 0, 12);
        uint16_t hd;
        if (max_scale) {
            float iscale = -32.f / max_scale;
            for (int j = 0; j < 16; ++j) {
                int8_t l = (int8_t)nearest_int(iscale * scales[j]);
                l = (int8_t)(MAXI(-32, MINI(31, l)) + 32);
                if (j < 8) ysc[j] = (uint8_t)(l & 0xF);
                else ysc[j - 8] = (uint8_t)(ysc[j - 8] | ((l & 0xF) << 4));
                l = (int8_t)(l >> 4);
                ysc[j % 4 + 8] = (uint8_t)(ysc[j % 4 + 8] | (l << (2 * (j / 4))));
            }
            hd = it_f32_to_f16(1 / iscale);
        } else {
            hd = it_f32_to_f16(0.f);
        }
        wr16(b + 108, hd);
        for (int j = 0; j < 16; ++j) {
            int8_t sc = (int8_t)(j < 8 ? ysc[j] & 0xF : ysc[j - 8] >> 4);
            sc = (int8_t)((sc | (((ysc[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
            float d = fromf16(hd) * sc;
            if (!d) continue;
            for (int ii = 0; ii < 16; ++ii) {
                int l = nearest_int(x[16 * j + ii] / d);
                l = MAXI(-4, MINI(3, l));
                L[16 * j + ii] = (int8_t)(l + 4);
            }
        }
        memset(hmask, 0, 32);
        int m = 0;
        uint8_t hm = 1;
        for (int j = 0; j < IT_QK_K; ++j) {
            if (L[j] > 3) {
                hmask[m] |= hm;
                L[j] = (int8_t)(L[j] - 4);
            }
            if (++m == 32) { m = 0; hm = (uint8_t)(hm << 1); }
        }
        for (int j = 0; j < IT_QK_K; j += 128)
            for (int l = 0; l < 32; ++l)
                qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    }
}

/* Q4_K and Q5_K share the scale search; nmax is 15 or 31. */
static void q_q45_K(const float *x, uint8_t *b, int64_t nb, int nmax) {
    const int q5 = nmax == 31;
    const size_t bsz = q5 ? 176 : 144;
    uint8_t L[IT_QK_K], Laux[32];
    float weights[32], mins[8], scales[8];
    for (int64_t i = 0; i < nb; i++, x += IT_QK_K, b += bsz) {
        uint8_t *ysc = b + 4;
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 8; ++j) {
            float sum_x2 = 0;
            for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
            float av_x = sqrtf(sum_x2 / 32);
            for (int l = 0; l < 32; ++l) weights[l] = av_x + fabsf(x[32 * j + l]);
            scales[j] = q5 ? make_qkx2_quants(32, 31, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -0.5f, 0.1f, 15, 0)
                           : make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -1.f, 0.1f, 20, 0);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
        float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
        for (int j = 0; j < 8; ++j) {
            uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
            uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
            ls = (uint8_t)MINI(63, ls);
            lm = (uint8_t)MINI(63, lm);
            if (j < 4) {
                ysc[j] = ls;
                ysc[j + 4] = lm;
            } else {
                ysc[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
                ysc[j - 4] = (uint8_t)(ysc[j - 4] | ((ls >> 4) << 6));
                ysc[j - 0] = (uint8_t)(ysc[j - 0] | ((lm >> 4) << 6));
            }
        }
        const uint16_t hd = it_f32_to_f16(max_scale / 63.f), hdmin = it_f32_to_f16(max_min / 63.f);
        wr16(b, hd);
        wr16(b + 2, hdmin);
        uint8_t sc, m;
        for (int j = 0; j < 8; ++j) {
            scale_min_k4(j, ysc, &sc, &m);
            const float d = fromf16(hd) * sc;
            if (!d) continue;
            const float dm = fromf16(hdmin) * m;
            for (int ii = 0; ii < 32; ++ii) {
                int l = nearest_int((x[32 * j + ii] + dm) / d);
                L[32 * j + ii] = (uint8_t)MAXI(0, MINI(nmax, l));
            }
        }
        if (!q5) {
            uint8_t *q = b + 16;
            for (int j = 0; j < IT_QK_K; j += 64) {
                for (int l = 0; l < 32; ++l) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
                q += 32;
            }
        } else {
            uint8_t *qh = b + 16, *ql = b + 48;
            memset(qh, 0, 32);
            uint8_t m1 = 1, m2 = 2;
            for (int n = 0; n < IT_QK_K; n += 64) {
                for (int j = 0; j < 32; ++j) {
                    int l1 = L[n + j];
                    if (l1 > 15) { l1 -= 16; qh[j] |= m1; }
                    int l2 = L[n + j + 32];
                    if (l2 > 15) { l2 -= 16; qh[j] |= m2; }
                    ql[j] = (uint8_t)(l1 | (l2 << 4));
                }
                m1 = (uint8_t)(m1 << 2);
                m2 = (uint8_t)(m2 << 2);
                ql += 32;
            }
        }
    }
}

static void q_q6_K(const float *x, uint8_t *b, int64_t nb) {
    int8_t L[IT_QK_K];
    float scales[16];
    for (int64_t i = 0; i < nb; i++, x += IT_QK_K, b += 210) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < 16; ++ib) {
            const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            scales[ib] = scale;
            const float abs_scale = fabsf(scale);
            if (abs_scale > max_abs_scale) { max_abs_scale = abs_scale; max_scale = scale; }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(b, 0, 210);
            wr16(b + 208, it_f32_to_f16(0.f));
            continue;
        }
        int8_t *ysc = (int8_t *)(b + 192);
        float iscale = -128.f / max_scale;
        const uint16_t hd = it_f32_to_f16(1 / iscale);
        wr16(b + 208, hd);
        for (int ib = 0; ib < 16; ++ib) ysc[ib] = (int8_t)MINI(127, nearest_int(iscale * scales[ib]));
        for (int j = 0; j < 16; ++j) {
            float d = fromf16(hd) * ysc[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ++ii) {
                int l = nearest_int(x[16 * j + ii] / d);
                l = MAXI(-32, MINI(31, l));
                L[16 * j + ii] = (int8_t)(l + 32);
            }
        }
        uint8_t *ql = b, *qh = b + 128;
        for (int j = 0; j < IT_QK_K; j += 128) {
            for (int l = 0; l < 32; ++l) {
                const uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF;
                const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l + 0] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                  ((L[j + l + 96] >> 4) << 6));
            }
            ql += 64;
            qh += 32;
        }
    }
}

static void q_q8_K(const float *x, uint8_t *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += IT_QK_K, b += 292) {
        float max = 0, amax = 0;
        for (int j = 0; j < IT_QK_K; ++j) {
            float ax = fabsf(x[j]);
            if (ax > amax) { amax = ax; max = x[j]; }
        }
        int8_t *qs = (int8_t *)(b + 4);
        if (!amax) {
            memset(b, 0, 292); /* d = 0, quants 0 (ggml leaves bsums unset; zero here) */
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < IT_QK_K; ++j) {
            int v = nearest_int(iscale * x[j]);
            qs[j] = (int8_t)MINI(127, v);
        }
        for (int j = 0; j < 16; ++j) {
            int sum = 0;
            for (int ii = 0; ii < 16; ++ii) sum += qs[j * 16 + ii];
            wr16(b + 260 + 2 * j, (uint16_t)(int16_t)sum);
        }
        const float d = 1 / iscale;
        uint32_t bits;
        memcpy(&bits, &d, 4);
        wr32(b, bits);
    }
}

int it_quant_row(uint32_t type, const float *src, void *dst, int64_t n) {
    const type_info *ti = info(type);
    if (!ti || !ti->q) return INGOT_ERR_UNSUPPORTED;
    if (n < 0 || n % ti->block) return INGOT_ERR_INVALID_ARG;
    uint8_t *b = (uint8_t *)dst;
    const int64_t nb = n / ti->block;
    switch (type) {
    case IT_GGML_F32: memcpy(dst, src, (size_t)n * 4); break;
    case IT_GGML_F16: for (int64_t i = 0; i < n; i++) wr16(b + 2 * i, it_f32_to_f16(src[i])); break;
    case IT_GGML_BF16: for (int64_t i = 0; i < n; i++) wr16(b + 2 * i, it_f32_to_bf16(src[i])); break;
    case IT_GGML_Q4_0: q_q4_0(src, b, nb); break;
    case IT_GGML_Q4_1: q_q4_1(src, b, nb); break;
    case IT_GGML_Q5_0: q_q5_0(src, b, nb); break;
    case IT_GGML_Q5_1: q_q5_1(src, b, nb); break;
    case IT_GGML_Q8_0: q_q8_0(src, b, nb); break;
    case IT_GGML_Q8_1: q_q8_1(src, b, nb); break;
    case IT_GGML_Q2_K: q_q2_K(src, b, nb); break;
    case IT_GGML_Q3_K: q_q3_K(src, b, nb); break;
    case IT_GGML_Q4_K: q_q45_K(src, b, nb, 15); break;
    case IT_GGML_Q5_K: q_q45_K(src, b, nb, 31); break;
    case IT_GGML_Q6_K: q_q6_K(src, b, nb); break;
    case IT_GGML_Q8_K: q_q8_K(src, b, nb); break;
    default: return INGOT_ERR_UNSUPPORTED;
    }
    return 0;
}
