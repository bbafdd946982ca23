/*
 * test_jinja.c: the chat-template interpreter (src/llm/jinja) through include/ingot_chat.h.
 * Real chat templates (SmolLM2, Llama 3.1/3.2, Qwen2.5, Qwen3, Phi-3.5, Gemma 3, Mistral
 * v1/v3/v7/Nemo and llama.cpp's test set) must render their conversations exactly as the
 * references in tests/data/chat_templates do (llama.cpp's expected outputs, or Python
 * jinja2 configured as transformers; see make_cases.py there); SmolLM2's template is also
 * read from its GGUF when INGOT_SMOLLM2_GGUF names one. Language features are checked one
 * by one, and errors (raise_exception, unknown filters and tests, malformed templates,
 * runaway loops, recursion, output size, deep nesting, mutated templates) must come back
 * as messages naming the line and column, never as crashes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ingot_chat.h"
#include "ingot_llm.h"

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) free(s), s = NULL;
    fclose(f);
    if (s) s[n] = 0;
    if (len) *len = (size_t)n;
    return s;
}

static void data_path(char *out, size_t cap, const char *name, const char *ext) {
    const char *f = __FILE__;
    const char *p = strstr(f, "unit/test_jinja.c");
    int dl = p ? (int)(p - f) : 0;
    snprintf(out, cap, "%.*sdata/chat_templates/%s%s", dl, f, name, ext);
}

static void unescape(char *s) {
    char *o = s;
    for (; *s; s++) {
        if (*s == '\\' && s[1]) {
            s++;
            *o++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s;
        } else {
            *o++ = *s;
        }
    }
    *o = 0;
}

typedef struct tcase {
    char *input;
    ingot_chat_message msgs[32];
    int n;
    const char *bos, *eos;
    int agp;
    long long now;
} tcase;

static int load_case(const char *name, tcase *c) {
    char path[1024];
    memset(c, 0, sizeof *c);
    data_path(path, sizeof path, name, ".input");
    c->input = read_file(path, NULL);
    if (!c->input) return -1;
    for (char *line = strtok(c->input, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "bos_token=", 10)) unescape(line + 10), c->bos = line + 10;
        else if (!strncmp(line, "eos_token=", 10)) unescape(line + 10), c->eos = line + 10;
        else if (!strncmp(line, "add_generation_prompt=", 22)) c->agp = atoi(line + 22);
        else if (!strncmp(line, "now=", 4)) c->now = atoll(line + 4);
        else if (!strncmp(line, "msg=", 4) && c->n < 32) {
            char *tab = strchr(line + 4, '\t');
            if (!tab) return -1;
            *tab = 0;
            unescape(tab + 1);
            c->msgs[c->n].role = line + 4, c->msgs[c->n].content = tab + 1, c->n++;
        }
    }
    return 0;
}

static void report_diff(const char *name, const char *got, const char *want) {
    size_t i = 0;
    while (got[i] && got[i] == want[i]) i++;
    size_t from = i > 40 ? i - 40 : 0;
    fprintf(stderr, "%s: differs at byte %zu\n  got:  \"%.80s\"\n  want: \"%.80s\"\n", name, i, got + from,
            want + from);
}

static const char *const CASES[] = {
    "chatml_openhermes", "fusionnet", "vigogne", "alphamonarch", "openchat", "deepseek_coder", "vicuna",
    "command_r_plus", "llama3_simple", "phi3_small", "granite3", "mistral_v1", "mistral_v7", "ling_lite", "seed_oss",
    "smollm2", "smollm2_nosys", "llama31", "llama32", "llama32_nosys", "qwen25", "qwen25_nosys", "qwen3",
    "qwen3_think", "phi35", "phi35_nogen", "gemma3", "gemma3_nosys", "mistral_nemo",
};

static void real_templates(void **state) {
    (void)state;
    int failed = 0;
    for (size_t k = 0; k < sizeof CASES / sizeof *CASES; k++) {
        const char *name = CASES[k];
        char path[1024];
        tcase c;
        if (load_case(name, &c)) fail_msg("%s: cannot read its .input", name);
        data_path(path, sizeof path, name, ".jinja");
        char *tmpl = read_file(path, NULL);
        data_path(path, sizeof path, name, ".expected");
        char *want = read_file(path, NULL);
        if (!tmpl || !want) fail_msg("%s: cannot read its .jinja or .expected", name);
        char *out = NULL, err[512];
        ingot_status st =
            ingot_chat_render_template(tmpl, c.msgs, c.n, c.agp, c.bos, c.eos, c.now, &out, err, sizeof err);
        if (st != INGOT_OK) {
            fprintf(stderr, "%s: %s\n", name, err);
            failed++;
        } else if (strcmp(out, want)) {
            report_diff(name, out, want);
            failed++;
        }
        free(out), free(tmpl), free(want), free(c.input);
    }
    fprintf(stderr, "real templates: %zu cases, %d failed\n", sizeof CASES / sizeof *CASES, failed);
    assert_int_equal(failed, 0);
}

/* SmolLM2's template as its GGUF holds it, through ingot_chat_render */
static void smollm2_gguf(void **state) {
    (void)state;
    const char *path = getenv("INGOT_SMOLLM2_GGUF");
    if (!path || !*path) {
        fprintf(stderr, "INGOT_SMOLLM2_GGUF not set: skipped\n");
        skip();
    }
    ingot_llm *m = NULL;
    char err[512];
    ingot_status st = ingot_llm_load(path, NULL, &m, err, sizeof err);
    if (st != INGOT_OK) fail_msg("%s: %s", path, err);
    tcase c;
    assert_int_equal(load_case("smollm2", &c), 0);
    char p2[1024];
    data_path(p2, sizeof p2, "smollm2", ".expected");
    char *want = read_file(p2, NULL);
    assert_non_null(want);
    char *out = NULL;
    st = ingot_chat_render(m, c.msgs, c.n, 1, &out, err, sizeof err);
    if (st != INGOT_OK) fail_msg("render: %s", err);
    if (strcmp(out, want)) report_diff("smollm2 (GGUF)", out, want);
    assert_string_equal(out, want);
    assert_int_equal(ingot_chat_tokenize_flags(m), INGOT_LLM_ADD_SPECIAL | INGOT_LLM_PARSE_SPECIAL);
    free(out), free(want), free(c.input);
    ingot_llm_free(m);
}

/* ---------------------------------------------------------------- features */

static const ingot_chat_message MSGS[] = {
    {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Bye"}};

static char *render(const char *t, char *err, size_t errlen, ingot_status *st) {
    char *out = NULL;
    *st = ingot_chat_render_template(t, MSGS, 4, 1, "<s>", "</s>", 1721995200, &out, err, errlen);
    return out;
}

static void expect(const char *t, const char *want) {
    char err[512];
    ingot_status st;
    char *out = render(t, err, sizeof err, &st);
    if (st != INGOT_OK) fail_msg("template %s: %s", t, err);
    if (strcmp(out, want)) fail_msg("template %s\n  gave \"%s\"\n  want \"%s\"", t, out, want);
    free(out);
}

static void features(void **state) {
    (void)state;
    /* output, literals, operators */
    expect("{{ 'a' ~ 1 ~ none ~ true }}|{{ 1 + 2 * 3 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 % 3 }}|{{ -7 % 3 }}",
           "a1NoneTrue|7|3|-4|1|2");
    expect("{{ 7 / 2 }}|{{ 2 ** 10 }}|{{ 1.5 + 1 }}|{{ 3.0 }}|{{ 'ab' * 3 }}|{{ [1] + [2, 3] }}",
           "3.5|1024|2.5|3.0|ababab|[1, 2, 3]");
    expect("{{ {'a': 1, 'b': 'x'} }}|{{ none }}|{{ undefined_name }}|{{ \"it's\" }}", "{'a': 1, 'b': 'x'}|None||it's");
    expect("{{ 1 < 2 and 'x' or 'y' }}|{{ 0 or '' or 'z' }}|{{ not 1 }}|{{ 1 if false else 2 }}|{{ 'q' if 0 }}|",
           "x|z|False|2||");
    expect("{{ 'b' in 'abc' }}{{ 2 in [1, 2] }}{{ 'k' in {'k': 1} }}{{ 'z' not in 'abc' }}", "TrueTrueTrueTrue");
    /* indexing, attributes, slicing */
    expect("{{ messages[0]['role'] }}/{{ messages[1].content }}/{{ messages[-1].content }}/{{ messages|length }}",
           "system/Hi/Bye/4");
    expect("{{ 'hello'[1:3] }}|{{ 'hello'[::-1] }}|{{ [1,2,3,4][1:] }}|{{ [1,2,3][:-1] }}|{{ 'héllo'[1] }}|{{ 'ab'[5] }}",
           "el|olleh|[2, 3, 4]|[1, 2]|é|");
    expect("{{ (messages[1:] | map(attribute='role') | list) }}", "['user', 'assistant', 'user']");
    /* whitespace control, trim_blocks, lstrip_blocks */
    expect("a  {{- ' b ' -}}  c", "a b c");
    expect("{% if true %}\nX\n{% endif %}\nY", "X\nY");
    expect("  {% if true %}\n  Z\n  {% endif %}\n", "  Z\n");
    expect("A {% if true %}B{% endif %}", "A B");
    expect("{# c #}\nQ{#- x -#}  R", "QR");
    expect("{%+ if true %}x{% endif +%}\n", "x\n");
    expect("{% raw %}{{ not evaluated }}{% endraw %}", "{{ not evaluated }}");
    /* loops */
    expect("{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first|int }}"
           "{{ loop.last|int }}{{ loop.length }},{% endfor %}",
           "104104,213004,322004,431014,");
    expect("{% for m in messages if m.role == 'user' %}{{ m.content }}{{ loop.length }}{% else %}none{% endfor %}",
           "Hi2Bye2");
    expect("{% for x in [] %}a{% else %}empty{% endfor %}", "empty");
    expect("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}", "a=1;b=2;");
    expect("{% for k, v in {'a': 1} | items %}{{ k }}{{ v }}{% endfor %}{% for k in {'x': 1, 'y': 2} %}{{ k }}{% endfor %}",
           "a1xy");
    expect("{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}{% endif %}"
           "{{ i }}{% endfor %}",
           "02");
    expect("{% for i in range(1, 10, 3) %}{{ i }}{% endfor %}{% for i in range(3, 0, -1) %}{{ i }}{% endfor %}", "147321");
    expect("{% for m in messages %}{% if loop.first %}{% set x = 5 %}{% endif %}[{{ x }}]{% endfor %}", "[5][][][]");
    /* set, namespace, block set */
    expect("{% set ns = namespace(n=0, s='') %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
           "{% set ns.s = ns.s ~ m.role[0] %}{% endfor %}{{ ns.n }}{{ ns.s }}",
           "4suau");
    expect("{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}{% set a, b = 3, 4 %}{{ a + b }}", "27");
    expect("{% set blk %}  text {{ 1 }} {% endset %}[{{ blk }}]{% set t | upper %}abc{% endset %}{{ t }}",
           "[  text 1 ]ABC");
    /* macros */
    expect("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }}"
           " {{ greet(name='C', punct='.') }}",
           "Hi A! Hi B? Hi C.");
    expect("{% macro r(n) %}{% if n > 0 %}{{ n }}{{ r(n - 1) }}{% endif %}{% endmacro %}{{ r(3) }}", "321");
    /* filters */
    expect("{{ '  x  ' | trim }}|{{ 'ab' | upper }}|{{ 'AB' | lower }}|{{ 'hello world' | title }}|{{ 'hELLO' | capitalize }}",
           "x|AB|ab|Hello World|Hello");
    expect("{{ [1, 2] | length }}{{ 'héé' | length }}{{ {'a': 1} | count }}|{{ [1, 'a', none] | join('-') }}|"
           "{{ undefined_x | default('d') }}|{{ '' | default('e', true) }}",
           "231|1-a-None|d|e");
    expect("{{ [3, 1, 2] | first }}{{ [3, 1, 2] | last }}{{ 'abc' | first }}|{{ 'aXbX' | replace('X', 'y') }}|"
           "{{ 12 | string }}{{ '42' | int + 1 }}{{ '2.5' | float }}{{ 'x' | int }}{{ 3.9 | int }}",
           "32a|ayby|12432.503");
    expect("{{ [3, 1, 2] | sort | list }}{{ [1, 2, 2, 1] | unique | list }}{{ [1, 2] | reverse | list }}{{ 'ab' | list }}",
           "[1, 2, 3][1, 2][2, 1]['a', 'b']");
    expect("{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}|"
           "{{ messages | rejectattr('role', '==', 'user') | list | length }}|{{ [0, 1, 2, ''] | select | list }}|"
           "{{ [1, 2, 3, 4] | select('odd') | list }}|{{ ['a', 'b'] | map('upper') | join }}",
           "Hi,Bye|2|[1, 2]|[1, 3]|AB");
    expect("{{ {'b': [1, 2], 'a': 'x\"é', 'c': none, 'd': true, 'e': 1.5} | tojson }}",
           "{\"b\": [1, 2], \"a\": \"x\\\"é\", \"c\": null, \"d\": true, \"e\": 1.5}");
    expect("{{ {'a': [1, {}], 'b': {}} | tojson(indent=2) }}", "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": {}\n}");
    expect("{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}|{{ '<a&b>' | e }}|{{ '<x>' | safe }}|{{ -3 | abs }}",
           "{\"a\": 2, \"b\": 1}|&lt;a&amp;b&gt;|<x>|3");
    expect("{{ 'a\\nb' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}", "a\n  b|  a\n  b");
    /* tests */
    expect("{{ x is defined }}{{ messages is defined }}{{ none is none }}{{ 'a' is string }}{{ 1 is number }}"
           "{{ 1.5 is number }}{{ {} is mapping }}{{ [] is iterable }}{{ 'a' is sequence }}{{ true is true }}"
           "{{ false is false }}{{ 1 is not string }}{{ 4 is divisibleby 2 }}{{ 3 is odd }}{{ 'a' is in 'abc' }}",
           "FalseTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrue");
    expect("{{ not x is defined }}{{ 2 is eq 2 }}{{ 2 is gt 1 }}{{ messages[0].missing is undefined }}",
           "TrueTrueTrueTrue");
    /* methods */
    expect("{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}|{{ 'a,b,,c'.split(',') }}|"
           "{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}",
           "TrueTrue|['a', 'b', '', 'c']|['a', 'b']|['a', 'b c']");
    expect("{{ '  x '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '\\n\\na'.lstrip() }}|{{ 'a  '.rstrip() }}|"
           "{{ 'aXa'.replace('a', 'b') }}|{{ 'Ab'.upper() }}{{ 'Ab'.lower() }}|{{ 'hello wORLD'.title() }}",
           "x|a|a|a|bXb|ABab|Hello World");
    expect("{{ {'a': 1}.get('a') }}{{ {'a': 1}.get('b') }}{{ {'a': 1}.get('b', 2) }}|{{ {'a': 1}.keys() | list }}"
           "{{ {'a': 1}.values() | list }}|{{ 'a-b'.find('-') }}{{ ','.join(['x', 'y']) }}",
           "1None2|['a'][1]|1x,y");
    expect("{{ 'x</think>y'.split('</think>')[-1] }}|{{ ('<think>\\nr\\n' ~ '</think>').split('<think>')[-1].strip('\\n') }}",
           "y|r\n</think>");
    /* globals */
    expect("{{ strftime_now('%Y-%m-%d %b') }}|{{ bos_token }}{{ eos_token }}|{{ add_generation_prompt }}",
           "2024-07-26 Jul|<s></s>|True");
    expect("{{ dict(a=1) }}{{ namespace(x=1).x }}{{ range(3) | list }}", "{'a': 1}1[0, 1, 2]");
    expect("{% generation %}G{% endgeneration %}", "G");
}

/* ---------------------------------------------------------------- errors */

static void expect_error(const char *t, ingot_status want_st, const char *want_sub) {
    char err[512] = "";
    ingot_status st;
    char *out = render(t, err, sizeof err, &st);
    if (st == INGOT_OK) fail_msg("template %.60s rendered (\"%.60s\"), expected an error", t, out);
    assert_null(out);
    if (want_st && st != want_st) fail_msg("template %.60s: status %d, expected %d (%s)", t, st, want_st, err);
    if (want_sub && !strstr(err, want_sub)) fail_msg("template %.60s: message \"%s\" lacks \"%s\"", t, err, want_sub);
}

static void errors(void **state) {
    (void)state;
    expect_error("{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}",
                 INGOT_ERR_FORMAT, "line 1, column 44: the template raised an error: System role not supported");
    expect_error("ok\n{{ 'a' | nosuchfilter }}", INGOT_ERR_FORMAT, "line 2, column 10: unknown filter 'nosuchfilter'");
    expect_error("{{ 1 is nosuchtest }}", INGOT_ERR_FORMAT, "unknown test 'nosuchtest'");
    expect_error("{{ 'a'.nosuchmethod() }}", INGOT_ERR_FORMAT, "no method 'nosuchmethod'");
    expect_error("{{ nosuchfunc() }}", INGOT_ERR_FORMAT, "'nosuchfunc' is undefined");
    expect_error("{{ x.y }}", INGOT_ERR_FORMAT, "'x' is undefined");
    expect_error("{{ 1 + 'a' }}", INGOT_ERR_FORMAT, "unsupported operand");
    expect_error("{{ 1 // 0 }}", INGOT_ERR_FORMAT, "by zero");
    expect_error("{% set x.y = 1 %}", INGOT_ERR_FORMAT, "not a namespace");
    /* malformed templates */
    const char *bad[] = {"{% if true %}x", "{% for x in y %}", "{{ 1 + }}", "{{ 'abc }}", "{% endif %}",
                         "{% if %}{% endif %}", "{{ (1 }}", "{{ [1, 2 }}", "{% frobnicate %}", "{{ 1 ", "{# open",
                         "{% set %}", "{% macro m( %}{% endmacro %}", "{{ a.1b }}", "{% for in x %}{% endfor %}",
                         "{{ {'a' 1} }}", "{% else %}", "{% raw %}never closed", "{{ 99999999999999999999 }}",
                         "{{ '\\x4' }}", "{% if true %}{% elif %}{% endif %}", "{{ a | }}", "{{ a is }}", "{{ }}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) expect_error(bad[i], INGOT_ERR_FORMAT, "line 1, column");
    /* limits */
    expect_error("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", INGOT_ERR_LIMIT,
                 "loop iterations");
    expect_error("{{ range(100000000) | length }}", INGOT_ERR_LIMIT, "range()");
    expect_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", INGOT_ERR_LIMIT, "macro calls nest");
    expect_error("{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
                 "{% endfor %}{{ ns.s }}",
                 INGOT_ERR_LIMIT, NULL);
    expect_error("{% for i in range(1000000) %}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}",
                 INGOT_ERR_LIMIT, "output");
    char *deep = calloc(1, 200016);
    strcpy(deep, "{{ ");
    memset(deep + 3, '(', 50000);
    strcat(deep, "1");
    memset(deep + strlen(deep), ')', 50000);
    strcat(deep, " }}");
    expect_error(deep, INGOT_ERR_LIMIT, "deeper");
    memset(deep, 0, 200016);
    for (int i = 0; i < 5000; i++) strcat(deep, "{% if true %}");
    expect_error(deep, INGOT_ERR_LIMIT, "deeper");
    free(deep);
    /* no template on a model that has one: the plain fallback is covered by the server test */
    char *out = NULL, err[128];
    assert_int_equal(ingot_chat_render_template(NULL, MSGS, 1, 1, NULL, NULL, 0, &out, err, sizeof err),
                     INGOT_ERR_INVALID_ARG);
    assert_int_equal(ingot_chat_render_template("x", MSGS, -1, 1, NULL, NULL, 0, &out, err, sizeof err),
                     INGOT_ERR_INVALID_ARG);
}

/* Mutations of the real templates must render or fail cleanly (run under ASan/UBSan). */
static void mutations(void **state) {
    (void)state;
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    static const char *const frags[] = {"{{", "}}", "{%", "%}", "{#", "#}", "-", "(", ")", "[", "]", "'", "\"",
                                        "|", ".", "for ", "if ", "endfor", "endif", "loop.", "ns.", "[::-1]",
                                        "raise_exception(", "{% for x in range(99) %}", "~", "**", "\\"};
    int n_ok = 0, n_err = 0;
    for (size_t k = 0; k < sizeof CASES / sizeof *CASES; k++) {
        char path[1024];
        data_path(path, sizeof path, CASES[k], ".jinja");
        size_t len;
        char *tmpl = read_file(path, &len);
        assert_non_null(tmpl);
        char *buf = malloc(len + 64);
        for (int it = 0; it < 60; it++) {
            memcpy(buf, tmpl, len + 1);
            size_t bl = len;
            for (int m = 0; m < 3; m++) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                size_t pos = bl ? (size_t)(rng >> 33) % bl : 0;
                int op = (int)((rng >> 20) % 3);
                if (op == 0 && bl > 0) { /* delete a span */
                    size_t span = 1 + (rng >> 40) % 8;
                    if (pos + span > bl) span = bl - pos;
                    memmove(buf + pos, buf + pos + span, bl - pos - span + 1);
                    bl -= span;
                } else { /* insert a fragment */
                    const char *f = frags[(rng >> 45) % (sizeof frags / sizeof *frags)];
                    size_t fl = strlen(f);
                    if (bl + fl + 1 > len + 64) continue;
                    memmove(buf + pos + fl, buf + pos, bl - pos + 1);
                    memcpy(buf + pos, f, fl);
                    bl += fl;
                }
            }
            char *out = NULL, err[512];
            ingot_status st = ingot_chat_render_template(buf, MSGS, 4, it & 1, "<s>", "</s>", 0, &out, err, sizeof err);
            if (st == INGOT_OK) n_ok++, assert_non_null(out);
            else n_err++, assert_null(out), assert_true(err[0] != 0);
            free(out);
        }
        free(buf), free(tmpl);
    }
    fprintf(stderr, "mutations: %d rendered, %d errors\n", n_ok, n_err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(real_templates), cmocka_unit_test(smollm2_gguf), cmocka_unit_test(features),
        cmocka_unit_test(errors), cmocka_unit_test(mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
