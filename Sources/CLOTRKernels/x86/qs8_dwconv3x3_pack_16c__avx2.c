/* Depthwise 3x3 packing for the AVX2 kernel: per block of 16 channels,
 *   int32 bias[16] (zero point folded in), then for tap pairs (0,1) (2,3) (4,5) (6,7) (8,-)
 *   two vectors of int16 [8 channels][2 taps]: channels {0-3, 8-11} then {4-7, 12-15},
 *   the lane order of _mm256_unpack{lo,hi}_epi16, so one _mm256_madd_epi16 applies two
 *   taps to 8 channels. Plain C: packing runs once at load. */
#include <string.h>

#include "internal.h"

#if defined(__x86_64__)
void lotr_qs8_dwconv3x3_pack_16c__avx2(size_t channels, size_t tile, const int8_t* weights /* [3][3][C] */,
                                       const int32_t* bias, int32_t input_zero_point, void* packed) {
  static const uint8_t lane_channel[2][8] = {{0, 1, 2, 3, 8, 9, 10, 11}, {4, 5, 6, 7, 12, 13, 14, 15}};
  const size_t block_bytes = LOTR_DWCONV3X3_BLOCK_BYTES_I16X2(16);
  (void)tile; /* always 16 */
  uint8_t* block = packed;
  for (size_t c0 = 0; c0 < channels; c0 += 16, block += block_bytes) {
    memset(block, 0, block_bytes);
    int32_t* b = (int32_t*)block;
    int16_t* w = (int16_t*)(b + 16);
    for (size_t j = 0; j < 16 && c0 + j < channels; j++) {
      int32_t sum = 0;
      for (size_t k = 0; k < 9; k++) sum += weights[k * channels + c0 + j];
      b[j] = (int32_t)((uint32_t)(bias != NULL ? bias[c0 + j] : 0) - (uint32_t)(input_zero_point * sum));
    }
    for (size_t p = 0; p < 5; p++)
      for (size_t h = 0; h < 2; h++)
        for (size_t i = 0; i < 8; i++) {
          const size_t c = c0 + lane_channel[h][i];
          if (c >= channels) continue;
          int16_t* pair = w + ((p * 2 + h) * 8 + i) * 2;
          pair[0] = weights[(2 * p) * channels + c];
          pair[1] = 2 * p + 1 < 9 ? weights[(2 * p + 1) * channels + c] : 0;
        }
  }
}
#endif
