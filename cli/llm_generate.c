/*
 * llm_generate.c: `ingot generate` (text generation, streamed to stdout) and the LLM side
 * of `ingot bench` (prompt processing and generation tokens/s, like llama-bench's
 * pp512 / tg128), thin layers over include/ingot_llm.h.
 *   ingot generate -m MODEL -p PROMPT [-n N] [--temp T] [--top-k K] [--top-p P]
 *                  [--min-p P] [--seed S] [-t THREADS] [-c N_CTX] [--tokenizer TOK.bin]
 *   ingot bench -m MODEL.gguf [-t T] [-p 512] [-n 128] [--reps R] [--json]
 * stdout carries only the prompt and the generated text (or the bench table / JSON);
 * diagnostics go to stderr.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingot.h"
#include "ingot_llm.h"
#include "llm_cmds.h"

static int gen_usage(FILE *f) {
    fprintf(f, "usage: ingot generate -m MODEL -p PROMPT [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p P]\n"
               "                      [--typical-p P] [--repeat-penalty R] [--seed S] [-t THREADS] [-c N_CTX]\n"
               "                      [--stop STR]... [--tokenizer TOK.bin] [--ignore-eos] [--kv-type f16|q8_0|f32]\n"
               "                      [--numerics default|llamacpp]\n"
               "-c: context positions (default: the model's, at most 4096). --kv-type: KV cache entries\n"
               "(default f16; q8_0 needs a head size that is a multiple of 32). --numerics llamacpp: the\n"
               "arithmetic of llama.cpp's CPU backend, for logits equal to llama.cpp's (slower).\n"
               "MODEL: a GGUF file, or a llama2.c checkpoint with --tokenizer. --temp 0 is greedy.\n");
    return 2;
}

static int parse_num(const char *s, double *v) {
    char *end;
    *v = strtod(s, &end);
    return end != s && !*end && isfinite(*v);
}

static int on_piece(void *user, const char *text, size_t len, const ingot_llm_token *tok) {
    (void)user;
    (void)tok;
    if (len) {
        fwrite(text, 1, len, stdout);
        fflush(stdout);
    }
    return 0;
}

#define MAX_STOP 16

int cmd_generate(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *tok = NULL;
    const char *stops[MAX_STOP];
    int n_stop = 0;
    ingot_llm_gen_params gp;
    ingot_llm_gen_params_default(&gp);
    ingot_llm_ctx_params cp;
    ingot_llm_ctx_params_default(&cp);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        double v = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { gen_usage(stdout); return 0; }
        if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has) model = argv[++i];
        else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && has) prompt = argv[++i];
        else if ((!strcmp(a, "--tokenizer") || !strcmp(a, "--tok")) && has) tok = argv[++i];
        else if (!strcmp(a, "--stop") && has) {
            if (n_stop == MAX_STOP) { fprintf(stderr, "ingot generate: at most %d stop strings\n", MAX_STOP); return 2; }
            stops[n_stop++] = argv[++i];
        } else if (!strcmp(a, "--ignore-eos")) gp.ignore_eos = 1;
        else if (!strcmp(a, "--kv-type") && has) {
            if ((cp.kv_type = ingot_llm_kv_type_from_name(argv[++i])) < 0) {
                fprintf(stderr, "ingot generate: --kv-type must be f16, q8_0 or f32, not '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--numerics") && has) {
            if ((cp.numerics = ingot_llm_numerics_from_name(argv[++i])) < 0) {
                fprintf(stderr, "ingot generate: --numerics must be default or llamacpp, not '%s'\n", argv[i]);
                return 2;
            }
        } else if (has && parse_num(argv[i + 1], &v) &&
                 (!strcmp(a, "-n") || !strcmp(a, "--n-predict") || !strcmp(a, "--temp") || !strcmp(a, "--top-k") ||
                  !strcmp(a, "--top-p") || !strcmp(a, "--min-p") || !strcmp(a, "--typical-p") ||
                  !strcmp(a, "--repeat-penalty") || !strcmp(a, "--seed") || !strcmp(a, "-t") ||
                  !strcmp(a, "--threads") || !strcmp(a, "-c") || !strcmp(a, "--ctx-size"))) {
            i++;
            if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) gp.max_tokens = v > 1e9 ? 1000000000 : (int32_t)v;
            else if (!strcmp(a, "--temp")) gp.temp = (float)v;
            else if (!strcmp(a, "--top-k")) gp.top_k = (int32_t)v;
            else if (!strcmp(a, "--top-p")) gp.top_p = (float)v;
            else if (!strcmp(a, "--min-p")) gp.min_p = (float)v;
            else if (!strcmp(a, "--typical-p")) gp.typical_p = (float)v;
            else if (!strcmp(a, "--repeat-penalty")) gp.repeat_penalty = (float)v;
            else if (!strcmp(a, "--seed")) gp.seed = (uint64_t)v;
            else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) cp.n_threads = (int)v;
            else cp.n_ctx = (int64_t)v;
        } else if (a[0] != '-' && !model) model = a;
        else {
            fprintf(stderr, "ingot generate: unexpected or incomplete argument '%s'\n", a);
            return gen_usage(stderr);
        }
    }
    if (!model || !prompt) return gen_usage(stderr);
    gp.stop = stops;
    gp.n_stop = n_stop;
    char err[512];
    ingot_llm *m = NULL;
    ingot_llm_ctx *c = NULL;
    ingot_status st = ingot_llm_load(model, tok, &m, err, sizeof err);
    if (st) {
        fprintf(stderr, "ingot generate: %s (%s)\n", err, ingot_status_str(st));
        return 1;
    }
    if ((st = ingot_llm_ctx_create(m, &cp, &c, err, sizeof err))) {
        fprintf(stderr, "ingot generate: %s (%s)\n", err, ingot_status_str(st));
        ingot_llm_free(m);
        return 1;
    }
    fputs(prompt, stdout);
    fflush(stdout);
    ingot_llm_gen_stats gs;
    st = ingot_llm_generate(c, prompt, strlen(prompt), &gp, on_piece, NULL, &gs);
    fflush(stdout);
    int rc = 0;
    if (st) {
        fprintf(stderr, "\ningot generate: %s (%s)\n", ingot_llm_ctx_error(c), ingot_status_str(st));
        rc = 1;
    } else {
        fprintf(stderr, "\ningot generate: prompt %lld tokens in %.1f ms (%.1f t/s), generated %lld tokens in %.1f ms "
                        "(%.1f t/s)\n",
                (long long)gs.n_prompt, gs.prompt_ms, gs.prompt_ms > 0 ? (double)gs.n_prompt * 1000 / gs.prompt_ms : 0,
                (long long)gs.n_gen, gs.gen_ms, gs.gen_ms > 0 ? (double)gs.n_gen * 1000 / gs.gen_ms : 0);
    }
    ingot_llm_ctx_free(c);
    ingot_llm_free(m);
    return rc;
}

/* ---------------------------------------------------------------- bench */

static int bench_usage(FILE *f) {
    fprintf(f, "usage: ingot bench -m MODEL.gguf [-t THREADS] [-p 512] [-n 128] [--reps R] [--json]\n"
               "                   [--kv-type f16|q8_0|f32] [--numerics default|llamacpp]\n"
               "                   [--tokenizer TOK.bin (llama2.c .bin models)]\n");
    return 2;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void mean_sd(const double *v, int n, double *mean, double *sd) {
    double s = 0, q = 0;
    for (int i = 0; i < n; i++) s += v[i];
    *mean = s / n;
    for (int i = 0; i < n; i++) q += (v[i] - *mean) * (v[i] - *mean);
    *sd = n > 1 ? sqrt(q / (n - 1)) : 0;
}

/* pp: one sequence of n_p tokens in batches of 512; tg: n_g single-token steps. */
static int bench_run(ingot_llm_ctx *c, int64_t n_vocab, int n_p, int n_g, float *logits, double *pp_ms, double *tg_ms) {
    int32_t *tok = malloc(sizeof(int32_t) * 512), *pos = malloc(sizeof(int32_t) * 512),
            *seq = calloc(512, sizeof(int32_t));
    uint8_t *want = calloc(512, 1);
    ingot_status st = INGOT_OK;
    if (!tok || !pos || !seq || !want) st = INGOT_ERR_NOMEM;
    *pp_ms = *tg_ms = 0;
    if (!st && n_p > 0) {
        ingot_llm_seq_truncate(c, 0, 0);
        double t0 = now_ms();
        for (int i = 0; i < n_p && !st;) {
            int nb = n_p - i < 512 ? n_p - i : 512;
            for (int k = 0; k < nb; k++) {
                tok[k] = (int32_t)(((int64_t)(i + k) * 7919 + 13) % n_vocab);
                pos[k] = i + k;
                want[k] = i + k == n_p - 1;
            }
            st = ingot_llm_decode(c, nb, tok, pos, seq, want, logits);
            i += nb;
        }
        *pp_ms = now_ms() - t0;
    }
    if (!st && n_g > 0) {
        ingot_llm_seq_truncate(c, 0, 0);
        double t0 = now_ms();
        for (int i = 0; i < n_g && !st; i++) {
            int32_t t = (int32_t)(((int64_t)i * 104729 + 7) % n_vocab), p = i, s = 0;
            st = ingot_llm_decode(c, 1, &t, &p, &s, NULL, logits);
        }
        *tg_ms = now_ms() - t0;
    }
    free(tok);
    free(pos);
    free(seq);
    free(want);
    return st;
}

int cmd_llm_bench(int argc, char **argv) {
    const char *model = NULL, *tok = NULL;
    int threads = 0, n_p = 512, n_g = 128, reps = 5, json = 0, kv_type = INGOT_LLM_KV_F16, numerics = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { bench_usage(stdout); return 0; }
        if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has) model = argv[++i];
        else if ((!strcmp(a, "--tokenizer") || !strcmp(a, "--tok")) && has) tok = argv[++i];
        else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && has) threads = atoi(argv[++i]);
        else if ((!strcmp(a, "-p") || !strcmp(a, "--n-prompt")) && has) n_p = atoi(argv[++i]);
        else if ((!strcmp(a, "-n") || !strcmp(a, "--n-gen")) && has) n_g = atoi(argv[++i]);
        else if ((!strcmp(a, "--reps") || !strcmp(a, "-r")) && has) reps = atoi(argv[++i]);
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--kv-type") && has) {
            if ((kv_type = ingot_llm_kv_type_from_name(argv[++i])) < 0) {
                fprintf(stderr, "ingot bench: --kv-type must be f16, q8_0 or f32, not '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--numerics") && has) {
            if ((numerics = ingot_llm_numerics_from_name(argv[++i])) < 0) {
                fprintf(stderr, "ingot bench: --numerics must be default or llamacpp, not '%s'\n", argv[i]);
                return 2;
            }
        }
        else if (a[0] != '-' && !model) model = a;
        else {
            fprintf(stderr, "ingot bench: unexpected argument '%s'\n", a);
            return bench_usage(stderr);
        }
    }
    if (!model || n_p < 0 || n_g < 0 || n_p > 1000000 || n_g > 1000000) return bench_usage(stderr);
    if (reps < 1) reps = 1;
    if (reps > 1000) reps = 1000;
    char err[512];
    ingot_llm *m = NULL;
    ingot_llm_ctx *c = NULL;
    ingot_status st = ingot_llm_load(model, tok, &m, err, sizeof err);
    if (st) {
        fprintf(stderr, "ingot bench: %s (%s)\n", err, ingot_status_str(st));
        return 1;
    }
    ingot_llm_info info;
    ingot_llm_get_info(m, &info);
    ingot_llm_ctx_params cp;
    ingot_llm_ctx_params_default(&cp);
    cp.n_threads = threads;
    cp.kv_type = kv_type;
    cp.numerics = numerics;
    cp.n_ctx = (n_p > n_g ? n_p : n_g) + 1;
    float *logits = malloc((size_t)info.n_vocab * sizeof *logits);
    double *pp = calloc((size_t)reps, sizeof *pp), *tg = calloc((size_t)reps, sizeof *tg);
    int rc = 1;
    if (!logits || !pp || !tg) {
        fprintf(stderr, "ingot bench: out of memory\n");
        goto done;
    }
    if ((st = ingot_llm_ctx_create(m, &cp, &c, err, sizeof err))) {
        fprintf(stderr, "ingot bench: %s (%s)\n", err, ingot_status_str(st));
        goto done;
    }
    double w0, w1; /* warm-up: a short pass of each kind */
    if ((st = bench_run(c, info.n_vocab, n_p < 32 ? n_p : 32, n_g < 4 ? n_g : 4, logits, &w0, &w1))) goto fail;
    for (int r = 0; r < reps; r++) {
        double a, b;
        if ((st = bench_run(c, info.n_vocab, n_p, n_g, logits, &a, &b))) goto fail;
        pp[r] = a > 0 ? n_p * 1000.0 / a : 0;
        tg[r] = b > 0 ? n_g * 1000.0 / b : 0;
    }
    double ppm, pps, tgm, tgs;
    mean_sd(pp, reps, &ppm, &pps);
    mean_sd(tg, reps, &tgm, &tgs);
    int nt = ingot_llm_ctx_n_threads(c);
    printf("| model | arch | params | size MiB | threads | test | t/s |\n");
    printf("| %s | %s | %lld | %.2f | %d | pp%d | %.2f ± %.2f |\n", info.name, info.arch, (long long)info.n_params,
           (double)info.weight_bytes / (1 << 20), nt, n_p, ppm, pps);
    printf("| %s | %s | %lld | %.2f | %d | tg%d | %.2f ± %.2f |\n", info.name, info.arch, (long long)info.n_params,
           (double)info.weight_bytes / (1 << 20), nt, n_g, tgm, tgs);
    if (json) {
        /* peak resident memory of this process (VmHWM: the mapping of this image only, not
         * what a parent had before exec) */
        double hwm = -1;
        FILE *sf = fopen("/proc/self/status", "r");
        if (sf) {
            char line[256];
            while (fgets(line, sizeof line, sf))
                if (!strncmp(line, "VmHWM:", 6)) hwm = atof(line + 6) / 1024.0;
            fclose(sf);
        }
        const char *b = strrchr(model, '/');
        printf("{\"model\": \"");
        for (const char *s = b ? b + 1 : model; *s; s++) {
            if (*s == '"' || *s == '\\') putchar('\\');
            if ((unsigned char)*s >= 0x20) putchar(*s);
        }
        printf("\", \"arch\": \"%s\", \"threads\": %d, \"n_prompt\": %d, \"n_gen\": %d, \"reps\": %d, "
               "\"pp_tps\": %.3f, \"pp_tps_sd\": %.3f, \"tg_tps\": %.3f, \"tg_tps_sd\": %.3f, \"peak_rss_mib\": %.1f}\n",
               info.arch, nt, n_p, n_g, reps, ppm, pps, tgm, tgs, hwm);
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "ingot bench: %s (%s)\n", ingot_llm_ctx_error(c), ingot_status_str(st));
done:
    free(logits);
    free(pp);
    free(tg);
    ingot_llm_ctx_free(c);
    ingot_llm_free(m);
    return rc;
}
