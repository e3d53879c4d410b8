/* The scalar pieces of the requantization contract (see lotr_kernels.h). */
#include <math.h>

#include "internal.h"

int lotr_requant_from_scale(double scale, int32_t* multiplier, int32_t* shift) {
  if (!(scale > 0.0) || !isfinite(scale)) return -1;
  int exponent;
  const double fraction = frexp(scale, &exponent); /* scale = fraction * 2^exponent, fraction in [0.5, 1) */
  int64_t q = (int64_t)llround(fraction * (double)(1LL << 31));
  if (q == (1LL << 31)) { /* rounding carried into the next power of two */
    q >>= 1;
    exponent += 1;
  }
  const int s = 31 - exponent;
  if (s < 32 || s > 63) return -1;
  *multiplier = (int32_t)q;
  *shift = s;
  return 0;
}

int8_t lotr_requantize(int32_t acc, int32_t multiplier, int32_t shift,
                       int32_t output_zero_point, int8_t output_min, int8_t output_max) {
  const int64_t product = (int64_t)acc * (int64_t)multiplier;
  const int64_t rounding = (int64_t)1 << (shift - 1);
  /* Arithmetic right shift of a negative value is implementation-defined in C before C23;
   * every compiler we build with (gcc, clang) shifts arithmetically. */
  const int64_t y = (product + rounding) >> shift;
  int64_t out = y + output_zero_point;
  if (out < output_min) out = output_min;
  if (out > output_max) out = output_max;
  return (int8_t)out;
}
