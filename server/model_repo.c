/*
 * model_repo.c: model registry, loading and unloading (see model_repo.h).
 *
 * The registry mutex guards the entry list and each entry's state and model
 * pointer, and is never held while a model loads or a scheduler drains: a
 * load marks the entry LOADING, works unlocked, then swaps the new instance in;
 * the old one is released and freed by whoever drops its last reference.
 */
#include "model_repo.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

typedef struct repo_entry {
    char *name;
    char *path;
    char state[16];
    char reason[256];
    int busy; /* a load is in progress */
    served_model *m;
} repo_entry;

struct model_repo {
    pthread_mutex_t mu;
    repo_entry *e;
    int n, cap;
    char *dir;
    batcher_config defaults;
    llm_config llm;
};

void model_repo_set_llm_config(model_repo *r, const llm_config *cfg) { r->llm = *cfg; }

enum { HF_NONE, HF_EMBED, HF_CAUSAL_LM };

/* A Hugging Face folder: config.json with model_type "bert" (an embedding model) or an
 * architectures entry "...ForCausalLM" (an LLM, converted by ingot_llm_load). */
static int hf_dir_kind(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return HF_NONE;
    char cpath[4096];
    snprintf(cpath, sizeof cpath, "%s/config.json", path);
    json_t *j = json_load_file(cpath, 0, NULL);
    json_t *mt = j ? json_object_get(j, "model_type") : NULL;
    int kind = mt && json_is_string(mt) && !strcmp(json_string_value(mt), "bert") ? HF_EMBED : HF_NONE;
    json_t *arch = j ? json_object_get(j, "architectures") : NULL;
    for (size_t i = 0; kind == HF_NONE && json_is_array(arch) && i < json_array_size(arch); i++) {
        const char *a = json_string_value(json_array_get(arch, i));
        size_t n = a ? strlen(a) : 0;
        if (n > 11 && !strcmp(a + n - 11, "ForCausalLM")) kind = HF_CAUSAL_LM;
    }
    json_decref(j);
    return kind;
}

static int is_llm(const char *path) {
    size_t n = strlen(path);
    return (n > 5 && !strcmp(path + n - 5, ".gguf")) || hf_dir_kind(path) == HF_CAUSAL_LM;
}

int model_name_valid(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > 128 || name[0] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.'))
            return 0;
    }
    return 1;
}

model_repo *model_repo_create(const char *models_dir, const batcher_config *defaults) {
    model_repo *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    pthread_mutex_init(&r->mu, NULL);
    r->defaults = *defaults;
    if (models_dir) {
        r->dir = strdup(models_dir);
        if (!r->dir) {
            free(r);
            return NULL;
        }
    }
    return r;
}

static void served_model_free(served_model *m) {
    if (!m) return;
    batcher_free(m->batcher);
    ingot_model_free(m->model);
    llm_model_free(m->llm);
    ingot_embedder_free(m->embed);
    model_stats_destroy(&m->stats);
    free(m->name), free(m->version), free(m->path);
    free(m);
}

void model_repo_release(served_model *m) {
    if (m && atomic_fetch_sub(&m->refs, 1) == 1) served_model_free(m);
}

void model_repo_free(model_repo *r) {
    if (!r) return;
    for (int i = 0; i < r->n; i++) {
        model_repo_release(r->e[i].m);
        free(r->e[i].name), free(r->e[i].path);
    }
    free(r->e);
    free(r->dir);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static repo_entry *find(model_repo *r, const char *name) {
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->e[i].name, name)) return &r->e[i];
    return NULL;
}

/* Add an entry; the caller holds the lock. */
static repo_entry *add_locked(model_repo *r, const char *name, const char *path) {
    if (r->n == r->cap) {
        int cap = r->cap ? r->cap * 2 : 8;
        repo_entry *e = realloc(r->e, (size_t)cap * sizeof *e);
        if (!e) return NULL;
        r->e = e, r->cap = cap;
    }
    repo_entry *e = &r->e[r->n];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    e->path = strdup(path);
    if (!e->name || !e->path) {
        free(e->name), free(e->path);
        return NULL;
    }
    snprintf(e->state, sizeof e->state, "UNAVAILABLE");
    snprintf(e->reason, sizeof e->reason, "not loaded");
    r->n++;
    return e;
}

int model_repo_add(model_repo *r, const char *path, const char *name, char *err, size_t errlen) {
    char derived[160];
    if (!name || !*name) {
        /* .../NAME/model.onnx -> NAME; .../NAME.onnx -> NAME */
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        size_t n = strlen(base);
        if (!strcmp(base, "model.onnx") && base != path) {
            const char *end = base - 1, *start = end;
            while (start > path && start[-1] != '/') start--;
            n = (size_t)(end - start);
            base = start;
        } else if (n > 5 && (!strcmp(base + n - 5, ".onnx") || !strcmp(base + n - 5, ".gguf"))) {
            n -= 5;
        }
        if (n >= sizeof derived) n = sizeof derived - 1;
        memcpy(derived, base, n);
        derived[n] = 0;
        name = derived;
    }
    if (!model_name_valid(name)) {
        snprintf(err, errlen, "invalid model name '%s' (use letters, digits, '_', '-', '.')", name);
        return -1;
    }
    pthread_mutex_lock(&r->mu);
    int rc = 0;
    if (find(r, name)) {
        snprintf(err, errlen, "two models are named '%s'", name);
        rc = -1;
    } else if (!add_locked(r, name, path)) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int model_repo_scan(model_repo *r, char *err, size_t errlen) {
    if (!r->dir) return 0;
    DIR *d = opendir(r->dir);
    if (!d) {
        snprintf(err, errlen, "cannot open models dir '%s'", r->dir);
        return -1;
    }
    struct dirent *de;
    char path[4096];
    while ((de = readdir(d))) {
        if (!model_name_valid(de->d_name)) continue;
        snprintf(path, sizeof path, "%s/%s/model.onnx", r->dir, de->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        pthread_mutex_lock(&r->mu);
        if (!find(r, de->d_name)) add_locked(r, de->d_name, path);
        pthread_mutex_unlock(&r->mu);
    }
    closedir(d);
    return 0;
}

/* Read DIR/config.json beside path into cfg and *version. 0 ok, -1 with err. */
static int read_config(const char *path, batcher_config *cfg, char *version, size_t vlen, char *err, size_t errlen) {
    char cpath[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) return 0;
    snprintf(cpath, sizeof cpath, "%.*s/config.json", (int)(slash - path), path);
    struct stat st;
    if (stat(cpath, &st) != 0) return 0;
    json_error_t je;
    json_t *j = json_load_file(cpath, 0, &je);
    if (!j || !json_is_object(j)) {
        snprintf(err, errlen, "%s: %s", cpath, j ? "not a JSON object" : je.text);
        json_decref(j);
        return -1;
    }
    const char *keys[] = {"max_batch", "max_queue_delay_us", "max_queue", "threads"};
    for (int k = 0; k < 4; k++) {
        json_t *v = json_object_get(j, keys[k]);
        if (!v) continue;
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100000000) {
            snprintf(err, errlen, "%s: '%s' must be a non-negative integer", cpath, keys[k]);
            json_decref(j);
            return -1;
        }
        long long x = json_integer_value(v);
        if (k == 0) cfg->max_batch = (int)x;
        else if (k == 1) cfg->max_queue_delay_us = x;
        else if (k == 2) cfg->max_queue = (int)x;
        else cfg->threads = (int)x;
    }
    json_t *v = json_object_get(j, "version");
    if (v) {
        if (json_is_integer(v)) snprintf(version, vlen, "%lld", (long long)json_integer_value(v));
        else if (json_is_string(v) && model_name_valid(json_string_value(v)))
            snprintf(version, vlen, "%s", json_string_value(v));
        else {
            snprintf(err, errlen, "%s: 'version' must be an integer or a simple string", cpath);
            json_decref(j);
            return -1;
        }
    }
    json_decref(j);
    return 0;
}

static served_model *load_model(const char *name, const char *path, const batcher_config *defaults,
                                const llm_config *llm, char *err, size_t errlen) {
    batcher_config cfg = *defaults;
    char version[64] = "1";
    int hf = hf_dir_kind(path), embed = hf == HF_EMBED;
    if (hf == HF_NONE && read_config(path, &cfg, version, sizeof version, err, errlen)) return NULL;
    served_model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    model_stats_init(&m->stats);
    atomic_init(&m->refs, 1);
    m->name = strdup(name), m->version = strdup(version), m->path = strdup(path);
    m->kind = MODEL_KIND_TENSOR;
    m->created = (int)time(NULL);
    if (!m->name || !m->version || !m->path) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (is_llm(path)) {
        m->kind = MODEL_KIND_LLM;
        m->llm = llm_model_create(path, llm, err, errlen);
        if (!m->llm) goto fail;
        return m;
    }
    char lerr[512] = "";
    if (embed) {
        m->kind = MODEL_KIND_EMBED;
        ingot_embedder_params ep;
        ingot_embedder_params_default(&ep);
        ep.n_threads = llm->threads;
        ingot_status est = ingot_embedder_load(path, &ep, &m->embed, lerr, sizeof lerr);
        if (est != INGOT_OK) {
            snprintf(err, errlen, "cannot load %s: %s%s%s", path, ingot_status_str(est), lerr[0] ? ": " : "", lerr);
            goto fail;
        }
        return m;
    }
    ingot_status st = ingot_model_load(path, &m->model, lerr, sizeof lerr);
    if (st != INGOT_OK) {
        snprintf(err, errlen, "cannot load %s: %s%s%s", path, ingot_status_str(st), lerr[0] ? ": " : "", lerr);
        goto fail;
    }
    m->batcher = batcher_create(m->model, &cfg, &m->stats, err, errlen);
    if (!m->batcher) goto fail;
    return m;
fail:
    served_model_free(m);
    return NULL;
}

int model_repo_load(model_repo *r, const char *name, char *err, size_t errlen) {
    if (!model_name_valid(name)) {
        snprintf(err, errlen, "invalid model name");
        return 400;
    }
    pthread_mutex_lock(&r->mu);
    repo_entry *e = find(r, name);
    if (!e && r->dir) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s/model.onnx", r->dir, name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) e = add_locked(r, name, path);
    }
    if (!e) {
        pthread_mutex_unlock(&r->mu);
        snprintf(err, errlen, "unknown model '%s'", name);
        return 404;
    }
    if (e->busy) {
        pthread_mutex_unlock(&r->mu);
        snprintf(err, errlen, "model '%s' is already loading", name);
        return 409;
    }
    e->busy = 1;
    if (!e->m) snprintf(e->state, sizeof e->state, "LOADING"), e->reason[0] = 0;
    char *path = strdup(e->path);
    pthread_mutex_unlock(&r->mu);

    served_model *m = path ? load_model(name, path, &r->defaults, &r->llm, err, errlen) : NULL;
    if (!path) snprintf(err, errlen, "out of memory");
    free(path);

    pthread_mutex_lock(&r->mu);
    e = find(r, name); /* the array may have moved while unlocked */
    served_model *old = NULL;
    if (e) {
        e->busy = 0;
        if (m) {
            old = e->m;
            e->m = m;
            snprintf(e->state, sizeof e->state, "READY");
            e->reason[0] = 0;
        } else if (!e->m) {
            snprintf(e->state, sizeof e->state, "UNAVAILABLE");
            snprintf(e->reason, sizeof e->reason, "%s", err);
        }
    }
    pthread_mutex_unlock(&r->mu);
    model_repo_release(old);
    return m ? 0 : 500;
}

int model_repo_load_all(model_repo *r) {
    pthread_mutex_lock(&r->mu);
    int n = r->n;
    char **names = calloc((size_t)(n ? n : 1), sizeof *names);
    for (int i = 0; names && i < n; i++) names[i] = strdup(r->e[i].name);
    pthread_mutex_unlock(&r->mu);
    if (!names) return n;
    int failed = 0;
    for (int i = 0; i < n; i++) {
        char err[512];
        if (!names[i] || model_repo_load(r, names[i], err, sizeof err)) {
            fprintf(stderr, "ingot serve: model '%s' failed to load: %s\n", names[i] ? names[i] : "?", err);
            failed++;
        }
        free(names[i]);
    }
    free(names);
    return failed;
}

int model_repo_unload(model_repo *r, const char *name, char *err, size_t errlen) {
    pthread_mutex_lock(&r->mu);
    repo_entry *e = find(r, name);
    served_model *m = e ? e->m : NULL;
    if (!m) {
        pthread_mutex_unlock(&r->mu);
        snprintf(err, errlen, "model '%s' is not loaded", name);
        return 404;
    }
    e->m = NULL;
    snprintf(e->state, sizeof e->state, "UNAVAILABLE");
    snprintf(e->reason, sizeof e->reason, "unloaded");
    pthread_mutex_unlock(&r->mu);
    model_repo_release(m); /* requests still holding it finish first */
    return 0;
}

served_model *model_repo_acquire(model_repo *r, const char *name, const char *version, int *exists) {
    pthread_mutex_lock(&r->mu);
    repo_entry *e = find(r, name);
    served_model *m = e ? e->m : NULL;
    if (exists) *exists = e != NULL;
    if (m && version && strcmp(version, m->version)) m = NULL;
    if (m) atomic_fetch_add(&m->refs, 1);
    pthread_mutex_unlock(&r->mu);
    return m;
}

void model_repo_foreach(model_repo *r, model_repo_visit_fn fn, void *ud) {
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++) {
        repo_entry *e = &r->e[i];
        fn(ud, e->name, e->m ? e->m->version : NULL, e->state, e->reason, e->m);
    }
    pthread_mutex_unlock(&r->mu);
}

void model_repo_cancel_all(model_repo *r) {
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++)
        if (r->e[i].m) {
            if (r->e[i].m->batcher) batcher_cancel(r->e[i].m->batcher);
            if (r->e[i].m->llm) llm_model_cancel(r->e[i].m->llm);
        }
    pthread_mutex_unlock(&r->mu);
}

int model_repo_any_loading(model_repo *r) {
    pthread_mutex_lock(&r->mu);
    int any = 0;
    for (int i = 0; i < r->n; i++) any |= r->e[i].busy;
    pthread_mutex_unlock(&r->mu);
    return any;
}
