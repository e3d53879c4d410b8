/* Depthwise 3x3 convolution: the per-ISA micro-kernel that computes one output row.
 *
 * Packed weights (lotr_qs8_dwconv3x3_pack), for C channels and channel tile T:
 *   ceil(C/T) blocks, each   int32 bias[T]   (bias - input_zp * sum of the 9 taps)
 *                            weights         (T channels x 9 taps; int8 [9][T], or for
 *                                             the AVX2 layout int16 tap pairs, see there)
 *   when T > 1, C > T and C is not a multiple of T: one more block, the tail block, packing
 *   channels C-T .. C-1, so the row kernel finishes a row with one full-width step that
 *   overlaps the last whole block (those channels are written twice, with the same
 *   values) instead of copying the remainder through a bounce buffer;
 *   then one row of round_up(C, T) bytes holding the input zero point: padded taps
 *   read it, so the folded bias cancels exactly as the contract requires.
 * Channels past C in the last block have zero weights and bias. */
#ifndef LOTR_QS8_DWCONV_CONFIG_H
#define LOTR_QS8_DWCONV_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "lotr_kernels.h"

/* One output row: output[x][c] for x in [0, output_width), c in [0, channels).
 *   rows[ky]: input row (iy = oy*stride - pad_top + ky) [input_width][channels], or NULL
 *             when that row is padding;
 *   column ix = x*stride - pad_left + kx; a tap outside [0, input_width) or in a NULL
 *             row reads `zero` (the packed zero-point row) instead. */
typedef void (*lotr_dwconv3x3_row_fn)(size_t channels, size_t output_width, const int8_t* const rows[3],
                                      size_t input_width, size_t stride, size_t pad_left, const int8_t* zero,
                                      const void* packed, int8_t* output, const lotr_qs8_requant* requant);

/* Writes the packed blocks (not the zero-point row) for `channels` channels. */
typedef void (*lotr_dwconv3x3_pack_fn)(size_t channels, size_t tile, const int8_t* weights /* [3][3][C] */,
                                       const int32_t* bias /* [C] or NULL */, int32_t input_zero_point,
                                       void* packed);

#define LOTR_DWCONV_MAX_TILE 16

struct lotr_dwconv_config {
  size_t channel_tile;  /* T <= LOTR_DWCONV_MAX_TILE */
  size_t block_bytes;   /* one packed block of T channels, a multiple of 4 */
  lotr_dwconv3x3_pack_fn pack;
  lotr_dwconv3x3_row_fn row;
};

/* Block size of the int8 layout: bias[T], int8 [9][T], padded to 4 bytes. */
#define LOTR_DWCONV3X3_BLOCK_BYTES_I8(t) ((t) * 4 + ((t) * 9 + 3) / 4 * 4)
/* Block size of the AVX2 layout: bias[T], 5 tap pairs of int16 [T][2]. */
#define LOTR_DWCONV3X3_BLOCK_BYTES_I16X2(t) ((t) * 4 + (t) * 5 * 2 * 2)

/* The 9 tap pointers of output column x (row-major ky, kx), `zero` where padded. */
static inline void lotr_dwconv3x3_taps(const int8_t* const rows[3], size_t channels, size_t input_width,
                                       size_t stride, size_t pad_left, const int8_t* zero, size_t x,
                                       const int8_t* taps[9]) {
  for (size_t kx = 0; kx < 3; kx++) {
    const size_t ix = x * stride + kx - pad_left; /* wraps to huge when left of the input */
    const int inside = ix < input_width;
    for (size_t ky = 0; ky < 3; ky++)
      taps[ky * 3 + kx] = inside && rows[ky] != NULL ? rows[ky] + ix * channels : zero;
  }
}

/* Packs with int8 weights [9][T] per block (ref, NEON, ARMv7). */
void lotr_qs8_dwconv3x3_pack__ref(size_t channels, size_t tile, const int8_t* weights, const int32_t* bias,
                                  int32_t input_zero_point, void* packed);
void lotr_qs8_dwconv3x3__ref(size_t channels, size_t output_width, const int8_t* const rows[3],
                             size_t input_width, size_t stride, size_t pad_left, const int8_t* zero,
                             const void* packed, int8_t* output, const lotr_qs8_requant* requant);
void lotr_qs8_dwconv3x3_16c__neon(size_t channels, size_t output_width, const int8_t* const rows[3],
                                  size_t input_width, size_t stride, size_t pad_left, const int8_t* zero,
                                  const void* packed, int8_t* output, const lotr_qs8_requant* requant);
void lotr_qs8_dwconv3x3_16c__armv7(size_t channels, size_t output_width, const int8_t* const rows[3],
                                   size_t input_width, size_t stride, size_t pad_left, const int8_t* zero,
                                   const void* packed, int8_t* output, const lotr_qs8_requant* requant);
/* Packs int16 weights as tap pairs for _mm256_madd_epi16 (see the AVX2 kernel). */
void lotr_qs8_dwconv3x3_pack_16c__avx2(size_t channels, size_t tile, const int8_t* weights,
                                       const int32_t* bias, int32_t input_zero_point, void* packed);
void lotr_qs8_dwconv3x3_16c__avx2(size_t channels, size_t output_width, const int8_t* const rows[3],
                                  size_t input_width, size_t stride, size_t pad_left, const int8_t* zero,
                                  const void* packed, int8_t* output, const lotr_qs8_requant* requant);

#endif
