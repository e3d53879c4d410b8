/* One attention head for x86-64 AVX2 + FMA (LOTR: 25-68 queries over 25-68 keys, head_dim
 * 24 for lotr-s, 32 for lotr-m; any size works).
 *
 * K is first transposed into scratch as kt[head_dim][kv_padded], keys past kv_rows zero,
 * so one query's scores are a row-times-matrix product: per column c, broadcast q[c] and
 * FMA it into vectors of 8 keys; no horizontal sums. Tiles of up to 32 keys keep even and
 * odd c in separate accumulators (8 FMA chains in flight, enough for the FMA latency).
 * Softmax in place on the padded score row (padding keys set to -inf give 0); the 1/sum
 * is applied once to the output: y = (sum_j e_j v_j) / sum_j e_j, in column tiles of up to
 * 32, even and odd keys in separate accumulators; the last vector of a tile is masked. */
#include <math.h>

#include "internal.h"

#if defined(__x86_64__)
#include "x86_target.h"
LOTR_AVX2_BEGIN

#include "f32_math_avx2.h"

/* Lanes 0 .. n-1 set, n in [1, 8]. */
static inline __m256i lanes_below(size_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* s[0 .. 8*vecs) = scale * (q . kt[:, 0 .. 8*vecs)); vecs is a constant at every call. */
static inline __attribute__((always_inline)) void score_tile(const int vecs, size_t head_dim, size_t kv_padded,
                                                             const float* q, const float* kt, __m256 scale, float* s) {
  __m256 a[4], b[4];
  for (int t = 0; t < vecs; t++) a[t] = b[t] = _mm256_setzero_ps();
  size_t c = 0;
  for (; c + 2 <= head_dim; c += 2) {
    const __m256 q0 = _mm256_broadcast_ss(q + c), q1 = _mm256_broadcast_ss(q + c + 1);
    const float* k0 = kt + c * kv_padded;
    const float* k1 = k0 + kv_padded;
    for (int t = 0; t < vecs; t++) {
      a[t] = _mm256_fmadd_ps(q0, _mm256_loadu_ps(k0 + 8 * t), a[t]);
      b[t] = _mm256_fmadd_ps(q1, _mm256_loadu_ps(k1 + 8 * t), b[t]);
    }
  }
  if (c < head_dim) {
    const __m256 q0 = _mm256_broadcast_ss(q + c);
    const float* k0 = kt + c * kv_padded;
    for (int t = 0; t < vecs; t++) a[t] = _mm256_fmadd_ps(q0, _mm256_loadu_ps(k0 + 8 * t), a[t]);
  }
  for (int t = 0; t < vecs; t++) _mm256_storeu_ps(s + 8 * t, _mm256_mul_ps(_mm256_add_ps(a[t], b[t]), scale));
}

/* y[0 .. width) = inv_sum * sum_j e[j] v[j][0 .. width), width in (8*(vecs-1), 8*vecs];
 * vecs is a constant at every call. */
static inline __attribute__((always_inline)) void output_tile(const int vecs, size_t width, size_t kv_rows,
                                                              const float* e, const float* v, size_t kv_stride,
                                                              __m256 inv_sum, float* y) {
  const __m256i last = lanes_below(width - 8 * (size_t)(vecs - 1));
  __m256 a[4], b[4];
  for (int t = 0; t < vecs; t++) a[t] = b[t] = _mm256_setzero_ps();
  size_t j = 0;
  for (; j + 2 <= kv_rows; j += 2) {
    const __m256 e0 = _mm256_broadcast_ss(e + j), e1 = _mm256_broadcast_ss(e + j + 1);
    const float* v0 = v + j * kv_stride;
    const float* v1 = v0 + kv_stride;
    for (int t = 0; t < vecs - 1; t++) {
      a[t] = _mm256_fmadd_ps(e0, _mm256_loadu_ps(v0 + 8 * t), a[t]);
      b[t] = _mm256_fmadd_ps(e1, _mm256_loadu_ps(v1 + 8 * t), b[t]);
    }
    a[vecs - 1] = _mm256_fmadd_ps(e0, _mm256_maskload_ps(v0 + 8 * (vecs - 1), last), a[vecs - 1]);
    b[vecs - 1] = _mm256_fmadd_ps(e1, _mm256_maskload_ps(v1 + 8 * (vecs - 1), last), b[vecs - 1]);
  }
  if (j < kv_rows) {
    const __m256 e0 = _mm256_broadcast_ss(e + j);
    const float* v0 = v + j * kv_stride;
    for (int t = 0; t < vecs - 1; t++) a[t] = _mm256_fmadd_ps(e0, _mm256_loadu_ps(v0 + 8 * t), a[t]);
    a[vecs - 1] = _mm256_fmadd_ps(e0, _mm256_maskload_ps(v0 + 8 * (vecs - 1), last), a[vecs - 1]);
  }
  for (int t = 0; t < vecs - 1; t++) _mm256_storeu_ps(y + 8 * t, _mm256_mul_ps(_mm256_add_ps(a[t], b[t]), inv_sum));
  _mm256_maskstore_ps(y + 8 * (vecs - 1), last, _mm256_mul_ps(_mm256_add_ps(a[vecs - 1], b[vecs - 1]), inv_sum));
}

void lotr_f32_attention_head__avx2(size_t q_rows, size_t kv_rows, size_t head_dim, float scale, const float* q,
                                   size_t q_stride, const float* k, const float* v, size_t kv_stride, float* y,
                                   size_t y_stride, float* scratch) {
  const size_t kv_padded = LOTR_ATTENTION_KV_PADDED(kv_rows);
  float* kt = scratch;                    /* [head_dim][kv_padded] */
  float* s = scratch + head_dim * kv_padded; /* [kv_padded]: scores, then exp(score - max) */
  for (size_t j = 0; j < kv_rows; j++)
    for (size_t c = 0; c < head_dim; c++) kt[c * kv_padded + j] = k[j * kv_stride + c];
  for (size_t c = 0; c < head_dim; c++)
    for (size_t j = kv_rows; j < kv_padded; j++) kt[c * kv_padded + j] = 0.0f;

  const __m256 vscale = _mm256_set1_ps(scale);
  for (size_t i = 0; i < q_rows; i++) {
    const float* qi = q + i * q_stride;
    size_t j = 0;
    for (; j + 32 <= kv_padded; j += 32) score_tile(4, head_dim, kv_padded, qi, kt + j, vscale, s + j);
    switch ((kv_padded - j) / 8) {
      case 3: score_tile(3, head_dim, kv_padded, qi, kt + j, vscale, s + j); break;
      case 2: score_tile(2, head_dim, kv_padded, qi, kt + j, vscale, s + j); break;
      case 1: score_tile(1, head_dim, kv_padded, qi, kt + j, vscale, s + j); break;
      default: break;
    }
    for (j = kv_rows; j < kv_padded; j++) s[j] = -INFINITY;

    __m256 vmax = _mm256_loadu_ps(s);
    for (j = 8; j < kv_padded; j += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(s + j));
    vmax = _mm256_set1_ps(hmax(vmax));
    __m256 vsum = _mm256_setzero_ps();
    for (j = 0; j < kv_padded; j += 8) {
      const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + j), vmax));
      _mm256_storeu_ps(s + j, e);
      vsum = _mm256_add_ps(vsum, e);
    }
    const __m256 inv_sum = _mm256_set1_ps(1.0f / hsum(vsum));

    float* yi = y + i * y_stride;
    size_t c = 0;
    for (; c + 32 <= head_dim; c += 32) output_tile(4, 32, kv_rows, s, v + c, kv_stride, inv_sum, yi + c);
    if (c < head_dim) {
      const size_t width = head_dim - c;
      switch (LOTR_DIV_ROUND_UP(width, 8)) {
        case 4: output_tile(4, width, kv_rows, s, v + c, kv_stride, inv_sum, yi + c); break;
        case 3: output_tile(3, width, kv_rows, s, v + c, kv_stride, inv_sum, yi + c); break;
        case 2: output_tile(2, width, kv_rows, s, v + c, kv_stride, inv_sum, yi + c); break;
        default: output_tile(1, width, kv_rows, s, v + c, kv_stride, inv_sum, yi + c); break;
      }
    }
  }
}

LOTR_AVX2_END
#endif /* __x86_64__ */
