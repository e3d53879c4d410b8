/* YUYV row to RGB8: the reference (lotr_pixels.h). Pixel x takes Y from its pair's slot
 * (x & 1) and the pair's U, V. */
#include "pixels_config.h"

void lotr_yuyv_to_rgb8_row__ref(size_t width, const uint8_t* src, uint8_t* dst) {
  for (size_t x = 0; x < width; x++) {
    const uint8_t* pair = src + (x / 2) * 4;
    lotr_pixel_yuv_to_rgb(pair[(x & 1) * 2], pair[1], pair[3], dst + x * 3);
  }
}
