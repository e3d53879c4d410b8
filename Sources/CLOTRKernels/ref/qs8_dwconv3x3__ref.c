/* Depthwise 3x3, one output row, the specification: packed as lotr_qs8_dwconv3x3_pack__ref
 * with T = 1 (per channel: int32 bias with the zero point folded in, 9 int8 taps). */
#include "internal.h"

void lotr_qs8_dwconv3x3__ref(size_t channels, size_t output_width, const int8_t* const rows[3],
                             size_t input_width, size_t stride, size_t pad_left, const int8_t* zero,
                             const void* packed, int8_t* output, const lotr_qs8_requant* requant) {
  const size_t block_bytes = LOTR_DWCONV3X3_BLOCK_BYTES_I8(1);
  for (size_t x = 0; x < output_width; x++) {
    const int8_t* taps[9];
    lotr_dwconv3x3_taps(rows, channels, input_width, stride, pad_left, zero, x, taps);
    for (size_t c = 0; c < channels; c++) {
      const uint8_t* block = (const uint8_t*)packed + c * block_bytes;
      const int8_t* w = (const int8_t*)(block + sizeof(int32_t));
      int32_t acc = *(const int32_t*)block;
      for (size_t k = 0; k < 9; k++) acc += (int32_t)taps[k][c] * (int32_t)w[k];
      output[x * channels + c] = lotr_requantize(acc, requant->multiplier[c], requant->shift[c],
                                                 requant->output_zero_point, requant->output_min,
                                                 requant->output_max);
    }
  }
}
