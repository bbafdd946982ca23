/*
 * onnx_conformance: runs ONNX backend-test folders through ingot and applies
 * the suite's pass rule (../shared/conformance/README.md).
 *
 *   onnx_conformance [--min-pass N] [--skip-list F] [--nondeterministic F]
 *                    [--filter S] [--threads T] [--timeout S] [-v] DIR...
 *
 * DIR is a test folder (model.onnx + test_data_set_*), a folder of them, or a
 * "light" folder (NAME.onnx + NAME_output_0.pb, input element i = i/N). Each
 * test runs in a child process with a time limit so that one crash or hang is
 * reported as that test's failure. Prints PASS / FAIL (first mismatch or the
 * error) / SKIP (reason) per test and "N passed, N failed, N skipped".
 * Exits 1 when fewer than --min-pass tests pass.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/internal.h"

static int verbose, threads = 1, timeout_s = 120;
static char **skip_names, **skip_reasons;
static int n_skip;
static char **nondet;
static int n_nondet;
static const char *filter;

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    if (b) b[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return b;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}
static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static double json_num(const char *js, const char *key, double def) {
    if (!js) return def;
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(js, pat);
    if (!p) return def;
    p = strchr(p + strlen(pat), ':');
    if (!p) return def;
    return strtod(p + 1, NULL);
}

typedef struct tol { double rtol, atol, max_mismatch; } tol;

static int compare(const it_tensor *a, const it_tensor *x, tol t, int k, char *msg, size_t ml) {
    char sa[128], sx[128];
    if (a->dtype != x->dtype) {
        snprintf(msg, ml, "output %d: dtype %s, expected %s", k, it_dtype_name(a->dtype), it_dtype_name(x->dtype));
        return 0;
    }
    if (!it_shape_equal(a, x)) {
        it_shape_str(a->ndim, a->dims, sa, sizeof sa);
        it_shape_str(x->ndim, x->dims, sx, sizeof sx);
        snprintf(msg, ml, "output %d: shape %s, expected %s", k, sa, sx);
        return 0;
    }
    int64_t n = it_count(x), bad = 0, first = -1;
    if (x->dtype == IT_STRING) {
        for (int64_t i = 0; i < n; i++) {
            const char *p = ((char **)a->data)[i], *q = ((char **)x->data)[i];
            if (strcmp(p ? p : "", q ? q : "")) {
                snprintf(msg, ml, "output %d[%lld]: \"%s\", expected \"%s\"", k, (long long)i, p ? p : "", q ? q : "");
                return 0;
            }
        }
        return 1;
    }
    int ints = it_dtype_is_int(x->dtype) || x->dtype == IT_BOOL;
    int mul = (x->dtype == IT_C64 || x->dtype == IT_C128) ? 2 : 1;
    int cdt = x->dtype == IT_C64 ? IT_F32 : x->dtype == IT_C128 ? IT_F64 : x->dtype;
    double worst_a = 0, worst_x = 0;
    for (int64_t i = 0; i < n * mul; i++) {
        int ok;
        double va, vx;
        if (ints && x->dtype != IT_U4 && x->dtype != IT_I4) {
            int64_t ia = it_get_i64(a->data, cdt, i), ix = it_get_i64(x->data, cdt, i);
            ok = ia == ix;
            va = (double)ia; vx = (double)ix;
        } else {
            va = it_get_f64(a->data, cdt, i);
            vx = it_get_f64(x->data, cdt, i);
            if (isnan(vx)) ok = isnan(va);
            else if (isinf(vx)) ok = va == vx;
            else ok = fabs(va - vx) <= t.atol + t.rtol * fabs(vx);
        }
        if (!ok) {
            if (first < 0) { first = i; worst_a = va; worst_x = vx; }
            bad++;
        }
    }
    if (bad && (double)bad > t.max_mismatch * (double)n) {
        snprintf(msg, ml, "output %d: %lld of %lld elements differ; first [%lld] = %.9g, expected %.9g", k,
                 (long long)bad, (long long)n, (long long)first, worst_a, worst_x);
        return 0;
    }
    return 1;
}

static int compare_value(const it_value *a, const it_value *x, tol t, int k, char *msg, size_t ml) {
    if (x->kind == IT_V_NONE) {
        if (a->kind != IT_V_NONE) { snprintf(msg, ml, "output %d: expected an empty optional", k); return 0; }
        return 1;
    }
    if (x->kind == IT_V_SEQ) {
        if (a->kind != IT_V_SEQ) { snprintf(msg, ml, "output %d: expected a sequence", k); return 0; }
        if (a->n_seq != x->n_seq) { snprintf(msg, ml, "output %d: sequence of %d, expected %d", k, a->n_seq, x->n_seq); return 0; }
        for (int i = 0; i < x->n_seq; i++)
            if (!compare(&a->seq[i], &x->seq[i], t, k, msg, ml)) return 0;
        return 1;
    }
    if (a->kind != IT_V_TENSOR) { snprintf(msg, ml, "output %d: not a tensor (kind %d)", k, a->kind); return 0; }
    return compare(&a->t, &x->t, t, k, msg, ml);
}

static int in_list(char **list, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i], name)) return i;
    return -1;
}

/* Runs one test in this (child) process; writes the result line to buf.
 * Returns 0 pass, 1 fail. */
static int run_test(const char *dir, const char *model_path, const char *light_out, const char *name, char *buf, size_t bl) {
    char err[1024] = "";
    ingot_model *m = NULL;
    ingot_session *s = NULL;
    int st = ingot_model_load(model_path, &m, err, sizeof err);
    if (st) { snprintf(buf, bl, "FAIL %s: load: %s", name, err); return 1; }
    ingot_session_options so = {threads};
    if (ingot_session_create(m, &so, &s)) { snprintf(buf, bl, "FAIL %s: session", name); ingot_model_free(m); return 1; }
    const it_graph *g = it_model_graph(m);
    int nondet_test = in_list(nondet, n_nondet, name) >= 0;
    tol t = {1e-3, 1e-7, 0};
    char path[4096];
    if (dir) {
        snprintf(path, sizeof path, "%s/data.json", dir);
        char *js = read_file(path, NULL);
        t.rtol = json_num(js, "rtol", t.rtol);
        t.atol = json_num(js, "atol", t.atol);
        t.max_mismatch = json_num(js, "max_mismatch_fraction", 0);
        free(js);
    }
    int nin = ingot_model_num_inputs(m), nout = g->n_outputs;
    int result = 0, sets = 0;
    for (int set = 0; result == 0; set++) {
        it_value *ins = calloc((size_t)nin + 1, sizeof(it_value)), **inp = calloc((size_t)nin + 1, sizeof(it_value *));
        it_value *exp = calloc((size_t)nout + 1, sizeof(it_value));
        int done = 0;
        if (light_out) {
            if (set > 0) done = 1;
            for (int i = 0; !done && i < nin; i++) {
                ingot_value_info vi;
                ingot_model_input(m, i, &vi);
                int64_t dims[INGOT_MAX_DIMS];
                for (int d = 0; d < vi.ndim; d++) dims[d] = vi.dims[d] < 0 ? 1 : vi.dims[d];
                it_tensor_set_shape(&ins[i].t, IT_F32, vi.ndim, dims, NULL);
                it_tensor_alloc(&ins[i].t, NULL);
                ins[i].kind = IT_V_TENSOR;
                int64_t n = it_count(&ins[i].t);
                for (int64_t k = 0; k < n; k++) ((float *)ins[i].t.data)[k] = (float)k / (float)n;
                inp[i] = &ins[i];
            }
            if (!done) {
                size_t len;
                char *b = read_file(light_out, &len);
                it_err e = {{0}};
                if (!b || it_onnx_parse_value(b, len, IT_KIND_TENSOR, &exp[0], &e)) {
                    snprintf(buf, bl, "FAIL %s: cannot read %s %s", name, light_out, e.msg);
                    result = 1;
                }
                free(b);
            }
        } else {
            snprintf(path, sizeof path, "%s/test_data_set_%d", dir, set);
            if (!is_dir(path)) done = 1;
            for (int i = 0; !done && !result && i < nin; i++) {
                char ip[4200];
                snprintf(ip, sizeof ip, "%s/input_%d.pb", path, i);
                ingot_value_info vi;
                ingot_model_input(m, i, &vi);
                size_t len;
                char *b = read_file(ip, &len);
                if (!b) { inp[i] = NULL; continue; } /* omitted optional input */
                it_err e = {{0}};
                int kind = vi.kind;
                if (kind == IT_KIND_OPTIONAL) {
                    const it_valdef *d = &g->values[g->inputs[i]];
                    (void)d;
                }
                if (it_onnx_parse_value(b, len, kind, &ins[i], &e)) {
                    snprintf(buf, bl, "FAIL %s: input %d: %s", name, i, e.msg);
                    result = 1;
                }
                free(b);
                inp[i] = &ins[i];
            }
            for (int k = 0; !done && !result && k < nout; k++) {
                char op[4200];
                snprintf(op, sizeof op, "%s/output_%d.pb", path, k);
                size_t len;
                char *b = read_file(op, &len);
                if (!b) { snprintf(buf, bl, "FAIL %s: missing output_%d.pb", name, k); result = 1; break; }
                it_err e = {{0}};
                const it_valdef *d = &g->values[g->outputs[k]];
                if (it_onnx_parse_value(b, len, d->has_type ? d->type.kind : IT_KIND_TENSOR, &exp[k], &e)) {
                    snprintf(buf, bl, "FAIL %s: expected output %d: %s", name, k, e.msg);
                    result = 1;
                }
                free(b);
            }
        }
        if (!done && !result) {
            sets++;
            st = it_session_run_values(s, inp);
            if (st) {
                snprintf(buf, bl, "FAIL %s: run: %s", name, ingot_session_error(s));
                result = 1;
            }
            for (int k = 0; !result && k < nout; k++) {
                it_value *a = it_session_output_value(s, k);
                char msg[600];
                if (!a) { snprintf(buf, bl, "FAIL %s: no output %d", name, k); result = 1; break; }
                if (nondet_test) {
                    if (exp[k].kind == IT_V_TENSOR && (a->kind != IT_V_TENSOR || a->t.dtype != exp[k].t.dtype || !it_shape_equal(&a->t, &exp[k].t))) {
                        snprintf(buf, bl, "FAIL %s: output %d shape/type differs (nondeterministic test)", name, k);
                        result = 1;
                    }
                    continue;
                }
                if (!compare_value(a, &exp[k], t, k, msg, sizeof msg)) {
                    snprintf(buf, bl, "FAIL %s: set %d: %s", name, set, msg);
                    result = 1;
                }
            }
        }
        for (int i = 0; i < nin; i++) it_value_release(NULL, &ins[i]);
        for (int k = 0; k < nout; k++) it_value_release(NULL, &exp[k]);
        free(ins); free(inp); free(exp);
        if (done) break;
    }
    if (!result) {
        if (!sets) { snprintf(buf, bl, "FAIL %s: no test data sets", name); result = 1; }
        else snprintf(buf, bl, "PASS %s%s", name, nondet_test ? " (shape and type only: nondeterministic)" : "");
    }
    ingot_session_free(s);
    ingot_model_free(m);
    return result;
}

static int n_pass, n_fail, n_skipped;

static void run_one(const char *dir, const char *model_path, const char *light_out, const char *name) {
    if (filter && !strstr(name, filter)) return;
    int si = in_list(skip_names, n_skip, name);
    if (si >= 0) {
        printf("SKIP %s: %s\n", name, skip_reasons[si]);
        n_skipped++;
        return;
    }
    int fds[2];
    if (pipe(fds)) { perror("pipe"); exit(2); }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        alarm((unsigned)timeout_s);
        char buf[2048];
        int r = run_test(dir, model_path, light_out, name, buf, sizeof buf);
        if (write(fds[1], buf, strlen(buf)) < 0) _exit(3);
        _exit(r);
    }
    close(fds[1]);
    char buf[2048];
    size_t got = 0;
    ssize_t r;
    while ((r = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0) got += (size_t)r;
    buf[got] = 0;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !strncmp(buf, "PASS", 4)) {
        n_pass++;
        if (verbose) printf("%s\n", buf);
        else printf("%s\n", buf);
    } else {
        n_fail++;
        if (got) printf("%s\n", buf);
        else if (WIFSIGNALED(status)) printf("FAIL %s: crashed with signal %d%s\n", name, WTERMSIG(status), WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
        else printf("FAIL %s: exit status %d\n", name, WEXITSTATUS(status));
    }
}

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void walk(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    if (is_file(path)) {
        const char *name = strrchr(dir, '/');
        name = name ? name + 1 : dir;
        run_one(dir, path, NULL, name);
        return;
    }
    DIR *d = opendir(dir);
    if (!d) { printf("FAIL %s: cannot open: %s\n", dir, strerror(errno)); n_fail++; return; }
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        if (n == cap) { cap = cap ? cap * 2 : 256; names = realloc(names, sizeof(char *) * (size_t)cap); }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(char *), cmpstr);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        size_t l = strlen(names[i]);
        if (is_dir(path)) walk(path);
        else if (l > 5 && !strcmp(names[i] + l - 5, ".onnx")) {
            char out[4200], nm[512];
            snprintf(nm, sizeof nm, "%.*s", (int)(l - 5), names[i]);
            snprintf(out, sizeof out, "%s/%s_output_0.pb", dir, nm);
            if (is_file(out)) run_one(NULL, path, out, nm);
        }
        free(names[i]);
    }
    free(names);
}

static void load_list(const char *file, char ***names, char ***reasons, int *n) {
    size_t len;
    char *b = read_file(file, &len);
    if (!b) { fprintf(stderr, "cannot read %s\n", file); exit(2); }
    char *save, *line = strtok_r(b, "\n", &save);
    while (line) {
        while (*line == ' ') line++;
        if (*line && *line != '#') {
            char *sp = line + strcspn(line, " \t");
            char *reason = "";
            if (*sp) { *sp = 0; reason = sp + 1; while (*reason == ' ' || *reason == '\t') reason++; }
            *names = realloc(*names, sizeof(char *) * (size_t)(*n + 1));
            (*names)[*n] = strdup(line);
            if (reasons) { *reasons = realloc(*reasons, sizeof(char *) * (size_t)(*n + 1)); (*reasons)[*n] = strdup(reason); }
            (*n)++;
        }
        line = strtok_r(NULL, "\n", &save);
    }
    free(b);
}

int main(int argc, char **argv) {
    long min_pass = -1;
    int ndirs = 0;
    char **dirs = calloc((size_t)argc, sizeof(char *));
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--min-pass") && i + 1 < argc) min_pass = atol(argv[++i]);
        else if (!strcmp(argv[i], "--skip-list") && i + 1 < argc) load_list(argv[++i], &skip_names, &skip_reasons, &n_skip);
        else if (!strcmp(argv[i], "--nondeterministic") && i + 1 < argc) load_list(argv[++i], &nondet, NULL, &n_nondet);
        else if (!strcmp(argv[i], "--filter") && i + 1 < argc) filter = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) timeout_s = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-v")) verbose = 1;
        else if (argv[i][0] == '-') { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
        else dirs[ndirs++] = argv[i];
    }
    if (!ndirs) {
        fprintf(stderr, "usage: onnx_conformance [--min-pass N] [--skip-list F] [--nondeterministic F] [--filter S] [--threads T] DIR...\n");
        return 2;
    }
    for (int i = 0; i < ndirs; i++) walk(dirs[i]);
    printf("%d passed, %d failed, %d skipped\n", n_pass, n_fail, n_skipped);
    free(dirs);
    if (min_pass >= 0 && n_pass < min_pass) {
        printf("below the threshold: %d passed, at least %ld required\n", n_pass, min_pass);
        return 1;
    }
    return 0;
}
