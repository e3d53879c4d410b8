/*
 * lotr_pixels.h — camera pixel conversions: YUYV / NV12 / I420 to packed RGB8 or gray.
 *
 * The contract every ISA path implements bit-exactly (BT.601, limited ("video") range,
 * integer fixed point with 8 fractional bits, the coefficients of ITU-R BT.601 scaled by
 * 256 and rounded, as in most camera stacks):
 *     c = Y - 16,  d = U - 128,  e = V - 128                      (int32)
 *     R = clamp((298*c + 409*e + 128) >> 8)
 *     G = clamp((298*c - 100*d - 208*e + 128) >> 8)
 *     B = clamp((298*c + 516*d + 128) >> 8)
 *     gray (from Y alone) = clamp((298*c + 128) >> 8)      i.e. the luma expanded to 0..255
 *   with >> arithmetic and clamp to [0, 255]. RGB8 to gray (decoded JPEG frames) uses
 *   BT.601 full-range weights: gray = (77*R + 150*G + 29*B + 128) >> 8.
 * Chroma is sampled at (x/2) per row for YUYV (4:2:2) and at (x/2, y/2) for NV12 and I420
 * (4:2:0, nearest chroma sample, no interpolation). Odd widths and heights are allowed:
 * the last column uses the last (partial) chroma pair, i.e. ceil(width/2) chroma samples
 * per row. Strides are in bytes; destinations are packed per row (RGB8: 3 bytes a pixel).
 *
 * `kernels` picks the ISA path (NULL = lotr_kernels_default()); the reference path is
 * plain scalar C and is the specification. The NEON (AArch64) and AVX2 (x86-64) paths
 * are vectorised; other paths run the reference.
 */
#ifndef LOTR_PIXELS_H
#define LOTR_PIXELS_H

#include <stddef.h>
#include <stdint.h>

#include "lotr_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* YUYV (Y0 U Y1 V per pixel pair, V4L2_PIX_FMT_YUYV) to RGB8 and to gray. */
void lotr_yuyv_to_rgb8(const lotr_kernels* kernels, size_t width, size_t height, const uint8_t* src,
                       size_t src_stride, uint8_t* dst, size_t dst_stride);
void lotr_yuyv_to_gray8(const lotr_kernels* kernels, size_t width, size_t height, const uint8_t* src,
                        size_t src_stride, uint8_t* dst, size_t dst_stride);

/* NV12: a Y plane, then an interleaved U V plane of ceil(h/2) rows (V4L2_PIX_FMT_NV12). */
void lotr_nv12_to_rgb8(const lotr_kernels* kernels, size_t width, size_t height, const uint8_t* y,
                       size_t y_stride, const uint8_t* uv, size_t uv_stride, uint8_t* dst, size_t dst_stride);

/* I420 / YUV420 planar: Y, then U, then V planes of ceil(w/2) x ceil(h/2)
 * (V4L2_PIX_FMT_YUV420). */
void lotr_i420_to_rgb8(const lotr_kernels* kernels, size_t width, size_t height, const uint8_t* y,
                       size_t y_stride, const uint8_t* u, size_t u_stride, const uint8_t* v, size_t v_stride,
                       uint8_t* dst, size_t dst_stride);

/* Y from a full-range Y plane (GREY, or the Y plane of NV12/I420 as-is) is a plain copy;
 * the limited-range expansion of Y alone (gray of the contract above) on a Y plane: */
void lotr_y8_to_gray8(const lotr_kernels* kernels, size_t width, size_t height, const uint8_t* src,
                      size_t src_stride, uint8_t* dst, size_t dst_stride);

/* Packed RGB8 to gray (full-range BT.601 weights above). */
void lotr_rgb8_to_gray8(const lotr_kernels* kernels, size_t width, size_t height, const uint8_t* src,
                        size_t src_stride, uint8_t* dst, size_t dst_stride);

/*
 * A frame as the camera delivered it, for the crop warp: no full-frame conversion is made
 * to crop 160x160 (or a detector's 128x128) out of 640x480. plane/stride by layout:
 *   RGB8  plane[0] packed R G B;   GRAY8  plane[0] (full range, replicated to R = G = B);
 *   YUYV  plane[0] Y0 U Y1 V pairs;   NV12  plane[0] Y, plane[1] interleaved U V;
 *   I420  plane[0] Y, plane[1] U, plane[2] V (ceil(w/2) x ceil(h/2) each).
 */
typedef enum {
  LOTR_IMAGE_RGB8 = 0,
  LOTR_IMAGE_GRAY8 = 1,
  LOTR_IMAGE_YUYV = 2,
  LOTR_IMAGE_NV12 = 3,
  LOTR_IMAGE_I420 = 4,
} lotr_image_layout;

typedef struct {
  lotr_image_layout layout;
  uint32_t width, height;
  const uint8_t* plane[3];
  size_t stride[3]; /* bytes per row of each plane */
} lotr_image;

/*
 * The crop warp of the model's crop rule (training/lotr_train/geometry.py), from any
 * lotr_image straight to the normalised NHWC float input [out_h][out_w][3]:
 *   for crop pixel (i, j): u = (j + 0.5) / out_w, v = (i + 0.5) / out_h
 *   (X, Y) = A * (u - 0.5, v - 0.5, 1)      continuous source coords, pixel x spans [x, x+1)
 *   sample = bilinear at (X - 0.5, Y - 0.5) over pixel centres; each tap outside the frame
 *            reads 0 (black), as torch's grid_sample(padding_mode="zeros")
 *   dst[i][j][c] = (sample[c] / 255 - mean[c]) * inv_std[c]
 * Each tap is the pixel's RGB of the contract above (BT.601 limited range, nearest chroma),
 * so warping a YUYV / NV12 / I420 / GREY frame gives bit for bit what warping its
 * lotr_*_to_rgb8 conversion gives. affine is row-major 2x3 {a00, a01, a02, a10, a11, a12}.
 * Float math; the reference (scalar, per tap) is the specification, and the AVX2 (gathers,
 * 8 pixels a step) and NEON (4 pixels a step) rows give the same bits (kernel tester).
 * `pool` (NULL: the calling thread) splits crops of at least LOTR_WARP_PARALLEL_MIN_PIXELS
 * into LOTR_WARP_BANDS_PER_THREAD bands of rows per thread (a pool run costs a few
 * microseconds, 4096 warped pixels some 50-100 on a Cortex-A72; several bands a thread so
 * one slowed by cache misses does not idle the rest). Each row is computed alone, so the
 * result does not depend on the thread count.
 */
#define LOTR_WARP_PARALLEL_MIN_PIXELS ((size_t)1 << 12)
#define LOTR_WARP_BANDS_PER_THREAD 4
void lotr_image_warp_normalize_f32(const lotr_kernels* kernels, lotr_threadpool* pool, const lotr_image* src,
                                   const float affine[6], float* dst, uint32_t out_width, uint32_t out_height,
                                   const float mean[3], const float inv_std[3]);

#ifdef __cplusplus
}
#endif
#endif
