/*
 * advise_catalog.c: the tool catalog of `ingot advise` (include/ingot_advise.h).
 *
 * The catalog is data/advise/catalog.tsv, compiled into the library by the
 * cmake/embed.cmake build rule as the byte array it_advise_catalog. Each load
 * copies the text and splits it in place into rows of 12 TAB-separated
 * columns; lines starting with '#' and blank lines are skipped. Footprint and
 * latency strings are also read as numbers for the rules' constraint checks.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingot_advise.h"

#ifdef INGOT_HAVE_IT_ADVISE_CATALOG
extern const unsigned char it_advise_catalog[];
extern const unsigned long it_advise_catalog_len;
#endif

#define NCOLS 12

struct ingot_catalog {
    char *text;
    int n;
    ingot_tool *tools;
};

/* "2-5MB" -> 2, "200KB" -> 0.2, "8-16GB" -> 8192, "0MB" -> 0; -1 unknown. */
static double parse_mb(const char *s) {
    char *e;
    double v = strtod(s, &e);
    if (e == s) return -1;
    while (*e == '-' || *e == '.' || isdigit((unsigned char)*e)) e++;
    if (!strncmp(e, "KB", 2)) return v / 1024;
    if (!strncmp(e, "GB", 2)) return v * 1024;
    if (!strncmp(e, "MB", 2)) return v;
    return -1;
}

/* "<10" -> 10, "~50" -> 50, "20" -> 20; -1 unknown. */
static double parse_ms(const char *s) {
    while (*s == '<' || *s == '~') s++;
    char *e;
    double v = strtod(s, &e);
    return e == s ? -1 : v;
}

ingot_status ingot_catalog_load(const char *text, size_t len, ingot_catalog **out, char *err, size_t errlen) {
    if (err && errlen) err[0] = 0;
    if (!out) return INGOT_ERR_INVALID_ARG;
    *out = NULL;
    if (!text) {
#ifdef INGOT_HAVE_IT_ADVISE_CATALOG
        text = (const char *)it_advise_catalog;
        len = (size_t)it_advise_catalog_len;
#else
        if (err && errlen)
            snprintf(err, errlen, "the tool catalog is not built into this binary (add the cmake/embed.cmake rule)");
        return INGOT_ERR_UNSUPPORTED;
#endif
    }
    ingot_catalog *c = calloc(1, sizeof *c);
    if (!c || !(c->text = malloc(len + 1))) {
        free(c);
        return INGOT_ERR_NOMEM;
    }
    memcpy(c->text, text, len);
    c->text[len] = 0;
    int cap = 0;
    int line_no = 0;
    ingot_status st = INGOT_OK;
    for (char *line = c->text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        line_no++;
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r') line[--l] = 0;
        if (l && line[0] != '#') {
            char *col[NCOLS];
            int n = 0;
            for (char *p = line; n < NCOLS;) {
                col[n++] = p;
                char *t = strchr(p, '\t');
                if (!t) break;
                *t = 0;
                p = t + 1;
            }
            if (n != NCOLS || strchr(col[NCOLS - 1], '\t')) {
                if (err && errlen) snprintf(err, errlen, "catalog line %d: %d columns, expected %d", line_no, n, NCOLS);
                st = INGOT_ERR_FORMAT;
                break;
            }
            for (int i = 0; i < NCOLS; i++)
                if (!col[i][0]) {
                    if (err && errlen) snprintf(err, errlen, "catalog line %d: column %d is empty (use -)", line_no, i + 1);
                    st = INGOT_ERR_FORMAT;
                    break;
                }
            if (st) break;
            for (int i = 0; i < c->n; i++)
                if (!strcmp(c->tools[i].id, col[0])) {
                    if (err && errlen) snprintf(err, errlen, "catalog line %d: duplicate id '%s'", line_no, col[0]);
                    st = INGOT_ERR_FORMAT;
                    break;
                }
            if (st) break;
            if (strcmp(col[3], "self-hosted") && strcmp(col[3], "managed") && strcmp(col[3], "on-device")) {
                if (err && errlen)
                    snprintf(err, errlen, "catalog line %d: deployment '%s' is not self-hosted, managed or on-device",
                             line_no, col[3]);
                st = INGOT_ERR_FORMAT;
                break;
            }
            if (c->n == cap) {
                cap = cap ? cap * 2 : 64;
                ingot_tool *t = realloc(c->tools, (size_t)cap * sizeof *t);
                if (!t) { st = INGOT_ERR_NOMEM; break; }
                c->tools = t;
            }
            ingot_tool *t = &c->tools[c->n++];
            t->id = col[0]; t->name = col[1]; t->category = col[2]; t->deployment = col[3];
            t->platforms = col[4]; t->hardware = col[5]; t->formats = col[6]; t->footprint = col[7];
            t->latency = col[8]; t->api = col[9]; t->situations = col[10]; t->summary = col[11];
            t->footprint_mb = parse_mb(t->footprint);
            t->latency_ms = parse_ms(t->latency);
        }
        line = nl ? nl + 1 : NULL;
    }
    if (!st && c->n == 0) {
        if (err && errlen) snprintf(err, errlen, "catalog has no rows");
        st = INGOT_ERR_FORMAT;
    }
    if (st) {
        ingot_catalog_free(c);
        return st;
    }
    *out = c;
    return INGOT_OK;
}

void ingot_catalog_free(ingot_catalog *c) {
    if (!c) return;
    free(c->tools);
    free(c->text);
    free(c);
}

int ingot_catalog_count(const ingot_catalog *c) { return c ? c->n : 0; }

const ingot_tool *ingot_catalog_tool(const ingot_catalog *c, int i) {
    return c && i >= 0 && i < c->n ? &c->tools[i] : NULL;
}

const ingot_tool *ingot_catalog_find(const ingot_catalog *c, const char *id) {
    if (!c || !id) return NULL;
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->tools[i].id, id)) return &c->tools[i];
    return NULL;
}

int ingot_tool_rank(const ingot_tool *t, const char *situation) {
    if (!t || !situation) return -1;
    size_t n = strlen(situation);
    for (const char *p = t->situations; (p = strstr(p, situation)); p += n) {
        if ((p == t->situations || p[-1] == ' ') && p[n] == ':') return atoi(p + n + 1);
    }
    return -1;
}

int ingot_tool_has(const char *list, const char *word) {
    if (!list || !word) return 0;
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == 0)) return 1;
    return 0;
}
