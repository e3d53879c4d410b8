/* Int8 GEMM micro-kernel for AArch64 ARMv8.2 with the dot-product extension (Cortex-A76
 * in the Pi 5): 4 rows x 8 columns, weights int8 in groups of 4 k per column (c4).
 *
 * SDOT (by element): each 128-bit weight vector holds 4 columns x 4 k, and one 32-bit lane
 * of A (4 k of one row) multiplies it into 4 int32 column sums. 8 int32x4 accumulators
 * (rows x column halves), no reduction. Exact for any int8 A and W.
 *
 * Compiled for dotprod in this file only; dispatch selects it when HWCAP_ASIMDDP is set.
 * Requantization and stores: qs8_gemm_neon_common.h.
 *
 * Defines lotr_qs8_gemm_4x8c4__neondot (int8 out) and lotr_qs8_gemm_f32_4x8c4__neondot. */
#include <string.h>

#include "internal.h"
#include "qs8_gemm_neon_common.h"

#if defined(__aarch64__)
LOTR_NEONDOT_BEGIN

enum { MR = 4, NR = 8, KR = 4 };

/* 4 k of all rows: lane L of each row's A against one c4 group (32 bytes at w + G). */
#define DOT4(G, L)                                                              \
  do {                                                                          \
    const int8x16_t vb0123 = vld1q_s8(w + (G));                                 \
    const int8x16_t vb4567 = vld1q_s8(w + (G) + 16);                            \
    acc0x0123 = vdotq_lane_s32(acc0x0123, vb0123, va0, L);                      \
    acc0x4567 = vdotq_lane_s32(acc0x4567, vb4567, va0, L);                      \
    acc1x0123 = vdotq_lane_s32(acc1x0123, vb0123, va1, L);                      \
    acc1x4567 = vdotq_lane_s32(acc1x4567, vb4567, va1, L);                      \
    acc2x0123 = vdotq_lane_s32(acc2x0123, vb0123, va2, L);                      \
    acc2x4567 = vdotq_lane_s32(acc2x4567, vb4567, va2, L);                      \
    acc3x0123 = vdotq_lane_s32(acc3x0123, vb0123, va3, L);                      \
    acc3x4567 = vdotq_lane_s32(acc3x4567, vb4567, va3, L);                      \
  } while (0)

static inline __attribute__((always_inline)) void gemm_4x8c4(size_t mr, size_t nc, size_t kc, const int8_t* a,
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
    int32x4_t acc0x0123 = vld1q_s32(bias);
    int32x4_t acc0x4567 = vld1q_s32(bias + 4);
    int32x4_t acc1x0123 = acc0x0123, acc1x4567 = acc0x4567;
    int32x4_t acc2x0123 = acc0x0123, acc2x4567 = acc0x4567;
    int32x4_t acc3x0123 = acc0x0123, acc3x4567 = acc0x4567;
    const int8_t* w = (const int8_t*)(bias + NR);
    const int8_t *pa0 = row[0], *pa1 = row[1], *pa2 = row[2], *pa3 = row[3];
    size_t k = kc;
    for (; k >= 8; k -= 8) {
      const int8x8_t va0 = vld1_s8(pa0), va1 = vld1_s8(pa1), va2 = vld1_s8(pa2), va3 = vld1_s8(pa3);
      pa0 += 8;
      pa1 += 8;
      pa2 += 8;
      pa3 += 8;
      DOT4(0, 0);
      DOT4(32, 1);
      w += 2 * NR * KR;
    }
    if (k > 0) { /* 1..7 k left: one or two c4 groups, A zero-filled past the row */
      const int8x8_t va0 = load_a(pa0, k), va1 = load_a(pa1, k), va2 = load_a(pa2, k), va3 = load_a(pa3, k);
      DOT4(0, 0);
      if (k > 4) DOT4(32, 1);
    }

    qs8_gemm_neon_store(MR, mr, n0, nc - n0, acc0x0123, acc0x4567, acc1x0123, acc1x4567, acc2x0123, acc2x4567,
                        acc3x0123, acc3x4567, c, cf, c_stride, requant, scale);
  }
}

LOTR_DEFINE_QS8_GEMM_NEON_UKERNELS(4x8c4__neondot, gemm_4x8c4)

LOTR_NEONDOT_END
#endif
