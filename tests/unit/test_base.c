/*
 * test_base.c: thread pool, CPU tiers, arenas, checked arithmetic and the
 * element conversions every layer relies on.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/base.h"
#include "tensor/tensor.h"

typedef struct sum_job {
    int64_t *per_item; /* each item written exactly once */
} sum_job;

static void mark(void *arg, int64_t b, int64_t e, int tid) {
    sum_job *j = arg;
    for (int64_t i = b; i < e; i++) j->per_item[i] += 1 + tid * 0;
}

static void pool_covers_every_item_once(void **state) {
    (void)state;
    for (int threads = 1; threads <= 4; threads++) {
        it_threadpool *tp = it_threadpool_create(threads);
        assert_non_null(tp);
        assert_int_equal(it_threadpool_size(tp), threads);
        for (int64_t n = 1; n < 3000; n = n * 3 + 1) {
            for (int64_t grain = 1; grain < 100; grain *= 7) {
                int64_t *items = calloc((size_t)n, sizeof(int64_t));
                sum_job j = {items};
                it_parallel_for(tp, n, grain, mark, &j);
                for (int64_t i = 0; i < n; i++) assert_int_equal(items[i], 1);
                free(items);
            }
        }
        it_threadpool_free(tp);
    }
    it_threadpool_free(NULL);
}

static void isa_names(void **state) {
    (void)state;
    const char *n = it_cpu_isa_name(it_cpu_isa());
    assert_true(!strcmp(n, "scalar") || !strcmp(n, "avx2") || !strcmp(n, "avx512"));
    assert_string_equal(ingot_isa_name(), n);
}

static void arena_alignment(void **state) {
    (void)state;
    it_arena a;
    it_arena_init(&a, 128);
    for (int i = 1; i < 1000; i += 37) {
        char *p = it_arena_alloc(&a, (size_t)i);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        for (int k = 0; k < i; k++) assert_int_equal(p[k], 0);
        memset(p, 1, (size_t)i);
    }
    it_arena_free(&a);
}

static void checked_math(void **state) {
    (void)state;
    int64_t r;
    assert_true(it_mul_ok(1 << 20, 1 << 20, &r));
    assert_false(it_mul_ok(INT64_MAX / 2 + 1, 2, &r));
    assert_false(it_add_ok(INT64_MAX, 1, &r));
    int64_t dims[2] = {INT64_MAX / 2, 3};
    assert_int_equal(it_shape_count(2, dims), -1);
    int64_t neg[2] = {2, -1};
    assert_int_equal(it_shape_count(2, neg), -1);
    it_tensor t = {0};
    it_err e = {{0}};
    int64_t big[3] = {1 << 20, 1 << 20, 1 << 20};
    assert_int_equal(it_tensor_set_shape(&t, IT_F32, 3, big, &e), INGOT_ERR_LIMIT);
}

static void f16_round_trip(void **state) {
    (void)state;
    /* every finite half converts to float and back unchanged */
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t x = (uint16_t)h;
        if ((x & 0x7c00) == 0x7c00 && (x & 0x3ff)) continue; /* NaN payloads */
        float f = it_f16_to_f32(x);
        assert_int_equal(it_f32_to_f16(f), x);
    }
    assert_int_equal(it_f32_to_f16(65520.f), 0x7c00);   /* rounds to inf */
    assert_int_equal(it_f32_to_f16(1.0f + 1.0f / 2048), 0x3c00); /* tie to even */
    assert_true(fabsf(it_f16_to_f32(0x0001) - 5.9604645e-8f) < 1e-12f);
    assert_int_equal(it_f32_to_bf16(1.0f), 0x3f80);
    assert_true(it_bf16_to_f32(0x4049) > 3.1 && it_bf16_to_f32(0x4049) < 3.15);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pool_covers_every_item_once), cmocka_unit_test(isa_names),
        cmocka_unit_test(arena_alignment), cmocka_unit_test(checked_math), cmocka_unit_test(f16_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
