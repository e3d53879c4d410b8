/* Depthwise 3x3, one output row, 16 channels per step, for 32-bit ARMv7 NEON
 * (Cortex-A7/A53/A72 running 32-bit Raspberry Pi OS). Products of tap pairs in int16 (SMULL +
 * SMLAL: |x*w| <= 128*127, two fit in int16 because weights are never -128), widened into
 * int32 accumulators (SADDW); rndnu requantization with SMULL (int64 product) and SRSHL by -shift, which adds
 * 2^(shift-1) before the arithmetic shift exactly as the contract does. Weights packed by
 * lotr_qs8_dwconv3x3_pack__ref with T = 16. */
#include <string.h>

#include "internal.h"

#if defined(__arm__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("neon"))), apply_to = function)
#else
#pragma GCC target("fpu=neon")
#endif
#include <arm_neon.h>

#define LOTR_DWCONV3X3_16C_NEON_FN lotr_qs8_dwconv3x3_16c__armv7
#include "qs8_dwconv3x3_16c_neon.h"

#if defined(__clang__)
#pragma clang attribute pop
#endif
#endif /* __arm__ */
