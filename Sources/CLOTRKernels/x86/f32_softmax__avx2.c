/* Softmax of one row for x86-64 AVX2: max, then exp(x - max) stored and summed, then a
 * multiply by 1/sum. exp: n = round(x log2 e), r = x - n ln2 (Cody-Waite, two constants),
 * degree-5 minimax polynomial on [-ln2/2, ln2/2], times 2^n built in the exponent bits;
 * inputs below -87.336 (2^-126) give 0, above 88 give exp(88). Measured max relative error
 * against double exp on [-87, 0]: 1.6e-7. Tails use masks. */
#include <math.h>

#include "internal.h"

#if defined(__x86_64__)
#include "x86_target.h"
LOTR_AVX2_BEGIN

static inline __m256 exp8(__m256 x) {
  const __m256 underflow = _mm256_cmp_ps(x, _mm256_set1_ps(-87.33654475f), _CMP_GE_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.33654475f)), _mm256_set1_ps(88.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504089f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62E400p-1f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7F7D1Cp-20f), r);
  __m256 p = _mm256_set1_ps(0x1.0F9F9Cp-7f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.573A1Ap-5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.555A80p-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.FFFDC6p-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.FFFFF6p-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256 s = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
  return _mm256_and_ps(_mm256_mul_ps(p, s), underflow);
}

static inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

static inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

void lotr_f32_softmax__avx2(size_t cols, const float* x, float* y) {
  const size_t full = cols & ~(size_t)7;
  const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(cols - full)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  __m256 vmax = _mm256_set1_ps(-INFINITY);
  for (size_t i = 0; i < full; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
  if (full < cols)
    vmax = _mm256_max_ps(vmax, _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_maskload_ps(x + full, mask),
                                                _mm256_castsi256_ps(mask)));
  vmax = _mm256_set1_ps(hmax(vmax));
  __m256 sum = _mm256_setzero_ps();
  for (size_t i = 0; i < full; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax));
    _mm256_storeu_ps(y + i, e);
    sum = _mm256_add_ps(sum, e);
  }
  if (full < cols) {
    const __m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(_mm256_maskload_ps(x + full, mask), vmax)), _mm256_castsi256_ps(mask));
    _mm256_maskstore_ps(y + full, mask, e);
    sum = _mm256_add_ps(sum, e);
  }
  const __m256 vinv = _mm256_set1_ps(1.0f / hsum(sum));
  for (size_t i = 0; i < full; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), vinv));
  if (full < cols) _mm256_maskstore_ps(y + full, mask, _mm256_mul_ps(_mm256_maskload_ps(y + full, mask), vinv));
}

LOTR_AVX2_END
#endif /* __x86_64__ */
