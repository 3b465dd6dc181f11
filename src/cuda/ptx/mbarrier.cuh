// mbarrier in shared memory (PTX ISA 7.0/8.0, sm_90 for transaction counts): the producer /
// consumer handshake of the sm90 kernels. A phase completes when the expected arrivals have
// arrived and the expected bytes of asynchronous copies (TMA) have landed; waiters name the
// phase parity they wait for.
#pragma once

#include <cstdint>

#include "cuda/ptx/arch.cuh"
#include "cuda/ptx/ldmatrix.cuh"  // shared_address

namespace flashattn::ptx {

__device__ __forceinline__ void mbarrier_init(std::uint64_t* barrier, int arrivals) {
#if FLASHATTN_SM90
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(shared_address(barrier)),
               "r"(arrivals));
#else
  __trap();
#endif
}

// Makes initialised barriers visible to the asynchronous proxy (TMA) and the other threads.
__device__ __forceinline__ void mbarrier_init_fence() {
#if FLASHATTN_SM90
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
#else
  __trap();
#endif
}

// One arrival that also raises the phase's expected transaction bytes.
__device__ __forceinline__ void mbarrier_arrive_expect_bytes(std::uint64_t* barrier,
                                                             std::uint32_t bytes) {
#if FLASHATTN_SM90
  asm volatile(
      "mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(shared_address(barrier)),
      "r"(bytes)
      : "memory");
#else
  __trap();
#endif
}

__device__ __forceinline__ void mbarrier_arrive(std::uint64_t* barrier) {
#if FLASHATTN_SM90
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(shared_address(barrier))
               : "memory");
#else
  __trap();
#endif
}

// Blocks until the phase with this parity has completed.
__device__ __forceinline__ void mbarrier_wait(std::uint64_t* barrier, std::uint32_t parity) {
#if FLASHATTN_SM90
  asm volatile(
      "{\n"
      ".reg .pred done;\n"
      "retry:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra retry;\n"
      "}\n" ::"r"(shared_address(barrier)),
      "r"(parity)
      : "memory");
#else
  __trap();
#endif
}

}  // namespace flashattn::ptx
