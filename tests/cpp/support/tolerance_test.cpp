// The tolerance rule can fail: errors above rtol x naive error + atol, NaN, and mismatched
// infinities are rejected; the bound itself is what DESIGN.md §4 says.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "tests/support/tolerance.h"

namespace flashattn::testing {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

TEST(ToleranceRule, BoundIsRtolTimesNaiveErrorPlusAtol) {
  const std::vector<double> ref{1.0, -2.0};
  const std::vector<double> naive{1.001, -2.0};
  const std::vector<double> ours{1.0019, -2.0};
  const ToleranceResult result = check_tolerance(ours, ref, naive, kRelativeTolerance);
  // atol = 2 * max|(ref + 0.3 - 0.3) - ref| in float32: a couple of ulps of |ref| <= 2.
  EXPECT_NEAR(result.naive_error, 0.001, 1e-12);
  EXPECT_GT(result.bound, 0.002);
  EXPECT_LT(result.bound, 0.002 + 1e-6);
  EXPECT_TRUE(result.pass());
}

TEST(ToleranceRule, RejectsErrorAboveBound) {
  const std::vector<double> ref{1.0, 0.5};
  const std::vector<double> naive{1.001, 0.5};
  const std::vector<double> ours{1.0025, 0.5};
  EXPECT_FALSE(check_tolerance(ours, ref, naive, kRelativeTolerance).pass());
  EXPECT_TRUE(check_tolerance(ours, ref, naive, kRelativeToleranceSoftcap).pass());
}

TEST(ToleranceRule, ExactReferenceLeavesOnlyRoundingNoise) {
  const std::vector<double> ref{0.0, 0.0};
  const std::vector<double> ours{1e-12, 0.0};
  EXPECT_FALSE(check_tolerance(ours, ref, ref, kRelativeTolerance).pass());
}

TEST(ToleranceRule, RejectsNan) {
  const std::vector<double> ref{1.0};
  const std::vector<double> ours{std::nan("")};
  EXPECT_FALSE(check_tolerance(ours, ref, ref, kRelativeTolerance).pass());
}

TEST(ToleranceRule, InfinitiesMustMatchExactly) {
  const std::vector<double> ref{kInfinity, 1.0};
  EXPECT_TRUE(check_tolerance(ref, ref, ref, kRelativeTolerance).pass());
  const std::vector<double> finite_instead{1e30, 1.0};
  EXPECT_FALSE(check_tolerance(finite_instead, ref, ref, kRelativeTolerance).pass());
  const std::vector<double> infinite_instead{1.0, kInfinity};
  EXPECT_FALSE(check_tolerance(infinite_instead, ref, ref, kRelativeTolerance).pass());
}

}  // namespace
}  // namespace flashattn::testing
