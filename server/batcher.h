/*
 * batcher.h: the per-model scheduler of tensor (ONNX) models, with dynamic
 * batching.
 *
 * One scheduler thread owns the model's ingot_session; HTTP threads hand it
 * jobs through a bounded FIFO and block until their job is done. When the
 * model's inputs all have a dynamic leading dimension, jobs that arrive within
 * max_queue_delay_us of the oldest waiting job and agree on every other
 * dimension and dtype are stacked along dim 0 (up to max_batch rows) into one
 * run, and the outputs are split back by rows. Anything else runs alone.
 */
#ifndef INGOT_SERVER_BATCHER_H
#define INGOT_SERVER_BATCHER_H

#include "ingot.h"
#include "kserve_codec.h"
#include "metrics.h"

typedef struct batcher batcher;

typedef struct batcher_config {
    int max_batch;               /* rows per run; <= 1 disables batching */
    long long max_queue_delay_us;
    int max_queue;               /* waiting jobs beyond this get 429 */
    int threads;                 /* session compute threads (0: all cores) */
} batcher_config;

typedef struct batch_job {
    /* in: one tensor per model input, in the model's input order (borrowed) */
    const kv_tensor *const *inputs;
    /* in: model output indices wanted, and where the results go */
    int nout;
    const int *out_idx;
    kv_tensor *outs;            /* nout entries, filled on success (caller clears them) */
    /* out */
    int status;                 /* 0 ok, else an HTTP status */
    char err[256];
    double t_enqueue, t_start, t_end;
    int batch_requests;         /* requests in the run that served this job */
    /* private */
    int done;
    struct batch_job *next;
} batch_job;

/* m must outlive the batcher. st receives execution statistics (may be NULL). */
batcher *batcher_create(const ingot_model *m, const batcher_config *cfg, model_stats *st, char *err, size_t errlen);
/* Queue job and block until it is done. Returns 0 when it ran (job->status says
 * how), 429 when the queue is full, 503 when the batcher is shutting down. */
int batcher_submit(batcher *b, batch_job *job);
/* Fail every waiting job with 503 and refuse new ones (server shutdown). */
void batcher_cancel(batcher *b);
/* Finish the queued jobs, stop the thread, free the session. */
void batcher_free(batcher *b);
int batcher_queued(batcher *b);
/* Rows per run when the model batches dynamically, else 0. */
int batcher_max_batch(const batcher *b);

#endif
