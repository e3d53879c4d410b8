/* LayerNorm, Softmax, GELU and ReLU: every path against the reference within tolerance
 * (reductions reorder; exp and erf are polynomial/rational approximations), the reference
 * against double-precision oracles. Tolerances:
 *   layernorm: |y - ref| <= 1e-5 * max(1, |ref|)  (outputs are normalized: scale ~1)
 *   softmax:   |y - ref| <= 1e-5 * ref
 *   gelu:      |y - ref| <= tol * max(1, |ref|), tol = 1e-6 (1.5e-6 on ARMv7: no FMA, so
 *              its erf rounds more; measured max 9.7e-7 there, 6.2e-7 with FMA)
 *   relu:               bit-exact.
 * With LOTR_TEST_VERBOSE set, prints the largest errors measured for the path. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lotr_kernel_tester.h"

typedef struct {
  double layernorm, softmax, gelu_abs, gelu_rel;
} max_errors;

static void oracle_layernorm(size_t cols, const float* x, const float* g, const float* b, float eps, double* y) {
  long double mean = 0, var = 0;
  for (size_t i = 0; i < cols; i++) mean += x[i];
  mean /= cols;
  for (size_t i = 0; i < cols; i++) var += (x[i] - mean) * (x[i] - mean);
  var /= cols;
  for (size_t i = 0; i < cols; i++) y[i] = (double)((x[i] - mean) / sqrtl(var + eps) * g[i] + b[i]);
}

static void oracle_softmax(size_t cols, const float* x, double* y) {
  double max = -INFINITY, sum = 0;
  for (size_t i = 0; i < cols; i++) max = fmax(max, x[i]);
  for (size_t i = 0; i < cols; i++) sum += exp((float)(x[i] - max));
  for (size_t i = 0; i < cols; i++) y[i] = exp((float)(x[i] - max)) / sum;
}

static const size_t col_counts[] = {1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 127, 129, 192, 255, 257, 511, 768, 1023, 1100};

void lotr_test_suite_float(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref) {
  const int is_ref = lotr_kernels_isa(kernels) == LOTR_ISA_REF;
  max_errors worst = {0, 0, 0, 0};
  const double gelu_tol = lotr_kernels_isa(kernels) == LOTR_ISA_ARMV7 ? 1.5e-6 : 1e-6;
  const size_t max_elems = 300 * 1100;
  float* x = lotr_test_alloc(sizeof(float) * max_elems);
  float* got = lotr_test_alloc(sizeof(float) * max_elems);
  float* expect = lotr_test_alloc(sizeof(float) * max_elems);
  double* oracle = lotr_test_alloc(sizeof(double) * 1100);
  float* gamma = lotr_test_alloc(sizeof(float) * 1100);
  float* beta = lotr_test_alloc(sizeof(float) * 1100);

  for (size_t ci = 0; ci < sizeof(col_counts) / sizeof(col_counts[0]); ci++) {
    const size_t cols = col_counts[ci];
    size_t rows = (size_t)lotr_test_int(t, 1, 300);
    if (rows * cols > 40000) rows = 40000 / cols > 0 ? 40000 / cols : 1;
    if (ci == 0) rows = 300;
    const size_t n = rows * cols;

    /* LayerNorm: values with an offset (the mean must be subtracted accurately). */
    lotr_test_case(t, "layernorm %zux%zu", rows, cols);
    const float offset = lotr_test_float(t, -4.0f, 4.0f), spread = lotr_test_float(t, 0.1f, 5.0f);
    lotr_test_fill_f32(t, x, n, offset - spread, offset + spread);
    lotr_test_fill_f32(t, gamma, cols, 0.5f, 1.5f);
    lotr_test_fill_f32(t, beta, cols, -1.0f, 1.0f);
    const float eps = 1e-5f;
    lotr_f32_layernorm(ref, rows, cols, x, gamma, beta, eps, expect);
    const int in_place = ci % 2;
    if (in_place) {
      memcpy(got, x, sizeof(float) * n);
      lotr_f32_layernorm(kernels, rows, cols, got, gamma, beta, eps, got);
    } else {
      lotr_f32_layernorm(kernels, rows, cols, x, gamma, beta, eps, got);
    }
    for (size_t i = 0; i < n; i++) {
      const double err = fabs((double)got[i] - expect[i]) / fmax(1.0, fabs(expect[i]));
      worst.layernorm = fmax(worst.layernorm, err);
      if (!(err <= 1e-5)) {
        LOTR_EXPECT(t, 0, "layernorm %zux%zu%s at [%zu][%zu]: got %.9g want %.9g", rows, cols, in_place ? " in place" : "",
                    i / cols, i % cols, got[i], expect[i]);
        break;
      }
    }
    if (is_ref)
      for (size_t r = 0; r < rows; r += 37) {
        oracle_layernorm(cols, x + r * cols, gamma, beta, eps, oracle);
        for (size_t i = 0; i < cols; i++)
          if (!(fabs(expect[r * cols + i] - oracle[i]) <= 1e-6 * fmax(1.0, fabs(oracle[i])))) {
            LOTR_EXPECT(t, 0, "layernorm ref %zu cols at [%zu][%zu]: %.9g vs oracle %.9g", cols, r, i, expect[r * cols + i],
                        oracle[i]);
            break;
          }
      }

    /* Softmax: logits spanning exp underflow. */
    lotr_test_case(t, "softmax %zux%zu", rows, cols);
    const float range = ci % 3 == 0 ? 120.0f : 12.0f;
    lotr_test_fill_f32(t, x, n, -range, range * 0.25f);
    lotr_f32_softmax(ref, rows, cols, x, expect);
    if (in_place) {
      memcpy(got, x, sizeof(float) * n);
      lotr_f32_softmax(kernels, rows, cols, got, got);
    } else {
      lotr_f32_softmax(kernels, rows, cols, x, got);
    }
    for (size_t i = 0; i < n; i++) {
      const double err = fabs((double)got[i] - expect[i]);
      if (expect[i] > 1e-30f) worst.softmax = fmax(worst.softmax, err / expect[i]);
      if (!(err <= 1e-5 * expect[i] + 1e-37)) {
        LOTR_EXPECT(t, 0, "softmax %zux%zu at [%zu][%zu] x=%g: got %.9g want %.9g", rows, cols, i / cols, i % cols, x[i],
                    got[i], expect[i]);
        break;
      }
    }
    if (is_ref)
      for (size_t r = 0; r < rows; r += 37) {
        oracle_softmax(cols, x + r * cols, oracle); /* (x - max) rounded to float, as the spec computes it */
        for (size_t i = 0; i < cols; i++)
          if (!(fabs(expect[r * cols + i] - oracle[i]) <= 1e-6 * oracle[i] + 1e-37)) {
            LOTR_EXPECT(t, 0, "softmax ref %zu cols at [%zu][%zu]: %.9g vs oracle %.9g", cols, r, i, expect[r * cols + i],
                        oracle[i]);
            break;
          }
      }
  }

  /* GELU: every length to 67, then a dense sweep of [-12, 12] plus specials. */
  for (size_t n = 0; n <= 67 + 1; n++) {
    const size_t len = n <= 67 ? n : 240001;
    lotr_test_case(t, "gelu n=%zu", len);
    if (n <= 67) lotr_test_fill_f32(t, x, len, -8.0f, 8.0f);
    else
      for (size_t i = 0; i < len; i++) x[i] = -12.0f + 1e-4f * (float)i;
    lotr_f32_gelu(ref, len, x, expect);
    lotr_f32_gelu(kernels, len, x, got);
    for (size_t i = 0; i < len; i++) {
      const double err = fabs((double)got[i] - expect[i]);
      worst.gelu_abs = fmax(worst.gelu_abs, fabs(expect[i]) <= 1.0f ? err : 0.0);
      worst.gelu_rel = fmax(worst.gelu_rel, fabs(expect[i]) > 1.0f ? err / fabs(expect[i]) : 0.0);
      if (!(err <= gelu_tol * fmax(1.0, fabs(expect[i])))) {
        LOTR_EXPECT(t, 0, "gelu n=%zu at %zu x=%.9g: got %.9g want %.9g", len, i, x[i], got[i], expect[i]);
        break;
      }
      if (is_ref) {
        const double o = x[i] * 0.5 * (1.0 + erf(x[i] / sqrt(2.0)));
        if (!(fabs(expect[i] - o) <= 1e-6 * fmax(1.0, fabs(o)))) {
          LOTR_EXPECT(t, 0, "gelu ref x=%.9g: %.9g vs oracle %.9g", x[i], expect[i], o);
          break;
        }
      }
    }
  }
  lotr_test_case(t, "gelu specials and in place");
  {
    const float sx[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 100.0f, -100.0f, 3e38f, -3e38f, INFINITY, -INFINITY};
    const size_t ns = sizeof(sx) / sizeof(sx[0]);
    memcpy(got, sx, sizeof(sx));
    lotr_f32_gelu(kernels, ns, got, got);
    lotr_f32_gelu(ref, ns, sx, expect);
    /* gelu(-inf): the limit 0 or the literal formula's NaN (-inf * 0). */
    for (size_t i = 0; i < ns; i++)
      LOTR_EXPECT(t, got[i] == expect[i] || (sx[i] == -INFINITY && got[i] == 0.0f) || (isnan(got[i]) && isnan(expect[i])) || fabs((double)got[i] - expect[i]) <= 1e-6 * fmax(1.0, fabs(expect[i])),
                  "gelu(%g): got %g want %g", sx[i], got[i], expect[i]);
  }

  lotr_test_case(t, "relu");
  for (size_t n = 0; n <= 67; n++) {
    lotr_test_fill_f32(t, x, n, -2.0f, 2.0f);
    if (n > 3) x[3] = NAN;
    lotr_f32_relu(kernels, n, x, got);
    for (size_t i = 0; i < n; i++) {
      const float want = x[i] > 0.0f ? x[i] : 0.0f;
      LOTR_EXPECT(t, memcmp(&got[i], &want, sizeof(float)) == 0, "relu n=%zu at %zu: relu(%g) = %g", n, i, x[i], got[i]);
    }
  }

  if (t->verbose)
    printf("  [%s/%s] max errors: layernorm rel %.3g, softmax rel %.3g, gelu abs (|y|<=1) %.3g, gelu rel (|y|>1) %.3g\n",
           t->suite, t->isa, worst.layernorm, worst.softmax, worst.gelu_abs, worst.gelu_rel);
  lotr_test_free(x);
  lotr_test_free(got);
  lotr_test_free(expect);
  lotr_test_free(oracle);
  lotr_test_free(gamma);
  lotr_test_free(beta);
}
