/* NEON on both ARM arches, so that one kernel body serves AArch64 (Cortex-A53/A72/A76: Pi 3,
 * 4, 5 under a 64-bit OS) and 32-bit ARMv7 NEON (the Cortex-A7 of the Pi 2, and the later
 * cores under 32-bit Raspberry Pi OS).
 *
 * ISA convention of every file in arm/:
 *   - The file guards its body by arch: `#if defined(__aarch64__)` for AArch64-only kernels,
 *     `#if defined(__arm__)` for ARMv7-only ones, `#if defined(LOTR_ARM_NEON)` (set here) for
 *     one body built for both. Such a body names its exported functions LOTR_NEON_FN(op):
 *     the dispatch names lotr_<op>__neon on AArch64 and lotr_<op>__armv7 on ARMv7.
 *   - System headers, "internal.h" and this header come first, outside any target region
 *     (clang's attribute push must not reach system headers).
 *   - Then the code sits between LOTR_NEON_BEGIN and LOTR_NEON_END (or LOTR_NEONDOT_BEGIN and
 *     LOTR_NEONDOT_END), static helpers included. NEON is the AArch64 baseline, so there
 *     LOTR_NEON_BEGIN is empty. armhf builds default to VFP without NEON: on ARMv7 the region
 *     enables NEON for its functions only, and dispatch calls them only when HWCAP_NEON is
 *     set (clang 21 cannot lower NEON in such a region on 32-bit ARM: ARMv7 builds use GCC,
 *     or clang with -mfpu=neon). LOTR_NEONDOT_BEGIN enables the ARMv8.2 dot product
 *     (AArch64, HWCAP_ASIMDDP).
 *
 * The lotr_v* helpers below are the AArch64 intrinsic of the same name on AArch64. On ARMv7
 * they are built from ARMv7 NEON and return the same bits as the AArch64 instruction, except
 * lotr_vmlaq_f32 and lotr_vdivq_f32 (noted there): only tolerance-tested float kernels use
 * those two. ARMv7 NEON also flushes subnormal inputs and results to zero. */
#ifndef LOTR_ARM_NEON_COMPAT_H
#define LOTR_ARM_NEON_COMPAT_H

#if defined(__aarch64__) || defined(__arm__)
#define LOTR_ARM_NEON 1

#include <arm_neon.h>

#if defined(__aarch64__)
#define LOTR_NEON_FN(op) lotr_##op##__neon
#define LOTR_NEON_BEGIN
#define LOTR_NEON_END
#if defined(__clang__)
#define LOTR_NEONDOT_BEGIN _Pragma("clang attribute push(__attribute__((target(\"dotprod\"))), apply_to = function)")
#define LOTR_NEONDOT_END _Pragma("clang attribute pop")
#else
#define LOTR_NEONDOT_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"arch=armv8.2-a+dotprod\")")
#define LOTR_NEONDOT_END _Pragma("GCC pop_options")
#endif
#else /* __arm__ */
#define LOTR_NEON_FN(op) lotr_##op##__armv7
#if defined(__clang__)
#define LOTR_NEON_BEGIN _Pragma("clang attribute push(__attribute__((target(\"neon\"))), apply_to = function)")
#define LOTR_NEON_END _Pragma("clang attribute pop")
#else
#define LOTR_NEON_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"fpu=neon\")")
#define LOTR_NEON_END _Pragma("GCC pop_options")
#endif
#endif

/* Before a micro-kernel's k loop: keep the compiler from unrolling it. Clang unrolls the
 * 2x8c8 loop twice for -mcpu=cortex-a53 and then spills accumulators inside the loop
 * (docs/PERFORMANCE.md, "ARM on paper"); the loop body is already a whole 16-k step. */
#if defined(__clang__)
#define LOTR_NO_UNROLL _Pragma("clang loop unroll(disable)")
#elif defined(__GNUC__)
#define LOTR_NO_UNROLL _Pragma("GCC unroll 1")
#else
#define LOTR_NO_UNROLL
#endif

LOTR_NEON_BEGIN

#if defined(__aarch64__)

static inline float lotr_vaddvq_f32(float32x4_t v) { return vaddvq_f32(v); }
static inline float lotr_vmaxvq_f32(float32x4_t v) { return vmaxvq_f32(v); }
static inline float32x4_t lotr_vrndnq_f32(float32x4_t v) { return vrndnq_f32(v); }
static inline int32x4_t lotr_vcvtnq_s32_f32(float32x4_t v) { return vcvtnq_s32_f32(v); }
/* acc + a * b with one rounding (FMLA). */
static inline float32x4_t lotr_vmlaq_f32(float32x4_t acc, float32x4_t a, float32x4_t b) { return vfmaq_f32(acc, a, b); }
static inline float32x4_t lotr_vdivq_f32(float32x4_t a, float32x4_t b) { return vdivq_f32(a, b); }
static inline int64x2_t lotr_vmovl_high_s32(int32x4_t a) { return vmovl_high_s32(a); }
static inline int64x2_t lotr_vmull_high_s32(int32x4_t a, int32x4_t b) { return vmull_high_s32(a, b); }
static inline int32x4_t lotr_vuzp1q_s32(int32x4_t a, int32x4_t b) { return vuzp1q_s32(a, b); }
static inline int16x8_t lotr_vqmovn_high_s32(int16x4_t lo, int32x4_t a) { return vqmovn_high_s32(lo, a); }
static inline int8x16_t lotr_vqmovn_high_s16(int8x8_t lo, int16x8_t a) { return vqmovn_high_s16(lo, a); }

#else /* ARMv7 */

/* (v0 + v1) + (v2 + v3): the pairwise order of FADDP, as vaddvq_f32. */
static inline float lotr_vaddvq_f32(float32x4_t v) {
  const float32x2_t s = vpadd_f32(vget_low_f32(v), vget_high_f32(v));
  return vget_lane_f32(vpadd_f32(s, s), 0);
}
static inline float lotr_vmaxvq_f32(float32x4_t v) {
  const float32x2_t m = vpmax_f32(vget_low_f32(v), vget_high_f32(v));
  return vget_lane_f32(vpmax_f32(m, m), 0);
}
/* Round to nearest, ties to even (FRINTN). For |v| < 2^23, |v| + 2^23 lies where floats are
 * the integers, so the add rounds (NEON rounds to nearest even) and subtracting 2^23 is exact;
 * the sign bit is v's (-0.3 gives -0). Larger |v|, infinities and NaN are already integral
 * and pass through. */
static inline float32x4_t lotr_vrndnq_f32(float32x4_t v) {
  const float32x4_t two23 = vdupq_n_f32(8388608.0f);
  const float32x4_t r = vsubq_f32(vaddq_f32(vabsq_f32(v), two23), two23);
  const float32x4_t signed_r = vbslq_f32(vdupq_n_u32(0x80000000u), v, r);
  return vbslq_f32(vcaltq_f32(v, two23), signed_r, v);
}
/* FCVTNS: round to nearest even, then VCVT (exact on integers; saturates; NaN gives 0). */
static inline int32x4_t lotr_vcvtnq_s32_f32(float32x4_t v) { return vcvtq_s32_f32(lotr_vrndnq_f32(v)); }
/* Not FMLA: VMLA rounds the product, then the sum (FMA needs VFPv4, not assumed). */
static inline float32x4_t lotr_vmlaq_f32(float32x4_t acc, float32x4_t a, float32x4_t b) { return vmlaq_f32(acc, a, b); }
/* Not FDIV: reciprocal estimate (8 bits), two Newton-Raphson steps, then one correction of
 * the quotient (q += r * (a - b*q)); a few ulp from the IEEE quotient. */
static inline float32x4_t lotr_vdivq_f32(float32x4_t a, float32x4_t b) {
  float32x4_t r = vrecpeq_f32(b);
  r = vmulq_f32(r, vrecpsq_f32(b, r));
  r = vmulq_f32(r, vrecpsq_f32(b, r));
  const float32x4_t q = vmulq_f32(a, r);
  return vmlaq_f32(q, r, vmlsq_f32(a, b, q));
}
static inline int64x2_t lotr_vmovl_high_s32(int32x4_t a) { return vmovl_s32(vget_high_s32(a)); }
static inline int64x2_t lotr_vmull_high_s32(int32x4_t a, int32x4_t b) {
  return vmull_s32(vget_high_s32(a), vget_high_s32(b));
}
static inline int32x4_t lotr_vuzp1q_s32(int32x4_t a, int32x4_t b) { return vuzpq_s32(a, b).val[0]; }
static inline int16x8_t lotr_vqmovn_high_s32(int16x4_t lo, int32x4_t a) { return vcombine_s16(lo, vqmovn_s32(a)); }
static inline int8x16_t lotr_vqmovn_high_s16(int8x8_t lo, int16x8_t a) { return vcombine_s8(lo, vqmovn_s16(a)); }

#endif

LOTR_NEON_END

#endif /* __aarch64__ || __arm__ */
#endif
