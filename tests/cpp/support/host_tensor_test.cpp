// The test buffers themselves: layouts give the strides they promise, values round-trip, and
// a write into the padding is noticed.
#include <gtest/gtest.h>

#include <vector>

#include "tests/support/host_tensor.h"
#include "tests/support/random.h"

namespace flashattn::testing {
namespace {

std::vector<std::int64_t> strides_of(const HostTensor& tensor) {
  const TensorView& view = tensor.view();
  return {view.strides.begin(), view.strides.begin() + view.rank};
}

TEST(HostTensor, ContiguousIsRowMajor) {
  const HostTensor tensor(DType::float32, {2, 5, 3, 4});
  EXPECT_EQ(strides_of(tensor), (std::vector<std::int64_t>{60, 12, 4, 1}));
}

TEST(HostTensor, TransposedStoresHeadsBeforeSequence) {
  const HostTensor tensor(DType::float16, {2, 5, 3, 4}, {.transposed = true});
  EXPECT_EQ(strides_of(tensor), (std::vector<std::int64_t>{60, 4, 20, 1}));
}

TEST(HostTensor, PaddedLeavesGapsAndKeepsUnitLastStride) {
  const HostTensor tensor(DType::bfloat16, {2, 5, 3, 4}, {.padded = true});
  EXPECT_EQ(strides_of(tensor), (std::vector<std::int64_t>{6 * 4 * 7, 4 * 7, 7, 1}));
  EXPECT_TRUE(tensor.padding_intact());
}

TEST(HostTensor, ValuesRoundTripInLogicalOrder) {
  HostTensor tensor(DType::float32, {2, 3, 2, 5}, {.padded = true, .transposed = true});
  std::vector<double> values(static_cast<std::size_t>(tensor.numel()));
  for (std::size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<double>(i);
  tensor.assign(values);
  EXPECT_EQ(tensor.to_doubles(), values);
  // Element (b=1, s=2, h=0, d=3) sits at its strided offset.
  const TensorView& view = tensor.view();
  const std::int64_t offset = view.stride(0) + 2 * view.stride(1) + 3;
  EXPECT_EQ(load_as_double(view.data, view.dtype, static_cast<std::size_t>(offset)),
            values[((1 * 3 + 2) * 2 + 0) * 5 + 3]);
}

TEST(HostTensor, AssignRoundsToTheDtype) {
  HostTensor tensor(DType::bfloat16, {1, 1, 1, 1});
  tensor.assign(std::vector<double>{1.0 + 1.0 / 1024});
  EXPECT_EQ(tensor.to_doubles()[0], 1.0);  // bfloat16 keeps 8 significant bits
}

TEST(HostTensor, WriteIntoPaddingIsDetected) {
  HostTensor tensor(DType::float32, {1, 2, 2, 3}, {.padded = true});
  Random random(1);
  tensor.fill_normal(random);
  EXPECT_TRUE(tensor.padding_intact());
  store_from_double(tensor.view().data, DType::float32, 3, 0.0);  // first slot after row 0
  EXPECT_FALSE(tensor.padding_intact());
}

}  // namespace
}  // namespace flashattn::testing
