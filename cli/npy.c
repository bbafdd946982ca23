/*
 * npy.c: numpy .npy reader and writer. The header is a Python dict literal;
 * only the three keys numpy writes are parsed (descr, fortran_order, shape).
 */
#include "npy.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct { const char *descr; int dtype; } types[] = {
    {"f4", INGOT_DTYPE_F32}, {"f8", INGOT_DTYPE_F64}, {"f2", INGOT_DTYPE_F16}, {"i1", INGOT_DTYPE_I8},
    {"u1", INGOT_DTYPE_U8}, {"i2", INGOT_DTYPE_I16}, {"u2", INGOT_DTYPE_U16}, {"i4", INGOT_DTYPE_I32},
    {"u4", INGOT_DTYPE_U32}, {"i8", INGOT_DTYPE_I64}, {"u8", INGOT_DTYPE_U64}, {"b1", INGOT_DTYPE_BOOL},
};

static int fail(char *err, size_t n, const char *path, const char *msg) {
    snprintf(err, n, "%s: %s", path, msg);
    return -1;
}

int npy_load(const char *path, ingot_tensor **out, char *err, size_t errlen) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char pre[12];
    char *hdr = NULL;
    int rc = -1;
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6)) { fail(err, errlen, path, "not a .npy file (bad magic)"); goto done; }
    size_t hlen;
    if (pre[6] == 1) hlen = pre[8] | (size_t)pre[9] << 8;
    else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) { fail(err, errlen, path, "truncated header"); goto done; }
        hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    } else { fail(err, errlen, path, "unsupported .npy version"); goto done; }
    if (hlen > 1 << 20) { fail(err, errlen, path, "header too large"); goto done; }
    hdr = malloc(hlen + 1);
    if (!hdr || fread(hdr, 1, hlen, f) != hlen) { fail(err, errlen, path, "truncated header"); goto done; }
    hdr[hlen] = 0;
    char *d = strstr(hdr, "'descr'");
    if (!d) { fail(err, errlen, path, "header has no descr"); goto done; }
    d = strchr(d + 7, '\'');
    if (!d) { fail(err, errlen, path, "bad descr"); goto done; }
    d++;
    char order = d[0];
    if (order == '>' ) { fail(err, errlen, path, "big-endian arrays are not supported"); goto done; }
    if (order == '<' || order == '|' || order == '=') d++;
    int dtype = 0;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strncmp(d, types[i].descr, 2) && d[2] == '\'') dtype = types[i].dtype;
    if (!dtype) { fail(err, errlen, path, "unsupported dtype (use float32/64/16, int8-64, uint8-64 or bool)"); goto done; }
    char *fo = strstr(hdr, "'fortran_order'");
    if (fo && strstr(fo, "True") && strstr(fo, "True") < strchr(fo, ',') + 1) { fail(err, errlen, path, "Fortran-order arrays are not supported"); goto done; }
    char *s = strstr(hdr, "'shape'");
    if (!s || !(s = strchr(s, '('))) { fail(err, errlen, path, "header has no shape"); goto done; }
    int64_t dims[INGOT_MAX_DIMS];
    int nd = 0;
    s++;
    while (*s && *s != ')') {
        while (*s == ' ' || *s == ',') s++;
        if (*s == ')') break;
        char *e;
        long long v = strtoll(s, &e, 10);
        if (e == s || v < 0) { fail(err, errlen, path, "bad shape"); goto done; }
        if (nd >= INGOT_MAX_DIMS) { fail(err, errlen, path, "too many dims"); goto done; }
        dims[nd++] = v;
        s = e;
    }
    ingot_tensor *t;
    if (ingot_tensor_create(dtype, nd, dims, &t)) { fail(err, errlen, path, "tensor too large"); goto done; }
    size_t nb = ingot_tensor_nbytes(t);
    if (fread(ingot_tensor_data(t), 1, nb, f) != nb) {
        ingot_tensor_free(t);
        fail(err, errlen, path, "file is shorter than its shape says");
        goto done;
    }
    *out = t;
    rc = 0;
done:
    free(hdr);
    fclose(f);
    return rc;
}

int npy_save(const char *path, const ingot_tensor *t, char *err, size_t errlen) {
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (types[i].dtype == ingot_tensor_dtype(t)) descr = types[i].descr;
    if (!descr) {
        snprintf(err, errlen, "%s: cannot write %s tensors as .npy", path, ingot_dtype_name(ingot_tensor_dtype(t)));
        return -1;
    }
    char shape[512] = "";
    size_t o = 0;
    int nd = ingot_tensor_ndim(t);
    const int64_t *dims = ingot_tensor_dims(t);
    for (int i = 0; i < nd; i++) o += (size_t)snprintf(shape + o, sizeof shape - o, "%lld,%s", (long long)dims[i], i + 1 < nd ? " " : "");
    if (nd > 1 && o) shape[o - 1] = 0; /* numpy writes (2, 3) and (3,) */
    char hdr[1024];
    int hl = snprintf(hdr, sizeof hdr, "{'descr': '%c%s', 'fortran_order': False, 'shape': (%s), }",
                      descr[0] == 'b' || descr[1] == '1' ? '|' : '<', descr, shape);
    int total = 10 + hl + 1;
    int pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    unsigned short hlen = (unsigned short)(hl + pad + 1);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
    fwrite(pre, 1, 10, f);
    fwrite(hdr, 1, (size_t)hl, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    size_t nb = ingot_tensor_nbytes(t);
    int ok = fwrite(ingot_tensor_data(t), 1, nb, f) == nb;
    if (fclose(f) || !ok) {
        snprintf(err, errlen, "writing %s failed", path);
        return -1;
    }
    return 0;
}
