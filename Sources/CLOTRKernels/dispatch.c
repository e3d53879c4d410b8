/* Chooses the kernel path once per process: LOTR_KERNELS forces one, else the best the
 * CPU has. ARM features come from getauxval(AT_HWCAP); x86 from cpuid (with the OS's
 * YMM state check of __builtin_cpu_supports("avx2")). */
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "internal.h"

#if defined(__aarch64__) || defined(__arm__)
#include <sys/auxv.h>
#endif
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__aarch64__)
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#elif defined(__arm__)
#ifndef HWCAP_NEON
#define HWCAP_NEON (1 << 12)
#endif
#endif

static const char* const isa_names[LOTR_ISA_COUNT] = {
    [LOTR_ISA_REF] = "ref",     [LOTR_ISA_NEON] = "neon", [LOTR_ISA_NEONDOT] = "neondot",
    [LOTR_ISA_ARMV7] = "armv7", [LOTR_ISA_AVX2] = "avx2",   [LOTR_ISA_AVXVNNI] = "avxvnni",
};

const char* lotr_isa_name(lotr_isa isa) {
  return (unsigned)isa < LOTR_ISA_COUNT ? isa_names[isa] : "unknown";
}

int lotr_isa_from_name(const char* name, lotr_isa* isa) {
  if (name == NULL) return -1;
  for (int i = 0; i < LOTR_ISA_COUNT; i++) {
    if (strcmp(name, isa_names[i]) == 0) {
      *isa = (lotr_isa)i;
      return 0;
    }
  }
  return -1;
}

lotr_isa lotr_kernels_isa(const lotr_kernels* kernels) { return kernels->isa; }

#if defined(__x86_64__)
static int x86_has_avx2(void) {
  __builtin_cpu_init();
  /* The avx2 kernels are built for AVX2 + FMA (x86/x86_target.h); the check includes the
   * OS's XSAVE/YMM state. */
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* AVX-VNNI: CPUID.(EAX=7, ECX=1):EAX bit 4, read directly rather than through
 * __builtin_cpu_supports("avxvnni"), whose answer depends on the libgcc/compiler-rt
 * linked in. The VEX form works on YMM registers, so it also needs AVX2's OS support. */
static int x86_has_avxvnni(void) {
  unsigned eax, ebx, ecx, edx;
  if (!x86_has_avx2() || !__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) return 0;
  return (eax >> 4) & 1;
}
#endif

static int cpu_supports(lotr_isa isa) {
  switch (isa) {
    case LOTR_ISA_REF:
      return 1;
#if defined(__aarch64__)
    case LOTR_ISA_NEON:
      return (getauxval(AT_HWCAP) & HWCAP_ASIMD) != 0;
    case LOTR_ISA_NEONDOT:
      return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#elif defined(__arm__)
    case LOTR_ISA_ARMV7:
      return (getauxval(AT_HWCAP) & HWCAP_NEON) != 0;
#elif defined(__x86_64__)
    case LOTR_ISA_AVX2:
      return x86_has_avx2();
    case LOTR_ISA_AVXVNNI:
      return x86_has_avxvnni();
#endif
    default:
      return 0;
  }
}

static struct lotr_kernels tables[LOTR_ISA_COUNT];
static int table_supported[LOTR_ISA_COUNT];
static const lotr_kernels* default_kernels;
static const char* default_error;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_tables(void) {
  for (int i = 0; i < LOTR_ISA_COUNT; i++) {
    if (!cpu_supports((lotr_isa)i)) continue;
    tables[i].isa = (lotr_isa)i;
    lotr_gemm_config_init(&tables[i].gemm, (lotr_isa)i);
    lotr_dwconv_config_init(&tables[i].dwconv, (lotr_isa)i);
    lotr_vector_config_init(&tables[i].vector, (lotr_isa)i);
    table_supported[i] = 1;
  }
  /* Preference: the most specific path the CPU has. */
  static const lotr_isa preference[] = {LOTR_ISA_NEONDOT, LOTR_ISA_NEON, LOTR_ISA_ARMV7,
                                        LOTR_ISA_AVXVNNI, LOTR_ISA_AVX2, LOTR_ISA_REF};
  const char* forced = getenv("LOTR_KERNELS");
  if (forced != NULL && forced[0] != '\0') {
    lotr_isa isa;
    if (lotr_isa_from_name(forced, &isa) != 0) {
      default_error = "LOTR_KERNELS names an unknown path (expected ref, neon, neondot, armv7, avx2 or avxvnni)";
    } else if (!table_supported[isa]) {
      default_error = "LOTR_KERNELS names a path this build or CPU does not support";
    } else {
      default_kernels = &tables[isa];
    }
    return;
  }
  for (size_t i = 0; i < sizeof(preference) / sizeof(preference[0]); i++) {
    if (table_supported[preference[i]]) {
      default_kernels = &tables[preference[i]];
      break;
    }
  }
}

const lotr_kernels* lotr_kernels_for(lotr_isa isa) {
  pthread_once(&init_once, init_tables);
  if ((unsigned)isa >= LOTR_ISA_COUNT || !table_supported[isa]) return NULL;
  return &tables[isa];
}

const lotr_kernels* lotr_kernels_default(const char** error) {
  pthread_once(&init_once, init_tables);
  if (default_kernels == NULL && error != NULL) *error = default_error;
  return default_kernels;
}
