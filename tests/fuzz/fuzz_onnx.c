/*
 * fuzz_onnx.c: libFuzzer target for the ONNX loader. Any byte string must load
 * or fail with an error; crashes, hangs, leaks and sanitizer reports are
 * findings. Models that load are also run once on zero inputs of small shapes,
 * so that operators see whatever attributes the fuzzer invents.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    ingot_model *m = NULL;
    if (ingot_model_load_buffer(data, size, &m, err, sizeof err) != INGOT_OK) return 0;
    ingot_session *s = NULL;
    ingot_session_options so = {1};
    if (ingot_session_create(m, &so, &s) == INGOT_OK) {
        int n = ingot_model_num_inputs(m);
        if (n > 8) n = 8;
        ingot_tensor *ts[8] = {0};
        const char *names[8];
        int ok = 1;
        for (int i = 0; i < n && ok; i++) {
            ingot_value_info vi;
            ingot_model_input(m, i, &vi);
            int64_t dims[INGOT_MAX_DIMS], count = 1;
            if (vi.kind != 0 || vi.ndim < 0 || vi.dtype == INGOT_DTYPE_STRING) { ok = 0; break; }
            for (int d = 0; d < vi.ndim; d++) {
                dims[d] = vi.dims[d] < 0 ? 1 : vi.dims[d];
                count *= dims[d] ? dims[d] : 1;
                if (count > 4096) ok = 0;
            }
            if (ok && ingot_tensor_create(vi.dtype, vi.ndim, dims, &ts[i]) != INGOT_OK) ok = 0;
            names[i] = vi.name;
        }
        if (ok) ingot_session_run(s, n, names, (const ingot_tensor *const *)ts);
        for (int i = 0; i < n; i++) ingot_tensor_free(ts[i]);
    }
    ingot_session_free(s);
    ingot_model_free(m);
    return 0;
}
