/* Depthwise 3x3, one output row, 16 channels per step, for x86-64 AVX2 (development
 * machines). Input int8 widened to int16, two taps per _mm256_madd_epi16 (weights packed as
 * tap pairs by lotr_qs8_dwconv3x3_pack_16c__avx2); rndnu requantization with
 * _mm256_mul_epi32 on even/odd lanes, the high 32 bits of (product + 2^(shift-1)) then
 * _mm256_srav_epi32 by shift - 32 (= the arithmetic 64-bit shift of the contract). */
#include <string.h>

#include "internal.h"

#if defined(__x86_64__)
#include "x86_target.h"
LOTR_AVX2_BEGIN

/* Per-channel rndnu of 8 int32 accumulators; multiplier/shift for those 8 channels. */
static inline __m256i requantize8(__m256i acc, const int32_t* multiplier, const int32_t* shift) {
  const __m256i m = _mm256_loadu_si256((const __m256i*)multiplier);
  const __m256i s = _mm256_loadu_si256((const __m256i*)shift);
  const __m256i one = _mm256_set1_epi64x(1);
  const __m256i s_minus_1 = _mm256_sub_epi32(s, _mm256_set1_epi32(1));
  const __m256i r_even = _mm256_sllv_epi64(one, _mm256_and_si256(s_minus_1, _mm256_set1_epi64x(0xFFFFFFFF)));
  const __m256i r_odd = _mm256_sllv_epi64(one, _mm256_srli_epi64(s_minus_1, 32));
  const __m256i p_even = _mm256_add_epi64(_mm256_mul_epi32(acc, m), r_even);
  const __m256i p_odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(acc, 32), _mm256_srli_epi64(m, 32)), r_odd);
  const __m256i high = _mm256_blend_epi32(_mm256_srli_epi64(p_even, 32), p_odd, 0xAA);
  return _mm256_srav_epi32(high, _mm256_sub_epi32(s, _mm256_set1_epi32(32)));
}

/* 16 channels at offset c of the 9 taps; mult/shift point at these 16 channels. */
static inline void dwconv16(const int8_t* const taps[9], size_t c, const uint8_t* block, const int32_t* mult,
                            const int32_t* shift, __m256i vzp, __m128i vmin, __m128i vmax, int8_t* out) {
  const __m256i* w = (const __m256i*)(block + 16 * sizeof(int32_t));
  __m256i acc_lo = _mm256_setzero_si256(); /* channels 0-3, 8-11 */
  __m256i acc_hi = _mm256_setzero_si256(); /* channels 4-7, 12-15 */
  for (size_t p = 0; p < 5; p++) {
    const __m256i xa = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i*)(taps[2 * p] + c)));
    const __m256i xb = p < 4 ? _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i*)(taps[2 * p + 1] + c)))
                             : _mm256_setzero_si256();
    acc_lo = _mm256_add_epi32(acc_lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(xa, xb), _mm256_loadu_si256(w + 2 * p)));
    acc_hi = _mm256_add_epi32(acc_hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(xa, xb), _mm256_loadu_si256(w + 2 * p + 1)));
  }
  const __m256i* bias = (const __m256i*)block;
  __m256i acc0 = _mm256_add_epi32(_mm256_permute2x128_si256(acc_lo, acc_hi, 0x20), _mm256_loadu_si256(bias));
  __m256i acc1 = _mm256_add_epi32(_mm256_permute2x128_si256(acc_lo, acc_hi, 0x31), _mm256_loadu_si256(bias + 1));
  const __m256i y0 = requantize8(acc0, mult, shift);
  const __m256i y1 = requantize8(acc1, mult + 8, shift + 8);
  __m256i y16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(y0, y1), 0xD8);
  y16 = _mm256_adds_epi16(y16, vzp);
  __m128i y8 = _mm_packs_epi16(_mm256_castsi256_si128(y16), _mm256_extracti128_si256(y16, 1));
  y8 = _mm_min_epi8(_mm_max_epi8(y8, vmin), vmax);
  _mm_storeu_si128((__m128i*)out, y8);
}

void lotr_qs8_dwconv3x3_16c__avx2(size_t channels, size_t output_width, const int8_t* const rows[3],
                                  size_t input_width, size_t stride, size_t pad_left, const int8_t* zero,
                                  const void* packed, int8_t* output, const lotr_qs8_requant* requant) {
  const size_t block_bytes = LOTR_DWCONV3X3_BLOCK_BYTES_I16X2(16);
  const __m256i vzp = _mm256_set1_epi16((int16_t)requant->output_zero_point);
  const __m128i vmin = _mm_set1_epi8(requant->output_min), vmax = _mm_set1_epi8(requant->output_max);
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

LOTR_AVX2_END
#endif /* __x86_64__ */
