/* Float to int8, the specification: round half to even (rintf in the default rounding
 * mode) of x * inv_scale, plus the zero point, saturated. NaN quantizes to the zero point;
 * +-inf and huge values saturate. */
#include <math.h>

#include "internal.h"

void lotr_qs8_quantize__ref(size_t n, const float* x, int8_t* y, float inv_scale, int32_t zero_point) {
  for (size_t i = 0; i < n; i++) {
    float v = x[i] * inv_scale;
    if (isnan(v)) v = 0.0f;
    v = fminf(fmaxf(v, -512.0f), 512.0f); /* any |v| >= 256 saturates whatever the zero point */
    int32_t q = (int32_t)rintf(v) + zero_point;
    y[i] = (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
  }
}
