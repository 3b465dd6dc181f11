// cp.async: asynchronous 16-byte global -> shared copies in commit groups (PTX ISA 7.0, sm_80+).
#pragma once

#include <cstdint>

#include "cuda/ptx/ldmatrix.cuh"  // shared_address

namespace flashattn::ptx {

// Copies 16 bytes, or writes 16 zero bytes when `valid` is false (the source is not read).
// .cg: bypass L1, the tile is used once per CTA.
__device__ __forceinline__ void cp_async_16(void* shared_destination, const void* global_source,
                                            bool valid) {
  asm volatile(
      "cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_address(shared_destination)),
      "l"(global_source), "r"(valid ? 16 : 0));
}

// Copies 16 bytes: the unpredicated form, for copies known to be in range.
__device__ __forceinline__ void cp_async_16(void* shared_destination, const void* global_source) {
  asm volatile(
      "cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(shared_address(shared_destination)),
      "l"(global_source));
}

__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::);
}

// Waits until at most `Pending` of this thread's committed groups are still in flight.
template <int Pending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending));
}

}  // namespace flashattn::ptx
