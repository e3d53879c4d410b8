/* Residual add for x86-64 AVX2, 16 int8 per step: int32 products
 * a*a_mult + b*b_mult - (a_zp*a_mult + b_zp*b_mult) (exact, |acc| < 2^30), rounding shift
 * by adding 2^(shift-1) and _mm256_sra_epi32, saturating packs. The < 16 tail runs the
 * reference. */
#include "internal.h"

#if defined(__x86_64__)
#include "x86_target.h"
LOTR_AVX2_BEGIN

void lotr_qs8_add__avx2(size_t n, const int8_t* a, const int8_t* b, int8_t* y, const lotr_qs8_add_params* p) {
  const __m256i va_mult = _mm256_set1_epi32(p->a_multiplier), vb_mult = _mm256_set1_epi32(p->b_multiplier);
  const __m256i vbias = _mm256_set1_epi32(-(p->a_zero_point * p->a_multiplier + p->b_zero_point * p->b_multiplier) +
                                          (int32_t)(1u << (p->shift - 1)));
  const __m128i vshift = _mm_cvtsi32_si128(p->shift);
  const __m256i vzp = _mm256_set1_epi16((int16_t)p->output_zero_point);
  const __m128i vmin = _mm_set1_epi8(p->output_min), vmax = _mm_set1_epi8(p->output_max);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i a0 = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)(a + i)));
    const __m256i a1 = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)(a + i + 8)));
    const __m256i b0 = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)(b + i)));
    const __m256i b1 = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)(b + i + 8)));
    __m256i acc0 = _mm256_add_epi32(_mm256_add_epi32(vbias, _mm256_mullo_epi32(a0, va_mult)), _mm256_mullo_epi32(b0, vb_mult));
    __m256i acc1 = _mm256_add_epi32(_mm256_add_epi32(vbias, _mm256_mullo_epi32(a1, va_mult)), _mm256_mullo_epi32(b1, vb_mult));
    acc0 = _mm256_sra_epi32(acc0, vshift);
    acc1 = _mm256_sra_epi32(acc1, vshift);
    __m256i y16 = _mm256_adds_epi16(_mm256_permute4x64_epi64(_mm256_packs_epi32(acc0, acc1), 0xD8), vzp);
    __m128i y8 = _mm_packs_epi16(_mm256_castsi256_si128(y16), _mm256_extracti128_si256(y16, 1));
    y8 = _mm_min_epi8(_mm_max_epi8(y8, vmin), vmax);
    _mm_storeu_si128((__m128i*)(y + i), y8);
  }
  if (i < n) lotr_qs8_add__ref(n - i, a + i, b + i, y + i, p);
}

LOTR_AVX2_END
#endif /* __x86_64__ */
