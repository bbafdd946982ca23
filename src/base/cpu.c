/*
 * cpu.c: run-time CPU feature detection (CPUID + XGETBV on x86, HWCAP on Arm)
 * and the INGOT_ISA cap (scalar|avx2|avx512) that lets tests run every kernel
 * tier on one machine. Read once; the result never changes during a process.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
static unsigned long long xgetbv0(void) {
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}
static unsigned detect(void) {
    unsigned a, b, c, d, f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx) return 0;
    unsigned long long xcr0 = xgetbv0();
    int ymm_ok = (xcr0 & 6) == 6, zmm_ok = (xcr0 & 0xe6) == 0xe6;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1;
    int avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1,
        avx512vl = (b >> 31) & 1, vnni = (c >> 11) & 1;
    if (ymm_ok && avx2 && fma && f16c) f |= IT_CPU_AVX2;
    if ((f & IT_CPU_AVX2) && zmm_ok && avx512f && avx512dq && avx512bw && avx512vl) {
        f |= IT_CPU_AVX512;
        if (vnni) f |= IT_CPU_VNNI;
        __cpuid_count(7, 1, a, b, c, d);
        if ((a >> 5) & 1) f |= IT_CPU_BF16;
    }
    __cpuid_count(7, 1, a, b, c, d);
    if (ymm_ok && ((a >> 4) & 1)) f |= IT_CPU_AVXVNNI;
    return f;
}
#elif defined(__aarch64__)
#include <sys/auxv.h>
static unsigned detect(void) {
    unsigned f = IT_CPU_NEON;
#ifdef HWCAP_ASIMDDP
    if (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) f |= IT_CPU_DOTPROD;
#endif
    return f;
}
#else
static unsigned detect(void) { return 0; }
#endif

static pthread_once_t once = PTHREAD_ONCE_INIT;
static unsigned features;

static void init(void) {
    unsigned f = detect();
    const char *cap = getenv("INGOT_ISA");
    if (cap) {
        if (!strcmp(cap, "scalar"))
            f &= ~(unsigned)(IT_CPU_AVX2 | IT_CPU_AVX512 | IT_CPU_VNNI | IT_CPU_BF16 | IT_CPU_AVXVNNI);
        else if (!strcmp(cap, "avx2"))
            f &= ~(unsigned)(IT_CPU_AVX512 | IT_CPU_VNNI | IT_CPU_BF16);
        else if (strcmp(cap, "avx512") && strcmp(cap, "native") && strcmp(cap, ""))
            fprintf(stderr, "ingot warn: INGOT_ISA=%s is not one of scalar|avx2|avx512; ignored\n", cap);
    }
    features = f;
}

unsigned it_cpu_features(void) {
    pthread_once(&once, init);
    return features;
}

int it_cpu_isa(void) {
    unsigned f = it_cpu_features();
    if (f & IT_CPU_AVX512) return IT_ISA_AVX512;
    if (f & IT_CPU_AVX2) return IT_ISA_AVX2;
    return IT_ISA_SCALAR;
}

const char *it_cpu_isa_name(int isa) {
    switch (isa) {
    case IT_ISA_AVX512: return "avx512";
    case IT_ISA_AVX2: return "avx2";
    default: return "scalar";
    }
}

const char *ingot_isa_name(void) { return it_cpu_isa_name(it_cpu_isa()); }

const char *it_cpu_model_name(char *buf, size_t n) {
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return buf;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "model name", 10)) {
            char *p = strchr(line, ':');
            if (p) {
                p++;
                while (*p == ' ') p++;
                size_t l = strcspn(p, "\n");
                snprintf(buf, n, "%.*s", (int)l, p);
            }
            break;
        }
    }
    fclose(f);
    return buf;
}
