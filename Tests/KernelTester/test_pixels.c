/* Pixel conversions (lotr_pixels.h) on every path against the reference, bit-exactly,
 * over widths below/at/above the 16-pixel step (odd ones included), odd heights, padded
 * strides and extreme values; the reference against oracles written from the contract's
 * formulas and against known colours. */
#include <string.h>

#include "lotr_kernel_tester.h"
#include "lotr_pixels.h"

static uint8_t clamp8(long x) { return (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x); }

/* The contract, restated independently (floor division of the shifted sum). */
static void oracle_rgb(int y, int u, int v, uint8_t* rgb) {
  const long c = y - 16, d = u - 128, e = v - 128;
  const long r = 298 * c + 409 * e + 128, g = 298 * c - 100 * d - 208 * e + 128, b = 298 * c + 516 * d + 128;
  rgb[0] = clamp8(r >= 0 ? r / 256 : -((-r + 255) / 256));
  rgb[1] = clamp8(g >= 0 ? g / 256 : -((-g + 255) / 256));
  rgb[2] = clamp8(b >= 0 ? b / 256 : -((-b + 255) / 256));
}

static const size_t widths[] = {1, 2, 3, 7, 15, 16, 17, 31, 32, 33, 47, 64, 65, 127, 640};

static void fill(lotr_test_ctx* t, uint8_t* p, size_t n, int mode) {
  for (size_t i = 0; i < n; i++)
    p[i] = mode == 0 ? (uint8_t)lotr_test_int(t, 0, 255) : mode == 1 ? 0 : mode == 2 ? 255
         : (uint8_t)(lotr_test_int(t, 0, 1) ? 255 : 0);
}

static size_t first_diff(const uint8_t* a, const uint8_t* b, size_t w, size_t h, size_t stride, size_t row_bytes) {
  for (size_t r = 0; r < h; r++)
    for (size_t i = 0; i < row_bytes; i++)
      if (a[r * stride + i] != b[r * stride + i]) return r * stride + i;
  return (size_t)-1;
}

static void check_yuyv(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref, size_t w, size_t h,
                       int mode) {
  const size_t pairs = (w + 1) / 2;
  const size_t src_stride = pairs * 4 + (size_t)lotr_test_int(t, 0, 9);
  const size_t rgb_stride = w * 3 + (size_t)lotr_test_int(t, 0, 5), gray_stride = w + (size_t)lotr_test_int(t, 0, 5);
  uint8_t* src = lotr_test_alloc(src_stride * h);
  uint8_t* want = lotr_test_alloc(rgb_stride * h);
  uint8_t* got = lotr_test_alloc(rgb_stride * h);
  fill(t, src, src_stride * h, mode);
  lotr_test_case(t, "yuyv->rgb8 %zux%zu mode %d", w, h, mode);
  if (lotr_kernels_isa(kernels) == LOTR_ISA_REF) {
    for (size_t r = 0; r < h; r++)
      for (size_t x = 0; x < w; x++) {
        const uint8_t* p = src + r * src_stride + (x / 2) * 4;
        oracle_rgb(p[(x % 2) * 2], p[1], p[3], want + r * rgb_stride + x * 3);
      }
  } else {
    lotr_yuyv_to_rgb8(ref, w, h, src, src_stride, want, rgb_stride);
  }
  lotr_yuyv_to_rgb8(kernels, w, h, src, src_stride, got, rgb_stride);
  size_t bad = first_diff(want, got, w, h, rgb_stride, w * 3);
  LOTR_EXPECT(t, bad == (size_t)-1, "at byte %zu got %d want %d", bad, bad != (size_t)-1 ? got[bad] : 0,
              bad != (size_t)-1 ? want[bad] : 0);

  lotr_test_case(t, "yuyv->gray8 %zux%zu mode %d", w, h, mode);
  memset(want, 0, rgb_stride * h);
  memset(got, 0, rgb_stride * h);
  if (lotr_kernels_isa(kernels) == LOTR_ISA_REF) {
    for (size_t r = 0; r < h; r++)
      for (size_t x = 0; x < w; x++) {
        uint8_t rgb[3];
        const uint8_t* p = src + r * src_stride + (x / 2) * 4;
        oracle_rgb(p[(x % 2) * 2], 128, 128, rgb); /* gray = the RGB of zero chroma */
        want[r * gray_stride + x] = rgb[0];
      }
  } else {
    lotr_yuyv_to_gray8(ref, w, h, src, src_stride, want, gray_stride);
  }
  lotr_yuyv_to_gray8(kernels, w, h, src, src_stride, got, gray_stride);
  bad = first_diff(want, got, w, h, gray_stride, w);
  LOTR_EXPECT(t, bad == (size_t)-1, "at byte %zu got %d want %d", bad, bad != (size_t)-1 ? got[bad] : 0,
              bad != (size_t)-1 ? want[bad] : 0);
  lotr_test_free(src);
  lotr_test_free(want);
  lotr_test_free(got);
}

static void check_420(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref, size_t w, size_t h,
                      int mode, int nv12) {
  const size_t cw = (w + 1) / 2, ch = (h + 1) / 2;
  const size_t y_stride = w + (size_t)lotr_test_int(t, 0, 7);
  const size_t c_stride = (nv12 ? cw * 2 : cw) + (size_t)lotr_test_int(t, 0, 7);
  const size_t v_stride = cw + (size_t)lotr_test_int(t, 0, 7);
  const size_t rgb_stride = w * 3 + (size_t)lotr_test_int(t, 0, 5);
  uint8_t* yp = lotr_test_alloc(y_stride * h);
  uint8_t* up = lotr_test_alloc(c_stride * ch);
  uint8_t* vp = lotr_test_alloc(v_stride * ch);
  uint8_t* want = lotr_test_alloc(rgb_stride * h);
  uint8_t* got = lotr_test_alloc(rgb_stride * h);
  fill(t, yp, y_stride * h, mode);
  fill(t, up, c_stride * ch, mode);
  fill(t, vp, v_stride * ch, mode);
  lotr_test_case(t, "%s->rgb8 %zux%zu mode %d", nv12 ? "nv12" : "i420", w, h, mode);
  if (lotr_kernels_isa(kernels) == LOTR_ISA_REF) {
    for (size_t r = 0; r < h; r++)
      for (size_t x = 0; x < w; x++) {
        const int u = nv12 ? up[(r / 2) * c_stride + (x / 2) * 2] : up[(r / 2) * c_stride + x / 2];
        const int v = nv12 ? up[(r / 2) * c_stride + (x / 2) * 2 + 1] : vp[(r / 2) * v_stride + x / 2];
        oracle_rgb(yp[r * y_stride + x], u, v, want + r * rgb_stride + x * 3);
      }
  } else if (nv12) {
    lotr_nv12_to_rgb8(ref, w, h, yp, y_stride, up, c_stride, want, rgb_stride);
  } else {
    lotr_i420_to_rgb8(ref, w, h, yp, y_stride, up, c_stride, vp, v_stride, want, rgb_stride);
  }
  if (nv12) lotr_nv12_to_rgb8(kernels, w, h, yp, y_stride, up, c_stride, got, rgb_stride);
  else lotr_i420_to_rgb8(kernels, w, h, yp, y_stride, up, c_stride, vp, v_stride, got, rgb_stride);
  const size_t bad = first_diff(want, got, w, h, rgb_stride, w * 3);
  LOTR_EXPECT(t, bad == (size_t)-1, "at byte %zu got %d want %d", bad, bad != (size_t)-1 ? got[bad] : 0,
              bad != (size_t)-1 ? want[bad] : 0);
  lotr_test_free(yp);
  lotr_test_free(up);
  lotr_test_free(vp);
  lotr_test_free(want);
  lotr_test_free(got);
}

static void check_known_colours(lotr_test_ctx* t, const lotr_kernels* kernels) {
  /* Limited-range black, white, and the BT.601 primaries of 75 % colour bars. */
  static const struct { uint8_t y, u, v, r, g, b; } cases[] = {
      {16, 128, 128, 0, 0, 0},     {235, 128, 128, 255, 255, 255}, {126, 128, 128, 128, 128, 128},
      {0, 128, 128, 0, 0, 0},      {255, 128, 128, 255, 255, 255}, {81, 90, 240, 255, 0, 0},
      {145, 54, 34, 0, 255, 0},    {41, 240, 110, 0, 0, 255},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    lotr_test_case(t, "known colour %zu (Y %d U %d V %d)", i, cases[i].y, cases[i].u, cases[i].v);
    const uint8_t yuyv[4] = {cases[i].y, cases[i].u, cases[i].y, cases[i].v};
    uint8_t rgb[6];
    lotr_yuyv_to_rgb8(kernels, 2, 1, yuyv, 4, rgb, 6);
    for (int c = 0; c < 3; c++) {
      const int want = c == 0 ? cases[i].r : c == 1 ? cases[i].g : cases[i].b;
      LOTR_EXPECT(t, rgb[c] >= want - 1 && rgb[c] <= want + 1 && rgb[3 + c] == rgb[c], "channel %d = %d, want %d±1",
                  c, rgb[c], want);
    }
  }
  lotr_test_case(t, "rgb8->gray8 and y8->gray8");
  const uint8_t rgb[12] = {0, 0, 0, 255, 255, 255, 255, 0, 0, 10, 200, 30};
  uint8_t gray[4];
  lotr_rgb8_to_gray8(kernels, 4, 1, rgb, 12, gray, 4);
  LOTR_EXPECT(t, gray[0] == 0 && gray[1] == 255 && gray[2] == 77 && gray[3] == (77 * 10 + 150 * 200 + 29 * 30 + 128) / 256,
              "rgb->gray %d %d %d %d", gray[0], gray[1], gray[2], gray[3]);
  const uint8_t y8[4] = {16, 235, 0, 255};
  lotr_y8_to_gray8(kernels, 4, 1, y8, 4, gray, 4);
  LOTR_EXPECT(t, gray[0] == 0 && gray[1] == 255 && gray[2] == 0 && gray[3] == 255, "y->gray %d %d %d %d", gray[0],
              gray[1], gray[2], gray[3]);
}

void lotr_test_suite_pixels(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref) {
  check_known_colours(t, kernels);
  for (size_t i = 0; i < sizeof(widths) / sizeof(widths[0]); i++) {
    for (int mode = 0; mode < 4; mode++) {
      const size_t h = mode == 0 ? (size_t)lotr_test_int(t, 1, 5) : 1 + (size_t)lotr_test_int(t, 0, 1) * 2;
      check_yuyv(t, kernels, ref, widths[i], h, mode);
      check_420(t, kernels, ref, widths[i], h, mode, 1);
      check_420(t, kernels, ref, widths[i], h, mode, 0);
    }
  }
}
