/*
 * fuzz_safetensors.c: libFuzzer target for the safetensors reader (formats/safetensors.c) and
 * the core's bounded JSON reader under it (formats/json.c). Any input must parse or fail with a
 * message, never crash, hang or leak; a parsed file is walked in full (names, shapes, data
 * bytes, f32 conversion), which touches every byte range the reader accepted.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/json.h"
#include "formats/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    it_safetensors st;
    it_err e = {{0}};
    if (it_st_parse(data, size, "fuzz", &st, &e) == 0) {
        volatile uint8_t sink = 0;
        for (int64_t i = 0; i < st.n_tensors; i++) {
            const it_st_tensor *t = &st.tensors[i];
            if (it_st_find(&st, t->name) == NULL) abort();
            size_t nb = (size_t)(t->end - t->begin);
            for (size_t k = 0; k < nb; k += 61) sink ^= ((const uint8_t *)t->data)[k];
            if (nb) sink ^= ((const uint8_t *)t->data)[nb - 1];
            if (t->n_elements <= 4096) {
                float *f = malloc((size_t)t->n_elements * sizeof(float) + 1);
                if (f) {
                    it_st_to_f32(t, f, &e);
                    free(f);
                }
            }
        }
        (void)sink;
        it_st_free(&st);
    } else if (e.msg[0] == 0) {
        abort(); /* every failure has a message */
    }
    /* the JSON reader on the raw bytes too */
    it_json_doc doc;
    if (it_json_parse((const char *)data, size, "fuzz", &doc, &e) == 0) it_json_doc_free(&doc);
    return 0;
}
