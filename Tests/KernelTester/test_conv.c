/* Convolutions: output geometry; depthwise 3x3 and conv2d (im2col + GEMM) on every path
 * against the reference, bit-exactly, and the reference against a direct convolution
 * written from the contract's formulas. Thread counts 1..4 must give identical bits. */
#include <stdlib.h>
#include <string.h>

#include "lotr_kernel_tester.h"

typedef struct {
  int32_t in_zp;
  int32_t* mult;
  int32_t* shift;
  lotr_qs8_requant rq;
} requant_set;

static int8_t oracle_requant(int64_t acc, int32_t m, int32_t s, const lotr_qs8_requant* rq) {
  int64_t y = ((acc * m) + ((int64_t)1 << (s - 1))) >> s;
  y += rq->output_zero_point;
  if (y < rq->output_min) y = rq->output_min;
  if (y > rq->output_max) y = rq->output_max;
  return (int8_t)y;
}

/* Direct convolution (groups = 1 or depthwise) from the formulas: padded taps contribute 0. */
static void oracle_conv(const lotr_conv_geometry* g, int depthwise, const int8_t* in, int32_t zp,
                        const int8_t* w /* depthwise [KH][KW][C], else [Cout][KH][KW][Cin] */,
                        const int32_t* bias, const lotr_qs8_requant* rq, int8_t* out) {
  const uint32_t oh = lotr_conv_output_height(g), ow = lotr_conv_output_width(g);
  const size_t cin = g->input_channels, cout = g->output_channels;
  for (size_t oy = 0; oy < oh; oy++)
    for (size_t ox = 0; ox < ow; ox++)
      for (size_t n = 0; n < cout; n++) {
        int64_t acc = bias != NULL ? bias[n] : 0;
        for (size_t ky = 0; ky < g->kernel_height; ky++)
          for (size_t kx = 0; kx < g->kernel_width; kx++) {
            const long iy = (long)(oy * g->stride_height + ky) - (long)g->pad_top;
            const long ix = (long)(ox * g->stride_width + kx) - (long)g->pad_left;
            if (iy < 0 || ix < 0 || iy >= (long)g->input_height || ix >= (long)g->input_width) continue;
            const int8_t* px = in + ((size_t)iy * g->input_width + (size_t)ix) * cin;
            if (depthwise) {
              acc += (int64_t)(px[n] - zp) * w[(ky * 3 + kx) * cout + n];
            } else {
              for (size_t c = 0; c < cin; c++)
                acc += (int64_t)(px[c] - zp) *
                       w[((n * g->kernel_height + ky) * g->kernel_width + kx) * cin + c];
            }
          }
        out[(oy * ow + ox) * cout + n] = oracle_requant(acc, rq->multiplier[n], rq->shift[n], rq);
      }
}

/* Random per-channel requantization; scales chosen so outputs span the int8 range. */
static void random_requant(lotr_test_ctx* t, size_t n, size_t k_taps, requant_set* r) {
  r->mult = malloc(sizeof(int32_t) * (n ? n : 1));
  r->shift = malloc(sizeof(int32_t) * (n ? n : 1));
  for (size_t i = 0; i < n; i++) {
    /* |acc| is up to ~128*127*k; aim for ~100 output LSB at a typical accumulator. */
    const double scale = (double)lotr_test_float(t, 0.3f, 3.0f) / (60.0 * (double)k_taps * 8.0);
    if (lotr_requant_from_scale(scale, &r->mult[i], &r->shift[i]) != 0) abort();
  }
  const int mode = lotr_test_int(t, 0, 5);
  r->rq.multiplier = r->mult;
  r->rq.shift = r->shift;
  r->rq.output_zero_point = mode == 0 ? -128 : mode == 1 ? 127 : lotr_test_int(t, -128, 127);
  r->rq.output_min = mode == 2 ? (int8_t)lotr_test_int(t, -128, 0) : -128;
  r->rq.output_max = mode == 3 ? (int8_t)lotr_test_int(t, 0, 127) : 127;
  if (mode == 4) {  /* ReLU6-like clamp at the zero point */
    r->rq.output_min = (int8_t)r->rq.output_zero_point;
  }
}

static void free_requant(requant_set* r) {
  free(r->mult);
  free(r->shift);
}

static int32_t random_zero_point(lotr_test_ctx* t) {
  const int mode = lotr_test_int(t, 0, 3);
  return mode == 0 ? -128 : mode == 1 ? 127 : lotr_test_int(t, -128, 127);
}

/* Inputs/weights: random, or all at the int16-pair extremes of the NEON kernels. */
static void fill_data(lotr_test_ctx* t, int8_t* in, size_t n_in, int8_t* w, size_t n_w) {
  const int mode = lotr_test_int(t, 0, 7);
  lotr_test_fill_i8(t, in, n_in, -128, 127);
  lotr_test_fill_i8(t, w, n_w, -127, 127);
  if (mode == 0) {
    memset(in, -128, n_in);
    for (size_t i = 0; i < n_w; i++) w[i] = -127;
  } else if (mode == 1) {
    memset(in, -128, n_in);
    for (size_t i = 0; i < n_w; i++) w[i] = 127;
  } else if (mode == 2) {
    memset(in, 127, n_in);
    for (size_t i = 0; i < n_w; i++) w[i] = (i & 1) ? 127 : -127;
  }
}

static int count_diffs(const int8_t* a, const int8_t* b, size_t n, size_t* first) {
  int d = 0;
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i]) {
      if (d == 0) *first = i;
      d++;
    }
  return d;
}

static void check_dwconv(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref,
                         const lotr_conv_geometry* g, int all_threads) {
  const size_t c = g->input_channels;
  const size_t n_in = (size_t)g->input_height * g->input_width * c;
  const uint32_t oh = lotr_conv_output_height(g), ow = lotr_conv_output_width(g);
  const size_t n_out = (size_t)oh * ow * c;
  int8_t* in = lotr_test_alloc(n_in);
  int8_t* w = lotr_test_alloc(9 * c);
  int32_t* bias = lotr_test_alloc(sizeof(int32_t) * c);
  fill_data(t, in, n_in, w, 9 * c);
  for (size_t i = 0; i < c; i++) bias[i] = lotr_test_int(t, -20000, 20000);
  const int32_t zp = random_zero_point(t);
  requant_set r;
  random_requant(t, c, 9, &r);

  void* packed = lotr_test_alloc(lotr_qs8_dwconv3x3_packed_size(kernels, c));
  void* packed_ref = lotr_test_alloc(lotr_qs8_dwconv3x3_packed_size(ref, c));
  lotr_qs8_dwconv3x3_pack(kernels, c, w, bias, zp, packed);
  lotr_qs8_dwconv3x3_pack(ref, c, w, bias, zp, packed_ref);
  int8_t* expect = lotr_test_alloc(n_out);
  int8_t* got = lotr_test_alloc(n_out);
  size_t first = 0;
  if (lotr_kernels_isa(kernels) == LOTR_ISA_REF) {
    oracle_conv(g, 1, in, zp, w, bias, &r.rq, expect);
  } else {
    lotr_qs8_dwconv3x3(ref, NULL, g, in, zp, packed_ref, expect, &r.rq);
  }
  const int pools = all_threads ? LOTR_TEST_MAX_THREADS : 1;
  for (int p = -1; p < pools; p++) {
    memset(got, 0x55, n_out);
    lotr_qs8_dwconv3x3(kernels, p < 0 ? NULL : t->pools[p], g, in, zp, packed, got, &r.rq);
    const int d = count_diffs(got, expect, n_out, &first);
    LOTR_EXPECT(t, d == 0,
                "dwconv %ux%ux%u s%u/%u pad t%u l%u b%u r%u zp %d out_zp %d [%d,%d] threads %d: %d of %zu differ, "
                "first at [%zu][%zu][%zu] got %d want %d",
                g->input_height, g->input_width, g->input_channels, g->stride_height, g->stride_width, g->pad_top,
                g->pad_left, g->pad_bottom, g->pad_right, zp, r.rq.output_zero_point, r.rq.output_min,
                r.rq.output_max, p < 0 ? 0 : p + 1, d, n_out, first / c / ow, first / c % ow, first % c,
                d ? got[first] : 0, d ? expect[first] : 0);
    if (d) break;
  }
  free_requant(&r);
  lotr_test_free(in);
  lotr_test_free(w);
  lotr_test_free(bias);
  lotr_test_free(packed);
  lotr_test_free(packed_ref);
  lotr_test_free(expect);
  lotr_test_free(got);
}

static lotr_conv_geometry geometry(uint32_t h, uint32_t w, uint32_t cin, uint32_t cout, uint32_t k, uint32_t s,
                                   uint32_t pt, uint32_t pl, uint32_t pb, uint32_t pr) {
  lotr_conv_geometry g = {h, w, cin, cout, k, k, s, s, pt, pl, pb, pr};
  return g;
}

static void check_conv2d(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_conv_geometry* g) {
  const size_t cin = g->input_channels, cout = g->output_channels;
  const size_t k = (size_t)g->kernel_height * g->kernel_width * cin;
  const size_t n_in = (size_t)g->input_height * g->input_width * cin;
  const size_t n_out = (size_t)lotr_conv_output_height(g) * lotr_conv_output_width(g) * cout;
  int8_t* in = lotr_test_alloc(n_in);
  int8_t* w = lotr_test_alloc(cout * k);
  int32_t* bias = lotr_test_alloc(sizeof(int32_t) * cout);
  fill_data(t, in, n_in, w, cout * k);
  for (size_t i = 0; i < cout; i++) bias[i] = lotr_test_int(t, -20000, 20000);
  const int32_t zp = random_zero_point(t);
  requant_set r;
  random_requant(t, cout, k, &r);
  void* packed = lotr_test_alloc(lotr_qs8_gemm_packed_size(kernels, cout, k));
  lotr_qs8_gemm_pack(kernels, cout, k, w, bias, zp, packed);
  void* scratch = lotr_test_alloc(lotr_qs8_conv2d_scratch_size(g));
  int8_t* expect = lotr_test_alloc(n_out);
  int8_t* got = lotr_test_alloc(n_out);
  oracle_conv(g, 0, in, zp, w, bias, &r.rq, expect);
  size_t first = 0;
  for (int p = -1; p < LOTR_TEST_MAX_THREADS; p++) {
    memset(got, 0x55, n_out);
    lotr_qs8_conv2d(kernels, p < 0 ? NULL : t->pools[p], g, in, zp, packed, got, &r.rq, scratch);
    const int d = count_diffs(got, expect, n_out, &first);
    LOTR_EXPECT(t, d == 0,
                "conv2d %ux%ux%u -> %u, %ux%u s%u pad t%u l%u b%u r%u zp %d threads %d: %d of %zu differ, first at %zu "
                "got %d want %d",
                g->input_height, g->input_width, g->input_channels, g->output_channels, g->kernel_height,
                g->kernel_width, g->stride_height, g->pad_top, g->pad_left, g->pad_bottom, g->pad_right, zp,
                p < 0 ? 0 : p + 1, d, n_out, first, d ? got[first] : 0, d ? expect[first] : 0);
    if (d) break;
  }
  free_requant(&r);
  lotr_test_free(in);
  lotr_test_free(w);
  lotr_test_free(bias);
  lotr_test_free(packed);
  lotr_test_free(scratch);
  lotr_test_free(expect);
  lotr_test_free(got);
}

void lotr_test_suite_conv(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref) {
  if (lotr_kernels_isa(kernels) == LOTR_ISA_REF) {
    lotr_test_case(t, "output geometry");
    lotr_conv_geometry g = geometry(96, 95, 1, 1, 3, 2, 0, 0, 1, 1);
    LOTR_EXPECT(t, lotr_conv_output_height(&g) == 48 && lotr_conv_output_width(&g) == 47, "96x95 k3 s2 pad 0/1: %ux%u",
                lotr_conv_output_height(&g), lotr_conv_output_width(&g));
    g = geometry(2, 2, 1, 1, 3, 1, 0, 0, 0, 0);
    LOTR_EXPECT(t, lotr_conv_output_height(&g) == 0, "kernel larger than input must give 0");
    g = geometry(1, 1, 1, 1, 3, 2, 1, 1, 1, 1);
    LOTR_EXPECT(t, lotr_conv_output_height(&g) == 1, "1x1 k3 pad 1: %u", lotr_conv_output_height(&g));
    g = geometry(7, 7, 1, 1, 3, 0, 0, 0, 0, 0);
    LOTR_EXPECT(t, lotr_conv_output_height(&g) == 0, "stride 0 must give 0");
  }

  /* Every channel count across two tiles and a half (tile <= 16): below one tile (the
   * bounce-buffer tail), whole tiles, and every remainder after them (the overlapping tail
   * block), small random shapes. */
  for (uint32_t c = 1; c <= 40; c++) {
    for (int rep = 0; rep < 4; rep++) {
      const uint32_t s = (uint32_t)lotr_test_int(t, 1, 2);
      lotr_conv_geometry g = geometry((uint32_t)lotr_test_int(t, 1, 9), (uint32_t)lotr_test_int(t, 1, 9), c, c, 3, s,
                                      (uint32_t)lotr_test_int(t, 0, 1), (uint32_t)lotr_test_int(t, 0, 1),
                                      (uint32_t)lotr_test_int(t, 0, 1), (uint32_t)lotr_test_int(t, 0, 1));
      if (lotr_conv_output_height(&g) == 0 || lotr_conv_output_width(&g) == 0) continue;
      lotr_test_case(t, "dwconv channels=%u %ux%u s%u", c, g.input_height, g.input_width, s);
      check_dwconv(t, kernels, ref, &g, rep == 0);
    }
  }
  /* Every size 1..9 with stride 1/2 and the three padding modes (valid, symmetric 1,
   * TF SAME at stride 2 = pad bottom/right only). */
  static const uint32_t pads[3][4] = {{0, 0, 0, 0}, {1, 1, 1, 1}, {0, 0, 1, 1}};
  static const uint32_t chans[] = {1, 7, 16, 17, 24, 40};
  for (uint32_t h = 1; h <= 9; h++)
    for (uint32_t w = 1; w <= 9; w++)
      for (uint32_t s = 1; s <= 2; s++)
        for (int p = 0; p < 3; p++) {
          const uint32_t c = chans[lotr_test_int(t, 0, 5)];
          lotr_conv_geometry g = geometry(h, w, c, c, 3, s, pads[p][0], pads[p][1], pads[p][2], pads[p][3]);
          if (lotr_conv_output_height(&g) == 0 || lotr_conv_output_width(&g) == 0) continue;
          lotr_test_case(t, "dwconv %ux%ux%u s%u pad %u/%u", h, w, c, s, pads[p][0], pads[p][2]);
          check_dwconv(t, kernels, ref, &g, 0);
        }
  /* Realistic layers, all thread counts. */
  static const uint32_t real[][5] = {{96, 96, 16, 2, 2}, {48, 48, 144, 2, 2}, {24, 24, 96, 1, 1}, {12, 12, 200, 1, 1},
                                     {96, 96, 24, 1, 1},  {17, 13, 40, 1, 1},  {9, 11, 57, 2, 2}};
  for (size_t i = 0; i < sizeof(real) / sizeof(real[0]); i++) {
    const uint32_t pt = real[i][4] == 1 ? 1 : 0, pb = 1;
    lotr_conv_geometry g = geometry(real[i][0], real[i][1], real[i][2], real[i][2], 3, real[i][3], pt, pt, pb, pb);
    lotr_test_case(t, "dwconv %ux%ux%u s%u", real[i][0], real[i][1], real[i][2], real[i][3]);
    check_dwconv(t, kernels, ref, &g, 1);
  }

  /* conv2d: the stem (3x3 s2, Cin 3, TF SAME), 3x3 s1 pad 1, and the 1x1 paths. */
  static const uint32_t convs[][10] = {
      /* h, w, cin, cout, k, s, pt, pl, pb, pr */
      {32, 32, 3, 16, 3, 2, 0, 0, 1, 1}, {17, 19, 3, 24, 3, 2, 0, 0, 1, 1}, {9, 7, 8, 5, 3, 1, 1, 1, 1, 1},
      {11, 13, 24, 40, 1, 1, 0, 0, 0, 0}, {11, 13, 24, 40, 1, 2, 0, 0, 0, 0}, {6, 5, 7, 9, 1, 1, 1, 0, 0, 1},
      {1, 1, 5, 3, 3, 1, 1, 1, 1, 1}, {8, 8, 16, 33, 2, 2, 0, 0, 0, 0},
  };
  for (size_t i = 0; i < sizeof(convs) / sizeof(convs[0]); i++) {
    const uint32_t* v = convs[i];
    lotr_conv_geometry g = geometry(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]);
    lotr_test_case(t, "conv2d %ux%ux%u->%u k%u s%u", v[0], v[1], v[2], v[3], v[4], v[5]);
    check_conv2d(t, kernels, &g);
  }
}
