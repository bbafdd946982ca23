/*
 * attention.c: transformer attention operators: Attention (opset 23/24: 3-D or 4-D
 * inputs, GQA/MQA head groups, bool or additive masks with broadcasting, causal
 * masking, softcap, KV cache concatenation, the qk_matmul_output modes and
 * nonpad_kv_seqlen), ai.onnx.preview FlexAttention (score_mod / prob_mod
 * subgraphs), RotaryEmbedding, and the newer recurrent-style ops LinearAttention,
 * CausalConvWithState and SwiGLU.
 *
 * Workload: LLM and encoder inference. Attention computes in float32 whatever the
 * input type: per (batch, head) and per block of query rows, QK^T and PV go
 * through it_sgemm and the softmax is the max-subtracted one; the (batch, head)
 * pairs are split over the thread pool. Fully masked rows produce zeros (not NaN).
 */
#include "ops.h"

/* ---------------------------------------------------------------- helpers */

/* Input t as float32: the tensor's own data when it already is, else a converted
 * scratch copy. NULL on failure (the error is set). */
static const float *as_f32(it_opctx *c, const it_tensor *t) {
    if (t->dtype == IT_F32) return t->data;
    if (!it_dtype_is_float(t->dtype) && !it_dtype_is_int(t->dtype) && t->dtype != IT_BOOL) {
        it_opfail(c, INGOT_ERR_UNSUPPORTED, "unsupported element type %s", it_dtype_name(t->dtype));
        return NULL;
    }
    int64_t n = it_count(t);
    float *p = it_scratch(c, (size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!p) {
        it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
        return NULL;
    }
    it_convert(p, IT_F32, t->data, t->dtype, n, 0);
    return p;
}

/* A float32 buffer for output t: its own storage when it is float32, else scratch
 * (converted into t by out_finish). */
static float *out_f32(it_opctx *c, it_tensor *t) {
    if (t->dtype == IT_F32) return t->data;
    int64_t n = it_count(t);
    float *p = it_scratch(c, (size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!p) it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    return p;
}

static void out_finish(it_tensor *t, const float *buf) {
    if (t->dtype != IT_F32) it_convert(t->data, t->dtype, buf, IT_F32, it_count(t), 0);
}

static int is_attn_float(int dt) { return dt == IT_F32 || dt == IT_F16 || dt == IT_BF16 || dt == IT_F64; }

/* Softmax of n floats in place; a row whose max is -inf (fully masked) becomes 0. */
static void softmax_row(float *s, int64_t n) {
    float m = -INFINITY;
    for (int64_t j = 0; j < n; j++)
        if (s[j] > m) m = s[j];
    if (m == -INFINITY) {
        for (int64_t j = 0; j < n; j++) s[j] = 0;
        return;
    }
    float sum = 0;
    for (int64_t j = 0; j < n; j++) {
        float e = expf(s[j] - m);
        s[j] = e;
        sum += e;
    }
    float inv = 1.0f / sum;
    for (int64_t j = 0; j < n; j++) s[j] *= inv;
}

/* ---------------------------------------------------------------- Attention */

#define ATT_QBLOCK 128 /* query rows per block: bounds the per-thread score buffer */

typedef struct att_job {
    int64_t B, Hq, Hkv, Sq, T, D, Dv;
    float scale, softcap;
    /* per-head operands: base + b*bs + h*hs, rows ld apart */
    const float *q; int64_t q_bs, q_hs, q_ld;
    const float *k; int64_t k_bs, k_hs, k_ld;
    const float *v; int64_t v_bs, v_hs, v_ld;
    float *y; int64_t y_bs, y_hs, y_ld;
    /* additive mask (float, -inf for masked) broadcast to [B,Hq,Sq,Tm] */
    const float *mask; int64_t m_str[4], Tm;
    int causal;
    const int64_t *causal_off; /* per batch, or NULL: offset 0 */
    int64_t causal_off0;
    const int64_t *nonpad;     /* per batch valid kv length, or NULL */
    int qk_mode;
    float *qk;                 /* [B,Hq,Sq,T] or NULL */
    float *sbuf;               /* nthreads * QBLOCK * T */
    int64_t srows;  /* rows of sbuf per thread: min(Sq, ATT_QBLOCK) */
} att_job;

static void att_head(void *arg, int64_t begin, int64_t end, int tid) {
    const att_job *J = arg;
    int64_t T = J->T;
    float *S = J->sbuf + (int64_t)tid * J->srows * T;
    int64_t rep = J->Hq / J->Hkv;
    for (int64_t bh = begin; bh < end; bh++) {
        int64_t b = bh / J->Hq, h = bh % J->Hq, g = h / rep;
        const float *Q = J->q + b * J->q_bs + h * J->q_hs;
        const float *K = J->k + b * J->k_bs + g * J->k_hs;
        const float *V = J->v + b * J->v_bs + g * J->v_hs;
        float *Y = J->y + b * J->y_bs + h * J->y_hs;
        int64_t off = J->causal_off ? J->causal_off[b] : J->causal_off0;
        int64_t np = J->nonpad ? J->nonpad[b] : T;
        for (int64_t i0 = 0; i0 < J->Sq; i0 += ATT_QBLOCK) {
            int64_t m = J->Sq - i0 < ATT_QBLOCK ? J->Sq - i0 : ATT_QBLOCK;
            if (T > 0 && J->D > 0)
                it_sgemm(NULL, 0, 1, m, T, J->D, J->scale, Q + i0 * J->q_ld, J->q_ld, K, J->k_ld, 0.0f, S, T);
            else
                memset(S, 0, (size_t)(m * T) * sizeof(float));
            for (int64_t r = 0; r < m; r++) {
                int64_t i = i0 + r;
                float *s = S + r * T;
                float *qk = J->qk ? J->qk + ((bh * J->Sq) + i) * T : NULL;
                if (qk && J->qk_mode == 0) memcpy(qk, s, (size_t)T * sizeof(float));
                if (J->softcap > 0) {
                    float cap = J->softcap, inv = 1.0f / cap;
                    for (int64_t j = 0; j < T; j++) s[j] = tanhf(s[j] * inv) * cap;
                }
                if (qk && J->qk_mode == 1) memcpy(qk, s, (size_t)T * sizeof(float));
                if (J->mask) {
                    const float *mr = J->mask + b * J->m_str[0] + h * J->m_str[1] + i * J->m_str[2];
                    int64_t js = J->m_str[3], lim = J->Tm < T ? J->Tm : T;
                    for (int64_t j = 0; j < lim; j++) s[j] += mr[j * js];
                    for (int64_t j = lim; j < T; j++) s[j] = -INFINITY;
                }
                if (J->causal) {
                    int64_t first = i + off + 1; /* first masked key */
                    if (first < 0) first = 0;
                    for (int64_t j = first; j < T; j++) s[j] = -INFINITY;
                }
                if (J->nonpad) {
                    int64_t first = np < 0 ? 0 : np;
                    for (int64_t j = first; j < T; j++) s[j] = -INFINITY;
                }
                if (qk && J->qk_mode == 2) memcpy(qk, s, (size_t)T * sizeof(float));
                softmax_row(s, T);
                if (qk && J->qk_mode == 3) memcpy(qk, s, (size_t)T * sizeof(float));
            }
            if (J->Dv > 0) {
                if (T > 0)
                    it_sgemm(NULL, 0, 0, m, J->Dv, T, 1.0f, S, T, V, J->v_ld, 0.0f, Y + i0 * J->y_ld, J->y_ld);
                else
                    for (int64_t r = 0; r < m; r++) memset(Y + (i0 + r) * J->y_ld, 0, (size_t)J->Dv * sizeof(float));
            }
        }
    }
}

/* Build present = concat(past, cur) along the sequence axis as [B,H,P+S,D] float32.
 * cur is either 4-D [B,H,S,D] or 3-D [B,S,H*D]. */
static void build_present(float *dst, const float *past, const float *cur, int cur3d, int64_t B, int64_t H,
                          int64_t P, int64_t S, int64_t D) {
    int64_t T = P + S;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            float *d = dst + ((b * H + h) * T) * D;
            if (P > 0) memcpy(d, past + ((b * H + h) * P) * D, (size_t)(P * D) * sizeof(float));
            for (int64_t s = 0; s < S; s++) {
                const float *src = cur3d ? cur + (b * S + s) * H * D + h * D : cur + ((b * H + h) * S + s) * D;
                memcpy(d + (P + s) * D, src, (size_t)D * sizeof(float));
            }
        }
}

static int attention_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, Qt);
    IT_REQUIRE_IN(c, 1, Kt);
    IT_REQUIRE_IN(c, 2, Vt);
    it_tensor *Mt = it_in(c, 3), *PKt = it_in(c, 4), *PVt = it_in(c, 5), *NPt = it_in(c, 6);
    const it_node *n = c->node;
    if (!is_attn_float(Qt->dtype) || Kt->dtype != Qt->dtype || Vt->dtype != Qt->dtype)
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "Q, K, V must share a float type");
    int rank = Qt->ndim;
    if ((rank != 3 && rank != 4) || Kt->ndim != rank || Vt->ndim != rank)
        return it_opfail(c, INGOT_ERR_SHAPE, "Q, K, V must all be 3-D or all 4-D");
    int64_t B = Qt->dims[0], Hq, Hkv, Sq, Skv, D, Dv;
    if (Kt->dims[0] != B || Vt->dims[0] != B) return it_opfail(c, INGOT_ERR_SHAPE, "batch sizes differ");
    if (rank == 4) {
        Hq = Qt->dims[1]; Sq = Qt->dims[2]; D = Qt->dims[3];
        Hkv = Kt->dims[1]; Skv = Kt->dims[2];
        if (Kt->dims[3] != D) return it_opfail(c, INGOT_ERR_SHAPE, "Q and K head sizes differ");
        if (Vt->dims[1] != Hkv || Vt->dims[2] != Skv) return it_opfail(c, INGOT_ERR_SHAPE, "K and V shapes differ");
        Dv = Vt->dims[3];
    } else {
        Hq = it_attr_int(n, "q_num_heads", 0);
        Hkv = it_attr_int(n, "kv_num_heads", 0);
        if (Hq <= 0 || Hkv <= 0)
            return it_opfail(c, INGOT_ERR_FORMAT, "3-D inputs need q_num_heads and kv_num_heads");
        Sq = Qt->dims[1]; Skv = Kt->dims[1];
        if (Vt->dims[1] != Skv) return it_opfail(c, INGOT_ERR_SHAPE, "K and V sequence lengths differ");
        if (Qt->dims[2] % Hq || Kt->dims[2] % Hkv || Vt->dims[2] % Hkv)
            return it_opfail(c, INGOT_ERR_SHAPE, "hidden sizes are not multiples of the head counts");
        D = Qt->dims[2] / Hq;
        if (Kt->dims[2] / Hkv != D) return it_opfail(c, INGOT_ERR_SHAPE, "Q and K head sizes differ");
        Dv = Vt->dims[2] / Hkv;
    }
    if (Hq <= 0 || Hkv <= 0 || Hq % Hkv) return it_opfail(c, INGOT_ERR_SHAPE, "q heads %lld not a multiple of kv heads %lld", (long long)Hq, (long long)Hkv);
    int64_t P = 0;
    if ((PKt != NULL) != (PVt != NULL)) return it_opfail(c, INGOT_ERR_FORMAT, "past_key and past_value go together");
    if (PKt) {
        if (PKt->ndim != 4 || PVt->ndim != 4 || PKt->dims[0] != B || PKt->dims[1] != Hkv || PKt->dims[3] != D ||
            PVt->dims[0] != B || PVt->dims[1] != Hkv || PVt->dims[3] != Dv || PVt->dims[2] != PKt->dims[2])
            return it_opfail(c, INGOT_ERR_SHAPE, "past_key/past_value shapes do not fit K/V");
        if (PKt->dtype != Qt->dtype || PVt->dtype != Qt->dtype) return it_opfail(c, INGOT_ERR_SHAPE, "past types differ from Q");
        P = PKt->dims[2];
    }
    int64_t T = P + Skv;
    int64_t tmp;
    if (!it_mul_ok(B, Hq, &tmp) || !it_mul_ok(tmp, Sq, &tmp) || !it_mul_ok(tmp, T, &tmp) || tmp > IT_LIMIT_ELEMENTS)
        return it_opfail(c, INGOT_ERR_LIMIT, "attention too large");

    float scale = it_attr_float(n, "scale", 0.0f);
    if (!it_attr_get(n, "scale") || scale == 0.0f) scale = D > 0 ? 1.0f / sqrtf((float)D) : 1.0f;
    float softcap = it_attr_float(n, "softcap", 0.0f);
    int causal = (int)it_attr_int(n, "is_causal", 0);
    int qk_mode = (int)it_attr_int(n, "qk_matmul_output_mode", 0);
    if (qk_mode < 0 || qk_mode > 3) return it_opfail(c, INGOT_ERR_FORMAT, "qk_matmul_output_mode %d", qk_mode);

    /* outputs */
    int64_t ydims[4];
    int ynd = rank;
    if (rank == 4) { ydims[0] = B; ydims[1] = Hq; ydims[2] = Sq; ydims[3] = Dv; }
    else { ydims[0] = B; ydims[1] = Sq; ydims[2] = Hq * Dv; }
    it_tensor *Yt, *PKo = NULL, *PVo = NULL, *QKo = NULL;
    int st = it_out_tensor(c, 0, Qt->dtype, ynd, ydims, &Yt);
    if (st) return st;
    int64_t pkd[4] = {B, Hkv, T, D}, pvd[4] = {B, Hkv, T, Dv}, qkd[4] = {B, Hq, Sq, T};
    if (it_has_out(c, 1) && (st = it_out_tensor(c, 1, Qt->dtype, 4, pkd, &PKo))) return st;
    if (it_has_out(c, 2) && (st = it_out_tensor(c, 2, Qt->dtype, 4, pvd, &PVo))) return st;
    if (it_has_out(c, 3) && (st = it_out_tensor(c, 3, Qt->dtype, 4, qkd, &QKo))) return st;

    const float *q = as_f32(c, Qt), *k = as_f32(c, Kt), *v = as_f32(c, Vt);
    if (!q || !k || !v) return INGOT_ERR_NOMEM;
    att_job J = {0};
    J.B = B; J.Hq = Hq; J.Hkv = Hkv; J.Sq = Sq; J.T = T; J.D = D; J.Dv = Dv;
    J.scale = scale; J.softcap = softcap; J.qk_mode = qk_mode;
    J.q = q;
    if (rank == 4) { J.q_bs = Hq * Sq * D; J.q_hs = Sq * D; J.q_ld = D; }
    else { J.q_bs = Sq * Hq * D; J.q_hs = D; J.q_ld = Hq * D; }

    /* keys and values: the concatenated cache when there is a past or a present output */
    if (PKt || PKo) {
        float *kall = PKo && PKo->dtype == IT_F32 ? PKo->data : it_scratch(c, (size_t)(B * Hkv * T * D + 1) * sizeof(float));
        if (!kall) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
        const float *pk = PKt ? as_f32(c, PKt) : NULL;
        if (PKt && !pk) return INGOT_ERR_NOMEM;
        build_present(kall, pk, k, rank == 3, B, Hkv, P, Skv, D);
        if (PKo) out_finish(PKo, kall);
        J.k = kall; J.k_bs = Hkv * T * D; J.k_hs = T * D; J.k_ld = D;
    } else {
        J.k = k;
        if (rank == 4) { J.k_bs = Hkv * Skv * D; J.k_hs = Skv * D; J.k_ld = D; }
        else { J.k_bs = Skv * Hkv * D; J.k_hs = D; J.k_ld = Hkv * D; }
    }
    if (PVt || PVo) {
        float *vall = PVo && PVo->dtype == IT_F32 ? PVo->data : it_scratch(c, (size_t)(B * Hkv * T * Dv + 1) * sizeof(float));
        if (!vall) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
        const float *pv = PVt ? as_f32(c, PVt) : NULL;
        if (PVt && !pv) return INGOT_ERR_NOMEM;
        build_present(vall, pv, v, rank == 3, B, Hkv, P, Skv, Dv);
        if (PVo) out_finish(PVo, vall);
        J.v = vall; J.v_bs = Hkv * T * Dv; J.v_hs = T * Dv; J.v_ld = Dv;
    } else {
        J.v = v;
        if (rank == 4) { J.v_bs = Hkv * Skv * Dv; J.v_hs = Skv * Dv; J.v_ld = Dv; }
        else { J.v_bs = Skv * Hkv * Dv; J.v_hs = Dv; J.v_ld = Hkv * Dv; }
    }

    /* mask -> additive float broadcast to [B,Hq,Sq,Tm] */
    if (Mt) {
        if (Mt->ndim < 1 || Mt->ndim > 4) return it_opfail(c, INGOT_ERR_SHAPE, "attn_mask rank %d", Mt->ndim);
        int64_t Tm = Mt->dims[Mt->ndim - 1];
        if (Tm > T) return it_opfail(c, INGOT_ERR_SHAPE, "attn_mask has %lld keys, more than %lld", (long long)Tm, (long long)T);
        int64_t tgt[4] = {B, Hq, Sq, Tm};
        int64_t md[4] = {1, 1, 1, 1};
        for (int i = 0; i < Mt->ndim; i++) md[4 - Mt->ndim + i] = Mt->dims[i];
        for (int i = 0; i < 4; i++)
            if (md[i] != 1 && md[i] != tgt[i])
                return it_opfail(c, INGOT_ERR_SHAPE, "attn_mask does not broadcast to [B,H,Sq,T]");
        int64_t cnt = it_count(Mt);
        float *mf = it_scratch(c, (size_t)(cnt > 0 ? cnt : 1) * sizeof(float));
        if (!mf) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
        if (Mt->dtype == IT_BOOL) {
            const uint8_t *mb = Mt->data;
            for (int64_t i = 0; i < cnt; i++) mf[i] = mb[i] ? 0.0f : -INFINITY;
        } else if (it_dtype_is_float(Mt->dtype)) {
            it_convert(mf, IT_F32, Mt->data, Mt->dtype, cnt, 0);
        } else {
            return it_opfail(c, INGOT_ERR_UNSUPPORTED, "attn_mask type %s", it_dtype_name(Mt->dtype));
        }
        int64_t s = 1;
        for (int i = 3; i >= 0; i--) {
            J.m_str[i] = md[i] == 1 ? 0 : s;
            s *= md[i];
        }
        J.mask = mf;
        J.Tm = Tm;
    }
    int64_t *offs = NULL;
    if (NPt) {
        if (it_count(NPt) != B || !it_dtype_is_int(NPt->dtype))
            return it_opfail(c, INGOT_ERR_SHAPE, "nonpad_kv_seqlen must hold one integer per batch");
        int64_t *np = it_scratch(c, (size_t)(B + 1) * sizeof(int64_t));
        offs = it_scratch(c, (size_t)(B + 1) * sizeof(int64_t));
        if (!np || !offs) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
        for (int64_t b = 0; b < B; b++) {
            np[b] = it_get_i64(NPt->data, NPt->dtype, b);
            /* clamp so offset arithmetic cannot overflow; beyond +-(T+Sq) nothing changes */
            int64_t lim = T + Sq + 1, v = np[b] < -lim ? -lim : np[b] > lim ? lim : np[b];
            offs[b] = v - Sq;
        }
        J.nonpad = np;
    }
    J.causal = causal;
    if (causal) {
        if (!PKt && NPt) J.causal_off = offs;
        else J.causal_off0 = P;
    }
    float *y = out_f32(c, Yt);
    float *qk = QKo ? out_f32(c, QKo) : NULL;
    if (!y || (QKo && !qk)) return INGOT_ERR_NOMEM;
    J.y = y;
    if (rank == 4) { J.y_bs = Hq * Sq * Dv; J.y_hs = Sq * Dv; J.y_ld = Dv; }
    else { J.y_bs = Sq * Hq * Dv; J.y_hs = Dv; J.y_ld = Hq * Dv; }
    J.qk = qk;
    int nthr = it_threadpool_size(c->tp);
    int64_t rows = Sq < ATT_QBLOCK ? Sq : ATT_QBLOCK;
    J.srows = rows;
    J.sbuf = it_scratch(c, (size_t)((int64_t)nthr * rows * T + 1) * sizeof(float));
    if (!J.sbuf) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    it_parallel_for(c->tp, B * Hq, 1, att_head, &J);
    out_finish(Yt, y);
    if (QKo) out_finish(QKo, qk);
    return 0;
}

/* ---------------------------------------------------------------- FlexAttention */

/* Run a one-input subgraph (score_mod / prob_mod) over the [B,H,L,S] buffer s in place. */
static int flex_mod(it_opctx *c, const it_graph *g, float *s, int64_t *dims, int dtype) {
    if (g->n_inputs != 1 || g->n_outputs != 1)
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "FlexAttention modifier subgraphs with %d inputs are not supported", g->n_inputs);
    int64_t n = it_shape_count(4, dims);
    it_value in = {0}, out = {0};
    int st = it_value_alloc(c->x, &in, dtype, 4, dims, c->err);
    if (st) return st;
    it_convert(in.t.data, dtype, s, IT_F32, n, 0);
    it_value *ins[1] = {&in};
    st = it_exec_subgraph(c, g, 1, ins, &out);
    it_value_release(c->x, &in);
    if (st) return st;
    if (out.kind != IT_V_TENSOR || it_count(&out.t) != n || !it_dtype_is_float(out.t.dtype)) {
        it_value_release(c->x, &out);
        return it_opfail(c, INGOT_ERR_SHAPE, "FlexAttention modifier must return a float tensor of the scores' shape");
    }
    it_convert(s, IT_F32, out.t.data, out.t.dtype, n, 0);
    it_value_release(c->x, &out);
    return 0;
}

static int flex_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, Qt);
    IT_REQUIRE_IN(c, 1, Kt);
    IT_REQUIRE_IN(c, 2, Vt);
    const it_node *n = c->node;
    if (!is_attn_float(Qt->dtype) || Kt->dtype != Qt->dtype || Vt->dtype != Qt->dtype)
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "Q, K, V must share a float type");
    if (Qt->ndim != 4 || Kt->ndim != 4 || Vt->ndim != 4) return it_opfail(c, INGOT_ERR_SHAPE, "FlexAttention needs 4-D Q, K, V");
    int64_t B = Qt->dims[0], Hq = Qt->dims[1], L = Qt->dims[2], D = Qt->dims[3];
    int64_t Hkv = Kt->dims[1], S = Kt->dims[2], Dv = Vt->dims[3];
    if (Kt->dims[0] != B || Vt->dims[0] != B || Kt->dims[3] != D || Vt->dims[1] != Hkv || Vt->dims[2] != S)
        return it_opfail(c, INGOT_ERR_SHAPE, "Q, K, V shapes do not fit");
    if (Hkv <= 0 || Hq % Hkv) return it_opfail(c, INGOT_ERR_SHAPE, "q heads not a multiple of kv heads");
    if (it_attr_get(n, "mask_mod")) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "FlexAttention mask_mod is not supported");
    int64_t sd[4] = {B, Hq, L, S}, tot = it_shape_count(4, sd);
    if (tot < 0 || tot > IT_LIMIT_ELEMENTS) return it_opfail(c, INGOT_ERR_LIMIT, "scores too large");
    float scale = it_attr_float(n, "scale", 0.0f);
    if (!it_attr_get(n, "scale") || scale == 0.0f) scale = D > 0 ? 1.0f / sqrtf((float)D) : 1.0f;
    int64_t yd[4] = {B, Hq, L, Dv};
    it_tensor *Yt;
    int st = it_out_tensor(c, 0, Qt->dtype, 4, yd, &Yt);
    if (st) return st;
    const float *q = as_f32(c, Qt), *k = as_f32(c, Kt), *v = as_f32(c, Vt);
    float *y = out_f32(c, Yt);
    float *s = it_scratch(c, (size_t)(tot + 1) * sizeof(float));
    if (!q || !k || !v || !y || !s) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    int64_t rep = Hq / Hkv;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hq; h++) {
            const float *Q = q + ((b * Hq + h) * L) * D, *K = k + ((b * Hkv + h / rep) * S) * D;
            if (L > 0 && S > 0 && D > 0) it_sgemm(c->tp, 0, 1, L, S, D, scale, Q, D, K, D, 0.0f, s + ((b * Hq + h) * L) * S, S);
        }
    int sdt = Qt->dtype == IT_F64 ? IT_F64 : IT_F32;
    const it_attr *a = it_attr_get(n, "score_mod");
    if (a && a->type == IT_ATTR_GRAPH && a->g && (st = flex_mod(c, a->g, s, sd, sdt))) return st;
    for (int64_t r = 0; r < B * Hq * L; r++) softmax_row(s + r * S, S);
    a = it_attr_get(n, "prob_mod");
    if (a && a->type == IT_ATTR_GRAPH && a->g && (st = flex_mod(c, a->g, s, sd, sdt))) return st;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hq; h++) {
            const float *V = v + ((b * Hkv + h / rep) * S) * Dv;
            float *Y = y + ((b * Hq + h) * L) * Dv;
            if (L > 0 && Dv > 0) {
                if (S > 0) it_sgemm(c->tp, 0, 0, L, Dv, S, 1.0f, s + ((b * Hq + h) * L) * S, S, V, Dv, 0.0f, Y, Dv);
                else memset(Y, 0, (size_t)(L * Dv) * sizeof(float));
            }
        }
    out_finish(Yt, y);
    return 0;
}

/* ---------------------------------------------------------------- RotaryEmbedding */

static int rotary_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, X);
    IT_REQUIRE_IN(c, 1, Ct);
    IT_REQUIRE_IN(c, 2, St);
    it_tensor *Pt = it_in(c, 3);
    const it_node *n = c->node;
    if (!it_dtype_is_float(X->dtype)) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "input type %s", it_dtype_name(X->dtype));
    int64_t B, S, H, D;
    int rank = X->ndim;
    if (rank == 4) { B = X->dims[0]; H = X->dims[1]; S = X->dims[2]; D = X->dims[3]; }
    else if (rank == 3) {
        B = X->dims[0]; S = X->dims[1];
        H = it_attr_int(n, "num_heads", 0);
        if (H <= 0 || X->dims[2] % H) return it_opfail(c, INGOT_ERR_FORMAT, "3-D input needs num_heads dividing the hidden size");
        D = X->dims[2] / H;
    } else return it_opfail(c, INGOT_ERR_SHAPE, "input must be 3-D or 4-D");
    int64_t rd = it_attr_int(n, "rotary_embedding_dim", 0);
    if (rd == 0) rd = D;
    if (rd < 0 || rd > D || rd % 2) return it_opfail(c, INGOT_ERR_FORMAT, "rotary_embedding_dim %lld invalid", (long long)rd);
    int64_t half = rd / 2;
    int inter = (int)it_attr_int(n, "interleaved", 0);
    int64_t maxpos = 0;
    if (Pt) {
        if (!it_dtype_is_int(Pt->dtype) || Pt->ndim != 2 || Pt->dims[0] != B || Pt->dims[1] != S)
            return it_opfail(c, INGOT_ERR_SHAPE, "position_ids must be integer [B,S]");
        if (Ct->ndim != 2 || St->ndim != 2 || Ct->dims[1] != half || St->dims[1] != half || St->dims[0] != Ct->dims[0])
            return it_opfail(c, INGOT_ERR_SHAPE, "cos/sin caches must be [max_pos, rotary_dim/2]");
        maxpos = Ct->dims[0];
    } else {
        if (Ct->ndim != 3 || St->ndim != 3 || Ct->dims[0] != B || Ct->dims[1] != S || Ct->dims[2] != half ||
            St->dims[0] != B || St->dims[1] != S || St->dims[2] != half)
            return it_opfail(c, INGOT_ERR_SHAPE, "cos/sin caches must be [B,S,rotary_dim/2]");
    }
    it_tensor *Yt;
    int st = it_out_like(c, 0, X->dtype, X, &Yt);
    if (st) return st;
    const float *x = as_f32(c, X), *cc = as_f32(c, Ct), *sc = as_f32(c, St);
    float *y = out_f32(c, Yt);
    if (!x || !cc || !sc || !y) return INGOT_ERR_NOMEM;
    for (int64_t b = 0; b < B; b++)
        for (int64_t s = 0; s < S; s++) {
            int64_t row = b * S + s;
            if (Pt) {
                int64_t p = it_get_i64(Pt->data, Pt->dtype, b * S + s);
                if (p < 0 || p >= maxpos) return it_opfail(c, INGOT_ERR_SHAPE, "position id %lld out of range", (long long)p);
                row = p;
            }
            const float *cr = cc + row * half, *sr = sc + row * half;
            for (int64_t h = 0; h < H; h++) {
                int64_t off = rank == 4 ? ((b * H + h) * S + s) * D : (b * S + s) * H * D + h * D;
                const float *xi = x + off;
                float *yo = y + off;
                for (int64_t i = 0; i < half; i++) {
                    int64_t i1 = inter ? 2 * i : i, i2 = inter ? 2 * i + 1 : i + half;
                    float x1 = xi[i1], x2 = xi[i2];
                    yo[i1] = cr[i] * x1 - sr[i] * x2;
                    yo[i2] = sr[i] * x1 + cr[i] * x2;
                }
                for (int64_t i = rd; i < D; i++) yo[i] = xi[i];
            }
        }
    out_finish(Yt, y);
    return 0;
}

/* ---------------------------------------------------------------- LinearAttention */

static int linattn_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, Qt);
    IT_REQUIRE_IN(c, 1, Kt);
    IT_REQUIRE_IN(c, 2, Vt);
    it_tensor *PSt = it_in(c, 3), *DEt = it_in(c, 4), *BEt = it_in(c, 5);
    const it_node *n = c->node;
    const char *rule = it_attr_str(n, "update_rule", "gated_delta");
    int gating, delta;
    if (!strcmp(rule, "linear")) gating = 0, delta = 0;
    else if (!strcmp(rule, "gated")) gating = 1, delta = 0;
    else if (!strcmp(rule, "delta")) gating = 0, delta = 1;
    else if (!strcmp(rule, "gated_delta")) gating = 1, delta = 1;
    else return it_opfail(c, INGOT_ERR_FORMAT, "unknown update_rule '%s'", rule);
    int64_t Hq = it_attr_int(n, "q_num_heads", 0), Hkv = it_attr_int(n, "kv_num_heads", 0);
    if (Hq <= 0 || Hkv <= 0 || Hq % Hkv) return it_opfail(c, INGOT_ERR_FORMAT, "q_num_heads/kv_num_heads invalid");
    if (gating != (DEt != NULL)) return it_opfail(c, INGOT_ERR_FORMAT, "decay input %s for update_rule '%s'", gating ? "required" : "forbidden", rule);
    if (delta != (BEt != NULL)) return it_opfail(c, INGOT_ERR_FORMAT, "beta input %s for update_rule '%s'", delta ? "required" : "forbidden", rule);
    if (Qt->ndim != 3 || Kt->ndim != 3 || Vt->ndim != 3) return it_opfail(c, INGOT_ERR_SHAPE, "query/key/value must be 3-D");
    if (!it_dtype_is_float(Qt->dtype)) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "type %s", it_dtype_name(Qt->dtype));
    int64_t B = Qt->dims[0], T = Qt->dims[1];
    if (Kt->dims[0] != B || Vt->dims[0] != B || Kt->dims[1] != T || Vt->dims[1] != T)
        return it_opfail(c, INGOT_ERR_SHAPE, "query/key/value batch or length differ");
    if (Qt->dims[2] % Hq || Kt->dims[2] % Hkv || Vt->dims[2] % Hkv) return it_opfail(c, INGOT_ERR_SHAPE, "hidden sizes not divisible by heads");
    int64_t dk = Qt->dims[2] / Hq, dv = Vt->dims[2] / Hkv, rep = Hq / Hkv;
    if (Kt->dims[2] / Hkv != dk) return it_opfail(c, INGOT_ERR_SHAPE, "key head size differs from query's");
    int decay_per_key = 0;
    if (DEt) {
        if (DEt->ndim != 3 || DEt->dims[0] != B || DEt->dims[1] != T) return it_opfail(c, INGOT_ERR_SHAPE, "decay must be [B,T,*]");
        if (DEt->dims[2] == Hkv * dk && dk != 1) decay_per_key = 1;
        else if (DEt->dims[2] != Hkv) return it_opfail(c, INGOT_ERR_SHAPE, "decay last dim must be kv_num_heads or kv_num_heads*d_k");
    }
    int64_t beta_last = 0;
    if (BEt) {
        if (BEt->ndim != 3 || BEt->dims[0] != B || BEt->dims[1] != T || (BEt->dims[2] != Hkv && BEt->dims[2] != 1))
            return it_opfail(c, INGOT_ERR_SHAPE, "beta must be [B,T,kv_num_heads or 1]");
        beta_last = BEt->dims[2];
    }
    int64_t sdims[4] = {B, Hkv, dk, dv};
    if (PSt && (PSt->ndim != 4 || PSt->dims[0] != B || PSt->dims[1] != Hkv || PSt->dims[2] != dk || PSt->dims[3] != dv))
        return it_opfail(c, INGOT_ERR_SHAPE, "past_state must be [B,kv_heads,d_k,d_v]");
    float scale = it_attr_float(n, "scale", 0.0f);
    if (scale == 0.0f) scale = 1.0f / sqrtf((float)dk);
    int64_t yd[3] = {B, T, Hq * dv};
    it_tensor *Yt, *PRt;
    int st = it_out_tensor(c, 0, Qt->dtype, 3, yd, &Yt);
    if (st) return st;
    if ((st = it_out_tensor(c, 1, PSt ? PSt->dtype : Qt->dtype, 4, sdims, &PRt))) return st;
    const float *q = as_f32(c, Qt), *k = as_f32(c, Kt), *v = as_f32(c, Vt);
    const float *dec = DEt ? as_f32(c, DEt) : NULL, *bet = BEt ? as_f32(c, BEt) : NULL;
    float *y = out_f32(c, Yt), *state = out_f32(c, PRt);
    float *tmp = it_scratch(c, (size_t)(dv + 1) * sizeof(float));
    if (!q || !k || !v || !y || !state || !tmp || (DEt && !dec) || (BEt && !bet)) return INGOT_ERR_NOMEM;
    if (PSt) {
        const float *ps = as_f32(c, PSt);
        if (!ps) return INGOT_ERR_NOMEM;
        memcpy(state, ps, (size_t)it_count(PSt) * sizeof(float));
    } else memset(state, 0, (size_t)it_count(PRt) * sizeof(float));
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            for (int64_t g = 0; g < Hkv; g++) {
                float *Sg = state + ((b * Hkv + g) * dk) * dv;
                const float *kt = k + (b * T + t) * Hkv * dk + g * dk;
                const float *vt = v + (b * T + t) * Hkv * dv + g * dv;
                if (gating) {
                    for (int64_t i = 0; i < dk; i++) {
                        float gv = decay_per_key ? dec[(b * T + t) * Hkv * dk + g * dk + i] : dec[(b * T + t) * Hkv + g];
                        float e = expf(gv);
                        for (int64_t j = 0; j < dv; j++) Sg[i * dv + j] *= e;
                    }
                }
                const float *upd = vt;
                if (delta) {
                    float be = bet[(b * T + t) * beta_last + (beta_last == 1 ? 0 : g)];
                    for (int64_t j = 0; j < dv; j++) {
                        float r = 0;
                        for (int64_t i = 0; i < dk; i++) r += Sg[i * dv + j] * kt[i];
                        tmp[j] = be * (vt[j] - r);
                    }
                    upd = tmp;
                }
                for (int64_t i = 0; i < dk; i++)
                    for (int64_t j = 0; j < dv; j++) Sg[i * dv + j] += kt[i] * upd[j];
            }
            for (int64_t h = 0; h < Hq; h++) {
                const float *Sg = state + ((b * Hkv + h / rep) * dk) * dv;
                const float *qt = q + (b * T + t) * Hq * dk + h * dk;
                float *yo = y + (b * T + t) * Hq * dv + h * dv;
                for (int64_t j = 0; j < dv; j++) {
                    float acc = 0;
                    for (int64_t i = 0; i < dk; i++) acc += qt[i] * Sg[i * dv + j];
                    yo[j] = scale * acc;
                }
            }
        }
    out_finish(Yt, y);
    out_finish(PRt, state);
    return 0;
}

/* ---------------------------------------------------------------- CausalConvWithState */

static int cconv_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, X);
    IT_REQUIRE_IN(c, 1, W);
    it_tensor *Bt = it_in(c, 2), *PSt = it_in(c, 3);
    const char *act = it_attr_str(c->node, "activation", "none");
    int silu;
    if (!strcmp(act, "none")) silu = 0;
    else if (!strcmp(act, "silu") || !strcmp(act, "swish")) silu = 1;
    else return it_opfail(c, INGOT_ERR_FORMAT, "unknown activation '%s'", act);
    if (X->ndim != 3 || W->ndim != 3) return it_opfail(c, INGOT_ERR_SHAPE, "input and weight must be 3-D");
    if (!it_dtype_is_float(X->dtype)) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "type %s", it_dtype_name(X->dtype));
    int64_t N = X->dims[0], C = X->dims[1], L = X->dims[2], K = W->dims[2];
    if (W->dims[0] != C || W->dims[1] != 1 || K < 1) return it_opfail(c, INGOT_ERR_SHAPE, "weight must be [C,1,k]");
    if (Bt && it_count(Bt) != C) return it_opfail(c, INGOT_ERR_SHAPE, "bias must have C entries");
    if (PSt && (PSt->ndim != 3 || PSt->dims[0] != N || PSt->dims[1] != C || PSt->dims[2] != K - 1))
        return it_opfail(c, INGOT_ERR_SHAPE, "past_state must be [N,C,k-1]");
    int64_t sd[3] = {N, C, K - 1};
    it_tensor *Yt, *Pt;
    int st = it_out_like(c, 0, X->dtype, X, &Yt);
    if (st) return st;
    if ((st = it_out_tensor(c, 1, X->dtype, 3, sd, &Pt))) return st;
    const float *x = as_f32(c, X), *w = as_f32(c, W);
    const float *bias = Bt ? as_f32(c, Bt) : NULL, *ps = PSt ? as_f32(c, PSt) : NULL;
    float *y = out_f32(c, Yt), *pr = out_f32(c, Pt);
    float *pad = it_scratch(c, (size_t)(K - 1 + L + 1) * sizeof(float));
    if (!x || !w || !y || !pr || !pad || (Bt && !bias) || (PSt && !ps)) return INGOT_ERR_NOMEM;
    int lp = X->dtype != IT_F32 && X->dtype != IT_F64; /* conv result rounds to the input type first */
    for (int64_t nn = 0; nn < N; nn++)
        for (int64_t ch = 0; ch < C; ch++) {
            int64_t base = (nn * C + ch);
            if (ps) memcpy(pad, ps + base * (K - 1), (size_t)(K - 1) * sizeof(float));
            else memset(pad, 0, (size_t)(K - 1) * sizeof(float));
            memcpy(pad + K - 1, x + base * L, (size_t)L * sizeof(float));
            const float *wr = w + ch * K;
            for (int64_t t = 0; t < L; t++) {
                float acc = bias ? bias[ch] : 0.0f;
                for (int64_t j = 0; j < K; j++) acc += wr[j] * pad[t + j];
                if (lp && X->dtype == IT_F16) acc = it_f16_to_f32(it_f32_to_f16(acc));
                if (silu) acc = acc / (1.0f + expf(-acc));
                y[base * L + t] = acc;
            }
            memcpy(pr + base * (K - 1), pad + L, (size_t)(K - 1) * sizeof(float));
        }
    out_finish(Yt, y);
    out_finish(Pt, pr);
    return 0;
}

/* ---------------------------------------------------------------- SwiGLU */

static int swiglu_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, A);
    IT_REQUIRE_IN(c, 1, Bt);
    if (!it_shape_equal(A, Bt) || A->dtype != Bt->dtype) return it_opfail(c, INGOT_ERR_SHAPE, "A and B must have the same shape and type");
    if (!it_dtype_is_float(A->dtype)) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "type %s", it_dtype_name(A->dtype));
    float alpha = it_attr_float(c->node, "alpha", 1.0f);
    it_tensor *Y;
    int st = it_out_like(c, 0, A->dtype, A, &Y);
    if (st) return st;
    int64_t n = it_count(A);
    if (A->dtype == IT_F32) {
        const float *a = A->data, *b = Bt->data;
        float *y = Y->data;
        for (int64_t i = 0; i < n; i++) y[i] = a[i] / (1.0f + expf(-alpha * a[i])) * b[i];
    } else {
        for (int64_t i = 0; i < n; i++) {
            double a = it_get_f64(A->data, A->dtype, i), b = it_get_f64(Bt->data, Bt->dtype, i);
            it_set_f64(Y->data, Y->dtype, i, a / (1.0 + exp(-alpha * a)) * b);
        }
    }
    return 0;
}

const it_op it_ops_attention[] = {
    {"", "Attention", NULL, attention_run, NULL, 0, NULL},
    {"ai.onnx.preview", "FlexAttention", NULL, flex_run, NULL, 0, NULL},
    {"", "RotaryEmbedding", NULL, rotary_run, NULL, 0, NULL},
    {"", "LinearAttention", NULL, linattn_run, NULL, 0, NULL},
    {"", "CausalConvWithState", NULL, cconv_run, NULL, 0, NULL},
    {"", "SwiGLU", NULL, swiglu_run, NULL, 0, NULL},
    {0},
};
