#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lotr_kernel_tester.h"

#define MAX_MESSAGES 12

static const struct {
  const char* name;
  lotr_test_suite_fn fn;
} suites[] = {
    {"threadpool", lotr_test_suite_threadpool},
    {"requant", lotr_test_suite_requant},
    {"gemm", lotr_test_suite_gemm},
    {"conv", lotr_test_suite_conv},
    {"elementwise", lotr_test_suite_elementwise},
    {"float", lotr_test_suite_float},
    {"attention", lotr_test_suite_attention},
    {"pixels", lotr_test_suite_pixels},
    {"warp", lotr_test_suite_warp},
};

static void close_case(lotr_test_ctx* t) {
  if (t->case_name[0] == '\0') return;
  if (t->case_failed) t->cases_failed++;
  else t->cases_passed++;
  t->case_name[0] = '\0';
  t->case_failed = 0;
}

void lotr_test_case(lotr_test_ctx* t, const char* fmt, ...) {
  close_case(t);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->case_name, sizeof(t->case_name), fmt, ap);
  va_end(ap);
  if (t->case_name[0] == '\0') strcpy(t->case_name, "?");
  if (t->verbose) printf("  [%s/%s] %s\n", t->suite, t->isa, t->case_name);
}

void lotr_test_fail(lotr_test_ctx* t, const char* file, int line, const char* fmt, ...) {
  if (t->case_name[0] == '\0') strcpy(t->case_name, "(no case)");
  t->case_failed = 1;
  if (t->messages_printed++ >= MAX_MESSAGES) return;
  printf("FAIL [%s/%s] %s: ", t->suite, t->isa, t->case_name);
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf(" (%s:%d)\n", file, line);
}

/* splitmix64: small, fast, and the same on every platform. */
static uint64_t splitmix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint32_t lotr_test_u32(lotr_test_ctx* t) { return (uint32_t)(splitmix64(&t->rng) >> 32); }

int32_t lotr_test_int(lotr_test_ctx* t, int32_t lo, int32_t hi) {
  const uint64_t span = (uint64_t)((int64_t)hi - (int64_t)lo) + 1;
  return (int32_t)((int64_t)lo + (int64_t)(splitmix64(&t->rng) % span));
}

float lotr_test_float(lotr_test_ctx* t, float lo, float hi) {
  const float u = (float)(lotr_test_u32(t) >> 8) * (1.0f / 16777216.0f);
  return lo + (hi - lo) * u;
}

void lotr_test_fill_i8(lotr_test_ctx* t, int8_t* x, size_t n, int32_t lo, int32_t hi) {
  for (size_t i = 0; i < n; i++) x[i] = (int8_t)lotr_test_int(t, lo, hi);
}

void lotr_test_fill_f32(lotr_test_ctx* t, float* x, size_t n, float lo, float hi) {
  for (size_t i = 0; i < n; i++) x[i] = lotr_test_float(t, lo, hi);
}

void* lotr_test_alloc(size_t bytes) {
  void* p = NULL;
  if (posix_memalign(&p, 64, bytes == 0 ? 64 : (bytes + 63) / 64 * 64) != 0) {
    fprintf(stderr, "lotr_test_alloc: out of memory (%zu bytes)\n", bytes);
    abort();
  }
  memset(p, 0, bytes == 0 ? 64 : (bytes + 63) / 64 * 64);
  return p;
}

void lotr_test_free(void* p) { free(p); }

static uint64_t hash_name(uint64_t h, const char* s) {
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001B3ull;
  return h;
}

lotr_test_summary lotr_kernel_tests_run(const char* suite, const char* isa, const char* expect_default_isa) {
  lotr_test_summary summary = {0, 0, 0};
  const char* seed_env = getenv("LOTR_TEST_SEED");
  uint64_t seed = seed_env != NULL && seed_env[0] != '\0' ? strtoull(seed_env, NULL, 0)
                                                          : ((uint64_t)time(NULL) ^ ((uint64_t)clock() << 32));
  summary.seed = seed;
  const int verbose = getenv("LOTR_TEST_VERBOSE") != NULL;
  printf("kernel tests: seed %" PRIu64 " (replay with LOTR_TEST_SEED=%" PRIu64 ")\n", seed, seed);

  const char* error = NULL;
  const lotr_kernels* chosen = lotr_kernels_default(&error);
  printf("kernel tests: default path %s%s%s\n", chosen ? lotr_isa_name(lotr_kernels_isa(chosen)) : "(none)",
         error ? ": " : "", error ? error : "");
  if (expect_default_isa != NULL && expect_default_isa[0] != '\0') {
    const int ok = chosen != NULL && strcmp(lotr_isa_name(lotr_kernels_isa(chosen)), expect_default_isa) == 0;
    if (ok) summary.passed++;
    else {
      summary.failed++;
      printf("FAIL [dispatch] expected default path %s\n", expect_default_isa);
    }
  }

  const lotr_kernels* ref = lotr_kernels_for(LOTR_ISA_REF);
  lotr_test_ctx t;
  memset(&t, 0, sizeof(t));
  t.seed = seed;
  t.verbose = verbose;
  for (size_t p = 0; p < LOTR_TEST_MAX_THREADS; p++) {
    t.pools[p] = lotr_threadpool_create(p + 1);
    if (t.pools[p] == NULL) {
      printf("FAIL [setup] cannot create a %zu-thread pool\n", p + 1);
      summary.failed++;
      return summary;
    }
  }
  for (int i = 0; i < LOTR_ISA_COUNT; i++) {
    const lotr_kernels* kernels = lotr_kernels_for((lotr_isa)i);
    if (kernels == NULL) continue;
    if (isa != NULL && isa[0] != '\0' && strcmp(isa, lotr_isa_name((lotr_isa)i)) != 0) continue;
    for (size_t s = 0; s < sizeof(suites) / sizeof(suites[0]); s++) {
      if (suite != NULL && suite[0] != '\0' && strcmp(suite, suites[s].name) != 0) continue;
      t.suite = suites[s].name;
      t.isa = lotr_isa_name((lotr_isa)i);
      t.rng = hash_name(hash_name(seed ^ 0xCBF29CE484222325ull, t.suite), t.isa);
      t.cases_passed = t.cases_failed = 0;
      t.messages_printed = 0;
      t.case_name[0] = '\0';
      t.case_failed = 0;
      suites[s].fn(&t, kernels, ref);
      close_case(&t);
      printf("  %-12s %-8s %4d passed, %d failed\n", t.suite, t.isa, t.cases_passed, t.cases_failed);
      summary.passed += t.cases_passed;
      summary.failed += t.cases_failed;
    }
  }
  for (size_t p = 0; p < LOTR_TEST_MAX_THREADS; p++) lotr_threadpool_destroy(t.pools[p]);
  fflush(stdout);
  return summary;
}
