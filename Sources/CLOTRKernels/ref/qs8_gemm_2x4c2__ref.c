/* Scalar reference int8 GEMM: the specification every ISA path must match bit for bit.
 * Packed layout (qs8_gemm_config.h) with NR = 4, KR = 2, int8 weights; MR = 2 is only the
 * driver's row step. Plain loops, never optimized.
 *   C[m][n] = requant(bias'[n] + sum_k A[m][k] * W[n][k]),  bias' = bias - a_zp * sum_k W[n][k]
 * Defines lotr_qs8_gemm_2x4c2__ref (int8 out) and lotr_qs8_gemm_f32_2x4c2__ref (float out). */
#include "internal.h"

enum { NR = 4, KR = 2 };

/* The int32 accumulator of output column j of the block at `block`, for one A row. */
static int32_t dot(const int8_t* a_row, size_t kc, const uint8_t* block, size_t j) {
  const int32_t* bias = (const int32_t*)block;
  const int8_t* w = (const int8_t*)(bias + NR); /* [Kp/KR][NR][KR] */
  int32_t acc = bias[j];
  for (size_t k = 0; k < kc; k++) acc += (int32_t)a_row[k] * (int32_t)w[(k / KR) * NR * KR + j * KR + k % KR];
  return acc;
}

void lotr_qs8_gemm_2x4c2__ref(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride,
                              const void* w, int8_t* c, size_t c_stride, const lotr_qs8_requant* requant) {
  const size_t block_bytes = NR * sizeof(int32_t) + LOTR_ROUND_UP(kc, KR) * NR;
  for (size_t n = 0; n < nc; n++) {
    const uint8_t* block = (const uint8_t*)w + (n / NR) * block_bytes;
    for (size_t m = 0; m < mr; m++) {
      const int32_t acc = dot(a + m * a_stride, kc, block, n % NR);
      c[m * c_stride + n] = lotr_requantize(acc, requant->multiplier[n], requant->shift[n],
                                            requant->output_zero_point, requant->output_min,
                                            requant->output_max);
    }
  }
}

void lotr_qs8_gemm_f32_2x4c2__ref(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride,
                                  const void* w, float* c, size_t c_stride, const float* scale) {
  const size_t block_bytes = NR * sizeof(int32_t) + LOTR_ROUND_UP(kc, KR) * NR;
  for (size_t n = 0; n < nc; n++) {
    const uint8_t* block = (const uint8_t*)w + (n / NR) * block_bytes;
    for (size_t m = 0; m < mr; m++) {
      const int32_t acc = dot(a + m * a_stride, kc, block, n % NR);
      c[m * c_stride + n] = (float)acc * scale[n];
    }
  }
}
