/* exp of 4 floats for NEON (AArch64 and ARMv7), shared by softmax and attention:
 * n = round(x log2 e), r = x - n ln2 (Cody-Waite, two constants), degree-5 minimax
 * polynomial on [-ln2/2, ln2/2], times 2^n built in the exponent bits; inputs below
 * -87.336 (2^-126), -inf included, give 0, above 88 give exp(88). Max relative error
 * against double exp on [-87, 0]: 1.6e-7 (1.8e-7 on ARMv7, no FMA; there results below
 * 2^-126 flush to zero). Include it inside a LOTR_NEON_BEGIN region, after neon_compat.h. */
#ifndef LOTR_F32_EXP_NEON_H
#define LOTR_F32_EXP_NEON_H

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

#endif
