/* lotr_f32_attention: every path against the reference on LOTR's shapes (36/68 queries
 * over 36/68 keys, 4 heads of 24; 25/68 over 25/68, 4 heads of 32) and a sweep of odd
 * ones (query rows, keys and head_dim off every vector multiple, 1-4 heads, padded row
 * strides), with 1-4 threads; the reference against a double-precision oracle.
 *
 * Tolerance, per output element y[i][c] of a head (eps = FLT_EPSILON):
 *     |y - ref| <= 4 eps * sum_j p_j |v_jc| (1 + a_j + sum_l p_l a_l),   a_j = scale sum_c |q_ic k_jc|
 * i.e. a few ULP of the output's own magnitude, plus what the reordered score sums
 * (rounding of about eps * a_j in score j) can move the softmax. Measured worst (the
 * verbose line prints it): about 1 eps on avx2. Outside the heads' columns the row
 * stride's padding must stay untouched, and every thread count must give the same bits
 * (checked where the node is large enough for the pool to split its heads). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lotr_kernel_tester.h"

#define TOLERANCE_EPS 4.0
#define SENTINEL 12345.0f

typedef struct {
  size_t q_rows, kv_rows, heads, head_dim;
} attention_shape;

/* LOTR's attention nodes: lotr-s (D = 96) and lotr-m (D = 128), 4 heads; then two odd
 * shapes above the 2^20-MAC floor at which heads go to the pool. */
static const attention_shape lotr_shapes[] = {
    {36, 36, 4, 24}, {68, 36, 4, 24}, {68, 68, 4, 24}, {25, 25, 4, 32}, {68, 25, 4, 32}, {68, 68, 4, 32},
    {97, 63, 3, 33}, {100, 100, 4, 40},
};
static const size_t sweep_kv[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 65, 100};
static const size_t sweep_dim[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 40, 64, 65};

/* Softmax probabilities of query row qi against all keys, in double, and the error unit
 * of the tolerance for each output column. */
static void oracle_head(size_t kv_rows, size_t head_dim, float scale, const float* qi, const float* k, const float* v,
                        size_t kv_stride, double* p, double* a, double* y, double* unit) {
  double max = -INFINITY, sum = 0, mean_a = 0;
  for (size_t j = 0; j < kv_rows; j++) {
    double dot = 0, mag = 0;
    for (size_t c = 0; c < head_dim; c++) {
      dot += (double)qi[c] * k[j * kv_stride + c];
      mag += fabs((double)qi[c] * k[j * kv_stride + c]);
    }
    p[j] = dot * scale;
    a[j] = mag * fabs(scale);
    max = fmax(max, p[j]);
  }
  for (size_t j = 0; j < kv_rows; j++) sum += (p[j] = exp(p[j] - max));
  for (size_t j = 0; j < kv_rows; j++) {
    p[j] /= sum;
    mean_a += p[j] * a[j];
  }
  for (size_t c = 0; c < head_dim; c++) {
    double acc = 0, u = 0;
    for (size_t j = 0; j < kv_rows; j++) {
      acc += p[j] * v[j * kv_stride + c];
      u += p[j] * fabs((double)v[j * kv_stride + c]) * (1.0 + a[j] + mean_a);
    }
    y[c] = acc;
    unit[c] = u * FLT_EPSILON;
  }
}

void lotr_test_suite_attention(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref) {
  const int is_ref = lotr_kernels_isa(kernels) == LOTR_ISA_REF;
  const size_t max_rows = 100, max_cols = 4 * 65 + 7, max_kv = 100;
  float* q = lotr_test_alloc(sizeof(float) * max_rows * max_cols);
  float* k = lotr_test_alloc(sizeof(float) * max_kv * max_cols);
  float* v = lotr_test_alloc(sizeof(float) * max_kv * max_cols);
  float* expect = lotr_test_alloc(sizeof(float) * max_rows * max_cols);
  float* got = lotr_test_alloc(sizeof(float) * max_rows * max_cols);
  float* again = lotr_test_alloc(sizeof(float) * max_rows * max_cols);
  void* scratch = lotr_test_alloc(lotr_f32_attention_scratch_size(max_kv, 65, 4));
  double *p = lotr_test_alloc(sizeof(double) * max_kv), *a = lotr_test_alloc(sizeof(double) * max_kv);
  double *oracle = lotr_test_alloc(sizeof(double) * 65), *unit = lotr_test_alloc(sizeof(double) * 65);
  double worst = 0, worst_ref = 0;

  const size_t lotr_count = sizeof(lotr_shapes) / sizeof(lotr_shapes[0]);
  const size_t sweep_count = sizeof(sweep_kv) / sizeof(sweep_kv[0]) * (sizeof(sweep_dim) / sizeof(sweep_dim[0]));
  for (size_t n = 0; n < lotr_count + sweep_count; n++) {
    attention_shape shape;
    size_t pad = 0;
    if (n < lotr_count) {
      shape = lotr_shapes[n];
    } else {
      const size_t s = n - lotr_count, nd = sizeof(sweep_dim) / sizeof(sweep_dim[0]);
      shape = (attention_shape){(size_t)lotr_test_int(t, 1, 9), sweep_kv[s / nd], (size_t)lotr_test_int(t, 1, 4),
                                sweep_dim[s % nd]};
      pad = (size_t)lotr_test_int(t, 0, 7);
    }
    const size_t d = shape.heads * shape.head_dim;
    const size_t q_stride = d + pad, kv_stride = d + (pad + 3) % 8, y_stride = d + (pad + 5) % 8;
    /* Logits from mild (LOTR's trained scale) to sharply peaked, where exp underflows. */
    const float spread = (n % 3 == 2) ? 6.0f : 2.0f;
    const float scale = (float)(1.0 / sqrt((double)shape.head_dim)) * ((n % 5 == 4) ? 4.0f : 1.0f);
    lotr_test_case(t, "attention %zu queries x %zu keys, %zu heads of %zu, scale %g%s", shape.q_rows, shape.kv_rows,
                   shape.heads, shape.head_dim, scale, pad ? ", padded strides" : "");
    lotr_test_fill_f32(t, q, shape.q_rows * q_stride, -spread, spread);
    lotr_test_fill_f32(t, k, shape.kv_rows * kv_stride, -spread, spread);
    lotr_test_fill_f32(t, v, shape.kv_rows * kv_stride, -3.0f, 3.0f);
    for (size_t i = 0; i < shape.q_rows * y_stride; i++) expect[i] = got[i] = again[i] = SENTINEL;

    lotr_f32_attention(ref, NULL, shape.q_rows, shape.kv_rows, shape.heads, shape.head_dim, scale, q, q_stride, k, v,
                       kv_stride, expect, y_stride, scratch);
    lotr_f32_attention(kernels, NULL, shape.q_rows, shape.kv_rows, shape.heads, shape.head_dim, scale, q, q_stride,
                       k, v, kv_stride, got, y_stride, scratch);
    int failed = 0;
    for (size_t i = 0; i < shape.q_rows && !failed; i++) {
      for (size_t h = 0; h < shape.heads && !failed; h++) {
        const size_t col = h * shape.head_dim;
        oracle_head(shape.kv_rows, shape.head_dim, scale, q + i * q_stride + col, k + col, v + col, kv_stride, p, a,
                    oracle, unit);
        for (size_t c = 0; c < shape.head_dim; c++) {
          const float y = got[i * y_stride + col + c], want = expect[i * y_stride + col + c];
          const double err = fabs((double)y - want) / unit[c];
          worst = fmax(worst, err);
          if (!(err <= TOLERANCE_EPS)) {
            LOTR_EXPECT(t, 0, "at [%zu][%zu]: got %.9g want %.9g (%.3g eps of the bound's unit, limit %g)", i, col + c,
                        y, want, err, TOLERANCE_EPS);
            failed = 1;
            break;
          }
          if (is_ref) {
            const double err_ref = fabs((double)want - oracle[c]) / unit[c];
            worst_ref = fmax(worst_ref, err_ref);
            if (!(err_ref <= TOLERANCE_EPS)) {
              LOTR_EXPECT(t, 0, "ref at [%zu][%zu]: %.9g vs oracle %.9g (%.3g eps)", i, col + c, want, oracle[c], err_ref);
              failed = 1;
              break;
            }
          }
        }
      }
      for (size_t c = d; c < y_stride; c++)
        if (got[i * y_stride + c] != SENTINEL) {
          LOTR_EXPECT(t, 0, "row %zu: padding column %zu written (%g)", i, c, got[i * y_stride + c]);
          failed = 1;
          break;
        }
    }

    /* Heads split over 2-4 threads: the same bits as on one. */
    for (int th = 1; th < LOTR_TEST_MAX_THREADS && !failed; th++) {
      lotr_f32_attention(kernels, t->pools[th], shape.q_rows, shape.kv_rows, shape.heads, shape.head_dim, scale, q,
                         q_stride, k, v, kv_stride, again, y_stride, scratch);
      if (memcmp(again, got, sizeof(float) * shape.q_rows * y_stride) != 0) {
        LOTR_EXPECT(t, 0, "%d threads differ from 1", th + 1);
        failed = 1;
      }
    }
  }

  lotr_test_case(t, "attention over no keys is 0");
  for (size_t i = 0; i < 3 * 8; i++) got[i] = SENTINEL;
  lotr_f32_attention(kernels, NULL, 3, 0, 2, 3, 1.0f, q, 8, k, v, 8, got, 8, scratch);
  for (size_t i = 0; i < 3; i++)
    for (size_t c = 0; c < 8; c++)
      LOTR_EXPECT(t, got[i * 8 + c] == (c < 6 ? 0.0f : SENTINEL), "[%zu][%zu] = %g", i, c, got[i * 8 + c]);

  if (t->verbose)
    printf("  [%s/%s] max error: %.3g eps of the bound's unit (ref vs oracle %.3g, limit %g)\n", t->suite, t->isa,
           worst, worst_ref, TOLERANCE_EPS);
  lotr_test_free(q);
  lotr_test_free(k);
  lotr_test_free(v);
  lotr_test_free(expect);
  lotr_test_free(got);
  lotr_test_free(again);
  lotr_test_free(scratch);
  lotr_test_free(p);
  lotr_test_free(a);
  lotr_test_free(oracle);
  lotr_test_free(unit);
}
