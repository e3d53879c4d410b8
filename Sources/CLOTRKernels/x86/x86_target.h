/* One convention for the x86-64 ISA variants (arm/neon_compat.h states the ARM one):
 *   - A file guards its body with #if defined(__x86_64__), so every file builds on every
 *     host (SwiftPM compiles the whole target for it).
 *   - System headers and internal headers come first (this header brings <immintrin.h>):
 *     clang's attribute push must not reach them.
 *   - The code, static helpers included, sits between LOTR_AVX2_BEGIN and LOTR_AVX2_END
 *     (AVX2 + FMA, Haswell and later) or LOTR_AVXVNNI_BEGIN and LOTR_AVXVNNI_END (adds the
 *     VEX AVX-VNNI dot products, Alder Lake / Zen 5 and later). Only that region is built for
 *     the ISA; dispatch.c calls it only where cpuid reports the ISA (and the OS saves YMM). */
#ifndef LOTR_X86_TARGET_H
#define LOTR_X86_TARGET_H

#include <immintrin.h>

#if defined(__clang__)
#define LOTR_AVX2_BEGIN _Pragma("clang attribute push(__attribute__((target(\"avx2,fma\"))), apply_to = function)")
#define LOTR_AVXVNNI_BEGIN _Pragma("clang attribute push(__attribute__((target(\"avx2,fma,avxvnni\"))), apply_to = function)")
#define LOTR_AVX2_END _Pragma("clang attribute pop")
#else
#define LOTR_AVX2_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma\")")
#define LOTR_AVXVNNI_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma,avxvnni\")")
#define LOTR_AVX2_END _Pragma("GCC pop_options")
#endif
#define LOTR_AVXVNNI_END LOTR_AVX2_END

#endif
