/* YUYV row to gray: the reference (lotr_pixels.h), the limited-range Y expanded. */
#include "pixels_config.h"

void lotr_yuyv_to_gray8_row__ref(size_t width, const uint8_t* src, uint8_t* dst) {
  for (size_t x = 0; x < width; x++) dst[x] = lotr_pixel_luma(src[(x / 2) * 4 + (x & 1) * 2]);
}
