/* The kernel test harness: the same C sources run in `swift test` (through the
 * CLOTRKernelsTests XCTest target) and, cross-compiled, under qemu-aarch64/qemu-arm
 * (main/run_kernel_tests.c). Each suite checks one concern of an ISA path against the
 * scalar reference, bit-exactly for integer outputs.
 *
 * Randomness: one 64-bit seed per run, printed; LOTR_TEST_SEED=<n> replays it. Each
 * (suite, ISA) pair derives its own stream, so a failure replays in isolation. */
#ifndef LOTR_KERNEL_TESTER_H
#define LOTR_KERNEL_TESTER_H

#include <stddef.h>
#include <stdint.h>

#include "lotr_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LOTR_TEST_MAX_THREADS 4

typedef struct lotr_test_ctx {
  uint64_t seed;       /* the run's seed (printed) */
  uint64_t rng;        /* this suite's stream */
  const char* suite;
  const char* isa;
  char case_name[200];
  int case_failed;
  int cases_passed, cases_failed;
  int messages_printed;
  int verbose;
  /* pools[t] has t+1 threads, t in [0, LOTR_TEST_MAX_THREADS) */
  lotr_threadpool* pools[LOTR_TEST_MAX_THREADS];
} lotr_test_ctx;

/* Starts a new test case (closing the previous one); the name appears in failures. */
void lotr_test_case(lotr_test_ctx* t, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records a failure of the current case with a message (the first few are printed). */
void lotr_test_fail(lotr_test_ctx* t, const char* file, int line, const char* fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define LOTR_EXPECT(t, cond, ...)                                 \
  do {                                                            \
    if (!(cond)) lotr_test_fail((t), __FILE__, __LINE__, __VA_ARGS__); \
  } while (0)

uint32_t lotr_test_u32(lotr_test_ctx* t);
/* Uniform in [lo, hi] inclusive. */
int32_t lotr_test_int(lotr_test_ctx* t, int32_t lo, int32_t hi);
float lotr_test_float(lotr_test_ctx* t, float lo, float hi);
void lotr_test_fill_i8(lotr_test_ctx* t, int8_t* x, size_t n, int32_t lo, int32_t hi);
void lotr_test_fill_f32(lotr_test_ctx* t, float* x, size_t n, float lo, float hi);
/* 64-byte aligned, zeroed; aborts on failure. Free with lotr_test_free. */
void* lotr_test_alloc(size_t bytes);
void lotr_test_free(void* p);

/* A suite tests `kernels` (any path, ref included) against `ref`. */
typedef void (*lotr_test_suite_fn)(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref);

/* Suites, one per concern (tests/…/test_<suite>.c). */
void lotr_test_suite_threadpool(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref);
void lotr_test_suite_requant(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref);
void lotr_test_suite_gemm(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref);
void lotr_test_suite_conv(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref);
void lotr_test_suite_elementwise(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref);
void lotr_test_suite_float(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref);
void lotr_test_suite_attention(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref);
void lotr_test_suite_pixels(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref);
void lotr_test_suite_warp(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref);

typedef struct {
  int passed, failed;
  uint64_t seed;
} lotr_test_summary;

/* Runs the suites whose names match `suite` (NULL or "" = all) on every supported path
 * whose name matches `isa` (NULL or "" = all), printing progress and failures to stdout.
 * Also asserts that the default path is the one `expect_default_isa` names, when given
 * (how the qemu runs check that dispatch picks neon on a CPU without SDOT). */
lotr_test_summary lotr_kernel_tests_run(const char* suite, const char* isa, const char* expect_default_isa);

#ifdef __cplusplus
}
#endif
#endif
