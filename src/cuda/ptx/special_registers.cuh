// Special registers read with volatile asm: every call reads the register again, so the compiler
// neither keeps the value (nor what is derived from it) live across a loop nor hoists it out of
// one. For code at the edge of its register budget, where a kept value would be spilled.
#pragma once

namespace flashattn::ptx {

__device__ __forceinline__ unsigned thread_index_x() {
  unsigned index;
  asm volatile("mov.u32 %0, %%tid.x;\n" : "=r"(index));
  return index;
}

}  // namespace flashattn::ptx
