/* Int8 GEMM micro-kernel for AArch64 ARMv8.0 NEON (Cortex-A53 in the Pi 3, Cortex-A72 in
 * the Pi 4): 2 rows x 8 columns, weights int8 in groups of 8 k per column (c8).
 *
 * Per 16 k and (row, column): SMULL of the first 8 products into int16, SMLAL of the next
 * 8 into the same int16 lanes, SADALP into an int32x4 accumulator. A pair of products is at
 * most 2 * 128 * 127 = 32512 in magnitude, which is why weights must avoid -128. 16 int32x4
 * accumulators (one per row and column) are reduced with ADDP at the end.
 *
 * Requantization: SMULL(2) to int64, SRSHL by -shift (round half up, no overflow), then a
 * saturating zero-point add, saturating narrows and the clamp.
 *
 * Defines lotr_qs8_gemm_2x8c8__neon (int8 out) and lotr_qs8_gemm_f32_2x8c8__neon. */
#if defined(__aarch64__)

#include <arm_neon.h>
#include <string.h>

#include "internal.h"

enum { MR = 2, NR = 8, KR = 8 };

/* a[0, n) for n in [1, 8], zero-filled: never reads past the row. */
static inline int8x8_t load_a(const int8_t* a, size_t n) {
  if (n >= 8) return vld1_s8(a);
  int8_t tmp[8] = {0};
  memcpy(tmp, a, n);
  return vld1_s8(tmp);
}

/* Per-column requantization constants for columns [0, n) of a block (n < 8: padded). */
typedef struct {
  int32x4_t m_lo, m_hi;
  int64x2_t nshift[4];
} requant8;

static inline requant8 requant8_load(const int32_t* multiplier, const int32_t* shift, size_t n) {
  int32_t m[8] = {1 << 30, 1 << 30, 1 << 30, 1 << 30, 1 << 30, 1 << 30, 1 << 30, 1 << 30};
  int32_t s[8] = {32, 32, 32, 32, 32, 32, 32, 32};
  memcpy(m, multiplier, LOTR_MIN(n, (size_t)8) * sizeof(int32_t));
  memcpy(s, shift, LOTR_MIN(n, (size_t)8) * sizeof(int32_t));
  requant8 r;
  r.m_lo = vld1q_s32(m);
  r.m_hi = vld1q_s32(m + 4);
  const int32x4_t ns_lo = vnegq_s32(vld1q_s32(s));
  const int32x4_t ns_hi = vnegq_s32(vld1q_s32(s + 4));
  r.nshift[0] = vmovl_s32(vget_low_s32(ns_lo));
  r.nshift[1] = vmovl_high_s32(ns_lo);
  r.nshift[2] = vmovl_s32(vget_low_s32(ns_hi));
  r.nshift[3] = vmovl_high_s32(ns_hi);
  return r;
}

static inline int32x4_t requant4(int32x4_t acc, int32x4_t m, int64x2_t nshift_lo, int64x2_t nshift_hi) {
  const int64x2_t lo = vrshlq_s64(vmull_s32(vget_low_s32(acc), vget_low_s32(m)), nshift_lo);
  const int64x2_t hi = vrshlq_s64(vmull_high_s32(acc, m), nshift_hi);
  return vuzp1q_s32(vreinterpretq_s32_s64(lo), vreinterpretq_s32_s64(hi));
}

/* One row's 8 outputs as int16 (zero point added, saturated). */
static inline int16x8_t requant_row(int32x4_t lo, int32x4_t hi, const requant8* r, int32x4_t zp) {
  const int32x4_t y_lo = vqaddq_s32(requant4(lo, r->m_lo, r->nshift[0], r->nshift[1]), zp);
  const int32x4_t y_hi = vqaddq_s32(requant4(hi, r->m_hi, r->nshift[2], r->nshift[3]), zp);
  return vqmovn_high_s32(vqmovn_s32(y_lo), y_hi);
}

static inline void store_i8(int8_t* c, int8x8_t v, size_t n) {
  if (n >= 8) {
    vst1_s8(c, v);
  } else {
    int8_t tmp[8];
    vst1_s8(tmp, v);
    memcpy(c, tmp, n);
  }
}

static inline void store_f32(float* c, int32x4_t lo, int32x4_t hi, const float* scale, size_t n) {
  float s[8] = {0};
  memcpy(s, scale, LOTR_MIN(n, (size_t)8) * sizeof(float));
  const float32x4_t f_lo = vmulq_f32(vcvtq_f32_s32(lo), vld1q_f32(s));
  const float32x4_t f_hi = vmulq_f32(vcvtq_f32_s32(hi), vld1q_f32(s + 4));
  if (n >= 8) {
    vst1q_f32(c, f_lo);
    vst1q_f32(c + 4, f_hi);
  } else {
    float tmp[8];
    vst1q_f32(tmp, f_lo);
    vst1q_f32(tmp + 4, f_hi);
    memcpy(c, tmp, n * sizeof(float));
  }
}

/* Products of 16 k (two c8 groups, 64 bytes apart) for column J of both rows. */
#define MLAL16(J)                                                \
  do {                                                           \
    const int8x8_t vb0 = vld1_s8(w + 8 * (J));                   \
    const int8x8_t vb1 = vld1_s8(w + 64 + 8 * (J));              \
    int16x8_t p0 = vmull_s8(vb0, va0x0);                         \
    int16x8_t p1 = vmull_s8(vb0, va1x0);                         \
    p0 = vmlal_s8(p0, vb1, va0x1);                               \
    p1 = vmlal_s8(p1, vb1, va1x1);                               \
    acc0x##J = vpadalq_s16(acc0x##J, p0);                        \
    acc1x##J = vpadalq_s16(acc1x##J, p1);                        \
  } while (0)

/* Products of 8 k (one c8 group) for column J of both rows. */
#define MULL8(J)                                                 \
  do {                                                           \
    const int8x8_t vb = vld1_s8(w + 8 * (J));                    \
    acc0x##J = vpadalq_s16(acc0x##J, vmull_s8(vb, va0));         \
    acc1x##J = vpadalq_s16(acc1x##J, vmull_s8(vb, va1));         \
  } while (0)

static inline __attribute__((always_inline)) void gemm_2x8c8(size_t mr, size_t nc, size_t kc, const int8_t* a,
                                                              size_t a_stride, const void* w_packed, int8_t* c,
                                                              float* cf, size_t c_stride,
                                                              const lotr_qs8_requant* requant,
                                                              const float* scale) {
  const size_t block_bytes = NR * sizeof(int32_t) + LOTR_ROUND_UP(kc, KR) * NR;
  const int8_t* a0 = a;
  const int8_t* a1 = mr > 1 ? a + a_stride : a0;
  const uint8_t* block = w_packed;
  for (size_t n0 = 0; n0 < nc; n0 += NR, block += block_bytes) {
    const int32_t* bias = (const int32_t*)block;
    const int32x4_t zero = vdupq_n_s32(0);
    int32x4_t acc0x0 = vld1q_lane_s32(bias + 0, zero, 0);
    int32x4_t acc0x1 = vld1q_lane_s32(bias + 1, zero, 0);
    int32x4_t acc0x2 = vld1q_lane_s32(bias + 2, zero, 0);
    int32x4_t acc0x3 = vld1q_lane_s32(bias + 3, zero, 0);
    int32x4_t acc0x4 = vld1q_lane_s32(bias + 4, zero, 0);
    int32x4_t acc0x5 = vld1q_lane_s32(bias + 5, zero, 0);
    int32x4_t acc0x6 = vld1q_lane_s32(bias + 6, zero, 0);
    int32x4_t acc0x7 = vld1q_lane_s32(bias + 7, zero, 0);
    int32x4_t acc1x0 = acc0x0, acc1x1 = acc0x1, acc1x2 = acc0x2, acc1x3 = acc0x3;
    int32x4_t acc1x4 = acc0x4, acc1x5 = acc0x5, acc1x6 = acc0x6, acc1x7 = acc0x7;
    const int8_t* w = (const int8_t*)(bias + NR);
    const int8_t* pa0 = a0;
    const int8_t* pa1 = a1;
    size_t k = kc;
    for (; k >= 16; k -= 16) {
      const int8x8_t va0x0 = vld1_s8(pa0), va0x1 = vld1_s8(pa0 + 8);
      const int8x8_t va1x0 = vld1_s8(pa1), va1x1 = vld1_s8(pa1 + 8);
      pa0 += 16;
      pa1 += 16;
      MLAL16(0);
      MLAL16(1);
      MLAL16(2);
      MLAL16(3);
      MLAL16(4);
      MLAL16(5);
      MLAL16(6);
      MLAL16(7);
      w += 2 * NR * KR;
    }
    while (k > 0) { /* one or two more c8 groups, the last possibly partial in A */
      const size_t kk = LOTR_MIN(k, (size_t)8);
      const int8x8_t va0 = load_a(pa0, kk), va1 = load_a(pa1, kk);
      pa0 += kk;
      pa1 += kk;
      MULL8(0);
      MULL8(1);
      MULL8(2);
      MULL8(3);
      MULL8(4);
      MULL8(5);
      MULL8(6);
      MULL8(7);
      w += NR * KR;
      k -= kk;
    }
    const int32x4_t acc0_lo = vpaddq_s32(vpaddq_s32(acc0x0, acc0x1), vpaddq_s32(acc0x2, acc0x3));
    const int32x4_t acc0_hi = vpaddq_s32(vpaddq_s32(acc0x4, acc0x5), vpaddq_s32(acc0x6, acc0x7));
    const int32x4_t acc1_lo = vpaddq_s32(vpaddq_s32(acc1x0, acc1x1), vpaddq_s32(acc1x2, acc1x3));
    const int32x4_t acc1_hi = vpaddq_s32(vpaddq_s32(acc1x4, acc1x5), vpaddq_s32(acc1x6, acc1x7));

    const size_t n = nc - n0;
    if (cf != NULL) {
      if (mr > 1) store_f32(cf + c_stride + n0, acc1_lo, acc1_hi, scale + n0, n);
      store_f32(cf + n0, acc0_lo, acc0_hi, scale + n0, n);
    } else {
      const requant8 r = requant8_load(requant->multiplier + n0, requant->shift + n0, n);
      const int32x4_t zp = vdupq_n_s32(requant->output_zero_point);
      int8x16_t y = vqmovn_high_s16(vqmovn_s16(requant_row(acc0_lo, acc0_hi, &r, zp)),
                                    requant_row(acc1_lo, acc1_hi, &r, zp));
      y = vminq_s8(vmaxq_s8(y, vdupq_n_s8(requant->output_min)), vdupq_n_s8(requant->output_max));
      if (mr > 1) store_i8(c + c_stride + n0, vget_high_s8(y), n);
      store_i8(c + n0, vget_low_s8(y), n);
    }
  }
}

void lotr_qs8_gemm_2x8c8__neon(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride, const void* w,
                               int8_t* c, size_t c_stride, const lotr_qs8_requant* requant) {
  gemm_2x8c8(mr, nc, kc, a, a_stride, w, c, NULL, c_stride, requant, NULL);
}

void lotr_qs8_gemm_f32_2x8c8__neon(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride,
                                   const void* w, float* c, size_t c_stride, const float* scale) {
  gemm_2x8c8(mr, nc, kc, a, a_stride, w, NULL, c, c_stride, NULL, scale);
}

#endif /* __aarch64__ */
