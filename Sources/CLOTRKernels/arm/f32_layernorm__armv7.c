/* LayerNorm of one row for 32-bit ARMv7 NEON: two passes (mean, then corrected centred sums:
 * the centred pass also sums d = x - mean0, whose mean c repairs the rounding of mean0),
 * float lanes, 1/sqrt once per row, y = (x - mean0 - c) * rstd * gamma + beta.
 * ARMv7 NEON flushes subnormal inputs and results to zero. */
#include <math.h>

#include "internal.h"

#if defined(__arm__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("neon"))), apply_to = function)
#else
#pragma GCC target("fpu=neon")
#endif
#include <arm_neon.h>

static inline float hsum(float32x4_t v) {
  const float32x2_t s = vadd_f32(vget_low_f32(v), vget_high_f32(v));
  return vget_lane_f32(vpadd_f32(s, s), 0);
}
/* ARMv7 NEON has no fused multiply-add (VFPv4 is not assumed): VMLA rounds twice. */
static inline float32x4_t mla(float32x4_t acc, float32x4_t a, float32x4_t b) { return vmlaq_f32(acc, a, b); }

void lotr_f32_layernorm__armv7(size_t cols, const float* x, const float* gamma, const float* beta, float eps, float* y) {
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
  const float mean0 = (hsum(vaddq_f32(s0, s1)) + tail) / (float)cols;
  const float32x4_t vmean = vdupq_n_f32(mean0);
  float32x4_t d0 = vdupq_n_f32(0.0f), d1 = vdupq_n_f32(0.0f);
  s0 = vdupq_n_f32(0.0f);
  s1 = vdupq_n_f32(0.0f);
  for (i = 0; i + 8 <= full; i += 8) {
    const float32x4_t a = vsubq_f32(vld1q_f32(x + i), vmean), b = vsubq_f32(vld1q_f32(x + i + 4), vmean);
    d0 = vaddq_f32(d0, a);
    d1 = vaddq_f32(d1, b);
    s0 = mla(s0, a, a);
    s1 = mla(s1, b, b);
  }
  for (; i < full; i += 4) {
    const float32x4_t a = vsubq_f32(vld1q_f32(x + i), vmean);
    d0 = vaddq_f32(d0, a);
    s0 = mla(s0, a, a);
  }
  float dtail = 0.0f, stail = 0.0f;
  for (; i < cols; i++) {
    const float a = x[i] - mean0;
    dtail += a;
    stail += a * a;
  }
  const float c = (hsum(vaddq_f32(d0, d1)) + dtail) / (float)cols;
  const float var = (hsum(vaddq_f32(s0, s1)) + stail) / (float)cols - c * c;
  const float rstd = 1.0f / sqrtf((var > 0.0f ? var : 0.0f) + eps);
  const float32x4_t vc = vdupq_n_f32(c), vrstd = vdupq_n_f32(rstd);
  for (i = 0; i < full; i += 4) {
    const float32x4_t n = vmulq_f32(vsubq_f32(vsubq_f32(vld1q_f32(x + i), vmean), vc), vrstd);
    vst1q_f32(y + i, mla(vld1q_f32(beta + i), n, vld1q_f32(gamma + i)));
  }
  for (; i < cols; i++) y[i] = (x[i] - mean0 - c) * rstd * gamma[i] + beta[i];
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
#endif /* __arm__ */
