// Owning storage behind the TensorViews the CLI passes to the library: contiguous host tensors
// with seeded random contents, and CUDA copies of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <random>
#include <vector>

#include "flashattn/tensor.h"

namespace flashattn::cli {

class HostTensor {
 public:
  HostTensor() = default;
  HostTensor(DType dtype, std::initializer_list<std::int64_t> shape);
  // The view points into this object's buffer: moving keeps it valid, copying would not.
  HostTensor(HostTensor&&) = default;
  HostTensor& operator=(HostTensor&&) = default;
  HostTensor(const HostTensor&) = delete;
  HostTensor& operator=(const HostTensor&) = delete;

  const TensorView& view() const { return view_; }
  std::size_t bytes() const { return storage_.size(); }

  // Fills with values drawn from N(0, 1), rounded to the dtype.
  void fill_normal(std::mt19937_64& generator);

 private:
  std::vector<std::byte> storage_;
  TensorView view_;
};

// Contiguous [B, S, H, D] (or [B, H, S]) contents of a possibly strided view, as doubles.
std::vector<double> gather(const TensorView& view);

// `view` restricted to indices [start, start + length) of dimension `dim` (like torch.narrow).
TensorView narrow(TensorView view, int dim, std::int64_t start, std::int64_t length);

// CUDA memory that the CLI allocated through the library's helpers; freed on destruction.
using DeviceMemory = std::unique_ptr<void, void (*)(void*)>;

// Where the operator reads and writes: the host tensors themselves on the CPU, or CUDA copies
// of them that this object owns.
class Placement {
 public:
  explicit Placement(bool on_cuda) : on_cuda_(on_cuda) {}

  bool on_cuda() const { return on_cuda_; }
  // The view the operator gets for `host`; on CUDA, a device copy of its current contents.
  TensorView place(const HostTensor& host);
  // Copies what the operator wrote into `placed` back into `host` (no-op on the CPU).
  void fetch(const TensorView& placed, HostTensor& host) const;
  // Waits for queued device work (no-op on the CPU).
  void synchronize() const;

 private:
  bool on_cuda_;
  std::vector<DeviceMemory> device_buffers_;
};

}  // namespace flashattn::cli
