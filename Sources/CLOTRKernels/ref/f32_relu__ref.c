/* ReLU: max(x, 0), NaN to 0. Memory-bound; compilers vectorize this loop, so every path
 * uses it. */
#include "internal.h"

void lotr_f32_relu__ref(size_t n, const float* x, float* y) {
  for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}
