// The sm90 forward's shared memory (ForwardSmem: Q, the K/V ring, the O staging buffer, the
// mbarriers and the tile slots), the TMA copy of one tile into it, and RingPosition, which
// names the stage and phase of a buffer ring's next use on either side.
#pragma once

#include <cuda.h>

#include <cstdint>

#include "cuda/ptx/mbarrier.cuh"
#include "cuda/ptx/tma.cuh"
#include "cuda/sm90/fwd_config.h"

namespace flashattn::sm90 {

template <typename Config, typename Element>
struct ForwardSmem {
  Element* query;  // kColumnBlocks blocks of [kBlockM][64]
  Element* keys;   // kStages tiles of kColumnBlocks blocks of [kBlockN][64]
  Element* values;
  std::uint64_t* query_full;
  std::uint64_t* query_free;
  std::uint64_t* key_full;    // [kStages]
  std::uint64_t* value_full;  // [kStages]
  // [kStages]: every consumer thread is done with the stage's K (once its S has landed) or V
  // (once its P V has); released apart, K can be refilled while the P V still reads V.
  std::uint64_t* key_free;
  std::uint64_t* value_free;
  Element* output;  // [kBlockM] rows staged for the TMA store where they have a buffer (d64, d128)
  std::uint64_t* tile_full;  // [kTileSlots]
  std::uint64_t* tile_free;  // [kTileSlots]
  int* tile_slots;           // [kTileSlots]: tile numbers handed to the consumers

  __device__ explicit ForwardSmem(unsigned char* raw) {
    // The 128-byte swizzle repeats every 1024 bytes: tiles start on such a boundary.
    auto* base = reinterpret_cast<unsigned char*>((reinterpret_cast<std::uintptr_t>(raw) + 1023) &
                                                  ~std::uintptr_t{1023});
    query = reinterpret_cast<Element*>(base);
    keys = query + Config::kQueryElements;
    values = keys + Config::kStages * Config::kKeyElements;
    Element* end = values + Config::kStages * Config::kKeyElements;
    output = Config::kOutputApart ? end : nullptr;  // else staged in the ring (RingStaging)
    if (Config::kOutputApart) end += Config::kQueryElements;
    query_full = reinterpret_cast<std::uint64_t*>(end);
    query_free = query_full + 1;
    key_full = query_free + 1;
    value_full = key_full + Config::kStages;
    key_free = value_full + Config::kStages;
    value_free = key_free + Config::kStages;
    tile_full = value_free + Config::kStages;
    tile_free = tile_full + Config::kTileSlots;
    tile_slots = reinterpret_cast<int*>(tile_free + Config::kTileSlots);
  }
  __device__ Element* key(int stage) const { return keys + stage * Config::kKeyElements; }
  __device__ Element* value(int stage) const { return values + stage * Config::kKeyElements; }
};

// Copies one tile (kColumnBlocks boxes of `rows` x 64) of head `head`, batch `batch`, from row
// `first_row`, counted on `barrier`. Rows past the tensor are zero-filled by the TMA unit.
template <typename Config, typename Element>
__device__ __forceinline__ void load_tile(Element* tile, int rows, const CUtensorMap* map,
                                          std::uint64_t* barrier, int first_row, int head,
                                          int batch) {
  ptx::mbarrier_arrive_expect_bytes(barrier, 2 * rows * Config::kHeadDim);
#pragma unroll
  for (int block = 0; block < Config::kColumnBlocks; ++block) {
    ptx::tma_load_4d(tile + block * rows * 64, map, barrier, 64 * block, first_row, head, batch);
  }
}

// Where the next key block goes in (producer) or comes from (consumers) in the K/V ring: use
// `uses` of the ring, in stage uses % Stages. One advance per key block, carried across tiles.
template <int Stages>
struct RingPosition {
  std::uint32_t uses = 0;
  __device__ int stage() const { return static_cast<int>(uses % Stages); }
  // Of the phase this use fills (consumers wait for it); the producer waits for the previous
  // use's release, the other parity (a fresh barrier passes it, so the first round goes through).
  __device__ std::uint32_t parity() const { return (uses / Stages) & 1; }
  __device__ void advance() { ++uses; }
};

}  // namespace flashattn::sm90
