/*
 * shape_copy.c: the strided copy engine behind the data-movement operators
 * (Transpose, Slice, Expand, Tile, Pad, DepthToSpace, SpaceToDepth,
 * CenterCropPad). These appear in real models on float32 activations
 * (attention head reshapes, NCHW <-> NHWC), so the copy first simplifies the
 * index space (drops unit dims, merges dims that are contiguous in both source
 * and destination), then picks the cheapest inner loop: memcpy of contiguous
 * runs, a broadcast fill, a cache-tiled 2-D transpose when the source's unit
 * stride sits on an outer dimension, or a plain strided loop. Rows are split
 * over the thread pool when the copy is large.
 */
#include "shape_copy.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

enum { CP_MEMCPY, CP_FILL, CP_STRIDED, CP_TILED };
#define CP_TILE 32

typedef struct cplan {
    int mode;
    size_t es;
    char *dst;
    const char *src;
    int64_t n;            /* inner run length */
    int64_t dsi, ssi;     /* inner strides (elements) */
    int no;               /* outer dims */
    int64_t od[IT_MAX_DIMS + 1], ods[IT_MAX_DIMS + 1], oss[IT_MAX_DIMS + 1];
    /* tiled transpose: dim k (src stride 1) of size nk, dst stride dsk */
    int64_t nk, dsk;
} cplan;

/* Typed element loops: dst[i*ds] = src[i*ss] for i < n. */
#define CP_LOOP(T)                                                                                             \
    do {                                                                                                       \
        T *d_ = (T *)(void *)dst;                                                                              \
        const T *s_ = (const T *)(const void *)src;                                                            \
        for (int64_t i = 0; i < n; i++) d_[i * ds] = s_[i * ss];                                               \
    } while (0)

static void strided_run(size_t es, char *dst, int64_t ds, const char *src, int64_t ss, int64_t n) {
    switch (es) {
    case 1: CP_LOOP(uint8_t); break;
    case 2: CP_LOOP(uint16_t); break;
    case 4: CP_LOOP(uint32_t); break;
    case 8: CP_LOOP(uint64_t); break;
    default:
        for (int64_t i = 0; i < n; i++) memcpy(dst + i * ds * (int64_t)es, src + i * ss * (int64_t)es, es);
    }
}

/* Block of rows x cols: dst[r*dr + c] = src[r + c*sc]. */
#define CP_TILE_LOOP(T)                                                                                        \
    do {                                                                                                       \
        T *d_ = (T *)(void *)dst;                                                                              \
        const T *s_ = (const T *)(const void *)src;                                                            \
        for (int64_t c0 = 0; c0 < cols; c0 += CP_TILE) {                                                      \
            int64_t c1 = c0 + CP_TILE < cols ? c0 + CP_TILE : cols;                                            \
            for (int64_t r = 0; r < rows; r++)                                                                 \
                for (int64_t cc = c0; cc < c1; cc++) d_[r * dr + cc] = s_[r + cc * sc];                        \
        }                                                                                                      \
    } while (0)

#if defined(__SSE2__)
/* 4-byte elements: 4x4 register transposes (SSE2 is the x86-64 baseline). */
static void tile_block4(char *dst, int64_t dr, const char *src, int64_t sc, int64_t rows, int64_t cols) {
    uint32_t *d = (uint32_t *)(void *)dst;
    const uint32_t *s = (const uint32_t *)(const void *)src;
    for (int64_t c0 = 0; c0 < cols; c0 += CP_TILE) {
        int64_t c1 = c0 + CP_TILE < cols ? c0 + CP_TILE : cols, r = 0;
        for (; r + 4 <= rows; r += 4) {
            int64_t c = c0;
            for (; c + 4 <= c1; c += 4) {
                __m128i a0 = _mm_loadu_si128((const __m128i *)(const void *)(s + r + c * sc));
                __m128i a1 = _mm_loadu_si128((const __m128i *)(const void *)(s + r + (c + 1) * sc));
                __m128i a2 = _mm_loadu_si128((const __m128i *)(const void *)(s + r + (c + 2) * sc));
                __m128i a3 = _mm_loadu_si128((const __m128i *)(const void *)(s + r + (c + 3) * sc));
                __m128i t0 = _mm_unpacklo_epi32(a0, a1), t1 = _mm_unpacklo_epi32(a2, a3);
                __m128i t2 = _mm_unpackhi_epi32(a0, a1), t3 = _mm_unpackhi_epi32(a2, a3);
                _mm_storeu_si128((__m128i *)(void *)(d + r * dr + c), _mm_unpacklo_epi64(t0, t1));
                _mm_storeu_si128((__m128i *)(void *)(d + (r + 1) * dr + c), _mm_unpackhi_epi64(t0, t1));
                _mm_storeu_si128((__m128i *)(void *)(d + (r + 2) * dr + c), _mm_unpacklo_epi64(t2, t3));
                _mm_storeu_si128((__m128i *)(void *)(d + (r + 3) * dr + c), _mm_unpackhi_epi64(t2, t3));
            }
            for (; c < c1; c++)
                for (int k = 0; k < 4; k++) d[(r + k) * dr + c] = s[r + k + c * sc];
        }
        for (; r < rows; r++)
            for (int64_t c = c0; c < c1; c++) d[r * dr + c] = s[r + c * sc];
    }
}

/* 8-byte elements: 2x2 register transposes. */
static void tile_block8(char *dst, int64_t dr, const char *src, int64_t sc, int64_t rows, int64_t cols) {
    uint64_t *d = (uint64_t *)(void *)dst;
    const uint64_t *s = (const uint64_t *)(const void *)src;
    for (int64_t c0 = 0; c0 < cols; c0 += CP_TILE) {
        int64_t c1 = c0 + CP_TILE < cols ? c0 + CP_TILE : cols, r = 0;
        for (; r + 2 <= rows; r += 2) {
            int64_t c = c0;
            for (; c + 2 <= c1; c += 2) {
                __m128i a0 = _mm_loadu_si128((const __m128i *)(const void *)(s + r + c * sc));
                __m128i a1 = _mm_loadu_si128((const __m128i *)(const void *)(s + r + (c + 1) * sc));
                _mm_storeu_si128((__m128i *)(void *)(d + r * dr + c), _mm_unpacklo_epi64(a0, a1));
                _mm_storeu_si128((__m128i *)(void *)(d + (r + 1) * dr + c), _mm_unpackhi_epi64(a0, a1));
            }
            for (; c < c1; c++) d[r * dr + c] = s[r + c * sc], d[(r + 1) * dr + c] = s[r + 1 + c * sc];
        }
        for (; r < rows; r++)
            for (int64_t c = c0; c < c1; c++) d[r * dr + c] = s[r + c * sc];
    }
}
#endif

static void tile_block(size_t es, char *dst, int64_t dr, const char *src, int64_t sc, int64_t rows, int64_t cols) {
    switch (es) {
    case 1: CP_TILE_LOOP(uint8_t); break;
    case 2: CP_TILE_LOOP(uint16_t); break;
#if defined(__SSE2__)
    case 4: tile_block4(dst, dr, src, sc, rows, cols); break;
    case 8: tile_block8(dst, dr, src, sc, rows, cols); break;
#else
    case 4: CP_TILE_LOOP(uint32_t); break;
    case 8: CP_TILE_LOOP(uint64_t); break;
#endif
    default:
        for (int64_t r = 0; r < rows; r++) strided_run(es, dst + r * dr * (int64_t)es, 1, src + r * (int64_t)es, sc, cols);
    }
}

void it_shp_fill(void *dst, const void *val, size_t es, int64_t n) {
    if (n <= 0) return;
    char *d = dst;
    switch (es) {
    case 1: memset(d, *(const uint8_t *)val, (size_t)n); return;
    case 2: { uint16_t v; memcpy(&v, val, 2); for (int64_t i = 0; i < n; i++) memcpy(d + 2 * i, &v, 2); return; }
    case 4: { uint32_t v; memcpy(&v, val, 4); for (int64_t i = 0; i < n; i++) memcpy(d + 4 * i, &v, 4); return; }
    case 8: { uint64_t v; memcpy(&v, val, 8); for (int64_t i = 0; i < n; i++) memcpy(d + 8 * i, &v, 8); return; }
    default:
        for (int64_t i = 0; i < n; i++) memcpy(d + i * (int64_t)es, val, es);
    }
}

static void do_row(const cplan *p, char *d, const char *s, int64_t tile_idx) {
    switch (p->mode) {
    case CP_MEMCPY: memcpy(d, s, (size_t)p->n * p->es); break;
    case CP_FILL: it_shp_fill(d, s, p->es, p->n); break;
    case CP_STRIDED: strided_run(p->es, d, p->dsi, s, p->ssi, p->n); break;
    case CP_TILED: {
        int64_t r0 = tile_idx * CP_TILE, rows = p->nk - r0 < CP_TILE ? p->nk - r0 : CP_TILE;
        tile_block(p->es, d, p->dsk, s, p->ssi, rows, p->n);
    } break;
    }
}

static void copy_range(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    const cplan *p = arg;
    int no = p->no;
    int64_t idx[IT_MAX_DIMS + 1], rem = b, doff = 0, soff = 0;
    for (int i = no - 1; i >= 0; i--) {
        idx[i] = rem % p->od[i];
        rem /= p->od[i];
        doff += idx[i] * p->ods[i];
        soff += idx[i] * p->oss[i];
    }
    int64_t es = (int64_t)p->es;
    for (int64_t r = b; r < e; r++) {
        do_row(p, p->dst + doff * es, p->src + soff * es, no ? idx[no - 1] : 0);
        for (int i = no - 1; i >= 0; i--) {
            doff += p->ods[i];
            soff += p->oss[i];
            if (++idx[i] < p->od[i]) break;
            doff -= p->ods[i] * p->od[i];
            soff -= p->oss[i] * p->od[i];
            idx[i] = 0;
        }
    }
}

void it_shp_copy(it_threadpool *tp, size_t es, int nd, const int64_t *dims, void *dst, const int64_t *dst_st,
                 const void *src, const int64_t *src_st) {
    int64_t d[IT_MAX_DIMS * 2], ds[IT_MAX_DIMS * 2], ss[IT_MAX_DIMS * 2];
    int n = 0;
    if (nd > IT_MAX_DIMS * 2) return;
    for (int i = 0; i < nd; i++) {
        if (dims[i] == 0) return;
        if (dims[i] == 1) continue;
        d[n] = dims[i];
        ds[n] = dst_st[i];
        ss[n] = src_st[i];
        n++;
    }
    /* merge dim i into i+1 when both strides allow it (walk from the inside) */
    int m = 0;
    int64_t md[IT_MAX_DIMS * 2], mds[IT_MAX_DIMS * 2], mss[IT_MAX_DIMS * 2];
    for (int i = n - 1; i >= 0; i--) {
        if (m > 0 && ds[i] == mds[0] * md[0] && ss[i] == mss[0] * md[0]) {
            md[0] *= d[i];
            continue;
        }
        memmove(md + 1, md, sizeof(int64_t) * (size_t)m);
        memmove(mds + 1, mds, sizeof(int64_t) * (size_t)m);
        memmove(mss + 1, mss, sizeof(int64_t) * (size_t)m);
        md[0] = d[i];
        mds[0] = ds[i];
        mss[0] = ss[i];
        m++;
    }
    if (m == 0) {
        memcpy(dst, src, es);
        return;
    }
    if (m > IT_MAX_DIMS) { /* too many distinct dims for the plan: peel the outermost ones */
        int64_t outer[IT_MAX_DIMS * 2];
        int no = m - IT_MAX_DIMS;
        memset(outer, 0, sizeof outer);
        do {
            int64_t doff = 0, soff = 0;
            for (int i = 0; i < no; i++) doff += outer[i] * mds[i], soff += outer[i] * mss[i];
            it_shp_copy(tp, es, IT_MAX_DIMS, md + no, (char *)dst + doff * (int64_t)es, mds + no,
                        (const char *)src + soff * (int64_t)es, mss + no);
        } while (it_next_index(no, md, outer));
        return;
    }
    cplan p;
    memset(&p, 0, sizeof p);
    p.es = es;
    p.dst = dst;
    p.src = src;
    int in = m - 1;
    p.n = md[in];
    p.dsi = mds[in];
    p.ssi = mss[in];
    int k = -1;
    if (p.dsi == 1 && p.ssi == 1) p.mode = CP_MEMCPY;
    else if (p.dsi == 1 && p.ssi == 0) p.mode = CP_FILL;
    else {
        p.mode = CP_STRIDED;
        if (p.dsi == 1 && p.n >= 4) /* a source dim with unit stride: transpose it in tiles */
            for (int i = in - 1; i >= 0; i--)
                if (mss[i] == 1 && md[i] >= 4) { k = i; break; }
    }
    int64_t rows = 1;
    for (int i = 0; i < in; i++) {
        if (i == k) continue;
        p.od[p.no] = md[i];
        p.ods[p.no] = mds[i];
        p.oss[p.no] = mss[i];
        p.no++;
        rows *= md[i];
    }
    if (k >= 0) {
        p.mode = CP_TILED;
        p.nk = md[k];
        p.dsk = mds[k];
        int64_t nt = (md[k] + CP_TILE - 1) / CP_TILE;
        p.od[p.no] = nt;
        p.ods[p.no] = CP_TILE * mds[k];
        p.oss[p.no] = CP_TILE;
        p.no++;
        rows *= nt;
    }
    int64_t per_row = p.n * (k >= 0 ? CP_TILE : 1);
    int64_t grain = (int64_t)(65536 / (es ? es : 1)) / (per_row ? per_row : 1);
    if (grain < 1) grain = 1;
    if (rows <= grain) copy_range(&p, 0, rows, 0);
    else it_parallel_for(tp, rows, grain, copy_range, &p);
}

typedef struct mcp {
    char *d;
    const char *s;
    size_t n, chunk;
} mcp;

static void memcpy_range(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    const mcp *m = arg;
    size_t lo = (size_t)b * m->chunk, hi = (size_t)e * m->chunk;
    if (hi > m->n) hi = m->n;
    if (lo < hi) memcpy(m->d + lo, m->s + lo, hi - lo);
}

void it_shp_memcpy(it_threadpool *tp, void *dst, const void *src, size_t n) {
    const size_t chunk = (size_t)1 << 18;
    if (n <= 2 * chunk || !tp) {
        if (n) memcpy(dst, src, n);
        return;
    }
    mcp m = {dst, src, n, chunk};
    it_parallel_for(tp, (int64_t)((n + chunk - 1) / chunk), 1, memcpy_range, &m);
}

int it_shp_dup_strings(char **p, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        char *s = it_strdup(p[i] ? p[i] : "");
        if (!s) {
            for (int64_t j = i; j < n; j++) p[j] = NULL;
            return INGOT_ERR_NOMEM;
        }
        p[i] = s;
    }
    return 0;
}
