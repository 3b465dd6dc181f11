// The operator: forward and backward of exact softmax attention.
//
// Layouts (any strides with a unit last dimension):
//   q [B, Sq, Hq, D]  k [B, Sk, Hkv, D]  v [B, Sk, Hkv, D]  out [B, Sq, Hq, D]
//   lse [B, Hq, Sq] float32 (float64 allowed with float64 inputs): natural log of the row sum
//   of exp(score); +inf for rows with no visible key
// Hq must be a multiple of Hkv; query head h reads key/value head h / (Hq / Hkv).
#pragma once

#include <string>

#include "flashattn/options.h"
#include "flashattn/tensor.h"

namespace flashattn {

// out, lse <- attention(q, k, v). `stream` is a cudaStream_t for CUDA tensors (nullptr =
// default stream) and ignored on the CPU. Throws InvalidArgument / Unsupported before writing.
void forward(const TensorView& q, const TensorView& k, const TensorView& v, const TensorView& out,
             const TensorView& lse, const Options& options = {}, void* stream = nullptr);

// dq, dk, dv <- gradients of sum(out * dout), given the forward's out and lse.
// dq, dk, dv have the shapes and dtype of q, k, v; for GQA dk/dv sum over the query heads.
void backward(const TensorView& dout, const TensorView& q, const TensorView& k, const TensorView& v,
              const TensorView& out, const TensorView& lse, const TensorView& dq,
              const TensorView& dk, const TensorView& dv, const Options& options = {},
              void* stream = nullptr);

// True when this build contains CUDA kernels and a CUDA device is visible.
bool cuda_available();

// One line describing the build: version, backends, CUDA archs and head dims compiled in.
std::string build_info();

}  // namespace flashattn
