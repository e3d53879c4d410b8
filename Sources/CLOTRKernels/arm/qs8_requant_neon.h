/* The contract's requantization (lotr_kernels.h: y = (acc * m + 2^(s-1)) >> s, m in
 * [2^30, 2^31), s in [32, 63]) on NEON, both arches, four int32 lanes per step. Shared by
 * the ARM GEMM epilogues and the depthwise kernel; include after "neon_compat.h".
 *
 *   h = SQDMULH(acc, m)   = floor(acc * m / 2^31)   (saturates only for acc = m = INT32_MIN;
 *                                                    m > 0, so never)
 *   y = SRSHL(h, 31 - s)  = floor((h + 2^(s-32)) / 2^(s-31))
 *
 * is the contract's y exactly, for every acc: for an integer n > 0 and a real z,
 * floor(floor(z) / n) = floor(z / n); take z = acc * m / 2^31 + 2^(s-32) and n = 2^(s-31).
 * It needs s >= 32, so that the rounding constant 2^(s-32) is whole: the contract's range.
 * SRSHL by -32 (s = 63) is defined on 32-bit lanes (the shift is the signed low byte; the
 * rounding add is exact), giving 0 as the contract does for |acc * m| < 2^62.
 *
 * One multiply per four outputs; the int64 form (SMULL + SMULL2, two SRSHL.2D, UZP1) took
 * two multiplies, two 64-bit shifts and a permute, which on the Cortex-A72 cost as much as
 * the 9 MACs of a depthwise output (docs/PERFORMANCE.md, "ARM on paper"). */
#ifndef LOTR_ARM_QS8_REQUANT_NEON_H
#define LOTR_ARM_QS8_REQUANT_NEON_H

#include "neon_compat.h"

#if defined(LOTR_ARM_NEON)
LOTR_NEON_BEGIN

/* The post shift of four channels: 31 - shift, in [-32, -1]. */
static inline int32x4_t lotr_requant_post_shift(int32x4_t shift) { return vsubq_s32(vdupq_n_s32(31), shift); }

/* y of four accumulators, before the output zero point. */
static inline int32x4_t lotr_requant4(int32x4_t acc, int32x4_t multiplier, int32x4_t post_shift) {
  return vrshlq_s32(vqdmulhq_s32(acc, multiplier), post_shift);
}

LOTR_NEON_END
#endif

#endif
