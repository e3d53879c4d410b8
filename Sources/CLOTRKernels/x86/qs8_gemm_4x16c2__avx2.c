/* Int8 GEMM micro-kernel for x86-64 AVX2 (development machines): 4 rows x 16 columns.
 *
 * Weights are packed pre-widened to int16 in pairs of k (c2): per k-pair, 16 columns x
 * 2 int16 = two 256-bit vectors. The kernel widens its 4 rows of A to int16 once per call
 * (on the stack, up to KCHUNK columns at a time), so the inner loop is broadcast one k-pair
 * of A (vpbroadcastd) and _mm256_madd_epi16 against the weights: 8 independent int32
 * accumulators, no horizontal reduction. Products a*w <= 128*127 and their pair sums fit
 * int32 exactly for any int8 A (-128 included).
 *
 * Requantization (shift in [32, 63]): int64 products from _mm256_mul_epi32 on even and odd
 * lanes, plus 2^(shift-1); the high 32 bits are the product >> 32, then an arithmetic
 * shift by shift-32 finishes the floor division. Zero point and clamp go through the
 * saturating int16/int8 packs.
 *
 * Defines lotr_qs8_gemm_4x16c2__avx2 (int8 out) and lotr_qs8_gemm_f32_4x16c2__avx2. */
#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

#include "internal.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

enum { MR = 4, NR = 16, KR = 2, KCHUNK = 1024 };

/* _mm_shuffle_epi8 controls that move the last `rest` bytes of a 16-byte vector to the
 * front and zero the others: loadu(shift_window + 16 - rest). */
static const int8_t shift_window[32] = {
    0,    1,    2,    3,    4,    5,    6,    7,    8,    9,    10,   11,   12,   13,   14,   15,
    -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128};

/* bytes p[0, n) in the low n lanes, zeros above, for 1 <= n <= 16; reads only [p, p + n).
 * Built from two overlapping loads and one shuffle, so no byte is stored and reloaded. */
static inline __m128i load_tail_i8(const int8_t* p, size_t n) {
  /* shuffle controls: index of byte j in the combined vector, 0x80 (zero) past n */
  static const int8_t ctl8[9][16] = {
#define C8(n) {0, 1, 2, 3, 4, 5, 6, 7, 8 < n ? 8 + 16 - n : -128, 9 < n ? 9 + 16 - n : -128, \
                10 < n ? 10 + 16 - n : -128, 11 < n ? 11 + 16 - n : -128, 12 < n ? 12 + 16 - n : -128, \
                13 < n ? 13 + 16 - n : -128, 14 < n ? 14 + 16 - n : -128, 15 < n ? 15 + 16 - n : -128}
      C8(8), C8(9), C8(10), C8(11), C8(12), C8(13), C8(14), C8(15), C8(16)
#undef C8
  };
  static const int8_t ctl4[4][16] = {
#define C4(n) {0, 1, 2, 3, 4 < n ? 4 + 8 - n : -128, 5 < n ? 5 + 8 - n : -128, 6 < n ? 6 + 8 - n : -128, \
                -128, -128, -128, -128, -128, -128, -128, -128, -128}
      C4(4), C4(5), C4(6), C4(7)
#undef C4
  };
  if (n >= 8) {
    const __m128i v = _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i*)p),
                                         _mm_loadl_epi64((const __m128i*)(p + n - 8)));
    return _mm_shuffle_epi8(v, _mm_loadu_si128((const __m128i*)ctl8[n - 8]));
  }
  if (n >= 4) {
    int32_t lo, hi;
    memcpy(&lo, p, 4);
    memcpy(&hi, p + n - 4, 4);
    return _mm_shuffle_epi8(_mm_setr_epi32(lo, hi, 0, 0), _mm_loadu_si128((const __m128i*)ctl4[n - 4]));
  }
  uint32_t v = (uint8_t)p[0];
  if (n > 1) v |= (uint32_t)(uint8_t)p[1] << 8;
  if (n > 2) v |= (uint32_t)(uint8_t)p[2] << 16;
  return _mm_cvtsi32_si128((int)v);
}

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

/* floor((acc * m + 2^(s-1)) / 2^s) per lane, for s in [32, 63]. */
typedef struct {
  __m256i m_even, m_odd, round_even, round_odd, shift_hi;
} requant8;

/* 8 int32 from p[0, n), the rest `fill`: never reads past the N per-channel entries. */
static inline __m256i load8_i32(const int32_t* p, size_t n, int32_t fill) {
  if (n >= 8) return _mm256_loadu_si256((const __m256i*)p);
  int32_t tmp[8] = {fill, fill, fill, fill, fill, fill, fill, fill};
  memcpy(tmp, p, n * sizeof(int32_t));
  return _mm256_loadu_si256((const __m256i*)tmp);
}

static inline __m256 load8_f32(const float* p, size_t n) {
  if (n >= 8) return _mm256_loadu_ps(p);
  float tmp[8] = {0};
  memcpy(tmp, p, n * sizeof(float));
  return _mm256_loadu_ps(tmp);
}

static inline requant8 requant8_load(const int32_t* multiplier, const int32_t* shift, size_t n) {
  const __m256i m = load8_i32(multiplier, n, 1 << 30);
  const __m256i s = load8_i32(shift, n, 32);
  const __m256i s1 = _mm256_sub_epi32(s, _mm256_set1_epi32(1));
  const __m256i one = _mm256_set1_epi64x(1);
  requant8 r;
  r.m_even = m;
  r.m_odd = _mm256_srli_epi64(m, 32);
  r.round_even = _mm256_sllv_epi64(one, _mm256_and_si256(s1, _mm256_set1_epi64x(0xFFFFFFFF)));
  r.round_odd = _mm256_sllv_epi64(one, _mm256_srli_epi64(s1, 32));
  r.shift_hi = _mm256_sub_epi32(s, _mm256_set1_epi32(32));
  return r;
}

static inline __m256i requant8_apply(__m256i acc, const requant8* r) {
  const __m256i p_even = _mm256_add_epi64(_mm256_mul_epi32(acc, r->m_even), r->round_even);
  const __m256i p_odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(acc, 32), r->m_odd), r->round_odd);
  const __m256i hi = _mm256_blend_epi32(_mm256_srli_epi64(p_even, 32), p_odd, 0xAA);
  return _mm256_srav_epi32(hi, r->shift_hi);
}

/* Tail-safe copies of one row's outputs. */
static inline void store_i8(int8_t* c, __m128i v, size_t n) {
  if (n >= 16) {
    _mm_storeu_si128((__m128i*)c, v);
  } else {
    int8_t tmp[16];
    _mm_storeu_si128((__m128i*)tmp, v);
    memcpy(c, tmp, n);
  }
}

static inline void store_f32(float* c, __m256i acc_lo, __m256i acc_hi, __m256 scale_lo, __m256 scale_hi, size_t n) {
  const __m256 lo = _mm256_mul_ps(_mm256_cvtepi32_ps(acc_lo), scale_lo);
  const __m256 hi = _mm256_mul_ps(_mm256_cvtepi32_ps(acc_hi), scale_hi);
  if (n >= 16) {
    _mm256_storeu_ps(c, lo);
    _mm256_storeu_ps(c + 8, hi);
  } else {
    float tmp[16];
    _mm256_storeu_ps(tmp, lo);
    _mm256_storeu_ps(tmp + 8, hi);
    memcpy(c, tmp, n * sizeof(float));
  }
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

    const size_t i1 = mr > 1 ? 1 : 0, i2 = mr > 2 ? 2 : i1, i3 = mr > 3 ? 3 : i2;
    if (cf != NULL) {
      const __m256 s0 = load8_f32(scale + n0, n);
      const __m256 s1 = half ? s0 : load8_f32(scale + n0 + 8, n - 8);
      const size_t nn = LOTR_MIN(n, (size_t)NR);
      float* c0 = cf + n0;
      store_f32(c0 + i3 * c_stride, acc3x0, acc3x1, s0, s1, nn);
      store_f32(c0 + i2 * c_stride, acc2x0, acc2x1, s0, s1, nn);
      store_f32(c0 + i1 * c_stride, acc1x0, acc1x1, s0, s1, nn);
      store_f32(c0, acc0x0, acc0x1, s0, s1, nn);
    } else {
      const requant8 r0 = requant8_load(requant->multiplier + n0, requant->shift + n0, n);
      const requant8 r1 = half ? r0 : requant8_load(requant->multiplier + n0 + 8, requant->shift + n0 + 8, n - 8);
      const __m256i zp = _mm256_set1_epi16((int16_t)requant->output_zero_point);
      /* int16 per lane: [row: c0-3, c8-11 | row: c4-7, c12-15] */
      const __m256i y0 = _mm256_adds_epi16(
          _mm256_packs_epi32(requant8_apply(acc0x0, &r0), requant8_apply(acc0x1, &r1)), zp);
      const __m256i y1 = _mm256_adds_epi16(
          _mm256_packs_epi32(requant8_apply(acc1x0, &r0), requant8_apply(acc1x1, &r1)), zp);
      const __m256i y2 = _mm256_adds_epi16(
          _mm256_packs_epi32(requant8_apply(acc2x0, &r0), requant8_apply(acc2x1, &r1)), zp);
      const __m256i y3 = _mm256_adds_epi16(
          _mm256_packs_epi32(requant8_apply(acc3x0, &r0), requant8_apply(acc3x1, &r1)), zp);
      const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
      __m256i y01 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(y0, y1), order);
      __m256i y23 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(y2, y3), order);
      const __m256i vmin = _mm256_set1_epi8(requant->output_min);
      const __m256i vmax = _mm256_set1_epi8(requant->output_max);
      y01 = _mm256_min_epi8(_mm256_max_epi8(y01, vmin), vmax);
      y23 = _mm256_min_epi8(_mm256_max_epi8(y23, vmin), vmax);
      const size_t nn = LOTR_MIN(n, (size_t)NR);
      int8_t* c0 = c + n0;
      store_i8(c0 + i3 * c_stride, _mm256_extracti128_si256(y23, 1), nn);
      store_i8(c0 + i2 * c_stride, _mm256_castsi256_si128(y23), nn);
      store_i8(c0 + i1 * c_stride, _mm256_extracti128_si256(y01, 1), nn);
      store_i8(c0, _mm256_castsi256_si128(y01), nn);
    }
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

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif

#endif /* __x86_64__ */
