// Device selection and capability checks for a call on one GPU.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

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

inline int compute_capability(int device) {
  int major = 0, minor = 0;
  check_cuda(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device),
             "cudaDeviceGetAttribute");
  check_cuda(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device),
             "cudaDeviceGetAttribute");
  return 10 * major + minor;
}

// The device's multiprocessor count, queried once per device and process (a persistent grid is
// sized by it on every call).
inline int multiprocessor_count(int device) {
  static std::mutex mutex;
  static std::map<int, int> counts;
  const std::lock_guard<std::mutex> lock(mutex);
  if (const auto found = counts.find(device); found != counts.end()) return found->second;
  int count = 0;
  check_cuda(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device),
             "cudaDeviceGetAttribute");
  counts.emplace(device, count);
  return count;
}

// The device's L2 size in bytes (what a tile order may count on to keep streamed operands).
inline std::int64_t l2_cache_bytes(int device) {
  int bytes = 0;
  check_cuda(cudaDeviceGetAttribute(&bytes, cudaDevAttrL2CacheSize, device),
             "cudaDeviceGetAttribute");
  return bytes;
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
