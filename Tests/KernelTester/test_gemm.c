/* Int8 GEMM (lotr_qs8_gemm, lotr_qs8_gemm_f32): every path against the reference, bit for
 * bit, over shapes that cross every tile edge (m up to 2*MR+1, n up to 2*NR+1, k below,
 * at and above the packing group and the kernels' k-blocks), padded strides, extreme zero
 * points and data (A = -128/127, W = +-127), saturating requantization, and 1..4 threads.
 * The reference itself is checked against an oracle computing the contract directly
 * (int64 sum of (a - a_zp) * w, then lotr_requantize). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lotr_kernel_tester.h"

/* The widest tile of any path (MR, NR) and the longest k-block (AVX2 widens A 16 at a
 * time; NEON's SMULL+SMLAL consumes 16), so the sweeps cross every path's edges. */
enum { SWEEP_MR = 4, SWEEP_NR = 16, SWEEP_KB = 16 };

typedef enum { DATA_RANDOM, DATA_EXTREME, DATA_SPARSE } data_kind;
typedef enum { SHIFT_FIT, SHIFT_ANY, SHIFT_MIN, SHIFT_MAX } shift_kind;
typedef enum { BIAS_RANDOM, BIAS_NONE, BIAS_NEAR_MAX, BIAS_NEAR_MIN } bias_kind;

typedef struct {
  size_t m, n, k;
  size_t a_pad, c_pad; /* a_stride = k + a_pad, c_stride = n + c_pad */
  int32_t a_zp, out_zp;
  int8_t out_min, out_max;
  data_kind data;
  shift_kind shift;
  bias_kind bias;
  int all_pools; /* also run on t->pools[0..3] and require identical bits */
} gemm_case;

static const char* data_name(data_kind d) {
  return d == DATA_RANDOM ? "random" : d == DATA_EXTREME ? "extreme" : "sparse";
}

/* One case: packs with both paths, runs both (and the oracle when `kernels` is ref). */
static void check(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref, const gemm_case* g,
                  const char* what) {
  const size_t m = g->m, n = g->n, k = g->k;
  const size_t a_stride = k + g->a_pad, c_stride = n + g->c_pad;
  lotr_test_case(t, "%s: m=%zu n=%zu k=%zu a_stride=%zu c_stride=%zu a_zp=%d out_zp=%d clamp=[%d,%d] data=%s",
                 what, m, n, k, a_stride, c_stride, g->a_zp, g->out_zp, g->out_min, g->out_max,
                 data_name(g->data));
  const int is_ref = lotr_kernels_isa(kernels) == LOTR_ISA_REF;

  /* A and C sized exactly (plain malloc), so a sanitizer sees any read or write past them. */
  const size_t a_bytes = (m - 1) * a_stride + k;
  const size_t c_elems = (m - 1) * c_stride + n;
  int8_t* a = malloc(a_bytes == 0 ? 1 : a_bytes);
  int8_t* w = malloc(n * k == 0 ? 1 : n * k);
  int32_t* bias = malloc(n * sizeof(int32_t));
  int32_t* multiplier = malloc(n * sizeof(int32_t));
  int32_t* shift = malloc(n * sizeof(int32_t));
  float* scale = malloc(n * sizeof(float));
  int8_t* c_ref = malloc(c_elems);
  int8_t* c_out = malloc(c_elems);
  float* f_ref = malloc(c_elems * sizeof(float));
  float* f_out = malloc(c_elems * sizeof(float));
  if (!a || !w || !bias || !multiplier || !shift || !scale || !c_ref || !c_out || !f_ref || !f_out) abort();

  switch (g->data) {
    case DATA_RANDOM:
      lotr_test_fill_i8(t, a, a_bytes, -128, 127);
      lotr_test_fill_i8(t, w, n * k, -127, 127);
      break;
    case DATA_EXTREME: /* every product at its largest magnitude, signs mostly aligned */
      for (size_t i = 0; i < a_bytes; i++) a[i] = lotr_test_int(t, 0, 7) == 0 ? 127 : -128;
      for (size_t i = 0; i < n * k; i++) w[i] = lotr_test_int(t, 0, 7) == 0 ? 127 : -127;
      break;
    case DATA_SPARSE: /* mostly the zero point: small accumulators, rounding ties matter */
      for (size_t i = 0; i < a_bytes; i++)
        a[i] = (int8_t)(lotr_test_int(t, 0, 3) == 0 ? lotr_test_int(t, -128, 127) : g->a_zp);
      for (size_t i = 0; i < n * k; i++) w[i] = (int8_t)(lotr_test_int(t, 0, 3) == 0 ? lotr_test_int(t, -127, 127) : 0);
      break;
  }
  /* Largest |sum_k (a - a_zp) * w|: the bias may go this close to the int32 limits. */
  const int64_t dot_max = (int64_t)255 * 127 * (int64_t)k;
  for (size_t j = 0; j < n; j++) {
    switch (g->bias) {
      case BIAS_RANDOM: bias[j] = lotr_test_int(t, -(1 << 20), 1 << 20); break;
      case BIAS_NONE: bias[j] = 0; break;
      case BIAS_NEAR_MAX: bias[j] = (int32_t)(INT32_MAX - dot_max - lotr_test_int(t, 0, 1000)); break;
      case BIAS_NEAR_MIN: bias[j] = (int32_t)(INT32_MIN + dot_max + lotr_test_int(t, 0, 1000)); break;
    }
    multiplier[j] = lotr_test_int(t, 1 << 30, INT32_MAX);
    if (j == 0) multiplier[j] = 1 << 30;
    if (j == 1) multiplier[j] = INT32_MAX;
    /* SHIFT_FIT: a typical |acc| of ~74*74*sqrt(k) lands near +-64 after scaling. */
    const int fit = 31 + 6 + (int)lrint(0.5 * log2((double)(k == 0 ? 1 : k))) + (g->data == DATA_EXTREME ? 2 : 0);
    switch (g->shift) {
      case SHIFT_FIT: shift[j] = fit + lotr_test_int(t, -2, 2); break;
      case SHIFT_ANY: shift[j] = lotr_test_int(t, 32, 63); break;
      case SHIFT_MIN: shift[j] = 32; break;
      case SHIFT_MAX: shift[j] = 63; break;
    }
    if (shift[j] < 32) shift[j] = 32;
    if (shift[j] > 63) shift[j] = 63;
    scale[j] = ldexpf(lotr_test_float(t, 1.0f, 2.0f), -lotr_test_int(t, 4, 30));
  }
  const lotr_qs8_requant rq = {multiplier, shift, g->out_zp, g->out_min, g->out_max};

  /* Expected: the oracle for ref, the reference path for everything else. */
  const int8_t sentinel = 0x5A;
  const float fsentinel = -1234.5f;
  memset(c_ref, sentinel, c_elems);
  for (size_t i = 0; i < c_elems; i++) f_ref[i] = fsentinel;
  if (is_ref) {
    for (size_t i = 0; i < m; i++) {
      for (size_t j = 0; j < n; j++) {
        int64_t acc = bias[j];
        for (size_t q = 0; q < k; q++) acc += (int64_t)(a[i * a_stride + q] - g->a_zp) * w[j * k + q];
        c_ref[i * c_stride + j] = lotr_requantize((int32_t)acc, multiplier[j], shift[j], g->out_zp, g->out_min,
                                                  g->out_max);
        f_ref[i * c_stride + j] = (float)(int32_t)acc * scale[j];
      }
    }
  } else {
    void* packed_ref = lotr_test_alloc(lotr_qs8_gemm_packed_size(ref, n, k));
    lotr_qs8_gemm_pack(ref, n, k, w, g->bias == BIAS_NONE ? NULL : bias, g->a_zp, packed_ref);
    lotr_qs8_gemm(ref, NULL, m, n, k, a, a_stride, packed_ref, c_ref, c_stride, &rq);
    lotr_qs8_gemm_f32(ref, NULL, m, n, k, a, a_stride, packed_ref, f_ref, c_stride, scale);
    lotr_test_free(packed_ref);
  }

  /* Packed with a guard zone after it: pack must write exactly packed_size bytes. */
  const size_t packed_size = lotr_qs8_gemm_packed_size(kernels, n, k);
  uint8_t* packed = lotr_test_alloc(packed_size + 64);
  memset(packed, 0xA5, packed_size + 64);
  lotr_qs8_gemm_pack(kernels, n, k, w, g->bias == BIAS_NONE ? NULL : bias, g->a_zp, packed);
  int guard_ok = 1;
  for (size_t i = 0; i < 64; i++) guard_ok &= packed[packed_size + i] == 0xA5;
  LOTR_EXPECT(t, guard_ok, "pack wrote past packed_size %zu", packed_size);

  const size_t runs = g->all_pools ? 1 + LOTR_TEST_MAX_THREADS : 1;
  for (size_t r = 0; r < runs; r++) {
    lotr_threadpool* pool = r == 0 ? NULL : t->pools[r - 1];
    const size_t threads = lotr_threadpool_threads(pool);
    memset(c_out, sentinel, c_elems);
    for (size_t i = 0; i < c_elems; i++) f_out[i] = fsentinel;
    lotr_qs8_gemm(kernels, pool, m, n, k, a, a_stride, packed, c_out, c_stride, &rq);
    lotr_qs8_gemm_f32(kernels, pool, m, n, k, a, a_stride, packed, f_out, c_stride, scale);
    size_t bad = 0, fbad = 0;
    for (size_t i = 0; i < m; i++) {
      for (size_t j = 0; j < c_stride && i * c_stride + j < c_elems; j++) {
        const size_t at = i * c_stride + j;
        if (c_out[at] != c_ref[at] && bad++ < 3)
          LOTR_EXPECT(t, 0, "threads=%zu C[%zu][%zu] = %d, expected %d%s", threads, i, j, c_out[at], c_ref[at],
                      j >= n ? " (row padding must stay untouched)" : "");
        if (memcmp(&f_out[at], &f_ref[at], sizeof(float)) != 0 && fbad++ < 3)
          LOTR_EXPECT(t, 0, "threads=%zu f32 C[%zu][%zu] = %.9g, expected %.9g%s", threads, i, j, f_out[at],
                      f_ref[at], j >= n ? " (row padding must stay untouched)" : "");
      }
    }
    LOTR_EXPECT(t, bad == 0, "threads=%zu: %zu int8 outputs differ", threads, bad);
    LOTR_EXPECT(t, fbad == 0, "threads=%zu: %zu f32 outputs differ", threads, fbad);
  }

  lotr_test_free(packed);
  free(a);
  free(w);
  free(bias);
  free(multiplier);
  free(shift);
  free(scale);
  free(c_ref);
  free(c_out);
  free(f_ref);
  free(f_out);
}

static gemm_case plain(size_t m, size_t n, size_t k) {
  return (gemm_case){.m = m, .n = n, .k = k, .a_zp = 3, .out_zp = -5, .out_min = -128, .out_max = 127,
                     .data = DATA_RANDOM, .shift = SHIFT_FIT, .bias = BIAS_RANDOM};
}

/* Float rows quantized per row, times int8 weights (lotr_qs8_quantize_rows +
 * lotr_qs8_gemm_f32_rows, the attention projections): bit-exact against ref on every pool,
 * and, on ref, each q within half a step of x and C equal to the double sum over the q. */
static void check_dynamic_rows(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref, size_t m,
                               size_t n, size_t k, int with_bias) {
  const size_t x_stride = k + (size_t)lotr_test_int(t, 0, 3), c_stride = n + (size_t)lotr_test_int(t, 0, 3);
  float* x = lotr_test_alloc(m * x_stride * sizeof(float));
  lotr_test_fill_f32(t, x, m * x_stride, -3.0f, 3.0f);
  for (size_t j = 0; j < k; j++) x[j] = 0.0f;                                       /* an all-zero row */
  if (m > 1) for (size_t j = 0; j < k; j++) x[x_stride + j] *= 1e-30f;              /* a tiny one */
  if (m > 2) x[2 * x_stride + (size_t)lotr_test_int(t, 0, (int32_t)k - 1)] = 900.0f; /* one outlier */
  int8_t* w = lotr_test_alloc(n * k);
  lotr_test_fill_i8(t, w, n * k, -127, 127);
  float* w_scale = lotr_test_alloc(n * sizeof(float));
  float* bias = lotr_test_alloc(n * sizeof(float));
  lotr_test_fill_f32(t, w_scale, n, 1e-4f, 2e-2f);
  lotr_test_fill_f32(t, bias, n, -1.0f, 1.0f);
  int8_t* q = lotr_test_alloc(m * k), *q_ref = lotr_test_alloc(m * k);
  float* row_scale = lotr_test_alloc(m * sizeof(float)), *row_scale_ref = lotr_test_alloc(m * sizeof(float));
  void* packed = lotr_test_alloc(lotr_qs8_gemm_packed_size(kernels, n, k));
  void* packed_ref = lotr_test_alloc(lotr_qs8_gemm_packed_size(ref, n, k));
  lotr_qs8_gemm_pack(kernels, n, k, w, NULL, 0, packed);
  lotr_qs8_gemm_pack(ref, n, k, w, NULL, 0, packed_ref);
  float* want = lotr_test_alloc(m * c_stride * sizeof(float)), *got = lotr_test_alloc(m * c_stride * sizeof(float));
  const float* b = with_bias ? bias : NULL;

  lotr_test_case(t, "dynamic rows %zux%zux%zu%s", m, n, k, with_bias ? " + bias" : "");
  lotr_qs8_quantize_rows(ref, m, k, x, x_stride, q_ref, k, row_scale_ref);
  lotr_qs8_gemm_f32_rows(ref, NULL, m, n, k, q_ref, k, packed_ref, want, c_stride, w_scale, row_scale_ref, b);
  lotr_qs8_quantize_rows(kernels, m, k, x, x_stride, q, k, row_scale);
  LOTR_EXPECT(t, memcmp(q, q_ref, m * k) == 0 && memcmp(row_scale, row_scale_ref, m * sizeof(float)) == 0,
              "quantized rows differ from ref");
  LOTR_EXPECT(t, row_scale[0] == 1.0f, "all-zero row: scale %g, want 1", row_scale[0]);
  for (int r = 0; r <= 4; r++) {
    lotr_threadpool* pool = r == 0 ? NULL : t->pools[r - 1];
    memset(got, 0, m * c_stride * sizeof(float));
    lotr_qs8_gemm_f32_rows(kernels, pool, m, n, k, q, k, packed, got, c_stride, w_scale, row_scale, b);
    size_t bad = m * c_stride;
    for (size_t i = 0; i < m && bad == m * c_stride; i++)
      for (size_t j = 0; j < n; j++)
        if (memcmp(&got[i * c_stride + j], &want[i * c_stride + j], sizeof(float)) != 0) { bad = i * c_stride + j; break; }
    LOTR_EXPECT(t, bad == m * c_stride, "%d pool threads: C[%zu][%zu] = %.9g, ref %.9g", r, bad / c_stride,
                bad % c_stride, bad < m * c_stride ? got[bad] : 0.0, bad < m * c_stride ? want[bad] : 0.0);
  }
  if (lotr_kernels_isa(kernels) == LOTR_ISA_REF) {
    for (size_t i = 0; i < m; i++) {
      const float s = row_scale[i];
      int top = 0;
      for (size_t j = 0; j < k; j++) top = abs(q[i * k + j]) > top ? abs(q[i * k + j]) : top;
      LOTR_EXPECT(t, i == 0 || top == 127, "row %zu: largest |q| %d, want 127 (the row's max maps to 127)", i, top);
      for (size_t j = 0; j < k; j++) {
        const double err = fabs((double)q[i * k + j] * s - (double)x[i * x_stride + j]);
        LOTR_EXPECT(t, err <= 0.5001 * s, "row %zu col %zu: q %d x scale %g is %g from x %g", i, j, q[i * k + j], s,
                    err, x[i * x_stride + j]);
      }
      for (size_t j = 0; j < n; j++) {
        long acc = 0;
        for (size_t kk = 0; kk < k; kk++) acc += (long)q[i * k + kk] * w[j * k + kk];
        const double oracle = (double)acc * w_scale[j] * s + (b ? b[j] : 0.0);
        const double tol = 1e-6 * (fabs((double)acc * w_scale[j] * s) + fabs(b ? b[j] : 0.0)) + 1e-30;
        LOTR_EXPECT(t, fabs(got[i * c_stride + j] - oracle) <= tol, "C[%zu][%zu] = %.9g, oracle %.9g", i, j,
                    got[i * c_stride + j], oracle);
      }
    }
  }
  lotr_test_free(x); lotr_test_free(w); lotr_test_free(w_scale); lotr_test_free(bias);
  lotr_test_free(q); lotr_test_free(q_ref); lotr_test_free(row_scale); lotr_test_free(row_scale_ref);
  lotr_test_free(packed); lotr_test_free(packed_ref); lotr_test_free(want); lotr_test_free(got);
}

void lotr_test_suite_gemm(lotr_test_ctx* t, const lotr_kernels* kernels, const lotr_kernels* ref) {
  /* The attention projections' shapes (queries/keys x D or 2D/3D x D) and odd ones. */
  static const size_t dyn[][3] = {{25, 384, 128}, {68, 128, 128}, {36, 192, 96}, {68, 256, 128}, {1, 1, 1},
                                  {3, 17, 5},     {9, 33, 31},    {13, 8, 16}};
  for (size_t i = 0; i < sizeof(dyn) / sizeof(dyn[0]); i++)
    check_dynamic_rows(t, kernels, ref, dyn[i][0], dyn[i][1], dyn[i][2], (int)(i % 3 != 2));
  /* k: below, at and above every path's packing group (1, 2, 4, 8) and k-block (8, 16),
   * then multiples and the model's sizes. */
  for (size_t k = 1; k <= 3 * SWEEP_KB + 1; k++) {
    gemm_case g = plain(SWEEP_MR + 1, 2 * SWEEP_NR + 1, k);
    g.a_zp = lotr_test_int(t, -128, 127);
    check(t, kernels, ref, &g, "k sweep");
  }
  /* The same sweep at the ends of the A zero point with A = -128/127 and W = +-127: the
   * AVX-VNNI path reads A as a + 128 (0 and 255) and folds a_zp + 128 into the bias. */
  for (size_t k = 1; k <= 3 * SWEEP_KB + 1; k++) {
    gemm_case g = plain(SWEEP_MR + 1, SWEEP_NR + 5, k);
    g.a_zp = k % 2 ? -128 : 127;
    g.data = DATA_EXTREME;
    g.a_pad = k % 3;
    check(t, kernels, ref, &g, "k sweep, extreme");
  }
  static const size_t big_k[] = {63, 64, 65, 127, 128, 129, 255, 256, 257, 720, 1023, 1025, 2049};
  for (size_t i = 0; i < sizeof(big_k) / sizeof(big_k[0]); i++) {
    gemm_case g = plain(SWEEP_MR + 1, SWEEP_NR + 3, big_k[i]);
    check(t, kernels, ref, &g, "large k");
  }

  /* m and n across the tile edges, k at a few group boundaries. */
  static const size_t tile_k[] = {1, 3, 8, 17, 40};
  for (size_t m = 1; m <= 2 * SWEEP_MR + 1; m++) {
    for (size_t n = 1; n <= 2 * SWEEP_NR + 1; n++) {
      gemm_case g = plain(m, n, tile_k[(m + n) % 5]);
      check(t, kernels, ref, &g, "tile sweep");
    }
  }

  /* Strides: A rows further apart than K (odd), C rows further apart than N. */
  for (int i = 0; i < 12; i++) {
    gemm_case g = plain((size_t)lotr_test_int(t, 1, 13), (size_t)lotr_test_int(t, 1, 40),
                        (size_t)lotr_test_int(t, 1, 70));
    g.a_pad = (size_t)lotr_test_int(t, 1, 9) | 1;
    g.c_pad = (size_t)lotr_test_int(t, 1, 7);
    check(t, kernels, ref, &g, "strides");
  }

  /* The stem's im2col GEMM (K = 27 = 3x3x3) and its neighbours, odd A strides, M across
   * several row tiles: the odd-K tail of the A widening. */
  for (size_t k = 25; k <= 29; k++) {
    for (size_t pad = 0; pad <= 5; pad += 5) {
      gemm_case g = plain(2 * SWEEP_MR + 3, 24, k);
      g.a_pad = pad;
      g.a_zp = lotr_test_int(t, -128, 127);
      check(t, kernels, ref, &g, "stem k");
    }
  }

  /* Zero points at the ends, extreme data, and clamps. */
  static const int32_t zps[] = {-128, 127, 0};
  for (int iz = 0; iz < 3; iz++) {
    for (int oz = 0; oz < 2; oz++) {
      for (int d = 0; d < 3; d++) {
        gemm_case g = plain((size_t)lotr_test_int(t, 1, 9), (size_t)lotr_test_int(t, 1, 35),
                            (size_t)lotr_test_int(t, 1, 300));
        g.a_zp = zps[iz];
        g.out_zp = oz == 0 ? -128 : 127;
        g.data = (data_kind)d;
        g.a_pad = d == 1 ? 3 : 0;
        check(t, kernels, ref, &g, "zero points");
      }
    }
  }
  static const int8_t clamps[][2] = {{-128, 127}, {0, 127}, {0, 6}, {-10, 10}, {-128, -128}, {127, 127}};
  for (size_t i = 0; i < sizeof(clamps) / sizeof(clamps[0]); i++) {
    gemm_case g = plain(7, 21, 37);
    g.out_zp = lotr_test_int(t, -20, 20);
    g.out_min = clamps[i][0];
    g.out_max = clamps[i][1];
    check(t, kernels, ref, &g, "clamp");
  }

  /* Requantization across its range: any shift, the ends (32: scale ~1, saturates;
   * 63: rounds to 0 or +-1), and accumulators near the int32 limits. */
  for (int i = 0; i < 8; i++) {
    gemm_case g = plain(9, 33, (size_t)lotr_test_int(t, 1, 200));
    g.shift = SHIFT_ANY;
    g.data = i % 2 ? DATA_EXTREME : DATA_RANDOM;
    check(t, kernels, ref, &g, "any shift");
  }
  static const shift_kind ends[] = {SHIFT_MIN, SHIFT_MAX};
  static const bias_kind biases[] = {BIAS_NEAR_MAX, BIAS_NEAR_MIN, BIAS_NONE, BIAS_RANDOM};
  for (int s = 0; s < 2; s++) {
    for (int b = 0; b < 4; b++) {
      gemm_case g = plain(5, 19, (size_t)lotr_test_int(t, 1, 24));
      g.shift = ends[s];
      g.bias = biases[b];
      g.out_zp = b % 2 ? -128 : 127;
      g.a_zp = lotr_test_int(t, -128, 127);
      check(t, kernels, ref, &g, "requant ends");
      g.data = DATA_EXTREME;
      check(t, kernels, ref, &g, "requant ends");
    }
  }

  /* Threads: identical bits for 1..4 threads, row panels and column panels. */
  static const size_t threaded[][3] = {{37, 45, 67}, {200, 72, 96}, {5, 300, 200}, {68, 128, 128}, {9, 41, 800}};
  for (size_t i = 0; i < sizeof(threaded) / sizeof(threaded[0]); i++) {
    gemm_case g = plain(threaded[i][0], threaded[i][1], threaded[i][2]);
    g.all_pools = 1;
    g.a_pad = i % 2;
    g.c_pad = i % 3;
    check(t, kernels, ref, &g, "threads");
  }
}
