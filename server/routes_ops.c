/*
 * routes_ops.c: operational routes shared by every API: GET /health (200 when
 * the startup models are loaded, 503 while loading or shutting down; public,
 * for load balancers) and GET /metrics (Prometheus text format: HTTP requests
 * in flight and responses by class, then per model readiness, request and
 * inference counts, queue size, and queue, compute, end-to-end and batch-size
 * histograms).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

static void h_health(http_req *req, http_resp *resp, void *ud) {
    (void)req;
    ingot_app *app = ud;
    const char *status = atomic_load(&app->stopping) ? "stopping" : atomic_load(&app->ready) ? "ok" : "loading";
    http_resp_json(resp, strcmp(status, "ok") ? 503 : 200, json_pack("{s:s}", "status", status));
}

static void metrics_visit(void *ud, const char *name, const char *version, const char *state, const char *reason,
                          served_model *m) {
    (void)state, (void)reason;
    sbuf *b = ud;
    sbuf labels = {0};
    sbuf_printf(&labels, "model=\"");
    sbuf_label(&labels, name);
    sbuf_printf(&labels, "\",version=\"");
    sbuf_label(&labels, version ? version : "");
    sbuf_printf(&labels, "\"");
    if (!labels.oom && labels.s) {
        if (m && m->llm) {
            model_stats_write(&m->stats, b, labels.s, llm_model_waiting(m->llm), 1);
            llm_model_write_metrics(m->llm, b, labels.s);
        } else if (m) model_stats_write(&m->stats, b, labels.s, batcher_queued(m->batcher), 1);
        else sbuf_printf(b, "ingot_model_ready{%s} 0\n", labels.s);
    }
    free(labels.s);
}

static void h_metrics(http_req *req, http_resp *resp, void *ud) {
    (void)req;
    ingot_app *app = ud;
    sbuf b = {0};
    uint64_t counts[6];
    int in_flight;
    http_server_counts(app->http, counts, &in_flight);
    sbuf_printf(&b,
                "# HELP ingot_http_requests_in_flight HTTP requests being handled (this one included).\n"
                "# TYPE ingot_http_requests_in_flight gauge\n"
                "ingot_http_requests_in_flight %d\n"
                "# HELP ingot_http_responses_total HTTP responses sent, by status class.\n"
                "# TYPE ingot_http_responses_total counter\n",
                in_flight);
    for (int c = 1; c <= 5; c++)
        sbuf_printf(&b, "ingot_http_responses_total{code=\"%dxx\"} %llu\n", c, (unsigned long long)counts[c]);
    sbuf_printf(&b,
                "# HELP ingot_uptime_seconds Seconds since the server started.\n"
                "# TYPE ingot_uptime_seconds gauge\n"
                "ingot_uptime_seconds %.3f\n",
                http_now() - app->t_start);
    model_stats_write_help(&b);
    llm_model_write_help(&b);
    model_repo_foreach(app->repo, metrics_visit, &b);
    if (b.oom || !b.s) {
        free(b.s);
        http_resp_error(resp, 500, "out of memory");
        return;
    }
    http_resp_bytes(resp, 200, "text/plain; version=0.0.4; charset=utf-8", b.s, b.len);
}

int routes_ops_add(ingot_app *app) {
    int rc = 0;
    rc |= http_route_add(app->http, "GET", "/health", h_health, app, http_error_kserve, 1);
    rc |= http_route_add(app->http, "GET", "/metrics", h_metrics, app, http_error_kserve, 0);
    return rc;
}
