/*
 * base.c: error messages, aligned allocation, the arena, logging and clocks.
 */
#define _GNU_SOURCE
#include "base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *ingot_status_str(ingot_status st) {
    switch (st) {
    case INGOT_OK: return "ok";
    case INGOT_ERR_INVALID_ARG: return "invalid argument";
    case INGOT_ERR_NOMEM: return "out of memory";
    case INGOT_ERR_IO: return "i/o error";
    case INGOT_ERR_FORMAT: return "format error";
    case INGOT_ERR_UNSUPPORTED: return "unsupported";
    case INGOT_ERR_SHAPE: return "shape or type error";
    case INGOT_ERR_LIMIT: return "limit exceeded";
    case INGOT_ERR_NOT_FOUND: return "not found";
    case INGOT_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

int it_vfail(it_err *e, int st, const char *fmt, va_list ap) {
    if (e) vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    return st;
}

int it_fail(it_err *e, int st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    it_vfail(e, st, fmt, ap);
    va_end(ap);
    return st;
}

void *it_malloc(size_t n) {
    void *p = NULL;
    if (n == 0) n = 1;
    if (posix_memalign(&p, 64, it_align_up(n, 64)) != 0) return NULL;
    return p;
}

void *it_calloc(size_t n) {
    void *p = it_malloc(n);
    if (p) memset(p, 0, n ? n : 1);
    return p;
}

void it_free(void *p) { free(p); }

char *it_strndup(const char *s, size_t n) {
    char *r = malloc(n + 1);
    if (!r) return NULL;
    memcpy(r, s, n);
    r[n] = 0;
    return r;
}

char *it_strdup(const char *s) { return it_strndup(s, strlen(s)); }

struct it_arena_chunk {
    it_arena_chunk *next;
    size_t size, used;
    _Alignas(64) unsigned char data[];
};

void it_arena_init(it_arena *a, size_t chunk_size) {
    a->head = NULL;
    a->chunk_size = chunk_size ? chunk_size : 65536;
}

void *it_arena_alloc(it_arena *a, size_t n) {
    n = it_align_up(n ? n : 1, 16);
    it_arena_chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t sz = n > a->chunk_size ? n : a->chunk_size;
        c = it_malloc(sizeof(it_arena_chunk) + sz);
        if (!c) return NULL;
        c->size = sz;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *it_arena_strdup(it_arena *a, const char *s, size_t n) {
    char *r = it_arena_alloc(a, n + 1);
    if (r) {
        memcpy(r, s, n);
        r[n] = 0;
    }
    return r;
}

void it_arena_free(it_arena *a) {
    it_arena_chunk *c = a->head;
    while (c) {
        it_arena_chunk *n = c->next;
        it_free(c);
        c = n;
    }
    a->head = NULL;
}

static int log_level(void) {
    const char *s = getenv("INGOT_LOG");
    if (!s) return IT_LOG_WARN;
    if (!strcmp(s, "debug")) return IT_LOG_DEBUG;
    if (!strcmp(s, "info")) return IT_LOG_INFO;
    if (!strcmp(s, "error")) return IT_LOG_ERROR;
    return IT_LOG_WARN;
}

void it_log(int level, const char *fmt, ...) {
    if (level < log_level()) return;
    static const char *names[] = {"debug", "info", "warn", "error"};
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ingot %s: ", names[level & 3]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

double it_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
