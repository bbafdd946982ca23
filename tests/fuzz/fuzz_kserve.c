/*
 * fuzz_kserve.c: libFuzzer target for the KServe v2 request decoder of
 * `ingot serve` (server/kserve_codec.c): JSON tensors, flat or nested, and the
 * binary tensor data extension. No socket: the first input byte picks whether
 * an Inference-Header-Content-Length header is sent and the next two give its
 * value (a split point inside the body, or a bad string); the rest is the
 * body. Requests that decode are encoded back as a response (inputs as
 * outputs, alternately JSON and binary) to exercise the encoder too. Any byte
 * string must decode or fail with a message; crashes, leaks and sanitizer
 * reports are findings.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kserve_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    uint8_t mode = data[0];
    unsigned split = (unsigned)data[1] | (unsigned)data[2] << 8;
    const uint8_t *body = data + 3;
    size_t len = size - 3;
    char hdr[32];
    const char *h = NULL;
    if (mode & 1) {
        if (mode & 2) snprintf(hdr, sizeof hdr, "%u", (unsigned)(split % (len + 1)));
        else if (mode & 4) snprintf(hdr, sizeof hdr, " %u ", split);
        else snprintf(hdr, sizeof hdr, "%ux", split);
        h = hdr;
    }
    kv_request *r = NULL;
    char err[512];
    if (kserve_parse_infer(body, len, h, &r, err, sizeof err) == 0) {
        for (int i = 0; i < r->ninputs; i++) r->inputs[i].binary = (i + (mode >> 3)) & 1;
        char *out = NULL;
        size_t olen = 0, hlen = 0;
        if (kserve_encode_infer("m", "1", r->id, r->inputs, r->ninputs, &out, &olen, &hlen) == 0) free(out);
        kv_request_free(r);
    } else if (!memchr(err, 0, sizeof err)) {
        abort(); /* the message must be a terminated string */
    }
    return 0;
}
