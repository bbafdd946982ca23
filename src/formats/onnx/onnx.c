/*
 * onnx.c: ModelProto / GraphProto / NodeProto / TensorProto decoding into the
 * graph IR (field numbers from onnx.proto, IR versions 3 to 13).
 */
#define _GNU_SOURCE
#include "onnx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int it_map_file(const char *path, void **addr, size_t *len, it_err *e) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return it_fail(e, INGOT_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return it_fail(e, INGOT_ERR_IO, "'%s' is not a regular file", path);
    }
    *len = (size_t)st.st_size;
    if (*len == 0) {
        close(fd);
        *addr = NULL;
        return 0;
    }
    void *p = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return it_fail(e, INGOT_ERR_IO, "cannot map '%s': %s", path, strerror(errno));
    *addr = p;
    return 0;
}

void it_unmap(void *addr, size_t len) {
    if (addr && len) munmap(addr, len);
}

typedef struct ctx {
    it_onnx_model *m;
    it_err *e;
    int depth;
} ctx;

static const char *dupstr(it_graph *g, const it_pb_field *f) {
    return it_arena_strdup(&g->arena, (const char *)f->data, f->len);
}

/* ---- repeated numeric fields (packed or not) ---- */
typedef struct rep {
    const uint8_t *packed[8]; /* up to 8 packed runs (normally one) */
    size_t packed_len[8];
    int n_packed;
    int64_t count;
    int wire; /* element wire type */
} rep;

static int count_varints(const uint8_t *p, size_t len, int64_t *n) {
    const uint8_t *end = p + len;
    int64_t c = 0;
    while (p < end) {
        uint64_t v;
        if (it_pb_varint(&p, end, &v)) return -1;
        c++;
    }
    *n = c;
    return 0;
}

/* ---- tensors ---- */
typedef struct tensor_src {
    int64_t dims[IT_MAX_DIMS + 1];
    int ndim;
    int dtype;
    const char *name;
    const uint8_t *raw; size_t raw_len; int has_raw;
    it_pb_field typed[4]; int n_typed_runs; /* kept as a list of fields for the typed data */
    int typed_field;
    const uint8_t *msg; size_t msg_len; /* whole TensorProto for a second pass */
    int external;
    const char *location; int64_t ext_offset, ext_length;
    size_t offset;
} tensor_src;

static int read_tensor_header(it_pb *r, tensor_src *ts, it_graph *g, it_err *e) {
    it_pb_field f;
    int rc;
    memset(ts, 0, sizeof *ts);
    ts->ext_length = -1;
    ts->msg = r->p;
    ts->msg_len = (size_t)(r->end - r->p);
    ts->offset = it_pb_off(r, r->p);
    while ((rc = it_pb_next(r, &f, e)) > 0) {
        switch (f.num) {
        case 1: /* dims: packed or not */
            if (f.wire == PB_LEN) {
                const uint8_t *p = f.data, *end = f.data + f.len;
                while (p < end) {
                    uint64_t v;
                    if (it_pb_varint(&p, end, &v)) return it_fail(e, INGOT_ERR_FORMAT, "bad packed dims at byte %zu", f.offset);
                    if (ts->ndim >= IT_MAX_DIMS) return it_fail(e, INGOT_ERR_LIMIT, "tensor at byte %zu has more than %d dims", f.offset, IT_MAX_DIMS);
                    ts->dims[ts->ndim++] = (int64_t)v;
                }
            } else if (f.wire == PB_VARINT) {
                if (ts->ndim >= IT_MAX_DIMS) return it_fail(e, INGOT_ERR_LIMIT, "tensor at byte %zu has more than %d dims", f.offset, IT_MAX_DIMS);
                ts->dims[ts->ndim++] = (int64_t)f.v;
            } else return it_fail(e, INGOT_ERR_FORMAT, "TensorProto.dims has wire type %d at byte %zu", f.wire, f.offset);
            break;
        case 2:
            if (f.wire != PB_VARINT) return it_fail(e, INGOT_ERR_FORMAT, "TensorProto.data_type has wire type %d at byte %zu", f.wire, f.offset);
            ts->dtype = (int)f.v;
            break;
        case 8:
            if (f.wire != PB_LEN) return it_fail(e, INGOT_ERR_FORMAT, "TensorProto.name has wire type %d at byte %zu", f.wire, f.offset);
            ts->name = g ? dupstr(g, &f) : NULL;
            break;
        case 9:
            if (f.wire != PB_LEN) return it_fail(e, INGOT_ERR_FORMAT, "TensorProto.raw_data has wire type %d at byte %zu", f.wire, f.offset);
            ts->raw = f.data;
            ts->raw_len = f.len;
            ts->has_raw = 1;
            break;
        case 4: case 5: case 6: case 7: case 10: case 11:
            ts->typed_field = (int)f.num;
            break;
        case 13: { /* external_data: StringStringEntryProto key=1 value=2 */
            if (f.wire != PB_LEN) return it_fail(e, INGOT_ERR_FORMAT, "TensorProto.external_data has wire type %d at byte %zu", f.wire, f.offset);
            it_pb s = it_pb_sub(r, &f);
            it_pb_field kf;
            const uint8_t *k = NULL, *v = NULL;
            size_t kl = 0, vl = 0;
            while ((rc = it_pb_next(&s, &kf, e)) > 0) {
                if (kf.wire != PB_LEN) continue;
                if (kf.num == 1) k = kf.data, kl = kf.len;
                if (kf.num == 2) v = kf.data, vl = kf.len;
            }
            if (rc < 0) return rc;
            if (!k || !v) break;
            char vb[32];
            if (kl == 8 && !memcmp(k, "location", 8)) ts->location = g ? it_arena_strdup(&g->arena, (const char *)v, vl) : NULL;
            else if ((kl == 6 && !memcmp(k, "offset", 6)) || (kl == 6 && !memcmp(k, "length", 6))) {
                if (vl >= sizeof vb) return it_fail(e, INGOT_ERR_FORMAT, "external data %.*s too long at byte %zu", (int)kl, k, f.offset);
                memcpy(vb, v, vl);
                vb[vl] = 0;
                char *endp;
                long long x = strtoll(vb, &endp, 10);
                if (*endp || x < 0) return it_fail(e, INGOT_ERR_FORMAT, "external data %.*s='%s' is not a count at byte %zu", (int)kl, k, vb, f.offset);
                if (k[0] == 'o') ts->ext_offset = x; else ts->ext_length = x;
            }
            break;
        }
        case 14:
            if (f.wire == PB_VARINT) ts->external = f.v == 1;
            break;
        default: break;
        }
    }
    return rc;
}

/* Decode a repeated numeric field `num` from the tensor message into dst of dtype. */
static int decode_typed(const tensor_src *ts, int64_t n, void *dst, int dtype, it_err *e) {
    it_pb r = it_pb_init(ts->msg, ts->msg_len);
    it_pb_field f;
    int rc;
    int64_t i = 0;
    int num = ts->typed_field;
    if ((dtype == IT_STRING) != (num == 6))
        return it_fail(e, INGOT_ERR_FORMAT, "tensor at byte %zu: data field %d does not fit its type %s", ts->offset, num, it_dtype_name(dtype));
    while ((rc = it_pb_next(&r, &f, e)) > 0) {
        if ((int)f.num != num) continue;
        const uint8_t *p, *end;
        int elem_wire = (num == 4) ? PB_FIXED32 : (num == 10) ? PB_FIXED64 : PB_VARINT;
        if (f.wire == PB_LEN && num != 6) { p = f.data; end = f.data + f.len; }
        else if (f.wire == elem_wire) { p = NULL; end = NULL; }
        else if (num == 6 && f.wire == PB_LEN) {
            if (i >= n) return it_fail(e, INGOT_ERR_FORMAT, "tensor at byte %zu has more strings than its shape holds", ts->offset);
            ((char **)dst)[i] = it_strndup((const char *)f.data, f.len);
            if (!((char **)dst)[i]) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
            i++;
            continue;
        } else return it_fail(e, INGOT_ERR_FORMAT, "tensor data field %d has wire type %d at byte %zu", num, f.wire, f.offset);
        for (;;) {
            uint64_t v;
            if (p) {
                if (p >= end) break;
                if (elem_wire == PB_FIXED32) {
                    if (end - p < 4) return it_fail(e, INGOT_ERR_FORMAT, "packed float data of odd length at byte %zu", f.offset);
                    v = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
                    p += 4;
                } else if (elem_wire == PB_FIXED64) {
                    if (end - p < 8) return it_fail(e, INGOT_ERR_FORMAT, "packed double data of odd length at byte %zu", f.offset);
                    v = 0;
                    for (int k = 7; k >= 0; k--) v = (v << 8) | p[k];
                    p += 8;
                } else if (it_pb_varint(&p, end, &v)) return it_fail(e, INGOT_ERR_FORMAT, "bad packed varint at byte %zu", f.offset);
            } else {
                v = f.v;
            }
            if (i >= n) return it_fail(e, INGOT_ERR_FORMAT, "tensor at byte %zu has more values (field %d) than its shape holds (%lld)", ts->offset, num, (long long)n);
            switch (num) {
            case 4: { uint32_t u = (uint32_t)v; float x; memcpy(&x, &u, 4);
                if (dtype == IT_F32) ((float *)dst)[i] = x;
                else if (dtype == IT_C64) ((float *)dst)[i] = x; /* complex: 2n floats */
                else it_set_f64(dst, dtype, i, x);
                break; }
            case 10: { double x; memcpy(&x, &v, 8);
                if (dtype == IT_F64 || dtype == IT_C128) ((double *)dst)[i] = x; else it_set_f64(dst, dtype, i, x);
                break; }
            case 7:
                if (dtype == IT_I64) ((int64_t *)dst)[i] = (int64_t)v;
                else it_set_f64(dst, dtype, i, (double)(int64_t)v); /* a mislabeled field: converted, never overrun */
                break;
            case 11:
                if (dtype == IT_U64) ((uint64_t *)dst)[i] = v;
                else if (dtype == IT_U32) ((uint32_t *)dst)[i] = (uint32_t)v;
                else it_set_f64(dst, dtype, i, (double)v);
                break;
            case 5: { /* int32_data carries many types as their bit patterns / values */
                int32_t x = (int32_t)(uint32_t)v;
                switch (dtype) {
                case IT_I32: ((int32_t *)dst)[i] = x; break;
                case IT_I16: ((int16_t *)dst)[i] = (int16_t)x; break;
                case IT_U16: case IT_F16: case IT_BF16: ((uint16_t *)dst)[i] = (uint16_t)x; break;
                case IT_I8: ((int8_t *)dst)[i] = (int8_t)x; break;
                case IT_U8: case IT_BOOL: case IT_F8E4M3FN: case IT_F8E4M3FNUZ: case IT_F8E5M2:
                case IT_F8E5M2FNUZ: case IT_F8E8M0: ((uint8_t *)dst)[i] = (uint8_t)x; break;
                case IT_U4: case IT_I4: case IT_F4E2M1: case IT_U2: case IT_I2:
                    /* packed: each int32 holds one byte of packed elements */
                    ((uint8_t *)dst)[i] = (uint8_t)x; break;
                default: return it_fail(e, INGOT_ERR_FORMAT, "int32_data for dtype %s at byte %zu", it_dtype_name(dtype), ts->offset);
                }
                break; }
            }
            i++;
            if (!p) break;
        }
    }
    if (rc < 0) return rc;
    return 0;
}

/* After copying a misaligned weight out of a file mapping, drop the mapping's
 * pages that lie wholly inside it: they are clean file pages (re-read on a later
 * touch), so resident memory stays near one copy of the weights. */
static void release_pages(const void *p, size_t n) {
    uintptr_t pg = 4096, lo = ((uintptr_t)p + pg - 1) & ~(pg - 1), hi = ((uintptr_t)p + n) & ~(pg - 1);
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* Number of values in the tensor's typed data field (packed or not); -1 on error. */
static int64_t count_typed(const tensor_src *ts, it_err *e) {
    it_pb r = it_pb_init(ts->msg, ts->msg_len);
    it_pb_field f;
    int rc;
    int64_t c = 0;
    int num = ts->typed_field;
    while ((rc = it_pb_next(&r, &f, e)) > 0) {
        if ((int)f.num != num) continue;
        if (f.wire != PB_LEN || num == 6) { c++; continue; }
        if (num == 4) c += (int64_t)(f.len / 4);
        else if (num == 10) c += (int64_t)(f.len / 8);
        else {
            int64_t k;
            if (count_varints(f.data, f.len, &k)) {
                it_fail(e, INGOT_ERR_FORMAT, "bad packed varints at byte %zu", f.offset);
                return -1;
            }
            c += k;
        }
    }
    return rc < 0 ? -1 : c;
}

/* Fill tensor t from ts. raw data: referenced in place when aligned and allowed. */
static int tensor_from_src(const tensor_src *ts, it_tensor *t, int allow_view, it_onnx_model *m, it_err *e) {
    memset(t, 0, sizeof *t);
    if (ts->dtype <= 0 || ts->dtype >= IT_DTYPE_COUNT || ts->dtype == 0)
        return it_fail(e, INGOT_ERR_FORMAT, "tensor '%s' at byte %zu has invalid data_type %d", ts->name ? ts->name : "", ts->offset, ts->dtype);
    for (int i = 0; i < ts->ndim; i++)
        if (ts->dims[i] < 0)
            return it_fail(e, INGOT_ERR_FORMAT, "tensor '%s' at byte %zu has negative dim %lld", ts->name ? ts->name : "", ts->offset, (long long)ts->dims[i]);
    int st = it_tensor_set_shape(t, ts->dtype, ts->ndim, ts->dims, e);
    if (st) return it_fail(e, st, "tensor '%s' at byte %zu: %s", ts->name ? ts->name : "", ts->offset, e ? e->msg : "");
    int64_t n = it_count(t);
    size_t esz = it_dtype_size(ts->dtype);
    if (ts->external) {
        if (!m || !m->dir || !ts->location)
            return it_fail(e, INGOT_ERR_FORMAT, "tensor '%s' uses external data but no location/directory is known", ts->name ? ts->name : "");
        if (strstr(ts->location, "..") || ts->location[0] == '/')
            return it_fail(e, INGOT_ERR_FORMAT, "tensor '%s': external data location '%s' leaves the model directory", ts->name ? ts->name : "", ts->location);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", m->dir, ts->location);
        void *addr; size_t len;
        st = it_map_file(path, &addr, &len, e);
        if (st) return st;
        it_mapping *mp = calloc(1, sizeof *mp);
        if (!mp) { it_unmap(addr, len); return it_fail(e, INGOT_ERR_NOMEM, "out of memory"); }
        mp->addr = addr; mp->len = len; mp->next = m->extra_maps; m->extra_maps = mp;
        int64_t length = ts->ext_length >= 0 ? ts->ext_length : (int64_t)len - ts->ext_offset;
        if (ts->ext_offset < 0 || ts->ext_offset > (int64_t)len || length > (int64_t)len - ts->ext_offset)
            return it_fail(e, INGOT_ERR_FORMAT, "tensor '%s': external data offset %lld length %lld is past the end of '%s' (%zu bytes)",
                           ts->name ? ts->name : "", (long long)ts->ext_offset, (long long)length, ts->location, len);
        if ((uint64_t)length != t->nbytes)
            return it_fail(e, INGOT_ERR_FORMAT, "tensor '%s': external data has %lld bytes, its shape needs %zu", ts->name ? ts->name : "", (long long)length, t->nbytes);
        const uint8_t *p = (const uint8_t *)addr + ts->ext_offset;
        if (esz && ((uintptr_t)p % esz) == 0) { t->data = (void *)p; return 0; }
        st = it_tensor_alloc(t, e);
        if (st) return st;
        memcpy(t->data, p, t->nbytes);
        return 0;
    }
    if (ts->has_raw) {
        if (ts->dtype == IT_STRING) return it_fail(e, INGOT_ERR_FORMAT, "string tensor '%s' at byte %zu uses raw_data", ts->name ? ts->name : "", ts->offset);
        if (ts->raw_len != t->nbytes)
            return it_fail(e, INGOT_ERR_FORMAT, "tensor '%s' at byte %zu: raw_data has %zu bytes, shape %s needs %zu",
                           ts->name ? ts->name : "", ts->offset, ts->raw_len, "", t->nbytes);
        if (allow_view && esz && ((uintptr_t)ts->raw % (esz > 8 ? 8 : esz)) == 0 && t->nbytes) {
            t->data = (void *)ts->raw;
            return 0;
        }
        st = it_tensor_alloc(t, e);
        if (st) return st;
        if (t->nbytes) memcpy(t->data, ts->raw, t->nbytes);
        if (m && m->buf_is_mapping) release_pages(ts->raw, t->nbytes);
        return 0;
    }
    if (ts->typed_field) {
        /* count the values before allocating: a tiny file must not claim a huge tensor */
        int64_t have = count_typed(ts, e), want0 = n;
        if (have < 0) return INGOT_ERR_FORMAT;
        if (ts->dtype == IT_C64 || ts->dtype == IT_C128) want0 = 2 * n;
        if (ts->dtype == IT_U4 || ts->dtype == IT_I4 || ts->dtype == IT_F4E2M1) want0 = (n + 1) / 2;
        if (ts->dtype == IT_U2 || ts->dtype == IT_I2) want0 = (n + 3) / 4;
        if (have != want0)
            return it_fail(e, INGOT_ERR_FORMAT, "tensor '%s' at byte %zu has %lld values, its shape needs %lld",
                           ts->name ? ts->name : "", ts->offset, (long long)have, (long long)want0);
    }
    st = it_tensor_alloc(t, e);
    if (st) return st;
    if (!ts->typed_field) {
        if (n == 0) return 0;
        /* no data at all: ONNX treats missing data as an empty tensor only when n == 0 */
        it_tensor_release(t);
        return it_fail(e, INGOT_ERR_FORMAT, "tensor '%s' at byte %zu has shape with %lld elements but no data", ts->name ? ts->name : "", ts->offset, (long long)n);
    }
    int64_t want = n;
    if (ts->dtype == IT_C64 || ts->dtype == IT_C128) want = 2 * n;
    if (ts->dtype == IT_U4 || ts->dtype == IT_I4 || ts->dtype == IT_F4E2M1) want = (n + 1) / 2;
    if (ts->dtype == IT_U2 || ts->dtype == IT_I2) want = (n + 3) / 4;
    st = decode_typed(ts, want, t->data, ts->dtype, e);
    if (st) { it_tensor_release(t); return st; }
    return 0;
}

int it_onnx_parse_tensor(const void *buf, size_t len, it_tensor *t, it_err *e) {
    it_pb r = it_pb_init(buf, len);
    tensor_src ts;
    int st = read_tensor_header(&r, &ts, NULL, e);
    if (st < 0) return st;
    return tensor_from_src(&ts, t, 0, NULL, e);
}

/* SequenceProto: name 1, elem_type 2, tensor_values 3, sequence_values 5, optional_values 7
 * OptionalProto: name 1, elem_type 2, tensor_value 3, sequence_value 5, optional_value 7 */
int it_onnx_parse_value(const void *buf, size_t len, int kind, it_value *v, it_err *e) {
    memset(v, 0, sizeof *v);
    if (kind == IT_KIND_TENSOR) {
        v->kind = IT_V_TENSOR;
        return it_onnx_parse_tensor(buf, len, &v->t, e);
    }
    it_pb r = it_pb_init(buf, len);
    it_pb_field f;
    int rc;
    int elem_type = 0;
    if (kind == IT_KIND_SEQUENCE) v->kind = IT_V_SEQ;
    else v->kind = IT_V_NONE;
    while ((rc = it_pb_next(&r, &f, e)) > 0) {
        if (f.num == 2 && f.wire == PB_VARINT) elem_type = (int)f.v;
        else if (f.num == 3 && f.wire == PB_LEN) {
            it_tensor t;
            int st = it_onnx_parse_tensor(f.data, f.len, &t, e);
            if (st) { it_value_release(NULL, v); return st; }
            if (kind == IT_KIND_SEQUENCE) {
                if (v->n_seq == v->cap_seq) {
                    int cap = v->cap_seq ? v->cap_seq * 2 : 4;
                    it_tensor *ns = realloc(v->seq, sizeof(it_tensor) * (size_t)cap);
                    if (!ns) { it_tensor_release(&t); it_value_release(NULL, v); return it_fail(e, INGOT_ERR_NOMEM, "out of memory"); }
                    v->seq = ns; v->cap_seq = cap;
                }
                v->seq[v->n_seq++] = t;
                v->seq_dtype = t.dtype;
            } else {
                v->kind = IT_V_TENSOR;
                v->t = t;
            }
        } else if (f.num == 5 && f.wire == PB_LEN && kind == IT_KIND_OPTIONAL) {
            int st = it_onnx_parse_value(f.data, f.len, IT_KIND_SEQUENCE, v, e);
            if (st) return st;
        }
    }
    (void)elem_type;
    return rc < 0 ? rc : 0;
}

/* ---- types ---- */
static int read_type(ctx *cx, it_graph *g, it_pb *parent, const it_pb_field *tf, it_type *ty, int depth);

static int read_tensor_type(ctx *cx, it_graph *g, it_pb *parent, const it_pb_field *tf, it_type *ty) {
    it_pb r = it_pb_sub(parent, tf);
    it_pb_field f;
    int rc;
    while ((rc = it_pb_next(&r, &f, cx->e)) > 0) {
        if (f.num == 1 && f.wire == PB_VARINT) ty->dtype = (int)f.v;
        else if (f.num == 2 && f.wire == PB_LEN) {
            ty->ndim = 0;
            it_pb s = it_pb_sub(&r, &f);
            it_pb_field d;
            while ((rc = it_pb_next(&s, &d, cx->e)) > 0) {
                if (d.num != 1 || d.wire != PB_LEN) continue;
                if (ty->ndim >= IT_MAX_DIMS) return it_fail(cx->e, INGOT_ERR_LIMIT, "type at byte %zu has more than %d dims", d.offset, IT_MAX_DIMS);
                int k = ty->ndim++;
                ty->dims[k] = -1;
                ty->dim_names[k] = NULL;
                it_pb dd = it_pb_sub(&s, &d);
                it_pb_field x;
                while ((rc = it_pb_next(&dd, &x, cx->e)) > 0) {
                    if (x.num == 1 && x.wire == PB_VARINT) ty->dims[k] = (int64_t)x.v;
                    else if (x.num == 2 && x.wire == PB_LEN) ty->dim_names[k] = dupstr(g, &x);
                }
                if (rc < 0) return rc;
            }
            if (rc < 0) return rc;
        }
    }
    return rc;
}

static int read_type(ctx *cx, it_graph *g, it_pb *parent, const it_pb_field *tf, it_type *ty, int depth) {
    if (depth > 16) return it_fail(cx->e, INGOT_ERR_LIMIT, "type nested too deeply at byte %zu", tf->offset);
    it_pb r = it_pb_sub(parent, tf);
    it_pb_field f;
    int rc;
    while ((rc = it_pb_next(&r, &f, cx->e)) > 0) {
        if (f.wire != PB_LEN) continue;
        if (f.num == 1) { ty->kind = IT_KIND_TENSOR; rc = read_tensor_type(cx, g, &r, &f, ty); }
        else if (f.num == 8) { ty->kind = IT_KIND_TENSOR; rc = read_tensor_type(cx, g, &r, &f, ty); }
        else if (f.num == 4 || f.num == 9) {
            /* sequence_type / optional_type: elem_type is field 1 (a TypeProto) */
            int outer = f.num == 4 ? IT_KIND_SEQUENCE : IT_KIND_OPTIONAL;
            it_pb s = it_pb_sub(&r, &f);
            it_pb_field x;
            while ((rc = it_pb_next(&s, &x, cx->e)) > 0)
                if (x.num == 1 && x.wire == PB_LEN) {
                    it_type inner;
                    memset(&inner, 0, sizeof inner);
                    inner.ndim = -1;
                    rc = read_type(cx, g, &s, &x, &inner, depth + 1);
                    if (rc < 0) return rc;
                    *ty = inner;
                    ty->elem_kind = inner.kind;
                }
            ty->kind = outer;
        } else if (f.num == 5) ty->kind = IT_KIND_MAP;
        if (rc < 0) return rc;
    }
    return rc;
}

static int read_value_info(ctx *cx, it_graph *g, it_pb *parent, const it_pb_field *vf, int *out_index) {
    it_pb r = it_pb_sub(parent, vf);
    it_pb_field f;
    int rc;
    const char *name = NULL;
    it_type ty;
    memset(&ty, 0, sizeof ty);
    ty.ndim = -1;
    int has_type = 0;
    while ((rc = it_pb_next(&r, &f, cx->e)) > 0) {
        if (f.num == 1 && f.wire == PB_LEN) name = dupstr(g, &f);
        else if (f.num == 2 && f.wire == PB_LEN) {
            rc = read_type(cx, g, &r, &f, &ty, 0);
            if (rc < 0) return rc;
            has_type = 1;
        }
    }
    if (rc < 0) return rc;
    if (!name) return it_fail(cx->e, INGOT_ERR_FORMAT, "ValueInfoProto at byte %zu has no name", vf->offset);
    int v = it_graph_value(g, name, cx->e);
    if (v < 0) return v;
    if (has_type) {
        g->values[v].type = ty;
        g->values[v].has_type = 1;
    }
    if (out_index) *out_index = v;
    return 0;
}

/* ---- attributes ---- */
static int read_graph(ctx *cx, it_graph *g, it_pb *parent, const it_pb_field *gf);

static int read_attr(ctx *cx, it_graph *g, it_pb *parent, const it_pb_field *af, it_attr *a) {
    it_pb r;
    it_pb_field f;
    int rc;
    memset(a, 0, sizeof *a);
    /* first pass: counts of list fields */
    int nf = 0, ni = 0, ns = 0, nt = 0, ng = 0;
    r = it_pb_sub(parent, af);
    while ((rc = it_pb_next(&r, &f, cx->e)) > 0) {
        if (f.num == 7) { if (f.wire == PB_LEN) nf += (int)(f.len / 4); else nf++; }
        else if (f.num == 8) {
            if (f.wire == PB_LEN) { int64_t c; if (count_varints(f.data, f.len, &c)) return it_fail(cx->e, INGOT_ERR_FORMAT, "bad packed ints at byte %zu", f.offset); ni += (int)c; }
            else ni++;
        } else if (f.num == 9) ns++;
        else if (f.num == 10) nt++;
        else if (f.num == 11) ng++;
        if (nf > 100000000 || ni > 100000000) return it_fail(cx->e, INGOT_ERR_LIMIT, "attribute list too long at byte %zu", f.offset);
    }
    if (rc < 0) return rc;
    if (nf) a->floats = it_arena_alloc(&g->arena, sizeof(float) * (size_t)nf);
    if (ni) a->ints = it_arena_alloc(&g->arena, sizeof(int64_t) * (size_t)ni);
    if (ns) { a->strings = it_arena_alloc(&g->arena, sizeof(char *) * (size_t)ns); a->string_lens = it_arena_alloc(&g->arena, sizeof(size_t) * (size_t)ns); }
    if (nt) a->tensors = it_arena_alloc(&g->arena, sizeof(it_tensor) * (size_t)nt);
    if (ng) a->graphs = it_arena_alloc(&g->arena, sizeof(it_graph *) * (size_t)ng);
    if ((nf && !a->floats) || (ni && !a->ints) || (ns && (!a->strings || !a->string_lens)) || (nt && !a->tensors) || (ng && !a->graphs))
        return it_fail(cx->e, INGOT_ERR_NOMEM, "out of memory");
    int cf = 0, ci = 0, cs = 0, ct = 0, cg = 0, has_type = 0;
    int seen_f = 0, seen_i = 0, seen_s = 0, seen_t = 0, seen_g = 0;
    r = it_pb_sub(parent, af);
    while ((rc = it_pb_next(&r, &f, cx->e)) > 0) {
        switch (f.num) {
        case 1: if (f.wire == PB_LEN) a->name = dupstr(g, &f); break;
        case 21: if (f.wire == PB_LEN) a->ref_attr_name = dupstr(g, &f); break;
        case 20: if (f.wire == PB_VARINT) { a->type = (int)f.v; has_type = 1; } break;
        case 2: if (f.wire == PB_FIXED32) { uint32_t u = (uint32_t)f.v; memcpy(&a->f, &u, 4); seen_f = 1; } break;
        case 3: if (f.wire == PB_VARINT) { a->i = (int64_t)f.v; seen_i = 1; } break;
        case 4: if (f.wire == PB_LEN) { a->s = dupstr(g, &f); a->s_len = f.len; seen_s = 1; } break;
        case 5: if (f.wire == PB_LEN) {
            it_pb s = it_pb_sub(&r, &f);
            tensor_src ts;
            rc = read_tensor_header(&s, &ts, g, cx->e);
            if (rc < 0) return rc;
            it_tensor_release(&a->t); /* a repeated field: the last one wins */
            rc = tensor_from_src(&ts, &a->t, 1, cx->m, cx->e);
            if (rc) return rc;
            seen_t = 1;
        } break;
        case 6: if (f.wire == PB_LEN) {
            it_graph_free(a->g); /* a repeated field: the last one wins */
            a->g = it_graph_new(g);
            if (!a->g) return it_fail(cx->e, INGOT_ERR_NOMEM, "out of memory");
            rc = read_graph(cx, a->g, &r, &f);
            if (rc) return rc;
            seen_g = 1;
        } break;
        case 7:
            if (f.wire == PB_LEN) {
                if (f.len % 4) return it_fail(cx->e, INGOT_ERR_FORMAT, "packed floats of odd length at byte %zu", f.offset);
                for (size_t k = 0; k < f.len / 4; k++) memcpy(&a->floats[cf++], f.data + 4 * k, 4);
            } else if (f.wire == PB_FIXED32) { uint32_t u = (uint32_t)f.v; memcpy(&a->floats[cf++], &u, 4); }
            break;
        case 8:
            if (f.wire == PB_LEN) {
                const uint8_t *p = f.data, *end = f.data + f.len;
                while (p < end) { uint64_t v; it_pb_varint(&p, end, &v); a->ints[ci++] = (int64_t)v; }
            } else if (f.wire == PB_VARINT) a->ints[ci++] = (int64_t)f.v;
            break;
        case 9: if (f.wire == PB_LEN) { a->strings[cs] = dupstr(g, &f); a->string_lens[cs++] = f.len; } break;
        case 10: if (f.wire == PB_LEN) {
            it_pb s = it_pb_sub(&r, &f);
            tensor_src ts;
            rc = read_tensor_header(&s, &ts, g, cx->e);
            if (rc < 0) return rc;
            rc = tensor_from_src(&ts, &a->tensors[ct], 1, cx->m, cx->e);
            if (rc) return rc;
            ct++;
            a->n_tensors_read = ct;
        } break;
        case 11: if (f.wire == PB_LEN) {
            a->graphs[cg] = it_graph_new(g);
            if (!a->graphs[cg]) return it_fail(cx->e, INGOT_ERR_NOMEM, "out of memory");
            cg++;
            a->n_graphs_read = cg;
            rc = read_graph(cx, a->graphs[cg - 1], &r, &f);
            if (rc) return rc;
        } break;
        default: break;
        }
    }
    if (rc < 0) return rc;
    if (!a->name) return it_fail(cx->e, INGOT_ERR_FORMAT, "attribute at byte %zu has no name", af->offset);
    if (!has_type) { /* IR < 3 style: infer from what is present */
        if (ng) a->type = IT_ATTR_GRAPHS; else if (nt) a->type = IT_ATTR_TENSORS;
        else if (ns) a->type = IT_ATTR_STRINGS; else if (ni) a->type = IT_ATTR_INTS;
        else if (nf) a->type = IT_ATTR_FLOATS; else if (seen_g) a->type = IT_ATTR_GRAPH;
        else if (seen_t) a->type = IT_ATTR_TENSOR; else if (seen_s) a->type = IT_ATTR_STRING;
        else if (seen_i) a->type = IT_ATTR_INT; else if (seen_f) a->type = IT_ATTR_FLOAT;
    }
    switch (a->type) {
    case IT_ATTR_FLOATS: a->n = cf; break;
    case IT_ATTR_INTS: a->n = ci; break;
    case IT_ATTR_STRINGS: a->n = cs; break;
    case IT_ATTR_TENSORS: a->n = ct; break;
    case IT_ATTR_GRAPHS: a->n = cg; break;
    default: break;
    }
    return 0;
}

/* ---- nodes ---- */
static int read_node(ctx *cx, it_graph *g, it_pb *parent, const it_pb_field *nf) {
    it_pb r = it_pb_sub(parent, nf);
    it_pb_field f;
    int rc;
    int n_in = 0, n_out = 0, n_attr = 0;
    while ((rc = it_pb_next(&r, &f, cx->e)) > 0) {
        if (f.num == 1) n_in++;
        else if (f.num == 2) n_out++;
        else if (f.num == 5) n_attr++;
    }
    if (rc < 0) return rc;
    it_node *n = it_graph_add_node(g, cx->e);
    if (!n) return INGOT_ERR_NOMEM;
    int node_index = g->n_nodes - 1;
    int *in = n_in ? it_arena_alloc(&g->arena, sizeof(int) * (size_t)n_in) : NULL;
    int *out = n_out ? it_arena_alloc(&g->arena, sizeof(int) * (size_t)n_out) : NULL;
    it_attr *attrs = n_attr ? it_arena_alloc(&g->arena, sizeof(it_attr) * (size_t)n_attr) : NULL;
    if ((n_in && !in) || (n_out && !out) || (n_attr && !attrs)) return it_fail(cx->e, INGOT_ERR_NOMEM, "out of memory");
    n->in = in; n->out = out; n->attrs = attrs;
    n->domain = "";
    r = it_pb_sub(parent, nf);
    int ci = 0, co = 0, ca = 0;
    while ((rc = it_pb_next(&r, &f, cx->e)) > 0) {
        n = &g->nodes[node_index];
        if ((f.num == 1 || f.num == 2 || f.num == 3 || f.num == 4 || f.num == 7) && f.wire != PB_LEN)
            return it_fail(cx->e, INGOT_ERR_FORMAT, "NodeProto field %u has wire type %d at byte %zu", f.num, f.wire, f.offset);
        switch (f.num) {
        case 1: case 2: {
            int v = -1;
            if (f.len > 0) {
                char *name = it_strndup((const char *)f.data, f.len);
                if (!name) return it_fail(cx->e, INGOT_ERR_NOMEM, "out of memory");
                v = it_graph_value(g, name, cx->e);
                free(name);
                if (v < 0) return v;
            }
            n = &g->nodes[node_index];
            if (f.num == 1) n->in[ci++] = v; else n->out[co++] = v;
            break;
        }
        case 3: n->name = dupstr(g, &f); break;
        case 4: n->op_type = dupstr(g, &f); break;
        case 7: n->domain = dupstr(g, &f); break;
        case 5:
            if (f.wire != PB_LEN) return it_fail(cx->e, INGOT_ERR_FORMAT, "NodeProto.attribute has wire type %d at byte %zu", f.wire, f.offset);
            g->nodes[node_index].n_attr = ca + 1; /* so a failed read is still freed */
            rc = read_attr(cx, g, &r, &f, &g->nodes[node_index].attrs[ca]);
            if (rc) return rc;
            ca++;
            break;
        default: break;
        }
    }
    if (rc < 0) return rc;
    n = &g->nodes[node_index];
    n->n_in = ci; n->n_out = co; n->n_attr = ca;
    /* trailing omitted inputs/outputs are dropped */
    while (n->n_in > 0 && n->in[n->n_in - 1] < 0) n->n_in--;
    if (!n->op_type) return it_fail(cx->e, INGOT_ERR_FORMAT, "node at byte %zu has no op_type", nf->offset);
    if (!n->name) n->name = "";
    return 0;
}

/* ---- graphs ---- */
static int read_graph(ctx *cx, it_graph *g, it_pb *parent, const it_pb_field *gf) {
    if (++cx->depth > IT_LIMIT_SUBGRAPH_DEPTH) return it_fail(cx->e, INGOT_ERR_LIMIT, "subgraphs nested deeper than %d at byte %zu", IT_LIMIT_SUBGRAPH_DEPTH, gf->offset);
    it_pb r = it_pb_sub(parent, gf);
    it_pb_field f;
    int rc;
    int n_in = 0, n_out = 0;
    while ((rc = it_pb_next(&r, &f, cx->e)) > 0) {
        if (f.num == 11) n_in++;
        if (f.num == 12) n_out++;
    }
    if (rc < 0) return rc;
    int *ins = n_in ? it_arena_alloc(&g->arena, sizeof(int) * (size_t)n_in) : NULL;
    int *outs = n_out ? it_arena_alloc(&g->arena, sizeof(int) * (size_t)n_out) : NULL;
    if ((n_in && !ins) || (n_out && !outs)) return it_fail(cx->e, INGOT_ERR_NOMEM, "out of memory");
    /* initializers first so that inputs can be marked as having defaults */
    r = it_pb_sub(parent, gf);
    while ((rc = it_pb_next(&r, &f, cx->e)) > 0) {
        if (f.num == 2 && f.wire == PB_LEN) g->name = dupstr(g, &f);
        else if ((f.num == 5 || f.num == 15) && f.wire == PB_LEN) {
            it_pb s = it_pb_sub(&r, &f);
            if (f.num == 15) {
                /* SparseTensorProto: values 1, indices 2, dims 3 -> densified */
                it_pb_field x;
                tensor_src vs, is;
                int has_v = 0, has_i = 0;
                int64_t dims[IT_MAX_DIMS];
                int nd = 0;
                while ((rc = it_pb_next(&s, &x, cx->e)) > 0) {
                    it_pb sub = it_pb_sub(&s, &x);
                    if (x.num == 1 && x.wire == PB_LEN) { rc = read_tensor_header(&sub, &vs, g, cx->e); has_v = 1; }
                    else if (x.num == 2 && x.wire == PB_LEN) { rc = read_tensor_header(&sub, &is, g, cx->e); has_i = 1; }
                    else if (x.num == 3) {
                        if (x.wire == PB_VARINT) { if (nd < IT_MAX_DIMS) dims[nd++] = (int64_t)x.v; }
                        else if (x.wire == PB_LEN) {
                            const uint8_t *p = x.data, *end = x.data + x.len;
                            while (p < end && nd < IT_MAX_DIMS) { uint64_t v; if (it_pb_varint(&p, end, &v)) break; dims[nd++] = (int64_t)v; }
                        }
                    }
                    if (rc < 0) return rc;
                }
                if (rc < 0) return rc;
                if (!has_v || !has_i) return it_fail(cx->e, INGOT_ERR_FORMAT, "sparse initializer at byte %zu lacks values or indices", f.offset);
                it_tensor vt, itn, dense;
                if ((rc = tensor_from_src(&vs, &vt, 0, cx->m, cx->e))) return rc;
                if ((rc = tensor_from_src(&is, &itn, 0, cx->m, cx->e))) { it_tensor_release(&vt); return rc; }
                memset(&dense, 0, sizeof dense);
                rc = it_tensor_set_shape(&dense, vt.dtype, nd, dims, cx->e);
                if (!rc) rc = it_tensor_alloc(&dense, cx->e);
                int64_t nv = it_count(&vt), total = it_count(&dense);
                size_t es = it_dtype_size(vt.dtype);
                for (int64_t k = 0; !rc && k < nv; k++) {
                    int64_t lin = 0;
                    if (itn.ndim == 2) {
                        for (int d = 0; d < nd; d++) lin = lin * dims[d] + ((int64_t *)itn.data)[k * nd + d];
                    } else lin = ((int64_t *)itn.data)[k];
                    if (lin < 0 || lin >= total) rc = it_fail(cx->e, INGOT_ERR_FORMAT, "sparse initializer index out of range at byte %zu", f.offset);
                    else memcpy((char *)dense.data + lin * (int64_t)es, (char *)vt.data + k * (int64_t)es, es);
                }
                const char *nm = vs.name;
                it_tensor_release(&vt);
                it_tensor_release(&itn);
                if (rc) { it_tensor_release(&dense); return rc; }
                int v = it_graph_value(g, nm ? nm : "", cx->e);
                if (v < 0) { it_tensor_release(&dense); return v; }
                g->values[v].is_const = 1;
                g->values[v].cval = dense;
                cx->m->param_bytes += (int64_t)dense.nbytes;
                cx->m->n_initializers++;
                continue;
            }
            tensor_src ts;
            rc = read_tensor_header(&s, &ts, g, cx->e);
            if (rc < 0) return rc;
            if (!ts.name) return it_fail(cx->e, INGOT_ERR_FORMAT, "initializer at byte %zu has no name", f.offset);
            int v = it_graph_value(g, ts.name, cx->e);
            if (v < 0) return v;
            it_valdef *d = &g->values[v];
            if (d->is_const) it_tensor_release(&d->cval);
            rc = tensor_from_src(&ts, &d->cval, 1, cx->m, cx->e);
            if (rc) return rc;
            d->is_const = 1;
            d->has_type = 1;
            d->type.kind = IT_KIND_TENSOR;
            d->type.dtype = d->cval.dtype;
            d->type.ndim = d->cval.ndim;
            memcpy(d->type.dims, d->cval.dims, sizeof d->cval.dims);
            cx->m->param_bytes += (int64_t)d->cval.nbytes;
            cx->m->n_initializers++;
        }
    }
    if (rc < 0) return rc;
    r = it_pb_sub(parent, gf);
    int ci = 0, co = 0;
    while ((rc = it_pb_next(&r, &f, cx->e)) > 0) {
        if (f.wire != PB_LEN && (f.num == 1 || f.num == 11 || f.num == 12 || f.num == 13))
            return it_fail(cx->e, INGOT_ERR_FORMAT, "GraphProto field %u has wire type %d at byte %zu", f.num, f.wire, f.offset);
        if (f.num == 1) rc = read_node(cx, g, &r, &f);
        else if (f.num == 11) {
            int v;
            rc = read_value_info(cx, g, &r, &f, &v);
            if (!rc) { ins[ci++] = v; g->values[v].is_input = 1; }
        } else if (f.num == 12) {
            int v;
            rc = read_value_info(cx, g, &r, &f, &v);
            if (!rc) outs[co++] = v;
        } else if (f.num == 13) {
            rc = read_value_info(cx, g, &r, &f, NULL);
        }
        if (rc < 0) return rc;
    }
    if (rc < 0) return rc;
    /* Graph inputs that are initializers are optional overrides (IR < 4). The
     * executor feeds the non-initializer inputs first, in order. */
    g->inputs = ins;
    g->n_inputs = ci;
    g->outputs = outs;
    g->n_outputs = co;
    cx->depth--;
    return 0;
}

static int load_impl(const void *buf, size_t len, const char *dir, it_onnx_model *m, it_err *e) {
    m->graph = it_graph_new(NULL);
    if (!m->graph) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    m->dir = dir ? it_arena_strdup(&m->graph->arena, dir, strlen(dir)) : NULL;
    ctx cx = {m, e, 0};
    it_pb r = it_pb_init(buf, len);
    it_pb_field f;
    int rc, have_graph = 0;
    it_pb_field graph_field;
    if (len == 0) return it_fail(e, INGOT_ERR_FORMAT, "the model file is empty");
    while ((rc = it_pb_next(&r, &f, e)) > 0) {
        switch (f.num) {
        case 1: if (f.wire == PB_VARINT) m->ir_version = (int64_t)f.v; else return it_fail(e, INGOT_ERR_FORMAT, "ModelProto.ir_version has wire type %d at byte %zu", f.wire, f.offset); break;
        case 2: if (f.wire == PB_LEN) m->producer_name = dupstr(m->graph, &f); break;
        case 3: if (f.wire == PB_LEN) m->producer_version = dupstr(m->graph, &f); break;
        case 4: if (f.wire == PB_LEN) m->domain = dupstr(m->graph, &f); break;
        case 5: if (f.wire == PB_VARINT) m->model_version = (int64_t)f.v; break;
        case 7:
            if (f.wire != PB_LEN) return it_fail(e, INGOT_ERR_FORMAT, "ModelProto.graph has wire type %d at byte %zu", f.wire, f.offset);
            graph_field = f; have_graph = 1; break;
        case 8: {
            if (f.wire != PB_LEN) return it_fail(e, INGOT_ERR_FORMAT, "ModelProto.opset_import has wire type %d at byte %zu", f.wire, f.offset);
            it_pb s = it_pb_sub(&r, &f);
            it_pb_field x;
            const char *dom = "";
            int64_t ver = -1;
            while ((rc = it_pb_next(&s, &x, e)) > 0) {
                if (x.num == 1 && x.wire == PB_LEN) dom = dupstr(m->graph, &x);
                if (x.num == 2 && x.wire == PB_VARINT) ver = (int64_t)x.v;
            }
            if (rc < 0) return rc;
            if (ver < 0) return it_fail(e, INGOT_ERR_FORMAT, "opset_import for domain '%s' at byte %zu has no version", dom, f.offset);
            it_graph_set_opset(m->graph, dom, ver);
            break;
        }
        default: break;
        }
    }
    if (rc < 0) return rc;
    if (!have_graph) return it_fail(e, INGOT_ERR_FORMAT, "the model has no graph (ModelProto field 7); not an ONNX model?");
    if (m->ir_version < 1 || m->ir_version > 13)
        return it_fail(e, INGOT_ERR_UNSUPPORTED, "ONNX IR version %lld is not supported (1 to 13)", (long long)m->ir_version);
    if (!m->graph->n_opsets)
        return it_fail(e, INGOT_ERR_FORMAT, "the model imports no operator set (ModelProto.opset_import is empty)");
    it_pb top = it_pb_init(buf, len);
    rc = read_graph(&cx, m->graph, &top, &graph_field);
    if (rc) return rc;
    return 0;
}

int it_onnx_load_mapped(const void *buf, size_t len, const char *dir, it_onnx_model *m, it_err *e) {
    memset(m, 0, sizeof *m);
    m->buf_is_mapping = 1;
    return load_impl(buf, len, dir, m, e);
}

int it_onnx_load(const void *buf, size_t len, const char *dir, it_onnx_model *m, it_err *e) {
    memset(m, 0, sizeof *m);
    return load_impl(buf, len, dir, m, e);
}

void it_onnx_free(it_onnx_model *m) {
    if (!m) return;
    it_graph_free(m->graph);
    it_mapping *mp = m->extra_maps;
    while (mp) {
        it_mapping *n = mp->next;
        it_unmap(mp->addr, mp->len);
        free(mp);
        mp = n;
    }
    memset(m, 0, sizeof *m);
}
