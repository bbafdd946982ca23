/*
 * ingot_advise.h: the deployment guide behind `ingot advise`: a catalog of
 * inference tools (data/advise/catalog.tsv, compiled into the library) and
 * the decision rules of ingot's deployment reference over it. A request
 * (target, task, needs, hardware, framework, a pitfall, limits, a model file)
 * maps to the reference's question that applies, a ranked list of tools with
 * the reason, every other question that applies with its first pick and,
 * when ingot can run the case, the model's footprint per quantization type,
 * a bandwidth-bound decode estimate and the exact ingot command lines.
 * Include after (or instead of) ingot.h.
 *
 * Threads: no shared state; any thread. Results are plain read-only structs
 * owned by the caller through their *_free functions (which accept NULL).
 * Errors (unknown names, unreadable models, contradictory constraints) return
 * a status and a message in the caller's err buffer.
 */
#ifndef INGOT_ADVISE_H
#define INGOT_ADVISE_H

#include "ingot.h"
#include "ingot_inspect.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- catalog ---- */

typedef struct ingot_tool {
    const char *id, *name, *category, *deployment, *platforms, *hardware, *formats, *footprint, *latency, *api,
        *situations, *summary;
    double footprint_mb; /* lower bound of footprint in MB; -1 unknown */
    double latency_ms;   /* typical latency in ms; -1 unknown */
} ingot_tool;

typedef struct ingot_catalog ingot_catalog;

/* Parse a catalog in the TSV format of data/advise/catalog.tsv; text NULL
 * loads the catalog built into the library. A malformed row fails with its
 * line number. */
ingot_status ingot_catalog_load(const char *text, size_t len, ingot_catalog **out, char *err, size_t errlen);
void ingot_catalog_free(ingot_catalog *c);
int ingot_catalog_count(const ingot_catalog *c);
const ingot_tool *ingot_catalog_tool(const ingot_catalog *c, int i);
const ingot_tool *ingot_catalog_find(const ingot_catalog *c, const char *id);
/* RANK of the tool in a situation of its `situations` column, -1 if absent. */
int ingot_tool_rank(const ingot_tool *t, const char *situation);
/* 1 when a comma list column (platforms, hardware, formats) holds word. */
int ingot_tool_has(const char *list, const char *word);

/* ---- request ---- */

typedef struct ingot_advise_request {
    const char *model;     /* model file or folder; NULL: none */
    const char *task;      /* llm embedding vision audio other; NULL: from the model */
    const char *target;    /* server laptop ios android rpi mcu jetson browser gateway aws gcp azure;
                              "ios,android" for both; NULL: this machine */
    const char *hardware;  /* h100 a100 a6000 a5000 l4 t4 rtx4090 rtx6000 jetson-orin m1 m2 m3 macbook
                              xeon core-i9 arc gaudi vpu rpi android-phone iphone mcu ...; NULL: detected */
    const char *framework; /* pytorch tensorflow jax keras hf */
    const char *needs;     /* comma list, see ingot_advise_needs() */
    const char *problem;   /* a pitfall, see ingot_advise_problems() */
    double latency_ms;     /* per-token (LLM) or per-inference budget; 0: none */
    double memory_mb;      /* memory budget; 0: none (this machine: its available memory) */
    double app_size_mb;    /* app size budget on mobile; 0: none */
    int managed_ok;        /* managed (hosted) services are acceptable */
    int context;           /* LLM context in tokens; 0: the model's, at most 4096 */
    int threads;           /* 0: this machine's usable CPUs */
    double bandwidth_gbs;  /* > 0: use it; 0: probe this machine (with a model); < 0: no estimate */
    const ingot_machine_info *machine; /* NULL: detect this machine */
} ingot_advise_request;

/* Space-separated lists of the accepted names, for help texts. */
const char *ingot_advise_targets(void);
const char *ingot_advise_needs(void);
const char *ingot_advise_problems(void);
const char *ingot_advise_hardware(void);
const char *ingot_advise_frameworks(void);

/* ---- result ---- */

#define INGOT_ADVICE_MAX_ITEMS 16
#define INGOT_ADVICE_MAX_ANSWERS 24
#define INGOT_ADVICE_MAX_NOTES 16
#define INGOT_ADVICE_MAX_COMMANDS 8

typedef struct ingot_advice_item {
    const ingot_tool *tool; /* points into the advice's catalog */
    int rank;               /* the catalog's rank for the situation */
    int demoted;            /* a constraint moved it behind the others */
    char note[256];         /* why demoted, or a caveat; "" when none */
} ingot_advice_item;

typedef struct ingot_advice_answer {
    const char *question;   /* the reference's question */
    const char *situation;  /* catalog situation key */
    const char *reason;     /* why the answer holds */
    const ingot_tool *first; /* first pick once constraints apply; NULL when none */
} ingot_advice_answer;

typedef struct ingot_advice {
    ingot_catalog *catalog;  /* owned */
    char target[32];         /* "this machine", "ios", "ios+android", ... */
    char hardware[24];       /* hardware class used by the rules ("" none) */
    char task[12];
    int local;               /* the target is this machine */
    ingot_machine_info machine; /* valid when local */
    int has_model;
    ingot_model_facts model; /* valid when has_model */

    /* the primary question and its ranked answer */
    const char *question, *situation, *reason;
    int n_items;
    ingot_advice_item items[INGOT_ADVICE_MAX_ITEMS];
    int n_answers;           /* answers[0] is the primary question */
    ingot_advice_answer answers[INGOT_ADVICE_MAX_ANSWERS];

    /* ingot itself */
    int ingot_first;         /* ingot is the first recommendation */
    int ingot_listed;        /* ingot is in items and not demoted */
    char ingot_offer[400];   /* what ingot offers when it is not the answer ("" none) */

    /* engine awareness (a model that ingot runs) */
    double bandwidth_gbs;    /* 0 when not measured */
    int bandwidth_measured;  /* probed on this machine (else given) */
    int threads, context;
    char quant[8];           /* chosen weights type ("" when not an LLM) */
    int64_t weights_bytes;   /* of the chosen type */
    int64_t kv_bytes;        /* KV cache at `context` */
    int64_t budget_bytes;    /* memory budget used (0 none) */
    double decode_tps;       /* upper bound at the chosen type, short context; 0 unknown */
    int quant_fits[INGOT_INSPECT_N_QUANT];     /* weights + KV(context) within the budget */
    double quant_tps[INGOT_INSPECT_N_QUANT];   /* decode upper bound per type; 0 unknown */
    int n_commands;
    char commands[INGOT_ADVICE_MAX_COMMANDS][640];
    int n_notes;
    char notes[INGOT_ADVICE_MAX_NOTES][400];
} ingot_advice;

/* Answer a request. On failure *out is NULL and err says what is wrong
 * (INGOT_ERR_INVALID_ARG for unknown names and contradictory constraints,
 * the inspector's status for unreadable models). */
ingot_status ingot_advise(const ingot_advise_request *req, ingot_advice **out, char *err, size_t errlen);
void ingot_advice_free(ingot_advice *a);

#ifdef __cplusplus
}
#endif
#endif
