/*
 * fuzz_gguf.c: libFuzzer target for the GGUF reader. Any byte string must
 * parse or fail with an error; crashes, hangs, leaks and sanitizer reports are
 * findings. Files that parse are also walked through the accessors (array
 * elements, nested arrays, typed getters, tensor lookup, dequantization of a
 * first row) and their metadata copied through the writer and parsed again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/gguf.h"
#include "tensor/quant.h"

static void walk(const it_gguf_val *v, int depth) {
    int64_t i;
    double d;
    it_gguf_val_int(v, &i);
    it_gguf_val_float(v, &d);
    if (v->type != IT_GGUF_ARRAY || depth > 4) return;
    uint64_t n = v->n < 8 ? v->n : 8;
    for (uint64_t k = 0; k < n; k++) {
        it_gguf_val el;
        if (it_gguf_val_elem(v, k, &el) == 0) walk(&el, depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    it_gguf g;
    it_err e;
    if (it_gguf_parse(data, size, &g, &e)) return 0;
    it_gguf_writer *w = it_gguf_writer_create();
    for (int64_t k = 0; k < g.n_kv; k++) {
        const it_gguf_val *v = it_gguf_value(&g, k);
        walk(v, 0);
        if (v->type == IT_GGUF_ARRAY && v->n) {
            it_gguf_val el;
            it_gguf_kv_elem(&g, k, v->n - 1, &el, &e);
            it_gguf_kv_elem(&g, k, v->n / 2, &el, &e);
        }
        int64_t i;
        it_gguf_get_int(&g, g.kv[k].key, &i, &e);
        if (w) it_gguf_w_val(w, g.kv[k].key, v, &e);
    }
    static float row[4096];
    for (int64_t t = 0; t < g.n_tensors; t++) {
        const it_gguf_tensor *ti = &g.tensors[t];
        if (it_gguf_find_tensor(&g, ti->name) != t) abort();
        if (ti->ne[0] > 0 && ti->ne[0] <= 4096 && ti->nbytes && it_ggml_can_dequant(ti->type))
            it_dequant_row(ti->type, ti->data, row, ti->ne[0]);
    }
    if (w) {
        uint8_t *buf;
        size_t len;
        if (it_gguf_w_write_mem(w, &buf, &len, NULL, NULL, &e) == 0) {
            it_gguf g2;
            if (it_gguf_parse(buf, len, &g2, &e) == 0) {
                if (g2.n_kv != g.n_kv) abort();
                it_gguf_free(&g2);
            }
            free(buf);
        }
        it_gguf_writer_free(w);
    }
    it_gguf_free(&g);
    return 0;
}
