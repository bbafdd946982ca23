/*
 * winograd.c: 3x3 stride-1 convolution by Winograd F(4x4, 3x3), the fast path
 * for the 3x3 layers that dominate VGG, ResNet, Inception and DenseNet. Each
 * 4x4 output tile is computed from a 6x6 input tile with 36 multiplications
 * per channel pair instead of 144: the input tiles are transformed (B^T d B),
 * multiplied elementwise-per-frequency by the pretransformed weights (G g G^T)
 * as 36 independent GEMMs [M x C] @ [C x tiles] that run on the tier's GEMM
 * micro-kernel, and transformed back (A^T m A) with the bias and the fused
 * activation applied on the way out.
 *
 * Work is cut into tasks of (a block of tiles, a group of output channels);
 * each task transforms its tiles straight into the micro-kernel's B panel
 * layout (no packing pass), runs the 36 products into a small buffer kept in
 * L2, and writes its outputs. Groups of output channels exist only to give
 * every thread work when there are few tile blocks (small feature maps). The
 * tile transforms are per-tier kernels (wino_in / wino_out in the table); the
 * portable versions here are the reference the SIMD ones are tested against.
 */
#include <string.h>

#include "kernels.h"

#define WT 6    /* input tile side */
#define WO 4    /* output tile side */
#define NXI 36  /* frequencies: WT * WT */
#define RUN 16  /* the most tiles one transform call handles */
#define STAGE_SLACK 96 /* readable floats past a staged row (SIMD loads of 4*RUN+16) */

struct it_wino_weights {
    int64_t M, C;
    int mr;        /* panel height of the tier it was packed for */
    float *u;      /* [NXI][rup(M, mr) / mr panels][C][mr] */
};

static int64_t rup(int64_t a, int64_t b) { return (a + b - 1) / b * b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ---- portable tile transforms (the reference) ---- */

/* B^T d for one column of 6: o = BT * d */
static void bt6(const float *d, int64_t ds, float *o, int64_t os) {
    float d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds], d4 = d[4 * ds], d5 = d[5 * ds];
    o[0] = 4.f * d0 - 5.f * d2 + d4;
    o[os] = -4.f * (d1 + d2) + d3 + d4;
    o[2 * os] = 4.f * (d1 - d2) - d3 + d4;
    o[3 * os] = 2.f * (d3 - d1) + (d4 - d2);
    o[4 * os] = 2.f * (d1 - d3) + (d4 - d2);
    o[5 * os] = 4.f * d1 - 5.f * d3 + d5;
}

void it_wino_in_ref(const float *src, int64_t ld, int n, float *dst, int64_t xs);
void it_wino_in_ref(const float *src, int64_t ld, int n, float *dst, int64_t xs) {
    for (int t = 0; t < n; t++) {
        const float *s = src + 4 * t;
        float tmp[WT][WT], v[WT][WT];
        for (int c = 0; c < WT; c++) bt6(s + c, ld, &tmp[0][c], WT);      /* rows: tmp = BT d */
        for (int r = 0; r < WT; r++) bt6(&tmp[r][0], 1, &v[r][0], 1);     /* cols: v = tmp B */
        for (int r = 0; r < WT; r++)
            for (int c = 0; c < WT; c++) dst[(r * WT + c) * xs + t] = v[r][c];
    }
}

/* A^T m for one column of 6 */
static void at6(const float *m, int64_t ms, float *o, int64_t os) {
    float m0 = m[0], m1 = m[ms], m2 = m[2 * ms], m3 = m[3 * ms], m4 = m[4 * ms], m5 = m[5 * ms];
    float a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
    o[0] = m0 + a + c;
    o[os] = b + 2.f * d;
    o[2 * os] = a + 4.f * c;
    o[3 * os] = b + 8.f * d + m5;
}

/* the activations the tile kernels apply themselves */
static int tile_act(int kind) {
    return kind == IT_ACT_RELU || kind == IT_ACT_CLIP || kind == IT_ACT_LEAKY || kind == IT_ACT_HARDSIGMOID ||
           kind == IT_ACT_HARDSWISH;
}

void it_wino_out_ref(const float *src, int64_t xs, int n, float *dst, float bias, const it_act *act);
void it_wino_out_ref(const float *src, int64_t xs, int n, float *dst, float bias, const it_act *act) {
    for (int t = 0; t < n; t++) {
        float m[WT][WT], tmp[WO][WT], o[WO][WO];
        for (int r = 0; r < WT; r++)
            for (int c = 0; c < WT; c++) m[r][c] = src[(r * WT + c) * xs + t];
        for (int c = 0; c < WT; c++) at6(&m[0][c], WT, &tmp[0][c], WT);
        for (int r = 0; r < WO; r++) at6(&tmp[r][0], 1, &o[r][0], 1);
        for (int r = 0; r < WO; r++)
            for (int c = 0; c < WO; c++) dst[r * (4 * RUN) + 4 * t + c] = o[r][c] + bias;
    }
    if (act && tile_act(act->kind))
        for (int r = 0; r < WO; r++) it_act_apply(dst + r * 4 * RUN, 4 * n, act);
}

/* ---- weights: U[xi] = G g G^T, packed in mr-row panels over all of C ---- */

it_wino_weights *it_wino_pack_for(const it_kernel_table *kt, const float *w, int64_t M, int64_t C) {
    static const double G[WT][3] = {{0.25, 0, 0},          {-1. / 6, -1. / 6, -1. / 6}, {-1. / 6, 1. / 6, -1. / 6},
                                    {1. / 24, 1. / 12, 1. / 6}, {1. / 24, -1. / 12, 1. / 6}, {0, 0, 1}};
    if (!kt || M < 1 || C < 1) return NULL;
    it_wino_weights *p = it_calloc(sizeof *p);
    if (!p) return NULL;
    int mr = kt->mr;
    int64_t Mp = rup(M, mr);
    p->M = M; p->C = C; p->mr = mr;
    p->u = it_calloc(sizeof(float) * (size_t)(NXI * Mp * C));
    if (!p->u) { it_free(p); return NULL; }
    for (int64_t m = 0; m < M; m++)
        for (int64_t c = 0; c < C; c++) {
            const float *g = w + (m * C + c) * 9;
            double t[WT][3], u[WT][WT];
            for (int i = 0; i < WT; i++)
                for (int j = 0; j < 3; j++) t[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
            for (int i = 0; i < WT; i++)
                for (int j = 0; j < WT; j++) u[i][j] = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
            for (int xi = 0; xi < NXI; xi++)
                p->u[(xi * Mp + m / mr * mr) * C + c * mr + m % mr] = (float)u[xi / WT][xi % WT];
        }
    return p;
}

it_wino_weights *it_wino_pack(const float *w, int64_t M, int64_t C) { return it_wino_pack_for(it_kernels(), w, M, C); }

void it_wino_free(it_wino_weights *p) {
    if (!p) return;
    it_free(p->u);
    it_free(p);
}

/* ---- the convolution ---- */

typedef struct wjob {
    const it_kernel_table *kt;
    void (*win)(const float *src, int64_t ld, int n, float *dst, int64_t xs);
    void (*wout)(const float *src, int64_t xs, int n, float *dst, float bias, const it_act *act);
    const it_wino_weights *wp;
    const float *x, *bias;
    float *y;
    int64_t H, W, OH, OW, pt, pl, tx, ty, T;  /* tiles across, down, in all */
    int64_t tb, mc, mgroup, n_mg;             /* tiles per block, rows per chunk, rows per group */
    it_act act;
    float *ws;                                /* per-thread workspace */
    int64_t ws_floats, v_floats, o_floats;
} wjob;

/* transform tiles [t0, t0 + nt) of every channel into V (B panels, nr wide) */
static void input_block(const wjob *j, float *V, float *stage, int64_t t0, int64_t nt) {
    int nr = j->kt->nr, run = nr < RUN ? nr : RUN;
    int64_t C = j->wp->C, np = (nt + nr - 1) / nr, xs = np * C * nr;
    if (nt % nr) /* zero the unused columns of the last panel: the micro-kernel reads them */
        for (int64_t xi = 0; xi < NXI; xi++)
            for (int64_t c = 0; c < C; c++) {
                float *d = V + xi * xs + (np - 1) * C * nr + c * nr;
                memset(d + nt % nr, 0, sizeof(float) * (size_t)(nr - nt % nr));
            }
    for (int64_t t = t0; t < t0 + nt;) {
        int64_t ty = t / j->tx, txa = t % j->tx, txb = min64(j->tx, txa + (t0 + nt - t)); /* tiles [txa, txb) */
        int64_t ih0 = ty * WO - j->pt, iw0 = txa * WO - j->pl, sw = (txb - txa) * WO + 2;
        int64_t ld = rup(sw, 16) + STAGE_SLACK;
        for (int64_t c = 0; c < C; c++) {
            const float *xc = j->x + c * j->H * j->W;
            /* stage the 6 input rows under these tiles, zero-padded */
            for (int r = 0; r < WT; r++) {
                float *srow = stage + r * ld;
                int64_t ih = ih0 + r;
                if (ih < 0 || ih >= j->H) { memset(srow, 0, sizeof(float) * (size_t)sw); continue; }
                const float *xr = xc + ih * j->W;
                int64_t a = iw0 < 0 ? -iw0 : 0, b = min64(sw, j->W - iw0);
                if (a > 0) memset(srow, 0, sizeof(float) * (size_t)a);
                if (b > a) memcpy(srow + a, xr + iw0 + a, sizeof(float) * (size_t)(b - a));
                else b = a;
                if (b < sw) memset(srow + b, 0, sizeof(float) * (size_t)(sw - b));
            }
            for (int64_t q = txa; q < txb;) {
                int64_t tl = t + (q - txa) - t0; /* local tile index */
                int n = (int)min64(txb - q, run - tl % run);
                j->win(stage + (q - txa) * WO, ld, n, V + (tl / nr) * C * nr + c * nr + tl % nr, xs);
                q += n;
            }
        }
        t += txb - txa;
    }
}

static void wino_task(void *arg, int64_t b, int64_t e, int tid) {
    const wjob *j = arg;
    const it_kernel_table *kt = j->kt;
    int mr = kt->mr, nr = kt->nr;
    int64_t C = j->wp->C, M = j->wp->M, Mp = rup(M, mr);
    float *V = j->ws + (size_t)tid * (size_t)j->ws_floats, *O = V + j->v_floats, *stage = O + j->o_floats;
    for (int64_t task = b; task < e; task++) {
        int64_t blk = task / j->n_mg, g = task % j->n_mg;
        int64_t t0 = blk * j->tb, nt = min64(j->T - t0, j->tb), np = (nt + nr - 1) / nr, ldo = np * nr;
        int64_t vxs = np * C * nr;
        int64_t mg0 = g * j->mgroup, mg1 = min64(M, mg0 + j->mgroup);
        input_block(j, V, stage, t0, nt);
        for (int64_t m0 = mg0; m0 < mg1; m0 += j->mc) {
            int64_t mc = min64(mg1 - m0, j->mc), oxs = mc * ldo;
            for (int xi = 0; xi < NXI; xi++) {
                const float *U = j->wp->u + ((int64_t)xi * Mp + m0) * C;
                for (int64_t p = 0; p < np; p++) {
                    int n = (int)min64(nt - p * nr, nr);
                    const float *vb = V + xi * vxs + p * C * nr;
                    for (int64_t mm = 0; mm < mc; mm += mr)
                        kt->sgemm_micro(C, U + mm * C, vb, O + xi * oxs + mm * ldo + p * nr, ldo, 0,
                                        (int)min64(mc - mm, mr), n, NULL);
                }
            }
            /* back to the spatial domain, bias and activation, clipped to the output */
            float ost[WO * WO * RUN];
            for (int64_t mm = 0; mm < mc; mm++) {
                int64_t m = m0 + mm;
                float bias = j->bias ? j->bias[m] : 0.f;
                float *ym = j->y + m * j->OH * j->OW;
                for (int64_t t = t0; t < t0 + nt;) {
                    int64_t ty = t / j->tx, txa = t % j->tx;
                    int n = (int)min64(min64(j->tx - txa, t0 + nt - t), RUN);
                    j->wout(O + mm * ldo + (t - t0), oxs, n, ost, bias, &j->act);
                    int64_t ow0 = txa * WO, w = min64(j->OW - ow0, (int64_t)n * WO);
                    for (int r = 0; r < WO && ty * WO + r < j->OH; r++) {
                        float *yr = ym + (ty * WO + r) * j->OW + ow0;
                        memcpy(yr, ost + r * WO * RUN, sizeof(float) * (size_t)w);
                        if (j->act.kind && !tile_act(j->act.kind)) it_act_apply(yr, w, &j->act);
                    }
                    t += n;
                }
            }
        }
    }
}

int it_wino_useful(const it_kernel_table *kt, int64_t M, int64_t C, int64_t OH, int64_t OW) {
    if (!kt || M < 8 || C < 8) return 0;
    int64_t nr = kt->nr, T = ((OH + WO - 1) / WO) * ((OW + WO - 1) / WO);
    /* GEMM columns times depth: 36 per tile vs 9 per output pixel, both padded to panels;
       the transforms cost about a quarter of a product at these widths */
    double wino = 36.0 * (double)rup(T, nr) * 1.3, direct = 9.0 * (double)rup(OH * OW, nr);
    return wino < 0.8 * direct;
}

int it_wino_conv_for(const it_kernel_table *kt, it_threadpool *tp, const it_wino_weights *wp, const float *x,
                     int64_t H, int64_t W, int64_t pt, int64_t pl, float *y, int64_t OH, int64_t OW,
                     const float *bias, const it_act *act) {
    if (!kt || !wp || wp->mr != kt->mr) return -1;
    wjob j;
    memset(&j, 0, sizeof j);
    j.kt = kt;
    j.win = kt->wino_in ? kt->wino_in : it_wino_in_ref;
    j.wout = kt->wino_out ? kt->wino_out : it_wino_out_ref;
    j.wp = wp; j.x = x; j.bias = bias; j.y = y;
    j.H = H; j.W = W; j.OH = OH; j.OW = OW; j.pt = pt; j.pl = pl;
    j.tx = (OW + WO - 1) / WO; j.ty = (OH + WO - 1) / WO; j.T = j.tx * j.ty;
    if (act) j.act = *act;
    int nr = kt->nr, mr = kt->mr;
    int64_t C = wp->C, M = wp->M;
    int nthr = it_threadpool_size(tp);
    /* tile block: its transformed input (36 x C x tb) within ~1 MiB, at least one panel */
    int64_t tb = (int64_t)(1 << 20) / (NXI * 4 * C) / nr * nr;
    if (tb < nr) tb = nr;
    if (tb > 8 * nr) tb = 8 * nr;
    if (tb > rup(j.T, nr)) tb = rup(j.T, nr);
    int64_t blocks = (j.T + tb - 1) / tb;
    /* balance: with few blocks split them finer, then split the output channels */
    while (nthr > 1 && blocks < 2 * nthr && tb > nr) {
        tb -= nr;
        blocks = (j.T + tb - 1) / tb;
    }
    int64_t n_mg = 1;
    if (nthr > 1 && blocks < 2 * nthr) {
        n_mg = (2 * nthr + blocks - 1) / blocks;
        int64_t maxg = (M + 4 * mr - 1) / (4 * mr); /* groups of at least 4 panels */
        if (blocks * maxg < nthr) {
            /* a tiny map (one block) with few channels: smaller groups, just enough
               for every thread, rather than threads idle (each group repeats the
               input transform, the smaller part of the work) */
            n_mg = (nthr + blocks - 1) / blocks;
            maxg = (M + mr - 1) / mr;
        }
        if (n_mg > maxg) n_mg = maxg;
        if (n_mg < 1) n_mg = 1;
    }
    j.mgroup = rup((M + n_mg - 1) / n_mg, mr);
    n_mg = (M + j.mgroup - 1) / j.mgroup;
    j.tb = tb; j.n_mg = n_mg;
    /* rows per product chunk: its 36 outputs (36 x mc x tb) within ~512 KiB */
    int64_t mc = (int64_t)(512 << 10) / (NXI * 4 * tb) / mr * mr;
    if (mc < mr) mc = mr;
    j.mc = min64(mc, j.mgroup);
    j.v_floats = NXI * C * tb;
    j.o_floats = NXI * j.mc * tb;
    int64_t stage_floats = WT * (rup(j.tx * WO + 2, 16) + STAGE_SLACK);
    j.ws_floats = rup(j.v_floats + j.o_floats + stage_floats, 16);
    size_t bytes = sizeof(float) * (size_t)j.ws_floats * (size_t)nthr;
    void *own = NULL;
    j.ws = it_threadpool_scratch(tp, 3, bytes);
    if (!j.ws) j.ws = own = it_malloc(bytes);
    if (!j.ws) return -1;
    it_parallel_for(tp, blocks * n_mg, 1, wino_task, &j);
    it_free(own);
    return 0;
}

int it_wino_conv(it_threadpool *tp, const it_wino_weights *wp, const float *x, int64_t H, int64_t W, int64_t pt,
                 int64_t pl, float *y, int64_t OH, int64_t OW, const float *bias, const it_act *act) {
    return it_wino_conv_for(it_kernels(), tp, wp, x, H, W, pt, pl, y, OH, OW, bias, act);
}
