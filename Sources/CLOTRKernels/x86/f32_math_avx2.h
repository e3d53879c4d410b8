/* Float helpers for x86-64 AVX2, shared by softmax, layernorm and attention: horizontal sum and max,
 * and exp of 8 floats: n = round(x log2 e),
 * r = x - n ln2 (Cody-Waite, two constants), degree-5 minimax polynomial on
 * [-ln2/2, ln2/2], times 2^n built in the exponent bits; inputs below -87.336 (2^-126),
 * -inf included, give 0, above 88 give exp(88). Max relative error against double exp on
 * [-87, 0]: 1.6e-7. Include it inside a LOTR_AVX2_BEGIN region, after x86_target.h. */
#ifndef LOTR_F32_MATH_AVX2_H
#define LOTR_F32_MATH_AVX2_H

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

#endif
