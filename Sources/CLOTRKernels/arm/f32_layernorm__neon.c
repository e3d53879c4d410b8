/* LayerNorm of one row for NEON, AArch64 and ARMv7 (lotr_f32_layernorm__neon,
 * lotr_f32_layernorm__armv7): two passes (mean, then corrected centred sums:
 * the centred pass also sums d = x - mean0, whose mean c repairs the rounding of mean0),
 * float lanes, 1/sqrt once per row, y = (x - mean0 - c) * rstd * gamma + beta. */
#include <math.h>

#include "internal.h"
#include "neon_compat.h"

#if defined(LOTR_ARM_NEON)
LOTR_NEON_BEGIN

void LOTR_NEON_FN(f32_layernorm)(size_t cols, const float* x, const float* gamma, const float* beta, float eps, float* y) {
  const size_t full = cols & ~(size_t)3;
  float32x4_t s0 = vdupq_n_f32(0.0f), s1 = vdupq_n_f32(0.0f);
  size_t i = 0;
  for (; i + 8 <= full; i += 8) {
    s0 = vaddq_f32(s0, vld1q_f32(x + i));
    s1 = vaddq_f32(s1, vld1q_f32(x + i + 4));
  }
  for (; i < full; i += 4) s0 = vaddq_f32(s0, vld1q_f32(x + i));
  float tail = 0.0f;
  for (; i < cols; i++) tail += x[i];
  const float mean0 = (lotr_vaddvq_f32(vaddq_f32(s0, s1)) + tail) / (float)cols;
  const float32x4_t vmean = vdupq_n_f32(mean0);
  float32x4_t d0 = vdupq_n_f32(0.0f), d1 = vdupq_n_f32(0.0f);
  s0 = vdupq_n_f32(0.0f);
  s1 = vdupq_n_f32(0.0f);
  for (i = 0; i + 8 <= full; i += 8) {
    const float32x4_t a = vsubq_f32(vld1q_f32(x + i), vmean), b = vsubq_f32(vld1q_f32(x + i + 4), vmean);
    d0 = vaddq_f32(d0, a);
    d1 = vaddq_f32(d1, b);
    s0 = lotr_vmlaq_f32(s0, a, a);
    s1 = lotr_vmlaq_f32(s1, b, b);
  }
  for (; i < full; i += 4) {
    const float32x4_t a = vsubq_f32(vld1q_f32(x + i), vmean);
    d0 = vaddq_f32(d0, a);
    s0 = lotr_vmlaq_f32(s0, a, a);
  }
  float dtail = 0.0f, stail = 0.0f;
  for (; i < cols; i++) {
    const float a = x[i] - mean0;
    dtail += a;
    stail += a * a;
  }
  const float c = (lotr_vaddvq_f32(vaddq_f32(d0, d1)) + dtail) / (float)cols;
  const float var = (lotr_vaddvq_f32(vaddq_f32(s0, s1)) + stail) / (float)cols - c * c;
  const float rstd = 1.0f / sqrtf((var > 0.0f ? var : 0.0f) + eps);
  const float32x4_t vc = vdupq_n_f32(c), vrstd = vdupq_n_f32(rstd);
  for (i = 0; i < full; i += 4) {
    const float32x4_t n = vmulq_f32(vsubq_f32(vsubq_f32(vld1q_f32(x + i), vmean), vc), vrstd);
    vst1q_f32(y + i, lotr_vmlaq_f32(vld1q_f32(beta + i), n, vld1q_f32(gamma + i)));
  }
  for (; i < cols; i++) y[i] = (x[i] - mean0 - c) * rstd * gamma[i] + beta[i];
}

LOTR_NEON_END
#endif
