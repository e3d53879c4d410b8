/* Shared AVX2 helpers of the x86-64 pixel rows (lotr_pixels.h), 16 pixels at a time.
 * Bit-exact with the reference: each channel is one or two VPMADDWD of int16 pairs
 * (c, e)x(298, 409) etc. with the rounding 128 folded in as a (1, 128) pair, so the int32
 * sums are the contract's; VPSRAD 8, then VPACKSSDW/VPACKUSWB saturate to [0, 255].
 * Include only from the AVX2 row files, inside __x86_64__ with the avx2 target set. */
#ifndef LOTR_PIXELS_AVX2_H
#define LOTR_PIXELS_AVX2_H

#include <immintrin.h>

/* clamp((a*ka + b*kb + 128) >> 8) of 16 int16 lanes, narrowed to 16 uint8. */
static inline __m128i lotr_px_madd2(__m256i a, __m256i b, int16_t ka, int16_t kb) {
  const __m256i k = _mm256_set1_epi32((int32_t)(((uint32_t)(uint16_t)kb << 16) | (uint16_t)ka));
  const __m256i r = _mm256_set1_epi32(128);
  const __m256i lo = _mm256_srai_epi32(_mm256_add_epi32(_mm256_madd_epi16(_mm256_unpacklo_epi16(a, b), k), r), 8);
  const __m256i hi = _mm256_srai_epi32(_mm256_add_epi32(_mm256_madd_epi16(_mm256_unpackhi_epi16(a, b), k), r), 8);
  const __m256i w = _mm256_packs_epi32(lo, hi);            /* lane order restored: 0-7 | 8-15 */
  const __m256i b8 = _mm256_packus_epi16(w, w);            /* 0-7 0-7 | 8-15 8-15 */
  return _mm256_castsi256_si128(_mm256_permute4x64_epi64(b8, 0x08));
}

/* clamp((a*ka + b*kb + c*kc + 128) >> 8): the G channel, two madds ((c, 1)·(kc, 128)). */
static inline __m128i lotr_px_madd3(__m256i a, __m256i b, __m256i c, int16_t ka, int16_t kb, int16_t kc) {
  const __m256i one = _mm256_set1_epi16(1);
  const __m256i k1 = _mm256_set1_epi32((int32_t)(((uint32_t)(uint16_t)kb << 16) | (uint16_t)ka));
  const __m256i k2 = _mm256_set1_epi32((int32_t)((128u << 16) | (uint16_t)kc));
  const __m256i lo = _mm256_srai_epi32(_mm256_add_epi32(_mm256_madd_epi16(_mm256_unpacklo_epi16(a, b), k1),
                                                        _mm256_madd_epi16(_mm256_unpacklo_epi16(c, one), k2)), 8);
  const __m256i hi = _mm256_srai_epi32(_mm256_add_epi32(_mm256_madd_epi16(_mm256_unpackhi_epi16(a, b), k1),
                                                        _mm256_madd_epi16(_mm256_unpackhi_epi16(c, one), k2)), 8);
  const __m256i w = _mm256_packs_epi32(lo, hi);
  const __m256i b8 = _mm256_packus_epi16(w, w);
  return _mm256_castsi256_si128(_mm256_permute4x64_epi64(b8, 0x08));
}

/* (x - bias) of 16 uint8 as int16. */
static inline __m256i lotr_px_centre(__m128i x, int16_t bias) {
  return _mm256_sub_epi16(_mm256_cvtepu8_epi16(x), _mm256_set1_epi16(bias));
}

#define LOTR_PX_M(k, ch, j) \
  ((char)(((16 * (k) + (j)) % 3 == (ch)) ? (16 * (k) + (j)) / 3 : 0x80))
#define LOTR_PX_MASK(k, ch)                                                                                    \
  _mm_setr_epi8(LOTR_PX_M(k, ch, 0), LOTR_PX_M(k, ch, 1), LOTR_PX_M(k, ch, 2), LOTR_PX_M(k, ch, 3),            \
                LOTR_PX_M(k, ch, 4), LOTR_PX_M(k, ch, 5), LOTR_PX_M(k, ch, 6), LOTR_PX_M(k, ch, 7),            \
                LOTR_PX_M(k, ch, 8), LOTR_PX_M(k, ch, 9), LOTR_PX_M(k, ch, 10), LOTR_PX_M(k, ch, 11),          \
                LOTR_PX_M(k, ch, 12), LOTR_PX_M(k, ch, 13), LOTR_PX_M(k, ch, 14), LOTR_PX_M(k, ch, 15))

/* Interleaves 16 R, G, B bytes into 48 bytes of RGB8 (nine PSHUFBs). */
static inline void lotr_px_store_rgb(__m128i r, __m128i g, __m128i b, uint8_t* dst) {
  const __m128i o0 = _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(r, LOTR_PX_MASK(0, 0)), _mm_shuffle_epi8(g, LOTR_PX_MASK(0, 1))),
                                  _mm_shuffle_epi8(b, LOTR_PX_MASK(0, 2)));
  const __m128i o1 = _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(r, LOTR_PX_MASK(1, 0)), _mm_shuffle_epi8(g, LOTR_PX_MASK(1, 1))),
                                  _mm_shuffle_epi8(b, LOTR_PX_MASK(1, 2)));
  const __m128i o2 = _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(r, LOTR_PX_MASK(2, 0)), _mm_shuffle_epi8(g, LOTR_PX_MASK(2, 1))),
                                  _mm_shuffle_epi8(b, LOTR_PX_MASK(2, 2)));
  _mm_storeu_si128((__m128i*)dst, o0);
  _mm_storeu_si128((__m128i*)(dst + 16), o1);
  _mm_storeu_si128((__m128i*)(dst + 32), o2);
}

/* 16 pixels: luma in order, chroma already repeated per pixel. */
static inline void lotr_px_yuv16_to_rgb(__m128i y, __m128i u, __m128i v, uint8_t* dst) {
  const __m256i c = lotr_px_centre(y, 16), d = lotr_px_centre(u, 128), e = lotr_px_centre(v, 128);
  const __m128i r = lotr_px_madd2(c, e, 298, 409);
  const __m128i g = lotr_px_madd3(c, d, e, 298, -100, -208);
  const __m128i b = lotr_px_madd2(c, d, 298, 516);
  lotr_px_store_rgb(r, g, b, dst);
}

#endif
