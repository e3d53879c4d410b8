/* Int8 GEMM driver, ISA-independent: packing, the per-ISA micro-kernel table, and the
 * split of C into tasks (row panels x column panels) run on a lotr_threadpool. Every
 * output is computed whole by one micro-kernel call, so the bits never depend on the
 * thread count or the split. */
#include <string.h>

#include "internal.h"

/* ------------------------------------------------------------------ config --- */

void lotr_gemm_config_init(struct lotr_gemm_config* config, lotr_isa isa) {
  memset(config, 0, sizeof(*config));
  switch (isa) {
#if defined(__aarch64__)
    case LOTR_ISA_NEON: /* Cortex-A53/A72 */
      *config = (struct lotr_gemm_config){2, 8, 8, 1, lotr_qs8_gemm_pack_w8, lotr_qs8_gemm_2x8c8__neon,
                                          lotr_qs8_gemm_f32_2x8c8__neon};
      return;
    case LOTR_ISA_NEONDOT: /* Cortex-A76 */
      *config = (struct lotr_gemm_config){4, 8, 4, 1, lotr_qs8_gemm_pack_w8, lotr_qs8_gemm_4x8c4__neondot,
                                          lotr_qs8_gemm_f32_4x8c4__neondot};
      return;
#endif
#if defined(__arm__)
    case LOTR_ISA_ARMV7: /* Cortex-A7/A53 in 32-bit mode */
      *config = (struct lotr_gemm_config){4, 8, 1, 1, lotr_qs8_gemm_pack_w8, lotr_qs8_gemm_4x8c1__armv7,
                                          lotr_qs8_gemm_f32_4x8c1__armv7};
      return;
#endif
#if defined(__x86_64__)
    case LOTR_ISA_AVX2:
      *config = (struct lotr_gemm_config){4, 16, 2, 2, lotr_qs8_gemm_pack_w16, lotr_qs8_gemm_4x16c2__avx2,
                                          lotr_qs8_gemm_f32_4x16c2__avx2};
      return;
    case LOTR_ISA_AVXVNNI:
      *config = (struct lotr_gemm_config){4, 16, 4, 1, lotr_qs8_gemm_pack_w8_u8, lotr_qs8_gemm_4x16c4__avxvnni,
                                          lotr_qs8_gemm_f32_4x16c4__avxvnni};
      return;
#endif
    default:
      *config = (struct lotr_gemm_config){2, 4, 2, 1, lotr_qs8_gemm_pack_w8, lotr_qs8_gemm_2x4c2__ref,
                                          lotr_qs8_gemm_f32_2x4c2__ref};
      return;
  }
}

/* ----------------------------------------------------------------- packing --- */

static size_t block_bytes(const struct lotr_gemm_config* cfg, size_t k) {
  return (size_t)cfg->nr * sizeof(int32_t) + LOTR_ROUND_UP(k, cfg->kr) * cfg->nr * cfg->w_elsize;
}

size_t lotr_qs8_gemm_packed_size(const lotr_kernels* kernels, size_t n, size_t k) {
  const struct lotr_gemm_config* cfg = &kernels->gemm;
  return LOTR_DIV_ROUND_UP(n, cfg->nr) * block_bytes(cfg, k);
}

/* Bias with the activation zero point folded in, modulo 2^32 like the accumulator. */
static int32_t folded_bias(const int8_t* row, size_t k, const int32_t* bias, size_t n, int32_t a_zero_point) {
  int64_t sum = 0;
  for (size_t i = 0; i < k; i++) sum += row[i];
  const uint32_t b = bias != NULL ? (uint32_t)bias[n] : 0u;
  return (int32_t)(b - (uint32_t)a_zero_point * (uint32_t)sum);
}

static void pack(size_t n, size_t k, size_t nr, size_t kr, size_t elsize, const int8_t* weights,
                 const int32_t* bias, int32_t a_zero_point, void* packed) {
  const size_t kp = LOTR_ROUND_UP(k, kr);
  uint8_t* out = packed;
  for (size_t n0 = 0; n0 < n; n0 += nr) {
    int32_t* b = (int32_t*)out;
    for (size_t j = 0; j < nr; j++)
      b[j] = n0 + j < n ? folded_bias(weights + (n0 + j) * k, k, bias, n0 + j, a_zero_point) : 0;
    out += nr * sizeof(int32_t);
    for (size_t k0 = 0; k0 < kp; k0 += kr) {
      for (size_t j = 0; j < nr; j++) {
        for (size_t i = 0; i < kr; i++) {
          const int8_t v = n0 + j < n && k0 + i < k ? weights[(n0 + j) * k + k0 + i] : 0;
          if (elsize == 2) {
            const int16_t v16 = v;
            memcpy(out, &v16, sizeof(v16));
          } else {
            *out = (uint8_t)v;
          }
          out += elsize;
        }
      }
    }
  }
}

void lotr_qs8_gemm_pack_w8(size_t n, size_t k, size_t nr, size_t kr, const int8_t* weights,
                           const int32_t* bias, int32_t a_zero_point, void* packed) {
  pack(n, k, nr, kr, 1, weights, bias, a_zero_point, packed);
}

void lotr_qs8_gemm_pack_w8_u8(size_t n, size_t k, size_t nr, size_t kr, const int8_t* weights,
                              const int32_t* bias, int32_t a_zero_point, void* packed) {
  pack(n, k, nr, kr, 1, weights, bias, a_zero_point + 128, packed);
}

void lotr_qs8_gemm_pack_w16(size_t n, size_t k, size_t nr, size_t kr, const int8_t* weights,
                            const int32_t* bias, int32_t a_zero_point, void* packed) {
  pack(n, k, nr, kr, 2, weights, bias, a_zero_point, packed);
}

void lotr_qs8_gemm_pack(const lotr_kernels* kernels, size_t n, size_t k, const int8_t* weights,
                        const int32_t* bias, int32_t a_zero_point, void* packed) {
  const struct lotr_gemm_config* cfg = &kernels->gemm;
  cfg->pack(n, k, cfg->nr, cfg->kr, weights, bias, a_zero_point, packed);
}

/* ------------------------------------------------------------------- split --- */

/* Below this many multiply-adds a GEMM runs on the calling thread: waking the pool costs
 * more than it saves. */
#define PARALLEL_MIN_MACS ((size_t)1 << 20)
/* Tasks per thread: enough for the pool's work-pulling to even out uneven panels. */
#define TASKS_PER_THREAD 6

typedef struct {
  const struct lotr_gemm_config* cfg;
  size_t m, n, k;
  const int8_t* a;
  size_t a_stride;
  const uint8_t* packed;
  size_t block_bytes;
  void* c;
  size_t c_stride;
  const lotr_qs8_requant* requant; /* int8 output */
  const float* scale;              /* float output */
  size_t m_step, n_step;           /* task panel: rows (multiple of MR), columns (multiple of NR) */
  size_t n_tasks;                  /* column panels */
} gemm_context;

static void split(gemm_context* g, lotr_threadpool* pool, size_t* tasks) {
  const struct lotr_gemm_config* cfg = g->cfg;
  const size_t m_tiles = LOTR_DIV_ROUND_UP(g->m, cfg->mr);
  const size_t n_blocks = LOTR_DIV_ROUND_UP(g->n, cfg->nr);
  const size_t threads = lotr_threadpool_threads(pool);
  if (threads <= 1 || g->m * g->n * g->k < PARALLEL_MIN_MACS) {
    g->m_step = m_tiles * cfg->mr;
    g->n_step = n_blocks * cfg->nr;
    g->n_tasks = 1;
    *tasks = 1;
    return;
  }
  const size_t target = threads * TASKS_PER_THREAD;
  /* Prefer row panels (each streams all of W once); split columns only when rows run out. */
  size_t n_split = m_tiles >= target ? 1 : LOTR_MIN(n_blocks, LOTR_DIV_ROUND_UP(target, m_tiles));
  const size_t blocks_per_task = LOTR_DIV_ROUND_UP(n_blocks, n_split);
  n_split = LOTR_DIV_ROUND_UP(n_blocks, blocks_per_task);
  const size_t m_split = LOTR_MIN(m_tiles, LOTR_DIV_ROUND_UP(target, n_split));
  const size_t tiles_per_task = LOTR_DIV_ROUND_UP(m_tiles, m_split);
  g->m_step = tiles_per_task * cfg->mr;
  g->n_step = blocks_per_task * cfg->nr;
  g->n_tasks = n_split;
  *tasks = LOTR_DIV_ROUND_UP(m_tiles, tiles_per_task) * n_split;
}

static void gemm_task(void* context, size_t index, int f32) {
  const gemm_context* g = context;
  const struct lotr_gemm_config* cfg = g->cfg;
  const size_t m0 = (index / g->n_tasks) * g->m_step;
  const size_t n0 = (index % g->n_tasks) * g->n_step;
  const size_t m1 = LOTR_MIN(g->m, m0 + g->m_step);
  const size_t nc = LOTR_MIN(g->n - n0, g->n_step);
  const uint8_t* w = g->packed + (n0 / cfg->nr) * g->block_bytes;
  if (f32) {
    float* c = (float*)g->c + n0;
    for (size_t mm = m0; mm < m1; mm += cfg->mr)
      cfg->ukernel_f32(LOTR_MIN(cfg->mr, m1 - mm), nc, g->k, g->a + mm * g->a_stride, g->a_stride, w,
                       c + mm * g->c_stride, g->c_stride, g->scale + n0);
  } else {
    const lotr_qs8_requant rq = {g->requant->multiplier + n0, g->requant->shift + n0,
                                 g->requant->output_zero_point, g->requant->output_min,
                                 g->requant->output_max};
    int8_t* c = (int8_t*)g->c + n0;
    for (size_t mm = m0; mm < m1; mm += cfg->mr)
      cfg->ukernel(LOTR_MIN(cfg->mr, m1 - mm), nc, g->k, g->a + mm * g->a_stride, g->a_stride, w,
                   c + mm * g->c_stride, g->c_stride, &rq);
  }
}

static void gemm_task_qs8(void* context, size_t index) { gemm_task(context, index, 0); }
static void gemm_task_f32(void* context, size_t index) { gemm_task(context, index, 1); }

static void run(const lotr_kernels* kernels, lotr_threadpool* pool, size_t m, size_t n, size_t k,
                const int8_t* a, size_t a_stride, const void* packed, void* c, size_t c_stride,
                const lotr_qs8_requant* requant, const float* scale, int f32) {
  if (m == 0 || n == 0) return;
  gemm_context g = {
      .cfg = &kernels->gemm, .m = m, .n = n, .k = k, .a = a, .a_stride = a_stride,
      .packed = packed, .block_bytes = block_bytes(&kernels->gemm, k), .c = c, .c_stride = c_stride,
      .requant = requant, .scale = scale,
  };
  size_t tasks;
  split(&g, pool, &tasks);
  lotr_task_fn fn = f32 ? gemm_task_f32 : gemm_task_qs8;
  if (tasks == 1) fn(&g, 0);
  else lotr_threadpool_run(pool, tasks, fn, &g);
}

void lotr_qs8_gemm(const lotr_kernels* kernels, lotr_threadpool* pool, size_t m, size_t n, size_t k,
                   const int8_t* a, size_t a_stride, const void* packed, int8_t* c, size_t c_stride,
                   const lotr_qs8_requant* requant) {
  run(kernels, pool, m, n, k, a, a_stride, packed, c, c_stride, requant, NULL, 0);
}

void lotr_qs8_gemm_f32(const lotr_kernels* kernels, lotr_threadpool* pool, size_t m, size_t n, size_t k,
                       const int8_t* a, size_t a_stride, const void* packed, float* c, size_t c_stride,
                       const float* scale) {
  run(kernels, pool, m, n, k, a, a_stride, packed, c, c_stride, NULL, scale, 1);
}

void lotr_qs8_gemm_f32_rows(const lotr_kernels* kernels, lotr_threadpool* pool, size_t m, size_t n, size_t k,
                            const int8_t* a, size_t a_stride, const void* packed, float* c, size_t c_stride,
                            const float* w_scale, const float* row_scale, const float* bias) {
  run(kernels, pool, m, n, k, a, a_stride, packed, c, c_stride, NULL, w_scale, 1);
  /* [M][N] of at most a few hundred rows: one pass over what the GEMM just wrote (in cache). */
  for (size_t i = 0; i < m; i++) {
    float* row = c + i * c_stride;
    const float s = row_scale[i];
    if (bias != NULL)
      for (size_t j = 0; j < n; j++) row[j] = row[j] * s + bias[j];
    else
      for (size_t j = 0; j < n; j++) row[j] = row[j] * s;
  }
}
