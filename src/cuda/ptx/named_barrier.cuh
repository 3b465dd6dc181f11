// Named CTA barriers (bar.sync / bar.arrive, PTX ISA 2.0+): a subset of the CTA's warps meets at
// barrier `id` (1..15; 0 is __syncthreads) once `threads` threads have arrived. bar.arrive
// does not wait, so one group can signal another: the sm90 forward's consumer warpgroups take
// turns issuing their GEMMs this way.
#pragma once

namespace flashattn::ptx {

__device__ __forceinline__ void named_barrier_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

__device__ __forceinline__ void named_barrier_arrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

}  // namespace flashattn::ptx
