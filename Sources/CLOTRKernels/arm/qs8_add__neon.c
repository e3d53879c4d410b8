/* Residual add for NEON, AArch64 and ARMv7 (lotr_qs8_add__neon, lotr_qs8_add__armv7), 16 int8
 * per step: int32 a*a_mult + b*b_mult + bias with bias = -(a_zp*a_mult + b_zp*b_mult) (exact:
 * |acc| < 2^30), SRSHL by -shift (adds 2^(shift-1) then shifts arithmetically, without
 * intermediate overflow: the contract's rounding), saturating narrows. The < 16 tail runs the
 * reference. */
#include "internal.h"
#include "neon_compat.h"

#if defined(LOTR_ARM_NEON)
LOTR_NEON_BEGIN

static inline int32x4_t madd4(int32x4_t bias, int16x4_t a, int32x4_t am, int16x4_t b, int32x4_t bm) {
  return vmlaq_s32(vmlaq_s32(bias, vmovl_s16(a), am), vmovl_s16(b), bm);
}

void LOTR_NEON_FN(qs8_add)(size_t n, const int8_t* a, const int8_t* b, int8_t* y, const lotr_qs8_add_params* p) {
  const int32x4_t am = vdupq_n_s32(p->a_multiplier), bm = vdupq_n_s32(p->b_multiplier);
  const int32x4_t bias = vdupq_n_s32(-(p->a_zero_point * p->a_multiplier + p->b_zero_point * p->b_multiplier));
  const int32x4_t nshift = vdupq_n_s32(-p->shift);
  const int16x8_t vzp = vdupq_n_s16((int16_t)p->output_zero_point);
  const int8x16_t vmin = vdupq_n_s8(p->output_min), vmax = vdupq_n_s8(p->output_max);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const int8x16_t va = vld1q_s8(a + i), vb = vld1q_s8(b + i);
    const int16x8_t a_lo = vmovl_s8(vget_low_s8(va)), a_hi = vmovl_s8(vget_high_s8(va));
    const int16x8_t b_lo = vmovl_s8(vget_low_s8(vb)), b_hi = vmovl_s8(vget_high_s8(vb));
    const int32x4_t y0 = vrshlq_s32(madd4(bias, vget_low_s16(a_lo), am, vget_low_s16(b_lo), bm), nshift);
    const int32x4_t y1 = vrshlq_s32(madd4(bias, vget_high_s16(a_lo), am, vget_high_s16(b_lo), bm), nshift);
    const int32x4_t y2 = vrshlq_s32(madd4(bias, vget_low_s16(a_hi), am, vget_low_s16(b_hi), bm), nshift);
    const int32x4_t y3 = vrshlq_s32(madd4(bias, vget_high_s16(a_hi), am, vget_high_s16(b_hi), bm), nshift);
    const int16x8_t y01 = vqaddq_s16(lotr_vqmovn_high_s32(vqmovn_s32(y0), y1), vzp);
    const int16x8_t y23 = vqaddq_s16(lotr_vqmovn_high_s32(vqmovn_s32(y2), y3), vzp);
    const int8x16_t out = lotr_vqmovn_high_s16(vqmovn_s16(y01), y23);
    vst1q_s8(y + i, vminq_s8(vmaxq_s8(out, vmin), vmax));
  }
  if (i < n) lotr_qs8_add__ref(n - i, a + i, b + i, y + i, p);
}

LOTR_NEON_END
#endif
