/* A persistent pthread pool: workers sleep on a condition variable between runs and pull
 * task indices from one atomic counter (the caller pulls too), so an uneven split never
 * idles a core. Which thread runs an index never changes its result: every task writes
 * only its own outputs. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "lotr_kernels.h"

struct lotr_threadpool {
  size_t threads;          /* including the caller */
  pthread_t* workers;      /* threads - 1 */
  pthread_mutex_t mutex;
  pthread_cond_t wake;     /* a new run or shutdown */
  pthread_cond_t done;     /* the last worker left a run */
  uint64_t generation;     /* bumped per run */
  size_t active;           /* workers still inside the current run */
  int shutdown;
  /* the current run */
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

static void* worker_main(void* arg) {
  struct lotr_threadpool* pool = arg;
  uint64_t seen = 0;
  pthread_mutex_lock(&pool->mutex);
  for (;;) {
    while (!pool->shutdown && pool->generation == seen) pthread_cond_wait(&pool->wake, &pool->mutex);
    if (pool->shutdown) break;
    seen = pool->generation;
    pthread_mutex_unlock(&pool->mutex);
    drain(pool);
    pthread_mutex_lock(&pool->mutex);
    if (--pool->active == 0) pthread_cond_signal(&pool->done);
  }
  pthread_mutex_unlock(&pool->mutex);
  return NULL;
}

lotr_threadpool* lotr_threadpool_create(size_t threads) {
  if (threads == 0) threads = 1;
  struct lotr_threadpool* pool = calloc(1, sizeof(*pool));
  if (pool == NULL) return NULL;
  pool->threads = 1;
  pthread_mutex_init(&pool->mutex, NULL);
  pthread_cond_init(&pool->wake, NULL);
  pthread_cond_init(&pool->done, NULL);
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
  pool->shutdown = 1;
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->mutex);
  for (size_t i = 0; i + 1 < pool->threads; i++) pthread_join(pool->workers[i], NULL);
  pthread_cond_destroy(&pool->done);
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
  pthread_mutex_lock(&pool->mutex);
  pool->task = task;
  pool->context = context;
  pool->count = count;
  atomic_store_explicit(&pool->next, 0, memory_order_relaxed);
  pool->active = pool->threads - 1;
  pool->generation++;
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->mutex);

  drain(pool);

  pthread_mutex_lock(&pool->mutex);
  while (pool->active != 0) pthread_cond_wait(&pool->done, &pool->mutex);
  pthread_mutex_unlock(&pool->mutex);
}
