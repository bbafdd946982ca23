/*
 * threadpool.c: the compute pool that kernels split work over.
 *
 * Workers sleep on a condition variable between jobs and spin briefly after a
 * job so that back-to-back operator launches (the common case while a graph
 * runs) do not pay a futex wake each (the caller signals only when a worker
 * sleeps). A job is a range [0, n) cut into chunks; threads claim chunks from
 * an atomic ticket, so uneven chunks balance, and the caller waits only for the
 * chunks other threads actually claimed: on a loaded machine a worker that is
 * not running when the job starts is not waited for (the caller does its share),
 * so a 2-thread run degrades to 1-thread speed instead of stalling per job.
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
    atomic_int stop;
    atomic_int sleepers;   /* workers blocked on cv: the caller signals only then */
    /* the current job: written by the caller while the ticket is closed */
    _Atomic(it_range_fn) fn;
    _Atomic(void *) arg;
    atomic_llong total, chunk;
    /* ticket: job generation (high 32 bits) | next unclaimed chunk (low 32 bits).
     * A chunk is claimed by a CAS on the whole word, so a worker that wakes late
     * (after its job ended) can never claim a chunk of a job it did not read. */
    atomic_ullong ticket;
    atomic_llong done;     /* chunks finished in the current job */
    void *scratch[4];      /* it_threadpool_scratch buffers */
    size_t scratch_size[4];
};

#define TICKET_CLOSED 0xffffffffull

typedef struct {
    it_threadpool *tp;
    int tid;
} worker_arg;

/* Claim and run chunks of the job whose ticket word is t; stops when the job's
 * chunks are all claimed or the job is over. Returns the chunks it ran. */
static int64_t run_chunks(it_threadpool *tp, unsigned long long t, int tid) {
    int64_t ran = 0;
    unsigned long long gen = t >> 32;
    for (;;) {
        unsigned long long idx = t & 0xffffffffull;
        if (t >> 32 != gen || idx == TICKET_CLOSED) break;
        int64_t total = atomic_load_explicit(&tp->total, memory_order_relaxed);
        int64_t chunk = atomic_load_explicit(&tp->chunk, memory_order_relaxed);
        if ((int64_t)idx * chunk >= total) break;
        it_range_fn fn = atomic_load_explicit(&tp->fn, memory_order_relaxed);
        void *arg = atomic_load_explicit(&tp->arg, memory_order_relaxed);
        if (!atomic_compare_exchange_weak_explicit(&tp->ticket, &t, t + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue; /* t reloaded: retry (or notice the job changed) */
        /* the claim succeeded, so the job (and fn/arg/total read above) is current */
        int64_t b = (int64_t)idx * chunk, e = b + chunk;
        if (e > total) e = total;
        fn(arg, b, e, tid);
        atomic_fetch_add_explicit(&tp->done, 1, memory_order_release);
        ran++;
        t = atomic_load_explicit(&tp->ticket, memory_order_acquire);
    }
    return ran;
}

static void *worker(void *p) {
    worker_arg *wa = p;
    it_threadpool *tp = wa->tp;
    int tid = wa->tid;
    free(wa);
    unsigned long long seen = 0; /* the generation last worked on (0: none yet) */
    for (;;) {
        unsigned long long t;
        int spins = 0;
        while (((t = atomic_load_explicit(&tp->ticket, memory_order_acquire)) >> 32 == seen ||
                (t & 0xffffffffull) == TICKET_CLOSED) &&
               !atomic_load_explicit(&tp->stop, memory_order_relaxed) && spins < 20000) {
            spins++;
            if ((spins & 63) == 0) sched_yield();
        }
        if ((t >> 32 == seen || (t & 0xffffffffull) == TICKET_CLOSED) && !atomic_load(&tp->stop)) {
            pthread_mutex_lock(&tp->mu);
            atomic_fetch_add(&tp->sleepers, 1);
            while (((t = atomic_load(&tp->ticket)) >> 32 == seen || (t & 0xffffffffull) == TICKET_CLOSED) &&
                   !atomic_load(&tp->stop))
                pthread_cond_wait(&tp->cv, &tp->mu);
            atomic_fetch_sub(&tp->sleepers, 1);
            pthread_mutex_unlock(&tp->mu);
        }
        if (atomic_load(&tp->stop)) break;
        seen = t >> 32;
        run_chunks(tp, t, tid);
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
    atomic_init(&tp->stop, 0);
    atomic_init(&tp->sleepers, 0);
    atomic_init(&tp->ticket, TICKET_CLOSED);
    atomic_init(&tp->done, 0);
    atomic_init(&tp->total, 0);
    atomic_init(&tp->chunk, 1);
    atomic_init(&tp->fn, NULL);
    atomic_init(&tp->arg, NULL);
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
    int64_t per = chunks < tp->n * 8 ? chunks : tp->n * 8; /* several chunks per thread: a claim is one CAS */
    int64_t chunk = (n + per - 1) / per;
    int64_t nchunks = (n + chunk - 1) / chunk;
    /* the previous job is over (all its chunks done); close the ticket so a late
       claim on it fails, publish the new job, then open it */
    unsigned long long gen = (atomic_load_explicit(&tp->ticket, memory_order_relaxed) >> 32) + 1;
    if ((gen & 0xffffffffull) == 0) gen = 1; /* 0 means "never worked" to a fresh worker */
    atomic_store_explicit(&tp->ticket, (gen << 32) | TICKET_CLOSED, memory_order_seq_cst);
    atomic_store_explicit(&tp->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&tp->arg, arg, memory_order_relaxed);
    atomic_store_explicit(&tp->total, n, memory_order_relaxed);
    atomic_store_explicit(&tp->chunk, chunk, memory_order_relaxed);
    atomic_store_explicit(&tp->done, 0, memory_order_relaxed);
    atomic_store_explicit(&tp->ticket, gen << 32, memory_order_seq_cst);
    if (atomic_load(&tp->sleepers) > 0) {
        pthread_mutex_lock(&tp->mu);
        pthread_cond_broadcast(&tp->cv);
        pthread_mutex_unlock(&tp->mu);
    }
    run_chunks(tp, gen << 32, 0);
    /* wait only for chunks other threads claimed: a worker that has not woken
       (descheduled by other load) costs nothing, the caller ran its share */
    int spins = 0;
    while (atomic_load_explicit(&tp->done, memory_order_acquire) < nchunks)
        if (++spins > 64) sched_yield();
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
