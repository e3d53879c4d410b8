/* One 4:2:0 row (NV12 or I420) to RGB8 for AArch64 NEON, 16 pixels per step: LD2 splits
 * luma into even/odd pixels (and NV12's UV pairs), chroma shared per pair, ST3 out.
 * Tail: the reference. */
#include "pixels_config.h"
#include "pixels_neon.h"

#if defined(__aarch64__)
LOTR_NEON_BEGIN

void lotr_yuv420_to_rgb8_row__neon(size_t width, const uint8_t* y, const uint8_t* u, const uint8_t* v,
                                   size_t uv_step, uint8_t* dst) {
  size_t x = 0;
  for (; x + 16 <= width; x += 16) {
    const uint8x8x2_t luma = vld2_u8(y + x);
    uint8x8_t cu, cv;
    if (uv_step == 2 && v == u + 1) {
      const uint8x8x2_t uv = vld2_u8(u + x);
      cu = uv.val[0];
      cv = uv.val[1];
    } else if (uv_step == 1) {
      cu = vld1_u8(u + x / 2);
      cv = vld1_u8(v + x / 2);
    } else {
      break;
    }
    lotr_px_store_pairs(luma.val[0], luma.val[1], cu, cv, dst + x * 3);
  }
  if (x < width)
    lotr_yuv420_to_rgb8_row__ref(width - x, y + x, u + (x / 2) * uv_step, v + (x / 2) * uv_step, uv_step, dst + x * 3);
}

LOTR_NEON_END
#endif
