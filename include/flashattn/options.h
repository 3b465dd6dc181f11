// Options shared by forward and backward. Semantics follow flash-attn (see docs/semantics.md).
#pragma once

#include <cstdint>
#include <optional>

namespace flashattn {

enum class Backend : std::uint8_t {
  automatic,  // the device of the tensors decides: CPU tensors -> cpu, CUDA tensors -> cuda
  cpu,        // tiled, threaded CPU implementation
  reference,  // naive fp64 oracle (materialises one score row at a time); CPU tensors only
  cuda,       // GPU kernels: the best path for the device
  cuda_sm80,  // the Ampere-style (mma.sync) kernels, also on Hopper, e.g. to compare the paths
  cuda_sm90,  // the Hopper forward (wgmma, TMA); Unsupported where it cannot run
};

// Whether a backend runs on the GPU (and takes CUDA tensors).
constexpr bool is_cuda(Backend backend) {
  return backend == Backend::cuda || backend == Backend::cuda_sm80 || backend == Backend::cuda_sm90;
}

struct Options {
  std::optional<double> scale;     // softmax scale; default 1/sqrt(head_dim)
  bool causal = false;             // bottom-right aligned: query i sees key j iff j <= i + Sk - Sq
  std::int64_t window_left = -1;   // keys further left than this are masked; -1 = unbounded
  std::int64_t window_right = -1;  // keys further right than this are masked; -1 = unbounded
  double softcap = 0.0;            // > 0: s = softcap * tanh(s / softcap) before masking
  bool deterministic = false;      // bitwise reproducible backward (the CPU backend always is)
  double dropout_p = 0.0;          // not implemented yet: values > 0 are rejected
  Backend backend = Backend::automatic;
  int num_threads = 0;  // CPU backends: worker threads; 0 = all hardware threads
};

}  // namespace flashattn
