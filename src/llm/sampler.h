/*
 * sampler.h: choosing the next token from a row of logits: greedy, temperature, top-k,
 * top-p, min-p, typical-p, repetition / frequency / presence penalties over the recent
 * tokens, logit bias, and log-probabilities of the chosen and the top-N tokens; plus stop
 * string matching for streamed text. Each sampler owns its PRNG (xoshiro256** seeded by
 * splitmix64): the same seed and the same logits give the same tokens. No global state.
 *
 * Order of the steps (llama.cpp's default chain): bias -> penalties -> [greedy when
 * temp <= 0] -> top-k -> typical-p -> top-p -> min-p -> temperature -> softmax -> draw.
 * Log-probabilities are those of the biased and penalized logits at temperature 1, over
 * the whole vocabulary (before truncation).
 *
 * Threads: a sampler belongs to one thread at a time.
 */
#ifndef INGOT_LLM_SAMPLER_H
#define INGOT_LLM_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

#define IT_SAMPLER_MAX_LOGPROBS 20
#define IT_SAMPLER_MAX_BIAS 4096

typedef struct it_logit_bias {
    int32_t id;
    float bias; /* added to the logit; -INFINITY bans the token */
} it_logit_bias;

typedef struct it_sampler_params {
    float temp;            /* <= 0: greedy */
    int32_t top_k;         /* <= 0: off */
    float top_p;           /* >= 1: off */
    float min_p;           /* <= 0: off */
    float typical_p;       /* >= 1: off */
    float repeat_penalty;  /* 1: off */
    int32_t penalty_last_n; /* tokens the penalties look at (0: none, -1: all accepted) */
    float freq_penalty, presence_penalty; /* 0: off */
    uint64_t seed;
    const it_logit_bias *bias; /* copied at creation */
    int32_t n_bias;
    int32_t n_logprobs;    /* top-N log-probs to report, 0..IT_SAMPLER_MAX_LOGPROBS; -1: none, not even the
                            * chosen token's (skips the log-partition pass over the vocabulary) */
} it_sampler_params;

/* temp 0.8, top_k 40, top_p 0.95, min_p 0.05, typical_p 1, penalties off, last_n 64, seed 0 */
void it_sampler_params_default(it_sampler_params *p);

typedef struct it_token_logprob {
    int32_t id;
    float logprob;
} it_token_logprob;

typedef struct it_sample_result {
    int32_t id;
    float logprob;         /* of the chosen token */
    int32_t n_top;
    it_token_logprob top[IT_SAMPLER_MAX_LOGPROBS]; /* most likely first */
} it_sample_result;

typedef struct it_sampler it_sampler;

int it_sampler_create(const it_sampler_params *p, int64_t n_vocab, it_sampler **out, it_err *e);
void it_sampler_free(it_sampler *s);
/* Pick a token from logits[n_vocab] (not modified). res may be NULL. Returns the id, or
 * -1 when every token is banned. Does not record the token: call it_sampler_accept. */
int32_t it_sampler_sample(it_sampler *s, const float *logits, it_sample_result *res);
/* Record a token in the penalty history (prompt tokens too, as llama.cpp does). */
void it_sampler_accept(it_sampler *s, int32_t id);
/* Clear the history and reseed with the original seed. */
void it_sampler_reset(it_sampler *s);

/* Stop strings. Looks for the first occurrence of any of stops[0..n) in text[0..len).
 * Returns 1 and sets *at when one occurs; else returns 0 and sets *safe to how many
 * leading bytes can be released (the rest could still grow into a stop string). */
int it_stop_find(const char *text, size_t len, const char *const *stops, int n, size_t *at, size_t *safe);

#endif
