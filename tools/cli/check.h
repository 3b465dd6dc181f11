// Compares what the operator wrote with the fp64 oracle under the tolerance rule of
// docs/numerics.md: every row of a small problem, sampled rows and slices of a large one.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "run.h"
#include "tests/support/tolerance.h"

namespace flashattn::cli {

struct QuantityCheck {
  std::string_view name;  // out, lse, dq, dk or dv
  testing::ToleranceResult result;
};

struct CheckReport {
  double rtol = 0.0;
  std::string forward_scope;   // what of out and lse was compared, in words
  std::string backward_scope;  // what of dq, dk, dv was compared; empty without --backward
  std::vector<QuantityCheck> quantities;

  bool pass() const;
};

CheckReport check_against_oracle(const RunConfig& config, const Options& options,
                                 const RunData& data);

}  // namespace flashattn::cli
