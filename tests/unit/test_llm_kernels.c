/*
 * test_llm_kernels.c: the LLM engine's kernels on hand-made data, every ISA tier against
 * the scalar reference: the quantized dot products and their 16-row packed groups, the
 * activation quantizer, F16/F32 tiles, attention's q . k and p . v over f16 blocks and the
 * softmax and PV over transposed V blocks, the max / exp-and-sum / SiLU-gate pieces.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "kernels/qdot.h"
#include "tensor/quant.h"
#include "tensor/tensor.h"

static uint32_t rng32(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static float frand(uint64_t *s) { return (float)rng32(s) / 4294967296.0f * 2.0f - 1.0f; }

static void qdot_tiers(void **state) {
    (void)state;
    const it_qdot_table *ref = it_qdot_for(IT_ISA_SCALAR);
    assert_non_null(ref);
    uint64_t s = 7;
    static const int64_t sizes[] = {32, 64, 96, 160, 256, 544, 768, 2080};
    for (int isa = IT_ISA_SCALAR; isa <= IT_ISA_AVX512; isa++) {
        const it_qdot_table *t = it_qdot_for(isa);
        if (!t) continue;
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
            int64_t n = sizes[si];
            float *w = malloc(n * sizeof(float)), *x = malloc(n * sizeof(float)), *y0 = malloc(n * sizeof(float)),
                  *y1 = malloc(n * sizeof(float));
            for (int64_t i = 0; i < n; i++) { w[i] = frand(&s) * 3; x[i] = frand(&s); }
            w[0] = -3.5f; /* the largest magnitude negative: q8 code -127/-128 */
            it_block_q8_0 *w8 = malloc(n / 32 * sizeof *w8), *x8 = malloc((size_t)it_qdot_act_bytes(IT_GGML_Q8_0, n));
            it_block_q4_0 *w4 = malloc(n / 32 * sizeof *w4);
            it_block_q4_1 *w41 = malloc(n / 32 * sizeof *w41);
            it_block_q8_1 *x81 = malloc((size_t)it_qdot_act_bytes(IT_GGML_Q8_1, n));
            it_quant_row(IT_GGML_Q4_1, w, w41, n);
            it_qdot_quant_act(IT_GGML_Q8_1, x, n, x81);
            it_quant_row(IT_GGML_Q8_0, w, w8, n);
            it_qdot_quant_act(IT_GGML_Q8_0, x, n, x8);
            it_quant_row(IT_GGML_Q4_0, w, w4, n);
            float r8 = ref->q8_0(w8, x8, n), t8 = t->q8_0(w8, x8, n);
            float r4 = ref->q4_0(w4, x8, n), t4 = t->q4_0(w4, x8, n);
            float r41 = ref->q4_1(w41, x81, n), t41 = t->q4_1(w41, x81, n);
            /* the reference against float math on dequantized rows */
            float dw[4096], dx[4096];
            it_dequant_row(IT_GGML_Q8_0, w8, dw, n);
            it_dequant_row(IT_GGML_Q8_0, x8, dx, n);
            double exact = 0;
            for (int64_t i = 0; i < n; i++) exact += (double)dw[i] * dx[i];
            assert_true(fabs(r8 - exact) <= 1e-4 * (1 + fabs(exact)));
            it_dequant_row(IT_GGML_Q4_0, w4, dw, n);
            exact = 0;
            for (int64_t i = 0; i < n; i++) exact += (double)dw[i] * dx[i];
            assert_true(fabs(r4 - exact) <= 1e-4 * (1 + fabs(exact)));
            it_dequant_row(IT_GGML_Q4_1, w41, dw, n);
            it_dequant_row(IT_GGML_Q8_1, x81, dx, n);
            exact = 0;
            for (int64_t i = 0; i < n; i++) exact += (double)dw[i] * dx[i];
            /* Q8_1's sum term is rounded to f16: a looser bound */
            assert_true(fabs(r41 - exact) <= 2e-3 * (1 + fabs(exact)));
            if (fabsf(r41 - t41) > 1e-5f * (1 + fabsf(r41))) fail_msg("isa %d n %lld: q4_1 %g vs %g", isa, (long long)n, r41, t41);
            if (fabsf(r8 - t8) > 1e-5f * (1 + fabsf(r8)) || fabsf(r4 - t4) > 1e-5f * (1 + fabsf(r4)))
                fail_msg("isa %d n %lld: q8 %g vs %g, q4 %g vs %g", isa, (long long)n, r8, t8, r4, t4);
            /* the other block types against float math on the dequantized rows, and tiers */
            {
                static const uint32_t types[] = {IT_GGML_Q5_0, IT_GGML_Q5_1, IT_GGML_Q4_K, IT_GGML_Q5_K, IT_GGML_Q6_K};
                for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
                    uint32_t ty = types[ti];
                    if (n % it_ggml_block_size(ty)) continue;
                    int act1 = ty == IT_GGML_Q5_1 || ty == IT_GGML_Q4_K || ty == IT_GGML_Q5_K;
                    void *wq = malloc((size_t)it_ggml_row_bytes(ty, n));
                    it_quant_row(ty, w, wq, n);
                    it_dequant_row(ty, wq, dw, n);
                    const void *xa = act1 ? (const void *)x81 : (const void *)x8;
                    it_dequant_row(act1 ? IT_GGML_Q8_1 : IT_GGML_Q8_0, xa, dx, n);
                    double ex = 0;
                    for (int64_t i = 0; i < n; i++) ex += (double)dw[i] * dx[i];
                    it_qdot_fn rf = ty == IT_GGML_Q5_0 ? ref->q5_0 : ty == IT_GGML_Q5_1 ? ref->q5_1
                                  : ty == IT_GGML_Q4_K ? ref->q4_K : ty == IT_GGML_Q5_K ? ref->q5_K : ref->q6_K;
                    it_qdot_fn tf = ty == IT_GGML_Q5_0 ? t->q5_0 : ty == IT_GGML_Q5_1 ? t->q5_1
                                  : ty == IT_GGML_Q4_K ? t->q4_K : ty == IT_GGML_Q5_K ? t->q5_K : t->q6_K;
                    float rv = rf(wq, xa, n), tv = tf(wq, xa, n);
                    /* the min terms use Q8_1's f16-rounded block sums */
                    double tol = (act1 ? 3e-3 : 1e-4) * (1 + fabs(ex)) + (act1 ? 1e-3 * n / 32 : 0);
                    if (fabs(rv - ex) > tol) fail_msg("%s n %lld: ref %g vs exact %g", it_ggml_type_name(ty), (long long)n, rv, ex);
                    if (fabsf(rv - tv) > 1e-5f * (1 + fabsf(rv)))
                        fail_msg("isa %d %s n %lld: %g vs ref %g", isa, it_ggml_type_name(ty), (long long)n, tv, rv);
                    free(wq);
                }
            }
            /* the 4-row kernels give the 1-row bits */
            {
                int64_t xs8 = it_qdot_act_bytes(IT_GGML_Q8_0, n), xs81 = it_qdot_act_bytes(IT_GGML_Q8_1, n);
                char *x4 = malloc((size_t)(4 * xs8)), *x41 = malloc((size_t)(4 * xs81));
                float *xs = malloc(n * sizeof(float));
                for (int r = 0; r < 4; r++) {
                    for (int64_t i = 0; i < n; i++) xs[i] = frand(&s);
                    it_qdot_quant_act(IT_GGML_Q8_0, xs, n, x4 + r * xs8);
                    it_qdot_quant_act(IT_GGML_Q8_1, xs, n, x41 + r * xs81);
                }
                float o[4], one;
                t->q8_0_x4(w8, x4, xs8, n, o);
                for (int r = 0; r < 4; r++) { one = t->q8_0(w8, x4 + r * xs8, n); assert_memory_equal(&one, &o[r], 4); }
                t->q4_0_x4(w4, x4, xs8, n, o);
                for (int r = 0; r < 4; r++) { one = t->q4_0(w4, x4 + r * xs8, n); assert_memory_equal(&one, &o[r], 4); }
                t->q4_1_x4(w41, x41, xs81, n, o);
                for (int r = 0; r < 4; r++) { one = t->q4_1(w41, x41 + r * xs81, n); assert_memory_equal(&one, &o[r], 4); }
                free(x4); free(x41); free(xs);
            }
            /* f16 dot / axpy at odd lengths */
            for (int64_t m = n - 1; m <= n + 3; m += 2) {
                int64_t len = m < n ? m : n;
                uint16_t *h = malloc(len * sizeof *h);
                for (int64_t i = 0; i < len; i++) h[i] = it_f32_to_f16(w[i]);
                float a = ref->dot_f16(h, x, len), b = t->dot_f16(h, x, len);
                assert_true(fabsf(a - b) <= 1e-5f * (1 + fabsf(a)));
                { /* tiles of every shape over F16 and F32 rows: the one-row dot's bits for each
                     product (dot_f32 also near the reference) */
                    enum { MR = 2 * IT_F16_TR + 3 }; /* row counts past one tile of rows */
                    const int64_t lda = len + 3, ldy = MR + 2;
                    uint16_t *hs = malloc((size_t)(MR * lda) * sizeof *hs);
                    float *fs = malloc((size_t)(MR * lda) * sizeof *fs);
                    float *xs4 = malloc((size_t)(IT_F16_TT * len) * sizeof(float)), o4[IT_F16_TT * (MR + 2)];
                    for (int64_t i = 0; i < IT_F16_TT * len; i++) xs4[i] = x[i % len] * (float)(1 + i / len) + (float)(i / len);
                    for (int64_t i = 0; i < MR * lda; i++) {
                        fs[i] = w[i % len] * (float)(1 + i / lda);
                        hs[i] = it_f32_to_f16(fs[i]);
                    }
                    for (int f32 = 0; f32 < 2; f32++)
                        for (int nr = 1; nr <= MR; nr++)
                            for (int nt = 1; nt <= IT_F16_TT; nt++) {
                                if (f32) t->f32_tile(fs, lda, nr, xs4, len, nt, len, o4, ldy);
                                else t->f16_tile(hs, lda, nr, xs4, len, nt, len, o4, ldy);
                                for (int tt = 0; tt < nt; tt++)
                                    for (int r = 0; r < nr; r++) {
                                        const float *xr = xs4 + tt * len;
                                        float one = f32 ? t->dot_f32(fs + r * lda, xr, len) : t->dot_f16(hs + r * lda, xr, len);
                                        assert_memory_equal(&one, &o4[tt * ldy + r], sizeof one);
                                        if (!f32) continue;
                                        float rf = it_dot_f32_ref(fs + r * lda, xr, len);
                                        assert_true(fabsf(rf - one) <= 1e-4f * (1 + fabsf(rf)));
                                    }
                            }
                    free(fs);
                    free(xs4); free(hs);
                }
                for (int64_t i = 0; i < len; i++) y0[i] = y1[i] = x[i];
                ref->axpy_f16(y0, 0.37f, h, len);
                t->axpy_f16(y1, 0.37f, h, len);
                for (int64_t i = 0; i < len; i++) assert_true(fabsf(y0[i] - y1[i]) <= 1e-6f);
                free(h);
            }
            free(w); free(x); free(y0); free(y1); free(w8); free(x8); free(w4); free(w41); free(x81);
        }
    }
}

/* 16-row packed-group kernels: the packing keeps every row's value (against the row
 * kernels), and each tier gives the scalar reference's bits whatever T and nr */
static void qpack16_tiers(void **state) {
    (void)state;
    const it_qdot_table *ref = it_qdot_for(IT_ISA_SCALAR);
    uint64_t s = 11;
    static const int64_t sizes[] = {32, 544, 576};
    static const uint32_t types[] = {IT_GGML_Q8_0, IT_GGML_Q4_0, IT_GGML_Q4_1};
    const int64_t R = 37, T = 13; /* three groups, the last one 5 rows */
    assert_int_equal(it_qpack16_bytes(IT_GGML_Q6_K, 16, 256), -1);
    assert_int_equal(it_qpack16_bytes(IT_GGML_Q4_0, 16, 48), -1);
    for (size_t ti = 0; ti < 3; ti++) {
        uint32_t ty = types[ti], act = ty == IT_GGML_Q4_1 ? IT_GGML_Q8_1 : IT_GGML_Q8_0;
        it_qdot_fn rf = ty == IT_GGML_Q8_0 ? ref->q8_0 : ty == IT_GGML_Q4_0 ? ref->q4_0 : ref->q4_1;
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
            const int64_t n = sizes[si], rb = it_ggml_row_bytes(ty, n), xs = it_qdot_act_bytes(act, n);
            const int64_t pbytes = it_qpack16_bytes(ty, R, n), gb = it_qpack16_group_bytes(ty, n);
            assert_int_equal(pbytes, 3 * gb);
            assert_int_equal(gb, 16 * rb); /* the same bytes per weight as the rows */
            uint8_t *w = malloc((size_t)(R * rb)), *x = malloc((size_t)(T * xs)), *pk = malloc((size_t)pbytes);
            float *row = malloc(n * sizeof(float)), *y = malloc(T * 48 * sizeof(float));
            float *yt = malloc(T * 48 * sizeof(float));
            for (int64_t r = 0; r < R; r++) {
                for (int64_t i = 0; i < n; i++) row[i] = frand(&s) * (float)(1 + r % 3);
                it_quant_row(ty, row, w + r * rb, n);
            }
            for (int64_t tt = 0; tt < T; tt++) {
                for (int64_t i = 0; i < n; i++) row[i] = frand(&s) * 2;
                it_qdot_quant_act(act, row, n, x + tt * xs);
            }
            it_qpack16(ty, w, rb, R, n, pk);
            { /* every row comes back out of the packed copy byte for byte */
                uint8_t *back = malloc((size_t)rb);
                for (int64_t r = 0; r < R; r++) {
                    it_qpack16_row(ty, pk, n, r, back);
                    assert_memory_equal(back, w + r * rb, (size_t)rb);
                }
                free(back);
            }
            for (int g = 0; g < 3; g++) {
                int nr = g < 2 ? 16 : 5;
                it_qdot_p16_ref(ty, pk + g * gb, n, nr, x, xs, T, y + 16 * g, 48);
            }
            for (int64_t tt = 0; tt < T; tt++)
                for (int64_t r = 0; r < R; r++) {
                    float e = rf(w + r * rb, x + tt * xs, n), v = y[tt * 48 + r];
                    if (fabsf(e - v) > 1e-4f * (1 + fabsf(e)))
                        fail_msg("%s n %lld: row %lld token %lld: packed %g vs row kernel %g", it_ggml_type_name(ty),
                                 (long long)n, (long long)r, (long long)tt, v, e);
                }
            for (int isa = IT_ISA_SCALAR; isa <= IT_ISA_AVX512; isa++) {
                const it_qdot_table *t = it_qdot_for(isa);
                it_qpack16_fn f = !t ? NULL : ty == IT_GGML_Q8_0 ? t->q8_0_p16 : ty == IT_GGML_Q4_0 ? t->q4_0_p16 : t->q4_1_p16;
                if (!f) continue;
                for (int g = 0; g < 3; g++) f(pk + g * gb, n, g < 2 ? 16 : 5, x, xs, T, yt + 16 * g, 48);
                for (int64_t tt = 0; tt < T; tt++)
                    for (int64_t r = 0; r < R; r++)
                        if (memcmp(&yt[tt * 48 + r], &y[tt * 48 + r], 4))
                            fail_msg("isa %d %s n %lld: row %lld token %lld: %.9g vs reference %.9g", isa,
                                     it_ggml_type_name(ty), (long long)n, (long long)r, (long long)tt, yt[tt * 48 + r],
                                     y[tt * 48 + r]);
                /* one token at a time and fewer rows: the same bits */
                for (int64_t tt = 0; tt < T; tt++) {
                    float one[16];
                    f(pk + gb, n, 7, x + tt * xs, xs, 1, one, 16);
                    assert_memory_equal(one, &y[tt * 48 + 16], 7 * sizeof(float));
                }
            }
            free(w); free(x); free(pk); free(row); free(y); free(yt);
        }
    }
}

/* activation quantization: every tier writes the reference's bytes (ties at .5 included) */
static void quant_act_tiers(void **state) {
    (void)state;
    uint64_t s = 9;
    const int64_t n = 576;
    float *x = malloc(n * sizeof(float));
    for (int64_t i = 0; i < n; i++) x[i] = frand(&s) * (i < 288 ? 3.0f : 1e-3f);
    for (int j = 0; j < 32; j++) x[j] = (float)(j - 16) * 0.5f + (j == 31 ? 119.5f : 0); /* block 0: amax 127 */
    for (int j = 32; j < 64; j++) x[j] = 0;                                               /* block 1: all zero */
    for (int a = 0; a < 2; a++) {
        uint32_t act = a ? IT_GGML_Q8_1 : IT_GGML_Q8_0;
        const int64_t rb = it_qdot_act_bytes(act, n);
        uint8_t *r0 = calloc(1, (size_t)rb), *r1 = calloc(1, (size_t)rb);
        it_qdot_quant_act(act, x, n, r0);
        for (int isa = IT_ISA_SCALAR; isa <= IT_ISA_AVX512; isa++) {
            const it_qdot_table *t = it_qdot_for(isa);
            if (!t || !t->quant_act) continue;
            memset(r1, 0, (size_t)rb);
            t->quant_act(act, x, n, r1);
            assert_memory_equal(r0, r1, (size_t)rb);
        }
        free(r0);
        free(r1);
    }
    free(x);
}

/* attention kernels over the f16 cache: every tier gives the reference's bits */
static void attn_kernels_tiers(void **state) {
    (void)state;
    uint64_t s = 5;
    static const int64_t hds[] = {64, 72, 128, 6, 8, 16};
    for (size_t hi = 0; hi < sizeof hds / sizeof *hds; hi++) {
        const int64_t hd = hds[hi], n = 23, stride = hd + 24;
        uint16_t *kt = malloc((size_t)(hd * 16) * 2), *v = malloc((size_t)(32 * stride) * 2);
        float *q = malloc((size_t)hd * 4), p[23], s0[16], s1[16];
        float *o0 = malloc((size_t)hd * 4), *o1 = malloc((size_t)hd * 4);
        for (int64_t i = 0; i < hd * 16; i++) kt[i] = it_f32_to_f16(frand(&s) * 2);
        for (int64_t i = 0; i < 32 * stride; i++) v[i] = it_f32_to_f16(frand(&s));
        for (int64_t i = 0; i < hd; i++) q[i] = frand(&s);
        for (int i = 0; i < n; i++) p[i] = frand(&s) * 0.5f + 0.5f;
        const uint16_t *kl[1] = {kt}, *vl[2] = {v, v + 16 * stride}; /* the rows as a list of two blocks */
        it_qdot_kq_ref(kl, 1, q, 1, 1, hd, s0, 16);
        for (int j = 0; j < 16; j++) { /* against a plain double dot */
            double e = 0;
            for (int64_t d = 0; d < hd; d++) e += (double)q[d] * it_f16_to_f32(kt[d * 16 + j]);
            assert_true(fabs(e - s0[j]) < 1e-4 * (1 + fabs(e)));
        }
        for (int64_t k = 0; k < hd; k++) o0[k] = frand(&s);
        memcpy(o1, o0, (size_t)hd * 4);
        it_qdot_pv_ref(vl, 0, n, stride, p, 0, 1, 1, hd, o0, 0);
        for (int isa = IT_ISA_SCALAR; isa <= IT_ISA_AVX512; isa++) {
            const it_qdot_table *t = it_qdot_for(isa);
            if (!t || !t->kq_f16) continue;
            t->kq_f16(kl, 1, q, 1, 1, hd, s1, 16);
            assert_memory_equal(s0, s1, sizeof s0);
            float *o2 = malloc((size_t)hd * 4);
            memcpy(o2, o1, (size_t)hd * 4);
            t->pv_f16(vl, 0, n, stride, p, 0, 1, 1, hd, o2, 0);
            assert_memory_equal(o0, o2, (size_t)hd * 4);
            /* the same bits as n axpy_f16 calls (fused on the SIMD tiers) */
            memcpy(o2, o1, (size_t)hd * 4);
            for (int i = 0; i < n; i++) t->axpy_f16(o2, p[i], v + i * stride, hd);
            if (isa != IT_ISA_SCALAR) assert_memory_equal(o0, o2, (size_t)hd * 4);
            free(o2);
            /* nh query heads, `group` per KV head (1 to 5 KV heads side by side in a row),
             * over three blocks apart in memory, the rows starting inside the first: each
             * head the bits of the reference's single-head call on its KV head's rows */
            for (int nkv = 1; nkv <= 5; nkv++)
                for (int group = 1; group <= 6; group++) {
                    const int nh = nkv * group;
                    const int64_t vs = nkv * hd + 8, ss = 56, off = 5, nr = 40; /* rows 5 .. 44 */
                    uint16_t *vm[3], *km[3];
                    for (int b = 0; b < 3; b++) {
                        vm[b] = malloc((size_t)(16 * vs) * 2), km[b] = malloc((size_t)(nkv * hd * 16) * 2);
                        for (int64_t i = 0; i < 16 * vs; i++) vm[b][i] = it_f32_to_f16(frand(&s));
                        for (int64_t i = 0; i < nkv * hd * 16; i++) km[b][i] = it_f32_to_f16(frand(&s) * 2);
                    }
                    const uint16_t *vb[3] = {vm[0], vm[1], vm[2]}, *kb[3] = {km[0], km[1], km[2]};
                    float *pm = malloc((size_t)(nh * ss) * 4), *qm = malloc((size_t)(nh * hd) * 4);
                    float *om = malloc((size_t)(nh * hd) * 4), *oe = malloc((size_t)(nh * hd) * 4);
                    float *sm = malloc((size_t)(nh * ss) * 4), *se = malloc((size_t)(nh * ss) * 4);
                    for (int64_t i = 0; i < nh * ss; i++) pm[i] = frand(&s) * 0.5f + 0.5f, sm[i] = se[i] = 0;
                    for (int64_t i = 0; i < nh * hd; i++) qm[i] = frand(&s), om[i] = oe[i] = frand(&s);
                    t->pv_f16(vb, off, nr, vs, pm, ss, nh, group, hd, om, hd);
                    t->kq_f16(kb, 3, qm, nh, group, hd, sm, ss);
                    for (int jh = 0; jh < nh; jh++) {
                        const uint16_t *vh[3], *kh[3];
                        for (int b = 0; b < 3; b++) vh[b] = vb[b] + jh / group * hd, kh[b] = kb[b] + jh / group * hd * 16;
                        it_qdot_pv_ref(vh, off, nr, vs, pm + jh * ss, 0, 1, 1, hd, oe + jh * hd, 0);
                        it_qdot_kq_ref(kh, 3, qm + jh * hd, 1, 1, hd, se + jh * ss, 0);
                    }
                    assert_memory_equal(om, oe, (size_t)(nh * hd) * 4);
                    assert_memory_equal(sm, se, (size_t)(nh * ss) * 4);
                    for (int b = 0; b < 3; b++) free(vm[b]), free(km[b]);
                    free(pm), free(qm), free(om), free(oe), free(sm), free(se);
                }
        }
        if (hd % 32 == 0) { /* Q8_0 rows: every tier the reference's bits */
            const int64_t rb = hd / 32 * 34 + 6;
            uint8_t *vq = malloc((size_t)(n * rb));
            float *row = malloc((size_t)hd * 4);
            for (int i = 0; i < n; i++) {
                for (int64_t k = 0; k < hd; k++) row[k] = frand(&s) * 3;
                it_quant_row(IT_GGML_Q8_0, row, vq + i * rb, hd);
            }
            for (int64_t k = 0; k < hd; k++) o0[k] = o1[k] = frand(&s);
            it_qdot_pv_q8_0_ref(vq, rb, p, n, hd, o0);
            for (int isa = IT_ISA_SCALAR; isa <= IT_ISA_AVX512; isa++) {
                const it_qdot_table *t = it_qdot_for(isa);
                if (!t) continue;
                memcpy(row, o1, (size_t)hd * 4);
                t->pv_q8_0(vq, rb, p, n, hd, row);
                assert_memory_equal(o0, row, (size_t)hd * 4);
            }
            free(vq); free(row);
        }
        free(kt); free(v); free(q); free(o0); free(o1);
    }
}

/* Softmax and PV over transposed V blocks (heads of at most 16 dimensions): every tier the
 * reference's bits (outputs and the weights written back), the reference within float
 * rounding of a double computation of softmax(s) . v in base 2; the cache's and the scores'
 * lanes outside [p0, np) hold NaN and must not leak in. */
static void softmax_pv_tiers(void **state) {
    (void)state;
    uint64_t s = 11;
    static const int64_t hds[] = {8, 16, 4, 1, 3, 5, 12};
    static const int64_t ranges[][2] = {{0, 1}, {0, 16}, {0, 17}, {5, 40}, {3, 9}, {0, 100}, {15, 16}};
    const int nt = (int)(sizeof hds / sizeof *hds), nr = (int)(sizeof ranges / sizeof *ranges);
    for (int hi = 0; hi < nt; hi++)
        for (int nkv = 1; nkv <= 5; nkv += 2)
            for (int group = 1; group <= 4; group++)
                for (int ri = 0; ri < nr; ri++) {
                    const int64_t hd = hds[hi], p0 = ranges[ri][0], np = ranges[ri][1], nb = (np + 15) / 16;
                    const int nh = nkv * group;
                    const int64_t lds = nb * 16 + 16, kvd = nkv * hd;
                    uint16_t *vm[8];
                    for (int64_t b = 0; b < nb; b++) {
                        vm[b] = malloc((size_t)(kvd * 16) * 2);
                        for (int64_t d = 0; d < kvd; d++)
                            for (int l = 0; l < 16; l++) {
                                const int64_t p = b * 16 + l;
                                vm[b][d * 16 + l] = p >= p0 && p < np ? it_f32_to_f16(frand(&s)) : 0x7e00; /* NaN */
                            }
                    }
                    const uint16_t *vb[8];
                    for (int64_t b = 0; b < nb; b++) vb[b] = vm[b];
                    float *sc = malloc((size_t)(nh * lds) * 4), *w0 = malloc((size_t)(nh * lds) * 4);
                    float *w1 = malloc((size_t)(nh * lds) * 4), *o0 = malloc((size_t)(nh * hd) * 4);
                    float *o1 = malloc((size_t)(nh * hd) * 4);
                    for (int64_t i = 0; i < nh * lds; i++) sc[i] = NAN;
                    for (int j = 0; j < nh; j++)
                        for (int64_t p = p0; p < np; p++) sc[j * lds + p] = frand(&s) * 12;
                    memcpy(w0, sc, (size_t)(nh * lds) * 4);
                    it_qdot_softmax_pv_f16t_ref(vb, p0, np, w0, lds, nh, group, hd, o0);
                    for (int j = 0; j < nh; j++) { /* against doubles */
                        double m = -INFINITY, sum = 0;
                        for (int64_t p = p0; p < np; p++) m = sc[j * lds + p] > m ? sc[j * lds + p] : m;
                        for (int64_t p = p0; p < np; p++) sum += exp2((double)sc[j * lds + p] - m);
                        for (int64_t d = 0; d < hd; d++) {
                            double want = 0;
                            for (int64_t p = p0; p < np; p++)
                                want += exp2((double)sc[j * lds + p] - m) *
                                        it_f16_to_f32(vb[p / 16][((j / group) * hd + d) * 16 + p % 16]);
                            want /= sum;
                            if (!(fabs(o0[j * hd + d] - want) <= 2e-6 * (1 + fabs(want))))
                                fail_msg("hd %lld nh %d group %d [%lld, %lld): head %d dim %lld: %g, want %g", (long long)hd,
                                         nh, group, (long long)p0, (long long)np, j, (long long)d, o0[j * hd + d], want);
                        }
                    }
                    for (int isa = IT_ISA_SCALAR; isa <= IT_ISA_AVX512; isa++) {
                        const it_qdot_table *t = it_qdot_for(isa);
                        if (!t) continue;
                        memcpy(w1, sc, (size_t)(nh * lds) * 4);
                        t->softmax_pv_f16t(vb, p0, np, w1, lds, nh, group, hd, o1);
                        assert_memory_equal(o0, o1, (size_t)(nh * hd) * 4);
                        for (int j = 0; j < nh; j++) /* the weights written back, whole blocks */
                            assert_memory_equal(w0 + j * lds + p0 / 16 * 16, w1 + j * lds + p0 / 16 * 16,
                                                (size_t)(nb - p0 / 16) * 16 * 4);
                    }
                    for (int64_t b = 0; b < nb; b++) free(vm[b]);
                    free(sc), free(w0), free(w1), free(o0), free(o1);
                }
    /* it_exp2_poly against exp2 over its whole range */
    for (float t = IT_EXP2_LO; t <= 1.0f; t += 0.0137f) {
        const double want = exp2((double)t);
        if (!(fabs(it_exp2_poly(t) - want) <= 2e-7 * want + 0x1p-149)) fail_msg("exp2(%g) = %g, want %g", t, it_exp2_poly(t), want);
    }
}

/* max, exp-and-sum and SiLU-gate kernels of every tier against libm, tails and -inf too */
static void softmax_kernels_tiers(void **state) {
    (void)state;
    uint64_t s = 9;
    for (int64_t n = 1; n <= 70; n += 3) {
        float *x = malloc((size_t)n * 4), *y = malloc((size_t)n * 4), *g = malloc((size_t)n * 4), *u = malloc((size_t)n * 4);
        for (int64_t i = 0; i < n; i++) {
            x[i] = frand(&s) * 40;
            u[i] = frand(&s);
        }
        if (n > 4) x[n / 2] = -INFINITY, x[n - 2] = -200; /* banned token; far below the max */
        float mref = -INFINITY;
        for (int64_t i = 0; i < n; i++) mref = x[i] > mref ? x[i] : mref;
        for (int isa = IT_ISA_SCALAR; isa <= IT_ISA_AVX512; isa++) {
            const it_qdot_table *t = it_qdot_for(isa);
            if (!t) continue;
            const float m = t->max_f32(x, n);
            assert_true(m == mref);
            const float a = 0.7f, b = m * a, sum = t->exp_sum(y, x, n, a, b);
            double want = 0;
            for (int64_t i = 0; i < n; i++) {
                const double tt = (double)x[i] * a - b; /* the kernels round it once or twice */
                const double e = tt < -87.3 ? 0 : exp(tt);
                want += e;
                if (fabs(y[i] - e) > e * (3e-7 + 1.2e-7 * (fabs(tt) + fabs((double)x[i] * a))) && !(tt < -87.29 && tt > -87.31))
                    fail_msg("isa %d n %lld: exp %g, want %g", isa, (long long)n, y[i], e);
            }
            assert_true(fabs(sum - want) <= 1e-6 * want);
            if (n > 4) assert_true(y[n / 2] == 0 && y[n - 2] == 0);
            { /* f16 stores, strided and not: it_f32_to_f16's bits */
                uint16_t h[70 * 3];
                for (int stride = 1; stride <= 3; stride += 2) {
                    t->f16_store(h, stride, u, n);
                    for (int64_t i = 0; i < n; i++) assert_int_equal(h[i * stride], it_f32_to_f16(u[i]));
                }
            }
            for (int64_t i = 0; i < n; i++) g[i] = (x[i] > -100 ? x[i] : -100) * 0.5f;
            t->silu_mul(g, u, n);
            for (int64_t i = 0; i < n; i++) {
                const double v = (x[i] > -100 ? x[i] : -100) * 0.5, e = v / (1 + exp(-v)) * u[i];
                if (fabs(g[i] - e) > 1e-6 * (fabs(e) + 1e-30) + 1e-37) fail_msg("isa %d: silu %g, want %g", isa, g[i], e);
            }
        }
        free(x); free(y); free(g); free(u);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(qdot_tiers),         cmocka_unit_test(qpack16_tiers),    cmocka_unit_test(quant_act_tiers),
        cmocka_unit_test(attn_kernels_tiers), cmocka_unit_test(softmax_pv_tiers), cmocka_unit_test(softmax_kernels_tiers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
