/* Int8 GEMM micro-kernel for 32-bit ARMv7 NEON (Cortex-A7/A53/A72 under 32-bit Raspberry
 * Pi OS): 4 rows x 8 columns, weights int8 one k at a time (c1: 8 columns per k).
 *
 * A and W are widened to int16 (VMOVL) and multiplied by lane (VMLAL.S16 by scalar) into
 * 8 int32x4 accumulators (rows x column halves): 8 of the 16 q registers, leaving room for
 * the 4 widened A rows and the weights without spills. Exact for any int8 A and W.
 *
 * armhf builds default to VFP without NEON, so NEON is enabled in this file only;
 * dispatch selects it when HWCAP_NEON is set. Requantization: VMULL.S32 to int64,
 * VRSHL.S64 by -shift (round half up), saturating zero-point add, narrows, clamp. The f32
 * twin multiplies with NEON, which flushes subnormals: scales must be normal floats.
 *
 * Defines lotr_qs8_gemm_4x8c1__armv7 (int8 out) and lotr_qs8_gemm_f32_4x8c1__armv7. */
#if defined(__arm__)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("neon"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("fpu=neon")
#endif

#include <arm_neon.h>
#include <string.h>

#include "internal.h"

enum { MR = 4, NR = 8, KR = 1 };

/* a[0, n) for n in [1, 8], zero-filled: never reads past the row. */
static inline int8x8_t load_a(const int8_t* a, size_t n) {
  if (n >= 8) return vld1_s8(a);
  int8_t tmp[8] = {0};
  memcpy(tmp, a, n);
  return vld1_s8(tmp);
}

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
  r.nshift[1] = vmovl_s32(vget_high_s32(ns_lo));
  r.nshift[2] = vmovl_s32(vget_low_s32(ns_hi));
  r.nshift[3] = vmovl_s32(vget_high_s32(ns_hi));
  return r;
}

static inline int32x4_t requant4(int32x4_t acc, int32x4_t m, int64x2_t nshift_lo, int64x2_t nshift_hi) {
  const int64x2_t lo = vrshlq_s64(vmull_s32(vget_low_s32(acc), vget_low_s32(m)), nshift_lo);
  const int64x2_t hi = vrshlq_s64(vmull_s32(vget_high_s32(acc), vget_high_s32(m)), nshift_hi);
  return vcombine_s32(vmovn_s64(lo), vmovn_s64(hi));
}

static inline int8x8_t requant_row(int32x4_t lo, int32x4_t hi, const requant8* r, int32x4_t zp, int8x8_t vmin,
                                   int8x8_t vmax) {
  const int32x4_t y_lo = vqaddq_s32(requant4(lo, r->m_lo, r->nshift[0], r->nshift[1]), zp);
  const int32x4_t y_hi = vqaddq_s32(requant4(hi, r->m_hi, r->nshift[2], r->nshift[3]), zp);
  const int8x8_t y = vqmovn_s16(vcombine_s16(vqmovn_s32(y_lo), vqmovn_s32(y_hi)));
  return vmin_s8(vmax_s8(y, vmin), vmax);
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

static inline void store_f32(float* c, int32x4_t lo, int32x4_t hi, float32x4_t s_lo, float32x4_t s_hi, size_t n) {
  const float32x4_t f_lo = vmulq_f32(vcvtq_f32_s32(lo), s_lo);
  const float32x4_t f_hi = vmulq_f32(vcvtq_f32_s32(hi), s_hi);
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

/* One k (8 weights) for all rows: lane L of HALF (low/high) of the widened A rows. */
#define MLAL(HALF, L)                                                                 \
  do {                                                                                \
    const int16x8_t vb = vmovl_s8(vld1_s8(w));                                        \
    w += NR;                                                                          \
    acc0x0123 = vmlal_lane_s16(acc0x0123, vget_low_s16(vb), vget_##HALF##_s16(va0), L); \
    acc0x4567 = vmlal_lane_s16(acc0x4567, vget_high_s16(vb), vget_##HALF##_s16(va0), L); \
    acc1x0123 = vmlal_lane_s16(acc1x0123, vget_low_s16(vb), vget_##HALF##_s16(va1), L); \
    acc1x4567 = vmlal_lane_s16(acc1x4567, vget_high_s16(vb), vget_##HALF##_s16(va1), L); \
    acc2x0123 = vmlal_lane_s16(acc2x0123, vget_low_s16(vb), vget_##HALF##_s16(va2), L); \
    acc2x4567 = vmlal_lane_s16(acc2x4567, vget_high_s16(vb), vget_##HALF##_s16(va2), L); \
    acc3x0123 = vmlal_lane_s16(acc3x0123, vget_low_s16(vb), vget_##HALF##_s16(va3), L); \
    acc3x4567 = vmlal_lane_s16(acc3x4567, vget_high_s16(vb), vget_##HALF##_s16(va3), L); \
  } while (0)

static inline __attribute__((always_inline)) void gemm_4x8c1(size_t mr, size_t nc, size_t kc, const int8_t* a,
                                                              size_t a_stride, const void* w_packed, int8_t* c,
                                                              float* cf, size_t c_stride,
                                                              const lotr_qs8_requant* requant,
                                                              const float* scale) {
  const size_t block_bytes = NR * sizeof(int32_t) + kc * NR;
  const int8_t* a0 = a;
  const int8_t* a1 = mr > 1 ? a0 + a_stride : a0;
  const int8_t* a2 = mr > 2 ? a1 + a_stride : a1;
  const int8_t* a3 = mr > 3 ? a2 + a_stride : a2;
  const size_t i1 = mr > 1 ? 1 : 0, i2 = mr > 2 ? 2 : i1, i3 = mr > 3 ? 3 : i2;
  const uint8_t* block = w_packed;
  for (size_t n0 = 0; n0 < nc; n0 += NR, block += block_bytes) {
    const int32_t* bias = (const int32_t*)block;
    int32x4_t acc0x0123 = vld1q_s32(bias);
    int32x4_t acc0x4567 = vld1q_s32(bias + 4);
    int32x4_t acc1x0123 = acc0x0123, acc1x4567 = acc0x4567;
    int32x4_t acc2x0123 = acc0x0123, acc2x4567 = acc0x4567;
    int32x4_t acc3x0123 = acc0x0123, acc3x4567 = acc0x4567;
    const int8_t* w = (const int8_t*)(bias + NR);
    const int8_t *pa0 = a0, *pa1 = a1, *pa2 = a2, *pa3 = a3;
    size_t k = kc;
    for (; k >= 8; k -= 8) {
      const int16x8_t va0 = vmovl_s8(vld1_s8(pa0));
      const int16x8_t va1 = vmovl_s8(vld1_s8(pa1));
      const int16x8_t va2 = vmovl_s8(vld1_s8(pa2));
      const int16x8_t va3 = vmovl_s8(vld1_s8(pa3));
      pa0 += 8;
      pa1 += 8;
      pa2 += 8;
      pa3 += 8;
      MLAL(low, 0);
      MLAL(low, 1);
      MLAL(low, 2);
      MLAL(low, 3);
      MLAL(high, 0);
      MLAL(high, 1);
      MLAL(high, 2);
      MLAL(high, 3);
    }
    if (k > 0) { /* 1..7 k left */
      const int16x8_t va0 = vmovl_s8(load_a(pa0, k));
      const int16x8_t va1 = vmovl_s8(load_a(pa1, k));
      const int16x8_t va2 = vmovl_s8(load_a(pa2, k));
      const int16x8_t va3 = vmovl_s8(load_a(pa3, k));
      MLAL(low, 0);
      if (k > 1) MLAL(low, 1);
      if (k > 2) MLAL(low, 2);
      if (k > 3) MLAL(low, 3);
      if (k > 4) MLAL(high, 0);
      if (k > 5) MLAL(high, 1);
      if (k > 6) MLAL(high, 2);
    }

    const size_t n = nc - n0;
    if (cf != NULL) {
      float s[8] = {0};
      memcpy(s, scale + n0, LOTR_MIN(n, (size_t)8) * sizeof(float));
      const float32x4_t s_lo = vld1q_f32(s), s_hi = vld1q_f32(s + 4);
      float* c0 = cf + n0;
      store_f32(c0 + i3 * c_stride, acc3x0123, acc3x4567, s_lo, s_hi, n);
      store_f32(c0 + i2 * c_stride, acc2x0123, acc2x4567, s_lo, s_hi, n);
      store_f32(c0 + i1 * c_stride, acc1x0123, acc1x4567, s_lo, s_hi, n);
      store_f32(c0, acc0x0123, acc0x4567, s_lo, s_hi, n);
    } else {
      const requant8 r = requant8_load(requant->multiplier + n0, requant->shift + n0, n);
      const int32x4_t zp = vdupq_n_s32(requant->output_zero_point);
      const int8x8_t vmin = vdup_n_s8(requant->output_min), vmax = vdup_n_s8(requant->output_max);
      int8_t* c0 = c + n0;
      store_i8(c0 + i3 * c_stride, requant_row(acc3x0123, acc3x4567, &r, zp, vmin, vmax), n);
      store_i8(c0 + i2 * c_stride, requant_row(acc2x0123, acc2x4567, &r, zp, vmin, vmax), n);
      store_i8(c0 + i1 * c_stride, requant_row(acc1x0123, acc1x4567, &r, zp, vmin, vmax), n);
      store_i8(c0, requant_row(acc0x0123, acc0x4567, &r, zp, vmin, vmax), n);
    }
  }
}

void lotr_qs8_gemm_4x8c1__armv7(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride, const void* w,
                                int8_t* c, size_t c_stride, const lotr_qs8_requant* requant) {
  gemm_4x8c1(mr, nc, kc, a, a_stride, w, c, NULL, c_stride, requant, NULL);
}

void lotr_qs8_gemm_f32_4x8c1__armv7(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride,
                                    const void* w, float* c, size_t c_stride, const float* scale) {
  gemm_4x8c1(mr, nc, kc, a, a_stride, w, NULL, c, c_stride, NULL, scale);
}

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif

#endif /* __arm__ */
