/*
 * quant.h: ggml's tensor types and block quantization formats, as stored in
 * GGUF files: the type numbering, block sizes and bytes per block, the block
 * layouts, scalar dequantization to float equal to ggml's dequantize_row_*
 * bit for bit, and reference quantization from float equal to ggml's
 * quantize_row_*_ref (what `llama-quantize` does without an importance
 * matrix). Scalar reference code: the oracle for the fast kernels.
 *
 * A row of n elements of a block type is n / block_size consecutive blocks.
 */
#ifndef INGOT_QUANT_H
#define INGOT_QUANT_H

#include <stddef.h>
#include <stdint.h>

/* ggml_type numbering (ggml.h); gaps are removed types. */
enum {
    IT_GGML_F32 = 0, IT_GGML_F16 = 1, IT_GGML_Q4_0 = 2, IT_GGML_Q4_1 = 3,
    IT_GGML_Q5_0 = 6, IT_GGML_Q5_1 = 7, IT_GGML_Q8_0 = 8, IT_GGML_Q8_1 = 9,
    IT_GGML_Q2_K = 10, IT_GGML_Q3_K = 11, IT_GGML_Q4_K = 12, IT_GGML_Q5_K = 13,
    IT_GGML_Q6_K = 14, IT_GGML_Q8_K = 15, IT_GGML_IQ2_XXS = 16, IT_GGML_IQ2_XS = 17,
    IT_GGML_IQ3_XXS = 18, IT_GGML_IQ1_S = 19, IT_GGML_IQ4_NL = 20, IT_GGML_IQ3_S = 21,
    IT_GGML_IQ2_S = 22, IT_GGML_IQ4_XS = 23, IT_GGML_I8 = 24, IT_GGML_I16 = 25,
    IT_GGML_I32 = 26, IT_GGML_I64 = 27, IT_GGML_F64 = 28, IT_GGML_IQ1_M = 29,
    IT_GGML_BF16 = 30, IT_GGML_TQ1_0 = 34, IT_GGML_TQ2_0 = 35, IT_GGML_MXFP4 = 39,
    IT_GGML_NVFP4 = 40, IT_GGML_Q1_0 = 41,
    IT_GGML_TYPE_COUNT = 42
};

#define IT_QK 32   /* elements per block of the _0/_1 types */
#define IT_QK_K 256 /* elements per super-block of the K types */

/* Block layouts (all fields little-endian; d/m/dmin are IEEE half floats). */
typedef struct { uint16_t d; uint8_t qs[16]; } it_block_q4_0;                 /* 18 */
typedef struct { uint16_t d, m; uint8_t qs[16]; } it_block_q4_1;              /* 20 */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } it_block_q5_0;  /* 22 */
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } it_block_q5_1; /* 24 */
typedef struct { uint16_t d; int8_t qs[32]; } it_block_q8_0;                  /* 34 */
typedef struct { uint16_t d, s; int8_t qs[32]; } it_block_q8_1;               /* 36 */
typedef struct { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; } it_block_q2_K; /* 84 */
typedef struct { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; } it_block_q3_K; /* 110 */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } it_block_q4_K; /* 144 */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } it_block_q5_K; /* 176 */
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } it_block_q6_K; /* 210 */
typedef struct { float d; int8_t qs[256]; int16_t bsums[16]; } it_block_q8_K;  /* 292 */

/* "F32", "Q4_K", ...; NULL for an unknown type number. */
const char *it_ggml_type_name(uint32_t type);
/* Type number from a name (case-insensitive), -1 when unknown. */
int it_ggml_type_from_name(const char *name);
/* Elements per block (1 for plain types); 0 for an unknown type. */
int64_t it_ggml_block_size(uint32_t type);
/* Bytes per block; 0 for an unknown type. */
size_t it_ggml_type_size(uint32_t type);
/* Bytes of a row of n elements; -1 when n is not a multiple of the block
 * size, the type is unknown or the size overflows. */
int64_t it_ggml_row_bytes(uint32_t type, int64_t n);
int it_ggml_can_dequant(uint32_t type);
int it_ggml_can_quant(uint32_t type);

/* Dequantize n elements (a multiple of the block size) of type to float.
 * Returns 0, or INGOT_ERR_UNSUPPORTED / INGOT_ERR_INVALID_ARG. */
int it_dequant_row(uint32_t type, const void *src, float *dst, int64_t n);
/* Reference quantization of n floats into type. Same returns. */
int it_quant_row(uint32_t type, const float *src, void *dst, int64_t n);

#endif
