// Fast math the kernels rely on, as single SFU instructions (PTX ISA 2.0+).
#pragma once

namespace flashattn::ptx {

// 2^x with flush-to-zero: one MUFU.EX2 (exp2f without --use_fast_math adds range fix-ups).
__device__ __forceinline__ float exp2_approx(float x) {
  float result;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(result) : "f"(x));
  return result;
}

}  // namespace flashattn::ptx
