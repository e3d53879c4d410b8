/* Packed RGB8 row to gray with full-range BT.601 weights (77, 150, 29)/256: the reference
 * (every path uses it; decoded MJPEG frames are its only caller). */
#include "pixels_config.h"

void lotr_rgb8_to_gray8_row__ref(size_t width, const uint8_t* src, uint8_t* dst) {
  for (size_t x = 0; x < width; x++) {
    const uint8_t* p = src + x * 3;
    dst[x] = (uint8_t)((77 * p[0] + 150 * p[1] + 29 * p[2] + 128) >> 8);
  }
}
