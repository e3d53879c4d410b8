/* Softmax of one row for x86-64 AVX2: max, then exp(x - max) stored and summed, then a
 * multiply by 1/sum. exp: f32_math_avx2.h (max relative error 1.6e-7). Tails use masks. */
#include <math.h>

#include "internal.h"

#if defined(__x86_64__)
#include "x86_target.h"
LOTR_AVX2_BEGIN

#include "f32_math_avx2.h"

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
