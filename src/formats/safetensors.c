/*
 * safetensors.c: the zero-copy .safetensors reader of safetensors.h (single files and folders
 * of shards). The JSON header is parsed by formats/json.c; tensor records are validated one by
 * one (dtype, shape, element count, byte range) and then checked pairwise for overlap after a
 * sort by begin offset. Byte offsets in messages are file offsets: the header's JSON starts at
 * byte 8, tensor data at 8 + header length.
 */
#include "formats/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/json.h"
#include "formats/onnx/onnx.h" /* it_map_file */
#include "tensor/tensor.h"     /* f16 / bf16 conversions */

static const struct {
    const char *name;
    size_t size;
} st_dtypes[IT_ST_DTYPE_COUNT] = {
    [IT_ST_BOOL] = {"BOOL", 1}, [IT_ST_U8] = {"U8", 1},     [IT_ST_I8] = {"I8", 1},
    [IT_ST_F8_E4M3] = {"F8_E4M3", 1}, [IT_ST_F8_E5M2] = {"F8_E5M2", 1}, [IT_ST_I16] = {"I16", 2},
    [IT_ST_U16] = {"U16", 2}, [IT_ST_F16] = {"F16", 2},    [IT_ST_BF16] = {"BF16", 2},
    [IT_ST_I32] = {"I32", 4}, [IT_ST_U32] = {"U32", 4},    [IT_ST_F32] = {"F32", 4},
    [IT_ST_I64] = {"I64", 8}, [IT_ST_U64] = {"U64", 8},    [IT_ST_F64] = {"F64", 8},
};

const char *it_st_dtype_name(int dtype) {
    return dtype >= 0 && dtype < IT_ST_DTYPE_COUNT ? st_dtypes[dtype].name : "?";
}
size_t it_st_dtype_size(int dtype) { return dtype >= 0 && dtype < IT_ST_DTYPE_COUNT ? st_dtypes[dtype].size : 0; }

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Insert tensor i into the hash; returns the index of an existing tensor of the same name, or -1. */
static int64_t hash_insert(it_safetensors *st, int64_t i) {
    uint64_t m = (uint64_t)st->hash_cap - 1;
    uint64_t h = name_hash(st->tensors[i].name) & m;
    while (st->hash[h]) {
        int64_t o = st->hash[h] - 1;
        if (!strcmp(st->tensors[o].name, st->tensors[i].name)) return o;
        h = (h + 1) & m;
    }
    st->hash[h] = i + 1;
    return -1;
}

static int cmp_begin(const void *a, const void *b) {
    const it_st_tensor *x = *(const it_st_tensor *const *)a, *y = *(const it_st_tensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

/* Parse one shard's header and append its tensors to st (capacity grown here). */
static int parse_shard(it_safetensors *st, int shard, const char *what, it_err *e) {
    it_st_shard *sh = &st->shards[shard];
    const uint8_t *buf = sh->buf;
    size_t len = sh->len;
    int rc = 0;
    it_json_doc doc;
    memset(&doc, 0, sizeof doc);
    it_st_tensor **sorted = NULL;
    if (len < 8) return it_fail(e, INGOT_ERR_FORMAT, "%s: %zu bytes, too short for a safetensors header", what, len);
    uint64_t hl = 0;
    for (int k = 7; k >= 0; k--) hl = (hl << 8) | buf[k];
    if (hl > IT_ST_MAX_HEADER)
        return it_fail(e, INGOT_ERR_LIMIT, "%s: header length %llu at byte 0 exceeds the limit %llu", what,
                       (unsigned long long)hl, (unsigned long long)IT_ST_MAX_HEADER);
    if (hl < 2 || hl > len - 8)
        return it_fail(e, INGOT_ERR_FORMAT, "%s: header length %llu at byte 0 does not fit the file (%zu bytes)", what,
                       (unsigned long long)hl, len);
    sh->data_offset = 8 + (size_t)hl;
    uint64_t data_len = len - sh->data_offset;
    char jwhat[300];
    snprintf(jwhat, sizeof jwhat, "%s: header", what);
    if ((rc = it_json_parse_at((const char *)buf + 8, (size_t)hl, jwhat, 8, &doc, e))) return rc;
    const it_json *root = doc.root;
    if (root->type != IT_JSON_OBJECT) {
        rc = it_fail(e, INGOT_ERR_FORMAT, "%s: the header at byte 8 is not a JSON object", what);
        goto done;
    }
    int64_t need = st->n_tensors + root->n;
    it_st_tensor *nt = realloc(st->tensors, (size_t)(need ? need : 1) * sizeof *nt);
    if (!nt) {
        rc = it_fail(e, INGOT_ERR_NOMEM, "%s: out of memory", what);
        goto done;
    }
    st->tensors = nt;
    int64_t first = st->n_tensors;
    for (const it_json *v = root->child; v; v = v->next) {
        size_t at = 8 + v->off;
        if (!strcmp(v->key, "__metadata__") && v->key_len == 12) {
            if (v->type != IT_JSON_OBJECT) {
                rc = it_fail(e, INGOT_ERR_FORMAT, "%s: __metadata__ at byte %zu is not an object", what, at);
                goto done;
            }
            if (shard != 0) continue;
            st->meta_keys = it_arena_alloc(&st->arena, (size_t)(v->n + 1) * sizeof(char *));
            st->meta_vals = it_arena_alloc(&st->arena, (size_t)(v->n + 1) * sizeof(char *));
            if (!st->meta_keys || !st->meta_vals) {
                rc = it_fail(e, INGOT_ERR_NOMEM, "%s: out of memory", what);
                goto done;
            }
            for (const it_json *m = v->child; m; m = m->next) {
                if (m->type != IT_JSON_STRING) {
                    rc = it_fail(e, INGOT_ERR_FORMAT, "%s: __metadata__ value '%.64s' at byte %zu is not a string",
                                 what, m->key, 8 + m->off);
                    goto done;
                }
                st->meta_keys[st->n_meta] = it_arena_strdup(&st->arena, m->key, m->key_len);
                st->meta_vals[st->n_meta] = it_arena_strdup(&st->arena, m->s, m->len);
                if (!st->meta_keys[st->n_meta] || !st->meta_vals[st->n_meta]) {
                    rc = it_fail(e, INGOT_ERR_NOMEM, "%s: out of memory", what);
                    goto done;
                }
                st->n_meta++;
            }
            continue;
        }
        it_st_tensor *t = &st->tensors[st->n_tensors];
        memset(t, 0, sizeof *t);
        t->shard = shard;
        if (v->key_len == 0 || strlen(v->key) != v->key_len) {
            rc = it_fail(e, INGOT_ERR_FORMAT, "%s: empty tensor name or NUL in a name at byte %zu", what, at);
            goto done;
        }
        t->name = it_arena_strdup(&st->arena, v->key, v->key_len);
        if (!t->name) {
            rc = it_fail(e, INGOT_ERR_NOMEM, "%s: out of memory", what);
            goto done;
        }
        if (v->type != IT_JSON_OBJECT) {
            rc = it_fail(e, INGOT_ERR_FORMAT, "%s: tensor '%.128s' at byte %zu is not an object", what, t->name, at);
            goto done;
        }
        const it_json *dt = it_json_get(v, "dtype"), *sp = it_json_get(v, "shape"), *of = it_json_get(v, "data_offsets");
        if (!dt || dt->type != IT_JSON_STRING) {
            rc = it_fail(e, INGOT_ERR_FORMAT, "%s: tensor '%.128s' at byte %zu: missing or non-string dtype", what,
                         t->name, at);
            goto done;
        }
        t->dtype = -1;
        for (int k = 0; k < IT_ST_DTYPE_COUNT; k++)
            if (!strcmp(dt->s, st_dtypes[k].name)) t->dtype = k;
        if (t->dtype < 0) {
            rc = it_fail(e, INGOT_ERR_UNSUPPORTED, "%s: tensor '%.128s' at byte %zu: unknown dtype '%.32s'", what,
                         t->name, 8 + dt->off, dt->s);
            goto done;
        }
        if (!sp || sp->type != IT_JSON_ARRAY) {
            rc = it_fail(e, INGOT_ERR_FORMAT, "%s: tensor '%.128s' at byte %zu: missing or non-array shape", what,
                         t->name, at);
            goto done;
        }
        if (sp->n > IT_MAX_DIMS) {
            rc = it_fail(e, INGOT_ERR_LIMIT, "%s: tensor '%.128s' at byte %zu: %lld dims exceed the limit %d", what,
                         t->name, 8 + sp->off, (long long)sp->n, IT_MAX_DIMS);
            goto done;
        }
        int64_t nel = 1;
        for (const it_json *d = sp->child; d; d = d->next) {
            if (d->type != IT_JSON_NUMBER || !d->is_int || d->i < 0) {
                rc = it_fail(e, INGOT_ERR_FORMAT, "%s: tensor '%.128s': dim %d at byte %zu is not a non-negative integer",
                             what, t->name, t->ndim, 8 + d->off);
                goto done;
            }
            if (!it_mul_ok(nel, d->i, &nel) || nel > IT_LIMIT_ELEMENTS) {
                rc = it_fail(e, INGOT_ERR_LIMIT, "%s: tensor '%.128s': element count overflows the limit at byte %zu",
                             what, t->name, 8 + d->off);
                goto done;
            }
            t->shape[t->ndim++] = d->i;
        }
        t->n_elements = nel;
        if (!of || of->type != IT_JSON_ARRAY || of->n != 2 || of->child->type != IT_JSON_NUMBER ||
            of->child->next->type != IT_JSON_NUMBER || !of->child->is_int || !of->child->next->is_int ||
            of->child->i < 0 || of->child->next->i < 0) {
            rc = it_fail(e, INGOT_ERR_FORMAT,
                         "%s: tensor '%.128s' at byte %zu: data_offsets must be two non-negative integers", what,
                         t->name, at);
            goto done;
        }
        t->begin = (uint64_t)of->child->i;
        t->end = (uint64_t)of->child->next->i;
        int64_t nbytes;
        if (!it_mul_ok(nel, (int64_t)st_dtypes[t->dtype].size, &nbytes) || nbytes > IT_LIMIT_TENSOR_BYTES) {
            rc = it_fail(e, INGOT_ERR_LIMIT, "%s: tensor '%.128s': size exceeds the limit", what, t->name);
            goto done;
        }
        if (t->end < t->begin || t->end - t->begin != (uint64_t)nbytes) {
            rc = it_fail(e, INGOT_ERR_FORMAT,
                         "%s: tensor '%.128s' at byte %zu: data_offsets [%llu, %llu] hold %lld bytes, but %s %lld "
                         "elements need %lld",
                         what, t->name, 8 + of->off, (unsigned long long)t->begin, (unsigned long long)t->end,
                         (long long)(t->end >= t->begin ? (int64_t)(t->end - t->begin) : -1), st_dtypes[t->dtype].name,
                         (long long)nel, (long long)nbytes);
            goto done;
        }
        if (t->end > data_len) {
            rc = it_fail(e, INGOT_ERR_FORMAT,
                         "%s: tensor '%.128s': data ends at byte %llu, past the end of the file (%zu bytes)", what,
                         t->name, (unsigned long long)(sh->data_offset + t->end), len);
            goto done;
        }
        t->data = buf + sh->data_offset + t->begin;
        st->n_tensors++;
    }
    /* overlaps within this shard */
    int64_t n = st->n_tensors - first;
    if (n > 1) {
        sorted = malloc((size_t)n * sizeof *sorted);
        if (!sorted) {
            rc = it_fail(e, INGOT_ERR_NOMEM, "%s: out of memory", what);
            goto done;
        }
        for (int64_t i = 0; i < n; i++) sorted[i] = &st->tensors[first + i];
        qsort(sorted, (size_t)n, sizeof *sorted, cmp_begin);
        const it_st_tensor *reach = NULL; /* the non-empty tensor reaching furthest so far */
        for (int64_t i = 0; i < n; i++) {
            if (sorted[i]->end == sorted[i]->begin) continue;
            if (reach && sorted[i]->begin < reach->end) {
                rc = it_fail(e, INGOT_ERR_FORMAT, "%s: tensor '%.128s' (data at byte %llu) overlaps tensor '%.128s'", what,
                             sorted[i]->name, (unsigned long long)(sh->data_offset + sorted[i]->begin), reach->name);
                goto done;
            }
            if (!reach || sorted[i]->end > reach->end) reach = sorted[i];
        }
    }
done:
    free(sorted);
    it_json_doc_free(&doc);
    return rc;
}

static int build_hash(it_safetensors *st, it_err *e) {
    int64_t cap = 16;
    while (cap < st->n_tensors * 2) cap <<= 1;
    st->hash = calloc((size_t)cap, sizeof *st->hash);
    if (!st->hash) return it_fail(e, INGOT_ERR_NOMEM, "safetensors: out of memory");
    st->hash_cap = cap;
    for (int64_t i = 0; i < st->n_tensors; i++) {
        int64_t o = hash_insert(st, i);
        if (o >= 0)
            return it_fail(e, INGOT_ERR_FORMAT, "%s: tensor '%.128s' appears twice",
                           st->shards[st->tensors[i].shard].path ? st->shards[st->tensors[i].shard].path : "safetensors",
                           st->tensors[i].name);
    }
    return 0;
}

static int st_init(it_safetensors *st, int n_shards, it_err *e) {
    memset(st, 0, sizeof *st);
    it_arena_init(&st->arena, 1 << 16);
    st->shards = calloc((size_t)n_shards, sizeof *st->shards);
    if (!st->shards) return it_fail(e, INGOT_ERR_NOMEM, "safetensors: out of memory");
    st->n_shards = n_shards;
    return 0;
}

int it_st_parse(const void *buf, size_t len, const char *name, it_safetensors *st, it_err *e) {
    int rc = st_init(st, 1, e);
    if (rc) return rc;
    st->shards[0].buf = buf;
    st->shards[0].len = len;
    if (!buf && len) rc = it_fail(e, INGOT_ERR_INVALID_ARG, "safetensors: NULL buffer");
    if (!rc) rc = parse_shard(st, 0, name ? name : "safetensors", e);
    if (!rc) rc = build_hash(st, e);
    if (rc) it_st_free(st);
    return rc;
}

static int map_shard(it_st_shard *sh, const char *path, it_err *e) {
    sh->path = strdup(path);
    if (!sh->path) return it_fail(e, INGOT_ERR_NOMEM, "safetensors: out of memory");
    void *addr = NULL;
    size_t len = 0;
    int rc = it_map_file(path, &addr, &len, e);
    if (rc) return rc;
    sh->map = addr, sh->map_len = len;
    sh->buf = addr, sh->len = len;
    return 0;
}

int it_st_open(const char *path, it_safetensors *st, it_err *e) {
    int rc = st_init(st, 1, e);
    if (!rc) rc = map_shard(&st->shards[0], path, e);
    if (!rc) rc = parse_shard(st, 0, path, e);
    if (!rc) rc = build_hash(st, e);
    if (rc) it_st_free(st);
    return rc;
}

int it_st_open_dir(const char *dir, it_safetensors *st, it_err *e) {
    char path[4096];
    struct stat sb;
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    if (stat(path, &sb) != 0) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (stat(path, &sb) != 0) {
            memset(st, 0, sizeof *st);
            return it_fail(e, INGOT_ERR_NOT_FOUND, "%s: no model.safetensors or model.safetensors.index.json", dir);
        }
        return it_st_open(path, st, e);
    }
    /* sharded */
    char *text = NULL;
    size_t tlen = 0;
    it_json_doc doc;
    memset(&doc, 0, sizeof doc);
    memset(st, 0, sizeof *st);
    const char **files = NULL;
    int nfiles = 0, rc;
    if ((rc = it_read_file(path, 64u << 20, &text, &tlen, e))) return rc;
    if ((rc = it_json_parse(text, tlen, path, &doc, e))) goto done;
    const it_json *wm = it_json_get(doc.root, "weight_map");
    if (!wm || wm->type != IT_JSON_OBJECT) {
        rc = it_fail(e, INGOT_ERR_FORMAT, "%s: no \"weight_map\" object", path);
        goto done;
    }
    files = calloc((size_t)(wm->n ? wm->n : 1), sizeof *files);
    if (!files) {
        rc = it_fail(e, INGOT_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (const it_json *v = wm->child; v; v = v->next) {
        if (v->type != IT_JSON_STRING || !v->len || strchr(v->s, '/') || strlen(v->s) != v->len ||
            !strcmp(v->s, "..")) {
            rc = it_fail(e, INGOT_ERR_FORMAT, "%s: weight_map entry '%.128s' at byte %zu: not a file name in the folder",
                         path, v->key, v->off);
            goto done;
        }
        int k = 0;
        while (k < nfiles && strcmp(files[k], v->s)) k++;
        if (k == nfiles) {
            if (nfiles >= IT_ST_MAX_SHARDS) {
                rc = it_fail(e, INGOT_ERR_LIMIT, "%s: more than %d shards", path, IT_ST_MAX_SHARDS);
                goto done;
            }
            files[nfiles++] = v->s;
        }
    }
    if (!nfiles) {
        rc = it_fail(e, INGOT_ERR_FORMAT, "%s: empty weight_map", path);
        goto done;
    }
    if ((rc = st_init(st, nfiles, e))) goto done;
    for (int k = 0; k < nfiles; k++) {
        char sp[4096];
        snprintf(sp, sizeof sp, "%s/%s", dir, files[k]);
        if ((rc = map_shard(&st->shards[k], sp, e))) goto done;
        if ((rc = parse_shard(st, k, sp, e))) goto done;
    }
    if ((rc = build_hash(st, e))) goto done;
    for (const it_json *v = wm->child; v; v = v->next) {
        const it_st_tensor *t = it_st_find(st, v->key);
        if (!t || strcmp(files[t->shard], v->s)) {
            rc = it_fail(e, INGOT_ERR_NOT_FOUND, "%s: tensor '%.128s' is not in its shard %.128s", path, v->key, v->s);
            goto done;
        }
    }
done:
    free(files);
    it_json_doc_free(&doc);
    free(text);
    if (rc) it_st_free(st);
    return rc;
}

void it_st_free(it_safetensors *st) {
    if (!st) return;
    for (int k = 0; st->shards && k < st->n_shards; k++) {
        if (st->shards[k].map) it_unmap(st->shards[k].map, st->shards[k].map_len);
        free(st->shards[k].path);
    }
    free(st->shards);
    free(st->tensors);
    free(st->hash);
    it_arena_free(&st->arena);
    memset(st, 0, sizeof *st);
}

const it_st_tensor *it_st_find(const it_safetensors *st, const char *name) {
    if (!st || !st->hash || !name) return NULL;
    uint64_t m = (uint64_t)st->hash_cap - 1;
    uint64_t h = name_hash(name) & m;
    while (st->hash[h]) {
        const it_st_tensor *t = &st->tensors[st->hash[h] - 1];
        if (!strcmp(t->name, name)) return t;
        h = (h + 1) & m;
    }
    return NULL;
}

const char *it_st_meta(const it_safetensors *st, const char *key) {
    for (int64_t i = 0; st && i < st->n_meta; i++)
        if (!strcmp(st->meta_keys[i], key)) return st->meta_vals[i];
    return NULL;
}

int it_st_to_f32(const it_st_tensor *t, float *dst, it_err *e) {
    const uint8_t *p = t->data;
    int64_t n = t->n_elements;
    switch (t->dtype) {
    case IT_ST_F32: memcpy(dst, p, (size_t)n * 4); return 0;
    case IT_ST_F16:
    case IT_ST_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = t->dtype == IT_ST_F16 ? it_f16_to_f32(h) : it_bf16_to_f32(h);
        }
        return 0;
    case IT_ST_F64:
        for (int64_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            dst[i] = (float)d;
        }
        return 0;
    default:
        return it_fail(e, INGOT_ERR_UNSUPPORTED, "tensor '%.128s': dtype %s cannot be read as floats", t->name,
                       it_st_dtype_name(t->dtype));
    }
}
