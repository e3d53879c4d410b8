/* Int8 to float for x86-64 AVX2, 16 per step: exact int32 (q - zp), exact conversion,
 * one multiply (bit-identical to the reference). The tail runs the reference. */
#include "internal.h"

#if defined(__x86_64__)
#include "x86_target.h"
LOTR_AVX2_BEGIN

void lotr_qs8_dequantize__avx2(size_t n, const int8_t* q, float* y, float scale, int32_t zero_point) {
  const __m256 vscale = _mm256_set1_ps(scale);
  const __m256i vzp = _mm256_set1_epi32(zero_point);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i q0 = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)(q + i)));
    const __m256i q1 = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)(q + i + 8)));
    _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q0, vzp)), vscale));
    _mm256_storeu_ps(y + i + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q1, vzp)), vscale));
  }
  if (i < n) lotr_qs8_dequantize__ref(n - i, q + i, y + i, scale, zero_point);
}

LOTR_AVX2_END
#endif /* __x86_64__ */
