/* One head of attention, the specification: per query row, the scores in float (dot
 * products summed in order), scaled; then the reference softmax (exp in float, sum in
 * double); then y = P V summed in order. Uses scratch for the kv_rows scores only. */
#include "internal.h"

void lotr_f32_attention_head__ref(size_t q_rows, size_t kv_rows, size_t head_dim, float scale, const float* q,
                                  size_t q_stride, const float* k, const float* v, size_t kv_stride, float* y,
                                  size_t y_stride, float* scratch) {
  float* p = scratch; /* [kv_rows] */
  for (size_t i = 0; i < q_rows; i++) {
    const float* qi = q + i * q_stride;
    for (size_t j = 0; j < kv_rows; j++) {
      const float* kj = k + j * kv_stride;
      float dot = 0.0f;
      for (size_t c = 0; c < head_dim; c++) dot += qi[c] * kj[c];
      p[j] = dot * scale;
    }
    lotr_f32_softmax__ref(kv_rows, p, p);
    float* yi = y + i * y_stride;
    for (size_t c = 0; c < head_dim; c++) {
      float acc = 0.0f;
      for (size_t j = 0; j < kv_rows; j++) acc += p[j] * v[j * kv_stride + c];
      yi[c] = acc;
    }
  }
}
