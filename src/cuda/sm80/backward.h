// Host entry of the sm80 backward: one instantiation per compiled head dim (see
// cmake/sm80_backward_instance.cu.in), both 16-bit dtypes each.
#pragma once

#include <cuda_runtime.h>

#include "cuda/common/bwd_params.h"
#include "flashattn/dtype.h"

namespace flashattn::sm80 {

template <int HeadDim>
void run_backward(const BackwardParams& params, DType dtype, cudaStream_t stream);

}  // namespace flashattn::sm80
