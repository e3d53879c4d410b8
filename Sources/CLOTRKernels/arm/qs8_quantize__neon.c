/* Float to int8 for NEON, AArch64 and ARMv7 (lotr_qs8_quantize__neon,
 * lotr_qs8_quantize__armv7), 16 per step: one multiply by 1/scale, FCVTNS (round half to
 * even; NaN gives 0, so NaN quantizes to the zero point; out-of-range saturates), then a
 * saturating add of the zero point and saturating narrows. ARMv7 flushes subnormal products
 * to zero; they quantize to the zero point either way. The tail runs the reference. */
#include "internal.h"
#include "neon_compat.h"

#if defined(LOTR_ARM_NEON)
LOTR_NEON_BEGIN

static inline int16x4_t quantize4(const float* x, float inv_scale, int32x4_t vzp) {
  return vqmovn_s32(vqaddq_s32(lotr_vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x), inv_scale)), vzp));
}

void LOTR_NEON_FN(qs8_quantize)(size_t n, const float* x, int8_t* y, float inv_scale, int32_t zero_point) {
  const int32x4_t vzp = vdupq_n_s32(zero_point);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const int16x8_t lo = vcombine_s16(quantize4(x + i, inv_scale, vzp), quantize4(x + i + 4, inv_scale, vzp));
    const int16x8_t hi = vcombine_s16(quantize4(x + i + 8, inv_scale, vzp), quantize4(x + i + 12, inv_scale, vzp));
    vst1q_s8(y + i, vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi)));
  }
  if (i < n) lotr_qs8_quantize__ref(n - i, x + i, y + i, inv_scale, zero_point);
}

LOTR_NEON_END
#endif
