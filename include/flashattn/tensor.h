// A non-owning view of a strided tensor in host or device memory. Strides count elements.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "flashattn/dtype.h"

namespace flashattn {

enum class DeviceType : std::uint8_t { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  static Device cpu() { return {DeviceType::cpu, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::cuda, index}; }
  friend bool operator==(const Device&, const Device&) = default;
};

std::string to_string(Device device);

struct TensorView {
  static constexpr int kMaxRank = 4;

  void* data = nullptr;
  DType dtype = DType::float32;
  Device device{};
  int rank = 0;
  std::array<std::int64_t, kMaxRank> shape{};
  std::array<std::int64_t, kMaxRank> strides{};

  // Row-major (last dimension fastest) view of `shape`.
  static TensorView contiguous(void* data, DType dtype, std::initializer_list<std::int64_t> shape,
                               Device device = {});
  // View with explicit element strides; `strides` must have as many entries as `shape`.
  static TensorView strided(void* data, DType dtype, std::initializer_list<std::int64_t> shape,
                            std::initializer_list<std::int64_t> strides, Device device = {});

  std::int64_t size(int dim) const { return shape[static_cast<std::size_t>(dim)]; }
  std::int64_t stride(int dim) const { return strides[static_cast<std::size_t>(dim)]; }
  std::int64_t numel() const;
  // Elements between the first and one past the last addressed element (0 when empty).
  std::int64_t extent() const;
};

// "[2, 128, 8, 64]"
std::string shape_string(const TensorView& view);

}  // namespace flashattn
