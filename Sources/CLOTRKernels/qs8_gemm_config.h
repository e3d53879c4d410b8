/* Int8 GEMM (lotr_qs8_gemm*): the per-ISA micro-kernels and the packed-weight layout.
 *
 * Packed weights, one block per NR output channels (the last block zero-padded to NR):
 *     int32 bias[NR]              bias[n] - a_zero_point * sum_k W[n][k]  (- (a_zero_point
 *                                 + 128) * ... for kernels that read A as uint8 a ^ 0x80)
 *     weights[Kp/KR][NR][KR]      Kp = K rounded up to KR, zero-padded; each element
 *                                 `w_elsize` bytes: int8, or int16 pre-widened (AVX2)
 * so a block is NR*4 + Kp*NR*w_elsize bytes. Weights are in [-127, 127] (the NEON
 * SMULL+SMLAL pair of products must fit in int16); pack assumes it.
 *
 * A micro-kernel computes C[mr][nc] for mr <= MR rows of A and any nc >= 1 columns,
 * walking the NR-blocks of `w` (which points at the block of column 0); requant's
 * multiplier/shift (or `scale`) also point at column 0. It reads exactly K bytes of each
 * A row (never past a row: the last row may end a buffer) and writes only C[mr][nc].
 */
#ifndef LOTR_QS8_GEMM_CONFIG_H
#define LOTR_QS8_GEMM_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "lotr_kernels.h"

typedef void (*lotr_qs8_gemm_pack_fn)(size_t n, size_t k, size_t nr, size_t kr, const int8_t* weights,
                                      const int32_t* bias, int32_t a_zero_point, void* packed);

typedef void (*lotr_qs8_gemm_ukernel_fn)(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride,
                                         const void* w, int8_t* c, size_t c_stride,
                                         const lotr_qs8_requant* requant);

typedef void (*lotr_qs8_gemm_f32_ukernel_fn)(size_t mr, size_t nc, size_t kc, const int8_t* a,
                                             size_t a_stride, const void* w, float* c, size_t c_stride,
                                             const float* scale);

struct lotr_gemm_config {
  uint8_t mr, nr, kr;  /* tile: rows of A, output channels, input channels per packed group */
  uint8_t w_elsize;    /* bytes per packed weight: 1 (int8) or 2 (int16) */
  lotr_qs8_gemm_pack_fn pack;
  lotr_qs8_gemm_ukernel_fn ukernel;
  lotr_qs8_gemm_f32_ukernel_fn ukernel_f32;
};

/* Packing (qs8_gemm.c): int8 elements, or int16 pre-widened. _w8_u8: int8 elements for
 * kernels that feed A to an unsigned-by-signed dot product as a ^ 0x80 = a + 128 (AVX-VNNI),
 * so the folded zero point is a_zero_point + 128. */
void lotr_qs8_gemm_pack_w8(size_t n, size_t k, size_t nr, size_t kr, const int8_t* weights,
                           const int32_t* bias, int32_t a_zero_point, void* packed);
void lotr_qs8_gemm_pack_w8_u8(size_t n, size_t k, size_t nr, size_t kr, const int8_t* weights,
                              const int32_t* bias, int32_t a_zero_point, void* packed);
void lotr_qs8_gemm_pack_w16(size_t n, size_t k, size_t nr, size_t kr, const int8_t* weights,
                            const int32_t* bias, int32_t a_zero_point, void* packed);

/* Micro-kernels: lotr_qs8_gemm_<MR>x<NR>c<KR>__<isa> writes int8, the _f32_ twin float.
 * Each is declared everywhere but defined only on its architecture. */
#define LOTR_DECLARE_QS8_GEMM_UKERNELS(tile_isa)                                                      \
  void lotr_qs8_gemm_##tile_isa(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride,   \
                                const void* w, int8_t* c, size_t c_stride,                           \
                                const lotr_qs8_requant* requant);                                    \
  void lotr_qs8_gemm_f32_##tile_isa(size_t mr, size_t nc, size_t kc, const int8_t* a,                \
                                    size_t a_stride, const void* w, float* c, size_t c_stride,       \
                                    const float* scale);

LOTR_DECLARE_QS8_GEMM_UKERNELS(2x4c2__ref)
LOTR_DECLARE_QS8_GEMM_UKERNELS(2x8c8__neon)
LOTR_DECLARE_QS8_GEMM_UKERNELS(4x8c4__neondot)
LOTR_DECLARE_QS8_GEMM_UKERNELS(4x8c1__armv7)
LOTR_DECLARE_QS8_GEMM_UKERNELS(4x16c2__avx2)
LOTR_DECLARE_QS8_GEMM_UKERNELS(4x16c4__avxvnni)

#endif
