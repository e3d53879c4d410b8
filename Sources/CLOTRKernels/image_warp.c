/* The crop warp (see lotr_kernels.h, "pixels"): scalar reference. */
#include <math.h>

#include "internal.h"

static inline float tap(const uint8_t* src, uint32_t w, uint32_t h, size_t stride, int x, int y, int c) {
  if (x < 0 || y < 0 || (uint32_t)x >= w || (uint32_t)y >= h) return 0.0f;
  return (float)src[(size_t)y * stride + (size_t)x * 3 + (size_t)c];
}

void lotr_rgb8_warp_normalize_f32(const uint8_t* src, uint32_t src_width, uint32_t src_height, size_t src_stride,
                                  const float affine[6], float* dst, uint32_t out_width, uint32_t out_height,
                                  const float mean[3], const float inv_std[3]) {
  for (uint32_t i = 0; i < out_height; i++) {
    const float v = ((float)i + 0.5f) / (float)out_height - 0.5f;
    for (uint32_t j = 0; j < out_width; j++) {
      const float u = ((float)j + 0.5f) / (float)out_width - 0.5f;
      const float x = affine[0] * u + affine[1] * v + affine[2] - 0.5f;
      const float y = affine[3] * u + affine[4] * v + affine[5] - 0.5f;
      float* out = dst + ((size_t)i * out_width + j) * 3;
      if (!(fabsf(x) < 1e7f && fabsf(y) < 1e7f)) { /* NaN or absurd: black */
        for (int c = 0; c < 3; c++) out[c] = (0.0f - mean[c]) * inv_std[c];
        continue;
      }
      const float fx0 = floorf(x), fy0 = floorf(y);
      const int x0 = (int)fx0, y0 = (int)fy0;
      const float fx = x - fx0, fy = y - fy0;
      for (int c = 0; c < 3; c++) {
        const float top = tap(src, src_width, src_height, src_stride, x0, y0, c) * (1.0f - fx) +
                          tap(src, src_width, src_height, src_stride, x0 + 1, y0, c) * fx;
        const float bottom = tap(src, src_width, src_height, src_stride, x0, y0 + 1, c) * (1.0f - fx) +
                             tap(src, src_width, src_height, src_stride, x0 + 1, y0 + 1, c) * fx;
        const float sample = top * (1.0f - fy) + bottom * fy;
        out[c] = (sample * (1.0f / 255.0f) - mean[c]) * inv_std[c];
      }
    }
  }
}
