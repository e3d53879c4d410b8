/* The pool runs every index exactly once, for any thread count and task count. */
#include <stdatomic.h>

#include "lotr_kernel_tester.h"

typedef struct {
  atomic_int* hits;
} hit_context;

static void hit(void* context, size_t index) {
  hit_context* c = context;
  atomic_fetch_add(&c->hits[index], 1);
}

void lotr_test_suite_threadpool(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref) {
  (void)ref;
  if (lotr_kernels_isa(kernels) != LOTR_ISA_REF) return; /* path-independent: test once */
  static const size_t counts[] = {0, 1, 2, 3, 7, 64, 1000};
  for (size_t p = 0; p <= LOTR_TEST_MAX_THREADS; p++) {
    lotr_threadpool* pool = p == LOTR_TEST_MAX_THREADS ? NULL : t->pools[p];
    for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
      lotr_test_case(t, "threads=%zu count=%zu", lotr_threadpool_threads(pool), counts[c]);
      atomic_int* hits = lotr_test_alloc(sizeof(atomic_int) * (counts[c] + 1));
      for (int repeat = 0; repeat < 3; repeat++) {
        for (size_t i = 0; i < counts[c]; i++) atomic_store(&hits[i], 0);
        hit_context context = {hits};
        lotr_threadpool_run(pool, counts[c], hit, &context);
        for (size_t i = 0; i < counts[c]; i++)
          LOTR_EXPECT(t, atomic_load(&hits[i]) == 1, "index %zu ran %d times", i, atomic_load(&hits[i]));
      }
      lotr_test_free(hits);
    }
  }
}
