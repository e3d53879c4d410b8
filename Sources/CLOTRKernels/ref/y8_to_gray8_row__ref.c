/* A limited-range Y row expanded to gray: the reference (every path uses it). */
#include "pixels_config.h"

void lotr_y8_to_gray8_row__ref(size_t width, const uint8_t* src, uint8_t* dst) {
  for (size_t x = 0; x < width; x++) dst[x] = lotr_pixel_luma(src[x]);
}
