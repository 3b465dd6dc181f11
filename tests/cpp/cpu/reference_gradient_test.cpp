// The oracle's backward against central finite differences of its own forward, in float64:
// dX = d/dX sum(out * dout) for X in q, k, v. This is what makes the oracle an oracle for
// gradients; everything else is compared with it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "cpu/reference.h"
#include "tests/support/attention_buffers.h"
#include "tests/support/case_name.h"

namespace flashattn::testing {
namespace {

using flashattn::testing::PrintTo;  // prints cases by name (case_name.h)

// Central differences have truncation error ~ step^2 and rounding error ~ 1e-16 / step.
constexpr double kStep = 1e-5;
constexpr double kRelativeTolerance = 1e-6;

struct GradientCase {
  const char* name;
  std::int64_t seqlen_q;
  std::int64_t seqlen_k;
  std::int64_t heads_q;
  std::int64_t heads_kv;
  bool causal;
  std::int64_t window_left;
  std::int64_t window_right;
  double softcap;
};

constexpr GradientCase kGradientCases[] = {
    {"plain", 5, 7, 2, 2, false, -1, -1, 0.0},
    {"gqa", 4, 6, 6, 2, false, -1, -1, 0.0},
    {"causal_sq_greater_than_sk", 7, 4, 2, 1, true, -1, -1, 0.0},
    {"window", 6, 6, 2, 2, false, 1, 2, 0.0},
    {"softcap", 5, 6, 4, 1, false, -1, -1, 1.5},
    {"causal_window_softcap_gqa", 6, 8, 4, 2, true, 2, -1, 3.0},
};

class ReferenceGradient : public ::testing::TestWithParam<GradientCase> {};

// sum(out * dout) with the oracle's forward on the current inputs.
double objective(const AttentionBuffers& buffers, const Options& options,
                 const std::vector<double>& dout) {
  const ReferenceForward result = reference_forward_values(buffers.forward_problem(options));
  return std::inner_product(result.out.begin(), result.out.end(), dout.begin(), 0.0);
}

// Central-difference gradient of the objective with respect to every element of `input`.
std::vector<double> numerical_gradient(AttentionBuffers& buffers, HostTensor& input,
                                       const Options& options) {
  const std::vector<double> dout = buffers.dout.to_doubles();
  std::vector<double> values = input.to_doubles();
  std::vector<double> gradient(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double original = values[i];
    values[i] = original + kStep;
    input.assign(values);
    const double plus = objective(buffers, options, dout);
    values[i] = original - kStep;
    input.assign(values);
    const double minus = objective(buffers, options, dout);
    values[i] = original;
    gradient[i] = (plus - minus) / (2 * kStep);
  }
  input.assign(values);
  return gradient;
}

::testing::AssertionResult gradients_agree(const char* tensor, const std::vector<double>& analytic,
                                           const std::vector<double>& numerical) {
  double max_error = 0.0;
  double max_gradient = 0.0;
  for (std::size_t i = 0; i < analytic.size(); ++i) {
    max_error = std::max(max_error, std::abs(analytic[i] - numerical[i]));
    max_gradient = std::max(max_gradient, std::abs(analytic[i]));
  }
  const double bound = kRelativeTolerance * max_gradient;
  if (max_gradient > 0 && max_error <= bound) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << tensor << ": max|analytic - numerical|=" << max_error
                                       << " bound=" << bound << " max|analytic|=" << max_gradient;
}

TEST_P(ReferenceGradient, MatchesFiniteDifferences) {
  const GradientCase& gradient_case = GetParam();
  AttentionConfig config;
  config.seqlen_q = gradient_case.seqlen_q;
  config.seqlen_k = gradient_case.seqlen_k;
  config.heads_q = gradient_case.heads_q;
  config.heads_kv = gradient_case.heads_kv;
  config.head_dim = 3;
  config.dtype = DType::float64;
  config.causal = gradient_case.causal;
  config.window_left = gradient_case.window_left;
  config.window_right = gradient_case.window_right;
  config.softcap = gradient_case.softcap;
  config.seed = 5;
  SCOPED_TRACE(config.describe());
  AttentionBuffers buffers(config);
  buffers.fill_inputs(config);
  const Options options = config.options(Backend::reference);

  const ReferenceBackward analytic = reference_backward_values(buffers.backward_problem(options));
  EXPECT_TRUE(gradients_agree("dq", analytic.dq, numerical_gradient(buffers, buffers.q, options)));
  EXPECT_TRUE(gradients_agree("dk", analytic.dk, numerical_gradient(buffers, buffers.k, options)));
  EXPECT_TRUE(gradients_agree("dv", analytic.dv, numerical_gradient(buffers, buffers.v, options)));
}

INSTANTIATE_TEST_SUITE_P(Cases, ReferenceGradient, ::testing::ValuesIn(kGradientCases), CaseName());

}  // namespace
}  // namespace flashattn::testing
