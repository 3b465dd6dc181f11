// Element types the operator accepts, and exact host conversions for the 16-bit ones.
#pragma once

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace flashattn {

enum class DType : std::uint8_t { float16, bfloat16, float32, float64 };

constexpr std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::float16:
    case DType::bfloat16:
      return 2;
    case DType::float32:
      return 4;
    case DType::float64:
      return 8;
  }
  return 0;
}

constexpr std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::float16:
      return "float16";
    case DType::bfloat16:
      return "bfloat16";
    case DType::float32:
      return "float32";
    case DType::float64:
      return "float64";
  }
  return "unknown";
}

// IEEE binary16 bits -> float (exact).
inline float half_bits_to_float(std::uint16_t bits) {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1fu;
  const std::uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0)
    return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
  // Zero or subnormal: mantissa * 2^-24, exact in float.
  const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
  return sign ? -magnitude : magnitude;
}

// float -> IEEE binary16 bits, round to nearest even, overflow to inf, NaN kept quiet.
inline std::uint16_t float_to_half_bits(float value) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  const std::uint16_t sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const std::uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude >= 0x7f800000u) {  // inf or NaN
    return sign | (magnitude > 0x7f800000u ? 0x7e00u : 0x7c00u);
  }
  if (magnitude >= 0x477ff000u) return sign | 0x7c00u;  // rounds past 65504
  if (magnitude < 0x38800000u) {
    // Result is subnormal (or zero): value / 2^-24 rounded to an integer, ties to even.
    const float scaled = std::ldexp(std::bit_cast<float>(magnitude), 24);
    return sign | static_cast<std::uint16_t>(std::nearbyint(scaled));
  }
  const std::uint32_t rebased = magnitude - (112u << 23);
  const std::uint32_t round_bit = 1u << 12;
  const std::uint32_t lsb = (rebased >> 13) & 1u;
  return sign | static_cast<std::uint16_t>((rebased + round_bit - 1 + lsb) >> 13);
}

inline float bfloat16_bits_to_float(std::uint16_t bits) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

// float -> bfloat16 bits, round to nearest even, NaN kept quiet.
inline std::uint16_t float_to_bfloat16_bits(float value) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);
  const std::uint32_t lsb = (bits >> 16) & 1u;
  return static_cast<std::uint16_t>((bits + 0x7fffu + lsb) >> 16);
}

// Reads element `index` of a buffer of `dtype` as double.
inline double load_as_double(const void* data, DType dtype, std::size_t index) {
  switch (dtype) {
    case DType::float16:
      return half_bits_to_float(static_cast<const std::uint16_t*>(data)[index]);
    case DType::bfloat16:
      return bfloat16_bits_to_float(static_cast<const std::uint16_t*>(data)[index]);
    case DType::float32:
      return static_cast<const float*>(data)[index];
    case DType::float64:
      return static_cast<const double*>(data)[index];
  }
  return 0.0;
}

// Writes `value` rounded to `dtype` (to nearest even) into element `index`.
inline void store_from_double(void* data, DType dtype, std::size_t index, double value) {
  switch (dtype) {
    case DType::float16:
      static_cast<std::uint16_t*>(data)[index] = float_to_half_bits(static_cast<float>(value));
      return;
    case DType::bfloat16:
      static_cast<std::uint16_t*>(data)[index] = float_to_bfloat16_bits(static_cast<float>(value));
      return;
    case DType::float32:
      static_cast<float*>(data)[index] = static_cast<float>(value);
      return;
    case DType::float64:
      static_cast<double*>(data)[index] = value;
      return;
  }
}

// `value` rounded to the nearest value representable in `dtype`.
inline double round_to_dtype(double value, DType dtype) {
  switch (dtype) {
    case DType::float16:
      return half_bits_to_float(float_to_half_bits(static_cast<float>(value)));
    case DType::bfloat16:
      return bfloat16_bits_to_float(float_to_bfloat16_bits(static_cast<float>(value)));
    case DType::float32:
      return static_cast<float>(value);
    case DType::float64:
      return value;
  }
  return value;
}

}  // namespace flashattn
