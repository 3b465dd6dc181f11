// Host-side TMA descriptors: a CUtensorMap for a 16-bit [B, S, H, D] tensor with arbitrary
// (16-byte multiple) strides, boxes of `box_rows` rows by 64 elements (128 bytes, the swizzle
// width) of one head of one batch, 128-byte swizzle, zero fill out of bounds. The driver's
// encoder is reached through the runtime (cudaGetDriverEntryPointByVersion): no -lcuda.
#pragma once

#include <cuda.h>

#include <cstdint>
#include <string>

namespace flashattn {

struct TensorMapShape {
  std::int64_t batch, rows, heads, head_dim;
  std::int64_t batch_stride, row_stride, head_stride;  // in elements
};

// Why a tensor map cannot describe this tensor (empty when it can). The API already requires
// 16-byte aligned rows; TMA further needs every stride nonzero (a broadcast dimension has
// stride 0) and below 2^40 bytes, and every size below 2^32.
inline std::string tensor_map_limits(const TensorMapShape& shape) {
  constexpr std::int64_t kStrideLimit = std::int64_t{1} << 40;  // bytes
  constexpr std::int64_t kSizeLimit = std::int64_t{1} << 32;
  const std::int64_t strides[3] = {shape.row_stride, shape.head_stride, shape.batch_stride};
  for (const std::int64_t stride : strides) {
    if (stride <= 0) return "a stride of " + std::to_string(stride) + " elements";
    if (2 * stride >= kStrideLimit) return "a stride of 2^40 bytes or more";
  }
  const std::int64_t sizes[4] = {shape.batch, shape.rows, shape.heads, shape.head_dim};
  for (const std::int64_t size : sizes) {
    if (size >= kSizeLimit) return "a dimension of 2^32 or more";
  }
  return {};
}

// Throws CudaError when the driver rejects the map (alignment, strides, sizes).
CUtensorMap make_tensor_map_16bit(const void* base, const TensorMapShape& shape, int box_rows);

}  // namespace flashattn
