#include "tensors.h"

#include <array>

#include "cuda/backend.h"

namespace flashattn::cli {

HostTensor::HostTensor(DType dtype, std::initializer_list<std::int64_t> shape) {
  view_ = TensorView::contiguous(nullptr, dtype, shape);
  storage_.resize(static_cast<std::size_t>(view_.numel()) * dtype_size(dtype));
  view_.data = storage_.data();
}

void HostTensor::fill_normal(std::mt19937_64& generator) {
  std::normal_distribution<double> normal;
  const auto count = static_cast<std::size_t>(view_.numel());
  for (std::size_t index = 0; index < count; ++index) {
    store_from_double(view_.data, view_.dtype, index, normal(generator));
  }
}

std::vector<double> gather(const TensorView& view) {
  std::vector<double> values;
  values.reserve(static_cast<std::size_t>(view.numel()));
  std::array<std::int64_t, TensorView::kMaxRank> index{};
  const int last = view.rank - 1;
  // Odometer over all but the last dimension, which is contiguous.
  while (true) {
    std::int64_t offset = 0;
    for (int dim = 0; dim < last; ++dim)
      offset += index[dim] * view.stride(dim);
    for (std::int64_t i = 0; i < view.size(last); ++i) {
      values.push_back(load_as_double(view.data, view.dtype, static_cast<std::size_t>(offset + i)));
    }
    int dim = last - 1;
    while (dim >= 0 && ++index[dim] == view.size(dim))
      index[dim--] = 0;
    if (dim < 0) return values;
  }
}

TensorView narrow(TensorView view, int dim, std::int64_t start, std::int64_t length) {
  view.data = static_cast<std::byte*>(view.data) +
              start * view.stride(dim) * static_cast<std::int64_t>(dtype_size(view.dtype));
  view.shape[static_cast<std::size_t>(dim)] = length;
  return view;
}

TensorView Placement::place(const HostTensor& host) {
  if (!on_cuda_) return host.view();
  DeviceMemory& memory = device_buffers_.emplace_back(cuda_allocate(host.bytes()), cuda_release);
  cuda_copy_to_device(memory.get(), host.view().data, host.bytes());
  TensorView view = host.view();
  view.data = memory.get();
  view.device = Device::cuda();
  return view;
}

void Placement::fetch(const TensorView& placed, HostTensor& host) const {
  if (on_cuda_) cuda_copy_to_host(host.view().data, placed.data, host.bytes());
}

void Placement::synchronize() const {
  if (on_cuda_) cuda_synchronize();
}

}  // namespace flashattn::cli
