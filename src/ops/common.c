/*
 * common.c: broadcasting, strides and tensor-reading helpers for operators.
 */
#include "ops.h"

int it_broadcast_shape(int na, const int64_t *da, int nb, const int64_t *db, int *nout, int64_t *dout) {
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int64_t a = i < n - na ? 1 : da[i - (n - na)];
        int64_t b = i < n - nb ? 1 : db[i - (n - nb)];
        if (a == b || b == 1) dout[i] = a;
        else if (a == 1) dout[i] = b;
        else return INGOT_ERR_SHAPE;
    }
    *nout = n;
    return 0;
}

void it_broadcast_strides(int n, const int64_t *d, int nout, const int64_t *dout, int64_t *strides) {
    int64_t s = 1;
    for (int i = nout - 1; i >= 0; i--) {
        int k = i - (nout - n);
        if (k < 0) { strides[i] = 0; continue; }
        strides[i] = (d[k] == 1 && dout[i] != 1) ? 0 : s;
        s *= d[k];
    }
}

void it_strides(int n, const int64_t *d, int64_t *strides) {
    int64_t s = 1;
    for (int i = n - 1; i >= 0; i--) {
        strides[i] = s;
        s *= d[i];
    }
}

int64_t it_read_ints(const it_tensor *t, int64_t *out, int64_t max) {
    int64_t n = it_count(t);
    if (n > max || !(it_dtype_is_int(t->dtype) || t->dtype == IT_BOOL)) return -1;
    for (int64_t i = 0; i < n; i++) out[i] = it_get_i64(t->data, t->dtype, i);
    return n;
}

double it_scalar(const it_tensor *t) {
    if (it_count(t) < 1) return 0;
    return it_get_f64(t->data, t->dtype, 0);
}
