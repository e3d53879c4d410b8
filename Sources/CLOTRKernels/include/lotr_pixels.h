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

#ifdef __cplusplus
}
#endif
#endif
