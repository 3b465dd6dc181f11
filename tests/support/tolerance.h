// The acceptance rule of docs/numerics.md (DESIGN.md §4), shared by the tests and the CLI:
//
//   max|ours - ref| <= rtol * max|naive_lowp - ref| + atol,
//   atol = 2 * max|(ref + 0.3 - 0.3) - ref| evaluated in float32,
//
// ref = fp64 oracle, naive_lowp = the same naive computation rounded to the input dtype.
// Infinite reference values (LSE of empty rows) must be matched exactly; NaN never passes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>

namespace flashattn::testing {

inline constexpr double kRelativeTolerance = 2.0;
inline constexpr double kRelativeToleranceSoftcap = 3.0;

struct ToleranceResult {
  double max_error = 0.0;      // max|ours - ref| over finite reference values
  double naive_error = 0.0;    // max|naive_lowp - ref|
  double bound = 0.0;          // rtol * naive_error + atol
  std::size_t mismatches = 0;  // NaNs or infinities that do not match the reference
  bool pass() const { return mismatches == 0 && max_error <= bound; }
};

inline ToleranceResult check_tolerance(std::span<const double> ours, std::span<const double> ref,
                                       std::span<const double> naive_lowp, double rtol) {
  ToleranceResult result;
  double atol = 0.0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(ref[i])) {
      if (!(ours[i] == ref[i])) ++result.mismatches;
      continue;
    }
    if (!std::isfinite(ours[i])) {
      ++result.mismatches;
      continue;
    }
    result.max_error = std::max(result.max_error, std::abs(ours[i] - ref[i]));
    if (std::isfinite(naive_lowp[i])) {
      result.naive_error = std::max(result.naive_error, std::abs(naive_lowp[i] - ref[i]));
    }
    const float rounded = static_cast<float>(ref[i]);
    const float shifted = (rounded + 0.3f) - 0.3f;
    atol = std::max(atol, std::abs(static_cast<double>(shifted) - ref[i]));
  }
  result.bound = rtol * result.naive_error + 2.0 * atol;
  return result;
}

}  // namespace flashattn::testing
