/* Softmax of one row for NEON, AArch64 and ARMv7 (lotr_f32_softmax__neon,
 * lotr_f32_softmax__armv7): max, then exp(x - max) stored and summed, then a
 * multiply by 1/sum. exp: f32_exp_neon.h (max relative error 1.6e-7, 1.8e-7 on ARMv7).
 * Scalar tails go through a padded vector. */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "neon_compat.h"

#if defined(LOTR_ARM_NEON)
LOTR_NEON_BEGIN

#include "f32_exp_neon.h"

void LOTR_NEON_FN(f32_softmax)(size_t cols, const float* x, float* y) {
  const size_t full = cols & ~(size_t)3, rest = cols - full;
  float32x4_t vmax = vdupq_n_f32(-INFINITY);
  for (size_t i = 0; i < full; i += 4) vmax = vmaxq_f32(vmax, vld1q_f32(x + i));
  float max = lotr_vmaxvq_f32(vmax);
  for (size_t i = full; i < cols; i++) max = fmaxf(max, x[i]);
  vmax = vdupq_n_f32(max);
  float32x4_t sum = vdupq_n_f32(0.0f);
  for (size_t i = 0; i < full; i += 4) {
    const float32x4_t e = exp4(vsubq_f32(vld1q_f32(x + i), vmax));
    vst1q_f32(y + i, e);
    sum = vaddq_f32(sum, e);
  }
  if (rest != 0) {
    float buf[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    memcpy(buf, x + full, rest * sizeof(float));
    const float32x4_t e = exp4(vsubq_f32(vld1q_f32(buf), vmax)); /* -inf lanes give 0 */
    vst1q_f32(buf, e);
    memcpy(y + full, buf, rest * sizeof(float));
    sum = vaddq_f32(sum, e);
  }
  const float inv = 1.0f / lotr_vaddvq_f32(sum);
  for (size_t i = 0; i < full; i += 4) vst1q_f32(y + i, vmulq_n_f32(vld1q_f32(y + i), inv));
  for (size_t i = full; i < cols; i++) y[i] *= inv;
}

LOTR_NEON_END
#endif
