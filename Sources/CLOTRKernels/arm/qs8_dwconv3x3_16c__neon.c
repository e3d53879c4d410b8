/* Depthwise 3x3, one output row, 16 channels per step, for NEON, AArch64 and ARMv7
 * (lotr_qs8_dwconv3x3_16c__neon, lotr_qs8_dwconv3x3_16c__armv7; Cortex-A53/A72/A76 of the
 * Pi 3, 4, 5; ARMv7: the Pi 2's Cortex-A7, the others under a 32-bit OS). Products of tap pairs in int16
 * (SMULL + SMLAL: |x*w| <= 128*127, two fit in int16 because weights are never -128), widened
 * into int32 accumulators (SADDW); rndnu requantization with SMULL (int64 product) and SRSHL
 * by -shift, which adds 2^(shift-1) before the arithmetic shift exactly as the contract does.
 * Weights packed by lotr_qs8_dwconv3x3_pack__ref with T = 16. */
#include <string.h>

#include "internal.h"
#include "neon_compat.h"

#if defined(LOTR_ARM_NEON)
LOTR_NEON_BEGIN

static inline int32x4_t requantize4(int32x4_t acc, const int32_t* multiplier, const int32_t* shift) {
  const int32x4_t m = vld1q_s32(multiplier);
  const int32x4_t ns = vnegq_s32(vld1q_s32(shift));
  const int64x2_t lo = vrshlq_s64(vmull_s32(vget_low_s32(acc), vget_low_s32(m)), vmovl_s32(vget_low_s32(ns)));
  const int64x2_t hi = vrshlq_s64(vmull_s32(vget_high_s32(acc), vget_high_s32(m)), vmovl_s32(vget_high_s32(ns)));
  return vcombine_s32(vmovn_s64(lo), vmovn_s64(hi));
}

static inline int16x8_t pair_products(int8x8_t x0, int8x8_t w0, int8x8_t x1, int8x8_t w1) {
  return vmlal_s8(vmull_s8(x0, w0), x1, w1);
}

/* 16 channels at offset c of the 9 taps. */
static inline void dwconv16(const int8_t* const taps[9], size_t c, const uint8_t* block, const int32_t* mult,
                            const int32_t* shift, int16x8_t vzp, int8x16_t vmin, int8x16_t vmax, int8_t* out) {
  const int32_t* bias = (const int32_t*)block;
  const int8_t* w = (const int8_t*)(bias + 16);
  int32x4_t acc0 = vld1q_s32(bias), acc1 = vld1q_s32(bias + 4), acc2 = vld1q_s32(bias + 8), acc3 = vld1q_s32(bias + 12);
  for (size_t k = 0; k < 9; k += 2) {
    const int8x16_t x0 = vld1q_s8(taps[k] + c), w0 = vld1q_s8(w + k * 16);
    int16x8_t lo, hi;
    if (k < 8) {
      const int8x16_t x1 = vld1q_s8(taps[k + 1] + c), w1 = vld1q_s8(w + (k + 1) * 16);
      lo = pair_products(vget_low_s8(x0), vget_low_s8(w0), vget_low_s8(x1), vget_low_s8(w1));
      hi = pair_products(vget_high_s8(x0), vget_high_s8(w0), vget_high_s8(x1), vget_high_s8(w1));
    } else {
      lo = vmull_s8(vget_low_s8(x0), vget_low_s8(w0));
      hi = vmull_s8(vget_high_s8(x0), vget_high_s8(w0));
    }
    acc0 = vaddw_s16(acc0, vget_low_s16(lo));
    acc1 = vaddw_s16(acc1, vget_high_s16(lo));
    acc2 = vaddw_s16(acc2, vget_low_s16(hi));
    acc3 = vaddw_s16(acc3, vget_high_s16(hi));
  }
  const int32x4_t y0 = requantize4(acc0, mult, shift), y1 = requantize4(acc1, mult + 4, shift + 4);
  const int32x4_t y2 = requantize4(acc2, mult + 8, shift + 8), y3 = requantize4(acc3, mult + 12, shift + 12);
  const int16x8_t y01 = vqaddq_s16(lotr_vqmovn_high_s32(vqmovn_s32(y0), y1), vzp);
  const int16x8_t y23 = vqaddq_s16(lotr_vqmovn_high_s32(vqmovn_s32(y2), y3), vzp);
  int8x16_t y = lotr_vqmovn_high_s16(vqmovn_s16(y01), y23);
  vst1q_s8(out, vminq_s8(vmaxq_s8(y, vmin), vmax));
}

void LOTR_NEON_FN(qs8_dwconv3x3_16c)(size_t channels, size_t output_width, const int8_t* const rows[3],
                                  size_t input_width, size_t stride, size_t pad_left, const int8_t* zero,
                                  const void* packed, int8_t* output, const lotr_qs8_requant* requant) {
  const size_t block_bytes = LOTR_DWCONV3X3_BLOCK_BYTES_I8(16);
  const int16x8_t vzp = vdupq_n_s16((int16_t)requant->output_zero_point);
  const int8x16_t vmin = vdupq_n_s8(requant->output_min), vmax = vdupq_n_s8(requant->output_max);
  const size_t full = channels & ~(size_t)15, rest = channels - full;
  int32_t tail_mult[16], tail_shift[16];
  for (size_t j = 0; j < 16; j++) {
    tail_mult[j] = j < rest ? requant->multiplier[full + j] : 0;
    tail_shift[j] = j < rest ? requant->shift[full + j] : 32;
  }
  for (size_t x = 0; x < output_width; x++, output += channels) {
    const int8_t* taps[9];
    lotr_dwconv3x3_taps(rows, channels, input_width, stride, pad_left, zero, x, taps);
    const uint8_t* block = packed;
    for (size_t c = 0; c < full; c += 16, block += block_bytes)
      dwconv16(taps, c, block, requant->multiplier + c, requant->shift + c, vzp, vmin, vmax, output + c);
    if (rest != 0 && channels > 16) {
      /* The last 16 channels with the tail block, overlapping the last whole block. */
      const size_t c = channels - 16;
      dwconv16(taps, c, block + block_bytes, requant->multiplier + c, requant->shift + c, vzp, vmin, vmax,
               output + c);
    } else if (rest != 0) {
      int8_t in[9][16] = {{0}}, out[16];
      const int8_t* local[9];
      for (size_t k = 0; k < 9; k++) {
        memcpy(in[k], taps[k] + full, rest);
        local[k] = in[k];
      }
      dwconv16(local, 0, block, tail_mult, tail_shift, vzp, vmin, vmax, out);
      memcpy(output + full, out, rest);
    }
  }
}

LOTR_NEON_END
#endif
