/*
 * tok_bpe.c: byte-level BPE (tokenizer.ggml.model "gpt2": GPT-2, Falcon, Llama 3, Qwen2/3,
 * SmolLM, StarCoder, DeepSeek, MPT, Refact...). The input is first split into words by the
 * pre-tokenizer that the vocab names (tokenizer.ggml.pre): a list of regexes applied in turn,
 * each splitting every piece into its matches and the gaps between them, as the Hugging Face
 * Sequence[Split(Isolated)] / ByteLevel pre-tokenizers do. The regexes are those of
 * tokenizer.json as collected by llama.cpp (llama-vocab.cpp); PCRE2 runs them in UTF mode with
 * Unicode properties, so the original patterns work unchanged (\p{L}, lookahead, (?i:...)),
 * and invalid UTF-8 is matched by nothing rather than rejected (PCRE2_MATCH_INVALID_UTF).
 * Each word's bytes become GPT-2 bytes-to-unicode characters, one symbol per byte, and the
 * adjacent pair with the lowest merge rank is merged until none applies (binary heap; ties go
 * to the leftmost pair). Compiled regexes hang off the tokenizer; match data is per call.
 */
#include <stdlib.h>
#include <string.h>

#ifdef INGOT_HAVE_PCRE2
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#endif

#include "llm/tokenizer/tok_internal.h"

/* ---------------------------------------------------------------- GPT-2 byte mapping */

static int bpe_byte_printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

/* bytes without a printable stand-in (0x00-0x20, 0x7F-0xA0, 0xAD) map to U+0100.. in order */
uint32_t tok_bpe_byte_to_cp(unsigned char b) {
    if (bpe_byte_printable(b)) return b;
    if (b <= 0x20) return 256u + b;
    if (b >= 0x7F && b <= 0xA0) return 256u + 33u + (b - 0x7Fu);
    return 256u + 67u; /* 0xAD */
}

int tok_bpe_cp_to_byte(uint32_t cp) {
    if (cp < 256) return bpe_byte_printable(cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    uint32_t k = cp - 256;
    if (k < 33) return (int)k;
    if (k < 67) return (int)(0x7F + (k - 33));
    return 0xAD;
}

/* ---------------------------------------------------------------- pre-tokenizer table */

#define RX_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RX_LLAMA3                                                                                  \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" \
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_QWEN2                                                                                   \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"   \
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_CJK "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+" /* CJK, as deepseek lists it */

static const char *const rx_default[] = {"[\\p{P}\\$\\+<=>\\^~\\|]+", RX_GPT2, "\\p{N}+", "[0-9][0-9][0-9]", NULL};
static const char *const rx_gpt2[] = {RX_GPT2, NULL};
static const char *const rx_llama3[] = {RX_LLAMA3, NULL};
static const char *const rx_qwen2[] = {RX_QWEN2, NULL};
static const char *const rx_qwen35[] = {
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const rx_falcon[] = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RX_GPT2, "[0-9][0-9][0-9]", NULL};
static const char *const rx_starcoder[] = {"\\p{N}", RX_GPT2, NULL};
static const char *const rx_deepseek_coder[] = {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RX_CJK, "\\p{N}", NULL};
static const char *const rx_deepseek_llm[] = {
    "[\r\n]",
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}"
    "\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}"
    "\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}"
    "\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}"
    "\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}"
    "\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}"
    "\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}"
    "\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}"
    "\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}"
    "\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}"
    "\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}"
    "\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}"
    "\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}"
    "\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}"
    "\\x{1E900}-\\x{1E943}]+",
    "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
    "\\s+$",
    RX_CJK,
    "\\p{N}+",
    NULL};
static const char *const rx_deepseek3[] = {
    "\\p{N}{1,3}", "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
    " ?[\\p{P}\\p{S}]+[\r\n]*|"
    "\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const rx_poro[] = {
    " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+", NULL};
static const char *const rx_viking[] = {
    " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+", "\\p{N}", NULL};
static const char *const rx_chameleon[] = {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
                                           "([\\t\\n]|    |  )", "\\p{N}", "[\\p{P}!-/:-@\\[-`{-~]", RX_GPT2, NULL};
static const char *const rx_tekken[] = {
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|"
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const rx_gpt4o[] = {
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const rx_bailingmoe[] = {
    "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*|\\s*[\\r"
    "\\n]|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const rx_seed_coder[] = {
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+",
    NULL};
static const char *const rx_ufakzeka[] = {
    "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", NULL};

typedef struct bpe_pre_def {
    const char *names; /* space-separated tokenizer.ggml.pre names */
    const char *const *rx;
    int ignore_merges; /* a word that is itself a token is emitted whole (Llama 3, Tekken) */
} bpe_pre_def;

static const bpe_pre_def bpe_pre_defs[] = {
    {"default", rx_default, 0},
    {"llama3 llama-v3 llama-bpe falcon3 falcon-h1 pixtral midm-2.0 lfm2 jina-v5-nano", rx_llama3, 1},
    {"dbrx smaug-bpe glm4 chatglm-bpe", rx_llama3, 0},
    {"deepseek-llm", rx_deepseek_llm, 0},
    {"deepseek-coder", rx_deepseek_coder, 0},
    {"deepseek-v3 hunyuan-dense joyai-llm", rx_deepseek3, 0},
    {"falcon", rx_falcon, 0},
    {"starcoder refact command-r smollm codeshell exaone minerva-7b mellum2", rx_starcoder, 0},
    {"gpt-2 phi-2 jina-es jina-de gigachat jina-v2-es jina-v2-de a.x-4.0 mellum modern-bert jina-v1-en "
     "jina-v2-code roberta-bpe mpt olmo jais trillion granite-docling exaone4",
     rx_gpt2, 0},
    {"qwen2 deepseek-r1-qwen kormo f2llmv2 stablelm2 megrez hunyuan solar-open grok-2", rx_qwen2, 0},
    {"qwen35", rx_qwen35, 0},
    {"poro-chat bloom gpt3-finnish", rx_poro, 0},
    {"viking", rx_viking, 0},
    {"chameleon", rx_chameleon, 0},
    {"tekken", rx_tekken, 1},
    {"gpt-4o llama4 kanana2 talkie minimax-m2", rx_gpt4o, 0},
    {"bailingmoe bailingmoe2 llada-moe", rx_bailingmoe, 0},
    {"seed-coder", rx_seed_coder, 0},
    {"ufakzeka", rx_ufakzeka, 0},
};

static int bpe_name_in(const char *names, const char *name) {
    size_t n = strlen(name);
    for (const char *p = names; *p;) {
        const char *sp = strchr(p, ' ');
        size_t len = sp ? (size_t)(sp - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0) return 1;
        if (!sp) break;
        p = sp + 1;
    }
    return 0;
}

#define BPE_MAX_RX 8

struct tok_bpe_pre {
    int n_rx;
#ifdef INGOT_HAVE_PCRE2
    pcre2_code *code[BPE_MAX_RX];
    int jit[BPE_MAX_RX];
#endif
};

void tok_bpe_free(it_tokenizer *t) {
    if (!t || !t->pre) return;
#ifdef INGOT_HAVE_PCRE2
    for (int i = 0; i < t->pre->n_rx; i++) pcre2_code_free(t->pre->code[i]);
#endif
    free(t->pre);
    t->pre = NULL;
}

/* ---------------------------------------------------------------- merges */


static const tok_merge *bpe_find_merge(const it_tokenizer *t, int32_t l, int32_t r) {
    if (!t->merges) return NULL;
    uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    size_t i = (size_t)it_hash_mix64(key) & t->merge_mask;
    for (;;) {
        const tok_merge *m = &t->merges[i];
        if (m->key == UINT64_MAX) return NULL;
        if (m->key == key) return m;
        i = (i + 1) & t->merge_mask;
    }
}

int tok_bpe_init(it_tokenizer *t, const it_vocab_desc *d, it_err *e) {
    /* byte symbols */
    for (int b = 0; b < 256; b++) {
        char buf[4];
        size_t n = tok_utf8_encode(tok_bpe_byte_to_cp((unsigned char)b), buf);
        t->byte_tok[b] = tok_lookup(t, buf, n);
    }

    /* merges: "left right", rank = index; the first occurrence of a pair wins */
    if (d->n_merges < 0 || d->n_merges > INT32_MAX / 4)
        return it_fail(e, INGOT_ERR_LIMIT, "tokenizer: %lld merges", (long long)d->n_merges);
    if (d->n_merges && !d->merges) return it_fail(e, INGOT_ERR_FORMAT, "tokenizer: merges missing");
    if (d->n_merges) {
        size_t cap = 16;
        while (cap < (size_t)d->n_merges * 2) cap <<= 1;
        t->merges = malloc(cap * sizeof *t->merges);
        if (!t->merges) return it_fail(e, INGOT_ERR_NOMEM, "tokenizer: out of memory");
        for (size_t i = 0; i < cap; i++) t->merges[i].key = UINT64_MAX;
        t->merge_mask = cap - 1;
        char *cat = malloc(2 * IT_TOK_MAX_TOKEN_BYTES + 2);
        if (!cat) return it_fail(e, INGOT_ERR_NOMEM, "tokenizer: out of memory");
        for (int64_t r = 0; r < d->n_merges; r++) {
            const char *s = d->merges[r].ptr;
            size_t n = d->merges[r].len;
            if (!s || n < 3) continue;
            const char *sp = memchr(s + 1, ' ', n - 1);
            if (!sp) continue;
            size_t ln = (size_t)(sp - s), rn = n - ln - 1;
            int32_t l = tok_lookup(t, s, ln), rr = tok_lookup(t, sp + 1, rn);
            if (l < 0 || rr < 0) continue; /* such a pair can never form */
            uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)rr;
            size_t i = (size_t)it_hash_mix64(key) & t->merge_mask;
            while (t->merges[i].key != UINT64_MAX && t->merges[i].key != key) i = (i + 1) & t->merge_mask;
            if (t->merges[i].key == key) continue;
            int32_t res = -1;
            if (ln + rn <= 2 * IT_TOK_MAX_TOKEN_BYTES) {
                memcpy(cat, s, ln);
                memcpy(cat + ln, sp + 1, rn);
                res = tok_lookup(t, cat, ln + rn);
            }
            t->merges[i] = (tok_merge){key, (int32_t)r, res};
        }
        free(cat);
    }

    /* pre-tokenizer */
    const char *name = d->pre && d->pre[0] ? d->pre : "default";
    const bpe_pre_def *def = NULL;
    for (size_t i = 0; i < sizeof bpe_pre_defs / sizeof bpe_pre_defs[0]; i++)
        if (bpe_name_in(bpe_pre_defs[i].names, name)) def = &bpe_pre_defs[i];
    if (!def) return it_fail(e, INGOT_ERR_UNSUPPORTED, "tokenizer: unknown pre-tokenizer '%.64s'", name);
    t->ignore_merges = def->ignore_merges;
#ifdef INGOT_HAVE_PCRE2
    t->pre = calloc(1, sizeof *t->pre);
    if (!t->pre) return it_fail(e, INGOT_ERR_NOMEM, "tokenizer: out of memory");
    for (int i = 0; def->rx[i] && i < BPE_MAX_RX; i++) {
        int errcode;
        PCRE2_SIZE erroff;
        pcre2_code *c = pcre2_compile((PCRE2_SPTR)def->rx[i], PCRE2_ZERO_TERMINATED,
                                      PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &errcode, &erroff, NULL);
        if (!c) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(errcode, msg, sizeof msg);
            return it_fail(e, INGOT_ERR_INTERNAL, "tokenizer: pre-tokenizer '%s' regex %d: %s at %zu", name, i,
                           (const char *)msg, (size_t)erroff);
        }
        t->pre->code[i] = c;
        t->pre->n_rx = i + 1;
        t->pre->jit[i] = pcre2_jit_compile(c, PCRE2_JIT_COMPLETE) == 0;
    }
    return INGOT_OK;
#else
    return it_fail(e, INGOT_ERR_UNSUPPORTED,
                   "tokenizer: byte-level BPE needs PCRE2 (build with INGOT_PCRE2 and libpcre2-8)");
#endif
}

/* ---------------------------------------------------------------- word splitting */

typedef struct bpe_span {
    size_t off, len;
} bpe_span;

typedef struct bpe_spans {
    bpe_span *v;
    size_t n, cap;
} bpe_spans;

static int bpe_spans_push(bpe_spans *s, size_t off, size_t len) {
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        bpe_span *nv = realloc(s->v, nc * sizeof *nv);
        if (!nv) return INGOT_ERR_NOMEM;
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n++] = (bpe_span){off, len};
    return 0;
}

#ifdef INGOT_HAVE_PCRE2
/* split text[sp.off .. +sp.len) by one regex into matches and gaps, appended to out */
static int bpe_split(const it_tokenizer *t, int ri, const char *text, bpe_span sp, pcre2_match_data *md,
                     bpe_spans *out, it_err *e) {
    const pcre2_code *code = t->pre->code[ri];
    PCRE2_SPTR subj = (PCRE2_SPTR)(text + sp.off);
    size_t n = sp.len, pos = 0, last = 0;
    while (pos < n) {
        int rc = pcre2_match(code, subj, n, pos, 0, md, NULL);
        if (rc < 0 && rc != PCRE2_ERROR_NOMATCH && t->pre->jit[ri])
            rc = pcre2_match(code, subj, n, pos, PCRE2_NO_JIT, md, NULL); /* JIT stack exhausted */
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return it_fail(e, INGOT_ERR_LIMIT, "tokenize: pre-tokenizer regex failed on a %zu-byte piece: %s", n,
                           (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (me <= ms) { /* empty match: step over one character */
            pos = ms + tok_utf8_len(text + sp.off + ms, n - ms);
            continue;
        }
        if (ms > last && bpe_spans_push(out, sp.off + last, ms - last)) return INGOT_ERR_NOMEM;
        if (bpe_spans_push(out, sp.off + ms, me - ms)) return INGOT_ERR_NOMEM;
        last = pos = me;
    }
    if (last < n && bpe_spans_push(out, sp.off + last, n - last)) return INGOT_ERR_NOMEM;
    return 0;
}
#endif

/* ---------------------------------------------------------------- merging one word */

typedef struct bpe_sym {
    int32_t id;
    int prev, next;
    uint32_t off, n; /* bytes of the word; n == 0 once merged away */
} bpe_sym;

typedef struct bpe_bigram {
    int32_t rank;
    int left, right;
    int32_t lid, rid;
} bpe_bigram;

typedef struct bpe_work {
    bpe_sym *sym;
    size_t sym_cap;
    bpe_bigram *heap;
    size_t hn, hcap;
    char *enc;
    size_t enc_cap;
} bpe_work;

static int bpe_before(const bpe_bigram *a, const bpe_bigram *b) {
    if (a->rank != b->rank) return a->rank < b->rank;
    return a->left < b->left;
}

static int bpe_heap_push(bpe_work *w, bpe_bigram b) {
    if (w->hn == w->hcap) {
        size_t nc = w->hcap ? w->hcap * 2 : 64;
        bpe_bigram *nv = realloc(w->heap, nc * sizeof *nv);
        if (!nv) return INGOT_ERR_NOMEM;
        w->heap = nv;
        w->hcap = nc;
    }
    size_t i = w->hn++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!bpe_before(&b, &w->heap[p])) break;
        w->heap[i] = w->heap[p];
        i = p;
    }
    w->heap[i] = b;
    return 0;
}

static bpe_bigram bpe_heap_pop(bpe_work *w) {
    bpe_bigram top = w->heap[0];
    bpe_bigram last = w->heap[--w->hn];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const bpe_bigram *best = &last;
        if (l < w->hn && bpe_before(&w->heap[l], best)) m = l, best = &w->heap[l];
        if (r < w->hn && bpe_before(&w->heap[r], best)) m = r;
        if (m == i) break;
        w->heap[i] = w->heap[m];
        i = m;
    }
    if (w->hn) w->heap[i] = last;
    return top;
}

static int bpe_try_add(const it_tokenizer *t, bpe_work *w, int left, int right) {
    if (left < 0 || right < 0) return 0;
    int32_t l = w->sym[left].id, r = w->sym[right].id;
    if (l < 0 || r < 0) return 0;
    const tok_merge *m = bpe_find_merge(t, l, r);
    if (!m) return 0;
    bpe_bigram b = {m->rank, left, right, l, r};
    return bpe_heap_push(w, b);
}

static int bpe_word(const it_tokenizer *t, const char *s, size_t n, bpe_work *w, tok_ids *o) {
    int st;
    if (n == 0) return 0;
    if (t->ignore_merges && n <= t->max_token_len) {
        size_t need = n * 2;
        if (need > w->enc_cap) {
            char *ne = realloc(w->enc, need);
            if (!ne) return INGOT_ERR_NOMEM;
            w->enc = ne;
            w->enc_cap = need;
        }
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            char buf[4];
            size_t m = tok_utf8_encode(tok_bpe_byte_to_cp((unsigned char)s[i]), buf);
            memcpy(w->enc + k, buf, m);
            k += m;
        }
        int32_t id = tok_lookup(t, w->enc, k);
        if (id >= 0) return tok_ids_push(o, id);
    }
    if (n > w->sym_cap) {
        bpe_sym *ns = realloc(w->sym, n * sizeof *ns);
        if (!ns) return INGOT_ERR_NOMEM;
        w->sym = ns;
        w->sym_cap = n;
    }
    if (n > (size_t)INT32_MAX / 2) return INGOT_ERR_LIMIT;
    for (size_t i = 0; i < n; i++) {
        w->sym[i] = (bpe_sym){t->byte_tok[(unsigned char)s[i]], (int)i - 1, i + 1 == n ? -1 : (int)i + 1,
                              (uint32_t)i, 1};
    }
    w->hn = 0;
    for (size_t i = 1; i < n; i++)
        if ((st = bpe_try_add(t, w, (int)i - 1, (int)i))) return st;
    while (w->hn) {
        bpe_bigram b = bpe_heap_pop(w);
        bpe_sym *l = &w->sym[b.left], *r = &w->sym[b.right];
        if (l->n == 0 || r->n == 0 || l->id != b.lid || r->id != b.rid || l->next != b.right) continue;
        const tok_merge *m = bpe_find_merge(t, b.lid, b.rid);
        l->id = m ? m->result : -1;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) w->sym[r->next].prev = b.left;
        if ((st = bpe_try_add(t, w, l->prev, b.left))) return st;
        if ((st = bpe_try_add(t, w, b.left, l->next))) return st;
    }
    for (int i = 0; i != -1; i = w->sym[i].next) {
        const bpe_sym *y = &w->sym[i];
        if (y->id >= 0) {
            if ((st = tok_ids_push(o, y->id))) return st;
            continue;
        }
        for (uint32_t j = 0; j < y->n; j++)
            if ((st = tok_push_byte(t, o, (unsigned char)s[y->off + j]))) return st;
    }
    return 0;
}

int tok_bpe_encode(const it_tokenizer *t, const char *s, size_t n, tok_ids *o, it_err *e) {
#ifdef INGOT_HAVE_PCRE2
    int st = 0;
    bpe_spans a = {0}, b = {0};
    bpe_work w = {0};
    pcre2_match_data *md = NULL;
    if (n == 0) return 0;
    if (!t->pre) return it_fail(e, INGOT_ERR_INTERNAL, "tokenize: no pre-tokenizer");
    md = pcre2_match_data_create(16, NULL);
    if (!md || bpe_spans_push(&a, 0, n)) {
        st = INGOT_ERR_NOMEM;
        goto out;
    }
    for (int ri = 0; ri < t->pre->n_rx; ri++) {
        b.n = 0;
        for (size_t i = 0; i < a.n; i++)
            if ((st = bpe_split(t, ri, s, a.v[i], md, &b, e))) goto out;
        bpe_spans sw = a;
        a = b;
        b = sw;
    }
    for (size_t i = 0; i < a.n; i++)
        if ((st = bpe_word(t, s + a.v[i].off, a.v[i].len, &w, o))) goto out;
out:
    pcre2_match_data_free(md);
    free(a.v);
    free(b.v);
    free(w.sym);
    free(w.heap);
    free(w.enc);
    if (st == INGOT_ERR_NOMEM) it_fail(e, st, "tokenize: out of memory");
    return st;
#else
    (void)t, (void)s, (void)n, (void)o;
    return it_fail(e, INGOT_ERR_UNSUPPORTED, "tokenize: byte-level BPE needs PCRE2");
#endif
}
