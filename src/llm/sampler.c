/*
 * sampler.c: token sampling of sampler.h. Candidates are (id, logit) pairs; truncation
 * steps keep a prefix of the candidates sorted by logit (ties by id, so the order is
 * total and results never depend on qsort's stability).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm/sampler.h"
#include "kernels/qdot.h"

typedef struct cand {
    int32_t id;
    float logit;
    float p;
} cand;

struct it_sampler {
    it_sampler_params p;
    it_logit_bias *bias;
    uint64_t rng[4];
    int32_t *hist; /* ring of the last penalty_last_n accepted tokens (or all, growing) */
    int64_t n_hist, cap_hist, head;
    int64_t n_vocab;
    cand *c, *c2;
    uint8_t *mark;  /* [n_vocab] zeroed flags */
    float *work;   /* [n_vocab] penalized logits */
    int32_t *count; /* [n_vocab] occurrences in the window */
};

void it_sampler_params_default(it_sampler_params *p) {
    memset(p, 0, sizeof *p);
    p->temp = 0.8f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->typical_p = 1.0f;
    p->repeat_penalty = 1.0f;
    p->penalty_last_n = 64;
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro(uint64_t *s) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

static double uniform(it_sampler *s) { return (double)(xoshiro(s->rng) >> 11) * (1.0 / 9007199254740992.0); }

void it_sampler_reset(it_sampler *s) {
    uint64_t x = s->p.seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
    s->n_hist = s->head = 0;
}

int it_sampler_create(const it_sampler_params *p, int64_t n_vocab, it_sampler **out, it_err *e) {
    *out = NULL;
    if (n_vocab <= 0 || n_vocab > (1 << 24)) return it_fail(e, INGOT_ERR_INVALID_ARG, "n_vocab %lld", (long long)n_vocab);
    if (p->n_bias < 0 || p->n_bias > IT_SAMPLER_MAX_BIAS || (p->n_bias && !p->bias))
        return it_fail(e, INGOT_ERR_LIMIT, "logit bias: %d entries (at most %d)", p->n_bias, IT_SAMPLER_MAX_BIAS);
    if (p->n_logprobs < -1 || p->n_logprobs > IT_SAMPLER_MAX_LOGPROBS)
        return it_fail(e, INGOT_ERR_LIMIT, "logprobs: %d requested (at most %d)", p->n_logprobs,
                       IT_SAMPLER_MAX_LOGPROBS);
    if (!(p->top_p == p->top_p) || !(p->min_p == p->min_p) || !(p->temp == p->temp) || !(p->typical_p == p->typical_p))
        return it_fail(e, INGOT_ERR_INVALID_ARG, "a sampling parameter is NaN");
    for (int32_t i = 0; i < p->n_bias; i++)
        if (p->bias[i].id < 0 || p->bias[i].id >= n_vocab)
            return it_fail(e, INGOT_ERR_INVALID_ARG, "logit bias for token %d: outside the vocabulary [0, %lld)",
                           p->bias[i].id, (long long)n_vocab);
    it_sampler *s = calloc(1, sizeof *s);
    if (!s) return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->c = malloc((size_t)n_vocab * sizeof *s->c);
    s->c2 = malloc((size_t)n_vocab * sizeof *s->c2);
    s->mark = calloc((size_t)n_vocab, 1);
    s->work = malloc((size_t)n_vocab * sizeof *s->work);
    s->count = calloc((size_t)n_vocab, sizeof *s->count);
    s->bias = malloc((size_t)(p->n_bias ? p->n_bias : 1) * sizeof *s->bias);
    s->cap_hist = p->penalty_last_n > 0 ? p->penalty_last_n : 256;
    s->hist = malloc((size_t)s->cap_hist * sizeof *s->hist);
    if (!s->c || !s->c2 || !s->mark || !s->work || !s->count || !s->bias || !s->hist) {
        it_sampler_free(s);
        return it_fail(e, INGOT_ERR_NOMEM, "out of memory");
    }
    if (p->n_bias) memcpy(s->bias, p->bias, (size_t)p->n_bias * sizeof *s->bias);
    s->p.bias = s->bias;
    it_sampler_reset(s);
    *out = s;
    return 0;
}

void it_sampler_free(it_sampler *s) {
    if (!s) return;
    free(s->c);
    free(s->c2);
    free(s->mark);
    free(s->work);
    free(s->count);
    free(s->bias);
    free(s->hist);
    free(s);
}

void it_sampler_accept(it_sampler *s, int32_t id) {
    if (id < 0 || id >= s->n_vocab || s->p.penalty_last_n == 0) return;
    if (s->p.penalty_last_n > 0) { /* ring */
        s->hist[s->head] = id;
        s->head = (s->head + 1) % s->cap_hist;
        if (s->n_hist < s->cap_hist) s->n_hist++;
        return;
    }
    if (s->n_hist == s->cap_hist) { /* all tokens: grow (on failure the oldest is dropped) */
        int32_t *nh = s->cap_hist < (1 << 24) ? realloc(s->hist, (size_t)s->cap_hist * 2 * sizeof *nh) : NULL;
        if (!nh) {
            memmove(s->hist, s->hist + 1, (size_t)(s->n_hist - 1) * sizeof *nh);
            s->n_hist--;
        } else {
            s->hist = nh;
            s->cap_hist *= 2;
        }
    }
    s->hist[s->n_hist++] = id;
}

static int cand_cmp(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* better(a, b): a sorts before b */
static int better(const cand *a, const cand *b) { return cand_cmp(a, b) < 0; }

/* Move the best k of c[0..n) to the front, sorted. */
static void partial_sort(cand *c, int64_t n, int64_t k) {
    if (k >= n) {
        qsort(c, (size_t)n, sizeof *c, cand_cmp);
        return;
    }
    /* min-heap of the best k at c[0..k): root is the worst kept */
    for (int64_t i = k / 2 - 1; i >= 0; i--) {
        int64_t j = i;
        for (;;) {
            int64_t l = 2 * j + 1, r = l + 1, w = j;
            if (l < k && better(&c[w], &c[l])) w = l;
            if (r < k && better(&c[w], &c[r])) w = r;
            if (w == j) break;
            cand t = c[j]; c[j] = c[w]; c[w] = t;
            j = w;
        }
    }
    for (int64_t i = k; i < n; i++) {
        if (!better(&c[i], &c[0])) continue;
        c[0] = c[i];
        int64_t j = 0;
        for (;;) {
            int64_t l = 2 * j + 1, r = l + 1, w = j;
            if (l < k && better(&c[w], &c[l])) w = l;
            if (r < k && better(&c[w], &c[r])) w = r;
            if (w == j) break;
            cand t = c[j]; c[j] = c[w]; c[w] = t;
            j = w;
        }
    }
    qsort(c, (size_t)k, sizeof *c, cand_cmp);
}

/* softmax of c[0..n) (any order) into .p */
static void softmax(cand *c, int64_t n, float temp) {
    double sum = 0;
    float mx = c[0].logit;
    for (int64_t i = 1; i < n; i++) mx = c[i].logit > mx ? c[i].logit : mx;
    for (int64_t i = 0; i < n; i++) {
        c[i].p = expf((c[i].logit - mx) / temp);
        sum += c[i].p;
    }
    for (int64_t i = 0; i < n; i++) c[i].p = (float)(c[i].p / sum);
}

/* e[0] + ... + e[15] as a tree of independent adds */
static float block_sum16(const float *e) {
    float h[8];
    for (int i = 0; i < 8; i++) h[i] = e[i] + e[i + 8];
    return ((h[0] + h[4]) + (h[2] + h[6])) + ((h[1] + h[5]) + (h[3] + h[7]));
}

int32_t it_sampler_sample(it_sampler *s, const float *logits, it_sample_result *res) {
    const it_sampler_params *p = &s->p;
    const int64_t V = s->n_vocab;
    float *w = s->work;
    memcpy(w, logits, (size_t)V * sizeof *w);
    for (int32_t i = 0; i < p->n_bias; i++) w[p->bias[i].id] += p->bias[i].bias;
    int pen = s->n_hist > 0 && (p->repeat_penalty != 1.0f || p->freq_penalty != 0 || p->presence_penalty != 0);
    if (pen) {
        for (int64_t i = 0; i < s->n_hist; i++) s->count[s->hist[i]]++;
        for (int64_t i = 0; i < s->n_hist; i++) {
            int32_t id = s->hist[i];
            int32_t n = s->count[id];
            if (n <= 0) continue; /* already applied */
            float l = w[id];
            if (p->repeat_penalty != 1.0f && p->repeat_penalty > 0) l = l > 0 ? l / p->repeat_penalty : l * p->repeat_penalty;
            l -= (float)n * p->freq_penalty + p->presence_penalty;
            w[id] = l;
            s->count[id] = -n;
        }
        for (int64_t i = 0; i < s->n_hist; i++) s->count[s->hist[i]] = 0;
    }
    /* argmax + log-partition over the full distribution: the largest value by the vector
     * kernel, then its first index (NaN and -inf never win; ties keep the lowest id) */
    int64_t best = -1;
    float mx = it_qdot()->max_f32(w, V);
    if (mx == mx) {
        if (mx > -INFINITY)
            for (int64_t i = 0; i < V; i++)
                if (w[i] == mx) {
                    best = i;
                    break;
                }
    } else { /* (a leading NaN) */
        mx = -INFINITY;
        for (int64_t i = 0; i < V; i++)
            if (w[i] > mx) mx = w[i], best = i;
    }
    if (best < 0 || !(mx == mx)) {
        if (res) memset(res, 0, sizeof *res), res->id = -1;
        return -1;
    }
    float logz = 0;
    if (res && p->n_logprobs >= 0) {
        double z = 0;
        for (int64_t i = 0; i < V; i++)
            if (w[i] > -INFINITY) z += exp((double)w[i] - mx);
        logz = (float)((double)mx + log(z));
    }
    int32_t chosen;
    if (p->temp <= 0) chosen = (int32_t)best;
    else if ((p->top_k <= 0 || p->top_k >= V) && p->top_p >= 1.0f && p->min_p <= 0 && p->typical_p >= 1.0f) {
        /* nothing truncated (the OpenAI API's defaults): draw from the whole vocabulary in id
         * order, no candidate list, no sort; exp with the kernels' vector exp, per chunk so
         * that the draw scans one chunk */
        enum { CH = 1024 };
        const it_qdot_table *qt = it_qdot();
        float *e = (float *)(void *)s->c, *cs = (float *)(void *)s->c2; /* V floats fit in V candidates */
        const float it = 1.0f / p->temp;
        double tot = 0;
        for (int64_t k = 0; k * CH < V; k++) {
            const int64_t len = V - k * CH < CH ? V - k * CH : CH;
            cs[k] = qt->exp_sum(e + k * CH, w + k * CH, len, it, mx * it);
            tot += cs[k];
        }
        chosen = (int32_t)best;
        if (isfinite(tot)) { /* (a NaN logit: the argmax) */
            const double r = uniform(s) * tot;
            double cum = 0;
            for (int64_t k = 0; k * CH < V; k++) {
                if (r >= cum + cs[k] && (k + 1) * CH < V) {
                    cum += cs[k];
                    continue;
                }
                /* in the chunk: blocks of 16 by their sums, then the block's ids in order */
                const int64_t end = V - k * CH < CH ? V : (k + 1) * CH;
                int found = 0;
                for (int64_t b = k * CH; b < end && !found; b += 16) {
                    const int64_t be = end - b < 16 ? end : b + 16;
                    if (be - b == 16 && be < end) {
                        const float bs = block_sum16(e + b);
                        if (r >= cum + bs) {
                            cum += bs;
                            continue;
                        }
                    }
                    for (int64_t i = b; i < be; i++) {
                        if (e[i] <= 0) continue;
                        cum += e[i];
                        if (r < cum) {
                            chosen = (int32_t)i;
                            found = 1;
                            break;
                        }
                    }
                }
                if (!found) /* rounding left r past the end: the last id with mass */
                    for (int64_t i = end - 1; i >= k * CH; i--)
                        if (e[i] > 0) {
                            chosen = (int32_t)i;
                            break;
                        }
                break;
            }
        }
    } else {
        cand *c = s->c;
        int64_t n = 0;
        for (int64_t i = 0; i < V; i++)
            if (w[i] > -INFINITY) c[n++] = (cand){(int32_t)i, w[i], 0}; /* NaN fails too */
        int64_t k = p->top_k > 0 && p->top_k < n ? p->top_k : n;
        int top_p_done = 0;
        if (k == n && n > 256 && p->typical_p >= 1.0f) {
            /* no top-k (the OpenAI API has none): sort only the head of the distribution that
             * top-p and min-p can keep, not the whole vocabulary. Both keep a prefix of the
             * sorted order; top-p's masses are normalized over every candidate, as below. */
            if (p->min_p > 0 || p->top_p < 1.0f) {
                double z = 0; /* top-p's normalizer (min-p alone needs none) */
                if (p->top_p < 1.0f)
                    for (int64_t i = 0; i < n; i++) z += exp((double)(c[i].logit - mx));
                if (p->min_p > 0) { /* p_i >= min_p * p_max at temperature 1 */
                    const float thr = mx + logf(p->min_p);
                    int64_t m = 0;
                    for (int64_t i = 0; i < n; i++)
                        if (c[i].logit >= thr) c[m++] = c[i];
                    n = m;
                }
                int64_t kk = p->top_p < 1.0f && n > 64 ? 64 : n;
                for (;;) { /* the smallest sorted prefix holding top_p of the mass */
                    partial_sort(c, n, kk);
                    double cum = 0;
                    int64_t cut = -1;
                    for (int64_t i = 0; i < kk && p->top_p < 1.0f; i++) {
                        cum += exp((double)(c[i].logit - mx)) / z;
                        if (cum >= p->top_p) { cut = i + 1; break; }
                    }
                    if (cut > 0) { n = cut; break; }
                    if (kk == n) break;
                    kk = kk * 4 < n ? kk * 4 : n;
                }
                top_p_done = 1;
            }
            k = n; /* top-p and min-p off: sample from everything, unsorted */
        } else {
            partial_sort(c, n, k);
        }
        n = k;
        if (p->typical_p < 1.0f && n > 1) { /* locally typical: closest to the entropy first */
            softmax(c, n, 1.0f);
            double ent = 0;
            for (int64_t i = 0; i < n; i++)
                if (c[i].p > 0) ent -= c[i].p * log(c[i].p);
            cand *d = s->c2; /* (rank, |surprise - entropy|) sorted ascending, ties by rank */
            for (int64_t i = 0; i < n; i++)
                d[i] = (cand){(int32_t)i, -(float)fabs(-log(c[i].p > 0 ? c[i].p : 1e-30f) - ent), 0};
            qsort(d, (size_t)n, sizeof *d, cand_cmp);
            double cum = 0;
            int64_t keep = n;
            for (int64_t i = 0; i < n; i++) {
                cum += c[d[i].id].p;
                if (cum > p->typical_p) { keep = i + 1; break; }
            }
            uint8_t *mark = s->mark;
            for (int64_t i = 0; i < keep; i++) mark[d[i].id] = 1;
            int64_t m = 0;
            for (int64_t i = 0; i < n; i++)
                if (mark[i]) c[m++] = c[i];
            memset(mark, 0, (size_t)n);
            n = m;
        }
        if (p->top_p < 1.0f && n > 1 && !top_p_done) {
            softmax(c, n, 1.0f);
            double cum = 0;
            for (int64_t i = 0; i < n; i++) {
                cum += c[i].p;
                if (cum >= p->top_p) { n = i + 1; break; }
            }
        }
        if (p->min_p > 0 && n > 1) {
            softmax(c, n, 1.0f);
            float thr = c[0].p * p->min_p;
            int64_t m = 1;
            while (m < n && c[m].p >= thr) m++;
            n = m;
        }
        softmax(c, n, p->temp);
        double r = uniform(s), cum = 0;
        chosen = c[n - 1].id;
        for (int64_t i = 0; i < n; i++) {
            cum += c[i].p;
            if (r < cum) { chosen = c[i].id; break; }
        }
    }
    if (res) {
        memset(res, 0, sizeof *res);
        res->id = chosen;
        res->logprob = p->n_logprobs >= 0 ? w[chosen] - logz : 0;
        if (p->n_logprobs > 0) {
            cand *c = s->c;
            int64_t n = 0;
            for (int64_t i = 0; i < V; i++) c[n++] = (cand){(int32_t)i, w[i], 0};
            int64_t k = p->n_logprobs < n ? p->n_logprobs : n;
            partial_sort(c, n, k);
            for (int64_t i = 0; i < k; i++) res->top[i] = (it_token_logprob){c[i].id, c[i].logit - logz};
            res->n_top = (int32_t)k;
        }
    }
    return chosen;
}

int it_stop_find(const char *text, size_t len, const char *const *stops, int n, size_t *at, size_t *safe) {
    size_t first = (size_t)-1;
    for (int i = 0; i < n; i++) {
        size_t sl = strlen(stops[i]);
        if (!sl || sl > len) continue;
        for (size_t k = 0; k + sl <= len && k < first; k++)
            if (!memcmp(text + k, stops[i], sl)) {
                first = k;
                break;
            }
    }
    if (first != (size_t)-1) {
        *at = first;
        *safe = first;
        return 1;
    }
    size_t hold = 0;
    for (int i = 0; i < n; i++) {
        size_t sl = strlen(stops[i]);
        for (size_t k = sl > len ? len : sl - 1; k > hold; k--) /* suffix of length k = prefix of stop */
            if (k < sl && !memcmp(text + len - k, stops[i], k)) {
                hold = k;
                break;
            }
    }
    *safe = len - hold;
    return 0;
}
