/*
 * signal.c: signal-processing operators: DFT (opset 17 axis attribute, opset 20
 * axis input; forward, inverse, one-sided and inverse one-sided i.e. irfft), STFT,
 * the Hann / Hamming / Blackman windows and MelWeightMatrix.
 *
 * Workload: audio front ends (spectrograms, log-mel features) in speech and audio
 * models. Transforms run in double precision with an O(n log n) FFT: iterative
 * radix-2 for power-of-two lengths, Bluestein's chirp-z algorithm (through a
 * power-of-two FFT) for the others. Independent lines are split over the pool,
 * each thread with its own workspace.
 */
#include "ops.h"

/* ------------------------------------------------------------------ FFT plan */

/* An FFT of length n (complex, interleaved re/im doubles). */
typedef struct fft_plan {
    int64_t n;     /* transform length */
    int64_t m;     /* power-of-two size of the inner FFT (n itself when n is a power of two) */
    int pow2;      /* n is a power of two: no Bluestein stage */
    double *tw;    /* m/2 complex twiddles exp(-2 pi i k / m) */
    double *chirp; /* n complex: exp(-pi i k^2 / n) (Bluestein only) */
    double *bfft;  /* m complex: FFT of the conjugate chirp filter (Bluestein only) */
} fft_plan;

static int is_pow2(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

/* In-place radix-2 FFT of size m (a power of two) with twiddles tw; sign -1 forward. */
static void fft_pow2(double *a, int64_t m, const double *tw, int inverse) {
    if (m <= 1) return;
    for (int64_t i = 1, j = 0; i < m; i++) { /* bit reversal */
        int64_t bit = m >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j) {
            double tr = a[2 * i], ti = a[2 * i + 1];
            a[2 * i] = a[2 * j]; a[2 * i + 1] = a[2 * j + 1];
            a[2 * j] = tr; a[2 * j + 1] = ti;
        }
    }
    for (int64_t len = 2; len <= m; len <<= 1) {
        int64_t half = len >> 1, step = m / len;
        for (int64_t s = 0; s < m; s += len) {
            for (int64_t k = 0; k < half; k++) {
                double wr = tw[2 * k * step], wi = tw[2 * k * step + 1];
                if (inverse) wi = -wi;
                double *u = a + 2 * (s + k), *v = a + 2 * (s + k + half);
                double vr = v[0] * wr - v[1] * wi, vi = v[0] * wi + v[1] * wr;
                v[0] = u[0] - vr; v[1] = u[1] - vi;
                u[0] += vr; u[1] += vi;
            }
        }
    }
}

/* Build a plan in scratch memory. Returns 0 or an error. */
static int fft_plan_make(it_opctx *c, fft_plan *p, int64_t n) {
    memset(p, 0, sizeof *p);
    p->n = n;
    p->pow2 = is_pow2(n);
    int64_t m = 1;
    int64_t need = p->pow2 ? n : 2 * n - 1;
    while (m < need) {
        if (m > ((int64_t)1 << 40)) return it_opfail(c, INGOT_ERR_LIMIT, "transform length %lld is too large", (long long)n);
        m <<= 1;
    }
    p->m = m;
    p->tw = it_scratch(c, (size_t)(m / 2 + 1) * 2 * sizeof(double));
    if (!p->tw) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory for FFT twiddles");
    for (int64_t k = 0; k < m / 2; k++) {
        double ang = -2.0 * M_PI * (double)k / (double)m;
        p->tw[2 * k] = cos(ang);
        p->tw[2 * k + 1] = sin(ang);
    }
    if (p->pow2) return 0;
    p->chirp = it_scratch(c, (size_t)n * 2 * sizeof(double));
    p->bfft = it_scratch(c, (size_t)m * 2 * sizeof(double));
    if (!p->chirp || !p->bfft) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory for FFT plan");
    for (int64_t k = 0; k < n; k++) {
        /* k^2 mod 2n keeps the angle exact for long transforms */
        int64_t q = (int64_t)(((unsigned __int128)k * (unsigned __int128)k) % (unsigned __int128)(2 * n));
        double ang = -M_PI * (double)q / (double)n;
        p->chirp[2 * k] = cos(ang);
        p->chirp[2 * k + 1] = sin(ang);
    }
    memset(p->bfft, 0, (size_t)m * 2 * sizeof(double));
    for (int64_t k = 0; k < n; k++) { /* b_t = conj(chirp_|t|) */
        p->bfft[2 * k] = p->chirp[2 * k];
        p->bfft[2 * k + 1] = -p->chirp[2 * k + 1];
        if (k > 0) {
            p->bfft[2 * (m - k)] = p->chirp[2 * k];
            p->bfft[2 * (m - k) + 1] = -p->chirp[2 * k + 1];
        }
    }
    fft_pow2(p->bfft, m, p->tw, 0);
    return 0;
}

/* Doubles of workspace fft_run needs. */
static int64_t fft_work_len(const fft_plan *p) { return p->pow2 ? 0 : 2 * p->m; }

/* Unnormalized DFT of x (n complex) in place: forward exp(-), inverse exp(+). */
static void fft_run(const fft_plan *p, double *x, int inverse, double *work) {
    int64_t n = p->n;
    if (inverse)
        for (int64_t k = 0; k < n; k++) x[2 * k + 1] = -x[2 * k + 1];
    if (p->pow2) {
        fft_pow2(x, n, p->tw, 0);
    } else {
        int64_t m = p->m;
        double *a = work;
        memset(a, 0, (size_t)m * 2 * sizeof(double));
        for (int64_t k = 0; k < n; k++) {
            double cr = p->chirp[2 * k], ci = p->chirp[2 * k + 1];
            a[2 * k] = x[2 * k] * cr - x[2 * k + 1] * ci;
            a[2 * k + 1] = x[2 * k] * ci + x[2 * k + 1] * cr;
        }
        fft_pow2(a, m, p->tw, 0);
        for (int64_t k = 0; k < m; k++) {
            double ar = a[2 * k], ai = a[2 * k + 1], br = p->bfft[2 * k], bi = p->bfft[2 * k + 1];
            a[2 * k] = ar * br - ai * bi;
            a[2 * k + 1] = ar * bi + ai * br;
        }
        fft_pow2(a, m, p->tw, 1);
        double inv_m = 1.0 / (double)m;
        for (int64_t k = 0; k < n; k++) {
            double cr = p->chirp[2 * k], ci = p->chirp[2 * k + 1];
            double ar = a[2 * k] * inv_m, ai = a[2 * k + 1] * inv_m;
            x[2 * k] = ar * cr - ai * ci;
            x[2 * k + 1] = ar * ci + ai * cr;
        }
    }
    if (inverse)
        for (int64_t k = 0; k < n; k++) x[2 * k + 1] = -x[2 * k + 1];
}

/* Read element i of a float tensor's storage as double (f32 fast). */
static inline double rd(const void *d, int dt, int64_t i) {
    return dt == IT_F32 ? (double)((const float *)d)[i] : it_get_f64(d, dt, i);
}
static inline void wr(void *d, int dt, int64_t i, double v) {
    if (dt == IT_F32) ((float *)d)[i] = (float)v;
    else it_set_f64(d, dt, i, v);
}

static int check_float(it_opctx *c, const it_tensor *t, const char *what) {
    if (t->dtype != IT_F32 && t->dtype != IT_F64 && t->dtype != IT_F16 && t->dtype != IT_BF16)
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "%s: dtype %s is not supported", what, it_dtype_name(t->dtype));
    return 0;
}

/* Threads' workspaces: ws[tid] of `len` doubles each. */
static double *thread_work(it_opctx *c, int64_t len, int *nth) {
    int n = it_threadpool_size(c->tp);
    if (n < 1) n = 1;
    *nth = n;
    int64_t tot;
    if (!it_mul_ok(len, n, &tot) || !it_mul_ok(tot, 8, &tot)) return NULL;
    return it_scratch(c, (size_t)tot > 0 ? (size_t)tot : 8);
}

/* ------------------------------------------------------------------ DFT */

typedef struct dft_job {
    const fft_plan *plan;
    const void *x;
    void *y;
    int dt;
    int64_t inner;          /* product of dims between the axis and the last dim */
    int64_t len_in, len_out; /* along the axis */
    int64_t cin, cout;      /* last dim of input (1 or 2) and output (1 or 2) */
    int inverse, irfft;
    double *work;           /* per-thread workspace */
    int64_t work_len;
} dft_job;

static void dft_lines(void *arg, int64_t b, int64_t e, int tid) {
    const dft_job *j = arg;
    int64_t n = j->plan->n;
    double *buf = j->work + (int64_t)tid * j->work_len;
    double *fw = buf + 2 * n;
    for (int64_t line = b; line < e; line++) {
        int64_t o = line / j->inner, in = line % j->inner;
        int64_t ibase = (o * j->len_in * j->inner + in) * j->cin, istep = j->inner * j->cin;
        int64_t obase = (o * j->len_out * j->inner + in) * j->cout, ostep = j->inner * j->cout;
        memset(buf, 0, (size_t)n * 2 * sizeof(double));
        if (j->irfft) {
            /* Hermitian extension of the first n/2+1 values (imag of DC and Nyquist dropped) */
            int64_t h = n / 2 + 1, take = j->len_in < h ? j->len_in : h;
            for (int64_t k = 0; k < take; k++) {
                buf[2 * k] = rd(j->x, j->dt, ibase + k * istep);
                buf[2 * k + 1] = j->cin == 2 ? rd(j->x, j->dt, ibase + k * istep + 1) : 0.0;
            }
            buf[1] = 0;
            if (n % 2 == 0) buf[2 * (n / 2) + 1] = 0;
            for (int64_t k = 1; k < (n + 1) / 2; k++) {
                buf[2 * (n - k)] = buf[2 * k];
                buf[2 * (n - k) + 1] = -buf[2 * k + 1];
            }
        } else {
            int64_t take = j->len_in < n ? j->len_in : n;
            for (int64_t k = 0; k < take; k++) {
                buf[2 * k] = rd(j->x, j->dt, ibase + k * istep);
                buf[2 * k + 1] = j->cin == 2 ? rd(j->x, j->dt, ibase + k * istep + 1) : 0.0;
            }
        }
        fft_run(j->plan, buf, j->inverse, fw);
        double scale = j->inverse ? 1.0 / (double)n : 1.0;
        for (int64_t k = 0; k < j->len_out; k++) {
            wr(j->y, j->dt, obase + k * ostep, buf[2 * k] * scale);
            if (j->cout == 2) wr(j->y, j->dt, obase + k * ostep + 1, buf[2 * k + 1] * scale);
        }
    }
}

static int dft_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    int st = check_float(c, x, "DFT input");
    if (st) return st;
    int r = x->ndim;
    if (r < 2 || (x->dims[r - 1] != 1 && x->dims[r - 1] != 2))
        return it_opfail(c, INGOT_ERR_SHAPE, "input must have rank >= 2 with a last dim of 1 (real) or 2 (complex)");
    int64_t axis;
    if (c->node->opset >= 20) {
        axis = -2;
        it_tensor *ta = it_in(c, 2);
        if (ta && it_count(ta) > 0) {
            if (!it_dtype_is_int(ta->dtype)) return it_opfail(c, INGOT_ERR_FORMAT, "axis must be an integer tensor");
            axis = it_get_i64(ta->data, ta->dtype, 0);
        }
    } else {
        axis = it_attr_int(c->node, "axis", 1);
    }
    if (axis < -r || axis >= r) return it_opfail(c, INGOT_ERR_SHAPE, "axis %lld out of range for rank %d", (long long)axis, r);
    if (axis < 0) axis += r;
    if (axis == r - 1) return it_opfail(c, INGOT_ERR_SHAPE, "axis may not be the last (complex) dimension");
    int inverse = (int)it_attr_int(c->node, "inverse", 0) != 0;
    int onesided = (int)it_attr_int(c->node, "onesided", 0) != 0;
    int64_t len_in = x->dims[axis];
    int64_t n;
    it_tensor *tl = it_in(c, 1);
    if (tl && it_count(tl) > 0) {
        if (!it_dtype_is_int(tl->dtype)) return it_opfail(c, INGOT_ERR_FORMAT, "dft_length must be an integer tensor");
        n = it_get_i64(tl->data, tl->dtype, 0);
    } else {
        n = (inverse && onesided) ? 2 * (len_in - 1) : len_in;
    }
    if (n < 1 || n > IT_LIMIT_ELEMENTS) return it_opfail(c, INGOT_ERR_SHAPE, "invalid dft_length %lld", (long long)n);
    int irfft = inverse && onesided;
    int64_t len_out = irfft ? n : (onesided ? n / 2 + 1 : n);
    int64_t dims[IT_MAX_DIMS];
    memcpy(dims, x->dims, sizeof(int64_t) * (size_t)r);
    dims[axis] = len_out;
    dims[r - 1] = irfft ? 1 : 2;
    it_tensor *y;
    st = it_out_tensor(c, 0, x->dtype, r, dims, &y);
    if (st) return st;
    if (it_count(y) == 0) return 0;
    fft_plan plan;
    st = fft_plan_make(c, &plan, n);
    if (st) return st;
    dft_job j = {&plan, x->data, y->data, x->dtype, 1, len_in, len_out, x->dims[r - 1], dims[r - 1], inverse, irfft,
                 NULL, 0};
    int64_t outer = 1;
    for (int i = 0; i < axis; i++) outer *= x->dims[i];
    for (int i = (int)axis + 1; i < r - 1; i++) j.inner *= x->dims[i];
    j.work_len = 2 * n + fft_work_len(&plan);
    int nth;
    j.work = thread_work(c, j.work_len, &nth);
    if (!j.work) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory for DFT workspace");
    int64_t lines = outer * j.inner;
    int64_t grain = 1 + 4096 / (n + 1);
    it_parallel_for(c->tp, lines, grain, dft_lines, &j);
    return 0;
}

/* ------------------------------------------------------------------ STFT */

typedef struct stft_job {
    const fft_plan *plan;
    const void *x, *win;
    void *y;
    int dt, wdt;
    int64_t L, cin, nframes, step, fl, bins;
    double *work;
    int64_t work_len;
} stft_job;

static void stft_frames(void *arg, int64_t b, int64_t e, int tid) {
    const stft_job *j = arg;
    int64_t n = j->fl;
    double *buf = j->work + (int64_t)tid * j->work_len;
    double *fw = buf + 2 * n;
    for (int64_t fr = b; fr < e; fr++) {
        int64_t bt = fr / j->nframes, f = fr % j->nframes;
        int64_t ibase = (bt * j->L + f * j->step) * j->cin;
        for (int64_t t = 0; t < n; t++) {
            double w = j->win ? rd(j->win, j->wdt, t) : 1.0;
            buf[2 * t] = rd(j->x, j->dt, ibase + t * j->cin) * w;
            buf[2 * t + 1] = j->cin == 2 ? rd(j->x, j->dt, ibase + t * j->cin + 1) * w : 0.0;
        }
        fft_run(j->plan, buf, 0, fw);
        int64_t obase = fr * j->bins * 2;
        for (int64_t k = 0; k < j->bins; k++) {
            wr(j->y, j->dt, obase + 2 * k, buf[2 * k]);
            wr(j->y, j->dt, obase + 2 * k + 1, buf[2 * k + 1]);
        }
    }
}

static int stft_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, x);
    IT_REQUIRE_IN(c, 1, tstep);
    int st = check_float(c, x, "STFT signal");
    if (st) return st;
    if (x->ndim != 3 || (x->dims[2] != 1 && x->dims[2] != 2))
        return it_opfail(c, INGOT_ERR_SHAPE, "signal must be [batch, length, 1 or 2]");
    if (!it_dtype_is_int(tstep->dtype) || it_count(tstep) < 1)
        return it_opfail(c, INGOT_ERR_FORMAT, "frame_step must be an integer scalar");
    int64_t step = it_get_i64(tstep->data, tstep->dtype, 0);
    it_tensor *win = it_in(c, 2);
    it_tensor *tfl = it_in(c, 3);
    int64_t L = x->dims[1], fl;
    if (tfl && it_count(tfl) > 0) {
        if (!it_dtype_is_int(tfl->dtype)) return it_opfail(c, INGOT_ERR_FORMAT, "frame_length must be an integer");
        fl = it_get_i64(tfl->data, tfl->dtype, 0);
        if (win && (win->ndim != 1 || win->dims[0] != fl))
            return it_opfail(c, INGOT_ERR_SHAPE, "window length does not match frame_length %lld", (long long)fl);
    } else if (win) {
        if (win->ndim != 1) return it_opfail(c, INGOT_ERR_SHAPE, "window must be 1-D");
        fl = win->dims[0];
    } else {
        fl = L;
    }
    if (win) {
        st = check_float(c, win, "STFT window");
        if (st) return st;
    }
    if (step < 1) return it_opfail(c, INGOT_ERR_SHAPE, "frame_step must be positive, got %lld", (long long)step);
    if (fl < 1 || fl > L)
        return it_opfail(c, INGOT_ERR_SHAPE, "frame_length %lld does not fit a signal of length %lld", (long long)fl,
                         (long long)L);
    int onesided = (int)it_attr_int(c->node, "onesided", 1) != 0;
    int64_t nframes = 1 + (L - fl) / step;
    int64_t bins = onesided ? fl / 2 + 1 : fl;
    int64_t dims[4] = {x->dims[0], nframes, bins, 2};
    it_tensor *y;
    st = it_out_tensor(c, 0, x->dtype, 4, dims, &y);
    if (st) return st;
    if (it_count(y) == 0) return 0;
    fft_plan plan;
    st = fft_plan_make(c, &plan, fl);
    if (st) return st;
    stft_job j = {&plan, x->data, win ? win->data : NULL, y->data, x->dtype, win ? win->dtype : 0,
                  L, x->dims[2], nframes, step, fl, bins, NULL, 0};
    j.work_len = 2 * fl + fft_work_len(&plan);
    int nth;
    j.work = thread_work(c, j.work_len, &nth);
    if (!j.work) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory for STFT workspace");
    it_parallel_for(c->tp, x->dims[0] * nframes, 1 + 4096 / (fl + 1), stft_frames, &j);
    return 0;
}

/* ------------------------------------------------------------------ windows */

enum { WIN_HANN, WIN_HAMMING, WIN_BLACKMAN };

static int window_run(it_opctx *c, int kind) {
    IT_REQUIRE_IN(c, 0, ts);
    if (!it_dtype_is_int(ts->dtype) || it_count(ts) != 1)
        return it_opfail(c, INGOT_ERR_FORMAT, "size must be an integer scalar");
    int64_t size = it_get_i64(ts->data, ts->dtype, 0);
    if (size < 0 || size > IT_LIMIT_ELEMENTS) return it_opfail(c, INGOT_ERR_SHAPE, "invalid window size %lld", (long long)size);
    int64_t odt = it_attr_int(c->node, "output_datatype", IT_F32);
    if (odt <= 0 || odt >= IT_DTYPE_COUNT || odt == IT_STRING || odt == IT_C64 || odt == IT_C128 ||
        it_dtype_size((int)odt) == 0)
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "output_datatype %lld is not supported", (long long)odt);
    int periodic = (int)it_attr_int(c->node, "periodic", 1) != 0;
    it_tensor *y;
    int st = it_out_tensor(c, 0, (int)odt, 1, &size, &y);
    if (st) return st;
    double N1 = (double)(periodic ? size : size - 1);
    for (int64_t i = 0; i < size; i++) {
        double v, t = (double)i;
        if (N1 <= 0) {
            v = 1.0;
        } else if (kind == WIN_HANN) {
            double s = sin(M_PI * t / N1);
            v = s * s;
        } else if (kind == WIN_HAMMING) {
            double a = 25.0 / 46.0;
            v = a - cos(2.0 * M_PI * t / N1) * (1.0 - a);
        } else {
            v = 0.42 - 0.5 * cos(2.0 * M_PI * t / N1) + 0.08 * cos(4.0 * M_PI * t / N1);
        }
        it_set_f64(y->data, y->dtype, i, v);
    }
    return 0;
}

static int hann_run(it_opctx *c) { return window_run(c, WIN_HANN); }
static int hamming_run(it_opctx *c) { return window_run(c, WIN_HAMMING); }
static int blackman_run(it_opctx *c) { return window_run(c, WIN_BLACKMAN); }

/* ------------------------------------------------------------------ MelWeightMatrix */

static int mel_run(it_opctx *c) {
    it_tensor *t[5];
    for (int i = 0; i < 5; i++) {
        t[i] = it_in(c, i);
        if (!t[i] || it_count(t[i]) != 1) return it_opfail(c, INGOT_ERR_FORMAT, "input %d must be a scalar", i);
    }
    for (int i = 0; i < 3; i++)
        if (!it_dtype_is_int(t[i]->dtype)) return it_opfail(c, INGOT_ERR_FORMAT, "input %d must be an integer", i);
    int64_t nmel = it_get_i64(t[0]->data, t[0]->dtype, 0);
    int64_t dftlen = it_get_i64(t[1]->data, t[1]->dtype, 0);
    int64_t rate = it_get_i64(t[2]->data, t[2]->dtype, 0);
    double lo = it_get_f64(t[3]->data, t[3]->dtype, 0), hi = it_get_f64(t[4]->data, t[4]->dtype, 0);
    if (nmel < 0 || dftlen < 0 || rate <= 0 || nmel > (1 << 24) || dftlen > (int64_t)1 << 30)
        return it_opfail(c, INGOT_ERR_SHAPE, "invalid num_mel_bins %lld, dft_length %lld or sample_rate %lld",
                         (long long)nmel, (long long)dftlen, (long long)rate);
    int64_t odt = it_attr_int(c->node, "output_datatype", IT_F32);
    if (odt <= 0 || odt >= IT_DTYPE_COUNT || odt == IT_STRING || odt == IT_C64 || odt == IT_C128 ||
        it_dtype_size((int)odt) == 0)
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "output_datatype %lld is not supported", (long long)odt);
    int64_t nspec = dftlen / 2 + 1;
    int64_t dims[2] = {nspec, nmel};
    int64_t tot;
    if (!it_mul_ok(nspec, nmel, &tot) || tot > IT_LIMIT_ELEMENTS) return it_opfail(c, INGOT_ERR_LIMIT, "output too large");
    it_tensor *y;
    int st = it_out_tensor(c, 0, (int)odt, 2, dims, &y);
    if (st) return st;
    double *w = it_scratch(c, (size_t)(tot > 0 ? tot : 1) * sizeof(double));
    int64_t *bins = it_scratch(c, (size_t)(nmel + 2) * sizeof(int64_t));
    if (!w || !bins) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    memset(w, 0, (size_t)(tot > 0 ? tot : 1) * sizeof(double));
    /* The edges go through float32 like the ONNX reference (its log1p runs on float32). */
    double lmel = (double)(2595.0f * log1pf((float)lo / 700.0f)) / log(10.0);
    double hmel = (double)(2595.0f * log1pf((float)hi / 700.0f)) / log(10.0);
    double step = (hmel - lmel) / (double)(nmel + 2);
    for (int64_t i = 0; i < nmel + 2; i++) {
        double f = (double)i * step + lmel;
        f = 700.0 * expm1(f / 2595.0 * log(10.0));
        double b = floor((double)(dftlen + 1) * f / (double)rate);
        if (!(b > -1e15 && b < 1e15)) b = -1;
        bins[i] = (int64_t)b;
    }
    for (int64_t i = 0; i < nmel; i++) {
        int64_t l = bins[i], ce = bins[i + 1], h = bins[i + 2];
        int64_t l2c = ce - l;
        if (l2c == 0) {
            if (ce >= 0 && ce < nspec) w[ce * nmel + i] = 1;
        } else {
            int64_t a = l < 0 ? 0 : l, b = ce > nspec - 1 ? nspec - 1 : ce;
            for (int64_t jj = a; jj <= b; jj++) w[jj * nmel + i] = (double)(jj - l) / (double)l2c;
        }
        int64_t c2h = h - ce;
        if (c2h > 0) {
            int64_t a = ce < 0 ? 0 : ce, b = h > nspec ? nspec : h;
            for (int64_t jj = a; jj < b; jj++) w[jj * nmel + i] = (double)(h - jj) / (double)c2h;
        }
    }
    for (int64_t k = 0; k < tot; k++) it_set_f64(y->data, y->dtype, k, w[k]);
    return 0;
}

const it_op it_ops_signal[] = {
    {"", "DFT", NULL, dft_run, NULL, 0, NULL},
    {"", "STFT", NULL, stft_run, NULL, 0, NULL},
    {"", "HannWindow", NULL, hann_run, NULL, 0, NULL},
    {"", "HammingWindow", NULL, hamming_run, NULL, 0, NULL},
    {"", "BlackmanWindow", NULL, blackman_run, NULL, 0, NULL},
    {"", "MelWeightMatrix", NULL, mel_run, NULL, 0, NULL},
    {0},
};
