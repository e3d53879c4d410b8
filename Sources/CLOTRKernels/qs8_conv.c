/* Convolutions: output geometry, depthwise 3x3 (packed weights + a per-ISA row kernel),
 * and the general convolution as im2col + lotr_qs8_gemm. Both thread over output rows. */
#include <string.h>

#include "internal.h"

static uint32_t conv_output_size(uint32_t in, uint32_t pad_a, uint32_t pad_b, uint32_t kernel, uint32_t stride) {
  const uint64_t padded = (uint64_t)in + pad_a + pad_b;
  if (kernel == 0 || stride == 0 || padded < kernel) return 0;
  return (uint32_t)((padded - kernel) / stride + 1);
}

uint32_t lotr_conv_output_height(const lotr_conv_geometry* g) {
  return conv_output_size(g->input_height, g->pad_top, g->pad_bottom, g->kernel_height, g->stride_height);
}

uint32_t lotr_conv_output_width(const lotr_conv_geometry* g) {
  return conv_output_size(g->input_width, g->pad_left, g->pad_right, g->kernel_width, g->stride_width);
}

/* ------------------------------------------------------------- depthwise 3x3 --- */

void lotr_dwconv_config_init(struct lotr_dwconv_config* config, lotr_isa isa) {
  config->channel_tile = 1;
  config->block_bytes = LOTR_DWCONV3X3_BLOCK_BYTES_I8(1);
  config->pack = lotr_qs8_dwconv3x3_pack__ref;
  config->row = lotr_qs8_dwconv3x3__ref;
  switch (isa) {
#if defined(__aarch64__)
    case LOTR_ISA_NEON:
    case LOTR_ISA_NEONDOT: /* SDOT needs 4 products per lane; depthwise has 1 per channel */
      config->channel_tile = 16;
      config->block_bytes = LOTR_DWCONV3X3_BLOCK_BYTES_I8(16);
      config->row = lotr_qs8_dwconv3x3_16c__neon;
      break;
#elif defined(__arm__)
    case LOTR_ISA_ARMV7:
      config->channel_tile = 16;
      config->block_bytes = LOTR_DWCONV3X3_BLOCK_BYTES_I8(16);
      config->row = lotr_qs8_dwconv3x3_16c__armv7;
      break;
#elif defined(__x86_64__)
    case LOTR_ISA_AVX2:
    case LOTR_ISA_AVXVNNI: /* VNNI adds nothing to one product per channel */
      config->channel_tile = 16;
      config->block_bytes = LOTR_DWCONV3X3_BLOCK_BYTES_I16X2(16);
      config->pack = lotr_qs8_dwconv3x3_pack_16c__avx2;
      config->row = lotr_qs8_dwconv3x3_16c__avx2;
      break;
#endif
    default:
      break;
  }
}

/* The tail block (qs8_dwconv_config.h): channels C-T .. C-1 packed as one more block. */
static int dwconv_has_tail_block(const struct lotr_dwconv_config* config, size_t channels) {
  const size_t t = config->channel_tile;
  return t > 1 && channels > t && channels % t != 0;
}

static size_t dwconv_blocks_bytes(const struct lotr_dwconv_config* config, size_t channels) {
  return (LOTR_DIV_ROUND_UP(channels, config->channel_tile) + (size_t)dwconv_has_tail_block(config, channels)) *
         config->block_bytes;
}

size_t lotr_qs8_dwconv3x3_packed_size(const lotr_kernels* kernels, size_t channels) {
  const struct lotr_dwconv_config* config = &kernels->dwconv;
  return dwconv_blocks_bytes(config, channels) + LOTR_ROUND_UP(channels, config->channel_tile);
}

void lotr_qs8_dwconv3x3_pack(const lotr_kernels* kernels, size_t channels, const int8_t* weights,
                             const int32_t* bias, int32_t input_zero_point, void* packed) {
  const struct lotr_dwconv_config* config = &kernels->dwconv;
  const size_t t = config->channel_tile;
  config->pack(channels, t, weights, bias, input_zero_point, packed);
  if (dwconv_has_tail_block(config, channels)) {
    int8_t tail_weights[9 * LOTR_DWCONV_MAX_TILE];
    int32_t tail_bias[LOTR_DWCONV_MAX_TILE];
    const size_t c0 = channels - t;
    for (size_t k = 0; k < 9; k++) memcpy(tail_weights + k * t, weights + k * channels + c0, t);
    if (bias != NULL) memcpy(tail_bias, bias + c0, t * sizeof(int32_t));
    config->pack(t, t, tail_weights, bias != NULL ? tail_bias : NULL, input_zero_point,
                 (uint8_t*)packed + LOTR_DIV_ROUND_UP(channels, t) * config->block_bytes);
  }
  memset((uint8_t*)packed + dwconv_blocks_bytes(config, channels), (int8_t)input_zero_point,
         LOTR_ROUND_UP(channels, config->channel_tile));
}

typedef struct {
  const struct lotr_dwconv_config* config;
  const lotr_conv_geometry* g;
  const int8_t* input;
  const void* packed;
  const int8_t* zero;
  int8_t* output;
  const lotr_qs8_requant* requant;
  size_t output_width;
  size_t output_height;
  size_t rows_per_task;
} dwconv_context;

static void dwconv_row(void* context, size_t oy) {
  const dwconv_context* ctx = context;
  const lotr_conv_geometry* g = ctx->g;
  const size_t channels = g->input_channels;
  const int8_t* rows[3];
  for (size_t ky = 0; ky < 3; ky++) {
    const size_t iy = oy * g->stride_height + ky - g->pad_top; /* wraps above the input */
    rows[ky] = iy < g->input_height ? ctx->input + iy * g->input_width * channels : NULL;
  }
  ctx->config->row(channels, ctx->output_width, rows, g->input_width, g->stride_width, g->pad_left, ctx->zero,
                   ctx->packed, ctx->output + oy * ctx->output_width * channels, ctx->requant);
}

/* One pool task: a contiguous band of output rows, so small layers are not drowned in
 * per-task overhead. */
static void dwconv_rows(void* context, size_t task) {
  const dwconv_context* ctx = context;
  const size_t first = task * ctx->rows_per_task;
  const size_t last = LOTR_MIN(first + ctx->rows_per_task, ctx->output_height);
  for (size_t oy = first; oy < last; oy++) dwconv_row(context, oy);
}

/* Below this many MACs a layer runs on the calling thread: waking workers costs more. */
#define DWCONV_PARALLEL_MIN_MACS ((size_t)1 << 19)

/* input_zero_point must be the one given to the pack: the packed bias and zero-point row
 * carry it. */
void lotr_qs8_dwconv3x3(const lotr_kernels* kernels, lotr_threadpool* pool, const lotr_conv_geometry* g,
                        const int8_t* input, int32_t input_zero_point, const void* packed, int8_t* output,
                        const lotr_qs8_requant* requant) {
  (void)input_zero_point;
  if (g->kernel_height != 3 || g->kernel_width != 3 || g->input_channels != g->output_channels) return;
  const uint32_t oh = lotr_conv_output_height(g), ow = lotr_conv_output_width(g);
  if (oh == 0 || ow == 0 || g->input_channels == 0) return;
  const struct lotr_dwconv_config* config = &kernels->dwconv;
  dwconv_context ctx = {
      .config = config,
      .g = g,
      .input = input,
      .packed = packed,
      .zero = (const int8_t*)packed + dwconv_blocks_bytes(config, g->input_channels),
      .output = output,
      .requant = requant,
      .output_width = ow,
      .output_height = oh,
  };
  const size_t macs = (size_t)oh * ow * g->input_channels * 9;
  const size_t threads = macs < DWCONV_PARALLEL_MIN_MACS ? 1 : lotr_threadpool_threads(pool);
  const size_t tasks = LOTR_MIN((size_t)oh, threads == 1 ? 1 : threads * 4);
  ctx.rows_per_task = LOTR_DIV_ROUND_UP(oh, tasks);
  lotr_threadpool_run(threads == 1 ? NULL : pool, LOTR_DIV_ROUND_UP(oh, ctx.rows_per_task), dwconv_rows, &ctx);
}

/* ------------------------------------------------------- general convolution --- */

static int conv_is_gemm(const lotr_conv_geometry* g) {
  return g->kernel_height == 1 && g->kernel_width == 1 && g->stride_height == 1 && g->stride_width == 1 &&
         g->pad_top == 0 && g->pad_left == 0 && g->pad_bottom == 0 && g->pad_right == 0;
}

size_t lotr_qs8_conv2d_scratch_size(const lotr_conv_geometry* g) {
  if (conv_is_gemm(g)) return 0;
  return (size_t)lotr_conv_output_height(g) * lotr_conv_output_width(g) * g->kernel_height * g->kernel_width *
         g->input_channels;
}

typedef struct {
  const lotr_conv_geometry* g;
  const int8_t* input;
  int8_t* columns;   /* [OH*OW][KH*KW*Cin] */
  size_t output_width;
  int8_t zero_point;
} im2col_context;

/* One output row of im2col: each output pixel's receptive field in (kh, kw, c) order. */
static void im2col_row(void* context, size_t oy) {
  const im2col_context* ctx = context;
  const lotr_conv_geometry* g = ctx->g;
  const size_t cin = g->input_channels;
  const size_t k = (size_t)g->kernel_height * g->kernel_width * cin;
  int8_t* col = ctx->columns + oy * ctx->output_width * k;
  for (size_t ox = 0; ox < ctx->output_width; ox++) {
    for (size_t ky = 0; ky < g->kernel_height; ky++) {
      const size_t iy = oy * g->stride_height + ky - g->pad_top;
      for (size_t kx = 0; kx < g->kernel_width; kx++, col += cin) {
        const size_t ix = ox * g->stride_width + kx - g->pad_left;
        if (iy < g->input_height && ix < g->input_width)
          memcpy(col, ctx->input + (iy * g->input_width + ix) * cin, cin);
        else
          memset(col, ctx->zero_point, cin);
      }
    }
  }
}

void lotr_qs8_conv2d(const lotr_kernels* kernels, lotr_threadpool* pool, const lotr_conv_geometry* g,
                     const int8_t* input, int32_t input_zero_point, const void* packed_gemm, int8_t* output,
                     const lotr_qs8_requant* requant, void* scratch) {
  const size_t cout = g->output_channels;
  if (conv_is_gemm(g)) {
    lotr_qs8_gemm(kernels, pool, (size_t)g->input_height * g->input_width, cout, g->input_channels, input,
                  g->input_channels, packed_gemm, output, cout, requant);
    return;
  }
  const uint32_t oh = lotr_conv_output_height(g), ow = lotr_conv_output_width(g);
  if (oh == 0 || ow == 0) return;
  const size_t k = (size_t)g->kernel_height * g->kernel_width * g->input_channels;
  im2col_context ctx = {
      .g = g, .input = input, .columns = scratch, .output_width = ow, .zero_point = (int8_t)input_zero_point};
  lotr_threadpool_run(pool, oh, im2col_row, &ctx);
  lotr_qs8_gemm(kernels, pool, (size_t)oh * ow, cout, k, scratch, k, packed_gemm, output, cout, requant);
}
