/*
 * rnn.c: recurrent layers RNN, GRU and LSTM (ONNX opset 7..22: directions
 * forward / reverse / bidirectional, layout 0/1, sequence_lens, initial
 * states, clip, custom activations with alpha/beta, GRU linear_before_reset,
 * LSTM peepholes and input_forget).
 *
 * Workload: speech and sequence models (ASR encoders, VAD, keyword spotting,
 * TTS) in float32. The input projection X @ W^T (+ both biases) for every time
 * step and direction is one GEMM; each step then does one GEMM of the hidden
 * state with R^T (two for GRU without linear_before_reset) into the gate
 * buffer, followed by the elementwise cell update. W and R are packed once at
 * prepare time when they are constant float32 initializers (else once per
 * run). Other float dtypes are converted to float32 and back.
 */
#include <strings.h>

#include "ops.h"

enum { K_RNN = 0, K_GRU = 1, K_LSTM = 2 };
static const int n_gates[3] = {1, 3, 4};
static const int n_acts[3] = {1, 2, 3};

/* ---- activation functions ----
 * Sigmoid and tanh dominate the elementwise part of a step; they use a
 * 4-lane exp (range reduction + degree-7 polynomial, ~1e-7 relative error)
 * written with compiler vector extensions so it runs as SSE2/NEON code with
 * the baseline flags. */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

static inline v4f vsel(v4i m, v4f a, v4f b) { return (v4f)((m & (v4i)a) | (~m & (v4i)b)); }
static inline v4f vsplat(float x) { return (v4f){x, x, x, x}; }

static inline v4f vexp4(v4f x) {
    const v4f hi = vsplat(88.3f), lo = vsplat(-87.3f), magic = vsplat(12582912.f);
    x = vsel(x > hi, hi, x);
    x = vsel(x < lo, lo, x);
    v4f n = (x * vsplat(1.44269504f) + magic) - magic; /* round(x / ln 2) */
    v4f r = x - n * vsplat(0.693145752f) - n * vsplat(1.42860677e-6f);
    v4f p = vsplat(1.f / 5040.f);
    p = p * r + vsplat(1.f / 720.f);
    p = p * r + vsplat(1.f / 120.f);
    p = p * r + vsplat(1.f / 24.f);
    p = p * r + vsplat(1.f / 6.f);
    p = p * r + vsplat(0.5f);
    p = p * r + vsplat(1.f);
    p = p * r + vsplat(1.f);
    v4i e = (__builtin_convertvector(n, v4i) + 127) << 23;
    return p * (v4f)e;
}

static inline v4f vsigmoid4(v4f x) { return vsplat(1.f) / (vsplat(1.f) + vexp4(-x)); }

static inline v4f vtanh4(v4f x) {
    v4i sign = (v4i)x & (v4i){INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN};
    v4f ax = (v4f)((v4i)x ^ sign);
    v4f e = vexp4(vsplat(-2.f) * ax);
    v4f big = (vsplat(1.f) - e) / (vsplat(1.f) + e);
    v4f x2 = x * x; /* |x| < 0.25: odd Taylor series, error < 1e-8 relative */
    v4f p = vsplat(62.f / 2835.f);
    p = p * x2 - vsplat(17.f / 315.f);
    p = p * x2 + vsplat(2.f / 15.f);
    p = p * x2 - vsplat(1.f / 3.f);
    v4f small = x + x * x2 * p;
    return vsel(ax < vsplat(0.25f), small, (v4f)((v4i)big | sign));
}

/* Apply a 4-lane function to n floats in place (tail through a padded copy). */
#define VMAP(fn, x, n)                                                       \
    do {                                                                     \
        int64_t i_ = 0;                                                      \
        for (; i_ + 4 <= (n); i_ += 4) {                                     \
            v4f v_;                                                          \
            memcpy(&v_, (x) + i_, sizeof v_);                                \
            v_ = fn(v_);                                                     \
            memcpy((x) + i_, &v_, sizeof v_);                                \
        }                                                                    \
        if (i_ < (n)) {                                                      \
            v4f v_ = vsplat(0.f);                                            \
            memcpy(&v_, (x) + i_, sizeof(float) * (size_t)((n) - i_));       \
            v_ = fn(v_);                                                     \
            memcpy((x) + i_, &v_, sizeof(float) * (size_t)((n) - i_));       \
        }                                                                    \
    } while (0)

enum { A_RELU = 1, A_TANH, A_SIGMOID, A_AFFINE, A_LEAKY, A_THRESH, A_SCALEDTANH, A_HARDSIG, A_ELU, A_SOFTSIGN, A_SOFTPLUS };
typedef struct act_fn {
    int kind;
    float a, b;
} act_fn;

static void act_apply(const act_fn *f, float *x, int64_t n) {
    switch (f->kind) {
    case A_RELU: for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0; break;
    case A_TANH: VMAP(vtanh4, x, n); break;
    case A_SIGMOID: VMAP(vsigmoid4, x, n); break;
    case A_AFFINE: for (int64_t i = 0; i < n; i++) x[i] = f->a * x[i] + f->b; break;
    case A_LEAKY: for (int64_t i = 0; i < n; i++) x[i] = x[i] >= 0 ? x[i] : f->a * x[i]; break;
    case A_THRESH: for (int64_t i = 0; i < n; i++) x[i] = x[i] > f->a ? x[i] : 0; break;
    case A_SCALEDTANH:
        for (int64_t i = 0; i < n; i++) x[i] *= f->b;
        VMAP(vtanh4, x, n);
        for (int64_t i = 0; i < n; i++) x[i] *= f->a;
        break;
    case A_HARDSIG:
        for (int64_t i = 0; i < n; i++) {
            float v = f->a * x[i] + f->b;
            x[i] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
        break;
    case A_ELU: for (int64_t i = 0; i < n; i++) x[i] = x[i] >= 0 ? x[i] : f->a * (expf(x[i]) - 1.f); break;
    case A_SOFTSIGN: for (int64_t i = 0; i < n; i++) x[i] = x[i] / (1.f + fabsf(x[i])); break;
    case A_SOFTPLUS:
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            x[i] = v > 20.f ? v : log1pf(expf(v));
        }
        break;
    default: break;
    }
}

/* Parse name into f, taking alpha/beta from the lists (in order, only for
 * functions that use them; defaults when the lists run out). */
static int act_parse(const char *name, act_fn *f, const float *al, int n_al, int *ia, const float *be, int n_be, int *ib) {
    static const struct { const char *name; int kind, n_a, n_b; float a, b; } tab[] = {
        {"Relu", A_RELU, 0, 0, 0, 0},          {"Tanh", A_TANH, 0, 0, 0, 0},
        {"Sigmoid", A_SIGMOID, 0, 0, 0, 0},    {"Affine", A_AFFINE, 1, 1, 1.f, 0.f},
        {"LeakyRelu", A_LEAKY, 1, 0, 0.01f, 0}, {"ThresholdedRelu", A_THRESH, 1, 0, 1.f, 0},
        {"ScaledTanh", A_SCALEDTANH, 1, 1, 1.f, 1.f}, {"HardSigmoid", A_HARDSIG, 1, 1, 0.2f, 0.5f},
        {"Elu", A_ELU, 1, 0, 1.f, 0},           {"Softsign", A_SOFTSIGN, 0, 0, 0, 0},
        {"Softplus", A_SOFTPLUS, 0, 0, 0, 0},
    };
    for (size_t k = 0; k < sizeof tab / sizeof tab[0]; k++) {
        if (strcasecmp(name, tab[k].name)) continue;
        f->kind = tab[k].kind;
        f->a = tab[k].a;
        f->b = tab[k].b;
        if (tab[k].n_a && *ia < n_al) f->a = al[(*ia)++];
        if (tab[k].n_b && *ib < n_be) f->b = be[(*ib)++];
        return 0;
    }
    return -1;
}

/* ---- packed weights (node->state) ---- */
typedef struct rnn_pack {
    int64_t dirs, hidden, input;
    int split;            /* GRU without linear_before_reset: R packed as zr part + h part */
    it_packed *w;         /* op(B) = W^T, [input, dirs*G*hidden] */
    it_packed *r[2];      /* per direction: R^T [hidden, G*hidden] (GRU split: [hidden, 2*hidden]) */
    it_packed *rh[2];     /* GRU split: Rh^T [hidden, hidden] */
} rnn_pack;

static void pack_free(void *p) {
    rnn_pack *k = p;
    if (!k) return;
    it_packed_free(k->w);
    for (int d = 0; d < 2; d++) {
        it_packed_free(k->r[d]);
        it_packed_free(k->rh[d]);
    }
    free(k);
}

static int node_kind(const it_node *n) {
    return !strcmp(n->op_type, "GRU") ? K_GRU : !strcmp(n->op_type, "LSTM") ? K_LSTM : K_RNN;
}

/* Pack R for one direction into k (returns 0, or -1 when out of memory). */
static int pack_r(rnn_pack *k, int kind, const float *Rd, int64_t H, int d) {
    int64_t G = n_gates[kind];
    if (k->split) {
        k->r[d] = it_sgemm_pack(1, 1, H, 2 * H, Rd, H);
        k->rh[d] = it_sgemm_pack(1, 1, H, H, Rd + 2 * H * H, H);
        return k->r[d] && k->rh[d] ? 0 : -1;
    }
    k->r[d] = it_sgemm_pack(1, 1, H, G * H, Rd, H);
    return k->r[d] ? 0 : -1;
}

static int cell_prepare(it_node *n, const it_graph *g, it_err *e) {
    (void)e;
    /* R is what every step reuses: pack it when constant; W too when it is */
    const it_tensor *W = it_node_const_input(g, n, 1), *R = it_node_const_input(g, n, 2);
    if (!R || R->dtype != IT_F32 || R->ndim != 3) return 0;
    int kind = node_kind(n);
    int64_t G = n_gates[kind], D = R->dims[0], H = R->dims[2];
    if ((D != 1 && D != 2) || H <= 0 || R->dims[1] != G * H) return 0;
    if (it_attr_int(n, "hidden_size", H) != H) return 0;
    if (W && (W->dtype != IT_F32 || W->ndim != 3 || W->dims[0] != D || W->dims[1] != G * H || W->dims[2] <= 0)) W = NULL;
    rnn_pack *k = calloc(1, sizeof *k);
    if (!k) return 0; /* run packs per call */
    k->dirs = D;
    k->hidden = H;
    k->input = W ? W->dims[2] : -1;
    k->split = kind == K_GRU && !it_attr_int(n, "linear_before_reset", 0);
    if (W) k->w = it_sgemm_pack(1, 1, k->input, D * G * H, W->data, k->input);
    int bad = W && !k->w;
    for (int64_t d = 0; d < D && !bad; d++) bad = pack_r(k, kind, (const float *)R->data + d * G * H * H, H, (int)d);
    if (bad) {
        pack_free(k);
        return 0;
    }
    if (n->state) pack_free(n->state);
    n->state = k;
    return 0;
}

/* ---- run ---- */

/* Input i as float32 (converted into scratch when needed); NULL with *st set on failure. */
static const float *as_f32(it_opctx *c, const it_tensor *t, int *st) {
    if (t->dtype == IT_F32) return t->data;
    int64_t n = it_count(t);
    float *p = it_scratch(c, sizeof(float) * (size_t)(n > 0 ? n : 1));
    if (!p) {
        *st = it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
        return NULL;
    }
    it_convert(p, IT_F32, t->data, t->dtype, n, 0);
    return p;
}

static inline float clipf(float v, float cl) { return cl > 0 ? (v < -cl ? -cl : v > cl ? cl : v) : v; }
static void clip_n(float *x, int64_t n, float cl) {
    if (cl > 0)
        for (int64_t i = 0; i < n; i++) x[i] = clipf(x[i], cl);
}

static int cell_run(it_opctx *c) {
    const it_node *node = c->node;
    int kind = node_kind(node);
    int64_t G = n_gates[kind];
    IT_REQUIRE_IN(c, 0, X);
    IT_REQUIRE_IN(c, 1, W);
    IT_REQUIRE_IN(c, 2, R);
    it_tensor *Bt = it_in(c, 3), *SL = it_in(c, 4), *H0 = it_in(c, 5);
    it_tensor *C0 = kind == K_LSTM ? it_in(c, 6) : NULL, *P = kind == K_LSTM ? it_in(c, 7) : NULL;
    int dt = X->dtype;
    if (dt != IT_F32 && dt != IT_F64 && dt != IT_F16 && dt != IT_BF16)
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "dtype %s not supported", it_dtype_name(dt));
    if (W->dtype != dt || R->dtype != dt || (Bt && Bt->dtype != dt) || (H0 && H0->dtype != dt) || (C0 && C0->dtype != dt) ||
        (P && P->dtype != dt))
        return it_opfail(c, INGOT_ERR_SHAPE, "inputs must share the dtype of X");
    if (X->ndim != 3 || W->ndim != 3 || R->ndim != 3) return it_opfail(c, INGOT_ERR_SHAPE, "X, W and R must have rank 3");
    int layout = node->opset >= 14 ? (int)it_attr_int(node, "layout", 0) : 0;
    if (layout != 0 && layout != 1) return it_opfail(c, INGOT_ERR_FORMAT, "layout must be 0 or 1");
    int64_t S = layout ? X->dims[1] : X->dims[0], B = layout ? X->dims[0] : X->dims[1], I = X->dims[2];
    const char *dir = it_attr_str(node, "direction", "forward");
    int64_t D;
    int reverse_only = 0;
    if (!strcmp(dir, "forward")) D = 1;
    else if (!strcmp(dir, "reverse")) D = 1, reverse_only = 1;
    else if (!strcmp(dir, "bidirectional")) D = 2;
    else return it_opfail(c, INGOT_ERR_FORMAT, "unknown direction '%s'", dir);
    int64_t H = it_attr_int(node, "hidden_size", R->dims[2]);
    int64_t GH, DGH;
    if (H <= 0 || !it_mul_ok(G, H, &GH) || !it_mul_ok(D, GH, &DGH))
        return it_opfail(c, INGOT_ERR_SHAPE, "bad hidden_size %lld", (long long)H);
    if (W->dims[0] != D || W->dims[1] != GH || W->dims[2] != I)
        return it_opfail(c, INGOT_ERR_SHAPE, "W must be [%lld, %lld, %lld]", (long long)D, (long long)GH, (long long)I);
    if (R->dims[0] != D || R->dims[1] != GH || R->dims[2] != H)
        return it_opfail(c, INGOT_ERR_SHAPE, "R must be [%lld, %lld, %lld]", (long long)D, (long long)GH, (long long)H);
    if (Bt && (Bt->ndim != 2 || Bt->dims[0] != D || Bt->dims[1] != 2 * GH))
        return it_opfail(c, INGOT_ERR_SHAPE, "B must be [%lld, %lld]", (long long)D, (long long)(2 * GH));
    int64_t sd0 = layout ? B : D, sd1 = layout ? D : B;
    if (H0 && (H0->ndim != 3 || H0->dims[0] != sd0 || H0->dims[1] != sd1 || H0->dims[2] != H))
        return it_opfail(c, INGOT_ERR_SHAPE, "initial_h has the wrong shape");
    if (C0 && (C0->ndim != 3 || C0->dims[0] != sd0 || C0->dims[1] != sd1 || C0->dims[2] != H))
        return it_opfail(c, INGOT_ERR_SHAPE, "initial_c has the wrong shape");
    if (P && (P->ndim != 2 || P->dims[0] != D || P->dims[1] != 3 * H))
        return it_opfail(c, INGOT_ERR_SHAPE, "P must be [%lld, %lld]", (long long)D, (long long)(3 * H));
    if (SL && (it_count(SL) != B || !it_dtype_is_int(SL->dtype)))
        return it_opfail(c, INGOT_ERR_SHAPE, "sequence_lens must hold %lld integers", (long long)B);
    int64_t rows, xw_n;
    if (!it_mul_ok(S, B, &rows) || !it_mul_ok(rows, DGH, &xw_n) || xw_n > IT_LIMIT_ELEMENTS)
        return it_opfail(c, INGOT_ERR_LIMIT, "gate buffer too large");

    /* attributes */
    float clip = 0;
    const it_attr *ca = it_attr_get(node, "clip");
    if (ca) {
        clip = ca->f;
        if (!(clip > 0)) return it_opfail(c, INGOT_ERR_FORMAT, "clip must be positive");
    }
    int lbr = kind == K_GRU && it_attr_int(node, "linear_before_reset", 0) != 0;
    int input_forget = kind == K_LSTM && it_attr_int(node, "input_forget", 0) != 0;
    act_fn acts[2][3];
    {
        static const char *defaults[3][3] = {{"Tanh"}, {"Sigmoid", "Tanh"}, {"Sigmoid", "Tanh", "Tanh"}};
        const it_attr *aa = it_attr_get(node, "activations");
        const float *al = NULL, *be = NULL;
        int n_al = it_attr_floats(node, "activation_alpha", &al), n_be = it_attr_floats(node, "activation_beta", &be);
        int na = n_acts[kind], ia = 0, ib = 0;
        int given = aa && aa->type == IT_ATTR_STRINGS ? aa->n : 0;
        if (given && given != na && given != na * D)
            return it_opfail(c, INGOT_ERR_FORMAT, "%d activations given, expected %lld", given, (long long)(na * D));
        for (int d = 0; d < D; d++)
            for (int k = 0; k < na; k++) {
                const char *name = given ? aa->strings[(d * na + k) % given] : defaults[kind][k];
                if (act_parse(name ? name : "", &acts[d][k], al, n_al, &ia, be, n_be, &ib))
                    return it_opfail(c, INGOT_ERR_UNSUPPORTED, "activation '%s' not supported", name ? name : "");
            }
    }

    /* inputs as float32 */
    int st = 0;
    const float *x = as_f32(c, X, &st), *w = x ? as_f32(c, W, &st) : NULL, *r = w ? as_f32(c, R, &st) : NULL;
    if (!r) return st;
    const float *bias = NULL, *h0 = NULL, *c0 = NULL, *peep = NULL;
    if (Bt && !(bias = as_f32(c, Bt, &st))) return st;
    if (H0 && !(h0 = as_f32(c, H0, &st))) return st;
    if (C0 && !(c0 = as_f32(c, C0, &st))) return st;
    if (P && !(peep = as_f32(c, P, &st))) return st;

    /* outputs */
    it_tensor *Y = NULL, *Yh = NULL, *Yc = NULL;
    int64_t ydims[4] = {S, D, B, H}, sdims[3] = {D, B, H};
    if (layout) {
        ydims[0] = B, ydims[1] = S, ydims[2] = D;
        sdims[0] = B, sdims[1] = D;
    }
    if (it_has_out(c, 0) && (st = it_out_tensor(c, 0, dt, 4, ydims, &Y))) return st;
    if (it_has_out(c, 1) && (st = it_out_tensor(c, 1, dt, 3, sdims, &Yh))) return st;
    if (kind == K_LSTM && it_has_out(c, 2) && (st = it_out_tensor(c, 2, dt, 3, sdims, &Yc))) return st;
    float *y = NULL, *yh = NULL, *yc = NULL;
    int64_t state_n = D * B * H;
    if (Y) y = dt == IT_F32 ? Y->data : it_scratch(c, sizeof(float) * (size_t)(it_count(Y) + 1));
    if (Yh) yh = dt == IT_F32 ? Yh->data : it_scratch(c, sizeof(float) * (size_t)(state_n + 1));
    if (Yc) yc = dt == IT_F32 ? Yc->data : it_scratch(c, sizeof(float) * (size_t)(state_n + 1));
    if ((Y && !y) || (Yh && !yh) || (Yc && !yc)) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");

    /* workspace: xw [rows, DGH] | bsum [DGH] | gates [B, GH] | tmp [B, GH] | h [B, H] | cs [B, H] | rh [B, H] */
    float *xw = it_scratch(c, sizeof(float) * (size_t)(xw_n + 1));
    int64_t ws_n = DGH + 2 * B * GH + 3 * B * H + 16;
    float *ws = it_scratch(c, sizeof(float) * (size_t)ws_n);
    int64_t *lens = it_scratch(c, sizeof(int64_t) * (size_t)(B + 1));
    if (!xw || !ws || !lens) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    float *bsum = ws, *gates = bsum + DGH, *tmp = gates + B * GH, *h = tmp + B * GH, *cs = h + B * H, *rh = cs + B * H;
    int64_t max_len = 0;
    for (int64_t b = 0; b < B; b++) {
        lens[b] = SL ? it_get_i64(SL->data, SL->dtype, b) : S;
        if (lens[b] < 0 || lens[b] > S) return it_opfail(c, INGOT_ERR_SHAPE, "sequence_lens[%lld] = %lld out of range", (long long)b, (long long)lens[b]);
        if (lens[b] > max_len) max_len = lens[b];
    }
    if (bias) {
        for (int64_t d = 0; d < D; d++)
            for (int64_t j = 0; j < GH; j++) {
                float wb = bias[d * 2 * GH + j], rb = bias[d * 2 * GH + GH + j];
                bsum[d * GH + j] = (lbr && j >= 2 * H) ? wb : wb + rb; /* lbr: Rbh goes inside r * (...) */
            }
    }

    /* packed weights */
    rnn_pack *pk = node->state;
    if (pk && (pk->dirs != D || pk->hidden != H || dt != IT_F32 || pk->split != (kind == K_GRU && !lbr))) pk = NULL;
    rnn_pack local;
    memset(&local, 0, sizeof local);
    if (!pk) {
        local.split = kind == K_GRU && !lbr;
        for (int64_t d = 0; d < D; d++) pack_r(&local, kind, r + d * GH * H, H, (int)d); /* NULL packs: raw fallback */
    }
    const rnn_pack *kp = pk ? pk : &local;

    /* input projection for all steps and directions: xw = X @ W^T + (Wb + Rb) */
    it_epilogue ep = {1.f, 0.f, NULL, bias ? bsum : NULL, {0, 0, 0}};
    it_sgemm_ex(c->tp, rows, DGH, I, x, I, 0, NULL, w, I, 1, pk && pk->input == I ? pk->w : NULL, xw, DGH, &ep);

    it_epilogue acc = {1.f, 1.f, NULL, NULL, {0, 0, 0}};
    it_epilogue set = {1.f, 0.f, NULL, NULL, {0, 0, 0}};
    for (int64_t d = 0; d < D; d++) {
        int rev = reverse_only || d == 1;
        const float *Rd = r + d * GH * H;
        const act_fn *f = &acts[d][0], *g = &acts[d][kind == K_RNN ? 0 : 1], *hf = &acts[d][kind == K_LSTM ? 2 : 0];
        const float *pi = peep ? peep + d * 3 * H : NULL, *po = pi ? pi + H : NULL, *pf = pi ? pi + 2 * H : NULL;
        for (int64_t b = 0; b < B; b++) {
            int64_t so = (layout ? b * D + d : d * B + b) * H;
            if (h0) memcpy(h + b * H, h0 + so, sizeof(float) * (size_t)H);
            else memset(h + b * H, 0, sizeof(float) * (size_t)H);
            if (c0) memcpy(cs + b * H, c0 + so, sizeof(float) * (size_t)H);
            else memset(cs + b * H, 0, sizeof(float) * (size_t)H);
        }
        for (int64_t s = 0; s < max_len; s++) {
            for (int64_t b = 0; b < B; b++) {
                if (s >= lens[b]) {
                    memset(gates + b * GH, 0, sizeof(float) * (size_t)GH);
                    continue;
                }
                int64_t t = rev ? lens[b] - 1 - s : s;
                int64_t row = layout ? b * S + t : t * B + b;
                memcpy(gates + b * GH, xw + row * DGH + d * GH, sizeof(float) * (size_t)GH);
            }
            if (kind == K_GRU && !lbr) {
                /* z, r = f(x + h @ Rzr^T); h~ = g(x + (r * h) @ Rh^T) */
                it_sgemm_ex(c->tp, B, 2 * H, H, h, H, 0, NULL, Rd, H, 1, kp->r[d], gates, GH, &acc);
                for (int64_t b = 0; b < B; b++) {
                    float *gz = gates + b * GH;
                    clip_n(gz, 2 * H, clip);
                    act_apply(f, gz, 2 * H);
                    for (int64_t j = 0; j < H; j++) rh[b * H + j] = gz[H + j] * h[b * H + j];
                }
                it_sgemm_ex(c->tp, B, H, H, rh, H, 0, NULL, Rd + 2 * H * H, H, 1, kp->rh[d], tmp, H, &set);
            } else {
                it_sgemm_ex(c->tp, B, GH, H, h, H, 0, NULL, Rd, H, 1, kp->r[d],
                            kind == K_GRU ? tmp : gates, GH, kind == K_GRU ? &set : &acc);
            }
            for (int64_t b = 0; b < B; b++) {
                if (s >= lens[b]) continue;
                float *gb = gates + b * GH, *hb = h + b * H, *cb = cs + b * H;
                if (kind == K_RNN) {
                    clip_n(gb, H, clip);
                    act_apply(f, gb, H);
                    memcpy(hb, gb, sizeof(float) * (size_t)H);
                } else if (kind == K_GRU) {
                    float *z = gb, *rr = gb + H, *hx = gb + 2 * H, *tb = tmp + b * (lbr ? GH : H);
                    if (lbr) {
                        const float *rbh_d = bias ? bias + d * 2 * GH + GH + 2 * H : NULL;
                        for (int64_t j = 0; j < 2 * H; j++) gb[j] += tb[j];
                        clip_n(gb, 2 * H, clip);
                        act_apply(f, gb, 2 * H);
                        for (int64_t j = 0; j < H; j++) hx[j] += rr[j] * (tb[2 * H + j] + (rbh_d ? rbh_d[j] : 0));
                    } else {
                        for (int64_t j = 0; j < H; j++) hx[j] += tb[j];
                    }
                    clip_n(hx, H, clip);
                    act_apply(g, hx, H);
                    for (int64_t j = 0; j < H; j++) hb[j] = (1.f - z[j]) * hx[j] + z[j] * hb[j];
                } else {
                    float *gi = gb, *go = gb + H, *gf = gb + 2 * H, *gc = gb + 3 * H;
                    if (pi)
                        for (int64_t j = 0; j < H; j++) gi[j] += pi[j] * cb[j];
                    clip_n(gi, H, clip);
                    act_apply(f, gi, H);
                    if (input_forget) {
                        for (int64_t j = 0; j < H; j++) gf[j] = 1.f - gi[j];
                    } else {
                        if (pf)
                            for (int64_t j = 0; j < H; j++) gf[j] += pf[j] * cb[j];
                        clip_n(gf, H, clip);
                        act_apply(f, gf, H);
                    }
                    clip_n(gc, H, clip);
                    act_apply(g, gc, H);
                    for (int64_t j = 0; j < H; j++) cb[j] = gf[j] * cb[j] + gi[j] * gc[j];
                    if (po)
                        for (int64_t j = 0; j < H; j++) go[j] += po[j] * cb[j];
                    clip_n(go, H, clip);
                    act_apply(f, go, H);
                    memcpy(gc, cb, sizeof(float) * (size_t)H);
                    act_apply(hf, gc, H);
                    for (int64_t j = 0; j < H; j++) hb[j] = go[j] * gc[j];
                }
                if (y) {
                    int64_t t = rev ? lens[b] - 1 - s : s;
                    int64_t off = (layout ? (b * S + t) * D + d : (t * D + d) * B + b) * H;
                    memcpy(y + off, hb, sizeof(float) * (size_t)H);
                }
            }
        }
        for (int64_t b = 0; b < B; b++) {
            int64_t so = (layout ? b * D + d : d * B + b) * H;
            if (yh) memcpy(yh + so, h + b * H, sizeof(float) * (size_t)H);
            if (yc) memcpy(yc + so, cs + b * H, sizeof(float) * (size_t)H);
        }
    }
    for (int d = 0; d < 2; d++) {
        it_packed_free(local.r[d]);
        it_packed_free(local.rh[d]);
    }
    if (dt != IT_F32) {
        if (Y) it_convert(Y->data, dt, y, IT_F32, it_count(Y), 0);
        if (Yh) it_convert(Yh->data, dt, yh, IT_F32, state_n, 0);
        if (Yc) it_convert(Yc->data, dt, yc, IT_F32, state_n, 0);
    }
    return 0;
}

const it_op it_ops_rnn[] = {
    {"", "RNN", NULL, cell_run, pack_free, 0, cell_prepare},
    {"", "GRU", NULL, cell_run, pack_free, 0, cell_prepare},
    {"", "LSTM", NULL, cell_run, pack_free, 0, cell_prepare},
    {0},
};
