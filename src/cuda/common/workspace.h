// Stream-ordered scratch memory for one call (the backward's fp32 accumulators, the sm90
// forward's tile counter), from a pool
// per device that keeps its memory between calls: after the first call an allocation is a
// pool lookup, not a cudaMalloc.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace flashattn {

class Workspace {
 public:
  Workspace(int device, std::size_t bytes, cudaStream_t stream);
  ~Workspace();  // freed in stream order: later work on the stream may still use it until then
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  void* data() const { return data_; }

 private:
  void* data_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

}  // namespace flashattn
