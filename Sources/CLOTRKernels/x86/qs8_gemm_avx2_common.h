/* Shared by the x86-64 4x16 int8 GEMM micro-kernels (AVX2 c2, AVX-VNNI c4): tail-safe
 * loads of A, and the epilogue that requantizes (or scales to float) a 4x16 tile of int32
 * accumulators and stores it. Static inline only: include it inside the file's
 * LOTR_AVX2_BEGIN / LOTR_AVXVNNI_BEGIN region (x86_target.h) so every function here is
 * compiled for that file's ISA, after <string.h>, "internal.h" and "x86_target.h".
 *
 * Requantization (shift in [32, 63]): int64 products from _mm256_mul_epi32 on even and odd
 * lanes, plus 2^(shift-1); the high 32 bits are the product >> 32, then an arithmetic
 * shift by shift-32 finishes the floor division. Zero point and clamp go through the
 * saturating int16/int8 packs. */
#ifndef LOTR_X86_QS8_GEMM_AVX2_COMMON_H
#define LOTR_X86_QS8_GEMM_AVX2_COMMON_H

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

/* The epilogue of one 4x16 tile: rows [0, mr) of A, columns n0 .. n0 + min(n, 16) of C
 * (n >= 1 columns left). accRxH holds row R, columns 8H .. 8H+7; with n <= 8 the xH=1
 * accumulators are ignored. Rows past mr hold the last live row's values (the kernels
 * repeat its A) and store to the same place. Writes `cf` (float, times scale[]) when it is
 * not NULL, else `c` (int8 through `requant`). */
static inline __attribute__((always_inline)) void qs8_gemm_4x16_store(
    size_t mr, size_t n0, size_t n, __m256i acc0x0, __m256i acc0x1, __m256i acc1x0, __m256i acc1x1,
    __m256i acc2x0, __m256i acc2x1, __m256i acc3x0, __m256i acc3x1, int8_t* c, float* cf, size_t c_stride,
    const lotr_qs8_requant* requant, const float* scale) {
  const int half = n <= 8;
  const size_t i1 = mr > 1 ? 1 : 0, i2 = mr > 2 ? 2 : i1, i3 = mr > 3 ? 3 : i2;
  if (cf != NULL) {
    const __m256 s0 = load8_f32(scale + n0, n);
    const __m256 s1 = half ? s0 : load8_f32(scale + n0 + 8, n - 8);
    const size_t nn = LOTR_MIN(n, (size_t)16);
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
    const size_t nn = LOTR_MIN(n, (size_t)16);
    int8_t* c0 = c + n0;
    store_i8(c0 + i3 * c_stride, _mm256_extracti128_si256(y23, 1), nn);
    store_i8(c0 + i2 * c_stride, _mm256_castsi256_si128(y23), nn);
    store_i8(c0 + i1 * c_stride, _mm256_extracti128_si256(y01, 1), nn);
    store_i8(c0, _mm256_castsi256_si128(y01), nn);
  }
}

#endif
