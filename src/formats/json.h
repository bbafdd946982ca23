/*
 * json.h: a small, bounded JSON reader for the JSON that model folders carry (the header of a
 * safetensors file, a sharded model's model.safetensors.index.json, Hugging Face config.json,
 * tokenizer.json, sentence-transformers' modules.json and 1_Pooling/config.json), so that the
 * core needs no JSON library (jansson stays in the server).
 *
 * It builds a read-only tree in an arena, in one pass over the text: strict RFC 8259 syntax,
 * \u escapes (surrogate pairs joined; lone surrogates and invalid UTF-8 refused), nesting depth
 * and node count bounded, integers kept exact as int64 besides their double value. A malformed
 * document fails with the byte offset at fault; nothing in the input can crash the reader or
 * make it read past the end. Lookups in objects are linear (these documents are small, or are
 * walked once, like a tokenizer vocab).
 */
#ifndef INGOT_FORMATS_JSON_H
#define INGOT_FORMATS_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

#define IT_JSON_MAX_DEPTH 64
#define IT_JSON_MAX_NODES ((int64_t)1 << 24)

enum { IT_JSON_NULL = 0, IT_JSON_BOOL, IT_JSON_NUMBER, IT_JSON_STRING, IT_JSON_ARRAY, IT_JSON_OBJECT };

typedef struct it_json {
    int type;                /* IT_JSON_* */
    int is_int;              /* number: written as an integer that fits int64 (then i is exact) */
    int b;                   /* bool */
    double num;              /* number */
    int64_t i;               /* number when is_int */
    const char *s;           /* string: decoded UTF-8, NUL-terminated (may contain NULs: use len) */
    size_t len;
    const char *key;         /* member of an object: its key (decoded, NUL-terminated) */
    size_t key_len;
    int64_t n;               /* array / object: number of children */
    struct it_json *child;   /* first child, children linked by next, in document order */
    struct it_json *next;
    size_t off;              /* byte offset of the value in the document */
} it_json;

typedef struct it_json_doc {
    it_json *root;
    it_arena arena;
    int64_t n_nodes;
} it_json_doc;

/* Parse text[0..n). doc is zeroed first and freed again on failure (it_json_doc_free is safe
 * either way). what names the document in messages ("config.json"). */
int it_json_parse(const char *text, size_t n, const char *what, it_json_doc *doc, it_err *e);
/* Same, for a document embedded at byte base of a file: messages give file offsets. */
int it_json_parse_at(const char *text, size_t n, const char *what, size_t base, it_json_doc *doc, it_err *e);
void it_json_doc_free(it_json_doc *doc);

/* Member key of an object (first match); NULL when absent or obj is not an object. */
const it_json *it_json_get(const it_json *obj, const char *key);
/* Element i of an array; NULL when out of range or not an array. */
const it_json *it_json_at(const it_json *arr, int64_t i);

/* Typed reads of an optional member: 0 and *out set; 1 when absent or null (out untouched);
 * -1 when present with the wrong type or out of range. */
int it_json_get_int(const it_json *obj, const char *key, int64_t lo, int64_t hi, int64_t *out);
int it_json_get_num(const it_json *obj, const char *key, double *out);
int it_json_get_bool(const it_json *obj, const char *key, int *out);
int it_json_get_str(const it_json *obj, const char *key, const char **out);

/* Read a whole file (at most max bytes) into a malloc'd buffer (free with free()). */
int it_read_file(const char *path, size_t max, char **out, size_t *len, it_err *e);

#endif
