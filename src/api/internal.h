/*
 * internal.h: hooks into the API objects for ingot's own tests and tools
 * (the conformance runner feeds sequences and optionals, which the public
 * API does not expose). Not installed.
 */
#ifndef INGOT_API_INTERNAL_H
#define INGOT_API_INTERNAL_H

#include "formats/onnx/onnx.h"
#include "graph/graph.h"
#include "ingot.h"

struct ingot_model {
    it_onnx_model onnx;
    void *map;
    size_t map_len;
    int n_inputs;      /* graph inputs without an initializer, in order */
    int *input_index;  /* index into graph->inputs */
    char *path;
    int inspect_only;
};

struct ingot_session {
    const ingot_model *m;
    it_threadpool *tp;
    it_exec *x;
    it_err err;
};

/* Run with values bound to the model's non-initializer inputs, in order. */
int it_session_run_values(ingot_session *s, it_value *const *inputs);
it_value *it_session_output_value(ingot_session *s, int i);
const it_graph *it_model_graph(const ingot_model *m);

#endif
