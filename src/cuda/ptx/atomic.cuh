// Fire-and-forget fp32 additions to global memory (the backward's dQ accumulator).
#pragma once

namespace flashattn::ptx {

// address[0] += first, address[1] += second (address 8-byte aligned). One red.v2 on sm_90+
// (PTX ISA 8.1): half the LSU instructions and whole 8-byte pieces per L2 sector; two scalar
// reductions before.
__device__ __forceinline__ void red_add_pair(float* address, float first, float second) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("red.global.add.v2.f32 [%0], {%1, %2};\n" ::"l"(address), "f"(first), "f"(second)
               : "memory");
#else
  atomicAdd(address, first);
  atomicAdd(address + 1, second);
#endif
}

}  // namespace flashattn::ptx
