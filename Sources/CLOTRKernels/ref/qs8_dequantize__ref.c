/* Int8 to float, the specification: (float)(q - zero_point) * scale, one multiply. */
#include "internal.h"

void lotr_qs8_dequantize__ref(size_t n, const int8_t* q, float* y, float scale, int32_t zero_point) {
  for (size_t i = 0; i < n; i++) y[i] = (float)(q[i] - zero_point) * scale;
}
