/*
 * advise.c: the decision rules of `ingot advise` (include/ingot_advise.h).
 *
 * The reference's decision trees, "when to use what" lists, flowchart,
 * hardware tables and pitfalls table are the RULES table below: each rule is
 * one question of the reference with its conditions (targets, task, needs,
 * hardware class, framework, pitfall, managed or not, model facts) and the
 * catalog situation that answers it. The first rule that matches is the
 * primary question; every other rule that matches is listed with its first
 * pick. Which tools answer a situation, and in what order, is data: the
 * `situations` column of the catalog. Constraints (managed services not
 * wanted, no NVIDIA GPU on the target, app size, latency, platform) demote a
 * tool behind the others with a note instead of hiding it.
 *
 * When ingot is listed and the model is one it reads, the engine part sizes
 * the deployment: weights per quantization type (inspect.c), KV cache at the
 * chosen context, a decode upper bound from a bandwidth probe, and the exact
 * ingot command lines.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ingot_advise.h"

/* ---- targets, needs, hardware classes ---- */

enum {
    TC_LOCAL = 1 << 0, TC_SERVER = 1 << 1, TC_LAPTOP = 1 << 2, TC_IOS = 1 << 3, TC_ANDROID = 1 << 4,
    TC_MOBILE = 1 << 5, /* iOS and Android */
    TC_RPI = 1 << 6, TC_MCU = 1 << 7, TC_JETSON = 1 << 8, TC_BROWSER = 1 << 9, TC_GATEWAY = 1 << 10,
    TC_AWS = 1 << 11, TC_GCP = 1 << 12, TC_AZURE = 1 << 13
};
#define TC_SELF (TC_LOCAL | TC_SERVER | TC_LAPTOP)
#define TC_PHONE (TC_IOS | TC_ANDROID | TC_MOBILE)
#define TC_CLOUD (TC_AWS | TC_GCP | TC_AZURE)
#define TC_NOTDEVICE (TC_SELF | TC_CLOUD)

static const struct { const char *name; unsigned tc; const char *platform; } TARGETS[] = {
    {"server", TC_SERVER, NULL}, {"laptop", TC_LAPTOP, NULL},  {"ios", TC_IOS, "ios"},
    {"android", TC_ANDROID, "android"}, {"rpi", TC_RPI, "rpi"},     {"mcu", TC_MCU, "mcu"},
    {"jetson", TC_JETSON, "jetson"}, {"browser", TC_BROWSER, "web"}, {"gateway", TC_GATEWAY, NULL},
    {"aws", TC_AWS, "aws"},          {"gcp", TC_GCP, "gcp"},         {"azure", TC_AZURE, "azure"}};
#define N_TARGETS (int)(sizeof TARGETS / sizeof *TARGETS)

static const char *const NEEDS[] = {"throughput", "local",      "offline",   "structured", "distributed",
                                    "multi-model", "multimodal", "compliance", "cost",       "latency",
                                    "no-lock-in", "enterprise", "pretrained", "custom",     "app-size",
                                    "privacy",    "realtime",   "footprint", "balanced",   "gpu",
                                    "demo",       "custom-api", "serverless", "quick-api",  "flexible",
                                    "full-control", "portability", NULL};
#define NEED(name) (1u << need_index(name))

static const char *const PROBLEMS[] = {"fails-in-inference", "high-latency", "mobile-oom", "gpu-oom",
                                       "inconsistent",       "cant-scale",   "lock-in",    "degrades", NULL};

static const char *const FRAMEWORKS[] = {"pytorch", "tensorflow", "jax", "keras", "hf", NULL};

/* hardware name -> class used by the rules */
static const struct { const char *name, *cls; } HARDWARE[] = {
    {"h100", "nvidia-dc"},      {"a100", "nvidia-dc"},      {"a6000", "nvidia-dc"},    {"a5000", "nvidia-dc"},
    {"rtx4090", "nvidia-dc"},   {"rtx6000", "nvidia-dc"},   {"l4", "nvidia-l4"},       {"t4", "nvidia-t4"},
    {"nvidia", "nvidia-gpu"},   {"jetson-orin", "jetson"},  {"jetson-xavier", "jetson"}, {"jetson-nano", "jetson"},
    {"m1", "apple"},            {"m1-pro", "apple"},        {"m1-max", "apple"},       {"m2", "apple"},
    {"m2-ultra", "apple"},      {"m3", "apple"},            {"macbook", "apple"},      {"xeon", "intel-xeon"},
    {"core-i9", "intel-core"},  {"core-i7", "intel-core"},  {"core", "intel-core"},    {"arc", "intel-arc"},
    {"vpu", "intel-accel"},     {"gaudi", "intel-accel"},   {"rpi", "rpi"},            {"android-phone", "android"},
    {"iphone", "iphone"},       {"mcu", "mcu"},             {"epyc", "cpu"},           {"cpu", "cpu"},
    {"arm", "cpu"}};
#define N_HARDWARE (int)(sizeof HARDWARE / sizeof *HARDWARE)

static int need_index(const char *n) {
    for (int i = 0; NEEDS[i]; i++)
        if (!strcmp(NEEDS[i], n)) return i;
    return 31;
}

const char *ingot_advise_targets(void) { return "server laptop ios android rpi mcu jetson browser gateway aws gcp azure"; }
const char *ingot_advise_needs(void) {
    return "throughput local offline structured distributed multi-model multimodal compliance cost latency "
           "no-lock-in enterprise pretrained custom app-size privacy realtime footprint balanced gpu demo "
           "custom-api serverless quick-api flexible full-control portability";
}
const char *ingot_advise_problems(void) {
    return "fails-in-inference high-latency mobile-oom gpu-oom inconsistent cant-scale lock-in degrades";
}
const char *ingot_advise_hardware(void) {
    return "h100 a100 a6000 a5000 rtx4090 rtx6000 l4 t4 nvidia jetson-orin jetson-xavier jetson-nano m1 m1-pro "
           "m1-max m2 m2-ultra m3 macbook xeon core-i9 core-i7 core arc vpu gaudi rpi android-phone iphone mcu "
           "epyc cpu arm";
}
const char *ingot_advise_frameworks(void) { return "pytorch tensorflow jax keras hf"; }

/* ---- rules ---- */

enum { T_ANY = 0, T_LLM = 1, T_NONLLM = 2 };
enum { C_ONNX = 1, C_NO_MODEL = 2, C_GPU = 4, C_NO_GPU = 8, C_MANAGED = 16, C_SELF = 32 };

typedef struct rule {
    unsigned targets;     /* any of these target classes; 0 any */
    int task;             /* T_* */
    const char *needs;    /* all of these needs (comma list); NULL none */
    const char *hw;       /* hardware class; NULL any */
    const char *fw;       /* framework; NULL any */
    const char *problem;  /* pitfall; NULL: only when no pitfall is asked */
    unsigned cond;        /* C_* */
    const char *situation, *question, *reason, *offer;
} rule;

static const rule RULES[] = {
    /* 10. common pitfalls */
    {0, T_ANY, NULL, NULL, NULL, "fails-in-inference", 0, "pit-portability",
     "Model works in training, fails in inference?", "a framework mismatch: export to ONNX and run the same file everywhere", NULL},
    {0, T_ANY, NULL, NULL, NULL, "high-latency", 0, "pit-latency", "High latency in production?",
     "single-threaded serving: move to a server that batches requests (vLLM, Triton)",
     "ingot serve batches requests continuously on the CPU"},
    {0, T_ANY, NULL, NULL, NULL, "mobile-oom", 0, "pit-mobile-oom", "Mobile app crashes with OOM?",
     "the model is too large for the phone: a mobile runtime plus quantization",
     "ingot quantize shrinks GGUF weights to 4-8 bits (see the sizes per type)"},
    {0, T_ANY, NULL, NULL, NULL, "gpu-oom", 0, "pit-gpu-oom", "GPU memory exhausted?",
     "the batch is too large: dynamic batching sizes it to the memory (Triton, vLLM)",
     "ingot serve bounds batches with --max-batch-tokens and the KV cache with --kv-cache-mem"},
    {0, T_ANY, NULL, NULL, NULL, "inconsistent", 0, "pit-consistency", "Inconsistent results across platforms?",
     "precision differs between runtimes: use the same inference runtime everywhere", NULL},
    {0, T_ANY, NULL, NULL, NULL, "cant-scale", 0, "pit-scale", "Can't scale beyond a single server?",
     "a monolithic deployment: a distributed serving framework (Ray Serve, KServe)",
     "ingot serve speaks KServe v2, so KServe can run it as a model server"},
    {0, T_ANY, NULL, NULL, NULL, "lock-in", 0, "pit-lockin", "Vendor lock-in to one cloud?",
     "proprietary APIs: ONNX models on a portable runtime move between clouds", NULL},
    {0, T_ANY, NULL, NULL, NULL, "degrades", 0, "pit-stale", "Model performance degrades over time?",
     "stale dependencies: pin versions and monitor the serving stack automatically", NULL},

    /* 3. microcontrollers */
    {TC_MCU, T_ANY, NULL, NULL, NULL, NULL, 0, "mcu", "Microcontroller / ultra-constrained?",
     "under 1 MB of memory and no OS: TensorFlow Lite Micro is built for Cortex-M4/M7",
     "nothing below an OS with threads; the smallest ingot target is an Arm Linux board (rpi)"},
    /* 2. mobile decision tree */
    {TC_PHONE, T_ANY, "app-size", NULL, NULL, NULL, 0, "app-size", "Minimal app size?",
     "NCNN adds 2-5 MB to the app, the least of the mobile runtimes",
     "ingot's C library has no dependencies either, but is not packaged for mobile apps yet"},
    {TC_PHONE, T_ANY, "pretrained", NULL, NULL, NULL, 0, "pretrained", "Pre-trained solutions?",
     "ML Kit and MediaPipe ship ready-made models (faces, text, pose) behind an SDK call", NULL},
    {TC_MOBILE, T_ANY, NULL, NULL, NULL, NULL, 0, "mobile-cross", "Both iOS + Android?",
     "one pipeline for both platforms: MediaPipe (about 90% code reuse) or TensorFlow Lite",
     "ingot's C core cross-compiles for arm64, but ships no iOS/Android packages or GPU/NPU delegates"},
    {TC_IOS, T_ANY, "realtime", NULL, NULL, NULL, 0, "realtime-ios", "Real-time performance (iOS)?",
     "Core ML runs on the Neural Engine, the fastest path on iPhones", NULL},
    {TC_ANDROID, T_ANY, "realtime", NULL, NULL, NULL, 0, "realtime-android", "Real-time performance (Android)?",
     "TensorFlow Lite reaches the GPU and NPU through its NNAPI and GPU delegates", NULL},
    {TC_PHONE, T_ANY, "custom", NULL, NULL, NULL, 0, "custom-mobile", "Custom model inference?",
     "your own model: TensorFlow Lite (both platforms) or Core ML (iOS)", NULL},
    {TC_IOS, T_ANY, NULL, NULL, NULL, NULL, 0, "mobile-ios", "iOS only?",
     "Core ML is built into iOS and uses the Neural Engine: fastest, nothing to bundle",
     "ingot has no Neural Engine or Metal backend; its C library could run GGUF/ONNX on the CPU cores only"},
    {TC_ANDROID, T_ANY, NULL, NULL, NULL, NULL, 0, "mobile-android", "Android only?",
     "TensorFlow Lite has the best Android ecosystem (Gradle, NNAPI, GPU delegate)",
     "ingot's C core builds for arm64 Linux; on Android it would run on the CPU only, without NNAPI"},
    /* browser */
    {TC_BROWSER, T_ANY, NULL, NULL, NULL, NULL, 0, "browser", "In the browser (web)?",
     "MediaPipe and TensorFlow Lite both run models in web pages",
     "ingot has no WebAssembly build; ingot serve gives a browser front end an OpenAI-compatible API and a playground page"},
    /* 3. edge */
    {TC_JETSON, T_LLM, NULL, NULL, NULL, NULL, 0, "jetson-llm", "LLM on NVIDIA Jetson?",
     "TensorRT-LLM runs quantized LLMs on the Jetson GPU (<50 ms)",
     "ingot has no CUDA backend yet; it would use the Jetson's Arm CPU cores only"},
    {TC_JETSON, T_ANY, NULL, NULL, NULL, NULL, 0, "jetson", "GPU acceleration (Jetson)?",
     "NVIDIA TensorRT uses the whole Jetson GPU (<5 ms on Orin)",
     "ingot has no CUDA backend yet; it would use the Jetson's Arm CPU cores only"},
    {TC_RPI, T_ANY, "footprint", NULL, NULL, NULL, 0, "edge-footprint", "Minimal footprint (edge)?",
     "NCNN is ultra-light (2-5 MB) with minimal dependencies", NULL},
    {TC_RPI, T_LLM, NULL, NULL, NULL, NULL, 0, "rpi-llm", "LLM on a Raspberry Pi / Arm Linux?",
     "a quantized GGUF LLM on the board's CPU: the llama.cpp approach, which ingot implements", NULL},
    {TC_RPI, T_ANY, NULL, NULL, NULL, NULL, C_ONNX, "rpi-onnx", "ONNX model on a Raspberry Pi / Arm Linux?",
     "the ONNX file runs as is on the board's CPU (the ONNX Runtime role)", NULL},
    {TC_RPI, T_ANY, "balanced", NULL, NULL, NULL, 0, "edge-balanced", "Balanced (edge)?",
     "TensorFlow Lite or ONNX Runtime: easy setup, good speed", NULL},
    {TC_RPI, T_ANY, NULL, NULL, NULL, NULL, 0, "rpi", "Raspberry Pi / Arm Linux?",
     "TensorFlow Lite has official Raspberry Pi support; NCNN is the lighter option",
     "ingot runs ONNX models and GGUF LLMs on Arm Linux with the same binary as on servers"},
    {TC_GATEWAY, T_ANY, NULL, NULL, NULL, NULL, 0, "gateway", "IoT cloud gateway?",
     "TensorFlow Lite in Docker is the simplest; ONNX Runtime, Ray Serve and KServe scale further",
     "ingot serve is one small container image with KServe v2 and OpenAI endpoints"},
    /* 6. developer experience */
    {0, T_ANY, "demo", NULL, NULL, NULL, 0, "demo-minimal", "Web demo / quick prototype with minimal code?",
     "Streamlit or Gradio: a UI in under 50 lines of Python",
     "ingot serve includes a playground web page and an OpenAI-compatible API, no code needed"},
    {0, T_ANY, "custom-api", NULL, NULL, NULL, 0, "custom-api", "Custom API?",
     "FastAPI: your own REST endpoints around the model", NULL},
    {0, T_ANY, "serverless", NULL, NULL, NULL, 0, "serverless", "Serverless?",
     "AWS Lambda in front of Bedrock: nothing to run yourself", NULL},
    {0, T_ANY, "quick-api", NULL, NULL, NULL, 0, "quick-api", "Hosted model API in minutes?",
     "Hugging Face Inference API or AWS Bedrock: 10-20 lines of code", NULL},
    {0, T_ANY, "flexible", NULL, NULL, NULL, 0, "flexible", "Most flexible / customizable?",
     "PyTorch is the most flexible and deploys anywhere through ONNX export", NULL},
    /* 4. cloud services (managed) */
    {TC_AWS, T_LLM, NULL, NULL, NULL, NULL, C_NO_MODEL | C_MANAGED, "aws-foundation", "Using AWS already? (foundation models)",
     "Bedrock serves foundation models (Claude, Llama) serverless, pay per token", NULL},
    {TC_AWS, T_ANY, NULL, NULL, NULL, NULL, C_MANAGED, "aws-custom", "Using AWS already? (your own model)",
     "SageMaker hosts custom PyTorch/TensorFlow/ONNX models on managed endpoints",
     "ingot serve runs on an EC2 instance (the DIY row) without a managed endpoint"},
    {TC_GCP, T_ANY, NULL, NULL, NULL, NULL, C_MANAGED, "gcp", "Using Google Cloud?",
     "Vertex AI is Google Cloud's managed inference", "ingot serve runs on a Compute Engine VM or GKE"},
    {TC_AZURE, T_LLM, NULL, NULL, NULL, NULL, C_NO_MODEL | C_MANAGED, "azure-foundation", "Using Azure/Microsoft? (foundation models)",
     "Azure OpenAI serves foundation models as an Azure service", NULL},
    {TC_AZURE, T_ANY, NULL, NULL, NULL, NULL, C_MANAGED, "azure-custom", "Using Azure/Microsoft? (your own model)",
     "Azure ML deploys custom models for enterprise and hybrid setups", "ingot serve runs on an Azure VM or AKS"},
    {TC_NOTDEVICE, T_ANY, "enterprise", NULL, NULL, NULL, C_MANAGED, "enterprise-support", "Need enterprise support?",
     "DeepInfra and CoreWeave sell enterprise support", NULL},
    {TC_NOTDEVICE, T_ANY, "compliance", NULL, NULL, NULL, C_MANAGED, "compliance", "Need compliance (HIPAA)?",
     "Fireworks AI is HIPAA-compliant; Azure and AWS offer compliant services",
     "self-hosting ingot keeps the data on your own machines"},
    {TC_NOTDEVICE, T_ANY, "latency", NULL, NULL, NULL, C_MANAGED, "latency-lowest", "Need lowest latency?",
     "Groq's LPU hardware answers in under 10 ms", NULL},
    {TC_NOTDEVICE, T_ANY, "cost", NULL, NULL, NULL, C_MANAGED, "cost-lowest", "Need lowest cost?",
     "SiliconFlow and Together AI are the cost-optimized APIs",
     "ingot on a CPU you already own costs no per-token fee"},
    {TC_NOTDEVICE, T_ANY, "no-lock-in", NULL, NULL, NULL, C_MANAGED, "no-lock-in", "Want to avoid vendor lock-in?",
     "Together AI, Fireworks and Mistral serve open models behind OpenAI-compatible APIs",
     "ingot serve speaks the same OpenAI API, so clients move between it and those services unchanged"},
    {TC_NOTDEVICE, T_ANY, "multimodal", NULL, NULL, NULL, C_MANAGED, "managed-multimodal", "Managed multimodal (text/image/audio)?",
     "Fireworks AI serves text, image and audio models fast", NULL},
    {TC_NOTDEVICE, T_LLM, NULL, NULL, NULL, NULL, C_MANAGED, "llm-managed", "Managed API, minimal ops?",
     "Together AI (200+ open LLMs) or Fireworks AI: OpenAI-compatible, per token",
     "ingot serve exposes the same OpenAI-compatible API when you host the model yourself"},
    {TC_NOTDEVICE, T_ANY, NULL, NULL, NULL, NULL, C_MANAGED, "managed-agnostic", "Vendor-agnostic API?",
     "Together AI or Fireworks AI: hosted, OpenAI-compatible, not tied to one cloud", NULL},
    /* cloud, self-hosted */
    {TC_AWS, T_ANY, NULL, NULL, NULL, NULL, C_SELF, "aws-diy", "AWS with maximum control (EC2)?",
     "your own EC2 instances: the runtime is your choice, pay per instance", NULL},
    {TC_GCP | TC_AZURE, T_ANY, NULL, NULL, NULL, NULL, C_SELF, "cloud-selfhost", "Cloud VMs or Kubernetes, self-hosted?",
     "your own VMs or Kubernetes cluster: the runtime is your choice", NULL},
    /* 8. high performance / research, 5. pipelines */
    {TC_SELF, T_ANY, "latency", NULL, NULL, NULL, 0, "latency-extreme", "Extreme latency critical?",
     "Groq (managed) or NVIDIA TensorRT (<5 ms on NVIDIA GPUs)", NULL},
    {TC_SELF | TC_CLOUD, T_LLM, "structured", NULL, NULL, NULL, 0, "llm-structured", "Structured/constrained generation?",
     "SGLang controls generation with grammars and batches efficiently", NULL},
    {TC_SELF | TC_CLOUD, T_ANY, "distributed", NULL, NULL, NULL, 0, "serve-distributed", "Distributed / multi-model?",
     "Triton or KServe serve many models and scale out", "ingot serve is a KServe v2 model server KServe can deploy"},
    {TC_SELF | TC_CLOUD, T_ANY, "multi-model", NULL, NULL, NULL, 0, "serve-distributed", "Distributed / multi-model?",
     "Triton or KServe serve many models and scale out", "ingot serve loads several models (--model repeated)"},
    {TC_SELF, T_LLM, NULL, NULL, "hf", NULL, C_GPU, "hf-gpu", "Hugging Face model on GPUs?",
     "vLLM serves Transformers checkpoints directly, optimized for LLMs",
     "ingot convert --from hf turns the folder into GGUF for CPU serving"},
    {TC_SELF, T_ANY, NULL, NULL, "pytorch", NULL, 0, "pytorch", "PyTorch model?",
     "export to ONNX, then a portable runtime (ONNX Runtime's role, which ingot fills)", NULL},
    {TC_SELF, T_ANY, NULL, NULL, "tensorflow", NULL, 0, "tensorflow", "TensorFlow model?",
     "TensorFlow Serving serves SavedModels natively",
     "ingot runs TensorFlow models exported to ONNX (tf2onnx) and serves them over KServe v2"},
    {TC_SELF, T_ANY, NULL, NULL, "jax", NULL, 0, "onnx-export", "JAX model?",
     "export to ONNX, then a portable runtime", NULL},
    {TC_SELF, T_ANY, NULL, NULL, "keras", NULL, 0, "onnx-export", "Custom (Keras) model?",
     "export to ONNX: the universal exchange format", NULL},
    /* 7. hardware */
    {TC_SELF | TC_CLOUD, T_ANY, NULL, "nvidia-dc", NULL, NULL, 0, "nvidia-dc", "NVIDIA data-center / workstation GPU (A100/H100/A6000/RTX 4090)?",
     "NVIDIA TensorRT gets the most from these GPUs; vLLM for LLM serving",
     "ingot has no CUDA backend yet: it would use this machine's CPU only"},
    {TC_SELF | TC_CLOUD, T_ANY, NULL, "nvidia-l4", NULL, NULL, 0, "nvidia-l4", "NVIDIA L4?",
     "vLLM: cost-effective serving on L4", "ingot has no CUDA backend yet: it would use the CPU only"},
    {TC_SELF | TC_CLOUD, T_ANY, NULL, "nvidia-t4", NULL, NULL, 0, "nvidia-t4", "NVIDIA T4?",
     "vLLM on T4 for edge and mobile-class serving", "ingot has no CUDA backend yet: it would use the CPU only"},
    {TC_SELF | TC_CLOUD, T_ANY, NULL, "nvidia-gpu", NULL, NULL, 0, "gpu-generic", "NVIDIA GPU?",
     "NVIDIA TensorRT compiles models for the GPU; Triton serves them",
     "ingot has no CUDA backend yet: it would use the CPU only"},
    {TC_SELF, T_ANY, NULL, "jetson", NULL, NULL, 0, "jetson", "Jetson Orin?",
     "NVIDIA TensorRT on the Jetson GPU", "ingot would use the Jetson's Arm CPU cores only"},
    {TC_SELF, T_ANY, NULL, "apple", NULL, NULL, 0, "apple", "Apple Silicon (M1/M2/M3)?",
     "Core ML uses the Neural Engine and GPU of Apple chips",
     "ingot builds on macOS and runs on the CPU cores (no Metal or Neural Engine backend)"},
    {TC_SELF, T_ANY, NULL, "intel-arc", NULL, NULL, 0, "intel-arc", "Intel Arc GPU?",
     "Intel OpenVINO targets the newer Intel GPUs", "ingot has no Intel GPU backend: CPU only"},
    {TC_SELF, T_ANY, NULL, "intel-accel", NULL, NULL, 0, "intel-accel", "Intel VPU / Gaudi?",
     "Intel OpenVINO with the accelerator's SDK", "ingot has no VPU/Gaudi backend: CPU only"},
    {TC_SELF, T_NONLLM, NULL, "intel-xeon", NULL, NULL, 0, "intel-xeon", "Intel Xeon CPU?",
     "CPU inference with AVX-512/VNNI kernels (the reference's pick for Xeon is OpenVINO)", NULL},
    {TC_SELF, T_NONLLM, NULL, "intel-core", NULL, NULL, 0, "intel-core", "Intel Core i9 CPU?",
     "a cross-platform CPU runtime (the reference's pick is ONNX Runtime)", NULL},
    {TC_SELF, T_ANY, NULL, "rpi", NULL, NULL, 0, "rpi", "Raspberry Pi?", "TensorFlow Lite has official Raspberry Pi support",
     "ingot runs ONNX models and GGUF LLMs on Arm Linux"},
    {TC_SELF, T_ANY, NULL, "android", NULL, NULL, 0, "mobile-android", "Android phone?", "TensorFlow Lite (models under 50 MB)", NULL},
    {TC_SELF, T_ANY, NULL, "iphone", NULL, NULL, 0, "mobile-ios", "iOS iPhone?", "Core ML (models under 50 MB)", NULL},
    {TC_SELF, T_ANY, NULL, "mcu", NULL, NULL, 0, "mcu", "Microcontroller?", "TensorFlow Lite Micro (models under 1 MB)", NULL},
    /* 1. LLM serving */
    {TC_SELF | TC_CLOUD, T_LLM, "throughput", NULL, NULL, NULL, 0, "llm-throughput", "High-throughput, multi-user LLM serving?",
     "vLLM (PagedAttention, continuous batching) on GPUs",
     "ingot serve batches continuously with a paged KV cache, on CPUs"},
    {TC_SELF, T_LLM, NULL, NULL, NULL, NULL, C_GPU, "llm-throughput", "Self-hosted LLM on an NVIDIA GPU?",
     "vLLM uses the GPU with PagedAttention and continuous batching",
     "ingot has no CUDA backend yet: it would serve this model from the CPU"},
    {TC_SELF, T_LLM, "local", NULL, NULL, NULL, 0, "llm-local", "Local/offline inference, quantized models, limited VRAM?",
     "a quantized GGUF model on the CPU, no GPU needed (the llama.cpp approach, which ingot implements)", NULL},
    {TC_SELF, T_LLM, "offline", NULL, NULL, NULL, 0, "llm-local", "Local/offline inference, quantized models, limited VRAM?",
     "a quantized GGUF model on the CPU, no GPU needed (the llama.cpp approach, which ingot implements)", NULL},
    {TC_LAPTOP | TC_LOCAL, T_LLM, NULL, NULL, NULL, NULL, 0, "llm-local", "LLM on this machine / a laptop?",
     "a quantized GGUF model on the CPU, no GPU needed (the llama.cpp approach, which ingot implements)", NULL},
    {TC_SELF, T_LLM, NULL, NULL, NULL, NULL, 0, "llm-selfhost", "Self-hosted LLM, full control?",
     "vLLM or llama.cpp; on CPUs ingot runs the same GGUF files with an OpenAI-compatible server", NULL},
    /* privacy without a device target: keep it self-hosted */
    {TC_SELF, T_ANY, NULL, NULL, NULL, NULL, C_GPU, "gpu-generic", "Model on an NVIDIA GPU?",
     "NVIDIA TensorRT compiles models for the GPU; Triton serves them",
     "ingot has no CUDA backend yet: it would use the CPU only"},
    {TC_SELF, T_NONLLM, NULL, NULL, NULL, NULL, 0, "cpu-local", "Exported model on a CPU (server or laptop)?",
     "ONNX models on x86/Arm CPUs with one small dependency-free runtime", NULL},
};
#define N_RULES (int)(sizeof RULES / sizeof *RULES)

/* ---- request normalization ---- */

typedef struct ctx {
    const ingot_advise_request *rq;
    unsigned tc;          /* target class */
    const char *platform; /* catalog platform word of the target; NULL: this machine */
    unsigned needs;
    const char *hw;       /* hardware class */
    const char *fw, *problem;
    int task;             /* T_LLM / T_NONLLM / T_ANY (unknown) */
    int gpu;              /* an NVIDIA GPU is on the target */
    int managed;
    ingot_advice *a;
} ctx;

static int in_list(const char *const *list, const char *s) {
    for (int i = 0; list[i]; i++)
        if (!strcmp(list[i], s)) return 1;
    return 0;
}

static int fail(char *err, size_t errlen, const char *fmt, const char *a, const char *b) {
    if (err && errlen) snprintf(err, errlen, fmt, a, b ? b : "");
    return INGOT_ERR_INVALID_ARG;
}

static void lower(char *d, size_t n, const char *s) {
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++) d[i] = (char)tolower((unsigned char)s[i]);
    d[i] = 0;
}

static const char *hw_class_of(const char *name) {
    for (int i = 0; i < N_HARDWARE; i++)
        if (!strcmp(HARDWARE[i].name, name)) return HARDWARE[i].cls;
    return NULL;
}

static const char *detect_hw(const ingot_machine_info *m) {
    if (m->n_gpus > 0 || m->gpu_name[0]) {
        static const char *const dc[] = {"H100", "A100", "A6000", "A5000", "4090", "RTX 6000", "H200", "B200", NULL};
        for (int i = 0; dc[i]; i++)
            if (strstr(m->gpu_name, dc[i])) return "nvidia-dc";
        if (strstr(m->gpu_name, " L4")) return "nvidia-l4";
        if (strstr(m->gpu_name, " T4")) return "nvidia-t4";
        return "nvidia-gpu";
    }
    if (strstr(m->board, "Jetson")) return "jetson";
    if (strstr(m->board, "Raspberry")) return "rpi";
    if (strstr(m->cpu_model, "Xeon")) return "intel-xeon";
    if (strstr(m->cpu_model, "Core(TM) i") || strstr(m->cpu_model, "Core i")) return "intel-core";
    if (strstr(m->cpu_model, "Apple") || !strcmp(m->os, "macos")) return "apple";
    return "cpu";
}

static int parse_request(ctx *c, char *err, size_t errlen) {
    const ingot_advise_request *rq = c->rq;
    ingot_advice *a = c->a;
    char buf[128];
    if (rq->latency_ms < 0 || rq->memory_mb < 0 || rq->app_size_mb < 0 || rq->context < 0 || rq->threads < 0 ||
        !isfinite(rq->latency_ms) || !isfinite(rq->memory_mb) || !isfinite(rq->app_size_mb))
        return fail(err, errlen, "negative or invalid limit%s%s", "", NULL);
    if (rq->context > 10000000) return fail(err, errlen, "context %s is beyond any model%s", "too large", NULL);
    /* targets */
    if (rq->target && *rq->target) {
        lower(buf, sizeof buf, rq->target);
        int n = 0;
        for (char *save = NULL, *t = strtok_r(buf, ",+ ", &save); t; t = strtok_r(NULL, ",+ ", &save)) {
            int k = 0;
            if (!strcmp(t, "local") || !strcmp(t, "this")) { c->tc |= TC_LOCAL; n++; continue; }
            for (; k < N_TARGETS; k++)
                if (!strcmp(TARGETS[k].name, t)) break;
            if (k == N_TARGETS)
                return fail(err, errlen, "unknown target '%s' (one of: %s)", t, ingot_advise_targets());
            c->tc |= TARGETS[k].tc;
            c->platform = TARGETS[k].platform;
            n++;
        }
        if (c->tc == (TC_IOS | TC_ANDROID)) { c->tc = TC_MOBILE; c->platform = "ios"; }
        else if (n > 1 && __builtin_popcount(c->tc) > 1)
            return fail(err, errlen, "targets '%s' contradict each other (only ios,android may be combined)%s",
                        rq->target, NULL);
        if (!c->tc) return fail(err, errlen, "empty target '%s'%s", rq->target, NULL);
        lower(buf, sizeof buf, rq->target);
        snprintf(a->target, sizeof a->target, "%.31s", c->tc == TC_MOBILE ? "ios+android" : c->tc == TC_LOCAL ? "this machine" : buf);
    } else {
        c->tc = TC_LOCAL;
        snprintf(a->target, sizeof a->target, "this machine");
    }
    a->local = c->tc == TC_LOCAL;
    if (a->local) {
        if (rq->machine) a->machine = *rq->machine;
        else ingot_machine_detect(&a->machine);
    }
    /* needs */
    if (rq->needs && *rq->needs) {
        char nb[256];
        lower(nb, sizeof nb, rq->needs);
        for (char *save = NULL, *t = strtok_r(nb, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
            if (!in_list(NEEDS, t)) return fail(err, errlen, "unknown need '%s' (one of: %s)", t, ingot_advise_needs());
            c->needs |= 1u << need_index(t);
        }
    }
    if (rq->latency_ms > 0 && rq->latency_ms < 10) c->needs |= NEED("latency");
    if (rq->app_size_mb > 0 && rq->app_size_mb <= 10 && (c->tc & TC_PHONE)) c->needs |= NEED("app-size");
    if (rq->problem && *rq->problem) {
        lower(buf, sizeof buf, rq->problem);
        int k = 0;
        for (; PROBLEMS[k]; k++)
            if (!strcmp(PROBLEMS[k], buf)) break;
        if (!PROBLEMS[k]) return fail(err, errlen, "unknown problem '%s' (one of: %s)", rq->problem, ingot_advise_problems());
        c->problem = PROBLEMS[k];
    }
    if (rq->framework && *rq->framework) {
        lower(buf, sizeof buf, rq->framework);
        int k = 0;
        for (; FRAMEWORKS[k]; k++)
            if (!strcmp(FRAMEWORKS[k], buf)) break;
        if (!FRAMEWORKS[k])
            return fail(err, errlen, "unknown framework '%s' (one of: %s)", rq->framework, ingot_advise_frameworks());
        c->fw = FRAMEWORKS[k];
    }
    if (rq->hardware && *rq->hardware) {
        lower(buf, sizeof buf, rq->hardware);
        c->hw = hw_class_of(buf);
        if (!c->hw) return fail(err, errlen, "unknown hardware '%s' (one of: %s)", rq->hardware, ingot_advise_hardware());
    } else if (a->local) {
        c->hw = detect_hw(&a->machine);
    } else if (c->tc & TC_JETSON) {
        c->hw = "jetson";
    }
    if (c->hw) snprintf(a->hardware, sizeof a->hardware, "%s", c->hw);
    /* a detected Raspberry Pi or Jetson is that target */
    if (a->local && c->hw && !strcmp(c->hw, "rpi")) { c->tc = TC_RPI; c->platform = "rpi"; }
    if (a->local && c->hw && !strcmp(c->hw, "jetson")) { c->tc = TC_JETSON; c->platform = "jetson"; }
    c->gpu = (c->hw && (!strncmp(c->hw, "nvidia", 6) || !strcmp(c->hw, "jetson"))) || (c->tc & TC_JETSON) ||
             (c->needs & NEED("gpu"));
    c->managed = rq->managed_ok;
    /* task */
    const char *task = rq->task && *rq->task ? rq->task : NULL;
    if (task) {
        lower(buf, sizeof buf, task);
        if (strcmp(buf, "llm") && strcmp(buf, "embedding") && strcmp(buf, "vision") && strcmp(buf, "audio") &&
            strcmp(buf, "other"))
            return fail(err, errlen, "unknown task '%s' (llm embedding vision audio other)%s", task, NULL);
        snprintf(a->task, sizeof a->task, "%.11s", buf);
    } else if (a->has_model) {
        snprintf(a->task, sizeof a->task, "%s", a->model.task);
    } else if (c->fw && !strcmp(c->fw, "hf")) {
        snprintf(a->task, sizeof a->task, "llm");
    }
    c->task = !a->task[0] ? T_ANY : !strcmp(a->task, "llm") ? T_LLM : T_NONLLM;
    if (a->has_model && task && strcmp(a->task, a->model.task) && strcmp(a->model.task, "other") &&
        a->n_notes < INGOT_ADVICE_MAX_NOTES)
        snprintf(a->notes[a->n_notes++], sizeof a->notes[0], "--task %s, but the model looks like %s (%s %s)",
                 a->task, a->model.task, a->model.format, a->model.arch);
    return 0;
}

/* ---- matching and ranking ---- */

static int needs_of(const char *list, unsigned *out) {
    unsigned m = 0;
    char b[96];
    snprintf(b, sizeof b, "%s", list);
    for (char *save = NULL, *t = strtok_r(b, ",", &save); t; t = strtok_r(NULL, ",", &save)) m |= 1u << need_index(t);
    *out = m;
    return 0;
}

static int rule_matches(const ctx *c, const rule *r) {
    if (r->problem) return c->problem && !strcmp(r->problem, c->problem);
    if (r->targets && !(r->targets & c->tc)) return 0;
    if (r->task == T_LLM && c->task != T_LLM) return 0;
    if (r->task == T_NONLLM && c->task == T_LLM) return 0;
    if (r->needs) {
        unsigned m;
        needs_of(r->needs, &m);
        if ((c->needs & m) != m) return 0;
    }
    if (r->hw && (!c->hw || strcmp(r->hw, c->hw))) return 0;
    if (r->fw && (!c->fw || strcmp(r->fw, c->fw))) return 0;
    if ((r->cond & C_ONNX) && !(c->a->has_model && !strcmp(c->a->model.format, "onnx"))) return 0;
    if ((r->cond & C_NO_MODEL) && c->a->has_model) return 0;
    if ((r->cond & C_GPU) && !c->gpu) return 0;
    if ((r->cond & C_NO_GPU) && c->gpu) return 0;
    if ((r->cond & C_MANAGED) && !c->managed) return 0;
    if ((r->cond & C_SELF) && c->managed) return 0;
    return 1;
}

/* Why tool t does not fit this request ("" when it does). */
static void demotion(const ctx *c, const ingot_tool *t, char *why, size_t n) {
    why[0] = 0;
    const ingot_advise_request *rq = c->rq;
    int is_ingot = !strcmp(t->id, "ingot");
    if (!strcmp(t->deployment, "managed") && !c->managed) {
        snprintf(why, n, "a managed service (pass --managed-ok to allow hosted APIs)");
        return;
    }
    int needs_nv = ingot_tool_has(t->hardware, "nvidia-gpu") && !strchr(t->hardware, ',');
    /* only when the target is known to lack one: this machine, a device, or named non-NVIDIA hardware */
    int no_gpu = !c->gpu && (c->a->local || (c->tc & (TC_PHONE | TC_MCU | TC_RPI | TC_BROWSER)) ||
                             (c->rq->hardware && *c->rq->hardware));
    if (needs_nv && no_gpu) {
        snprintf(why, n, "needs an NVIDIA GPU, which the target does not have");
        return;
    }
    if (c->platform && !ingot_tool_has(t->platforms, c->platform) && !ingot_tool_has(t->platforms, "any")) {
        snprintf(why, n, "not available for %s", c->platform);
        return;
    }
    if (rq->app_size_mb > 0 && t->footprint_mb > rq->app_size_mb) {
        snprintf(why, n, "adds %s, over the %.0f MB app size budget", t->footprint, rq->app_size_mb);
        return;
    }
    if (rq->latency_ms > 0 && t->latency_ms > rq->latency_ms && !is_ingot) {
        snprintf(why, n, "typical latency %s ms, over the %.0f ms budget", t->latency, rq->latency_ms);
        return;
    }
    if (is_ingot && c->a->has_model) {
        const char *f = c->a->model.format;
        if (!strcmp(f, "tflite")) snprintf(why, n, "ingot does not run TFLite files yet (ONNX, GGUF, safetensors)");
    }
    if (is_ingot && c->a->has_model && c->a->budget_bytes > 0 && c->a->weights_bytes > c->a->budget_bytes)
        snprintf(why, n, "the model does not fit the memory budget");
}

static void rank_situation(ctx *c, const char *situation, ingot_advice_item *items, int *n_items, int max) {
    ingot_catalog *cat = c->a->catalog;
    int n = 0;
    for (int r = 0; r <= 9 && n < max; r++)
        for (int i = 0; i < ingot_catalog_count(cat) && n < max; i++) {
            const ingot_tool *t = ingot_catalog_tool(cat, i);
            if (ingot_tool_rank(t, situation) != r) continue;
            ingot_advice_item *it = &items[n++];
            memset(it, 0, sizeof *it);
            it->tool = t;
            it->rank = r;
            demotion(c, t, it->note, sizeof it->note);
            it->demoted = it->note[0] != 0;
        }
    /* stable partition: fitting tools first */
    ingot_advice_item tmp[INGOT_ADVICE_MAX_ITEMS];
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!items[i].demoted) tmp[k++] = items[i];
    for (int i = 0; i < n; i++)
        if (items[i].demoted) tmp[k++] = items[i];
    memcpy(items, tmp, (size_t)n * sizeof *items);
    *n_items = n;
}

/* ---- engine awareness ---- */

static void note(ingot_advice *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(ingot_advice *a, const char *fmt, ...) {
    if (a->n_notes >= INGOT_ADVICE_MAX_NOTES) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->notes[a->n_notes++], sizeof a->notes[0], fmt, ap);
    va_end(ap);
}

static void command(ingot_advice *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void command(ingot_advice *a, const char *fmt, ...) {
    if (a->n_commands >= INGOT_ADVICE_MAX_COMMANDS) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->commands[a->n_commands++], sizeof a->commands[0], fmt, ap);
    va_end(ap);
}

/* Shell-quote s into d (single quotes unless plain). */
static const char *shq(char *d, size_t n, const char *s) {
    int plain = 1;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("/._-+=:,@", *p)) plain = 0;
    if (plain && *s) { snprintf(d, n, "%s", s); return d; }
    size_t k = 0;
    if (k + 1 < n) d[k++] = '\'';
    for (const char *p = s; *p && k + 5 < n; p++) {
        if (*p == '\'') { memcpy(d + k, "'\\''", 4); k += 4; }
        else d[k++] = *p;
    }
    if (k + 1 < n) d[k++] = '\'';
    d[k] = 0;
    return d;
}

static int64_t kv_at(const ingot_model_facts *f, int ctx_len) {
    return f->kv_bytes_per_1k > 0 ? f->kv_bytes_per_1k / 1024 * ctx_len : 0;
}

/* Quality order for choosing a weights type. */
static const char *const QUALITY[] = {"F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K", "Q5_1",
                                      "Q5_0", "Q4_K", "Q4_1", "Q4_0", "Q3_K", "Q2_K", NULL};

static int engine(ctx *c, char *err, size_t errlen) {
    ingot_advice *a = c->a;
    const ingot_advise_request *rq = c->rq;
    ingot_model_facts *f = &a->model;
    a->threads = rq->threads > 0 ? rq->threads : a->local ? a->machine.threads : 0;
    if (a->threads <= 0) a->threads = ingot_default_threads();
    int is_llm = f->n_layer > 0 && (!strcmp(f->format, "gguf") || !strcmp(f->format, "safetensors"));
    a->budget_bytes = rq->memory_mb > 0 ? (int64_t)(rq->memory_mb * 1048576.0)
                      : a->local && a->machine.mem_available > 0 ? a->machine.mem_available * 8 / 10 : 0;
    /* reference size classes of device targets */
    double dev_mb = (c->tc & TC_MCU) ? 1 : (c->tc & TC_PHONE) ? 50 : (c->tc & TC_RPI) ? 100 : 0;
    if (!is_llm) {
        a->weights_bytes = f->weight_bytes;
        if (rq->memory_mb > 0 && (double)f->weight_bytes > rq->memory_mb * 1048576.0) {
            if (err && errlen)
                snprintf(err, errlen, "--memory-mb %.0f is smaller than the model's weights (%.1f MB)", rq->memory_mb,
                         (double)f->weight_bytes / 1048576.0);
            return INGOT_ERR_INVALID_ARG;
        }
        if (dev_mb > 0 && (double)f->weight_bytes / 1048576.0 > dev_mb) {
            if (c->tc & TC_MCU) {
                if (err && errlen)
                    snprintf(err, errlen, "--target mcu holds models under 1 MB; this model has %.1f MB of weights",
                             (double)f->weight_bytes / 1048576.0);
                return INGOT_ERR_INVALID_ARG;
            }
            note(a, "the reference keeps %s models under %.0f MB; this one has %.1f MB of weights (quantize it)",
                 a->target, dev_mb, (double)f->weight_bytes / 1048576.0);
        }
        if (a->ingot_listed && !strcmp(f->format, "onnx")) {
            char q[1100];
            shq(q, sizeof q, f->path);
            command(a, "ingot info %s", q);
            command(a, "ingot bench %s -t %d --iters 20", q, a->threads);
            command(a, "ingot run %s --input NAME=X.npy -t %d", q, a->threads);
            command(a, "ingot serve --model %s --threads %d", q, a->threads);
        }
        return 0;
    }
    /* LLM: sizes per type */
    a->context = rq->context > 0 ? rq->context : (int)(f->n_ctx_train > 0 && f->n_ctx_train < 4096 ? f->n_ctx_train : 4096);
    if (f->n_ctx_train > 0 && a->context > f->n_ctx_train)
        note(a, "context %d is beyond the %lld tokens the model was trained for", a->context, (long long)f->n_ctx_train);
    /* bandwidth */
    if (rq->bandwidth_gbs > 0) a->bandwidth_gbs = rq->bandwidth_gbs;
    else if (rq->bandwidth_gbs == 0 && a->local) {
        int64_t sz = f->read_bytes_per_token > 0 ? f->read_bytes_per_token : f->weight_bytes;
        a->bandwidth_gbs = ingot_mem_bandwidth_probe(sz, a->threads, 100);
        a->bandwidth_measured = a->bandwidth_gbs > 0;
    }
    int64_t smallest = -1;
    const char *smallest_t = NULL;
    for (int q = 0; q < f->n_quant; q++) {
        const ingot_quant_estimate *e = &f->quant[q];
        int64_t need = e->weight_bytes + kv_at(f, a->context);
        a->quant_fits[q] = a->budget_bytes == 0 || need <= a->budget_bytes;
        a->quant_tps[q] = a->bandwidth_gbs > 0 && e->read_bytes_per_token > 0
                              ? a->bandwidth_gbs * 1e9 / (double)e->read_bytes_per_token
                              : 0;
        if (smallest < 0 || e->weight_bytes < smallest) { smallest = e->weight_bytes; smallest_t = e->type; }
    }
    /* contradictions */
    if (c->tc & TC_MCU) {
        if (err && errlen)
            snprintf(err, errlen,
                     "--target mcu holds models under 1 MB; this %s model needs %.1f MB even as %s",
                     f->arch, (double)smallest / 1048576.0, smallest_t ? smallest_t : "?");
        return INGOT_ERR_INVALID_ARG;
    }
    if (rq->memory_mb > 0 && smallest >= 0 && (double)smallest > rq->memory_mb * 1048576.0) {
        if (err && errlen)
            snprintf(err, errlen, "--memory-mb %.0f is smaller than the weights: %.1f MB even as %s", rq->memory_mb,
                     (double)smallest / 1048576.0, smallest_t ? smallest_t : "?");
        return INGOT_ERR_INVALID_ARG;
    }
    /* choose the weights type */
    const char *choice = NULL;
    if (!f->is_float) {
        choice = f->file_type; /* requantizing is refused by ingot quantize: use the file as shipped */
    } else {
        const char *pref = f->n_params < 1000000000LL ? "Q8_0" : "Q4_K";
        int start = 0;
        while (QUALITY[start] && strcmp(QUALITY[start], pref)) start++;
        for (int i = start; QUALITY[i]; i++) {
            const ingot_quant_estimate *e = ingot_inspect_quant(f, QUALITY[i]);
            if (!e) continue;
            int qi = (int)(e - f->quant);
            if (!a->quant_fits[qi]) continue;
            if (rq->latency_ms > 0 && a->quant_tps[qi] > 0 && 1000.0 / a->quant_tps[qi] > rq->latency_ms) continue;
            choice = QUALITY[i];
            break;
        }
        if (!choice) {
            /* nothing meets every limit: the smallest that fits the memory, else the smallest */
            for (int i = start; QUALITY[i]; i++) {
                const ingot_quant_estimate *e = ingot_inspect_quant(f, QUALITY[i]);
                if (e && a->quant_fits[e - f->quant]) choice = QUALITY[i];
            }
            if (!choice) choice = smallest_t;
        }
    }
    const ingot_quant_estimate *ce = ingot_inspect_quant(f, choice);
    snprintf(a->quant, sizeof a->quant, "%.7s", choice ? choice : "");
    a->weights_bytes = ce ? ce->weight_bytes : f->weight_bytes;
    /* shrink the context until weights + KV fit */
    while (a->budget_bytes > 0 && a->context > 256 && a->weights_bytes + kv_at(f, a->context) > a->budget_bytes)
        a->context /= 2;
    a->kv_bytes = kv_at(f, a->context);
    if (a->budget_bytes > 0 && a->weights_bytes + a->kv_bytes > a->budget_bytes) {
        if (err && errlen)
            snprintf(err, errlen, "the memory budget (%.0f MB) is smaller than the weights (%.1f MB as %s) plus a 256-token KV cache",
                     (double)a->budget_bytes / 1048576.0, (double)a->weights_bytes / 1048576.0, a->quant);
        return INGOT_ERR_INVALID_ARG;
    }
    a->decode_tps = ce ? a->quant_tps[ce - f->quant] : 0;
    if (rq->latency_ms > 0 && a->decode_tps > 0 && 1000.0 / a->decode_tps > rq->latency_ms)
        note(a, "no weights type reaches %.0f ms per token on this machine: the bound is %.1f ms at %s",
             rq->latency_ms, 1000.0 / a->decode_tps, a->quant);
    if (!f->is_float && f->n_quant)
        note(a, "the file is already quantized (%s): ingot quantize needs an F32/F16/BF16 source to make another type; "
                "the other sizes assume that source", f->file_type);
    if (dev_mb > 0 && (double)a->weights_bytes / 1048576.0 > dev_mb)
        note(a, "the reference keeps %s models under %.0f MB; the weights are %.1f MB as %s", a->target, dev_mb,
             (double)a->weights_bytes / 1048576.0, a->quant);
    if (!a->ingot_listed) return 0;
    /* commands */
    char q[1100], out[1100], src[1100];
    shq(src, sizeof src, f->path);
    const char *model = src;
    char stem[1024];
    snprintf(stem, sizeof stem, "%s", f->path);
    size_t sl = strlen(stem);
    while (sl && stem[sl - 1] == '/') stem[--sl] = 0;
    if (sl > 5 && !strcmp(stem + sl - 5, ".gguf")) stem[sl - 5] = 0;
    else if (sl > 12 && !strcmp(stem + sl - 12, ".safetensors")) stem[sl - 12] = 0;
    if (!strcmp(f->format, "safetensors")) {
        char g[1100];
        snprintf(g, sizeof g, "%s.gguf", stem);
        shq(out, sizeof out, g);
        command(a, "ingot convert --from hf %s -o %s", src, out);
        snprintf(q, sizeof q, "%s", out);
        model = q;
    }
    char qout[1100];
    if (f->is_float && strcasecmp(a->quant, f->file_type)) {
        char g[1100];
        snprintf(g, sizeof g, "%s-%s.gguf", stem, a->quant);
        shq(qout, sizeof qout, g);
        command(a, "ingot quantize %s %s %s -t %d", model, qout, a->quant, a->threads);
        model = qout;
    }
    int max_seqs = 1;
    if (a->budget_bytes > 0 && kv_at(f, a->context) > 0) {
        int64_t room = a->budget_bytes - a->weights_bytes;
        max_seqs = (int)(room / kv_at(f, a->context));
        if (max_seqs > 16) max_seqs = 16;
        if (max_seqs < 1) max_seqs = 1;
    } else max_seqs = 4;
    command(a, "ingot generate -m %s -p 'Once upon a time' -n 128 -t %d -c %d", model, a->threads, a->context);
    command(a, "ingot bench -m %s -t %d -p 512 -n 128", model, a->threads);
    command(a, "ingot serve --model %s --threads %d --ctx %d --max-seqs %d", model, a->threads, a->context, max_seqs);
    return 0;
}

/* ---- entry ---- */

ingot_status ingot_advise(const ingot_advise_request *rq, ingot_advice **out, char *err, size_t errlen) {
    if (err && errlen) err[0] = 0;
    if (!out || !rq) return INGOT_ERR_INVALID_ARG;
    *out = NULL;
    ingot_advice *a = calloc(1, sizeof *a);
    if (!a) return INGOT_ERR_NOMEM;
    int st = ingot_catalog_load(NULL, 0, &a->catalog, err, errlen);
    if (st) goto fail;
    if (rq->model && *rq->model) {
        char e2[512];
        st = ingot_inspect_file(rq->model, &a->model, e2, sizeof e2);
        if (st) {
            if (err && errlen) snprintf(err, errlen, "cannot read the model: %s", e2);
            goto fail;
        }
        a->has_model = 1;
    } else if (rq->model) {
        st = fail(err, errlen, "empty model path%s%s", "", NULL);
        goto fail;
    }
    ctx c = {0};
    c.rq = rq;
    c.a = a;
    if ((st = parse_request(&c, err, errlen))) goto fail;
    if ((c.tc & TC_MCU) && c.task == T_LLM && !a->has_model) {
        st = fail(err, errlen, "--target mcu cannot hold an LLM (microcontrollers have under 1 MB of memory)%s%s", "", NULL);
        goto fail;
    }
    /* the budget is known before ranking so ingot can be demoted when the model cannot fit */
    a->budget_bytes = rq->memory_mb > 0 ? (int64_t)(rq->memory_mb * 1048576.0) : 0;
    const rule *primary = NULL;
    for (int i = 0; i < N_RULES; i++) {
        if (!rule_matches(&c, &RULES[i])) continue;
        int dup = 0;
        for (int k = 0; k < a->n_answers; k++)
            if (!strcmp(a->answers[k].situation, RULES[i].situation)) dup = 1;
        if (dup || a->n_answers >= INGOT_ADVICE_MAX_ANSWERS) continue;
        if (!primary) primary = &RULES[i];
        ingot_advice_item items[INGOT_ADVICE_MAX_ITEMS];
        int n = 0;
        rank_situation(&c, RULES[i].situation, items, &n, INGOT_ADVICE_MAX_ITEMS);
        ingot_advice_answer *an = &a->answers[a->n_answers++];
        an->question = RULES[i].question;
        an->situation = RULES[i].situation;
        an->reason = RULES[i].reason;
        an->first = n ? items[0].tool : NULL;
        if (primary == &RULES[i]) {
            memcpy(a->items, items, (size_t)n * sizeof *items);
            a->n_items = n;
        }
    }
    if (!primary) {
        st = fail(err, errlen, "no rule of the reference covers this request%s%s", "", NULL);
        goto fail;
    }
    a->question = primary->question;
    a->situation = primary->situation;
    a->reason = primary->reason;
    for (int i = 0; i < a->n_items; i++)
        if (!strcmp(a->items[i].tool->id, "ingot") && !a->items[i].demoted) a->ingot_listed = 1;
    a->ingot_first = a->n_items > 0 && !strcmp(a->items[0].tool->id, "ingot") && !a->items[0].demoted;
    if (!a->ingot_first && primary->offer) snprintf(a->ingot_offer, sizeof a->ingot_offer, "%s", primary->offer);
    if ((c.needs & NEED("privacy")) && (c.tc & TC_PHONE))
        note(a, "privacy: every recommended mobile option runs on the device, so data stays on the phone");
    else if ((c.needs & NEED("privacy")) && c.managed)
        note(a, "privacy: a managed API sees your data; self-hosting (ingot) keeps it on your machines");
    if (a->has_model) {
        if ((st = engine(&c, err, errlen))) goto fail;
    } else if (c.tc & TC_SELF) {
        a->threads = rq->threads > 0 ? rq->threads : a->local ? a->machine.threads : ingot_default_threads();
    }
    *out = a;
    return INGOT_OK;
fail:
    ingot_advice_free(a);
    return (ingot_status)st;
}

void ingot_advice_free(ingot_advice *a) {
    if (!a) return;
    ingot_catalog_free(a->catalog);
    free(a);
}
