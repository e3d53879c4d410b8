/* LayerNorm over one row, the specification: two passes accumulated in double, biased
 * variance. */
#include <math.h>

#include "internal.h"

void lotr_f32_layernorm__ref(size_t cols, const float* x, const float* gamma, const float* beta, float eps,
                             float* y) {
  double sum = 0.0;
  for (size_t i = 0; i < cols; i++) sum += x[i];
  const double mean = sum / (double)cols;
  double sq = 0.0;
  for (size_t i = 0; i < cols; i++) sq += (x[i] - mean) * (x[i] - mean);
  const double rstd = 1.0 / sqrt(sq / (double)cols + eps);
  for (size_t i = 0; i < cols; i++) y[i] = (float)((x[i] - mean) * rstd * gamma[i] + beta[i]);
}
