/*
 * test_onnx_loader.c: the ONNX reader against real and corrupted files.
 * A small real model (the suite's Add test (test_add_bcast)) must load; every truncation of it
 * must fail with a message; wrong wire types, lengths past the end, absurd
 * dims and external-data escapes must fail with a message naming the problem.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "formats/onnx/onnx.h"
#include "ingot.h"

static unsigned char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static unsigned char *model_bytes(size_t *len) {
    unsigned char *b = read_all(INGOT_SHARED_DIR "/conformance/onnx/node/test_add_bcast/model.onnx", len);
    assert_non_null(b);
    return b;
}

static void loads_real_model(void **state) {
    (void)state;
    size_t len;
    unsigned char *b = model_bytes(&len);
    char err[512] = "";
    ingot_model *m = NULL;
    assert_int_equal(ingot_model_load_buffer(b, len, &m, err, sizeof err), INGOT_OK);
    assert_int_equal(ingot_model_num_inputs(m), 2);
    assert_int_equal(ingot_model_num_outputs(m), 1);
    ingot_value_info vi;
    assert_int_equal(ingot_model_input(m, 0, &vi), INGOT_OK);
    assert_string_equal(vi.name, "x");
    assert_int_equal(vi.dtype, INGOT_DTYPE_F32);
    assert_int_equal(vi.ndim, 3);
    ingot_model_free(m);
    free(b);
}

static void every_truncation_fails(void **state) {
    (void)state;
    size_t len;
    unsigned char *b = model_bytes(&len);
    for (size_t n = 0; n < len; n++) {
        unsigned char *p = malloc(n ? n : 1);
        memcpy(p, b, n);
        char err[512] = "";
        ingot_model *m = NULL;
        ingot_status st = ingot_model_load_buffer(p, n, &m, err, sizeof err);
        if (st == INGOT_OK) fail_msg("truncation to %zu of %zu bytes loaded", n, len);
        assert_null(m);
        assert_true(strlen(err) > 0);
        free(p);
    }
    free(b);
}

static void expect_error(const unsigned char *buf, size_t len, const char *needle) {
    char err[512] = "";
    ingot_model *m = NULL;
    ingot_status st = ingot_model_load_buffer(buf, len, &m, err, sizeof err);
    if (st == INGOT_OK) fail_msg("corrupt model loaded (expected an error with '%s')", needle);
    if (!strstr(err, needle)) fail_msg("error '%s' does not mention '%s'", err, needle);
}

static void wrong_wire_type(void **state) {
    (void)state;
    /* ModelProto.ir_version (field 1) as a length-delimited field */
    unsigned char m1[] = {0x0a, 0x01, 0x07};
    expect_error(m1, sizeof m1, "wire type");
    /* a tag with wire type 7 (invalid) */
    unsigned char m2[] = {0x0f, 0x00};
    expect_error(m2, sizeof m2, "wire type");
}

static void length_past_end(void **state) {
    (void)state;
    /* ir_version 7, then graph (field 7) claiming 100 bytes with 2 present */
    unsigned char m[] = {0x08, 0x07, 0x3a, 0x64, 0x0a, 0x00};
    expect_error(m, sizeof m, "past the end");
    /* varint that never ends */
    unsigned char v[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    expect_error(v, sizeof v, "varint");
}

/* protobuf writer helpers for building corrupt models */
static size_t put_varint(unsigned char *p, uint64_t v) {
    size_t n = 0;
    do {
        unsigned char b = v & 0x7f;
        v >>= 7;
        p[n++] = b | (v ? 0x80 : 0);
    } while (v);
    return n;
}
static size_t put_len(unsigned char *p, int field, const unsigned char *data, size_t len) {
    size_t n = put_varint(p, (uint64_t)field << 3 | 2);
    n += put_varint(p + n, len);
    memcpy(p + n, data, len);
    return n + len;
}

static void absurd_dims(void **state) {
    (void)state;
    /* TensorProto: dims 1<<40, 1<<40, data_type float, name "w", raw_data 4 bytes */
    unsigned char t[64], g[128], m[256];
    size_t tn = 0;
    tn += put_varint(t + tn, 1 << 3);
    tn += put_varint(t + tn, (uint64_t)1 << 40);
    tn += put_varint(t + tn, 1 << 3);
    tn += put_varint(t + tn, (uint64_t)1 << 40);
    tn += put_varint(t + tn, 2 << 3);
    tn += put_varint(t + tn, 1);
    tn += put_len(t + tn, 8, (const unsigned char *)"w", 1);
    tn += put_len(t + tn, 9, (const unsigned char *)"\0\0\0\0", 4);
    size_t gn = put_len(g, 5, t, tn);
    size_t mn = 0;
    mn += put_varint(m + mn, 1 << 3);
    mn += put_varint(m + mn, 8);
    mn += put_len(m + mn, 7, g, gn);
    unsigned char op[8];
    size_t on = 0;
    op[on++] = 0x10;
    op[on++] = 13; /* version 13 */
    mn += put_len(m + mn, 8, op, on);
    expect_error(m, mn, "too large");
}

static void raw_data_size_mismatch(void **state) {
    (void)state;
    unsigned char t[64], g[128], m[256];
    size_t tn = 0;
    tn += put_varint(t + tn, 1 << 3);
    tn += put_varint(t + tn, 3);
    tn += put_varint(t + tn, 2 << 3);
    tn += put_varint(t + tn, 1);
    tn += put_len(t + tn, 8, (const unsigned char *)"w", 1);
    tn += put_len(t + tn, 9, (const unsigned char *)"\0\0\0\0", 4); /* 4 bytes for 3 floats */
    size_t gn = put_len(g, 5, t, tn);
    size_t mn = 0;
    mn += put_varint(m + mn, 1 << 3);
    mn += put_varint(m + mn, 8);
    mn += put_len(m + mn, 7, g, gn);
    unsigned char op[] = {0x10, 13};
    mn += put_len(m + mn, 8, op, sizeof op);
    expect_error(m, mn, "raw_data has 4 bytes");
}

static void unknown_operator_is_named(void **state) {
    (void)state;
    /* graph with one node of op_type "NoSuchOp" in domain "ai.onnx" */
    unsigned char node[64], g[128], m[256];
    size_t nn = 0;
    nn += put_len(node + nn, 1, (const unsigned char *)"x", 1);
    nn += put_len(node + nn, 2, (const unsigned char *)"y", 1);
    nn += put_len(node + nn, 4, (const unsigned char *)"NoSuchOp", 8);
    unsigned char vi[8];
    size_t vn = put_len(vi, 1, (const unsigned char *)"x", 1);
    unsigned char vo[8];
    size_t von = put_len(vo, 1, (const unsigned char *)"y", 1);
    size_t gn = 0;
    gn += put_len(g + gn, 1, node, nn);
    gn += put_len(g + gn, 11, vi, vn);
    gn += put_len(g + gn, 12, vo, von);
    size_t mn = 0;
    mn += put_varint(m + mn, 1 << 3);
    mn += put_varint(m + mn, 8);
    mn += put_len(m + mn, 7, g, gn);
    unsigned char op[] = {0x10, 13};
    mn += put_len(m + mn, 8, op, sizeof op);
    expect_error(m, mn, "NoSuchOp");
}

static void missing_file(void **state) {
    (void)state;
    char err[512] = "";
    ingot_model *m = NULL;
    assert_int_equal(ingot_model_load("/nonexistent/model.onnx", &m, err, sizeof err), INGOT_ERR_IO);
    assert_non_null(strstr(err, "/nonexistent/model.onnx"));
}

static void tensor_proto_typed_fields(void **state) {
    (void)state;
    /* int64_data packed: dims [3], data_type INT64, int64_data [1, -2, 300] */
    unsigned char t[64], packed[32];
    size_t pn = 0;
    pn += put_varint(packed + pn, 1);
    pn += put_varint(packed + pn, (uint64_t)-2);
    pn += put_varint(packed + pn, 300);
    size_t tn = 0;
    tn += put_varint(t + tn, 1 << 3);
    tn += put_varint(t + tn, 3);
    tn += put_varint(t + tn, 2 << 3);
    tn += put_varint(t + tn, 7);
    tn += put_len(t + tn, 7, packed, pn);
    it_tensor x;
    it_err e = {{0}};
    assert_int_equal(it_onnx_parse_tensor(t, tn, &x, &e), 0);
    assert_int_equal(x.dtype, IT_I64);
    assert_int_equal(((int64_t *)x.data)[0], 1);
    assert_int_equal(((int64_t *)x.data)[1], -2);
    assert_int_equal(((int64_t *)x.data)[2], 300);
    it_tensor_release(&x);
    /* too many values for the shape */
    pn += put_varint(packed + pn, 5);
    tn = 0;
    tn += put_varint(t + tn, 1 << 3);
    tn += put_varint(t + tn, 3);
    tn += put_varint(t + tn, 2 << 3);
    tn += put_varint(t + tn, 7);
    tn += put_len(t + tn, 7, packed, pn);
    assert_int_not_equal(it_onnx_parse_tensor(t, tn, &x, &e), 0);
    assert_non_null(strstr(e.msg, "has 4 values, its shape needs 3"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loads_real_model),         cmocka_unit_test(every_truncation_fails),
        cmocka_unit_test(wrong_wire_type),          cmocka_unit_test(length_past_end),
        cmocka_unit_test(absurd_dims),              cmocka_unit_test(raw_data_size_mismatch),
        cmocka_unit_test(unknown_operator_is_named), cmocka_unit_test(missing_file),
        cmocka_unit_test(tensor_proto_typed_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
