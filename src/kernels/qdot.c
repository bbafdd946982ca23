/*
 * qdot.c: scalar reference row dot products of qdot.h (Q8_0 and Q4_0 weights against
 * Q8_0 activations, f16 against f32) and the tier table chosen once at start.
 * Block sums are exact int32; each block contributes sumi * (d_w * d_x) in block order,
 * as ggml's ggml_vec_dot_q8_0_q8_0 / q4_0_q8_0 reference loops do.
 */
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include "kernels/qdot.h"
#include "tensor/quant.h"
#include "tensor/tensor.h"

/* One block of activations the way ggml's x86 builds quantize them (which llama.cpp uses
 * on these machines): d = amax / 127 stored as f16, each x * (127 / amax) rounded to
 * nearest even; Q8_1's s = f16(d * sum of the quants) with d before its rounding. (The
 * weight quantizer, it_quant_row, is ggml's reference: x / d rounded half away from zero;
 * the two differ only on ties.) */
static void act_block(uint32_t act, const float *x, void *blk) {
    float amax = 0;
    for (int j = 0; j < IT_QK; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
    int8_t *qs = act == IT_GGML_Q8_1 ? ((it_block_q8_1 *)blk)->qs : ((it_block_q8_0 *)blk)->qs;
    int32_t sum = 0;
    for (int j = 0; j < IT_QK; j++) {
        qs[j] = (int8_t)lrintf(x[j] * id); /* the default rounding: to nearest even */
        sum += qs[j];
    }
    if (act == IT_GGML_Q8_1) {
        ((it_block_q8_1 *)blk)->d = it_f32_to_f16(d);
        ((it_block_q8_1 *)blk)->s = it_f32_to_f16((float)sum * d);
    } else {
        ((it_block_q8_0 *)blk)->d = it_f32_to_f16(d);
    }
}

void it_qdot_quant_act(uint32_t act, const float *x, int64_t n, void *row) {
    const int64_t nb = n / IT_QK;
    for (int64_t i = 0; i < nb; i++)
        act_block(act, x + i * IT_QK, (char *)row + i * (act == IT_GGML_Q8_1 ? sizeof(it_block_q8_1) : sizeof(it_block_q8_0)));
    float *d = (float *)((char *)row + it_qdot_act_scales_off(act, n)), *s = d + nb, *q = s + nb;
    for (int64_t i = 0; i < nb; i++) {
        const int8_t *qs;
        if (act == IT_GGML_Q8_1) {
            const it_block_q8_1 *b = (const it_block_q8_1 *)row + i;
            d[i] = it_f16_to_f32(b->d);
            s[i] = it_f16_to_f32(b->s);
            qs = b->qs;
        } else {
            const it_block_q8_0 *b = (const it_block_q8_0 *)row + i;
            d[i] = it_f16_to_f32(b->d);
            s[i] = 0;
            qs = b->qs;
        }
        int32_t sum = 0;
        for (int j = 0; j < IT_QK; j++) sum += qs[j];
        q[i] = (float)sum;
    }
}

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

float it_qdot_q5_0_ref(const void *w, const void *xq8, int64_t n) {
    const it_block_q5_0 *a = w;
    const it_block_q8_0 *b = xq8;
    float s = 0;
    for (int64_t i = 0; i < n / IT_QK; i++) {
        uint32_t qh;
        memcpy(&qh, a[i].qh, 4);
        int32_t si = 0;
        for (int j = 0; j < 16; j++) {
            int32_t x0 = ((a[i].qs[j] & 15) | (((qh >> j) << 4) & 0x10)) - 16;
            int32_t x1 = ((a[i].qs[j] >> 4) | ((qh >> (j + 12)) & 0x10)) - 16;
            si += x0 * b[i].qs[j] + x1 * b[i].qs[j + 16];
        }
        s += (float)si * (it_f16_to_f32(a[i].d) * it_f16_to_f32(b[i].d));
    }
    return s;
}

float it_qdot_q5_1_ref(const void *w, const void *xq8_1, int64_t n) {
    const it_block_q5_1 *a = w;
    const it_block_q8_1 *b = xq8_1;
    float s = 0;
    for (int64_t i = 0; i < n / IT_QK; i++) {
        uint32_t qh;
        memcpy(&qh, a[i].qh, 4);
        int32_t si = 0;
        for (int j = 0; j < 16; j++) {
            int32_t x0 = (a[i].qs[j] & 15) | (((qh >> j) << 4) & 0x10);
            int32_t x1 = (a[i].qs[j] >> 4) | ((qh >> (j + 12)) & 0x10);
            si += x0 * b[i].qs[j] + x1 * b[i].qs[j + 16];
        }
        s += (float)si * (it_f16_to_f32(a[i].d) * it_f16_to_f32(b[i].d)) + it_f16_to_f32(a[i].m) * it_f16_to_f32(b[i].s);
    }
    return s;
}

/* Q4_K / Q5_K: sub-block k (32 elements) uses the low (even k) or high nibbles of bytes
 * qs[32*(k/2) ..], the 5th bit k of qh[l] (Q5_K), scale d*sc_k and min dmin*m_k. */
static float qk_ref(const uint8_t *blocks, size_t bsz, int five, const it_block_q8_1 *b, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n / IT_QK_K; i++) {
        const uint8_t *blk = blocks + (size_t)i * bsz;
        uint16_t hd, hm;
        memcpy(&hd, blk, 2);
        memcpy(&hm, blk + 2, 2);
        float d = it_f16_to_f32(hd), dmin = it_f16_to_f32(hm);
        const uint8_t *scales = blk + 4, *qh = blk + 16, *qs = blk + (five ? 48 : 16);
        for (int k = 0; k < 8; k++) {
            const it_block_q8_1 *xb = &b[i * 8 + k];
            const uint8_t *q = qs + 32 * (k / 2);
            int sc, m;
            it_k4_scale_min(k, scales, &sc, &m);
            int32_t si = 0;
            for (int l = 0; l < 32; l++) {
                int v = k & 1 ? q[l] >> 4 : q[l] & 15;
                if (five) v += ((qh[l] >> k) & 1) << 4;
                si += v * xb->qs[l];
            }
            s += (d * it_f16_to_f32(xb->d)) * (float)(sc * si) - (dmin * (float)m) * it_f16_to_f32(xb->s);
        }
    }
    return s;
}

float it_qdot_q4_K_ref(const void *w, const void *xq8_1, int64_t n) { return qk_ref(w, 144, 0, xq8_1, n); }
float it_qdot_q5_K_ref(const void *w, const void *xq8_1, int64_t n) { return qk_ref(w, 176, 1, xq8_1, n); }

/* Q6_K: sub-block k (32 elements) of each 128-element half h = k/4, group j = k%4: low
 * (j < 2) or high nibbles of ql[64h + 32(j&1) ..], bits 2j of qh[32h ..], scales
 * sc[8h + 2j] (first 16) and sc[8h + 2j + 1] (last 16); values minus 32. */
float it_qdot_q6_K_ref(const void *w, const void *xq8, int64_t n) {
    const it_block_q6_K *a = w;
    const it_block_q8_0 *b = xq8;
    float s = 0;
    for (int64_t i = 0; i < n / IT_QK_K; i++) {
        float d = it_f16_to_f32(a[i].d);
        for (int k = 0; k < 8; k++) {
            int h = k / 4, j = k % 4;
            const uint8_t *ql = a[i].ql + 64 * h + 32 * (j & 1), *qh = a[i].qh + 32 * h;
            const int8_t *sc = a[i].scales + 8 * h + 2 * j;
            const it_block_q8_0 *xb = &b[i * 8 + k];
            int32_t s0 = 0, s1 = 0;
            for (int l = 0; l < 32; l++) {
                int q = ((j >= 2 ? ql[l] >> 4 : ql[l] & 15) | (((qh[l] >> (2 * j)) & 3) << 4)) - 32;
                if (l < 16) s0 += q * xb->qs[l];
                else s1 += q * xb->qs[l];
            }
            s += (d * it_f16_to_f32(xb->d)) * (float)(sc[0] * s0 + sc[1] * s1);
        }
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

/* ---- 16-row packed groups (qdot.h) ---- */

/* per packed block: the scale (and min) halves, then the quantized bytes */
static int p16_layout(uint32_t type, int64_t *pb, int64_t *qoff, int64_t *qbytes, int64_t *bsz) {
    switch (type) {
    case IT_GGML_Q8_0: *pb = 32 + 512; *qoff = 32; *qbytes = 32; *bsz = 34; return 0;
    case IT_GGML_Q4_0: *pb = 32 + 256; *qoff = 32; *qbytes = 16; *bsz = 18; return 0;
    case IT_GGML_Q4_1: *pb = 64 + 256; *qoff = 64; *qbytes = 16; *bsz = 20; return 0;
    default: return -1;
    }
}

int64_t it_qpack16_group_bytes(uint32_t type, int64_t n_in) {
    int64_t pb, qoff, qb, bsz;
    if (p16_layout(type, &pb, &qoff, &qb, &bsz) || n_in <= 0 || n_in % IT_QK) return -1;
    return n_in / IT_QK * pb;
}

int64_t it_qpack16_bytes(uint32_t type, int64_t n_out, int64_t n_in) {
    int64_t g = it_qpack16_group_bytes(type, n_in);
    return g < 0 || n_out <= 0 ? -1 : (n_out + 15) / 16 * g;
}

void it_qpack16(uint32_t type, const void *w, int64_t row_bytes, int64_t n_out, int64_t n_in, void *out) {
    it_qpack16_groups(type, w, row_bytes, n_out, n_in, 0, (n_out + 15) / 16, out);
}

void it_qpack16_row(uint32_t type, const void *packed, int64_t n_in, int64_t r, void *row) {
    int64_t pb, qoff, qb, bsz;
    if (p16_layout(type, &pb, &qoff, &qb, &bsz)) return;
    const int64_t nb = n_in / IT_QK, g = r / 16, rr = r % 16;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *ib = (const uint8_t *)packed + (g * nb + b) * pb;
        uint8_t *dst = (uint8_t *)row + b * bsz;
        memcpy(dst, ib + 2 * rr, 2);
        if (type == IT_GGML_Q4_1) memcpy(dst + 2, ib + 32 + 2 * rr, 2);
        uint8_t *qs = dst + (type == IT_GGML_Q4_1 ? 4 : 2);
        for (int64_t q = 0; q < qb / 4; q++) memcpy(qs + 4 * q, ib + qoff + q * 64 + 4 * rr, 4);
    }
}

void it_qpack16_groups(uint32_t type, const void *w, int64_t row_bytes, int64_t n_out, int64_t n_in, int64_t g0,
                       int64_t g1, void *out) {
    int64_t pb, qoff, qb, bsz;
    if (p16_layout(type, &pb, &qoff, &qb, &bsz)) return;
    const int64_t nb = n_in / IT_QK;
    uint8_t *o = out;
    memset(o + g0 * nb * pb, 0, (size_t)((g1 - g0) * nb * pb));
    for (int64_t g = g0; g < g1; g++)
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *ob = o + (g * nb + b) * pb;
            for (int r = 0; r < 16 && g * 16 + r < n_out; r++) {
                const uint8_t *src = (const uint8_t *)w + (g * 16 + r) * row_bytes + b * bsz;
                memcpy(ob + 2 * r, src, 2); /* d */
                if (type == IT_GGML_Q4_1) memcpy(ob + 32 + 2 * r, src + 2, 2); /* m */
                const uint8_t *qs = src + (type == IT_GGML_Q4_1 ? 4 : 2);
                for (int64_t q = 0; q < qb / 4; q++) memcpy(ob + qoff + q * 64 + 4 * r, qs + 4 * q, 4);
            }
        }
}

void it_qdot_p16_ref(uint32_t type, const void *wp, int64_t n, int nr, const void *xq, int64_t xs, int64_t T, float *y,
                     int64_t ldy) {
    int64_t pb, qoff, qb, bsz;
    if (p16_layout(type, &pb, &qoff, &qb, &bsz)) return;
    const uint32_t act = type == IT_GGML_Q4_1 ? IT_GGML_Q8_1 : IT_GGML_Q8_0;
    const int64_t nb = n / IT_QK, xbsz = act == IT_GGML_Q8_1 ? 36 : 34, xqoff = act == IT_GGML_Q8_1 ? 4 : 2;
    const int64_t soff = it_qdot_act_scales_off(act, n);
    for (int64_t t = 0; t < T; t++) {
        const uint8_t *xr = (const uint8_t *)xq + t * xs;
        const float *fd = (const float *)(const void *)(xr + soff);
        for (int r = 0; r < nr; r++) {
            float acc = 0, macc = 0;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *wb = (const uint8_t *)wp + b * pb;
                const int8_t *xb = (const int8_t *)(xr + b * xbsz + xqoff);
                int32_t is = 0;
                for (int q = 0; q < 8; q++)
                    for (int j = 0; j < 4; j++) {
                        int wv;
                        if (type == IT_GGML_Q8_0) wv = (int8_t)wb[qoff + q * 64 + 4 * r + j];
                        else {
                            uint8_t byte = wb[qoff + (q & 3) * 64 + 4 * r + j];
                            wv = q < 4 ? byte & 15 : byte >> 4;
                            if (type == IT_GGML_Q4_0) wv -= 8;
                        }
                        is += wv * xb[4 * q + j];
                    }
                uint16_t hd;
                memcpy(&hd, wb + 2 * r, 2);
                acc = fmaf((float)is, it_f16_to_f32(hd) * fd[b], acc);
                if (type == IT_GGML_Q4_1) {
                    uint16_t hm;
                    memcpy(&hm, wb + 32 + 2 * r, 2);
                    macc = fmaf(it_f16_to_f32(hm), fd[nb + b], macc);
                }
            }
            y[t * ldy + r] = type == IT_GGML_Q4_1 ? acc + macc : acc;
        }
    }
}

/* ---- attention over the f16 cache ---- */

void it_qdot_kq_ref(const uint16_t *const *kb, int64_t nb, const float *q, int nh, int group, int64_t hd, float *s,
                    int64_t lds) {
    for (int64_t b = 0; b < nb; b++)
        for (int h = 0; h < nh; h++) {
            const uint16_t *k = kb[b] + (int64_t)(h / group) * hd * 16;
            const float *qh = q + (int64_t)h * hd;
            for (int j = 0; j < 16; j++) {
                float a[4] = {0, 0, 0, 0};
                int64_t d = 0;
                for (; d + 4 <= hd; d += 4)
                    for (int r = 0; r < 4; r++) a[r] = fmaf(qh[d + r], it_f16_to_f32(k[(d + r) * 16 + j]), a[r]);
                for (; d < hd; d++) a[0] = fmaf(qh[d], it_f16_to_f32(k[d * 16 + j]), a[0]);
                s[h * lds + b * 16 + j] = (a[0] + a[1]) + (a[2] + a[3]);
            }
        }
}

void it_qdot_pv_ref(const uint16_t *const *vb, int64_t off, int64_t n, int64_t stride, const float *p, int64_t ldp,
                    int nh, int group, int64_t hd, float *out, int64_t ldo) {
    for (int j = 0; j < nh; j++)
        for (int64_t i = 0; i < n; i++) {
            const uint16_t *v = vb[(off + i) / 16] + (off + i) % 16 * stride + (int64_t)(j / group) * hd;
            for (int64_t k = 0; k < hd; k++) out[j * ldo + k] = fmaf(p[j * ldp + i], it_f16_to_f32(v[k]), out[j * ldo + k]);
        }
}

void it_qdot_softmax_pv_f16t_ref(const uint16_t *const *vb, int64_t p0, int64_t np, float *s, int64_t lds, int nh,
                                 int group, int64_t hd, float *out) {
    if (group > nh) group = nh;
    const int64_t b0 = p0 / 16, b1 = (np - 1) / 16;
    for (int j = 0; j < nh; j++) {
        float *sj = s + j * lds, lane[16] = {0}, m = -INFINITY;
        for (int64_t p = p0; p < np; p++) m = sj[p] > m ? sj[p] : m;
        for (int64_t p = b0 * 16; p < (b1 + 1) * 16; p++) {
            const float t = sj[p] - m;
            sj[p] = p >= p0 && p < np && t >= IT_EXP2_LO ? it_exp2_poly(t) : 0.0f;
            lane[p % 16] += sj[p];
        }
        const float inv = 1.0f / it_tree16(lane);
        const int64_t g = j / group;
        for (int64_t d = 0; d < hd; d++) {
            for (int l = 0; l < 16; l++) lane[l] = 0;
            for (int64_t p = p0; p < np; p++)
                lane[p % 16] = fmaf(sj[p], it_f16_to_f32(vb[p / 16][(g * hd + d) * 16 + p % 16]), lane[p % 16]);
            out[j * hd + d] = it_tree16(lane) * inv;
        }
    }
}

void it_f16_store_ref(uint16_t *dst, int64_t stride, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i * stride] = it_f32_to_f16(x[i]);
}

float it_max_f32_ref(const float *x, int64_t n) {
    float m = x[0];
    for (int64_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

float it_exp_sum_ref(float *y, const float *x, int64_t n, float a, float b) {
    float sum = 0;
    for (int64_t i = 0; i < n; i++) {
        float t = x[i] * a;
        t -= b;
        y[i] = t < IT_EXP_LO ? 0.0f : expf(t);
        sum += y[i];
    }
    return sum;
}

void it_silu_mul_ref(float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i] < 88.0f ? -g[i] : 88.0f)) * u[i];
}

void it_qdot_pv_q8_0_ref(const void *v, int64_t stride, const float *p, int64_t n, int64_t hd, float *out) {
    for (int64_t i = 0; i < n; i++) {
        const it_block_q8_0 *b = (const it_block_q8_0 *)(const void *)((const uint8_t *)v + i * stride);
        for (int64_t k = 0; k < hd; k += 32, b++) {
            const float s = p[i] * it_f16_to_f32(b->d);
            for (int j = 0; j < 32; j++) out[k + j] = fmaf(s, (float)b->qs[j], out[k + j]);
        }
    }
}

float it_dot_f32_ref(const float *a, const float *b, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s = fmaf(a[i], b[i], s);
    return s;
}

static void f32_tile_ref(const float *a, int64_t lda, int nr, const float *x, int64_t ldx, int nt, int64_t n, float *y,
                         int64_t ldy) {
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < nr; r++) y[t * ldy + r] = it_dot_f32_ref(a + r * lda, x + t * ldx, n);
}

static void f16_tile_ref(const uint16_t *a, int64_t lda, int nr, const float *x, int64_t ldx, int nt, int64_t n,
                         float *y, int64_t ldy) {
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < nr; r++) y[t * ldy + r] = it_dot_f16_ref(a + r * lda, x + t * ldx, n);
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
                                        q8_0_x4, q4_0_x4, q4_1_x4, it_qdot_q5_0_ref, it_qdot_q5_1_ref,
                                        it_qdot_q4_K_ref, it_qdot_q5_K_ref, it_qdot_q6_K_ref, NULL, NULL, NULL, /* packed: row kernels */
                                        it_dot_f16_ref,
                                        it_axpy_f16_ref, it_qdot_kq_ref, it_qdot_pv_ref, it_qdot_pv_q8_0_ref, f16_tile_ref, it_dot_f32_ref, f32_tile_ref,
                                        it_qdot_quant_act, it_max_f32_ref, it_f16_store_ref, it_exp_sum_ref, it_silu_mul_ref,
                                        it_qdot_softmax_pv_f16t_ref};

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
