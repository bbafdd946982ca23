/*
 * base.h: what every layer of ingot uses: status codes and error messages,
 * aligned allocation, checked size arithmetic, the limits that bound every size
 * derived from a file or a request, a growable arena, the thread pool and CPU
 * feature detection. Depends on libc and pthreads only.
 */
#ifndef INGOT_BASE_H
#define INGOT_BASE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "ingot.h"

/* ---- limits: every size read from a file or request is checked against these ---- */
#define IT_MAX_DIMS INGOT_MAX_DIMS
#define IT_LIMIT_TENSOR_BYTES ((int64_t)1 << 40) /* one tensor */
#define IT_LIMIT_ELEMENTS ((int64_t)1 << 38)
#define IT_LIMIT_NODES 1000000
#define IT_LIMIT_SUBGRAPH_DEPTH 32
#define IT_LIMIT_STRING 1000000
#define IT_LIMIT_LOOP_ITERS ((int64_t)1 << 31)

/* ---- errors ---- */
typedef struct it_err {
    char msg[512];
} it_err;

/* Format a message into e (if non-NULL) and return st. */
int it_fail(it_err *e, int st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int it_vfail(it_err *e, int st, const char *fmt, va_list ap);

/* ---- allocation: 64-byte aligned; it_free(NULL) is safe ---- */
void *it_malloc(size_t n);
void *it_calloc(size_t n);
void it_free(void *p);
char *it_strdup(const char *s);
char *it_strndup(const char *s, size_t n);

/* ---- checked arithmetic: return 0 on overflow ---- */
static inline int it_mul_ok(int64_t a, int64_t b, int64_t *r) {
    return !__builtin_mul_overflow(a, b, r);
}
static inline int it_add_ok(int64_t a, int64_t b, int64_t *r) {
    return !__builtin_add_overflow(a, b, r);
}
static inline size_t it_align_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }
/* A 64-bit hash finalizer (MurmurHash3's fmix64): every input bit reaches every output bit.
 * Hash tables keyed by packed integers (BPE merges, KV prefix blocks) mix their keys with it. */
static inline uint64_t it_hash_mix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

/* ---- arena: bump allocation in 64-byte aligned chunks, freed all at once ---- */
typedef struct it_arena_chunk it_arena_chunk;
typedef struct it_arena {
    it_arena_chunk *head;
    size_t chunk_size;
} it_arena;
void it_arena_init(it_arena *a, size_t chunk_size);
void *it_arena_alloc(it_arena *a, size_t n); /* zeroed */
char *it_arena_strdup(it_arena *a, const char *s, size_t n);
void it_arena_free(it_arena *a);

/* ---- logging (stderr; level from INGOT_LOG=debug|info|warn|error) ---- */
enum { IT_LOG_DEBUG, IT_LOG_INFO, IT_LOG_WARN, IT_LOG_ERROR };
void it_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- thread pool ----
 * One pool per session/engine. it_parallel_for splits [0, n) into chunks of at
 * least `grain` items and calls fn(arg, begin, end, thread_index) on the pool's
 * threads; the caller takes part as thread 0 and returns when all are done.
 * Kernels never create threads; they receive the pool. A NULL pool runs inline. */
typedef struct it_threadpool it_threadpool;
typedef void (*it_range_fn)(void *arg, int64_t begin, int64_t end, int tid);
it_threadpool *it_threadpool_create(int nthreads);
void it_threadpool_free(it_threadpool *tp);
int it_threadpool_size(const it_threadpool *tp);
void it_parallel_for(it_threadpool *tp, int64_t n, int64_t grain, it_range_fn fn, void *arg);
int it_cpu_count(void);
/* Grow-only scratch buffer `slot` (0..3) owned by the pool, for kernels that need
 * workspace on every call (GEMM packing): no malloc or page faults in steady
 * state. Valid until the next call with the same slot; only the thread that
 * drives the pool may use it. Returns NULL when tp is NULL or on failure. */
void *it_threadpool_scratch(it_threadpool *tp, int slot, size_t bytes);

/* ---- CPU features ---- */
enum {
    IT_CPU_AVX2 = 1 << 0,   /* AVX2 + FMA + F16C, OS saves YMM */
    IT_CPU_AVX512 = 1 << 1, /* AVX-512 F/BW/DQ/VL, OS saves ZMM */
    IT_CPU_VNNI = 1 << 2,   /* AVX-512 VNNI */
    IT_CPU_BF16 = 1 << 3,   /* AVX-512 BF16 */
    IT_CPU_AVXVNNI = 1 << 4,
    IT_CPU_NEON = 1 << 8,
    IT_CPU_DOTPROD = 1 << 9
};
enum { IT_ISA_SCALAR = 0, IT_ISA_AVX2 = 1, IT_ISA_AVX512 = 2 };
/* Detected features (CPUID + XGETBV), masked by INGOT_ISA=scalar|avx2|avx512. */
unsigned it_cpu_features(void);
int it_cpu_isa(void);
const char *it_cpu_isa_name(int isa);
const char *it_cpu_model_name(char *buf, size_t n);

/* ---- time ---- */
double it_now_ms(void);

#endif
