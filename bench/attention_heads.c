/* The attention core of one ATTENTION node on LOTR's shapes (4 heads; lotr-s: D = 96,
 * lotr-m: D = 128): the fused lotr_f32_attention against what the runtime ran before it,
 * per head an OpenBLAS SGEMM for Q K^T, lotr_f32_softmax and an SGEMM for P V. Best of 5
 * batches of 2000 calls, 1 thread, the default kernel path (LOTR_KERNELS forces one).
 *   K=Sources/CLOTRKernels; clang -O2 -std=gnu11 -I$K/include -I$K bench/attention_heads.c \
 *      $K/{,ref/,x86/,arm/}*.c -lopenblas -lm -lpthread -o /tmp/attention_heads && /tmp/attention_heads
 * (clang: what SwiftPM builds the kernels with.) */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lotr_kernels.h"

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(void) {
  static const struct { const char* name; int queries, keys, d; } shapes[] = {
      {"lotr-s enc self", 36, 36, 96},  {"lotr-s dec cross", 68, 36, 96},  {"lotr-s dec self", 68, 68, 96},
      {"lotr-m enc self", 25, 25, 128}, {"lotr-m dec cross", 68, 25, 128}, {"lotr-m dec self", 68, 68, 128},
  };
  const char* error = NULL;
  const lotr_kernels* kernels = lotr_kernels_default(&error);
  if (kernels == NULL) { fprintf(stderr, "%s\n", error); return 1; }
  openblas_set_num_threads(1);
  printf("kernels %s; us per node (GMAC/s of Q K^T + P V)\n", lotr_isa_name(lotr_kernels_isa(kernels)));
  printf("| shape | queries x keys, D | OpenBLAS SGEMMs + softmax | fused | speed-up |\n| --- | --- | ---: | ---: | ---: |\n");
  for (size_t n = 0; n < sizeof(shapes) / sizeof(shapes[0]); n++) {
    const int lq = shapes[n].queries, lk = shapes[n].keys, d = shapes[n].d, heads = 4, dh = d / heads;
    float* q = malloc(sizeof(float) * lq * d);
    float* k = malloc(sizeof(float) * lk * d);
    float* v = malloc(sizeof(float) * lk * d);
    float* y = malloc(sizeof(float) * lq * d);
    float* scores = malloc(sizeof(float) * lq * lk);
    void* scratch = aligned_alloc(64, (lotr_f32_attention_scratch_size(lk, dh, heads) + 63) / 64 * 64);
    for (int i = 0; i < lq * d; i++) q[i] = sinf((float)i);
    for (int i = 0; i < lk * d; i++) k[i] = cosf((float)i), v[i] = sinf(0.3f * (float)i);
    const float scale = 1.0f / sqrtf((float)dh);
    const int calls = 2000;
    double blas = 1e9, fused = 1e9;
    for (int batch = 0; batch < 5; batch++) {
      double t0 = seconds();
      for (int c = 0; c < calls; c++)
        for (int h = 0; h < heads; h++) {
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, lq, lk, dh, scale, q + h * dh, d, k + h * dh, d, 0,
                      scores, lk);
          lotr_f32_softmax(kernels, lq, lk, scores, scores);
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, lq, dh, lk, 1, scores, lk, v + h * dh, d, 0,
                      y + h * dh, d);
        }
      double t1 = seconds();
      for (int c = 0; c < calls; c++)
        lotr_f32_attention(kernels, NULL, lq, lk, heads, dh, scale, q, d, k, v, d, y, d, scratch);
      double t2 = seconds();
      blas = fmin(blas, (t1 - t0) / calls);
      fused = fmin(fused, (t2 - t1) / calls);
    }
    const double macs = 2.0 * lq * lk * d;
    printf("| %s | %d x %d, %d | %.1f (%.1f) | %.1f (%.1f) | %.2fx |\n", shapes[n].name, lq, lk, d, blas * 1e6,
           macs / blas * 1e-9, fused * 1e6, macs / fused * 1e-9, blas / fused);
    free(q), free(k), free(v), free(y), free(scores), free(scratch);
  }
  return 0;
}
