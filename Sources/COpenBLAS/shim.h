/* OpenBLAS's CBLAS (Debian: libopenblas-dev), for the float reference path and the
 * benchmark's SGEMM baseline. */
#include <cblas.h>
