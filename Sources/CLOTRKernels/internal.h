/* Internal: the per-ISA tables behind `lotr_kernels`. Each concern owns its config
 * struct and the init that fills it for an ISA (falling back to a slower path where an
 * ISA has no variant of its own). dispatch.c decides which ISAs the CPU supports. */
#ifndef LOTR_KERNELS_INTERNAL_H
#define LOTR_KERNELS_INTERNAL_H

#include "lotr_kernels.h"
#include "qs8_gemm_config.h"
#include "qs8_dwconv_config.h"
#include "vector_config.h"

struct lotr_kernels {
  lotr_isa isa;
  struct lotr_gemm_config gemm;
  struct lotr_dwconv_config dwconv;
  struct lotr_vector_config vector;
};

/* Fill the concern's config for `isa`; called only for ISAs this CPU supports. */
void lotr_gemm_config_init(struct lotr_gemm_config* config, lotr_isa isa);
void lotr_dwconv_config_init(struct lotr_dwconv_config* config, lotr_isa isa);
void lotr_vector_config_init(struct lotr_vector_config* config, lotr_isa isa);

#define LOTR_DIV_ROUND_UP(a, b) (((a) + (b) - 1) / (b))
#define LOTR_ROUND_UP(a, b) (LOTR_DIV_ROUND_UP(a, b) * (b))
#define LOTR_MIN(a, b) ((a) < (b) ? (a) : (b))
#define LOTR_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
