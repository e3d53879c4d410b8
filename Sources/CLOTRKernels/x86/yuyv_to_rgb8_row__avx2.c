/* YUYV row to RGB8 for x86-64 AVX2 (development machines), 16 pixels per step: PSHUFB
 * splits Y and repeats U, V per pixel, the channels are VPMADDWD sums (pixels_avx2.h),
 * nine PSHUFBs interleave. The < 16 tail runs the reference. */
#include "pixels_config.h"

#if defined(__x86_64__)
#include "x86_target.h"
LOTR_AVX2_BEGIN
#include "pixels_avx2.h"

void lotr_yuyv_to_rgb8_row__avx2(size_t width, const uint8_t* src, uint8_t* dst) {
  const __m128i my = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i mu = _mm_setr_epi8(1, 1, 5, 5, 9, 9, 13, 13, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i mv = _mm_setr_epi8(3, 3, 7, 7, 11, 11, 15, 15, -1, -1, -1, -1, -1, -1, -1, -1);
  size_t x = 0;
  for (; x + 16 <= width; x += 16) {
    const __m128i a = _mm_loadu_si128((const __m128i*)(src + x * 2));
    const __m128i b = _mm_loadu_si128((const __m128i*)(src + x * 2 + 16));
    const __m128i y = _mm_unpacklo_epi64(_mm_shuffle_epi8(a, my), _mm_shuffle_epi8(b, my));
    const __m128i u = _mm_unpacklo_epi64(_mm_shuffle_epi8(a, mu), _mm_shuffle_epi8(b, mu));
    const __m128i v = _mm_unpacklo_epi64(_mm_shuffle_epi8(a, mv), _mm_shuffle_epi8(b, mv));
    lotr_px_yuv16_to_rgb(y, u, v, dst + x * 3);
  }
  if (x < width) lotr_yuyv_to_rgb8_row__ref(width - x, src + x * 2, dst + x * 3);
}

LOTR_AVX2_END
#endif /* __x86_64__ */
