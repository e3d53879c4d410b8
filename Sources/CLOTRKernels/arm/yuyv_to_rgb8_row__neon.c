/* YUYV row to RGB8 for AArch64 NEON (Cortex-A53/A72/A76), 16 pixels per step: LD4 splits
 * Y0 U Y1 V, the chroma terms are shared by both pixels of a pair, ST3 interleaves. The
 * < 16 tail runs the reference. */
#include "pixels_config.h"
#include "pixels_neon.h"

#if defined(__aarch64__)
LOTR_NEON_BEGIN

void lotr_yuyv_to_rgb8_row__neon(size_t width, const uint8_t* src, uint8_t* dst) {
  size_t x = 0;
  for (; x + 16 <= width; x += 16) {
    const uint8x8x4_t p = vld4_u8(src + x * 2);
    lotr_px_store_pairs(p.val[0], p.val[2], p.val[1], p.val[3], dst + x * 3);
  }
  if (x < width) lotr_yuyv_to_rgb8_row__ref(width - x, src + x * 2, dst + x * 3);
}

LOTR_NEON_END
#endif
