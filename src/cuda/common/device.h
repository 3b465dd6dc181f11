// Device selection and capability checks for a call on one GPU.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "cuda/common/check.h"
#include "flashattn/error.h"

namespace flashattn {

// Makes `device` current for the scope of a call and restores the caller's device after.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    check_cuda(cudaGetDevice(&previous_), "cudaGetDevice");
    if (device != previous_) check_cuda(cudaSetDevice(device), "cudaSetDevice");
  }
  ~DeviceGuard() { (void)cudaSetDevice(previous_); }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

// A device attribute, queried once per (device, attribute) and process: the calls consult
// several on every launch (capability, multiprocessor count, L2 size), and they do not change.
inline int device_attribute(int device, cudaDeviceAttr attribute) {
  static std::mutex mutex;
  static std::map<std::pair<int, int>, int> values;
  const std::lock_guard<std::mutex> lock(mutex);
  const std::pair<int, int> key{device, static_cast<int>(attribute)};
  if (const auto found = values.find(key); found != values.end()) return found->second;
  int value = 0;
  check_cuda(cudaDeviceGetAttribute(&value, attribute, device), "cudaDeviceGetAttribute");
  values.emplace(key, value);
  return value;
}

inline int compute_capability(int device) {
  return 10 * device_attribute(device, cudaDevAttrComputeCapabilityMajor) +
         device_attribute(device, cudaDevAttrComputeCapabilityMinor);
}

// The device's multiprocessor count (a persistent grid is sized by it).
inline int multiprocessor_count(int device) {
  return device_attribute(device, cudaDevAttrMultiProcessorCount);
}

// The device's L2 size in bytes (what a tile order may count on to keep streamed operands).
inline std::int64_t l2_cache_bytes(int device) {
  return device_attribute(device, cudaDevAttrL2CacheSize);
}

// The device's compute capability (e.g. 90), after checking it is at least `minimum`.
inline int require_compute_capability(int device, int minimum) {
  const int capability = compute_capability(device);
  if (capability < minimum) {
    throw Unsupported("the CUDA kernels need compute capability " + std::to_string(minimum / 10) +
                      "." + std::to_string(minimum % 10) + " or newer; device " +
                      std::to_string(device) + " has " + std::to_string(capability / 10) + "." +
                      std::to_string(capability % 10));
  }
  return capability;
}

}  // namespace flashattn
