// Storage types of the CPU backend and the dtype -> (Element, Accum) dispatch.
// 16-bit inputs accumulate in float; float32 and float64 inputs in double. A float32 run in
// float would be measurably less exact than a float32 reference (torch's blocked GEMMs): its
// backward sums dq, dk, dv over every key, query and GQA head, and the rounding of exp's
// argument shows in every P; the tests hold it to that reference.
#pragma once

#include <cstdint>

#include "flashattn/dtype.h"

namespace flashattn {

struct Half {
  std::uint16_t bits;
};
struct BFloat16 {
  std::uint16_t bits;
};

inline float to_float(Half value) {
  return half_bits_to_float(value.bits);
}
inline float to_float(BFloat16 value) {
  return bfloat16_bits_to_float(value.bits);
}
inline float to_float(float value) {
  return value;
}
inline double to_float(double value) {
  return value;
}

template <typename Element>
Element from_accum(double value);
template <>
inline Half from_accum<Half>(double value) {
  return {float_to_half_bits(static_cast<float>(value))};
}
template <>
inline BFloat16 from_accum<BFloat16>(double value) {
  return {float_to_bfloat16_bits(static_cast<float>(value))};
}
template <>
inline float from_accum<float>(double value) {
  return static_cast<float>(value);
}
template <>
inline double from_accum<double>(double value) {
  return value;
}

// Calls body.template operator()<Element, Accum>() for the run-time dtype.
template <typename Body>
void dispatch_dtype(DType dtype, Body&& body) {
  switch (dtype) {
    case DType::float16:
      return body.template operator()<Half, float>();
    case DType::bfloat16:
      return body.template operator()<BFloat16, float>();
    case DType::float32:
      return body.template operator()<float, double>();
    case DType::float64:
      return body.template operator()<double, double>();
  }
}

}  // namespace flashattn
