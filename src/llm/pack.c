/*
 * pack.c: it_llm_model_pack: copies the model's Q8_0 / Q4_0 / Q4_1 matrices into the
 * 16-row group layout of qdot.h (it_qpack16) when the chosen qdot tier has kernels for it.
 * The group kernels read each weight block once for up to 8 tokens and keep one row per
 * SIMD lane, so decode (one token), batched decode (a token per sequence) and prompt
 * chunks all run on them, with the same bits for a (row, token) pair whatever the batch.
 *
 * The copy takes as many bytes as the tensors; the mapping's pages of the packed tensors
 * are given back to the page cache afterwards (the embedding table stays readable from
 * the mapping: the output matrix of a tied model is packed, the lookups read rows).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kernels/qdot.h"
#include "llm/model.h"

static it_qpack16_fn kernel_for(const it_qdot_table *t, uint32_t type) {
    switch (type) {
    case IT_GGML_Q8_0: return t->q8_0_p16;
    case IT_GGML_Q4_0: return t->q4_0_p16;
    case IT_GGML_Q4_1: return t->q4_1_p16;
    default: return NULL;
    }
}

/* the matrices that the forward pass multiplies with (forward.c's matmul calls) */
static size_t list(it_llm_model *m, it_llm_weight **out) {
    size_t k = 0;
    for (int64_t i = 0; i < m->hp.n_layer; i++) {
        it_llm_layer *L = &m->layers[i];
        it_llm_weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t j = 0; j < sizeof ws / sizeof ws[0]; j++)
            if (out) out[k++] = ws[j];
            else k++;
    }
    if (out) out[k] = &m->output;
    return k + 1;
}

/* give the mapping's whole pages inside [p, p + n) back (clean, file-backed: they read
 * back in from the file if touched again) */
static void release(const void *p, size_t n) {
    long ps = sysconf(_SC_PAGESIZE);
    if (ps <= 0) return;
    uintptr_t lo = ((uintptr_t)p + (uintptr_t)ps - 1) & ~((uintptr_t)ps - 1), hi = ((uintptr_t)p + n) & ~((uintptr_t)ps - 1);
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

typedef struct pack_job {
    const it_llm_weight *w;
    uint8_t *out;
    int64_t g0; /* the chunk's first group: ranges are relative to it */
} pack_job;

static void pack_groups(void *arg, int64_t g0, int64_t g1, int tid) {
    const pack_job *j = arg;
    (void)tid;
    it_qpack16_groups(j->w->type, j->w->data, j->w->row_bytes, j->w->n_out, j->w->n_in, j->g0 + g0, j->g0 + g1, j->out);
}

int it_llm_model_pack(it_llm_model *m, it_err *e) {
    const it_qdot_table *t = it_qdot();
    if (m->packed_mem || !m->layers) return 0;
    size_t n = list(m, NULL);
    it_llm_weight **ws = malloc(n * sizeof *ws);
    if (!ws) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    list(m, ws);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const it_llm_weight *w = ws[i];
        int64_t b;
        if (!w->data || !kernel_for(t, w->type) || (b = it_qpack16_bytes(w->type, w->n_out, w->n_in)) < 0) continue;
        total += ((size_t)b + 63) & ~(size_t)63;
    }
    if (!total) {
        free(ws);
        return 0;
    }
    uint8_t *mem = it_malloc(total);
    if (!mem) {
        free(ws);
        return it_fail(e, INGOT_ERR_NOMEM, "out of memory for the packed weights (%zu bytes)", total);
    }
    /* file-backed pages only (an HF folder's GGUF is anonymous memory); each tensor's pages
     * go as soon as it is packed, so the peak is the copy plus one tensor, not twice the model */
    const int file = m->gguf && m->gguf->map && (!m->format || strcmp(m->format, "hf"));
    it_threadpool *tp = it_threadpool_create(it_cpu_count()); /* NULL: one thread */
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        it_llm_weight *w = ws[i];
        int64_t b;
        if (!w->data || !kernel_for(t, w->type) || (b = it_qpack16_bytes(w->type, w->n_out, w->n_in)) < 0) continue;
        pack_job pj = {w, mem + off, 0};
        const int64_t ng = (w->n_out + 15) / 16;
        /* 256 groups (4096 rows) at a time, their file pages released before the next: the
         * load's peak is the copy plus a few MiB, not plus the largest matrix */
        for (int64_t g0 = 0; g0 < ng; g0 += 256) {
            const int64_t g1 = ng - g0 < 256 ? ng : g0 + 256;
            pack_job pc = pj;
            pc.g0 = g0;
            if (tp) it_parallel_for(tp, g1 - g0, 16, pack_groups, &pc);
            else pack_groups(&pc, 0, g1 - g0, 0);
            if (file) {
                const int64_t r0 = g0 * 16, r1 = g1 * 16 < w->n_out ? g1 * 16 : w->n_out;
                release((const uint8_t *)w->data + r0 * w->row_bytes, (size_t)((r1 - r0) * w->row_bytes));
            }
        }
        w->packed = mem + off;
        off += ((size_t)b + 63) & ~(size_t)63;
        if (file) release(w->data, (size_t)(w->row_bytes * w->n_out));
    }
    it_threadpool_free(tp);
    free(ws);
    m->packed_mem = mem;
    m->packed_bytes = total;
    /* the metadata section too: the tokenizer, chat template and hyperparameters were copied
     * out of it at load (what reads it later faults its pages back in) */
    if (file) release(m->gguf->map, m->gguf->data_offset);
    return 0;
}
