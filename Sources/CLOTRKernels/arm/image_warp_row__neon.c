/* The crop warp's row (lotr_pixels.h) for AArch64 NEON (Cortex-A53/A72/A76), 4 output
 * pixels a step: source points, floors, bilinear weights, the blend and the normalisation
 * in 4-float vectors with the reference's operations in its order (FMUL then FADD, never
 * FMLA: the bits match the reference); ST3 writes the pixels interleaved. NEON has no
 * gather: each tap's coordinates are clamped into the frame and its byte offsets computed
 * in vectors, the bytes are loaded lane by lane (always inside the plane, no branch), the
 * BT.601 contract runs in int32 lanes and taps outside the frame are masked to black. The
 * row is built once per layout so the layout switch leaves the loop. Frames of 4 GiB and
 * more, or empty ones, run the reference. */
#include "pixels_config.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* base[offset + add] of each lane, loaded straight into byte 0 of the lane (LD1 {v.b}[i]). */
ALWAYS_INLINE uint32x4_t bytes_at(const uint8_t* base, uint32x4_t offset, uint32_t add) {
  uint8x16_t b = vdupq_n_u8(0);
  b = vld1q_lane_u8(base + vgetq_lane_u32(offset, 0) + add, b, 0);
  b = vld1q_lane_u8(base + vgetq_lane_u32(offset, 1) + add, b, 4);
  b = vld1q_lane_u8(base + vgetq_lane_u32(offset, 2) + add, b, 8);
  b = vld1q_lane_u8(base + vgetq_lane_u32(offset, 3) + add, b, 12);
  return vreinterpretq_u32_u8(b);
}

ALWAYS_INLINE int32x4_t clamp8(int32x4_t x) { return vminq_s32(vmaxq_s32(x, vdupq_n_s32(0)), vdupq_n_s32(255)); }

/* lotr_pixel_yuv_to_rgb in int32 lanes. */
ALWAYS_INLINE void yuv_to_rgb(uint32x4_t y, uint32x4_t u, uint32x4_t v, int32x4_t rgb[3]) {
  const int32x4_t c = vaddq_s32(vmulq_n_s32(vsubq_s32(vreinterpretq_s32_u32(y), vdupq_n_s32(16)), 298),
                                vdupq_n_s32(128));
  const int32x4_t d = vsubq_s32(vreinterpretq_s32_u32(u), vdupq_n_s32(128));
  const int32x4_t e = vsubq_s32(vreinterpretq_s32_u32(v), vdupq_n_s32(128));
  rgb[0] = clamp8(vshrq_n_s32(vmlaq_n_s32(c, e, 409), 8));
  rgb[1] = clamp8(vshrq_n_s32(vmlsq_n_s32(vmlsq_n_s32(c, d, 100), e, 208), 8));
  rgb[2] = clamp8(vshrq_n_s32(vmlaq_n_s32(c, d, 516), 8));
}

/* The RGB (as floats) of pixels (x, y) of 4 lanes, black where outside the frame. */
ALWAYS_INLINE void taps(const lotr_image* im, lotr_image_layout layout, int32x4_t x, int32x4_t y, float32x4_t out[3]) {
  const int32x4_t zero = vdupq_n_s32(0);
  const int32x4_t xc = vminq_s32(vmaxq_s32(x, zero), vdupq_n_s32((int32_t)im->width - 1));
  const int32x4_t yc = vminq_s32(vmaxq_s32(y, zero), vdupq_n_s32((int32_t)im->height - 1));
  const uint32x4_t inside = vandq_u32(vceqq_s32(x, xc), vceqq_s32(y, yc));
  const uint32x4_t xu = vreinterpretq_u32_s32(xc), yu = vreinterpretq_u32_s32(yc);
  const uint32x4_t row0 = vmulq_n_u32(yu, (uint32_t)im->stride[0]);
  int32x4_t rgb[3];
  switch (layout) {
    case LOTR_IMAGE_RGB8: {
      const uint32x4_t off = vmlaq_n_u32(row0, xu, 3);
      for (int c = 0; c < 3; c++) rgb[c] = vreinterpretq_s32_u32(bytes_at(im->plane[0], off, (uint32_t)c));
      break;
    }
    case LOTR_IMAGE_GRAY8:
      rgb[0] = rgb[1] = rgb[2] = vreinterpretq_s32_u32(bytes_at(im->plane[0], vaddq_u32(row0, xu), 0));
      break;
    case LOTR_IMAGE_YUYV: {
      const uint32x4_t pair = vaddq_u32(row0, vshlq_n_u32(vshrq_n_u32(xu, 1), 2));
      const uint32x4_t luma = vaddq_u32(pair, vshlq_n_u32(vandq_u32(xu, vdupq_n_u32(1)), 1));
      yuv_to_rgb(bytes_at(im->plane[0], luma, 0), bytes_at(im->plane[0], pair, 1), bytes_at(im->plane[0], pair, 3),
                 rgb);
      break;
    }
    case LOTR_IMAGE_NV12: {
      const uint32x4_t uv = vaddq_u32(vmulq_n_u32(vshrq_n_u32(yu, 1), (uint32_t)im->stride[1]),
                                      vshlq_n_u32(vshrq_n_u32(xu, 1), 1));
      yuv_to_rgb(bytes_at(im->plane[0], vaddq_u32(row0, xu), 0), bytes_at(im->plane[1], uv, 0),
                 bytes_at(im->plane[1], uv, 1), rgb);
      break;
    }
    case LOTR_IMAGE_I420: {
      const uint32x4_t r = vshrq_n_u32(yu, 1), c = vshrq_n_u32(xu, 1);
      yuv_to_rgb(bytes_at(im->plane[0], vaddq_u32(row0, xu), 0),
                 bytes_at(im->plane[1], vmlaq_n_u32(c, r, (uint32_t)im->stride[1]), 0),
                 bytes_at(im->plane[2], vmlaq_n_u32(c, r, (uint32_t)im->stride[2]), 0), rgb);
      break;
    }
  }
  for (int c = 0; c < 3; c++) out[c] = vcvtq_f32_s32(vandq_s32(rgb[c], vreinterpretq_s32_u32(inside)));
}

ALWAYS_INLINE void warp_row(const lotr_image* src, lotr_image_layout layout, const float affine[6], float v,
                            uint32_t out_width, float* dst, const float mean[3], const float inv_std[3]) {
  const float32x4_t half = vdupq_n_f32(0.5f), one = vdupq_n_f32(1.0f), limit = vdupq_n_f32(1e7f);
  const float32x4_t a1v = vdupq_n_f32(affine[1] * v), a4v = vdupq_n_f32(affine[4] * v); /* same product per pixel */
  const float32x4_t width = vdupq_n_f32((float)out_width), inv255 = vdupq_n_f32(1.0f / 255.0f);
  float32x4_t m[3], s[3], black[3];
  for (int c = 0; c < 3; c++) {
    m[c] = vdupq_n_f32(mean[c]), s[c] = vdupq_n_f32(inv_std[c]);
    black[c] = vdupq_n_f32((0.0f - mean[c]) * inv_std[c]);
  }
  const uint32_t lane_init[4] = {0, 1, 2, 3};
  const uint32x4_t lane = vld1q_u32(lane_init);
  for (uint32_t j = 0; j < out_width; j += 4) {
    const float32x4_t jf = vcvtq_f32_u32(vaddq_u32(vdupq_n_u32(j), lane));
    const float32x4_t u = vsubq_f32(vdivq_f32(vaddq_f32(jf, half), width), half);
    float32x4_t x = vsubq_f32(vaddq_f32(vaddq_f32(vmulq_n_f32(u, affine[0]), a1v), vdupq_n_f32(affine[2])), half);
    float32x4_t y = vsubq_f32(vaddq_f32(vaddq_f32(vmulq_n_f32(u, affine[3]), a4v), vdupq_n_f32(affine[5])), half);
    const uint32x4_t ok = vandq_u32(vcltq_f32(vabsq_f32(x), limit), vcltq_f32(vabsq_f32(y), limit));
    x = vbslq_f32(ok, x, vdupq_n_f32(0.0f)), y = vbslq_f32(ok, y, vdupq_n_f32(0.0f)); /* NaN: blended black */
    const float32x4_t fx0 = vrndmq_f32(x), fy0 = vrndmq_f32(y);
    const float32x4_t fx = vsubq_f32(x, fx0), fy = vsubq_f32(y, fy0);
    const float32x4_t gx = vsubq_f32(one, fx), gy = vsubq_f32(one, fy);
    const int32x4_t x0 = vcvtq_s32_f32(fx0), y0 = vcvtq_s32_f32(fy0);
    const int32x4_t x1 = vaddq_s32(x0, vdupq_n_s32(1)), y1 = vaddq_s32(y0, vdupq_n_s32(1));
    float32x4_t t[4][3]; /* [tap 00 10 01 11][channel] */
    taps(src, layout, x0, y0, t[0]);
    taps(src, layout, x1, y0, t[1]);
    taps(src, layout, x0, y1, t[2]);
    taps(src, layout, x1, y1, t[3]);
    float32x4x3_t out;
    for (int c = 0; c < 3; c++) {
      const float32x4_t top = vaddq_f32(vmulq_f32(t[0][c], gx), vmulq_f32(t[1][c], fx));
      const float32x4_t bottom = vaddq_f32(vmulq_f32(t[2][c], gx), vmulq_f32(t[3][c], fx));
      const float32x4_t sample = vaddq_f32(vmulq_f32(top, gy), vmulq_f32(bottom, fy));
      out.val[c] = vbslq_f32(ok, vmulq_f32(vsubq_f32(vmulq_f32(sample, inv255), m[c]), s[c]), black[c]);
    }
    float* o = dst + (size_t)j * 3;
    if (out_width - j >= 4) {
      vst3q_f32(o, out);
    } else {
      float tail[12];
      vst3q_f32(tail, out);
      for (uint32_t i = 0; i < (out_width - j) * 3; i++) o[i] = tail[i];
    }
  }
}

/* The planes this layout reads have uint32 offsets and at least one pixel. */
static int loadable(const lotr_image* im) {
  if (im->width == 0 || im->height == 0 || im->width > INT32_MAX || im->height > INT32_MAX) return 0;
  for (int p = 0; p < 3; p++)
    if ((uint64_t)im->height * im->stride[p] + 4 * (uint64_t)im->width > UINT32_MAX) return 0;
  return 1;
}

void lotr_image_warp_row__neon(const lotr_image* src, const float affine[6], float v, uint32_t out_width, float* dst,
                               const float mean[3], const float inv_std[3]) {
  if (!loadable(src)) {
    lotr_image_warp_row__ref(src, affine, v, out_width, dst, mean, inv_std);
    return;
  }
  switch (src->layout) {
    case LOTR_IMAGE_RGB8: warp_row(src, LOTR_IMAGE_RGB8, affine, v, out_width, dst, mean, inv_std); return;
    case LOTR_IMAGE_GRAY8: warp_row(src, LOTR_IMAGE_GRAY8, affine, v, out_width, dst, mean, inv_std); return;
    case LOTR_IMAGE_YUYV: warp_row(src, LOTR_IMAGE_YUYV, affine, v, out_width, dst, mean, inv_std); return;
    case LOTR_IMAGE_NV12: warp_row(src, LOTR_IMAGE_NV12, affine, v, out_width, dst, mean, inv_std); return;
    case LOTR_IMAGE_I420: warp_row(src, LOTR_IMAGE_I420, affine, v, out_width, dst, mean, inv_std); return;
  }
  lotr_image_warp_row__ref(src, affine, v, out_width, dst, mean, inv_std);
}

#endif /* __aarch64__ */
