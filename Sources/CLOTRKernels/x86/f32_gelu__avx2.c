/* Exact GELU for x86-64 AVX2: y = x/2 * (1 + erf(x / sqrt 2)), erf(z) = z P(z^2) / Q(z^2)
 * with z clamped to [-3.92, 3.92] (erf(3.92) rounds to 1 in float), P degree 7, Q degree 4,
 * fitted minimax on [0, 3.92] (max error 5e-8 in exact arithmetic; about 3e-7 after float
 * evaluation), clamped to [-1, 1]; x < -5.3 gives 0 (|gelu| < 3.1e-7 there). The tail uses masked loads/stores. */
#include "internal.h"

#if defined(__x86_64__)
#include "x86_target.h"
LOTR_AVX2_BEGIN

static inline __m256 gelu8(__m256 x) {
  const __m256 z = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f)),
                                               _mm256_set1_ps(-3.92f)), _mm256_set1_ps(3.92f));
  const __m256 t = _mm256_mul_ps(z, z);
  __m256 p = _mm256_set1_ps(-7.312649375e-10f);
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(7.352107190e-08f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-3.496811814e-06f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.415299630e-04f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(2.036068588e-03f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(4.562219605e-02f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.526716352e-01f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.128378749e+00f));
  __m256 q = _mm256_set1_ps(6.536960136e-04f);
  q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(1.095267758e-02f));
  q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(9.665216506e-02f));
  q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(4.686318934e-01f));
  q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(1.0f));
  const __m256 erf = _mm256_min_ps(_mm256_max_ps(_mm256_div_ps(_mm256_mul_ps(z, p), q), _mm256_set1_ps(-1.0f)),
                                   _mm256_set1_ps(1.0f));
  const __m256 half_x = _mm256_mul_ps(x, _mm256_set1_ps(0.5f));
  const __m256 y = _mm256_fmadd_ps(half_x, erf, half_x);
  /* Below -5.3, |gelu| < 3.1e-7: return 0 rather than amplify erf's rounding by |x|/2. */
  return _mm256_andnot_ps(_mm256_cmp_ps(x, _mm256_set1_ps(-5.3f), _CMP_LT_OQ), y);
}

void lotr_f32_gelu__avx2(size_t n, const float* x, float* y) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, gelu8(_mm256_loadu_ps(x + i)));
  if (i < n) {
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - i)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(y + i, mask, gelu8(_mm256_maskload_ps(x + i, mask)));
  }
}

LOTR_AVX2_END
#endif /* __x86_64__ */
