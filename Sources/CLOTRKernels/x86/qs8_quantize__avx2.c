/* Float to int8 for x86-64 AVX2, 32 per step: one multiply by 1/scale, NaN lanes zeroed,
 * clamp to +-512 (then _mm256_cvtps_epi32 cannot overflow), conversion rounding half to
 * even (the default MXCSR mode), saturating packs. The tail runs the reference. */
#include "internal.h"

#if defined(__x86_64__)
#include "x86_target.h"
LOTR_AVX2_BEGIN

static inline __m256i quantize8(const float* x, __m256 vinv, __m256i vzp) {
  __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x), vinv);
  v = _mm256_and_ps(v, _mm256_cmp_ps(v, v, _CMP_ORD_Q));
  v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-512.0f)), _mm256_set1_ps(512.0f));
  return _mm256_add_epi32(_mm256_cvtps_epi32(v), vzp);
}

void lotr_qs8_quantize__avx2(size_t n, const float* x, int8_t* y, float inv_scale, int32_t zero_point) {
  const __m256 vinv = _mm256_set1_ps(inv_scale);
  const __m256i vzp = _mm256_set1_epi32(zero_point);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i q0 = quantize8(x + i, vinv, vzp), q1 = quantize8(x + i + 8, vinv, vzp);
    const __m256i q2 = quantize8(x + i + 16, vinv, vzp), q3 = quantize8(x + i + 24, vinv, vzp);
    const __m256i q = _mm256_packs_epi16(_mm256_packs_epi32(q0, q1), _mm256_packs_epi32(q2, q3));
    _mm256_storeu_si256((__m256i*)(y + i), _mm256_permutevar8x32_epi32(q, order));
  }
  if (i < n) lotr_qs8_quantize__ref(n - i, x + i, y + i, inv_scale, zero_point);
}

LOTR_AVX2_END
#endif /* __x86_64__ */
