// tensor_map_limits: which tensors the sm90 forward must leave to the sm80 kernels (host only;
// runs without a GPU).
#include <gtest/gtest.h>

#include <cstdint>

#include "cuda/common/tensor_map.h"

namespace flashattn {
namespace {

TensorMapShape contiguous_bshd(std::int64_t batch, std::int64_t rows, std::int64_t heads,
                               std::int64_t head_dim) {
  return {batch, rows, heads, head_dim, rows * heads * head_dim, heads * head_dim, head_dim};
}

TEST(TensorMapLimits, AcceptsContiguousAndPermutedLayouts) {
  EXPECT_EQ(tensor_map_limits(contiguous_bshd(2, 1000, 16, 128)), "");
  // [B, H, S, D] memory seen as [B, S, H, D]: the row stride is smaller than the head stride.
  EXPECT_EQ(tensor_map_limits({2, 1000, 16, 64, 16 * 1000 * 64, 64, 1000 * 64}), "");
}

TEST(TensorMapLimits, NamesBroadcastAndHugeStrides) {
  TensorMapShape broadcast = contiguous_bshd(4, 100, 2, 64);
  broadcast.batch_stride = 0;  // torch's expand() over the batch
  EXPECT_EQ(tensor_map_limits(broadcast), "a stride of 0 elements");
  TensorMapShape huge = contiguous_bshd(2, 100, 2, 64);
  huge.batch_stride = std::int64_t{1} << 39;  // 2^40 bytes
  EXPECT_EQ(tensor_map_limits(huge), "a stride of 2^40 bytes or more");
  EXPECT_EQ(tensor_map_limits(contiguous_bshd(1, std::int64_t{1} << 32, 1, 64)),
            "a dimension of 2^32 or more");
}

}  // namespace
}  // namespace flashattn
