/*
 * routes_embeddings.c: POST /v1/embeddings of `ingot serve`, in OpenAI's shape, for embedding
 * models (Hugging Face BERT-family folders loaded through include/ingot_embed.h; see
 * model_repo.c for how a folder becomes one).
 *
 * Request: {"model", "input": a string, an array of strings, an array of token ids or an array
 * of token-id arrays (ids are used as given: include [CLS]/[SEP] to match the text path),
 * "encoding_format": "float" (default) | "base64" (the little-endian f32 bytes), "dimensions"
 * (accepted only when it equals the model's dimension: these models cannot shorten vectors),
 * "user"; and ingot's own "truncate": true to cut over-long inputs instead of failing}.
 * Response: {"object": "list", "data": [{"object": "embedding", "index", "embedding"}],
 * "model", "usage": {"prompt_tokens", "total_tokens"}}. Errors use OpenAI's error JSON: 400 for
 * malformed or ill-typed fields and inputs longer than the model's maximum (the message names
 * both lengths; nothing is truncated silently), 404 for an unknown model.
 *
 * An LLM (a GGUF or Hugging Face decoder model) answers too: its final-norm hidden states,
 * mean-pooled (or last-token when the GGUF's pooling_type says so) and scaled to unit length
 * (llm_model_embed); texts are tokenized with its vocabulary (BOS as it says), inputs longer
 * than its context are a 400 (or cut with "truncate").
 *
 * The handler runs on the connection's thread; the embedder serializes compute calls itself.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

#define EMB_MAX_INPUTS 2048

static json_t *base64_floats(const float *v, int64_t n) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t nb = (size_t)n * 4, out_len = (nb + 2) / 3 * 4;
    uint8_t *b = malloc(nb ? nb : 1);
    char *s = malloc(out_len + 1);
    json_t *j = NULL;
    if (b && s) {
        for (int64_t i = 0; i < n; i++) { /* little-endian bytes whatever the host order */
            uint32_t u;
            memcpy(&u, &v[i], 4);
            for (int k = 0; k < 4; k++) b[4 * i + k] = (uint8_t)(u >> (8 * k));
        }
        size_t o = 0;
        for (size_t i = 0; i < nb; i += 3) {
            uint32_t x = (uint32_t)b[i] << 16 | (i + 1 < nb ? (uint32_t)b[i + 1] << 8 : 0) | (i + 2 < nb ? b[i + 2] : 0);
            s[o++] = tbl[(x >> 18) & 63];
            s[o++] = tbl[(x >> 12) & 63];
            s[o++] = i + 1 < nb ? tbl[(x >> 6) & 63] : '=';
            s[o++] = i + 2 < nb ? tbl[x & 63] : '=';
        }
        j = json_stringn(s, o);
    }
    free(b);
    free(s);
    return j;
}

/* The inputs of the request: texts or token-id arrays. */
typedef struct emb_inputs {
    int64_t n;
    int tokens;            /* 1: ids/lens, 0: texts/tlens */
    const char **texts;
    size_t *tlens;
    int32_t **ids;
    int64_t *lens;
} emb_inputs;

static void inputs_free(emb_inputs *in) {
    for (int64_t i = 0; in->ids && i < in->n; i++) free(in->ids[i]);
    free(in->ids), free(in->lens), free(in->texts), free(in->tlens);
}

/* One token-id array into ids[i]. 0 or -1 with the reply made. */
static int ids_from_array(json_t *a, emb_inputs *in, int64_t i, const char *where, http_resp *resp) {
    size_t n = json_array_size(a);
    if (n == 0) {
        oai_error(resp, 400, "input", "invalid_value", "%s is an empty token array", where);
        return -1;
    }
    in->ids[i] = malloc(n * sizeof(int32_t));
    if (!in->ids[i]) {
        oai_error(resp, 500, NULL, NULL, "out of memory");
        return -1;
    }
    for (size_t k = 0; k < n; k++) {
        json_t *v = json_array_get(a, k);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX) {
            oai_error(resp, 400, "input", "invalid_type", "%s: element %zu is not a token id (a non-negative integer)",
                      where, k);
            return -1;
        }
        in->ids[i][k] = (int32_t)json_integer_value(v);
    }
    in->lens[i] = (int64_t)n;
    return 0;
}

static int parse_input(json_t *input, emb_inputs *in, http_resp *resp) {
    memset(in, 0, sizeof *in);
    if (!input) {
        oai_error(resp, 400, "input", "missing_required_parameter", "'input' is required");
        return -1;
    }
    if (json_is_string(input)) {
        in->n = 1;
        in->texts = malloc(sizeof *in->texts);
        in->tlens = malloc(sizeof *in->tlens);
        if (!in->texts || !in->tlens) goto oom;
        in->texts[0] = json_string_value(input);
        in->tlens[0] = json_string_length(input);
        return 0;
    }
    if (!json_is_array(input)) {
        oai_error(resp, 400, "input", "invalid_type",
                  "'input' must be a string, an array of strings, an array of token ids or an array of token arrays");
        return -1;
    }
    size_t n = json_array_size(input);
    if (n == 0) {
        oai_error(resp, 400, "input", "invalid_value", "'input' is an empty array");
        return -1;
    }
    json_t *first = json_array_get(input, 0);
    if (json_is_integer(first)) { /* one token array */
        in->n = 1, in->tokens = 1;
        in->ids = calloc(1, sizeof *in->ids);
        in->lens = calloc(1, sizeof *in->lens);
        if (!in->ids || !in->lens) goto oom;
        return ids_from_array(input, in, 0, "'input'", resp);
    }
    if (n > EMB_MAX_INPUTS) {
        oai_error(resp, 400, "input", "invalid_value", "'input' has %zu items; at most %d are allowed", n, EMB_MAX_INPUTS);
        return -1;
    }
    in->n = (int64_t)n;
    in->tokens = json_is_array(first);
    if (in->tokens) {
        in->ids = calloc(n, sizeof *in->ids);
        in->lens = calloc(n, sizeof *in->lens);
        if (!in->ids || !in->lens) goto oom;
    } else {
        in->texts = calloc(n, sizeof *in->texts);
        in->tlens = calloc(n, sizeof *in->tlens);
        if (!in->texts || !in->tlens) goto oom;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(input, i);
        char where[48];
        snprintf(where, sizeof where, "input[%zu]", i);
        if (in->tokens) {
            if (!json_is_array(v)) {
                oai_error(resp, 400, "input", "invalid_type", "%s must be a token array like the first item", where);
                return -1;
            }
            if (ids_from_array(v, in, (int64_t)i, where, resp)) return -1;
        } else {
            if (!json_is_string(v)) {
                oai_error(resp, 400, "input", "invalid_type", "%s must be a string like the first item", where);
                return -1;
            }
            in->texts[i] = json_string_value(v);
            in->tlens[i] = json_string_length(v);
        }
    }
    return 0;
oom:
    oai_error(resp, 500, NULL, NULL, "out of memory");
    return -1;
}

/* Vectors of the inputs from an LLM's hidden states: 0, or -1 with the reply made. */
static int llm_vectors(served_model *sm, const emb_inputs *in, int truncate, int64_t dim, float *vecs, int64_t *ntok,
                       http_resp *resp) {
    const ingot_llm *llm = llm_model_llm(sm->llm);
    ingot_llm_info info;
    ingot_llm_get_info(llm, &info);
    const int64_t n_ctx = llm_model_n_ctx(sm->llm);
    for (int64_t i = 0; i < in->n; i++) {
        int32_t *ids = NULL;
        int64_t n = 0;
        if (in->tokens) {
            n = in->lens[i];
            for (int64_t k = 0; k < n; k++)
                if (in->ids[i][k] < 0 || in->ids[i][k] >= info.n_vocab) {
                    oai_error(resp, 400, "input", "invalid_value", "input %lld: token %lld is not an id in [0, %lld)",
                              (long long)i, (long long)in->ids[i][k], (long long)info.n_vocab);
                    return -1;
                }
        } else {
            size_t cap = in->tlens[i] + 16, got = 0;
            ids = malloc(cap * sizeof *ids);
            ingot_status st = ids ? ingot_llm_tokenize(llm, in->texts[i], in->tlens[i], INGOT_LLM_ADD_SPECIAL, ids, cap, &got)
                                  : INGOT_ERR_NOMEM;
            if (st == INGOT_ERR_LIMIT) {
                free(ids);
                cap = got + 1;
                ids = malloc(cap * sizeof *ids);
                st = ids ? ingot_llm_tokenize(llm, in->texts[i], in->tlens[i], INGOT_LLM_ADD_SPECIAL, ids, cap, &got)
                         : INGOT_ERR_NOMEM;
            }
            if (st != INGOT_OK) {
                free(ids);
                oai_error(resp, st == INGOT_ERR_NOMEM ? 500 : 400, "input", NULL, "input %lld cannot be tokenized",
                          (long long)i);
                return -1;
            }
            n = (int64_t)got;
        }
        const int32_t *use = in->tokens ? in->ids[i] : ids;
        if (n == 0) {
            free(ids);
            oai_error(resp, 400, "input", "invalid_value", "input %lld is empty (no tokens)", (long long)i);
            return -1;
        }
        if (n > n_ctx) {
            if (!truncate) {
                free(ids);
                oai_error(resp, 400, "input", "context_length_exceeded",
                          "input %lld has %lld tokens; the model's context holds %lld (send \"truncate\": true to cut "
                          "it)",
                          (long long)i, (long long)n, (long long)n_ctx);
                return -1;
            }
            n = n_ctx;
        }
        char err[512] = "";
        int rc = llm_model_embed(sm->llm, use, n, vecs + i * dim, err, sizeof err);
        free(ids);
        if (rc) {
            oai_error(resp, rc, "input", NULL, "embedding failed: %s", err);
            return -1;
        }
        ntok[i] = n;
    }
    return 0;
}

static void h_embeddings(http_req *req, http_resp *resp, void *ud) {
    ingot_app *app = ud;
    size_t len;
    http_req_body(req, &len);
    json_t *body = http_req_json(req, resp, len);
    if (!body) return;
    served_model *sm = NULL;
    emb_inputs in;
    memset(&in, 0, sizeof in);
    float *vecs = NULL;
    int64_t *ntok = NULL;
    json_t *data = NULL;
    if (!json_is_object(body)) {
        oai_error(resp, 400, NULL, "invalid_type", "the request body must be a JSON object");
        goto out;
    }
    json_t *model = json_object_get(body, "model");
    if (!json_is_string(model)) {
        oai_error(resp, 400, "model", model ? "invalid_type" : "missing_required_parameter",
                  "'model' must be given as a string");
        goto out;
    }
    const char *name = json_string_value(model);
    int exists = 0;
    sm = model_repo_acquire(app->repo, name, NULL, &exists);
    if (!sm) {
        oai_error(resp, 404, "model", "model_not_found", "The model '%s' does not exist%s", name,
                  exists ? " or is not loaded" : "");
        goto out;
    }
    if (sm->kind != MODEL_KIND_EMBED && sm->kind != MODEL_KIND_LLM) {
        oai_error(resp, 400, "model", "model_not_supported", "The model '%s' is not an embedding model or an LLM", name);
        goto out;
    }
    int64_t dim;
    if (sm->kind == MODEL_KIND_LLM) {
        ingot_llm_info info;
        ingot_llm_get_info(llm_model_llm(sm->llm), &info);
        dim = info.n_embd;
    } else {
        dim = ingot_embedder_dim(sm->embed);
    }
    json_t *fmt = json_object_get(body, "encoding_format");
    int b64 = 0;
    if (fmt && !json_is_null(fmt)) {
        if (!json_is_string(fmt) || (strcmp(json_string_value(fmt), "float") && strcmp(json_string_value(fmt), "base64"))) {
            oai_error(resp, 400, "encoding_format", "invalid_value", "'encoding_format' must be \"float\" or \"base64\"");
            goto out;
        }
        b64 = !strcmp(json_string_value(fmt), "base64");
    }
    json_t *dims = json_object_get(body, "dimensions");
    if (dims && !json_is_null(dims)) {
        if (!json_is_integer(dims) || json_integer_value(dims) < 1) {
            oai_error(resp, 400, "dimensions", "invalid_type", "'dimensions' must be a positive integer");
            goto out;
        }
        if (json_integer_value(dims) != dim) {
            oai_error(resp, 400, "dimensions", "unsupported_value",
                      "'dimensions' %lld is not supported: the model '%s' produces %lld-dimensional embeddings and "
                      "cannot shorten them",
                      (long long)json_integer_value(dims), name, (long long)dim);
            goto out;
        }
    }
    json_t *user = json_object_get(body, "user");
    if (user && !json_is_null(user) && !json_is_string(user)) {
        oai_error(resp, 400, "user", "invalid_type", "'user' must be a string");
        goto out;
    }
    json_t *trunc = json_object_get(body, "truncate");
    if (trunc && !json_is_null(trunc) && !json_is_boolean(trunc)) {
        oai_error(resp, 400, "truncate", "invalid_type", "'truncate' must be a boolean");
        goto out;
    }
    int flags = json_is_true(trunc) ? INGOT_EMBED_TRUNCATE : 0;
    if (parse_input(json_object_get(body, "input"), &in, resp)) goto out;
    vecs = malloc((size_t)(in.n * dim) * sizeof *vecs);
    ntok = calloc((size_t)in.n, sizeof *ntok);
    if (!vecs || !ntok) {
        oai_error(resp, 500, NULL, NULL, "out of memory");
        goto out;
    }
    char err[512] = "";
    ingot_status st;
    if (sm->kind == MODEL_KIND_LLM) {
        if (llm_vectors(sm, &in, flags != 0, dim, vecs, ntok, resp)) goto out;
        st = INGOT_OK;
    } else if (in.tokens) {
        int64_t max = ingot_embedder_max_tokens(sm->embed);
        for (int64_t i = 0; i < in.n; i++) ntok[i] = in.lens[i] > max && flags ? max : in.lens[i];
        st = ingot_embed_tokens(sm->embed, (const int32_t *const *)in.ids, in.lens, in.n, flags, vecs, err, sizeof err);
    } else {
        st = ingot_embed(sm->embed, in.texts, in.tlens, in.n, flags, vecs, ntok, err, sizeof err);
    }
    if (st == INGOT_ERR_LIMIT) {
        oai_error(resp, 400, "input", "context_length_exceeded", "%s", err);
        goto out;
    }
    if (st == INGOT_ERR_INVALID_ARG) {
        oai_error(resp, 400, "input", "invalid_value", "%s", err);
        goto out;
    }
    if (st != INGOT_OK) {
        oai_error(resp, 500, NULL, NULL, "embedding failed: %s", err);
        goto out;
    }
    data = json_array();
    int64_t total = 0;
    for (int64_t i = 0; data && i < in.n; i++) {
        total += ntok[i];
        json_t *emb;
        if (b64) {
            emb = base64_floats(vecs + i * dim, dim);
        } else {
            emb = json_array();
            for (int64_t k = 0; emb && k < dim; k++) json_array_append_new(emb, json_real(vecs[i * dim + k]));
        }
        json_t *o = json_pack("{s:s, s:I, s:o*}", "object", "embedding", "index", (json_int_t)i, "embedding", emb);
        if (!o || json_array_append_new(data, o)) {
            json_decref(data);
            data = NULL;
        }
    }
    if (!data) {
        oai_error(resp, 500, NULL, NULL, "out of memory");
        goto out;
    }
    http_resp_json(resp, 200,
                   json_pack("{s:s, s:o, s:s, s:{s:I, s:I}}", "object", "list", "data", data, "model", name, "usage",
                             "prompt_tokens", (json_int_t)total, "total_tokens", (json_int_t)total));
    data = NULL;
out:
    json_decref(data);
    free(vecs);
    free(ntok);
    inputs_free(&in);
    model_repo_release(sm);
    json_decref(body);
}

int routes_embeddings_add(ingot_app *app) {
    return http_route_add(app->http, "POST", "/v1/embeddings", h_embeddings, app, oai_errfmt, 0);
}
