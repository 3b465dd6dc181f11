#include "tests/support/host_tensor.h"

#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <utility>

#include "tests/support/random.h"

namespace flashattn::testing {
namespace {

// Unused slots appended to each padded dimension: an odd count for the rows, so padded rows
// are not aligned to any vector width.
constexpr std::int64_t kRowPadding = 3;
constexpr std::int64_t kOuterPadding = 1;

}  // namespace

Layout Layout::random(Random& random) {
  Layout layout;
  layout.padded = random.chance(0.5);
  layout.transposed = random.chance(0.5);
  return layout;
}

std::string Layout::describe() const {
  if (!padded && !transposed) return "contiguous";
  if (padded && transposed) return "padded+transposed";
  return padded ? "padded" : "transposed";
}

HostTensor::HostTensor(DType dtype, std::vector<std::int64_t> shape, Layout layout)
    : shape_(std::move(shape)), layout_(layout) {
  const auto rank = static_cast<int>(shape_.size());
  if (rank < 1 || rank > TensorView::kMaxRank) throw std::invalid_argument("HostTensor rank");

  // memory_order[m] = logical dimension stored at memory position m (last = fastest).
  std::vector<int> memory_order(static_cast<std::size_t>(rank));
  std::iota(memory_order.begin(), memory_order.end(), 0);
  if (layout.transposed && rank >= 3) {
    std::swap(memory_order[static_cast<std::size_t>(rank - 3)],
              memory_order[static_cast<std::size_t>(rank - 2)]);
  }

  view_.dtype = dtype;
  view_.rank = rank;
  std::int64_t stride = 1;
  for (int position = rank - 1; position >= 0; --position) {
    const auto dim = static_cast<std::size_t>(memory_order[static_cast<std::size_t>(position)]);
    view_.shape[dim] = shape_[dim];
    view_.strides[dim] = stride;
    std::int64_t padding = 0;
    if (layout.padded && position > 0) {
      padding = position == rank - 1 ? kRowPadding : kOuterPadding;
    }
    stride *= shape_[dim] + padding;
  }
  const std::int64_t slots = stride;
  storage_.resize(static_cast<std::size_t>(slots) * dtype_size(dtype));
  view_.data = storage_.data();

  const std::int64_t count =
      std::accumulate(shape_.begin(), shape_.end(), std::int64_t{1}, std::multiplies<>());
  offsets_.reserve(static_cast<std::size_t>(count));
  std::vector<std::int64_t> index(static_cast<std::size_t>(rank), 0);
  for (std::int64_t element = 0; element < count; ++element) {
    std::int64_t offset = 0;
    for (int dim = 0; dim < rank; ++dim) {
      offset += index[static_cast<std::size_t>(dim)] * view_.stride(dim);
    }
    offsets_.push_back(offset);
    // Advance the row-major index.
    for (int dim = rank - 1; dim >= 0; --dim) {
      auto& digit = index[static_cast<std::size_t>(dim)];
      if (++digit < shape_[static_cast<std::size_t>(dim)]) break;
      digit = 0;
    }
  }
  fill_nan();
}

std::vector<double> HostTensor::to_doubles() const {
  std::vector<double> values;
  values.reserve(offsets_.size());
  for (std::int64_t offset : offsets_) {
    values.push_back(load_as_double(view_.data, dtype(), static_cast<std::size_t>(offset)));
  }
  return values;
}

void HostTensor::assign(std::span<const double> values) {
  if (values.size() != offsets_.size()) throw std::invalid_argument("HostTensor::assign size");
  for (std::size_t i = 0; i < offsets_.size(); ++i) {
    store_from_double(view_.data, dtype(), static_cast<std::size_t>(offsets_[i]), values[i]);
  }
}

void HostTensor::fill_normal(Random& random, double scale) {
  for (std::int64_t offset : offsets_) {
    store_from_double(view_.data, dtype(), static_cast<std::size_t>(offset),
                      scale * random.normal());
  }
}

void HostTensor::fill_nan() {
  const std::size_t slots = storage_.size() / dtype_size(dtype());
  for (std::size_t slot = 0; slot < slots; ++slot) {
    store_from_double(view_.data, dtype(), slot, std::numeric_limits<double>::quiet_NaN());
  }
}

bool HostTensor::padding_intact() const {
  const std::size_t slots = storage_.size() / dtype_size(dtype());
  std::vector<bool> addressed(slots, false);
  for (std::int64_t offset : offsets_)
    addressed[static_cast<std::size_t>(offset)] = true;
  for (std::size_t slot = 0; slot < slots; ++slot) {
    if (!addressed[slot] && !std::isnan(load_as_double(view_.data, dtype(), slot))) return false;
  }
  return true;
}

}  // namespace flashattn::testing
