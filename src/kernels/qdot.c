/*
 * qdot.c: scalar reference row dot products of qdot.h (Q8_0 and Q4_0 weights against
 * Q8_0 activations, f16 against f32) and the tier table chosen once at start.
 * Block sums are exact int32; each block contributes sumi * (d_w * d_x) in block order,
 * as ggml's ggml_vec_dot_q8_0_q8_0 / q4_0_q8_0 reference loops do.
 */
#include <pthread.h>
#include <stddef.h>

#include "kernels/qdot.h"
#include "tensor/quant.h"
#include "tensor/tensor.h"

float it_qdot_q8_0_ref(const void *w, const void *xq8, int64_t n) {
    const it_block_q8_0 *a = w, *b = xq8;
    float s = 0;
    for (int64_t i = 0; i < n / IT_QK; i++) {
        int32_t si = 0;
        for (int j = 0; j < IT_QK; j++) si += (int32_t)a[i].qs[j] * b[i].qs[j];
        s += (float)si * (it_f16_to_f32(a[i].d) * it_f16_to_f32(b[i].d));
    }
    return s;
}

float it_qdot_q4_0_ref(const void *w, const void *xq8, int64_t n) {
    const it_block_q4_0 *a = w;
    const it_block_q8_0 *b = xq8;
    float s = 0;
    for (int64_t i = 0; i < n / IT_QK; i++) {
        int32_t si = 0;
        for (int j = 0; j < IT_QK / 2; j++) {
            si += ((int32_t)(a[i].qs[j] & 15) - 8) * b[i].qs[j];
            si += ((int32_t)(a[i].qs[j] >> 4) - 8) * b[i].qs[j + 16];
        }
        s += (float)si * (it_f16_to_f32(a[i].d) * it_f16_to_f32(b[i].d));
    }
    return s;
}

float it_qdot_q4_1_ref(const void *w, const void *xq8_1, int64_t n) {
    const it_block_q4_1 *a = w;
    const it_block_q8_1 *b = xq8_1;
    float s = 0;
    for (int64_t i = 0; i < n / IT_QK; i++) {
        int32_t si = 0;
        for (int j = 0; j < IT_QK / 2; j++) {
            si += (int32_t)(a[i].qs[j] & 15) * b[i].qs[j];
            si += (int32_t)(a[i].qs[j] >> 4) * b[i].qs[j + 16];
        }
        s += (float)si * (it_f16_to_f32(a[i].d) * it_f16_to_f32(b[i].d)) + it_f16_to_f32(a[i].m) * it_f16_to_f32(b[i].s);
    }
    return s;
}

float it_dot_f16_ref(const uint16_t *a, const float *b, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += it_f16_to_f32(a[i]) * b[i];
    return s;
}

void it_axpy_f16_ref(float *y, float a, const uint16_t *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * it_f16_to_f32(x[i]);
}

static void q8_0_x4(const void *w, const void *x, int64_t xs, int64_t n, float *out) {
    for (int i = 0; i < 4; i++) out[i] = it_qdot_q8_0_ref(w, (const char *)x + i * xs, n);
}
static void q4_0_x4(const void *w, const void *x, int64_t xs, int64_t n, float *out) {
    for (int i = 0; i < 4; i++) out[i] = it_qdot_q4_0_ref(w, (const char *)x + i * xs, n);
}
static void q4_1_x4(const void *w, const void *x, int64_t xs, int64_t n, float *out) {
    for (int i = 0; i < 4; i++) out[i] = it_qdot_q4_1_ref(w, (const char *)x + i * xs, n);
}

static const it_qdot_table ref_table = {IT_ISA_SCALAR, it_qdot_q8_0_ref, it_qdot_q4_0_ref, it_qdot_q4_1_ref,
                                        q8_0_x4, q4_0_x4, q4_1_x4, it_dot_f16_ref,
                                        it_axpy_f16_ref};

#ifdef INGOT_HAVE_X86
const it_qdot_table *it_qdot_avx2(void);
const it_qdot_table *it_qdot_avx512(void);
#endif

const it_qdot_table *it_qdot_for(int isa) {
    if (isa == IT_ISA_SCALAR) return &ref_table;
#ifdef INGOT_HAVE_X86
    unsigned f = it_cpu_features();
    if (isa == IT_ISA_AVX2 && (f & IT_CPU_AVX2)) return it_qdot_avx2();
    if (isa == IT_ISA_AVX512 && (f & IT_CPU_AVX512) && (f & IT_CPU_VNNI)) return it_qdot_avx512();
#endif
    return NULL;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const it_qdot_table *chosen;
static void choose(void) {
    for (int isa = it_cpu_isa(); isa >= 0 && !chosen; isa--) chosen = it_qdot_for(isa);
    if (!chosen) chosen = &ref_table;
}

const it_qdot_table *it_qdot(void) {
    pthread_once(&once, choose);
    return chosen;
}
