/* Elementwise int8 ops and the float kernels: per-ISA function pointers. The public
 * wrappers (vector_ops.c) loop rows, split the add over the pool and compute 1/scale once,
 * so every variant sees the same arguments. */
#ifndef LOTR_VECTOR_CONFIG_H
#define LOTR_VECTOR_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "lotr_kernels.h"

typedef void (*lotr_qs8_add_fn)(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                const lotr_qs8_add_params* params);
/* y = clamp(round_half_even(x * inv_scale) + zero_point); NaN quantizes to zero_point. */
typedef void (*lotr_qs8_quantize_fn)(size_t n, const float* x, int8_t* y, float inv_scale, int32_t zero_point);
typedef void (*lotr_qs8_dequantize_fn)(size_t n, const int8_t* q, float* y, float scale, int32_t zero_point);
/* One row of `cols`. */
typedef void (*lotr_f32_layernorm_fn)(size_t cols, const float* x, const float* gamma, const float* beta,
                                      float eps, float* y);
typedef void (*lotr_f32_softmax_fn)(size_t cols, const float* x, float* y);
typedef void (*lotr_f32_unary_fn)(size_t n, const float* x, float* y);
/* One head of lotr_f32_attention: q, k, v and y point at the head's first column.
 * scratch: LOTR_ATTENTION_HEAD_SCRATCH_FLOATS(kv_rows, head_dim) floats, 64-byte aligned. */
typedef void (*lotr_f32_attention_head_fn)(size_t q_rows, size_t kv_rows, size_t head_dim, float scale,
                                           const float* q, size_t q_stride, const float* k, const float* v,
                                           size_t kv_stride, float* y, size_t y_stride, float* scratch);
/* Per head: K transposed, padded to whole 8-float vectors of keys, plus two rows of scores;
 * rounded to 64 bytes so heads on different threads never share a cache line. */
#define LOTR_ATTENTION_KV_PADDED(kv_rows) LOTR_ROUND_UP((kv_rows), 8)
#define LOTR_ATTENTION_HEAD_SCRATCH_FLOATS(kv_rows, head_dim) \
  LOTR_ROUND_UP(((head_dim) + 2) * LOTR_ATTENTION_KV_PADDED(kv_rows), 16)

struct lotr_vector_config {
  lotr_qs8_add_fn add;
  lotr_qs8_quantize_fn quantize;
  lotr_qs8_dequantize_fn dequantize;
  lotr_f32_layernorm_fn layernorm;
  lotr_f32_softmax_fn softmax;
  lotr_f32_unary_fn gelu;
  lotr_f32_unary_fn relu;
  lotr_f32_attention_head_fn attention_head;
};

#define LOTR_DECLARE_VECTOR_OPS(isa)                                                                        \
  void lotr_qs8_add__##isa(size_t n, const int8_t* a, const int8_t* b, int8_t* y,                           \
                           const lotr_qs8_add_params* params);                                              \
  void lotr_qs8_quantize__##isa(size_t n, const float* x, int8_t* y, float inv_scale, int32_t zero_point); \
  void lotr_qs8_dequantize__##isa(size_t n, const int8_t* q, float* y, float scale, int32_t zero_point);   \
  void lotr_f32_layernorm__##isa(size_t cols, const float* x, const float* gamma, const float* beta,        \
                                 float eps, float* y);                                                      \
  void lotr_f32_softmax__##isa(size_t cols, const float* x, float* y);                                     \
  void lotr_f32_gelu__##isa(size_t n, const float* x, float* y);                                           \
  void lotr_f32_attention_head__##isa(size_t q_rows, size_t kv_rows, size_t head_dim, float scale,          \
                                      const float* q, size_t q_stride, const float* k, const float* v,      \
                                      size_t kv_stride, float* y, size_t y_stride, float* scratch);

LOTR_DECLARE_VECTOR_OPS(ref)
LOTR_DECLARE_VECTOR_OPS(neon)
LOTR_DECLARE_VECTOR_OPS(armv7)
LOTR_DECLARE_VECTOR_OPS(avx2)
void lotr_f32_relu__ref(size_t n, const float* x, float* y);

#endif
