/*
 * conv.c: operator family 'conv': Conv, ConvTranspose, DeformConv and the
 * pooling operators (MaxPool, AveragePool, LpPool, GlobalAveragePool,
 * GlobalMaxPool, MaxUnpool), NCHW with 1-3 spatial dims.
 *
 * The workload is CNN inference (ResNet, MobileNet, BlazeFace, 1-D audio
 * front ends), so float32 Conv is the hot path: constant weights are packed
 * once per group in prepare(); 1x1 stride-1 convs multiply the input directly
 * (no im2col); other convs pack input patches straight into the GEMM's panel
 * layout (implicit GEMM, no im2col buffer); depthwise convs (one channel per
 * group) run a SIMD row kernel over a zero-padded copy of each plane. Bias and
 * the fused activation (node->act) are applied in the GEMM epilogue. Other
 * float types go through float32 copies.
 */
#include "ops.h"

#define MAXSP 3 /* spatial dims handled */

/* ---- geometry shared by convs and pools ---- */
typedef struct geo {
    int nd;
    int64_t in[MAXSP], out[MAXSP], k[MAXSP], s[MAXSP], d[MAXSP], pb[MAXSP], pe[MAXSP];
} geo;

/* Read kernel/strides/dilations/pads/auto_pad; kernel from `kdims` when not an attribute. */
static int geo_attrs(it_opctx *c, geo *g, int nd, const int64_t *in, const int64_t *kdims) {
    const it_node *n = c->node;
    if (nd < 1 || nd > MAXSP) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "%d spatial dims (1 to 3 supported)", nd);
    g->nd = nd;
    const int64_t *v;
    int cnt = it_attr_ints(n, "kernel_shape", &v);
    if (cnt) {
        if (cnt != nd) return it_opfail(c, INGOT_ERR_FORMAT, "kernel_shape has %d values for %d spatial dims", cnt, nd);
        for (int i = 0; i < nd; i++) g->k[i] = v[i];
    } else if (kdims) {
        for (int i = 0; i < nd; i++) g->k[i] = kdims[i];
    } else {
        return it_opfail(c, INGOT_ERR_FORMAT, "kernel_shape missing");
    }
    for (int i = 0; i < nd; i++) {
        g->in[i] = in[i];
        g->s[i] = g->d[i] = 1;
        g->pb[i] = g->pe[i] = 0;
        if (g->k[i] < 1 || g->k[i] > (1 << 20)) return it_opfail(c, INGOT_ERR_FORMAT, "bad kernel size %lld", (long long)g->k[i]);
    }
    cnt = it_attr_ints(n, "strides", &v);
    if (cnt && cnt != nd) return it_opfail(c, INGOT_ERR_FORMAT, "strides has %d values", cnt);
    for (int i = 0; i < cnt; i++) g->s[i] = v[i];
    cnt = it_attr_ints(n, "dilations", &v);
    if (cnt && cnt != nd) return it_opfail(c, INGOT_ERR_FORMAT, "dilations has %d values", cnt);
    for (int i = 0; i < cnt; i++) g->d[i] = v[i];
    cnt = it_attr_ints(n, "pads", &v);
    if (cnt && cnt != 2 * nd) return it_opfail(c, INGOT_ERR_FORMAT, "pads has %d values", cnt);
    for (int i = 0; i < cnt / 2; i++) { g->pb[i] = v[i]; g->pe[i] = v[i + nd]; }
    for (int i = 0; i < nd; i++)
        if (g->s[i] < 1 || g->d[i] < 1 || g->s[i] > (1 << 20) || g->d[i] > (1 << 20) || g->pb[i] < 0 || g->pe[i] < 0 ||
            g->pb[i] > (1 << 24) || g->pe[i] > (1 << 24))
            return it_opfail(c, INGOT_ERR_FORMAT, "bad strides, dilations or pads");
    return 0;
}

/* Output sizes (and SAME pads). ceil: pools' ceil_mode. */
static int geo_out(it_opctx *c, geo *g, int ceil) {
    const char *ap = it_attr_str(c->node, "auto_pad", "NOTSET");
    int same_u = !strcmp(ap, "SAME_UPPER"), same_l = !strcmp(ap, "SAME_LOWER"), valid = !strcmp(ap, "VALID");
    for (int i = 0; i < g->nd; i++) {
        int64_t ext = g->d[i] * (g->k[i] - 1) + 1;
        if (same_u || same_l) {
            int64_t o = (g->in[i] + g->s[i] - 1) / g->s[i];
            int64_t tot = (o - 1) * g->s[i] + ext - g->in[i];
            if (tot < 0) tot = 0;
            g->pb[i] = same_u ? tot / 2 : tot - tot / 2;
            g->pe[i] = tot - g->pb[i];
            g->out[i] = o;
            continue;
        }
        if (valid) g->pb[i] = g->pe[i] = 0;
        int64_t span = g->in[i] + g->pb[i] + g->pe[i] - ext;
        if (span < 0) return it_opfail(c, INGOT_ERR_SHAPE, "kernel larger than the padded input");
        int64_t o = (ceil ? (span + g->s[i] - 1) / g->s[i] : span / g->s[i]) + 1;
        if (ceil && (o - 1) * g->s[i] >= g->in[i] + g->pb[i]) o--;
        g->out[i] = o;
    }
    return 0;
}

/* ---- float32 staging for other float types ---- */
static float *as_f32(it_opctx *c, const it_tensor *t) {
    if (t->dtype == IT_F32) return t->data;
    int64_t n = it_count(t);
    float *p = it_scratch(c, sizeof(float) * (size_t)(n ? n : 1));
    if (!p) return NULL;
    if (it_convert(p, IT_F32, t->data, t->dtype, n, 0)) return NULL;
    return p;
}

static int float_type(int dt) { return dt == IT_F32 || dt == IT_F64 || dt == IT_F16 || dt == IT_BF16; }

/* ================= Conv ================= */

typedef struct conv_state {
    const void *src; /* the weight data packed (a fed input with other data skips the state) */
    int64_t groups, Mg, Kg;
    it_packed **pk; /* one packed [Mg, Kg] weight per group (NULL entries: raw weights) */
    it_wino_weights *wino; /* 3x3 stride-1 one-group convs: Winograd-transformed weights */
    it_packed *pkT; /* one-group convs with few output positions (1-D audio front ends, 1x1
                       convs on 1x1 maps): W^T [Kg, M] packed as the B operand, for Y^T = P W^T */
} conv_state;

static void conv_free(void *p) {
    conv_state *s = p;
    if (!s) return;
    for (int64_t g = 0; g < s->groups && s->pk; g++) it_packed_free(s->pk[g]);
    free(s->pk);
    it_wino_free(s->wino);
    it_packed_free(s->pkT);
    free(s);
}

/* A constant input, including initializers that old models also list as graph
 * inputs (IR < 4): run() checks the data pointer, so a fed value is never mixed up. */
static const it_tensor *const_weight(const it_graph *g, const it_node *n, int i) {
    const it_tensor *t = it_node_const_input(g, n, i);
    if (t || i >= n->n_in || n->in[i] < 0) return t;
    const it_valdef *d = &g->values[n->in[i]];
    return d->is_const ? &d->cval : NULL;
}

/* Does the filter fit Winograd F(4x4,3x3)? 2-D 3x3, stride 1, dilation 1, one group. */
static int wino_shape(const it_node *n, const it_tensor *w, int64_t groups) {
    if (w->ndim != 4 || w->dims[2] != 3 || w->dims[3] != 3 || groups != 1) return 0;
    const int64_t *v;
    int cnt = it_attr_ints(n, "strides", &v);
    for (int i = 0; i < cnt; i++) if (v[i] != 1) return 0;
    cnt = it_attr_ints(n, "dilations", &v);
    for (int i = 0; i < cnt; i++) if (v[i] != 1) return 0;
    return w->dims[0] >= 8 && w->dims[1] >= 8;
}

/* output size of a 3x3 stride-1 conv node from declared input sizes (prepare time) */
static int conv_out_hw(const it_node *n, int64_t H, int64_t W, geo *g) {
    it_opctx c;
    it_err e;
    memset(&c, 0, sizeof c);
    c.node = n;
    c.err = &e;
    int64_t in[2] = {H, W}, k[2] = {3, 3};
    return geo_attrs(&c, g, 2, in, k) == 0 && geo_out(&c, g, 0) == 0;
}

/* Is value v a map of one spatial position? Produced by a global pool, or by 1x1 convs
 * and activations applied to one (the squeeze-excitation blocks of MobileNetV3). */
static int unit_map(const it_graph *gr, int v, int depth) {
    if (v < 0 || v >= gr->n_values || depth > 8) return 0;
    int p = gr->values[v].producer;
    if (p < 0 || p >= gr->n_nodes) return 0;
    const it_node *pn = &gr->nodes[p];
    const char *op = pn->op_type;
    if (pn->domain && pn->domain[0] && strcmp(pn->domain, "ai.onnx")) return 0;
    if (!strcmp(op, "GlobalAveragePool") || !strcmp(op, "GlobalMaxPool")) return 1;
    if (pn->n_in < 1) return 0;
    if (!strcmp(op, "Conv")) {
        if (pn->n_in < 2 || pn->in[1] < 0) return 0;
        const it_valdef *wd = &gr->values[pn->in[1]];
        if (!wd->is_const || wd->cval.ndim < 3) return 0;
        for (int i = 2; i < wd->cval.ndim; i++)
            if (wd->cval.dims[i] != 1) return 0;
        const int64_t *pads;
        int np = it_attr_ints(pn, "pads", &pads);
        for (int i = 0; i < np; i++)
            if (pads[i]) return 0;
        return unit_map(gr, pn->in[0], depth + 1);
    }
    static const char *const unary[] = {"Relu", "Clip", "HardSigmoid", "HardSwish", "Sigmoid", "LeakyRelu", "Tanh"};
    for (size_t i = 0; i < sizeof unary / sizeof unary[0]; i++)
        if (!strcmp(op, unary[i])) return unit_map(gr, pn->in[0], depth + 1);
    return 0;
}

/* output positions per image from the input's declared shape; -1 when unknown */
static int64_t conv_declared_osz(const it_node *n, const it_graph *gr, const it_tensor *w) {
    const it_valdef *xd = n->n_in > 0 && n->in[0] >= 0 ? &gr->values[n->in[0]] : NULL;
    int nd = w->ndim - 2;
    if (nd >= 1 && nd <= MAXSP && n->n_in > 0 && unit_map(gr, n->in[0], 0)) {
        const int64_t *pads;
        int np = it_attr_ints(n, "pads", &pads), zero = 1;
        for (int i = 0; i < np; i++)
            if (pads[i]) zero = 0;
        for (int i = 2; i < w->ndim; i++)
            if (w->dims[i] != 1) zero = 0;
        if (zero) return 1; /* 1x1 kernel, no pads: one output position */
    }
    if (!xd || !xd->has_type || xd->type.ndim != w->ndim || nd < 1 || nd > MAXSP) return -1;
    int64_t in[MAXSP];
    for (int i = 0; i < nd; i++)
        if ((in[i] = xd->type.dims[2 + i]) <= 0) return -1;
    it_opctx c;
    it_err e;
    memset(&c, 0, sizeof c);
    c.node = n;
    c.err = &e;
    geo g;
    if (geo_attrs(&c, &g, nd, in, w->dims + 2) || geo_out(&c, &g, 0)) return -1;
    int64_t osz = 1;
    for (int i = 0; i < nd; i++) osz *= g.out[i];
    return osz;
}

static int conv_prepare(it_node *n, const it_graph *gr, it_err *e) {
    const it_tensor *w = const_weight(gr, n, 1);
    if (!w || w->dtype != IT_F32 || w->ndim < 3) return 0;
    int64_t groups = it_attr_int(n, "group", 1);
    int64_t M = w->dims[0];
    if (groups < 1 || M % groups || M < 1) return 0;
    int64_t Kg = 1;
    for (int i = 1; i < w->ndim; i++) Kg *= w->dims[i];
    if (Kg <= 0 || M * Kg != it_count(w)) return 0;
    int64_t Mg = M / groups;
    if (Mg == 1 && w->dims[1] == 1 && w->ndim <= 4) return 0; /* depthwise: direct kernel */
    conv_state *s = calloc(1, sizeof *s);
    if (!s) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    s->groups = groups; s->Mg = Mg; s->Kg = Kg; s->src = w->data;
    s->pk = calloc((size_t)groups, sizeof *s->pk);
    if (!s->pk) { conv_free(s); return it_fail(e, INGOT_ERR_NOMEM, "out of memory"); }
    /* Winograd for 3x3, stride 1, dilation 1, one group; when the input's spatial size
       is declared and Winograd wins there, the direct packing is not needed */
    int wino_only = 0;
    if (wino_shape(n, w, groups)) {
        const it_valdef *xd = n->n_in > 0 && n->in[0] >= 0 ? &gr->values[n->in[0]] : NULL;
        int64_t H = -1, W = -1;
        if (xd && xd->has_type && xd->type.ndim == 4) { H = xd->type.dims[2]; W = xd->type.dims[3]; }
        int known = H > 0 && W > 0;
        geo g0;
        int64_t OH = H, OW = W;
        if (known && conv_out_hw(n, H, W, &g0)) { OH = g0.out[0]; OW = g0.out[1]; } else known = 0;
        if (!known || it_wino_useful(it_kernels(), M, w->dims[1], OH, OW)) {
            s->wino = it_wino_pack(w->data, M, w->dims[1]);
            if (!s->wino) { conv_free(s); return it_fail(e, INGOT_ERR_NOMEM, "out of memory"); }
            wino_only = known;
        }
    }
    /* few output positions: Y^T = patches^T W^T, M across the micro-kernel's columns */
    int64_t osz = conv_declared_osz(n, gr, w);
    int small_only = 0;
    if (groups == 1 && w->ndim <= 4 && !s->wino && (osz > 0 ? osz < it_kernels()->nr : w->ndim == 3)) {
        s->pkT = it_sgemm_pack(1, 1, Kg, M, w->data, Kg);
        if (!s->pkT) { conv_free(s); return it_fail(e, INGOT_ERR_NOMEM, "out of memory"); }
        small_only = osz > 0;
    }
    for (int64_t g = 0; g < groups && !wino_only && !small_only; g++) {
        s->pk[g] = it_sgemm_pack(0, 0, Mg, Kg, (const float *)w->data + g * Mg * Kg, Kg);
        if (!s->pk[g]) { conv_free(s); return it_fail(e, INGOT_ERR_NOMEM, "out of memory"); }
    }
    conv_free(n->state);
    n->state = s;
    return 0;
}

/* implicit GEMM: B[k][col] = x[c][oh*sh - pt + i*dh][ow*sw - pl + j*dw], k = (c*kh + i)*kw + j */
typedef struct patch_ctx {
    const float *x;       /* first channel of the group */
    int nd;
    int64_t H, W, OH, OW, kh, kw, sh, sw, dh, dw, pt, pl;
    const geo *g;         /* for the generic (3-D) packer */
} patch_ctx;

/* columns [n0, n0+nc) into consecutive nr-wide panels (column t of the range lands in
 * panel t / nr), walking each patch row across all columns: contiguous input reads */
static void pack_patches_2d(void *arg, float *dst, int64_t k0, int64_t kc, int64_t n0, int64_t nc, int nr) {
    const patch_ctx *p = arg;
    int64_t khw = p->kh * p->kw;
    int64_t c = k0 / khw, r = k0 % khw, i = r / p->kw, j = r % p->kw;
    int64_t oh0 = n0 / p->OW, ow0 = n0 % p->OW, pstride = kc * nr, ncp = (nc + nr - 1) / nr * nr;
    for (int64_t kk = 0; kk < kc; kk++) {
        float *drow = dst + kk * nr;
        const float *xc = p->x + c * p->H * p->W;
        int64_t oh = oh0, ow = ow0, t = 0;
        while (t < nc) {
            int64_t len = p->OW - ow, room = nr - t % nr;
            if (len > nc - t) len = nc - t;
            if (len > room) len = room;
            float *d = drow + (t / nr) * pstride + t % nr;
            int64_t ih = oh * p->sh - p->pt + i * p->dh;
            if (ih < 0 || ih >= p->H) {
                memset(d, 0, sizeof(float) * (size_t)len);
            } else {
                const float *row = xc + ih * p->W;
                int64_t iw = ow * p->sw - p->pl + j * p->dw;
                if (p->sw == 1 && iw >= 0 && iw + len <= p->W) {
                    memcpy(d, row + iw, sizeof(float) * (size_t)len);
                } else {
                    /* zeros left of the row, a branch-free strided run, zeros right of it */
                    int64_t sw = p->sw, q = 0;
                    int64_t q0 = iw >= 0 ? 0 : (-iw + sw - 1) / sw;
                    int64_t q1 = iw > p->W - 1 ? 0 : (p->W - 1 - iw) / sw + 1;
                    if (q0 > len) q0 = len;
                    if (q1 > len) q1 = len;
                    for (; q < q0; q++) d[q] = 0.f;
                    if (sw == 1) {
                        if (q1 > q) memcpy(d + q, row + iw + q, sizeof(float) * (size_t)(q1 - q));
                        q = q1 > q ? q1 : q;
                    } else if (sw == 2) {
                        const float *r = row + iw;
                        for (; q + 4 <= q1; q += 4) {
                            float a0 = r[2 * q], a1 = r[2 * q + 2], a2 = r[2 * q + 4], a3 = r[2 * q + 6];
                            d[q] = a0; d[q + 1] = a1; d[q + 2] = a2; d[q + 3] = a3;
                        }
                        for (; q < q1; q++) d[q] = r[2 * q];
                    } else {
                        for (; q < q1; q++) d[q] = row[iw + q * sw];
                    }
                    for (; q < len; q++) d[q] = 0.f;
                }
            }
            t += len;
            ow += len;
            if (ow == p->OW) { ow = 0; oh++; }
        }
        for (; t < ncp; t++) drow[(t / nr) * pstride + t % nr] = 0;
        if (++j == p->kw) { j = 0; if (++i == p->kh) { i = 0; c++; } }
    }
}

/* any spatial rank (used for 3-D): one element at a time */
static void pack_patches_nd(void *arg, float *dst, int64_t k0, int64_t kc, int64_t n0, int64_t nc, int nr) {
    const patch_ctx *p = arg;
    const geo *g = p->g;
    int nd = g->nd;
    int64_t ksz = 1, isz = 1, osz = 1;
    for (int a = 0; a < nd; a++) { ksz *= g->k[a]; isz *= g->in[a]; osz *= g->out[a]; }
    (void)osz;
    for (int64_t kk = 0; kk < kc; kk++) {
        int64_t k = k0 + kk, c = k / ksz, kr = k % ksz;
        int64_t kidx[MAXSP];
        for (int a = nd - 1; a >= 0; a--) { kidx[a] = kr % g->k[a]; kr /= g->k[a]; }
        float *d = dst + kk * nr;
        int64_t ncp = (nc + nr - 1) / nr * nr;
        for (int64_t t = 0; t < nc; t++) {
            int64_t col = n0 + t, off = 0, ok = 1;
            int64_t oidx[MAXSP];
            for (int a = nd - 1; a >= 0; a--) { oidx[a] = col % g->out[a]; col /= g->out[a]; }
            for (int a = 0; a < nd; a++) {
                int64_t pos = oidx[a] * g->s[a] - g->pb[a] + kidx[a] * g->d[a];
                if (pos < 0 || pos >= g->in[a]) { ok = 0; break; }
                off = off * g->in[a] + pos;
            }
            d[(t / nr) * kc * nr + t % nr] = ok ? p->x[c * isz + off] : 0.f;
        }
        for (int64_t t = nc; t < ncp; t++) d[(t / nr) * kc * nr + t % nr] = 0;
    }
}

/* depthwise: one plane per task, copied into a zero-padded per-thread buffer */
typedef struct dw_job {
    const float *x, *w, *bias;
    float *y, *buf;
    int64_t C, H, W, OH, OW, kh, kw, sh, sw, dh, dw, pt, pl, PH, PW, bufsz;
    it_act act;
    it_dwconv_row_fn row;
} dw_job;

static void dw_task(void *arg, int64_t b, int64_t e, int tid) {
    dw_job *j = arg;
    float *plane = j->buf + (size_t)tid * (size_t)j->bufsz;
    memset(plane, 0, sizeof(float) * (size_t)j->bufsz);
    const float *rows[64];
    for (int64_t pidx = b; pidx < e; pidx++) {
        int64_t ch = pidx % j->C;
        const float *xs = j->x + pidx * j->H * j->W;
        for (int64_t h = 0; h < j->H; h++)
            memcpy(plane + (h + j->pt) * j->PW + j->pl, xs + h * j->W, sizeof(float) * (size_t)j->W);
        const float *w = j->w + ch * j->kh * j->kw;
        float bias = j->bias ? j->bias[ch] : 0.f;
        float *ys = j->y + pidx * j->OH * j->OW;
        for (int64_t oh = 0; oh < j->OH; oh++) {
            for (int64_t i = 0; i < j->kh; i++) rows[i] = plane + (oh * j->sh + i * j->dh) * j->PW;
            float *out = ys + oh * j->OW;
            j->row(out, j->OW, rows, w, (int)j->kh, (int)j->kw, (int)j->sw, (int)j->dw, bias);
            if (j->act.kind) it_act_apply(out, j->OW, &j->act);
        }
    }
}

static int conv_depthwise(it_opctx *c, const geo *g, const float *x, const float *w, const float *bias, float *y,
                          int64_t N, int64_t C) {
    dw_job j;
    memset(&j, 0, sizeof j);
    j.x = x; j.w = w; j.bias = bias; j.y = y; j.C = C;
    int two = g->nd == 2;
    j.H = two ? g->in[0] : 1; j.W = g->in[two];
    j.OH = two ? g->out[0] : 1; j.OW = g->out[two];
    j.kh = two ? g->k[0] : 1; j.kw = g->k[two];
    j.sh = two ? g->s[0] : 1; j.sw = g->s[two];
    j.dh = two ? g->d[0] : 1; j.dw = g->d[two];
    j.pt = two ? g->pb[0] : 0; j.pl = g->pb[two];
    int64_t needh = (j.OH - 1) * j.sh + (j.kh - 1) * j.dh + 1, needw = (j.OW - 1) * j.sw + (j.kw - 1) * j.dw + 1;
    j.PH = j.H + j.pt > needh ? j.H + j.pt : needh;
    j.PW = j.W + j.pl > needw ? j.W + j.pl : needw;
    j.bufsz = j.PH * j.PW + 64;
    j.act = c->node->act;
    j.row = it_kernels()->dwconv_row;
    int nthr = it_threadpool_size(c->tp);
    int64_t tot;
    if (!it_mul_ok(j.bufsz, nthr, &tot) || tot > IT_LIMIT_ELEMENTS) return it_opfail(c, INGOT_ERR_LIMIT, "plane too large");
    j.buf = it_scratch(c, sizeof(float) * (size_t)tot);
    if (!j.buf) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    it_parallel_for(c->tp, N * C, 1, dw_task, &j);
    return 0;
}

/* one image of a one-group conv with osz < nr output positions: the patches [Kg][osz]
 * (the input itself for 1x1 stride-1 convs) are op(A) transposed, W^T the prepacked B,
 * so the output channels fill the micro-kernel's columns; Y^T [osz][M] is transposed
 * into y [M][osz] (no copy when osz == 1). */
static int conv_small(it_opctx *c, const conv_state *s, patch_ctx *pc, int pointwise, const float *xg, float *y,
                      int64_t M, int64_t Kg, int64_t osz, const float *bias) {
    const float *a = xg;
    if (!pointwise) {
        float *buf = it_scratch(c, sizeof(float) * (size_t)(Kg * osz));
        if (!buf) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
        pc->x = xg;
        pack_patches_2d(pc, buf, 0, Kg, 0, osz, (int)osz);
        a = buf;
    }
    float *yt = osz == 1 ? y : it_scratch(c, sizeof(float) * (size_t)(osz * M));
    if (!yt) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    it_epilogue ep = {1.f, 0.f, NULL, bias, c->node->act};
    it_sgemm_ex(c->tp, osz, M, Kg, a, osz, 1, NULL, NULL, 0, 0, s->pkT, yt, M, &ep);
    if (osz > 1)
        for (int64_t m = 0; m < M; m++)
            for (int64_t p = 0; p < osz; p++) y[m * osz + p] = yt[p * M + m];
    return 0;
}

static int conv_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, X);
    IT_REQUIRE_IN(c, 1, Wt);
    it_tensor *Bt = it_in(c, 2);
    if (!float_type(X->dtype) || Wt->dtype != X->dtype || (Bt && Bt->dtype != X->dtype))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "Conv on %s", it_dtype_name(X->dtype));
    if (X->ndim < 3 || Wt->ndim != X->ndim) return it_opfail(c, INGOT_ERR_SHAPE, "Conv needs X and W of equal rank >= 3");
    int nd = X->ndim - 2;
    geo g;
    int st = geo_attrs(c, &g, nd, X->dims + 2, Wt->dims + 2);
    if (st) return st;
    for (int i = 0; i < nd; i++)
        if (g.k[i] != Wt->dims[2 + i]) return it_opfail(c, INGOT_ERR_SHAPE, "kernel_shape does not match W");
    if ((st = geo_out(c, &g, 0))) return st;
    int64_t N = X->dims[0], C = X->dims[1], M = Wt->dims[0], Cg = Wt->dims[1];
    int64_t groups = it_attr_int(c->node, "group", 1);
    if (groups < 1 || Cg * groups != C || M % groups) return it_opfail(c, INGOT_ERR_SHAPE, "channels do not fit group=%lld", (long long)groups);
    if (Bt && it_count(Bt) != M) return it_opfail(c, INGOT_ERR_SHAPE, "bias has %lld values for %lld channels", (long long)it_count(Bt), (long long)M);
    int64_t dims[2 + MAXSP] = {N, M};
    int64_t osz = 1, isz = 1, ksz = 1;
    for (int i = 0; i < nd; i++) { dims[2 + i] = g.out[i]; osz *= g.out[i]; isz *= g.in[i]; ksz *= g.k[i]; }
    it_tensor *Y; /* every element is written below */
    if ((st = it_out_tensor_raw(c, 0, X->dtype, X->ndim, dims, &Y))) return st;
    if (it_count(Y) == 0) return 0;
    const float *x = as_f32(c, X), *w = as_f32(c, Wt), *bias = Bt ? as_f32(c, Bt) : NULL;
    float *y = X->dtype == IT_F32 ? Y->data : it_scratch(c, sizeof(float) * (size_t)it_count(Y));
    if (!x || !w || (Bt && !bias) || !y) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    int64_t Mg = M / groups, Kg = Cg * ksz;
    if (Cg == 1 && Mg == 1 && nd <= 2 && (nd == 1 || g.k[0] <= 64)) {
        if ((st = conv_depthwise(c, &g, x, w, bias, y, N, C))) return st;
    } else {
        const conv_state *s = c->node->state;
        if (s && (s->groups != groups || s->Mg != Mg || s->Kg != Kg || X->dtype != IT_F32 || s->src != Wt->data)) s = NULL;
        int pointwise = 1;
        for (int i = 0; i < nd; i++)
            if (g.k[i] != 1 || g.s[i] != 1 || g.pb[i] || g.pe[i]) pointwise = 0;
        patch_ctx pc;
        memset(&pc, 0, sizeof pc);
        pc.nd = nd;
        pc.g = &g;
        if (nd <= 2) {
            int two = nd == 2;
            pc.H = two ? g.in[0] : 1; pc.W = g.in[two];
            pc.OH = two ? g.out[0] : 1; pc.OW = g.out[two];
            pc.kh = two ? g.k[0] : 1; pc.kw = g.k[two];
            pc.sh = two ? g.s[0] : 1; pc.sw = g.s[two];
            pc.dh = two ? g.d[0] : 1; pc.dw = g.d[two];
            pc.pt = two ? g.pb[0] : 0; pc.pl = g.pb[two];
        }
        int wino = s && s->wino && nd == 2 && groups == 1 && g.k[0] == 3 && g.k[1] == 3 && g.s[0] == 1 &&
                   g.s[1] == 1 && g.d[0] == 1 && g.d[1] == 1 &&
                   (!s->pk[0] || it_wino_useful(it_kernels(), M, C, g.out[0], g.out[1]));
        for (int64_t n = 0; n < N && wino; n++)
            if (it_wino_conv(c->tp, s->wino, x + n * C * isz, g.in[0], g.in[1], g.pb[0], g.pb[1], y + n * M * osz,
                             g.out[0], g.out[1], bias, &c->node->act)) {
                if (n) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
                wino = 0;
            }
        int small = !wino && s && s->pkT && groups == 1 && nd <= 2 && osz < it_kernels()->nr;
        for (int64_t n = 0; n < N && small; n++)
            if ((st = conv_small(c, s, &pc, pointwise, x + n * C * isz, y + n * M * osz, M, Kg, osz, bias))) return st;
        for (int64_t n = 0; n < N && !wino && !small; n++)
            for (int64_t gi = 0; gi < groups; gi++) {
                const float *xg = x + (n * C + gi * Cg) * isz;
                float *yg = y + (n * M + gi * Mg) * osz;
                it_epilogue ep = {1.f, 0.f, bias ? bias + gi * Mg : NULL, NULL, c->node->act};
                const it_packed *Ap = s ? s->pk[gi] : NULL;
                const float *wg = w + gi * Mg * Kg;
                if (pointwise) {
                    it_sgemm_ex(c->tp, Mg, osz, Kg, wg, Kg, 0, Ap, xg, isz, 0, NULL, yg, osz, &ep);
                } else {
                    pc.x = xg;
                    it_sgemm_cb(c->tp, Mg, osz, Kg, wg, Kg, 0, Ap, nd <= 2 ? pack_patches_2d : pack_patches_nd, &pc,
                                yg, osz, &ep);
                }
            }
    }
    if (X->dtype != IT_F32) it_convert(Y->data, Y->dtype, y, IT_F32, it_count(Y), 0);
    return 0;
}

/* ================= ConvTranspose ================= */

static int convt_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, X);
    IT_REQUIRE_IN(c, 1, Wt);
    it_tensor *Bt = it_in(c, 2);
    if (!float_type(X->dtype) || Wt->dtype != X->dtype || (Bt && Bt->dtype != X->dtype))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "ConvTranspose on %s", it_dtype_name(X->dtype));
    if (X->ndim < 3 || Wt->ndim != X->ndim) return it_opfail(c, INGOT_ERR_SHAPE, "ConvTranspose needs X and W of equal rank >= 3");
    int nd = X->ndim - 2;
    geo g;
    int st = geo_attrs(c, &g, nd, X->dims + 2, Wt->dims + 2);
    if (st) return st;
    for (int i = 0; i < nd; i++)
        if (g.k[i] != Wt->dims[2 + i]) return it_opfail(c, INGOT_ERR_SHAPE, "kernel_shape does not match W");
    int64_t N = X->dims[0], C = X->dims[1];
    int64_t groups = it_attr_int(c->node, "group", 1);
    if (groups < 1 || C % groups || Wt->dims[0] != C) return it_opfail(c, INGOT_ERR_SHAPE, "channels do not fit group");
    int64_t Cg = C / groups, Mg = Wt->dims[1], M = Mg * groups;
    if (Bt && it_count(Bt) != M) return it_opfail(c, INGOT_ERR_SHAPE, "bias size mismatch");
    const int64_t *opad, *oshape;
    int nop = it_attr_ints(c->node, "output_padding", &opad), nos = it_attr_ints(c->node, "output_shape", &oshape);
    if ((nop && nop != nd) || (nos && nos != nd && nos != nd + 2)) return it_opfail(c, INGOT_ERR_FORMAT, "bad output_padding/output_shape");
    const char *ap = it_attr_str(c->node, "auto_pad", "NOTSET");
    int same_u = !strcmp(ap, "SAME_UPPER"), same_l = !strcmp(ap, "SAME_LOWER");
    for (int i = 0; i < nd; i++) {
        int64_t op = nop ? opad[i] : 0, ext = g.d[i] * (g.k[i] - 1) + 1;
        if (op < 0 || op > (1 << 20)) return it_opfail(c, INGOT_ERR_FORMAT, "bad output_padding");
        int64_t full = g.s[i] * (g.in[i] - 1) + op + ext;
        if (nos || same_u || same_l) {
            int64_t target = nos ? oshape[nos == nd ? i : i + 2] : g.in[i] * g.s[i];
            int64_t tot = full - target;
            if (tot < 0) tot = 0; /* output larger than the full result: zero-extended end */
            if (same_l) { g.pb[i] = tot - tot / 2; g.pe[i] = tot / 2; }
            else { g.pb[i] = tot / 2; g.pe[i] = tot - tot / 2; }
            g.out[i] = target;
        } else {
            g.out[i] = full - g.pb[i] - g.pe[i];
        }
        if (g.out[i] < 0) return it_opfail(c, INGOT_ERR_SHAPE, "negative output size");
    }
    int64_t dims[2 + MAXSP] = {N, M};
    int64_t osz = 1, isz = 1, ksz = 1;
    for (int i = 0; i < nd; i++) { dims[2 + i] = g.out[i]; osz *= g.out[i]; isz *= g.in[i]; ksz *= g.k[i]; }
    it_tensor *Y;
    if ((st = it_out_tensor(c, 0, X->dtype, X->ndim, dims, &Y))) return st;
    if (it_count(Y) == 0) return 0;
    const float *x = as_f32(c, X), *w = as_f32(c, Wt), *bias = Bt ? as_f32(c, Bt) : NULL;
    float *y = X->dtype == IT_F32 ? Y->data : it_scratch(c, sizeof(float) * (size_t)it_count(Y));
    int64_t rows = Mg * ksz, colsz;
    if (!it_mul_ok(rows, isz, &colsz) || colsz > IT_LIMIT_ELEMENTS) return it_opfail(c, INGOT_ERR_LIMIT, "too large");
    float *col = it_scratch(c, sizeof(float) * (size_t)(colsz ? colsz : 1));
    if (!x || !w || (Bt && !bias) || !y || !col) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    memset(y, 0, sizeof(float) * (size_t)it_count(Y));
    for (int64_t n = 0; n < N; n++)
        for (int64_t gi = 0; gi < groups; gi++) {
            /* col[(m, kpos), pix] = sum_c W[c, m, kpos] * X[c, pix] */
            it_sgemm(c->tp, 1, 0, rows, isz, Cg, 1.f, w + gi * Cg * rows, rows, x + (n * C + gi * Cg) * isz, isz, 0.f,
                     col, isz);
            float *yg = y + (n * M + gi * Mg) * osz;
            for (int64_t r = 0; r < rows; r++) {
                int64_t m = r / ksz, kr = r % ksz, kidx[MAXSP];
                for (int a = nd - 1; a >= 0; a--) { kidx[a] = kr % g.k[a]; kr /= g.k[a]; }
                float *ym = yg + m * osz;
                const float *cr = col + r * isz;
                int64_t idx[MAXSP] = {0, 0, 0};
                for (int64_t p = 0; p < isz; p++) {
                    int64_t off = 0, ok = 1;
                    for (int a = 0; a < nd; a++) {
                        int64_t pos = idx[a] * g.s[a] - g.pb[a] + kidx[a] * g.d[a];
                        if (pos < 0 || pos >= g.out[a]) { ok = 0; break; }
                        off = off * g.out[a] + pos;
                    }
                    if (ok) ym[off] += cr[p];
                    it_next_index(nd, g.in, idx);
                }
            }
            if (bias)
                for (int64_t m = 0; m < Mg; m++) {
                    float bv = bias[gi * Mg + m];
                    for (int64_t p = 0; p < osz; p++) yg[m * osz + p] += bv;
                }
            if (c->node->act.kind) it_act_apply(yg, Mg * osz, &c->node->act);
        }
    if (X->dtype != IT_F32) it_convert(Y->data, Y->dtype, y, IT_F32, it_count(Y), 0);
    return 0;
}

/* ================= DeformConv (2-D) ================= */

static float bilinear(const float *p, int64_t H, int64_t W, float h, float w) {
    if (!(h > -1.f && h < (float)H && w > -1.f && w < (float)W)) return 0.f;
    float hf = floorf(h), wf = floorf(w);
    int64_t h0 = (int64_t)hf, w0 = (int64_t)wf, h1 = h0 + 1, w1 = w0 + 1;
    float lh = h - hf, lw = w - wf, hh = 1.f - lh, hw = 1.f - lw;
    float v00 = (h0 >= 0 && w0 >= 0) ? p[h0 * W + w0] : 0.f;
    float v01 = (h0 >= 0 && w1 < W) ? p[h0 * W + w1] : 0.f;
    float v10 = (h1 < H && w0 >= 0) ? p[h1 * W + w0] : 0.f;
    float v11 = (h1 < H && w1 < W) ? p[h1 * W + w1] : 0.f;
    return hh * hw * v00 + hh * lw * v01 + lh * hw * v10 + lh * lw * v11;
}

static int deform_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, X);
    IT_REQUIRE_IN(c, 1, Wt);
    IT_REQUIRE_IN(c, 2, Off);
    it_tensor *Bt = it_in(c, 3), *Mk = it_in(c, 4);
    if (!float_type(X->dtype)) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "DeformConv on %s", it_dtype_name(X->dtype));
    if (X->ndim != 4 || Wt->ndim != 4 || Off->ndim != 4) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "DeformConv supports 2-D only");
    geo g;
    int st = geo_attrs(c, &g, 2, X->dims + 2, Wt->dims + 2);
    if (st) return st;
    if ((st = geo_out(c, &g, 0))) return st;
    int64_t N = X->dims[0], C = X->dims[1], H = X->dims[2], W = X->dims[3], M = Wt->dims[0], Cg = Wt->dims[1];
    int64_t kh = g.k[0], kw = g.k[1], OH = g.out[0], OW = g.out[1];
    int64_t groups = it_attr_int(c->node, "group", 1), og = it_attr_int(c->node, "offset_group", 1);
    if (groups < 1 || og < 1 || Cg * groups != C || M % groups || C % og || kh != Wt->dims[2] || kw != Wt->dims[3])
        return it_opfail(c, INGOT_ERR_SHAPE, "DeformConv channel/group mismatch");
    if (Off->dims[0] != N || Off->dims[1] != og * 2 * kh * kw || Off->dims[2] != OH || Off->dims[3] != OW)
        return it_opfail(c, INGOT_ERR_SHAPE, "offset shape mismatch");
    if (Mk && (Mk->ndim != 4 || Mk->dims[0] != N || Mk->dims[1] != og * kh * kw || Mk->dims[2] != OH || Mk->dims[3] != OW))
        return it_opfail(c, INGOT_ERR_SHAPE, "mask shape mismatch");
    if (Bt && it_count(Bt) != M) return it_opfail(c, INGOT_ERR_SHAPE, "bias size mismatch");
    int64_t dims[4] = {N, M, OH, OW};
    it_tensor *Y;
    if ((st = it_out_tensor(c, 0, X->dtype, 4, dims, &Y))) return st;
    if (it_count(Y) == 0) return 0;
    const float *x = as_f32(c, X), *w = as_f32(c, Wt), *off = as_f32(c, Off);
    const float *bias = Bt ? as_f32(c, Bt) : NULL, *mask = Mk ? as_f32(c, Mk) : NULL;
    float *y = X->dtype == IT_F32 ? Y->data : it_scratch(c, sizeof(float) * (size_t)it_count(Y));
    int64_t P = OH * OW, rows = C * kh * kw, colsz;
    if (!it_mul_ok(rows, P, &colsz) || colsz > IT_LIMIT_ELEMENTS) return it_opfail(c, INGOT_ERR_LIMIT, "too large");
    float *col = it_scratch(c, sizeof(float) * (size_t)(colsz ? colsz : 1));
    if (!x || !w || !off || (Bt && !bias) || (Mk && !mask) || !y || !col) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    int64_t cpo = C / og, Mg = M / groups;
    for (int64_t n = 0; n < N; n++) {
        for (int64_t ch = 0; ch < C; ch++) {
            int64_t o = ch / cpo;
            const float *xp = x + (n * C + ch) * H * W;
            for (int64_t i = 0; i < kh; i++)
                for (int64_t j = 0; j < kw; j++) {
                    int64_t kk = i * kw + j;
                    const float *oh_p = off + ((n * og + o) * 2 * kh * kw + 2 * kk) * P, *ow_p = oh_p + P;
                    const float *m_p = mask ? mask + ((n * og + o) * kh * kw + kk) * P : NULL;
                    float *cr = col + (ch * kh * kw + kk) * P;
                    for (int64_t oh = 0; oh < OH; oh++)
                        for (int64_t ow = 0; ow < OW; ow++) {
                            int64_t p = oh * OW + ow;
                            float hpos = (float)(oh * g.s[0] - g.pb[0] + i * g.d[0]) + oh_p[p];
                            float wpos = (float)(ow * g.s[1] - g.pb[1] + j * g.d[1]) + ow_p[p];
                            float v = bilinear(xp, H, W, hpos, wpos);
                            cr[p] = m_p ? v * m_p[p] : v;
                        }
                }
        }
        for (int64_t gi = 0; gi < groups; gi++) {
            it_epilogue ep = {1.f, 0.f, bias ? bias + gi * Mg : NULL, NULL, c->node->act};
            it_sgemm_ex(c->tp, Mg, P, Cg * kh * kw, w + gi * Mg * Cg * kh * kw, Cg * kh * kw, 0, NULL,
                        col + gi * Cg * kh * kw * P, P, 0, NULL, y + (n * M + gi * Mg) * P, P, &ep);
        }
    }
    if (X->dtype != IT_F32) it_convert(Y->data, Y->dtype, y, IT_F32, it_count(Y), 0);
    return 0;
}

/* ================= pooling ================= */

enum { POOL_MAX, POOL_AVG, POOL_LP };

typedef struct pool_job {
    const geo *g;
    int kind, dtype, include_pad, storage_order, has_idx;
    double p;
    const void *x;
    void *y;
    int64_t *idx;
    int64_t isz, osz;
    int64_t D, H, W, OD, OH, OW, kd, kh, kw, sd, sh, sw, dd, dh, dw, pd, ph, pw, ped, peh, pew;
} pool_job;

/* window positions along one dim: first valid tap, count of valid taps, taps inside the padded extent */
static void win(int64_t o, int64_t s, int64_t pb, int64_t pe, int64_t k, int64_t d, int64_t in, int64_t *first,
                int64_t *cnt, int64_t *padcnt) {
    int64_t start = o * s - pb, f = -1, n = 0, pc = 0;
    for (int64_t t = 0; t < k; t++) {
        int64_t p = start + t * d;
        if (p >= -pb && p < in + pe) pc++;
        if (p >= 0 && p < in) { if (f < 0) f = t; n++; }
    }
    *first = f < 0 ? 0 : start + f * d;
    *cnt = n;
    *padcnt = pc;
}

static void pool_task(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    pool_job *j = arg;
    for (int64_t pl = b; pl < e; pl++) {
        int64_t ib = pl * j->isz, ob = pl * j->osz;
        const float *xf = (const float *)j->x + ib;
        float *yf = (float *)j->y + ob;
        for (int64_t od = 0; od < j->OD; od++) {
            int64_t fd, nd_, pd_;
            win(od, j->sd, j->pd, j->ped, j->kd, j->dd, j->D, &fd, &nd_, &pd_);
            for (int64_t oh = 0; oh < j->OH; oh++) {
                int64_t fh, nh, ph_;
                win(oh, j->sh, j->ph, j->peh, j->kh, j->dh, j->H, &fh, &nh, &ph_);
                for (int64_t ow = 0; ow < j->OW; ow++) {
                    int64_t fw, nw, pw_;
                    win(ow, j->sw, j->pw, j->pew, j->kw, j->dw, j->W, &fw, &nw, &pw_);
                    int64_t o = (od * j->OH + oh) * j->OW + ow;
                    if (j->dtype == IT_F32 && !j->has_idx) {
                        if (j->kind == POOL_MAX) {
                            float m = -INFINITY;
                            for (int64_t a = 0; a < nd_; a++)
                                for (int64_t bb = 0; bb < nh; bb++) {
                                    const float *r = xf + ((fd + a * j->dd) * j->H + fh + bb * j->dh) * j->W + fw;
                                    for (int64_t cc = 0; cc < nw; cc++) { float v = r[cc * j->dw]; m = v > m ? v : m; }
                                }
                            yf[o] = m;
                        } else {
                            float s = 0;
                            for (int64_t a = 0; a < nd_; a++)
                                for (int64_t bb = 0; bb < nh; bb++) {
                                    const float *r = xf + ((fd + a * j->dd) * j->H + fh + bb * j->dh) * j->W + fw;
                                    if (j->kind == POOL_AVG) for (int64_t cc = 0; cc < nw; cc++) s += r[cc * j->dw];
                                    else if (j->p == 2.0) for (int64_t cc = 0; cc < nw; cc++) s += r[cc * j->dw] * r[cc * j->dw];
                                    else for (int64_t cc = 0; cc < nw; cc++) s += powf(fabsf(r[cc * j->dw]), (float)j->p);
                                }
                            if (j->kind == POOL_AVG) {
                                int64_t cnt = j->include_pad ? pd_ * ph_ * pw_ : nd_ * nh * nw;
                                yf[o] = cnt ? s / (float)cnt : 0.f;
                            } else {
                                yf[o] = j->p == 2.0 ? sqrtf(s) : powf(s, 1.f / (float)j->p);
                            }
                        }
                        continue;
                    }
                    /* generic types and the Indices output */
                    double m = -INFINITY, s = 0;
                    int64_t arg = -1;
                    for (int64_t a = 0; a < nd_; a++)
                        for (int64_t bb = 0; bb < nh; bb++)
                            for (int64_t cc = 0; cc < nw; cc++) {
                                int64_t zd = fd + a * j->dd, zh = fh + bb * j->dh, zw = fw + cc * j->dw;
                                int64_t off = (zd * j->H + zh) * j->W + zw;
                                double v = it_get_f64(j->x, j->dtype, ib + off);
                                if (j->kind == POOL_MAX) {
                                    if (v > m || arg < 0) {
                                        m = v;
                                        arg = j->storage_order ? ib + (zw * j->H + zh) * j->D + zd : ib + off;
                                    }
                                } else if (j->kind == POOL_AVG) s += v;
                                else s += pow(fabs(v), j->p);
                            }
                    double r;
                    if (j->kind == POOL_MAX) r = arg < 0 ? 0 : m;
                    else if (j->kind == POOL_AVG) {
                        int64_t cnt = j->include_pad ? pd_ * ph_ * pw_ : nd_ * nh * nw;
                        r = cnt ? s / (double)cnt : 0;
                    } else r = pow(s, 1.0 / j->p);
                    it_set_f64(j->y, j->dtype, ob + o, r);
                    if (j->has_idx) j->idx[ob + o] = arg < 0 ? 0 : arg;
                }
            }
        }
    }
}

/* float32 MaxPool / AveragePool, 1-D or 2-D, dilation 1, no Indices: per output row,
 * the columns whose window lies inside the plane go to the kernel table's pool row
 * (pointers straight into the input, no padded copy); the few edge columns whose
 * window crosses the padding take the generic per-tap path. */
static void pool_fast_task(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    pool_job *j = arg;
    it_pool_row_fn row = it_kernels()->pool_row;
    int is_max = j->kind == POOL_MAX;
    int64_t lo = (j->pw + j->sw - 1) / j->sw, hi = j->W + j->pw - j->kw >= 0 ? (j->W + j->pw - j->kw) / j->sw + 1 : 0;
    if (lo > j->OW) lo = j->OW;
    if (hi > j->OW) hi = j->OW;
    if (hi < lo) hi = lo;
    const float *rows[64];
    for (int64_t pl = b; pl < e; pl++) {
        const float *xf = (const float *)j->x + pl * j->isz;
        float *yf = (float *)j->y + pl * j->osz;
        for (int64_t oh = 0; oh < j->OH; oh++) {
            int64_t fh, nh, ph_;
            win(oh, j->sh, j->ph, j->peh, j->kh, 1, j->H, &fh, &nh, &ph_);
            float *out = yf + oh * j->OW;
            if (nh == 0) {
                for (int64_t ow = 0; ow < j->OW; ow++) out[ow] = is_max ? -INFINITY : 0.f;
                continue;
            }
            if (hi > lo) {
                for (int64_t i = 0; i < nh; i++) rows[i] = xf + (fh + i) * j->W + lo * j->sw - j->pw;
                float div = (float)((j->include_pad ? ph_ : nh) * j->kw);
                row(out + lo, hi - lo, rows, (int)nh, (int)j->kw, (int)j->sw, is_max, div);
            }
            for (int64_t ow = 0; ow < j->OW; ow++) {
                if (ow == lo && hi > lo) ow = hi;
                if (ow >= j->OW) break;
                int64_t fw, nw, pw_;
                win(ow, j->sw, j->pw, j->pew, j->kw, 1, j->W, &fw, &nw, &pw_);
                float m = -INFINITY, sum = 0;
                for (int64_t bb = 0; bb < nh; bb++) {
                    const float *r = xf + (fh + bb) * j->W + fw;
                    if (is_max) for (int64_t cc = 0; cc < nw; cc++) { float v = r[cc]; m = v > m ? v : m; }
                    else for (int64_t cc = 0; cc < nw; cc++) sum += r[cc];
                }
                if (is_max) {
                    out[ow] = m;
                } else {
                    int64_t cnt = j->include_pad ? ph_ * pw_ : nh * nw;
                    out[ow] = cnt ? sum / (float)cnt : 0.f;
                }
            }
        }
    }
}

static int pool_common(it_opctx *c, int kind, int global) {
    IT_REQUIRE_IN(c, 0, X);
    int dt = X->dtype;
    if (!(float_type(dt) || dt == IT_I8 || dt == IT_U8) || (kind != POOL_MAX && !float_type(dt)))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "pooling on %s", it_dtype_name(dt));
    if (X->ndim < 3) return it_opfail(c, INGOT_ERR_SHAPE, "pooling needs rank >= 3");
    int nd = X->ndim - 2;
    geo g;
    memset(&g, 0, sizeof g);
    int st;
    if (global) {
        if (nd > MAXSP) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "too many spatial dims");
        g.nd = nd;
        for (int i = 0; i < nd; i++) {
            g.in[i] = g.k[i] = X->dims[2 + i];
            g.out[i] = g.s[i] = g.d[i] = 1;
            if (g.k[i] < 1) return it_opfail(c, INGOT_ERR_SHAPE, "empty spatial dim");
        }
    } else {
        if ((st = geo_attrs(c, &g, nd, X->dims + 2, NULL))) return st;
        if ((st = geo_out(c, &g, (int)it_attr_int(c->node, "ceil_mode", 0)))) return st;
    }
    int64_t dims[2 + MAXSP] = {X->dims[0], X->dims[1]};
    for (int i = 0; i < nd; i++) dims[2 + i] = g.out[i];
    it_tensor *Y, *I = NULL;
    if ((st = it_out_tensor_raw(c, 0, dt, X->ndim, dims, &Y))) return st;
    int has_idx = kind == POOL_MAX && it_has_out(c, 1);
    if (has_idx && (st = it_out_tensor_raw(c, 1, IT_I64, X->ndim, dims, &I))) return st;
    if (it_count(Y) == 0) return 0;
    pool_job j;
    memset(&j, 0, sizeof j);
    j.g = &g; j.kind = kind; j.dtype = dt; j.x = X->data; j.y = Y->data; j.idx = I ? I->data : NULL;
    j.has_idx = has_idx;
    j.include_pad = (int)it_attr_int(c->node, "count_include_pad", 0);
    j.storage_order = (int)it_attr_int(c->node, "storage_order", 0);
    j.p = kind == POOL_LP ? (double)it_attr_int(c->node, "p", 2) : 2.0;
    if (kind == POOL_LP && j.p <= 0) return it_opfail(c, INGOT_ERR_FORMAT, "p must be positive");
    /* view 1-D and 2-D as 3-D with leading unit dims */
    int64_t *fields[][MAXSP] = {{&j.D, &j.H, &j.W}, {&j.OD, &j.OH, &j.OW}, {&j.kd, &j.kh, &j.kw}, {&j.sd, &j.sh, &j.sw},
                                {&j.dd, &j.dh, &j.dw}, {&j.pd, &j.ph, &j.pw}, {&j.ped, &j.peh, &j.pew}};
    int64_t defs[7] = {1, 1, 1, 1, 1, 0, 0};
    for (int f = 0; f < 7; f++)
        for (int a = 0; a < MAXSP; a++) {
            int src = a - (MAXSP - nd);
            const int64_t *arr = f == 0 ? g.in : f == 1 ? g.out : f == 2 ? g.k : f == 3 ? g.s : f == 4 ? g.d : f == 5 ? g.pb : g.pe;
            *fields[f][a] = src >= 0 ? arr[src] : defs[f];
        }
    j.isz = j.D * j.H * j.W;
    j.osz = j.OD * j.OH * j.OW;
    int64_t planes = X->dims[0] * X->dims[1];
    int fast = dt == IT_F32 && !has_idx && kind != POOL_LP && nd <= 2 && j.dh == 1 && j.dw == 1 && j.kh <= 64;
    it_parallel_for(c->tp, planes, 1 + 4096 / (j.osz * j.kd * j.kh * j.kw + 1), fast ? pool_fast_task : pool_task, &j);
    return 0;
}

/* GlobalAveragePool / GlobalMaxPool float32: one reduction per plane */
typedef struct gpool_job {
    const float *x;
    float *y;
    int64_t n;
    int max;
} gpool_job;

static void gpool_task(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    gpool_job *j = arg;
    for (int64_t p = b; p < e; p++) {
        const float *x = j->x + p * j->n;
        if (j->max) {
            float m0 = -INFINITY, m1 = -INFINITY, m2 = -INFINITY, m3 = -INFINITY;
            int64_t i = 0;
            for (; i + 4 <= j->n; i += 4) {
                m0 = x[i] > m0 ? x[i] : m0; m1 = x[i + 1] > m1 ? x[i + 1] : m1;
                m2 = x[i + 2] > m2 ? x[i + 2] : m2; m3 = x[i + 3] > m3 ? x[i + 3] : m3;
            }
            for (; i < j->n; i++) m0 = x[i] > m0 ? x[i] : m0;
            m0 = m0 > m1 ? m0 : m1; m2 = m2 > m3 ? m2 : m3;
            j->y[p] = m0 > m2 ? m0 : m2;
        } else {
            float s[8] = {0};
            int64_t i = 0;
            for (; i + 8 <= j->n; i += 8)
                for (int q = 0; q < 8; q++) s[q] += x[i + q];
            float t = 0;
            for (; i < j->n; i++) t += x[i];
            for (int q = 0; q < 8; q++) t += s[q];
            j->y[p] = t / (float)j->n;
        }
    }
}

static int gpool(it_opctx *c, int max) {
    IT_REQUIRE_IN(c, 0, X);
    if (X->dtype != IT_F32 || X->ndim < 3 || X->ndim > 2 + MAXSP) return pool_common(c, max ? POOL_MAX : POOL_AVG, 1);
    int64_t dims[IT_MAX_DIMS];
    dims[0] = X->dims[0];
    dims[1] = X->dims[1];
    int64_t n = 1;
    for (int i = 2; i < X->ndim; i++) { dims[i] = 1; n *= X->dims[i]; }
    it_tensor *Y;
    int st = it_out_tensor(c, 0, IT_F32, X->ndim, dims, &Y);
    if (st) return st;
    if (n == 0 || it_count(Y) == 0) return 0;
    gpool_job j = {X->data, Y->data, n, max};
    it_parallel_for(c->tp, dims[0] * dims[1], 1 + 16384 / n, gpool_task, &j);
    return 0;
}

static int maxpool_run(it_opctx *c) { return pool_common(c, POOL_MAX, 0); }
static int avgpool_run(it_opctx *c) { return pool_common(c, POOL_AVG, 0); }
static int lppool_run(it_opctx *c) { return pool_common(c, POOL_LP, 0); }
static int gavg_run(it_opctx *c) { return gpool(c, 0); }
static int gmax_run(it_opctx *c) { return gpool(c, 1); }

static int glp_run(it_opctx *c) { return pool_common(c, POOL_LP, 1); }

static int maxunpool_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, X);
    IT_REQUIRE_IN(c, 1, I);
    it_tensor *OS = it_in(c, 2);
    if (X->ndim < 3 || I->ndim != X->ndim || !it_shape_equal(X, I) || !it_dtype_is_int(I->dtype))
        return it_opfail(c, INGOT_ERR_SHAPE, "MaxUnpool needs X and integer I of the same shape");
    int nd = X->ndim - 2;
    geo g;
    int st = geo_attrs(c, &g, nd, X->dims + 2, NULL);
    if (st) return st;
    int64_t dims[IT_MAX_DIMS], inf[IT_MAX_DIMS];
    inf[0] = X->dims[0];
    inf[1] = X->dims[1];
    for (int i = 0; i < nd; i++) {
        inf[2 + i] = (g.in[i] - 1) * g.s[i] - g.pb[i] - g.pe[i] + g.k[i];
        if (inf[2 + i] < 0) return it_opfail(c, INGOT_ERR_SHAPE, "negative output size");
    }
    if (OS) {
        if (it_read_ints(OS, dims, IT_MAX_DIMS) != X->ndim) return it_opfail(c, INGOT_ERR_SHAPE, "output_shape must have rank %d", X->ndim);
        for (int i = 0; i < X->ndim; i++)
            if (dims[i] < 0) return it_opfail(c, INGOT_ERR_SHAPE, "negative output_shape");
    } else {
        memcpy(dims, inf, sizeof(int64_t) * (size_t)X->ndim);
    }
    if (it_shape_count(X->ndim, dims) < 0 || it_shape_count(X->ndim, inf) < 0) return it_opfail(c, INGOT_ERR_SHAPE, "bad output shape");
    it_tensor *Y;
    if ((st = it_out_tensor(c, 0, X->dtype, X->ndim, dims, &Y))) return st;
    int64_t n = it_count(X), total = it_shape_count(X->ndim, inf);
    size_t es = it_dtype_size(X->dtype);
    if (!es) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "MaxUnpool on %s", it_dtype_name(X->dtype));
    for (int64_t i = 0; i < n; i++) {
        int64_t k = it_get_i64(I->data, I->dtype, i);
        if (k < 0 || k >= total) return it_opfail(c, INGOT_ERR_SHAPE, "index %lld out of range", (long long)k);
        /* indices address the inferred shape; place the value at the same coordinates of Y */
        int64_t coord[IT_MAX_DIMS], off = 0;
        for (int a = X->ndim - 1; a >= 0; a--) { coord[a] = k % inf[a]; k /= inf[a]; }
        int ok = 1;
        for (int a = 0; a < X->ndim; a++) {
            if (coord[a] >= dims[a]) { ok = 0; break; }
            off = off * dims[a] + coord[a];
        }
        if (ok) memcpy((char *)Y->data + (size_t)off * es, (const char *)X->data + (size_t)i * es, es);
    }
    return 0;
}

const it_op it_ops_conv[] = {
    {"", "Conv", NULL, conv_run, conv_free, 0, conv_prepare},
    {"", "ConvTranspose", NULL, convt_run, NULL, 0, NULL},
    {"", "DeformConv", NULL, deform_run, NULL, 0, NULL},
    {"", "MaxPool", NULL, maxpool_run, NULL, 0, NULL},
    {"", "AveragePool", NULL, avgpool_run, NULL, 0, NULL},
    {"", "LpPool", NULL, lppool_run, NULL, 0, NULL},
    {"", "GlobalAveragePool", NULL, gavg_run, NULL, 0, NULL},
    {"", "GlobalMaxPool", NULL, gmax_run, NULL, 0, NULL},
    {"", "GlobalLpPool", NULL, glp_run, NULL, 0, NULL},
    {"", "MaxUnpool", NULL, maxunpool_run, NULL, 0, NULL},
    {0},
};
