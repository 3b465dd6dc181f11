// The tensor memory accelerator (cp.async.bulk.tensor, PTX ISA 8.0, sm_90): whole boxes of a
// tensor described by a CUtensorMap (built on the host, cuda/common/tensor_map.h, passed as a
// __grid_constant__ kernel parameter) copied to shared memory, completing on an mbarrier's
// transaction count; and shared-memory tiles stored back. Coordinates are innermost first.
// Also the plain bulk copy engine's reduction of a contiguous shared range into global memory.
// Stores and reductions complete in bulk groups: commit, then wait until they have read.
#pragma once

#include <cuda.h>

#include <cstdint>

#include "cuda/ptx/arch.cuh"
#include "cuda/ptx/ldmatrix.cuh"  // shared_address

namespace flashattn::ptx {

__device__ __forceinline__ void tma_load_4d(void* destination, const CUtensorMap* map,
                                            std::uint64_t* barrier, int c0, int c1, int c2,
                                            int c3) {
#if FLASHATTN_SM90
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes"
      " [%0], [%1, {%3, %4, %5, %6}], [%2];\n" ::"r"(shared_address(destination)),
      "l"(map), "r"(shared_address(barrier)), "r"(c0), "r"(c1), "r"(c2), "r"(c3)
      : "memory");
#else
  __trap();
#endif
}

__device__ __forceinline__ void tma_store_4d(const CUtensorMap* map, const void* source, int c0,
                                             int c1, int c2, int c3) {
#if FLASHATTN_SM90
  asm volatile(
      "cp.async.bulk.tensor.4d.global.shared::cta.bulk_group [%0, {%2, %3, %4, %5}], [%1];\n" ::"l"(
          map),
      "r"(shared_address(source)), "r"(c0), "r"(c1), "r"(c2), "r"(c3)
      : "memory");
#else
  __trap();
#endif
}

// global[i] += shared[i] for the fp32 elements of `bytes` (a multiple of 16; both addresses
// 16-byte aligned), done by the bulk copy engine in L2: no per-element LSU instructions.
__device__ __forceinline__ void bulk_reduce_add(float* global, const float* shared,
                                                std::uint32_t bytes) {
#if FLASHATTN_SM90
  asm volatile(
      "cp.reduce.async.bulk.global.shared::cta.bulk_group.add.f32 [%0], [%1], %2;\n" ::"l"(global),
      "r"(shared_address(shared)), "r"(bytes)
      : "memory");
#else
  __trap();
#endif
}

__device__ __forceinline__ void bulk_commit_group() {
#if FLASHATTN_SM90
  asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
#else
  __trap();
#endif
}

// Waits until this thread's committed stores and reductions have read their shared memory (it
// may be reused then).
__device__ __forceinline__ void bulk_wait_group_read() {
#if FLASHATTN_SM90
  asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory");
#else
  __trap();
#endif
}

// Orders this thread's ordinary shared-memory writes before later async-proxy reads (TMA store,
// wgmma): each writing thread fences, then the threads synchronise.
__device__ __forceinline__ void fence_async_shared() {
#if FLASHATTN_SM90
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#else
  __trap();
#endif
}

}  // namespace flashattn::ptx
