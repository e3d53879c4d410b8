/*
 * lotr_kernels.h — the int8 and float kernels that run LOTR on Raspberry Pi-class CPUs.
 *
 * Conventions (the contract every ISA path implements bit-exactly for integer outputs):
 *   - Layout NHWC; a 1x1 convolution is a GEMM with M = H*W, K = Cin, N = Cout.
 *   - Activations: int8, per-tensor zero point, any value in [-128, 127].
 *   - Weights: int8 symmetric per output channel in [-127, 127] (never -128: the NEON
 *     SMULL+SMLAL pair of products must fit in int16), int32 bias.
 *   - Requantization ("rndnu", integer fixed point, identical on every ISA):
 *         acc  = bias[n] + sum_k (a[m,k] - a_zp) * w[n,k]                       (int32)
 *         y    = (int64(acc) * multiplier[n] + 2^(shift[n]-1)) >> shift[n]      (arithmetic)
 *         out  = clamp(y + out_zp, out_min, out_max)
 *     with multiplier in [2^30, 2^31) and shift in [32, 63], i.e. a real scale in
 *     [2^-33, 0.5). lotr_requant_from_scale() computes the pair. Larger scales are
 *     rejected: the quantizer raises such a layer's output scale (its output then has at
 *     most half the input's resolution per LSB, which int8 outputs never need).
 *   - Every op takes a `const lotr_kernels*` (an ISA path) so tests can run the scalar
 *     reference and an optimized path side by side. Packed weights belong to the path
 *     that packed them.
 *   - Threading: ops split their output over a lotr_threadpool; results do not depend on
 *     the thread count. A NULL pool runs on the calling thread.
 */
#ifndef LOTR_KERNELS_H
#define LOTR_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- ISA paths --- */

typedef enum {
  LOTR_ISA_REF = 0,   /* plain scalar C: the specification, never optimized */
  LOTR_ISA_NEON,      /* AArch64 ARMv8.0 NEON (Cortex-A53/A72: Pi 3, Pi 4) */
  LOTR_ISA_NEONDOT,   /* AArch64 ARMv8.2 SDOT (Cortex-A76: Pi 5) */
  LOTR_ISA_ARMV7,     /* 32-bit ARMv7 NEON (32-bit Raspberry Pi OS) */
  LOTR_ISA_AVX2,      /* x86-64 AVX2 (development machines) */
  LOTR_ISA_AVXVNNI,   /* x86-64 AVX2 + AVX-VNNI (256-bit vpdpbusd: Alder Lake+, Zen 4+); int8 GEMM
                         only, everything else as avx2 */
  LOTR_ISA_COUNT
} lotr_isa;

typedef struct lotr_kernels lotr_kernels;

/* The path for `isa`, or NULL when it is not compiled for this architecture or the CPU
 * lacks it (checked with getauxval(AT_HWCAP) on ARM, cpuid on x86). */
const lotr_kernels* lotr_kernels_for(lotr_isa isa);

/* The path chosen once per process: LOTR_KERNELS=<name> forces one (ref, neon, neondot,
 * armv7, avx2, avxvnni), otherwise the best the CPU supports. Returns NULL and sets *error (a
 * static string) when LOTR_KERNELS names an unknown or unsupported path. */
const lotr_kernels* lotr_kernels_default(const char** error);

lotr_isa lotr_kernels_isa(const lotr_kernels* kernels);
const char* lotr_isa_name(lotr_isa isa);
/* Returns 0 and sets *isa for a known name, -1 otherwise. */
int lotr_isa_from_name(const char* name, lotr_isa* isa);

/* --------------------------------------------------------------- thread pool --- */

typedef struct lotr_threadpool lotr_threadpool;
typedef void (*lotr_task_fn)(void* context, size_t index);

/* A persistent pool of `threads - 1` pthreads plus the calling thread. NULL on failure. */
lotr_threadpool* lotr_threadpool_create(size_t threads);
void lotr_threadpool_destroy(lotr_threadpool* pool);
/* 1 for a NULL pool. */
size_t lotr_threadpool_threads(const lotr_threadpool* pool);
/* Calls task(context, i) exactly once for every i in [0, count), spread over the pool's
 * threads, and returns when all have finished. Not reentrant: one run at a time. */
void lotr_threadpool_run(lotr_threadpool* pool, size_t count, lotr_task_fn task, void* context);

/* ----------------------------------------------------------- requantization --- */

/* Splits a real scale in [2^-33, 0.5) into multiplier in [2^30, 2^31) and shift in
 * [32, 63] (scale ~= multiplier * 2^-shift). Returns 0, or -1 if the scale is out of
 * range or not finite. */
int lotr_requant_from_scale(double scale, int32_t* multiplier, int32_t* shift);

/* The scalar requantization step of the contract above, for tests and odd callers. */
int8_t lotr_requantize(int32_t acc, int32_t multiplier, int32_t shift,
                       int32_t output_zero_point, int8_t output_min, int8_t output_max);

/* Per-output-channel requantization of a GEMM or convolution. */
typedef struct {
  const int32_t* multiplier;  /* [N] */
  const int32_t* shift;       /* [N] */
  int32_t output_zero_point;
  int8_t output_min;          /* ReLU/ReLU6 are folded into the clamp */
  int8_t output_max;
} lotr_qs8_requant;

/* ----------------------------------------------------------------- int8 GEMM --- */
/*
 * C[M][N] = requant(bias[n] + sum_k (A[m][k] - a_zp) * W[n][k])
 *   A: int8 [M][K] rows `a_stride` bytes apart; W: int8 [N][K] row-major, packed once.
 * Packing folds -a_zp * sum_k W[n][k] into the bias, so a_zp is fixed at pack time.
 */
size_t lotr_qs8_gemm_packed_size(const lotr_kernels* kernels, size_t n, size_t k);
void lotr_qs8_gemm_pack(const lotr_kernels* kernels, size_t n, size_t k,
                        const int8_t* weights /* [N][K] */, const int32_t* bias /* [N] or NULL */,
                        int32_t a_zero_point, void* packed /* 64-byte aligned */);

void lotr_qs8_gemm(const lotr_kernels* kernels, lotr_threadpool* pool,
                   size_t m, size_t n, size_t k,
                   const int8_t* a, size_t a_stride, const void* packed,
                   int8_t* c, size_t c_stride, const lotr_qs8_requant* requant);

/* The same GEMM writing float: C[m][n] = (float)acc * scale[n] (one IEEE multiply, so
 * every ISA gives the same bits). For layers followed by float ops (LayerNorm, head). */
void lotr_qs8_gemm_f32(const lotr_kernels* kernels, lotr_threadpool* pool,
                       size_t m, size_t n, size_t k,
                       const int8_t* a, size_t a_stride, const void* packed,
                       float* c, size_t c_stride, const float* scale /* [N] */);

/* Float activations times int8 weights (the attention projections of an int8 model):
 * the rows are quantized as they come, symmetric per row, by lotr_qs8_quantize_rows
 *   row_scale[m] = max_k |x[m][k]| / 127 (1 where that is 0, infinite or NaN),
 *   q[m][k] = lotr_qs8_quantize(x[m][k], row_scale[m], zero point 0),
 * and the GEMM (weights packed with a_zero_point 0 and no bias) writes
 *   C[m][n] = ((float)acc * w_scale[n]) * row_scale[m] + bias[n]
 * with one IEEE multiply, multiply and add in that order: the same bits on every ISA and
 * thread count. bias may be NULL. */
void lotr_qs8_quantize_rows(const lotr_kernels* kernels, size_t m, size_t k, const float* x, size_t x_stride,
                            int8_t* q, size_t q_stride, float* row_scale /* [M] */);
void lotr_qs8_gemm_f32_rows(const lotr_kernels* kernels, lotr_threadpool* pool, size_t m, size_t n, size_t k,
                            const int8_t* a, size_t a_stride, const void* packed, float* c, size_t c_stride,
                            const float* w_scale /* [N] */, const float* row_scale /* [M] */,
                            const float* bias /* [N] or NULL */);

/* ------------------------------------------------------------- convolutions --- */

typedef struct {
  uint32_t input_height, input_width;
  uint32_t input_channels;   /* groups = input_channels for depthwise */
  uint32_t output_channels;  /* = input_channels for depthwise */
  uint32_t kernel_height, kernel_width;
  uint32_t stride_height, stride_width;
  uint32_t pad_top, pad_left, pad_bottom, pad_right;
} lotr_conv_geometry;

/* floor((in + pad_a + pad_b - kernel) / stride) + 1, or 0 if the kernel does not fit. */
uint32_t lotr_conv_output_height(const lotr_conv_geometry* g);
uint32_t lotr_conv_output_width(const lotr_conv_geometry* g);

/*
 * Depthwise 3x3, stride 1 or 2, any padding (padded taps read the input zero point).
 *   input [H][W][C] int8 dense; weights [3][3][C] int8 (HWC, as TFLite); bias [C];
 *   output [OH][OW][C] int8 dense. Packing folds the input zero point into the bias.
 */
size_t lotr_qs8_dwconv3x3_packed_size(const lotr_kernels* kernels, size_t channels);
void lotr_qs8_dwconv3x3_pack(const lotr_kernels* kernels, size_t channels,
                             const int8_t* weights /* [3][3][C] */, const int32_t* bias /* [C] or NULL */,
                             int32_t input_zero_point, void* packed);
void lotr_qs8_dwconv3x3(const lotr_kernels* kernels, lotr_threadpool* pool,
                        const lotr_conv_geometry* g, const int8_t* input, int32_t input_zero_point,
                        const void* packed, int8_t* output, const lotr_qs8_requant* requant);

/*
 * General convolution: im2col (rows of kernel_h*kernel_w*Cin in (kh, kw, c) order,
 * padding = input zero point) + GEMM. Weights are OHWI, i.e. the GEMM's W[N=Cout][K],
 * packed with lotr_qs8_gemm_pack(n = Cout, k = KH*KW*Cin). A 1x1, stride 1, unpadded
 * convolution skips im2col. `scratch` holds lotr_qs8_conv2d_scratch_size() bytes.
 */
size_t lotr_qs8_conv2d_scratch_size(const lotr_conv_geometry* g);
void lotr_qs8_conv2d(const lotr_kernels* kernels, lotr_threadpool* pool,
                     const lotr_conv_geometry* g, const int8_t* input, int32_t input_zero_point,
                     const void* packed_gemm, int8_t* output, const lotr_qs8_requant* requant,
                     void* scratch);

/* -------------------------------------------------------------- elementwise --- */

/*
 * Residual add, all three tensors with their own scale and zero point:
 *   acc = (a - a_zp) * a_multiplier + (b - b_zp) * b_multiplier               (int32)
 *   y   = (int64(acc) + 2^(shift-1)) >> shift;  out = clamp(y + out_zp, min, max)
 * with multipliers in [0, 2^21) and shift in [1, 31] (set by lotr_qs8_add_params_init).
 */
typedef struct {
  int32_t a_zero_point, b_zero_point;
  int32_t a_multiplier, b_multiplier;
  int32_t shift;
  int32_t output_zero_point;
  int8_t output_min, output_max;
} lotr_qs8_add_params;

/* Returns 0, or -1 when a scale ratio is not representable (a_scale/out_scale or
 * b_scale/out_scale >= 2^20, or a scale not positive and finite). */
int lotr_qs8_add_params_init(float a_scale, int32_t a_zero_point, float b_scale, int32_t b_zero_point,
                             float output_scale, int32_t output_zero_point,
                             int8_t output_min, int8_t output_max, lotr_qs8_add_params* params);
void lotr_qs8_add(const lotr_kernels* kernels, lotr_threadpool* pool, size_t n,
                  const int8_t* a, const int8_t* b, int8_t* y, const lotr_qs8_add_params* params);

/* y = clamp(round_half_even(x * (1.0f / scale)) + zero_point, -128, 127). */
void lotr_qs8_quantize(const lotr_kernels* kernels, size_t n, const float* x, int8_t* y,
                       float scale, int32_t zero_point);
/* y = (float)(q - zero_point) * scale. */
void lotr_qs8_dequantize(const lotr_kernels* kernels, size_t n, const int8_t* q, float* y,
                         float scale, int32_t zero_point);

/* ------------------------------------------------------------ float kernels --- */
/* The Transformer's LayerNorm, Softmax and GELU stay float: quantizing them costs
 * accuracy for little time (docs/QUANTIZATION.md). These are tolerance-tested against ref, not bit-exact: reductions may be reordered. In-place
 * (y == x) is allowed. */

/* Each row of `cols`: y = (x - mean) / sqrt(var + eps) * gamma + beta (biased var). */
void lotr_f32_layernorm(const lotr_kernels* kernels, size_t rows, size_t cols, const float* x,
                        const float* gamma, const float* beta, float eps, float* y);
/* Each row: y = exp(x - max) / sum exp(x - max). */
void lotr_f32_softmax(const lotr_kernels* kernels, size_t rows, size_t cols, const float* x, float* y);
/* y = x * 0.5 * (1 + erf(x / sqrt(2))) (PyTorch's exact GELU), to ~1e-6 absolute. */
void lotr_f32_gelu(const lotr_kernels* kernels, size_t n, const float* x, float* y);
void lotr_f32_relu(const lotr_kernels* kernels, size_t n, const float* x, float* y);

/* The core of multi-head attention (the q/k/v/out projections are the caller's GEMMs):
 * for each head h, whose columns are h*head_dim .. (h+1)*head_dim - 1 of q, k, v and y,
 * and each query row i < q_rows:
 *     s[j]    = scale * sum_c q[i][h*head_dim + c] * k[j][h*head_dim + c]     j < kv_rows
 *     p       = softmax(s)                                   (exp(s - max) / sum)
 *     y[i][h*head_dim + c] = sum_j p[j] * v[j][h*head_dim + c]
 * q is [q_rows][>= heads*head_dim] with row stride q_stride (floats), k and v are
 * [kv_rows][...] with kv_stride, y is [q_rows][...] with y_stride. LOTR's shapes: 25-68
 * queries over 25-68 keys, 4 heads of 24 (lotr-s) or 32 (lotr-m) columns; per head the
 * scores, K transposed and the output stay in L1, so no call pays a GEMM's set-up.
 * Heads run as tasks of `pool` (NULL: the calling thread) when the node has at least 2^20
 * MACs; each head's result is the same for every thread count. `scratch` holds lotr_f32_attention_scratch_size() bytes,
 * 64-byte aligned, for any path. Tolerance-tested against ref (Tests/KernelTester/
 * test_attention.c states the bound). y must not overlap q, k or v. */
size_t lotr_f32_attention_scratch_size(size_t kv_rows, size_t head_dim, size_t heads);
void lotr_f32_attention(const lotr_kernels* kernels, lotr_threadpool* pool, size_t q_rows, size_t kv_rows,
                        size_t heads, size_t head_dim, float scale, const float* q, size_t q_stride, const float* k,
                        const float* v, size_t kv_stride, float* y, size_t y_stride, void* scratch);

/* The crop warp (camera pixels to the model input) is in lotr_pixels.h. */

#ifdef __cplusplus
}
#endif
#endif /* LOTR_KERNELS_H */
