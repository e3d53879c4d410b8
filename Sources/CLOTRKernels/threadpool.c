/* A persistent pthread pool: workers pull task indices from one atomic counter (the
 * caller pulls too), so an uneven split never idles a core. Which thread runs an index
 * never changes its result: every task writes only its own outputs.
 *
 * A network runs dozens of kernels back to back, each a few tens of microseconds, so a
 * futex sleep and wake per call would cost more than the split gains. Between runs a
 * worker therefore spins on the run counter for a short while (SPIN_ROUNDS, ~50 us)
 * before it sleeps on the condition variable; the caller likewise spins, then yields,
 * while the last workers finish. Between frames everyone sleeps. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "lotr_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__) || defined(__arm__)
#define CPU_RELAX() __asm__ __volatile__("yield" ::: "memory")
#else
#define CPU_RELAX() ((void)0)
#endif

/* Spin rounds before a worker sleeps, and before the caller starts yielding. */
#define SPIN_ROUNDS 20000

struct lotr_threadpool {
  size_t threads;          /* including the caller */
  pthread_t* workers;      /* threads - 1 */
  pthread_mutex_t mutex;
  pthread_cond_t wake;     /* a new run or shutdown, for sleeping workers */
  atomic_uint_fast64_t generation; /* bumped per run */
  atomic_size_t active;    /* workers still inside the current run */
  size_t sleepers;         /* workers waiting on `wake` (under mutex) */
  atomic_int shutdown;
  /* the current run (written before `generation` is bumped) */
  lotr_task_fn task;
  void* context;
  size_t count;
  atomic_size_t next;
};

static void drain(struct lotr_threadpool* pool) {
  for (;;) {
    size_t i = atomic_fetch_add_explicit(&pool->next, 1, memory_order_relaxed);
    if (i >= pool->count) return;
    pool->task(pool->context, i);
  }
}

/* Waits for a generation other than `seen`: spins first, then sleeps. Returns 0 on shutdown. */
static int wait_for_run(struct lotr_threadpool* pool, uint64_t seen) {
  for (int i = 0; i < SPIN_ROUNDS; i++) {
    if (atomic_load_explicit(&pool->shutdown, memory_order_acquire)) return 0;
    if (atomic_load_explicit(&pool->generation, memory_order_acquire) != seen) return 1;
    CPU_RELAX();
  }
  pthread_mutex_lock(&pool->mutex);
  pool->sleepers++;
  while (!atomic_load_explicit(&pool->shutdown, memory_order_acquire) &&
         atomic_load_explicit(&pool->generation, memory_order_acquire) == seen) {
    pthread_cond_wait(&pool->wake, &pool->mutex);
  }
  pool->sleepers--;
  pthread_mutex_unlock(&pool->mutex);
  return !atomic_load_explicit(&pool->shutdown, memory_order_acquire);
}

static void* worker_main(void* arg) {
  struct lotr_threadpool* pool = arg;
  uint64_t seen = 0;
  while (wait_for_run(pool, seen)) {
    seen = atomic_load_explicit(&pool->generation, memory_order_acquire);
    drain(pool);
    atomic_fetch_sub_explicit(&pool->active, 1, memory_order_release);
  }
  return NULL;
}

lotr_threadpool* lotr_threadpool_create(size_t threads) {
  if (threads == 0) threads = 1;
  struct lotr_threadpool* pool = calloc(1, sizeof(*pool));
  if (pool == NULL) return NULL;
  pool->threads = 1;
  pthread_mutex_init(&pool->mutex, NULL);
  pthread_cond_init(&pool->wake, NULL);
  atomic_init(&pool->generation, 0);
  atomic_init(&pool->active, 0);
  atomic_init(&pool->shutdown, 0);
  atomic_init(&pool->next, 0);
  if (threads > 1) {
    pool->workers = calloc(threads - 1, sizeof(pthread_t));
    if (pool->workers == NULL) {
      lotr_threadpool_destroy(pool);
      return NULL;
    }
    for (size_t i = 0; i + 1 < threads; i++) {
      if (pthread_create(&pool->workers[i], NULL, worker_main, pool) != 0) {
        lotr_threadpool_destroy(pool);
        return NULL;
      }
      pool->threads++;
    }
  }
  return pool;
}

void lotr_threadpool_destroy(lotr_threadpool* pool) {
  if (pool == NULL) return;
  pthread_mutex_lock(&pool->mutex);
  atomic_store_explicit(&pool->shutdown, 1, memory_order_release);
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->mutex);
  for (size_t i = 0; i + 1 < pool->threads; i++) pthread_join(pool->workers[i], NULL);
  pthread_cond_destroy(&pool->wake);
  pthread_mutex_destroy(&pool->mutex);
  free(pool->workers);
  free(pool);
}

size_t lotr_threadpool_threads(const lotr_threadpool* pool) { return pool == NULL ? 1 : pool->threads; }

void lotr_threadpool_run(lotr_threadpool* pool, size_t count, lotr_task_fn task, void* context) {
  if (count == 0) return;
  if (pool == NULL || pool->threads == 1 || count == 1) {
    for (size_t i = 0; i < count; i++) task(context, i);
    return;
  }
  pool->task = task;
  pool->context = context;
  pool->count = count;
  atomic_store_explicit(&pool->next, 0, memory_order_relaxed);
  atomic_store_explicit(&pool->active, pool->threads - 1, memory_order_relaxed);
  /* Publishes the run to spinning workers (release pairs with their acquire)... */
  atomic_fetch_add_explicit(&pool->generation, 1, memory_order_acq_rel);
  /* ...and wakes sleeping ones; a worker checks the generation under the mutex before it
   * sleeps, so none can miss this run. */
  pthread_mutex_lock(&pool->mutex);
  if (pool->sleepers > 0) pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->mutex);

  drain(pool);

  for (int i = 0; atomic_load_explicit(&pool->active, memory_order_acquire) != 0; i++) {
    if (i < SPIN_ROUNDS) CPU_RELAX();
    else sched_yield();
  }
}
