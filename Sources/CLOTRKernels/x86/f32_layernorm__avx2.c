/* LayerNorm of one row for x86-64 AVX2: two passes (mean, then corrected centred sums),
 * float lanes, 1/sqrt once per row, then y = (x - mean) * rstd * gamma + beta with FMA.
 * Tails use masked loads/stores. */
#include <math.h>

#include "internal.h"

#if defined(__x86_64__)
#include "x86_target.h"
LOTR_AVX2_BEGIN

#include "f32_math_avx2.h"

static inline __m256i tail_mask(size_t rest) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rest), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

void lotr_f32_layernorm__avx2(size_t cols, const float* x, const float* gamma, const float* beta, float eps, float* y) {
  const size_t full = cols & ~(size_t)7;
  const __m256i mask = tail_mask(cols - full);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= full; i += 16) {
    s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
    s1 = _mm256_add_ps(s1, _mm256_loadu_ps(x + i + 8));
  }
  for (; i < full; i += 8) s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
  if (full < cols) s1 = _mm256_add_ps(s1, _mm256_maskload_ps(x + full, mask));
  /* Corrected two-pass: the centred pass also sums d = x - mean0, whose mean c repairs the
   * rounding of mean0 (mean = mean0 + c, var = E[d^2] - c^2). */
  const float mean0 = hsum(_mm256_add_ps(s0, s1)) / (float)cols;
  const __m256 vmean = _mm256_set1_ps(mean0);
  __m256 d0 = _mm256_setzero_ps(), d1 = _mm256_setzero_ps();
  s0 = _mm256_setzero_ps();
  s1 = _mm256_setzero_ps();
  for (i = 0; i + 16 <= full; i += 16) {
    const __m256 a = _mm256_sub_ps(_mm256_loadu_ps(x + i), vmean);
    const __m256 b = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vmean);
    d0 = _mm256_add_ps(d0, a);
    d1 = _mm256_add_ps(d1, b);
    s0 = _mm256_fmadd_ps(a, a, s0);
    s1 = _mm256_fmadd_ps(b, b, s1);
  }
  for (; i < full; i += 8) {
    const __m256 a = _mm256_sub_ps(_mm256_loadu_ps(x + i), vmean);
    d0 = _mm256_add_ps(d0, a);
    s0 = _mm256_fmadd_ps(a, a, s0);
  }
  if (full < cols) {
    const __m256 a = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(x + full, mask), vmean), _mm256_castsi256_ps(mask));
    d1 = _mm256_add_ps(d1, a);
    s1 = _mm256_fmadd_ps(a, a, s1);
  }
  const float c = hsum(_mm256_add_ps(d0, d1)) / (float)cols;
  const float var = hsum(_mm256_add_ps(s0, s1)) / (float)cols - c * c;
  const float rstd = 1.0f / sqrtf((var > 0.0f ? var : 0.0f) + eps);
  const __m256 vc = _mm256_set1_ps(c);
  const __m256 vrstd = _mm256_set1_ps(rstd);
  for (i = 0; i < full; i += 8) {
    const __m256 n = _mm256_mul_ps(_mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmean), vc), vrstd);
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(n, _mm256_loadu_ps(gamma + i), _mm256_loadu_ps(beta + i)));
  }
  if (full < cols) {
    const __m256 n = _mm256_mul_ps(_mm256_sub_ps(_mm256_sub_ps(_mm256_maskload_ps(x + full, mask), vmean), vc), vrstd);
    const __m256 r = _mm256_fmadd_ps(n, _mm256_maskload_ps(gamma + full, mask), _mm256_maskload_ps(beta + full, mask));
    _mm256_maskstore_ps(y + full, mask, r);
  }
}

LOTR_AVX2_END
#endif /* __x86_64__ */
