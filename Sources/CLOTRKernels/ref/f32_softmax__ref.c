/* Softmax over one row, the specification: exp(x - max) / sum, sum in double. */
#include <math.h>

#include "internal.h"

void lotr_f32_softmax__ref(size_t cols, const float* x, float* y) {
  float max = -INFINITY;
  for (size_t i = 0; i < cols; i++) max = fmaxf(max, x[i]);
  double sum = 0.0;
  for (size_t i = 0; i < cols; i++) {
    y[i] = expf(x[i] - max);
    sum += y[i];
  }
  const double inv = 1.0 / sum;
  for (size_t i = 0; i < cols; i++) y[i] = (float)(y[i] * inv);
}
