// A validated attention call: tensor views plus resolved scalar parameters. Backends read
// only this; src/api/validate.cpp is the one place that builds it.
#pragma once

#include <cstdint>

#include "common/mask.h"
#include "flashattn/options.h"
#include "flashattn/tensor.h"

namespace flashattn {

struct AttentionShape {
  std::int64_t batch = 0;
  std::int64_t seqlen_q = 0;
  std::int64_t seqlen_k = 0;
  std::int64_t heads_q = 0;
  std::int64_t heads_kv = 0;
  std::int64_t head_dim = 0;

  // Query heads that share one key/value head.
  std::int64_t group_size() const { return heads_q / heads_kv; }
};

struct ScoreParams {
  double scale = 1.0;    // applied to q.k
  double softcap = 0.0;  // 0 = off
  MaskWindow window{};
};

// What forward and backward share: the inputs, the forward's outputs and the options.
struct AttentionProblem {
  AttentionShape shape{};
  ScoreParams score{};
  TensorView q, k, v, out, lse;
  Backend backend = Backend::automatic;  // resolved: never automatic
  int num_threads = 0;
  bool deterministic = false;
};

struct ForwardProblem : AttentionProblem {};

struct BackwardProblem : AttentionProblem {
  TensorView dout, dq, dk, dv;
};

}  // namespace flashattn
