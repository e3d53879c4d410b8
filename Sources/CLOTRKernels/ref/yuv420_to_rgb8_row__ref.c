/* One row of 4:2:0 (NV12: uv_step 2, I420: uv_step 1) to RGB8: the reference. */
#include "pixels_config.h"

void lotr_yuv420_to_rgb8_row__ref(size_t width, const uint8_t* y, const uint8_t* u, const uint8_t* v,
                                  size_t uv_step, uint8_t* dst) {
  for (size_t x = 0; x < width; x++)
    lotr_pixel_yuv_to_rgb(y[x], u[(x / 2) * uv_step], v[(x / 2) * uv_step], dst + x * 3);
}
