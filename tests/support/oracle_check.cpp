#include "tests/support/oracle_check.h"

#include <cmath>
#include <cstddef>

#include "cpu/reference.h"
#include "tests/support/attention_buffers.h"
#include "tests/support/tolerance.h"

namespace flashattn::testing {
namespace {

// The element a reader should look at first: the first non-finite mismatch, else the largest
// error.
std::size_t worst_element(std::span<const double> ours, std::span<const double> ref) {
  std::size_t worst = 0;
  double worst_error = -1.0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const bool both_finite = std::isfinite(ours[i]) && std::isfinite(ref[i]);
    if (!both_finite && !(ours[i] == ref[i])) return i;
    const double error = both_finite ? std::abs(ours[i] - ref[i]) : 0.0;
    if (error > worst_error) {
      worst_error = error;
      worst = i;
    }
  }
  return worst;
}

}  // namespace

::testing::AssertionResult meets_tolerance(std::string_view tensor, std::span<const double> ours,
                                           std::span<const double> ref,
                                           std::span<const double> naive_lowp, double rtol) {
  if (ours.size() != ref.size() || naive_lowp.size() != ref.size()) {
    return ::testing::AssertionFailure()
           << tensor << ": sizes differ (ours " << ours.size() << ", ref " << ref.size()
           << ", naive " << naive_lowp.size() << ")";
  }
  const ToleranceResult result = check_tolerance(ours, ref, naive_lowp, rtol);
  if (result.pass()) return ::testing::AssertionSuccess();
  const std::size_t worst = worst_element(ours, ref);
  return ::testing::AssertionFailure()
         << tensor << ": max_error=" << result.max_error << " bound=" << result.bound << " (rtol "
         << rtol << " x naive_error " << result.naive_error << " + atol)"
         << " non-finite mismatches=" << result.mismatches << "; worst element " << worst << " of "
         << ref.size() << ": ours=" << ours[worst] << " ref=" << ref[worst]
         << " naive=" << naive_lowp[worst];
}

void expect_cpu_matches_oracle(const AttentionConfig& config) {
  SCOPED_TRACE(config.describe());
  AttentionBuffers buffers(config);
  SCOPED_TRACE(config.mixed_layouts ? buffers.describe_layouts() : "all contiguous");
  buffers.fill_inputs(config);
  const Options options = config.options(Backend::cpu);
  const double rtol = config.rtol();

  // The oracle reads the same (strided, low-precision) inputs and returns doubles.
  const ForwardProblem forward = buffers.forward_problem(options);
  const ReferenceForward oracle = reference_forward_values(forward);
  const ReferenceForward naive = reference_forward_values(forward, config.dtype);
  buffers.forward(options);
  EXPECT_TRUE(meets_tolerance("out", buffers.out.to_doubles(), oracle.out, naive.out, rtol));
  EXPECT_TRUE(meets_tolerance("lse", buffers.lse.to_doubles(), oracle.lse, naive.lse, rtol));

  // The backward consumes our own forward's out and LSE, as a caller's would.
  const BackwardProblem backward = buffers.backward_problem(options);
  const ReferenceBackward oracle_grads = reference_backward_values(backward);
  const ReferenceBackward naive_grads = reference_backward_values(backward, config.dtype);
  buffers.backward(options);
  EXPECT_TRUE(
      meets_tolerance("dq", buffers.dq.to_doubles(), oracle_grads.dq, naive_grads.dq, rtol));
  EXPECT_TRUE(
      meets_tolerance("dk", buffers.dk.to_doubles(), oracle_grads.dk, naive_grads.dk, rtol));
  EXPECT_TRUE(
      meets_tolerance("dv", buffers.dv.to_doubles(), oracle_grads.dv, naive_grads.dv, rtol));
  EXPECT_TRUE(buffers.outputs_padding_intact()) << "an output was written outside its view";
}

}  // namespace flashattn::testing
