// The tensor memory accelerator (cp.async.bulk.tensor, PTX ISA 8.0, sm_90): whole boxes of a
// tensor described by a CUtensorMap (built on the host, cuda/common/tensor_map.h, passed as a
// __grid_constant__ kernel parameter) copied to shared memory, completing on an mbarrier's
// transaction count; and shared-memory tiles stored back. Coordinates are innermost first.
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

__device__ __forceinline__ void tma_store_commit() {
#if FLASHATTN_SM90
  asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
#else
  __trap();
#endif
}

// Waits until the committed stores have read their shared memory (it may be reused then).
__device__ __forceinline__ void tma_store_wait_read() {
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
