/*
 * ingot_inspect.h: facts about a model file and about the machine, without
 * loading weights: the format, architecture and hyperparameters of a GGUF,
 * safetensors (a file or a Hugging Face folder with config.json), ONNX or
 * TFLite model; its parameter count and bytes per tensor type; the weights
 * bytes `ingot quantize` would give for each quantization type (ggml block
 * sizes, scales included, with ingot quantize's per-tensor type rules); the
 * KV-cache bytes per 1k tokens of context; this machine's CPU, ISA tiers,
 * cores, memory and NVIDIA GPU; and a short memory-read-bandwidth probe.
 * For `ingot advise` and other tools. Include after (or instead of) ingot.h.
 *
 * Threads: every function here is self-contained and may be called from any
 * thread. Errors go to the caller's err buffer (errlen bytes, may be NULL/0).
 */
#ifndef INGOT_INSPECT_H
#define INGOT_INSPECT_H

#include "ingot.h"

#ifdef __cplusplus
extern "C" {
#endif

#define INGOT_INSPECT_MAX_TYPES 16 /* distinct tensor types listed per file */
#define INGOT_INSPECT_N_QUANT 13   /* quantization types estimated */

/* Bytes of the tensors of one stored type. */
typedef struct ingot_type_bytes {
    char type[12];      /* "F32", "Q4_1", "int8", ... */
    int64_t n_tensors;
    int64_t n_elements;
    int64_t bytes;
} ingot_type_bytes;

/* What `ingot quantize SRC OUT <type>` would produce (GGUF and safetensors). */
typedef struct ingot_quant_estimate {
    char type[8];          /* "F16", "Q8_0", "Q4_K", ... */
    int64_t weight_bytes;  /* bytes of all tensors */
    int64_t file_bytes;    /* weight_bytes + metadata + alignment padding */
    int64_t read_bytes_per_token; /* weights streamed per decoded token (embedding: one row) */
    double bits_per_weight; /* over all parameters, scales included */
    int available;         /* 1 when ingot quantize can produce it from this file (float source),
                              or the file already has that type */
} ingot_quant_estimate;

typedef struct ingot_model_facts {
    char path[512];
    char format[16];       /* "gguf" "safetensors" "onnx" "tflite" */
    char arch[48];         /* general.architecture / config.json model_type; ONNX: "onnx" */
    char name[96];         /* general.name, or the file name */
    char file_type[12];    /* dominant weight type ("Q4_1", "F16", "BF16", "float32", ...) */
    char task[12];         /* guessed: "llm" "embedding" "vision" "audio" "other" */
    int64_t file_bytes;    /* the file (a folder: its weight files) */
    int64_t meta_bytes;    /* header + metadata + padding: file_bytes - tensor bytes */
    int64_t n_params;      /* elements of all tensors */
    int64_t weight_bytes;  /* bytes of all tensors as stored */
    int64_t n_tensors;
    int is_float;          /* weights are F32/F16/BF16: ingot quantize accepts the file */
    int n_types;
    ingot_type_bytes types[INGOT_INSPECT_MAX_TYPES];
    /* transformer hyperparameters (0 when unknown or not an LLM) */
    int64_t n_layer, n_head, n_head_kv, head_dim, n_embd, n_ff, n_ctx_train, n_vocab;
    int tied_embeddings;   /* the output projection reuses the token embedding */
    int64_t embd_bytes;    /* bytes of the token embedding table (one row read per token) */
    int64_t kv_bytes_per_1k; /* f16 K and V for 1024 positions, all layers */
    int64_t read_bytes_per_token; /* weights streamed per decoded token as stored */
    int n_quant;
    ingot_quant_estimate quant[INGOT_INSPECT_N_QUANT];
    /* ONNX */
    int64_t n_nodes;
    int n_inputs;
} ingot_model_facts;

/* Read the facts of a model: a .gguf, .safetensors, .onnx or .tflite file,
 * or a folder holding config.json and *.safetensors. Only headers and
 * metadata are read (the file is mapped, tensor data is not touched). */
ingot_status ingot_inspect_file(const char *path, ingot_model_facts *out, char *err, size_t errlen);

/* The estimate for one quantization type ("Q4_K", case-insensitive), or NULL. */
const ingot_quant_estimate *ingot_inspect_quant(const ingot_model_facts *f, const char *type);

/* Bytes per weight of a ggml type including its block scales (Q4_0: 18/32),
 * 0 when unknown. */
double ingot_inspect_type_bytes(const char *type);

typedef struct ingot_machine_info {
    char os[16];           /* "linux", "macos", ... */
    char arch[16];         /* "x86_64", "aarch64", ... */
    char cpu_model[128];
    char isa[16];          /* the tier ingot's kernels use: ingot_isa_name() */
    char features[160];    /* space list: "avx2 fma f16c avx512 vnni bf16 avxvnni neon dotprod" */
    char board[96];        /* /proc/device-tree/model: "Raspberry Pi 5", "NVIDIA Jetson ..." */
    int cores;             /* online CPUs */
    int threads;           /* CPUs this process may use: ingot_default_threads() */
    int64_t mem_total;     /* bytes; 0 unknown */
    int64_t mem_available;
    int n_gpus;            /* NVIDIA GPUs found through the driver */
    char gpu_name[96];
    int64_t gpu_mem;       /* bytes of the first GPU; 0 unknown */
} ingot_machine_info;

/* Describe this machine (reads /proc, sysconf, the NVIDIA driver's /proc
 * files and, when installed, nvidia-smi). Never fails: unknowns stay 0/"". */
void ingot_machine_detect(ingot_machine_info *out);

/* Read bandwidth of this machine in GB/s (1e9 bytes/s): `threads` threads
 * (<= 0: all usable CPUs) stream a buffer of `bytes` (0: 256 MiB; clamped to
 * 4 MiB..1 GiB) for about `ms` milliseconds (<= 0: 100) and the best pass
 * counts. Size the buffer like the weights to see their cache effects.
 * Returns 0 when the buffer cannot be allocated. */
double ingot_mem_bandwidth_probe(int64_t bytes, int threads, double ms);

#ifdef __cplusplus
}
#endif
#endif
