// The tiled CPU backend against the fp64 oracle on the seeded random configurations, with the
// DESIGN.md §4 rule: out, LSE, dQ, dK and dV each within rtol x the naive low-precision error.
#include <gtest/gtest.h>

#include <string>

#include "tests/support/oracle_check.h"
#include "tests/support/random_config.h"

namespace flashattn::testing {
namespace {

class CpuMatchesOracle : public ::testing::TestWithParam<int> {};

TEST_P(CpuMatchesOracle, ForwardAndBackward) {
  expect_cpu_matches_oracle(random_config(GetParam()));
}

// "17_float16_q17_k250_h8x2_d64_causal_window_softcap_strided": readable in ctest's output.
std::string config_name(const ::testing::TestParamInfo<int>& info) {
  const AttentionConfig c = random_config(info.param);
  std::string name = std::to_string(info.param) + "_" + std::string(dtype_name(c.dtype)) + "_q" +
                     std::to_string(c.seqlen_q) + "_k" + std::to_string(c.seqlen_k) + "_h" +
                     std::to_string(c.heads_q) + "x" + std::to_string(c.heads_kv) + "_d" +
                     std::to_string(c.head_dim);
  if (c.causal) name += "_causal";
  if (c.window_left >= 0 || c.window_right >= 0) name += "_window";
  if (c.softcap > 0) name += "_softcap";
  if (c.mixed_layouts) name += "_strided";
  return name;
}

INSTANTIATE_TEST_SUITE_P(RandomConfigs, CpuMatchesOracle, ::testing::Range(0, kRandomConfigCount),
                         config_name);

}  // namespace
}  // namespace flashattn::testing
