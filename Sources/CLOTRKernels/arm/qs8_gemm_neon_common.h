/* Shared by the ARM int8 GEMM micro-kernels (AArch64 2x8c8 neon and 4x8c4 neondot, ARMv7
 * 4x8c1): the A rows and their tail-safe load, the epilogue that requantizes (or scales to
 * float) a 2x8 or 4x8 tile of int32 accumulators and stores it, and the macro that defines
 * a tile's two exported kernels. Static inline only, in its own NEON
 * region (neon_compat.h), so it inlines into the kernels' regions of either arch; include it
 * after <string.h> and "internal.h".
 *
 * Requantization: qs8_requant_neon.h's SQDMULH + SRSHL (the contract's rounding, exactly),
 * then a saturating zero-point add, saturating narrows and the clamp. */
#ifndef LOTR_ARM_QS8_GEMM_NEON_COMMON_H
#define LOTR_ARM_QS8_GEMM_NEON_COMMON_H

#include "neon_compat.h"
#include "qs8_requant_neon.h"

#if defined(LOTR_ARM_NEON)
LOTR_NEON_BEGIN

/* a[0, n) for n in [1, 8], zero-filled: never reads past the row. A partial group is read
 * in 4-, 2- and 1-byte pieces (constant-size copies, which compile to plain loads): a
 * variable-size memcpy would be a library call in the K tail of every tile, around which
 * the compiler spills every accumulator. Lane i is byte i (little-endian, as the ARM Linux
 * ABIs are). */
static inline int8x8_t load_a(const int8_t* a, size_t n) {
  if (n >= 8) return vld1_s8(a);
  uint64_t bytes = 0;
  size_t i = 0;
  if (n & 4) {
    uint32_t piece;
    memcpy(&piece, a, sizeof(piece));
    bytes = piece;
    i = 4;
  }
  if (n & 2) {
    uint16_t piece;
    memcpy(&piece, a + i, sizeof(piece));
    bytes |= (uint64_t)piece << (8 * i);
    i += 2;
  }
  if (n & 1) bytes |= (uint64_t)(uint8_t)a[i] << (8 * i);
  return vcreate_s8(bytes);
}

/* The A rows of a rows-row tile (rows = the kernel's MR): rows past mr repeat the last live
 * row, so they are computed on valid data and stored to that row's place. */
static inline void gemm_a_rows(const int8_t* a, size_t a_stride, size_t mr, size_t rows, const int8_t** row) {
  row[0] = a;
  for (size_t r = 1; r < rows; r++) row[r] = r < mr ? row[r - 1] + a_stride : row[r - 1];
}

/* Per-column constants of the 8 columns of a tile: multiplier and post shift (31 - shift,
 * qs8_requant_neon.h); columns past n are padded. */
typedef struct {
  int32x4_t m_lo, m_hi;
  int32x4_t post_lo, post_hi;
  int32x4_t zp;
  int8x16_t min, max;
} requant8;

static inline requant8 requant8_load(const lotr_qs8_requant* requant, size_t n0, size_t n) {
  requant8 r;
  int32x4_t s_lo, s_hi;
  if (n >= 8) {
    /* A whole tile reads the tables in place: the padded copy below is a variable-size
     * memcpy, a call on every 8-column block, around which every accumulator is spilled. */
    r.m_lo = vld1q_s32(requant->multiplier + n0);
    r.m_hi = vld1q_s32(requant->multiplier + n0 + 4);
    s_lo = vld1q_s32(requant->shift + n0);
    s_hi = vld1q_s32(requant->shift + n0 + 4);
  } else {
    int32_t m[8] = {1 << 30, 1 << 30, 1 << 30, 1 << 30, 1 << 30, 1 << 30, 1 << 30, 1 << 30};
    int32_t s[8] = {32, 32, 32, 32, 32, 32, 32, 32};
    memcpy(m, requant->multiplier + n0, n * sizeof(int32_t));
    memcpy(s, requant->shift + n0, n * sizeof(int32_t));
    r.m_lo = vld1q_s32(m);
    r.m_hi = vld1q_s32(m + 4);
    s_lo = vld1q_s32(s);
    s_hi = vld1q_s32(s + 4);
  }
  r.post_lo = lotr_requant_post_shift(s_lo);
  r.post_hi = lotr_requant_post_shift(s_hi);
  r.zp = vdupq_n_s32(requant->output_zero_point);
  r.min = vdupq_n_s8(requant->output_min);
  r.max = vdupq_n_s8(requant->output_max);
  return r;
}

/* One row's 8 outputs as int16 (zero point added, saturated). */
static inline int16x8_t requant_row(int32x4_t lo, int32x4_t hi, const requant8* r) {
  const int32x4_t y_lo = vqaddq_s32(lotr_requant4(lo, r->m_lo, r->post_lo), r->zp);
  const int32x4_t y_hi = vqaddq_s32(lotr_requant4(hi, r->m_hi, r->post_hi), r->zp);
  return lotr_vqmovn_high_s32(vqmovn_s32(y_lo), y_hi);
}

/* Two rows' 8 outputs as int8, clamped: row a in the low half, row b in the high half. */
static inline int8x16_t requant_2rows(int32x4_t a_lo, int32x4_t a_hi, int32x4_t b_lo, int32x4_t b_hi,
                                      const requant8* r) {
  const int8x16_t y = lotr_vqmovn_high_s16(vqmovn_s16(requant_row(a_lo, a_hi, r)), requant_row(b_lo, b_hi, r));
  return vminq_s8(vmaxq_s8(y, r->min), r->max);
}

/* Tail-safe copies of one row's n outputs (n >= 8: all 8); a partial row in 4-, 2- and
 * 1-byte pieces, as load_a reads them. */
static inline void store_i8(int8_t* c, int8x8_t v, size_t n) {
  if (n >= 8) {
    vst1_s8(c, v);
    return;
  }
  uint64_t bytes = vget_lane_u64(vreinterpret_u64_s8(v), 0);
  size_t i = 0;
  if (n & 4) {
    const uint32_t piece = (uint32_t)bytes;
    memcpy(c, &piece, sizeof(piece));
    bytes >>= 32;
    i = 4;
  }
  if (n & 2) {
    const uint16_t piece = (uint16_t)bytes;
    memcpy(c + i, &piece, sizeof(piece));
    bytes >>= 16;
    i += 2;
  }
  if (n & 1) c[i] = (int8_t)(uint8_t)bytes;
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

/* The epilogue of one rows x 8 tile (rows = the kernel's MR, 2 or 4): rows [0, mr) of A,
 * columns n0 .. n0 + min(n, 8) of C (n >= 1 columns left). accR_lo / accR_hi hold row R,
 * columns 0-3 / 4-7; with rows = 2 the acc2 and acc3 arguments are ignored. Rows past mr
 * hold the last live row's values (the kernels repeat its A) and store to the same place.
 * Writes `cf` (float, times scale[]) when it is not NULL, else `c` (int8 through `requant`). */
static inline __attribute__((always_inline)) void qs8_gemm_neon_store(
    size_t rows, size_t mr, size_t n0, size_t n, int32x4_t acc0_lo, int32x4_t acc0_hi, int32x4_t acc1_lo,
    int32x4_t acc1_hi, int32x4_t acc2_lo, int32x4_t acc2_hi, int32x4_t acc3_lo, int32x4_t acc3_hi, int8_t* c,
    float* cf, size_t c_stride, const lotr_qs8_requant* requant, const float* scale) {
  const size_t i1 = mr > 1 ? 1 : 0, i2 = mr > 2 ? 2 : i1, i3 = mr > 3 ? 3 : i2;
  if (cf != NULL) {
    float32x4_t s_lo, s_hi;
    if (n >= 8) { /* in place, as requant8_load */
      s_lo = vld1q_f32(scale + n0);
      s_hi = vld1q_f32(scale + n0 + 4);
    } else {
      float s[8] = {0};
      memcpy(s, scale + n0, n * sizeof(float));
      s_lo = vld1q_f32(s);
      s_hi = vld1q_f32(s + 4);
    }
    float* c0 = cf + n0;
    if (rows > 2) {
      store_f32(c0 + i3 * c_stride, acc3_lo, acc3_hi, s_lo, s_hi, n);
      store_f32(c0 + i2 * c_stride, acc2_lo, acc2_hi, s_lo, s_hi, n);
    }
    store_f32(c0 + i1 * c_stride, acc1_lo, acc1_hi, s_lo, s_hi, n);
    store_f32(c0, acc0_lo, acc0_hi, s_lo, s_hi, n);
  } else {
    const requant8 r = requant8_load(requant, n0, n);
    int8_t* c0 = c + n0;
    if (rows > 2) {
      const int8x16_t y23 = requant_2rows(acc2_lo, acc2_hi, acc3_lo, acc3_hi, &r);
      store_i8(c0 + i3 * c_stride, vget_high_s8(y23), n);
      store_i8(c0 + i2 * c_stride, vget_low_s8(y23), n);
    }
    const int8x16_t y01 = requant_2rows(acc0_lo, acc0_hi, acc1_lo, acc1_hi, &r);
    store_i8(c0 + i1 * c_stride, vget_high_s8(y01), n);
    store_i8(c0, vget_low_s8(y01), n);
  }
}

LOTR_NEON_END

/* The two exported kernels of a tile (qs8_gemm_config.h): lotr_qs8_gemm_<tile_isa> (int8 out)
 * and lotr_qs8_gemm_f32_<tile_isa>, both through the file's always-inline `body`, which takes
 * (mr, nc, kc, a, a_stride, w, c, cf, c_stride, requant, scale) with one of c / cf NULL. Use
 * inside the file's target region. */
#define LOTR_DEFINE_QS8_GEMM_NEON_UKERNELS(tile_isa, body)                                           \
  void lotr_qs8_gemm_##tile_isa(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride,   \
                                const void* w, int8_t* c, size_t c_stride,                           \
                                const lotr_qs8_requant* requant) {                                   \
    body(mr, nc, kc, a, a_stride, w, c, NULL, c_stride, requant, NULL);                              \
  }                                                                                                  \
  void lotr_qs8_gemm_f32_##tile_isa(size_t mr, size_t nc, size_t kc, const int8_t* a,                \
                                    size_t a_stride, const void* w, float* c, size_t c_stride,       \
                                    const float* scale) {                                            \
    body(mr, nc, kc, a, a_stride, w, NULL, c, c_stride, NULL, scale);                                \
  }
#endif

#endif
