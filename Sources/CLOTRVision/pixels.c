// Gray conversion, bilinear resize and integral images for the cascade detector.
// Scalar C: the detector's time goes into the cascade, not here (docs/VISION.md).
#include "lotr_vision.h"

#include <math.h>

void lotr_vision_rgb8_to_gray(const uint8_t *rgb, size_t rgb_stride, uint32_t width, uint32_t height,
                              uint8_t *gray, size_t gray_stride) {
  for (uint32_t y = 0; y < height; y++) {
    const uint8_t *s = rgb + y * rgb_stride;
    uint8_t *d = gray + y * gray_stride;
    for (uint32_t x = 0; x < width; x++, s += 3) {
      d[x] = (uint8_t)((4899u * s[0] + 9617u * s[1] + 1868u * s[2] + 8192u) >> 14);
    }
  }
}

enum { RESIZE_BITS = 11, RESIZE_ONE = 1 << RESIZE_BITS };

// Source index and 11-bit weight of the second tap for destination coordinate d.
static inline void resize_tap(uint32_t d, double scale, uint32_t n, int32_t *index, int32_t *alpha) {
  double s = ((double)d + 0.5) * scale - 0.5;
  int32_t i = (int32_t)floor(s);
  double f = s - i;
  if (i < 0) { i = 0; f = 0; }
  if (i >= (int32_t)n - 1) { i = (int32_t)n - 1; f = 0; }
  *index = i;
  *alpha = (int32_t)lrint(f * RESIZE_ONE);
}

void lotr_vision_resize_gray(const uint8_t *src, uint32_t sw, uint32_t sh, size_t sstride,
                             uint8_t *dst, uint32_t dw, uint32_t dh, size_t dstride) {
  if (!dw || !dh || !sw || !sh) return;
  double sx = (double)sw / dw, sy = (double)sh / dh;
  // Column taps are the same for every row; a small stack table covers frames up to 4096 wide.
  enum { MAXW = 4096 };
  int32_t xi[MAXW], xa[MAXW];
  uint32_t cols = dw < MAXW ? dw : MAXW;
  for (uint32_t x = 0; x < cols; x++) resize_tap(x, sx, sw, &xi[x], &xa[x]);
  for (uint32_t y = 0; y < dh; y++) {
    int32_t yi, ya;
    resize_tap(y, sy, sh, &yi, &ya);
    const uint8_t *r0 = src + (size_t)yi * sstride;
    const uint8_t *r1 = yi + 1 < (int32_t)sh ? r0 + sstride : r0;
    uint8_t *d = dst + (size_t)y * dstride;
    for (uint32_t x = 0; x < dw; x++) {
      int32_t i, a;
      if (x < cols) { i = xi[x]; a = xa[x]; } else resize_tap(x, sx, sw, &i, &a);
      int32_t j = i + 1 < (int32_t)sw ? i + 1 : i;
      int32_t top = r0[i] * (RESIZE_ONE - a) + r0[j] * a;
      int32_t bottom = r1[i] * (RESIZE_ONE - a) + r1[j] * a;
      int64_t v = (int64_t)top * (RESIZE_ONE - ya) + (int64_t)bottom * ya;
      d[x] = (uint8_t)((v + (1 << (2 * RESIZE_BITS - 1))) >> (2 * RESIZE_BITS));
    }
  }
}

void lotr_vision_integral(const uint8_t *img, uint32_t w, uint32_t h, size_t stride,
                          int32_t *sum, int64_t *sqsum) {
  size_t S = (size_t)w + 1;
  for (size_t x = 0; x < S; x++) {
    sum[x] = 0;
    if (sqsum) sqsum[x] = 0;
  }
  for (uint32_t y = 0; y < h; y++) {
    const uint8_t *row = img + (size_t)y * stride;
    int32_t *s = sum + (size_t)(y + 1) * S;
    const int32_t *above = s - S;
    int32_t run = 0;
    s[0] = 0;
    for (uint32_t x = 0; x < w; x++) {
      run += row[x];
      s[x + 1] = above[x + 1] + run;
    }
    if (sqsum) {
      int64_t *q = sqsum + (size_t)(y + 1) * S;
      const int64_t *qa = q - S;
      int64_t qrun = 0;
      q[0] = 0;
      for (uint32_t x = 0; x < w; x++) {
        qrun += (int64_t)row[x] * row[x];
        q[x + 1] = qa[x + 1] + qrun;
      }
    }
  }
}
