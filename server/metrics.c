/*
 * metrics.c: per-model request statistics and their Prometheus text rendering
 * (see metrics.h). Histograms use fixed bucket bounds: seconds from 100us to
 * 10s for latencies, powers of two for batch sizes.
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double k_time_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                       0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5, 5, 10};
static const double k_batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128};

void sbuf_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        size_t room = b->cap - b->len;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap - b->len <= (size_t)n) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s, b->cap = cap;
    }
}

void sbuf_label(sbuf *b, const char *v) {
    for (; *v; v++) {
        if (*v == '\\') sbuf_printf(b, "\\\\");
        else if (*v == '"') sbuf_printf(b, "\\\"");
        else if (*v == '\n') sbuf_printf(b, "\\n");
        else sbuf_printf(b, "%c", *v);
    }
}

static void hist_init(metrics_hist *h, const double *bounds, int nb) {
    memset(h, 0, sizeof *h);
    h->bounds = bounds;
    h->nb = nb;
}

static void hist_add(metrics_hist *h, double v) {
    int i = 0;
    while (i < h->nb && v > h->bounds[i]) i++;
    if (i < h->nb) h->counts[i]++;
    else h->inf++;
    h->sum += v;
    h->count++;
}

static void hist_write(sbuf *b, const char *name, const char *labels, const metrics_hist *h) {
    uint64_t cum = 0;
    for (int i = 0; i < h->nb; i++) {
        cum += h->counts[i];
        sbuf_printf(b, "%s_bucket{%s,le=\"%g\"} %llu\n", name, labels, h->bounds[i], (unsigned long long)cum);
    }
    sbuf_printf(b, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, labels, (unsigned long long)h->count);
    sbuf_printf(b, "%s_sum{%s} %.9g\n", name, labels, h->sum);
    sbuf_printf(b, "%s_count{%s} %llu\n", name, labels, (unsigned long long)h->count);
}

void metrics_hist_init_time(metrics_hist *h) {
    hist_init(h, k_time_bounds, (int)(sizeof k_time_bounds / sizeof k_time_bounds[0]));
}
void metrics_hist_add(metrics_hist *h, double v) { hist_add(h, v); }
void metrics_hist_write(sbuf *b, const char *name, const char *labels, const metrics_hist *h) {
    hist_write(b, name, labels, h);
}

void model_stats_init(model_stats *st) {
    memset(st, 0, sizeof *st);
    pthread_mutex_init(&st->mu, NULL);
    int nt = (int)(sizeof k_time_bounds / sizeof k_time_bounds[0]);
    hist_init(&st->queue_s, k_time_bounds, nt);
    hist_init(&st->compute_s, k_time_bounds, nt);
    hist_init(&st->request_s, k_time_bounds, nt);
    hist_init(&st->batch_size, k_batch_bounds, (int)(sizeof k_batch_bounds / sizeof k_batch_bounds[0]));
}

void model_stats_destroy(model_stats *st) { pthread_mutex_destroy(&st->mu); }

void model_stats_request(model_stats *st, int ok, double queue_s, double compute_s, double total_s,
                         int64_t items) {
    pthread_mutex_lock(&st->mu);
    if (ok) {
        st->success++;
        st->inferences += (uint64_t)(items > 0 ? items : 1);
        hist_add(&st->queue_s, queue_s);
        hist_add(&st->compute_s, compute_s);
    } else {
        st->failure++;
    }
    hist_add(&st->request_s, total_s);
    pthread_mutex_unlock(&st->mu);
}

void model_stats_execution(model_stats *st, int nrequests) {
    pthread_mutex_lock(&st->mu);
    st->executions++;
    hist_add(&st->batch_size, (double)nrequests);
    pthread_mutex_unlock(&st->mu);
}

void model_stats_write_help(sbuf *b) {
    sbuf_printf(b,
                "# HELP ingot_model_ready 1 when the model is loaded and serving.\n"
                "# TYPE ingot_model_ready gauge\n"
                "# HELP ingot_inference_request_success_total Inference requests that succeeded.\n"
                "# TYPE ingot_inference_request_success_total counter\n"
                "# HELP ingot_inference_request_failure_total Inference requests that failed.\n"
                "# TYPE ingot_inference_request_failure_total counter\n"
                "# HELP ingot_inference_count_total Inferences performed (batch items).\n"
                "# TYPE ingot_inference_count_total counter\n"
                "# HELP ingot_inference_exec_count_total Model executions (one per batch).\n"
                "# TYPE ingot_inference_exec_count_total counter\n"
                "# HELP ingot_inference_queue_size Requests waiting in the model's queue.\n"
                "# TYPE ingot_inference_queue_size gauge\n"
                "# HELP ingot_inference_queue_seconds Time requests waited for their run.\n"
                "# TYPE ingot_inference_queue_seconds histogram\n"
                "# HELP ingot_inference_compute_seconds Time of the run that served a request.\n"
                "# TYPE ingot_inference_compute_seconds histogram\n"
                "# HELP ingot_inference_request_seconds End-to-end time of inference requests.\n"
                "# TYPE ingot_inference_request_seconds histogram\n"
                "# HELP ingot_inference_batch_size Requests stacked into one execution.\n"
                "# TYPE ingot_inference_batch_size histogram\n");
}

void model_stats_write(model_stats *st, sbuf *b, const char *labels, int queued, int ready) {
    pthread_mutex_lock(&st->mu);
    sbuf_printf(b, "ingot_model_ready{%s} %d\n", labels, ready);
    sbuf_printf(b, "ingot_inference_request_success_total{%s} %llu\n", labels, (unsigned long long)st->success);
    sbuf_printf(b, "ingot_inference_request_failure_total{%s} %llu\n", labels, (unsigned long long)st->failure);
    sbuf_printf(b, "ingot_inference_count_total{%s} %llu\n", labels, (unsigned long long)st->inferences);
    sbuf_printf(b, "ingot_inference_exec_count_total{%s} %llu\n", labels, (unsigned long long)st->executions);
    sbuf_printf(b, "ingot_inference_queue_size{%s} %d\n", labels, queued);
    hist_write(b, "ingot_inference_queue_seconds", labels, &st->queue_s);
    hist_write(b, "ingot_inference_compute_seconds", labels, &st->compute_s);
    hist_write(b, "ingot_inference_request_seconds", labels, &st->request_s);
    hist_write(b, "ingot_inference_batch_size", labels, &st->batch_size);
    pthread_mutex_unlock(&st->mu);
}
