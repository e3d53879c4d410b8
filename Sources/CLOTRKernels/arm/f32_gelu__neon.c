/* Exact GELU for NEON, AArch64 and ARMv7 (lotr_f32_gelu__neon, lotr_f32_gelu__armv7):
 * y = x/2 * (1 + erf(x / sqrt 2)), erf(z) = z P(z^2) / Q(z^2) with z clamped to [-3.92, 3.92]
 * (erf(3.92) rounds to 1 in float), P degree 7, Q degree 4, fitted minimax on [0, 3.92]
 * (5e-8 in exact arithmetic; about 3e-7 after float evaluation; ARMv7, without FMA or a
 * divide: GELU measured within 1.1e-6 of exact), clamped to [-1, 1]; x < -5.3 gives 0
 * (|gelu| < 3.1e-7 there). Scalar tails go through a padded vector. */
#include <string.h>

#include "internal.h"
#include "neon_compat.h"

#if defined(LOTR_ARM_NEON)
LOTR_NEON_BEGIN

static inline float32x4_t gelu4(float32x4_t x) {
  const float32x4_t z = vminq_f32(vmaxq_f32(vmulq_n_f32(x, 0.70710678118654752f), vdupq_n_f32(-3.92f)), vdupq_n_f32(3.92f));
  const float32x4_t t = vmulq_f32(z, z);
  float32x4_t p = vdupq_n_f32(-7.312649375e-10f);
  p = lotr_vmlaq_f32(vdupq_n_f32(7.352107190e-08f), p, t);
  p = lotr_vmlaq_f32(vdupq_n_f32(-3.496811814e-06f), p, t);
  p = lotr_vmlaq_f32(vdupq_n_f32(1.415299630e-04f), p, t);
  p = lotr_vmlaq_f32(vdupq_n_f32(2.036068588e-03f), p, t);
  p = lotr_vmlaq_f32(vdupq_n_f32(4.562219605e-02f), p, t);
  p = lotr_vmlaq_f32(vdupq_n_f32(1.526716352e-01f), p, t);
  p = lotr_vmlaq_f32(vdupq_n_f32(1.128378749e+00f), p, t);
  float32x4_t q = vdupq_n_f32(6.536960136e-04f);
  q = lotr_vmlaq_f32(vdupq_n_f32(1.095267758e-02f), q, t);
  q = lotr_vmlaq_f32(vdupq_n_f32(9.665216506e-02f), q, t);
  q = lotr_vmlaq_f32(vdupq_n_f32(4.686318934e-01f), q, t);
  q = lotr_vmlaq_f32(vdupq_n_f32(1.0f), q, t);
  const float32x4_t erf = vminq_f32(vmaxq_f32(lotr_vdivq_f32(vmulq_f32(z, p), q), vdupq_n_f32(-1.0f)), vdupq_n_f32(1.0f));
  const float32x4_t half_x = vmulq_n_f32(x, 0.5f);
  const float32x4_t y = lotr_vmlaq_f32(half_x, half_x, erf);
  /* Below -5.3, |gelu| < 3.1e-7: return 0 rather than amplify erf's rounding by |x|/2. */
  return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(y), vcltq_f32(x, vdupq_n_f32(-5.3f))));
}

void LOTR_NEON_FN(f32_gelu)(size_t n, const float* x, float* y) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, gelu4(vld1q_f32(x + i)));
  if (i < n) {
    float buf[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    memcpy(buf, x + i, (n - i) * sizeof(float));
    vst1q_f32(buf, gelu4(vld1q_f32(buf)));
    memcpy(y + i, buf, (n - i) * sizeof(float));
  }
}

LOTR_NEON_END
#endif
