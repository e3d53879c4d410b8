/* Int8 to float for NEON, AArch64 and ARMv7 (lotr_qs8_dequantize__neon,
 * lotr_qs8_dequantize__armv7), 16 per step: exact int32 (q - zp), exact conversion, one
 * multiply: bit-identical to the reference, except that ARMv7 NEON flushes results below
 * 2^-126 (|q - zp| * scale; needs scale < 2^-134) to zero. The tail runs the reference. */
#include "internal.h"
#include "neon_compat.h"

#if defined(LOTR_ARM_NEON)
LOTR_NEON_BEGIN

void LOTR_NEON_FN(qs8_dequantize)(size_t n, const int8_t* q, float* y, float scale, int32_t zero_point) {
  const int32x4_t vzp = vdupq_n_s32(zero_point);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const int8x16_t v = vld1q_s8(q + i);
    const int16x8_t lo = vmovl_s8(vget_low_s8(v)), hi = vmovl_s8(vget_high_s8(v));
    vst1q_f32(y + i, vmulq_n_f32(vcvtq_f32_s32(vsubq_s32(vmovl_s16(vget_low_s16(lo)), vzp)), scale));
    vst1q_f32(y + i + 4, vmulq_n_f32(vcvtq_f32_s32(vsubq_s32(vmovl_s16(vget_high_s16(lo)), vzp)), scale));
    vst1q_f32(y + i + 8, vmulq_n_f32(vcvtq_f32_s32(vsubq_s32(vmovl_s16(vget_low_s16(hi)), vzp)), scale));
    vst1q_f32(y + i + 12, vmulq_n_f32(vcvtq_f32_s32(vsubq_s32(vmovl_s16(vget_high_s16(hi)), vzp)), scale));
  }
  if (i < n) lotr_qs8_dequantize__ref(n - i, q + i, y + i, scale, zero_point);
}

LOTR_NEON_END
#endif
