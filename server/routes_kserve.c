/*
 * routes_kserve.c: the KServe Open Inference Protocol v2 REST routes for
 * tensor (ONNX) models: server and model metadata, liveness and readiness,
 * inference (JSON tensors and the binary tensor data extension, see
 * kserve_codec.c) through each model's scheduler (batcher.c), and the model
 * repository extension (index, load, unload). Errors are {"error": "..."}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "kserve_codec.h"

/* ---- helpers ----------------------------------------------------------- */

static json_t *value_info_json(const ingot_value_info *info) {
    json_t *shape = json_array();
    if (info->ndim < 0) json_array_append_new(shape, json_integer(-1));
    for (int d = 0; d < info->ndim && d < INGOT_MAX_DIMS; d++)
        json_array_append_new(shape, json_integer(info->dims[d] < 0 ? -1 : info->dims[d]));
    const char *dt = kserve_dtype_name(info->dtype);
    return json_pack("{s:o, s:s, s:o}", "name", http_json_string_lossy(info->name), "datatype", dt ? dt : "UNKNOWN",
                     "shape", shape);
}

/* The model named by the route's params, or NULL with the reply already made. */
static served_model *get_model(ingot_app *app, http_req *req, http_resp *resp) {
    const char *name = http_req_param(req, 0);
    const char *version = http_req_nparams(req) > 1 ? http_req_param(req, 1) : NULL;
    int exists = 0;
    served_model *m = model_repo_acquire(app->repo, name, version, &exists);
    if (m && m->kind != MODEL_KIND_TENSOR) {
        http_resp_error(resp, 400, "model '%s' is an LLM: use the OpenAI API (/v1/chat/completions)", name);
        model_repo_release(m);
        return NULL;
    }
    if (m) return m;
    served_model *any = version ? model_repo_acquire(app->repo, name, NULL, NULL) : NULL;
    if (any) {
        http_resp_error(resp, 404, "model '%s' has no version '%s' (it serves version '%s')", name, version,
                        any->version);
        model_repo_release(any);
    } else if (exists) {
        http_resp_error(resp, 404, "model '%s' is not loaded", name);
    } else {
        http_resp_error(resp, 404, "unknown model '%s'", name);
    }
    return NULL;
}

/* ---- server ------------------------------------------------------------ */

static void h_server_meta(http_req *req, http_resp *resp, void *ud) {
    (void)req, (void)ud;
    http_resp_json(resp, 200,
                   json_pack("{s:s, s:s, s:[s,s]}", "name", "ingot", "version", INGOT_VERSION, "extensions",
                             "binary_tensor_data", "model_repository"));
}

static void h_live(http_req *req, http_resp *resp, void *ud) {
    (void)req, (void)ud;
    http_resp_json(resp, 200, json_pack("{s:b}", "live", 1));
}

static void h_ready(http_req *req, http_resp *resp, void *ud) {
    (void)req;
    ingot_app *app = ud;
    int ready = atomic_load(&app->ready) && !atomic_load(&app->stopping);
    http_resp_json(resp, ready ? 200 : 503, json_pack("{s:b}", "ready", ready));
}

/* ---- models ------------------------------------------------------------ */

static void h_model_meta(http_req *req, http_resp *resp, void *ud) {
    served_model *m = get_model(ud, req, resp);
    if (!m) return;
    json_t *ins = json_array(), *outs = json_array();
    for (int i = 0; i < ingot_model_num_inputs(m->model); i++) {
        ingot_value_info info;
        if (ingot_model_input(m->model, i, &info) == INGOT_OK) json_array_append_new(ins, value_info_json(&info));
    }
    for (int i = 0; i < ingot_model_num_outputs(m->model); i++) {
        ingot_value_info info;
        if (ingot_model_output(m->model, i, &info) == INGOT_OK) json_array_append_new(outs, value_info_json(&info));
    }
    json_t *j = json_pack("{s:s, s:[s], s:s, s:o, s:o, s:{s:i}}", "name", m->name, "versions", m->version, "platform",
                          "onnx_onnxv1", "inputs", ins, "outputs", outs, "parameters", "max_batch_size",
                          batcher_max_batch(m->batcher));
    model_repo_release(m);
    http_resp_json(resp, 200, j);
}

static void h_model_ready(http_req *req, http_resp *resp, void *ud) {
    ingot_app *app = ud;
    const char *name = http_req_param(req, 0);
    const char *version = http_req_nparams(req) > 1 ? http_req_param(req, 1) : NULL;
    int exists = 0;
    served_model *m = model_repo_acquire(app->repo, name, version, &exists);
    if (!m && !exists) {
        http_resp_error(resp, 404, "unknown model '%s'", name);
        return;
    }
    model_repo_release(m);
    json_t *j = json_pack("{s:o, s:b}", "name", http_json_string_lossy(name), "ready", m != NULL);
    http_resp_json(resp, m ? 200 : 400, j);
}

/* ---- inference --------------------------------------------------------- */

static int check_input(const ingot_value_info *info, const kv_tensor *t, http_resp *resp) {
    if (t->dtype != info->dtype) {
        const char *want = kserve_dtype_name(info->dtype);
        http_resp_error(resp, 400, "input '%s' has datatype %s, the model expects %s", t->name,
                        kserve_dtype_name(t->dtype), want ? want : "an unsupported type");
        return -1;
    }
    if (info->ndim >= 0) {
        int bad = t->ndim != info->ndim;
        for (int d = 0; !bad && d < t->ndim; d++) bad = info->dims[d] >= 0 && info->dims[d] != t->dims[d];
        if (bad) {
            char want[256] = "", got[256] = "";
            size_t o = 0;
            for (int d = 0; d < info->ndim && o < sizeof want - 24; d++)
                o += (size_t)snprintf(want + o, sizeof want - o, "%s%lld", d ? "," : "", (long long)info->dims[d]);
            o = 0;
            for (int d = 0; d < t->ndim && o < sizeof got - 24; d++)
                o += (size_t)snprintf(got + o, sizeof got - o, "%s%lld", d ? "," : "", (long long)t->dims[d]);
            http_resp_error(resp, 400, "input '%s' has shape [%s], the model expects [%s] (-1: any)", t->name, got,
                            want);
            return -1;
        }
    }
    return 0;
}

static void h_infer(http_req *req, http_resp *resp, void *ud) {
    ingot_app *app = ud;
    double t0 = http_now();
    served_model *m = get_model(app, req, resp);
    if (!m) return;
    kv_request *kr = NULL;
    kv_tensor outs[KV_MAX_TENSORS];
    int out_idx[KV_MAX_TENSORS];
    int out_bin[KV_MAX_TENSORS];
    const kv_tensor *ins[KV_MAX_TENSORS];
    memset(outs, 0, sizeof outs);
    int nout = 0, ok = 0;
    int64_t items = 1; /* batch rows this request carried */
    batch_job job;
    memset(&job, 0, sizeof job);

    size_t len;
    const uint8_t *body = http_req_body(req, &len);
    char err[512];
    if (kserve_parse_infer(body, len, http_req_header(req, "Inference-Header-Content-Length"), &kr, err, sizeof err)) {
        http_resp_error(resp, 400, "%s", err);
        goto done;
    }
    int nin = ingot_model_num_inputs(m->model), nmo = ingot_model_num_outputs(m->model);
    if (nin > KV_MAX_TENSORS || nmo > KV_MAX_TENSORS) {
        http_resp_error(resp, 500, "the model has too many inputs or outputs");
        goto done;
    }
    int used = 0;
    for (int i = 0; i < nin; i++) {
        ingot_value_info info;
        ingot_model_input(m->model, i, &info);
        ins[i] = NULL;
        for (int k = 0; k < kr->ninputs; k++)
            if (!strcmp(kr->inputs[k].name, info.name)) ins[i] = &kr->inputs[k];
        if (!ins[i]) {
            http_resp_error(resp, 400, "missing input '%s'", info.name);
            goto done;
        }
        used++;
        if (check_input(&info, ins[i], resp)) goto done;
    }
    if (used != kr->ninputs) {
        for (int k = 0; k < kr->ninputs; k++) {
            int found = 0;
            for (int i = 0; i < nin; i++) found |= ins[i] == &kr->inputs[k];
            if (!found) {
                http_resp_error(resp, 400, "model '%s' has no input '%s'", m->name, kr->inputs[k].name);
                goto done;
            }
        }
    }
    if (kr->noutputs > 0) {
        for (int k = 0; k < kr->noutputs; k++) {
            int idx = -1;
            for (int o = 0; o < nmo && idx < 0; o++) {
                ingot_value_info info;
                ingot_model_output(m->model, o, &info);
                if (!strcmp(info.name, kr->outputs[k].name)) idx = o;
            }
            if (idx < 0) {
                http_resp_error(resp, 400, "model '%s' has no output '%s'", m->name, kr->outputs[k].name);
                goto done;
            }
            out_idx[nout] = idx;
            out_bin[nout++] = kr->outputs[k].binary >= 0 ? kr->outputs[k].binary : kr->binary_output;
        }
    } else {
        for (int o = 0; o < nmo; o++) out_idx[nout] = o, out_bin[nout++] = kr->binary_output;
    }

    job.inputs = ins;
    job.nout = nout;
    job.out_idx = out_idx;
    job.outs = outs;
    int rc = batcher_submit(m->batcher, &job);
    if (rc == 429) {
        http_resp_header(resp, "Retry-After", "1");
        http_resp_error(resp, 429, "model '%s' has too many queued requests; retry later", m->name);
        goto done;
    }
    if (rc) {
        http_resp_error(resp, rc, "the server is shutting down");
        goto done;
    }
    if (job.status) {
        http_resp_error(resp, job.status, "%s", job.err);
        goto done;
    }
    if (batcher_max_batch(m->batcher) > 0 && nin > 0 && ins[0]->ndim > 0) items = ins[0]->dims[0];
    for (int o = 0; o < nout; o++) outs[o].binary = out_bin[o];
    char *out;
    size_t olen, hlen;
    if (kserve_encode_infer(m->name, m->version, kr->id, outs, nout, &out, &olen, &hlen)) {
        http_resp_error(resp, 500, "out of memory encoding the response");
        goto done;
    }
    if (hlen) {
        char h[32];
        snprintf(h, sizeof h, "%zu", hlen);
        http_resp_header(resp, "Inference-Header-Content-Length", h);
        http_resp_bytes(resp, 200, "application/octet-stream", out, olen);
    } else {
        http_resp_bytes(resp, 200, "application/json", out, olen);
    }
    ok = 1;
done:
    model_stats_request(&m->stats, ok, ok ? job.t_start - job.t_enqueue : 0, ok ? job.t_end - job.t_start : 0,
                        http_now() - t0, items);
    for (int o = 0; o < KV_MAX_TENSORS; o++) kv_tensor_clear(&outs[o]);
    kv_request_free(kr);
    model_repo_release(m);
}

/* ---- repository -------------------------------------------------------- */

typedef struct index_ctx {
    json_t *arr;
    int ready_only;
} index_ctx;

static void index_visit(void *ud, const char *name, const char *version, const char *state, const char *reason,
                        served_model *m) {
    index_ctx *c = ud;
    if (c->ready_only && !m) return;
    json_t *o = json_pack("{s:s, s:s}", "name", name, "state", state);
    if (!o) return;
    if (version) json_object_set_new(o, "version", json_string(version));
    if (reason && reason[0]) json_object_set_new(o, "reason", http_json_string_lossy(reason));
    json_array_append_new(c->arr, o);
}

static int optional_json_body(http_req *req, http_resp *resp, json_t **out) {
    size_t len;
    http_req_body(req, &len);
    *out = NULL;
    if (len == 0) return 0;
    json_t *j = http_req_json(req, resp, len);
    if (!j) return -1;
    if (!json_is_object(j)) {
        json_decref(j);
        http_resp_error(resp, 400, "the request body must be a JSON object");
        return -1;
    }
    *out = j;
    return 0;
}

static void h_repo_index(http_req *req, http_resp *resp, void *ud) {
    ingot_app *app = ud;
    json_t *body;
    if (optional_json_body(req, resp, &body)) return;
    index_ctx c = {json_array(), 0};
    json_t *r = body ? json_object_get(body, "ready") : NULL;
    if (r && !json_is_boolean(r)) {
        json_decref(body);
        json_decref(c.arr);
        http_resp_error(resp, 400, "'ready' must be a boolean");
        return;
    }
    c.ready_only = r && json_is_true(r);
    json_decref(body);
    char err[256];
    model_repo_scan(app->repo, err, sizeof err);
    model_repo_foreach(app->repo, index_visit, &c);
    http_resp_json(resp, 200, c.arr);
}

/* POST /v2/repository/models/{name}/load and /unload */
static void repo_op(http_req *req, http_resp *resp, ingot_app *app, int load) {
    json_t *body;
    if (optional_json_body(req, resp, &body)) return;
    json_decref(body);
    const char *name = http_req_param(req, 0);
    char err[512];
    int rc = load ? model_repo_load(app->repo, name, err, sizeof err) : model_repo_unload(app->repo, name, err, sizeof err);
    if (rc) {
        http_resp_error(resp, rc, "%s", err);
        return;
    }
    fprintf(stderr, "ingot serve: model '%s' %s\n", name, load ? "loaded" : "unloaded");
    http_resp_json(resp, 200, json_pack("{s:s, s:s}", "name", name, "state", load ? "READY" : "UNAVAILABLE"));
}

static void h_repo_load(http_req *req, http_resp *resp, void *ud) { repo_op(req, resp, ud, 1); }
static void h_repo_unload(http_req *req, http_resp *resp, void *ud) { repo_op(req, resp, ud, 0); }

int routes_kserve_add(ingot_app *app) {
    http_server *h = app->http;
    http_error_fn e = http_error_kserve;
    int rc = 0;
    rc |= http_route_add(h, "GET", "/v2", h_server_meta, app, e, 0);
    rc |= http_route_add(h, "GET", "/v2/health/live", h_live, app, e, 1);
    rc |= http_route_add(h, "GET", "/v2/health/ready", h_ready, app, e, 1);
    rc |= http_route_add(h, "GET", "/v2/models/{}", h_model_meta, app, e, 0);
    rc |= http_route_add(h, "GET", "/v2/models/{}/versions/{}", h_model_meta, app, e, 0);
    rc |= http_route_add(h, "GET", "/v2/models/{}/ready", h_model_ready, app, e, 0);
    rc |= http_route_add(h, "GET", "/v2/models/{}/versions/{}/ready", h_model_ready, app, e, 0);
    rc |= http_route_add(h, "POST", "/v2/models/{}/infer", h_infer, app, e, 0);
    rc |= http_route_add(h, "POST", "/v2/models/{}/versions/{}/infer", h_infer, app, e, 0);
    rc |= http_route_add(h, "POST", "/v2/repository/index", h_repo_index, app, e, 0);
    rc |= http_route_add(h, "POST", "/v2/repository/models/{}/load", h_repo_load, app, e, 0);
    rc |= http_route_add(h, "POST", "/v2/repository/models/{}/unload", h_repo_unload, app, e, 0);
    return rc;
}
