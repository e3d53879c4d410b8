/* PLACEHOLDER: replaced by the owner of this concern. */
#ifndef LOTR_VECTOR_CONFIG_H
#define LOTR_VECTOR_CONFIG_H
struct lotr_vector_config {
  int unused;
};
#endif
