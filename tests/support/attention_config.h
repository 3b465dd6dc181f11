// One attention call to test: shape, dtype, masking and score options, layouts and data seed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "flashattn/dtype.h"
#include "flashattn/options.h"

namespace flashattn::testing {

struct AttentionConfig {
  std::int64_t batch = 1;
  std::int64_t seqlen_q = 1;
  std::int64_t seqlen_k = 1;
  std::int64_t heads_q = 1;
  std::int64_t heads_kv = 1;
  std::int64_t head_dim = 1;
  DType dtype = DType::float32;
  DType lse_dtype = DType::float32;  // float64 is allowed with float64 inputs

  bool causal = false;
  std::int64_t window_left = -1;
  std::int64_t window_right = -1;
  double softcap = 0.0;
  std::optional<double> scale;

  double input_scale = 1.0;    // q and k are standard normal times this (large scores)
  bool mixed_layouts = false;  // each tensor gets its own random, usually strided, layout
  std::uint64_t seed = 0;      // input values and layouts

  Options options(Backend backend) const;
  // The tolerance rule's rtol for this configuration (looser with softcap).
  double rtol() const;
  // "float16 B=2 Sq=17 Sk=250 Hq=8 Hkv=2 D=64 causal softcap=5 layouts=mixed seed=12"
  std::string describe() const;
};

}  // namespace flashattn::testing
