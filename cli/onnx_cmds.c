/*
 * onnx_cmds.c: `ingot info`, `ingot run` and `ingot bench` for ONNX models.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "npy.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

long cli_rss_kib(long *peak) {
    FILE *f = fopen("/proc/self/status", "r");
    long cur = 0, hwm = 0;
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            if (!strncmp(line, "VmRSS:", 6)) cur = atol(line + 6);
            if (!strncmp(line, "VmHWM:", 6)) hwm = atol(line + 6);
        }
        fclose(f);
    }
    if (peak) *peak = hwm;
    return cur;
}

/* Options that take a value; everything else with a leading dash is a flag. */
static int takes_value(const char *a) {
    static const char *opts[] = {"-m", "--model", "-t", "--threads", "--iters", "--warmup", "--input", "-i",
                                 "--output-dir", "-o", NULL};
    for (int i = 0; opts[i]; i++)
        if (!strcmp(a, opts[i])) return 1;
    return 0;
}

const char *cli_model(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) && i + 1 < argc) return argv[i + 1];
        if (argv[i][0] == '-') {
            if (takes_value(argv[i])) i++;
            continue;
        }
        return argv[i];
    }
    return NULL;
}

static const char *dims_str(int ndim, const int64_t *dims, const char *const *names, char *buf, size_t n) {
    size_t o = 0;
    if (ndim < 0) {
        snprintf(buf, n, "[?]");
        return buf;
    }
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (int i = 0; i < ndim && o < n; i++) {
        if (names && names[i]) o += (size_t)snprintf(buf + o, n - o, "%s%s", i ? "," : "", names[i]);
        else if (dims[i] < 0) o += (size_t)snprintf(buf + o, n - o, "%s?", i ? "," : "");
        else o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? "," : "", (long long)dims[i]);
    }
    if (o < n) snprintf(buf + o, n - o, "]");
    return buf;
}

static ingot_model *load_mode(const char *path, int inspect) {
    if (!path) {
        fprintf(stderr, "ingot: no model given (use -m MODEL or put the model path first)\n");
        return NULL;
    }
    char err[1024];
    ingot_model *m = NULL;
    ingot_status st = inspect ? ingot_model_inspect(path, &m, err, sizeof err) : ingot_model_load(path, &m, err, sizeof err);
    if (st) {
        fprintf(stderr, "ingot: cannot load model: %s (%s)\n", err, ingot_status_str(st));
        return NULL;
    }
    return m;
}

static ingot_model *load(const char *path) { return load_mode(path, 0); }

static void print_hist(void *ud, const char *dom, const char *op, int64_t n, int supported) {
    int *missing = ud;
    if (!supported) ++*missing;
    if (!strcmp(dom, "ai.onnx")) printf("    %-28s %lld%s\n", op, (long long)n, supported ? "" : "  (not implemented)");
    else {
        char full[256];
        snprintf(full, sizeof full, "%s:%s", dom, op);
        printf("    %-28s %lld%s\n", full, (long long)n, supported ? "" : "  (not implemented)");
    }
}

int cmd_info(int argc, char **argv) {
    const char *path = cli_model(argc, argv);
    long rss0 = cli_rss_kib(NULL);
    double t0 = now_ms();
    int full = 0;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--load")) full = 1;
    /* default: read the structure only (no folding or weight packing): fast on any size */
    ingot_model *m = load_mode(path, !full);
    double t1 = now_ms();
    int prepared = full && m != NULL;
    if (!m && full) {
        fprintf(stderr, "ingot info: showing the model's structure only\n");
        m = load_mode(path, 1);
        t1 = now_ms();
    }
    if (!m) return 1;
    long peak, rss1 = cli_rss_kib(&peak);
    ingot_model_summary s;
    ingot_model_summarize(m, &s);
    printf("model:        %s\n", path);
    printf("format:       %s (IR version %lld, producer '%s')\n", s.format, (long long)s.ir_version, s.producer);
    printf("opsets:      ");
    for (int i = 0; i < s.n_opsets; i++) printf(" %s=%lld", s.opset_domains[i], (long long)s.opset_versions[i]);
    printf("\n");
    char buf[512];
    printf("inputs:\n");
    for (int i = 0; i < ingot_model_num_inputs(m); i++) {
        ingot_value_info vi;
        ingot_model_input(m, i, &vi);
        printf("  %-24s %-8s %s%s\n", vi.name, vi.kind == 0 ? ingot_dtype_name(vi.dtype) : vi.kind == 1 ? "sequence" : "optional",
               dims_str(vi.ndim, vi.dims, vi.dim_names, buf, sizeof buf), "");
    }
    printf("outputs:\n");
    for (int i = 0; i < ingot_model_num_outputs(m); i++) {
        ingot_value_info vi;
        ingot_model_output(m, i, &vi);
        printf("  %-24s %-8s %s\n", vi.name, vi.kind == 0 ? ingot_dtype_name(vi.dtype) : vi.kind == 1 ? "sequence" : "optional",
               dims_str(vi.ndim, vi.dims, vi.dim_names, buf, sizeof buf));
    }
    printf("nodes:        %lld\n", (long long)s.n_nodes);
    printf("initializers: %lld (%.2f MiB of parameters)\n", (long long)s.n_initializers, s.param_bytes / 1048576.0);
    printf("file:         %.2f MiB mapped read-only\n", s.mapped_bytes / 1048576.0);
    printf("%s %.1f ms, resident memory %.1f MiB after (+%.1f MiB, peak %.1f MiB)\n",
           full ? "load:        " : "read:        ", t1 - t0, rss1 / 1024.0, (rss1 - rss0) / 1024.0, peak / 1024.0);
    printf("kernels:      %s\n", ingot_isa_name());
    printf("operators:\n");
    int missing = 0;
    ingot_model_op_histogram(m, print_hist, &missing);
    if (missing) printf("status:       cannot run here: the operators marked above are not implemented\n");
    else if (full && !prepared) printf("status:       cannot be prepared to run (see the error above)\n");
    else printf("status:       %s\n", full ? "loaded and prepared to run" : "every operator is implemented (--load prepares it to run and reports memory)");
    ingot_model_free(m);
    return 0;
}

typedef struct inputs {
    int n;
    char *names[64];
    ingot_tensor *t[64];
} inputs;

static void inputs_free(inputs *in) {
    for (int i = 0; i < in->n; i++) {
        free(in->names[i]);
        ingot_tensor_free(in->t[i]);
    }
    in->n = 0;
}

static int add_input_arg(inputs *in, const char *spec) {
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec) {
        fprintf(stderr, "ingot: --input expects NAME=FILE.npy, got '%s'\n", spec);
        return -1;
    }
    if (in->n >= 64) {
        fprintf(stderr, "ingot: too many inputs\n");
        return -1;
    }
    char err[512];
    ingot_tensor *t;
    if (npy_load(eq + 1, &t, err, sizeof err)) {
        fprintf(stderr, "ingot: %s\n", err);
        return -1;
    }
    in->names[in->n] = strndup(spec, (size_t)(eq - spec));
    in->t[in->n++] = t;
    return 0;
}

/* Random inputs for the model inputs not given (dynamic dims = 1). */
static int fill_random(ingot_model *m, inputs *in, unsigned seed) {
    for (int i = 0; i < ingot_model_num_inputs(m); i++) {
        ingot_value_info vi;
        ingot_model_input(m, i, &vi);
        int have = 0;
        for (int k = 0; k < in->n; k++) have |= !strcmp(in->names[k], vi.name);
        if (have) continue;
        if (vi.kind != 0 || vi.ndim < 0) {
            fprintf(stderr, "ingot: input '%s' has no fixed rank or is not a tensor; give it with --input\n", vi.name);
            return -1;
        }
        int64_t dims[INGOT_MAX_DIMS];
        for (int d = 0; d < vi.ndim; d++) dims[d] = vi.dims[d] < 0 ? 1 : vi.dims[d];
        ingot_tensor *t;
        if (ingot_tensor_create(vi.dtype, vi.ndim, dims, &t)) {
            fprintf(stderr, "ingot: cannot create input '%s' of type %s\n", vi.name, ingot_dtype_name(vi.dtype));
            return -1;
        }
        int64_t n = ingot_tensor_count(t);
        void *p = ingot_tensor_data(t);
        for (int64_t k = 0; k < n; k++) {
            seed = seed * 1664525u + 1013904223u;
            double r = (seed >> 8) / 16777216.0; /* [0,1) */
            switch (vi.dtype) {
            case INGOT_DTYPE_F32: ((float *)p)[k] = (float)(2 * r - 1); break;
            case INGOT_DTYPE_F64: ((double *)p)[k] = 2 * r - 1; break;
            case INGOT_DTYPE_U8: ((uint8_t *)p)[k] = (uint8_t)(r * 256); break;
            case INGOT_DTYPE_I8: ((int8_t *)p)[k] = (int8_t)(r * 256 - 128); break;
            case INGOT_DTYPE_I32: ((int32_t *)p)[k] = (int32_t)(r * 10); break;
            case INGOT_DTYPE_I64: ((int64_t *)p)[k] = (int64_t)(r * 10); break;
            case INGOT_DTYPE_BOOL: ((uint8_t *)p)[k] = r < 0.5; break;
            default: break;
            }
        }
        in->names[in->n] = strdup(vi.name);
        in->t[in->n++] = t;
    }
    return 0;
}

static void summarize(const char *name, const ingot_tensor *t) {
    char buf[512];
    printf("%s: %s %s", name, ingot_dtype_name(ingot_tensor_dtype(t)),
           dims_str(ingot_tensor_ndim(t), ingot_tensor_dims(t), NULL, buf, sizeof buf));
    int64_t n = ingot_tensor_count(t);
    int dt = ingot_tensor_dtype(t);
    if (n > 0 && (dt == INGOT_DTYPE_F32 || dt == INGOT_DTYPE_F64 || dt == INGOT_DTYPE_I64 || dt == INGOT_DTYPE_I32 ||
                  dt == INGOT_DTYPE_U8 || dt == INGOT_DTYPE_I8 || dt == INGOT_DTYPE_BOOL)) {
        double mn = INFINITY, mx = -INFINITY, sum = 0;
        int64_t amax = 0;
        const void *p = ingot_tensor_data(t);
        for (int64_t i = 0; i < n; i++) {
            double v = dt == INGOT_DTYPE_F32 ? ((const float *)p)[i] : dt == INGOT_DTYPE_F64 ? ((const double *)p)[i]
                     : dt == INGOT_DTYPE_I64 ? (double)((const int64_t *)p)[i] : dt == INGOT_DTYPE_I32 ? ((const int32_t *)p)[i]
                     : dt == INGOT_DTYPE_I8 ? ((const int8_t *)p)[i] : ((const uint8_t *)p)[i];
            if (v < mn) mn = v;
            if (v > mx) { mx = v; amax = i; }
            sum += v;
        }
        printf("  min %.6g  max %.6g (at %lld)  mean %.6g\n  first:", mn, mx, (long long)amax, sum / (double)n);
        for (int64_t i = 0; i < n && i < 8; i++) {
            double v = dt == INGOT_DTYPE_F32 ? ((const float *)p)[i] : dt == INGOT_DTYPE_F64 ? ((const double *)p)[i]
                     : dt == INGOT_DTYPE_I64 ? (double)((const int64_t *)p)[i] : dt == INGOT_DTYPE_I32 ? ((const int32_t *)p)[i]
                     : dt == INGOT_DTYPE_I8 ? ((const int8_t *)p)[i] : ((const uint8_t *)p)[i];
            printf(" %.6g", v);
        }
    }
    printf("\n");
}

int cmd_run(int argc, char **argv) {
    const char *path = cli_model(argc, argv), *outdir = NULL;
    int threads = 0, rc = 1;
    inputs in = {0};
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "--input") || !strcmp(argv[i], "-i")) && i + 1 < argc) {
            if (add_input_arg(&in, argv[++i])) goto done;
        } else if ((!strcmp(argv[i], "--output-dir") || !strcmp(argv[i], "-o")) && i + 1 < argc) outdir = argv[++i];
        else if ((!strcmp(argv[i], "-t") || !strcmp(argv[i], "--threads")) && i + 1 < argc) threads = atoi(argv[++i]);
        else if ((!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) && i + 1 < argc) i++;
        else if (argv[i][0] == '-') { fprintf(stderr, "ingot run: unknown option %s\n", argv[i]); goto done; }
    }
    ingot_model *m = load(path);
    if (!m) goto done;
    for (int i = 0; i < ingot_model_num_inputs(m); i++) {
        ingot_value_info vi;
        ingot_model_input(m, i, &vi);
        int have = 0;
        for (int k = 0; k < in.n; k++) have |= !strcmp(in.names[k], vi.name);
        if (!have) {
            fprintf(stderr, "ingot run: input '%s' (%s) was not given: pass --input %s=FILE.npy\n", vi.name, ingot_dtype_name(vi.dtype), vi.name);
            ingot_model_free(m);
            goto done;
        }
    }
    ingot_session_options so = {threads};
    ingot_session *s;
    if (ingot_session_create(m, &so, &s)) { fprintf(stderr, "ingot run: cannot create a session\n"); ingot_model_free(m); goto done; }
    double t0 = now_ms();
    ingot_status st = ingot_session_run(s, in.n, (const char *const *)in.names, (const ingot_tensor *const *)in.t);
    double t1 = now_ms();
    if (st) {
        fprintf(stderr, "ingot run: %s (%s)\n", ingot_session_error(s), ingot_status_str(st));
    } else {
        if (outdir) mkdir(outdir, 0777);
        rc = 0;
        for (int i = 0; i < ingot_session_num_outputs(s); i++) {
            ingot_value_info vi;
            ingot_model_output(m, i, &vi);
            const ingot_tensor *t = ingot_session_output(s, i);
            if (!t) { printf("%s: (not a tensor)\n", vi.name); continue; }
            summarize(vi.name, t);
            if (outdir) {
                char p[4096], err[512];
                char safe[256];
                snprintf(safe, sizeof safe, "%s", vi.name);
                for (char *c = safe; *c; c++) if (*c == '/' || *c == ':') *c = '_';
                snprintf(p, sizeof p, "%s/%s.npy", outdir, safe);
                if (npy_save(p, t, err, sizeof err)) { fprintf(stderr, "ingot run: %s\n", err); rc = 1; }
            }
        }
        fprintf(stderr, "ran in %.2f ms\n", t1 - t0);
    }
    ingot_session_free(s);
    ingot_model_free(m);
done:
    inputs_free(&in);
    return rc;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int cmd_bench(int argc, char **argv) {
    const char *path = cli_model(argc, argv);
    int threads = 0, iters = 0, warmup = -1, json = 0, rc = 1;
    inputs in = {0};
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "--input") || !strcmp(argv[i], "-i")) && i + 1 < argc) {
            if (add_input_arg(&in, argv[++i])) goto done;
        } else if ((!strcmp(argv[i], "-t") || !strcmp(argv[i], "--threads")) && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--iters") && i + 1 < argc) iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if ((!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) && i + 1 < argc) i++;
        else if (argv[i][0] == '-') { fprintf(stderr, "ingot bench: unknown option %s\n", argv[i]); goto done; }
    }
    ingot_model *m = load(path);
    if (!m) goto done;
    if (fill_random(m, &in, 12345)) { ingot_model_free(m); goto done; }
    ingot_session_options so = {threads};
    ingot_session *s;
    if (ingot_session_create(m, &so, &s)) { ingot_model_free(m); goto done; }
    int nthreads = threads > 0 ? threads : 0;
    double first = 0;
    {
        double t0 = now_ms();
        ingot_status st = ingot_session_run(s, in.n, (const char *const *)in.names, (const ingot_tensor *const *)in.t);
        first = now_ms() - t0;
        if (st) {
            fprintf(stderr, "ingot bench: %s (%s)\n", ingot_session_error(s), ingot_status_str(st));
            ingot_session_free(s);
            ingot_model_free(m);
            goto done;
        }
    }
    if (warmup < 0) warmup = first < 100 ? 5 : 2;
    if (iters <= 0) {
        iters = first > 0 ? (int)(3000.0 / first) : 100;
        if (iters < 10) iters = 10;
        if (iters > 1000) iters = 1000;
    }
    for (int i = 0; i < warmup; i++) ingot_session_run(s, in.n, (const char *const *)in.names, (const ingot_tensor *const *)in.t);
    double *lat = malloc(sizeof(double) * (size_t)iters);
    for (int i = 0; i < iters; i++) {
        double t0 = now_ms();
        ingot_session_run(s, in.n, (const char *const *)in.names, (const ingot_tensor *const *)in.t);
        lat[i] = now_ms() - t0;
    }
    double sum = 0;
    for (int i = 0; i < iters; i++) sum += lat[i];
    qsort(lat, (size_t)iters, sizeof(double), cmp_double);
    double med = iters % 2 ? lat[iters / 2] : (lat[iters / 2 - 1] + lat[iters / 2]) / 2;
    double p90 = lat[(int)((iters - 1) * 0.9)], mn = lat[0], mean = sum / iters;
    long peak;
    cli_rss_kib(&peak);
    if (!nthreads) nthreads = ingot_default_threads();
    printf("model     %s\nthreads   %d\nkernels   %s\niters     %d (warm-up %d, first run %.2f ms)\n", path, nthreads,
           ingot_isa_name(), iters, warmup, first);
    printf("latency   median %.3f ms  p90 %.3f ms  min %.3f ms  mean %.3f ms\n", med, p90, mn, mean);
    printf("memory    peak RSS %.1f MiB\n", peak / 1024.0);
    if (json)
        printf("{\"model\": \"%s\", \"threads\": %d, \"isa\": \"%s\", \"iters\": %d, \"median_ms\": %.4f, \"p90_ms\": %.4f, "
               "\"min_ms\": %.4f, \"mean_ms\": %.4f, \"first_ms\": %.4f, \"peak_rss_mib\": %.1f}\n",
               path, nthreads, ingot_isa_name(), iters, med, p90, mn, mean, first, peak / 1024.0);
    free(lat);
    ingot_session_free(s);
    ingot_model_free(m);
    rc = 0;
done:
    inputs_free(&in);
    return rc;
}
