/*
 * pool_ref.c: the portable pooling row (MaxPool / AveragePool windows that lie
 * inside the input plane), the oracle for the SIMD tiers. The sum runs over
 * the window in row order, like the generic pooling loop, so results match it
 * bit for bit.
 */
#include <math.h>

#include "kernels/kernels.h"

void it_pool_row_ref(float *out, int64_t ow, const float *const *rows, int kh, int kw, int sw, int is_max,
                     float div);
void it_pool_row_ref(float *out, int64_t ow, const float *const *rows, int kh, int kw, int sw, int is_max,
                     float div) {
    for (int64_t j = 0; j < ow; j++) {
        if (is_max) {
            float m = -INFINITY;
            for (int i = 0; i < kh; i++)
                for (int k = 0; k < kw; k++) {
                    float v = rows[i][j * sw + k];
                    m = v > m ? v : m;
                }
            out[j] = m;
        } else {
            float s = 0;
            for (int i = 0; i < kh; i++)
                for (int k = 0; k < kw; k++) s += rows[i][j * sw + k];
            out[j] = s / div;
        }
    }
}
