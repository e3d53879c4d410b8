/* Int8 GEMM micro-kernel for 32-bit ARMv7 NEON (Cortex-A7/A53/A72 under 32-bit Raspberry
 * Pi OS): 4 rows x 8 columns, weights int8 one k at a time (c1: 8 columns per k).
 *
 * A and W are widened to int16 (VMOVL) and multiplied by lane (VMLAL.S16 by scalar) into
 * 8 int32x4 accumulators (rows x column halves): 8 of the 16 q registers, leaving room for
 * the 4 widened A rows and the weights without spills. Exact for any int8 A and W.
 *
 * NEON is enabled for this file's functions only (neon_compat.h); dispatch selects it when
 * HWCAP_NEON is set. Requantization and stores: qs8_gemm_neon_common.h. The f32 twin
 * multiplies with NEON, which flushes subnormals: scales must be normal floats.
 *
 * Defines lotr_qs8_gemm_4x8c1__armv7 (int8 out) and lotr_qs8_gemm_f32_4x8c1__armv7. */
#include <string.h>

#include "internal.h"
#include "qs8_gemm_neon_common.h"

#if defined(__arm__)
LOTR_NEON_BEGIN

enum { MR = 4, NR = 8, KR = 1 };

/* One k (8 weights) for all rows: lane L of HALF (low/high) of the widened A rows. */
#define MLAL(HALF, L)                                                                 \
  do {                                                                                \
    const int16x8_t vb = vmovl_s8(vld1_s8(w));                                        \
    w += NR;                                                                          \
    acc0x0123 = vmlal_lane_s16(acc0x0123, vget_low_s16(vb), vget_##HALF##_s16(va0), L); \
    acc0x4567 = vmlal_lane_s16(acc0x4567, vget_high_s16(vb), vget_##HALF##_s16(va0), L); \
    acc1x0123 = vmlal_lane_s16(acc1x0123, vget_low_s16(vb), vget_##HALF##_s16(va1), L); \
    acc1x4567 = vmlal_lane_s16(acc1x4567, vget_high_s16(vb), vget_##HALF##_s16(va1), L); \
    acc2x0123 = vmlal_lane_s16(acc2x0123, vget_low_s16(vb), vget_##HALF##_s16(va2), L); \
    acc2x4567 = vmlal_lane_s16(acc2x4567, vget_high_s16(vb), vget_##HALF##_s16(va2), L); \
    acc3x0123 = vmlal_lane_s16(acc3x0123, vget_low_s16(vb), vget_##HALF##_s16(va3), L); \
    acc3x4567 = vmlal_lane_s16(acc3x4567, vget_high_s16(vb), vget_##HALF##_s16(va3), L); \
  } while (0)

static inline __attribute__((always_inline)) void gemm_4x8c1(size_t mr, size_t nc, size_t kc, const int8_t* a,
                                                              size_t a_stride, const void* w_packed, int8_t* c,
                                                              float* cf, size_t c_stride,
                                                              const lotr_qs8_requant* requant,
                                                              const float* scale) {
  const size_t block_bytes = NR * sizeof(int32_t) + kc * NR;
  const int8_t* row[MR];
  gemm_a_rows(a, a_stride, mr, MR, row);
  const uint8_t* block = w_packed;
  for (size_t n0 = 0; n0 < nc; n0 += NR, block += block_bytes) {
    const int32_t* bias = (const int32_t*)block;
    int32x4_t acc0x0123 = vld1q_s32(bias);
    int32x4_t acc0x4567 = vld1q_s32(bias + 4);
    int32x4_t acc1x0123 = acc0x0123, acc1x4567 = acc0x4567;
    int32x4_t acc2x0123 = acc0x0123, acc2x4567 = acc0x4567;
    int32x4_t acc3x0123 = acc0x0123, acc3x4567 = acc0x4567;
    const int8_t* w = (const int8_t*)(bias + NR);
    const int8_t *pa0 = row[0], *pa1 = row[1], *pa2 = row[2], *pa3 = row[3];
    size_t k = kc;
    for (; k >= 8; k -= 8) {
      const int16x8_t va0 = vmovl_s8(vld1_s8(pa0));
      const int16x8_t va1 = vmovl_s8(vld1_s8(pa1));
      const int16x8_t va2 = vmovl_s8(vld1_s8(pa2));
      const int16x8_t va3 = vmovl_s8(vld1_s8(pa3));
      pa0 += 8;
      pa1 += 8;
      pa2 += 8;
      pa3 += 8;
      MLAL(low, 0);
      MLAL(low, 1);
      MLAL(low, 2);
      MLAL(low, 3);
      MLAL(high, 0);
      MLAL(high, 1);
      MLAL(high, 2);
      MLAL(high, 3);
    }
    if (k > 0) { /* 1..7 k left */
      const int16x8_t va0 = vmovl_s8(load_a(pa0, k));
      const int16x8_t va1 = vmovl_s8(load_a(pa1, k));
      const int16x8_t va2 = vmovl_s8(load_a(pa2, k));
      const int16x8_t va3 = vmovl_s8(load_a(pa3, k));
      MLAL(low, 0);
      if (k > 1) MLAL(low, 1);
      if (k > 2) MLAL(low, 2);
      if (k > 3) MLAL(low, 3);
      if (k > 4) MLAL(high, 0);
      if (k > 5) MLAL(high, 1);
      if (k > 6) MLAL(high, 2);
    }

    qs8_gemm_neon_store(MR, mr, n0, nc - n0, acc0x0123, acc0x4567, acc1x0123, acc1x4567, acc2x0123, acc2x4567,
                        acc3x0123, acc3x4567, c, cf, c_stride, requant, scale);
  }
}

LOTR_DEFINE_QS8_GEMM_NEON_UKERNELS(4x8c1__armv7, gemm_4x8c1)

LOTR_NEON_END
#endif
