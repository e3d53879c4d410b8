/* Exact GELU, the specification: x * 0.5 * (1 + erf(x / sqrt(2))) with libm's erff. */
#include <math.h>

#include "internal.h"

void lotr_f32_gelu__ref(size_t n, const float* x, float* y) {
  for (size_t i = 0; i < n; i++) y[i] = x[i] * 0.5f * (1.0f + erff(x[i] * 0.70710678118654752f));
}
