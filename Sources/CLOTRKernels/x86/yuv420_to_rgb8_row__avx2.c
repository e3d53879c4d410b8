/* One 4:2:0 row (NV12 or I420) to RGB8 for x86-64 AVX2, 16 pixels per step: chroma
 * repeated per pixel with PUNPCKLBW (I420) or PSHUFB (NV12's UV pairs), channels as in
 * pixels_avx2.h. Tail: the reference. */
#include "pixels_config.h"

#if defined(__x86_64__)
#include "x86_target.h"
LOTR_AVX2_BEGIN
#include "pixels_avx2.h"

void lotr_yuv420_to_rgb8_row__avx2(size_t width, const uint8_t* y, const uint8_t* u, const uint8_t* v,
                                   size_t uv_step, uint8_t* dst) {
  const __m128i mu = _mm_setr_epi8(0, 0, 2, 2, 4, 4, 6, 6, 8, 8, 10, 10, 12, 12, 14, 14);
  const __m128i mv = _mm_setr_epi8(1, 1, 3, 3, 5, 5, 7, 7, 9, 9, 11, 11, 13, 13, 15, 15);
  size_t x = 0;
  for (; x + 16 <= width; x += 16) {
    const __m128i luma = _mm_loadu_si128((const __m128i*)(y + x));
    __m128i cu, cv;
    if (uv_step == 2 && v == u + 1) {
      const __m128i uv = _mm_loadu_si128((const __m128i*)(u + x));
      cu = _mm_shuffle_epi8(uv, mu);
      cv = _mm_shuffle_epi8(uv, mv);
    } else if (uv_step == 1) {
      const __m128i u8 = _mm_loadl_epi64((const __m128i*)(u + x / 2));
      const __m128i v8 = _mm_loadl_epi64((const __m128i*)(v + x / 2));
      cu = _mm_unpacklo_epi8(u8, u8);
      cv = _mm_unpacklo_epi8(v8, v8);
    } else {
      break;
    }
    lotr_px_yuv16_to_rgb(luma, cu, cv, dst + x * 3);
  }
  if (x < width)
    lotr_yuv420_to_rgb8_row__ref(width - x, y + x, u + (x / 2) * uv_step, v + (x / 2) * uv_step, uv_step, dst + x * 3);
}

LOTR_AVX2_END
#endif /* __x86_64__ */
