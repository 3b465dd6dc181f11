// Host-side TMA descriptors: a CUtensorMap for a 16-bit [B, S, H, D] tensor with arbitrary
// (16-byte multiple) strides, boxes of `box_rows` rows by 64 elements (128 bytes, the swizzle
// width) of one head of one batch, 128-byte swizzle, zero fill out of bounds. The driver's
// encoder is reached through the runtime (cudaGetDriverEntryPointByVersion): no -lcuda.
#pragma once

#include <cuda.h>

#include <cstdint>

namespace flashattn {

struct TensorMapShape {
  std::int64_t batch, rows, heads, head_dim;
  std::int64_t batch_stride, row_stride, head_stride;  // in elements
};

// Throws CudaError when the driver rejects the map (alignment, strides, sizes).
CUtensorMap make_tensor_map_16bit(const void* base, const TensorMapShape& shape, int box_rows);

}  // namespace flashattn
