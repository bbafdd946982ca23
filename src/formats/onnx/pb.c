/*
 * pb.c: protocol buffers wire-format decoding (varints, tags, slices).
 */
#include "pb.h"

int it_pb_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v) {
    const uint8_t *p = *pp;
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (p >= end) return -1;
        uint8_t b = *p++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            *pp = p;
            return 0;
        }
    }
    return -1;
}

int it_pb_next(it_pb *r, it_pb_field *f, it_err *e) {
    if (r->p >= r->end) return 0;
    f->offset = it_pb_off(r, r->p);
    uint64_t tag;
    if (it_pb_varint(&r->p, r->end, &tag))
        return it_fail(e, INGOT_ERR_FORMAT, "truncated or overlong field tag at byte %zu", f->offset);
    f->num = (uint32_t)(tag >> 3);
    f->wire = (int)(tag & 7);
    if (f->num == 0 || tag >> 32)
        return it_fail(e, INGOT_ERR_FORMAT, "invalid field number in tag at byte %zu", f->offset);
    f->data = NULL;
    f->len = 0;
    switch (f->wire) {
    case PB_VARINT:
        if (it_pb_varint(&r->p, r->end, &f->v))
            return it_fail(e, INGOT_ERR_FORMAT, "truncated varint of field %u at byte %zu", f->num, f->offset);
        return 1;
    case PB_FIXED64:
        if (r->end - r->p < 8)
            return it_fail(e, INGOT_ERR_FORMAT, "truncated fixed64 field %u at byte %zu", f->num, f->offset);
        f->v = 0;
        for (int i = 7; i >= 0; i--) f->v = (f->v << 8) | r->p[i];
        f->data = r->p;
        f->len = 8;
        r->p += 8;
        return 1;
    case PB_FIXED32:
        if (r->end - r->p < 4)
            return it_fail(e, INGOT_ERR_FORMAT, "truncated fixed32 field %u at byte %zu", f->num, f->offset);
        f->v = (uint64_t)r->p[0] | (uint64_t)r->p[1] << 8 | (uint64_t)r->p[2] << 16 | (uint64_t)r->p[3] << 24;
        f->data = r->p;
        f->len = 4;
        r->p += 4;
        return 1;
    case PB_LEN: {
        uint64_t len;
        if (it_pb_varint(&r->p, r->end, &len))
            return it_fail(e, INGOT_ERR_FORMAT, "truncated length of field %u at byte %zu", f->num, f->offset);
        if (len > (uint64_t)(r->end - r->p))
            return it_fail(e, INGOT_ERR_FORMAT, "field %u at byte %zu has length %llu past the end of its message (%zu bytes left)",
                           f->num, f->offset, (unsigned long long)len, (size_t)(r->end - r->p));
        f->data = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 1;
    }
    default:
        return it_fail(e, INGOT_ERR_FORMAT, "unsupported wire type %d of field %u at byte %zu", f->wire, f->num, f->offset);
    }
}
