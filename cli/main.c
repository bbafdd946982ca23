/*
 * main.c: the `ingot` command: dispatch to subcommands and usage text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "llm_cmds.h"
#include "advise.h"
#ifdef INGOT_HAVE_SERVER
#include "serve.h"
#endif

static void usage(FILE *f) {
    fprintf(f,
            "ingot %s: a small inference engine\n"
            "\n"
            "usage: ingot COMMAND [options]\n"
            "\n"
            "commands:\n"
            "  info  MODEL [--load]             format, opsets, inputs/outputs, op histogram, sizes\n"
            "                                   (--load also prepares it to run: load time, memory)\n"
            "  run   MODEL --input NAME=X.npy... [--output-dir DIR] [-t THREADS]\n"
            "                                   run once; print outputs (and write them as .npy)\n"
            "  bench MODEL [-t THREADS] [--iters N] [--warmup N] [--input NAME=X.npy...] [--json]\n"
            "                                   latency: median/p90/min over N runs\n"
            "  generate -m MODEL -p PROMPT [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p P]\n"
            "           [--seed S] [-t THREADS] [-c CTX]\n"
            "                                   the prompt and its continuation, streamed to stdout\n"
            "  chat -m MODEL [-t THREADS] [--temp T] [-n N] [--system TEXT] [-c CTX] [--seed S]\n"
            "                                   interactive chat with the model's chat template\n"
            "  bench MODEL.gguf [-t THREADS] [-p 512] [-n 128] [--reps R] [--json]\n"
            "                                   LLM prompt processing and generation tokens/s\n"
            "  convert --from llama2c MODEL.bin --tokenizer TOK.bin -o OUT.gguf\n"
            "  convert --from hf HF_FOLDER -o OUT.gguf\n"
            "                                   write a llama.cpp-compatible GGUF\n"
            "  serve [--host H] [--port P] [--model PATH[:NAME]]... [--models-dir DIR] [--api-key K]\n"
            "        [--threads N] [--max-batch N] [--max-queue-delay-us N] [--log-format text|json]\n"
            "                                   KServe v2 (Open Inference Protocol) server\n"
            "  advise [--model FILE] [--task T] [--target T] [--latency-ms N] [--memory-mb N]\n"
            "         [--app-size-mb N] [--managed-ok] [--json] | --list [CATEGORY]\n"
            "                                   what to run where, and how (docs/ADVISE.md)\n"
            "  quantize IN.gguf OUT.gguf TYPE [-t THREADS]\n"
            "                                   F16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K ...\n"
            "\n"
            "MODEL is given as -m MODEL or as the first positional argument.\n"
            "Environment: INGOT_ISA=scalar|avx2|avx512 caps the kernel tier; INGOT_LOG=debug|info|warn.\n",
            INGOT_VERSION);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("ingot %s (%s kernels)\n", INGOT_VERSION, ingot_isa_name());
        return 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "run")) return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) {
        /* GGUF files and llama2.c checkpoints are LLMs: tokens/s; anything else latency */
        const char *m = cli_model(argc - 1, argv + 1);
        size_t l = m ? strlen(m) : 0;
        struct stat sb; /* a folder: a Hugging Face LLM (converted in memory) */
        if ((l > 5 && (!strcmp(m + l - 5, ".gguf") || !strcmp(m + l - 4, ".bin"))) ||
            (m && stat(m, &sb) == 0 && S_ISDIR(sb.st_mode)))
            return cmd_llm_bench(argc - 1, argv + 1);
        return cmd_bench(argc - 1, argv + 1);
    }
    if (!strcmp(cmd, "generate")) return cmd_generate(argc - 1, argv + 1);
    if (!strcmp(cmd, "chat")) return cmd_chat(argc - 1, argv + 1);
    if (!strcmp(cmd, "convert")) return cmd_convert(argc - 1, argv + 1);
    if (!strcmp(cmd, "advise")) return cmd_advise(argc - 1, argv + 1);
#ifdef INGOT_HAVE_SERVER
    if (!strcmp(cmd, "serve")) return cmd_serve(argc - 1, argv + 1);
#else
    if (!strcmp(cmd, "serve")) {
        fprintf(stderr, "ingot: this build has no HTTP server (libmicrohttpd and jansson were not found)\n");
        return 2;
    }
#endif
    if (!strcmp(cmd, "quantize")) return cmd_quantize(argc - 1, argv + 1);
    fprintf(stderr, "ingot: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
