// A seeded random source whose draws are the same on every platform: std::mt19937_64 is fully
// specified by the standard, the standard distributions are not, so the conversions are ours.
#pragma once

#include <cmath>
#include <cstdint>
#include <iterator>
#include <numbers>
#include <random>
#include <span>

namespace flashattn::testing {

class Random {
 public:
  explicit Random(std::uint64_t seed) : engine_(seed) {}

  // Uniform in [0, 1), 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double uniform(double low, double high) { return low + (high - low) * uniform(); }

  // Uniform integer in [low, high].
  std::int64_t integer(std::int64_t low, std::int64_t high) {
    const auto span = static_cast<std::uint64_t>(high - low) + 1;
    return low + static_cast<std::int64_t>(engine_() % span);
  }

  bool chance(double probability) { return uniform() < probability; }

  // Standard normal (Box-Muller; one of the pair is discarded to keep the state simple).
  double normal() {
    const double radius = std::sqrt(-2.0 * std::log1p(-uniform()));
    return radius * std::cos(2.0 * std::numbers::pi * uniform());
  }

  template <typename T>
  const T& pick(std::span<const T> choices) {
    return choices[static_cast<std::size_t>(integer(0, std::ssize(choices) - 1))];
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace flashattn::testing
