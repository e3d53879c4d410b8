/* YUYV row to gray for x86-64 AVX2, 16 pixels per step: PSHUFB gathers Y, one VPMADDWD
 * of (Y-16, 1)·(298, 128), VPSRAD 8, saturating packs. Tail: the reference. */
#include "pixels_config.h"

#if defined(__x86_64__)
#include "x86_target.h"
LOTR_AVX2_BEGIN
#include "pixels_avx2.h"

void lotr_yuyv_to_gray8_row__avx2(size_t width, const uint8_t* src, uint8_t* dst) {
  const __m128i my = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m256i one = _mm256_set1_epi16(1);
  size_t x = 0;
  for (; x + 16 <= width; x += 16) {
    const __m128i a = _mm_loadu_si128((const __m128i*)(src + x * 2));
    const __m128i b = _mm_loadu_si128((const __m128i*)(src + x * 2 + 16));
    const __m128i y = _mm_unpacklo_epi64(_mm_shuffle_epi8(a, my), _mm_shuffle_epi8(b, my));
    const __m256i c = lotr_px_centre(y, 16);
    const __m256i k = _mm256_set1_epi32((int32_t)((128u << 16) | 298u));
    const __m256i lo = _mm256_srai_epi32(_mm256_madd_epi16(_mm256_unpacklo_epi16(c, one), k), 8);
    const __m256i hi = _mm256_srai_epi32(_mm256_madd_epi16(_mm256_unpackhi_epi16(c, one), k), 8);
    const __m256i w = _mm256_packs_epi32(lo, hi);
    const __m256i g = _mm256_permute4x64_epi64(_mm256_packus_epi16(w, w), 0x08);
    _mm_storeu_si128((__m128i*)(dst + x), _mm256_castsi256_si128(g));
  }
  if (x < width) lotr_yuyv_to_gray8_row__ref(width - x, src + x * 2, dst + x);
}

LOTR_AVX2_END
#endif /* __x86_64__ */
