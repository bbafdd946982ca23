/*
 * gemma3.c: the Gemma 3 (text) family descriptor, as llama.cpp's gemma3 graph builds it:
 * embeddings scaled by sqrt(n_embd); per block RMSNorm -> q/k/v -> RMSNorm per q and k head
 * -> neox RoPE -> attention -> post_attention_norm -> residual -> ffn_norm -> GeGLU
 * (gelu, tanh approximation) -> post_ffw_norm -> residual; final RMSNorm, tied output.
 *
 * Sliding-window layers: with a non-zero attention.sliding_window, five of every six layers
 * (attention.sliding_window_pattern, default 6: layer i is local when i % 6 < 5) attend to
 * the last n_swa positions and use RoPE base rope.freq_base_swa (default 10000, unscaled);
 * the others are global with rope.freq_base and any rope scaling. Without the key every
 * layer is global (llama.cpp's rule).
 *
 * GGUF stores the RMSNorm weights as 1 + w (the converter adds the 1), so the GGUF path
 * uses them as they are; IT_ARCH_NORM_PLUS1 tells loaders of raw checkpoints to add it.
 * Query scale: GGUF has no query_pre_attn_scalar key; llama.cpp uses 1/sqrt(head_dim),
 * except 1/sqrt(n_embd / n_head) for the 62-layer 27B, which is what the HF configs give.
 * attn_logit_softcapping / final_logit_softcapping (gemma2-style keys) apply when present.
 */
#include <math.h>
#include <stdio.h>

#include "llm/model.h"

/* attention.sliding_window_pattern: a period, or one bool per layer (true: sliding) that
 * must follow some period's pattern. */
static int swa_period(it_llm_model *m, int64_t *period, it_err *e) {
    char key[160];
    snprintf(key, sizeof key, "%s.attention.sliding_window_pattern", m->arch_name);
    *period = 6;
    int64_t k = it_gguf_find_key(m->gguf, key);
    if (k < 0) return 0;
    const it_gguf_val *v = it_gguf_value(m->gguf, k);
    if (v->type != IT_GGUF_ARRAY)
        return it_llm_key_int(m, "attention.sliding_window_pattern", 0, 6, 1, IT_LLM_MAX_LAYERS, period, e);
    if ((int64_t)v->n != m->hp.n_layer)
        return it_fail(e, INGOT_ERR_FORMAT, "%s has %llu entries for %lld layers", key, (unsigned long long)v->n,
                       (long long)m->hp.n_layer);
    for (int64_t p = 1; p <= m->hp.n_layer + 1; p++) {
        int ok = 1;
        for (int64_t i = 0; i < m->hp.n_layer && ok; i++) {
            it_gguf_val el;
            int64_t b;
            int st = it_gguf_kv_elem(m->gguf, k, (uint64_t)i, &el, e);
            if (st) return st;
            if (it_gguf_val_int(&el, &b)) return it_fail(e, INGOT_ERR_FORMAT, "%s[%lld] is not a bool", key, (long long)i);
            ok = (b != 0) == (i % p < p - 1);
        }
        if (ok) {
            *period = p;
            return 0;
        }
    }
    return it_fail(e, INGOT_ERR_UNSUPPORTED, "%s: a per-layer pattern that is not periodic is not supported", key);
}

static int gemma3_hparams(it_llm_model *m, it_err *e) {
    it_llm_hparams *h = &m->hp;
    int st;
    h->embd_scale = sqrtf((float)h->n_embd);
    h->attn_scale = h->n_layer == 62 ? 1.0f / sqrtf((float)(h->n_embd / h->n_head)) : 1.0f / sqrtf((float)h->head_dim);
    if ((st = it_llm_key_float(m, "attn_logit_softcapping", 0.0, &h->attn_softcap, e)) ||
        (st = it_llm_key_float(m, "final_logit_softcapping", 0.0, &h->final_softcap, e)))
        return st;
    if (h->attn_softcap < 0 || h->final_softcap < 0)
        return it_fail(e, INGOT_ERR_FORMAT, "%s: negative logit soft-capping", m->arch_name);
    if (h->n_swa > 0) {
        if ((st = swa_period(m, &h->swa_period, e)) ||
            (st = it_llm_key_float(m, "rope.freq_base_swa", 10000.0, &h->rope_theta_swa, e)))
            return st;
        if (h->rope_theta_swa <= 0) return it_fail(e, INGOT_ERR_FORMAT, "%s.rope.freq_base_swa <= 0", m->arch_name);
    }
    return 0;
}

const it_llm_arch it_llm_arch_gemma3 = {
    .name = "gemma3",
    .rope_type = IT_ROPE_NEOX,
    .flags = IT_ARCH_QK_NORM | IT_ARCH_NORM_PLUS1 | IT_ARCH_SWA | IT_ARCH_POST_NORMS,
    .ffn_act = IT_FFN_GELU,
    .load_hparams = gemma3_hparams,
};
