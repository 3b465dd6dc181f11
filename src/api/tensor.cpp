#include "flashattn/tensor.h"

#include <algorithm>
#include <sstream>

#include "flashattn/error.h"

namespace flashattn {

std::string to_string(Device device) {
  return device.type == DeviceType::cpu ? "cpu" : "cuda:" + std::to_string(device.index);
}

TensorView TensorView::contiguous(void* data, DType dtype,
                                  std::initializer_list<std::int64_t> shape, Device device) {
  if (shape.size() > kMaxRank) throw InvalidArgument("shape", "at most 4 dimensions");
  TensorView view;
  view.data = data;
  view.dtype = dtype;
  view.device = device;
  view.rank = static_cast<int>(shape.size());
  std::copy(shape.begin(), shape.end(), view.shape.begin());
  std::int64_t stride = 1;
  for (int dim = view.rank - 1; dim >= 0; --dim) {
    view.strides[static_cast<std::size_t>(dim)] = stride;
    stride *= view.size(dim);
  }
  return view;
}

TensorView TensorView::strided(void* data, DType dtype, std::initializer_list<std::int64_t> shape,
                               std::initializer_list<std::int64_t> strides, Device device) {
  if (strides.size() != shape.size()) {
    throw InvalidArgument("strides", "expected one stride per dimension (" +
                                         std::to_string(shape.size()) + "), got " +
                                         std::to_string(strides.size()));
  }
  TensorView view = contiguous(data, dtype, shape, device);
  std::copy(strides.begin(), strides.end(), view.strides.begin());
  return view;
}

std::int64_t TensorView::numel() const {
  std::int64_t count = 1;
  for (int dim = 0; dim < std::clamp(rank, 0, kMaxRank); ++dim)
    count *= size(dim);
  return count;
}

std::int64_t TensorView::extent() const {
  std::int64_t last = 0;
  for (int dim = 0; dim < std::clamp(rank, 0, kMaxRank); ++dim) {
    if (size(dim) <= 0) return 0;
    std::int64_t span = 0;
    if (__builtin_mul_overflow(size(dim) - 1, stride(dim), &span) ||
        __builtin_add_overflow(last, span, &last)) {
      return -1;
    }
  }
  return last + 1;
}

std::string shape_string(const TensorView& view) {
  std::ostringstream text;
  text << '[';
  const int rank = std::clamp(view.rank, 0, TensorView::kMaxRank);  // tolerate corrupt views
  for (int dim = 0; dim < rank; ++dim)
    text << (dim ? ", " : "") << view.size(dim);
  text << ']';
  return text.str();
}

}  // namespace flashattn
