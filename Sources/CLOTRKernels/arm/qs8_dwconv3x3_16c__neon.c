/* Depthwise 3x3, one output row, 16 channels per step, for NEON, AArch64 and ARMv7
 * (lotr_qs8_dwconv3x3_16c__neon, lotr_qs8_dwconv3x3_16c__armv7; Cortex-A53/A72/A76 of the
 * Pi 3, 4, 5; ARMv7: the Pi 2's Cortex-A7, the others under a 32-bit OS). Products of tap pairs in int16
 * (SMULL + SMLAL: |x*w| <= 128*127, two fit in int16 because weights are never -128), widened
 * into int32 accumulators (SADDW); the contract's requantization as SQDMULH + SRSHL
 * (qs8_requant_neon.h). Two output pixels per step share each channel block's weights, bias
 * and requantization constants (loaded once into registers), so a pixel costs its 9 input
 * loads, not 9 + 9 + 12. Weights packed by lotr_qs8_dwconv3x3_pack__ref with T = 16. */
#include <string.h>

#include "internal.h"
#include "neon_compat.h"
#include "qs8_requant_neon.h"

#if defined(LOTR_ARM_NEON)
LOTR_NEON_BEGIN

static inline int16x8_t pair_products(int8x8_t x0, int8x8_t w0, int8x8_t x1, int8x8_t w1) {
  return vmlal_s8(vmull_s8(x0, w0), x1, w1);
}

/* One 16-channel block of the packed weights, in registers: the 9 taps, the bias and the
 * block's requantization constants (multiplier, post shift), shared by the pixels of a step. */
typedef struct {
  int8x16_t w[9];
  int32x4_t bias[4], m[4], post[4];
} dw_block16;

static inline __attribute__((always_inline)) dw_block16 dw_block16_load(const uint8_t* block, const int32_t* mult,
                                                                         const int32_t* shift) {
  dw_block16 b;
  const int32_t* bias = (const int32_t*)block;
  const int8_t* w = (const int8_t*)(bias + 16);
  for (size_t k = 0; k < 9; k++) b.w[k] = vld1q_s8(w + k * 16);
  for (size_t q = 0; q < 4; q++) {
    b.bias[q] = vld1q_s32(bias + 4 * q);
    b.m[q] = vld1q_s32(mult + 4 * q);
    b.post[q] = lotr_requant_post_shift(vld1q_s32(shift + 4 * q));
  }
  return b;
}

/* 16 channels at offset c of one pixel's 9 taps, requantized and stored. */
static inline __attribute__((always_inline)) void dw_pixel16(const int8_t* const taps[9], size_t c,
                                                              const dw_block16* b, int16x8_t vzp, int8x16_t vmin,
                                                              int8x16_t vmax, int8_t* out) {
  int32x4_t acc0 = b->bias[0], acc1 = b->bias[1], acc2 = b->bias[2], acc3 = b->bias[3];
  for (size_t k = 0; k < 9; k += 2) {
    const int8x16_t x0 = vld1q_s8(taps[k] + c), w0 = b->w[k];
    int16x8_t lo, hi;
    if (k < 8) {
      const int8x16_t x1 = vld1q_s8(taps[k + 1] + c), w1 = b->w[k + 1];
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
  const int32x4_t y0 = lotr_requant4(acc0, b->m[0], b->post[0]), y1 = lotr_requant4(acc1, b->m[1], b->post[1]);
  const int32x4_t y2 = lotr_requant4(acc2, b->m[2], b->post[2]), y3 = lotr_requant4(acc3, b->m[3], b->post[3]);
  const int16x8_t y01 = vqaddq_s16(lotr_vqmovn_high_s32(vqmovn_s32(y0), y1), vzp);
  const int16x8_t y23 = vqaddq_s16(lotr_vqmovn_high_s32(vqmovn_s32(y2), y3), vzp);
  int8x16_t y = lotr_vqmovn_high_s16(vqmovn_s16(y01), y23);
  vst1q_s8(out, vminq_s8(vmaxq_s8(y, vmin), vmax));
}

/* Channels c .. c + 15 of the step's pixels (1 or 2) from one loaded block. The second
 * pixel is written out, not looped, so that clang keeps both in one channel-block loop body. */
static inline __attribute__((always_inline)) void dw_step16(size_t pixels, const int8_t* const taps[][9], size_t c,
                                                             const dw_block16* b, size_t channels, int16x8_t vzp,
                                                             int8x16_t vmin, int8x16_t vmax, int8_t* output) {
  dw_pixel16(taps[0], c, b, vzp, vmin, vmax, output + c);
  if (pixels == 2) dw_pixel16(taps[1], c, b, vzp, vmin, vmax, output + channels + c);
}

/* Output pixels x .. x + pixels - 1 of the row (pixels = 1 or 2, a constant after
 * inlining): each channel block is loaded once for both. */
static inline __attribute__((always_inline)) void dw_pixels(size_t pixels, const int8_t* const taps[][9],
                                                             size_t channels, const void* packed,
                                                             const lotr_qs8_requant* requant, const int32_t* tail_mult,
                                                             const int32_t* tail_shift, int16x8_t vzp,
                                                             int8x16_t vmin, int8x16_t vmax, int8_t* output) {
  const size_t block_bytes = LOTR_DWCONV3X3_BLOCK_BYTES_I8(16);
  const size_t full = channels & ~(size_t)15, rest = channels - full;
  const uint8_t* block = packed;
  for (size_t c = 0; c < full; c += 16, block += block_bytes) {
    const dw_block16 b = dw_block16_load(block, requant->multiplier + c, requant->shift + c);
    dw_step16(pixels, taps, c, &b, channels, vzp, vmin, vmax, output);
  }
  if (rest != 0 && channels > 16) {
    /* The last 16 channels with the tail block, overlapping the last whole block. */
    const size_t c = channels - 16;
    const dw_block16 b = dw_block16_load(block + block_bytes, requant->multiplier + c, requant->shift + c);
    dw_step16(pixels, taps, c, &b, channels, vzp, vmin, vmax, output);
  } else if (rest != 0) {
    const dw_block16 b = dw_block16_load(block, tail_mult, tail_shift);
    for (size_t p = 0; p < pixels; p++) {
      int8_t in[9][16] = {{0}}, out[16];
      const int8_t* local[9];
      for (size_t k = 0; k < 9; k++) {
        memcpy(in[k], taps[p][k] + full, rest);
        local[k] = in[k];
      }
      dw_pixel16(local, 0, &b, vzp, vmin, vmax, out);
      memcpy(output + p * channels + full, out, rest);
    }
  }
}

void LOTR_NEON_FN(qs8_dwconv3x3_16c)(size_t channels, size_t output_width, const int8_t* const rows[3],
                                  size_t input_width, size_t stride, size_t pad_left, const int8_t* zero,
                                  const void* packed, int8_t* output, const lotr_qs8_requant* requant) {
  const int16x8_t vzp = vdupq_n_s16((int16_t)requant->output_zero_point);
  const int8x16_t vmin = vdupq_n_s8(requant->output_min), vmax = vdupq_n_s8(requant->output_max);
  const size_t full = channels & ~(size_t)15, rest = channels - full;
  int32_t tail_mult[16], tail_shift[16];
  for (size_t j = 0; j < 16; j++) {
    tail_mult[j] = j < rest ? requant->multiplier[full + j] : 1 << 30;
    tail_shift[j] = j < rest ? requant->shift[full + j] : 32;
  }
  const int8_t* taps[2][9];
  size_t x = 0;
  for (; x + 2 <= output_width; x += 2, output += 2 * channels) {
    lotr_dwconv3x3_taps(rows, channels, input_width, stride, pad_left, zero, x, taps[0]);
    lotr_dwconv3x3_taps(rows, channels, input_width, stride, pad_left, zero, x + 1, taps[1]);
    dw_pixels(2, taps, channels, packed, requant, tail_mult, tail_shift, vzp, vmin, vmax, output);
  }
  if (x < output_width) {
    lotr_dwconv3x3_taps(rows, channels, input_width, stride, pad_left, zero, x, taps[0]);
    dw_pixels(1, taps, channels, packed, requant, tail_mult, tail_shift, vzp, vmin, vmax, output);
  }
}

LOTR_NEON_END
#endif
