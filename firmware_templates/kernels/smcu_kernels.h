/* sparsemcu int8 kernel library: every operator header. */
#ifndef SMCU_KERNELS_H
#define SMCU_KERNELS_H

#include "smcu_conv2d.h"
#include "smcu_fully_connected.h"

#endif /* SMCU_KERNELS_H */
