/* Elementwise int8 ops (add, quantize, dequantize) and the float kernels (LayerNorm,
 * Softmax, GELU, ReLU): public wrappers over the per-ISA functions of vector_config.h. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "internal.h"

void lotr_vector_config_init(struct lotr_vector_config* config, lotr_isa isa) {
  *config = (struct lotr_vector_config){
      .add = lotr_qs8_add__ref,
      .quantize = lotr_qs8_quantize__ref,
      .dequantize = lotr_qs8_dequantize__ref,
      .layernorm = lotr_f32_layernorm__ref,
      .softmax = lotr_f32_softmax__ref,
      .gelu = lotr_f32_gelu__ref,
      .relu = lotr_f32_relu__ref,
      .attention_head = lotr_f32_attention_head__ref,
  };
  switch (isa) {
#if defined(__aarch64__)
    case LOTR_ISA_NEON:
    case LOTR_ISA_NEONDOT: /* nothing here has a dot product: same kernels */
      config->add = lotr_qs8_add__neon;
      config->quantize = lotr_qs8_quantize__neon;
      config->dequantize = lotr_qs8_dequantize__neon;
      config->layernorm = lotr_f32_layernorm__neon;
      config->softmax = lotr_f32_softmax__neon;
      config->gelu = lotr_f32_gelu__neon;
      config->attention_head = lotr_f32_attention_head__neon;
      break;
#elif defined(__arm__)
    case LOTR_ISA_ARMV7:
      config->add = lotr_qs8_add__armv7;
      config->quantize = lotr_qs8_quantize__armv7;
      config->dequantize = lotr_qs8_dequantize__armv7;
      config->layernorm = lotr_f32_layernorm__armv7;
      config->softmax = lotr_f32_softmax__armv7;
      config->gelu = lotr_f32_gelu__armv7;
      config->attention_head = lotr_f32_attention_head__armv7;
      break;
#elif defined(__x86_64__)
    case LOTR_ISA_AVX2:
    case LOTR_ISA_AVXVNNI: /* no dot products here: the AVX2 kernels */
      config->add = lotr_qs8_add__avx2;
      config->quantize = lotr_qs8_quantize__avx2;
      config->dequantize = lotr_qs8_dequantize__avx2;
      config->layernorm = lotr_f32_layernorm__avx2;
      config->softmax = lotr_f32_softmax__avx2;
      config->gelu = lotr_f32_gelu__avx2;
      config->attention_head = lotr_f32_attention_head__avx2;
      break;
#endif
    default:
      break;
  }
}

/* -------------------------------------------------------------------- add --- */

/* Both multipliers share one shift chosen so the larger lies in [2^20, 2^21) (XNNPACK's
 * scheme): shift = 20 - floor(log2(max ratio)), capped at 31 for tiny ratios (whose
 * multipliers then lose bits but contribute well under an LSB). Zero points must lie in
 * [-128, 127]: with them |acc| + 2^30 < 2^31, so every path computes in int32. */
int lotr_qs8_add_params_init(float a_scale, int32_t a_zero_point, float b_scale, int32_t b_zero_point,
                             float output_scale, int32_t output_zero_point, int8_t output_min, int8_t output_max,
                             lotr_qs8_add_params* params) {
  if (!(a_scale > 0.0f) || !(b_scale > 0.0f) || !(output_scale > 0.0f) || !isfinite(a_scale) ||
      !isfinite(b_scale) || !isfinite(output_scale))
    return -1;
  if (a_zero_point < -128 || a_zero_point > 127 || b_zero_point < -128 || b_zero_point > 127 ||
      output_zero_point < -128 || output_zero_point > 127 || output_min > output_max)
    return -1;
  const double a_ratio = (double)a_scale / (double)output_scale;
  const double b_ratio = (double)b_scale / (double)output_scale;
  const double max_ratio = a_ratio > b_ratio ? a_ratio : b_ratio;
  if (!(max_ratio < 1048576.0)) return -1; /* 2^20 */
  int exponent;
  frexp(max_ratio, &exponent); /* max_ratio in [2^(exponent-1), 2^exponent) */
  int shift = 21 - exponent;
  if (shift > 31) shift = 31;
  if (shift < 1) return -1;
  const double a_mult = nearbyint(ldexp(a_ratio, shift));
  const double b_mult = nearbyint(ldexp(b_ratio, shift));
  /* Rounding can carry the larger multiplier to 2^21: halve both. */
  if (a_mult >= 2097152.0 || b_mult >= 2097152.0) {
    if (shift == 1) return -1;
    shift -= 1;
  }
  params->a_multiplier = (int32_t)nearbyint(ldexp(a_ratio, shift));
  params->b_multiplier = (int32_t)nearbyint(ldexp(b_ratio, shift));
  params->shift = shift;
  params->a_zero_point = a_zero_point;
  params->b_zero_point = b_zero_point;
  params->output_zero_point = output_zero_point;
  params->output_min = output_min;
  params->output_max = output_max;
  return 0;
}

#define LOTR_ADD_CHUNK 16384 /* elements per pool task; fixed, so the split never changes bits */

typedef struct {
  lotr_qs8_add_fn fn;
  size_t n;
  const int8_t *a, *b;
  int8_t* y;
  const lotr_qs8_add_params* params;
} add_context;

static void add_chunk(void* context, size_t index) {
  const add_context* ctx = context;
  const size_t start = index * LOTR_ADD_CHUNK;
  const size_t count = LOTR_MIN(LOTR_ADD_CHUNK, ctx->n - start);
  ctx->fn(count, ctx->a + start, ctx->b + start, ctx->y + start, ctx->params);
}

void lotr_qs8_add(const lotr_kernels* kernels, lotr_threadpool* pool, size_t n, const int8_t* a, const int8_t* b,
                  int8_t* y, const lotr_qs8_add_params* params) {
  if (n == 0) return;
  add_context ctx = {kernels->vector.add, n, a, b, y, params};
  lotr_threadpool_run(pool, LOTR_DIV_ROUND_UP(n, LOTR_ADD_CHUNK), add_chunk, &ctx);
}

/* ---------------------------------------------------- quantize / dequantize --- */

void lotr_qs8_quantize(const lotr_kernels* kernels, size_t n, const float* x, int8_t* y, float scale,
                       int32_t zero_point) {
  const float inv_scale = 1.0f / scale;
  kernels->vector.quantize(n, x, y, inv_scale, zero_point);
}

void lotr_qs8_quantize_rows(const lotr_kernels* kernels, size_t m, size_t k, const float* x, size_t x_stride,
                            int8_t* q, size_t q_stride, float* row_scale) {
  for (size_t i = 0; i < m; i++) {
    const float* row = x + i * x_stride;
    /* max |x| on the bit patterns: an integer max, which the compiler vectorises (a float
     * max reduction it may not reorder); NaN patterns sort above infinity. */
    uint32_t top = 0;
    for (size_t j = 0; j < k; j++) {
      uint32_t bits;
      memcpy(&bits, &row[j], sizeof bits);
      bits &= 0x7fffffffu;
      top = bits > top ? bits : top;
    }
    float amax;
    memcpy(&amax, &top, sizeof amax);
    const float s = amax > 0.0f && amax <= FLT_MAX ? amax / 127.0f : 1.0f;
    row_scale[i] = s;
    kernels->vector.quantize(k, row, q + i * q_stride, 1.0f / s, 0);
  }
}

void lotr_qs8_dequantize(const lotr_kernels* kernels, size_t n, const int8_t* q, float* y, float scale,
                         int32_t zero_point) {
  kernels->vector.dequantize(n, q, y, scale, zero_point);
}

/* ----------------------------------------------------------------- float --- */

void lotr_f32_layernorm(const lotr_kernels* kernels, size_t rows, size_t cols, const float* x, const float* gamma,
                        const float* beta, float eps, float* y) {
  if (cols == 0) return;
  for (size_t r = 0; r < rows; r++) kernels->vector.layernorm(cols, x + r * cols, gamma, beta, eps, y + r * cols);
}

void lotr_f32_softmax(const lotr_kernels* kernels, size_t rows, size_t cols, const float* x, float* y) {
  if (cols == 0) return;
  for (size_t r = 0; r < rows; r++) kernels->vector.softmax(cols, x + r * cols, y + r * cols);
}

void lotr_f32_gelu(const lotr_kernels* kernels, size_t n, const float* x, float* y) { kernels->vector.gelu(n, x, y); }

void lotr_f32_relu(const lotr_kernels* kernels, size_t n, const float* x, float* y) { kernels->vector.relu(n, x, y); }

/* ------------------------------------------------------------- attention --- */

#define LOTR_ATTENTION_MIN_POOL_MACS (1u << 20) /* Q K^T + P V multiply-accumulates of all heads */

size_t lotr_f32_attention_scratch_size(size_t kv_rows, size_t head_dim, size_t heads) {
  return heads * LOTR_ATTENTION_HEAD_SCRATCH_FLOATS(kv_rows, head_dim) * sizeof(float);
}

typedef struct {
  lotr_f32_attention_head_fn fn;
  size_t q_rows, kv_rows, head_dim, q_stride, kv_stride, y_stride;
  float scale;
  const float *q, *k, *v;
  float* y;
  float* scratch;
} attention_context;

static void attention_head_task(void* context, size_t head) {
  const attention_context* ctx = context;
  const size_t column = head * ctx->head_dim;
  ctx->fn(ctx->q_rows, ctx->kv_rows, ctx->head_dim, ctx->scale, ctx->q + column, ctx->q_stride, ctx->k + column,
          ctx->v + column, ctx->kv_stride, ctx->y + column, ctx->y_stride,
          ctx->scratch + head * LOTR_ATTENTION_HEAD_SCRATCH_FLOATS(ctx->kv_rows, ctx->head_dim));
}

void lotr_f32_attention(const lotr_kernels* kernels, lotr_threadpool* pool, size_t q_rows, size_t kv_rows,
                        size_t heads, size_t head_dim, float scale, const float* q, size_t q_stride, const float* k,
                        const float* v, size_t kv_stride, float* y, size_t y_stride, void* scratch) {
  if (q_rows == 0 || heads == 0 || head_dim == 0) return;
  if (kv_rows == 0) { /* softmax over no keys: an empty sum, y = 0 */
    for (size_t i = 0; i < q_rows; i++)
      for (size_t c = 0; c < heads * head_dim; c++) y[i * y_stride + c] = 0.0f;
    return;
  }
  /* Heads go to the pool only when the node is worth a dispatch: the same 2^20-MAC floor as
   * the GEMMs (of LOTR's nodes only lotr-m's 68 x 68 decoder self-attention reaches it). */
  if ((double)q_rows * (double)kv_rows * (double)(heads * head_dim) * 2.0 < (double)LOTR_ATTENTION_MIN_POOL_MACS)
    pool = NULL;
  attention_context ctx = {kernels->vector.attention_head, q_rows, kv_rows, head_dim, q_stride, kv_stride, y_stride,
                           scale, q, k, v, y, scratch};
  lotr_threadpool_run(pool, heads, attention_head_task, &ctx);
}
