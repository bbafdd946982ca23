/*
 * threadpool.c: the compute pool that kernels split work over.
 *
 * Workers sleep on a condition variable between jobs and spin briefly after a
 * job so that back-to-back operator launches (the common case while a graph
 * runs) do not pay a futex wake each. A job is a range [0, n) cut into chunks;
 * threads claim chunks from an atomic counter, so uneven chunks balance.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "base.h"

struct it_threadpool {
    int n;                 /* threads including the caller */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint gen;       /* bumped for every job */
    atomic_int stop;
    /* current job */
    it_range_fn fn;
    void *arg;
    int64_t total, chunk;
    atomic_llong next;     /* next unclaimed item */
    atomic_int active;     /* workers still inside the job */
    void *scratch[4];      /* it_threadpool_scratch buffers */
    size_t scratch_size[4];
};

typedef struct {
    it_threadpool *tp;
    int tid;
} worker_arg;

static void run_chunks(it_threadpool *tp, int tid) {
    for (;;) {
        int64_t b = atomic_fetch_add(&tp->next, tp->chunk);
        if (b >= tp->total) break;
        int64_t e = b + tp->chunk;
        if (e > tp->total) e = tp->total;
        tp->fn(tp->arg, b, e, tid);
    }
}

static void *worker(void *p) {
    worker_arg *wa = p;
    it_threadpool *tp = wa->tp;
    int tid = wa->tid;
    free(wa);
    unsigned seen = 0; /* the generation at creation: a job may start before this thread runs */
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&tp->gen, memory_order_acquire)) == seen &&
               !atomic_load(&tp->stop) && spins < 20000) {
            spins++;
            if ((spins & 63) == 0) sched_yield();
        }
        if (g == seen && !atomic_load(&tp->stop)) {
            pthread_mutex_lock(&tp->mu);
            while ((g = atomic_load(&tp->gen)) == seen && !atomic_load(&tp->stop))
                pthread_cond_wait(&tp->cv, &tp->mu);
            pthread_mutex_unlock(&tp->mu);
        }
        if (atomic_load(&tp->stop)) break;
        seen = g;
        run_chunks(tp, tid);
        atomic_fetch_sub_explicit(&tp->active, 1, memory_order_release);
    }
    return NULL;
}

int it_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int c = CPU_COUNT(&set);
        if (c > 0 && c < n) n = c;
    }
    return n > 0 ? (int)n : 1;
}

it_threadpool *it_threadpool_create(int nthreads) {
    if (nthreads <= 0) nthreads = it_cpu_count();
    if (nthreads > 256) nthreads = 256;
    it_threadpool *tp = calloc(1, sizeof *tp);
    if (!tp) return NULL;
    tp->n = nthreads;
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->cv, NULL);
    atomic_init(&tp->gen, 0);
    atomic_init(&tp->stop, 0);
    atomic_init(&tp->active, 0);
    if (nthreads > 1) {
        tp->threads = calloc((size_t)nthreads - 1, sizeof(pthread_t));
        if (!tp->threads) goto fail;
        for (int i = 1; i < nthreads; i++) {
            worker_arg *wa = malloc(sizeof *wa);
            if (!wa) goto fail;
            wa->tp = tp;
            wa->tid = i;
            if (pthread_create(&tp->threads[i - 1], NULL, worker, wa) != 0) {
                free(wa);
                tp->n = i; /* run with the threads we have */
                break;
            }
        }
    }
    return tp;
fail:
    it_threadpool_free(tp);
    return NULL;
}

void it_threadpool_free(it_threadpool *tp) {
    if (!tp) return;
    pthread_mutex_lock(&tp->mu);
    atomic_store(&tp->stop, 1);
    pthread_cond_broadcast(&tp->cv);
    pthread_mutex_unlock(&tp->mu);
    if (tp->threads)
        for (int i = 1; i < tp->n; i++)
            if (tp->threads[i - 1]) pthread_join(tp->threads[i - 1], NULL);
    free(tp->threads);
    for (int i = 0; i < 4; i++) it_free(tp->scratch[i]);
    pthread_mutex_destroy(&tp->mu);
    pthread_cond_destroy(&tp->cv);
    free(tp);
}

int it_threadpool_size(const it_threadpool *tp) { return tp ? tp->n : 1; }

void it_parallel_for(it_threadpool *tp, int64_t n, int64_t grain, it_range_fn fn, void *arg) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (!tp || tp->n == 1 || n <= grain) {
        fn(arg, 0, n, 0);
        return;
    }
    int64_t chunks = (n + grain - 1) / grain;
    int64_t per = chunks < tp->n * 4 ? chunks : tp->n * 4; /* a few chunks per thread */
    int64_t chunk = (n + per - 1) / per;
    tp->fn = fn;
    tp->arg = arg;
    tp->total = n;
    tp->chunk = chunk;
    atomic_store(&tp->next, 0);
    atomic_store(&tp->active, tp->n - 1);
    pthread_mutex_lock(&tp->mu);
    atomic_fetch_add_explicit(&tp->gen, 1, memory_order_release);
    pthread_cond_broadcast(&tp->cv);
    pthread_mutex_unlock(&tp->mu);
    run_chunks(tp, 0);
    while (atomic_load_explicit(&tp->active, memory_order_acquire) > 0) sched_yield();
}

void *it_threadpool_scratch(it_threadpool *tp, int slot, size_t bytes) {
    if (!tp || slot < 0 || slot >= 4) return NULL;
    if (tp->scratch_size[slot] < bytes) {
        it_free(tp->scratch[slot]);
        size_t sz = bytes + bytes / 4;
        tp->scratch[slot] = it_malloc(sz);
        tp->scratch_size[slot] = tp->scratch[slot] ? sz : 0;
    }
    return tp->scratch[slot];
}
