/* Residual add, the specification (lotr_kernels.h). */
#include "internal.h"

void lotr_qs8_add__ref(size_t n, const int8_t* a, const int8_t* b, int8_t* y, const lotr_qs8_add_params* p) {
  const int64_t rounding = (int64_t)1 << (p->shift - 1);
  for (size_t i = 0; i < n; i++) {
    const int32_t acc = (a[i] - p->a_zero_point) * p->a_multiplier + (b[i] - p->b_zero_point) * p->b_multiplier;
    int64_t out = (((int64_t)acc + rounding) >> p->shift) + p->output_zero_point;
    if (out < p->output_min) out = p->output_min;
    if (out > p->output_max) out = p->output_max;
    y[i] = (int8_t)out;
  }
}
