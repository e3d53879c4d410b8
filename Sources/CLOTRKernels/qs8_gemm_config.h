/* PLACEHOLDER: replaced by the owner of this concern. */
#ifndef LOTR_QS8_GEMM_CONFIG_H
#define LOTR_QS8_GEMM_CONFIG_H
struct lotr_gemm_config {
  int unused;
};
#endif
