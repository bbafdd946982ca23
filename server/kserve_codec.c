/*
 * kserve_codec.c: decoding of v2 infer requests (JSON tensors, flat or nested,
 * and the binary tensor data extension) and encoding of infer responses (see
 * kserve_codec.h). Element data is little-endian, as the binary extension
 * specifies and as every host ingot targets is.
 */
#include "kserve_codec.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define KV_MAX_DEPTH 32

static const struct {
    const char *name;
    int dtype;
} k_types[] = {
    {"BOOL", INGOT_DTYPE_BOOL}, {"UINT8", INGOT_DTYPE_U8},   {"UINT16", INGOT_DTYPE_U16}, {"UINT32", INGOT_DTYPE_U32},
    {"UINT64", INGOT_DTYPE_U64}, {"INT8", INGOT_DTYPE_I8},    {"INT16", INGOT_DTYPE_I16},  {"INT32", INGOT_DTYPE_I32},
    {"INT64", INGOT_DTYPE_I64}, {"FP16", INGOT_DTYPE_F16},   {"FP32", INGOT_DTYPE_F32},   {"FP64", INGOT_DTYPE_F64},
    {"BF16", INGOT_DTYPE_BF16}, {"BYTES", INGOT_DTYPE_STRING},
};

const char *kserve_dtype_name(int dtype) {
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
        if (k_types[i].dtype == dtype) return k_types[i].name;
    return NULL;
}

int kserve_dtype_from_name(const char *name) {
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
        if (!strcmp(k_types[i].name, name)) return k_types[i].dtype;
    return 0;
}

static size_t elem_size(int dtype) {
    switch (dtype) {
    case INGOT_DTYPE_BOOL: case INGOT_DTYPE_U8: case INGOT_DTYPE_I8: return 1;
    case INGOT_DTYPE_U16: case INGOT_DTYPE_I16: case INGOT_DTYPE_F16: case INGOT_DTYPE_BF16: return 2;
    case INGOT_DTYPE_U32: case INGOT_DTYPE_I32: case INGOT_DTYPE_F32: return 4;
    case INGOT_DTYPE_U64: case INGOT_DTYPE_I64: case INGOT_DTYPE_F64: return 8;
    case INGOT_DTYPE_STRING: return sizeof(char *);
    default: return 0;
    }
}

/* ---- half precision ---------------------------------------------------- */

static uint16_t f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    int32_t exp = (int32_t)((x >> 23) & 0xFF);
    uint32_t man = x & 0x7FFFFFu;
    if (exp == 0xFF) return (uint16_t)(sign | 0x7C00u | (man ? 0x200u : 0));
    int32_t e = exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7C00u);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t h = sign | ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
    return (uint16_t)h;
}

static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1F, man = h & 0x3FFu, x;
    if (exp == 0) {
        if (man == 0) x = sign;
        else {
            int e = -1;
            do e++, man <<= 1; while (!(man & 0x400u));
            x = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3FFu) << 13);
        }
    } else if (exp == 31) {
        x = sign | 0x7F800000u | (man << 13);
    } else {
        x = sign | ((exp - 15 + 127) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}

static uint16_t f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((x >> 16) | 0x40);
    x += 0x7FFFu + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

static float bf16_to_f32(uint16_t h) {
    uint32_t x = (uint32_t)h << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* ---- decoding ---------------------------------------------------------- */

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

void kv_tensor_clear(kv_tensor *t) {
    if (!t) return;
    if (t->dtype == INGOT_DTYPE_STRING && t->data) {
        char **s = t->data;
        for (int64_t i = 0; i < t->count; i++) free(s[i]);
    }
    free(t->data);
    free(t->name);
    memset(t, 0, sizeof *t);
}

void kv_request_free(kv_request *r) {
    if (!r) return;
    for (int i = 0; i < r->ninputs; i++) kv_tensor_clear(&r->inputs[i]);
    free(r->inputs);
    for (int i = 0; i < r->noutputs; i++) free(r->outputs[i].name);
    free(r->outputs);
    free(r->id);
    free(r);
}

/* Store one JSON leaf as element i of t. */
static int store_leaf(kv_tensor *t, int64_t i, json_t *v, char *err, size_t errlen) {
    uint8_t *d = t->data;
    if (t->dtype == INGOT_DTYPE_STRING) {
        if (!json_is_string(v)) return fail(err, errlen, "input '%s': BYTES element %lld is not a string", t->name, (long long)i);
        size_t n = json_string_length(v);
        char *s = malloc(n + 1);
        if (!s) return fail(err, errlen, "out of memory");
        memcpy(s, json_string_value(v), n);
        s[n] = 0;
        ((char **)t->data)[i] = s;
        return 0;
    }
    if (t->dtype == INGOT_DTYPE_BOOL) {
        int b;
        if (json_is_boolean(v)) b = json_is_true(v);
        else if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1)) b = (int)json_integer_value(v);
        else return fail(err, errlen, "input '%s': BOOL element %lld is not a boolean", t->name, (long long)i);
        d[i] = (uint8_t)b;
        return 0;
    }
    int is_float = t->dtype == INGOT_DTYPE_F32 || t->dtype == INGOT_DTYPE_F64 || t->dtype == INGOT_DTYPE_F16 ||
                   t->dtype == INGOT_DTYPE_BF16;
    if (is_float) {
        double x;
        if (json_is_integer(v)) x = (double)json_integer_value(v);
        else if (json_is_real(v)) x = json_real_value(v);
        else return fail(err, errlen, "input '%s': element %lld is not a number", t->name, (long long)i);
        switch (t->dtype) {
        case INGOT_DTYPE_F32: { float f = (float)x; memcpy(d + 4 * i, &f, 4); break; }
        case INGOT_DTYPE_F64: memcpy(d + 8 * i, &x, 8); break;
        case INGOT_DTYPE_F16: { uint16_t h = f32_to_f16((float)x); memcpy(d + 2 * i, &h, 2); break; }
        default: { uint16_t h = f32_to_bf16((float)x); memcpy(d + 2 * i, &h, 2); break; }
        }
        return 0;
    }
    long long x;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
               fabs(json_real_value(v)) < 9.0e15) {
        x = (long long)json_real_value(v);
    } else {
        return fail(err, errlen, "input '%s': element %lld is not an integer", t->name, (long long)i);
    }
    long long lo, hi;
    switch (t->dtype) {
    case INGOT_DTYPE_U8: lo = 0, hi = 255; break;
    case INGOT_DTYPE_I8: lo = -128, hi = 127; break;
    case INGOT_DTYPE_U16: lo = 0, hi = 65535; break;
    case INGOT_DTYPE_I16: lo = -32768, hi = 32767; break;
    case INGOT_DTYPE_U32: lo = 0, hi = 4294967295LL; break;
    case INGOT_DTYPE_I32: lo = -2147483647LL - 1, hi = 2147483647LL; break;
    case INGOT_DTYPE_U64: lo = 0, hi = 9223372036854775807LL; break;
    default: lo = -9223372036854775807LL - 1, hi = 9223372036854775807LL; break;
    }
    if (x < lo || x > hi)
        return fail(err, errlen, "input '%s': element %lld (%lld) is out of range for %s", t->name, (long long)i, x,
                    kserve_dtype_name(t->dtype));
    switch (elem_size(t->dtype)) {
    case 1: { int8_t y = (int8_t)x; memcpy(d + i, &y, 1); break; }
    case 2: { int16_t y = (int16_t)x; memcpy(d + 2 * i, &y, 2); break; }
    case 4: { int32_t y = (int32_t)x; memcpy(d + 4 * i, &y, 4); break; }
    default: { int64_t y = (int64_t)x; memcpy(d + 8 * i, &y, 8); break; }
    }
    return 0;
}

static int flatten(kv_tensor *t, json_t *v, int64_t *idx, int depth, char *err, size_t errlen) {
    if (json_is_array(v)) {
        if (depth >= KV_MAX_DEPTH) return fail(err, errlen, "input '%s': data nested too deeply", t->name);
        size_t n = json_array_size(v);
        for (size_t k = 0; k < n; k++)
            if (flatten(t, json_array_get(v, k), idx, depth + 1, err, errlen)) return -1;
        return 0;
    }
    if (*idx >= t->count)
        return fail(err, errlen, "input '%s': data has more elements than its shape's %lld", t->name,
                    (long long)t->count);
    if (store_leaf(t, *idx, v, err, errlen)) return -1;
    (*idx)++;
    return 0;
}

/* Decode binary BYTES: count elements, each a 4-byte little-endian length and its bytes. */
static int bytes_from_binary(kv_tensor *t, const uint8_t *p, size_t n, char *err, size_t errlen) {
    char **s = t->data;
    size_t off = 0;
    for (int64_t i = 0; i < t->count; i++) {
        if (n - off < 4) return fail(err, errlen, "input '%s': binary BYTES data ends inside element %lld", t->name, (long long)i);
        uint32_t k = (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 | (uint32_t)p[off + 2] << 16 | (uint32_t)p[off + 3] << 24;
        off += 4;
        if (k > n - off) return fail(err, errlen, "input '%s': binary BYTES element %lld overruns its data", t->name, (long long)i);
        s[i] = malloc((size_t)k + 1);
        if (!s[i]) return fail(err, errlen, "out of memory");
        memcpy(s[i], p + off, k);
        s[i][k] = 0;
        off += k;
    }
    if (off != n)
        return fail(err, errlen, "input '%s': binary_data_size %zu does not match its %lld BYTES elements", t->name, n,
                    (long long)t->count);
    return 0;
}

static int parse_input(json_t *ji, kv_tensor *t, const uint8_t *bin, size_t binlen, size_t *bincur, size_t json_len,
                       int have_binary, char *err, size_t errlen) {
    if (!json_is_object(ji)) return fail(err, errlen, "each of 'inputs' must be an object");
    json_t *jn = json_object_get(ji, "name"), *jd = json_object_get(ji, "datatype"),
           *js = json_object_get(ji, "shape"), *jp = json_object_get(ji, "parameters"),
           *jdata = json_object_get(ji, "data");
    if (!json_is_string(jn)) return fail(err, errlen, "an input lacks a string 'name'");
    t->name = strdup(json_string_value(jn));
    if (!t->name) return fail(err, errlen, "out of memory");
    if (!json_is_string(jd)) return fail(err, errlen, "input '%s' lacks a string 'datatype'", t->name);
    t->dtype = kserve_dtype_from_name(json_string_value(jd));
    if (!t->dtype) return fail(err, errlen, "input '%s': unknown datatype '%.32s'", t->name, json_string_value(jd));
    if (!json_is_array(js)) return fail(err, errlen, "input '%s' lacks a 'shape' array", t->name);
    if (json_array_size(js) > INGOT_MAX_DIMS)
        return fail(err, errlen, "input '%s': rank %zu exceeds %d", t->name, json_array_size(js), INGOT_MAX_DIMS);
    t->ndim = (int)json_array_size(js);
    int64_t count = 1;
    for (int d = 0; d < t->ndim; d++) {
        json_t *v = json_array_get(js, (size_t)d);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return fail(err, errlen, "input '%s': shape[%d] is not a non-negative integer", t->name, d);
        int64_t dim = (int64_t)json_integer_value(v);
        t->dims[d] = dim;
        if (dim > 0 && count > (INT64_C(1) << 40) / dim)
            return fail(err, errlen, "input '%s': shape has too many elements", t->name);
        count *= dim;
    }
    t->count = count;
    size_t es = elem_size(t->dtype);
    json_t *jsize = jp ? json_object_get(jp, "binary_data_size") : NULL;
    if (jp && !json_is_object(jp)) return fail(err, errlen, "input '%s': 'parameters' must be an object", t->name);
    if (jsize) {
        if (!have_binary)
            return fail(err, errlen, "input '%s' has binary_data_size but the request has no Inference-Header-Content-Length",
                        t->name);
        if (!json_is_integer(jsize) || json_integer_value(jsize) < 0)
            return fail(err, errlen, "input '%s': binary_data_size must be a non-negative integer", t->name);
        if (jdata) return fail(err, errlen, "input '%s' has both 'data' and binary_data_size", t->name);
        unsigned long long n = (unsigned long long)json_integer_value(jsize);
        if (n > binlen - *bincur)
            return fail(err, errlen, "input '%s': binary_data_size %llu exceeds the %zu bytes left in the body", t->name, n,
                        binlen - *bincur);
        const uint8_t *p = bin + *bincur;
        *bincur += (size_t)n;
        if (t->dtype == INGOT_DTYPE_STRING) {
            if ((unsigned long long)count > n / 4)
                return fail(err, errlen, "input '%s': binary_data_size %llu too small for %lld BYTES elements", t->name, n,
                            (long long)count);
            t->nbytes = (size_t)count * es;
            t->data = calloc(t->nbytes ? t->nbytes : 1, 1);
            if (!t->data) return fail(err, errlen, "out of memory");
            return bytes_from_binary(t, p, (size_t)n, err, errlen);
        }
        if ((unsigned long long)count * es != n)
            return fail(err, errlen, "input '%s': binary_data_size %llu does not match shape and datatype (%lld bytes)",
                        t->name, n, (long long)count * (long long)es);
        t->nbytes = (size_t)n;
        t->data = malloc(t->nbytes ? t->nbytes : 1);
        if (!t->data) return fail(err, errlen, "out of memory");
        memcpy(t->data, p, t->nbytes);
        return 0;
    }
    if (!jdata) return fail(err, errlen, "input '%s' has neither 'data' nor binary_data_size", t->name);
    if (!json_is_array(jdata)) return fail(err, errlen, "input '%s': 'data' must be an array", t->name);
    /* Each element takes at least one byte of JSON: bounds the allocation. */
    if ((uint64_t)count > (uint64_t)json_len)
        return fail(err, errlen, "input '%s': shape has %lld elements, more than 'data' can hold", t->name, (long long)count);
    t->nbytes = (size_t)count * es;
    t->data = calloc(t->nbytes ? t->nbytes : 1, 1);
    if (!t->data) return fail(err, errlen, "out of memory");
    int64_t idx = 0;
    if (flatten(t, jdata, &idx, 0, err, errlen)) return -1;
    if (idx != count)
        return fail(err, errlen, "input '%s': 'data' has %lld elements but shape says %lld", t->name, (long long)idx,
                    (long long)count);
    return 0;
}

int kserve_parse_infer(const uint8_t *body, size_t len, const char *header_len_hdr, kv_request **out, char *err,
                       size_t errlen) {
    *out = NULL;
    size_t json_len = len;
    int have_binary = 0;
    if (header_len_hdr) {
        const char *p = header_len_hdr;
        while (*p == ' ') p++;
        if (!*p) return fail(err, errlen, "Inference-Header-Content-Length is empty");
        unsigned long long v = 0;
        for (; *p >= '0' && *p <= '9'; p++)
            if (v <= (unsigned long long)len) v = v * 10 + (unsigned)(*p - '0'); /* past len it only grows */
        while (*p == ' ') p++;
        if (*p) return fail(err, errlen, "Inference-Header-Content-Length is not a number");
        if (v > len) return fail(err, errlen, "Inference-Header-Content-Length %llu exceeds the body's %zu bytes", v, len);
        json_len = (size_t)v;
        have_binary = 1;
    }
    if (json_len == 0) return fail(err, errlen, "malformed JSON: empty body");
    json_error_t je;
    json_t *root = json_loadb((const char *)body, json_len, 0, &je);
    if (!root) return fail(err, errlen, "malformed JSON: %s (byte %d of %zu)", je.text, je.position, json_len);
    kv_request *r = calloc(1, sizeof *r);
    int rc = -1;
    if (!r) {
        fail(err, errlen, "out of memory");
        goto done;
    }
    if (!json_is_object(root)) {
        fail(err, errlen, "the request must be a JSON object");
        goto done;
    }
    json_t *jid = json_object_get(root, "id");
    if (jid) {
        if (!json_is_string(jid)) {
            fail(err, errlen, "'id' must be a string");
            goto done;
        }
        r->id = strdup(json_string_value(jid));
        if (!r->id) goto oom;
    }
    json_t *jparams = json_object_get(root, "parameters");
    if (jparams) {
        if (!json_is_object(jparams)) {
            fail(err, errlen, "'parameters' must be an object");
            goto done;
        }
        json_t *b = json_object_get(jparams, "binary_data_output");
        if (b && !json_is_boolean(b)) {
            fail(err, errlen, "parameter binary_data_output must be a boolean");
            goto done;
        }
        r->binary_output = b && json_is_true(b);
    }
    json_t *jin = json_object_get(root, "inputs");
    if (!json_is_array(jin)) {
        fail(err, errlen, "the request lacks an 'inputs' array");
        goto done;
    }
    size_t nin = json_array_size(jin);
    if (nin > KV_MAX_TENSORS) {
        fail(err, errlen, "too many inputs (%zu)", nin);
        goto done;
    }
    r->inputs = calloc(nin ? nin : 1, sizeof *r->inputs);
    if (!r->inputs) goto oom;
    size_t bincur = 0;
    const uint8_t *bin = body + json_len;
    size_t binlen = len - json_len;
    for (size_t i = 0; i < nin; i++) {
        r->ninputs = (int)i + 1;
        if (parse_input(json_array_get(jin, i), &r->inputs[i], bin, binlen, &bincur, json_len, have_binary, err,
                        errlen))
            goto done;
        for (size_t k = 0; k < i; k++)
            if (!strcmp(r->inputs[k].name, r->inputs[i].name)) {
                fail(err, errlen, "input '%s' is given twice", r->inputs[i].name);
                goto done;
            }
    }
    if (bincur != binlen) {
        fail(err, errlen, "%zu bytes of binary data after the JSON header belong to no input", binlen - bincur);
        goto done;
    }
    json_t *jout = json_object_get(root, "outputs");
    if (jout) {
        if (!json_is_array(jout) || json_array_size(jout) > KV_MAX_TENSORS) {
            fail(err, errlen, "'outputs' must be an array of at most %d objects", KV_MAX_TENSORS);
            goto done;
        }
        size_t nout = json_array_size(jout);
        r->outputs = calloc(nout ? nout : 1, sizeof *r->outputs);
        if (!r->outputs) goto oom;
        for (size_t i = 0; i < nout; i++) {
            json_t *jo = json_array_get(jout, i);
            json_t *jn = json_is_object(jo) ? json_object_get(jo, "name") : NULL;
            if (!json_is_string(jn)) {
                fail(err, errlen, "each of 'outputs' must be an object with a string 'name'");
                goto done;
            }
            r->outputs[i].name = strdup(json_string_value(jn));
            r->noutputs = (int)i + 1;
            if (!r->outputs[i].name) goto oom;
            r->outputs[i].binary = -1;
            json_t *jp = json_object_get(jo, "parameters");
            if (jp && !json_is_object(jp)) {
                fail(err, errlen, "output '%s': 'parameters' must be an object", r->outputs[i].name);
                goto done;
            }
            json_t *b = jp ? json_object_get(jp, "binary_data") : NULL;
            if (b) {
                if (!json_is_boolean(b)) {
                    fail(err, errlen, "output '%s': binary_data must be a boolean", r->outputs[i].name);
                    goto done;
                }
                r->outputs[i].binary = json_is_true(b);
            }
            json_t *c = jp ? json_object_get(jp, "classification") : NULL;
            if (c && !(json_is_integer(c) && json_integer_value(c) == 0)) {
                fail(err, errlen, "output '%s': the classification extension is not supported", r->outputs[i].name);
                goto done;
            }
            if (jp && json_object_get(jp, "shared_memory_region")) {
                fail(err, errlen, "output '%s': the shared-memory extension is not supported", r->outputs[i].name);
                goto done;
            }
            for (size_t k = 0; k < i; k++)
                if (!strcmp(r->outputs[k].name, r->outputs[i].name)) {
                    fail(err, errlen, "output '%s' is requested twice", r->outputs[i].name);
                    goto done;
                }
        }
    }
    rc = 0;
    goto done;
oom:
    fail(err, errlen, "out of memory");
done:
    json_decref(root);
    if (rc == 0) *out = r;
    else kv_request_free(r);
    return rc;
}

/* ---- encoding ---------------------------------------------------------- */

static json_t *json_float(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static json_t *tensor_json_data(const kv_tensor *t) {
    json_t *a = json_array();
    if (!a) return NULL;
    const uint8_t *d = t->data;
    for (int64_t i = 0; i < t->count; i++) {
        json_t *v;
        switch (t->dtype) {
        case INGOT_DTYPE_BOOL: v = json_boolean(d[i] != 0); break;
        case INGOT_DTYPE_U8: v = json_integer(d[i]); break;
        case INGOT_DTYPE_I8: v = json_integer((int8_t)d[i]); break;
        case INGOT_DTYPE_U16: { uint16_t x; memcpy(&x, d + 2 * i, 2); v = json_integer(x); break; }
        case INGOT_DTYPE_I16: { int16_t x; memcpy(&x, d + 2 * i, 2); v = json_integer(x); break; }
        case INGOT_DTYPE_U32: { uint32_t x; memcpy(&x, d + 4 * i, 4); v = json_integer(x); break; }
        case INGOT_DTYPE_I32: { int32_t x; memcpy(&x, d + 4 * i, 4); v = json_integer(x); break; }
        case INGOT_DTYPE_U64: { uint64_t x; memcpy(&x, d + 8 * i, 8); v = x > (uint64_t)INT64_MAX ? json_real((double)x) : json_integer((json_int_t)x); break; }
        case INGOT_DTYPE_I64: { int64_t x; memcpy(&x, d + 8 * i, 8); v = json_integer(x); break; }
        case INGOT_DTYPE_F16: { uint16_t x; memcpy(&x, d + 2 * i, 2); v = json_float(f16_to_f32(x)); break; }
        case INGOT_DTYPE_BF16: { uint16_t x; memcpy(&x, d + 2 * i, 2); v = json_float(bf16_to_f32(x)); break; }
        case INGOT_DTYPE_F32: { float x; memcpy(&x, d + 4 * i, 4); v = json_float(x); break; }
        case INGOT_DTYPE_F64: { double x; memcpy(&x, d + 8 * i, 8); v = json_float(x); break; }
        case INGOT_DTYPE_STRING: {
            const char *s = ((char *const *)t->data)[i];
            v = json_string(s ? s : "");
            if (!v) v = json_null(); /* not UTF-8: only the binary form can carry it */
            break;
        }
        default: v = json_null(); break;
        }
        if (!v || json_array_append_new(a, v)) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static size_t binary_size(const kv_tensor *t) {
    if (t->dtype != INGOT_DTYPE_STRING) return t->nbytes;
    size_t n = 0;
    for (int64_t i = 0; i < t->count; i++) {
        const char *s = ((char *const *)t->data)[i];
        n += 4 + (s ? strlen(s) : 0);
    }
    return n;
}

static void write_binary(const kv_tensor *t, uint8_t *p) {
    if (t->dtype != INGOT_DTYPE_STRING) {
        if (t->nbytes) memcpy(p, t->data, t->nbytes);
        return;
    }
    for (int64_t i = 0; i < t->count; i++) {
        const char *s = ((char *const *)t->data)[i];
        uint32_t k = s ? (uint32_t)strlen(s) : 0;
        p[0] = (uint8_t)k, p[1] = (uint8_t)(k >> 8), p[2] = (uint8_t)(k >> 16), p[3] = (uint8_t)(k >> 24);
        if (k) memcpy(p + 4, s, k);
        p += 4 + k;
    }
}

int kserve_encode_infer(const char *model, const char *version, const char *id, const kv_tensor *outs, int n,
                        char **body, size_t *len, size_t *header_len) {
    *body = NULL, *len = 0, *header_len = 0;
    json_t *root = json_object(), *arr = json_array();
    int precision = 9; /* float32 round-trips in 9 digits; float64 needs 17 */
    size_t binbytes = 0;
    int any_binary = 0;
    if (!root || !arr) goto fail;
    json_object_set_new(root, "model_name", json_string(model));
    if (version) json_object_set_new(root, "model_version", json_string(version));
    if (id) {
        json_t *j = json_string(id);
        if (j) json_object_set_new(root, "id", j);
    }
    for (int i = 0; i < n; i++) {
        const kv_tensor *t = &outs[i];
        json_t *o = json_object(), *shape = json_array();
        if (!o || !shape) {
            json_decref(o), json_decref(shape);
            goto fail;
        }
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->dims[d]));
        json_object_set_new(o, "name", json_string(t->name));
        json_object_set_new(o, "datatype", json_string(kserve_dtype_name(t->dtype) ? kserve_dtype_name(t->dtype) : "?"));
        json_object_set_new(o, "shape", shape);
        if (t->dtype == INGOT_DTYPE_F64) precision = 17;
        if (t->binary) {
            size_t k = binary_size(t);
            binbytes += k;
            any_binary = 1;
            json_object_set_new(o, "parameters", json_pack("{s:I}", "binary_data_size", (json_int_t)k));
        } else {
            json_t *data = tensor_json_data(t);
            if (!data) {
                json_decref(o);
                goto fail;
            }
            json_object_set_new(o, "data", data);
        }
        if (json_array_append_new(arr, o)) goto fail;
    }
    json_object_set_new(root, "outputs", arr);
    arr = NULL;
    char *js = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(precision));
    json_decref(root);
    if (!js) return -1;
    size_t jl = strlen(js);
    if (!any_binary) {
        *body = js, *len = jl;
        return 0;
    }
    char *b = malloc(jl + binbytes + 1);
    if (!b) {
        free(js);
        return -1;
    }
    memcpy(b, js, jl);
    free(js);
    uint8_t *p = (uint8_t *)b + jl;
    for (int i = 0; i < n; i++)
        if (outs[i].binary) {
            write_binary(&outs[i], p);
            p += binary_size(&outs[i]);
        }
    *body = b, *len = jl + binbytes, *header_len = jl;
    return 0;
fail:
    json_decref(arr);
    json_decref(root);
    return -1;
}
