/* PLACEHOLDER: replaced by the owner of this concern. */
#ifndef LOTR_QS8_DWCONV_CONFIG_H
#define LOTR_QS8_DWCONV_CONFIG_H
struct lotr_dwconv_config {
  int unused;
};
#endif
