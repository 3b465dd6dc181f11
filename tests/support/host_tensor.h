// An owning host buffer with a strided TensorView onto it. Layouts other than contiguous leave
// padding between elements; the padding holds NaN, so a backend that reads it produces NaN and
// one that writes it is caught by padding_intact().
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "flashattn/tensor.h"

namespace flashattn::testing {

class Random;

struct Layout {
  bool padded = false;      // every dimension but the first gets a few unused slots
  bool transposed = false;  // the two dimensions before the last are stored swapped,
                            // e.g. q [B, S, H, D] held as [B, H, S, D]
  static Layout random(Random& random);
  std::string describe() const;
};

class HostTensor {
 public:
  HostTensor(DType dtype, std::vector<std::int64_t> shape, Layout layout = {});
  // The view points into the storage: moving keeps it valid, copying would not.
  HostTensor(HostTensor&&) noexcept = default;
  HostTensor& operator=(HostTensor&&) noexcept = default;
  HostTensor(const HostTensor&) = delete;
  HostTensor& operator=(const HostTensor&) = delete;

  const TensorView& view() const { return view_; }
  DType dtype() const { return view_.dtype; }
  Layout layout() const { return layout_; }
  std::int64_t numel() const { return static_cast<std::int64_t>(offsets_.size()); }

  // Elements in logical row-major order, as doubles.
  std::vector<double> to_doubles() const;
  // Stores `values` (logical row-major order), rounded to the dtype.
  void assign(std::span<const double> values);
  // Standard-normal values times `scale`, rounded to the dtype.
  void fill_normal(Random& random, double scale = 1.0);

  // True when every slot the view does not address still holds NaN.
  bool padding_intact() const;
  // Raw bytes of the whole allocation, for bitwise comparisons.
  std::span<const std::byte> bytes() const { return storage_; }

 private:
  // Every element, addressed or padding, set to NaN: unwritten outputs then fail the checks.
  void fill_nan();

  std::vector<std::int64_t> shape_;
  Layout layout_;
  std::vector<std::byte> storage_;
  std::vector<std::int64_t> offsets_;  // element offset of each logical index, row-major
  TensorView view_;
};

}  // namespace flashattn::testing
