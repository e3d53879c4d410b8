/* Int8 GEMM micro-kernel for x86-64 AVX2 (development machines): 4 rows x 16 columns.
 *
 * Weights are packed pre-widened to int16 in pairs of k (c2): per k-pair, 16 columns x
 * 2 int16 = two 256-bit vectors. The kernel widens its 4 rows of A to int16 once per call
 * (on the stack, up to KCHUNK columns at a time), so the inner loop is broadcast one k-pair
 * of A (vpbroadcastd) and _mm256_madd_epi16 against the weights: 8 independent int32
 * accumulators, no horizontal reduction. Products a*w <= 128*127 and their pair sums fit
 * int32 exactly for any int8 A (-128 included).
 *
 * Requantization and the stores: qs8_gemm_avx2_common.h (shared with the AVX-VNNI kernel).
 *
 * Defines lotr_qs8_gemm_4x16c2__avx2 (int8 out) and lotr_qs8_gemm_f32_4x16c2__avx2. */
#if defined(__x86_64__)

#include <string.h>

#include "internal.h"
#include "x86_target.h"

LOTR_AVX2_BEGIN

#include "qs8_gemm_avx2_common.h"

enum { MR = 4, NR = 16, KR = 2, KCHUNK = 1024 };

/* buf[0, round_up(len, 16)) = sign-extended a[0, len), zero-padded. Whole-vector stores
 * only: the kernel reloads k-pairs of buf as 32-bit broadcasts, and one that spans two
 * smaller stores (the old per-element tail of an odd K such as the stem's 27) cannot be
 * forwarded from the store buffer. buf holds round_up(len, 16) elements. */
static inline void widen(const int8_t* a, size_t len, int16_t* buf) {
  size_t i = 0;
  for (; i + 16 <= len; i += 16)
    _mm256_store_si256((__m256i*)(buf + i), _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i*)(a + i))));
  if (i < len) {
    const size_t rest = len - i;
    /* With a full vector before the tail, one overlapping load + shift (reads a[len-16, len)). */
    const __m128i v = len >= 16 ? _mm_shuffle_epi8(_mm_loadu_si128((const __m128i*)(a + len - 16)),
                                                   _mm_loadu_si128((const __m128i*)(shift_window + 16 - rest)))
                                : load_tail_i8(a + i, rest);
    _mm256_store_si256((__m256i*)(buf + i), _mm256_cvtepi8_epi16(v));
  }
}

static inline __m256i bcast_pair(const int16_t* p) {
  int32_t v;
  memcpy(&v, p, sizeof(v));
  return _mm256_set1_epi32(v);
}

/* One k-pair for all 4 rows; HALF: only the first 8 columns are live. */
#define STEP(HALF)                                                  \
  do {                                                              \
    const __m256i w0 = _mm256_loadu_si256((const __m256i*)wk);       \
    const __m256i va0 = bcast_pair(b0 + p);                         \
    const __m256i va1 = bcast_pair(b1 + p);                         \
    const __m256i va2 = bcast_pair(b2 + p);                         \
    const __m256i va3 = bcast_pair(b3 + p);                         \
    acc0x0 = _mm256_add_epi32(acc0x0, _mm256_madd_epi16(va0, w0));  \
    acc1x0 = _mm256_add_epi32(acc1x0, _mm256_madd_epi16(va1, w0));  \
    acc2x0 = _mm256_add_epi32(acc2x0, _mm256_madd_epi16(va2, w0));  \
    acc3x0 = _mm256_add_epi32(acc3x0, _mm256_madd_epi16(va3, w0));  \
    if (!(HALF)) {                                                  \
      const __m256i w1 = _mm256_loadu_si256((const __m256i*)wk + 1); \
      acc0x1 = _mm256_add_epi32(acc0x1, _mm256_madd_epi16(va0, w1)); \
      acc1x1 = _mm256_add_epi32(acc1x1, _mm256_madd_epi16(va1, w1)); \
      acc2x1 = _mm256_add_epi32(acc2x1, _mm256_madd_epi16(va2, w1)); \
      acc3x1 = _mm256_add_epi32(acc3x1, _mm256_madd_epi16(va3, w1)); \
    }                                                               \
    wk += 2 * NR;                                                   \
  } while (0)

static inline __attribute__((always_inline)) void gemm_4x16c2(size_t mr, size_t nc, size_t kc, const int8_t* a,
                                                               size_t a_stride, const void* w, int8_t* c,
                                                               float* cf, size_t c_stride,
                                                               const lotr_qs8_requant* requant,
                                                               const float* scale) {
  _Alignas(32) int16_t buf[MR][KCHUNK];
  const size_t kp = LOTR_ROUND_UP(kc, KR);
  const size_t block_bytes = NR * sizeof(int32_t) + kp * NR * sizeof(int16_t);
  const int chunked = kp > KCHUNK;
  /* Rows past mr repeat the last row (computed, never stored twice differently). */
  const int8_t* a_rows[MR];
  const int16_t* b_rows[MR];
  for (size_t i = 0; i < MR; i++) {
    const size_t r = i < mr ? i : mr - 1;
    a_rows[i] = a + r * a_stride;
    b_rows[i] = buf[r];
  }
  if (!chunked) {
    for (size_t i = 0; i < mr; i++) widen(a_rows[i], kc, buf[i]);
  }
  const int16_t* b0 = b_rows[0];
  const int16_t* b1 = b_rows[1];
  const int16_t* b2 = b_rows[2];
  const int16_t* b3 = b_rows[3];

  const uint8_t* block = w;
  for (size_t n0 = 0; n0 < nc; n0 += NR, block += block_bytes) {
    const size_t n = nc - n0;
    const int half = n <= NR / 2;
    __m256i acc0x0 = _mm256_loadu_si256((const __m256i*)block);
    __m256i acc0x1 = _mm256_loadu_si256((const __m256i*)block + 1);
    __m256i acc1x0 = acc0x0, acc2x0 = acc0x0, acc3x0 = acc0x0;
    __m256i acc1x1 = acc0x1, acc2x1 = acc0x1, acc3x1 = acc0x1;
    const int16_t* wk = (const int16_t*)(block + NR * sizeof(int32_t));
    for (size_t k0 = 0; k0 < kp; k0 += KCHUNK) {
      const size_t kend = LOTR_MIN(kp - k0, (size_t)KCHUNK);
      if (chunked) {
        for (size_t i = 0; i < mr; i++) widen(a_rows[i] + k0, LOTR_MIN(kc - k0, (size_t)KCHUNK), buf[i]);
      }
      if (half) {
        for (size_t p = 0; p < kend; p += KR) STEP(1);
      } else {
        for (size_t p = 0; p < kend; p += KR) STEP(0);
      }
    }

    qs8_gemm_4x16_store(mr, n0, n, acc0x0, acc0x1, acc1x0, acc1x1, acc2x0, acc2x1, acc3x0, acc3x1, c, cf, c_stride,
                        requant, scale);
  }
}

void lotr_qs8_gemm_4x16c2__avx2(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride,
                                const void* w, int8_t* c, size_t c_stride, const lotr_qs8_requant* requant) {
  gemm_4x16c2(mr, nc, kc, a, a_stride, w, c, NULL, c_stride, requant, NULL);
}

void lotr_qs8_gemm_f32_4x16c2__avx2(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride,
                                    const void* w, float* c, size_t c_stride, const float* scale) {
  gemm_4x16c2(mr, nc, kc, a, a_stride, w, NULL, c, c_stride, NULL, scale);
}

LOTR_AVX2_END

#endif /* __x86_64__ */
