/*
 * ingot_llm_sched.h: per-sequence helpers for callers that drive ingot_llm_decode
 * themselves (the server's continuous-batching scheduler): a token sampler seeded from
 * ingot_llm_gen_params (penalties over the sequence's own history, logit bias, top-k,
 * top-p, min-p, typical-p, temperature, log-probabilities of the chosen and the top-N
 * tokens), and a text streamer that turns the sampled ids of one sequence into text that
 * is safe to show: complete UTF-8 only, and nothing that may still become a stop string.
 * Both give exactly what ingot_llm_generate gives for the same model, prompt and params.
 *
 * Threads: both objects belong to one thread at a time (they may be created on one
 * thread and handed to another). The model must outlive them. Every *_free accepts NULL.
 */
#ifndef INGOT_LLM_SCHED_H
#define INGOT_LLM_SCHED_H

#include "ingot_llm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ingot_llm_sampler ingot_llm_sampler;

/* A sampler with p's sampling fields (temp, top_k, top_p, min_p, typical_p, penalties,
 * penalty_last_n, seed, logit_bias (copied), n_logprobs). Bad values (NaN, a bias id
 * outside the vocabulary, n_logprobs > 20) fail with a message in err. */
ingot_status ingot_llm_sampler_create(const ingot_llm *m, const ingot_llm_gen_params *p, ingot_llm_sampler **out,
                                      char *err, size_t errlen);
void ingot_llm_sampler_free(ingot_llm_sampler *s);
/* Record a token of the sequence (prompt tokens too) in the penalty history. */
void ingot_llm_sampler_accept(ingot_llm_sampler *s, int32_t id);
/* Choose a token from one row of n_vocab logits (not modified); does not accept it.
 * tok (may be NULL) gets the id, its log-probability and the top-N list, whose arrays
 * are owned by s and valid until the next call. Returns the id, or -1 when the logit
 * bias bans every token. */
int32_t ingot_llm_sampler_sample(ingot_llm_sampler *s, const float *logits, ingot_llm_token *tok);
/* Several rows at once on c's compute threads (c is busy meanwhile, like a decode):
 * ids[i] = ingot_llm_sampler_sample(smp[i], logits + i * ld, toks ? &toks[i] : NULL) for
 * i < n, each with the result it has alone. The samplers must be distinct. */
void ingot_llm_sampler_sample_rows(ingot_llm_ctx *c, int n, ingot_llm_sampler *const *smp, const float *logits,
                                   int64_t ld, int32_t *ids, ingot_llm_token *toks);
/* ingot_llm_decode, then ingot_llm_sampler_sample_rows over its output rows (smp[k] draws
 * output row k; logits must hold them all), with the same results; a row is drawn on the
 * thread that computed it as soon as that thread's part of the batch is done (a batch of
 * several sequences split between threads does not wait for every row first). */
ingot_status ingot_llm_decode_sample(ingot_llm_ctx *c, int64_t n, const int32_t *tokens, const int32_t *pos,
                                     const int32_t *seq, const uint8_t *want_logits, float *logits,
                                     ingot_llm_sampler *const *smp, int32_t *ids, ingot_llm_token *toks);

/* Up to n_steps decode steps of n distinct sequences in one call, each feeding back the
 * token it draws: step 0 decodes tokens[i] at position pos[i] of sequence seq[i], and each
 * step the token smp[i] draws from the sequence's logits is accepted into smp[i]'s history
 * and fed to the next. Sequence i takes at most steps[i] steps (1 to n_steps), and none
 * after it draws an end-of-generation token when stop_eog (may be NULL) has stop_eog[i]
 * set, or after its logit bias bans every token (id -1). On return steps[i] holds the
 * steps it took, ids[k * n + i] and logprobs[k * n + i] (logprobs may be NULL) what it drew
 * at step k. The results equal those of ingot_llm_decode_sample step by step, each draw
 * accepted; the cache holds exactly the positions fed. A small model's sequences run in
 * parts, each part's steps on one thread with no synchronization between steps. A call
 * refused for its arguments changes nothing; a step that fails ends the call with the
 * steps before it counted and kept. */
ingot_status ingot_llm_decode_steps(ingot_llm_ctx *c, int n, const int32_t *tokens, const int32_t *pos,
                                    const int32_t *seq, ingot_llm_sampler *const *smp, const uint8_t *stop_eog,
                                    int n_steps, int *steps, int32_t *ids, float *logprobs);
typedef struct ingot_llm_streamer ingot_llm_streamer;

/* A streamer for one generated sequence; stop strings are copied. */
ingot_status ingot_llm_streamer_create(const ingot_llm *m, const char *const *stop, int n_stop,
                                       ingot_llm_streamer **out, char *err, size_t errlen);
void ingot_llm_streamer_free(ingot_llm_streamer *s);
/* Feed the next generated id. *text and *len: the bytes that became safe (valid until the
 * next call on s; len may be 0). Returns 1 when a stop string occurred (text ends just
 * before it; generation should end), 0 otherwise, or a negative status. */
int ingot_llm_streamer_push(ingot_llm_streamer *s, int32_t id, const char **text, size_t *len);
/* End of generation (not after a stop string): everything held back, with an incomplete
 * UTF-8 tail as U+FFFD. */
void ingot_llm_streamer_flush(ingot_llm_streamer *s, const char **text, size_t *len);

#ifdef __cplusplus
}
#endif

#endif
