/* One attention head for NEON, AArch64 and ARMv7 (lotr_f32_attention_head__neon,
 * lotr_f32_attention_head__armv7). LOTR: 25-68 queries over 25-68 keys, head_dim 24 for
 * lotr-s, 32 for lotr-m; any size works.
 *
 * The avx2 variant's layout with 4-float vectors, one query at a time (not yet tuned on a
 * Pi: correctness under qemu only): K transposed into scratch as kt[head_dim][kv_padded]
 * (keys past kv_rows zero), one query's scores as broadcast q[c] times 4-key vectors in
 * tiles of up to 16 keys, even and odd c in separate accumulators
 * (8 chains: the A72's FMLA latency is 7 cycles); softmax in place with padding keys at
 * -inf; y = (sum_j e_j v_j) / sum_j e_j in column tiles of up to 16, even and odd keys in
 * separate accumulators, the head_dim % 4 columns scalar. On ARMv7 lotr_vmlaq_f32 rounds
 * the product and the sum separately (no FMA). */
#include <math.h>

#include "internal.h"
#include "neon_compat.h"

#if defined(LOTR_ARM_NEON)
LOTR_NEON_BEGIN

#include "f32_exp_neon.h"

/* s[0 .. 4*vecs) = scale * (q . kt[:, 0 .. 4*vecs)); vecs is a constant at every call. */
static inline __attribute__((always_inline)) void score_tile(const int vecs, size_t head_dim, size_t kv_padded,
                                                             const float* q, const float* kt, float scale, float* s) {
  float32x4_t a[4], b[4];
  for (int t = 0; t < vecs; t++) a[t] = b[t] = vdupq_n_f32(0.0f);
  size_t c = 0;
  for (; c + 2 <= head_dim; c += 2) {
    const float32x4_t q0 = vdupq_n_f32(q[c]), q1 = vdupq_n_f32(q[c + 1]);
    const float* k0 = kt + c * kv_padded;
    const float* k1 = k0 + kv_padded;
    for (int t = 0; t < vecs; t++) {
      a[t] = lotr_vmlaq_f32(a[t], q0, vld1q_f32(k0 + 4 * t));
      b[t] = lotr_vmlaq_f32(b[t], q1, vld1q_f32(k1 + 4 * t));
    }
  }
  if (c < head_dim) {
    const float32x4_t q0 = vdupq_n_f32(q[c]);
    const float* k0 = kt + c * kv_padded;
    for (int t = 0; t < vecs; t++) a[t] = lotr_vmlaq_f32(a[t], q0, vld1q_f32(k0 + 4 * t));
  }
  for (int t = 0; t < vecs; t++) vst1q_f32(s + 4 * t, vmulq_n_f32(vaddq_f32(a[t], b[t]), scale));
}

/* y[0 .. 4*vecs) = inv_sum * sum_j e[j] v[j][0 .. 4*vecs); vecs is a constant at every call. */
static inline __attribute__((always_inline)) void output_tile(const int vecs, size_t kv_rows, const float* e,
                                                              const float* v, size_t kv_stride, float inv_sum,
                                                              float* y) {
  float32x4_t a[4], b[4];
  for (int t = 0; t < vecs; t++) a[t] = b[t] = vdupq_n_f32(0.0f);
  size_t j = 0;
  for (; j + 2 <= kv_rows; j += 2) {
    const float32x4_t e0 = vdupq_n_f32(e[j]), e1 = vdupq_n_f32(e[j + 1]);
    const float* v0 = v + j * kv_stride;
    const float* v1 = v0 + kv_stride;
    for (int t = 0; t < vecs; t++) {
      a[t] = lotr_vmlaq_f32(a[t], e0, vld1q_f32(v0 + 4 * t));
      b[t] = lotr_vmlaq_f32(b[t], e1, vld1q_f32(v1 + 4 * t));
    }
  }
  if (j < kv_rows) {
    const float32x4_t e0 = vdupq_n_f32(e[j]);
    const float* v0 = v + j * kv_stride;
    for (int t = 0; t < vecs; t++) a[t] = lotr_vmlaq_f32(a[t], e0, vld1q_f32(v0 + 4 * t));
  }
  for (int t = 0; t < vecs; t++) vst1q_f32(y + 4 * t, vmulq_n_f32(vaddq_f32(a[t], b[t]), inv_sum));
}

void LOTR_NEON_FN(f32_attention_head)(size_t q_rows, size_t kv_rows, size_t head_dim, float scale, const float* q,
                                      size_t q_stride, const float* k, const float* v, size_t kv_stride, float* y,
                                      size_t y_stride, float* scratch) {
  const size_t kv_padded = LOTR_ATTENTION_KV_PADDED(kv_rows); /* a multiple of 8 */
  float* kt = scratch;                       /* [head_dim][kv_padded] */
  float* s = scratch + head_dim * kv_padded; /* [kv_padded]: scores, then exp(score - max) */
  for (size_t j = 0; j < kv_rows; j++)
    for (size_t c = 0; c < head_dim; c++) kt[c * kv_padded + j] = k[j * kv_stride + c];
  for (size_t c = 0; c < head_dim; c++)
    for (size_t j = kv_rows; j < kv_padded; j++) kt[c * kv_padded + j] = 0.0f;

  const size_t full_columns = head_dim & ~(size_t)3;
  for (size_t i = 0; i < q_rows; i++) {
    const float* qi = q + i * q_stride;
    size_t j = 0;
    for (; j + 16 <= kv_padded; j += 16) score_tile(4, head_dim, kv_padded, qi, kt + j, scale, s + j);
    if (j < kv_padded) score_tile(2, head_dim, kv_padded, qi, kt + j, scale, s + j); /* 8 keys left */
    for (j = kv_rows; j < kv_padded; j++) s[j] = -INFINITY;

    float32x4_t vmax = vld1q_f32(s);
    for (j = 4; j < kv_padded; j += 4) vmax = vmaxq_f32(vmax, vld1q_f32(s + j));
    const float32x4_t max = vdupq_n_f32(lotr_vmaxvq_f32(vmax));
    float32x4_t vsum = vdupq_n_f32(0.0f);
    for (j = 0; j < kv_padded; j += 4) {
      const float32x4_t e = exp4(vsubq_f32(vld1q_f32(s + j), max));
      vst1q_f32(s + j, e);
      vsum = vaddq_f32(vsum, e);
    }
    const float inv_sum = 1.0f / lotr_vaddvq_f32(vsum);

    float* yi = y + i * y_stride;
    size_t c = 0;
    for (; c + 16 <= full_columns; c += 16) output_tile(4, kv_rows, s, v + c, kv_stride, inv_sum, yi + c);
    switch ((full_columns - c) / 4) {
      case 3: output_tile(3, kv_rows, s, v + c, kv_stride, inv_sum, yi + c); break;
      case 2: output_tile(2, kv_rows, s, v + c, kv_stride, inv_sum, yi + c); break;
      case 1: output_tile(1, kv_rows, s, v + c, kv_stride, inv_sum, yi + c); break;
      default: break;
    }
    for (c = full_columns; c < head_dim; c++) {
      float acc = 0.0f;
      for (j = 0; j < kv_rows; j++) acc += s[j] * v[j * kv_stride + c];
      yi[c] = acc * inv_sum;
    }
  }
}

LOTR_NEON_END
#endif
