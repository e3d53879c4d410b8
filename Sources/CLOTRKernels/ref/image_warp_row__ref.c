/* The crop warp (lotr_pixels.h, lotr_image_warp_normalize_f32), one output row: scalar
 * reference over every camera layout, the specification the variants match bit for bit.
 * Per pixel: its source point, four taps (tap_rgb), bilinear per channel, then
 * (sample / 255 - mean) * inv_std. */
#include <math.h>

#include "pixels_config.h"

/* RGB of pixel (x, y) by the contract of lotr_pixels.h, 0 outside the frame. */
static inline void tap_rgb(const lotr_image* im, int x, int y, uint8_t p[3]) {
  if (x < 0 || y < 0 || (uint32_t)x >= im->width || (uint32_t)y >= im->height) {
    p[0] = p[1] = p[2] = 0;
    return;
  }
  const size_t xs = (size_t)x, ys = (size_t)y;
  switch (im->layout) {
    case LOTR_IMAGE_RGB8: {
      const uint8_t* s = im->plane[0] + ys * im->stride[0] + xs * 3;
      p[0] = s[0], p[1] = s[1], p[2] = s[2];
      return;
    }
    case LOTR_IMAGE_GRAY8:
      p[0] = p[1] = p[2] = im->plane[0][ys * im->stride[0] + xs];
      return;
    case LOTR_IMAGE_YUYV: {
      const uint8_t* pair = im->plane[0] + ys * im->stride[0] + (xs / 2) * 4;
      lotr_pixel_yuv_to_rgb(pair[(xs & 1) * 2], pair[1], pair[3], p);
      return;
    }
    case LOTR_IMAGE_NV12: {
      const uint8_t* uv = im->plane[1] + (ys / 2) * im->stride[1] + (xs / 2) * 2;
      lotr_pixel_yuv_to_rgb(im->plane[0][ys * im->stride[0] + xs], uv[0], uv[1], p);
      return;
    }
    case LOTR_IMAGE_I420: {
      const size_t c = xs / 2, r = ys / 2;
      lotr_pixel_yuv_to_rgb(im->plane[0][ys * im->stride[0] + xs], im->plane[1][r * im->stride[1] + c],
                            im->plane[2][r * im->stride[2] + c], p);
      return;
    }
  }
  p[0] = p[1] = p[2] = 0;
}

void lotr_image_warp_row__ref(const lotr_image* src, const float affine[6], float v, uint32_t out_width, float* dst,
                              const float mean[3], const float inv_std[3]) {
  for (uint32_t j = 0; j < out_width; j++) {
    const float u = ((float)j + 0.5f) / (float)out_width - 0.5f;
    const float x = affine[0] * u + affine[1] * v + affine[2] - 0.5f;
    const float y = affine[3] * u + affine[4] * v + affine[5] - 0.5f;
    float* out = dst + (size_t)j * 3;
    if (!(fabsf(x) < 1e7f && fabsf(y) < 1e7f)) { /* NaN or absurd: black */
      for (int c = 0; c < 3; c++) out[c] = (0.0f - mean[c]) * inv_std[c];
      continue;
    }
    const float fx0 = floorf(x), fy0 = floorf(y);
    const int x0 = (int)fx0, y0 = (int)fy0;
    const float fx = x - fx0, fy = y - fy0;
    uint8_t t00[3], t10[3], t01[3], t11[3];
    tap_rgb(src, x0, y0, t00);
    tap_rgb(src, x0 + 1, y0, t10);
    tap_rgb(src, x0, y0 + 1, t01);
    tap_rgb(src, x0 + 1, y0 + 1, t11);
    for (int c = 0; c < 3; c++) {
      const float top = (float)t00[c] * (1.0f - fx) + (float)t10[c] * fx;
      const float bottom = (float)t01[c] * (1.0f - fx) + (float)t11[c] * fx;
      const float sample = top * (1.0f - fy) + bottom * fy;
      out[c] = (sample * (1.0f / 255.0f) - mean[c]) * inv_std[c];
    }
  }
}
