// Element offsets into the [B, S, H, D] and [B, H, S] views of a problem.
#pragma once

#include <cstdint>

#include "flashattn/tensor.h"

namespace flashattn {

// Offset (in elements) of row (batch, position, head) of a [B, S, H, D] view.
inline std::int64_t row_offset(const TensorView& view, std::int64_t batch, std::int64_t position,
                               std::int64_t head) {
  return batch * view.stride(0) + position * view.stride(1) + head * view.stride(2);
}

// Offset of element (batch, head, position) of the [B, H, S] LSE view.
inline std::int64_t lse_offset(const TensorView& lse, std::int64_t batch, std::int64_t head,
                               std::int64_t position) {
  return batch * lse.stride(0) + head * lse.stride(1) + position * lse.stride(2);
}

}  // namespace flashattn
