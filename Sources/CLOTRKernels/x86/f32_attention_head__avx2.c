/* One attention head for x86-64 AVX2 + FMA (LOTR: 25-68 queries over 25-68 keys, head_dim
 * 24 for lotr-s, 32 for lotr-m; any size works).
 *
 * K is first transposed into scratch as kt[head_dim][kv_padded], keys past kv_rows zero,
 * so the scores of a query are a row-times-matrix product: per column c, broadcast q[c]
 * and FMA it into vectors of 8 keys; no horizontal sums. Queries go in pairs, so each kt
 * and V load feeds two FMAs (the loads, not the FMAs, bound these small products): tiles
 * of 2 queries x up to 32 keys for the scores, 2 queries x up to 32 columns for the
 * output, 8 FMA chains in flight. Softmax in place on each padded score row (padding
 * keys set to -inf give 0); the 1/sum is applied once to the output:
 * y = (sum_j e_j v_j) / sum_j e_j. A head_dim off the 8-float vector ends in a masked
 * vector (masked loads and stores are slow on AMD cores: only there). */
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

/* For query rows 0 and (rows == 2) 1: s_r[0 .. 8*vecs) = scale * (q_r . kt[:, 0 .. 8*vecs)).
 * rows (1-2) and vecs (1-4) are constants at every call: the guards fold and the
 * accumulators stay in registers. Narrow tiles (vecs <= 2) sum odd c into the spare
 * accumulators, so every tile keeps at least 6 FMA chains in flight. */
static inline __attribute__((always_inline)) void score_tile(const int rows, const int vecs, size_t head_dim,
                                                             size_t kv_padded, const float* q0, const float* q1,
                                                             const float* kt, __m256 scale, float* s0, float* s1) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  size_t c = 0;
  if (vecs <= 2) {
    for (; c + 2 <= head_dim; c += 2) {
      const float* kc = kt + c * kv_padded;
      const __m256 x0 = _mm256_broadcast_ss(q0 + c), y0 = _mm256_broadcast_ss(q0 + c + 1);
      const __m256 x1 = rows > 1 ? _mm256_broadcast_ss(q1 + c) : x0;
      const __m256 y1 = rows > 1 ? _mm256_broadcast_ss(q1 + c + 1) : y0;
      __m256 even = _mm256_loadu_ps(kc), odd = _mm256_loadu_ps(kc + kv_padded);
      a0 = _mm256_fmadd_ps(x0, even, a0);
      a2 = _mm256_fmadd_ps(y0, odd, a2);
      if (rows > 1) b0 = _mm256_fmadd_ps(x1, even, b0);
      if (rows > 1) b2 = _mm256_fmadd_ps(y1, odd, b2);
      if (vecs > 1) {
        even = _mm256_loadu_ps(kc + 8), odd = _mm256_loadu_ps(kc + kv_padded + 8);
        a1 = _mm256_fmadd_ps(x0, even, a1);
        a3 = _mm256_fmadd_ps(y0, odd, a3);
        if (rows > 1) b1 = _mm256_fmadd_ps(x1, even, b1);
        if (rows > 1) b3 = _mm256_fmadd_ps(y1, odd, b3);
      }
    }
    a0 = _mm256_add_ps(a0, a2), a1 = _mm256_add_ps(a1, a3), b0 = _mm256_add_ps(b0, b2), b1 = _mm256_add_ps(b1, b3);
    a2 = a3 = b2 = b3 = _mm256_setzero_ps();
  }
  for (; c < head_dim; c++) {
    const __m256 x0 = _mm256_broadcast_ss(q0 + c);
    const __m256 x1 = rows > 1 ? _mm256_broadcast_ss(q1 + c) : x0;
    const float* kc = kt + c * kv_padded;
    __m256 kv = _mm256_loadu_ps(kc);
    a0 = _mm256_fmadd_ps(x0, kv, a0);
    if (rows > 1) b0 = _mm256_fmadd_ps(x1, kv, b0);
    if (vecs > 1) {
      kv = _mm256_loadu_ps(kc + 8);
      a1 = _mm256_fmadd_ps(x0, kv, a1);
      if (rows > 1) b1 = _mm256_fmadd_ps(x1, kv, b1);
    }
    if (vecs > 2) {
      kv = _mm256_loadu_ps(kc + 16);
      a2 = _mm256_fmadd_ps(x0, kv, a2);
      if (rows > 1) b2 = _mm256_fmadd_ps(x1, kv, b2);
    }
    if (vecs > 3) {
      kv = _mm256_loadu_ps(kc + 24);
      a3 = _mm256_fmadd_ps(x0, kv, a3);
      if (rows > 1) b3 = _mm256_fmadd_ps(x1, kv, b3);
    }
  }
  _mm256_storeu_ps(s0, _mm256_mul_ps(a0, scale));
  if (vecs > 1) _mm256_storeu_ps(s0 + 8, _mm256_mul_ps(a1, scale));
  if (vecs > 2) _mm256_storeu_ps(s0 + 16, _mm256_mul_ps(a2, scale));
  if (vecs > 3) _mm256_storeu_ps(s0 + 24, _mm256_mul_ps(a3, scale));
  if (rows > 1) {
    _mm256_storeu_ps(s1, _mm256_mul_ps(b0, scale));
    if (vecs > 1) _mm256_storeu_ps(s1 + 8, _mm256_mul_ps(b1, scale));
    if (vecs > 2) _mm256_storeu_ps(s1 + 16, _mm256_mul_ps(b2, scale));
    if (vecs > 3) _mm256_storeu_ps(s1 + 24, _mm256_mul_ps(b3, scale));
  }
}

/* All kv_padded scores of rows 0 and (rows == 2) 1, in tiles of 32 keys and the rest. */
static inline __attribute__((always_inline)) void score_rows(const int rows, size_t head_dim, size_t kv_padded,
                                                             const float* q0, const float* q1, const float* kt,
                                                             __m256 scale, float* s0, float* s1) {
  size_t j = 0;
  for (; j + 32 <= kv_padded; j += 32) score_tile(rows, 4, head_dim, kv_padded, q0, q1, kt + j, scale, s0 + j, s1 + j);
  switch ((kv_padded - j) / 8) {
    case 3: score_tile(rows, 3, head_dim, kv_padded, q0, q1, kt + j, scale, s0 + j, s1 + j); break;
    case 2: score_tile(rows, 2, head_dim, kv_padded, q0, q1, kt + j, scale, s0 + j, s1 + j); break;
    case 1: score_tile(rows, 1, head_dim, kv_padded, q0, q1, kt + j, scale, s0 + j, s1 + j); break;
    default: break;
  }
}

/* For rows 0 and (rows == 2) 1: s_r[j] = exp(s_r[j] - max_r) over the padded row (padding
 * set to -inf first, giving 0); inv_r = 1 / sum_j s_r[j] in every lane. The two rows' exp
 * chains interleave (each is about 15 dependent operations). */
static inline __attribute__((always_inline)) void softmax_rows(const int rows, size_t kv_rows, size_t kv_padded,
                                                               float* s0, float* s1, __m256* inv0, __m256* inv1) {
  for (size_t j = kv_rows; j < kv_padded; j++) {
    s0[j] = -INFINITY;
    if (rows > 1) s1[j] = -INFINITY;
  }
  __m256 max0 = _mm256_loadu_ps(s0), max1 = rows > 1 ? _mm256_loadu_ps(s1) : max0;
  for (size_t j = 8; j < kv_padded; j += 8) {
    max0 = _mm256_max_ps(max0, _mm256_loadu_ps(s0 + j));
    if (rows > 1) max1 = _mm256_max_ps(max1, _mm256_loadu_ps(s1 + j));
  }
  max0 = _mm256_set1_ps(hmax(max0));
  if (rows > 1) max1 = _mm256_set1_ps(hmax(max1));
  __m256 sum0 = _mm256_setzero_ps(), sum1 = sum0;
  for (size_t j = 0; j < kv_padded; j += 8) {
    const __m256 e0 = exp8(_mm256_sub_ps(_mm256_loadu_ps(s0 + j), max0));
    _mm256_storeu_ps(s0 + j, e0);
    sum0 = _mm256_add_ps(sum0, e0);
    if (rows > 1) {
      const __m256 e1 = exp8(_mm256_sub_ps(_mm256_loadu_ps(s1 + j), max1));
      _mm256_storeu_ps(s1 + j, e1);
      sum1 = _mm256_add_ps(sum1, e1);
    }
  }
  *inv0 = _mm256_set1_ps(1.0f / hsum(sum0));
  if (rows > 1) *inv1 = _mm256_set1_ps(1.0f / hsum(sum1));
}

static inline __attribute__((always_inline)) void store_tile(const int vecs, const int masked, __m256i last,
                                                             __m256 inv_sum, __m256 a0, __m256 a1, __m256 a2,
                                                             __m256 a3, float* y) {
  a0 = _mm256_mul_ps(a0, inv_sum), a1 = _mm256_mul_ps(a1, inv_sum);
  a2 = _mm256_mul_ps(a2, inv_sum), a3 = _mm256_mul_ps(a3, inv_sum);
  const __m256 tail = vecs == 1 ? a0 : vecs == 2 ? a1 : vecs == 3 ? a2 : a3;
  if (vecs > 1) _mm256_storeu_ps(y, a0);
  if (vecs > 2) _mm256_storeu_ps(y + 8, a1);
  if (vecs > 3) _mm256_storeu_ps(y + 16, a2);
  if (masked) _mm256_maskstore_ps(y + 8 * (vecs - 1), last, tail);
  else _mm256_storeu_ps(y + 8 * (vecs - 1), tail);
}

/* For rows 0 and (rows == 2) 1: y_r[0 .. width) = inv_r * sum_j e_r[j] v[j][0 .. width),
 * width in (8*(vecs-1), 8*vecs]. rows, vecs and masked (width < 8*vecs) are constants at
 * every call. */
static inline __attribute__((always_inline)) void output_tile(const int rows, const int vecs, const int masked,
                                                              size_t width, size_t kv_rows, const float* e0,
                                                              const float* e1, const float* v, size_t kv_stride,
                                                              __m256 inv0, __m256 inv1, float* y0, float* y1) {
  const __m256i last = lanes_below(width - 8 * (size_t)(vecs - 1));
#define LOAD_V(t) \
  ((masked && (t) == vecs - 1) ? _mm256_maskload_ps(vj + 8 * (t), last) : _mm256_loadu_ps(vj + 8 * (t)))
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  for (size_t j = 0; j < kv_rows; j++) {
    const __m256 p0 = _mm256_broadcast_ss(e0 + j);
    const __m256 p1 = rows > 1 ? _mm256_broadcast_ss(e1 + j) : p0;
    const float* vj = v + j * kv_stride;
    __m256 vv = LOAD_V(0);
    a0 = _mm256_fmadd_ps(p0, vv, a0);
    if (rows > 1) b0 = _mm256_fmadd_ps(p1, vv, b0);
    if (vecs > 1) {
      vv = LOAD_V(1);
      a1 = _mm256_fmadd_ps(p0, vv, a1);
      if (rows > 1) b1 = _mm256_fmadd_ps(p1, vv, b1);
    }
    if (vecs > 2) {
      vv = LOAD_V(2);
      a2 = _mm256_fmadd_ps(p0, vv, a2);
      if (rows > 1) b2 = _mm256_fmadd_ps(p1, vv, b2);
    }
    if (vecs > 3) {
      vv = LOAD_V(3);
      a3 = _mm256_fmadd_ps(p0, vv, a3);
      if (rows > 1) b3 = _mm256_fmadd_ps(p1, vv, b3);
    }
  }
#undef LOAD_V
  store_tile(vecs, masked, last, inv0, a0, a1, a2, a3, y0);
  if (rows > 1) store_tile(vecs, masked, last, inv1, b0, b1, b2, b3, y1);
}

/* All head_dim outputs of rows 0 and (rows == 2) 1. */
static inline __attribute__((always_inline)) void output_rows(const int rows, size_t head_dim, size_t kv_rows,
                                                              const float* e0, const float* e1, const float* v,
                                                              size_t kv_stride, __m256 inv0, __m256 inv1, float* y0,
                                                              float* y1) {
  size_t c = 0;
  for (; c + 32 <= head_dim; c += 32)
    output_tile(rows, 4, 0, 32, kv_rows, e0, e1, v + c, kv_stride, inv0, inv1, y0 + c, y1 + c);
  if (c == head_dim) return;
  const size_t width = head_dim - c;
#define OUTPUT_TILE(vecs)                                                                                        \
  (width % 8 == 0 ? output_tile(rows, vecs, 0, width, kv_rows, e0, e1, v + c, kv_stride, inv0, inv1, y0 + c, y1 + c) \
                  : output_tile(rows, vecs, 1, width, kv_rows, e0, e1, v + c, kv_stride, inv0, inv1, y0 + c, y1 + c))
  switch (LOTR_DIV_ROUND_UP(width, 8)) {
    case 4: OUTPUT_TILE(4); break;
    case 3: OUTPUT_TILE(3); break;
    case 2: OUTPUT_TILE(2); break;
    default: OUTPUT_TILE(1); break;
  }
#undef OUTPUT_TILE
}

void lotr_f32_attention_head__avx2(size_t q_rows, size_t kv_rows, size_t head_dim, float scale, const float* q,
                                   size_t q_stride, const float* k, const float* v, size_t kv_stride, float* y,
                                   size_t y_stride, float* scratch) {
  const size_t kv_padded = LOTR_ATTENTION_KV_PADDED(kv_rows);
  float* kt = scratch;                         /* [head_dim][kv_padded] */
  float* s0 = scratch + head_dim * kv_padded;  /* [kv_padded] x 2: scores, then exp(score - max) */
  float* s1 = s0 + kv_padded;
  for (size_t j = 0; j < kv_rows; j++)
    for (size_t c = 0; c < head_dim; c++) kt[c * kv_padded + j] = k[j * kv_stride + c];
  for (size_t c = 0; c < head_dim; c++)
    for (size_t j = kv_rows; j < kv_padded; j++) kt[c * kv_padded + j] = 0.0f;

  const __m256 vscale = _mm256_set1_ps(scale);
  size_t i = 0;
  for (; i + 2 <= q_rows; i += 2) {
    const float* q0 = q + i * q_stride;
    float* y0 = y + i * y_stride;
    score_rows(2, head_dim, kv_padded, q0, q0 + q_stride, kt, vscale, s0, s1);
    __m256 inv0, inv1;
    softmax_rows(2, kv_rows, kv_padded, s0, s1, &inv0, &inv1);
    output_rows(2, head_dim, kv_rows, s0, s1, v, kv_stride, inv0, inv1, y0, y0 + y_stride);
  }
  if (i < q_rows) {
    const float* q0 = q + i * q_stride;
    float* y0 = y + i * y_stride;
    score_rows(1, head_dim, kv_padded, q0, q0, kt, vscale, s0, s0);
    __m256 inv0;
    softmax_rows(1, kv_rows, kv_padded, s0, s0, &inv0, &inv0);
    output_rows(1, head_dim, kv_rows, s0, s0, v, kv_stride, inv0, inv0, y0, y0);
  }
}

LOTR_AVX2_END
#endif /* __x86_64__ */
