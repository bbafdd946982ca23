/*
 * embed_api.c: include/ingot_embed.h on top of the BERT encoder (src/llm/models/bert_encoder.c):
 * the embedder object (encoder + compute pool + a lock serializing compute calls), tokenization
 * with the no-silent-truncation rule, and the flag handling of ingot_embed.
 */
#include "ingot_embed.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "llm/models/bert_encoder.h"

struct ingot_embedder {
    it_bert *bert;
    it_threadpool *tp;
    pthread_mutex_t mu; /* one compute call at a time on tp */
};

static ingot_status finish(int st, const it_err *e, char *err, size_t errlen) {
    if (err && errlen) {
        if (st) snprintf(err, errlen, "%s", e->msg[0] ? e->msg : ingot_status_str((ingot_status)st));
        else err[0] = 0;
    }
    return (ingot_status)st;
}

void ingot_embedder_params_default(ingot_embedder_params *p) {
    if (p) memset(p, 0, sizeof *p);
}

ingot_status ingot_embedder_load(const char *path, const ingot_embedder_params *params, ingot_embedder **out,
                                 char *err, size_t errlen) {
    it_err e = {{0}};
    if (!out) return finish(it_fail(&e, INGOT_ERR_INVALID_ARG, "out is NULL"), &e, err, errlen);
    *out = NULL;
    if (!path) return finish(it_fail(&e, INGOT_ERR_INVALID_ARG, "path is NULL"), &e, err, errlen);
    ingot_embedder_params p;
    ingot_embedder_params_default(&p);
    if (params) p = *params;
    if (p.n_threads < 0 || p.n_threads > 4096)
        return finish(it_fail(&e, INGOT_ERR_INVALID_ARG, "n_threads %d out of range", p.n_threads), &e, err, errlen);
    ingot_embedder *m = calloc(1, sizeof *m);
    if (!m) return finish(it_fail(&e, INGOT_ERR_NOMEM, "out of memory"), &e, err, errlen);
    pthread_mutex_init(&m->mu, NULL);
    int st = it_bert_load(path, &m->bert, &e);
    if (!st) {
        m->tp = it_threadpool_create(p.n_threads > 0 ? p.n_threads : it_cpu_count());
        if (!m->tp) st = it_fail(&e, INGOT_ERR_NOMEM, "cannot create the thread pool");
    }
    if (st) {
        ingot_embedder_free(m);
        return finish(st, &e, err, errlen);
    }
    *out = m;
    return finish(0, &e, err, errlen);
}

void ingot_embedder_free(ingot_embedder *m) {
    if (!m) return;
    it_threadpool_free(m->tp);
    it_bert_free(m->bert);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

int64_t ingot_embedder_dim(const ingot_embedder *m) { return m ? it_bert_get_info(m->bert)->n_embd : 0; }
int64_t ingot_embedder_max_tokens(const ingot_embedder *m) { return m ? it_bert_get_info(m->bert)->n_pos : 0; }

ingot_status ingot_embedder_get_info(const ingot_embedder *m, ingot_embedder_info *info) {
    if (!m || !info) return INGOT_ERR_INVALID_ARG;
    const it_bert_info *in = it_bert_get_info(m->bert);
    static const char *const pool_names[] = {"mean", "cls", "max", "mean_sqrt_len"};
    memset(info, 0, sizeof *info);
    info->name = in->name;
    info->pooling = in->pooling >= 0 && in->pooling < 4 ? pool_names[in->pooling] : "?";
    info->normalize = in->normalize;
    info->dim = in->n_embd;
    info->max_tokens = in->n_pos;
    info->n_layer = in->n_layer;
    info->n_head = in->n_head;
    info->n_vocab = in->n_vocab;
    return INGOT_OK;
}

ingot_status ingot_embedder_tokenize(const ingot_embedder *m, const char *text, size_t len, int flags, int32_t *ids,
                                     size_t cap, size_t *n_ids, char *err, size_t errlen) {
    it_err e = {{0}};
    if (!m || (!text && len) || !n_ids || (!ids && cap))
        return finish(it_fail(&e, INGOT_ERR_INVALID_ARG, "NULL argument"), &e, err, errlen);
    int32_t *tmp = NULL;
    size_t n = 0;
    int st = it_bert_tokenize(m->bert, text ? text : "", len, flags & INGOT_EMBED_TRUNCATE, &tmp, &n, &e);
    if (st) return finish(st, &e, err, errlen);
    *n_ids = n;
    if (n > cap) st = it_fail(&e, INGOT_ERR_LIMIT, "%zu ids do not fit in %zu", n, cap);
    else if (n) memcpy(ids, tmp, n * sizeof *ids);
    free(tmp);
    return finish(st, &e, err, errlen);
}

static int norm_arg(int flags) {
    return (flags & INGOT_EMBED_NO_NORMALIZE) ? 0 : (flags & INGOT_EMBED_NORMALIZE) ? 1 : -1;
}

ingot_status ingot_embed(ingot_embedder *m, const char *const *texts, const size_t *lens, int64_t n, int flags,
                         float *out, int64_t *n_tokens, char *err, size_t errlen) {
    it_err e = {{0}};
    if (!m || n < 0 || (n && (!texts || !out)))
        return finish(it_fail(&e, INGOT_ERR_INVALID_ARG, "NULL embedder, texts or output"), &e, err, errlen);
    if (n == 0) return finish(0, &e, err, errlen);
    int st = 0;
    int32_t **ids = calloc((size_t)n, sizeof *ids);
    int64_t *nl = calloc((size_t)n, sizeof *nl);
    if (!ids || !nl) {
        st = it_fail(&e, INGOT_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        if (!texts[i]) {
            st = it_fail(&e, INGOT_ERR_INVALID_ARG, "text %lld is NULL", (long long)i);
            goto done;
        }
        size_t len = lens ? lens[i] : strlen(texts[i]), cnt = 0;
        st = it_bert_tokenize(m->bert, texts[i], len, flags & INGOT_EMBED_TRUNCATE, &ids[i], &cnt, &e);
        if (st) {
            if (n > 1) {
                char msg[sizeof e.msg];
                snprintf(msg, sizeof msg, "%s", e.msg);
                it_fail(&e, st, "input %lld: %s", (long long)i, msg);
            }
            goto done;
        }
        nl[i] = (int64_t)cnt;
        if (n_tokens) n_tokens[i] = nl[i];
    }
    pthread_mutex_lock(&m->mu);
    st = it_bert_embed(m->bert, m->tp, (const int32_t *const *)ids, nl, n, norm_arg(flags), out, &e);
    pthread_mutex_unlock(&m->mu);
done:
    for (int64_t i = 0; ids && i < n; i++) free(ids[i]);
    free(ids);
    free(nl);
    return finish(st, &e, err, errlen);
}

ingot_status ingot_embed_tokens(ingot_embedder *m, const int32_t *const *ids, const int64_t *lens, int64_t n,
                                int flags, float *out, char *err, size_t errlen) {
    it_err e = {{0}};
    if (!m || n < 0 || (n && (!ids || !lens || !out)))
        return finish(it_fail(&e, INGOT_ERR_INVALID_ARG, "NULL embedder, ids or output"), &e, err, errlen);
    if (n == 0) return finish(0, &e, err, errlen);
    int64_t max = ingot_embedder_max_tokens(m);
    int64_t *nl = malloc((size_t)n * sizeof *nl);
    int32_t **cut = calloc((size_t)n, sizeof *cut); /* truncated copies (the last id kept) */
    const int32_t **use = calloc((size_t)n, sizeof *use);
    int st = 0;
    if (!nl || !cut || !use) {
        st = it_fail(&e, INGOT_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        nl[i] = lens[i];
        use[i] = ids[i];
        if (lens[i] > max && (flags & INGOT_EMBED_TRUNCATE) && ids[i]) {
            cut[i] = malloc((size_t)max * sizeof **cut);
            if (!cut[i]) {
                st = it_fail(&e, INGOT_ERR_NOMEM, "out of memory");
                goto done;
            }
            memcpy(cut[i], ids[i], (size_t)(max - 1) * sizeof **cut);
            cut[i][max - 1] = ids[i][lens[i] - 1];
            use[i] = cut[i];
            nl[i] = max;
        }
    }
    pthread_mutex_lock(&m->mu);
    st = it_bert_embed(m->bert, m->tp, use, nl, n, norm_arg(flags), out, &e);
    pthread_mutex_unlock(&m->mu);
done:
    for (int64_t i = 0; cut && i < n; i++) free(cut[i]);
    free(cut);
    free(use);
    free(nl);
    return finish(st, &e, err, errlen);
}
