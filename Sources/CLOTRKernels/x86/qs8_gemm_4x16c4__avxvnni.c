/* Int8 GEMM micro-kernel for x86-64 AVX-VNNI (the VEX-encoded vpdpbusd on 256-bit
 * registers: Intel Alder Lake and later, AMD Zen 4 and later): 4 rows x 16 columns.
 *
 * vpdpbusd multiplies unsigned bytes by signed bytes, four products per int32 lane, and
 * adds them to the lane (wrapping, not saturating: the 's' form is never used). A is int8
 * in [-128, 127], so the kernel feeds a ^ 0x80 = a + 128 as the unsigned operand and the
 * packing folds -(a_zero_point + 128) * sum_k W[n][k] into the bias instead of
 * -a_zero_point * sum_k W[n][k] (lotr_qs8_gemm_pack_w8_u8). Each product is at most
 * 255 * 127 and every accumulator is congruent to the contract's int32 acc modulo 2^32,
 * which is acc itself: the result is exact.
 *
 * Weights are packed int8 in quads of k (c4): per k-quad, 16 columns x 4 bytes = two
 * 256-bit vectors, K zero-padded to a multiple of 4. The kernel converts its 4 rows of A
 * to uint8 once per call (on the stack, up to KCHUNK columns at a time, whole 16-byte
 * stores), so the inner loop is: broadcast one k-quad of A per row (vpbroadcastd from
 * memory) and 8 vpdpbusd into 8 independent int32 accumulators. The bytes of A's last
 * quad past K hold anything (0x80 here) and meet zero weights, so they add nothing.
 *
 * Requantization and the stores: qs8_gemm_avx2_common.h (shared with the AVX2 kernel,
 * bit-exact with ref).
 *
 * Defines lotr_qs8_gemm_4x16c4__avxvnni (int8 out) and lotr_qs8_gemm_f32_4x16c4__avxvnni. */
#if defined(__x86_64__)

#include <string.h>

#include "internal.h"
#include "x86_target.h"

LOTR_AVXVNNI_BEGIN

#include "qs8_gemm_avx2_common.h"

enum { MR = 4, NR = 16, KR = 4, KCHUNK = 2048 };

/* buf[0, round_up(len, 16)) = a[0, len) ^ 0x80 (a + 128 as uint8), then 0x80 bytes.
 * Whole 16-byte stores only, so every 4-byte broadcast of a quad is forwarded from one
 * store; reads only a[0, len). */
static inline void to_u8(const int8_t* a, size_t len, uint8_t* buf) {
  const __m128i sign = _mm_set1_epi8((char)0x80);
  size_t i = 0;
  for (; i + 16 <= len; i += 16)
    _mm_store_si128((__m128i*)(buf + i), _mm_xor_si128(_mm_loadu_si128((const __m128i*)(a + i)), sign));
  if (i < len) {
    const size_t rest = len - i;
    /* With a full vector before the tail, one overlapping load + shift (reads a[len-16, len)). */
    const __m128i v = len >= 16 ? _mm_shuffle_epi8(_mm_loadu_si128((const __m128i*)(a + len - 16)),
                                                   _mm_loadu_si128((const __m128i*)(shift_window + 16 - rest)))
                                : load_tail_i8(a + i, rest);
    _mm_store_si128((__m128i*)(buf + i), _mm_xor_si128(v, sign));
  }
}

static inline __m256i bcast_quad(const uint8_t* p) {
  int32_t v;
  memcpy(&v, p, sizeof(v));
  return _mm256_set1_epi32(v);
}

/* One k-quad for all 4 rows; HALF: only the first 8 columns are live. */
#define STEP(HALF)                                                            \
  do {                                                                        \
    const __m256i w0 = _mm256_loadu_si256((const __m256i*)wk);                 \
    const __m256i va0 = bcast_quad(b0 + p);                                   \
    const __m256i va1 = bcast_quad(b1 + p);                                   \
    const __m256i va2 = bcast_quad(b2 + p);                                   \
    const __m256i va3 = bcast_quad(b3 + p);                                   \
    acc0x0 = _mm256_dpbusd_avx_epi32(acc0x0, va0, w0);                        \
    acc1x0 = _mm256_dpbusd_avx_epi32(acc1x0, va1, w0);                        \
    acc2x0 = _mm256_dpbusd_avx_epi32(acc2x0, va2, w0);                        \
    acc3x0 = _mm256_dpbusd_avx_epi32(acc3x0, va3, w0);                        \
    if (!(HALF)) {                                                            \
      const __m256i w1 = _mm256_loadu_si256((const __m256i*)wk + 1);           \
      acc0x1 = _mm256_dpbusd_avx_epi32(acc0x1, va0, w1);                      \
      acc1x1 = _mm256_dpbusd_avx_epi32(acc1x1, va1, w1);                      \
      acc2x1 = _mm256_dpbusd_avx_epi32(acc2x1, va2, w1);                      \
      acc3x1 = _mm256_dpbusd_avx_epi32(acc3x1, va3, w1);                      \
    }                                                                         \
    wk += KR * NR;                                                            \
  } while (0)

static inline __attribute__((always_inline)) void gemm_4x16c4(size_t mr, size_t nc, size_t kc, const int8_t* a,
                                                               size_t a_stride, const void* w, int8_t* c,
                                                               float* cf, size_t c_stride,
                                                               const lotr_qs8_requant* requant,
                                                               const float* scale) {
  _Alignas(32) uint8_t buf[MR][KCHUNK];
  const size_t kp = LOTR_ROUND_UP(kc, KR);
  const size_t block_bytes = NR * sizeof(int32_t) + kp * NR;
  const int chunked = kp > KCHUNK;
  /* Rows past mr repeat the last row (computed, stored to the same place). */
  const int8_t* a_rows[MR];
  const uint8_t* b_rows[MR];
  for (size_t i = 0; i < MR; i++) {
    const size_t r = i < mr ? i : mr - 1;
    a_rows[i] = a + r * a_stride;
    b_rows[i] = buf[r];
  }
  if (!chunked) {
    for (size_t i = 0; i < mr; i++) to_u8(a_rows[i], kc, buf[i]);
  }
  const uint8_t* b0 = b_rows[0];
  const uint8_t* b1 = b_rows[1];
  const uint8_t* b2 = b_rows[2];
  const uint8_t* b3 = b_rows[3];

  const uint8_t* block = w;
  for (size_t n0 = 0; n0 < nc; n0 += NR, block += block_bytes) {
    const size_t n = nc - n0;
    const int half = n <= NR / 2;
    __m256i acc0x0 = _mm256_loadu_si256((const __m256i*)block);
    __m256i acc0x1 = _mm256_loadu_si256((const __m256i*)block + 1);
    __m256i acc1x0 = acc0x0, acc2x0 = acc0x0, acc3x0 = acc0x0;
    __m256i acc1x1 = acc0x1, acc2x1 = acc0x1, acc3x1 = acc0x1;
    const int8_t* wk = (const int8_t*)(block + NR * sizeof(int32_t));
    for (size_t k0 = 0; k0 < kp; k0 += KCHUNK) {
      const size_t kend = LOTR_MIN(kp - k0, (size_t)KCHUNK);
      if (chunked) {
        for (size_t i = 0; i < mr; i++) to_u8(a_rows[i] + k0, LOTR_MIN(kc - k0, (size_t)KCHUNK), buf[i]);
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

void lotr_qs8_gemm_4x16c4__avxvnni(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride,
                                   const void* w, int8_t* c, size_t c_stride, const lotr_qs8_requant* requant) {
  gemm_4x16c4(mr, nc, kc, a, a_stride, w, c, NULL, c_stride, requant, NULL);
}

void lotr_qs8_gemm_f32_4x16c4__avxvnni(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride,
                                       const void* w, float* c, size_t c_stride, const float* scale) {
  gemm_4x16c4(mr, nc, kc, a, a_stride, w, NULL, c, c_stride, NULL, scale);
}

LOTR_AVXVNNI_END

#endif /* __x86_64__ */
