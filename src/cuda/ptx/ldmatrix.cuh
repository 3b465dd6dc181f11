// ldmatrix: four 8x8 16-bit matrices from shared memory into the mma fragment layout
// (PTX ISA 6.5, sm_75+). Lane l supplies the address of row l % 8 of matrix l / 8; register i
// receives matrix i, lane l holding row l / 4, elements 2 (l % 4) .. +1. `.trans` delivers the
// transpose of each matrix, which turns a row-major [n][k] tile into "col" B fragments.
#pragma once

#include <cstdint>

namespace flashattn::ptx {

__device__ __forceinline__ std::uint32_t shared_address(const void* pointer) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(pointer));
}

// A 32-bit store to a shared-state-space byte address (a generic pointer into shared memory
// would compile to a generic ST).
__device__ __forceinline__ void store_shared_32(std::uint32_t address, std::uint32_t value) {
  asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(address), "r"(value) : "memory");
}

// `row_address`: a shared-state-space byte address (see shared_address).
__device__ __forceinline__ void ldmatrix_x4(std::uint32_t (&r)[4], std::uint32_t row_address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(row_address));
}

__device__ __forceinline__ void ldmatrix_x4_trans(std::uint32_t (&r)[4],
                                                  std::uint32_t row_address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(row_address));
}

__device__ __forceinline__ void ldmatrix_x4(std::uint32_t (&r)[4], const void* row_address) {
  ldmatrix_x4(r, shared_address(row_address));
}

__device__ __forceinline__ void ldmatrix_x4_trans(std::uint32_t (&r)[4], const void* row_address) {
  ldmatrix_x4_trans(r, shared_address(row_address));
}

}  // namespace flashattn::ptx
