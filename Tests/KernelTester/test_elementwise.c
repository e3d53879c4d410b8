/* Residual add, quantize and dequantize on every path against the reference, bit-exactly;
 * the reference against oracles written from the formulas of lotr_kernels.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lotr_kernel_tester.h"

static const size_t big_lengths[] = {1000, 16384, 16385, 3 * 16384 + 77};

/* ------------------------------------------------------------------- add --- */

static int8_t oracle_add(int8_t a, int8_t b, const lotr_qs8_add_params* p) {
  const int64_t acc = (int64_t)(a - p->a_zero_point) * p->a_multiplier + (int64_t)(b - p->b_zero_point) * p->b_multiplier;
  int64_t y = (acc + ((int64_t)1 << (p->shift - 1))) >> p->shift;
  y += p->output_zero_point;
  return (int8_t)(y < p->output_min ? p->output_min : y > p->output_max ? p->output_max : y);
}

static void random_add_params(lotr_test_ctx* t, lotr_qs8_add_params* p, float* scales) {
  const int mode = lotr_test_int(t, 0, 7);
  for (;;) {
    scales[0] = ldexpf(lotr_test_float(t, 1.0f, 2.0f), lotr_test_int(t, -12, -4));
    scales[1] = ldexpf(lotr_test_float(t, 1.0f, 2.0f), lotr_test_int(t, -12, -4));
    scales[2] = ldexpf(lotr_test_float(t, 1.0f, 2.0f), lotr_test_int(t, -10, -5));
    if (mode == 0) scales[0] = scales[2] * 1048575.0f / 1048576.0f * 1048576.0f / 2.0f; /* ratio ~2^19 */
    const int32_t za = mode == 1 ? -128 : mode == 2 ? 127 : lotr_test_int(t, -128, 127);
    const int32_t zb = mode == 1 ? 127 : mode == 2 ? -128 : lotr_test_int(t, -128, 127);
    const int32_t zy = mode == 3 ? -128 : mode == 4 ? 127 : lotr_test_int(t, -128, 127);
    const int8_t lo = mode == 5 ? (int8_t)lotr_test_int(t, -128, 0) : -128;
    const int8_t hi = mode == 6 ? (int8_t)lotr_test_int(t, 0, 127) : 127;
    if (lotr_qs8_add_params_init(scales[0], za, scales[1], zb, scales[2], zy, lo, hi, p) == 0) return;
  }
}

static void check_add(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref, size_t n, int threads) {
  lotr_qs8_add_params p;
  float scales[3];
  random_add_params(t, &p, scales);
  int8_t* a = lotr_test_alloc(n);
  int8_t* b = lotr_test_alloc(n);
  int8_t* expect = lotr_test_alloc(n);
  int8_t* got = lotr_test_alloc(n);
  const int fill = lotr_test_int(t, 0, 4);
  lotr_test_fill_i8(t, a, n, -128, 127);
  lotr_test_fill_i8(t, b, n, -128, 127);
  if (fill == 0) memset(a, -128, n), memset(b, -128, n);
  if (fill == 1) memset(a, 127, n), memset(b, 127, n);
  if (fill == 2) memset(a, 127, n), memset(b, -128, n);
  if (lotr_kernels_isa(kernels) == LOTR_ISA_REF)
    for (size_t i = 0; i < n; i++) expect[i] = oracle_add(a[i], b[i], &p);
  else
    lotr_qs8_add(ref, NULL, n, a, b, expect, &p);
  for (int th = 0; th < threads; th++) {
    memset(got, 0x55, n);
    lotr_qs8_add(kernels, th == 0 ? NULL : t->pools[th], n, a, b, got, &p);
    size_t bad = n;
    for (size_t i = 0; i < n && bad == n; i++)
      if (got[i] != expect[i]) bad = i;
    LOTR_EXPECT(t, bad == n,
                "add n=%zu threads=%d a(zp %d m %d) b(zp %d m %d) shift %d out zp %d [%d,%d]: at %zu a=%d b=%d got %d want %d",
                n, th + 1, p.a_zero_point, p.a_multiplier, p.b_zero_point, p.b_multiplier, p.shift, p.output_zero_point,
                p.output_min, p.output_max, bad, bad < n ? a[bad] : 0, bad < n ? b[bad] : 0, bad < n ? got[bad] : 0,
                bad < n ? expect[bad] : 0);
  }
  /* The parameters realize the real-valued add to within one LSB (before the clamp). */
  if (lotr_kernels_isa(kernels) == LOTR_ISA_REF) {
    for (size_t i = 0; i < n; i++) {
      const double real = ((a[i] - p.a_zero_point) * (double)scales[0] + (b[i] - p.b_zero_point) * (double)scales[1]) /
                              scales[2] + p.output_zero_point;
      const double clamped = fmin(fmax(real, p.output_min), p.output_max);
      /* rounding, plus each multiplier's error of <= 1/2 unit over up to 255 steps */
      const double tol = 0.5 + 255.0 * ldexp(1.0, -p.shift) + 1e-3;
      LOTR_EXPECT(t, fabs(expect[i] - clamped) <= tol, "add n=%zu shift %d at %zu: %d vs real %.4f", n, p.shift, i,
                  expect[i], clamped);
      if (fabs(expect[i] - clamped) > tol) break;
    }
  }
  lotr_test_free(a);
  lotr_test_free(b);
  lotr_test_free(expect);
  lotr_test_free(got);
}

/* -------------------------------------------------------------- quantize --- */

static int8_t oracle_quantize(float x, float inv, int32_t zp) {
  const float v = x * inv;
  if (isnan(v)) return (int8_t)(zp);
  double r;
  if (v >= 1e6f) r = 1e6;
  else if (v <= -1e6f) r = -1e6;
  else {
    r = floor((double)v);
    const double frac = (double)v - r;
    if (frac > 0.5 || (frac == 0.5 && fmod(r, 2.0) != 0.0)) r += 1.0;
  }
  r += zp;
  return (int8_t)(r < -128 ? -128 : r > 127 ? 127 : r);
}

static void fill_quantize_input(lotr_test_ctx* t, float* x, size_t n, float scale) {
  static const float specials[] = {NAN, INFINITY, -INFINITY, 3e38f, -3e38f, 0.0f, -0.0f, 1e-40f, 2147483648.0f, -2147483904.0f};
  for (size_t i = 0; i < n; i++) {
    const int kind = lotr_test_int(t, 0, 9);
    if (kind <= 3) x[i] = ((float)lotr_test_int(t, -300, 300) + 0.5f) * scale; /* ties */
    else if (kind == 4) x[i] = specials[lotr_test_int(t, 0, 9)];
    else x[i] = lotr_test_float(t, -300.0f, 300.0f) * scale;
  }
}

static void check_quantize(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref, size_t n) {
  /* Powers of two keep x * (1/scale) exact, so the ties stay ties; others too. */
  const float scale = lotr_test_int(t, 0, 1) ? ldexpf(1.0f, lotr_test_int(t, -10, 2)) : lotr_test_float(t, 0.001f, 0.5f);
  const int32_t zp = lotr_test_int(t, 0, 3) == 0 ? (lotr_test_int(t, 0, 1) ? -128 : 127) : lotr_test_int(t, -128, 127);
  float* x = lotr_test_alloc(sizeof(float) * n);
  int8_t* expect = lotr_test_alloc(n);
  int8_t* got = lotr_test_alloc(n);
  fill_quantize_input(t, x, n, scale);
  if (lotr_kernels_isa(kernels) == LOTR_ISA_REF) {
    const float inv = 1.0f / scale;
    for (size_t i = 0; i < n; i++) expect[i] = oracle_quantize(x[i], inv, zp);
  } else {
    lotr_qs8_quantize(ref, n, x, expect, scale, zp);
  }
  lotr_qs8_quantize(kernels, n, x, got, scale, zp);
  for (size_t i = 0; i < n; i++)
    if (got[i] != expect[i]) {
      LOTR_EXPECT(t, 0, "quantize n=%zu scale %a zp %d: at %zu x=%a got %d want %d", n, scale, zp, i, x[i], got[i], expect[i]);
      break;
    }
  lotr_test_free(x);
  lotr_test_free(expect);
  lotr_test_free(got);
}

static void check_dequantize(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref, size_t n) {
  const float scale = lotr_test_float(t, 1e-4f, 1.0f);
  const int32_t zp = lotr_test_int(t, 0, 3) == 0 ? (lotr_test_int(t, 0, 1) ? -128 : 127) : lotr_test_int(t, -128, 127);
  int8_t* q = lotr_test_alloc(n);
  float* expect = lotr_test_alloc(sizeof(float) * n);
  float* got = lotr_test_alloc(sizeof(float) * n);
  for (size_t i = 0; i < n; i++) q[i] = (int8_t)(i < 256 ? (int)i - 128 : lotr_test_int(t, -128, 127));
  if (lotr_kernels_isa(kernels) == LOTR_ISA_REF)
    for (size_t i = 0; i < n; i++) expect[i] = (float)((double)(q[i] - zp) * (double)scale); /* exact product, one rounding */
  else
    lotr_qs8_dequantize(ref, n, q, expect, scale, zp);
  lotr_qs8_dequantize(kernels, n, q, got, scale, zp);
  for (size_t i = 0; i < n; i++)
    if (memcmp(&got[i], &expect[i], sizeof(float)) != 0) {
      LOTR_EXPECT(t, 0, "dequantize n=%zu scale %a zp %d: at %zu q=%d got %a want %a", n, scale, zp, i, q[i], got[i], expect[i]);
      break;
    }
  lotr_test_free(q);
  lotr_test_free(expect);
  lotr_test_free(got);
}

void lotr_test_suite_elementwise(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref) {
  if (lotr_kernels_isa(kernels) == LOTR_ISA_REF) {
    lotr_test_case(t, "add params: range checks");
    lotr_qs8_add_params p;
    LOTR_EXPECT(t, lotr_qs8_add_params_init(0.0f, 0, 1.0f, 0, 1.0f, 0, -128, 127, &p) != 0, "zero scale accepted");
    LOTR_EXPECT(t, lotr_qs8_add_params_init(NAN, 0, 1.0f, 0, 1.0f, 0, -128, 127, &p) != 0, "NaN scale accepted");
    LOTR_EXPECT(t, lotr_qs8_add_params_init(1.0f, 0, INFINITY, 0, 1.0f, 0, -128, 127, &p) != 0, "inf scale accepted");
    LOTR_EXPECT(t, lotr_qs8_add_params_init(1048576.0f, 0, 1.0f, 0, 1.0f, 0, -128, 127, &p) != 0, "ratio 2^20 accepted");
    LOTR_EXPECT(t, lotr_qs8_add_params_init(1048575.0f, 0, 1.0f, 0, 1.0f, 0, -128, 127, &p) == 0 && p.shift >= 1,
                "ratio 2^20-1 rejected");
    LOTR_EXPECT(t, lotr_qs8_add_params_init(1e-6f, 0, 1e-6f, 0, 1.0f, 0, -128, 127, &p) == 0 && p.shift == 31,
                "tiny ratios: shift %d", p.shift);
    for (int i = 0; i < 2000; i++) {
      const float sa = ldexpf(lotr_test_float(t, 1.0f, 2.0f), lotr_test_int(t, -30, 10));
      const float sb = ldexpf(lotr_test_float(t, 1.0f, 2.0f), lotr_test_int(t, -30, 10));
      const float sy = ldexpf(lotr_test_float(t, 1.0f, 2.0f), lotr_test_int(t, -12, 0));
      if (lotr_qs8_add_params_init(sa, 0, sb, 0, sy, 0, -128, 127, &p) != 0) {
        LOTR_EXPECT(t, fmax(sa / (double)sy, sb / (double)sy) >= 1048576.0, "scales %g %g %g rejected", sa, sb, sy);
        continue;
      }
      LOTR_EXPECT(t, p.shift >= 1 && p.shift <= 31 && p.a_multiplier >= 0 && p.a_multiplier < (1 << 21) &&
                         p.b_multiplier >= 0 && p.b_multiplier < (1 << 21),
                  "scales %g %g %g: multipliers %d %d shift %d", sa, sb, sy, p.a_multiplier, p.b_multiplier, p.shift);
      const double ra = sa / (double)sy;
      if (p.shift < 31)
        LOTR_EXPECT(t, fabs(ldexp(p.a_multiplier, -p.shift) - ra) <= ldexp(1.0, -p.shift - 1) * 1.0000001,
                    "a ratio %g realized as %d/2^%d", ra, p.a_multiplier, p.shift);
    }
  }

  for (size_t n = 0; n <= 67; n++) {
    lotr_test_case(t, "add n=%zu", n);
    check_add(t, kernels, ref, n, 1);
    lotr_test_case(t, "quantize n=%zu", n);
    check_quantize(t, kernels, ref, n);
    lotr_test_case(t, "dequantize n=%zu", n);
    check_dequantize(t, kernels, ref, n);
  }
  for (size_t i = 0; i < sizeof(big_lengths) / sizeof(big_lengths[0]); i++) {
    const size_t n = big_lengths[i];
    for (int rep = 0; rep < 3; rep++) {
      lotr_test_case(t, "add n=%zu #%d", n, rep);
      check_add(t, kernels, ref, n, LOTR_TEST_MAX_THREADS);
    }
    lotr_test_case(t, "quantize n=%zu", n);
    check_quantize(t, kernels, ref, n);
    lotr_test_case(t, "dequantize n=%zu", n);
    check_dequantize(t, kernels, ref, n);
  }
  /* Quantize: every tie around every output value, for both signs, with zp 0. */
  lotr_test_case(t, "quantize ties");
  {
    const size_t n = 2 * 1024;
    float* x = lotr_test_alloc(sizeof(float) * n);
    int8_t* got = lotr_test_alloc(n);
    for (size_t i = 0; i < n; i++) x[i] = ((float)((int)i - 1024) + 0.5f) * 0.25f; /* scale 0.25: v = k + 0.5 */
    lotr_qs8_quantize(kernels, n, x, got, 0.25f, 0);
    for (size_t i = 0; i < n; i++) {
      const double v = (double)((int)i - 1024) + 0.5;
      double r = nearbyint(v); /* default mode: ties to even */
      r = fmin(fmax(r, -128), 127);
      if (got[i] != (int8_t)r) {
        LOTR_EXPECT(t, 0, "quantize tie %.1f: got %d want %.0f", v, got[i], r);
        break;
      }
    }
    lotr_test_free(x);
    lotr_test_free(got);
  }
}
