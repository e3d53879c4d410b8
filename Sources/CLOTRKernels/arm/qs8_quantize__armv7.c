/* Float to int8 for 32-bit ARMv7 NEON, 16 per step. ARMv7 has no round-to-nearest
 * conversion: NaN lanes are zeroed (NaN quantizes to the zero point), values clamped to
 * +-512, then adding 1.5*2^23 rounds half to even (NEON always rounds to nearest) and the
 * integer is read from the mantissa. NEON flushes subnormals to zero; they quantize to the
 * zero point either way. The tail runs the reference. */
#include "internal.h"

#if defined(__arm__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("neon"))), apply_to = function)
#else
#pragma GCC target("fpu=neon")
#endif
#include <arm_neon.h>

static inline int16x4_t quantize4(const float* x, float inv_scale, int32x4_t vzp) {
  float32x4_t v = vmulq_n_f32(vld1q_f32(x), inv_scale);
  v = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(v), vceqq_f32(v, v)));
  v = vminq_f32(vmaxq_f32(v, vdupq_n_f32(-512.0f)), vdupq_n_f32(512.0f));
  const int32x4_t r = vsubq_s32(vreinterpretq_s32_f32(vaddq_f32(v, vdupq_n_f32(12582912.0f))), vdupq_n_s32(0x4B400000));
  return vqmovn_s32(vaddq_s32(r, vzp));
}

void lotr_qs8_quantize__armv7(size_t n, const float* x, int8_t* y, float inv_scale, int32_t zero_point) {
  const int32x4_t vzp = vdupq_n_s32(zero_point);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const int16x8_t lo = vcombine_s16(quantize4(x + i, inv_scale, vzp), quantize4(x + i + 4, inv_scale, vzp));
    const int16x8_t hi = vcombine_s16(quantize4(x + i + 8, inv_scale, vzp), quantize4(x + i + 12, inv_scale, vzp));
    vst1q_s8(y + i, vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi)));
  }
  if (i < n) lotr_qs8_quantize__ref(n - i, x + i, y + i, inv_scale, zero_point);
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
#endif /* __arm__ */
