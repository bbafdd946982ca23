/*
 * model_repo.h: the set of models a server knows, their states and loading.
 *
 * Each entry has a name, a path, a state (LOADING, READY, UNAVAILABLE) and,
 * when READY, a served_model: the loaded model, its scheduler and its
 * statistics, reference-counted so that unloading or reloading one model never
 * waits on nor disturbs requests to another, and requests already holding the
 * old instance finish on it. Models come from --model PATH[:NAME] and from a
 * repository folder (--models-dir DIR: DIR/NAME/model.onnx, with an optional
 * DIR/NAME/config.json {"max_batch", "max_queue_delay_us", "max_queue",
 * "version", "threads"}).
 *
 * Backends: a .onnx file is a tensor model run by batcher.c; a .gguf file is
 * an LLM run by llm_model.c's continuous-batching scheduler; a Hugging Face
 * folder whose config.json says model_type "bert" is an embedding model
 * (include/ingot_embed.h, served by routes_embeddings.c) (served_model.kind).
 */
#ifndef INGOT_SERVER_MODEL_REPO_H
#define INGOT_SERVER_MODEL_REPO_H

#include <stdatomic.h>

#include "batcher.h"
#include "ingot_embed.h"
#include "llm_model.h"
#include "metrics.h"

enum { MODEL_KIND_TENSOR = 0, MODEL_KIND_LLM = 1, MODEL_KIND_EMBED = 2 };

typedef struct served_model {
    char *name;
    char *version;
    char *path;
    int kind;                 /* MODEL_KIND_* */
    ingot_model *model;       /* tensor models */
    batcher *batcher;         /* tensor models */
    llm_model *llm;           /* LLMs (a .gguf file): model, scheduler, LLM statistics */
    ingot_embedder *embed;    /* embedding models (an HF folder, model_type bert) */
    int created;              /* unix time of loading */
    model_stats stats;
    atomic_int refs;
} served_model;

typedef struct model_repo model_repo;

/* defaults: batcher settings for models whose config does not say. */
model_repo *model_repo_create(const char *models_dir, const batcher_config *defaults);
/* Settings of LLM schedulers (copied). */
void model_repo_set_llm_config(model_repo *r, const llm_config *cfg);
/* Free everything; no request may hold a model any more. */
void model_repo_free(model_repo *r);
/* Register a model file under name (NULL: derived from the path). Does not load it. */
int model_repo_add(model_repo *r, const char *path, const char *name, char *err, size_t errlen);
/* Register every DIR/NAME/model.onnx of the models dir. */
int model_repo_scan(model_repo *r, char *err, size_t errlen);
/* Load (or reload) a registered model, or one found in the models dir.
 * Returns 0 or an HTTP status (400 bad name or config, 404 unknown, 409 busy,
 * 500 load failure) with a message. */
int model_repo_load(model_repo *r, const char *name, char *err, size_t errlen);
/* Load every registered model; returns how many failed. */
int model_repo_load_all(model_repo *r);
/* 0, or 404 when the model is not loaded. */
int model_repo_unload(model_repo *r, const char *name, char *err, size_t errlen);
/* A READY model by name (and version when not NULL), with a reference taken;
 * NULL when none. *exists says whether the name is known at all. */
served_model *model_repo_acquire(model_repo *r, const char *name, const char *version, int *exists);
void model_repo_release(served_model *m);
/* Visit every entry (repository index, metrics). m is NULL unless READY and
 * is valid only during the call. */
typedef void (*model_repo_visit_fn)(void *ud, const char *name, const char *version, const char *state,
                                    const char *reason, served_model *m);
void model_repo_foreach(model_repo *r, model_repo_visit_fn fn, void *ud);
/* Fail the queued requests of every model (shutdown). */
void model_repo_cancel_all(model_repo *r);
/* Is some model loading right now? */
int model_repo_any_loading(model_repo *r);

/* A model name usable in a URL and as a folder name: [A-Za-z0-9_.-], not
 * starting with '.', at most 128 bytes. */
int model_name_valid(const char *name);

#endif
