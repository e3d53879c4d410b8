/* The crop warp (lotr_image_warp_normalize_f32) on every path against the reference, bit
 * for bit: every camera layout, frames from 1x1 (the variants' small-frame fallbacks) to
 * 64x48 with padded strides, crops of 1 to 33 pixels a row (vector tails), rotated, scaled
 * and shifted transforms partly or wholly outside the frame, NaN and absurd ones. Every
 * plane is placed against an inaccessible page (at its end or its start), sized to the last
 * byte the reference reads, so a gather that reads one byte too far faults. The reference
 * itself is checked against the contract: warping YUYV / NV12 / I420 / GREY equals warping
 * their lotr_*_to_rgb8 conversion. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lotr_kernel_tester.h"
#include "lotr_pixels.h"

/* `bytes` of random data flush against a PROT_NONE page: after it (at_end) or before it. */
typedef struct {
  uint8_t* map;
  size_t map_bytes;
  uint8_t* data;
} guarded;

static guarded guarded_alloc(lotr_test_ctx* t, size_t bytes, int at_end) {
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  const size_t body = (bytes + page - 1) / page * page;
  guarded g = {NULL, body + 2 * page, NULL};
  void* m = mmap(NULL, g.map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) abort();
  g.map = m;
  mprotect(g.map, page, PROT_NONE);
  mprotect(g.map + page + body, page, PROT_NONE);
  g.data = at_end ? g.map + page + body - bytes : g.map + page;
  for (size_t i = 0; i < bytes; i++) g.data[i] = (uint8_t)lotr_test_int(t, 0, 255);
  return g;
}

static void guarded_free(guarded* g) {
  if (g->map != NULL) munmap(g->map, g->map_bytes);
  g->map = NULL;
}

static const char* layout_name(lotr_image_layout l) {
  static const char* names[] = {"rgb8", "gray8", "yuyv", "nv12", "i420"};
  return names[l];
}

/* A transform of the crop rule: rotation, scale (crop side against the frame), centre.
 * kind 0 upright, 1 rotated, 2 one entry NaN, 3 one entry absurd (black), 4 no extent. */
static void random_affine(lotr_test_ctx* t, size_t w, size_t h, int kind, float a[6]) {
  const float side = (float)(w > h ? w : h) * lotr_test_float(t, 0.05f, 1.6f);
  const float angle = kind == 0 ? 0.0f : lotr_test_float(t, -3.1416f, 3.1416f);
  const float cx = lotr_test_float(t, -0.3f, 1.3f) * (float)w, cy = lotr_test_float(t, -0.3f, 1.3f) * (float)h;
  const float c = cosf(angle) * side, s = sinf(angle) * side;
  a[0] = c, a[1] = -s, a[2] = cx, a[3] = s, a[4] = c, a[5] = cy;
  if (kind == 2) a[lotr_test_int(t, 0, 5)] = NAN;
  if (kind == 3) a[lotr_test_int(t, 0, 5)] = lotr_test_int(t, 0, 1) ? 3e7f : -1e9f;
  if (kind == 4) a[0] = a[1] = a[3] = a[4] = 0.0f; /* every pixel from one point */
}

static void warp_case(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref, lotr_image_layout layout,
                      size_t w, size_t h, size_t ow, size_t oh, int kind, int at_end) {
  const size_t cw = (w + 1) / 2, ch = (h + 1) / 2;
  lotr_image im = {layout, (uint32_t)w, (uint32_t)h, {NULL, NULL, NULL}, {0, 0, 0}};
  size_t bytes[3] = {0, 0, 0}; /* through the last byte the reference can read */
  switch (layout) {
    case LOTR_IMAGE_RGB8: im.stride[0] = w * 3 + (size_t)lotr_test_int(t, 0, 7); bytes[0] = (h - 1) * im.stride[0] + w * 3; break;
    case LOTR_IMAGE_GRAY8: im.stride[0] = w + (size_t)lotr_test_int(t, 0, 7); bytes[0] = (h - 1) * im.stride[0] + w; break;
    case LOTR_IMAGE_YUYV: im.stride[0] = cw * 4 + (size_t)lotr_test_int(t, 0, 7); bytes[0] = (h - 1) * im.stride[0] + cw * 4; break;
    case LOTR_IMAGE_NV12:
    case LOTR_IMAGE_I420: {
      const size_t cbytes = layout == LOTR_IMAGE_NV12 ? cw * 2 : cw;
      im.stride[0] = w + (size_t)lotr_test_int(t, 0, 7), bytes[0] = (h - 1) * im.stride[0] + w;
      im.stride[1] = cbytes + (size_t)lotr_test_int(t, 0, 7), bytes[1] = (ch - 1) * im.stride[1] + cbytes;
      if (layout == LOTR_IMAGE_I420) im.stride[2] = cw + (size_t)lotr_test_int(t, 0, 7), bytes[2] = (ch - 1) * im.stride[2] + cw;
      break;
    }
  }
  guarded planes[3] = {{NULL, 0, NULL}, {NULL, 0, NULL}, {NULL, 0, NULL}};
  for (int p = 0; p < 3; p++)
    if (bytes[p] > 0) planes[p] = guarded_alloc(t, bytes[p], at_end), im.plane[p] = planes[p].data;
  float a[6];
  random_affine(t, w, h, kind, a);
  const float mean[3] = {0.485f, 0.456f, 0.406f}, inv_std[3] = {4.367f, 4.464f, 4.444f};
  const size_t n = ow * oh * 3;
  float* want = lotr_test_alloc(n * sizeof(float));
  float* got = lotr_test_alloc(n * sizeof(float));
  lotr_test_case(t, "warp %s %zux%zu (plane at %s) -> %zux%zu, transform kind %d {%g %g %g; %g %g %g}",
                 layout_name(layout), w, h, at_end ? "end" : "start", ow, oh, kind, a[0], a[1], a[2], a[3], a[4], a[5]);
  if (lotr_kernels_isa(kernels) == LOTR_ISA_REF && layout != LOTR_IMAGE_RGB8) {
    /* The contract: the warp of the frame's RGB8 conversion. */
    const size_t rgb_stride = w * 3;
    uint8_t* rgb = lotr_test_alloc(rgb_stride * h);
    switch (layout) {
      case LOTR_IMAGE_GRAY8:
        for (size_t r = 0; r < h; r++)
          for (size_t x = 0; x < w; x++) memset(rgb + r * rgb_stride + x * 3, im.plane[0][r * im.stride[0] + x], 3);
        break;
      case LOTR_IMAGE_YUYV: lotr_yuyv_to_rgb8(ref, w, h, im.plane[0], im.stride[0], rgb, rgb_stride); break;
      case LOTR_IMAGE_NV12: lotr_nv12_to_rgb8(ref, w, h, im.plane[0], im.stride[0], im.plane[1], im.stride[1], rgb, rgb_stride); break;
      default:
        lotr_i420_to_rgb8(ref, w, h, im.plane[0], im.stride[0], im.plane[1], im.stride[1], im.plane[2], im.stride[2],
                          rgb, rgb_stride);
    }
    const lotr_image rgb_image = {LOTR_IMAGE_RGB8, (uint32_t)w, (uint32_t)h, {rgb, NULL, NULL}, {rgb_stride, 0, 0}};
    lotr_image_warp_normalize_f32(ref, NULL, &rgb_image, a, want, (uint32_t)ow, (uint32_t)oh, mean, inv_std);
    lotr_test_free(rgb);
  } else {
    lotr_image_warp_normalize_f32(ref, NULL, &im, a, want, (uint32_t)ow, (uint32_t)oh, mean, inv_std);
  }
  /* Crops above the warp's threading floor also run on every pool: the same bits. */
  const int pools = ow * oh >= LOTR_WARP_PARALLEL_MIN_PIXELS ? LOTR_TEST_MAX_THREADS : 0;
  for (int p = -1; p < pools; p++) {
    memset(got, 0xff, n * sizeof(float));
    lotr_image_warp_normalize_f32(kernels, p < 0 ? NULL : t->pools[p], &im, a, got, (uint32_t)ow, (uint32_t)oh, mean,
                                  inv_std);
    size_t bad = n;
    for (size_t i = 0; i < n && bad == n; i++)
      if (memcmp(&want[i], &got[i], sizeof(float)) != 0) bad = i;
    LOTR_EXPECT(t, bad == n, "%d pool threads: pixel (%zu, %zu) channel %zu: got %.9g want %.9g", p + 1, bad / 3 / ow,
                bad / 3 % ow, bad % 3, bad < n ? got[bad] : 0.0, bad < n ? want[bad] : 0.0);
  }
  lotr_test_free(want);
  lotr_test_free(got);
  for (int p = 0; p < 3; p++) guarded_free(&planes[p]);
}

void lotr_test_suite_warp(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref) {
  static const size_t frames[][2] = {{1, 1}, {3, 2}, {7, 5}, {8, 1}, {8, 8}, {9, 3}, {16, 2}, {37, 23}, {64, 48}};
  static const size_t crops[][2] = {{1, 1}, {7, 3}, {8, 2}, {9, 2}, {17, 5}, {33, 4}};
  static const int kinds[] = {0, 1, 1, 2, 3, 4}; /* see random_affine */
  for (int layout = LOTR_IMAGE_RGB8; layout <= LOTR_IMAGE_I420; layout++)
    for (size_t f = 0; f < sizeof(frames) / sizeof(frames[0]); f++) {
      for (size_t c = 0; c < sizeof(crops) / sizeof(crops[0]); c++)
        for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
          warp_case(t, kernels, ref, (lotr_image_layout)layout, frames[f][0], frames[f][1], crops[c][0], crops[c][1],
                    kinds[k], (int)((f + c + k) % 2));
      /* A crop the pool splits (65 rows: bands of uneven size), from the larger frames. */
      if (frames[f][0] * frames[f][1] >= 37 * 23)
        for (size_t k = 0; k < 2; k++)
          warp_case(t, kernels, ref, (lotr_image_layout)layout, frames[f][0], frames[f][1], 66, 65, kinds[k], (int)k);
    }
}
