// mma.sync m16n8k16 with fp32 accumulation (PTX ISA 7.0, sm_80+).
//
// Fragment layouts (lane = threadIdx.x % 32, group = lane / 4, pair = lane % 4):
//   A 16x16 (row-major), 4 x b32 of two 16-bit values each:
//     a[0] = A[group][2 pair .. +1]      a[1] = A[group + 8][2 pair .. +1]
//     a[2] = A[group][2 pair + 8 .. +9]  a[3] = A[group + 8][2 pair + 8 .. +9]
//   B 16x8 (k x n, "col"), 2 x b32:  b[0] = B[2 pair .. +1][group], b[1] = B[2 pair + 8 ..
//   +9][group] C/D 16x8 fp32: c[0..1] = C[group][2 pair .. +1], c[2..3] = C[group + 8][2 pair ..
//   +1]
// So the C fragments of two adjacent n-tiles, packed to 16 bits, are exactly one A fragment.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace flashattn::ptx {

// d = a * b + d for 16-bit Element (__half or __nv_bfloat16).
template <typename Element>
__device__ __forceinline__ void mma_m16n8k16(float (&d)[4], const std::uint32_t (&a)[4],
                                             const std::uint32_t (&b)[2]) {
  static_assert(sizeof(Element) == 2, "mma_m16n8k16 takes 16-bit inputs");
  if constexpr (std::is_same_v<Element, __half>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
}

// Two floats -> one b32 of two 16-bit Elements (low half = first), round to nearest.
template <typename Element>
__device__ __forceinline__ std::uint32_t pack2(float low, float high) {
  if constexpr (std::is_same_v<Element, __half>) {
    const __half2 value = __floats2half2_rn(low, high);
    return *reinterpret_cast<const std::uint32_t*>(&value);
  } else {
    const __nv_bfloat162 value = __floats2bfloat162_rn(low, high);
    return *reinterpret_cast<const std::uint32_t*>(&value);
  }
}

}  // namespace flashattn::ptx
