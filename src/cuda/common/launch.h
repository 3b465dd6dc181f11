// What every kernel launch shares: the flat grid over (tiles, batch, heads) and its 2^31 - 1
// limit, the dynamic shared-memory opt-in, the launch check, and the 16-bit element dispatch.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <climits>
#include <string>
#include <utility>

#include "cuda/common/check.h"
#include "flashattn/dtype.h"
#include "flashattn/error.h"

namespace flashattn {

// Blocks of one flat grid dimension (gridDim.y/z would cap batch * heads at 65535), or the tile
// count of a persistent grid (its tile numbers are ints). Beyond the 2^31 - 1 blocks of a
// launch: Unsupported, naming `argument` and what the tiles are.
inline unsigned flat_grid(long long tiles, long long batch, long long heads, const char* argument,
                          const char* tile_name) {
  const long long blocks = tiles * batch * heads;
  if (blocks > INT_MAX) {
    throw Unsupported(std::string(argument) + ": batch * heads * " + tile_name + " = " +
                      std::to_string(blocks) + " exceeds the 2^31 - 1 CUDA blocks of one launch");
  }
  return static_cast<unsigned>(blocks);
}

// Launches `kernel` (nothing for an empty grid), opting in to dynamic shared memory above the
// default 48 KB, and turns a launch error into CudaError naming `what`.
template <typename... Params, typename... Args>
void launch_kernel(void (*kernel)(Params...), unsigned blocks, int threads, int shared_bytes,
                   cudaStream_t stream, const char* what, Args&&... args) {
  if (blocks == 0) return;
  if (shared_bytes > 48 * 1024) {
    check_cuda(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, shared_bytes),
        "cudaFuncSetAttribute");
  }
  kernel<<<blocks, threads, shared_bytes, stream>>>(std::forward<Args>(args)...);
  check_cuda(cudaGetLastError(), what);
}

// body.template operator()<Element>() with the CUDA element type of a 16-bit `dtype`.
template <typename Body>
void with_16bit_element(DType dtype, Body&& body) {
  if (dtype == DType::float16) {
    body.template operator()<__half>();
  } else {
    body.template operator()<__nv_bfloat16>();
  }
}

}  // namespace flashattn
