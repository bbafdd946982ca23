/*
 * metrics.h: counters and histograms for /metrics (Prometheus text format).
 *
 * A model_stats lives in each served model and is updated by the threads that
 * finish its requests (HTTP threads) and by its scheduler (batch sizes and
 * compute time); a mutex guards it. The text renderer appends to an sbuf, a
 * growable string also used by the route handlers.
 */
#ifndef INGOT_SERVER_METRICS_H
#define INGOT_SERVER_METRICS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* A growable string; on allocation failure it keeps what it has and sets oom. */
typedef struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;
void sbuf_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append a Prometheus label value (escapes \, " and newline). */
void sbuf_label(sbuf *b, const char *v);

#define METRICS_MAX_BUCKETS 16
typedef struct metrics_hist {
    const double *bounds; /* upper bounds, ascending; +Inf is implicit */
    int nb;
    uint64_t counts[METRICS_MAX_BUCKETS]; /* not cumulative */
    uint64_t inf;
    double sum;
    uint64_t count;
} metrics_hist;

typedef struct model_stats {
    pthread_mutex_t mu;
    uint64_t success, failure;  /* requests */
    uint64_t inferences;        /* batch items (rows of dim 0, or 1 per request) */
    uint64_t executions;        /* session runs */
    metrics_hist queue_s;       /* time a request waited for its run */
    metrics_hist compute_s;     /* time of the run that served a request */
    metrics_hist request_s;     /* end-to-end, decode to encode */
    metrics_hist batch_size;    /* requests per run */
} model_stats;

/* Histogram helpers (latency bounds 100us..10s), for other stats blocks (llm_model.c). */
void metrics_hist_init_time(metrics_hist *h);
void metrics_hist_add(metrics_hist *h, double v);
void metrics_hist_write(sbuf *b, const char *name, const char *labels, const metrics_hist *h);

void model_stats_init(model_stats *st);
void model_stats_destroy(model_stats *st);
void model_stats_request(model_stats *st, int ok, double queue_s, double compute_s, double total_s,
                         int64_t items);
void model_stats_execution(model_stats *st, int nrequests);
/* Append this model's series; labels like `model="x",version="1"`. Locks st. */
void model_stats_write(model_stats *st, sbuf *b, const char *labels, int queued, int ready);
/* The HELP/TYPE preamble for the series model_stats_write emits. */
void model_stats_write_help(sbuf *b);

#endif
