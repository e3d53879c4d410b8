/* YUYV row to gray for AArch64 NEON, 16 pixels per step: LD2 gathers the Y bytes in
 * order, 298*(Y-16) in int32, SQRSHRUN/UQXTN as the contract. Tail: the reference. */
#include "pixels_config.h"
#include "pixels_neon.h"

#if defined(__aarch64__)
LOTR_NEON_BEGIN

void lotr_yuyv_to_gray8_row__neon(size_t width, const uint8_t* src, uint8_t* dst) {
  size_t x = 0;
  for (; x + 16 <= width; x += 16) {
    const uint8x16_t y = vld2q_u8(src + x * 2).val[0];
    const int16x8_t c0 = lotr_px_centre(vget_low_u8(y), 16), c1 = lotr_px_centre(vget_high_u8(y), 16);
    const uint8x8_t g0 = lotr_px_pack(vmull_n_s16(vget_low_s16(c0), 298), vmull_n_s16(vget_high_s16(c0), 298));
    const uint8x8_t g1 = lotr_px_pack(vmull_n_s16(vget_low_s16(c1), 298), vmull_n_s16(vget_high_s16(c1), 298));
    vst1q_u8(dst + x, vcombine_u8(g0, g1));
  }
  if (x < width) lotr_yuyv_to_gray8_row__ref(width - x, src + x * 2, dst + x);
}

LOTR_NEON_END
#endif
