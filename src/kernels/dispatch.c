/*
 * dispatch.c: the kernel table, chosen once from the CPU features (capped by
 * INGOT_ISA). SIMD tiers are compiled in per-ISA files with their own flags.
 */
#include <pthread.h>
#include <stddef.h>

#include "kernels.h"

void it_sgemm_micro_ref(int64_t k, const float *a, const float *b, float *c, int64_t ldc, int acc, int m, int n,
                        const it_micro_epi *ep);
float it_sdot_ref(const float *x, const float *y, int64_t n);
void it_dwconv_row_ref(float *out, int64_t ow, const float *const *rows, const float *w, int kh, int kw, int sw,
                       int dw, float bias);

void it_pool_row_ref(float *out, int64_t ow, const float *const *rows, int kh, int kw, int sw, int is_max,
                     float div);

static const it_kernel_table ref_table = {IT_ISA_SCALAR, 4, 8, it_sgemm_micro_ref, it_sdot_ref, NULL,
                                          it_dwconv_row_ref, NULL, NULL, it_pool_row_ref};

#ifdef INGOT_HAVE_X86
const it_kernel_table *it_kernels_avx2(void);
const it_kernel_table *it_kernels_avx512(void);
#endif

const it_kernel_table *it_kernels_for(int isa) {
    if (isa == IT_ISA_SCALAR) return &ref_table;
#ifdef INGOT_HAVE_X86
    unsigned f = it_cpu_features();
    if (isa == IT_ISA_AVX2 && (f & IT_CPU_AVX2)) return it_kernels_avx2();
    if (isa == IT_ISA_AVX512 && (f & IT_CPU_AVX512)) return it_kernels_avx512();
#endif
    return NULL;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const it_kernel_table *chosen;
static void choose(void) {
    chosen = it_kernels_for(it_cpu_isa());
    if (!chosen) chosen = &ref_table;
}

const it_kernel_table *it_kernels(void) {
    pthread_once(&once, choose);
    return chosen;
}
