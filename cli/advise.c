/*
 * advise.c: `ingot advise`: parses the options into an ingot_advise_request,
 * calls ingot_advise (src/api/advise.c holds the rules) and prints the answer:
 * a short ranked list first, then the details (machine, model sizes per
 * quantization type, decode bound, ingot command lines, notes), or one JSON
 * document with --json. `ingot advise --list [CATEGORY]` prints the catalog.
 * Uses only the public headers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advise.h"
#include "ingot_advise.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ingot advise [--model FILE] [--task llm|embedding|vision|audio|other]\n"
            "                    [--target TARGET[,TARGET]] [--hardware HW] [--framework FW]\n"
            "                    [--need NEED[,NEED...]] [--problem PITFALL] [--latency-ms N]\n"
            "                    [--memory-mb N] [--app-size-mb N] [--context N] [-t THREADS]\n"
            "                    [--bandwidth-gbs N|--no-probe] [--managed-ok] [--json]\n"
            "       ingot advise --list [CATEGORY] [--json]\n"
            "\n"
            "targets:    %s (default: this machine)\n"
            "needs:      %s\n"
            "problems:   %s\n"
            "hardware:   %s\n"
            "frameworks: %s\n"
            "categories: engine llm-server llm-api mobile edge mcu compiler cloud serving demo framework\n",
            ingot_advise_targets(), ingot_advise_needs(), ingot_advise_problems(), ingot_advise_hardware(),
            ingot_advise_frameworks());
}

/* ---- JSON output ---- */

static void jstr(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static void jtool(FILE *f, const ingot_tool *t) {
    fputs("{\"id\":", f); jstr(f, t->id);
    fputs(",\"name\":", f); jstr(f, t->name);
    fputs(",\"category\":", f); jstr(f, t->category);
    fputs(",\"deployment\":", f); jstr(f, t->deployment);
    fputs(",\"platforms\":", f); jstr(f, t->platforms);
    fputs(",\"hardware\":", f); jstr(f, t->hardware);
    fputs(",\"formats\":", f); jstr(f, t->formats);
    fputs(",\"footprint\":", f); jstr(f, t->footprint);
    fputs(",\"latency_ms\":", f); jstr(f, t->latency);
    fputs(",\"api\":", f); jstr(f, t->api);
    fputs(",\"summary\":", f); jstr(f, t->summary);
    fputc('}', f);
}

static double mb(int64_t b) { return (double)b / 1048576.0; }

static void print_json(const ingot_advice *a) {
    FILE *f = stdout;
    fputs("{\"target\":", f); jstr(f, a->target);
    fputs(",\"task\":", f); jstr(f, a->task);
    fputs(",\"hardware_class\":", f); jstr(f, a->hardware);
    fputs(",\"question\":", f); jstr(f, a->question);
    fputs(",\"situation\":", f); jstr(f, a->situation);
    fputs(",\"reason\":", f); jstr(f, a->reason);
    fputs(",\"recommendations\":[", f);
    for (int i = 0; i < a->n_items; i++) {
        fprintf(f, "%s{\"rank\":%d,\"demoted\":%s,\"note\":", i ? "," : "", i + 1, a->items[i].demoted ? "true" : "false");
        jstr(f, a->items[i].note);
        fputs(",\"tool\":", f);
        jtool(f, a->items[i].tool);
        fputc('}', f);
    }
    fputs("],\"also\":[", f);
    for (int i = 1; i < a->n_answers; i++) {
        fputs(i > 1 ? ",{\"question\":" : "{\"question\":", f); jstr(f, a->answers[i].question);
        fputs(",\"situation\":", f); jstr(f, a->answers[i].situation);
        fputs(",\"first\":", f); jstr(f, a->answers[i].first ? a->answers[i].first->id : "");
        fputs(",\"reason\":", f); jstr(f, a->answers[i].reason);
        fputc('}', f);
    }
    fprintf(f, "],\"ingot_first\":%s,\"ingot_offer\":", a->ingot_first ? "true" : "false");
    jstr(f, a->ingot_offer);
    if (a->local) {
        const ingot_machine_info *m = &a->machine;
        fputs(",\"machine\":{\"cpu\":", f); jstr(f, m->cpu_model);
        fputs(",\"arch\":", f); jstr(f, m->arch);
        fputs(",\"isa\":", f); jstr(f, m->isa);
        fputs(",\"features\":", f); jstr(f, m->features);
        fputs(",\"board\":", f); jstr(f, m->board);
        fprintf(f, ",\"cores\":%d,\"threads\":%d,\"mem_total_bytes\":%lld,\"mem_available_bytes\":%lld,\"gpus\":%d,\"gpu\":",
                m->cores, m->threads, (long long)m->mem_total, (long long)m->mem_available, m->n_gpus);
        jstr(f, m->gpu_name);
        fprintf(f, ",\"gpu_mem_bytes\":%lld}", (long long)m->gpu_mem);
    }
    if (a->has_model) {
        const ingot_model_facts *m = &a->model;
        fputs(",\"model\":{\"path\":", f); jstr(f, m->path);
        fputs(",\"format\":", f); jstr(f, m->format);
        fputs(",\"arch\":", f); jstr(f, m->arch);
        fputs(",\"name\":", f); jstr(f, m->name);
        fputs(",\"type\":", f); jstr(f, m->file_type);
        fputs(",\"task\":", f); jstr(f, m->task);
        fprintf(f, ",\"file_bytes\":%lld,\"weight_bytes\":%lld,\"params\":%lld,\"tensors\":%lld,\"layers\":%lld,"
                   "\"heads\":%lld,\"kv_heads\":%lld,\"head_dim\":%lld,\"embd\":%lld,\"ctx_train\":%lld,\"vocab\":%lld,"
                   "\"kv_bytes_per_1k_tokens\":%lld,\"types\":[",
                (long long)m->file_bytes, (long long)m->weight_bytes, (long long)m->n_params, (long long)m->n_tensors,
                (long long)m->n_layer, (long long)m->n_head, (long long)m->n_head_kv, (long long)m->head_dim,
                (long long)m->n_embd, (long long)m->n_ctx_train, (long long)m->n_vocab, (long long)m->kv_bytes_per_1k);
        for (int i = 0; i < m->n_types; i++) {
            fprintf(f, "%s{\"type\":", i ? "," : "");
            jstr(f, m->types[i].type);
            fprintf(f, ",\"tensors\":%lld,\"bytes\":%lld}", (long long)m->types[i].n_tensors, (long long)m->types[i].bytes);
        }
        fputs("],\"quantizations\":[", f);
        for (int i = 0; i < m->n_quant; i++) {
            const ingot_quant_estimate *e = &m->quant[i];
            fprintf(f, "%s{\"type\":", i ? "," : "");
            jstr(f, e->type);
            fprintf(f, ",\"weight_bytes\":%lld,\"file_bytes\":%lld,\"bits_per_weight\":%.3f,\"available\":%s,"
                       "\"fits\":%s,\"decode_tps_upper_bound\":%.1f}",
                    (long long)e->weight_bytes, (long long)e->file_bytes, e->bits_per_weight,
                    e->available ? "true" : "false", a->quant_fits[i] ? "true" : "false", a->quant_tps[i]);
        }
        fputs("]}", f);
        fprintf(f, ",\"plan\":{\"quant\":");
        jstr(f, a->quant);
        fprintf(f, ",\"threads\":%d,\"context\":%d,\"weights_bytes\":%lld,\"kv_bytes\":%lld,\"budget_bytes\":%lld,"
                   "\"bandwidth_gbs\":%.2f,\"bandwidth_measured\":%s,\"decode_tps_upper_bound\":%.1f}",
                a->threads, a->context, (long long)a->weights_bytes, (long long)a->kv_bytes, (long long)a->budget_bytes,
                a->bandwidth_gbs, a->bandwidth_measured ? "true" : "false", a->decode_tps);
    }
    fputs(",\"commands\":[", f);
    for (int i = 0; i < a->n_commands; i++) {
        if (i) fputc(',', f);
        jstr(f, a->commands[i]);
    }
    fputs("],\"notes\":[", f);
    for (int i = 0; i < a->n_notes; i++) {
        if (i) fputc(',', f);
        jstr(f, a->notes[i]);
    }
    fputs("]}\n", f);
}

/* ---- text output ---- */

static void print_text(const ingot_advice *a) {
    printf("%s  (target: %s%s%s%s%s)\n", a->question, a->target, a->task[0] ? ", task: " : "", a->task,
           a->hardware[0] ? ", hardware: " : "", a->hardware);
    for (int i = 0; i < a->n_items; i++) {
        const ingot_advice_item *it = &a->items[i];
        printf("  %d. %-26s %s%s%s\n", i + 1, it->tool->name, it->demoted ? "[not a fit: " : "",
               it->demoted ? it->note : it->tool->summary, it->demoted ? "]" : "");
    }
    printf("why: %s\n", a->reason);
    if (a->ingot_offer[0]) printf("ingot instead: %s\n", a->ingot_offer);
    if (a->n_answers > 1) {
        printf("\nalso relevant:\n");
        for (int i = 1; i < a->n_answers; i++)
            printf("  %-58s -> %s\n", a->answers[i].question, a->answers[i].first ? a->answers[i].first->name : "-");
    }
    if (a->local) {
        const ingot_machine_info *m = &a->machine;
        printf("\nthis machine: %s (%s), kernels %s [%s], %d cores (%d usable), %.1f GiB memory (%.1f available)",
               m->cpu_model, m->arch, m->isa, m->features, m->cores, m->threads, (double)m->mem_total / 1073741824.0,
               (double)m->mem_available / 1073741824.0);
        if (m->n_gpus) printf(", %d NVIDIA GPU%s: %s", m->n_gpus, m->n_gpus > 1 ? "s" : "", m->gpu_name);
        if (m->board[0]) printf(", board %s", m->board);
        printf("\n");
    }
    if (a->has_model) {
        const ingot_model_facts *m = &a->model;
        printf("\nmodel: %s: %s %s, %s, %.1f MB file, %.2f M parameters", m->path, m->format, m->arch, m->file_type,
               mb(m->file_bytes), (double)m->n_params / 1e6);
        if (m->n_layer)
            printf("\n  %lld layers, %lld heads (%lld KV) x %lld, embedding %lld, context %lld, vocabulary %lld%s",
                   (long long)m->n_layer, (long long)m->n_head, (long long)m->n_head_kv, (long long)m->head_dim,
                   (long long)m->n_embd, (long long)m->n_ctx_train, (long long)m->n_vocab,
                   m->tied_embeddings ? ", tied embeddings" : "");
        printf("\n");
        if (m->kv_bytes_per_1k) printf("  KV cache (f16): %.2f MB per 1k tokens of context\n", mb(m->kv_bytes_per_1k));
        if (m->n_quant && m->n_layer) {
            printf("  %-6s %11s %11s %7s %6s %18s\n", "type", "weights MB", "file MB", "bits/w", "fits",
                   "decode tok/s <=");
            for (int i = 0; i < m->n_quant; i++) {
                const ingot_quant_estimate *e = &m->quant[i];
                printf("  %-6s %11.1f %11.1f %7.2f %6s ", e->type, mb(e->weight_bytes), mb(e->file_bytes),
                       e->bits_per_weight, a->quant_fits[i] ? "yes" : "no");
                if (a->quant_tps[i] > 0) printf("%18.1f", a->quant_tps[i]);
                else printf("%18s", "-");
                printf("%s%s\n", !strcmp(e->type, a->quant) ? "  <- chosen" : "",
                       !e->available ? "  (needs a float source)" : "");
            }
        }
        if (a->bandwidth_gbs > 0)
            printf("  memory read bandwidth: %.1f GB/s (%s); decode estimates are upper bounds: each token streams "
                   "the weights once, compute and the KV cache only lower it\n",
                   a->bandwidth_gbs, a->bandwidth_measured ? "measured now over a weights-sized buffer" : "given");
        if (a->quant[0])
            printf("  plan: %s weights %.1f MB + KV %.1f MB at %d tokens = %.1f MB%s\n", a->quant, mb(a->weights_bytes),
                   mb(a->kv_bytes), a->context, mb(a->weights_bytes + a->kv_bytes),
                   a->budget_bytes ? "" : " (no memory budget)");
    }
    if (a->n_commands) {
        printf("\nwith ingot:\n");
        for (int i = 0; i < a->n_commands; i++) printf("  $ %s\n", a->commands[i]);
    }
    if (a->n_notes) {
        printf("\nnotes:\n");
        for (int i = 0; i < a->n_notes; i++) printf("  - %s\n", a->notes[i]);
    }
}

static int list_catalog(const char *category, int json) {
    ingot_catalog *c = NULL;
    char err[256];
    if (ingot_catalog_load(NULL, 0, &c, err, sizeof err)) {
        fprintf(stderr, "ingot advise: %s\n", err);
        return 1;
    }
    int shown = 0;
    if (json) printf("[");
    else
        printf("%-13s %-28s %-11s %-11s %-9s %-7s %s\n", "id", "name", "category", "deployment", "footprint", "latency",
               "platforms / formats");
    for (int i = 0; i < ingot_catalog_count(c); i++) {
        const ingot_tool *t = ingot_catalog_tool(c, i);
        if (category && strcmp(category, t->category)) continue;
        if (json) {
            if (shown) printf(",");
            jtool(stdout, t);
        } else
            printf("%-13s %-28s %-11s %-11s %-9s %-7s %s / %s\n", t->id, t->name, t->category, t->deployment,
                   t->footprint, t->latency, t->platforms, t->formats);
        shown++;
    }
    if (json) printf("]\n");
    ingot_catalog_free(c);
    if (!shown) {
        fprintf(stderr, "ingot advise: no tool in category '%s'\n", category ? category : "");
        return 1;
    }
    return 0;
}

static int num(const char *opt, const char *s, double *out) {
    char *e;
    double v = s ? strtod(s, &e) : 0;
    if (!s || e == s || *e || v < 0 || v != v) {
        fprintf(stderr, "ingot advise: %s needs a non-negative number, got '%s'\n", opt, s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}

int cmd_advise(int argc, char **argv) {
    ingot_advise_request rq;
    memset(&rq, 0, sizeof rq);
    int json = 0, list = 0;
    const char *category = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
#define TAKE(field)                                                                        \
    do {                                                                                   \
        if (!v) { fprintf(stderr, "ingot advise: %s needs a value\n", a); return 2; }      \
        field = v;                                                                         \
        i++;                                                                               \
    } while (0)
#define TAKENUM(field)                                \
    do {                                              \
        if (num(a, v, &d)) return 2;                  \
        field = d;                                    \
        i++;                                          \
    } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--list")) {
            list = 1;
            if (v && v[0] != '-') { category = v; i++; }
        } else if (!strcmp(a, "--managed-ok")) rq.managed_ok = 1;
        else if (!strcmp(a, "--no-probe")) rq.bandwidth_gbs = -1;
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) TAKE(rq.model);
        else if (!strcmp(a, "--task")) TAKE(rq.task);
        else if (!strcmp(a, "--target")) TAKE(rq.target);
        else if (!strcmp(a, "--hardware")) TAKE(rq.hardware);
        else if (!strcmp(a, "--framework")) TAKE(rq.framework);
        else if (!strcmp(a, "--need") || !strcmp(a, "--needs")) TAKE(rq.needs);
        else if (!strcmp(a, "--problem")) TAKE(rq.problem);
        else if (!strcmp(a, "--latency-ms")) TAKENUM(rq.latency_ms);
        else if (!strcmp(a, "--memory-mb")) TAKENUM(rq.memory_mb);
        else if (!strcmp(a, "--app-size-mb")) TAKENUM(rq.app_size_mb);
        else if (!strcmp(a, "--bandwidth-gbs")) TAKENUM(rq.bandwidth_gbs);
        else if (!strcmp(a, "--context") || !strcmp(a, "--ctx")) {
            if (num(a, v, &d) || d > 1e7) return 2;
            rq.context = (int)d;
            i++;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (num(a, v, &d) || d > 4096) return 2;
            rq.threads = (int)d;
            i++;
        } else if (a[0] != '-' && !rq.model) rq.model = a;
        else {
            fprintf(stderr, "ingot advise: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
#undef TAKE
#undef TAKENUM
    }
    if (list) return list_catalog(category, json);
    ingot_advice *adv = NULL;
    char err[1024];
    ingot_status st = ingot_advise(&rq, &adv, err, sizeof err);
    if (st) {
        fprintf(stderr, "ingot advise: %s\n", err[0] ? err : ingot_status_str(st));
        return st == INGOT_ERR_INVALID_ARG ? 2 : 1;
    }
    if (json) print_json(adv);
    else print_text(adv);
    ingot_advice_free(adv);
    return 0;
}
