/* Row kernels of the pixel conversions (lotr_pixels.h), one set per ISA. pixels.c loops
 * the rows and picks the set from the path's ISA. */
#ifndef LOTR_PIXELS_CONFIG_H
#define LOTR_PIXELS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "lotr_pixels.h"

/* One row of `width` pixels. For 4:2:0 rows, chroma sample i of the row is u[i*uv_step]
 * and v[i*uv_step]: uv_step 2 for NV12 (u = uv, v = uv + 1), 1 for I420. */
typedef void (*lotr_yuyv_row_fn)(size_t width, const uint8_t* src, uint8_t* dst);
typedef void (*lotr_yuv420_row_fn)(size_t width, const uint8_t* y, const uint8_t* u, const uint8_t* v,
                                   size_t uv_step, uint8_t* dst);
typedef void (*lotr_plane_row_fn)(size_t width, const uint8_t* src, uint8_t* dst);

#define LOTR_DECLARE_PIXEL_ROWS(isa)                                                           \
  void lotr_yuyv_to_rgb8_row__##isa(size_t width, const uint8_t* src, uint8_t* dst);           \
  void lotr_yuyv_to_gray8_row__##isa(size_t width, const uint8_t* src, uint8_t* dst);          \
  void lotr_yuv420_to_rgb8_row__##isa(size_t width, const uint8_t* y, const uint8_t* u,         \
                                      const uint8_t* v, size_t uv_step, uint8_t* dst);

/* The contract's per-pixel arithmetic (lotr_pixels.h), shared by the reference rows. */
static inline uint8_t lotr_pixel_clamp8(int32_t x) { return (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x); }

static inline void lotr_pixel_yuv_to_rgb(int32_t y, int32_t u, int32_t v, uint8_t* rgb) {
  const int32_t c = y - 16, d = u - 128, e = v - 128;
  rgb[0] = lotr_pixel_clamp8((298 * c + 409 * e + 128) >> 8);
  rgb[1] = lotr_pixel_clamp8((298 * c - 100 * d - 208 * e + 128) >> 8);
  rgb[2] = lotr_pixel_clamp8((298 * c + 516 * d + 128) >> 8);
}

static inline uint8_t lotr_pixel_luma(int32_t y) { return lotr_pixel_clamp8((298 * (y - 16) + 128) >> 8); }

/* One output row of lotr_image_warp_normalize_f32: the out_width pixels of the row whose
 * vertical crop coordinate is v, written to dst[out_width][3]. Every variant computes each
 * value with the reference's float operations in the reference's order (the kernels build
 * with -ffp-contract=off), so all are bit-exact with it. */
typedef void (*lotr_image_warp_row_fn)(const lotr_image* src, const float affine[6], float v, uint32_t out_width,
                                       float* dst, const float mean[3], const float inv_std[3]);
#define LOTR_DECLARE_IMAGE_WARP_ROW(isa)                                                                    \
  void lotr_image_warp_row__##isa(const lotr_image* src, const float affine[6], float v, uint32_t out_width, \
                                  float* dst, const float mean[3], const float inv_std[3]);

LOTR_DECLARE_IMAGE_WARP_ROW(ref)
LOTR_DECLARE_IMAGE_WARP_ROW(neon)
LOTR_DECLARE_IMAGE_WARP_ROW(avx2)
LOTR_DECLARE_PIXEL_ROWS(ref)
LOTR_DECLARE_PIXEL_ROWS(neon)
LOTR_DECLARE_PIXEL_ROWS(avx2)
void lotr_y8_to_gray8_row__ref(size_t width, const uint8_t* src, uint8_t* dst);
void lotr_rgb8_to_gray8_row__ref(size_t width, const uint8_t* src, uint8_t* dst);

#endif
