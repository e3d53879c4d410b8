/* The pixel conversions and the crop warp of lotr_pixels.h: loop rows, pick the row
 * kernels by the path's ISA (NEON on AArch64, AVX2 on x86-64 (avx2 and avxvnni), the
 * reference elsewhere). */
#include "lotr_pixels.h"

#include "internal.h"
#include "pixels_config.h"

typedef struct {
  lotr_yuyv_row_fn yuyv_rgb, yuyv_gray;
  lotr_yuv420_row_fn yuv420_rgb;
  lotr_image_warp_row_fn warp;
} pixel_rows;

static pixel_rows rows_for(const lotr_kernels* kernels) {
  if (kernels == NULL) kernels = lotr_kernels_default(NULL);
  const lotr_isa isa = kernels != NULL ? lotr_kernels_isa(kernels) : LOTR_ISA_REF;
  switch (isa) {
#if defined(__aarch64__)
    case LOTR_ISA_NEON:
    case LOTR_ISA_NEONDOT:
      return (pixel_rows){lotr_yuyv_to_rgb8_row__neon, lotr_yuyv_to_gray8_row__neon, lotr_yuv420_to_rgb8_row__neon,
                          lotr_image_warp_row__neon};
#endif
#if defined(__x86_64__)
    case LOTR_ISA_AVX2:
    case LOTR_ISA_AVXVNNI:
      return (pixel_rows){lotr_yuyv_to_rgb8_row__avx2, lotr_yuyv_to_gray8_row__avx2, lotr_yuv420_to_rgb8_row__avx2,
                          lotr_image_warp_row__avx2};
#endif
    default:
      return (pixel_rows){lotr_yuyv_to_rgb8_row__ref, lotr_yuyv_to_gray8_row__ref, lotr_yuv420_to_rgb8_row__ref,
                          lotr_image_warp_row__ref};
  }
}

void lotr_yuyv_to_rgb8(const lotr_kernels* kernels, size_t width, size_t height, const uint8_t* src,
                       size_t src_stride, uint8_t* dst, size_t dst_stride) {
  const lotr_yuyv_row_fn row = rows_for(kernels).yuyv_rgb;
  for (size_t r = 0; r < height; r++) row(width, src + r * src_stride, dst + r * dst_stride);
}

void lotr_yuyv_to_gray8(const lotr_kernels* kernels, size_t width, size_t height, const uint8_t* src,
                        size_t src_stride, uint8_t* dst, size_t dst_stride) {
  const lotr_yuyv_row_fn row = rows_for(kernels).yuyv_gray;
  for (size_t r = 0; r < height; r++) row(width, src + r * src_stride, dst + r * dst_stride);
}

void lotr_nv12_to_rgb8(const lotr_kernels* kernels, size_t width, size_t height, const uint8_t* y,
                       size_t y_stride, const uint8_t* uv, size_t uv_stride, uint8_t* dst, size_t dst_stride) {
  const lotr_yuv420_row_fn row = rows_for(kernels).yuv420_rgb;
  for (size_t r = 0; r < height; r++) {
    const uint8_t* c = uv + (r / 2) * uv_stride;
    row(width, y + r * y_stride, c, c + 1, 2, dst + r * dst_stride);
  }
}

void lotr_i420_to_rgb8(const lotr_kernels* kernels, size_t width, size_t height, const uint8_t* y,
                       size_t y_stride, const uint8_t* u, size_t u_stride, const uint8_t* v, size_t v_stride,
                       uint8_t* dst, size_t dst_stride) {
  const lotr_yuv420_row_fn row = rows_for(kernels).yuv420_rgb;
  for (size_t r = 0; r < height; r++)
    row(width, y + r * y_stride, u + (r / 2) * u_stride, v + (r / 2) * v_stride, 1, dst + r * dst_stride);
}

void lotr_y8_to_gray8(const lotr_kernels* kernels, size_t width, size_t height, const uint8_t* src,
                      size_t src_stride, uint8_t* dst, size_t dst_stride) {
  for (size_t r = 0; r < height; r++) lotr_y8_to_gray8_row__ref(width, src + r * src_stride, dst + r * dst_stride);
}

void lotr_rgb8_to_gray8(const lotr_kernels* kernels, size_t width, size_t height, const uint8_t* src,
                        size_t src_stride, uint8_t* dst, size_t dst_stride) {
  for (size_t r = 0; r < height; r++) lotr_rgb8_to_gray8_row__ref(width, src + r * src_stride, dst + r * dst_stride);
}

typedef struct {
  lotr_image_warp_row_fn row;
  const lotr_image* src;
  const float* affine;
  float* dst;
  uint32_t out_width, out_height, rows_per_band;
  const float* mean;
  const float* inv_std;
} warp_task;

static void warp_band(void* context, size_t band) {
  const warp_task* t = context;
  const uint32_t first = (uint32_t)band * t->rows_per_band;
  const uint32_t end = first + t->rows_per_band < t->out_height ? first + t->rows_per_band : t->out_height;
  for (uint32_t i = first; i < end; i++) {
    const float v = ((float)i + 0.5f) / (float)t->out_height - 0.5f;
    t->row(t->src, t->affine, v, t->out_width, t->dst + (size_t)i * t->out_width * 3, t->mean, t->inv_std);
  }
}

void lotr_image_warp_normalize_f32(const lotr_kernels* kernels, lotr_threadpool* pool, const lotr_image* src,
                                   const float affine[6], float* dst, uint32_t out_width, uint32_t out_height,
                                   const float mean[3], const float inv_std[3]) {
  if (out_height == 0) return;
  const size_t threads = (size_t)out_width * out_height < LOTR_WARP_PARALLEL_MIN_PIXELS || pool == NULL
                             ? 1 : lotr_threadpool_threads(pool);
  const size_t bands = threads == 1 ? 1 : LOTR_MIN(threads * LOTR_WARP_BANDS_PER_THREAD, (size_t)out_height);
  warp_task t = {rows_for(kernels).warp, src, affine, dst, out_width, out_height,
                 (uint32_t)LOTR_DIV_ROUND_UP(out_height, bands), mean, inv_std};
  lotr_threadpool_run(threads == 1 ? NULL : pool, LOTR_DIV_ROUND_UP(out_height, t.rows_per_band), warp_band, &t);
}
