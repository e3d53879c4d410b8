/* Depthwise 3x3 packing, int8 layout: per block of T channels, int32 bias[T] with the
 * input zero point folded in (bias - zp * sum of the 9 taps), then int8 weights [9][T].
 * Used by the reference (T = 1) and the NEON / ARMv7 kernels (T = 16). */
#include <string.h>

#include "internal.h"

void lotr_qs8_dwconv3x3_pack__ref(size_t channels, size_t tile, const int8_t* weights /* [3][3][C] */,
                                  const int32_t* bias, int32_t input_zero_point, void* packed) {
  const size_t block_bytes = LOTR_DWCONV3X3_BLOCK_BYTES_I8(tile);
  uint8_t* block = packed;
  for (size_t c0 = 0; c0 < channels; c0 += tile, block += block_bytes) {
    memset(block, 0, block_bytes);
    int32_t* b = (int32_t*)block;
    int8_t* w = (int8_t*)(b + tile);
    for (size_t j = 0; j < tile && c0 + j < channels; j++) {
      const size_t c = c0 + j;
      int32_t sum = 0;
      for (size_t k = 0; k < 9; k++) {
        w[k * tile + j] = weights[k * channels + c];
        sum += weights[k * channels + c];
      }
      b[j] = (int32_t)((uint32_t)(bias != NULL ? bias[c] : 0) - (uint32_t)(input_zero_point * sum));
    }
  }
}
