// Warpgroup MMA (wgmma.mma_async, PTX ISA 8.0, sm_90a): 4 consecutive warps multiply a 64-row A
// (shared memory, or registers in the mma.sync A-fragment layout per warp) by B from shared
// memory into fp32 accumulators, asynchronously: issue, commit a group, wait for it.
//
// Accumulator layout of m64nN (float d[N / 2] per thread): warp w of the group owns rows
// 16 w .. 16 w + 15, and d[4 j .. 4 j + 3] is the mma.sync C fragment of n8 tile j:
// d[4 j + e] = D[16 w + lane / 4 + 8 (e / 2)][8 j + 2 (lane % 4) + e % 2].
//
// Shared-memory operands are described by a 64-bit descriptor. All our tiles use the 128-byte
// swizzle (the TMA layout, and SwizzledTile's for 64-element rows): rows of 128 bytes, 16-byte
// chunk c of row r stored at chunk c ^ (r % 8), 1024-byte aligned atoms of 8 rows.
//   K-major (k contiguous: Q, K for S = Q Kᵀ): one atom spans k 0..63; a k16 step advances the
//   start address by 32 bytes; `stride_bytes` = 1024 (the next 8 rows of M/N).
//   MN-major (n contiguous: V [key][d] for O += P V, transposed): a k16 step advances by 16 rows
//   (2048 bytes); `stride_bytes` = 1024 (the next 8 rows of K), `leading_bytes` = the offset
//   between 64-column blocks of N.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "cuda/ptx/arch.cuh"
#include "cuda/ptx/ldmatrix.cuh"  // shared_address

namespace flashattn::ptx {

__device__ __forceinline__ std::uint64_t smem_descriptor_swizzle128(const void* tile,
                                                                    std::uint32_t leading_bytes,
                                                                    std::uint32_t stride_bytes) {
  const std::uint64_t address = shared_address(tile);
  return ((address & 0x3ffff) >> 4) | (static_cast<std::uint64_t>(leading_bytes >> 4) << 16) |
         (static_cast<std::uint64_t>(stride_bytes >> 4) << 32) | (1ull << 62);
}

// Before the first wgmma that reads accumulators (or A registers) written by other instructions.
__device__ __forceinline__ void wgmma_fence() {
#if FLASHATTN_SM90A
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#else
  __trap();
#endif
}

__device__ __forceinline__ void wgmma_commit() {
#if FLASHATTN_SM90A
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#else
  __trap();
#endif
}

// Waits until at most `Pending` committed groups of this warpgroup are still running.
template <int Pending>
__device__ __forceinline__ void wgmma_wait() {
#if FLASHATTN_SM90A
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(Pending) : "memory");
#else
  __trap();
#endif
}

// Tells the compiler the accumulators change behind its back (async MMAs): it must not move
// their reads or writes across this point.
template <int N>
__device__ __forceinline__ void wgmma_fence_operands(float (&d)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i)
    asm volatile("" : "+f"(d[i])::"memory");
}

// Register reallocation between warpgroups (setmaxnreg): a multiple of 8 in [24, 256].
template <int Registers>
__device__ __forceinline__ void warpgroup_registers_increase() {
#if FLASHATTN_SM90A
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(Registers));
#else
  __trap();
#endif
}

template <int Registers>
__device__ __forceinline__ void warpgroup_registers_decrease() {
#if FLASHATTN_SM90A
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(Registers));
#else
  __trap();
#endif
}

// wgmma_ss<Element, kTransposeA, kTransposeB>(d, a_descriptor, b_descriptor, accumulate) and
// wgmma_rs<Element, kTransposeB>(d, a_registers, b_descriptor, accumulate) for m64nNk16,
// N in {64, 80, 96, 128, 192, 256}; transpose 0 = K-major, 1 = MN-major; accumulate 0 overwrites d.
#if FLASHATTN_SM90A
#include "cuda/ptx/wgmma_ops.inc"
#else
template <typename Element, int kTransposeA, int kTransposeB, int N>
__device__ __forceinline__ void wgmma_ss(float (&)[N], std::uint64_t, std::uint64_t, int) {
  __trap();
}
template <typename Element, int kTransposeB, int N>
__device__ __forceinline__ void wgmma_rs(float (&)[N], const std::uint32_t (&)[4], std::uint64_t,
                                         int) {
  __trap();
}
#endif

}  // namespace flashattn::ptx
