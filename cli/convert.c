/*
 * convert.c: `ingot convert` and `ingot quantize`, thin argument parsers over
 * include/ingot_llm.h.
 *   ingot convert --from llama2c MODEL.bin --tokenizer TOK.bin -o OUT.gguf
 *   ingot convert --from hf HF_FOLDER -o OUT.gguf
 *   ingot quantize IN.gguf OUT.gguf TYPE [-t THREADS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingot.h"
#include "ingot_llm.h"
#include "llm_cmds.h"

static int convert_usage(FILE *f) {
    fprintf(f, "usage: ingot convert --from llama2c MODEL.bin --tokenizer TOK.bin -o OUT.gguf\n"
               "       ingot convert --from hf HF_FOLDER -o OUT.gguf\n");
    return 2;
}

int cmd_convert(int argc, char **argv) {
    const char *from = NULL, *model = NULL, *tok = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { convert_usage(stdout); return 0; }
        if (!strcmp(a, "--from") && i + 1 < argc) from = argv[++i];
        else if ((!strcmp(a, "--tokenizer") || !strcmp(a, "--tok")) && i + 1 < argc) tok = argv[++i];
        else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && i + 1 < argc) out = argv[++i];
        else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && i + 1 < argc) model = argv[++i];
        else if (a[0] != '-' && !model) model = a;
        else {
            fprintf(stderr, "ingot convert: unexpected argument '%s'\n", a);
            return convert_usage(stderr);
        }
    }
    if (!from || !model || !out) return convert_usage(stderr);
    char err[512];
    if (!strcmp(from, "hf")) {
        ingot_status hs = ingot_convert_hf(model, out, err, sizeof err);
        if (hs != INGOT_OK) {
            fprintf(stderr, "ingot convert: %s (%s)\n", err, ingot_status_str(hs));
            return 1;
        }
        fprintf(stderr, "ingot convert: wrote %s\n", out);
        return 0;
    }
    if (strcmp(from, "llama2c")) {
        fprintf(stderr, "ingot convert: unsupported source format '%s' (supported: llama2c, hf)\n", from);
        return 2;
    }
    if (!tok) {
        fprintf(stderr, "ingot convert: --from llama2c needs --tokenizer TOK.bin\n");
        return 2;
    }
    ingot_status st = ingot_convert_llama2c(model, tok, out, err, sizeof err);
    if (st != INGOT_OK) {
        fprintf(stderr, "ingot convert: %s (%s)\n", err, ingot_status_str(st));
        return 1;
    }
    fprintf(stderr, "ingot convert: wrote %s\n", out);
    return 0;
}

static int quantize_usage(FILE *f) {
    fprintf(f, "usage: ingot quantize IN.gguf OUT.gguf TYPE [-t THREADS]\n"
               "TYPE: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K\n");
    return 2;
}

int cmd_quantize(int argc, char **argv) {
    const char *pos[3] = {NULL, NULL, NULL};
    int npos = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { quantize_usage(stdout); return 0; }
        if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && i + 1 < argc) threads = atoi(argv[++i]);
        else if (a[0] != '-' && npos < 3) pos[npos++] = a;
        else {
            fprintf(stderr, "ingot quantize: unexpected argument '%s'\n", a);
            return quantize_usage(stderr);
        }
    }
    if (npos != 3) return quantize_usage(stderr);
    char err[512];
    ingot_status st = ingot_quantize_gguf(pos[0], pos[1], pos[2], threads, err, sizeof err);
    if (st != INGOT_OK) {
        fprintf(stderr, "ingot quantize: %s (%s)\n", err, ingot_status_str(st));
        return 1;
    }
    fprintf(stderr, "ingot quantize: wrote %s\n", pos[1]);
    return 0;
}
