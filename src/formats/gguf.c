/*
 * gguf.c: the GGUF reader and writer (see gguf.h).
 *
 * Reader: one pass over the header, the key/value pairs and the tensor infos,
 * with every length and count bounded by the bytes that remain before it is
 * used (so allocation and work stay proportional to the file size), then the
 * tensor data ranges checked against the file. Values are kept as views into
 * the buffer; keys and tensor names are copied NUL-terminated into an arena
 * and indexed by hash tables. Errors name the key or tensor and its byte
 * offset.
 *
 * Writer: key/value pairs are held encoded; tensors are held as infos plus a
 * data pointer (or filled by a callback at write time, one tensor in memory at
 * a time), and written packed in order, each padded to the alignment, which is
 * what llama.cpp's loader requires.
 */
#define _GNU_SOURCE
#include "formats/gguf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "formats/onnx/onnx.h" /* it_map_file */
#include "tensor/quant.h"

static const char *const TYPE_NAMES[IT_GGUF_TYPE_COUNT] = {"u8",     "i8",    "u16", "i16", "u32",
                                                           "i32",    "f32",   "bool", "string",
                                                           "array",  "u64",   "i64", "f64"};
static const uint8_t TYPE_SIZES[IT_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *it_gguf_type_name(uint32_t type) { return type < IT_GGUF_TYPE_COUNT ? TYPE_NAMES[type] : "?"; }
size_t it_gguf_type_size(uint32_t type) { return type < IT_GGUF_TYPE_COUNT ? TYPE_SIZES[type] : 0; }

static inline uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32); }

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* ======================= reader ======================= */

typedef struct rd {
    const uint8_t *b;
    size_t len, pos;
    it_err *e;
    const char *what; /* "key 'x'" / "tensor 'y'" for messages */
} rd;

static size_t left(const rd *r) { return r->len - r->pos; }

static int rd_u32(rd *r, uint32_t *v, const char *field) {
    if (left(r) < 4)
        return it_fail(r->e, INGOT_ERR_FORMAT, "%s%s%s at byte %zu: truncated (file has %zu bytes)", r->what,
                       *r->what ? ": " : "", field, r->pos, r->len);
    *v = rd32(r->b + r->pos);
    r->pos += 4;
    return 0;
}

static int rd_u64(rd *r, uint64_t *v, const char *field) {
    if (left(r) < 8)
        return it_fail(r->e, INGOT_ERR_FORMAT, "%s%s%s at byte %zu: truncated (file has %zu bytes)", r->what,
                       *r->what ? ": " : "", field, r->pos, r->len);
    *v = rd64(r->b + r->pos);
    r->pos += 8;
    return 0;
}

/* A GGUF string: u64 length then bytes. */
static int rd_str(rd *r, const uint8_t **s, uint64_t *n, const char *field) {
    size_t at = r->pos;
    int st = rd_u64(r, n, field);
    if (st) return st;
    if (*n > left(r))
        return it_fail(r->e, INGOT_ERR_FORMAT, "%s%s%s at byte %zu: length %llu past end of file (%zu bytes)", r->what,
                       *r->what ? ": " : "", field, at, (unsigned long long)*n, r->len);
    *s = r->b + r->pos;
    r->pos += (size_t)*n;
    return 0;
}

/* Parse (and bound) one value of `type`; fills v when non-NULL. */
static int parse_val(rd *r, uint32_t type, int depth, it_gguf_val *v) {
    size_t at = r->pos;
    it_gguf_val tmp;
    if (!v) v = &tmp;
    memset(v, 0, sizeof *v);
    v->type = type;
    v->offset = at;
    v->raw = r->b + at;
    v->n = 1;
    if (type >= IT_GGUF_TYPE_COUNT)
        return it_fail(r->e, INGOT_ERR_FORMAT, "%s at byte %zu: unknown value type %u", r->what, at, type);
    if (type == IT_GGUF_STRING) {
        int st = rd_str(r, &v->p, &v->n, "string");
        if (st) return st;
    } else if (type == IT_GGUF_ARRAY) {
        uint32_t et;
        uint64_t n;
        int st;
        if ((st = rd_u32(r, &et, "array type")) || (st = rd_u64(r, &n, "array length"))) return st;
        if (et >= IT_GGUF_TYPE_COUNT)
            return it_fail(r->e, INGOT_ERR_FORMAT, "%s at byte %zu: array of unknown value type %u", r->what, at, et);
        v->arr_type = et;
        v->n = n;
        v->p = r->b + r->pos;
        size_t esz = TYPE_SIZES[et];
        size_t min = esz ? esz : et == IT_GGUF_STRING ? 8 : 12;
        if (n > left(r) / min)
            return it_fail(r->e, INGOT_ERR_FORMAT, "%s at byte %zu: array of %llu %s elements past end of file (%zu bytes)",
                           r->what, at, (unsigned long long)n, TYPE_NAMES[et], r->len);
        if (esz) {
            r->pos += (size_t)n * esz;
        } else if (et == IT_GGUF_STRING) {
            for (uint64_t i = 0; i < n; i++) {
                const uint8_t *s;
                uint64_t sl;
                if ((st = rd_str(r, &s, &sl, "string in array"))) return st;
            }
        } else {
            if (depth + 1 >= IT_GGUF_MAX_DEPTH)
                return it_fail(r->e, INGOT_ERR_LIMIT, "%s at byte %zu: arrays nested deeper than %d", r->what, at,
                               IT_GGUF_MAX_DEPTH);
            for (uint64_t i = 0; i < n; i++)
                if ((st = parse_val(r, IT_GGUF_ARRAY, depth + 1, NULL))) return st;
        }
    } else {
        size_t esz = TYPE_SIZES[type];
        if (left(r) < esz)
            return it_fail(r->e, INGOT_ERR_FORMAT, "%s at byte %zu: %s value truncated (file has %zu bytes)", r->what, at,
                           TYPE_NAMES[type], r->len);
        v->p = r->b + at;
        r->pos += esz;
    }
    v->raw_size = r->pos - at;
    return 0;
}

/* Size of a value already validated by parse_val. */
static uint64_t val_size(const uint8_t *p, uint32_t type) {
    if (type == IT_GGUF_STRING) return 8 + rd64(p);
    if (type != IT_GGUF_ARRAY) return TYPE_SIZES[type];
    uint32_t et = rd32(p);
    uint64_t n = rd64(p + 4), sz = 12;
    if (TYPE_SIZES[et]) return sz + n * TYPE_SIZES[et];
    for (uint64_t i = 0; i < n; i++) sz += val_size(p + sz, et);
    return sz;
}

static int hash_build(const char *const *names, size_t stride, int64_t n, int64_t **tab, int64_t *cap,
                      int64_t *dup) {
    int64_t c = 16;
    while (c < 2 * n) c *= 2;
    int64_t *t = calloc((size_t)c, sizeof *t);
    if (!t) return INGOT_ERR_NOMEM;
    *dup = -1;
    for (int64_t i = 0; i < n; i++) {
        const char *s = *(const char *const *)((const char *)names + (size_t)i * stride);
        uint64_t h = hash_str(s) & (uint64_t)(c - 1);
        while (t[h]) {
            const char *o = *(const char *const *)((const char *)names + (size_t)(t[h] - 1) * stride);
            if (!strcmp(o, s)) { *dup = i; break; }
            h = (h + 1) & (uint64_t)(c - 1);
        }
        if (*dup >= 0) break;
        t[h] = i + 1;
    }
    *tab = t;
    *cap = c;
    return 0;
}

static int64_t hash_find(const int64_t *tab, int64_t cap, const char *const *names, size_t stride, const char *s) {
    if (!tab || !s) return -1;
    uint64_t h = hash_str(s) & (uint64_t)(cap - 1);
    while (tab[h]) {
        const char *o = *(const char *const *)((const char *)names + (size_t)(tab[h] - 1) * stride);
        if (!strcmp(o, s)) return tab[h] - 1;
        h = (h + 1) & (uint64_t)(cap - 1);
    }
    return -1;
}

static int parse(const uint8_t *buf, size_t len, it_gguf *g, it_err *e) {
    rd r = {buf, len, 0, e, ""};
    uint32_t magic, version;
    uint64_t n_tensors, n_kv;
    int st;
    if (len < 4) return it_fail(e, INGOT_ERR_FORMAT, "not a GGUF file: %zu bytes", len);
    if ((st = rd_u32(&r, &magic, "magic"))) return st;
    if (magic != IT_GGUF_MAGIC) return it_fail(e, INGOT_ERR_FORMAT, "not a GGUF file (bad magic at byte 0)");
    if ((st = rd_u32(&r, &version, "version"))) return st;
    if (version == 1) return it_fail(e, INGOT_ERR_UNSUPPORTED, "GGUF version 1 is not supported (version at byte 4)");
    if (version != 2 && version != 3) {
        if ((version & 0xffff) == 0)
            return it_fail(e, INGOT_ERR_UNSUPPORTED, "big-endian GGUF files are not supported (version at byte 4)");
        return it_fail(e, INGOT_ERR_UNSUPPORTED, "unsupported GGUF version %u at byte 4", version);
    }
    g->version = version;
    if ((st = rd_u64(&r, &n_tensors, "tensor count")) || (st = rd_u64(&r, &n_kv, "metadata count"))) return st;
    /* a key/value pair takes at least 13 bytes, a tensor info at least 24 */
    if (n_kv > left(&r) / 13)
        return it_fail(e, INGOT_ERR_FORMAT, "metadata count %llu at byte 16: more than the file can hold (%zu bytes)",
                       (unsigned long long)n_kv, len);
    if (n_tensors > left(&r) / 24)
        return it_fail(e, INGOT_ERR_FORMAT, "tensor count %llu at byte 8: more than the file can hold (%zu bytes)",
                       (unsigned long long)n_tensors, len);
    g->kv = calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");

    char what[160];
    for (uint64_t i = 0; i < n_kv; i++) {
        size_t at = r.pos;
        const uint8_t *k;
        uint64_t kl;
        uint32_t type;
        snprintf(what, sizeof what, "metadata entry %llu", (unsigned long long)i);
        r.what = what;
        if ((st = rd_str(&r, &k, &kl, "key"))) return st;
        if (kl > IT_LIMIT_STRING)
            return it_fail(e, INGOT_ERR_LIMIT, "metadata key at byte %zu: %llu bytes long", at, (unsigned long long)kl);
        it_gguf_kv *kv = &g->kv[i];
        kv->key = it_arena_strdup(&g->arena, (const char *)k, (size_t)kl);
        if (!kv->key) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
        snprintf(what, sizeof what, "key '%.100s'", kv->key);
        if ((st = rd_u32(&r, &type, "value type"))) return st;
        if ((st = parse_val(&r, type, 0, &kv->v))) return st;
        g->n_kv = (int64_t)i + 1;
    }
    int64_t dup;
    if (hash_build(&g->kv[0].key, sizeof(it_gguf_kv), g->n_kv, &g->khash, &g->khash_cap, &dup))
        return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    if (dup >= 0)
        return it_fail(e, INGOT_ERR_FORMAT, "key '%.100s' at byte %zu: duplicate key", g->kv[dup].key, g->kv[dup].v.offset);

    g->alignment = IT_GGUF_DEFAULT_ALIGNMENT;
    int64_t ka = it_gguf_find_key(g, "general.alignment");
    if (ka >= 0) {
        const it_gguf_val *v = &g->kv[ka].v;
        if (v->type != IT_GGUF_U32)
            return it_fail(e, INGOT_ERR_FORMAT, "key 'general.alignment' at byte %zu: type %s, expected u32", v->offset,
                           TYPE_NAMES[v->type]);
        uint32_t a = rd32(v->p);
        if (a == 0 || (a & (a - 1)))
            return it_fail(e, INGOT_ERR_FORMAT, "key 'general.alignment' at byte %zu: %u is not a power of two", v->offset, a);
        if (a > IT_GGUF_MAX_ALIGNMENT)
            return it_fail(e, INGOT_ERR_LIMIT, "key 'general.alignment' at byte %zu: %u is above the limit of %u", v->offset, a,
                           IT_GGUF_MAX_ALIGNMENT);
        g->alignment = a;
    }

    for (uint64_t i = 0; i < n_tensors; i++) {
        it_gguf_tensor *t = &g->tensors[i];
        const uint8_t *nm;
        uint64_t nl, d, off;
        uint32_t nd, type;
        t->info_offset = r.pos;
        snprintf(what, sizeof what, "tensor info %llu", (unsigned long long)i);
        r.what = what;
        if ((st = rd_str(&r, &nm, &nl, "name"))) return st;
        if (nl > IT_LIMIT_STRING)
            return it_fail(e, INGOT_ERR_LIMIT, "tensor info %llu at byte %zu: name is %llu bytes long", (unsigned long long)i,
                           t->info_offset, (unsigned long long)nl);
        t->name = it_arena_strdup(&g->arena, (const char *)nm, (size_t)nl);
        if (!t->name) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
        snprintf(what, sizeof what, "tensor '%.100s'", t->name);
        if ((st = rd_u32(&r, &nd, "dim count"))) return st;
        if (nd > IT_MAX_DIMS)
            return it_fail(e, INGOT_ERR_LIMIT, "tensor '%.100s' at byte %zu: %u dims (at most %d)", t->name, t->info_offset,
                           nd, IT_MAX_DIMS);
        t->ndim = (int32_t)nd;
        int64_t count = 1;
        for (int k = 0; k < IT_MAX_DIMS; k++) t->ne[k] = 1;
        for (uint32_t k = 0; k < nd; k++) {
            if ((st = rd_u64(&r, &d, "dim"))) return st;
            if (d > (uint64_t)IT_LIMIT_ELEMENTS || !it_mul_ok(count, (int64_t)d, &count) || count > IT_LIMIT_ELEMENTS)
                return it_fail(e, INGOT_ERR_LIMIT, "tensor '%.100s' at byte %zu: dim %u = %llu exceeds the element limit",
                               t->name, t->info_offset, k, (unsigned long long)d);
            t->ne[k] = (int64_t)d;
        }
        if ((st = rd_u32(&r, &type, "type")) || (st = rd_u64(&r, &off, "data offset"))) return st;
        if (!it_ggml_type_name(type))
            return it_fail(e, INGOT_ERR_UNSUPPORTED, "tensor '%.100s' at byte %zu: unknown ggml type %u", t->name,
                           t->info_offset, type);
        t->type = type;
        t->offset = off;
        int64_t row = it_ggml_row_bytes(type, t->ne[0]), nbytes = row;
        if (row < 0)
            return it_fail(e, INGOT_ERR_FORMAT, "tensor '%.100s' at byte %zu: row length %lld is not a multiple of the %s block size %lld",
                           t->name, t->info_offset, (long long)t->ne[0], it_ggml_type_name(type),
                           (long long)it_ggml_block_size(type));
        for (int k = 1; k < t->ndim; k++)
            if (!it_mul_ok(nbytes, t->ne[k], &nbytes)) nbytes = -1;
        if (nbytes < 0 || nbytes > IT_LIMIT_TENSOR_BYTES)
            return it_fail(e, INGOT_ERR_LIMIT, "tensor '%.100s' at byte %zu: data size exceeds the tensor limit", t->name,
                           t->info_offset);
        t->nbytes = (uint64_t)nbytes;
        g->n_tensors = (int64_t)i + 1;
    }
    if (hash_build(&g->tensors[0].name, sizeof(it_gguf_tensor), g->n_tensors, &g->thash, &g->thash_cap, &dup))
        return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    if (dup >= 0)
        return it_fail(e, INGOT_ERR_FORMAT, "tensor '%.100s' at byte %zu: duplicate tensor name", g->tensors[dup].name,
                       g->tensors[dup].info_offset);

    g->data_offset = it_align_up(r.pos, g->alignment);
    if (g->data_offset < r.pos) return it_fail(e, INGOT_ERR_FORMAT, "data section offset overflows");
    for (int64_t i = 0; i < g->n_tensors; i++) {
        it_gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment)
            return it_fail(e, INGOT_ERR_FORMAT, "tensor '%.100s' at byte %zu: data offset %llu is not a multiple of the alignment %u",
                           t->name, t->info_offset, (unsigned long long)t->offset, g->alignment);
        if (g->data_offset > len || t->offset > len - g->data_offset || t->nbytes > len - g->data_offset - t->offset)
            return it_fail(e, INGOT_ERR_FORMAT,
                           "tensor '%.100s' at byte %zu: data past end of file (offset %llu + %llu bytes, data section at %zu, file %zu bytes)",
                           t->name, t->info_offset, (unsigned long long)t->offset, (unsigned long long)t->nbytes,
                           g->data_offset, len);
        t->data = buf + g->data_offset + t->offset;
    }
    return 0;
}

int it_gguf_parse(const void *buf, size_t len, it_gguf *g, it_err *e) {
    memset(g, 0, sizeof *g);
    it_arena_init(&g->arena, 1 << 16);
    g->buf = (const uint8_t *)buf;
    g->len = len;
    if (!buf && len) return it_fail(e, INGOT_ERR_INVALID_ARG, "NULL buffer");
    int st = parse((const uint8_t *)buf, len, g, e);
    if (st) {
        it_gguf_free(g);
        it_arena_init(&g->arena, 1 << 16);
    }
    return st;
}

int it_gguf_open(const char *path, it_gguf *g, it_err *e) {
    void *addr = NULL;
    size_t len = 0;
    memset(g, 0, sizeof *g);
    int st = it_map_file(path, &addr, &len, e);
    if (st) return st;
    st = it_gguf_parse(addr, len, g, e);
    if (st) {
        it_unmap(addr, len);
        if (e) {
            char tmp[sizeof e->msg];
            memcpy(tmp, e->msg, sizeof tmp);
            size_t pl = strlen(path);
            if (pl > 200) pl = 200;
            memcpy(e->msg, path, pl);
            e->msg[pl] = ':';
            e->msg[pl + 1] = ' ';
            size_t rest = sizeof e->msg - pl - 3;
            memcpy(e->msg + pl + 2, tmp, rest);
            e->msg[sizeof e->msg - 1] = 0;
        }
        return st;
    }
    g->map = addr;
    g->map_len = len;
    return 0;
}

void it_gguf_free(it_gguf *g) {
    if (!g) return;
    if (g->kv)
        for (int64_t i = 0; i < g->n_kv; i++) free(g->kv[i].elem_off);
    free(g->kv);
    free(g->tensors);
    free(g->khash);
    free(g->thash);
    it_arena_free(&g->arena);
    if (g->map) it_unmap(g->map, g->map_len);
    memset(g, 0, sizeof *g);
}

/* ---- accessors ---- */

int64_t it_gguf_find_key(const it_gguf *g, const char *key) {
    if (!g || !g->kv) return -1;
    return hash_find(g->khash, g->khash_cap, &g->kv[0].key, sizeof(it_gguf_kv), key);
}

const it_gguf_val *it_gguf_value(const it_gguf *g, int64_t k) {
    return g && k >= 0 && k < g->n_kv ? &g->kv[k].v : NULL;
}

int it_gguf_val_int(const it_gguf_val *v, int64_t *out) {
    switch (v->type) {
    case IT_GGUF_U8: *out = v->p[0]; return 0;
    case IT_GGUF_I8: *out = (int8_t)v->p[0]; return 0;
    case IT_GGUF_BOOL: *out = v->p[0] != 0; return 0;
    case IT_GGUF_U16: *out = (uint16_t)(v->p[0] | (v->p[1] << 8)); return 0;
    case IT_GGUF_I16: *out = (int16_t)(uint16_t)(v->p[0] | (v->p[1] << 8)); return 0;
    case IT_GGUF_U32: *out = rd32(v->p); return 0;
    case IT_GGUF_I32: *out = (int32_t)rd32(v->p); return 0;
    case IT_GGUF_I64: *out = (int64_t)rd64(v->p); return 0;
    case IT_GGUF_U64: {
        uint64_t u = rd64(v->p);
        if (u > (uint64_t)INT64_MAX) return INGOT_ERR_LIMIT;
        *out = (int64_t)u;
        return 0;
    }
    default: return INGOT_ERR_FORMAT;
    }
}

int it_gguf_val_float(const it_gguf_val *v, double *out) {
    if (v->type == IT_GGUF_F32) {
        uint32_t b = rd32(v->p);
        float f;
        memcpy(&f, &b, 4);
        *out = f;
        return 0;
    }
    if (v->type == IT_GGUF_F64) {
        uint64_t b = rd64(v->p);
        memcpy(out, &b, 8);
        return 0;
    }
    int64_t i;
    if (v->type != IT_GGUF_BOOL && it_gguf_val_int(v, &i) == 0) {
        *out = (double)i;
        return 0;
    }
    return INGOT_ERR_FORMAT;
}

static const it_gguf_val *lookup(const it_gguf *g, const char *key, it_err *e, int *st) {
    int64_t k = it_gguf_find_key(g, key);
    if (k < 0) {
        *st = it_fail(e, INGOT_ERR_NOT_FOUND, "key '%s' not found", key);
        return NULL;
    }
    *st = 0;
    return &g->kv[k].v;
}

static int wrong_type(it_err *e, const char *key, const it_gguf_val *v, const char *want) {
    return it_fail(e, INGOT_ERR_FORMAT, "key '%s' at byte %zu: type %s, expected %s", key, v->offset, TYPE_NAMES[v->type],
                   want);
}

int it_gguf_get_int(const it_gguf *g, const char *key, int64_t *out, it_err *e) {
    int st;
    const it_gguf_val *v = lookup(g, key, e, &st);
    if (!v) return st;
    if (v->type == IT_GGUF_BOOL) return wrong_type(e, key, v, "an integer");
    st = it_gguf_val_int(v, out);
    if (st == INGOT_ERR_LIMIT)
        return it_fail(e, INGOT_ERR_LIMIT, "key '%s' at byte %zu: value does not fit in int64", key, v->offset);
    if (st) return wrong_type(e, key, v, "an integer");
    return 0;
}

int it_gguf_get_float(const it_gguf *g, const char *key, double *out, it_err *e) {
    int st;
    const it_gguf_val *v = lookup(g, key, e, &st);
    if (!v) return st;
    if (it_gguf_val_float(v, out)) return wrong_type(e, key, v, "a number");
    return 0;
}

int it_gguf_get_bool(const it_gguf *g, const char *key, int *out, it_err *e) {
    int st;
    const it_gguf_val *v = lookup(g, key, e, &st);
    if (!v) return st;
    if (v->type != IT_GGUF_BOOL) return wrong_type(e, key, v, "bool");
    *out = v->p[0] != 0;
    return 0;
}

int it_gguf_get_str(const it_gguf *g, const char *key, const char **s, uint64_t *len, it_err *e) {
    int st;
    const it_gguf_val *v = lookup(g, key, e, &st);
    if (!v) return st;
    if (v->type != IT_GGUF_STRING) return wrong_type(e, key, v, "string");
    *s = (const char *)v->p;
    *len = v->n;
    return 0;
}

int it_gguf_get_arr(const it_gguf *g, const char *key, int elem_type, it_gguf_val *out, it_err *e) {
    int st;
    const it_gguf_val *v = lookup(g, key, e, &st);
    if (!v) return st;
    if (v->type != IT_GGUF_ARRAY) return wrong_type(e, key, v, "array");
    if (elem_type >= 0 && v->arr_type != (uint32_t)elem_type)
        return it_fail(e, INGOT_ERR_FORMAT, "key '%s' at byte %zu: array of %s, expected array of %s", key, v->offset,
                       TYPE_NAMES[v->arr_type], it_gguf_type_name((uint32_t)elem_type));
    *out = *v;
    return 0;
}

static void elem_at(const it_gguf_val *arr, const uint8_t *q, it_gguf_val *out) {
    memset(out, 0, sizeof *out);
    out->type = arr->arr_type;
    out->raw = q;
    out->offset = arr->offset + (size_t)(q - arr->raw);
    if (arr->arr_type == IT_GGUF_STRING) {
        out->n = rd64(q);
        out->p = q + 8;
        out->raw_size = 8 + out->n;
    } else if (arr->arr_type == IT_GGUF_ARRAY) {
        out->arr_type = rd32(q);
        out->n = rd64(q + 4);
        out->p = q + 12;
        out->raw_size = val_size(q, IT_GGUF_ARRAY);
    } else {
        out->n = 1;
        out->p = q;
        out->raw_size = TYPE_SIZES[arr->arr_type];
    }
}

int it_gguf_val_elem(const it_gguf_val *arr, uint64_t i, it_gguf_val *out) {
    if (!arr || arr->type != IT_GGUF_ARRAY || i >= arr->n) return INGOT_ERR_INVALID_ARG;
    const uint8_t *q = arr->p;
    size_t esz = TYPE_SIZES[arr->arr_type];
    if (esz) q += i * esz;
    else
        for (uint64_t k = 0; k < i; k++) q += val_size(q, arr->arr_type);
    elem_at(arr, q, out);
    return 0;
}

int it_gguf_kv_elem(it_gguf *g, int64_t k, uint64_t i, it_gguf_val *out, it_err *e) {
    if (!g || k < 0 || k >= g->n_kv) return it_fail(e, INGOT_ERR_INVALID_ARG, "no metadata entry %lld", (long long)k);
    it_gguf_kv *kv = &g->kv[k];
    const it_gguf_val *arr = &kv->v;
    if (arr->type != IT_GGUF_ARRAY) return wrong_type(e, kv->key, arr, "array");
    if (i >= arr->n)
        return it_fail(e, INGOT_ERR_INVALID_ARG, "key '%s': index %llu out of range (%llu elements)", kv->key,
                       (unsigned long long)i, (unsigned long long)arr->n);
    if (TYPE_SIZES[arr->arr_type]) {
        elem_at(arr, arr->p + i * TYPE_SIZES[arr->arr_type], out);
        return 0;
    }
    if (!kv->elem_off) {
        uint64_t *off = malloc((size_t)arr->n * sizeof *off);
        if (!off) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
        uint64_t pos = 0;
        for (uint64_t j = 0; j < arr->n; j++) {
            off[j] = pos;
            pos += val_size(arr->p + pos, arr->arr_type);
        }
        kv->elem_off = off;
    }
    elem_at(arr, arr->p + kv->elem_off[i], out);
    return 0;
}

int it_gguf_kv_str(it_gguf *g, int64_t k, uint64_t i, const char **s, uint64_t *len, it_err *e) {
    it_gguf_val v;
    int st = it_gguf_kv_elem(g, k, i, &v, e);
    if (st) return st;
    if (v.type != IT_GGUF_STRING) return wrong_type(e, g->kv[k].key, &v, "string");
    *s = (const char *)v.p;
    *len = v.n;
    return 0;
}

int64_t it_gguf_find_tensor(const it_gguf *g, const char *name) {
    if (!g || !g->tensors) return -1;
    return hash_find(g->thash, g->thash_cap, &g->tensors[0].name, sizeof(it_gguf_tensor), name);
}

const it_gguf_tensor *it_gguf_tensor_get(const it_gguf *g, const char *name) {
    int64_t i = it_gguf_find_tensor(g, name);
    return i >= 0 ? &g->tensors[i] : NULL;
}

/* ======================= writer ======================= */

typedef struct wkv {
    char *key;
    uint32_t type;
    uint8_t *val;
    size_t size;
} wkv;

typedef struct wtensor {
    char *name;
    uint32_t type;
    int ndim;
    int64_t ne[4];
    const void *data;
    uint64_t nbytes;
} wtensor;

struct it_gguf_writer {
    wkv *kv;
    int64_t n_kv, cap_kv;
    wtensor *t;
    int64_t n_t, cap_t;
};

it_gguf_writer *it_gguf_writer_create(void) { return calloc(1, sizeof(it_gguf_writer)); }

void it_gguf_writer_free(it_gguf_writer *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (int64_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

void it_gguf_w_remove(it_gguf_writer *w, const char *key) {
    for (int64_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, key)) {
            free(w->kv[i].key);
            free(w->kv[i].val);
            memmove(&w->kv[i], &w->kv[i + 1], (size_t)(w->n_kv - i - 1) * sizeof *w->kv);
            w->n_kv--;
            return;
        }
}

/* Takes ownership of val (freed on failure too). */
static int add_kv(it_gguf_writer *w, const char *key, uint32_t type, uint8_t *val, size_t size, it_err *e) {
    if (!w || !key) { free(val); return it_fail(e, INGOT_ERR_INVALID_ARG, "NULL writer or key"); }
    for (int64_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, key)) {
            free(val);
            return it_fail(e, INGOT_ERR_INVALID_ARG, "duplicate key '%s'", key);
        }
    if (!strcmp(key, "general.alignment")) {
        uint32_t a = size == 4 ? rd32(val) : 0;
        if (type != IT_GGUF_U32 || a == 0 || (a & (a - 1)) || a > IT_GGUF_MAX_ALIGNMENT) {
            free(val);
            return it_fail(e, INGOT_ERR_INVALID_ARG, "general.alignment must be a u32 power of two up to %u", IT_GGUF_MAX_ALIGNMENT);
        }
    }
    if (w->n_kv == w->cap_kv) {
        int64_t c = w->cap_kv ? 2 * w->cap_kv : 32;
        wkv *n = realloc(w->kv, (size_t)c * sizeof *n);
        if (!n) { free(val); return it_fail(e, INGOT_ERR_NOMEM, "out of memory"); }
        w->kv = n;
        w->cap_kv = c;
    }
    char *k = strdup(key);
    if (!k) { free(val); return it_fail(e, INGOT_ERR_NOMEM, "out of memory"); }
    w->kv[w->n_kv++] = (wkv){k, type, val, size};
    return 0;
}

static int add_scalar(it_gguf_writer *w, const char *key, uint32_t type, const void *v, it_err *e) {
    size_t n = TYPE_SIZES[type];
    uint8_t *b = malloc(n);
    if (!b) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    memcpy(b, v, n); /* little-endian host */
    return add_kv(w, key, type, b, n, e);
}

int it_gguf_w_u8(it_gguf_writer *w, const char *key, uint8_t v, it_err *e) { return add_scalar(w, key, IT_GGUF_U8, &v, e); }
int it_gguf_w_i8(it_gguf_writer *w, const char *key, int8_t v, it_err *e) { return add_scalar(w, key, IT_GGUF_I8, &v, e); }
int it_gguf_w_u16(it_gguf_writer *w, const char *key, uint16_t v, it_err *e) { return add_scalar(w, key, IT_GGUF_U16, &v, e); }
int it_gguf_w_i16(it_gguf_writer *w, const char *key, int16_t v, it_err *e) { return add_scalar(w, key, IT_GGUF_I16, &v, e); }
int it_gguf_w_u32(it_gguf_writer *w, const char *key, uint32_t v, it_err *e) { return add_scalar(w, key, IT_GGUF_U32, &v, e); }
int it_gguf_w_i32(it_gguf_writer *w, const char *key, int32_t v, it_err *e) { return add_scalar(w, key, IT_GGUF_I32, &v, e); }
int it_gguf_w_u64(it_gguf_writer *w, const char *key, uint64_t v, it_err *e) { return add_scalar(w, key, IT_GGUF_U64, &v, e); }
int it_gguf_w_i64(it_gguf_writer *w, const char *key, int64_t v, it_err *e) { return add_scalar(w, key, IT_GGUF_I64, &v, e); }
int it_gguf_w_f32(it_gguf_writer *w, const char *key, float v, it_err *e) { return add_scalar(w, key, IT_GGUF_F32, &v, e); }
int it_gguf_w_f64(it_gguf_writer *w, const char *key, double v, it_err *e) { return add_scalar(w, key, IT_GGUF_F64, &v, e); }
int it_gguf_w_bool(it_gguf_writer *w, const char *key, int v, it_err *e) {
    uint8_t b = v != 0;
    return add_scalar(w, key, IT_GGUF_BOOL, &b, e);
}

static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

int it_gguf_w_str(it_gguf_writer *w, const char *key, const char *s, size_t len, it_err *e) {
    uint8_t *b = malloc(8 + len);
    if (!b) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    put64(b, len);
    if (len) memcpy(b + 8, s, len);
    return add_kv(w, key, IT_GGUF_STRING, b, 8 + len, e);
}

int it_gguf_w_arr(it_gguf_writer *w, const char *key, uint32_t elem_type, const void *data, uint64_t n, it_err *e) {
    size_t esz = it_gguf_type_size(elem_type);
    if (!esz) return it_fail(e, INGOT_ERR_INVALID_ARG, "key '%s': array element type %u is not fixed-size", key, elem_type);
    if (n > (SIZE_MAX - 12) / esz) return it_fail(e, INGOT_ERR_LIMIT, "key '%s': array too large", key);
    uint8_t *b = malloc(12 + (size_t)n * esz);
    if (!b) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    put32(b, elem_type);
    put64(b + 4, n);
    if (n) memcpy(b + 12, data, (size_t)n * esz);
    return add_kv(w, key, IT_GGUF_ARRAY, b, 12 + (size_t)n * esz, e);
}

int it_gguf_w_arr_str(it_gguf_writer *w, const char *key, const char *const *s, const size_t *lens, uint64_t n,
                      it_err *e) {
    size_t total = 12;
    for (uint64_t i = 0; i < n; i++) {
        size_t l = lens ? lens[i] : strlen(s[i]);
        if (l > SIZE_MAX / 2 || total > SIZE_MAX / 2 - l - 8) return it_fail(e, INGOT_ERR_LIMIT, "key '%s': array too large", key);
        total += 8 + l;
    }
    uint8_t *b = malloc(total), *q;
    if (!b) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    put32(b, IT_GGUF_STRING);
    put64(b + 4, n);
    q = b + 12;
    for (uint64_t i = 0; i < n; i++) {
        size_t l = lens ? lens[i] : strlen(s[i]);
        put64(q, l);
        if (l) memcpy(q + 8, s[i], l);
        q += 8 + l;
    }
    return add_kv(w, key, IT_GGUF_ARRAY, b, total, e);
}

int it_gguf_w_raw(it_gguf_writer *w, const char *key, uint32_t type, const void *raw, size_t raw_size, it_err *e) {
    rd r = {(const uint8_t *)raw, raw_size, 0, e, "value"};
    if (!raw && raw_size) return it_fail(e, INGOT_ERR_INVALID_ARG, "NULL value");
    int st = parse_val(&r, type, 0, NULL);
    if (st) return st;
    if (r.pos != raw_size) return it_fail(e, INGOT_ERR_INVALID_ARG, "key '%s': %zu trailing bytes after the value", key, raw_size - r.pos);
    uint8_t *b = malloc(raw_size ? raw_size : 1);
    if (!b) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    if (raw_size) memcpy(b, raw, raw_size);
    return add_kv(w, key, type, b, raw_size, e);
}

int it_gguf_w_val(it_gguf_writer *w, const char *key, const it_gguf_val *v, it_err *e) {
    return it_gguf_w_raw(w, key, v->type, v->raw, (size_t)v->raw_size, e);
}

int it_gguf_w_tensor(it_gguf_writer *w, const char *name, uint32_t ggml_type, int ndim, const int64_t *ne,
                     const void *data, it_err *e) {
    if (!w || !name) return it_fail(e, INGOT_ERR_INVALID_ARG, "NULL writer or name");
    size_t nl = strlen(name);
    if (nl == 0 || nl >= IT_GGUF_MAX_NAME)
        return it_fail(e, INGOT_ERR_INVALID_ARG, "tensor name '%s' must have 1 to %d bytes", name, IT_GGUF_MAX_NAME - 1);
    if (ndim < 1 || ndim > 4) return it_fail(e, INGOT_ERR_INVALID_ARG, "tensor '%s': %d dims (1 to 4)", name, ndim);
    if (!it_ggml_type_name(ggml_type)) return it_fail(e, INGOT_ERR_INVALID_ARG, "tensor '%s': unknown ggml type %u", name, ggml_type);
    int64_t nbytes = it_ggml_row_bytes(ggml_type, ne[0]);
    if (nbytes < 0)
        return it_fail(e, INGOT_ERR_INVALID_ARG, "tensor '%s': row length %lld is not a multiple of the %s block size", name,
                       (long long)ne[0], it_ggml_type_name(ggml_type));
    for (int k = 1; k < ndim; k++)
        if (ne[k] < 0 || !it_mul_ok(nbytes, ne[k], &nbytes)) return it_fail(e, INGOT_ERR_LIMIT, "tensor '%s': size overflows", name);
    if (nbytes > IT_LIMIT_TENSOR_BYTES) return it_fail(e, INGOT_ERR_LIMIT, "tensor '%s': too large", name);
    for (int64_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name)) return it_fail(e, INGOT_ERR_INVALID_ARG, "duplicate tensor '%s'", name);
    if (w->n_t == w->cap_t) {
        int64_t c = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *n = realloc(w->t, (size_t)c * sizeof *n);
        if (!n) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
        w->t = n;
        w->cap_t = c;
    }
    wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    t->type = ggml_type;
    t->ndim = ndim;
    for (int k = 0; k < 4; k++) t->ne[k] = k < ndim ? ne[k] : 1;
    t->data = data;
    t->nbytes = (uint64_t)nbytes;
    w->n_t++;
    return 0;
}

int64_t it_gguf_w_tensor_count(const it_gguf_writer *w) { return w ? w->n_t : 0; }

static int put(FILE *f, const void *p, size_t n, it_err *e) {
    if (n && fwrite(p, 1, n, f) != n) return it_fail(e, INGOT_ERR_IO, "write failed: %s", strerror(errno));
    return 0;
}

static int put_u32(FILE *f, uint32_t v, it_err *e) {
    uint8_t b[4];
    put32(b, v);
    return put(f, b, 4, e);
}

static int put_u64(FILE *f, uint64_t v, it_err *e) {
    uint8_t b[8];
    put64(b, v);
    return put(f, b, 8, e);
}

static int put_pad(FILE *f, uint64_t *pos, uint32_t align, it_err *e) {
    static const uint8_t zeros[256];
    uint64_t target = (*pos + align - 1) / align * align;
    while (*pos < target) {
        size_t n = (size_t)(target - *pos > sizeof zeros ? sizeof zeros : target - *pos);
        int st = put(f, zeros, n, e);
        if (st) return st;
        *pos += n;
    }
    return 0;
}

int it_gguf_w_write_stream(it_gguf_writer *w, FILE *f, it_gguf_fill_fn fill, void *ud, it_err *e) {
    uint32_t align = IT_GGUF_DEFAULT_ALIGNMENT;
    int st;
    for (int64_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, "general.alignment")) align = rd32(w->kv[i].val);
    uint64_t pos = 0;
    if ((st = put_u32(f, IT_GGUF_MAGIC, e)) || (st = put_u32(f, 3, e)) || (st = put_u64(f, (uint64_t)w->n_t, e)) ||
        (st = put_u64(f, (uint64_t)w->n_kv, e)))
        return st;
    pos = 24;
    for (int64_t i = 0; i < w->n_kv; i++) {
        const wkv *kv = &w->kv[i];
        size_t kl = strlen(kv->key);
        if ((st = put_u64(f, kl, e)) || (st = put(f, kv->key, kl, e)) || (st = put_u32(f, kv->type, e)) ||
            (st = put(f, kv->val, kv->size, e)))
            return st;
        pos += 8 + kl + 4 + kv->size;
    }
    uint64_t off = 0;
    for (int64_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        size_t nl = strlen(t->name);
        if ((st = put_u64(f, nl, e)) || (st = put(f, t->name, nl, e)) || (st = put_u32(f, (uint32_t)t->ndim, e))) return st;
        for (int k = 0; k < t->ndim; k++)
            if ((st = put_u64(f, (uint64_t)t->ne[k], e))) return st;
        if ((st = put_u32(f, t->type, e)) || (st = put_u64(f, off, e))) return st;
        pos += 8 + nl + 4 + 8 * (uint64_t)t->ndim + 4 + 8;
        off += (t->nbytes + align - 1) / align * align;
    }
    if ((st = put_pad(f, &pos, align, e))) return st;
    for (int64_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        if (t->data) {
            st = put(f, t->data, (size_t)t->nbytes, e);
        } else {
            if (!fill) return it_fail(e, INGOT_ERR_INVALID_ARG, "tensor '%s' has no data and no fill callback", t->name);
            void *buf = malloc(t->nbytes ? (size_t)t->nbytes : 1);
            if (!buf) return it_fail(e, INGOT_ERR_NOMEM, "out of memory for tensor '%s'", t->name);
            st = fill(ud, i, buf, (size_t)t->nbytes, e);
            if (!st) st = put(f, buf, (size_t)t->nbytes, e);
            free(buf);
        }
        if (st) return st;
        pos += t->nbytes;
        if ((st = put_pad(f, &pos, align, e))) return st;
    }
    if (fflush(f)) return it_fail(e, INGOT_ERR_IO, "write failed: %s", strerror(errno));
    return 0;
}

int it_gguf_w_write_file(it_gguf_writer *w, const char *path, it_gguf_fill_fn fill, void *ud, it_err *e) {
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 8);
    if (!tmp) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    snprintf(tmp, pl + 8, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int st = it_fail(e, INGOT_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    int st = it_gguf_w_write_stream(w, f, fill, ud, e);
    if (fclose(f) && !st) st = it_fail(e, INGOT_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    if (!st && rename(tmp, path)) st = it_fail(e, INGOT_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    if (st) remove(tmp);
    free(tmp);
    return st;
}

int it_gguf_w_write_mem(it_gguf_writer *w, uint8_t **out, size_t *len, it_gguf_fill_fn fill, void *ud, it_err *e) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    int st = it_gguf_w_write_stream(w, f, fill, ud, e);
    fclose(f);
    if (st) {
        free(buf);
        return st;
    }
    *out = (uint8_t *)buf;
    *len = n;
    return 0;
}
