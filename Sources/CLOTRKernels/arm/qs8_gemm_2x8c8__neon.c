/* Int8 GEMM micro-kernel for AArch64 ARMv8.0 NEON (Cortex-A53 in the Pi 3, Cortex-A72 in
 * the Pi 4): 2 rows x 8 columns, weights int8 in groups of 8 k per column (c8).
 *
 * Per 16 k and (row, column): SMULL of the first 8 products into int16, SMLAL of the next
 * 8 into the same int16 lanes, SADALP into an int32x4 accumulator. A pair of products is at
 * most 2 * 128 * 127 = 32512 in magnitude, which is why weights must avoid -128. 16 int32x4
 * accumulators (one per row and column) are reduced with ADDP at the end.
 *
 * Requantization and stores: qs8_gemm_neon_common.h.
 *
 * Defines lotr_qs8_gemm_2x8c8__neon (int8 out) and lotr_qs8_gemm_f32_2x8c8__neon. */
#include <string.h>

#include "internal.h"
#include "qs8_gemm_neon_common.h"

#if defined(__aarch64__)
LOTR_NEON_BEGIN

enum { MR = 2, NR = 8, KR = 8 };

/* Products of 16 k (two c8 groups, 64 bytes apart) for column J of both rows. */
#define MLAL16(J)                                                \
  do {                                                           \
    const int8x8_t vb0 = vld1_s8(w + 8 * (J));                   \
    const int8x8_t vb1 = vld1_s8(w + 64 + 8 * (J));              \
    int16x8_t p0 = vmull_s8(vb0, va0x0);                         \
    int16x8_t p1 = vmull_s8(vb0, va1x0);                         \
    p0 = vmlal_s8(p0, vb1, va0x1);                               \
    p1 = vmlal_s8(p1, vb1, va1x1);                               \
    acc0x##J = vpadalq_s16(acc0x##J, p0);                        \
    acc1x##J = vpadalq_s16(acc1x##J, p1);                        \
  } while (0)

/* Products of 8 k (one c8 group) for column J of both rows. */
#define MULL8(J)                                                 \
  do {                                                           \
    const int8x8_t vb = vld1_s8(w + 8 * (J));                    \
    acc0x##J = vpadalq_s16(acc0x##J, vmull_s8(vb, va0));         \
    acc1x##J = vpadalq_s16(acc1x##J, vmull_s8(vb, va1));         \
  } while (0)

static inline __attribute__((always_inline)) void gemm_2x8c8(size_t mr, size_t nc, size_t kc, const int8_t* a,
                                                              size_t a_stride, const void* w_packed, int8_t* c,
                                                              float* cf, size_t c_stride,
                                                              const lotr_qs8_requant* requant,
                                                              const float* scale) {
  const size_t block_bytes = NR * sizeof(int32_t) + LOTR_ROUND_UP(kc, KR) * NR;
  const int8_t* row[MR];
  gemm_a_rows(a, a_stride, mr, MR, row);
  const uint8_t* block = w_packed;
  for (size_t n0 = 0; n0 < nc; n0 += NR, block += block_bytes) {
    const int32_t* bias = (const int32_t*)block;
    const int32x4_t zero = vdupq_n_s32(0);
    int32x4_t acc0x0 = vld1q_lane_s32(bias + 0, zero, 0);
    int32x4_t acc0x1 = vld1q_lane_s32(bias + 1, zero, 0);
    int32x4_t acc0x2 = vld1q_lane_s32(bias + 2, zero, 0);
    int32x4_t acc0x3 = vld1q_lane_s32(bias + 3, zero, 0);
    int32x4_t acc0x4 = vld1q_lane_s32(bias + 4, zero, 0);
    int32x4_t acc0x5 = vld1q_lane_s32(bias + 5, zero, 0);
    int32x4_t acc0x6 = vld1q_lane_s32(bias + 6, zero, 0);
    int32x4_t acc0x7 = vld1q_lane_s32(bias + 7, zero, 0);
    int32x4_t acc1x0 = acc0x0, acc1x1 = acc0x1, acc1x2 = acc0x2, acc1x3 = acc0x3;
    int32x4_t acc1x4 = acc0x4, acc1x5 = acc0x5, acc1x6 = acc0x6, acc1x7 = acc0x7;
    const int8_t* w = (const int8_t*)(bias + NR);
    const int8_t *pa0 = row[0], *pa1 = row[1];
    size_t k = kc;
    LOTR_NO_UNROLL
    for (; k >= 16; k -= 16) {
      const int8x8_t va0x0 = vld1_s8(pa0), va0x1 = vld1_s8(pa0 + 8);
      const int8x8_t va1x0 = vld1_s8(pa1), va1x1 = vld1_s8(pa1 + 8);
      pa0 += 16;
      pa1 += 16;
      MLAL16(0);
      MLAL16(1);
      MLAL16(2);
      MLAL16(3);
      MLAL16(4);
      MLAL16(5);
      MLAL16(6);
      MLAL16(7);
      w += 2 * NR * KR;
    }
    while (k > 0) { /* one or two more c8 groups, the last possibly partial in A */
      const size_t kk = LOTR_MIN(k, (size_t)8);
      const int8x8_t va0 = load_a(pa0, kk), va1 = load_a(pa1, kk);
      pa0 += kk;
      pa1 += kk;
      MULL8(0);
      MULL8(1);
      MULL8(2);
      MULL8(3);
      MULL8(4);
      MULL8(5);
      MULL8(6);
      MULL8(7);
      w += NR * KR;
      k -= kk;
    }
    const int32x4_t acc0_lo = vpaddq_s32(vpaddq_s32(acc0x0, acc0x1), vpaddq_s32(acc0x2, acc0x3));
    const int32x4_t acc0_hi = vpaddq_s32(vpaddq_s32(acc0x4, acc0x5), vpaddq_s32(acc0x6, acc0x7));
    const int32x4_t acc1_lo = vpaddq_s32(vpaddq_s32(acc1x0, acc1x1), vpaddq_s32(acc1x2, acc1x3));
    const int32x4_t acc1_hi = vpaddq_s32(vpaddq_s32(acc1x4, acc1x5), vpaddq_s32(acc1x6, acc1x7));

    qs8_gemm_neon_store(MR, mr, n0, nc - n0, acc0_lo, acc0_hi, acc1_lo, acc1_hi, acc1_lo, acc1_hi, acc1_lo, acc1_hi,
                        c, cf, c_stride, requant, scale);
  }
}

LOTR_DEFINE_QS8_GEMM_NEON_UKERNELS(2x8c8__neon, gemm_2x8c8)

LOTR_NEON_END
#endif
