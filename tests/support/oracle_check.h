// GoogleTest checks of the CPU backend against the fp64 oracle under the tolerance rule, with
// the numbers needed to debug a failure.
#pragma once

#include <gtest/gtest.h>

#include <span>
#include <string_view>

#include "tests/support/attention_config.h"

namespace flashattn::testing {

// Passes when `ours` meets the DESIGN.md §4 rule against `ref` with error scale `naive_lowp`.
// On failure the message names the tensor, the error, the bound and the worst element.
::testing::AssertionResult meets_tolerance(std::string_view tensor, std::span<const double> ours,
                                           std::span<const double> ref,
                                           std::span<const double> naive_lowp, double rtol);

// Runs the CPU forward and backward on `config` and expects out, LSE, dQ, dK and dV to meet the
// rule against the oracle (naive_lowp = the reference with intermediates in config.dtype), and
// no output to be written outside its view.
void expect_cpu_matches_oracle(const AttentionConfig& config);

}  // namespace flashattn::testing
