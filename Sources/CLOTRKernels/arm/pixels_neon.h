/* Shared NEON helpers of the AArch64 pixel rows (lotr_pixels.h). Bit-exact with the
 * reference: products in int32 (vmull/vmlal), then SQRSHRUN #8 (adds 128, shifts,
 * saturates negatives to 0) and UQXTN (saturates to 255): the contract's
 * clamp((x + 128) >> 8). Used by the AArch64 row files only (there is no ARMv7 pixel path). */
#ifndef LOTR_PIXELS_NEON_H
#define LOTR_PIXELS_NEON_H

#include "neon_compat.h"

#if defined(__aarch64__)
LOTR_NEON_BEGIN

static inline uint8x8_t lotr_px_pack(int32x4_t lo, int32x4_t hi) {
  return vqmovn_u16(vcombine_u16(vqrshrun_n_s32(lo, 8), vqrshrun_n_s32(hi, 8)));
}

/* x - bias for 8 uint8, as int16 (exact: the values fit). */
static inline int16x8_t lotr_px_centre(uint8x8_t x, uint8_t bias) {
  return vreinterpretq_s16_u16(vsubl_u8(x, vdup_n_u8(bias)));
}

/* Chroma terms of 8 chroma samples: R += 409e, G += -100d - 208e, B += 516d. */
typedef struct {
  int32x4_t r_lo, r_hi, g_lo, g_hi, b_lo, b_hi;
} lotr_px_chroma;

static inline lotr_px_chroma lotr_px_chroma_terms(uint8x8_t u, uint8x8_t v) {
  const int16x8_t d = lotr_px_centre(u, 128), e = lotr_px_centre(v, 128);
  lotr_px_chroma t;
  t.r_lo = vmull_n_s16(vget_low_s16(e), 409);
  t.r_hi = vmull_n_s16(vget_high_s16(e), 409);
  t.g_lo = vmlal_n_s16(vmull_n_s16(vget_low_s16(d), -100), vget_low_s16(e), -208);
  t.g_hi = vmlal_n_s16(vmull_n_s16(vget_high_s16(d), -100), vget_high_s16(e), -208);
  t.b_lo = vmull_n_s16(vget_low_s16(d), 516);
  t.b_hi = vmull_n_s16(vget_high_s16(d), 516);
  return t;
}

/* RGB of 8 pixels whose chroma sample i is chroma sample i of `t`. */
static inline uint8x8x3_t lotr_px_rgb8(uint8x8_t y, const lotr_px_chroma* t) {
  const int16x8_t c = lotr_px_centre(y, 16);
  const int32x4_t c_lo = vmull_n_s16(vget_low_s16(c), 298), c_hi = vmull_n_s16(vget_high_s16(c), 298);
  uint8x8x3_t rgb;
  rgb.val[0] = lotr_px_pack(vaddq_s32(c_lo, t->r_lo), vaddq_s32(c_hi, t->r_hi));
  rgb.val[1] = lotr_px_pack(vaddq_s32(c_lo, t->g_lo), vaddq_s32(c_hi, t->g_hi));
  rgb.val[2] = lotr_px_pack(vaddq_s32(c_lo, t->b_lo), vaddq_s32(c_hi, t->b_hi));
  return rgb;
}

/* 16 pixels from even-indexed (Y0) and odd-indexed (Y1) luma sharing 8 chroma samples:
 * stores 48 bytes of RGB8. */
static inline void lotr_px_store_pairs(uint8x8_t y_even, uint8x8_t y_odd, uint8x8_t u, uint8x8_t v, uint8_t* dst) {
  const lotr_px_chroma t = lotr_px_chroma_terms(u, v);
  const uint8x8x3_t even = lotr_px_rgb8(y_even, &t), odd = lotr_px_rgb8(y_odd, &t);
  uint8x16x3_t out;
  for (int ch = 0; ch < 3; ch++) {
    const uint8x8x2_t z = vzip_u8(even.val[ch], odd.val[ch]);
    out.val[ch] = vcombine_u8(z.val[0], z.val[1]);
  }
  vst3q_u8(dst, out);
}

LOTR_NEON_END
#endif

#endif
