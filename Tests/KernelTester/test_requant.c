/* lotr_requant_from_scale and lotr_requantize against a double-precision oracle. */
#include <math.h>

#include "lotr_kernel_tester.h"

void lotr_test_suite_requant(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref) {
  (void)ref;
  if (lotr_kernels_isa(kernels) != LOTR_ISA_REF) return; /* scalar helpers: test once */

  lotr_test_case(t, "scale range");
  int32_t m, s;
  LOTR_EXPECT(t, lotr_requant_from_scale(1.0, &m, &s) != 0, "scale 1.0 must be rejected");
  LOTR_EXPECT(t, lotr_requant_from_scale(0.5, &m, &s) != 0, "scale 0.5 must be rejected");
  LOTR_EXPECT(t, lotr_requant_from_scale(0.4999, &m, &s) == 0 && s == 32, "scale 0.4999 must give shift 32");
  LOTR_EXPECT(t, lotr_requant_from_scale(ldexp(1.0, -33), &m, &s) == 0 && s == 63 && m == (1 << 30),
              "scale 2^-33 must give 2^30 * 2^-63");
  LOTR_EXPECT(t, lotr_requant_from_scale(0.0, &m, &s) != 0, "scale 0 must be rejected");
  LOTR_EXPECT(t, lotr_requant_from_scale(-0.5, &m, &s) != 0, "negative scale must be rejected");
  LOTR_EXPECT(t, lotr_requant_from_scale(NAN, &m, &s) != 0, "NaN scale must be rejected");
  LOTR_EXPECT(t, lotr_requant_from_scale(ldexp(1.0, -40), &m, &s) != 0, "2^-40 must be rejected");
  LOTR_EXPECT(t, lotr_requant_from_scale(0.49999999999, &m, &s) != 0,
              "a scale rounding up to 0.5 must be rejected, not give shift 31");

  lotr_test_case(t, "multiplier and shift reproduce the scale");
  for (int i = 0; i < 2000; i++) {
    const double scale = ldexp(1.0 + lotr_test_float(t, 0.0f, 0.999f), -lotr_test_int(t, 2, 33));
    if (lotr_requant_from_scale(scale, &m, &s) != 0) {
      LOTR_EXPECT(t, 0, "scale %.9g rejected", scale);
      continue;
    }
    LOTR_EXPECT(t, m >= (1 << 30) && s >= 32 && s <= 63, "scale %.9g gave m=%d s=%d", scale, m, s);
    const double back = ldexp((double)m, -s);
    LOTR_EXPECT(t, fabs(back - scale) <= scale * ldexp(1.0, -30), "scale %.9g came back as %.9g", scale, back);
  }

  lotr_test_case(t, "requantize rounds half up and clamps");
  for (int i = 0; i < 20000; i++) {
    const double scale = ldexp(1.0 + lotr_test_float(t, 0.0f, 0.999f), -lotr_test_int(t, 2, 20));
    lotr_requant_from_scale(scale, &m, &s);
    const int32_t acc = i < 10 ? (i & 1 ? INT32_MAX : INT32_MIN) : lotr_test_int(t, -(1 << 24), 1 << 24);
    const int32_t zp = lotr_test_int(t, -128, 127);
    const double exact = (double)acc * ldexp((double)m, -s); /* exact in double for |acc| < 2^24 */
    double expected = floor(exact + 0.5) + zp;
    if (i < 10) expected = floor((long double)acc * m / ldexpl(1.0L, s) + 0.5L) + zp;
    expected = fmin(fmax(expected, -128.0), 127.0);
    const int8_t got = lotr_requantize(acc, m, s, zp, -128, 127);
    LOTR_EXPECT(t, got == (int8_t)expected, "acc=%d m=%d s=%d zp=%d: got %d, expected %.0f", acc, m, s, zp, got,
                expected);
    const int8_t lo = (int8_t)lotr_test_int(t, -128, 0), hi = (int8_t)lotr_test_int(t, 0, 127);
    const int8_t clamped = lotr_requantize(acc, m, s, zp, lo, hi);
    LOTR_EXPECT(t, clamped >= lo && clamped <= hi, "clamp [%d,%d] gave %d", lo, hi, clamped);
  }
}
