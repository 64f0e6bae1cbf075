/* sparsemcu int8 kernel library: every operator header. */
#ifndef SMCU_KERNELS_H
#define SMCU_KERNELS_H

#include "smcu_add.h"
#include "smcu_concatenation.h"
#include "smcu_conv2d.h"
#include "smcu_depthwise_conv2d.h"
#include "smcu_fully_connected.h"
#include "smcu_mean.h"
#include "smcu_pad.h"
#include "smcu_pool2d.h"
#include "smcu_requantize.h"
#include "smcu_softmax.h"

#endif /* SMCU_KERNELS_H */
