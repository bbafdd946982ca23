/*
 * pb.h: a minimal reader of the protocol buffers wire format, enough for ONNX.
 * Zero-copy: length-delimited fields are returned as slices of the input.
 * Every read is bounds-checked; errors name the byte offset from the start of
 * the outermost buffer.
 */
#ifndef INGOT_PB_H
#define INGOT_PB_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

typedef struct it_pb {
    const uint8_t *p, *end;
    const uint8_t *base; /* start of the outermost buffer, for offsets */
} it_pb;

enum { PB_VARINT = 0, PB_FIXED64 = 1, PB_LEN = 2, PB_FIXED32 = 5 };

typedef struct it_pb_field {
    uint32_t num;
    int wire;
    uint64_t v;          /* varint / fixed value */
    const uint8_t *data; /* PB_LEN payload */
    size_t len;
    size_t offset;       /* byte offset of the field's tag */
} it_pb_field;

static inline it_pb it_pb_init(const void *buf, size_t len) {
    const uint8_t *p = buf;
    it_pb r = {p, p ? p + len : p, p};
    return r;
}
static inline it_pb it_pb_sub(const it_pb *parent, const it_pb_field *f) {
    const uint8_t *p = f->data;
    it_pb r = {p, p ? p + f->len : p, parent->base};
    return r;
}
static inline size_t it_pb_off(const it_pb *r, const uint8_t *p) { return (size_t)(p - r->base); }

/* Read the next field. Returns 1 when a field was read, 0 at the end, <0 on error. */
int it_pb_next(it_pb *r, it_pb_field *f, it_err *e);
/* Decode a varint from [*p, end). Returns 0 on success. */
int it_pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v);
/* Count the elements of a packed or unpacked repeated numeric field. */

#endif
