// Host buffers for every tensor of one attention call (q, k, v, dout in; out, lse, dq, dk, dv
// out), shaped by an AttentionConfig. Outputs start as NaN so unwritten elements are caught.
#pragma once

#include <string>

#include "common/problem.h"
#include "tests/support/attention_config.h"
#include "tests/support/host_tensor.h"

namespace flashattn::testing {

struct AttentionBuffers {
  // Tensors of config.dtype (lse: config.lse_dtype); with config.mixed_layouts each tensor draws
  // its layout from config.seed, otherwise all are contiguous. Inputs hold NaN until filled.
  explicit AttentionBuffers(const AttentionConfig& config);

  // q, k (times config.input_scale), v and dout from a standard normal seeded by config.seed.
  void fill_inputs(const AttentionConfig& config);

  // The validated problems over these buffers, as the public API would build them.
  ForwardProblem forward_problem(const Options& options) const;
  BackwardProblem backward_problem(const Options& options) const;

  // Calls the public flashattn::forward / backward on these buffers.
  void forward(const Options& options);
  void backward(const Options& options);

  // "q=padded k=contiguous ... dv=transposed", for failure messages.
  std::string describe_layouts() const;

  // True when no output wrote outside its view.
  bool outputs_padding_intact() const;

  HostTensor q, k, v, dout;
  HostTensor out, lse, dq, dk, dv;
};

}  // namespace flashattn::testing
