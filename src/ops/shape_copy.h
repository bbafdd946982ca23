/*
 * shape_copy.h: the strided element copy shared by the data-movement operators
 * of shape.c and indexing.c (Transpose, Slice, Expand, Tile, Pad,
 * DepthToSpace, CenterCropPad...), plus string-tensor helpers.
 */
#ifndef INGOT_OPS_SHAPE_COPY_H
#define INGOT_OPS_SHAPE_COPY_H

#include "ops.h"

/* Copy the elements (es bytes each) of the index space dims[0..nd) from
 * src + sum(i_k * src_st[k]) to dst + sum(i_k * dst_st[k]); strides are in
 * elements (src strides may be zero or negative; dst positions must be
 * distinct). Merges dims, copies contiguous runs with memcpy, tiles 2-D
 * transposes and splits the work over the pool when large. */
void it_shp_copy(it_threadpool *tp, size_t es, int nd, const int64_t *dims, void *dst, const int64_t *dst_st,
                 const void *src, const int64_t *src_st);
/* memcpy split over the pool when large. */
void it_shp_memcpy(it_threadpool *tp, void *dst, const void *src, size_t n);
/* Fill n elements of es bytes with the element at val. */
void it_shp_fill(void *dst, const void *val, size_t es, int64_t n);
/* Replace each char* of p[0..n) by a heap copy (NULL becomes ""). On failure
 * the not yet copied entries are set to NULL and INGOT_ERR_NOMEM is returned. */
int it_shp_dup_strings(char **p, int64_t n);

#endif
