/*
 * random.c: random generators: Bernoulli, RandomUniform, RandomUniformLike,
 * RandomNormal, RandomNormalLike and Multinomial. All are flagged IT_OP_NO_FOLD so
 * constant folding never freezes their output.
 *
 * Each node owns a small state: its seed (the `seed` attribute, or one derived from
 * the node's address and the clock) and a run counter bumped atomically, so
 * concurrent runs of one graph get distinct, reproducible streams (seed, run) with
 * no global state. The generator is xoshiro256** seeded through splitmix64.
 * Workload: dropout-like masks and sampling in exported graphs; outputs are small.
 */
#include <time.h>

#include "ops.h"

typedef struct rnd_state {
    uint64_t seed;
    uint64_t runs; /* bumped atomically per run */
} rnd_state;

typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng *r) {
    uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

/* uniform in [0, 1) with 53 random bits */
static double rng_unit(rng *r) { return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }

static double rng_normal(rng *r) {
    double u1 = rng_unit(r), u2 = rng_unit(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static void rnd_free(void *p) { free(p); }

static int rnd_init(it_node *n, it_err *e) {
    rnd_state *s = calloc(1, sizeof *s);
    if (!s) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    const it_attr *a = it_attr_get(n, "seed");
    if (a) {
        double sd = a->type == IT_ATTR_INT ? (double)a->i : (double)a->f;
        uint64_t bits;
        memcpy(&bits, &sd, sizeof bits);
        s->seed = bits ^ 0x5eed5eed5eed5eedull;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s->seed = (uint64_t)(uintptr_t)n ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec;
    }
    n->state = s;
    return 0;
}

static int rnd_start(it_opctx *c, rng *r) {
    rnd_state *s = c->node->state;
    if (!s) return it_opfail(c, INGOT_ERR_INTERNAL, "random state missing");
    uint64_t run = __atomic_fetch_add(&s->runs, 1, __ATOMIC_RELAXED);
    uint64_t x = s->seed ^ (run * 0xd1342543de82ef95ull);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix(&x);
    return 0;
}

static int float_dtype_ok(int dt) { return dt == IT_F32 || dt == IT_F64 || dt == IT_F16 || dt == IT_BF16; }

/* ---------------------------------------------------------------- Bernoulli */

static int bernoulli_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, P);
    if (!it_dtype_is_float(P->dtype)) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "input type %s", it_dtype_name(P->dtype));
    int dt = (int)it_attr_int(c->node, "dtype", P->dtype);
    if (!(it_dtype_is_float(dt) || it_dtype_is_int(dt) || dt == IT_BOOL) || !it_dtype_size(dt))
        return it_opfail(c, INGOT_ERR_UNSUPPORTED, "output dtype %d", dt);
    rng r;
    int st = rnd_start(c, &r);
    if (st) return st;
    it_tensor *Y;
    if ((st = it_out_like(c, 0, dt, P, &Y))) return st;
    int64_t n = it_count(P);
    for (int64_t i = 0; i < n; i++) {
        double p = it_get_f64(P->data, P->dtype, i);
        double v = rng_unit(&r) < p ? 1.0 : 0.0;
        if (dt == IT_BOOL) ((uint8_t *)Y->data)[i] = (uint8_t)v;
        else it_set_f64(Y->data, dt, i, v);
    }
    return 0;
}

/* ---------------------------------------------------------------- RandomUniform / RandomNormal (+Like) */

static int fill_random(it_opctx *c, it_tensor *Y, int normal) {
    const it_node *n = c->node;
    rng r;
    int st = rnd_start(c, &r);
    if (st) return st;
    double a, b;
    if (normal) a = it_attr_float(n, "mean", 0.0f), b = it_attr_float(n, "scale", 1.0f);
    else a = it_attr_float(n, "low", 0.0f), b = it_attr_float(n, "high", 1.0f);
    int64_t cnt = it_count(Y);
    for (int64_t i = 0; i < cnt; i++) {
        double v = normal ? a + b * rng_normal(&r) : a + (b - a) * rng_unit(&r);
        it_set_f64(Y->data, Y->dtype, i, v);
    }
    return 0;
}

static int random_shape_run(it_opctx *c, int normal) {
    const int64_t *shape;
    int nd = it_attr_ints(c->node, "shape", &shape);
    if (!it_attr_get(c->node, "shape")) return it_opfail(c, INGOT_ERR_FORMAT, "shape attribute is required");
    if (nd > IT_MAX_DIMS) return it_opfail(c, INGOT_ERR_LIMIT, "rank %d too large", nd);
    for (int i = 0; i < nd; i++)
        if (shape[i] < 0) return it_opfail(c, INGOT_ERR_SHAPE, "negative dimension");
    int dt = (int)it_attr_int(c->node, "dtype", IT_F32);
    if (!float_dtype_ok(dt)) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "dtype %d", dt);
    it_tensor *Y;
    int st = it_out_tensor(c, 0, dt, nd, shape, &Y);
    if (st) return st;
    return fill_random(c, Y, normal);
}

static int random_like_run(it_opctx *c, int normal) {
    IT_REQUIRE_IN(c, 0, X);
    int dt = (int)it_attr_int(c->node, "dtype", X->dtype);
    if (!float_dtype_ok(dt)) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "dtype %d", dt);
    it_tensor *Y;
    int st = it_out_like(c, 0, dt, X, &Y);
    if (st) return st;
    return fill_random(c, Y, normal);
}

static int runiform_run(it_opctx *c) { return random_shape_run(c, 0); }
static int rnormal_run(it_opctx *c) { return random_shape_run(c, 1); }
static int runiform_like_run(it_opctx *c) { return random_like_run(c, 0); }
static int rnormal_like_run(it_opctx *c) { return random_like_run(c, 1); }

/* ---------------------------------------------------------------- Multinomial */

static int multinomial_run(it_opctx *c) {
    IT_REQUIRE_IN(c, 0, X);
    if (!it_dtype_is_float(X->dtype)) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "input type %s", it_dtype_name(X->dtype));
    if (X->ndim != 2) return it_opfail(c, INGOT_ERR_SHAPE, "input must be [batch, classes]");
    int64_t B = X->dims[0], C = X->dims[1], S = it_attr_int(c->node, "sample_size", 1);
    if (S < 0) return it_opfail(c, INGOT_ERR_FORMAT, "sample_size must be >= 0");
    int dt = (int)it_attr_int(c->node, "dtype", IT_I32);
    if (dt != IT_I32 && dt != IT_I64) return it_opfail(c, INGOT_ERR_UNSUPPORTED, "dtype must be int32 or int64");
    int64_t od[2] = {B, S};
    it_tensor *Y;
    int st = it_out_tensor(c, 0, dt, 2, od, &Y);
    if (st) return st;
    rng r;
    if ((st = rnd_start(c, &r))) return st;
    double *cum = it_scratch(c, (size_t)(C + 1) * sizeof(double));
    if (!cum) return it_opfail(c, INGOT_ERR_NOMEM, "out of memory");
    for (int64_t b = 0; b < B; b++) {
        double m = -INFINITY, tot = 0;
        for (int64_t k = 0; k < C; k++) {
            double v = it_get_f64(X->data, X->dtype, b * C + k);
            if (v > m) m = v;
        }
        for (int64_t k = 0; k < C; k++) {
            double v = it_get_f64(X->data, X->dtype, b * C + k);
            tot += m == -INFINITY ? 0 : exp(v - m);
            cum[k] = tot;
        }
        for (int64_t s = 0; s < S; s++) {
            int64_t pick = C > 0 ? C - 1 : 0;
            if (tot > 0) {
                double u = rng_unit(&r) * tot;
                int64_t lo = 0, hi = C - 1;
                while (lo < hi) {
                    int64_t mid = (lo + hi) / 2;
                    if (cum[mid] > u) hi = mid;
                    else lo = mid + 1;
                }
                pick = lo;
            }
            if (dt == IT_I32) ((int32_t *)Y->data)[b * S + s] = (int32_t)pick;
            else ((int64_t *)Y->data)[b * S + s] = pick;
        }
    }
    return 0;
}

const it_op it_ops_random[] = {
    {"", "Bernoulli", rnd_init, bernoulli_run, rnd_free, IT_OP_NO_FOLD, NULL},
    {"", "RandomUniform", rnd_init, runiform_run, rnd_free, IT_OP_NO_FOLD, NULL},
    {"", "RandomUniformLike", rnd_init, runiform_like_run, rnd_free, IT_OP_NO_FOLD, NULL},
    {"", "RandomNormal", rnd_init, rnormal_run, rnd_free, IT_OP_NO_FOLD, NULL},
    {"", "RandomNormalLike", rnd_init, rnormal_like_run, rnd_free, IT_OP_NO_FOLD, NULL},
    {"", "Multinomial", rnd_init, multinomial_run, rnd_free, IT_OP_NO_FOLD, NULL},
    {0},
};
