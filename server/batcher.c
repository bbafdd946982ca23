/*
 * batcher.c: per-model scheduler thread with dynamic batching (see batcher.h).
 *
 * The queue is a singly linked FIFO under one mutex; `work` wakes the
 * scheduler, `done` wakes waiting HTTP threads (each checks its own job). A
 * batch is gathered from the oldest job forward, skipping jobs whose shapes do
 * not stack with it (they keep their place for the next round). When a stacked
 * run fails or an output cannot be split by rows, the jobs are rerun one by one
 * so that one odd request cannot fail its neighbours.
 */
#include "batcher.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"

struct batcher {
    const ingot_model *model;
    ingot_session *sess;
    batcher_config cfg;
    model_stats *stats;
    int nin, nout;
    const char *in_names[KV_MAX_TENSORS];
    int batchable; /* every input has a dynamic dim 0 and max_batch > 1 */
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    batch_job *head, *tail;
    int queued;
    int stop, cancel;
    pthread_t thread;
    int thread_started;
};

static int status_of(ingot_status st) {
    switch (st) {
    case INGOT_ERR_INVALID_ARG: case INGOT_ERR_SHAPE: case INGOT_ERR_LIMIT: case INGOT_ERR_NOT_FOUND:
    case INGOT_ERR_FORMAT: return 400;
    default: return 500;
    }
}

/* Copy a session output (or rows [r0, r0+rows) of it when rows >= 0) into t. */
static int copy_output(const ingot_tensor *o, const char *name, int64_t r0, int64_t rows, kv_tensor *t) {
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name) return -1;
    t->dtype = ingot_tensor_dtype(o);
    t->ndim = ingot_tensor_ndim(o);
    memcpy(t->dims, ingot_tensor_dims(o), (size_t)t->ndim * sizeof(int64_t));
    int64_t count = ingot_tensor_count(o);
    size_t es = ingot_dtype_size(t->dtype);
    size_t off = 0;
    if (rows >= 0) {
        int64_t per = t->dims[0] ? count / t->dims[0] : 0;
        t->dims[0] = rows;
        off = (size_t)(r0 * per);
        count = rows * per;
    }
    t->count = count;
    t->nbytes = (size_t)count * es;
    t->data = calloc(t->nbytes ? t->nbytes : 1, 1);
    if (!t->data) return -1;
    const uint8_t *src = ingot_tensor_data(o);
    if (t->dtype == INGOT_DTYPE_STRING) {
        char *const *s = (char *const *)(const void *)src + off;
        char **d = t->data;
        for (int64_t i = 0; i < count; i++) {
            d[i] = strdup(s[i] ? s[i] : "");
            if (!d[i]) return -1;
        }
    } else if (t->nbytes) {
        memcpy(t->data, src + off * es, t->nbytes);
    }
    return 0;
}

static void job_fail(batch_job *j, int status, const char *msg) {
    for (int k = 0; k < j->nout; k++) kv_tensor_clear(&j->outs[k]);
    j->status = status;
    snprintf(j->err, sizeof j->err, "%s", msg);
}

/* Run one job alone. */
static void run_single(batcher *b, batch_job *j) {
    ingot_tensor *ts[KV_MAX_TENSORS] = {0};
    j->t_start = http_now();
    j->batch_requests = 1;
    for (int i = 0; i < b->nin; i++) {
        const kv_tensor *t = j->inputs[i];
        if (ingot_tensor_wrap(t->dtype, t->ndim, t->dims, t->data, &ts[i]) != INGOT_OK) {
            job_fail(j, 400, "input tensor rejected");
            goto out;
        }
    }
    ingot_status st = ingot_session_run(b->sess, b->nin, b->in_names, (const ingot_tensor *const *)ts);
    if (b->stats) model_stats_execution(b->stats, 1);
    if (st != INGOT_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "inference failed: %s: %s", ingot_status_str(st), ingot_session_error(b->sess));
        job_fail(j, status_of(st), msg);
        goto out;
    }
    for (int k = 0; k < j->nout; k++) {
        const ingot_tensor *o = ingot_session_output(b->sess, j->out_idx[k]);
        ingot_value_info info;
        ingot_model_output(b->model, j->out_idx[k], &info);
        if (!o) {
            job_fail(j, 500, "an output is not a tensor");
            goto out;
        }
        if (copy_output(o, info.name, 0, -1, &j->outs[k])) {
            job_fail(j, 500, "out of memory");
            goto out;
        }
    }
    j->status = 0;
out:
    j->t_end = http_now();
    for (int i = 0; i < b->nin; i++) ingot_tensor_free(ts[i]);
}

/* Can a and b share a run: same dtypes and dims except dim 0. */
static int stackable(const batcher *b, const batch_job *x, const batch_job *y) {
    for (int i = 0; i < b->nin; i++) {
        const kv_tensor *p = x->inputs[i], *q = y->inputs[i];
        if (p->dtype != q->dtype || p->ndim != q->ndim) return 0;
        for (int d = 1; d < p->ndim; d++)
            if (p->dims[d] != q->dims[d]) return 0;
    }
    return 1;
}

static int job_rows(const batcher *b, const batch_job *j) {
    int64_t rows = -1;
    for (int i = 0; i < b->nin; i++) {
        const kv_tensor *t = j->inputs[i];
        if (t->ndim < 1 || t->dims[0] < 1 || t->dims[0] > b->cfg.max_batch) return -1;
        if (rows >= 0 && t->dims[0] != rows) return -1;
        rows = t->dims[0];
    }
    return (int)rows;
}

/* Run n stacked jobs; 0 ok, -1 when they must be rerun one by one. */
static int run_stacked(batcher *b, batch_job **jobs, int n, int total) {
    ingot_tensor *ts[KV_MAX_TENSORS] = {0};
    void *bufs[KV_MAX_TENSORS] = {0};
    int rc = -1;
    double t0 = http_now();
    for (int i = 0; i < b->nin; i++) {
        const kv_tensor *t0i = jobs[0]->inputs[i];
        int64_t dims[INGOT_MAX_DIMS];
        memcpy(dims, t0i->dims, sizeof dims);
        dims[0] = total;
        size_t row = t0i->nbytes / (size_t)t0i->dims[0];
        bufs[i] = malloc(row * (size_t)total + 1);
        if (!bufs[i]) goto out;
        size_t off = 0;
        for (int k = 0; k < n; k++) {
            const kv_tensor *t = jobs[k]->inputs[i];
            memcpy((uint8_t *)bufs[i] + off, t->data, t->nbytes);
            off += t->nbytes;
        }
        if (ingot_tensor_wrap(t0i->dtype, t0i->ndim, dims, bufs[i], &ts[i]) != INGOT_OK) goto out;
    }
    if (ingot_session_run(b->sess, b->nin, b->in_names, (const ingot_tensor *const *)ts) != INGOT_OK) goto out;
    if (b->stats) model_stats_execution(b->stats, n);
    double t1 = http_now();
    int64_t r0 = 0;
    for (int k = 0; k < n; k++) {
        batch_job *j = jobs[k];
        int64_t rows = j->inputs[0]->dims[0];
        for (int o = 0; o < j->nout; o++) {
            const ingot_tensor *ot = ingot_session_output(b->sess, j->out_idx[o]);
            ingot_value_info info;
            ingot_model_output(b->model, j->out_idx[o], &info);
            if (!ot || ingot_tensor_ndim(ot) < 1 || ingot_tensor_dims(ot)[0] != total ||
                copy_output(ot, info.name, r0, rows, &j->outs[o])) {
                for (int q = 0; q <= k; q++)
                    for (int p = 0; p < jobs[q]->nout; p++) kv_tensor_clear(&jobs[q]->outs[p]);
                goto out;
            }
        }
        r0 += rows;
    }
    for (int k = 0; k < n; k++) {
        jobs[k]->status = 0;
        jobs[k]->t_start = t0;
        jobs[k]->t_end = t1;
        jobs[k]->batch_requests = n;
    }
    rc = 0;
out:
    for (int i = 0; i < b->nin; i++) ingot_tensor_free(ts[i]), free(bufs[i]);
    return rc;
}

static void unlink_job(batcher *b, batch_job *j) {
    batch_job **pp = &b->head, *prev = NULL;
    while (*pp && *pp != j) prev = *pp, pp = &(*pp)->next;
    if (!*pp) return;
    *pp = j->next;
    if (b->tail == j) b->tail = prev;
    j->next = NULL;
    b->queued--;
}

static void add_us(struct timespec *ts, double t_mono_deadline) {
    /* Convert a CLOCK_MONOTONIC deadline (seconds) into a timespec. */
    ts->tv_sec = (time_t)t_mono_deadline;
    ts->tv_nsec = (long)((t_mono_deadline - (double)ts->tv_sec) * 1e9);
    if (ts->tv_nsec >= 1000000000L) ts->tv_sec++, ts->tv_nsec -= 1000000000L;
    if (ts->tv_nsec < 0) ts->tv_nsec = 0;
}

static void *scheduler_main(void *arg) {
    batcher *b = arg;
    batch_job *batch[256];
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->head && !b->stop) pthread_cond_wait(&b->work, &b->mu);
        if (!b->head) break; /* stopping with an empty queue */
        batch_job *first = b->head;
        int rows = b->batchable ? job_rows(b, first) : -1;
        int n = 1;
        batch[0] = first;
        if (rows > 0) {
            double deadline = first->t_enqueue + (double)b->cfg.max_queue_delay_us * 1e-6;
            for (;;) {
                n = 1;
                int total = rows;
                for (batch_job *j = first->next; j && n < (int)(sizeof batch / sizeof batch[0]); j = j->next) {
                    int r = job_rows(b, j);
                    if (r < 1 || total + r > b->cfg.max_batch || !stackable(b, first, j)) continue;
                    batch[n++] = j;
                    total += r;
                }
                if (total >= b->cfg.max_batch || b->stop || b->cancel || http_now() >= deadline) break;
                struct timespec ts;
                add_us(&ts, deadline);
                pthread_cond_timedwait(&b->work, &b->mu, &ts);
            }
            if (b->cancel) continue; /* the cancelled jobs were already failed and unlinked */
        }
        int total = 0;
        for (int k = 0; k < n; k++) {
            unlink_job(b, batch[k]);
            total += rows > 0 ? job_rows(b, batch[k]) : 0;
        }
        pthread_mutex_unlock(&b->mu);
        if (n == 1 || run_stacked(b, batch, n, total) != 0)
            for (int k = 0; k < n; k++) run_single(b, batch[k]);
        pthread_mutex_lock(&b->mu);
        for (int k = 0; k < n; k++) batch[k]->done = 1;
        pthread_cond_broadcast(&b->done);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

batcher *batcher_create(const ingot_model *m, const batcher_config *cfg, model_stats *st, char *err, size_t errlen) {
    batcher *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    b->model = m;
    b->cfg = *cfg;
    if (b->cfg.max_queue <= 0) b->cfg.max_queue = 1;
    if (b->cfg.max_queue_delay_us < 0) b->cfg.max_queue_delay_us = 0;
    b->stats = st;
    b->nin = ingot_model_num_inputs(m);
    b->nout = ingot_model_num_outputs(m);
    if (b->nin > KV_MAX_TENSORS || b->nout > KV_MAX_TENSORS) {
        snprintf(err, errlen, "the model has more than %d inputs or outputs", KV_MAX_TENSORS);
        free(b);
        return NULL;
    }
    b->batchable = b->cfg.max_batch > 1 && b->nin > 0;
    for (int i = 0; i < b->nin; i++) {
        ingot_value_info info;
        ingot_model_input(m, i, &info);
        b->in_names[i] = info.name;
        if (info.ndim < 1 || info.dims[0] != -1 || info.kind != 0) b->batchable = 0;
    }
    for (int i = 0; i < b->nout; i++) {
        ingot_value_info info;
        ingot_model_output(m, i, &info);
        /* Outputs whose leading dim is fixed cannot be split by rows. */
        if (info.ndim == 0 || (info.ndim > 0 && info.dims[0] > 0) || info.kind != 0) b->batchable = 0;
    }
    ingot_session_options so = {.threads = cfg->threads};
    ingot_status s = ingot_session_create(m, &so, &b->sess);
    if (s != INGOT_OK) {
        snprintf(err, errlen, "cannot create a session: %s", ingot_status_str(s));
        free(b);
        return NULL;
    }
    pthread_mutex_init(&b->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->work, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&b->done, NULL);
    if (pthread_create(&b->thread, NULL, scheduler_main, b) != 0) {
        snprintf(err, errlen, "cannot start the scheduler thread");
        batcher_free(b);
        return NULL;
    }
    b->thread_started = 1;
    return b;
}

int batcher_submit(batcher *b, batch_job *job) {
    job->done = 0;
    job->next = NULL;
    job->status = 0;
    job->err[0] = 0;
    job->t_enqueue = http_now();
    pthread_mutex_lock(&b->mu);
    if (b->stop || b->cancel) {
        pthread_mutex_unlock(&b->mu);
        return 503;
    }
    if (b->queued >= b->cfg.max_queue) {
        pthread_mutex_unlock(&b->mu);
        return 429;
    }
    if (b->tail) b->tail->next = job;
    else b->head = job;
    b->tail = job;
    b->queued++;
    pthread_cond_signal(&b->work);
    while (!job->done) pthread_cond_wait(&b->done, &b->mu);
    pthread_mutex_unlock(&b->mu);
    return 0;
}

void batcher_cancel(batcher *b) {
    pthread_mutex_lock(&b->mu);
    b->cancel = 1;
    for (batch_job *j = b->head; j;) {
        batch_job *next = j->next;
        job_fail(j, 503, "the server is shutting down");
        j->t_start = j->t_end = http_now();
        j->done = 1;
        j->next = NULL;
        j = next;
    }
    b->head = b->tail = NULL;
    b->queued = 0;
    pthread_cond_broadcast(&b->done);
    pthread_cond_broadcast(&b->work);
    pthread_mutex_unlock(&b->mu);
}

void batcher_free(batcher *b) {
    if (!b) return;
    if (b->thread_started) {
        pthread_mutex_lock(&b->mu);
        b->stop = 1;
        pthread_cond_broadcast(&b->work);
        pthread_mutex_unlock(&b->mu);
        pthread_join(b->thread, NULL);
    }
    ingot_session_free(b->sess);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->work);
    pthread_cond_destroy(&b->done);
    free(b);
}

int batcher_queued(batcher *b) {
    pthread_mutex_lock(&b->mu);
    int n = b->queued;
    pthread_mutex_unlock(&b->mu);
    return n;
}

int batcher_max_batch(const batcher *b) { return b->batchable ? b->cfg.max_batch : 0; }
